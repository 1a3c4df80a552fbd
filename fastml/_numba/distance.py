"""Numba distance kernels. Mirrors ``src_cython/distance.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.distance`` (the oracle),
``fastml._numpy.distance`` and ``fastml._cython.distance``.

How a kernel is built
---------------------
Three engines, each metric on the fastest that fits it:

* Panels (:mod:`fastml._numba._panel`, LLVM IR micro-kernels) for the metrics
  that reduce one sum or a maximum of a per-feature term: sqeuclidean,
  euclidean (and seuclidean, weighted euclidean), cityblock, chebyshev,
  minkowski p = 3 and 4, cosine (and correlation), dot (the boolean
  dissimilarities' ``sum u v``, see :mod:`fastml._metrics`), hamming with equal
  weights (a count of mismatches, then scaled), braycurtis in one feature
  block (two sums; the tile stores their ratio). XB is packed into panels
  of 8 (float64) or 16 (float32) rows, feature-major; a tile of 4 rows of XA x
  one panel keeps 8 vector accumulators (lanes = rows of XB) in registers: no
  horizontal sums, no spills on AVX2. In cdist a whole tile is stored
  straight into ``out`` and its ``fin`` (sqrt, the vectorised
  :func:`fastml._numba._vmath.cbrt`, the cosine formula) applied there: the
  copy through a scratch tile had cost as much as the sums at 16 features
  (4000 x 4000 x 64 sqeuclidean: ~65 -> ~55 ms); edge tiles, pdist and float32
  sums over several feature blocks still go through scratch. Rows of XA go
  to threads in blocks of 32; XB is walked in blocks of 32 panels that stay in
  cache.
* The generic 4 x 4 register tile (:func:`_tile44`) for the others: a metric
  is two tiny inline functions, ``upd`` folding one feature into a pair of
  accumulators ``(s, r)`` (``r``: the denominator of braycurtis and jaccard)
  and ``fin``; sixteen reductions vectorised across the features
  (``reassoc``), each loaded value serving four of them; an optional ``post``
  over the finished rows. minkowski with p = 0.5 and 1.5 uses sqrt per term.
  float64 canberra whose inputs pass
  :func:`fastml._metrics.canberra_shares_division` (finite, magnitudes within
  a wide range) has its own tile (:func:`_tile44_canberra`): two terms per
  division, the divider being its bottleneck (4000 x 4000 x 64: ~0.24 ->
  ~0.17 s).
* Pair by pair: minkowski with any other p (the vectorised
  :func:`fastml._numba._vmath.pow_pos` per term; ``a ** p`` was a libm call
  per term, slower than SciPy's loop), jensenshannon on rows divided by their
  sums (the vectorised :func:`fastml._numba._vmath.log_pos` per term: 3x
  faster than np.log; in the 4 x 4 tile its 16 inlined copies took 5 minutes
  to compile), mahalanobis (d^T VI d by blocks of
  pairs with the dot-product tile, see below), unweighted jaccard on bit sets
  of the nonzero features (:func:`fastml._metrics.jaccard_bits`, popcounts).

pdist runs the same engines over groups of four rows against all later rows,
groups dealt to threads from both ends of the triangle so that the static
schedule balances.

Each metric has a small ``@jit(parallel=True)`` driver per kernel (cdist,
pdist) that names its building blocks: Numba caches a parallel function on
disk only when it is a module-level function (not a closure), and compiles
only the metrics that are used (a few seconds per metric and dtype, once per
machine). The summation order of each output element is fixed, so results do
not depend on the thread count.

Precision: each pair is reduced in the inputs' dtype (inputs whose squares
would leave float32's range are computed in float64 by the API layer). A
panel lane sums its pair's terms in feature order; float32 panel sums are
added in float64 every 128 features, so their error stays near 1e-6. The
tile's ``reassoc`` reductions run in 8 or 16 partial sums. minkowski with a
general p and mahalanobis are evaluated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .._metrics import (
    CANBERRA_SHARED_EPS,
    canberra_shares_division,
    jaccard_bits,
    mahalanobis_upper,
    pack_panels,
    rows4,
)
from ._bits import popcount
from ._jit import apply_threads, jit
from ._panel import (
    tile_abs,
    tile_braycurtis,
    tile_dot,
    tile_max,
    tile_ne,
    tile_pow3,
    tile_pow4,
    tile_sq,
    tile_sq_root,
)
from ._vmath import cbrt, log_pos, pow_pos

__all__ = ["cdist", "cdist_callable", "pdist", "pdist_callable", "warmup"]

_BI = 32  # XA rows per parallel task (cdist)
_BJ = 128  # XB rows per cache block (cdist)


# ----------------------------------------------------------------------------
# Metric building blocks: upd(s, r, a, b, w_k, p) -> (s, r);
# fin(s, r, p, ra, rb) -> distance. ra/rb: per-row statistics (cosine's norms).
# ----------------------------------------------------------------------------


@jit(inline="always")
def _upd_pow_half(s, r, a, b, wk, p):
    return s + np.sqrt(abs(a - b)), r


@jit(inline="always")
def _upd_pow15(s, r, a, b, wk, p):
    t = abs(a - b)
    return s + t * np.sqrt(t), r


@jit(inline="always")
def _upd_pow(s, r, a, b, wk, p):
    # float64 s and p (see _scalars); pow_pos vectorises, a ** p is a libm call per term
    return s + pow_pos(np.float64(abs(a - b)), p), r


@jit(inline="always")
def _upd_dot(s, r, a, b, wk, p):
    return s + a * b, r


@jit(inline="always")
def _upd_canberra(s, r, a, b, wk, p):
    den = abs(a) + abs(b)
    return s + (wk * abs(a - b) / den if den != 0 else wk - wk), r  # w is finite


@jit(inline="always")
def _upd_braycurtis(s, r, a, b, wk, p):
    return s + abs(a - b), r + abs(a + b)


@jit(inline="always")
def _upd_hamming(s, r, a, b, wk, p):
    return s + (wk if a != b else wk - wk), r


@jit(inline="always")
def _upd_jaccard(s, r, a, b, wk, p):
    nza = a != 0
    nzb = b != 0
    return s + (wk if nza != nzb else wk - wk), r + (wk if nza or nzb else wk - wk)


@jit(inline="always")
def _js_term(a, m, z):
    # a log(a / m), 0 for a = 0 (and NaN); rows already divided by their sums.
    # log_pos vectorises (np.log is a libm call per term); a / m > 0 where
    # a > 0, and inf or NaN pass through the select.
    t = np.float64(a) / np.float64(m)
    lg = log_pos(t) if t < np.inf else t
    return a * lg if a > z else z


@jit(inline="always")
def _upd_jensenshannon(s, r, a, b, wk, p):
    m = (a + b) / p  # p is 2 here
    z = wk - wk
    return s + _js_term(a, m, z) + _js_term(b, m, z), r


@jit(inline="always")
def _fin_id(s, r, p, ra, rb):
    return s


# post(x, p, ra, rb): applied to whole rows of the output after the tiles, in a
# loop LLVM vectorises (scalar sqrt or division per pair in the tile costs ~25%).
@jit(inline="always")
def _post_none(x, p, ra, rb):
    return x


@jit(inline="always")
def _post_sqrt(x, p, ra, rb):
    return np.sqrt(x)


@jit(inline="always")
def _post_root(x, p, ra, rb):
    return x ** (1 / p)


@jit(inline="always")
def _post_cbrt(x, p, ra, rb):
    return cbrt(np.float64(x))  # vectorised (x ** (1/3) is a libm call per pair)


@jit(inline="always")
def _post_scale(x, p, ra, rb):
    return x * p  # hamming: the mismatches times the weight of one (_panel_scalar)


@jit(inline="always")
def _post_half_sqrt(x, p, ra, rb):
    # jensenshannon (p is 2); a sum rounded a hair below 0 is 0 (NaN stays NaN)
    return np.sqrt((x if not x < p - p else p - p) / p)


@jit(inline="always")
def _post_root4(x, p, ra, rb):
    return np.sqrt(np.sqrt(x))


@jit(inline="always")
def _post_square(x, p, ra, rb):
    return x * x


@jit(inline="always")
def _post_cbrt_squared(x, p, ra, rb):
    c = cbrt(np.float64(x))
    return c * c


@jit(inline="always")
def _post_cosine(x, p, ra, rb):
    return _fin_cosine(x, x, p, ra, rb)


@jit(inline="always")
def _fin_cosine(s, r, p, ra, rb):
    c = s / (ra * rb)  # a zero vector gives 0/0 = NaN, as in SciPy
    one = p / p  # p is 2 here: a 1 of the inputs' dtype (a literal 1 would promote to float64)
    if c > one:
        c = one
    elif c < -one:
        c = -one
    return one - c


@jit(inline="always")
def _fin_ratio(s, r, p, ra, rb):
    return s / r


@jit(inline="always")
def _fin_jaccard(s, r, p, ra, rb):
    return s / r if r != 0 else r


# ----------------------------------------------------------------------------
# Generic tiles and loops (inlined into every driver).
# ----------------------------------------------------------------------------


@jit(inline="always")
def _one(XA, XB, i, j, w, p, z, upd):
    s = z
    r = z
    for k in range(XA.shape[1]):
        s, r = upd(s, r, XA[i, k], XB[j, k], w[k], p)
    return s, r


@jit(inline="always")
def _cdist_pairs_row(XA, XB, out, i, w, p, z, upd, post):
    """out[i, :] pair by pair (the metrics whose terms are heavy: see the module docstring)."""
    for j in range(XB.shape[0]):
        s, r = _one(XA, XB, i, j, w, p, z, upd)
        out[i, j] = post(s, p, z, z)


@jit(inline="always")
def _pdist_pairs_row(X, out, i, w, p, z, upd, post):
    """Row i's pairs (i, j > i) of the condensed ``out``, pair by pair."""
    m = X.shape[0]
    base = i * m - i * (i + 1) // 2 - i - 1
    for j in range(i + 1, m):
        s, r = _one(X, X, i, j, w, p, z, upd)
        out[base + j] = post(s, p, z, z)


