"""Archives we write carry each member's .npy header in its central-directory entry (extra
field 0x6870): opening one from an object store is one request per object. A carried header
that does not hold together with its member is ignored: values always equal np.load's."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from motoserver import moto_s3
from polars.testing import assert_frame_equal
from polars_npz import read_npz, scan_npz, write_npz
from polars_npz._internal import remote_bytes_fetched, remote_requests

HEADER_ID = 0x6870


def carried_fields(path: Path) -> dict[str, bytes]:
    """Each member's carried-header field data, by member name, as zipfile reads the central
    directory."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            extra = info.extra
            while len(extra) >= 4:
                kind, size = struct.unpack("<HH", extra[:4])
                if kind == HEADER_ID:
                    out[info.filename] = extra[4 : 4 + size]
                extra = extra[4 + size :]
    return out


def numpy_frame(path: Path) -> pl.DataFrame:
    with np.load(path) as z:
        return pl.DataFrame({name: z[name] for name in z.files})


def frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"f": rng.random(n), "i": rng.integers(-(10**9), 10**9, n), "g": rng.random(n).astype(np.float32)})


@pytest.mark.parametrize("compress", [False, True])
def test_written_archives_carry_headers_that_zip_readers_skip(tmp_path, compress):
    path = tmp_path / "a.npz"
    df = frame(1000)
    write_npz(df, path, compress=compress)
    fields = carried_fields(path)
    assert sorted(fields) == ["f.npy", "g.npy", "i.npy"]
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        for name, field in fields.items():
            # The carried header is the member's first bytes.
            assert z.read(name).startswith(field[36:])
    assert_frame_equal(numpy_frame(path), df)
    assert_frame_equal(read_npz(path), df)


def corrupt_descr(data: bytearray, old: bytes, new: bytes) -> None:
    """Replace `old` by `new` (same length) in every carried header of `data` (the central
    directory's copies only: each follows the field's magic)."""
    at = data.find(b"NPZH")
    assert at > 0
    hits = 0
    while at > 0:
        hit = data.find(old, at, at + 200)
        if hit > 0:
            data[hit : hit + len(old)] = new
            hits += 1
        at = data.find(b"NPZH", at + 4)
    assert hits > 0


def swap_fields(data: bytearray, a: int, b: int) -> None:
    """Swap the carried-header fields of the a-th and b-th members (of equal length)."""
    starts = []
    at = data.find(b"NPZH")
    while at > 0:
        starts.append(at)
        at = data.find(b"NPZH", at + 4)
    size = struct.unpack("<H", data[starts[a] - 2 : starts[a]])[0]
    assert size == struct.unpack("<H", data[starts[b] - 2 : starts[b]])[0]
    first, second = bytes(data[starts[a] : starts[a] + size]), bytes(data[starts[b] : starts[b] + size])
    data[starts[a] : starts[a] + size] = second
    data[starts[b] : starts[b] + size] = first


def damaged(tmp_path: Path, compress: bool) -> list[Path]:
    """Archives whose carried headers disagree with their members: a header's bytes changed
    (its dtype), and two members' fields swapped (f8 and i8: a reader trusting them reads
    either column as the other's type)."""
    df = frame(5000, seed=1)
    good = tmp_path / f"good{int(compress)}.npz"
    write_npz(df, good, compress=compress)
    out = []
    changed = bytearray(good.read_bytes())
    corrupt_descr(changed, b"'<f8'", b"'<i8'")
    out.append(tmp_path / f"changed{int(compress)}.npz")
    out[-1].write_bytes(changed)
    swapped = bytearray(good.read_bytes())
    swap_fields(swapped, 0, 1)
    out.append(tmp_path / f"swapped{int(compress)}.npz")
    out[-1].write_bytes(swapped)
    return out


@pytest.mark.parametrize("compress", [False, True])
def test_a_carried_header_that_disagrees_with_its_member_is_ignored(tmp_path, compress):
    for path in damaged(tmp_path, compress):
        want = numpy_frame(path)
        assert_frame_equal(read_npz(path), want)
        assert_frame_equal(scan_npz(path).collect(), want)
        assert scan_npz(path).collect_schema() == want.schema
        assert_frame_equal(read_npz(path.read_bytes()), want)


