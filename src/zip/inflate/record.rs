//! Inflating by zlib-rs (through zlib's C API) while recording seek points (see
//! [`super::super::seek`]): it stops at the end of each deflate block, where, every so many bytes
//! of output, it notes the bit offset in the compressed bytes, the output offset and the 32 KiB
//! of output before it. Slower than the other inflaters (about 1.3x libdeflate's time; stock
//! zlib took twice): used only while a member's points are learned.

use super::{count_inflated, crc};
use crate::error::{invalid, ErrorKind, Invalid};
use crate::raw::ZInflate;
use crate::zip::seek::{Point, Points, WINDOW};

fn zlib(e: std::io::Error) -> Invalid {
    invalid!("{e}")
}

/// Records points while a stream is inflated from its start, its output handed over piece by
/// piece (see [`Recorder::inflate`]).
pub(crate) struct Recorder {
    z: ZInflate,
    every: u64,
    points: Vec<Point>,
    crcs: Vec<u32>,
    span_crc: crc::Crc32,
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
            span_crc: crc::Crc32::new(),
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
                let crc = self.span_crc.take();
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
        self.crcs.push(self.span_crc.take());
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
    crc::check_bytes(dst, crc)?;
    let points =
        rec.finish(size, compressed.len() as u64, crc).ok_or_else(|| invalid!("internal error: seek points that do not hold together"))?;
    count_inflated(dst.len());
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::super::known::{inflate_span, inflate_spans};
    use super::*;
    use proptest::prelude::*;

    fn does_not_hold(span: usize, why: &str) -> Invalid {
        invalid!("a learned seek point does not hold (span {span}: {why})")
    }

    /// [`inflate_span`](super::known::inflate_span) by zlib, resumed at the point: its end
    /// checked to be the end of a deflate block at the next point's bit offset.
    fn inflate_span_zlib(points: &Points, i: usize, input: &[u8], out: &mut [u8]) -> Result<(), Invalid> {
        let p = points.point(i).ok_or_else(|| does_not_hold(i, "no such span"))?;
        let r = points.span(i);
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
        let next = points.point(i + 1);
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
        crc::check_bytes(out, points.span_crc(i)).map_err(|_| does_not_hold(i, "CRC-32 mismatch"))
    }

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
            let span = inflate_span(&points, i, &packed[c.start as usize..c.end as usize]).unwrap();
            assert_eq!(span.bytes(), &data[r.start as usize..r.end as usize], "span {i}");
            let mut span = vec![0u8; (r.end - r.start) as usize];
            inflate_span_zlib(&points, i, &packed[c.start as usize..c.end as usize], &mut span).unwrap();
            assert_eq!(span, &data[r.start as usize..r.end as usize], "span {i} by zlib");
        }
        let mut again = vec![0u8; data.len()];
        inflate_spans(&points, &packed, &mut again).unwrap();
        assert_eq!(again, data);
        // A point moved by a bit, or to another output offset, does not hold.
        if points.spans() > 1 {
            let mut bad = points.clone();
            let (p, _) = bad.parts_mut();
            p[1].bits = (p[1].bits + 2) % 8;
            let c = bad.compressed_range(0);
            let r = bad.span(0);
            let mut span = vec![0u8; (r.end - r.start) as usize];
            assert!(inflate_span(&bad, 0, &packed[c.start as usize..c.end as usize]).is_err());
            assert!(inflate_span_zlib(&bad, 0, &packed[c.start as usize..c.end as usize], &mut span).is_err());
            let mut bad = points.clone();
            bad.parts_mut().0[1].out += 1;
            let mut all = vec![0u8; data.len()];
            assert!(inflate_spans(&bad, &packed, &mut all).is_err());
            let mut bad = points.clone();
            bad.parts_mut().1[0] ^= 1;
            assert!(inflate_spans(&bad, &packed, &mut all).is_err());
            // A window that is not the output before its span gives an error or, where the
            // span never refers to the byte changed, the right bytes; never other bytes.
            for i in 1..points.spans().min(3) {
                let mut bad = points.clone();
                if let Some(b) = bad.parts_mut().0[i].window.last_mut() {
                    *b ^= 0x55;
                    let got = inflate_spans(&bad, &packed, &mut all);
                    assert!(got.is_err() || all == data, "window of span {i}");
                }
            }
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
        inflate_spans(&points, &packed, &mut again).unwrap();
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
