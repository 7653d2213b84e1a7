"""sink_npz: a LazyFrame written to ``.npz`` as it streams, to one archive or to a partitioned
dataset, on local disk or in an object store.

Each batch's columns are appended to one spill file per column (fixed-width columns as their
array bytes, String/Binary columns as length-prefixed values, since numpy's width is the
longest value's, known only at the end); the archive is then written from the spill files
with headers for the final row count, through a temporary file renamed into place (or, for an
object store, uploaded in parts and completed whole). Memory stays at a few batches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from polars_npz._errors import npz_error, warn
from polars_npz._internal import append_series as _append_series
from polars_npz._internal import append_varlen as _append_varlen
from polars_npz._internal import npy_header as _npy_header
from polars_npz._internal import series_to_npy as _series_to_npy
from polars_npz._internal import upload_file as _upload_file
from polars_npz._internal import write_spilled as _write_spilled
from polars_npz._source import is_url, local_path, storage_pairs

__all__ = ["sink_npz"]

# Rows per batch asked of the streaming engine.
_CHUNK_ROWS = 131072

_TEMPORAL = (pl.Date, pl.Datetime, pl.Duration)

# Called with each batch once it is spilled (the command line's progress line).
OnBatch = Callable[[pl.DataFrame], None]


def _prepared(s: pl.Series, fill: Any) -> pl.Series:
    """`s` as it is written: Categorical/Enum as String; nulls replaced by `fill` where its
    numpy type has no null (temporal columns keep theirs: they become NaT)."""
    if s.dtype.base_type() in (pl.Categorical, pl.Enum):
        s = s.cast(pl.String)
    if s.null_count() and fill is not None and s.dtype.base_type() not in _TEMPORAL:
        s = s.fill_null(fill)
    return s


def _fixed_width(dtype: pl.DataType) -> bool:
    base = dtype.base_type()
    if base in (pl.String, pl.Binary, pl.Categorical, pl.Enum):
        return False
    if base is pl.Array:
        return _fixed_width(dtype.inner)  # type: ignore[attr-defined]
    if base is pl.Struct:
        return all(_fixed_width(f.dtype) for f in dtype.fields)  # type: ignore[attr-defined]
    return True


def streamable(schema: pl.Schema) -> bool:
    """Whether every column can be written batch by batch: fixed-width, or String/Binary at
    the top level (strings nested in Array/Struct columns need every row for their width)."""
    return all(_fixed_width(t) or t.base_type() in (pl.String, pl.Binary, pl.Categorical, pl.Enum) for t in schema.dtypes())


def series_parts(s: pl.Series, fill: Any, path: str, rows: int | None = None) -> tuple[bytes, bytes]:
    """A Series as a .npy member (header, data), by the Rust writer's inverse type table;
    with `rows`, the header declares that many rows. Errors name `path`."""
    return _series_to_npy(_prepared(s, fill).__arrow_c_stream__(), rows, path)


class _Spool:
    """One archive being written: a spill file per column, the rows so far, the widest value
    of each String/Binary column."""

    def __init__(self, target: str, schema: pl.Schema, spill_dir: str, fill: Any, block_rows: int | None = None) -> None:
        self.target = target
        self.schema = schema
        self.fill = fill
        self.block_rows = block_rows
        self.rows = 0
        self.widths = {name: 0 for name, t in schema.items() if not _fixed_width(t)}
        self.spills: dict[str, str] = {}
        for name in schema:
            fd, p = tempfile.mkstemp(dir=spill_dir, prefix=".npz-spill-")
            os.close(fd)
            self.spills[name] = p

    def add(self, batch: pl.DataFrame) -> None:
        for s in batch.iter_columns():
            stream = _prepared(s, self.fill).__arrow_c_stream__()
            if s.name in self.widths:
                self.widths[s.name] = max(self.widths[s.name], _append_varlen(stream, self.spills[s.name], self.target))
            else:
                _append_series(stream, self.spills[s.name], self.target)
        self.rows += batch.height

    def finish(self, local: str, compress: bool, align: int) -> None:
        """Write the archive to the local path `local`, then drop the spill files."""
        try:
            members = []
            empty = pl.DataFrame(schema=self.schema)
            for s in empty.iter_columns():
                name = s.name
                if name in self.widths:
                    width = max(1, self.widths[name])
                    utf32 = self.schema[name] != pl.Binary
                    header = _npy_header(f"<U{width}" if utf32 else f"|S{width}", [self.rows])
                    members.append((name + ".npy", header, self.spills[name], "utf32" if utf32 else "bytes", width))
                else:
                    header, _ = series_parts(s, self.fill, self.target, self.rows)
                    members.append((name + ".npy", header, self.spills[name], "raw", 0))
            _write_spilled(local, members, compress, align, self.block_rows)
        finally:
            self.discard()

    def discard(self) -> None:
        for p in self.spills.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def _each_batch(lf: pl.LazyFrame, take: Callable[[pl.DataFrame], None], chunk_rows: int, on_batch: OnBatch | None = None) -> None:
    """Call `take` with each batch of the frame as the streaming engine makes them, inside
    the engine's pipeline (``sink_batches``: the engine waits for `take`, so batches do not
    pile up ahead of a slow writer; ``collect_batches`` buffers them), then `on_batch` (the
    command line's progress). A Polars without it collects the frame first."""

    def each(batch: pl.DataFrame) -> None:
        take(batch)
        if on_batch is not None:
            on_batch(batch)

    sink_batches = getattr(lf, "sink_batches", None)
    if sink_batches is None:
        each(lf.collect())
        return
    sink_batches(each, chunk_size=chunk_rows)


def _hive_value(v: object) -> str:
    """A partition value as a path part (as Polars writes hive paths: percent-encoded, null as
    ``__HIVE_DEFAULT_PARTITION__``)."""
    if v is None:
        return "__HIVE_DEFAULT_PARTITION__"
    if isinstance(v, bool):
        text = str(v).lower()
    elif isinstance(v, (dt.date, dt.datetime, dt.time)):
        text = v.isoformat()
    else:
        text = str(v)
    return urllib.parse.quote(text, safe=" -_.:+,")


class _Destination:
    """Where archives go: a local path (written in place, atomically), or an object store
    (written to a local staging file, then uploaded whole)."""

    def __init__(self, root: str, storage_options: Mapping[str, object] | None) -> None:
        self.remote = is_url(root)
        self.root = root if self.remote else local_path(root)
        self.storage = storage_pairs(storage_options)
        self.staging = tempfile.mkdtemp(prefix="polars-npz-sink-") if self.remote else None

    def spill_dir(self, target: str) -> str:
        if self.staging is not None:
            return self.staging
        directory = os.path.dirname(os.path.abspath(target))
        os.makedirs(directory, exist_ok=True)
        return directory

    def join(self, *parts: str) -> str:
        if self.remote:
            return "/".join([self.root.rstrip("/"), *parts])
        return os.path.join(self.root, *parts)

    def write(self, spool: _Spool, compress: bool, align: int) -> None:
        if self.staging is None:
            spool.finish(spool.target, compress, align)
            return
        local = os.path.join(self.staging, f"upload-{id(spool)}.npz")
        try:
            spool.finish(local, compress, align)
            _upload_file(local, spool.target, self.storage)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(local)

    def close(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)


def sink_npz(
    lf: pl.LazyFrame,
    path: str | os.PathLike[str],
    *,
    compress: bool = False,
    align: int = 64,
    fill: Any = None,
    partition_by: str | Sequence[str] | None = None,
    max_rows_per_file: int | None = None,
    storage_options: Mapping[str, object] | None = None,
    chunk_size: int = _CHUNK_ROWS,
    block_rows: int | None = None,
) -> None:
    """
    Write a LazyFrame to ``.npz`` as it streams: memory stays at a few batches, whatever the
    frame's size.

    The types are those of :func:`write_npz`. Each column's batches are spilled to a file
    beside the target (String/Binary values with their lengths, since numpy's width is the
    longest value's), then the archive is written from them: stored members aligned to
    ``align`` bytes (zero-copy on read), or deflated with ``compress=True``. The archive
    appears whole or not at all: locally through a temporary file renamed into place; in an
    object store (``s3://``, ``gs://``, ``az://``, ...) as a multipart upload completed once
    every part is in (staged in a local temporary file first), aborted on failure. Disk
    needed: the spill files (the array data) plus the archive.

    Parameters
    ----------
    lf
        The frame to write.
    path
        The archive to write; with `partition_by`, the directory (or URL prefix) of the
        dataset: ``key=value/.../part-00000.npz``, as ``write_parquet(partition_by=...)``
        writes (the key columns are in the paths, not in the archives; ``scan_npz(path)``
        reads them back as hive columns).
    compress
        Deflate the members instead of storing them aligned.
    align
        Alignment of each stored member's array data, a power of two (default 64).
    fill
        Value to write in place of nulls in columns whose numpy type has no null.
    partition_by
        Column(s) whose values split the rows into hive directories.
    max_rows_per_file
        With `partition_by` (or alone, over numbered ``part-NNNNN.npz`` files in `path`): start a
        new file once one holds this many rows.
    storage_options
        For object-store URLs: the options of :func:`scan_npz`.
    chunk_size
        Rows per batch asked of the streaming engine.
    block_rows
        Rows per block of each member (default: about 1 MiB of data), as for
        :func:`write_npz`.

    Warns
    -----
    UserWarning
        For each Datetime column with a time zone (numpy's datetime64 has none): its values
        are written in UTC.
    """
    sink(lf, path, **{name: value for name, value in locals().items() if name not in ("lf", "path")})


# The sink options and their defaults: sink_npz's keyword arguments, defined once by its
# signature (the API); the CLI's writer and ``lf.npz.sink`` pass them on.
SINK_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(sink_npz).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
}


