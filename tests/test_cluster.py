"""fastml.cluster: KMeans, MiniBatchKMeans, kmeans_plusplus and the Lloyd kernels.

Oracles: scikit-learn's KMeans(algorithm="lloyd") and kmeans_plusplus given
the same initial centres / seed; the pure-Python kernel for every backend on
small data; a float64 brute-force reference for labels, sums and inertia.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import COMPILED_BACKENDS

import fastml
from fastml.cluster import KMeans, MiniBatchKMeans, _lloyd_step, kmeans_plusplus

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def blobs(n=600, d=5, k=6, seed=0, dtype=np.float64, spread=1.0):
    """Well-separated Gaussian blobs (labels stable under rounding)."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-20, 20, size=(k, d))
    y = rng.integers(0, k, n)
    X = centers[y] + spread * rng.standard_normal((n, d))
    return X.astype(dtype)


def brute(X, C, w=None):
    """float64 reference: labels (lowest index on ties), sums, weights, inertia."""
    X64 = X.astype(np.float64)
    C64 = C.astype(np.float64)
    D = ((X64[:, None, :] - C64[None]) ** 2).sum(-1)
    lab = D.argmin(1)
    w = np.ones(len(X)) if w is None else np.asarray(w, np.float64)
    sums = np.zeros_like(C64)
    np.add.at(sums, lab, X64 * w[:, None])
    weights = np.bincount(lab, weights=w, minlength=len(C))
    return lab, sums, weights, float((D[np.arange(len(X)), lab] * w).sum())


def rtol_for(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-10


# ----------------------------------------------------------------------------
# The kernel (through _lloyd_step, the contract for distributed drivers)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 5, 37, 2100])
def test_lloyd_step_matches_brute_force(backend, dtype, n):
    if backend == "python" and n > 100:
        pytest.skip("pure Python: small sizes only")
    X = blobs(n=n, d=7, k=5, seed=n, dtype=dtype)
    C = blobs(n=5, d=7, k=5, seed=n + 1, dtype=dtype)
    w = np.random.default_rng(n).uniform(0.5, 2.0, n).astype(dtype)
    labels, inertia, sums, weights = _lloyd_step(X, C, w, backend=backend)
    lab, s_ref, w_ref, in_ref = brute(X, C, w)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, lab)
    np.testing.assert_allclose(sums, s_ref, rtol=rtol_for(dtype), atol=1e-5)
    np.testing.assert_allclose(weights, w_ref, rtol=1e-12)
    np.testing.assert_allclose(inertia, in_ref, rtol=1e-4 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("k", [1, 8, 9, 17, 33])
def test_backends_match_python_kernel(fast_backend, dtype, k):
    """Every backend against the pure-Python oracle, k around the tile widths."""
    X = blobs(n=203, d=11, k=k, seed=k, dtype=dtype)
    C = X[:k].copy() + dtype(0.01)
    ref = _lloyd_step(X, C, backend="python")
    got = _lloyd_step(X, C, backend=fast_backend)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[2], ref[2], rtol=rtol_for(dtype), atol=1e-5)
    np.testing.assert_allclose(got[3], ref[3])
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-4 if dtype == np.float32 else 1e-9)


