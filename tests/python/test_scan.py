"""scan_npz / read_npz against numpy's own np.load, on archives numpy wrote."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import polars_npz
import pytest
from conftest import array_data_offset, assert_matches_numpy, needs_polars2
from polars_npz import NpzError, npz_members, read_npz, scan_npz
from polars_npz._internal import Archive

NUMERIC = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]
SHAPES = [(0,), (1,), (17,), (1000,), (7, 3), (4, 2, 3), (0, 4), (3, 1, 1, 2)]


def sample(dtype: np.dtype, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind == "f":
        a = rng.normal(0, 1e3, shape).astype(dtype)
        flat = a.reshape(-1)
        flat[::7] = np.inf if flat.size > 14 else flat[::7]
        return a
    info = np.iinfo(dtype)
    native = dtype.newbyteorder("=")
    return rng.integers(info.min, info.max, shape, dtype=native, endpoint=True).astype(dtype)


def collect_both(lf: pl.LazyFrame) -> pl.DataFrame:
    a = lf.collect(engine="in-memory")
    b = lf.collect(engine="streaming")
    assert a.equals(b), (a, b)
    return a


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("code", NUMERIC)
def test_every_numeric_dtype_matches_numpy(tmp_npz, code, order, compressed):
    dtype = np.dtype(order + code)
    shapes = [(17,), (17, 3), (17, 2, 3)]
    arrays = {f"a{i}": sample(dtype, s, i) for i, s in enumerate(shapes)}
    path = tmp_npz(arrays, compressed)
    ref = np.load(path, allow_pickle=False)
    df = collect_both(scan_npz(path))
    eager = read_npz(path)
    assert df.equals(eager)
    assert df.columns == list(ref.files)
    for name in ref.files:
        assert_matches_numpy(df[name], ref[name])


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
@pytest.mark.parametrize("shape", SHAPES + [()])
def test_shapes(tmp_npz, shape, compressed):
    arr = sample(np.dtype("<i4"), shape)
    path = tmp_npz({"x": arr}, compressed)
    df = collect_both(scan_npz(path))
    ref = np.load(path)["x"]
    assert df.height == (1 if arr.ndim == 0 else arr.shape[0])
    assert_matches_numpy(df["x"], ref)
    if arr.ndim > 1:
        assert df.schema["x"] == pl.Array(pl.Int32, shape[1:])


def test_projection_filter_head_and_sql(tmp_npz):
    n = 5000
    arrays = {"a": np.arange(n, dtype=np.int64), "b": np.arange(n) * 0.5, "c": (np.arange(n) % 3).astype(np.uint8)}
    for compressed in (False, True):
        path = tmp_npz(arrays, compressed)
        lf = scan_npz(path)
        assert lf.collect_schema() == pl.Schema({"a": pl.Int64, "b": pl.Float64, "c": pl.UInt8})
        out = collect_both(lf.filter(pl.col("c") == 1).select("b", "a").head(10))
        exp_a = arrays["a"][arrays["c"] == 1][:10]
        assert out.columns == ["b", "a"]
        assert out["a"].to_list() == exp_a.tolist()
        assert out["b"].to_list() == (exp_a * 0.5).tolist()
        assert collect_both(lf.head(3))["a"].to_list() == [0, 1, 2]
        assert collect_both(lf.tail(2))["a"].to_list() == [n - 2, n - 1]
        assert collect_both(lf.select(pl.len())).item() == n
        assert collect_both(lf.slice(100, 5))["a"].to_list() == list(range(100, 105))
        sums = collect_both(lf.group_by("c").agg(pl.col("a").sum()).sort("c"))
        assert sums["a"].to_list() == [int(arrays["a"][arrays["c"] == k].sum()) for k in range(3)]
        with pl.SQLContext(frames={"arr": lf}) as ctx:
            res = ctx.execute("SELECT c, COUNT(*) AS n, MAX(a) AS m FROM arr WHERE b > 100 GROUP BY c ORDER BY c", eager=True)
        mask = arrays["b"] > 100
        assert res["n"].to_list() == [int((arrays["c"][mask] == k).sum()) for k in range(3)]
        assert res["m"].to_list() == [int(arrays["a"][mask & (arrays["c"] == k)].max()) for k in range(3)]


def test_n_rows_row_index_and_file_paths(tmp_npz):
    arrays = {"a": np.arange(100, dtype=np.int32), "b": np.arange(100, dtype=np.float32)}
    path = tmp_npz(arrays, True)
    lf = scan_npz(path, n_rows=30, row_index_name="idx", row_index_offset=10, include_file_paths="path")
    df = collect_both(lf)
    assert df.columns == ["idx", "a", "b", "path"]
    assert df.height == 30
    assert df["idx"].to_list() == list(range(10, 40))
    assert df["path"].unique().to_list() == [str(path)]
    # The row index counts rows of the archive, before any filter.
    f = collect_both(lf.filter(pl.col("a") % 10 == 3).select("idx", "a"))
    assert f["idx"].to_list() == [13, 23, 33]
    assert f["a"].to_list() == [3, 13, 23]
    only_index = collect_both(lf.select("idx"))
    assert only_index["idx"].to_list() == list(range(10, 40))
    # n_rows with a filter: the filter sees only the first n_rows rows.
    assert collect_both(scan_npz(path, n_rows=5).filter(pl.col("a") > 3))["a"].to_list() == [4]
    # head after a filter
    assert collect_both(scan_npz(path).filter(pl.col("a") > 50).head(2))["a"].to_list() == [51, 52]
    assert read_npz(path, columns=["b"], n_rows=3)["b"].to_list() == [0.0, 1.0, 2.0]
    assert read_npz(path, n_rows=0).height == 0


def test_streaming_batches_match(tmp_npz):
    n = 250_003
    arrays = {"x": np.arange(n, dtype=np.int64), "y": np.random.default_rng(1).random((n, 2))}
    for compressed in (False, True):
        path = tmp_npz(arrays, compressed)
        lf = scan_npz(path, row_index_name="i")
        out = lf.collect(engine="streaming")
        assert out.equals(lf.collect(engine="in-memory"))
        assert out["x"].to_list() == arrays["x"].tolist()
        np.testing.assert_array_equal(out["y"].to_numpy(), arrays["y"])
        s = lf.select(pl.col("x").sum(), pl.col("i").max()).collect(engine="streaming")
        assert s["x"].item() == arrays["x"].sum() and s["i"].item() == n - 1


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_large_members_copied_in_parallel_match_numpy(tmp_npz, compressed):
    """Members of several MiB take the parallel copy and byte-swap paths (pieces of 1 MiB):
    misaligned, big-endian and odd-sized members, from a mapping, positioned reads and bytes."""
    n = 1_200_001  # not a multiple of any piece size
    arrays = {
        "a": sample(np.dtype("<f8"), (n,), 1),
        "be8": sample(np.dtype(">i8"), (n,), 2),
        "be4": sample(np.dtype(">f4"), (n, 3), 3),
        "be2": sample(np.dtype(">u2"), (n, 2), 4),
        "bec": (sample(np.dtype("<f8"), (n,), 5) + 1j).astype(">c16"),
        "i4": sample(np.dtype("<i4"), (n, 2), 6),
    }
    path = tmp_npz(arrays, compressed)
    ref = np.load(path)
    offsets = {k: array_data_offset(path, k + ".npy") for k in arrays} if not compressed else {}
    assert compressed or any(o % 8 for o in offsets.values()), offsets  # some member is misaligned
    frames = [
        read_npz(path),
        read_npz(path, memory_map=False),
        read_npz(path.read_bytes()),
        scan_npz(path).collect(engine="streaming"),
    ]
    for df in frames:
        for name in arrays:
            if name == "bec":  # complex: Array(Float64, 2) of [re, im]
                pairs = ref[name].astype("<c16").view("<f8").reshape(n, 2)
                np.testing.assert_array_equal(df[name].to_numpy(), pairs)
            else:
                assert_matches_numpy(df[name], ref[name])


def test_large_time_members_convert_in_parallel(tmp_npz):
    """Over 262,144 values, unit scaling and day conversion run in pieces: compare with numpy,
    NaT in every piece, and an out-of-range value in a late piece is still an error."""
    n = 1_000_003
    rng = np.random.default_rng(7)
    secs = rng.integers(-(10**10), 10**10, n)
    nat = np.zeros(n, dtype=bool)
    nat[::50_000] = True

    def with_nat(v):
        v = v.copy()
        v[nat] = np.iinfo(np.int64).min  # NaT
        return v

    arrays = {
        "s": with_nat(secs).astype("M8[s]"),
        "d": with_nat(secs // 86_400).astype("M8[D]"),
        "mo": with_nat(secs // 10**7).astype("M8[M]"),
        "td": with_nat(secs).astype("m8[m]"),
    }
    path = tmp_npz(arrays)
    df = read_npz(path)
    assert df.equals(scan_npz(path).collect(engine="streaming"))
    for name, a in arrays.items():
        assert df[name].is_null().to_numpy().tolist() == nat.tolist()
        unit = {"s": "ms", "d": "D", "mo": "D", "td": "ms"}[name]
        want = a[~nat].astype(f"{a.dtype.str[1]}8[{unit}]")
        got = df[name].drop_nulls().to_numpy()
        np.testing.assert_array_equal(got.astype(want.dtype), want)
    big = secs.copy()
    big[900_000] = np.iinfo(np.int64).max // 10
    with pytest.raises(NpzError, match=r"out of the range"):
        read_npz(tmp_npz({"s": big.astype("M8[s]")}))


def test_large_string_members_decode_in_pieces(tmp_npz, tmp_path):
    """Over 2 MiB of strings are decoded in 1 MiB pieces on the pool and joined: compare with
    numpy, and an invalid code point in a late piece is reported at its own index."""
    n = 200_003
    rng = np.random.default_rng(11)
    words = np.array(["", "a", "héllo", "日本語テキスト", "x" * 20, "emoji 🎉", "tail\x00mid"])
    u = words[rng.integers(0, len(words), n)].astype("U24")
    arrays = {
        "u": u,
        "ube": u.astype(">U24"),
        "s": np.char.encode(u, "utf-8").astype("S40"),
        "v": np.frombuffer(rng.bytes(n * 12), dtype="V12"),
    }
    path = tmp_npz(arrays)
    ref = np.load(path)
    for df in (read_npz(path), scan_npz(path).collect(engine="streaming")):
        assert df["u"].to_list() == ref["u"].tolist()
        assert df["ube"].to_list() == ref["ube"].tolist()
        assert df["s"].to_list() == ref["s"].tolist()
        assert df["v"].to_list() == [bytes(x) for x in ref["v"].tolist()]
    bad = np.zeros(n, dtype="<U24")
    raw = bad.view("<u4").reshape(n, 24)
    raw[:, 0] = ord("k")
    raw[150_000, 3] = 0x110000  # beyond Unicode
    bad_path = tmp_path / "bad.npz"
    np.savez(bad_path, u=bad)
    with pytest.raises(NpzError, match=r"u\.npy.*string 150000 holds an invalid code point 0x110000"):
        read_npz(bad_path)


def test_large_record_members_match_numpy(tmp_npz):
    # Over 1 MiB of records: fields are gathered and decoded in parallel.
    n = 150_001
    dt = np.dtype([("x", "<f4"), ("flag", "?"), ("id", ">i8"), ("pair", "<u2", (2,)), ("inner", [("a", "<i2"), ("b", "S3")])], align=True)
    rng = np.random.default_rng(5)
    rec = np.zeros(n, dtype=dt)
    rec["x"] = rng.normal(size=n)
    rec["flag"] = rng.random(n) > 0.5
    rec["id"] = rng.integers(-(2**60), 2**60, n)
    rec["pair"] = rng.integers(0, 65535, (n, 2))
    rec["inner"]["a"] = rng.integers(-30000, 30000, n)
    rec["inner"]["b"] = rng.choice([b"", b"ab", b"xyz"], n)
    for compressed in (False, True):
        path = tmp_npz({"rec": rec}, compressed)
        ref = np.load(path)["rec"]
        df = read_npz(path)
        s = df["rec"].struct
        for name in ("x", "flag", "id"):
            np.testing.assert_array_equal(s.field(name).to_numpy(), ref[name].astype(ref[name].dtype.newbyteorder("=")))
        np.testing.assert_array_equal(s.field("pair").to_numpy(), ref["pair"])
        inner = s.field("inner").struct
        np.testing.assert_array_equal(inner.field("a").to_numpy(), ref["inner"]["a"])
        assert inner.field("b").to_list() == ref["inner"]["b"].tolist()
        assert df.equals(scan_npz(path).collect(engine="streaming"))


def test_zero_d_members_broadcast(tmp_npz):
    path = tmp_npz({"x": np.arange(4), "scale": np.float32(2.5), "flag": np.bool_(True)})
    df = collect_both(scan_npz(path))
    assert df["scale"].to_list() == [2.5] * 4
    assert df["flag"].to_list() == [True] * 4
    only = collect_both(scan_npz(path).select("scale"))
    assert only["scale"].to_list() == [2.5] * 4
    alone = tmp_npz({"k": np.int16(7)}, True)
    assert collect_both(scan_npz(alone))["k"].to_list() == [7]


def test_zero_width_inner_dimension_is_a_clear_error(tmp_npz):
    path = tmp_npz({"x": np.ones((4, 0)), "y": np.arange(4)})
    assert scan_npz(path).collect_schema()["x"] == pl.Array(pl.Float64, 0)
    assert collect_both(scan_npz(path).select("y"))["y"].to_list() == [0, 1, 2, 3]
    with pytest.raises(NpzError, match="inner dimension of length 0"):
        scan_npz(path).collect()


def test_different_lengths_raise_naming_each_member(tmp_npz):
    path = tmp_npz({"a": np.arange(3), "b": np.arange(5)})
    assert collect_both(scan_npz(path).select("a"))["a"].to_list() == [0, 1, 2]
    assert read_npz(path, columns=["b"]).height == 5
    with pytest.raises(NpzError, match=r"'a' has 3 rows, 'b' has 5 rows"):
        scan_npz(path).collect()
    with pytest.raises(NpzError, match=str(path)):
        read_npz(path)


def corrupt_member(path: Path, member: str, where: str = "end") -> None:
    """Flip bytes inside a member's compressed data."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    raw = bytearray(path.read_bytes())
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    end = start + info.compress_size
    lo = end - info.compress_size // 4 if where == "end" else start + info.compress_size // 2
    for i in range(lo, min(lo + 64, end)):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))


