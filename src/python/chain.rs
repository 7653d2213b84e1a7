//! Columns of several archives read in one call, for a dataset reader that serves a group of
//! small files: Polars' per-file reader costs (a Python reader object, a DataFrame made per
//! file) are paid once per group instead of once per file. The reading is the scan layer's
//! (`scan::many`); this hands its arrays to Python.

use std::sync::Arc;

use polars_arrow::datatypes::Field;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::archive::Archive;
use super::arrow::importable;
use super::{guarded, npz_error, to_py};
use crate::decode::ArrayRef;
use crate::scan::NpzArchive;

/// One column as several Arrow arrays (one or more per file), which Python Polars imports
/// with `pl.Series(column)` through the Arrow PyCapsule stream interface, without joining
/// them (views of the mapping stay views).
#[pyclass(frozen, module = "polars_npz._internal")]
pub(crate) struct ChunkedColumn {
    field: Field,
    chunks: Vec<ArrayRef>,
}

#[pymethods]
impl ChunkedColumn {
    /// The Arrow PyCapsule stream interface (`requested_schema` is ignored, as the interface
    /// allows).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let chunks: Vec<_> = self.chunks.iter().cloned().map(Ok).collect();
        let stream = super::stream::export_stream(chunks.into_iter(), self.field.clone());
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    fn __len__(&self) -> usize {
        self.chunks.iter().map(|c| c.len()).sum()
    }
}

/// `columns` of each archive of `parts` (archive, rows to skip, at most this many rows),
/// one archive after the other (see [`crate::scan::many::read_chain`]), with the GIL
/// released: the rows in all, and one chunked column per name.
#[pyfunction]
pub(crate) fn read_chain(
    py: Python<'_>,
    parts: Vec<(Py<Archive>, usize, Option<usize>)>,
    columns: Vec<String>,
) -> PyResult<(usize, Vec<ChunkedColumn>)> {
    guarded(|| {
        let archives: Vec<(Arc<NpzArchive>, usize, Option<usize>)> =
            parts.iter().map(|(a, skip, n)| (a.get().inner.clone(), *skip, *n)).collect();
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let (rows, read) = py.detach(|| crate::scan::many::read_chain(&archives, &names)).map_err(to_py)?;
        let mut out = Vec::with_capacity(names.len());
        for (name, chunks) in columns.iter().zip(read) {
            let Some(first) = chunks.first() else {
                return Err(npz_error(
                    "internal",
                    "",
                    None,
                    format!("internal error (please report it): column '{name}': nothing was read"),
                ));
            };
            importable(name, first.dtype(), rows)?;
            let field = Field::new(name.as_str().into(), first.dtype().clone(), true);
            out.push(ChunkedColumn { field, chunks });
        }
        Ok((rows, out))
    })
}
