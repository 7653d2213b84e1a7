//! The central directory of an archive read into a table of members (by the `zip` crate), with
//! the file offset of each member's data. Sizes and CRCs come from the central directory
//! (members written to a stream carry data descriptors and zeros in their local headers).

use std::sync::Arc;

use super::blocks::{BlockIndex, BLOCKS_ID};
use super::carried::{central_extra_fields, CarriedHeader, HEADER_ID as CARRIED_ID};
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
    pub(crate) blocks: Option<Arc<BlockIndex>>,
    /// The member's `.npy` header as its central-directory entry carries it, when it matches
    /// the member (see [`super::carried`]; the scan layer checks that it parses).
    pub(crate) header: Option<Arc<[u8]>>,
    /// Set when `data_start` was taken from the carried header's record of the local header's
    /// length (a remote archive, whose local headers are then not read when it is opened): the
    /// local header is checked against it before the member's data is first read.
    pub(crate) local: Option<Arc<LocalCheck>>,
}

impl ZipEntry {
    /// The byte range of the member's stored data in the file.
    pub(crate) fn data_range(&self) -> std::ops::Range<u64> {
        self.data_start..self.data_start + self.compressed_size
    }

    /// This entry with its data's start as its local header says, when `data_start` was taken
    /// from the central directory (read once, and checked to keep the member's data before the
    /// next member and the central directory): every read of a member's data starts here. A
    /// local header that disagrees (the archive was changed by another tool that kept our
    /// extra fields) is followed.
    pub(crate) fn resolved(&self, source: &dyn ByteSource) -> Result<std::borrow::Cow<'_, ZipEntry>, Invalid> {
        use std::borrow::Cow;
        let Some(check) = &self.local else { return Ok(Cow::Borrowed(self)) };
        let start = match check.verdict.get() {
            Some(verdict) => verdict.clone(),
            None => {
                let mut fixed = [0u8; 30];
                source.read_exact_at(&mut fixed, check.header_start).map_err(crate::error::read_failed)?;
                check.verdict.get_or_init(|| check.data_start(&fixed, self.compressed_size)).clone()
            }
        }
        .map_err(ErrorKind::Zip)?;
        Ok(if start == self.data_start {
            Cow::Borrowed(self)
        } else {
            Cow::Owned(ZipEntry { data_start: start, local: None, ..self.clone() })
        })
    }
}

/// The local header of a member whose data start was taken from its central-directory entry,
/// and, once read, where it says the data starts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LocalCheck {
    header_start: u64,
    /// Where the next member's local header, or the central directory, starts.
    limit: u64,
    verdict: std::sync::OnceLock<Result<u64, String>>,
}

impl LocalCheck {
    /// The data start the local header `fixed` (its first 30 bytes) gives, for a member of
    /// `compressed` bytes.
    fn data_start(&self, fixed: &[u8; 30], compressed: u64) -> Result<u64, String> {
        let len = |i: usize| u64::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
        if fixed[..4] != *b"PK\x03\x04" {
            return Err(format!("no local header at offset {}", self.header_start));
        }
        let start = self.header_start + 30 + len(26) + len(28);
        if start.saturating_add(compressed) > self.limit {
            return Err(format!("data at offset {start} of {compressed} bytes runs into what follows it (at offset {})", self.limit));
        }
        Ok(start)
    }
}

/// Fetch the local headers of `entries` not read yet (see [`ZipEntry::resolved`]) in one
/// batch, so that checking them costs no further request. From an object of at most
/// [`SMALL_OBJECT`] bytes (opened by its end alone, for a count), the members' data comes in
/// the same request: from their first local header to their last data byte.
pub(crate) fn prefetch_locals<'a>(source: &dyn ByteSource, entries: impl IntoIterator<Item = &'a ZipEntry>) -> Result<(), Invalid> {
    let pending: Vec<(u64, u64)> = entries
        .into_iter()
        .filter_map(|e| e.local.as_ref().filter(|c| c.verdict.get().is_none()).map(|c| (c.header_start, e.data_range().end)))
        .collect();
    let ranges: Vec<_> = match pending.iter().map(|p| p.0).min() {
        Some(first) if source.len() <= SMALL_OBJECT => std::iter::once(first..pending.iter().map(|p| p.1).max().unwrap_or(first)).collect(),
        _ => pending.iter().map(|&(start, _)| start..start + 30).collect(),
    };
    if ranges.len() > 1 || source.len() <= SMALL_OBJECT {
        source.prefetch(&ranges).map_err(crate::error::read_failed)?;
    }
    Ok(())
}

