"""The ``npz`` DataFrame namespace (``df.npz.write(...)``), registered when this module is imported."""

from __future__ import annotations

import os

import polars as pl

from polars_npz._write import write_npz

__all__ = ["NpzFrame"]


@pl.api.register_dataframe_namespace("npz")
class NpzFrame:
    """``df.npz.write(path, ...)``: write the frame with :func:`write_npz`."""

    def __init__(self, df: pl.DataFrame) -> None:
        self._df = df

    def write(self, path: str | os.PathLike[str], *, compress: bool = False, align: int = 64, fill: object = None) -> None:
        """Write the frame to an ``.npz`` archive; see :func:`write_npz`."""
        write_npz(self._df, path, compress=compress, align=align, fill=fill)
