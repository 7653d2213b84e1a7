//! The crate's only `unsafe`: the operations the compiler cannot check. Mapping a file
//! (done once per archive, by the member layer); moving exported Arrow C Data Interface
//! structs to the thread that imports them, and importing Arrow C streams (the Python module);
//! and handing polars-arrow's exported structs to arrow-rs (feature `arrow`); and zlib's
//! deflate through its C interface (the blocks of written members).

use std::fs::File;

use memmap2::Mmap;
#[cfg(feature = "python")]
use polars_arrow::array::Array;

/// Map `file` read-only.
///
/// The mapping is read-only (PROT_READ) but shared (MAP_SHARED, what memmap2's `Mmap::map`
/// makes): this process never writes through it, but another process can. If another process
/// truncates the file, reading the lost pages faults with SIGBUS; if it writes the file in
/// place, values under zero-copy columns change. Both are documented for users, and
/// `memory_map=False` reads members into owned memory instead.
pub(crate) fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: read-only and never written through here; what other processes can do to the
    // file (above) is the documented contract of a mapped archive.
    unsafe { Mmap::map(file) }
}

#[cfg(feature = "python")]
/// An array and its field exported through the Arrow C Data Interface, ready to be put in
/// the two PyCapsules of the Arrow PyCapsule protocol.
pub(crate) struct Exported {
    /// The `ArrowSchema` struct (capsule name `arrow_schema`).
    pub schema: SendPtr<polars_arrow::ffi::ArrowSchema>,
    /// The `ArrowArray` struct (capsule name `arrow_array`).
    pub array: SendPtr<polars_arrow::ffi::ArrowArray>,
}

#[cfg(feature = "python")]
/// A C Data Interface struct that may move to another thread. Transparent, so a pointer to
/// it (what a PyCapsule hands out) is a pointer to the struct itself; only [`export`] makes one.
#[repr(transparent)]
pub(crate) struct SendPtr<T>(T);

// SAFETY: the C Data Interface structs own what they point to (exported, reference-counted
// Arrow buffers that are themselves `Send + Sync`); the Arrow spec allows them to be moved to
// and released on any thread, and nothing else aliases them after export.
#[cfg(feature = "python")]
unsafe impl<T> Send for SendPtr<T> {}

#[cfg(feature = "python")]
/// Export `array` (with its name) through the Arrow C Data Interface, zero-copy.
pub(crate) fn export(name: &str, array: Box<dyn Array>) -> Exported {
    let field = polars_arrow::datatypes::Field::new(name.into(), array.dtype().clone(), true);
    Exported { schema: SendPtr(polars_arrow::ffi::export_field_to_c(&field)), array: SendPtr(polars_arrow::ffi::export_array_to_c(array)) }
}

#[cfg(feature = "python")]
/// Export `field` alone through the Arrow C Data Interface (an `ArrowSchema` struct; for a
/// struct field, the schema of a record batch).
pub(crate) fn export_schema(field: &polars_arrow::datatypes::Field) -> SendPtr<polars_arrow::ffi::ArrowSchema> {
    SendPtr(polars_arrow::ffi::export_field_to_c(field))
}

