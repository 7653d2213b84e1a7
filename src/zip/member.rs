//! A member's uncompressed bytes, from any byte source: stored members are ranges of the
//! source (borrowed from its mapping when it has one, for zero-copy columns); deflated members
//! are inflated on demand, never past their declared size, and their CRC-32 is checked once
//! the whole member has been inflated. This module picks the bytes and the way; inflating and
//! checking CRC-32s are [`super::inflate`]'s.

use std::sync::Arc;

use rayon::prelude::*;

use super::blocks::BlockIndex;
use super::index::{Compression, ZipEntry};
use super::inflate::{crc, known, Inflater};
use super::learned;
use crate::error::{internal, invalid, ErrorKind, Invalid};
use crate::pieces::{for_each_piece, try_for_each_piece};
use crate::source::{BackedRange, Backing, ByteSource, Source};

/// Compressed bytes fetched up front for a deflated member's `.npy` header (usually far more
/// than its first few hundred inflated bytes need).
const DEFLATED_HEADER_PREFIX: u64 = 4 * 1024;

/// The range of the file to fetch so that [`header_prefix`] can usually give a member's first
/// `want` uncompressed bytes without another read.
pub(crate) fn header_prefix_range(entry: &ZipEntry, want: usize) -> std::ops::Range<u64> {
    // A member written in blocks has its header alone in block 0: exactly that is read.
    let header_block = entry.blocks.as_ref().and_then(|b| b.compressed_range(0)).map(|r| r.end);
    let len = match entry.compression {
        Compression::Stored => want as u64,
        _ => header_block.unwrap_or(DEFLATED_HEADER_PREFIX).min(DEFLATED_HEADER_PREFIX),
    };
    entry.data_start..entry.data_start + len.min(entry.compressed_size)
}

/// Up to `want` first uncompressed bytes of the member from `raw`, the bytes of
/// [`header_prefix_range`]; fewer when `raw` does not hold them (or is corrupt, or the member
/// is of a kind [`MemberReader`] refuses: a full read then reports it).
pub(crate) fn header_prefix(entry: &ZipEntry, raw: &[u8], want: usize) -> Vec<u8> {
    if entry.encrypted {
        return Vec::new();
    }
    match entry.compression {
        Compression::Stored => raw[..want.min(raw.len())].to_vec(),
        Compression::Deflated => super::inflate::inflate_prefix(raw, want).unwrap_or_default(),
        Compression::Other(_) => Vec::new(),
    }
}

