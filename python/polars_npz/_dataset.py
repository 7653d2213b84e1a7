"""Datasets of many archives: sources expanded to files, and the reader of one file or of a
group of small files that Polars' own multi-file scan drives (projection, slices, row counts
from the headers, hive columns, file paths and row indices handled as for
``pl.scan_parquet``). Every reader takes its files from the scan's ``Plan``, which reads each
archive's zip index and ``.npy`` headers once."""

from __future__ import annotations

import functools
import glob as _glob
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from polars_npz._errors import npz_error
from polars_npz._internal import Archive as _Archive
from polars_npz._internal import NpzError, Plan
from polars_npz._internal import expand_url as _expand_url
from polars_npz._internal import learned_bytes as _learned_bytes
from polars_npz._internal import read_chain as _read_chain
from polars_npz._polars import MultiFileScan, multi_file_scan
from polars_npz._source import is_url, local_path, storage_pairs
from polars_npz._stats import Skipper

__all__ = ["Dataset", "expand_sources", "has_multi_file_scan", "is_glob", "scan_dataset"]

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

# Filters handed to a reader let it skip blocks by their statistics, but Polars converts each
# filter it hands a reader to a pyarrow expression, importing pyarrow and, through its scalars,
# pandas: about 200 ms, once a process. Before that import is paid, filters are handed only
# where the members they could skip hold at least this many bytes to inflate (stored bytes
# count an eighth: skipping a mapped block saves touching it, not inflating it), about what
# inflating or filtering in 200 ms gets through on one core.
_HAND_FILTERS_BYTES = 64 << 20


def is_glob(path: str) -> bool:
    """Whether `path` holds a glob character (``*``, ``?``, ``[``)."""
    return not _GLOB_CHARS.isdisjoint(path)


def has_multi_file_scan() -> bool:
    """Whether this Polars runs external readers in its multi-file scan (Polars 2.0+)."""
    return multi_file_scan() is not None


def expand_sources(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    glob: bool = True,
    storage_options: Mapping[str, object] | None = None,
    hidden_file_prefix: str | Sequence[str] | None = None,
    shown: list[str] | None = None,
) -> list[str]:
    """
    The archive files of `source`, in order, as Polars' scans expand paths: a path as it is
    (``~`` expanded, a ``file://`` URI decoded); a directory, every ``.npz`` file below it
    (recursively, sorted; empty files left out); a glob (``*``, ``?``, ``[...]``, ``**``), the
    files it matches (sorted, each once; empty files left out); a list, each of these in turn
    (a file listed twice is read twice); files named with a `hidden_file_prefix` left out.
    Raises `NothingToScanError` (a ``FileNotFoundError``
    and Polars' ``ComputeError``) when nothing at all matched.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    out: list[str] = []
    # How each file is named in a file-path column: as Polars names it, a `file://` URI
    # without escapes keeps its scheme; other paths are the files' own.
    uri: list[bool] = []
    for item in items:
        path = os.fspath(item)
        before = len(out)
        _expand_one(path, glob, storage_options, out)
        keep = path.startswith("file://") and "%" not in path
        uri.extend([keep] * (len(out) - before))
    if hidden_file_prefix is not None:
        # As Polars: files whose names start with one of these are left out, wherever found.
        hidden = (hidden_file_prefix,) if isinstance(hidden_file_prefix, str) else tuple(hidden_file_prefix)
        kept = [not p.rstrip("/").rpartition("/")[2].startswith(hidden) for p in out]
        out = [p for p, k in zip(out, kept) if k]
        uri = [u for u, k in zip(uri, kept) if k]
    if shown is not None:
        shown.extend("file://" + p if u else p for p, u in zip(out, uri))
    if not out:
        given = [os.fspath(i) for i in items]
        msg = (
            "failed to retrieve first file schema (npz): expanded paths were empty "
            f"(path expansion input: 'paths: {given!r}', glob: {str(glob).lower()}). "
            "Hint: passing a schema can allow this scan to succeed with an empty DataFrame."
        )
        raise NothingToScanError(msg)
    return out


def _expand_one(path: str, glob: bool, storage_options: Mapping[str, object] | None, out: list[str]) -> None:
    """The files of one source item (see `expand_sources`), appended to `out`."""
    if is_url(path):
        # Object stores list their own prefixes (globs, or every .npz below a "/").
        if not glob and not path.endswith("/"):
            out.append(path)
        else:
            out.extend(_expand_url(path, storage_pairs(storage_options)))
        return
    path = local_path(path)
    if os.path.isdir(path):
        out.extend(
            sorted(
                os.path.join(root, f)
                for root, _, files in os.walk(path)
                for f in files
                if f.endswith(".npz") and _nonempty(os.path.join(root, f))
            )
        )
    elif glob and is_glob(path) and not os.path.exists(path):
        # As Polars' globs: `*` matches names starting with "." too, and a pattern such as
        # `a/**/**/*.npz` matches a file along several routes: once each.
        out.extend(sorted({p for p in _glob.glob(path, recursive=True, include_hidden=True) if os.path.isfile(p) and _nonempty(p)}))
    else:
        out.append(path)


class NothingToScanError(FileNotFoundError, pl.exceptions.ComputeError):
    """No file to scan: the sources were an empty list, or directories and globs that matched
    nothing. Polars' scans raise ``ComputeError`` for it; ``FileNotFoundError`` says what it is."""


