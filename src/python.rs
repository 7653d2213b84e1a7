//! The Python module `polars_npz._internal`: archives, batch readers, and columns that cross
//! to Python Polars through the Arrow PyCapsule interface (zero-copy).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use polars_core::prelude::{CompatLevel, NamedFrom, Series};
use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use crate::arrays::ArrayRef;
use crate::raw::export;
use crate::npz::{BatchReader, NpzArchive, OpenOptions};

create_exception!(polars_npz, NpzError, pyo3::exceptions::PyException, "An error reading an .npz archive.");

fn to_py(e: crate::NpzError) -> PyErr {
    NpzError::new_err(e.to_string())
}

/// As `to_py`, for requests that name no archive yet (the caller adds the path).
fn to_py_without_path(e: crate::NpzError) -> PyErr {
    match e {
        crate::NpzError::Request { reason, .. } => NpzError::new_err(reason),
        other => to_py(other),
    }
}

/// Run `f`, turning a Rust panic into `NpzError` so it never unwinds into Python.
fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(NpzError::new_err(format!("internal error (please report it): {msg}")))
        }
    }
}

/// One column (an Arrow array) that Python Polars imports with `pl.Series(column)`.
#[pyclass(frozen, module = "polars_npz._internal")]
struct ArrowColumn {
    name: String,
    array: ArrayRef,
}

impl ArrowColumn {
    fn from_series(s: &Series) -> PyResult<ArrowColumn> {
        let s = if s.n_chunks() == 1 { s.clone() } else { s.rechunk() };
        let array = s.to_arrow(0, CompatLevel::newest());
        if !array.is_empty() && has_zero_width(array.dtype()) {
            return Err(NpzError::new_err(format!(
                "column '{}' has an inner dimension of length 0; Python Polars cannot import such Array columns, select the other columns",
                s.name()
            )));
        }
        Ok(ArrowColumn { name: s.name().to_string(), array })
    }
}

/// Whether the type nests a fixed-size list of size 0 (Python Polars panics importing those).
fn has_zero_width(dtype: &polars_arrow::datatypes::ArrowDataType) -> bool {
    match dtype {
        polars_arrow::datatypes::ArrowDataType::FixedSizeList(f, size) => *size == 0 || has_zero_width(f.dtype()),
        _ => false,
    }
}

#[pymethods]
impl ArrowColumn {
    /// The Arrow PyCapsule protocol.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema;
        let e = export(&self.name, self.array.clone());
        let schema = PyCapsule::new_with_value(py, e.schema, c"arrow_schema")?;
        let array = PyCapsule::new_with_value(py, e.array, c"arrow_array")?;
        Ok((schema, array))
    }

    fn __len__(&self) -> usize {
        self.array.len()
    }
}

/// The schema of the archive's arrays, which Python Polars imports with `pl.Schema(schema)`.
#[pyclass(frozen, module = "polars_npz._internal")]
struct ArrowSchema {
    fields: Vec<polars_arrow::datatypes::Field>,
}

#[pymethods]
impl ArrowSchema {
    /// The Arrow PyCapsule protocol: a struct whose fields are the columns.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let dtype = polars_arrow::datatypes::ArrowDataType::Struct(self.fields.clone());
        let field = polars_arrow::datatypes::Field::new("".into(), dtype, false);
        PyCapsule::new_with_value(py, crate::raw::export_schema(&field), c"arrow_schema")
    }
}

/// An open archive.
#[pyclass(frozen, module = "polars_npz._internal")]
struct Archive {
    inner: Arc<NpzArchive>,
}

#[pymethods]
impl Archive {
    #[new]
    #[pyo3(signature = (path, memory_map=true, max_header_size=crate::header::DEFAULT_MAX_HEADER_SIZE, verify_checksums=false))]
    fn new(py: Python<'_>, path: std::path::PathBuf, memory_map: bool, max_header_size: usize, verify_checksums: bool) -> PyResult<Archive> {
        guarded(|| {
            let opts = OpenOptions { memory_map, max_header_size, verify_checksums };
            let inner = py.detach(|| NpzArchive::open_with(&path, &opts)).map_err(to_py)?;
            Ok(Archive { inner: Arc::new(inner) })
        })
    }

    /// An archive whose bytes are given (copied once into anonymous memory).
    #[staticmethod]
    #[pyo3(signature = (name, data, max_header_size=crate::header::DEFAULT_MAX_HEADER_SIZE, verify_checksums=false))]
    fn from_bytes(py: Python<'_>, name: String, data: Vec<u8>, max_header_size: usize, verify_checksums: bool) -> PyResult<Archive> {
        guarded(|| {
            let opts = OpenOptions { memory_map: true, max_header_size, verify_checksums };
            let inner = py.detach(|| NpzArchive::from_bytes(name, &data, &opts)).map_err(to_py)?;
            Ok(Archive { inner: Arc::new(inner) })
        })
    }

    /// Column names in archive order.
    fn column_names(&self) -> Vec<String> {
        self.inner.column_names().into_iter().map(String::from).collect()
    }

