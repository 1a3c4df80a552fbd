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
from libc.math cimport INFINITY, sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc

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


# ----------------------------------------------------------------------------
# euclidean / sqeuclidean: float32 matrix-product filter, exact recompute
# (the certificate is explained in fastml._numpy.neighbors.EuclideanFilter)
# ----------------------------------------------------------------------------

cdef enum:
    NR = 16     # base points per packed panel (two 8-float vectors)
    MR = 4      # query rows per micro-kernel call: 8 vector accumulators (16 registers)
    QB = 96     # query rows per parallel task (a multiple of MR)
    PB = 64     # panels per base block (1024 points, ~256 KiB at d = 64)


cdef inline void _dots(const float* a, Py_ssize_t d, const float* bp,
                       float* out) noexcept nogil:
    """out[r * NR + l] = a_r . b_l for MR rows a_r (stride d) and one packed panel.

    The panel holds NR base points feature-major (bp[k * NR + l]): each step
    loads two vectors of b, broadcasts one feature of each row, and FMAs into
    MR x NR accumulators that the compiler keeps in registers."""
    cdef float c0[NR]
    cdef float c1[NR]
    cdef float c2[NR]
    cdef float c3[NR]
    cdef Py_ssize_t k, l
    cdef float a0, a1, a2, a3
    cdef const float* b
    for l in range(NR):
        c0[l] = 0
        c1[l] = 0
        c2[l] = 0
        c3[l] = 0
    for k in range(d):
        b = bp + k * NR
        a0 = a[k]
        a1 = a[d + k]
        a2 = a[2 * d + k]
        a3 = a[3 * d + k]
        for l in range(NR):
            c0[l] += a0 * b[l]
            c1[l] += a1 * b[l]
            c2[l] += a2 * b[l]
            c3[l] += a3 * b[l]
    for l in range(NR):
        out[l] = c0[l]
        out[NR + l] = c1[l]
        out[2 * NR + l] = c2[l]
        out[3 * NR + l] = c3[l]


cdef inline void _push(float* cv, int64_t* ci, Py_ssize_t kp, float v, int64_t j) noexcept nogil:
    """Insert (v, j) into the ascending candidate list (its last entry drops out)."""
    cdef Py_ssize_t pos = kp - 1
    while pos > 0 and cv[pos - 1] > v:
        cv[pos] = cv[pos - 1]
        ci[pos] = ci[pos - 1]
        pos -= 1
    cv[pos] = v
    ci[pos] = j


cdef void _filter_task(
    Py_ssize_t t, const float* A, const float* Bp, const float* ny, Py_ssize_t nq,
    Py_ssize_t m, Py_ssize_t d, Py_ssize_t kp, bint exclude_self, float* cv, int64_t* ci,
) noexcept nogil:
    """Candidates of query rows t*QB ... (t+1)*QB - 1 (their lists: cv, ci, kp each)."""
    cdef Py_ssize_t q0 = t * QB
    cdef Py_ssize_t q1 = min(q0 + QB, nq)
    cdef Py_ssize_t n_panels = (m + NR - 1) // NR
    cdef Py_ssize_t p0, p1, p, r, rr, l, q
    cdef float dots[MR * NR]
    cdef float vals[NR]
    cdef float thr
    cdef const float* yn
    cdef bint hit
    cdef int64_t j
    for q in range((q1 - q0) * kp):
        cv[q] = INFINITY
        ci[q] = -1
    p0 = 0
    while p0 < n_panels:
        p1 = min(p0 + PB, n_panels)
        rr = q0
        while rr < q1:  # A is padded to a multiple of MR rows
            for p in range(p0, p1):
                _dots(A + rr * d, d, Bp + p * d * NR, dots)
                yn = ny + p * NR
                for r in range(MR):
                    q = rr + r
                    if q >= q1:
                        break
                    thr = cv[(q - q0) * kp + kp - 1]
                    hit = False
                    for l in range(NR):
                        vals[l] = yn[l] - 2 * dots[r * NR + l]
                        hit |= vals[l] < thr
                    if not hit:
                        continue
                    for l in range(NR):
                        j = p * NR + l
                        if vals[l] < cv[(q - q0) * kp + kp - 1] and not (exclude_self and j == q):
                            _push(cv + (q - q0) * kp, ci + (q - q0) * kp, kp, vals[l], j)
            rr += MR
        p0 += PB


