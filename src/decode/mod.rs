//! Arrays: member bytes turned into Arrow arrays (polars-arrow). Aligned, native-endian data of
//! a mapped stored member becomes a buffer that points into the shared mapping and keeps it
//! alive (`Buffer::from_owner`, safe code); everything else is one explicit copy or conversion,
//! in functions named for it.

pub(crate) mod fortran;
pub(crate) mod strings;

use std::marker::PhantomData;

use bytemuck::Pod;
use polars_arrow::array::{Array, BooleanArray, FixedSizeListArray, PrimitiveArray, StructArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::ArrowDataType;
use polars_arrow::types::NativeType;
use polars_buffer::Buffer;
use polars_core::runtime::THREAD_POOL;
use polars_utils::float16::pf16;
use rayon::prelude::*;

use crate::error::{invalid, ErrorKind, Invalid};
use crate::npy::dtype::{self, Element, NpyDtype};
use crate::pieces::for_each_piece;
use crate::source::BackedRange;
use crate::zip::MemberReader;

use crate::npy::time::{Target, NAT};

/// An Arrow array, as Polars takes it.
pub(crate) type ArrayRef = Box<dyn Array>;

/// Values of type `T` that live in the shared mapping or in a member inflated whole; the owner
/// of a zero-copy buffer.
struct BackedValues<T> {
    range: BackedRange,
    _t: PhantomData<T>,
}

impl<T: Pod> AsRef<[T]> for BackedValues<T> {
    fn as_ref(&self) -> &[T] {
        // Alignment and length were checked when this owner was made, and the memory's address
        // never changes, so this cast cannot fail.
        bytemuck::cast_slice(self.range.bytes())
    }
}

/// How the rows of one member become an Arrow array.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
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
    pub(crate) fn new(dtype: &NpyDtype, inner_shape: &[u64]) -> Result<Decoder, String> {
        let leaf = dtype::arrow_type(dtype)?;
        let values_per_row =
            inner_shape.iter().try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?)).ok_or("row shape overflows")?;
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
    pub(crate) fn arrow_type(&self) -> &ArrowDataType {
        &self.arrow
    }

    /// Bytes per row.
    pub(crate) fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Whether rows whose data starts at file offset `data_offset` of a mapped, stored member
    /// become a view of the mapping (no copy of the values).
    pub(crate) fn zero_copy_at(&self, data_offset: usize) -> bool {
        let lane = match &self.dtype.element {
            Element::Int { .. } | Element::Float => self.dtype.itemsize,
            Element::Complex => self.dtype.itemsize / 2,
            Element::Datetime { .. } | Element::Timedelta { .. } if self.time_target().is_some_and(|t| t.is_identity()) => 8,
            _ => return false,
        };
        !self.dtype.needs_swap() && lane > 0 && data_offset % lane == 0
    }

    fn time_target(&self) -> Option<Target> {
        match self.dtype.element {
            Element::Datetime { unit, mult } => Target::new(unit, mult, true, &self.dtype.text).ok(),
            Element::Timedelta { unit, mult } => Target::new(unit, mult, false, &self.dtype.text).ok(),
            _ => None,
        }
    }

    /// Decode the next `rows` rows from `reader`, the first of them row `first_row` of the
    /// member (errors name values by their place in the member).
    pub(crate) fn decode(&self, reader: &mut MemberReader, rows: usize, first_row: usize) -> Result<ArrayRef, Invalid> {
        let n = rows.checked_mul(self.values_per_row).ok_or_else(|| invalid!("{rows} rows overflow the address space"))?;
        let leaf = self.decode_leaf(reader, n, first_row.saturating_mul(self.values_per_row))?;
        Ok(wrap_rows(leaf, &self.arrow, rows, &self.inner_shape))
    }

    /// Decode `rows` rows from C-order bytes already in memory.
    pub(crate) fn decode_bytes(&self, bytes: &[u8], rows: usize) -> Result<ArrayRef, Invalid> {
        let n = rows.checked_mul(self.values_per_row).ok_or_else(|| invalid!("{rows} rows overflow the address space"))?;
        let leaf = decode_elements(&self.dtype, bytes, n, 0)?;
        Ok(wrap_rows(leaf, &self.arrow, rows, &self.inner_shape))
    }

    /// `n` elements from the reader: numeric and time values go straight into their Arrow
    /// buffer (a view of the mapping when possible); other types are decoded from bytes.
    fn decode_leaf(&self, reader: &mut MemberReader, n: usize, first: usize) -> Result<ArrayRef, Invalid> {
        let d = &self.dtype;
        let swap = d.needs_swap();
        match &d.element {
            Element::Int { .. } | Element::Float | Element::Complex => numeric(d, n, |lanes| Values::Reader(reader, lanes, swap)),
            Element::Datetime { .. } | Element::Timedelta { .. } => {
                let values = primitive_values::<i64>(Values::Reader(reader, n, swap))?;
                let datetime = matches!(d.element, Element::Datetime { .. });
                let target = self.time_target().ok_or_else(|| invalid!("unsupported time type '{}'", d.text))?;
                time_array(values, target, datetime)
            }
            _ => {
                let nbytes = n.checked_mul(d.itemsize).ok_or_else(|| invalid!("{n} values overflow the address space"))?;
                with_bytes(reader, nbytes, |raw| decode_elements(d, raw, n, first))
            }
        }
    }
}

