"""Polars' own hive-partitioning scan tests, run on Parquet (the reference) and on npz (stored, deflated).

Ported from pola-rs/polars, branch ``2.0`` at commit 2837c9a4c2fd4efab32ad3a49ceb6702615bebaa
(2.0.0rc1; see test_polars_scans.py): ``py-polars/tests/unit/io/test_hive.py`` and the hive
tests of ``test_multiscan.py`` and ``test_scan.py``. Polars' assertions are kept; datasets are
written by `polars_formats.write_partitioned` (Polars' partitioned Parquet layout, each file
rewritten in the format; `include_key=False` where Polars used pyarrow's write_to_dataset) and
files named ``*.bin`` by Polars get the format's suffix (npz lists ``.npz`` files of a
directory). npz hive columns need Polars 2 (on 1.x the npz cases skip). A known npz difference
is a strict xfail on the npz parameters only.

Left out: test_read_parquet_hive_schema_with_pyarrow (pyarrow reader), test_hive_write_multiple_files
(Parquet writer's partition_chunk_size_bytes), test_hive_windows_splits_on_forward_slashes
(Windows only), test_hive_decode_reserved_ascii_23241 and test_hive_decode_utf8_23241 (Delta
Lake). `parallel=` parametrizations (Parquet-only knob) run once with the default.
Shrunk: test_hive_partition_columns_contained_in_file checks projections of up to 3 columns
(Polars: all 5, 325 queries per check); test_hive_parquet_prefiltered_20894_21327 runs in this
process (Polars: in a subprocess per thread count). Polars' foods*.ipc data is polars_formats.foods.
"""

from __future__ import annotations

import urllib.parse
from collections import OrderedDict
from datetime import date, datetime
from itertools import permutations
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.exceptions import ComputeError, SchemaFieldNotFoundError
from polars.testing import assert_frame_equal, assert_series_equal
from polars_formats import (
    FORMATS,
    PlMonkeyPatch,
    ext,
    fmt_params,
    foods,
    format_file_uri,
    is_npz,
    needs_npz_hive,
    scan,
    write,
    write_partitioned,
)


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    """The format; npz cases skip on a Polars without hive columns for npz (1.x)."""
    needs_npz_hive(request.param)
    return request.param


@pytest.fixture
def plmonkeypatch():
    """Polars' plmonkeypatch fixture (see polars_formats.PlMonkeyPatch)."""
    mpatch = PlMonkeyPatch()
    yield mpatch
    mpatch.undo()


def _engine(streaming: bool) -> Any:
    return "streaming" if streaming else "in-memory"


def _has_pre_partition_hive() -> bool:
    return hasattr(pl.QueryOptFlags(), "pre_partition_hive")


needs_pre_partition_hive = pytest.mark.skipif(not _has_pre_partition_hive(), reason="this Polars has no hive pre-partitioning")


# --------------------------------------------------------------------------------------------
# test_hive.py
# --------------------------------------------------------------------------------------------


def _foods_partitioned(tmp_path: Path, fmt: str) -> tuple[pl.DataFrame, Path]:
    # Polars: pl.read_ipc(io_files_path / "*.ipc") written by pq.write_to_dataset.
    df = pl.concat([foods(1), foods(2)])
    root = tmp_path / "partitioned_data"
    write_partitioned(df, root, ["category", "fats_g"], fmt, include_key=False)
    return df, root


def impl_test_hive_partitioned_predicate_pushdown(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch) -> None:
    plmonkeypatch.setenv("POLARS_VERBOSE", "1")
    df, root = _foods_partitioned(tmp_path, fmt)
    e = ext(fmt)

    q = scan(root / f"**/*.{e}", fmt, hive_partitioning=False)
    # checks schema
    assert q.collect_schema().names() == ["calories", "sugars_g"]
    # checks materialization
    assert q.collect().columns == ["calories", "sugars_g"]

    q = scan(root / f"**/*.{e}", fmt, hive_partitioning=True)
    assert q.collect_schema().names() == ["calories", "sugars_g", "category", "fats_g"]

    # Partitioning changes the order
    sort_by = ["fats_g", "category", "calories", "sugars_g"]

    # The hive partitioned columns are appended, so we must ensure we assert in the proper order.
    df = df.select(["calories", "sugars_g", "category", "fats_g"])
    for streaming in [True, False]:
        for pred in [
            pl.col("category") == "vegetables",
            pl.col("category") != "vegetables",
            pl.col("fats_g") > 0.5,
            (pl.col("fats_g") == 0.5) & (pl.col("category") == "vegetables"),
        ]:
            assert_frame_equal(
                q.filter(pred).sort(sort_by).collect(engine=_engine(streaming)),
                df.filter(pred).sort(sort_by),
            )

    # tests: 11536
    assert q.filter(pl.col("sugars_g") == 25).collect().shape == (1, 4)

    # tests: 12570
    assert q.filter(pl.col("fats_g") == 1225.0).select("category").collect().shape == (0, 1)


def test_hive_partitioned_predicate_pushdown(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch) -> None:
    impl_test_hive_partitioned_predicate_pushdown(tmp_path, fmt, plmonkeypatch)


def test_hive_partitioned_predicate_pushdown_single_threaded_async_17155(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch) -> None:
    plmonkeypatch.setenv("POLARS_FORCE_ASYNC", "1")
    plmonkeypatch.setenv("POLARS_PREFETCH_SIZE", "1")

    impl_test_hive_partitioned_predicate_pushdown(tmp_path, fmt, plmonkeypatch)


def test_hive_partitioned_predicate_pushdown_skips_correct_number_of_files(
    tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch, capfd: Any
) -> None:
    plmonkeypatch.setenv("POLARS_VERBOSE", "1")
    df = pl.DataFrame({"d": pl.arange(0, 5, eager=True)}).with_columns(a=pl.col("d") % 5)
    root = tmp_path / "test_int_partitions"
    write_partitioned(df, root, ["a"], fmt, include_key=False)

    q = scan(root / f"**/*.{ext(fmt)}", fmt, hive_partitioning=True)
    assert q.filter(pl.col("a").is_in([1, 4])).collect().shape == (2, 2)
    assert "allows skipping 3 / 5" in capfd.readouterr().err

    # Ensure the CSE can work with hive partitions.
    q = q.filter(pl.col("a").gt(2))
    result = q.join(q, on="a", how="left", maintain_order="left").collect(optimizations=pl.QueryOptFlags(comm_subplan_elim=True))
    expected = {"a": [3, 4], "d": [3, 4], "d_right": [3, 4]}
    assert result.to_dict(as_series=False) == expected

    capfd.readouterr()


