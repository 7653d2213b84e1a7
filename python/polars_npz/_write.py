"""write_npz: Series become .npy members by the Rust writer (the inverse of the type table);
numpy arrays keep the header numpy writes for them."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import numpy as np

from polars_npz._errors import npz_error
from polars_npz._internal import append_series as _append_series
from polars_npz._internal import series_to_npy as _series_to_npy
from polars_npz._internal import write_members as _write_members
from polars_npz._internal import write_spilled as _write_spilled

_TEMPORAL = (pl.Date, pl.Datetime, pl.Duration)


def _prepared(s: pl.Series, fill: Any) -> pl.Series:
    if s.dtype.base_type() in (pl.Categorical, pl.Enum):
        s = s.cast(pl.String)
    if s.null_count() and fill is not None and s.dtype.base_type() not in _TEMPORAL:
        s = s.fill_null(fill)
    return s


def _series_parts(s: pl.Series, fill: Any, path: str, rows: int | None = None) -> tuple[bytes, bytes]:
    """A Series as a .npy member (header, data), by the Rust writer's inverse type table;
    with `rows`, the header declares that many rows."""
    return _series_to_npy(_prepared(s, fill).__arrow_c_stream__(), rows, path)


def _npy_parts(arr: Any) -> tuple[bytes, memoryview]:
    """The .npy header numpy would write for `arr`, and its C-order data."""
    import numpy as np  # only for numpy arrays handed in: numpy is not a dependency

    arr = np.ascontiguousarray(arr)
    body = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else memoryview(b"")
    d = np.lib.format.header_data_from_array_1_0(arr)
    for writer in (np.lib.format.write_array_header_1_0, np.lib.format.write_array_header_2_0):
        header = io.BytesIO()
        try:
            writer(header, d)
            return header.getvalue(), body
        except (ValueError, UnicodeEncodeError):
            continue
    # Format 3.0 (UTF-8 field names) has no public header writer: let numpy write it all.
    whole = io.BytesIO()
    np.lib.format.write_array(whole, arr, allow_pickle=False)
    raw = whole.getvalue()
    hlen = 12 + int.from_bytes(raw[8:12], "little")
    return raw[:hlen], memoryview(raw)[hlen:]


def _fixed_width(dt: pl.DataType) -> bool:
    base = dt.base_type()
    if base in (pl.String, pl.Binary, pl.Categorical, pl.Enum):
        return False
    if base is pl.Array:
        return _fixed_width(dt.inner)  # type: ignore[attr-defined]
    if base is pl.Struct:
        return all(_fixed_width(f.dtype) for f in dt.fields)  # type: ignore[attr-defined]
    return True


def _write_lazy(lf: pl.LazyFrame, path: str | os.PathLike[str], *, compress: bool, align: int, fill: Any) -> None:
    """Write a LazyFrame of fixed-width columns batch by batch: each batch's array bytes are
    appended to one spill file per column beside `path`, and the archive is then streamed from
    them with headers for the final row count. Memory stays at a few batches."""
    target = os.fspath(path)
    names = lf.collect_schema().names()
    directory = os.path.dirname(os.path.abspath(target))
    spills = {n: tempfile.NamedTemporaryFile(dir=directory, prefix=".npz-spill-", delete=False) for n in names}  # noqa: SIM115 - closed below, appended to by the Rust writer
    for f in spills.values():
        f.close()  # appended to by the Rust writer
    try:
        empty: pl.DataFrame | None = None  # a zero-row frame of the batches' types
        rows = 0
        for batch in lf.collect_batches(chunk_size=1 << 18):
            for s in batch.iter_columns():
                _append_series(_prepared(s, fill).__arrow_c_stream__(), spills[s.name].name, target)
            rows += batch.height
            if empty is None:
                empty = batch.clear()
        if empty is None:
            empty = lf.head(0).collect()
        headers = {s.name: _series_parts(s, fill, target, rows)[0] for s in empty.iter_columns()}
        members = [(n + ".npy", headers[n], spills[n].name) for n in names]
        _write_spilled(target, members, compress, align)
    finally:
        for f in spills.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.name)


def write_npz(
    data: pl.DataFrame | pl.LazyFrame | Mapping[str, np.ndarray | pl.Series],
    path: str | os.PathLike[str],
    *,
    compress: bool = False,
    align: int = 64,
    fill: Any = None,
) -> None:
    """
    Write arrays to an ``.npz`` archive that numpy loads and :func:`scan_npz` maps zero-copy.

    Each column becomes a member ``<name>.npy``. Stored members (the default) have their
    array data aligned to ``align`` bytes in the file, so every fixed-width column of the
    archive is memory-mapped without a copy when read back; ``compress=True`` deflates them
    instead (like ``np.savez_compressed``).

    Types, the inverse of the read table: numerics and Boolean as they are; Date -> ``M8[D]``;
    Datetime/Duration -> ``M8``/``m8`` of the same unit (a time zone is dropped: values are
    stored in UTC); String -> ``U<longest>``; Binary -> ``S<longest>``; Array -> an N-D array;
    Struct -> a structured array. numpy has no nulls: nulls in Datetime/Duration/Date become
    NaT; elsewhere they raise :class:`NpzError` unless ``fill`` gives a value to write instead.

    The archive is written to a temporary file and renamed into place: a failure never leaves
    a half-written archive at ``path``.

    Parameters
    ----------
    data
        A DataFrame, a LazyFrame, or a mapping of name to numpy array or Series. A LazyFrame
        of fixed-width columns is written batch by batch (spilled per column beside ``path``),
        so memory stays at a few batches; one with String/Binary columns is collected with the
        streaming engine first (their width is the longest value's).
    path
        Where to write.
    compress
        Deflate the members instead of storing them aligned.
    align
        Alignment of each stored member's array data, a power of two (default 64).
    fill
        Value to write in place of nulls in columns whose numpy type has no null.
    """
    if isinstance(data, pl.LazyFrame):
        schema = data.collect_schema()
        if all(_fixed_width(dt) for dt in schema.dtypes()):
            _write_lazy(data, path, compress=compress, align=align, fill=fill)
            return
        # String/Binary widths are the longest value's: known only once all rows are in.
        data = data.collect(engine="streaming")
    if isinstance(data, pl.DataFrame):
        items: list[tuple[str, Any]] = [(s.name, s) for s in data.iter_columns()]
    elif isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items()]
    else:
        msg = f"data must be a DataFrame, LazyFrame or mapping, got {type(data).__name__}"
        raise TypeError(msg)
    members: list[tuple[str, bytes, bytes | memoryview]] = []
    for name, value in items:
        body: bytes | memoryview
        if isinstance(value, pl.Series):
            header, body = _series_parts(value.alias(name), fill, os.fspath(path))
        else:
            import numpy as np

            arr = np.asarray(value)
            if arr.dtype.hasobject:
                msg = f"{os.fspath(path)}: array '{name}' has dtype object; object arrays are never written (they would be pickles)"
                raise npz_error(msg, kind="unsupported", path=os.fspath(path), member=name + ".npy")
            header, body = _npy_parts(arr)
        members.append((name + ".npy", header, body))
    _write_members(os.fspath(path), members, compress, align)
