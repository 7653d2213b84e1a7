#![no_main]
//! The zip layer: any bytes give an index or an error.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polars_npz::fuzzing::read_index(data);
});
