"""Beyond one machine, on one machine: the 400-shard dataset of compare_datasets.py read by
Ray Data and by Dask through polars_npz, against each framework's way of reading numpy data
without it: ``ray.data.read_numpy`` over the same shards saved as ``.npy`` files (one per
shard, the four columns stacked as a (rows, 4) array), and ``dd.from_map`` over ``np.load``
of the same ``.npz`` shards (projection included: ``np.load`` opens only the members asked for).

Ray runs locally with 2 CPUs; Dask on a local cluster of 2 worker processes of one thread
each. Each round runs every reader of a task once, in a shuffled order, after one warm-up
round; medians of the rounds are printed as a Markdown table (and written as JSON with --out).

    python benches/compare_cluster.py [--shards 400] [--rows 20000] [--runs 3] [--dir /tmp/polars-npz-ds]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compare_datasets import COLUMNS, files, make

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import dask.dataframe as dd
import distributed
import pandas as pd
import polars_npz.dask as npz_dask
import polars_npz.ray as npz_ray
import ray
import ray.data
from polars_npz._tasks import groups_by_size


def make_npy(root: Path, stored: Path) -> Path:
    """Each stored shard again as one .npy of shape (rows, 4)."""
    out = root / "npy"
    marker = out / ".done"
    if marker.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(files(stored, ".npz")):
        with np.load(p) as z:
            np.save(out / f"shard-{i:04d}.npy", np.stack([z[c] for c in COLUMNS], axis=1))
    marker.touch()
    return out


def np_load_frame(paths: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """The Dask baseline's reader: np.load of a run of shards, only `columns`."""
    frames = []
    for path in paths:
        with np.load(path) as z:
            frames.append(pd.DataFrame({c: z[c] for c in (COLUMNS if columns is None else columns)}))
    return pd.concat(frames, ignore_index=True)


def dask_np_load(paths: list[Path], groups: list[tuple[int, int]]) -> dd.DataFrame:
    meta = pd.DataFrame({c: np.empty(0) for c in COLUMNS})
    return dd.from_map(np_load_frame, [[str(p) for p in paths[a:b]] for a, b in groups], meta=meta)


# Each reader of a framework: (name, partitioning, how to build its collection).
Reader = tuple[str, str, Callable[..., object]]


def ray_readers(dirs: dict[str, Path], npy: Path) -> list[Reader]:
    stored, deflated = dirs["stored"], dirs["deflated"]

    def ours(d: Path, blocks: int | None) -> Callable[..., object]:
        return lambda **kw: npz_ray.read_npz(d, hive_partitioning=False, override_num_blocks=blocks, **kw)

    def numpy(blocks: int | None) -> Callable[..., object]:
        def read(columns: list[str] | None = None) -> object:
            ds = ray.data.read_numpy(str(npy), override_num_blocks=blocks)
            if columns is not None:  # the stacked array is read whole, then sliced
                ds = ds.map_batches(lambda b: {"a": b["data"][:, 0]})
            return ds

        return read

    out: list[Reader] = []
    for blocks, label in ((None, "Ray's default"), (8, "override_num_blocks=8")):
        out += [
            ("polars_npz.ray, stored .npz", label, ours(stored, blocks)),
            ("polars_npz.ray, deflated .npz", label, ours(deflated, blocks)),
            ("ray.data.read_numpy, .npy", label, numpy(blocks)),
        ]
    return out


def ray_tasks(readers: list[Reader]) -> dict[str, dict[str, Callable[[], object]]]:
    tasks: dict[str, dict[str, Callable[[], object]]] = {"all columns": {}, "one column": {}, "count": {}}
    for name, part, read in readers:
        key = f"{name} | {part}"
        tasks["all columns"][key] = lambda read=read: read().materialize()
        tasks["one column"][key] = lambda read=read: read(columns=["a"]).materialize()
        tasks["count"][key] = lambda read=read: read().count()
    return tasks


