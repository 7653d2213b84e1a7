"""Polars' own multi-file scan tests, run on Parquet (the reference) and on npz (stored, deflated).

Ported from pola-rs/polars, branch ``2.0`` at commit 2837c9a4c2fd4efab32ad3a49ceb6702615bebaa
("Prepare for 2.0-rc1", 2.0.0rc1: the mirror has no tag for 2.x, the installed Polars is 2.1.0),
files ``py-polars/tests/unit/io/``: test_multiscan.py, test_scan.py, test_lazy_parquet.py,
test_lazy_ipc.py, test_lazy_count_star.py (the hive tests are in test_polars_hive.py). Polars'
assertions are kept; only how files are written and scanned is adapted (`polars_formats.write`
/ `scan`; `.npz` suffixes, also in globs; a Parquet row-group size becomes npz's `block_rows`;
Polars' `plmonkeypatch`, which reloads POLARS_* variables, is polars_formats.PlMonkeyPatch).
Lists of in-memory buffers are lists of files for npz (scan_npz takes one buffer, not a list:
test_scan_in_memory keeps Polars' buffers and records that gap). Polars' files (foods1/2,
small.parquet) are inlined in polars_formats. Data shrunk: test_predicate_slice_pushdown_row_index_20485
(3 groups of 1000 rows, not 100000), test_multiscan_slice_parametric (25 hypothesis examples).
A known npz difference is a strict xfail on the npz parameters only; a feature Polars 1.x
lacks skips there.

Left out (no multi-file scan semantics in them, or nothing npz can have):
- CSV/NDJSON-only: test_scan_stringio, test_streaming_scan_csv_*, test_scan_csv_*,
  test_scan_ndjson_streaming_decompression, test_scan_negative_slice_decompress, test_count_csv*,
  test_commented_csv, test_count_ndjson, test_count_compressed_*, test_csv_scan_skip_lines_len_22889,
  test_schema_mismatch_order_mismatch (Polars runs it on CSV only).
- Parquet internals (statistics, row groups, prefiltered decoding, metadata, categoricals, logs of
  its reader): test_categorical_parquet_statistics, test_parquet_eq_stats, test_parquet_is_in_stats,
  test_parquet_stats, test_parquet_is_in_statistics, test_parquet_statistics*, test_categorical,
  test_predicate_push_down_categorical_17744, test_parquet_many_row_groups_12297,
  test_dsl2ir_cached_metadata, test_scan_parquet_prefilter_*, test_scan_parquet_filter_index_panic_23849,
  test_scan_parquet_in_mem_to_streaming_dispatch_deadlock_22641, test_scan_parquet_temporal_lit_*,
  test_sink_large_rows_25834, test_sink_parquet_*.
- IPC internals (record batches, compat levels, custom metadata, sinks, fetch-count logs):
  test_sink_ipc_*, test_scan_file_info_cache, test_scan_ipc_file_async*,
  test_scan_ipc_varying_block_metadata_len_c4812, test_scan_ipc_compression_with_slice_26063,
  test_sink_scan_ipc_round_trip_statistics*, test_scan_ipc_fast_count_does_not_read_row_values,
  test_scan_ipc_slicing_and_count, test_scan_pyobject_zero_copy_buffer_mutate; and the IPC
  duplicates of ported Parquet tests (test_row_index, test_row_index_schema, test_glob_n_rows,
  test_ipc_list_arg, test_scan_ipc_local_with_async, test_count_ipc).
- Scan/sink IO metrics and Polars' private path expansion: test_scan_metrics,
  test_scan_sink_metrics_multiple_phases, test_scan_expand_paths_no_glob and the
  use_expand_paths_pyfn half of test_scan_path_expansion_sorting_24528.
- Nested columns (npz holds none): test_io_struct_async_12500, test_nested_slice_12480
  (test_scan_null_upcast_to_nested is kept as a skip).
- Network: test_scan_sink_error_captures_path.
- read_* functions (not scans): test_read_projection_and_row_index, the read half of
  test_scan_from_object_nonzero_offset.
- 2**31+ rows: test_scan_select_len_overflow_28351, test_streaming_fast_count_disables_morsel_split.
"""

from __future__ import annotations

import io
import re
import sys
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from threading import Thread
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from polars_formats import (
    FORMATS,
    POLARS2,
    PlMonkeyPatch,
    accepts,
    ext,
    fmt_params,
    format_file_uri,
    io_files,
    is_npz,
    needs_npz_hive,
    npz_xfail,
    scan,
    sources,
    to_buffer,
    write,
)

get_index_type = pl.get_index_type

fmts = pytest.mark.parametrize("fmt", FORMATS)
needs_polars2 = pytest.mark.skipif(not POLARS2, reason="Polars 1.x lacks this (it fails on Parquet too)")
# On Polars 1.x an npz dataset is one scan per file, concatenated (no multi-file scan).
NPZ1 = "on Polars 1.x (one scan per file, concatenated): "


@pytest.fixture
def plmonkeypatch():
    """Polars' plmonkeypatch fixture (see polars_formats.PlMonkeyPatch)."""
    mpatch = PlMonkeyPatch()
    yield mpatch
    mpatch.undo()


def _engine(streaming: bool) -> Any:
    return "streaming" if streaming else "in-memory"


# --------------------------------------------------------------------------------------------
# test_multiscan.py
# --------------------------------------------------------------------------------------------


@fmts
def test_include_file_paths(tmp_path: Path, fmt: str) -> None:
    a_path = tmp_path / "a"
    b_path = tmp_path / "b"

    write(pl.DataFrame({"a": [5, 10]}), a_path, fmt)
    write(pl.DataFrame({"a": [1996]}), b_path, fmt)

    out = scan([a_path, b_path], fmt, include_file_paths="f")

    assert_frame_equal(
        out.collect(),
        pl.DataFrame({"a": [5, 10, 1996], "f": [str(a_path), str(a_path), str(b_path)]}),
    )


@fmts
@pytest.mark.parametrize("missing_column", [False, True])
@pytest.mark.parametrize("row_index", [False, True])
@pytest.mark.parametrize("include_file_paths", [False, True])
@pytest.mark.parametrize("hive", [False, True])
@pytest.mark.parametrize("col", [False, True])
def test_multiscan_projection(
    tmp_path: Path,
    fmt: str,
    missing_column: bool,
    row_index: bool,
    include_file_paths: bool,
    hive: bool,
    col: bool,
) -> None:
    if hive:
        needs_npz_hive(fmt)
    e = ext(fmt)
    a = pl.DataFrame({"col": [5, 10, 1996]})
    b = pl.DataFrame({"col": [13, 37]})

    if missing_column:
        a = a.with_columns(missing=pl.Series([420, 2000, 9]))

    if hive:
        (tmp_path / "hive_col=0").mkdir()
        a_path = tmp_path / "hive_col=0" / f"a.{e}"
        (tmp_path / "hive_col=1").mkdir()
        b_path = tmp_path / "hive_col=1" / f"b.{e}"
        multiscan_path = tmp_path
    else:
        a_path = tmp_path / f"a.{e}"
        b_path = tmp_path / f"b.{e}"
        multiscan_path = tmp_path / f"*.{e}"

    write(a, a_path, fmt)
    write(b, b_path, fmt)

    base_projection = []
    if missing_column:
        base_projection += ["missing"]
    if row_index:
        base_projection += ["row_index"]
    if include_file_paths:
        base_projection += ["file_path"]
    if hive:
        base_projection += ["hive_col"]
    if col:
        base_projection += ["col"]

    args = {
        "missing_columns": "insert" if missing_column else "raise",
        "include_file_paths": "file_path" if include_file_paths else None,
        "row_index_name": "row_index" if row_index else None,
        "hive_partitioning": hive,
    }

    for projection in [base_projection, base_projection[::-1]]:
        assert_frame_equal(
            scan(multiscan_path, fmt, **args).collect(engine="streaming").select(projection),
            scan(multiscan_path, fmt, **args).select(projection).collect(engine="streaming"),
        )

    for remove in range(len(base_projection)):
        new_projection = base_projection.copy()
        new_projection.pop(remove)

        for projection in [new_projection, new_projection[::-1]]:
            assert_frame_equal(
                scan(multiscan_path, fmt, **args).collect(engine="streaming").select(projection),
                scan(multiscan_path, fmt, **args).select(projection).collect(engine="streaming"),
            )


@fmts
def test_multiscan_row_index(tmp_path: Path, fmt: str) -> None:
    a = pl.DataFrame({"col": [5, 10, 1996]})
    b = pl.DataFrame({"col": [42]})
    c = pl.DataFrame({"col": [13, 37]})

    write(a, tmp_path / "a", fmt)
    write(b, tmp_path / "b", fmt)
    write(c, tmp_path / "c", fmt)

    col = pl.concat([a, b, c]).to_series()
    g = tmp_path / "*"

    assert_frame_equal(
        scan(g, fmt, row_index_name="ri").collect(),
        pl.DataFrame([pl.Series("ri", range(6), get_index_type()), col]),
    )

    start = 42
    assert_frame_equal(
        scan(g, fmt, row_index_name="ri", row_index_offset=start).collect(),
        pl.DataFrame([pl.Series("ri", range(start, start + 6), get_index_type()), col]),
    )

    assert_frame_equal(
        scan(g, fmt, row_index_name="ri", row_index_offset=start).slice(3, 3).collect(),
        pl.DataFrame([pl.Series("ri", range(start + 3, start + 6), get_index_type()), col.slice(3, 3)]),
    )

    assert_frame_equal(
        scan(g, fmt, row_index_name="ri", row_index_offset=start).filter(pl.col("col") < 15).collect(),
        pl.DataFrame(
            [
                pl.Series("ri", [start + 0, start + 1, start + 4], get_index_type()),
                pl.Series("col", [5, 10, 13]),
            ]
        ),
    )

    with pytest.raises(pl.exceptions.DuplicateError, match="duplicate column name index"):
        scan(g, fmt).with_row_index().with_row_index().collect()

    assert_frame_equal(
        scan(g, fmt).with_row_index().with_row_index("index_1", offset=1).with_row_index("index_2", offset=2).collect(),
        pl.DataFrame(
            [
                pl.Series("index_2", [2, 3, 4, 5, 6, 7], get_index_type()),
                pl.Series("index_1", [1, 2, 3, 4, 5, 6], get_index_type()),
                pl.Series("index", [0, 1, 2, 3, 4, 5], get_index_type()),
                col,
            ]
        ),
    )


