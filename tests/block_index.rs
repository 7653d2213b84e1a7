//! The block index of a deflated member, tampered with: an index that does not hold together
//! is ignored (the member reads as a plain stream, to the same values); one that holds together
//! but lies about its blocks is refused with an error when read (each block is checked against
//! its CRC-32); any byte of it flipped gives the same values or an error, never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use polars_core::prelude::*;
use polars_npz::{NpzArchive, OpenOptions};
use proptest::prelude::*;

/// An archive of one deflated member `x` (its header, then 4 blocks of about 1 MiB), its bytes and the offset
/// of its block index.
fn blocked() -> (Vec<u8>, usize, DataFrame) {
    static ONCE: std::sync::OnceLock<(Vec<u8>, usize, DataFrame)> = std::sync::OnceLock::new();
    ONCE.get_or_init(write_blocked).clone()
}

fn write_blocked() -> (Vec<u8>, usize, DataFrame) {
    let n = 400_000i64;
    let df = df!("x" => (0..n).map(|v| v * 3 - 7).collect::<Vec<_>>()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.npz");
    polars_npz::write_npz(&df, &path, true, 64).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"NPZB").expect("a block index");
    (bytes, at, df)
}

/// Read `bytes` whole, as a tail, and in batches: the values of `df`, or an error.
fn read(bytes: &[u8], df: &DataFrame) -> Result<(), String> {
    let archive = NpzArchive::from_bytes("b.npz", bytes, &OpenOptions::default()).map_err(|e| e.to_string())?;
    let whole = archive.read(None, None).map_err(|e| e.to_string())?;
    assert!(whole.equals(df), "a whole read gave other values");
    let mut tail = archive.batches_from(&["x"], 390_000, None, Some(4_000)).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    while let Some(batch) = tail.next_frame().map_err(|e| e.to_string())? {
        got.push(batch);
    }
    let got = got.into_iter().reduce(|a, b| a.vstack(&b).unwrap()).unwrap();
    assert!(got.equals(&df.slice(390_000, 10_000)), "a tail gave other values");
    Ok(())
}

const OFFSETS: usize = 64;

fn offset_of(bytes: &[u8], at: usize, b: usize) -> u64 {
    let p = at + OFFSETS + 12 * b;
    u64::from_le_bytes(bytes[p..p + 8].try_into().unwrap())
}

fn set_offset(bytes: &mut [u8], at: usize, b: usize, v: u64) {
    let p = at + OFFSETS + 12 * b;
    bytes[p..p + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn the_index_is_used_and_reads_equal() {
    let (bytes, at, df) = blocked();
    // Block 0 (the header) starts the member; the blocks of rows follow in order.
    assert_eq!(offset_of(&bytes, at, 0), 0);
    assert!(offset_of(&bytes, at, 3) > offset_of(&bytes, at, 1) && offset_of(&bytes, at, 1) > 0);
    read(&bytes, &df).unwrap();
}

#[test]
fn offsets_out_of_order_or_range_are_ignored() {
    let (bytes, at, df) = blocked();
    let mut swapped = bytes.clone();
    let (one, two) = (offset_of(&bytes, at, 1), offset_of(&bytes, at, 2));
    set_offset(&mut swapped, at, 1, two);
    set_offset(&mut swapped, at, 2, one);
    read(&swapped, &df).unwrap();
    let mut outside = bytes.clone();
    set_offset(&mut outside, at, 3, u64::MAX / 2);
    read(&outside, &df).unwrap();
}

#[test]
fn offsets_that_lie_are_refused_when_read() {
    let (bytes, at, df) = blocked();
    let mut shifted = bytes.clone();
    let two = offset_of(&bytes, at, 2);
    set_offset(&mut shifted, at, 2, two + 1);
    let err = read(&shifted, &df).unwrap_err();
    assert!(err.contains("x.npy"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn any_byte_of_the_index_flipped_gives_values_or_an_error(pos in 0usize..200, bit in 0u8..8) {
        let (mut bytes, at, df) = blocked();
        let p = (at + pos).min(bytes.len() - 1);
        bytes[p] ^= 1 << bit;
        let outcome = catch_unwind(AssertUnwindSafe(|| read(&bytes, &df)));
        prop_assert!(outcome.is_ok(), "panicked with byte {p} flipped");
    }
}
