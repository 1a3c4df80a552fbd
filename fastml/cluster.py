"""k-means clustering with scikit-learn's API: ``KMeans``, ``MiniBatchKMeans``, ``kmeans_plusplus``.

No numeric loops live here. One Python driver (:func:`_kmeans_single`) holds
the Lloyd iteration: stopping rules, empty-cluster re-seeding, ``history_``;
each backend implements the expensive unit, one fused pass over the data that
labels every sample with its nearest centre and accumulates the new centres'
sums (``fastml._<backend>.kmeans.lloyd``). Results therefore behave the same
on every backend, and match scikit-learn's ``KMeans(algorithm="lloyd")``
given the same initial centres (within floating-point rounding):

* X is centred on its mean before the iterations (as scikit-learn does, for
  more accurate distances); centres are shifted back at the end;
* ``tol`` is relative: ``tol * mean(var(X, axis=0))`` bounds the squared
  Frobenius norm of the centre shift between two iterations; an iteration
  whose labels equal the previous one's stops the run ("strict convergence");
  otherwise a final labelling pass makes ``labels_`` match the centres;
* an empty cluster is re-seeded with the sample farthest from its centre
  (the next farthest for the next empty cluster; ties -> lowest index), that
  sample's weight moving from its old cluster to the empty one;
* ``inertia_`` is ``sum_i w_i ||x_i - c_{label_i}||^2`` by the direct
  difference form; ``history_`` holds, per iteration, the inertia of that
  iteration's assignment to the centres it started from.

Precision: nearest centres are ranked by ``||c||^2 - 2 x.c`` in the data's
dtype (as scikit-learn's BLAS path); sums, weights and inertia are
accumulated in float64 (scikit-learn accumulates in the data's dtype), and
the new centres are rounded to the data's dtype.

Distributed drivers (e.g. Dask) can map :func:`_lloyd_step` over blocks of
rows and reduce ``center_sums`` / ``center_weights`` by addition.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._base import (
    BaseEstimator,
    ClusterMixin,
    ConvergenceWarning,
    TransformerOutputMixin,
    _as_sklearn,
    check_is_fitted,
    check_n_features,
    external_stacklevel,
)
from ._registry import kernel_module, resolve_backend
from ._validation import check_array, check_sample_weight, result_dtype

__all__ = ["KMeans", "MiniBatchKMeans", "kmeans_plusplus"]

_KERNEL = "kmeans"


# ----------------------------------------------------------------------------
# Parameter and input checks
# ----------------------------------------------------------------------------


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return int(value)


def _check_nonneg_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number; got {value!r}")
    value = float(value)
    if not value >= 0 or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite non-negative number; got {value}")
    return value


def _check_random_state(seed):
    """None, an int or a RandomState / Generator -> a NumPy random generator."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState | np.random.Generator):
        return seed
    raise ValueError(f"random_state must be None, an int or a numpy RandomState; got {seed!r}")


def _randint(rng, high, size):
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size)
    return rng.randint(0, high, size)


def _sq_norms(X, step=4096):
    """||x_i||^2 in float64 (for the kernels' inertia).

    float32 rows are converted a block at a time into a small reused buffer
    (a whole float64 copy of X costs twice as much, mostly in page faults).
    """
    if X.dtype == np.float64:
        return np.einsum("ij,ij->i", X, X)
    out = np.empty(X.shape[0])
    buf = np.empty((min(step, X.shape[0]), X.shape[1]))
    for i in range(0, X.shape[0], step):
        b = buf[: min(step, X.shape[0] - i)]
        b[...] = X[i : i + step]
        np.einsum("ij,ij->i", b, b, out=out[i : i + step])
    return out


def _tolerance(X, tol):
    """scikit-learn's absolute tolerance: ``tol`` times the mean per-feature variance."""
    if tol == 0:
        return 0.0
    return float(np.mean(np.var(X, axis=0))) * tol


def _kernels(backend, n, k, d):
    name = resolve_backend(backend, _KERNEL, work=n * k * max(d, 1))
    return kernel_module(name, _KERNEL)


def _check_centers(centers, n_clusters, n_features, dtype, name="init"):
    c = check_array(centers, name, dtype=dtype, finite=True)
    if c.shape != (n_clusters, n_features):  # scikit-learn's sentences, then the shape wanted
        what = (
            f"number of clusters {n_clusters}"
            if c.shape[0] != n_clusters
            else f"number of features of the data {n_features}"
        )
        raise ValueError(
            f"The shape of the initial centers {c.shape} does not match the {what}: {name} "
            f"must have shape (n_clusters, n_features) = ({n_clusters}, {n_features})"
        )
    return c.copy()


