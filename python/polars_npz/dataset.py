"""Datasets of many archives: sources expanded to files, and the per-file reader that Polars'
own multi-file scan drives (projection, slices, row counts from the headers, hive columns,
file paths and row indices handled as for ``pl.scan_parquet``)."""

from __future__ import annotations

import functools
import glob as _glob
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from polars_npz._internal import Archive as _Archive
from polars_npz._internal import NpzError
from polars_npz._internal import expand_url as _expand_url
from polars_npz._internal import file_sizes as _file_sizes
from polars_npz._internal import read_chain as _read_chain
from polars_npz._source import is_url, local_path, storage_pairs

__all__ = ["expand_sources", "file_sizes", "has_multi_file_scan", "is_glob", "scan_files"]

_GLOB_CHARS = frozenset("*?[")

# Local datasets of up to this many files are counted when scanned (their headers read in
# parallel: about 10-50 microseconds per file), so that `len()` needs no reader at all.
_COUNT_AT_SCAN_MAX = 4096

# Small files of one directory are read as groups of up to this many files and bytes of
# array data (their columns then arrive as one DataFrame per group). Polars reads several
# sources ahead, so the bytes bound what each holds in memory.
_GROUP_FILES = 64
_GROUP_BYTES = 16 << 20
# A group reads its files' selected members (as inflated) at most this many bytes at a time.
_CHAIN_BYTES = 16 << 20

# Rows per batch asked of a deflated member (stored members come in larger batches or whole).
_BATCH_ROWS = 100_000


def is_glob(path: str) -> bool:
    """Whether `path` holds a glob character (``*``, ``?``, ``[``)."""
    return not _GLOB_CHARS.isdisjoint(path)


@functools.cache
def has_multi_file_scan() -> bool:
    """Whether this Polars runs external readers in its multi-file scan (Polars 2.x)."""
    try:
        from polars._plr import PyLazyFrame
        from polars.io.external_reader import FileReader, FileReaderBuilder  # noqa: F401
        from polars.io.scan_options._options import ScanOptions  # noqa: F401
    except ImportError:
        return False
    return hasattr(PyLazyFrame, "new_from_external_reader_builder")


