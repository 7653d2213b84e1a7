//! A small zip writer for archives whose member data starts where we say: every member gets a
//! zip64 extra field (as `np.savez` writes) and, for alignment, a padding extra field (id
//! 0xD935, as Android's zipalign uses), so numpy and any zip reader load it unchanged.

use std::io::{Seek, Write};

/// Extra-field id of the alignment padding.
const PADDING_ID: u16 = 0xD935;

struct CdEntry {
    name: Vec<u8>,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    /// Extra fields of the central-directory entry besides zip64: the block index, then the
    /// carried `.npy` header.
    blocks: Vec<u8>,
    header: Vec<u8>,
    /// Bytes of the local header (the data starts this far after `offset`).
    local_len: u32,
}

impl CdEntry {
    /// The extra fields after zip64 (whose field is 28 bytes): the block index, and the
    /// carried header when both fit in the entry's 65,535 bytes of extra fields.
    fn extra(&self) -> Vec<u8> {
        let with_header = 28 + self.blocks.len() + self.header.len() <= u16::MAX as usize;
        [&self.blocks[..], if with_header { &self.header[..] } else { &[] }].concat()
    }
}

/// Writes members one after another, then the central directory.
pub(crate) struct ZipWriter<W: Write + Seek> {
    out: W,
    pos: u64,
    entries: Vec<CdEntry>,
}

impl<W: Write + Seek> ZipWriter<W> {
    /// A writer at the start of `out`.
    pub(crate) fn new(out: W) -> ZipWriter<W> {
        ZipWriter { out, pos: 0, entries: Vec::new() }
    }