/// Check a stored member's CRC-32 against the central directory (reads every byte).
pub(crate) fn verify_stored(source: &dyn ByteSource, entry: &ZipEntry) -> Result<(), Invalid> {
    if entry.compression != Compression::Stored {
        return Ok(());
    }
    let resolved = entry.resolved(source)?;
    let entry = &*resolved;
    let mut hasher = crc::Crc32::new();
    let mut buf = vec![0u8; (1 << 20).min(entry.compressed_size as usize)];
    let mut at = entry.data_start;
    let end = entry.data_start + entry.compressed_size;
    while at < end {
        let n = (end - at).min(buf.len() as u64) as usize;
        source.read_exact_at(&mut buf[..n], at).map_err(crate::error::read_failed)?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    hasher.check(entry.crc32)
}

/// A sequential reader of one member's uncompressed bytes.
pub(crate) struct MemberReader {
    kind: ReaderKind,
    /// Uncompressed bytes handed out so far.
    pos: u64,
    /// Uncompressed size of the member.
    size: u64,
}

enum ReaderKind {
    Stored {
        source: Source,
        data_start: u64,
    },
    /// A deflated member inflated whole (CRC checked) into heap memory.
    Inflated {
        buf: Backing,
    },
    /// A deflated member to be inflated whole on its first read (so that readers created
    /// together inflate later, in parallel, and only if read).
    PendingWhole {
        source: Source,
        entry: Box<ZipEntry>,
    },
    /// A deflated member written without blocks whose seek points were learned (see
    /// [`super::spans`]).
    Spans(Box<super::spans::SpanReader>),
    Deflated {
        inflater: Box<Inflater>,
        crc: crc::Crc32,
        expected_crc: u32,
    },
    /// A deflated member written in blocks: each read inflates the blocks it covers (in
    /// parallel), each checked against its CRC-32; skipped bytes are never inflated.
    Blocks {
        source: Source,
        entry: Box<ZipEntry>,
        /// What the last read inflated, kept for the next.
        cache: BlockCache,
    },
}

impl MemberReader {
    /// A reader positioned at the start of `entry`'s uncompressed bytes. The entry's range has
    /// been checked against the file by the archive layer.
    pub(crate) fn new(source: &Source, entry: &ZipEntry) -> Result<MemberReader, Invalid> {
        if entry.encrypted {
            return Err(invalid!("member is encrypted; encrypted archives are not supported"));
        }
        let resolved = entry.resolved(&**source)?;
        let entry = &*resolved;
        let kind = match entry.compression {
            Compression::Stored => ReaderKind::Stored { source: source.clone(), data_start: entry.data_start },
            Compression::Deflated if entry.blocks.is_some() => {
                ReaderKind::Blocks { source: source.clone(), entry: Box::new(entry.clone()), cache: BlockCache::default() }
            }
            Compression::Deflated => match super::spans::SpanReader::new(source, entry) {
                Some(spans) => ReaderKind::Spans(Box::new(spans)),
                None => ReaderKind::Deflated {
                    inflater: Box::new(streaming_inflater(source, entry)),
                    crc: crc::Crc32::new(),
                    expected_crc: entry.crc32,
                },
            },
            Compression::Other(m) => {
                return Err(invalid!("compression method {m} is not supported (numpy writes only stored and deflated members)"))
            }
        };
        Ok(MemberReader { kind, pos: 0, size: entry.size })
    }

    /// A reader of a deflated member inflated whole at once on its first read (libdeflate,
    /// output size known; the blocks of a member written in blocks in parallel) into aligned
    /// heap memory that the columns then point into; for stored members, the usual reader.
    pub(crate) fn new_at_once(source: &Source, entry: &ZipEntry) -> Result<MemberReader, Invalid> {
        if entry.compression != Compression::Deflated || entry.encrypted {
            return Self::new(source, entry);
        }
        let resolved = entry.resolved(&**source)?;
        let entry = &*resolved;
        let kind = ReaderKind::PendingWhole { source: source.clone(), entry: Box::new(entry.clone()) };
        Ok(MemberReader { kind, pos: 0, size: entry.size })
    }

    /// Inflate a pending whole member now.
    fn materialize(&mut self) -> Result<(), Invalid> {
        if let ReaderKind::PendingWhole { source, entry } = &self.kind {
            let buf = inflate_to_heap(source, entry)?;
            self.kind = ReaderKind::Inflated { buf };
        }
        Ok(())
    }

    /// Bytes not yet handed out.
    pub(crate) fn remaining(&self) -> u64 {
        self.size - self.pos
    }

    /// The memory holding this member's bytes (the shared mapping, or the wholly inflated
    /// member) and the offset of its next byte there; `None` when its bytes must be read.
    fn memory_position(&mut self) -> Result<Option<(Backing, usize)>, Invalid> {
        self.materialize()?;
        Ok(match &self.kind {
            ReaderKind::Stored { source, data_start } => {
                source.mapping().map(|map| (Backing::Map(map.clone()), (*data_start + self.pos) as usize))
            }
            ReaderKind::Inflated { buf } => Some((buf.clone(), self.pos as usize)),
            _ => None,
        })
    }

    /// The file offset of the next byte when the member is stored and the archive mapped (so
    /// its next rows can be views of the mapping, no read needed).
    pub(crate) fn mapped_file_offset(&self) -> Option<u64> {
        match &self.kind {
            ReaderKind::Stored { source, data_start } if source.mapping().is_some() => Some(data_start + self.pos),
            _ => None,
        }
    }

    /// The next `len` bytes as a range of the memory holding them: the shared mapping, if this
    /// member is stored and the archive is mapped, or the member inflated whole (see
    /// [`MemberReader::new_at_once`]); `None` otherwise (then use [`MemberReader::read_exact`]).
    pub(crate) fn next_in_memory(&mut self, len: usize) -> Result<Option<BackedRange>, Invalid> {
        let Some((backing, start)) = self.memory_position()? else { return Ok(None) };
        self.check_len(len)?;
        self.pos += len as u64;
        Ok(Some(BackedRange { backing, start, len }))
    }

    /// Like [`MemberReader::next_in_memory`], but only when the bytes start at an address
    /// that is a multiple of `align`; otherwise `None`, and nothing is consumed.
    pub(crate) fn next_in_memory_aligned(&mut self, len: usize, align: usize) -> Result<Option<BackedRange>, Invalid> {
        match self.memory_position()? {
            Some((backing, start)) if (backing.bytes().as_ptr() as usize + start) % align.max(1) == 0 => self.next_in_memory(len),
            _ => Ok(None),
        }
    }

    fn check_len(&self, len: usize) -> Result<(), Invalid> {
        if len as u64 > self.remaining() {
            return Err(ErrorKind::EndsEarly { at: self.pos, needed: len as u64, left: self.remaining() });
        }
        Ok(())
    }

    /// Fill `out` with the next bytes of the member.
    pub(crate) fn read_exact(&mut self, out: &mut [u8]) -> Result<(), Invalid> {
        self.read_exact_then(out, |_| {})
    }

    /// Fill `out` with the next bytes of the member, calling `then` on each piece of it as soon
    /// as the piece is filled (while it is still in cache). Pieces start at multiples of
    /// 1 MiB from the start of `out`.
    pub(crate) fn read_exact_then(&mut self, out: &mut [u8], then: impl Fn(&mut [u8]) + Sync) -> Result<(), Invalid> {
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
            ReaderKind::PendingWhole { .. } => return Err(internal!("member not inflated")),
            ReaderKind::Inflated { buf } => copy_from(&buf.bytes()[pos as usize..], out),
            // Positioned reads: for a mapped file they copy straight from the page cache;
            // copying from the mapping would first fault each of its pages into this process
            // (about twice as slow).
            // A remote source: one batch of ranges (which it merges into as few requests as
            // it can), not a request per piece.
            ReaderKind::Stored { source, data_start } if source.is_remote() => {
                let at = *data_start + pos;
                let ranges: Vec<_> =
                    (0..out.len()).step_by(COPY_PIECE).map(|i| at + i as u64..at + (i + COPY_PIECE).min(out.len()) as u64).collect();
                let parts = source.read_ranges(&ranges).map_err(crate::error::read_failed)?;
                let mut filled = 0;
                for part in parts {
                    out[filled..filled + part.len()].copy_from_slice(&part);
                    filled += part.len();
                }
                if filled != out.len() {
                    return Err(internal!("{filled} of {} bytes read", out.len()));
                }
                for_each_piece(out, COPY_PIECE, |_, piece| then(piece));
            }
            ReaderKind::Stored { source, data_start } => {
                let at = *data_start + pos;
                try_for_each_piece(out, COPY_PIECE, |i, piece| {
                    source.read_exact_at(piece, at + i as u64).map_err(crate::error::read_failed)?;
                    then(piece);
                    Ok(())
                })?;
            }
            ReaderKind::Deflated { inflater, crc, .. } => {
                inflater.fill(out)?;
                crc.update(out);
                then(out);
            }
            ReaderKind::Blocks { source, entry, cache } => {
                read_blocks(source, entry, cache, pos, out)?;
                for_each_piece(out, COPY_PIECE, |_, piece| then(piece));
            }
            ReaderKind::Spans(spans) => {
                spans.read(pos, out)?;
                for_each_piece(out, COPY_PIECE, |_, piece| then(piece));
            }
        }
        self.pos += out.len() as u64;
        if self.pos == self.size {
            self.finish()?;
        }
        Ok(())
    }

    /// Skip `len` bytes (inflating and discarding them for a deflated member).
    pub(crate) fn skip(&mut self, len: u64) -> Result<(), Invalid> {
        self.check_len(usize::try_from(len).unwrap_or(usize::MAX))?;
        if let ReaderKind::Stored { .. }
        | ReaderKind::Inflated { .. }
        | ReaderKind::PendingWhole { .. }
        | ReaderKind::Blocks { .. }
        | ReaderKind::Spans(_) = self.kind
        {
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
                return Err(ErrorKind::StreamTooLong { declared: self.size });
            }
            crc.check(*expected_crc)?;
        }
        Ok(())
    }
}

