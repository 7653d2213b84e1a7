#![no_main]
//! The `.npy` header parser and the dtype table: any bytes give a header or an error.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polars_npz::fuzzing::parse_header(data);
});
