"""npz_stream: an archive as an Arrow C stream (PyCapsule interface) read by pyarrow and DuckDB
without Polars in the middle; DuckDB over a scan_npz LazyFrame."""

from __future__ import annotations

import gc
import io
import threading

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import zipcraft
from conftest import needs_polars2
from polars_npz import NpzError, align_npz, npz_stream, read_npz, scan_npz, write_npz
from test_align import file_mappings
from zipcraft import Entry, npy

N = 1000


def arrays(n: int = N) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    trades = np.zeros(n, dtype=[("date", "M8[D]"), ("price", ">f8"), ("volume", "<u4"), ("symbol", "U8")])
    trades["date"] = np.arange(n).astype("M8[D]")
    trades["price"] = rng.random(n)
    trades["volume"] = np.arange(n)
    trades["symbol"] = [f"S{i % 97}" for i in range(n)]
    return {
        "f8": rng.random(n),
        "i4": np.arange(n, dtype=np.int32),
        "be_i8": np.arange(n, dtype=">i8"),
        "u1": (np.arange(n) % 256).astype(np.uint8),
        "f2": rng.random(n).astype(np.float16),
        "f4": rng.random(n).astype(np.float32),
        "flag": rng.random(n) > 0.5,
        "text": np.array([f"row {i} é中" for i in range(n)]),
        "raw": np.array([f"b{i}".encode() for i in range(n)]),
        "grid": rng.random((n, 3)),
        "cube": np.arange(n * 4, dtype=np.int16).reshape(n, 2, 2),
        "fortran": np.asfortranarray(rng.random((n, 2))),
        "stamp": np.datetime64("2026-01-01T00:00", "ns") + np.arange(n).astype("m8[s]"),
        "day": np.arange(n).astype("M8[D]"),
        "wait": np.arange(n).astype("m8[ms]"),
        "trades": trades,
        "scale": np.float64(2.5),
    }


@pytest.fixture(params=["stored", "deflated", "aligned"])
def archive(request, tmp_path):
    path = tmp_path / "a.npz"
    if request.param == "deflated":
        np.savez_compressed(path, **arrays())
    else:
        np.savez(path, **arrays())
    if request.param == "aligned":
        align_npz(path, tmp_path / "b.npz")
        path = tmp_path / "b.npz"
    return path


def test_table_equals_read_npz(archive):
    table = pa.table(npz_stream(archive))
    expected = read_npz(archive).to_arrow()
    assert table.schema == expected.schema
    assert table.equals(expected)
    assert table.num_rows == N


def test_types_as_arrow_sees_them(archive):
    schema = pa.RecordBatchReader.from_stream(npz_stream(archive)).schema
    assert schema.field("f8").type == pa.float64()
    assert schema.field("f2").type == pa.float16()
    assert schema.field("be_i8").type == pa.int64()
    assert schema.field("flag").type == pa.bool_()
    assert schema.field("grid").type == pa.list_(pa.float64(), 3)
    assert schema.field("cube").type == pa.list_(pa.list_(pa.int16(), 2), 2)
    assert schema.field("stamp").type == pa.timestamp("ns")
    assert schema.field("day").type == pa.date32()
    assert schema.field("wait").type == pa.duration("ms")
    assert pa.types.is_struct(schema.field("trades").type)
    assert schema.field("text").type == pa.large_string()  # as Polars' to_arrow() gives them
    assert schema.field("raw").type == pa.large_binary()
    table = pa.table(npz_stream(archive, columns=["text", "trades", "cube", "fortran", "scale"]))
    ref = arrays()
    assert table["text"].to_pylist() == ref["text"].tolist()
    assert table["cube"].to_pylist() == ref["cube"].tolist()
    assert table["fortran"].to_pylist() == ref["fortran"].tolist()
    assert table["scale"].to_pylist() == [2.5] * N
    assert [t["symbol"] for t in table["trades"].to_pylist()[:3]] == ["S0", "S1", "S2"]


def test_schema_capsule_matches_the_batches(archive):
    stream = npz_stream(archive)
    assert pa.schema(stream) == pa.RecordBatchReader.from_stream(stream).schema


@pytest.mark.parametrize(
    ("n_rows", "batch_rows", "sizes"), [(None, 300, [300, 300, 300, 100]), (10, 3, [3, 3, 3, 1]), (0, 5, [0]), (None, 5000, [N])]
)
def test_batches_honour_batch_rows_and_n_rows(archive, n_rows, batch_rows, sizes):
    reader = pa.RecordBatchReader.from_stream(npz_stream(archive, columns=["f8", "text", "scale"], n_rows=n_rows, batch_rows=batch_rows))
    batches = list(reader)
    assert [b.num_rows for b in batches] == sizes
    table = pa.Table.from_batches(batches)
    expected = read_npz(archive, columns=["f8", "text", "scale"], n_rows=n_rows).to_arrow()
    assert table.equals(expected)


