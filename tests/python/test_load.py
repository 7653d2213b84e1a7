"""polars_npz.load against np.load: the same arrays (dtype, shape, memory order, every byte)
for every array numpy writes, stored members under mmap_mode mapped from the file (no copy),
pickles refused as numpy refuses them, bad archives an NpzError, URLs read with ranges."""

from __future__ import annotations

import gc
import mmap
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import polars_npz
import pytest
import zipcraft
from hypothesis import HealthCheck, given, seed, settings
from polars_npz import NpzError, load, npz_members, write_npz
from rangeserver import RangeServer
from test_dtypes import archives, make_values, with_order
from zipcraft import Entry, npy

MODES = [None, "r", "c"]


def assert_same(got: np.ndarray, want: np.ndarray, name: str = "") -> None:
    """The same array as numpy's: type (byte order and fields included), shape, memory order,
    and every byte (NaN payloads, padding of structured types aside: compared field-wise)."""
    assert isinstance(got, np.ndarray), (name, type(got))
    assert got.dtype == want.dtype and got.dtype.descr == want.dtype.descr, (name, got.dtype, want.dtype)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    assert got.flags.f_contiguous == want.flags.f_contiguous, name
    assert got.flags.c_contiguous == want.flags.c_contiguous, name
    assert same_bytes(got, want), name


def same_bytes(got: np.ndarray, want: np.ndarray) -> bool:
    """Every byte equal, but the padding of structured types (np.load leaves it unset)."""
    if got.dtype.names is None:
        return got.tobytes(order="A") == want.tobytes(order="A")
    return all(same_bytes(got[n], want[n]) for n in got.dtype.names)


def assert_loads_like_numpy(path: Path, modes: list[str | None] = MODES, **kw: object) -> None:
    with np.load(path, **kw) as ref:  # type: ignore[arg-type]
        want = {k: ref[k] for k in ref.files}
    for mode in modes:
        with load(path, mmap_mode=mode, **kw) as z:  # type: ignore[arg-type]
            assert z.files == list(want), mode
            for k, w in want.items():
                got = z[k]
                if isinstance(w, bytes):
                    assert got == w
                else:
                    assert_same(got, w, f"{k} {mode}")


def mapping_of(arr: np.ndarray) -> mmap.mmap | None:
    """The mmap object at the end of the array's base chain, if any."""
    b: object = arr
    while b is not None and not isinstance(b, mmap.mmap):
        b = getattr(b, "base", None)
    return b


def address_range(m: mmap.mmap) -> tuple[int, int]:
    start = np.frombuffer(m, dtype=np.uint8).ctypes.data
    return start, start + len(m)


