//! Fixed-width numpy strings: `U<n>` (UTF-32) to Polars String, `S<n>` and `V<n>` to Binary.

use polars_arrow::array::{BinaryViewArray, MutablePlBinary, MutablePlString, Utf8ViewArray};

use crate::dtype::Endian;
use crate::error::{invalid, Invalid};

/// Decode `n` UTF-32 strings of `chars` code units each, trailing NULs stripped as numpy
/// does.
pub fn utf32(bytes: &[u8], n: usize, chars: usize, endian: Endian) -> Result<Utf8ViewArray, Invalid> {
    let width = chars * 4;
    let need = n.checked_mul(width).ok_or_else(|| invalid!("string data too large"))?;
    let data = bytes.get(..need).ok_or_else(|| invalid!("string data ends early"))?;
    let mut out = MutablePlString::with_capacity(n);
    if width == 0 {
        (0..n).for_each(|_| out.push_value(""));
        return Ok(out.freeze());
    }
    let unit = |c: &[u8]| {
        let b = [c[0], c[1], c[2], c[3]];
        if endian == Endian::Big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    };
    let mut s = String::with_capacity(width);
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
                None => return Err(invalid!("string {i} holds an invalid code point {u:#x}")),
            }
        }
        out.push_value(s.as_str());
    }
    Ok(out.freeze())
}

/// `n` byte strings of `width` bytes each; trailing NULs stripped when `strip` (`S`), kept
/// for raw `V` bytes.
pub fn fixed_bytes(bytes: &[u8], n: usize, width: usize, strip: bool) -> Result<BinaryViewArray, Invalid> {
    let need = n.checked_mul(width).ok_or_else(|| invalid!("byte string data too large"))?;
    let data = bytes.get(..need).ok_or_else(|| invalid!("byte string data ends early"))?;
    let mut out = MutablePlBinary::with_capacity(n);
    if width == 0 {
        (0..n).for_each(|_| out.push_value(b""));
        return Ok(out.freeze());
    }
    for mut item in data.chunks_exact(width) {
        if strip {
            while let [rest @ .., 0] = item {
                item = rest;
            }
        }
        out.push_value(item);
    }
    Ok(out.freeze())
}
