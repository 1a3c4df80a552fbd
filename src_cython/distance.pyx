"""Cython distance kernels: ``cdist`` and ``pdist`` for every kernel metric.

Same names, signatures and semantics as ``fastml._python.distance`` (the
oracle), ``fastml._numpy.distance`` and ``fastml._numba.distance``; see
:mod:`fastml._metrics` for the kernel metrics. ``fastml._cython.distance``
is a shim that imports the CPU variant of this module built for the machine
(``_distance_baseline``, ``_distance_v3`` or ``_distance_v4``, see
:mod:`fastml._cython`).

How it is fast
--------------
* Panels, for the metrics that reduce one sum or a maximum of a per-feature
  term (sqeuclidean, euclidean, cityblock, chebyshev, minkowski p = 3 and 4,
  cosine, dot (the boolean dissimilarities' ``sum u v``); seuclidean, weighted
  euclidean and correlation become those; and
  braycurtis in one feature block, float64 or float32 up to 128 features,
  whose tile keeps two sums per pair and stores their ratio): XB is
  packed into panels of 8 (float64) or 16 (float32) rows, feature-major
  (:func:`fastml._metrics.pack_panels`), and a C micro-kernel with GCC/Clang
  vector extensions (``FASTML_DT_TILE``) computes 4 rows of XA x one panel
  in 8 vector accumulators (lanes = rows of XB): no horizontal sums, no
  spills on AVX2. chebyshev's maximum is x86's ``max(t, a)``, which skips a
  NaN difference as the oracle does. The final formula (sqrt, the vectorised
  ``_cbrt``, the cosine formula with float64 row norms) runs while the tile
  is written, one loop per formula so that each vectorises; in cdist a whole
  tile whose sums are the distances (sqeuclidean, cityblock, chebyshev) is
  stored straight into ``out`` (no copy through scratch). Row blocks of
  32 rows of XA run in parallel under OpenMP (dynamic schedule), each walking
  XB in blocks of 32 panels that stay in cache; ``pdist`` takes groups of 4
  rows against the later rows. Mirrors ``fastml/_numba/_panel.py``.
* The other metrics: the output is cut into tiles of ``BI`` rows of XA x
  ``BJ`` rows of XB (``BJ`` rows of XB fill about 256 KiB, so they stay in
  L2); the tiles run in parallel under OpenMP (``prange``, dynamic schedule,
  thread count from :func:`fastml.get_num_threads` at each call). Inside a
  tile, a register block of 4 rows of XA x 4 rows of XB runs over the
  features ``k`` with 16 independent scalar sums (braycurtis, jaccard and
  canberra: 2 x 4 at a time, for register pressure; float64 canberra in
  range, see ``fastml._metrics.canberra_shares_division``, takes two terms
  per division, ``_can_two``). minkowski with a general p and jensenshannon
  (on rows divided by their sums) go pair by pair: their terms (``_pow_pos``,
  ``_log_pos``) vectorise over the features. Compiled with
  ``-fassociative-math -fno-signed-zeros`` (no ``-ffinite-math-only``, so
  NaN and inf keep their meaning), GCC/Clang vectorise each sum over ``k``.
  One generic micro-kernel (``_mk``) serves every summing metric: the metric
  is a compile-time tag (fused type ``kind_t``), so Cython emits one
  specialised copy of the tile loop per metric and dtype.
* Every output element is computed by one thread in a fixed order, so
  results do not depend on the thread count.
* minkowski with p = 0.5 or 1.5 uses ``sqrt`` instead of ``pow`` in the
  inner loop; any other p (but 3 and 4, on panels) runs pair by pair with
  ``_pow_pos`` (exp(p log t) in arithmetic that vectorises over the
  features; libm's ``pow`` per term made it only ~1.5x faster than SciPy).
  The cube root of p = 3 and 1.5 is ``_cbrt`` (bit arithmetic, Halley and
  Newton steps) over whole rows, where it vectorises: libm's ``cbrt`` per
  pair cost as much as the sums.
* hamming with equal weights counts mismatches in integers of the inputs'
  width (``_mk_count``: a compare and a subtraction per term) and scales the
  count by the weight; with other weights it sums them.
* jaccard without weights (or with equal ones) runs on bit sets of the
  nonzero features (:func:`fastml._metrics.jaccard_bits`): two popcounts per
  64 features and pair, exact integer counts, one division.
* mahalanobis evaluates the quadratic form ``d^T VI d`` of ``d = a - b``
  directly, in float64, for any (even indefinite) VI: O(n^2) per pair, as
  ``d^T U d`` (U: upper triangle of VI + VI^T, half the work) with the
  dot-product micro-kernel over blocks of 64 pairs (``_mahalanobis_run``).

Precision
---------
float64 input: sums are float64. Panel lanes sum each pair's terms in
feature order; the tile's vectorisation splits each sum into a few
interleaved partial sums, so results differ from the oracle's sequential
sums by a few ulp times the number of terms at most.
float32 input: the inner loops run in float32 (twice the SIMD width), but
over blocks of at most 128 (panels) or 1024 (tiles) features; each block's
sum is added to a float64 total, and the final formula (sqrt, ratio, power)
is evaluated in float64 before rounding to float32 (except the panel
metrics over more than 128 features, whose formula takes the float32-rounded
sum: within an ulp). The relative error therefore stays near 1e-6 however
long the vectors are. Row norms (cosine) and mahalanobis are computed
entirely in float64. One float32 difference: a square or power that
overflows float32 inside a block gives inf (the oracle computes in
float64), e.g. euclidean of points 1e20 apart.
"""

cimport cython
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, fabs, fabsf, floor, pow, rint, sqrt, sqrtf
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free, malloc

from _common cimport (
    FASTML_COMPILE_ARGS, bits32, bits64, clamp_threads, fastml_popcount64, from_bits32,
    from_bits64,
)

import numpy as np

from fastml._config import threads_for
from fastml._metrics import (
    CANBERRA_SHARED_EPS,
    canberra_shares_division,
    jaccard_bits,
    mahalanobis_upper,
    pack_panels,
    rows4,
)

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
    DOT         # sum u v: the boolean dissimilarities (fastml._metrics)
    JENSENSHANNON  # on rows divided by their sums (fastml._metrics)

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
    "dot": DOT,
    "jensenshannon": JENSENSHANNON,
}

# Rows of XA per tile (a multiple of the register block's 2 rows).
cdef Py_ssize_t TILE_ROWS_A = 32
# Bytes of XB rows per tile (L2-resident), and the XB row limits of a tile.
cdef Py_ssize_t TILE_BYTES_B = 256 * 1024
cdef Py_ssize_t TILE_MIN_B = 4
cdef Py_ssize_t TILE_MAX_B = 1024
# float32 sums run over blocks of at most this many features (see docstring).
cdef Py_ssize_t FLOAT32_BLOCK = 1024



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
    int equal_w             # all weights equal (hamming counts mismatches)
    int shared_div          # canberra: two terms per division (_can_two)
    double p, inv_p


