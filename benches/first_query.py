"""The first query of a fresh process: a 1% filter against the same query unfiltered.

Polars converts the filters it hands an external reader to pyarrow expressions, importing
pyarrow's compute module and pandas on a process's first filtered query (about 200 ms). A scan
hands them only where its statistics could skip enough to repay that (see
``polars_npz._dataset._HAND_FILTERS_BYTES``). Each query runs in a fresh process, timed from
``collect()`` (the imports of polars and polars_npz and the scan itself are not counted); the
medians of the rounds are reported, and the ratio filtered / unfiltered (target: <= 1.3).

    python benches/first_query.py [--runs 7] [--dir /tmp/polars-npz-first-query]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def child(path: str, filtered: bool) -> None:
    import polars as pl
    from polars_npz import scan_npz

    lf = scan_npz(path)
    if filtered:
        lf = lf.filter(pl.col("x") >= pl.lit(0.99) * pl.lit(float(len_of(path))))
    q = lf.select(pl.col("x").sum(), pl.col("y").mean(), pl.len())
    t = time.perf_counter()
    q.collect()
    print(time.perf_counter() - t, "pandas" in sys.modules)


def len_of(path: str) -> int:
    return int(Path(path).stem.split("-")[-1])


def make(root: Path) -> list[tuple[str, Path]]:
    """Archives with statistics, small and large, and one numpy wrote (none)."""
    from polars_npz import write_npz

    out = []
    for label, rows, compress, writer in [
        ("ours, stored, 16 MB", 1 << 20, False, "ours"),
        ("ours, deflated, 16 MB", 1 << 20, True, "ours"),
        ("ours, deflated, 256 MB", 16 << 20, True, "ours"),
        ("numpy, deflated, 16 MB", 1 << 20, True, "numpy"),
    ]:
        path = root / f"{writer}-{'deflated' if compress else 'stored'}-{rows}.npz"
        if not path.exists():
            rng = np.random.default_rng(0)
            arrays = {"x": np.arange(rows, dtype=np.float64), "y": rng.random(rows)}
            if writer == "ours":
                write_npz(arrays, path, compress=compress, block_rows=65536)
            else:
                np.savez_compressed(path, **arrays)
        out.append((label, path))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", default="/tmp/polars-npz-first-query")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "1")
        return
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    archives = make(root)
    print(f"\nFirst query of a fresh process (x >= 99th percentile; sum, mean, len), medians of {args.runs}")
    print("| archive | unfiltered | 1% filter | filtered / unfiltered | filter imported pandas |")
    print("|---|---|---|---|---|")
    for label, path in archives:
        times: dict[bool, list[float]] = {False: [], True: []}
        imported = False
        for _ in range(args.runs):
            for filtered in (False, True):
                res = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), "1" if filtered else "0"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall, pandas = res.stdout.split()
                times[filtered].append(float(wall))
                imported |= filtered and pandas == "True"
        plain, filt = statistics.median(times[False]), statistics.median(times[True])
        print(f"| {label} | {plain * 1e3:.1f} ms | {filt * 1e3:.1f} ms | {filt / plain:.2f} | {'yes' if imported else 'no'} |")


if __name__ == "__main__":
    main()
