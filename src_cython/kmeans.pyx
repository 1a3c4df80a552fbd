"""Cython k-means kernels. Mirrors ``fastml/_numba/kmeans.py`` (keep them in step).

Same names, signatures and semantics as ``fastml._python.kmeans`` (the
oracle), ``fastml._numpy.kmeans`` and ``fastml._numba.kmeans``:

``lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights) -> inertia``
    One fused Lloyd pass: label every sample with its nearest centre (ties ->
    lowest index) and fill ``sums[j]`` / ``weights[j]`` with the weighted sum
    and the total weight of the samples labelled ``j`` (float64, not divided).
``assign(X, sample_weight, x_sq_norms, centers, labels) -> inertia``
    The same pass without the sums.
``inertia(X, sample_weight, centers, labels, out=None) -> float``
    ``sum_i w_i ||x_i - c_{labels_i}||^2`` by the direct difference form;
    ``out`` (float64, (n,)), if given, receives each unweighted term.

How it is fast
--------------
Distances are ranked by ``||c||^2 - 2 x.c``, as scikit-learn does with BLAS.
The centres are packed once per call, times -2 (exact), into panels of 8
(float64) or 16 (float32) centres, feature-major. The micro-kernel
(``FASTML_KM_BEST``, C with GCC/Clang vector extensions, so portable across
the CPU variants) finds the nearest centre of 4 samples at a time: per panel,
a register tile of 4 samples x 2 vectors of centres in 8 accumulators (per
feature: 2 vector loads of the panel, 4 broadcasts, 8 FMAs); each rank is
then one add, ``||c||^2 + acc``, and updates a running (minimum, index) per
lane by compare and blend; after the last panel, shuffle butterflies reduce
the lanes. No distance is stored. The FMAs run at ~80% of the core's peak
(single thread, d=32, k=64); the scalar per-sample work (labels, inertia,
the float64 sums) is most of the rest. Built per CPU variant (setup.py
``DISPATCHED``), without ``-fassociative-math``.

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

from _common cimport FASTML_COMPILE_ARGS, clamp_threads

from fastml import _scratch
from fastml._config import threads_for

__all__ = ["assign", "group_rows", "inertia", "lloyd"]

_compile_args = FASTML_COMPILE_ARGS.decode()

DEF R = 4          # samples per register tile
cdef Py_ssize_t MIN_GROUP = 2048
cdef Py_ssize_t MAX_GROUPS = 128  # as fastml/_numba/kmeans.py (small partial sums)
cdef Py_ssize_t MAX_PARTIAL = 1 << 23


def group_rows(Py_ssize_t n, Py_ssize_t k, Py_ssize_t d):
    """Rows per group: at least 2048, at most 128 groups, partial sums at most 64 MiB."""
    cdef Py_ssize_t max_groups = max(1, min(MAX_GROUPS, MAX_PARTIAL // max(1, k * d)))
    cdef Py_ssize_t rows = max(MIN_GROUP, (n + max_groups - 1) // max_groups)
    return (rows + R - 1) // R * R


cdef extern from *:
    """
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    #define FASTML_KM_VECTOR_EXT 1
    typedef double fastml_v4d __attribute__((vector_size(32)));
    typedef float fastml_v8f __attribute__((vector_size(32)));
    typedef long long fastml_v4l __attribute__((vector_size(32)));
    typedef int fastml_v8i __attribute__((vector_size(32)));
    #else
    #define FASTML_KM_VECTOR_EXT 0
    typedef double fastml_v4d;
    typedef float fastml_v8f;
    typedef long long fastml_v4l;
    typedef int fastml_v8i;
    #endif
    #include <math.h>
    #include <stdint.h>
    /* The micro-kernel, for element type T, vector type VT of L lanes (256 bits)
       and IT, the integer vector of the same shape (ST its element type).
       NAME(X0, d, P, cn, kp, lab, val): for the 4 samples at X0 (rows d apart),
       lab[r] = the lowest index j minimising cn[j] - 2 X0[r] . c_j over the kp
       (padded) centres packed in P (as -2 c, see pack_centers), val[r] = that
       minimum. Per panel of 2 L centres: a 4 x 2L register tile of dot products
       with -2 c (8 accumulators, per feature 2 vector loads of the panel, 4
       broadcasts, 8 FMAs), so the rank is one add, cn + acc (bit-identical to
       cn - 2 x.c: scaling by -2 is exact); the ranks update a running
       (minimum, index) per lane (compare + blend); strict < over increasing j
       keeps the lowest index of each lane (a lane's minimum starts at +inf and
       is never NaN). FIN then reduces the lanes with shuffles: the minimum, and
       the lowest index among the lanes that hold it. */
    #if FASTML_KM_VECTOR_EXT
    #if defined(__clang__) || __GNUC__ >= 12
    #define FASTML_KM_SHUF(VT, IT, V, ...) __builtin_shufflevector(V, V, __VA_ARGS__)
    #else
    #define FASTML_KM_SHUF(VT, IT, V, ...) __builtin_shuffle(V, (IT){__VA_ARGS__})
    #endif
    #define FASTML_KM_MIN(VT, IT, A, B) {                                                   \
        VT o_ = (B); IT k_ = (IT)(o_ < A); A = (VT)(((IT)o_ & k_) | ((IT)A & ~k_)); }
    #define FASTML_KM_UPD(VT, IT, B, I, RANK, J) {                                              \
        VT r_ = (RANK); IT m_ = (IT)(r_ < B);                                           \
        B = (VT)(((IT)r_ & m_) | ((IT)B & ~m_)); I = (J & m_) | (I & ~m_); }
    /* Butterfly over the lanes: after it every lane of V holds the minimum. */
    #define FASTML_KM_HMIN4(VT, IT, V) {                                                    \
        FASTML_KM_MIN(VT, IT, V, FASTML_KM_SHUF(VT, IT, V, 2, 3, 0, 1));                    \
        FASTML_KM_MIN(VT, IT, V, FASTML_KM_SHUF(VT, IT, V, 1, 0, 3, 2)); }
    #define FASTML_KM_HMIN8(VT, IT, V) {                                                    \
        FASTML_KM_MIN(VT, IT, V, FASTML_KM_SHUF(VT, IT, V, 4, 5, 6, 7, 0, 1, 2, 3));        \
        FASTML_KM_MIN(VT, IT, V, FASTML_KM_SHUF(VT, IT, V, 2, 3, 0, 1, 6, 7, 4, 5));        \
        FASTML_KM_MIN(VT, IT, V, FASTML_KM_SHUF(VT, IT, V, 1, 0, 3, 2, 5, 4, 7, 6)); }
    #define FASTML_KM_FIN(T, VT, IT, ST, HMIN, B, I, LAB, VAL) {                            \
        VT v_ = B; IT e_, j_;                                                           \
        HMIN(VT, IT, v_);                                                               \
        e_ = (IT)(B == v_); j_ = (I & e_) | (~e_ & ((IT){0} + (ST)0x7FFFFFFF));             \
        HMIN(IT, IT, j_);                                                               \
        LAB = (int32_t)j_[0]; VAL = v_[0]; }
    #define FASTML_KM_BEST(NAME, T, VT, IT, ST, L, HMIN)                                \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* P, const T* cn,         \
                            Py_ssize_t kp, int32_t* lab, T* val) {                      \
        VT b0, b1, b2, b3; IT i0, i1, i2, i3, lanes;                                    \
        const T* X1 = X0 + d; const T* X2 = X1 + d; const T* X3 = X2 + d;               \
        for (int l = 0; l < L; l++) {                                                   \
            b0[l] = b1[l] = b2[l] = b3[l] = (T)INFINITY;                                \
            i0[l] = i1[l] = i2[l] = i3[l] = 0; lanes[l] = (ST)l; }                      \
        for (Py_ssize_t jp = 0; jp < kp; jp += 2 * L) {                                 \
            const T* Pj = P + jp * d;                                                   \
            VT a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0};                              \
            VT a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};                              \
            VT p0, p1, c0, c1; IT j0, j1; T x;                                          \
            for (Py_ssize_t q = 0; q < d; q++) {                                        \
                memcpy(&p0, Pj + 2 * L * q, sizeof(p0));                                \
                memcpy(&p1, Pj + 2 * L * q + L, sizeof(p1));                            \
                x = X0[q]; a00 += x * p0; a01 += x * p1;                                \
                x = X1[q]; a10 += x * p0; a11 += x * p1;                                \
                x = X2[q]; a20 += x * p0; a21 += x * p1;                                \
                x = X3[q]; a30 += x * p0; a31 += x * p1;                                \
            }                                                                           \
            memcpy(&c0, cn + jp, sizeof(c0)); memcpy(&c1, cn + jp + L, sizeof(c1));     \
            j0 = lanes + (ST)jp; j1 = lanes + (ST)(jp + L);                             \
            FASTML_KM_UPD(VT, IT, b0, i0, c0 + a00, j0);                                \
            FASTML_KM_UPD(VT, IT, b0, i0, c1 + a01, j1);                                \
            FASTML_KM_UPD(VT, IT, b1, i1, c0 + a10, j0);                                \
            FASTML_KM_UPD(VT, IT, b1, i1, c1 + a11, j1);                                \
            FASTML_KM_UPD(VT, IT, b2, i2, c0 + a20, j0);                                \
            FASTML_KM_UPD(VT, IT, b2, i2, c1 + a21, j1);                                \
            FASTML_KM_UPD(VT, IT, b3, i3, c0 + a30, j0);                                \
            FASTML_KM_UPD(VT, IT, b3, i3, c1 + a31, j1);                                \
        }                                                                               \
        FASTML_KM_FIN(T, VT, IT, ST, HMIN, b0, i0, lab[0], val[0]);                     \
        FASTML_KM_FIN(T, VT, IT, ST, HMIN, b1, i1, lab[1], val[1]);                     \
        FASTML_KM_FIN(T, VT, IT, ST, HMIN, b2, i2, lab[2], val[2]);                     \
        FASTML_KM_FIN(T, VT, IT, ST, HMIN, b3, i3, lab[3], val[3]);                     \
    }
    #else
    #define FASTML_KM_BEST(NAME, T, VT, IT, ST, L, HMIN)                                \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* P, const T* cn,         \
                            Py_ssize_t kp, int32_t* lab, T* val) {                      \
        for (int r = 0; r < 4; r++) {                                                   \
            T bv = (T)INFINITY; int32_t bi = 0;                                         \
            for (Py_ssize_t j = 0; j < kp; j++) {                                       \
                const T* Pj = P + (j / (2 * L)) * (2 * L) * d + j % (2 * L);            \
                T s = 0, rank;                                                          \
                for (Py_ssize_t q = 0; q < d; q++) s += X0[r * d + q] * Pj[2 * L * q];  \
                rank = cn[j] + s;                                                       \
                if (rank < bv) { bv = rank; bi = (int32_t)j; }                          \
            }                                                                           \
            lab[r] = bi; val[r] = bv;                                                   \
        }                                                                               \
    }
    #endif
    FASTML_KM_BEST(fastml_km_best8, double, fastml_v4d, fastml_v4l, long long, 4, FASTML_KM_HMIN4)
    FASTML_KM_BEST(fastml_km_best16, float, fastml_v8f, fastml_v8i, int, 8, FASTML_KM_HMIN8)
    """
    void fastml_km_best8(const double* X0, Py_ssize_t d, const double* P, const double* cn,
                         Py_ssize_t kp, int32_t* lab, double* val) noexcept nogil
    void fastml_km_best16(const float* X0, Py_ssize_t d, const float* P, const float* cn,
                          Py_ssize_t kp, int32_t* lab, float* val) noexcept nogil


cdef inline void _best(const floating* X0, Py_ssize_t d, const floating* P,
                       const floating* cn, Py_ssize_t kp, int32_t* lab,
                       floating* val) noexcept nogil:
    if floating is double:
        fastml_km_best8(X0, d, P, cn, kp, lab, val)
    else:
        fastml_km_best16(X0, d, P, cn, kp, lab, val)


cdef double _group(const floating* X, Py_ssize_t n, Py_ssize_t d, const floating* w,
                   const double* xsq, const floating* P, const floating* cn, Py_ssize_t k,
                   int32_t* labels, double* psums, double* pw, Py_ssize_t g, Py_ssize_t G,
                   bint update, floating* Xt) noexcept nogil:
    """Label group g's samples, add them into its partial sums; return its inertia."""
    cdef Py_ssize_t i0 = g * G
    cdef Py_ssize_t i1 = min(n, i0 + G)
    cdef Py_ssize_t i = i0, ii, best, f
    cdef int r, nr
    cdef double total = 0, dist, wi
    cdef double* srow
    cdef const floating* xrow
    cdef int32_t lab[R]
    cdef floating val[R]
    while i < i1:
        nr = R if i + R <= i1 else <int>(i1 - i)
        if nr == R:
            _best(X + i * d, d, P, cn, k, lab, val)
        else:  # the last rows, padded by repeating the last one
            for r in range(R):
                for f in range(d):
                    Xt[r * d + f] = X[(i + min(r, nr - 1)) * d + f]
            _best(Xt, d, P, cn, k, lab, val)
        for r in range(nr):
            best = lab[r]
            ii = i + r
            labels[ii] = <int32_t>best
            dist = <double>val[r] + xsq[ii]
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
    # (reused from call to call: see fastml._scratch)
    cdef double[:, :, ::1] psums = _scratch.zeros((n_groups if update else 1, k, d),
                                                  "kmeans-psums")
    cdef double[:, ::1] pw = _scratch.zeros((n_groups if update else 1, k), "kmeans-pw")
    cdef floating* Xt = NULL
    if n == 0:
        return 0.0
    with nogil, parallel(num_threads=nt):
        Xt = <floating*>malloc(sizeof(floating) * R * d)
        for g in prange(n_groups, schedule="dynamic"):
            pin[g] = _group(&X[0, 0], n, d, &sample_weight[0], &x_sq_norms[0], &P[0, 0, 0],
                            &cn[0], kp, &labels[0], &psums[g if update else 0, 0, 0],
                            &pw[g if update else 0, 0], g, G, update, Xt)
        free(Xt)
    if update:
        np.sum(psums, axis=0, out=np.asarray(sums))  # fixed order: group 0, 1, 2, ...
        np.sum(pw, axis=0, out=np.asarray(weights))
    return float(np.sum(pin))


