#![no_main]
//! Structure-aware `.npy` headers: header dicts generated as text (type strings with every
//! kind, odd sizes and time units/multipliers; nested records with titles, duplicate and
//! empty names and sub-array shapes; shapes with huge, zero and negative dims; quoting,
//! escapes and whitespace variants) behind v1/v2/v3 preambles, fed to the dict parser and to
//! the whole-header parser. `NPZ_FUZZ_PRINT=1` prints each generated header.
use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

#[path = "gen/mod.rs"]
mod gen;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let sane = gen::chance(&mut u, 1, 4).unwrap_or(false);
    let Ok(h) = gen::header(&mut u, sane) else { return };
    let a = polars_npz::fuzzing::parse_header_dict(&h.dict);
    let b = polars_npz::fuzzing::parse_header(&h.bytes);
    if gen::print_enabled() {
        eprintln!("dict {:?}\nbytes {:?}\nparse_header_dict={a} parse_header={b}", h.dict, String::from_utf8_lossy(&h.bytes));
    }
});
