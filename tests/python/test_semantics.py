"""Results that were once silently wrong, each checked against Polars' own Parquet scan of the
same data (or against the data as written): files listed twice, recursive globs, hive roots,
files rewritten in place after a scan, per-selection heights of ragged archives, filters with
inserted missing columns, paths as Polars takes them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from polars.testing import assert_frame_equal
from polars_npz import NpzError, scan_npz, write_npz

FORMATS = ["stored", "deflated"]


def frame(i: int, rows: int = 5) -> pl.DataFrame:
    return pl.DataFrame({"x": np.arange(rows, dtype=np.int64) + 100 * i, "y": np.linspace(0, 1, rows) + i})


def twin(path: Path, df: pl.DataFrame, fmt: str) -> tuple[Path, Path]:
    """`df` written as `path` (.npz) and beside it as Parquet (same name, .parquet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(df, path, compress=fmt == "deflated")
    pq = path.with_suffix(".parquet")
    df.write_parquet(pq)
    return path, pq


def pq_of(source):
    if isinstance(source, (list, tuple)):
        return [pq_of(s) for s in source]
    s = os.fspath(source)
    return s[: -len(".npz")] + ".parquet" if s.endswith(".npz") else s


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_listed_twice_is_read_twice(tmp_path, fmt):
    p, _q = twin(tmp_path / "a.npz", frame(0), fmt)
    for sources in ([p, p], [p] * 65, [p, tmp_path / "b.npz", p]):
        if not (tmp_path / "b.npz").exists():
            twin(tmp_path / "b.npz", frame(1), fmt)
        want = pl.scan_parquet(pq_of(sources)).collect()
        got = scan_npz(sources).collect()
        assert_frame_equal(got, want)
        assert scan_npz(sources).select(pl.len()).collect().item() == want.height
        assert_frame_equal(
            scan_npz(sources).with_row_index().tail(3).collect(), pl.scan_parquet(pq_of(sources)).with_row_index().tail(3).collect()
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_directory_listed_twice_is_read_twice(tmp_path, fmt):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(3):
        write_npz(frame(i), d / f"{i}.npz", compress=fmt == "deflated")
    got = scan_npz([d, d]).collect()
    assert got.height == 30
    assert_frame_equal(got, pl.concat([scan_npz(d).collect()] * 2))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_recursive_glob_matches_each_file_once(tmp_path, fmt):
    for i, sub in enumerate(["a", "a/b", "a/b/c"]):
        twin(tmp_path / sub / f"f{i}.npz", frame(i), fmt)
    for pattern in ["**/*.npz", "**/**/*.npz", "a/**/**/*.npz"]:
        got = scan_npz(str(tmp_path / pattern)).collect()
        want = pl.scan_parquet(str(tmp_path / pattern.replace(".npz", ".parquet"))).collect()
        assert_frame_equal(got, want)
        assert got.height == 15


@needs_polars2
@pytest.mark.parametrize("fmt", FORMATS)
def test_hive_keys_come_only_from_below_the_scanned_directory(tmp_path, fmt):
    for a in (1, 2):
        for b in (3, 4):
            npz = tmp_path / "npz" / f"a={a}" / f"b={b}" / "f.npz"
            npz.parent.mkdir(parents=True)
            write_npz(frame(a * 10 + b), npz, compress=fmt == "deflated")
            pq = tmp_path / "pq" / f"a={a}" / f"b={b}" / "f.parquet"
            pq.parent.mkdir(parents=True)
            frame(a * 10 + b).write_parquet(pq)
    root = tmp_path / "npz" / "a=1"
    got = scan_npz(root, hive_partitioning=True).collect()
    want = pl.scan_parquet(tmp_path / "pq" / "a=1", hive_partitioning=True).collect()
    assert got.columns == want.columns == ["x", "y", "b"]
    assert_frame_equal(got, want)
    # The default (hive on for a directory) and the whole tree.
    assert scan_npz(root).collect().columns == ["x", "y", "b"]
    assert_frame_equal(scan_npz(tmp_path / "npz").collect(), pl.scan_parquet(tmp_path / "pq").collect())
    # A glob or a list of files: the whole path, as Polars.
    glob = str(tmp_path / "npz" / "a=1" / "*" / "*.npz")
    assert_frame_equal(
        scan_npz(glob, hive_partitioning=True).collect(),
        pl.scan_parquet(str(tmp_path / "pq" / "a=1" / "*" / "*.parquet"), hive_partitioning=True).collect(),
    )


@needs_polars2
def test_hive_schema_turns_hive_partitioning_on(tmp_path):
    twin(tmp_path / "npz" / "k=7" / "f.npz", frame(0), "stored")
    got = scan_npz(tmp_path / "npz" / "*" / "*.npz", hive_schema={"k": pl.Int8}).collect()
    assert got.schema["k"] == pl.Int8 and got["k"].unique().to_list() == [7]
    with pytest.raises(pl.exceptions.ComputeError, match="hive"):
        scan_npz(tmp_path / "npz", hive_schema={"k": pl.Int8}, hive_partitioning=False).collect()


def rewrite(path: Path, df: pl.DataFrame, fmt: str) -> None:
    """Rewrite `path` in place (the same inode: truncated and written again)."""
    tmp = path.with_name("new-" + path.name)
    write_npz(df, tmp, compress=fmt == "deflated")
    data = tmp.read_bytes()
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)
    # A modification time of its own, even on a file system with coarse timestamps.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("memory_map", [True, False])
@pytest.mark.parametrize("rows", [5, 50_000, 200_000])
@pytest.mark.parametrize("which", ["single", "first of two", "second of two"])
def test_a_file_rewritten_in_place_after_the_scan_is_refused(tmp_path, fmt, memory_map, rows, which):
    a = tmp_path / "a.npz"
    b = tmp_path / "b.npz"
    old = pl.DataFrame({"x": np.arange(50_000, dtype=np.int64), "y": np.arange(50_000, dtype=np.float64)})
    write_npz(old, a, compress=fmt == "deflated")
    write_npz(old, b, compress=fmt == "deflated")
    lf = scan_npz(a, memory_map=memory_map) if which == "single" else scan_npz([a, b], memory_map=memory_map)
    target = b if which == "second of two" else a
    new = pl.DataFrame({"x": -np.arange(rows, dtype=np.int64) - 7, "y": np.full(rows, 3.5)})
    rewrite(target, new, fmt)
    # Either an error naming the file, or the rows as they were when scanned: never a mixture.
    try:
        got = lf.collect()
    except NpzError as e:
        assert target.name in str(e) and "changed" in str(e)
        return
    expected = old if which == "single" else pl.concat([old, old])
    assert_frame_equal(got, expected)


@pytest.mark.parametrize("memory_map", [True, False])
def test_a_file_replaced_by_rename_reads_as_scanned(tmp_path, memory_map):
    a = tmp_path / "a.npz"
    write_npz(frame(0), a)
    lf = scan_npz(a, memory_map=memory_map)
    write_npz(frame(9), tmp_path / "b.npz")
    os.replace(tmp_path / "b.npz", a)
    assert_frame_equal(lf.collect(), frame(0))


@needs_polars2
@pytest.mark.parametrize("compressed", [False, True])
def test_each_selection_of_a_ragged_archive_has_its_own_height(tmp_path, compressed):
    p = tmp_path / "sparse.npz"
    (np.savez_compressed if compressed else np.savez)(
        p, indices=np.arange(7, dtype=np.int32), indptr=np.arange(4, dtype=np.int32), shape=np.array([3, 3]), format=np.array("csr")
    )
    for source in (p, [p, p]):
        lf = scan_npz(source)
        k = 1 if source is p else 2
        for col, n in [("indices", 7), ("indptr", 4), ("shape", 2)]:
            assert lf.select(col).collect().height == k * n
            assert lf.select(pl.col(col).count()).collect().item() == k * n
            assert lf.select(col).head(3).collect().height == min(3, k * n)
            assert lf.select(col).filter(pl.col(col) >= 1).collect().height == k * int((np.load(p)[col] >= 1).sum())
            # Polars turns these into counts that name no column: refused, never another
            # column's height.
            for query in (lf.select(col).select(pl.len()), lf.select(pl.col(col).len()), lf.select(col).tail(2)):
                with pytest.raises(NpzError, match="differ in length"):
                    query.collect()
        with pytest.raises(NpzError, match="differ in length"):
            lf.select(pl.len()).collect()
        # Columns of different lengths together: an error, not a frame of one of their heights.
        with pytest.raises(NpzError):
            lf.select("indices", "indptr").collect()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_filter_with_columns_inserted_for_missing_ones(tmp_path, fmt, engine):
    p, q = twin(tmp_path / "a.npz", pl.DataFrame({"x": [1, 2, 3]}), fmt)
    p2, q2 = twin(tmp_path / "b.npz", pl.DataFrame({"x": [4, 5], "s": ["u", "v"]}), fmt)
    schema = {"x": pl.Int64, "s": pl.String}
    for pred in [pl.col("x") > 1, pl.col("s") == "v", pl.col("s").is_null()]:
        got = scan_npz([p, p2], schema=schema, missing_columns="insert").filter(pred).collect(engine=engine)
        want = pl.scan_parquet([q, q2], schema=schema, missing_columns="insert").filter(pred).collect(engine=engine)
        assert_frame_equal(got, want)


def test_paths_as_polars_takes_them(tmp_path, monkeypatch):
    d = tmp_path / "my dir"
    p, _q = twin(d / "a.npz", frame(0), "stored")
    want = frame(0)
    for given in [f"file://{p}", f"file:{p}", f"file://{str(p).replace(' ', '%20')}", f"file://localhost{p}"]:
        assert_frame_equal(scan_npz(given).collect(), want)
    with pytest.raises(pl.exceptions.ComputeError, match="hostname"):
        scan_npz(f"file://elsewhere{p}").collect()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert_frame_equal(scan_npz("~/my dir/a.npz").collect(), want)
    assert_frame_equal(scan_npz(["~/my dir/a.npz"]).collect(), want)


def test_empty_files_and_hidden_names_expand_as_in_polars(tmp_path):
    d = tmp_path / "d"
    for name in ["a", ".hidden", "_under"]:
        twin(d / f"{name}.npz", frame(len(name)), "stored")
    (d / "empty.npz").write_bytes(b"")
    (d / "empty.parquet").write_bytes(b"")
    for pattern in ["*.npz", ".*.npz"]:
        got = scan_npz(str(d / pattern)).collect()
        want = pl.scan_parquet(str(d / pattern.replace(".npz", ".parquet"))).collect()
        assert_frame_equal(got, want)
    got = scan_npz(d, hive_partitioning=False).collect()
    want = pl.concat([frame(len(n)) for n in sorted(["a", ".hidden", "_under"])])
    assert_frame_equal(got, want)


@needs_polars2  # Polars 1.x: a dataset is read file by file, each checked when scanned
@pytest.mark.parametrize("fmt", FORMATS)
def test_schema_checks_follow_polars(tmp_path, fmt):
    """Types and presence are checked for the columns read; a column beyond the schema
    always; each error is Polars' own class (and NpzError, naming the file)."""
    a, _qa = twin(tmp_path / "a.npz", pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}), fmt)
    b, _qb = twin(tmp_path / "b.npz", pl.DataFrame({"a": [1.5, 2.0], "b": ["x", "y"]}), fmt)
    c, _qc = twin(tmp_path / "c.npz", pl.DataFrame({"a": [3]}), fmt)
    cases = [
        ([a, b], lambda lf: lf.select("b")),
        ([a, b], lambda lf: lf.select("a")),
        ([a, c], lambda lf: lf.select("a")),
        ([a, c], lambda lf: lf.select("b")),
        ([c, a], lambda lf: lf.select("a")),
    ]
    for sources, query in cases:
        try:
            want: pl.DataFrame | type[Exception] = query(pl.scan_parquet(pq_of(sources))).collect()
        except pl.exceptions.PolarsError as e:
            want = type(e)
        if isinstance(want, pl.DataFrame):
            assert_frame_equal(query(scan_npz(sources)).collect(), want)
        else:
            with pytest.raises(want) as info:
                query(scan_npz(sources)).collect()
            assert isinstance(info.value, NpzError) and info.value.path in {str(b), str(c), str(a)}