@pytest.mark.parametrize(
    "fmt",
    fmt_params(),
)
def test_schema_mismatch_type_mismatch(request: pytest.FixtureRequest, tmp_path: Path, fmt: str) -> None:
    npz_xfail(request, fmt, NPZ1 + "checks every file's schema when scanned, not when collected", when=not POLARS2)
    e = ext(fmt)
    a = pl.DataFrame({"xyz_col": [5, 10, 1996]})
    b = pl.DataFrame({"xyz_col": ["a", "b", "c"]})

    write(a, tmp_path / f"a.{e}", fmt)
    write(b, tmp_path / f"b.{e}", fmt)

    q = scan(tmp_path / f"*.{e}", fmt)

    with pytest.raises(pl.exceptions.SchemaError, match="data type mismatch for column xyz_col: incoming: String != target: Int64"):
        q.collect(engine="streaming")


@fmts
def test_multiscan_head(tmp_path: Path, fmt: str) -> None:
    fs = sources([pl.Series("c1", range(10)).to_frame()] * 2, fmt, tmp_path)

    assert_frame_equal(scan(fs, fmt).head(5).collect(engine="streaming"), pl.Series("c1", range(5)).to_frame())


@fmts
def test_multiscan_tail(tmp_path: Path, fmt: str) -> None:
    fs = sources([pl.Series("c1", range(10)).to_frame()] * 2, fmt, tmp_path)

    assert_frame_equal(scan(fs, fmt).tail(5).collect(engine="streaming"), pl.Series("c1", range(5, 10)).to_frame())


def _rewind(fs: list[Any]) -> None:
    for f in fs:
        if isinstance(f, io.IOBase):
            f.seek(0)


@fmts
def test_multiscan_slice_middle(tmp_path: Path, fmt: str) -> None:
    fs = sources([pl.Series("c1", range(7)).to_frame()] * 13, fmt, tmp_path)

    offset = 5 * 7 - 5
    expected = (
        list(range(2, 7))  # fs[4]
        + list(range(7))  # fs[5]
        + list(range(5))  # fs[6]
    )
    expected_series = [pl.Series("c1", expected)]
    ri_expected_series = [pl.Series("ri", range(offset, offset + 17), get_index_type()), *expected_series]

    assert_frame_equal(scan(fs, fmt).slice(offset, 17).collect(engine="streaming"), pl.DataFrame(expected_series))
    _rewind(fs)
    assert_frame_equal(
        scan(fs, fmt, row_index_name="ri").slice(offset, 17).collect(engine="streaming"),
        pl.DataFrame(ri_expected_series),
    )
    _rewind(fs)

    # Negative slices
    offset = -(13 * 7 - offset)
    assert_frame_equal(scan(fs, fmt).slice(offset, 17).collect(engine="streaming"), pl.DataFrame(expected_series))
    _rewind(fs)
    assert_frame_equal(
        scan(fs, fmt, row_index_name="ri").slice(offset, 17).collect(engine="streaming"),
        pl.DataFrame(ri_expected_series),
    )


@pytest.fixture(scope="module")
def slice_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Path]]]:
    """Per format: one file of 13 * 7 rows and 13 files of 7 rows (test_multiscan_slice_parametric)."""
    out = {}
    for fmt in FORMATS:
        d = tmp_path_factory.mktemp(f"slices-{fmt}")
        ref = d / f"ref.{ext(fmt)}"
        write(pl.Series("c1", [i % 7 for i in range(13 * 7)]).to_frame(), ref, fmt)
        fs = []
        for i in range(13):
            p = d / f"{i:02}.{ext(fmt)}"
            write(pl.Series("c1", range(7)).to_frame(), p, fmt)
            fs.append(p)
        out[fmt] = (ref, fs)
    return out


@fmts
@settings(max_examples=25, deadline=None)
@given(offset=st.integers(-100, 100), length=st.integers(0, 101))
def test_multiscan_slice_parametric(slice_files: dict[str, tuple[Path, list[Path]]], fmt: str, offset: int, length: int) -> None:
    # Files instead of Polars' BytesIO for every format (hypothesis reruns the body).
    ref, fs = slice_files[fmt]

    assert_frame_equal(
        scan(ref, fmt).slice(offset, length).collect(),
        scan(fs, fmt).slice(offset, length).collect(engine="streaming"),
    )

    assert_frame_equal(
        scan(ref, fmt, row_index_name="ri", row_index_offset=42).slice(offset, length).collect(),
        scan(fs, fmt, row_index_name="ri", row_index_offset=42).slice(offset, length).collect(engine="streaming"),
    )

    assert_frame_equal(
        scan(ref, fmt, row_index_name="ri", row_index_offset=42).slice(offset, length).select("ri").collect(),
        scan(fs, fmt, row_index_name="ri", row_index_offset=42).slice(offset, length).select("ri").collect(engine="streaming"),
    )


@fmts
def test_many_files(tmp_path: Path, fmt: str) -> None:
    if is_npz(fmt):
        p = tmp_path / "a.npz"
        write(pl.DataFrame({"a": [5, 10, 1996]}), p, fmt)
        src: Any = [p] * 1023
    else:
        src = [to_buffer(pl.DataFrame({"a": [5, 10, 1996]}), fmt).getvalue()] * 1023

    out = scan(src, fmt)

    assert_frame_equal(out.collect(), pl.DataFrame({"a": [5, 10, 1996] * 1023}))


@fmts
def test_deadlock_stop_requested(tmp_path: Path, fmt: str) -> None:
    df = pl.DataFrame({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]})

    # Polars writes row_group_size=1 and sets POLARS_MAX_THREADS=2 / POLARS_JOIN_SAMPLE_LIMIT=1.
    left = scan(sources([df] * 10, fmt, tmp_path), fmt)
    right = scan(sources([df] * 10, fmt, tmp_path), fmt)

    _ = left.join(right, pl.col.a == pl.col.a).collect(engine="streaming").height


@fmts
def test_deadlock_linearize(tmp_path: Path, fmt: str) -> None:
    df = pl.DataFrame({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]})

    lf = scan(sources([df] * 10, fmt, tmp_path), fmt).head(100)

    assert_frame_equal(
        lf.collect(engine="streaming", optimizations=pl.QueryOptFlags(slice_pushdown=False)),
        pl.concat([df] * 10),
    )


@fmts
def test_row_index_filter_22612(fmt: str) -> None:
    df = pl.DataFrame({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]})

    # row_group_size=5 for Parquet (2 row groups); npz: blocks of 5 rows.
    f = to_buffer(df, fmt, block_rows=5)
    if not is_npz(fmt):
        import pyarrow.parquet as pq

        assert pq.read_metadata(f).num_row_groups == 2

    for end in range(2, 10):
        f.seek(0)
        assert_frame_equal(
            scan(f, fmt).with_row_index().filter(pl.col("index") >= end - 2, pl.col("index") <= end).collect(),
            df.with_row_index().slice(end - 2, 3),
        )

        f.seek(0)
        assert_frame_equal(
            scan(f, fmt).with_row_index().filter(pl.col("index").is_between(end - 2, end)).collect(),
            df.with_row_index().slice(end - 2, 3),
        )


@pytest.mark.parametrize(
    "fmt",
    fmt_params(
        xfail="row index named like a file column: DuplicateError 'duplicate column name index', not \"cannot add row_index with name 'index': column already exists in file\""
    ),
)
def test_row_index_name_in_file(fmt: str) -> None:
    f = to_buffer(pl.DataFrame({"index": 1}), fmt)

    with pytest.raises(
        pl.exceptions.DuplicateError,
        match="cannot add row_index with name 'index': column already exists in file",
    ):
        scan(f, fmt).with_row_index().collect()


@pytest.mark.parametrize(
    "fmt",
    fmt_params(),
)
def test_extra_columns_not_ignored_22218(tmp_path: Path, fmt: str) -> None:
    dfs = [pl.DataFrame({"a": 1, "b": 1}), pl.DataFrame({"a": 2, "c": 2})]

    files = sources(dfs, fmt, tmp_path)

    with pytest.raises(
        pl.exceptions.SchemaError,
        match=r"extra column in file outside of expected schema: c, hint: specify .*or pass",
    ):
        scan(files, fmt, missing_columns="insert").select(pl.all()).collect()

    _rewind(files)
    assert_frame_equal(
        scan(files, fmt, missing_columns="insert", extra_columns="ignore").select(pl.all()).collect(),
        pl.DataFrame({"a": [1, 2], "b": [1, None]}),
    )


@pytest.mark.parametrize("fmt", fmt_params(skip="npz holds no Null-typed column (pl.Null has no numpy equivalent)"))
def test_scan_null_upcast(tmp_path: Path, fmt: str) -> None:
    dfs = [pl.DataFrame({"a": [1, 2, 3]}), pl.select(a=pl.lit(None, dtype=pl.Null))]

    files = sources(dfs, fmt, tmp_path)

    assert_frame_equal(scan(files, fmt).collect(), pl.DataFrame({"a": [1, 2, 3, None]}))