/// The streaming inflater of a member written without blocks, from its start: recording seek
/// points on the way when the member is worth learning (see [`super::learned`]; they are kept
/// if it is read to its end and its CRC-32 matches).
fn streaming_inflater(source: &Source, entry: &ZipEntry) -> Inflater {
    let inflater = Inflater::new(source.clone(), entry.data_start, entry.compressed_size, entry.size);
    match learned::key(source, entry) {
        Some(key) => inflater.recording(entry.crc32, move |points| learned::put_points(key, points)),
        None => inflater,
    }
}

/// Large copies are split in pieces of this many bytes, copied in parallel.
const COPY_PIECE: usize = 1 << 20;

/// The compressed bytes of blocks `blocks` of a member written in blocks: borrowed from the
/// mapping, or read (in one batch of ranges, which a remote source merges into few requests).
fn compressed_blocks<'a>(
    source: &'a Source,
    entry: &ZipEntry,
    index: &BlockIndex,
    blocks: std::ops::Range<usize>,
) -> Result<Vec<std::borrow::Cow<'a, [u8]>>, Invalid> {
    let ranges = blocks
        .map(|b| index.compressed_range(b).map(|r| entry.data_start + r.start..entry.data_start + r.end))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| internal!("block index without offsets"))?;
    if let Some(m) = source.mapping() {
        return Ok(ranges.into_iter().map(|r| std::borrow::Cow::Borrowed(&m[r.start as usize..r.end as usize])).collect());
    }
    let parts = source.read_ranges(&ranges).map_err(crate::error::read_failed)?;
    Ok(parts.into_iter().map(|p| std::borrow::Cow::Owned(p.to_vec())).collect())
}

