#![no_main]
//! The parser of a member's carried `.npy` header field: any bytes give a header bound to a
//! member it fits in, or none.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = polars_npz::fuzzing::parse_carried_header(data);
});