/// Import the Arrow C stream held by a PyCapsule named `arrow_array_stream` (what
/// `__arrow_c_stream__` returns), taking it over as the Arrow PyCapsule protocol says: returns
/// the field and every array of the stream.
#[cfg(feature = "python")]
pub(crate) fn import_capsule_stream(
    capsule: &pyo3::Bound<'_, pyo3::types::PyCapsule>,
) -> pyo3::PyResult<(polars_arrow::datatypes::Field, Vec<Box<dyn Array>>)> {
    use pyo3::types::PyCapsuleMethods;
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: a capsule named `arrow_array_stream` holds an ArrowArrayStream (the Arrow
    // PyCapsule protocol), and the caller holds the GIL, so nothing else uses it meanwhile.
    unsafe { import_stream(ptr.as_ptr().cast()) }.map_err(pyo3::exceptions::PyValueError::new_err)
}

/// Import an Arrow C stream, taking it over (the source is left with a released stream):
/// returns the field and every array of the stream.
///
/// # Safety
/// `stream` must point to a valid `ArrowArrayStream` that nothing else uses while this runs.
#[cfg(feature = "python")]
unsafe fn import_stream(
    stream: *mut polars_arrow::ffi::ArrowArrayStream,
) -> Result<(polars_arrow::datatypes::Field, Vec<Box<dyn Array>>), String> {
    // SAFETY: the caller guarantees `stream` is a valid stream struct; swapping in an empty one
    // moves it out, so the capsule's destructor finds it released and does nothing.
    let owned = unsafe { std::ptr::replace(stream, polars_arrow::ffi::ArrowArrayStream::empty()) };
    // SAFETY: the stream came from a producer of the Arrow C stream interface (Python Polars).
    let mut reader = unsafe { polars_arrow::ffi::ArrowArrayStreamReader::try_new(Box::new(owned)) }.map_err(|e| e.to_string())?;
    let field = reader.field().clone();
    let mut arrays = Vec::new();
    // SAFETY: as above; each array is imported through the C data interface.
    while let Some(array) = unsafe { reader.next() } {
        arrays.push(array.map_err(|e| e.to_string())?);
    }
    Ok((field, arrays))
}

/// `field` (exported by polars-arrow through the Arrow C Data Interface) as an arrow-rs field.
#[cfg(feature = "arrow")]
pub(crate) fn field_to_arrow_rs(field: &polars_arrow::datatypes::Field) -> Result<arrow_schema::Field, arrow_schema::ArrowError> {
    let exported = polars_arrow::ffi::export_field_to_c(field);
    // The struct is moved: its release callback, which frees what polars-arrow allocated, is
    // now arrow-rs's to call, once, when the imported struct drops.
    // SAFETY: both types are the C Data Interface's `ArrowSchema` struct, `#[repr(C)]` with the
    // same fields in the same order (the size is checked by `transmute`).
    let ffi: arrow_schema::ffi::FFI_ArrowSchema = unsafe { std::mem::transmute(exported) };
    arrow_schema::Field::try_from(&ffi)
}

/// `array` (a polars-arrow array of arrow-rs type `dtype`) as an arrow-rs array, through the
/// Arrow C Data Interface: its buffers are moved, not copied.
#[cfg(feature = "arrow")]
pub(crate) fn array_to_arrow_rs(
    array: Box<dyn polars_arrow::array::Array>,
    dtype: &arrow_schema::DataType,
) -> Result<arrow_array::ArrayRef, arrow_schema::ArrowError> {
    let exported = polars_arrow::ffi::export_array_to_c(array);
    // The struct is moved: its release callback, which drops polars-arrow's reference to the
    // buffers, is now arrow-rs's to call, once, when the last array imported from it drops.
    // SAFETY: both types are the C Data Interface's `ArrowArray` struct, `#[repr(C)]` with the
    // same fields in the same order (the size is checked by `transmute`).
    let ffi: arrow_array::ffi::FFI_ArrowArray = unsafe { std::mem::transmute(exported) };
    // SAFETY: `ffi` was just exported by polars-arrow from a valid array, and `dtype` is the
    // arrow-rs import of the field polars-arrow exports for that array's type (both come from
    // the same `StructBatches`), so the buffers and children are those `dtype` describes.
    let data = unsafe { arrow_array::ffi::from_ffi_and_data_type(ffi, dtype.clone()) }?;
    Ok(arrow_array::make_array(data))
}

extern "C" {
    fn calloc(n: usize, size: usize) -> *mut std::ffi::c_void;
    fn free(p: *mut std::ffi::c_void);
}

/// zlib's allocator: the C allocator.
unsafe extern "C" fn zalloc(_: *mut std::ffi::c_void, items: std::ffi::c_uint, size: std::ffi::c_uint) -> *mut std::ffi::c_void {
    // SAFETY: the C allocator, called as zlib calls its allocator.
    unsafe { calloc(items as usize, size as usize) }
}

unsafe extern "C" fn zfree(_: *mut std::ffi::c_void, p: *mut std::ffi::c_void) {
    // SAFETY: `p` came from `zalloc` (zlib frees only what it allocated).
    unsafe { free(p) }
}

/// A z_stream of zlib's with no input or output yet, its allocators set.
fn empty_stream() -> libz_sys::z_stream {
    libz_sys::z_stream {
        next_in: std::ptr::null_mut(),
        avail_in: 0,
        total_in: 0,
        next_out: std::ptr::null_mut(),
        avail_out: 0,
        total_out: 0,
        msg: std::ptr::null_mut(),
        state: std::ptr::null_mut(),
        zalloc,
        zfree,
        opaque: std::ptr::null_mut(),
        data_type: 0,
        adler: 0,
        reserved: 0,
    }
}

/// A raw inflate (no zlib or gzip wrapper; zlib-rs through zlib's C API), which can stop at the
/// end of each deflate block and report where in the input it stands, and start mid-stream: at
/// a block boundary from its bit offset and the 32 KiB of output before it (zlib's `zran`
/// technique).
pub(crate) struct ZInflate {
    /// Boxed: the inflater's state points back to the stream, which must not move.
    strm: Box<libz_rs_sys::z_stream>,
}

// SAFETY: the stream and the state zlib allocated for it are owned by this value alone (no
// pointer into caller memory outlives a call of `inflate`), and zlib keeps no thread-local state.
unsafe impl Send for ZInflate {}

/// What one call of [`ZInflate::inflate`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZStep {
    /// Input bytes consumed and output bytes produced.
    pub(crate) consumed: usize,
    pub(crate) produced: usize,
    /// The stream's end was reached.
    pub(crate) end: bool,
    /// It stopped just after the end of a deflate block that is not the stream's last.
    pub(crate) boundary: bool,
    /// Bits of the last input byte consumed that are not yet used (0 to 7).
    pub(crate) unused_bits: u8,
}

