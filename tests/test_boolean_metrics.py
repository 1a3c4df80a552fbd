"""SciPy's boolean dissimilarities: dice, rogerstanimoto, russellrao, sokalsneath, yule.

fastml computes them from one ``dot`` kernel per pair and the row sums
(:data:`fastml._metrics.BOOLEAN_COUNTS`). SciPy's cdist and pdist are the
oracle on every backend and dtype, with and without weights, for boolean
data and for the other inputs SciPy accepts (values other than 0 and 1, NaN),
including the pairs where SciPy's rules give 0/0 (NaN) or yule's 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastml
from fastml.neighbors import (
    KNeighborsClassifier,
    NearestNeighbors,
    kneighbors,
    radius_neighbors,
)

sd = pytest.importorskip("scipy.spatial.distance")

METRICS = ("dice", "rogerstanimoto", "russellrao", "sokalsneath", "yule")


def _data(kind, seed=0):
    rng = np.random.default_rng(seed)
    A = (rng.random((23, 11)) < 0.35).astype(float)
    B = (rng.random((17, 11)) < 0.5).astype(float)
    A[0] = 0.0  # an all-false row: 0/0 for dice and sokalsneath
    B[0] = 0.0
    B[1] = A[1]  # identical rows
    A[2] = 1.0
    if kind == "bool":
        return A.astype(bool), B.astype(bool)
    if kind == "integers":  # SciPy: nonzero is true (unweighted dice: arithmetic)
        return A * rng.integers(-2, 4, A.shape), B * rng.integers(-2, 4, B.shape)
    if kind == "reals":
        return A * rng.standard_normal(A.shape), B * rng.standard_normal(B.shape)
    if kind == "nan":
        A[rng.random(A.shape) < 0.05] = np.nan
        return A, B
    return A, B


WEIGHTS = {
    "none": None,
    "random": np.random.default_rng(3).random(11) * 2,
    "integers, one 0": np.array([1, 2, 3, 0, 1, 1, 2, 5, 1, 1, 4.0]),
    "one tiny": np.r_[1e-9, np.ones(10)],
}


def _close(got, want, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize("weights", list(WEIGHTS), ids=list(WEIGHTS))
@pytest.mark.parametrize("kind", ["01", "bool", "integers", "reals", "nan"])
@pytest.mark.parametrize("metric", METRICS)
def test_cdist_and_pdist_equal_scipy(metric, kind, weights, backend, dtype):
    A, B = _data(kind)
    kw = {} if WEIGHTS[weights] is None else {"w": WEIGHTS[weights]}
    want_c = sd.cdist(A, B, metric, **kw)
    want_p = sd.pdist(A, metric, **kw)
    if kind != "bool":
        A, B = A.astype(dtype), B.astype(dtype)
    got_c = fastml.cdist(A, B, metric, backend=backend, **kw)
    got_p = fastml.pdist(A, metric, backend=backend, **kw)
    out_dtype = np.float64 if kind == "bool" else dtype
    assert got_c.dtype == out_dtype and got_p.dtype == out_dtype
    _close(got_c, want_c, out_dtype)
    _close(got_p, want_p, out_dtype)


@pytest.mark.parametrize("metric", METRICS)
def test_scipy_zero_rules(metric, backend):
    """All-false pairs: NaN for dice and sokalsneath (0/0), SciPy's values for
    the others; yule is 0 where ntf * nft = 0, also with weights that do not
    add up exactly."""
    A = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1.0]])
    for w in (None, np.array([0.1, 0.7, 0.3, 1e-7])):
        kw = {} if w is None else {"w": w}
        got = fastml.cdist(A, A, metric, backend=backend, **kw)
        want = sd.cdist(A, A, metric, **kw)
        # rtol: with a weight of 1e-7, n - ntt keeps 9 digits of the sums' 16
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=0, equal_nan=True)
        if metric == "yule":
            # (1,1,0,0) against (1,1,1,0): ntf = 0, so exactly 0
            assert got[1, 2] == 0.0 and got[2, 1] == 0.0


@pytest.mark.parametrize("metric", METRICS)
def test_out_buffer_and_pdist_matches_cdist(metric, backend):
    A, _ = _data("01", seed=5)
    out = np.full((A.shape[0], A.shape[0]), -1.0, dtype=np.float32)
    res = fastml.cdist(A, A, metric, out=out, backend=backend)
    assert res is out
    full = fastml.cdist(A, A, metric, backend=backend)
    np.testing.assert_allclose(out, full, rtol=1e-6, equal_nan=True)
    iu = np.triu_indices(A.shape[0], 1)
    np.testing.assert_allclose(fastml.pdist(A, metric, backend=backend), full[iu], equal_nan=True)


def test_larger_boolean_data_on_the_compiled_kernels():
    """Panels, edge tiles and several threads (200 x 150 x 300) against SciPy."""
    rng = np.random.default_rng(7)
    A = rng.random((200, 300)) < 0.2
    B = rng.random((150, 300)) < 0.3
    w = rng.random(300)
    for metric in METRICS:
        for kw in ({}, {"w": w}):
            want = sd.cdist(A, B, metric, **kw)
            for backend in [b for b in fastml.available_backends() if b != "python"]:
                _close(fastml.cdist(A, B, metric, backend=backend, **kw), want, np.float64)
                _close(
                    fastml.pdist(A, metric, backend=backend, **kw),
                    sd.pdist(A, metric, **kw),
                    np.float64,
                )


@pytest.mark.parametrize("metric", METRICS)
def test_bad_arguments(metric):
    A = np.ones((3, 4))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        fastml.cdist(A, A, metric, p=2)
    with pytest.raises(ValueError, match="w must have one weight per feature"):
        fastml.cdist(A, A, metric, w=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        fastml.pdist(A, metric, w=-np.ones(4))


def _oracle_kneighbors(D, k, exclude_self=False):
    """SciPy's distances, k smallest per row, ties to the lower index."""
    if exclude_self:
        D = D.copy()
        np.fill_diagonal(D, np.inf)
    ind = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, ind, axis=1), ind