# ----------------------------------------------------------------------------
# The stable building block for distributed drivers
# ----------------------------------------------------------------------------


def _lloyd_step(X, centers, sample_weight=None, *, backend=None):
    """One Lloyd pass over ``X``: labels and the (undivided) sums of the new centres.

    Private but stable: a distributed driver maps this over blocks of rows,
    adds up ``inertia``, ``center_sums`` and ``center_weights`` over the
    blocks, and forms the new centres as ``center_sums / center_weights[:, None]``
    (an empty cluster, weight 0, is re-seeded as in :class:`KMeans`).

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
    centers : array_like of shape (n_clusters, n_features)
    sample_weight : array_like of shape (n_samples,), optional
    backend : str, optional

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
        Index of each sample's nearest centre (ties -> lowest index).
    inertia : float
        ``sum_i w_i ||x_i - centers[labels_i]||^2`` (from the ranking form).
    center_sums : ndarray of shape (n_clusters, n_features), float64
        ``sum of w_i x_i`` over the samples of each centre.
    center_weights : ndarray of shape (n_clusters,), float64
        ``sum of w_i`` over the samples of each centre.
    """
    X = check_array(X, "X", finite=True)
    C = check_array(centers, "centers", finite=True)
    if C.shape[1] != X.shape[1]:
        raise ValueError(f"centers must have {X.shape[1]} features like X; got shape {C.shape}")
    dtype = result_dtype(X, C)
    X = X.astype(dtype, copy=False)
    C = C.astype(dtype, copy=False)
    n, d = X.shape
    k = C.shape[0]
    w = check_sample_weight(sample_weight, n, dtype)
    labels = np.empty(n, np.int32)
    sums = np.zeros((k, d))
    weights = np.zeros(k)
    kern = _kernels(backend, n, k, d)
    inertia = kern.lloyd(X, w, _sq_norms(X), C, labels, sums, weights)
    return labels, float(inertia), sums, weights


# ----------------------------------------------------------------------------
# Initialisation
# ----------------------------------------------------------------------------


def _kmeans_plusplus(X, n_clusters, w, rng, n_local_trials, backend):
    """Greedy k-means++ (scikit-learn's algorithm and random draws)."""
    from .distance import cdist

    n, d = X.shape
    centers = np.empty((n_clusters, d), dtype=X.dtype)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    w64 = w.astype(np.float64)
    first = rng.choice(n, p=w64 / w64.sum())
    indices = np.full(n_clusters, -1, dtype=np.intp)
    centers[0] = X[first]
    indices[0] = first
    closest = cdist(X[[first]], X, "sqeuclidean", backend=backend)[0].astype(np.float64)
    pot = float(closest @ w64)
    for c in range(1, n_clusters):
        rand_vals = rng.uniform(size=n_local_trials) * pot
        cand = np.searchsorted(np.cumsum(w64 * closest), rand_vals)
        np.clip(cand, None, n - 1, out=cand)
        dist = cdist(X[cand], X, "sqeuclidean", backend=backend).astype(np.float64)
        np.minimum(closest, dist, out=dist)
        pots = dist @ w64
        best = int(np.argmin(pots))
        pot = float(pots[best])
        closest = dist[best]
        centers[c] = X[cand[best]]
        indices[c] = cand[best]
    return centers, indices


