//! Regression tests for what the structure-aware fuzzer (`fuzz/`, target `decode_structured`)
//! found: archives whose headers make a decoder panic, overflow or try a huge allocation. Each
//! must open and read to a value or an error, as the fuzz target drives them: every column
//! whole, with a row limit, and in batches.

use std::io::{Cursor, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use polars_npz::{NpzArchive, OpenOptions};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A `.npy` member: a version 1.0 header holding `dict`, then `data`.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.as_bytes().to_vec();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

/// A stored zip of one member `a.npy` with header `dict` and `data`.
fn archive(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("a.npy", SimpleFileOptions::default().compression_method(CompressionMethod::Stored)).unwrap();
    zip.write_all(&npy(dict, data)).unwrap();
    zip.finish().unwrap().into_inner()
}

/// What the fuzz target does with an archive; the first error (of the open or of the reads),
/// or `None` when everything read. A panic fails the test.
fn exercise(bytes: &[u8]) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| {
        let archive = match NpzArchive::from_bytes("f.npz", bytes, &OpenOptions::default()) {
            Ok(a) => a,
            Err(e) => return Some(e.to_string()),
        };
        let _ = (archive.schema(), archive.height());
        let mut first = None;
        let mut keep = |r: Result<(), String>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        for name in archive.column_names() {
            keep(archive.read(Some(&[name]), None).map(drop).map_err(|e| e.to_string()));
            keep(archive.read(Some(&[name]), Some(1)).map(drop).map_err(|e| e.to_string()));
            match archive.batches(&[name], Some(5), Some(2)) {
                Ok(batches) => batches.for_each(|b| keep(b.map(drop).map_err(|e| e.to_string()))),
                Err(e) => keep(Err(e.to_string())),
            }
        }
        first
    }))
    .unwrap_or_else(|_| panic!("panicked"))
}

#[test]
fn zero_byte_arrays_with_huge_inner_axes_are_refused() {
    // np.zeros((1, 2**32, 0)) is 0 bytes, but its Array column needs 2^32 (empty) rows of the
    // inner level: more than Polars holds. Refused at open, not a panic inside Polars.
    let err = exercise(&archive("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 4294967296, 0), }", b"")).unwrap();
    assert!(err.contains("a.npy") && err.contains("0 bytes"), "{err}");
    // Rows of 0 bytes beyond the cap would be the frame's height: the archive is refused.
    let err = exercise(&archive("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 0), }", b"")).unwrap();
    assert!(err.contains("1099511627776 values of 0 bytes"), "{err}");
    // Small ones still read.
    assert_eq!(exercise(&archive("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 5, 0), }", b"")), None);
}

#[test]
fn elements_of_zero_bytes_are_bounded() {
    // np.zeros((1, 2**32), 'V0'): 2^32 empty binaries in one row, 64 GiB of views.
    let err = exercise(&archive("{'descr': '|V0', 'fortran_order': False, 'shape': (1, 4294967296), }", b"")).unwrap();
    assert!(err.contains("0 bytes"), "{err}");
    // A record field of 0 bytes with a huge sub-array (a hand-made header numpy refuses): the
    // row count times the sub-array overflows.
    let dict = "{'descr': [('f0', '<u8', (9223372036854775807, 0)), ('f1', '|u1')], 'fortran_order': False, 'shape': (2,), }";
    let err = exercise(&archive(dict, &[1, 2])).unwrap();
    assert!(err.contains("0 bytes"), "{err}");
    let dict = "{'descr': [('f0', '|V0', (4294967296,)), ('f1', '|u1')], 'fortran_order': False, 'shape': (2,), }";
    assert!(exercise(&archive(dict, &[1, 2])).unwrap().contains("0 bytes"));
    // Within the bound, they read.
    assert_eq!(exercise(&archive("{'descr': '|V0', 'fortran_order': False, 'shape': (4, 1000), }", b"")), None);
}

