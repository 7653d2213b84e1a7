"""scan_npz against what users can pick today, side by side in one run.

Times each task with every reader, interleaved (each round runs every reader once, in a
shuffled order), and reports medians and ratios (numpy time / reader time). Readers: the numpy path (np.load then
pl.Series / pl.DataFrame(dict(...))), ztensor (memory-maps stored members), spdl
(spdl.io.load_npz, C++ inflate) when installed, and polars-npz. Memory: peak RSS of a streaming
sum over the deflated archive, and anonymous memory added by collecting the aligned archive,
each measured in a fresh process.

    python benches/compare.py [--rows 4000000] [--runs 9] [--out benches/out]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
import datasets
import polars_npz
from polars_npz import npz_members, scan_npz

try:
    import ztensor
except ImportError:
    ztensor = None
try:
    import spdl.io as spdl_io
except ImportError:
    spdl_io = None


def numpy_sum(path, col):
    return pl.Series(np.load(path)[col]).sum()


def numpy_frame(path):
    return pl.DataFrame(dict(np.load(path)))


def numpy_head(path, col):
    return pl.Series(np.load(path)[col][:1000])


def zt_sum(path, col):
    return pl.Series(np.from_dlpack(ztensor.open(str(path)).get(col))).sum()


def zt_frame(path):
    f = ztensor.open(str(path))
    return pl.DataFrame({k: np.from_dlpack(f.get(k)) for k in f.keys()})  # noqa: SIM118 - a safetensors handle, not a dict


def zt_head(path, col):
    return pl.Series(np.from_dlpack(ztensor.open(str(path)).get(col))[:1000])


def spdl_load(path):
    return spdl_io.load_npz(Path(path).read_bytes(), max_uncompressed_bytes=1 << 34)


def spdl_sum(path, col):
    return pl.Series(spdl_load(path)[col]).sum()


def spdl_frame(path):
    d = spdl_load(path)
    return pl.DataFrame({k: d[k] for k in d.keys()})  # noqa: SIM118 - an NpzFile, which iterates its keys only through keys()


def spdl_head(path, col):
    return pl.Series(spdl_load(path)[col][:1000])


def ours_sum(path, col):
    return scan_npz(path).select(pl.col(col).sum()).collect().item()


def ours_frame(path):
    return scan_npz(path).collect()


def ours_head(path, col):
    return scan_npz(path).select(col).head(1000).collect().to_series()


def readers(kind):
    table = {"numpy": {"sum": numpy_sum, "frame": numpy_frame, "head": numpy_head}}
    if ztensor is not None:
        table["ztensor"] = {"sum": zt_sum, "frame": zt_frame, "head": zt_head}
    if spdl_io is not None:
        table["spdl"] = {"sum": spdl_sum, "frame": spdl_frame, "head": spdl_head}
    table["polars-npz"] = {"sum": ours_sum, "frame": ours_frame, "head": ours_head}
    return {name: fns[kind] for name, fns in table.items()}


def bench(tasks, runs):
    results = {}
    for title, kind, path, args in tasks:
        fns = readers(kind)
        times = {name: [] for name in fns}
        ok = {}
        for name, fn in fns.items():  # warm-up, and check every reader gives the same answer
            try:
                ok[name] = fn(path, *args)
            except Exception as e:  # a reader that cannot do the task is reported, not timed
                ok[name] = e
        ref = ok["numpy"]
        for name, val in ok.items():
            if isinstance(val, Exception):
                times.pop(name)
                continue
            if isinstance(val, pl.DataFrame):
                same = val.select(ref.columns).equals(ref)
            elif isinstance(val, pl.Series):
                same = val.equals(ref)
            else:
                same = np.isclose(float(val), float(ref))
            assert same, (title, name)
        # Rounds in a shuffled order (so no reader always follows the same one), at least
        # `runs` of them, and more for quick tasks (until every reader has run for 0.5 s or
        # for 60 rounds), so medians of millisecond tasks are not one noisy sample.
        rng = random.Random(0)
        order = list(times)
        rounds = 0
        while rounds < runs or (rounds < 60 and min(sum(t) for t in times.values()) < 0.5):
            rng.shuffle(order)
            for name in order:
                t0 = time.perf_counter()
                fns[name](path, *args)
                times[name].append(time.perf_counter() - t0)
            rounds += 1
        med = {n: statistics.median(t) for n, t in times.items()}
        results[title] = {"median_s": med, "failed": {n: repr(v)[:80] for n, v in ok.items() if isinstance(v, Exception)}}
        print(f"{title}: " + ", ".join(f"{n} {1000 * s:.1f} ms" for n, s in med.items()), flush=True)
    return results


MEM_SNIPPET = r"""
import sys, polars as pl, numpy as np
from polars_npz import scan_npz
mode, path = sys.argv[1], sys.argv[2]
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'):
            return int(line.split()[1]) * 1024