def test_nothing_to_read_with_a_schema_is_an_empty_frame(tmp_path):
    schema = {"a": pl.Int64, "s": pl.String}
    for source in ([], str(tmp_path / "zz*.npz")):
        got = scan_npz(source, schema=schema).collect()
        assert_frame_equal(got, pl.scan_parquet(source if source else [], schema=schema).collect())
        assert got.schema == pl.Schema(schema) and got.height == 0
    with pytest.raises(pl.exceptions.ComputeError, match="expanded paths were empty"):
        scan_npz(str(tmp_path / "zz*.npz")).collect()
    with pytest.raises(FileNotFoundError):
        scan_npz(tmp_path / "missing.npz", schema=schema).collect()


def test_a_file_object_can_be_scanned_twice_and_keeps_its_position(tmp_path):
    import io

    p = tmp_path / "a.npz"
    write_npz(frame(0), p)
    f = io.BytesIO(p.read_bytes())
    assert_frame_equal(scan_npz(f).collect(), frame(0))
    assert_frame_equal(scan_npz(f).collect(), frame(0))
    assert f.tell() == 0
    with open(p, "rb") as fh:
        assert_frame_equal(scan_npz(fh).collect(), frame(0))
        assert fh.tell() == 0


def test_schema_and_missing_columns_apply_to_bytes(tmp_path):
    p = tmp_path / "a.npz"
    write_npz(frame(0), p)
    data = p.read_bytes()
    schema = {"y": pl.Float64, "x": pl.Int64, "z": pl.String}
    got = scan_npz(data, schema=schema, missing_columns="insert").collect()
    assert got.columns == ["y", "x", "z"] and got["z"].null_count() == 5
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        scan_npz(data, schema=schema).collect()
    with pytest.raises(pl.exceptions.SchemaError):
        scan_npz(data, schema={"x": pl.Int64}).collect()
    assert scan_npz(data, schema={"x": pl.Int64}, extra_columns="ignore").collect().columns == ["x"]
