"""scan_npz and read_npz: the arrays of an archive as the columns of a LazyFrame or DataFrame."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, cast

import polars as pl
from polars.io.plugins import register_io_source

from polars_npz._dataset import Dataset, NothingToScanError, check_file, expand_sources, has_multi_file_scan, is_glob, scan_dataset
from polars_npz._dataset import hive_start as dataset_hive_start
from polars_npz._errors import npz_error
from polars_npz._internal import Archive as _Archive
from polars_npz._internal import NpzError, Plan
from polars_npz._internal import constant_column as _constant_column
from polars_npz._internal import index_column as _index_column
from polars_npz._polars import io_source, multi_file_scan
from polars_npz._source import Source, _open, _source_name, is_url, storage_pairs
from polars_npz._stats import kept_ranges

__all__ = ["read_npz", "scan_npz", "scan_paths"]


def scan_npz(
    source: Source | Sequence[str | os.PathLike[str]],
    *,
    n_rows: int | None = None,
    row_index_name: str | None = None,
    row_index_offset: int = 0,
    glob: bool = True,
    hidden_file_prefix: str | Sequence[str] | None = None,
    hive_partitioning: bool | None = None,
    hive_schema: Mapping[str, pl.DataType] | None = None,
    try_parse_hive_dates: bool = True,
    include_file_paths: str | None = None,
    schema: Mapping[str, pl.DataType] | None = None,
    missing_columns: Literal["raise", "insert"] = "raise",
    extra_columns: Literal["raise", "ignore"] = "raise",
    memory_map: bool = True,
    verify_checksums: bool = False,
    max_header_size: int = 10_000,
    storage_options: Mapping[str, object] | None = None,
    use_statistics: bool = True,
) -> pl.LazyFrame:
    """
    Lazily read the arrays of NumPy ``.npz`` archives as the columns of a LazyFrame.

    Each array member becomes a column named like the member without ``.npy``, in archive
    order; the first axis gives the rows and further axes an ``Array`` column. Only the arrays
    a query selects are read, and with a row limit only the rows it needs. Row counts
    (``select(pl.len())``) come from the ``.npy`` headers without reading array data.

    Parameters
    ----------
    source
        Path to an ``.npz`` file; a directory (every ``.npz`` below it, recursively, in
        sorted order); a glob (``*``, ``?``, ``[...]``, ``**``); a list of these (a
        dataset: the rows of each file in turn); or one archive's bytes, or a binary file
        object (read once into memory).
    n_rows
        Stop reading after this many rows (of the whole dataset).
    row_index_name
        If set, insert a row index column with this name as the first column, numbering the
        rows of the whole dataset.
    row_index_offset
        Start the row index at this offset.
    glob
        Expand glob patterns in paths (default).
    hidden_file_prefix
        Leave out files whose names start with this prefix (or any of these prefixes), as
        Polars' scans do; by default every ``.npz`` file found is read.
    hive_partitioning
        Turn ``key=value`` directory names into columns (after the file's own). ``None``
        (default): on when `source` is a directory.
    hive_schema
        Types of the hive columns (default: inferred).
    try_parse_hive_dates
        Infer dates and datetimes in hive values.
    include_file_paths
        If set, add a column of this name holding each row's file path.
    schema
        The dataset's columns and types (default: those of the first file). Every file is
        checked against it: a column of another type raises ``NpzError`` naming the file.
    missing_columns
        A column of the schema that a file lacks: ``"raise"`` (default) or ``"insert"``
        (nulls).
    extra_columns
        A column a file has beyond the schema: ``"raise"`` (default) or ``"ignore"``.
    memory_map
        Memory-map the file (default). Stored members whose data is aligned are then handed
        to Polars without any copy. With ``False``, members are read into owned memory, which
        is safe even if the file is truncated while the frame is alive.
    verify_checksums
        Also check the CRC-32 of stored members when they are read (this reads every byte of
        them). Deflated members are always checked once wholly inflated.
    max_header_size
        Largest ``.npy`` header accepted, in bytes (numpy's default, 10,000).
    storage_options
        For object-store URLs (``s3://``, ``gs://``, ``az://``, ``https://``, ...): the
        options Polars' own scans take (object_store's keys: ``aws_region``,
        ``aws_endpoint_url``, ``aws_access_key_id``, ``google_service_account``,
        ``azure_storage_account_name``, ...); credentials are also read from the environment.
    use_statistics
        Skip the blocks (and whole files) whose statistics show they cannot hold a row a
        filter keeps (archives written by ``write_npz``, ``sink_npz`` or ``align_npz`` carry
        min/max/null/NaN counts per block). Never changes a result; ``False`` reads every row.

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
    # The options as given (this signature defines them: see SCAN_DEFAULTS).
    options = {name: value for name, value in locals().items() if name != "source"}
    if n_rows is not None and n_rows < 0:
        msg = "n_rows must be non-negative"
        raise ValueError(msg)
    if missing_columns not in ("raise", "insert") or extra_columns not in ("raise", "ignore"):
        msg = "missing_columns must be 'raise' or 'insert', extra_columns 'raise' or 'ignore'"
        raise ValueError(msg)
    if _is_paths(source):
        try:
            lf, _ = scan_paths(source, **options)  # type: ignore[arg-type]
        except pl.exceptions.ComputeError as e:
            # Raised when the query runs, as Polars' scans do (nothing matched, a URI naming
            # another host, a hive schema with hive partitioning off).
            return _deferred(e)
        return lf
    one = cast(Source, source)
    path = _source_name(one)
    archive = _open(one, memory_map, max_header_size, verify_checksums)
    lf = _scan_one(archive, path, n_rows, row_index_name, row_index_offset, include_file_paths, use_statistics, _shown_path(one, path))
    if schema is None:
        return lf
    # The archive's columns checked against the schema given, and read in its order and types,
    # as for a file.
    schema = pl.Schema(schema)
    present = check_file(path, archive, schema, missing_columns, extra_columns)
    cols = [pl.col(c) if c in present else pl.lit(None, dtype=schema[c]).alias(c) for c in schema]
    if row_index_name is not None:
        cols.insert(0, pl.col(row_index_name))
    if include_file_paths is not None:
        cols.append(pl.col(include_file_paths))
    return lf.select(cols)


# The scan options and their defaults: scan_npz's keyword arguments, defined once by its
# signature (the API); scan_paths and the distributed readers (Ray, Dask) take them from here.
SCAN_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(scan_npz).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
}


def complete_scan_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """Options given by name, completed with scan_npz's defaults; unknown names refused."""
    unknown = set(given) - SCAN_DEFAULTS.keys()
    if unknown:
        msg = f"unexpected scan options: {', '.join(sorted(unknown))} (accepted: {', '.join(sorted(SCAN_DEFAULTS))})"
        raise TypeError(msg)
    return {**SCAN_DEFAULTS, **given}


def scan_paths(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    count_rows: bool = True,
    hive_start: int | None = None,
    **given: Any,
) -> tuple[pl.LazyFrame, Plan]:
    """`scan_npz` of paths, with its plan: the files, each archive's index and headers read
    once and shared by every reader of the scan (a single archive is a dataset of one).
    `count_rows`: count every file's rows now (so ``len()`` needs no reader); a distributed
    task, whose rows the caller counted, reads each file once instead (index and data).
    `hive_start`: where hive parts start in the paths (default: as `source` gives it; a task
    reading part of a dataset passes the dataset's). `given`: the options of scan_npz."""
    o = complete_scan_options(given)
    n_rows, row_index_name, row_index_offset = o["n_rows"], o["row_index_name"], o["row_index_offset"]
    hive_partitioning, hive_schema, try_parse_hive_dates = o["hive_partitioning"], o["hive_schema"], o["try_parse_hive_dates"]
    include_file_paths, schema, missing_columns, extra_columns = (
        o["include_file_paths"],
        o["schema"],
        o["missing_columns"],
        o["extra_columns"],
    )
    memory_map, verify_checksums, max_header_size = o["memory_map"], o["verify_checksums"], o["max_header_size"]
    storage_options, use_statistics = o["storage_options"], o["use_statistics"]
    glob, hidden_file_prefix = o["glob"], o["hidden_file_prefix"]
    if hive_schema is not None and hive_partitioning is False:
        msg = "a hive schema was given but hive_partitioning was disabled"
        raise pl.exceptions.ComputeError(msg)
    if hive_schema and hive_partitioning is None:
        hive_partitioning = True  # as in Polars: a hive schema turns hive partitioning on
    shown: list[str] = []
    try:
        files = expand_sources(source, glob=glob, storage_options=storage_options, hidden_file_prefix=hidden_file_prefix, shown=shown)
    except NothingToScanError:
        if schema is None:
            raise
        # As Polars: nothing to read, and a schema given: an empty frame of it.
        columns = {**schema, **(hive_schema or {})} if hive_partitioning is not False else schema
        return _empty(columns, row_index_name, include_file_paths), Plan([], memory_map, max_header_size, verify_checksums, [], 1)
    if hive_start is None:
        hive_start = dataset_hive_start(source, check_levels=bool(hive_partitioning))
    if hive_partitioning is None:
        hive_partitioning = default_hive_partitioning(source)
    plan = Plan(files, memory_map, max_header_size, verify_checksums, storage_pairs(storage_options), _concurrency())
    # The first file's schema is the dataset's (unless one is given: no file is read then).
    dataset_schema = pl.Schema(schema) if schema is not None else pl.Schema(plan.indexed(0).schema())
    if include_file_paths is not None and include_file_paths in dataset_schema:
        msg = f'column name for file paths "{include_file_paths}" conflicts with column name from file'
        raise pl.exceptions.DuplicateError(msg)
    dataset = Dataset(
        plan,
        dataset_schema,
        missing_columns=missing_columns,
        extra_columns=extra_columns,
        exact_first=schema is None,
        use_statistics=use_statistics,
    )
    if shown:
        dataset.shown_paths = shown
    mfs = multi_file_scan()
    if mfs is not None:
        lf = scan_dataset(
            mfs,
            dataset,
            n_rows=n_rows,
            row_index=None if row_index_name is None else (row_index_name, row_index_offset),
            include_file_paths=include_file_paths,
            hive_partitioning=hive_partitioning,
            hive_schema=hive_schema,
            try_parse_hive_dates=try_parse_hive_dates,
            hive_start=hive_start,
            count_rows=count_rows,
        )
    elif len(files) == 1 and schema is None:
        lf = _scan_one(
            plan.open([0])[0], dataset.shown_paths[0], n_rows, row_index_name, row_index_offset, include_file_paths, use_statistics
        )
    else:
        lf = _concat_files(
            dataset,
            n_rows=n_rows,
            row_index_name=row_index_name,
            row_index_offset=row_index_offset,
            include_file_paths=include_file_paths,
            hive_partitioning=hive_partitioning,
        )
    return lf, plan


def _shown_path(source: Source, path: str) -> str:
    """A source's file-path column value, as Polars' scans give it: the path; ``open-file`` for
    a file object with a descriptor; ``in-mem`` for bytes and other objects."""
    if isinstance(source, (str, os.PathLike)):
        return path
    try:
        source.fileno()  # type: ignore[union-attr]
    except (OSError, ValueError, AttributeError):
        return "in-mem"
    return "open-file"


def _deferred(error: Exception) -> pl.LazyFrame:
    """A LazyFrame that raises `error` (within Polars' ``ComputeError``) when its schema or
    rows are asked for."""

    def schema() -> dict[str, pl.DataType]:
        raise error

    def rows(*_: Any) -> Iterator[pl.DataFrame]:
        raise error
        yield  # pragma: no cover

    return register_io_source(rows, schema=schema)


def _empty(schema: Mapping[str, pl.DataType], row_index_name: str | None, include_file_paths: str | None) -> pl.LazyFrame:
    fields: dict[str, Any] = {} if row_index_name is None else {row_index_name: pl.get_index_type()}
    fields.update(schema)
    if include_file_paths is not None:
        fields[include_file_paths] = pl.String()
    return pl.LazyFrame(schema=fields)


def _concurrency() -> int:
    """Objects of a store indexed at once: Polars' own budget when set
    (``POLARS_CONCURRENCY_BUDGET``), else 32."""
    try:
        return max(1, int(os.environ.get("POLARS_CONCURRENCY_BUDGET", "32")))
    except ValueError:
        return 32


def _concat_files(
    dataset: Dataset,
    *,
    n_rows: int | None,
    row_index_name: str | None,
    row_index_offset: int,
    include_file_paths: str | None,
    hive_partitioning: bool | None,
) -> pl.LazyFrame:
    """Archives on a Polars without the multi-file scan for external readers (1.x): one scan
    per file, checked against the dataset's schema, concatenated."""
    if hive_partitioning:
        msg = "hive partitioning of npz datasets needs Polars 2.0 or newer"
        raise NotImplementedError(msg)
    schema = dataset.schema
    archives = dataset.plan.open(list(range(len(dataset.paths))))
    frames = []
    for i, (path, archive) in enumerate(zip(dataset.shown_paths, archives)):
        present = dataset.columns_of(i, archive)
        lf = _scan_one(archive, path, None, None, 0, include_file_paths, dataset.use_statistics)
        cols = [pl.col(c) if c in present else pl.lit(None, dtype=schema[c]).alias(c) for c in schema]
        if include_file_paths is not None:
            cols.append(pl.col(include_file_paths))
        frames.append(lf.select(cols))
    out = pl.concat(frames, how="vertical")
    if row_index_name is not None:
        out = out.with_row_index(row_index_name, offset=row_index_offset)
    return out if n_rows is None else out.head(n_rows)


def _scan_one(
    archive: _Archive,
    path: str,
    n_rows: int | None,
    row_index_name: str | None,
    row_index_offset: int,
    include_file_paths: str | None,
    use_statistics: bool = True,
    shown_path: str | None = None,
) -> pl.LazyFrame:
    """One archive as a Polars IO source (bytes, file objects, or any source on Polars 1.x).
    With `use_statistics`, a predicate skips the blocks whose statistics rule it out.
    `shown_path`: the file-path column's value (default: `path`)."""
    arrays = pl.Schema(archive.schema())
    fields: list[tuple[str, Any]] = []
    if row_index_name is not None:
        fields.append((row_index_name, pl.get_index_type()))
    fields.extend(arrays.items())
    if include_file_paths is not None:
        fields.append((include_file_paths, pl.String()))
    names = [n for n, _ in fields]
    if len(set(names)) != len(names):
        msg = f"{path}: duplicate column names in {names}"
        raise npz_error(msg, kind="request", path=path)
    schema = pl.Schema(fields)
    wide_index = pl.get_index_type() == pl.UInt64
    shown = path if shown_path is None else shown_path

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
        # The row ranges to read: all of them (None), or those whose blocks may hold a match.
        ranges: list[tuple[int, int]] | None = None
        if predicate is not None and use_statistics and selected:
            ranges = _matching_rows(archive, selected, predicate, source_rows)
        remaining = limit
        for start, stop in [(0, source_rows)] if ranges is None else ranges or [(0, 0)]:
            reader = archive.batches(selected, None if stop is None else stop - start, batch_size, start)
            offset = row_index_offset + start
            while remaining is None or remaining > 0:
                cols = reader.next()
                if cols is None:
                    break
                height = reader.last_height
                by_name = {s.name: s for s in map(pl.Series, cols)}
                if row_index_name is not None and row_index_name in wanted:
                    by_name[row_index_name] = pl.Series(_index_column(row_index_name, offset, height, wide_index))
                if include_file_paths is not None and include_file_paths in wanted:
                    by_name[include_file_paths] = pl.Series(_constant_column(include_file_paths, shown, height))
                offset += height
                # Built directly in the wanted order: an eager `select` would run a query on
                # Polars' engine from inside its own source, which costs milliseconds.
                df = pl.DataFrame([by_name[c] for c in wanted]) if wanted else pl.DataFrame(height=height)
                if predicate is not None:
                    df = df.filter(predicate)
                if remaining is not None:
                    df = df.head(remaining)
                    remaining -= df.height
                yield df

    return io_source(generate, schema, "npz", path)


def _matching_rows(archive: _Archive, selected: list[str], predicate: pl.Expr, n_rows: int | None) -> list[tuple[int, int]] | None:
    """The row ranges of `archive`'s first `n_rows` rows that its blocks' statistics do not rule
    out for `predicate`; None when all must be read (or the selection cannot be read: the
    read itself then says why)."""
    try:
        height = archive.rows_of(selected)
    except NpzError:
        return None
    kept = kept_ranges(archive, [predicate], height)
    if kept is None:
        return None
    end = height if n_rows is None else min(height, n_rows)
    return [(lo, min(hi, end)) for lo, hi in kept if lo < end]


def default_hive_partitioning(source: object) -> bool:
    """Hive columns by default: for a directory or a URL prefix ending in ``/`` (where
    Polars runs our multi-file scan), not for a file, a glob or a list."""
    if not has_multi_file_scan() or not isinstance(source, (str, os.PathLike)):
        return False
    path = os.fspath(source)
    return not _single_file(path) and not is_glob(path)


def _single_file(path: str) -> bool:
    """A path or URL that names one archive (no glob, not a directory or a prefix)."""
    if is_glob(path):
        return False
    return not path.endswith("/") if is_url(path) else not os.path.isdir(path)


def _is_paths(source: object) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return True
    return isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in source)


def read_npz(
    source: Source,
    *,
    columns: Sequence[str] | None = None,
    n_rows: int | None = None,
    memory_map: bool = True,
    verify_checksums: bool = False,
    max_header_size: int = 10_000,
    storage_options: Mapping[str, object] | None = None,
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
    # One road: the scan, collected (the same readers, the same schedule decided natively).
    lf = scan_npz(
        source,
        n_rows=n_rows,
        memory_map=memory_map,
        verify_checksums=verify_checksums,
        max_header_size=max_header_size,
        storage_options=storage_options,
    )
    return lf.collect() if columns is None else lf.select(list(columns)).collect()
