//! Feature `arrow`: `NpzArchive::record_batches` gives arrow-rs record batches, built through
//! the Arrow C Data Interface, whose aligned stored columns are views of the file mapping.
#![cfg(feature = "arrow")]

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, DataType as ArrowType};
use polars_core::prelude::*;
use polars_npz::{ErrorKind, NpzArchive, NpzError};

const N: usize = 10_000;

fn frame() -> DataFrame {
    let x = Series::new("x".into(), (0..N).map(|i| i as f64 * 0.5).collect::<Vec<_>>());
    let y = Series::new("y".into(), (0..N as i32).collect::<Vec<_>>());
    let text = Series::new("text".into(), (0..N).map(|i| format!("row {i} é")).collect::<Vec<_>>());
    let day = Series::new("day".into(), (0..N as i32).collect::<Vec<_>>()).cast(&DataType::Date).unwrap();
    let flat = Series::new("grid".into(), (0..3 * N as i64).collect::<Vec<_>>());
    let grid = flat.reshape_array(&[ReshapeDimension::new(N as i64), ReshapeDimension::new(3)]).unwrap().with_name("grid".into());
    DataFrame::new(N, vec![x.into(), y.into(), text.into(), day.into(), grid.into()]).unwrap()
}

fn write(compress: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npz");
    polars_npz::write_npz(&frame(), &path, compress, 64).unwrap();
    (dir, path)
}

fn all(archive: &NpzArchive, columns: &[&str], n_rows: Option<usize>, batch_rows: Option<usize>) -> Vec<RecordBatch> {
    archive.record_batches(columns, n_rows, batch_rows).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn aligned_columns_are_views_of_the_mapping() {
    let (_dir, path) = write(false);
    let archive = NpzArchive::open(&path).unwrap();
    assert!(archive.is_zero_copy("x") && archive.is_zero_copy("y"));
    let (start, len) = archive.mapping_range().unwrap();
    let batches = all(&archive, &["x", "y"], None, None);
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    let x = batch.column(0).as_primitive::<Float64Type>();
    let y = batch.column(1).as_primitive::<Int32Type>();
    for (name, addr) in [("x", x.values().as_ptr() as usize), ("y", y.values().as_ptr() as usize)] {
        assert!(addr >= start && addr < start + len, "{name} at {addr:#x} is not in the mapping {start:#x}+{len}");
    }
    assert_eq!(x.values().iter().copied().collect::<Vec<_>>(), (0..N).map(|i| i as f64 * 0.5).collect::<Vec<_>>());
    assert_eq!(y.values().iter().copied().collect::<Vec<_>>(), (0..N as i32).collect::<Vec<_>>());
    // The batch holds the mapping: it outlives the archive.
    let batch = batch.clone();
    drop(batches);
    drop(archive);
    assert_eq!(batch.column(0).as_primitive::<Float64Type>().value(N - 1), (N - 1) as f64 * 0.5);
}

#[test]
fn every_type_equals_what_polars_reads() {
    for compress in [false, true] {
        let (_dir, path) = write(compress);
        let archive = NpzArchive::open(&path).unwrap();
        let reader = archive.record_batches(&["text", "day", "grid", "x"], None, Some(4_000)).unwrap();
        let schema = reader.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["text", "day", "grid", "x"]);
        assert_eq!(schema.field(0).data_type(), &ArrowType::LargeUtf8);
        assert_eq!(schema.field(1).data_type(), &ArrowType::Date32);
        assert!(matches!(schema.field(2).data_type(), ArrowType::FixedSizeList(f, 3) if f.data_type() == &ArrowType::Int64));
        let batches = reader.collect::<Result<Vec<_>, _>>().unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), [4_000, 4_000, 2_000]);
        assert!(batches.iter().all(|b| b.schema() == schema));
        let text: Vec<&str> = batches.iter().flat_map(|b| b.column(0).as_string::<i64>().iter().map(Option::unwrap)).collect();
        assert_eq!(text, (0..N).map(|i| format!("row {i} é")).collect::<Vec<_>>());
        let days: Vec<i32> = batches.iter().flat_map(|b| b.column(1).as_primitive::<Date32Type>().values().to_vec()).collect();
        assert_eq!(days, (0..N as i32).collect::<Vec<_>>());
        let grid: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.column(2).as_fixed_size_list().values().as_primitive::<arrow_array::types::Int64Type>().values().to_vec())
            .collect();
        assert_eq!(grid, (0..3 * N as i64).collect::<Vec<_>>());
        if compress {
            let (start, len) = archive.mapping_range().unwrap();
            let addr = batches[0].column(3).as_primitive::<Float64Type>().values().as_ptr() as usize;
            assert!(addr < start || addr >= start + len, "inflated data is not in the mapping");
        }
    }
}