# ----------------------------------------------------------------------------
# Metric kinds as compile-time tags. Every loop below is a cdef function fused
# over ``kind_t`` (and ``floating``); Cython emits one C function per kind, in
# which the ``kind_t is ...`` tests are resolved at compile time, so each
# specialisation holds only its metric's arithmetic. The tag argument itself
# is a NULL pointer that is never read.
# ----------------------------------------------------------------------------

ctypedef struct DotT:       # a . b (mahalanobis' micro-kernel; cosine runs on panels)
    char _
ctypedef struct PowHalfT:
    char _
ctypedef struct Pow15T:
    char _
ctypedef struct CanT:       # canberra
    char _
ctypedef struct CanSharedT: # canberra, two terms per division (float64 in range)
    char _
ctypedef struct BrayT:      # braycurtis: two sums per pair
    char _
ctypedef struct HamT:       # hamming
    char _
ctypedef struct JacT:       # jaccard: two sums per pair
    char _
ctypedef struct CountT:     # hamming with equal weights: an integer count of mismatches
    char _
ctypedef struct PairT:      # minkowski with a general p: pair by pair
    char _
ctypedef struct JsT:        # jensenshannon: pair by pair
    char _

ctypedef fused kind_t:
    DotT
    PowHalfT
    Pow15T
    CanT
    CanSharedT
    BrayT
    HamT
    JacT
    CountT
    PairT
    JsT

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


# _pow_pos: fdlibm's log(1 + f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f)
cdef double LG1 = 6.666666666666735130e-01
cdef double LG2 = 3.999999999940941908e-01
cdef double LG3 = 2.857142874366239149e-01
cdef double LG4 = 2.222219843214978396e-01
cdef double LG5 = 1.818357216161805012e-01
cdef double LG6 = 1.531383769920937332e-01
cdef double LG7 = 1.479819860511658591e-01
cdef double LN2_HI = 6.93147180369123816490e-01  # trailing zeros: k * LN2_HI is exact
cdef double LN2_LO = 1.90821492927058770002e-10
cdef double INV_LN2 = 1.44269504088896338700e+00


cdef inline double _log_pos(double t) noexcept nogil:
    """log(t) for finite t > 0 (garbage for 0, inf, NaN: the caller selects)."""
    cdef bint tiny = t < 9.332636185032189e-302  # 2**-1000: subnormals are scaled by 2**64
    cdef double x = t * 18446744073709551616.0 if tiny else t
    cdef int64_t b = bits64(x)
    cdef double e = from_bits64((b >> 52) | BITS_TWO52) - (TWO52 + 1023.0)
    cdef double m = from_bits64((b & MANTISSA) | BITS_ONE)
    cdef bint big = m > 1.4142135623730951  # m in [sqrt(1/2), sqrt(2))
    cdef double f, s, z, R, hfsq
    e = e - 64.0 if tiny else e
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    R = z * (LG1 + z * (LG2 + z * (LG3 + z * (LG4 + z * (LG5 + z * (LG6 + z * LG7))))))
    hfsq = 0.5 * f * f
    return e * LN2_HI - ((hfsq - (s * (hfsq + R) + e * LN2_LO)) - f)


cdef inline double _exp(double y) noexcept nogil:
    """exp(y); inf above 709.78, 0 below -745.13 (y is clamped to [-800, 800],
    which 2**k1 * 2**k2 below still turns into inf or 0). NaN: garbage."""
    cdef double k, r, q, k1, k2
    y = -800.0 if y < -800.0 else (800.0 if y > 800.0 else y)
    k = rint(y * INV_LN2)
    r = (y - k * LN2_HI) - k * LN2_LO  # |r| <= ln(2) / 2
    # Taylor to r**13 (r**14 / 14! < 5e-18 here), Horner
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = q * r + 1.0
    q = q * r + 1.0
    # times 2**k: 2**k1 goes into q's exponent field (q * 2**k1 stays normal), then
    # one multiplication by 2**k2 rounds once into inf or a subnormal where due.
    # (Two multiplications would be reassociated into q * (2**k1 * 2**k2) = q * inf.)
    k1 = floor(k * 0.5)
    k2 = k - k1
    q = from_bits64(bits64(q) + ((bits64(k1 + (1023.0 + TWO52)) << 52) - BITS_ONE))
    return q * from_bits64(bits64(k2 + (1023.0 + TWO52)) << 52)


cdef inline double _pow_pos(double t, double p) noexcept nogil:
    """t ** p for t >= 0, p > 0, as exp(p log t) in arithmetic that vectorises
    (libm's pow is a call per term). Mirrors ``fastml/_numba/_vmath.py``, where
    the accuracy is documented (relative error < ~3e-13 over all doubles)."""
    cdef double r = _exp(p * _log_pos(t))
    # 0, inf, NaN: themselves. (One select: with more, GCC stops vectorising the sum.)
    return r if (t > 0 and t < INFINITY) else t


cdef inline void _upd(kind_t* kind, floating* s, floating* r, floating a, floating b,
                      floating wk) noexcept nogil:
    """Fold feature (a, b) with weight wk into the pair's sums s (and r)."""
    cdef floating t, den
    cdef floating zero = 0
    cdef bint nza, nzb
    if kind_t is DotT:
        s[0] += a * b
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


cdef double CAN_EPS = CANBERRA_SHARED_EPS


cdef inline void _can_two(floating* s0, floating* s1, floating a0, floating a1, floating e0,
                          floating e1, floating b, floating wk) noexcept nogil:
    """The canberra terms of (a0, b) and (a1, b) with one division: w/d0 = d1 q and
    w/d1 = d0 q, q = w / (d0 d1). ``e`` is |a| + CAN_EPS, so a zero denominator
    is CAN_EPS (its term stays 0) and any other is |a| + |b| exactly. Only for
    inputs that pass ``fastml._metrics.canberra_shares_division``. Mirrors
    ``_canberra_two`` in ``fastml/_numba/distance.py``."""
    cdef floating ab = _abs(b)
    cdef floating d0 = e0 + ab
    cdef floating d1 = e1 + ab
    cdef floating q = wk / (d0 * d1)
    s0[0] += _abs(a0 - b) * (d1 * q)
    s1[0] += _abs(a1 - b) * (d0 * q)


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
    cdef floating x0, x1, x2, x3, y, wk = 0, e0, e1
    cdef Py_ssize_t k
    if kind_t is CanSharedT:
        for k in range(k0, k1):
            wk = w[k]
            x0 = a0[k]
            x1 = a1[k]
            e0 = _abs(x0) + <floating>CAN_EPS
            e1 = _abs(x1) + <floating>CAN_EPS
            _can_two(&s00, &s10, x0, x1, e0, e1, b0[k], wk)
            _can_two(&s01, &s11, x0, x1, e0, e1, b1[k], wk)
            _can_two(&s02, &s12, x0, x1, e0, e1, b2[k], wk)
            _can_two(&s03, &s13, x0, x1, e0, e1, b3[k], wk)
        acc[0] += s00; acc[1] += s01; acc[2] += s02; acc[3] += s03
        acc[4] += s10; acc[5] += s11; acc[6] += s12; acc[7] += s13
        return
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