#[test]
fn sub_arrays_of_zero_byte_elements_read() {
    // [('x', 'S0', (2,)), ('y', 'u1')]: the sub-array has 2 elements of 0 bytes per record.
    let dict = "{'descr': [('x', '|S0', (2,)), ('y', '|u1')], 'fortran_order': False, 'shape': (3,), }";
    let bytes = archive(dict, &[1, 2, 3]);
    assert_eq!(exercise(&bytes), None);
    let df = NpzArchive::from_bytes("f.npz", &bytes, &OpenOptions::default()).unwrap().read(None, None).unwrap();
    let y = df.column("a").unwrap().struct_().unwrap().field_by_name("y").unwrap();
    assert_eq!(y.u8().unwrap().into_no_null_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[test]
fn string_sizes_over_numpys_limit_are_refused_before_any_allocation() {
    // '<U2147483648' (8 GiB per element, numpy refuses it), zero rows: was an 8 GiB allocation.
    let err = exercise(&archive("{'descr': '<U2147483648', 'fortran_order': False, 'shape': (0,), }", b"")).unwrap();
    assert!(err.contains("2 GiB") || err.contains("too large"), "{err}");
    // numpy's largest: U536870911 (2^31 - 4 bytes) and S2147483647; with zero rows they read.
    assert_eq!(exercise(&archive("{'descr': '<U536870911', 'fortran_order': False, 'shape': (0,), }", b"")), None);
    assert_eq!(exercise(&archive("{'descr': '|S2147483647', 'fortran_order': False, 'shape': (0,), }", b"")), None);
    for refused in ["<U536870912", "|S2147483648"] {
        let dict = format!("{{'descr': '{refused}', 'fortran_order': False, 'shape': (0,), }}");
        assert!(exercise(&archive(&dict, b"")).is_some(), "{refused}");
    }
}

#[test]
fn one_row_arrays_of_dates_make_frames() {
    // A 1-row batch of an Array(Date) column (np.zeros((1, 1), 'M8[D]')), and a record with a
    // 0-element M8[D] field: Polars makes 1-row Series into scalar columns, whose conversion of
    // nested dates panicked.
    let bytes = archive("{'descr': '<M8[D]', 'fortran_order': False, 'shape': (1, 1), }", &[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(exercise(&bytes), None);
    let df = NpzArchive::from_bytes("f.npz", &bytes, &OpenOptions::default()).unwrap().read(None, None).unwrap();
    assert_eq!(df.height(), 1);
    let dict = "{'descr': [('t', '<M8[D]', (0,)), ('y', '|u1')], 'fortran_order': False, 'shape': (1,), }";
    assert_eq!(exercise(&archive(dict, &[7])), None);
}

#[test]
fn sixty_four_dimensions_of_zero_elements_read() {
    // 64 dimensions (numpy's limit), the first 0 and the rest up to 2^63 - 1: no elements,
    // an Array type nested 63 deep. Its reads must not cost more than the depth (in the
    // fuzzer, polars-arrow's debug assertions made every length check 2^depth calls).
    let dims: Vec<String> = (0..64).map(|i| if i < 5 { "0".to_string() } else { "9223372036854775807".to_string() }).collect();
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({}), }}", dims.join(", "));
    assert_eq!(exercise(&archive(&dict, b"")), None);
    let dims = format!("({})", vec!["1"; 65].join(", "));
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {dims}, }}");
    assert!(exercise(&archive(&dict, &[0; 8])).unwrap().contains("64"));
}

#[test]
fn repeating_a_big_0d_array_to_many_rows_is_bounded() {
    // Found by fuzzing: a 0-d record of 64 KiB next to a 14,649-row array; reading both
    // repeated the record to every row, about 1 GB from a file of 80 KB. Over max(4 x the
    // file, 256 MiB) the read is refused naming the member; fewer rows still read.
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file("rows.npy", stored).unwrap();
    zip.write_all(&npy("{'descr': '|u1', 'fortran_order': False, 'shape': (20000,), }", &[1; 20000])).unwrap();
    zip.start_file("big.npy", stored).unwrap();
    zip.write_all(&npy("{'descr': '|V60000', 'fortran_order': False, 'shape': (), }", &[0; 60000])).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let archive = NpzArchive::from_bytes("f.npz", &bytes, &OpenOptions::default()).unwrap();
    let err = archive.read(None, None).unwrap_err().to_string();
    assert!(err.contains("big.npy") && err.contains("0-d array"), "{err}");
    assert_eq!(archive.read(Some(&["big"]), Some(10)).unwrap().height(), 10);
    // A 0-d record of 4 bytes whose zero-width field holds 16,448 empty strings, repeated to
    // 20,000 rows: 3 GiB of views (found by fuzzing too).
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("rows.npy", stored).unwrap();
    zip.write_all(&npy("{'descr': '|u1', 'fortran_order': False, 'shape': (20000,), }", &[1; 20000])).unwrap();
    zip.start_file("rec.npy", stored).unwrap();
    zip.write_all(&npy("{'descr': [('f0', '|S0', (16448,)), ('f1', '>f4')], 'fortran_order': False, 'shape': (), }", &[0; 4])).unwrap();
    let small = zip.finish().unwrap().into_inner();
    let err = exercise(&small).unwrap();
    assert!(err.contains("rec.npy") && err.contains("0-d array"), "{err}");
    // In batches of 1,000 rows each batch is 60 MB: allowed.
    assert_eq!(archive.read(Some(&["rows", "big"]), Some(4000)).unwrap().height(), 4000);
    assert!(archive.batches(&["rows", "big"], None, Some(1000)).unwrap().all(|b| b.is_ok()));
}
