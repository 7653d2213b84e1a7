//! Raw-deflate inflation with guaranteed progress: every step consumes input or produces
//! output, or fails, so no stream (however corrupt) can make a read loop forever. Compressed
//! bytes are fetched from the byte source in reads that start small (a header or a `head()`
//! needs a few KiB) and double.

use flate2::{Decompress, FlushDecompress, Status};

use super::learned::Key;
use super::seek::Recorder;
use crate::error::{invalid, ErrorKind, Invalid};
use crate::source::Source;

/// Compressed bytes fetched per read: small at first, doubling up to the most (larger for a
/// remote source, where each read is a request).
const FIRST_CHUNK: usize = 4 * 1024;
const MAX_CHUNK: usize = 256 * 1024;
const FIRST_REMOTE_CHUNK: usize = 64 * 1024;
const MAX_REMOTE_CHUNK: usize = 8 << 20;

/// Inflates one member's compressed bytes `[start, end)` of the source.
pub(crate) struct Inflater {
    source: Source,
    /// Next compressed byte to fetch from the source.
    pos: u64,
    start: u64,
    end: u64,
    /// The member's declared inflated size (for messages).
    declared: u64,
    /// Compressed bytes fetched and not yet consumed.
    buf: Vec<u8>,
    buf_pos: usize,
    /// Size of the next fetch.
    chunk: usize,
    z: Decompress,
    finished: bool,
    /// Seek points being recorded (zlib, stopping at each deflate block), for the member with
    /// this key and CRC-32 (see [`super::learned`]).
    learning: Option<(Box<Recorder>, Key, u32)>,
}

impl Inflater {
    /// An inflater for the compressed range `[start, start + len)` of `source`, declared to
    /// inflate to `declared` bytes.
    pub(crate) fn new(source: Source, start: u64, len: u64, declared: u64) -> Inflater {
        let chunk = if source.is_remote() { FIRST_REMOTE_CHUNK } else { FIRST_CHUNK };
        Inflater {
            source,
            pos: start,
            start,
            end: start + len,
            declared,
            buf: Vec::new(),
            buf_pos: 0,
            chunk,
            z: Decompress::new(false),
            finished: false,
            learning: None,
        }
    }

    /// The streaming inflater of a member written without blocks, from its start: recording
    /// seek points on the way when the member is worth learning (see [`super::learned`]; they
    /// are kept if it is read to its end and its CRC-32 matches).
    pub(crate) fn for_member(source: &Source, entry: &super::index::ZipEntry) -> Inflater {
        let inflater = Inflater::new(source.clone(), entry.data_start, entry.compressed_size, entry.size);
        match super::learned::key(source, entry) {
            Some(key) => inflater.learning(key, entry.crc32),
            None => inflater,
        }
    }

    /// This inflater, recording seek points (by zlib) for the member of `key`, kept if the
    /// stream is read to its end and its CRC-32 is `crc`. As it was when zlib cannot start.
    pub(crate) fn learning(mut self, key: Key, crc: u32) -> Inflater {
        if let Ok(rec) = Recorder::new(super::seek::SPAN) {
            self.learning = Some((Box::new(rec), key, crc));
        }
        self
    }

    /// One step of the recording inflater: (consumed, produced, ended).
    fn step_learning(&mut self, out: &mut [u8]) -> Option<Result<(usize, usize, bool), Invalid>> {
        let (rec, _, _) = self.learning.as_mut()?;
        Some(rec.inflate(&self.buf[self.buf_pos..], out).map(|(c, p)| (c, p, rec.ended())))
    }

    /// The stream has ended: keep the points recorded.
    fn learned(&mut self) {
        if let Some((rec, key, crc)) = self.learning.take() {
            let compressed = self.end - self.start;
            if let Some(points) = rec.finish(self.declared, compressed, crc) {
                super::learned::put_points(key, points);
            }
        }
    }

    /// Whether the deflate stream has ended.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// Fill `out` entirely; an error if the stream ends first or is corrupt.
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Result<(), Invalid> {
        let n = self.inflate(out)?;
        if n < out.len() {
            return Err(ErrorKind::StreamEndsEarly { declared: self.declared });
        }
        Ok(())
    }

