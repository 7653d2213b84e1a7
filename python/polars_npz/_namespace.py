"""The ``npz`` namespaces (``df.npz.write(...)``, ``lf.npz.sink(...)``), registered when this
module is imported."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from polars_npz._sink import _CHUNK_ROWS, sink_npz
from polars_npz._write import write_npz

__all__ = ["NpzFrame", "NpzLazyFrame"]


@pl.api.register_dataframe_namespace("npz")
class NpzFrame:
    """``df.npz.write(path, ...)``: write the frame with :func:`write_npz`."""

    def __init__(self, df: pl.DataFrame) -> None:
        self._df = df

    def write(
        self,
        path: str | os.PathLike[str],
        *,
        compress: bool = False,
        align: int = 64,
        fill: Any = None,
        storage_options: Mapping[str, object] | None = None,
        block_rows: int | None = None,
    ) -> None:
        """Write the frame to an ``.npz`` archive (a local path or an object-store URL); see
        :func:`write_npz` (a test holds this signature to write_npz's)."""
        write_npz(self._df, path, **{name: value for name, value in locals().items() if name not in ("self", "path")})


@pl.api.register_lazyframe_namespace("npz")
class NpzLazyFrame:
    """``lf.npz.sink(path, ...)``: write the frame as it streams with :func:`sink_npz`."""

    def __init__(self, lf: pl.LazyFrame) -> None:
        self._lf = lf

    def sink(
        self,
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
        """Write the frame to ``.npz`` as it streams; see :func:`sink_npz` for the options (a
        test holds this signature to sink_npz's)."""
        sink_npz(self._lf, path, **{name: value for name, value in locals().items() if name not in ("self", "path")})
