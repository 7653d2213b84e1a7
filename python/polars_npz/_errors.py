"""``NpzError`` raised from Python carries what the native layer's errors carry: ``kind``
(``"corrupt"``, ``"unsupported"``, ``"checksum"``, ``"request"``, ``"limit"``, ``"io"``,
``"internal"``), ``path`` (the file, or ``""``) and ``member`` (the zip member, or None)."""

from __future__ import annotations

from polars_npz._internal import NpzError

__all__ = ["npz_error"]


def npz_error(message: str, *, kind: str, path: str = "", member: str | None = None) -> NpzError:
    """An ``NpzError`` with its `kind`, `path` and `member` set (to raise)."""
    err = NpzError(message)
    err.kind = kind
    err.path = path
    err.member = member
    return err
