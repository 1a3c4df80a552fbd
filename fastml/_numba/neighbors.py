"""Numba nearest-neighbour kernels. Mirrors ``src_cython/neighbors.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.neighbors`` (the oracle),
``fastml._numpy.neighbors`` and ``fastml._cython.neighbors``.

Every metric: tiles of distances from this backend's ``cdist`` kernel
(:mod:`fastml._numba.distance`), at most ``TILE_ELEMS`` at a time, merged
into per-query sorted top-k lists by a parallel insertion (:func:`_merge`).

euclidean and sqeuclidean: a float32 filter by the matrix-product form, then
an exact float64 recompute of the candidates and a certificate
(:class:`fastml._numpy.neighbors.EuclideanFilter`); the dot products come from
a 3 x 4 register tile (:func:`_dot34`: twelve reductions vectorised over
the features, the form LLVM vectorises best; a feature-major micro-kernel
like the Cython one is not kept in registers by Numba, and the distance
module's 4 x 4 tile measured 20% slower here: sixteen vector accumulators
plus loads exceed AVX2's sixteen registers). Queries go to threads in blocks of ``_QB`` rows,
base points are walked in blocks of ``_NB`` rows that stay in L2.
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


_QB = 48  # query rows per parallel task (multiple of 3)
_NB = 512  # base rows per cache block (multiple of 4)


@jit(inline="always")
def _push(cv, ci, r, kp, v, j):
    """Insert (v, j) into the ascending candidate list of row r (its last entry drops)."""
    pos = kp - 1
    while pos > 0 and cv[r, pos - 1] > v:
        cv[r, pos] = cv[r, pos - 1]
        ci[r, pos] = ci[r, pos - 1]
        pos -= 1
    cv[r, pos] = v
    ci[r, pos] = j


@jit(inline="always")
def _dot34(A, B, i, j, z):
    """Dot products of rows i..i+2 of A with rows j..j+3 of B (row-major 3 x 4)."""
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = s20 = s21 = s22 = s23 = z
    for k in range(A.shape[1]):
        a0 = A[i, k]
        a1 = A[i + 1, k]
        a2 = A[i + 2, k]
        b = B[j, k]
        s00 += a0 * b
        s10 += a1 * b
        s20 += a2 * b
        b = B[j + 1, k]
        s01 += a0 * b
        s11 += a1 * b
        s21 += a2 * b
        b = B[j + 2, k]
        s02 += a0 * b
        s12 += a1 * b
        s22 += a2 * b
        b = B[j + 3, k]
        s03 += a0 * b
        s13 += a1 * b
        s23 += a2 * b
    return s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23


@jit(inline="always")
def _row4(cv, ci, r, kp, ny, j, q, t0, t1, t2, t3, exclude_self):
    """Offer base points j..j+3 (dot products t0..t3 with query q) to row r's list."""
    two = np.float32(2)
    v0 = ny[j] - two * t0
    v1 = ny[j + 1] - two * t1
    v2 = ny[j + 2] - two * t2
    v3 = ny[j + 3] - two * t3
    if min(min(v0, v1), min(v2, v3)) >= cv[r, kp - 1]:
        return
    if v0 < cv[r, kp - 1] and not (exclude_self and j == q):
        _push(cv, ci, r, kp, v0, j)
    if v1 < cv[r, kp - 1] and not (exclude_self and j + 1 == q):
        _push(cv, ci, r, kp, v1, j + 1)
    if v2 < cv[r, kp - 1] and not (exclude_self and j + 2 == q):
        _push(cv, ci, r, kp, v2, j + 2)
    if v3 < cv[r, kp - 1] and not (exclude_self and j + 3 == q):
        _push(cv, ci, r, kp, v3, j + 3)


@jit(parallel=True)
def _euclidean(A, B, ny, XA, XB, nq, m, k, kp, exclude_self, nx, E, scale2, complete,
               take_sqrt, dist, ind, ok):  # fmt: skip
    mp = B.shape[0]
    d = A.shape[1]
    z = np.float32(0)
    n_tasks = (nq + _QB - 1) // _QB
    for t in prange(n_tasks):
        q0 = t * _QB
        q1 = min(q0 + _QB, nq)
        cv = np.full((_QB, kp), np.inf, np.float32)
        ci = np.full((_QB, kp), -1, np.int64)
        for j0 in range(0, mp, _NB):
            j1 = min(j0 + _NB, mp)
            for i in range(q0, q1, 3):  # A has a multiple of 3 rows
                for j in range(j0, j1, 4):
                    tt = _dot34(A, B, i, j, z)
                    # rows past nq are padding: their lists are never read
                    r = i - q0
                    _row4(cv, ci, r, kp, ny, j, i, tt[0], tt[1], tt[2], tt[3], exclude_self)
                    _row4(cv, ci, r + 1, kp, ny, j, i + 1, tt[4], tt[5], tt[6], tt[7], exclude_self)
                    _row4(
                        cv, ci, r + 2, kp, ny, j, i + 2, tt[8], tt[9], tt[10], tt[11], exclude_self
                    )
        dd = np.empty(kp)
        di = np.empty(kp, np.int64)
        for q in range(q0, q1):
            r = q - q0
            for c in range(kp):
                j = ci[r, c]
                s = 0.0
                for f in range(d):
                    diff = np.float64(XA[q, f]) - np.float64(XB[j, f])
                    s += diff * diff
                if take_sqrt:  # rank by the reported value (ties there: lower index)
                    s = np.sqrt(s)
                pos = c
                while pos > 0 and (dd[pos - 1] > s or (dd[pos - 1] == s and di[pos - 1] > j)):
                    dd[pos] = dd[pos - 1]
                    di[pos] = di[pos - 1]
                    pos -= 1
                dd[pos] = s
                di[pos] = j
            v = np.float64(cv[r, kp - 1])
            dk = dd[k - 1] * dd[k - 1] if take_sqrt else dd[k - 1]
            ok[q] = complete or (v + nx[q] - E[q] > scale2 * dk * (1 + 1e-12))
            for c in range(k):
                dist[q, c] = dd[c]
                ind[q, c] = di[c]


def _exact(XA, XB, exclude_self, dist, ind, metric, w, p, VI):
    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    _generic.chunked_kneighbors(tile, _merge_tile, XA, XB, exclude_self, dist, ind)


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

    if metric in ("euclidean", "sqeuclidean") and XA.shape[1] > 0:
        flt = _generic.EuclideanFilter(XA, XB, k, exclude_self, 3, 4)
        ok = np.zeros(flt.A32.shape[0], np.uint8)
        nq, m = XA.shape[0], XB.shape[0]
        apply_threads(nq * m * XA.shape[1])
        _euclidean(flt.A32, flt.B32, flt.ny32, XA, XB, nq, m, k, flt.kp, exclude_self, flt.nx,
                   flt.E, flt.scale2, flt.complete, metric == "euclidean", dist, ind, ok)  # fmt: skip

        def exact(A, B, excl, d_, i_):
            _exact(A, B, excl, d_, i_, metric, w, p, VI)

        _generic.finish_uncertified(flt, ok, XA, XB, k, exclude_self, dist, ind, exact)
        return
    _exact(XA, XB, exclude_self, dist, ind, metric, w, p, VI)


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
