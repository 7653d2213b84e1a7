"""polars_npz.ray on a local Ray (2 CPUs, loopback): values and types equal scan_npz's, the
projection is read inside the tasks (a corrupt unselected member does not fail the job),
rows come from the headers, a corrupt shard fails the job naming the file; the same over an
S3 bucket (moto on 127.0.0.1), where the workers fetch the objects and the driver no data."""

from __future__ import annotations

import os
import re
from pathlib import Path

import polars as pl
import pytest
from cluster_data import make_corrupt, make_hive, make_s3_tree, s3_serving
from conftest import needs_polars2
from polars.testing import assert_frame_equal
from polars_npz import NpzError, scan_npz
from polars_npz._internal import remote_bytes_fetched

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
import polars_npz.ray as npz_ray  # noqa: E402
import pyarrow as pa  # noqa: E402


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module: 2 CPUs, a small object store, bound to the loopback,
    no dashboard or usage stats; shut down at the end."""
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    ctx = ray.data.DataContext.get_current()
    preserve, progress = ctx.execution_options.preserve_order, ctx.enable_progress_bars
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    try:
        yield ray
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = preserve, progress
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def collect(ds) -> pl.DataFrame:
    """The dataset's blocks, in order, as one Polars frame (Arrow types kept)."""
    tables = [t for t in ray.get(ds.to_arrow_refs())]
    return pl.from_arrow(pa.concat_tables(tables))  # type: ignore[return-value]


def metadata(task):
    """A read task's BlockMetadata (a method before Ray 2.4x, a property since)."""
    return task.metadata if hasattr(task, "metadata") else task.get_metadata()


@pytest.fixture(scope="module")
def hive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ray") / "npz"
    make_hive(root)
    return root


@needs_polars2
@pytest.mark.parametrize("blocks", [None, 1, 2])
def test_values_and_types_equal_scan_npz(ray_local, hive, blocks):
    ds = npz_ray.read_npz(hive, override_num_blocks=blocks)
    expected = scan_npz(hive).collect()
    got = collect(ds)
    assert_frame_equal(got, expected)
    assert got.schema["pos"] == pl.Array(pl.Float32, 3)
    assert got.schema["when"] == pl.Datetime("us")
    assert got.schema["name"] == pl.String
    assert got.schema["year"] == pl.Int64 and got.schema["site"] == pl.String
    assert ds.count() == expected.height


def test_list_of_files_with_paths_row_index_and_n_rows(ray_local, hive):
    files = sorted(str(p) for p in hive.rglob("*.npz"))
    opts = dict(row_index_name="i", row_index_offset=10, n_rows=14, include_file_paths="file")
    expected = scan_npz(files, **opts).collect()
    for blocks in (1, 3):
        ds = npz_ray.read_npz(files, override_num_blocks=blocks, **opts)
        assert_frame_equal(collect(ds), expected)
        assert ds.count() == 14


def test_rows_and_sizes_come_from_the_headers(ray_local, tmp_path):
    """Every read task's metadata holds its files' rows from the .npy headers (and its files),
    even over data that cannot be read; count() answers from them."""
    files, _bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    source = npz_ray.NpzDatasource([str(f) for f in files])
    for parallelism in (1, 2, 3, 8):
        metas = [metadata(t) for t in source.get_read_tasks(parallelism)]
        assert len(metas) == min(parallelism, 3)
        assert sum(m.num_rows for m in metas) == 60_000
        assert [f for m in metas for f in m.input_files] == [str(f) for f in files]
        # x and y: 8 bytes a row each, plus each member's .npy header
        assert 60_000 * 16 <= sum(m.size_bytes for m in metas) <= 60_000 * 16 + 3 * 2 * 256
    assert source.estimate_inmemory_data_size() == sum(metadata(t).size_bytes for t in source.get_read_tasks(2))
    projected = npz_ray.NpzDatasource([str(f) for f in files], columns=["y"])
    assert 60_000 * 8 <= projected.estimate_inmemory_data_size() <= 60_000 * 8 + 3 * 256

    ds = npz_ray.read_npz(files)
    if hasattr(ds, "_meta_count"):
        assert ds._meta_count() == 60_000  # known without executing anything
    assert ds.count() == 60_000


def test_projection_is_read_in_the_tasks(ray_local, tmp_path):
    """A corrupt member that is not selected does not fail the job, through `columns` or
    Ray's own select_columns (where Ray pushes projections into datasources); selecting it
    fails naming the file and the member."""
    files, bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    expected = scan_npz(files).select("y").collect()
    assert_frame_equal(collect(npz_ray.read_npz(files, columns=["y"])), expected)
    ds = npz_ray.read_npz(files, columns=["y"])
    assert ds.sum("y") == expected["y"].sum()
    if hasattr(ray.data.Datasource, "supports_projection_pushdown"):  # Ray's own projection
        ds = npz_ray.read_npz(files).select_columns(["y"])
        assert_frame_equal(collect(ds), expected)
        assert ds.sum("y") == expected["y"].sum()
    with pytest.raises(Exception, match=re.escape(str(bad)) + r".*x\.npy") as err:
        npz_ray.read_npz(files, columns=["x"]).materialize()
    assert isinstance(err.value, NpzError)  # Ray's task error keeps the original class