def test_ties_go_to_lowest_index(backend):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    C = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [1.0, 2.0]])
    labels = _lloyd_step(X, C, backend=backend)[0]
    # x0 is 1 from centres 0, 1 and 2; x1 is 1 from 0, 1 and 3; x2 is 1 from 0 and 1.
    np.testing.assert_array_equal(labels, [0, 0, 0])


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("k", [1, 2, 7, 8, 9, 15, 16, 17, 33])
def test_kernel_shapes_around_the_tiles(fast_backend, dtype, k, d):
    """n around the 4-sample tile, k around the 8/16-centre panels, d = 1."""
    for n in (1, 2, 3, 4, 5, 6, 7, 9, 11):
        rng = np.random.default_rng(100 * k + 10 * d + n)
        X = rng.uniform(-5, 5, size=(n, d)).astype(dtype)
        C = rng.uniform(-5, 5, size=(k, d)).astype(dtype)
        labels, inertia, sums, weights = _lloyd_step(X, C, backend=fast_backend)
        lab, s_ref, w_ref, in_ref = brute(X, C)
        np.testing.assert_array_equal(labels, lab)
        np.testing.assert_allclose(sums, s_ref, rtol=rtol_for(dtype), atol=1e-5)
        np.testing.assert_array_equal(weights, w_ref)
        np.testing.assert_allclose(inertia, in_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("first", [0, 3, 5, 8, 13, 20])
def test_ties_across_lanes_and_panels_go_to_lowest_index(backend, dtype, first):
    """Copies of the nearest centre in several lanes and panels: the first copy wins."""
    k, d = 40, 3
    rng = np.random.default_rng(first)
    C = rng.uniform(50, 60, size=(k, d)).astype(dtype)  # all far from X
    copies = [c for c in (first, first + 4, first + 9, first + 16, 39) if c < k]
    C[copies] = dtype(0.5)
    X = rng.uniform(-1, 1, size=(13, d)).astype(dtype)
    labels = _lloyd_step(X, C, backend=backend)[0]
    np.testing.assert_array_equal(labels, np.full(13, first))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_same_result_for_any_thread_count(threads):
    X = blobs(n=9000, d=6, k=10, seed=3)  # several groups of rows
    C = X[:10].copy()
    fastml.set_num_threads(1)
    ref = {b: _lloyd_step(X, C, backend=b) for b in COMPILED_BACKENDS}
    fastml.set_num_threads(threads)
    for b in COMPILED_BACKENDS:
        got = _lloyd_step(X, C, backend=b)
        np.testing.assert_array_equal(got[0], ref[b][0])
        assert got[1] == ref[b][1]
        np.testing.assert_array_equal(got[2], ref[b][2])  # bit-identical
        np.testing.assert_array_equal(got[3], ref[b][3])


def test_lloyd_step_blocks_reduce_to_whole():
    """The distributed-driver contract: block results add up to the whole."""
    X = blobs(n=1000, d=4, k=5, seed=5)
    C = X[:5].copy()
    whole = _lloyd_step(X, C)
    parts = [_lloyd_step(X[i : i + 300], C) for i in range(0, 1000, 300)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole[0])
    np.testing.assert_allclose(sum(p[2] for p in parts), whole[2], rtol=1e-12)
    np.testing.assert_allclose(sum(p[3] for p in parts), whole[3])
    np.testing.assert_allclose(sum(p[1] for p in parts), whole[1], rtol=1e-12)


@pytest.mark.parametrize("n", [1, 5, 4099])
def test_inertia_kernel_per_sample_distances(backend, dtype, n):
    from fastml._registry import kernel_module

    if backend == "python" and n > 100:
        pytest.skip("pure Python: small sizes only")
    X = blobs(n=n, d=7, k=5, seed=n, dtype=dtype)
    C = blobs(n=5, d=7, k=5, seed=n + 1, dtype=dtype)
    w = np.random.default_rng(n).uniform(0.5, 2.0, n).astype(dtype)
    labels = brute(X, C)[0].astype(np.int32)
    kern = kernel_module(backend, "kmeans")
    out = np.full(n, np.nan)
    total = kern.inertia(X, w, C, labels, out=out)
    ref = ((X.astype(np.float64) - C.astype(np.float64)[labels]) ** 2).sum(1)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(total, ref @ w.astype(np.float64), rtol=1e-12)
    assert total == kern.inertia(X, w, C, labels)


# ----------------------------------------------------------------------------
# KMeans against scikit-learn
# ----------------------------------------------------------------------------


def _sk(**kw):
    return sklearn_cluster.KMeans(algorithm="lloyd", **kw)


def assert_same_fit(ours, theirs, dtype):
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(
        ours.inertia_, theirs.inertia_, rtol=1e-6 if dtype == np.float32 else 1e-9
    )
    atol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-5, atol=atol)


def test_kmeans_matches_sklearn_same_init(backend, dtype):
    n = 150 if backend == "python" else 1500
    X = blobs(n=n, d=4, k=6, seed=1, dtype=dtype, spread=4.0)
    init = X[:6].copy()
    ours = KMeans(6, init=init, backend=backend).fit(X)
    theirs = _sk(n_clusters=6, init=init, n_init=1).fit(X)
    assert ours.cluster_centers_.dtype == dtype
    assert_same_fit(ours, theirs, dtype)
    assert len(ours.history_) == ours.n_iter_
    assert np.all(np.diff(ours.history_) <= 1e-9 * ours.history_[0])  # Lloyd never increases it


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_kmeans_matches_sklearn_same_seed(fast_backend, init):
    X = blobs(n=800, d=3, k=5, seed=2, spread=3.0)
    ours = KMeans(5, init=init, random_state=7, backend=fast_backend).fit(X)
    theirs = _sk(n_clusters=5, init=init, random_state=7).fit(X)
    assert_same_fit(ours, theirs, np.float64)


