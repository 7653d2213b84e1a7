//! Statistics of a column's blocks of rows learned while a read decodes all of a member that
//! has none in a block index (an archive written by numpy, or by another tool): each batch's
//! rows, cut into blocks of about [`BLOCK_BYTES`] of values, give their null and NaN counts,
//! min and max (Polars' own kernel: NaN ignored by min and max, nulls left out). When the
//! last row is seen they are kept in [`crate::zip::learned`] under the member's identity, and
//! later scans judge filters by them as by the statistics of the archives this package writes
//! (`NpzArchive::column_stats`). A read that does not see every row in order learns nothing.

use polars_arrow::array::{ArrayRef, PrimitiveArray};
use polars_arrow::datatypes::ArrowDataType;
use polars_core::prelude::{AnyValue, ChunkAgg, ChunkedArray, CompatLevel, DataType, PolarsNumericType, Series};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use crate::decode::Decoder;
use crate::row_stats::ColumnStats;
use crate::source::Source;
use crate::zip::learned::{self, Key};
use crate::zip::ZipEntry;

/// Bytes of values per block of learned statistics: small enough that a selective filter
/// reads little more than its rows, large enough that the statistics hold about 0.01 % of the
/// data (a 256 MB column: 256 blocks).
const BLOCK_BYTES: usize = 1 << 20;

/// The statistics of one member's rows, as they are seen.
pub(crate) struct StatsLearner {
    key: Key,
    dtype: ArrowDataType,
    /// Rows of the member.
    rows: u64,
    block_rows: u64,
    starts: Vec<u64>,
    nulls: Vec<u32>,
    nans: Vec<u32>,
    mins: Vec<AnyValue<'static>>,
    maxs: Vec<AnyValue<'static>>,
}

/// Whether statistics are kept for a column of this Arrow type (Polars' min and max of it
/// are its own values; float16, nested and text columns have none, as in the block index).
fn has_stats(dtype: &ArrowDataType) -> bool {
    use ArrowDataType as A;
    matches!(
        dtype,
        A::Boolean
            | A::Int8
            | A::Int16
            | A::Int32
            | A::Int64
            | A::UInt8
            | A::UInt16
            | A::UInt32
            | A::UInt64
            | A::Float32
            | A::Float64
            | A::Date32
            | A::Timestamp(_, None)
            | A::Duration(_)
    )
}

impl StatsLearner {
    /// A learner for a read of all `rows` rows of a 1-D array in `entry` of `source`, decoded
    /// by `decoder`, when its statistics are worth learning and not learned yet.
    pub(crate) fn new(source: &Source, entry: &ZipEntry, decoder: &Decoder, shape: &[u64]) -> Option<StatsLearner> {
        let &[rows] = shape else { return None };
        let dtype = decoder.arrow_type().clone();
        if rows == 0 || !has_stats(&dtype) {
            return None;
        }
        let key = learned::stats_key(source, entry)?;
        if learned::has_stats(&key) {
            return None;
        }
        let block_rows = (BLOCK_BYTES / decoder.row_bytes().max(1)).max(1) as u64;
        Some(StatsLearner {
            key,
            dtype,
            rows,
            block_rows,
            starts: vec![0],
            nulls: Vec::new(),
            nans: Vec::new(),
            mins: Vec::new(),
            maxs: Vec::new(),
        })
    }

    /// Take in `array`, the member's rows from `first`; `false` when they are not the rows
    /// that follow those seen (the learner is then of no use).
    pub(crate) fn observe(&mut self, first: u64, array: &ArrayRef) -> bool {
        let seen = self.starts.last().copied().unwrap_or(0);
        if first != seen || array.dtype() != &self.dtype {
            return false;
        }
        // Blocks end at multiples of `block_rows` of the member, and where the batch ends.
        let end = first + array.len() as u64;
        let mut pieces = Vec::new();
        let mut at = first;
        while at < end {
            let next = ((at / self.block_rows + 1) * self.block_rows).min(end);
            pieces.push((at, next));
            at = next;
        }
        let stats = |&(a, b): &(u64, u64)| piece_stats(array.sliced((a - first) as usize, (b - a) as usize));
        let stats: Vec<_> = if pieces.len() > 1 {
            THREAD_POOL.install(|| pieces.par_iter().map(stats).collect())
        } else {
            pieces.iter().map(stats).collect()
        };
        for ((_, b), s) in pieces.into_iter().zip(stats) {
            let Some((nulls, nans, min, max)) = s else { return false };
            self.starts.push(b);
            self.nulls.push(nulls);
            self.nans.push(nans);
            self.mins.push(min);
            self.maxs.push(max);
        }
        true
    }

    /// Whether every row has been seen.
    pub(crate) fn is_done(&self) -> bool {
        self.starts.last() == Some(&self.rows)
    }

    /// Keep what was learned, once every row has been seen.
    pub(crate) fn finish(self) {
        if !self.is_done() {
            return;
        }
        let column = |name: &str, values: &[AnyValue<'static>]| -> Option<ArrayRef> {
            let dtype = DataType::from_arrow_dtype(&self.dtype);
            let s = Series::from_any_values_and_dtype(name.into(), values, &dtype.to_physical(), true).ok()?;
            let a = s.cast(&dtype).ok()?.rechunk().to_arrow(0, CompatLevel::newest());
            (a.dtype() == &self.dtype).then_some(a)
        };
        let (Some(min), Some(max)) = (column("min", &self.mins), column("max", &self.maxs)) else { return };
        let stats = ColumnStats { starts: self.starts, nulls: self.nulls, nans: self.nans, min, max };
        if stats.holds(self.rows) {
            learned::put_stats(self.key, stats);
        }
    }
}

