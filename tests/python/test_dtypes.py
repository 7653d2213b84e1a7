"""The whole numpy -> Polars type table, property-tested against np.load and the reference."""

from __future__ import annotations

import datetime
import zipfile

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from polars_npz import NpzError, npz_members, read_npz, scan_npz
from reference import assert_column

INT_CODES = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
TIME_UNITS_M = ["ns", "us", "ms", "s", "m", "h", "D", "W", "M", "Y"]
TIME_UNITS_TD = ["ns", "us", "ms", "s", "m", "h", "D", "W"]
# Tick ranges that stay inside Polars' types after conversion.
TIME_LIMIT = {"ns": 2**62, "us": 2**62, "ms": 2**60, "s": 2**50, "m": 2**44, "h": 2**40, "D": 2**30, "W": 2**26, "M": 2**24, "Y": 2**20}
CHARS = list("abcxyz AZ09._-") + ["é", "ß", "中", "€", "😀", "\x00", "\n"]


def base_dtypes() -> st.SearchStrategy[np.dtype]:
    simple = st.sampled_from(["?"] + INT_CODES + ["f2", "f4", "f8", "c8", "c16"]).map(np.dtype)
    dt = st.sampled_from(TIME_UNITS_M).map(lambda u: np.dtype(f"M8[{u}]"))
    td = st.sampled_from(TIME_UNITS_TD).map(lambda u: np.dtype(f"m8[{u}]"))
    text = st.tuples(st.sampled_from("USV"), st.integers(1, 6)).map(lambda t: np.dtype(f"{t[0]}{t[1]}"))
    return st.one_of(simple, dt, td, text)


@st.composite
def record_dtypes(draw, depth: int = 0) -> np.dtype:
    n = draw(st.integers(1, 4))
    names = draw(st.lists(st.text(st.sampled_from(list("abcdéz_中")), min_size=1, max_size=4), min_size=n, max_size=n, unique=True))
    fields = []
    for name in names:
        if depth < 1 and draw(st.integers(0, 5)) == 0:
            sub = draw(record_dtypes(depth + 1))
        else:
            sub = draw(base_dtypes())
        shape = draw(st.sampled_from([(), (), (2,), (2, 3)]))
        fields.append((name, sub, shape) if shape else (name, sub))
    return np.dtype(fields, align=draw(st.booleans()))


def with_order(dt: np.dtype, order: str) -> np.dtype:
    return dt.newbyteorder(order) if order != "=" else dt


def make_values(dt: np.dtype, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if dt.names is not None:
        out = np.zeros(shape, dt)
        for name in dt.names:
            fdt = dt.fields[name][0]
            base, sub = fdt.subdtype if fdt.subdtype else (fdt, ())
            out[name] = make_values(base, shape + tuple(sub), rng)
        return out
    kind = dt.kind
    if kind == "b":
        return rng.random(shape) > 0.5
    if kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, shape, dtype=dt.newbyteorder("="), endpoint=True).astype(dt)
    if kind == "f":
        v = rng.normal(0, 1, shape) * 10.0 ** rng.integers(-3, 4, shape)
        flat = v.reshape(-1)
        for i, special in zip(rng.integers(0, max(flat.size, 1), 3), [np.nan, np.inf, -0.0]):
            if flat.size:
                flat[i] = special
        return v.astype(dt)
    if kind == "c":
        return (make_values(np.dtype("f8"), shape, rng) + 1j * make_values(np.dtype("f8"), shape, rng)).astype(dt)
    if kind in "Mm":
        unit = np.datetime_data(dt)[0]
        lim = TIME_LIMIT[unit]
        ticks = rng.integers(-lim, lim, shape, dtype=np.int64)
        flat = ticks.reshape(-1)
        if flat.size:
            flat[rng.integers(0, flat.size)] = np.iinfo(np.int64).min  # NaT
        return ticks.view(dt.newbyteorder("="))
    if kind == "U":
        n = dt.itemsize // 4
        items = ["".join(rng.choice(CHARS, rng.integers(0, n + 1))) for _ in range(int(np.prod(shape)))]
        return np.array(items, dtype=f"U{n}").reshape(shape)
    if kind in "SV":
        raw = rng.integers(0, 256, (*shape, dt.itemsize), dtype=np.uint8)
        raw[..., -1] = np.where(rng.random(shape) < 0.3, 0, raw[..., -1])  # trailing NULs sometimes
        return np.ascontiguousarray(raw).view(dt).reshape(shape)
    raise AssertionError(dt)