#[test]
fn batch_rows_n_rows_and_empty_selections() {
    let (_dir, path) = write(true);
    let archive = NpzArchive::open(&path).unwrap();
    let rows = |cols: &[&str], n, b| all(&archive, cols, n, b).iter().map(RecordBatch::num_rows).collect::<Vec<_>>();
    assert_eq!(rows(&["y"], Some(10), Some(3)), [3, 3, 3, 1]);
    assert_eq!(rows(&["y"], Some(0), None), [0]);
    assert_eq!(rows(&["y", "x"], None, None), [N]);
    let empty = all(&archive, &[], None, None);
    assert_eq!((empty.len(), empty[0].num_columns(), empty[0].num_rows()), (1, 0, N));
}

#[test]
fn errors_are_npz_errors() {
    let (_dir, path) = write(true);
    let archive = NpzArchive::open(&path).unwrap();
    let e = archive.record_batches(&["nope"], None, None).err().unwrap();
    assert!(matches!(e.kind(), ErrorKind::Request(_)), "{e}");
    // Flip the CRC-32 of `y.npy` in its local header and its central directory entry: the
    // member is checked once inflated whole, here at once (it is small), before any batch.
    let mut bytes = std::fs::read(&path).unwrap();
    let local = header_of(&bytes, b"PK\x03\x04", 26, 30, b"y.npy");
    let central = header_of(&bytes, b"PK\x01\x02", 28, 46, b"y.npy");
    bytes[local + 14] ^= 1;
    bytes[central + 16] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let archive = NpzArchive::open(&path).unwrap();
    let mut reader = archive.record_batches(&["y"], None, Some(4_000)).unwrap();
    let e = reader.next().unwrap().unwrap_err();
    let ArrowError::ExternalError(inner) = &e else { panic!("{e:?}") };
    let npz = inner.downcast_ref::<NpzError>().unwrap();
    assert!(matches!(npz.kind(), ErrorKind::Checksum { .. }), "{npz}");
    assert_eq!(npz.member(), Some("y.npy"));
    assert!(npz.to_string().contains("a.npz"), "{npz}");
    assert!(reader.next().is_none(), "an error ends the reader");
}

/// Offset of the zip header with `signature` whose name (its length at `len_at`, the name
/// at `name_at`) is `name`.
fn header_of(bytes: &[u8], signature: &[u8], len_at: usize, name_at: usize, name: &[u8]) -> usize {
    (0..bytes.len() - name_at)
        .find(|&i| {
            let len = u16::from_le_bytes([bytes[i + len_at], bytes[i + len_at + 1]]) as usize;
            bytes[i..].starts_with(signature) && len == name.len() && bytes[i + name_at..].starts_with(name)
        })
        .unwrap()
}

#[test]
fn readers_are_send() {
    fn is_send<T: Send + 'static>(_: &T) {}
    let (_dir, path) = write(false);
    let archive = NpzArchive::open(&path).unwrap();
    let reader = archive.record_batches(&["x"], None, None).unwrap();
    is_send(&reader);
    let handle = std::thread::spawn(move || reader.map(|b| b.unwrap().num_rows()).sum::<usize>());
    assert_eq!(handle.join().unwrap(), N);
}
