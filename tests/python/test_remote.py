"""Object stores: an HTTP server of the tests' own (ranges, byte counts, faults) and an
S3-compatible server (moto), both on 127.0.0.1, started and stopped here. Values equal local
reads; the bytes moved are asserted."""

from __future__ import annotations

import os
import time

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from motoserver import moto_s3
from polars.testing import assert_frame_equal
from polars_npz import NpzError, npz_members, read_npz, scan_npz
from polars_npz._dataset import has_multi_file_scan
from polars_npz._internal import clear_plan_cache, remote_requests
from rangeserver import RangeServer

ROWS = 500_000  # 4 MB per float64 column
COLS = [f"c{i}" for i in range(8)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("http")
    rng = np.random.default_rng(0)
    arrays = {c: rng.random(ROWS) for c in COLS}
    arrays["label"] = np.array([f"r{i % 97}" for i in range(ROWS)], dtype="U4")
    np.savez(root / "stored.npz", **arrays)
    np.savez_compressed(root / "deflated.npz", **arrays)
    with RangeServer(root) as server:
        yield server, root


def test_values_equal_local_reads(served):
    server, root = served
    for name in ["stored.npz", "deflated.npz"]:
        assert_frame_equal(read_npz(server.url(name)), read_npz(root / name))
        lf = scan_npz(server.url(name))
        assert lf.collect_schema() == scan_npz(root / name).collect_schema()
        got = lf.filter(pl.col("c0") > 0.5).select("c1", "label").collect()
        want = scan_npz(root / name).filter(pl.col("c0") > 0.5).select("c1", "label").collect()
        assert_frame_equal(got, want)
    members = npz_members(server.url("stored.npz"))
    assert members["name"].to_list() == [*COLS, "label"]


def test_bytes_moved(served):
    server, root = served
    size = (root / "stored.npz").stat().st_size
    member = 8 * ROWS + 128
    server.reset()
    lf = scan_npz(server.url("stored.npz"))
    schema_bytes = server.bytes_sent
    # The tail, then one batch of concurrent ranges (a member's local and .npy headers each).
    assert schema_bytes < 128 * 1024, schema_bytes
    assert server.requests <= 1 + len(COLS) + 1, server.log
    lf.select(pl.col("c3").sum()).collect()
    one = server.bytes_sent - schema_bytes
    assert one <= member * 1.05 + 256 * 1024, (one, member)
    server.reset()
    scan_npz(server.url("stored.npz")).select("c5").head(1000).collect()
    assert server.bytes_sent <= 512 * 1024, server.bytes_sent
    # A deflated member streams from its start and stops once enough rows are out.
    server.reset()
    df = scan_npz(server.url("deflated.npz")).select("c2").head(1000).collect()
    assert df["c2"].to_list() == read_npz(root / "deflated.npz", columns=["c2"], n_rows=1000)["c2"].to_list()
    assert server.bytes_sent < 1024 * 1024, server.bytes_sent
    assert server.bytes_sent < size / 8


def test_a_503_is_retried(served):
    server, root = served
    server.reset()
    server.faults.extend(["503"])
    assert_frame_equal(read_npz(server.url("stored.npz"), columns=["c1"]), read_npz(root / "stored.npz", columns=["c1"]))


def test_cut_connections_are_errors_never_short_columns(served):
    server, _ = served
    lf = scan_npz(server.url("stored.npz"))
    server.reset()
    server.faults.extend(["cut"] * 50)
    t = time.monotonic()
    with pytest.raises(NpzError, match=r"stored\.npz.*c4\.npy"):
        lf.select("c4").collect()
    assert time.monotonic() - t < 60
    server.reset()


def test_slow_answers_time_out_then_fail(served):
    server, _ = served
    lf = scan_npz(server.url("stored.npz"), storage_options={"timeout": "1s"})
    server.reset()
    server.faults.extend([("slow", 3)] * 10)
    t = time.monotonic()
    with pytest.raises(NpzError, match=r"stored\.npz"):
        lf.select("c6").collect()
    assert time.monotonic() - t < 60
    server.reset()


def test_an_object_changed_between_index_and_data_is_an_error(tmp_path):
    # 4 MB: larger than what is read whole when opened, so its data is read after the index.
    n = 250_000
    np.savez(tmp_path / "x.npz", a=np.arange(n), b=np.arange(n * 1.0))
    with RangeServer(tmp_path) as server:
        lf = scan_npz(server.url("x.npz"))
        time.sleep(0.01)
        np.savez(tmp_path / "x.npz", a=np.arange(n) * 2, b=np.arange(n * 1.0))
        os.utime(tmp_path / "x.npz", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        with pytest.raises(NpzError, match="changed"):
            lf.select("a").collect()


def test_a_small_object_is_read_whole_when_scanned_and_stays_that_version(tmp_path):
    n = 10_000  # 160 KB: more than the end read first, less than what is read whole
    np.savez(tmp_path / "x.npz", a=np.arange(n), b=np.arange(n * 1.0))
    np.savez(tmp_path / "tiny.npz", a=np.arange(10))
    with RangeServer(tmp_path) as server:
        lf = scan_npz(server.url("x.npz"))
        assert server.requests == 2  # its end (and size), then the rest
        np.savez(tmp_path / "x.npz", a=np.arange(n) * 2, b=np.arange(n * 1.0))
        server.reset()
        assert lf.collect()["a"].to_list() == list(range(n))  # the version scanned, whole
        assert server.requests == 0
        assert scan_npz(server.url("tiny.npz")).collect()["a"].to_list() == list(range(10))
        assert server.requests == 1


def test_missing_objects_and_unknown_schemes(served):
    server, _ = served
    with pytest.raises(FileNotFoundError):
        scan_npz(server.url("nope.npz"))
    with pytest.raises(NpzError, match="unsupported scheme"):
        scan_npz("ftp://127.0.0.1/x.npz")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3("bucket") as store:
        local = tmp_path_factory.mktemp("s3")
        for i, (site, n) in enumerate([("a", 5), ("b", 0), ("a", 7), ("b", 3)]):
            p = local / f"site={site}" / f"part-{i}.npz"
            p.parent.mkdir(exist_ok=True)
            (np.savez_compressed if i % 2 else np.savez)(p, t=np.arange(n) + 100 * i, x=np.random.default_rng(i).random(n))
            store.client.upload_file(str(p), "bucket", f"runs/{p.relative_to(local).as_posix()}")
        store.client.put_object(Bucket="bucket", Key="runs/readme.txt", Body=b"not an archive")
        yield store.options, local


def test_s3_dataset(s3):
    opts, local = s3
    files = sorted(local.rglob("*.npz"))
    want = pl.concat([read_npz(f) for f in files])
    got = scan_npz("s3://bucket/runs/**/*.npz", storage_options=opts, hive_partitioning=False).collect()
    assert_frame_equal(got, want)
    got = read_npz("s3://bucket/runs/site=a/part-0.npz", storage_options=opts)
    assert_frame_equal(got, read_npz(local / "site=a" / "part-0.npz"))
    assert scan_npz("s3://bucket/runs/", storage_options=opts).select(pl.len()).collect().item() == 15
    hive = scan_npz("s3://bucket/runs/", storage_options=opts).collect()
    assert hive.columns == ["t", "x", "site"]
    assert hive.filter(pl.col("site") == "a")["t"].to_list() == [0, 1, 2, 3, 4, 200, 201, 202, 203, 204, 205, 206]
    with pytest.raises(pl.exceptions.ComputeError, match="expanded paths were empty"):
        scan_npz("s3://bucket/nothing/*.npz", storage_options=opts).collect()


def test_s3_settings_from_the_environment_and_polars_retry_options(s3, monkeypatch):
    """As for pl.scan_parquet: the store's settings come from the environment (AWS_ENDPOINT_URL,
    AWS_ALLOW_HTTP, credentials, region) when no storage options are given, and Polars' own
    retry options are accepted beside object_store's keys."""
    opts, local = s3
    for k, v in opts.items():
        monkeypatch.setenv(k.upper(), str(v).lower() if isinstance(v, bool) else str(v))
    want = read_npz(local / "site=a" / "part-0.npz")
    assert_frame_equal(scan_npz("s3://bucket/runs/site=a/part-0.npz").collect(), want)
    assert_frame_equal(read_npz("s3://bucket/runs/site=a/part-0.npz"), want)
    polars_keys = {
        "max_retries": 2,
        "retry_timeout_ms": 5000,
        "retry_init_backoff_ms": 10,
        "retry_max_backoff_ms": 100,
        "file_cache_ttl": 60,
    }
    for given in (polars_keys, {**opts, **polars_keys}):
        assert_frame_equal(scan_npz("s3://bucket/runs/site=a/part-0.npz", storage_options=given).collect(), want)
    with pytest.raises(NpzError, match="max_retries"):
        scan_npz("s3://bucket/runs/site=a/part-0.npz", storage_options={**opts, "max_retries": "many"})
    with pytest.raises(NpzError, match="no_such_key"):
        scan_npz("s3://bucket/runs/site=a/part-0.npz", storage_options={**opts, "no_such_key": "1"})


@needs_polars2  # hive columns of a prefix
def test_s3_plan_requests_and_the_plan_cache(s3):
    """A small listed object is read whole in one request: the schema costs one object's
    request, a count one request per object; a second scan of the same objects makes none
    (listing aside); a changed object is noticed by its listing and read again."""
    import boto3

    opts, local = s3
    clear_plan_cache()
    before = remote_requests()
    lf = scan_npz("s3://bucket/runs/", storage_options=opts)
    assert remote_requests() - before == 1  # the first object, for the schema
    assert lf.select(pl.len()).collect().item() == 15
    assert remote_requests() - before == 4  # one per object
    before = remote_requests()
    again = scan_npz("s3://bucket/runs/", storage_options=opts)
    assert again.select(pl.len()).collect().item() == 15
    assert_frame_equal(again.collect(), lf.collect())
    assert remote_requests() == before  # planned before, unchanged: from memory
    client = boto3.client(
        "s3", endpoint_url=opts["aws_endpoint_url"], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    changed = local / "changed.npz"
    np.savez(changed, t=np.arange(9) + 1000, x=np.zeros(9))
    client.upload_file(str(changed), "bucket", "runs/site=a/part-2.npz")
    try:
        before = remote_requests()
        got = scan_npz("s3://bucket/runs/", storage_options=opts).collect()
        assert remote_requests() - before == 1  # the changed object alone
        assert got.height == 17
        assert got.filter(pl.col("t") >= 1000)["t"].to_list() == list(range(1000, 1009))
    finally:
        client.upload_file(str(local / "site=a" / "part-2.npz"), "bucket", "runs/site=a/part-2.npz")


def test_counts_cost_at_most_two_requests_per_object(tmp_path):
    for i in range(10):
        np.savez(tmp_path / f"s{i}.npz", a=np.arange(20_000) + i, b=np.zeros(20_000), c=np.ones(20_000), d=np.arange(20_000.0))
    with RangeServer(tmp_path) as server:
        urls = [server.url(f"s{i}.npz") for i in range(10)]
        assert scan_npz(urls).collect_schema().names() == ["a", "b", "c", "d"]
        # Polars 2 reads the first object for the schema; 1.x opens every file when scanned.
        assert server.requests <= (2 if has_multi_file_scan() else 2 * 10)
        server.reset()
        assert scan_npz(urls).select(pl.len()).collect().item() == 200_000
        assert server.requests <= 2 * 10
        server.reset()
        got = scan_npz(urls).select(pl.col("a").sum()).collect().item()
        assert got == sum(int(np.arange(20_000).sum()) + 20_000 * i for i in range(10))
        assert server.requests <= 2 * 10


def test_a_projection_of_a_large_object_reads_that_member(tmp_path):
    n = 1_000_000  # 8 MB a member, 32 MB the object
    np.savez(tmp_path / "big.npz", **{f"c{k}": np.arange(n, dtype=np.float64) * k for k in range(4)})
    with RangeServer(tmp_path) as server:
        got = scan_npz(server.url("big.npz")).select(pl.col("c2").sum()).collect().item()
        assert got == float(np.arange(n, dtype=np.float64).sum() * 2)
        assert server.bytes_sent <= 8 * n * 1.05, server.bytes_sent


def test_one_failing_object_of_many_is_named_and_stops_the_rest(tmp_path):
    for i in range(40):
        np.savez(tmp_path / f"s{i:02d}.npz", a=np.arange(1000) + i)
    (tmp_path / "s17.npz").write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip: no arrays
    with RangeServer(tmp_path) as server:
        urls = [server.url(f"s{i:02d}.npz") for i in range(40)] + [server.url("missing.npz")]
        with pytest.raises((NpzError, FileNotFoundError), match=r"s17\.npz|missing\.npz"):
            scan_npz(urls).collect()
        settled = server.requests
        time.sleep(0.3)
        assert server.requests == settled  # nothing left running


def test_s3_writes_appear_whole_or_not_at_all(s3):
    import boto3
    from polars_npz import sink_npz, write_npz

    opts, _local = s3
    client = boto3.client(
        "s3", endpoint_url=opts["aws_endpoint_url"], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    df = pl.DataFrame({"k": ["a", "b", "a", "c"] * 2_500, "v": np.arange(10_000), "s": [f"s{i}" for i in range(10_000)]})
    write_npz(df, "s3://bucket/out/one.npz", storage_options=opts)
    assert_frame_equal(read_npz("s3://bucket/out/one.npz", storage_options=opts), df)
    sink_npz(df.lazy(), "s3://bucket/out/ds", partition_by="k", max_rows_per_file=2_000, storage_options=opts)
    got = scan_npz("s3://bucket/out/ds/", storage_options=opts).collect()
    assert_frame_equal(got.select(df.columns).sort("v"), df)

    def explode(batch: pl.DataFrame) -> pl.DataFrame:
        if batch["v"][0] >= 5_000:
            msg = "the source failed"
            raise RuntimeError(msg)
        return batch

    failing = df.lazy().map_batches(explode, streamable=True)
    with pytest.raises(Exception, match="the source failed"):
        sink_npz(failing, "s3://bucket/out/failed.npz", storage_options=opts, chunk_size=1_000)
    assert client.list_objects_v2(Bucket="bucket", Prefix="out/failed").get("Contents", []) == []
    uploads = client.list_multipart_uploads(Bucket="bucket").get("Uploads", [])
    assert [u for u in uploads if u["Key"].startswith("out/")] == []  # none left open
    with pytest.raises((OSError, NpzError)):
        write_npz(df, "s3://no-such-bucket/x.npz", storage_options=opts)


@pytest.mark.parametrize("ranges", ["no-suffix-416", "no-suffix-ignore", "none"])
def test_servers_without_suffix_ranges_or_without_ranges(tmp_path, ranges):
    """A server that refuses suffix ranges (416), answers them with the whole object, or
    ignores Range altogether (as ``python -m http.server``): archives small and large, stored
    and deflated, read as locally."""
    big = 300_000  # 2.4 MB a member: more than what is read whole when opened
    np.savez(tmp_path / "big.npz", a=np.arange(big), b=np.arange(big) * 0.5)
    np.savez_compressed(tmp_path / "small.npz", a=np.arange(1000), s=np.array([f"v{i}" for i in range(1000)]))
    with RangeServer(tmp_path, ranges=ranges) as server:
        for name in ["big.npz", "small.npz"]:
            assert_frame_equal(scan_npz(server.url(name)).collect(), read_npz(tmp_path / name))
            got = scan_npz(server.url(name)).filter(pl.col("a") % 7 == 3).select("a").collect()
            assert_frame_equal(got, read_npz(tmp_path / name, columns=["a"]).filter(pl.col("a") % 7 == 3))
        if ranges != "none":
            # A large object is not downloaded whole for one column's rows.
            server.reset()
            assert scan_npz(server.url("big.npz")).select("a").head(10).collect()["a"].to_list() == list(range(10))
            assert server.bytes_sent < 1_000_000, server.bytes_sent


def test_a_body_cut_short_by_a_server_without_ranges_is_an_error(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.arange(100_000))
    with RangeServer(tmp_path, ranges="none") as server:
        server.faults.extend(["cut"] * 50)
        with pytest.raises((NpzError, OSError), match=r"x\.npz"):
            scan_npz(server.url("x.npz")).collect()


def test_the_frame_namespace_writes_to_object_stores(s3, tmp_path):
    import polars_npz._namespace  # noqa: F401  (registers df.npz)

    opts, _local = s3
    df = pl.DataFrame({"v": np.arange(1000), "s": [f"s{i}" for i in range(1000)]})
    df.npz.write("s3://bucket/ns/frame.npz", storage_options=opts, compress=True)
    assert_frame_equal(read_npz("s3://bucket/ns/frame.npz", storage_options=opts), df)
    df.npz.write(tmp_path / "local.npz", storage_options=None)
    assert_frame_equal(read_npz(tmp_path / "local.npz"), df)