def _nonempty(path: str) -> bool:
    """Whether the file at `path` holds any bytes (Polars' expansion leaves empty files out)."""
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def hive_start(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, check_levels: bool = False) -> int:
    """Where hive ``key=value`` parts start in the expanded paths of `source`, as in Polars:
    after a directory (or a URL prefix ending in ``/``) given as the source, only the parts
    below it count; for files and globs, the whole path (the least over a list). With
    `check_levels` (hive partitioning on), directories of different depths in one list are
    refused, as Polars refuses them."""
    items = [os.fspath(i) for i in ([source] if isinstance(source, (str, os.PathLike)) else list(source))]
    start: int | None = None
    for k, path in enumerate(items):
        if is_url(path):
            i = len(path) if path.endswith("/") and not is_glob(path) else 0
        else:
            path = local_path(path)
            i = len(path) if os.path.isdir(path) else 0
        if check_levels and start is not None and start != i and k > 0 and _parent(items[k]) != _parent(items[k - 1]):
            msg = (
                "attempted to read from different directory levels with hive partitioning enabled: "
                f"first path: {items[k - 1]}, second path: {items[k]}"
            )
            raise pl.exceptions.InvalidOperationError(msg)
        start = i if start is None else min(start, i)
    return start or 0


def _parent(path: str) -> str:
    return os.path.dirname(path.rstrip("/"))


def _with_nulls(df: pl.DataFrame, names: list[str], schema: pl.Schema) -> pl.DataFrame:
    """`df` with null columns `names`, of their types in `schema`, added."""
    return df.with_columns(pl.lit(None, dtype=schema[c]).alias(c) for c in names) if names else df


def check_file(
    path: str, archive: _Archive, schema: pl.Schema, missing: str, extra: str, columns: Sequence[str] | None = None
) -> list[str]:
    """The dataset columns this file holds. As Polars' scans check a file: raises (naming the
    file) for a column beyond the schema (unless ``extra == "ignore"``), and, among the
    columns read (`columns`; all when None), for one of another type (``SchemaError``) or a
    missing one (``ColumnNotFoundError``, unless ``missing == "insert"``)."""
    own = pl.Schema(archive.schema())
    if extra == "raise":
        for name in own:
            if name not in schema:
                msg = (
                    f"{path}: extra column in file outside of expected schema: {name}, hint: specify this column in the schema, "
                    "or pass extra_columns='ignore' in scan options"
                )
                raise npz_error(msg, kind="request", path=path, polars_class=pl.exceptions.SchemaError)
    read = list(schema) if columns is None else [c for c in columns if c in schema]
    for name in read:
        dtype = own.get(name)
        if dtype is not None and dtype != schema[name] and dtype != pl.Null:
            msg = f"{path}: data type mismatch for column {name}: incoming: {dtype} != target: {schema[name]}"
            raise npz_error(msg, kind="request", path=path, polars_class=pl.exceptions.SchemaError)
    absent = [name for name in read if name not in own]
    if absent and missing == "raise":
        msg = f"{path}: did not find column {absent[0]}, consider passing `missing_columns='insert'`"
        raise npz_error(msg, kind="request", path=path, polars_class=pl.exceptions.ColumnNotFoundError)
    return [name for name in schema if name in own]


def _rows_of(archive: _Archive, columns: list[str]) -> int:
    """Rows a read of `columns` gives; the archive's height when they cannot be read together
    (the read itself then says why, naming the member)."""
    try:
        return archive.rows_of(columns)
    except NpzError:
        return archive.height()