cdef inline void _mk_count(
    const floating* a0, const floating* a1, const floating* a2, const floating* a3,
    const floating* b0, const floating* b1, const floating* b2, const floating* b3,
    Py_ssize_t n, ibits_t* m,
) noexcept nogil:
    """hamming's 4 x 4 tile with equal weights: m[4 i + j] = #{k : a_i[k] != b_j[k]}.

    Integers of the inputs' width: a compare and a subtraction of its mask per
    term (8 lanes for float32), where summing weights takes a third op."""
    cdef ibits_t m00 = 0, m01 = 0, m02 = 0, m03 = 0, m10 = 0, m11 = 0, m12 = 0, m13 = 0
    cdef ibits_t m20 = 0, m21 = 0, m22 = 0, m23 = 0, m30 = 0, m31 = 0, m32 = 0, m33 = 0
    cdef floating x0, x1, x2, x3, y
    cdef Py_ssize_t k
    for k in range(n):  # NaN != NaN: a NaN feature is a mismatch, as in the oracle
        x0 = a0[k]
        x1 = a1[k]
        x2 = a2[k]
        x3 = a3[k]
        y = b0[k]
        m00 += x0 != y; m10 += x1 != y; m20 += x2 != y; m30 += x3 != y
        y = b1[k]
        m01 += x0 != y; m11 += x1 != y; m21 += x2 != y; m31 += x3 != y
        y = b2[k]
        m02 += x0 != y; m12 += x1 != y; m22 += x2 != y; m32 += x3 != y
        y = b3[k]
        m03 += x0 != y; m13 += x1 != y; m23 += x2 != y; m33 += x3 != y
    m[0] = m00; m[1] = m01; m[2] = m02; m[3] = m03
    m[4] = m10; m[5] = m11; m[6] = m12; m[7] = m13
    m[8] = m20; m[9] = m21; m[10] = m22; m[11] = m23
    m[12] = m30; m[13] = m31; m[14] = m32; m[15] = m33


cdef inline double _js_term(double a, double m) noexcept nogil:
    """a log(a / m), 0 for a = 0 or NaN (jensenshannon's terms, m = (a + b) / 2):
    ``_log_pos``, which vectorises (libm's log is a call per term); a / m > 0
    where a > 0, and inf or NaN pass through the select."""
    cdef double t = a / m
    return a * (_log_pos(t) if t < INFINITY else t) if a > 0 else 0.0


