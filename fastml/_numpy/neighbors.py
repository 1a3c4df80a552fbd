"""Vectorised NumPy nearest-neighbour kernels, and the chunked drivers the
compiled backends share.

Same names and signatures as ``fastml._python.neighbors`` (the oracle),
``fastml._numba.neighbors`` and ``fastml._cython.neighbors``.

Every kernel walks the queries in blocks of rows and the base points in
blocks of rows, computes one (query block x base block) tile of distances
with the backend's own ``cdist`` kernel into a bounded buffer, and merges
the tile into per-query running results. The n x m distance matrix never
exists: memory is O(block size + n_queries * k).

Order of neighbours: by distance, ties by the lower base index; a NaN
distance ranks as +inf (ties with inf broken by index). With
``exclude_self`` (``Y=None`` in the public API) query ``i`` never lists base
point ``i``.
"""

from __future__ import annotations

import numpy as np

from . import distance as _distance

__all__ = [
    "chunked_kneighbors",
    "chunked_radius_neighbors",
    "kneighbors",
    "merge_topk",
    "radius_neighbors",
    "select_radius",
    "init_topk",
]

#: Distance elements per tile buffer (float64: 32 MiB).
TILE_ELEMS = 1 << 22
#: Base points per tile (a multiple of 64).
BASE_BLOCK = 4096
#: The index of an empty slot of a running top-k list (larger than any index).
SENTINEL = np.iinfo(np.int64).max


