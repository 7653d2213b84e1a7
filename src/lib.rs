//! # polars-npz
//!
//! Read NumPy `.npz` archives as Polars DataFrames, lazily: only the members a query touches
//! are read, stored members are memory-mapped (and handed to Polars without a copy when their
//! data is aligned), deflated members are inflated straight into Arrow buffers.
//!
//! ```no_run
//! use polars_npz::NpzArchive;
//!
//! let archive = NpzArchive::open("data.npz")?;
//! println!("{:?}", archive.schema()?);
//! // Two columns, first 1,000 rows.
//! let df = archive.read(Some(&["x", "y"]), Some(1_000))?;
//! // Or batch by batch.
//! for batch in archive.batches(&["x"], None, Some(100_000))? {
//!     let batch = batch?;
//!     println!("{}", batch.height());
//! }
//! # Ok::<(), polars_npz::NpzError>(())
//! ```
//!
//! Layers, lowest first (data flows one way): [`archive`] (zip central directory),
//! [`header`] (`.npy` header, with [`pyliteral`] for its dict), [`dtype`] (numpy -> Arrow
//! types), [`member`] (member bytes: mapping, reads, [`inflate`]), [`arrays`] (bytes -> Arrow
//! arrays, with [`temporal`] and [`strings`] conversions), [`npz`] (Series,
//! DataFrames, batches), and the Python module (feature `python`). All `unsafe` is in [`raw`].

#![warn(missing_docs)]

pub mod align;
pub mod archive;
pub mod arrays;
pub mod dtype;
pub mod error;
pub mod header;
pub mod inflate;
pub mod member;
pub mod npywrite;
pub mod npz;
pub mod pieces;
pub mod pyliteral;
pub mod raw;
pub mod strings;
pub mod temporal;
pub mod writer;
pub mod zipwrite;
#[cfg(feature = "python")]
mod python;

pub use error::{NpzError, Result};
pub use align::{align_npz, AlignOptions};
pub use npywrite::write_npz;
pub use npz::{ArrayMember, BatchReader, Member, NpzArchive, OpenOptions};
