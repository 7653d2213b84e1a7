"""Command line: inspect an ``.npz`` archive, run SQL on it, or align it.

polars-npz FILE              print the archive's members
polars-npz FILE "SQL"        run a SQL query; the archive is the table ``npz``
polars-npz align SRC DST     rewrite SRC so every stored member maps without a copy
polars-npz write SRC DST     write a Parquet, CSV or IPC file as an aligned .npz archive

Every FILE, SRC and DST may be a local path or an object-store URL (``s3://``, ``gs://``,
``az://``, ``http(s)://``); the store's settings come from the environment as Polars reads them
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, credentials, ``GOOGLE_*``, ``AZURE_*``) and from
``--storage-option KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from types import TracebackType
from typing import IO

import polars as pl

from polars_npz._align import align_npz
from polars_npz._internal import NpzError
from polars_npz._internal import upload_file as _upload_file
from polars_npz._members import npz_members
from polars_npz._scan import scan_npz
from polars_npz._sink import sink
from polars_npz._source import _open, is_url, storage_pairs

TABLE = "npz"

_STORE_HELP = (
    "an option of the object store, as scan_npz's storage_options take them (aws_region=eu-west-1, "
    "aws_endpoint_url=..., ...; repeatable); settings not given come from the environment (AWS_*, GOOGLE_*, AZURE_*)"
)


def _storage_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"expected KEY=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return key.strip(), value


def _add_storage_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage-option", action="append", type=_storage_option, default=[], metavar="KEY=VALUE", dest="storage_options", help=_STORE_HELP
    )


def _storage_options(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    """The options given, or None: the store then takes every setting from the environment."""
    return dict(pairs) or None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polars-npz",
        description=(
            "Inspect a NumPy .npz archive, or query it with SQL. With only FILE, print one row "
            "per member (name, numpy and Polars types, shape, compression, sizes, whether it "
            f"maps zero-copy). With a query, run it with the archive registered as the table "
            f"'{TABLE}' (each array is a column); only the arrays the query uses are read. "
            "FILE may be an object-store URL (s3://, gs://, az://, http(s)://); a query also takes "
            "a directory, a glob or a prefix (a dataset)."
        ),
        epilog=(
            f'example: polars-npz data.npz "SELECT x, y FROM {TABLE} WHERE x > 0 LIMIT 10"\n'
            '         polars-npz s3://bucket/runs/ "SELECT count(*) FROM npz" --storage-option aws_region=eu-west-1\n'
            "also:    polars-npz align SRC DST [--align 64] [--decompress]   "
            "(rewrite an archive so every stored member maps without a copy)\n"
            "         polars-npz write SRC DST [--compress] [--fill VALUE]   (Parquet/CSV/IPC to .npz)\n"
            "Object stores take their settings from the environment as Polars does (AWS_ENDPOINT_URL,\n"
            "AWS_ALLOW_HTTP, AWS_REGION, credentials; GOOGLE_*, AZURE_*) and from --storage-option."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="the .npz archive: a path or an object-store URL")
    p.add_argument("sql", nargs="?", help=f"SQL query over the table '{TABLE}'")
    p.add_argument("--rows", type=int, default=20, help="rows of the result to print (default 20, -1 for all)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format")
    p.add_argument("--no-mmap", action="store_true", help="read members into memory instead of mapping the file")
    p.add_argument("--max-header-size", type=int, default=10_000, metavar="BYTES", help="largest .npy header accepted (default 10000)")
    _add_storage_option(p)
    return p


def _as_text(s: pl.Series) -> pl.Series:
    """A nested column (CSV holds none) as text: ``[1, 2]`` for a list or array of scalars."""
    if s.dtype.base_type() in (pl.List, pl.Array) and not s.dtype.inner.is_nested():  # type: ignore[attr-defined]
        listed = s.arr.to_list() if s.dtype.base_type() is pl.Array else s
        return ("[" + listed.list.eval(pl.element().cast(pl.String)).list.join(", ") + "]").alias(s.name)
    if s.dtype.base_type() is pl.Struct:
        return s.struct.json_encode()
    return pl.Series(s.name, [None if v is None else str(v) for v in s.to_list()], dtype=pl.String)


def _print(df: pl.DataFrame, fmt: str, rows: int) -> None:
    if fmt == "csv":
        df = df.with_columns(_as_text(s) for s in df.iter_columns() if s.dtype.is_nested())
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
            "column without a copy. Member bytes are copied without decoding. SRC and DST may be "
            "object-store URLs (a remote SRC is fetched member by member first; a remote DST is "
            "uploaded whole once written)."
        ),
    )
    p.add_argument("src", help="archive to read (a path or a URL)")
    p.add_argument("dst", help="archive to write (replaced atomically; a path or a URL)")
    p.add_argument("--align", type=int, default=64, help="alignment in bytes, a power of two (default 64)")
    p.add_argument("--decompress", action="store_true", help="store deflated members inflated, so they map too")
    p.add_argument("--block-rows", type=int, default=None, metavar="N", help="rows per block (default: about 1 MiB of data per block)")
    _add_storage_option(p)
    return p


_FORMATS = {"parquet": "parquet", "csv": "csv", "arrow": "ipc", "ipc": "ipc", "feather": "ipc"}


def _write_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polars-npz write",
        description=(
            "Write a Parquet (.parquet), CSV (.csv) or Arrow IPC (.arrow/.ipc/.feather) file as an "
            ".npz archive that numpy loads; stored members are aligned so they map without a copy. "
            "SRC and DST may be object-store URLs. CSV columns that look like dates or datetimes are "
            "parsed as such (try_parse_dates, as Polars' CSV reader does)."
        ),
    )
    p.add_argument("src", help="input file (a path or a URL); its format is taken from the extension, or --input-format")
    p.add_argument("dst", help="the .npz archive to write (replaced atomically; a path or a URL)")
    p.add_argument("--input-format", choices=sorted(_FORMATS), default=None, help="the format of SRC, when its name does not say")
    p.add_argument("--compress", action="store_true", help="deflate the members (like np.savez_compressed)")
    p.add_argument(
        "--fill",
        default=None,
        metavar="VALUE",
        help="value written in place of nulls where numpy has no null (a number, true/false, or text; temporal nulls become NaT)",
    )
    p.add_argument("--align", type=int, default=64, help="alignment of stored members' data in bytes, a power of two (default 64)")
    p.add_argument(
        "--partition-by", action="append", default=None, metavar="COLUMN", help="write a hive-partitioned dataset into dst (repeatable)"
    )
    p.add_argument("--max-rows-per-file", type=int, default=None, metavar="N", help="start a new file once one holds N rows")
    _add_storage_option(p)
    return p


def _literal(text: str) -> int | float | bool | str:
    """A --fill value: an integer, a float, true/false, or else the text itself."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _input_format(src: str, given: str | None) -> str | None:
    if given is not None:
        return _FORMATS[given]
    name = urllib.parse.urlsplit(src).path if is_url(src) else src  # a URL's query is not its name
    ext = name.rsplit(".", 1)[-1].lower() if "." in os.path.basename(name) else ""
    return _FORMATS.get(ext)


