"""Pure-Python nearest-neighbour kernels: the oracle and the "before" of every benchmark.

Lists and loops only: every query computes its distance to every base
point (one pair at a time, with :func:`fastml._python.distance.pair_distance`)
and sorts the pairs by ``(distance, index)``. Same names and signatures as
``fastml._numpy.neighbors``, ``fastml._numba.neighbors`` and
``fastml._cython.neighbors``.

Order of neighbours: by distance, ties by the lower base index; a NaN
distance ranks as +inf.
"""

from __future__ import annotations

import math

from .distance import pair_distance

__all__ = [
    "kneighbors",
    "kneighbors_callable",
    "radius_neighbors",
    "radius_neighbors_callable",
]


def _key(d):
    return math.inf if d != d else d


def _knn(A, B, k, dist_fn, exclude_self, dist, ind):
    for i, u in enumerate(A):
        pairs = [(_key(d), j, d) for j, d in ((j, dist_fn(u, v)) for j, v in enumerate(B))]
        if exclude_self:
            del pairs[i]
        pairs.sort(key=lambda t: (t[0], t[1]))
        dist[i, :] = [t[2] for t in pairs[:k]]
        ind[i, :] = [t[1] for t in pairs[:k]]


def _radius(A, B, radius, dist_fn, exclude_self):
    indptr, indices, distances = [0], [], []
    for i, u in enumerate(A):
        for j, v in enumerate(B):
            if exclude_self and j == i:
                continue
            d = dist_fn(u, v)
            if d <= radius:
                indices.append(j)
                distances.append(d)
        indptr.append(len(indices))
    return indptr, indices, distances


def kneighbors(XA, XB, k, metric, w, p, VI, exclude_self, dist, ind):
    """Fill ``dist`` and ``ind`` (nq, k) with the k nearest rows of XB for each row of XA.

    Parameters
    ----------
    XA : ndarray of shape (nq, n)
    XB : ndarray of shape (m, n)
    k : int
    metric, w, p, VI
        A kernel metric and its parameters (:func:`fastml._metrics.prepare`).
    exclude_self : bool
        XA is XB; query i does not list base point i.
    dist : ndarray of shape (nq, k), float64
    ind : ndarray of shape (nq, k), int64
    """
    wl, VIl = w.tolist(), VI.tolist()

    def f(u, v):
        return pair_distance(metric, u, v, wl, p, VIl)

    _knn(XA.tolist(), XB.tolist(), k, f, exclude_self, dist, ind)


def kneighbors_callable(XA, XB, k, func, exclude_self, dist, ind):
    """As :func:`kneighbors` with ``func(u, v) -> float`` called on row arrays."""
    _knn(list(XA), list(XB), k, func, exclude_self, dist, ind)


def radius_neighbors(XA, XB, radius, metric, w, p, VI, exclude_self):
    """Rows of XB within ``radius`` (``d <= radius``) of each row of XA.

    Returns
    -------
    indptr, indices, distances : lists
        CSR form: query i's base indices (increasing) are
        ``indices[indptr[i]:indptr[i + 1]]``.
    """
    wl, VIl = w.tolist(), VI.tolist()

    def f(u, v):
        return pair_distance(metric, u, v, wl, p, VIl)

    return _radius(XA.tolist(), XB.tolist(), radius, f, exclude_self)


def radius_neighbors_callable(XA, XB, radius, func, exclude_self):
    """As :func:`radius_neighbors` with ``func(u, v) -> float``."""
    return _radius(list(XA), list(XB), radius, func, exclude_self)
