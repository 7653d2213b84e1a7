//! The `.npy` header: magic, version, and the header dict (`descr`, `fortran_order`, `shape`).
//! Sees only bytes.

use crate::error::{invalid, Invalid};
use crate::npy::literal::{self, Literal};

/// numpy's default cap on the header dict's length (`max_header_size` in `np.load`).
pub(crate) const DEFAULT_MAX_HEADER_SIZE: usize = 10_000;

/// The magic string every `.npy` file starts with.
pub(crate) const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    /// Format version `(major, minor)`: (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// The `descr` value: a type string like `'<f8'` or a list for structured types.
    pub descr: Literal,
    /// Whether the data is stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array's shape; empty for a 0-d array.
    pub shape: Vec<u64>,
    /// Offset of the array data from the start of the `.npy` bytes.
    pub data_offset: usize,
}

/// The total header length (offset of the array data) from the first bytes of a `.npy` file,
/// or an error for a bad magic, version or oversize header. `prefix` needs at most
/// 12 bytes.
pub(crate) fn header_len(prefix: &[u8], max_header_size: usize) -> Result<usize, Invalid> {
    if prefix.len() < 8 || &prefix[..6] != MAGIC {
        return Err(invalid!("not a .npy array: bad magic string"));
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let (len_bytes, dict_len) = match (major, minor) {
        (1, 0) => {
            let b = prefix.get(8..10).ok_or_else(|| invalid!("truncated .npy header"))?;
            (2, u16::from_le_bytes([b[0], b[1]]) as usize)
        }
        (2 | 3, 0) => {
            let b = prefix.get(8..12).ok_or_else(|| invalid!("truncated .npy header"))?;
            (4, u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }
        _ => return Err(invalid!("unsupported .npy format version {major}.{minor}")),
    };
    if dict_len > max_header_size {
        return Err(crate::error::ErrorKind::Limit {
            what: format!("header of {dict_len} bytes"),
            limit: format!("{max_header_size} bytes"),
            how: "; pass a larger max_header_size to read it".to_string(),
        });
    }
    Ok(8 + len_bytes + dict_len)
}

/// Parse a whole `.npy` header; `bytes` must hold at least [`header_len`] bytes (more is fine).
pub(crate) fn parse(bytes: &[u8], max_header_size: usize) -> Result<NpyHeader, Invalid> {
    let total = header_len(bytes, max_header_size)?;
    let version = (bytes[6], bytes[7]);
    let start = if version.0 == 1 { 10 } else { 12 };
    let dict = bytes.get(start..total).ok_or_else(|| invalid!("truncated .npy header"))?;
    let text: String = if version.0 == 3 {
        std::str::from_utf8(dict).map_err(|_| invalid!("header is not valid UTF-8"))?.to_string()
    } else {
        // Latin-1: every byte is the code point of the same value.
        dict.iter().map(|&b| b as char).collect()
    };
    let Literal::Dict(items) = literal::parse(&text)? else {
        return Err(invalid!("header is not a dict"));
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in items {
        let Literal::Str(k) = k else { return Err(invalid!("header dict has a non-string key")) };
        let slot = match k.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return Err(invalid!("header has an unexpected key '{other}'")),
        };
        if slot.replace(v).is_some() {
            return Err(invalid!("header repeats the key '{k}'"));
        }
    }
    let descr = descr.ok_or_else(|| invalid!("header lacks 'descr'"))?;
    let fortran_order = match fortran {
        Some(Literal::Bool(b)) => b,
        Some(_) => return Err(invalid!("header 'fortran_order' is not a bool")),
        None => return Err(invalid!("header lacks 'fortran_order'")),
    };
    let shape = match shape {
        Some(Literal::Tuple(dims)) | Some(Literal::List(dims)) => parse_shape(&dims)?,
        Some(_) => return Err(invalid!("header 'shape' is not a tuple")),
        None => return Err(invalid!("header lacks 'shape'")),
    };
    Ok(NpyHeader { version, descr, fortran_order, shape, data_offset: total })
}

/// A header as numpy writes it: `dict` padded with spaces and a newline so the array data
/// starts at a multiple of 64, behind the magic, `version` (1, 2 or 3) and the length.
pub(crate) fn wrap(version: u8, dict: &str) -> Vec<u8> {
    let len_bytes = if version == 1 { 2 } else { 4 };
    let mut text = dict.as_bytes().to_vec();
    let unpadded = 8 + len_bytes + text.len() + 1;
    text.resize(text.len() + (64 - unpadded % 64) % 64, b' ');
    text.push(b'\n');
    let mut out = MAGIC.to_vec();
    out.extend([version, 0]);
    if version == 1 {
        out.extend((text.len() as u16).to_le_bytes());
    } else {
        out.extend((text.len() as u32).to_le_bytes());
    }
    out.extend(text);
    out
}

/// Dimensions as non-negative integers.
pub(crate) fn parse_shape(dims: &[Literal]) -> Result<Vec<u64>, Invalid> {
    if dims.len() > 64 {
        return Err(invalid!("shape has {} dimensions (numpy allows 64)", dims.len()));
    }
    dims.iter()
        .map(|d| match d {
            Literal::Int(n) if *n >= 0 && *n <= i64::MAX as i128 => Ok(*n as u64),
            _ => Err(invalid!("shape has an invalid dimension {d:?}")),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn build(version: u8, dict: &str) -> Vec<u8> {
        wrap(version, dict)
    }

    #[test]
    fn parses_each_version() {
        for v in [1, 2, 3] {
            let h = build(v, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }");
            let p = parse(&h, DEFAULT_MAX_HEADER_SIZE).unwrap();
            assert_eq!(p.version, (v, 0));
            assert_eq!(p.descr, Literal::Str("<i4".into()));
            assert!(p.fortran_order);
            assert_eq!(p.shape, vec![2, 3]);
            assert_eq!(p.data_offset, h.len());
            assert_eq!(p.data_offset % 64, 0);
        }
    }

    #[test]
    fn refuses_bad_headers() {
        let ok = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
        let mut bad_magic = build(1, ok);
        bad_magic[1] = b'X';
        assert!(parse(&bad_magic, 10_000).unwrap_err().to_string().contains("magic"));
        let mut bad_version = build(1, ok);
        bad_version[6] = 4;
        assert!(parse(&bad_version, 10_000).unwrap_err().to_string().contains("version"));
        let big = build(2, &format!("{{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': '{}'}}", "a".repeat(20_000)));
        assert!(parse(&big, 10_000).unwrap_err().to_string().contains("exceeds"));
        for dict in [
            "{'descr': '<i4', 'fortran_order': False}",
            "{'descr': '<i4', 'fortran_order': 0, 'shape': (2,)}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
            "{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (2,)}",
            "['descr']",
        ] {
            assert!(parse(&build(1, dict), 10_000).is_err(), "{dict}");
        }
        let h = build(1, ok);
        for cut in 0..h.len() - 1 {
            assert!(parse(&h[..cut], 10_000).is_err());
        }
    }

    proptest! {
        #[test]
        fn generated_headers_roundtrip(
            version in 1u8..=3,
            shape in proptest::collection::vec(0u64..1_000_000, 0..6),
            fortran in any::<bool>(),
            double_quotes in any::<bool>(),
            kind in prop::sample::select(vec!["<f8", ">i4", "|b1", "<u2", "|u1", ">f2"]),
        ) {
            let q = if double_quotes { '"' } else { '\'' };
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            let shape_text = match dims.len() { 1 => format!("({},)", dims[0]), _ => format!("({})", dims.join(", ")) };
            let dict = format!(
                "{{{q}descr{q}: {q}{kind}{q}, {q}fortran_order{q}: {}, {q}shape{q}: {shape_text}, }}",
                if fortran { "True" } else { "False" }
            );
            let h = parse(&build(version, &dict), DEFAULT_MAX_HEADER_SIZE).unwrap();
            prop_assert_eq!(h.shape, shape);
            prop_assert_eq!(h.fortran_order, fortran);
            prop_assert_eq!(h.descr, Literal::Str(kind.to_string()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend(&bytes);
            let _ = parse(&bytes, 10_000);
            let _ = parse(&with_magic, 10_000);
        }
    }
}
