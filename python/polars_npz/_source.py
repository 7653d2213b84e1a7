"""Turning a user's source (a path, bytes, or a binary file object) into a native Archive."""

from __future__ import annotations

import os
from typing import IO, Union

from polars_npz._internal import Archive as _Archive

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


def _open(source: Source, memory_map: bool, max_header_size: int = 10_000, verify_checksums: bool = False) -> _Archive:
    if isinstance(source, (str, os.PathLike)):
        return _Archive(os.fspath(source), memory_map, max_header_size, verify_checksums)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _Archive.from_bytes("<bytes>", bytes(source), max_header_size, verify_checksums)
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<file object>"))
        return _Archive.from_bytes(name, source.read(), max_header_size, verify_checksums)
    msg = f"source must be a path, bytes or a binary file object, got {type(source).__name__}"
    raise TypeError(msg)


def _source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<bytes>"))
