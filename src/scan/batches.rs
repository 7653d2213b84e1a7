//! Readers of selected columns, batch by batch: each batch decodes only its rows, columns in
//! parallel on Polars' thread pool.

use std::path::{Path, PathBuf};

use polars_core::prelude::{Column as PlColumn, CompatLevel, DataFrame, Series};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use super::learn_stats::StatsLearner;
use crate::decode::{self, fortran, ArrayRef, Decoder};
use crate::error::{internal, Invalid, NpzError, Result};
use crate::zip::MemberReader;

pub(crate) struct ColumnReader {
    pub(crate) name: String,
    pub(crate) member: String,
    pub(crate) decoder: Decoder,
    pub(crate) reader: MemberReader,
    pub(crate) mode: Mode,
    /// The member's row that the next batch starts at.
    pub(crate) row: usize,
    /// Statistics of the member's rows, learned while a read decodes all of them.
    pub(crate) learn: Option<StatsLearner>,
}

/// How a column's rows are produced.
pub(crate) enum Mode {
    /// C order: each batch decodes just its rows.
    Rows,
    /// A 0-d array: decoded once, repeated to each batch's height.
    Constant(Option<Series>),
    /// Fortran order (2+ dimensions): rows are not contiguous, so the array's first `keep`
    /// rows (all the reader produces) are transposed to C order once and sliced per batch.
    Transposed { shape: Vec<u64>, itemsize: usize, keep: usize, array: Option<ArrayRef>, offset: usize },
}

impl ColumnReader {
    /// Whether the next `rows` rows cost next to nothing: views of the mapping, a constant
    /// already decoded, or a few bytes.
    fn next_is_cheap(&self, rows: usize) -> bool {
        match &self.mode {
            Mode::Rows => {
                self.reader.mapped_file_offset().is_some_and(|at| self.decoder.zero_copy_at(at as usize))
                    || rows.saturating_mul(self.decoder.row_bytes()) <= CHEAP_BYTES
            }
            Mode::Constant(scalar) => scalar.is_some() || self.decoder.row_bytes() <= CHEAP_BYTES,
            Mode::Transposed { array, .. } => array.is_some(),
        }
    }

    fn next(&mut self, rows: usize, path: &Path) -> Result<ArrayRef> {
        let in_member = |e: Invalid| e.in_member(path, &self.member);
        let array = match &mut self.mode {
            Mode::Rows => {
                let array = self.decoder.decode(&mut self.reader, rows, self.row).map_err(in_member)?;
                if let Some(mut learn) = self.learn.take() {
                    if learn.observe(self.row as u64, &array) {
                        if learn.is_done() {
                            learn.finish();
                        } else {
                            self.learn = Some(learn);
                        }
                    }
                }
                self.row += rows;
                array
            }
            Mode::Constant(scalar) => {
                if scalar.is_none() {
                    let array = self.decoder.decode(&mut self.reader, 1, 0).map_err(in_member)?;
                    *scalar = Some(to_series(&self.name, array).map_err(in_member)?);
                }
                // Repeated by Polars (the one place a Series is made here), as one chunk.
                let repeated = scalar.as_ref().map(|s| s.new_from_index(0, rows).rechunk()).unwrap_or_default();
                return Ok(repeated.to_arrow(0, CompatLevel::newest()));
            }
            Mode::Transposed { shape, itemsize, keep, array, offset } => {
                if array.is_none() {
                    // The kept rows of the last position of the trailing axes end the bytes needed.
                    let needed = fortran::fortran_prefix_len(shape, *itemsize, *keep).map_err(in_member)?;
                    let decoder = &self.decoder;
                    let whole = decode::with_bytes(&mut self.reader, needed, |bytes| {
                        let c_order = fortran::fortran_to_c(bytes, shape, *itemsize, *keep)?;
                        decoder.decode_bytes(&c_order, *keep)
                    })
                    .map_err(in_member)?;
                    *array = Some(whole);
                }
                let whole = array.as_ref().map(|a| a.sliced(*offset, rows));
                *offset += rows;
                whole.ok_or_else(|| in_member(internal!("array missing")))?
            }
        };
        Ok(array)
    }
}

fn to_series(name: &str, array: ArrayRef) -> std::result::Result<Series, Invalid> {
    Series::from_arrow(name.into(), array).map_err(|e| internal!("Polars refused a decoded array: {e}"))
}

/// Bytes of a batch decoded in less time than a thread switch costs.
const CHEAP_BYTES: usize = 64 << 10;

