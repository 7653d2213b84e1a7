"""When a scan hands a query's filters to its readers (to skip blocks by their statistics).

Polars converts every filter it hands an external reader to a pyarrow expression, which imports
pyarrow's compute module and pandas: about 200 ms once a process. Filters are handed where
statistics exist and either that import is already paid or the data they could skip is large
(`_HAND_FILTERS_BYTES`). These tests run each query in a fresh process, where nothing is paid
yet; the rest of the suite runs with both modules imported (see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import polars_npz
import pytest
from conftest import needs_polars2
from polars_npz import write_npz
from polars_npz._internal import inflated_bytes

pytest.importorskip("pyarrow")

# Runs a 1% filter and the same query filtered afterwards; prints what the process imported,
# the bytes the scan inflated and whether both results agree.
_QUERY = r"""
import json, sys
import polars as pl
import polars_npz
from polars_npz import _dataset
from polars_npz._internal import inflated_bytes

path, threshold, count_at_scan = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if threshold != "default":
    _dataset._HAND_FILTERS_BYTES = int(threshold)
if not count_at_scan:
    _dataset._COUNT_AT_SCAN_MAX = 0  # as a dataset of more files than are indexed at scan time
lf = polars_npz.scan_npz(path)
before = inflated_bytes()
got = lf.filter(pl.col("x") >= 99_000).select(pl.col("x").sum(), pl.len()).collect()
inflated = inflated_bytes() - before
expected = lf.collect().filter(pl.col("x") >= 99_000).select(pl.col("x").sum(), pl.len())
print(json.dumps({
    "equal": got.equals(expected),
    "inflated": inflated,
    "pyarrow_compute": "pyarrow.compute" in sys.modules,
    "pandas": "pandas" in sys.modules,
}))
"""


def _run(path: Path | str, threshold: str = "default", count_at_scan: bool = True) -> dict[str, object]:
    args = [sys.executable, "-c", _QUERY, str(path), threshold, "1" if count_at_scan else "0"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["equal"], result
    return result


@pytest.fixture(scope="module")
def sorted_blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small deflated archive of sorted values in blocks with statistics (100 blocks)."""
    path = tmp_path_factory.mktemp("handoff") / "sorted.npz"
    write_npz({"x": np.arange(100_000, dtype=np.int64)}, path, compress=True, block_rows=1000)
    return path


@needs_polars2
def test_a_small_archive_keeps_its_filters_and_imports_nothing(sorted_blocks):
    """The first filtered query of a process over a small archive imports neither pyarrow's
    compute module nor pandas: Polars filters every row, and the whole member is inflated."""
    r = _run(sorted_blocks)
    assert r["pyarrow_compute"] is False and r["pandas"] is False, r
    assert r["inflated"] >= 100_000 * 8, r


@needs_polars2
def test_filters_are_handed_where_the_data_repays_the_import(sorted_blocks):
    """Where the data the statistics could skip reaches the threshold, the filter is handed:
    only the matching block is inflated (Polars' conversion then imports pyarrow's compute)."""
    r = _run(sorted_blocks, threshold="0")
    assert r["pyarrow_compute"] is True, r
    assert 0 < r["inflated"] <= 2 * 1000 * 8, r


@needs_polars2
def test_filters_are_handed_where_the_data_is_not_all_known(sorted_blocks, tmp_path):
    """A dataset whose files are not all indexed at scan time (their sizes unknown), and an
    object of a store (each skipped block a request saved): filters are handed even before
    the import is paid."""
    from rangeserver import RangeServer

    for i in range(2):
        (tmp_path / f"part-{i}.npz").write_bytes(sorted_blocks.read_bytes())
    r = _run(tmp_path, count_at_scan=False)
    assert r["pyarrow_compute"] is True, r
    assert 0 < r["inflated"] <= 2 * 2 * 1000 * 8, r
    with RangeServer(sorted_blocks.parent) as server:
        r = _run(server.url(sorted_blocks.name))
    assert r["pyarrow_compute"] is True, r
    assert 0 < r["inflated"] <= 2 * 1000 * 8, r


@needs_polars2
def test_filters_are_handed_once_the_import_is_paid(sorted_blocks):
    """In a process that already imported them (this one, see conftest.py), small archives
    hand their filters too: only the matching block is inflated."""
    assert "pyarrow.compute" in sys.modules
    before = inflated_bytes()
    got = polars_npz.scan_npz(sorted_blocks).filter(pl.col("x") >= 99_000).select(pl.len()).collect().item()
    assert got == 1000
    assert 0 < inflated_bytes() - before <= 2 * 1000 * 8


def test_an_archive_without_statistics_never_hands_filters(tmp_path):
    """numpy's own archive (no statistics, none learned in a fresh process): nothing to skip,
    so nothing is converted, whatever the threshold."""
    path = tmp_path / "numpy.npz"
    np.savez_compressed(path, x=np.arange(100_000, dtype=np.int64))
    r = _run(path, threshold="0")
    assert r["pyarrow_compute"] is False and r["pandas"] is False, r