@st.composite
def archives(draw):
    dt = draw(st.one_of(base_dtypes(), base_dtypes(), record_dtypes()))
    order = draw(st.sampled_from(["<", ">", "="]))
    rows = draw(st.one_of(st.integers(0, 5), st.integers(0, 3000)))
    trailing = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    fortran = draw(st.booleans())
    name = draw(st.sampled_from(["x", "a.b", "sub/dir/x", "ünï", "with space", "x.npy"]))
    compressed = draw(st.booleans())
    scalar = draw(st.booleans())
    data_seed = draw(st.integers(0, 2**32 - 1))
    return dt, order, rows, trailing, fortran, name, compressed, scalar, data_seed


@seed(20261126)
@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(archives())
def test_type_table_property(tmp_path_factory, case):
    dt, order, rows, trailing, fortran, name, compressed, scalar, data_seed = case
    rng = np.random.default_rng(data_seed)
    arr = make_values(dt, (rows, *trailing), rng)
    arr = arr.astype(with_order(arr.dtype, order))
    if fortran:
        arr = np.asfortranarray(arr)
    arrays = {name: arr}
    if scalar:  # a 0-d member of the same type, broadcast to the frame's height
        arrays["scalar_meta"] = make_values(dt, (), rng).astype(with_order(dt, order))
    path = tmp_path_factory.mktemp("h") / "t.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    ref = np.load(path, allow_pickle=False)
    lf = scan_npz(path)
    a = lf.collect(engine="in-memory")
    b = lf.collect(engine="streaming")
    assert a.equals(b)
    for key in ref.files:
        assert_column(a[key], ref[key], height=rows)
    if rows > 2:
        head = lf.head(2).collect()
        for key in ref.files:
            assert_column(head[key], ref[key][:2] if ref[key].ndim else ref[key], height=2)


@pytest.mark.parametrize("compressed", [False, True])
def test_record_array_table(tmp_path, compressed):
    """A record array of trades: dates, prices, volumes, symbols."""
    trades = np.array(
        [("2024-01-02", 101.5, 300, "AAPL"), ("2024-01-03", 99.25, 150, "MSFT"), ("NaT", np.nan, 0, "")],
        dtype=[("date", "M8[D]"), ("price", ">f8"), ("volume", "<u4"), ("symbol", "U8")],
    )
    path = tmp_path / "trades.npz"
    (np.savez_compressed if compressed else np.savez)(path, trades=trades)
    df = read_npz(path).unnest("trades")
    assert df.schema == pl.Schema({"date": pl.Date, "price": pl.Float64, "volume": pl.UInt32, "symbol": pl.String})
    assert df["date"].to_list()[:2] == [datetime.date(2024, 1, 2), datetime.date(2024, 1, 3)]
    assert df["date"][2] is None
    assert df["symbol"].to_list() == ["AAPL", "MSFT", ""]
    got = scan_npz(path).select(pl.col("trades").struct.field("volume").sum()).collect().item()
    assert got == 450


def test_grid_with_scalar_metadata(tmp_path):
    grid = np.arange(12, dtype=np.int32).reshape(4, 3)
    path = tmp_path / "grid.npz"
    np.savez(path, grid=grid, dx=np.float64(0.5), label=np.str_("run 7"), nx=np.int64(3))
    df = read_npz(path)
    assert df.height == 4
    assert df["grid"].to_numpy().tolist() == grid.tolist()
    assert df["dx"].to_list() == [0.5] * 4
    assert df["label"].to_list() == ["run 7"] * 4
    only_meta = scan_npz(path).select("dx", "nx").collect()
    assert only_meta.height == 4


