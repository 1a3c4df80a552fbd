"""jensenshannon beyond the shared cases of test_distance.py: SciPy's special
rows (negative values, zero sums, NaN, inf), near-equal distributions, float32
computed in float64, and the neighbour searches."""

from __future__ import annotations

import numpy as np
import pytest
from _cases import quiet, scipy_cdist, scipy_pdist
from conftest import BACKENDS, assert_close_to_scipy

import fastml
import fastml.neighbors as nb

sd = pytest.importorskip("scipy.spatial.distance")

# (row, why): SciPy's cdist rules, one row each
NASTY = np.array(
    [
        [1.0, 2.0, 3.0, 0.0],  # an ordinary histogram with an empty bin
        [0.0, 0.0, 0.0, 0.0],  # zero sum: inf against every row
        [-1.0, 2.0, 3.0, 4.0],  # a negative value: inf against every row
        [0.0, 1.0, 0.0, 0.0],  # a point mass
        [np.nan, 1.0, 1.0, 0.0],  # NaN: NaN against distributions, 0 against itself
        [np.inf, 1.0, 1.0, 0.0],  # inf: its normalised row has NaN
        [1e-300, 0.0, 0.0, 0.0],  # a tiny (normal) sum
        [2.0, 4.0, 6.0, 0.0],  # row 0 doubled: distance exactly 0
        [-0.0, 5.0, 0.0, 0.0],  # -0.0 is not negative
    ]
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nasty_rows_as_scipy(backend):
    ref = scipy_cdist(NASTY, NASTY, "jensenshannon")
    got = fastml.cdist(NASTY, NASTY, "js", backend=backend)
    assert_close_to_scipy(got, ref, np.float64)
    assert np.isinf(got[1]).all() and np.isinf(got[:, 2]).all()
    assert got[0, 7] == 0.0 and got[3, 8] == 0.0
    assert got[4, 4] == 0.0 and np.isnan(got[0, 4])
    condensed = fastml.pdist(NASTY, "jensenshannon", backend=backend)
    assert_close_to_scipy(condensed, scipy_pdist(NASTY, "jensenshannon"), np.float64)
    assert_close_to_scipy(condensed, got[np.triu_indices(len(NASTY), 1)], np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_equal_distributions_are_close_not_nan(backend):
    # relative perturbations of 1e-4: distances ~3e-5 from a divergence ~1e-9
    # that float32 arithmetic would not resolve (its terms are ~1e-6, and cancel)
    rng = np.random.default_rng(3)
    P = rng.random((40, 30)) + 0.01
    Q = P * (1.0 + 1e-4 * rng.standard_normal(P.shape))

    def scipy_rowwise(A, B):
        return [
            sd.jensenshannon(a.astype(float), b.astype(float)) for a, b in zip(A, B, strict=True)
        ]

    exact = scipy_rowwise(P, Q)
    for dtype in (np.float64, np.float32):
        got = fastml.cdist(P.astype(dtype), Q.astype(dtype), "js", backend=backend)
        assert got.dtype == dtype
        diag = np.diagonal(got).astype(np.float64)
        assert not np.isnan(got).any()
        if dtype == np.float64:
            np.testing.assert_allclose(diag, exact, rtol=1e-6)
        else:  # the float32 inputs differ from P and Q: compare with SciPy on them
            ref = scipy_rowwise(P.astype(dtype), Q.astype(dtype))
            np.testing.assert_allclose(diag, ref, rtol=1e-5, atol=1e-12)


def test_scaling_a_row_changes_nothing():
    rng = np.random.default_rng(4)
    X = rng.random((9, 17))
    X[X < 0.3] = 0.0
    Y = rng.random((5, 17))
    base = fastml.cdist(X, Y, "jensenshannon")
    np.testing.assert_allclose(fastml.cdist(X * 1e-200, Y * 7e150, "js"), base, rtol=1e-12)


def test_keyword_arguments_are_rejected():
    X = np.ones((2, 3))
    with pytest.raises(TypeError, match="jensenshannon"):
        fastml.cdist(X, X, "jensenshannon", base=2.0)  # SciPy's cdist rejects it too
    with pytest.raises(TypeError, match="jensenshannon"):
        fastml.pdist(X, "jensenshannon", w=np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbour_searches(backend):
    rng = np.random.default_rng(5)
    X = rng.random((60, 6))
    Y = rng.random((45, 6))
    X[7, 2] = -1.0  # a query at distance inf from every point
    Y[3] = 0.0  # a base point at distance inf from every query
    D = quiet(sd.cdist, X, Y, "jensenshannon")
    dist, ind = nb.kneighbors(X, Y, n_neighbors=5, metric="js", backend=backend)
    ref = np.argsort(D, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ind, ref)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ref, axis=1), rtol=1e-12)
    dists, inds = nb.radius_neighbors(X, Y, radius=0.25, metric="js", backend=backend)
    for i in range(X.shape[0]):
        (want,) = np.nonzero(D[i] <= 0.25)
        np.testing.assert_array_equal(np.sort(inds[i]), want)
        np.testing.assert_allclose(np.sort(dists[i]), np.sort(D[i, want]), rtol=1e-12)
    assert inds[7].size == 0
