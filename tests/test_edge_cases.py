"""Edge cases: tiny shapes, identical / duplicate / zero / constant rows, extreme
magnitudes, NaN and inf, all against SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from _cases import scipy_cdist, scipy_pdist, spd_VI
from conftest import assert_close_to_scipy

import fastml

ALL_METRICS = [
    "euclidean",
    "sqeuclidean",
    "cityblock",
    "chebyshev",
    "minkowski",
    "cosine",
    "correlation",
    "seuclidean",
    "mahalanobis",
    "canberra",
    "braycurtis",
    "hamming",
    "jaccard",
]
# Metrics that need no data-dependent defaults (seuclidean / mahalanobis do).
SIMPLE = [m for m in ALL_METRICS if m not in ("seuclidean", "mahalanobis")]


def _kw(metric, n, rng=None):
    rng = rng or np.random.default_rng(0)
    if metric == "minkowski":
        return {"p": 3}
    if metric == "seuclidean":
        return {"V": rng.uniform(0.5, 2.0, n)}
    if metric == "mahalanobis":
        return {"VI": spd_VI(n, rng)}
    return {}


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_one_row_each(metric, backend, dtype):
    rng = np.random.default_rng(1)
    XA = rng.standard_normal((1, 4)).astype(dtype)
    XB = rng.standard_normal((1, 4)).astype(dtype)
    kw = _kw(metric, 4)
    d = fastml.cdist(XA, XB, metric, backend=backend, **kw)
    assert d.shape == (1, 1)
    assert_close_to_scipy(d, scipy_cdist(XA, XB, metric, **kw), dtype)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_one_feature(metric, backend, dtype):
    if metric == "correlation":
        pytest.skip("every 1-feature row is constant: covered by test_constant_rows_correlation")
    rng = np.random.default_rng(2)
    XA = rng.standard_normal((9, 1)).astype(dtype)
    XB = rng.standard_normal((4, 1)).astype(dtype)
    XA[3] = 0.0
    kw = _kw(metric, 1)
    assert_close_to_scipy(
        fastml.cdist(XA, XB, metric, backend=backend, **kw),
        scipy_cdist(XA, XB, metric, **kw),
        dtype,
    )
    assert_close_to_scipy(
        fastml.pdist(XA, metric, backend=backend, **kw), scipy_pdist(XA, metric, **kw), dtype
    )


def test_default_V_VI_one_feature(backend, dtype):
    X = np.random.default_rng(3).standard_normal((8, 1)).astype(dtype)
    for metric in ("seuclidean", "mahalanobis"):
        assert_close_to_scipy(
            fastml.pdist(X, metric, backend=backend), scipy_pdist(X, metric), dtype
        )


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_identical_points(metric, backend, dtype):
    """Distances between a point and itself are 0 (up to the contract's atol)."""
    rng = np.random.default_rng(4)
    X = (rng.standard_normal((6, 5)) * 100 + 1000).astype(dtype)
    kw = _kw(metric, 5)
    d = fastml.cdist(X, X, metric, backend=backend, **kw)
    ref = scipy_cdist(X, X, metric, **kw)
    assert_close_to_scipy(d, ref, dtype, scale=1e3 if metric in ("sqeuclidean",) else 1.0)
    diag = np.diag(d).astype(np.float64)
    # metrics whose value is a sum of |differences|: exactly 0
    if metric in ("cityblock", "chebyshev", "canberra", "braycurtis", "hamming", "jaccard"):
        assert (diag == 0).all(), diag
    else:
        atol = 1e-6 if dtype == np.float64 else 1e-2
        if metric in ("cosine", "correlation"):
            atol = 1e-7 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(diag, 0.0, atol=atol)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "seuclidean", "mahalanobis"])