impl ZInflate {
    /// A raw inflater at the start of a deflate stream.
    pub(crate) fn new() -> std::io::Result<ZInflate> {
        use libz_rs_sys as z;
        let mut strm = Box::new(z::z_stream::default());
        // SAFETY: `strm` is initialised as zlib requires (no allocators: the default ones; no
        // input yet) and boxed, so it stays where the state points; version and size are this
        // build's.
        let code = unsafe { z::inflateInit2_(&mut *strm, -15, z::zlibVersion(), size_of::<z::z_stream>() as std::ffi::c_int) };
        if code != z::Z_OK {
            return Err(std::io::Error::other(format!("zlib inflateInit2 failed ({code})")));
        }
        Ok(ZInflate { strm })
    }

    /// Start mid-stream: `bits` (0 to 7) bits of `value` (its high bits, the rest of the byte
    /// before the next input) and the 32 KiB (or fewer, at the start) of output before this
    /// point. Only before the first [`inflate`](Self::inflate). (Reads from a point go through
    /// libdeflate; this checks them in tests.)
    #[cfg(test)]
    pub(crate) fn resume(&mut self, bits: u8, value: u8, window: &[u8]) -> std::io::Result<()> {
        use libz_rs_sys as z;
        let fail = |what: &str, code| std::io::Error::other(format!("zlib {what} failed ({code})"));
        if bits > 0 {
            // SAFETY: the stream was initialised by `new`; priming takes no pointers.
            let code = unsafe { z::inflatePrime(&mut *self.strm, std::ffi::c_int::from(bits), std::ffi::c_int::from(value >> (8 - bits))) };
            if code != z::Z_OK {
                return Err(fail("inflatePrime", code));
            }
        }
        if !window.is_empty() {
            let len = u32::try_from(window.len()).map_err(|_| std::io::Error::other("window too large"))?;
            // SAFETY: the stream was initialised by `new`; zlib copies `len` bytes from the
            // live slice `window` during the call.
            let code = unsafe { z::inflateSetDictionary(&mut *self.strm, window.as_ptr(), len) };
            if code != z::Z_OK {
                return Err(fail("inflateSetDictionary", code));
            }
        }
        Ok(())
    }