@pytest.mark.parametrize("fmt", fmt_params(skip="npz holds no nested (List/Struct) columns"))
def test_scan_null_upcast_to_nested(tmp_path: Path, fmt: str) -> None:
    schema = {"a": pl.List(pl.Struct({"field": pl.Int64}))}

    dfs = [
        pl.DataFrame({"a": [[{"field": 1}], [{"field": 2}], []]}, schema=schema),
        pl.select(a=pl.lit(None, dtype=pl.Null)),
    ]

    files = sources(dfs, fmt, tmp_path)

    assert_frame_equal(
        scan(files, fmt).collect(),
        pl.DataFrame({"a": [[{"field": 1}], [{"field": 2}], [], None]}, schema=schema),
    )


@pytest.mark.parametrize("prefix", ["", "file:", "file://"])
@pytest.mark.parametrize("use_glob", [True, False])
@fmts
def test_scan_ignore_hidden_files_21762(request: pytest.FixtureRequest, tmp_path: Path, fmt: str, use_glob: bool, prefix: str) -> None:
    if not accepts(pl.scan_parquet, "hidden_file_prefix"):
        pytest.skip("this Polars has no hidden_file_prefix")
    e = ext(fmt)
    file_names: list[str] = [f"a.{e}", f"_a.{e}", f".a.{e}", f"a_.{e}"]

    for file_name in file_names:
        write(pl.DataFrame({"rel_path": file_name}), tmp_path / file_name, fmt)

    (tmp_path / "folder").mkdir()

    for file_name in file_names:
        write(pl.DataFrame({"rel_path": f"folder/{file_name}"}), tmp_path / "folder" / file_name, fmt)

    (tmp_path / "_folder").mkdir()

    for file_name in file_names:
        write(pl.DataFrame({"rel_path": f"_folder/{file_name}"}), tmp_path / "_folder" / file_name, fmt)

    suffix = f"/**/*.{e}" if use_glob else "/" if prefix.startswith("file:") else ""
    root = f"{prefix}{tmp_path}{suffix}"

    def names(*xs: str) -> pl.LazyFrame:
        return pl.LazyFrame({"rel_path": [x.replace(".ext", f".{e}") for x in xs]})

    assert_frame_equal(
        scan(root, fmt).sort("*"),
        names(
            ".a.ext",
            "_a.ext",
            "_folder/.a.ext",
            "_folder/_a.ext",
            "_folder/a.ext",
            "_folder/a_.ext",
            "a.ext",
            "a_.ext",
            "folder/.a.ext",
            "folder/_a.ext",
            "folder/a.ext",
            "folder/a_.ext",
        ),
    )

    assert_frame_equal(
        scan(root, fmt, hidden_file_prefix=".").sort("*"),
        names(
            "_a.ext",
            "_folder/_a.ext",
            "_folder/a.ext",
            "_folder/a_.ext",
            "a.ext",
            "a_.ext",
            "folder/_a.ext",
            "folder/a.ext",
            "folder/a_.ext",
        ),
    )

    assert_frame_equal(
        scan(root, fmt, hidden_file_prefix=[".", "_"]).sort("*"),
        names("_folder/a.ext", "_folder/a_.ext", "a.ext", "a_.ext", "folder/a.ext", "folder/a_.ext"),
    )

    assert_frame_equal(
        scan(root, fmt, hidden_file_prefix=(".", "_")).sort("*"),
        names("_folder/a.ext", "_folder/a_.ext", "a.ext", "a_.ext", "folder/a.ext", "folder/a_.ext"),
    )

    # Top-level glob only
    root = f"{tmp_path}/*.{e}"

    assert_frame_equal(scan(root, fmt).sort("*"), names(".a.ext", "_a.ext", "a.ext", "a_.ext"))

    assert_frame_equal(scan(root, fmt, hidden_file_prefix=".").sort("*"), names("_a.ext", "a.ext", "a_.ext"))

    assert_frame_equal(scan(root, fmt, hidden_file_prefix=[".", "_"]).sort("*"), names("a.ext", "a_.ext"))

    # Direct file passed
    with pytest.raises(pl.exceptions.ComputeError, match="expanded paths were empty"):
        scan(tmp_path / f"_a.{e}", fmt, hidden_file_prefix="_").collect()


@pytest.mark.parametrize("fmt", fmt_params(xfail="explain() of a glob over 2 files shows no 'ESTIMATED ROWS: 54' (sum of all files' rows)"))
def test_row_count_estimate_multifile(tmp_path: Path, fmt: str) -> None:
    src = io_files(tmp_path, fmt) / f"foods*.{ext(fmt)}"
    # test that it doesn't check only the first file
    assert "ESTIMATED ROWS: 54" in scan(src, fmt).explain()


# --------------------------------------------------------------------------------------------
# test_scan.py
# --------------------------------------------------------------------------------------------

GLOB_ROW_COUNTS = [
    100, 186, 95, 185, 90, 84, 115, 81, 87, 217, 126, 85, 98, 122, 129, 122, 1089, 82,
    234, 86, 93, 90, 91, 263, 87, 126, 86, 161, 191, 1368, 403, 192, 102, 98, 115, 81,
    111, 305, 92, 534, 431, 150, 90, 128, 152, 118, 127, 124, 229, 368, 81,
]  # fmt: skip


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, pl.DataFrame]]:
    """Per (format, "single" | "glob"): Polars' data_file_single (10000 rows in one file) and
    data_file_glob (the same rows in 51 files of the sizes above, scanned by a glob)."""
    assert sum(GLOB_ROW_COUNTS) == 10000
    df = pl.DataFrame({"sequence": range(10000)})
    out = {}
    for fmt in FORMATS:
        d = tmp_path_factory.mktemp(f"data-{fmt}")
        e = ext(fmt)
        write(df, d / f"data.{e}", fmt)
        out[fmt, "single"] = (d / f"data.{e}", df)
        row_offset = 0
        for index, row_count in enumerate(GLOB_ROW_COUNTS):
            write(df.slice(row_offset, row_count), d / f"data_{index:02}.{e}", fmt)
            row_offset += row_count
        out[fmt, "glob"] = (d / f"data_*.{e}", df)
    return out


data_kinds = pytest.mark.parametrize("kind", ["single", "glob"])
force_asyncs = pytest.mark.parametrize("force_async", [False, True], ids=["sync", "async"])


def _scan_data(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch, row_index: bool = False) -> Any:
    if force_async:
        plmonkeypatch.setenv("POLARS_VERBOSE", "1")
        plmonkeypatch.setenv("POLARS_FORCE_ASYNC", "1")
    path, df = data_files[fmt, kind]
    return scan(path, fmt, row_index_name="index" if row_index else None), df


@fmts
@data_kinds
@force_asyncs
def test_scan(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, expected = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch)
    assert_frame_equal(lf.collect(), expected)


@fmts
@data_kinds
@force_asyncs
def test_scan_with_limit(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch)
    assert_frame_equal(lf.limit(4483).collect(), pl.DataFrame({"sequence": range(4483)}))


@fmts
@data_kinds
@force_asyncs
def test_scan_with_filter(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch)
    assert_frame_equal(
        lf.filter(pl.col("sequence") % 2 == 0).collect(),
        pl.DataFrame({"sequence": (2 * x for x in range(5000))}),
    )


@fmts
@data_kinds
@force_asyncs
def test_scan_with_filter_and_limit(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch)
    assert_frame_equal(
        lf.filter(pl.col("sequence") % 2 == 0).limit(4483).collect(),
        pl.DataFrame({"sequence": (2 * x for x in range(4483))}),
    )


@fmts
@data_kinds
@force_asyncs
def test_scan_with_limit_and_filter(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch)
    assert_frame_equal(
        lf.limit(4483).filter(pl.col("sequence") % 2 == 0).collect(),
        pl.DataFrame({"sequence": (2 * x for x in range(2242))}),
    )


@fmts
@data_kinds
@force_asyncs
def test_scan_with_row_index_and_limit(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch, row_index=True)
    assert_frame_equal(
        lf.limit(4483).collect(),
        pl.DataFrame({"index": range(4483), "sequence": range(4483)}, schema_overrides={"index": pl.UInt32}),
    )


@fmts
@data_kinds
@force_asyncs
def test_scan_with_row_index_and_filter(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch, row_index=True)
    assert_frame_equal(
        lf.filter(pl.col("sequence") % 2 == 0).collect(),
        pl.DataFrame(
            {"index": (2 * x for x in range(5000)), "sequence": (2 * x for x in range(5000))},
            schema_overrides={"index": pl.UInt32},
        ),
    )


@fmts
@data_kinds
@force_asyncs
def test_scan_with_row_index_limit_and_filter(
    data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch
) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch, row_index=True)
    assert_frame_equal(
        lf.limit(4483).filter(pl.col("sequence") % 2 == 0).collect(),
        pl.DataFrame(
            {"index": (2 * x for x in range(2242)), "sequence": (2 * x for x in range(2242))},
            schema_overrides={"index": pl.UInt32},
        ),
    )


@fmts
@data_kinds
@force_asyncs
def test_scan_with_row_index_projected_out(data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch) -> None:
    lf, df = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch, row_index=True)
    subset = next(iter(df.schema.keys()))
    assert_frame_equal(lf.select(subset).collect(), df.select(subset))


@fmts
@data_kinds
@force_asyncs
def test_scan_with_row_index_filter_and_limit(
    data_files: Any, fmt: str, kind: str, force_async: bool, plmonkeypatch: PlMonkeyPatch
) -> None:
    lf, _ = _scan_data(data_files, fmt, kind, force_async, plmonkeypatch, row_index=True)
    assert_frame_equal(
        lf.filter(pl.col("sequence") % 2 == 0).limit(4483).collect(),
        pl.DataFrame(
            {"index": (2 * x for x in range(4483)), "sequence": (2 * x for x in range(4483))},
            schema_overrides={"index": pl.UInt32},
        ),
    )


