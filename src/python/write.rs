//! Writing from Python: archives of `.npy` members, Series encoded by the Rust writer,
//! spilled batches, realignment.

use polars_core::prelude::Series;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::{guarded, to_py, to_py_without_path};

/// The Series a Python Polars Series exports through its Arrow PyCapsule stream; errors name
/// `target`, the archive being written.
fn import_series(stream: &Bound<'_, PyCapsule>, target: &std::path::Path) -> PyResult<Series> {
    let (field, arrays) = crate::raw::import_capsule_stream(stream)?;
    Series::try_from((&field, arrays)).map_err(|e| to_py(crate::NpzError::internal(target, format!("Polars refused a column: {e}"))))
}

/// Rewrite `src` as `dst` with every stored member's array data aligned to `align` bytes.
#[pyfunction]
#[pyo3(signature = (src, dst, align=64, decompress=false, block_rows=None))]
pub(crate) fn align_npz(
    py: Python<'_>,
    src: std::path::PathBuf,
    dst: std::path::PathBuf,
    align: usize,
    decompress: bool,
    block_rows: Option<u64>,
) -> PyResult<()> {
    guarded(|| {
        let opts = crate::write::align::AlignOptions { align, decompress, block_rows };
        py.detach(|| crate::write::align::align_npz(&src, &dst, &opts)).map_err(to_py)
    })
}

/// Write `.npy` members `(name, header, data)` to `path` (stored and aligned, or deflated).
#[pyfunction]
#[pyo3(signature = (path, members, compress=false, align=64, block_rows=None))]
pub(crate) fn write_members(
    py: Python<'_>,
    path: std::path::PathBuf,
    members: Vec<(String, Vec<u8>, pyo3::buffer::PyBuffer<u8>)>,
    compress: bool,
    align: usize,
    block_rows: Option<u64>,
) -> PyResult<()> {
    guarded(|| {
        let data: Vec<Vec<u8>> = members.iter().map(|(_, _, b)| b.to_vec(py)).collect::<PyResult<_>>()?;
        let list: Vec<crate::write::archive::NpyMember<'_>> =
            members.iter().zip(&data).map(|((name, header, _), d)| crate::write::archive::NpyMember { name, header, data: d }).collect();
        py.detach(|| crate::write::archive::write_members(&path, &list, compress, align, block_rows)).map_err(to_py)
    })
}

/// A Python Polars Series (its `__arrow_c_stream__` capsule) as a `.npy` member:
/// `(header, data)`, by the inverse of the type table.
/// With `rows`, the header declares that many rows (the data is the Series' own). Errors
/// name `path`, the archive being written.
#[pyfunction]
#[pyo3(signature = (stream, rows=None, path=std::path::PathBuf::new()))]
pub(crate) fn series_to_npy<'py>(
    py: Python<'py>,
    stream: Bound<'py, PyCapsule>,
    rows: Option<usize>,
    path: std::path::PathBuf,
) -> PyResult<(Bound<'py, pyo3::types::PyBytes>, Bound<'py, pyo3::types::PyBytes>)> {
    guarded(|| {
        let s = import_series(&stream, &path)?;
        let rows = rows.unwrap_or(s.len());
        let (header, data) =
            py.detach(|| crate::write::npy::series_to_npy_rows(&s, rows)).map_err(|e| to_py_without_path(e.or_path(&path)))?;
        Ok((pyo3::types::PyBytes::new(py, &header), pyo3::types::PyBytes::new(py, &data)))
    })
}

/// Append a Series' `.npy` array data (no header) to the file at `path`; errors name
/// `target`, the archive being written.
#[pyfunction]
pub(crate) fn append_series(
    py: Python<'_>,
    stream: Bound<'_, PyCapsule>,
    path: std::path::PathBuf,
    target: std::path::PathBuf,
) -> PyResult<()> {
    guarded(|| {
        let s = import_series(&stream, &target)?;
        py.detach(|| -> Result<(), crate::NpzError> {
            let (_, data) = crate::write::npy::series_to_npy(&s).map_err(|e| e.or_path(&target))?;
            let io = |source| crate::NpzError::io(&path, source);
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&path).map_err(io)?;
            std::io::Write::write_all(&mut f, &data).map_err(io)
        })
        .map_err(to_py_without_path)
    })
}