/// Reads selected columns batch by batch. Each call decodes only the rows of that batch.
pub struct BatchReader {
    path: PathBuf,
    cols: Vec<ColumnReader>,
    total: usize,
    done: usize,
    batch_rows: usize,
    started: bool,
}

impl BatchReader {
    pub(crate) fn new(path: PathBuf, cols: Vec<ColumnReader>, total: usize, batch_rows: Option<usize>) -> BatchReader {
        BatchReader { path, cols, total, done: 0, batch_rows: batch_rows.filter(|&b| b > 0).unwrap_or(usize::MAX), started: false }
    }

    /// Rows this reader will produce in all.
    pub fn height(&self) -> usize {
        self.total
    }

    /// The Arrow field of each selected column, as its Series export it at `compat` (the
    /// type Polars gives the column).
    #[cfg(any(feature = "python", feature = "arrow"))]
    pub(crate) fn arrow_fields(&self, compat: polars_core::prelude::CompatLevel) -> Vec<polars_arrow::datatypes::Field> {
        self.cols
            .iter()
            .map(|c| {
                polars_core::prelude::DataType::from_arrow_dtype(c.decoder.arrow_type()).to_arrow_field(c.name.as_str().into(), compat)
            })
            .collect()
    }

    /// The archive's path (or the name given to its bytes).
    #[cfg(any(feature = "python", feature = "arrow"))]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the next batch costs next to nothing (views of the mapping, or a few bytes to
    /// decode): not worth giving up a lock that is costly to take back (Python's GIL).
    pub(crate) fn next_is_cheap(&self) -> bool {
        let rows = self.batch_rows.min(self.total - self.done);
        self.cols.iter().all(|c| c.next_is_cheap(rows))
    }

    /// The selected columns' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.cols.iter().map(|c| c.name.as_str()).collect()
    }

    /// The next batch: its row count and one Series per selected column, or `None` when done.
    /// An empty selection or zero rows still gives one (empty) batch, so the types are known.
    pub fn next_series(&mut self) -> Result<Option<(usize, Vec<Series>)>> {
        let Some((rows, arrays)) = self.next_arrays()? else { return Ok(None) };
        let series = self
            .cols
            .iter()
            .zip(arrays)
            .map(|(c, a)| to_series(&c.name, a).map_err(|e| e.in_member(&self.path, &c.member)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((rows, series)))
    }

    /// The next batch: its row count and one Arrow array per selected column (of the type
    /// Polars gives the column), or `None` when done; as [`next_series`](Self::next_series).
    pub fn next_arrays(&mut self) -> Result<Option<(usize, Vec<ArrayRef>)>> {
        if self.started && self.done >= self.total {
            return Ok(None);
        }
        self.started = true;
        let rows = self.batch_rows.min(self.total - self.done);
        let path = self.path.clone();
        // Columns decode in parallel on Polars' thread pool (sized like Polars':
        // POLARS_MAX_THREADS), so decoding does not oversubscribe the cores.
        let arrays = if self.cols.len() > 1 {
            THREAD_POOL.install(|| self.cols.par_iter_mut().map(|c| c.next(rows, &path)).collect::<Result<Vec<_>>>())
        } else {
            self.cols.iter_mut().map(|c| c.next(rows, &path)).collect::<Result<Vec<_>>>()
        };
        // After an error the reader is finished: its members are in an unknown position.
        self.done = if arrays.is_ok() { self.done + rows } else { self.total };
        Ok(Some((rows, arrays?)))
    }

    /// The next batch as a DataFrame, or `None` when done.
    pub fn next_frame(&mut self) -> Result<Option<DataFrame>> {
        let Some((height, series)) = self.next_series()? else { return Ok(None) };
        // Series columns, also for one row: `Column::from` makes a 1-row Series a scalar
        // column, whose conversion of nested dates needs polars-core's `dtype-time` feature
        // (a panic otherwise; found by fuzzing an Array(Date) column of one row).
        let cols: Vec<PlColumn> = series.into_iter().map(|s| PlColumn::Series(s.into())).collect();
        DataFrame::new(height, cols).map(Some).map_err(|e| self.polars_err(e))
    }

    pub(crate) fn polars_err(&self, e: polars_core::error::PolarsError) -> NpzError {
        NpzError::request(&self.path, e.to_string())
    }
}

impl Iterator for BatchReader {
    type Item = Result<DataFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}