cdef inline double _js_pair(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """jensenshannon of two rows divided by their sums, in float64; pair by pair
    (one loop over the features, which GCC vectorises), as minkowski's general p."""
    cdef double s = 0, x, y, m
    cdef Py_ssize_t k
    for k in range(n):
        x = a[k]
        y = b[k]
        m = (x + y) * 0.5
        s += _js_term(x, m) + _js_term(y, m)
    # the divergence is >= 0; rounding can leave it a hair below (NaN stays)
    return sqrt((0 if s < 0 else s) * 0.5)


cdef inline double _pow_general_pair(
    const floating* a, const floating* b, Py_ssize_t n, double p
) noexcept nogil:
    cdef double s = 0
    cdef Py_ssize_t k
    for k in range(n):
        s += _pow_pos(fabs(<double>a[k] - <double>b[k]), p)
    return s


# ----------------------------------------------------------------------------
# One 4 x 4 block: distances of rows ia[0..3] of XA and jb[0..3] of XB
# ----------------------------------------------------------------------------

cdef inline void _block_values(
    kind_t* kind, const Job* job, const floating* XA, const floating* XB,
    const floating* w, const floating* VI, const Py_ssize_t* ia, const Py_ssize_t* jb,
    double* res,
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
    cdef int64_t m64[16]
    cdef int32_t m32[16]
    cdef double num, den, c, s
    cdef Py_ssize_t k0, k1, q

    if kind_t is CountT:  # every weight is w[0]
        if floating is double:
            _mk_count(a0, a1, a2, a3, b0, b1, b2, b3, n, m64)
            for q in range(16):
                res[q] = m64[q] * <double>w[0]
        else:
            _mk_count(a0, a1, a2, a3, b0, b1, b2, b3, n, m32)
            for q in range(16):
                res[q] = m32[q] * <double>w[0]
        return
    if kind_t is JsT:
        for q in range(16):
            res[q] = _js_pair(XA + ia[q // 4] * n, XB + jb[q % 4] * n, n)
        return
    if kind_t is PairT:
        for q in range(16):
            res[q] = pow(_pow_general_pair(XA + ia[q // 4] * n, XB + jb[q % 4] * n, n, job.p),
                         job.inv_p)
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
        if kind_t is BrayT or kind_t is JacT or kind_t is CanT or kind_t is CanSharedT:
            # rows a2, a3 (see _mk)
            _mk(kind, a2, a3, a2, a3, b0, b1, b2, b3, w, k0, k1, res + 8, acc2 + 8)
        k0 = k1

    # The final formula, over all 16 pairs at once. (The root of minkowski
    # p = 1.5 is applied by _tile to whole output rows.)
    if kind_t is PowHalfT:
        for q in range(16):
            res[q] = res[q] * res[q]
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
    # canberra, hamming: the sum itself


# ----------------------------------------------------------------------------
# Tiles and the parallel loop
# ----------------------------------------------------------------------------

cdef void _tile(
    kind_t* kind, const Job* job, const floating* XA, const floating* XB,
    const floating* w, const floating* VI, floating* out, Py_ssize_t t,
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
            _block_values(kind, job, XA, XB, w, VI, ia, jb, res)
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
    if kind_t is Pow15T:
        # cbrt(s)^2 over the finished rows of the tile: a vectorised pass
        for ii in range(i0, i1):
            if not is_pdist:
                o = out + ii * mB
                jj = j0
            else:
                o = out + ii * m - (ii * (ii + 1)) // 2 - ii - 1  # o[jj]: pair (ii, jj)
                jj = max(j0, ii + 1)
            for q in range(jj, j1):
                s = _cbrt(o[q])
                o[q] = <floating>(s * s)


cdef void _run_kind(
    kind_t* kind, Job* job, const floating* XA, const floating* XB, const floating* w,
    const floating* VI, floating* out, int n_threads,
) noexcept nogil:
    cdef Py_ssize_t n_tiles_a = (job.mA + job.BI - 1) // job.BI
    cdef Py_ssize_t n_tiles = n_tiles_a * job.n_tiles_b
    cdef Py_ssize_t t
    cdef int nt = clamp_threads(n_threads, n_tiles)
    for t in prange(n_tiles, schedule="dynamic", num_threads=nt, nogil=True):
        _tile(kind, job, XA, XB, w, VI, out, t)


cdef void _run(
    Job* job, const floating* XA, const floating* XB, const floating* w,
    const floating* VI, floating* out, int nt,
) noexcept nogil:
    """Run the specialisation of the tile loop for ``job``'s metric."""
    cdef int metric = job.metric
    cdef int pc = job.pow_case
    if metric == CANBERRA and job.shared_div:
        _run_kind(<CanSharedT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == CANBERRA:
        _run_kind(<CanT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == BRAYCURTIS:
        _run_kind(<BrayT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == HAMMING and job.equal_w:
        _run_kind(<CountT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == HAMMING:
        _run_kind(<HamT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == JACCARD:
        _run_kind(<JacT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == JENSENSHANNON:
        _run_kind(<JsT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == MINKOWSKI and pc == POW_HALF:
        _run_kind(<PowHalfT*>NULL, job, XA, XB, w, VI, out, nt)
    elif metric == MINKOWSKI and pc == POW_ONE_HALF:
        _run_kind(<Pow15T*>NULL, job, XA, XB, w, VI, out, nt)
    else:  # minkowski with any other p (the panel metrics and mahalanobis run elsewhere)
        _run_kind(<PairT*>NULL, job, XA, XB, w, VI, out, nt)



# ----------------------------------------------------------------------------
# Panel kernels for the metrics that reduce one sum or a maximum: sqeuclidean,
# euclidean, cityblock, chebyshev, minkowski p = 3, 4 and cosine. Mirrors
# fastml/_numba/_panel.py. XB is packed into panels of W = 2L rows, feature-
# major (_metrics.pack_panels; L = 4 float64 or 8 float32 lanes of 256 bits).
# A tile is 4 rows of XA x one panel: 8 vector accumulators (lanes = rows of
# XB) in registers over the features; per feature 2 vector loads, 4
# broadcasts, 8 updates. No horizontal sums, and 16 registers suffice (the
# 4 x 4 scalar tile vectorised over the features spills on AVX2): about 1.5x
# (float64) and 2x (float32) faster. C with GCC/Clang vector extensions, so
# portable across the CPU variants; a scalar fallback elsewhere. Each lane
# sums its pair's terms in feature order.
# ----------------------------------------------------------------------------

cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    #if (defined(__GNUC__) || defined(__clang__))
    #define FASTML_DT_VEXT 1
    typedef double fastml_dt_v4d __attribute__((vector_size(32)));
    typedef float fastml_dt_v8f __attribute__((vector_size(32)));
    typedef long long fastml_dt_v4l __attribute__((vector_size(32)));
    typedef int fastml_dt_v8i __attribute__((vector_size(32)));
    /* a: accumulator, x: XA's value (broadcast), p: the panel's vector. The
       absolute value clears the sign bits; max: an ordered > (a NaN difference
       leaves a, as SciPy skips it) and a blend. */
    #define FASTML_DT_SQ(a, x, p)   { t_ = (x) - (p); a += t_ * t_; }
    #define FASTML_DT_ABS(a, x, p)  { t_ = (VT)((IT)((x) - (p)) & abs_); a += t_; }
    #define FASTML_DT_DOT(a, x, p)  { a += (x) * (p); }
    #define FASTML_DT_POW3(a, x, p) { t_ = (VT)((IT)((x) - (p)) & abs_); a += t_ * t_ * t_; }
    #define FASTML_DT_POW4(a, x, p) { t_ = (x) - (p); t_ = t_ * t_; a += t_ * t_; }
    #if defined(__AVX__)
    #include <immintrin.h>
    /* x86's max(t, a) is (t > a ? t : a): a NaN t leaves a, in one instruction */
    #define FASTML_DT_VMAX(t, a) (sizeof(x) == 8 ? (VT)_mm256_max_pd((__m256d)(t), (__m256d)(a)) \
                                                 : (VT)_mm256_max_ps((__m256)(t), (__m256)(a)))
    #define FASTML_DT_MAX(a, x, p)  { t_ = (VT)((IT)((x) - (p)) & abs_); a = FASTML_DT_VMAX(t_, a); }
    #else
    #define FASTML_DT_MAX(a, x, p)  { t_ = (VT)((IT)((x) - (p)) & abs_);                      \
                                      m_ = (IT)(t_ > a); a = (VT)(((IT)t_ & m_) | ((IT)a & ~m_)); }
    #endif
    #define FASTML_DT_TILE(NAME, T, VTT, ITT, L, ABSMASK, UPD)                               \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* Pj, Py_ssize_t k0,           \
                            Py_ssize_t k1, T* acc, Py_ssize_t os) {                          \
        typedef VTT VT; typedef ITT IT;                                                      \
        const T* X1 = X0 + d; const T* X2 = X1 + d; const T* X3 = X2 + d;                    \
        const IT abs_ = (IT){0} + ABSMASK;                                                   \
        VT a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0};                                       \
        VT a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};                                       \
        VT p0, p1, t_; IT m_; T x;                                                           \
        (void)abs_; (void)t_; (void)m_;                                                      \
        for (Py_ssize_t q = k0; q < k1; q++) {                                               \
            memcpy(&p0, Pj + 2 * L * q, sizeof(p0));                                         \
            memcpy(&p1, Pj + 2 * L * q + L, sizeof(p1));                                     \
            x = X0[q]; UPD(a00, x, p0); UPD(a01, x, p1);                                     \
            x = X1[q]; UPD(a10, x, p0); UPD(a11, x, p1);                                     \
            x = X2[q]; UPD(a20, x, p0); UPD(a21, x, p1);                                     \
            x = X3[q]; UPD(a30, x, p0); UPD(a31, x, p1);                                     \
        }                                                                                    \
        memcpy(acc, &a00, sizeof(VT)); memcpy(acc + L, &a01, sizeof(VT));                    \
        memcpy(acc + os, &a10, sizeof(VT)); memcpy(acc + os + L, &a11, sizeof(VT));          \
        memcpy(acc + 2 * os, &a20, sizeof(VT)); memcpy(acc + 2 * os + L, &a21, sizeof(VT));  \
        memcpy(acc + 3 * os, &a30, sizeof(VT)); memcpy(acc + 3 * os + L, &a31, sizeof(VT));  \
    }
    #define FASTML_DT_TILES(OP, UPD)                                                         \
    FASTML_DT_TILE(fastml_dt_##OP##8, double, fastml_dt_v4d, fastml_dt_v4l, 4,               \
                   0x7FFFFFFFFFFFFFFFLL, UPD)                                                \
    FASTML_DT_TILE(fastml_dt_##OP##16, float, fastml_dt_v8f, fastml_dt_v8i, 8, 0x7FFFFFFF, UPD)
    #else
    #define FASTML_DT_VEXT 0
    #define FASTML_DT_SQ(a, x, p)   { t_ = (x) - (p); a += t_ * t_; }
    #define FASTML_DT_ABS(a, x, p)  { a += (T)fabs((double)((x) - (p))); }
    #define FASTML_DT_DOT(a, x, p)  { a += (x) * (p); }
    #define FASTML_DT_POW3(a, x, p) { t_ = (T)fabs((double)((x) - (p))); a += t_ * t_ * t_; }
    #define FASTML_DT_POW4(a, x, p) { t_ = (x) - (p); t_ = t_ * t_; a += t_ * t_; }
    #define FASTML_DT_MAX(a, x, p)  { t_ = (T)fabs((double)((x) - (p))); if (t_ > a) a = t_; }
    #define FASTML_DT_TILE(NAME, T_, L, UPD)                                                 \
    static inline void NAME(const T_* X0, Py_ssize_t d, const T_* Pj, Py_ssize_t k0,         \
                            Py_ssize_t k1, T_* acc, Py_ssize_t os) {                         \
        typedef T_ T;                                                                        \
        for (int r = 0; r < 4; r++) for (int l = 0; l < 2 * L; l++) {                        \
            T a = 0, t_; (void)t_;                                                           \
            for (Py_ssize_t q = k0; q < k1; q++) UPD(a, X0[r * d + q], Pj[2 * L * q + l]);   \
            acc[os * r + l] = a;                                                             \
        }                                                                                    \
    }
    #define FASTML_DT_TILES(OP, UPD)                                                         \
    FASTML_DT_TILE(fastml_dt_##OP##8, double, 4, UPD)                                        \
    FASTML_DT_TILE(fastml_dt_##OP##16, float, 8, UPD)
    #endif
    FASTML_DT_TILES(sq, FASTML_DT_SQ)
    FASTML_DT_TILES(abs, FASTML_DT_ABS)
    FASTML_DT_TILES(dot, FASTML_DT_DOT)
    FASTML_DT_TILES(pow3, FASTML_DT_POW3)
    FASTML_DT_TILES(pow4, FASTML_DT_POW4)
    FASTML_DT_TILES(max, FASTML_DT_MAX)
    /* braycurtis: sum |a - b| / sum |a + b| over k0 <= k < k1, the ratio taken
       in the registers (so over one feature block only). Two sums per pair: the
       16 accumulators of a whole panel would spill, so each half (L lanes) in
       turn with 8. 0/0 is NaN and x/0 inf, as in SciPy. Mirrors _panel.py. */
    #if FASTML_DT_VEXT
    #define FASTML_DT_BRAY(NAME, T, VTT, ITT, L, ABSMASK)                                    \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* Pj, Py_ssize_t k0,           \
                            Py_ssize_t k1, T* acc, Py_ssize_t os) {                          \
        typedef VTT VT; typedef ITT IT;                                                      \
        const T* X1 = X0 + d; const T* X2 = X1 + d; const T* X3 = X2 + d;                    \
        const IT abs_ = (IT){0} + ABSMASK;                                                   \
        for (int h = 0; h < 2; h++) {                                                        \
            VT s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, t0 = {0}, t1 = {0}, t2 = {0}, t3 = {0};\
            VT p; T x;                                                                       \
            for (Py_ssize_t q = k0; q < k1; q++) {                                           \
                memcpy(&p, Pj + 2 * L * q + h * L, sizeof(p));                               \
                x = X0[q]; s0 += (VT)((IT)(x - p) & abs_); t0 += (VT)((IT)(x + p) & abs_);   \
                x = X1[q]; s1 += (VT)((IT)(x - p) & abs_); t1 += (VT)((IT)(x + p) & abs_);   \
                x = X2[q]; s2 += (VT)((IT)(x - p) & abs_); t2 += (VT)((IT)(x + p) & abs_);   \
                x = X3[q]; s3 += (VT)((IT)(x - p) & abs_); t3 += (VT)((IT)(x + p) & abs_);   \
            }                                                                                \
            s0 = s0 / t0; s1 = s1 / t1; s2 = s2 / t2; s3 = s3 / t3;                          \
            memcpy(acc + h * L, &s0, sizeof(VT));                                            \
            memcpy(acc + os + h * L, &s1, sizeof(VT));                                       \
            memcpy(acc + 2 * os + h * L, &s2, sizeof(VT));                                   \
            memcpy(acc + 3 * os + h * L, &s3, sizeof(VT));                                   \
        }                                                                                    \
    }
    FASTML_DT_BRAY(fastml_dt_bray8, double, fastml_dt_v4d, fastml_dt_v4l, 4, 0x7FFFFFFFFFFFFFFFLL)
    FASTML_DT_BRAY(fastml_dt_bray16, float, fastml_dt_v8f, fastml_dt_v8i, 8, 0x7FFFFFFF)
    #else
    #define FASTML_DT_BRAY(NAME, T, L)                                                       \
    static inline void NAME(const T* X0, Py_ssize_t d, const T* Pj, Py_ssize_t k0,           \
                            Py_ssize_t k1, T* acc, Py_ssize_t os) {                          \
        for (int r = 0; r < 4; r++) for (int l = 0; l < 2 * L; l++) {                       \
            T s = 0, t = 0;                                                                  \
            for (Py_ssize_t q = k0; q < k1; q++) {                                           \
                s += (T)fabs((double)(X0[r * d + q] - Pj[2 * L * q + l]));                   \
                t += (T)fabs((double)(X0[r * d + q] + Pj[2 * L * q + l]));                   \
            }                                                                                \
            acc[os * r + l] = s / t;                                                         \
        }                                                                                    \
    }
    FASTML_DT_BRAY(fastml_dt_bray8, double, 4)
    FASTML_DT_BRAY(fastml_dt_bray16, float, 8)
    #endif
    """
    void fastml_dt_sq8(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, double*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_abs8(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, double*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_dot8(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, double*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_pow38(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, double*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_pow48(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, double*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_max8(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, double*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_bray8(const double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t,
                         double*, Py_ssize_t) noexcept nogil
    void fastml_dt_sq16(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_abs16(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_dot16(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_pow316(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_pow416(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_max16(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                           Py_ssize_t) noexcept nogil
    void fastml_dt_bray16(const float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, float*,
                          Py_ssize_t) noexcept nogil


cdef enum:  # panel reductions
    OP_SQ
    OP_ABS
    OP_DOT
    OP_POW3
    OP_POW4
    OP_MAX
    OP_BRAY     # braycurtis' ratio, in one feature block

cdef enum:  # what a panel metric does with its reduction s
    FIN_ID
    FIN_SQRT
    FIN_CBRT
    FIN_ROOT4
    FIN_COSINE

# Rows of XA per parallel task, panels per cache block (32 x 8 rows of XB:
# 128 KiB of float64 at n = 64), features per float32 block (sums of float32
# terms are added in float64 every 128 features: the error stays near 1e-6).
cdef Py_ssize_t PANEL_BI = 32
cdef Py_ssize_t PANEL_PJ = 32
cdef Py_ssize_t PANEL_KB32 = 128


cdef inline void _panel_tile(int op, const floating* X0, Py_ssize_t d, const floating* Pj,
                             Py_ssize_t k0, Py_ssize_t k1, floating* acc,
                             Py_ssize_t os) noexcept nogil:
    """acc[os r + l] = reduction over k0 <= k < k1 for row r of X0 and lane l of Pj."""
    if floating is double:
        if op == OP_SQ:
            fastml_dt_sq8(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_ABS:
            fastml_dt_abs8(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_DOT:
            fastml_dt_dot8(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_POW3:
            fastml_dt_pow38(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_POW4:
            fastml_dt_pow48(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_BRAY:
            fastml_dt_bray8(X0, d, Pj, k0, k1, acc, os)
        else:
            fastml_dt_max8(X0, d, Pj, k0, k1, acc, os)
    else:
        if op == OP_SQ:
            fastml_dt_sq16(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_ABS:
            fastml_dt_abs16(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_DOT:
            fastml_dt_dot16(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_POW3:
            fastml_dt_pow316(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_POW4:
            fastml_dt_pow416(X0, d, Pj, k0, k1, acc, os)
        elif op == OP_BRAY:
            fastml_dt_bray16(X0, d, Pj, k0, k1, acc, os)
        else:
            fastml_dt_max16(X0, d, Pj, k0, k1, acc, os)


cdef inline bint _panel_sums(int op, const floating* X0, Py_ssize_t n, const floating* Pj,
                             Py_ssize_t W, floating* acc, double* tot) noexcept nogil:
    """The reductions for rows r of X0 and lanes l of the panel at Pj: in acc[W r + l]
    (returns False) or, over several float32 feature blocks, in tot (returns True)."""
    cdef Py_ssize_t kb = n if floating is double else PANEL_KB32
    cdef Py_ssize_t k0, q
    _panel_tile(op, X0, n, Pj, 0, min(n, kb), acc, W)
    if n <= kb:
        return False
    for q in range(4 * W):
        tot[q] = acc[q]
    k0 = kb
    while k0 < n:
        _panel_tile(op, X0, n, Pj, k0, min(n, k0 + kb), acc, W)
        if op == OP_MAX:
            for q in range(4 * W):
                tot[q] = acc[q] if acc[q] > tot[q] else tot[q]
        else:
            for q in range(4 * W):
                tot[q] += acc[q]
        k0 += kb
    return True


cdef inline void _panel_write(int fin, const floating* acc, const double* tot, bint multi,
                              Py_ssize_t a, Py_ssize_t W, Py_ssize_t l0, Py_ssize_t l1,
                              floating* o, double na, const double* nb) noexcept nogil:
    """o[l] = fin(reduction of row a, lane l) for l0 <= l < l1; nb[l]: XB's norms (cosine).

    One loop per case, so that each vectorises (a test per element costs as
    much as the float32 tile itself)."""
    cdef Py_ssize_t l
    cdef double x, c, den
    cdef const floating* s = acc + a * W
    cdef const double* t = tot + a * W
    if multi:
        for l in range(l0, l1):
            o[l] = <floating>t[l]
        s = o  # the fin cases below read the (rounded) sums back: only float32 takes this
        if fin == FIN_ID:
            return
    if fin == FIN_ID:
        for l in range(l0, l1):
            o[l] = s[l]
    elif fin == FIN_SQRT:
        for l in range(l0, l1):
            o[l] = _sqrt(s[l])
    elif fin == FIN_CBRT:
        for l in range(l0, l1):
            o[l] = <floating>_cbrt(s[l])
    elif fin == FIN_ROOT4:
        for l in range(l0, l1):
            o[l] = _sqrt(_sqrt(s[l]))
    else:  # cosine, SciPy's form: norms first (no overflow of uu * vv); a zero
        # vector gives NaN; clip to [-1, 1], NaN passes through
        for l in range(l0, l1):
            den = na * nb[l]
            c = s[l] / den
            if c > 1:
                c = 1
            elif c < -1:
                c = -1
            o[l] = <floating>(1 - c if den != 0 else NAN)


cdef void _panel_cdist_rows(
    int op, int fin, const floating* X4, Py_ssize_t mA, const floating* P, Py_ssize_t n_pan,
    Py_ssize_t n, Py_ssize_t mB, floating* out, const double* norms, Py_ssize_t ib,
) noexcept nogil:
    """out[i, :] for the rows i of row block ib (X4: XA padded to a multiple of 4 rows)."""
    cdef Py_ssize_t W = 8 if floating is double else 16
    cdef floating acc[64]
    cdef double tot[64]
    cdef double zeros[16]
    cdef Py_ssize_t i0 = ib * PANEL_BI
    cdef Py_ssize_t i1 = min(i0 + PANEL_BI, mA)
    cdef Py_ssize_t jp0 = 0, jp, i, j, a
    cdef bint multi
    for a in range(16):
        zeros[a] = 0
    # The sums are the distances: whole tiles go straight to out. (Not for FIN_SQRT:
    # GCC's loop taking the root in place, peeled to align, reads across the tile's
    # stores and stalls; through scratch it does not.)
    cdef bint direct = fin == FIN_ID and (floating is double or n <= PANEL_KB32)
    while jp0 < n_pan:
        for i in range(i0, i1, 4):
            for jp in range(jp0, min(jp0 + PANEL_PJ, n_pan)):
                j = jp * W
                if direct and i + 4 <= mA and j + W <= mB:
                    _panel_tile(op, X4 + i * n, n, P + jp * n * W, 0, n, out + i * mB + j, mB)
                    continue
                multi = _panel_sums(op, X4 + i * n, n, P + jp * n * W, W, acc, tot)
                for a in range(min(4, mA - i)):
                    _panel_write(fin, acc, tot, multi, a, W, 0, min(W, mB - j),
                                 out + (i + a) * mB + j,
                                 norms[i + a] if norms != NULL else 0,
                                 norms + mA + j if norms != NULL else zeros)
        jp0 += PANEL_PJ


cdef void _panel_pdist_rows(
    int op, int fin, const floating* X4, Py_ssize_t m, const floating* P, Py_ssize_t n_pan,
    Py_ssize_t n, floating* out, const double* norms, Py_ssize_t g,
) noexcept nogil:
    """Condensed entries of rows 4g .. 4g + 3 against all later rows."""
    cdef Py_ssize_t W = 8 if floating is double else 16
    cdef floating acc[64]
    cdef double tot[64]
    cdef double zeros[16]
    cdef Py_ssize_t i = 4 * g
    cdef Py_ssize_t jp, a, ii, j
    cdef bint multi
    for a in range(16):
        zeros[a] = 0
    for jp in range((i + 1) // W, n_pan):
        multi = _panel_sums(op, X4 + i * n, n, P + jp * n * W, W, acc, tot)
        j = jp * W
        for a in range(min(4, m - i)):
            ii = i + a
            # row ii's condensed entries start at ii * m - ii (ii + 1) / 2 - ii - 1 + (ii + 1)
            _panel_write(fin, acc, tot, multi, a, W, max(0, ii + 1 - j), min(W, m - j),
                         out + ii * m - (ii * (ii + 1)) // 2 - ii - 1 + j,
                         norms[ii] if norms != NULL else 0,
                         norms + j if norms != NULL else zeros)


cdef void _panel_run(
    int op, int fin, const floating* X4, Py_ssize_t mA, const floating* P, Py_ssize_t n_pan,
    Py_ssize_t n, Py_ssize_t mB, floating* out, const double* norms, bint is_pdist, int nt,
) noexcept nogil:
    """norms: row norms of XA then XB (cosine), else NULL."""
    cdef Py_ssize_t t
    cdef Py_ssize_t n_tasks = (mA + 3) // 4 if is_pdist else (mA + PANEL_BI - 1) // PANEL_BI
    for t in prange(n_tasks, schedule="dynamic", num_threads=clamp_threads(nt, n_tasks)):
        if is_pdist:  # groups in order: the long rows first, dynamic schedule balances
            _panel_pdist_rows(op, fin, X4, mA, P, n_pan, n, out, norms, t)
        else:
            _panel_cdist_rows(op, fin, X4, mA, P, n_pan, n, mB, out, norms, t)


def _panel_op(int metric, int pow_case, Py_ssize_t n, Py_ssize_t itemsize):
    """(op, fin) of a panel metric, or None (n features of itemsize bytes)."""
    if metric == SQEUCLIDEAN:
        return OP_SQ, FIN_ID
    if metric == EUCLIDEAN:
        return OP_SQ, FIN_SQRT
    if metric == CITYBLOCK:
        return OP_ABS, FIN_ID
    if metric == CHEBYSHEV:
        return OP_MAX, FIN_ID
    if metric == COSINE:
        return OP_DOT, FIN_COSINE
    if metric == DOT:
        return OP_DOT, FIN_ID
    if metric == MINKOWSKI and pow_case == POW_3:
        return OP_POW3, FIN_CBRT
    if metric == MINKOWSKI and pow_case == POW_4:
        return OP_POW4, FIN_ROOT4
    if metric == BRAYCURTIS and (itemsize == 8 or n <= PANEL_KB32):
        return OP_BRAY, FIN_ID  # the tile takes the ratio: one feature block only
    return None


# ----------------------------------------------------------------------------
# mahalanobis: the direct quadratic form d^T VI d of d = a - b, in float64, as
# d^T U d with U = _metrics.mahalanobis_upper(VI) (upper triangle of VI + VI^T:
# half the work). For one row a and a block of rows b, the differences form a
# matrix D (pairs x features, zero-padded to n4 columns) and T = D U^T holds
# U d of every pair: the dot-product micro-kernel computes it 4 pairs x 4 rows
# of U at a time from the diagonal on; then d^T U d = sum_r D[p, r] T[p, r].
# Mirrors _numba/distance.py. O(n^2) per pair but exact in d: transforming the
# points (VI = L L^T) loses digits for near points far from the origin.
# ----------------------------------------------------------------------------

cdef Py_ssize_t MAH_PB = 64  # pairs per block of differences (a multiple of 4)


cdef inline void _mahalanobis_row(
    const floating* XA, const floating* XB, Py_ssize_t i, Py_ssize_t mA, Py_ssize_t mB,
    Py_ssize_t n, const double* U, Py_ssize_t n4, double* D, floating* out, bint is_pdist,
) noexcept nogil:
    cdef Py_ssize_t j0 = i + 1 if is_pdist else 0
    cdef floating* o = out + (i * mA - (i * (i + 1)) // 2 - i - 1 if is_pdist else i * mB)
    cdef const floating* a = XA + i * n
    cdef const floating* b
    cdef double acc[16]
    cdef double sq[4]
    cdef double* dp
    cdef Py_ssize_t b0 = j0, P, p, c, r, q, e
    while b0 < mB:
        P = min(MAH_PB, mB - b0)
        for p in range(P):
            b = XB + (b0 + p) * n
            for c in range(n):
                D[p * n4 + c] = <double>a[c] - <double>b[c]
        for p in range(0, P, 4):  # rows P.. of D hold old or zero values: unused
            dp = D + p * n4
            sq[0] = sq[1] = sq[2] = sq[3] = 0
            for r in range(0, n4, 4):
                for q in range(16):
                    acc[q] = 0
                _mk(<DotT*>NULL, dp, dp + n4, dp + 2 * n4, dp + 3 * n4, U + r * n4,
                    U + (r + 1) * n4, U + (r + 2) * n4, U + (r + 3) * n4, <double*>NULL,
                    r, n4, acc, acc)  # U's rows r.. are zero before column r
                for e in range(4):
                    for q in range(4):
                        sq[e] += dp[e * n4 + r + q] * acc[4 * e + q]
            for e in range(min(4, P - p)):  # a negative form gives NaN, as in SciPy
                o[b0 + p + e] = <floating>(sqrt(sq[e]) if sq[e] >= 0 else NAN)
        b0 += P


cdef void _mahalanobis_run(
    const floating* XA, const floating* XB, Py_ssize_t mA, Py_ssize_t mB, Py_ssize_t n,
    const double* U, Py_ssize_t n4, floating* out, bint is_pdist, int nt,
) noexcept nogil:
    cdef Py_ssize_t i
    cdef double* D = NULL
    with parallel(num_threads=clamp_threads(nt, mA)):
        D = <double*>calloc(MAH_PB * n4, sizeof(double))  # per thread; padding stays 0
        if D != NULL:
            for i in prange(mA, schedule="dynamic"):
                _mahalanobis_row(XA, XB, i, mA, mB, n, U, n4, D, out, is_pdist)
            free(D)


# ----------------------------------------------------------------------------
# Unweighted jaccard on bit sets of the nonzero features (_metrics.jaccard_bits)
# ----------------------------------------------------------------------------

cdef inline double _jaccard_words(const uint64_t* a, const uint64_t* b,
                                  Py_ssize_t words) noexcept nogil:
    cdef int64_t num = 0, den = 0
    cdef Py_ssize_t k
    for k in range(words):
        num += fastml_popcount64(a[k] ^ b[k])  # exactly one of the two is nonzero
        den += fastml_popcount64(a[k] | b[k])  # either is nonzero
    return <double>num / den if den != 0 else 0.0


cdef void _jaccard_bits_run(
    const uint64_t* A, const uint64_t* B, Py_ssize_t mA, Py_ssize_t mB, Py_ssize_t words,
    floating* out, bint is_pdist, int nt,
) noexcept nogil:
    """out[i, j] (condensed for pdist, B is A) for every row i of A."""
    cdef Py_ssize_t i, j
    cdef floating* o
    for i in prange(mA, schedule="dynamic", chunksize=8, num_threads=clamp_threads(nt, mA)):
        if is_pdist:
            o = out + i * mA - (i * (i + 1)) // 2 - i - 1  # o[j]: pair (i, j)
            for j in range(i + 1, mA):
                o[j] = <floating>_jaccard_words(A + i * words, A + j * words, words)
        else:
            o = out + i * mB
            for j in range(mB):
                o[j] = <floating>_jaccard_words(A + i * words, B + j * words, words)


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
    job.equal_w = 0
    job.shared_div = 0
    job.BI = TILE_ROWS_A
    BJ = TILE_BYTES_B // max(1, <Py_ssize_t>(n * itemsize))
    BJ = max(TILE_MIN_B, min(TILE_MAX_B, BJ - BJ % 4))
    job.BJ = BJ
    job.n_tiles_b = max(1, (mB + BJ - 1) // BJ)
    job.kblock = max(1, n) if itemsize == 8 else FLOAT32_BLOCK
    return job


def _equal_weights(w):
    w = np.asarray(w)
    return w.shape[0] > 0 and bool((w == w[0]).all())


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


def _pow_array(const double[::1] t, double p, double[::1] out):
    """``out[i] = _pow_pos(t[i], p)`` (for tests of the vectorised power)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(t.shape[0]):
            out[i] = _pow_pos(t[i], p)


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
    job.equal_w = _equal_weights(w)
    if job.metric == CANBERRA:
        job.shared_div = canberra_shares_division(np.asarray(w), np.asarray(XA), np.asarray(XB))
    cdef int nt = threads_for(mA * mB * max(n, 1))
    cdef double* norms = NULL
    if mA == 0 or mB == 0:
        return None
    cdef const floating* pa = _ptr2(XA)
    cdef const floating* pb = _ptr2(XB)
    cdef const floating* pw = _ptr1(w)
    cdef const floating* pvi = _ptr2(VI)
    cdef floating* pout = &out[0, 0]
    cdef const uint64_t[:, ::1] bits_a, bits_b
    cdef const double[:, ::1] U
    cdef const floating[:, ::1] X4
    cdef const floating[:, :, ::1] P
    cdef int op, fin
    if job.metric == MAHALANOBIS:
        U = mahalanobis_upper(np.asarray(VI))
        with nogil:
            _mahalanobis_run(pa, pb, mA, mB, n, &U[0, 0], U.shape[0], pout, False, nt)
        return None
    panel = _panel_op(job.metric, job.pow_case, n, sizeof(floating))
    if panel is not None:
        op, fin = panel
        X4 = rows4(np.asarray(XA))
        P = pack_panels(np.asarray(XB))
        if fin == FIN_COSINE:
            norms = <double*>malloc(sizeof(double) * (mA + mB))
            if norms == NULL:
                raise MemoryError()
        try:
            with nogil:
                if norms != NULL:
                    _row_norms(pa, mA, n, norms)
                    _row_norms(pb, mB, n, norms + mA)
                _panel_run(op, fin, &X4[0, 0], mA, &P[0, 0, 0], P.shape[0], n, mB, pout, norms,
                           False, nt)
        finally:
            free(norms)
        return None
    if job.metric == JACCARD:
        bits_a = jaccard_bits(np.asarray(XA), np.asarray(w))
        if bits_a is not None:
            bits_b = jaccard_bits(np.asarray(XB), np.asarray(w))
            with nogil:
                _jaccard_bits_run(&bits_a[0, 0], &bits_b[0, 0], mA, mB, bits_a.shape[1], pout,
                                  False, nt)
            return None
    with nogil:
        _run(&job, pa, pb, pw, pvi, pout, nt)
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
    job.equal_w = _equal_weights(w)
    if job.metric == CANBERRA:
        job.shared_div = canberra_shares_division(np.asarray(w), np.asarray(X))
    cdef int nt = threads_for(m * m // 2 * max(n, 1))
    cdef double* norms = NULL
    if m < 2:
        return None
    cdef const floating* px = _ptr2(X)
    cdef const floating* pw = _ptr1(w)
    cdef const floating* pvi = _ptr2(VI)
    cdef floating* pout = &out[0]
    cdef const uint64_t[:, ::1] bits
    cdef const double[:, ::1] U
    cdef const floating[:, ::1] X4
    cdef const floating[:, :, ::1] P
    cdef int op, fin
    if job.metric == MAHALANOBIS:
        U = mahalanobis_upper(np.asarray(VI))
        with nogil:
            _mahalanobis_run(px, px, m, m, n, &U[0, 0], U.shape[0], pout, True, nt)
        return None
    panel = _panel_op(job.metric, job.pow_case, n, sizeof(floating))
    if panel is not None:
        op, fin = panel
        X4 = rows4(np.asarray(X))
        P = pack_panels(np.asarray(X))
        if fin == FIN_COSINE:
            norms = <double*>malloc(sizeof(double) * m)
            if norms == NULL:
                raise MemoryError()
        try:
            with nogil:
                if norms != NULL:
                    _row_norms(px, m, n, norms)
                _panel_run(op, fin, &X4[0, 0], m, &P[0, 0, 0], P.shape[0], n, m, pout, norms,
                           True, nt)
        finally:
            free(norms)
        return None
    if job.metric == JACCARD:
        bits = jaccard_bits(np.asarray(X), np.asarray(w))
        if bits is not None:
            with nogil:
                _jaccard_bits_run(&bits[0, 0], &bits[0, 0], m, m, bits.shape[1], pout, True, nt)
            return None
    with nogil:
        _run(&job, px, px, pw, pvi, pout, nt)
    return None
