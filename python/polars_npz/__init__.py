"""Lazy Polars frames over NumPy ``.npz`` archives.

``scan_npz`` gives a :class:`polars.LazyFrame` whose columns are the arrays of an archive;
only the arrays a query touches are read. Stored members are memory-mapped and handed to
Polars without a copy when their data is aligned; deflated members are inflated straight
into Arrow buffers, and only as far as the query needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import IO, Union

import polars as pl
from polars.io.plugins import register_io_source

from polars_npz._internal import Archive as _Archive
from polars_npz._internal import align_npz as _align_npz
from polars_npz._internal import constant_column as _constant_column
from polars_npz._internal import index_column as _index_column
from polars_npz._internal import NpzError
from polars_npz._write import write_npz

__all__ = ["NpzError", "align_npz", "npz_members", "read_npz", "scan_npz", "write_npz"]
__version__ = "0.1.0"


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


def _frame(columns: list[object]) -> pl.DataFrame:
    return pl.DataFrame([pl.Series(c) for c in columns])


def scan_npz(
    source: Source,
    *,
    n_rows: int | None = None,
    row_index_name: str | None = None,
    row_index_offset: int = 0,
    include_file_paths: str | None = None,
    memory_map: bool = True,
    verify_checksums: bool = False,
    max_header_size: int = 10_000,
) -> pl.LazyFrame:
    """
    Lazily read the arrays of a NumPy ``.npz`` archive as the columns of a LazyFrame.

    Each array member becomes a column named like the member without ``.npy``, in archive
    order; the first axis gives the rows and further axes an ``Array`` column. Only the arrays
    a query selects are read, and with a row limit only the rows it needs.

    Parameters
    ----------
    source
        Path to the ``.npz`` file; or its bytes, or a binary file object (read once into
        memory).
    n_rows
        Stop reading after this many rows of the archive.
    row_index_name
        If set, insert a row index column with this name as the first column.
    row_index_offset
        Start the row index at this offset.
    include_file_paths
        If set, add a column of this name holding the archive's path.
    memory_map
        Memory-map the file (default). Stored members whose data is aligned are then handed
        to Polars without any copy. With ``False``, members are read into owned memory, which
        is safe even if the file is truncated while the frame is alive.
    verify_checksums
        Also check the CRC-32 of stored members when they are read (this reads every byte of
        them). Deflated members are always checked once wholly inflated.
    max_header_size
        Largest ``.npy`` header accepted, in bytes (numpy's default, 10,000).

    Returns
    -------
    LazyFrame

    Raises
    ------
    NpzError
        If the archive or a member's header is invalid, or a member's type is unsupported
        (at scan time); if a member's data is invalid (at ``collect()``).

    Examples
    --------
    >>> import numpy as np
    >>> np.savez("/tmp/doc.npz", x=np.arange(5), y=np.linspace(0, 1, 5))
    >>> scan_npz("/tmp/doc.npz").filter(pl.col("x") > 2).collect()
    shape: (2, 2)
    ┌─────┬──────┐
    │ x   ┆ y    │
    │ --- ┆ ---  │
    │ i64 ┆ f64  │
    ╞═════╪══════╡
    │ 3   ┆ 0.75 │
    │ 4   ┆ 1.0  │
    └─────┴──────┘
    """
    if n_rows is not None and n_rows < 0:
        msg = "n_rows must be non-negative"
        raise ValueError(msg)
    path = _source_name(source)
    archive = _open(source, memory_map, max_header_size, verify_checksums)
    arrays = pl.Schema(archive.schema())
    fields: list[tuple[str, pl.DataType]] = []
    if row_index_name is not None:
        fields.append((row_index_name, pl.get_index_type()))
    fields.extend(arrays.items())
    if include_file_paths is not None:
        fields.append((include_file_paths, pl.String()))
    names = [n for n, _ in fields]
    if len(set(names)) != len(names):
        msg = f"{path}: duplicate column names in {names}"
        raise NpzError(msg)
    schema = pl.Schema(fields)
    wide_index = pl.get_index_type() == pl.UInt64

    def generate(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        limit: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        wanted = names if with_columns is None else list(with_columns)
        selected = [c for c in wanted if c in arrays]
        # Rows to read from the archive: the scan's own limit, and Polars' limit when no
        # predicate stands between the source and that limit.
        source_rows = n_rows
        if predicate is None and limit is not None:
            source_rows = limit if source_rows is None else min(source_rows, limit)
        reader = archive.batches(selected, source_rows, batch_size)
        offset = row_index_offset
        remaining = limit
        while remaining is None or remaining > 0:
            cols = reader.next()
            if cols is None:
                break
            height = reader.last_height
            by_name = {s.name: s for s in map(pl.Series, cols)}
            if row_index_name is not None and row_index_name in wanted:
                by_name[row_index_name] = pl.Series(_index_column(row_index_name, offset, height, wide_index))
            if include_file_paths is not None and include_file_paths in wanted:
                by_name[include_file_paths] = pl.Series(_constant_column(include_file_paths, path, height))
            offset += height
            # Built directly in the wanted order: an eager `select` would run a query on
            # Polars' engine from inside its own source, which costs milliseconds.
            df = pl.DataFrame([by_name[c] for c in wanted])
            if predicate is not None:
                df = df.filter(predicate)
            if remaining is not None:
                df = df.head(remaining)
                remaining -= df.height
            yield df

    return register_io_source(generate, schema=schema, validate_schema=True)


def read_npz(
    source: Source,
    *,
    columns: Sequence[str] | None = None,
    n_rows: int | None = None,
    memory_map: bool = True,
    verify_checksums: bool = False,
    max_header_size: int = 10_000,
) -> pl.DataFrame:
    """
    Read the arrays of a NumPy ``.npz`` archive into a DataFrame.

    Parameters
    ----------
    source
        Path to the ``.npz`` file, its bytes, or a binary file object.
    columns
        Names of the arrays to read (default: all), in the order given.
    n_rows
        Read at most this many rows.
    memory_map
        Memory-map the file (default); see :func:`scan_npz`.
    verify_checksums
        Also check the CRC-32 of stored members; see :func:`scan_npz`.
    max_header_size
        Largest ``.npy`` header accepted, in bytes.

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> import numpy as np
    >>> np.savez_compressed("/tmp/doc2.npz", a=np.arange(3, dtype=np.int32))
    >>> read_npz("/tmp/doc2.npz")["a"].to_list()
    [0, 1, 2]
    """
    archive = _open(source, memory_map, max_header_size, verify_checksums)
    names = archive.column_names() if columns is None else list(columns)
    reader = archive.batches(names, n_rows, None)
    frames = []
    while (cols := reader.next()) is not None:
        frames.append(_frame(cols))
    if not names:
        return pl.DataFrame()
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def npz_members(source: Source) -> pl.DataFrame:
    """
    List the members of an ``.npz`` archive without reading any array data.

    Returns
    -------
    DataFrame
        One row per zip member: ``member`` (name in the zip), ``name`` (column name, null for
        members that are not ``.npy`` arrays), ``numpy_dtype``, ``shape``, ``fortran_order``,
        ``polars_dtype`` (null when the type is refused, with the reason in ``error``),
        ``compression``, ``compressed_size``, ``size``, ``data_offset`` (file offset of the
        array data, for stored members) and ``zero_copy`` (whether reading it maps the data
        without a copy).
    """
    archive = _open(source, True)
    rows = archive.members()
    return pl.DataFrame(
        {
            "member": [r["member"] for r in rows],
            "name": [r["name"] for r in rows],
            "numpy_dtype": [r["numpy_dtype"] for r in rows],
            "shape": [r["shape"] for r in rows],
            "fortran_order": [r["fortran_order"] for r in rows],
            "polars_dtype": [None if r["empty"] is None else str(pl.Series(r["empty"]).dtype) for r in rows],
            "compression": [r["compression"] for r in rows],
            "compressed_size": [r["compressed_size"] for r in rows],
            "size": [r["size"] for r in rows],
            "data_offset": [r["data_offset"] for r in rows],
            "zero_copy": [r["zero_copy"] for r in rows],
            "error": [r["error"] for r in rows],
        },
        schema={
            "member": pl.String,
            "name": pl.String,
            "numpy_dtype": pl.String,
            "shape": pl.List(pl.UInt64),
            "fortran_order": pl.Boolean,
            "polars_dtype": pl.String,
            "compression": pl.String,
            "compressed_size": pl.UInt64,
            "size": pl.UInt64,
            "data_offset": pl.UInt64,
            "zero_copy": pl.Boolean,
            "error": pl.String,
        },
    )


def align_npz(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, align: int = 64, decompress: bool = False) -> None:
    """
    Rewrite an ``.npz`` archive so every stored member's array data is aligned in the file.

    ``np.savez`` starts each member wherever the previous one ended, so most members of 8-byte
    types cannot be memory-mapped without a copy. The rewritten archive pads each member's
    local header (an extra field, as zipalign does) so the array data starts at a multiple of
    ``align``; numpy loads it unchanged and :func:`scan_npz` maps every fixed-width column
    without a copy. Member bytes are copied without decoding (CRCs are checked).

    Parameters
    ----------
    src
        The archive to read.
    dst
        Where to write; written to a temporary file beside it and renamed into place, so a
        failure never leaves a partial archive there.
    align
        Alignment in bytes, a power of two (default 64).
    decompress
        Also store deflated members inflated (so they can be mapped too); otherwise they are
        copied as they are.

    Examples
    --------
    >>> import numpy as np
    >>> np.savez("/tmp/doc3.npz", a=np.arange(5.0), bb=np.arange(5.0))
    >>> align_npz("/tmp/doc3.npz", "/tmp/doc3_aligned.npz")
    >>> npz_members("/tmp/doc3_aligned.npz")["zero_copy"].to_list()
    [True, True]
    """
    _align_npz(os.fspath(src), os.fspath(dst), align, decompress)


@pl.api.register_dataframe_namespace("npz")
class NpzFrame:
    """``df.npz.write(path, ...)``: write the frame with :func:`write_npz`."""

    def __init__(self, df: pl.DataFrame) -> None:
        self._df = df

    def write(self, path: str | os.PathLike[str], *, compress: bool = False, align: int = 64, fill: object = None) -> None:
        """Write the frame to an ``.npz`` archive; see :func:`write_npz`."""
        write_npz(self._df, path, compress=compress, align=align, fill=fill)
