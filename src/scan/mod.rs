//! The scan layer: an archive as Polars sees it ([`archive`]: members, schema, heights) and
//! readers of selected columns batch by batch ([`batches`]).

pub(crate) mod archive;
pub(crate) mod batches;

pub use archive::{Member, NpzArchive, OpenOptions};
pub use batches::BatchReader;
