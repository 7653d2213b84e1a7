"""Archives we did not write: the statistics of a column's blocks of rows (min, max, null and
NaN counts) learned while a read decodes all of a deflated member that has none, so that later
filters skip blocks and files as they do in archives written with statistics."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest
from conftest import has_multi_file_scan, needs_polars2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars_npz import npz_members, read_npz, scan_npz
from polars_npz._internal import clear_learned, inflated_bytes, learned_bytes
from test_statistics import _KINDS, _column, _predicate

ROWS = 4 << 20  # 32 MiB of float64: seek points are learned too


@pytest.fixture(autouse=True)
def fresh():
    clear_learned()
    yield
    clear_learned()


def inflated(fn):
    before = inflated_bytes()
    out = fn()
    return out, inflated_bytes() - before


def learned_statistics(path) -> dict[str, int | None]:
    m = npz_members(path)
    return dict(zip(m["name"].to_list(), m["learned_statistics"].to_list(), strict=True))


@pytest.fixture
def sorted_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("POLARS_NPZ_LEARN_WHOLE_MIN", str(8 << 20))
    rng = np.random.default_rng(7)
    arrays = {"x": np.sort(rng.random(ROWS)), "y": rng.random(ROWS)}
    path = tmp_path / "numpy.npz"
    np.savez_compressed(path, **arrays)
    return path, pl.DataFrame(arrays)


def test_a_full_read_learns_statistics(sorted_archive):
    path, df = sorted_archive
    assert learned_statistics(path) == {"x": None, "y": None}
    if has_multi_file_scan():
        # A read of part of a column learns nothing (Polars 1.x hands a scan no slice: it
        # reads every row, and learns).
        scan_npz(path).head(10).collect()
        scan_npz(path).slice(1000, 10).collect()
        assert learned_statistics(path) == {"x": None, "y": None}
    assert_frame_equal(read_npz(path), df)
    blocks = learned_statistics(path)
    # A block per MiB of values (32), more where the read's batches end inside one.
    assert all(n is not None and 32 <= n <= 128 for n in blocks.values()), blocks
    m = npz_members(path)
    assert m["statistics"].to_list() == [False, False]  # none written in the archive
    # Points and statistics: under 2 % of the members' size.
    assert 0 < learned_bytes() <= 0.02 * m["size"].sum()


@needs_polars2  # Polars 1.x hands an IO source no slice: it reads every row
def test_a_selective_filter_reads_only_the_blocks_it_may_match(sorted_archive):
    path, df = sorted_archive
    q = pl.col("x").is_between(0.5, 0.51)
    first, before = inflated(lambda: scan_npz(path).filter(q).collect())
    assert_frame_equal(first, df.filter(q))
    assert before >= df.estimated_size()  # all of both columns
    got, after = inflated(lambda: scan_npz(path).filter(q).collect())
    assert_frame_equal(got, df.filter(q))
    # The spans (of about 4 MiB between seek points) holding the blocks that may match, two or
    # three a column, not the members (eight spans each).
    assert after <= 2 * 3 * (5 << 20) and after < before / 2, (after, before)
    # Turned off, or with a filter no block can rule out, everything is read again.
    got, n = inflated(lambda: scan_npz(path, use_statistics=False).filter(q).collect())
    assert_frame_equal(got, df.filter(q))
    assert n >= df.estimated_size()
    everything = pl.col("x") >= 0.0
    got, n = inflated(lambda: scan_npz(path).filter(everything).collect())
    assert_frame_equal(got, df)


@needs_polars2
def test_a_scan_made_before_learning_uses_what_was_learned_since(sorted_archive):
    """Whether filters are handed to the readers is decided at each query, so the same
    LazyFrame skips blocks by statistics its own first query learned."""
    path, df = sorted_archive
    lf = scan_npz(path)
    q = pl.col("x").is_between(0.5, 0.51)
    first, before = inflated(lambda: lf.filter(q).collect())
    got, after = inflated(lambda: lf.filter(q).collect())
    assert_frame_equal(first, df.filter(q))
    assert_frame_equal(got, df.filter(q))
    assert after < before / 2, (after, before)


@needs_polars2
def test_files_ruled_out_are_not_read(tmp_path):
    """A dataset of numpy's files: after a first full read, a filter matching one file reads
    that file only."""
    files = []
    for k in range(8):
        path = tmp_path / f"part{k}.npz"
        np.savez_compressed(path, t=np.arange(k * 100_000, (k + 1) * 100_000), v=np.full(100_000, float(k)))
        files.append(path)
    df = scan_npz(files, use_statistics=False).collect()
    clear_learned()
    q = pl.col("t").is_between(350_000, 350_010)
    _, before = inflated(lambda: scan_npz(files).filter(q).collect())  # reads all: learns
    got, after = inflated(lambda: scan_npz(files).filter(q).collect())
    assert_frame_equal(got, df.filter(q))
    # The one file that may match (of eight), both its members.
    one = npz_members(files[3])["size"].sum()
    assert before >= 8 * one and after <= one, (after, before)
    assert_frame_equal(scan_npz(tmp_path).filter(pl.col("v") == 7.0).collect(), df.filter(pl.col("v") == 7.0))


def test_stale_statistics_are_never_used(tmp_path):
    """The archive rewritten (other values, same size, even the same modification time): the
    statistics learned of the old bytes are not used for the new ones."""
    path = tmp_path / "a.npz"
    old = np.arange(200_000, dtype=np.int64)
    np.savez_compressed(path, x=old)
    read_npz(path)
    assert learned_statistics(path)["x"] is not None
    st = os.stat(path)
    new = old[::-1] + 1_000_000
    np.savez_compressed(path, x=new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert learned_statistics(path)["x"] is None
    q = pl.col("x") > 1_100_000
    assert_frame_equal(scan_npz(path).filter(q).collect(), pl.DataFrame({"x": new}).filter(q))


def test_stored_members_and_other_types_learn_nothing(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=np.arange(100_000.0))
    read_npz(path)
    assert learned_statistics(path) == {"x": None}
    path = tmp_path / "c.npz"
    np.savez_compressed(path, s=np.array(["a", "b"] * 500), m=np.zeros((1000, 3)), h=np.zeros(1000, np.float16))
    read_npz(path)
    assert learned_statistics(path) == {"s": None, "m": None, "h": None}


@given(data=st.data(), kind=st.sampled_from(_KINDS), batch=st.integers(1, 64))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_learned_statistics_never_change_a_result(tmp_path_factory, data, kind, batch):
    root = tmp_path_factory.mktemp("learned")
    # numpy's archives of 1 to 3 files, each with a column `x` of one type and the row number `y`.
    columns = data.draw(st.lists(_column(kind), min_size=1, max_size=3))
    files = []
    for k, values in enumerate(columns):
        files.append(root / f"np{k}.npz")
        np.savez_compressed(files[-1], x=values, y=np.arange(len(values)))
    plain = scan_npz(files, use_statistics=False).collect()
    # The first full read learns; read in small batches, its blocks end where the batches do.
    if hasattr(pl.LazyFrame, "collect_batches"):
        batches = list(scan_npz(files).collect_batches(chunk_size=batch))
        first = pl.concat(batches, how="vertical") if batches else plain.clear()
    else:
        first = scan_npz(files).collect()
    assert_frame_equal(first, plain)
    if len(columns[0]) > 0:
        assert learned_statistics(files[0])["x"] is not None
    pred = data.draw(_predicate(plain.schema["x"]))
    try:
        want = plain.filter(pred)
    except pl.exceptions.PolarsError:
        return  # this Polars cannot evaluate the predicate on these values
    assert_frame_equal(scan_npz(files).filter(pred).collect(), want)
    assert_frame_equal(scan_npz(files[0]).filter(pred).collect(), plain.slice(0, len(columns[0])).filter(pred))
    k = data.draw(st.integers(0, len(plain)))
    assert_frame_equal(scan_npz(files).head(k).filter(pred).collect(), plain.head(k).filter(pred))
    assert_frame_equal(scan_npz(files, n_rows=k).filter(pred).collect(), plain.head(k).filter(pred))