def pack_centers(centers, width):
    """Centres as panels of ``width``: P[p, q, l] = -2 centers[width p + l, q]; padded norms.

    The factor -2 (exact) makes the rank ``cn + x.P`` one add in the
    micro-kernel. Padding centres are zero with a norm of +inf, so they never win.
    """
    k, d = centers.shape
    n_pan = (k + width - 1) // width
    padded = np.zeros((n_pan * width, d), centers.dtype)
    np.multiply(centers, -2, out=padded[:k])
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


cdef inline double _sq_dist(const floating* x, const floating* c, Py_ssize_t d) noexcept nogil:
    """``||x - c||^2`` in float64, in four partial sums (this module is built
    without reassociation, so independent chains must be written out)."""
    cdef double s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0, t1, t2, t3
    cdef Py_ssize_t f = 0
    while f + 4 <= d:
        t0 = <double>x[f] - <double>c[f]
        t1 = <double>x[f + 1] - <double>c[f + 1]
        t2 = <double>x[f + 2] - <double>c[f + 2]
        t3 = <double>x[f + 3] - <double>c[f + 3]
        s0 += t0 * t0
        s1 += t1 * t1
        s2 += t2 * t2
        s3 += t3 * t3
        f += 4
    while f < d:
        t0 = <double>x[f] - <double>c[f]
        s0 += t0 * t0
        f += 1
    return (s0 + s1) + (s2 + s3)


