//! The central directory of an archive read into a table of members (by the `zip` crate), with
//! the file offset of each member's data. Sizes and CRCs come from the central directory
//! (members written to a stream carry data descriptors and zeros in their local headers).

use super::blocks::{BlockIndex, BLOCKS_ID};
use crate::error::{ErrorKind, Invalid};
use crate::source::{ByteSource, WindowReader};

macro_rules! zip_err {
    ($($arg:tt)*) => { ErrorKind::Zip(format!($($arg)*)) };
}

/// How a member's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// Method 0: the bytes as they are.
    Stored,
    /// Method 8: raw deflate.
    Deflated,
    /// Any other method (bzip2, lzma, zstd, ...), which numpy never writes.
    Other(u16),
}

impl Compression {
    /// The name shown to users.
    pub(crate) fn name(&self) -> String {
        match self {
            Compression::Stored => "stored".into(),
            Compression::Deflated => "deflated".into(),
            Compression::Other(m) => format!("method {m}"),
        }
    }
}

/// One member of the zip archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipEntry {
    /// The member's name as stored (e.g. `x.npy`).
    pub(crate) name: String,
    /// The compression method.
    pub(crate) compression: Compression,
    /// Whether the member is encrypted (never readable here).
    pub(crate) encrypted: bool,
    /// Size of the stored (compressed) bytes.
    pub(crate) compressed_size: u64,
    /// Size once inflated.
    pub(crate) size: u64,
    /// CRC-32 of the inflated bytes.
    pub(crate) crc32: u32,
    /// File offset of the member's (compressed) data.
    pub(crate) data_start: u64,
    /// The member's block index, when it has one that matches it (see [`super::blocks`]).
    pub(crate) blocks: Option<std::sync::Arc<BlockIndex>>,
}

impl ZipEntry {
    /// The byte range of the member's stored data in the file.
    pub(crate) fn data_range(&self) -> std::ops::Range<u64> {
        self.data_start..self.data_start + self.compressed_size
    }
}

/// Bytes fetched ahead at each member's local header of a remote archive, beyond its name:
/// the fixed header, its extra fields (zip64, alignment padding) and the `.npy` header's start.
const LOCAL_HEADER_PREFETCH: u64 = 30 + 4096 + 512;

/// Read the central directory of the zip archive in `source`.
///
/// Every member's data range is checked to lie inside the file and not to overlap another's
/// or the central directory; names must be unique.
pub(crate) fn read_index(source: &dyn ByteSource) -> Result<Vec<ZipEntry>, Invalid> {
    let file_len = source.len();
    let mut zip = zip::ZipArchive::new(WindowReader::new(source)).map_err(|e| zip_err!("{e}"))?;
    // The zip crate keys members by name, so a repeated name would silently hide one member.
    if zip.has_duplicate_names() {
        return Err(zip_err!("a member name appears more than once in the central directory"));
    }
    if source.is_remote() {
        // Each member's local header (its length is known only once read) and the start of
        // its `.npy` header, all in one batch of requests instead of one per member.
        let ranges: Vec<_> = (0..zip.len())
            .filter_map(|i| zip.by_index_data(i).ok())
            .map(|e| e.header_start()..e.header_start().saturating_add(LOCAL_HEADER_PREFETCH + e.name_raw().len() as u64))
            .collect();
        source.prefetch(&ranges).map_err(|e| zip_err!("reading the local headers: {e}"))?;
    }
    let mut entries = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| zip_err!("member #{i}: {e}"))?;
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
        let data_start = f.data_start().ok_or_else(|| zip_err!("member '{name}': local header could not be located"))?;
        let blocks = f.extra_data_fields().find_map(|field| match field {
            zip::extra_fields::ExtraField::Custom(c) if c.header_id == BLOCKS_ID => BlockIndex::parse(&c.data),
            _ => None,
        });
        let mut entry = ZipEntry {
            blocks: None,
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
            return Err(zip_err!(
                "member '{}': data at offset {} of {} bytes runs past the end of the file ({} bytes)",
                entry.name,
                entry.data_start,
                entry.compressed_size,
                file_len
            ));
        }
        if entry.compression == Compression::Stored && !entry.encrypted && entry.size != entry.compressed_size {
            return Err(zip_err!(
                "member '{}': stored member with compressed size {} but size {}",
                entry.name,
                entry.compressed_size,
                entry.size
            ));
        }
        if entry.compression == Compression::Deflated && entry.size > max_inflated_size(entry.compressed_size) {
            return Err(zip_err!(
                "member '{}': declares {} bytes inflated from {} compressed bytes, more than deflate can produce",
                entry.name,
                entry.size,
                entry.compressed_size
            ));
        }
        // An index is followed only when it was written for this member's bytes, and, for a
        // deflated member, says where its blocks start.
        entry.blocks = blocks
            .filter(|b| {
                b.matches(entry.crc32, entry.compressed_size, entry.size)
                    && (b.offsets.is_some() == (entry.compression == Compression::Deflated))
            })
            .filter(|_| !entry.encrypted && matches!(entry.compression, Compression::Stored | Compression::Deflated))
            .map(std::sync::Arc::new);
        entries.push(entry);
    }
    if zip.has_overlapping_files().map_err(|e| zip_err!("{e}"))? {
        return Err(zip_err!(
            "members overlap: {}",
            overlapping(&entries).unwrap_or_else(|| "a member's data runs into the central directory".into())
        ));
    }
    Ok(entries)
}

/// Names of two members whose data overlaps (for the message; the zip crate only says yes).
fn overlapping(entries: &[ZipEntry]) -> Option<String> {
    let mut ranges: Vec<(u64, u64, &str)> = entries
        .iter()
        .filter(|e| e.compressed_size > 0)
        .map(|e| (e.data_start, e.data_start + e.compressed_size, e.name.as_str()))
        .collect();
    ranges.sort_unstable();
    ranges.windows(2).find(|w| w[1].0 < w[0].1).map(|w| format!("'{}' and '{}'", w[0].2, w[1].2))
}

/// The most bytes a deflate stream of `compressed` bytes can inflate to (deflate's best ratio
/// is 1032:1), so a declared size above it is a lie and nothing is allocated for it.
pub(crate) fn max_inflated_size(compressed: u64) -> u64 {
    compressed.saturating_mul(1032).saturating_add(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn write_zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, _deflate) in members {
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn indexes_members() {
        let bytes = write_zip(&[("a.npy", b"hello", false), ("b.npy", b"world!", false)]);
        let idx = read_index(&*crate::source::from_bytes(&bytes).unwrap()).unwrap();
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
        let read = |b: &[u8]| read_index(&*crate::source::from_bytes(b).unwrap());
        for cut in 0..bytes.len() {
            let _ = read(&bytes[..cut]);
        }
        assert!(read(b"not a zip").is_err());
        assert!(read(b"").is_err());
    }
}
