"""Skipping with statistics: the filters Polars hands a scan, judged against the statistics of
an archive's blocks (min, max, null and NaN counts per block, written by ``write_npz``,
``sink_npz`` and ``align_npz``), so that blocks, and whole files, that cannot hold a matching
row are neither read nor inflated.

Each filter is turned into an expression over the blocks' statistics that is true when a block
*may* hold a row for which the filter is true, as Polars' own Parquet reader does with its
row-group statistics. It is conservative: a part it cannot judge (an expression it does not
know, a column without statistics) skips nothing, a block holding NaN is always read, and Polars
still applies the filter to every row read (the reader declares "partial" filter support). So
skipping never changes a result; it only avoids reading.

The filters arrive as Polars expressions; their structure is read from Polars' JSON
serialization (read in `_polars`, the one reader of it), and literals are handed back to Polars as they are (deserialized), so the
statistics are compared with exactly the values, types and semantics the filter uses.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

from polars_npz._internal import Archive as _Archive
from polars_npz._internal import Plan
from polars_npz._internal import block_stats as _block_stats
from polars_npz._polars import ExprNode, expr_tree

__all__ = ["Skipper", "kept_ranges"]

# Comparisons with the column on the right, turned around.
_FLIP = {"Lt": "Gt", "LtEq": "GtEq", "Gt": "Lt", "GtEq": "LtEq", "Eq": "Eq", "NotEq": "NotEq"}
# Values of an `is_in` list checked one by one (beyond, the list's range is used).
_IS_IN_VALUES = 32


def _stat(column: str, what: str) -> pl.Expr:
    return pl.col(f"\x00{what}\x00{column}")


class _Judge:
    """Turns a filter's tree into an expression over the statistics of blocks: true when a
    block may hold a row where the filter is `want` (True, or False under a ``not``); ``None``
    when it cannot tell (then every block may). A column without statistics in a file has null
    statistics there: under Kleene logic, null is "cannot tell" too."""

    def __init__(self) -> None:
        self.columns: set[str] = set()

    def column(self, node: ExprNode) -> str | None:
        name = node.column()
        if name is not None:
            self.columns.add(name)
        return name

    def may(self, node: ExprNode, want: bool) -> pl.Expr | None:
        if (binary := node.binary()) is not None:
            return self.binary(*binary, want)
        if (function := node.boolean_function()) is not None:
            return self.function(*function, want)
        if (c := self.column(node)) is not None:
            # A boolean column: true rows where its max is true, false ones where its min is
            # false (any other type fails to evaluate, and then nothing is skipped).
            return _valid(c) & (_stat(c, "max") if want else ~_stat(c, "min"))
        return None

    def binary(self, left: ExprNode, op: str, right: ExprNode, want: bool) -> pl.Expr | None:
        if op in ("And", "LogicalAnd", "Or", "LogicalOr"):
            a, b = self.may(left, want), self.may(right, want)
            # A row where `a and b` is true needs both true; where it is false, either false.
            both = (op in ("And", "LogicalAnd")) == want
            if both:
                return b if a is None else a if b is None else a & b
            return None if a is None or b is None else a | b
        if op not in _FLIP:
            return None
        if (c := self.column(left)) is not None and right.is_literal():
            return _compare(c, op, right.literal(), want)
        if (c := self.column(right)) is not None and left.is_literal():
            return _compare(c, _FLIP[op], left.literal(), want)
        return None

    def function(self, f: str, options: dict[str, Any], inputs: list[ExprNode], want: bool) -> pl.Expr | None:
        if not inputs:
            return None
        if f == "Not" and len(inputs) == 1:
            return self.may(inputs[0], not want)
        c = self.column(inputs[0])
        if c is None:
            return None
        nulls, nans, valid = _stat(c, "nulls") > 0, _stat(c, "nans") > 0, _valid(c)
        if f in ("IsNull", "IsNotNull") and len(inputs) == 1:
            nonnull = valid | nans
            return nulls if (f == "IsNull") == want else nonnull
        if f in ("IsNan", "IsNotNan") and len(inputs) == 1:
            return nans if (f == "IsNan") == want else valid
        if f == "IsBetween" and len(inputs) == 3 and all(n.is_literal() for n in inputs[1:]):
            lo, hi = inputs[1].literal(), inputs[2].literal()
            closed = str(options.get("closed", "both"))
            mn, mx = _stat(c, "min"), _stat(c, "max")
            if want:
                low = mx >= lo if closed.lower() in ("both", "left") else mx > lo
                high = mn <= hi if closed.lower() in ("both", "right") else mn < hi
                return (valid & low & high) | nans
            return (valid & ((mn <= lo) | (mx >= hi))) | nans
        if f == "IsIn" and len(inputs) == 2 and inputs[1].is_literal() and want:
            values = pl.select(inputs[1].literal()).to_series()
            if isinstance(values.dtype, (pl.List, pl.Array)):
                values = values.explode()
            if values.null_count() > 0:
                return None
            mn, mx = _stat(c, "min"), _stat(c, "max")
            if values.len() == 0:
                return pl.lit(False)
            if values.len() <= _IS_IN_VALUES:
                hits = [(mn <= v) & (mx >= v) for v in (pl.lit(values.slice(i, 1)).first() for i in range(values.len()))]
                return (valid & pl.any_horizontal(hits)) | nans
            lo, hi = pl.lit(values.min(), dtype=values.dtype), pl.lit(values.max(), dtype=values.dtype)
            return (valid & (mx >= lo) & (mn <= hi)) | nans
        return None


def _valid(c: str) -> pl.Expr:
    """Whether a block holds values that are neither null nor NaN (its min and max are theirs)."""
    return _stat(c, "valid") > 0


def _compare(c: str, op: str, value: pl.Expr, want: bool) -> pl.Expr:
    """May a block hold a row where `column op value` is `want`? Nulls compare to null (neither);
    a block with NaN always may."""
    mn, mx = _stat(c, "min"), _stat(c, "max")
    if want:
        cond = {
            "Gt": mx > value,
            "GtEq": mx >= value,
            "Lt": mn < value,
            "LtEq": mn <= value,
            "Eq": (mn <= value) & (mx >= value),
            "NotEq": (mn != value) | (mx != value),
        }[op]
    else:
        cond = {
            "Gt": mn <= value,
            "GtEq": mn < value,
            "Lt": mx >= value,
            "LtEq": mx > value,
            "Eq": (mn != value) | (mx != value),
            "NotEq": (mn <= value) & (mx >= value),
        }[op]
    return (_valid(c) & cond) | (_stat(c, "nans") > 0)


class Skipper:
    """The filters of one query, judged once, then applied to the statistics of archives."""

    def __init__(self, filters: Sequence[pl.Expr]) -> None:
        self.judge = _Judge()
        self.parts: list[pl.Expr] = []
        for f in filters:
            try:
                part = self.judge.may(expr_tree(f), True)
            except Exception:
                part = None
            if part is not None:
                self.parts.append(part)

    def ranges(self, archives: Sequence[_Archive] | Plan, heights: Sequence[int]) -> list[list[tuple[int, int]] | None]:
        """For each archive (or each file of a plan, all indexed), the row ranges
        ``[start, end)`` that may hold a row matching every filter; ``None`` for an archive
        where nothing can be skipped. The statistics of all of them are judged together, in a
        few vectorized steps."""
        out: list[list[tuple[int, int]] | None] = [None] * len(heights)
        if not self.parts:
            return out
        try:
            segments = self._segments(archives, heights)
            if segments is None:
                return out
            # With `with_columns`, a constant (`is_in` of an empty list) spans every row.
            keep = segments.with_columns(pl.all_horizontal(self.parts).fill_null(True).alias("\x00keep"))
            judged = keep["\x00at"].unique().to_list()
            kept = keep.filter(pl.col("\x00keep")).select("\x00at", "\x00start", "\x00end").rows()
        except Exception:
            return out
        for i in judged:
            out[i] = []
        for i, start, end in kept:
            ranges = out[i]
            assert ranges is not None
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((start, end))
        return out

    def _segments(self, archives: Sequence[_Archive] | Plan, heights: Sequence[int]) -> pl.DataFrame | None:
        """The statistics of the filters' columns, a row per segment of an archive's rows that
        lies inside one block of each such column (its position ``at``, ``start``, ``end``);
        a column without statistics in an archive has nulls there. None when no archive has any."""
        per_column: dict[str, pl.DataFrame] = {}
        for c in sorted(self.judge.columns):
            raw = archives.block_stats(list(heights), c) if isinstance(archives, Plan) else _block_stats(list(archives), list(heights), c)
            if raw is None:
                continue
            at, start, end, nulls, nans, mins, maxs = raw
            per_column[c] = pl.DataFrame(
                [
                    pl.Series("\x00at", at, dtype=pl.UInt32),
                    pl.Series("\x00start", start, dtype=pl.UInt64),
                    pl.Series("\x00end", end, dtype=pl.UInt64),
                    pl.Series(mins).alias(f"\x00min\x00{c}"),
                    pl.Series(maxs).alias(f"\x00max\x00{c}"),
                    pl.Series(f"\x00nulls\x00{c}", nulls, dtype=pl.Int64),
                    pl.Series(f"\x00nans\x00{c}", nans, dtype=pl.Int64),
                ]
            ).with_columns(
                (
                    pl.col("\x00end").cast(pl.Int64)
                    - pl.col("\x00start").cast(pl.Int64)
                    - pl.col(f"\x00nulls\x00{c}")
                    - pl.col(f"\x00nans\x00{c}")
                ).alias(f"\x00valid\x00{c}")
            )
        if not per_column:
            return None
        frames = list(per_column.values())
        if len(frames) == 1:
            return frames[0]
        # Segments: every block boundary of every column, per archive; each column's block
        # holding a segment found by an as-of join (its last block starting at or before it).
        bounds = pl.concat([f.select("\x00at", pl.col(k).alias("\x00start")) for f in frames for k in ("\x00start", "\x00end")])
        segments = (
            bounds.unique()
            .sort("\x00at", "\x00start")
            .with_columns(pl.col("\x00start").shift(-1).over("\x00at").alias("\x00end"))
            .drop_nulls("\x00end")
            .sort("\x00start")
        )
        for f in frames:
            segments = _join_asof_sorted(segments, f.drop("\x00end").sort("\x00start"))
        return segments


@functools.cache
def _join_asof_checks_sortedness() -> bool:
    """Whether this Polars' ``join_asof`` takes ``check_sortedness``."""
    return "check_sortedness" in inspect.signature(pl.DataFrame.join_asof).parameters


def _join_asof_sorted(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    """For each segment of `left`, the block of `right` starting at or before it, per archive.
    Both are sorted by start by construction; Polars cannot check that within ``by`` groups and
    warns that it cannot, so the check is turned off (or, on a Polars without the switch, that
    warning alone is silenced)."""
    if _join_asof_checks_sortedness():
        return left.join_asof(right, on="\x00start", by="\x00at", strategy="backward", check_sortedness=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sortedness of columns cannot be checked")
        return left.join_asof(right, on="\x00start", by="\x00at", strategy="backward")


def kept_ranges(archive: _Archive, filters: Sequence[pl.Expr], height: int) -> list[tuple[int, int]] | None:
    """The row ranges ``[start, end)`` of `archive` (of `height` rows) that may hold a row
    matching every filter, from its blocks' statistics; ``None`` when nothing can be skipped."""
    return Skipper(filters).ranges([archive], [height])[0]
