//! Member bytes: where a member's bytes come from. The archive file is opened and mapped here,
//! once; stored members are ranges of the shared mapping (or positioned reads when mapping is
//! off); deflated members are inflated on demand, never past their declared size, and their
//! CRC-32 is checked once the whole member has been inflated.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use crate::archive::{Compression, ZipEntry};
use crate::error::{invalid, Invalid};
use crate::inflate::Inflater;
use crate::pieces::{for_each_piece, try_for_each_piece};

/// The bytes of an archive file: one shared memory map, or the open file.
#[derive(Debug, Clone)]
pub enum Source {
    /// The whole file mapped read-only, shared by every column read from it; and the open
    /// file (none for bytes held in memory), from which deflated members stream their input
    /// so that inflating batch by batch does not fault the whole compressed file into memory.
    Mapped(Arc<Mmap>, Option<Arc<File>>),
    /// The open file, read with positioned reads into owned memory.
    File(Arc<File>),
}

impl Source {
    /// Open `path`, mapping it when `memory_map` is true (and the file is not empty).
    pub fn open(path: &Path, memory_map: bool) -> std::io::Result<(Source, u64)> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if memory_map && len > 0 {
            let map = crate::raw::map_file(&file)?;
            Ok((Source::Mapped(Arc::new(map), Some(Arc::new(file))), len))
        } else {
            Ok((Source::File(Arc::new(file)), len))
        }
    }

    /// Archive bytes held in memory (an anonymous mapping holding a copy of `bytes`).
    pub fn from_bytes(bytes: &[u8]) -> std::io::Result<(Source, u64)> {
        let mut map = memmap2::MmapMut::map_anon(bytes.len().max(1))?;
        map[..bytes.len()].copy_from_slice(bytes);
        let map = map.make_read_only()?;
        Ok((Source::Mapped(Arc::new(map), None), bytes.len() as u64))
    }

    /// A copy of `len` bytes at `start` (checked against the archive by the caller's index).
    pub fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, Invalid> {
        let mut v = vec![0u8; usize::try_from(len).map_err(|_| invalid!("range too large"))?];
        self.reader(start, len).read_exact(&mut v).map_err(|e| invalid!("read failed: {e}"))?;
        Ok(v)
    }

    /// The address range of the mapping, if mapped (for zero-copy diagnostics).
    pub fn mapping_range(&self) -> Option<(usize, usize)> {
        match self {
            Source::Mapped(m, _) => Some((m.as_ptr() as usize, m.len())),
            Source::File(_) => None,
        }
    }

    fn reader(&self, start: u64, len: u64) -> RangeReader {
        RangeReader { source: self.clone(), pos: start, end: start + len }
    }
}

/// Check a stored member's CRC-32 against the central directory (reads every byte).
pub fn verify_stored(source: &Source, entry: &ZipEntry) -> Result<(), Invalid> {
    if entry.compression != Compression::Stored {
        return Ok(());
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut reader = source.reader(entry.data_start, entry.compressed_size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| invalid!("read failed: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got = hasher.finalize();
    if got != entry.crc32 {
        return Err(invalid!("CRC-32 mismatch: computed {got:08x}, archive says {:08x}", entry.crc32));
    }
    Ok(())
}

/// Memory that ranges handed to Arrow buffers point into.
#[derive(Debug, Clone)]
pub enum Backing {
    /// The shared mapping of the archive file.
    Map(Arc<Mmap>),
    /// A whole member inflated into 8-byte-aligned heap memory.
    Heap(Arc<Vec<u64>>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Heap(v) => bytemuck::cast_slice(v.as_slice()),
        }
    }
}

/// A range of the shared mapping (or of a wholly inflated member).
#[derive(Debug, Clone)]
pub struct MappedRange {
    /// The memory.
    pub backing: Backing,
    /// Start offset.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl MappedRange {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.backing.bytes()[self.start..self.start + self.len]
    }
}

/// Reads a file through a window of 8 KiB: seeks inside the window, and reads of the bytes
/// it holds, cost no system call (reading a zip index seeks to every member's local header,
/// which in an archive of small members lie close together).
pub struct WindowReader<'a> {
    file: &'a File,
    len: u64,
    pos: u64,
    /// File offset of `buf[0]`.
    start: u64,
    buf: Vec<u8>,
}

impl<'a> WindowReader<'a> {
    const WINDOW: usize = 8 * 1024;