# Every kind numpy writes, including those scan_npz refuses (load leaves types to numpy).
TABLE: dict[str, np.ndarray] = {
    **{f"i_{c}_{o}": np.arange(-5, 6).astype(np.dtype(c).newbyteorder(o)) for c in ["i1", "i2", "i4", "i8"] for o in "<>"},
    **{f"u_{c}_{o}": np.arange(11).astype(np.dtype(c).newbyteorder(o)) for c in ["u1", "u2", "u4", "u8"] for o in "<>"},
    **{
        f"f_{c}_{o}": np.array([0.5, -0.0, np.nan, np.inf, 1e-3]).astype(np.dtype(c).newbyteorder(o))
        for c in ["f2", "f4", "f8"]
        for o in "<>"
    },
    **{f"c_{c}_{o}": np.array([1 + 2j, np.nan - 1j]).astype(np.dtype(c).newbyteorder(o)) for c in ["c8", "c16"] for o in "<>"},
    "longdouble": np.array([1.5, -2.25], dtype=np.longdouble),
    "clongdouble": np.array([1.5 + 1j], dtype=np.clongdouble),
    "bool": np.array([True, False, True]),
    "bytes": np.array([b"ab", b"", b"a\x00b\x00"], dtype="S4"),
    "str": np.array(["é", "中文字", "", "😀x"], dtype="U3"),
    "str_be": np.array(["ab", "c"], dtype=">U2"),
    "void": np.array([b"\x01\x02\x03"], dtype="V3"),
    **{
        f"M8_{u}": np.array([0, 12345, np.iinfo(np.int64).min], dtype=f"M8[{u}]")
        for u in ["ns", "us", "ms", "s", "m", "h", "D", "W", "M", "Y", "ps"]
    },
    **{f"m8_{u}": np.array([-7, 0, np.iinfo(np.int64).min], dtype=f"m8[{u}]") for u in ["ns", "us", "s", "D", "M", "Y"]},
    "M8_be": np.array(["2024-01-02T03:04:05", "NaT"], dtype=">M8[s]"),
    "M8_mult": np.array([3, 4], dtype="M8[10s]"),
    "record": np.array([(1, 2.5, "ab"), (-3, np.nan, "")], dtype=[("a", "<i4"), ("b", ">f8"), ("c", "U2")]),
    "record_aligned": np.zeros(3, dtype=np.dtype([("a", "u1"), ("b", "<f8"), ("c", "i2", (2, 3))], align=True)),
    "record_nested": np.zeros(2, dtype=[("outer", [("x", "<f4"), ("y", "S3")]), ("t", "M8[us]")]),
    "record_titles": np.zeros(2, dtype=[(("the a", "a"), "<i2"), ("b", "u1")]),
    "fortran_2d": np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4)),
    "fortran_3d": np.asfortranarray(np.arange(24, dtype="i2").reshape(2, 3, 4)),
    "fortran_records": np.asfortranarray(np.zeros((2, 3), dtype=[("a", "<i4"), ("b", "S2")])),
    "nd": np.arange(2 * 3 * 4 * 5, dtype="<u2").reshape(2, 3, 4, 5),
    "zero_d_f8": np.array(3.25),
    "zero_d_str": np.array("label"),
    "zero_d_record": np.zeros((), dtype=[("a", "<i4"), ("b", "S2")]),
    "zero_d_M8": np.array("2024-05-06", dtype="M8[D]"),
    "empty": np.zeros(0),
    "empty_2d": np.zeros((0, 3), dtype=">i4"),
    "empty_inner": np.zeros((3, 0), dtype="U5"),
    "empty_fortran": np.asfortranarray(np.zeros((0, 2, 3), dtype="f4")),
    "void0": np.zeros(4, dtype="V0"),
}


@pytest.mark.parametrize("writer", ["savez", "savez_compressed"])
def test_the_type_table_loads_as_numpy_loads_it(tmp_path, writer):
    path = tmp_path / "table.npz"
    getattr(np, writer)(path, **TABLE)
    assert_loads_like_numpy(path)
    # And each member on its own, in an archive of its own (other offsets, other alignments).
    for name, arr in list(TABLE.items())[::7]:
        one = tmp_path / f"{name}.npz"
        getattr(np, writer)(one, **{name: arr})
        assert_loads_like_numpy(one)


@seed(20261127)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(archives())
def test_type_table_property(tmp_path_factory, case):
    dt, order, rows, trailing, fortran, name, compressed, scalar, data_seed = case
    rng = np.random.default_rng(data_seed)
    arr = make_values(dt, (rows, *trailing), rng)
    arr = arr.astype(with_order(arr.dtype, order))
    if fortran:
        arr = np.asfortranarray(arr)
    arrays = {name: arr}
    if scalar:
        arrays["scalar_meta"] = make_values(dt, (), rng).astype(with_order(dt, order))
    path = tmp_path_factory.mktemp("p") / "t.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    assert_loads_like_numpy(path)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("block_rows", [None, 1000])
def test_archives_written_by_write_npz(tmp_path, compress, block_rows):
    n = 25_000
    df = pl.DataFrame(
        {
            "i": np.arange(n, dtype=np.int64),
            "f": np.random.default_rng(0).random(n),
            "s": [f"s{i % 13}" for i in range(n)],
            "t": pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1) + pl.duration(seconds=n - 1), "1s", eager=True),
            "a": np.arange(n * 3, dtype=np.float32).reshape(n, 3),
        }
    )
    path = tmp_path / "w.npz"
    write_npz(df, path, compress=compress, block_rows=block_rows)
    if compress:  # deflated in blocks, which inflate in parallel
        assert npz_members(path)["blocks"].null_count() == 0
    assert_loads_like_numpy(path)


