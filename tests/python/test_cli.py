from __future__ import annotations

import subprocess
import sys

import numpy as np


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "polars_npz", *args], capture_output=True, text=True, check=False)


def test_cli_members_and_sql(tmp_path):
    path = tmp_path / "t.npz"
    np.savez_compressed(path, x=np.arange(10), y=np.arange(10) * 2.0)
    r = run(str(path))
    assert r.returncode == 0, r.stderr
    assert "x.npy" in r.stdout and "Float64" in r.stdout
    r = run(str(path), "SELECT SUM(x) AS s, MAX(y) AS m FROM npz WHERE x > 4", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["s,m", "35,18.0"]
    r = run(str(tmp_path / "nope.npz"))
    assert r.returncode == 1 and "nope.npz" in r.stderr
    r = run("--help")
    assert r.returncode == 0 and "npz" in r.stdout and "SQL" in r.stdout
