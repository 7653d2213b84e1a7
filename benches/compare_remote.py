"""Object storage: scan_npz against "download the object, then np.load", on an S3-compatible
server on 127.0.0.1 (moto's server mode), in one run. Time and bytes received for the schema,
one column's sum, all columns and head(1000), stored and deflated.

    python benches/compare_remote.py [--rows 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np
import polars as pl
from moto.server import ThreadedMotoServer
from polars_npz import scan_npz
from polars_npz._internal import remote_bytes_fetched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        opts = {
            "aws_endpoint_url": endpoint,
            "aws_region": "us-east-1",
            "aws_access_key_id": "x",
            "aws_secret_access_key": "x",
            "aws_allow_http": True,
        }
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        s3.create_bucket(Bucket="bench")
        rng = np.random.default_rng(0)
        arrays = {f"c{i}": rng.random(args.rows) for i in range(8)}
        with tempfile.TemporaryDirectory() as d:
            for kind, save in [("stored", np.savez), ("deflated", np.savez_compressed)]:
                save(Path(d) / f"{kind}.npz", **arrays)
                s3.upload_file(str(Path(d) / f"{kind}.npz"), "bench", f"{kind}.npz")
        print(f"8 float64 columns x {args.rows:,} rows on an S3 server on 127.0.0.1; medians of {args.runs} runs")
        print("| archive | task | download + np.load | bytes | polars-npz | bytes | speed-up |")
        print("|---|---|---|---|---|---|---|")
        for kind in ["stored", "deflated"]:
            url = f"s3://bench/{kind}.npz"
            size = s3.head_object(Bucket="bench", Key=f"{kind}.npz")["ContentLength"]

            def download(kind: str = kind) -> np.lib.npyio.NpzFile:
                return np.load(io.BytesIO(s3.get_object(Bucket="bench", Key=f"{kind}.npz")["Body"].read()))

            tasks = {
                "schema": (lambda: list(download().keys()), lambda url=url: scan_npz(url, storage_options=opts).collect_schema()),
                "1 column: sum": (
                    lambda: pl.Series(download()["c3"]).sum(),
                    lambda url=url: scan_npz(url, storage_options=opts).select(pl.col("c3").sum()).collect(),
                ),
                "all columns": (lambda: pl.DataFrame(dict(download())), lambda url=url: scan_npz(url, storage_options=opts).collect()),
                "head(1000)": (
                    lambda: pl.Series(download()["c3"][:1000]),
                    lambda url=url: scan_npz(url, storage_options=opts).select("c3").head(1000).collect(),
                ),
            }
            for task, (theirs, ours) in tasks.items():
                t_theirs, t_ours, b_ours = [], [], []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    theirs()
                    t_theirs.append(time.perf_counter() - t)
                    before = remote_bytes_fetched()
                    t = time.perf_counter()
                    ours()
                    t_ours.append(time.perf_counter() - t)
                    b_ours.append(remote_bytes_fetched() - before)
                a, b = statistics.median(t_theirs), statistics.median(t_ours)
                print(
                    f"| {kind} | {task} | {a * 1e3:.0f} ms | {size / 2**20:.1f} MiB | {b * 1e3:.1f} ms | {statistics.median(b_ours) / 2**20:.2f} MiB | {a / b:.1f}x |"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
