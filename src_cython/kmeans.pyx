"""Cython k-means kernels. Mirrors ``fastml/_numba/kmeans.py`` (keep them in step).

Same names, signatures and semantics as ``fastml._python.kmeans`` (the
oracle), ``fastml._numpy.kmeans`` and ``fastml._numba.kmeans``:

``lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights) -> inertia``
    One fused Lloyd pass: label every sample with its nearest centre (ties ->
    lowest index) and fill ``sums[j]`` / ``weights[j]`` with the weighted sum
    and the total weight of the samples labelled ``j`` (float64, not divided).
``assign(X, sample_weight, x_sq_norms, centers, labels) -> inertia``
    The same pass without the sums.
``inertia(X, sample_weight, centers, labels) -> float``
    ``sum_i w_i ||x_i - c_{labels_i}||^2`` by the direct difference form.

How it is fast
--------------
Distances are ranked by ``||c||^2 - 2 x.c``, as scikit-learn does with BLAS.
The centres are packed transposed (d x k) once per call; the micro-kernel
computes the dot products of 4 samples with all k centres: for each block of
8 features, the loop over centres (contiguous; vectorised by the compiler,
lanes = centres, FMA) does ``D[r, j] += x[r, q] c[q, j]`` for 4 samples r and
8 features q, so each centre vector loaded serves 4 samples and each
accumulator load/store serves 8 FMAs. The argmin over the k values of a
sample is two vectorised integer reductions over keys that order like the
floats (IEEE bits with the magnitude flipped for negative values): a min,
then the lowest index holding it. Built per CPU variant (setup.py
``DISPATCHED``); with ``-fassociative-math`` for the vectorised sums.

Determinism: samples are cut into groups of a fixed number of rows (a
function of n, k and d only, :func:`group_rows`); each group is processed by
one thread into its own partial sums, reduced afterwards in group order, so
the result is the same for any thread count.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

from _common cimport FASTML_COMPILE_ARGS, bits32, bits64, clamp_threads

from fastml._config import threads_for

__all__ = ["assign", "group_rows", "inertia", "lloyd"]

_compile_args = FASTML_COMPILE_ARGS.decode()

DEF R = 4          # samples per register tile
DEF KB = 8         # features per micro-kernel block
cdef Py_ssize_t MIN_GROUP = 2048
cdef Py_ssize_t MAX_PARTIAL = 1 << 23
cdef int64_t MAG64 = 0x7FFFFFFFFFFFFFFF  # magnitude bits of a float64
cdef int64_t MAG32 = 0x7FFFFFFF


def group_rows(Py_ssize_t n, Py_ssize_t k, Py_ssize_t d):
    """Rows per group: at least 2048, few enough groups to cap partial sums at 64 MiB."""
    cdef Py_ssize_t max_groups = max(1, MAX_PARTIAL // max(1, k * d))
    cdef Py_ssize_t rows = max(MIN_GROUP, (n + max_groups - 1) // max_groups)
    return (rows + R - 1) // R * R


cdef inline void _dots(const floating* X, Py_ssize_t d, Py_ssize_t i, int nr,
                       const floating* Ct, Py_ssize_t k, floating* D) noexcept nogil:
    """D[r*k + j] = X[i + r] . Ct[:, j] for r < nr (nr = 4 or 1)."""
    cdef floating* D0 = D
    cdef floating* D1 = D + k
    cdef floating* D2 = D + 2 * k
    cdef floating* D3 = D + 3 * k
    cdef const floating* X0 = X + i * d
    cdef const floating* X1 = X0 + d
    cdef const floating* X2 = X1 + d
    cdef const floating* X3 = X2 + d
    cdef const floating* c0
    cdef const floating* c1
    cdef const floating* c2
    cdef const floating* c3
    cdef const floating* c4
    cdef const floating* c5
    cdef const floating* c6
    cdef const floating* c7
    cdef floating a0, a1, a2, a3, a4, a5, a6, a7
    cdef floating b0, b1, b2, b3, b4, b5, b6, b7
    cdef floating e0, e1, e2, e3, e4, e5, e6, e7
    cdef floating f0, f1, f2, f3, f4, f5, f6, f7
    cdef floating y0, y1, y2, y3, y4, y5, y6, y7, y, a, b, e, f
    cdef Py_ssize_t j, kb = 0, q
    memset(D, 0, sizeof(floating) * R * k)
    if nr == R:
        while kb + KB <= d:
            c0 = Ct + kb * k
            c1 = c0 + k
            c2 = c1 + k
            c3 = c2 + k
            c4 = c3 + k
            c5 = c4 + k
            c6 = c5 + k
            c7 = c6 + k
            a0 = X0[kb]; a1 = X0[kb + 1]; a2 = X0[kb + 2]; a3 = X0[kb + 3]
            a4 = X0[kb + 4]; a5 = X0[kb + 5]; a6 = X0[kb + 6]; a7 = X0[kb + 7]
            b0 = X1[kb]; b1 = X1[kb + 1]; b2 = X1[kb + 2]; b3 = X1[kb + 3]
            b4 = X1[kb + 4]; b5 = X1[kb + 5]; b6 = X1[kb + 6]; b7 = X1[kb + 7]
            e0 = X2[kb]; e1 = X2[kb + 1]; e2 = X2[kb + 2]; e3 = X2[kb + 3]
            e4 = X2[kb + 4]; e5 = X2[kb + 5]; e6 = X2[kb + 6]; e7 = X2[kb + 7]
            f0 = X3[kb]; f1 = X3[kb + 1]; f2 = X3[kb + 2]; f3 = X3[kb + 3]
            f4 = X3[kb + 4]; f5 = X3[kb + 5]; f6 = X3[kb + 6]; f7 = X3[kb + 7]
            for j in range(k):
                y0 = c0[j]; y1 = c1[j]; y2 = c2[j]; y3 = c3[j]
                y4 = c4[j]; y5 = c5[j]; y6 = c6[j]; y7 = c7[j]
                D0[j] += (a0 * y0 + a1 * y1 + a2 * y2 + a3 * y3) + (
                    a4 * y4 + a5 * y5 + a6 * y6 + a7 * y7)
                D1[j] += (b0 * y0 + b1 * y1 + b2 * y2 + b3 * y3) + (
                    b4 * y4 + b5 * y5 + b6 * y6 + b7 * y7)
                D2[j] += (e0 * y0 + e1 * y1 + e2 * y2 + e3 * y3) + (
                    e4 * y4 + e5 * y5 + e6 * y6 + e7 * y7)
                D3[j] += (f0 * y0 + f1 * y1 + f2 * y2 + f3 * y3) + (
                    f4 * y4 + f5 * y5 + f6 * y6 + f7 * y7)
            kb = kb + KB
        for q in range(kb, d):
            c0 = Ct + q * k
            a = X0[q]; b = X1[q]; e = X2[q]; f = X3[q]
            for j in range(k):
                y = c0[j]
                D0[j] += a * y
                D1[j] += b * y
                D2[j] += e * y
                D3[j] += f * y
    else:
        for q in range(d):
            c0 = Ct + q * k
            a = X0[q]
            for j in range(k):
                D0[j] += a * c0[j]


cdef inline Py_ssize_t _argmin(const floating* Dr, const floating* cn, Py_ssize_t k,
                               int64_t* K) noexcept nogil:
    """Lowest j minimising cn[j] - 2 Dr[j] (vectorised integer reductions over keys)."""
    cdef Py_ssize_t j, best = k, c
    cdef int64_t m, kj, b
    cdef floating v
    for j in range(k):
        v = cn[j] - (Dr[j] + Dr[j])
        if floating is double:
            b = bits64(v)
            K[j] = b ^ ((b >> 63) & MAG64)
        else:
            b = bits32(v)
            K[j] = b ^ ((b >> 31) & MAG32)
    m = K[0]
    for j in range(k):
        kj = K[j]
        m = kj if kj < m else m
    for j in range(k):
        c = j if K[j] == m else k
        best = c if c < best else best
    return best


cdef double _group(const floating* X, Py_ssize_t n, Py_ssize_t d, const floating* w,
                   const double* xsq, const floating* Ct, const floating* cn, Py_ssize_t k,
                   int32_t* labels, double* psums, double* pw, Py_ssize_t g, Py_ssize_t G,
                   bint update, floating* D, int64_t* K) noexcept nogil:
    """Label group g's samples, add them into its partial sums; return its inertia."""
    cdef Py_ssize_t i0 = g * G
    cdef Py_ssize_t i1 = min(n, i0 + G)
    cdef Py_ssize_t i = i0, ii, best, f
    cdef int r, nr
    cdef double total = 0, dist, wi
    cdef double* srow
    cdef const floating* xrow
    cdef floating* Dr
    while i < i1:
        nr = R if i + R <= i1 else 1
        _dots(X, d, i, nr, Ct, k, D)
        for r in range(nr):
            Dr = D + r * k
            best = _argmin(Dr, cn, k, K)
            ii = i + r
            labels[ii] = <int32_t>best
            dist = <double>(cn[best] - (Dr[best] + Dr[best])) + xsq[ii]
            wi = w[ii]
            if dist > 0:  # rounding can make the form slightly negative
                total += wi * dist
            if update:
                pw[best] += wi
                srow = psums + best * d
                xrow = X + ii * d
                for f in range(d):
                    srow[f] += wi * xrow[f]
        i += nr
    return total