    /// Write one member: `data` as stored in the zip (already deflated for method 8), with
    /// `size` and `crc` of its uncompressed bytes. The local header is padded so that the byte
    /// `inner_offset` of `data` lands at a file offset that is a multiple of `align`.
    // The zip entry's own fields, one argument each: a struct would only repeat them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        name: &str,
        method: u16,
        crc: u32,
        size: u64,
        data: &[u8],
        align: usize,
        inner_offset: usize,
    ) -> std::io::Result<()> {
        self.add_parts(name, method, crc, size, &[data], align, inner_offset)
    }

    /// A member of `method` whose stored bytes are `header` then `len` bytes streamed from
    /// `data` (the array data aligned, for a stored member).
    #[cfg(feature = "python")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_file(
        &mut self,
        name: &str,
        method: u16,
        crc: u32,
        size: u64,
        header: &[u8],
        data: &std::fs::File,
        len: u64,
        align: usize,
    ) -> std::io::Result<()> {
        self.local_header(name, method, crc, size, header.len() as u64 + len, align, header.len())?;
        self.out.write_all(header)?;
        copy_through(data, |chunk| self.out.write_all(chunk))?;
        self.pos += header.len() as u64 + len;
        Ok(())
    }

    /// A stored member: `header`, then the `len` bytes `write` writes (the array data, aligned).
    #[cfg(feature = "python")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_with(
        &mut self,
        name: &str,
        crc: u32,
        size: u64,
        header: &[u8],
        len: u64,
        align: usize,
        write: impl FnOnce(&mut W) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.local_header(name, 0, crc, size, header.len() as u64 + len, align, header.len())?;
        self.out.write_all(header)?;
        write(&mut self.out)?;
        self.pos += header.len() as u64 + len;
        Ok(())
    }

    /// As [`ZipWriter::add`], with the member's bytes given in consecutive parts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_parts(
        &mut self,
        name: &str,
        method: u16,
        crc: u32,
        size: u64,
        parts: &[&[u8]],
        align: usize,
        inner_offset: usize,
    ) -> std::io::Result<()> {
        let data_len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        self.local_header(name, method, crc, size, data_len, align, inner_offset)?;
        for p in parts {
            self.out.write_all(p)?;
        }
        self.pos += data_len;
        Ok(())
    }

    /// Write a local header (padded so that byte `inner_offset` of the member's data lands on
    /// a multiple of `align`) and record the member for the central directory.
    #[allow(clippy::too_many_arguments)]
    fn local_header(
        &mut self,
        name: &str,
        method: u16,
        crc: u32,
        size: u64,
        compressed: u64,
        align: usize,
        inner_offset: usize,
    ) -> std::io::Result<()> {
        let name_bytes = name.as_bytes().to_vec();
        let name_len = u16::try_from(name_bytes.len()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("member name of {} bytes is longer than a zip archive allows (65,535 bytes)", name_bytes.len()),
            )
        })?;
        let fixed = 30 + name_bytes.len() as u64 + 20 + 4;
        let align = align.max(1) as u64;
        let pad = (align - (self.pos + fixed + inner_offset as u64) % align) % align;
        let mut h = Vec::with_capacity(fixed as usize + pad as usize);
        h.extend(0x0403_4b50u32.to_le_bytes());
        h.extend(45u16.to_le_bytes()); // version needed: zip64
        h.extend(0x0800u16.to_le_bytes()); // UTF-8 names
        h.extend(method.to_le_bytes());
        h.extend(0u16.to_le_bytes()); // time
        h.extend(0x0021u16.to_le_bytes()); // date: 1980-01-01
        h.extend(crc.to_le_bytes());
        h.extend(u32::MAX.to_le_bytes()); // sizes in the zip64 field
        h.extend(u32::MAX.to_le_bytes());
        h.extend(name_len.to_le_bytes());
        h.extend((20 + 4 + pad as u16).to_le_bytes());
        h.extend(&name_bytes);
        h.extend(1u16.to_le_bytes());
        h.extend(16u16.to_le_bytes());
        h.extend(size.to_le_bytes());
        h.extend(compressed.to_le_bytes());
        h.extend(PADDING_ID.to_le_bytes());
        h.extend((pad as u16).to_le_bytes());
        h.resize(h.len() + pad as usize, 0);
        self.out.write_all(&h)?;
        let local_len = u32::try_from(h.len()).expect("a local header is at most 30 + 3 x 65,535 bytes");
        self.entries.push(CdEntry {
            name: name_bytes,
            method,
            crc,
            compressed,
            size,
            offset: self.pos,
            blocks: Vec::new(),
            header: Vec::new(),
            local_len,
        });
        self.pos += h.len() as u64;
        Ok(())
    }

    /// Give the member written last a block index (an extra field of its central-directory
    /// entry only); an index too large for an extra field is left out, and so is a stored
    /// member's without statistics (it would tell a reader nothing).
    pub(crate) fn set_blocks(&mut self, index: &crate::zip::blocks::BlockIndex) {
        if index.offsets.is_none() && index.stats.is_none() {
            return;
        }
        let data = index.encode();
        let (Some(e), Ok(len)) = (self.entries.last_mut(), u16::try_from(data.len())) else { return };
        if data.len() > crate::zip::blocks::MAX_INDEX_BYTES {
            return;
        }
        e.blocks = Vec::with_capacity(4 + data.len());
        e.blocks.extend(crate::zip::blocks::BLOCKS_ID.to_le_bytes());
        e.blocks.extend(len.to_le_bytes());
        e.blocks.extend(data);
    }

    /// Give the member written last its `.npy` header (its first bytes) in its central-directory
    /// entry (see [`crate::zip::carried`]); a header that does not fit beside the entry's other
    /// extra fields is left out (and read from the member's data).
    pub(crate) fn set_header(&mut self, header: &[u8]) {
        let Some(e) = self.entries.last_mut() else { return };
        if header.is_empty() || header.len() as u64 > e.size {
            return;
        }
        let carried = crate::zip::carried::CarriedHeader {
            crc32: e.crc,
            compressed_size: e.compressed,
            size: e.size,
            local_len: e.local_len,
            header: header.to_vec(),
        };
        let data = carried.encode();
        let Ok(len) = u16::try_from(data.len()) else { return };
        e.header = Vec::with_capacity(4 + data.len());
        e.header.extend(crate::zip::carried::HEADER_ID.to_le_bytes());
        e.header.extend(len.to_le_bytes());
        e.header.extend(data);
    }

    /// Write the central directory and the (zip64) end records; returns the output.
    /// An archive without members is only the plain end record, as `zipfile` (and so
    /// `np.savez()`) writes it: numpy tells a zip by its first four bytes, a local header's or
    /// that record's, and refuses a file that starts with a zip64 record.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        if self.entries.is_empty() {
            let mut end = Vec::with_capacity(22);
            end.extend(0x0605_4b50u32.to_le_bytes());
            end.resize(22, 0); // disks, counts, sizes, offset and comment length: all zero
            self.out.write_all(&end)?;
            self.out.flush()?;
            return Ok(self.out);
        }
        let cd_start = self.pos;
        let mut cd = Vec::new();
        for e in &self.entries {
            let extra = e.extra();
            cd.extend(0x0201_4b50u32.to_le_bytes());
            cd.extend((45u16 | (3 << 8)).to_le_bytes()); // made by: unix, zip64
            cd.extend(45u16.to_le_bytes());
            cd.extend(0x0800u16.to_le_bytes());
            cd.extend(e.method.to_le_bytes());
            cd.extend(0u16.to_le_bytes());
            cd.extend(0x0021u16.to_le_bytes());
            cd.extend(e.crc.to_le_bytes());
            cd.extend(u32::MAX.to_le_bytes());
            cd.extend(u32::MAX.to_le_bytes());
            cd.extend((e.name.len() as u16).to_le_bytes()); // checked when the member was added
            cd.extend((28 + extra.len() as u16).to_le_bytes()); // extra: zip64 with sizes and offset, then ours
            cd.extend(0u16.to_le_bytes()); // comment
            cd.extend(0u16.to_le_bytes()); // disk
            cd.extend(0u16.to_le_bytes()); // internal attributes
            cd.extend((0o100644u32 << 16).to_le_bytes()); // external: a regular file
            cd.extend(u32::MAX.to_le_bytes()); // offset in the zip64 field
            cd.extend(&e.name);
            cd.extend(1u16.to_le_bytes());
            cd.extend(24u16.to_le_bytes());
            cd.extend(e.size.to_le_bytes());
            cd.extend(e.compressed.to_le_bytes());
            cd.extend(e.offset.to_le_bytes());
            cd.extend(&extra);
        }
        let n = self.entries.len() as u64;
        let eocd64 = cd_start + cd.len() as u64;
        cd.extend(0x0606_4b50u32.to_le_bytes());
        cd.extend(44u64.to_le_bytes());
        cd.extend(45u16.to_le_bytes());
        cd.extend(45u16.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(n.to_le_bytes());
        cd.extend(n.to_le_bytes());
        cd.extend((eocd64 - cd_start).to_le_bytes());
        cd.extend(cd_start.to_le_bytes());
        cd.extend(0x0706_4b50u32.to_le_bytes());
        cd.extend(0u32.to_le_bytes());
        cd.extend(eocd64.to_le_bytes());
        cd.extend(1u32.to_le_bytes());
        cd.extend(0x0605_4b50u32.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        cd.extend((n.min(0xFFFF) as u16).to_le_bytes());
        cd.extend((n.min(0xFFFF) as u16).to_le_bytes());
        cd.extend(((eocd64 - cd_start).min(u32::MAX as u64) as u32).to_le_bytes());
        cd.extend(u32::MAX.to_le_bytes());
        cd.extend(0u16.to_le_bytes());
        self.out.write_all(&cd)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Call `f` on the bytes of `file`, 1 MiB at a time.
#[cfg(feature = "python")]
pub(crate) fn copy_through(file: &std::fs::File, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    loop {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            return Ok(());
        }
        f(&buf[..n])?;
        at += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_longer_than_zip_allows() {
        let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let long = "x".repeat(65_536);
        let err = w.add(&long, 0, 0, 1, b"a", 1, 0).unwrap_err();
        assert!(err.to_string().contains("65,535"), "{err}");
        let ok = "y".repeat(65_535);
        w.add(&ok, 0, crc32fast::hash(b"a"), 1, b"a", 1, 0).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(z.file_names().next().unwrap().unwrap().len(), 65_535);
    }

    /// No members: the 22 bytes of a plain end record (what `zipfile` writes), no zip64.
    #[test]
    fn an_empty_archive_is_the_plain_end_record() {
        let bytes = ZipWriter::new(std::io::Cursor::new(Vec::new())).finish().unwrap().into_inner();
        let mut expected = b"PK\x05\x06".to_vec();
        expected.resize(22, 0);
        assert_eq!(bytes, expected);
        assert_eq!(zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap().len(), 0);
    }
}