@jit(inline="always")
def _tile44(XA, XB, i, j, w, p, z, upd, k0=0):
    """Accumulators (s, r) of rows i..i+3 of XA against rows j..j+3 of XB.

    Returned flattened: s of pair (i + a, j + b) at index 4a + b, its r at 16 + 4a + b.
    Sixteen independent reductions: each value loaded serves four of them.
    Features k0.. only (mahalanobis' triangular form starts later).
    """
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = s20 = s21 = s22 = s23 = s30 = s31 = s32 = (
        s33
    ) = z
    r00 = r01 = r02 = r03 = r10 = r11 = r12 = r13 = r20 = r21 = r22 = r23 = r30 = r31 = r32 = (
        r33
    ) = z
    for k in range(k0, XA.shape[1]):
        wk = w[k]
        a0 = XA[i, k]
        a1 = XA[i + 1, k]
        a2 = XA[i + 2, k]
        a3 = XA[i + 3, k]
        b = XB[j, k]
        s00, r00 = upd(s00, r00, a0, b, wk, p)
        s10, r10 = upd(s10, r10, a1, b, wk, p)
        s20, r20 = upd(s20, r20, a2, b, wk, p)
        s30, r30 = upd(s30, r30, a3, b, wk, p)
        b = XB[j + 1, k]
        s01, r01 = upd(s01, r01, a0, b, wk, p)
        s11, r11 = upd(s11, r11, a1, b, wk, p)
        s21, r21 = upd(s21, r21, a2, b, wk, p)
        s31, r31 = upd(s31, r31, a3, b, wk, p)
        b = XB[j + 2, k]
        s02, r02 = upd(s02, r02, a0, b, wk, p)
        s12, r12 = upd(s12, r12, a1, b, wk, p)
        s22, r22 = upd(s22, r22, a2, b, wk, p)
        s32, r32 = upd(s32, r32, a3, b, wk, p)
        b = XB[j + 3, k]
        s03, r03 = upd(s03, r03, a0, b, wk, p)
        s13, r13 = upd(s13, r13, a1, b, wk, p)
        s23, r23 = upd(s23, r23, a2, b, wk, p)
        s33, r33 = upd(s33, r33, a3, b, wk, p)
    return (
        s00,
        s01,
        s02,
        s03,
        s10,
        s11,
        s12,
        s13,
        s20,
        s21,
        s22,
        s23,
        s30,
        s31,
        s32,
        s33,
        r00,
        r01,
        r02,
        r03,
        r10,
        r11,
        r12,
        r13,
        r20,
        r21,
        r22,
        r23,
        r30,
        r31,
        r32,
        r33,
    )


