"""Nearest neighbours: ``kneighbors``, ``radius_neighbors`` and scikit-learn-style
estimators (``NearestNeighbors``, ``KNeighborsClassifier``, ``KNeighborsRegressor``).

No numeric loops live here: each function validates its input once, rewrites
the metric (:func:`fastml._metrics.prepare`), resolves the backend and calls
that backend's ``neighbors`` kernel, which walks queries and base points in
tiles (the n x m distance matrix is never formed; extra memory is a few tens
of MiB plus the results).

Conventions
-----------
* Each query's neighbours are sorted by distance, ties broken by the lower
  base index; a NaN distance (e.g. cosine of a zero vector) ranks as +inf.
* ``Y=None`` means ``Y = X`` and a point is not its own neighbour (excluded
  by index, as scikit-learn does: an exact duplicate of it still is one;
  where more than k duplicates tie with it, scikit-learn drops the first of
  them instead, and fastml still the point itself).
* float32 input gives float32 distances; indices are ``intp`` (int64).
* euclidean-type metrics (euclidean, sqeuclidean, seuclidean, weighted
  euclidean, minkowski with p=2) use
  a fast matrix-product filter in the compiled backends; the distances
  returned are recomputed exactly (direct ``sum (x - y)^2`` in float64) and
  the neighbour sets are certified against a rigorous error bound, so they
  match a float64 brute-force computation except at genuine ties
  (see ``fastml._numba.neighbors``).

Distributed use (the contract the Dask driver relies on)
--------------------------------------------------------
``kneighbors(X, Y[a:b], k)`` on a row block of Y returns block-local indices.
Adding ``a`` to them and merging the per-block lists by ``(distance, index)``
(e.g. a stable sort on distance of the concatenated lists, blocks in order)
gives exactly the result of one call on the whole Y, because every list is
sorted by (distance, index) and the distance of a pair does not depend on the
other rows. Metrics whose default parameters are computed from the data
(seuclidean's V, mahalanobis' VI) must then be given those parameters
explicitly.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    check_class_labels,
    check_is_fitted,
    check_n_features,
    column_vector_y,
    external_stacklevel,
    target_array,
)
from ._metrics import BOOLEAN_COUNTS, canonical_metric, haversine_pairs, prepare
from ._registry import kernel_module, resolve_backend
from ._validation import check_array, check_pair
from .distance import callable_backend

__all__ = [
    "KNeighborsClassifier",
    "KNeighborsRegressor",
    "NearestNeighbors",
    "kneighbors",
    "radius_neighbors",
]


def _check_k(n_neighbors, n_base, exclude_self):
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, numbers.Integral):
        raise TypeError(f"n_neighbors must be a positive int; got {n_neighbors!r}")
    k = int(n_neighbors)
    if k <= 0:
        raise ValueError(f"Expected n_neighbors > 0; got {k}")
    available = n_base - 1 if exclude_self else n_base
    if k > available:
        extra = " (a point is not its own neighbour when Y is None)" if exclude_self else ""
        raise ValueError(
            f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, "
            f"n_samples_fit = {available}{extra}"
        )
    return k


def _inputs(X, Y):
    """Validated (XA, XB, exclude_self); NaN and inf are rejected as scikit-learn does."""
    if Y is None:
        X = check_array(X, "X", finite=True)
        return X, X, True
    X, Y = check_pair(X, Y, ("X", "Y"))
    for name, A in (("X", X), ("Y", Y)):
        if not np.isfinite(A).all():
            raise ValueError(f"{name} contains NaN or infinity")
    return X, Y, False


def _callable_module(metric, backend, kwargs):
    """(kernel module, func) for a callable metric (the rules of fastml.cdist)."""
    name, func = callable_backend(metric, backend, kwargs, "neighbors")
    return kernel_module(name, "neighbors"), func


def kneighbors(
    X,
    Y=None,
    n_neighbors=5,
    *,
    metric="euclidean",
    return_distance=True,
    backend=None,
    **metric_kwargs,
):
    """The ``n_neighbors`` nearest rows of Y for every row of X.

    Parameters
    ----------
    X : array_like of shape (n_queries, n_features)
        Query points.
    Y : array_like of shape (n_samples, n_features), optional
        Base points. None means ``Y = X`` and a point is not its own
        neighbour.
    n_neighbors : int, default 5
        Neighbours per query; at most ``n_samples`` (``n_samples - 1`` when
        Y is None).
    metric : str, callable or DistanceMetric, default "euclidean"
        Any metric of :func:`fastml.cdist` (with its keyword arguments), or
        a function ``f(u, v) -> float`` (Numba-jitted: numba backend; plain
        Python: python backend), or a scikit-learn ``DistanceMetric`` object
        (its ``pairwise`` distances, in its dtype, a block of queries at a
        time; the k smallest of each row as for "precomputed").
    return_distance : bool, default True
        Return (distances, indices) if True, else indices only.
    backend : str, optional
        "auto", "python", "numpy", "numba" or "cython".
    **metric_kwargs
        ``p``, ``w``, ``V``, ``VI`` as for :func:`fastml.cdist`.

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors)
        float32 if X and Y are float32, else float64. Only if ``return_distance``.
    indices : ndarray of shape (n_queries, n_neighbors), intp
        Sorted by distance, ties by the lower index.

    Examples
    --------
    >>> import numpy as np, fastml.neighbors as nb
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> nb.kneighbors(X, n_neighbors=1)
    (array([[1.],
           [1.],
           [2.]]), array([[1],
           [0],
           [1]]))
    """
    XA, XB, exclude = _inputs(X, Y)
    k = _check_k(n_neighbors, XB.shape[0], exclude)
    nq = XA.shape[0]
    if callable(metric):
        mod, func = _callable_module(metric, backend, metric_kwargs)
        dist = np.empty((nq, k), np.float64)
        ind = np.empty((nq, k), np.int64)
        mod.kneighbors_callable(XA, XB, k, func, exclude, dist, ind)
    elif _by_blocks(metric):
        blocks = _cdist_blocks(XA, XB, exclude, metric, backend, metric_kwargs)
        parts = [_precomputed_kneighbors(D, k, exclude, first=i0) for i0, D in blocks]
        dist = np.concatenate([d for d, _ in parts]).astype(np.float64)
        ind = np.concatenate([i for _, i in parts])
    else:
        prep = prepare(metric, XA, None if exclude else XB, metric_kwargs)
        A = prep.XA
        B = A if exclude else prep.XB
        work = nq * B.shape[0] * max(1, B.shape[1])
        mod = kernel_module(resolve_backend(backend, "neighbors", prep.metric, work), "neighbors")
        dist = np.empty((nq, k), np.float64)
        ind = np.empty((nq, k), np.int64)
        mod.kneighbors(A, B, k, prep.metric, *prep.args(), exclude, dist, ind)
        if prep.post == "haversine":  # searched on the chord; the angles from the coordinates
            dist = _haversine_of(prep, ind)
    ind = ind.astype(np.intp, copy=False)
    if not return_distance:
        return ind
    return dist.astype(XA.dtype, copy=False), ind


# cdist's metrics the neighbour kernels do not take: the boolean dissimilarities
# (a formula over the ``dot`` kernel's output) and jensenshannon (a finish marks
# the rows that are no distributions)
_CDIST_ONLY = (*BOOLEAN_COUNTS, "jensenshannon")


def _cdist_blocks(XA, XB, exclude, metric, backend, metric_kwargs):
    """(first row, distances) over row blocks of XA, by :func:`fastml.cdist`.

    For the metrics the neighbour kernels do not take (:data:`_CDIST_ONLY`;
    XA and XB are taken as booleans for the boolean dissimilarities): each
    block's k smallest or in-radius entries are then picked as for
    ``metric="precomputed"``.
    Blocks hold about 2**22 distances.
    """
    from .distance import cdist

    if _is_distance_metric(metric):  # its own compiled pairwise, in its own dtype
        dtype = _distance_metric_dtype(metric, XA.dtype, metric_kwargs)

        def pairwise(A, B):
            return metric.pairwise(np.asarray(A, dtype), np.asarray(B, dtype))
    else:
        # scikit-learn's neighbour searches take the data as booleans for these
        # (SciPy's cdist computes unweighted dice on the values themselves)
        if canonical_metric(metric) in BOOLEAN_COUNTS:
            XA, XB = (None if X is None else (X != 0).astype(X.dtype) for X in (XA, XB))

        def pairwise(A, B):
            return cdist(A, B, metric, backend=backend, **metric_kwargs)

    B = XA if exclude else XB
    step = max(1, (1 << 22) // max(1, B.shape[0]))
    for i0 in range(0, XA.shape[0], step):
        yield i0, pairwise(XA[i0 : i0 + step], B)


def _is_distance_metric(metric):
    """True for a scikit-learn ``DistanceMetric`` object (duck-typed: scikit-learn
    is not imported for it), which the searches take by its ``pairwise``."""
    return not isinstance(metric, str) and all(
        hasattr(metric, name) for name in ("pairwise", "dist_to_rdist", "rdist_to_dist")
    )


def _distance_metric_dtype(metric, data_dtype, metric_kwargs):
    """The dtype a DistanceMetric object computes in, checked against the data:
    float32 data may go to a float64 metric, float64 data not to a float32 one
    (it would be rounded: scikit-learn refuses the pair)."""
    if metric_kwargs:
        raise TypeError(
            f"metric parameters {sorted(metric_kwargs)} cannot be used with a DistanceMetric "
            "object: its parameters are fixed when it is made (DistanceMetric.get_metric)"
        )
    if type(metric).__name__.endswith("32"):
        if data_dtype != np.float32:
            raise ValueError(
                f"a float32 DistanceMetric ({type(metric).__name__}) needs float32 data; got "
                f"{data_dtype}: make it with DistanceMetric.get_metric(..., dtype=np.float64)"
            )
        return np.float32
    return np.float64


def _by_blocks(metric):
    """True where a search picks from blocks of distances (:func:`_cdist_blocks`)."""
    return _is_distance_metric(metric) or canonical_metric(metric) in _CDIST_ONLY


def _haversine_of(prep, ind):
    """Angles between each query and its neighbours ``ind`` (n_queries, k)."""
    A, B = prep.counts
    B = A if B is None else B
    rows = np.repeat(np.arange(ind.shape[0]), ind.shape[1])
    return haversine_pairs(A[rows], B[ind.ravel()]).reshape(ind.shape)


def _haversine_within(prep, indptr, indices, radius):
    """A radius search's CSR result on the chord, kept where the angle is <= radius."""
    A, B = prep.counts
    B = A if B is None else B
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.intp)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    angles = haversine_pairs(A[rows], B[indices])
    keep = angles <= radius
    return _indptr(rows[keep], len(indptr) - 1), indices[keep], angles[keep]