@fmts
@pytest.mark.parametrize("streaming", [True, False])
def test_scan_limit_0_does_not_panic(tmp_path: Path, fmt: str, streaming: bool) -> None:
    path = tmp_path / "data.bin"
    df = pl.DataFrame({"x": 1})
    write(df, path, fmt)
    assert_frame_equal(scan(path, fmt).head(0).collect(engine=_engine(streaming)), df.clear())


@fmts
@pytest.mark.parametrize("glob", [True, False])
def test_scan_directory(tmp_path: Path, fmt: str, glob: bool) -> None:
    e = ext(fmt)
    dfs: list[pl.DataFrame] = [
        pl.DataFrame({"a": [0, 0, 0, 0, 0]}),
        pl.DataFrame({"a": [1, 1, 1, 1, 1]}),
        pl.DataFrame({"a": [2, 2, 2, 2, 2]}),
    ]

    paths = [tmp_path / f"0.{e}", tmp_path / f"1.{e}", tmp_path / f"dir/data.{e}"]

    for df, path in zip(dfs, paths, strict=True):
        path.parent.mkdir(exist_ok=True)
        write(df, path, fmt)

    df = pl.concat(dfs)

    out = scan(tmp_path, fmt, glob=glob).collect()
    assert_frame_equal(out, df)


@fmts
def test_scan_glob_excludes_directories(tmp_path: Path, fmt: str) -> None:
    e = ext(fmt)
    for dir in ["dir1", "dir2", "dir3"]:
        (tmp_path / dir).mkdir()

    df = pl.DataFrame({"a": [1, 2, 3]})

    write(df, tmp_path / "dir1/data.bin", fmt)
    write(df, tmp_path / f"dir2/data.{e}", fmt)
    write(df, tmp_path / f"data.{e}", fmt)

    assert_frame_equal(scan(tmp_path / "**/*.bin", fmt).collect(), df)
    assert_frame_equal(scan(tmp_path / "**/data*.bin", fmt).collect(), df)
    assert_frame_equal(scan(tmp_path / "**/*", fmt).collect(), pl.concat(3 * [df]))
    assert_frame_equal(scan(tmp_path / "*", fmt).collect(), df)


@fmts
@pytest.mark.parametrize("file_name", ["a b", "a %25 b"])
def test_scan_async_whitespace_in_path(tmp_path: Path, plmonkeypatch: PlMonkeyPatch, fmt: str, file_name: str) -> None:
    plmonkeypatch.setenv("POLARS_FORCE_ASYNC", "1")
    e = ext(fmt)

    path = tmp_path / f"{file_name}.{e}"
    df = pl.DataFrame({"x": 1})
    write(df, path, fmt)
    assert_frame_equal(scan(path, fmt).collect(), df)
    assert_frame_equal(scan(tmp_path, fmt).collect(), df)
    assert_frame_equal(scan(tmp_path / "*", fmt).collect(), df)
    assert_frame_equal(scan(tmp_path / f"*.{e}", fmt).collect(), df)
    path.unlink()


@fmts
def test_path_expansion_excludes_empty_files_17362(tmp_path: Path, fmt: str) -> None:
    df = pl.DataFrame({"x": 1})
    write(df, tmp_path / f"data.{ext(fmt)}", fmt)
    (tmp_path / "empty").touch()

    assert_frame_equal(scan(tmp_path, fmt).collect(), df)
    assert_frame_equal(scan(tmp_path / "*", fmt).collect(), df)