def test_hive_streaming_pushdown_is_in_22212(tmp_path: Path, fmt: str) -> None:
    write_partitioned(pl.DataFrame({"x": range(5)}), tmp_path, "x", fmt)

    lf = scan(tmp_path, fmt, hive_partitioning=True).filter(pl.col("x").is_in([1, 4]))

    assert_frame_equal(
        lf.collect(engine="streaming", optimizations=pl.QueryOptFlags(predicate_pushdown=False)),
        lf.collect(engine="streaming", optimizations=pl.QueryOptFlags(predicate_pushdown=True)),
    )


@pytest.mark.parametrize("streaming", [True, False])
def test_hive_partitioned_slice_pushdown(tmp_path: Path, fmt: str, streaming: bool) -> None:
    _, root = _foods_partitioned(tmp_path, fmt)

    q = scan(root / f"**/*.{ext(fmt)}", fmt, hive_partitioning=True)
    schema = q.collect_schema()
    expect_count = pl.select(pl.lit(1, dtype=pl.UInt32).alias(x) for x in schema)

    assert_frame_equal(q.head(1).collect(engine=_engine(streaming)).select(pl.all().len()), expect_count)
    assert q.head(0).collect(engine=_engine(streaming)).columns == ["calories", "sugars_g", "category", "fats_g"]


def test_hive_partitioned_projection_pushdown(tmp_path: Path, fmt: str) -> None:
    _, root = _foods_partitioned(tmp_path, fmt)
    e = ext(fmt)

    q = scan(root / f"**/*.{e}", fmt, hive_partitioning=True)
    columns = ["sugars_g", "category"]
    for streaming in [True, False]:
        assert q.select(columns).collect(engine=_engine(streaming)).columns == columns

    # test that hive partition columns are projected with the correct height when the
    # projection contains only hive partition columns (11796)
    for parallel in ("row_groups", "columns") if not is_npz(fmt) else (None,):
        kw = {} if parallel is None else {"parallel": parallel}
        q = scan(root / f"**/*.{e}", fmt, hive_partitioning=True, **kw)

        expected = q.collect().select("category")
        result = q.select("category").collect()

        assert_frame_equal(result, expected)


def test_hive_partitioned_projection_skips_files(tmp_path: Path, fmt: str) -> None:
    # ensure that it makes hive columns even when . in dir value and that it doesn't make hive
    # columns from filename with =
    df = pl.DataFrame({"sqlver": [10012.0, 10013.0], "namespace": ["eos", "fda"], "a": [1, 2]})
    root = tmp_path / "partitioned_data"
    for dir_tuple, sub_df in df.partition_by(["sqlver", "namespace"], include_key=False, as_dict=True).items():
        new_path = root / f"sqlver={dir_tuple[0]}" / f"namespace={dir_tuple[1]}"
        new_path.mkdir(parents=True, exist_ok=True)
        write(sub_df, new_path / f"file=8484.{ext(fmt)}", fmt)
    test_df = (
        scan(str(root) + f"/**/**/*.{ext(fmt)}", fmt, hive_partitioning=True)
        # don't care about column order
        .select("sqlver", "namespace", "a", pl.exclude("sqlver", "namespace", "a"))
        .collect()
    )
    assert_frame_equal(df, test_df)


@pytest.fixture
def dataset_path(tmp_path: Path, fmt: str) -> Path:
    # Set up Hive partitioned files
    root = tmp_path / "dataset"
    part1 = root / "c=1"
    part2 = root / "c=2"
    root.mkdir()
    part1.mkdir()
    part2.mkdir()
    df1 = pl.DataFrame({"a": [1, 2], "b": [11.0, 12.0]})
    df2 = pl.DataFrame({"a": [3, 4], "b": [13.0, 14.0]})
    df3 = pl.DataFrame({"a": [5, 6], "b": [15.0, 16.0]})
    write(df1, part1 / f"one.{ext(fmt)}", fmt)
    write(df2, part1 / f"two.{ext(fmt)}", fmt)
    write(df3, part2 / f"three.{ext(fmt)}", fmt)

    return root


def test_scan_parquet_hive_schema(dataset_path: Path, fmt: str) -> None:
    result = scan(dataset_path / f"**/*.{ext(fmt)}", fmt, hive_partitioning=True)
    assert result.collect_schema() == OrderedDict({"a": pl.Int64, "b": pl.Float64, "c": pl.Int64})

    result = scan(dataset_path / f"**/*.{ext(fmt)}", fmt, hive_partitioning=True, hive_schema={"c": pl.Int32})

    expected_schema = OrderedDict({"a": pl.Int64, "b": pl.Float64, "c": pl.Int32})
    assert result.collect_schema() == expected_schema
    assert result.collect().schema == expected_schema


def test_read_parquet_invalid_hive_schema(dataset_path: Path, fmt: str) -> None:
    # Polars: read_parquet; here scan().collect().
    with pytest.raises(SchemaFieldNotFoundError, match='path contains column not present in the given Hive schema: "c"'):
        scan(dataset_path / f"**/*.{ext(fmt)}", fmt, hive_partitioning=True, hive_schema={"nonexistent": pl.Int32}).collect()


