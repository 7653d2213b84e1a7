"""Archives we did not write (numpy's: one deflate stream a member, no index): seek points
learned on the first full read of a large member, kept for the process."""

from __future__ import annotations

import os
import time

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from polars.testing import assert_frame_equal
from polars_npz import npz_members, read_npz, scan_npz
from polars_npz._internal import clear_learned, inflated_bytes, learned_bytes
from rangeserver import RangeServer

ROWS = 4 << 20  # 32 MiB of float64


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(1)
    return {"x": np.round(rng.normal(20.0, 5.0, ROWS), 2), "ts": np.arange(ROWS, dtype=np.int64) * 3}


@pytest.fixture
def archive(tmp_path, arrays, monkeypatch):
    # Whole reads learn members from 64 MiB on by default; these are 32 MiB.
    monkeypatch.setenv("POLARS_NPZ_LEARN_WHOLE_MIN", str(8 << 20))
    path = tmp_path / "numpy.npz"
    np.savez_compressed(path, **arrays)
    clear_learned()
    yield path
    clear_learned()


def inflated(fn):
    before = inflated_bytes()
    out = fn()
    return out, inflated_bytes() - before


def test_first_full_read_learns_points(archive, arrays):
    members = npz_members(archive)
    assert members["learned"].to_list() == [None, None]
    df, n = inflated(lambda: read_npz(archive))
    assert n >= 2 * 8 * ROWS
    np.testing.assert_array_equal(df["x"].to_numpy(), arrays["x"])
    members = npz_members(archive)
    spans = members["learned"].to_list()
    assert all(s is not None and s >= 7 for s in spans), spans
    # Points hold their windows only: under 2 % of the members' size.
    assert 0 < learned_bytes() <= 0.02 * members["size"].sum()
    # A second full read equals the first (spans in parallel, each checked).
    assert_frame_equal(read_npz(archive), df)


@needs_polars2  # Polars 1.x hands an IO source no slice: it reads every row
def test_reads_after_learning_start_at_a_point(archive, arrays):
    lf = scan_npz(archive)
    _, first = inflated(lambda: lf.select("x").tail(1000).collect())
    assert first >= 8 * ROWS  # from the start: nothing learned yet
    lf.collect()  # a full read (streamed in batches) learns both members
    assert all(s is not None for s in npz_members(archive)["learned"].to_list())
    span = 5 << 20
    for query, want in [
        (lambda: lf.tail(1000).collect(), lambda df: df.tail(1000)),
        (lambda: lf.slice(2_500_000, 10_000).collect(), lambda df: df.slice(2_500_000, 10_000)),
        (lambda: lf.head(10).collect(), lambda df: df.head(10)),
    ]:
        got, n = inflated(query)
        full = pl.DataFrame(arrays)
        assert_frame_equal(got, want(full))
        # One span or two per column, not the member up to the rows read.
        assert n <= 2 * 2 * span, n
    got = pl.concat(lf.collect_batches(chunk_size=333_333))
    assert_frame_equal(got, pl.DataFrame(arrays))


def test_changed_file_is_read_without_stale_points(archive, arrays):
    read_npz(archive)
    assert npz_members(archive)["learned"].to_list()[0] is not None
    time.sleep(0.01)
    other = {k: v[::-1].copy() for k, v in arrays.items()}
    np.savez_compressed(archive, **other)
    # Same size, new time: the old points are not used (and the new file's are learned anew).
    assert npz_members(archive)["learned"].to_list() == [None, None]
    df = scan_npz(archive).tail(1000).collect()
    assert_frame_equal(df, pl.DataFrame(other).tail(1000))
    assert_frame_equal(read_npz(archive), pl.DataFrame(other))
    assert_frame_equal(scan_npz(archive).slice(123_456, 1000).collect(), pl.DataFrame(other).slice(123_456, 1000))


def test_same_size_same_time_other_bytes_is_not_trusted(archive, arrays):
    """An archive rewritten with the same size and modification time: the member's CRC-32 is
    part of the key, so its points are not used either."""
    read_npz(archive)
    st = os.stat(archive)
    other = dict(arrays)
    other["x"] = arrays["x"] + 1.0
    np.savez_compressed(archive, **other)
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert_frame_equal(scan_npz(archive).tail(10).collect(), pl.DataFrame(other).tail(10))


def test_small_members_are_not_learned(tmp_path):
    path = tmp_path / "small.npz"
    np.savez_compressed(path, x=np.arange(100_000.0))
    read_npz(path)
    assert npz_members(path)["learned"].to_list() == [None]


@needs_polars2
def test_remote_reads_only_the_spans_needed(tmp_path, arrays, monkeypatch):
    monkeypatch.setenv("POLARS_NPZ_LEARN_WHOLE_MIN", str(8 << 20))
    np.savez_compressed(tmp_path / "r.npz", **arrays)
    clear_learned()
    with RangeServer(tmp_path) as server:
        url = server.url("r.npz")
        assert_frame_equal(read_npz(url), pl.DataFrame(arrays))
        assert npz_members(url)["learned"].to_list()[0] is not None
        server.reset()
        got = scan_npz(url).select("x").tail(1000).collect()
        assert_frame_equal(got, pl.DataFrame(arrays).select("x").tail(1000))
        size = (tmp_path / "r.npz").stat().st_size
        assert server.bytes_sent < size / 4, (server.bytes_sent, size)
    clear_learned()