@pytest.mark.parametrize("fmt", fmt_params())
def test_path_expansion_empty_directory_does_not_panic(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(pl.exceptions.ComputeError):
        scan(tmp_path, fmt).collect()

    with pytest.raises(pl.exceptions.ComputeError):
        scan(tmp_path / "**/*", fmt).collect()


@pytest.mark.parametrize(
    "fmt",
    fmt_params(xfail="a directory holding files of another extension is read without InvalidOperationError 'different file extensions'"),
)
def test_scan_single_dir_differing_file_extensions_raises_17436(tmp_path: Path, fmt: str) -> None:
    e = ext(fmt)
    df = pl.DataFrame({"x": 1})
    write(df, tmp_path / f"data.{e}", fmt)
    df.write_ipc(tmp_path / "data.ipc")

    with pytest.raises(pl.exceptions.InvalidOperationError, match="different file extensions"):
        scan(tmp_path, fmt).collect()

    for lf in [scan(tmp_path / f"*.{e}", fmt), pl.scan_ipc(tmp_path / "*.ipc")]:
        assert_frame_equal(lf.collect(), df)

    # Ensure passing a glob doesn't trigger file extension checking
    with pytest.raises(
        pl.exceptions.ComputeError,
        match="parquet: File out of specification: The file must end with PAR1" if fmt == "parquet" else None,
    ):
        scan(tmp_path / "*", fmt).collect()


@pytest.mark.parametrize("fmt", fmt_params(xfail="a missing file raises FileNotFoundError at scan_npz(), not at collect()"))
def test_scan_nonexistent_path(fmt: str) -> None:
    path_str = f"my-nonexistent-data.{ext(fmt)}"
    path = Path(path_str)
    assert not path.exists()

    # Just calling the scan function should not raise any errors
    result = scan(path, fmt)
    assert isinstance(result, pl.LazyFrame)

    # Upon collection, it should fail
    with pytest.raises(FileNotFoundError):
        result.collect()


@pytest.mark.parametrize(
    "fmt",
    fmt_params(),
)
@pytest.mark.parametrize("streaming", [True, False])
def test_scan_include_file_paths(tmp_path: Path, fmt: str, streaming: bool) -> None:
    e = ext(fmt)
    dfs: list[pl.DataFrame] = []

    for x in ["1", "2"]:
        path = Path(f"{tmp_path}/{x}.{e}").absolute()
        dfs.append(pl.DataFrame({"x": 10 * [x]}).with_columns(path=pl.lit(str(path))))
        write(dfs[-1].drop("path"), path, fmt)

    df = pl.concat(dfs)
    assert df.columns == ["x", "path"]

    with pytest.raises(
        pl.exceptions.DuplicateError,
        match=r'column name for file paths "x" conflicts with column name from file',
    ):
        scan(tmp_path, fmt, include_file_paths="x").collect(engine=_engine(streaming))

    lf: pl.LazyFrame = scan(tmp_path, fmt, include_file_paths="path")
    assert_frame_equal(lf.collect(engine=_engine(streaming)), df)

    # Test projecting only the path column
    q = lf.select("path")
    assert q.collect_schema() == {"path": pl.String}
    assert_frame_equal(q.collect(engine=_engine(streaming)), df.select("path"))

    q = q.select("path").head(3)
    assert q.collect_schema() == {"path": pl.String}
    assert_frame_equal(q.collect(engine=_engine(streaming)), df.select("path").head(3))

    # Test predicates
    for predicate in [pl.col("path") != pl.col("x"), pl.col("path") != ""]:
        assert_frame_equal(lf.filter(predicate).collect(engine=_engine(streaming)), df)

    # Test codepaths that materialize empty DataFrames
    assert_frame_equal(lf.head(0).collect(engine=_engine(streaming)), df.head(0))


@fmts
def test_async_path_expansion_bracket_17629(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"data.{ext(fmt)}"

    df = pl.DataFrame({"x": 1})
    write(df, path, fmt)

    assert_frame_equal(scan(tmp_path / f"[d]ata.{ext(fmt)}", fmt).collect(), df)


@pytest.mark.parametrize("fmt", fmt_params(xfail="a list of in-memory buffers is not a source (TypeError/NpzError), Polars scans each"))
def test_scan_in_memory(fmt: str) -> None:
    df = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    f = to_buffer(df, fmt)

    f.seek(0)
    result = scan(f, fmt).collect()
    assert_frame_equal(df, result)

    f.seek(0)
    result = scan(f, fmt).slice(1, 2).collect()
    assert_frame_equal(df.slice(1, 2), result)

    f.seek(0)
    result = scan(f, fmt).slice(-1, 1).collect()
    assert_frame_equal(df.slice(-1, 1), result)

    g = to_buffer(df, fmt)

    f.seek(0)
    g.seek(0)
    result = scan([f, g], fmt).collect()
    assert_frame_equal(df.vstack(df), result)

    f.seek(0)
    g.seek(0)
    result = scan([f, g], fmt).slice(1, 2).collect()
    assert_frame_equal(df.vstack(df).slice(1, 2), result)

    f.seek(0)
    g.seek(0)
    result = scan([f, g], fmt).slice(-1, 1).collect()
    assert_frame_equal(df.vstack(df).slice(-1, 1), result)


@fmts
def test_scan_double_collect_row_index_invalidates_cached_ir_18892(fmt: str) -> None:
    lf = scan(to_buffer(pl.DataFrame({"a": [1, 2, 3]}), fmt), fmt)

    lf.collect()

    out = lf.with_row_index().collect()

    assert_frame_equal(
        out,
        pl.DataFrame({"index": [0, 1, 2], "a": [1, 2, 3]}, schema={"index": pl.get_index_type(), "a": pl.Int64}),
    )


@fmts
def test_scan_include_file_paths_respects_projection_pushdown(fmt: str) -> None:
    f = to_buffer(pl.DataFrame({"a": "a1", "b": "b1", "c": "c1"}), fmt)
    q = scan(f, fmt, include_file_paths="path_name").select(["a", "b"])

    assert_frame_equal(q.collect(), pl.DataFrame({"a": "a1", "b": "b1"}))


@fmts
def test_predicate_hive_pruning_with_cast(tmp_path: Path, fmt: str) -> None:
    needs_npz_hive(fmt)
    e = ext(fmt)
    df = pl.DataFrame({"x": 1})

    (p := (tmp_path / "date=2024-01-01")).mkdir()

    write(df, p / f"1.{e}", fmt)

    (p := (tmp_path / "date=2024-01-02")).mkdir()

    # Write an invalid file that will cause errors if it is read: the scan only looks at the
    # first file during schema inference.
    (p / f"1.{e}").write_text(f"not a {e} file")

    expect = pl.DataFrame({"x": 1, "date": datetime(2024, 1, 1).date()})

    lf = scan(tmp_path, fmt)

    q = lf.filter(pl.col("date") < datetime(2024, 1, 2).date())

    assert_frame_equal(q.collect(), expect)

    # This filter expr with stprtime is effectively what LazyFrame.sql() generates
    q = lf.filter(pl.col("date") < pl.lit("2024-01-02").str.strptime(dtype=pl.Date, format="%Y-%m-%d", ambiguous="latest"))

    assert_frame_equal(q.collect(), expect)

    q = lf.sql("select * from self where date < '2024-01-02'")
    assert_frame_equal(q.collect(), expect)


@fmts
def test_predicate_stats_eval_nested_binary(tmp_path: Path, fmt: str) -> None:
    dfs = [pl.DataFrame({"x": i}) for i in range(10)]
    bufs: list[Any] = sources(dfs, fmt, tmp_path)
    if not is_npz(fmt):
        bufs = [b.getvalue() for b in bufs]

    assert_frame_equal(
        scan(bufs, fmt).filter(pl.col("x") % 2 == 0).collect(optimizations=pl.QueryOptFlags.none()),
        pl.DataFrame({"x": [0, 2, 4, 6, 8]}),
    )

    assert_frame_equal(
        # The literal eval depth limit is 4 -
        # * crates/polars-expr/src/expressions/mod.rs::PhysicalExpr::evaluate_inline
        scan(bufs, fmt).filter(pl.col("x") == pl.lit("222").str.slice(0, 1).cast(pl.Int64)).collect(),
        pl.DataFrame({"x": [2]}),
    )


@fmts
def test_only_project_row_index(fmt: str) -> None:
    f = to_buffer(pl.DataFrame([pl.Series("a", [1, 2, 3], pl.UInt32)]), fmt)
    s = scan(f, fmt, row_index_name="row_index", row_index_offset=42)

    assert_frame_equal(s.select("row_index").collect(), pl.DataFrame({"row_index": [42, 43, 44]}), check_dtypes=False)


@fmts
def test_only_project_include_file_paths(fmt: str) -> None:
    f = to_buffer(pl.DataFrame([pl.Series("a", [1, 2, 3], pl.UInt32)]), fmt)
    s = scan(f, fmt, include_file_paths="file_path")

    # The exact value for in-memory buffers is undefined
    c = s.select("file_path").collect()
    assert c.height == 3
    assert c.columns == ["file_path"]


@fmts
def test_only_project_missing(tmp_path: Path, fmt: str) -> None:
    files = sources(
        [
            pl.DataFrame([pl.Series("a", [], pl.UInt32), pl.Series("missing", [], pl.Int32)]),
            pl.DataFrame([pl.Series("a", [1, 2, 3], pl.UInt32)]),
        ],
        fmt,
        tmp_path,
    )
    s = scan(files, fmt, missing_columns="insert")

    assert_frame_equal(
        s.select("missing").collect(),
        pl.DataFrame([pl.Series("missing", [None, None, None], pl.Int32)]),
    )


@pytest.mark.parametrize("fmt", fmt_params())
def test_async_read_21945(tmp_path: Path, fmt: str) -> None:
    f1 = tmp_path / "f1"
    f2 = tmp_path / "f2"

    write(pl.DataFrame({"value": [1, 2]}), f1, fmt)
    write(pl.DataFrame({"value": [3]}), f2, fmt)

    df = scan([format_file_uri(str(f1)), str(f2)], fmt, include_file_paths="foo").filter(value=1).collect()

    assert_frame_equal(df, pl.DataFrame({"value": [1], "foo": [format_file_uri(f1)]}))


@pytest.mark.skipif(sys.platform == "win32", reason="path characters not valid on Windows")
@fmts
@pytest.mark.parametrize("file_name", ["%?", "[", "]"])
def test_scan_no_glob_special_chars_23292(tmp_path: Path, file_name: str, fmt: str) -> None:
    path = tmp_path / file_name
    df = pl.DataFrame({"a": 1})
    write(df, path, fmt)

    assert_frame_equal(scan(path, fmt, glob=False).collect(), df)
    assert_frame_equal(scan(f"file://{path}", fmt, glob=False).collect(), df)


@pytest.mark.parametrize(
    "fmt", fmt_params(xfail="no input files raise FileNotFoundError, not ComputeError 'expanded paths were empty ...'")
)
def test_scan_empty_paths_friendly_error(tmp_path: Path, fmt: str) -> None:
    # Polars' message names the format: "failed to retrieve first file schema (parquet)".
    failed_message = "failed to retrieve first file schema (parquet)" if fmt == "parquet" else "failed to retrieve first file schema"
    q = scan(tmp_path, fmt)

    with pytest.raises(pl.exceptions.ComputeError) as exc:
        q.collect()

    exc_str = exc.exconly()

    assert f"ComputeError: {failed_message}" in exc_str
    assert "expanded paths were empty (path expansion input: 'paths: " in exc_str
    assert "glob: true)." in exc_str
    assert exc_str.count(tmp_path.name) == 1
    assert "Hint: passing a schema can allow this scan to succeed with an empty DataFrame." in exc_str

    # Multiple input paths
    q = scan([tmp_path, tmp_path], fmt)

    with pytest.raises(pl.exceptions.ComputeError) as exc:
        q.collect()

    exc_str = exc.exconly()

    assert f"ComputeError: {failed_message}" in exc_str
    assert "expanded paths were empty (path expansion input: 'paths: " in exc_str
    assert "glob: true)." in exc_str
    assert exc_str.count(tmp_path.name) == 2

    q = scan([], fmt)

    with pytest.raises(pl.exceptions.ComputeError) as exc:
        q.collect()

    exc_str = exc.exconly()

    # There is no "path expansion resulted in" for this error message as the original input
    # sources were empty.
    assert f"ComputeError: {failed_message}" in exc_str
    assert "empty input: paths: []" in exc_str
    assert "Hint: passing a schema can allow this scan to succeed with an empty DataFrame." in exc_str

    with pytest.raises(pl.exceptions.ComputeError, match="glob: false"):
        scan(tmp_path, fmt, glob=False).collect()


@pytest.mark.parametrize("paths", [[], ["file:///non-existent"]])
@fmts
def test_scan_with_schema_skips_schema_inference(request: pytest.FixtureRequest, paths: list[str], fmt: str) -> None:
    npz_xfail(request, fmt, NPZ1 + "opens every file when scanned", when=not POLARS2 and bool(paths))
    schema = {"A": pl.Int64}

    q = scan(paths, fmt, schema=schema).head(0)
    assert_frame_equal(q.collect(engine="streaming"), pl.DataFrame(schema=schema))


@pytest.mark.parametrize(
    "fmt",
    fmt_params(),
)
def test_scan_file_uri_hostname_component(fmt: str) -> None:
    q = scan(f"file://hostname:80/data.{ext(fmt)}", fmt)

    with pytest.raises(pl.exceptions.ComputeError, match="unsupported: non-empty hostname for 'file:' URI: 'hostname:80'"):
        q.collect()


@needs_polars2
@fmts
@pytest.mark.parametrize(
    ("subdir", "raw_char", "encoded_char"),
    [
        # the reported issue: hive `key=value` directory
        ("foo=bar", "=", "%3D"),
        # the decoded `?` (from `%3F`) must stay literal, not act as a glob wildcard
        ("foo?bar", "?", "%3F"),
    ],
)
def test_scan_percent_encoded_file_uri_27840(tmp_path: Path, fmt: str, subdir: str, raw_char: str, encoded_char: str) -> None:
    # `file://` URIs are percent-decoded (RFC 3986) before reaching the filesystem.
    d = tmp_path / subdir
    d.mkdir()

    df = pl.DataFrame({"a": 1})
    path = d / "data.bin"
    write(df, path, fmt)

    encoded_uri = format_file_uri(path).replace(raw_char, encoded_char)

    assert_frame_equal(scan(encoded_uri, fmt).collect(), df)


@fmts
@pytest.mark.parametrize("polars_force_async", ["0", "1"])
@pytest.mark.parametrize("n_repeats", [1, 2])
def test_scan_path_expansion_sorting_24528(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str, polars_force_async: str, n_repeats: int, plmonkeypatch: PlMonkeyPatch
) -> None:
    plmonkeypatch.setenv("POLARS_FORCE_ASYNC", polars_force_async)
    e = ext(fmt)

    def scan_fn(paths: list[Path] | list[str]) -> pl.LazyFrame:
        return scan(paths, fmt)

    relpaths = [f"a.{e}", f"a/a.{e}", f"ab.{e}"]

    for p in relpaths:
        Path(tmp_path / p).parent.mkdir(exist_ok=True, parents=True)
        write(pl.DataFrame({"relpath": p}), tmp_path / p, fmt)

    assert_frame_equal(scan_fn(n_repeats * [tmp_path]).collect(), pl.DataFrame({"relpath": n_repeats * relpaths}))

    assert_frame_equal(scan_fn(n_repeats * [f"{tmp_path}/**/*"]).collect(), pl.DataFrame({"relpath": n_repeats * relpaths}))

    assert_frame_equal(
        scan_fn(n_repeats * [format_file_uri(tmp_path) + "/"]).collect(),
        pl.DataFrame({"relpath": n_repeats * relpaths}),
    )

    assert_frame_equal(
        scan_fn(n_repeats * [format_file_uri(f"{tmp_path}/**/*")]).collect(),
        pl.DataFrame({"relpath": n_repeats * relpaths}),
    )


@needs_polars2
@pytest.mark.parametrize(
    "fmt", fmt_params(xfail="plan of tail().filter() on a buffer starts with FILTER (not pushed into the scan as SELECTION after SLICE)")
)
def test_scan_slice_filter_pushdown_22790(fmt: str) -> None:
    df = pl.DataFrame({"a": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]})
    f = to_buffer(df, fmt)

    q = scan(f, fmt).tail(5).filter((pl.col("a") % 5).is_between(2, 3))

    plan = q.explain()
    assert not plan.startswith("FILTER")
    assert plan.index("SELECTION") > plan.index("SCAN")
    assert plan.index("SLICE") > plan.index("SCAN")

    assert_frame_equal(q.collect(), pl.DataFrame({"a": [7, 8]}))


@needs_polars2
@fmts
@pytest.mark.parametrize("use_bytesio", [True, False])
def test_scan_from_object_nonzero_offset(tmp_path: Path, fmt: str, use_bytesio: bool) -> None:
    # Only the scan half (Polars' lazy=True); the file is written with `write` at offset 100.
    path = tmp_path / "x"

    f_bytesio = io.BytesIO()
    padding = 100 * b"\xff"

    with path.open("wb") as f_wb_disk:
        f_wb = f_bytesio if use_bytesio else f_wb_disk
        f_wb.write(padding)
        f_wb.write(to_buffer(pl.DataFrame({"x": 1}), fmt).getvalue())

    f_bytesio.seek(0)

    with path.open("rb") as f_rb_disk:
        f_rb = f_bytesio if use_bytesio else f_rb_disk
        assert f_rb.read(100) == padding

        assert_frame_equal(scan(f_rb, fmt).collect(), pl.DataFrame({"x": 1}))


# --------------------------------------------------------------------------------------------
# test_lazy_parquet.py
# --------------------------------------------------------------------------------------------


@fmts
def test_scan_parquet(tmp_path: Path, fmt: str) -> None:
    df = scan(io_files(tmp_path, fmt) / f"small.{ext(fmt)}", fmt)
    assert df.collect().shape == (4, 3)


@fmts
def test_scan_parquet_local_with_async(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch) -> None:
    path = io_files(tmp_path, fmt) / f"foods1.{ext(fmt)}"
    plmonkeypatch.setenv("POLARS_FORCE_ASYNC", "1")
    plmonkeypatch.chdir(tmp_path)
    scan(path.relative_to(Path.cwd()), fmt).head(1).collect()


@fmts
def test_row_index(tmp_path: Path, fmt: str) -> None:
    foods_path = io_files(tmp_path, fmt) / f"foods1.{ext(fmt)}"
    df = scan(foods_path, fmt, row_index_name="row_index").collect()
    assert df["row_index"].to_list() == list(range(27))

    df = scan(foods_path, fmt, row_index_name="row_index").filter(pl.col("category") == pl.lit("vegetables")).collect()

    assert df["row_index"].to_list() == [0, 6, 11, 13, 14, 20, 25]

    df = (
        scan(foods_path, fmt, row_index_name="row_index")
        .with_row_index("foo", 10)
        .filter(pl.col("category") == pl.lit("vegetables"))
        .collect()
    )

    assert df["foo"].to_list() == [10, 16, 21, 23, 24, 30, 35]


@fmts
def test_row_index_len_16543(tmp_path: Path, fmt: str) -> None:
    q = scan(io_files(tmp_path, fmt) / f"foods1.{ext(fmt)}", fmt).with_row_index()
    assert q.select(pl.all()).select(pl.len()).collect().item() == 27


@fmts
def test_row_index_schema_parquet(tmp_path: Path, fmt: str) -> None:
    assert (scan(str(io_files(tmp_path, fmt) / f"small.{ext(fmt)}"), fmt, row_index_name="id").select(["id", "b"]).collect()).dtypes == [
        pl.get_index_type(),
        pl.String,
    ]


@fmts
def test_glob_n_rows(tmp_path: Path, fmt: str) -> None:
    file_path = io_files(tmp_path, fmt) / f"foods*.{ext(fmt)}"
    df = scan(file_path, fmt, n_rows=40).collect()

    # 27 rows from foods1 and 13 from foods2
    assert df.shape == (40, 4)

    # take first and last rows
    assert df[[0, 39]].to_dict(as_series=False) == {
        "category": ["vegetables", "seafood"],
        "calories": [45, 146],
        "fats_g": [0.5, 6.0],
        "sugars_g": [2, 2],
    }


@fmts
def test_parquet_list_arg(tmp_path: Path, fmt: str) -> None:
    d = io_files(tmp_path, fmt)
    first = d / f"foods1.{ext(fmt)}"
    second = d / f"foods2.{ext(fmt)}"

    df = scan([first, second], fmt).collect()
    assert df.shape == (54, 4)
    assert df.row(-1) == ("seafood", 194, 12.0, 1)
    assert df.row(0) == ("vegetables", 45, 0.5, 2)


@fmts
def test_row_index_empty_file(tmp_path: Path, fmt: str) -> None:
    file_path = tmp_path / f"test.{ext(fmt)}"
    df = pl.DataFrame({"a": []}, schema={"a": pl.Float32})
    write(df, file_path, fmt)
    result = scan(file_path, fmt).with_row_index("idx").collect()
    assert result.schema == OrderedDict([("idx", pl.UInt32), ("a", pl.Float32)])


@fmts
@pytest.mark.parametrize("streaming", [True, False])
def test_parquet_different_schema(request: pytest.FixtureRequest, tmp_path: Path, fmt: str, streaming: bool) -> None:
    npz_xfail(request, fmt, NPZ1 + "a dtype mismatch in a column the query does not select raises SchemaError", when=not POLARS2)
    # Schema is different but the projected columns are same dtype.
    f1 = tmp_path / f"a.{ext(fmt)}"
    f2 = tmp_path / f"b.{ext(fmt)}"
    a = pl.DataFrame({"a": [1.0], "b": "a"})

    b = pl.DataFrame({"a": [1], "b": "a"})

    write(a, f1, fmt)
    write(b, f2, fmt)
    assert scan([f1, f2], fmt).select("b").collect(engine=_engine(streaming)).columns == ["b"]


@fmts
def test_scan_deadlock_rayon_spawn_from_async_15172(tmp_path: Path, fmt: str, plmonkeypatch: PlMonkeyPatch) -> None:
    plmonkeypatch.setenv("POLARS_FORCE_ASYNC", "1")
    plmonkeypatch.setenv("POLARS_MAX_THREADS", "1")
    path = tmp_path / f"data.{ext(fmt)}"

    df = pl.Series("x", [1]).to_frame()
    write(df, path, fmt)

    results = [pl.DataFrame()]

    def scan_collect() -> None:
        results[0] = pl.collect_all([scan(path, fmt)])[0]

    # Make sure we don't sit there hanging forever on the broken case
    t = Thread(target=scan_collect, daemon=True)
    t.start()
    t.join(5)

    assert results[0].equals(df)


@pytest.mark.parametrize("streaming", [True, False])
@fmts
def test_parquet_schema_mismatch_panic_17067(tmp_path: Path, fmt: str, streaming: bool) -> None:
    write(pl.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]}), tmp_path / f"1.{ext(fmt)}", fmt)
    write(pl.DataFrame({"c": [1, 2, 3], "d": [4, 5, 6]}), tmp_path / f"2.{ext(fmt)}", fmt)

    with pytest.raises(pl.exceptions.SchemaError):
        scan(tmp_path, fmt).collect(engine=_engine(streaming))