def _run(const floating[:, ::1] X, const floating[::1] sample_weight,
         const double[::1] x_sq_norms, const floating[:, ::1] centers, int32_t[::1] labels,
         double[:, ::1] sums, double[::1] weights, bint update):
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], k = centers.shape[0]
    cdef Py_ssize_t G = group_rows(n, k, d)
    cdef Py_ssize_t n_groups = (n + G - 1) // G
    cdef Py_ssize_t g, j, f
    cdef int nt = clamp_threads(threads_for(n * k * max(d, 1)), n_groups)
    cdef floating[:, ::1] Ct = np.ascontiguousarray(np.asarray(centers).T)
    cdef floating[::1] cn = np.einsum("ij,ij->i", centers, centers)
    cdef double[::1] pin = np.zeros(n_groups)
    cdef double[:, :, ::1] psums = np.zeros((n_groups if update else 1, k, d))
    cdef double[:, ::1] pw = np.zeros((n_groups if update else 1, k))
    cdef floating* D = NULL
    cdef int64_t* K = NULL
    if n == 0:
        return 0.0
    with nogil, parallel(num_threads=nt):
        D = <floating*>malloc(sizeof(floating) * R * k)
        K = <int64_t*>malloc(sizeof(int64_t) * k)
        for g in prange(n_groups, schedule="dynamic"):
            pin[g] = _group(&X[0, 0], n, d, &sample_weight[0], &x_sq_norms[0], &Ct[0, 0],
                            &cn[0], k, &labels[0], &psums[g if update else 0, 0, 0],
                            &pw[g if update else 0, 0], g, G, update, D, K)
        free(D)
        free(K)
    if update:
        np.sum(psums, axis=0, out=np.asarray(sums))  # fixed order: group 0, 1, 2, ...
        np.sum(pw, axis=0, out=np.asarray(weights))
    return float(np.sum(pin))


def lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights):
    """One fused Lloyd pass; see ``fastml._numba.kmeans.lloyd`` for the parameters."""
    return _run(X, sample_weight, x_sq_norms, centers, labels, sums, weights, True)


def assign(X, sample_weight, x_sq_norms, centers, labels):
    """Label each sample with its nearest centre; return the inertia as :func:`lloyd`."""
    d = X.shape[1]
    return _run(X, sample_weight, x_sq_norms, centers, labels,
                np.zeros((1, d)), np.zeros(1), False)


def _inertia(const floating[:, ::1] X, const floating[::1] w, const floating[:, ::1] centers,
             const int32_t[::1] labels):
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t G = group_rows(n, centers.shape[0], d)
    cdef Py_ssize_t n_groups = (n + G - 1) // G
    cdef Py_ssize_t g, i, f
    cdef double total, s, t
    cdef int nt = clamp_threads(threads_for(n * max(d, 1)), n_groups)
    cdef double[::1] pin = np.zeros(n_groups)
    if n == 0:
        return 0.0
    for g in prange(n_groups, nogil=True, num_threads=nt, schedule="static"):
        total = 0
        for i in range(g * G, min(n, g * G + G)):
            s = 0
            for f in range(d):
                t = <double>X[i, f] - <double>centers[labels[i], f]
                s = s + t * t
            total = total + <double>w[i] * s
        pin[g] = total
    return float(np.sum(pin))


def inertia(X, sample_weight, centers, labels):
    """``sum_i w_i ||x_i - centers[labels_i]||^2`` in float64 (direct difference form)."""
    return _inertia(X, sample_weight, centers, labels)
