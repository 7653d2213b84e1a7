"""Shared by the ports of Polars' own scan tests (test_polars_scans.py, test_polars_hive.py).

Every ported test runs once per format: "parquet" (Polars' own reader, the reference),
"npz-stored" and "npz-deflated" (`write_npz(..., compress=False|True)` read by `scan_npz`).
Only how files are written and scanned differs between the formats: `write` / `scan` dispatch
to `DataFrame.write_parquet` / `pl.scan_parquet` or to `write_npz` / `scan_npz`.
"""

from __future__ import annotations

import inspect
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars_npz import scan_npz, write_npz
from polars_npz._dataset import has_multi_file_scan

FORMATS = ("parquet", "npz-stored", "npz-deflated")


def _version() -> tuple[int, int]:
    parts = pl.__version__.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)


POLARS_VERSION = _version()
POLARS2 = POLARS_VERSION >= (2, 0)


def is_npz(fmt: str) -> bool:
    return fmt != "parquet"


def ext(fmt: str) -> str:
    """File suffix of the format, without the dot (Polars' tests use `.parquet`; here `.npz` for npz)."""
    return "parquet" if fmt == "parquet" else "npz"


def write(df: pl.DataFrame, path: str | os.PathLike[str] | io.BytesIO, fmt: str, *, block_rows: int | None = None) -> None:
    """`df` to `path` (or into a BytesIO) in `fmt`. `block_rows` is npz's analogue of a row group size."""
    if fmt == "parquet":
        if block_rows is None:
            df.write_parquet(path)
        else:
            df.write_parquet(path, row_group_size=block_rows)
        return
    if isinstance(path, io.IOBase):
        path.write(npz_bytes(df, fmt, block_rows=block_rows))
        return
    write_npz(df, path, compress=fmt == "npz-deflated", block_rows=block_rows)


def npz_bytes(df: pl.DataFrame, fmt: str, *, block_rows: int | None = None) -> bytes:
    """An npz archive of `df`, as bytes (write_npz writes to paths only)."""
    with tempfile.TemporaryDirectory(prefix="polars-formats-") as d:
        p = os.path.join(d, "buf.npz")
        write_npz(df, p, compress=fmt == "npz-deflated", block_rows=block_rows)
        with open(p, "rb") as f:
            return f.read()


def to_buffer(df: pl.DataFrame, fmt: str, *, block_rows: int | None = None) -> io.BytesIO:
    """`df` written in `fmt` into a BytesIO, positioned at 0 (Polars' tests write to BytesIO)."""
    f = io.BytesIO()
    write(df, f, fmt, block_rows=block_rows)
    f.seek(0)
    return f


def sources(dfs: list[pl.DataFrame], fmt: str, tmp_path: Path) -> list[Any]:
    """The sources of a multi-source scan of `dfs`: BytesIO buffers for Parquet (as in Polars'
    tests), files for npz (scan_npz takes one buffer, not a list of them: that gap is recorded
    once, by test_scan_in_memory)."""
    if not is_npz(fmt):
        return [to_buffer(df, fmt) for df in dfs]
    d = Path(tempfile.mkdtemp(prefix="srcs-", dir=tmp_path))
    out = []
    for i, df in enumerate(dfs):
        p = d / f"{i:05}.npz"
        write(df, p, fmt)
        out.append(p)
    return out


def scan(source: Any, fmt: str, **kwargs: Any) -> pl.LazyFrame:
    if fmt == "parquet":
        return pl.scan_parquet(source, **kwargs)
    return scan_npz(source, **kwargs)


def write_partitioned(df: pl.DataFrame, root: Path, by: str | list[str], fmt: str, *, include_key: bool = True) -> None:
    """`df` as a hive-partitioned dataset under `root` (`key=value/.../00000000.<ext>`), laid out
    by Polars' own partitioned Parquet writer (value formatting and escaping included), each
    file then rewritten in `fmt`. `include_key=False` leaves the key columns out of the files
    (as `pyarrow.parquet.write_to_dataset` does)."""
    keys = [by] if isinstance(by, str) else list(by)
    staging = Path(tempfile.mkdtemp(prefix="staging-"))
    try:
        df.write_parquet(staging, partition_by=keys)
        for dirpath, _, files in os.walk(staging):
            for name in files:
                src = Path(dirpath) / name
                part = pl.read_parquet(src, hive_partitioning=False)
                if not include_key:
                    part = part.drop(keys)
                dst = root / src.relative_to(staging).with_suffix(f".{ext(fmt)}")
                dst.parent.mkdir(parents=True, exist_ok=True)
                write(part, dst, fmt)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class PlMonkeyPatch(pytest.MonkeyPatch):
    """Polars' tests/conftest.py PlMonkeyPatch: a MonkeyPatch that has Polars reload its
    ``POLARS_*`` environment variables (Polars 2.x reads them once, e.g. POLARS_VERBOSE)."""

    def setenv(self, name: str, value: str, prepend: str | None = None) -> None:
        super().setenv(name, value, prepend)
        if name.startswith("POLARS_"):
            _reload_env_vars()

    def delenv(self, name: str, raising: bool = True) -> None:
        super().delenv(name, raising)
        if name.startswith("POLARS_"):
            _reload_env_vars()

    def undo(self) -> None:
        super().undo()
        _reload_env_vars()


