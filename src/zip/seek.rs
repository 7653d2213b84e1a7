//! Seek points in a deflated member written without blocks (numpy's: one deflate stream, no
//! index), learned while it is inflated from its start: every [`SPAN`] bytes of output or so,
//! at the end of a deflate block, the bit offset in the compressed bytes, the output offset and
//! the 32 KiB of output before it (zlib's `zran` technique). From a point, zlib starts
//! mid-stream; the spans between points inflate on their own, in parallel or only the ones a
//! read needs. Each span is checked when inflated from a point: it must fill its bytes exactly,
//! end at the end of a deflate block at the next point's bit offset (the stream's end for the
//! last span) and match the CRC-32 recorded for it; a span that does not is an error, and the
//! caller drops the points.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{invalid, ErrorKind, Invalid};
use crate::raw::ZInflate;

/// Bytes of output a deflate stream refers back to: a point's window.
pub(crate) const WINDOW: usize = 32 * 1024;
/// Output between points, at least (a point costs its window: under 1 % of a span).
pub(crate) const SPAN: u64 = 4 << 20;

/// Where a span starts.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// Compressed bytes before the point that are wholly used (from the member's data start).
    pub(crate) in_byte: u64,
    /// Bits of the byte before `in_byte` that belong to the span (its high bits).
    pub(crate) bits: u8,
    /// Inflated bytes before the point.
    pub(crate) out: u64,
    /// The (up to) 32 KiB of output before the point.
    window: Box<[u8]>,
}

/// The seek points of one member and the CRC-32 of each span between them.
#[derive(Debug, Clone)]
pub(crate) struct Points {
    /// Point 0 is the stream's start.
    points: Vec<Point>,
    crcs: Vec<u32>,
    size: u64,
    compressed_size: u64,
}

fn zlib(e: std::io::Error) -> Invalid {
    invalid!("{e}")
}

fn does_not_hold(span: usize, why: &str) -> Invalid {
    invalid!("a learned seek point does not hold (span {span}: {why})")
}

impl Points {
    /// Points from their parts; `None` unless they hold together (point 0 at the start, offsets
    /// strictly increasing inside the member, one CRC-32 per span, windows of 32 KiB or the
    /// output before).
    pub(crate) fn new(points: Vec<Point>, crcs: Vec<u32>, size: u64, compressed_size: u64) -> Option<Points> {
        let first = points.first()?;
        let ordered = points.windows(2).all(|w| w[0].out < w[1].out && w[0].in_byte < w[1].in_byte);
        let inside = points.iter().all(|p| {
            p.bits < 8
                && p.bits % 2 == 0
                && p.out < size.max(1)
                && p.in_byte <= compressed_size
                && (p.in_byte > 0 || p.bits == 0)
                && p.window.len() as u64 == p.out.min(WINDOW as u64)
        });
        let ok = first.out == 0 && first.in_byte == 0 && first.bits == 0 && ordered && inside && crcs.len() == points.len();
        ok.then_some(Points { points, crcs, size, compressed_size })
    }

    /// Number of spans.
    pub(crate) fn spans(&self) -> usize {
        self.points.len()
    }

    /// The inflated byte range of span `i`.
    pub(crate) fn span(&self, i: usize) -> Range<u64> {
        self.points[i].out..self.points.get(i + 1).map_or(self.size, |p| p.out)
    }

    /// The span holding inflated byte `at`.
    pub(crate) fn span_at(&self, at: u64) -> usize {
        self.points.partition_point(|p| p.out <= at).saturating_sub(1)
    }

    /// The compressed bytes span `i` needs (from the member's data start): from the byte
    /// holding its first bit to the byte holding its last.
    pub(crate) fn compressed_range(&self, i: usize) -> Range<u64> {
        let p = &self.points[i];
        let start = p.in_byte - u64::from(p.bits > 0);
        start..self.points.get(i + 1).map_or(self.compressed_size, |n| n.in_byte)
    }

    /// The CRC-32 of the whole member, from its spans'.
    pub(crate) fn crc(&self) -> u32 {
        let mut crc = crc32fast::Hasher::new();
        for (i, &c) in self.crcs.iter().enumerate() {
            let r = self.span(i);
            crc.combine(&crc32fast::Hasher::new_with_initial_len(c, r.end - r.start));
        }
        crc.finalize()
    }