@jit(inline="always")
def _canberra_two(s0, s1, a0, a1, e0, e1, b, wk):
    """Fold the canberra terms of (a0, b) and (a1, b) into s0 and s1 with one division.

    w/d0 = d1 q and w/d1 = d0 q with q = w / (d0 d1): the divider bounds
    canberra, and two products cost less than a second division. ``e`` is
    |a| + eps (eps = ``CANBERRA_SHARED_EPS``): a zero denominator becomes eps
    (its term, 0 * (d1 q), stays 0) at no cost, and any other is |a| + |b|
    exactly, eps being under half an ulp of every nonzero |x|. float64 only, and
    only for inputs that pass :func:`fastml._metrics.canberra_shares_division`
    (d0 d1 and q normal numbers; no NaN or inf to spread to the partner term).
    """
    ab = abs(b)
    d0 = e0 + ab
    d1 = e1 + ab
    q = wk / (d0 * d1)
    return s0 + abs(a0 - b) * (d1 * q), s1 + abs(a1 - b) * (d0 * q)


@jit(inline="always")
def _canberra24(XA, XB, i, j, w, z):
    """canberra sums of rows i, i + 1 of XA against rows j .. j + 3 of XB, two
    terms per division (:func:`_canberra_two`): row i's four, then row i + 1's."""
    eps = CANBERRA_SHARED_EPS
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = z
    for k in range(XA.shape[1]):
        wk = w[k]
        a0 = XA[i, k]
        a1 = XA[i + 1, k]
        e0 = abs(a0) + eps
        e1 = abs(a1) + eps
        s00, s10 = _canberra_two(s00, s10, a0, a1, e0, e1, XB[j, k], wk)
        s01, s11 = _canberra_two(s01, s11, a0, a1, e0, e1, XB[j + 1, k], wk)
        s02, s12 = _canberra_two(s02, s12, a0, a1, e0, e1, XB[j + 2, k], wk)
        s03, s13 = _canberra_two(s03, s13, a0, a1, e0, e1, XB[j + 3, k], wk)
    return s00, s01, s02, s03, s10, s11, s12, s13


@jit(inline="always")
def _tile44_canberra(XA, XB, i, j, w, p, z, upd):
    """:func:`_tile44` for canberra with shared divisions (``upd`` is not used), as
    two 2 x 4 tiles (:func:`_canberra24`; 16 sums and their temporaries would
    spill from AVX2's 16 vector registers). The r half of the result is zero."""
    s00, s01, s02, s03, s10, s11, s12, s13 = _canberra24(XA, XB, i, j, w, z)
    s20, s21, s22, s23, s30, s31, s32, s33 = _canberra24(XA, XB, i + 2, j, w, z)
    # fmt: off
    return (
        s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33,
        z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z,
    )
    # fmt: on


@jit(inline="always")
def _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, upd, fin, post, has_post, tile):
    """out[i, :] for the rows i of XA in row block ``ib``; then ``post`` on those rows."""
    nA = XA.shape[0]
    nB = XB.shape[0]
    i0 = ib * _BI
    i1 = min(i0 + _BI, nA)
    for j0 in range(0, nB, _BJ):
        j1 = min(j0 + _BJ, nB)
        i = i0
        while i + 3 < i1:
            j = j0
            while j + 3 < j1:
                t = tile(XA, XB, i, j, w, p, z, upd)
                out[i, j] = fin(t[0], t[16], p, ra[i], rb[j])
                out[i, j + 1] = fin(t[1], t[17], p, ra[i], rb[j + 1])
                out[i, j + 2] = fin(t[2], t[18], p, ra[i], rb[j + 2])
                out[i, j + 3] = fin(t[3], t[19], p, ra[i], rb[j + 3])
                out[i + 1, j] = fin(t[4], t[20], p, ra[i + 1], rb[j])
                out[i + 1, j + 1] = fin(t[5], t[21], p, ra[i + 1], rb[j + 1])
                out[i + 1, j + 2] = fin(t[6], t[22], p, ra[i + 1], rb[j + 2])
                out[i + 1, j + 3] = fin(t[7], t[23], p, ra[i + 1], rb[j + 3])
                out[i + 2, j] = fin(t[8], t[24], p, ra[i + 2], rb[j])
                out[i + 2, j + 1] = fin(t[9], t[25], p, ra[i + 2], rb[j + 1])
                out[i + 2, j + 2] = fin(t[10], t[26], p, ra[i + 2], rb[j + 2])
                out[i + 2, j + 3] = fin(t[11], t[27], p, ra[i + 2], rb[j + 3])
                out[i + 3, j] = fin(t[12], t[28], p, ra[i + 3], rb[j])
                out[i + 3, j + 1] = fin(t[13], t[29], p, ra[i + 3], rb[j + 1])
                out[i + 3, j + 2] = fin(t[14], t[30], p, ra[i + 3], rb[j + 2])
                out[i + 3, j + 3] = fin(t[15], t[31], p, ra[i + 3], rb[j + 3])
                j += 4
            for jj in range(j, j1):
                for ii in range(i, i + 4):
                    s, r = _one(XA, XB, ii, jj, w, p, z, upd)
                    out[ii, jj] = fin(s, r, p, ra[ii], rb[jj])
            i += 4
        for ii in range(i, i1):
            for jj in range(j0, j1):
                s, r = _one(XA, XB, ii, jj, w, p, z, upd)
                out[ii, jj] = fin(s, r, p, ra[ii], rb[jj])
    if has_post:
        for i in range(i0, i1):
            for j in range(nB):
                out[i, j] = post(out[i, j], p, ra[i], rb[j])


