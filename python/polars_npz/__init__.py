"""Lazy Polars frames over NumPy ``.npz`` archives.

``scan_npz`` gives a :class:`polars.LazyFrame` whose columns are the arrays of an archive;
only the arrays a query touches are read. Stored members are memory-mapped and handed to
Polars without a copy when their data is aligned; deflated members are inflated straight
into Arrow buffers, and only as far as the query needs.

The public API is ``__all__`` (and ``dir(polars_npz)`` lists nothing else). The modules are
implementation, not API: ``_source`` (a path, bytes or file object to a native archive), ``_scan``
(``scan_npz``, ``read_npz``) and ``_dataset`` (many archives), ``_stream`` (``npz_stream``: an
Arrow stream for any Arrow consumer), ``_members`` (``npz_members``), ``_align``
(``align_npz``), ``_write`` (``write_npz``), ``_sink`` (``sink_npz``), ``_numpy_load``
(``load``: ``np.load`` for archives, stored members memory-mapped), ``_namespace`` (the
``df.npz`` and ``lf.npz`` namespaces, registered on import) and ``__main__`` (the command
line). ``ray`` and ``dask`` read datasets on those frameworks through ``_tasks`` (a read split
into tasks of consecutive files); they are imported only when asked for
(``import polars_npz.ray``), never by ``import polars_npz``.
"""

import sys as _sys

from polars_npz import _namespace  # noqa: F401  (importing it registers the `df.npz` and `lf.npz` namespaces)
from polars_npz._align import align_npz
from polars_npz._internal import ArrowStream, NpzError
from polars_npz._members import npz_members
from polars_npz._numpy_load import NpzFile, load
from polars_npz._scan import read_npz, scan_npz
from polars_npz._sink import sink_npz
from polars_npz._source import Source
from polars_npz._stream import npz_stream
from polars_npz._write import write_npz

__all__ = [
    "ArrowStream",
    "NpzError",
    "NpzFile",
    "Source",
    "align_npz",
    "load",
    "npz_members",
    "npz_stream",
    "read_npz",
    "scan_npz",
    "sink_npz",
    "write_npz",
]
__version__ = "0.1.0"

# The optional integrations: subpackages listed by dir() once imported (`import polars_npz.ray`).
_INTEGRATIONS = ("ray", "dask")


def __dir__() -> list[str]:
    """The public API: ``__all__``, the module's dunder attributes, and the optional
    integrations that were imported. The private modules (``_sink``, ``_scan``, ...) are
    implementation; their names stay out."""
    dunders = [n for n in globals() if n.startswith("__") and n.endswith("__")]
    loaded = [n for n in _INTEGRATIONS if f"{__name__}.{n}" in _sys.modules]
    return sorted({*__all__, *dunders, *loaded})
