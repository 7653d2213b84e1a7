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
import io
import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

__all__ = ["ExprNode", "MultiFileScan", "expr_tree", "multi_file_scan", "polars_version"]


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


def io_source(generate: Callable[..., Iterator[pl.DataFrame]], schema: pl.Schema, name: str, detail: str) -> pl.LazyFrame:
    """`generate` as a Polars IO source, named in ``explain()`` where Polars allows it (2.x).

    Polars 1.x turns an exception raised while its source iterates into a ``ComputeError``
    holding only the message, but lets one raised when the source is called through as it
    is: there, the batches are read when the source is called, so errors reach the user with
    their own class (at the cost of holding one query's batches at once)."""
    source = generate
    if multi_file_scan() is None:

        def source(*args: Any) -> Iterator[pl.DataFrame]:
            return iter(list(generate(*args)))

    try:
        return register_io_source(source, schema=schema, validate_schema=True, explain_name=name, explain_detail=detail)
    except TypeError:
        return register_io_source(source, schema=schema, validate_schema=True)


# Reading a filter's structure. Polars documents its expression serialization as unstable
# across versions; these are the only readers of it, pinned per version by the tests
# (tests/python/test_polars_internals.py).


def expr_tree(expr: pl.Expr) -> ExprNode:
    """The root node of `expr`'s tree, as Polars' JSON serialization gives it."""
    return ExprNode(json.loads(expr.meta.serialize(format="json")))


class ExprNode:
    """One node of a serialized Polars expression, read for what the statistics judge needs:
    a column, a literal, a binary operation, or a boolean function; anything else reads as
    none of them."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def _only(self, kind: str) -> Any:
        if isinstance(self.raw, dict) and len(self.raw) == 1 and kind in self.raw:
            return self.raw[kind]
        return None

    def column(self) -> str | None:
        """The column's name, when the node is a plain column."""
        name = self._only("Column")
        return name if isinstance(name, str) else None

    def is_literal(self) -> bool:
        return self._only("Literal") is not None

    def literal(self) -> pl.Expr:
        """A literal node as an expression of its own: Polars' own value, type and semantics."""
        return pl.Expr.deserialize(io.StringIO(json.dumps(self.raw)), format="json")

    def binary(self) -> tuple[ExprNode, str, ExprNode] | None:
        """`(left, op, right)` of a binary operation (op: "Gt", "Eq", "And", "LogicalOr", ...)."""
        body = self._only("BinaryExpr")
        if not isinstance(body, dict):
            return None
        return ExprNode(body.get("left")), str(body.get("op")), ExprNode(body.get("right"))

    def boolean_function(self) -> tuple[str, dict[str, Any], list[ExprNode]] | None:
        """`(name, options, inputs)` of a boolean function: "Not", "IsNull", "IsNotNull",
        "IsNan", "IsNotNan", "IsBetween" (options: ``closed``), "IsIn", ..."""
        body = self._only("Function")
        if not isinstance(body, dict):
            return None
        function = body.get("function")
        if not (isinstance(function, dict) and "Boolean" in function):
            return None
        f = function["Boolean"]
        inputs = [ExprNode(n) for n in body.get("input", [])]
        if isinstance(f, str):
            return f, {}, inputs
        if isinstance(f, dict) and len(f) == 1:
            ((name, options),) = f.items()
            return str(name), options if isinstance(options, dict) else {}, inputs
        return None
