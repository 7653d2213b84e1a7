"""Ray Data over npz datasets: ``read_npz(source) -> ray.data.Dataset``.

Each read task scans a run of consecutive files with ``scan_npz`` on the worker that runs it
(the files are opened there; no array data passes through the driver) and returns Arrow
tables. Rows and sizes come from the ``.npy`` headers when the dataset is planned, so
``ds.count()`` reads no array data. Needs ``pip install "polars-npz[ray]"``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Iterable, Sequence
from typing import Any

try:
    import pyarrow as pa
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask
except ImportError as e:  # pragma: no cover - depends on the environment
    msg = f'polars_npz.ray needs Ray Data: pip install "polars-npz[ray]" ({e})'
    raise ImportError(msg) from e

import polars as pl

from polars_npz._tasks import Task, TaskPlan, make_plan, read_task

__all__ = ["NpzDatasource", "read_npz"]

_METADATA_FIELDS = {f.name for f in dataclasses.fields(BlockMetadata)}
_READ_TASK_PARAMS = set(inspect.signature(ReadTask.__init__).parameters)


def _read_blocks(
    files: tuple[str, ...],
    columns: list[str] | None,
    options: dict[str, Any],
    n_rows: int | None,
    row_index: tuple[str, int] | None,
) -> Iterable[pa.Table]:
    """The body of one read task, run on a Ray worker."""
    df = read_task(files, columns, options, n_rows, row_index)
    # Polars hands its buffers to Arrow without copying them.
    return [df.to_arrow()]


class NpzDatasource(Datasource):
    """A ``ray.data.Datasource`` over npz archives: one read task per run of consecutive
    files, rows and sizes from the headers. Use through :func:`read_npz` (or
    ``ray.data.read_datasource(NpzDatasource(source, ...))``).

    Supports Ray's projection pushdown (``ds.select_columns([...])`` reads only those
    columns) on Ray versions that have it.
    """

    def __init__(self, source: Any, *, columns: Sequence[str] | None = None, **scan_options: Any) -> None:
        super().__init__()
        self._plan: TaskPlan = make_plan(source, columns, scan_options)
        self._plan.infos()  # every file's rows and sizes, from its headers, once
        self._projection_map: dict[str, str] | None = None

    # Projection pushdown (recent Rays); older Rays never call these.
    def supports_projection_pushdown(self) -> bool:
        return True

    def _columns(self) -> list[str] | None:
        projection = getattr(self, "_projection_map", None)
        if projection is None:
            return self._plan.columns
        base = self._plan.columns if self._plan.columns is not None else list(self._plan.schema)
        return [c for c in base if c in projection]

    def get_name(self) -> str:
        return "Npz"

    def estimate_inmemory_data_size(self) -> int | None:
        columns = list(self._plan.output_schema(self._columns()))
        return sum(info.size(columns) for info in self._plan.needed_files())

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None, **_: Any) -> list[ReadTask]:
        columns = self._columns()
        schema = self._plan.output_schema(columns)
        arrow_schema = pl.DataFrame(schema=schema).to_arrow().schema
        tasks = self._plan.tasks(parallelism, list(schema))
        return [self._make_read_task(task, columns, arrow_schema, per_task_row_limit) for task in tasks]

    def _make_read_task(self, task: Task, columns: list[str] | None, arrow_schema: pa.Schema, per_task_row_limit: int | None) -> ReadTask:
        plan = self._plan
        n_rows, rows = task.n_rows, task.rows
        if per_task_row_limit is not None:
            n_rows = per_task_row_limit if n_rows is None else min(n_rows, per_task_row_limit)
            rows = min(rows or 0, per_task_row_limit)
        names = list(plan.output_schema(columns))
        by_path = {info.path: info for info in plan.infos()}
        size = sum(by_path[f].size(names) for f in task.files)
        meta: dict[str, Any] = {
            "num_rows": rows,
            "size_bytes": int(size),
            "input_files": list(task.files),
            "exec_stats": None,
        }
        if "schema" in _METADATA_FIELDS:  # older Rays keep the schema in the metadata
            meta["schema"] = arrow_schema
        row_index = None if plan.row_index is None else (plan.row_index[0], task.row_offset)
        files, options = task.files, plan.options

        def read_fn() -> Iterable[pa.Table]:  # a named function: older Rays log its __name__
            return _read_blocks(files, columns, options, n_rows, row_index)

        kwargs: dict[str, Any] = {}
        if "schema" in _READ_TASK_PARAMS:
            kwargs["schema"] = arrow_schema
        if "per_task_row_limit" in _READ_TASK_PARAMS and per_task_row_limit is not None:
            kwargs["per_task_row_limit"] = per_task_row_limit
        return ReadTask(read_fn, BlockMetadata(**meta), **kwargs)


def read_npz(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    columns: Sequence[str] | None = None,
    override_num_blocks: int | None = None,
    ray_remote_args: dict[str, Any] | None = None,
    **scan_options: Any,
) -> ray.data.Dataset:
    """
    Read an npz dataset as a ``ray.data.Dataset``.

    Parameters
    ----------
    source
        A path, a directory (every ``.npz`` below it), a glob, or a list of these, as for
        :func:`polars_npz.scan_npz`; also object-store URLs (``s3://bucket/prefix/``, a
        glob of objects), listed and planned here and opened by the worker reading them.
    columns
        The columns to read (default: all, with hive and file-path columns). Only these are
        read, inside the tasks.
    override_num_blocks
        The number of read tasks (default: Ray's choice). Each task reads a run of
        consecutive whole files; there are never more tasks than files.
    ray_remote_args
        Passed to the read tasks (``num_cpus``, ``memory``, ...).
    **scan_options
        Options of :func:`polars_npz.scan_npz`: ``hive_partitioning``, ``hive_schema``,
        ``try_parse_hive_dates``, ``include_file_paths``, ``schema``, ``missing_columns``,
        ``extra_columns``, ``row_index_name``, ``row_index_offset``, ``n_rows``, ``glob``,
        ``memory_map``, ``verify_checksums``, ``max_header_size``, ``storage_options`` (for
        URLs, as for ``scan_npz``: used here to list and plan, and sent with every read task
        so that each worker opens its own objects). A row index numbers the rows of the
        whole dataset; ``n_rows`` reads only the files it reaches.

    Returns
    -------
    ray.data.Dataset
        Columns as ``scan_npz`` gives them, as Arrow: ``Array`` columns are Arrow
        fixed-size lists, strings ``large_string``, datetimes ``timestamp``.

    Raises
    ------
    NpzError
        If a file's index or headers are invalid (here, when the dataset is planned: every
        file's headers are read); a member's data (when the task reading it runs), with the
        file named.
    """
    datasource = NpzDatasource(source, columns=columns, **scan_options)
    params = inspect.signature(ray.data.read_datasource).parameters
    kwargs: dict[str, Any] = {}
    if ray_remote_args is not None:
        kwargs["ray_remote_args"] = ray_remote_args
    if override_num_blocks is not None:
        kwargs["override_num_blocks" if "override_num_blocks" in params else "parallelism"] = override_num_blocks
    return ray.data.read_datasource(datasource, **kwargs)