class Dataset:
    """What every reader of one scan shares: the plan (files, each archive's index once), the
    dataset's schema and how files that differ from it are treated."""

    def __init__(
        self,
        plan: Plan,
        schema: pl.Schema,
        *,
        missing_columns: str,
        extra_columns: str,
        exact_first: bool,
        use_statistics: bool = True,
    ) -> None:
        self.plan = plan
        self.use_statistics = use_statistics
        self.paths = plan.paths()
        self.schema = schema
        self.all_columns = list(schema)
        self.full_schema = dict(schema)
        self.missing_columns = missing_columns
        self.extra_columns = extra_columns
        # The column of each row's file path (``include_file_paths``), filled by the readers
        # with each file's path as shown (see `expand_sources`).
        self.file_path_column: str | None = None
        self.shown_paths: list[str] = self.paths
        # The first file's index when its schema is exactly the dataset's: files with the
        # same schema need no further check.
        self.reference = plan.indexed(0) if exact_first else None
        # Each file's rows, when every file was indexed when scanned (local datasets): readers
        # then open a file only to read its data, and filters are judged once for all files.
        self.counts: list[tuple[int, int]] | None = None
        self._kept: dict[tuple[str, ...], list[list[tuple[int, int]] | None]] = {}
        self._kept_lock = threading.Lock()
        self._checked: dict[tuple[str, ...], NpzError | None] = {}
        self._uniform: bool | None = None
        # `(learned bytes, plan.statistics_bytes())` when last asked (see `hand_filters`).
        self._stats_bytes: tuple[int, tuple[int, int, bool]] | None = None

    def hand_filters(self) -> bool:
        """Whether a query's filters are worth handing to the readers now (see
        `_HAND_FILTERS_BYTES`): some file has block statistics (written, or learned by this
        process since), and either Polars' conversion of the filters imports nothing or the
        data they could skip is large (or not known: files not indexed, objects of a store).
        Asked at each query; the plan is asked again only when learned statistics changed."""
        if not self.use_statistics:
            return False
        learned = _learned_bytes()
        if self._stats_bytes is None or self._stats_bytes[0] != learned:
            self._stats_bytes = (learned, self.plan.statistics_bytes())
        deflated, stored, partial = self._stats_bytes[1]
        if deflated == 0 and stored == 0:
            return False
        return _filter_conversion_paid() or partial or deflated + stored // 8 >= _HAND_FILTERS_BYTES

    def kept(self, filters: list[pl.Expr]) -> list[list[tuple[int, int]] | None] | None:
        """For every file of an indexed dataset, the row ranges that may match `filters` (see
        `Skipper`), judged once per query's filters; None when the files were not all indexed."""
        if self.counts is None:
            return None
        key = tuple(f.meta.serialize(format="json") for f in filters)
        with self._kept_lock:
            if key not in self._kept:
                self._kept[key] = Skipper(filters).ranges(self.plan, [rows for rows, _ in self.counts])
            return self._kept[key]

    def check_all(self, columns: Sequence[str]) -> None:
        """Check every file of an indexed dataset for reading `columns` (see `check_file`), once
        per selection; raises the first file's error, in the dataset's order."""
        key = tuple(columns)
        with self._kept_lock:
            if self._uniform is None:
                # Every file with the first file's schema, which is the dataset's: nothing to check.
                self._uniform = self.reference is not None and self.plan.uniform_schema()
            if self._uniform:
                return
            if key not in self._checked:
                try:
                    for i in range(len(self.paths)):
                        self.columns_of(i, self.plan.indexed(i), columns)
                    self._checked[key] = None
                except NpzError as e:
                    self._checked[key] = e
            error = self._checked[key]
        if error is not None:
            raise error

    def columns_of(self, i: int, archive: _Archive, columns: Sequence[str] | None = None) -> list[str]:
        """The dataset columns file `i` holds, checked against the dataset's schema (see
        `check_file`; only `columns` for types and presence, when given)."""
        if self.reference is not None and archive.same_schema_as(self.reference):
            return self.all_columns
        return check_file(self.paths[i], archive, self.schema, self.missing_columns, self.extra_columns, columns)


