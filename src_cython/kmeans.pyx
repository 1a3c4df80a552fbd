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
The centres are packed once per call into panels of 8 (float64) or 16
(float32) centres, feature-major; the micro-kernel (``FASTML_KM_TILE``, C
with GCC/Clang vector extensions, so portable across the CPU variants) keeps
a tile of 4 samples x 2 vectors of centres in 8 accumulator registers: per
feature, 2 vector loads of the panel, 4 broadcasts, 8 FMAs. The argmin over
the k values of a sample is two vectorised integer reductions over keys that
order like the floats (IEEE bits with the magnitude flipped for negative
values): a min, then the lowest index holding it. Built per CPU variant
(setup.py ``DISPATCHED``), without ``-fassociative-math``: the compiler must
not split the feature loop into lanes.

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
cdef Py_ssize_t MIN_GROUP = 2048
cdef Py_ssize_t MAX_PARTIAL = 1 << 23
cdef int64_t MAG64 = 0x7FFFFFFFFFFFFFFF  # magnitude bits of a float64
cdef int32_t MAG32 = 0x7FFFFFFF


def group_rows(Py_ssize_t n, Py_ssize_t k, Py_ssize_t d):
    """Rows per group: at least 2048, few enough groups to cap partial sums at 64 MiB."""
    cdef Py_ssize_t max_groups = max(1, MAX_PARTIAL // max(1, k * d))
    cdef Py_ssize_t rows = max(MIN_GROUP, (n + max_groups - 1) // max_groups)
    return (rows + R - 1) // R * R


cdef extern from *:
    """
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    #define FASTML_KM_VECTOR_EXT 1
    typedef double fastml_v4d __attribute__((vector_size(32)));
    typedef float fastml_v8f __attribute__((vector_size(32)));
    #else
    #define FASTML_KM_VECTOR_EXT 0
    typedef double fastml_v4d;
    typedef float fastml_v8f;
    #endif
    /* One register tile, 4 samples x (2 * L) centres, for element type T and
       vector type VT of L lanes (see below). */
    #if FASTML_KM_VECTOR_EXT
    #define FASTML_KM_TILE(NAME, T, VT, L)                                              \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* Pj, T* D,               \
                            Py_ssize_t kp) {                                            \
        VT a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0};                                  \
        VT a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};                                  \
        const T* X1 = X0 + d; const T* X2 = X1 + d; const T* X3 = X2 + d;               \
        for (Py_ssize_t q = 0; q < d; q++) {                                            \
            VT p0, p1; T x;                                                             \
            memcpy(&p0, Pj + 2 * L * q, sizeof(p0));                                    \
            memcpy(&p1, Pj + 2 * L * q + L, sizeof(p1));                                \
            x = X0[q]; a00 += x * p0; a01 += x * p1;                                    \
            x = X1[q]; a10 += x * p0; a11 += x * p1;                                    \
            x = X2[q]; a20 += x * p0; a21 += x * p1;                                    \
            x = X3[q]; a30 += x * p0; a31 += x * p1;                                    \
        }                                                                               \
        memcpy(D, &a00, sizeof(a00)); memcpy(D + L, &a01, sizeof(a01));                 \
        memcpy(D + kp, &a10, sizeof(a10)); memcpy(D + kp + L, &a11, sizeof(a11));       \
        memcpy(D + 2 * kp, &a20, sizeof(a20)); memcpy(D + 2 * kp + L, &a21, sizeof(a21)); \
        memcpy(D + 3 * kp, &a30, sizeof(a30)); memcpy(D + 3 * kp + L, &a31, sizeof(a31)); \
    }
    #else
    #define FASTML_KM_TILE(NAME, T, VT, L)                                              \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* Pj, T* D,               \
                            Py_ssize_t kp) {                                            \
        for (int r = 0; r < 4; r++) for (int w = 0; w < 2 * L; w++) {                   \
            T s = 0;                                                                    \
            for (Py_ssize_t q = 0; q < d; q++) s += X0[r * d + q] * Pj[2 * L * q + w];  \
            D[r * kp + w] = s;                                                          \
        }                                                                               \
    }
    #endif
    FASTML_KM_TILE(fastml_km_tile8, double, fastml_v4d, 4)
    FASTML_KM_TILE(fastml_km_tile16, float, fastml_v8f, 8)
    """
    void fastml_km_tile8(const double* X0, Py_ssize_t d, const double* Pj, double* D,
                         Py_ssize_t kp) noexcept nogil
    void fastml_km_tile16(const float* X0, Py_ssize_t d, const float* Pj, float* D,
                          Py_ssize_t kp) noexcept nogil


# The register tiles: 4 samples x W centres (W = 8 float64 / 16 float32, two
# 256-bit vectors per sample; lanes = centres). Pj is a panel of W centres,
# feature-major (Pj[W q + w]); per feature: 2 vector loads of the panel, one
# broadcast per sample, 8 FMAs into 8 accumulators that stay in registers,
# stored to D (rows kp apart) at the end. Written with GCC/Clang vector
# extensions (portable: the compiler emits SSE2 pairs on the baseline build,
# AVX2/FMA on x86-64-v3); other compilers get the plain loops.


cdef inline void _dots(const floating* X0, Py_ssize_t d, const floating* P, Py_ssize_t kp,
                       floating* D) noexcept nogil:
    """D[r, :] = X0[r] . every (padded) centre, for the 4 rows starting at X0."""
    cdef Py_ssize_t jp
    if floating is double:
        for jp in range(0, kp, 8):
            fastml_km_tile8(X0, d, P + jp * d, D + jp, kp)
    else:
        for jp in range(0, kp, 16):
            fastml_km_tile16(X0, d, P + jp * d, D + jp, kp)


cdef inline Py_ssize_t _argmin(const floating* Dr, const floating* cn,
                               Py_ssize_t k) noexcept nogil:
    """Lowest j minimising cn[j] - 2 Dr[j]: two vectorised integer reductions over keys."""
    cdef Py_ssize_t j, best = k, c
    cdef int64_t m64 = MAG64, b64
    cdef int32_t m32 = MAG32, b32
    if floating is double:
        for j in range(k):
            b64 = bits64(cn[j] - (Dr[j] + Dr[j]))
            b64 = b64 ^ ((b64 >> 63) & MAG64)
            m64 = b64 if b64 < m64 else m64
        for j in range(k):
            b64 = bits64(cn[j] - (Dr[j] + Dr[j]))
            b64 = b64 ^ ((b64 >> 63) & MAG64)
            c = j if b64 == m64 else k
            best = c if c < best else best
    else:
        for j in range(k):
            b32 = bits32(cn[j] - (Dr[j] + Dr[j]))
            b32 = b32 ^ ((b32 >> 31) & MAG32)
            m32 = b32 if b32 < m32 else m32
        for j in range(k):
            b32 = bits32(cn[j] - (Dr[j] + Dr[j]))
            b32 = b32 ^ ((b32 >> 31) & MAG32)
            c = j if b32 == m32 else k
            best = c if c < best else best
    return best


cdef double _group(const floating* X, Py_ssize_t n, Py_ssize_t d, const floating* w,
                   const double* xsq, const floating* P, const floating* cn, Py_ssize_t k,
                   int32_t* labels, double* psums, double* pw, Py_ssize_t g, Py_ssize_t G,
                   bint update, floating* D, floating* Xt) noexcept nogil:
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
        nr = R if i + R <= i1 else <int>(i1 - i)
        if nr == R:
            _dots(X + i * d, d, P, k, D)
        else:  # the last rows, padded by repeating the last one
            for r in range(R):
                for f in range(d):
                    Xt[r * d + f] = X[(i + min(r, nr - 1)) * d + f]
            _dots(Xt, d, P, k, D)
        for r in range(nr):
            Dr = D + r * k
            best = _argmin(Dr, cn, k)
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
    cdef Py_ssize_t width = 8 if floating is double else 16
    cdef Py_ssize_t kp = (k + width - 1) // width * width
    cdef Py_ssize_t n_groups = (n + G - 1) // G
    cdef Py_ssize_t g, j, f
    cdef int nt = clamp_threads(threads_for(n * k * max(d, 1)), n_groups)
    P_, cn_ = pack_centers(np.asarray(centers), width)
    cdef floating[:, :, ::1] P = P_
    cdef floating[::1] cn = cn_
    cdef double[::1] pin = np.zeros(n_groups)
    cdef double[:, :, ::1] psums = np.zeros((n_groups if update else 1, k, d))
    cdef double[:, ::1] pw = np.zeros((n_groups if update else 1, k))
    cdef floating* D = NULL
    cdef floating* Xt = NULL
    if n == 0:
        return 0.0
    with nogil, parallel(num_threads=nt):
        D = <floating*>malloc(sizeof(floating) * R * kp)
        Xt = <floating*>malloc(sizeof(floating) * R * d)
        for g in prange(n_groups, schedule="dynamic"):
            pin[g] = _group(&X[0, 0], n, d, &sample_weight[0], &x_sq_norms[0], &P[0, 0, 0],
                            &cn[0], kp, &labels[0], &psums[g if update else 0, 0, 0],
                            &pw[g if update else 0, 0], g, G, update, D, Xt)
        free(D)
        free(Xt)
    if update:
        np.sum(psums, axis=0, out=np.asarray(sums))  # fixed order: group 0, 1, 2, ...
        np.sum(pw, axis=0, out=np.asarray(weights))
    return float(np.sum(pin))


def pack_centers(centers, width):
    """Centres as panels of ``width``: P[p, q, l] = centers[width p + l, q]; padded norms.

    Padding centres are zero with a norm of +inf, so they never win.
    """
    k, d = centers.shape
    n_pan = (k + width - 1) // width
    padded = np.zeros((n_pan * width, d), centers.dtype)
    padded[:k] = centers
    P = np.ascontiguousarray(padded.reshape(n_pan, width, d).transpose(0, 2, 1))
    cn = np.full(n_pan * width, np.inf, centers.dtype)
    cn[:k] = np.einsum("ij,ij->i", centers, centers)
    return P, cn


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
