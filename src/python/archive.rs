//! An open archive and its batch readers, for the Python package.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use polars_core::prelude::CompatLevel;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict};

use super::arrow::{ArrowColumn, ArrowSchema};
use super::stream::ArrowStream;
use super::{guarded, to_py};
use crate::scan::{BatchReader, NpzArchive, OpenOptions};

/// An open archive.
#[pyclass(frozen, module = "polars_npz._internal")]
pub(crate) struct Archive {
    pub(crate) inner: Arc<NpzArchive>,
}

#[pymethods]
impl Archive {
    #[new]
    #[pyo3(signature = (path, memory_map=true, max_header_size=crate::npy::header::DEFAULT_MAX_HEADER_SIZE, verify_checksums=false))]
    fn new(path: std::path::PathBuf, memory_map: bool, max_header_size: usize, verify_checksums: bool) -> PyResult<Archive> {
        guarded(|| {
            let opts = OpenOptions { memory_map, max_header_size, verify_checksums };
            // A local open reads the zip index and the headers (tens of microseconds): held
            // under the GIL, since taking it back after a release costs more under contention
            // (Polars calls readers of many files from several threads).
            let inner = NpzArchive::open_with(&path, &opts).map_err(to_py)?;
            Ok(Archive { inner: Arc::new(inner) })
        })
    }

    /// The archive at `url` in an object store, read with ranged requests.
    #[staticmethod]
    #[pyo3(signature = (url, storage_options, max_header_size=crate::npy::header::DEFAULT_MAX_HEADER_SIZE, verify_checksums=false))]
    fn from_url(
        py: Python<'_>,
        url: String,
        storage_options: Vec<(String, String)>,
        max_header_size: usize,
        verify_checksums: bool,
    ) -> PyResult<Archive> {
        guarded(|| {
            let opts = OpenOptions { memory_map: false, max_header_size, verify_checksums };
            let inner = py.detach(|| NpzArchive::open_url(&url, &storage_options, &opts)).map_err(to_py)?;
            Ok(Archive { inner: Arc::new(inner) })
        })
    }

    /// An archive whose bytes are given (copied once into anonymous memory).
    #[staticmethod]
    #[pyo3(signature = (name, data, max_header_size=crate::npy::header::DEFAULT_MAX_HEADER_SIZE, verify_checksums=false))]
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
            let schema = self.inner.schema();
            Ok(ArrowSchema { fields: schema.iter().map(|(n, dt)| dt.to_arrow_field(n.clone(), CompatLevel::newest())).collect() })
        })
    }

    /// The address range of the file mapping, or None.
    fn mapping_range(&self) -> Option<(usize, usize)> {
        self.inner.mapping_range()
    }

    /// Bytes of the `.npy` members of `columns` once inflated (their headers included): what
    /// reading them whole takes in memory, about.
    fn data_bytes(&self, columns: Vec<String>) -> u64 {
        let wanted: std::collections::HashSet<&str> = columns.iter().map(String::as_str).collect();
        self.inner.array_bytes(|c| wanted.contains(c))
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
                d.set_item("header_len", m.array.as_ref().map(|a| a.header.data_offset))?;
                // The block index: how many blocks, and whether they carry statistics.
                d.set_item("blocks", m.entry.blocks.as_ref().map(|b| b.len()))?;
                d.set_item("statistics", m.entry.blocks.as_ref().is_some_and(|b| b.stats.is_some()))?;
                // What this process learned of a member without a block index: the spans of
                // its seek points (plain deflated members) and its blocks of statistics.
                let (spans, blocks) = crate::zip::learned::summary(self.inner.source(), &m.entry);
                d.set_item("learned", spans)?;
                d.set_item("learned_statistics", blocks)?;
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

    /// The whole of the zip member named `member` (`x.npy`: its `.npy` header and data), read
    /// or inflated straight into a new `bytearray` (writable, so arrays over it are too).
    fn member_bytes<'py>(&self, py: Python<'py>, member: &str) -> PyResult<Bound<'py, PyByteArray>> {
        guarded(|| {
            let size = self.inner.member_size(member).map_err(to_py)?;
            let size = usize::try_from(size).map_err(|_| pyo3::exceptions::PyMemoryError::new_err(format!("{member}: {size} bytes")))?;
            PyByteArray::new_with(py, size, |dst| py.detach(|| self.inner.read_member_into(member, dst)).map_err(to_py))
        })
    }

    /// Whether this archive's columns are `other`'s, with the same types, in the same order.
    fn same_schema_as(&self, other: &Archive) -> bool {
        self.inner.schema() == other.inner.schema()
    }

    /// Rows of the archive (from the headers): the length its arrays share.
    fn height(&self) -> u64 {
        self.inner.height()
    }

    /// Whether the arrays' lengths differ (scipy's sparse layout): rows depend on the selection.
    fn is_ragged(&self) -> bool {
        self.inner.is_ragged()
    }

    /// Rows a read of `columns` gives (from the headers).
    fn rows_of(&self, columns: Vec<String>) -> PyResult<u64> {
        guarded(|| {
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            self.inner.rows_of(&names).map_err(to_py)
        })
    }

    /// A reader of `columns` from row `skip`, at most `n_rows` rows, in batches of
    /// `batch_rows` rows (all at once when None).
    #[pyo3(signature = (columns, n_rows=None, batch_rows=None, skip=0))]
    fn batches(
        &self,
        py: Python<'_>,
        columns: Vec<String>,
        n_rows: Option<usize>,
        batch_rows: Option<usize>,
        skip: usize,
    ) -> PyResult<Batches> {
        guarded(|| {
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            let batch_rows = self.inner.suggested_batch_rows(&names, batch_rows);
            // Setting up the member readers is cheap (kept under the GIL, see `new`) unless
            // rows are skipped (a deflated member inflates them) or checksums are verified.
            let setup = || self.inner.batches_from(&names, skip, n_rows, batch_rows);
            let cheap = skip == 0 && !self.inner.verifies_checksums() && !self.inner.is_remote();
            let reader = if cheap { setup() } else { py.detach(setup) }.map_err(to_py)?;
            Ok(Batches {
                height: reader.height(),
                inner: Mutex::new(reader),
                last_height: AtomicUsize::new(0),
                remote: self.inner.is_remote(),
            })
        })
    }

    /// `columns` as an Arrow C stream of struct batches of `batch_rows` rows (by default:
    /// views of the mapping in one batch, other columns in batches of `STREAM_BATCH_ROWS`
    /// rows or more, see `NpzArchive::suggested_batch_rows`), at most `n_rows` rows.
    #[pyo3(signature = (columns, n_rows=None, batch_rows=None))]
    fn stream(&self, py: Python<'_>, columns: Vec<String>, n_rows: Option<usize>, batch_rows: Option<usize>) -> PyResult<ArrowStream> {
        guarded(|| {
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            let batch_rows = batch_rows.or_else(|| self.inner.suggested_batch_rows(&names, Some(STREAM_BATCH_ROWS)));
            let archive = self.inner.clone();
            py.detach(move || ArrowStream::new(archive, columns, n_rows, batch_rows)).map_err(to_py)
        })
    }
}