def test_stored_members_are_mapped_from_the_file_without_a_copy(tmp_path):
    path = tmp_path / "m.npz"
    x = np.arange(100_000, dtype="<f8")
    np.savez(path, x=x, be=x.astype(">i8"), f=np.asfortranarray(x.reshape(100, 1000)), r=TABLE["record"])
    offsets = dict(zip(npz_members(path)["name"], npz_members(path)["data_offset"]))
    z = load(path, mmap_mode="r")
    for name in ["x", "be", "f", "r"]:
        arr = z[name]
        assert isinstance(arr, np.memmap) and not arr.flags.writeable, name
        m = mapping_of(arr)
        assert m is not None, name
        start, end = address_range(m)
        address = arr.__array_interface__["data"][0]
        assert start <= address and address + arr.nbytes <= end, name
        # The mapping begins at the page below the member's data: the array is at its offset.
        assert address - start == offsets[name] % mmap.ALLOCATIONGRANULARITY, name
    # numpy writes no padding: this member's data is at an odd offset, and still mapped.
    assert offsets["x"] % 8 != 0 and not z["x"].flags.aligned
    # A view of the file's pages: a change to the file shows through the read-only map.
    arr = z["x"]
    with open(path, "r+b") as f:
        f.seek(offsets["x"])
        f.write(np.float64(-1.0).tobytes())
    assert arr[0] == -1.0
    with pytest.raises(ValueError, match="read-only"):
        arr[1] = 5.0


def test_copy_on_write_never_reaches_the_file(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, x=np.arange(1000, dtype="<i4"), y=np.arange(5.0))
    before = path.read_bytes()
    with load(path, mmap_mode="c") as z:
        x = z["x"]
        assert isinstance(x, np.memmap) and x.flags.writeable and mapping_of(x) is not None
        x[:10] = -7
        x.flush()
        assert x[0] == -7
    del x
    gc.collect()
    assert path.read_bytes() == before
    with load(path, mmap_mode="c") as z:
        assert z["x"][0] == 0


def test_deflated_and_in_memory_members_are_plain_writable_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=np.arange(10))
    for mode in MODES:
        with load(path, mmap_mode=mode) as z:
            x = z["x"]
            assert type(x) is np.ndarray and x.flags.writeable and x.flags.aligned
            x[0] = 5  # a fresh array each time
            assert z["x"][0] == 0


def test_refused_modes(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.arange(3))
    for mode in ["r+", "readwrite"]:
        with pytest.raises(ValueError, match="CRC-32"):
            load(path, mmap_mode=mode)
    for mode in ["w+", "write"]:
        with pytest.raises(ValueError, match="resized"):
            load(path, mmap_mode=mode)
    with pytest.raises(ValueError, match="mmap_mode must be one of"):
        load(path, mmap_mode="x")
    assert isinstance(load(path, mmap_mode="readonly")["x"], np.memmap)
    with pytest.raises(ValueError, match="encoding"):
        load(path, encoding="utf8")


@pytest.mark.parametrize("compressed", [False, True])
def test_pickles_are_refused_unless_allowed(tmp_path, compressed):
    path = tmp_path / "o.npz"
    arrays = {
        "ok": np.arange(3),
        "obj": np.array([1, "a", None, [2]], dtype=object),
        "nones": np.array([None] * 100, dtype=object),
        "rec": np.array([(1, {"k": 1})], dtype=[("a", "i4"), ("b", "O")]),
    }
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    for mode in MODES:
        z = load(path, mmap_mode=mode)
        assert_same(z["ok"], arrays["ok"])
        for name in ["obj", "nones", "rec"]:
            with pytest.raises(ValueError, match="Object arrays cannot be loaded when allow_pickle=False"):
                np.load(path)[name]
            with pytest.raises(ValueError, match=rf"Object arrays cannot be loaded when allow_pickle=False.*{name}\.npy"):
                z[name]
        z = load(path, mmap_mode=mode, allow_pickle=True)
        ref = np.load(path, allow_pickle=True)
        for name in ["obj", "nones", "rec"]:
            assert z[name].dtype == ref[name].dtype and z[name].tolist() == ref[name].tolist()