@fmts
@pytest.mark.parametrize("streaming", [True, False])
def test_parquet_slice_pushdown_non_zero_offset(tmp_path: Path, fmt: str, streaming: bool) -> None:
    paths = [tmp_path / "1", tmp_path / "2", tmp_path / "3"]
    dfs = [pl.DataFrame({"x": i}) for i in range(len(paths))]

    for df, p in zip(dfs, paths, strict=True):
        write(df, p, fmt)

    if not is_npz(fmt):
        # Parquet files containing only the metadata - i.e. the data parts are removed. Used to
        # test that a reader doesn't try to read any data (Parquet-only: npz files stay whole).
        def trim_to_metadata(path: str | Path) -> None:
            path = Path(path)
            v = path.read_bytes()
            metadata_and_footer_len = 8 + int.from_bytes(v[-8:][:4], "little")
            path.write_bytes(v[-metadata_and_footer_len:])

        trim_to_metadata(paths[0])
        trim_to_metadata(paths[2])

        # Check baseline:
        # * Metadata can be read without error
        assert pl.read_parquet_schema(paths[0]) == dfs[0].schema
        # * Attempting to read any data will error
        with pytest.raises(pl.exceptions.ComputeError):
            pl.scan_parquet(paths[0]).collect(engine=_engine(streaming))

    df = dfs[1]
    assert_frame_equal(scan(paths, fmt).slice(1, 1).collect(engine=_engine(streaming)), df)
    assert_frame_equal(scan(paths[1:], fmt).head(1).collect(engine=_engine(streaming)), df)
    assert_frame_equal(
        scan([paths[1], paths[1], paths[1]], fmt).with_row_index().slice(1, 1).collect(engine=_engine(streaming)),
        df.with_row_index(offset=1),
    )
    assert_frame_equal(
        scan([paths[1], paths[1], paths[1]], fmt).with_row_index(offset=1).slice(1, 1).collect(engine=_engine(streaming)),
        df.with_row_index(offset=2),
    )
    assert_frame_equal(scan(paths[1:], fmt).head(1).collect(engine=_engine(streaming)), df)

    # Negative slice unsupported in streaming
    if not streaming:
        assert_frame_equal(scan(paths, fmt).slice(-2, 1).collect(), df)
        assert_frame_equal(scan(paths[:2], fmt).tail(1).collect(), df)
        assert_frame_equal(scan(paths[1:], fmt).slice(-99, 1).collect(), df.clear())

        path = tmp_path / "data"
        df = pl.select(x=pl.int_range(0, 50))
        write(df, path, fmt)
        assert_frame_equal(scan(path, fmt).slice(-100, 75).collect(), df.head(25))
        assert_frame_equal(
            scan([path, path], fmt).with_row_index().slice(-25, 100).collect(),
            pl.concat([df, df]).with_row_index().slice(75),
        )
        assert_frame_equal(
            scan([path, path], fmt).with_row_index(offset=10).slice(-25, 100).collect(),
            pl.concat([df, df]).with_row_index(offset=10).slice(75),
        )
        assert_frame_equal(scan(path, fmt).slice(-1, (1 << 32) - 1).collect(), df.tail(1))


