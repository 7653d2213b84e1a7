//! The zip layer: the central directory of an archive read into a table of members, with the
//! file offset of each member's data. Sizes and CRCs come from the central directory (members
//! written to a stream carry data descriptors and zeros in their local headers).

use std::io::{Read, Seek};

use crate::error::{invalid, Invalid};

/// How a member's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Method 0: the bytes as they are.
    Stored,
    /// Method 8: raw deflate.
    Deflated,
    /// Any other method (bzip2, lzma, zstd, ...), which numpy never writes.
    Other(u16),
}

impl Compression {
    /// The name shown to users.
    pub fn name(&self) -> String {
        match self {
            Compression::Stored => "stored".into(),
            Compression::Deflated => "deflated".into(),
            Compression::Other(m) => format!("method {m}"),
        }
    }
}

/// One member of the zip archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The member's name as stored (e.g. `x.npy`).
    pub name: String,
    /// The compression method.
    pub compression: Compression,
    /// Whether the member is encrypted (never readable here).
    pub encrypted: bool,
    /// Size of the stored (compressed) bytes.
    pub compressed_size: u64,
    /// Size once inflated.
    pub size: u64,
    /// CRC-32 of the inflated bytes.
    pub crc32: u32,
    /// File offset of the member's (compressed) data.
    pub data_start: u64,
}

impl ZipEntry {
    /// The byte range of the member's stored data in the file.
    pub fn data_range(&self) -> std::ops::Range<u64> {
        self.data_start..self.data_start + self.compressed_size
    }
}

/// Read the central directory of a zip archive of `file_len` bytes.
///
/// Every member's data range is checked to lie inside the file and not to overlap another's;
/// names must be unique.
pub fn read_index<R: Read + Seek>(reader: R, file_len: u64) -> Result<Vec<ZipEntry>, Invalid> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| invalid!("{e}"))?;
    let cd_start = zip.central_directory_start();
    let mut entries = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| invalid!("member #{i}: {e}"))?;
        let name = match f.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(f.name_raw()).into_owned(),
        };
        // The method number itself: numpy writes 0 and 8, anything else is named in errors.
        #[allow(deprecated)]
        let method = f.compression().to_u16();
        let compression = match method {
            0 => Compression::Stored,
            8 => Compression::Deflated,
            m => Compression::Other(m),
        };
        let data_start = f
            .data_start()
            .ok_or_else(|| invalid!("member '{name}': local header could not be located"))?;
        let entry = ZipEntry {
            compression,
            encrypted: f.encrypted(),
            compressed_size: f.compressed_size(),
            size: f.size(),
            crc32: f.crc32(),
            data_start,
            name,
        };
        let end = entry.data_start.checked_add(entry.compressed_size);
        if end.is_none_or(|end| end > file_len) {
            return Err(invalid!(
                "member '{}': data at offset {} of {} bytes runs past the end of the file ({} bytes)",
                entry.name,
                entry.data_start,
                entry.compressed_size,
                file_len
            ));
        }
        if entry.compression == Compression::Stored && !entry.encrypted && entry.size != entry.compressed_size {
            return Err(invalid!(
                "member '{}': stored member with compressed size {} but size {}",
                entry.name,
                entry.compressed_size,
                entry.size
            ));
        }
        if entry.compression == Compression::Deflated && entry.size > max_inflated_size(entry.compressed_size) {
            return Err(invalid!(
                "member '{}': declares {} bytes inflated from {} compressed bytes, more than deflate can produce",
                entry.name,
                entry.size,
                entry.compressed_size
            ));
        }
        entries.push(entry);
    }
    check_unique_and_disjoint(&entries)?;
    // The zip crate keys members by name, so a repeated name would silently hide one member:
    // count the central directory's records ourselves.
    check_no_repeated_names(zip.into_inner(), cd_start, entries.len())?;
    Ok(entries)
}

/// Walk the central directory's file headers from `start` (at most `limit` + 1 of them) and
/// fail on a name seen twice.
fn check_no_repeated_names<R: Read + Seek>(mut r: R, start: u64, limit: usize) -> Result<(), Invalid> {
    let io = |e: std::io::Error| invalid!("reading the central directory: {e}");
    r.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    let mut r = std::io::BufReader::new(r);
    let mut seen = std::collections::HashSet::with_capacity(limit);
    let mut fixed = [0u8; 46];
    while seen.len() <= limit {
        if r.read_exact(&mut fixed).is_err() || fixed[..4] != [0x50, 0x4b, 0x01, 0x02] {
            break;
        }
        let var = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
        let mut name = vec![0u8; var(28) as usize];
        r.read_exact(&mut name).map_err(io)?;
        r.seek_relative(var(30) as i64 + var(32) as i64).map_err(io)?;
        if !seen.insert(name.clone()) {
            return Err(invalid!("member name '{}' appears more than once", String::from_utf8_lossy(&name)));
        }
    }
    Ok(())
}

/// The most bytes a deflate stream of `compressed` bytes can inflate to (deflate's best ratio
/// is 1032:1), so a declared size above it is a lie and nothing is allocated for it.
pub fn max_inflated_size(compressed: u64) -> u64 {
    compressed.saturating_mul(1032).saturating_add(1024)
}

fn check_unique_and_disjoint(entries: &[ZipEntry]) -> Result<(), Invalid> {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(invalid!("member name '{}' appears more than once", w[0]));
    }
    let mut ranges: Vec<(u64, u64, &str)> = entries
        .iter()
        .filter(|e| e.compressed_size > 0)
        .map(|e| (e.data_start, e.data_start + e.compressed_size, e.name.as_str()))
        .collect();
    ranges.sort_unstable();
    if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        return Err(invalid!("members '{}' and '{}' overlap", w[0].2, w[1].2));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn write_zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, _deflate) in members {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn indexes_members() {
        let bytes = write_zip(&[("a.npy", b"hello", false), ("b.npy", b"world!", false)]);
        let idx = read_index(Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx[0].name, "a.npy");
        assert_eq!(idx[1].size, 6);
        assert_eq!(idx[1].compression, Compression::Stored);
        let r = idx[1].data_range();
        assert_eq!(&bytes[r.start as usize..r.end as usize], b"world!");
        assert_eq!(idx[1].crc32, crc32fast::hash(b"world!"));
    }

    #[test]
    fn refuses_truncated_and_garbage() {
        let bytes = write_zip(&[("a.npy", b"hello", false)]);
        for cut in 0..bytes.len() {
            let _ = read_index(Cursor::new(&bytes[..cut]), cut as u64);
        }
        assert!(read_index(Cursor::new(b"not a zip"), 9).is_err());
        assert!(read_index(Cursor::new(b""), 0).is_err());
    }
}