@pytest.mark.parametrize("metric", METRICS)
def test_neighbour_searches_equal_scipy_distances_sorted(metric, backend):
    """kneighbors (queries, and the fitted points themselves), radius searches
    and the estimators on these metrics: blocks of cdist, then the selection
    of metric="precomputed" (ties to the lower index)."""
    rng = np.random.default_rng(11)
    X = rng.random((120, 40)) < 0.3
    Q = rng.random((25, 40)) < 0.3
    w = rng.random(40)
    for kw in ({}, {"w": w}):
        D = sd.cdist(Q, X, metric, **kw)
        want_d, want_i = _oracle_kneighbors(D, 6)
        got_d, got_i = kneighbors(Q, X, 6, metric=metric, backend=backend, **kw)
        np.testing.assert_allclose(got_d, want_d, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(got_i, want_i)
        want_d, want_i = _oracle_kneighbors(sd.cdist(X, X, metric, **kw), 4, exclude_self=True)
        got_d, got_i = kneighbors(X, None, 4, metric=metric, backend=backend, **kw)
        np.testing.assert_allclose(got_d, want_d, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(got_i, want_i)
        r = float(np.median(D))
        dist, ind = radius_neighbors(
            Q, X, r, metric=metric, backend=backend, sort_results=True, **kw
        )
        for row in range(Q.shape[0]):
            (expected,) = np.nonzero(D[row] <= r)
            order = np.lexsort((expected, D[row, expected]))
            np.testing.assert_array_equal(ind[row], expected[order])
            np.testing.assert_allclose(dist[row], D[row, expected[order]], rtol=1e-12)
    est = NearestNeighbors(n_neighbors=3, metric=metric, backend=backend).fit(X)
    np.testing.assert_array_equal(
        est.kneighbors(Q)[1], _oracle_kneighbors(sd.cdist(Q, X, metric), 3)[1]
    )


def test_neighbour_search_blocks_and_scikit_learn():
    """Queries over several cdist blocks (2**22 distances each), against
    scikit-learn's brute-force search on data without ties."""
    skn = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(5)
    X = rng.random((2100, 200)) < 0.5  # 2100 fitted points: blocks of 1997 queries
    Q = rng.random((4100, 200)) < 0.5
    y = rng.integers(0, 3, 2100)
    for metric in ("dice", "rogerstanimoto"):
        ours = NearestNeighbors(n_neighbors=5, metric=metric).fit(X)
        theirs = skn.NearestNeighbors(n_neighbors=5, metric=metric, algorithm="brute").fit(X)
        d1, i1 = ours.kneighbors(Q)
        d2, i2 = theirs.kneighbors(Q)
        np.testing.assert_allclose(d1, d2, rtol=1e-12)
        d6, _ = theirs.kneighbors(Q, 6)
        distinct = (np.diff(d6, axis=1) > 1e-12).all(axis=1)  # no ties among the 6 nearest
        assert distinct.sum() > 40
        np.testing.assert_array_equal(i1[distinct], i2[distinct])
        clf = KNeighborsClassifier(n_neighbors=1, metric=metric).fit(X, y)
        ref = skn.KNeighborsClassifier(n_neighbors=1, metric=metric, algorithm="brute").fit(X, y)
        d, _ = theirs.kneighbors(Q, 2)
        unique = d[:, 1] - d[:, 0] > 1e-12
        np.testing.assert_array_equal(clf.predict(Q)[unique], ref.predict(Q)[unique])


def test_weighted_counts_keep_their_precision_in_float32():
    """One differing feature of tiny weight among 1000: ntf = su - ntt would
    cancel; the weighted metrics run in float64 and round once."""
    n = 1000
    u = np.ones(n, bool)
    v = u.copy()
    v[0] = False
    w = np.random.default_rng(2).random(n) + 0.5
    w[0] = 1e-3
    X = np.array([u, v]).astype(np.float32)
    for metric in ("rogerstanimoto", "sokalsneath", "russellrao", "dice"):
        want = sd.pdist(np.array([u, v]), metric, w=w)
        for backend in fastml.available_backends():
            got = fastml.pdist(X, metric, w=w, backend=backend)
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_neighbour_searches_take_the_data_as_booleans_like_scikit_learn():
    """SciPy's cdist computes unweighted dice on the values; scikit-learn's
    neighbour searches (and so fastml's) on the data as booleans."""
    skn = pytest.importorskip("sklearn.neighbors")
    X = np.array([[0.5, 0, 1], [1, 1, 0], [3, 0, 2.0], [0, 2, 2]])
    for metric in METRICS:
        ours = NearestNeighbors(n_neighbors=2, metric=metric).fit(X).kneighbors()
        theirs = skn.NearestNeighbors(n_neighbors=2, metric=metric, algorithm="brute")
        want = theirs.fit(X).kneighbors()
        np.testing.assert_allclose(ours[0], want[0], rtol=1e-12)
        assert (ours[0] >= 0).all()