def kmeans_plusplus(
    X,
    n_clusters,
    *,
    sample_weight=None,
    x_squared_norms=None,
    random_state=None,
    n_local_trials=None,
    backend=None,
):
    """Initial centres by greedy k-means++, as ``sklearn.cluster.kmeans_plusplus``.

    Each new centre is the best (lowest potential) of ``n_local_trials``
    samples drawn with probability proportional to ``w_i D(x_i)^2``.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : array_like of shape (n_samples,), optional
    x_squared_norms : array_like of shape (n_samples,), optional
        Accepted for scikit-learn compatibility and checked; fastml computes
        the distances by the direct difference form, which does not need them.
    random_state : None, int or numpy.random.RandomState
        Same seed, same draws as scikit-learn.
    n_local_trials : int, optional
        Default ``2 + int(log(n_clusters))``.
    backend : str, optional

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        X's dtype (float32 or float64).
    indices : ndarray of shape (n_clusters,)
        ``X[indices[i]] == centers[i]``.
    """
    X = check_array(X, "X", finite=True)
    n_clusters = _check_int(n_clusters, "n_clusters")
    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}")
    if n_local_trials is not None:
        n_local_trials = _check_int(n_local_trials, "n_local_trials")
    if x_squared_norms is not None:
        xsq = check_array(x_squared_norms, "x_squared_norms", ndim=1)
        if xsq.shape[0] != X.shape[0]:
            raise ValueError(f"x_squared_norms must have shape ({X.shape[0]},); got {xsq.shape}")
    w = check_sample_weight(sample_weight, X.shape[0], X.dtype)
    rng = _check_random_state(random_state)
    return _kmeans_plusplus(X, n_clusters, w, rng, n_local_trials, backend)


def _init_centers(X, n_clusters, init, w, rng, backend, init_size=None):
    """Initial centres for one run (X already centred when init is an array)."""
    n = X.shape[0]
    if init_size is not None and init_size < n:
        idx = _randint(rng, n, init_size)
        X = X[idx]
        w = w[idx]
        n = X.shape[0]
    if isinstance(init, str) and init == "k-means++":
        centers, _ = _kmeans_plusplus(X, n_clusters, w, rng, None, backend)
    elif isinstance(init, str) and init == "random":
        w64 = w.astype(np.float64)
        seeds = rng.choice(n, size=n_clusters, replace=False, p=w64 / w64.sum())
        centers = X[seeds]
    elif callable(init):
        centers = init(X, n_clusters, random_state=rng)
        centers = _check_centers(centers, n_clusters, X.shape[1], X.dtype, "init(...) result")
    else:
        centers = init
    return np.ascontiguousarray(centers, dtype=X.dtype)


def _resolve_init(init, n_clusters, n_features, dtype):
    """Check ``init``: "k-means++", "random", a callable, or an array of centres."""
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(
                f"init must be 'k-means++', 'random', a callable or an array of shape "
                f"(n_clusters, n_features); got {init!r}"
            )
        return init
    if callable(init):
        return init
    return _check_centers(init, n_clusters, n_features, dtype)


def _resolve_n_init(n_init, init, default):
    if isinstance(n_init, str):
        if n_init != "auto":
            raise ValueError(f"n_init must be 'auto' or an int >= 1; got {n_init!r}")
        if isinstance(init, str) and init == "k-means++":
            return 1
        if isinstance(init, np.ndarray):
            return 1
        return default
    n_init = _check_int(n_init, "n_init")
    if isinstance(init, np.ndarray) and n_init != 1:
        warnings.warn(
            f"Explicit initial center position passed: performing only one init instead of "
            f"n_init={n_init}.",
            RuntimeWarning,
            stacklevel=external_stacklevel(),
        )
        return 1
    return n_init


# ----------------------------------------------------------------------------
# The Lloyd driver (the same for every backend)
# ----------------------------------------------------------------------------


def _relocate_empty(X, w, centers, labels, sums, weights, kern):
    """Re-seed empty clusters with the samples farthest from their centres (in place).

    Deterministic: farthest first, ties -> lowest sample index. Like
    scikit-learn's ``_relocate_empty_clusters``: the sample's weighted
    coordinates move from its cluster's sums to the empty cluster's. The
    distances (float64, direct difference form) come from the backend's
    ``inertia`` kernel.
    """
    empty = np.flatnonzero(weights == 0)
    if empty.size == 0:
        return
    n = X.shape[0]
    dist = np.empty(n)
    kern.inertia(X, w, centers, labels, out=dist)
    if not dist.max() > 0:  # every sample on its centre: more clusters than distinct
        return  # samples, and no sample to move (scikit-learn's rule too)
    # The m farthest, ties -> lowest index (= argsort(-dist, stable)[:m]) without
    # sorting all n: the candidates at or above the m-th largest distance.
    m = min(empty.size, n)
    cand = np.flatnonzero(dist >= np.partition(dist, n - m)[n - m])
    far = cand[np.argsort(-dist[cand], kind="stable")[:m]]
    for new_id, i in zip(empty, far, strict=False):
        wi = float(w[i])
        old = labels[i]
        xi = X[i].astype(np.float64) * wi
        sums[old] -= xi
        weights[old] -= wi
        sums[new_id] = xi
        weights[new_id] = wi


