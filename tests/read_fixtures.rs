//! Integration tests on the numpy-written fixtures of `tests/fixtures` (see make_fixtures.py
//! there for the values each array holds).

use std::path::PathBuf;

use polars_core::prelude::*;
use polars_npz::{Category, ErrorKind, NpzArchive, OpenOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

const N: usize = 10;
const FILES: [&str; 2] = ["numeric.npz", "numeric_compressed.npz"];

fn as_f64(s: &Series) -> Vec<f64> {
    s.cast(&DataType::Float64).unwrap().f64().unwrap().into_no_null_iter().collect()
}

#[test]
fn schema_in_archive_order() {
    for f in FILES {
        let a = NpzArchive::open(fixture(f)).unwrap();
        let schema = a.schema();
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            ["flag", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "be_i4", "be_f8", "be_u2", "grid", "scale"]
        );
        let dt = |n: &str| schema.get(n).unwrap().clone();
        assert_eq!(dt("flag"), DataType::Boolean);
        assert_eq!(dt("i1"), DataType::Int8);
        assert_eq!(dt("u8"), DataType::UInt64);
        assert_eq!(dt("f2"), DataType::Float16);
        assert_eq!(dt("be_f8"), DataType::Float64);
        assert_eq!(dt("grid"), DataType::Array(Box::new(DataType::Int16), 3));
        assert_eq!(dt("scale"), DataType::Float64);
    }
}

#[test]
fn values_match_what_numpy_wrote() {
    for f in FILES {
        for memory_map in [true, false] {
            let opts = OpenOptions { memory_map, ..Default::default() };
            let a = NpzArchive::open_with(fixture(f), &opts).unwrap();
            let df = a.read(None, None).unwrap();
            assert_eq!(df.height(), N);
            let expect: Vec<f64> = (0..N).map(|i| i as f64).collect();
            for name in ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "be_i4", "be_f8", "be_u2"] {
                let s = df.column(name).unwrap().as_materialized_series();
                assert_eq!(as_f64(s), expect, "{f} {name}");
            }
            let flags: Vec<bool> = df.column("flag").unwrap().bool().unwrap().iter().map(|b| b.unwrap()).collect();
            assert_eq!(flags, (0..N).map(|i| i % 3 == 0).collect::<Vec<_>>());
            let scale = df.column("scale").unwrap().as_materialized_series();
            assert_eq!(as_f64(scale), vec![2.5; N]);
            let grid = df.column("grid").unwrap().array().unwrap().clone();
            for i in 0..N {
                let row = grid.get_as_series(i).unwrap();
                let row: Vec<i16> = row.i16().unwrap().into_no_null_iter().collect();
                assert_eq!(row, vec![10 * i as i16, 10 * i as i16 + 1, 10 * i as i16 + 2]);
            }
        }
    }
}

#[test]
fn projection_row_limit_and_batches() {
    for f in FILES {
        let a = NpzArchive::open(fixture(f)).unwrap();
        let df = a.read(Some(&["f8", "grid"]), Some(4)).unwrap();
        assert_eq!(df.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["f8", "grid"]);
        assert_eq!(df.height(), 4);
        let batches: Vec<DataFrame> = a.batches(&["i4", "scale"], Some(7), Some(3)).unwrap().map(Result::unwrap).collect();
        assert_eq!(batches.iter().map(|b| b.height()).collect::<Vec<_>>(), [3, 3, 1]);
        let mut all = batches[0].clone();
        for b in &batches[1..] {
            all.vstack_mut(b).unwrap();
        }
        let s = all.column("i4").unwrap().as_materialized_series();
        assert_eq!(as_f64(s), (0..7).map(|i| i as f64).collect::<Vec<_>>());
        let only_scalar = a.read(Some(&["scale"]), None).unwrap();
        assert_eq!(only_scalar.height(), N);
    }
}

#[test]
fn zero_copy_only_where_aligned_stored_and_mapped() {
    let a = NpzArchive::open(fixture("numeric.npz")).unwrap();
    for m in a.members() {
        let name = m.column().unwrap();
        let offset = m.data_offset().unwrap();
        let size = m.itemsize().unwrap() as u64;
        let numeric = name != "flag" && !name.starts_with("be_");
        let expect = numeric && offset % size == 0;
        assert_eq!(a.is_zero_copy(name), expect, "{name}");
    }
    let c = NpzArchive::open(fixture("numeric_compressed.npz")).unwrap();
    assert!(c.column_names().iter().all(|n| !c.is_zero_copy(n)));
    let (start, len) = a.mapping_range().unwrap();
    // A zero-copy column's buffer lies inside the mapping.
    for name in a.column_names() {
        if !a.is_zero_copy(name) || name == "grid" {
            continue;
        }
        let df = a.read(Some(&[name]), None).unwrap();
        let s = df.column(name).unwrap().as_materialized_series().to_physical_repr().into_owned();
        let arr = s.to_arrow(0, CompatLevel::newest());
        let addr = match s.dtype() {
            DataType::Float64 => s.f64().unwrap().downcast_iter().next().unwrap().values().as_ptr() as usize,
            DataType::Int64 => s.i64().unwrap().downcast_iter().next().unwrap().values().as_ptr() as usize,
            _ => continue,
        };
        assert!(arr.len() == N);
        assert!(addr >= start && addr < start + len, "{name}");
    }
}

