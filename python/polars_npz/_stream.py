"""npz_stream: the arrays of an archive as an Arrow stream, for any Arrow consumer."""

from __future__ import annotations

from collections.abc import Sequence

from polars_npz._internal import ArrowStream
from polars_npz._source import Source, _open

__all__ = ["ArrowStream", "npz_stream"]


def npz_stream(
    source: Source,
    *,
    columns: Sequence[str] | None = None,
    n_rows: int | None = None,
    batch_rows: int | None = None,
    memory_map: bool = True,
    verify_checksums: bool = False,
    max_header_size: int = 10_000,
) -> ArrowStream:
    """
    The arrays of a NumPy ``.npz`` archive as an Arrow stream, read batch by batch.

    The object returned implements the Arrow PyCapsule interface (``__arrow_c_stream__``),
    so any Arrow consumer reads it without Polars in the middle:
    ``pyarrow.RecordBatchReader.from_stream(s)``, ``pyarrow.table(s)``,
    ``duckdb.sql("SELECT ... FROM s")``, ... Each batch is a record batch of the selected
    columns, typed as :func:`read_npz` types them. Aligned stored members are not copied: their
    Arrow buffers are views of the file mapping, which stays mapped while a consumer holds them.
    Each consumer reads the archive anew from the first row.

    Parameters
    ----------
    source
        Path to the ``.npz`` file, its bytes, or a binary file object.
    columns
        Names of the arrays to read (default: all), in the order given.
    n_rows
        Stop after this many rows.
    batch_rows
        Rows per batch (the last may be shorter). Default: columns that are all views of
        the mapping come in one batch (it costs nothing); otherwise batches of 131,072 rows
        (more for stored members, which are copied in batches of at least 8 MiB).
    memory_map
        Memory-map the file (default); see :func:`scan_npz`.
    verify_checksums
        Also check the CRC-32 of stored members; see :func:`scan_npz`.
    max_header_size
        Largest ``.npy`` header accepted, in bytes.

    Returns
    -------
    ArrowStream
        With ``__arrow_c_stream__``, ``__arrow_c_schema__``, and ``columns``, ``height``
        (rows in all) and ``path`` attributes.

    Raises
    ------
    NpzError
        At once, for a bad archive, an unknown column, a refused type or arrays of different
        lengths. A problem found while a batch is read (a corrupt deflate stream, a bad
        checksum) ends the stream with an error the consumer raises (pyarrow: ``OSError``),
        whose message starts with ``NpzError`` and names the file and the member.

    Examples
    --------
    >>> import numpy as np, pyarrow as pa
    >>> np.savez("stream_doc.npz", x=np.arange(5), y=np.linspace(0, 1, 5))
    >>> pa.table(npz_stream("stream_doc.npz", columns=["y"], n_rows=2))["y"].to_pylist()
    [0.0, 0.25]
    """
    if isinstance(columns, str):
        msg = "columns must be a sequence of names, not a string"
        raise TypeError(msg)
    if n_rows is not None and n_rows < 0:
        msg = "n_rows must be non-negative"
        raise ValueError(msg)
    if batch_rows is not None and batch_rows < 1:
        msg = "batch_rows must be positive"
        raise ValueError(msg)
    archive = _open(source, memory_map, max_header_size, verify_checksums)
    names = archive.column_names() if columns is None else list(columns)
    return archive.stream(names, n_rows, batch_rows)
