"""The package's public face: dir() lists the API (``__all__``) and nothing else, the optional
integrations appear once imported, and every public callable is fully annotated."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import types

import polars as pl
import polars_npz


def dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def test_dir_lists_the_api_only():
    assert {n for n in dir(polars_npz) if not dunder(n)} - {"ray", "dask"} == set(polars_npz.__all__)
    assert "__version__" in dir(polars_npz)
    for name in polars_npz.__all__:
        assert not isinstance(getattr(polars_npz, name), types.ModuleType), name
    # The functions are the functions; no module of the same stem shadows or stands beside them.
    assert callable(polars_npz.align_npz) and inspect.isfunction(polars_npz.align_npz)
    for stem in ("align", "members", "namespace", "numpy_load", "sink", "stream", "annotations"):
        assert not hasattr(polars_npz, stem), stem


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False)


def test_integrations_appear_in_dir_once_imported():
    """`import polars_npz` imports neither Ray nor Dask, and dir() names neither; after
    `import polars_npz.dask` (or `.ray`), dir() names that subpackage."""
    out = run("""
        import polars_npz
        names = {n for n in dir(polars_npz) if not n.startswith("__")}
        assert names == set(polars_npz.__all__), sorted(names - set(polars_npz.__all__))
        for extra in ("dask", "ray"):
            try:
                __import__(f"polars_npz.{extra}")
            except ImportError:
                print(extra, "missing")
                continue
            assert extra in dir(polars_npz), extra
            assert callable(getattr(polars_npz, extra).read_npz)
            print(extra, "listed")
    """)
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split("\n")) - {""} <= {"dask listed", "dask missing", "ray listed", "ray missing"}


def public_callables():
    """(qualified name, callable) of every function of __all__ and every public method of the
    classes of __all__ written in Python, and of the df.npz / lf.npz namespaces."""
    import polars_npz._namespace as ns

    found = []
    classes = [getattr(polars_npz, n) for n in polars_npz.__all__ if inspect.isclass(getattr(polars_npz, n))]
    for cls in [*classes, ns.NpzFrame, ns.NpzLazyFrame]:
        for attr, member in vars(cls).items():
            if inspect.isfunction(member) and (not attr.startswith("_") or attr in ("__init__", "__getitem__", "__contains__")):
                found.append((f"{cls.__name__}.{attr}", member))
    for name in polars_npz.__all__:
        obj = getattr(polars_npz, name)
        if inspect.isfunction(obj):
            found.append((name, obj))
    return found


def test_every_public_callable_is_annotated():
    callables = public_callables()
    assert len(callables) >= 10
    missing = []
    for qualname, fn in callables:
        sig = inspect.signature(fn)
        for p in sig.parameters.values():
            if p.name != "self" and p.annotation is inspect.Parameter.empty:
                missing.append(f"{qualname}({p.name})")
        if sig.return_annotation is inspect.Signature.empty:
            missing.append(f"{qualname} -> ?")
    assert not missing, missing


def test_the_lazy_namespace_takes_every_option_of_sink_npz():
    import polars_npz._namespace

    ns = set(inspect.signature(type(pl.LazyFrame().npz).sink).parameters) - {"self"}
    assert ns == set(inspect.signature(polars_npz.sink_npz).parameters) - {"lf"}


def test_one_rule_for_urls():
    """Python and the native scan decide alike whether a path is an object-store URL (Python's
    own rule once took any Unicode scheme)."""
    from polars_npz._internal import is_url as native
    from polars_npz._source import is_url

    for path in ["s3://b/k.npz", "https://h/x.npz", "file:///x.npz", "a/b.npz", "ünï://x", "://x", "c:/x", "gs://b/"]:
        assert is_url(path) == native(path)
    assert not is_url("ünï://x") and is_url("s3a://b/k")
