//! The block index of a member ("row groups" for npz): where each block of the member starts
//! (compressed and inflated), its CRC-32, and statistics of its rows (min, max, null and NaN
//! counts). It lives in a private extra field of the member's central-directory entry, which
//! numpy, `zipfile` and `unzip` skip, and it is bound to the member by the CRC-32 and sizes it
//! records: an index that does not match its entry (the archive was rewritten by another
//! tool), or that does not hold together (offsets out of order or out of range, counts that do
//! not add up), is ignored, and the member read as a plain stream.
//!
//! A deflated member with blocks is one deflate stream whose blocks end in a full flush: each
//! starts on a byte boundary with no reference to the bytes before it, so each inflates on its
//! own (in parallel, or only the ones a read needs). Block 0 is the `.npy` header alone, so
//! opening an archive inflates a few dozen bytes per member to read its header.
//!
//! Layout (little-endian): `NPZB`, version (1), flags (1: units are rows of the array, 2:
//! per-block compressed offsets and CRC-32s, 4: statistics), the statistics' element size, a
//! reserved byte; the member's CRC-32 (u32), compressed size and size (u64 each); the offset
//! of the first unit in the inflated member (the `.npy` header's length), bytes per unit,
//! units, units per block (u64 each); the number of blocks (u32). Then, with flag 2, per block
//! its offset in the compressed bytes (u64) and the CRC-32 of its inflated bytes (u32); with
//! flag 4, per block its null count and NaN count (u32 each), then its min and max (one element
//! each, as the member stores them). Block 0 holds the header (no units; with no units at all,
//! the whole member); block `b >= 1` starts at `data_offset + (b - 1) * units_per_block *
//! unit_bytes` of the inflated member.

/// Extra-field id of the block index ("pn").
pub(crate) const BLOCKS_ID: u16 = 0x6e70;
const MAGIC: &[u8; 4] = b"NPZB";
const VERSION: u8 = 1;
const ROWS: u8 = 1;
const OFFSETS: u8 = 2;
const STATS: u8 = 4;
/// Bytes before the per-block records.
const FIXED: usize = 4 + 4 + 4 + 8 * 6 + 4;
/// An extra field holds at most this many bytes (with the zip64 field beside it).
pub(crate) const MAX_INDEX_BYTES: usize = 65_535 - 4 - 28 - 4;

/// Statistics of each block's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockStats {
    /// Bytes of one element (of min and max).
    pub(crate) itemsize: usize,
    /// Nulls (NaT) per block.
    pub(crate) nulls: Vec<u32>,
    /// NaNs per block (floats).
    pub(crate) nans: Vec<u32>,
    /// Each block's smallest value (ignoring nulls and NaN), as stored: `itemsize` bytes each;
    /// zeros for a block without such values.
    pub(crate) min: Vec<u8>,
    /// Each block's largest value, likewise.
    pub(crate) max: Vec<u8>,
}

/// The blocks of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockIndex {
    /// The member's CRC-32, compressed size and size this index was written for.
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    /// Inflated offset of the first unit (the `.npy` header's length).
    pub(crate) data_offset: u64,
    /// Bytes per unit (a row when `rows`).
    pub(crate) unit_bytes: u64,
    pub(crate) units: u64,
    pub(crate) units_per_block: u64,
    /// Whether units are rows of the array (C order), so blocks map to row ranges.
    pub(crate) rows: bool,
    /// Per block: its offset in the compressed bytes and the CRC-32 of its inflated bytes
    /// (deflated members).
    pub(crate) offsets: Option<Vec<(u64, u32)>>,
    pub(crate) stats: Option<BlockStats>,
}

impl BlockIndex {
    /// Number of blocks.
    pub(crate) fn len(&self) -> usize {
        blocks_for(self.units, self.units_per_block)
    }

    /// The inflated byte range of block `b`.
    pub(crate) fn inflated_range(&self, b: usize) -> std::ops::Range<u64> {
        let at = |k: u64| self.data_offset + k * self.units_per_block * self.unit_bytes;
        let start = if b == 0 { 0 } else { at(b as u64 - 1) };
        let end = if b + 1 >= self.len() { self.size } else { at(b as u64) };
        start..end
    }

    /// The compressed byte range of block `b`, relative to the member's data (deflated members).
    pub(crate) fn compressed_range(&self, b: usize) -> Option<std::ops::Range<u64>> {
        let offsets = self.offsets.as_ref()?;
        let start = offsets.get(b)?.0;
        let end = offsets.get(b + 1).map_or(self.compressed_size, |o| o.0);
        Some(start..end)
    }