/// The values of a primitive array, by where they come from.
enum Values<'a> {
    /// The next `.1` values of a member (`.2`: swap bytes).
    Reader(&'a mut MemberReader, usize, bool),
    /// Bytes in memory, `.1`: swap bytes.
    Bytes(&'a [u8], bool),
}

/// An array of `n` numeric elements of `d` (ints, floats, complex as [re, im] pairs).
fn numeric<'a>(d: &NpyDtype, n: usize, from: impl FnOnce(usize) -> Values<'a>) -> Result<ArrayRef, Invalid> {
    let lane = if d.element == Element::Complex { d.base_size() / 2 } else { d.base_size() };
    let lanes = if d.element == Element::Complex { n.checked_mul(2).ok_or_else(|| invalid!("too many values"))? } else { n };
    macro_rules! prim {
        ($t:ty, $arrow:expr) => {{
            let values = primitive_values::<$t>(from(lanes))?;
            Box::new(PrimitiveArray::<$t>::new($arrow, values, None)) as ArrayRef
        }};
    }
    let values = match (&d.element, lane) {
        (Element::Int { signed: true }, 1) => prim!(i8, ArrowDataType::Int8),
        (Element::Int { signed: true }, 2) => prim!(i16, ArrowDataType::Int16),
        (Element::Int { signed: true }, 4) => prim!(i32, ArrowDataType::Int32),
        (Element::Int { signed: true }, 8) => prim!(i64, ArrowDataType::Int64),
        (Element::Int { signed: false }, 1) => prim!(u8, ArrowDataType::UInt8),
        (Element::Int { signed: false }, 2) => prim!(u16, ArrowDataType::UInt16),
        (Element::Int { signed: false }, 4) => prim!(u32, ArrowDataType::UInt32),
        (Element::Int { signed: false }, 8) => prim!(u64, ArrowDataType::UInt64),
        (Element::Float, 2) => prim!(pf16, ArrowDataType::Float16),
        (Element::Float | Element::Complex, 4) => prim!(f32, ArrowDataType::Float32),
        (Element::Float | Element::Complex, 8) => prim!(f64, ArrowDataType::Float64),
        _ => return Err(invalid!("numpy type '{}' cannot be decoded", d.text)),
    };
    if d.element == Element::Complex {
        let arrow = dtype::wrap_fixed_size(values.dtype().clone(), &[2]);
        return Ok(Box::new(FixedSizeListArray::new(arrow, n, values, None)));
    }
    Ok(values)
}

/// Datetime/Duration/Date values from numpy's i64 ticks: NaT becomes null; values convert to
/// the Polars unit. When no conversion is needed the values buffer is kept as it is (possibly
/// a view of the mapping) and only a validity bitmap is built.
fn time_array(values: Buffer<i64>, target: Target, datetime: bool) -> Result<ArrayRef, Invalid> {
    let arrow = target.arrow_type(datetime);
    let has_nat = values.contains(&NAT);
    let validity = has_nat.then(|| values.iter().map(|&v| v != NAT).collect::<Bitmap>());
    if target.is_identity() {
        return Ok(Box::new(PrimitiveArray::<i64>::new(arrow, values, validity)));
    }
    if let Target::Ticks { .. } = target {
        let mut owned = match values.into_mut() {
            polars_arrow::Either::Right(v) => v,
            polars_arrow::Either::Left(shared) => shared.as_slice().to_vec(),
        };
        target.convert_i64(&mut owned)?;
        return Ok(Box::new(PrimitiveArray::<i64>::new(arrow, owned.into(), validity)));
    }
    let days = target.to_days(&values)?;
    Ok(Box::new(PrimitiveArray::<i32>::new(arrow, days.into(), validity)))
}

