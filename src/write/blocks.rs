//! Members written in blocks: each deflated member is cut into blocks of about 1 MiB of rows,
//! each compressed on its own and ended by a full flush (the member stays one deflate stream
//! that any zip reader inflates as before), and every member of a numeric, boolean or temporal
//! 1-D array gets statistics per block (min, max, null and NaN counts). The block index goes in
//! the member's central-directory entry (see [`crate::zip::blocks`]).

use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use crate::npy::dtype::{Element, Endian, NpyDtype};
use crate::npy::header;
use crate::zip::blocks::{blocks_for, BlockIndex, BlockStats};

/// Inflated bytes per block, at least (so a block inflates in a millisecond or so, and the
/// full flushes cost nothing measurable in size).
const BLOCK_BYTES: u64 = 1 << 20;
/// Blocks per member, at most (the index must fit in an extra field): larger members get
/// larger blocks.
const MAX_BLOCKS: u64 = 1024;

/// How a member's bytes are cut into blocks.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    data_offset: u64,
    unit_bytes: u64,
    units: u64,
    units_per_block: u64,
    rows: bool,
    /// The element type statistics are kept for (1-D arrays of numbers, booleans, times).
    stats: Option<NpyDtype>,
}

impl Layout {
    /// The layout of a member whose `.npy` header is `header_bytes` (the member's first bytes)
    /// and whose array data is `data_len` bytes, in blocks of `block_rows` rows when given
    /// (more when a member would otherwise have more than 1024 blocks).
    pub(crate) fn new(header_bytes: &[u8], data_len: u64, block_rows: Option<u64>) -> Layout {
        let parsed = header::parse(header_bytes, usize::MAX).ok().and_then(|h| Some((NpyDtype::from_descr(&h.descr).ok()?, h)));
        let data_offset = parsed.as_ref().map_or(header_bytes.len() as u64, |(_, h)| h.data_offset as u64);
        let row_bytes = parsed.as_ref().and_then(|(d, h)| {
            let c_order = h.shape.len() == 1 || (!h.shape.is_empty() && !h.fortran_order);
            let inner = h.shape.get(1..)?.iter().try_fold(d.itemsize as u64, |a, &x| a.checked_mul(x))?;
            (c_order && inner > 0 && inner.checked_mul(h.shape[0]) == Some(data_len)).then_some((inner, h.shape[0]))
        });
        let (unit_bytes, units, rows) = match row_bytes {
            Some((bytes, rows)) => (bytes, rows, true),
            None => (1, data_len, false),
        };
        let stats = parsed.filter(|(d, h)| rows && h.shape.len() == 1 && stats_kind(d).is_some()).map(|(d, _)| d);
        let wanted = match block_rows {
            Some(r) if rows => r,
            _ => BLOCK_BYTES.div_ceil(unit_bytes),
        };
        let per_block = wanted.max(units.div_ceil(MAX_BLOCKS)).clamp(1, u64::from(u32::MAX));
        Layout { data_offset, unit_bytes, units, units_per_block: per_block, rows, stats }
    }

    fn len(&self) -> usize {
        blocks_for(self.units, self.units_per_block)
    }

    /// The member's byte range of block `b`, for a member of `size` bytes: block 0 is the
    /// header alone (the whole member when it has no units).
    fn range(&self, b: usize, size: u64) -> std::ops::Range<usize> {
        let at = |k: u64| (self.data_offset + k * self.units_per_block * self.unit_bytes) as usize;
        let start = if b == 0 { 0 } else { at(b as u64 - 1) };
        let end = if b + 1 >= self.len() { size as usize } else { at(b as u64) };
        start..end
    }
}

/// One block written: its compressed bytes (deflated members), the CRC-32 state of its bytes,
/// and its statistics.
pub(crate) struct BlockOut {
    packed: Option<Vec<u8>>,
    packed_len: Option<u64>,
    crc: crc32fast::Hasher,
    stats: Option<(u32, u32, Vec<u8>, Vec<u8>)>,
}