    /// The block holding inflated byte `at`.
    pub(crate) fn block_at(&self, at: u64) -> usize {
        if at < self.data_offset || self.unit_bytes == 0 {
            return 0;
        }
        let b = (at - self.data_offset) / self.units_per_block.saturating_mul(self.unit_bytes);
        (b as usize).saturating_add(1).min(self.len() - 1)
    }

    /// The rows (units) of block `b` (none for block 0, the header).
    pub(crate) fn units_of(&self, b: usize) -> std::ops::Range<u64> {
        if b == 0 {
            return 0..0;
        }
        let start = ((b as u64 - 1) * self.units_per_block).min(self.units);
        start..(start + self.units_per_block).min(self.units)
    }

    /// Whether this index belongs to a member of this CRC-32 and these sizes (compressed,
    /// inflated): the index is written for them.
    pub(crate) fn matches(&self, crc32: u32, compressed_size: u64, size: u64) -> bool {
        self.crc32 == crc32 && self.compressed_size == compressed_size && self.size == size
    }

    /// The index as stored in its extra field.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + self.len() * 40);
        let flags = if self.rows { ROWS } else { 0 }
            | if self.offsets.is_some() { OFFSETS } else { 0 }
            | if self.stats.is_some() { STATS } else { 0 };
        out.extend(MAGIC);
        out.extend([VERSION, flags, self.stats.as_ref().map_or(0, |s| s.itemsize as u8), 0]);
        out.extend(self.crc32.to_le_bytes());
        for v in [self.compressed_size, self.size, self.data_offset, self.unit_bytes, self.units, self.units_per_block] {
            out.extend(v.to_le_bytes());
        }
        out.extend((self.len() as u32).to_le_bytes());
        if let Some(offsets) = &self.offsets {
            for (at, crc) in offsets {
                out.extend(at.to_le_bytes());
                out.extend(crc.to_le_bytes());
            }
        }
        if let Some(s) = &self.stats {
            for b in 0..self.len() {
                out.extend(s.nulls[b].to_le_bytes());
                out.extend(s.nans[b].to_le_bytes());
                out.extend(&s.min[b * s.itemsize..(b + 1) * s.itemsize]);
                out.extend(&s.max[b * s.itemsize..(b + 1) * s.itemsize]);
            }
        }
        out
    }

    /// Parse an index; `None` when it is not one this version writes or does not hold
    /// together (it is then ignored). Never panics, allocates at most about `data.len()`.
    pub(crate) fn parse(data: &[u8]) -> Option<BlockIndex> {
        let mut r = Cursor { data, at: 0 };
        if r.take(4)? != MAGIC {
            return None;
        }
        let [version, flags, itemsize, _] = r.take(4)?.try_into().ok()?;
        if version != VERSION || flags & !(ROWS | OFFSETS | STATS) != 0 {
            return None;
        }
        let crc32 = r.u32()?;
        let [compressed_size, size, data_offset, unit_bytes, units, units_per_block] =
            [r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?, r.u64()?];
        let blocks = r.u32()? as usize;
        if units_per_block == 0 || blocks != blocks_for(units, units_per_block) {
            return None;
        }
        // The units fit in the member after its header; blocks are not so large that their
        // counts overflow u32.
        let data_end = units.checked_mul(unit_bytes)?.checked_add(data_offset)?;
        if data_end > size || units_per_block > u64::from(u32::MAX) || (unit_bytes == 0 && units > 0) {
            return None;
        }
        // Every record must be present: this also bounds the allocations below by the data.
        let per_block = if flags & OFFSETS != 0 { 12 } else { 0 } + if flags & STATS != 0 { 8 + 2 * itemsize as usize } else { 0 };
        if r.left() != blocks.checked_mul(per_block)? {
            return None;
        }
        let offsets = if flags & OFFSETS != 0 {
            let mut v = Vec::with_capacity(blocks);
            for b in 0..blocks {
                let (at, crc) = (r.u64()?, r.u32()?);
                // Offsets start at 0 and increase strictly, inside the compressed bytes.
                let ok = if b == 0 { at == 0 } else { at > v.last().map_or(0, |l: &(u64, u32)| l.0) && at < compressed_size };
                if !ok {
                    return None;
                }
                v.push((at, crc));
            }
            Some(v)
        } else {
            None
        };
        let stats = if flags & STATS != 0 {
            let itemsize = itemsize as usize;
            if !matches!(itemsize, 1 | 2 | 4 | 8) || flags & ROWS == 0 {
                return None;
            }
            let mut s = BlockStats {
                itemsize,
                nulls: Vec::with_capacity(blocks),
                nans: Vec::with_capacity(blocks),
                min: Vec::with_capacity(blocks * itemsize),
                max: Vec::with_capacity(blocks * itemsize),
            };
            for b in 0..blocks {
                let (nulls, nans) = (r.u32()?, r.u32()?);
                let rows = if b == 0 { 0 } else { units_per_block.min(units - (b as u64 - 1) * units_per_block) };
                if u64::from(nulls) + u64::from(nans) > rows {
                    return None;
                }
                s.nulls.push(nulls);
                s.nans.push(nans);
                s.min.extend(r.take(itemsize)?);
                s.max.extend(r.take(itemsize)?);
            }
            Some(s)
        } else {
            None
        };
        Some(BlockIndex {
            crc32,
            compressed_size,
            size,
            data_offset,
            unit_bytes,
            units,
            units_per_block,
            rows: flags & ROWS != 0,
            offsets,
            stats,
        })
    }
}

