//! Archive bytes held in memory: copied once into an anonymous mapping, so that columns can
//! borrow them as they borrow a mapped file.

use super::{ByteSource, Mapping};

/// Bytes in memory.
#[derive(Debug)]
pub(crate) struct Memory {
    map: Mapping,
    len: u64,
}

impl Memory {
    pub(crate) fn new(bytes: &[u8]) -> std::io::Result<Memory> {
        let mut map = memmap2::MmapMut::map_anon(bytes.len().max(1))?;
        map[..bytes.len()].copy_from_slice(bytes);
        Ok(Memory { map: std::sync::Arc::new(map.make_read_only()?), len: bytes.len() as u64 })
    }
}

impl ByteSource for Memory {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s as u64 <= self.len);
        let range = start.and_then(|s| Some(s..s.checked_add(buf.len()).filter(|&e| e as u64 <= self.len)?));
        let range = range.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end of the bytes"))?;
        buf.copy_from_slice(&self.map[range]);
        Ok(())
    }

    fn mapping(&self) -> Option<&Mapping> {
        Some(&self.map)
    }
}
