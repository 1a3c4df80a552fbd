"""Cython gradient-descent kernels. Mirrors ``fastml/_numba/sgd.py`` (keep them in step).

Same names, signatures and semantics as ``fastml._python.sgd`` (the oracle),
``fastml._numpy.sgd`` and ``fastml._numba.sgd``; codes and loss definitions
in :mod:`fastml._losses`. ``theta`` has shape (n_out, n_features + 1): row
``k`` holds output ``k``'s coefficients followed by its intercept.

* ``sgd_epoch``: plain SGD, batch size 1 (scikit-learn's ``_plain_sgd``):
  L2 via a scale factor (``w = wscale * v``: O(1) per sample), L1 via the
  cumulative penalty of Tsuruoka et al. (2009); serial by nature. What makes
  it fast: (1) each sample's coefficient step is deferred and fused with the
  next sample's dot products, which then run while the loss is computed
  instead of after it (without L1; see the function's docstring); (2) each
  sample of the shuffled order is prefetched ``AHEAD`` samples ahead: its row
  (in two halves) and its y and sample_weight (unit weights, the default, are
  not read at all); (3) the log loss is branch-free with its own log1p
  (``_log1p_unit``, a few ulp); (4) with two threads allowed and rows larger
  than the cache, a second thread reads the shuffled rows ahead of the epoch
  (``_read_ahead``; this module's alone: the hand-off needs atomics, which
  Numba does not offer); (5) the fused step is written with explicit vectors
  and four accumulators per sum (``FASTML_FUSED_STEP``), and one output
  without L1 (binary classification, regression) runs a copy of the loop with
  its state in local variables (``_single_output_epoch``): 5-8% faster per
  epoch at 200000 x 100 float64 shuffled, 15-25% with the rows in cache.
* ``sgd_epoch_averaged``: the same step plus scikit-learn's averaged weights
  (``average=``), in the oracle's order: a plain loop, which prefetches the
  rows as (2) does.
* ``sgd_epoch_sparse``: ``sgd_epoch_averaged``'s loop on CSR rows (``average=0``:
  plain SGD), touching only a row's stored columns (L1 truncation included);
  rows prefetched as (2), margins in four partial sums (``_sparse_dot``).
* ``minibatch_epoch``: mini-batch / full-batch steps with any optimizer. A
  batch's gradient reads each row once, in groups of ``GROUP`` rows (their
  margins in one pass over the coefficients, their losses, then their
  contributions in one pass over the gradient while the rows are in cache; see
  ``_block_grad``), over fixed blocks of ``BLOCK`` rows run in parallel with
  OpenMP when a batch has several; partial gradients are added in block order
  (thread-count independent).
* ``loss_grad``: the kernels' scalar losses over arrays (for tests).

Built with ``-fassociative-math`` (see setup.py REASSOCIATE) so the row dot
products vectorise; sums are accumulated in double for both dtypes.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport exp, fabs, log, pow, sqrt
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

import numpy as np

from _common cimport clamp_threads

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define FASTML_PREFETCH(p) __builtin_prefetch((const void*)(p), 0, 3)
    #else
    #define FASTML_PREFETCH(p) ((void)0)
    #endif
    #include <stdint.h>
    #include <string.h>
    /* c ? a : b without a branch (compilers turn FP selects into branches, and
       these conditions are coin flips for the branch predictor) */
    static inline double fastml_select(int c, double a, double b) {
        uint64_t ia, ib, m = (uint64_t)0 - (uint64_t)(c != 0);
        memcpy(&ia, &a, 8);
        memcpy(&ib, &b, 8);
        ia = (ia & m) | (ib & ~m);
        memcpy(&a, &ia, 8);
        return a;
    }
    /* x, rounded: passed through memory, so that the compiler cannot fuse the
       product that made it into a multiply-add (-ffp-contract), e.g. for
       theta += fastml_rounded(a * b): two roundings, as the Python oracle and
       scikit-learn, where the sum feeds a perceptron's exact tie test. */
    static inline double fastml_rounded(double x) {
    #if defined(__GNUC__) || defined(__clang__)
        __asm__("" : "+m"(x));
    #else
        volatile double v = x;
        x = v;
    #endif
        return x;
    }
    /* An epoch's progress, shared with its read-ahead thread (sgd_epoch). Relaxed
       atomics: the count only tells the helper where to read; no data passes
       through it, and a stale count costs only a wasted read. */
    #if defined(__GNUC__) || defined(__clang__)
    static inline void fastml_progress_set(Py_ssize_t* p, Py_ssize_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELAXED);
    }
    static inline Py_ssize_t fastml_progress_get(Py_ssize_t* p) {
        return __atomic_load_n(p, __ATOMIC_RELAXED);
    }
    #else
    static inline void fastml_progress_set(Py_ssize_t* p, Py_ssize_t v) {
        *(volatile Py_ssize_t*)p = v;
    }
    static inline Py_ssize_t fastml_progress_get(Py_ssize_t* p) {
        return *(volatile Py_ssize_t*)p;
    }
    #endif
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    #define fastml_cpu_relax() __builtin_ia32_pause()
    #else
    #define fastml_cpu_relax() ((void)0)
    #endif
    /* Load one byte of each cache line of [row, row + nbytes): volatile, so that
       the loads happen although nothing uses them. */
    static inline void fastml_touch(const char* row, Py_ssize_t nbytes) {
        Py_ssize_t o;
        for (o = 0; o < nbytes; o += 64)
            (void)*(volatile const char*)(row + o);
        (void)*(volatile const char*)(row + nbytes - 1);
    }
    /* sgd_epoch's fused step (_step_dots) with explicit vectors (GCC and Clang
       vector extensions): w += c xp, then s = w . xn and t = xi . xn, each sum
       over 4 vector accumulators. GCC vectorises the plain loop with one
       accumulator per sum: a chain of dependent FMAs, 25 long at 100 float64
       features; written with several scalar sums, the loop does not vectorise.
       Loads and stores are unaligned (memcpy); without AVX the compiler splits
       the vectors. Macros rather than helper functions: a function taking or
       returning a 32-byte vector is an ABI warning in the SSE2 build. */
    #if defined(__GNUC__) || defined(__clang__)
    #define FASTML_LD(v, p) memcpy(&(v), (p), sizeof(v))
    #define FASTML_ST(p, v) memcpy((p), &(v), sizeof(v))
    #define FASTML_STEP_LANE(acc_s, acc_t, o)                                          \
        FASTML_LD(wv, w + j + (o)); FASTML_LD(pv, xp + j + (o));                       \
        wv += cv * pv; FASTML_ST(w + j + (o), wv);                                     \
        FASTML_LD(nv, xn + j + (o)); FASTML_LD(iv, xi + j + (o));                      \
        acc_s += wv * nv; acc_t += iv * nv;
    #define FASTML_FUSED_STEP(NAME, T, W)                                              \
    typedef T NAME##_vec __attribute__((vector_size(W * sizeof(T))));                 \
    static inline double NAME(T* w, double c, const T* xp, const T* xi, const T* xn,  \
                              Py_ssize_t n, double* b) {                              \
        NAME##_vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                            \
        NAME##_vec t0 = {0}, t1 = {0}, t2 = {0}, t3 = {0}, wv, pv, nv, iv;            \
        T cf = (T)c, s = 0, t = 0;                                                    \
        NAME##_vec cv = cf - (NAME##_vec){0};                                         \
        Py_ssize_t j = 0;                                                             \
        int k;                                                                        \
        for (; j + 4 * W <= n; j += 4 * W) {                                          \
            FASTML_STEP_LANE(s0, t0, 0) FASTML_STEP_LANE(s1, t1, W)                   \
            FASTML_STEP_LANE(s2, t2, 2 * W) FASTML_STEP_LANE(s3, t3, 3 * W)           \
        }                                                                             \
        for (; j + W <= n; j += W) {                                                  \
            FASTML_STEP_LANE(s0, t0, 0)                                               \
        }                                                                             \
        s0 = (s0 + s1) + (s2 + s3);                                                   \
        t0 = (t0 + t1) + (t2 + t3);                                                   \
        for (k = 0; k < W; k++) {                                                     \
            s += s0[k];                                                               \
            t += t0[k];                                                               \
        }                                                                             \
        for (; j < n; j++) {                                                          \
            w[j] += cf * xp[j];                                                       \
            s += w[j] * xn[j];                                                        \
            t += xi[j] * xn[j];                                                       \
        }                                                                             \
        *b = t;                                                                       \
        return s;                                                                     \
    }
    FASTML_FUSED_STEP(fastml_step_dots_f64, double, 4)
    FASTML_FUSED_STEP(fastml_step_dots_f32, float, 8)
    #define FASTML_HAVE_VECTOR_STEP 1
    #else  /* other compilers: the Cython loop in _step_dots */
    #define FASTML_HAVE_VECTOR_STEP 0
    static double fastml_step_dots_f64(double* w, double c, const double* xp, const double* xi,
                                       const double* xn, Py_ssize_t n, double* b) { return 0; }
    static double fastml_step_dots_f32(float* w, double c, const float* xp, const float* xi,
                                       const float* xn, Py_ssize_t n, double* b) { return 0; }
    #endif
    """
    void FASTML_PREFETCH(const void* p) noexcept nogil
    bint FASTML_HAVE_VECTOR_STEP
    double fastml_step_dots_f64(double* w, double c, const double* xp, const double* xi,
                                const double* xn, Py_ssize_t n, double* b) noexcept nogil
    double fastml_step_dots_f32(float* w, double c, const float* xp, const float* xi,
                                const float* xn, Py_ssize_t n, double* b) noexcept nogil
    double fastml_select(bint c, double a, double b) noexcept nogil
    void fastml_progress_set(Py_ssize_t* p, Py_ssize_t v) noexcept nogil
    Py_ssize_t fastml_progress_get(Py_ssize_t* p) noexcept nogil
    void fastml_cpu_relax() noexcept nogil
    double fastml_rounded(double x) noexcept nogil
    void fastml_touch(const char* row, Py_ssize_t nbytes) noexcept nogil

