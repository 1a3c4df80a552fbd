"""Cython distance kernels: ``cdist`` and ``pdist`` for every kernel metric.

Same names, signatures and semantics as ``fastml._python.distance`` (the
oracle), ``fastml._numpy.distance`` and ``fastml._numba.distance``; see
:mod:`fastml._metrics` for the kernel metrics. ``fastml._cython.distance``
is a shim that imports the CPU variant of this module built for the machine
(``_distance_baseline`` or ``_distance_v3``, see :mod:`fastml._cython`).

How it is fast
--------------
* The output is cut into tiles of ``BI`` rows of XA x ``BJ`` rows of XB
  (``BJ`` rows of XB fill about 256 KiB, so they stay in L2); the tiles run
  in parallel under OpenMP (``prange``, dynamic schedule, thread count from
  :func:`fastml.get_num_threads` at each call). Every output element is
  computed by one thread in a fixed order, so results do not depend on the
  thread count. ``pdist`` visits only tiles that hold pairs ``i < j``.
* Inside a tile, a register block of 2 rows of XA x 4 rows of XB runs
  over the features ``k`` with 8 independent scalar sums. Compiled with
  ``-fassociative-math -fno-signed-zeros`` (no ``-ffinite-math-only``, so NaN
  and inf keep their meaning), GCC/Clang vectorise each sum over ``k``
  (4 doubles or 8 floats per AVX2 register in the ``v3`` build).
* chebyshev takes its maximum over the IEEE bit patterns of ``|a - b|``,
  which order like integers for non-negative values, so the compiler can
  vectorise it; NaN differences are mapped to 0 first, i.e. skipped, as in
  the oracle (``if t > m: m = t``).
* minkowski with p = 3, 4, 0.5 or 1.5 uses products and ``sqrt`` instead of
  ``pow`` in the inner loop; any other p calls ``pow`` per term.
* cosine precomputes the row norms (in float64) and reduces only ``a . b``.
* mahalanobis evaluates the quadratic form ``d^T VI d`` of ``d = a - b``
  directly, in float64, for any (even indefinite) VI: O(n^2) per pair.

Precision
---------
float64 input: sums are float64; vectorisation splits each sum into a few
interleaved partial sums, so results differ from the oracle's sequential
sums by a few ulp times the number of terms at most.
float32 input: the inner loops run in float32 (twice the SIMD width), but
over blocks of at most 256 features; each block's partial sum is added to a
float64 total, and the final formula (sqrt, ratio, power) is evaluated in
float64 before rounding to float32. The relative error therefore stays near
1e-6 however long the vectors are. Row norms (cosine) and mahalanobis are
computed entirely in float64. One float32 difference: a square or power
that overflows float32 inside a block gives inf (the oracle computes in
float64), e.g. euclidean of points 1e20 apart.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, cbrt, fabs, fabsf, pow, sqrt, sqrtf
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc

from _common cimport FASTML_COMPILE_ARGS, bits32, bits64, clamp_threads, from_bits32, from_bits64

from fastml._config import threads_for

__all__ = ["cdist", "pdist"]

_compile_args = FASTML_COMPILE_ARGS.decode()

cdef enum:
    SQEUCLIDEAN
    EUCLIDEAN
    CITYBLOCK
    CHEBYSHEV
    MINKOWSKI
    COSINE
    CANBERRA
    BRAYCURTIS
    HAMMING
    JACCARD
    MAHALANOBIS

# minkowski: how |t|**p is evaluated in the inner loop
cdef enum:
    POW_GENERAL
    POW_3
    POW_4
    POW_HALF
    POW_ONE_HALF

_METRIC_CODES = {
    "sqeuclidean": SQEUCLIDEAN,
    "euclidean": EUCLIDEAN,
    "cityblock": CITYBLOCK,
    "chebyshev": CHEBYSHEV,
    "minkowski": MINKOWSKI,
    "cosine": COSINE,
    "canberra": CANBERRA,
    "braycurtis": BRAYCURTIS,
    "hamming": HAMMING,
    "jaccard": JACCARD,
    "mahalanobis": MAHALANOBIS,
}

# Rows of XA per tile (a multiple of the register block's 2 rows).
cdef Py_ssize_t TILE_ROWS_A = 32
# Bytes of XB rows per tile (L2-resident), and the XB row limits of a tile.
cdef Py_ssize_t TILE_BYTES_B = 256 * 1024
cdef Py_ssize_t TILE_MIN_B = 4
cdef Py_ssize_t TILE_MAX_B = 1024
# float32 sums run over blocks of at most this many features (see docstring).
cdef Py_ssize_t FLOAT32_BLOCK = 256

cdef int64_t INF_BITS64 = 0x7FF0000000000000
cdef int32_t INF_BITS32 = 0x7F800000


ctypedef struct Job:
    Py_ssize_t mA           # rows of XA (the rows of X for pdist)
    Py_ssize_t mB           # rows of XB
    Py_ssize_t n            # features
    Py_ssize_t BI, BJ       # tile size in rows of XA and of XB
    Py_ssize_t n_tiles_b    # tiles along XB
    Py_ssize_t kblock       # features per partial sum
    int metric
    int is_pdist
    int pow_case
    double p, inv_p
    const double* norm_a    # cosine: sqrt(a . a) per row of XA
    const double* norm_b


# ----------------------------------------------------------------------------
# Scalar helpers (fused, so float32 stays float32 and vectorises 8-wide)
# ----------------------------------------------------------------------------

cdef inline floating _abs(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


# ----------------------------------------------------------------------------
# Register-block micro-kernels: rows a0, a1 of XA against rows b0..b3 of XB,
# over features k0 <= k < k1. r[4*i + j] += the partial sum of pair (ai, bj).
# ----------------------------------------------------------------------------

cdef inline void _mk_sqeuclidean(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3, t
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        t = x0 - y0
        s00 += t * t
        t = x0 - y1
        s01 += t * t
        t = x0 - y2
        s02 += t * t
        t = x0 - y3
        s03 += t * t
        t = x1 - y0
        s10 += t * t
        t = x1 - y1
        s11 += t * t
        t = x1 - y2
        s12 += t * t
        t = x1 - y3
        s13 += t * t
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline void _mk_cityblock(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += _abs(x0 - y0)
        s01 += _abs(x0 - y1)
        s02 += _abs(x0 - y2)
        s03 += _abs(x0 - y3)
        s10 += _abs(x1 - y0)
        s11 += _abs(x1 - y1)
        s12 += _abs(x1 - y2)
        s13 += _abs(x1 - y3)
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline void _mk_dot(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += x0 * y0
        s01 += x0 * y1
        s02 += x0 * y2
        s03 += x0 * y3
        s10 += x1 * y0
        s11 += x1 * y1
        s12 += x1 * y2
        s13 += x1 * y3
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline floating _pow3(floating t) noexcept nogil:
    t = _abs(t)
    return t * t * t


cdef inline floating _pow4(floating t) noexcept nogil:
    t = t * t
    return t * t


cdef inline floating _pow_half(floating t) noexcept nogil:
    return _sqrt(_abs(t))


cdef inline floating _pow_one_half(floating t) noexcept nogil:
    t = _abs(t)
    return t * _sqrt(t)


# One micro-kernel per special p: the power is inlined into the inner loop.
cdef inline void _mk_pow3(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += _pow3(x0 - y0)
        s01 += _pow3(x0 - y1)
        s02 += _pow3(x0 - y2)
        s03 += _pow3(x0 - y3)
        s10 += _pow3(x1 - y0)
        s11 += _pow3(x1 - y1)
        s12 += _pow3(x1 - y2)
        s13 += _pow3(x1 - y3)
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline void _mk_pow4(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += _pow4(x0 - y0)
        s01 += _pow4(x0 - y1)
        s02 += _pow4(x0 - y2)
        s03 += _pow4(x0 - y3)
        s10 += _pow4(x1 - y0)
        s11 += _pow4(x1 - y1)
        s12 += _pow4(x1 - y2)
        s13 += _pow4(x1 - y3)
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline void _mk_pow_half(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += _pow_half(x0 - y0)
        s01 += _pow_half(x0 - y1)
        s02 += _pow_half(x0 - y2)
        s03 += _pow_half(x0 - y3)
        s10 += _pow_half(x1 - y0)
        s11 += _pow_half(x1 - y1)
        s12 += _pow_half(x1 - y2)
        s13 += _pow_half(x1 - y3)
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline void _mk_pow_one_half(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += _pow_one_half(x0 - y0)
        s01 += _pow_one_half(x0 - y1)
        s02 += _pow_one_half(x0 - y2)
        s03 += _pow_one_half(x0 - y3)
        s10 += _pow_one_half(x1 - y0)
        s11 += _pow_one_half(x1 - y1)
        s12 += _pow_one_half(x1 - y2)
        s13 += _pow_one_half(x1 - y3)
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline double _pow_general_pair(
    const floating* a, const floating* b, Py_ssize_t k0, Py_ssize_t k1, double p
) noexcept nogil:
    cdef double s = 0
    cdef Py_ssize_t k
    for k in range(k0, k1):
        s += pow(fabs(<double>a[k] - <double>b[k]), p)
    return s


cdef inline void _mk_canberra(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    const floating* w, Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    # A term with |a| + |b| == 0 counts as 0; a NaN term propagates (den != 0).
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3, ax0, ax1, ay0, ay1, ay2, ay3, wk, den
    cdef floating zero = 0
    cdef Py_ssize_t k
    for k in range(k0, k1):
        wk = w[k]
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        ax0 = _abs(x0)
        ax1 = _abs(x1)
        ay0 = _abs(y0)
        ay1 = _abs(y1)
        ay2 = _abs(y2)
        ay3 = _abs(y3)
        den = ax0 + ay0
        s00 += (wk * _abs(x0 - y0) / den) if den != 0 else zero
        den = ax0 + ay1
        s01 += (wk * _abs(x0 - y1) / den) if den != 0 else zero
        den = ax0 + ay2
        s02 += (wk * _abs(x0 - y2) / den) if den != 0 else zero
        den = ax0 + ay3
        s03 += (wk * _abs(x0 - y3) / den) if den != 0 else zero
        den = ax1 + ay0
        s10 += (wk * _abs(x1 - y0) / den) if den != 0 else zero
        den = ax1 + ay1
        s11 += (wk * _abs(x1 - y1) / den) if den != 0 else zero
        den = ax1 + ay2
        s12 += (wk * _abs(x1 - y2) / den) if den != 0 else zero
        den = ax1 + ay3
        s13 += (wk * _abs(x1 - y3) / den) if den != 0 else zero
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


cdef inline void _mk_hamming(
    const floating* a0, const floating* a1,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    const floating* w, Py_ssize_t k0, Py_ssize_t k1, double* r,
) noexcept nogil:
    # NaN != NaN, so a NaN feature counts as a mismatch, as in the oracle.
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating x0, x1, y0, y1, y2, y3, wk
    cdef floating zero = 0
    cdef Py_ssize_t k
    for k in range(k0, k1):
        wk = w[k]
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        s00 += wk if x0 != y0 else zero
        s01 += wk if x0 != y1 else zero
        s02 += wk if x0 != y2 else zero
        s03 += wk if x0 != y3 else zero
        s10 += wk if x1 != y0 else zero
        s11 += wk if x1 != y1 else zero
        s12 += wk if x1 != y2 else zero
        s13 += wk if x1 != y3 else zero
    r[0] += s00; r[1] += s01; r[2] += s02; r[3] += s03
    r[4] += s10; r[5] += s11; r[6] += s12; r[7] += s13


# Two sums per pair: one row of XA against 4 rows of XB (8 accumulators).
cdef inline void _mk_braycurtis(
    const floating* a, const floating* b0, const floating* b1, const floating* b2,
    const floating* b3, Py_ssize_t k0, Py_ssize_t k1, double* num, double* den,
) noexcept nogil:
    cdef floating n0 = 0, n1 = 0, n2 = 0, n3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0
    cdef floating x, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        x = a[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        n0 += _abs(x - y0)
        n1 += _abs(x - y1)
        n2 += _abs(x - y2)
        n3 += _abs(x - y3)
        d0 += _abs(x + y0)
        d1 += _abs(x + y1)
        d2 += _abs(x + y2)
        d3 += _abs(x + y3)
    num[0] += n0; num[1] += n1; num[2] += n2; num[3] += n3
    den[0] += d0; den[1] += d1; den[2] += d2; den[3] += d3


cdef inline void _mk_jaccard(
    const floating* a, const floating* b0, const floating* b1, const floating* b2,
    const floating* b3, const floating* w, Py_ssize_t k0, Py_ssize_t k1,
    double* num, double* den,
) noexcept nogil:
    # den sums w over features where a or b is nonzero (NaN counts as nonzero),
    # num over those where exactly one of them is.
    cdef floating n0 = 0, n1 = 0, n2 = 0, n3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0
    cdef floating wk
    cdef floating zero = 0
    cdef int nx, ny0, ny1, ny2, ny3
    cdef Py_ssize_t k
    for k in range(k0, k1):
        wk = w[k]
        nx = a[k] != 0
        ny0 = b0[k] != 0
        ny1 = b1[k] != 0
        ny2 = b2[k] != 0
        ny3 = b3[k] != 0
        d0 += wk if (nx | ny0) else zero
        d1 += wk if (nx | ny1) else zero
        d2 += wk if (nx | ny2) else zero
        d3 += wk if (nx | ny3) else zero
        n0 += wk if (nx ^ ny0) else zero
        n1 += wk if (nx ^ ny1) else zero
        n2 += wk if (nx ^ ny2) else zero
        n3 += wk if (nx ^ ny3) else zero
    num[0] += n0; num[1] += n1; num[2] += n2; num[3] += n3
    den[0] += d0; den[1] += d1; den[2] += d2; den[3] += d3


# chebyshev: max of |a - b| over k, on IEEE bit patterns (non-negative values
# order like their bit patterns read as integers); NaN (bits above inf's) -> 0.
cdef inline void _mk_chebyshev64(
    const double* a0, const double* a1,
    const double* b0, const double* b1, const double* b2, const double* b3,
    Py_ssize_t n, double* r,
) noexcept nogil:
    cdef int64_t m00 = 0, m01 = 0, m02 = 0, m03 = 0, m10 = 0, m11 = 0, m12 = 0, m13 = 0
    cdef int64_t u
    cdef double x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(n):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        u = bits64(fabs(x0 - y0))
        u = u if u <= INF_BITS64 else 0
        m00 = u if u > m00 else m00
        u = bits64(fabs(x0 - y1))
        u = u if u <= INF_BITS64 else 0
        m01 = u if u > m01 else m01
        u = bits64(fabs(x0 - y2))
        u = u if u <= INF_BITS64 else 0
        m02 = u if u > m02 else m02
        u = bits64(fabs(x0 - y3))
        u = u if u <= INF_BITS64 else 0
        m03 = u if u > m03 else m03
        u = bits64(fabs(x1 - y0))
        u = u if u <= INF_BITS64 else 0
        m10 = u if u > m10 else m10
        u = bits64(fabs(x1 - y1))
        u = u if u <= INF_BITS64 else 0
        m11 = u if u > m11 else m11
        u = bits64(fabs(x1 - y2))
        u = u if u <= INF_BITS64 else 0
        m12 = u if u > m12 else m12
        u = bits64(fabs(x1 - y3))
        u = u if u <= INF_BITS64 else 0
        m13 = u if u > m13 else m13
    r[0] = from_bits64(m00); r[1] = from_bits64(m01)
    r[2] = from_bits64(m02); r[3] = from_bits64(m03)
    r[4] = from_bits64(m10); r[5] = from_bits64(m11)
    r[6] = from_bits64(m12); r[7] = from_bits64(m13)


cdef inline void _mk_chebyshev32(
    const float* a0, const float* a1,
    const float* b0, const float* b1, const float* b2, const float* b3,
    Py_ssize_t n, double* r,
) noexcept nogil:
    cdef int32_t m00 = 0, m01 = 0, m02 = 0, m03 = 0, m10 = 0, m11 = 0, m12 = 0, m13 = 0
    cdef int32_t u
    cdef float x0, x1, y0, y1, y2, y3
    cdef Py_ssize_t k
    for k in range(n):
        x0 = a0[k]
        x1 = a1[k]
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        u = bits32(fabsf(x0 - y0))
        u = u if u <= INF_BITS32 else 0
        m00 = u if u > m00 else m00
        u = bits32(fabsf(x0 - y1))
        u = u if u <= INF_BITS32 else 0
        m01 = u if u > m01 else m01
        u = bits32(fabsf(x0 - y2))
        u = u if u <= INF_BITS32 else 0
        m02 = u if u > m02 else m02
        u = bits32(fabsf(x0 - y3))
        u = u if u <= INF_BITS32 else 0
        m03 = u if u > m03 else m03
        u = bits32(fabsf(x1 - y0))
        u = u if u <= INF_BITS32 else 0
        m10 = u if u > m10 else m10
        u = bits32(fabsf(x1 - y1))
        u = u if u <= INF_BITS32 else 0
        m11 = u if u > m11 else m11
        u = bits32(fabsf(x1 - y2))
        u = u if u <= INF_BITS32 else 0
        m12 = u if u > m12 else m12
        u = bits32(fabsf(x1 - y3))
        u = u if u <= INF_BITS32 else 0
        m13 = u if u > m13 else m13
    r[0] = from_bits32(m00); r[1] = from_bits32(m01)
    r[2] = from_bits32(m02); r[3] = from_bits32(m03)
    r[4] = from_bits32(m10); r[5] = from_bits32(m11)
    r[6] = from_bits32(m12); r[7] = from_bits32(m13)


cdef inline double _mahalanobis_pair(
    const floating* a, const floating* b, const floating* VI, Py_ssize_t n, double* d
) noexcept nogil:
    """sqrt(d^T VI d) for d = a - b, in float64; NaN if the form is negative."""
    cdef Py_ssize_t i, j
    cdef double s = 0, t
    cdef const floating* row
    for i in range(n):
        d[i] = <double>a[i] - <double>b[i]
    for i in range(n):
        row = VI + i * n
        t = 0
        for j in range(n):
            t += <double>row[j] * d[j]
        s += d[i] * t
    return sqrt(s) if s >= 0 else NAN


cdef inline double _inv_power(double s, int pow_case, double inv_p) noexcept nogil:
    """s ** (1/p); for the special p a root (within an ulp or two of pow, and
    several times faster: one per output element adds up)."""
    if pow_case == POW_3:
        return cbrt(s)
    if pow_case == POW_4:
        return sqrt(sqrt(s))
    if pow_case == POW_HALF:
        return s * s
    if pow_case == POW_ONE_HALF:
        s = cbrt(s)
        return s * s
    return pow(s, inv_p)


# ----------------------------------------------------------------------------
# One 2 x 4 register block: distances of rows ia[0..1] of XA and jb[0..3] of XB
# ----------------------------------------------------------------------------

cdef inline void _block_values(
    const Job* job, const floating* XA, const floating* XB, const floating* w,
    const floating* VI, const Py_ssize_t* ia, const Py_ssize_t* jb, double* d,
    double* res,
) noexcept nogil:
    cdef Py_ssize_t n = job.n
    cdef int metric = job.metric
    cdef const floating* a0 = XA + ia[0] * n
    cdef const floating* a1 = XA + ia[1] * n
    cdef const floating* b0 = XB + jb[0] * n
    cdef const floating* b1 = XB + jb[1] * n
    cdef const floating* b2 = XB + jb[2] * n
    cdef const floating* b3 = XB + jb[3] * n
    cdef double acc[8]
    cdef double acc2[8]
    cdef double num, den, c
    cdef Py_ssize_t k0, k1, q
    cdef const floating* bq[4]

    if metric == CHEBYSHEV:  # a max, exact in any order: no blocks needed
        if floating is double:
            _mk_chebyshev64(a0, a1, b0, b1, b2, b3, n, res)
        else:
            _mk_chebyshev32(a0, a1, b0, b1, b2, b3, n, res)
        return
    if metric == MAHALANOBIS or (metric == MINKOWSKI and job.pow_case == POW_GENERAL):
        bq[0] = b0; bq[1] = b1; bq[2] = b2; bq[3] = b3
        for q in range(8):
            if metric == MAHALANOBIS:
                res[q] = _mahalanobis_pair(a0 if q < 4 else a1, bq[q % 4], VI, n, d)
            else:
                res[q] = pow(_pow_general_pair(a0 if q < 4 else a1, bq[q % 4], 0, n, job.p),
                             job.inv_p)
        return

    for q in range(8):
        acc[q] = 0
        acc2[q] = 0
    k0 = 0
    while k0 < n:
        k1 = k0 + job.kblock
        if k1 > n:
            k1 = n
        if metric == SQEUCLIDEAN or metric == EUCLIDEAN:
            _mk_sqeuclidean(a0, a1, b0, b1, b2, b3, k0, k1, acc)
        elif metric == CITYBLOCK:
            _mk_cityblock(a0, a1, b0, b1, b2, b3, k0, k1, acc)
        elif metric == COSINE:
            _mk_dot(a0, a1, b0, b1, b2, b3, k0, k1, acc)
        elif metric == MINKOWSKI:
            if job.pow_case == POW_3:
                _mk_pow3(a0, a1, b0, b1, b2, b3, k0, k1, acc)
            elif job.pow_case == POW_4:
                _mk_pow4(a0, a1, b0, b1, b2, b3, k0, k1, acc)
            elif job.pow_case == POW_HALF:
                _mk_pow_half(a0, a1, b0, b1, b2, b3, k0, k1, acc)
            else:
                _mk_pow_one_half(a0, a1, b0, b1, b2, b3, k0, k1, acc)
        elif metric == CANBERRA:
            _mk_canberra(a0, a1, b0, b1, b2, b3, w, k0, k1, acc)
        elif metric == HAMMING:
            _mk_hamming(a0, a1, b0, b1, b2, b3, w, k0, k1, acc)
        elif metric == BRAYCURTIS:
            _mk_braycurtis(a0, b0, b1, b2, b3, k0, k1, acc, acc2)
            _mk_braycurtis(a1, b0, b1, b2, b3, k0, k1, acc + 4, acc2 + 4)
        elif metric == JACCARD:
            _mk_jaccard(a0, b0, b1, b2, b3, w, k0, k1, acc, acc2)
            _mk_jaccard(a1, b0, b1, b2, b3, w, k0, k1, acc + 4, acc2 + 4)
        k0 = k1

    for q in range(8):
        if metric == EUCLIDEAN:
            res[q] = sqrt(acc[q])
        elif metric == MINKOWSKI:
            res[q] = _inv_power(acc[q], job.pow_case, job.inv_p)
        elif metric == COSINE:
            # SciPy's form: norms first (no overflow of uu * vv); a zero
            # vector gives NaN; clip to [-1, 1], NaN passes through.
            den = job.norm_a[ia[q // 4]] * job.norm_b[jb[q % 4]]
            if den == 0:
                res[q] = NAN
            else:
                c = acc[q] / den
                if c > 1:
                    c = 1
                elif c < -1:
                    c = -1
                res[q] = 1 - c
        elif metric == BRAYCURTIS:
            num = acc[q]
            den = acc2[q]
            if den == 0:
                res[q] = NAN if num == 0 else INFINITY
            else:
                res[q] = num / den
        elif metric == JACCARD:
            res[q] = acc[q] / acc2[q] if acc2[q] != 0 else 0
        else:  # sqeuclidean, cityblock, canberra, hamming: the sum itself
            res[q] = acc[q]


# ----------------------------------------------------------------------------
# Tiles and the parallel loop
# ----------------------------------------------------------------------------

cdef void _tile(
    const Job* job, const floating* XA, const floating* XB, const floating* w,
    const floating* VI, floating* out, Py_ssize_t t, double* d,
) noexcept nogil:
    """Compute output tile ``t``: rows i0:i1 of XA x rows j0:j1 of XB."""
    cdef Py_ssize_t i0 = (t // job.n_tiles_b) * job.BI
    cdef Py_ssize_t j0 = (t % job.n_tiles_b) * job.BJ
    cdef Py_ssize_t i1 = min(i0 + job.BI, job.mA)
    cdef Py_ssize_t j1 = min(j0 + job.BJ, job.mB)
    cdef Py_ssize_t i, j, ni, nj, r, q, ii, jj
    cdef Py_ssize_t m = job.mA
    cdef Py_ssize_t ia[2]
    cdef Py_ssize_t jb[4]
    cdef double res[8]
    if job.is_pdist and j1 - 1 <= i0:  # no pair i < j in this tile
        return
    for i in range(i0, i1, 2):
        ni = min(2, i1 - i)
        ia[0] = i
        ia[1] = i + ni - 1  # a short block repeats its last row (result unused)
        for j in range(j0, j1, 4):
            nj = min(4, j1 - j)
            if job.is_pdist and j + nj - 1 <= i:
                continue
            for q in range(4):
                jb[q] = j + min(q, nj - 1)
            _block_values(job, XA, XB, w, VI, ia, jb, d, res)
            for r in range(ni):
                ii = i + r
                for q in range(nj):
                    jj = j + q
                    if not job.is_pdist:
                        out[ii * job.mB + jj] = <floating>res[4 * r + q]
                    elif jj > ii:
                        out[ii * m - (ii * (ii + 1)) // 2 + jj - ii - 1] = <floating>res[4 * r + q]


cdef void _run(
    Job* job, const floating* XA, const floating* XB, const floating* w,
    const floating* VI, floating* out, int n_threads,
) noexcept nogil:
    cdef Py_ssize_t n_tiles_a = (job.mA + job.BI - 1) // job.BI
    cdef Py_ssize_t n_tiles = n_tiles_a * job.n_tiles_b
    cdef Py_ssize_t t
    cdef double* d = NULL
    cdef int nt = clamp_threads(n_threads, n_tiles)
    with parallel(num_threads=nt):
        # per-thread scratch: the difference vector of mahalanobis
        d = <double*>malloc(sizeof(double) * (job.n + 1))
        for t in prange(n_tiles, schedule="dynamic"):
            _tile(job, XA, XB, w, VI, out, t, d)
        free(d)


cdef void _row_norms(const floating* X, Py_ssize_t m, Py_ssize_t n, double* norms) noexcept nogil:
    """sqrt(x . x) per row, summed in float64 in feature order (as the oracle)."""
    cdef Py_ssize_t i, k
    cdef double s, x
    for i in range(m):
        s = 0
        for k in range(n):
            x = X[i * n + k]
            s += x * x
        norms[i] = sqrt(s)


cdef int _pow_case(double p) noexcept:
    if p == 3:
        return POW_3
    if p == 4:
        return POW_4
    if p == 0.5:
        return POW_HALF
    if p == 1.5:
        return POW_ONE_HALF
    return POW_GENERAL


cdef Job _make_job(object metric, Py_ssize_t mA, Py_ssize_t mB, Py_ssize_t n, double p,
                   size_t itemsize, bint is_pdist) except *:
    cdef Job job
    cdef Py_ssize_t BJ
    try:
        job.metric = _METRIC_CODES[metric]
    except KeyError:
        raise ValueError(f"unknown kernel metric {metric!r}") from None
    job.mA = mA
    job.mB = mB
    job.n = n
    job.is_pdist = is_pdist
    job.p = p
    job.inv_p = 1.0 / p if p != 0 else INFINITY
    job.pow_case = _pow_case(p)
    job.BI = TILE_ROWS_A
    BJ = TILE_BYTES_B // max(1, <Py_ssize_t>(n * itemsize))
    BJ = max(TILE_MIN_B, min(TILE_MAX_B, BJ - BJ % 4))
    job.BJ = BJ
    job.n_tiles_b = max(1, (mB + BJ - 1) // BJ)
    job.kblock = max(1, n) if itemsize == 8 else FLOAT32_BLOCK
    job.norm_a = NULL
    job.norm_b = NULL
    return job


cdef inline const floating* _ptr1(const floating[::1] x) noexcept:
    return &x[0] if x.shape[0] > 0 else NULL


cdef inline const floating* _ptr2(const floating[:, ::1] x) noexcept:
    return &x[0, 0] if x.shape[0] > 0 and x.shape[1] > 0 else NULL


# ----------------------------------------------------------------------------
# Public kernels
# ----------------------------------------------------------------------------

def cdist(const floating[:, ::1] XA, const floating[:, ::1] XB, floating[:, ::1] out,
          metric, const floating[::1] w, double p, const floating[:, ::1] VI):
    """Fill ``out[i, j]`` with the distance between ``XA[i]`` and ``XB[j]``.

    Parameters
    ----------
    XA : ndarray of shape (mA, n)
    XB : ndarray of shape (mB, n)
    out : ndarray of shape (mA, mB)
        C-contiguous, the inputs' dtype (float32 or float64); filled in place.
    metric : str
        A kernel metric (:data:`fastml._metrics.KERNEL_METRICS`).
    w : ndarray of shape (n,)
    p : float
    VI : ndarray of shape (n, n) or (0, 0)
    """
    cdef Py_ssize_t mA = XA.shape[0], mB = XB.shape[0], n = XA.shape[1]
    cdef Job job = _make_job(metric, mA, mB, n, p, sizeof(floating), False)
    cdef int nt = threads_for(mA * mB * max(n, 1))
    cdef double* norms = NULL
    if mA == 0 or mB == 0:
        return None
    cdef const floating* pa = _ptr2(XA)
    cdef const floating* pb = _ptr2(XB)
    cdef const floating* pw = _ptr1(w)
    cdef const floating* pvi = _ptr2(VI)
    cdef floating* pout = &out[0, 0]
    if job.metric == COSINE:
        norms = <double*>malloc(sizeof(double) * (mA + mB))
        if norms == NULL:
            raise MemoryError()
    try:
        with nogil:
            if norms != NULL:
                _row_norms(pa, mA, n, norms)
                _row_norms(pb, mB, n, norms + mA)
                job.norm_a = norms
                job.norm_b = norms + mA
            _run(&job, pa, pb, pw, pvi, pout, nt)
    finally:
        free(norms)
    return None


def pdist(const floating[:, ::1] X, floating[::1] out, metric, const floating[::1] w,
          double p, const floating[:, ::1] VI):
    """Fill the condensed ``out`` (length m(m-1)/2) with distances of X's row pairs.

    Parameters
    ----------
    X : ndarray of shape (m, n)
    out : ndarray of shape (m * (m - 1) // 2,)
        The entry of pair ``i < j`` sits at ``m*i - i*(i+1)//2 + j - i - 1``.
    metric, w, p, VI
        As for :func:`cdist`.
    """
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1]
    cdef Job job = _make_job(metric, m, m, n, p, sizeof(floating), True)
    cdef int nt = threads_for(m * m // 2 * max(n, 1))
    cdef double* norms = NULL
    if m < 2:
        return None
    cdef const floating* px = _ptr2(X)
    cdef const floating* pw = _ptr1(w)
    cdef const floating* pvi = _ptr2(VI)
    cdef floating* pout = &out[0]
    if job.metric == COSINE:
        norms = <double*>malloc(sizeof(double) * m)
        if norms == NULL:
            raise MemoryError()
    try:
        with nogil:
            if norms != NULL:
                _row_norms(px, m, n, norms)
                job.norm_a = norms
                job.norm_b = norms
            _run(&job, px, px, pw, pvi, pout, nt)
    finally:
        free(norms)
    return None
