"""fastml.neighbors: kneighbors / radius_neighbors on every backend, metric and dtype.

Oracles: a brute-force float64 reference (fastml.cdist on the numpy backend,
then a stable sort, i.e. ties by the lower index) and scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKENDS, COMPILED_BACKENDS, FAST_BACKENDS

import fastml
from fastml import neighbors as nb
from fastml._numpy import neighbors as np_neighbors

METRICS = [
    ("euclidean", {}),
    ("sqeuclidean", {}),
    ("cityblock", {}),
    ("chebyshev", {}),
    ("minkowski", {"p": 3.0}),
    ("minkowski", {"p": 1.5}),
    ("cosine", {}),
    ("correlation", {}),
    ("seuclidean", {"V": np.array([0.5, 1.0, 2.0, 1.5, 0.7])}),
    ("mahalanobis", {"VI": np.diag([1.0, 2.0, 0.5, 1.0, 3.0])}),
    ("canberra", {}),
    ("braycurtis", {}),
    ("hamming", {}),
    ("jaccard", {}),
    ("euclidean", {"w": np.array([1.0, 0.5, 2.0, 0.0, 1.0])}),
]
INTEGER_METRICS = ("hamming", "jaccard")


def _data(metric, dtype, shapes, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if metric in INTEGER_METRICS:
            out.append(rng.integers(0, 3, size=shape).astype(dtype))
        else:
            out.append(rng.standard_normal(shape).astype(dtype))
    return out


def reference(X, Y, k, metric="euclidean", **kw):
    """Brute force in float64: full distance matrix, stable sort (ties: lower index)."""
    exclude = Y is None
    Y = X if Y is None else Y
    D = fastml.cdist(
        np.asarray(X, np.float64), np.asarray(Y, np.float64), metric, backend="numpy", **kw
    )
    key = np.where(np.isnan(D), np.inf, D)
    if exclude:
        np.fill_diagonal(key, np.nan)  # after everything (argsort puts NaN last)
    order = np.argsort(key, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, order, 1), order, D


def assert_knn(dist, ind, X, Y, k, metric="euclidean", dtype=np.float64, **kw):
    """Neighbours equal the reference's, except where two candidates genuinely tie
    (their reference distances agree to the dtype's precision)."""
    ref_d, ref_i, D = reference(X, Y, k, metric, **kw)
    assert ind.shape == ref_i.shape and ind.dtype == np.intp
    assert dist.dtype == np.dtype(dtype)
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-9
    atol = 1e-6 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(dist, ref_d, rtol=rtol, atol=atol, equal_nan=True)
    diff = ind != ref_i
    if diff.any():
        rows = np.nonzero(diff)[0]
        got = D[rows, ind[diff]]
        np.testing.assert_allclose(got, ref_d[diff], rtol=rtol, atol=atol, equal_nan=True)
    if Y is None:
        assert not (ind == np.arange(len(X))[:, None]).any()
    for row in ind:
        assert len(set(row.tolist())) == k


@pytest.mark.parametrize(("metric", "kw"), METRICS, ids=[f"{m}{list(kw)}" for m, kw in METRICS])
def test_every_metric_matches_reference(backend, dtype, metric, kw):
    X, Y = _data(metric, dtype, [(23, 5), (41, 5)])
    kw = {key: (v.astype(dtype) if key == "w" else v) for key, v in kw.items()}
    d, i = nb.kneighbors(X, Y, 6, metric=metric, backend=backend, **kw)
    assert_knn(d, i, X, Y, 6, metric, dtype, **kw)
    d, i = nb.kneighbors(Y, None, 4, metric=metric, backend=backend, **kw)
    assert_knn(d, i, Y, None, 4, metric, dtype, **kw)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "chebyshev", "cosine", "canberra"])
def test_matches_sklearn(fast_backend, dtype, metric):
    sk = pytest.importorskip("sklearn.neighbors")
    X, Y = _data(metric, dtype, [(40, 6), (70, 6)], seed=3)
    model = sk.NearestNeighbors(n_neighbors=5, algorithm="brute", metric=metric).fit(Y)
    d_ref, i_ref = model.kneighbors(X.astype(np.float64))
    d, i = nb.kneighbors(X, Y, 5, metric=metric, backend=fast_backend)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)
    d_ref, i_ref = model.kneighbors()
    d, i = nb.kneighbors(Y, None, 5, metric=metric, backend=fast_backend)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cityblock"])
