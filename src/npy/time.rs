//! numpy datetime64/timedelta64 values converted to Polars' units: exact scaling, NaT to
//! null, and an error (never a wrap) when a value does not fit.

use polars_arrow::datatypes::{ArrowDataType, TimeUnit as ArrowUnit};
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use crate::error::{internal, invalid, Invalid};

/// A numpy datetime/timedelta unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    /// Years (`Y`).
    Year,
    /// Months (`M`).
    Month,
    /// Weeks (`W`).
    Week,
    /// Days (`D`).
    Day,
    /// Hours (`h`).
    Hour,
    /// Minutes (`m`).
    Minute,
    /// Seconds (`s`).
    Second,
    /// Milliseconds (`ms`).
    Milli,
    /// Microseconds (`us`).
    Micro,
    /// Nanoseconds (`ns`).
    Nano,
    /// Picoseconds, femtoseconds, attoseconds, or a generic unit: no Polars equivalent.
    Other(&'static str),
}

/// numpy's "not a time".
pub(crate) const NAT: i64 = i64::MIN;

/// Values per piece when a large conversion runs on Polars' thread pool (from four pieces on,
/// as the other decoders do).
const PIECE: usize = 1 << 16;

/// What a numpy time type becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Datetime/Duration in `unit`, each tick `factor` of that unit (1 = no conversion).
    Ticks {
        /// Polars unit.
        unit: ArrowUnit,
        /// Multiplier from numpy ticks to that unit.
        factor: i64,
    },
    /// Date (days since the epoch): numpy ticks of `factor` days.
    Days {
        /// Days per tick.
        factor: i64,
    },
    /// Date from months since 1970-01 (`factor` months per tick).
    Months {
        /// Months per tick.
        factor: i64,
    },
}

impl Target {
    /// For `M8[mult unit]` (`datetime`) or `m8[mult unit]`, or why it is refused.
    pub fn new(unit: TimeUnit, mult: u64, datetime: bool, text: &str) -> Result<Target, String> {
        let mult = i64::try_from(mult).map_err(|_| format!("'{text}': time multiplier too large"))?;
        let ticks = |unit, per: i64| {
            per.checked_mul(mult).map(|factor| Target::Ticks { unit, factor }).ok_or_else(|| format!("'{text}': time multiplier too large"))
        };
        match unit {
            TimeUnit::Nano => ticks(ArrowUnit::Nanosecond, 1),
            TimeUnit::Micro => ticks(ArrowUnit::Microsecond, 1),
            TimeUnit::Milli => ticks(ArrowUnit::Millisecond, 1),
            TimeUnit::Second => ticks(ArrowUnit::Millisecond, 1_000),
            TimeUnit::Minute => ticks(ArrowUnit::Millisecond, 60_000),
            TimeUnit::Hour => ticks(ArrowUnit::Millisecond, 3_600_000),
            TimeUnit::Day if datetime => Ok(Target::Days { factor: mult }),
            TimeUnit::Week if datetime => {
                mult.checked_mul(7).map(|factor| Target::Days { factor }).ok_or_else(|| format!("'{text}': time multiplier too large"))
            }
            TimeUnit::Day => ticks(ArrowUnit::Millisecond, 86_400_000),
            TimeUnit::Week => ticks(ArrowUnit::Millisecond, 604_800_000),
            TimeUnit::Month | TimeUnit::Year if datetime => {
                let per: i64 = if unit == TimeUnit::Year { 12 } else { 1 };
                per.checked_mul(mult).map(|factor| Target::Months { factor }).ok_or_else(|| format!("'{text}': time multiplier too large"))
            }
            TimeUnit::Month | TimeUnit::Year => Err(format!(
                "'{text}': a timedelta in months or years has no fixed length, so no Polars Duration holds it; convert it to days first"
            )),
            TimeUnit::Other(u) => Err(format!("'{text}': the unit '{u}' has no Polars equivalent; convert it to 'ns', 'us' or 'ms' first")),
        }
    }

    /// The Arrow type of the converted values.
    pub fn arrow_type(&self, datetime: bool) -> ArrowDataType {
        match (self, datetime) {
            (Target::Ticks { unit, .. }, true) => ArrowDataType::Timestamp(*unit, None),
            (Target::Ticks { unit, .. }, false) => ArrowDataType::Duration(*unit),
            _ => ArrowDataType::Date32,
        }
    }