/// Fill `out` with the member's bytes from `pos` on, inflating the blocks that hold them (in
/// parallel); the last of them is kept in `current` for the next read.
fn read_blocks(source: &Source, entry: &ZipEntry, cache: &mut BlockCache, pos: u64, out: &mut [u8]) -> Result<(), Invalid> {
    let index = entry.blocks.as_deref().ok_or_else(|| internal!("member without blocks"))?;
    let end = pos + out.len() as u64;
    let (first, last) = (index.block_at(pos), index.block_at(end - 1));
    // A read within the first part of one block (a `head`, small batches) inflates that block
    // only as far as needed, and goes on from there at the next read.
    if first == last && !cache.ready.iter().any(|(b, _)| *b == first) {
        let r = index.inflated_range(first);
        let (need, len) = (end - r.start, r.end - r.start);
        if cache.partial.as_ref().is_some_and(|p| p.block == first) || need.saturating_mul(PARTIAL_SHARE) <= len {
            if cache.partial.as_ref().is_none_or(|p| p.block != first) {
                let compressed = compressed_blocks(source, entry, index, first..first + 1)?.remove(0).into_owned();
                let crc = index.offsets.as_ref().and_then(|o| o.get(first)).map_or(0, |o| o.1);
                cache.partial = Some(Box::new(PartialBlock::new(first, compressed, len as usize, crc)));
            }
            let partial = cache.partial.as_mut().ok_or_else(|| internal!("no partial block"))?;
            partial.fill_to(need as usize)?;
            out.copy_from_slice(&partial.out[(pos - r.start) as usize..need as usize]);
            if partial.filled == partial.out.len() {
                let done = cache.partial.take().ok_or_else(|| internal!("no partial block"))?;
                cache.ready = vec![(done.block, done.out)];
            }
            cache.last_end = Some(end);
            return Ok(());
        }
    }
    // Reading on from where the last read ended (a member streamed batch by batch): the blocks
    // after this read's are inflated now too, in parallel with its own, so every core works
    // while the consumer takes the batch (at most `ahead` blocks held beyond the read's).
    // Ahead blocks are inflated a group at a time (two per thread), when those of the last
    // group are used up, so that each group's blocks inflate side by side.
    let streaming = cache.ready.iter().any(|(b, _)| *b + 1 >= first && *b <= last) || cache.last_end == Some(pos);
    let group = 2 * polars_core::runtime::THREAD_POOL.current_num_threads().max(1);
    // The end of the blocks read ahead before that are still to come (kept).
    let ahead_end = cache.ready.iter().map(|(b, _)| *b).filter(|&b| b > last && b <= last + group).max().map(|b| b + 1);
    let wanted_end = match ahead_end {
        Some(end) => end,
        None if streaming => (last + 1 + group).min(index.len()),
        None => last + 1,
    };
    let ready = std::mem::take(&mut cache.ready);
    let (kept, _): (Vec<_>, Vec<_>) = ready.into_iter().partition(|(b, _)| (first..wanted_end).contains(b));
    let needed: Vec<usize> = (first..wanted_end).filter(|b| !kept.iter().any(|(k, _)| k == b)).collect();
    let mut blocks = kept;
    if let (Some(&lo), Some(&hi)) = (needed.first(), needed.last()) {
        let compressed = compressed_blocks(source, entry, index, lo..hi + 1)?;
        let inflate = |b: usize| -> Result<(usize, Vec<u8>), Invalid> {
            let r = index.inflated_range(b);
            let mut buf = vec![0u8; (r.end - r.start) as usize];
            let crc = index.offsets.as_ref().and_then(|o| o.get(b)).map_or(0, |o| o.1);
            known::inflate_block(&compressed[b - lo], &mut buf, b + 1 == index.len(), crc)?;
            Ok((b, buf))
        };
        let fresh = if needed.len() > 1 {
            polars_core::runtime::THREAD_POOL.install(|| needed.par_iter().map(|&b| inflate(b)).collect::<Result<Vec<_>, _>>())?
        } else {
            needed.iter().map(|&b| inflate(b)).collect::<Result<Vec<_>, _>>()?
        };
        blocks.extend(fresh);
    }
    blocks.sort_unstable_by_key(|(b, _)| *b);
    for (b, buf) in blocks.iter().filter(|(b, _)| *b <= last) {
        let r = index.inflated_range(*b);
        let (from, to) = (pos.max(r.start), end.min(r.end));
        out[(from - pos) as usize..(to - pos) as usize].copy_from_slice(&buf[(from - r.start) as usize..(to - r.start) as usize]);
    }
    // Kept for the next read: the last block read (it may go on in it) and those read ahead.
    cache.ready = blocks.into_iter().filter(|(b, _)| *b >= last).collect();
    cache.last_end = Some(end);
    Ok(())
}