def sink(lf: pl.LazyFrame, path: str | os.PathLike[str], *, on_batch: OnBatch | None = None, **given: Any) -> None:
    """:func:`sink_npz` with its options `given` by name, calling `on_batch` with each batch
    once it is spilled."""
    unknown = set(given) - SINK_DEFAULTS.keys()
    if unknown:
        msg = f"unexpected sink options: {', '.join(sorted(unknown))} (accepted: {', '.join(sorted(SINK_DEFAULTS))})"
        raise TypeError(msg)
    o = {**SINK_DEFAULTS, **given}
    compress, align, fill, partition_by = o["compress"], o["align"], o["fill"], o["partition_by"]
    max_rows_per_file, storage_options, chunk_size, block_rows = (
        o["max_rows_per_file"],
        o["storage_options"],
        o["chunk_size"],
        o["block_rows"],
    )
    if not isinstance(lf, pl.LazyFrame):
        msg = f"sink_npz takes a LazyFrame, got {type(lf).__name__}"
        raise TypeError(msg)
    if max_rows_per_file is not None and max_rows_per_file < 1:
        msg = "max_rows_per_file must be at least 1"
        raise ValueError(msg)
    if block_rows is not None and block_rows < 1:
        msg = "block_rows must be at least 1"
        raise ValueError(msg)
    keys = [partition_by] if isinstance(partition_by, str) else list(partition_by or [])
    schema = lf.collect_schema()
    missing = [k for k in keys if k not in schema]
    if missing:
        msg = f"partition_by: no column(s) {missing} in the frame (it has {list(schema)})"
        raise pl.exceptions.ColumnNotFoundError(msg)
    check_names(list(schema), os.fspath(path))
    warn_dropped_zones(((n, t) for n, t in schema.items() if n not in keys), os.fspath(path))
    if not streamable(schema):
        # Strings nested in Array/Struct columns: their width needs every row at once.
        lf = lf.collect(engine="streaming").lazy()
    dest = _Destination(os.fspath(path), storage_options)
    try:
        if keys or max_rows_per_file is not None:
            _sink_parts(lf, dest, keys, schema, compress, align, fill, max_rows_per_file, chunk_size, on_batch, block_rows)
        else:
            target = dest.root
            spool = _Spool(target, schema, dest.spill_dir(target), fill, block_rows)
            try:
                _each_batch(lf, spool.add, chunk_size, on_batch)
                dest.write(spool, compress, align)
            finally:
                spool.discard()
    finally:
        dest.close()


