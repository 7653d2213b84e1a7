//! Batches as Arrow struct arrays, one child per selected column: what the Arrow C stream of
//! the Python module and the arrow-rs reader (feature `arrow`) hand out. The children are the
//! columns' own Arrow arrays, so a column that is a view of the file mapping stays one.
//!
//! Types are those of Python Polars' `to_arrow()` (Polars' oldest compatibility level, which
//! every Arrow consumer reads): strings are `LargeUtf8` and binaries `LargeBinary` rather than
//! views, the rest as Polars holds them (`FixedSizeList` for `Array`, `Timestamp`, ...).

use polars_arrow::array::StructArray;
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_core::prelude::CompatLevel;

use super::batches::BatchReader;
use crate::decode::ArrayRef;
use crate::error::{NpzError, Result};

/// Reads selected columns batch by batch, each batch one struct array.
pub(crate) struct StructBatches {
    reader: BatchReader,
    dtype: ArrowDataType,
}

impl StructBatches {
    /// Batches of `reader`'s columns; an error if a name cannot cross the Arrow C Data
    /// Interface (one with a NUL byte: names there are C strings).
    pub(crate) fn new(reader: BatchReader) -> Result<StructBatches> {
        let fields = reader.arrow_fields(CompatLevel::oldest());
        for f in &fields {
            if let Some(name) = name_with_nul(f) {
                let reason = format!(
                    "column '{}': the name '{}' has a NUL byte, which Arrow's C interface cannot carry",
                    f.name.escape_debug(),
                    name.escape_debug()
                );
                return Err(NpzError::request(reader.path(), reason));
            }
        }
        Ok(StructBatches { reader, dtype: ArrowDataType::Struct(fields) })
    }

    /// The field of every batch: a struct, unnamed and without nulls, whose fields are the
    /// columns (the schema of a record batch, in the Arrow C stream interface's terms).
    pub(crate) fn field(&self) -> Field {
        Field::new("".into(), self.dtype.clone(), false)
    }

    /// The next batch, or `None` when done. Like [`BatchReader::next_series`], an empty
    /// selection or zero rows still gives one batch.
    pub(crate) fn next_batch(&mut self) -> Result<Option<StructArray>> {
        let names: Vec<String> = self.reader.names().into_iter().map(String::from).collect();
        let Some((rows, arrays)) = self.reader.next_arrays()? else { return Ok(None) };
        let values = names.iter().zip(arrays).map(|(name, a)| oldest(name, a)).collect::<std::result::Result<Vec<_>, _>>();
        let values = values.map_err(|e| self.reader.polars_err(e))?;
        StructArray::try_new(self.dtype.clone(), rows, values, None).map(Some).map_err(|e| self.reader.polars_err(e))
    }
}

/// The first name in `field` (its own or a nested field's) that holds a NUL byte.
fn name_with_nul(field: &Field) -> Option<&str> {
    if field.name.contains('\0') {
        return Some(field.name.as_str());
    }
    match &field.dtype {
        ArrowDataType::Struct(fields) => fields.iter().find_map(name_with_nul),
        ArrowDataType::List(f) | ArrowDataType::LargeList(f) | ArrowDataType::FixedSizeList(f, _) | ArrowDataType::Map(f, _) => {
            name_with_nul(f)
        }
        _ => None,
    }
}

/// `array` at Polars' oldest compatibility level (what Python Polars' `to_arrow()` gives):
/// unchanged unless it holds string or binary views, which become large strings or binaries.
fn oldest(name: &str, array: ArrayRef) -> polars_core::error::PolarsResult<ArrayRef> {
    if !has_view(array.dtype()) {
        return Ok(array);
    }
    let s = polars_core::prelude::Series::from_arrow(name.into(), array)?;
    Ok(s.rechunk().to_arrow(0, CompatLevel::oldest()))
}

/// Whether `dtype` is or nests a string or binary view.
fn has_view(dtype: &ArrowDataType) -> bool {
    match dtype {
        ArrowDataType::Utf8View | ArrowDataType::BinaryView => true,
        ArrowDataType::FixedSizeList(f, _) | ArrowDataType::LargeList(f) | ArrowDataType::List(f) => has_view(f.dtype()),
        ArrowDataType::Struct(fields) => fields.iter().any(|f| has_view(f.dtype())),
        _ => false,
    }
}