/// A read needing at most this share (1/N) of a block inflates only that far.
const PARTIAL_SHARE: u64 = 4;

/// What a reader of a member written in blocks keeps between reads.
#[derive(Default)]
pub(crate) struct BlockCache {
    /// Blocks inflated whole and not read to their end yet: the last block read, and the
    /// blocks after it inflated ahead.
    ready: Vec<(usize, Vec<u8>)>,
    /// Where the last read ended (a read starting there goes on streaming).
    last_end: Option<u64>,
    /// A block inflated part of the way.
    partial: Option<Box<PartialBlock>>,
}

/// A block inflated as far as reads have needed, and its inflater, to go on.
struct PartialBlock {
    block: usize,
    inflater: Inflater,
    out: Vec<u8>,
    filled: usize,
    crc: u32,
}

impl PartialBlock {
    fn new(block: usize, compressed: Vec<u8>, len: usize, crc: u32) -> PartialBlock {
        PartialBlock { block, inflater: Inflater::of_block(compressed, len as u64), out: vec![0; len], filled: 0, crc }
    }

    /// Inflate until the first `need` bytes of the block are out; the whole block, once out,
    /// is checked against its CRC-32.
    fn fill_to(&mut self, need: usize) -> Result<(), Invalid> {
        if self.filled < need {
            self.inflater.fill(&mut self.out[self.filled..need]).map_err(|e| match e {
                ErrorKind::StreamEndsEarly { .. } => invalid!("a block inflates to fewer bytes than its index says"),
                e => e,
            })?;
            self.filled = need;
        }
        if self.filled == self.out.len() {
            crc::check_bytes(&self.out, self.crc)?;
        }
        Ok(())
    }
}