@pytest.mark.parametrize("glob", [True, False])
def test_hive_partition_directory_scan(request: pytest.FixtureRequest, tmp_path: Path, fmt: str, glob: bool) -> None:
    e = ext(fmt)
    dfs = [
        pl.DataFrame({'x': 5 * [1], 'a': 1, 'b': 1}),
        pl.DataFrame({'x': 5 * [2], 'a': 1, 'b': 2}),
        pl.DataFrame({'x': 5 * [3], 'a': 22, 'b': 1}),
        pl.DataFrame({'x': 5 * [4], 'a': 22, 'b': 2}),
    ]  # fmt: skip

    for df in dfs:
        a = df.item(0, "a")
        b = df.item(0, "b")
        path = tmp_path / f"a={a}/b={b}/data.{e}"
        path.parent.mkdir(exist_ok=True, parents=True)
        write(df.drop("a", "b"), path, fmt)

    df = pl.concat(dfs)
    hive_schema = df.lazy().select("a", "b").collect_schema()

    def scan_fn(source: Any, **kw: Any) -> pl.LazyFrame:
        return scan(source, fmt, glob=glob, **kw)

    def scan_with_hive_schema(source: Any, **kw: Any) -> pl.LazyFrame:
        return scan(source, fmt, hive_schema=hive_schema, **kw)

    out = scan_with_hive_schema(tmp_path, hive_partitioning=True).collect()
    assert_frame_equal(out, df)

    out = scan_fn(tmp_path, hive_partitioning=False).collect()
    assert_frame_equal(out, df.drop("a", "b"))

    out = scan_with_hive_schema(tmp_path / "a=1", hive_partitioning=True).collect()
    assert_frame_equal(out, df.filter(a=1).drop("a"))

    out = scan_fn(tmp_path / "a=1", hive_partitioning=False).collect()
    assert_frame_equal(out, df.filter(a=1).drop("a", "b"))

    path = tmp_path / f"a=1/b=1/data.{e}"

    out = scan_with_hive_schema(path, hive_partitioning=True).collect()
    assert_frame_equal(out, dfs[0])

    out = scan_fn(path, hive_partitioning=False).collect()
    assert_frame_equal(out, dfs[0].drop("a", "b"))

    # Test default behavior with `hive_partitioning=None`, which should only enable hive
    # partitioning when a single directory is passed:
    out = scan_with_hive_schema(tmp_path).collect()
    assert_frame_equal(out, df)

    # Otherwise, hive partitioning is not enabled automatically:
    out = scan_fn(tmp_path / f"a=1/b=1/data.{e}").collect()
    assert out.columns == ["x"]

    out = scan_fn([tmp_path / "a=1/", tmp_path / "a=22/"]).collect()
    assert out.columns == ["x"]

    out = scan_fn([tmp_path / "a=1/", tmp_path / f"a=22/b=1/data.{e}"]).collect()
    assert out.columns == ["x"]

    if glob:
        out = scan_fn(tmp_path / f"a=1/**/*.{e}").collect()
        assert out.columns == ["x"]

    # Test `hive_partitioning=True`
    out = scan_with_hive_schema(tmp_path, hive_partitioning=True).collect()
    assert_frame_equal(out, df)

    # Accept multiple directories from the same level
    out = scan_with_hive_schema([tmp_path / "a=1", tmp_path / "a=22"], hive_partitioning=True).collect()
    assert_frame_equal(out, df.drop("a"))

    with pytest.raises(
        pl.exceptions.InvalidOperationError,
        match="attempted to read from different directory levels with hive partitioning enabled:",
    ):
        scan_with_hive_schema([tmp_path / "a=1", tmp_path / "a=22/b=1"], hive_partitioning=True).collect()

    if glob:
        out = scan_with_hive_schema(tmp_path / f"**/*.{e}", hive_partitioning=True).collect()
        assert_frame_equal(out, df)

        # Parse hive from full path for glob patterns
        out = scan_with_hive_schema([tmp_path / f"a=1/**/*.{e}", tmp_path / f"a=22/**/*.{e}"], hive_partitioning=True).collect()
        assert_frame_equal(out, df)

    # Parse hive from full path for files
    out = scan_with_hive_schema(tmp_path / f"a=1/b=1/data.{e}", hive_partitioning=True).collect()
    assert_frame_equal(out, df.filter(a=1, b=1))

    out = scan_with_hive_schema([tmp_path / f"a=1/b=1/data.{e}", tmp_path / f"a=22/b=1/data.{e}"], hive_partitioning=True).collect()
    assert_frame_equal(out, df.filter(((pl.col("a") == 1) & (pl.col("b") == 1)) | ((pl.col("a") == 22) & (pl.col("b") == 1))))

    # Test `hive_partitioning=False`
    out = scan_fn(tmp_path, hive_partitioning=False).collect()
    assert_frame_equal(out, df.drop("a", "b"))

    if glob:
        out = scan_fn(tmp_path / f"**/*.{e}", hive_partitioning=False).collect()
        assert_frame_equal(out, df.drop("a", "b"))

    out = scan_fn(tmp_path / f"a=1/b=1/data.{e}", hive_partitioning=False).collect()
    assert_frame_equal(out, df.filter(a=1, b=1).drop("a", "b"))


def test_hive_partition_schema_inference(tmp_path: Path, fmt: str) -> None:
    e = ext(fmt)
    dfs = [pl.DataFrame({"x": 1}), pl.DataFrame({"x": 2}), pl.DataFrame({"x": 3})]

    paths = [tmp_path / f"a=1/data.{e}", tmp_path / f"a=1.5/data.{e}", tmp_path / f"a=polars/data.{e}"]

    expected = [
        pl.Series("a", [1], dtype=pl.Int64),
        pl.Series("a", [1.0, 1.5], dtype=pl.Float64),
        pl.Series("a", ["1", "1.5", "polars"], dtype=pl.String),
    ]

    for i in range(3):
        paths[i].parent.mkdir(exist_ok=True, parents=True)
        write(dfs[i], paths[i], fmt)
        out = scan(tmp_path, fmt).sort("x").collect()

        assert_series_equal(out["a"], expected[i])


def test_hive_partition_force_async_17155(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch) -> None:
    plmonkeypatch.setenv("POLARS_FORCE_ASYNC", "1")
    plmonkeypatch.setenv("POLARS_PREFETCH_SIZE", "1")
    e = ext(fmt)

    dfs = [pl.DataFrame({"x": 1}), pl.DataFrame({"x": 2}), pl.DataFrame({"x": 3})]

    paths = [tmp_path / f"a=1/b=1/data.{e}", tmp_path / f"a=2/b=2/data.{e}", tmp_path / f"a=3/b=3/data.{e}"]

    for i in range(3):
        paths[i].parent.mkdir(exist_ok=True, parents=True)
        write(dfs[i], paths[i], fmt)

    lf = scan(tmp_path, fmt)

    assert_frame_equal(lf.collect(), pl.DataFrame({k: [1, 2, 3] for k in ["x", "a", "b"]}))


