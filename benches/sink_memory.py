"""Peak memory of ``scan_npz(...).sink_parquet(...)`` over a large deflated archive written by
numpy: members larger than 64 MiB stream batch by batch, so the peak stays bounded by the
batches in flight, not by the archive. Each sink runs in a fresh process; peak RSS is the
process's high-water mark (VmHWM; interpreter and Polars included).

    python benches/sink_memory.py [--gb 4] [--dir /tmp/polars-npz-sink-memory]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

COLUMNS = 8


def child(source: str, out: str, learning: bool) -> None:
    if not learning:
        os.environ["POLARS_NPZ_LEARNED_BUDGET"] = "0"
    from polars_npz import scan_npz

    t = time.perf_counter()
    scan_npz(source).sink_parquet(out)
    wall = time.perf_counter() - t
    print(wall, peak_rss())


def peak_rss() -> int:
    """This process's high-water mark of resident memory, in bytes: VmHWM (ru_maxrss is
    carried over from the parent across exec on Linux, so a parent that held the generated
    arrays would show through it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=4.0)
    ap.add_argument("--dir", default="/tmp/polars-npz-sink-memory")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.child[2] == "1")
        return
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    rows = int(args.gb * (1 << 30)) // 8 // COLUMNS
    path = root / f"numpy-{args.gb:g}gb.npz"
    if not path.exists():
        rng = np.random.default_rng(0)
        arrays = {f"c{i}": np.round(rng.normal(20.0, 5.0, rows), 2) for i in range(COLUMNS)}
        np.savez_compressed(path, **arrays)
        del arrays
    out = root / "out.parquet"
    print(
        f"\nscan_npz(...).sink_parquet(...) of {COLUMNS} float64 columns x {rows:,} rows "
        f"({COLUMNS * rows * 8 / (1 << 30):.1f} GiB; {path.stat().st_size / 1e9:.2f} GB deflated by np.savez_compressed), "
        f"{os.cpu_count()} cores, a fresh process each"
    )
    print("| run | time | peak RSS |")
    print("|---|---|---|")
    for name, learning in [("first read (learns seek points and statistics)", True), ("learning off", False)]:
        res = subprocess.run(
            [sys.executable, __file__, "--child", str(path), str(out), "1" if learning else "0"],
            capture_output=True,
            text=True,
            check=True,
        )
        wall, peak = (float(v) for v in res.stdout.split())
        print(f"| {name} | {wall:.1f} s | {peak / (1 << 20):.0f} MiB |")
    out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