    /// Whether the numpy values are already the Polars values (no conversion).
    pub fn is_identity(&self) -> bool {
        matches!(self, Target::Ticks { factor: 1, .. })
    }

    /// Convert in place (NaT stays NaT, to become null); `Err` names the first value out of
    /// range.
    pub fn convert_i64(&self, values: &mut [i64]) -> Result<(), Invalid> {
        let Target::Ticks { factor, .. } = *self else {
            return Err(internal!("date conversion called on ticks"));
        };
        if factor == 1 {
            return Ok(());
        }
        crate::pieces::try_for_each_piece(values, PIECE, |_, piece| {
            // When no product can overflow, a plain multiplication (vectorized); otherwise
            // checked, naming the first value out of range.
            let limit = (i64::MAX as u64 / factor.unsigned_abs().max(1)) as i64;
            if piece.iter().all(|&v| v == NAT || (-limit..=limit).contains(&v)) {
                piece.iter_mut().for_each(|v| *v = if *v == NAT { NAT } else { v.wrapping_mul(factor) });
                return Ok(());
            }
            for v in piece.iter_mut().filter(|v| **v != NAT) {
                *v = v.checked_mul(factor).filter(|&x| x != NAT).ok_or_else(|| out_of_range(*v))?;
            }
            Ok(())
        })
    }

    /// Convert to days since the epoch; NaT becomes 0 (masked by the validity).
    pub fn to_days(self, values: &[i64]) -> Result<Vec<i32>, Invalid> {
        // Days already (`M8[D]`): when every value fits, a plain narrowing (two passes the
        // compiler vectorizes) instead of a checked conversion per value.
        let fits = |v: &i64| *v == NAT || i32::try_from(*v).is_ok();
        if self == (Target::Days { factor: 1 }) && values.iter().all(fits) {
            return Ok(values.iter().map(|&v| if v == NAT { 0 } else { v as i32 }).collect());
        }
        if values.len() < 4 * PIECE {
            return values.iter().map(|&v| self.day(v)).collect();
        }
        THREAD_POOL.install(|| values.par_iter().with_min_len(PIECE).map(|&v| self.day(v)).collect())
    }

    fn day(&self, v: i64) -> Result<i32, Invalid> {
        if v == NAT {
            return Ok(0);
        }
        let days = match *self {
            Target::Days { factor } => v.checked_mul(factor),
            Target::Months { factor } => v.checked_mul(factor).and_then(days_from_months),
            Target::Ticks { .. } => None,
        };
        days.and_then(|d| i32::try_from(d).ok()).ok_or_else(|| out_of_range(v))
    }
}

fn out_of_range(v: i64) -> Invalid {
    invalid!("value {v} is out of the range of the Polars type after conversion")
}

/// Days from 1970-01-01 to the first day of the month `months` after 1970-01.
fn days_from_months(months: i64) -> Option<i64> {
    let year = 1970i64.checked_add(months.div_euclid(12))?;
    let month = months.rem_euclid(12) + 1;
    days_from_civil(year, month, 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if y.abs() > 10_000_000 {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(1969, 12, 1), Some(-31));
        assert_eq!(days_from_months(-1), Some(-31));
        assert_eq!(days_from_months(12 * 30 + 2), days_from_civil(2000, 3, 1));
    }

    #[test]
    fn scaling_and_overflow() {
        let t = Target::new(TimeUnit::Second, 1, true, "<M8[s]").unwrap();
        let mut v = vec![1, NAT, -2];
        t.convert_i64(&mut v).unwrap();
        assert_eq!(v, vec![1000, NAT, -2000]);
        assert!(t.convert_i64(&mut [i64::MAX / 10]).is_err());
        assert!(Target::new(TimeUnit::Month, 1, false, "<m8[M]").is_err());
        let d = Target::new(TimeUnit::Week, 1, true, "<M8[W]").unwrap();
        assert_eq!(d.to_days(&[1, NAT]).unwrap(), vec![7, 0]);
        assert!(d.to_days(&[i64::MAX / 2]).is_err());
    }
}