def _object_array(parts):
    out = np.empty(len(parts), dtype=object)
    for i, part in enumerate(parts):
        out[i] = part
    return out


def _check_radius(radius):
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
        raise TypeError(f"radius must be a non-negative number; got {radius!r}")
    radius = float(radius)
    if not radius >= 0:
        raise ValueError(f"radius must be a non-negative number; got {radius}")
    return radius


def _radius_csr(X, Y, radius, metric, backend, metric_kwargs):
    """Validated call of the backend's radius kernel: (indptr, indices, distances, dtype)."""
    XA, XB, exclude = _inputs(X, Y)
    radius = _check_radius(radius)
    if callable(metric):
        mod, func = _callable_module(metric, backend, metric_kwargs)
        res = mod.radius_neighbors_callable(XA, XB, radius, func, exclude)
    elif _by_blocks(metric):
        blocks = _cdist_blocks(XA, XB, exclude, metric, backend, metric_kwargs)
        parts = [_precomputed_csr(D, radius, exclude, first=i0) for i0, D in blocks]
        starts = np.cumsum([0] + [p[0][-1] for p in parts[:-1]])
        indptr = np.concatenate(
            [[0]] + [p[0][1:] + s0 for p, s0 in zip(parts, starts, strict=True)]
        )
        res = (indptr, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
    else:
        prep = prepare(metric, XA, None if exclude else XB, metric_kwargs)
        A = prep.XA
        B = A if exclude else prep.XB
        work = A.shape[0] * B.shape[0] * max(1, B.shape[1])
        mod = kernel_module(resolve_backend(backend, "neighbors", prep.metric, work), "neighbors")
        if prep.post == "haversine":
            # candidates within the chord of the angle (and a hair more), then
            # the angles from the coordinates decide
            chord = 2.0 * np.sin(min(radius, np.pi) / 2.0) * (1.0 + 1e-12) + 1e-300
            indptr, indices, _ = mod.radius_neighbors(
                A, B, chord, prep.metric, *prep.args(), exclude
            )
            res = _haversine_within(prep, indptr, indices, radius)
        else:
            res = mod.radius_neighbors(A, B, radius, prep.metric, *prep.args(), exclude)
    indptr, indices, distances = res
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.intp)
    distances = np.asarray(distances, dtype=np.float64).astype(XA.dtype, copy=False)
    return indptr, indices, distances, XA.shape[0]