def rewritten_by_zipfile(src: Path, dst: Path) -> None:
    """`src` copied member by member by Python's zipfile: the same bytes, CRC-32 and sizes for
    stored members, our extra fields kept, but each local header now longer (it carries them
    too), so a member's data starts elsewhere than our field records."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))


@pytest.mark.parametrize("big", [False, True])
def test_remote_reads_of_damaged_and_rewritten_archives_equal_numpy(tmp_path, big):
    n = 200_000 if big else 5000  # 4 MB (opened by its end) or 100 KB (read whole)
    paths = damaged(tmp_path, compress=False) + damaged(tmp_path, compress=True)
    write_npz(frame(n, seed=2), tmp_path / "ours.npz")
    rewritten_by_zipfile(tmp_path / "ours.npz", tmp_path / "rewritten.npz")
    assert carried_fields(tmp_path / "rewritten.npz")  # our fields kept, now misplaced
    paths.append(tmp_path / "rewritten.npz")
    with moto_s3("damaged") as s3:
        for p in paths:
            s3.client.upload_file(str(p), "damaged", p.name)
        for p in paths:
            url = f"s3://damaged/{p.name}"
            want = numpy_frame(p)
            assert_frame_equal(scan_npz(url, storage_options=s3.options).collect(), want)
            assert scan_npz(url, storage_options=s3.options).select(pl.len()).collect().item() == want.height
            assert_frame_equal(scan_npz(url, storage_options=s3.options).select("i").head(7).collect(), want.select("i").head(7))


def test_opening_archives_we_wrote_costs_one_request_per_object(tmp_path):
    """Objects of more than 2 MiB: one suffix read each, whatever their members (numpy's cost
    one more batch, for their local and .npy headers). Small objects of ours are not read
    whole for a count: one suffix read of 64 KiB each, and one more request if their data is
    read later."""
    big, small = 200_000, 20_000  # 4 MB (3.2 MB deflated) and 400 KB per object
    with moto_s3("ours") as s3:
        for i in range(4):
            df = frame(big, seed=i)
            write_npz(df, tmp_path / f"big{i}.npz", compress=i % 2 == 1)
            s3.client.upload_file(str(tmp_path / f"big{i}.npz"), "ours", f"big/part-{i}.npz")
            np.savez(tmp_path / f"np{i}.npz", **{c: df[c].to_numpy() for c in df.columns})
            s3.client.upload_file(str(tmp_path / f"np{i}.npz"), "ours", f"numpy/part-{i}.npz")
            write_npz(frame(small, seed=i), tmp_path / f"small{i}.npz", compress=True)
            s3.client.upload_file(str(tmp_path / f"small{i}.npz"), "ours", f"small/part-{i}.npz")
        opts = s3.options
        for kind, rows in [("big", big), ("small", small)]:
            before = remote_requests()
            lf = scan_npz(f"s3://ours/{kind}/", storage_options=opts)
            assert lf.collect_schema().names() == ["f", "i", "g"]
            assert remote_requests() - before == 1  # the first object
            fetched = remote_bytes_fetched()
            assert lf.select(pl.len()).collect().item() == 4 * rows
            assert remote_requests() - before == 4  # one per object
            assert remote_bytes_fetched() - fetched <= 3 * (64 * 1024 + 22)  # the other three's ends
        # numpy's archives are read as before: the end, then the members' headers.
        before = remote_requests()
        assert scan_npz("s3://ours/numpy/", storage_options=opts).select(pl.len()).collect().item() == 4 * big
        assert remote_requests() - before > 4
        # The data read after a count equals numpy's.
        for kind in ["big", "small"]:
            lf = scan_npz(f"s3://ours/{kind}/", storage_options=opts)
            assert lf.select(pl.len()).collect().item() > 0
            want = pl.concat([numpy_frame(tmp_path / f"{kind}{i}.npz") for i in range(4)])
            before = remote_requests()
            assert_frame_equal(lf.collect(), want)
            if kind == "small":
                # Each small object opened by its end for the count: its local headers and
                # data in one more request (the first object was read whole for the schema).
                assert remote_requests() - before == 3
            assert_frame_equal(lf.select(pl.col("i").sum()).collect(), want.select(pl.col("i").sum()))