/// Write block `b` of `layout` whose bytes are `bytes` (the header included for block 0).
fn block(layout: &Layout, b: usize, bytes: &[u8], compress: bool) -> std::io::Result<BlockOut> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(bytes);
    // Block 0 (the header) has no rows: its statistics are empty.
    let rows = if b == 0 { &[][..] } else { bytes };
    let stats = layout.stats.as_ref().and_then(|d| block_stats(d, rows));
    let packed = if compress { Some(deflate_block(bytes, b + 1 == layout.len())?) } else { None };
    Ok(BlockOut { packed_len: packed.as_ref().map(|p| p.len() as u64), packed, crc, stats })
}

/// The index of a member written as `outs` (block by block, in order).
fn index(layout: &Layout, outs: &[BlockOut], size: u64) -> (BlockIndex, u32) {
    let mut crc = crc32fast::Hasher::new();
    let mut at = 0u64;
    let mut offsets = Vec::with_capacity(outs.len());
    for o in outs {
        crc.combine(&o.crc);
        if let Some(len) = o.packed_len {
            offsets.push((at, o.crc.clone().finalize()));
            at += len;
        }
    }
    let stats = layout.stats.as_ref().and_then(|d| {
        let mut s = BlockStats { itemsize: d.itemsize, nulls: vec![], nans: vec![], min: vec![], max: vec![] };
        for o in outs {
            let (nulls, nans, min, max) = o.stats.clone()?;
            s.nulls.push(nulls);
            s.nans.push(nans);
            s.min.extend(min);
            s.max.extend(max);
        }
        Some(s)
    });
    let crc = crc.finalize();
    let compressed = outs.iter().any(|o| o.packed_len.is_some());
    let idx = BlockIndex {
        crc32: crc,
        compressed_size: if compressed { at } else { size },
        size,
        data_offset: layout.data_offset,
        unit_bytes: layout.unit_bytes,
        units: layout.units,
        units_per_block: layout.units_per_block,
        rows: layout.rows,
        offsets: compressed.then_some(offsets),
        stats,
    };
    (idx, crc)
}

/// A member held in memory, `header` then `data`, cut into blocks written in parallel:
/// the compressed blocks (when `compress`), its index and its CRC-32.
pub(crate) fn write_member(
    header_bytes: &[u8],
    data: &[u8],
    compress: bool,
    block_rows: Option<u64>,
) -> std::io::Result<(Vec<Vec<u8>>, BlockIndex, u32)> {
    let layout = Layout::new(header_bytes, data.len() as u64, block_rows);
    let size = (header_bytes.len() + data.len()) as u64;
    let one = |b: usize| -> std::io::Result<BlockOut> {
        let r = layout.range(b, size);
        if b == 0 {
            // The header and the first rows, joined (the only copy: one block).
            let head = r.end.saturating_sub(header_bytes.len());
            block(&layout, 0, &[header_bytes, &data[..head]].concat(), compress)
        } else {
            let h = header_bytes.len();
            block(&layout, b, &data[r.start - h..r.end - h], compress)
        }
    };
    let outs = THREAD_POOL.install(|| (0..layout.len()).into_par_iter().map(one).collect::<std::io::Result<Vec<_>>>())?;
    let (idx, crc) = index(&layout, &outs, size);
    Ok((outs.into_iter().filter_map(|o| o.packed).collect(), idx, crc))
}

/// A member written from a stream of its bytes (header first), block by block: when given
/// an output, the member is deflated, its compressed blocks written to it as they are made.
pub(crate) struct StreamedMember<W: std::io::Write> {
    layout: Layout,
    size: u64,
    out: Option<W>,
    buf: Vec<u8>,
    outs: Vec<BlockOut>,
}

