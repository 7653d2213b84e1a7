//! What the process learns about members written without a block index, kept while it runs:
//! the seek points of a deflated member ([`super::seek`], recorded when it is first inflated
//! from its start to its end), so that later reads of it start at the point before the bytes
//! they need and inflate it whole span by span in parallel; and the statistics of a column's
//! blocks of rows (computed by the scan layer while a read decodes all of it), so that later
//! filters skip blocks and files as they do in archives written with statistics.
//!
//! Keyed by the archive's identity (a file's device, inode, length and modification time; an
//! object's URL, size and ETag: see `ByteSource::identity`) and the member's place, sizes and
//! CRC-32: an archive changed on disk has another identity, so its old points are never used
//! (they are dropped when the memory budget needs room). Bounded in memory: at most
//! `POLARS_NPZ_LEARNED_BUDGET` bytes (default 64 MiB; 0 turns learning off), least recently
//! used first out; the points of a member hold under 1 % of its size, its statistics about
//! 0.01 % (a block per MiB of values).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::index::{Compression, ZipEntry};
use super::inflate::{known, record};
use super::seek::{Points, SPAN};
use crate::error::Invalid;
use crate::row_stats::ColumnStats;
use crate::source::Source;

/// Members smaller than this are not learned (inflating them whole is quick, and zlib-rs with
/// block stops inflates more slowly than libdeflate).
pub(crate) const MIN_SIZE: u64 = 8 << 20;
/// Members read whole at once are learned from this size on (default; see `inflate_whole`).
const WHOLE_MIN_SIZE: u64 = 64 << 20;

/// The least size of a member that a whole read learns: `POLARS_NPZ_LEARN_WHOLE_MIN` (bytes),
/// else [`WHOLE_MIN_SIZE`].
fn whole_min_size() -> u64 {
    std::env::var("POLARS_NPZ_LEARN_WHOLE_MIN").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(WHOLE_MIN_SIZE)
}

/// The default memory budget.
const DEFAULT_BUDGET: u64 = 64 << 20;

/// One member of one archive as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    identity: String,
    data_start: u64,
    compressed_size: u64,
    size: u64,
    crc32: u32,
}

/// The key of `entry` of `source`, when it is a member worth learning (deflated, no block
/// index, at least [`MIN_SIZE`]) of a source that has an identity, and learning is on.
pub(crate) fn key(source: &Source, entry: &ZipEntry) -> Option<Key> {
    let learnable = entry.compression == Compression::Deflated && !entry.encrypted && entry.blocks.is_none() && entry.size >= MIN_SIZE;
    if !learnable {
        return None;
    }
    identify(source, entry)
}

/// The key under which the statistics of `entry`'s rows are learned: a deflated member
/// without statistics in a block index, of a source that has an identity, while learning is
/// on. (Not stored members: a read of them may hand out views of pages it never touches,
/// which learning would read; and filtering them costs no inflating to skip.)
pub(crate) fn stats_key(source: &Source, entry: &ZipEntry) -> Option<Key> {
    stats_key_of(&source.identity()?, entry)
}

/// [`stats_key`] of a source whose identity is `identity`.
fn stats_key_of(identity: &str, entry: &ZipEntry) -> Option<Key> {
    let learnable =
        entry.compression == Compression::Deflated && !entry.encrypted && entry.blocks.as_ref().is_none_or(|b| b.stats.is_none());
    if !learnable || budget() == 0 {
        return None;
    }
    Some(Key {
        identity: identity.to_string(),
        data_start: entry.data_start,
        compressed_size: entry.compressed_size,
        size: entry.size,
        crc32: entry.crc32,
    })
}

fn identify(source: &Source, entry: &ZipEntry) -> Option<Key> {
    if budget() == 0 {
        return None;
    }
    Some(Key {
        identity: source.identity()?,
        data_start: entry.data_start,
        compressed_size: entry.compressed_size,
        size: entry.size,
        crc32: entry.crc32,
    })
}

/// What is known of one member.
#[derive(Default)]
struct Learned {
    points: Option<Arc<Points>>,
    stats: Option<Arc<ColumnStats>>,
    held: u64,
    used: u64,
}

#[derive(Default)]
struct Cache {
    members: HashMap<Key, Learned>,
    held: u64,
    clock: u64,
    /// Members with statistics learned.
    with_stats: usize,
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner())
}

/// The memory budget in bytes: `POLARS_NPZ_LEARNED_BUDGET` (read once).
pub(crate) fn budget() -> u64 {
    static BUDGET: OnceLock<u64> = OnceLock::new();
    *BUDGET.get_or_init(|| std::env::var("POLARS_NPZ_LEARNED_BUDGET").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_BUDGET))
}

impl Cache {
    fn touch(&mut self, key: &Key) -> Option<&mut Learned> {
        self.clock += 1;
        let clock = self.clock;
        let l = self.members.get_mut(key)?;
        l.used = clock;
        Some(l)
    }

