"""SciPy's own test suite for cdist, pdist and squareform, run on fastml's.

``scipy/spatial/tests/test_distance.py`` (installed with SciPy) runs in a
separate pytest process with the plugin ``_scipy_shim``, which sends every
call with a metric fastml implements to fastml (the reference values are
SciPy's published tables and its own oracles). Not run: the tests of ``out=``,
where fastml accepts more than SciPy (a non-contiguous or float32 ``out``,
tested in test_dtypes_layout.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastml

scipy = pytest.importorskip("scipy")


def test_scipy_distance_suite_passes_on_fastml(tmp_path):
    suite = Path(scipy.__file__).parent / "spatial" / "tests" / "test_distance.py"
    if not suite.is_file():
        pytest.skip("this SciPy installation has no tests")
    paths = [str(Path(__file__).parent), str(Path(fastml.__file__).parents[1])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]))
    cmd = [
        sys.executable, "-m", "pytest", "-q", str(suite),
        "-p", "_scipy_shim", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark",
        f"--rootdir={tmp_path}", "-k", "not test_cdist_out and not test_pdist_out",
    ]  # fmt: skip
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    report = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    calls = re.search(
        r"fastml-shim calls: \{'fastml': (\d+), 'scipy': (\d+), 'squareform': (\d+)\}", run.stdout
    )
    assert calls, report
    assert int(calls.group(1)) > 1000, report  # fastml did the work, not SciPy
    assert int(calls.group(3)) > 20, report
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) > 300, report