@pytest.mark.parametrize("projection_pushdown", [True, False])
@pytest.mark.parametrize("prefiltered", [False, True])
def test_hive_partition_columns_contained_in_file(tmp_path: Path, fmt: str, projection_pushdown: bool, prefiltered: bool) -> None:
    # Polars runs this over parallel="row_groups"/"columns"/"prefiltered" and IPC; here the
    # default, plus its variant with a `.filter(pl.col("b") == pl.col("b"))` after the scan.
    # Projections: Polars' every permutation of the first 1..5 columns, here of up to 3 of
    # them (325 -> 85 queries per check).
    def scan_func(*a: Any, **kw: Any) -> pl.LazyFrame:
        lf = scan(*a, fmt, **kw)
        return lf.filter(pl.col("b") == pl.col("b")) if prefiltered else lf

    path = tmp_path / f"a=1/b=2/data.{ext(fmt)}"
    path.parent.mkdir(exist_ok=True, parents=True)
    df = pl.DataFrame({"x": 1, "a": 1, "b": 2, "y": 1}, schema={"x": pl.Int32, "a": pl.Int8, "b": pl.Int16, "y": pl.Int32})
    write(df, path, fmt)

    def assert_with_projections(lf: pl.LazyFrame, df: pl.DataFrame, *, row_index: str | None = None) -> None:
        cols = ["a", "b", "x", "y", *([row_index] if row_index is not None else [])]

        for projection in (x for i in range(min(3, len(cols))) for x in permutations(cols[: 1 + i])):
            assert_frame_equal(
                lf.select(projection).collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)),
                df.select(projection),
            )

    lf = scan_func(path, hive_partitioning=True)
    rhs = df
    assert_frame_equal(lf.collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)), rhs)
    assert_with_projections(lf, rhs)

    lf = scan_func(path, hive_schema={"a": pl.String, "b": pl.String}, hive_partitioning=True)
    rhs = df.with_columns(pl.col("a", "b").cast(pl.String))
    assert_frame_equal(lf.collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)), rhs)
    assert_with_projections(lf, rhs)

    # partial cols in file
    partial_path = tmp_path / f"a=1/b=2/partial_data.{ext(fmt)}"
    df = pl.DataFrame({"x": 1, "b": 2, "y": 1}, schema={"x": pl.Int32, "b": pl.Int16, "y": pl.Int32})
    write(df, partial_path, fmt)

    rhs = rhs.select(
        pl.col("x").cast(pl.Int32),
        pl.col("b").cast(pl.Int16),
        pl.col("y").cast(pl.Int32),
        pl.col("a").cast(pl.Int64),
    )

    lf = scan_func(partial_path, hive_partitioning=True)
    assert_frame_equal(lf.collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)), rhs)
    assert_with_projections(lf, rhs)

    assert_frame_equal(
        lf.with_row_index().collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)),
        rhs.with_row_index(),
    )
    assert_with_projections(lf.with_row_index(), rhs.with_row_index(), row_index="index")

    assert_frame_equal(
        lf.with_row_index()
        .select(pl.exclude("index"), "index")
        .collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)),
        rhs.with_row_index().select(pl.exclude("index"), "index"),
    )
    assert_with_projections(
        lf.with_row_index().select(pl.exclude("index"), "index"),
        rhs.with_row_index().select(pl.exclude("index"), "index"),
        row_index="index",
    )

    lf = scan_func(partial_path, hive_schema={"a": pl.String, "b": pl.String}, hive_partitioning=True)
    rhs = rhs.select(
        pl.col("x").cast(pl.Int32),
        pl.col("b").cast(pl.String),
        pl.col("y").cast(pl.Int32),
        pl.col("a").cast(pl.String),
    )
    assert_frame_equal(lf.collect(optimizations=pl.QueryOptFlags(projection_pushdown=projection_pushdown)), rhs)
    assert_with_projections(lf, rhs)


_DATES = pl.DataFrame(
    {
        "date1": [datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1), None],
        "date2": [datetime(2023, 1, 1), datetime(2023, 2, 1), None, datetime(2023, 3, 1)],
        "x": [1, 2, 3, 4],
    },
    schema={"date1": pl.Date, "date2": pl.Datetime, "x": pl.Int32},
)


def test_hive_partition_dates(tmp_path: Path, fmt: str) -> None:
    df = _DATES

    root = tmp_path / "pyarrow"
    write_partitioned(df, root, ["date1", "date2"], fmt, include_key=False)

    lf = scan(root, fmt, hive_schema=df.clear().select("date1", "date2").collect_schema())
    assert_frame_equal(lf.collect(), df.select("x", "date1", "date2"))

    lf = scan(root, fmt)
    assert_frame_equal(lf.collect(), df.select("x", "date1", "date2"))

    lf = scan(root, fmt, try_parse_hive_dates=False)
    assert_frame_equal(lf.collect(), df.select("x", "date1", "date2").with_columns(pl.col("date1", "date2").cast(pl.String)))

    for perc_escape in [True, False]:
        root = tmp_path / f"includes_hive_cols_in_file_{perc_escape}"
        for (date1, date2), part_df in df.group_by(
            pl.col("date1").cast(pl.String).fill_null("__HIVE_DEFAULT_PARTITION__"),
            pl.col("date2").cast(pl.String).fill_null("__HIVE_DEFAULT_PARTITION__"),
        ):
            if perc_escape:
                date2 = urllib.parse.quote(date2)

            path = root / f"date1={date1}/date2={date2}/data.{ext(fmt)}"
            path.parent.mkdir(exist_ok=True, parents=True)
            write(part_df, path, fmt)

        # The schema for the hive columns is included in the file, so it should just work
        lf = scan(root, fmt)
        assert_frame_equal(lf.collect(), df)

        lf = scan(root, fmt, try_parse_hive_dates=False)
        assert_frame_equal(lf.collect(), df.with_columns(pl.col("date1", "date2").cast(pl.String)))


def test_hive_partition_filter_null_23005(tmp_path: Path, fmt: str) -> None:
    root = tmp_path
    df = _DATES

    write_partitioned(df, root, ["date1", "date2"], fmt)

    q = scan(root, fmt, include_file_paths="path")

    full = q.collect()

    assert (
        full.select(
            (pl.any_horizontal(pl.col("date1", "date2").is_null()) & pl.col("path").str.contains("__HIVE_DEFAULT_PARTITION__")).sum()
        ).item()
        == 2
    )

    lf = scan(root, fmt).filter(pl.col("date1") == datetime(2024, 1, 1))
    assert_frame_equal(lf.collect(), df.head(1))


def test_projection_only_hive_parts_gives_correct_number_of_rows(tmp_path: Path, fmt: str) -> None:
    # Check the number of rows projected when projecting only hive parts, which should be the
    # same as the number of rows in the file.
    path = tmp_path / f"a=3/data.{ext(fmt)}"
    path.parent.mkdir(exist_ok=True, parents=True)

    write(pl.DataFrame({"x": [1, 1, 1]}), path, fmt)

    assert_frame_equal(scan(path, fmt, hive_partitioning=True).select("a").collect(), pl.DataFrame({"a": [3, 3, 3]}))