def test_corrupt_unselected_member_is_harmless(tmp_npz):
    rng = np.random.default_rng(0)
    path = tmp_npz({"good": np.arange(20_000), "bad": rng.random(20_000)}, True)
    corrupt_member(path, "bad.npy")
    assert collect_both(scan_npz(path).select("good"))["good"].to_list() == list(range(20_000))
    with pytest.raises(NpzError, match=r"bad\.npy"):
        scan_npz(path).select("bad").collect()
    with pytest.raises(NpzError, match=r"bad\.npy"):
        scan_npz(path).collect(engine="streaming")
    with pytest.raises(NpzError, match=r"bad\.npy"):
        read_npz(path, columns=["bad"])


def test_head_of_deflated_member_inflates_only_what_it_needs(tmp_npz):
    # The tail of the deflate stream is corrupt: reading it all fails, a head does not.
    path = tmp_npz({"x": np.arange(200_000, dtype=np.int64)}, True)
    corrupt_member(path, "x.npy", "end")
    assert collect_both(scan_npz(path).head(1000))["x"].to_list() == list(range(1000))
    assert read_npz(path, n_rows=10)["x"].to_list() == list(range(10))
    with pytest.raises(NpzError, match=r"x\.npy"):
        read_npz(path)


def test_head_of_fortran_member_reads_only_its_rows(tmp_npz):
    # Fortran order: the first rows of each column of a (n, 2) array lie in the first half of
    # the data; with the last quarter of the deflate stream corrupt, a head still succeeds.
    rng = np.random.default_rng(3)
    a = np.asfortranarray(rng.integers(-(2**62), 2**62, (200_000, 2)))
    for compressed in (False, True):
        path = tmp_npz({"f": a}, compressed)
        if compressed:
            corrupt_member(path, "f.npy", "end")
        got = collect_both(scan_npz(path).head(1000))["f"].to_numpy()
        np.testing.assert_array_equal(got, a[:1000])
        np.testing.assert_array_equal(read_npz(path, n_rows=7)["f"].to_numpy(), a[:7])
        if compressed:
            with pytest.raises(NpzError, match=r"f\.npy"):
                read_npz(path)
        else:
            np.testing.assert_array_equal(read_npz(path)["f"].to_numpy(), a)


