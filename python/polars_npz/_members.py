"""npz_members: list the members of an archive without reading any array data."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from polars_npz._source import Source, _open

__all__ = ["npz_members"]


def npz_members(source: Source, *, storage_options: Mapping[str, object] | None = None, max_header_size: int = 10_000) -> pl.DataFrame:
    """
    List the members of an ``.npz`` archive without reading any array data.

    Parameters
    ----------
    source
        A path, an object-store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ...), the
        archive's bytes, or a binary file object.
    storage_options
        For object-store URLs: the options of :func:`scan_npz`.
    max_header_size
        Largest ``.npy`` header accepted, in bytes.

    Returns
    -------
    DataFrame
        One row per zip member: ``member`` (name in the zip), ``name`` (column name, null for
        members that are not ``.npy`` arrays), ``numpy_dtype``, ``shape``, ``fortran_order``,
        ``polars_dtype`` (null when the type is refused, with the reason in ``error``),
        ``compression``, ``compressed_size``, ``size``, ``data_offset`` (file offset of the
        array data, for stored members), ``zero_copy`` (whether reading it maps the data
        without a copy), ``blocks`` (how many blocks a member written in blocks has, each
        inflated on its own; null for a plain member) and ``statistics`` (whether its blocks
        carry min/max/null/NaN statistics, which let filters skip them), ``learned`` (the
        spans this process has learned seek points for in a plain deflated member, after
        inflating it whole once; null when none) and ``learned_statistics`` (the blocks of rows
        whose min/max/null/NaN statistics this process learned while reading all of a 1-D
        column that has none, which let later filters skip them; null when none). Learned state
        lives for the process only.
    """
    archive = _open(source, True, max_header_size, storage_options=storage_options)
    rows = archive.members()
    return pl.DataFrame(
        {
            "member": [r["member"] for r in rows],
            "name": [r["name"] for r in rows],
            "numpy_dtype": [r["numpy_dtype"] for r in rows],
            "shape": [r["shape"] for r in rows],
            "fortran_order": [r["fortran_order"] for r in rows],
            "polars_dtype": [None if r["empty"] is None else str(pl.Series(r["empty"]).dtype) for r in rows],
            "compression": [r["compression"] for r in rows],
            "compressed_size": [r["compressed_size"] for r in rows],
            "size": [r["size"] for r in rows],
            "data_offset": [r["data_offset"] for r in rows],
            "zero_copy": [r["zero_copy"] for r in rows],
            "blocks": [r["blocks"] for r in rows],
            "statistics": [r["statistics"] for r in rows],
            "learned": [r["learned"] for r in rows],
            "learned_statistics": [r["learned_statistics"] for r in rows],
            "error": [r["error"] for r in rows],
        },
        schema={
            "member": pl.String,
            "name": pl.String,
            "numpy_dtype": pl.String,
            "shape": pl.List(pl.UInt64),
            "fortran_order": pl.Boolean,
            "polars_dtype": pl.String,
            "compression": pl.String,
            "compressed_size": pl.UInt64,
            "size": pl.UInt64,
            "data_offset": pl.UInt64,
            "zero_copy": pl.Boolean,
            "blocks": pl.UInt32,
            "statistics": pl.Boolean,
            "learned": pl.UInt32,
            "learned_statistics": pl.UInt32,
            "error": pl.String,
        },
    )
