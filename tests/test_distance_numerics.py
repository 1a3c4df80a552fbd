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


def _impls(name):
    """The compiled array helpers ``name`` ("cbrt" or "pow") of each compiled backend."""
    impls = {}
    if "numba" in COMPILED_BACKENDS:
        from fastml._numba import _vmath

        impls["numba"] = getattr(_vmath, f"{name}_array")
    if "cython" in COMPILED_BACKENDS:
        from fastml._cython import distance

        impls["cython"] = getattr(distance._impl, f"_{name}_array")
    return impls


@pytest.mark.parametrize("impl", list(_impls("cbrt")))
def test_vectorised_cbrt_accuracy(impl):
    f = _impls("cbrt")[impl]
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


@pytest.mark.parametrize("impl", list(_impls("pow")))
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 1.5, 2.5, 3.7, 7.0, 10.0])
def test_vectorised_pow_accuracy(impl, p):
    f = _impls("pow")[impl]
    t = _wide_positive(100_000, seed=1)
    out = np.empty_like(t)
    f(t, p, out)
    with np.errstate(over="ignore"):
        ref = np.power(t, p)
    normal = np.isfinite(ref) & (ref >= TINY)
    rel = np.abs(out[normal] - ref[normal]) / ref[normal]
    # exp(p log t): the error grows with |p log t| (see fastml/_numba/_vmath.py)
    bound = 1e-15 * (2 + np.abs(p * np.log(t[normal])))
    worst = (rel / bound).argmax()
    assert rel[worst] <= bound[worst], (
        f"{impl}: pow off by {rel[worst]:.3g} at t={t[normal][worst]!r}"
    )
    # overflow to inf and underflow to 0 or a subnormal where libm does
    assert np.array_equal(np.isinf(out), np.isinf(ref))
    sub = np.isfinite(ref) & (ref < TINY)
    np.testing.assert_allclose(out[sub], ref[sub], rtol=5e-13, atol=1e-320)
    special = np.array([0.0, np.inf, np.nan])
    out = np.empty(3)
    f(special, p, out)
    np.testing.assert_array_equal(out, special)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("p", [3.0, 1.5, 0.5, 2.5])
def test_minkowski_extreme_magnitudes(backend, p):
    """Terms and sums from subnormal to near-overflow (vectorised cbrt and pow)."""
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
@pytest.mark.parametrize("p", [3.0, 2.5])
def test_minkowski_nan_and_inf(backend, dtype, p):
    XA = np.array([[0.0, 1.0], [np.nan, 1.0], [np.inf, 0.0], [1.0, 2.0]], dtype)
    XB = np.array([[0.0, 1.0], [2.0, -1.0], [np.inf, 0.0]], dtype)
    with np.errstate(invalid="ignore"):
        ref = sd.cdist(XA.astype(np.float64), XB.astype(np.float64), "minkowski", p=p)
    got = fastml.cdist(XA, XB, "minkowski", p=p, backend=backend)
    assert_close_to_scipy(got, ref, dtype)


def _check_weighted(X, metric, backend, w, rng):
    """cdist (X against its reversed rows) and pdist of ``metric`` against SciPy, in
    float64 and float32, without weights, with equal ones or with varying ones."""
    n = X.shape[1]
    kw = {}
    if w == "equal":
        kw["w"] = np.full(n, 2.5)
    elif w == "varying":
        kw["w"] = rng.uniform(0.1, 3, n)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        ref = sd.cdist(Xd.astype(np.float64), Xd[::-1].astype(np.float64), metric, **kw)
        got = fastml.cdist(Xd, Xd[::-1], metric, backend=backend, **kw)
        assert_close_to_scipy(got, ref, dtype)
        got = fastml.pdist(Xd, metric, backend=backend, **kw)
        assert_close_to_scipy(got, sd.pdist(Xd.astype(np.float64), metric, **kw), dtype)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("n", [1, 63, 64, 65, 130])
