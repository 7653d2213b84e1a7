"""write_npz: Series become .npy members by the Rust writer (the inverse of the type table);
numpy arrays keep the header numpy writes for them."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import numpy as np

from polars_npz._errors import npz_error
from polars_npz._internal import upload_file as _upload_file
from polars_npz._internal import write_members as _write_members
from polars_npz._sink import check_names, series_parts, sink_npz, warn_dropped_zones
from polars_npz._source import is_url, storage_pairs


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


def write_npz(
    data: pl.DataFrame | pl.LazyFrame | Mapping[str, np.ndarray | pl.Series],
    path: str | os.PathLike[str],
    *,
    compress: bool = False,
    align: int = 64,
    fill: Any = None,
    storage_options: Mapping[str, object] | None = None,
    block_rows: int | None = None,
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
        is written as it streams, by :func:`sink_npz` (memory stays at a few batches).
    path
        Where to write: a local path, or an object-store URL (``s3://``, ``gs://``, ``az://``,
        ...: written locally, then uploaded whole; an upload that fails leaves no object).
    compress
        Deflate the members instead of storing them aligned.
    align
        Alignment of each stored member's array data, a power of two (default 64).
    fill
        Value to write in place of nulls in columns whose numpy type has no null.
    storage_options
        For object-store URLs: the options of :func:`scan_npz`.
    block_rows
        Rows per block (numpy ignores blocks; :func:`scan_npz` inflates a deflated member's
        blocks in parallel, starts slices at the right one and skips those a filter rules out
        by their min/max/null/NaN statistics). Default: about 1 MiB of data per block. A member
        has at most 1024 blocks, so they grow with it.

    Warns
    -----
    UserWarning
        For each Datetime column with a time zone (numpy's datetime64 has none): its values
        are written in UTC.
    """
    if isinstance(data, pl.LazyFrame):
        sink_npz(data, path, compress=compress, align=align, fill=fill, storage_options=storage_options, block_rows=block_rows)
        return
    target = os.fspath(path)
    if isinstance(data, pl.DataFrame):
        items: list[tuple[str, Any]] = [(s.name, s) for s in data.iter_columns()]
    elif isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items()]
    else:
        msg = f"data must be a DataFrame, LazyFrame or mapping, got {type(data).__name__}"
        raise TypeError(msg)
    if block_rows is not None and block_rows < 1:
        msg = "block_rows must be at least 1"
        raise ValueError(msg)
    check_names([name for name, _ in items], target)
    warn_dropped_zones(((name, v.dtype) for name, v in items if isinstance(v, pl.Series)), target)
    if is_url(target):
        # Written to a local file, then uploaded whole.
        with tempfile.TemporaryDirectory(prefix="polars-npz-write-") as staging:
            local = os.path.join(staging, "upload.npz")
            _write_items(items, local, compress, align, fill, block_rows)
            _upload_file(local, target, storage_pairs(storage_options))
        return
    _write_items(items, target, compress, align, fill, block_rows)


def _write_items(items: list[tuple[str, Any]], path: str, compress: bool, align: int, fill: Any, block_rows: int | None) -> None:
    """Write (name, Series or array) pairs to the local archive `path`."""
    members: list[tuple[str, bytes, bytes | memoryview]] = []
    for name, value in items:
        body: bytes | memoryview
        if isinstance(value, pl.Series):
            header, body = series_parts(value.alias(name), fill, path)
        else:
            import numpy as np

            arr = np.asarray(value)
            if arr.dtype.hasobject:
                msg = f"{path}: array '{name}' has dtype object; object arrays are never written (they would be pickles)"
                raise npz_error(msg, kind="unsupported", path=path, member=name + ".npy")
            header, body = _npy_parts(arr)
        members.append((name + ".npy", header, body))
    _write_members(path, members, compress, align, block_rows)