def _sort_csr(indptr, indices, distances):
    """Sort each row of a CSR result by (distance, index), in place."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    key = np.where(np.isnan(distances), np.inf, distances)
    order = np.lexsort((indices, key, rows))
    indices[...] = indices[order]
    distances[...] = distances[order]


def radius_neighbors(
    X,
    Y=None,
    radius=1.0,
    *,
    metric="euclidean",
    return_distance=True,
    sort_results=False,
    backend=None,
    **metric_kwargs,
):
    """Every row of Y within distance ``radius`` (``d <= radius``) of each row of X.

    Parameters
    ----------
    X : array_like of shape (n_queries, n_features)
    Y : array_like of shape (n_samples, n_features), optional
        None means ``Y = X`` and a point is not its own neighbour.
    radius : float, default 1.0
        Non-negative; the boundary is included (as scikit-learn).
    metric, backend, **metric_kwargs
        As for :func:`kneighbors`.
    return_distance : bool, default True
    sort_results : bool, default False
        Sort each query's neighbours by distance (ties by index); otherwise
        they come in increasing index order.

    Returns
    -------
    distances : ndarray of shape (n_queries,), dtype object
        Each element a 1-D array of the distances (X's dtype). Only if
        ``return_distance``.
    indices : ndarray of shape (n_queries,), dtype object
        Each element a 1-D intp array of base indices.
    """
    csr = _radius_csr(X, Y, radius, metric, backend, metric_kwargs)
    return _ragged(*csr, return_distance, sort_results)


def _ragged(indptr, indices, distances, nq, return_distance, sort_results):
    """A CSR result as scikit-learn's object arrays of per-query arrays."""
    if sort_results:
        if not return_distance:
            raise ValueError("return_distance must be True if sort_results is True.")
        _sort_csr(indptr, indices, distances)
    ind = _object_array([indices[indptr[i] : indptr[i + 1]] for i in range(nq)])
    if not return_distance:
        return ind
    dist = _object_array([distances[indptr[i] : indptr[i + 1]] for i in range(nq)])
    return dist, ind


# ----------------------------------------------------------------------------
# Estimators (scikit-learn's conventions and results)
# ----------------------------------------------------------------------------

_ALGORITHMS = ("auto", "brute", "kd_tree", "ball_tree")


class _NeighborsBase(BaseEstimator):
    """Shared fit / kneighbors / radius_neighbors of the estimators."""

    def _metric_kwargs(self):
        kwargs = dict(self.metric_params or {})
        metric = self.metric
        if isinstance(metric, str) and metric.strip().lower() in ("minkowski", "mi", "m", "pnorm"):
            kwargs.setdefault("p", self.p)
        return kwargs

    def _fit_X(self, X):
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(
                f"algorithm must be one of {', '.join(_ALGORITHMS)}; got {self.algorithm!r}"
            )
        if self.metric_params is not None and not isinstance(self.metric_params, dict):
            raise TypeError("metric_params must be a dict or None")
        X = check_n_features(self, X, reset=True)
        if self._precomputed():
            if X.shape[0] != X.shape[1]:
                raise ValueError(
                    "X must be a square distance matrix (n_samples, n_samples) with "
                    f"metric='precomputed'; got shape {X.shape}"
                )
            self._fit_X_ = _check_precomputed(X)
            self._fit_method = "brute"
            self.n_samples_fit_ = X.shape[0]
            self.effective_metric_ = "precomputed"
            self.effective_metric_params_ = {}
            return X
        if _is_distance_metric(self.metric):  # fail early
            _distance_metric_dtype(self.metric, X.dtype, self._metric_kwargs())
        elif not callable(self.metric):
            prepare(self.metric, X[:1], X[:1], self._metric_kwargs())  # fail early
            self._check_semimetric()
        resolve_backend(self.backend, "neighbors")
        self._fit_method = "brute"  # scikit-learn's attribute: every search here is exact
        self._fit_X_ = X
        self.n_samples_fit_ = X.shape[0]
        self.effective_metric_ = self.metric
        self.effective_metric_params_ = self._metric_kwargs()
        return X

    def _check_semimetric(self):
        """scikit-learn's rules for Minkowski with 0 < p < 1 (not a metric: no
        triangle inequality, so no tree): an error for ``algorithm="kd_tree"`` or
        ``"ball_tree"``, else a warning that brute force runs."""
        p = self._metric_kwargs().get("p")
        if not isinstance(p, numbers.Real) or not 0 < p < 1:
            return
        if self.algorithm in ("kd_tree", "ball_tree"):
            raise ValueError(
                f'algorithm="{self.algorithm}" does not support 0 < p < 1 for the Minkowski '
                'metric. To resolve this problem either set p >= 1 or algorithm="brute".'
            )
        warnings.warn(
            "Mind that for 0 < p < 1, Minkowski metrics are not distance metrics. Continuing "
            "the execution with `algorithm='brute'`.",
            UserWarning,
            stacklevel=external_stacklevel(),
        )

    def _precomputed(self):
        return isinstance(self.metric, str) and self.metric == "precomputed"

    def _pairwise_input(self):  # scikit-learn's cross-validation then slices both axes
        return self._precomputed()

    def _query(self, X):
        check_is_fitted(self, "_fit_X_")
        if X is None:
            return None
        X = check_n_features(self, X, reset=False)
        if X.dtype != self._fit_X_.dtype:
            X = X.astype(np.float64)
        return _check_precomputed(X) if self._precomputed() else X

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The nearest fitted points of each query point.

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features), optional
            None: the fitted points themselves, each not its own neighbour.
        n_neighbors : int, optional
            Default: the ``n_neighbors`` given at construction.
        return_distance : bool, default True

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only if ``return_distance``.
        indices : ndarray of shape (n_queries, n_neighbors)
            Indices into the fitted data, sorted by distance (ties: lower index).
        """
        Xq = self._query(X)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if self._precomputed():
            D = self._fit_X_ if Xq is None else Xq
            dist, ind = _precomputed_kneighbors(D, k, Xq is None)
            return (dist, ind) if return_distance else ind
        args = (self._fit_X_, None) if Xq is None else (Xq, self._fit_X_)
        return kneighbors(
            *args,
            n_neighbors=k,
            metric=self.metric,
            return_distance=return_distance,
            backend=self.backend,
            **self._metric_kwargs(),
        )

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """Sparse (n_queries, n_samples_fit) graph of the k nearest neighbours.

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features), optional
        n_neighbors : int, optional
        mode : {"connectivity", "distance"}
            Ones, or the distances, at each neighbour.

        Returns
        -------
        scipy.sparse.csr_matrix
            Needs SciPy.
        """
        if mode not in ("connectivity", "distance"):
            raise ValueError(f'mode must be "connectivity" or "distance"; got {mode!r}')
        sparse = _scipy_sparse()
        dist, ind = self.kneighbors(X, n_neighbors, return_distance=True)
        nq, k = ind.shape
        data = np.ones(nq * k) if mode == "connectivity" else dist.ravel()
        indptr = np.arange(0, nq * k + 1, k)
        return sparse.csr_matrix((data, ind.ravel(), indptr), shape=(nq, self.n_samples_fit_))

    def radius_neighbors(self, X=None, radius=None, return_distance=True, sort_results=False):
        """Fitted points within ``radius`` of each query point (ragged, as scikit-learn).

        Parameters
        ----------
        X : array_like of shape (n_queries, n_features), optional
            None: the fitted points themselves, each not its own neighbour.
        radius : float, optional
            Default: the ``radius`` given at construction.
        return_distance : bool, default True
        sort_results : bool, default False

        Returns
        -------
        distances : ndarray of shape (n_queries,), dtype object
        indices : ndarray of shape (n_queries,), dtype object
        """
        Xq = self._query(X)
        if self._precomputed():
            D = self._fit_X_ if Xq is None else Xq
            csr = _precomputed_csr(D, self.radius if radius is None else radius, Xq is None)
            return _ragged(*csr, return_distance, sort_results)
        args = (self._fit_X_, None) if Xq is None else (Xq, self._fit_X_)
        return radius_neighbors(
            *args,
            radius=self.radius if radius is None else radius,
            metric=self.metric,
            return_distance=return_distance,
            sort_results=sort_results,
            backend=self.backend,
            **self._metric_kwargs(),
        )

    def radius_neighbors_graph(self, X=None, radius=None, mode="connectivity", sort_results=False):
        """Sparse (n_queries, n_samples_fit) graph of the neighbours within ``radius``."""
        if mode not in ("connectivity", "distance"):
            raise ValueError(f'mode must be "connectivity" or "distance"; got {mode!r}')
        sparse = _scipy_sparse()
        Xq = self._query(X)
        r = self.radius if radius is None else radius
        if self._precomputed():
            D = self._fit_X_ if Xq is None else Xq
            indptr, ind, dist, nq = _precomputed_csr(D, r, Xq is None)
        else:
            args = (self._fit_X_, None) if Xq is None else (Xq, self._fit_X_)
            indptr, ind, dist, nq = _radius_csr(
                *args, r, self.metric, self.backend, self._metric_kwargs()
            )
        if sort_results:
            _sort_csr(indptr, ind, dist)
        data = np.ones(len(ind)) if mode == "connectivity" else dist
        return sparse.csr_matrix((data, ind, indptr), shape=(nq, self.n_samples_fit_))


def _check_precomputed(D):
    if (D < 0).any():
        raise ValueError("Negative values in data passed to precomputed distance matrix.")
    return D


def _precomputed_kneighbors(D, k, exclude_self, first=0):
    """The k smallest entries of each row of a distance matrix (ties: lower index).

    ``exclude_self``: D holds rows ``first ..`` of the fitted (n, n) matrix and
    row i's own column is not a candidate (as for Y=None), whatever its value.
    NaN sorts after every number. The candidates are the entries up to each
    row's k-th smallest value (``np.partition``, ties at it included), sorted
    exactly; a row whose k-th value is not finite is sorted whole.
    """
    k = _check_k(k, D.shape[1], exclude_self)
    nrows = D.shape[0]
    own = first + np.arange(nrows)
    key = D
    if exclude_self:
        key = D.copy()
        key[np.arange(nrows), own] = np.inf
    kth = np.partition(key, k - 1, axis=1)[:, k - 1] if nrows else np.empty(0)
    if not np.isfinite(kth).all():  # k reaches infinities, NaN or the row's own column
        cols = np.arange(D.shape[1])
        self_last = (cols[None, :] == own[:, None]) if exclude_self else None
        # lexsort: the last key is the primary one; it is stable, so ties keep index order
        keys = (D,) if self_last is None else (D, self_last)
        ind = np.lexsort(keys, axis=1)[:, :k].astype(np.intp)
        return np.take_along_axis(D, ind, axis=1), ind
    rows, cols = np.nonzero(key <= kth[:, None])  # at least k per row
    order = np.lexsort((cols, key[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    first_of_row = np.searchsorted(rows, np.arange(nrows))
    ind = cols[first_of_row[:, None] + np.arange(k)].astype(np.intp)
    return np.take_along_axis(D, ind, axis=1), ind


def _precomputed_csr(D, radius, exclude_self, first=0):
    """:func:`_radius_csr` on a distance matrix: (indptr, indices, distances, n_queries).

    ``exclude_self``: D holds rows ``first ..`` of the fitted (n, n) matrix.
    """
    mask = D <= _check_radius(radius)
    if exclude_self:
        rows = np.arange(D.shape[0])
        mask[rows, first + rows] = False
    rows, indices = np.nonzero(mask)
    return _indptr(rows, D.shape[0]), indices.astype(np.intp), D[rows, indices], D.shape[0]


def _indptr(rows, n_rows):
    """CSR row pointers of entries whose (sorted) row numbers are ``rows``."""
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr


def _scipy_sparse():
    try:
        import scipy.sparse as sparse
    except ImportError:  # pragma: no cover - scipy is optional
        raise ImportError(
            "neighbour graphs are returned as scipy.sparse matrices; install SciPy "
            "(`pip install scipy`) to use kneighbors_graph / radius_neighbors_graph"
        ) from None
    return sparse


class NearestNeighbors(_NeighborsBase):
    """Unsupervised nearest neighbours (brute force on fused, tiled kernels).

    Parameters
    ----------
    n_neighbors : int, default 5
    radius : float, default 1.0
    algorithm : {"auto", "brute", "kd_tree", "ball_tree"}, default "auto"
        Accepted for compatibility with scikit-learn; the search is always an
        exact brute-force one (the results are the same).
    leaf_size : int, default 30
        Accepted for compatibility with scikit-learn (a tree parameter); unused.
    metric : str, callable or DistanceMetric, default "minkowski"
        Any metric of :func:`fastml.cdist`; "minkowski" with ``p=2`` is euclidean.
        A callable or a scikit-learn ``DistanceMetric`` object as in
        :func:`kneighbors`.
        "precomputed": ``fit`` takes the (n_samples, n_samples) distance matrix
        and the queries are (n_queries, n_samples) distances to the fitted
        points (non-negative), as in scikit-learn.
    p : float, default 2
        The Minkowski power (used when ``metric="minkowski"``).
    metric_params : dict, optional
        Further metric keyword arguments (``w``, ``V``, ``VI``).
    n_jobs : None
        Accepted for compatibility; threads come from :func:`fastml.set_num_threads`.
    backend : str, optional
        fastml backend for the kernels (default: "auto").

    Attributes
    ----------
    n_features_in_ : int
    n_samples_fit_ : int
    effective_metric_, effective_metric_params_
        The metric and the keyword arguments passed to it.
    """

    def __init__(
        self,
        n_neighbors=5,
        radius=1.0,
        *,
        algorithm="auto",
        leaf_size=30,
        metric="minkowski",
        p=2,
        metric_params=None,
        n_jobs=None,
        backend=None,
    ):
        self.n_neighbors = n_neighbors
        self.radius = radius
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.backend = backend

    def fit(self, X, y=None):
        """Store the points to search.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._fit_X(X)
        return self


