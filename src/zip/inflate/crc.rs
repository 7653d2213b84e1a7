//! The CRC-32 of what is inflated or read (a member, a block, a span), and the one check of it
//! against what the archive says: the only place a mismatch becomes [`ErrorKind::Checksum`].

use crate::error::{ErrorKind, Invalid};

/// A CRC-32 computed piece by piece.
#[derive(Clone, Default)]
pub(crate) struct Crc32(crc32fast::Hasher);

impl Crc32 {
    pub(crate) fn new() -> Crc32 {
        Crc32::default()
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC-32 of the bytes so far; it starts again from none.
    pub(crate) fn take(&mut self) -> u32 {
        std::mem::take(&mut self.0).finalize()
    }

    /// Check the bytes so far against `expected` (see [`check`]); it starts again from none.
    pub(crate) fn check(&mut self, expected: u32) -> Result<(), Invalid> {
        check(self.take(), expected)
    }
}

/// The CRC-32 of `bytes`.
pub(crate) fn of(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The CRC-32 of consecutive parts, from each part's CRC-32 and length.
pub(crate) fn combine(parts: impl IntoIterator<Item = (u32, u64)>) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for (part, len) in parts {
        crc.combine(&crc32fast::Hasher::new_with_initial_len(part, len));
    }
    crc.finalize()
}

/// A CRC-32 computed against the one expected: a mismatch is [`ErrorKind::Checksum`].
pub(crate) fn check(computed: u32, expected: u32) -> Result<(), Invalid> {
    if computed != expected {
        return Err(ErrorKind::Checksum { computed, expected });
    }
    Ok(())
}

/// `bytes` checked against the CRC-32 `expected` (see [`check`]).
pub(crate) fn check_bytes(bytes: &[u8], expected: u32) -> Result<(), Invalid> {
    check(of(bytes), expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_parts_agree_with_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = of(&data);
        let mut crc = Crc32::new();
        for piece in data.chunks(999) {
            crc.update(piece);
        }
        assert_eq!(crc.take(), whole);
        // Taking starts again: nothing since.
        assert_eq!(crc.take(), of(b""));
        let (a, b) = data.split_at(12_345);
        assert_eq!(combine([(of(a), a.len() as u64), (of(b), b.len() as u64)]), whole);
        assert!(check_bytes(&data, whole).is_ok());
        let err = check_bytes(&data, whole ^ 1).unwrap_err();
        assert!(matches!(err, ErrorKind::Checksum { computed, expected } if computed == whole && expected == whole ^ 1), "{err}");
        crc.update(&data);
        assert!(crc.check(whole ^ 1).is_err());
    }
}