def test_kmeans_tol_and_max_iter_like_sklearn():
    X = blobs(n=2000, d=2, k=8, seed=4, spread=6.0)  # overlapping: many iterations
    init = X[:8].copy()
    for tol, max_iter in [(1e-2, 300), (0.0, 5), (1e-4, 300)]:
        ours = KMeans(8, init=init, tol=tol, max_iter=max_iter).fit(X)
        theirs = _sk(n_clusters=8, init=init, n_init=1, tol=tol, max_iter=max_iter).fit(X)
        assert_same_fit(ours, theirs, np.float64)


def test_kmeans_plusplus_reproducible_and_like_sklearn(dtype):
    X = blobs(n=500, d=4, k=7, seed=8, dtype=dtype)
    c1, i1 = kmeans_plusplus(X, 7, random_state=3)
    c2, i2 = kmeans_plusplus(X, 7, random_state=3)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(c1, X[i1])
    assert c1.dtype == dtype
    _, i_sk = sklearn_cluster.kmeans_plusplus(X, 7, random_state=3)
    np.testing.assert_array_equal(i1, i_sk)
    w = np.random.default_rng(0).uniform(0.1, 1.0, 500)
    _, iw = kmeans_plusplus(X, 7, sample_weight=w, random_state=3)
    _, iw_sk = sklearn_cluster.kmeans_plusplus(X, 7, sample_weight=w, random_state=3)
    np.testing.assert_array_equal(iw, iw_sk)


def test_n_init_keeps_best():
    X = blobs(n=600, d=2, k=5, seed=9, spread=5.0)
    one = KMeans(5, init="random", n_init=1, random_state=0).fit(X)
    ten = KMeans(5, init="random", n_init=10, random_state=0).fit(X)
    theirs = _sk(n_clusters=5, init="random", n_init=10, random_state=0).fit(X)
    assert ten.inertia_ <= one.inertia_
    assert_same_fit(ten, theirs, np.float64)


# ----------------------------------------------------------------------------
# Weights, duplicates, empty clusters
# ----------------------------------------------------------------------------


def test_sample_weight_equals_repeated_points(fast_backend):
    X = blobs(n=300, d=3, k=4, seed=11)
    reps = np.random.default_rng(1).integers(1, 4, len(X))
    init = X[:4].copy()
    a = KMeans(4, init=init, backend=fast_backend).fit(X, sample_weight=reps)
    b = KMeans(4, init=init, backend=fast_backend).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.inertia_, b.inertia_, rtol=1e-10)
    np.testing.assert_array_equal(np.repeat(a.labels_, reps), b.labels_)


def test_empty_cluster_is_reseeded_with_farthest_point(backend):
    X = np.array([[0.0, 0], [0.1, 0], [0.2, 0], [10, 0], [10.1, 0], [30, 0]])
    init = np.array([[0.1, 0], [10.0, 0], [100.0, 0]])  # centre 2 gets nobody
    km = KMeans(3, init=init, max_iter=1, backend=backend).fit(X)
    # After one pass: x5 = 30 is farthest from its centre (10.0): it seeds cluster 2.
    np.testing.assert_allclose(km.cluster_centers_[2], [30, 0])
    np.testing.assert_allclose(km.cluster_centers_[1], [10.05, 0])
    full = KMeans(3, init=init, backend=backend).fit(X)
    theirs = _sk(n_clusters=3, init=init, n_init=1).fit(X)
    assert_same_fit(full, theirs, np.float64)
    assert sorted(np.bincount(full.labels_)) == [1, 2, 3]


