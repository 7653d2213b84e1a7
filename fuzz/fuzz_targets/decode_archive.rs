#![no_main]
//! Whole archives: open, list, and decode every member, whole and in batches.
use libfuzzer_sys::fuzz_target;
use polars_npz::{NpzArchive, OpenOptions};

#[path = "known_panics.rs"]
mod known_panics;

fuzz_target!(|data: &[u8]| known_panics::run(|| decode(data)));

fn decode(data: &[u8]) {
    let opts = OpenOptions { verify_checksums: true, ..Default::default() };
    let Ok(archive) = NpzArchive::from_bytes("fuzz.npz", data, &opts) else { return };
    let _ = archive.schema();
    for name in archive.column_names() {
        let _ = archive.read(Some(&[name]), None);
        if let Ok(batches) = archive.batches(&[name], Some(5), Some(2)) {
            for b in batches {
                let _ = b;
            }
        }
    }
}