def test_the_mapping_face(tmp_path):
    path = tmp_path / "f.npz"
    with open(path, "wb") as f:
        f.write(
            zipcraft.build(
                [Entry.stored("a.npy", npy(np.arange(3))), Entry.deflated("b.npy", npy(np.ones(2))), Entry.stored("notes.txt", b"hi")]
            )
        )
    ref = np.load(path)
    z = load(path)
    assert z.files == ref.files == ["a", "b", "notes.txt"]
    assert list(z) == list(z.keys()) == z.files and len(z) == 3
    assert "a" in z and "a.npy" in z and "notes.txt" in z and "c" not in z and 3 not in z
    assert_same(z["a.npy"], ref["a"])
    assert_same(z.f.b, ref["b"])
    assert z["notes.txt"] == ref["notes.txt"] == b"hi"
    assert [k for k, _ in z.items()] == z.files and len(list(z.values())) == 3
    assert z.get("missing") is None
    with pytest.raises(KeyError, match="c is not a file in the archive"):
        z["c"]
    assert repr(z) == f"NpzFile {str(path)!r} with keys: a, b, notes.txt"
    assert isinstance(z, polars_npz.NpzFile)


def test_closing_releases_the_file_and_keeps_the_arrays(tmp_path):
    path = tmp_path / "close.npz"
    np.savez(path, x=np.arange(10), y=np.arange(3.0))

    def held() -> bool:
        fds = [os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")]
        maps = Path("/proc/self/maps").read_text()
        return str(path.resolve()) in fds or str(path.resolve()) in maps

    with load(path) as z:
        x = z["x"]
        assert held()
    assert z.closed
    gc.collect()
    assert not held()
    assert x.tolist() == list(range(10))
    with pytest.raises(ValueError, match="closed"):
        z["y"]


def test_numpy_is_imported_only_by_load(tmp_path):
    path = tmp_path / "n.npz"
    np.savez(path, x=np.arange(3))
    code = (
        "import sys, polars_npz\n"
        "assert 'numpy' not in sys.modules, 'numpy imported by import polars_npz'\n"
        f"z = polars_npz.load({str(path)!r})\n"
        "assert 'numpy' in sys.modules and z['x'].tolist() == [0, 1, 2]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def good(tmp_path):
    def make(compressed: bool) -> bytes:
        p = tmp_path / "good.npz"
        arrays = {"a": np.arange(50, dtype=">i4"), "b": np.linspace(0, 1, 50), "s": np.array(["x", "yz"] * 25), "r": TABLE["record"]}
        (np.savez_compressed if compressed else np.savez)(p, **arrays)
        return p.read_bytes()

    return make


def outcome(path: Path, mode: str | None) -> str:
    """Load every member; 'ok' or 'error' (an NpzError naming the file), nothing else."""
    try:
        with load(path, mmap_mode=mode) as z:
            for k in z.files:
                z[k]
    except NpzError as e:
        assert str(path) in str(e)
        return "error"
    return "ok"


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_archives_are_errors(tmp_path, good, compressed):
    data = good(compressed)
    p = tmp_path / "t.npz"
    for cut in range(0, len(data), max(1, len(data) // 300)):
        p.write_bytes(data[:cut])
        for mode in [None, "r"]:
            assert outcome(p, mode) == "error", (cut, mode)


@pytest.mark.parametrize("compressed", [False, True])
def test_byte_flips_are_errors_or_values(tmp_path, good, compressed):
    data = good(compressed)
    rng = np.random.default_rng(11)
    p = tmp_path / "f.npz"
    for _ in range(300):
        b = bytearray(data)
        for pos in rng.integers(0, len(b), rng.integers(1, 4)):
            b[pos] ^= int(rng.integers(1, 256))
        p.write_bytes(bytes(b))
        for mode in [None, "r"]:
            outcome(p, mode)


def test_corrupt_data_is_caught_by_the_checksum_when_read_in_memory(tmp_path):
    path = tmp_path / "crc.npz"
    np.savez(path, x=np.arange(100))
    offset = npz_members(path)["data_offset"][0]
    data = bytearray(path.read_bytes())
    data[offset + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(NpzError, match=r"crc\.npz.*x\.npy.*(?i:crc)"):
        load(path)["x"]
    # Mapped, the data is the file's as it is: a map reads no byte, so it checks none.
    assert load(path, mmap_mode="r")["x"][0] == 0xFF << 24


def test_bad_headers_and_members(tmp_path):
    p = tmp_path / "h.npz"
    p.write_bytes(zipcraft.build([Entry.stored("x.npy", npy(np.arange(4.0)).replace(b"'shape': (4,)", b"'shape': (9,)"))]))
    with pytest.raises(NpzError, match=r"h\.npz.*x\.npy"):
        load(p)
    # A member not named .npy that claims to be an array and is not.
    p.write_bytes(zipcraft.build([Entry.stored("x.bin", b"\x93NUMPY\x01\x00\xff\x00{'descr'")]))
    with pytest.raises(NpzError, match=r"h\.npz.*x\.bin"):
        load(p)["x.bin"]
    big = np.zeros(3, dtype=[(f"field_{i:04d}", "<i4") for i in range(600)])
    np.savez(p, x=big)
    with pytest.raises(NpzError, match=r"x\.npy.*exceeds the limit"):
        load(p)
    assert_same(load(p, max_header_size=100_000)["x"], big)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("http")
    rng = np.random.default_rng(0)
    arrays = {f"c{i}": rng.random(200_000) for i in range(4)}
    arrays["f"] = np.asfortranarray(rng.random((300, 40)).astype(">f4"))
    arrays["r"] = TABLE["record"]
    np.savez(root / "stored.npz", **arrays)
    np.savez_compressed(root / "deflated.npz", **arrays)
    with RangeServer(root) as server:
        yield server, root


@pytest.mark.parametrize("name", ["stored.npz", "deflated.npz"])
def test_urls_read_members_with_ranges(served, name):
    server, root = served
    with np.load(root / name) as ref:
        want = {k: ref[k] for k in ref.files}
    for mode in MODES:
        with load(server.url(name), mmap_mode=mode) as z:
            assert z.files == list(want)
            for k, w in want.items():
                got = z[k]
                assert type(got) is np.ndarray  # in memory, whatever mmap_mode says
                assert_same(got, w, k)
    # One member costs about its own bytes, not the archive's.
    size = (root / name).stat().st_size
    z = load(server.url(name))
    server.reset()
    z["c2"]
    assert server.bytes_sent < size / 3, (server.bytes_sent, size)


@pytest.mark.parametrize("mode", MODES)
def test_a_file_rewritten_after_load_is_refused(tmp_path, mode):
    path = tmp_path / "w.npz"
    np.savez(path, x=np.arange(10))
    z = load(path, mmap_mode=mode)
    np.savez(path, x=np.arange(20))  # rewritten in place: its index no longer describes it
    with pytest.raises(NpzError, match=r"w\.npz.*changed"):
        z["x"]


@pytest.mark.parametrize("compressed", [False, True])
def test_bytes_and_file_objects_give_arrays_in_memory(tmp_path, compressed):
    path = tmp_path / "b.npz"
    arrays = {"x": np.arange(1000, dtype=">i8"), "f": TABLE["fortran_2d"], "r": TABLE["record"]}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    with open(path, "rb") as f:
        sources = [path.read_bytes(), f]
        for source in sources:
            for mode in MODES:
                with load(source, mmap_mode=mode) as z:
                    for name, want in arrays.items():
                        got = z[name]
                        assert type(got) is np.ndarray
                        assert_same(got, want, name)