def aligned_and_misaligned(tmp_npz):
    """An np.savez archive with one 8-aligned float64 member and one misaligned."""
    for extra in range(64):
        arrays = {"a" * (extra + 1): np.arange(1000.0), "m": np.arange(1000.0)}
        path = tmp_npz(arrays)
        offsets = {k: array_data_offset(path, k + ".npy") for k in arrays}
        aligned = [k for k, o in offsets.items() if o % 8 == 0]
        misaligned = [k for k, o in offsets.items() if o % 8 != 0]
        if aligned and misaligned:
            return path, aligned[0], misaligned[0], offsets
    raise AssertionError("no layout found")


def test_zero_copy_for_aligned_stored_member_and_copy_otherwise(tmp_npz):
    path, aligned, misaligned, offsets = aligned_and_misaligned(tmp_npz)
    members = npz_members(path)
    zc = dict(zip(members["name"], members["zero_copy"]))
    assert zc[aligned] and not zc[misaligned]
    assert dict(zip(members["name"], members["data_offset"])) == offsets

    archive = Archive(str(path))
    lo, size = archive.mapping_range()
    for name, inside in ((aligned, True), (misaligned, False)):
        (col,) = archive.batches([name]).next()
        s = pl.Series(col)
        view = s.to_numpy(allow_copy=False)  # no copy on the Polars -> numpy side
        addr = view.ctypes.data
        assert (lo <= addr < lo + size) == inside, (name, hex(addr), hex(lo), size)
        if inside:
            assert addr == lo + offsets[name]
        np.testing.assert_array_equal(view, np.arange(1000.0))
    # memory_map=False never points into a mapping.
    assert Archive(str(path), False).mapping_range() is None
    assert read_npz(path, memory_map=False).equals(read_npz(path))


