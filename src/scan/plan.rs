//! A dataset plan: the files of one scan, each archive's zip index and `.npy` headers read
//! once (local files in parallel on Polars' pool, objects of a store concurrently) and kept,
//! so that counting, checking schemas, grouping and reading all reuse what was read. A local
//! file's plan holds no descriptor: it is reopened for its data, its index not read again,
//! and refused if it changed meanwhile. The first file alone stays open from planning to
//! reading (as a single archive always has: a scan reads the file it opened, even if it is
//! replaced by a rename meanwhile).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

use super::archive::{NpzArchive, OpenOptions};
use crate::error::{NpzError, Result};

/// Objects of a store indexed at once by default (each a couple of ranged requests).
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) const DEFAULT_CONCURRENCY: usize = 32;

/// The files of one scan and what was read of each.
#[derive(Debug)]
pub struct DatasetPlan {
    files: Vec<PlannedFile>,
    options: OpenOptions,
    /// The storage options, with the environment's store settings read once for the plan.
    #[cfg(feature = "cloud")]
    storage: crate::source::StoreOptions,
    concurrency: usize,
    /// Bytes of small objects this plan may still read whole when indexing them (kept in
    /// memory for their data reads).
    #[cfg_attr(not(feature = "cloud"), allow(dead_code))]
    whole_budget: std::sync::atomic::AtomicU64,
}

/// Bytes of small objects one plan reads whole at most (see `Remote::open`).
const WHOLE_BUDGET: u64 = 256 << 20;

#[derive(Debug)]
struct PlannedFile {
    /// The path or URL as the user gave it (hive values and file-path columns come from it).
    name: String,
    /// Its zip index and headers once read: detached from the file for a local archive (see
    /// [`NpzArchive::detached`]), with its source for an object (which holds no descriptor);
    /// and a local file's modification time then (a reopened file must still have it).
    archive: OnceLock<(Arc<NpzArchive>, Option<SystemTime>)>,
    /// Whether the archive keeps its source open (objects, and the first file).
    live: bool,
    /// Held while the file is being indexed: another reader of it waits instead of reading it
    /// a second time.
    opening: std::sync::Mutex<()>,
}

/// Forget the objects' indexes kept across plans (the next plan of each reads it again).
pub fn clear_cache() {
    #[cfg(feature = "cloud")]
    cache::clear();
}

/// Whether `path` names an object in a store (`s3://`, `https://`, ...), not a local file.
pub fn is_url(path: &str) -> bool {
    match path.split_once("://") {
        Some((scheme, _)) => !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) && scheme != "file",
        None => false,
    }
}

/// A local path without a `file://` prefix.
fn local_path(path: &str) -> &Path {
    Path::new(path.strip_prefix("file://").unwrap_or(path))
}

