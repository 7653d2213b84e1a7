//! The scan layer: an archive as Polars sees it ([`archive`]: members, schema, heights),
//! readers of selected columns batch by batch ([`batches`]), statistics learned while they
//! read all of a column (`learn_stats`), several archives read as one (`many`: statistics
//! across files, a group of files read in one call), and those batches as Arrow struct
//! arrays (`arrow_out`, for the Python module's Arrow stream and for feature `arrow`) and as
//! arrow-rs record batches (`arrow_rs`, feature `arrow`); a member's bytes read whole by its
//! zip name ([`member_bytes`], for the numpy-style loader).

pub(crate) mod archive;
#[cfg(any(feature = "python", feature = "arrow"))]
pub(crate) mod arrow_out;
#[cfg(feature = "arrow")]
pub(crate) mod arrow_rs;
pub(crate) mod batches;
mod learn_stats;
pub(crate) mod many;
pub(crate) mod member_bytes;
pub(crate) mod plan;

pub use archive::{Member, NpzArchive, OpenOptions};
pub use batches::BatchReader;
pub use plan::DatasetPlan;
