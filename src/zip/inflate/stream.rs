//! Raw-deflate inflation by zlib-rs, streaming, with guaranteed progress: every step consumes
//! input or produces output, or fails, so no stream (however corrupt) can make a read loop
//! forever. Compressed bytes are fetched from the byte source in reads that start small (a
//! header or a `head()` needs a few KiB) and double; or they are all at hand already (a block
//! of a member written in blocks, inflated part of the way). On request it records seek points
//! on the way instead (see [`super::record`]).

use flate2::{Decompress, FlushDecompress, Status};

use super::count_inflated;
use super::record::Recorder;
use crate::error::{invalid, ErrorKind, Invalid};
use crate::source::Source;
use crate::zip::seek::{Points, SPAN};

/// Compressed bytes fetched per read: small at first, doubling up to the most (larger for a
/// remote source, where each read is a request).
const FIRST_CHUNK: usize = 4 * 1024;
const MAX_CHUNK: usize = 256 * 1024;
const FIRST_REMOTE_CHUNK: usize = 64 * 1024;
const MAX_REMOTE_CHUNK: usize = 8 << 20;

/// What is done with the points recorded, once the stream has ended and its CRC-32 matched.
type PointsSink = Box<dyn FnOnce(Points) + Send>;

/// Inflates one deflate stream: a member's compressed bytes `[start, end)` of a source, or
/// compressed bytes at hand.
pub(crate) struct Inflater {
    /// Where compressed bytes are fetched from (`None`: all are in `buf` from the start).
    source: Option<Source>,
    /// Next compressed byte to fetch from the source.
    pos: u64,
    start: u64,
    end: u64,
    /// The declared inflated size (for messages).
    declared: u64,
    /// What a corrupt stream is called in messages.
    what: &'static str,
    /// Compressed bytes fetched and not yet consumed.
    buf: Vec<u8>,
    buf_pos: usize,
    /// Size of the next fetch.
    chunk: usize,
    z: Decompress,
    finished: bool,
    /// Seek points being recorded (stopping at each deflate block), kept if the stream
    /// ends and its CRC-32 is the one given.
    recording: Option<(Box<Recorder>, u32, PointsSink)>,
}

impl Inflater {
    /// An inflater for the compressed range `[start, start + len)` of `source`, declared to
    /// inflate to `declared` bytes.
    pub(crate) fn new(source: Source, start: u64, len: u64, declared: u64) -> Inflater {
        let chunk = if source.is_remote() { FIRST_REMOTE_CHUNK } else { FIRST_CHUNK };
        Inflater {
            source: Some(source),
            pos: start,
            start,
            end: start + len,
            declared,
            what: "corrupt deflate stream",
            buf: Vec::new(),
            buf_pos: 0,
            chunk,
            z: Decompress::new(false),
            finished: false,
            recording: None,
        }
    }

    /// An inflater of `compressed`, a block of a member written in blocks (see
    /// [`super::super::blocks`]) declared to inflate to `declared` bytes.
    pub(crate) fn of_block(compressed: Vec<u8>, declared: u64) -> Inflater {
        let len = compressed.len() as u64;
        Inflater {
            source: None,
            pos: len,
            start: 0,
            end: len,
            declared,
            what: "corrupt deflate stream in a block",
            buf: compressed,
            buf_pos: 0,
            chunk: 0,
            z: Decompress::new(false),
            finished: false,
            recording: None,
        }
    }

    /// This inflater, recording seek points on the way: once the stream is read to its end,
    /// when its CRC-32 is `crc`, they are handed to `keep`. As it was when the recorder cannot
    /// start.
    pub(crate) fn recording(mut self, crc: u32, keep: impl FnOnce(Points) + Send + 'static) -> Inflater {
        if let Ok(rec) = Recorder::new(SPAN) {
            self.recording = Some((Box::new(rec), crc, Box::new(keep)));
        }
        self
    }

    /// One step of the recording inflater: (consumed, produced, ended).
    fn step_recording(&mut self, out: &mut [u8]) -> Option<Result<(usize, usize, bool), Invalid>> {
        let (rec, _, _) = self.recording.as_mut()?;
        Some(rec.inflate(&self.buf[self.buf_pos..], out).map(|(c, p)| (c, p, rec.ended())))
    }

    /// The stream has ended: hand the points recorded over.
    fn recorded(&mut self) {
        if let Some((rec, crc, keep)) = self.recording.take() {
            let compressed = self.end - self.start;
            if let Some(points) = rec.finish(self.declared, compressed, crc) {
                keep(points);
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
            let (consumed, produced, status) = match self.step_recording(&mut out[written..]) {
                Some(step) => {
                    let (c, p, ended) = step?;
                    (c, p, if ended { Status::StreamEnd } else { Status::Ok })
                }
                None => {
                    let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
                    let status = self
                        .z
                        .decompress(&self.buf[self.buf_pos..], &mut out[written..], FlushDecompress::None)
                        .map_err(|e| invalid!("{}: {e}", self.what))?;
                    ((self.z.total_in() - in_before) as usize, (self.z.total_out() - out_before) as usize, status)
                }
            };
            self.buf_pos += consumed;
            written += produced;
            count_inflated(produced);
            match status {
                Status::StreamEnd => {
                    self.finished = true;
                    self.recorded();
                }
                Status::Ok | Status::BufError if consumed == 0 && produced == 0 => {
                    return Err(if input_left {
                        invalid!("{}: no progress", self.what)
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
        let Some(source) = &self.source else { return Ok(false) };
        let n = (self.end - self.pos).min(self.chunk as u64) as usize;
        let most = if source.is_remote() { MAX_REMOTE_CHUNK } else { MAX_CHUNK };
        self.chunk = (self.chunk * 2).min(most);
        self.buf.resize(n, 0);
        self.buf_pos = 0;
        if n > 0 {
            source.read_exact_at(&mut self.buf, self.pos).map_err(crate::error::read_failed)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A block at hand (ended by a full flush, as blocks are written) inflates piece by piece
    /// to its bytes; asking past them ends early, and a corrupt block fails, never loops.
    #[test]
    fn a_block_at_hand_inflates_in_pieces() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 1000).to_le_bytes()).collect();
        let block = crate::raw::zlib_deflate(&data, false).unwrap();
        let mut inflater = Inflater::of_block(block.clone(), data.len() as u64);
        let mut out = vec![0u8; data.len()];
        let (a, b) = out.split_at_mut(1000);
        inflater.fill(a).unwrap();
        inflater.fill(b).unwrap();
        assert_eq!(out, data);
        assert!(!inflater.finished());
        assert!(matches!(inflater.fill(&mut [0u8; 1]), Err(ErrorKind::StreamEndsEarly { .. })));
        // Cut short: ends early.
        let mut short = Inflater::of_block(block[..block.len() / 2].to_vec(), data.len() as u64);
        assert!(matches!(short.fill(&mut out), Err(ErrorKind::StreamEndsEarly { .. })));
        // A reserved block type (BTYPE 11) is corrupt.
        let mut bad = Inflater::of_block(vec![0x07; 64], data.len() as u64);
        let err = bad.fill(&mut out).unwrap_err();
        assert!(err.to_string().contains("corrupt deflate stream in a block"), "{err}");
    }
}
