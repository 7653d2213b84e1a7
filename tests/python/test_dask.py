"""polars_npz.dask with the threaded scheduler and with a local distributed cluster (2 worker
processes, loopback): values and types equal scan_npz's through to_pandas(), column
selections reach the reader (a corrupt unselected member does not fail the job), a corrupt
shard fails the job naming the file; the same over an S3 bucket (moto on 127.0.0.1), where the
workers fetch the objects and the client no data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from cluster_data import make_corrupt, make_hive, make_s3_tree, s3_serving
from conftest import needs_polars2
from polars_npz import NpzError, scan_npz
from polars_npz._internal import clear_plan_cache, remote_bytes_fetched

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
import pandas as pd  # noqa: E402
import polars_npz.dask as npz_dask  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, on the loopback, no dashboard; closed at the end."""
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def hive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dask") / "npz"
    make_hive(root)
    return root


def pandas_of(df: pl.DataFrame) -> pd.DataFrame:
    """What the reader promises: Polars' to_pandas(), strings as string[pyarrow]."""
    out = df.to_pandas()
    return out.astype({c: "string[pyarrow]" for c, t in df.schema.items() if t == pl.String})


def assert_same(got: pd.DataFrame, expected: pl.DataFrame) -> None:
    """`got` (a computed dask frame) holds `expected`'s rows in order, converted as
    promised: same columns and pandas dtypes; Array columns hold numpy arrays."""
    want = pandas_of(expected)
    assert list(got.columns) == list(want.columns)
    assert dict(got.dtypes) == dict(want.dtypes)
    got = got.reset_index(drop=True)
    for name, dtype in expected.schema.items():
        if isinstance(dtype, pl.Array):
            assert len(got[name]) == len(want[name])
            for a, b in zip(got[name], want[name]):
                assert isinstance(a, np.ndarray)
                np.testing.assert_array_equal(a, b, strict=True)
        else:
            pd.testing.assert_series_equal(got[name], want[name], check_exact=True)


