"""Numba distance kernels. Mirrors ``src_cython/distance.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.distance`` (the oracle),
``fastml._numpy.distance`` and ``fastml._cython.distance``.

How a kernel is built
---------------------
A metric is two tiny inline functions: ``upd`` folds one feature into a pair
of accumulators ``(s, r)`` (``r`` is the denominator of braycurtis and
jaccard; the other metrics carry it unchanged and LLVM drops it), and ``fin``
turns the accumulators into the distance; an optional ``post`` (the square
root of euclidean, the 1/p-th power of minkowski) runs afterwards over whole
finished rows, where LLVM vectorises it (the cube root of p = 3 is
:func:`fastml._numba._vmath.cbrt`: ``x ** (1/3)`` is a libm call per pair).

One generic, inline register tile (:func:`_tile44`) computes 4 rows of XA
against 4 rows of XB at once: sixteen independent reductions over the
features, which LLVM vectorises across features (``reassoc``), each loaded
value serving four of them. Row blocks of XA go to threads (``prange``) and
XB is walked in blocks that stay in cache. pdist runs the same tile over
groups of four rows against all later rows, groups dealt to threads from both
ends of the triangle so that the static schedule balances.

chebyshev reduces the IEEE bit patterns of ``|a - b|`` as integers (see
``_bits.py``): LLVM vectorises an integer max but not a float one.

Each metric has a small ``@jit(parallel=True)`` driver per kernel (cdist,
pdist) that names its building blocks: Numba caches a parallel function on
disk only when it is a module-level function (not a closure), and compiles
only the metrics that are used (about 3 s per metric and dtype, once per
machine). The summation order of each output element is fixed, so results do
not depend on the thread count.

Precision: each pair is reduced in the inputs' dtype (inputs whose squares
would leave float32's range are computed in float64 by the API layer). With
``reassoc`` the reduction runs in SIMD lanes (8 or 16 partial sums), so
float32 sums over n features carry an error of about ``n/16 * 6e-8`` relative
in the worst case. mahalanobis with a general VI is evaluated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._bits import as_bits, from_bits
from ._jit import apply_threads, jit
from ._vmath import cbrt

__all__ = ["cdist", "cdist_callable", "pdist", "pdist_callable", "warmup"]

_BI = 32  # XA rows per parallel task (cdist)
_BJ = 128  # XB rows per cache block (cdist)


# ----------------------------------------------------------------------------
# Metric building blocks: upd(s, r, a, b, w_k, p) -> (s, r);
# fin(s, r, p, ra, rb) -> distance. ra/rb: per-row statistics (cosine's norms).
# ----------------------------------------------------------------------------


@jit(inline="always")
def _upd_sq(s, r, a, b, wk, p):
    t = a - b
    return s + t * t, r


@jit(inline="always")
def _upd_abs(s, r, a, b, wk, p):
    return s + abs(a - b), r


@jit(inline="always")
def _upd_max(s, r, a, b, wk, p):
    # s holds the bits of the running max (see _bits.py); a NaN difference is
    # mapped to 0, i.e. skipped, as SciPy does (w is finite, so wk - wk is 0).
    t = abs(a - b)
    tb = as_bits(t if t == t else wk - wk)
    return (tb if tb > s else s), r


@jit(inline="always")
def _upd_max_finite(s, r, a, b, wk, p):
    # Finite inputs cannot give a NaN difference: no mapping needed.
    tb = as_bits(abs(a - b))
    return (tb if tb > s else s), r


@jit(inline="always")
def _upd_pow3(s, r, a, b, wk, p):
    t = abs(a - b)
    return s + t * t * t, r


@jit(inline="always")
def _upd_pow4(s, r, a, b, wk, p):
    t = a - b
    t = t * t
    return s + t * t, r


@jit(inline="always")
def _upd_pow(s, r, a, b, wk, p):
    return s + abs(a - b) ** p, r


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
def _fin_id(s, r, p, ra, rb):
    return s


@jit(inline="always")
def _fin_bits(s, r, p, ra, rb):
    return from_bits(s)


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
def _post_root4(x, p, ra, rb):
    return np.sqrt(np.sqrt(x))


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
def _tile44(XA, XB, i, j, w, p, z, upd):
    """Accumulators (s, r) of rows i..i+3 of XA against rows j..j+3 of XB.

    Returned flattened: s of pair (i + a, j + b) at index 4a + b, its r at 16 + 4a + b.
    Sixteen independent reductions: each value loaded serves four of them.
    """
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = s20 = s21 = s22 = s23 = s30 = s31 = s32 = (
        s33
    ) = z
    r00 = r01 = r02 = r03 = r10 = r11 = r12 = r13 = r20 = r21 = r22 = r23 = r30 = r31 = r32 = (
        r33
    ) = z
    for k in range(XA.shape[1]):
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
def _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, upd, fin, post, has_post):
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
                t = _tile44(XA, XB, i, j, w, p, z, upd)
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
def _pdist_rows(X, out, rn, w, p, z, q, upd, fin, post, has_post):
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
            t = _tile44(X, X, i, j, w, p, z, upd)
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


@jit(parallel=True)
def _row_norms(X, out, z):
    for i in prange(X.shape[0]):
        s = z
        for k in range(X.shape[1]):
            s += X[i, k] * X[i, k]
        out[i] = np.sqrt(s)


# ----------------------------------------------------------------------------
# Drivers: one cdist and one pdist per (metric, variant). Each names its
# building blocks; the loops are the generic ones above.
# ----------------------------------------------------------------------------


@jit(parallel=True)
def _cdist_sqeuclidean(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_sq, _fin_id, _post_none, False)


@jit(parallel=True)
def _cdist_euclidean(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_sq, _fin_id, _post_sqrt, True)


@jit(parallel=True)
def _cdist_cityblock(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_abs, _fin_id, _post_none, False)


@jit(parallel=True)
def _cdist_chebyshev(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_max, _fin_bits, _post_none, False)


@jit(parallel=True)
def _cdist_chebyshev_finite(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_max_finite, _fin_bits, _post_none, False
        )


@jit(parallel=True)
def _cdist_minkowski3(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_pow3, _fin_id, _post_cbrt, True)


@jit(parallel=True)
def _cdist_minkowski4(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_pow4, _fin_id, _post_root4, True)


@jit(parallel=True)
def _cdist_minkowski(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_pow, _fin_id, _post_root, True)


@jit(parallel=True)
def _cdist_cosine(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_dot, _fin_id, _post_cosine, True)


@jit(parallel=True)
def _cdist_canberra(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_canberra, _fin_id, _post_none, False)


@jit(parallel=True)
def _cdist_braycurtis(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_braycurtis, _fin_ratio, _post_none, False
        )


@jit(parallel=True)
def _cdist_hamming(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(XA, XB, out, ra, rb, w, p, z, ib, _upd_hamming, _fin_id, _post_none, False)


@jit(parallel=True)
def _cdist_jaccard(XA, XB, out, ra, rb, w, p, z):
    for ib in prange((XA.shape[0] + _BI - 1) // _BI):
        _cdist_block(
            XA, XB, out, ra, rb, w, p, z, ib, _upd_jaccard, _fin_jaccard, _post_none, False
        )


@jit(parallel=True)
def _pdist_sqeuclidean(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_sq, _fin_id, _post_none, False)


@jit(parallel=True)
def _pdist_euclidean(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_sq, _fin_id, _post_sqrt, True)


@jit(parallel=True)
def _pdist_cityblock(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_abs, _fin_id, _post_none, False)


@jit(parallel=True)
def _pdist_chebyshev(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_max, _fin_bits, _post_none, False)


@jit(parallel=True)
def _pdist_chebyshev_finite(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_max_finite, _fin_bits, _post_none, False
        )


@jit(parallel=True)
def _pdist_minkowski3(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_pow3, _fin_id, _post_cbrt, True)


@jit(parallel=True)
def _pdist_minkowski4(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_pow4, _fin_id, _post_root4, True)


@jit(parallel=True)
def _pdist_minkowski(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_pow, _fin_id, _post_root, True)


@jit(parallel=True)
def _pdist_cosine(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_dot, _fin_id, _post_cosine, True)


@jit(parallel=True)
def _pdist_canberra(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_canberra, _fin_id, _post_none, False)


@jit(parallel=True)
def _pdist_braycurtis(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_braycurtis, _fin_ratio, _post_none, False
        )


@jit(parallel=True)
def _pdist_hamming(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(X, out, rn, w, p, z, _balanced(t, h), _upd_hamming, _fin_id, _post_none, False)


@jit(parallel=True)
def _pdist_jaccard(X, out, rn, w, p, z):
    h = (X.shape[0] + 3) // 4
    for t in prange(h):
        _pdist_rows(
            X, out, rn, w, p, z, _balanced(t, h), _upd_jaccard, _fin_jaccard, _post_none, False
        )


# ----------------------------------------------------------------------------
# mahalanobis with a general VI (the API turns SPD VI into euclidean), and
# user callables: no tile, one pair at a time.
# ----------------------------------------------------------------------------


@jit(inline="always")
def _quadform(u, v, VI, delta):
    """sqrt(d^T VI d) for d = u - v, in float64 whatever the inputs' dtype.

    VI may be indefinite, so the form can cancel: float64 keeps float32 inputs
    accurate (as in the Cython kernel). ``delta`` is float64 scratch of length n.
    """
    n = u.shape[0]
    for k in range(n):
        delta[k] = np.float64(u[k]) - np.float64(v[k])
    s = 0.0
    for r in range(n):
        t = 0.0
        for c in range(n):
            t += VI[r, c] * delta[c]
        s += delta[r] * t
    return np.sqrt(s)  # a negative form gives NaN, as in SciPy


@jit(parallel=True)
def _cdist_mahalanobis(XA, XB, out, VI):
    for i in prange(XA.shape[0]):
        delta = np.empty(XA.shape[1], np.float64)
        for j in range(XB.shape[0]):
            out[i, j] = _quadform(XA[i], XB[j], VI, delta)


@jit(parallel=True)
def _pdist_mahalanobis(X, out, VI):
    m = X.shape[0]
    for t in prange(m):
        i = _balanced(t, m)
        delta = np.empty(X.shape[1], np.float64)
        base = i * m - i * (i + 1) // 2 - i - 1
        for j in range(i + 1, m):
            out[base + j] = _quadform(X[i], X[j], VI, delta)


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

_CDIST = {
    "sqeuclidean": _cdist_sqeuclidean,
    "euclidean": _cdist_euclidean,
    "cityblock": _cdist_cityblock,
    "chebyshev": _cdist_chebyshev,
    "chebyshev_finite": _cdist_chebyshev_finite,
    "minkowski3": _cdist_minkowski3,
    "minkowski4": _cdist_minkowski4,
    "minkowski": _cdist_minkowski,
    "cosine": _cdist_cosine,
    "canberra": _cdist_canberra,
    "braycurtis": _cdist_braycurtis,
    "hamming": _cdist_hamming,
    "jaccard": _cdist_jaccard,
}
_PDIST = {
    "sqeuclidean": _pdist_sqeuclidean,
    "euclidean": _pdist_euclidean,
    "cityblock": _pdist_cityblock,
    "chebyshev": _pdist_chebyshev,
    "chebyshev_finite": _pdist_chebyshev_finite,
    "minkowski3": _pdist_minkowski3,
    "minkowski4": _pdist_minkowski4,
    "minkowski": _pdist_minkowski,
    "cosine": _pdist_cosine,
    "canberra": _pdist_canberra,
    "braycurtis": _pdist_braycurtis,
    "hamming": _pdist_hamming,
    "jaccard": _pdist_jaccard,
}


def _variant(metric, p, *arrays):
    """The driver for ``metric``: specialised where it pays.

    Minkowski with p = 3 or 4 avoids pow() in the inner loop; chebyshev on
    finite input skips the NaN test of each difference (one O(n) check here).
    """
    if metric == "minkowski" and p in (3.0, 4.0):
        return f"minkowski{int(p)}"
    if metric == "chebyshev" and all(np.isfinite(x).all() for x in arrays):
        return "chebyshev_finite"
    return metric


def _zero(metric, dtype):
    """The accumulators' zero: chebyshev reduces bit patterns (integers)."""
    if metric == "chebyshev":
        return np.int32(0) if dtype == np.float32 else np.int64(0)
    return dtype.type(0)


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
        _cdist_mahalanobis(XA, XB, out, VI)
        return
    ra, rb = _row_stats(XA, metric), _row_stats(XB, metric)
    kernel = _CDIST[_variant(metric, p, XA, XB)]
    kernel(XA, XB, out, ra, rb, w, XA.dtype.type(p), _zero(metric, XA.dtype))


def pdist(X, out, metric, w, p, VI):
    """Fill the condensed ``out`` (length m(m-1)/2) with distances of X's row pairs."""
    apply_threads(X.shape[0] * X.shape[0] // 2 * max(1, X.shape[1]))
    if metric == "mahalanobis":
        _pdist_mahalanobis(X, out, VI)
        return
    kernel = _PDIST[_variant(metric, p, X)]
    kernel(X, out, _row_stats(X, metric), w, X.dtype.type(p), _zero(metric, X.dtype))


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
        cases += [("minkowski", 3.0), ("minkowski", 4.0), ("minkowski", 1.5)]
        for metric, p in cases:
            cdist(X, X, np.empty((5, 5), dt), metric, w, p, VI)
            pdist(X, np.empty(10, dt), metric, w, p, VI)
        X[0, 0] = np.nan  # chebyshev's NaN-skipping driver
        cdist(X, X, np.empty((5, 5), dt), "chebyshev", w, 2.0, VI)
        pdist(X, np.empty(10, dt), "chebyshev", w, 2.0, VI)
