"""Archives we did not write: one deflated member of 256 MB as ``np.savez_compressed`` writes it
(one deflate stream, no index), read before and after this process learned its seek points.

- ``tail(1000)`` before any full read (inflates the member from its start, which learns its
  points too) and after one (the last span only);
- the first full read (zlib, recording points) against a second (spans in parallel) and against
  a read with learning off (libdeflate, what a read did before), cpu and wall;
- a 1 % filter on a sorted column of the same size (another archive written by numpy): the
  first filtered query (reads all, learns points and statistics) against one after it (reads
  the blocks that may match), and the same two in a fresh process, where the second also pays
  Polars' conversion of the filter for the reader (pyarrow's import, once a process);
- the memory the points and statistics hold against the members' size.

    python benches/compare_learned.py [--member-mb 256] [--runs 5] [--dir /tmp/polars-npz-learned]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from polars_npz import read_npz, scan_npz
from polars_npz._internal import clear_learned, learned_bytes


def clock(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--member-mb", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/polars-npz-learned")
    ap.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fresh-filter", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"member-{args.member_mb}-numpy.npz"
    if not path.exists():
        rng = np.random.default_rng(0)
        np.savez_compressed(path, x=np.round(rng.normal(20.0, 5.0, args.member_mb * (1 << 20) // 8), 2))
    sorted_path = root / f"sorted-{args.member_mb}-numpy.npz"
    if not sorted_path.exists():
        rng = np.random.default_rng(1)
        np.savez_compressed(sorted_path, t=np.sort(rng.normal(0.0, 1.0, args.member_mb * (1 << 20) // 8)))
    # 1 % of the rows: the 49.5th to the 50.5th percentile of a standard normal.
    one_percent = pl.col("t").is_between(-0.01253, 0.01253)

    def filtered() -> None:
        scan_npz(sorted_path).filter(one_percent).select(pl.len(), pl.col("t").sum()).collect()

    if args.baseline:
        print(*median([clock(lambda: read_npz(path)) for _ in range(args.runs)]))
        return
    if args.fresh_filter:
        print(clock(filtered)[0], clock(filtered)[0])
        return
    r: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ["tail before", "tail after", "first read", "second read", "1 % filter, first", "1 % filter, after"]
    }
    for _ in range(args.runs):
        clear_learned()
        r["tail before"].append(clock(lambda: scan_npz(path).tail(1000).collect()))
        clear_learned()  # that tail inflated the whole stream, so it learned the points too
        r["first read"].append(clock(lambda: read_npz(path)))
        r["second read"].append(clock(lambda: read_npz(path)))
        r["tail after"].append(clock(lambda: scan_npz(path).tail(1000).collect()))
        r["1 % filter, first"].append(clock(filtered))
        r["1 % filter, after"].append(clock(filtered))
    held = learned_bytes()
    env = dict(os.environ, POLARS_NPZ_LEARNED_BUDGET="0")
    out = subprocess.run(
        [sys.executable, __file__, "--baseline", "--dir", args.dir, "--member-mb", str(args.member_mb), "--runs", str(args.runs)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    base = tuple(float(v) for v in out.stdout.split())
    fresh = [
        tuple(
            float(v)
            for v in subprocess.run(
                [sys.executable, __file__, "--fresh-filter", "--dir", args.dir, "--member-mb", str(args.member_mb)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        )
        for _ in range(3)
    ]
    fresh_first, fresh_after = statistics.median(f[0] for f in fresh), statistics.median(f[1] for f in fresh)
    m = {k: median(v) for k, v in r.items()}
    size = path.stat().st_size
    print(
        f"\nOne member of {args.member_mb} MB written by np.savez_compressed ({size / 1e6:.0f} MB), {os.cpu_count()} cores, medians of {args.runs}"
    )
    print("| task | wall | cpu |")
    print("|---|---|---|")
    for k, (w, c) in [*m.items(), ("read, learning off (libdeflate)", base)]:
        print(f"| {k} | {w * 1e3:.1f} ms | {c * 1e3:.1f} ms |")
    print(f"| tail(1000) after / before | {m['tail before'][0] / m['tail after'][0]:.0f}x faster | |")
    print(
        f"| second read / first | {m['first read'][0] / m['second read'][0]:.2f}x faster | {m['first read'][1] / m['second read'][1]:.2f}x less cpu |"
    )
    first, after = m["1 % filter, first"][0], m["1 % filter, after"][0]
    print(f"| 1 % filter after the first / the first | {first / after:.0f}x faster | |")
    print(
        f"| the same in a fresh process (median of 3) | {fresh_first * 1e3:.0f} ms, then {fresh_after * 1e3:.0f} ms: {fresh_first / fresh_after:.1f}x"
        " (the second imports pyarrow) | |"
    )
    print(
        f"| memory held by the points and statistics | {held / 1e6:.2f} MB = {100 * held / (2 * args.member_mb << 20):.2f} % of the members | |"
    )


if __name__ == "__main__":
    main()
