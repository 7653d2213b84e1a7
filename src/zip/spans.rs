//! A reader of a deflated member written without blocks whose seek points are learned (see
//! [`super::seek`]): each read inflates the spans holding its bytes (several at once on
//! Polars' thread pool), each checked; the last is kept for the next read. Only those spans'
//! compressed bytes are read (from an object store: requested). Should a span not hold, the
//! member's points are dropped and the reader goes on as a plain stream from the start.

use std::sync::Arc;

use rayon::prelude::*;

use super::index::ZipEntry;
use super::inflate::{crc, known, Inflater};
use super::learned::{self, Key};
use super::seek::Points;
use crate::error::{internal, Invalid};
use crate::source::Source;

pub(crate) struct SpanReader {
    source: Source,
    entry: Box<ZipEntry>,
    key: Key,
    points: Arc<Points>,
    /// Spans inflated and not yet read past (the last read's, and those inflated ahead).
    kept: Vec<(usize, known::Span)>,
    /// Where the last read ended: a read starting there reads on, so spans after it are
    /// inflated at the same time (one per thread of the pool).
    next: u64,
    /// After a span did not hold: the member as a plain stream, and its position.
    plain: Option<(Box<Inflater>, u64, crc::Crc32)>,
}

impl SpanReader {
    /// A reader of `entry`, when its points are learned.
    pub(crate) fn new(source: &Source, entry: &ZipEntry) -> Option<SpanReader> {
        let key = learned::key(source, entry)?;
        let points = learned::points(&key)?;
        Some(SpanReader { source: source.clone(), entry: Box::new(entry.clone()), key, points, kept: Vec::new(), next: 0, plain: None })
    }

    /// Fill `out` with the member's bytes from `pos` on.
    pub(crate) fn read(&mut self, pos: u64, out: &mut [u8]) -> Result<(), Invalid> {
        if out.is_empty() {
            return Ok(());
        }
        if self.plain.is_none() {
            match self.read_spans(pos, out) {
                Ok(()) => return Ok(()),
                Err(_) => {
                    learned::forget(&self.key);
                    let e = &self.entry;
                    let inflater = Inflater::new(self.source.clone(), e.data_start, e.compressed_size, e.size);
                    self.plain = Some((Box::new(inflater), 0, crc::Crc32::new()));
                }
            }
        }
        self.read_plain(pos, out)
    }

    fn read_spans(&mut self, pos: u64, out: &mut [u8]) -> Result<(), Invalid> {
        let points = &*self.points;
        let end = pos + out.len() as u64;
        let (first, last) = (points.span_at(pos), points.span_at(end - 1));
        let mut kept: Vec<_> = std::mem::take(&mut self.kept).into_iter().filter(|(s, _)| *s >= first).collect();
        let ahead = if pos == self.next && pos > 0 { polars_core::runtime::THREAD_POOL.current_num_threads().saturating_sub(1) } else { 0 };
        let upto = last.saturating_add(ahead).min(points.spans() - 1);
        let needed: Vec<usize> = if kept.iter().any(|(k, _)| *k == last) {
            Vec::new()
        } else {
            (first..=upto).filter(|s| kept.iter().all(|(k, _)| k != s)).collect()
        };
        let start = self.entry.data_start;
        let ranges: Vec<_> = needed.iter().map(|&s| points.compressed_range(s)).map(|r| start + r.start..start + r.end).collect();
        let compressed: Vec<std::borrow::Cow<'_, [u8]>> = match self.source.mapping() {
            Some(m) => ranges.iter().map(|r| std::borrow::Cow::Borrowed(&m[r.start as usize..r.end as usize])).collect(),
            None => self.source.read_ranges(&ranges).map_err(crate::error::read_failed)?.into_iter().map(std::borrow::Cow::Owned).collect(),
        };
        let inflate = |k: usize| -> Result<(usize, known::Span), Invalid> {
            Ok((needed[k], known::inflate_span(points, needed[k], &compressed[k])?))
        };
        let mut spans = if needed.len() > 1 {
            polars_core::runtime::THREAD_POOL.install(|| (0..needed.len()).into_par_iter().map(inflate).collect::<Result<Vec<_>, _>>())?
        } else {
            (0..needed.len()).map(inflate).collect::<Result<Vec<_>, _>>()?
        };
        spans.append(&mut kept);
        spans.sort_unstable_by_key(|(s, _)| *s);
        for (s, span) in spans.iter().filter(|(s, _)| *s <= last) {
            let (r, buf) = (points.span(*s), span.bytes());
            let (from, to) = (pos.max(r.start), end.min(r.end));
            out[(from - pos) as usize..(to - pos) as usize].copy_from_slice(&buf[(from - r.start) as usize..(to - r.start) as usize]);
        }
        self.kept = spans.into_iter().filter(|(s, _)| *s >= last).collect();
        self.next = end;
        Ok(())
    }

    /// The plain stream: inflated from its start, bytes before `pos` dropped; the member's
    /// CRC-32 checked at its end.
    fn read_plain(&mut self, pos: u64, out: &mut [u8]) -> Result<(), Invalid> {
        let (inflater, at, crc) = self.plain.as_mut().ok_or_else(|| internal!("no plain stream"))?;
        let mut scratch = vec![0u8; (64 * 1024).min(pos.saturating_sub(*at) as usize)];
        while *at < pos {
            let n = (pos - *at).min(scratch.len() as u64) as usize;
            inflater.fill(&mut scratch[..n])?;
            crc.update(&scratch[..n]);
            *at += n as u64;
        }
        if *at != pos {
            return Err(internal!("a plain stream at {at} read from {pos}"));
        }
        inflater.fill(out)?;
        crc.update(out);
        *at += out.len() as u64;
        if *at == self.entry.size {
            crc.check(self.entry.crc32)?;
        }
        Ok(())
    }
}