    /// Bytes of memory the points hold.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.points.iter().map(|p| p.window.len() as u64 + size_of::<Point>() as u64 + 4).sum::<u64>() + size_of::<Points>() as u64
    }

    /// Inflate span `i` from `input` (its [`compressed_range`](Self::compressed_range)) into
    /// `out` (exactly its length), checked as the module says. By libdeflate (faster than
    /// zlib): the span made a deflate stream of its own, its window first as a stored block,
    /// then its bits moved to a byte boundary, then an empty final block (the span ends at the
    /// end of a block).
    pub(crate) fn inflate_span(&self, i: usize, input: &[u8], out: &mut [u8]) -> Result<(), Invalid> {
        thread_local! {
            static D: std::cell::RefCell<libdeflater::Decompressor> = std::cell::RefCell::new(libdeflater::Decompressor::new());
        }
        let p = &self.points[i];
        let r = self.span(i);
        if out.len() as u64 != r.end - r.start {
            return Err(invalid!("internal error: span {i} of {} bytes into {}", r.end - r.start, out.len()));
        }
        let stream = self.span_stream(i, input).ok_or_else(|| does_not_hold(i, "its bits are not where it says"))?;
        let mut buf = vec![0u8; p.window.len() + out.len()];
        let n = D.with_borrow_mut(|d| d.deflate_decompress(&stream, &mut buf)).map_err(|_| does_not_hold(i, "corrupt from its point"))?;
        if n != buf.len() {
            return Err(does_not_hold(i, "it inflates to another length"));
        }
        out.copy_from_slice(&buf[p.window.len()..]);
        if crc32fast::hash(out) != self.crcs[i] {
            return Err(does_not_hold(i, "CRC-32 mismatch"));
        }
        Ok(())
    }

    /// Span `i` as a deflate stream of its own (see [`inflate_span`](Self::inflate_span)).
    fn span_stream(&self, i: usize, input: &[u8]) -> Option<Vec<u8>> {
        let p = &self.points[i];
        let c = self.compressed_range(i);
        if input.len() as u64 != c.end - c.start {
            return None;
        }
        // The span's bits start at bit `phase` of `input`'s first byte. Stored blocks in it are
        // aligned to bytes of the original stream, so the phase is kept: after the window (which
        // ends on a byte boundary) come `phase / 2` empty blocks of 10 bits (points are taken
        // where the phase is even), and the span's first byte with its bits before the span
        // replaced by theirs.
        let phase = (8 - u32::from(p.bits)) % 8;
        if phase % 2 != 0 {
            return None;
        }
        let len = match self.points.get(i + 1) {
            Some(n) => (n.in_byte.checked_mul(8)? - u64::from(n.bits)).checked_sub(p.in_byte.checked_mul(8)? - u64::from(p.bits))?,
            None => (input.len() as u64 * 8).checked_sub(u64::from(phase))?,
        };
        let len = usize::try_from(len).ok()?;
        let window = u16::try_from(p.window.len()).ok()?;
        let mut s = Vec::with_capacity(5 + p.window.len() + input.len() + 8);
        if window > 0 {
            // A stored block (not final): its header in one byte, its length and complement.
            s.push(0);
            s.extend(window.to_le_bytes());
            s.extend((!window).to_le_bytes());
            s.extend_from_slice(&p.window);
        }
        // Empty blocks of fixed codes, not final: BFINAL 0, BTYPE 01, the end-of-block code
        // (seven 0 bits): 10 bits of value 2 each.
        let empty = (0..phase / 2).fold(0u32, |acc, k| acc | 2 << (10 * k));
        let at = s.len();
        if phase == 0 {
            s.extend_from_slice(input);
        } else {
            let bytes = (10 * phase / 2).div_ceil(8) as usize;
            s.extend(&empty.to_le_bytes()[..bytes]);
            let first = input.first()? & !((1u8 << phase) - 1);
            *s.last_mut()? |= first;
            s.extend_from_slice(&input[1..]);
        }
        // The span's end, as a bit offset in `s`.
        let end = at * 8 + 10 * (phase / 2) as usize + len;
        s.resize(end / 8 + 3, 0);
        if self.points.get(i + 1).is_some() {
            // Nothing after the span's bits, then an empty final block of fixed codes: BFINAL
            // 1, BTYPE 01, the end-of-block code: value 3 in 10 bits.
            let (byte, bit) = (end / 8, end % 8);
            s[byte] &= (1u8 << bit).wrapping_sub(1);
            s[byte + 1..].fill(0);
            let v = 3u16 << bit;
            s[byte] |= v as u8;
            s[byte + 1] |= (v >> 8) as u8;
        }
        Some(s)
    }

    /// [`inflate_span`](Self::inflate_span) by zlib, resumed at the point: its end checked to
    /// be the end of a deflate block at the next point's bit offset.
    #[cfg(test)]
    pub(crate) fn inflate_span_zlib(&self, i: usize, input: &[u8], out: &mut [u8]) -> Result<(), Invalid> {
        let p = &self.points[i];
        let r = self.span(i);
        if out.len() as u64 != r.end - r.start {
            return Err(invalid!("internal error: span {i} of {} bytes into {}", r.end - r.start, out.len()));
        }
        let mut z = ZInflate::new().map_err(zlib)?;
        let (skip, first) = match (p.bits, input.first()) {
            (0, _) => (0, 0),
            (_, Some(&b)) => (1, b),
            (_, None) => return Err(does_not_hold(i, "no input")),
        };
        z.resume(p.bits, first, &p.window).map_err(zlib)?;
        let next = self.points.get(i + 1);
        let (mut used, mut filled, mut stalls) = (skip, 0usize, 0);
        loop {
            let step = z.inflate(&input[used..], &mut out[filled..], true).map_err(|e| does_not_hold(i, &e.to_string()))?;
            used += step.consumed;
            filled += step.produced;
            if filled == out.len() {
                match next {
                    None if step.end => break,
                    Some(n) if step.boundary => {
                        let at = p.in_byte + (used - skip) as u64;
                        if at != n.in_byte || step.unused_bits != n.bits {
                            return Err(does_not_hold(i, "its end is not at the next point"));
                        }
                        break;
                    }
                    _ => {}
                }
            }
            if step.end {
                return Err(does_not_hold(i, "the stream ends inside it"));
            }
            stalls = if step.consumed == 0 && step.produced == 0 { stalls + 1 } else { 0 };
            if stalls > 2 {
                return Err(does_not_hold(i, "it does not end where the next point starts"));
            }
        }
        if crc32fast::hash(out) != self.crcs[i] {
            return Err(does_not_hold(i, "CRC-32 mismatch"));
        }
        Ok(())
    }

    /// Inflate the whole member from `compressed` (its bytes) into `dst` (of its size): every
    /// span at once on Polars' thread pool.
    pub(crate) fn inflate_all(&self, compressed: &[u8], dst: &mut [u8]) -> Result<(), Invalid> {
        if dst.len() as u64 != self.size || compressed.len() as u64 != self.compressed_size {
            return Err(invalid!("internal error: learned points for another member"));
        }
        let mut pieces = Vec::with_capacity(self.spans());
        let mut rest = dst;
        for i in 0..self.spans() {
            let r = self.span(i);
            let (piece, tail) = std::mem::take(&mut rest).split_at_mut((r.end - r.start) as usize);
            pieces.push((i, piece));
            rest = tail;
        }
        polars_core::runtime::THREAD_POOL.install(|| {
            pieces.into_par_iter().try_for_each(|(i, piece)| {
                let c = self.compressed_range(i);
                self.inflate_span(i, &compressed[c.start as usize..c.end as usize], piece)
            })
        })
    }
}