def test_default_batches(tmp_path):
    n = 300_000
    data = {"x": np.arange(n, dtype=np.float64), "y": np.arange(n, dtype=np.int32)}
    path = tmp_path / "d.npz"
    np.savez_compressed(path, **data)
    sizes = [b.num_rows for b in pa.RecordBatchReader.from_stream(npz_stream(path))]
    assert sizes == [131_072, 131_072, n - 2 * 131_072]
    write_npz(data, tmp_path / "aligned.npz")
    sizes = [b.num_rows for b in pa.RecordBatchReader.from_stream(npz_stream(tmp_path / "aligned.npz"))]
    assert sizes == [n]  # views of the mapping: one batch


def test_columns_projection_and_order(archive):
    stream = npz_stream(archive, columns=["text", "f8"])
    assert stream.columns == ["text", "f8"]
    assert stream.height == N
    table = pa.table(stream)
    assert table.column_names == ["text", "f8"]
    assert table.equals(read_npz(archive, columns=["text", "f8"]).to_arrow())


def test_empty_selection_keeps_the_row_count(archive):
    table = pa.table(npz_stream(archive, columns=[]))
    assert table.num_columns == 0
    assert table.num_rows == N


def test_each_consumer_reads_from_the_start(archive):
    stream = npz_stream(archive, columns=["i4"], batch_rows=100)
    first = pa.table(stream)
    second = pa.table(stream)
    assert first.equals(second)
    assert first["i4"].to_pylist() == list(range(N))


def test_sources_bytes_and_file_objects(archive):
    data = archive.read_bytes()
    expected = read_npz(archive).to_arrow()
    assert pa.table(npz_stream(data)).equals(expected)
    with open(archive, "rb") as f:
        assert pa.table(npz_stream(f)).equals(expected)
    assert pa.table(npz_stream(io.BytesIO(data), columns=["f8"])).equals(expected.select(["f8"]))


def test_requested_schema_is_ignored(archive):
    stream = npz_stream(archive, columns=["f8"])
    capsule = stream.__arrow_c_stream__(pa.schema([("f8", pa.float32())]).__arrow_c_schema__())
    reader = pa.RecordBatchReader._import_from_c_capsule(capsule)
    assert reader.schema.field("f8").type == pa.float64()


def test_zero_copy_views_of_the_mapping(tmp_path):
    n = 100_000
    path = tmp_path / "z.npz"
    write_npz({"x": np.arange(n, dtype=np.float64), "y": np.arange(n, dtype=np.int64) * 2}, path)
    table = pa.table(npz_stream(path))
    ranges = file_mappings(path)
    assert ranges
    for name in ["x", "y"]:
        chunk = table[name].chunk(0)
        address = chunk.buffers()[1].address
        assert any(lo <= address < hi for lo, hi in ranges), name
    # The table holds the mapping: it outlives the stream and the archive.
    gc.collect()
    assert file_mappings(path)
    np.testing.assert_array_equal(table["x"].to_numpy(), np.arange(n, dtype=np.float64))
    del table, chunk
    gc.collect()
    assert not file_mappings(path)


def test_copied_columns_are_not_in_the_mapping(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, x=np.arange(1000.0))
    table = pa.table(npz_stream(path))
    assert table["x"].to_pylist() == list(np.arange(1000.0))
    address = table["x"].chunk(0).buffers()[1].address
    assert not any(lo <= address < hi for lo, hi in file_mappings(path))


