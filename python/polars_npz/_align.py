"""align_npz: rewrite an archive so every stored member's array data is aligned in the file, and
every array member is in blocks with statistics."""

from __future__ import annotations

import os

from polars_npz._internal import align_npz as _align_npz

__all__ = ["align_npz"]


def align_npz(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    align: int = 64,
    decompress: bool = False,
    block_rows: int | None = None,
) -> None:
    """
    Rewrite an ``.npz`` archive so every stored member's array data is aligned in the file,
    and every array member has blocks and statistics.

    ``np.savez`` starts each member wherever the previous one ended, so most members of 8-byte
    types cannot be memory-mapped without a copy. The rewritten archive pads each member's
    local header (an extra field, as zipalign does) so the array data starts at a multiple of
    ``align``; numpy loads it unchanged and :func:`scan_npz` maps every fixed-width column
    without a copy. Each array member also gets a block index (see :func:`write_npz`): deflated
    members are written again in blocks (inflated in parallel when read, sliced from the right
    block), and numeric, boolean and temporal 1-D arrays get min/max/null/NaN statistics per
    block that let filters skip data. numpy, ``zipfile`` and ``unzip`` read the result as
    before. CRCs are checked while copying.

    Parameters
    ----------
    src
        The archive to read.
    dst
        Where to write; written to a temporary file beside it and renamed into place, so a
        failure never leaves a partial archive there.
    align
        Alignment in bytes, a power of two (default 64).
    decompress
        Also store deflated members inflated (so they can be mapped too); otherwise they stay
        deflated, in blocks.
    block_rows
        Rows per block (default: about 1 MiB of data per block, at most 1024 blocks a member).

    Examples
    --------
    >>> import numpy as np
    >>> from polars_npz import npz_members
    >>> np.savez("aligned_doc.npz", a=np.arange(5.0), bb=np.arange(5.0))
    >>> align_npz("aligned_doc.npz", "aligned_doc_out.npz")
    >>> npz_members("aligned_doc_out.npz")["zero_copy"].to_list()
    [True, True]
    """
    if block_rows is not None and block_rows < 1:
        msg = "block_rows must be at least 1"
        raise ValueError(msg)
    _align_npz(os.fspath(src), os.fspath(dst), align, decompress, block_rows)
