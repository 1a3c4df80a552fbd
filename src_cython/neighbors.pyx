"""Cython nearest-neighbour kernels. Mirrors ``fastml/_numba/neighbors.py`` (keep them in step).

Same names and signatures as ``fastml._python.neighbors`` (the oracle),
``fastml._numpy.neighbors`` and ``fastml._numba.neighbors``.

Every metric: tiles of distances from this backend's ``cdist`` kernel
(``fastml._cython.distance``), at most ``TILE_ELEMS`` at a time, merged into
per-query sorted top-k lists by a parallel insertion (:func:`_merge`).
"""

cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t

from _common cimport clamp_threads

import numpy as np

from fastml._config import threads_for
from fastml._numpy import neighbors as _generic

__all__ = [
    "kneighbors",
    "radius_neighbors",
]

cdef int64_t SENTINEL = 0x7FFFFFFFFFFFFFFF


cdef inline double _key(double v) noexcept nogil:
    """Ranking key: NaN ranks as +inf."""
    return v if v == v else INFINITY


cdef inline void _insert(double* dist, int64_t* ind, Py_ssize_t k, double v, double kv,
                         int64_t j) noexcept nogil:
    """Insert (v, j) into a sorted list; j is larger than every index in it."""
    cdef Py_ssize_t pos = k - 1
    while pos > 0:
        if _key(dist[pos - 1]) <= kv:
            break
        dist[pos] = dist[pos - 1]
        ind[pos] = ind[pos - 1]
        pos -= 1
    dist[pos] = v
    ind[pos] = j


cdef void _merge_rows(const floating[:, ::1] D, Py_ssize_t j0, Py_ssize_t self_offset,
                      double[:, ::1] dist, int64_t[:, ::1] ind, int nt) noexcept nogil:
    cdef Py_ssize_t q = D.shape[0], nb = D.shape[1], k = dist.shape[1]
    cdef Py_ssize_t r, c, excl
    cdef double wk, v, kv
    cdef bint empty
    for r in prange(q, nogil=True, num_threads=nt, schedule="static"):
        wk = _key(dist[r, k - 1])
        empty = ind[r, k - 1] == SENTINEL
        excl = self_offset + r - j0 if self_offset >= 0 else -1
        for c in range(nb):
            v = D[r, c]
            kv = _key(v)
            if kv > wk or (kv == wk and not empty) or c == excl:
                continue
            _insert(&dist[r, 0], &ind[r, 0], k, v, kv, j0 + c)
            wk = _key(dist[r, k - 1])
            empty = ind[r, k - 1] == SENTINEL


def _merge(const floating[:, ::1] D, Py_ssize_t j0, Py_ssize_t self_offset,
           double[:, ::1] dist, int64_t[:, ::1] ind):
    """Merge tile D (base rows j0 ...) into the sorted running lists (dist, ind)."""
    cdef int nt = clamp_threads(threads_for(D.shape[0] * D.shape[1] * 4), D.shape[0])
    with nogil:
        _merge_rows(D, j0, self_offset, dist, ind, nt)


def kneighbors(XA, XB, Py_ssize_t k, metric, w, double p, VI, bint exclude_self, dist, ind):
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
    from fastml._cython import distance as _distance

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    _generic.chunked_kneighbors(tile, _merge, XA, XB, exclude_self, dist, ind)


def radius_neighbors(XA, XB, double radius, metric, w, double p, VI, bint exclude_self):
    """Rows of XB within ``radius`` of each row of XA, as CSR (indptr, indices, distances)."""
    from fastml._cython import distance as _distance

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    return _generic.chunked_radius_neighbors(tile, XA, XB, radius, exclude_self)
