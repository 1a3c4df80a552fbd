"""Callable metrics: Numba-jitted on the numba backend, plain Python on python."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _cases import scipy_cdist, scipy_pdist
from conftest import BACKENDS, assert_close_to_scipy

import fastml


def py_l1_plus(u, v):
    """A metric SciPy does not have: cityblock plus 0.5 * max |diff|."""
    s = 0.0
    m = 0.0
    for k in range(u.shape[0]):
        t = abs(u[k] - v[k])
        s += t
        if t > m:
            m = t
    return s + 0.5 * m


def py_scaled(u, v, scale=1.0, shift=0.0):
    return scale * math.sqrt(float(((u - v) ** 2).sum())) + shift


RNG = np.random.default_rng(42)
XA = RNG.standard_normal((7, 5))
XB = RNG.standard_normal((4, 5))


@pytest.fixture(scope="module")
def jitted():
    numba = pytest.importorskip("numba")
    if "numba" not in BACKENDS:
        pytest.skip("numba backend not available")
    return numba.njit(py_l1_plus)


@pytest.mark.parametrize("backend_arg", ["python", None, "auto"])
def test_plain_callable_python_backend(backend_arg, dtype):
    A, B = XA.astype(dtype), XB.astype(dtype)
    d = fastml.cdist(A, B, py_l1_plus, backend=backend_arg)
    assert d.dtype == dtype
    assert_close_to_scipy(d, scipy_cdist(A, B, py_l1_plus), dtype)
    p = fastml.pdist(A, py_l1_plus, backend=backend_arg)
    assert_close_to_scipy(p, scipy_pdist(A, py_l1_plus), dtype)


def test_plain_callable_with_kwargs():
    d = fastml.cdist(XA, XB, py_scaled, backend="python", scale=2.0, shift=1.0)
    assert_close_to_scipy(d, scipy_cdist(XA, XB, py_scaled, scale=2.0, shift=1.0), np.float64)
    p = fastml.pdist(XA, py_scaled, scale=3.0)
    assert_close_to_scipy(p, scipy_pdist(XA, py_scaled, scale=3.0), np.float64)


def test_plain_callable_under_use_backend_python():
    with fastml.use_backend("python"):
        d = fastml.cdist(XA, XB, py_l1_plus)
    assert_close_to_scipy(d, scipy_cdist(XA, XB, py_l1_plus), np.float64)


@pytest.mark.parametrize("bad_backend", [b for b in BACKENDS if b in ("numpy", "cython")])
def test_plain_callable_rejected_on_numpy_cython(bad_backend):
    out = np.full((7, 4), -1.0)
    with pytest.raises(TypeError, match="callable"):
        fastml.cdist(XA, XB, py_l1_plus, backend=bad_backend, out=out)
    with pytest.raises(TypeError, match="callable"):
        fastml.pdist(XA, py_l1_plus, backend=bad_backend)
    assert (out == -1.0).all()


def test_plain_callable_rejected_on_numba():
    if "numba" not in BACKENDS:
        pytest.skip("numba backend not available")
    with pytest.raises(TypeError, match="njit"):
        fastml.cdist(XA, XB, py_l1_plus, backend="numba")


def test_callable_out_and_same_as_oracle_python():
    out = np.empty((7, 4), np.float32)
    res = fastml.cdist(XA, XB, py_l1_plus, backend="python", out=out)
    assert res is out
    assert_close_to_scipy(out, scipy_cdist(XA, XB, py_l1_plus), np.float32)


@pytest.mark.parametrize("backend_arg", ["numba", None, "auto"])
def test_numba_callable(jitted, backend_arg, dtype):
    A, B = XA.astype(dtype), XB.astype(dtype)
    d = fastml.cdist(A, B, jitted, backend=backend_arg)
    assert d.dtype == dtype
    assert_close_to_scipy(d, scipy_cdist(A, B, py_l1_plus), dtype)
    p = fastml.pdist(A, jitted, backend=backend_arg)
    assert_close_to_scipy(p, scipy_pdist(A, py_l1_plus), dtype)


def test_numba_callable_realistic_and_out(jitted):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((61, 13)), rng.standard_normal((37, 13))
    out = np.zeros((64, 37 * 2))[1::1, ::2][:61]
    res = fastml.cdist(A, B, jitted, out=out)
    assert res is out
    assert_close_to_scipy(out, scipy_cdist(A, B, py_l1_plus), np.float64)
    p = fastml.pdist(A, jitted, backend="numba")
    assert_close_to_scipy(p, scipy_pdist(A, py_l1_plus), np.float64)


def test_numba_callable_kwargs_rejected(jitted):
    with pytest.raises(TypeError, match="keyword"):
        fastml.cdist(XA, XB, jitted, backend="numba", scale=2.0)


def test_numba_callable_runs_on_python_backend_too(jitted):
    # A jitted function is still callable from Python: backend="python" runs it per pair.
    d = fastml.cdist(XA, XB, jitted, backend="python")
    assert_close_to_scipy(d, scipy_cdist(XA, XB, py_l1_plus), np.float64)
