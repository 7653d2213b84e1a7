"""Bad archives: every one gets a clear NpzError (or a correct value), never a crash, a hang or
a runaway allocation."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import zipcraft
from polars_npz import NpzError, npz_members, read_npz, scan_npz
from zipcraft import Entry, npy


def outcome(path: Path) -> str:
    """Read everything; return 'ok' or 'error', failing on any other exception."""
    try:
        for m in npz_members(path)["name"].drop_nulls():
            try:
                read_npz(path, columns=[m])
            except NpzError:
                pass
        scan_npz(path).collect()
    except NpzError as e:
        assert str(path) in str(e)
        return "error"
    return "ok"


@pytest.fixture
def good(tmp_path):
    def make(compressed: bool) -> bytes:
        p = tmp_path / "good.npz"
        arrays = {"a": np.arange(50, dtype=">i4"), "b": np.linspace(0, 1, 50), "s": np.array(["x", "yz"] * 25)}
        (np.savez_compressed if compressed else np.savez)(p, **arrays)
        return p.read_bytes()

    return make


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_at_every_offset(tmp_path, good, compressed):
    data = good(compressed)
    p = tmp_path / "t.npz"
    step = max(1, len(data) // 400)
    for cut in range(0, len(data), step):
        p.write_bytes(data[:cut])
        assert outcome(p) == "error", cut


@pytest.mark.parametrize("compressed", [False, True])
def test_byte_flips(tmp_path, good, compressed):
    data = good(compressed)
    rng = np.random.default_rng(7)
    p = tmp_path / "f.npz"
    for _ in range(300):
        b = bytearray(data)
        for pos in rng.integers(0, len(b), rng.integers(1, 4)):
            b[pos] ^= int(rng.integers(1, 256))
        p.write_bytes(bytes(b))
        outcome(p)


def test_random_bytes_empty_and_foreign_zip(tmp_path):
    rng = np.random.default_rng(1)
    p = tmp_path / "r.npz"
    for n in [0, 1, 22, 100, 5000]:
        p.write_bytes(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        assert outcome(p) == "error"
    # A zip of something else: no arrays, so an empty frame; the members are still listed.
    p.write_bytes(zipcraft.build([Entry.stored("notes.txt", b"hello"), Entry.deflated("data.csv", b"a,b\n1,2\n")]))
    assert scan_npz(p).collect().shape == (0, 0)
    assert npz_members(p)["member"].to_list() == ["notes.txt", "data.csv"]


def test_central_directory_pointing_outside_the_file(tmp_path):
    p = tmp_path / "o.npz"
    p.write_bytes(zipcraft.build([Entry.stored("a.npy", npy(np.arange(3)), offset=10**9)]))
    with pytest.raises(NpzError, match="o.npz"):
        scan_npz(p)


def test_overlapping_and_duplicate_members(tmp_path):
    payload = npy(np.arange(3))
    p = tmp_path / "ov.npz"
    p.write_bytes(zipcraft.build([Entry.stored("a.npy", payload), Entry.stored("b.npy", payload, offset=0)]))
    with pytest.raises(NpzError, match="overlap|ov.npz"):
        scan_npz(p)
    p.write_bytes(zipcraft.build([Entry.stored("a.npy", payload), Entry.stored("a.npy", payload)]))
    with pytest.raises(NpzError, match=r"ov\.npz.*appears more than once"):
        scan_npz(p)


def test_non_utf8_names(tmp_path):
    p = tmp_path / "n.npz"
    e = Entry.stored("x.npy", npy(np.arange(4)), flags=0)
    e.name = b"\xff\xfe.npy"
    p.write_bytes(zipcraft.build([e]))
    m = npz_members(p)
    assert m.height == 1
    assert read_npz(p).height == 4


def test_more_than_65535_members(tmp_path):
    payload = npy(np.arange(2, dtype=np.int8))
    entries = [Entry.stored(f"m{i}.npy", payload) for i in range(70_000)]
    p = tmp_path / "many.npz"
    import zipfile

    with zipfile.ZipFile(p, "w") as zf:  # zipfile writes the zip64 end records this needs
        for e in entries:
            zf.writestr(e.name.decode(), e.data)
    assert npz_members(p).height == 70_000
    assert scan_npz(p).select("m69999").collect()["m69999"].to_list() == [0, 1]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b"\x93NUMPX" + b[6:], "magic"),
        (lambda b: b[:6] + b"\x09\x00" + b[8:], "version"),
        (lambda b: b.replace(b"'descr'", b"'dscr' "), "descr|unexpected key"),
        (lambda b: b.replace(b"'shape': (4,)", b"'shape': (9,)"), "needs 72 bytes"),
        (lambda b: b.replace(b"'shape': (4,)", b"'shape': (-1,)"), "invalid dimension"),
        (lambda b: b.replace(b"False", b"Flase"), "unexpected character"),
        (lambda b: b.replace(b"'<f8'", b"'<q8'"), "unknown numpy type"),
    ],
)
def test_bad_npy_headers(tmp_path, mutate, match):
    payload = mutate(npy(np.arange(4.0)))
    p = tmp_path / "h.npz"
    p.write_bytes(zipcraft.build([Entry.stored("x.npy", payload)]))
    with pytest.raises(NpzError, match=rf"x\.npy.*({match})"):
        scan_npz(p)


def test_shape_whose_byte_count_overflows(tmp_path):
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }\n"
    fixed = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + bytes(32)
    p = tmp_path / "ov.npz"
    p.write_bytes(zipcraft.build([Entry.stored("x.npy", fixed)]))
    with pytest.raises(NpzError, match=r"x\.npy.*needs"):
        scan_npz(p)


def test_oversize_header_is_capped_and_configurable(tmp_path):
    arr = np.zeros(3, dtype=[(f"field_{i:04d}", "<i4") for i in range(600)])
    p = tmp_path / "big.npz"
    np.savez(p, x=arr)
    with pytest.raises(NpzError, match=r"x\.npy.*exceeds the limit"):
        scan_npz(p)
    assert scan_npz(p, max_header_size=100_000).collect().height == 3


def test_deflate_stream_that_ends_early(tmp_path):
    payload = npy(np.arange(10_000.0))
    e = Entry.deflated("x.npy", payload)
    e.data = e.data[: len(e.data) // 2]
    p = tmp_path / "early.npz"
    p.write_bytes(zipcraft.build([e]))
    with pytest.raises(NpzError, match=r"x\.npy.*(ends before|corrupt)"):
        read_npz(p)


def test_deflate_bomb_stops_at_declared_size(tmp_path):
    payload = npy(np.zeros(1000))
    bomb = payload + b"\x00" * (200 * 1024 * 1024)  # 200 MiB of zeros past the array
    e = Entry(b"x.npy", zipcraft.deflate(bomb), len(payload), zlib.crc32(payload), 8)
    p = tmp_path / "bomb.npz"
    p.write_bytes(zipcraft.build([e]))
    assert p.stat().st_size < 1024 * 1024
    # In a fresh process, so the high-water mark is this read's alone (after a first read of a
    # small archive has started the engine and imported what a scan imports).
    small = tmp_path / "small.npz"
    np.savez_compressed(small, x=np.zeros(1000))
    code = (
        "import sys, polars_npz\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "polars_npz.read_npz(sys.argv[2])\n"
        "base = hwm()\n"
        "try:\n"
        "    polars_npz.read_npz(sys.argv[1])\n"
        "except polars_npz.NpzError as e:\n"
        "    print('ERR', e)\n"
        "print('GROWTH_KB', hwm() - base)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(p), str(small)], capture_output=True, text=True, check=True).stdout
    assert "past the member's declared size" in out, out
    growth_kb = int(out.split("GROWTH_KB")[1])
    assert growth_kb < 50 * 1024, f"inflating the bomb grew memory by {growth_kb} KiB"
    with pytest.raises(NpzError, match=r"x\.npy.*past the member's declared size"):
        read_npz(p)
    assert read_npz(p, n_rows=10)["x"].to_list() == [0.0] * 10


def test_declared_size_beyond_what_deflate_can_produce(tmp_path):
    payload = npy(np.zeros(10))
    e = Entry.deflated("x.npy", payload)
    e.size = 4_000_000_000
    p = tmp_path / "lie.npz"
    p.write_bytes(zipcraft.build([e]))
    with pytest.raises(NpzError, match="more than deflate can produce"):
        scan_npz(p)


def test_crc_mismatch(tmp_path):
    payload = npy(np.arange(100))
    p = tmp_path / "crc.npz"
    e = Entry.deflated("x.npy", payload)
    e.crc ^= 1
    p.write_bytes(zipcraft.build([e]))
    with pytest.raises(NpzError, match=r"x\.npy.*CRC-32 mismatch"):
        read_npz(p)
    s = Entry.stored("x.npy", payload)
    s.crc ^= 1
    p.write_bytes(zipcraft.build([s]))
    assert read_npz(p)["x"].to_list() == list(range(100))  # stored: not checked by default
    with pytest.raises(NpzError, match=r"x\.npy.*CRC-32 mismatch"):
        read_npz(p, verify_checksums=True)
    with pytest.raises(NpzError, match=r"x\.npy.*CRC-32 mismatch"):
        scan_npz(p, verify_checksums=True).collect()


@pytest.mark.parametrize(("method", "flags", "match"), [(12, 0x800, "method 12"), (14, 0x800, "method 14"), (0, 0x801, "encrypted")])
def test_other_methods_and_encryption(tmp_path, method, flags, match):
    e = Entry.stored("x.npy", npy(np.arange(3)))
    e.method, e.flags = method, flags
    p = tmp_path / "m.npz"
    p.write_bytes(zipcraft.build([e]))
    with pytest.raises(NpzError, match=rf"x\.npy.*{match}"):
        scan_npz(p)


def test_replacing_the_file_by_rename_during_a_lazy_scan(tmp_path):
    p = tmp_path / "live.npz"
    np.savez(p, x=np.arange(100_000))
    for memory_map in (True, False):
        lf = scan_npz(p, memory_map=memory_map)
        new = tmp_path / "new.npz"
        np.savez(new, x=np.arange(100_000) * 2)
        os.replace(new, p)  # the scan keeps the file it opened
        assert lf.collect()["x"].to_list() == list(range(100_000))
        np.savez(p, x=np.arange(100_000))


def test_truncating_the_file_under_a_copied_column_is_an_error(tmp_path):
    # A misaligned column is copied with positioned reads, so a file cut short under a lazy
    # scan gives an error naming the file (a zero-copy view would fault instead): refused as
    # changed before the read starts, or naming the member when cut while it is read.
    p = tmp_path / "cut.npz"
    np.savez(p, pad=np.arange(3, dtype=np.int8), x=np.arange(300_000.0))
    members = npz_members(p)
    assert members.filter(pl.col("name") == "x")["zero_copy"].to_list() == [False]
    for memory_map in (True, False):
        lf = scan_npz(p, memory_map=memory_map).select("x")
        with open(p, "r+b") as f:
            f.truncate(p.stat().st_size // 2)
        with pytest.raises(NpzError, match=r"cut\.npz.*(changed since it was scanned|x\.npy.*read failed)"):
            lf.collect()
        np.savez(p, pad=np.arange(3, dtype=np.int8), x=np.arange(300_000.0))


def test_eight_threads_scanning_one_archive(tmp_path):
    p = tmp_path / "c.npz"
    arrays = {"a": np.arange(200_000), "b": np.random.default_rng(0).random((200_000, 2))}
    np.savez_compressed(p, **arrays)
    lf = scan_npz(p)
    expected = lf.collect()
    barrier = threading.Barrier(8)

    def work(i: int) -> pl.DataFrame:
        barrier.wait()
        if i % 2:
            return scan_npz(p).collect(engine="streaming")
        return lf.collect()

    with ThreadPoolExecutor(8) as ex:
        frames = list(ex.map(work, range(8)))
    for f in frames:
        assert f.equals(expected)


@pytest.mark.parametrize(
    "arr",
    [np.zeros((1, 2**32, 0), "f8"), np.zeros((1, 2**32), "V0")],
    ids=["inner-axis-of-2^32-then-0", "V0-2^32-per-row"],
)
def test_arrays_of_zero_bytes_with_huge_axes(tmp_path, arr):
    # Found by fuzzing: files numpy writes (0 bytes of data) whose columns would need 2^32
    # values of 0 bytes (Polars' length limit, or a 64 GiB allocation). The member is refused:
    # its column is Null, reading it is an error naming it; the other arrays still read.
    path = tmp_path / "z.npz"
    np.savez(path, big=arr, ok=np.arange(1))
    assert np.load(path)["big"].shape == arr.shape
    with pytest.raises(NpzError, match=r"big.*0 bytes each"):
        scan_npz(path).select("big").collect()
    assert scan_npz(path).collect_schema()["big"] == pl.Null
    assert scan_npz(path).select("ok").collect()["ok"].to_list() == [0]