#[test]
fn errors_name_file_and_member() {
    let a = NpzArchive::open(fixture("numeric.npz")).unwrap();
    let e = a.read(Some(&["nope"]), None).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Request(_)));
    assert_eq!(e.category(), Category::Request);
    assert!(e.to_string().contains("numeric.npz") && e.to_string().contains("nope"), "{e}");
    let e = NpzArchive::open(fixture("missing.npz")).unwrap_err();
    assert!(e.to_string().contains("missing.npz"));
    assert!(matches!(e.kind(), ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound));
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn suggested_batch_sizes() {
    let stored = NpzArchive::open(fixture("numeric.npz")).unwrap();
    let views: Vec<&str> = stored.column_names().into_iter().filter(|n| stored.is_zero_copy(n)).collect();
    if !views.is_empty() {
        assert_eq!(stored.suggested_batch_rows(&views, Some(3)), None, "views: one batch");
    }
    let b = stored.suggested_batch_rows(&["flag", "f8"], Some(3)).unwrap();
    assert_eq!(b, (8 << 20) / 9, "stored and mapped: at least 8 MiB per batch");
    let deflated = NpzArchive::open(fixture("numeric_compressed.npz")).unwrap();
    assert_eq!(deflated.suggested_batch_rows(&["f8"], Some(3)), Some(3), "deflated: as asked");
    assert_eq!(deflated.suggested_batch_rows(&["f8"], None), None);
}

#[test]
fn aligning_makes_every_native_member_zero_copy() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("aligned.npz");
    polars_npz::align_npz(fixture("numeric.npz"), &dst, &polars_npz::AlignOptions::default()).unwrap();
    let src = NpzArchive::open(fixture("numeric.npz")).unwrap();
    let a = NpzArchive::open(&dst).unwrap();
    assert!(a.read(None, None).unwrap().equals(&src.read(None, None).unwrap()));
    for m in a.members() {
        assert_eq!(m.data_offset().unwrap() % 64, 0, "{}", m.name());
    }
    for name in a.column_names() {
        let native = name != "flag" && !name.starts_with("be_");
        assert_eq!(a.is_zero_copy(name), native, "{name}");
    }
}

#[test]
fn write_npz_round_trips_and_aligns() {
    let src = NpzArchive::open(fixture("numeric.npz")).unwrap();
    let mut df = src.read(None, None).unwrap();
    let n = df.height();
    let strings: Vec<String> = (0..n).map(|i| "é".repeat(i % 3) + &i.to_string()).collect();
    let binary: Vec<Vec<u8>> = (0..n).map(|i| vec![1u8 + i as u8; i % 4]).collect();
    let days: Vec<Option<i32>> = (0..n).map(|i| if i == 2 { None } else { Some(i as i32 * 1000 - 3000) }).collect();
    let ints = Series::new("a".into(), (0..n as i32).collect::<Vec<_>>());
    let words = Series::new("b".into(), strings.clone());
    let record = StructChunked::from_series("rec".into(), n, [ints, words].iter()).unwrap().into_series();
    df.with_column(Series::new("text".into(), strings).into_column()).unwrap();
    df.with_column(Series::new("raw".into(), binary).into_column()).unwrap();
    df.with_column(Series::new("day".into(), days).cast(&DataType::Date).unwrap().into_column()).unwrap();
    df.with_column(record.into_column()).unwrap();
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npz");
        polars_npz::write_npz(&df, &path, compress, 64).unwrap();
        let back = NpzArchive::open(&path).unwrap();
        assert!(back.read(None, None).unwrap().equals_missing(&df), "compress={compress}");
        if !compress {
            for m in back.members() {
                assert_eq!(m.data_offset().unwrap() % 64, 0, "{}", m.name());
            }
            assert!(back.is_zero_copy("f8") && back.is_zero_copy("i4") && back.is_zero_copy("grid"));
        }
    }
    let nulls = DataFrame::new(2, vec![Series::new("x".into(), [Some(1.0), None]).into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = polars_npz::write_npz(&nulls, dir.path().join("n.npz"), false, 64).unwrap_err();
    assert!(err.to_string().contains("'x'") && err.to_string().contains("nulls"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "a failed write leaves nothing");
}