    /// The Polars schema of the array members, in one object (`pl.Schema(archive.schema())`).
    fn schema(&self) -> PyResult<ArrowSchema> {
        guarded(|| {
            let schema = self.inner.schema().map_err(to_py)?;
            Ok(ArrowSchema { fields: schema.iter().map(|(n, dt)| dt.to_arrow_field(n.clone(), CompatLevel::newest())).collect() })
        })
    }

    /// The address range of the file mapping, or None.
    fn mapping_range(&self) -> Option<(usize, usize)> {
        self.inner.mapping_range()
    }

    /// One dict per zip member.
    fn members<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        guarded(|| {
            let mut out = Vec::new();
            for m in self.inner.members() {
                let d = PyDict::new(py);
                d.set_item("member", &m.entry.name)?;
                d.set_item("compression", m.entry.compression.name())?;
                d.set_item("compressed_size", m.entry.compressed_size)?;
                d.set_item("size", m.entry.size)?;
                d.set_item("data_offset", m.data_offset())?;
                match &m.array {
                    Some(a) => {
                        d.set_item("name", &a.name)?;
                        d.set_item("numpy_dtype", &a.dtype.text)?;
                        d.set_item("shape", a.header.shape.clone())?;
                        d.set_item("fortran_order", a.header.fortran_order)?;
                        d.set_item("zero_copy", self.inner.is_zero_copy(&a.name))?;
                        match &a.decoder {
                            Ok(dec) => {
                                let empty = polars_arrow::array::new_empty_array(dec.arrow_type().clone());
                                d.set_item("empty", ArrowColumn { name: a.name.clone(), array: empty })?;
                                d.set_item("error", py.None())?;
                            }
                            Err(e) => {
                                d.set_item("empty", py.None())?;
                                d.set_item("error", e)?;
                            }
                        }
                    }
                    None => {
                        for k in ["name", "numpy_dtype", "shape", "fortran_order", "empty", "error"] {
                            d.set_item(k, py.None())?;
                        }
                        d.set_item("zero_copy", false)?;
                    }
                }
                out.push(d);
            }
            Ok(out)
        })
    }

    /// A reader of `columns` in batches of `batch_rows` rows (all at once when None).
    #[pyo3(signature = (columns, n_rows=None, batch_rows=None))]
    fn batches(&self, py: Python<'_>, columns: Vec<String>, n_rows: Option<usize>, batch_rows: Option<usize>) -> PyResult<Batches> {
        guarded(|| {
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            let batch_rows = self.inner.suggested_batch_rows(&names, batch_rows);
            let reader = py.detach(|| self.inner.batches(&names, n_rows, batch_rows)).map_err(to_py)?;
            Ok(Batches { height: reader.height(), inner: Mutex::new(reader), last_height: AtomicUsize::new(0) })
        })
    }
}

/// Batches of selected columns; each call decodes only that batch's rows.
#[pyclass(frozen, module = "polars_npz._internal")]
struct Batches {
    height: usize,
    inner: Mutex<BatchReader>,
    last_height: AtomicUsize,
}

#[pymethods]
impl Batches {
    /// Rows this reader produces in all.
    #[getter]
    fn height(&self) -> usize {
        self.height
    }

    /// Rows in the batch last returned by `next`.
    #[getter]
    fn last_height(&self) -> usize {
        self.last_height.load(Ordering::Relaxed)
    }

    /// The next batch as a list of columns, or None when done.
    fn next(&self, py: Python<'_>) -> PyResult<Option<Vec<ArrowColumn>>> {
        guarded(|| {
            let batch = py.detach(|| {
                let mut reader = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                reader.next_series()
            });
            let batch = batch.map_err(to_py)?;
            let Some((rows, cols)) = batch else { return Ok(None) };
            self.last_height.store(rows, Ordering::Relaxed);
            cols.iter().map(ArrowColumn::from_series).collect::<PyResult<Vec<_>>>().map(Some)
        })
    }
}

/// A row-index column: `offset, offset + 1, ...` (`len` values), UInt32 or UInt64.
#[pyfunction]
#[pyo3(signature = (name, offset, len, wide))]
fn index_column(name: &str, offset: u64, len: usize, wide: bool) -> PyResult<ArrowColumn> {
    guarded(|| {
        let end = offset.checked_add(len as u64).filter(|&e| wide || e <= u32::MAX as u64 + 1);
        let Some(_) = end else {
            return Err(NpzError::new_err(format!("row index {offset} + {len} overflows its type")));
        };
        let s = if wide {
            Series::new(name.into(), (offset..offset + len as u64).collect::<Vec<u64>>())
        } else {
            Series::new(name.into(), (offset as u32..).take(len).collect::<Vec<u32>>())
        };
        ArrowColumn::from_series(&s)
    })
}

/// A String column holding `value` `len` times.
#[pyfunction]
fn constant_column(name: &str, value: &str, len: usize) -> PyResult<ArrowColumn> {
    guarded(|| ArrowColumn::from_series(&Series::new(name.into(), [value]).new_from_index(0, len)))
}

