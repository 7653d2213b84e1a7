"""Ten rows of one big member: ``polars_npz.load(p, mmap_mode="r")[name][:10]`` beside
``np.load(p, mmap_mode="r")[name][:10]``, each in a fresh process: wall time (open, access,
slice) and peak RSS (the process's high-water mark, VmHWM) above what the process held once its
imports were done.

The member is float64, `--mb` MiB (default 512), in three archives: np.savez (stored),
np.savez_compressed (deflated) and write_npz(compress=True) (deflated in blocks). Each case
runs `--runs` times (the file in the page cache after the first: warm runs); the median is
reported.

    python benches/compare_load.py [--mb 512] [--runs 3] [--dir /tmp/polars-npz-load]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

LOADERS = {
    "polars_npz.load": "from polars_npz import load",
    "np.load": "from numpy import load",
}

CHILD = """
import json, time
import numpy as np
import polars_npz
{import_load}
def hwm():  # this process's peak RSS in KiB (ru_maxrss would include the parent's, from fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
start = time.perf_counter()
with load({path!r}, mmap_mode="r") as z:
    rows = np.array(z["x"][:10])
seconds = time.perf_counter() - start
peak = hwm()
assert rows.tolist() == [i * 0.25 for i in range(10)]
print(json.dumps({{"seconds": seconds, "peak_mib": (peak - base) / 1024}}))
"""


def make(directory: Path, mb: int) -> dict[str, Path]:
    import numpy as np
    from polars_npz import write_npz

    directory.mkdir(parents=True, exist_ok=True)
    paths = {"stored (np.savez)": directory / "stored.npz", "deflated (np.savez_compressed)": directory / "deflated.npz"}
    paths["deflated in blocks (write_npz)"] = directory / "blocks.npz"
    if all(p.exists() for p in paths.values()):
        return paths
    x = np.arange(mb * (1 << 20) // 8, dtype=np.float64) * 0.25
    np.savez(paths["stored (np.savez)"], x=x)
    np.savez_compressed(paths["deflated (np.savez_compressed)"], x=x)
    write_npz({"x": x}, paths["deflated in blocks (write_npz)"], compress=True)
    return paths


def run(loader: str, path: Path) -> dict[str, float]:
    code = textwrap.dedent(CHILD.format(import_load=LOADERS[loader], path=str(path)))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/polars-npz-load"))
    args = ap.parse_args()
    paths = make(args.dir, args.mb)
    print(f"x[:10] of a {args.mb} MiB float64 member, median of {args.runs} fresh processes (warm page cache)\n")
    print("| archive | loader | time (ms) | peak RSS added (MiB) |\n|---|---|---:|---:|")
    for case, path in paths.items():
        for loader in LOADERS:
            results = [run(loader, path) for _ in range(args.runs)]
            seconds = statistics.median(r["seconds"] for r in results)
            peak = statistics.median(r["peak_mib"] for r in results)
            print(f"| {case} | {loader} | {seconds * 1000:.1f} | {peak:.1f} |", flush=True)


if __name__ == "__main__":
    main()