def test_larger_sizes_several_blocks(fast_backend, dtype, metric, monkeypatch):
    """Several query and base blocks (and, for euclidean, several kernel tasks)."""
    monkeypatch.setattr(np_neighbors, "TILE_ELEMS", 5000)
    monkeypatch.setattr(np_neighbors, "BASE_BLOCK", 128)
    X, Y = _data(metric, dtype, [(200, 48), (700, 48)], seed=5)
    Y[7] = Y[3]  # a duplicate base point
    d, i = nb.kneighbors(X, Y, 10, metric=metric, backend=fast_backend)
    assert_knn(d, i, X, Y, 10, metric, dtype)
    d, i = nb.kneighbors(Y, None, 10, metric=metric, backend=fast_backend)
    assert_knn(d, i, Y, None, 10, metric, dtype)


def test_ties_lower_index_wins(backend, dtype):
    # Base points on a line: query 0 is at distance 1 from points 1 and 2 (tie),
    # and at distance 2 from points 3 and 4.
    Y = np.array([[5.0], [-1.0], [1.0], [2.0], [-2.0], [1.0]], dtype)
    X = np.array([[0.0]], dtype)
    d, i = nb.kneighbors(X, Y, 5, backend=backend)
    np.testing.assert_array_equal(i, [[1, 2, 5, 3, 4]])
    np.testing.assert_allclose(d, [[1, 1, 1, 2, 2]])


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cityblock"])
@pytest.mark.parametrize("self_query", [False, True])
def test_lists_ordered_by_reported_distance_then_index(backend, metric, self_query):
    """Ties in the reported distances list the lower index first, also where
    the squared distances differ in the last bit and the square roots do not
    (coarse decimal data: many such pairs). Another list merged with these by
    (distance, index), as fastml.dask does, then keeps them as they are."""
    rng = np.random.default_rng(7)
    X = np.round(rng.standard_normal((301, 5)), 1)
    X[150:160] = X[10]
    Y = None if self_query else X[::-1].copy()
    d, i = nb.kneighbors(X, Y, 12, metric=metric, backend=backend)
    before, after = d[:, :-1], d[:, 1:]
    assert np.all((before < after) | ((before == after) & (i[:, :-1] < i[:, 1:])))


def test_duplicates_and_self_exclusion(backend, dtype):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [3.0, 3.0]], dtype)
    d, i = nb.kneighbors(X, None, 2, backend=backend)
    # A point is not its own neighbour, but its duplicates are (lower index first).
    np.testing.assert_array_equal(i[0], [2, 3])
    np.testing.assert_array_equal(i[2], [0, 3])
    np.testing.assert_array_equal(i[3], [0, 2])
    np.testing.assert_array_equal(d[0], [0, 0])


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_many_duplicates_fall_back_exactly(backend, dtype):
    """More exact duplicates than kept candidates: the certificate fails, the exact path answers."""
    rng = np.random.default_rng(2)
    Y = rng.standard_normal((200, 8)).astype(dtype)
    Y[:60] = Y[100]
    X = np.vstack([Y[100:101], rng.standard_normal((5, 8)).astype(dtype)])
    d, i = nb.kneighbors(X, Y, 12, backend=backend)
    np.testing.assert_array_equal(i[0], np.arange(12))
    assert_knn(d, i, X, Y, 12, "euclidean", dtype)
    d, i = nb.kneighbors(Y, None, 12, backend=backend)
    assert_knn(d, i, Y, None, 12, "euclidean", dtype)


def test_close_points_far_from_origin(backend):
    """Where ||x||^2 - 2x.y + ||y||^2 loses every digit, the distances are still exact."""
    rng = np.random.default_rng(4)
    base = 1e6 + rng.standard_normal((50, 16)) * 1e-3
    X = 1e6 + rng.standard_normal((7, 16)) * 1e-3
    d, i = nb.kneighbors(X, base, 5, backend=backend)
    ref_d, ref_i, _ = reference(X, base, 5)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(d, ref_d, rtol=1e-9)


