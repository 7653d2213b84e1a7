"""A dataset read split into independent tasks, for the distributed readers (``polars_npz.ray``,
``polars_npz.dask``).

The plan is made where the read is called, from the zip index and ``.npy`` headers alone
(never array data): the files, the output schema, and, when asked for, each file's rows and
in-memory bytes. Each task then scans its own group of files with ``scan_npz`` wherever it
runs; the files are opened there, and no array data passes through the caller. Files may be
local paths (reachable at the same path from every worker) or object-store URLs; the
``storage_options`` go to every task as a plain dict of strings, so that each worker opens
its own objects.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from polars_npz._dataset import expand_sources, hive_start
from polars_npz._scan import SCAN_DEFAULTS, complete_scan_options, default_hive_partitioning, scan_paths
from polars_npz._source import is_url, local_path, storage_pairs

__all__ = ["FileInfo", "Task", "TaskPlan", "groups_by_count", "groups_by_size", "make_plan", "read_task", "split_contiguous"]

# The options a distributed read takes: every keyword of scan_npz (`columns` is the readers'
# own argument), from their one definition, so a new scan option reaches Ray's and Dask's
# readers without a second list.
SCAN_OPTIONS = frozenset(SCAN_DEFAULTS)

# Bytes per row assumed for a column that is not an array of the file (hive values, paths,
# the row index) when estimating in-memory sizes.
_EXTRA_COLUMN_BYTES = 8


@dataclass(frozen=True)
class FileInfo:
    """One file as its headers describe it: rows, the in-memory bytes of each array, and
    the bytes its members take in the file (stored or deflated)."""

    path: str
    rows: int
    column_bytes: dict[str, int]
    stored_bytes: int = 0

    def size(self, columns: Sequence[str]) -> int:
        return sum(self.column_bytes.get(c, self.rows * _EXTRA_COLUMN_BYTES) for c in columns)


@dataclass(frozen=True)
class Task:
    """One group of consecutive files, read by one task.

    `rows` is the number of rows the task returns (from the headers; ``None`` when not
    computed); `n_rows` the task's own row limit; `row_offset` the dataset row index of its
    first row (for ``row_index_name``)."""

    files: tuple[str, ...]
    rows: int | None
    n_rows: int | None
    row_offset: int


@dataclass
class TaskPlan:
    """What every task of one read needs, and what the caller reports before reading."""

    files: list[str]
    schema: pl.Schema  # of the whole read, before `columns`
    columns: list[str] | None  # the projection asked for
    options: dict[str, Any]  # the scan_npz options of each task (files already expanded)
    n_rows: int | None
    row_index: tuple[str, int] | None
    _plan: Any = None  # the native Plan of the driver's scan
    _infos: list[FileInfo] | None = None

    def output_schema(self, columns: Sequence[str] | None = None) -> pl.Schema:
        names = self.columns if columns is None else list(columns)
        return self.schema if names is None else pl.Schema({c: self.schema[c] for c in names})

    def __getstate__(self) -> dict[str, Any]:
        # The native plan stays where it was made (what it read is kept in `_infos`).
        state = dict(self.__dict__)
        state["_plan"] = None
        return state

    def _info(self, i: int) -> FileInfo:
        archive = self._plan.indexed(i)
        sizes: dict[str, int] = {}
        stored = 0
        for m in archive.members():
            stored += int(m["compressed_size"])
            if m["name"] is not None:
                # The .npy member's size: its array's bytes in memory (and its header's).
                # A string member (UTF-32 in numpy) is smaller in Arrow: an over-estimate.
                sizes[str(m["name"])] = int(m["size"])
        return FileInfo(self.files[i], archive.height(), sizes, stored)

    def infos(self) -> list[FileInfo]:
        """Each file's rows and array bytes, from the scan's plan: each index and headers read
        once (local files in parallel, objects concurrently)."""
        if self._infos is None:
            self._plan.index()
            self._infos = [self._info(i) for i in range(len(self.files))]
        return self._infos

    def file_sizes(self) -> list[int]:
        """Each file's bytes in storage: a local file's size on disk; for object-store URLs
        (whose listing gives no sizes here), the bytes of its members from its zip index, so
        that every object's index and headers are read."""
        if not any(is_url(path) for path in self.files):
            return [os.path.getsize(local_path(path)) for path in self.files]
        return [info.stored_bytes for info in self.infos()]

    def needed_files(self) -> list[FileInfo]:
        """The files a row limit reaches (all of them without one), with their rows."""
        infos = self.infos()
        if self.n_rows is None:
            return infos
        out: list[FileInfo] = []
        total = 0
        for info in infos:
            if total >= self.n_rows and out:
                break
            out.append(info)
            total += info.rows
        return out

    def tasks(self, parallelism: int, columns: Sequence[str] | None = None) -> list[Task]:
        """At most `parallelism` tasks (at least one), each a run of consecutive files of
        about equal in-memory size (of `columns`), with rows and row limits from the
        headers."""
        infos = self.needed_files()
        columns = list(self.output_schema(columns))
        groups = split_contiguous([info.size(columns) for info in infos], parallelism)
        return self._tasks_of(infos, groups)

    def tasks_of_groups(self, groups: list[tuple[int, int]]) -> list[Task]:
        """Tasks of the given runs ``(start, end)`` of files. Without a row limit or a row
        index no file is opened here."""
        if self.n_rows is None and self.row_index is None:
            return [Task(tuple(self.files[a:b]), None, None, 0) for a, b in groups]
        infos = self.needed_files()
        groups = [(a, min(b, len(infos))) for a, b in groups if a < len(infos)]
        return self._tasks_of(infos, groups)

    def _tasks_of(self, infos: list[FileInfo], groups: list[tuple[int, int]]) -> list[Task]:
        tasks, before = [], 0
        for start, end in groups:
            group = infos[start:end]
            rows = sum(info.rows for info in group)
            limit = None if self.n_rows is None else max(0, min(rows, self.n_rows - before))
            offset = before if self.row_index is None else self.row_index[1] + before
            tasks.append(Task(tuple(i.path for i in group), rows if limit is None else limit, limit, offset))
            before += rows
        return tasks


