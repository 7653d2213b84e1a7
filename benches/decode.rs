//! Criterion benchmarks of the Rust core. The archives are written by numpy:
//! `make bench` runs `benches/datasets.py` first (or set NPZ_BENCH_DIR to a folder holding
//! `bench_{stored,deflated,aligned}_<rows>.npz`, and NPZ_BENCH_ROWS).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polars_npz::NpzArchive;

fn archive(kind: &str) -> Option<NpzArchive> {
    let dir = PathBuf::from(std::env::var("NPZ_BENCH_DIR").unwrap_or_else(|_| "/tmp/polars-npz-bench".into()));
    let rows: usize = std::env::var("NPZ_BENCH_ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(4_000_000);
    // The dtype-family archive has a quarter of the rows (its rows are wider).
    let rows = if kind == "families" { rows / 4 } else { rows };
    let path = dir.join(format!("bench_{kind}_{rows}.npz"));
    match NpzArchive::open(&path) {
        Ok(a) => Some(a),
        Err(e) => {
            eprintln!("skipping {kind}: {e} (run `make bench`)");
            None
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.sample_size(10);
    for kind in ["aligned", "stored", "deflated"] {
        let Some(a) = archive(kind) else { continue };
        let names = a.column_names();
        let one = names.iter().copied().find(|n| !a.is_zero_copy(n)).unwrap_or(names[0]);
        let bytes: u64 = a.members().iter().map(|m| m.size()).sum();
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("{kind}/all columns"), |b| b.iter(|| a.read(None, None).unwrap()));
        g.throughput(Throughput::Bytes(bytes / names.len() as u64));
        g.bench_function(format!("{kind}/1 of {} columns", names.len()), |b| b.iter(|| a.read(Some(&[one]), None).unwrap()));
        g.bench_function(format!("{kind}/1 column in 100k-row batches"), |b| {
            b.iter(|| a.batches(&[one], None, Some(100_000)).unwrap().map(|r| r.unwrap().height()).sum::<usize>())
        });
        g.throughput(Throughput::Elements(1000));
        g.bench_function(format!("{kind}/head 1000"), |b| b.iter(|| a.read(Some(&[one]), Some(1000)).unwrap()));
    }
    g.finish();
}

/// One column of each dtype family (stored, as np.savez wrote it): views, copies, byte swaps,
/// bool packing, time scaling, strings, records, N-D and Fortran order.
fn families(c: &mut Criterion) {
    let Some(a) = archive("families") else { return };
    let mut g = c.benchmark_group("family");
    g.sample_size(10);
    for m in a.members() {
        let Some(name) = m.column() else { continue };
        let how = if a.is_zero_copy(name) { "view" } else { "copy" };
        g.throughput(Throughput::Bytes(m.size()));
        g.bench_function(format!("{name} ({how})"), |b| b.iter(|| a.read(Some(&[name]), None).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench, families);
criterion_main!(benches);