/// Records points while a stream is inflated from its start, its output handed over piece by
/// piece (see [`Recorder::inflate`]).
pub(crate) struct Recorder {
    z: ZInflate,
    every: u64,
    points: Vec<Point>,
    crcs: Vec<u32>,
    span_crc: crc32fast::Hasher,
    /// Compressed bytes consumed, output produced.
    used: u64,
    out: u64,
    /// The last output (up to 32 KiB) of earlier calls.
    tail: Vec<u8>,
    ended: bool,
}

impl Recorder {
    /// A recorder at the start of a stream, a point every `every` bytes of output or so.
    pub(crate) fn new(every: u64) -> Result<Recorder, Invalid> {
        let start = Point { in_byte: 0, bits: 0, out: 0, window: Box::new([]) };
        Ok(Recorder {
            z: ZInflate::new().map_err(zlib)?,
            every: every.max(1),
            points: vec![start],
            crcs: Vec::new(),
            span_crc: crc32fast::Hasher::new(),
            used: 0,
            out: 0,
            tail: Vec::new(),
            ended: false,
        })
    }

    /// Whether the stream has ended.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Inflate from `input` into `out`, stopping at the end of each deflate block to record a
    /// point when one is due: (consumed, produced). Either is nonzero, or the stream has
    /// ended, or it cannot go on (the input is used up, or the output full).
    pub(crate) fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Invalid> {
        let (mut used, mut filled, mut stalls) = (0usize, 0usize, 0);
        // A call can move on without input or output (the end of a block whose code was read
        // already): only a few of those in a row mean it cannot go on.
        while !self.ended && stalls < 3 {
            let step = self.z.inflate(&input[used..], &mut out[filled..], true).map_err(zlib)?;
            self.span_crc.update(&out[filled..filled + step.produced]);
            used += step.consumed;
            filled += step.produced;
            self.used += step.consumed as u64;
            self.out += step.produced as u64;
            self.ended = step.end;
            let last = self.points.last().map_or(0, |p| p.out);
            // Points where the bit phase is even: see `Points::span_stream`.
            if step.boundary && step.unused_bits % 2 == 0 && self.out - last >= self.every {
                let window = self.window(&out[..filled]);
                let crc = std::mem::replace(&mut self.span_crc, crc32fast::Hasher::new()).finalize();
                self.crcs.push(crc);
                self.points.push(Point { in_byte: self.used, bits: step.unused_bits, out: self.out, window });
            }
            stalls = if step.consumed == 0 && step.produced == 0 { stalls + 1 } else { 0 };
        }
        // The last 32 KiB of output so far, for the windows of later calls.
        let keep = filled.min(WINDOW);
        let old = (WINDOW - keep).min(self.tail.len());
        self.tail.drain(..self.tail.len() - old);
        self.tail.extend_from_slice(&out[filled - keep..filled]);
        Ok((used, filled))
    }