@pytest.mark.parametrize(
    "df",
    [
        pl.select(
            pl.Series("a", [1, 2, 3, 4], dtype=pl.Int8),
            pl.Series("b", [1, 2, 3, 4], dtype=pl.Int8),
            pl.Series("x", [1, 2, 3, 4]),
        ),
        pl.select(
            pl.Series("a", [1.2981275, 2.385974035, 3.1231892749185718397510, 4.129387128949156], dtype=pl.Float64),
            pl.Series("b", ["a", "b", " / c = : ", "d"]),
            pl.Series("x", [1, 2, 3, 4]),
        ),
    ],
    ids=["int8", "float-str"],
)
def test_hive_write(tmp_path: Path, fmt: str, df: pl.DataFrame) -> None:
    root = tmp_path
    write_partitioned(df, root, ["a", "b"], fmt)

    lf = scan(root, fmt)
    assert_frame_equal(lf.collect(), df)

    lf = scan(root, fmt, hive_schema={"a": pl.String, "b": pl.String})
    assert_frame_equal(lf.collect(), df.with_columns(pl.col("a", "b").cast(pl.String)))


def test_hive_write_dates(tmp_path: Path, fmt: str) -> None:
    df = pl.DataFrame(
        {
            "date1": [datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1), None],
            "date2": [datetime(2023, 1, 1), datetime(2023, 2, 1), None, datetime(2023, 3, 1, 1, 1, 1, 1)],
            "x": [1, 2, 3, 4],
        },
        schema={"date1": pl.Date, "date2": pl.Datetime, "x": pl.Int32},
    )

    root = tmp_path
    write_partitioned(df, root, ["date1", "date2"], fmt)

    lf = scan(root, fmt)
    assert_frame_equal(lf.collect(), df)

    lf = scan(root, fmt, try_parse_hive_dates=False)
    assert_frame_equal(lf.collect(), df.with_columns(pl.col("date1", "date2").cast(pl.String)))


def test_hive_predicate_dates_14712(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch, capfd: Any) -> None:
    plmonkeypatch.setenv("POLARS_VERBOSE", "1")
    write_partitioned(pl.DataFrame({"a": [datetime(2024, 1, 1)]}), tmp_path, "a", fmt)
    scan(tmp_path, fmt).filter(pl.col("a") != datetime(2024, 1, 1)).collect()
    assert "allows skipping 1 / 1" in capfd.readouterr().err