    /// A reader of `file`, `len` bytes long.
    pub fn new(file: &'a File, len: u64) -> WindowReader<'a> {
        WindowReader { file, len, pos: 0, start: 0, buf: Vec::new() }
    }
}

impl Read for WindowReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let in_window = self.pos >= self.start && self.pos < self.start + self.buf.len() as u64;
        if !in_window {
            if self.pos >= self.len {
                return Ok(0);
            }
            if out.len() >= Self::WINDOW {
                let n = self.file.read_at(out, self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            let n = (self.len - self.pos).min(Self::WINDOW as u64) as usize;
            self.buf.resize(n, 0);
            self.file.read_exact_at(&mut self.buf, self.pos)?;
            self.start = self.pos;
        }
        let at = (self.pos - self.start) as usize;
        let n = out.len().min(self.buf.len() - at);
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for WindowReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start of the file"))?;
        Ok(self.pos)
    }
}

/// Reads a byte range of the source sequentially.
struct RangeReader {
    source: Source,
    pos: u64,
    end: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.end - self.pos) as usize;
        if n == 0 {
            return Ok(0);
        }
        let n = match &self.source {
            Source::Mapped(m, _) => {
                let s = self.pos as usize;
                buf[..n].copy_from_slice(&m[s..s + n]);
                n
            }
            Source::File(f) => f.read_at(&mut buf[..n], self.pos)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// A sequential reader of one member's uncompressed bytes.
pub struct MemberReader {
    kind: ReaderKind,
    /// Uncompressed bytes handed out so far.
    pos: u64,
    /// Uncompressed size of the member.
    size: u64,
}

enum ReaderKind {
    Stored { source: Source, data_start: u64 },
    /// A deflated member inflated whole (CRC checked) into heap memory.
    Inflated { buf: Backing },
    /// A deflated member to be inflated whole on its first read (so that readers created
    /// together inflate later, in parallel, and only if read).
    PendingWhole { source: Source, entry: Box<ZipEntry> },
    Deflated { inflater: Box<Inflater>, crc: crc32fast::Hasher, expected_crc: u32 },
}

impl MemberReader {
    /// A reader positioned at the start of `entry`'s uncompressed bytes. The entry's range has
    /// been checked against the file by the archive layer.
    pub fn new(source: &Source, entry: &ZipEntry) -> Result<MemberReader, Invalid> {
        if entry.encrypted {
            return Err(invalid!("member is encrypted; encrypted archives are not supported"));
        }
        let kind = match entry.compression {
            Compression::Stored => ReaderKind::Stored { source: source.clone(), data_start: entry.data_start },
            Compression::Deflated => ReaderKind::Deflated {
                inflater: Box::new(Inflater::new(source.clone(), entry.data_start, entry.compressed_size)),
                crc: crc32fast::Hasher::new(),
                expected_crc: entry.crc32,
            },
            Compression::Other(m) => {
                return Err(invalid!(
                    "compression method {m} is not supported (numpy writes only stored and deflated members)"
                ))
            }
        };
        Ok(MemberReader { kind, pos: 0, size: entry.size })
    }

    /// A reader over the whole member, inflated at once on its first read (libdeflate, output
    /// size known) into aligned memory that the columns then point into; for stored members,
    /// the usual reader.
    pub fn new_whole(source: &Source, entry: &ZipEntry) -> Result<MemberReader, Invalid> {
        if entry.compression != Compression::Deflated || entry.encrypted {
            return Self::new(source, entry);
        }
        let kind = ReaderKind::PendingWhole { source: source.clone(), entry: Box::new(entry.clone()) };
        Ok(MemberReader { kind, pos: 0, size: entry.size })
    }

    /// Inflate a pending whole member now.
    fn materialize(&mut self) -> Result<(), Invalid> {
        if let ReaderKind::PendingWhole { source, entry } = &self.kind {
            let buf = inflate_whole(source, entry)?;
            self.kind = ReaderKind::Inflated { buf };
        }
        Ok(())
    }

    /// Bytes not yet handed out.
    pub fn remaining(&self) -> u64 {
        self.size - self.pos
    }

    /// The memory holding this member's bytes (the shared mapping, or the wholly inflated
    /// member) and the offset of its next byte there; `None` when its bytes must be read.
    fn mapped_position(&mut self) -> Result<Option<(Backing, usize)>, Invalid> {
        self.materialize()?;
        Ok(match &self.kind {
            ReaderKind::Stored { source: Source::Mapped(map, _), data_start } => Some((Backing::Map(map.clone()), (*data_start + self.pos) as usize)),
            ReaderKind::Inflated { buf } => Some((buf.clone(), self.pos as usize)),
            _ => None,
        })
    }

    /// The next `len` bytes as a range of the shared mapping, if this member is stored and
    /// the archive is mapped; `None` otherwise (then use [`MemberReader::read_exact`]).
    pub fn next_mapped(&mut self, len: usize) -> Result<Option<MappedRange>, Invalid> {
        let Some((backing, start)) = self.mapped_position()? else { return Ok(None) };
        self.check_len(len)?;
        self.pos += len as u64;
        Ok(Some(MappedRange { backing, start, len }))
    }

    /// Like [`MemberReader::next_mapped`], but only when the bytes start at an address that
    /// is a multiple of `align`; otherwise `None`, and nothing is consumed.
    pub fn next_mapped_aligned(&mut self, len: usize, align: usize) -> Result<Option<MappedRange>, Invalid> {
        match self.mapped_position()? {
            Some((backing, start)) if (backing.bytes().as_ptr() as usize + start) % align.max(1) == 0 => self.next_mapped(len),
            _ => Ok(None),
        }
    }

    fn check_len(&self, len: usize) -> Result<(), Invalid> {
        if len as u64 > self.remaining() {
            return Err(invalid!(
                "member ends early: {} more bytes needed at offset {}, {} left",
                len,
                self.pos,
                self.remaining()
            ));
        }
        Ok(())
    }

    /// Fill `out` with the next bytes of the member.
    pub fn read_exact(&mut self, out: &mut [u8]) -> Result<(), Invalid> {
        self.read_exact_then(out, |_| {})
    }

    /// Fill `out` with the next bytes of the member, calling `then` on each piece of it as soon
    /// as the piece is filled (while it is still in cache). Pieces start at multiples of
    /// 1 MiB from the start of `out`.
    pub fn read_exact_then(&mut self, out: &mut [u8], then: impl Fn(&mut [u8]) + Sync) -> Result<(), Invalid> {
        if out.is_empty() {
            return Ok(());
        }
        self.check_len(out.len())?;
        self.materialize()?;
        // Copied in pieces (in parallel when large), each handed to `then` once filled.
        let pos = self.pos;
        let copy_from = |src: &[u8], out: &mut [u8]| {
            for_each_piece(out, COPY_PIECE, |i, piece| {
                piece.copy_from_slice(&src[i..i + piece.len()]);
                then(piece);
            })
        };
        match &mut self.kind {
            ReaderKind::PendingWhole { .. } => return Err(invalid!("internal: member not inflated")),
            ReaderKind::Inflated { buf } => copy_from(&buf.bytes()[pos as usize..], out),
            // Positioned reads copy straight from the page cache; copying from the mapping
            // would first fault each of its pages into this process (about twice as slow).
            ReaderKind::Stored { source: Source::Mapped(_, Some(f)) | Source::File(f), data_start } => {
                let at = *data_start + pos;
                try_for_each_piece(out, COPY_PIECE, |i, piece| {
                    f.read_exact_at(piece, at + i as u64).map_err(|e| invalid!("read failed: {e}"))?;
                    then(piece);
                    Ok(())
                })?;
            }
            ReaderKind::Stored { source: Source::Mapped(m, None), data_start } => copy_from(&m[(*data_start + pos) as usize..], out),
            ReaderKind::Deflated { inflater, crc, .. } => {
                inflater.fill(out).map_err(|e| {
                    if e.0.contains("ends early") {
                        invalid!("deflate stream ends before the member's declared size of {} bytes", self.size)
                    } else {
                        e
                    }
                })?;
                crc.update(out);
                then(out);
            }
        }
        self.pos += out.len() as u64;
        if self.pos == self.size {
            self.finish()?;
        }
        Ok(())
    }

    /// Skip `len` bytes (inflating and discarding them for a deflated member).
    pub fn skip(&mut self, len: u64) -> Result<(), Invalid> {
        self.check_len(usize::try_from(len).unwrap_or(usize::MAX))?;
        if let ReaderKind::Stored { .. } | ReaderKind::Inflated { .. } | ReaderKind::PendingWhole { .. } = self.kind {
            self.pos += len;
            return Ok(());
        }
        let mut scratch = vec![0u8; (64 * 1024).min(len as usize)];
        let mut left = len;
        while left > 0 {
            let n = left.min(scratch.len() as u64) as usize;
            self.read_exact(&mut scratch[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// After the last byte: a deflated stream must end here and match its CRC-32.
    fn finish(&mut self) -> Result<(), Invalid> {
        if let ReaderKind::Deflated { inflater, crc, expected_crc } = &mut self.kind {
            let mut extra = [0u8; 1];
            if !inflater.finished() && inflater.inflate(&mut extra)? > 0 {
                return Err(invalid!(
                    "deflate stream inflates past the member's declared size of {} bytes",
                    self.size
                ));
            }
            let got = std::mem::replace(crc, crc32fast::Hasher::new()).finalize();
            if got != *expected_crc {
                return Err(invalid!("CRC-32 mismatch: computed {got:08x}, archive says {expected_crc:08x}"));
            }
        }
        Ok(())
    }
}

/// Large copies are split in pieces of this many bytes, copied in parallel.
const COPY_PIECE: usize = 1 << 20;

/// Inflate a whole deflated member (libdeflate) into 8-aligned memory, CRC checked.
fn inflate_whole(source: &Source, entry: &ZipEntry) -> Result<Backing, Invalid> {
    let size = usize::try_from(entry.size).map_err(|_| invalid!("member too large"))?;
    let mut out = vec![0u64; size.div_ceil(8)];
    let compressed_owned;
    let compressed: &[u8] = match source {
        Source::Mapped(m, _) => &m[entry.data_start as usize..(entry.data_start + entry.compressed_size) as usize],
        Source::File(f) => {
            let mut v = vec![0u8; entry.compressed_size as usize];
            f.read_exact_at(&mut v, entry.data_start).map_err(|e| invalid!("read failed: {e}"))?;
            compressed_owned = v;
            &compressed_owned
        }
    };
    let dst = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut out)[..size];
    let n = libdeflater::Decompressor::new().deflate_decompress(compressed, dst).map_err(|e| match e {
        libdeflater::DecompressionError::InsufficientSpace => {
            invalid!("deflate stream inflates past the member's declared size of {size} bytes")
        }
        libdeflater::DecompressionError::BadData => invalid!("corrupt deflate stream"),
    })?;
    if n != size {
        return Err(invalid!("deflate stream ends before the member's declared size of {size} bytes"));
    }
    let got = crc32fast::hash(dst);
    if got != entry.crc32 {
        return Err(invalid!("CRC-32 mismatch: computed {got:08x}, archive says {:08x}", entry.crc32));
    }
    Ok(Backing::Heap(Arc::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{Cursor, Seek, SeekFrom, Write};

    #[derive(Debug, Clone)]
    enum Op {
        Seek(SeekFrom),
        Read(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..300_000).prop_map(|p| Op::Seek(SeekFrom::Start(p))),
            (-300_000i64..10).prop_map(|d| Op::Seek(SeekFrom::End(d))),
            (-100_000i64..100_000).prop_map(|d| Op::Seek(SeekFrom::Current(d))),
            prop_oneof![0usize..100, 7_000usize..20_000].prop_map(Op::Read),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Reads and seeks through the window give what a cursor over the same bytes gives.
        #[test]
        fn window_reader_reads_like_a_cursor(len in 0usize..200_000, ops in proptest::collection::vec(op(), 1..40)) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&data).unwrap();
            let mut window = WindowReader::new(&file, len as u64);
            let mut cursor = Cursor::new(&data);
            for op in ops {
                match op {
                    Op::Seek(to) => {
                        let (a, b) = (window.seek(to), cursor.seek(to));
                        prop_assert_eq!(a.is_ok(), b.is_ok());
                        if let (Ok(a), Ok(b)) = (a, b) {
                            prop_assert_eq!(a, b);
                        }
                    }
                    Op::Read(n) => {
                        let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                        let got = window.read(&mut a).unwrap();
                        let want = cursor.read(&mut b).unwrap();
                        // Either may return a short read; what it returns must match the data.
                        let pos = cursor.position() as usize - want;
                        prop_assert!(got <= n);
                        prop_assert_eq!(&a[..got], &data[pos.min(len)..(pos + got).min(len)]);
                        prop_assert_eq!(&b[..want], &data[pos.min(len)..(pos + want).min(len)]);
                        prop_assert_eq!(got == 0, want == 0);
                        // Keep both at the same position.
                        cursor.seek(SeekFrom::Start((pos + got) as u64)).unwrap();
                    }
                }
            }
        }
    }
}