/// Write members whose array data waits in files: `(name, header, data_path)`.
/// `members`: `(name, header, data_path, kind, width)`, kind `"raw"` (array data as written),
/// `"utf32"` or `"bytes"` (length-prefixed values from `append_varlen`, written `width` wide).
#[pyfunction]
#[pyo3(signature = (path, members, compress=false, align=64, block_rows=None))]
pub(crate) fn write_spilled(
    py: Python<'_>,
    path: std::path::PathBuf,
    members: Vec<(String, Vec<u8>, std::path::PathBuf, String, usize)>,
    compress: bool,
    align: usize,
    block_rows: Option<u64>,
) -> PyResult<()> {
    use crate::write::archive::{SpillKind, SpilledMember};
    guarded(|| {
        let mut list: Vec<SpilledMember<'_>> = Vec::with_capacity(members.len());
        for (name, header, data, kind, width) in &members {
            let kind = match kind.as_str() {
                "raw" => SpillKind::Raw,
                "utf32" => SpillKind::Utf32 { width: *width },
                "bytes" => SpillKind::Bytes { width: *width },
                other => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown spill kind '{other}'"))),
            };
            list.push(SpilledMember { name, header, data, kind });
        }
        py.detach(|| crate::write::archive::write_spilled(&path, &list, compress, align, block_rows)).map_err(to_py)
    })
}

/// Append a String or Binary Series' values to the file at `path` as records (a u32 length,
/// then the UTF-8 or the bytes); returns the widest value (characters, or bytes). Nulls are
/// an error naming `target`, the archive being written.
#[pyfunction]
pub(crate) fn append_varlen(
    py: Python<'_>,
    stream: Bound<'_, PyCapsule>,
    path: std::path::PathBuf,
    target: std::path::PathBuf,
) -> PyResult<usize> {
    guarded(|| {
        let s = import_series(&stream, &target)?;
        py.detach(|| -> Result<usize, crate::NpzError> {
            let refuse = |why: String| crate::NpzError::request(&target, format!("column '{}': {why}", s.name()));
            if s.null_count() > 0 {
                return Err(refuse(format!("{} nulls, and numpy has no nulls for {} (pass fill=...)", s.null_count(), s.dtype())));
            }
            let mut out = Vec::new();
            let mut widest = 0usize;
            let mut put = |bytes: &[u8], width: usize| -> Result<(), crate::NpzError> {
                let len = u32::try_from(bytes.len()).map_err(|_| refuse("a value of 4 GiB or more".into()))?;
                out.extend(len.to_le_bytes());
                out.extend_from_slice(bytes);
                widest = widest.max(width);
                Ok(())
            };
            match s.dtype() {
                polars_core::prelude::DataType::String => {
                    for v in s.str().map_err(|e| refuse(e.to_string()))?.iter().flatten() {
                        put(v.as_bytes(), v.chars().count())?;
                    }
                }
                polars_core::prelude::DataType::Binary => {
                    for v in s.binary().map_err(|e| refuse(e.to_string()))?.iter().flatten() {
                        put(v, v.len())?;
                    }
                }
                other => return Err(refuse(format!("{other} is not String or Binary"))),
            }
            let io = |source| crate::NpzError::io(&target, source);
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&path).map_err(io)?;
            std::io::Write::write_all(&mut f, &out).map_err(io)?;
            Ok(widest)
        })
        .map_err(to_py)
    })
}

/// The `.npy` header numpy writes for type `descr` (e.g. `<U7`) and `shape`.
#[pyfunction]
pub(crate) fn npy_header<'py>(py: Python<'py>, descr: &str, shape: Vec<usize>) -> Bound<'py, pyo3::types::PyBytes> {
    pyo3::types::PyBytes::new(py, &crate::write::npy::npy_header(&format!("'{descr}'"), &shape))
}

/// Upload the local file at `path` to `url` in an object store (a multipart upload: the
/// object appears whole once complete, and an upload that fails is aborted).
#[pyfunction]
pub(crate) fn upload_file(py: Python<'_>, path: std::path::PathBuf, url: String, storage_options: Vec<(String, String)>) -> PyResult<()> {
    guarded(|| {
        py.detach(|| crate::source::upload_file(&path, &url, &storage_options))
            .map_err(|e| to_py(crate::NpzError::io(std::path::Path::new(&url), e)))
    })
}
