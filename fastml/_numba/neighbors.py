"""Numba nearest-neighbour kernels. Mirrors ``src_cython/neighbors.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.neighbors`` (the oracle),
``fastml._numpy.neighbors`` and ``fastml._cython.neighbors``.

Every metric: tiles of distances from this backend's ``cdist`` kernel
(:mod:`fastml._numba.distance`), at most ``TILE_ELEMS`` at a time, merged
into per-query sorted top-k lists by a parallel insertion (:func:`_merge`).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._numpy import neighbors as _generic
from . import distance as _distance
from ._jit import apply_threads, jit

__all__ = [
    "kneighbors",
    "kneighbors_callable",
    "radius_neighbors",
    "radius_neighbors_callable",
    "warmup",
]

_SENTINEL = np.iinfo(np.int64).max


@jit(inline="always")
def _key(v):
    """Ranking key: NaN ranks as +inf."""
    return v if v == v else np.inf


@jit(inline="always")
def _insert(dist, ind, r, k, v, kv, j):
    """Insert (v, j) into the sorted list of row r; j is larger than every index in it."""
    pos = k - 1
    while pos > 0:
        kp = _key(dist[r, pos - 1])
        if kp <= kv:
            break
        dist[r, pos] = dist[r, pos - 1]
        ind[r, pos] = ind[r, pos - 1]
        pos -= 1
    dist[r, pos] = v
    ind[r, pos] = j


@jit(parallel=True)
def _merge(D, j0, self_offset, dist, ind):
    """Merge tile D (base rows j0 ...) into the sorted running lists (dist, ind).

    Tile columns come in increasing index order, after every index already in
    the lists, so a tie with the current worst entry loses (unless that slot is empty).
    """
    q, nb = D.shape
    k = dist.shape[1]
    for r in prange(q):
        wk = _key(dist[r, k - 1])
        empty = ind[r, k - 1] == _SENTINEL
        excl = self_offset + r - j0 if self_offset >= 0 else -1
        for c in range(nb):
            v = np.float64(D[r, c])
            kv = _key(v)
            if kv > wk or (kv == wk and not empty) or c == excl:
                continue
            _insert(dist, ind, r, k, v, kv, j0 + c)
            wk = _key(dist[r, k - 1])
            empty = ind[r, k - 1] == _SENTINEL


def _merge_tile(D, j0, self_offset, dist, ind):
    apply_threads(D.shape[0] * D.shape[1] * 4)
    _merge(D, j0, self_offset, dist, ind)


def kneighbors(XA, XB, k, metric, w, p, VI, exclude_self, dist, ind):
    """Fill ``dist`` and ``ind`` (nq, k) with the k nearest rows of XB for each row of XA.

    Parameters
    ----------
    XA : ndarray of shape (nq, n)
    XB : ndarray of shape (m, n)
        Validated, one dtype; ``k <= m`` (``k <= m - 1`` with ``exclude_self``).
    k : int
    metric, w, p, VI
        A kernel metric and its parameters (:func:`fastml._metrics.prepare`).
    exclude_self : bool
        XA is XB; query i does not list base point i.
    dist : ndarray of shape (nq, k), float64
    ind : ndarray of shape (nq, k), int64
    """

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    _generic.chunked_kneighbors(tile, _merge_tile, XA, XB, exclude_self, dist, ind)


def kneighbors_callable(XA, XB, k, func, exclude_self, dist, ind):
    """As :func:`kneighbors` with a Numba-jitted ``func(u, v) -> float``."""

    def tile(A, B, out):
        _distance.cdist_callable(A, B, out, func)

    _generic.chunked_kneighbors(tile, _merge_tile, XA, XB, exclude_self, dist, ind)


def radius_neighbors(XA, XB, radius, metric, w, p, VI, exclude_self):
    """Rows of XB within ``radius`` of each row of XA, as CSR (indptr, indices, distances)."""

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    return _generic.chunked_radius_neighbors(tile, XA, XB, radius, exclude_self)


def radius_neighbors_callable(XA, XB, radius, func, exclude_self):
    """As :func:`radius_neighbors` with a Numba-jitted ``func(u, v) -> float``."""

    def tile(A, B, out):
        _distance.cdist_callable(A, B, out, func)

    return _generic.chunked_radius_neighbors(tile, XA, XB, radius, exclude_self)


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from cache) the common kneighbors signatures for ``dtypes``."""
    for dt in dtypes:
        X = np.random.default_rng(0).standard_normal((40, 3)).astype(dt)
        w = np.ones(3, dtype=dt)
        VI = np.empty((0, 0), dtype=dt)
        dist = np.empty((40, 3))
        ind = np.empty((40, 3), np.int64)
        kneighbors(X, X, 3, "euclidean", w, 2.0, VI, True, dist, ind)
