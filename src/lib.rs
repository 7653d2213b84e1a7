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
//! println!("{:?}", archive.schema());
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
//! Layers, lowest first; data flows one way and no module imports one that imports it back:
//! - foundations: `error` (the error type), `raw` (every `unsafe` block of the crate),
//!   `pieces` (work in pieces on Polars' pool), `row_stats` (statistics of a column's blocks of
//!   rows, the form filters are judged by);
//! - `source`: byte sources (mapped file, plain file, bytes in memory) behind one trait;
//! - `zip`: the central directory, a member's bytes (inflating), the aligned zip writer;
//! - `npy`: `.npy` headers, the numpy type table, time units (bytes and text only);
//! - `decode`: member bytes to Arrow arrays (views, copies, strings, records, Fortran order);
//! - `scan`: an archive as Polars sees it: schema, heights, batches;
//! - `write`: `.npy` encoding, archive writing, realignment;
//! - `python` (feature `python`): the bindings.

// All `unsafe` lives in `raw` (each block with a `// SAFETY:` line); the compiler refuses it
// anywhere else.
#![deny(unsafe_code)]
#![warn(missing_docs)]
// Crate-internal items that serve the Python bindings alone are unused in a build without them.
#![cfg_attr(not(feature = "python"), allow(dead_code))]

mod decode;
mod error;
mod npy;
mod pieces;
#[cfg(feature = "python")]
mod python;
#[allow(unsafe_code)]
mod raw;
mod row_stats;
mod scan;
mod source;
mod write;
mod zip;

pub use error::{Category, ErrorKind, NpzError, Result};
pub use scan::{BatchReader, DatasetPlan, Member, NpzArchive, OpenOptions};
pub use write::align::{align_npz, AlignOptions};
pub use write::npy::write_npz;

/// The archive URLs that `url` names in an object store: itself, or, for a glob (`*`, `?`,
/// `[...]`, `**`) or a URL ending in `/`, the matching objects (every `.npz` below a `/`),
/// sorted. `storage`: object_store configuration keys.
#[cfg(feature = "cloud")]
pub fn expand_url(url: &str, storage: &[(String, String)]) -> Result<Vec<String>> {
    source::expand_url(url, &source::StoreOptions::new(storage)).map_err(|e| NpzError::io(std::path::Path::new(url), e))
}

/// Entry points for the fuzz targets (not part of the API).
#[doc(hidden)]
pub mod fuzzing {
    /// Read the zip index of `data`.
    pub fn read_index(data: &[u8]) -> bool {
        crate::source::from_bytes(data).is_ok_and(|s| crate::zip::read_index(&*s).is_ok())
    }

    /// Parse `data` as a member's block index; when it parses, walk every block's ranges (which
    /// must lie inside the member it describes). True when it parses.
    pub fn parse_block_index(data: &[u8]) -> bool {
        let Some(index) = crate::zip::blocks::BlockIndex::parse(data) else { return false };
        for b in 0..index.len() {
            let r = index.inflated_range(b);
            assert!(r.start <= r.end && r.end <= index.size, "block {b}: {r:?} outside {}", index.size);
            if let Some(c) = index.compressed_range(b) {
                assert!(c.start < c.end && c.end <= index.compressed_size, "block {b}: {c:?}");
            }
            let _ = index.block_at(r.start);
        }
        true
    }

    /// Parse `data` as a member's carried `.npy` header field; when it parses, its header is
    /// no longer than the member it claims to start. True when it parses.
    pub fn parse_carried_header(data: &[u8]) -> bool {
        let Some(h) = crate::zip::carried::CarriedHeader::parse(data) else { return false };
        assert!(!h.header.is_empty() && h.header.len() as u64 <= h.size);
        true
    }

    /// Parse `data` as a `.npy` header, then its dtype and Arrow type; true when all succeed.
    pub fn parse_header(data: &[u8]) -> bool {
        let Ok(h) = crate::npy::header::parse(data, crate::npy::header::DEFAULT_MAX_HEADER_SIZE) else { return false };
        let Ok(dt) = crate::npy::dtype::NpyDtype::from_descr(&h.descr) else { return false };
        let inner = h.shape.get(1..).unwrap_or(&[]);
        crate::decode::Decoder::new(&dt, inner).is_ok()
    }

    /// Parse `dict` (the text of a header dict) wrapped as a v1 `.npy` header; see
    /// [`parse_header`].
    pub fn parse_header_dict(dict: &str) -> bool {
        parse_header(&crate::npy::header::wrap(1, dict))
    }
}
