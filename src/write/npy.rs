//! Polars Series to `.npy` members (the type table read right to left), for writing archives
//! from Rust: numerics and Boolean as they are; Date -> `M8[D]`; Datetime/Duration -> `M8`/`m8`
//! of the same unit (nulls -> NaT, time zones dropped); String -> `U<longest>`; Binary ->
//! `S<longest>`; Array -> N-D; Struct -> structured. Other nulls are an error.

use std::path::Path;

use polars_core::prelude::*;

use crate::error::{NpzError, Result};
use crate::npy::time::NAT;
use crate::write::archive::{write_members, NpyMember};

/// A column as numpy would store it: its descr, the shape of one row, and its C-order bytes.
struct NpyColumn {
    descr: String,
    itemsize: usize,
    row_shape: Vec<usize>,
    data: Vec<u8>,
}

fn err(s: &Series, reason: impl std::fmt::Display) -> NpzError {
    NpzError::request(Path::new(""), format!("column '{}': {reason}", s.name()))
}

fn polars(s: &Series) -> impl Fn(PolarsError) -> NpzError + '_ {
    move |e| err(s, e)
}

fn no_nulls(s: &Series) -> Result<()> {
    match s.null_count() {
        0 => Ok(()),
        n => Err(err(s, format!("{n} nulls, and numpy has no nulls for {}", s.dtype()))),
    }
}

fn unit(u: &TimeUnit) -> &'static str {
    match u {
        TimeUnit::Nanoseconds => "ns",
        TimeUnit::Microseconds => "us",
        TimeUnit::Milliseconds => "ms",
    }
}

/// Little-endian bytes of the values of a numeric Series without nulls.
fn numeric_bytes(s: &Series) -> Result<Vec<u8>> {
    no_nulls(s)?;
    let s = s.rechunk();
    macro_rules! bytes {
        ($ca:expr) => {{
            let ca = $ca.map_err(polars(&s))?;
            let values: Vec<_> = ca.into_no_null_iter().collect();
            Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
        }};
    }
    match s.dtype() {
        DataType::Int8 => bytes!(s.i8()),
        DataType::Int16 => bytes!(s.i16()),
        DataType::Int32 => bytes!(s.i32()),
        DataType::Int64 => bytes!(s.i64()),
        DataType::UInt8 => bytes!(s.u8()),
        DataType::UInt16 => bytes!(s.u16()),
        DataType::UInt32 => bytes!(s.u32()),
        DataType::UInt64 => bytes!(s.u64()),
        DataType::Float32 => bytes!(s.f32()),
        DataType::Float64 => bytes!(s.f64()),
        DataType::Float16 => {
            let ca = s.f16().map_err(polars(&s))?;
            Ok(ca.into_no_null_iter().flat_map(|v| bytemuck::bytes_of(&v).to_vec()).collect())
        }
        DataType::Boolean => Ok(s.bool().map_err(polars(&s))?.iter().flatten().map(u8::from).collect()),
        other => Err(err(&s, format!("{other} is not numeric"))),
    }
}

/// i64 ticks with NaT for nulls.
fn ticks(s: &Series) -> Result<Vec<u8>> {
    let phys = s.to_physical_repr().cast(&DataType::Int64).map_err(polars(s))?;
    let ca = phys.i64().map_err(polars(s))?;
    Ok(ca.iter().flat_map(|v| v.unwrap_or(NAT).to_le_bytes()).collect())
}

