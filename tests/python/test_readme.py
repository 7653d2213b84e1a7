"""Docs that run: every ```python block of README.md is executed here, in a directory holding
the small archives the examples name (data.npz, runs.npz, runs/, events/, ...), with s3:// URLs
pointed at moto's S3 server (through AWS_ENDPOINT_URL and the other variables Polars reads) and
https://example.org/ at a local HTTP server. A block whose first lines say
``# doctest: skip (why)`` is not run; ``# doctest: polars 2 (why)`` runs on Polars 2 only.
The docstring examples (``>>>``) of the package's modules run too."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import polars_npz
import pytest
from motoserver import MotoS3, moto_s3
from polars_npz import sink_npz
from polars_npz._dataset import has_multi_file_scan
from rangeserver import RangeServer

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = re.compile(r"^# doctest: (skip|polars 2)\b\s*(.*)$")


@dataclass
class Block:
    line: int  # of the first line of code in README.md
    code: str

    @property
    def marker(self) -> tuple[str, str] | None:
        for text in self.code.splitlines()[:3]:
            m = MARKER.match(text)
            if m:
                return m.group(1), m.group(2).strip("() ")
        return None


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [Block(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


BLOCKS = readme_blocks()


@dataclass
class Sandbox:
    root: Path
    s3: MotoS3
    http: RangeServer


def make_runs(root: Path, rng: np.random.Generator) -> list[Path]:
    """runs/day=.../sensor=.../part-0.npz, a.npz and b.npz: run, energy, pos (n, 3)."""
    paths = []
    for i, (day, sensor) in enumerate([("2026-11-01", "a"), ("2026-11-01", "b"), ("2026-11-02", "a")]):
        p = root / "runs" / f"day={day}" / f"sensor={sensor}" / "part-0.npz"
        p.parent.mkdir(parents=True)
        n = 200 + 50 * i
        (np.savez_compressed if i % 2 else np.savez)(p, run=np.arange(n) % 10, energy=rng.random(n), pos=rng.random((n, 3)))
        paths.append(p)
    for name in ("a.npz", "b.npz"):
        np.savez(root / name, run=np.arange(30) % 10, energy=rng.random(30), pos=rng.random((30, 3)))
    return paths


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(7)
    np.savez(root / "data.npz", x=rng.normal(size=1000), y=rng.random(1000))
    np.savez(root / "runs.npz", run=np.arange(1000) % 10, energy=rng.random(1000), pos=rng.random((1000, 3)))
    runs = make_runs(root, rng)
    np.savez_compressed(root / "from_numpy.npz", ts=np.arange(1000).astype("M8[m]"), value=rng.random(1000))
    (root / "events").mkdir()
    start = datetime(2026, 11, 1)
    for i in range(2):
        ts = [start + timedelta(days=i, minutes=7 * k) for k in range(300)]
        pl.DataFrame({"day": [t.date() for t in ts], "ts": ts, "value": rng.random(300)}).write_parquet(
            root / "events" / f"part-{i}.parquet"
        )
    sink_npz(pl.scan_parquet(root / "events" / "*.parquet"), root / "events", partition_by="day")
    served = root / "served"
    (served / "data").mkdir(parents=True)
    np.savez(served / "data" / "sample.npz", x=np.arange(5000), y=np.arange(5000) * 0.5)
    with moto_s3("bucket") as s3, RangeServer(served) as http:
        for p in runs:
            s3.client.upload_file(str(p), "bucket", p.relative_to(root).as_posix())
        yield Sandbox(root, s3, http)


def standins(code: str, sandbox: Sandbox) -> str:
    """The example's web server is the local one (s3:// reaches moto through the environment)."""
    return code.replace("https://example.org/", sandbox.http.url(""))


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_readme_example_runs(block, sandbox, monkeypatch):
    marker = block.marker
    if marker is not None and marker[0] == "skip":
        pytest.skip(f"README.md:{block.line}: {marker[1]}")
    if marker is not None and marker[0] == "polars 2" and not has_multi_file_scan():
        pytest.skip(f"README.md:{block.line}: needs Polars 2 ({marker[1]})")
    for module, needed in (("duckdb", "duckdb"), ("pyarrow", "pyarrow"), ("polars_npz.dask", "dask.dataframe")):
        if module in block.code:
            pytest.importorskip(needed)
    monkeypatch.chdir(sandbox.root)
    for key, value in sandbox.s3.env.items():
        monkeypatch.setenv(key, value)
    code = "\n" * (block.line - 1) + standins(block.code, sandbox)  # tracebacks give README's line numbers
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_examples_are_found_and_skips_are_few():
    assert len(BLOCKS) >= 10
    skipped = [b.line for b in BLOCKS if b.marker is not None and b.marker[0] == "skip"]
    assert len(skipped) <= 3, skipped
    assert all(b.marker is None or b.marker[1] for b in BLOCKS), "every skip says why"


def package_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(polars_npz.__path__, "polars_npz.")]
    return sorted(n for n in names if not n.endswith("._internal"))


@pytest.mark.parametrize("name", package_modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    if name in ("polars_npz.ray", "polars_npz.dask"):
        pytest.importorskip(name.rsplit(".", 1)[1])
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)  # examples write their archives in the working directory
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed (output above)"


def test_docstring_examples_exist():
    counted = 0
    for name in package_modules():
        if name in ("polars_npz.ray", "polars_npz.dask"):
            continue
        module = importlib.import_module(name)
        counted += sum(len(t.examples) for t in doctest.DocTestFinder().find(module, name))
    assert counted >= 10