/// Inflate a whole member written in blocks, its blocks in parallel, into `dst`; each block
/// checked against its CRC-32 and the whole against the member's.
fn inflate_blocks_into(source: &Source, entry: &ZipEntry, index: &BlockIndex, dst: &mut [u8]) -> Result<(), Invalid> {
    let compressed = compressed_blocks(source, entry, index, 0..index.len())?;
    let offsets = index.offsets.as_ref().ok_or_else(|| internal!("block index without offsets"))?;
    let blocks: Vec<(u64, u32)> = offsets
        .iter()
        .enumerate()
        .map(|(b, &(_, crc))| {
            let r = index.inflated_range(b);
            (r.end - r.start, crc)
        })
        .collect();
    known::inflate_blocks(&compressed, &blocks, dst, entry.crc32)
}

/// Inflate a whole deflated member (libdeflate) into 8-aligned memory, CRC checked.
fn inflate_to_heap(source: &Source, entry: &ZipEntry) -> Result<Backing, Invalid> {
    let size = usize::try_from(entry.size).map_err(|_| invalid!("member too large"))?;
    let mut out = vec![0u64; size.div_ceil(8)];
    inflate_into(source, entry, &mut bytemuck::cast_slice_mut::<u64, u8>(&mut out)[..size])?;
    Ok(Backing::Heap(Arc::new(out)))
}

/// The whole of a member's uncompressed bytes into `dst` (of exactly its size), checked against
/// its CRC-32: a stored member read (in parallel pieces, or few requests from a store; once its
/// bytes are in memory, hashing them costs no read), a deflated one inflated straight into `dst`
/// (its blocks in parallel when it was written in blocks).
pub(crate) fn read_whole_into(source: &Source, entry: &ZipEntry, dst: &mut [u8]) -> Result<(), Invalid> {
    if dst.len() as u64 != entry.size {
        return Err(internal!("a buffer of {} bytes for a member of {}", dst.len(), entry.size));
    }
    let resolved = entry.resolved(&**source)?;
    let entry = &*resolved;
    match entry.compression {
        Compression::Deflated if !entry.encrypted => inflate_into(source, entry, dst),
        _ => {
            MemberReader::new(source, entry)?.read_exact(dst)?;
            crc::check_bytes(dst, entry.crc32)
        }
    }
}

/// Inflate a whole deflated member into `dst` (of exactly its size), CRC checked.
fn inflate_into(source: &Source, entry: &ZipEntry, dst: &mut [u8]) -> Result<(), Invalid> {
    if let Some(index) = entry.blocks.as_deref() {
        return inflate_blocks_into(source, entry, index, dst);
    }
    let compressed_owned;
    let range = entry.data_range();
    let compressed: &[u8] = match source.mapping() {
        Some(m) => &m[range.start as usize..range.end as usize],
        None => {
            compressed_owned = crate::source::read_vec(&**source, range.start, entry.compressed_size).map_err(crate::error::read_failed)?;
            &compressed_owned
        }
    };
    // Learned seek points inflate it span by span in parallel; a large member is learned.
    if let Some(done) = super::learned::inflate_whole(source, entry, compressed, dst) {
        return done;
    }
    known::inflate_member(compressed, dst, entry.crc32)
}
