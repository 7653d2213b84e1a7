"""Row groups for npz: members written in blocks with statistics. numpy, zipfile and unzip read
them as before; reads inflate blocks in parallel and start at the right one; filters skip the
blocks (and files) their statistics rule out, never changing a result (numpy and the unfiltered
scan filtered afterwards are the oracles)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars_npz import NpzError, align_npz, npz_members, read_npz, scan_npz, write_npz


def member_data_range(path: Path, member: str) -> tuple[int, int]:
    """File offsets of a member's stored (compressed) bytes."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    return start, start + info.compress_size


def corrupt(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x5A]))


def frame(n: int = 300_000) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    return pl.DataFrame(
        {
            "t": np.sort(rng.normal(size=n)),
            "i": np.arange(n, dtype=np.int64),
            "f": rng.integers(0, 100, n).astype(np.float32),
            "b": rng.random(n) < 0.5,
            "when": np.arange(n).astype("M8[ms]"),
            "s": np.array([f"v{k % 13}" for k in range(n)]),
        }
    )


def test_numpy_zipfile_and_unzip_read_blocked_archives(tmp_path):
    df = frame()
    path = tmp_path / "b.npz"
    write_npz(df, path, compress=True, block_rows=10_000)
    with np.load(path) as z:
        assert z.files == df.columns
        for c in df.columns:
            np.testing.assert_array_equal(z[c], df[c].to_numpy())
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
    if shutil.which("unzip"):
        out = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    members = npz_members(path)
    assert members["blocks"].to_list() == [31] * 6  # the header, then 30 blocks of rows
    assert members["statistics"].to_list() == [True, True, True, True, True, False]
    assert_frame_equal(read_npz(path), df)


def test_blocked_reads_equal_numpy_slices_and_tails(tmp_path):
    df = frame()
    path = tmp_path / "b.npz"
    write_npz(df, path, compress=True, block_rows=7_777)
    lf = scan_npz(path)
    assert_frame_equal(lf.tail(1000).collect(), df.tail(1000))
    assert_frame_equal(lf.slice(123_456, 50_000).collect(), df.slice(123_456, 50_000))
    assert_frame_equal(lf.head(10).collect(), df.head(10))
    got = pl.concat(lf.collect_batches(chunk_size=9_999))
    assert_frame_equal(got, df)