    /// Inflate from `input` into `output` until the input is used up, the output full or the
    /// stream ends; with `block`, also stop at the end of each deflate block.
    pub(crate) fn inflate(&mut self, input: &[u8], output: &mut [u8], block: bool) -> std::io::Result<ZStep> {
        use libz_rs_sys as z;
        let mut dummy = [0u8; 1];
        let avail_in = input.len().min(u32::MAX as usize);
        let avail_out = output.len().min(u32::MAX as usize);
        // zlib refuses a null output pointer even when no room is given.
        let out_ptr = if output.is_empty() { dummy.as_mut_ptr() } else { output.as_mut_ptr() };
        self.strm.next_in = input.as_ptr();
        self.strm.avail_in = avail_in as u32;
        self.strm.next_out = out_ptr;
        self.strm.avail_out = avail_out as u32;
        // SAFETY: the stream was initialised by `new`; its input and output point into live
        // buffers of the lengths given (zlib never writes through `next_in`).
        let code = unsafe { z::inflate(&mut *self.strm, if block { z::Z_BLOCK } else { z::Z_NO_FLUSH }) };
        let consumed = avail_in - self.strm.avail_in as usize;
        let produced = avail_out - self.strm.avail_out as usize;
        // No pointer into the caller's buffers is kept past this call.
        self.strm.next_in = std::ptr::null();
        self.strm.avail_in = 0;
        self.strm.next_out = std::ptr::null_mut();
        self.strm.avail_out = 0;
        let data_type = self.strm.data_type;
        match code {
            z::Z_OK | z::Z_BUF_ERROR | z::Z_STREAM_END => Ok(ZStep {
                consumed,
                produced,
                end: code == z::Z_STREAM_END,
                boundary: data_type & 128 != 0 && data_type & 64 == 0,
                unused_bits: (data_type & 7) as u8,
            }),
            code => Err(std::io::Error::other(format!("corrupt deflate stream (zlib {code})"))),
        }
    }
}

impl Drop for ZInflate {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by `new` and is ended once.
        unsafe { libz_rs_sys::inflateEnd(&mut *self.strm) };
    }
}

/// `input` deflated by zlib (raw deflate, level 6: what Python's `zipfile`, so numpy's
/// `savez_compressed`, writes), ended by a full flush, or, when `last`, by the stream's end.
/// zlib (not zlib-rs, whose level 6 is another algorithm) keeps archives the size numpy's are.
pub(crate) fn zlib_deflate(input: &[u8], last: bool) -> std::io::Result<Vec<u8>> {
    use libz_sys as z;
    use std::ffi::{c_int, c_uint};
    let fail = |what: &str, code: c_int| std::io::Error::other(format!("zlib {what} failed ({code})"));
    let mut out: Vec<u8> = Vec::with_capacity(input.len() + input.len() / 1000 + 64);
    let mut strm = empty_stream();
    // SAFETY: `strm` is initialised as zlib requires (allocators set, no input yet); the
    // version and size are this build's.
    let code = unsafe {
        z::deflateInit2_(&mut strm, 6, z::Z_DEFLATED, -15, 8, z::Z_DEFAULT_STRATEGY, z::zlibVersion(), size_of::<z::z_stream>() as c_int)
    };
    if code != z::Z_OK {
        return Err(fail("init", code));
    }
    let flush = if last { z::Z_FINISH } else { z::Z_FULL_FLUSH };
    let mut consumed = 0usize;
    let result = loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let chunk = (input.len() - consumed).min(c_uint::MAX as usize);
        strm.next_in = input[consumed..].as_ptr().cast_mut();
        strm.avail_in = chunk as c_uint;
        let room = (out.capacity() - out.len()).min(c_uint::MAX as usize);
        // SAFETY: the output pointer and room lie in `out`'s spare capacity.
        strm.next_out = unsafe { out.as_mut_ptr().add(out.len()) };
        strm.avail_out = room as c_uint;
        let end_of_input = consumed + chunk == input.len();
        // SAFETY: `strm` was initialised above; its input and output point into live buffers
        // of the lengths given.
        let code = unsafe { z::deflate(&mut strm, if end_of_input { flush } else { z::Z_NO_FLUSH }) };
        consumed += chunk - strm.avail_in as usize;
        let written = room - strm.avail_out as usize;
        // SAFETY: zlib wrote `written` bytes into the spare capacity.
        unsafe { out.set_len(out.len() + written) };
        match code {
            z::Z_STREAM_END => break Ok(()),
            // A flush is complete once it leaves output space unused.
            z::Z_OK | z::Z_BUF_ERROR if !last && end_of_input && consumed == input.len() && strm.avail_out > 0 => break Ok(()),
            z::Z_OK | z::Z_BUF_ERROR => {}
            code => break Err(fail("deflate", code)),
        }
    };
    // SAFETY: `strm` was initialised by deflateInit2_ and is ended once.
    unsafe { z::deflateEnd(&mut strm) };
    result.map(|()| out)
}