    /// Update `key`'s entry with `f`, then drop the least recently used entries while over
    /// the budget (the one just updated too, if it alone is over).
    fn update(&mut self, key: Key, f: impl FnOnce(&mut Learned)) {
        self.clock += 1;
        let clock = self.clock;
        let l = self.members.entry(key).or_default();
        self.held -= l.held;
        self.with_stats -= usize::from(l.stats.is_some());
        f(l);
        l.held = l.points.as_ref().map_or(0, |p| p.held_bytes()) + l.stats.as_ref().map_or(0, |s| s.held_bytes());
        l.used = clock;
        self.held += l.held;
        self.with_stats += usize::from(l.stats.is_some());
        let budget = budget();
        while self.held > budget {
            let Some(oldest) = self.members.iter().min_by_key(|(_, l)| l.used).map(|(k, _)| k.clone()) else { break };
            self.remove(&oldest);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(l) = self.members.remove(key) {
            self.held -= l.held;
            self.with_stats -= usize::from(l.stats.is_some());
        }
    }
}

/// The learned points of a member.
pub(crate) fn points(key: &Key) -> Option<Arc<Points>> {
    cache().touch(key)?.points.clone()
}

/// Learn a member's points.
pub(crate) fn put_points(key: Key, points: Points) {
    cache().update(key, |l| l.points = Some(Arc::new(points)));
}

/// The learned statistics of a member's rows.
pub(crate) fn stats(key: &Key) -> Option<Arc<ColumnStats>> {
    cache().touch(key)?.stats.clone()
}

/// Whether the statistics of a member's rows are learned (without counting as a use).
pub(crate) fn has_stats(key: &Key) -> bool {
    cache().members.get(key).is_some_and(|l| l.stats.is_some())
}

/// Which of `entries` of `source` have statistics learned, in their order: the source's
/// identity read once, the cache locked once (a scan asks this of every file).
pub(crate) fn stats_learned<'a>(source: &Source, entries: impl ExactSizeIterator<Item = &'a ZipEntry>) -> Vec<bool> {
    let n = entries.len();
    if !any_stats() {
        return vec![false; n];
    }
    let Some(identity) = source.identity() else { return vec![false; n] };
    let c = cache();
    entries.map(|e| stats_key_of(&identity, e).is_some_and(|k| c.members.get(&k).is_some_and(|l| l.stats.is_some()))).collect()
}

/// Whether the statistics of any member are learned.
pub(crate) fn any_stats() -> bool {
    cache().with_stats > 0
}

/// Learn the statistics of a member's rows.
pub(crate) fn put_stats(key: Key, stats: ColumnStats) {
    cache().update(key, |l| l.stats = Some(Arc::new(stats)));
}

/// Drop what is known of a member (a point that did not hold).
pub(crate) fn forget(key: &Key) {
    cache().remove(key);
}

/// Drop everything learned.
pub(crate) fn clear() {
    let mut c = cache();
    c.members.clear();
    c.held = 0;
    c.with_stats = 0;
}

/// Bytes held by what is learned.
pub(crate) fn held_bytes() -> u64 {
    cache().held
}

/// The spans learned for `entry` of `source`, and the blocks of rows whose statistics are
/// learned, for listings.
pub(crate) fn summary(source: &Source, entry: &ZipEntry) -> (Option<usize>, Option<usize>) {
    let c = cache();
    let learned = |key: Option<Key>| key.and_then(|k| c.members.get(&k));
    let spans = learned(key(source, entry)).and_then(|l| l.points.as_ref().map(|p| p.spans()));
    let blocks = learned(stats_key(source, entry)).and_then(|l| l.stats.as_ref().map(|s| s.len()));
    (spans, blocks)
}

/// Inflate a whole member written without blocks, `compressed` (its bytes), into `dst` (of its
/// size): from learned points, span by span in parallel; else, for a member worth learning,
/// by zlib-rs recording points. `None` when neither applies, or the points did not hold (they are
/// then dropped) or recording failed: the caller inflates as usual (and reports what is wrong).
pub(crate) fn inflate_whole(source: &Source, entry: &ZipEntry, compressed: &[u8], dst: &mut [u8]) -> Option<Result<(), Invalid>> {
    let key = key(source, entry)?;
    let points = points(&key);
    if points.is_none() && entry.size < whole_min_size() {
        // A member read whole is inflated by libdeflate, about 1.3x as fast as recording
        // through zlib-rs: only members this large are worth that once (streamed reads, which
        // inflate through a streaming inflater anyway, learn from `MIN_SIZE` on).
        return None;
    }
    if let Some(points) = points {
        return match known::inflate_spans(&points, compressed, dst) {
            Ok(()) => Some(Ok(())),
            Err(_) => {
                forget(&key);
                None
            }
        };
    }
    let points = record::inflate_recording(compressed, dst, SPAN, entry.crc32).ok()?;
    put_points(key, points);
    Some(Ok(()))
}
