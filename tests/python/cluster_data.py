"""Small datasets shared by the Ray and Dask tests: a hive-partitioned directory of stored and
deflated shards with every kind of column, and a dataset whose one member's deflated data is
corrupt after its header; and an S3-compatible server (moto, on 127.0.0.1) serving them."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest


def shard_arrays(i: int, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {
        "t": np.arange(rows, dtype=np.int64) + 1000 * i,
        "x": rng.random(rows),
        "k": rng.integers(-5, 5, rows).astype(np.int32),
        "pos": rng.random((rows, 3)).astype(np.float32),
        "name": np.array([f"s{i}-{k}" for k in range(rows)], dtype="U8"),
        "when": (np.datetime64("2026-11-01T00:00:00", "us") + np.arange(rows) * np.timedelta64(1500, "ms")).astype("M8[us]"),
        "ok": np.arange(rows) % 3 == 0,
    }


def make_hive(root: Path, rows: tuple[int, ...] = (5, 0, 7, 3, 6)) -> list[Path]:
    """Shards under ``year=.../site=.../`` (hive columns year: Int64, site: String), stored and
    deflated in turn, one of them empty."""
    files = []
    for i, n in enumerate(rows):
        part = root / f"year={2020 + i // 2}" / f"site={'ab'[i % 2]}"
        part.mkdir(parents=True, exist_ok=True)
        path = part / f"part-{i}.npz"
        (np.savez_compressed if i % 2 else np.savez)(path, **shard_arrays(i, n))
        files.append(path)
    return files


def corrupt_member(path: Path, member: str) -> None:
    """Flip bytes in the middle of `member`'s deflate stream, well after the compressed bytes of
    its .npy header: the header still reads, the data does not."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size > 8000
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 2000, start + 6000):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


def make_corrupt(root: Path, files: int = 3, rows: int = 20_000) -> tuple[list[Path], Path]:
    """Deflated shards of x (random floats) and y (integers); x of the middle one is corrupt."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        p = root / f"c{i}.npz"
        np.savez_compressed(p, x=np.random.default_rng(i).random(rows), y=np.arange(rows) + i * rows)
        paths.append(p)
    bad = paths[files // 2]
    corrupt_member(bad, "x.npy")
    return paths, bad


def make_s3_tree(root: Path) -> Path:
    """What the S3 tests serve: ``ds/`` (make_hive, and an object that is not an archive),
    ``bad/`` (make_corrupt: x of ``bad/c1.npz`` corrupt), ``broken/`` (a good shard, then
    ``c9.npz`` whose zip index is garbage)."""
    make_hive(root / "ds")
    (root / "ds" / "README.txt").write_text("not an archive")
    files, _bad = make_corrupt(root / "bad", files=3, rows=20_000)
    (root / "broken").mkdir()
    shutil.copy(files[0], root / "broken" / "c0.npz")
    (root / "broken" / "c9.npz").write_bytes(b"PK\x03\x04 not a zip")
    return root


@contextmanager
def s3_serving(root: Path, bucket: str = "bucket") -> Iterator[dict[str, object]]:
    """A moto S3 server on 127.0.0.1 (a free port) whose `bucket` holds every file below
    `root` under its relative path; yields the storage options that reach it, stops the
    server on exit. Skips the test when moto (or boto3) is not installed."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        client.create_bucket(Bucket=bucket)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            client.upload_file(str(path), bucket, path.relative_to(root).as_posix())
        yield {
            "aws_endpoint_url": endpoint,
            "aws_region": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_allow_http": True,
        }
    finally:
        server.stop()
