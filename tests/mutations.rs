//! Mutated archives (truncations, byte flips, bytes inserted) must give a value or an error:
//! never a panic. Runs on stable in the normal suite; the fuzz targets in `fuzz/` go further.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use polars_npz::{NpzArchive, OpenOptions};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

/// Open and read every column, in batches and whole, with and without mapping.
fn exercise(bytes: &[u8]) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    for memory_map in [true, false] {
        let opts = OpenOptions { memory_map, verify_checksums: true, ..Default::default() };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let Ok(archive) = NpzArchive::open_with(file.path(), &opts) else { return };
            let _ = archive.schema();
            for name in archive.column_names() {
                let _ = archive.read(Some(&[name]), None);
                if let Ok(batches) = archive.batches(&[name], Some(7), Some(3)) {
                    for b in batches {
                        let _ = b;
                    }
                }
            }
            let _ = archive.read(None, None);
        }));
        assert!(result.is_ok(), "panic on a mutated archive (memory_map={memory_map})");
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Overwrite(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, v)| Mutation::Insert(p, v)),
        (any::<usize>(), prop_oneof![Just(0u32), Just(u32::MAX), Just(0x8000_0000), any::<u32>()])
            .prop_map(|(p, v)| Mutation::Overwrite(p, v)),
    ]
}

fn apply(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match m {
            Mutation::Truncate(p) => bytes.truncate(p % len),
            Mutation::Flip(p, b) => bytes[p % len] ^= b,
            Mutation::Insert(p, v) => {
                let at = p % len;
                bytes.splice(at..at, v.iter().copied());
            }
            Mutation::Overwrite(p, v) => {
                let at = (p % len).min(len.saturating_sub(4));
                let end = (at + 4).min(len);
                bytes[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_stored_archives_never_panic(muts in proptest::collection::vec(mutation(), 1..4)) {
        exercise(&apply(fixture("numeric.npz"), &muts));
    }

    #[test]
    fn mutated_deflated_archives_never_panic(muts in proptest::collection::vec(mutation(), 1..4)) {
        exercise(&apply(fixture("numeric_compressed.npz"), &muts));
    }
}

#[test]
fn every_truncation_is_an_error_or_a_value() {
    for name in ["numeric.npz", "numeric_compressed.npz"] {
        let bytes = fixture(name);
        for cut in 0..bytes.len() {
            exercise(&bytes[..cut]);
        }
    }
}
