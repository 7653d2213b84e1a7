//! Fixed-width numpy strings: `U<n>` (UTF-32) to Polars String, `S<n>` and `V<n>` to Binary.

use polars_arrow::array::{BinaryViewArray, MutablePlBinary, MutablePlString, Utf8ViewArray};

use crate::dtype::Endian;
use crate::error::{invalid, Invalid};

/// Decode `n` UTF-32 strings of `chars` code units each, trailing NULs stripped as numpy
/// does.
pub fn utf32(bytes: &[u8], n: usize, chars: usize, endian: Endian) -> Result<Utf8ViewArray, Invalid> {
    let width = chars * 4;
    let mut out = MutablePlString::with_capacity(n);
    let mut s = String::with_capacity(chars);
    for i in 0..n {
        let item = bytes.get(i * width..(i + 1) * width).ok_or_else(|| invalid!("string data ends early"))?;
        s.clear();
        let mut units: Vec<u32> = item
            .chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                if endian == Endian::Big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
            })
            .collect();
        while units.last() == Some(&0) {
            units.pop();
        }
        for u in units {
            s.push(char::from_u32(u).ok_or_else(|| invalid!("string {i} holds an invalid code point {u:#x}"))?);
        }
        out.push_value(s.as_str());
    }
    Ok(out.freeze())
}

/// `n` byte strings of `width` bytes each; trailing NULs stripped when `strip` (`S`), kept
/// for raw `V` bytes.
pub fn fixed_bytes(bytes: &[u8], n: usize, width: usize, strip: bool) -> Result<BinaryViewArray, Invalid> {
    let mut out = MutablePlBinary::with_capacity(n);
    for i in 0..n {
        let mut item = bytes.get(i * width..(i + 1) * width).ok_or_else(|| invalid!("byte string data ends early"))?;
        if strip {
            while let [rest @ .., 0] = item {
                item = rest;
            }
        }
        out.push_value(item);
    }
    Ok(out.freeze())
}
