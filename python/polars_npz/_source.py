"""Turning a user's source (a path, bytes, or a binary file object) into a native Archive."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import IO, Union

import polars as pl

from polars_npz._internal import Archive as _Archive
from polars_npz._internal import is_url as _is_url

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


def is_url(path: str) -> bool:
    """Whether `path` names an object in a store (``s3://``, ``https://``, ...), not a file:
    the native scan's rule, so Python and Rust never disagree about a path."""
    return _is_url(path)


def local_path(path: str) -> str:
    """A local path as Polars' scans take it: a ``file:`` URI (``file:/abs``, ``file:///abs``,
    ``file://localhost/abs``) decoded, percent escapes included; ``~`` expanded. A ``file://``
    URI naming another host is refused, as Polars refuses it (``ComputeError``)."""
    if path.startswith("file:"):
        rest = path[len("file:") :]
        if rest.startswith("//"):
            host, _, tail = rest[2:].partition("/")
            if host not in ("", "localhost"):
                msg = f"unsupported: non-empty hostname for 'file:' URI: '{host}' ({path}: write file:///path for a local file)"
                raise pl.exceptions.ComputeError(msg)
            rest = "/" + tail
        path = urllib.parse.unquote(rest)
    return os.path.expanduser(path)


def storage_pairs(storage_options: Mapping[str, object] | None) -> list[tuple[str, str]]:
    """Storage options as the native layer takes them (booleans as "true"/"false")."""
    if not storage_options:
        return []
    return [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in storage_options.items()]


def open_path(
    path: str,
    memory_map: bool = True,
    max_header_size: int = 10_000,
    verify_checksums: bool = False,
    storage_options: Mapping[str, object] | None = None,
) -> _Archive:
    """Open the archive at a local path or an object-store URL."""
    if is_url(path):
        return _Archive.from_url(path, storage_pairs(storage_options), max_header_size, verify_checksums)
    return _Archive(local_path(path), memory_map, max_header_size, verify_checksums)


def _open(
    source: Source,
    memory_map: bool,
    max_header_size: int = 10_000,
    verify_checksums: bool = False,
    storage_options: Mapping[str, object] | None = None,
) -> _Archive:
    if isinstance(source, (str, os.PathLike)):
        return open_path(os.fspath(source), memory_map, max_header_size, verify_checksums, storage_options)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _Archive.from_bytes("<bytes>", bytes(source), max_header_size, verify_checksums)
    if hasattr(source, "read"):
        # Read from where the object stands, which is where it is left (as Polars' scans do):
        # the same object can be scanned again.
        name = str(getattr(source, "name", "<file object>"))
        start = source.tell() if _seekable(source) else None
        data = source.read()
        if start is not None:
            source.seek(start)
        return _Archive.from_bytes(name, data, max_header_size, verify_checksums)
    msg = f"source must be a path, bytes or a binary file object, got {type(source).__name__}"
    raise TypeError(msg)


def _seekable(f: object) -> bool:
    try:
        return bool(f.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<bytes>"))