@fmts
def test_predicate_slice_pushdown_row_index_20485(tmp_path: Path, fmt: str) -> None:
    file_path = tmp_path / f"slice_pushdown.{ext(fmt)}"
    # Polars: 3 row groups of 100000 rows, slice at 199995; here 3 groups (npz: blocks) of 1000.
    row_group_size = 1000
    num_row_groups = 3

    df = pl.select(ref=pl.int_range(num_row_groups * row_group_size))
    write(df, file_path, fmt, block_rows=row_group_size)

    # Use a slice that starts near the end of one row group and extends into the next to test
    # handling of slices that span multiple row groups.
    slice_start = 2 * row_group_size - 5
    slice_len = 10
    ldf = scan(file_path, fmt)
    sliced_df = ldf.with_row_index().slice(slice_start, slice_len).collect()
    sliced_df_no_pushdown = ldf.with_row_index().slice(slice_start, slice_len).collect(optimizations=pl.QueryOptFlags(slice_pushdown=False))

    expected_index = list(range(slice_start, slice_start + slice_len))
    actual_index = list(sliced_df["index"])
    assert actual_index == expected_index

    assert_frame_equal(sliced_df, sliced_df_no_pushdown)


@fmts
@pytest.mark.parametrize("streaming", [True, False])
def test_parquet_row_groups_shift_bug_18739(tmp_path: Path, fmt: str, streaming: bool) -> None:
    path = tmp_path / "data.bin"

    df = pl.DataFrame({"id": range(100)})
    write(df, path, fmt, block_rows=1)

    lf = scan(path, fmt)
    assert_frame_equal(df, lf.collect(engine=_engine(streaming)))


@fmts
def test_parquet_unaligned_schema_read(request: pytest.FixtureRequest, tmp_path: Path, fmt: str) -> None:
    npz_xfail(
        request,
        fmt,
        NPZ1 + "extra_columns='ignore' still raises SchemaError \"column 'x' is not in the dataset's schema\"",
        when=not POLARS2,
    )
    dfs = [
        pl.DataFrame({"a": 1, "b": 10}),
        pl.DataFrame({"b": 11, "a": 2}),
        pl.DataFrame({"x": 3, "a": 3, "y": 3, "b": 12}),
    ]

    paths = [tmp_path / "1", tmp_path / "2", tmp_path / "3"]

    for df, path in zip(dfs, paths, strict=True):
        write(df, path, fmt)

    lf = scan(paths, fmt, extra_columns="ignore")

    assert_frame_equal(lf.select("a").collect(engine="in-memory"), pl.DataFrame({"a": [1, 2, 3]}))

    assert_frame_equal(lf.with_row_index().select("a").collect(engine="in-memory"), pl.DataFrame({"a": [1, 2, 3]}))

    assert_frame_equal(lf.select("b", "a").collect(engine="in-memory"), pl.DataFrame({"b": [10, 11, 12], "a": [1, 2, 3]}))

    assert_frame_equal(scan(paths[:2], fmt).collect(engine="in-memory"), pl.DataFrame({"a": [1, 2], "b": [10, 11]}))

    lf = scan(paths, fmt, extra_columns="raise")

    with pytest.raises(pl.exceptions.SchemaError):
        lf.collect(engine="in-memory")

    with pytest.raises(pl.exceptions.SchemaError):
        lf.with_row_index().collect(engine="in-memory")


@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.parametrize(
    "fmt",
    fmt_params(),
)
def test_parquet_unaligned_schema_read_dtype_mismatch(request: pytest.FixtureRequest, tmp_path: Path, fmt: str, streaming: bool) -> None:
    npz_xfail(request, fmt, NPZ1 + "checks every file's schema when scanned, not when collected", when=not POLARS2)
    dfs = [pl.DataFrame({"a": 1, "b": 10}), pl.DataFrame({"b": "11", "a": "2"})]

    paths = [tmp_path / "1", tmp_path / "2"]

    for df, path in zip(dfs, paths, strict=True):
        write(df, path, fmt)

    lf = scan(paths, fmt)

    with pytest.raises(pl.exceptions.SchemaError, match="data type mismatch"):
        lf.collect(engine=_engine(streaming))


@pytest.mark.parametrize("streaming", [True, False])
@fmts
def test_parquet_unaligned_schema_read_missing_cols_from_first(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str, streaming: bool
) -> None:
    npz_xfail(
        request, fmt, NPZ1 + "a column missing from a file raises ColumnNotFoundError at scan_npz(), not at collect()", when=not POLARS2
    )
    dfs = [pl.DataFrame({"a": 1, "b": 10}), pl.DataFrame({"b": 11})]

    paths = [tmp_path / "1", tmp_path / "2"]

    for df, path in zip(dfs, paths, strict=True):
        write(df, path, fmt)

    lf = scan(paths, fmt)

    with pytest.raises((pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError)):
        lf.collect(engine=_engine(streaming))


@fmts
@pytest.mark.parametrize("streaming", [True, False])
def test_parquet_schema_arg(request: pytest.FixtureRequest, tmp_path: Path, fmt: str, streaming: bool) -> None:
    npz_xfail(
        request,
        fmt,
        NPZ1 + "schema= with a column no file has raises ColumnNotFoundError at scan_npz(), not at collect()",
        when=not POLARS2,
    )
    # Polars also parametrizes `parallel=` (a Parquet-only knob): the default here.
    dfs = [pl.DataFrame({"a": 1, "b": 1}), pl.DataFrame({"a": 2, "b": 2})]
    paths = [tmp_path / "1", tmp_path / "2"]

    for df, path in zip(dfs, paths, strict=True):
        write(df, path, fmt)

    schema: dict[str, Any] = {
        "1": pl.Datetime(time_unit="ms", time_zone="CET"),
        "a": pl.Int64(),
        "b": pl.Int64(),
    }

    # Test `schema` containing an extra column.

    lf = scan(paths, fmt, schema=schema)

    with pytest.raises((pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError)):
        lf.collect(engine=_engine(streaming))

    lf = scan(paths, fmt, schema=schema, missing_columns="insert")

    assert_frame_equal(
        lf.collect(engine=_engine(streaming)),
        pl.DataFrame({"1": None, "a": [1, 2], "b": [1, 2]}, schema=schema),
    )

    if not is_npz(fmt):
        # Just one test that `read_parquet` is propagating this argument.
        assert_frame_equal(
            pl.read_parquet(paths, schema=schema, missing_columns="insert"),
            pl.DataFrame({"1": None, "a": [1, 2], "b": [1, 2]}, schema=schema),
        )

    # Issue #19081: If a schema arg is passed, ensure its fields are propagated to the IR,
    # otherwise even if `missing_columns='insert'`, downstream `select()`s etc. will fail with
    # ColumnNotFound if the column is not in the first file.
    lf = scan(paths, fmt, schema=schema, missing_columns="insert").select("1")

    s = lf.collect(engine=_engine(streaming)).to_series()
    assert s.len() == 2
    assert s.null_count() == 2

    # Test files containing extra columns not in `schema`

    schema = {"a": pl.Int64}

    for missing_columns in ["insert", "raise"]:
        lf = scan(paths, fmt, schema=schema, missing_columns=missing_columns)

        with pytest.raises(pl.exceptions.SchemaError):
            lf.collect(engine=_engine(streaming))

    lf = scan(paths, fmt, schema=schema, extra_columns="ignore").select("a")

    assert_frame_equal(lf.collect(engine="in-memory"), pl.DataFrame({"a": [1, 2]}, schema=schema))

    schema = {"a": pl.Int64, "b": pl.Int8}

    lf = scan(paths, fmt, schema=schema)

    with pytest.raises(pl.exceptions.SchemaError, match="data type mismatch for column b: incoming: Int64 != target: Int8"):
        lf.collect(engine=_engine(streaming))