@jit(inline="always")
def _pdist_rows(X, out, rn, w, p, z, q, upd, fin, post, has_post, tile):
    """Condensed entries of rows i = 4q .. 4q + 3 against all later rows, then ``post``."""
    m = X.shape[0]
    i = 4 * q
    i1 = min(i + 4, m)
    # Pairs inside the group of (up to) four rows.
    for a in range(i, i1):
        base = a * m - a * (a + 1) // 2 - a - 1  # out index of (a, j) is base + j
        for jj in range(a + 1, i1):
            s, r = _one(X, X, a, jj, w, p, z, upd)
            out[base + jj] = fin(s, r, p, rn[a], rn[jj])
    if i1 - i == 4:
        base0 = i * m - i * (i + 1) // 2 - i - 1
        base1 = (i + 1) * m - (i + 1) * (i + 2) // 2 - i - 2
        base2 = (i + 2) * m - (i + 2) * (i + 3) // 2 - i - 3
        base3 = (i + 3) * m - (i + 3) * (i + 4) // 2 - i - 4
        j = i + 4
        while j + 3 < m:
            t = tile(X, X, i, j, w, p, z, upd)
            out[base0 + j] = fin(t[0], t[16], p, rn[i], rn[j])
            out[base0 + j + 1] = fin(t[1], t[17], p, rn[i], rn[j + 1])
            out[base0 + j + 2] = fin(t[2], t[18], p, rn[i], rn[j + 2])
            out[base0 + j + 3] = fin(t[3], t[19], p, rn[i], rn[j + 3])
            out[base1 + j] = fin(t[4], t[20], p, rn[i + 1], rn[j])
            out[base1 + j + 1] = fin(t[5], t[21], p, rn[i + 1], rn[j + 1])
            out[base1 + j + 2] = fin(t[6], t[22], p, rn[i + 1], rn[j + 2])
            out[base1 + j + 3] = fin(t[7], t[23], p, rn[i + 1], rn[j + 3])
            out[base2 + j] = fin(t[8], t[24], p, rn[i + 2], rn[j])
            out[base2 + j + 1] = fin(t[9], t[25], p, rn[i + 2], rn[j + 1])
            out[base2 + j + 2] = fin(t[10], t[26], p, rn[i + 2], rn[j + 2])
            out[base2 + j + 3] = fin(t[11], t[27], p, rn[i + 2], rn[j + 3])
            out[base3 + j] = fin(t[12], t[28], p, rn[i + 3], rn[j])
            out[base3 + j + 1] = fin(t[13], t[29], p, rn[i + 3], rn[j + 1])
            out[base3 + j + 2] = fin(t[14], t[30], p, rn[i + 3], rn[j + 2])
            out[base3 + j + 3] = fin(t[15], t[31], p, rn[i + 3], rn[j + 3])
            j += 4
        for jj in range(j, m):
            for a in range(4):
                s, r = _one(X, X, i + a, jj, w, p, z, upd)
                base = (i + a) * m - (i + a) * (i + a + 1) // 2 - (i + a) - 1
                out[base + jj] = fin(s, r, p, rn[i + a], rn[jj])
    if has_post:
        for a in range(i, i1):
            base = a * m - a * (a + 1) // 2 - a - 1
            for jj in range(a + 1, m):
                out[base + jj] = post(out[base + jj], p, rn[a], rn[jj])


@jit(inline="always")
def _balanced(t, n):
    """Map 0, 1, 2, 3, ... to 0, n-1, 1, n-2, ...: equal work per static prange chunk."""
    h = t // 2
    return h if t % 2 == 0 else n - 1 - h


# ----------------------------------------------------------------------------
# Panel loops (_panel.py) for the metrics that reduce one sum (or a maximum):
# sqeuclidean, euclidean, cityblock, chebyshev, minkowski p = 3, 4, cosine.
# ----------------------------------------------------------------------------

_PJ = 32  # panels per cache block (32 x 8 rows of XB: 128 KiB of float64 at n = 64)


@jit(inline="always")
def _panel_sums(tile, is_max, XA, i, P, jp, kb, acc, tot):
    """The reductions for rows i + r of XA and panel jp, lane l: in acc (returned
    False) or, over several feature blocks, in the float64 tot (returned True).

    float32 sums run over blocks of ``kb`` features, added in float64 (the
    error stays near 1e-6 however long the rows); float64: kb = n, one block.
    """
    n = XA.shape[1]
    tile(XA, i, P, jp, 0, min(n, kb), acc, 0, 0)
    if n <= kb:
        return False
    for r in range(4):
        for l in range(P.shape[2]):
            tot[r, l] = acc[r, l]
    for k0 in range(kb, n, kb):
        tile(XA, i, P, jp, k0, min(n, k0 + kb), acc, 0, 0)
        for r in range(4):
            for l in range(P.shape[2]):
                if is_max:
                    tot[r, l] = max(tot[r, l], acc[r, l])
                else:
                    tot[r, l] += acc[r, l]
    return True