impl<W: std::io::Write> StreamedMember<W> {
    /// A member of `size` bytes whose `.npy` header is `header_bytes`, in blocks of
    /// `block_rows` rows (by default about 1 MiB of data each).
    pub(crate) fn new(header_bytes: &[u8], size: u64, out: Option<W>, block_rows: Option<u64>) -> StreamedMember<W> {
        let layout = Layout::new(header_bytes, size.saturating_sub(header_bytes.len() as u64), block_rows);
        StreamedMember { layout, size, out, buf: Vec::new(), outs: Vec::new() }
    }

    /// The next bytes of the member.
    pub(crate) fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let b = self.outs.len();
            if b >= self.layout.len() {
                return Err(std::io::Error::other("more bytes than the member's header declares"));
            }
            let r = self.layout.range(b, self.size);
            let take = (r.len() - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == r.len() {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        let b = self.outs.len();
        let mut o = block(&self.layout, b, &self.buf, self.out.is_some())?;
        // Only its length is kept.
        if let (Some(p), Some(out)) = (o.packed.take(), self.out.as_mut()) {
            out.write_all(&p)?;
        }
        self.buf.clear();
        self.outs.push(o);
        Ok(())
    }

    /// The member's index and CRC-32, and the output, once every byte was written.
    pub(crate) fn finish(mut self) -> std::io::Result<(BlockIndex, u32, Option<W>)> {
        // An empty last block (a member of only a header) is still written.
        while self.outs.len() < self.layout.len() {
            let r = self.layout.range(self.outs.len(), self.size);
            if self.buf.len() != r.len() {
                return Err(std::io::Error::other("fewer bytes than the member's header declares"));
            }
            self.flush_block()?;
        }
        let (idx, crc) = index(&self.layout, &self.outs, self.size);
        Ok((idx, crc, self.out))
    }
}

/// `bytes` deflated on their own, ended by a full flush (or, for the last block, the stream's end).
fn deflate_block(bytes: &[u8], last: bool) -> std::io::Result<Vec<u8>> {
    crate::raw::zlib_deflate(bytes, last)
}

/// Bytes of array data that the `.npy` header `header_bytes` declares.
pub(crate) fn data_len(header_bytes: &[u8]) -> Option<u64> {
    let h = header::parse(header_bytes, usize::MAX).ok()?;
    let d = NpyDtype::from_descr(&h.descr).ok()?;
    h.shape.iter().try_fold(d.itemsize as u64, |a, &x| a.checked_mul(x))
}

/// What statistics a type has: a numeric kind of its element.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    /// i64 ticks whose minimum (NaT) is null.
    Time,
}

fn stats_kind(d: &NpyDtype) -> Option<Kind> {
    if !d.shape.is_empty() {
        return None;
    }
    match (&d.element, d.itemsize) {
        (Element::Bool, 1) => Some(Kind::Bool),
        (Element::Int { signed: true }, 1 | 2 | 4 | 8) => Some(Kind::Int),
        (Element::Int { signed: false }, 1 | 2 | 4 | 8) => Some(Kind::Uint),
        (Element::Float, 4 | 8) => Some(Kind::Float),
        (Element::Datetime { .. } | Element::Timedelta { .. }, 8) => Some(Kind::Time),
        _ => None,
    }
}

