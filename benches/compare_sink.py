"""Writing a frame larger than one wants in memory: sink_npz beside Polars' sink_parquet
(uncompressed and zstd) and np.savez of the same data, each in a fresh process: wall time and
peak RSS (the process's high-water mark, interpreter included).

The frame is generated lazily by an IO source yielding 256K-row batches: 8 columns (float64 and
int64) x `--rows` rows (default 16M: 1 GiB). np.savez needs every array in memory at once, so
its process builds them first (its peak includes them).

    python benches/compare_sink.py [--rows 16777216] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap

SOURCE = """
import numpy as np, polars as pl
from polars.io.plugins import register_io_source
ROWS, BATCH = {rows}, 1 << 18
schema = pl.Schema({{f"c{{k}}": (pl.Int64 if k % 2 else pl.Float64) for k in range(8)}})
def source(with_columns, predicate, n_rows, batch_size):
    for start in range(0, ROWS, BATCH):
        i = np.arange(start, min(start + BATCH, ROWS), dtype=np.int64)
        yield pl.DataFrame({{f"c{{k}}": (i * k if k % 2 else i * 0.5 + k) for k in range(8)}})
lf = register_io_source(source, schema=schema)
"""

WRITERS = {
    "sink_npz (stored, aligned)": "from polars_npz import sink_npz; sink_npz(lf, OUT + '.npz')",
    "sink_npz (deflated)": "from polars_npz import sink_npz; sink_npz(lf, OUT + '.npz', compress=True)",
    "sink_parquet (uncompressed)": "lf.sink_parquet(OUT + '.parquet', compression='uncompressed')",
    "sink_parquet (zstd)": "lf.sink_parquet(OUT + '.parquet', compression='zstd')",
    "np.savez (arrays built first)": (
        "i = np.arange(ROWS, dtype=np.int64); np.savez(OUT + '.npz', **{f'c{k}': (i * k if k % 2 else i * 0.5 + k) for k in range(8)})"
    ),
}


def run(writer: str, rows: int, out: str) -> tuple[float, float]:
    script = textwrap.dedent(SOURCE.format(rows=rows)) + textwrap.dedent(
        f"""
        import json, time
        OUT = {out!r}
        start = time.perf_counter()
        {writer}
        took = time.perf_counter() - start
        # VmHWM: this process image's high-water mark (ru_maxrss keeps the parent's across exec).
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
        print(json.dumps({{"s": took, "peak_mb": peak}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return got["s"], got["peak_mb"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=16 << 20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    gib = args.rows * 8 * 8 / 2**30
    print(f"8 columns x {args.rows:,} rows ({gib:.2f} GiB), generated lazily; medians of {args.runs} runs, each in a fresh process\n")
    print("| writer | time | peak RSS | time vs sink_npz (stored) |")
    print("|---|---|---|---|")
    base = None
    with tempfile.TemporaryDirectory() as d:
        for name, writer in WRITERS.items():
            results = [run(writer, args.rows, f"{d}/out") for _ in range(args.runs)]
            t = statistics.median(r[0] for r in results)
            peak = statistics.median(r[1] for r in results)
            base = base or t
            print(f"| {name} | {t:.2f} s | {peak:.0f} MB | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