    /// The 32 KiB of output before now: the end of `current` (this call's output) after the
    /// kept tail of earlier calls.
    fn window(&self, current: &[u8]) -> Box<[u8]> {
        let want = (self.out as usize).min(WINDOW);
        let from_current = current.len().min(want);
        let from_tail = want - from_current;
        let mut w = Vec::with_capacity(want);
        w.extend_from_slice(&self.tail[self.tail.len() - from_tail.min(self.tail.len())..]);
        w.extend_from_slice(&current[current.len() - from_current..]);
        w.into_boxed_slice()
    }

    /// The points, once the stream has ended with `size` bytes from `compressed_size`, when
    /// they hold together and its CRC-32 is `crc` (else `None`: nothing is learned).
    pub(crate) fn finish(mut self, size: u64, compressed_size: u64, crc: u32) -> Option<Points> {
        if !self.ended || self.out != size || self.used > compressed_size {
            return None;
        }
        self.crcs.push(self.span_crc.finalize());
        // A point at the very end (an empty block after it) starts an empty span: dropped.
        if self.points.len() > 1 && self.points.last().is_some_and(|p| p.out == size) {
            self.points.pop();
            self.crcs.pop();
        }
        let points = Points::new(self.points, self.crcs, size, compressed_size)?;
        (points.crc() == crc).then_some(points)
    }
}