def test_errors_when_the_stream_is_made(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, x=np.arange(3), y=np.arange(4), o=np.array([1, "a"], dtype=object))
    with pytest.raises(NpzError, match="no array named 'nope'"):
        npz_stream(path, columns=["nope"])
    with pytest.raises(NpzError, match=r"different lengths|x.*y|y.*x"):
        npz_stream(path, columns=["x", "y"])
    with pytest.raises(NpzError, match=r"o\.npy"):
        npz_stream(path, columns=["o"])
    with pytest.raises(FileNotFoundError):
        npz_stream(tmp_path / "missing.npz")
    with pytest.raises(NpzError):
        npz_stream(b"not a zip")
    with pytest.raises(TypeError):
        npz_stream(12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        npz_stream(path, columns="x")
    with pytest.raises(ValueError, match="n_rows"):
        npz_stream(path, columns=["x"], n_rows=-1)
    with pytest.raises(ValueError, match="batch_rows"):
        npz_stream(path, columns=["x"], batch_rows=0)


def test_errors_inside_the_stream_name_file_and_member(tmp_path):
    payload = npy(np.arange(10_000, dtype=np.int64))
    e = Entry.deflated("x.npy", payload)
    e.crc ^= 1  # found once the member is wholly inflated: here at once, before any batch
    path = tmp_path / "crc.npz"
    path.write_bytes(zipcraft.build([e]))
    reader = pa.RecordBatchReader.from_stream(npz_stream(path, batch_rows=4000))
    with pytest.raises(Exception, match=r"NpzError.*crc\.npz.*x\.npy.*CRC-32 mismatch") as info:
        reader.read_next_batch()
    assert isinstance(info.value, OSError)
    # A deflate stream cut short, read whole by pyarrow.table and by DuckDB.
    e = Entry.deflated("x.npy", payload)
    e.data = e.data[: len(e.data) // 2]
    path.write_bytes(zipcraft.build([e]))
    with pytest.raises(OSError, match=r"NpzError \(corrupt\).*crc\.npz.*x\.npy"):
        pa.table(npz_stream(path))
    s = npz_stream(path)  # noqa: F841 - DuckDB finds it by name
    with pytest.raises(duckdb.Error, match=r"crc\.npz.*x\.npy"):
        duckdb.sql("SELECT sum(x) FROM s").fetchall()


def test_names_with_nul_bytes_are_refused_not_a_crash(tmp_path):
    # Names in Arrow's C interface are C strings: such a column cannot cross it.
    path = tmp_path / "nul.npz"
    path.write_bytes(zipcraft.build([Entry.stored("a\x00b.npy", npy(np.arange(10))), Entry.stored("ok.npy", npy(np.arange(10)))]))
    with pytest.raises(NpzError, match="NUL byte"):
        npz_stream(path)
    assert pa.table(npz_stream(path, columns=["ok"]))["ok"].to_pylist() == list(range(10))
    fields = np.zeros(3, dtype=[("x\x00y", "<i4")])
    path = tmp_path / "nul_field.npz"
    path.write_bytes(zipcraft.build([Entry.stored("r.npy", npy(fields))]))
    with pytest.raises(NpzError, match="NUL byte"):
        npz_stream(path)


def test_concurrent_consumers(tmp_path):
    path = tmp_path / "t.npz"
    np.savez_compressed(path, x=np.arange(50_000), y=np.arange(50_000) * 0.5)
    stream = npz_stream(path, batch_rows=1000)
    expected = read_npz(path).to_arrow()
    results: list[bool] = []

    def consume() -> None:
        results.append(pa.table(stream).equals(expected))

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4


def test_duckdb_over_the_stream(archive):
    ref = arrays()
    s = npz_stream(archive, columns=["i4", "f8", "text", "stamp", "flag"])  # noqa: F841 - DuckDB finds it by name
    [got] = duckdb.sql("SELECT count(*), sum(i4), max(text), min(stamp) FROM s WHERE flag").fetchall()
    mask = ref["flag"]
    assert got[0] == mask.sum()
    assert got[1] == ref["i4"][mask].sum()
    assert got[2] == max(ref["text"][mask].tolist())
    assert np.datetime64(got[3], "ns") == ref["stamp"][mask].min()
    rel = duckdb.from_arrow(npz_stream(archive, columns=["f8"], batch_rows=128))
    assert rel.aggregate("sum(f8)").fetchall()[0][0] == pytest.approx(ref["f8"].sum())


def test_duckdb_over_a_lazyframe(archive):
    ref = arrays()
    lf = scan_npz(archive).select("i4", "f8")
    got = duckdb.sql("SELECT count(*) AS n, sum(i4) AS s FROM lf WHERE f8 > 0.5").fetchall()
    mask = ref["f8"] > 0.5
    assert got == [(mask.sum(), ref["i4"][mask].sum())]
    lf = scan_npz(archive).select("i4", "text").filter(pl.col("i4") < 10)  # noqa: F841 - DuckDB finds it by name
    rows = duckdb.sql("SELECT text FROM lf ORDER BY i4").fetchall()
    assert [r[0] for r in rows] == ref["text"][:10].tolist()


# On Polars 1.x a scan reads its columns when the query starts, and DuckDB's schema probe
# starts one with every column, the refused member included.
@needs_polars2
def test_duckdb_reads_only_the_columns_a_query_needs_from_a_lazyframe(tmp_path):
    path = tmp_path / "r.npz"
    np.savez(path, x=np.arange(10), o=np.array([1, "a"] * 5, dtype=object))  # o: refused type
    lf = scan_npz(path)  # noqa: F841 - DuckDB finds it by name
    assert duckdb.sql("SELECT sum(x) FROM lf WHERE x > 2").fetchall() == [(42,)]
    assert pa.table(npz_stream(path, columns=["x"]))["x"].to_pylist() == list(range(10))