def test_relocation_takes_the_farthest_ties_to_lowest_index(backend):
    """Several empty clusters, tied distances far apart in the rows."""
    from fastml._registry import kernel_module
    from fastml.cluster import _relocate_empty

    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(9000, 2))
    X[[10, 4100, 8999]] = [50.0, 0.0]  # three tied farthest points
    X[[7, 6000]] = [-40.0, 0.0]  # then two tied at 40
    centers = np.array([[0.0, 0.0], [1.0, 1.0], [99.0, 99.0], [-99.0, 99.0]])
    labels = (X[:, 0] > 0.5).astype(np.int32)
    w = rng.uniform(0.5, 2, len(X))
    sums = np.zeros((4, 2))
    weights = np.zeros(4)
    np.add.at(sums, labels, X * w[:, None])
    np.add.at(weights, labels, w)
    before = sums.copy()
    _relocate_empty(X, w, centers, labels, sums, weights, kernel_module(backend, "kmeans"))
    # Samples 10, 4100 and 8999 are tied farthest (from centre 1): the empty
    # clusters 2 and 3 get the two lowest indices.
    np.testing.assert_allclose(sums[2], X[10] * w[10])
    np.testing.assert_allclose(sums[3], X[4100] * w[4100])
    np.testing.assert_allclose(sums[1], before[1] - X[10] * w[10] - X[4100] * w[4100])
    np.testing.assert_allclose(weights[[2, 3]], w[[10, 4100]])
    np.testing.assert_allclose(weights.sum(), w.sum())


def test_duplicate_points_warn_and_stay_finite():
    X = np.repeat(np.array([[1.0, 2.0], [3.0, 4.0]]), 10, axis=0)
    with pytest.warns(UserWarning, match="distinct clusters"):  # ConvergenceWarning
        km = KMeans(3, random_state=0).fit(X)
    assert np.isfinite(km.cluster_centers_).all()
    assert km.inertia_ == pytest.approx(0.0, abs=1e-12)


def test_more_clusters_than_distinct_points_stop_at_once():
    """scikit-learn's test_relocating_with_duplicates: with every sample on a
    centre there is nothing to relocate, and the first iteration converges."""
    X = np.array([[0, 0], [1, 1], [1, 1], [1, 0], [0, 1]], dtype=float)
    for algorithm in ("lloyd", "elkan"):
        with pytest.warns(UserWarning, match=r"distinct clusters \(4\) found smaller than"):
            km = KMeans(n_clusters=5, init=X, algorithm=algorithm).fit(X)
        assert km.n_iter_ == 1
        np.testing.assert_array_equal(km.cluster_centers_, X)
        assert km.inertia_ == 0.0
    with pytest.warns(RuntimeWarning, match="'elkan' doesn't make sense for a single cluster"):
        one = KMeans(n_clusters=1, algorithm="elkan", random_state=0).fit(X)
    np.testing.assert_allclose(one.cluster_centers_, X.mean(axis=0, keepdims=True))


# ----------------------------------------------------------------------------
# Estimator API
# ----------------------------------------------------------------------------


def test_predict_transform_score_fit_predict(dtype):
    X = blobs(n=400, d=3, k=4, seed=12, dtype=dtype)
    km = KMeans(4, random_state=0).fit(X)
    theirs = _sk(n_clusters=4, random_state=0).fit(X)
    Xn = blobs(n=50, d=3, k=4, seed=13, dtype=dtype)
    np.testing.assert_array_equal(km.predict(Xn), theirs.predict(Xn))
    T = km.transform(Xn)
    assert T.dtype == dtype and T.shape == (50, 4)
    np.testing.assert_allclose(T, theirs.transform(Xn), rtol=1e-4 if dtype == np.float32 else 1e-9)
    np.testing.assert_allclose(
        km.score(Xn), theirs.score(Xn), rtol=1e-5 if dtype == np.float32 else 1e-9
    )
    np.testing.assert_array_equal(KMeans(4, random_state=0).fit_predict(X), km.labels_)
    np.testing.assert_allclose(KMeans(4, random_state=0).fit_transform(X), km.transform(X))
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-6)


def test_clone_get_params_repr():
    from sklearn.base import clone

    km = KMeans(3, init="random", n_init=2, tol=1e-3, random_state=1, backend="numpy")
    params = km.get_params()
    assert params["n_clusters"] == 3 and params["backend"] == "numpy"
    c = clone(km)
    assert c.get_params() == params and c is not km
    assert "n_clusters=3" in repr(km)
    km.set_params(n_clusters=5)
    assert km.n_clusters == 5
    mb = clone(MiniBatchKMeans(4, batch_size=64))
    assert mb.get_params()["batch_size"] == 64


