//! Criterion benchmarks of the Rust core. The archives are written by numpy:
//! `make bench` runs `benches/datasets.py` first (or set NPZ_BENCH_DIR to a folder holding
//! `bench_{stored,deflated,aligned}_<rows>.npz`, and NPZ_BENCH_ROWS).

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use polars_npz::NpzArchive;

fn archive(kind: &str) -> Option<NpzArchive> {
    let dir = PathBuf::from(std::env::var("NPZ_BENCH_DIR").unwrap_or_else(|_| "/tmp/polars-npz-bench".into()));
    let rows = std::env::var("NPZ_BENCH_ROWS").unwrap_or_else(|_| "4000000".into());
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
        let bytes: u64 = a.members().iter().map(|m| m.entry.size).sum();
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

criterion_group!(benches, bench);
criterion_main!(benches);
