//! Every inflation of deflate data in the zip layer, and every check of a CRC-32; the rest of
//! the layer picks the bytes and calls this module. Which inflater does what:
//!
//! - [`known`]: libdeflate, when the output size is known (a whole member, a block of a member
//!   written in blocks, a span from a learned seek point): the fastest, all at once;
//! - [`stream`]: zlib-rs, streaming with guaranteed progress, compressed bytes fetched as
//!   needed: a member read on as far as its reader needs;
//! - [`record`]: zlib-rs through zlib's C API, stopping at the end of each deflate block to record seek points (see
//!   [`super::seek`]) on the way: only while learning a member's points;
//! - [`crc`]: the CRC-32 of what is inflated, and the one check of it.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) mod crc;
pub(crate) mod known;
pub(crate) mod record;
pub(crate) mod stream;

pub(crate) use stream::{inflate_prefix, Inflater};

/// Inflated bytes produced by every inflation: whole members, blocks, spans from seek points,
/// the streaming inflater (tests check what a read inflates).
pub(crate) static INFLATED: AtomicU64 = AtomicU64::new(0);

/// Count `n` bytes inflated.
pub(crate) fn count_inflated(n: usize) {
    INFLATED.fetch_add(n as u64, Ordering::Relaxed);
}