def blocks(n_queries, n_base, tile_elems=TILE_ELEMS, base_block=BASE_BLOCK):
    """(query rows, base rows) per tile so that their product stays within ``tile_elems``."""
    nb = max(1, min(n_base, base_block))
    qb = max(1, min(n_queries, tile_elems // nb))
    return qb, nb


def init_topk(dist, ind):
    """Mark every slot of running lists (dist, ind) empty: (+inf, SENTINEL)."""
    dist.fill(np.inf)
    ind.fill(SENTINEL)


def chunked_kneighbors(cdist_tile, merge, XA, XB, exclude_self, dist, ind, finish=None):
    """The k nearest rows of XB for each row of XA, one tile of distances at a time.

    Parameters
    ----------
    cdist_tile : callable
        ``cdist_tile(A, B, out)`` fills ``out`` (C-contiguous, float64 or the
        inputs' dtype) with the distances between rows of A and rows of B.
    merge : callable
        ``merge(D, j0, self_offset, dist, ind)`` merges tile ``D`` (base rows
        ``j0 ...``) into the sorted running lists ``dist``, ``ind`` of its
        query rows; base row ``self_offset + i`` is skipped for query row ``i``
        when ``self_offset >= 0``.
    XA : ndarray of shape (nq, n)
    XB : ndarray of shape (m, n)
    exclude_self : bool
        XA is XB and query i must not list base point i.
    dist : ndarray of shape (nq, k), float64
    ind : ndarray of shape (nq, k), int64
        Filled in place.
    finish : callable, optional
        ``finish(dist, ind)`` applied to the finished lists of each query block.
    """
    nq, m = XA.shape[0], XB.shape[0]
    qb, nb = blocks(nq, m)
    buf = np.empty(qb * nb, dtype=XA.dtype)
    for q0 in range(0, nq, qb):
        q1 = min(q0 + qb, nq)
        d, i = dist[q0:q1], ind[q0:q1]
        init_topk(d, i)
        for j0 in range(0, m, nb):
            j1 = min(j0 + nb, m)
            D = buf[: (q1 - q0) * (j1 - j0)].reshape(q1 - q0, j1 - j0)
            cdist_tile(XA[q0:q1], XB[j0:j1], D)
            merge(D, j0, q0 if exclude_self else -1, d, i)
        if finish is not None:
            finish(d, i)


def select_radius(D, j0, self_offset, radius):
    """Entries of tile D within ``radius``: (rows, base indices, distances), row-major."""
    with np.errstate(invalid="ignore"):
        mask = D <= radius
    if self_offset >= 0:
        r = np.arange(D.shape[0])
        c = self_offset + r - j0
        ok = (c >= 0) & (c < D.shape[1])
        mask[r[ok], c[ok]] = False
    rows, cols = np.nonzero(mask)
    return rows, cols + j0, D[rows, cols]


def chunked_radius_neighbors(cdist_tile, XA, XB, radius, exclude_self):
    """Every row of XB within ``radius`` of each row of XA, in CSR form.

    Returns
    -------
    indptr : ndarray of shape (nq + 1,), int64
    indices : ndarray of shape (nnz,), int64
        Base indices of query i at ``indices[indptr[i]:indptr[i + 1]]``, increasing.
    distances : ndarray of shape (nnz,)
        In the tile dtype.
    """
    nq, m = XA.shape[0], XB.shape[0]
    qb, nb = blocks(nq, m)
    buf = np.empty(qb * nb, dtype=XA.dtype)
    counts = np.zeros(nq, dtype=np.int64)
    parts_i, parts_d, parts_r = [], [], []
    for q0 in range(0, nq, qb):
        q1 = min(q0 + qb, nq)
        rows_l, cols_l, vals_l = [], [], []
        for j0 in range(0, m, nb):
            j1 = min(j0 + nb, m)
            D = buf[: (q1 - q0) * (j1 - j0)].reshape(q1 - q0, j1 - j0)
            cdist_tile(XA[q0:q1], XB[j0:j1], D)
            r, c, v = select_radius(D, j0, q0 if exclude_self else -1, radius)
            rows_l.append(r)
            cols_l.append(c)
            vals_l.append(v)
        r = np.concatenate(rows_l)
        order = np.argsort(r, kind="stable")  # by query row, then base index (blocks in order)
        parts_r.append(r[order] + q0)
        parts_i.append(np.concatenate(cols_l)[order])
        parts_d.append(np.concatenate(vals_l)[order])
    rows = np.concatenate(parts_r)
    np.add.at(counts, rows, 1)
    indptr = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, np.concatenate(parts_i).astype(np.int64), np.concatenate(parts_d)


def merge_topk(D, j0, self_offset, dist, ind):
    """Merge tile D (base rows j0 ...) into the running sorted lists (dist, ind).

    Vectorised: the k smallest of ``[dist | D]`` per row are chosen by their
    k-th smallest value, with ties at that value taken in column order (which
    is base-index order: the running lists hold lower indices than the tile,
    in order), then the k survivors are sorted stably.
    """
    q, k = dist.shape
    nb = D.shape[1]
    vals = np.concatenate([dist, D.astype(np.float64)], axis=1)
    idx = np.concatenate([ind, np.broadcast_to(np.arange(j0, j0 + nb, dtype=np.int64), (q, nb))], 1)
    # Ranking key: NaN distances rank as +inf; excluded points and empty slots
    # get NaN, which ranks after everything.
    key = np.where(np.isnan(vals), np.inf, vals)
    key[:, :k][ind == SENTINEL] = np.nan
    if self_offset >= 0:
        r = np.arange(q)
        c = self_offset + r - j0
        ok = (c >= 0) & (c < nb)
        key[r[ok], k + c[ok]] = np.nan
    t = np.partition(key, k - 1, axis=1)[:, k - 1 : k]
    tn = np.isnan(t)
    kn = np.isnan(key)
    with np.errstate(invalid="ignore"):
        lt = (key < t) | (~kn & tn)
        eq = (key == t) | (kn & tn)
    need = k - lt.sum(axis=1, keepdims=True)
    sel = lt | (eq & (np.cumsum(eq, axis=1) <= need))
    cols = np.nonzero(sel)[1].reshape(q, k)
    skey = np.take_along_axis(key, cols, 1)
    order = np.argsort(skey, axis=1, kind="stable")  # NaN last; stable keeps index order
    cols = np.take_along_axis(cols, order, 1)
    dist[...] = np.take_along_axis(vals, cols, 1)
    ind[...] = np.take_along_axis(idx, cols, 1)


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

    chunked_kneighbors(tile, merge_topk, XA, XB, exclude_self, dist, ind)


def radius_neighbors(XA, XB, radius, metric, w, p, VI, exclude_self):
    """Rows of XB within ``radius`` of each row of XA, as CSR (indptr, indices, distances)."""

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    return chunked_radius_neighbors(tile, XA, XB, radius, exclude_self)


# ----------------------------------------------------------------------------
# The euclidean filter shared by the compiled backends
# ----------------------------------------------------------------------------

_U32 = 2.0**-24  # float32 unit roundoff
_U64 = 2.0**-53


_CHUNK = 1 << 15  # rows per float64 temporary (16 MiB at d = 64)


def _centred32(X, mu, s, rows):
    """float32 ``(X - mu) * s``, zero-padded to ``rows`` rows, computed in float64 chunks."""
    out = np.zeros((rows, X.shape[1]), np.float32)
    for a in range(0, X.shape[0], _CHUNK):
        chunk = X[a : a + _CHUNK]
        out[a : a + chunk.shape[0]] = (chunk - mu) * s
    return out


class EuclideanFilter:
    """Inputs of the compiled backends' fast euclidean kneighbors kernels.

    The kernels rank base points for query x by the float32 matrix-product
    form ``a_j = ||y_j||^2 - 2 x.y_j`` (``||x - y_j||^2 - ||x||^2``) of the
    data centred on the base's mean and scaled by a power of two (both exact
    transformations of the distances' order), keep the ``kp = k + extra``
    best candidates, recompute their distances exactly (``sum (x - y)^2`` in
    float64 from the original data) and keep the k best by (distance, index).

    Certificate. With ``u = 2^-24``, ``d`` features and squared norms
    ``nx``, ``ny`` of the float32 rows, every computed ``a_j`` is within

        E = 1.05 (d + 8) u (nx + max_j ny) + (float64 centring and denormal terms)

    of ``s^2 ||x - y_j||^2 - nx`` (s the scale): the dot product's worst-case
    rounding is ``d u ||x|| ||y||``, plus roundings of the norms, of the final
    subtraction and of the data to float32. A point outside the candidates
    has ``a_j >= T``, the worst kept value, so if ``T + nx - E > s^2 D_k``
    (``D_k`` the k-th exact squared distance) no such point can reach or tie
    the k-th neighbour, and the result is exactly the brute-force one. A
    query without the certificate (``ok == 0``: ties or near-ties at the k-th
    neighbour, masses of duplicates, data with a huge offset) is recomputed
    by the exact chunked path.
    """

    def __init__(self, XA, XB, k, exclude_self, rows_multiple=1, base_multiple=1):
        d = XA.shape[1]
        nq, m = XA.shape[0], XB.shape[0]
        mu = XB.mean(axis=0, dtype=np.float64)
        # Centring in float64, in row chunks (no full-size float64 temporaries).
        amax = 0.0
        for Z in (XA,) if exclude_self else (XA, XB):
            for a in range(0, Z.shape[0], _CHUNK):
                amax = max(amax, float(np.abs(Z[a : a + _CHUNK] - mu).max(initial=0.0)))
        e = 0 if amax == 0.0 or not np.isfinite(amax) else int(np.ceil(np.log2(amax)))
        s = 2.0 ** (-e)
        nqp = -(-nq // rows_multiple) * rows_multiple
        mp = -(-m // base_multiple) * base_multiple
        self.A32 = _centred32(XA, mu, s, nqp)
        if exclude_self and nqp == mp:
            self.B32 = self.A32
        elif exclude_self:
            self.B32 = np.zeros((mp, d), np.float32)
            self.B32[:m] = self.A32[:m]
        else:
            self.B32 = _centred32(XB, mu, s, mp)
        nx = np.einsum("ij,ij->i", self.A32[:nq], self.A32[:nq], dtype=np.float64)
        ny = np.einsum("ij,ij->i", self.B32[:m], self.B32[:m], dtype=np.float64)
        self.ny32 = np.full(mp, np.inf, np.float32)  # padding rows never qualify
        self.ny32[:m] = ny
        self.nx = nx
        # Error terms: float32 arithmetic, and the float64 centring of the data.
        orig = max(float(np.abs(XA).max(initial=0.0)), float(np.abs(XB).max(initial=0.0)))
        cent = d * (4.0 * _U64 * s * (orig + float(np.abs(mu).max(initial=0.0)))) ** 2
        cent += (
            8.0
            * np.sqrt(d)
            * _U64
            * s
            * (orig + float(np.abs(mu).max(initial=0.0)))
            * (np.sqrt(nx) + np.sqrt(ny.max(initial=0.0)))
        )
        self.E = 1.05 * (d + 8) * _U32 * (nx + ny.max(initial=0.0)) + cent + d * 2.0**-120
        self.scale2 = s * s
        available = m - 1 if exclude_self else m
        self.kp = int(min(available, k + max(8, k // 4)))
        self.complete = self.kp == available  # every candidate is kept: nothing to certify
        self.nq, self.m = nq, m


def finish_uncertified(flt, ok, XA, XB, k, exclude_self, dist, ind, exact):
    """Recompute the queries whose certificate failed with the exact chunked path.

    ``exact(A, B, exclude_self, dist, ind)`` is the backend's exact kneighbors.
    With ``exclude_self`` the rows are searched among all points for k + 1
    neighbours, and the query itself is removed (exactly what excluding it
    gives: its duplicates keep their places).
    """
    rows = np.flatnonzero(ok[: flt.nq] == 0)
    if rows.size == 0:
        return
    A = np.ascontiguousarray(XA[rows])
    if not exclude_self:
        d, i = np.empty((rows.size, k)), np.empty((rows.size, k), np.int64)
        exact(A, XB, False, d, i)
    else:
        d1, i1 = np.empty((rows.size, k + 1)), np.empty((rows.size, k + 1), np.int64)
        exact(A, XB, False, d1, i1)
        self_pos = np.argmax(i1 == rows[:, None], axis=1)
        found = i1[np.arange(rows.size), self_pos] == rows
        self_pos[~found] = k  # not among the k + 1: drop the last
        keep = np.ones_like(i1, dtype=bool)
        keep[np.arange(rows.size), self_pos] = False
        d, i = d1[keep].reshape(rows.size, k), i1[keep].reshape(rows.size, k)
    dist[rows] = d
    ind[rows] = i