/// Decode `n` elements of `d` (with its sub-array shape, if any) from bytes in memory, the
/// first of them element `first` of its member (for messages).
/// One pass per field, no per-element allocation for fixed-width types.
pub(crate) fn decode_elements(d: &NpyDtype, bytes: &[u8], n: usize, first: usize) -> Result<ArrayRef, Invalid> {
    if !d.shape.is_empty() {
        // A sub-array field: decode the base elements, then nest.
        // Elements per sub-array: from its shape (the sizes cannot tell when elements are
        // 0 bytes, `S0` or `V0`).
        let count =
            d.shape.iter().try_fold(1usize, |a, &x| a.checked_mul(usize::try_from(x).ok()?)).ok_or_else(|| invalid!("too many values"))?;
        let base = NpyDtype { shape: Vec::new(), itemsize: d.base_size(), ..d.clone() };
        let total = n.checked_mul(count).ok_or_else(|| invalid!("too many values"))?;
        let leaf = decode_elements(&base, bytes, total, first.saturating_mul(count))?;
        let arrow = dtype::arrow_type(d).map_err(ErrorKind::Unsupported)?;
        return Ok(wrap_rows(leaf, &arrow, n, &d.shape));
    }
    let need = n.checked_mul(d.itemsize).ok_or_else(|| invalid!("too many values"))?;
    let bytes = bytes.get(..need).ok_or_else(|| invalid!("data ends early: {} bytes, {need} needed", bytes.len()))?;
    let swap = d.needs_swap();
    match &d.element {
        Element::Bool => Ok(Box::new(BooleanArray::new(ArrowDataType::Boolean, pack_bools(bytes), None))),
        Element::Int { .. } | Element::Float | Element::Complex => numeric(d, n, |_| Values::Bytes(bytes, swap)),
        Element::Datetime { unit, mult } | Element::Timedelta { unit, mult } => {
            let datetime = matches!(d.element, Element::Datetime { .. });
            let target = Target::new(*unit, *mult, datetime, &d.text).map_err(ErrorKind::Unsupported)?;
            let values = primitive_values::<i64>(Values::Bytes(bytes, swap))?;
            time_array(values, target, datetime)
        }
        Element::Unicode => strings::utf32(bytes, n, d.itemsize / 4, d.endian, first),
        Element::Bytes => strings::fixed_bytes(bytes, n, d.itemsize, true),
        Element::Void => strings::fixed_bytes(bytes, n, d.itemsize, false),
        Element::Record(fields) => {
            let arrow = dtype::arrow_type(d).map_err(ErrorKind::Unsupported)?;
            let field = |f: &dtype::RecordField| {
                let gathered = gather_field(bytes, n, d.itemsize, f.offset, f.dtype.itemsize)?;
                decode_elements(&f.dtype, &gathered, n, first)
            };
            // Fields of a large member are gathered and decoded in parallel.
            let children = if bytes.len() < (1 << 20) {
                fields.iter().map(field).collect::<Result<Vec<_>, _>>()?
            } else {
                THREAD_POOL.install(|| fields.par_iter().map(field).collect::<Result<Vec<_>, _>>())?
            };
            Ok(Box::new(StructArray::new(arrow, n, children, None)))
        }
        Element::Object => Err(invalid!("object arrays are never loaded")),
    }
}