def dask_readers(dirs: dict[str, Path]) -> list[Reader]:
    s_files, d_files = files(dirs["stored"], ".npz"), files(dirs["deflated"], ".npz")
    # The same runs of files for both readers: ours by default, 64 MiB on disk.
    s_runs = groups_by_size([p.stat().st_size for p in s_files], 64 * 2**20)
    d_runs = groups_by_size([p.stat().st_size for p in d_files], 64 * 2**20)
    one_each = [(i, i + 1) for i in range(len(s_files))]
    grouped = f"64 MiB runs of files (default): {len(s_runs)} stored, {len(d_runs)} deflated"
    single = f"one per file ({len(one_each)})"
    return [
        ("polars_npz.dask, stored .npz", grouped, lambda: npz_dask.read_npz(s_files)),
        ("polars_npz.dask, deflated .npz", grouped, lambda: npz_dask.read_npz(d_files)),
        ("from_map(np.load), stored .npz", grouped, lambda: dask_np_load(s_files, s_runs)),
        ("from_map(np.load), deflated .npz", grouped, lambda: dask_np_load(d_files, d_runs)),
        ("polars_npz.dask, stored .npz", single, lambda: npz_dask.read_npz(s_files, blocksize=None)),
        ("from_map(np.load), stored .npz", single, lambda: dask_np_load(s_files, one_each)),
    ]


def dask_tasks(readers: list[Reader], client: distributed.Client) -> dict[str, dict[str, Callable[[], object]]]:
    tasks: dict[str, dict[str, Callable[[], object]]] = {"all columns": {}, "one column": {}}
    for name, part, read in readers:
        key = f"{name} | {part}"
        tasks["all columns"][key] = lambda read=read: client.compute(read().sum()).result()
        tasks["one column"][key] = lambda read=read: client.compute(read()["a"].sum()).result()
    return tasks


def measure(tasks: dict[str, dict[str, Callable[[], object]]], runs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for task, readers in tasks.items():
        times: dict[str, list[float]] = {r: [] for r in readers}
        for round_ in range(runs + 1):  # round 0 warms up (worker processes, imports, page cache)
            order = list(readers.items())
            random.shuffle(order)
            for name, fn in order:
                t = time.perf_counter()
                out = fn()
                elapsed = time.perf_counter() - t
                del out
                if round_:
                    times[name].append(elapsed)
        results[task] = {r: statistics.median(v) for r, v in times.items()}
        print(task, {r: f"{v * 1e3:.0f} ms" for r, v in results[task].items()}, flush=True)
    return results


def check(dirs: dict[str, Path], npy: Path, client: distributed.Client, rows: int) -> None:
    """Same answers first."""
    s_files = files(dirs["stored"], ".npz")
    ours = client.compute(npz_dask.read_npz(s_files).sum()).result()
    base = client.compute(dask_np_load(files(dirs["deflated"], ".npz"), [(0, len(s_files))]).sum()).result()
    np.testing.assert_allclose(ours.to_numpy(), base.to_numpy())
    a = npz_ray.read_npz(dirs["deflated"], columns=["a"]).sum("a")
    b = ray.data.read_numpy(str(npy)).map_batches(lambda x: {"a": x["data"][:, 0]}).sum("a")
    np.testing.assert_allclose(a, b)
    assert npz_ray.read_npz(dirs["stored"]).count() == ray.data.read_numpy(str(npy)).count() == len(s_files) * rows


def table(title: str, results: dict[str, dict[str, float]]) -> str:
    tasks = list(results)
    lines = [f"| {title} | partitions | {' | '.join(tasks)} |", "|---|---|" + "---|" * len(tasks)]
    for key in results[tasks[0]]:
        cells = [f"{results[t][key] * 1e3:,.0f} ms" if key in results[t] else "-" for t in tasks]
        lines.append(f"| {key} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=400)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/polars-npz-ds")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    root = Path(args.dir)
    dirs = make(root, args.shards, args.rows)
    npy = make_npy(root, dirs["stored"])

    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=2 * 1024**3,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            check(dirs, npy, client, args.rows)
            dask_results = measure(dask_tasks(dask_readers(dirs), client), args.runs)
        ray_results = measure(ray_tasks(ray_readers(dirs, npy)), args.runs)
    finally:
        ray.shutdown()

    print(f"\n{args.shards} shards x {args.rows} rows x {len(COLUMNS)} float64, 2 CPUs, medians of {args.runs} rounds\n")
    print(table("Dask (sum)", dask_results))
    print()
    print(table("Ray Data (materialize, count)", ray_results))
    if args.out:
        Path(args.out).write_text(json.dumps({"dask": dask_results, "ray": ray_results}, indent=2))


if __name__ == "__main__":
    main()