@needs_polars2  # Polars 1.x hands an IO source no slice: it reads every row
def test_a_tail_inflates_only_its_blocks(tmp_path):
    """A corrupt block before the tail is never inflated by `tail`, but a full read finds it."""
    df = frame()
    path = tmp_path / "b.npz"
    write_npz(df.select("i"), path, compress=True, block_rows=10_000)
    start, end = member_data_range(path, "i.npy")
    corrupt(path, (start + end) // 2)
    assert scan_npz(path).tail(5_000).collect()["i"].to_list() == list(range(295_000, 300_000))
    with pytest.raises(NpzError, match=r"i\.npy"):
        read_npz(path)


def test_skipped_blocks_are_never_read(tmp_path):
    df = frame()
    path = tmp_path / "b.npz"
    write_npz(df.select("i", "t"), path, compress=True, block_rows=10_000)
    end = member_data_range(path, "i.npy")[1]
    corrupt(path, end - 20)  # the last block of `i`
    got = scan_npz(path).filter(pl.col("i") < 25_000).collect()
    assert_frame_equal(got, df.select("i", "t").filter(pl.col("i") < 25_000))
    with pytest.raises(NpzError, match=r"i\.npy"):
        scan_npz(path).filter(pl.col("i") > 299_990).collect()
    with pytest.raises(NpzError, match=r"i\.npy"):
        scan_npz(path, use_statistics=False).filter(pl.col("i") < 25_000).collect()


@needs_polars2
def test_files_ruled_out_are_never_opened_for_data(tmp_path):
    for k in range(6):
        write_npz(pl.DataFrame({"x": np.arange(k * 1000, (k + 1) * 1000), "y": np.full(1000, k)}), tmp_path / f"p{k}.npz", compress=True)
    end = member_data_range(tmp_path / "p4.npz", "y.npy")[1]
    corrupt(tmp_path / "p4.npz", end - 5)
    got = scan_npz(tmp_path).filter(pl.col("x").is_between(1500, 2500)).collect()
    assert got["x"].to_list() == list(range(1500, 2501))
    with pytest.raises(NpzError, match=r"p4\.npz"):
        scan_npz(tmp_path).filter(pl.col("x") > 4500).collect()


def test_an_index_that_does_not_match_its_member_is_ignored(tmp_path):
    """Rewritten by another tool (zipfile, recompressing), the member keeps the extra field
    but not the bytes it describes: it is read as a plain stream."""
    df = frame(50_000)
    path = tmp_path / "b.npz"
    write_npz(df, path, compress=True, block_rows=1_000)
    out = tmp_path / "rewritten.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    assert npz_members(out)["blocks"].null_count() == len(df.columns)
    assert_frame_equal(read_npz(out), df)
    assert_frame_equal(scan_npz(out).filter(pl.col("i") < 10).collect(), df.filter(pl.col("i") < 10))


def test_align_npz_gives_numpy_files_blocks_and_statistics(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "big_endian": np.sort(rng.integers(-(10**6), 10**6, 100_000)).astype(">i4"),
        "floats": rng.normal(size=100_000),
        "text": np.array(["a", "bc"] * 50_000),
        "grid": rng.random((100_000, 3)),
    }
    src = tmp_path / "np.npz"
    np.savez_compressed(src, **arrays)
    dst = tmp_path / "blocked.npz"
    align_npz(src, dst, block_rows=4_096)
    members = npz_members(dst)
    assert members["blocks"].to_list() == [26, 26, 26, 26]
    assert members["statistics"].to_list() == [True, True, False, False]
    with np.load(dst) as z:
        for k, v in arrays.items():
            np.testing.assert_array_equal(z[k], v)
    assert_frame_equal(read_npz(dst), read_npz(src))
    lo = int(arrays["big_endian"][50_000])
    q = pl.col("big_endian").is_between(lo, lo + 100)
    assert_frame_equal(scan_npz(dst).filter(q).collect(), read_npz(src).filter(q))
    # Stored members get statistics too (and what maps zero-copy still does: not a big-endian
    # or a text column, which are converted).
    stored = tmp_path / "stored.npz"
    np.savez(src, **arrays)
    align_npz(src, stored)
    m = npz_members(stored)
    assert m["statistics"].to_list() == [True, True, False, False]
    assert m["zero_copy"].to_list() == [False, True, False, True]


def test_archive_size_within_two_percent_of_savez_compressed(tmp_path):
    rng = np.random.default_rng(3)
    n = 1_000_000
    arrays = {
        "sorted": np.sort(rng.normal(size=n)),
        "ints": rng.integers(0, 1000, n),
        "small": rng.integers(0, 100, n).astype(np.float32),
        "ids": np.arange(n),
    }
    np.savez_compressed(tmp_path / "numpy.npz", **arrays)
    write_npz(arrays, tmp_path / "ours.npz", compress=True)
    ours, theirs = (tmp_path / "ours.npz").stat().st_size, (tmp_path / "numpy.npz").stat().st_size
    assert ours <= theirs * 1.02, (ours, theirs)


# Random data, random block sizes, random predicates: the statistics never change a result.

_KINDS = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "?", "M8[s]", "M8[ms]", "m8[us]", ">i4", ">f8", "<M8[D]"]


@st.composite
def _column(draw: st.DrawFn, kind: str) -> np.ndarray:
    n = draw(st.integers(0, 300))
    dtype = np.dtype(kind)
    if dtype.kind == "f":
        pool = st.one_of(st.integers(-20, 20).map(float), st.sampled_from([np.nan, -0.0, 0.0, np.inf, -np.inf, 0.5]))
        values = np.array(draw(st.lists(pool, min_size=n, max_size=n)), dtype=dtype)
    elif dtype.kind == "b":
        values = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=dtype)
    elif dtype.kind in "Mm":
        ints = draw(st.lists(st.one_of(st.integers(-20, 20), st.just(None)), min_size=n, max_size=n))
        values = np.array([np.iinfo(np.int64).min if v is None else v for v in ints], dtype=np.int64).view(dtype.newbyteorder("="))
        values = values.astype(dtype)
    else:
        info = np.iinfo(dtype)
        edge = st.sampled_from([int(info.min), int(info.max)])
        values = np.array(
            draw(st.lists(st.one_of(st.integers(max(-20, info.min), min(20, info.max)), edge), min_size=n, max_size=n)), dtype=dtype
        )
    if draw(st.booleans()):
        values = np.sort(values)
    return values


