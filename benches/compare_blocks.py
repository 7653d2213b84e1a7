"""Row groups for npz, side by side in one run: members written in blocks with statistics
(``write_npz(compress=True)``) against the same arrays as numpy writes them (one deflate stream a
member, no statistics).

1. One large deflated member (256 MB of float64 by default): read whole (blocks inflate on every
   core; one stream on one), ``tail(1000)`` (the last block only), and the archive's size
   against ``np.savez_compressed``.
2. A filter matching 1 % of the rows of a sorted column over the 400-shard dataset of
   ``compare_datasets.py`` (20,000 rows x 4 float64 a shard, plus a sorted int64 ``ts``):
   written with statistics, against the same shards without (numpy's files, and ours read with
   ``use_statistics=False``), and ``pl.scan_parquet`` over Parquet copies (row-group statistics).
3. The same filter over 20 larger shards (250,000 rows; objects of up to 2 MiB are read whole
   in one request, so small shards show no saving) on an HTTP range server answering after
   20 ms: requests and bytes, with statistics and without.

Medians of the runs; each reader of a task in a shuffled order per round.

    python benches/compare_blocks.py [--member-mb 256] [--shards 400] [--remote-shards 20] [--runs 5] [--dir /tmp/polars-npz-blocks]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from compare_remote_datasets import http_range_server
from polars_npz import npz_members, read_npz, scan_npz, write_npz
from polars_npz._internal import clear_learned, clear_plan_cache

COLUMNS = ["a", "b", "c", "d"]


def timed(readers: dict[str, Callable[[], object]], runs: int, cpu: dict[str, float] | None = None) -> dict[str, float]:
    """Median wall time of each reader; with `cpu`, also the median cpu / wall of each."""
    times: dict[str, list[float]] = {k: [] for k in readers}
    shares: dict[str, list[float]] = {k: [] for k in readers}
    for _ in range(runs):
        order = list(readers.items())
        random.shuffle(order)
        for name, fn in order:
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall = time.perf_counter() - t
            times[name].append(wall)
            shares[name].append((time.process_time() - c) / wall)
    if cpu is not None:
        cpu.update({k: statistics.median(v) for k, v in shares.items()})
    return {k: statistics.median(v) for k, v in times.items()}


def one_member(root: Path, mb: int, runs: int) -> None:
    n = mb * (1 << 20) // 8
    ours, numpy_file = root / f"member-{mb}-blocks.npz", root / f"member-{mb}-numpy.npz"
    if not (ours.exists() and numpy_file.exists()):
        # Readings with two decimals (deflate takes them to about a third of their size).
        rng = np.random.default_rng(0)
        x = np.round(rng.normal(20.0, 5.0, n), 2)
        np.savez_compressed(numpy_file, x=x)
        write_npz({"x": x}, ours, compress=True)
    blocks = npz_members(ours)["blocks"][0]
    assert read_npz(ours).equals(read_npz(numpy_file))
    cpu: dict[str, float] = {}
    r = timed(
        {
            "blocks: read whole": lambda: read_npz(ours),
            # As read for the first time: what this process learns of the stream (seek points,
            # statistics: benches/compare_learned.py) is forgotten before each read.
            "one stream: read whole": lambda: (clear_learned(), read_npz(numpy_file)),
            "blocks: tail(1000)": lambda: scan_npz(ours).tail(1000).collect(),
            "one stream: tail(1000)": lambda: (clear_learned(), scan_npz(numpy_file).tail(1000).collect()),
        },
        runs,
        cpu,
    )
    size, numpy_size = ours.stat().st_size, numpy_file.stat().st_size
    print(f"\nOne deflated member of {mb} MB ({n:,} float64; {blocks} blocks), {os.cpu_count()} cores, medians of {runs}")
    print("| task | with blocks | one stream (np.savez_compressed) | ratio |")
    print("|---|---|---|---|")
    for task in ["read whole", "tail(1000)"]:
        a, b = r[f"blocks: {task}"], r[f"one stream: {task}"]
        shares = f" (cpu/wall {cpu[f'blocks: {task}']:.2f})", f" (cpu/wall {cpu[f'one stream: {task}']:.2f})"
        print(f"| {task} | {a * 1e3:.1f} ms{shares[0]} | {b * 1e3:.1f} ms{shares[1]} | {b / a:.1f}x |")
    print(f"| archive size | {size / 1e6:.1f} MB | {numpy_size / 1e6:.1f} MB | {size / numpy_size:.4f} |")


def write_dataset(root: Path, shards: int, rows: int) -> dict[str, Path]:
    dirs = {k: root / f"ds-{shards}-{rows}" / k for k in ("blocks", "numpy", "parquet")}
    marker = root / f"ds-{shards}-{rows}" / ".done"
    if marker.exists():
        return dirs
    rng = np.random.default_rng(0)
    for i in range(shards):
        arrays = {c: rng.random(rows) for c in COLUMNS}
        arrays["ts"] = np.arange(i * rows, (i + 1) * rows, dtype=np.int64)
        name = f"day={i // 20:03d}/shard-{i:04d}"
        for d in dirs.values():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
        write_npz(arrays, dirs["blocks"] / f"{name}.npz", compress=True)
        np.savez_compressed(dirs["numpy"] / f"{name}.npz", **arrays)
        pl.DataFrame(arrays).write_parquet(dirs["parquet"] / f"{name}.parquet")
    marker.touch()
    return dirs


def dataset_filter(dirs: dict[str, Path], shards: int, rows: int, runs: int) -> None:
    total = shards * rows
    lo = total // 2
    q = pl.col("ts").is_between(lo, lo + total // 100 - 1)
    want = scan_npz(dirs["numpy"]).filter(q).collect()
    assert want.height == total // 100
    assert scan_npz(dirs["blocks"]).filter(q).collect().equals(want)
    r = timed(
        {
            "with statistics": lambda: scan_npz(dirs["blocks"]).filter(q).collect(),
            "same files, use_statistics=False": lambda: scan_npz(dirs["blocks"], use_statistics=False).filter(q).collect(),
            "numpy's files, first read": lambda: (clear_learned(), scan_npz(dirs["numpy"]).filter(q).collect()),
            # After one full read in this process (the `want` above), their statistics are learned.
            "numpy's files, statistics learned": lambda: scan_npz(dirs["numpy"]).filter(q).collect(),
            "scan_parquet (row-group statistics)": lambda: pl.scan_parquet(dirs["parquet"]).filter(q).collect(),
        },
        runs,
    )
    base = r["with statistics"]
    print(f"\nA filter matching 1% of a sorted column: {shards} deflated shards x {rows:,} rows x 5 columns, medians of {runs}")
    print("| reader | time | vs with statistics |")
    print("|---|---|---|")
    for k, v in r.items():
        print(f"| {k} | {v * 1e3:.0f} ms | {v / base:.1f}x |")


def remote_filter(dirs: dict[str, Path], shards: int, rows: int, runs: int, latency: float) -> None:
    names = [f"day={i // 20:03d}/shard-{i:04d}" for i in range(shards)]
    total = shards * rows
    lo = total // 2
    q = pl.col("ts").is_between(lo, lo + total // 100 - 1)
    with http_range_server(dirs["blocks"].parent, latency) as (base, stats):

        def query(kind: str, use: bool) -> Callable[[], object]:
            urls = [f"{base}/{kind}/{n}.npz" for n in names]

            def run() -> object:
                clear_plan_cache()
                return scan_npz(urls, use_statistics=use).filter(q).collect()

            return run

        print(
            f"\nThe same filter over {shards} shards on an HTTP range server on 127.0.0.1, {latency * 1e3:.0f} ms a request (first scans)"
        )
        print("| reader | time | requests | MB received |")
        print("|---|---|---|---|")
        for label, fn in [
            ("with statistics", query("blocks", True)),
            ("same files, use_statistics=False", query("blocks", False)),
            ("numpy's files", query("numpy", True)),
        ]:
            times = []
            for _ in range(runs):
                before = stats()
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
                after = stats()
            print(f"| {label} | {statistics.median(times) * 1e3:.0f} ms | {after[0] - before[0]} | {(after[1] - before[1]) / 1e6:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--member-mb", type=int, default=256)
    ap.add_argument("--shards", type=int, default=400)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--remote-shards", type=int, default=20)
    ap.add_argument("--remote-rows", type=int, default=250_000)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/polars-npz-blocks")
    args = ap.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    one_member(root, args.member_mb, args.runs)
    dirs = write_dataset(root, args.shards, args.rows)
    dataset_filter(dirs, args.shards, args.rows, args.runs)
    remote = write_dataset(root, args.remote_shards, args.remote_rows)
    remote_filter(remote, args.remote_shards, args.remote_rows, args.runs, args.latency)


if __name__ == "__main__":
    main()