def _new_centers(sums, weights, old, dtype):
    """sums / weights; a cluster with no weight keeps its old centre."""
    if weights.all():  # the usual case, without the masked copies (~40 us)
        return (sums / weights[:, None]).astype(dtype)
    out = old.astype(np.float64)
    nz = weights > 0
    out[nz] = sums[nz] / weights[nz, None]
    return out.astype(dtype)


def _kmeans_single(X, w, xsq, centers, max_iter, tol, kern, verbose=False):
    """One Lloyd run from ``centers``; returns labels, inertia, centers, n_iter, history.

    ``verbose``: print each iteration and the stop as scikit-learn's KMeans does.
    """
    n, d = X.shape
    k = centers.shape[0]
    labels = np.full(n, -1, dtype=np.int32)
    labels_old = labels.copy()
    sums = np.zeros((k, d))
    weights = np.zeros(k)
    history = []
    strict = False
    it = 0
    for it in range(max_iter):  # noqa: B007 - n_iter is it + 1
        history.append(float(kern.lloyd(X, w, xsq, centers, labels, sums, weights)))
        if verbose:
            print(f"Iteration {it}, inertia {history[-1]}.")
        _relocate_empty(X, w, centers, labels, sums, weights, kern)
        new = _new_centers(sums, weights, centers, X.dtype)
        diff = new.astype(np.float64) - centers
        shift = float(np.einsum("ij,ij->", diff, diff))
        centers = new
        if np.array_equal(labels, labels_old):
            strict = True
            if verbose:
                print(f"Converged at iteration {it}: strict convergence.")
            break
        if shift <= tol:
            if verbose:
                print(f"Converged at iteration {it}: center shift {shift} within tolerance {tol}.")
            break
        labels, labels_old = labels_old, labels  # the next pass overwrites every label
    if not strict:
        kern.assign(X, w, xsq, centers, labels)  # labels that match the final centres
    inertia = float(kern.inertia(X, w, centers, labels))
    return labels, inertia, centers, it + 1, history


def _is_same_clustering(labels1, labels2, n_clusters):
    """True if the two labellings are the same up to a permutation of the labels."""
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    first = np.unique(labels1, return_index=True)[1]
    mapping[labels1[first]] = labels2[first]
    return bool(np.array_equal(mapping[labels1], labels2))


# ----------------------------------------------------------------------------
# Estimators
# ----------------------------------------------------------------------------


class _KMeansBase(ClusterMixin, TransformerOutputMixin, BaseEstimator):
    """predict / transform / score shared by KMeans and MiniBatchKMeans."""

    @property
    def _n_features_out(self):  # transform's columns (get_feature_names_out)
        return self.cluster_centers_.shape[0]

    def _check_common(self):
        k = _check_int(self.n_clusters, "n_clusters")
        _check_int(self.max_iter, "max_iter")
        _check_nonneg_float(self.tol, "tol")
        return k

    def _test_data(self, X):
        check_is_fitted(self, "cluster_centers_")
        X = check_n_features(self, X, reset=False)
        dtype = result_dtype(X, self.cluster_centers_)
        return X.astype(dtype, copy=False), self.cluster_centers_.astype(dtype, copy=False)

    def _labels_inertia(self, X, sample_weight, with_inertia):
        X, C = self._test_data(X)
        n, d = X.shape
        w = check_sample_weight(sample_weight, n, X.dtype)
        kern = _kernels(self.backend, n, C.shape[0], d)
        labels = np.empty(n, np.int32)
        kern.assign(X, w, _sq_norms(X), C, labels)
        if not with_inertia:
            return labels, None
        return labels, float(kern.inertia(X, w, C, labels))

    def predict(self, X):
        """Index of the nearest centre of each sample.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), int32
        """
        return self._labels_inertia(X, None, False)[0]

    def transform(self, X):
        """Euclidean distance of each sample to every centre.

        Returns
        -------
        ndarray of shape (n_samples, n_clusters)
            X's dtype (float64 if X and the centres differ).
        """
        from .distance import cdist

        Xc, C = self._test_data(X)
        return self._wrap_output(cdist(Xc, C, "euclidean", backend=self.backend), X)

    def fit_transform(self, X, y=None, sample_weight=None):
        """``fit(X).transform(X)``."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of X against the fitted centres (higher is better).

        Returns
        -------
        float
        """
        return -self._labels_inertia(X, sample_weight, True)[1]


