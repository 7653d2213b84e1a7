"""Datasets of many archives, side by side in one run: scan_npz over a hive-partitioned
directory of shards (stored and deflated) against the numpy loop (np.load each shard, then
concatenate), pl.scan_parquet and pl.scan_ipc over uncompressed copies of the same shards,
and the old workaround pl.concat([scan_npz(f) for f in files]).

Each round runs every reader of a task once, in a shuffled order; medians of the rounds and
ratios against the numpy loop are printed (and written as JSON with --out).

    python benches/compare_datasets.py [--shards 400] [--rows 20000] [--runs 7] [--dir /tmp/polars-npz-ds]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl
from polars_npz import read_npz, scan_npz

COLUMNS = ["a", "b", "c", "d"]


def make(root: Path, shards: int, rows: int) -> dict[str, Path]:
    """Write the dataset once: the same shards as stored and deflated npz, Parquet, IPC."""
    dirs = {k: root / k for k in ("stored", "deflated", "parquet", "ipc")}
    marker = root / f".done-{shards}-{rows}"
    if marker.exists():
        return dirs
    rng = np.random.default_rng(0)
    for i in range(shards):
        arrays = {c: rng.random(rows) for c in COLUMNS}
        part = Path(f"day={i // 20:03d}") / f"shard-{i:04d}"
        for d in dirs.values():
            (d / part).parent.mkdir(parents=True, exist_ok=True)
        np.savez(dirs["stored"] / part.with_suffix(".npz"), **arrays)
        np.savez_compressed(dirs["deflated"] / part.with_suffix(".npz"), **arrays)
        df = pl.DataFrame(arrays)
        df.write_parquet(dirs["parquet"] / part.with_suffix(".parquet"), compression="uncompressed")
        df.write_ipc(dirs["ipc"] / part.with_suffix(".arrow"), compression="uncompressed")
    marker.touch()
    return dirs


def files(d: Path, suffix: str) -> list[Path]:
    return sorted(d.rglob(f"*{suffix}"))


def numpy_loop(paths: list[Path], cols: list[str]) -> pl.DataFrame:
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    for p in paths:
        with np.load(p) as z:
            for c in cols:
                parts[c].append(z[c])
    return pl.DataFrame({c: np.concatenate(v) for c, v in parts.items()})


def numpy_count(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        with np.load(p) as z:
            n += len(z["a"])
    return n


def tasks(dirs: dict[str, Path]) -> dict[str, dict[str, object]]:
    stored, deflated = files(dirs["stored"], ".npz"), files(dirs["deflated"], ".npz")
    pq, ipc = dirs["parquet"], dirs["ipc"]

    def concat(paths: list[Path]) -> pl.LazyFrame:
        return pl.concat([scan_npz(p) for p in paths])

    return {
        "all stored columns": {
            "numpy loop": lambda: numpy_loop(stored, COLUMNS),
            "concat workaround": lambda: concat(stored).collect(),
            "scan_parquet": lambda: pl.scan_parquet(pq).collect(),
            "scan_ipc": lambda: pl.scan_ipc(files(ipc, ".arrow")).collect(),
            "polars-npz": lambda: scan_npz(dirs["stored"], hive_partitioning=False).collect(),
        },
        "1 stored column: sum": {
            "numpy loop": lambda: numpy_loop(stored, ["a"])["a"].sum(),
            "concat workaround": lambda: concat(stored).select(pl.col("a").sum()).collect(),
            "scan_parquet": lambda: pl.scan_parquet(pq).select(pl.col("a").sum()).collect(),
            "scan_ipc": lambda: pl.scan_ipc(files(ipc, ".arrow")).select(pl.col("a").sum()).collect(),
            "polars-npz": lambda: scan_npz(dirs["stored"]).select(pl.col("a").sum()).collect(),
        },
        "all deflated columns": {
            "numpy loop": lambda: numpy_loop(deflated, COLUMNS),
            "concat workaround": lambda: concat(deflated).collect(),
            "polars-npz": lambda: scan_npz(dirs["deflated"], hive_partitioning=False).collect(),
        },
        "row count, deflated": {
            "numpy loop": lambda: numpy_count(deflated),
            "scan_parquet": lambda: pl.scan_parquet(pq).select(pl.len()).collect(),
            "polars-npz": lambda: scan_npz(dirs["deflated"]).select(pl.len()).collect(),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=400)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", default="/tmp/polars-npz-ds")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dirs = make(Path(args.dir), args.shards, args.rows)
    # Same answers first.
    a = scan_npz(dirs["stored"], hive_partitioning=False).collect()
    assert a.equals(numpy_loop(files(dirs["stored"], ".npz"), COLUMNS))
    assert read_npz(files(dirs["deflated"], ".npz")[0]).equals(a.head(args.rows))
    results: dict[str, dict[str, float]] = {}
    for task, readers in tasks(dirs).items():
        times: dict[str, list[float]] = {r: [] for r in readers}
        for _ in range(args.runs):
            order = list(readers.items())
            random.shuffle(order)
            for name, fn in order:
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        results[task] = {r: statistics.median(v) for r, v in times.items()}
    print(f"{args.shards} shards x {args.rows} rows x {len(COLUMNS)} float64, medians of {args.runs} rounds")
    print(f"| task | {' | '.join(['numpy loop', 'concat workaround', 'scan_parquet', 'scan_ipc', 'polars-npz'])} | polars-npz vs numpy |")
    print("|---|---|---|---|---|---|---|")
    for task, r in results.items():
        cells = [
            f"{r[k] * 1e3:.0f} ms" if k in r else "-" for k in ["numpy loop", "concat workaround", "scan_parquet", "scan_ipc", "polars-npz"]
        ]
        print(f"| {task} | {' | '.join(cells)} | {r['numpy loop'] / r['polars-npz']:.1f}x |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    # The dataset written back, partitioned by day (200 rows a shard would be too few: 50,000
    # rows a part), then scanned: equal to the source, hive column included.
    if hasattr(pl.LazyFrame, "sink_batches"):
        import shutil
        import tempfile

        from polars_npz import sink_npz

        source = scan_npz(dirs["stored"])
        out = Path(tempfile.mkdtemp(prefix="polars-npz-sink-"))
        try:
            t = time.perf_counter()
            sink_npz(source, out / "ds", partition_by="day", max_rows_per_file=50_000)
            took = time.perf_counter() - t
            back = scan_npz(out / "ds").collect()
            want = source.collect()
            key = want.columns[:2]  # the files' order differs (day=10 sorts before day=2); rows do not
            assert back.select(want.columns).sort(key).equals(want.sort(key)), "the partitioned write does not scan back equal"
            print(f"partitioned write of the stored dataset (sink_npz, partition_by='day'): {took * 1e3:.0f} ms, scans back equal")
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
