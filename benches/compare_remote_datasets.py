"""Object-store datasets, side by side in one run: scan_npz, pl.scan_parquet over Parquet copies
of the same shards on the same server, and a download loop (one GET per object, then np.load),
on two servers on 127.0.0.1, each in a process of its own:
- moto's S3 server;
- the range-serving HTTP server of the tests, answering every request after a latency (20 ms
  by default), as a real store's round trip, with as many connections as asked.
Time (median of the runs, each scan made anew, as a first scan: the plan cache is cleared
before each), requests and bytes received per task.

    python benches/compare_remote_datasets.py [--shards 100] [--rows 20000] [--latency 0.02] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
from polars_npz import scan_npz, sink_npz, write_npz
from polars_npz._internal import clear_plan_cache, remote_bytes_fetched, remote_requests

COLUMNS = ["c0", "c1", "c2", "c3"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_shards(root: Path, shards: int, rows: int) -> list[str]:
    """`shards` shards of `rows` x 4 float64, hive by day (20 a day): stored and deflated npz
    (numpy's), deflated npz written by write_npz ("ours": blocks, statistics, the headers in
    the central directory) and uncompressed Parquet, under
    root/{stored,deflated,ours,parquet}/day=NNN/shard-NNNN.*"""
    names = []
    rng = np.random.default_rng(0)
    for i in range(shards):
        arrays = {c: rng.random(rows) for c in COLUMNS}
        name = f"day={i // 20:03d}/shard-{i:04d}"
        for kind in ["stored", "deflated", "ours", "parquet"]:
            (root / kind / name).parent.mkdir(parents=True, exist_ok=True)
        np.savez(root / "stored" / f"{name}.npz", **arrays)
        np.savez_compressed(root / "deflated" / f"{name}.npz", **arrays)
        write_npz(pl.DataFrame(arrays), root / "ours" / f"{name}.npz", compress=True)
        pl.DataFrame(arrays).write_parquet(root / "parquet" / f"{name}.parquet", compression="uncompressed", statistics=False)
        names.append(name)
    return names


def timed(f: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        clear_plan_cache()  # every scan a first scan: nothing planned before
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_all(blobs: list[bytes]) -> pl.DataFrame:
    loaded = [np.load(io.BytesIO(b)) for b in blobs]
    return pl.DataFrame({c: np.concatenate([f[c] for f in loaded]) for c in COLUMNS})


def report(server: str, rows: list[tuple[str, str, str, str, str]]) -> None:
    print(f"\n{server}\n")
    print("| task | scan_npz | requests, MB | scan_parquet | requests, MB | download loop | npz vs parquet | npz vs loop |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def fmt(t: float | None) -> str:
    return "-" if t is None else f"{t * 1e3:.0f} ms"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{b / a:.2f}x"


def run_tasks(
    npz: Callable[[str], pl.LazyFrame],
    parquet: Callable[[], pl.LazyFrame],
    download: Callable[[str], list[bytes]],
    counter: Callable[[], tuple[int, int]],
    runs: int,
) -> list[tuple[str, str, str, str, str]]:
    tasks: list[tuple[str, Callable[[], object], Callable[[], object] | None, Callable[[], object]]] = [
        ("schema", lambda: npz("stored").collect_schema(), lambda: parquet().collect_schema(), lambda: None),
        (
            "len() (deflated shards)",
            lambda: npz("deflated").select(pl.len()).collect(),
            lambda: parquet().select(pl.len()).collect(),
            lambda: None,
        ),
        (
            "len() (deflated shards, write_npz)",
            lambda: npz("ours").select(pl.len()).collect(),
            lambda: parquet().select(pl.len()).collect(),
            lambda: None,
        ),
        (
            "one column sum (stored)",
            lambda: npz("stored").select(pl.col("c3").sum()).collect(),
            lambda: parquet().select(pl.col("c3").sum()).collect(),
            lambda: pl.Series(np.concatenate([np.load(io.BytesIO(b))["c3"] for b in download("stored")])).sum(),
        ),
        ("all columns (stored)", lambda: npz("stored").collect(), lambda: parquet().collect(), lambda: load_all(download("stored"))),
        ("all columns (deflated)", lambda: npz("deflated").collect(), None, lambda: load_all(download("deflated"))),
    ]
    out = []
    for name, ours, theirs, loop in tasks:
        clear_plan_cache()
        before = counter()
        ours()
        after = counter()
        ours_cost = f"{after[0] - before[0]}, {(after[1] - before[1]) / 1e6:.1f}"
        t_ours = timed(ours, runs)
        theirs_cost = "-"
        t_theirs = None
        if theirs is not None:
            before = counter()
            theirs()
            after = counter()
            theirs_cost = f"{after[0] - before[0]}, {(after[1] - before[1]) / 1e6:.1f}"
            t_theirs = timed(theirs, runs)
        t_loop = None if name == "schema" or name.startswith("len()") else timed(loop, max(1, runs // 2))
        out.append((name, fmt(t_ours), ours_cost, fmt(t_theirs), theirs_cost, fmt(t_loop), ratio(t_ours, t_theirs), ratio(t_ours, t_loop)))
    return out


def bench_s3(root: Path, names: list[str], runs: int) -> None:
    import boto3

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        opts = {
            "aws_endpoint_url": endpoint,
            "aws_region": "us-east-1",
            "aws_access_key_id": "x",
            "aws_secret_access_key": "x",
            "aws_allow_http": "true",
        }
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        s3.create_bucket(Bucket="bench")
        for kind, ext in [("stored", "npz"), ("deflated", "npz"), ("ours", "npz"), ("parquet", "parquet")]:
            for name in names:
                s3.upload_file(str(root / kind / f"{name}.{ext}"), "bench", f"{kind}/{name}.{ext}")

        def download(kind: str) -> list[bytes]:
            return [s3.get_object(Bucket="bench", Key=f"{kind}/{name}.npz")["Body"].read() for name in names]

        def counter() -> tuple[int, int]:
            return remote_requests(), remote_bytes_fetched()

        rows = run_tasks(
            lambda kind: scan_npz(f"s3://bench/{kind}/", storage_options=opts),
            lambda: pl.scan_parquet("s3://bench/parquet/", storage_options=opts, hive_partitioning=True),
            download,
            counter,
            runs,
        )
        report(
            "moto S3 server on 127.0.0.1 (own process); requests and MB are polars-npz's own count, for both columns of scan_npz; scan_parquet's are not counted (-)",
            [(*r[:4], "-", *r[5:]) for r in rows],
        )
        # The local shards written to the store as a partitioned dataset, then scanned back.
        source = scan_npz(root / "stored")
        start = time.perf_counter()
        sink_npz(source, "s3://bench/written", partition_by="day", storage_options=opts)
        took = time.perf_counter() - start
        back = scan_npz("s3://bench/written/", storage_options=opts).collect()
        want = source.collect()
        key = COLUMNS[:2]
        assert back.select(want.columns).sort(key).equals(want.sort(key)), "the partitioned write does not scan back equal"
        print(f"\nsink_npz of the stored shards to s3://bench/written/ (partition_by='day'): {took * 1e3:.0f} ms; scans back equal")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def http_range_server(root: Path, latency: float) -> Iterator[tuple[str, Callable[[], tuple[int, int]]]]:
    """The tests' range server over `root` in a process of its own on 127.0.0.1, answering
    after `latency` seconds: its base URL, and a counter of (requests, bytes sent) so far."""
    here = Path(__file__).resolve().parent.parent / "tests" / "python" / "rangeserver.py"
    proc = subprocess.Popen(
        [sys.executable, str(here), str(root), "--latency", str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base = f"http://127.0.0.1:{int(proc.stdout.readline())}"

        def counter() -> tuple[int, int]:
            req, sent = urllib.request.urlopen(f"{base}/__stats").read().decode().split()
            return int(req), int(sent)

        yield base, counter
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=10)


def bench_http(root: Path, names: list[str], runs: int, latency: float) -> None:
    import urllib.request as ur

    with http_range_server(root, latency) as (base, counter):

        def urls(kind: str, ext: str) -> list[str]:
            return [f"{base}/{kind}/{name}.{ext}" for name in names]

        def download(kind: str) -> list[bytes]:
            return [ur.urlopen(u).read() for u in urls(kind, "npz")]

        rows = run_tasks(
            lambda kind: scan_npz(urls(kind, "npz"), hive_partitioning=True),
            lambda: pl.scan_parquet(urls("parquet", "parquet"), hive_partitioning=True),
            download,
            counter,
            runs,
        )
        report(
            f"HTTP range server on 127.0.0.1 (own process), {latency * 1e3:.0f} ms per request; requests and MB counted by the server", rows
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", choices=["s3", "http"], default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        names = write_shards(root, args.shards, args.rows)
        print(f"{args.shards} shards x {args.rows:,} rows x 4 float64 (hive by day), stored and deflated npz, uncompressed Parquet copies")
        if args.only in (None, "http"):
            bench_http(root, names, args.runs, args.latency)
        if args.only in (None, "s3"):
            bench_s3(root, names, args.runs)


if __name__ == "__main__":
    main()