def test_close_points_keep_precision(metric, backend):
    """The ||a||^2 - 2ab + ||b||^2 shortcut must be guarded: points 1e-6 apart
    around 1e3 still get rtol 1e-7 in float64."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 8)) + 1e3
    Y = X + rng.standard_normal((20, 8)) * 1e-6
    kw = _kw(metric, 8)
    assert_close_to_scipy(
        fastml.cdist(X, Y, metric, backend=backend, **kw),
        scipy_cdist(X, Y, metric, **kw),
        np.float64,
    )


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_duplicate_rows(metric, backend, dtype):
    rng = np.random.default_rng(6)
    X = rng.integers(0, 4, size=(7, 5)).astype(dtype)
    X[4] = X[1]
    X[6] = X[1]
    kw = _kw(metric, 5)
    p = fastml.pdist(X, metric, backend=backend, **kw)
    assert_close_to_scipy(p, scipy_pdist(X, metric, **kw), dtype)
    D = fastml.squareform(p, checks=False)
    np.testing.assert_allclose(D[1, 4], 0.0, atol=1e-6 if dtype == np.float64 else 1e-3)


@pytest.mark.parametrize("metric", ["cosine", "correlation"])
def test_zero_vectors(metric, backend, dtype):
    X = np.array([[0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0], [-1, 0.5, 2, 0]], dtype=dtype)
    d = fastml.cdist(X, X, metric, backend=backend)
    ref = scipy_cdist(X, X, metric)
    assert np.isnan(ref[0]).all()  # SciPy: 0/0 -> NaN
    assert_close_to_scipy(d, ref, dtype)
    assert_close_to_scipy(fastml.pdist(X, metric, backend=backend), scipy_pdist(X, metric), dtype)


def test_constant_rows_correlation(backend, dtype):
    X = np.array([[2, 2, 2], [1, 2, 4], [-5, -5, -5], [3, 1, 0]], dtype=dtype)
    d = fastml.cdist(X, X, "correlation", backend=backend)
    ref = scipy_cdist(X, X, "correlation")
    assert np.isnan(ref[0]).all() and np.isnan(ref[:, 2]).all()
    assert_close_to_scipy(d, ref, dtype)
    one_feature = X[:, :1]
    assert_close_to_scipy(
        fastml.pdist(one_feature, "correlation", backend=backend),
        scipy_pdist(one_feature, "correlation"),
        dtype,
    )


@pytest.mark.parametrize("metric", ["braycurtis", "canberra", "jaccard", "hamming"])
def test_all_zero_rows(metric, backend, dtype):
    X = np.zeros((3, 4), dtype)
    X[1, 2] = 1.0
    assert_close_to_scipy(
        fastml.cdist(X, X, metric, backend=backend), scipy_cdist(X, X, metric), dtype
    )


@pytest.mark.parametrize("magnitude", [1e150, 1e-150, 1e20, 1e-20, 1e15, 1e-15])
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_extreme_magnitudes(metric, magnitude, backend, dtype):
    if dtype == np.float32 and magnitude in (1e150, 1e-150):
        pytest.skip("not representable in float32")
    rng = np.random.default_rng(7)
    XA = (rng.standard_normal((6, 5)) * magnitude).astype(dtype)
    XB = (rng.standard_normal((5, 5)) * magnitude).astype(dtype)
    kw = _kw(metric, 5)
    if metric == "seuclidean":
        kw = {}  # default V: scales with the data, so the result is O(1)
    if metric == "mahalanobis":
        kw = {"VI": spd_VI(5, rng) / magnitude**2}
    ref = scipy_cdist(XA, XB, metric, **kw)
    if not np.isfinite(ref).all():
        pytest.skip("SciPy itself does not give finite results here")
    if dtype == np.float32:
        nonzero = np.abs(ref[ref != 0])
        f32 = np.finfo(np.float32)
        if nonzero.size and (nonzero.max() > f32.max or nonzero.min() < f32.tiny):
            pytest.skip("the distances themselves are outside float32's normal range")
    got = fastml.cdist(XA, XB, metric, backend=backend, **kw)
    assert np.isfinite(got).all()
    scale = float(np.abs(ref).max()) or 1.0
    assert_close_to_scipy(got, ref, dtype, scale=scale)
    refp = scipy_pdist(XA, metric, **kw)
    assert_close_to_scipy(fastml.pdist(XA, metric, backend=backend, **kw), refp, dtype, scale=scale)


def _nan_inf_data(dtype):
    X = np.array(
        [
            [1.0, 2.0, 3.0, 0.5],
            [np.nan, 1.0, 0.0, 2.0],
            [1.0, np.inf, -1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [-np.inf, 1.0, np.nan, 3.0],
            [2.0, -1.0, 0.5, np.inf],
            [1.0, 2.0, 3.0, 0.5],
        ],
        dtype=dtype,
    )
    return X


@pytest.mark.parametrize(
    "metric",
    [
        "euclidean",
        "sqeuclidean",
        "cityblock",
        "chebyshev",
        "minkowski",
        "cosine",
        "canberra",
        "braycurtis",
        "hamming",
        "jaccard",
    ],
)
def test_nan_and_inf_match_scipy(metric, backend, dtype):
    X = _nan_inf_data(dtype)
    Y = X[[0, 3, 5]]
    kw = _kw(metric, 4)
    assert_close_to_scipy(
        fastml.cdist(X, Y, metric, backend=backend, **kw), scipy_cdist(X, Y, metric, **kw), dtype
    )
    assert_close_to_scipy(
        fastml.pdist(X, metric, backend=backend, **kw), scipy_pdist(X, metric, **kw), dtype
    )


@pytest.mark.parametrize("metric", ["correlation", "seuclidean", "mahalanobis"])
def test_nan_only_entries_given_params(metric, backend, dtype):
    """NaN in the data with explicit V / VI: NaN exactly where SciPy has NaN."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((6, 4)).astype(dtype)
    X[2, 1] = np.nan
    kw = _kw(metric, 4)
    assert_close_to_scipy(
        fastml.cdist(X, X[:3], metric, backend=backend, **kw),
        scipy_cdist(X, X[:3], metric, **kw),
        dtype,
    )