@jit(inline="always")
def _write(o, s, p, ra, rb, fin):
    """o[l] = fin(s[l], ...): contiguous 1-D views, so that the loop vectorises."""
    for l in range(o.shape[0]):
        o[l] = fin(s[l], p, ra, rb[l])


@jit(inline="always")
def _cdist_panels(XA, P, out, ra, rb, p, kb, ib, tile, is_max, fin, direct=0):
    """out[i, :] for the rows i of row block ``ib`` (XA: rows padded to a multiple of 4).

    ``direct``: 1 (the sums are the distances), 2 (``fin`` of the sums) or 3
    (their square roots): whole tiles of one feature block are then written
    straight into out, and ``fin`` applied there (the copy through scratch
    cost as much as the sums themselves at 16 features).
    """
    mA = out.shape[0]
    mB = out.shape[1]
    W = P.shape[2]
    acc = np.empty((4, W), XA.dtype)
    tot = np.empty((4, W), np.float64)
    i0 = ib * _BI
    i1 = min(i0 + _BI, mA)
    n = XA.shape[1]
    whole = direct > 0 and n <= kb
    for jp0 in range(0, P.shape[0], _PJ):
        for i in range(i0, i1, 4):
            for jp in range(jp0, min(jp0 + _PJ, P.shape[0])):
                j = jp * W
                nl = min(W, mB - j)
                if whole and i + 4 <= mA and nl == W:
                    if direct == 3:  # euclidean: the tile takes the roots itself
                        tile_sq_root(XA, i, P, jp, 0, n, out, i, j)
                        continue
                    tile(XA, i, P, jp, 0, n, out, i, j)
                    if direct == 2:
                        for a in range(4):
                            o = out[i + a, j : j + W]
                            _write(o, o, p, ra[i + a], rb[j : j + W], fin)
                    continue
                if _panel_sums(tile, is_max, XA, i, P, jp, kb, acc, tot):
                    for a in range(min(4, mA - i)):
                        _write(out[i + a, j : j + nl], tot[a], p, ra[i + a], rb[j : j + nl], fin)
                else:
                    for a in range(min(4, mA - i)):
                        _write(out[i + a, j : j + nl], acc[a], p, ra[i + a], rb[j : j + nl], fin)


