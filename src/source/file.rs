//! Local files: mapped (columns borrow the mapping) or read with positioned reads.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::SystemTime;

use super::{ByteSource, Mapping};

/// A file mapped read-only, shared by every column read from it. Reads (copies, the index,
/// inflater input) still go through the file: positioned reads copy straight from the page
/// cache, where copying from the mapping would first fault each page into this process.
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: Mapping,
    file: File,
    len: u64,
    modified: Option<SystemTime>,
}

impl MappedFile {
    pub(crate) fn new(file: File, len: u64, modified: Option<SystemTime>) -> std::io::Result<MappedFile> {
        let map = crate::raw::map_file(&file)?;
        Ok(MappedFile { map: std::sync::Arc::new(map), file, len, modified })
    }
}

impl ByteSource for MappedFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        read_in_file(&self.file, self.len, buf, offset)
    }

    fn mapping(&self) -> Option<&Mapping> {
        Some(&self.map)
    }

    fn check_unchanged(&self) -> std::io::Result<()> {
        unchanged(&self.file, self.len, self.modified)
    }

    fn identity(&self) -> Option<String> {
        identity(&self.file, self.len, self.modified)
    }
}

/// A file read with positioned reads into owned memory (`memory_map=False`).
#[derive(Debug)]
pub(crate) struct PlainFile {
    file: File,
    len: u64,
    modified: Option<SystemTime>,
}

impl PlainFile {
    pub(crate) fn new(file: File, len: u64, modified: Option<SystemTime>) -> PlainFile {
        PlainFile { file, len, modified }
    }
}

impl ByteSource for PlainFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        read_in_file(&self.file, self.len, buf, offset)
    }

    fn check_unchanged(&self) -> std::io::Result<()> {
        unchanged(&self.file, self.len, self.modified)
    }

    fn identity(&self) -> Option<String> {
        identity(&self.file, self.len, self.modified)
    }
}

/// An error when the open file (the same inode: a file replaced by a rename is still the old
/// one here) no longer has the length and modification time it had when it was opened: it was
/// rewritten in place, and its bytes are no longer those the archive's index describes.
fn unchanged(file: &File, len: u64, modified: Option<SystemTime>) -> std::io::Result<()> {
    let meta = file.metadata()?;
    if meta.len() != len || meta.modified().ok() != modified {
        let msg = format!("the file changed since it was scanned ({len} bytes then, {} now); scan it again", meta.len());
        return Err(std::io::Error::other(msg));
    }
    Ok(())
}

/// The open file's device and inode with the length and modification time it had when opened
/// (a file rewritten since has another time, and reads of it are refused anyway).
fn identity(file: &File, len: u64, modified: Option<SystemTime>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let t = modified?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some(format!("file:{}:{}:{len}:{}.{:09}", meta.dev(), meta.ino(), t.as_secs(), t.subsec_nanos()))
}

/// A positioned read that refuses ranges past the length seen at open (a file that shrank
/// since then gives `UnexpectedEof` from the read itself).
fn read_in_file(file: &File, len: u64, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    if offset.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end of the file"));
    }
    file.read_exact_at(buf, offset)
}
