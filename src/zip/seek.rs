//! Seek points in a deflated member written without blocks (numpy's: one deflate stream, no
//! index), learned while it is inflated from its start (see [`super::inflate::record`]): every
//! [`SPAN`] bytes of output or so, at the end of a deflate block, the bit offset in the
//! compressed bytes, the output offset and the 32 KiB of output before it (zlib's `zran`
//! technique). From a point, a span inflates on its own ([`super::inflate::known`]), in parallel
//! or only the ones a read needs. Each span is checked when inflated from a point: it must fill
//! its bytes exactly, end at the end of a deflate block at the next point's bit offset (the
//! stream's end for the last span) and match the CRC-32 recorded for it; a span that does not is
//! an error, and the caller drops the points. This module holds the points and where each span
//! lies; it inflates nothing.

use std::ops::Range;

use super::inflate::crc;

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
    pub(crate) window: Box<[u8]>,
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

    /// The CRC-32 recorded for span `i`.
    pub(crate) fn span_crc(&self, i: usize) -> u32 {
        self.crcs[i]
    }

    /// Point `i` (point 0 is the stream's start).
    pub(crate) fn point(&self, i: usize) -> Option<&Point> {
        self.points.get(i)
    }

    /// The member's inflated size and compressed size.
    pub(crate) fn sizes(&self) -> (u64, u64) {
        (self.size, self.compressed_size)
    }

    /// The CRC-32 of the whole member, from its spans'.
    pub(crate) fn crc(&self) -> u32 {
        crc::combine(self.crcs.iter().enumerate().map(|(i, &c)| {
            let r = self.span(i);
            (c, r.end - r.start)
        }))
    }

    /// Bytes of memory the points hold.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.points.iter().map(|p| p.window.len() as u64 + size_of::<Point>() as u64 + 4).sum::<u64>() + size_of::<Points>() as u64
    }

    /// Span `i` as a deflate stream of its own, that libdeflate inflates from its point: its
    /// window first as a stored block, then its bits moved to a byte boundary, then an empty
    /// final block (the span ends at the end of a block). `None` when `input` (its
    /// [`compressed_range`](Self::compressed_range)) does not fit the point.
    pub(crate) fn span_stream(&self, i: usize, input: &[u8]) -> Option<Vec<u8>> {
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

    /// The points and the CRC-32 of each span, to break in tests.
    #[cfg(test)]
    pub(crate) fn parts_mut(&mut self) -> (&mut [Point], &mut [u32]) {
        (&mut self.points, &mut self.crcs)
    }
}