@pytest.mark.parametrize(
    "fmt",
    fmt_params(),
)
def test_passing_hive_schema_with_hive_partitioning_disabled_raises(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(ComputeError, match="a hive schema was given but hive_partitioning was disabled"):
        scan(tmp_path, fmt, schema={"x": pl.Int64}, hive_schema={"h": pl.String}, hive_partitioning=False).collect()


def test_hive_auto_enables_when_unspecified_and_hive_schema_passed(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "a=1").mkdir(exist_ok=True)

    write(pl.DataFrame({"x": 1}), tmp_path / "a=1/1", fmt)

    for path in [tmp_path / "a=1/1", tmp_path / "**/*"]:
        lf = scan(path, fmt, hive_schema={"a": pl.UInt8})

        assert_frame_equal(lf.collect(), pl.select(pl.Series("x", [1]), pl.Series("a", [1], dtype=pl.UInt8)))


def test_hive_file_as_uri_with_hive_start_idx_23830(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "a=1").mkdir(exist_ok=True)

    write(pl.DataFrame({"x": 1}), tmp_path / f"a=1/1.{ext(fmt)}", fmt)

    # ensure we have a trailing "/"
    uri = tmp_path.resolve().as_posix().rstrip("/") + "/"

    lf = scan(format_file_uri(uri), fmt, hive_schema={"a": pl.UInt8})

    assert_frame_equal(lf.collect(), pl.select(pl.Series("x", [1]), pl.Series("a", [1], dtype=pl.UInt8)))

    # https://github.com/pola-rs/polars/issues/24506
    # `file:` URI with `//hostname` component omitted
    lf = scan(f"file:{uri}", fmt, hive_schema={"a": pl.UInt8})

    assert_frame_equal(lf.collect(), pl.select(pl.Series("x", [1]), pl.Series("a", [1], dtype=pl.UInt8)))


def test_hive_parquet_prefiltered_20894_21327(tmp_path: Path, fmt: str) -> None:
    # Polars runs the scan in a subprocess with 1 or all threads (and parallel="prefiltered"
    # for Parquet); here in this process.
    file_path = tmp_path / f"date=2025-01-01/00000000.{ext(fmt)}"
    file_path.parent.mkdir(exist_ok=True, parents=True)

    data = pl.DataFrame({"date": [date(2025, 1, 1), date(2025, 1, 1)], "value": ["1", "2"]})

    write(data, file_path, fmt)

    df = scan(file_path, fmt, hive_partitioning=True).filter(pl.col("value") == "1").collect()
    # We need the str() to trigger panic on invalid state
    str(df)

    assert_frame_equal(
        df,
        pl.DataFrame([pl.Series("date", [date(2025, 1, 1)], dtype=pl.Date), pl.Series("value", ["1"], dtype=pl.String)]),
    )


def test_hive_filter_lit_true_24235(tmp_path: Path, fmt: str) -> None:
    df = pl.DataFrame({"p": [1, 2, 3, 4, 5], "x": [1, 1, 2, 2, 3]})
    write_partitioned(df, tmp_path, "p", fmt)

    assert_frame_equal(scan(tmp_path, fmt).filter(True).collect(), df)

    assert_frame_equal(scan(tmp_path, fmt).filter(pl.lit(True)).collect(), df)

    assert_frame_equal(scan(tmp_path, fmt).filter(False).collect(), df.clear())

    assert_frame_equal(scan(tmp_path, fmt).filter(pl.lit(False)).collect(), df.clear())


def test_hive_filter_in_ir(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    e = ext(fmt)
    (tmp_path / "a=1").mkdir()
    write(pl.DataFrame({"x": [0, 1, 2, 3, 4]}), tmp_path / f"a=1/data.{e}", fmt)
    (tmp_path / "a=2").mkdir()
    write(pl.DataFrame({"x": [5, 6, 7, 8, 9]}), tmp_path / f"a=2/data.{e}", fmt)

    with plmonkeypatch.context() as cx:
        cx.setenv("POLARS_VERBOSE", "1")

        capfd.readouterr()

        assert_frame_equal(
            scan(tmp_path, fmt).filter(pl.col("a") == 1).collect(),
            pl.DataFrame({"x": [0, 1, 2, 3, 4], "a": [1, 1, 1, 1, 1]}),
        )

        capture = capfd.readouterr().err

        # Ensure this only happens once.
        assert capture.count("initialize_scan_predicate: Predicate pushdown allows skipping 1 / 2 files") == 1

    plan = scan(tmp_path, fmt).filter(pl.col("a") < 0).explain()
    # Polars: plan.startswith("Parquet SCAN []"); the scan's name is the format's.
    assert plan.startswith("Parquet SCAN []" if fmt == "parquet" else "ExternalReaderBuilder SCAN []"), plan

    assert_frame_equal(
        scan(tmp_path, fmt).with_row_index().filter(pl.col("a") == 2).collect(),
        pl.DataFrame(
            {"index": [5, 6, 7, 8, 9], "x": [5, 6, 7, 8, 9], "a": [2, 2, 2, 2, 2]},
            schema_overrides={"index": pl.get_index_type()},
        ),
    )

    assert_frame_equal(scan(tmp_path, fmt).tail(1).filter(pl.col("a") == 1).collect(), pl.DataFrame(schema={"x": pl.Int64, "a": pl.Int64}))


# --------------------------------------------------------------------------------------------
# test_scan.py
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_str_contains", [False, True])
def test_hive_pruning_str_contains_21706(
    tmp_path: Path, fmt: str, capfd: Any, plmonkeypatch: PlMonkeyPatch, with_str_contains: bool
) -> None:
    df = pl.DataFrame(
        {
            "pdate": [20250301, 20250301, 20250302, 20250302, 20250303, 20250303],
            "prod_id": ["A1", "A2", "B1", "B2", "C1", "C2"],
            "price": [11, 22, 33, 44, 55, 66],
        }
    )

    write_partitioned(df, tmp_path, ["pdate"], fmt)

    plmonkeypatch.setenv("POLARS_VERBOSE", "1")
    f = pl.col("pdate") == 20250303
    if with_str_contains:
        f = f & pl.col("prod_id").str.contains("1")

    df = scan(tmp_path, fmt, hive_partitioning=True).filter(f).collect()

    captured = capfd.readouterr().err
    assert "allows skipping 2 / 3" in captured

    assert_frame_equal(df, scan(tmp_path, fmt, hive_partitioning=True).collect().filter(f))


# --------------------------------------------------------------------------------------------
# test_multiscan.py
# --------------------------------------------------------------------------------------------


def test_multiscan_hive_predicate(tmp_path: Path, fmt: str) -> None:
    e = ext(fmt)
    a = pl.DataFrame({"col": [5, 10, 1996]})
    b = pl.DataFrame({"col": [13, 37]})
    c = pl.DataFrame({"col": [3, 5, 2024]})

    (tmp_path / "hive_col=0").mkdir()
    a_path = tmp_path / "hive_col=0" / f"0.{e}"
    (tmp_path / "hive_col=1").mkdir()
    b_path = tmp_path / "hive_col=1" / f"0.{e}"
    (tmp_path / "hive_col=2").mkdir()
    c_path = tmp_path / "hive_col=2" / f"0.{e}"

    multiscan_path = tmp_path

    write(a, a_path, fmt)
    write(b, b_path, fmt)
    write(c, c_path, fmt)

    full = scan(multiscan_path, fmt).collect(engine="streaming")
    full_ri = full.with_row_index("ri", 42)

    for pred in [
        pl.col.hive_col == 0,
        pl.col.hive_col == 1,
        pl.col.hive_col == 2,
        pl.col.hive_col < 2,
        pl.col.hive_col > 0,
        pl.col.hive_col != 1,
        pl.col.hive_col != 3,
        pl.col.col == 13,
        pl.col.col != 13,
        (pl.col.col != 13) & (pl.col.hive_col == 1),
        (pl.col.col != 13) & (pl.col.hive_col != 1),
    ]:
        assert_frame_equal(full.filter(pred), scan(multiscan_path, fmt).filter(pred).collect(engine="streaming"))

        assert_frame_equal(
            full_ri.filter(pred),
            scan(multiscan_path, fmt).with_row_index("ri", 42).filter(pred).collect(engine="streaming"),
        )


@pytest.mark.parametrize(("predicate", "expected_indices"), [((pl.col.x == 1) & True, [0]), (True & (pl.col.x == 1), [0])])
def test_hive_predicate_filtering_edge_case_25630(tmp_path: Path, fmt: str, predicate: pl.Expr, expected_indices: list[int]) -> None:
    e = ext(fmt)
    df = pl.DataFrame({"x": [1, 2, 3], "y": [0, 1, 1]}).with_row_index()

    (tmp_path / "y=0").mkdir()
    (tmp_path / "y=1").mkdir()

    # previously we could panic if hive columns were all filtered out of the projection
    write(df.filter(pl.col.y == 0).drop("y"), tmp_path / "y=0" / f"data.{e}", fmt)
    write(df.filter(pl.col.y == 1).drop("y"), tmp_path / "y=1" / f"data.{e}", fmt)

    res = scan(tmp_path, fmt).filter(predicate).select("index").collect(engine="streaming")
    expected = pl.DataFrame(data={"index": expected_indices}, schema={"index": pl.get_index_type()})
    assert_frame_equal(res, expected)


def _hive_pair(
    tmp_path: Path, fmt: str, left: pl.DataFrame, lkey: Any, right: pl.DataFrame, rkey: Any
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    left_root = tmp_path / "left"
    right_root = tmp_path / "right"
    write_partitioned(left, left_root, lkey, fmt)
    write_partitioned(right, right_root, rkey, fmt)
    return scan(left_root, fmt, hive_partitioning=True), scan(right_root, fmt, hive_partitioning=True)


@needs_pre_partition_hive
def test_hive_join_rewrite_to_partitioned_union(tmp_path: Path, fmt: str) -> None:
    # Inner-joining two hive-partitioned datasets on their (first) hive column should be
    # rewritten into a union of per-partition joins, where each branch only reads the
    # intersecting partitions and filters both sides down to the matching partition values.

    # `foo=3` has no match on the right-hand side, so it should be pruned entirely and never
    # show up in the rewritten plan.
    left, right = _hive_pair(
        tmp_path, fmt, pl.DataFrame({"foo": [1, 2, 3], "x": [10, 20, 30]}), "foo", pl.DataFrame({"bar": [1, 2], "y": [100, 200]}), "bar"
    )

    q = left.join(right, left_on="foo", right_on="bar", how="inner")
    plan = q.explain()

    # The join is rewritten to a union of 2 branches, one for each matching partition value
    # (1 and 2).
    assert plan.startswith("UNION[maintain_order: false]")
    assert "PLAN 0:" in plan
    assert "PLAN 1:" in plan
    assert "PLAN 2:" not in plan
    assert plan.count("INNER JOIN:") == 2

    # Each branch only scans the matching partition on both sides.
    assert "foo=1" in plan
    assert "foo=2" in plan
    assert "foo=3" not in plan
    assert "bar=1" in plan
    assert "bar=2" in plan

    # Both sides of each branch are filtered down to the partition value.
    assert plan.count('col("foo")') > 0
    assert plan.count('col("bar")') > 0
    assert plan.count("is_in") == 4

    out = q.sort("foo")
    assert_frame_equal(out.collect(), q.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)).sort("foo"))


@needs_pre_partition_hive
def test_hive_join_rewrite_pre_partition_hive_flag(tmp_path: Path, fmt: str) -> None:
    left, right = _hive_pair(
        tmp_path, fmt, pl.DataFrame({"foo": [1, 2, 3], "x": [10, 20, 30]}), "foo", pl.DataFrame({"bar": [1, 2], "y": [100, 200]}), "bar"
    )

    q = left.join(right, left_on="foo", right_on="bar", how="inner")

    default_flags = pl.QueryOptFlags()
    assert default_flags.pre_partition_hive is True

    plan_enabled = q.explain(optimizations=pl.QueryOptFlags(pre_partition_hive=True))
    assert plan_enabled.startswith("UNION[maintain_order: false]")
    assert plan_enabled.count("INNER JOIN:") == 2

    plan_disabled = q.explain(optimizations=pl.QueryOptFlags(pre_partition_hive=False))
    assert "UNION" not in plan_disabled
    assert plan_disabled.count("INNER JOIN:") == 1
    assert plan_disabled.count("is_in") == 2

    out = q.sort("foo")
    assert_frame_equal(
        out.collect(optimizations=pl.QueryOptFlags(pre_partition_hive=True)).sort("foo"),
        out.collect(optimizations=pl.QueryOptFlags(pre_partition_hive=False)).sort("foo"),
    )


@needs_pre_partition_hive
def test_hive_join_rewrite_left_join(tmp_path: Path, fmt: str) -> None:
    left, right = _hive_pair(
        tmp_path, fmt, pl.DataFrame({"foo": [1, 2, 3], "x": [10, 20, 30]}), "foo", pl.DataFrame({"bar": [1, 2], "y": [100, 200]}), "bar"
    )

    q = left.join(right, left_on="foo", right_on="bar", how="left")
    plan = q.explain()

    assert plan.startswith("UNION[maintain_order: false]")
    assert "PLAN 0:" in plan
    assert "PLAN 1:" in plan
    assert "PLAN 2:" in plan
    assert "PLAN 3:" not in plan
    assert plan.count("LEFT JOIN:") == 3
    assert "foo=1" in plan
    assert "foo=2" in plan
    assert "foo=3" in plan
    assert "bar=1" in plan
    assert "bar=2" in plan

    out = q.sort("foo")
    assert_frame_equal(out.collect().sort("foo"), out.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)).sort("foo"))


