"""Cython distance kernels: ``cdist`` and ``pdist`` for every kernel metric.

Same names, signatures and semantics as ``fastml._python.distance`` (the
oracle), ``fastml._numpy.distance`` and ``fastml._numba.distance``; see
:mod:`fastml._metrics` for the kernel metrics. ``fastml._cython.distance``
is a shim that imports the CPU variant of this module built for the machine
(``_distance_baseline``, ``_distance_v3`` or ``_distance_v4``, see
:mod:`fastml._cython`).

How it is fast
--------------
* The output is cut into tiles of ``BI`` rows of XA x ``BJ`` rows of XB
  (``BJ`` rows of XB fill about 256 KiB, so they stay in L2); the tiles run
  in parallel under OpenMP (``prange``, dynamic schedule, thread count from
  :func:`fastml.get_num_threads` at each call). Every output element is
  computed by one thread in a fixed order, so results do not depend on the
  thread count. ``pdist`` visits only tiles that hold pairs ``i < j``.
* Inside a tile, a register block of 4 rows of XA x 4 rows of XB runs
  over the features ``k`` with 16 independent scalar sums (braycurtis,
  jaccard and canberra: 2 x 4 at a time, for register pressure). Compiled
  with ``-fassociative-math -fno-signed-zeros`` (no ``-ffinite-math-only``,
  so NaN and inf keep their meaning), GCC/Clang vectorise each sum over
  ``k``. One generic micro-kernel (``_mk``) serves every summing metric: the
  metric is a compile-time tag (fused type ``kind_t``), so Cython emits one
  specialised copy of the tile loop per metric and dtype.
* euclidean's sqrt runs as a separate pass over the finished rows of each
  tile (vectorised), not per pair.
* chebyshev takes its maximum over the IEEE bit patterns of ``|a - b|``,
  which order like integers for non-negative values, so the compiler can
  vectorise it; NaN differences are mapped to 0 first, i.e. skipped, as in
  the oracle (``if t > m: m = t``).
* minkowski with p = 3, 4, 0.5 or 1.5 uses products and ``sqrt`` instead of
  ``pow`` in the inner loop; any other p calls ``pow`` per term. The cube
  root of p = 3 and 1.5 is ``_cbrt`` (bit arithmetic, Halley and Newton
  steps), applied with euclidean's sqrt in the pass over finished rows,
  where it vectorises: libm's ``cbrt`` per pair cost as much as the sums.
* cosine precomputes the row norms (in float64) and reduces only ``a . b``.
* mahalanobis evaluates the quadratic form ``d^T VI d`` of ``d = a - b``
  directly, in float64, for any (even indefinite) VI: O(n^2) per pair.

Precision
---------
float64 input: sums are float64; vectorisation splits each sum into a few
interleaved partial sums, so results differ from the oracle's sequential
sums by a few ulp times the number of terms at most.
float32 input: the inner loops run in float32 (twice the SIMD width), but
over blocks of at most 1024 features; each block's partial sum is added to a
float64 total, and the final formula (sqrt, ratio, power) is evaluated in
float64 before rounding to float32 (except euclidean, whose sqrt is taken
of the float32-rounded sum: within an ulp). The relative error therefore stays near
1e-6 however long the vectors are. Row norms (cosine) and mahalanobis are
computed entirely in float64. One float32 difference: a square or power
that overflows float32 inside a block gives inf (the oracle computes in
float64), e.g. euclidean of points 1e20 apart.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, fabs, fabsf, floor, pow, sqrt, sqrtf
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
cdef Py_ssize_t FLOAT32_BLOCK = 1024

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
# Metric kinds as compile-time tags. Every loop below is a cdef function fused
# over ``kind_t`` (and ``floating``); Cython emits one C function per kind, in
# which the ``kind_t is ...`` tests are resolved at compile time, so each
# specialisation holds only its metric's arithmetic. The tag argument itself
# is a NULL pointer that is never read.
# ----------------------------------------------------------------------------

ctypedef struct SqT:        # sqeuclidean
    char _
ctypedef struct EucT:       # euclidean: sqeuclidean's sums, then sqrt
    char _
ctypedef struct AbsT:       # cityblock
    char _
ctypedef struct DotT:       # cosine: a . b, normalised by precomputed norms
    char _
ctypedef struct Pow3T:      # minkowski, special p: products / sqrt in the loop
    char _
ctypedef struct Pow4T:
    char _
ctypedef struct PowHalfT:
    char _
ctypedef struct Pow15T:
    char _
ctypedef struct CanT:       # canberra
    char _
ctypedef struct BrayT:      # braycurtis: two sums per pair
    char _
ctypedef struct HamT:       # hamming
    char _
ctypedef struct JacT:       # jaccard: two sums per pair
    char _
ctypedef struct ChebT:      # chebyshev: a max over IEEE bit patterns
    char _
ctypedef struct PairT:      # mahalanobis and minkowski with general p: pair by pair
    char _

ctypedef fused kind_t:
    SqT
    EucT
    AbsT
    DotT
    Pow3T
    Pow4T
    PowHalfT
    Pow15T
    CanT
    BrayT
    HamT
    JacT
    ChebT
    PairT

ctypedef fused ibits_t:
    int32_t
    int64_t


# ----------------------------------------------------------------------------
# Scalar helpers (fused, so float32 stays float32 and vectorises 16-wide)
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


# _cbrt: cbrt(m) ~ C0 + C1 m + C2 m^2 on [1, 2), relative error < 7.1e-4.
cdef double CBRT_C0 = 0.62289442
cdef double CBRT_C1 = 0.43747295
cdef double CBRT_C2 = -0.05965741
cdef double CBRT2 = 1.2599210498948732  # 2 ** (1/3)
cdef double CBRT4 = 1.5874010519681994  # 2 ** (2/3)
cdef double TWO52 = 4503599627370496.0
cdef int64_t BITS_TWO52 = 0x4330000000000000  # 2**52: OR a small integer into its low bits
cdef int64_t BITS_ONE = 0x3FF0000000000000
cdef int64_t MANTISSA = 0x000FFFFFFFFFFFFF


cdef inline double _cbrt(double s) noexcept nogil:
    """Cube root of s >= 0 to 3 ulp; 0, inf and NaN unchanged. Mirrors
    ``fastml/_numba/_vmath.py``: branch-free float and integer bit arithmetic,
    so a loop over an output row vectorises (libm's cbrt is a call per value)."""
    cdef bint tiny = s < 9.332636185032189e-302  # 2**-1000: subnormals are scaled by 2**300
    cdef double x = s * 2.037035976334486e+90 if tiny else s
    cdef int64_t b = bits64(x)
    # x = m * 2**e with m in [1, 2); e = 3q + r, r in {0, 1, 2}; all in float64
    cdef double e = from_bits64((b >> 52) | BITS_TWO52) - (TWO52 + 1023.0)
    cdef double m = from_bits64((b & MANTISSA) | BITS_ONE)
    cdef double q = floor((e + 0.5) * (1.0 / 3.0))
    cdef double r = e - 3.0 * q
    cdef double z = m * (1.0 if r == 0.0 else (2.0 if r == 1.0 else 4.0))  # [1, 8)
    cdef double y = (CBRT_C0 + m * (CBRT_C1 + m * CBRT_C2)) * (
        1.0 if r == 0.0 else (CBRT2 if r == 1.0 else CBRT4))
    cdef double t = y * y * y
    y = y * (t + 2.0 * z) / (2.0 * t + z)  # Halley: 7e-4 -> ~1e-10
    t = y * y
    y = y - (t * y - z) / (3.0 * t)  # Newton (the residual is an FMA): to ~1 ulp
    # times 2**q (2**(q - 100) for scaled input): q + bias is in the low bits of
    # q + bias + 2**52, whose shift by 52 is the exponent field
    y *= from_bits64(bits64(q + (923.0 if tiny else 1023.0) + TWO52) << 52)
    return y if (s > 0 and s < INFINITY) else s


cdef inline void _upd(kind_t* kind, floating* s, floating* r, floating a, floating b,
                      floating wk) noexcept nogil:
    """Fold feature (a, b) with weight wk into the pair's sums s (and r)."""
    cdef floating t, den
    cdef floating zero = 0
    cdef bint nza, nzb
    if kind_t is SqT or kind_t is EucT:
        t = a - b
        s[0] += t * t
    elif kind_t is AbsT:
        s[0] += _abs(a - b)
    elif kind_t is DotT:
        s[0] += a * b
    elif kind_t is Pow3T:
        t = _abs(a - b)
        s[0] += t * t * t
    elif kind_t is Pow4T:
        t = a - b
        t = t * t
        s[0] += t * t
    elif kind_t is PowHalfT:
        s[0] += _sqrt(_abs(a - b))
    elif kind_t is Pow15T:
        t = _abs(a - b)
        s[0] += t * _sqrt(t)
    elif kind_t is CanT:
        # A term with |a| + |b| == 0 counts as 0; a NaN term propagates (den != 0).
        den = _abs(a) + _abs(b)
        s[0] += (wk * _abs(a - b) / den) if den != 0 else zero
    elif kind_t is BrayT:
        s[0] += _abs(a - b)
        r[0] += _abs(a + b)
    elif kind_t is HamT:
        # NaN != NaN, so a NaN feature counts as a mismatch, as in the oracle.
        s[0] += wk if a != b else zero
    elif kind_t is JacT:
        # r sums w where a or b is nonzero (NaN counts as nonzero), s where exactly one is.
        nza = a != 0
        nzb = b != 0
        s[0] += wk if nza != nzb else zero
        r[0] += wk if (nza or nzb) else zero


cdef inline void _cmax(ibits_t* m, floating a, floating b) noexcept nogil:
    """m = max(m, bits(|a - b|)), NaN differences mapped to 0 (skipped, as in the oracle).

    For non-negative values IEEE bit patterns order like integers (NaN above
    inf), and integer max-reductions vectorise where float ones do not."""
    cdef ibits_t u
    if floating is double:
        u = <ibits_t>bits64(fabs(a - b))
        u = u if u <= <ibits_t>INF_BITS64 else 0
    else:
        u = <ibits_t>bits32(fabsf(a - b))
        u = u if u <= <ibits_t>INF_BITS32 else 0
    m[0] = u if u > m[0] else m[0]


# ----------------------------------------------------------------------------
# The register tile: rows a[0..3] of XA against rows b[0..3] of XB over
# features k0 <= k < k1: sixteen independent reductions (vectorised over k),
# each loaded value serving four of them. Pair (a_i, b_j) is at 4 i + j.
# The metrics with two sums per pair (braycurtis, jaccard) take rows a0, a1
# only (2 x 4 pairs, 16 sums: 32 would not fit in the vector registers);
# the caller runs them twice per 4 x 4 block.
# ----------------------------------------------------------------------------

cdef inline void _mk(
    kind_t* kind, const floating* a0, const floating* a1, const floating* a2,
    const floating* a3, const floating* b0, const floating* b1, const floating* b2,
    const floating* b3, const floating* w, Py_ssize_t k0, Py_ssize_t k1,
    double* acc, double* acc2,
) noexcept nogil:
    cdef floating s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0
    cdef floating s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0
    cdef floating r00 = 0, r01 = 0, r02 = 0, r03 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0
    cdef floating r20 = 0, r21 = 0, r22 = 0, r23 = 0, r30 = 0, r31 = 0, r32 = 0, r33 = 0
    cdef floating x0, x1, x2, x3, y, wk = 0
    cdef Py_ssize_t k
    for k in range(k0, k1):
        if kind_t is CanT or kind_t is HamT or kind_t is JacT:
            wk = w[k]
        x0 = a0[k]
        x1 = a1[k]
        y = b0[k]
        _upd(kind, &s00, &r00, x0, y, wk)
        _upd(kind, &s10, &r10, x1, y, wk)
        y = b1[k]
        _upd(kind, &s01, &r01, x0, y, wk)
        _upd(kind, &s11, &r11, x1, y, wk)
        y = b2[k]
        _upd(kind, &s02, &r02, x0, y, wk)
        _upd(kind, &s12, &r12, x1, y, wk)
        y = b3[k]
        _upd(kind, &s03, &r03, x0, y, wk)
        _upd(kind, &s13, &r13, x1, y, wk)
        if not (kind_t is BrayT or kind_t is JacT or kind_t is CanT):
            x2 = a2[k]
            x3 = a3[k]
            y = b0[k]
            _upd(kind, &s20, &r20, x2, y, wk)
            _upd(kind, &s30, &r30, x3, y, wk)
            y = b1[k]
            _upd(kind, &s21, &r21, x2, y, wk)
            _upd(kind, &s31, &r31, x3, y, wk)
            y = b2[k]
            _upd(kind, &s22, &r22, x2, y, wk)
            _upd(kind, &s32, &r32, x3, y, wk)
            y = b3[k]
            _upd(kind, &s23, &r23, x2, y, wk)
            _upd(kind, &s33, &r33, x3, y, wk)
    acc[0] += s00; acc[1] += s01; acc[2] += s02; acc[3] += s03
    acc[4] += s10; acc[5] += s11; acc[6] += s12; acc[7] += s13
    if kind_t is BrayT or kind_t is JacT:
        acc2[0] += r00; acc2[1] += r01; acc2[2] += r02; acc2[3] += r03
        acc2[4] += r10; acc2[5] += r11; acc2[6] += r12; acc2[7] += r13
    if not (kind_t is BrayT or kind_t is JacT or kind_t is CanT):
        acc[8] += s20; acc[9] += s21; acc[10] += s22; acc[11] += s23
        acc[12] += s30; acc[13] += s31; acc[14] += s32; acc[15] += s33


cdef inline void _mk_cheb(
    const floating* a0, const floating* a1, const floating* a2, const floating* a3,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t n, ibits_t* m,
) noexcept nogil:
    """chebyshev's 4 x 4 tile: m[4 i + j] = bits of max_k |a_i[k] - b_j[k]|.

    A max is exact in any order, so there are no feature blocks."""
    cdef ibits_t m00 = 0, m01 = 0, m02 = 0, m03 = 0, m10 = 0, m11 = 0, m12 = 0, m13 = 0
    cdef ibits_t m20 = 0, m21 = 0, m22 = 0, m23 = 0, m30 = 0, m31 = 0, m32 = 0, m33 = 0
    cdef floating x0, x1, x2, x3, y
    cdef Py_ssize_t k
    for k in range(n):
        x0 = a0[k]
        x1 = a1[k]
        x2 = a2[k]
        x3 = a3[k]
        y = b0[k]
        _cmax(&m00, x0, y); _cmax(&m10, x1, y); _cmax(&m20, x2, y); _cmax(&m30, x3, y)
        y = b1[k]
        _cmax(&m01, x0, y); _cmax(&m11, x1, y); _cmax(&m21, x2, y); _cmax(&m31, x3, y)
        y = b2[k]
        _cmax(&m02, x0, y); _cmax(&m12, x1, y); _cmax(&m22, x2, y); _cmax(&m32, x3, y)
        y = b3[k]
        _cmax(&m03, x0, y); _cmax(&m13, x1, y); _cmax(&m23, x2, y); _cmax(&m33, x3, y)
    m[0] = m00; m[1] = m01; m[2] = m02; m[3] = m03
    m[4] = m10; m[5] = m11; m[6] = m12; m[7] = m13
    m[8] = m20; m[9] = m21; m[10] = m22; m[11] = m23
    m[12] = m30; m[13] = m31; m[14] = m32; m[15] = m33


cdef inline double _pow_general_pair(
    const floating* a, const floating* b, Py_ssize_t n, double p
) noexcept nogil:
    cdef double s = 0
    cdef Py_ssize_t k
    for k in range(n):
        s += pow(fabs(<double>a[k] - <double>b[k]), p)
    return s


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


# ----------------------------------------------------------------------------
# One 4 x 4 block: distances of rows ia[0..3] of XA and jb[0..3] of XB
# ----------------------------------------------------------------------------

cdef inline void _block_values(
    kind_t* kind, const Job* job, const floating* XA, const floating* XB,
    const floating* w, const floating* VI, const Py_ssize_t* ia, const Py_ssize_t* jb,
    double* d, double* res,
) noexcept nogil:
    cdef Py_ssize_t n = job.n
    cdef const floating* a0 = XA + ia[0] * n
    cdef const floating* a1 = XA + ia[1] * n
    cdef const floating* a2 = XA + ia[2] * n
    cdef const floating* a3 = XA + ia[3] * n
    cdef const floating* b0 = XB + jb[0] * n
    cdef const floating* b1 = XB + jb[1] * n
    cdef const floating* b2 = XB + jb[2] * n
    cdef const floating* b3 = XB + jb[3] * n
    cdef double acc2[16]
    cdef double na[4]
    cdef double nb[4]
    cdef int64_t m64[16]
    cdef int32_t m32[16]
    cdef double num, den, c, s
    cdef Py_ssize_t k0, k1, q

    if kind_t is ChebT:
        if floating is double:
            _mk_cheb(a0, a1, a2, a3, b0, b1, b2, b3, n, m64)
            for q in range(16):
                res[q] = from_bits64(m64[q])
        else:
            _mk_cheb(a0, a1, a2, a3, b0, b1, b2, b3, n, m32)
            for q in range(16):
                res[q] = from_bits32(m32[q])
        return
    if kind_t is PairT:
        for q in range(16):
            if job.metric == MAHALANOBIS:
                res[q] = _mahalanobis_pair(XA + ia[q // 4] * n, XB + jb[q % 4] * n, VI, n, d)
            else:
                res[q] = pow(_pow_general_pair(XA + ia[q // 4] * n, XB + jb[q % 4] * n,
                                               n, job.p), job.inv_p)
        return

    for q in range(16):
        res[q] = 0
        acc2[q] = 0
    k0 = 0
    while k0 < n:  # float64: one block; float32: blocks of FLOAT32_BLOCK features
        k1 = k0 + job.kblock
        if k1 > n:
            k1 = n
        _mk(kind, a0, a1, a2, a3, b0, b1, b2, b3, w, k0, k1, res, acc2)
        if kind_t is BrayT or kind_t is JacT or kind_t is CanT:  # rows a2, a3 (see _mk)
            _mk(kind, a2, a3, a2, a3, b0, b1, b2, b3, w, k0, k1, res + 8, acc2 + 8)
        k0 = k1

    # The final formula, over all 16 pairs at once. (The roots of euclidean
    # and minkowski p = 3, 1.5 are applied by _tile to whole output rows.)
    if kind_t is Pow4T:
        for q in range(16):
            res[q] = sqrt(sqrt(res[q]))
    elif kind_t is PowHalfT:
        for q in range(16):
            res[q] = res[q] * res[q]
    elif kind_t is DotT:
        # SciPy's form: norms first (no overflow of uu * vv); a zero vector
        # gives NaN; clip to [-1, 1], NaN passes through.
        for q in range(4):
            na[q] = job.norm_a[ia[q]]
            nb[q] = job.norm_b[jb[q]]
        for q in range(16):
            den = na[q // 4] * nb[q % 4]
            c = res[q] / den
            if c > 1:
                c = 1
            elif c < -1:
                c = -1
            res[q] = 1 - c if den != 0 else NAN
    elif kind_t is BrayT:
        for q in range(16):
            num = res[q]
            den = acc2[q]
            if den == 0:
                res[q] = NAN if num == 0 else INFINITY
            else:
                res[q] = num / den
    elif kind_t is JacT:
        for q in range(16):
            res[q] = res[q] / acc2[q] if acc2[q] != 0 else 0
    # sqeuclidean, cityblock, canberra, hamming: the sum itself


# ----------------------------------------------------------------------------
# Tiles and the parallel loop
# ----------------------------------------------------------------------------

cdef void _tile(
    kind_t* kind, const Job* job, const floating* XA, const floating* XB,
    const floating* w, const floating* VI, floating* out, Py_ssize_t t, double* d,
) noexcept nogil:
    """Compute output tile ``t``: rows i0:i1 of XA x rows j0:j1 of XB."""
    cdef Py_ssize_t i0 = (t // job.n_tiles_b) * job.BI
    cdef Py_ssize_t j0 = (t % job.n_tiles_b) * job.BJ
    cdef Py_ssize_t i1 = min(i0 + job.BI, job.mA)
    cdef Py_ssize_t j1 = min(j0 + job.BJ, job.mB)
    cdef Py_ssize_t i, j, ni, nj, r, q, ii, jj
    cdef Py_ssize_t m = job.mA
    cdef Py_ssize_t mB = job.mB
    cdef bint is_pdist = job.is_pdist
    cdef Py_ssize_t ia[4]
    cdef Py_ssize_t jb[4]
    cdef double res[16]
    cdef double s
    cdef floating* o
    if is_pdist and j1 - 1 <= i0:  # no pair i < j in this tile
        return
    for i in range(i0, i1, 4):
        ni = min(4, i1 - i)
        for r in range(4):
            ia[r] = i + min(r, ni - 1)  # a short block repeats its last row (result unused)
        for j in range(j0, j1, 4):
            nj = min(4, j1 - j)
            if is_pdist and j + nj - 1 <= i:
                continue
            for q in range(4):
                jb[q] = j + min(q, nj - 1)
            _block_values(kind, job, XA, XB, w, VI, ia, jb, d, res)
            if not is_pdist and ni == 4 and nj == 4:
                o = out + i * mB + j
                for r in range(4):
                    for q in range(4):
                        o[r * mB + q] = <floating>res[4 * r + q]
                continue
            for r in range(ni):
                ii = i + r
                for q in range(nj):
                    jj = j + q
                    if not is_pdist:
                        out[ii * mB + jj] = <floating>res[4 * r + q]
                    elif jj > ii:
                        out[ii * m - (ii * (ii + 1)) // 2 + jj - ii - 1] = <floating>res[4 * r + q]
    if kind_t is EucT or kind_t is Pow3T or kind_t is Pow15T:
        # the root of the finished rows of the tile: a vectorised pass
        for ii in range(i0, i1):
            if not is_pdist:
                o = out + ii * mB
                jj = j0
            else:
                o = out + ii * m - (ii * (ii + 1)) // 2 - ii - 1  # o[jj]: pair (ii, jj)
                jj = max(j0, ii + 1)
            for q in range(jj, j1):
                if kind_t is EucT:
                    o[q] = _sqrt(o[q])
                elif kind_t is Pow3T:
                    o[q] = <floating>_cbrt(o[q])
                else:
                    s = _cbrt(o[q])
                    o[q] = <floating>(s * s)


cdef void _run_kind(
    kind_t* kind, Job* job, const floating* XA, const floating* XB, const floating* w,
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
            _tile(kind, job, XA, XB, w, VI, out, t, d)
        free(d)


cdef void _run(
    Job* job, const floating* XA, const floating* XB, const floating* w,
    const floating* VI, floating* out, int nt,
) noexcept nogil:
    """Run the specialisation of the tile loop for ``job``'s metric."""
    cdef int metric = job.metric
    cdef int pc = job.pow_case
    if metric == SQEUCLIDEAN:
        _run_kind(<SqT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == EUCLIDEAN:
        _run_kind(<EucT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == CITYBLOCK:
        _run_kind(<AbsT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == CHEBYSHEV:
        _run_kind(<ChebT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == COSINE:
        _run_kind(<DotT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == CANBERRA:
        _run_kind(<CanT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == BRAYCURTIS:
        _run_kind(<BrayT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == HAMMING:
        _run_kind(<HamT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == JACCARD:
        _run_kind(<JacT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == MINKOWSKI and pc == POW_3:
        _run_kind(<Pow3T*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == MINKOWSKI and pc == POW_4:
        _run_kind(<Pow4T*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == MINKOWSKI and pc == POW_HALF:
        _run_kind(<PowHalfT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == MINKOWSKI and pc == POW_ONE_HALF:
        _run_kind(<Pow15T*>NULL, job, XA, XB, w, VI, out, nt)
    else:  # mahalanobis, minkowski with any other p
        _run_kind(<PairT*>NULL, job, XA, XB, w, VI, out, nt)


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


def _cbrt_array(const double[::1] x, double[::1] out):
    """``out[i] = _cbrt(x[i])`` (for tests of the vectorised cube root)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _cbrt(x[i])


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
