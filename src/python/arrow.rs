//! Columns and schemas that cross to Python Polars through the Arrow PyCapsule interface
//! (zero-copy): `pl.Series(column)`, `pl.Schema(schema)`.

use polars_arrow::array::{PrimitiveArray, Utf8ViewArray};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::{guarded, npz_error};
use crate::decode::ArrayRef;
use crate::raw::export;

/// One column (an Arrow array) that Python Polars imports with `pl.Series(column)`.
#[pyclass(frozen, module = "polars_npz._internal")]
pub(crate) struct ArrowColumn {
    pub(crate) name: String,
    pub(crate) array: ArrayRef,
}

impl ArrowColumn {
    /// The column `name` holding `array` (of the type Polars gives the column), if Python
    /// Polars can import it.
    pub(crate) fn new(name: String, array: ArrayRef) -> PyResult<ArrowColumn> {
        importable(&name, array.dtype(), array.len())?;
        Ok(ArrowColumn { name, array })
    }
}

/// An error for a non-empty column of type `dtype` that Python Polars cannot import (it
/// panics importing an Array nested with an inner dimension of length 0).
pub(crate) fn importable(name: &str, dtype: &polars_arrow::datatypes::ArrowDataType, len: usize) -> PyResult<()> {
    if len > 0 && has_zero_width(dtype) {
        return Err(npz_error(
            "request",
            "",
            None,
            format!(
            "column '{name}' has an inner dimension of length 0; Python Polars cannot import such Array columns, select the other columns"
        ),
        ));
    }
    Ok(())
}

/// Whether the type nests a fixed-size list of size 0.
fn has_zero_width(dtype: &polars_arrow::datatypes::ArrowDataType) -> bool {
    match dtype {
        polars_arrow::datatypes::ArrowDataType::FixedSizeList(f, size) => *size == 0 || has_zero_width(f.dtype()),
        polars_arrow::datatypes::ArrowDataType::Struct(fields) => fields.iter().any(|f| has_zero_width(f.dtype())),
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
pub(crate) struct ArrowSchema {
    pub(crate) fields: Vec<polars_arrow::datatypes::Field>,
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

/// A row-index column: `offset, offset + 1, ...` (`len` values), UInt32 or UInt64.
#[pyfunction]
#[pyo3(signature = (name, offset, len, wide))]
pub(crate) fn index_column(name: &str, offset: u64, len: usize, wide: bool) -> PyResult<ArrowColumn> {
    guarded(|| {
        let end = offset.checked_add(len as u64).filter(|&e| wide || e <= u32::MAX as u64 + 1);
        let Some(_) = end else {
            return Err(npz_error("limit", "", None, format!("row index {offset} + {len} overflows its type")));
        };
        let array: ArrayRef = if wide {
            PrimitiveArray::from_vec((offset..offset + len as u64).collect::<Vec<u64>>()).boxed()
        } else {
            PrimitiveArray::from_vec((offset as u32..).take(len).collect::<Vec<u32>>()).boxed()
        };
        ArrowColumn::new(name.to_string(), array)
    })
}

/// A String column holding `value` `len` times.
#[pyfunction]
pub(crate) fn constant_column(name: &str, value: &str, len: usize) -> PyResult<ArrowColumn> {
    guarded(|| ArrowColumn::new(name.to_string(), Utf8ViewArray::from_slice_values(vec![value; len]).boxed()))
}