fn to_npy(s: &Series) -> Result<NpyColumn> {
    let simple = |descr: &str, itemsize: usize, data: Vec<u8>| NpyColumn { descr: format!("'{descr}'"), itemsize, row_shape: vec![], data };
    Ok(match s.dtype() {
        DataType::Boolean => simple("|b1", 1, numeric_bytes(s)?),
        DataType::Int8 => simple("|i1", 1, numeric_bytes(s)?),
        DataType::UInt8 => simple("|u1", 1, numeric_bytes(s)?),
        DataType::Int16 => simple("<i2", 2, numeric_bytes(s)?),
        DataType::UInt16 => simple("<u2", 2, numeric_bytes(s)?),
        DataType::Int32 => simple("<i4", 4, numeric_bytes(s)?),
        DataType::UInt32 => simple("<u4", 4, numeric_bytes(s)?),
        DataType::Int64 => simple("<i8", 8, numeric_bytes(s)?),
        DataType::UInt64 => simple("<u8", 8, numeric_bytes(s)?),
        DataType::Float16 => simple("<f2", 2, numeric_bytes(s)?),
        DataType::Float32 => simple("<f4", 4, numeric_bytes(s)?),
        DataType::Float64 => simple("<f8", 8, numeric_bytes(s)?),
        DataType::Date => simple("<M8[D]", 8, ticks(s)?),
        DataType::Datetime(u, _) => simple(&format!("<M8[{}]", unit(u)), 8, ticks(s)?),
        DataType::Duration(u) => simple(&format!("<m8[{}]", unit(u)), 8, ticks(s)?),
        DataType::String => {
            no_nulls(s)?;
            let ca = s.str().map_err(polars(s))?;
            let width = ca.iter().flatten().map(|v| v.chars().count()).max().unwrap_or(0).max(1);
            let mut data = Vec::with_capacity(s.len() * width * 4);
            for v in ca.iter().flatten() {
                let mut n = 0;
                for c in v.chars() {
                    data.extend((c as u32).to_le_bytes());
                    n += 1;
                }
                data.resize(data.len() + (width - n) * 4, 0);
            }
            simple(&format!("<U{width}"), width * 4, data)
        }
        DataType::Binary => {
            no_nulls(s)?;
            let ca = s.binary().map_err(polars(s))?;
            let width = ca.iter().flatten().map(<[u8]>::len).max().unwrap_or(0).max(1);
            let mut data = Vec::with_capacity(s.len() * width);
            for v in ca.iter().flatten() {
                data.extend_from_slice(v);
                data.resize(data.len() + width - v.len(), 0);
            }
            simple(&format!("|S{width}"), width, data)
        }
        DataType::Array(_, width) => {
            no_nulls(s)?;
            let inner = s.array().map_err(polars(s))?.get_inner();
            let mut col = to_npy(&inner)?;
            col.row_shape.insert(0, *width);
            col
        }
        DataType::Struct(_) => {
            no_nulls(s)?;
            let fields = s.struct_().map_err(polars(s))?.fields_as_series();
            let cols = fields.iter().map(to_npy).collect::<Result<Vec<_>>>()?;
            let widths: Vec<usize> = cols.iter().map(|c| c.itemsize * c.row_shape.iter().product::<usize>()).collect();
            let itemsize: usize = widths.iter().sum();
            let mut data = vec![0u8; itemsize * s.len()];
            let mut offset = 0;
            for (c, w) in cols.iter().zip(&widths) {
                for (row, chunk) in c.data.chunks_exact((*w).max(1)).take(s.len()).enumerate() {
                    data[row * itemsize + offset..row * itemsize + offset + w].copy_from_slice(chunk);
                }
                offset += w;
            }
            let parts: Vec<String> = fields
                .iter()
                .zip(&cols)
                .map(|(f, c)| {
                    let name = f.name().replace('\\', "\\\\").replace('\'', "\\'");
                    match c.row_shape.as_slice() {
                        [] => format!("('{name}', {})", c.descr),
                        dims => format!("('{name}', {}, {})", c.descr, shape_text(dims)),
                    }
                })
                .collect();
            NpyColumn { descr: format!("[{}]", parts.join(", ")), itemsize, row_shape: vec![], data }
        }
        other => return Err(err(s, format!("{other} has no numpy equivalent in an .npz archive"))),
    })
}

fn shape_text(dims: &[usize]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// The `.npy` header numpy writes: the dict padded with spaces and a newline to a multiple of
/// 64 bytes, format 1.0 when it fits, 3.0 (UTF-8) otherwise.
pub(crate) fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {}, }}", shape_text(shape));
    let version = if dict.is_ascii() && dict.len() < 65_000 { 1 } else { 3 };
    crate::npy::header::wrap(version, &dict)
}

/// One Series as a `.npy` member: the header numpy would write and the array data.
pub(crate) fn series_to_npy(s: &Series) -> Result<(Vec<u8>, Vec<u8>)> {
    series_to_npy_rows(s, s.len())
}

/// As [`series_to_npy`], with the header declaring `rows` rows (for data written in batches).
pub(crate) fn series_to_npy_rows(s: &Series, rows: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let col = to_npy(s)?;
    let mut shape = vec![rows];
    shape.extend(&col.row_shape);
    Ok((npy_header(&col.descr, &shape), col.data))
}

/// Write `df` to `path` as an `.npz` archive numpy loads: stored members with their array
/// data aligned to `align` bytes (so [`crate::NpzArchive`] maps them without a copy), or
/// deflated when `compress`. Written to a temporary file renamed into place.
pub fn write_npz(df: &DataFrame, path: impl AsRef<Path>, compress: bool, align: usize) -> Result<()> {
    let path = path.as_ref();
    let with_path = |e: NpzError| e.or_path(path);
    let mut encoded = Vec::with_capacity(df.width());
    for c in df.columns() {
        let s = c.as_materialized_series();
        let (header, data) = series_to_npy(s).map_err(with_path)?;
        encoded.push((format!("{}.npy", s.name()), header, data));
    }
    let members: Vec<NpyMember<'_>> = encoded.iter().map(|(name, header, data)| NpyMember { name, header, data }).collect();
    write_members(path, &members, compress, align, None)
}