def test_chebyshev_skips_nan_differences(backend, dtype):
    XA = np.array([[np.nan, 1.0, 5.0]], dtype=dtype)
    XB = np.array([[0.0, 0.0, 0.0]], dtype=dtype)
    d = fastml.cdist(XA, XB, "chebyshev", backend=backend)
    ref = scipy_cdist(XA, XB, "chebyshev")
    assert ref[0, 0] == 5.0  # SciPy's documented-by-behaviour quirk
    assert_close_to_scipy(d, ref, dtype)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "jaccard", "mahalanobis"])
def test_pdist_one_row_is_empty(metric, backend, dtype):
    X = np.ones((1, 3), dtype)
    kw = _kw(metric, 3)
    p = fastml.pdist(X, metric, backend=backend, **kw)
    assert p.shape == (0,)
    assert p.dtype == dtype
    assert_close_to_scipy(p, scipy_pdist(X, metric, **kw), dtype)


@pytest.mark.parametrize("metric", SIMPLE + ["seuclidean", "mahalanobis"])
def test_pdist_two_rows(metric, backend, dtype):
    X = np.array([[1.0, 2.0, 0.0], [0.0, 1.5, 3.0]], dtype=dtype)
    kw = _kw(metric, 3)
    p = fastml.pdist(X, metric, backend=backend, **kw)
    assert p.shape == (1,)
    assert_close_to_scipy(p, scipy_pdist(X, metric, **kw), dtype)
    assert_close_to_scipy(
        fastml.cdist(X[:1], X[1:], metric, backend=backend, **kw).ravel(), p, dtype
    )


def test_hamming_jaccard_weighted_bool(backend):
    rng = np.random.default_rng(9)
    A = rng.random((9, 7)) < 0.5
    B = rng.random((4, 7)) < 0.5
    w = rng.uniform(0, 2, 7)
    w[2] = 0.0
    for metric in ("hamming", "jaccard"):
        assert_close_to_scipy(
            fastml.cdist(A, B, metric, backend=backend, w=w),
            scipy_cdist(A, B, metric, w=w),
            np.float64,
        )


def test_jaccard_nonbinary_values(backend, dtype):
    """Non-zero entries count as True (1 vs 2 is not a mismatch), as in SciPy."""
    XA = np.array([[1, 2, 0, 3], [0, 0, 0, 0]], dtype=dtype)
    XB = np.array([[2, 2, 0, 0], [0, 0, 0, 0], [0, -1, 5, 0]], dtype=dtype)
    assert_close_to_scipy(
        fastml.cdist(XA, XB, "jaccard", backend=backend), scipy_cdist(XA, XB, "jaccard"), dtype
    )
