//! A member's bytes read whole, by its name in the zip: what a numpy-style loader hands to
//! `np.frombuffer` (an `.npy` member with its header) or returns as is (any other member).

use super::archive::NpzArchive;
use crate::error::{ErrorKind, NpzError, Result};
use crate::zip;

impl NpzArchive {
    /// The uncompressed size of the zip member named `member` (`x.npy`, `notes.txt`).
    pub fn member_size(&self, member: &str) -> Result<u64> {
        Ok(self.entry(member)?.size)
    }

    /// The whole of the zip member named `member` into `dst` (of exactly
    /// [`member_size`](Self::member_size) bytes): a stored member read, a deflated one inflated
    /// straight into `dst` (its blocks in parallel when written in blocks). Either is checked
    /// against its CRC-32, as Python's `zipfile` checks what it reads.
    pub fn read_member_into(&self, member: &str, dst: &mut [u8]) -> Result<()> {
        self.source().check_unchanged().map_err(|e| NpzError::request(self.path(), e.to_string()))?;
        let entry = self.entry(member)?;
        let in_member = |e| ErrorKind::in_member(e, self.path(), &entry.name);
        zip::read_whole_into(self.source(), entry, dst).map_err(in_member)
    }

    fn entry(&self, member: &str) -> Result<&zip::ZipEntry> {
        self.members().iter().map(|m| &m.entry).find(|e| e.name == member).ok_or_else(|| {
            let names: Vec<&str> = self.members().iter().map(|m| m.entry.name.as_str()).collect();
            NpzError::request(self.path(), format!("no member named '{member}' in the archive (it has: {})", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::OpenOptions;

    /// A stored and a deflated member (plain and in blocks) read whole give the bytes written.
    #[test]
    fn members_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let x: Vec<u8> = (0..100_000u32).flat_map(|i| (i as f64).to_le_bytes()).collect();
        for (compress, block_rows) in [(false, None), (true, None), (true, Some(1000))] {
            let path = dir.path().join(format!("{compress}{block_rows:?}.npz"));
            let header = crate::write::npy::npy_header("'<f8'", &[100_000]);
            let npy: Vec<u8> = header.iter().chain(&x).copied().collect();
            let member = crate::write::archive::NpyMember { name: "x.npy", header: &header, data: &x };
            crate::write::archive::write_members(&path, &[member], compress, 64, block_rows).unwrap();
            let archive = NpzArchive::open_with(&path, &OpenOptions::default()).unwrap();
            let mut out = vec![0u8; archive.member_size("x.npy").unwrap() as usize];
            archive.read_member_into("x.npy", &mut out).unwrap();
            assert_eq!(out, npy);
            assert!(archive.read_member_into("y.npy", &mut out).is_err());
            assert!(archive.read_member_into("x.npy", &mut out[1..]).is_err());
        }
        // A stored member whose bytes changed is refused by its CRC-32.
        let path = dir.path().join("falseNone.npz");
        let mut bytes = std::fs::read(&path).unwrap();
        let archive = NpzArchive::open(&path).unwrap();
        let at = archive.members()[0].data_offset().unwrap() as usize;
        bytes[at] ^= 1;
        let archive = NpzArchive::from_bytes("flipped.npz", &bytes, &OpenOptions::default()).unwrap();
        let mut out = vec![0u8; archive.member_size("x.npy").unwrap() as usize];
        let err = archive.read_member_into("x.npy", &mut out).unwrap_err();
        assert!(err.to_string().contains("x.npy"), "{err}");
    }
}
