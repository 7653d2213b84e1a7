"""Build zip archives byte by byte, for tests that need members no well-behaved writer makes."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@dataclass
class Entry:
    name: bytes
    data: bytes  # as stored in the zip (already compressed for method 8)
    size: int  # declared uncompressed size
    crc: int
    method: int = 0
    flags: int = 0x800  # UTF-8 names
    offset: int | None = None  # override the local header offset in the central directory

    @classmethod
    def stored(cls, name: str, payload: bytes, **kw) -> Entry:
        return cls(name.encode(), payload, len(payload), zlib.crc32(payload), 0, **kw)

    @classmethod
    def deflated(cls, name: str, payload: bytes, **kw) -> Entry:
        return cls(name.encode(), deflate(payload), len(payload), zlib.crc32(payload), 8, **kw)


def build(entries: list[Entry]) -> bytes:
    out = bytearray()
    offsets = []
    for e in entries:
        offsets.append(len(out))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, e.flags, e.method, 0, 0, e.crc, len(e.data), e.size, len(e.name), 0)
        out += e.name + e.data
    cd_start = len(out)
    for e, off in zip(entries, offsets):
        off = e.offset if e.offset is not None else off
        out += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, e.flags, e.method, 0, 0, e.crc, len(e.data), e.size, len(e.name), 0, 0, 0, 0, 0, off
        )
        out += e.name
    cd_size = len(out) - cd_start
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), cd_size, cd_start, 0)
    return bytes(out)
