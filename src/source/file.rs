//! Local files: mapped (columns borrow the mapping) or read with positioned reads.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{ByteSource, Mapping};

/// A file mapped read-only, shared by every column read from it. Reads (copies, the index,
/// inflater input) still go through the file: positioned reads copy straight from the page
/// cache, where copying from the mapping would first fault each page into this process.
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: Mapping,
    file: File,
    len: u64,
}

impl MappedFile {
    pub(crate) fn new(file: File, len: u64) -> std::io::Result<MappedFile> {
        let map = crate::raw::map_file(&file)?;
        Ok(MappedFile { map: std::sync::Arc::new(map), file, len })
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
}

/// A file read with positioned reads into owned memory (`memory_map=False`).
#[derive(Debug)]
pub(crate) struct PlainFile {
    file: File,
    len: u64,
}

impl PlainFile {
    pub(crate) fn new(file: File, len: u64) -> PlainFile {
        PlainFile { file, len }
    }
}

impl ByteSource for PlainFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        read_in_file(&self.file, self.len, buf, offset)
    }
}

/// A positioned read that refuses ranges past the length seen at open (a file that shrank
/// since then gives `UnexpectedEof` from the read itself).
fn read_in_file(file: &File, len: u64, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    if offset.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end of the file"));
    }
    file.read_exact_at(buf, offset)
}