def _sink_parts(
    lf: pl.LazyFrame,
    dest: _Destination,
    keys: list[str],
    schema: pl.Schema,
    compress: bool,
    align: int,
    fill: Any,
    max_rows: int | None,
    chunk_size: int,
    on_batch: OnBatch | None = None,
    block_rows: int | None = None,
) -> None:
    """Partitioned (and/or size-limited) writes: one open spool per partition, a new part file
    once one holds `max_rows` rows."""
    file_schema = pl.Schema({n: t for n, t in schema.items() if n not in keys})
    spools: dict[tuple[object, ...], _Spool] = {}
    counters: dict[tuple[object, ...], int] = {}

    def open_spool(key: tuple[object, ...]) -> _Spool:
        n = counters.get(key, 0)
        counters[key] = n + 1
        dirs = [f"{k}={_hive_value(v)}" for k, v in zip(keys, key)]
        target = dest.join(*dirs, f"part-{n:05d}.npz")
        return _Spool(target, file_schema, dest.spill_dir(target), fill, block_rows)

    def take(batch: pl.DataFrame) -> None:
        if keys:
            parts = batch.partition_by(keys, as_dict=True, include_key=False, maintain_order=True)
        else:
            parts = {(): batch}
        for key, part in parts.items():
            offset = 0
            while offset < part.height:
                spool = spools.get(key)
                if spool is None:
                    spool = spools[key] = open_spool(key)
                room = part.height - offset if max_rows is None else min(part.height - offset, max_rows - spool.rows)
                spool.add(part.slice(offset, room))
                offset += room
                if max_rows is not None and spool.rows >= max_rows:
                    dest.write(spools.pop(key), compress, align)

    try:
        _each_batch(lf, take, chunk_size, on_batch)
        for key in list(spools):
            dest.write(spools.pop(key), compress, align)
    except BaseException:
        for spool in spools.values():
            spool.discard()
        raise


