"""scikit-learn's haversine (great-circle) distance in cdist, pdist and the neighbour searches.

fastml computes it as euclidean on the points' unit vectors (the chord), then
the angle; close points (under fastml._metrics.HAVERSINE_DIRECT) and the
neighbours' distances are recomputed by scikit-learn's formula.
scikit-learn's ``haversine_distances`` and its ball tree are the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastml
from fastml.neighbors import NearestNeighbors, kneighbors

skp = pytest.importorskip("sklearn.metrics.pairwise")
skn = pytest.importorskip("sklearn.neighbors")
squareform = pytest.importorskip("scipy.spatial.distance").squareform


def _points(n, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-np.pi / 2, np.pi / 2, n), rng.uniform(-np.pi, np.pi, n)])


def test_cdist_and_pdist_equal_scikit_learn(backend, dtype):
    A, B = _points(60, 0), _points(45, 1)
    B[0] = A[0]  # the same point
    B[1] = A[1] + [1e-9, -1e-9]  # a few metres apart on Earth
    B[2] = [-A[2, 0], A[2, 1] + np.pi]  # antipodal
    A[5] = A[4] + [1e-7, 2e-7]
    A, B = A.astype(dtype), B.astype(dtype)
    want = skp.haversine_distances(A.astype(np.float64), B.astype(np.float64))
    want_p = skp.haversine_distances(A.astype(np.float64))
    got = fastml.cdist(A, B, "haversine", backend=backend)
    got_p = fastml.pdist(A, "haversine", backend=backend)
    assert got.dtype == dtype and got_p.dtype == dtype
    # relative, also for the close pairs (the chord alone keeps ~1e-16 absolute)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(
        squareform(got_p), want_p, rtol=rtol, atol=1e-12 if dtype == np.float64 else 1e-6
    )
    assert got[0, 0] == 0.0
    if dtype == np.float64:
        assert got[1, 1] == pytest.approx(want[1, 1], rel=1e-12)


def test_nan_and_bad_arguments():
    A = _points(4, 2)
    A[1, 0] = np.nan
    D = fastml.cdist(A, A, "haversine")
    assert np.isnan(D[1]).all() and np.isnan(D[:, 1]).all()
    assert np.isfinite(np.delete(np.delete(D, 1, 0), 1, 1)).all()
    with pytest.raises(ValueError, match="only valid in 2 dimensions"):
        fastml.cdist(np.zeros((2, 3)), np.zeros((2, 3)), "haversine")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        fastml.pdist(A, "haversine", w=np.ones(2))


def test_neighbour_searches_equal_scikit_learns_ball_tree(backend):
    X, Q = _points(400, 3), _points(50, 4)
    ours = NearestNeighbors(n_neighbors=5, metric="haversine", backend=backend).fit(X)
    theirs = skn.NearestNeighbors(n_neighbors=5, metric="haversine", algorithm="ball_tree").fit(X)
    for query in (Q, None):
        d1, i1 = ours.kneighbors(query)
        d2, i2 = theirs.kneighbors(query)
        np.testing.assert_allclose(d1, d2, rtol=1e-14, atol=0)
        np.testing.assert_array_equal(i1, i2)
    for radius in (0.0, 0.2, 4.0):
        r1 = ours.radius_neighbors(Q, radius=radius, sort_results=True)
        r2 = theirs.radius_neighbors(Q, radius=radius, sort_results=True)
        for got_d, got_i, want_d, want_i in zip(*r1, *r2, strict=True):
            np.testing.assert_array_equal(got_i, want_i)
            np.testing.assert_allclose(got_d, want_d, rtol=1e-14, atol=0)
    d, i = kneighbors(Q.astype(np.float32), X.astype(np.float32), 3, metric="haversine")
    assert d.dtype == np.float32
    np.testing.assert_allclose(d, theirs.kneighbors(Q, 3)[0], rtol=1e-5)
