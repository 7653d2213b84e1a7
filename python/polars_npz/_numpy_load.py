"""load: ``np.load`` for ``.npz`` archives, with ``mmap_mode`` that maps stored members.

numpy's ``np.load(path, mmap_mode="r")`` ignores ``mmap_mode`` for an archive and copies each
member as it is accessed (numpy issue #5976). Here a stored member under ``mmap_mode`` is an
``np.memmap`` of the file at the member's data offset (no copy, whatever its alignment); any
other member is read whole when accessed by the native reader (a deflated one inflated
straight into the array's memory, its blocks in parallel when it was written in blocks) and
viewed with ``np.frombuffer``. Headers are parsed by numpy's own code, so dtypes, shapes and
orders are numpy's exactly. numpy is imported when an archive is loaded, never on import.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from polars_npz._errors import npz_error
from polars_npz._source import Source, _open, _source_name, is_url, local_path

if TYPE_CHECKING:
    from polars_npz._internal import Archive

__all__ = ["NpzFile", "load"]

# mmap_mode as np.memmap spells it (short and long names).
_MODES: dict[str, Literal["r", "c"]] = {"r": "r", "readonly": "r", "c": "c", "copyonwrite": "c"}
_REFUSED = {
    "r+": "writes would reach the archive and break the member's CRC-32 (zipfile and np.load would then refuse the member)",
    "readwrite": "writes would reach the archive and break the member's CRC-32 (zipfile and np.load would then refuse the member)",
    "w+": "a member of a zip cannot be created or resized in place",
    "write": "a member of a zip cannot be created or resized in place",
}
_PICKLE_ENCODINGS = ("ASCII", "latin1", "bytes")


def load(
    source: Source,
    mmap_mode: str | None = None,
    *,
    allow_pickle: bool = False,
    fix_imports: bool = True,
    encoding: str = "ASCII",
    storage_options: Mapping[str, object] | None = None,
    max_header_size: int = 10_000,
) -> NpzFile:
    """
    Open an ``.npz`` archive as ``np.load`` does: a mapping of its members, each read when
    accessed.

    Parameters
    ----------
    source
        A path, an object-store URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ...), the
        archive's bytes, or a binary file object.
    mmap_mode
        ``None`` (arrays in memory), ``"r"`` (read-only maps) or ``"c"`` (copy-on-write maps:
        writes stay in this process, never reach the file). A stored member of a local file is
        then an ``np.memmap`` of the file (no copy); a deflated member, and every member of a
        URL, bytes or a file object, is still read into memory, as numpy would. ``"r+"`` and
        ``"w+"`` are refused: writing a member in place would leave the archive's CRC-32 wrong.
    allow_pickle, fix_imports, encoding
        As ``np.load``: object arrays (pickles) are refused unless ``allow_pickle=True``, then
        unpickled by numpy with ``fix_imports`` and ``encoding``.
    storage_options
        Object-store options (as ``scan_npz`` takes them).
    max_header_size
        numpy's cap on ``.npy`` headers (ignored with ``allow_pickle=True``, as numpy does).

    Returns
    -------
    NpzFile
        A mapping from the member names (without ``.npy``; ``"x.npy"`` is accepted too) to
        arrays, with ``files``, ``close()`` and use as a context manager, like numpy's.
    """
    import numpy as np  # noqa: F401  (imported here, so that a missing numpy fails at once)

    if encoding not in _PICKLE_ENCODINGS:
        msg = "encoding must be 'ASCII', 'latin1', or 'bytes'"
        raise ValueError(msg)
    mode: Literal["r", "c"] | None = None
    if mmap_mode is not None:
        if mmap_mode in _REFUSED:
            msg = f"mmap_mode={mmap_mode!r} is not supported for .npz archives: {_REFUSED[mmap_mode]}; use 'r' or 'c'"
            raise ValueError(msg)
        if mmap_mode not in _MODES:
            msg = f"mmap_mode must be one of None, 'r', 'c' (or 'readonly', 'copyonwrite'), got {mmap_mode!r}"
            raise ValueError(msg)
        mode = _MODES[mmap_mode]
    # numpy trusts a file it may unpickle: no cap on its headers then.
    header_cap = 2**62 if allow_pickle else max_header_size
    archive = _open(source, True, header_cap, storage_options=storage_options)
    path = None
    if isinstance(source, (str, os.PathLike)) and not is_url(os.fspath(source)):
        path = local_path(os.fspath(source))
    pickle_kwargs = {"encoding": encoding, "fix_imports": fix_imports}
    return NpzFile(archive, _source_name(source), path, mode, allow_pickle, pickle_kwargs, header_cap)


class NpzFile(Mapping[str, Any]):
    """The members of an ``.npz`` archive, read when accessed (see :func:`load`).

    ``files`` lists the members in archive order, without ``.npy``. ``npz["x"]`` (or
    ``npz["x.npy"]``) is the array, ``npz.f.x`` too; a member that is not an ``.npy`` array
    is its bytes. ``close()`` (or leaving a ``with`` block) releases the archive; arrays
    already returned stay valid.
    """

    def __init__(
        self,
        archive: Archive,
        name: str,
        path: str | None,
        mmap_mode: Literal["r", "c"] | None,
        allow_pickle: bool,
        pickle_kwargs: dict[str, Any],
        max_header_size: int,
    ) -> None:
        self._archive: Archive | None = archive
        self._name = name
        self._path = path
        # The file as its index was read: a file rewritten since is refused, not mapped.
        self._stat = (0, 0)
        if path is not None:
            st = os.stat(path)
            self._stat = (st.st_size, st.st_mtime_ns)
        self.mmap_mode = mmap_mode
        self.allow_pickle = allow_pickle
        self.pickle_kwargs = pickle_kwargs
        self.max_header_size = max_header_size
        self._members = {m["member"]: m for m in archive.members()}
        names = list(self._members)
        self.files = [n.removesuffix(".npy") for n in names]
        self._keys = dict(zip(self.files, names))
        self._keys.update(zip(names, names))
        self.f = _Attributes(self)

    def __enter__(self) -> NpzFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the archive (its file or connection); arrays already returned stay valid."""
        self._archive = None

    @property
    def closed(self) -> bool:
        return self._archive is None

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        shown = ", ".join(self.files[:5]) + ("..." if len(self.files) > 5 else "")
        return f"NpzFile {self._name!r} with keys: {shown}"

    def __getitem__(self, key: str) -> Any:
        try:
            member = self._keys[key]
        except (KeyError, TypeError):
            raise KeyError(f"{key} is not a file in the archive") from None
        if self._archive is None:
            msg = f"{self._name}: the archive is closed"
            raise ValueError(msg)
        info = self._members[member]
        if info["name"] is None:  # not an .npy member: its bytes, unless they are an array
            return self._other(self._archive, member)
        if self.mmap_mode is not None and self._path is not None and info["data_offset"] is not None:
            mapped = self._mapped(info, self.mmap_mode)
            if mapped is not None:
                return mapped
        return self._in_memory(self._archive.member_bytes(member), info["header_len"], member)

    def _mapped(self, info: dict[str, Any], mode: Literal["r", "c"]) -> Any:
        """A stored member as an ``np.memmap`` of the file; None when it has no data to map or
        is a pickle (read in memory then)."""
        import numpy as np

        assert self._path is not None
        offset, header_len = info["data_offset"], info["header_len"]
        with open(self._path, "rb") as f:
            st = os.fstat(f.fileno())
            if (st.st_size, st.st_mtime_ns) != self._stat:
                msg = f"{self._path}: the file changed since it was opened ({self._stat[0]} bytes then, {st.st_size} now); load it again"
                raise npz_error(msg, kind="request", path=self._path, member=info["member"])
            f.seek(offset - header_len)
            header = f.read(header_len)
            shape, fortran_order, dtype = self._header(header, info["member"])
            if dtype.hasobject or dtype.itemsize == 0 or 0 in shape:
                return None
            order: Literal["C", "F"] = "F" if fortran_order else "C"
            # The file just checked, mapped (np.memmap maps from the page below `offset`).
            return np.memmap(f, dtype=dtype, mode=mode, offset=offset, shape=shape, order=order)

    def _in_memory(self, data: bytearray, header_len: int, member: str) -> Any:
        """An array over the member's bytes (its header parsed by numpy, then the data viewed)."""
        import numpy as np

        shape, fortran_order, dtype = self._header(memoryview(data)[:header_len], member)
        if dtype.hasobject:
            if not self.allow_pickle:
                msg = f"Object arrays cannot be loaded when allow_pickle=False ({self._name}: member '{member}')"
                raise ValueError(msg)
            return np.lib.format.read_array(io.BytesIO(data), allow_pickle=True, pickle_kwargs=self.pickle_kwargs)
        count = 1
        for n in shape:
            count *= n
        if dtype.itemsize == 0 or count == 0:
            flat = np.ndarray(count, dtype=dtype)
        else:
            flat = np.frombuffer(data, dtype=dtype, count=count, offset=header_len)
        if fortran_order:
            return flat.reshape(shape[::-1]).transpose()
        return flat.reshape(shape)

    def _other(self, archive: Archive, member: str) -> Any:
        """A member that is not named ``.npy``: an array when it starts as one (as numpy reads
        it), otherwise its bytes."""
        import numpy as np

        data = archive.member_bytes(member)
        if bytes(data[:6]) != np.lib.format.MAGIC_PREFIX:
            return bytes(data)
        try:
            return np.lib.format.read_array(
                io.BytesIO(data), allow_pickle=self.allow_pickle, pickle_kwargs=self.pickle_kwargs, max_header_size=self.max_header_size
            )
        except (ValueError, EOFError) as e:
            if "allow_pickle" in str(e):
                raise
            raise npz_error(f"{self._name}: member '{member}': {e}", kind="corrupt", path=self._name, member=member) from e

    def _header(self, header: bytes | memoryview, member: str) -> tuple[tuple[int, ...], bool, Any]:
        """numpy's reading of an ``.npy`` header (its bytes): (shape, fortran_order, dtype)."""
        try:
            fp = io.BytesIO(header)
            version = _format().read_magic(fp)
            shape, fortran_order, dtype = _read_array_header(fp, version, self.max_header_size)
        except (ValueError, EOFError) as e:
            raise npz_error(f"{self._name}: member '{member}': {e}", kind="corrupt", path=self._name, member=member) from e
        return tuple(shape), bool(fortran_order), dtype


class _Attributes:
    """``npz.f.x``: members as attributes, as numpy's ``NpzFile.f``."""

    def __init__(self, npz: NpzFile) -> None:
        self._npz = npz

    def __getattr__(self, key: str) -> Any:
        try:
            return self._npz[key]
        except KeyError:
            raise AttributeError(key) from None

    def __dir__(self) -> list[str]:
        return list(self._npz.files)


def _format() -> Any:
    import numpy as np

    return np.lib.format


def _read_array_header(fp: io.BytesIO, version: tuple[int, int], max_header_size: int) -> tuple[Any, Any, Any]:
    """numpy's own header reader (private, shared by every version; np.load calls it)."""
    try:
        from numpy.lib import _format_impl as impl  # numpy >= 2
    except ImportError:  # pragma: no cover
        from numpy.lib import format as impl  # type: ignore[no-redef]
    return impl._read_array_header(fp, version, max_header_size=max_header_size)  # type: ignore[attr-defined]