def _reader(fmt: str, src: str, storage_options: dict[str, str] | None) -> pl.LazyFrame:
    if fmt == "csv":
        return pl.scan_csv(src, try_parse_dates=True, storage_options=storage_options)
    if fmt == "parquet":
        return pl.scan_parquet(src, storage_options=storage_options)
    return pl.scan_ipc(src, storage_options=storage_options)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class Progress:
    """A line on stderr, rewritten in place, saying what long work has done so far (rows and
    bytes of a write, the time spent); only when `stream` is a terminal, so that redirected or
    captured output stays clean."""

    def __init__(self, what: str, stream: IO[str] | None = None, interval: float = 0.25) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.what = what
        self.rows = 0
        self.bytes = 0
        self.interval = interval
        self.start = time.monotonic()
        self._width = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def batch(self, df: pl.DataFrame) -> None:
        """Count a batch written (a sink's `on_batch`)."""
        with self._lock:
            self.rows += df.height
            self.bytes += int(df.estimated_size())
        self.show()

    def line(self) -> str:
        done = [f"{self.rows:,} rows, {_size(self.bytes)}"] if self.rows or self.bytes else []
        return f"{self.what}: " + ", ".join([*done, f"{time.monotonic() - self.start:.1f} s"])

    def show(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            text = self.line()
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            self._width = len(text)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.show()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="polars-npz-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.enabled:
            # Leave the last state on its line, then go on below it.
            self.show()
            self.stream.write("\n")
            self.stream.flush()


def _fail(e: BaseException) -> int:
    print(f"polars-npz: {type(e).__name__}: {e}", file=sys.stderr)
    return 1


def _write(argv: list[str]) -> int:
    a = _write_parser().parse_args(argv)
    fmt = _input_format(a.src, a.input_format)
    if fmt is None:
        print(
            f"polars-npz: cannot tell the format of {a.src!r} (use .parquet, .csv, .arrow, .ipc or .feather, or --input-format)",
            file=sys.stderr,
        )
        return 2
    opts = _storage_options(a.storage_options)
    fill = None if a.fill is None else _literal(a.fill)
    try:
        with Progress(f"writing {a.dst}") as progress:
            # Streamed: memory stays at a few batches whatever the input's size.
            sink(
                _reader(fmt, a.src, opts),
                a.dst,
                compress=a.compress,
                align=a.align,
                fill=fill,
                partition_by=a.partition_by,
                max_rows_per_file=a.max_rows_per_file,
                storage_options=opts,
                on_batch=progress.batch,
            )
    except (NpzError, pl.exceptions.PolarsError, OSError, ValueError) as e:
        # Nulls numpy cannot hold: say the flag (the library's messages name fill=, or nothing).
        message = str(e).replace(" (pass fill=...)", "")
        if "numpy has no nulls" in message:
            message += " (pass --fill VALUE)"
        print(f"polars-npz: {type(e).__name__}: {message}", file=sys.stderr)
        return 1
    print(f"wrote {a.dst}")
    return 0


def _fetch(url: str, local: str, storage_options: dict[str, str] | None, max_header_size: int = 10_000) -> None:
    """Copy the archive at `url` to the local path `local`, member by member (each with ranged
    requests), stored members stored and deflated ones deflated (fast: align writes them again
    in blocks anyway)."""
    archive = _open(url, False, max_header_size, False, storage_options)
    with zipfile.ZipFile(local, "w", allowZip64=True) as zf:
        for row in archive.members():
            name = row["member"]
            deflated = row["compression"] != "stored"
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
            zf.writestr(info, bytes(archive.member_bytes(name)), compresslevel=1 if deflated else None)


def _align(argv: list[str]) -> int:
    a = _align_parser().parse_args(argv)
    opts = _storage_options(a.storage_options)
    try:
        with tempfile.TemporaryDirectory(prefix="polars-npz-align-") as staging:
            src, dst = a.src, a.dst
            if is_url(src):
                with Progress(f"fetching {a.src}"):
                    src = os.path.join(staging, "src.npz")
                    _fetch(a.src, src, opts)
            if is_url(dst):
                dst = os.path.join(staging, "dst.npz")
            size = os.path.getsize(src) if os.path.exists(src) else 0
            with Progress(f"aligning {a.src} ({_size(size)})"):
                align_npz(src, dst, align=a.align, decompress=a.decompress, block_rows=a.block_rows)
            if dst != a.dst:
                with Progress(f"uploading {a.dst} ({_size(os.path.getsize(dst))})"):
                    _upload_file(dst, a.dst, storage_pairs(opts))
    except (NpzError, OSError, ValueError) as e:
        return _fail(e)
    print(f"wrote {a.dst}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["write"]:
        return _write(argv[1:])
    if argv[:1] == ["align"]:
        return _align(argv[1:])
    args = _parser().parse_args(argv)
    opts = _storage_options(args.storage_options)
    try:
        if args.sql is None:
            df = npz_members(args.file, storage_options=opts, max_header_size=args.max_header_size)
            if args.format == "table":
                df = df.drop("error")
                print(f"{args.file}: {df.height} members")
            _print(df, args.format, -1)
        else:
            lf = scan_npz(args.file, memory_map=not args.no_mmap, max_header_size=args.max_header_size, storage_options=opts)
            with pl.SQLContext(frames={TABLE: lf}) as ctx:
                df = ctx.execute(args.sql, eager=True)
            _print(df, args.format, args.rows)
    except (NpzError, pl.exceptions.PolarsError, OSError) as e:
        return _fail(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
