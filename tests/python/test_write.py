"""write_npz: numpy loads what we write, scan_npz reads it back equal, stored members aligned."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import polars as pl
import pytest
from conftest import array_data_offset, needs_polars2
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from polars_npz import NpzError, npz_members, read_npz, scan_npz, write_npz
from polars_npz._internal import Archive

DTYPES = [
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
    pl.Float32,
    pl.Float64,
    pl.Boolean,
    pl.String,
    pl.Binary,
    pl.Date,
    pl.Datetime("ms"),
    pl.Datetime("us"),
    pl.Datetime("ns"),
    pl.Duration("us"),
]


def column(dtype: pl.DataType, n: int, rng: np.random.Generator) -> pl.Series:
    if dtype == pl.Boolean:
        return pl.Series(rng.random(n) > 0.5)
    if dtype == pl.String:
        return pl.Series([("é" * int(k)) + str(k) for k in rng.integers(0, 4, n)], dtype=pl.String)
    if dtype == pl.Binary:
        return pl.Series([bytes(rng.integers(1, 256, int(k), dtype=np.uint8)) for k in rng.integers(0, 5, n)], dtype=pl.Binary)
    if dtype in (pl.Float32, pl.Float64):
        return pl.Series(rng.normal(0, 1e3, n)).cast(dtype)
    if dtype == pl.Date:
        return pl.Series(rng.integers(-(10**5), 10**5, n)).cast(pl.Int32).cast(pl.Date)
    if isinstance(dtype, (pl.Datetime, pl.Duration)):
        return pl.Series(rng.integers(-(2**50), 2**50, n)).cast(dtype)
    info = np.iinfo(pl.Series([], dtype=dtype).to_numpy().dtype)
    return pl.Series(rng.integers(info.min, info.max, n, endpoint=True, dtype=info.dtype)).cast(dtype)


@st.composite
def frames(draw):
    n = draw(st.integers(0, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cols = {}
    for i in range(draw(st.integers(1, 5))):
        dtype = draw(st.sampled_from(DTYPES))
        s = column(dtype, n, rng).alias(f"c{i}")
        shape = draw(st.sampled_from([(), (), (2,), (2, 3)]))
        if shape and dtype not in (pl.String, pl.Binary):
            k = int(np.prod(shape))
            s = column(dtype, n * k, rng).reshape((n, *shape)).alias(f"c{i}") if n else pl.Series(f"c{i}", [], dtype=pl.Array(dtype, shape))
        if draw(st.integers(0, 4)) == 0:
            s = pl.DataFrame({"a": s, "b": column(pl.Int16, n, rng)}).select(pl.struct("a", "b").alias(f"c{i}")).to_series()
        cols[f"c{i}"] = s
    return pl.DataFrame(cols), draw(st.booleans())


@seed(7)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames())
def test_round_trip_property(tmp_path_factory, case):
    df, compress = case
    path = tmp_path_factory.mktemp("w") / "w.npz"
    write_npz(df, path, compress=compress)
    back = read_npz(path)
    assert back.equals(df), (df.schema, back.schema)
    assert scan_npz(path).collect().equals(df)
    ref = np.load(path, allow_pickle=False)
    assert ref.files == df.columns
    for name in df.columns:
        assert len(ref[name]) == df.height
    if not compress:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                assert array_data_offset(path, info.filename) % 64 == 0


def test_every_fixed_width_member_maps_zero_copy(tmp_path):
    n = 100_000
    df = pl.DataFrame(
        {
            "a": np.arange(n, dtype=np.float64),
            "bb": np.arange(n, dtype=np.int32),
            "t": pl.Series(np.arange(n)).cast(pl.Datetime("ns")),
            "v": pl.Series(np.ones((n, 3))),
        }
    )
    path = tmp_path / "z.npz"
    df.npz.write(path)
    m = npz_members(path)
    assert m["zero_copy"].all()
    archive = Archive(str(path))
    lo, size = archive.mapping_range()
    cols = archive.batches(["a", "bb"]).next()
    for c in cols:
        addr = pl.Series(c).to_numpy(allow_copy=False).ctypes.data
        assert lo <= addr < lo + size


def test_nulls(tmp_path):
    path = tmp_path / "n.npz"
    df = pl.DataFrame({"d": [dt.date(2020, 1, 1), None], "t": pl.Series([1, None]).cast(pl.Datetime("us")), "x": [1.0, None]})
    with pytest.raises(NpzError, match=r"n\.npz: column 'x': 1 nulls"):
        write_npz(df, path)
    assert not path.exists()
    write_npz(df.drop("x"), path)
    back = read_npz(path)
    assert back.equals(df.drop("x"))
    assert np.isnat(np.load(path)["d"][1])
    write_npz(df, path, fill=-1.0)
    assert read_npz(path)["x"].to_list() == [1.0, -1.0]


def test_mapping_of_numpy_arrays_and_series(tmp_path):
    path = tmp_path / "m.npz"
    write_npz({"a": np.arange(5, dtype=">i2"), "b": pl.Series([1.5] * 5), "g": np.ones((5, 2, 2), dtype=np.float32, order="F")}, path)
    ref = np.load(path)
    np.testing.assert_array_equal(ref["a"], np.arange(5, dtype=">i2"), strict=True)
    np.testing.assert_array_equal(ref["g"], np.ones((5, 2, 2), dtype=np.float32))
    assert read_npz(path)["b"].to_list() == [1.5] * 5
    with pytest.raises(NpzError, match="object"):
        write_npz({"o": np.array([1, "a"], dtype=object)}, path)


def test_lazyframe_and_cli(tmp_path):
    df = pl.DataFrame({"a": np.arange(1000), "s": [f"v{i}" for i in range(1000)]})
    path = tmp_path / "lf.npz"
    write_npz(df.lazy().filter(pl.col("a") % 2 == 0), path)
    assert read_npz(path).equals(df.filter(pl.col("a") % 2 == 0))
    pq = tmp_path / "in.parquet"
    df.write_parquet(pq)
    out = tmp_path / "out.npz"
    r = subprocess.run([sys.executable, "-m", "polars_npz", "write", str(pq), str(out)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert read_npz(out).equals(df)


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"old")
    with pytest.raises(NpzError):
        write_npz(pl.DataFrame({"l": [[1], [2, 3]]}), path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]


def test_killed_write_leaves_no_file_at_path(tmp_path):
    path = tmp_path / "big.npz"
    code = (
        "import sys, numpy as np, polars_npz\n"
        "arrays = {f'c{i}': np.ones(4_000_000) for i in range(20)}\n"
        "print('start', flush=True)\n"
        "polars_npz.write_npz(arrays, sys.argv[1])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    import time

    time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert not path.exists()


def _write_lazy_growth_mb(tmp_path, n: int) -> float:
    """Write a LazyFrame of 2 x n 8-byte values in a fresh process; its memory growth in MB."""
    src, path = tmp_path / f"src{n}.npz", tmp_path / f"big{n}.npz"
    np.savez_compressed(src, x=np.arange(n))
    code = (
        "import sys, polars as pl, polars_npz\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "base = hwm()\n"
        "lf = polars_npz.scan_npz(sys.argv[1]).select('x', (pl.col('x') * 0.5).alias('y'))\n"
        "polars_npz.write_npz(lf, sys.argv[2])\n"
        "print('GROWTH_KB', hwm() - base)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(src), str(path)], capture_output=True, text=True, check=True).stdout
    ref = np.load(path)
    np.testing.assert_array_equal(ref["x"], np.arange(n))
    assert ref["y"][-1] == (n - 1) * 0.5
    assert npz_members(path)["zero_copy"].all()
    return int(out.split("GROWTH_KB")[1]) / 1024


@needs_polars2
def test_lazyframe_of_fixed_width_columns_is_written_in_batches(tmp_path):
    small = _write_lazy_growth_mb(tmp_path, 4_000_000)  # writes 64 MB
    big = _write_lazy_growth_mb(tmp_path, 24_000_000)  # writes 384 MB
    # Memory does not follow the size written: 320 MB more data, (almost) no more memory.
    assert big - small < 64, f"memory grew with the data: {small:.0f} MB for 64 MB, {big:.0f} MB for 384 MB"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_lazyframe_batches_with_nulls_fail_cleanly(tmp_path):
    path = tmp_path / "n.npz"
    lf = pl.LazyFrame({"a": [1.0, None, 3.0], "t": pl.Series([1, None, 3]).cast(pl.Datetime("ms"))})
    with pytest.raises(NpzError, match=r"n\.npz.*'a'.*nulls"):
        write_npz(lf, path)
    assert list(tmp_path.iterdir()) == []
    write_npz(lf, path, fill=0.0)
    assert read_npz(path).equals(lf.collect().with_columns(pl.col("a").fill_null(0.0)))
    empty = tmp_path / "e.npz"
    write_npz(lf.filter(pl.col("a") > 10), empty)
    assert read_npz(empty).height == 0 and np.load(empty)["a"].shape == (0,)


def _writers(tmp_path):
    """Each way the package writes a local archive: name -> function writing `path`."""
    import polars_npz._namespace  # noqa: F401  (registers df.npz)
    from polars_npz import align_npz, sink_npz
    from polars_npz.__main__ import main

    df = pl.DataFrame({"a": np.arange(100), "s": [f"v{i}" for i in range(100)]})
    src = tmp_path / "src.npz"
    np.savez(src, a=np.arange(100))
    pq = tmp_path / "src.parquet"
    df.write_parquet(pq)
    return {
        "write_npz": lambda p: write_npz(df, p),
        "write_npz compressed": lambda p: write_npz(df, p, compress=True),
        "df.npz.write": lambda p: df.npz.write(p),
        "sink_npz": lambda p: sink_npz(df.lazy(), p),
        "align_npz": lambda p: align_npz(src, p),
        "cli write": lambda p: main(["write", str(pq), str(p)]),
    }


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_new_archives_follow_the_umask(tmp_path, umask):
    """A new archive gets 0666 less the umask, as np.savez's (a temporary file's 0600 would
    hide it from every other user)."""
    writers = _writers(tmp_path)
    old = os.umask(umask)
    try:
        np.savez(tmp_path / "numpy.npz", a=np.arange(3))
        assert stat.S_IMODE((tmp_path / "numpy.npz").stat().st_mode) == 0o666 & ~umask
        for name, write in writers.items():
            p = tmp_path / f"{name}.npz"
            assert write(p) in (None, 0)
            assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, name
    finally:
        os.umask(old)


def test_a_replaced_archive_keeps_its_mode(tmp_path):
    """Writing over an archive keeps its mode, whatever the umask (as np.savez's 'wb' open)."""
    writers = _writers(tmp_path)
    old = os.umask(0o077)
    try:
        for name, write in writers.items():
            p = tmp_path / f"{name}.npz"
            p.write_bytes(b"old")
            p.chmod(0o640)
            assert write(p) in (None, 0)
            assert stat.S_IMODE(p.stat().st_mode) == 0o640, name
            assert np.load(p).files
    finally:
        os.umask(old)


def test_an_empty_frame_is_an_empty_archive_numpy_loads(tmp_path):
    """No columns: the 22 bytes np.savez() writes for no arrays (numpy refuses a file that
    starts with a zip64 record); read back as a frame without columns."""
    ours, theirs = tmp_path / "ours.npz", tmp_path / "numpy.npz"
    write_npz(pl.DataFrame(), ours)
    np.savez(theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    assert np.load(ours).files == []
    for path in (ours, theirs):
        assert read_npz(path).shape == (0, 0)
        assert scan_npz(path).collect().shape == (0, 0)
        assert scan_npz(path).collect_schema().names() == []
        assert npz_members(path).height == 0
    write_npz({}, ours, compress=True)
    assert np.load(ours).files == []
    from polars_npz import align_npz, sink_npz

    align_npz(theirs, tmp_path / "aligned.npz")
    assert np.load(tmp_path / "aligned.npz").files == []
    sink_npz(pl.LazyFrame(), tmp_path / "sunk.npz")
    assert np.load(tmp_path / "sunk.npz").files == []


def test_the_frame_namespace_takes_every_option_of_write_npz(tmp_path):
    """df.npz.write takes what write_npz takes (storage_options included: see test_remote)."""
    import inspect

    import polars_npz._namespace  # noqa: F401  (registers df.npz)

    df = pl.DataFrame({"a": [1, 2, 3]})
    df.npz.write(tmp_path / "a.npz", storage_options=None, block_rows=2)
    assert read_npz(tmp_path / "a.npz").equals(df)
    ns = set(inspect.signature(type(df.npz).write).parameters) - {"self"}
    assert ns == set(inspect.signature(write_npz).parameters) - {"data"}


def test_a_time_zone_dropped_on_write_is_warned_of(tmp_path):
    """numpy's datetime64 has no zone: a zoned Datetime column is written in UTC, with a
    UserWarning naming the column and the zone (write_npz of a frame, of a mapping of Series,
    of a LazyFrame; sink_npz; df.npz.write), pointing at the caller's line. Nothing is said
    of naive datetimes, and the values read back are the UTC instants."""
    import warnings

    import polars_npz._namespace  # noqa: F401  (registers df.npz)
    from polars_npz import sink_npz

    utc = pl.Series("ts", [dt.datetime(2024, 1, 1, 12), None], dtype=pl.Datetime("us"))
    df = pl.DataFrame({"ts": utc.dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris"), "naive": utc, "x": [1, 2]})
    path = tmp_path / "tz.npz"
    writes = [
        lambda: write_npz(df, path),
        lambda: write_npz({"ts": df["ts"], "x": df["x"]}, path),
        lambda: write_npz(df.lazy(), path),
        lambda: sink_npz(df.lazy(), path),
        lambda: df.npz.write(path),
        lambda: sink_npz(df.lazy(), tmp_path / "parts", partition_by="x"),
    ]
    for write in writes:
        with pytest.warns(UserWarning, match=r"column 'ts' has the time zone 'Europe/Paris'.*written in UTC") as caught:
            write()
        assert len(caught) == 1, [str(w.message) for w in caught]
        assert caught[0].filename == __file__
    assert read_npz(path)["ts"].to_list() == utc.to_list()
    assert np.load(path)["ts"][0] == np.datetime64("2024-01-01T12:00:00", "us")
    nested = pl.DataFrame({"s": [{"at": dt.datetime(2024, 1, 1)}]}).with_columns(
        pl.col("s").struct.with_fields(pl.field("at").dt.replace_time_zone("Asia/Tokyo"))
    )
    with pytest.warns(UserWarning, match=r"column 's.at' has the time zone 'Asia/Tokyo'"):
        write_npz(nested, tmp_path / "nested.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_npz(df.drop("ts"), path)  # naive datetimes: nothing to say
        sink_npz(df.lazy(), tmp_path / "keyed", partition_by="ts")  # the zoned column is in the paths only