class KMeans(_KMeansBase):
    """k-means clustering by Lloyd's algorithm, one fused compiled pass per iteration.

    Same parameters, attributes and results as ``sklearn.cluster.KMeans``
    with ``algorithm="lloyd"`` (see the module docstring for what is
    identical and what is rounded differently).

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "random"}, callable or array of shape (n_clusters, n_features)
        "k-means++": greedy k-means++ (:func:`kmeans_plusplus`); "random":
        ``n_clusters`` distinct samples drawn with probability proportional
        to their weight; a callable ``init(X, n_clusters, random_state)``.
    n_init : "auto" or int, default "auto"
        Runs from different initialisations; the lowest inertia wins.
        "auto": 1 for "k-means++" or an array, 10 otherwise.
    max_iter : int, default 300
    tol : float, default 1e-4
        Relative tolerance: the run stops when the squared Frobenius norm of
        the centre shift is at most ``tol * mean(var(X, axis=0))``.
    verbose : int, default 0
        Print each iteration's inertia and why the run stopped (scikit-learn's lines).
    random_state : None, int or numpy.random.RandomState
    copy_x : bool, default True
        Accepted for scikit-learn compatibility: fastml never modifies X
        (its centring works on a copy) whatever the value.
    algorithm : {"lloyd", "elkan"}, default "lloyd"
        Both run fastml's Lloyd kernel: Elkan's algorithm is an exact
        acceleration of the same iterations, so the clustering is the same.
    backend : {"auto", "python", "numpy", "numba", "cython"}, optional

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,), int32
    inertia_ : float
        Sum of weighted squared distances of the samples to their centre.
    n_iter_ : int
    history_ : list of float
        Inertia of each iteration's assignment (best run).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastml.cluster import KMeans
    >>> X = np.array([[1.0, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_[:, 0].tolist())
    [1.0, 10.0]
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        verbose=0,
        random_state=None,
        copy_x=True,
        algorithm="lloyd",
        backend=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.backend = backend

    def fit(self, X, y=None, sample_weight=None):
        """Compute the clustering.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            float32 stays float32; other numbers become float64. NaN/inf rejected.
        y : ignored
        sample_weight : array_like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        k = self._check_common()
        if self.algorithm not in ("lloyd", "elkan"):
            raise ValueError(f"algorithm must be 'lloyd' or 'elkan'; got {self.algorithm!r}")
        if self.algorithm == "elkan" and k == 1:  # scikit-learn's warning
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                RuntimeWarning,
                stacklevel=external_stacklevel(),
            )
        X = check_n_features(self, X, reset=True)
        n, d = X.shape
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}")
        init = _resolve_init(self.init, k, d, X.dtype)
        n_init = self._n_init = _resolve_n_init(self.n_init, init, 10)
        w = check_sample_weight(sample_weight, n, X.dtype)
        rng = _check_random_state(self.random_state)
        tol = _tolerance(X, float(self.tol))
        kern = _kernels(self.backend, n, k, d)

        mean = X.mean(axis=0)
        Xc = X - mean  # centred copy: more accurate distances (as scikit-learn)
        if isinstance(init, np.ndarray):
            init = init - mean
        xsq = _sq_norms(Xc)

        best = None
        for _ in range(n_init):
            centers = _init_centers(Xc, k, init, w, rng, self.backend)
            if self.verbose:
                print("Initialization complete")
            run = _kmeans_single(Xc, w, xsq, centers, self.max_iter, tol, kern, self.verbose)
            if best is None or (run[1] < best[1] and not _is_same_clustering(run[0], best[0], k)):
                best = run
        labels, inertia, centers, n_iter, history = best
        centers = (centers + mean).astype(X.dtype, copy=False)
        distinct = int(np.count_nonzero(np.bincount(labels, minlength=k)))
        if distinct < k:
            warnings.warn(
                _as_sklearn(ConvergenceWarning)(
                    f"Number of distinct clusters ({distinct}) found smaller than "
                    f"n_clusters ({k}). Possibly due to duplicate points in X."
                ),
                stacklevel=external_stacklevel(),
            )
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.history_ = history
        return self


