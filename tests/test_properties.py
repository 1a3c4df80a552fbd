"""Property tests (hypothesis): every backend against SciPy, and metric axioms."""

from __future__ import annotations

import numpy as np
import pytest
from _cases import scipy_cdist, scipy_pdist
from conftest import BACKENDS, assert_close_to_scipy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastml

SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

METRICS = [
    "euclidean",
    "cityblock",
    "chebyshev",
    "cosine",
    "canberra",
    "braycurtis",
    "hamming",
    "jaccard",
]
BOUND = 1e6


@st.composite
def pairs(draw, dtype=np.float64, integers=False):
    n = draw(st.integers(1, 10))
    mA = draw(st.integers(1, 12))
    mB = draw(st.integers(1, 12))
    if integers:  # small integers: ties and zeros for hamming / jaccard
        elems = st.integers(-2, 2).map(float)
    else:
        elems = st.floats(-BOUND, BOUND, allow_nan=False, allow_infinity=False, width=32)
    XA = draw(hnp.arrays(np.float64, (mA, n), elements=elems)).astype(dtype)
    XB = draw(hnp.arrays(np.float64, (mB, n), elements=elems)).astype(dtype)
    return XA, XB


def _tolerance_scale(metric, XA, XB):
    """Absolute error scale: distances that are sums of O(|x|) terms scale with the data."""
    if metric in ("euclidean", "cityblock", "chebyshev"):
        mx = max(float(np.abs(XA).max()), float(np.abs(XB).max()), 1.0)
        return mx * XA.shape[1]
    if metric in ("cosine", "braycurtis", "canberra"):
        return float(XA.shape[1])
    return 1.0


def _cosine_ok(metric, XA, XB, dtype):
    """Cosine of nearly parallel vectors is 1 - c with c ~ 1: the absolute error
    of any implementation is ~eps, fine; but float32 inputs of very different
    magnitudes can underflow the norm. Keep the data in the well-posed range."""
    if metric not in ("cosine", "braycurtis"):
        return True
    norms = np.concatenate(
        [
            np.linalg.norm(XA.astype(np.float64), axis=1),
            np.linalg.norm(XB.astype(np.float64), axis=1),
        ]
    )
    nz = norms[norms > 0]
    # zero rows are fine (NaN on both sides); tiny-but-nonzero rows are ill-posed in float32
    return dtype == np.float64 or nz.size == 0 or nz.min() > 1e-3


@pytest.mark.parametrize("pbackend", BACKENDS)
@pytest.mark.parametrize("pdtype", [np.float32, np.float64], ids=["float32", "float64"])
@SETTINGS
@given(data=st.data())
def test_cdist_matches_scipy(pbackend, pdtype, data):
    # One example checks every metric (cheaper than one hypothesis run per metric).
    XA, XB = data.draw(pairs(pdtype, data.draw(st.booleans())))
    for metric in METRICS:
        if not _cosine_ok(metric, XA, XB, pdtype):
            continue
        got = fastml.cdist(XA, XB, metric, backend=pbackend)
        ref = scipy_cdist(XA, XB, metric)
        assert_close_to_scipy(got, ref, pdtype, scale=_tolerance_scale(metric, XA, XB))


@pytest.mark.parametrize("pbackend", BACKENDS)
@SETTINGS
@given(data=st.data())
def test_symmetry_and_pdist_consistency(pbackend, data):
    X, _ = data.draw(pairs(np.float64, data.draw(st.booleans())))
    for metric in METRICS:
        _check_symmetry_and_pdist(metric, pbackend, X)


def _check_symmetry_and_pdist(metric, pbackend, X):
    D = fastml.cdist(X, X, metric, backend=pbackend)
    np.testing.assert_allclose(
        D, D.T, rtol=1e-12, atol=1e-12 * _tolerance_scale(metric, X, X), equal_nan=True
    )
    p = fastml.pdist(X, metric, backend=pbackend)
    assert_close_to_scipy(
        p, scipy_pdist(X, metric), np.float64, scale=_tolerance_scale(metric, X, X)
    )
    m = X.shape[0]
    iu = np.triu_indices(m, 1)
    np.testing.assert_allclose(
        p, D[iu], rtol=1e-10, atol=1e-12 * _tolerance_scale(metric, X, X), equal_nan=True
    )
    if m > 1:
        M = fastml.squareform(p)
        off = ~np.eye(m, dtype=bool)
        np.testing.assert_allclose(
            M[off], D[off], rtol=1e-10, atol=1e-12 * _tolerance_scale(metric, X, X), equal_nan=True
        )
    # non-negativity (NaN only where SciPy has NaN: zero vectors for cosine etc.)
    assert (D[~np.isnan(D)] >= 0).all()
    if metric in ("hamming", "jaccard", "canberra", "cityblock", "chebyshev", "braycurtis"):
        assert (np.diag(D)[~np.isnan(np.diag(D))] == 0).all()


@pytest.mark.parametrize("pbackend", BACKENDS)
@pytest.mark.parametrize("pdtype", [np.float32, np.float64], ids=["float32", "float64"])
@SETTINGS
@given(data=st.data())
def test_triangle_inequality(pbackend, pdtype, data):
    X, _ = data.draw(pairs(pdtype))
    for metric in ("euclidean", "cityblock", "chebyshev"):
        D = fastml.cdist(X, X, metric, backend=pbackend).astype(np.float64)
        tol = (1e-5 if pdtype == np.float32 else 1e-12) * _tolerance_scale(metric, X, X)
        # D[i, k] <= D[i, j] + D[j, k] for all i, j, k
        lhs = D[:, None, :]
        rhs = D[:, :, None] + D[None, :, :]
        assert (lhs <= rhs + tol).all(), metric
