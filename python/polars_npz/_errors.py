"""``NpzError`` raised from Python carries what the native layer's errors carry: ``kind``
(``"corrupt"``, ``"unsupported"``, ``"checksum"``, ``"request"``, ``"limit"``, ``"io"``,
``"internal"``), ``path`` (the file, or ``""``) and ``member`` (the zip member, or None)."""

from __future__ import annotations

import os
import sys
import warnings

from polars_npz._internal import NpzError

__all__ = ["npz_error", "warn"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__))

_AS_POLARS: dict[str, type[NpzError]] = {}


def _as_polars(polars_class: type[Exception]) -> type[NpzError]:
    """The ``NpzError`` that is also `polars_class` (``pl.exceptions.SchemaError``, ...), so
    Polars users catch it as they would a ``pl.scan_parquet`` error."""
    name = polars_class.__name__
    if name not in _AS_POLARS:
        _AS_POLARS[name] = type(name, (NpzError, polars_class), {"__module__": "polars_npz"})
    return _AS_POLARS[name]


def npz_error(
    message: str, *, kind: str, path: str = "", member: str | None = None, polars_class: type[Exception] | None = None
) -> NpzError:
    """An ``NpzError`` with its `kind`, `path` and `member` set (to raise); also an instance of
    `polars_class` when given: the Polars exception ``pl.scan_parquet`` raises for the same
    problem (a column of another type: ``SchemaError``; a missing column: ``ColumnNotFoundError``)."""
    err = NpzError(message) if polars_class is None else _as_polars(polars_class)(message)
    err.kind = kind
    err.path = path
    err.member = member
    return err


def warn(message: str) -> None:
    """A ``UserWarning`` pointing at the first caller outside this package (whichever public
    function it went through)."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)
