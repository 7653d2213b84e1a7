from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars_npz._dataset import has_multi_file_scan

# Polars converts the filters it hands a reader to pyarrow expressions (importing pyarrow's
# compute module and pandas); before that import is paid, a scan hands filters only over large
# data. The suite runs as a process that paid it, whatever order its tests run in, so that
# tests of statistics see filters handed; test_filter_handoff.py checks the rule in fresh
# processes.
for _module in ("pyarrow.compute", "pandas"):
    try:
        __import__(_module)
    except ImportError:
        pass

# Features that need Polars' multi-file scan for external readers (Polars 2.x): hive columns,
# counts from headers, explain names; on Polars 1.x the other paths are tested.
needs_polars2 = pytest.mark.skipif(not has_multi_file_scan(), reason="needs Polars 2 (multi-file scan for external readers)")


def write(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    """Write `arrays` with numpy itself."""
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def array_data_offset(path: Path, member: str) -> int:
    """File offset of a stored member's array data, computed from the zip headers."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        assert local[:4] == b"PK\x03\x04"
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        f.seek(start)
        magic = f.read(10)
        assert magic[:6] == b"\x93NUMPY"
        if magic[6] == 1:
            hlen = 10 + int.from_bytes(magic[8:10], "little")
        else:
            f.seek(start + 8)
            hlen = 12 + int.from_bytes(f.read(4), "little")
    return start + hlen


def assert_matches_numpy(series: pl.Series, expected: np.ndarray) -> None:
    """`series` holds the same values, type and shape as numpy's array (rows = first axis)."""
    got = series.to_numpy()
    native = expected.dtype.newbyteorder("=")
    if expected.ndim == 0:
        expected = expected.reshape(1)
        got = got[:1]
    assert got.dtype == native, (series.name, got.dtype, expected.dtype)
    assert got.shape == expected.shape, (series.name, got.shape, expected.shape)
    np.testing.assert_array_equal(got, expected.astype(native), strict=True)


@pytest.fixture
def tmp_npz(tmp_path: Path):
    counter = iter(range(10**6))

    def make(arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
        return write(tmp_path / f"a{next(counter)}.npz", arrays, compressed)

    return make