/// The bytes of one field of `n` records, made contiguous.
fn gather_field(bytes: &[u8], n: usize, record: usize, offset: usize, width: usize) -> Result<Vec<u8>, Invalid> {
    if offset.checked_add(width).is_none_or(|end| end > record) {
        return Err(invalid!("structured field at offset {offset} of {width} bytes lies outside its {record}-byte record"));
    }
    // Records of 0 bytes, or a field of 0 bytes (`S0`, `V0`, a sub-array of shape (0,)):
    // nothing to gather.
    if record == 0 || width == 0 {
        return Ok(Vec::new());
    }
    // `W` is `w` when known at compile time (so the copy is specialized), or 0.
    fn gather<const W: usize>(bytes: &[u8], n: usize, record: usize, offset: usize, w: usize) -> Vec<u8> {
        let w = if W == 0 { w } else { W };
        let mut out = vec![0u8; n * w];
        for (dst, rec) in out.chunks_exact_mut(w).zip(bytes.chunks_exact(record)) {
            dst.copy_from_slice(&rec[offset..offset + w]);
        }
        out
    }
    Ok(match width {
        1 => gather::<1>(bytes, n, record, offset, 1),
        2 => gather::<2>(bytes, n, record, offset, 2),
        4 => gather::<4>(bytes, n, record, offset, 4),
        8 => gather::<8>(bytes, n, record, offset, 8),
        16 => gather::<16>(bytes, n, record, offset, 16),
        w => gather::<0>(bytes, n, record, offset, w),
    })
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

/// Values of type `T`: a view of the mapping when they come from a stored, mapped member and
/// are aligned and native-endian; otherwise one copy (with a byte swap when needed). Read
/// from a deflated member, they are inflated straight into the buffer.
fn primitive_values<T: NativeType + Pod>(from: Values<'_>) -> Result<Buffer<T>, Invalid> {
    let (mut values, swap): (Vec<T>, bool) = match from {
        Values::Reader(reader, n, swap) => {
            let nbytes = n.checked_mul(size_of::<T>()).ok_or_else(|| invalid!("{n} values overflow the address space"))?;
            if !swap {
                if let Some(range) = reader.next_in_memory_aligned(nbytes, align_of::<T>())? {
                    return Ok(Buffer::from_owner(BackedValues::<T> { range, _t: PhantomData }));
                }
            }
            // Byte swaps are done piece by piece as the copy fills them, while in cache.
            let mut v = vec![T::zeroed(); n];
            reader.read_exact_then(bytemuck::cast_slice_mut(&mut v), |piece| {
                if swap {
                    swap_in_place(piece, size_of::<T>());
                }
            })?;
            return Ok(Buffer::from(v));
        }
        Values::Bytes(bytes, swap) => (copy_values(bytes), swap),
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

/// Reverse the bytes of each `width`-byte element (in parallel when there are many).
fn swap_in_place(bytes: &mut [u8], width: usize) {
    fn swap<T: Pod + Send>(bytes: &mut [u8], f: fn(T) -> T) -> bool {
        let Ok(values) = bytemuck::try_cast_slice_mut::<u8, T>(bytes) else { return false };
        for_each_piece(values, (1 << 20) / size_of::<T>(), |_, piece| piece.iter_mut().for_each(|v| *v = f(*v)));
        true
    }
    let done = match width {
        2 => swap::<u16>(bytes, u16::swap_bytes),
        4 => swap::<u32>(bytes, u32::swap_bytes),
        8 => swap::<u64>(bytes, u64::swap_bytes),
        16 => swap::<u128>(bytes, u128::swap_bytes),
        _ => false,
    };
    if !done && width > 1 {
        bytes.chunks_exact_mut(width).for_each(<[u8]>::reverse);
    }
}

/// Call `f` with the next `n` bytes of the member: a slice of the memory holding them (the
/// mapping, or the member inflated whole) when there is one, otherwise read (or inflated)
/// into a temporary buffer.
pub(crate) fn with_bytes<R>(reader: &mut MemberReader, n: usize, f: impl FnOnce(&[u8]) -> Result<R, Invalid>) -> Result<R, Invalid> {
    if let Some(range) = reader.next_in_memory(n)? {
        return f(range.bytes());
    }
    let mut v = vec![0u8; n];
    reader.read_exact(&mut v)?;
    f(&v)
}

/// numpy booleans (one byte each, nonzero is true) packed into a bitmap.
fn pack_bools(bytes: &[u8]) -> Bitmap {
    // Eight bytes at a time: the high bit of each byte is set when the byte is not zero, then
    // one multiplication gathers the eight high bits into the top byte (byte 0 -> bit 0).
    fn pack8(chunk: &[u8]) -> u8 {
        match <[u8; 8]>::try_from(chunk) {
            Ok(b) => {
                let x = u64::from_le_bytes(b);
                let nonzero = (((x & 0x7F7F_7F7F_7F7F_7F7F) + 0x7F7F_7F7F_7F7F_7F7F) | x) & 0x8080_8080_8080_8080;
                ((nonzero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
            }
            Err(_) => chunk.iter().enumerate().fold(0, |b, (i, &v)| b | (u8::from(v != 0) << i)),
        }
    }
    let mut packed = vec![0u8; bytes.len().div_ceil(8)];
    for_each_piece(&mut packed, 1 << 17, |at, out| {
        let src = &bytes[at * 8..((at + out.len()) * 8).min(bytes.len())];
        out.iter_mut().zip(src.chunks(8)).for_each(|(o, c)| *o = pack8(c));
    });
    Bitmap::from_u8_vec(packed, bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn pack_bools_matches_bytewise(bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), any::<u8>()], 0..200)) {
            let bitmap = pack_bools(&bytes);
            prop_assert_eq!(bitmap.len(), bytes.len());
            for (i, &b) in bytes.iter().enumerate() {
                prop_assert_eq!(bitmap.get_bit(i), b != 0);
            }
        }
    }

    #[test]
    fn large_inputs_take_the_parallel_paths() {
        // Over 4 MiB: bool packing and byte swapping run in pieces on the pool.
        let bytes: Vec<u8> = (0..(5 << 20) + 3).map(|i: usize| (i % 7 == 0) as u8 * (i % 5) as u8).collect();
        let bitmap = pack_bools(&bytes);
        assert!(bytes.iter().enumerate().all(|(i, &b)| bitmap.get_bit(i) == (b != 0)));
        let values: Vec<u64> = (0..(5 << 20) / 8 + 1).map(|i| (i as u64).wrapping_mul(0x0102_0304_0506_0708)).collect();
        let mut swapped = values.clone();
        swap_in_place(bytemuck::cast_slice_mut(&mut swapped), 8);
        assert!(values.iter().zip(&swapped).all(|(a, b)| a.swap_bytes() == *b));
    }
}