rss = lambda: status('VmRSS')
anon = lambda: status('RssAnon')
print('BASE', rss())
if mode == 'numpy_stream':
    s = pl.DataFrame(dict(np.load(path))).select(pl.all().sum())
elif mode == 'ours_stream':
    s = scan_npz(path).select(pl.all().sum()).collect(engine='streaming')
elif mode == 'ours_collect_anon':
    scan_npz(path).head(10).collect()  # start Polars' threads and allocator first
    before = anon()
    df = scan_npz(path).collect()
    s = df.select(pl.all().sum())
    print('ANON', anon() - before)
# VmHWM, not ru_maxrss: after fork + exec, ru_maxrss still counts the parent's pages.
print('PEAK', status('VmHWM'))
"""


def memory(paths):
    def run(mode, path):
        out = subprocess.run([sys.executable, "-c", MEM_SNIPPET, mode, str(path)], capture_output=True, text=True, check=True).stdout
        return {k: int(v) for k, v in (line.split() for line in out.splitlines() if line.split()[0] in ("ANON", "PEAK", "BASE"))}

    np_run = run("numpy_stream", paths["deflated"])
    ours_run = run("ours_stream", paths["deflated"])
    numpy_peak = np_run["PEAK"] - np_run["BASE"]
    ours_peak = ours_run["PEAK"] - ours_run["BASE"]
    anon = run("ours_collect_anon", paths["aligned"])["ANON"]
    size = paths["aligned"].stat().st_size
    return {"numpy_peak_rss": numpy_peak, "ours_streaming_peak_rss": ours_peak, "aligned_collect_anon_growth": anon, "aligned_size": size}


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = list(results)
    names = sorted({n for r in results.values() for n in r["median_s"]}, key=["numpy", "ztensor", "spdl", "polars-npz"].index)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        speedups = [results[t]["median_s"]["numpy"] / results[t]["median_s"][name] if name in results[t]["median_s"] else 0 for t in titles]
        ax.bar([x + i * width for x in range(len(titles))], speedups, width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(titles))], titles, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("speed-up over numpy (x, log)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("Reading .npz into Polars: speed-up over np.load (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "polars-npz-bench")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    paths = datasets.make(args.data, args.rows)
    members = npz_members(paths["stored"])
    mis = members.filter(~pl.col("zero_copy"))["name"][0]
    assert npz_members(paths["aligned"])["zero_copy"].all()
    tasks = [
        ("1 misaligned stored column: sum", "sum", paths["stored"], (mis,)),
        ("1 aligned stored column: sum", "sum", paths["aligned"], (mis,)),
        ("all stored columns: frame", "frame", paths["stored"], ()),
        ("all aligned columns: frame", "frame", paths["aligned"], ()),
        ("all deflated columns: frame", "frame", paths["deflated"], ()),
        ("head(1000) of a deflated column", "head", paths["deflated"], (mis,)),
    ]
    print(
        f"{args.rows:,} rows x 8 float64 columns; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"numpy {np.__version__}, polars {pl.__version__}, polars-npz {polars_npz.__version__}",
        flush=True,
    )
    results = bench(tasks, args.runs)
    mem = memory(paths)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"results": results, "memory": mem}, indent=2))
    names = ["numpy", "ztensor", "spdl", "polars-npz"]
    lines = ["| task | " + " | ".join(names) + " | polars-npz vs numpy | vs best peer |", "|---" * (len(names) + 3) + "|"]
    for title, r in results.items():
        med = r["median_s"]
        cells = [f"{1000 * med[n]:.1f} ms" if n in med else "n/a" for n in names]
        peers = [med[n] for n in ("ztensor", "spdl") if n in med]
        vs_peer = f"{min(peers) / med['polars-npz']:.1f}x" if peers else "n/a"
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {med['numpy'] / med['polars-npz']:.1f}x | {vs_peer} |")
    lines.append("")
    lines.append(
        f"Sum of every column of the deflated archive, peak RSS above the interpreter's after imports: "
        f"numpy (`pl.DataFrame(dict(np.load(f)))`) {mem['numpy_peak_rss'] / 2**20:.0f} MiB, "
        f"polars-npz streaming {mem['ours_streaming_peak_rss'] / 2**20:.0f} MiB."
    )
    lines.append(
        f"Anonymous memory added by collecting the aligned stored archive ({mem['aligned_size'] / 2**20:.0f} MiB): "
        f"{mem['aligned_collect_anon_growth'] / 2**20:.1f} MiB ({100 * mem['aligned_collect_anon_growth'] / mem['aligned_size']:.1f}%)."
    )
    table = "\n".join(lines)
    (args.out / "results.md").write_text(table + "\n")
    print(table)
    try:
        chart(results, args.out / "compare.png")
        print(f"chart: {args.out / 'compare.png'}")
    except ImportError:
        print("matplotlib not installed: no chart")


if __name__ == "__main__":
    main()
