//! Raw-deflate inflation with guaranteed progress: every step consumes input or produces
//! output, or fails, so no stream (however corrupt) can make a read loop forever. Compressed
//! bytes come straight from the mapping when the archive is mapped.

use std::os::unix::fs::FileExt;

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::{invalid, Invalid};
use crate::member::Source;

/// Compressed bytes fetched per read from a file: small at first (a header or a `head()` needs
/// a few KiB), doubling up to the most.
const FIRST_CHUNK: usize = 4 * 1024;
const FILE_CHUNK: usize = 256 * 1024;

/// Inflates one member's compressed bytes `[start, end)` of the source.
pub struct Inflater {
    source: Source,
    /// Next compressed byte to fetch from the source.
    pos: u64,
    end: u64,
    /// Compressed bytes read from a file and not yet consumed (unused when mapped).
    buf: Vec<u8>,
    buf_pos: usize,
    /// Size of the next read from a file.
    chunk: usize,
    z: Decompress,
    finished: bool,
}

impl Inflater {
    /// An inflater for the compressed range `[start, start + len)` of `source`.
    pub fn new(source: Source, start: u64, len: u64) -> Inflater {
        // Stream compressed bytes from the file, not the mapping, when there is one.
        let source = match source {
            Source::Mapped(_, Some(file)) => Source::File(file),
            other => other,
        };
        Inflater { source, pos: start, end: start + len, buf: Vec::new(), buf_pos: 0, chunk: FIRST_CHUNK, z: Decompress::new(false), finished: false }
    }

    /// Whether the deflate stream has ended.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Fill `out` entirely; an error if the stream ends first or is corrupt.
    pub fn fill(&mut self, out: &mut [u8]) -> Result<(), Invalid> {
        let n = self.inflate(out)?;
        if n < out.len() {
            return Err(invalid!("deflate stream ends early"));
        }
        Ok(())
    }

    /// Inflate into `out` until it is full or the stream ends; returns the bytes written.
    pub fn inflate(&mut self, out: &mut [u8]) -> Result<usize, Invalid> {
        let mut written = 0;
        while written < out.len() && !self.finished {
            let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
            let input_left = self.input_available()?;
            let input = match &self.source {
                Source::Mapped(m, _) => &m[self.pos as usize..self.end as usize],
                Source::File(_) => &self.buf[self.buf_pos..],
            };
            let status = self
                .z
                .decompress(input, &mut out[written..], FlushDecompress::None)
                .map_err(|e| invalid!("corrupt deflate stream: {e}"))?;
            let consumed = (self.z.total_in() - in_before) as usize;
            let produced = (self.z.total_out() - out_before) as usize;
            self.consume(consumed);
            written += produced;
            match status {
                Status::StreamEnd => self.finished = true,
                Status::Ok | Status::BufError if consumed == 0 && produced == 0 => {
                    return Err(if input_left {
                        invalid!("corrupt deflate stream: no progress")
                    } else {
                        invalid!("deflate stream ends early")
                    });
                }
                _ => {}
            }
        }
        Ok(written)
    }

    /// Make compressed input available; false when none is left.
    fn input_available(&mut self) -> Result<bool, Invalid> {
        match &self.source {
            Source::Mapped(..) => Ok(self.pos < self.end),
            Source::File(f) => {
                if self.buf_pos < self.buf.len() {
                    return Ok(true);
                }
                let n = (self.end - self.pos).min(self.chunk as u64) as usize;
                self.chunk = (self.chunk * 2).min(FILE_CHUNK);
                self.buf.resize(n, 0);
                self.buf_pos = 0;
                if n > 0 {
                    f.read_exact_at(&mut self.buf, self.pos).map_err(|e| invalid!("read failed: {e}"))?;
                    self.pos += n as u64;
                }
                Ok(n > 0)
            }
        }
    }

    fn consume(&mut self, n: usize) {
        match &self.source {
            Source::Mapped(..) => self.pos += n as u64,
            Source::File(_) => self.buf_pos += n,
        }
    }
}