def expand_sources(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    glob: bool = True,
    storage_options: Mapping[str, object] | None = None,
) -> list[str]:
    """
    The archive files of `source`, in order: a path as it is; a directory, every ``.npz``
    below it (recursively, sorted); a glob (``*``, ``?``, ``[...]``, ``**``), the files it
    matches (sorted); a list, each of these in turn. Raises ``FileNotFoundError`` when a
    directory or glob matches no archive.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out: list[str] = []
    for item in items:
        path = os.fspath(item)
        if is_url(path):
            # Object stores list their own prefixes (globs, or every .npz below a "/").
            if not glob and not path.endswith("/"):
                out.append(path)
                continue
            found = _expand_url(path, storage_pairs(storage_options))
            if not found:
                raise FileNotFoundError(f"{path}: no objects match")
            out.extend(found)
            continue
        path = local_path(path)
        if os.path.isdir(path):
            found = sorted(
                os.path.join(root, f)
                for root, dirs, files in os.walk(path)
                for f in files
                if f.endswith(".npz") and not f.startswith((".", "_"))
            )
            if not found:
                raise FileNotFoundError(f"{path}: no .npz files in this directory")
            out.extend(found)
        elif glob and is_glob(path) and not os.path.exists(path):
            found = sorted(p for p in _glob.glob(path, recursive=True) if os.path.isfile(p))
            if not found:
                raise FileNotFoundError(f"{path}: no files match this pattern")
            out.extend(found)
        else:
            out.append(path)
    if not out:
        raise FileNotFoundError("no source files given")
    return out


def _with_nulls(df: pl.DataFrame, names: list[str], schema: pl.Schema) -> pl.DataFrame:
    """`df` with null columns `names`, of their types in `schema`, added."""
    return df.with_columns(pl.lit(None, dtype=schema[c]).alias(c) for c in names) if names else df


def _group_small_files(files: list[str], sizes: list[int] | None = None) -> list[list[str]]:
    """`files` in order, as groups of consecutive local files of one directory, each group
    at most `_GROUP_FILES` files and `_GROUP_BYTES` bytes: of array data once inflated when
    `sizes` gives it (from the headers), else on disk (a larger file is a group of its own and
    is read in batches). Object-store URLs are not grouped."""
    groups: list[list[str]] = []
    current: list[str] = []
    size, folder = 0, None
    for k, f in enumerate(files):
        if is_url(f):
            return [[f] for f in files]
        if sizes is not None:
            n = sizes[k]
        else:
            try:
                n = os.path.getsize(local_path(f))
            except OSError:
                n = _GROUP_BYTES  # read alone; its reader reports the problem
        d = os.path.dirname(f)
        if current and (d != folder or len(current) >= _GROUP_FILES or size + n > _GROUP_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(f)
        size += n
        folder = d
    if current:
        groups.append(current)
    return groups


def file_sizes(files: list[str], max_header_size: int) -> list[tuple[int, int]] | None:
    """Each file's rows and bytes of array data once inflated, from the zip indexes and
    ``.npy`` headers of a local dataset (opened in parallel, no array data read), when there
    are at most `_COUNT_AT_SCAN_MAX` files; ``None`` for more, for object-store URLs, or when a
    file cannot be opened (the query then reports it, naming the file)."""
    if len(files) > _COUNT_AT_SCAN_MAX or any(is_url(f) for f in files):
        return None
    try:
        # Read with positioned reads, not mapped: for the few bytes of the headers, a
        # mapping's setup and teardown cost more.
        return _file_sizes([local_path(f) for f in files], False, max_header_size)
    except (OSError, NpzError):
        return None


def _check_file(path: str, archive: _Archive, schema: pl.Schema, missing: str, extra: str) -> list[str]:
    """The dataset columns this file holds; raises NpzError naming the file for a column of
    another type, a missing column (unless ``missing == "insert"``) or an extra column
    (unless ``extra == "ignore"``)."""
    own = pl.Schema(archive.schema())
    for name, dtype in own.items():
        if name in schema:
            if schema[name] != dtype and dtype != pl.Null:
                msg = f"{path}: column '{name}' is {dtype} here but {schema[name]} in the dataset's schema"
                raise NpzError(msg)
        elif extra == "raise":
            msg = f"{path}: column '{name}' is not in the dataset's schema (pass extra_columns='ignore' to skip such columns)"
            raise NpzError(msg)
    absent = [name for name in schema if name not in own]
    if absent and missing == "raise":
        msg = f"{path}: column(s) {', '.join(repr(a) for a in absent)} of the dataset's schema are missing (pass missing_columns='insert' to read them as nulls)"
        raise NpzError(msg)
    return [name for name in schema if name in own]


def scan_files(
    files: list[str],
    schema: pl.Schema,
    *,
    open_archives: Any,
    reference: _Archive | None,
    n_rows: int | None,
    row_index: tuple[str, int] | None,
    include_file_paths: str | None,
    hive_partitioning: bool | None,
    hive_schema: Any,
    try_parse_hive_dates: bool,
    missing_columns: str,
    extra_columns: str,
    sizes: list[tuple[int, int]] | None = None,
) -> pl.LazyFrame:
    """A LazyFrame over `files` through Polars' multi-file scan with our reader of one or a
    group of files.
    `reference`: an open archive whose schema is exactly `schema` (files that match it need no
    further check). `sizes`: each file's rows and inflated array bytes when known (from the
    headers, see `file_sizes`): Polars then answers a plain ``len()`` with their sum, creating
    no reader, and files are grouped by the memory they take."""
    all_columns = list(schema)
    full_schema = dict(schema)
    from polars._plr import PyLazyFrame
    from polars._utils.wrap import wrap_ldf
    from polars.io.external_reader import FileReader, FileReaderBuilder, ReaderCapabilities
    from polars.io.scan_options._options import ScanOptions

    class NpzGroupReader(FileReader):
        """One source: an archive, or consecutive small archives of one directory read as one
        (Polars' costs per source, a reader object, its calls, a DataFrame per batch, are then
        paid once for the group). Each archive's columns are checked against the dataset's
        schema; archives are read in one native call (in parallel, GIL released), their
        columns joined as chunks without a copy."""

        def __init__(self, paths: list[str]) -> None:
            self.archives = open_archives(paths)
            self.columns: list[list[str]] = []
            held: set[str] = set()
            for path, archive in zip(paths, self.archives):
                if reference is not None and archive.same_schema_as(reference):
                    cols = all_columns
                else:
                    cols = _check_file(path, archive, schema, missing_columns, extra_columns)
                self.columns.append(cols)
                held.update(cols)
            self.held = all_columns if len(held) == len(all_columns) else [c for c in all_columns if c in held]
            self.heights = [archive.height() for archive in self.archives]

        def schema(self) -> dict[str, pl.DataType]:
            return full_schema if self.held is all_columns else {name: schema[name] for name in self.held}

        def n_rows_in_file(self, limit: int | None = None) -> int:
            return sum(self.heights)

        def collect_batches(
            self,
            *,
            columns: Sequence[str],
            row_index: tuple[str, int] | None,
            pre_slice: tuple[int, int] | None,
            filters: Sequence[Any],
            num_pipelines: int,
        ) -> Iterator[pl.DataFrame]:
            skip, left = pre_slice if pre_slice is not None else (0, None)
            # The rows of each archive the slice covers: (archive, rows skipped, rows read).
            parts: list[tuple[int, int, int]] = []
            for i, height in enumerate(self.heights):
                if left == 0:
                    break
                if skip >= height:
                    skip -= height
                    continue
                n = height - skip if left is None else min(height - skip, left)
                parts.append((i, skip, n))
                skip = 0
                if left is not None:
                    left -= n
            if not any(c in self.held for c in columns):
                # A count, or only hive columns: heights from the headers alone.
                yield pl.DataFrame(height=sum(n for _, _, n in parts))
                return
            if not parts:
                parts = [(0, 0, 0)]  # no rows: one empty batch, with the types
            # Runs of consecutive archives holding the same columns, each read in one call
            # and at most `_CHAIN_BYTES` of member data (as inflated); an archive larger than
            # that alone is read in batches.
            k = 0
            while k < len(parts):
                first = parts[k][0]
                wanted = [c for c in columns if c in self.columns[first]]
                absent = [c for c in columns if c not in wanted and c in schema]  # missing_columns="insert"
                size = self.archives[first].data_bytes(wanted)
                if size > _CHAIN_BYTES:
                    _, skip_rows, n = parts[k]
                    reader = self.archives[first].batches(wanted, n, _BATCH_ROWS, skip_rows)
                    while (cols := reader.next()) is not None:
                        yield _with_nulls(pl.DataFrame([pl.Series(c) for c in cols]), absent, schema)
                    k += 1
                    continue
                end = k + 1
                while end < len(parts) and self.columns[parts[end][0]] is self.columns[first]:
                    more = self.archives[parts[end][0]].data_bytes(wanted)
                    if size + more > _CHAIN_BYTES:
                        break
                    size += more
                    end += 1
                run = [(self.archives[i], s, n) for i, s, n in parts[k:end]]
                rows, cols = _read_chain(run, wanted)
                df = pl.DataFrame([pl.Series(c) for c in cols]) if wanted else pl.DataFrame(height=rows)
                yield _with_nulls(df, absent, schema)
                k = end

    class NpzReaderBuilder(FileReaderBuilder):
        def reader_capabilities(self) -> ReaderCapabilities:
            return ReaderCapabilities(pre_slice=True)

        def build_file_reader(self, source: str | bytes, multi_scan_context: dict[str, Any]) -> FileReader:
            if not isinstance(source, str):
                msg = "npz datasets are read from paths"
                raise TypeError(msg)
            return NpzGroupReader(groups.get(source, [source]))

        def explain_properties(self) -> dict[str, str]:
            return {"name": "npz", "files": str(len(files))}

    # Small files of one directory are read in groups (one source each, named by its first
    # file, so hive values still come from the path); not when each row must name its file.
    groups: dict[str, list[str]] = {}
    sources = files
    if include_file_paths is None:
        grouped = _group_small_files(files, None if sizes is None else [b for _, b in sizes])
        groups = {g[0]: g for g in grouped if len(g) > 1}
        sources = [g[0] for g in grouped]

    options = ScanOptions(
        row_index=row_index,
        pre_slice=None if n_rows is None else (0, n_rows),
        include_file_paths=include_file_paths,
        glob=False,
        expand_paths=False,
        hive_partitioning=hive_partitioning,
        hive_schema=hive_schema,
        try_parse_hive_dates=try_parse_hive_dates,
        missing_columns="insert" if missing_columns == "insert" else "raise",
        extra_columns="ignore",
        row_count=None if sizes is None else (sum(r for r, _ in sizes), 0),
    )
    return wrap_ldf(
        PyLazyFrame.new_from_external_reader_builder(
            sources=sources, reader_builder=NpzReaderBuilder(), schema=dict(schema), scan_options=options
        )
    )