def _check_weights_param(weights):
    if weights is None:  # scikit-learn's alias of "uniform"
        return "uniform"
    if weights in ("uniform", "distance") or callable(weights):
        return weights
    raise ValueError(f"weights must be 'uniform', 'distance' or a callable; got {weights!r}")


def _neighbor_weights(dist, weights):
    """scikit-learn's weights: None (uniform), 1/d with exact matches winning, or weights(dist)."""
    if weights is None or weights == "uniform":
        return None
    if weights == "distance":
        dist = dist.astype(np.float64)
        with np.errstate(divide="ignore"):
            w = 1.0 / dist
        inf_mask = np.isinf(w)
        inf_row = np.any(inf_mask, axis=1)
        w[inf_row] = inf_mask[inf_row]  # exact matches take all the weight
        return w
    return np.asarray(weights(dist), dtype=np.float64)


class _SupervisedBase(_NeighborsBase):
    def __init__(
        self,
        n_neighbors=5,
        *,
        weights="uniform",
        algorithm="auto",
        leaf_size=30,
        metric="minkowski",
        p=2,
        metric_params=None,
        n_jobs=None,
        backend=None,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.backend = backend

    def _fit_y(self, X, y):
        X = self._fit_X(X)
        _check_weights_param(self.weights)
        y = target_array(self, y)
        if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y must have shape (n_samples,) or (n_samples, n_outputs) with n_samples = "
                f"{X.shape[0]}; got shape {y.shape}"
            )
        return X, y

    # The base class's radius queries default to this (no constructor parameter,
    # as in scikit-learn); an instance may set its own.
    radius = 1.0