from fastml._config import threads_for

__all__ = ["loss_grad", "minibatch_epoch", "read_ahead_threads", "sgd_epoch", "sgd_epoch_averaged",
           "sgd_epoch_sparse"]

cdef double MAX_DLOSS = 1e12
cdef Py_ssize_t BLOCK = 1024  # == fastml._losses.BLOCK
cdef Py_ssize_t AHEAD = 8  # rows prefetched ahead: sgd_epoch, _block_grad (see _prefetch_row)
cdef Py_ssize_t GROUP = 4  # rows per pass of _block_grad (fixed: _dot4, _axpy4)
cdef Py_ssize_t SCRATCH = 2 + 2 * 4  # _block_grad's scratch, in units of n_out doubles
# sgd_epoch's read-ahead thread: how far ahead of the epoch it reads (64-256 KiB
# measured best, 1.15-1.3x; 32 KiB and 512 KiB+ less), and the least an epoch
# must read for it to start (smaller data stays in the 32 MiB L3 between epochs).
cdef Py_ssize_t READ_AHEAD_BYTES = 128 * 1024
cdef Py_ssize_t READ_AHEAD_MIN_BYTES = 16 * 1024 * 1024



cdef inline void _prefetch_row(const void* row, Py_ssize_t nbytes) noexcept nogil:
    """Ask for every cache line of a row that the loop will reach soon: rows are
    visited in a shuffled order, which the hardware prefetcher cannot predict."""
    _prefetch_bytes(row, 0, nbytes)


cdef inline void _prefetch_bytes(const void* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """The part of ``_prefetch_row`` from byte ``lo`` (a multiple of 64) to ``hi``."""
    cdef const char* c = <const char*>row
    while lo < hi:
        FASTML_PREFETCH(c + lo)
        lo += 64


cdef inline double _clip(double g) noexcept nogil:
    if g > MAX_DLOSS:
        return MAX_DLOSS
    if g < -MAX_DLOSS:
        return -MAX_DLOSS
    return g


# fdlibm's log kernel (e_log.c, Sun Microsystems 1993): log(1 + f) = f - hfsq + s (hfsq + R(s^2))
# with s = f / (2 + f), hfsq = f^2 / 2; R's minimax error is below 2**-58.45 for |s| <= 0.1716,
# i.e. sqrt(2)/2 - 1 <= f <= sqrt(2) - 1. Same constants in fastml/_numba/sgd.py.
cdef double LG1 = 6.666666666666735130e-01, LG2 = 3.999999999940941908e-01
cdef double LG3 = 2.857142874366239149e-01, LG4 = 2.222219843214978396e-01
cdef double LG5 = 1.818357216161805012e-01, LG6 = 1.531383769920937332e-01
cdef double LG7 = 1.479819860511658591e-01
cdef double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10
cdef double SQRT2_M1 = 0.41421356237309503


cdef inline double _log1p_unit(double u) noexcept nogil:
    """log1p(u) for 0 <= u <= 1 (the log loss's log1p(exp(-|z|))), without branches.

    1 + u = 2**k (1 + f): k = 0, f = u for u <= sqrt(2) - 1 (exact: no rounded 1 + u, so
    tiny u keep full relative precision), else k = 1, f = (u - 1) / 2. Relative error a
    few ulp (tests/test_linear_kernels.py); glibc's log1p costs ~3x more and branches.
    """
    cdef bint big = u > SQRT2_M1
    cdef double k = fastml_select(big, 1.0, 0.0)
    cdef double f = fastml_select(big, 0.5 * (u - 1.0), u)
    cdef double s = f / (2.0 + f)
    cdef double z = s * s
    cdef double w = z * z
    cdef double r = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7))) + w * (LG2 + w * (LG4 + w * LG6))
    cdef double hfsq = 0.5 * f * f
    return k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)


cdef inline double _log_loss(double p, double y, double* d) noexcept nogil:
    """The log loss; ``d[0]`` receives d loss / d p. The oracle's two stable branches
    as selects: the sign of z is a coin flip for the branch predictor, and plain
    SGD waits for this on every sample."""
    cdef double z = p * y
    cdef double ez = exp(-fabs(z))
    cdef bint pos = z > 0.0
    d[0] = -y * fastml_select(pos, ez, 1.0) / (1.0 + ez)
    return fastml_select(pos, 0.0, -z) + _log1p_unit(ez)