def test_not_fitted():
    with pytest.raises(fastml._base.NotFittedError):
        KMeans(2).predict(np.zeros((2, 2)))


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"n_clusters": 0}, ValueError, "n_clusters"),
        ({"n_clusters": 2.5}, TypeError, "n_clusters"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"n_init": 0}, ValueError, "n_init"),
        ({"n_init": "sometimes"}, ValueError, "n_init"),
        ({"init": "kmeans"}, ValueError, "init"),
        (
            {"init": np.zeros((2, 2))},
            ValueError,
            "initial centers .2, 2. does not match the "
            "number of features of the data 3: init must have shape",
        ),
        (
            {"init": np.zeros((4, 3))},
            ValueError,
            "initial centers .4, 3. does not match the number of clusters 2",
        ),
        ({"algorithm": "full"}, ValueError, "algorithm"),
        ({"backend": "fortran"}, ValueError, "backend"),
        ({"random_state": "seed"}, ValueError, "random_state"),
    ],
)
def test_bad_params(kwargs, err, match):
    X = blobs(n=20, d=3, k=2)
    params = {"n_clusters": 2, **kwargs}
    with pytest.raises(err, match=match):
        KMeans(**params).fit(X)


def test_bad_input():
    X = blobs(n=20, d=3, k=2)
    with pytest.raises(ValueError, match="n_samples=20 should be >= n_clusters=21"):
        KMeans(21).fit(X)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=4"):
        kmeans_plusplus(X[:3], 4)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KMeans(2).fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        KMeans(2).fit(X[0])
    with pytest.raises(ValueError, match="sample_weight"):
        KMeans(2).fit(X, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        KMeans(2).fit(X, sample_weight=-np.ones(20))
    km = KMeans(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="3 features"):
        km.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        km.predict(bad)
    with pytest.raises(ValueError, match="features"):
        _lloyd_step(X, np.zeros((2, 4)))


def test_input_not_modified_and_layouts():
    X = blobs(n=200, d=3, k=3, seed=14)
    Xf = np.asfortranarray(X)
    keep = Xf.copy()
    a = KMeans(3, random_state=0).fit(Xf)
    np.testing.assert_array_equal(Xf, keep)
    b = KMeans(3, random_state=0).fit(X[:, [0, 1, 2]][::1])
    np.testing.assert_array_equal(a.labels_, b.labels_)
    c = KMeans(3, random_state=0).fit(X.tolist())
    np.testing.assert_array_equal(a.labels_, c.labels_)


# ----------------------------------------------------------------------------
# MiniBatchKMeans
# ----------------------------------------------------------------------------


def test_minibatch_finds_the_blobs(dtype):
    X = blobs(n=3000, d=4, k=5, seed=15, dtype=dtype)
    mb = MiniBatchKMeans(5, batch_size=256, random_state=0).fit(X)
    full = KMeans(5, random_state=0).fit(X)
    assert mb.cluster_centers_.dtype == dtype
    assert mb.inertia_ <= 1.05 * full.inertia_
    np.testing.assert_array_equal(mb.labels_, mb.predict(X))


def test_minibatch_partial_fit():
    X = blobs(n=2000, d=3, k=4, seed=16)
    mb = MiniBatchKMeans(4, random_state=0)
    for i in range(0, 2000, 200):
        mb.partial_fit(X[i : i + 200])
    assert mb.n_steps_ == 10
    np.testing.assert_allclose(mb.counts_.sum(), 2000)
    full = KMeans(4, random_state=0).fit(X)
    assert -mb.score(X) <= 1.05 * full.inertia_
    # The running-mean update: a centre is the mean of all samples it absorbed
    # when it was never reassigned (here: every count is large).
    assert mb.labels_.shape == (200,)
    with pytest.raises(ValueError, match="features"):
        mb.partial_fit(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="n_clusters"):
        MiniBatchKMeans(10).partial_fit(X[:5])


def test_minibatch_one_step_is_weighted_mean():
    """From given centres, one partial_fit step moves each centre to its batch mean."""
    X = blobs(n=400, d=2, k=3, seed=17)
    init = X[:3].copy()
    mb = MiniBatchKMeans(3, init=init, reassignment_ratio=0.0).partial_fit(X)
    lab, sums, weights, _ = brute(X, init)
    np.testing.assert_allclose(mb.cluster_centers_, sums / weights[:, None], rtol=1e-12)


def test_minibatch_init_size_rule_as_scikit_learn():
    """init_size below n_clusters: scikit-learn's RuntimeWarning and 3 k rows
    (also when the default, 3 batch_size, is below k, then silently)."""
    X = np.random.default_rng(0).random((100, 5))
    with pytest.warns(RuntimeWarning, match="init_size=10 should be larger than n_clusters=20"):
        a = MiniBatchKMeans(20, init_size=10, n_init=1, random_state=0).fit(X)
    b = MiniBatchKMeans(20, init_size=60, n_init=1, random_state=0).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)  # 3 k = 60 rows
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        c = MiniBatchKMeans(10, batch_size=1, n_init=1, max_iter=3, random_state=0).fit(X)
    d = MiniBatchKMeans(10, batch_size=1, init_size=30, n_init=1, max_iter=3, random_state=0)
    np.testing.assert_array_equal(c.cluster_centers_, d.fit(X).cluster_centers_)