def test_errors_name_the_file(ray_local, tmp_path):
    files, bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    with pytest.raises(Exception, match=re.escape(str(bad))):
        npz_ray.read_npz(files).take_all()
    # A file whose index is broken fails when the dataset is planned, naming the file.
    broken = tmp_path / "c" / "c9.npz"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(NpzError, match=re.escape(str(broken))):
        npz_ray.read_npz([*files, broken], columns=["y"])
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="'z'"):
        npz_ray.read_npz(files, columns=["z"])
    with pytest.raises(TypeError, match="unexpected scan options: rows"):
        npz_ray.read_npz(files, rows=3)


def test_limit_reads_only_what_it_needs(ray_local, hive):
    ds = npz_ray.read_npz(hive, columns=["t", "name"]).limit(6)
    assert_frame_equal(collect(ds), scan_npz(hive).select("t", "name").head(6).collect())


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """The S3 server of cluster_data.s3_serving over make_s3_tree; (options, local copy)."""
    root = make_s3_tree(tmp_path_factory.mktemp("ray-s3"))
    with s3_serving(root) as opts:
        yield opts, root


@needs_polars2
def test_s3_prefix_equals_scan_npz(ray_local, s3):
    """A prefix of hive-partitioned shards: the values and hive columns of scan_npz over the
    same URL and over the local copies; rows from the headers in every task's metadata."""
    opts, root = s3
    url = "s3://bucket/ds/"
    expected = scan_npz(url, storage_options=opts).collect()
    assert_frame_equal(expected, scan_npz(root / "ds").collect())
    assert expected.columns[-2:] == ["year", "site"]
    for blocks in (None, 2):
        ds = npz_ray.read_npz(url, storage_options=opts, override_num_blocks=blocks)
        assert_frame_equal(collect(ds), expected)
    assert ds.count() == expected.height == 21
    source = npz_ray.NpzDatasource(url, storage_options=opts)
    metas = [metadata(t) for t in source.get_read_tasks(2)]
    assert [m.num_rows for m in metas] == [12, 9]  # 5 + 0 + 7 rows, then 3 + 6
    files = [f"s3://bucket/ds/{p.relative_to(root / 'ds').as_posix()}" for p in sorted((root / "ds").rglob("*.npz"))]
    assert [f for m in metas for f in m.input_files] == files


def test_s3_glob_projection_paths_row_index_and_n_rows(ray_local, s3):
    opts, _root = s3
    url = "s3://bucket/ds/**/*.npz"
    scan = dict(row_index_name="i", row_index_offset=10, n_rows=14, include_file_paths="file")
    expected = scan_npz(url, storage_options=opts, **scan).select("i", "t", "name", "file").collect()
    assert expected["file"].str.starts_with("s3://bucket/ds/year=").all()
    for blocks in (1, 3):
        ds = npz_ray.read_npz(url, storage_options=opts, columns=["i", "t", "name", "file"], override_num_blocks=blocks, **scan)
        assert_frame_equal(collect(ds), expected)
        assert ds.count() == 14


def test_s3_workers_fetch_the_objects_and_errors_name_them(ray_local, s3):
    """The projection is read in the tasks (the corrupt x of bad/c1.npz is never fetched
    when only y is asked for) and by the workers: the driver fetches nothing while the job
    runs. Reading x fails the job naming the object and the member; a broken zip index fails
    the read when the dataset is planned."""
    opts, root = s3
    url = "s3://bucket/bad/"
    expected = scan_npz(sorted(root.glob("bad/*.npz"))).select("y").collect()
    ds = npz_ray.read_npz(url, storage_options=opts, columns=["y"])
    before = remote_bytes_fetched()
    assert_frame_equal(collect(ds), expected)
    assert ds.sum("y") == sum(range(60_000))
    assert remote_bytes_fetched() == before
    if hasattr(ray.data.Datasource, "supports_projection_pushdown"):  # Ray's own projection
        assert_frame_equal(collect(npz_ray.read_npz(url, storage_options=opts).select_columns(["y"])), expected)
    with pytest.raises(Exception, match=re.escape("s3://bucket/bad/c1.npz") + r".*x\.npy") as err:
        npz_ray.read_npz(url, storage_options=opts).materialize()
    assert isinstance(err.value, NpzError)
    with pytest.raises(NpzError, match=re.escape("s3://bucket/broken/c9.npz")):
        npz_ray.read_npz("s3://bucket/broken/", storage_options=opts, columns=["y"])
    with pytest.raises(FileNotFoundError):
        npz_ray.read_npz("s3://bucket/nothing/*.npz", storage_options=opts)