cdef inline double _loss1(int code, double p, double y, double e, double* d) noexcept nogil:
    """Loss of one output; ``d[0]`` receives d loss / d p."""
    cdef double r, a, ex, s, z, m, thr
    if code == 0:
        r = p - y
        d[0] = r
        return 0.5 * r * r
    if code == 1:
        r = p - y
        a = fabs(r)
        if a <= e:
            d[0] = r
            return 0.5 * r * r
        d[0] = e if r > 0 else -e
        return e * a - 0.5 * e * e
    if code == 2 or code == 3:
        r = y - p
        ex = fabs(r) - e
        if ex <= 0.0:
            d[0] = 0.0
            return 0.0
        s = -1.0 if r > 0 else 1.0
        if code == 2:
            d[0] = s
            return ex
        d[0] = 2.0 * ex * s
        return ex * ex
    if code == 4:
        return _log_loss(p, y, d)
    z = p * y
    if code == 5 or code == 6:
        thr = 1.0 if code == 5 else 0.0
        if z <= thr:
            d[0] = -y
            return thr - z
        d[0] = 0.0
        return 0.0
    if code == 7:
        m = 1.0 - z
        if m > 0:
            d[0] = -2.0 * y * m
            return m * m
        d[0] = 0.0
        return 0.0
    if z >= 1.0:
        d[0] = 0.0
        return 0.0
    if z >= -1.0:
        d[0] = -2.0 * (1.0 - z) * y
        return (1.0 - z) * (1.0 - z)
    d[0] = -4.0 * y
    return -4.0 * z


cdef inline double _row_loss(int code, const double* p, Py_ssize_t n_out, double yi, double e,
                             double* g) noexcept nogil:
    """Loss of one row over all outputs ``p``; fills ``g`` with d loss / d p."""
    cdef Py_ssize_t k
    cdef double mx, s, total
    cdef int c
    if code == 9:
        mx = p[0]
        for k in range(1, n_out):
            if p[k] > mx:
                mx = p[k]
        s = 0.0
        for k in range(n_out):
            g[k] = exp(p[k] - mx)
            s += g[k]
        c = <int>yi
        for k in range(n_out):
            g[k] /= s
        g[c] -= 1.0
        return mx + log(s) - p[c]
    if n_out == 1:
        return _loss1(code, p[0], yi, e, g)
    total = 0.0
    for k in range(n_out):
        total += _loss1(code, p[k], 1.0 if yi == k else -1.0, e, &g[k])
    return total


cdef inline double _pa_rate(int schedule, double eta0, double loss, double sq) noexcept nogil:
    # as fastml._python.sgd.pa_rate
    if schedule == 3:
        return eta0 if eta0 < loss / sq else loss / sq
    return loss / (sq + 0.5 / eta0)


cdef inline double _output_loss(int code, const double* p, Py_ssize_t n_out, double yi,
                                double e, Py_ssize_t k) noexcept nogil:
    # as fastml._python.sgd._output_loss: output k's loss alone
    cdef double unused
    if n_out == 1:
        return _loss1(code, p[0], yi, e, &unused)
    return _loss1(code, p[k], 1.0 if yi == k else -1.0, e, &unused)


cdef inline double _eta(int schedule, double eta0, double power_t, double t0,
                        double t) noexcept nogil:
    # as fastml._python.sgd.eta_at: "optimal" gets its alpha as eta0
    if schedule == 1:
        return 1.0 / (eta0 * (t0 + t - 1.0))
    if schedule == 2:
        return eta0 / pow(t, power_t)
    return eta0


# The vector helpers below compute in the data's dtype: float32 data in float32
# (8 lanes, no conversions to double and back), float64 in float64. Summing
# float32 products in double made a float32 epoch 1.7x slower (200000 x 100:
# 29 vs 17 ms), and the margins are rounded to the float32 model's precision
# anyway (tests/test_linear_kernels.py: float32 tracks float64 to ~1e-6).

cdef inline double _dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """Dot product with 8 independent partial sums: GCC vectorises a plain
    reduction into one chain of dependent FMAs (latency-bound); 8 sums give
    it two float64 vectors of 4 that run in parallel (one of 8 for float32)."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t j = 0
    while j + 8 <= n:
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
        j += 8
    while j < n:
        s0 += a[j] * b[j]
        j += 1
    return ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))


cdef inline void _axpy(double c, const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    cdef floating cf = <floating>c
    cdef Py_ssize_t j
    for j in range(n):
        y[j] += cf * x[j]


cdef inline double _step_dot(floating* w, double c, const floating* xp, const floating* xn,
                             Py_ssize_t n) noexcept nogil:
    """``w += c * xp``, then return ``w . xn``: the previous sample's (deferred)
    coefficient step fused with the next sample's dot product."""
    cdef floating s = 0, cf = <floating>c
    cdef Py_ssize_t j
    for j in range(n):
        w[j] += cf * xp[j]
        s += w[j] * xn[j]
    return s


cdef inline double _step_dots(floating* w, double c, const floating* xp, const floating* xi,
                              const floating* xn, Py_ssize_t n, double* b) noexcept nogil:
    """``_step_dot`` that also puts ``xi . xn`` in ``b`` (one pass over xn)."""
    if FASTML_HAVE_VECTOR_STEP:
        if floating is double:
            return fastml_step_dots_f64(w, c, xp, xi, xn, n, b)
        else:
            return fastml_step_dots_f32(w, c, xp, xi, xn, n, b)
    cdef floating s = 0, t = 0, cf = <floating>c
    cdef Py_ssize_t j
    for j in range(n):
        w[j] += cf * xp[j]
        s += w[j] * xn[j]
        t += xi[j] * xn[j]
    b[0] = t
    return s


cdef inline const floating* _prefetch_sample(
        const floating[:, ::1] X, const floating[::1] y, const floating[::1] sample_weight,
        const int64_t[::1] order, Py_ssize_t at, Py_ssize_t half,
        bint unit_weights) noexcept nogil:
    """Prefetch sample ``order[at]`` of an epoch (if ``at`` is in range): the first
    ``half`` bytes of its row, its y and its weight; return its row (or NULL),
    whose rest the caller prefetches later (see ``_plain_epoch``)."""
    cdef Py_ssize_t nxt
    if at >= order.shape[0]:
        return NULL
    nxt = order[at]
    _prefetch_bytes(&X[nxt, 0], 0, half)
    FASTML_PREFETCH(&y[nxt])
    if not unit_weights:
        FASTML_PREFETCH(&sample_weight[nxt])
    return &X[nxt, 0]


cdef inline void _l1_truncate(floating* w, floating* qk, double u, double wscale,
                              Py_ssize_t d) noexcept nogil:
    """Truncated-gradient L1 step (Tsuruoka et al., as scikit-learn) on w[:d]."""
    cdef Py_ssize_t j
    for j in range(d):
        _l1_truncate_one(w, qk, j, u, wscale)


cdef inline void _l1_truncate_one(floating* w, floating* qk, Py_ssize_t j, double u,
                                  double wscale) noexcept nogil:
    """``_l1_truncate`` of coefficient j alone (sparse rows: their stored columns)."""
    cdef double z = w[j] * wscale, cj
    if z > 0.0:
        cj = w[j] - (u + qk[j]) / wscale
        w[j] = cj if cj > 0.0 else 0.0
    elif z < 0.0:
        cj = w[j] + (u - qk[j]) / wscale
        w[j] = cj if cj < 0.0 else 0.0
    qk[j] += wscale * w[j] - z