@needs_pre_partition_hive
def test_hive_join_rewrite_right_join(tmp_path: Path, fmt: str) -> None:
    left, right = _hive_pair(
        tmp_path,
        fmt,
        pl.DataFrame({"foo": [1, 2, 3], "x": [10, 20, 30]}),
        "foo",
        pl.DataFrame({"bar": [1, 2, 4], "y": [100, 200, 400]}),
        "bar",
    )

    q = left.join(right, left_on="foo", right_on="bar", how="right")
    plan = q.explain()

    assert plan.startswith("UNION[maintain_order: false]")
    assert "PLAN 0:" in plan
    assert "PLAN 1:" in plan
    assert "PLAN 2:" in plan
    assert "PLAN 3:" not in plan
    assert plan.count("RIGHT JOIN:") == 3
    assert "foo=1" in plan
    assert "foo=2" in plan
    assert "foo=3" not in plan
    assert "bar=1" in plan
    assert "bar=2" in plan
    assert "bar=4" in plan

    out = q.sort("bar")
    assert_frame_equal(out.collect().sort("bar"), out.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)).sort("bar"))


@needs_pre_partition_hive
def test_hive_group_by_rewrite_to_partitioned_union(tmp_path: Path, fmt: str) -> None:
    # Grouping a hive-partitioned dataset by its (first) hive column should be rewritten into a
    # union of per-partition group-by's, where each branch only reads the matching partition.
    root = tmp_path / "root"

    write_partitioned(pl.DataFrame({"foo": [1, 1, 2, 3], "x": [10, 1, 20, 30]}), root, "foo", fmt)

    lf = scan(root, fmt, hive_partitioning=True)

    q = lf.group_by("foo").agg(pl.sum("x").alias("x_sum"), pl.len())
    plan = q.explain()

    assert plan.startswith("UNION[maintain_order: false]")
    assert "PLAN 0:" in plan
    assert "PLAN 1:" in plan
    assert "PLAN 2:" in plan
    assert "PLAN 3:" not in plan
    assert plan.count("AGGREGATE") == 3
    assert "foo=1" in plan
    assert "foo=2" in plan
    assert "foo=3" in plan
    assert plan.count("is_in") == 3

    out = q.sort("foo")
    expected = pl.DataFrame(
        {"foo": [1, 2, 3], "x_sum": [11, 20, 30], "len": [2, 1, 1]},
        schema_overrides={"len": pl.get_index_type()},
    )
    assert_frame_equal(out.collect(), expected)
    assert_frame_equal(out.collect(), out.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)).sort("foo"))


@needs_pre_partition_hive
def test_hive_group_by_rewrite_pre_partition_hive_flag(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "root"

    write_partitioned(pl.DataFrame({"foo": [1, 2, 3], "x": [10, 20, 30]}), root, "foo", fmt)

    lf = scan(root, fmt, hive_partitioning=True)
    q = lf.group_by("foo").agg(pl.sum("x"))

    plan_enabled = q.explain(optimizations=pl.QueryOptFlags(pre_partition_hive=True))
    assert plan_enabled.startswith("UNION[maintain_order: false]")
    assert plan_enabled.count("AGGREGATE") == 3

    plan_disabled = q.explain(optimizations=pl.QueryOptFlags(pre_partition_hive=False))
    assert "UNION" not in plan_disabled
    assert plan_disabled.count("AGGREGATE") == 1

    out = q.sort("foo")
    assert_frame_equal(
        out.collect(optimizations=pl.QueryOptFlags(pre_partition_hive=True)).sort("foo"),
        out.collect(optimizations=pl.QueryOptFlags(pre_partition_hive=False)).sort("foo"),
    )


@needs_pre_partition_hive
def test_hive_group_by_rewrite_maintain_order_disables_rewrite(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "root"

    write_partitioned(pl.DataFrame({"foo": [1, 2, 3], "x": [10, 20, 30]}), root, "foo", fmt)

    lf = scan(root, fmt, hive_partitioning=True)

    # `maintain_order` group-by's must not be split into an unordered union.
    q = lf.group_by("foo", maintain_order=True).agg(pl.sum("x"))
    plan = q.explain()
    assert "UNION" not in plan

    assert_frame_equal(q.collect(), q.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)))