def test_k_equals_n_and_errors(backend):
    X = np.arange(12.0).reshape(6, 2)
    d, i = nb.kneighbors(X, X, 6, backend=backend)
    assert i.shape == (6, 6)
    d, i = nb.kneighbors(X, None, 5, backend=backend)
    assert i.shape == (6, 5)
    with pytest.raises(ValueError, match="n_neighbors <= n_samples_fit"):
        nb.kneighbors(X, X, 7, backend=backend)
    with pytest.raises(ValueError, match="n_neighbors <= n_samples_fit"):
        nb.kneighbors(X, None, 6, backend=backend)


def test_bad_input():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="n_neighbors > 0"):
        nb.kneighbors(X, X, 0)
    with pytest.raises(TypeError, match="n_neighbors"):
        nb.kneighbors(X, X, 2.5)
    with pytest.raises(ValueError, match="same number of columns"):
        nb.kneighbors(X, np.ones((4, 2)), 2)
    with pytest.raises(ValueError, match="NaN"):
        nb.kneighbors(np.array([[np.nan, 1.0, 2.0]]), X, 2)
    with pytest.raises(ValueError, match="unknown metric"):
        nb.kneighbors(X, X, 2, metric="nope")
    with pytest.raises(ValueError, match="2-D"):
        nb.kneighbors(np.ones(3), X, 1)
    with pytest.raises(ValueError, match="radius"):
        nb.radius_neighbors(X, X, -1.0)
    with pytest.raises(ValueError, match="unknown backend"):
        nb.kneighbors(X, X, 2, backend="fortran")


def test_return_distance_false_and_dtype(dtype):
    X = np.random.default_rng(0).standard_normal((10, 3)).astype(dtype)
    i = nb.kneighbors(X, X, 3, return_distance=False)
    assert i.dtype == np.intp and i.shape == (10, 3)
    d, _ = nb.kneighbors(X, X, 3)
    assert d.dtype == dtype
    d, _ = nb.kneighbors(X.astype(np.int64), X.astype(np.int64), 3)
    assert d.dtype == np.float64


def test_callable_metrics():
    X = np.random.default_rng(1).standard_normal((12, 3))

    def l1(u, v):
        return float(np.abs(u - v).sum())

    d, i = nb.kneighbors(X, X, 4, metric=l1)
    d2, i2 = nb.kneighbors(X, X, 4, metric="cityblock")
    np.testing.assert_array_equal(i, i2)
    np.testing.assert_allclose(d, d2)
    if "numba" in BACKENDS:
        import numba

        jl1 = numba.njit(lambda u, v: np.abs(u - v).sum())
        d, i = nb.kneighbors(X, None, 4, metric=jl1, backend="numba")
        d2, i2 = nb.kneighbors(X, None, 4, metric="cityblock")
        np.testing.assert_array_equal(i, i2)
    with pytest.raises(TypeError, match="callable"):
        nb.kneighbors(X, X, 2, metric=l1, backend="numpy")