cdef inline double _sparse_dot(const floating* w, const int64_t* ind, const floating* val,
                               Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """``w . x`` over a CSR row's stored values ``ind[lo:hi]``, ``val[lo:hi]``, in
    four partial sums: one sum is a chain of dependent multiply-adds (4 cycles
    each), and plain SGD waits for this margin on every sample."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t r = lo
    while r + 4 <= hi:
        s0 += w[ind[r]] * val[r]
        s1 += w[ind[r + 1]] * val[r + 1]
        s2 += w[ind[r + 2]] * val[r + 2]
        s3 += w[ind[r + 3]] * val[r + 3]
        r += 4
    while r < hi:
        s0 += w[ind[r]] * val[r]
        r += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double _shrink_averaged(floating[:, ::1] theta, floating[:, ::1] avg, double l2,
                                    double eta, double wscale, double* a,
                                    double* b) noexcept nogil:
    """The L2 step as the scale factor (``w = wscale * v``) of the averaged and
    sparse epochs; returns the new wscale. Below 1e-9, scikit-learn's reset
    with averaging: the mean's lazy form first (``avg = (avg + a w) / b``),
    then ``w *= wscale``, and a = 0, b = 1, wscale = 1."""
    cdef Py_ssize_t k, j, d = theta.shape[1] - 1
    cdef floating* w
    cdef double shrink = 1.0 - l2 * eta
    wscale *= shrink if shrink > 0.0 else 0.0
    if wscale >= 1e-9:
        return wscale
    for k in range(theta.shape[0]):
        w = &theta[k, 0]
        for j in range(d):
            avg[k, j] = (avg[k, j] + a[0] * w[j]) / b[0]
            w[j] = w[j] * wscale
    a[0] = 0.0
    b[0] = 1.0
    return 1.0


cdef inline void _step_sizes(int schedule, const double* rate, const double* g, double eta,
                             double wi, Py_ssize_t n_out, double* upd) noexcept nogil:
    """Each output's step ``upd[k]`` (before the scale factor): the
    passive-aggressive rate, or ``-eta`` times the clipped loss derivative."""
    cdef Py_ssize_t k
    for k in range(n_out):
        if schedule >= 3:
            upd[k] = -rate[k] * g[k] * wi
        else:
            upd[k] = -eta * _clip(g[k]) * wi


cdef inline void _sparse_axpy(double c, const int64_t* ind, const floating* val, Py_ssize_t lo,
                              Py_ssize_t hi, floating* w) noexcept nogil:
    """``w += c x`` on a CSR row's stored columns ``ind[lo:hi]``."""
    cdef Py_ssize_t r
    for r in range(lo, hi):
        w[ind[r]] += c * val[r]


cdef inline void _advance_mean(floating[:, ::1] theta, floating[:, ::1] avg, double seen,
                               double wscale, double* a, double* b) noexcept nogil:
    """The averaged step's rest, after the rows' part of the mean: the mean
    intercepts, and the lazy form's ``a``, ``b`` (scikit-learn's WeightVector)."""
    cdef Py_ssize_t k, d = theta.shape[1] - 1
    for k in range(theta.shape[0]):
        avg[k, d] += (theta[k, d] - avg[k, d]) / seen
    if seen > 1.0:
        b[0] /= 1.0 - 1.0 / seen
    a[0] += (1.0 / seen) * b[0] * wscale


cdef inline void _scale_coef(floating[:, ::1] theta, double c) noexcept nogil:
    """Multiply the coefficients (not the intercepts) by ``c``."""
    cdef Py_ssize_t k, j, d = theta.shape[1] - 1
    cdef floating* w
    for k in range(theta.shape[0]):
        w = &theta[k, 0]
        for j in range(d):
            w[j] = w[j] * c


def sgd_epoch_averaged(const floating[:, ::1] X, const floating[::1] y,
                       const floating[::1] sample_weight, const int64_t[::1] order,
                       floating[:, ::1] theta, floating[:, ::1] q, floating[:, ::1] avg,
                       double[::1] ab, int loss, double loss_param, double alpha,
                       double l1_ratio, int schedule, double eta0, double power_t, double t0,
                       bint fit_intercept, double t, double u, Py_ssize_t average):
    """One epoch of averaged SGD (scikit-learn's ``average=``) in place.

    See ``fastml._numba.sgd.sgd_epoch_averaged`` for the parameters and
    ``fastml._python.sgd.sgd_epoch_averaged`` for the algorithm (this is its
    loop, step for step: no deferred step; the rows are prefetched).

    Returns
    -------
    loss_sum, t, u : float
    """
    cdef Py_ssize_t n_out = theta.shape[0], d = X.shape[1], m = order.shape[0]
    cdef Py_ssize_t ii, i, k
    cdef double l2 = (1.0 - l1_ratio) * alpha, l1 = l1_ratio * alpha
    cdef double wscale = 1.0, loss_sum = 0.0, eta, seen
    cdef double a = ab[0], b = ab[1]
    cdef double* p = <double*>malloc(4 * n_out * sizeof(double))
    cdef double* g = p + n_out
    cdef double* upd = g + n_out
    cdef double* rate = upd + n_out  # passive-aggressive step sizes (pa1, pa2)
    cdef double sq
    cdef const floating* xi
    cdef Py_ssize_t nxt, nbytes = d * sizeof(floating)
    if p == NULL:
        raise MemoryError()
    with nogil:
        for ii in range(m):
            i = order[ii]
            xi = &X[i, 0]
            if ii + AHEAD < m:  # as sgd_epoch: the shuffled order defeats the hardware's
                nxt = order[ii + AHEAD]
                _prefetch_row(&X[nxt, 0], nbytes)
                FASTML_PREFETCH(&y[nxt])
                FASTML_PREFETCH(&sample_weight[nxt])
            eta = _eta(schedule, eta0, power_t, t0, t)
            for k in range(n_out):
                p[k] = _dot(&theta[k, 0], xi, d) * wscale + theta[k, d]
            if n_out == 1:
                loss_sum += sample_weight[i] * _loss1(loss, p[0], y[i], loss_param, g)
            else:
                loss_sum += sample_weight[i] * _row_loss(loss, p, n_out, y[i], loss_param, g)
            if schedule >= 3:  # passive-aggressive (fastml._python.sgd.pa_rate)
                sq = _dot(xi, xi, d)
                if schedule == 3 and sq == 0.0:
                    continue
                for k in range(n_out):
                    rate[k] = _pa_rate(schedule, eta0,
                                       _output_loss(loss, p, n_out, y[i], loss_param, k), sq)
            if l2 > 0.0:
                wscale = _shrink_averaged(theta, avg, l2, eta, wscale, &a, &b)
            _step_sizes(schedule, rate, g, eta, sample_weight[i], n_out, upd)
            for k in range(n_out):
                if upd[k] != 0.0:
                    _axpy(upd[k] / wscale, xi, &theta[k, 0], d)
                if fit_intercept:
                    theta[k, d] += upd[k]
            if 0 < average <= t:
                seen = t - average + 1.0
                for k in range(n_out):
                    _axpy(a * (-upd[k] / wscale), xi, &avg[k, 0], d)
                _advance_mean(theta, avg, seen, wscale, &a, &b)
            if l1 > 0.0:
                u += l1 * eta
                for k in range(n_out):
                    _l1_truncate(&theta[k, 0], &q[k, 0], u, wscale, d)
            t += 1.0
        if wscale != 1.0:
            _scale_coef(theta, wscale)
    free(p)
    ab[0] = a / wscale
    ab[1] = b
    return loss_sum, t, u


def sgd_epoch_sparse(const floating[::1] data, const int64_t[::1] indices,
                     const int64_t[::1] indptr, const floating[::1] y,
                     const floating[::1] sample_weight, const int64_t[::1] order,
                     floating[:, ::1] theta, floating[:, ::1] q, floating[:, ::1] avg,
                     double[::1] ab, int loss, double loss_param, double alpha, double l1_ratio,
                     int schedule, double eta0, double power_t, double t0, bint fit_intercept,
                     double t, double u, Py_ssize_t average, double intercept_decay):
    """``sgd_epoch_averaged`` on CSR rows (``average=0``: plain SGD), in place.

    See ``fastml._numba.sgd.sgd_epoch_sparse`` for the parameters and
    ``fastml._python.sgd.sgd_epoch_sparse`` for the algorithm: each step reads
    and writes only the row's stored columns, the L1 truncation included.

    Returns
    -------
    loss_sum, t, u : float
    """
    cdef Py_ssize_t n_out = theta.shape[0], d = theta.shape[1] - 1, m = order.shape[0]
    cdef Py_ssize_t ii, i, k, r, lo, hi, nxt
    cdef double l2 = (1.0 - l1_ratio) * alpha, l1 = l1_ratio * alpha
    cdef double wscale = 1.0, loss_sum = 0.0, eta, seen
    cdef double a = ab[0], b = ab[1]
    cdef double* p = <double*>malloc(4 * n_out * sizeof(double))
    cdef double* g = p + n_out
    cdef double* upd = g + n_out
    cdef double* rate = upd + n_out  # passive-aggressive step sizes (pa1, pa2)
    cdef double sq
    cdef floating* w
    cdef floating* qk
    if p == NULL:
        raise MemoryError()
    with nogil:
        for ii in range(m):
            i = order[ii]
            lo = indptr[i]
            hi = indptr[i + 1]
            if ii + AHEAD < m:  # the shuffled rows' values and columns, as sgd_epoch's rows
                nxt = order[ii + AHEAD]
                _prefetch_bytes(&data[0], indptr[nxt] * sizeof(floating) // 64 * 64,
                                indptr[nxt + 1] * sizeof(floating))
                _prefetch_bytes(&indices[0], indptr[nxt] * sizeof(int64_t) // 64 * 64,
                                indptr[nxt + 1] * sizeof(int64_t))
                FASTML_PREFETCH(&y[nxt])
                FASTML_PREFETCH(&sample_weight[nxt])
            eta = _eta(schedule, eta0, power_t, t0, t)
            for k in range(n_out):
                p[k] = _sparse_dot(&theta[k, 0], &indices[0], &data[0], lo, hi) * wscale \
                    + theta[k, d]
            if n_out == 1:
                loss_sum += sample_weight[i] * _loss1(loss, p[0], y[i], loss_param, g)
            else:
                loss_sum += sample_weight[i] * _row_loss(loss, p, n_out, y[i], loss_param, g)
            if schedule >= 3:  # passive-aggressive (fastml._python.sgd.pa_rate)
                sq = 0.0
                for r in range(lo, hi):
                    sq += <double>data[r] * data[r]
                if schedule == 3 and sq == 0.0:
                    continue
                for k in range(n_out):
                    rate[k] = _pa_rate(schedule, eta0,
                                       _output_loss(loss, p, n_out, y[i], loss_param, k), sq)
            if l2 > 0.0:
                wscale = _shrink_averaged(theta, avg, l2, eta, wscale, &a, &b)
            _step_sizes(schedule, rate, g, eta, sample_weight[i], n_out, upd)
            for k in range(n_out):
                if upd[k] != 0.0:
                    _sparse_axpy(upd[k] / wscale, &indices[0], &data[0], lo, hi, &theta[k, 0])
                if fit_intercept:  # (a perceptron's tie test on empty rows sees it exactly)
                    theta[k, d] += fastml_rounded(upd[k] * intercept_decay)
            if 0 < average <= t:
                seen = t - average + 1.0
                for k in range(n_out):
                    _sparse_axpy(a * (-upd[k] / wscale), &indices[0], &data[0], lo, hi,
                                 &avg[k, 0])
                _advance_mean(theta, avg, seen, wscale, &a, &b)
            if l1 > 0.0:
                u += l1 * eta
                for k in range(n_out):
                    w = &theta[k, 0]
                    qk = &q[k, 0]
                    for r in range(lo, hi):
                        _l1_truncate_one(w, qk, indices[r], u, wscale)
            t += 1.0
        if wscale != 1.0:
            _scale_coef(theta, wscale)
    free(p)
    ab[0] = a / wscale
    ab[1] = b
    return loss_sum, t, u


def sgd_epoch(const floating[:, ::1] X, const floating[::1] y, const floating[::1] sample_weight,
              const int64_t[::1] order, floating[:, ::1] theta, floating[:, ::1] q, int loss,
              double loss_param, double alpha, double l1_ratio, int schedule, double eta0,
              double power_t, double t0, bint fit_intercept, double t, double u):
    """One epoch of plain SGD (batch size 1) in place on ``theta``.

    See ``fastml._numba.sgd.sgd_epoch`` for the parameters.

    Without L1, each sample's coefficient step ``v += c x_i`` is deferred and
    fused with the next dot products: ``v . x_next`` (before the step) and
    ``x_i . x_next`` do not depend on the loss of sample i, so they run while it
    is computed, and the next margin is
    ``(v . x_next) * wscale + upd * (x_i . x_next) + intercept`` -- the oracle's
    margin up to rounding. With L1 the step is applied at once (the clipping
    needs it) and the next margin is a fresh dot product.

    The epoch is serial. When two threads are allowed
    (:func:`fastml.set_num_threads`) and its rows fill more than
    ``READ_AHEAD_MIN_BYTES``, a second thread reads the shuffled rows a little
    ahead of it (``_read_ahead``), so that fewer of the epoch's reads wait for
    memory: 1.15-1.3x faster at 200000 x 100 float64 on a 2-core host. That
    thread only reads, so the result does not depend on the threads; it spins
    while it is ahead, so it takes its core for the epoch.

    Returns
    -------
    loss_sum, t, u : float
    """
    cdef Py_ssize_t n_out = theta.shape[0], m = order.shape[0]
    cdef Py_ssize_t row_bytes = X.shape[1] * sizeof(floating)
    cdef double* p
    cdef double res[3]
    cdef Py_ssize_t progress = 0
    cdef int nt = 1
    if m == 0:
        return 0.0, t, u
    nt = read_ahead_threads(m, row_bytes)
    p = <double*>malloc(5 * n_out * sizeof(double))
    if p == NULL:
        raise MemoryError()
    res[0] = 0.0
    res[1] = t
    res[2] = u
    with nogil:
        if nt == 1:
            _plain_epoch(X, y, sample_weight, order, theta, q, loss, loss_param, alpha, l1_ratio,
                         schedule, eta0, power_t, t0, fit_intercept, p, res, NULL)
        else:
            with parallel(num_threads=nt):
                # With fewer threads than asked (nested regions), thread 0 alone.
                if threadid() == 0:
                    _plain_epoch(X, y, sample_weight, order, theta, q, loss, loss_param, alpha,
                                 l1_ratio, schedule, eta0, power_t, t0, fit_intercept, p, res,
                                 &progress)
                else:
                    _read_ahead(<const char*>&X[0, 0], row_bytes, &order[0], m, &progress)
    free(p)
    return res[0], res[1], res[2]


def read_ahead_threads(Py_ssize_t n_rows, Py_ssize_t row_bytes):
    """Threads ``sgd_epoch`` runs on for ``n_rows`` rows of ``row_bytes`` bytes:
    2 (the epoch and its read-ahead thread) when :func:`fastml.get_num_threads`
    allows and the rows fill more than ``READ_AHEAD_MIN_BYTES``, else 1."""
    if n_rows * row_bytes < READ_AHEAD_MIN_BYTES:
        return 1
    return clamp_threads(threads_for(n_rows * row_bytes), 2)


cdef void _plain_epoch(const floating[:, ::1] X, const floating[::1] y,
                       const floating[::1] sample_weight, const int64_t[::1] order,
                       floating[:, ::1] theta, floating[:, ::1] q, int loss, double loss_param,
                       double alpha, double l1_ratio, int schedule, double eta0, double power_t,
                       double t0, bint fit_intercept, double* p, double* res,
                       Py_ssize_t* progress) noexcept nogil:
    """``sgd_epoch``'s loop over ``m >= 1`` rows. ``p``: scratch of 5 n_out doubles;
    ``res``: (loss_sum, t, u), t and u read on entry; ``progress`` (or NULL): the
    rows done so far, for ``_read_ahead``, and ``m`` at the end."""
    cdef Py_ssize_t n_out = theta.shape[0], d = X.shape[1], m = order.shape[0]
    cdef Py_ssize_t ii, i, k, j
    cdef double l2 = (1.0 - l1_ratio) * alpha, l1 = l1_ratio * alpha
    cdef double wscale = 1.0, loss_sum = 0.0, eta, wi, upd, shrink, b = 0.0
    cdef double t = res[1], u = res[2]
    cdef double* g = p + n_out  # d loss / d p
    cdef double* c = g + n_out  # pending step of the coefficients along the previous row
    cdef double* a = c + n_out  # v . (next row), before that step
    cdef double* rate = a + n_out  # passive-aggressive step sizes (pa1, pa2)
    cdef double sq
    cdef bint skip
    cdef const floating* xi
    cdef const floating* xn
    cdef const floating* xp
    cdef const floating* pf
    cdef floating* w
    cdef bint unit_weights = True
    cdef Py_ssize_t nbytes = d * sizeof(floating), half = nbytes // 128 * 64
    for j in range(sample_weight.shape[0]):
        if sample_weight[j] != 1.0:
            unit_weights = False
            break
    if n_out == 1 and l1 == 0.0 and schedule < 3:
        _single_output_epoch(X, y, sample_weight, order, theta, loss, loss_param, l2, schedule,
                             eta0, power_t, t0, fit_intercept, unit_weights, res, progress)
        return
    xi = &X[order[0], 0]
    xp = xi
    for k in range(n_out):
        c[k] = 0.0
        a[k] = 0.0
        p[k] = _dot(&theta[k, 0], xi, d) + theta[k, d]
    for ii in range(m):
        i = order[ii]
        if progress != NULL and (ii & 31) == 0:
            fastml_progress_set(progress, ii)
        xn = &X[order[ii + 1], 0] if ii + 1 < m else xi
        eta = _eta(schedule, eta0, power_t, t0, t)
        wi = 1.0 if unit_weights else sample_weight[i]
        if n_out == 1 and loss == 4:  # inlined (gcc does not inline all of _loss1)
            loss_sum += wi * _log_loss(p[0], y[i], g)
        elif n_out == 1:
            loss_sum += wi * _loss1(loss, p[0], y[i], loss_param, g)
        else:
            loss_sum += wi * _row_loss(loss, p, n_out, y[i], loss_param, g)
        skip = False  # PA-I passes over a zero row: no step, no decay, t unchanged
        if schedule >= 3:
            sq = _dot(xi, xi, d)
            skip = schedule == 3 and sq == 0.0
            for k in range(n_out):
                rate[k] = 0.0 if skip else _pa_rate(
                    schedule, eta0, _output_loss(loss, p, n_out, y[i], loss_param, k), sq)
        # The sample AHEAD on: its row half here and half at the end of the iteration
        # (measured ~10% faster than all at once at the top or the end: fewer
        # prefetches waiting for a miss buffer at a time, it seems), its y and weight
        # (random reads too; unit weights are not read at all).
        pf = _prefetch_sample(X, y, sample_weight, order, ii + AHEAD, half, unit_weights)
        if l1 == 0.0:
            a[0] = _step_dots(&theta[0, 0], c[0], xp, xi, xn, d, &b)
            for k in range(1, n_out):
                a[k] = _step_dot(&theta[k, 0], c[k], xp, xn, d)
        if l2 > 0.0 and not skip:
            shrink = 1.0 - l2 * eta
            wscale *= shrink if shrink > 0.0 else 0.0
            if wscale < 1e-9:
                for k in range(n_out):
                    w = &theta[k, 0]
                    for j in range(d):
                        w[j] = w[j] * wscale
                    a[k] *= wscale
                wscale = 1.0
        for k in range(n_out):
            if schedule >= 3:
                upd = -rate[k] * g[k] * wi
            else:
                upd = -eta * _clip(g[k]) * wi
            c[k] = upd / wscale
            if fit_intercept:
                theta[k, d] += upd
            p[k] = a[k] * wscale + upd * b + theta[k, d]
        if l1 > 0.0:
            for k in range(n_out):
                if c[k] != 0.0:
                    _axpy(c[k], xi, &theta[k, 0], d)
                    c[k] = 0.0
            if not skip:
                u += l1 * eta
            for k in range(n_out):
                if not skip:
                    _l1_truncate(&theta[k, 0], &q[k, 0], u, wscale, d)
                p[k] = _dot(&theta[k, 0], xn, d) * wscale + theta[k, d]
        if pf != NULL:
            _prefetch_bytes(pf, half, nbytes)
        xp = xi
        xi = xn
        if not skip:
            t += 1.0
    for k in range(n_out):
        w = &theta[k, 0]
        if c[k] != 0.0:
            _axpy(c[k], xp, w, d)
        if wscale != 1.0:
            for j in range(d):
                w[j] = w[j] * wscale
    res[0] = loss_sum
    res[1] = t
    res[2] = u
    if progress != NULL:
        fastml_progress_set(progress, m)


cdef void _single_output_epoch(const floating[:, ::1] X, const floating[::1] y,
                              const floating[::1] sample_weight, const int64_t[::1] order,
                              floating[:, ::1] theta, int loss, double loss_param, double l2,
                              int schedule, double eta0, double power_t, double t0,
                              bint fit_intercept, bint unit_weights, double* res,
                              Py_ssize_t* progress) noexcept nogil:
    """``_plain_epoch`` for one output without L1 and with a learning-rate
    schedule (not passive-aggressive): the same operations in the same order
    (results agree to rounding: this module is built with -fassociative-math,
    and GCC fuses multiply-adds as it sees fit), with the margin, the
    pending step and the intercept in
    local variables rather than the scratch arrays and theta, so that the
    chain from one sample's margin to the next's (the loss, its derivative,
    the step) does not pass through memory."""
    cdef Py_ssize_t d = X.shape[1], m = order.shape[0]
    cdef Py_ssize_t ii, i, j
    cdef double wscale = 1.0, loss_sum = 0.0, eta, wi, upd, shrink, b = 0.0, g = 0.0
    cdef double t = res[1], c = 0.0, a, p
    cdef floating intercept = theta[0, d]  # rounded to theta's dtype per step, as theta[0, d]
    cdef const floating* xi
    cdef const floating* xn
    cdef const floating* xp
    cdef const floating* pf
    cdef floating* w = &theta[0, 0]
    cdef Py_ssize_t nbytes = d * sizeof(floating), half = nbytes // 128 * 64
    xi = &X[order[0], 0]
    xp = xi
    p = _dot(w, xi, d) + intercept
    for ii in range(m):
        i = order[ii]
        if progress != NULL and (ii & 31) == 0:
            fastml_progress_set(progress, ii)
        xn = &X[order[ii + 1], 0] if ii + 1 < m else xi
        eta = _eta(schedule, eta0, power_t, t0, t)
        wi = 1.0 if unit_weights else sample_weight[i]
        if loss == 4:
            loss_sum += wi * _log_loss(p, y[i], &g)
        else:
            loss_sum += wi * _loss1(loss, p, y[i], loss_param, &g)
        pf = _prefetch_sample(X, y, sample_weight, order, ii + AHEAD, half, unit_weights)
        a = _step_dots(w, c, xp, xi, xn, d, &b)
        if l2 > 0.0:
            shrink = 1.0 - l2 * eta
            wscale *= shrink if shrink > 0.0 else 0.0
            if wscale < 1e-9:
                for j in range(d):
                    w[j] = w[j] * wscale
                a *= wscale
                wscale = 1.0
        upd = -eta * _clip(g) * wi
        c = upd / wscale
        if fit_intercept:
            intercept += upd
        p = a * wscale + upd * b + intercept
        if pf != NULL:
            _prefetch_bytes(pf, half, nbytes)
        xp = xi
        xi = xn
        t += 1.0
    if c != 0.0:
        _axpy(c, xp, w, d)
    if wscale != 1.0:
        for j in range(d):
            w[j] = w[j] * wscale
    theta[0, d] = intercept
    res[0] = loss_sum
    res[1] = t
    if progress != NULL:
        fastml_progress_set(progress, m)


cdef void _read_ahead(const char* X, Py_ssize_t row_bytes, const int64_t* order, Py_ssize_t m,
                      Py_ssize_t* progress) noexcept nogil:
    """Load the rows ``order[k]`` up to ``READ_AHEAD_BYTES`` ahead of an epoch
    that reports in ``progress`` the rows it has done, until it reports ``m``.

    Run on a second core, it leaves the rows in that core's cache, from which
    the epoch's core gets them sooner than from memory. It reads X and writes
    nothing, so it cannot change a result.
    """
    cdef Py_ssize_t lead = max(READ_AHEAD_BYTES // row_bytes, 16)
    cdef Py_ssize_t k = 0, done, end
    while True:
        done = fastml_progress_get(progress)
        if done >= m:
            break
        if k < done:
            k = done  # fell behind: the rows the epoch has read are of no use
        if k < done + lead // 2:
            end = min(done + lead, m)
            while k < end:
                fastml_touch(X + order[k] * row_bytes, row_bytes)
                k += 1
        else:
            fastml_cpu_relax()


cdef inline void _dot4(const floating* w, const floating* x0, const floating* x1,
                       const floating* x2, const floating* x3, Py_ssize_t n,
                       double* s) noexcept nogil:
    """``s[r] = w . x_r`` for 4 rows in one pass over ``w`` (four independent sums)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef floating wj
    cdef Py_ssize_t j
    for j in range(n):
        wj = w[j]
        s0 += wj * x0[j]
        s1 += wj * x1[j]
        s2 += wj * x2[j]
        s3 += wj * x3[j]
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3


cdef inline void _axpy4(double* gk, const double* c, const floating* x0, const floating* x1,
                        const floating* x2, const floating* x3, Py_ssize_t n) noexcept nogil:
    """``gk[:n] += c[0] x0 + ... + c[3] x3`` and ``gk[n] += sum(c)`` (one pass over gk)."""
    cdef double c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3]
    cdef Py_ssize_t j
    for j in range(n):
        gk[j] += c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j]
    gk[n] += (c0 + c1) + (c2 + c3)


cdef double _block_grad(const floating[:, ::1] X, const floating[::1] y, const floating[::1] sw,
                        const int64_t[::1] order, Py_ssize_t lo, Py_ssize_t hi,
                        floating[:, ::1] theta, int loss, double e, double* G,
                        double* p) noexcept nogil:
    """Sum over rows order[lo:hi] of ``sw * dloss * [x, 1]`` into G (n_out x (d+1));
    returns sum sw*loss. ``p`` is scratch of ``SCRATCH * n_out`` doubles.

    Rows go in groups of ``GROUP`` (4): the group's margins in one pass over each
    output's coefficients (each coefficient loaded once for 4 rows, 4 independent
    sums), their losses, then one pass over each gradient row adding the 4 rows'
    contributions (G loaded and stored once per group, the rows still in L1). The
    ``hi - lo`` mod 4 last rows go one at a time. Each row's loss comes with the
    prefetch of the row ``AHEAD`` (two groups) on, also when ``order`` is contiguous
    (see fastml/_numba/sgd.py's _block_grad for why and the measurements).
    """
    cdef Py_ssize_t n_out = theta.shape[0], d = X.shape[1], d1 = d + 1
    cdef Py_ssize_t ii, i, k, j, r
    cdef double* g = p + n_out
    cdef double* P = g + n_out  # margins of a group's rows (GROUP x n_out)
    cdef double* C = P + GROUP * n_out  # their sw * dloss (n_out x GROUP)
    cdef double* ck
    cdef double total = 0.0, wi, c, b
    cdef const floating* xi
    cdef const floating* x[4]
    cdef double s4[4]
    cdef double* Gk
    for j in range(n_out * d1):
        G[j] = 0.0
    ii = lo
    while ii + GROUP <= hi:
        for r in range(GROUP):
            x[r] = &X[order[ii + r], 0]
        for k in range(n_out):
            _dot4(&theta[k, 0], x[0], x[1], x[2], x[3], d, s4)
            b = theta[k, d]
            for r in range(GROUP):
                P[r * n_out + k] = s4[r] + b
        for r in range(GROUP):
            if ii + AHEAD + r < hi:
                _prefetch_row(&X[order[ii + AHEAD + r], 0], d * sizeof(floating))
            i = order[ii + r]
            wi = sw[i]
            if n_out == 1 and loss == 4:  # inlined (gcc does not inline all of _loss1)
                total += wi * _log_loss(P[r], y[i], g)
            else:
                total += wi * _row_loss(loss, P + r * n_out, n_out, y[i], e, g)
            for k in range(n_out):
                C[k * GROUP + r] = wi * _clip(g[k])
        for k in range(n_out):
            ck = C + k * GROUP
            if ck[0] != 0.0 or ck[1] != 0.0 or ck[2] != 0.0 or ck[3] != 0.0:
                _axpy4(G + k * d1, ck, x[0], x[1], x[2], x[3], d)
        ii += GROUP
    while ii < hi:
        i = order[ii]
        xi = &X[i, 0]
        for k in range(n_out):
            p[k] = _dot(&theta[k, 0], xi, d) + theta[k, d]
        wi = sw[i]
        total += wi * _row_loss(loss, p, n_out, y[i], e, g)
        for k in range(n_out):
            c = wi * _clip(g[k])
            if c != 0.0:
                Gk = G + k * d1
                for j in range(d):
                    Gk[j] += c * xi[j]
                Gk[d] += c
        ii += 1
    return total


cdef void _apply_step(floating[:, ::1] theta, const double* G, floating[:, :, ::1] state,
                      int optimizer, double lr, const double[::1] hyper, double t,
                      bint fit_intercept, double l1) noexcept nogil:
    """Optimizer step along G (Keras semantics), then the L1 proximal step."""
    cdef Py_ssize_t n_out = theta.shape[0], d1 = theta.shape[1]
    cdef Py_ssize_t last = d1 if fit_intercept else d1 - 1
    cdef Py_ssize_t k, j
    cdef double momentum = hyper[0], beta1 = hyper[1], beta2 = hyper[2], eps = hyper[3]
    cdef double rho = hyper[4], alpha_t = 0.0, gk, v, a, mm, w, shrink
    if optimizer == 5:
        alpha_t = lr * sqrt(1.0 - pow(beta2, t)) / (1.0 - pow(beta1, t))
    for k in range(n_out):
        for j in range(last):
            gk = G[k * d1 + j]
            if optimizer == 0:
                theta[k, j] -= lr * gk
            elif optimizer == 1 or optimizer == 2:
                v = momentum * state[0, k, j] - lr * gk
                state[0, k, j] = v
                if optimizer == 1:
                    theta[k, j] += v
                else:
                    theta[k, j] += momentum * v - lr * gk
            elif optimizer == 3:
                a = state[0, k, j] + gk * gk
                state[0, k, j] = a
                theta[k, j] -= lr * gk / (sqrt(a) + eps)
            elif optimizer == 4:
                a = rho * state[0, k, j] + (1.0 - rho) * gk * gk
                state[0, k, j] = a
                theta[k, j] -= lr * gk / (sqrt(a) + eps)
            else:
                mm = state[0, k, j] + (gk - state[0, k, j]) * (1.0 - beta1)
                v = state[1, k, j] + (gk * gk - state[1, k, j]) * (1.0 - beta2)
                state[0, k, j] = mm
                state[1, k, j] = v
                theta[k, j] -= alpha_t * mm / (sqrt(v) + eps)
    if l1 > 0.0:
        shrink = lr * l1
        for k in range(n_out):
            for j in range(d1 - 1):
                w = theta[k, j]
                if w > shrink:
                    theta[k, j] = w - shrink
                elif w < -shrink:
                    theta[k, j] = w + shrink
                else:
                    theta[k, j] = 0.0


def minibatch_epoch(const floating[:, ::1] X, const floating[::1] y,
                    const floating[::1] sample_weight, const int64_t[::1] order,
                    floating[:, ::1] theta, floating[:, :, ::1] state, int loss,
                    double loss_param, double alpha, double l1_ratio, int optimizer,
                    int schedule, double eta0, double power_t, double t0,
                    const double[::1] hyper, Py_ssize_t batch_size, bint fit_intercept,
                    double t):
    """One epoch of mini-batch (or one full-batch) steps in place on ``theta``.

    See ``fastml._numba.sgd.minibatch_epoch`` for the parameters.

    Returns
    -------
    loss_sum, grad_max, t : float
    """
    cdef Py_ssize_t n_out = theta.shape[0], d1 = theta.shape[1], d = d1 - 1
    cdef Py_ssize_t m = order.shape[0]
    cdef Py_ssize_t bs = max(1, min(batch_size, m))
    cdef Py_ssize_t nb_max = (bs + BLOCK - 1) // BLOCK, gsz = n_out * d1
    cdef Py_ssize_t start, end, nblk, b, k, j, lo, hi, idx
    cdef double l2 = (1.0 - l1_ratio) * alpha, l1 = l1_ratio * alpha
    cdef double loss_sum = 0.0, gmax = 0.0, inv, s, lr
    cdef int nt = clamp_threads(threads_for(bs * X.shape[1] * n_out), nb_max)
    cdef double* partial = <double*>malloc(nb_max * gsz * sizeof(double))
    cdef double* part_loss = <double*>malloc(nb_max * sizeof(double))
    cdef double* G = <double*>malloc(gsz * sizeof(double))
    cdef double* scratch = <double*>malloc(nb_max * SCRATCH * n_out * sizeof(double))
    if partial == NULL or part_loss == NULL or G == NULL or scratch == NULL:
        free(partial)
        free(part_loss)
        free(G)
        free(scratch)
        raise MemoryError()
    with nogil:
        start = 0
        while start < m:
            end = min(start + bs, m)
            nblk = (end - start + BLOCK - 1) // BLOCK
            if nblk == 1:
                part_loss[0] = _block_grad(X, y, sample_weight, order, start, end, theta, loss,
                                           loss_param, partial, scratch)
            else:
                for b in prange(nblk, num_threads=nt, schedule="static"):
                    lo = start + b * BLOCK
                    hi = min(lo + BLOCK, end)
                    part_loss[b] = _block_grad(X, y, sample_weight, order, lo, hi, theta, loss,
                                               loss_param, partial + b * gsz,
                                               scratch + b * SCRATCH * n_out)
            inv = 1.0 / (end - start)
            gmax = 0.0
            for k in range(n_out):
                for j in range(d1):
                    idx = k * d1 + j
                    s = partial[idx]
                    for b in range(1, nblk):
                        s = s + partial[b * gsz + idx]
                    s = s * inv
                    if j < d:
                        s = s + l2 * theta[k, j]
                    elif not fit_intercept:
                        s = 0.0
                    G[idx] = s
                    if fabs(s) > gmax:
                        gmax = fabs(s)
            for b in range(nblk):
                loss_sum += part_loss[b]
            lr = _eta(schedule, eta0, power_t, t0, t)
            _apply_step(theta, G, state, optimizer, lr, hyper, t, fit_intercept, l1)
            t += 1.0
            start = end
    free(partial)
    free(part_loss)
    free(G)
    free(scratch)
    return loss_sum, gmax, t


def loss_grad(int code, P, y, double loss_param):
    """Per-row loss (summed over outputs) and d loss / d P, with the kernels' code.

    Parameters
    ----------
    P : ndarray of shape (n, n_out)
    y : ndarray of shape (n,) (kernel encoding)

    Returns
    -------
    loss : ndarray of shape (n,); grad : ndarray of shape (n, n_out)
    """
    cdef double[:, ::1] Pv = np.ascontiguousarray(P, dtype=np.float64)
    cdef double[::1] yv = np.ascontiguousarray(y, dtype=np.float64)
    L = np.empty(Pv.shape[0])
    Gr = np.empty((Pv.shape[0], Pv.shape[1]))
    cdef double[::1] Lv = L
    cdef double[:, ::1] Gv = Gr
    cdef Py_ssize_t i
    for i in range(Pv.shape[0]):
        Lv[i] = _row_loss(code, &Pv[i, 0], Pv.shape[1], yv[i], loss_param, &Gv[i, 0])
    return L, Gr

