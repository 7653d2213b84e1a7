"""align_npz: rewrite an archive so every stored member's array data is aligned in the file."""

from __future__ import annotations

import os

from polars_npz._internal import align_npz as _align_npz

__all__ = ["align_npz"]


def align_npz(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, align: int = 64, decompress: bool = False) -> None:
    """
    Rewrite an ``.npz`` archive so every stored member's array data is aligned in the file.

    ``np.savez`` starts each member wherever the previous one ended, so most members of 8-byte
    types cannot be memory-mapped without a copy. The rewritten archive pads each member's
    local header (an extra field, as zipalign does) so the array data starts at a multiple of
    ``align``; numpy loads it unchanged and :func:`scan_npz` maps every fixed-width column
    without a copy. Member bytes are copied without decoding (CRCs are checked).

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
        Also store deflated members inflated (so they can be mapped too); otherwise they are
        copied as they are.

    Examples
    --------
    >>> import numpy as np
    >>> from polars_npz import npz_members
    >>> np.savez("/tmp/doc3.npz", a=np.arange(5.0), bb=np.arange(5.0))
    >>> align_npz("/tmp/doc3.npz", "/tmp/doc3_aligned.npz")
    >>> npz_members("/tmp/doc3_aligned.npz")["zero_copy"].to_list()
    [True, True]
    """
    _align_npz(os.fspath(src), os.fspath(dst), align, decompress)
