//! An archive's columns as arrow-rs record batches (feature `arrow`). Each batch crosses from
//! polars-arrow to arrow-rs through the Arrow C Data Interface, which moves buffers without
//! copying them: aligned stored members stay views of the file mapping.

use std::sync::Arc;

use arrow_array::{Array as _, RecordBatch, RecordBatchReader, StructArray};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};

use super::arrow_out::StructBatches;
use super::NpzArchive;
use crate::error::{NpzError, Result};

impl NpzArchive {
    /// The named columns as arrow-rs record batches of `batch_rows` rows (one batch when
    /// `None`), at most `n_rows` rows; see [`batches`](Self::batches) for what is read when.
    /// Columns are typed as Polars exports the types of [`schema`](Self::schema) at its
    /// oldest compatibility level, what Python Polars' `to_arrow()` gives: strings are
    /// `LargeUtf8`, binaries `LargeBinary`, `Array` columns `FixedSizeList`, datetimes
    /// `Timestamp`, records `Struct`. Columns of aligned, native-endian
    /// stored members of a mapped archive are views of the mapping, which stays mapped while a
    /// batch holds them.
    ///
    /// An error in a batch (a corrupt deflate stream, a bad checksum) comes as
    /// [`ArrowError::ExternalError`] holding the [`NpzError`], and ends the reader.
    ///
    /// ```no_run
    /// use arrow_array::RecordBatchReader;
    ///
    /// let archive = polars_npz::NpzArchive::open("data.npz")?;
    /// let reader = archive.record_batches(&["x", "y"], None, Some(65_536))?;
    /// println!("{}", reader.schema());
    /// for batch in reader {
    ///     println!("{} rows", batch?.num_rows());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_batches(
        &self,
        columns: &[&str],
        n_rows: Option<usize>,
        batch_rows: Option<usize>,
    ) -> Result<impl RecordBatchReader + Send + 'static> {
        let batches = StructBatches::new(self.batches(columns, n_rows, batch_rows)?)?;
        let field = crate::raw::field_to_arrow_rs(&batches.field()).map_err(|e| NpzError::request(self.path(), e.to_string()))?;
        let DataType::Struct(fields) = field.data_type().clone() else {
            return Err(NpzError::request(self.path(), format!("internal: batches of type {} instead of a struct", field.data_type())));
        };
        let schema = Arc::new(Schema::new(fields));
        Ok(RecordBatches { batches, dtype: field.data_type().clone(), schema, done: false })
    }
}

/// Record batches of selected columns, read one at a time.
struct RecordBatches {
    batches: StructBatches,
    /// The arrow-rs type of each batch (a struct of the columns).
    dtype: DataType,
    schema: SchemaRef,
    done: bool,
}

impl RecordBatches {
    fn next_batch(&mut self) -> std::result::Result<Option<RecordBatch>, ArrowError> {
        let Some(batch) = self.batches.next_batch().map_err(|e| ArrowError::ExternalError(Box::new(e)))? else { return Ok(None) };
        let array = crate::raw::array_to_arrow_rs(Box::new(batch), &self.dtype)?;
        let array = array
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| ArrowError::CDataInterface("internal: not a struct array".into()))?;
        let (_, columns, _) = array.clone().into_parts();
        let rows = array.len();
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)))
            .map(Some)
    }
}

impl Iterator for RecordBatches {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_batch();
        self.done = !matches!(next, Ok(Some(_)));
        next.transpose()
    }
}

impl RecordBatchReader for RecordBatches {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