@pytest.mark.parametrize("fmt", fmt_params())
def test_scan_parquet_empty_path_expansion(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(
        pl.exceptions.ComputeError,
        match=(
            (r"failed to retrieve first file schema \(parquet\): " if fmt == "parquet" else r"failed to retrieve first file schema")
            + r".*expanded paths were empty \(path expansion input: "
            ".*Hint: passing a schema can allow this scan to succeed with an empty DataFrame"
        ),
    ):
        scan(tmp_path, fmt).collect()

    # Scan succeeds when schema is provided
    assert_frame_equal(scan(tmp_path, fmt, schema={"x": pl.Int64}).collect(), pl.DataFrame(schema={"x": pl.Int64}))

    assert_frame_equal(
        scan(tmp_path, fmt, schema={"x": pl.Int64}).with_row_index().collect(),
        pl.DataFrame(schema={"x": pl.Int64}).with_row_index(),
    )

    needs_npz_hive(fmt)
    assert_frame_equal(
        scan(tmp_path, fmt, schema={"x": pl.Int64}, hive_schema={"h": pl.String}).collect(),
        pl.DataFrame(schema={"x": pl.Int64, "h": pl.String}),
    )

    assert_frame_equal(
        scan(tmp_path, fmt, schema={"x": pl.Int64}, hive_schema={"h": pl.String}).with_row_index().collect(),
        pl.DataFrame(schema={"x": pl.Int64, "h": pl.String}).with_row_index(),
    )


@fmts
@pytest.mark.parametrize("missing_columns", ["insert", "raise"])
def test_scan_parquet_ignores_dtype_mismatch_for_non_projected_columns_19249(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str, missing_columns: str
) -> None:
    npz_xfail(request, fmt, NPZ1 + "a dtype mismatch in a column the query does not select raises SchemaError", when=not POLARS2)
    paths = [tmp_path / "1", tmp_path / "2"]

    write(pl.DataFrame({"a": 1, "b": 1}, schema={"a": pl.Int32, "b": pl.UInt8}), paths[0], fmt)
    write(pl.DataFrame({"a": 1, "b": 1}, schema={"a": pl.Int32, "b": pl.UInt64}), paths[1], fmt)

    assert_frame_equal(
        scan(paths, fmt, missing_columns=missing_columns).select("a").collect(engine="in-memory"),
        pl.DataFrame({"a": [1, 1]}, schema={"a": pl.Int32}),
    )


@fmts
@pytest.mark.parametrize("streaming", [True, False])
def test_scan_parquet_streaming_row_index_19606(tmp_path: Path, fmt: str, streaming: bool) -> None:
    paths = [tmp_path / f"1.{ext(fmt)}", tmp_path / f"2.{ext(fmt)}"]

    dfs = [pl.DataFrame({"x": i}) for i in range(len(paths))]

    for df, p in zip(dfs, paths, strict=True):
        write(df, p, fmt)

    assert_frame_equal(
        scan(tmp_path, fmt).with_row_index().collect(engine=_engine(streaming)),
        pl.DataFrame({"index": [0, 1], "x": [0, 1]}, schema={"index": pl.UInt32, "x": pl.Int64}),
    )


@fmts
def test_parquet_prefiltering_inserted_column_23268(fmt: str) -> None:
    df = pl.DataFrame({"a": [1, 2, 3, 4]}, schema={"a": pl.Int8})

    f = to_buffer(df, fmt)

    assert_frame_equal(
        scan(f, fmt, schema={"a": pl.Int8, "b": pl.Int16}, missing_columns="insert")
        .filter(pl.col("a") == 3)
        .filter(pl.col("b") == 3)
        .collect(),
        pl.DataFrame(schema={"a": pl.Int8, "b": pl.Int16}),
    )


@pytest.mark.parametrize("fmt", fmt_params())
def test_prefilter_with_n_rows_23790(fmt: str) -> None:
    df = pl.DataFrame({"a": ["A", "B", "C", "D", "E", "F"], "b": [1, 2, 3, 4, 5, 6]})

    # row_group_size=2 for Parquet; npz: blocks of 2 rows.
    f = to_buffer(df, fmt, block_rows=2)

    if not is_npz(fmt):
        import pyarrow.parquet as pq

        md = pq.read_metadata(f)
        assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [2, 2, 2]
        f.seek(0)

    q = scan(f, fmt, n_rows=3).filter(pl.col("b").is_in([1, 3]))

    assert_frame_equal(q.collect(), pl.DataFrame({"a": ["A", "C"], "b": [1, 3]}))

    # With row index / file_path

    f = to_buffer(df, fmt, block_rows=2)
    q = scan(f, fmt, n_rows=3, row_index_name="index", include_file_paths="file_path").filter(pl.col("b").is_in([1, 3]))

    assert_frame_equal(
        q.collect(),
        pl.DataFrame(
            {
                "index": pl.Series([0, 2], dtype=pl.get_index_type()),
                "a": ["A", "C"],
                "b": [1, 3],
                "file_path": "in-mem",
            }
        ),
    )


# --------------------------------------------------------------------------------------------
# test_lazy_ipc.py
# --------------------------------------------------------------------------------------------


@fmts
def test_is_in_type_coercion(tmp_path: Path, fmt: str) -> None:
    foods_path = io_files(tmp_path, fmt) / f"foods1.{ext(fmt)}"
    out = scan(foods_path, fmt).filter(pl.col("category").is_in(("vegetables", "ice cream"))).collect()
    assert out.shape == (7, 4)
    out = scan(foods_path, fmt).select(pl.col("category").alias("cat")).filter(pl.col("cat").is_in(["vegetables"])).collect()
    assert out.shape == (7, 1)


@fmts
def test_scan_slicing_and_count_37_rows(request: pytest.FixtureRequest, tmp_path: Path, fmt: str) -> None:
    npz_xfail(request, fmt, NPZ1 + "slice(999, 1) past the end panics (Option::unwrap() on None in polars-core)", when=not POLARS2)
    # From test_scan_ipc_slicing_and_count_with_custom_metadata: its slice and count
    # assertions (on whole files: the footer-only IPC buffer is an IPC detail).
    df = pl.DataFrame({"a": range(37)})
    path = tmp_path / f"a.{ext(fmt)}"
    write(df, path, fmt, block_rows=10)

    assert_frame_equal(scan(path, fmt).slice(10, 10).collect(), pl.DataFrame({"a": range(10, 20)}))

    assert scan(path, fmt).select(pl.len()).collect().item() == 37

    assert scan(3 * [path], fmt).select(pl.len()).collect().item() == 111

    for offset_len in [(0, 0), (-1, 0), (1, 0), (-999, 1), (999, 1)]:
        assert scan([path, path], fmt).slice(*offset_len).collect().height == 0

    assert scan([path, path], fmt).slice(47, 1).select(pl.len()).collect().item() == 1
    assert scan([path, path], fmt).slice(47, 999).select(pl.len()).collect().item() == 27


@fmts
def test_scan_ipc_slice_empty_file(tmp_path: Path, fmt: str) -> None:
    dfs = [
        pl.DataFrame({"a": range(0)}),
        pl.DataFrame({"a": range(100)}),
        pl.DataFrame({"a": range(0)}),
        pl.DataFrame({"a": range(100, 200)}),
    ]

    bufs = sources(dfs, fmt, tmp_path)

    expected = pl.concat(dfs).slice(50, 100)
    actual = scan(bufs, fmt).slice(50, 100).collect()

    assert_frame_equal(expected, actual)


# --------------------------------------------------------------------------------------------
# test_lazy_count_star.py
# --------------------------------------------------------------------------------------------


def assert_fast_count(
    lf: pl.LazyFrame,
    expected_count: int,
    *,
    expected_name: str = "len",
    capfd: pytest.CaptureFixture[str],
    plmonkeypatch: PlMonkeyPatch,
) -> None:
    capfd.readouterr()  # resets stderr

    with plmonkeypatch.context() as cx:
        cx.setenv("POLARS_VERBOSE", "1")
        result = lf.collect()
    capture = capfd.readouterr().err
    project_logs = set(re.findall(r"project: \d+", capture))

    # Logs current differ depending on file type / implementation dispatch
    if "FAST COUNT" in lf.explain():
        # * Should be no projections when fast count is enabled
        assert not project_logs
    else:
        # * Otherwise should have at least one `project: 0` (there is 1 per file).
        assert project_logs == {"project: 0"}

    assert result.schema == {expected_name: pl.get_index_type()}
    assert result.item() == expected_count

    # We disable the fast-count optimization to check that the normal scan logic counts as
    # expected.
    plmonkeypatch.setenv("POLARS_NO_FAST_FILE_COUNT", "1")

    capfd.readouterr()

    with plmonkeypatch.context() as cx:
        cx.setenv("POLARS_VERBOSE", "1")
        assert lf.collect().item() == expected_count

    capture = capfd.readouterr().err
    project_logs = set(re.findall(r"project: \d+", capture))

    assert "FAST COUNT" not in lf.explain()
    assert project_logs == {"project: 0"}

    plmonkeypatch.setenv("POLARS_NO_FAST_FILE_COUNT", "0")

    plan = lf.explain()
    assert "FAST COUNT" not in plan


_NO_PROJECT_LOG = "a count logs no 'project: 0' line with POLARS_VERBOSE=1 (Polars' readers log 'project: 0 / N' per file)"


@pytest.mark.parametrize("fmt", fmt_params(xfail=_NO_PROJECT_LOG))
@pytest.mark.parametrize(("pattern", "n_rows"), [("small", 4), ("foods*", 54)])
def test_count_parquet(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fmt: str,
    pattern: str,
    n_rows: int,
    capfd: pytest.CaptureFixture[str],
    plmonkeypatch: PlMonkeyPatch,
) -> None:
    lf = scan(io_files(tmp_path, fmt) / f"{pattern}.{ext(fmt)}", fmt).select(pl.len())
    assert_fast_count(lf, n_rows, capfd=capfd, plmonkeypatch=plmonkeypatch)


@pytest.mark.parametrize(
    "fmt",
    fmt_params(xfail=_NO_PROJECT_LOG),
)
def test_count_projection_pd(
    request: pytest.FixtureRequest, fmt: str, capfd: pytest.CaptureFixture[str], plmonkeypatch: PlMonkeyPatch
) -> None:
    df = pl.DataFrame({"a": range(3), "b": range(3)})

    assert_fast_count(
        scan(to_buffer(df, fmt), fmt).with_row_index().select(pl.all()).select(pl.len()),
        3,
        capfd=capfd,
        plmonkeypatch=plmonkeypatch,
    )