/// Rows per batch of an Arrow stream when the caller does not say (pyarrow's own default
/// batch size for datasets).
const STREAM_BATCH_ROWS: usize = 1 << 17;

/// Batches of selected columns; each call decodes only that batch's rows.
#[pyclass(frozen, module = "polars_npz._internal")]
pub(crate) struct Batches {
    height: usize,
    inner: Mutex<BatchReader>,
    last_height: AtomicUsize,
    /// Reads from an object store.
    remote: bool,
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
            let next = || {
                let mut reader = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let names: Vec<String> = reader.names().into_iter().map(String::from).collect();
                reader.next_arrays().map(|b| b.map(|(rows, arrays)| (rows, names.into_iter().zip(arrays).collect::<Vec<_>>())))
            };
            // The GIL is released only for batches with real work (inflating, copying,
            // converting) and for any read from an object store (a request, which may even be
            // served from this process); views of the mapping are made while holding it.
            let cheap = !self.remote && self.inner.lock().unwrap_or_else(|p| p.into_inner()).next_is_cheap();
            let batch = if cheap { next() } else { py.detach(next) };
            let batch = batch.map_err(to_py)?;
            let Some((rows, cols)) = batch else { return Ok(None) };
            self.last_height.store(rows, Ordering::Relaxed);
            cols.into_iter().map(|(name, array)| ArrowColumn::new(name, array)).collect::<PyResult<Vec<_>>>().map(Some)
        })
    }
}

/// Per block: the archive's position, its rows `[start, end)`, its null and NaN counts, and
/// min and max (columns of the column's type): see [`crate::scan::many::StatsTable`].
pub(crate) type StatsTable = (Vec<u32>, Vec<u64>, Vec<u64>, Vec<u32>, Vec<u32>, ArrowColumn, ArrowColumn);

/// The statistics of `column`'s blocks in each of `archives` (of `heights` rows) that has them
/// for exactly those rows, as one table (see [`StatsTable`]).
#[pyfunction]
pub(crate) fn block_stats(archives: Vec<PyRef<'_, Archive>>, heights: Vec<u64>, column: &str) -> PyResult<Option<StatsTable>> {
    guarded(|| stats_table(archives.iter().zip(heights).enumerate().map(|(i, (a, h))| (i, &*a.inner, h)), column))
}

/// [`block_stats`] of archives given with their positions and heights.
pub(crate) fn stats_table<'a>(archives: impl Iterator<Item = (usize, &'a NpzArchive, u64)>, column: &str) -> PyResult<Option<StatsTable>> {
    let Some(t) = crate::scan::many::stats_table(archives, column).map_err(to_py)? else { return Ok(None) };
    let (min, max) = (ArrowColumn { name: "min".into(), array: t.min }, ArrowColumn { name: "max".into(), array: t.max });
    Ok(Some((t.at, t.start, t.end, t.nulls, t.nans, min, max)))
}
