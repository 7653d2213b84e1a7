#![no_main]
//! Structure-aware archives: a valid zip (stored or deflated members, zip64 extras and
//! alignment now and then) of 1 to 3 `.npy` members with generated headers (mostly parseable
//! ones) and data bytes of the length the header implies (or a little off), opened and decoded
//! as `decode_archive` does: schema, every column whole and in batches, member facts.
//! `NPZ_FUZZ_PRINT=1` prints each generated member.
use std::io::{Cursor, Write};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use polars_npz::{NpzArchive, OpenOptions};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

#[path = "gen/mod.rs"]
mod gen;
#[path = "known_panics.rs"]
mod known_panics;

/// Largest data section generated to match a header.
const MAX_DATA: u64 = 1 << 16;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum MemberName {
    Indexed,
    Letter(u8),
    Nested,
    Same,
    NotNpy,
    Unicode,
    Empty,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum DataLen {
    Exact,
    Short(u8),
    Long(u8),
    Raw,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Method {
    Stored,
    Deflated(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Layout {
    method: Method,
    zip64: bool,
    align: Option<u8>,
}

fn build(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Vec<u8>>> {
    let n = u.int_in_range(1..=3)?;
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..n {
        let sane = !gen::chance(u, 1, 10)?;
        let h = gen::header(u, sane)?;
        let name: MemberName = if gen::chance(u, 1, 4)? { u.arbitrary()? } else { MemberName::Indexed };
        let name = match name {
            MemberName::Indexed => format!("arr_{i}.npy"),
            MemberName::Letter(c) => format!("{}.npy", char::from(b'a' + c % 26)),
            MemberName::Nested => format!("dir/sub/x{i}.npy"),
            MemberName::Same => "arr_0.npy".to_string(),
            MemberName::NotNpy => format!("notes{i}.txt"),
            MemberName::Unicode => format!("\u{e9}\u{540d}{i}.npy"),
            MemberName::Empty => ".npy".to_string(),
        };
        let k = u.arbitrary_len::<u8>()?;
        let fill = u.bytes(k)?.to_vec();
        let len: DataLen = if gen::chance(u, 1, 5)? { u.arbitrary()? } else { DataLen::Exact };
        let want = match (h.itemsize, h.count) {
            (Some(s), Some(c)) => s.checked_mul(c).filter(|&b| b <= MAX_DATA),
            _ => None,
        };
        let data_len = match (len, want) {
            (DataLen::Exact, Some(w)) => w,
            (DataLen::Short(k), Some(w)) => w.saturating_sub(1 + u64::from(k % 16)),
            (DataLen::Long(k), Some(w)) => w + 1 + u64::from(k % 16),
            _ => fill.len() as u64,
        } as usize;
        let data: Vec<u8> = if fill.is_empty() { vec![0; data_len] } else { fill.iter().copied().cycle().take(data_len).collect() };
        let layout: Layout = u.arbitrary()?;
        let mut opts = SimpleFileOptions::default().large_file(layout.zip64);
        opts = match layout.method {
            Method::Stored => opts.compression_method(CompressionMethod::Stored),
            Method::Deflated(l) => opts.compression_method(CompressionMethod::Deflated).compression_level(Some(i64::from(l % 10))),
        };
        if let Some(a) = layout.align {
            opts = opts.with_alignment(1 << (a % 8));
        }
        if gen::print_enabled() {
            eprintln!("member {name:?} {:?}\n  dict {:?}\n  itemsize {:?} count {:?} data {} bytes: {:02x?}", layout, h.dict, h.itemsize, h.count, data.len(), &data[..data.len().min(64)]);
        }
        if zip.start_file(name, opts).is_err() {
            continue;
        }
        if zip.write_all(&h.bytes).is_err() || zip.write_all(&data).is_err() {
            return Ok(None);
        }
    }
    Ok(zip.finish().ok().map(Cursor::into_inner))
}

fuzz_target!(|data: &[u8]| known_panics::run(|| decode(data)));

fn decode(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(Some(bytes)) = build(&mut u) else { return };
    let verify_checksums = u.arbitrary().unwrap_or(true);
    let n_rows: Option<usize> = u.arbitrary::<Option<u8>>().unwrap_or(None).map(usize::from);
    let opts = OpenOptions { verify_checksums, ..Default::default() };
    let archive = match NpzArchive::from_bytes("fuzz.npz", &bytes, &opts) {
        Ok(a) => a,
        Err(e) => {
            if gen::print_enabled() {
                eprintln!("open: {e}");
            }
            return;
        }
    };
    for m in archive.members() {
        let _ = (m.name(), m.compression(), m.compressed_size(), m.size(), m.column(), m.numpy_dtype());
        let _ = (m.itemsize(), m.shape(), m.fortran_order(), m.polars_dtype(), m.data_offset());
    }
    let _ = archive.schema();
    let _ = archive.height();
    for name in archive.column_names() {
        let r = archive.read(Some(&[name]), None);
        if gen::print_enabled() {
            eprintln!("read {name:?}: {r:?}");
        }
        let _ = archive.read(Some(&[name]), n_rows);
        if let Ok(batches) = archive.batches(&[name], Some(5), Some(2)) {
            for b in batches {
                let _ = b;
            }
        }
    }
    let _ = archive.read(None, None);
}
