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


def families(rows: int) -> dict[str, np.ndarray]:
    """One column per dtype family (each decode path: views, copies, byte swaps, bool packing,
    time scaling, strings, records, N-D and Fortran order)."""
    rng = np.random.default_rng(1)
    f8 = rng.standard_normal(rows)
    secs = rng.integers(0, 2_000_000_000, rows)
    rec = np.zeros(rows, dtype=[("x", "<f4"), ("y", "<i2"), ("ok", "?")])
    rec["x"], rec["y"], rec["ok"] = f8, secs % 30000, f8 > 0
    return {
        "bool": f8 > 0,
        "int8": (secs % 200 - 100).astype("i1"),
        "int32": secs.astype("<i4"),
        "uint16": (secs % 65536).astype("<u2"),
        "float16": f8.astype("<f2"),
        "float32": f8.astype("<f4"),
        "float64": f8,
        "float64_big_endian": f8.astype(">f8"),
        "complex128": f8 + 1j * f8[::-1],
        "datetime64_ns": (secs * 1_000_000_000).astype("M8[ns]"),
        "datetime64_s": secs.astype("M8[s]"),
        "datetime64_D": (secs // 86400).astype("M8[D]"),
        "unicode_U8": np.char.mod("%08d", secs % 100_000_000).astype("U8"),
        "bytes_S8": np.char.mod("%08d", secs % 100_000_000).astype("S8"),
        "record": rec,
        "float64_x3": np.stack([f8, f8, f8], axis=1),
        "float64_x3_fortran": np.asfortranarray(np.stack([f8, f8, f8], axis=1)),
    }


def make_families(directory: Path, rows: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bench_families_{rows}.npz"
    if not path.exists():
        np.savez(path, **families(rows))
    return path


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
    print(make_families(Path(sys.argv[1]), int(sys.argv[2]) // 4))