@needs_pre_partition_hive
def test_hive_join_rewrite_semi_join(tmp_path: Path, fmt: str) -> None:
    # Test that hive prepartitioning is applied to semi-joins.
    left_root = tmp_path / f"left.{ext(fmt)}"
    right_root = tmp_path / f"right.{ext(fmt)}"

    write_partitioned(pl.DataFrame({"foo": [1, 11, 21], "x": [10, 20, 30]}), left_root, "foo", fmt)
    write_partitioned(pl.DataFrame({"bar": [1, 11], "y": [100, 200]}), right_root, "bar", fmt)

    left = scan(left_root, fmt, hive_partitioning=True)
    right = scan(right_root, fmt, hive_partitioning=True)

    q = (
        left.join(right, left_on="foo", right_on="bar", how="semi")
        .slice(0, 1)
        # Collapse the two results into the same value so that we don't have to care about the
        # order of the result.
        .with_columns(foo=pl.col("foo") % 10, x=pl.col("x") % 10)
    )
    plan = q.explain()

    assert "UNION[maintain_order: false]" in plan
    assert "PLAN 0:" in plan
    assert "PLAN 1:" in plan
    assert "PLAN 2:" not in plan
    assert plan.count("SEMI JOIN:") == 2
    assert "foo=1" in plan
    assert "foo=11" in plan
    assert "foo=21" not in plan

    out = q.sort("foo")
    result = out.collect().sort("foo")
    assert result.schema == pl.Schema({"foo": pl.Int64, "x": pl.Int64})
    assert_frame_equal(result, out.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)).sort("foo"))


@needs_pre_partition_hive
def test_hive_join_rewrite_repeated_partition_values_28617(tmp_path: Path, fmt: str) -> None:
    # Nested partitioning: the first hive column repeats once per file, so the branches must be
    # deduplicated on the partition value.
    left, right = _hive_pair(
        tmp_path,
        fmt,
        pl.DataFrame({"cohort_index": [0, 0], "chunk_index": [1, 2], "index": [1, 1], "value": [1, 1]}),
        ["cohort_index", "chunk_index"],
        pl.DataFrame(
            {
                "cohort_index": [0, 0, 0, 0, 0, 0],
                "chunk_index": [1, 1, 1, 2, 2, 2],
                "index": [1, 1, 1, 1, 1, 1],
                "raster_index": [1, 2, 3, 1, 2, 3],
            }
        ),
        ["cohort_index", "chunk_index"],
    )

    on = ["chunk_index", "cohort_index", "index"]
    q = right.join(left, on=on, how="inner")

    out = q.sort("chunk_index", "raster_index").collect()
    assert out.height == 6
    assert_frame_equal(out, q.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)).sort("chunk_index", "raster_index"))


@needs_pre_partition_hive
def test_hive_group_by_rewrite_repeated_partition_values(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "root"

    # `foo` repeats over the nested `bar` partitions, so both `foo` values must end up in
    # exactly one branch.
    write_partitioned(pl.DataFrame({"foo": [1, 1, 2, 2], "bar": [1, 2, 1, 2], "x": [1, 2, 3, 4]}), root, ["foo", "bar"], fmt)

    lf = scan(root, fmt, hive_partitioning=True)
    q = lf.group_by("foo").agg(pl.sum("x"))
    plan = q.explain()

    assert plan.startswith("UNION[maintain_order: false]")
    assert plan.count("AGGREGATE") == 2

    out = q.sort("foo").collect()
    assert_frame_equal(out, pl.DataFrame({"foo": [1, 2], "x": [3, 7]}))


@needs_pre_partition_hive
def test_hive_group_by_rewrite_null_partition(tmp_path: Path, fmt: str) -> None:
    e = ext(fmt)
    root = tmp_path / "root"
    (root / "foo=1").mkdir(parents=True)
    (root / "foo=__HIVE_DEFAULT_PARTITION__").mkdir(parents=True)

    write(pl.DataFrame({"x": [10, 20]}), root / "foo=1" / f"data.{e}", fmt)
    write(pl.DataFrame({"x": [5]}), root / "foo=__HIVE_DEFAULT_PARTITION__" / f"data.{e}", fmt)

    lf = scan(root, fmt, hive_partitioning=True)
    q = lf.group_by("foo").agg(pl.sum("x")).sort("foo", nulls_last=True)

    assert_frame_equal(q.collect(), pl.DataFrame({"foo": [1, None], "x": [30, 5]}))
    assert_frame_equal(q.collect(), q.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)))


@needs_pre_partition_hive
@pytest.mark.parametrize("nulls_equal", [False, True])
def test_hive_join_rewrite_null_partition(tmp_path: Path, fmt: str, nulls_equal: bool) -> None:
    e = ext(fmt)
    left_root = tmp_path / "left"
    right_root = tmp_path / "right"

    for root, name, frames in [
        (left_root, "x", {"foo=1": [10], "foo=2": [20]}),
        (right_root, "y", {"foo=1": [100]}),
    ]:
        for part, values in frames.items():
            (root / part).mkdir(parents=True)
            write(pl.DataFrame({name: values}), root / part / f"data.{e}", fmt)

        (root / "foo=__HIVE_DEFAULT_PARTITION__").mkdir(parents=True)
        write(pl.DataFrame({name: [0]}), root / "foo=__HIVE_DEFAULT_PARTITION__" / f"data.{e}", fmt)

    left = scan(left_root, fmt, hive_partitioning=True)
    right = scan(right_root, fmt, hive_partitioning=True)

    for how in ["inner", "left"]:
        q = left.join(right, on="foo", how=how, nulls_equal=nulls_equal).sort("foo", "x", nulls_last=True)  # type: ignore[arg-type]
        assert_frame_equal(q.collect(), q.collect(optimizations=pl.QueryOptFlags(predicate_pushdown=False)))
