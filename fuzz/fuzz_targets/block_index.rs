#![no_main]
//! The block index parser: any bytes give an index that holds together, or none.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polars_npz::fuzzing::parse_block_index(data);
});