    /// Inflate into `out` until it is full or the stream ends; returns the bytes written.
    pub(crate) fn inflate(&mut self, out: &mut [u8]) -> Result<usize, Invalid> {
        let mut written = 0;
        while written < out.len() && !self.finished {
            let input_left = self.input_available()?;
            let (consumed, produced, status) = match self.step_learning(&mut out[written..]) {
                Some(step) => {
                    let (c, p, ended) = step?;
                    (c, p, if ended { Status::StreamEnd } else { Status::Ok })
                }
                None => {
                    let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
                    let status = self
                        .z
                        .decompress(&self.buf[self.buf_pos..], &mut out[written..], FlushDecompress::None)
                        .map_err(|e| invalid!("corrupt deflate stream: {e}"))?;
                    ((self.z.total_in() - in_before) as usize, (self.z.total_out() - out_before) as usize, status)
                }
            };
            self.buf_pos += consumed;
            written += produced;
            super::learned::count_inflated(produced);
            match status {
                Status::StreamEnd => {
                    self.finished = true;
                    self.learned();
                }
                Status::Ok | Status::BufError if consumed == 0 && produced == 0 => {
                    return Err(if input_left {
                        invalid!("corrupt deflate stream: no progress")
                    } else {
                        ErrorKind::StreamEndsEarly { declared: self.declared }
                    });
                }
                _ => {}
            }
        }
        Ok(written)
    }

    /// Make compressed input available; false when none is left.
    fn input_available(&mut self) -> Result<bool, Invalid> {
        if self.buf_pos < self.buf.len() {
            return Ok(true);
        }
        let n = (self.end - self.pos).min(self.chunk as u64) as usize;
        let most = if self.source.is_remote() { MAX_REMOTE_CHUNK } else { MAX_CHUNK };
        self.chunk = (self.chunk * 2).min(most);
        self.buf.resize(n, 0);
        self.buf_pos = 0;
        if n > 0 {
            self.source.read_exact_at(&mut self.buf, self.pos).map_err(crate::error::read_failed)?;
            self.pos += n as u64;
        }
        Ok(n > 0)
    }
}

/// The first bytes (at most `max_out`) that the start `raw` of a deflate stream inflates to;
/// `None` when `raw` is corrupt (a full read then reports it).
pub(crate) fn inflate_prefix(raw: &[u8], max_out: usize) -> Option<Vec<u8>> {
    thread_local! {
        // One inflater per thread, reset for each header: opening an archive inflates the
        // start of every deflated member, and a fresh inflater's state costs more to set up
        // than those few hundred bytes cost to inflate.
        static Z: std::cell::RefCell<Decompress> = std::cell::RefCell::new(Decompress::new(false));
    }
    let mut out = vec![0u8; max_out];
    Z.with_borrow_mut(|z| {
        z.reset(false);
        z.decompress(raw, &mut out, FlushDecompress::None).ok()?;
        out.truncate(z.total_out() as usize);
        Some(out)
    })
}

/// A final empty block (fixed Huffman, end of block): appended to a block that ends in a full
/// flush, it makes the block a whole deflate stream that libdeflate inflates on its own.
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// Inflate one block of a member written in blocks (see [`super::blocks`]) into `out`, which
/// it must fill exactly, and check its CRC-32.
pub(crate) fn inflate_block(compressed: &[u8], out: &mut [u8], last: bool, crc: u32) -> Result<(), Invalid> {
    thread_local! {
        static D: std::cell::RefCell<libdeflater::Decompressor> = std::cell::RefCell::new(libdeflater::Decompressor::new());
    }
    let owned;
    let input = if last {
        compressed
    } else {
        owned = [compressed, &FINAL_EMPTY_BLOCK].concat();
        &owned
    };
    let n = D.with_borrow_mut(|d| d.deflate_decompress(input, out)).map_err(|e| match e {
        libdeflater::DecompressionError::InsufficientSpace => invalid!("a block inflates to more bytes than its index says"),
        libdeflater::DecompressionError::BadData => invalid!("corrupt deflate stream in a block"),
    })?;
    if n != out.len() {
        return Err(invalid!("a block inflates to {n} bytes, its index says {}", out.len()));
    }
    let computed = crc32fast::hash(out);
    if computed != crc {
        return Err(ErrorKind::Checksum { computed, expected: crc });
    }
    Ok(())
}