class MiniBatchKMeans(_KMeansBase):
    """k-means on random mini-batches, with ``partial_fit`` for data seen in pieces.

    Each step labels a batch with the fused kernel (the same pass as
    :class:`KMeans`) and moves every centre towards the mean of its batch
    samples with a per-centre learning rate ``w_batch / (w_seen + w_batch)``
    (scikit-learn's update): centre ``j`` is then the running weighted mean
    of every sample ever assigned to it. Centres whose accumulated weight
    falls below ``reassignment_ratio`` times the largest are re-seeded with
    random samples of the batch.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "random"}, callable or array, default "k-means++"
    max_iter : int, default 100
        Passes (epochs) over the data in ``fit``.
    batch_size : int, default 1024
    tol : float, default 0.0
        Stop when the squared centre shift of a step is at most ``tol *
        mean(var(X, axis=0))`` (0: never by this rule).
    max_no_improvement : int or None, default 10
        Stop after this many steps without improvement of the smoothed
        batch inertia (None: never by this rule).
    init_size : int, optional
        Samples used for the initialisation (default ``3 * batch_size``).
    n_init : "auto" or int, default "auto"
        Initialisations tried (the best on the init sample is kept); "auto":
        1 for "k-means++" or an array, 3 otherwise.
    reassignment_ratio : float, default 0.01
    verbose : int, default 0
        Print each step's mean batch inertia.
    compute_labels : bool, default True
        Compute ``labels_`` and ``inertia_`` over the data after ``fit`` and
        each ``partial_fit`` (one more pass over it); False leaves them unset.
    random_state : None, int or numpy.random.RandomState
    backend : str, optional

    Attributes
    ----------
    cluster_centers_, labels_, inertia_, n_iter_, n_features_in_
        As :class:`KMeans` (``labels_`` and ``inertia_`` over the data of the
        last ``fit`` or ``partial_fit`` call).
    n_steps_ : int
        Mini-batch steps done.
    counts_ : ndarray of shape (n_clusters,)
        Total sample weight each centre has absorbed.
    history_ : list of float
        Inertia of each step's batch (per sample).
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=100,
        batch_size=1024,
        tol=0.0,
        max_no_improvement=10,
        init_size=None,
        n_init="auto",
        reassignment_ratio=0.01,
        verbose=0,
        compute_labels=True,
        random_state=None,
        backend=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.backend = backend

    def _check_params(self):
        k = self._check_common()
        _check_int(self.batch_size, "batch_size")
        if self.max_no_improvement is not None:
            _check_int(self.max_no_improvement, "max_no_improvement", 0)
        if self.init_size is not None:
            _check_int(self.init_size, "init_size")
        _check_nonneg_float(self.reassignment_ratio, "reassignment_ratio")
        return k

    def _initialise(self, X, w, k, rng, kern):
        """Initial centres: the best of n_init initialisations on an init sample."""
        n, d = X.shape
        init = _resolve_init(self.init, k, d, X.dtype)
        n_init = self._n_init = _resolve_n_init(self.n_init, init, 3)
        # scikit-learn's rule: 3 batches, and at least 3 k when that is fewer than k
        init_size = self.init_size if self.init_size is not None else 3 * self.batch_size
        if init_size < k:
            if self.init_size is not None:
                warnings.warn(
                    f"init_size={init_size} should be larger than n_clusters={k}. "
                    "Setting it to min(3*n_clusters, n_samples)",
                    RuntimeWarning,
                    stacklevel=external_stacklevel(),
                )
            init_size = 3 * k
        init_size = self._init_size = min(init_size, n)
        val = _randint(rng, n, init_size)
        Xv, wv = X[val], w[val]
        best, best_inertia = None, np.inf
        for _ in range(n_init):
            centers = _init_centers(X, k, init, w, rng, self.backend, init_size=init_size)
            labels = np.empty(len(Xv), np.int32)
            kern.assign(Xv, wv, _sq_norms(Xv), centers, labels)
            inertia = kern.inertia(Xv, wv, centers, labels)
            if inertia < best_inertia or best is None:
                best, best_inertia = centers, inertia
        self.cluster_centers_ = best.copy()
        self.counts_ = np.zeros(k)
        self.n_steps_ = 0
        self.history_ = []
        self._since_reassign = 0

    def _step(self, Xb, wb, rng, kern):
        """One mini-batch update; returns (batch inertia, squared centre shift)."""
        k = self.cluster_centers_.shape[0]
        d = Xb.shape[1]
        labels = np.empty(len(Xb), np.int32)
        sums = np.zeros((k, d))
        weights = np.zeros(k)
        inertia = kern.lloyd(Xb, wb, _sq_norms(Xb), self.cluster_centers_, labels, sums, weights)
        old = self.cluster_centers_.astype(np.float64)
        counts = self.counts_
        hit = weights > 0
        new = old.copy()
        new[hit] = (old[hit] * counts[hit, None] + sums[hit]) / (counts[hit] + weights[hit])[
            :, None
        ]
        counts += weights
        self._since_reassign += len(Xb)
        if self.reassignment_ratio > 0 and self._since_reassign >= 10 * k:
            self._since_reassign = 0
            low = counts < self.reassignment_ratio * counts.max()
            n_low = int(low.sum())
            if 0 < n_low:
                n_low = min(n_low, max(1, len(Xb) // 2))
                ids = np.flatnonzero(low)[:n_low]
                pick = rng.choice(len(Xb), size=min(n_low, len(Xb)), replace=False)
                ids = ids[: len(pick)]
                new[ids] = Xb[pick]
                counts[ids] = counts[~low].min() if (~low).any() else 1.0
        diff = new - old
        self.cluster_centers_ = new.astype(Xb.dtype)
        self.n_steps_ += 1
        self.history_.append(float(inertia) / max(float(wb.sum()), 1e-300))
        return float(inertia), float(np.einsum("ij,ij->", diff, diff))

    def _finish(self, X, w, kern):
        if not self.compute_labels:
            return
        labels = np.empty(X.shape[0], np.int32)
        kern.assign(X, w, _sq_norms(X), self.cluster_centers_, labels)
        self.labels_ = labels
        self.inertia_ = float(kern.inertia(X, w, self.cluster_centers_, labels))

    def fit(self, X, y=None, sample_weight=None):
        """Compute the clustering from random mini-batches of X.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array_like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        k = self._check_params()
        X = check_n_features(self, X, reset=True)
        n, d = X.shape
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}")
        w = check_sample_weight(sample_weight, n, X.dtype)
        rng = _check_random_state(self.random_state)
        kern = _kernels(self.backend, n, k, d)
        tol = _tolerance(X, float(self.tol))
        self._rng = rng
        self._initialise(X, w, k, rng, kern)
        batch = min(self.batch_size, n)
        n_steps = (self.max_iter * n) // batch
        ewa, best_ewa, no_improvement = None, np.inf, 0
        alpha = min(1.0, 2.0 * batch / (n + 1))
        for step in range(n_steps):
            idx = _randint(rng, n, batch)
            inertia, shift = self._step(X[idx], w[idx], rng, kern)
            per_sample = inertia / batch
            ewa = per_sample if ewa is None else ewa * (1 - alpha) + per_sample * alpha
            if self.verbose:
                print(
                    f"Minibatch step {step + 1}/{n_steps}: mean batch inertia: {per_sample}, "
                    f"ewa inertia: {ewa}"
                )
            if tol > 0 and shift <= tol:
                if self.verbose:
                    print(f"Converged (small centers change) at step {step + 1}/{n_steps}")
                break
            if ewa < best_ewa:
                best_ewa, no_improvement = ewa, 0
            else:
                no_improvement += 1
            if self.max_no_improvement is not None and no_improvement >= self.max_no_improvement:
                if self.verbose:
                    print(
                        f"Converged (lack of improvement in inertia) at step {step + 1}/{n_steps}"
                    )
                break
        self.n_iter_ = int(np.ceil(self.n_steps_ * batch / n))
        self._finish(X, w, kern)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centres with one mini-batch step on X.

        The first call initialises the centres from X (which must then hold at
        least ``n_clusters`` samples).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array_like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        first = not hasattr(self, "cluster_centers_")
        k = self._check_params()
        X = check_n_features(self, X, reset=first)
        n, d = X.shape
        w = check_sample_weight(sample_weight, n, X.dtype)
        if first:
            if n < k:
                raise ValueError(f"n_samples={n} should be >= n_clusters={k}")
            self._rng = _check_random_state(self.random_state)
            self._initialise(X, w, k, self._rng, _kernels(self.backend, n, k, d))
        elif X.dtype != self.cluster_centers_.dtype:
            X = X.astype(self.cluster_centers_.dtype)
            w = w.astype(X.dtype)
        kern = _kernels(self.backend, n, k, d)
        self._step(X, w, self._rng, kern)
        self.n_iter_ = self.n_steps_
        self._finish(X, w, kern)
        return self