def groups_by_count(n: int, per_group: int) -> list[tuple[int, int]]:
    """Runs of `per_group` consecutive items of ``range(n)``."""
    if per_group < 1:
        msg = "files_per_partition must be at least 1"
        raise ValueError(msg)
    return [(i, min(i + per_group, n)) for i in range(0, n, per_group)]


def groups_by_size(sizes: Sequence[int], target: int) -> list[tuple[int, int]]:
    """Runs of consecutive items whose sizes add up to at most `target` (an item larger than
    `target` alone)."""
    if target < 1:
        msg = "blocksize must be at least 1 byte"
        raise ValueError(msg)
    groups, start, acc = [], 0, 0
    for i, size in enumerate(sizes):
        if i > start and acc + size > target:
            groups.append((start, i))
            start, acc = i, 0
        acc += size
    groups.append((start, len(sizes)))
    return groups


def split_contiguous(weights: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """`(start, end)` ranges cutting ``range(len(weights))`` into ``min(parts, len)`` non-empty
    runs of about equal total weight (at least one run)."""
    n = len(weights)
    k = max(1, min(parts, n))
    total = sum(weights)
    if total <= 0:
        weights, total = [1] * n, n
    bounds, acc = [0], 0
    for i, w in enumerate(weights):
        acc += w
        files_left = n - (i + 1)
        groups_left = k - len(bounds)  # runs still to start after the current one
        if files_left > 0 and groups_left > 0 and (acc * k >= total * len(bounds) or files_left == groups_left):
            bounds.append(i + 1)
    bounds.append(n)
    return list(itertools.pairwise(bounds))


def make_plan(source: Any, columns: Sequence[str] | None, scan_options: dict[str, Any]) -> TaskPlan:
    """Expand `source`, resolve the options every task must share (hive columns and their
    types, the dataset's schema) and check `columns` against the schema; opens the first
    file's index and headers only."""
    complete_scan_options(scan_options)  # unknown names refused
    if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
        msg = "a distributed read takes paths (a path, directory, glob or list of paths), not bytes or file objects"
        raise TypeError(msg)
    opts = dict(scan_options)
    n_rows = opts.pop("n_rows", None)
    if n_rows is not None and n_rows < 0:
        msg = "n_rows must be non-negative"
        raise ValueError(msg)
    row_index_name = opts.pop("row_index_name", None)
    row_index_offset = opts.pop("row_index_offset", 0)
    if opts.get("storage_options") is not None:
        # Sent to every task: plain strings, whatever mapping and values were given.
        opts["storage_options"] = dict(storage_pairs(opts["storage_options"]))
    files = expand_sources(
        source,
        glob=opts.pop("glob", True),
        storage_options=opts.get("storage_options"),
        hidden_file_prefix=opts.pop("hidden_file_prefix", None),
    )
    # Hive values come from below the source's root, in every task as in the driver's scan.
    opts["hive_start"] = hive_start(source)
    if opts.get("hive_partitioning") is None:
        # As scan_npz decides: on for a directory or a URL prefix ending in "/".
        opts["hive_partitioning"] = default_hive_partitioning(source)

    lf, native = scan_paths(files, glob=False, row_index_name=row_index_name, row_index_offset=row_index_offset, **opts)
    schema = lf.collect_schema()
    plan = TaskPlan(
        files=files,
        schema=schema,
        columns=None,
        options=opts,
        n_rows=n_rows,
        row_index=None if row_index_name is None else (row_index_name, row_index_offset),
        _plan=native,
    )
    arrays = pl.Schema(opts["schema"]) if opts.get("schema") is not None else pl.Schema(native.indexed(0).schema())
    # Every task reads with the dataset's schema (not its own first file's), and hive columns
    # of the types inferred from all the paths (not from its own files' paths).
    opts["schema"] = arrays
    opts["glob"] = False
    if opts["hive_partitioning"]:
        own = set(arrays) | {opts.get("include_file_paths"), row_index_name}
        opts["hive_schema"] = {name: dtype for name, dtype in schema.items() if name not in own}
    if columns is not None:
        columns = list(columns)
        missing = [c for c in columns if c not in schema]
        if missing:
            msg = f"column(s) {', '.join(repr(c) for c in missing)} not found; the dataset has {list(schema)}"
            raise pl.exceptions.ColumnNotFoundError(msg)
    plan.schema, plan.columns = schema, columns
    return plan


def read_task(
    files: Sequence[str],
    columns: Sequence[str] | None,
    options: dict[str, Any],
    n_rows: int | None,
    row_index: tuple[str, int] | None,
) -> pl.DataFrame:
    """Run one task: scan its files as scan_npz does, read only `columns`, each file opened
    once (for its index and its data). With no columns, a frame of no columns and the rows
    from the headers."""
    count_only = columns is not None and not columns
    lf, _ = scan_paths(
        list(files),
        n_rows=n_rows,
        row_index_name=None if row_index is None else row_index[0],
        row_index_offset=0 if row_index is None else row_index[1],
        count_rows=count_only,
        **options,
    )
    try:
        if count_only:
            return pl.DataFrame(height=lf.select(pl.len()).collect().item())
        if columns is not None:
            lf = lf.select(list(columns))
        return lf.collect()
    except BaseException as e:
        _break_cycles(e)
        raise


def _break_cycles(exc: BaseException) -> None:
    """Cut the loops of an exception's cause chain. An error raised while Polars' multi-file
    scan runs a Python reader comes back as its own ``__cause__`` (``raise e from e`` in
    Polars' thread-pool wrapper); code that follows the chain to its end, as Dask's
    distributed workers do before sending an error back, would never return."""
    seen = {id(exc)}
    e: BaseException | None = exc
    while e is not None:
        for attr in ("__cause__", "__context__"):
            link = getattr(e, attr)
            if link is not None and id(link) in seen:
                setattr(e, attr, None)
        e = e.__cause__ if e.__cause__ is not None else e.__context__
        if e is not None:
            seen.add(id(e))
