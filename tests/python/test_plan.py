"""One plan per scan: each archive's zip index and headers are read once and reused by every
reader of the scan; a single archive is a dataset of one (counted from its headers, its tail
and slices read from the rows they need); errors carry their kind, file and member."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from polars.testing import assert_frame_equal
from polars_npz import NpzError, scan_npz, write_npz
from polars_npz._internal import Plan


def garble_index(path: Path) -> None:
    """Overwrite the zip's central directory in place, keeping the file's length and
    modification time: a reader that reads the index again fails, one that reuses it does not."""
    with zipfile.ZipFile(path) as zf:
        start = min(i.header_offset for i in zf.infolist())
        data_end = max(i.header_offset + 30 + len(i.filename) + i.compress_size + 64 for i in zf.infolist())
    st = os.stat(path)
    size = st.st_size
    with open(path, "r+b") as f:
        f.seek(size - 22)
        tail = f.read(22)
        assert tail[:4] == b"PK\x05\x06"
        cd_offset = int.from_bytes(tail[16:20], "little")
        assert cd_offset >= start
        f.seek(cd_offset)
        f.write(b"\x00" * (size - cd_offset))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert data_end > 0
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path)


def shards(tmp_path: Path, n: int = 6, rows: int = 50) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"s{i}.npz"
        np.savez(p, x=np.arange(rows, dtype=np.int64) + 1000 * i, y=np.linspace(0, 1, rows) + i)
        out.append(p)
    return out


@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_index_read_once_per_scan(tmp_path, engine):
    """The scan reads every index and header (to count rows); collecting reuses them. Proven by
    garbling every file's central directory between scan and collect."""
    files = shards(tmp_path)
    expected = pl.concat([pl.DataFrame(dict(np.load(f))) for f in files])
    lf = scan_npz(tmp_path / "*.npz")
    for f in files:
        garble_index(f)
    assert_frame_equal(lf.collect(engine=engine), expected)
    assert_frame_equal(lf.select(pl.col("y").sum()).collect(engine=engine), expected.select(pl.col("y").sum()))
    # A new scan reads the (now broken) index again and says which file.
    with pytest.raises(NpzError, match="s0.npz"):
        scan_npz(tmp_path / "*.npz").collect()


@needs_polars2  # Polars 1.x: every file is opened when scanned, and read as it was then
def test_changed_file_is_refused_naming_it(tmp_path):
    files = shards(tmp_path, n=2)
    lf = scan_npz(tmp_path)
    np.savez(files[1], x=np.arange(70), y=np.arange(70.0))
    with pytest.raises(NpzError, match=r"s1\.npz.*changed") as e:
        lf.collect()
    assert e.value.kind == "request"
    assert e.value.path.endswith("s1.npz")


def test_plan_counts_groups_and_reopens(tmp_path):
    files = shards(tmp_path, n=5, rows=7)
    plan = Plan([str(f) for f in files])
    assert len(plan) == 5
    assert plan.counts() is None  # nothing read yet
    plan.index([1, 3])
    assert plan.counts() is None
    plan.index()
    counts = plan.counts()
    assert counts is not None
    assert [r for r, _ in counts] == [7] * 5
    assert plan.groups(2, 1 << 30) == [(0, 2), (2, 4), (4, 5)]
    archives = plan.open([4, 0])
    assert archives[0].height() == 7
    assert [a.mapping_range() is not None for a in archives] == [True, True]
    with pytest.raises(IndexError):
        plan.open([5])


def test_plan_error_names_file_and_keeps_the_rest(tmp_path):
    files = shards(tmp_path, n=3)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    plan = Plan([str(files[0]), str(bad), str(files[2])])
    with pytest.raises(NpzError, match="bad.npz") as e:
        plan.index()
    assert e.value.path == str(bad)
    assert e.value.kind == "corrupt"
    assert plan.indexed(2).height() == 50
    with pytest.raises(FileNotFoundError):
        Plan([str(tmp_path / "missing.npz")]).index()


@needs_polars2
@pytest.mark.parametrize("compressed", [False, True])
def test_single_archive_is_a_dataset_of_one(tmp_path, compressed):
    """len() from the headers (no member read: the members' data is garbled), tail, slice and
    row indexes equal Polars' own answers on the same frame."""
    path = tmp_path / "one.npz"
    n = 10_000
    arrays = {"a": np.arange(n, dtype=np.int64), "b": np.arange(n, dtype=np.float32) / 3}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    expected = pl.DataFrame(arrays)
    lf = scan_npz(path)
    for q in [
        lambda f: f.tail(7),
        lambda f: f.slice(4_321, 25),
        lambda f: f.with_row_index("i", offset=3).slice(9_990, 100),
        lambda f: f.select("b").tail(1),
        lambda f: f.head(3),
    ]:
        assert_frame_equal(q(lf).collect(), q(expected.lazy()).collect())
    assert "npz" in lf.explain()
    # The count comes from the headers: with every member's data past its header zeroed,
    # len() still answers (a read of the data would fail or differ).
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    with open(path, "r+b") as f:
        for info in infos:
            f.seek(info.header_offset + 26)
            name_len = int.from_bytes(f.read(2), "little")
            extra_len = int.from_bytes(f.read(2), "little")
            start = info.header_offset + 30 + name_len + extra_len
            skip = 200 if compressed else 128  # past the .npy header (deflated: its first block)
            f.seek(start + skip)
            f.write(b"\x00" * max(0, info.compress_size - skip))
    assert scan_npz(path).select(pl.len()).collect().item() == n


def test_errors_carry_kind_path_and_member(tmp_path):
    path = tmp_path / "big_header.npz"
    np.savez(path, x=np.zeros(3, dtype=[(f"f{i}", "<i4") for i in range(400)]))
    with pytest.raises(NpzError, match="max_header_size") as e:
        scan_npz(path, max_header_size=1000)
    assert (e.value.kind, e.value.path, e.value.member) == ("limit", str(path), "x.npy")
    write_npz(pl.DataFrame({"x": [1]}), tmp_path / "a.npz")
    write_npz(pl.DataFrame({"x": [1.0]}), tmp_path / "b.npz")
    with pytest.raises(NpzError, match="b.npz") as e:
        scan_npz(tmp_path / "[ab].npz").collect()
    assert (e.value.kind, e.value.path, e.value.member) == ("request", str(tmp_path / "b.npz"), None)