@needs_polars2
@pytest.mark.parametrize("files_per_partition", [1, 2])
def test_values_and_types_equal_scan_npz_threads(hive, files_per_partition):
    ddf = npz_dask.read_npz(hive, files_per_partition=files_per_partition)
    expected = scan_npz(hive).collect()
    assert ddf.npartitions == -(-5 // files_per_partition)
    assert ddf.divisions == (None,) * (ddf.npartitions + 1)
    assert dict(ddf.dtypes) == dict(pandas_of(expected).dtypes)
    got = ddf.compute(scheduler="threads")
    assert_same(got, expected)
    assert ddf["pos"].dtype == object and ddf["when"].dtype == "datetime64[us]"


def test_paths_row_index_and_n_rows(hive):
    files = sorted(str(p) for p in hive.rglob("*.npz"))
    opts = dict(row_index_name="i", row_index_offset=10, n_rows=14, include_file_paths="file")
    expected = scan_npz(files, **opts).collect()
    ddf = npz_dask.read_npz(files, files_per_partition=1, **opts)
    assert ddf.npartitions == 4  # the fifth file is past the 14 rows
    assert_same(ddf.compute(scheduler="threads"), expected)
    ddf = npz_dask.read_npz(files, **opts)  # these small files make one partition
    assert ddf.npartitions == 1
    assert_same(ddf.compute(scheduler="threads"), expected)


def test_partitions_group_files_by_size(hive):
    assert npz_dask.read_npz(hive).npartitions == 1  # a few KiB in all
    assert npz_dask.read_npz(hive, blocksize=None).npartitions == 5
    assert npz_dask.read_npz(hive, files_per_partition=2).npartitions == 3
    ddf = npz_dask.read_npz(hive, blocksize=1)  # every file larger: one partition each
    assert ddf.npartitions == 5
    assert_same(ddf.compute(scheduler="threads"), scan_npz(hive).collect())


def test_column_selections_reach_the_reader(tmp_path):
    files, bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    ddf = npz_dask.read_npz(files)
    y = scan_npz(files).select("y").collect()
    assert_same(ddf[["y"]].compute(scheduler="threads"), y)
    assert ddf["y"].sum().compute(scheduler="threads") == y["y"].sum()
    assert ddf["y"].count().compute(scheduler="threads") == 60_000
    only_y = npz_dask.read_npz(files, columns=["y"])
    assert_same(only_y.compute(scheduler="threads"), y)
    # Dask's len() reads every column of the collection (it has no row-count hook for
    # from_map): here, only y.
    assert len(only_y) == 60_000
    with pytest.raises(NpzError, match=re.escape(str(bad)) + r".*x\.npy"):
        ddf["x"].sum().compute(scheduler="threads")
    with pytest.raises(NpzError, match=re.escape(str(bad))):
        ddf.compute(scheduler="threads")


def test_distributed_cluster(cluster, hive, tmp_path):
    def compute(collection):
        # Optimized first (older Dask clients do not), bounded in time.
        return cluster.compute(collection.optimize()).result(timeout=120)

    expected = scan_npz(hive).collect()
    ddf = npz_dask.read_npz(hive, files_per_partition=2)
    assert_same(compute(ddf), expected)
    assert compute(ddf["x"].sum()) == pytest.approx(expected["x"].sum())

    files, bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    ddf = npz_dask.read_npz(files)
    assert compute(ddf["y"].sum()) == sum(range(60_000))
    assert ddf["y"].sum().compute(scheduler=cluster) == sum(range(60_000))
    # The worker sends the error back (it once looped forever over an error that was its own
    # cause): the original class, naming the file and the member.
    with pytest.raises(NpzError, match=re.escape(str(bad)) + r".*x\.npy"):
        compute(ddf["x"].sum())


def test_bad_arguments():
    with pytest.raises(TypeError, match="paths"):
        npz_dask.read_npz(b"PK")
    with pytest.raises(FileNotFoundError):
        npz_dask.read_npz("no/such/dir/*.npz")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """The S3 server of cluster_data.s3_serving over make_s3_tree; (options, local copy)."""
    root = make_s3_tree(tmp_path_factory.mktemp("dask-s3"))
    with s3_serving(root) as opts:
        yield opts, root


@needs_polars2
def test_s3_prefix_threads(s3):
    """A prefix of hive-partitioned shards equals scan_npz of the same URL and of the local
    copies; partitions by object size (from each object's zip index) or by count."""
    opts, root = s3
    url = "s3://bucket/ds/"
    expected = scan_npz(url, storage_options=opts).collect()
    assert_same(pandas_of(scan_npz(root / "ds").collect()), expected)
    for kwargs, partitions in [({}, 1), ({"blocksize": 1}, 5), ({"files_per_partition": 2}, 3), ({"blocksize": None}, 5)]:
        ddf = npz_dask.read_npz(url, storage_options=opts, **kwargs)
        assert ddf.npartitions == partitions, kwargs
        assert_same(ddf.compute(scheduler="threads"), expected)
    assert list(ddf.columns)[-2:] == ["year", "site"]


def test_s3_glob_paths_row_index_and_n_rows(s3):
    opts, _root = s3
    url = "s3://bucket/ds/**/*.npz"
    scan = dict(row_index_name="i", row_index_offset=10, n_rows=14, include_file_paths="file")
    expected = scan_npz(url, storage_options=opts, **scan).collect()
    ddf = npz_dask.read_npz(url, storage_options=opts, files_per_partition=1, **scan)
    assert ddf.npartitions == 4  # rows from the headers: the fifth object is past the 14 rows
    assert_same(ddf.compute(scheduler="threads"), expected)


def test_s3_column_selections_and_errors_threads(s3):
    opts, _root = s3
    ddf = npz_dask.read_npz("s3://bucket/bad/", storage_options=opts)
    clear_plan_cache()  # what the planning read is not reused: the tasks fetch their own
    before = remote_bytes_fetched()
    assert ddf["y"].sum().compute(scheduler="threads") == sum(range(60_000))
    assert remote_bytes_fetched() > before  # the threads run here: this process fetched y
    with pytest.raises(NpzError, match=re.escape("s3://bucket/bad/c1.npz") + r".*x\.npy"):
        ddf["x"].sum().compute(scheduler="threads")
    with pytest.raises(NpzError, match=re.escape("s3://bucket/bad/c1.npz")):
        ddf.compute(scheduler="threads")
    with pytest.raises(FileNotFoundError):
        npz_dask.read_npz("s3://bucket/nothing/*.npz", storage_options=opts)


def test_s3_distributed_cluster(cluster, s3):
    """Worker processes fetch their own objects with the options sent with each partition:
    the client fetches nothing while the job runs; a corrupt member fails the job naming the
    object and the member, and a broken index fails when its partition is computed."""
    opts, _root = s3

    def compute(collection):
        return cluster.compute(collection.optimize()).result(timeout=120)

    ddf = npz_dask.read_npz("s3://bucket/bad/", storage_options=opts, files_per_partition=1)
    before = remote_bytes_fetched()
    assert compute(ddf["y"].sum()) == sum(range(60_000))
    assert compute(ddf[["y"]]).reset_index(drop=True)["y"].tolist() == list(range(60_000))
    assert remote_bytes_fetched() == before
    with pytest.raises(NpzError, match=re.escape("s3://bucket/bad/c1.npz") + r".*x\.npy"):
        compute(ddf["x"].sum())
    broken = npz_dask.read_npz("s3://bucket/broken/", storage_options=opts, columns=["y"], files_per_partition=1)
    with pytest.raises(NpzError, match=re.escape("s3://bucket/broken/c9.npz")):
        compute(broken["y"].sum())
