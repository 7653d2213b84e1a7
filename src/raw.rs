//! The crate's only `unsafe`: the two operations the compiler cannot check. Mapping a file
//! (done once per archive, by the member layer) and moving exported Arrow C Data Interface
//! structs to the thread that imports them (the Python module).

use std::fs::File;

use memmap2::Mmap;
use polars_arrow::array::Array;

/// Map `file` read-only.
pub fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is read-only and private to this process. The one hazard is another
    // process truncating the file while it is mapped (reads then fault with SIGBUS); that is
    // documented for users, and `memory_map=False` avoids mapping altogether.
    unsafe { Mmap::map(file) }
}

/// An array and its field exported through the Arrow C Data Interface, ready to be put in
/// the two PyCapsules of the Arrow PyCapsule protocol.
pub struct Exported {
    /// The `ArrowSchema` struct (capsule name `arrow_schema`).
    pub schema: SendPtr<polars_arrow::ffi::ArrowSchema>,
    /// The `ArrowArray` struct (capsule name `arrow_array`).
    pub array: SendPtr<polars_arrow::ffi::ArrowArray>,
}

/// A C Data Interface struct that may move to another thread. Transparent, so a pointer to
/// it (what a PyCapsule hands out) is a pointer to the struct itself; only [`export`] makes one.
#[repr(transparent)]
pub struct SendPtr<T>(T);

// SAFETY: the C Data Interface structs own what they point to (exported, reference-counted
// Arrow buffers that are themselves `Send + Sync`); the Arrow spec allows them to be moved to
// and released on any thread, and nothing else aliases them after export.
unsafe impl<T> Send for SendPtr<T> {}

/// Export `array` (with its name) through the Arrow C Data Interface, zero-copy.
pub fn export(name: &str, array: Box<dyn Array>) -> Exported {
    let field = polars_arrow::datatypes::Field::new(name.into(), array.dtype().clone(), true);
    Exported {
        schema: SendPtr(polars_arrow::ffi::export_field_to_c(&field)),
        array: SendPtr(polars_arrow::ffi::export_array_to_c(array)),
    }
}