impl DatasetPlan {
    /// A plan of `files` (paths or object-store URLs, in the dataset's order); nothing is
    /// read until [`index`](Self::index) or a read asks for it. `storage`: object_store
    /// configuration keys; `concurrency`: objects indexed at once.
    pub fn new(files: Vec<String>, options: OpenOptions, storage: Vec<(String, String)>, concurrency: usize) -> DatasetPlan {
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, name)| PlannedFile { live: i == 0 || is_url(&name), name, archive: OnceLock::new(), opening: Default::default() })
            .collect();
        #[cfg(feature = "cloud")]
        let storage = crate::source::StoreOptions::new(&storage);
        #[cfg(not(feature = "cloud"))]
        let _ = storage;
        DatasetPlan {
            files,
            options,
            #[cfg(feature = "cloud")]
            storage,
            concurrency: concurrency.max(1),
            whole_budget: WHOLE_BUDGET.into(),
        }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the plan has no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The path or URL of file `i`, as given.
    pub fn name(&self, i: usize) -> &str {
        &self.files[i].name
    }

    /// Whether file `i` is an object in a store.
    pub fn is_remote(&self, i: usize) -> bool {
        is_url(&self.files[i].name)
    }

    /// Read the zip index and headers of the files `which` not read yet: local files in
    /// parallel, objects at most `concurrency` at once. Every file that could be read is
    /// kept; the first failure (in `which`'s order) is returned, naming its file.
    pub fn index(&self, which: &[usize]) -> Result<()> {
        self.index_with(which, true)
    }

    /// As [`index`](Self::index); small objects are read whole when opened only when `whole`.
    fn index_with(&self, which: &[usize], whole: bool) -> Result<()> {
        let todo: Vec<usize> = which.iter().copied().filter(|&i| self.files[i].archive.get().is_none()).collect();
        let (remote, local): (Vec<usize>, Vec<usize>) = todo.iter().partition(|&&i| self.is_remote(i));
        let mut results: Vec<(usize, Result<()>)> = Vec::with_capacity(todo.len());
        if !local.is_empty() {
            let read = || local.par_iter().map(|&i| (i, self.index_one(i, true))).collect::<Vec<_>>();
            results.extend(if local.len() > 1 { THREAD_POOL.install(read) } else { read() });
        }
        if !remote.is_empty() {
            results.extend(self.index_concurrently(&remote, whole));
        }
        // The failure of the earliest file in `which`'s order (only failures are ordered).
        let mut errors: Vec<(usize, NpzError)> = results.into_iter().filter_map(|(i, r)| r.err().map(|e| (i, e))).collect();
        errors.sort_by_key(|(i, _)| todo.iter().position(|j| j == i));
        match errors.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Objects of `which` indexed by at most `concurrency` threads (each open waits on the
    /// network; the remote layer bounds requests in flight per object).
    fn index_concurrently(&self, which: &[usize], whole: bool) -> Vec<(usize, Result<()>)> {
        let next = AtomicUsize::new(0);
        let workers = self.concurrency.min(which.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        while let Some(&i) = which.get(next.fetch_add(1, Ordering::Relaxed)) {
                            out.push((i, self.index_one(i, whole)));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    }

    fn index_one(&self, i: usize, whole: bool) -> Result<()> {
        let file = &self.files[i];
        if file.archive.get().is_some() {
            return Ok(());
        }
        let _opening = file.opening.lock().unwrap_or_else(|p| p.into_inner());
        if file.archive.get().is_some() {
            return Ok(());
        }
        let planned = if self.is_remote(i) {
            (self.open_remote(&file.name, whole)?, None)
        } else if file.live {
            NpzArchive::open_modified(local_path(&file.name), &self.options)?
        } else {
            // Positioned reads, not a mapping: for the few bytes of the index and headers a
            // mapping's setup and teardown cost more.
            let opts = OpenOptions { memory_map: false, ..self.options.clone() };
            let (archive, modified) = NpzArchive::open_modified(local_path(&file.name), &opts)?;
            (archive.detached(), modified)
        };
        let _ = file.archive.set((Arc::new(planned.0), planned.1));
        Ok(())
    }

    /// An object's index and headers: from the plan cache when the latest listing gives the
    /// size and ETag it was read with (no request), else read (the whole object in one
    /// request when it is small and the plan's budget allows).
    #[cfg(feature = "cloud")]
    fn open_remote(&self, url: &str, whole: bool) -> Result<NpzArchive> {
        let key = cache::key(url, self.storage.given(), &self.options);
        if let Some((size, Some(e_tag))) = crate::source::listed(url, &self.storage) {
            if let Some(archive) = cache::get(&key, size, &e_tag) {
                return Ok(archive);
            }
        }
        let take_whole = |size: u64| {
            whole && self.whole_budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(size)).is_ok()
        };
        let archive = NpzArchive::open_url_within(url, &self.storage, &self.options, &take_whole)?;
        cache::put(key, &archive);
        Ok(archive)
    }

    #[cfg(not(feature = "cloud"))]
    fn open_remote(&self, url: &str, whole: bool) -> Result<NpzArchive> {
        let _ = whole;
        Err(NpzError::request(Path::new(url), "object-store URLs need the `cloud` feature of polars-npz".to_string()))
    }

    /// File `i`'s index and headers, if read (its data cannot be read through it: see
    /// [`open`](Self::open)).
    pub fn indexed(&self, i: usize) -> Option<&Arc<NpzArchive>> {
        self.files[i].archive.get().map(|(a, _)| a)
    }

    /// File `i` ready for reading its data. A local file indexed before is reopened (mapped
    /// as the options say) over the index already read; one not indexed yet is opened once,
    /// for its index and its data.
    pub fn open(&self, i: usize) -> Result<Arc<NpzArchive>> {
        let file = &self.files[i];
        if file.archive.get().is_none() && !self.is_remote(i) {
            let _opening = file.opening.lock().unwrap_or_else(|p| p.into_inner());
            if file.archive.get().is_some() {
                drop(_opening);
                return self.open(i);
            }
            let (archive, modified) = NpzArchive::open_modified(local_path(&file.name), &self.options)?;
            let archive = Arc::new(archive);
            let kept = if file.live { archive.clone() } else { Arc::new(archive.detached()) };
            let _ = file.archive.set((kept, modified));
            return Ok(archive);
        }
        self.index(&[i])?;
        let (planned, modified) =
            file.archive.get().ok_or_else(|| NpzError::internal(self.name(i).as_ref(), "a planned file has no index"))?;
        if file.live {
            return Ok(planned.clone());
        }
        planned.reopened(self.options.memory_map, *modified).map(Arc::new)
    }

    /// Files `which` ready for reading their data (see [`open`](Self::open)): objects not
    /// indexed yet are indexed concurrently first, together with the objects that follow them
    /// (up to `concurrency` in all: the next readers' round trips overlap this one's; a
    /// following object that fails is left for its own reader to report), local files opened
    /// in parallel.
    pub fn open_many(&self, which: &[usize]) -> Result<Vec<Arc<NpzArchive>>> {
        self.index_ahead(which, true)?;
        if which.len() > 1 {
            THREAD_POOL.install(|| which.par_iter().map(|&i| self.open(i)).collect())
        } else {
            which.iter().map(|&i| self.open(i)).collect()
        }
    }

    /// Objects of `which` not indexed yet, indexed concurrently together with the objects that
    /// follow them (up to `concurrency` in all: the next readers' round trips overlap this
    /// one's; a following object that fails is left for its own reader to report); small
    /// objects read whole when `whole`.
    fn index_ahead(&self, which: &[usize], whole: bool) -> Result<()> {
        let remote: Vec<usize> = which.iter().copied().filter(|&i| self.is_remote(i) && self.indexed(i).is_none()).collect();
        if let Some(&last) = remote.last() {
            let ahead = (last + 1..self.files.len())
                .filter(|&i| self.is_remote(i) && self.indexed(i).is_none())
                .take(self.concurrency.saturating_sub(remote.len()));
            let mut batch = remote.clone();
            batch.extend(ahead);
            // Errors of the objects asked for only.
            let _ = self.index_with(&batch, whole);
            self.index_with(&remote, whole)?;
        }
        Ok(())
    }

    /// Files `which` indexed for their rows and schemas alone (a count; see
    /// [`index_ahead`](Self::index_ahead)). When the first file carries every `.npy` header in
    /// its central directory (archives written by this package), objects are opened by their
    /// central directory alone (one request), not read whole: their data, if a later query
    /// reads it, is then read in ranges. Local files are indexed as by [`index`](Self::index).
    pub fn index_heights(&self, which: &[usize]) -> Result<()> {
        let whole = !self.indexed(0).is_some_and(|a| a.carries_headers());
        self.index_ahead(which, whole)?;
        self.index(which)
    }

    /// Whether every file is indexed and has file 0's schema (columns, types, order).
    pub fn uniform_schema(&self) -> bool {
        let Some(first) = self.indexed(0) else { return false };
        let schema = first.schema();
        self.files.iter().all(|f| f.archive.get().is_some_and(|(a, _)| a.schema() == schema))
    }

    /// Bytes (inflated) of the members with block statistics (written or learned) of the files
    /// indexed so far, `(deflated, stored)`, and whether any file is not counted: not indexed
    /// yet, or an object of a store.
    pub fn statistics_bytes(&self) -> (u64, u64, bool) {
        let mut out = (0, 0, false);
        for (i, f) in self.files.iter().enumerate() {
            match f.archive.get() {
                Some((a, _)) => {
                    let (deflated, stored) = a.statistics_bytes();
                    out.0 += deflated;
                    out.1 += stored;
                    out.2 |= self.is_remote(i) && deflated + stored > 0;
                }
                None => out.2 = true,
            }
        }
        out
    }

    /// Each file's rows and bytes of array data once inflated, when every file is indexed and
    /// none is ragged (arrays of different lengths: its rows depend on the columns read).
    pub fn counts(&self) -> Option<Vec<(u64, u64)>> {
        self.files
            .iter()
            .map(|f| f.archive.get().filter(|(a, _)| !a.is_ragged()).map(|(a, _)| (a.height(), a.array_bytes(|_| true))))
            .collect()
    }

    /// Runs of consecutive local files of one directory, each at most `max_files` files and
    /// `max_bytes` bytes (of array data once inflated where indexed, else on disk; a larger
    /// file is a run of its own). Objects of a store are each a run of their own.
    pub fn groups(&self, max_files: usize, max_bytes: u64) -> Vec<Range<usize>> {
        let mut groups = Vec::new();
        let mut start = 0;
        let mut size = 0u64;
        let mut folder: Option<PathBuf> = None;
        for i in 0..self.files.len() {
            let remote = self.is_remote(i);
            let bytes = match self.indexed(i) {
                Some(a) => a.array_bytes(|_| true),
                None if remote => max_bytes,
                None => std::fs::metadata(local_path(self.name(i))).map_or(max_bytes, |m| m.len()),
            };
            let dir = local_path(self.name(i)).parent().map(Path::to_path_buf);
            let full = i - start >= max_files || size.saturating_add(bytes) > max_bytes;
            if i > start && (remote || self.is_remote(start) || dir != folder || full) {
                groups.push(start..i);
                start = i;
                size = 0;
            }
            size = size.saturating_add(bytes);
            folder = dir;
        }
        if start < self.files.len() {
            groups.push(start..self.files.len());
        }
        groups
    }
}

/// Objects' indexes and headers kept across the plans of one process, by URL (with the store
/// options and open options), each with the size and ETag it was read at: a later plan whose
/// listing gives the same size and ETag reuses it without a request; any other version is read
/// anew. Bounded by entries and by the bytes the objects hold in memory; oldest out first.
#[cfg(feature = "cloud")]
mod cache {
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Mutex, OnceLock};

    use super::{NpzArchive, OpenOptions};

    const MAX_ENTRIES: usize = 4096;
    const MAX_BYTES: u64 = 256 << 20;

    #[derive(Default)]
    struct Cache {
        entries: HashMap<String, (u64, String, NpzArchive, u64)>,
        order: VecDeque<String>,
        bytes: u64,
    }

    fn cache() -> &'static Mutex<Cache> {
        static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
        CACHE.get_or_init(Default::default)
    }

    pub(super) fn key(url: &str, storage: &[(String, String)], options: &OpenOptions) -> String {
        format!("{url}\0{storage:?}\0{}\0{}", options.max_header_size, options.verify_checksums)
    }

    pub(crate) fn clear() {
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        *cache = Cache::default();
    }

    pub(super) fn get(key: &str, size: u64, e_tag: &str) -> Option<NpzArchive> {
        let cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        cache.entries.get(key).filter(|(s, e, _, _)| *s == size && e == e_tag).map(|(_, _, a, _)| a.clone())
    }

    pub(super) fn put(key: String, archive: &NpzArchive) {
        let Some((size, Some(e_tag))) = archive.source().version() else { return };
        let held = archive.source().held_bytes();
        if held > MAX_BYTES {
            return;
        }
        let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, _, old)) = cache.entries.remove(&key) {
            cache.bytes -= old;
            cache.order.retain(|k| *k != key);
        }
        while cache.entries.len() >= MAX_ENTRIES || cache.bytes + held > MAX_BYTES {
            let Some(oldest) = cache.order.pop_front() else { break };
            if let Some((_, _, _, b)) = cache.entries.remove(&oldest) {
                cache.bytes -= b;
            }
        }
        cache.bytes += held;
        cache.order.push_back(key.clone());
        cache.entries.insert(key, (size, e_tag, archive.clone(), held));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(dir: &Path, name: &str, rows: usize) -> String {
        let path = dir.join(name);
        let df = polars_core::df!("x" => (0..rows as i64).collect::<Vec<_>>()).unwrap();
        crate::write_npz(&df, &path, false, 64).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn indexes_once_counts_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![archive(dir.path(), "a.npz", 3), archive(dir.path(), "b.npz", 5)];
        let plan = DatasetPlan::new(files.clone(), OpenOptions::default(), vec![], 4);
        assert!(plan.counts().is_none());
        plan.index(&[0, 1]).unwrap();
        let counts = plan.counts().unwrap();
        assert_eq!(counts.iter().map(|c| c.0).collect::<Vec<_>>(), vec![3, 5]);
        // The planned archive holds no open file; a reopened one reads.
        assert!(plan.indexed(1).unwrap().read(None, None).is_err());
        let df = plan.open(1).unwrap().read(None, None).unwrap();
        assert_eq!(df.height(), 5);
        // The index is shared, not read again; the first file stays open.
        assert!(std::ptr::eq(plan.indexed(1).unwrap().members().as_ptr(), plan.open(1).unwrap().members().as_ptr()));
        assert!(plan.indexed(0).unwrap().read(None, None).is_ok());
        // A file that changed length since it was planned is refused, naming it.
        archive(dir.path(), "b.npz", 50);
        let err = plan.open(1).unwrap_err().to_string();
        assert!(err.contains("b.npz") && err.contains("changed"), "{err}");
    }

    #[test]
    fn failures_name_the_first_file_and_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let good = archive(dir.path(), "a.npz", 3);
        let bad = dir.path().join("bad.npz");
        std::fs::write(&bad, b"not a zip").unwrap();
        let plan = DatasetPlan::new(vec![bad.to_string_lossy().into_owned(), good], OpenOptions::default(), vec![], 4);
        let err = plan.index(&[0, 1]).unwrap_err().to_string();
        assert!(err.contains("bad.npz"), "{err}");
        assert!(plan.indexed(1).is_some() && plan.indexed(0).is_none());
        assert!(plan.counts().is_none());
    }

    #[test]
    fn groups_by_folder_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("p=1")).unwrap();
        let mut files: Vec<String> = (0..5).map(|k| archive(dir.path(), &format!("{k}.npz"), 10)).collect();
        files.push(archive(&dir.path().join("p=1"), "z.npz", 10));
        let plan = DatasetPlan::new(files, OpenOptions::default(), vec![], 4);
        plan.index(&(0..6).collect::<Vec<_>>()).unwrap();
        assert_eq!(plan.groups(2, u64::MAX), vec![0..2, 2..4, 4..5, 5..6]);
        assert_eq!(plan.groups(64, u64::MAX), vec![0..5, 5..6]);
        let one = plan.indexed(0).unwrap().array_bytes(|_| true);
        assert_eq!(plan.groups(64, one * 3), vec![0..3, 3..5, 5..6]);
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("s3://b/k.npz") && is_url("https://h/x") && !is_url("file:///tmp/x") && !is_url("/tmp/a://b") && !is_url("x.npz"));
    }
}
