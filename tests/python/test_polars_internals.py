"""The private Polars names and unstable formats the package depends on, pinned on every Polars
version CI tests: the serialized expression tree the statistics judge reads (its node shapes
move between Polars versions; a change here fails here, not as filters that silently skip
nothing), and the multi-file scan for external readers."""

from __future__ import annotations

import polars as pl
import pytest
from polars_npz._polars import expr_tree, multi_file_scan, polars_version


def test_columns_literals_and_comparisons():
    for op, name in [("__gt__", "Gt"), ("__ge__", "GtEq"), ("__lt__", "Lt"), ("__le__", "LtEq"), ("__eq__", "Eq"), ("__ne__", "NotEq")]:
        node = expr_tree(getattr(pl.col("a"), op)(3))
        binary = node.binary()
        assert binary is not None, (op, node.raw)
        left, got, right = binary
        assert (left.column(), got, right.is_literal()) == ("a", name, True)
        assert pl.select(right.literal()).item() == 3
    # A literal on the left stays on the left.
    left, op, right = expr_tree(pl.lit(2.5) < pl.col("b")).binary()  # type: ignore[misc]
    assert left.is_literal() and op == "Lt" and right.column() == "b"
    assert pl.select(left.literal()).item() == 2.5
    assert expr_tree(pl.col("x")).column() == "x"
    assert expr_tree(pl.col("x")).binary() is None and expr_tree(pl.col("x") + 1).column() is None


def test_logical_operators():
    for expr in [(pl.col("a") > 1) & (pl.col("b") < 2), (pl.col("a") > 1) | (pl.col("b") < 2)]:
        binary = expr_tree(expr).binary()
        assert binary is not None
        left, op, right = binary
        assert op in ("And", "LogicalAnd", "Or", "LogicalOr")
        assert left.binary() is not None and right.binary() is not None


@pytest.mark.parametrize(
    ("expr", "name", "n_inputs"),
    [
        (~(pl.col("a") > 1), "Not", 1),
        (pl.col("a").is_null(), "IsNull", 1),
        (pl.col("a").is_not_null(), "IsNotNull", 1),
        (pl.col("a").is_nan(), "IsNan", 1),
        (pl.col("a").is_not_nan(), "IsNotNan", 1),
        (pl.col("a").is_between(1, 5), "IsBetween", 3),
        (pl.col("a").is_in([1, 2, 3]), "IsIn", 2),
    ],
)
def test_boolean_functions(expr, name, n_inputs):
    function = expr_tree(expr).boolean_function()
    assert function is not None, expr_tree(expr).raw
    got, options, inputs = function
    assert got == name and len(inputs) == n_inputs
    if name != "Not":
        assert inputs[0].column() == "a"
    if name == "IsBetween":
        assert options.get("closed", "both").lower() == "both"
        assert all(i.is_literal() for i in inputs[1:])
        _, left_closed, _ = expr_tree(pl.col("a").is_between(1, 5, closed="left")).boolean_function()  # type: ignore[misc]
        assert left_closed.get("closed", "").lower() == "left"
    if name == "IsIn":
        assert inputs[1].is_literal()
        assert pl.select(inputs[1].literal()).to_series().explode().to_list() == [1, 2, 3]


def test_the_multi_file_scan_is_found_on_polars_2():
    if polars_version() >= (2, 0):
        assert multi_file_scan() is not None
    else:
        assert multi_file_scan() is None