def test_npz_members_lists_everything(tmp_npz):
    path = tmp_npz({"x": np.zeros((3, 2), dtype=">i2"), "s": np.float64(1)}, True)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("README.txt", "not an array")
    m = npz_members(path)
    assert m["member"].to_list() == ["x.npy", "s.npy", "README.txt"]
    assert m["name"].to_list() == ["x", "s", None]
    assert m["numpy_dtype"].to_list() == [">i2", "<f8", None]
    assert m["shape"].to_list() == [[3, 2], [], None]
    assert m["polars_dtype"].to_list()[:2] == ["Array(Int16, shape=(2,))", "Float64"]
    assert m["compression"].to_list() == ["deflated", "deflated", "stored"]
    assert scan_npz(path).collect_schema().names() == ["x", "s"]


def test_unsupported_dtype_is_a_clear_error(tmp_npz):
    path = tmp_npz({"ok": np.arange(3), "obj": np.array([1, "a", None], dtype=object)})
    assert scan_npz(path).select("ok").collect()["ok"].to_list() == [0, 1, 2]
    with pytest.raises(NpzError, match=r"obj\.npy.*pickle") as e:
        scan_npz(path).collect()
    assert e.value.kind == "unsupported" and e.value.member == "obj.npy"
    m = npz_members(path)
    assert m.filter(pl.col("name") == "obj")["error"].item() is not None


