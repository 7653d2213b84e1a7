"""An independent reference: what scan_npz must return for an array np.load gave us, written
from the type table of the README without looking at the Rust mapping.

`expected_dtype` gives the Polars type; `expected_rows` the physical values per row as Python
objects (dates as days, datetimes/durations as integer ticks, NaT as None, complex as
[re, im], structs as dicts, sub-arrays as lists), compared with `Series.to_physical()`."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

DIRECT = {"ns", "us", "ms"}
TO_MS = {"s", "m", "h"}
DATE_UNITS = {"D", "W", "M", "Y"}
DURATION_TO_MS = {"s", "m", "h", "D", "W"}


def time_unit(dt: np.dtype) -> str:
    unit, count = np.datetime_data(dt)
    assert count == 1
    return unit


def expected_dtype(dt: np.dtype, shape: tuple[int, ...] = ()) -> pl.DataType:
    if dt.subdtype is not None:
        base, sub = dt.subdtype
        return expected_dtype(base, tuple(sub) + tuple(shape))
    if shape:
        return pl.Array(expected_dtype(dt), shape)
    if dt.names is not None:
        return pl.Struct({name: expected_dtype(dt.fields[name][0]) for name in dt.names})
    kind, size = dt.kind, dt.itemsize
    if kind == "b":
        return pl.Boolean()
    if kind == "i":
        return {1: pl.Int8, 2: pl.Int16, 4: pl.Int32, 8: pl.Int64}[size]()
    if kind == "u":
        return {1: pl.UInt8, 2: pl.UInt16, 4: pl.UInt32, 8: pl.UInt64}[size]()
    if kind == "f":
        return {2: pl.Float16, 4: pl.Float32, 8: pl.Float64}[size]()
    if kind == "c":
        return pl.Array({8: pl.Float32, 16: pl.Float64}[size](), 2)
    if kind == "M":
        unit = time_unit(dt)
        if unit in DIRECT:
            return pl.Datetime(unit)
        return pl.Datetime("ms") if unit in TO_MS else pl.Date()
    if kind == "m":
        unit = time_unit(dt)
        return pl.Duration(unit if unit in DIRECT else "ms")
    if kind == "U":
        return pl.String()
    if kind in "SV":
        return pl.Binary()
    raise AssertionError(f"no reference for {dt}")


def _time_value(x: np.generic, dt: np.dtype) -> int | None:
    if np.isnat(x):
        return None
    unit = time_unit(dt)
    if dt.kind == "M":
        target = unit if unit in DIRECT else ("ms" if unit in TO_MS else "D")
        return int(x.astype(f"M8[{target}]").astype(np.int64))
    target = unit if unit in DIRECT else "ms"
    return int(x.astype(f"m8[{target}]").astype(np.int64))


def _scalar(x: object, dt: np.dtype) -> object:
    if dt.subdtype is not None:
        base, _ = dt.subdtype
        return _nested(np.asarray(x), base)
    if dt.names is not None:
        return {name: _scalar(x[name], dt.fields[name][0]) for name in dt.names}
    kind = dt.kind
    if kind == "b":
        return bool(x)
    if kind in "iu":
        return int(x)
    if kind == "f":
        return float(x)
    if kind == "c":
        return [float(np.real(x)), float(np.imag(x))]
    if kind in "Mm":
        return _time_value(np.asarray(x, dtype=dt)[()], dt)
    if kind == "U":
        return str(x)
    if kind == "S":
        return bytes(x)
    if kind == "V":
        return bytes(np.asarray(x, dtype=dt).tobytes())
    raise AssertionError(dt)


def _nested(a: np.ndarray, dt: np.dtype) -> object:
    if a.ndim == 0:
        return _scalar(a[()], dt)
    return [_nested(a[i, ...], dt) for i in range(a.shape[0])]


def expected_rows(a: np.ndarray, height: int | None = None) -> list[object]:
    """One Python object per row; a 0-d array repeats to `height` rows."""
    if a.ndim == 0:
        return [_scalar(a[()], a.dtype)] * (1 if height is None else height)
    return [_nested(a[i, ...], a.dtype) for i in range(a.shape[0])]


def normalize(v: object) -> object:
    """Make values comparable with ==: NaN equals NaN."""
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, list):
        return [normalize(x) for x in v]
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    return v


def assert_column(series: pl.Series, a: np.ndarray, height: int | None = None) -> None:
    want_dtype = expected_dtype(a.dtype, a.shape[1:])
    assert series.dtype == want_dtype, (series.name, series.dtype, want_dtype)
    got = normalize(series.to_physical().to_list())
    want = normalize(expected_rows(a, height))
    assert got == want, (series.name, got[:5], want[:5])
