"""Benchmark archives: 8 float64 columns x N rows, written by np.savez (names of varied
lengths, so most members are misaligned), by np.savez_compressed, and with every member's data
aligned to 64 bytes in the file."""

from __future__ import annotations

import io
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

NAMES = ["a", "bb", "price", "volume_1", "x_coordinate", "y", "sensor_temperature", "q7"]


def arrays(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {n: rng.standard_normal(rows) for n in NAMES}


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def write_aligned(path: Path, data: dict[str, np.ndarray], align: int = 64) -> None:
    """Stored members whose array data starts at a multiple of `align` in the file (padding in
    the local header's extra field, as zipalign does); numpy loads it unchanged."""
    with open(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in data.items():
            payload = npy_bytes(arr)
            header_len = payload.index(b"\n") + 1
            fname = (name + ".npy").encode()
            start = f.tell() + 30 + len(fname)
            pad = (-(start + 4 + header_len)) % align
            info = zipfile.ZipInfo(name + ".npy")
            info.extra = struct.pack("<HH", 0xD935, pad) + b"\0" * pad
            zf.writestr(info, payload)


def make(directory: Path, rows: int) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {k: directory / f"bench_{k}_{rows}.npz" for k in ("stored", "deflated", "aligned")}
    if all(p.exists() for p in paths.values()):
        return paths
    data = arrays(rows)
    np.savez(paths["stored"], **data)
    np.savez_compressed(paths["deflated"], **data)
    write_aligned(paths["aligned"], data)
    return paths


if __name__ == "__main__":
    out = make(Path(sys.argv[1]), int(sys.argv[2]))
    print("\n".join(str(p) for p in out.values()))
