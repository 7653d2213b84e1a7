"""The distributed readers' common ground: importing polars_npz never imports Ray or Dask,
their modules say how to install what they need, tasks are runs of consecutive files of
about equal size, and a task's error is not its own cause."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from cluster_data import make_corrupt
from polars_npz import NpzError
from polars_npz._tasks import groups_by_count, groups_by_size, make_plan, read_task, split_contiguous


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_importing_polars_npz_imports_neither_ray_nor_dask():
    out = run("""
        import sys
        import polars_npz
        polars_npz.scan_npz
        assert "ray" not in sys.modules and "dask" not in sys.modules, sorted(sys.modules)
        print("ok")
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(("module", "extra"), [("ray", "ray"), ("dask", "dask")])
def test_missing_extra_says_what_to_install(module, extra):
    out = run(f"""
        import sys
        sys.modules[{module!r}] = None  # as if not installed
        try:
            import polars_npz.{module}
        except ImportError as e:
            print(e)
        else:
            raise SystemExit("imported")
    """)
    assert out.returncode == 0, out.stderr
    assert f'pip install "polars-npz[{extra}]"' in out.stdout


@pytest.mark.parametrize(
    ("weights", "parts", "expected"),
    [
        ([1, 1, 1, 1], 2, [(0, 2), (2, 4)]),
        ([1, 1, 1, 1], 8, [(0, 1), (1, 2), (2, 3), (3, 4)]),
        ([1, 1, 1], 1, [(0, 3)]),
        ([10, 1, 1, 1, 1], 2, [(0, 1), (1, 5)]),
        ([1, 1, 1, 1, 10], 2, [(0, 4), (4, 5)]),
        ([0, 0, 0], 2, [(0, 2), (2, 3)]),
        ([5], 3, [(0, 1)]),
    ],
)
def test_split_contiguous(weights, parts, expected):
    assert split_contiguous(weights, parts) == expected


def test_split_contiguous_covers_every_file_once():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        weights = rng.integers(0, 100, n).tolist()
        parts = int(rng.integers(1, 40))
        groups = split_contiguous(weights, parts)
        assert len(groups) == min(parts, n)
        assert groups[0][0] == 0 and groups[-1][1] == n
        assert all(a < b for a, b in groups)
        assert all(groups[i][1] == groups[i + 1][0] for i in range(len(groups) - 1))


def test_groups_by_count_and_size():
    assert groups_by_count(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert groups_by_count(1, 3) == [(0, 1)]
    assert groups_by_size([4, 4, 4, 4], 8) == [(0, 2), (2, 4)]
    assert groups_by_size([4, 4, 4, 4], 9) == [(0, 2), (2, 4)]
    assert groups_by_size([10, 1, 1, 10, 1], 5) == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert groups_by_size([1, 1, 1], 100) == [(0, 3)]
    with pytest.raises(ValueError, match="files_per_partition"):
        groups_by_count(3, 0)


def test_plan_counts_rows_from_headers_and_limits_tasks(tmp_path):
    files, _bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    plan = make_plan([str(f) for f in files], None, {"n_rows": 30_000, "row_index_name": "i", "row_index_offset": 5})
    assert [info.rows for info in plan.infos()] == [20_000] * 3
    tasks = plan.tasks(8)  # the third file is past the row limit
    assert [(len(t.files), t.rows, t.n_rows, t.row_offset) for t in tasks] == [
        (1, 20_000, 20_000, 5),
        (1, 10_000, 10_000, 20_005),
    ]
    assert [(t.rows, t.row_offset) for t in plan.tasks_of_groups(groups_by_count(3, 2))] == [(30_000, 5)]
    assert plan.tasks(1)[0].files == tuple(str(f) for f in files[:2])


def test_storage_options_reach_the_tasks_as_plain_strings(tmp_path):
    """Tasks are pickled: the options they carry are a plain dict of strings (booleans as the
    native layer takes them), whatever mapping was given; local files ignore them."""
    import os
    import pickle
    from types import MappingProxyType

    files, _bad = make_corrupt(tmp_path / "c", files=2, rows=20_000)
    given = MappingProxyType({"aws_allow_http": True, "timeout": "5s"})
    plan = make_plan([str(f) for f in files], ["y"], {"storage_options": given})
    assert plan.options["storage_options"] == {"aws_allow_http": "true", "timeout": "5s"}
    assert type(plan.options["storage_options"]) is dict
    assert pickle.loads(pickle.dumps(plan.options)) == plan.options
    assert plan.file_sizes() == [os.path.getsize(f) for f in files]
    assert read_task(plan.files, ["y"], plan.options, None, None)["y"].to_list() == list(range(40_000))


def test_a_task_error_is_not_its_own_cause(tmp_path):
    files, bad = make_corrupt(tmp_path / "c", files=3, rows=20_000)
    plan = make_plan([str(f) for f in files], ["x"], {})
    with pytest.raises(NpzError, match=str(bad)) as err:
        read_task(plan.files, ["x"], plan.options, None, None)
    seen, e = set(), err.value
    while e is not None:
        assert id(e) not in seen
        seen.add(id(e))
        e = e.__cause__ or e.__context__


def test_distributed_reads_take_every_scan_option(tmp_path):
    """One definition of the scan options: Ray's and Dask's readers take every keyword of
    scan_npz (use_statistics and hidden_file_prefix were once refused), and scan_paths takes
    them with scan_npz's defaults."""
    import inspect

    import polars as pl
    from polars_npz import scan_npz, write_npz
    from polars_npz._scan import complete_scan_options
    from polars_npz._tasks import SCAN_OPTIONS

    params = {n: p.default for n, p in inspect.signature(scan_npz).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(params) == SCAN_OPTIONS
    assert complete_scan_options({}) == params
    with pytest.raises(TypeError, match="unexpected scan options: nrows"):
        complete_scan_options({"nrows": 1})
    write_npz(pl.DataFrame({"x": [1, 2, 3]}), tmp_path / "a.npz")
    plan = make_plan(str(tmp_path / "a.npz"), None, {"use_statistics": False, "hidden_file_prefix": "_"})
    assert read_task(plan.files, None, plan.options, None, None)["x"].to_list() == [1, 2, 3]
