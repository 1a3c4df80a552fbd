"""The hand-written vectorised numerics of the compiled distance kernels, and the
metrics that use them, on inputs chosen to break them (zeros, subnormals, huge
values, NaN, indefinite matrices)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import COMPILED_BACKENDS, FAST_BACKENDS, assert_close_to_scipy
from scipy.spatial import distance as sd

import fastml

TINY = np.finfo(np.float64).tiny
HUGE = np.finfo(np.float64).max


def _wide_positive(n, seed=0):
    """Log-uniform over all positive doubles (subnormal to max), plus edge values."""
    rng = np.random.default_rng(seed)
    x = np.exp(rng.uniform(np.log(5e-324), np.log(HUGE), n))
    edges = [5e-324, 1e-320, TINY / 2, TINY, 2.0**-1000, 2.0**-999, 1.0, 2.0, 4.0, 8.0, 27.0]
    edges += [np.nextafter(1.0, 0), np.nextafter(8.0, 0), 1e300, HUGE]
    return np.concatenate([x, rng.uniform(0, 10, n), edges])


def _cbrt_impls():
    impls = {}
    if "numba" in COMPILED_BACKENDS:
        from fastml._numba._vmath import cbrt_array

        impls["numba"] = cbrt_array
    if "cython" in COMPILED_BACKENDS:
        from fastml._cython import distance

        impls["cython"] = distance._impl._cbrt_array
    return impls


@pytest.mark.parametrize("impl", list(_cbrt_impls()))
def test_vectorised_cbrt_accuracy(impl):
    f = _cbrt_impls()[impl]
    x = _wide_positive(200_000)
    out = np.empty_like(x)
    f(x, out)
    ref = np.cbrt(x)
    ulps = np.abs(out - ref) / np.spacing(ref)
    assert ulps.max() <= 4, f"{impl}: cbrt off by {ulps.max()} ulp at x={x[ulps.argmax()]!r}"
    special = np.array([0.0, np.inf, np.nan])
    out = np.empty(3)
    f(special, out)
    np.testing.assert_array_equal(out, special)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("p", [3.0, 1.5])
def test_minkowski_cbrt_extreme_magnitudes(backend, p):
    """Sums from subnormal to near-overflow go through the vectorised root."""
    rng = np.random.default_rng(3)
    mags = np.exp(rng.uniform(np.log(1e-100), np.log(1e100), 37))
    XA = (rng.standard_normal((37, 3)) * mags[:, None]).astype(np.float64)
    XA[0] = 0.0
    XA[1] = [1e-320, 0.0, -1e-320]
    XB = XA[::-1].copy()
    XB[2] = XA[2]  # a zero distance off the diagonal
    got = fastml.cdist(XA, XB, "minkowski", p=p, backend=backend)
    ref = sd.cdist(XA, XB, "minkowski", p=p)
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=0)
    got = fastml.pdist(XA, "minkowski", p=p, backend=backend)
    np.testing.assert_allclose(got, sd.pdist(XA, "minkowski", p=p), rtol=1e-7, atol=0)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minkowski_p3_nan_and_inf(backend, dtype):
    XA = np.array([[0.0, 1.0], [np.nan, 1.0], [np.inf, 0.0], [1.0, 2.0]], dtype)
    XB = np.array([[0.0, 1.0], [2.0, -1.0], [np.inf, 0.0]], dtype)
    with np.errstate(invalid="ignore"):
        ref = sd.cdist(XA.astype(np.float64), XB.astype(np.float64), "minkowski", p=3)
    got = fastml.cdist(XA, XB, "minkowski", p=3, backend=backend)
    assert_close_to_scipy(got, ref, dtype)