@pytest.mark.parametrize("w", [None, "equal", "varying"])
def test_jaccard_bit_sets(backend, n, w):
    """Unweighted (or equally weighted) jaccard runs on bit sets of nonzero features."""
    rng = np.random.default_rng(n)
    X = rng.integers(-1, 2, size=(23, n)).astype(np.float64) * rng.uniform(0.5, 2, size=(23, n))
    X[0] = 0.0  # an all-zero row: 0/0 pairs give 0
    X[1] = -0.0
    X[2, : n // 2 + 1] = np.nan  # NaN counts as nonzero
    _check_weighted(X, "jaccard", backend, w, rng)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("n", [1, 5, 64, 67, 300])
@pytest.mark.parametrize("w", [None, "equal", "varying"])
def test_hamming_counts(backend, n, w):
    """Equal weights: mismatches are counted (numba: in the panel tiles, float32
    over several feature blocks at 300); NaN != NaN, -0.0 == 0.0."""
    rng = np.random.default_rng(n)
    X = rng.integers(-2, 3, size=(37, n)).astype(np.float64)
    X[0] = -0.0
    X[1] = 0.0
    X[2, : n // 2 + 1] = np.nan
    X[3] = X[2]  # NaN against NaN: a mismatch
    _check_weighted(X, "hamming", backend, w, rng)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("n", [1, 5, 64, 128, 129, 300])
@pytest.mark.parametrize("w", [None, "varying"])
def test_braycurtis_ratio_tiles(backend, n, w):
    """braycurtis (numba: the ratio taken in the panel tile when the features
    fit one block, float32 up to 128): 0/0 pairs give NaN and opposite rows inf,
    as SciPy; NaN propagates."""
    rng = np.random.default_rng(n)
    X = rng.standard_normal((37, n)) * rng.uniform(0.5, 3.0, n)
    X[0] = 0.0
    X[1] = 0.0  # zero against zero: 0/0
    X[2] = -X[-3]  # X[2] against X[::-1][2]: |a + b| sums to 0
    X[4, 0] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        _check_weighted(X, "braycurtis", backend, w, rng)


def test_canberra_shares_division_only_in_range():
    """The shared-division precondition: float64, finite, every nonzero |x| and
    weight within the documented bounds (a zero is always fine)."""
    from fastml._metrics import (
        CANBERRA_SHARED_RANGE,
        CANBERRA_SHARED_WEIGHTS,
        canberra_shares_division,
    )

    lo, hi = CANBERRA_SHARED_RANGE
    wlo, whi = CANBERRA_SHARED_WEIGHTS
    X = np.array([[0.0, -0.0, lo, -hi], [1.0, -2.0, 3.0, 4.0]])
    w = np.array([0.0, wlo, whi, 1.0])
    assert canberra_shares_division(w, X, X[::-1])
    assert not canberra_shares_division(w, np.ones((2, 4), np.float32))
    for bad in (np.nan, np.inf, -np.inf, np.nextafter(hi, np.inf), np.nextafter(lo, 0), 5e-324):
        Y = X.copy()
        Y[1, 2] = bad
        assert not canberra_shares_division(w, X, Y), bad
    for bad in (np.nextafter(whi, np.inf), np.nextafter(wlo, 0), np.nan, np.inf):
        v = w.copy()
        v[3] = bad
        assert not canberra_shares_division(v, X), bad
    big = np.ones((70000, 1))  # several chunks of the scan
    assert canberra_shares_division(np.ones(1), big)
    big[-1, 0] = np.nan
    assert not canberra_shares_division(np.ones(1), big)


def _canberra_oracle_cdist(XA, XB, w):
    """canberra in float64, term by term, as SciPy defines it (0/0 terms count 0)."""
    d = np.abs(XA[:, None, :] - XB[None, :, :])
    s = np.abs(XA[:, None, :]) + np.abs(XB[None, :, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(s == 0, 0.0, w * d / s)
    return t.sum(axis=2)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("n", [1, 3, 4, 7, 64, 67])
@pytest.mark.parametrize("w", [None, "varying", "extreme"])
def test_canberra_shared_division_edges(backend, n, w):
    """float64 canberra in range takes two terms per division (compiled backends):
    zeros on one side and on both (a 0/0 term counts 0), -0.0, the smallest and
    largest magnitudes allowed, zero and extreme weights; against the term-by-term
    oracle to 1e-13, and the fallback (a NaN row) unchanged elsewhere."""
    from fastml._metrics import (
        CANBERRA_SHARED_RANGE,
        CANBERRA_SHARED_WEIGHTS,
        canberra_shares_division,
    )

    lo, hi = CANBERRA_SHARED_RANGE
    rng = np.random.default_rng(n)
    X = rng.standard_normal((29, n))
    X[0] = 0.0
    X[1] = -0.0
    X[2, ::2] = 0.0
    X[3] = lo * rng.uniform(1, 2, n) * rng.choice([-1, 1], n)
    X[4] = hi * rng.uniform(0.5, 1, n) * rng.choice([-1, 1], n)
    X[5] = -X[4]
    X[6, : n // 2 + 1] = lo
    ww = np.ones(n)
    if w == "varying":
        ww = rng.uniform(0.1, 3, n)
    elif w == "extreme":
        ww = rng.choice([0.0, CANBERRA_SHARED_WEIGHTS[0], CANBERRA_SHARED_WEIGHTS[1], 1.0], n)
    kw = {} if w is None else {"w": ww}
    XB = X[::-1].copy()
    assert canberra_shares_division(ww, X, XB)
    ref = _canberra_oracle_cdist(X, XB, ww)
    np.testing.assert_allclose(sd.cdist(X, XB, "canberra", **kw), ref, rtol=1e-12, atol=0)
    got = fastml.cdist(X, XB, "canberra", backend=backend, **kw)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)
    iu = np.triu_indices(X.shape[0], 1)
    got = fastml.pdist(X, "canberra", backend=backend, **kw)
    np.testing.assert_allclose(got, _canberra_oracle_cdist(X, X, ww)[iu], rtol=1e-13, atol=0)
    # Out of range (a NaN): one division per term, NaN only in the rows it touches.
    Y = X.copy()
    Y[7, 0] = np.nan
    got = fastml.cdist(Y, XB, "canberra", backend=backend, **kw)
    assert np.isnan(got[7]).all()
    rows = np.arange(Y.shape[0]) != 7
    np.testing.assert_allclose(got[rows], ref[rows], rtol=1e-13, atol=0)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("VI_kind", ["spd", "indefinite", "semidefinite"])
@pytest.mark.parametrize("n", [3, 16, 37])
def test_mahalanobis_near_points_far_from_origin(backend, VI_kind, n):
    """The direct form d^T VI d keeps the digits that transforming the points
    (u @ L - v @ L) loses: SciPy's answer to rtol 1e-7 for points 1e6 away
    from the origin and 1e-5 apart."""
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n))
    VI = A @ A.T / n + 0.1 * np.eye(n)
    if VI_kind == "indefinite":
        VI[-1, -1] = -VI[-1, -1] - 1.0
        VI += 0.3 * (lambda K: K - K.T)(rng.standard_normal((n, n)))  # skew part: no effect
    elif VI_kind == "semidefinite":
        B = rng.standard_normal((n, n - 1))
        VI = B @ B.T
    X = 1e6 + 1e-2 * rng.standard_normal((41, n))
    Y = X + 1e-5 * rng.standard_normal((41, n))
    with np.errstate(invalid="ignore"):
        ref = sd.cdist(X, Y, "mahalanobis", VI=VI)
        refp = sd.pdist(np.vstack([X, Y]), "mahalanobis", VI=VI)
    got = fastml.cdist(X, Y, "mahalanobis", VI=VI, backend=backend)
    np.testing.assert_allclose(got, ref, rtol=1e-7, atol=0, equal_nan=True)
    got = fastml.pdist(np.vstack([X, Y]), "mahalanobis", VI=VI, backend=backend)
    # pdist pairs include far ones: their forms cancel less, compare at rtol 1e-7 too
    np.testing.assert_allclose(got, refp, rtol=1e-7, atol=0, equal_nan=True)