class KNeighborsClassifier(ClassifierMixin, _SupervisedBase):
    """Classifier voting among the k nearest neighbours (scikit-learn's results).

    Parameters
    ----------
    n_neighbors : int, default 5
    weights : {"uniform", "distance"}, callable or None, default "uniform"
        "distance" weighs by 1/d; when a query coincides with training points
        (d = 0) those points alone vote, as in scikit-learn. A callable gets
        the distance array and returns weights of the same shape. None is "uniform".
    algorithm, leaf_size, metric, p, metric_params, n_jobs, backend
        As for :class:`NearestNeighbors`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    """

    def fit(self, X, y):
        """Store the training points and their labels; returns self."""
        X, y = self._fit_y(X, y)
        y = column_vector_y(y)
        if y.ndim == 2:
            raise ValueError("KNeighborsClassifier supports one output (y of shape (n,))")
        check_class_labels(y)
        self.classes_, self._y_ = np.unique(y, return_inverse=True)
        self._y_ = self._y_.ravel()
        self.outputs_2d_ = False
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n_queries, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "classes_")
        dist, ind = self.kneighbors(X)
        w = _neighbor_weights(dist, self.weights)
        if w is None:
            w = np.ones(ind.shape)
        labels = self._y_[ind]
        proba = np.zeros((ind.shape[0], len(self.classes_)))
        rows = np.repeat(np.arange(ind.shape[0]), ind.shape[1])
        np.add.at(proba, (rows, labels.ravel()), w.ravel())
        norm = proba.sum(axis=1, keepdims=True)
        if (norm == 0.0).any():  # not a distribution; scikit-learn raises too
            raise ValueError(
                "All neighbours of some query got zero weight from the weights function; "
                "the class probabilities are undefined. Change the weights function."
            )
        return proba / norm

    def predict(self, X):
        """Most voted class per query (ties: the first class in ``classes_``)."""
        proba = self.predict_proba(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]


class KNeighborsRegressor(RegressorMixin, _SupervisedBase):
    """Regression by the (weighted) mean of the k nearest neighbours' targets.

    Parameters
    ----------
    n_neighbors, weights, algorithm, leaf_size, metric, p, metric_params, n_jobs, backend
        As for :class:`KNeighborsClassifier`.
    """

    _multi_output = True  # y of shape (n_samples, n_outputs)

    def fit(self, X, y):
        """Store the training points and their targets; returns self."""
        X, y = self._fit_y(X, y)
        try:
            self._y_ = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"y must be numeric for a regressor ({exc})") from None
        if not np.isfinite(self._y_).all():
            raise ValueError("y contains NaN or infinity")
        return self

    def predict(self, X):
        """Predicted targets, shape (n_queries,) or (n_queries, n_outputs)."""
        check_is_fitted(self, "_y_")
        dist, ind = self.kneighbors(X)
        w = _neighbor_weights(dist, self.weights)
        y = self._y_
        yk = y[ind]  # (nq, k) or (nq, k, n_outputs)
        if w is None:
            return yk.mean(axis=1)
        if y.ndim == 2:
            w = w[:, :, None]
        return (yk * w).sum(axis=1) / w.sum(axis=1)
