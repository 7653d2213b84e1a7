//! Fixed-width numpy strings: `U<n>` (UTF-32) to Polars String, `S<n>` and `V<n>` to Binary.
//! Large columns are decoded in pieces on Polars' thread pool, then joined.

use polars_arrow::array::{Array, BinaryViewArray, MutablePlBinary, MutablePlString, Utf8ViewArray};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use crate::error::{internal, invalid, Invalid};
use crate::npy::dtype::Endian;

/// Input bytes per piece when a large column is decoded in parallel.
const PIECE_BYTES: usize = 1 << 20;

/// Decode `n` UTF-32 strings of `chars` code units each, trailing NULs stripped as numpy
/// does; `first`: the index of the first one in its member (errors name strings by it).
pub(crate) fn utf32(bytes: &[u8], n: usize, chars: usize, endian: Endian, first: usize) -> Result<Box<dyn Array>, Invalid> {
    let data = rows(bytes, n, chars * 4, "string")?;
    if chars == 0 {
        let mut out = MutablePlString::with_capacity(n);
        (0..n).for_each(|_| out.push_value(""));
        return Ok(Box::new(out.freeze()));
    }
    in_pieces(data, chars * 4, |piece, k| utf32_piece(piece, chars, endian, first + k))
}

/// `n` byte strings of `width` bytes each; trailing NULs stripped when `strip` (`S`), kept
/// for raw `V` bytes.
pub(crate) fn fixed_bytes(bytes: &[u8], n: usize, width: usize, strip: bool) -> Result<Box<dyn Array>, Invalid> {
    let data = rows(bytes, n, width, "byte string")?;
    if width == 0 {
        let mut out = MutablePlBinary::with_capacity(n);
        (0..n).for_each(|_| out.push_value(b""));
        return Ok(Box::new(out.freeze()));
    }
    in_pieces(data, width, |piece, _| Ok(bytes_piece(piece, width, strip)))
}

/// The first `n` rows of `width` bytes.
fn rows<'a>(bytes: &'a [u8], n: usize, width: usize, what: &str) -> Result<&'a [u8], Invalid> {
    let need = n.checked_mul(width).ok_or_else(|| invalid!("{what} data too large"))?;
    bytes.get(..need).ok_or_else(|| invalid!("{what} data ends early"))
}

/// Decode the rows of `width` (> 0) bytes in `data` with `decode(rows, index of the first
/// row)`: at once when small, else in pieces of about [`PIECE_BYTES`] on Polars' pool, joined
/// in order.
fn in_pieces<A: Array + Send>(
    data: &[u8],
    width: usize,
    decode: impl Fn(&[u8], usize) -> Result<A, Invalid> + Sync,
) -> Result<Box<dyn Array>, Invalid> {
    if data.len() < 2 * PIECE_BYTES {
        return Ok(Box::new(decode(data, 0)?));
    }
    let piece_rows = (PIECE_BYTES / width).max(1);
    let pieces: Vec<A> = THREAD_POOL
        .install(|| data.par_chunks(piece_rows * width).enumerate().map(|(k, p)| decode(p, k * piece_rows)).collect::<Result<_, _>>())?;
    let refs: Vec<&dyn Array> = pieces.iter().map(|a| a as &dyn Array).collect();
    polars_arrow::compute::concatenate::concatenate(&refs).map_err(|e| internal!("joining decoded strings: {e}"))
}

fn utf32_piece(data: &[u8], chars: usize, endian: Endian, first: usize) -> Result<Utf8ViewArray, Invalid> {
    let width = chars * 4;
    let mut out = MutablePlString::with_capacity(data.len() / width);
    let unit = |c: &[u8]| {
        let b = [c[0], c[1], c[2], c[3]];
        if endian == Endian::Big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    // Grown to the longest string met, not to `width` (which may be 2 GiB with no rows).
    let mut s = String::new();
    for (i, item) in data.chunks_exact(width).enumerate() {
        let mut len = chars;
        while len > 0 && unit(&item[(len - 1) * 4..len * 4]) == 0 {
            len -= 1;
        }
        s.clear();
        for c in item[..len * 4].chunks_exact(4) {
            let u = unit(c);
            match char::from_u32(u) {
                Some(ch) => s.push(ch),
                None => return Err(invalid!("string {} holds an invalid code point {u:#x}", first + i)),
            }
        }
        out.push_value(s.as_str());
    }
    Ok(out.freeze())
}

fn bytes_piece(data: &[u8], width: usize, strip: bool) -> BinaryViewArray {
    let mut out = MutablePlBinary::with_capacity(data.len() / width);
    for mut item in data.chunks_exact(width) {
        if strip {
            while let [rest @ .., 0] = item {
                item = rest;
            }
        }
        out.push_value(item);
    }
    out.freeze()
}