def _literal(draw: st.DrawFn, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return pl.lit(draw(st.booleans()))
    if dtype.is_float():
        return pl.lit(draw(st.one_of(st.integers(-21, 21).map(float), st.sampled_from([np.nan, -0.0, np.inf, -0.5]))))
    v = draw(st.integers(-21, 21))
    if dtype.is_integer():
        return pl.lit(v)
    if dtype == pl.Date:
        return pl.lit(dt.date(1970, 1, 1) + dt.timedelta(days=v))
    if isinstance(dtype, pl.Datetime):
        unit = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[dtype.time_unit or "us"]
        return pl.lit(pl.Series([v * unit // (1_000 if dtype.time_unit == "ms" else 1)], dtype=pl.Int64).cast(dtype)[0])
    return pl.lit(pl.Series([v], dtype=pl.Int64).cast(dtype)[0])


@st.composite
def _predicate(draw: st.DrawFn, dtype: pl.DataType, depth: int = 0) -> pl.Expr:
    c = pl.col("x")
    choices = ["cmp", "rcmp", "between", "in", "null", "notnull", "other"]
    if dtype.is_float():
        choices += ["nan"]
    if dtype == pl.Boolean:
        choices += ["bare"]
    if depth < 2:
        choices += ["and", "or", "not"] * 2
    kind = draw(st.sampled_from(choices))
    if kind in ("and", "or"):
        a, b = draw(_predicate(dtype, depth + 1)), draw(_predicate(dtype, depth + 1))
        return a & b if kind == "and" else a | b
    if kind == "not":
        return ~draw(_predicate(dtype, depth + 1))
    if kind == "null":
        return c.is_null()
    if kind == "notnull":
        return c.is_not_null()
    if kind == "nan":
        return c.is_nan() if draw(st.booleans()) else c.is_not_nan()
    if kind == "bare":
        return c
    if kind == "other":
        # The row number, another column (of other block boundaries when x is narrower).
        k = draw(st.integers(-1, 300))
        return pl.col("y") < k if draw(st.booleans()) else pl.col("y") >= k
    if kind == "between":
        closed = draw(st.sampled_from(["both", "left", "right", "none"]))
        return c.is_between(_literal(draw, dtype), _literal(draw, dtype), closed=closed)
    if kind == "in":
        series = pl.select(pl.concat_list([_literal(draw, dtype) for _ in range(draw(st.integers(1, 4)))])).to_series().explode()
        return c.is_in(series.cast(dtype, strict=False).drop_nulls().implode())
    op = draw(st.sampled_from(["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"]))
    lit = _literal(draw, dtype)
    if kind == "cmp":
        return getattr(c, op)(lit)
    return getattr(lit, op)(c)


@given(data=st.data(), kind=st.sampled_from(_KINDS), block_rows=st.integers(1, 64), compress=st.booleans())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_statistics_never_change_a_result(tmp_path_factory, data, kind, block_rows, compress):
    root = tmp_path_factory.mktemp("stats")
    # A dataset of 1 to 3 files, each with a column `x` of one type and the row number `y`.
    columns = data.draw(st.lists(_column(kind), min_size=1, max_size=3))
    files = []
    for k, values in enumerate(columns):
        src = root / f"np{k}.npz"
        (np.savez_compressed if compress else np.savez)(src, x=values, y=np.arange(len(values)))
        dst = root / f"f{k}.npz"
        align_npz(src, dst, block_rows=block_rows)
        files.append(dst)
    plain = scan_npz(files, use_statistics=False).collect()
    pred = data.draw(_predicate(plain.schema["x"]))
    try:
        want = plain.filter(pred)
    except pl.exceptions.PolarsError:
        # This Polars cannot evaluate the predicate on these values (1.x casts a u64 column to
        # i64 against a negative bound): there is no result to compare with.
        return
    assert_frame_equal(scan_npz(files).filter(pred).collect(), want)
    assert_frame_equal(scan_npz(files[0]).filter(pred).collect(), scan_npz(files[0], use_statistics=False).collect().filter(pred))
    k = data.draw(st.integers(0, len(plain)))
    assert_frame_equal(scan_npz(files).head(k).filter(pred).collect(), plain.head(k).filter(pred))
    assert_frame_equal(scan_npz(files, n_rows=k).filter(pred).collect(), plain.head(k).filter(pred))


def test_object_store_filters_request_only_matching_blocks(tmp_path):
    from polars_npz._internal import clear_plan_cache
    from rangeserver import RangeServer

    n = 1_000_000
    rng = np.random.default_rng(5)
    df = pl.DataFrame({"ts": np.arange(n), "v": rng.random(n)})
    write_npz(df, tmp_path / "big.npz", compress=True, block_rows=50_000)
    size = (tmp_path / "big.npz").stat().st_size
    q = pl.col("ts").is_between(500_000, 549_999)
    with RangeServer(tmp_path) as server:
        clear_plan_cache()
        server.reset()
        got = scan_npz(server.url("big.npz")).filter(q).collect()
        assert_frame_equal(got, df.filter(q))
        # One block of each column (of 20), the index and headers: far from the whole object.
        assert server.bytes_sent < size / 5, (server.bytes_sent, size)
        clear_plan_cache()
        server.reset()
        assert_frame_equal(scan_npz(server.url("big.npz"), use_statistics=False).filter(q).collect(), df.filter(q))
        assert server.bytes_sent > size * 0.9, (server.bytes_sent, size)


@pytest.mark.skipif(not hasattr(pl.LazyFrame, "sink_batches"), reason="sink_npz needs LazyFrame.sink_batches")
def test_sink_npz_writes_blocks_and_statistics(tmp_path):
    from polars_npz import sink_npz

    df = frame(200_000)
    for compress in (False, True):
        path = tmp_path / f"s{compress}.npz"
        sink_npz(df.lazy(), path, compress=compress)
        members = npz_members(path)
        assert members["statistics"].to_list() == [True, True, True, True, True, False]
        if compress:
            assert all(b is not None and b >= 1 for b in members["blocks"].to_list())
        assert_frame_equal(read_npz(path), df)
        q = pl.col("i").is_between(1000, 1010)
        assert_frame_equal(scan_npz(path).filter(q).collect(), df.filter(q))


def test_small_reads_inflate_a_block_part_way(tmp_path):
    """A head, or small batches, inflate a block only as far as they need, and go on from there:
    equal values, and a corrupt end of the first block is never reached by a head."""
    pa = pytest.importorskip("pyarrow")
    from polars_npz import npz_stream

    df = frame(100_000).select("i", "t")
    path = tmp_path / "b.npz"
    write_npz(df, path, compress=True, block_rows=7_777)
    assert_frame_equal(pl.from_arrow(pa.table(npz_stream(path, batch_rows=333))), df)
    # The second block's offset, from the index of `i` (its first extra field of the kind).
    data = path.read_bytes()
    at = data.index(b"NPZB") + 64 + 12 * 2
    second = int.from_bytes(data[at : at + 8], "little")
    start = member_data_range(path, "i.npy")[0]
    corrupt(path, start + second - 12)
    assert scan_npz(path).head(10).collect()["i"].to_list() == list(range(10))
    with pytest.raises(NpzError, match=r"i\.npy"):
        read_npz(path)


@pytest.mark.parametrize("switch", [True, False])
def test_filters_over_two_columns_with_statistics_warn_nothing(tmp_path, monkeypatch, switch):
    """Blocks of two columns' statistics are matched by an as-of join over rows sorted by
    construction: the user sees no warning about sortedness, and with warnings as errors the
    blocks are still skipped (the last block of `i` is corrupt: reading it would fail). Also
    on a Polars whose join_asof lacks `check_sortedness` (`switch` False)."""
    import warnings

    from polars_npz import _stats

    if not switch:
        monkeypatch.setattr(_stats, "_join_asof_checks_sortedness", lambda: False)
    df = frame()
    path = tmp_path / "b.npz"
    write_npz(df.select("i", "t"), path, compress=True, block_rows=10_000)
    end = member_data_range(path, "i.npy")[1]
    corrupt(path, end - 20)  # the last block of `i`
    want = df.select("i", "t").filter((pl.col("i") < 25_000) & (pl.col("t") < 0))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = scan_npz(path).filter((pl.col("i") < 25_000) & (pl.col("t") < 0)).collect()
    assert [str(w.message) for w in seen] == []
    assert_frame_equal(got, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_frame_equal(scan_npz(path).filter((pl.col("i") < 25_000) & (pl.col("t") < 0)).collect(), want)