def test_many_members_of_different_lengths_one_at_a_time(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {f"m{i:03d}": rng.random(int(rng.integers(0, 50))) for i in range(200)}
    path = tmp_path / "many.npz"
    np.savez_compressed(path, **arrays)
    m = npz_members(path)
    assert m.height == 200
    for name, arr in arrays.items():
        got = scan_npz(path).select(name).collect()[name].to_numpy()
        np.testing.assert_array_equal(got, arr)
    with pytest.raises(NpzError, match="different lengths"):
        scan_npz(path).collect()


def _npy_bytes(arr: np.ndarray, version: tuple[int, int], quote: str = "'") -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    data = buf.getvalue()
    if quote == '"':
        hlen_size = 2 if version[0] == 1 else 4
        start = 8 + hlen_size
        hlen = int.from_bytes(data[8:start], "little")
        header = data[start : start + hlen].replace(b"'", b'"')
        data = data[:start] + header + data[start + hlen :]
    return data


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("quote", ["'", '"'])
def test_header_versions_and_quotes(tmp_path, version, quote):
    arr = np.array([(1, 2.0)], dtype=[("é", "<i4"), ("b", "<f8")]) if version == (3, 0) else np.arange(5, dtype=">i2")
    path = tmp_path / "v.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("arr.npy", _npy_bytes(arr, version, quote))
        zf.writestr("notes.txt", b"foreign member")
    ref = np.load(path)["arr"]
    df = read_npz(path)
    assert df.columns == ["arr"]
    assert_column(df["arr"], ref)
    assert npz_members(path)["member"].to_list() == ["arr.npy", "notes.txt"]


@pytest.mark.parametrize(
    ("arr", "match"),
    [
        (np.array([1, "a"], dtype=object), "pickle"),
        (np.array([1.0], dtype=np.longdouble), "long double"),
        (np.array([1j], dtype=np.clongdouble), "long double"),
        (np.array([1], dtype="m8[M]"), "no fixed length"),
        (np.array([1], dtype="m8[Y]"), "no fixed length"),
        (np.array([1], dtype="M8[ps]"), "no Polars equivalent"),
    ],
)
def test_refused_types_name_the_member(tmp_path, arr, match):
    path = tmp_path / "r.npz"
    np.savez(path, ok=np.arange(1), bad=arr) if arr.dtype != object else np.savez(path, ok=np.arange(1), bad=arr, allow_pickle=True)
    # The other arrays scan with no extra argument; the refused one is never read silently.
    lf = scan_npz(path)
    assert lf.collect_schema() == pl.Schema({"ok": pl.Int64, "bad": pl.Null})
    assert lf.select("ok").collect()["ok"].to_list() == [0]
    for query in (lf, lf.select("bad"), lf.select(pl.len(), pl.col("bad").first())):
        with pytest.raises(NpzError, match=rf"bad\.npy.*{match}"):
            query.collect()
    with pytest.raises(NpzError, match=rf"bad\.npy.*{match}"):
        read_npz(path)
    assert read_npz(path, columns=["ok"])["ok"].to_list() == [0]


def test_stringdtype_is_refused(tmp_path):
    arr = np.array(["a", "bb"], dtype=np.dtypes.StringDType())
    path = tmp_path / "sd.npz"
    np.savez(path, s=arr, allow_pickle=True)
    with pytest.raises(NpzError, match=r"s\.npy.*pickle"):
        scan_npz(path).collect()


def test_datetime_overflow_is_an_error_not_a_wrap(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, t=np.array([2**62], dtype="M8[s]"))
    with pytest.raises(NpzError, match=r"t\.npy.*out of the range"):
        read_npz(path)
    # Days beyond a Polars Date (i32), also next to NaT and in-range values.
    np.savez(path, d=np.array([0, np.iinfo(np.int64).min, 2**31], dtype="M8[D]"))
    with pytest.raises(NpzError, match=r"d\.npy.*value 2147483648 is out of the range"):
        read_npz(path)
    np.savez(path, d=np.array([-(2**31), np.iinfo(np.int64).min, 2**31 - 1], dtype="M8[D]"))
    assert read_npz(path)["d"].cast(pl.Int32).to_list() == [-(2**31), None, 2**31 - 1]


def test_datetime_zero_copy_keeps_values_and_masks_nat(tmp_path):
    path = tmp_path / "t.npz"
    arr = np.array(["2024-01-01T00:00:00.123456789", "NaT", "1900-01-01"], dtype="M8[ns]")
    np.savez(path, t=arr)
    s = read_npz(path)["t"]
    assert s.null_count() == 1
    assert s.dtype == pl.Datetime("ns")
    assert s.to_physical().to_list() == [int(arr[0].astype(np.int64)), None, int(arr[2].astype(np.int64))]


@pytest.mark.parametrize("field", [("x", "|S0"), ("x", "|V0"), ("x", "|u1", (0,))])
def test_record_fields_of_zero_bytes(tmp_path, field):
    # Found by the structure-aware fuzzer: a record field of 0 bytes made the field gather
    # panic ("chunk size must be non-zero").
    dt = np.dtype([field, ("y", "|u1")])
    arr = np.zeros(3, dtype=dt)
    arr["y"] = [1, 2, 3]
    path = tmp_path / "z.npz"
    np.savez(path, a=arr)
    assert np.load(path)["a"]["y"].tolist() == [1, 2, 3]
    if len(field) == 3:  # an Array of width 0: Python Polars cannot import it
        with pytest.raises(NpzError, match="inner dimension of length 0"):
            read_npz(path)
        return
    df = read_npz(path)
    assert df["a"].struct.field("y").to_list() == [1, 2, 3]
    assert df["a"].struct.field("x").to_list() == [b"", b"", b""]
