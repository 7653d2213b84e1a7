"""align_npz: archives numpy loads unchanged, whose stored members all map without a copy."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import numpy as np
import polars as pl
import pytest
from conftest import array_data_offset
from polars_npz import NpzError, align_npz, npz_members, read_npz, scan_npz
from polars_npz._internal import Archive


def arrays(n: int = 1000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "a": rng.random(n),
        "bb": np.arange(n, dtype=">i4"),
        "ccc": rng.random((n, 3)).astype(np.float32),
        "flag": rng.random(n) > 0.5,
        "when": np.arange(n).astype("M8[ns]"),
        "s": np.array([f"r{i}" for i in range(n)]),
        "scalar": np.float64(2.5),
    }


@pytest.mark.parametrize("align", [8, 64, 4096])
def test_aligns_stored_members_and_keeps_values(tmp_path, align):
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    data = arrays()
    np.savez(src, **data)
    align_npz(src, dst, align=align)
    ref = np.load(src)
    got = np.load(dst)
    assert got.files == ref.files
    for k in ref.files:
        np.testing.assert_array_equal(got[k], ref[k], strict=True)
    with zipfile.ZipFile(dst) as zf:
        assert zf.testzip() is None
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert array_data_offset(dst, info.filename) % align == 0, info.filename
    assert read_npz(dst).equals(read_npz(src))
    m = npz_members(dst)
    native_numeric = {"a", "ccc", "when", "scalar"}
    assert set(m.filter(pl.col("zero_copy"))["name"]) == native_numeric


def test_zero_copy_after_aligning(tmp_path):
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    names = ["x", "yy", "zzz", "wwww"]
    np.savez(src, **{n: np.arange(10_000, dtype=np.float64) * i for i, n in enumerate(names)})
    assert not npz_members(src)["zero_copy"].all()
    align_npz(src, dst)
    assert npz_members(dst)["zero_copy"].all()
    archive = Archive(str(dst))
    lo, size = archive.mapping_range()
    for col in archive.batches(names).next():
        addr = pl.Series(col).to_numpy(allow_copy=False).ctypes.data
        assert lo <= addr < lo + size


def file_mappings(path) -> list[tuple[int, int]]:
    """Address ranges at which this process maps `path` (from /proc/self/maps)."""
    target = str(os.path.realpath(path))
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip() == target:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((lo, hi))
    return ranges


@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_collected_columns_point_into_the_mapped_file(tmp_path, engine):
    # Through Polars' engines, a collected aligned column is one contiguous buffer inside the
    # mapping of the archive itself, so numpy gets it without a copy too.
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    n = 300_000  # several of Polars' default 100,000-row batches
    arrays = {"x": np.arange(n, dtype=np.float64), "yy": np.arange(n, dtype=np.int32)}
    np.savez(src, **arrays)
    align_npz(src, dst)
    df = scan_npz(dst).collect(engine=engine)
    ranges = file_mappings(dst)
    assert ranges
    for name, a in arrays.items():
        assert df[name].n_chunks() == 1
        view = df[name].to_numpy(allow_copy=False)
        addr = view.ctypes.data
        assert any(lo <= addr < hi for lo, hi in ranges), (name, hex(addr), ranges)
        np.testing.assert_array_equal(view, a)


@pytest.mark.parametrize("decompress", [False, True])
def test_deflated_members(tmp_path, decompress):
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    np.savez_compressed(src, **arrays())
    align_npz(src, dst, decompress=decompress)
    ref = np.load(src)
    got = np.load(dst)
    for k in ref.files:
        np.testing.assert_array_equal(got[k], ref[k], strict=True)
    with zipfile.ZipFile(dst) as zf:
        methods = {i.compress_type for i in zf.infolist()}
    assert methods == ({zipfile.ZIP_STORED} if decompress else {zipfile.ZIP_DEFLATED})
    if decompress:
        for k in ref.files:
            assert array_data_offset(dst, k + ".npy") % 64 == 0
    assert scan_npz(dst).collect().equals(read_npz(src))


def test_failure_leaves_no_file(tmp_path):
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    np.savez_compressed(src, a=np.arange(100_000))
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo("a.npy")
    mid = info.header_offset + 100 + info.compress_size // 2
    raw[mid : mid + 32] = bytes(32)
    src.write_bytes(bytes(raw))
    with pytest.raises(NpzError, match=r"a\.npy"):
        align_npz(src, dst, decompress=True)
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src.npz"]
    with pytest.raises(NpzError, match="power of two"):
        align_npz(src, dst, align=48)


def test_cli_align(tmp_path):
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    np.savez(src, a=np.arange(10.0), bb=np.arange(10.0))
    r = subprocess.run([sys.executable, "-m", "polars_npz", "align", str(src), str(dst)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert npz_members(dst)["zero_copy"].all()
    r = subprocess.run([sys.executable, "-m", "polars_npz", "align", "--help"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "aligned" in r.stdout