def test_errors_name_the_file(tmp_path):
    # A missing file or a permission problem is an OSError (as open() and pl.scan_parquet
    # raise); problems with the archive itself are NpzError.
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match="missing.npz") as e:
        scan_npz(missing)
    assert e.value.filename == str(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file" * 10)
    with pytest.raises(NpzError, match="junk.npz") as e:
        scan_npz(junk)
    assert e.value.kind == "corrupt" and e.value.path == str(junk) and e.value.member is None
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(NpzError, match="empty.npz"):
        read_npz(empty)
    assert issubclass(NpzError, Exception)
    assert set(polars_npz.__all__) >= {"scan_npz", "read_npz", "npz_members", "NpzError"}


def test_unknown_column(tmp_npz):
    path = tmp_npz({"a": np.arange(3)})
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="zz"):
        read_npz(path, columns=["zz"])
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        scan_npz(path).select("zz").collect()


def test_bytes_and_file_objects(tmp_npz):
    import io

    arrays = {"a": np.arange(10), "b": np.linspace(0, 1, 10)}
    for compressed in (False, True):
        path = tmp_npz(arrays, compressed)
        data = path.read_bytes()
        expected = read_npz(path)
        assert read_npz(data).equals(expected)
        assert collect_both(scan_npz(io.BytesIO(data))).equals(expected)
        with open(path, "rb") as f:
            assert scan_npz(f, include_file_paths="p").collect()["p"][0] == "open-file"  # as Polars names it
        assert scan_npz(data, include_file_paths="p").collect()["p"][0] == "in-mem"
        assert npz_members(data)["name"].to_list() == ["a", "b"]
    with pytest.raises(NpzError, match="<bytes>"):
        read_npz(b"not a zip")
    with pytest.raises(TypeError):
        read_npz(42)


