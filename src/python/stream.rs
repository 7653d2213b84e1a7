//! An archive's columns as an Arrow C stream (the Arrow PyCapsule stream interface), for any
//! Arrow consumer without Polars in the middle: `pyarrow.table(stream)`, DuckDB, ...
//! Each batch is a struct array of the selected columns; aligned stored members stay views of
//! the file mapping.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use polars_arrow::array::Array;
use polars_arrow::datatypes::Field;
use polars_arrow::ffi::{export_iterator, ArrowArrayStream};
use polars_core::error::{PolarsError, PolarsResult};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::{guarded, to_py};
use crate::scan::arrow_out::StructBatches;
use crate::scan::NpzArchive;

/// Selected columns of an archive, read batch by batch by each consumer of the stream.
#[pyclass(frozen, module = "polars_npz._internal")]
pub(crate) struct ArrowStream {
    archive: Arc<NpzArchive>,
    columns: Vec<String>,
    n_rows: Option<usize>,
    batch_rows: Option<usize>,
    height: usize,
    /// The struct field of every batch.
    field: Field,
    /// The reader made when the stream was created (which checked the selection), for the
    /// first consumer; later consumers get a reader of their own.
    first: Mutex<Option<StructBatches>>,
}

impl ArrowStream {
    /// A stream of `columns` (checked now: unknown names, refused types and arrays of
    /// different lengths raise here, not in the consumer).
    pub(crate) fn new(
        archive: Arc<NpzArchive>,
        columns: Vec<String>,
        n_rows: Option<usize>,
        batch_rows: Option<usize>,
    ) -> crate::Result<ArrowStream> {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let reader = archive.batches(&names, n_rows, batch_rows)?;
        let height = reader.height();
        let batches = StructBatches::new(reader)?;
        let field = batches.field();
        Ok(ArrowStream { archive, columns, n_rows, batch_rows, height, field, first: Mutex::new(Some(batches)) })
    }

    fn reader(&self) -> crate::Result<StructBatches> {
        let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        match first {
            Some(reader) => Ok(reader),
            None => {
                let names: Vec<&str> = self.columns.iter().map(String::as_str).collect();
                self.archive.batches(&names, self.n_rows, self.batch_rows).and_then(StructBatches::new)
            }
        }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule stream interface: a new stream from the first row on each call.
    /// `requested_schema` is ignored (the interface lets a producer do so): the columns come
    /// in the types `schema` shows.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        guarded(|| {
            let batches = py.detach(|| self.reader()).map_err(to_py)?;
            let stream = export_stream(Guarded { batches, done: false }, self.field.clone());
            PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
        })
    }

    /// The Arrow PyCapsule schema interface: a struct whose fields are the columns.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        PyCapsule::new_with_value(py, crate::raw::export_schema(&self.field), c"arrow_schema")
    }

    /// The selected columns, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    /// Rows the stream gives in all (from the headers).
    #[getter]
    fn height(&self) -> usize {
        self.height
    }

    /// The archive's path (or the name given to its bytes).
    #[getter]
    fn path(&self) -> String {
        self.archive.path().to_string_lossy().into_owned()
    }

    fn __repr__(&self) -> String {
        format!("<npz_stream of {} columns x {} rows from '{}'>", self.columns.len(), self.height, self.archive.path().display())
    }
}

/// Export `batches` as an Arrow C stream. They must be `Send`: the stream may be read on any
/// thread (DuckDB reads on its own), and polars-arrow's export does not ask for it.
pub(crate) fn export_stream(
    batches: impl Iterator<Item = PolarsResult<Box<dyn Array>>> + Send + 'static,
    field: Field,
) -> ArrowArrayStream {
    export_iterator(Box::new(batches), field)
}

/// Batches for the C stream: an error (the message names the file and the member) ends the
/// stream and reaches the consumer through the stream's `get_last_error`; a panic is caught
/// here, as it must not unwind through the C interface.
struct Guarded {
    batches: StructBatches,
    done: bool,
}

impl Iterator for Guarded {
    type Item = PolarsResult<Box<dyn Array>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = catch_unwind(AssertUnwindSafe(|| self.batches.next_batch()));
        let message = match next {
            Ok(Ok(Some(batch))) => return Some(Ok(batch.boxed())),
            Ok(Ok(None)) => {
                self.done = true;
                return None;
            }
            Ok(Err(e)) => format!("NpzError ({}): {e}", e.category().name()),
            Err(p) => {
                let msg =
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                format!("NpzError: internal error (please report it): {msg}")
            }
        };
        self.done = true;
        // The message becomes a C string: a NUL byte must not fail the conversion (names
        // with one are refused when the stream is made, but a message may quote bytes).
        Some(Err(PolarsError::ComputeError(message.replace('\0', "\\0").into())))
    }
}
