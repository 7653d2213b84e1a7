//! A member's `.npy` header carried in its central-directory entry, so that opening an
//! archive (its schema, its row count) needs no read of any member's data: one read of the
//! central directory (from an object store, one suffix request) gives every header.
//!
//! It lives in a private extra field of its own ("ph", beside the block index "pn"), which
//! numpy, `zipfile` and `unzip` skip. A field of its own, not a new version of the block
//! index: a member without a block index (a stored member without statistics, an index too
//! large for its field) still carries its header, and readers of the block index's first
//! version go on reading the blocks of the archives written now.
//!
//! Layout (little-endian): `NPZH`, version (1), three reserved bytes; the member's CRC-32
//! (u32), compressed size and size (u64 each); the length of its local header (u32: where its
//! data starts, after the local header's offset); the CRC-32 of the `.npy` header (u32); then
//! the `.npy` header's bytes (the member's first bytes, up to its array data).
//!
//! Trust: the field must parse, its header's CRC-32 must match its bytes, and its CRC-32 and
//! sizes must be the member's (a member rewritten by another tool no longer matches); the
//! header itself is checked by the scan layer (it must parse, and end where the data starts as
//! the block index records). Anything else, and the header is read from the member's data.
//! The local header's length is checked before the member's data is first read.

/// Extra-field id of the carried `.npy` header ("ph").
pub(crate) const HEADER_ID: u16 = 0x6870;
const MAGIC: &[u8; 4] = b"NPZH";
const VERSION: u8 = 1;
/// Bytes before the `.npy` header.
const FIXED: usize = 4 + 4 + 4 + 8 + 8 + 4 + 4;

/// A member's `.npy` header as its central-directory entry carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CarriedHeader {
    /// The member's CRC-32, compressed size and size this header was written for.
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) size: u64,
    /// Bytes of the member's local header (its data starts this far after it).
    pub(crate) local_len: u32,
    /// The `.npy` header.
    pub(crate) header: Vec<u8>,
}

impl CarriedHeader {
    /// The field's data.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + self.header.len());
        out.extend(MAGIC);
        out.extend([VERSION, 0, 0, 0]);
        out.extend(self.crc32.to_le_bytes());
        out.extend(self.compressed_size.to_le_bytes());
        out.extend(self.size.to_le_bytes());
        out.extend(self.local_len.to_le_bytes());
        out.extend(super::inflate::crc::of(&self.header).to_le_bytes());
        out.extend(&self.header);
        out
    }

    /// Parse a field; `None` when it is not one this version writes, or its header's CRC-32
    /// does not match. Never panics; allocates at most `data.len()`.
    pub(crate) fn parse(data: &[u8]) -> Option<CarriedHeader> {
        let fixed = data.get(..FIXED)?;
        if &fixed[..4] != MAGIC || fixed[4] != VERSION {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(fixed[at..at + 8].try_into().expect("8 bytes"));
        let header = &data[FIXED..];
        let size = u64_at(20);
        if header.is_empty() || header.len() as u64 > size || super::inflate::crc::of(header) != u32_at(32) {
            return None;
        }
        Some(CarriedHeader { crc32: u32_at(8), compressed_size: u64_at(12), size, local_len: u32_at(28), header: header.to_vec() })
    }

    /// Whether this header was written for a member of this CRC-32 and these sizes.
    pub(crate) fn matches(&self, crc32: u32, compressed_size: u64, size: u64) -> bool {
        self.crc32 == crc32 && self.compressed_size == compressed_size && self.size == size
    }
}

/// The extra fields of the central-directory entry at `at` in `cd` (bytes of the file from
/// `cd_start` on): each field's id and data. Empty when the bytes there are not such an entry.
pub(crate) fn central_extra_fields(cd: &[u8], at: usize) -> Vec<(u16, &[u8])> {
    let Some(fixed) = cd.get(at..at.saturating_add(46)) else { return Vec::new() };
    if fixed[..4] != *b"PK\x01\x02" {
        return Vec::new();
    }
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
    let start = at + 46 + u16_at(28);
    let Some(mut extra) = cd.get(start..start + u16_at(30)) else { return Vec::new() };
    let mut out = Vec::new();
    while extra.len() >= 4 {
        let id = u16::from_le_bytes([extra[0], extra[1]]);
        let len = usize::from(u16::from_le_bytes([extra[2], extra[3]]));
        let Some(data) = extra.get(4..4 + len) else { break };
        out.push((id, data));
        extra = &extra[4 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> CarriedHeader {
        let mut header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (10,), }".to_vec();
        header.resize(127, b' ');
        header.push(b'\n');
        CarriedHeader { crc32: 9, compressed_size: 300, size: 208, local_len: 90, header }
    }

    #[test]
    fn round_trips_and_refuses_a_changed_header() {
        let h = sample();
        let encoded = h.encode();
        assert_eq!(CarriedHeader::parse(&encoded), Some(h.clone()));
        for at in [0, 4, FIXED - 4, FIXED, FIXED + 20, encoded.len() - 1] {
            let mut bad = encoded.clone();
            bad[at] ^= 1;
            assert!(CarriedHeader::parse(&bad).is_none(), "byte {at} changed");
        }
        assert!(CarriedHeader::parse(&encoded[..encoded.len() - 1]).is_none());
        assert!(CarriedHeader::parse(&encoded[..FIXED]).is_none());
        // A header longer than the member it claims to start.
        let long = CarriedHeader { size: 100, ..h };
        assert!(CarriedHeader::parse(&long.encode()).is_none());
    }

    #[test]
    fn reads_a_central_entry_extra_fields() {
        let mut cd = vec![0u8; 3];
        let mut entry = b"PK\x01\x02".to_vec();
        entry.resize(46, 0);
        entry[28] = 1; // name: 1 byte
        entry[30] = 4 + 2 + 4; // extra: two fields
        entry.push(b'x');
        entry.extend([0x70, 0x68, 2, 0, 7, 8, 1, 0, 0, 0]);
        cd.extend(&entry);
        assert_eq!(central_extra_fields(&cd, 3), vec![(HEADER_ID, &[7u8, 8][..]), (1, &[][..])]);
        assert!(central_extra_fields(&cd, 2).is_empty());
        assert!(central_extra_fields(&cd[..cd.len() - 1], 3).is_empty());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_not_without_panic(data in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..200, at in 0usize..300) {
            let _ = crate::fuzzing::parse_carried_header(&data);
            let mut encoded = sample().encode();
            if cut < encoded.len() {
                encoded[cut] ^= data.first().copied().unwrap_or(1);
            }
            let _ = crate::fuzzing::parse_carried_header(&encoded);
            let _ = central_extra_fields(&data, at);
        }
    }
}
