"""Polars frames to numpy arrays (the inverse of the type table), written by the Rust writer."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from polars_npz._internal import NpzError
from polars_npz._internal import write_members as _write_members

_NAT = np.iinfo(np.int64).min

_NUMERIC = {
    pl.Int8: "i1", pl.Int16: "i2", pl.Int32: "i4", pl.Int64: "i8",
    pl.UInt8: "u1", pl.UInt16: "u2", pl.UInt32: "u4", pl.UInt64: "u8",
    pl.Float16: "f2", pl.Float32: "f4", pl.Float64: "f8", pl.Boolean: "?",
}


def _no_nulls(s: pl.Series, fill: Any) -> pl.Series:
    if s.null_count() == 0:
        return s
    if fill is None:
        msg = f"column '{s.name}' has {s.null_count()} nulls and numpy has no nulls for {s.dtype}; pass fill= to write them"
        raise NpzError(msg)
    return s.fill_null(fill)


def series_to_numpy(s: pl.Series, fill: Any = None) -> np.ndarray:
    """The numpy array a Series is written as (see the type table, read right to left)."""
    dt = s.dtype
    base = dt.base_type()
    if base in _NUMERIC:
        return _no_nulls(s, fill).to_numpy().astype(_NUMERIC[base], copy=False)
    if base is pl.Date:
        return s.to_physical().cast(pl.Int64).fill_null(_NAT).to_numpy().view("M8[D]")
    if base is pl.Datetime:
        unit = dt.time_unit  # type: ignore[attr-defined]
        ticks = s.dt.replace_time_zone(None).to_physical().fill_null(_NAT)
        return ticks.to_numpy().view(f"M8[{unit}]")
    if base is pl.Duration:
        unit = dt.time_unit  # type: ignore[attr-defined]
        return s.to_physical().fill_null(_NAT).to_numpy().view(f"m8[{unit}]")
    if base in (pl.String, pl.Categorical, pl.Enum):
        s = _no_nulls(s.cast(pl.String), fill)
        width = max(1, int(s.str.len_chars().max() or 0))
        return np.array(s.to_list(), dtype=f"U{width}")
    if base is pl.Binary:
        s = _no_nulls(s, fill)
        width = max(1, int(s.bin.size().max() or 0))
        return np.array(s.to_list(), dtype=f"S{width}")
    if base is pl.Array:
        if s.null_count():
            msg = f"column '{s.name}' has null arrays; numpy has no nulls"
            raise NpzError(msg)
        shape = dt.shape  # type: ignore[attr-defined]
        flat = s
        for _ in shape:
            flat = flat.arr.explode() if flat.dtype.base_type() is pl.Array else flat
        leaf = series_to_numpy(flat.rename(s.name), fill)
        return leaf.reshape((len(s), *shape))
    if base is pl.Struct:
        if s.null_count():
            msg = f"column '{s.name}' has null structs; numpy has no nulls"
            raise NpzError(msg)
        fields = [series_to_numpy(f, fill) for f in s.struct.unnest().iter_columns()]
        names = [f.name for f in dt.fields]  # type: ignore[attr-defined]
        dtype = np.dtype([(n, a.dtype, a.shape[1:]) for n, a in zip(names, fields)])
        out = np.empty(len(s), dtype=dtype)
        for n, a in zip(names, fields):
            out[n] = a
        return out
    msg = f"column '{s.name}' of type {dt} has no numpy equivalent for an .npz archive"
    raise NpzError(msg)


def _npy_parts(arr: np.ndarray) -> tuple[bytes, memoryview]:
    """The .npy header numpy would write for `arr`, and its C-order data."""
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
        A DataFrame, a LazyFrame (collected with the streaming engine), or a mapping of name
        to numpy array or Series.
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
        data = data.collect(engine="streaming")
    if isinstance(data, pl.DataFrame):
        arrays = {s.name: series_to_numpy(s, fill) for s in data.iter_columns()}
    elif isinstance(data, Mapping):
        arrays = {str(k): series_to_numpy(v, fill) if isinstance(v, pl.Series) else np.asarray(v) for k, v in data.items()}
    else:
        msg = f"data must be a DataFrame, LazyFrame or mapping, got {type(data).__name__}"
        raise TypeError(msg)
    members = []
    for name, arr in arrays.items():
        if arr.dtype.hasobject:
            msg = f"array '{name}' has dtype object; object arrays are never written (they would be pickles)"
            raise NpzError(msg)
        header, body = _npy_parts(arr)
        members.append((name + ".npy", header, body))
    _write_members(os.fspath(path), members, compress, align)