/// Nulls, NaNs, min and max (each in the member's byte order) of the elements in `bytes`;
/// min and max are zeros when every value is null or NaN. One pass of branch-free min/max per
/// type (it runs over every byte written).
pub(crate) fn block_stats(d: &NpyDtype, bytes: &[u8]) -> Option<(u32, u32, Vec<u8>, Vec<u8>)> {
    let kind = stats_kind(d)?;
    let big = d.endian == Endian::Big;
    // Decode with the member's byte order, scan, encode the extremes back the same way.
    macro_rules! with_order {
        ($t:ty, $scan:expr) => {{
            const N: usize = std::mem::size_of::<$t>();
            let values = bytes.chunks_exact(N).map(|c| {
                let a: [u8; N] = c.try_into().unwrap_or([0; N]);
                if big {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            });
            let (nulls, nans, lo, hi): (u32, u32, $t, $t) = $scan(values);
            let enc = |v: $t| if big { v.to_be_bytes().to_vec() } else { v.to_le_bytes().to_vec() };
            Some((nulls, nans, enc(lo), enc(hi)))
        }};
    }
    match (kind, d.itemsize) {
        (Kind::Bool, _) => {
            let (lo, hi) = bytes.iter().fold((1u8, 0u8), |(lo, hi), &v| (lo.min(u8::from(v != 0)), hi.max(u8::from(v != 0))));
            let (lo, hi) = if bytes.is_empty() { (0, 0) } else { (lo, hi) };
            Some((0, 0, vec![lo], vec![hi]))
        }
        (Kind::Int, 1) => with_order!(i8, ints),
        (Kind::Int, 2) => with_order!(i16, ints),
        (Kind::Int, 4) => with_order!(i32, ints),
        (Kind::Int, _) => with_order!(i64, ints),
        (Kind::Uint, 1) => with_order!(u8, ints),
        (Kind::Uint, 2) => with_order!(u16, ints),
        (Kind::Uint, 4) => with_order!(u32, ints),
        (Kind::Uint, _) => with_order!(u64, ints),
        (Kind::Time, _) => with_order!(i64, times),
        (Kind::Float, 4) => with_order!(u32, floats32),
        (Kind::Float, _) => with_order!(u64, floats64),
    }
}

/// An integer type's min and max (`(max, min)` of the type for no values, read as none).
trait Int: Copy + Ord {
    const LEAST: Self;
    const MOST: Self;
    const ZERO: Self;
}

macro_rules! int {
    ($($t:ty),*) => {$(impl Int for $t { const LEAST: Self = <$t>::MIN; const MOST: Self = <$t>::MAX; const ZERO: Self = 0; })*};
}
int!(i8, i16, i32, i64, u8, u16, u32, u64);

fn ints<T: Int>(values: impl Iterator<Item = T>) -> (u32, u32, T, T) {
    let (mut lo, mut hi, mut any) = (T::MOST, T::LEAST, false);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
        any = true;
    }
    if any {
        (0, 0, lo, hi)
    } else {
        (0, 0, T::ZERO, T::ZERO)
    }
}

/// i64 ticks whose minimum, NaT, is null.
fn times(values: impl Iterator<Item = i64>) -> (u32, u32, i64, i64) {
    let (mut lo, mut hi, mut nulls, mut count) = (i64::MAX, i64::MIN, 0u32, 0u32);
    for v in values {
        let nat = v == i64::MIN;
        nulls += u32::from(nat);
        count += 1;
        lo = lo.min(if nat { i64::MAX } else { v });
        hi = hi.max(v);
    }
    if nulls == count {
        (nulls, 0, 0, 0)
    } else {
        (nulls, 0, lo, hi)
    }
}

/// Floats: NaNs counted and left out; min and max in the total order (-0.0 before 0.0), so
/// they bound the values whichever order a reader compares them by. Returned as the bits of
/// the member's type (f32 values were widened exactly).
fn floats<B: FloatBits>(values: impl Iterator<Item = f64>) -> (u32, u32, B, B) {
    // The total order as integers: flip the magnitude bits of negative values.
    let key = |v: f64| {
        let b = v.to_bits() as i64;
        b ^ (((b >> 63) as u64) >> 1) as i64
    };
    let (mut lo, mut hi, mut nans, mut count) = (i64::MAX, i64::MIN, 0u32, 0u32);
    for v in values {
        let nan = v.is_nan();
        nans += u32::from(nan);
        count += 1;
        let k = key(v);
        lo = lo.min(if nan { i64::MAX } else { k });
        hi = hi.max(if nan { i64::MIN } else { k });
    }
    if nans == count {
        return (0, nans, B::from_f64(0.0), B::from_f64(0.0));
    }
    (
        0,
        nans,
        B::from_f64(f64::from_bits(key(f64::from_bits(lo as u64)) as u64)),
        B::from_f64(f64::from_bits(key(f64::from_bits(hi as u64)) as u64)),
    )
}