@jit(inline="always")
def _pdist_panels(X, P, out, rn, p, kb, q, tile, is_max, fin):
    """Condensed entries of rows i = 4q .. 4q + 3 against all later rows."""
    m = rn.shape[0]
    W = P.shape[2]
    acc = np.empty((4, W), X.dtype)
    tot = np.empty((4, W), np.float64)
    i = 4 * q
    for jp in range((i + 1) // W, P.shape[0]):
        multi = _panel_sums(tile, is_max, X, i, P, jp, kb, acc, tot)
        for a in range(min(4, m - i)):
            ii = i + a
            base = ii * m - ii * (ii + 1) // 2 - ii - 1  # out index of (ii, j) is base + j
            for l in range(max(0, ii + 1 - jp * W), min(W, m - jp * W)):
                x = tot[a, l] if multi else acc[a, l]
                out[base + jp * W + l] = fin(x, p, rn[ii], rn[jp * W + l])


@jit(inline="always")
def _tile_sq(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_sq(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_abs(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_abs(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_dot(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_dot(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_pow3(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_pow3(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_pow4(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_pow4(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_max(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_max(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_ne(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_ne(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(inline="always")
def _tile_braycurtis(X, i, P, jp, k0, k1, acc, r0, c0):
    tile_braycurtis(X, i, P, jp, k0, k1, acc, r0, c0)


@jit(parallel=True)
def _row_norms(X, out, z):
    for i in prange(X.shape[0]):
        s = z
        for k in range(X.shape[1]):
            s += X[i, k] * X[i, k]
        out[i] = np.sqrt(s)


# ----------------------------------------------------------------------------
# Panel drivers: one cdist and one pdist per metric.
# ----------------------------------------------------------------------------


@jit(parallel=True)
def _cdist_sqeuclidean(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_sq, False, _post_none, 1)


@jit(parallel=True)
def _pdist_sqeuclidean(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_sq, False, _post_none)


@jit(parallel=True)
def _cdist_euclidean(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_sq, False, _post_sqrt, 3)


@jit(parallel=True)
def _pdist_euclidean(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_sq, False, _post_sqrt)


@jit(parallel=True)
def _cdist_cityblock(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_abs, False, _post_none, 1)


@jit(parallel=True)
def _pdist_cityblock(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_abs, False, _post_none)


@jit(parallel=True)
def _cdist_chebyshev(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_max, True, _post_none, 1)


@jit(parallel=True)
def _pdist_chebyshev(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_max, True, _post_none)


@jit(parallel=True)
def _cdist_minkowski3(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_pow3, False, _post_cbrt, 2)


@jit(parallel=True)
def _pdist_minkowski3(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_pow3, False, _post_cbrt)


@jit(parallel=True)
def _cdist_minkowski4(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_pow4, False, _post_root4, 2)


@jit(parallel=True)
def _pdist_minkowski4(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_pow4, False, _post_root4)


@jit(parallel=True)
def _cdist_hamming_panel(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_ne, False, _post_scale, 2)


@jit(parallel=True)
def _pdist_hamming_panel(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_ne, False, _post_scale)


@jit(parallel=True)
def _cdist_braycurtis_panel(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_braycurtis, False, _post_none, 1)


@jit(parallel=True)
def _pdist_braycurtis_panel(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_braycurtis, False, _post_none)


@jit(parallel=True)
def _cdist_cosine(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_dot, False, _post_cosine, 2)


@jit(parallel=True)
def _pdist_cosine(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_dot, False, _post_cosine)


@jit(parallel=True)
def _cdist_dot(XA, P, out, ra, rb, p, kb):
    for ib in prange((out.shape[0] + _BI - 1) // _BI):
        _cdist_panels(XA, P, out, ra, rb, p, kb, ib, _tile_dot, False, _post_none, 1)


@jit(parallel=True)
def _pdist_dot(X, P, out, rn, p, kb):
    h = (rn.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_panels(X, P, out, rn, p, kb, _balanced(t, h), _tile_dot, False, _post_none)


# ----------------------------------------------------------------------------
# Drivers: one cdist and one pdist per (metric, variant). Each names its
# building blocks; the loops are the generic ones above.
# ----------------------------------------------------------------------------


@jit(parallel=True)
def _cdist_minkowski_half(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_pow_half, _fin_id, _post_square, True, _tile44
        )


@jit(parallel=True)
def _cdist_minkowski15(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_pow15, _fin_id, _post_cbrt_squared, True, _tile44
        )


# minkowski with a general p: one pair at a time (the per-term pow_pos is heavy,
# so the tile's load reuse gains nothing; its 16 inlined copies took minutes to compile).
@jit(parallel=True)
def _cdist_minkowski(XA, XB, out, ra, rb, w, p, z):
    for i in prange(XA.shape[0]):
        _cdist_pairs_row(XA, XB, out, i, w, p, z, _upd_pow, _post_root)


@jit(parallel=True)
def _cdist_canberra(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_canberra, _fin_id, _post_none, False, _tile44
        )


@jit(parallel=True)
def _cdist_canberra_shared(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_canberra, _fin_id, _post_none, False,
            _tile44_canberra,
        )  # fmt: skip


@jit(parallel=True)
def _cdist_braycurtis(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_braycurtis, _fin_ratio, _post_none,
            False, _tile44,
        )  # fmt: skip


@jit(parallel=True)
def _cdist_hamming(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_hamming, _fin_id, _post_none, False, _tile44
        )


@jit(parallel=True)
def _cdist_jaccard(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_jaccard, _fin_jaccard, _post_none, False, _tile44
        )


# jensenshannon: pair by pair (see the module docstring).
@jit(parallel=True)
def _cdist_jensenshannon(XA, XB, out, ra, rb, w, p, z):
    for i in prange(XA.shape[0]):
        _cdist_pairs_row(XA, XB, out, i, w, p, z, _upd_jensenshannon, _post_half_sqrt)


@jit(parallel=True)
def _pdist_minkowski_half(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_pow_half, _fin_id, _post_square,
            True, _tile44,
        )  # fmt: skip


@jit(parallel=True)
def _pdist_minkowski15(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_pow15, _fin_id, _post_cbrt_squared,
            True, _tile44,
        )  # fmt: skip


@jit(parallel=True)
def _pdist_minkowski(X, out, rn, w, p, z):
    m = X.shape[0]
    for t in prange(m):
        _pdist_pairs_row(X, out, _balanced(t, m), w, p, z, _upd_pow, _post_root)


@jit(parallel=True)
def _pdist_canberra(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_canberra, _fin_id, _post_none, False, _tile44
        )


@jit(parallel=True)
def _pdist_canberra_shared(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_canberra, _fin_id, _post_none, False,
            _tile44_canberra,
        )  # fmt: skip


@jit(parallel=True)
def _pdist_braycurtis(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_braycurtis, _fin_ratio, _post_none,
            False, _tile44,
        )  # fmt: skip


@jit(parallel=True)
def _pdist_hamming(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_hamming, _fin_id, _post_none, False, _tile44
        )


@jit(parallel=True)
def _pdist_jaccard(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_jaccard, _fin_jaccard, _post_none,
            False, _tile44,
        )  # fmt: skip


@jit(parallel=True)
def _pdist_jensenshannon(X, out, rn, w, p, z):
    m = X.shape[0]
    for t in prange(m):
        _pdist_pairs_row(X, out, _balanced(t, m), w, p, z, _upd_jensenshannon, _post_half_sqrt)


# ----------------------------------------------------------------------------
# mahalanobis: the direct quadratic form d^T VI d of d = u - v, in float64.
# d^T VI d = d^T U d with U the upper triangle of VI + VI^T (diagonal: VI's):
# half the work. For one row u and a block of rows v, the differences form a
# matrix D (pairs x features) and T = D U^T holds U d of every pair: the
# generic dot-product tile computes it 4 pairs x 4 rows of U at a time (each
# loaded value serves four sums), from the diagonal on; then
# d^T U d = sum_r D[p, r] T[p, r].
# O(n^2) per pair, but exact in d: forms that transform the points (VI = L L^T,
# ||L^T u - L^T v||) lose digits for near points far from the origin.
# ----------------------------------------------------------------------------

_PB = 64  # pairs per block of differences (a multiple of 4)


@jit(inline="always")
def _quadforms(D, VI, q, P):
    """q[p] = D[p] . (VI D[p]) for p < P; VI is _metrics.mahalanobis_upper's U."""
    n4 = D.shape[1]
    w = VI[0]  # unused by the dot product
    for p in range(0, P, 4):
        s0 = s1 = s2 = s3 = 0.0
        for r in range(0, n4, 4):
            # t[4a + b] = D[p + a] . VI[r + b]; VI's rows r.. are zero before column r
            t = _tile44(D, VI, p, r, w, 0.0, 0.0, _upd_dot, r)
            s0 += D[p, r] * t[0] + D[p, r + 1] * t[1] + D[p, r + 2] * t[2] + D[p, r + 3] * t[3]
            s1 += D[p + 1, r] * t[4] + D[p + 1, r + 1] * t[5] + D[p + 1, r + 2] * t[6]
            s1 += D[p + 1, r + 3] * t[7]
            s2 += D[p + 2, r] * t[8] + D[p + 2, r + 1] * t[9] + D[p + 2, r + 2] * t[10]
            s2 += D[p + 2, r + 3] * t[11]
            s3 += D[p + 3, r] * t[12] + D[p + 3, r + 1] * t[13] + D[p + 3, r + 2] * t[14]
            s3 += D[p + 3, r + 3] * t[15]
        q[p] = s0
        q[p + 1] = s1
        q[p + 2] = s2
        q[p + 3] = s3


@jit(inline="always")
def _mahalanobis_row(XA, XB, i, j0, j1, VI, D, q, out_row, o0):
    """out_row[o0 + j - j0] = sqrt(d^T VI d) of d = XA[i] - XB[j], j0 <= j < j1."""
    n = XA.shape[1]
    for b0 in range(j0, j1, _PB):
        P = min(_PB, j1 - b0)
        for p in range(P):
            for c in range(n):
                D[p, c] = np.float64(XA[i, c]) - np.float64(XB[b0 + p, c])
        _quadforms(D, VI, q, P)
        for p in range(P):
            out_row[o0 + b0 - j0 + p] = np.sqrt(q[p])  # a negative form gives NaN, as in SciPy


@jit(parallel=True)
def _cdist_mahalanobis(XA, XB, out, VI):
    for i in prange(XA.shape[0]):
        D = np.zeros((_PB, VI.shape[1]), np.float64)
        q = np.empty(_PB, np.float64)
        _mahalanobis_row(XA, XB, i, 0, XB.shape[0], VI, D, q, out[i], 0)


@jit(parallel=True)
def _pdist_mahalanobis(X, out, VI):
    m = X.shape[0]
    for t in prange(m):
        i = _balanced(t, m)
        D = np.zeros((_PB, VI.shape[1]), np.float64)
        q = np.empty(_PB, np.float64)
        base = i * m - i * (i + 1) // 2 - i - 1
        _mahalanobis_row(X, X, i, i + 1, m, VI, D, q, out, base + i + 1)


# ----------------------------------------------------------------------------
# Unweighted jaccard on bit sets of the nonzero features (_metrics.jaccard_bits).
# ----------------------------------------------------------------------------


@jit(inline="always")
def _jaccard_words(A, B, i, j):
    num = 0
    den = 0
    for k in range(A.shape[1]):
        x = A[i, k]
        y = B[j, k]
        num += popcount(x ^ y)  # exactly one of the two is nonzero
        den += popcount(x | y)  # either is nonzero
    return num / den if den != 0 else 0.0


@jit(parallel=True)
def _cdist_jaccard_bits(A, B, out):
    for i in prange(A.shape[0]):
        for j in range(B.shape[0]):
            out[i, j] = _jaccard_words(A, B, i, j)


@jit(parallel=True)
def _pdist_jaccard_bits(A, out):
    m = A.shape[0]
    for t in prange(m):
        i = _balanced(t, m)
        base = i * m - i * (i + 1) // 2 - i - 1
        for j in range(i + 1, m):
            out[base + j] = _jaccard_words(A, A, i, j)


# A user's function is an argument, so these are compiled per function and
# not cached on disk (Numba cannot key a cache on a function argument).
@jit(parallel=True, cache=False)
def _cdist_func(XA, XB, out, func):
    for i in prange(XA.shape[0]):
        for j in range(XB.shape[0]):
            out[i, j] = func(XA[i], XB[j])


@jit(parallel=True, cache=False)
def _pdist_func(X, out, func):
    m = X.shape[0]
    for t in prange(m):
        i = _balanced(t, m)
        base = i * m - i * (i + 1) // 2 - i - 1
        for j in range(i + 1, m):
            out[base + j] = func(X[i], X[j])


# ----------------------------------------------------------------------------
# Python-level entry points (the kernel interface).
# ----------------------------------------------------------------------------

# tile-based drivers: (XA, XB, out, ra, rb, w, p, z)
_CDIST = {
    "minkowski0.5": _cdist_minkowski_half,
    "minkowski1.5": _cdist_minkowski15,
    "minkowski": _cdist_minkowski,
    "canberra": _cdist_canberra,
    "canberra_shared": _cdist_canberra_shared,
    "braycurtis": _cdist_braycurtis,
    "hamming": _cdist_hamming,
    "jaccard": _cdist_jaccard,
    "jensenshannon": _cdist_jensenshannon,
}
# panel drivers: (XA, P, out, ra, rb, p, kb)
_CDIST_PANEL = {
    "sqeuclidean": _cdist_sqeuclidean,
    "euclidean": _cdist_euclidean,
    "cityblock": _cdist_cityblock,
    "chebyshev": _cdist_chebyshev,
    "minkowski3": _cdist_minkowski3,
    "minkowski4": _cdist_minkowski4,
    "cosine": _cdist_cosine,
    "dot": _cdist_dot,
    "hamming_count": _cdist_hamming_panel,
    "braycurtis_panel": _cdist_braycurtis_panel,
}
# tile-based drivers: (XA, XB, out, ra, rb, w, p, z)
_PDIST = {
    "minkowski0.5": _pdist_minkowski_half,
    "minkowski1.5": _pdist_minkowski15,
    "minkowski": _pdist_minkowski,
    "canberra": _pdist_canberra,
    "canberra_shared": _pdist_canberra_shared,
    "braycurtis": _pdist_braycurtis,
    "hamming": _pdist_hamming,
    "jaccard": _pdist_jaccard,
    "jensenshannon": _pdist_jensenshannon,
}
# panel drivers: (XA, P, out, ra, rb, p, kb)
_PDIST_PANEL = {
    "sqeuclidean": _pdist_sqeuclidean,
    "euclidean": _pdist_euclidean,
    "cityblock": _pdist_cityblock,
    "chebyshev": _pdist_chebyshev,
    "minkowski3": _pdist_minkowski3,
    "minkowski4": _pdist_minkowski4,
    "cosine": _pdist_cosine,
    "dot": _pdist_dot,
    "hamming_count": _pdist_hamming_panel,
    "braycurtis_panel": _pdist_braycurtis_panel,
}


def _variant(metric, p, w, *arrays):
    """The driver for ``metric``: specialised where it pays.

    Minkowski with p = 3, 4, 0.5 or 1.5 uses products and sqrt instead of a
    power in the inner loop; hamming with equal weights counts mismatches in
    the panel tiles (in integer lanes: a compare and a subtraction per term),
    then scales;
    braycurtis runs on the panels when the features fit in one block (float64,
    or float32 up to 128 features).
    """
    if metric == "minkowski" and p in (3.0, 4.0, 0.5, 1.5):
        return f"minkowski{p:g}"
    if metric == "hamming" and w.shape[0] and (w == w[0]).all():
        return "hamming_count"
    if metric == "canberra" and canberra_shares_division(w, *arrays):
        return "canberra_shared"  # one division for two terms (float64, in range)
    if metric == "braycurtis" and arrays[0].shape[1] <= _kblock(arrays[0]):
        return "braycurtis_panel"  # one feature block: the tile stores the ratio itself
    return metric


def _scalars(variant, dtype, p, w):
    """(p, zero) in the types the driver computes in.

    minkowski with a general p sums float64 terms (pow_pos is float64)
    whatever the dtype; the rest work in ``dtype``.
    """
    if variant == "minkowski":
        return np.float64(p), np.float64(0)
    return dtype.type(p), dtype.type(0)


def _panel_scalar(variant, dtype, p, w):
    """The ``p`` of a panel driver: hamming's weight of one mismatch (the
    mismatch count is scaled by it), else ``p``."""
    return dtype.type(w[0] if variant == "hamming_count" else p)


def _kblock(X):
    """Features per block of a panel sum: all in float64, 128 in float32 (see _panel_sums)."""
    return max(1, X.shape[1]) if X.dtype == np.float64 else 128


def _row_stats(X, metric):
    """Per-row statistics a metric's ``fin`` needs (cosine: the norms)."""
    stats = np.zeros(X.shape[0], X.dtype)
    if metric == "cosine":
        _row_norms(X, stats, X.dtype.type(0))
    return stats


def cdist(XA, XB, out, metric, w, p, VI):
    """Fill ``out[i, j]`` with the distance between ``XA[i]`` and ``XB[j]``.

    Parameters
    ----------
    XA : ndarray of shape (mA, n)
    XB : ndarray of shape (mB, n)
    out : ndarray of shape (mA, mB)
    metric : str
        A kernel metric (:data:`fastml._metrics.KERNEL_METRICS`).
    w : ndarray of shape (n,)
    p : float
    VI : ndarray of shape (n, n) or (0, 0)
    """
    apply_threads(XA.shape[0] * XB.shape[0] * max(1, XA.shape[1]))
    if metric == "mahalanobis":
        _cdist_mahalanobis(XA, XB, out, mahalanobis_upper(VI))
        return
    if metric == "jaccard" and (A := jaccard_bits(XA, w)) is not None:
        _cdist_jaccard_bits(A, jaccard_bits(XB, w), out)
        return
    ra, rb = _row_stats(XA, metric), _row_stats(XB, metric)
    variant = _variant(metric, p, w, XA, XB)
    if variant in _CDIST_PANEL:
        _CDIST_PANEL[variant](
            rows4(XA), pack_panels(XB), out, ra, rb, _panel_scalar(variant, XA.dtype, p, w),
            _kblock(XA),
        )  # fmt: skip
        return
    _CDIST[variant](XA, XB, out, ra, rb, w, *_scalars(variant, XA.dtype, p, w))


def pdist(X, out, metric, w, p, VI):
    """Fill the condensed ``out`` (length m(m-1)/2) with distances of X's row pairs."""
    apply_threads(X.shape[0] * X.shape[0] // 2 * max(1, X.shape[1]))
    if metric == "mahalanobis":
        _pdist_mahalanobis(X, out, mahalanobis_upper(VI))
        return
    if metric == "jaccard" and (A := jaccard_bits(X, w)) is not None:
        _pdist_jaccard_bits(A, out)
        return
    variant = _variant(metric, p, w, X)
    rn = _row_stats(X, metric)
    if variant in _PDIST_PANEL:
        pv = _panel_scalar(variant, X.dtype, p, w)
        _PDIST_PANEL[variant](rows4(X), pack_panels(X), out, rn, pv, _kblock(X))
        return
    _PDIST[variant](X, out, rn, w, *_scalars(variant, X.dtype, p, w))


def cdist_callable(XA, XB, out, func):
    """``out[i, j] = func(XA[i], XB[j])`` with ``func`` a Numba-jitted function."""
    apply_threads(XA.shape[0] * XB.shape[0] * max(1, XA.shape[1]))
    _cdist_func(XA, XB, out, func)


def pdist_callable(X, out, func):
    """Condensed ``func(X[i], X[j])`` for i < j, with ``func`` Numba-jitted."""
    apply_threads(X.shape[0] * X.shape[0] // 2 * max(1, X.shape[1]))
    _pdist_func(X, out, func)


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from cache) the cdist/pdist drivers of every metric for ``dtypes``."""
    from .._metrics import KERNEL_METRICS

    for dt in dtypes:
        X = np.zeros((5, 3), dtype=dt)
        w = np.ones(3, dtype=dt)
        VI = np.eye(3, dtype=dt)
        cases = [(m, 2.0) for m in KERNEL_METRICS if m != "minkowski"]
        cases += [("minkowski", p) for p in (3.0, 4.0, 0.5, 1.5, 2.5)]
        for metric, p in cases:
            cdist(X, X, np.empty((5, 5), dt), metric, w, p, VI)
            pdist(X, np.empty(10, dt), metric, w, p, VI)
