//! Reading several archives as one: the statistics of a column's blocks across archives (one
//! table, for judging a dataset's filters at once), and selected columns of several archives
//! read in parallel (for a dataset reader that serves a group of small files in one call).

use std::path::Path;
use std::sync::Arc;

use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use super::archive::NpzArchive;
use crate::decode::ArrayRef;
use crate::error::{NpzError, Result};

/// The statistics of one column's blocks across archives: per block, the archive's position,
/// its rows `[start, end)`, its null and NaN counts; `min` and `max` are columns of the
/// column's type, a value per block.
pub(crate) struct StatsTable {
    pub(crate) at: Vec<u32>,
    pub(crate) start: Vec<u64>,
    pub(crate) end: Vec<u64>,
    pub(crate) nulls: Vec<u32>,
    pub(crate) nans: Vec<u32>,
    pub(crate) min: ArrayRef,
    pub(crate) max: ArrayRef,
}

/// The statistics of `column`'s blocks in each of `archives` (given with its position and
/// height) that has them for exactly those rows, and of the type of the first that has them;
/// `None` when none has.
pub(crate) fn stats_table<'a>(archives: impl Iterator<Item = (usize, &'a NpzArchive, u64)>, column: &str) -> Result<Option<StatsTable>> {
    let (mut at, mut start, mut end): (Vec<u32>, Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new(), Vec::new());
    let (mut nulls, mut nans): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    let (mut mins, mut maxs): (Vec<ArrayRef>, Vec<ArrayRef>) = (Vec::new(), Vec::new());
    for (i, archive, height) in archives {
        let Some(s) = archive.column_stats(column) else { continue };
        if s.starts.last() != Some(&height) || mins.first().is_some_and(|m| m.dtype() != s.min.dtype()) {
            continue;
        }
        for w in s.starts.windows(2) {
            at.push(i as u32);
            start.push(w[0]);
            end.push(w[1]);
        }
        nulls.extend(&s.nulls);
        nans.extend(&s.nans);
        mins.push(s.min);
        maxs.push(s.max);
    }
    if mins.is_empty() {
        return Ok(None);
    }
    let concat = |parts: &[ArrayRef]| {
        let refs: Vec<&dyn polars_arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        polars_arrow::compute::concatenate::concatenate(&refs)
            .map_err(|e| NpzError::internal(Path::new(""), format!("concatenating the statistics of '{column}': {e}")))
    };
    let (min, max) = (concat(&mins)?, concat(&maxs)?);
    Ok(Some(StatsTable { at, start, end, nulls, nans, min, max }))
}

/// `columns` of each archive of `parts` (archive, rows to skip, at most this many rows), one
/// archive after the other, read in parallel on Polars' thread pool: the rows in all, and per
/// column its arrays (one or more per archive, in order). The first error names its file and
/// member.
pub(crate) fn read_chain(parts: &[(Arc<NpzArchive>, usize, Option<usize>)], columns: &[&str]) -> Result<(usize, Vec<Vec<ArrayRef>>)> {
    let read_one = |(archive, skip, n_rows): &(Arc<NpzArchive>, usize, Option<usize>)| -> Result<(usize, Vec<Vec<ArrayRef>>)> {
        let mut reader = archive.batches_from(columns, *skip, *n_rows, None)?;
        let mut cols: Vec<Vec<ArrayRef>> = vec![Vec::new(); columns.len()];
        let mut rows = 0;
        while let Some((height, arrays)) = reader.next_arrays()? {
            rows += height;
            cols.iter_mut().zip(arrays).for_each(|(c, a)| c.push(a));
        }
        Ok((rows, cols))
    };
    let read = THREAD_POOL.install(|| parts.par_iter().map(read_one).collect::<Result<Vec<_>>>())?;
    let rows = read.iter().map(|(r, _)| r).sum();
    let mut out: Vec<Vec<ArrayRef>> = vec![Vec::new(); columns.len()];
    for (_, cols) in read {
        out.iter_mut().zip(cols).for_each(|(o, c)| o.extend(c));
    }
    Ok((rows, out))
}