/// Null and NaN counts, min and max (of the column's physical type) of one block's rows: in
/// one pass of eight lanes for floats without nulls, else with Polars' min/max kernel.
fn piece_stats(piece: ArrayRef) -> Option<(u32, u32, AnyValue<'static>, AnyValue<'static>)> {
    if piece.null_count() == 0 {
        let any = piece.as_any();
        if let Some(a) = any.downcast_ref::<PrimitiveArray<f64>>().filter(|_| piece.dtype() == &ArrowDataType::Float64) {
            return Some(float_stats(a.values()));
        }
        if let Some(a) = any.downcast_ref::<PrimitiveArray<f32>>().filter(|_| piece.dtype() == &ArrowDataType::Float32) {
            return Some(float_stats(a.values()));
        }
    }
    let s = Series::from_arrow("".into(), piece).ok()?;
    let nulls = u32::try_from(s.null_count()).ok()?;
    let s = s.to_physical_repr();
    let nans = match s.dtype() {
        DataType::Float32 => s.f32().ok()?.downcast_iter().map(|a| a.values().iter().filter(|v| v.is_nan()).count()).sum(),
        DataType::Float64 => s.f64().ok()?.downcast_iter().map(|a| a.values().iter().filter(|v| v.is_nan()).count()).sum(),
        _ => 0,
    };
    let (min, max): (AnyValue<'static>, AnyValue<'static>) = match s.dtype() {
        DataType::Boolean => {
            let ca = s.bool().ok()?;
            (ca.min().into(), ca.max().into())
        }
        DataType::Int8 => min_max(s.i8().ok()?),
        DataType::Int16 => min_max(s.i16().ok()?),
        DataType::Int32 => min_max(s.i32().ok()?),
        DataType::Int64 => min_max(s.i64().ok()?),
        DataType::UInt8 => min_max(s.u8().ok()?),
        DataType::UInt16 => min_max(s.u16().ok()?),
        DataType::UInt32 => min_max(s.u32().ok()?),
        DataType::UInt64 => min_max(s.u64().ok()?),
        DataType::Float32 => min_max(s.f32().ok()?),
        DataType::Float64 => min_max(s.f64().ok()?),
        _ => return None,
    };
    Some((nulls, u32::try_from(nans).ok()?, min, max))
}

/// Min and max of a numeric column in one pass.
fn min_max<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> (AnyValue<'static>, AnyValue<'static>)
where
    ChunkedArray<T>: ChunkAgg<T::Native>,
    T::Native: Into<AnyValue<'static>>,
{
    let (lo, hi) = ca.min_max().unzip();
    (lo.map_or(AnyValue::Null, Into::into), hi.map_or(AnyValue::Null, Into::into))
}

/// A float type, for [`float_stats`].
trait Float: Copy + PartialOrd + Into<AnyValue<'static>> {
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn is_nan(self) -> bool;
}

impl Float for f32 {
    const INFINITY: Self = f32::INFINITY;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Float for f64 {
    const INFINITY: Self = f64::INFINITY;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// No nulls, the NaN count, and min and max ignoring NaN (null when every value is NaN), in
/// one pass of eight independent lanes (which the compiler vectorizes). A comparison with NaN
/// is false, so NaN never replaces an extreme.
fn float_stats<F: Float>(values: &[F]) -> (u32, u32, AnyValue<'static>, AnyValue<'static>) {
    const LANES: usize = 8;
    let (mut lo, mut hi, mut nans) = ([F::INFINITY; LANES], [F::NEG_INFINITY; LANES], [0u32; LANES]);
    let mut step = |i: usize, v: F| {
        nans[i] += u32::from(v.is_nan());
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
    };
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (i, &v) in c.iter().enumerate() {
            step(i, v);
        }
    }
    for &v in rest {
        step(0, v);
    }
    let nans: u32 = nans.iter().sum();
    if nans as usize == values.len() {
        return (0, nans, AnyValue::Null, AnyValue::Null);
    }
    let min = lo.into_iter().fold(F::INFINITY, |a, v| if v < a { v } else { a });
    let max = hi.into_iter().fold(F::NEG_INFINITY, |a, v| if v > a { v } else { a });
    (0, nans, min.into(), max.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(v: AnyValue<'static>) -> Option<f64> {
        v.extract::<f64>()
    }

    #[test]
    fn float_stats_ignore_nan_and_keep_infinities() {
        let nan = f64::NAN;
        for (values, want) in [
            (vec![3.0, nan, -1.5, 2.0, nan, 7.25, 0.0, -0.0, 1.0, nan], (3, Some(-1.5), Some(7.25))),
            (vec![nan; 11], (11, None, None)),
            (vec![f64::INFINITY; 9], (0, Some(f64::INFINITY), Some(f64::INFINITY))),
            (vec![f64::NEG_INFINITY, nan], (1, Some(f64::NEG_INFINITY), Some(f64::NEG_INFINITY))),
            (vec![5.0], (0, Some(5.0), Some(5.0))),
        ] {
            let (nulls, nans, min, max) = float_stats(&values);
            assert_eq!((nulls, nans, f64s(min), f64s(max)), (0, want.0, want.1, want.2), "{values:?}");
        }
        // Each lane's extreme is found, wherever it sits.
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        v[517] = -3.0;
        v[998] = 5000.0;
        let (_, nans, min, max) = float_stats(&v);
        assert_eq!((nans, min.extract::<f32>(), max.extract::<f32>()), (0, Some(-3.0), Some(5000.0)));
    }
}