cdef void _exact_task(
    Py_ssize_t t, const floating* XA, const floating* XB, Py_ssize_t nq, Py_ssize_t d,
    Py_ssize_t k, Py_ssize_t kp, const float* cv, const int64_t* ci, const double* nx,
    const double* E, double scale2, bint complete, bint take_sqrt,
    double* dist, int64_t* ind, uint8_t* ok, double* dd, int64_t* di,
) noexcept nogil:
    """Exact squared distances of each query's candidates; the k best; the certificate."""
    cdef Py_ssize_t q0 = t * QB
    cdef Py_ssize_t q1 = min(q0 + QB, nq)
    cdef Py_ssize_t q, c, f, pos
    cdef double s, diff, v, v2
    cdef int64_t j
    cdef const floating* x
    cdef const floating* y
    for q in range(q0, q1):
        x = XA + q * d
        for c in range(kp):
            j = ci[(q - q0) * kp + c]
            y = XB + j * d
            s = 0
            for f in range(d):
                diff = <double>x[f] - <double>y[f]
                s += diff * diff
            if take_sqrt:  # rank by the reported value (ties there: lower index)
                s = sqrt(s)
            # insertion by (distance, index)
            pos = c
            while pos > 0 and (dd[pos - 1] > s or (dd[pos - 1] == s and di[pos - 1] > j)):
                dd[pos] = dd[pos - 1]
                di[pos] = di[pos - 1]
                pos -= 1
            dd[pos] = s
            di[pos] = j
        v = cv[(q - q0) * kp + kp - 1]
        v2 = dd[k - 1] * dd[k - 1] if take_sqrt else dd[k - 1]
        ok[q] = complete or (v + nx[q] - E[q] > scale2 * v2 * (1 + 1e-12))
        for c in range(k):
            dist[q * k + c] = dd[c]
            ind[q * k + c] = di[c]


cdef void _euclidean_run(
    const float* A, const float* Bp, const float* ny, const floating* XA, const floating* XB,
    Py_ssize_t nq, Py_ssize_t m, Py_ssize_t d, Py_ssize_t k, Py_ssize_t kp, bint exclude_self,
    const double* nx, const double* E, double scale2, bint complete, bint take_sqrt,
    double* dist, int64_t* ind, uint8_t* ok, int nt,
) noexcept nogil:
    cdef Py_ssize_t n_tasks = (nq + QB - 1) // QB
    cdef Py_ssize_t t
    cdef float* cv
    cdef int64_t* ci
    cdef double* dd
    cdef int64_t* di
    with cython.parallel.parallel(num_threads=nt):
        cv = <float*>malloc(sizeof(float) * QB * kp)
        ci = <int64_t*>malloc(sizeof(int64_t) * QB * kp)
        dd = <double*>malloc(sizeof(double) * kp)
        di = <int64_t*>malloc(sizeof(int64_t) * kp)
        for t in prange(n_tasks, schedule="dynamic"):
            _filter_task(t, A, Bp, ny, nq, m, d, kp, exclude_self, cv, ci)
            _exact_task(t, XA, XB, nq, d, k, kp, cv, ci, nx, E, scale2, complete, take_sqrt,
                        dist, ind, ok, dd, di)
        free(cv)
        free(ci)
        free(dd)
        free(di)


def _euclidean(flt, const floating[:, ::1] XA, const floating[:, ::1] XB, Py_ssize_t k,
               bint exclude_self, bint take_sqrt, double[:, ::1] dist, int64_t[:, ::1] ind,
               uint8_t[::1] ok):
    cdef const float[:, ::1] A = flt.A32
    cdef const float[:, :, ::1] Bp = flt.Bp
    cdef const float[::1] ny = flt.ny32
    cdef const double[::1] nx = flt.nx
    cdef const double[::1] E = flt.E
    cdef Py_ssize_t nq = XA.shape[0], m = XB.shape[0], d = XA.shape[1]
    cdef Py_ssize_t kp = flt.kp
    cdef double scale2 = flt.scale2
    cdef bint complete = flt.complete
    cdef int nt = clamp_threads(threads_for(nq * m * max(d, 1)), (nq + QB - 1) // QB)
    with nogil:
        _euclidean_run(&A[0, 0], &Bp[0, 0, 0], &ny[0], &XA[0, 0], &XB[0, 0], nq, m, d, k, kp,
                       exclude_self, &nx[0], &E[0], scale2, complete, take_sqrt,
                       &dist[0, 0], &ind[0, 0], &ok[0], nt)


def _exact(XA, XB, bint exclude_self, dist, ind, metric, w, double p, VI):
    from fastml._cython import distance as _distance

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    _generic.chunked_kneighbors(tile, _merge, XA, XB, exclude_self, dist, ind)


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
    if metric in ("euclidean", "sqeuclidean") and XA.shape[1] > 0:
        flt = _generic.EuclideanFilter(XA, XB, k, exclude_self, MR, NR)
        mp, d = flt.B32.shape
        flt.Bp = np.ascontiguousarray(flt.B32.reshape(mp // NR, NR, d).transpose(0, 2, 1))
        ok = np.zeros(flt.A32.shape[0], np.uint8)
        _euclidean(flt, XA, XB, k, exclude_self, metric == "euclidean", dist, ind, ok)

        def exact(A, B, excl, d_, i_):
            _exact(A, B, excl, d_, i_, metric, w, p, VI)

        _generic.finish_uncertified(flt, ok, XA, XB, k, exclude_self, dist, ind, exact)
        return
    _exact(XA, XB, exclude_self, dist, ind, metric, w, p, VI)


def radius_neighbors(XA, XB, double radius, metric, w, double p, VI, bint exclude_self):
    """Rows of XB within ``radius`` of each row of XA, as CSR (indptr, indices, distances)."""
    from fastml._cython import distance as _distance

    def tile(A, B, out):
        _distance.cdist(A, B, out, metric, w, p, VI)

    return _generic.chunked_radius_neighbors(tile, XA, XB, radius, exclude_self)
