//! The dataset plan of one scan, for the Python package: what every reader of the scan (the
//! Polars 2 multi-file reader, the 1.x fallback, Ray's and Dask's tasks) takes its files from.

use std::sync::Arc;

use pyo3::prelude::*;

use super::archive::Archive;
use super::{guarded, to_py};
use crate::scan::{DatasetPlan, OpenOptions};

/// The files of one scan, each archive's zip index and `.npy` headers read at most once.
#[pyclass(frozen, module = "polars_npz._internal")]
pub(crate) struct Plan {
    inner: Arc<DatasetPlan>,
}

#[pymethods]
impl Plan {
    #[new]
    #[pyo3(signature = (paths, memory_map=true, max_header_size=crate::npy::header::DEFAULT_MAX_HEADER_SIZE, verify_checksums=false, storage_options=Vec::new(), concurrency=crate::scan::plan::DEFAULT_CONCURRENCY))]
    fn new(
        paths: Vec<String>,
        memory_map: bool,
        max_header_size: usize,
        verify_checksums: bool,
        storage_options: Vec<(String, String)>,
        concurrency: usize,
    ) -> Plan {
        let opts = OpenOptions { memory_map, max_header_size, verify_checksums };
        Plan { inner: Arc::new(DatasetPlan::new(paths, opts, storage_options, concurrency)) }
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The paths or URLs, as given.
    fn paths(&self) -> Vec<String> {
        (0..self.inner.len()).map(|i| self.inner.name(i).to_string()).collect()
    }

    /// Read the index and headers of files `which` (all when None) not read yet, with the
    /// GIL released; the first failure raises, naming its file.
    #[pyo3(signature = (which=None))]
    fn index(&self, py: Python<'_>, which: Option<Vec<usize>>) -> PyResult<()> {
        guarded(|| {
            let which = which.unwrap_or_else(|| (0..self.inner.len()).collect());
            self.check(&which)?;
            let plan = self.inner.clone();
            py.detach(move || plan.index(&which)).map_err(to_py)
        })
    }

    /// Read the rows and schemas of files `which` (a count), with the GIL released: objects
    /// written by this package are opened by their central directory alone (see
    /// `DatasetPlan::index_heights`).
    fn index_heights(&self, py: Python<'_>, which: Vec<usize>) -> PyResult<()> {
        guarded(|| {
            self.check(&which)?;
            let plan = self.inner.clone();
            py.detach(move || plan.index_heights(&which)).map_err(to_py)
        })
    }

    /// File `i`'s index and headers (for its schema, members and rows; not for its data),
    /// read now if they were not.
    fn indexed(&self, py: Python<'_>, i: usize) -> PyResult<Archive> {
        guarded(|| {
            self.check(&[i])?;
            let plan = self.inner.clone();
            py.detach(move || plan.index(&[i])).map_err(to_py)?;
            let archive = self.inner.indexed(i).cloned().ok_or_else(|| {
                super::npz_error(
                    "internal",
                    self.inner.name(i),
                    None,
                    "internal error (please report it): a planned file has no index".into(),
                )
            })?;
            Ok(Archive { inner: archive })
        })
    }

    /// The statistics of `column`'s blocks in every indexed file (of `heights` rows), as
    /// `block_stats` gives them for a list of archives.
    fn block_stats(&self, heights: Vec<u64>, column: &str) -> PyResult<Option<super::archive::StatsTable>> {
        guarded(|| {
            let plan = &self.inner;
            let indexed = heights.into_iter().enumerate().filter_map(|(i, h)| plan.indexed(i).map(|a| (i, &**a, h)));
            super::archive::stats_table(indexed, column)
        })
    }

    /// Files `which` ready for reading their data (local files in parallel: reopened over
    /// their index, or opened once for both), with the GIL released.
    fn open(&self, py: Python<'_>, which: Vec<usize>) -> PyResult<Vec<Archive>> {
        guarded(|| {
            self.check(&which)?;
            let plan = self.inner.clone();
            let opened = py.detach(move || plan.open_many(&which));
            Ok(opened.map_err(to_py)?.into_iter().map(|inner| Archive { inner }).collect())
        })
    }

    /// Each file's rows and bytes of array data once inflated, when every file is indexed.
    /// Whether every file is indexed and has the first file's schema.
    fn uniform_schema(&self) -> bool {
        self.inner.uniform_schema()
    }

    /// `(deflated, stored, partial)`: bytes of the members with block statistics of the files
    /// indexed so far, and whether some file is not counted (see `DatasetPlan::statistics_bytes`).
    fn statistics_bytes(&self) -> (u64, u64, bool) {
        self.inner.statistics_bytes()
    }

    fn counts(&self) -> Option<Vec<(u64, u64)>> {
        self.inner.counts()
    }

    /// Runs `(start, end)` of consecutive local files of one directory, at most `max_files`
    /// files and `max_bytes` bytes each (see `DatasetPlan::groups`).
    fn groups(&self, max_files: usize, max_bytes: u64) -> Vec<(usize, usize)> {
        self.inner.groups(max_files, max_bytes).into_iter().map(|r| (r.start, r.end)).collect()
    }
}

impl Plan {
    fn check(&self, which: &[usize]) -> PyResult<()> {
        match which.iter().find(|&&i| i >= self.inner.len()) {
            Some(i) => Err(pyo3::exceptions::PyIndexError::new_err(format!("file {i} of a plan of {}", self.inner.len()))),
            None => Ok(()),
        }
    }
}