/// Rewrite `src` as `dst` with every stored member's array data aligned to `align` bytes.
#[pyfunction]
#[pyo3(signature = (src, dst, align=64, decompress=false))]
fn align_npz(py: Python<'_>, src: std::path::PathBuf, dst: std::path::PathBuf, align: usize, decompress: bool) -> PyResult<()> {
    guarded(|| {
        let opts = crate::align::AlignOptions { align, decompress };
        py.detach(|| crate::align::align_npz(&src, &dst, &opts)).map_err(to_py)
    })
}

/// Write `.npy` members `(name, header, data)` to `path` (stored and aligned, or deflated).
#[pyfunction]
#[pyo3(signature = (path, members, compress=false, align=64))]
fn write_members(py: Python<'_>, path: std::path::PathBuf, members: Vec<(String, Vec<u8>, pyo3::buffer::PyBuffer<u8>)>, compress: bool, align: usize) -> PyResult<()> {
    guarded(|| {
        let data: Vec<Vec<u8>> = members.iter().map(|(_, _, b)| b.to_vec(py)).collect::<PyResult<_>>()?;
        let list: Vec<crate::writer::NpyMember<'_>> = members
            .iter()
            .zip(&data)
            .map(|((name, header, _), d)| crate::writer::NpyMember { name, header, data: d })
            .collect();
        py.detach(|| crate::writer::write_members(&path, &list, compress, align)).map_err(to_py)
    })
}

/// A Python Polars Series (its `__arrow_c_stream__` capsule) as a `.npy` member:
/// `(header, data)`, by the inverse of the type table.
/// With `rows`, the header declares that many rows (the data is the Series' own).
#[pyfunction]
#[pyo3(signature = (stream, rows=None))]
fn series_to_npy<'py>(py: Python<'py>, stream: Bound<'py, PyCapsule>, rows: Option<usize>) -> PyResult<(Bound<'py, pyo3::types::PyBytes>, Bound<'py, pyo3::types::PyBytes>)> {
    guarded(|| {
        let (field, arrays) = crate::raw::import_capsule_stream(&stream)?;
        let s = Series::try_from((&field, arrays)).map_err(|e| NpzError::new_err(e.to_string()))?;
        let rows = rows.unwrap_or(s.len());
        let (header, data) = py.detach(|| crate::npywrite::series_to_npy_rows(&s, rows)).map_err(to_py_without_path)?;
        Ok((pyo3::types::PyBytes::new(py, &header), pyo3::types::PyBytes::new(py, &data)))
    })
}

/// Append a Series' `.npy` array data (no header) to the file at `path`.
#[pyfunction]
fn append_series(py: Python<'_>, stream: Bound<'_, PyCapsule>, path: std::path::PathBuf) -> PyResult<()> {
    guarded(|| {
        let (field, arrays) = crate::raw::import_capsule_stream(&stream)?;
        let s = Series::try_from((&field, arrays)).map_err(|e| NpzError::new_err(e.to_string()))?;
        py.detach(|| -> Result<(), crate::NpzError> {
            let (_, data) = crate::npywrite::series_to_npy(&s)?;
            let io = |source| crate::NpzError::Io { path: path.clone(), source };
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&path).map_err(io)?;
            std::io::Write::write_all(&mut f, &data).map_err(io)
        })
        .map_err(to_py_without_path)
    })
}

/// Write members whose array data waits in files: `(name, header, data_path)`.
#[pyfunction]
#[pyo3(signature = (path, members, compress=false, align=64))]
fn write_spilled(py: Python<'_>, path: std::path::PathBuf, members: Vec<(String, Vec<u8>, std::path::PathBuf)>, compress: bool, align: usize) -> PyResult<()> {
    guarded(|| {
        let list: Vec<crate::writer::SpilledMember<'_>> = members
            .iter()
            .map(|(name, header, data)| crate::writer::SpilledMember { name, header, data })
            .collect();
        py.detach(|| crate::writer::write_spilled(&path, &list, compress, align)).map_err(to_py)
    })
}

/// The native module.
#[pymodule]
#[pyo3(name = "_internal")]
fn internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Archive>()?;
    m.add_class::<Batches>()?;
    m.add_class::<ArrowColumn>()?;
    m.add_class::<ArrowSchema>()?;
    m.add_function(wrap_pyfunction!(index_column, m)?)?;
    m.add_function(wrap_pyfunction!(align_npz, m)?)?;
    m.add_function(wrap_pyfunction!(write_members, m)?)?;
    m.add_function(wrap_pyfunction!(series_to_npy, m)?)?;
    m.add_function(wrap_pyfunction!(write_spilled, m)?)?;
    m.add_function(wrap_pyfunction!(append_series, m)?)?;
    m.add_function(wrap_pyfunction!(constant_column, m)?)?;
    m.add("NpzError", m.py().get_type::<NpzError>())?;
    Ok(())
}

// The extension allocates its columns with mimalloc: it keeps freed pages for reuse, so
// repeated reads do not pay the page faults of fresh memory for every copy.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