def test_fewer_distinct_clusters_is_scikit_learns_convergence_warning():
    sk_exceptions = pytest.importorskip("sklearn.exceptions")
    X = np.array([[0.0, 0], [0, 1], [1, 0], [1, 0]])
    with pytest.warns(sk_exceptions.ConvergenceWarning, match="distinct clusters"):
        KMeans(4, random_state=0).fit(X)


def test_scikit_learn_parameters_verbose_elkan_copy_x_compute_labels(capsys):
    """Parameters scikit-learn code passes: verbose prints its lines, "elkan"
    (an exact acceleration of the same iterations) gives Lloyd's result,
    copy_x is accepted (X is never modified), compute_labels=False skips the
    final labelling."""
    X = np.random.default_rng(3).standard_normal((300, 4))
    X0 = X.copy()
    km = KMeans(5, n_init=2, verbose=1, random_state=0, copy_x=False).fit(X)
    out = capsys.readouterr().out.splitlines()
    assert out.count("Initialization complete") == 2
    assert sum(line.startswith("Iteration ") for line in out) >= km.n_iter_
    assert sum(line.startswith("Converged at iteration ") for line in out) <= 2
    np.testing.assert_array_equal(X, X0)
    elkan = KMeans(5, n_init=2, random_state=0, algorithm="elkan").fit(X)
    np.testing.assert_array_equal(elkan.labels_, km.labels_)
    np.testing.assert_array_equal(elkan.cluster_centers_, km.cluster_centers_)
    with pytest.raises(ValueError, match="algorithm must be 'lloyd' or 'elkan'"):
        KMeans(5, algorithm="full").fit(X)
    mb = MiniBatchKMeans(5, batch_size=64, compute_labels=False, verbose=1, random_state=0)
    mb.fit(X)
    assert not hasattr(mb, "labels_") and not hasattr(mb, "inertia_")
    assert "Minibatch step 1/" in capsys.readouterr().out
    MiniBatchKMeans(5, batch_size=32, max_no_improvement=1, verbose=1, random_state=0).fit(X)
    assert "Converged (lack of improvement in inertia) at step" in capsys.readouterr().out
    with_labels = MiniBatchKMeans(5, batch_size=64, random_state=0).fit(X)
    np.testing.assert_array_equal(with_labels.cluster_centers_, mb.cluster_centers_)
    assert with_labels.labels_.shape == (300,)


def test_kmeans_warnings_point_at_the_callers_line():
    X = np.repeat(np.arange(4.0)[:, None], 5, axis=0)  # 4 distinct points
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        KMeans(6, n_init=1, random_state=0).fit(X)  # fewer distinct clusters
        KMeans(2, init=X[:2], n_init=3).fit(X)  # explicit centres with n_init > 1
        MiniBatchKMeans(6, init_size=3, n_init=1, random_state=0).fit(X)
    messages = " | ".join(str(w.message) for w in rec)
    for part in ("Number of distinct clusters", "Explicit initial center", "init_size=3"):
        assert part in messages
    assert {w.filename for w in rec} == {__file__}
