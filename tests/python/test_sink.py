"""sink_npz: LazyFrames written as they stream (numpy loads every member equal to the frame),
partitioned datasets that scan back equal with their hive columns, refused column names,
failures that leave no partial archive, memory bounded whatever the frame's size."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from polars.testing import assert_frame_equal
from polars_npz import NpzError, npz_members, read_npz, scan_npz, sink_npz, write_npz


def frame(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(n)
    return pl.DataFrame(
        {
            "i8": pl.Series(rng.integers(-100, 100, n), dtype=pl.Int8),
            "u32": pl.Series(rng.integers(0, 2**32, n), dtype=pl.UInt32),
            "f64": rng.random(n),
            "f32": pl.Series(rng.random(n), dtype=pl.Float32),
            "flag": rng.random(n) > 0.5,
            "day": pl.Series(rng.integers(0, 20_000, n), dtype=pl.Int32).cast(pl.Date),
            "stamp": pl.Series(rng.integers(0, 2**40, n)).cast(pl.Datetime("us")),
            "span": pl.Series(rng.integers(0, 2**30, n)).cast(pl.Duration("ms")),
            "text": [f"ü{'x' * (i % 13)}{i}" for i in range(n)],
            "blob": [bytes([1 + i % 255]) * (i % 7) for i in range(n)],  # numpy strips trailing NULs of S
            "vec": pl.Series(rng.random((n, 3)), dtype=pl.Array(pl.Float64, 3)),
            "rec": pl.DataFrame({"a": np.arange(n, dtype=np.int32), "b": rng.random(n)}).to_struct(),
            "cat": pl.Series([["low", "mid", "high"][i % 3] for i in range(n)], dtype=pl.Categorical),
        }
    )


@pytest.mark.parametrize("compress", [False, True])
def test_sink_equals_write_npz_and_numpy_loads_it(tmp_path, compress):
    df = frame(5_000)
    sink_npz(df.lazy(), tmp_path / "s.npz", compress=compress, chunk_size=777)
    write_npz(df, tmp_path / "w.npz", compress=compress)
    sunk, written = np.load(tmp_path / "s.npz"), np.load(tmp_path / "w.npz")
    assert sunk.files == written.files == df.columns
    for name in df.columns:
        assert sunk[name].dtype == written[name].dtype, name
        np.testing.assert_array_equal(sunk[name], written[name], err_msg=name)
    expected = df.with_columns(pl.col("cat").cast(pl.String))
    assert_frame_equal(scan_npz(tmp_path / "s.npz").collect(), expected)
    # Stored members are aligned: zero-copy on read, as write_npz's.
    if not compress:
        members = scan_npz(tmp_path / "s.npz").select("f64").collect()
        assert members.height == 5_000
    # Nothing left beside the archive.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz", "w.npz"]


def test_sink_of_no_rows_and_the_namespace(tmp_path):
    df = frame(10).head(0)
    df.lazy().npz.sink(tmp_path / "empty.npz")
    got = np.load(tmp_path / "empty.npz")
    assert got["text"].dtype == np.dtype("<U1") and got["text"].shape == (0,)
    assert got["vec"].shape == (0, 3)
    assert read_npz(tmp_path / "empty.npz").height == 0


def test_nulls_need_fill_and_become_nat(tmp_path):
    lf = pl.LazyFrame({"x": [1, None, 3], "s": ["a", None, "c"], "t": [dt.date(2020, 1, 1), None, dt.date(2020, 1, 3)]})
    with pytest.raises(NpzError, match="nulls") as e:
        sink_npz(lf, tmp_path / "n.npz")
    assert e.value.kind == "request"
    assert not (tmp_path / "n.npz").exists()
    sink_npz(lf, tmp_path / "n.npz", fill=0)
    got = np.load(tmp_path / "n.npz")
    assert got["x"].tolist() == [1, 0, 3]
    assert got["s"].tolist() == ["a", "0", "c"]
    assert np.isnat(got["t"][1])


@needs_polars2
def test_partitioned_dataset_scans_back_equal(tmp_path):
    df = frame(3_000).with_columns(
        site=pl.Series([["north", "south east", None, "w/est"][i % 4] for i in range(3_000)]),
        year=pl.Series([2020 + i % 3 for i in range(3_000)]),
    )
    sink_npz(df.lazy(), tmp_path / "ds", partition_by=["site", "year"], max_rows_per_file=200, chunk_size=500)
    files = sorted(tmp_path.rglob("*.npz"))
    assert all(read_npz(f).height <= 200 for f in files)
    assert {f.parent.parent.name for f in files} == {"site=north", "site=south east", "site=__HIVE_DEFAULT_PARTITION__", "site=w%2Fest"}
    got = scan_npz(tmp_path / "ds").collect()
    expected = df.with_columns(pl.col("cat").cast(pl.String))
    key = ["u32", "f64"]
    assert_frame_equal(got.select(expected.columns).sort(key), expected.sort(key), check_dtypes=False)
    assert got.schema["year"] == pl.Int64 and got.schema["site"] == pl.String


def test_max_rows_per_file_alone_numbers_the_parts(tmp_path):
    lf = pl.LazyFrame({"x": np.arange(1_000)})
    sink_npz(lf, tmp_path / "parts", max_rows_per_file=300, chunk_size=128)
    files = sorted((tmp_path / "parts").glob("*.npz"))
    assert [f.name for f in files] == [f"part-{i:05d}.npz" for i in range(4)]
    assert [read_npz(f).height for f in files] == [300, 300, 300, 100]
    assert scan_npz(tmp_path / "parts").collect()["x"].to_list() == list(range(1_000))


@pytest.mark.parametrize("name", ["a/b", "a\\b", "..", "x\0y"])
def test_unsafe_column_names_are_refused(tmp_path, name):
    lf = pl.LazyFrame({name: [1, 2]})
    with pytest.raises(NpzError, match="column name") as e:
        sink_npz(lf, tmp_path / "bad.npz")
    assert e.value.kind == "request"
    with pytest.raises(NpzError, match="column name"):
        write_npz(lf.collect(), tmp_path / "bad.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_half_way_leaves_no_partial_archive(tmp_path):
    def explode(df: pl.DataFrame) -> pl.DataFrame:
        if df["x"][0] >= 3_000:
            msg = "the source failed"
            raise RuntimeError(msg)
        return df

    old = tmp_path / "out.npz"
    write_npz(pl.DataFrame({"x": [42]}), old)
    lf = pl.LazyFrame({"x": np.arange(10_000)}).map_batches(explode, streamable=True)
    with pytest.raises(Exception, match="the source failed"):
        sink_npz(lf, old, chunk_size=1_000)
    assert read_npz(old)["x"].to_list() == [42]  # the old archive, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]  # no spill, no temporary
    with pytest.raises(Exception, match="the source failed"):
        sink_npz(lf, tmp_path / "ds", partition_by="x", chunk_size=1_000)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "out.npz"]
    assert all(p.suffix == ".npz" and read_npz(p).height == 1 for p in leftovers)  # only whole archives


def test_a_full_disk_leaves_no_partial_archive(tmp_path):
    """The writer fails part way (files limited to 1 MiB in a fresh process, as a full disk
    would stop it): no archive at the path, no temporary left."""
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np, polars as pl
        from polars_npz import sink_npz
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        try:
            sink_npz(pl.LazyFrame({{"x": np.arange(1_000_000)}}), {str(tmp_path / "big.npz")!r})
        except OSError as e:
            print("failed:", e)
            sys.exit(0)
        sys.exit(1)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed" in out.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_large_frame_sinks_in_bounded_memory(tmp_path):
    """2 GB generated lazily (8 columns x 32M rows, by a source yielding 256K-row batches) sinks
    with a peak RSS under 500 MB, measured in a fresh process; numpy loads every member equal."""
    rows, batch = 32 * (1 << 20), 1 << 18
    path = tmp_path / "big.npz"
    script = textwrap.dedent(
        f"""
        import json
        import numpy as np, polars as pl
        from polars.io.plugins import register_io_source
        from polars_npz import sink_npz

        ROWS, BATCH = {rows}, {batch}
        schema = pl.Schema({{f"c{{k}}": (pl.Int64 if k % 2 else pl.Float64) for k in range(8)}})

        def peak_mb():
            # VmHWM: this process image's high-water mark (getrusage's ru_maxrss keeps the
            # forking parent's across exec).
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024

        samples = []

        def source(with_columns, predicate, n_rows, batch_size):
            for start in range(0, ROWS, BATCH):
                if start % (ROWS // 16) == 0:
                    samples.append(round(peak_mb()))
                i = np.arange(start, min(start + BATCH, ROWS), dtype=np.int64)
                yield pl.DataFrame({{f"c{{k}}": (i * k if k % 2 else i * 0.5 + k) for k in range(8)}})

        sink_npz(register_io_source(source, schema=schema), {str(path)!r})
        print(json.dumps({{"peak_mb": peak_mb(), "samples": samples}}))
        """
    )
    # A fresh process with a plain environment (the cluster tests set thread and allocator
    # variables in this one).
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR") or k.startswith("OPENBLAS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    peak = got["peak_mb"]
    assert peak < 500, f"peak RSS {peak:.0f} MB (high-water mark as the source went: {got['samples']})"
    assert path.stat().st_size > 2_000_000_000
    with np.load(path) as f:
        i = np.arange(rows, dtype=np.int64)
        for k in range(8):
            got = f[f"c{k}"]
            np.testing.assert_array_equal(got, i * k if k % 2 else i * 0.5 + k)
            del got
    os.unlink(path)


def test_cli_write_streams_and_partitions(tmp_path):
    df = pl.DataFrame({"k": ["a", "b"] * 50, "v": np.arange(100), "s": [f"s{i}" for i in range(100)]})
    df.write_parquet(tmp_path / "in.parquet")
    cmd = [sys.executable, "-m", "polars_npz", "write", str(tmp_path / "in.parquet"), str(tmp_path / "out"), "--partition-by", "k"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(p.parent.name for p in (tmp_path / "out").rglob("*.npz")) == ["k=a", "k=b"]
    assert read_npz(tmp_path / "out" / "k=a" / "part-00000.npz")["v"].to_list() == list(range(0, 100, 2))


def test_block_rows_reach_sink_npz_and_write_npz_of_a_lazy_frame(tmp_path):
    """block_rows is taken by sink_npz and by write_npz of a LazyFrame (it was dropped there)."""
    from polars_npz import npz_members, sink_npz, write_npz

    lf = pl.LazyFrame({"x": np.arange(1000, dtype=np.int64)})
    sink_npz(lf, tmp_path / "s.npz", compress=True, block_rows=100)
    write_npz(lf, tmp_path / "w.npz", compress=True, block_rows=250)
    blocks = {p: npz_members(tmp_path / p)["blocks"][0] for p in ("s.npz", "w.npz")}
    assert blocks == {"s.npz": 11, "w.npz": 5}  # block 0 is the header
    assert scan_npz(tmp_path / "s.npz").collect()["x"].to_list() == list(range(1000))


def test_one_definition_of_the_sink_options(tmp_path):
    """sink_npz's signature defines the options: lf.npz.sink has the same (names, defaults),
    and the writer behind both (and the CLI) refuses others; df.npz.write has write_npz's."""
    import inspect

    from polars_npz._namespace import NpzFrame, NpzLazyFrame
    from polars_npz._sink import SINK_DEFAULTS, sink

    def options(f) -> dict[str, object]:
        return {n: p.default for n, p in inspect.signature(f).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}

    assert options(NpzLazyFrame.sink) == options(sink_npz) == SINK_DEFAULTS
    assert options(NpzFrame.write) == options(write_npz)
    with pytest.raises(TypeError, match="unexpected sink options: compression"):
        sink(pl.LazyFrame({"x": [1]}), tmp_path / "a.npz", compression=True)
    pl.LazyFrame({"x": [1, 2]}).npz.sink(tmp_path / "b.npz", compress=True, block_rows=1)
    assert npz_members(tmp_path / "b.npz")["blocks"].to_list() == [3]
