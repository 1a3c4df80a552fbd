"""fastml.datasets: shapes, determinism and the structure each generator promises."""

import numpy as np
import pytest

from fastml.datasets import make_blobs, make_classification, make_regression


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blobs_structure(dtype):
    X, y, centers = make_blobs(
        3001, 5, centers=4, cluster_std=0.5, random_state=3, return_centers=True, dtype=dtype
    )
    assert X.shape == (3001, 5) and X.dtype == dtype and X.flags.c_contiguous
    assert centers.shape == (4, 5) and sorted(np.bincount(y)) == [750, 750, 750, 751]
    for k in range(4):
        pts = X[y == k].astype(np.float64)
        # Mean within ~5 standard errors, spread close to cluster_std.
        assert np.abs(pts.mean(axis=0) - centers[k]).max() < 5 * 0.5 / np.sqrt(len(pts))
        assert np.allclose(pts.std(axis=0), 0.5, rtol=0.1)


def test_blobs_explicit_counts_and_centers():
    C = np.array([[0.0, 0.0], [100.0, 100.0]])
    X, y = make_blobs([3, 7], centers=C, cluster_std=[0.0, 1.0], shuffle=False, random_state=0)
    assert y.tolist() == [0] * 3 + [1] * 7
    np.testing.assert_array_equal(X[:3], 0.0)
    assert np.abs(X[3:] - 100).max() < 10


def test_generators_are_deterministic():
    for make in (make_blobs, make_classification, make_regression):
        a = make(200, random_state=7)
        b = make(200, random_state=7)
        c = make(200, random_state=8)
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)
        assert not np.array_equal(a[0], c[0])


def test_regression_is_linear_in_its_coefficients():
    X, y, w = make_regression(500, 20, n_informative=5, bias=3.0, coef=True, random_state=0)
    np.testing.assert_allclose(y, X @ w + 3.0, rtol=1e-12, atol=1e-9)
    assert np.count_nonzero(w) == 5
    X, y, w = make_regression(400, 8, n_targets=3, noise=1.0, coef=True, random_state=1)
    assert y.shape == (400, 3) and w.shape == (8, 3)
    resid = y - X @ w
    assert 0.85 < resid.std() < 1.15


def test_classification_structure():
    X, y = make_classification(
        2000,
        10,
        n_informative=3,
        n_redundant=2,
        n_repeated=1,
        n_classes=3,
        n_clusters_per_class=1,
        flip_y=0.0,
        class_sep=3.0,
        shuffle=False,
        random_state=0,
    )
    assert X.shape == (2000, 10) and set(np.unique(y)) == {0, 1, 2}
    assert abs(np.bincount(y) - 2000 / 3).max() <= 1
    # Redundant columns are linear combinations of the informative ones; the
    # repeated one duplicates an earlier column.
    assert np.linalg.matrix_rank(X[:, :5]) == 3
    assert any(np.array_equal(X[:, 5], X[:, j]) for j in range(5))
    # Well separated classes: nearest class mean classifies almost everything.
    means = np.stack([X[y == k, :3].mean(axis=0) for k in range(3)])
    pred = np.argmin(((X[:, None, :3] - means) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.9


def test_classification_weights_and_flips():
    _, y = make_classification(10000, 5, weights=[0.9], flip_y=0.0, random_state=0)
    assert abs((y == 0).mean() - 0.9) < 0.01
    _, y0 = make_classification(5000, 5, flip_y=0.0, shuffle=False, random_state=1)
    _, y1 = make_classification(5000, 5, flip_y=0.5, shuffle=False, random_state=1)
    assert 0.15 < (y0 != y1).mean() < 0.35  # half reassigned, half of those to another class


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        make_blobs(0)
    with pytest.raises(ValueError, match="n_informative"):
        make_classification(10, 3, n_informative=3, n_redundant=2)
    with pytest.raises(ValueError, match="2 \\*\\* n_informative"):
        make_classification(10, 5, n_informative=1, n_classes=3)
    with pytest.raises(TypeError, match="random_state"):
        make_regression(10, random_state="x")
    with pytest.raises(TypeError, match="dtype"):
        make_blobs(10, dtype=np.int32)
