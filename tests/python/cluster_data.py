"""Small datasets shared by the Ray and Dask tests: a hive-partitioned directory of stored and
deflated shards with every kind of column, and a dataset whose one member's deflated data is
corrupt after its header."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


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