/// Objects of at most this many bytes have their members' data fetched with their local
/// headers (as an object store source reads such objects whole when it may).
const SMALL_OBJECT: u64 = 2 << 20;

/// Bytes fetched ahead at each member's local header of a remote archive, beyond its name:
/// the fixed header, its extra fields (zip64, alignment padding) and the `.npy` header's start.
const LOCAL_HEADER_PREFETCH: u64 = 30 + 4096 + 512;

/// Read the central directory of the zip archive in `source`.
///
/// Every member's data range is checked to lie inside the file and not to overlap another's
/// or the central directory; names must be unique. A member whose entry carries its `.npy`
/// header (archives written by this package) needs no read of its local header from a remote
/// source: opening such an archive reads its central directory alone.
pub(crate) fn read_index(source: &dyn ByteSource) -> Result<Vec<ZipEntry>, Invalid> {
    let file_len = source.len();
    let mut zip = zip::ZipArchive::new(WindowReader::new(source)).map_err(|e| zip_err!("{e}"))?;
    // The zip crate keys members by name, so a repeated name would silently hide one member.
    if zip.has_duplicate_names() {
        return Err(zip_err!("a member name appears more than once in the central directory"));
    }
    let cd_start = zip.central_directory_start().min(file_len);
    // The central directory's bytes, for our extra fields (the zip crate reads them from a
    // member's local header on; from memory for a remote archive whose end was read at open).
    let cd = crate::source::read_vec(source, cd_start, file_len - cd_start).map_err(|e| zip_err!("reading the central directory: {e}"))?;
    let mut entries = Vec::with_capacity(zip.len());
    let mut starts = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip.by_index_data(i).map_err(|e| zip_err!("member #{i}: {e}"))?;
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
        let fields =
            usize::try_from(f.central_header_start().wrapping_sub(cd_start)).map(|at| central_extra_fields(&cd, at)).unwrap_or_default();
        let field = |id: u16| fields.iter().find(|(i, _)| *i == id).map(|(_, d)| *d);
        let entry = ZipEntry {
            name,
            compression,
            encrypted: f.encrypted(),
            compressed_size: f.compressed_size(),
            size: f.size(),
            crc32: f.crc32(),
            data_start: 0,
            blocks: None,
            header: None,
            local: None,
        };
        let readable = !entry.encrypted && matches!(entry.compression, Compression::Stored | Compression::Deflated);
        // An index is followed only when it was written for this member's bytes, and, for a
        // deflated member, says where its blocks start.
        let blocks = field(BLOCKS_ID).and_then(BlockIndex::parse).filter(|b| {
            readable
                && b.matches(entry.crc32, entry.compressed_size, entry.size)
                && (b.offsets.is_some() == (entry.compression == Compression::Deflated))
        });
        // A carried header likewise, and it ends where the block index says the data starts.
        let carried = field(CARRIED_ID).and_then(CarriedHeader::parse).filter(|h| {
            readable
                && h.matches(entry.crc32, entry.compressed_size, entry.size)
                && blocks.as_ref().is_none_or(|b| b.data_offset == h.header.len() as u64)
        });
        // From an object store, the data start the carried header records is taken as it is
        // (and checked before the data is read); otherwise the local header is read.
        let local = carried.as_ref().filter(|_| source.is_remote()).and_then(|h| f.header_start().checked_add(u64::from(h.local_len)));
        let header_start = f.header_start();
        entries.push(ZipEntry {
            data_start: local.unwrap_or(0),
            blocks: blocks.map(Arc::new),
            header: carried.map(|h| h.header.into()),
            local: local.map(|_| Arc::new(LocalCheck { header_start, limit: 0, verdict: Default::default() })),
            ..entry
        });
        starts.push(header_start);
    }
    // What follows each member whose local header is not read: the next local header, or the
    // central directory.
    starts.sort_unstable();
    for e in &mut entries {
        if let Some(check) = e.local.as_mut().and_then(Arc::get_mut) {
            let next = starts.partition_point(|&s| s <= check.header_start);
            check.limit = starts.get(next).copied().unwrap_or(u64::MAX).min(zip.central_directory_start());
        }
    }
    let unread: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].local.is_none()).collect();
    if source.is_remote() && !unread.is_empty() {
        // Each member's local header (its length is known only once read) and the start of
        // its `.npy` header, all in one batch of requests instead of one per member.
        let ranges: Vec<_> = unread
            .iter()
            .filter_map(|&i| zip.by_index_data(i).ok())
            .map(|e| e.header_start()..e.header_start().saturating_add(LOCAL_HEADER_PREFETCH + e.name_raw().len() as u64))
            .collect();
        source.prefetch(&ranges).map_err(|e| zip_err!("reading the local headers: {e}"))?;
    }
    for i in unread {
        let f = zip.by_index_raw(i).map_err(|e| zip_err!("member #{i}: {e}"))?;
        let entry = &mut entries[i];
        entry.data_start = f.data_start().ok_or_else(|| zip_err!("member '{}': local header could not be located", entry.name))?;
    }
    for entry in &entries {
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
    }
    if let Some(what) = overlapping(&entries, zip.central_directory_start()) {
        return Err(zip_err!("members overlap: {what}"));
    }
    Ok(entries)
}