class GroupReader:
    """One source of Polars' multi-file scan: an archive, or consecutive small archives of
    one directory read as one (Polars' costs per source, a reader object, its calls, a
    DataFrame per batch, are then paid once for the group). Each archive's columns are
    checked against the dataset's schema; archives are read in one native call (in parallel,
    GIL released), their columns joined as chunks without a copy."""

    def __init__(self, dataset: Dataset, start: int, end: int) -> None:
        self.dataset = dataset
        self.start = start
        self.end = end
        # Nothing is read until Polars asks: a count needs each file's rows alone (for objects
        # written by this package, one request each), a read its data too.
        self.ready = False
        self.opened = False

    def _ready(self, data: bool) -> None:
        """Read what the group's files say of themselves: opened for their data when `data`
        (objects not indexed yet are read whole when small), else only indexed, for a count
        (see `Plan.index_heights`); an indexed dataset's files are opened for their data only
        when read (a filter may rule them out, a count needs none)."""
        if self.ready:
            return
        dataset = self.dataset
        plan = dataset.plan
        which = list(range(self.start, self.end))
        if dataset.counts is None and data:
            self.archives = plan.open(which)
            self.opened = True
        else:
            if dataset.counts is None:
                plan.index_heights(which)
            self.archives = [plan.indexed(i) for i in which]
        self.columns: list[list[str]] = []
        held: set[str] = set()
        for i, archive in zip(which, self.archives):
            # Types and missing columns are checked for the columns a query reads, when read.
            cols = dataset.columns_of(i, archive, [])
            self.columns.append(cols)
            held.update(cols)
        all_columns = dataset.all_columns
        self.held = all_columns if len(held) == len(all_columns) else [c for c in all_columns if c in held]
        self.heights = [archive.height() for archive in self.archives]
        # Archives whose arrays differ in length (scipy's sparse layout): their rows depend on
        # the columns read, so a count or a slice that does not name its columns is refused.
        self.ragged = [archive.is_ragged() for archive in self.archives]
        self.ready = True

    def schema(self) -> dict[str, pl.DataType]:
        self._ready(data=True)
        d = self.dataset
        out = d.full_schema if self.held is d.all_columns else {name: d.schema[name] for name in self.held}
        if d.file_path_column is not None:
            out = {**out, d.file_path_column: pl.String()}
        return out

    def _finish(self, df: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
        """`df` with the requested columns it lacks: the schema's columns a file does not have
        (``missing_columns="insert"``) as nulls, and the file-path column."""
        schema = self.dataset.schema
        path_column = self.dataset.file_path_column
        absent = [c for c in columns if c not in df.columns and c in schema]
        df = _with_nulls(df, absent, schema)
        if path_column is not None and path_column in columns:
            df = df.with_columns(pl.lit(self.dataset.shown_paths[self.start], dtype=pl.String()).alias(path_column))
        return df.select(columns) if df.columns != list(columns) else df

    def n_rows_in_file(self, limit: int | None = None) -> int:
        self._ready(data=False)
        self._refuse_ragged("a slice from the end or a row count")
        return sum(self.heights)

    def _refuse_ragged(self, what: str) -> None:
        """An error naming the first ragged archive, whose rows depend on the columns read."""
        for i, ragged in enumerate(self.ragged):
            if ragged:
                path = self.dataset.paths[self.start + i]
                msg = (
                    f"{path}: the arrays of this archive differ in length, so {what} over it has no single answer "
                    "(Polars does not say which column it counts); read the columns themselves, e.g. "
                    "lf.select(pl.col(name).count()) or scan_npz(...).select(name).collect().height"
                )
                raise npz_error(msg, kind="request", path=path)

    def collect_batches(
        self,
        *,
        columns: Sequence[str],
        row_index: tuple[str, int] | None,
        pre_slice: tuple[int, int] | None,
        filters: Sequence[Any],
        num_pipelines: int,
    ) -> Iterator[pl.DataFrame]:
        self._ready(data=any(c in self.dataset.full_schema for c in columns))
        skip, left = pre_slice if pre_slice is not None else (0, None)
        heights = self.heights
        if any(self.ragged):
            # Each selection of a ragged archive has its own height; none is a count.
            if not any(c in self.held for c in columns):
                self._refuse_ragged("a row count")
            heights = [
                _rows_of(a, [c for c in columns if c in cols]) if ragged else h
                for a, cols, ragged, h in zip(self.archives, self.columns, self.ragged, self.heights)
            ]
        # The rows of each archive the slice covers: (archive, rows skipped, rows read).
        parts: list[tuple[int, int, int]] = []
        # The archives the read reaches (empty ones too), whose columns are checked.
        reached = 0
        for i, height in enumerate(heights):
            if left == 0:
                break
            reached = i + 1
            if skip >= height:
                skip -= height
                continue
            n = height - skip if left is None else min(height - skip, left)
            parts.append((i, skip, n))
            skip = 0
            if left is not None:
                left -= n
        if not any(c in self.held for c in columns):
            # A count, or only hive or file-path columns: heights from the headers alone.
            yield self._finish(pl.DataFrame(height=sum(n for _, _, n in parts)), columns)
            return
        if self.dataset.counts is not None:
            # Every file indexed: the first file (in the dataset's order) that cannot give
            # these columns is named, whichever reader runs first.
            self.dataset.check_all(columns)
        else:
            for i in range(reached):
                self.dataset.columns_of(self.start + i, self.archives[i], columns)
        if filters and self.dataset.use_statistics and not any(self.ragged):
            parts = self._matching(parts, [f.expr for f in filters])
        if not parts:
            parts = [(0, 0, 0)]  # no rows: one empty batch, with the types
        if not self.opened:
            reading = sorted({i for i, _, _ in parts})
            for i, archive in zip(reading, self.dataset.plan.open([self.start + i for i in reading])):
                self.archives[i] = archive
            self.opened = True
        # Runs of consecutive archives holding the same columns, each read in one call and
        # at most `_CHAIN_BYTES` of member data (as inflated); an archive larger than that
        # alone is read in batches.
        k = 0
        while k < len(parts):
            first = parts[k][0]
            wanted = [c for c in columns if c in self.columns[first]]
            size = self.archives[first].data_bytes(wanted)
            if size > _CHAIN_BYTES:
                _, skip_rows, n = parts[k]
                reader = self.archives[first].batches(wanted, n, _BATCH_ROWS, skip_rows)
                while (cols := reader.next()) is not None:
                    yield self._finish(pl.DataFrame([pl.Series(c) for c in cols]), columns)
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
            rows, chunked = _read_chain(run, wanted)
            df = pl.DataFrame([pl.Series(c) for c in chunked]) if wanted else pl.DataFrame(height=rows)
            yield self._finish(df, columns)
            k = end

    def _matching(self, parts: list[tuple[int, int, int]], filters: list[pl.Expr]) -> list[tuple[int, int, int]]:
        """`parts` narrowed to the blocks whose statistics say they may hold a matching row
        (Polars filters the rows read; blocks and files left out are never read)."""
        every = self.dataset.kept(filters)
        if every is not None:
            kept = [every[self.start + i] for i, _, _ in parts]
        else:
            kept = Skipper(filters).ranges([self.archives[i] for i, _, _ in parts], [self.heights[i] for i, _, _ in parts])
        out: list[tuple[int, int, int]] = []
        for (i, skip, n), ranges in zip(parts, kept):
            if ranges is None:
                out.append((i, skip, n))
                continue
            for start, end in ranges:
                lo, hi = max(start, skip), min(end, skip + n)
                if lo < hi:
                    out.append((i, lo, hi - lo))
        return out


@functools.cache
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _filter_conversion_paid() -> bool:
    """Whether Polars' conversion of the filters it hands a reader imports nothing now: pyarrow
    is not installed (the conversion gives up at once), or pyarrow's compute module and pandas
    (when installed) are already imported."""
    if not _installed("pyarrow"):
        return True
    return "pyarrow.compute" in sys.modules and ("pandas" in sys.modules or not _installed("pandas"))


class ReaderBuilder:
    """Builds the reader of each source Polars' multi-file scan reads (a file, or the first
    file of a group)."""

    def __init__(self, dataset: Dataset, groups: dict[str, tuple[int, int]], capabilities: Any, reader: type[GroupReader]) -> None:
        self.dataset = dataset
        self.groups = groups
        self.capabilities = capabilities
        self.reader = reader

    def reader_capabilities(self) -> Any:
        """Asked by Polars at each query: slices are taken, and filters (to skip blocks by
        their statistics; Polars still filters every row read) where `Dataset.hand_filters`."""
        capabilities = self.capabilities(pre_slice=True)
        if hasattr(capabilities, "supported_filter") and self.dataset.hand_filters():
            capabilities.supported_filter = "partial"
        return capabilities

    def build_file_reader(self, source: str | bytes, multi_scan_context: dict[str, Any]) -> GroupReader:
        if not isinstance(source, str) or source not in self.groups:
            msg = f"internal error: the npz scan was asked for an unplanned source {source!r}"
            raise npz_error(msg, kind="internal")
        return self.reader(self.dataset, *self.groups[source])

    def explain_properties(self) -> dict[str, str]:
        return {"name": "npz", "files": str(len(self.dataset.paths))}


@functools.cache
def _reader_types(mfs: MultiFileScan) -> tuple[type[GroupReader], type[ReaderBuilder]]:
    """Our reader and builder as subclasses of Polars' own bases (which give the defaults of
    the methods we do not need: metadata, serial initialization, cleanup)."""
    reader = type("NpzGroupReader", (GroupReader, mfs.FileReader), {})
    builder = type("NpzReaderBuilder", (ReaderBuilder, mfs.FileReaderBuilder), {})
    return reader, builder


def count_at_scan(plan: Plan, paths: list[str]) -> list[tuple[int, int]] | None:
    """Each file's rows and inflated array bytes, from its index and headers (in parallel),
    for a local dataset of at most `_COUNT_AT_SCAN_MAX` files; ``None`` for more, for objects
    of a store, or when a file cannot be read (the query then reports it, naming the file;
    the files that could be read are not read again). Objects are indexed by the readers, each
    with the objects that follow it, concurrently: a scan then costs one object's requests (the
    schema), and a query only the objects it reads (hive filters prune the others)."""
    if len(paths) > _COUNT_AT_SCAN_MAX or any(is_url(p) for p in paths):
        return None
    try:
        plan.index()
    except (OSError, NpzError):
        return None
    return plan.counts()


def scan_dataset(
    mfs: MultiFileScan,
    dataset: Dataset,
    *,
    n_rows: int | None,
    row_index: tuple[str, int] | None,
    include_file_paths: str | None,
    hive_partitioning: bool | None,
    hive_schema: Mapping[str, pl.DataType] | None,
    try_parse_hive_dates: bool,
    hive_start: int = 0,
    count_rows: bool = True,
) -> pl.LazyFrame:
    """A LazyFrame over the dataset's files through Polars' multi-file scan with our reader
    of a file or a group of files. When every file could be counted at scan time, Polars
    answers a plain ``len()`` with their sum, creating no reader, and files are grouped by
    the memory they take. Without `count_rows` no file is read here: each is opened once,
    by its reader, for its index and its data."""
    plan = dataset.plan
    counts = count_at_scan(plan, dataset.paths) if count_rows else None
    dataset.counts = counts
    # Small files of one directory are read in groups (one source each, named by its first
    # file, so hive values still come from the path); not when each row must name its file.
    if include_file_paths is None:
        runs = plan.groups(_GROUP_FILES, _GROUP_BYTES)
    else:
        runs = [(i, i + 1) for i in range(len(plan))]
    # Each source Polars reads is named by its position and its file's path below the hive
    # root: unique even when a file is listed twice (each copy is read), and hive values come
    # only from the directories below the one scanned (Polars' reading of a part without "="
    # ignores the position). The file-path column is the readers' (with the path as given).
    paths = dataset.paths
    if hive_partitioning:
        sources = [f"{a}/{paths[a][hive_start:].lstrip('/')}" for a, _ in runs]
    else:
        sources = [f"{a}/{paths[a].rpartition('/')[2]}" for a, _ in runs]
    groups = {key: (a, b) for key, (a, b) in zip(sources, runs)}
    dataset.file_path_column = include_file_paths
    schema = dataset.schema if include_file_paths is None else pl.Schema({**dataset.schema, include_file_paths: pl.String()})
    reader, builder_type = _reader_types(mfs)
    builder = builder_type(dataset, groups, mfs.ReaderCapabilities, reader)
    lf = mfs.scan(
        sources,
        builder,
        schema,
        row_index=row_index,
        pre_slice=None if n_rows is None else (0, n_rows),
        hive_partitioning=hive_partitioning,
        hive_schema=hive_schema,
        try_parse_hive_dates=try_parse_hive_dates,
        missing_columns="insert" if dataset.missing_columns == "insert" else "raise",
        extra_columns="ignore",
        row_count=None if counts is None else (sum(r for r, _ in counts), 0),
    )
    if include_file_paths is not None and hive_partitioning:
        # Polars' place for the file-path column: after the hive columns.
        lf = lf.select(pl.all().exclude(include_file_paths), pl.col(include_file_paths))
    return lf
