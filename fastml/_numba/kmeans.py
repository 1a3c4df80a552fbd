"""Numba k-means kernels. Mirrors ``src_cython/kmeans.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.kmeans`` (the oracle),
``fastml._numpy.kmeans`` and ``fastml._cython.kmeans``:

``lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights) -> inertia``
    One fused Lloyd pass: label every sample with its nearest centre (ties ->
    lowest index) and fill ``sums[j] = sum of w_i x_i`` and ``weights[j] = sum
    of w_i`` over the samples labelled ``j`` (float64, not yet divided).
``assign(X, sample_weight, x_sq_norms, centers, labels) -> inertia``
    The same pass without the sums (predict, score, the final E-step).
``inertia(X, sample_weight, centers, labels) -> float``
    ``sum_i w_i ||x_i - c_{labels_i}||^2`` by the direct difference form.

How it is fast
--------------
The distances are ranked by ``||c||^2 - 2 x.c`` (``||x||^2`` is the same for
every centre), as scikit-learn does with BLAS. The dot products of a tile of
4 samples with all k centres come from a register-blocked micro-kernel: the
centres are packed transposed (d x k) once per call, and for each block of 8
features the loop over the centres (contiguous, vectorised by LLVM: lanes =
centres) does ``D[r, j] += x[r, q] c[q, j]`` for 4 samples r and 8 features q,
so each loaded centre vector serves 4 samples and each accumulator load/store
serves 8 FMAs. The argmin over the k values of a sample is two vectorised
integer reductions: the floats are mapped to integers that order the same way
(sign-magnitude flip of the IEEE bits), a min-reduction finds the smallest,
a second one the lowest index holding it.

Determinism: samples are cut into groups of a fixed number of rows
(:func:`group_rows`, a function of n, k and d only); each group is handled by
one thread and writes its own partial sums, reduced afterwards in group
order. The result is therefore the same for any thread count.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._bits import as_bits
from ._jit import apply_threads, jit

__all__ = ["assign", "group_rows", "inertia", "lloyd", "warmup"]

_R = 4  # samples per register tile
_KB = 8  # features per micro-kernel block
_MIN_GROUP = 2048  # rows per group (at least)
_MAX_PARTIAL = 1 << 23  # float64 elements of all the groups' partial sums (64 MiB)


def group_rows(n, k, d):
    """Rows per group: at least 2048, and few enough groups to cap partial sums at 64 MiB."""
    max_groups = max(1, _MAX_PARTIAL // max(1, k * d))
    rows = max(_MIN_GROUP, -(-n // max_groups))
    return -(-rows // _R) * _R


@jit(inline="always")
def _key(v, sh, mask):
    """An integer that orders like the float ``v`` (finite or inf; not NaN).

    The IEEE bits of a negative float order backwards as a signed integer:
    flipping its magnitude bits (``mask``, ``sh`` = width - 1) fixes that.
    """
    b = as_bits(v)
    return b ^ ((b >> sh) & mask)


@jit(inline="always")
def _dots(X, i, nr, Ct, D, z):
    """D[r, :] = X[i + r] . Ct for r < nr (nr = 4 or 1): the micro-kernel."""
    d = X.shape[1]
    k = Ct.shape[1]
    D0 = D[0]
    D1 = D[1]
    D2 = D[2]
    D3 = D[3]
    for j in range(k):
        D0[j] = z
        D1[j] = z
        D2[j] = z
        D3[j] = z
    kb = 0
    if nr == 4:
        X0 = X[i]
        X1 = X[i + 1]
        X2 = X[i + 2]
        X3 = X[i + 3]
        while kb + _KB <= d:
            c0 = Ct[kb]
            c1 = Ct[kb + 1]
            c2 = Ct[kb + 2]
            c3 = Ct[kb + 3]
            c4 = Ct[kb + 4]
            c5 = Ct[kb + 5]
            c6 = Ct[kb + 6]
            c7 = Ct[kb + 7]
            a0, a1, a2, a3 = X0[kb], X0[kb + 1], X0[kb + 2], X0[kb + 3]
            a4, a5, a6, a7 = X0[kb + 4], X0[kb + 5], X0[kb + 6], X0[kb + 7]
            b0, b1, b2, b3 = X1[kb], X1[kb + 1], X1[kb + 2], X1[kb + 3]
            b4, b5, b6, b7 = X1[kb + 4], X1[kb + 5], X1[kb + 6], X1[kb + 7]
            e0, e1, e2, e3 = X2[kb], X2[kb + 1], X2[kb + 2], X2[kb + 3]
            e4, e5, e6, e7 = X2[kb + 4], X2[kb + 5], X2[kb + 6], X2[kb + 7]
            f0, f1, f2, f3 = X3[kb], X3[kb + 1], X3[kb + 2], X3[kb + 3]
            f4, f5, f6, f7 = X3[kb + 4], X3[kb + 5], X3[kb + 6], X3[kb + 7]
            for j in range(k):
                y0 = c0[j]
                y1 = c1[j]
                y2 = c2[j]
                y3 = c3[j]
                y4 = c4[j]
                y5 = c5[j]
                y6 = c6[j]
                y7 = c7[j]
                D0[j] += (a0 * y0 + a1 * y1 + a2 * y2 + a3 * y3) + (
                    a4 * y4 + a5 * y5 + a6 * y6 + a7 * y7
                )
                D1[j] += (b0 * y0 + b1 * y1 + b2 * y2 + b3 * y3) + (
                    b4 * y4 + b5 * y5 + b6 * y6 + b7 * y7
                )
                D2[j] += (e0 * y0 + e1 * y1 + e2 * y2 + e3 * y3) + (
                    e4 * y4 + e5 * y5 + e6 * y6 + e7 * y7
                )
                D3[j] += (f0 * y0 + f1 * y1 + f2 * y2 + f3 * y3) + (
                    f4 * y4 + f5 * y5 + f6 * y6 + f7 * y7
                )
            kb += _KB
        for q in range(kb, d):
            cq = Ct[q]
            a = X0[q]
            b = X1[q]
            e = X2[q]
            f = X3[q]
            for j in range(k):
                y = cq[j]
                D0[j] += a * y
                D1[j] += b * y
                D2[j] += e * y
                D3[j] += f * y
    else:
        X0 = X[i]
        for q in range(d):
            cq = Ct[q]
            a = X0[q]
            for j in range(k):
                D0[j] += a * cq[j]


@jit(inline="always")
def _group(X, w, xsq, Ct, cn, labels, psums, pw, g, G, update, sh, mask, z, D, K):
    """Label the samples of group ``g``; add them into ``psums[g]``, ``pw[g]`` if ``update``.

    Returns the group's inertia (float64) from the ranking values.
    """
    n = X.shape[0]
    d = X.shape[1]
    k = Ct.shape[1]
    i0 = g * G
    i1 = min(n, i0 + G)
    total = 0.0
    i = i0
    while i < i1:
        nr = _R if i + _R <= i1 else 1
        _dots(X, i, nr, Ct, D, z)
        for r in range(nr):
            Dr = D[r]
            Kr = K[r]
            for j in range(k):
                Kr[j] = _key(cn[j] - (Dr[j] + Dr[j]), sh, mask)
            m = Kr[0]
            for j in range(k):
                kj = Kr[j]
                m = kj if kj < m else m
            best = k
            for j in range(k):
                c = j if Kr[j] == m else k
                best = c if c < best else best
            ii = i + r
            labels[ii] = best
            dist = np.float64(cn[best] - (Dr[best] + Dr[best])) + xsq[ii]
            wi = np.float64(w[ii])
            if dist > 0.0:  # rounding can make the form slightly negative
                total += wi * dist
            if update:
                pw[g, best] += wi
                srow = psums[g, best]
                xrow = X[ii]
                for f in range(d):
                    srow[f] += wi * xrow[f]
        i += nr
    return total


@jit(parallel=True)
def _lloyd_groups(X, w, xsq, Ct, cn, labels, psums, pw, pin, G, update, sh, mask, z):
    k = Ct.shape[1]
    for g in prange(pin.shape[0]):
        D = np.empty((_R, k), X.dtype)
        K = np.empty((_R, k), np.int64)
        pin[g] = _group(X, w, xsq, Ct, cn, labels, psums, pw, g, G, update, sh, mask, z, D, K)


@jit(parallel=True)
def _inertia_groups(X, w, centers, labels, G, pin):
    n = X.shape[0]
    d = X.shape[1]
    for g in prange(pin.shape[0]):
        total = 0.0
        for i in range(g * G, min(n, g * G + G)):
            x = X[i]
            c = centers[labels[i]]
            s = 0.0
            for f in range(d):
                t = np.float64(x[f]) - np.float64(c[f])
                s += t * t
            total += np.float64(w[i]) * s
        pin[g] = total


# ----------------------------------------------------------------------------
# Python-level entry points (the kernel interface).
# ----------------------------------------------------------------------------


def _run(X, sample_weight, x_sq_norms, centers, labels, sums, weights, update):
    n, d = X.shape
    k = centers.shape[0]
    G = group_rows(n, k, d)
    n_groups = -(-n // G)
    apply_threads(n * k * max(d, 1))
    Ct = np.ascontiguousarray(centers.T)
    cn = np.einsum("ij,ij->i", centers, centers)
    pin = np.zeros(n_groups, np.float64)
    if update:
        psums = np.zeros((n_groups, k, d), np.float64)
        pw = np.zeros((n_groups, k), np.float64)
    else:
        psums = np.zeros((1, 1, d), np.float64)
        pw = np.zeros((1, 1), np.float64)
    bits = 63 if X.dtype == np.float64 else 31
    _lloyd_groups(
        X,
        sample_weight,
        x_sq_norms,
        Ct,
        cn,
        labels,
        psums,
        pw,
        pin,
        G,
        update,
        np.int64(bits),
        np.int64((1 << bits) - 1),
        X.dtype.type(0),
    )
    if update:
        np.sum(psums, axis=0, out=sums)  # fixed order: group 0, 1, 2, ...
        np.sum(pw, axis=0, out=weights)
    return float(pin.sum())


def lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights):
    """One fused Lloyd pass (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n,), X's dtype
    x_sq_norms : ndarray of shape (n,), float64
        ``||x_i||^2`` (for the inertia only).
    centers : ndarray of shape (k, d), X's dtype
    labels : ndarray of shape (n,), int32
        Filled with the index of each sample's nearest centre.
    sums : ndarray of shape (k, d), float64
        Filled with the weighted sums of the samples of each centre.
    weights : ndarray of shape (k,), float64
        Filled with the total weight of each centre's samples.

    Returns
    -------
    float
        The inertia of this assignment, ``sum_i w_i max(0, ||x_i||^2 - 2 x_i.c + ||c||^2)``.
    """
    return _run(X, sample_weight, x_sq_norms, centers, labels, sums, weights, True)


def assign(X, sample_weight, x_sq_norms, centers, labels):
    """Label each sample with its nearest centre; return the inertia as :func:`lloyd`."""
    return _run(X, sample_weight, x_sq_norms, centers, labels, None, None, False)


def inertia(X, sample_weight, centers, labels):
    """``sum_i w_i ||x_i - centers[labels_i]||^2`` in float64 (direct difference form)."""
    n, d = X.shape
    G = group_rows(n, centers.shape[0], d)
    apply_threads(n * max(d, 1))
    pin = np.zeros(-(-n // G), np.float64)
    _inertia_groups(X, sample_weight, centers, labels, G, pin)
    return float(pin.sum())


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from cache) the kernels for ``dtypes``."""
    for dt in dtypes:
        X = np.zeros((9, 3), dtype=dt)
        w = np.ones(9, dtype=dt)
        C = X[:2].copy()
        labels = np.zeros(9, np.int32)
        xsq = np.zeros(9)
        lloyd(X, w, xsq, C, labels, np.zeros((2, 3)), np.zeros(2))
        inertia(X, w, C, labels)
