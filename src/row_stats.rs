//! Statistics of a column's blocks of rows, the form a filter is judged by: read from the
//! block index of a member this package wrote (see `zip::blocks`), or learned by this process
//! on a first read of a member written without one (see `zip::learned`).

use polars_arrow::array::ArrayRef;

/// Block `b` holds rows `starts[b]..starts[b + 1]`, of which `nulls[b]` are null and `nans[b]`
/// NaN; `min` and `max` hold its extremes among the others (meaningless for a block without
/// others).
#[derive(Debug, Clone)]
pub(crate) struct ColumnStats {
    pub(crate) starts: Vec<u64>,
    pub(crate) nulls: Vec<u32>,
    pub(crate) nans: Vec<u32>,
    pub(crate) min: ArrayRef,
    pub(crate) max: ArrayRef,
}

impl ColumnStats {
    /// Number of blocks.
    pub(crate) fn len(&self) -> usize {
        self.nulls.len()
    }

    /// Bytes this holds, about.
    pub(crate) fn held_bytes(&self) -> u64 {
        // Per block: its start, two counts, and two values of at most 16 bytes with validity.
        (self.starts.len() * 8 + self.len() * (4 + 4 + 2 * 17)) as u64
    }

    /// Whether the blocks hold together: as many of each as there are blocks, rows in order
    /// from 0 to `rows`.
    pub(crate) fn holds(&self, rows: u64) -> bool {
        let n = self.len();
        self.starts.len() == n + 1
            && self.nans.len() == n
            && self.min.len() == n
            && self.max.len() == n
            && self.starts.first() == Some(&0)
            && self.starts.last() == Some(&rows)
            && self.starts.windows(2).all(|w| w[0] <= w[1])
    }
}