fn floats32(bits: impl Iterator<Item = u32>) -> (u32, u32, u32, u32) {
    floats(bits.map(|b| f64::from(f32::from_bits(b))))
}

fn floats64(bits: impl Iterator<Item = u64>) -> (u32, u32, u64, u64) {
    floats(bits.map(f64::from_bits))
}

/// The bits of a float type, from an f64 holding one of its values exactly.
trait FloatBits {
    fn from_f64(v: f64) -> Self;
}

impl FloatBits for u64 {
    fn from_f64(v: f64) -> Self {
        v.to_bits()
    }
}

impl FloatBits for u32 {
    fn from_f64(v: f64) -> Self {
        (v as f32).to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::literal::Literal;

    fn dtype(s: &str) -> NpyDtype {
        NpyDtype::from_descr(&Literal::Str(s.into())).unwrap()
    }

    #[test]
    fn stats_of_each_kind() {
        let f: Vec<u8> = [2.5f64, f64::NAN, -1.0, 7.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let (nulls, nans, min, max) = block_stats(&dtype("<f8"), &f).unwrap();
        assert_eq!((nulls, nans), (0, 1));
        assert_eq!(f64::from_le_bytes(min.try_into().unwrap()), -1.0);
        assert_eq!(f64::from_le_bytes(max.try_into().unwrap()), 7.0);
        let i: Vec<u8> = [5i16, -300, 12].iter().flat_map(|v| v.to_be_bytes()).collect();
        let (_, _, min, max) = block_stats(&dtype(">i2"), &i).unwrap();
        assert_eq!((i16::from_be_bytes([min[0], min[1]]), i16::from_be_bytes([max[0], max[1]])), (-300, 12));
        let t: Vec<u8> = [i64::MIN, 3, -4].iter().flat_map(|v| v.to_le_bytes()).collect();
        let (nulls, _, min, _) = block_stats(&dtype("<M8[s]"), &t).unwrap();
        assert_eq!((nulls, i64::from_le_bytes(min.try_into().unwrap())), (1, -4));
        let u: Vec<u8> = [200u8, 3, 255].to_vec();
        assert_eq!(block_stats(&dtype("|u1"), &u).map(|s| (s.2, s.3)), Some((vec![3], vec![255])));
        assert!(block_stats(&dtype("<U3"), &[0; 12]).is_none());
    }

    #[test]
    fn blocks_inflate_alone_and_as_one_stream() {
        let data: Vec<u8> = (0..3_000_000u32).flat_map(|v| (v % 1000).to_le_bytes()).collect();
        let head = crate::write::npy::npy_header("<u4", &[3_000_000]);
        let (packed, idx, crc) = write_member(&head, &data, true, None).unwrap();
        assert!(idx.len() > 4, "{}", idx.len());
        let whole: Vec<u8> = packed.concat();
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(&whole[..]), &mut inflated).unwrap();
        assert_eq!(inflated, [head.as_slice(), &data].concat());
        assert_eq!(crc, crc32fast::hash(&inflated));
        let parsed = BlockIndex::parse(&idx.encode()).unwrap();
        for b in 0..parsed.len() {
            let c = parsed.compressed_range(b).unwrap();
            let mut z = flate2::Decompress::new(false);
            let r = parsed.inflated_range(b);
            let mut out = vec![0u8; (r.end - r.start) as usize];
            z.decompress(&whole[c.start as usize..c.end as usize], &mut out, flate2::FlushDecompress::Sync).unwrap();
            assert_eq!(z.total_out() as usize, out.len());
            assert_eq!(out, inflated[r.start as usize..r.end as usize]);
        }
        // The streaming writer makes the same bytes and index.
        let mut s = StreamedMember::new(&head, inflated.len() as u64, Some(Vec::new()), None);
        for chunk in inflated.chunks(77_777) {
            s.write(chunk).unwrap();
        }
        let (idx2, crc2, out) = s.finish().unwrap();
        assert_eq!((idx2, crc2, out), (idx, crc, Some(whole)));
    }
}
