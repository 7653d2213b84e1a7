from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pytest
from motoserver import environ_without_aws, moto_s3
from polars.testing import assert_frame_equal
from polars_npz import npz_members, read_npz, scan_npz
from polars_npz.__main__ import Progress, _literal


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "polars_npz", *args], capture_output=True, text=True, check=False)


def test_cli_members_and_sql(tmp_path):
    path = tmp_path / "t.npz"
    np.savez_compressed(path, x=np.arange(10), y=np.arange(10) * 2.0)
    r = run(str(path))
    assert r.returncode == 0, r.stderr
    assert "x.npy" in r.stdout and "Float64" in r.stdout
    r = run(str(path), "SELECT SUM(x) AS s, MAX(y) AS m FROM npz WHERE x > 4", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["s,m", "35,18.0"]
    r = run(str(tmp_path / "nope.npz"))
    assert r.returncode == 1 and "nope.npz" in r.stderr
    r = run("--help")
    assert r.returncode == 0 and "npz" in r.stdout and "SQL" in r.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """moto's S3 server with bucket 'bucket' holding runs.npz (one stored member, one deflated)."""
    with moto_s3("bucket") as s3:
        local = tmp_path_factory.mktemp("store")
        path = local / "runs.npz"
        np.savez(path, t=np.arange(100), x=np.linspace(0, 1, 100))
        s3.client.upload_file(str(path), "bucket", "runs.npz")
        deflated = local / "deflated.npz"
        np.savez_compressed(deflated, t=np.arange(50), s=np.array([f"v{i}" for i in range(50)]))
        s3.client.upload_file(str(deflated), "bucket", "deflated.npz")
        yield s3


def run_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "polars_npz", *args], capture_output=True, text=True, check=False, env=env)


