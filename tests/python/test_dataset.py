"""Datasets of many archives: values against numpy's concatenation, dataset semantics against
pl.scan_parquet of Parquet copies of the same shards (row index, n_rows, tail, slice, hive
columns, file paths), schema checks naming the file, counts from the headers alone."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import needs_polars2
from polars.testing import assert_frame_equal
from polars_npz import NpzError, read_npz, scan_npz, write_npz
from polars_npz._internal import Plan
from test_align import file_mappings

ENGINES = ["streaming", "in-memory"]


def shard_arrays(i: int, rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {
        "t": np.arange(rows, dtype=np.int64) + 1000 * i,
        "x": rng.random(rows),
        "pos": rng.random((rows, 3)).astype(np.float32),
        "name": np.array([f"s{i}-{k}" for k in range(rows)], dtype="U8"),
        "rec": np.array([(k, k / 2) for k in range(rows)], dtype=[("a", "<i4"), ("b", "<f8")]),
    }


@pytest.fixture
def hive(tmp_path: Path) -> tuple[Path, list[Path], list[dict[str, np.ndarray]]]:
    """A hive-partitioned directory of mixed stored and deflated shards (one empty), two in
    most partitions (read as a group) and one alone, with a Parquet copy of each shard beside
    it (same relative path)."""
    root = tmp_path / "npz"
    files, arrays = [], []
    rows = [5, 0, 7, 3, 6, 4, 2]
    for i, n in enumerate(rows):
        part = root / f"year={2020 + i // 4}" / f"site={'ab'[i // 2 % 2]}"
        part.mkdir(parents=True, exist_ok=True)
        a = shard_arrays(i, n)
        path = part / f"part-{i}.npz"
        (np.savez_compressed if i % 2 else np.savez)(path, **a)
        files.append(path)
        arrays.append(a)
        pq = tmp_path / "pq" / path.relative_to(root).with_suffix(".parquet")
        pq.parent.mkdir(parents=True, exist_ok=True)
        read_npz(path).write_parquet(pq)
    return root, files, arrays


def numpy_concat(arrays: list[dict[str, np.ndarray]], name: str) -> np.ndarray:
    return np.concatenate([a[name] for a in arrays])


@pytest.mark.parametrize("engine", ENGINES)
def test_values_equal_numpy_concatenation(hive, engine):
    root, files, arrays = hive
    for source in (root, [str(f) for f in files], str(root / "**" / "*.npz")):
        df = scan_npz(source, hive_partitioning=False).collect(engine=engine)
        assert df.columns == ["t", "x", "pos", "name", "rec"]
        np.testing.assert_array_equal(df["t"].to_numpy(), numpy_concat(arrays, "t"))
        np.testing.assert_array_equal(df["x"].to_numpy(), numpy_concat(arrays, "x"))
        np.testing.assert_array_equal(df["pos"].to_numpy(), numpy_concat(arrays, "pos"))
        assert df["name"].to_list() == numpy_concat(arrays, "name").tolist()
        rec = numpy_concat(arrays, "rec")
        assert df["rec"].struct.field("a").to_list() == rec["a"].tolist()
        assert df["rec"].struct.field("b").to_list() == rec["b"].tolist()


@needs_polars2
@pytest.mark.parametrize("engine", ENGINES)
def test_dataset_semantics_match_scan_parquet(hive, tmp_path, engine):
    root, _, _ = hive
    pq_root = tmp_path / "pq"

    def both(**kw):
        return scan_npz(root, **kw), pl.scan_parquet(pq_root, **kw)

    queries = [
        lambda lf: lf,
        lambda lf: lf.select("t", "year", "site"),
        lambda lf: lf.head(9),
        lambda lf: lf.tail(4),
        lambda lf: lf.slice(3, 8),
        lambda lf: lf.slice(6, 100),
        lambda lf: lf.select(pl.len()),
        lambda lf: lf.filter(pl.col("year") == 2021).select("t", "year"),
        lambda lf: lf.filter(pl.col("x") > 0.5).select("t"),
        lambda lf: lf.with_row_index("i", offset=5).slice(2, 9),
        lambda lf: lf.group_by("site").agg(pl.col("t").sum()).sort("site"),
    ]
    for kw in (
        {},
        {"n_rows": 10},
        {"row_index_name": "ri", "row_index_offset": 100},
        {"include_file_paths": "path"},
        {"hive_partitioning": False},
        {"hive_schema": {"year": pl.Int16, "site": pl.String}},
    ):
        ours, theirs = both(**kw)
        assert ours.collect_schema() == theirs.collect_schema()
        for k, q in enumerate(queries):
            if kw.get("hive_partitioning") is False and k in (1, 7, 10):
                continue  # these queries use the hive columns
            a, b = q(ours).collect(engine=engine), q(theirs).collect(engine=engine)
            if "path" in a.columns:
                a = a.with_columns(pl.col("path").str.replace(r".*/npz/", "").str.replace(r"\.npz$", ""))
                b = b.with_columns(pl.col("path").str.replace(r".*/pq/", "").str.replace(r"\.parquet$", ""))
            assert_frame_equal(a, b, check_dtypes=True)


@needs_polars2
def test_count_reads_headers_only(tmp_path):
    """len() succeeds over shards whose deflated data is corrupt after the headers, while
    reading the data fails: the count never inflates array data."""
    files = []
    for i in range(3):
        p = tmp_path / f"c{i}.npz"
        np.savez_compressed(p, x=np.random.default_rng(i).random(50_000), y=np.arange(50_000))
        files.append(p)
    bad = tmp_path / "c1.npz"
    data = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as z:
        info = z.getinfo("x.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    # Well past the header's compressed bytes: garbage in the middle of the deflate stream.
    for k in range(start + 2000, start + 6000):
        data[k] ^= 0x5A
    bad.write_bytes(bytes(data))
    lf = scan_npz(files)
    assert lf.select(pl.len()).collect().item() == 150_000
    with pl.SQLContext(frames={"d": lf}) as ctx:
        assert ctx.execute("SELECT COUNT(*) AS n FROM d", eager=True)["n"].item() == 150_000
    with pytest.raises(NpzError, match=r"c1\.npz.*x\.npy"):
        lf.select(pl.col("x").sum()).collect()
    assert lf.select(pl.col("y").sum()).collect().item() == 3 * sum(range(50_000))


@needs_polars2
@pytest.mark.parametrize("counted_at_scan", [True, False])
def test_count_from_the_scan_or_from_the_readers(tmp_path, monkeypatch, counted_at_scan):
    """A local dataset's rows are counted from the headers when scanned, so that Polars answers
    len() without creating a reader (proof: the files are gone by then); past the file limit
    the readers count, reading headers only. Both give the counts of pl.scan_parquet, also
    with n_rows, slices and hive filters."""
    import polars_npz._dataset as dataset

    if not counted_at_scan:
        monkeypatch.setattr(dataset, "_COUNT_AT_SCAN_MAX", 2)
    root = tmp_path / "npz"
    for i, n in enumerate([4, 0, 9, 6]):
        part = root / f"k={i % 2}"
        part.mkdir(parents=True, exist_ok=True)
        arrays = {"x": np.arange(n, dtype=np.float64) + i}
        (np.savez_compressed if i % 2 else np.savez)(part / f"s{i}.npz", **arrays)
        pq = tmp_path / "pq" / f"k={i % 2}" / f"s{i}.parquet"
        pq.parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(arrays).write_parquet(pq)
    queries = [
        lambda lf: lf.select(pl.len()),
        lambda lf: lf.head(5).select(pl.len()),
        lambda lf: lf.slice(3, 100).select(pl.len()),
        lambda lf: lf.filter(pl.col("k") == 1).select(pl.len()),
    ]
    for q in queries:
        for n_rows in [None, 7]:
            ours = q(scan_npz(root, n_rows=n_rows)).collect().item()
            assert ours == q(pl.scan_parquet(tmp_path / "pq", n_rows=n_rows)).collect().item()
    lf = scan_npz(root)
    for f in root.rglob("*.npz"):
        f.unlink()
    if counted_at_scan:
        assert lf.select(pl.len()).collect().item() == 19
    else:
        with pytest.raises(OSError):
            lf.select(pl.len()).collect()


@needs_polars2
def test_a_file_that_cannot_be_counted_fails_the_query_not_the_scan(tmp_path):
    """Counting at scan time is an optimization: a broken file still fails where any read of
    it does, naming it."""
    np.savez(tmp_path / "a.npz", x=np.arange(3))
    (tmp_path / "b.npz").write_bytes(b"PK\x03\x04 not really a zip")
    lf = scan_npz([tmp_path / "a.npz", tmp_path / "b.npz"])
    with pytest.raises(NpzError, match=r"b\.npz"):
        lf.select(pl.len()).collect()


def test_schema_mismatches_name_the_file(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, x=np.arange(3), y=np.arange(3.0))
    np.savez(b, x=np.arange(3.0), y=np.arange(3.0))
    with pytest.raises(NpzError, match=r"b\.npz.*column x: incoming: Float64 != target: Int64"):
        scan_npz([a, b]).collect()
    np.savez(b, x=np.arange(2))
    with pytest.raises(NpzError, match=r"b\.npz.*did not find column y"):
        scan_npz([a, b]).collect()
    got = scan_npz([a, b], missing_columns="insert").collect()
    assert got["y"].to_list() == [0.0, 1.0, 2.0, None, None]
    np.savez(b, x=np.arange(2), y=np.arange(2.0), z=np.arange(2))
    with pytest.raises(NpzError, match=r"b\.npz.*extra column.*: z"):
        scan_npz([a, b]).collect()
    got = scan_npz([a, b], extra_columns="ignore").collect()
    assert got.columns == ["x", "y"] and got.height == 5
    # A schema given up front is the one every file is checked against.
    got = scan_npz([a, b], schema={"x": pl.Int64}, extra_columns="ignore").collect()
    assert got.columns == ["x"] and got["x"].to_list() == [0, 1, 2, 0, 1]


@needs_polars2
@pytest.mark.parametrize("engine", ENGINES)
def test_groups_of_small_files_read_like_single_files(tmp_path, monkeypatch, engine):
    """Small files of one directory are read in groups (here of at most 3): columns missing
    from some files of a group are nulls, slices and row indexes cross group and file
    boundaries, and every value equals reading the files one by one."""
    import polars_npz._dataset as dataset

    monkeypatch.setattr(dataset, "_GROUP_FILES", 3)
    files, frames = [], []
    for i, n in enumerate([4, 0, 5, 3, 6, 2, 7, 1]):
        p = tmp_path / f"g{i}.npz"
        a = {"t": np.arange(n, dtype=np.int64) + 100 * i, "s": np.array([f"v{i}"] * n, dtype="U3")}
        if i % 3 != 1:
            a["w"] = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
        (np.savez_compressed if i % 2 else np.savez)(p, **a)
        files.append(p)
        frames.append(read_npz(p))
    assert len(Plan([str(f) for f in files]).groups(dataset._GROUP_FILES, dataset._GROUP_BYTES)) == 3
    expected = pl.concat(frames, how="diagonal").select("t", "s", "w")
    lf = scan_npz(tmp_path, missing_columns="insert")
    assert_frame_equal(lf.collect(engine=engine), expected)
    for q in [
        lambda f: f.slice(3, 9),
        lambda f: f.tail(5),
        lambda f: f.head(0),
        lambda f: f.select("w").slice(8, 7),
        lambda f: f.with_row_index("i", offset=7).slice(4, 12),
        lambda f: f.select(pl.len()),
        lambda f: f.filter(pl.col("t") % 2 == 0).select("t", "w"),
    ]:
        assert_frame_equal(q(lf).collect(engine=engine), q(expected.lazy()).collect())
    with pytest.raises(NpzError, match=r"g1\.npz.*did not find column w"):
        scan_npz(tmp_path).collect(engine=engine)


def test_zero_d_members_broadcast_within_their_file(tmp_path):
    files = []
    for i, n in enumerate([2, 3]):
        p = tmp_path / f"z{i}.npz"
        np.savez(p, x=np.arange(n), scale=np.float64(i + 0.5))
        files.append(p)
    df = scan_npz(files).collect()
    assert df["scale"].to_list() == [0.5, 0.5, 1.5, 1.5, 1.5]
    assert scan_npz(files).select("scale").collect()["scale"].to_list() == [0.5, 0.5, 1.5, 1.5, 1.5]
    assert scan_npz(files).select(pl.len()).collect().item() == 5


def test_no_match_and_empty_directory_are_clear_errors(tmp_path):
    with pytest.raises(pl.exceptions.ComputeError, match="expanded paths were empty"):
        scan_npz(str(tmp_path / "*.npz")).collect()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("x")
    with pytest.raises(pl.exceptions.ComputeError, match="expanded paths were empty"):
        scan_npz(tmp_path / "d").collect()


def test_directory_ignores_other_files_and_reads_in_sorted_order(tmp_path):
    for name in ["b.npz", "a.npz", "sub/c.npz"]:
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        np.savez(p, x=np.array([ord(name[-5])]))
    (tmp_path / "readme.txt").write_text("not an archive")
    assert scan_npz(tmp_path).collect()["x"].to_list() == [ord("a"), ord("b"), ord("c")]


def test_aligned_datasets_stay_zero_copy(tmp_path):
    files = []
    for i in range(2):
        p = tmp_path / f"w{i}.npz"
        write_npz(pl.DataFrame({"v": np.arange(1000, dtype=np.float64) + i}), p)
        files.append(p)
    lf = scan_npz(files)
    # Each file's batch is a view of that file's mapping.
    for i, f in enumerate(files):
        df = lf.slice(1000 * i, 1000).collect()
        view = df["v"].to_numpy(allow_copy=False)
        ranges = file_mappings(f)
        assert any(lo <= view.ctypes.data < hi for lo, hi in ranges), (f, hex(view.ctypes.data), ranges)
        np.testing.assert_array_equal(view, np.arange(1000.0) + i)
    # Read whole, the files (one group) are chunks of the column, each a view of its file.
    chunks = lf.collect()["v"].get_chunks()
    assert len(chunks) == 2
    for f, chunk in zip(files, chunks):
        address = chunk.to_numpy(allow_copy=False).ctypes.data
        assert any(lo <= address < hi for lo, hi in file_mappings(f)), f


@needs_polars2
@pytest.mark.parametrize("compressed", [False, True])
def test_streaming_a_dataset_keeps_memory_bounded(tmp_path, compressed):
    """A streaming sum over 192 shards of 2 MiB of float64 (384 MiB), read without a mapping
    so that every byte read is heap memory, in groups: in a fresh process, the high-water mark
    grows by what is in flight (Polars' own read-ahead of several sources, our groups of at
    most 16 MiB; about 110 MiB here, engine start-up included), not by the dataset."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    x = rng.random(262_144)
    for i in range(192):
        # Deflated shards of zeros: 2 MiB each once inflated, a few KiB on disk, so a group
        # holds many; the bound is on their inflated size.
        (np.savez_compressed if compressed else np.savez)(tmp_path / f"s{i:03d}.npz", x=np.zeros_like(x) if compressed else x)
    code = (
        "import sys, polars as pl, polars_npz\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "lf = polars_npz.scan_npz(sys.argv[1], memory_map=False)\n"
        "base = hwm()\n"
        "total = lf.select(pl.col('x').sum()).collect(engine='streaming').item()\n"
        "print('SUM', total)\n"
        "print('GROWTH_KB', hwm() - base)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert float(out.split("SUM")[1].split()[0]) == pytest.approx(0.0 if compressed else 192 * x.sum())
    growth_kb = int(out.split("GROWTH_KB")[1])
    assert growth_kb < 192 * 1024, f"streaming 384 MiB grew memory by {growth_kb} KiB"
