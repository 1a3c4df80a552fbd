"""pytest plugin: SciPy's own distance tests, run on fastml's cdist and pdist.

Loaded by ``test_scipy_suite.py`` into a separate pytest run of the
``scipy/spatial/tests/test_distance.py`` that ships with SciPy. Every cdist
or pdist call with a metric fastml implements goes to fastml; the others
(dice, yule, callables, ...) stay with SciPy. Every squareform call goes to
fastml. float32 input is given to fastml
as float64: fastml computes float32 in float32 by design (DESIGN.md), where
SciPy always computes in float64, and SciPy's tests compare at float64
tolerances.
"""

import numpy as np
import scipy.spatial.distance as ssd

import fastml
from fastml import _metrics

_SCIPY = {"cdist": ssd.cdist, "pdist": ssd.pdist}
_OURS = frozenset(_metrics.METRIC_ALIASES)
CALLS = {"fastml": 0, "scipy": 0, "squareform": 0}


def _ours(metric):
    hit = isinstance(metric, str) and metric.lower() in _OURS
    CALLS["fastml" if hit else "scipy"] += 1
    return hit


def _as_scipy_computes(x):
    a = np.asarray(x)
    return a.astype(np.float64) if a.dtype == np.float32 else x


def cdist(XA, XB, metric="euclidean", *, out=None, **kwargs):
    if not _ours(metric):
        return _SCIPY["cdist"](XA, XB, metric, out=out, **kwargs)
    XA, XB = _as_scipy_computes(XA), _as_scipy_computes(XB)
    return fastml.cdist(XA, XB, metric, out=out, **kwargs)


def pdist(X, metric="euclidean", *, out=None, **kwargs):
    if not _ours(metric):
        return _SCIPY["pdist"](X, metric, out=out, **kwargs)
    return fastml.pdist(_as_scipy_computes(X), metric, out=out, **kwargs)


def squareform(X, force="no", checks=True):
    CALLS["squareform"] += 1
    return fastml.squareform(X, force=force, checks=checks)


# Before the test module is imported: it binds the names at import.
ssd.cdist, ssd.pdist, ssd.squareform = cdist, pdist, squareform


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"fastml-shim calls: {CALLS}")
