"""Lazy Polars frames over NumPy ``.npz`` archives.

``scan_npz`` gives a :class:`polars.LazyFrame` whose columns are the arrays of an archive;
only the arrays a query touches are read. Stored members are memory-mapped and handed to
Polars without a copy when their data is aligned; deflated members are inflated straight
into Arrow buffers, and only as far as the query needs.

Modules: ``_source`` (a path, bytes or file object to a native archive), ``scan``
(``scan_npz``, ``read_npz``), ``stream`` (``npz_stream``: an Arrow stream for any Arrow
consumer), ``members`` (``npz_members``), ``align`` (``align_npz``), ``_write``
(``write_npz``), ``numpy_load`` (``load``: ``np.load`` for archives, stored members
memory-mapped), ``namespace`` (the ``df.npz`` namespace, registered on import) and
``__main__`` (the command line). ``ray`` and ``dask`` read datasets on those frameworks
through ``_tasks`` (a read split into tasks of consecutive files); they are imported only
when asked for (``import polars_npz.ray``), never by ``import polars_npz``.
"""

from __future__ import annotations

from polars_npz._internal import NpzError
from polars_npz._source import Source as Source
from polars_npz._write import write_npz
from polars_npz.align import align_npz
from polars_npz.members import npz_members
from polars_npz.namespace import NpzFrame as NpzFrame  # importing it registers the `df.npz` namespace
from polars_npz.numpy_load import NpzFile as NpzFile
from polars_npz.numpy_load import load
from polars_npz.scan import read_npz, scan_npz
from polars_npz.sink import sink_npz
from polars_npz.stream import npz_stream

__all__ = ["NpzError", "align_npz", "load", "npz_members", "npz_stream", "read_npz", "scan_npz", "sink_npz", "write_npz"]
__version__ = "0.1.0"
