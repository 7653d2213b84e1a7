"""Every use of a private Polars name, in one place, behind a probe of the installed Polars.

Datasets are read through Polars' own multi-file scan with an external reader (Polars 2.0+:
``polars.io.external_reader``), created through ``PyLazyFrame.new_from_external_reader_builder``
with ``ScanOptions`` so that hive columns, file-path columns, row indexes, ``n_rows`` and the
row count from the headers all behave as in ``pl.scan_parquet``. Those names are private. When
they are missing (Polars 1.x, or a future Polars that moved them) ``multi_file_scan()`` says
why, and the scan falls back to one IO source per file concatenated, with a warning when this
Polars is one we expected to have them: the fallback gives the same rows, but no hive columns.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import polars as pl

__all__ = ["MultiFileScan", "multi_file_scan", "polars_version"]


def polars_version() -> tuple[int, int]:
    """The installed Polars' (major, minor) version."""
    parts = pl.__version__.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)


class MultiFileScan:
    """Polars' multi-file scan driving an external reader (its private entry points)."""

    def __init__(self) -> None:
        from polars._plr import PyLazyFrame
        from polars._utils.wrap import wrap_ldf
        from polars.io.external_reader import FileReader, FileReaderBuilder, ReaderCapabilities
        from polars.io.scan_options._options import ScanOptions

        if not hasattr(PyLazyFrame, "new_from_external_reader_builder"):
            msg = "PyLazyFrame.new_from_external_reader_builder is missing"
            raise ImportError(msg)
        self.FileReader: Any = FileReader
        self.FileReaderBuilder: Any = FileReaderBuilder
        self.ReaderCapabilities: Any = ReaderCapabilities
        self._ScanOptions = ScanOptions
        self._PyLazyFrame = PyLazyFrame
        self._wrap_ldf = wrap_ldf

    def scan(self, sources: list[str], builder: Any, schema: pl.Schema, **options: Any) -> pl.LazyFrame:
        """A LazyFrame over `sources` read by `builder`'s readers; `options` are those of
        Polars' ``ScanOptions`` (``row_index``, ``pre_slice``, ``hive_partitioning``, ...)."""
        scan_options = self._ScanOptions(glob=False, expand_paths=False, **options)
        ldf = self._PyLazyFrame.new_from_external_reader_builder(
            sources=sources, reader_builder=builder, schema=dict(schema), scan_options=scan_options
        )
        return self._wrap_ldf(ldf)


@functools.cache
def multi_file_scan() -> MultiFileScan | None:
    """Polars' multi-file scan for external readers, or None where this Polars lacks it
    (Polars 1.x; a warning names the fallback when a Polars 2.1 or newer lacks it)."""
    try:
        return MultiFileScan()
    except (ImportError, AttributeError) as e:
        if polars_version() >= (2, 0):
            warnings.warn(
                f"polars-npz: this Polars ({pl.__version__}) lacks the multi-file scan polars-npz "
                f"uses for datasets ({e}); datasets are read file by file instead, without hive "
                "columns. Please report it.",
                RuntimeWarning,
                stacklevel=2,
            )
        return None