def _zones(name: str, dtype: pl.DataType) -> list[tuple[str, str]]:
    """The (column or field, time zone) of every zoned Datetime in `dtype`, nested ones included
    (``name.field``, ``name[]``)."""
    base = dtype.base_type()
    if base is pl.Datetime:
        tz = dtype.time_zone  # type: ignore[attr-defined]
        return [] if tz is None else [(name, tz)]
    if base in (pl.Array, pl.List):
        return _zones(name + "[]", dtype.inner)  # type: ignore[attr-defined]
    if base is pl.Struct:
        return [z for f in dtype.fields for z in _zones(f"{name}.{f.name}", f.dtype)]  # type: ignore[attr-defined]
    return []


def warn_dropped_zones(columns: Iterable[tuple[str, pl.DataType]], path: str) -> None:
    """Warn of each Datetime column with a time zone: numpy's datetime64 has none, so its
    values are written as they are held, in UTC, and the zone is lost."""
    for name, dtype in columns:
        for where, tz in _zones(name, dtype):
            msg = (
                f"{path}: column '{where}' has the time zone '{tz}', which numpy's datetime64 cannot hold: "
                "its values are written in UTC and the zone is dropped (.dt.replace_time_zone(None) first "
                "writes the local wall-clock times instead)"
            )
            warn(msg)


def check_names(names: Sequence[str], path: str) -> None:
    """Refuse column names that would make unsafe or unreadable member names (the native
    writer refuses them too; this says so before any batch is computed, and before a name
    with a NUL reaches the Arrow C interface, which cannot carry it)."""
    for name in names:
        if any(c in name for c in "/\\\0") or ".." in name:
            msg = f"{path}: column name {name!r} cannot be a member name (path separators, '..' and NUL are refused); rename the column"
            raise npz_error(msg, kind="request", path=path)