/// Whether members' data overlaps, or runs into the central directory at `cd_start`, as the
/// zip crate judges it (members of no bytes aside): what overlaps, for the message.
fn overlapping(entries: &[ZipEntry], cd_start: u64) -> Option<String> {
    let mut ranges: Vec<(u64, u64, &str)> = entries
        .iter()
        .filter(|e| e.compressed_size > 0)
        .map(|e| (e.data_start, e.data_start + e.compressed_size, e.name.as_str()))
        .collect();
    ranges.sort_unstable();
    if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
        return Some(format!("'{}' and '{}'", w[0].2, w[1].2));
    }
    ranges.iter().any(|r| r.1 > cd_start).then(|| "a member's data runs into the central directory".to_string())
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

    /// Our writer's members carry their header; a header too large to carry beside a block
    /// index in the entry's extra fields is left out, and the member still reads.
    #[test]
    fn carried_headers_are_bound_to_their_members() {
        let mut w = crate::zip::writer::ZipWriter::new(Cursor::new(Vec::new()));
        let (header, data) = (b"HEADER--".to_vec(), b"0123456789".to_vec());
        let member = [header.as_slice(), data.as_slice()].concat();
        w.add("a.npy", 0, crc32fast::hash(&member), member.len() as u64, &member, 64, header.len()).unwrap();
        w.set_header(&header);
        let huge = vec![b' '; 65_535 - 28 - 4 - 36 + 1];
        let member = [huge.as_slice(), data.as_slice()].concat();
        w.add("b.npy", 0, crc32fast::hash(&member), member.len() as u64, &member, 64, huge.len()).unwrap();
        w.set_header(&huge);
        let bytes = w.finish().unwrap().into_inner();
        let idx = read_index(&*crate::source::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(idx[0].header.as_deref(), Some(header.as_slice()));
        assert_eq!(idx[1].header, None);
        assert!(idx.iter().all(|e| e.local.is_none()), "local sources read their local headers");
        let r = idx[1].data_range();
        assert_eq!(&bytes[r.start as usize..r.end as usize], member.as_slice());
        // The same field on a member of other bytes (its CRC-32 differs) is ignored.
        let at = bytes.windows(4).position(|w| w == b"NPZH").unwrap();
        let mut other = bytes.clone();
        other[at + 8] ^= 1;
        let idx = read_index(&*crate::source::from_bytes(&other).unwrap()).unwrap();
        assert_eq!(idx[0].header, None);
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
