#![no_main]
//! The `.npy` header parser and the dtype table: any bytes give a header or an error.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = polars_npz::header::parse(data, polars_npz::header::DEFAULT_MAX_HEADER_SIZE) {
        if let Ok(dt) = polars_npz::dtype::NpyDtype::from_descr(&h.descr) {
            let _ = polars_npz::dtype::arrow_type(&dt);
        }
    }
});