/// Blocks of a member of `units` units, `per` a block: the header's, then the units'.
pub(crate) fn blocks_for(units: u64, per: u64) -> usize {
    1 + units.div_ceil(per.max(1)) as usize
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn left(&self) -> usize {
        self.data.len() - self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> BlockIndex {
        BlockIndex {
            crc32: 7,
            compressed_size: 1000,
            size: 128 + 80 * 8,
            data_offset: 128,
            unit_bytes: 8,
            units: 80,
            units_per_block: 30,
            rows: true,
            offsets: Some(vec![(0, 0), (40, 1), (300, 2), (700, 3)]),
            stats: Some(BlockStats {
                itemsize: 8,
                nulls: vec![0, 0, 1, 2],
                nans: vec![0, 3, 0, 0],
                min: (0..32).collect(),
                max: (32..64).collect(),
            }),
        }
    }

    #[test]
    fn round_trips_and_maps_blocks() {
        let idx = sample();
        assert_eq!(BlockIndex::parse(&idx.encode()), Some(idx.clone()));
        assert_eq!(idx.len(), 4);
        assert_eq!(idx.inflated_range(0), 0..128);
        assert_eq!(idx.inflated_range(1), 128..128 + 240);
        assert_eq!(idx.inflated_range(3), 128 + 480..128 + 640);
        assert_eq!(idx.compressed_range(2), Some(300..700));
        assert_eq!(idx.compressed_range(3), Some(700..1000));
        assert_eq!(idx.block_at(127), 0);
        assert_eq!(idx.block_at(128), 1);
        assert_eq!(idx.block_at(128 + 240), 2);
        assert_eq!((idx.units_of(0), idx.units_of(3)), (0..0, 60..80));
    }

    #[test]
    fn refuses_what_does_not_hold_together() {
        let bad = |f: &dyn Fn(&mut BlockIndex)| {
            let mut idx = sample();
            f(&mut idx);
            BlockIndex::parse(&idx.encode()).is_none()
        };
        assert!(bad(&|i| i.offsets = Some(vec![(0, 0), (40, 1), (700, 2), (300, 3)])));
        assert!(bad(&|i| i.offsets = Some(vec![(5, 0), (40, 1), (300, 2), (700, 3)])));
        assert!(bad(&|i| i.offsets = Some(vec![(0, 0), (40, 1), (300, 2), (1000, 3)])));
        assert!(bad(&|i| i.size = 200));
        assert!(bad(&|i| i.stats.as_mut().unwrap().nulls[3] = 21));
        assert!(bad(&|i| i.stats.as_mut().unwrap().nans[0] = 1));
        let encoded = sample().encode();
        assert!(BlockIndex::parse(&encoded[..encoded.len() - 1]).is_none());
        assert!(BlockIndex::parse(&[encoded.as_slice(), &[0]].concat()).is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_not_without_panic(data in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..400) {
            let _ = crate::fuzzing::parse_block_index(&data);
            let mut encoded = sample().encode();
            if cut < encoded.len() {
                encoded[cut] ^= data.first().copied().unwrap_or(1);
            }
            let _ = crate::fuzzing::parse_block_index(&encoded);
        }
    }
}