def flags(s3) -> list[str]:
    return [f"--storage-option={k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in s3.options.items()]


def test_cli_object_store_settings_from_the_environment(store, tmp_path):
    """With the store's settings in the environment only (as Polars reads them: AWS_ENDPOINT_URL,
    AWS_ALLOW_HTTP, AWS_REGION, credentials), every command takes s3:// sources and targets."""
    env = {**environ_without_aws(), **store.env}
    r = run_env(env, "s3://bucket/runs.npz")
    assert r.returncode == 0, r.stderr
    assert "s3://bucket/runs.npz: 2 members" in r.stdout and "x.npy" in r.stdout
    r = run_env(env, "s3://bucket/runs.npz", "SELECT SUM(t) AS s FROM npz WHERE x > 0.5", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["s", str(sum(range(50, 100)))]
    # write: a local Parquet file to the store, and a Parquet object from the store to a local archive
    df = pl.DataFrame({"a": np.arange(1000), "s": [f"v{i % 7}" for i in range(1000)]})
    df.write_parquet(tmp_path / "in.parquet")
    r = run_env(env, "write", str(tmp_path / "in.parquet"), "s3://bucket/out/in.npz", "--compress")
    assert r.returncode == 0, r.stderr
    assert "wrote s3://bucket/out/in.npz" in r.stdout
    assert_frame_equal(read_npz("s3://bucket/out/in.npz", storage_options=store.options), df)
    store.client.upload_file(str(tmp_path / "in.parquet"), "bucket", "tables/in.parquet")
    r = run_env(env, "write", "s3://bucket/tables/in.parquet", str(tmp_path / "back.npz"))
    assert r.returncode == 0, r.stderr
    assert_frame_equal(read_npz(tmp_path / "back.npz"), df)
    # partitioned, to a prefix of the store
    r = run_env(env, "write", str(tmp_path / "in.parquet"), "s3://bucket/parts/", "--partition-by", "s")
    assert r.returncode == 0, r.stderr
    keys = {o["Key"] for o in store.client.list_objects_v2(Bucket="bucket", Prefix="parts/")["Contents"]}
    assert keys == {f"parts/s=v{i}/part-00000.npz" for i in range(7)}
    assert scan_npz("s3://bucket/parts/", storage_options=store.options).select(pl.len()).collect().item() == 1000
    # align: from the store to the store, and from the store to a local file
    r = run_env(env, "align", "s3://bucket/deflated.npz", "s3://bucket/aligned.npz", "--decompress")
    assert r.returncode == 0, r.stderr
    members = npz_members("s3://bucket/aligned.npz", storage_options=store.options)
    assert members["compression"].to_list() == ["stored", "stored"]
    r = run_env(env, "align", "s3://bucket/runs.npz", str(tmp_path / "aligned.npz"))
    assert r.returncode == 0, r.stderr
    assert npz_members(tmp_path / "aligned.npz")["zero_copy"].to_list() == [True, True]
    np.testing.assert_array_equal(np.load(tmp_path / "aligned.npz")["x"], np.linspace(0, 1, 100))
    assert_frame_equal(
        read_npz("s3://bucket/aligned.npz", storage_options=store.options),
        read_npz("s3://bucket/deflated.npz", storage_options=store.options),
    )
    # nothing but the store's answer when it is missing
    r = run_env(env, "s3://bucket/nope.npz")
    assert r.returncode == 1 and "nope.npz" in r.stderr
    assert "\r" not in r.stderr  # no progress line: stderr is not a terminal


def test_cli_storage_option_flags(store, tmp_path):
    """--storage-option KEY=VALUE (repeatable) are scan_npz's storage_options: with them alone
    (nothing in the environment) every command reaches the store; a malformed one is refused."""
    env = {**environ_without_aws(), "AWS_EC2_METADATA_DISABLED": "true"}
    opts = flags(store)
    r = run_env(env, "s3://bucket/runs.npz", "SELECT COUNT(*) AS n FROM npz", "--format", "csv", *opts)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["n", "100"]
    r = run_env(env, "s3://bucket/deflated.npz", "--format", "csv", *opts)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("member,name,numpy_dtype")
    pl.DataFrame({"a": [1, 2, 3]}).write_ipc(tmp_path / "in.arrow")
    r = run_env(env, "write", str(tmp_path / "in.arrow"), "s3://bucket/flags/a.npz", *opts)
    assert r.returncode == 0, r.stderr
    assert read_npz("s3://bucket/flags/a.npz", storage_options=store.options)["a"].to_list() == [1, 2, 3]
    r = run_env(env, "align", "s3://bucket/flags/a.npz", "s3://bucket/flags/b.npz", *opts)
    assert r.returncode == 0, r.stderr
    assert read_npz("s3://bucket/flags/b.npz", storage_options=store.options)["a"].to_list() == [1, 2, 3]
    # the options reach the store: a wrong endpoint fails, naming the object
    wrong = [o for o in opts if "endpoint" not in o] + ["--storage-option", "aws_endpoint_url=http://127.0.0.1:9"]
    r = run_env(env, "s3://bucket/runs.npz", *wrong)
    assert r.returncode == 1 and "runs.npz" in r.stderr
    r = run_env(env, "s3://bucket/runs.npz", "--storage-option", "no-equals-sign")
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr


def test_cli_write_fill_align_and_input_format(tmp_path):
    src = tmp_path / "nulls.parquet"
    pl.DataFrame({"x": [1.5, None, 3.0], "n": [1, 2, None], "t": [dt.datetime(2024, 1, 1), None, None]}).write_parquet(src)
    out = tmp_path / "out.npz"
    r = run("write", str(src), str(out))
    assert r.returncode == 1 and "--fill VALUE" in r.stderr and "fill=" not in r.stderr
    assert not out.exists()
    r = run("write", str(src), str(out), "--fill", "0")
    assert r.returncode == 0, r.stderr
    back = np.load(out)
    assert back["x"].tolist() == [1.5, 0.0, 3.0] and back["n"].tolist() == [1, 2, 0]
    assert np.isnat(back["t"][1])  # temporal nulls are NaT, whatever --fill says
    r = run("write", str(src), str(out), "--fill", "-1", "--align", "4096")
    assert r.returncode == 0, r.stderr
    assert np.load(out)["n"].tolist() == [1, 2, -1]
    assert all(off % 4096 == 0 for off in npz_members(out)["data_offset"].to_list())
    assert _literal("2.5") == 2.5 and _literal("true") is True and _literal("n/a") == "n/a"
    # a name that does not say the format
    renamed = tmp_path / "table.data"
    pl.DataFrame({"a": [1, 2]}).write_parquet(renamed)
    r = run("write", str(renamed), str(out))
    assert r.returncode == 2 and "--input-format" in r.stderr
    r = run("write", str(renamed), str(out), "--input-format", "parquet")
    assert r.returncode == 0, r.stderr
    assert read_npz(out)["a"].to_list() == [1, 2]


def test_cli_write_parses_dates_in_csv(tmp_path):
    """CSV columns holding dates and datetimes become M8[D] and M8[us] (try_parse_dates, as
    Polars' CSV reader parses them); other text stays text."""
    csv = tmp_path / "events.csv"
    csv.write_text("day,at,label,v\n2024-01-02,2024-01-02 03:04:05,a,1.5\n2024-02-29,2024-02-29T23:59:59.5,b,2\n")
    out = tmp_path / "events.npz"
    r = run("write", str(csv), str(out))
    assert r.returncode == 0, r.stderr
    z = np.load(out)
    assert z["day"].dtype == np.dtype("M8[D]") and z["day"].tolist() == [dt.date(2024, 1, 2), dt.date(2024, 2, 29)]
    assert z["at"].dtype == np.dtype("M8[us]")
    assert z["at"][1] == np.datetime64("2024-02-29T23:59:59.5")
    assert z["label"].tolist() == ["a", "b"] and z["v"].tolist() == [1.5, 2.0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal():
    """The progress line is written (rewritten in place with \\r, then ended) only when its
    stream is a terminal; a batch counts its rows and bytes."""
    term = _Terminal()
    with Progress("writing x.npz", stream=term, interval=0.01) as p:
        p.batch(pl.DataFrame({"a": np.arange(1000, dtype=np.int64)}))
        time.sleep(0.05)
    text = term.getvalue()
    assert text.startswith("\rwriting x.npz: 1,000 rows, 7.8 KiB, ") and text.endswith(" s\n")
    assert text.count("\n") == 1
    piped = io.StringIO()
    with Progress("writing x.npz", stream=piped, interval=0.01) as p:
        p.batch(pl.DataFrame({"a": [1]}))
        time.sleep(0.03)
    assert piped.getvalue() == ""
