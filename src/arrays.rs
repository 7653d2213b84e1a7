//! Arrays: member bytes turned into Arrow arrays (polars-arrow). Aligned, native-endian data of
//! a mapped stored member becomes a buffer that points into the shared mapping and keeps it
//! alive; everything else is one explicit copy or conversion, in functions named for it.
//! All `unsafe` of the crate lives in this module.

use std::fs::File;
use std::marker::PhantomData;

use bytemuck::Pod;
use memmap2::Mmap;
use polars_arrow::array::{Array, BooleanArray, FixedSizeListArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use polars_buffer::Buffer;
use polars_arrow::datatypes::ArrowDataType;
use polars_arrow::types::NativeType;
use polars_utils::float16::pf16;

use crate::dtype::{self, Element, NpyDtype};
use crate::error::{invalid, Invalid};
use crate::member::{MappedRange, MemberReader};

/// An Arrow array, as Polars takes it.
pub type ArrayRef = Box<dyn Array>;

/// Map `file` read-only.
pub(crate) fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is read-only and private to this process. The one hazard is another
    // process truncating the file while it is mapped (reads then fault with SIGBUS); that is
    // documented for users, and `memory_map=False` avoids mapping altogether.
    unsafe { Mmap::map(file) }
}

/// Values of type `T` that live in the shared mapping; the owner of a zero-copy buffer.
struct MappedValues<T> {
    range: MappedRange,
    _t: PhantomData<T>,
}

impl<T: Pod> AsRef<[T]> for MappedValues<T> {
    fn as_ref(&self) -> &[T] {
        // Alignment and length were checked when this owner was made, and the mapping's address
        // never changes, so this cast cannot fail.
        bytemuck::cast_slice(self.range.bytes())
    }
}

/// How the rows of one member become an Arrow array.
#[derive(Debug, Clone)]
pub struct Decoder {
    dtype: NpyDtype,
    /// Shape of one row (the array's shape without its first axis).
    inner_shape: Vec<u64>,
    /// Elements per row.
    values_per_row: usize,
    /// Bytes per row.
    row_bytes: usize,
    arrow: ArrowDataType,
}

impl Decoder {
    /// A decoder for rows of shape `inner_shape` of `dtype`, or why the type is refused.
    pub fn new(dtype: &NpyDtype, inner_shape: &[u64]) -> Result<Decoder, String> {
        let leaf = dtype::arrow_type(dtype)?;
        let values_per_row = inner_shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?))
            .ok_or("row shape overflows")?;
        let row_bytes = values_per_row.checked_mul(dtype.itemsize).ok_or("row size overflows")?;
        Ok(Decoder {
            dtype: dtype.clone(),
            inner_shape: inner_shape.to_vec(),
            values_per_row,
            row_bytes,
            arrow: dtype::wrap_fixed_size(leaf, inner_shape),
        })
    }

    /// The Arrow type of the column.
    pub fn arrow_type(&self) -> &ArrowDataType {
        &self.arrow
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Whether `rows` rows read at the reader's position would be a view of the mapping.
    pub fn zero_copy_at(&self, data_addr: usize) -> bool {
        match (&self.dtype.element, self.dtype.itemsize) {
            (Element::Int { .. } | Element::Float, size) => {
                !self.dtype.needs_swap() && data_addr % size.max(1) == 0
            }
            _ => false,
        }
    }

    /// Decode the next `rows` rows from `reader`.
    pub fn decode(&self, reader: &mut MemberReader, rows: usize) -> Result<ArrayRef, Invalid> {
        let n = rows
            .checked_mul(self.values_per_row)
            .ok_or_else(|| invalid!("{rows} rows overflow the address space"))?;
        let leaf = self.decode_leaf(reader, n)?;
        Ok(wrap_rows(leaf, &self.arrow, rows, &self.inner_shape))
    }

    fn decode_leaf(&self, reader: &mut MemberReader, n: usize) -> Result<ArrayRef, Invalid> {
        let d = &self.dtype;
        let swap = d.needs_swap();
        macro_rules! prim {
            ($t:ty, $arrow:expr) => {{
                let values = primitive_values::<$t>(reader, n, swap)?;
                Ok(Box::new(PrimitiveArray::<$t>::new($arrow, values, None)) as ArrayRef)
            }};
        }
        match (&d.element, d.itemsize) {
            (Element::Bool, 1) => {
                let bytes = read_bytes(reader, n)?;
                Ok(Box::new(BooleanArray::new(ArrowDataType::Boolean, pack_bools(&bytes), None)))
            }
            (Element::Int { signed: true }, 1) => prim!(i8, ArrowDataType::Int8),
            (Element::Int { signed: true }, 2) => prim!(i16, ArrowDataType::Int16),
            (Element::Int { signed: true }, 4) => prim!(i32, ArrowDataType::Int32),
            (Element::Int { signed: true }, 8) => prim!(i64, ArrowDataType::Int64),
            (Element::Int { signed: false }, 1) => prim!(u8, ArrowDataType::UInt8),
            (Element::Int { signed: false }, 2) => prim!(u16, ArrowDataType::UInt16),
            (Element::Int { signed: false }, 4) => prim!(u32, ArrowDataType::UInt32),
            (Element::Int { signed: false }, 8) => prim!(u64, ArrowDataType::UInt64),
            (Element::Float, 2) => prim!(pf16, ArrowDataType::Float16),
            (Element::Float, 4) => prim!(f32, ArrowDataType::Float32),
            (Element::Float, 8) => prim!(f64, ArrowDataType::Float64),
            _ => Err(invalid!("numpy type '{}' cannot be decoded", d.text)),
        }
    }
}

