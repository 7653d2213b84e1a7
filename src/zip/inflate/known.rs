//! Inflating by libdeflate, when the output size is known: a whole member, a block of a member
//! written in blocks (see [`super::super::blocks`]), a span from a learned seek point (see
//! [`super::super::seek`]). Each checks what it inflated: its length, then its CRC-32.

use rayon::prelude::*;

use super::{count_inflated, crc};
use crate::error::{invalid, ErrorKind, Invalid};
use crate::zip::seek::Points;

/// Inflate the whole deflate stream `input` into `out` (one decompressor per thread, reused):
/// the bytes written.
fn decompress(input: &[u8], out: &mut [u8]) -> Result<usize, libdeflater::DecompressionError> {
    thread_local! {
        static D: std::cell::RefCell<libdeflater::Decompressor> = std::cell::RefCell::new(libdeflater::Decompressor::new());
    }
    D.with_borrow_mut(|d| d.deflate_decompress(input, out))
}

/// Inflate a whole member written without blocks, `compressed` (its bytes), into `dst` (of its
/// declared size), checked against its CRC-32 `crc`.
pub(crate) fn inflate_member(compressed: &[u8], dst: &mut [u8], crc: u32) -> Result<(), Invalid> {
    let declared = dst.len() as u64;
    let n = decompress(compressed, dst).map_err(|e| match e {
        libdeflater::DecompressionError::InsufficientSpace => ErrorKind::StreamTooLong { declared },
        libdeflater::DecompressionError::BadData => invalid!("corrupt deflate stream"),
    })?;
    if n != dst.len() {
        return Err(ErrorKind::StreamEndsEarly { declared });
    }
    count_inflated(n);
    crc::check_bytes(dst, crc)
}

/// A final empty block (fixed Huffman, end of block): appended to a block that ends in a full
/// flush, it makes the block a whole deflate stream that libdeflate inflates on its own.
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// Inflate one block of a member written in blocks into `out`, which it must fill exactly, and
/// check its CRC-32 `crc`; `last` for the member's last block (the one that ends the stream).
pub(crate) fn inflate_block(compressed: &[u8], out: &mut [u8], last: bool, crc: u32) -> Result<(), Invalid> {
    let owned;
    let input = if last {
        compressed
    } else {
        owned = [compressed, &FINAL_EMPTY_BLOCK].concat();
        &owned
    };
    let n = decompress(input, out).map_err(|e| match e {
        libdeflater::DecompressionError::InsufficientSpace => invalid!("a block inflates to more bytes than its index says"),
        libdeflater::DecompressionError::BadData => invalid!("corrupt deflate stream in a block"),
    })?;
    if n != out.len() {
        return Err(invalid!("a block inflates to {n} bytes, its index says {}", out.len()));
    }
    count_inflated(n);
    crc::check_bytes(out, crc)
}

/// Inflate every block of a member written in blocks into `dst` (of its size), in parallel on
/// Polars' thread pool: block `b` from `compressed[b]` into the next `blocks[b].0` bytes,
/// checked against its CRC-32 `blocks[b].1`; then the whole against the member's `crc`.
pub(crate) fn inflate_blocks<C: AsRef<[u8]> + Sync>(
    compressed: &[C],
    blocks: &[(u64, u32)],
    dst: &mut [u8],
    crc: u32,
) -> Result<(), Invalid> {
    let sum = blocks.iter().map(|b| b.0).sum::<u64>();
    if compressed.len() != blocks.len() || sum != dst.len() as u64 {
        let (n, m) = (compressed.len(), blocks.len());
        return Err(invalid!("internal error: {n} compressed blocks, {m} blocks of {sum} bytes in all, for a member of {}", dst.len()));
    }
    let mut pieces = Vec::with_capacity(blocks.len());
    let mut rest = dst;
    for (b, &(len, _)) in blocks.iter().enumerate() {
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
        pieces.push((b, piece));
        rest = tail;
    }
    let last = blocks.len().saturating_sub(1);
    polars_core::runtime::THREAD_POOL.install(|| {
        pieces.into_par_iter().try_for_each(|(b, piece)| inflate_block(compressed[b].as_ref(), piece, b == last, blocks[b].1))
    })?;
    crc::check(crc::combine(blocks.iter().map(|&(len, c)| (c, len))), crc)
}

fn does_not_hold(span: usize, why: &str) -> Invalid {
    invalid!("a learned seek point does not hold (span {span}: {why})")
}

/// A span's bytes inflated apart, after its window (the stream it inflates from starts there).
pub(crate) struct Span {
    buf: Vec<u8>,
    start: usize,
}

impl Span {
    /// The span's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Inflate span `i` of `points` from `input` (its [`compressed_range`](Points::compressed_range)),
/// checked as [`super::super::seek`] says (an error when the point does not hold).
pub(crate) fn inflate_span(points: &Points, i: usize, input: &[u8]) -> Result<Span, Invalid> {
    let span = span_apart(points, i, input)?;
    count_inflated(span.bytes().len());
    Ok(span)
}

/// [`inflate_span`], not counted. The span is made a deflate stream of its own (see
/// [`Points::span_stream`]) that starts with its window: inflated after it in one buffer.
fn span_apart(points: &Points, i: usize, input: &[u8]) -> Result<Span, Invalid> {
    let r = points.span(i);
    let start = points.point(i).map_or(0, |p| p.window.len());
    let len = usize::try_from(r.end - r.start).map_err(|_| invalid!("internal error: a span too large"))?;
    let stream = points.span_stream(i, input).ok_or_else(|| does_not_hold(i, "its bits are not where it says"))?;
    let mut buf = vec![0u8; start + len];
    let n = decompress(&stream, &mut buf).map_err(|_| does_not_hold(i, "corrupt from its point"))?;
    if n != buf.len() {
        return Err(does_not_hold(i, "it inflates to another length"));
    }
    crc::check_bytes(&buf[start..], points.span_crc(i)).map_err(|_| does_not_hold(i, "CRC-32 mismatch"))?;
    Ok(Span { buf, start })
}

/// Inflate a whole member from its learned `points`, `compressed` (its bytes) into `dst` (of
/// its size): every span at once on Polars' thread pool.
pub(crate) fn inflate_spans(points: &Points, compressed: &[u8], dst: &mut [u8]) -> Result<(), Invalid> {
    if (dst.len() as u64, compressed.len() as u64) != points.sizes() {
        return Err(invalid!("internal error: learned points for another member"));
    }
    let mut pieces = Vec::with_capacity(points.spans());
    let mut rest = &mut *dst;
    for i in 0..points.spans() {
        let r = points.span(i);
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut((r.end - r.start) as usize);
        pieces.push((i, piece));
        rest = tail;
    }
    polars_core::runtime::THREAD_POOL.install(|| {
        pieces.into_par_iter().try_for_each(|(i, piece)| {
            let c = points.compressed_range(i);
            let span = span_apart(points, i, &compressed[c.start as usize..c.end as usize])?;
            piece.copy_from_slice(span.bytes());
            Ok(())
        })
    })?;
    count_inflated(dst.len());
    Ok(())
}
