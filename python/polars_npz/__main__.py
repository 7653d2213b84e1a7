"""Command line: inspect an ``.npz`` archive, run SQL on it, or align it.

polars-npz FILE              print the archive's members
polars-npz FILE "SQL"        run a SQL query; the archive is the table ``npz``
polars-npz align SRC DST     rewrite SRC so every stored member maps without a copy
polars-npz write SRC DST     write a Parquet, CSV or IPC file as an aligned .npz archive
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import polars as pl

from polars_npz._align import align_npz
from polars_npz._internal import NpzError
from polars_npz._members import npz_members
from polars_npz._sink import sink_npz
from polars_npz.scan import scan_npz

TABLE = "npz"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polars-npz",
        description=(
            "Inspect a NumPy .npz archive, or query it with SQL. With only FILE, print one row "
            "per member (name, numpy and Polars types, shape, compression, sizes, whether it "
            f"maps zero-copy). With a query, run it with the archive registered as the table "
            f"'{TABLE}' (each array is a column); only the arrays the query uses are read."
        ),
        epilog=(
            f'example: polars-npz data.npz "SELECT x, y FROM {TABLE} WHERE x > 0 LIMIT 10"\n'
            "also:    polars-npz align SRC DST [--align 64] [--decompress]   "
            "(rewrite an archive so every stored member maps without a copy)\n"
            "         polars-npz write SRC DST [--compress]   (Parquet/CSV/IPC to .npz)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="path to the .npz archive")
    p.add_argument("sql", nargs="?", help=f"SQL query over the table '{TABLE}'")
    p.add_argument("--rows", type=int, default=20, help="rows of the result to print (default 20, -1 for all)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format")
    p.add_argument("--no-mmap", action="store_true", help="read members into memory instead of mapping the file")
    return p


def _print(df: pl.DataFrame, fmt: str, rows: int) -> None:
    if fmt == "csv":
        sys.stdout.write(df.write_csv())
    elif fmt == "json":
        sys.stdout.write(df.write_json() + "\n")
    else:
        with pl.Config(tbl_rows=rows, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=60):
            print(df)


def _align_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polars-npz align",
        description=(
            "Rewrite an .npz archive so that the array data of every stored member starts at an "
            "aligned file offset: numpy loads it unchanged, and polars-npz maps every fixed-width "
            "column without a copy. Member bytes are copied without decoding."
        ),
    )
    p.add_argument("src", help="archive to read")
    p.add_argument("dst", help="archive to write (replaced atomically)")
    p.add_argument("--align", type=int, default=64, help="alignment in bytes, a power of two (default 64)")
    p.add_argument("--decompress", action="store_true", help="store deflated members inflated, so they map too")
    return p


def _write_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polars-npz write",
        description=(
            "Write a Parquet (.parquet), CSV (.csv) or Arrow IPC (.arrow/.ipc/.feather) file as an "
            ".npz archive that numpy loads; stored members are aligned so they map without a copy."
        ),
    )
    p.add_argument("src", help="input file; its format is taken from the extension")
    p.add_argument("dst", help="the .npz archive to write (replaced atomically)")
    p.add_argument("--compress", action="store_true", help="deflate the members (like np.savez_compressed)")
    p.add_argument(
        "--partition-by", action="append", default=None, metavar="COLUMN", help="write a hive-partitioned dataset into dst (repeatable)"
    )
    p.add_argument("--max-rows-per-file", type=int, default=None, metavar="N", help="start a new file once one holds N rows")
    return p


_READERS: dict[str, Callable[[str], pl.LazyFrame]] = {
    ".parquet": pl.scan_parquet,
    ".csv": pl.scan_csv,
    ".arrow": pl.scan_ipc,
    ".ipc": pl.scan_ipc,
    ".feather": pl.scan_ipc,
}


def _write(argv: list[str]) -> int:
    a = _write_parser().parse_args(argv)
    ext = "." + a.src.rsplit(".", 1)[-1].lower() if "." in a.src else ""
    if ext not in _READERS:
        print(f"polars-npz: cannot tell the format of {a.src!r} (use .parquet, .csv, .arrow, .ipc or .feather)", file=sys.stderr)
        return 2
    try:
        # Streamed: memory stays at a few batches whatever the input's size.
        sink_npz(_READERS[ext](a.src), a.dst, compress=a.compress, partition_by=a.partition_by, max_rows_per_file=a.max_rows_per_file)
    except (NpzError, pl.exceptions.PolarsError, OSError) as e:
        print(f"polars-npz: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {a.dst}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["write"]:
        return _write(argv[1:])
    if argv[:1] == ["align"]:
        a = _align_parser().parse_args(argv[1:])
        try:
            align_npz(a.src, a.dst, align=a.align, decompress=a.decompress)
        except (NpzError, OSError) as e:
            print(f"polars-npz: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        print(f"wrote {a.dst}")
        return 0
    args = _parser().parse_args(argv)
    try:
        if args.sql is None:
            df = npz_members(args.file)
            if args.format == "table":
                df = df.drop("error")
                print(f"{args.file}: {df.height} members")
            _print(df, args.format, -1)
        else:
            lf = scan_npz(args.file, memory_map=not args.no_mmap)
            with pl.SQLContext(frames={TABLE: lf}) as ctx:
                df = ctx.execute(args.sql, eager=True)
            _print(df, args.format, args.rows)
    except (NpzError, pl.exceptions.PolarsError, OSError) as e:
        print(f"polars-npz: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