/// Wrap `leaf` (all elements of `rows` rows) in one fixed-size list per row dimension.
fn wrap_rows(leaf: ArrayRef, arrow: &ArrowDataType, rows: usize, inner_shape: &[u64]) -> ArrayRef {
    // The type at each nesting level, outermost (the column's type) first.
    let mut types = vec![arrow.clone()];
    for _ in 1..inner_shape.len() {
        let ArrowDataType::FixedSizeList(child, _) = &types[types.len() - 1] else { break };
        let child = child.dtype().clone();
        types.push(child);
    }
    let mut array = leaf;
    for level in (0..inner_shape.len()).rev() {
        let len = inner_shape[..level].iter().fold(rows, |a, &d| a * d as usize);
        array = Box::new(FixedSizeListArray::new(types[level].clone(), len, array, None));
    }
    array
}

/// The next `n` values of type `T`: a view of the mapping when the member is stored, mapped,
/// aligned and native-endian; otherwise one copy (with a byte swap when `swap`).
fn primitive_values<T: NativeType + Pod>(
    reader: &mut MemberReader,
    n: usize,
    swap: bool,
) -> Result<Buffer<T>, Invalid> {
    let nbytes = n
        .checked_mul(size_of::<T>())
        .ok_or_else(|| invalid!("{n} values overflow the address space"))?;
    let mut values: Vec<T> = if let Some(range) = reader.next_mapped(nbytes)? {
        if !swap && bytemuck::try_cast_slice::<u8, T>(range.bytes()).is_ok() {
            return Ok(Buffer::from_owner(MappedValues::<T> { range, _t: PhantomData }));
        }
        copy_values(range.bytes())
    } else {
        let mut v = vec![T::zeroed(); n];
        reader.read_exact(bytemuck::cast_slice_mut(&mut v))?;
        v
    };
    if swap {
        swap_in_place(bytemuck::cast_slice_mut(&mut values), size_of::<T>());
    }
    Ok(Buffer::from(values))
}

/// Copy unaligned bytes into a fresh, aligned vector of `T`.
fn copy_values<T: Pod>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::zeroed(); bytes.len() / size_of::<T>()];
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
    v
}

/// Reverse the bytes of each `width`-byte element.
fn swap_in_place(bytes: &mut [u8], width: usize) {
    for chunk in bytes.chunks_exact_mut(width) {
        chunk.reverse();
    }
}

/// The next `n` bytes, copied.
fn read_bytes(reader: &mut MemberReader, n: usize) -> Result<Vec<u8>, Invalid> {
    if let Some(range) = reader.next_mapped(n)? {
        return Ok(range.bytes().to_vec());
    }
    let mut v = vec![0u8; n];
    reader.read_exact(&mut v)?;
    Ok(v)
}

/// numpy booleans (one byte each, nonzero is true) packed into a bitmap.
fn pack_bools(bytes: &[u8]) -> Bitmap {
    let mut packed = vec![0u8; bytes.len().div_ceil(8)];
    for (out, chunk) in packed.iter_mut().zip(bytes.chunks(8)) {
        let mut b = 0u8;
        for (i, &v) in chunk.iter().enumerate() {
            b |= ((v != 0) as u8) << i;
        }
        *out = b;
    }
    Bitmap::from_u8_vec(packed, bytes.len())
}

/// An array and its field exported through the Arrow C Data Interface, ready to be put in
/// the two PyCapsules of the Arrow PyCapsule protocol.
pub struct Exported {
    /// The `ArrowSchema` struct (capsule name `arrow_schema`).
    pub schema: SendPtr<polars_arrow::ffi::ArrowSchema>,
    /// The `ArrowArray` struct (capsule name `arrow_array`).
    pub array: SendPtr<polars_arrow::ffi::ArrowArray>,
}

/// A C Data Interface struct that may move to another thread.
pub struct SendPtr<T>(pub T);

// SAFETY: the C Data Interface structs own what they point to (exported, reference-counted
// Arrow buffers that are themselves `Send + Sync`); the Arrow spec allows them to be moved to
// and released on any thread, and nothing else aliases them after export.
unsafe impl<T> Send for SendPtr<T> {}

/// Export `array` (with its name) through the Arrow C Data Interface, zero-copy.
pub fn export(name: &str, array: ArrayRef) -> Exported {
    let field = polars_arrow::datatypes::Field::new(name.into(), array.dtype().clone(), true);
    Exported {
        schema: SendPtr(polars_arrow::ffi::export_field_to_c(&field)),
        array: SendPtr(polars_arrow::ffi::export_array_to_c(array)),
    }
}