def _inertia(const floating[:, ::1] X, const floating[::1] w, const floating[:, ::1] centers,
             const int32_t[::1] labels, double[::1] out, bint store):
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t G = group_rows(n, centers.shape[0], d)
    cdef Py_ssize_t n_groups = (n + G - 1) // G
    cdef Py_ssize_t g, i
    cdef double total, s
    cdef int nt = clamp_threads(threads_for(n * max(d, 1)), n_groups)
    cdef double[::1] pin = np.zeros(n_groups)
    if n == 0:
        return 0.0
    for g in prange(n_groups, nogil=True, num_threads=nt, schedule="static"):
        total = 0
        for i in range(g * G, min(n, g * G + G)):
            s = _sq_dist(&X[i, 0], &centers[labels[i], 0], d)
            if store:
                out[i] = s
            total = total + <double>w[i] * s
        pin[g] = total
    return float(np.sum(pin))


def inertia(X, sample_weight, centers, labels, out=None):
    """``sum_i w_i ||x_i - centers[labels_i]||^2`` in float64 (direct difference form).

    ``out`` (float64, shape (n,)), if given, receives each ``||x_i - c||^2``.
    """
    if out is None:
        return _inertia(X, sample_weight, centers, labels, np.empty(1), False)
    return _inertia(X, sample_weight, centers, labels, out, True)