/// Inflate a whole member (`compressed`, its bytes) into `dst` (of its size), recording points
/// every `every` bytes: the points, when the stream fills `dst` exactly and its CRC-32 is `crc`
/// (the caller's check); an error when it is corrupt.
pub(crate) fn inflate_recording(compressed: &[u8], dst: &mut [u8], every: u64, crc: u32) -> Result<Points, Invalid> {
    let mut rec = Recorder::new(every)?;
    let (mut used, mut filled) = (0usize, 0usize);
    loop {
        let (c, p) = rec.inflate(&compressed[used..], &mut dst[filled..])?;
        used += c;
        filled += p;
        if rec.ended() || (c == 0 && p == 0) {
            break;
        }
    }
    let size = dst.len() as u64;
    if !rec.ended() {
        return Err(if filled == dst.len() {
            ErrorKind::StreamTooLong { declared: size }
        } else {
            ErrorKind::StreamEndsEarly { declared: size }
        });
    }
    if filled != dst.len() {
        return Err(ErrorKind::StreamEndsEarly { declared: size });
    }
    let computed = crc32fast::hash(dst);
    if computed != crc {
        return Err(ErrorKind::Checksum { computed, expected: crc });
    }
    rec.finish(size, compressed.len() as u64, crc).ok_or_else(|| invalid!("internal error: seek points that do not hold together"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes that deflate to many blocks of mixed kinds: runs, text-like and random stretches.
    fn data(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let kind = next() % 3;
            let run = (next() % 50_000) as usize + 1;
            for k in 0..run.min(len - out.len()) {
                out.push(match kind {
                    0 => b'a',
                    1 => b"the quick brown fox "[k % 20],
                    _ => next() as u8,
                });
            }
        }
        out
    }

    fn deflate(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        std::io::Write::write_all(&mut e, data).unwrap();
        e.finish().unwrap()
    }

    fn check(data: &[u8], level: u32, every: u64) {
        let packed = deflate(data, level);
        let crc = crc32fast::hash(data);
        let mut out = vec![0u8; data.len()];
        let points = inflate_recording(&packed, &mut out, every, crc).unwrap();
        assert_eq!(out, data);
        assert_eq!(points.crc(), crc);
        // libdeflate agrees.
        let mut lib = vec![0u8; data.len()];
        libdeflater::Decompressor::new().deflate_decompress(&packed, &mut lib).unwrap();
        assert_eq!(lib, data);
        // Every span alone, and all in parallel.
        for i in 0..points.spans() {
            let (c, r) = (points.compressed_range(i), points.span(i));
            let mut span = vec![0u8; (r.end - r.start) as usize];
            points.inflate_span(i, &packed[c.start as usize..c.end as usize], &mut span).unwrap();
            assert_eq!(span, &data[r.start as usize..r.end as usize], "span {i}");
            span.fill(0);
            points.inflate_span_zlib(i, &packed[c.start as usize..c.end as usize], &mut span).unwrap();
            assert_eq!(span, &data[r.start as usize..r.end as usize], "span {i} by zlib");
        }
        let mut again = vec![0u8; data.len()];
        points.inflate_all(&packed, &mut again).unwrap();
        assert_eq!(again, data);
        // A point moved by a bit, or to another output offset, does not hold.
        if points.spans() > 1 {
            let mut bad = points.clone();
            bad.points[1].bits = (bad.points[1].bits + 2) % 8;
            let c = bad.compressed_range(0);
            let r = bad.span(0);
            let mut span = vec![0u8; (r.end - r.start) as usize];
            assert!(bad.inflate_span(0, &packed[c.start as usize..c.end as usize], &mut span).is_err());
            assert!(bad.inflate_span_zlib(0, &packed[c.start as usize..c.end as usize], &mut span).is_err());
            let mut bad = points.clone();
            bad.points[1].out += 1;
            let mut all = vec![0u8; data.len()];
            assert!(bad.inflate_all(&packed, &mut all).is_err());
            let mut bad = points.clone();
            bad.crcs[0] ^= 1;
            assert!(bad.inflate_all(&packed, &mut all).is_err());
        }
    }

    #[test]
    fn spans_inflate_alone_as_the_stream_does() {
        check(&data(7, 3 << 20), 6, 200_000);
        check(&data(9, 1 << 20), 1, 50_000);
        check(&data(11, 100_000), 9, 1);
        check(b"", 6, 10);
        // Random float64 readings, as numpy writes them.
        let floats: Vec<u8> = data(3, 2 << 20).chunks(8).flat_map(|c| (f64::from(c[0]) * 0.01).to_le_bytes()).collect();
        check(&floats, 6, 300_000);
    }

    #[test]
    fn streamed_recording_matches_whole() {
        let d = data(5, 2 << 20);
        let packed = deflate(&d, 6);
        let mut rec = Recorder::new(100_000).unwrap();
        let mut out = Vec::new();
        let mut used = 0;
        let mut buf = vec![0u8; 77_777];
        while !rec.ended() {
            let (c, p) = rec.inflate(&packed[used..(used + 5000).min(packed.len())], &mut buf).unwrap();
            used += c;
            out.extend_from_slice(&buf[..p]);
        }
        assert_eq!(out, d);
        let points = rec.finish(d.len() as u64, packed.len() as u64, crc32fast::hash(&d)).unwrap();
        let mut again = vec![0u8; d.len()];
        points.inflate_all(&packed, &mut again).unwrap();
        assert_eq!(again, d);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn random_data_and_spacing(seed in 1u64..1000, len in 0usize..600_000, every in 1u64..300_000, level in 1u32..10) {
            check(&data(seed, len), level, every);
        }
    }
}