def _reload_env_vars() -> None:
    reload = getattr(pl.Config, "reload_env_vars", None)
    if reload is not None:
        reload()


def accepts(func: Any, name: str) -> bool:
    """Whether this Polars' `func` takes a keyword `name` (features of newer Polars)."""
    return name in inspect.signature(func).parameters


def needs_npz_hive(fmt: str) -> None:
    """Hive columns of npz datasets come from Polars' multi-file scan (Polars 2.x)."""
    if is_npz(fmt) and not has_multi_file_scan():
        pytest.skip("npz hive needs Polars 2")


def npz_xfail(request: pytest.FixtureRequest, fmt: str, reason: str, *, when: bool = True) -> None:
    """Mark an npz case as a known difference from Parquet (strict: it fails once fixed)."""
    if is_npz(fmt) and when:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"npz differs: {reason}"))


def fmt_params(*, xfail: str | None = None, skip: str | None = None) -> list[Any]:
    """The three formats as parameters; `xfail` (strict) or `skip` the npz ones with a reason."""
    out: list[Any] = []
    for fmt in FORMATS:
        marks: list[Any] = []
        if is_npz(fmt) and xfail is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=f"npz differs: {xfail}"))
        if is_npz(fmt) and skip is not None:
            marks.append(pytest.mark.skip(reason=skip))
        out.append(pytest.param(fmt, marks=marks, id=fmt))
    return out


# Polars' tests/unit/io/files/foods1.parquet and foods2.parquet (foods1.ipc and foods2.ipc hold
# the same rows): category, calories, fats_g, sugars_g.
FOODS1_CSV = """\
category,calories,fats_g,sugars_g
vegetables,45,0.5,2
seafood,150,5,0
meat,100,5,0
fruit,60,0,11
seafood,140,5,1
meat,120,10,1
vegetables,20,0,2
fruit,30,0,5
seafood,130,5,0
fruit,50,4.5,0
meat,110,7,0
vegetables,25,0,2
fruit,30,0,3
vegetables,22,0,3
vegetables,25,0,4
seafood,100,5,0
seafood,200,10,0
seafood,200,7,2
fruit,60,0,11
meat,110,7,0
vegetables,25,0,3
seafood,200,7,2
seafood,130,1.5,0
fruit,130,0,25
meat,100,7,0
vegetables,30,0,5
fruit,50,0,11
"""

FOODS2_CSV = """\
category,calories,fats_g,sugars_g
meat,101,8.0,0
vegetables,44,0.3,3
seafood,129,4.0,1
fruit,49,4.4,0
meat,95,4.0,0
vegetables,24,0.0,1
fruit,123,0.0,24
fruit,59,0.0,9
fruit,27,0.0,2
vegetables,21,0.0,3
fruit,61,0.0,12
vegetables,26,0.0,4
seafood,146,6.0,2
vegetables,23,0.0,2
fruit,51,1.0,13
meat,111,8.0,2
seafood,104,4.0,1
meat,123,12.0,0
seafood,201,8.0,4
vegetables,35,1.0,7
vegetables,21,1.0,3
seafood,133,1.6,1
meat,110,5.0,0
seafood,192,6.0,0
seafood,142,4.0,0
fruit,31,0.0,4
seafood,194,12.0,1
"""

_FOODS_SCHEMA = {"category": pl.String, "calories": pl.Int64, "fats_g": pl.Float64, "sugars_g": pl.Int64}


def foods(n: int) -> pl.DataFrame:
    """Polars' foods<n> test file (n = 1 or 2)."""
    return pl.read_csv(io.StringIO(FOODS1_CSV if n == 1 else FOODS2_CSV), schema=_FOODS_SCHEMA)


def small() -> pl.DataFrame:
    """Polars' tests/unit/io/files/small.parquet."""
    return pl.DataFrame({"a": [1, 2, 3, 4], "b": ["i", "j", "k", "l"], "c": [16200126, 16250130, 17220012, 17290009]})


def io_files(tmp_path: Path, fmt: str) -> Path:
    """A directory holding foods1.<ext>, foods2.<ext> and small.<ext> (Polars' io_files_path)."""
    d = tmp_path / "io_files"
    d.mkdir(exist_ok=True)
    e = ext(fmt)
    write(foods(1), d / f"foods1.{e}", fmt)
    write(foods(2), d / f"foods2.{e}", fmt)
    write(small(), d / f"small.{e}", fmt)
    return d


def format_file_uri(absolute_local_path: str | Path) -> str:
    """Polars' tests/unit/io/conftest.py format_file_uri (POSIX only here)."""
    p = str(absolute_local_path)
    assert p.startswith("/")
    return f"file://{p}"
