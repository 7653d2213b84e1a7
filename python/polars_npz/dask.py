"""Dask over npz datasets: ``read_npz(source) -> dask.dataframe.DataFrame``.

One partition per run of consecutive files of about ``blocksize`` bytes on disk (or of
``files_per_partition`` files), each read by ``scan_npz`` on the worker that computes it and
handed to pandas. Dask's column
projection reaches the reader: ``ddf[["a"]]`` reads only ``a``. Needs
``pip install "polars-npz[dask]"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

try:
    import dask
    import dask.dataframe as dd
    import pandas as pd
    from dask.dataframe.utils import pyarrow_strings_enabled
except ImportError as e:  # pragma: no cover - depends on the environment
    msg = f'polars_npz.dask needs Dask: pip install "polars-npz[dask]" ({e})'
    raise ImportError(msg) from e

import polars as pl

from polars_npz._tasks import Task, groups_by_count, groups_by_size, make_plan, read_task

__all__ = ["read_npz"]


class NpzPartitionReader:
    """Reads one partition (a :class:`Task`: a run of files) into pandas.

    Dask pushes column selections into the ``columns`` argument of ``__call__`` (dask >=
    2025) or through ``project_columns`` (the older ``DataFrameIOFunction`` protocol)."""

    def __init__(
        self,
        options: dict[str, Any],
        row_index_name: str | None,
        all_columns: list[str],
        arrow_strings: bool,
        columns: list[str] | None = None,
    ) -> None:
        self.options = options
        self.row_index_name = row_index_name
        self.all_columns = all_columns
        self.arrow_strings = arrow_strings
        self._columns = columns

    @property
    def columns(self) -> list[str]:
        return self.all_columns if self._columns is None else self._columns

    def project_columns(self, columns: Sequence[str]) -> NpzPartitionReader:
        if list(columns) == self.columns:
            return self
        return NpzPartitionReader(self.options, self.row_index_name, self.all_columns, self.arrow_strings, list(columns))

    def __call__(self, task: Task, columns: Sequence[str] | None = None) -> pd.DataFrame:
        wanted = self._columns if columns is None else list(columns)
        row_index = None if self.row_index_name is None else (self.row_index_name, task.row_offset)
        df = read_task(task.files, wanted, self.options, task.n_rows, row_index)
        return _to_pandas(df, self.arrow_strings)


def _to_pandas(df: pl.DataFrame, arrow_strings: bool) -> pd.DataFrame:
    """`df` in pandas, by Polars' ``to_pandas()``; with `arrow_strings`, String columns as
    ``string[pyarrow]``, as Dask converts strings by default. (Dask's own conversion, which
    turns every object column into strings, would garble the object columns of numpy arrays
    that Array columns become: it is switched off for these collections.)"""
    out = df.to_pandas()
    if arrow_strings:
        strings = [name for name, dtype in df.schema.items() if dtype == pl.String]
        if strings:
            out = out.astype({name: pd.StringDtype("pyarrow") for name in strings})
    return out


def read_npz(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    columns: Sequence[str] | None = None,
    blocksize: int | None = 64 * 2**20,
    files_per_partition: int | None = None,
    **scan_options: Any,
) -> dd.DataFrame:
    """
    Read an npz dataset as a ``dask.dataframe.DataFrame``.

    Parameters
    ----------
    source
        A path, a directory (every ``.npz`` below it), a glob, or a list of these, as for
        :func:`polars_npz.scan_npz`; also object-store URLs (``s3://bucket/prefix/``, a
        glob of objects), listed here and opened by the worker reading them.
    columns
        The columns to read (default: all, with hive and file-path columns). Column
        selections on the result (``ddf[["a"]]``, ``ddf["a"]``) are also pushed into the
        reader.
    blocksize
        Bytes on disk per partition: consecutive files are grouped until they add up to
        about this much (default 64 MiB; files are never split, a larger file is a
        partition of its own). ``None``: one partition per file. Each partition costs the
        scheduler a task, so many small shards are better read a few dozen at a time.
        (Deflated files take more memory than disk.) For object-store URLs the sizes come
        from each object's zip index, read here (the index and headers only, a few objects
        at a time); `files_per_partition` or ``blocksize=None`` opens none of them here.
    files_per_partition
        Instead of `blocksize`: this many consecutive files per partition (1: one
        partition per file).
    **scan_options
        Options of :func:`polars_npz.scan_npz`: ``hive_partitioning``, ``hive_schema``,
        ``try_parse_hive_dates``, ``include_file_paths``, ``schema``, ``missing_columns``,
        ``extra_columns``, ``row_index_name``, ``row_index_offset``, ``n_rows``, ``glob``,
        ``memory_map``, ``verify_checksums``, ``max_header_size``, ``storage_options`` (for
        URLs, as for ``scan_npz``: used here to list and plan, and sent with every partition
        so that each worker opens its own objects). A row index numbers the rows of the
        whole dataset and ``n_rows`` keeps only the files it reaches; both read every file's
        headers here to count rows.

    Returns
    -------
    dask.dataframe.DataFrame
        Divisions unknown; each partition has its own ``RangeIndex`` from 0. Columns are
        converted by Polars' ``to_pandas()``: ``Array`` columns become object columns
        holding a numpy array per row, datetimes ``datetime64``, and strings
        ``string[pyarrow]`` (as Dask converts them, unless its ``dataframe.convert-string``
        is off).

    Raises
    ------
    NpzError
        If the first file's index or headers are invalid (here); any other problem when
        the partition reading it is computed, with the file named.
    """
    plan = make_plan(source, columns, scan_options)
    if files_per_partition is not None:
        groups = groups_by_count(len(plan.files), files_per_partition)
    elif blocksize is not None:
        groups = groups_by_size(plan.file_sizes(), blocksize)
    else:
        groups = groups_by_count(len(plan.files), 1)
    tasks = plan.tasks_of_groups(groups)
    arrow_strings = pyarrow_strings_enabled()
    reader = NpzPartitionReader(
        plan.options,
        None if plan.row_index is None else plan.row_index[0],
        list(plan.schema),
        arrow_strings,
        plan.columns,
    )
    meta = _to_pandas(pl.DataFrame(schema=plan.output_schema()), arrow_strings)
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(reader, tasks, meta=meta, label="read-npz", enforce_metadata=False)
