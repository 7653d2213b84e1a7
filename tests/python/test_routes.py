"""Every road to an archive's rows gives the same frame: the scan of a path (Polars' multi-file
scan on Polars 2), of bytes and of a file object (an IO source), read_npz, the Arrow stream,
batches of the streaming engine, a dataset of the same file twice (its files read in one call),
and the distributed readers' task; over the type table (test_dtypes' strategies) and each way an
archive's members are laid out: stored (numpy), one deflate stream (numpy), deflated in blocks
and stored aligned (this package)."""

from __future__ import annotations

import io

import numpy as np
import polars as pl
from conftest import has_multi_file_scan
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars_npz import NpzError, align_npz, npz_stream, read_npz, scan_npz, write_npz
from polars_npz._tasks import make_plan, read_task
from test_dtypes import base_dtypes, make_values, record_dtypes, with_order

LAYOUTS = ["savez", "savez_compressed", "blocks", "aligned"]


def same(got: pl.DataFrame, want: pl.DataFrame, route: str) -> None:
    try:
        assert_frame_equal(got, want)
    except AssertionError as e:
        raise AssertionError(f"{route}: {e}") from None


def write(path, arrays: dict[str, np.ndarray], layout: str, block_rows: int) -> bool:
    """The archive in `layout`; False when this package does not write these arrays."""
    if layout in ("savez", "savez_compressed"):
        getattr(np, layout)(path, **arrays)
        return True
    np.savez(path.with_suffix(".src.npz"), **arrays)
    try:
        if layout == "aligned":
            align_npz(path.with_suffix(".src.npz"), path)
        else:
            write_npz(read_npz(path.with_suffix(".src.npz")), path, compress=True, block_rows=block_rows)
    except (NpzError, TypeError, ValueError, pl.exceptions.PolarsError):
        return False
    return True


@seed(20261202)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    dt=st.one_of(base_dtypes(), base_dtypes(), record_dtypes()),
    order=st.sampled_from(["<", ">", "="]),
    rows=st.one_of(st.integers(0, 5), st.integers(0, 3000)),
    trailing=st.lists(st.integers(1, 3), max_size=2),
    fortran=st.booleans(),
    layout=st.sampled_from(LAYOUTS),
    block_rows=st.integers(1, 500),
    batch=st.integers(1, 700),
    data_seed=st.integers(0, 2**32 - 1),
)
def test_every_route_gives_the_same_frame(tmp_path_factory, dt, order, rows, trailing, fortran, layout, block_rows, batch, data_seed):
    rng = np.random.default_rng(data_seed)
    x = make_values(dt, (rows, *trailing), rng)
    x = x.astype(with_order(x.dtype, order))
    if fortran:
        x = np.asfortranarray(x)
    arrays = {"x": x, "i": np.arange(rows, dtype=np.int64)}
    path = tmp_path_factory.mktemp("routes") / "t.npz"
    if not write(path, arrays, layout, block_rows):
        event(f"{layout}: not written")
        return
    try:
        want = scan_npz(path).collect()
    except (NpzError, pl.exceptions.PolarsError):
        event(f"{layout}: refused")
        return  # a type this package refuses: refused alike on every road (test_dtypes)
    event(f"{layout}: compared")
    routes = {
        "read_npz": lambda: read_npz(path),
        "bytes": lambda: scan_npz(path.read_bytes()).collect(),
        "file object": lambda: scan_npz(io.BytesIO(path.read_bytes())).collect(),
        "streaming engine": lambda: scan_npz(path).collect(engine="streaming"),
        "arrow stream": lambda: pl.DataFrame(npz_stream(path, batch_rows=batch)),
        "task": lambda: read_task(*(lambda p: (p.files, None, p.options, None, None))(make_plan(str(path), None, {}))),
    }
    if has_multi_file_scan():
        routes["batches"] = lambda: pl.concat(list(scan_npz(path).collect_batches(chunk_size=batch)) or [want.clear()], how="vertical")
    for name, route in routes.items():
        got = route()
        same(got, want, name)
    twice = scan_npz([path, path]).collect()
    same(twice, pl.concat([want, want], how="vertical"), "a dataset of the file twice")
    if rows > 3:
        k = int(rng.integers(1, rows))
        same(scan_npz(path).slice(k, 3).collect(), want.slice(k, 3), "slice")
        same(scan_npz(path.read_bytes()).slice(k, 3).collect(), want.slice(k, 3), "slice of bytes")
        same(scan_npz(path).tail(2).collect(), want.tail(2), "tail")