def test_zero_d_selection_of_an_archive_of_mixed_lengths(tmp_path):
    # As scipy.sparse.save_npz writes: arrays of different lengths beside 0-d metadata.
    path = tmp_path / "sparse.npz"
    np.savez(path, indices=np.arange(5), indptr=np.arange(3), format=np.array("csr"), shape=np.array([2, 4]))
    lf = scan_npz(path)
    # 0-d arrays alone: one row, whatever the other arrays' lengths.
    assert lf.select("format").collect()["format"].to_list() == ["csr"]
    assert read_npz(path, columns=["format"]).shape == (1, 1)
    assert lf.select("indices").collect()["indices"].to_list() == [0, 1, 2, 3, 4]
    assert lf.select("indices", "format").collect().shape == (5, 2)
    # An error names only the arrays the query selected.
    with pytest.raises(NpzError, match="'indices' has 5 rows, 'indptr' has 3") as e:
        lf.select("indices", "indptr").collect()
    assert "shape" not in str(e.value)


def test_void_of_zero_bytes_is_read_as_numpy_reads_it(tmp_path):
    path = tmp_path / "v0.npz"
    np.savez(path, v=np.zeros(3, dtype="V0"), x=np.arange(3))
    with np.load(path) as z:
        assert z["v"].tolist() == [b"", b"", b""]
    df = read_npz(path)
    assert df.schema["v"] == pl.Binary and df["v"].to_list() == [b"", b"", b""]


@needs_polars2
def test_explain_names_the_scan(tmp_npz):
    path = tmp_npz({"x": np.arange(3)})
    plan = scan_npz(path).select("x").explain()
    assert "npz" in plan and "PYTHON SCAN []" not in plan
    plan = scan_npz(path.read_bytes()).explain()
    assert "npz" in plan