def test_blocks_merge_like_one_call(fast_backend):
    """The distributed contract: per-block results, offset and merged by (distance, index)."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((30, 4))
    Y = np.round(rng.standard_normal((90, 4)), 1)  # some ties
    k = 7
    full_d, full_i = nb.kneighbors(X, Y, k, backend=fast_backend)
    parts_d, parts_i = [], []
    for a in range(0, 90, 25):
        d, i = nb.kneighbors(X, Y[a : a + 25], k, backend=fast_backend)
        parts_d.append(d)
        parts_i.append(i + a)
    D = np.concatenate(parts_d, axis=1)
    ID = np.concatenate(parts_i, axis=1)
    order = np.lexsort((ID, D), axis=1)[:, :k]
    np.testing.assert_array_equal(np.take_along_axis(ID, order, 1), full_i)
    np.testing.assert_array_equal(np.take_along_axis(D, order, 1), full_d)


# ----------------------------------------------------------------------------
# radius_neighbors
# ----------------------------------------------------------------------------


def _as_lists(obj):
    return [np.asarray(a).tolist() for a in obj]


def test_radius_edge_cases(backend, dtype):
    X = np.array([[0.0], [1.0], [1.0], [3.0]], dtype)
    # radius 0: only exact duplicates (the boundary is included); self excluded
    d, i = nb.radius_neighbors(X, None, 0.0, backend=backend)
    assert _as_lists(i) == [[], [2], [1], []]
    assert d[1].dtype == dtype and i[1].dtype == np.intp
    # nothing within the radius
    d, i = nb.radius_neighbors(np.array([[100.0]], dtype), X, 1.0, backend=backend)
    assert _as_lists(i) == [[]] and _as_lists(d) == [[]]
    # everything
    d, i = nb.radius_neighbors(np.array([[0.5]], dtype), X, 10.0, backend=backend)
    assert _as_lists(i) == [[0, 1, 2, 3]]
    np.testing.assert_allclose(d[0], [0.5, 0.5, 0.5, 2.5])
    d, i = nb.radius_neighbors(np.array([[2.9]], dtype), X, 10.0, sort_results=True)
    assert _as_lists(i) == [[3, 1, 2, 0]]
    # boundary included
    d, i = nb.radius_neighbors(np.array([[0.0]], dtype), X, 1.0, backend=backend)
    assert _as_lists(i) == [[0, 1, 2]]


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine"])
def test_radius_matches_sklearn(fast_backend, metric):
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((30, 3)), rng.standard_normal((200, 3))
    r = 0.3 if metric == "cosine" else 1.0
    model = sk.NearestNeighbors(radius=r, algorithm="brute", metric=metric).fit(Y)
    for q, args in ((X, (X, Y)), (None, (Y, None))):
        d_ref, i_ref = model.radius_neighbors(q, sort_results=True)
        d, i = nb.radius_neighbors(
            *args, radius=r, metric=metric, sort_results=True, backend=fast_backend
        )
        assert _as_lists(i) == _as_lists(i_ref)
        for a, b in zip(d, d_ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-7)


# ----------------------------------------------------------------------------
# Estimators
# ----------------------------------------------------------------------------


def test_nearest_neighbors_estimator():
    sk = pytest.importorskip("sklearn.neighbors")
    from sklearn.base import clone

    rng = np.random.default_rng(9)
    X, Q = rng.standard_normal((60, 4)), rng.standard_normal((10, 4))
    ours = nb.NearestNeighbors(n_neighbors=4, radius=1.2).fit(X)
    theirs = sk.NearestNeighbors(n_neighbors=4, radius=1.2).fit(X)
    for q in (None, Q):
        d, i = ours.kneighbors(q)
        d_ref, i_ref = theirs.kneighbors(q)
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_allclose(d, d_ref, atol=1e-7)
        for mode in ("connectivity", "distance"):
            g = ours.kneighbors_graph(q, mode=mode)
            g_ref = theirs.kneighbors_graph(q, mode=mode)
            assert g.shape == g_ref.shape
            assert abs(g - g_ref).max() < 1e-7
            g = ours.radius_neighbors_graph(q, mode=mode)
            g_ref = theirs.radius_neighbors_graph(q, mode=mode)
            assert abs(g - g_ref).max() < 1e-7
        d, i = ours.radius_neighbors(q, sort_results=True)
        d_ref, i_ref = theirs.radius_neighbors(q, sort_results=True)
        assert _as_lists(i) == _as_lists(i_ref)
    # minkowski p, metric_params, clone, params
    ours = nb.NearestNeighbors(n_neighbors=3, p=1).fit(X)
    theirs = sk.NearestNeighbors(n_neighbors=3, p=1).fit(X)
    np.testing.assert_array_equal(ours.kneighbors(Q)[1], theirs.kneighbors(Q)[1])
    assert clone(ours).get_params() == ours.get_params()
    with pytest.raises(ValueError, match="features"):
        ours.kneighbors(np.ones((2, 3)))
    with pytest.raises(fastml._base.NotFittedError):
        nb.NearestNeighbors().kneighbors(Q)
    with pytest.raises(ValueError, match="mode"):
        ours.kneighbors_graph(mode="weights")
    with pytest.raises(ValueError, match="NaN"):
        nb.NearestNeighbors().fit(np.array([[np.nan, 1.0]]))


@pytest.mark.parametrize("weights", ["uniform", "distance", lambda d: np.exp(-d)])
def test_classifier_matches_sklearn(weights, dtype):
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(10)
    X = rng.standard_normal((80, 3)).astype(dtype)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 80)]
    Q = np.vstack([X[:5], rng.standard_normal((20, 3)).astype(dtype)])  # 5 exact matches
    ours = nb.KNeighborsClassifier(5, weights=weights).fit(X, y)
    theirs = sk.KNeighborsClassifier(5, weights=weights, algorithm="brute").fit(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(Q), theirs.predict_proba(Q), atol=1e-5)
    np.testing.assert_array_equal(ours.predict(Q), theirs.predict(Q))
    assert ours.score(Q, theirs.predict(Q)) == 1.0


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_regressor_matches_sklearn(weights):
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(11)
    X = rng.standard_normal((70, 3))
    y = rng.standard_normal(70)
    Q = np.vstack([X[:4], X[:1], rng.standard_normal((15, 3))])
    ours = nb.KNeighborsRegressor(4, weights=weights).fit(X, y)
    theirs = sk.KNeighborsRegressor(4, weights=weights, algorithm="brute").fit(X, y)
    pred = ours.predict(Q)
    # Exact matches: all the weight goes to the matching training point(s).
    if weights == "distance":
        np.testing.assert_allclose(pred[:4], y[:4])
    np.testing.assert_allclose(pred, theirs.predict(Q), rtol=1e-5, atol=1e-6)
    Y2 = np.column_stack([y, 2 * y])
    ours2 = nb.KNeighborsRegressor(4, weights=weights).fit(X, Y2)
    np.testing.assert_allclose(ours2.predict(Q)[:, 1], 2 * pred)
    with pytest.raises(ValueError, match="weights"):
        nb.KNeighborsRegressor(weights="nope").fit(X, y)
    with pytest.raises(ValueError, match="y must have shape"):
        nb.KNeighborsRegressor().fit(X, y[:5])


def test_minkowski_below_one_as_scikit_learn():
    """0 < p < 1 is not a metric (no triangle inequality): scikit-learn refuses
    its trees and warns that brute force runs; fastml, always exact brute force,
    keeps both rules and gives scikit-learn's neighbours."""
    sk_nb = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(0)
    X, Q = rng.random((40, 3)), rng.random((5, 3))
    for algorithm in ("kd_tree", "ball_tree"):
        with pytest.raises(ValueError, match=f'algorithm="{algorithm}" does not support 0 < p'):
            nb.NearestNeighbors(p=0.5, algorithm=algorithm).fit(X)
    for algorithm in ("auto", "brute"):
        with pytest.warns(UserWarning, match="Minkowski metrics are not distance metrics"):
            ours = nb.NearestNeighbors(n_neighbors=4, p=0.5, algorithm=algorithm).fit(X)
        assert ours._fit_method == "brute"
        with pytest.warns(UserWarning):
            ref = sk_nb.NearestNeighbors(n_neighbors=4, p=0.5, algorithm=algorithm).fit(X)
        d, i = ours.kneighbors(Q)
        d_ref, i_ref = ref.kneighbors(Q)
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_allclose(d, d_ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distance_metric_objects(dtype):
    """A scikit-learn DistanceMetric object is searched by its own pairwise
    distances (in its dtype): scikit-learn's neighbours and distances, the
    in-radius sets of the same distances, and the module-level functions."""
    sk_nb = pytest.importorskip("sklearn.neighbors")
    from sklearn.metrics import DistanceMetric

    rng = np.random.default_rng(1)
    X, Q, y = rng.random((60, 4)), rng.random((7, 4)), rng.random(60)
    X, Q = X.astype(dtype), Q.astype(dtype)
    for name, kw in [("euclidean", {}), ("minkowski", {"p": 3, "w": np.array([1, 2, 3, 0.5])}),
                     ("mahalanobis", {"VI": 2 * np.eye(4)}), ("chebyshev", {})]:  # fmt: skip
        dm = DistanceMetric.get_metric(name, dtype=dtype, **kw)
        d, i = nb.NearestNeighbors(n_neighbors=5, metric=dm).fit(X).kneighbors(Q)
        ref = sk_nb.NearestNeighbors(n_neighbors=5, metric=dm, algorithm="brute").fit(X)
        d_ref, i_ref = ref.kneighbors(Q)
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_allclose(d, d_ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
        assert d.dtype == dtype
        D = dm.pairwise(Q, X)
        _, ind = nb.radius_neighbors(Q, X, radius=0.5, metric=dm)
        for q in range(len(Q)):
            np.testing.assert_array_equal(np.sort(ind[q]), np.flatnonzero(D[q] <= 0.5))
        np.testing.assert_array_equal(nb.kneighbors(Q, X, 5, metric=dm)[1], i_ref)
        got = nb.KNeighborsRegressor(n_neighbors=3, metric=dm).fit(X, y).predict(Q)
        want = sk_nb.KNeighborsRegressor(n_neighbors=3, metric=dm, algorithm="brute")
        np.testing.assert_allclose(got, want.fit(X, y).predict(Q), rtol=1e-6)
    # Its parameters are fixed when it is made; float64 data is not rounded to float32.
    dm = DistanceMetric.get_metric("minkowski", p=3, dtype=dtype)
    with pytest.raises(TypeError, match="cannot be used with a DistanceMetric"):
        nb.kneighbors(Q, X, 2, metric=dm, p=1)
    with pytest.raises(TypeError, match="cannot be used with a DistanceMetric"):
        nb.NearestNeighbors(metric=dm, metric_params={"p": 1}).fit(X)
    if dtype == np.float32:
        with pytest.raises(ValueError, match="float32 DistanceMetric .* needs float32 data"):
            nb.NearestNeighbors(metric=dm).fit(X.astype(np.float64))
        with pytest.raises(ValueError, match="needs float32 data"):
            nb.kneighbors(Q.astype(np.float64), X.astype(np.float64), 2, metric=dm)
    else:  # float32 data to a float64 metric: computed in float64, as a mixed pair
        d32, _ = nb.kneighbors(Q.astype(np.float32), X.astype(np.float32), 2, metric=dm)
        np.testing.assert_allclose(d32, nb.kneighbors(Q, X, 2, metric=dm)[0], rtol=1e-6)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_estimator_backends_agree(backend):
    rng = np.random.default_rng(12)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    y = rng.integers(0, 2, 50)
    p1 = nb.KNeighborsClassifier(3, backend=backend).fit(X, y).predict_proba(X)
    p2 = nb.KNeighborsClassifier(3, backend="python").fit(X, y).predict_proba(X)
    np.testing.assert_allclose(p1, p2)


# ----------------------------------------------------------------------------
# Property test: small integer data (many ties), every fast backend
# ----------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 30),
    d=st.integers(1, 4),
    k=st.integers(1, 29),
    seed=st.integers(0, 2**31 - 1),
    metric=st.sampled_from(["euclidean", "sqeuclidean", "cityblock"]),
    self_query=st.booleans(),
)
def test_property_ties_by_index(n, d, k, seed, metric, self_query):
    rng = np.random.default_rng(seed)
    Y = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
    X = None if self_query else rng.integers(-2, 3, size=(7, d)).astype(np.float64)
    k = min(k, n - 1 if self_query else n)
    if k < 1:
        return
    Q = Y if self_query else X
    for backend in FAST_BACKENDS:
        dist, ind = nb.kneighbors(Q, None if self_query else Y, k, metric=metric, backend=backend)
        ref_d, ref_i, _ = reference(Q, None if self_query else Y, k, metric)
        np.testing.assert_array_equal(ind, ref_i)  # exact data: ties resolved by index
        np.testing.assert_allclose(dist, ref_d, rtol=1e-12)


def test_classifier_weights_none_and_all_zero_weights():
    """weights=None is "uniform" (scikit-learn's alias); a weights function that
    gives every neighbour of a query weight 0 leaves no distribution: an error,
    as in scikit-learn, not a row of zeros voting for the first class."""
    X = np.array([[0.0, 1], [1, 2], [2, 3], [3, 4]])
    y = np.array([0, 0, 1, 1])
    q = np.array([[1.1, 1.1], [2.5, 3.5]])
    none = nb.KNeighborsClassifier(3, weights=None).fit(X, y)
    uniform = nb.KNeighborsClassifier(3).fit(X, y)
    np.testing.assert_array_equal(none.predict_proba(q), uniform.predict_proba(q))
    reg = nb.KNeighborsRegressor(3, weights=None).fit(X, y.astype(float))
    np.testing.assert_allclose(reg.predict(q), uniform.predict_proba(q)[:, 1])
    clf = nb.KNeighborsClassifier(3, weights=lambda d: (d <= 0.5).astype(float)).fit(X, y)
    for method in (clf.predict_proba, clf.predict):
        with pytest.raises(ValueError, match="zero weight"):
            method(q)


def test_leaf_size_accepted_and_unused():
    X = np.random.default_rng(0).standard_normal((50, 3))
    a = nb.NearestNeighbors(n_neighbors=4, leaf_size=5).fit(X).kneighbors(X[:7])
    b = nb.NearestNeighbors(n_neighbors=4).fit(X).kneighbors(X[:7])
    np.testing.assert_array_equal(a[1], b[1])
    y = (X[:, 0] > 0).astype(int)
    assert nb.KNeighborsClassifier(leaf_size=1).fit(X, y).get_params()["leaf_size"] == 1


def test_precomputed_metric_equals_scikit_learn():
    """metric="precomputed": the fitted and the query distance matrices, for
    kneighbors (with and without X), radius_neighbors, the graphs and the
    supervised estimators, against scikit-learn on the same matrices."""
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(4)
    X = rng.integers(0, 4, (40, 3)).astype(float)  # duplicates: exact ties
    Q = rng.integers(0, 4, (9, 3)).astype(float)
    D = fastml.cdist(X, X, "cityblock")
    Dq = fastml.cdist(Q, X, "cityblock")
    ours = nb.NearestNeighbors(n_neighbors=5, radius=2.0, metric="precomputed").fit(D)
    ref = sk.NearestNeighbors(n_neighbors=5, radius=2.0, metric="precomputed").fit(D)
    for q in (Dq, None):
        got, want = ours.kneighbors(q), ref.kneighbors(q)
        np.testing.assert_array_equal(got[0], want[0])
        # the same distances; among equal distances fastml orders by index
        assert all(set(g) <= set(np.flatnonzero(row <= dk[-1]))
                   for g, row, dk in zip(got[1], D if q is None else q, got[0], strict=True))  # fmt: skip
        got_r = ours.radius_neighbors(q, sort_results=True)
        want_r = ref.radius_neighbors(q, sort_results=True)
        for gd, gi, wd, wi in zip(*got_r, *want_r, strict=True):
            np.testing.assert_array_equal(gd, wd)
            np.testing.assert_array_equal(np.sort(gi), np.sort(wi))
        g = ours.radius_neighbors_graph(q, mode="distance")
        w = ref.radius_neighbors_graph(q, mode="distance")
        np.testing.assert_array_equal(g.toarray(), w.toarray())
    # self excluded by index even with duplicates at distance 0
    ind = ours.kneighbors(n_neighbors=3, return_distance=False)
    assert not (ind == np.arange(40)[:, None]).any()
    # supervised, on continuous points (no ties at the k-th neighbour, where
    # scikit-learn's choice among equals is arbitrary)
    Xc, Qc = rng.standard_normal((60, 3)), rng.standard_normal((15, 3))
    Dc, Dcq = fastml.cdist(Xc, Xc), fastml.cdist(Qc, Xc)
    y = (Xc.sum(axis=1) > 0).astype(int)
    for Ours, Ref in ((nb.KNeighborsClassifier, sk.KNeighborsClassifier),
                      (nb.KNeighborsRegressor, sk.KNeighborsRegressor)):  # fmt: skip
        got = Ours(n_neighbors=7, metric="precomputed", weights="distance").fit(Dc, y)
        want = Ref(n_neighbors=7, metric="precomputed", weights="distance").fit(Dc, y)
        np.testing.assert_allclose(got.predict(Dcq), want.predict(Dcq), rtol=1e-12)
    with pytest.raises(ValueError, match="square distance matrix"):
        nb.NearestNeighbors(metric="precomputed").fit(Dq)
    with pytest.raises(ValueError, match="Negative values"):
        nb.NearestNeighbors(metric="precomputed").fit(-D)
    with pytest.raises(ValueError, match="Negative values"):
        ours.kneighbors(-Dq)
    with pytest.raises(ValueError, match="features"):
        ours.kneighbors(Dq[:, :5])


def test_precomputed_in_cross_validation_like_scikit_learn():
    """The pairwise input tag: cross-validation slices a precomputed matrix on
    both axes (fit on D[train][:, train], score on D[test][:, train])."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    sk = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] + 0.3 * rng.standard_normal(80) > 0).astype(int)
    D = fastml.cdist(X, X)
    ours = model_selection.cross_val_score(nb.KNeighborsClassifier(metric="precomputed"), D, y)
    ref = model_selection.cross_val_score(sk.KNeighborsClassifier(metric="precomputed"), D, y)
    np.testing.assert_array_equal(ours, ref)
    clf = nb.KNeighborsClassifier()
    clf.radius = 0.5  # an attribute, as scikit-learn's (no constructor parameter)
    assert clf.radius == 0.5
