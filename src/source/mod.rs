//! Byte sources: the layer under everything. Every read of archive bytes goes through
//! [`ByteSource`]: positioned reads of `len` bytes at `offset` (safe from many threads at
//! once), batches of ranges (which a source where each read costs a round trip merges and
//! fetches concurrently), and, for a local memory mapping only, the mapping itself, which
//! zero-copy columns borrow. The zip index, the headers and the member decoders above never
//! know which source they read.

mod file;
mod memory;
#[cfg(feature = "cloud")]
mod remote;
mod view;
mod window;

use std::ops::Range;
use std::sync::Arc;

pub(crate) use file::{MappedFile, PlainFile};
pub(crate) use memory::Memory;
#[cfg(all(feature = "cloud", feature = "python"))]
pub(crate) use remote::upload_file;
#[cfg(feature = "cloud")]
pub(crate) use remote::{expand as expand_url, listed, Remote, StoreOptions};
#[cfg(all(feature = "cloud", feature = "python"))]
pub(crate) use remote::{BYTES_FETCHED, REQUESTS};
pub(crate) use view::{BackedRange, Backing};
pub(crate) use window::WindowReader;

/// A memory mapping shared by every column that borrows from it.
pub(crate) type Mapping = Arc<memmap2::Mmap>;

/// Where an archive's bytes come from.
pub(crate) trait ByteSource: Send + Sync + std::fmt::Debug {
    /// Length in bytes.
    fn len(&self) -> u64;

    /// Fill `buf` with the bytes at `offset`; an error if they run past the end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;

    /// The bytes of each range, in order. Sources where a read costs a round trip override
    /// this to merge nearby ranges and fetch them concurrently.
    fn read_ranges(&self, ranges: &[Range<u64>]) -> std::io::Result<Vec<Vec<u8>>> {
        ranges
            .iter()
            .map(|r| {
                let len = usize::try_from(r.end.saturating_sub(r.start)).map_err(|_| std::io::Error::other("range too large"))?;
                let mut v = vec![0u8; len];
                self.read_exact_at(&mut v, r.start)?;
                Ok(v)
            })
            .collect()
    }

    /// The whole source as one memory mapping, when it is one (a mapped file, bytes in
    /// memory): columns then borrow its pages instead of copying them.
    fn mapping(&self) -> Option<&Mapping> {
        None
    }

    /// Whether each read costs a round trip (an object store): readers then fetch larger
    /// pieces at a time.
    fn is_remote(&self) -> bool {
        false
    }

    /// Bytes of the source held in memory (an object's parts read already), for caches.
    fn held_bytes(&self) -> u64 {
        0
    }

    /// The size and ETag of an object of a store, as read when it was opened.
    fn version(&self) -> Option<(u64, Option<String>)> {
        None
    }

    /// What identifies these bytes for as long as they stay the same (a local file's device,
    /// inode, length and modification time; an object's URL, size and ETag), for what is
    /// learned about them while the process runs; `None` when nothing does (bytes in memory,
    /// an object without an ETag).
    fn identity(&self) -> Option<String> {
        None
    }

    /// An error when the source's bytes may no longer be those it had when it was opened (a
    /// local file rewritten in place); reads check it before they start.
    fn check_unchanged(&self) -> std::io::Result<()> {
        Ok(())
    }

    /// Fetch `ranges` now, in one batch, so that later reads inside them cost no round trip
    /// (remote sources; a no-op for local ones).
    fn prefetch(&self, ranges: &[Range<u64>]) -> std::io::Result<()> {
        let _ = ranges;
        Ok(())
    }
}

/// A shared byte source.
pub(crate) type Source = Arc<dyn ByteSource>;

/// Open the file at `path`: mapped when `memory_map` is true (and the file is not empty),
/// otherwise read with positioned reads.
pub(crate) fn open_file(path: &std::path::Path, memory_map: bool) -> std::io::Result<Source> {
    open_file_modified(path, memory_map).map(|(source, _)| source)
}

/// As [`open_file`], with the file's modification time when the system gives one (from the
/// same open, so it is the time of the bytes read).
pub(crate) fn open_file_modified(path: &std::path::Path, memory_map: bool) -> std::io::Result<(Source, Option<std::time::SystemTime>)> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let len = meta.len();
    let modified = meta.modified().ok();
    let source: Source =
        if memory_map && len > 0 { Arc::new(MappedFile::new(file, len, modified)?) } else { Arc::new(PlainFile::new(file, len, modified)) };
    Ok((source, modified))
}

/// Bytes held in memory (copied once into an anonymous mapping, so columns can borrow them).
pub(crate) fn from_bytes(bytes: &[u8]) -> std::io::Result<Source> {
    Ok(Arc::new(Memory::new(bytes)?))
}

/// The object at `url` in an object store (`s3://`, `gs://`, `az://`, `http(s)://`, ...).
#[cfg(feature = "cloud")]
pub(crate) fn open_url(url: &str, options: &StoreOptions, take_whole: &dyn Fn(u64) -> bool) -> std::io::Result<Source> {
    Ok(Arc::new(Remote::open(url, options, take_whole)?))
}

/// A source that is no longer open: its length and identity (what the process learned of the
/// file is found by it), and an error for every read. What a dataset plan keeps of a local
/// file between planning and reading (see `NpzArchive::detached`).
#[derive(Debug)]
struct Closed(u64, Option<String>);

impl ByteSource for Closed {
    fn len(&self) -> u64 {
        self.0
    }

    fn identity(&self) -> Option<String> {
        self.1.clone()
    }

    fn read_exact_at(&self, _buf: &mut [u8], _offset: u64) -> std::io::Result<()> {
        Err(std::io::Error::other("internal error: a planned archive was read without being reopened"))
    }
}

/// A closed source of `len` bytes that had `identity` when open (see [`Closed`]).
pub(crate) fn closed(len: u64, identity: Option<String>) -> Source {
    Arc::new(Closed(len, identity))
}

/// Read `len` bytes at `start` into a new vector.
pub(crate) fn read_vec(source: &dyn ByteSource, start: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("range too large"))?;
    let mut v = vec![0u8; len];
    source.read_exact_at(&mut v, start)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Every source gives the same bytes for the same reads, and refuses reads past the end.
    #[test]
    fn sources_agree() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let sources: Vec<Source> =
            vec![open_file(f.path(), true).unwrap(), open_file(f.path(), false).unwrap(), from_bytes(&data).unwrap()];
        for s in &sources {
            assert_eq!(s.len(), data.len() as u64);
            let mut buf = vec![0u8; 777];
            s.read_exact_at(&mut buf, 12_345).unwrap();
            assert_eq!(buf, &data[12_345..12_345 + 777]);
            assert!(s.read_exact_at(&mut buf, data.len() as u64 - 10).is_err());
            let got = s.read_ranges(&[0..10, 99_990..100_000, 5..5]).unwrap();
            assert_eq!(got, vec![data[..10].to_vec(), data[99_990..].to_vec(), vec![]]);
        }
        assert!(sources[0].mapping().is_some());
        assert!(sources[1].mapping().is_none());
        assert_eq!(&sources[2].mapping().unwrap()[..data.len()], &data[..]);
    }
}
