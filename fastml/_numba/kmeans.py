"""Numba k-means kernels. Mirrors ``src_cython/kmeans.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.kmeans`` (the oracle),
``fastml._numpy.kmeans`` and ``fastml._cython.kmeans``:

``lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights) -> inertia``
    One fused Lloyd pass: label every sample with its nearest centre (ties ->
    lowest index) and fill ``sums[j] = sum of w_i x_i`` and ``weights[j] = sum
    of w_i`` over the samples labelled ``j`` (float64, not yet divided).
``assign(X, sample_weight, x_sq_norms, centers, labels) -> inertia``
    The same pass without the sums (predict, score, the final E-step).
``inertia(X, sample_weight, centers, labels, out=None) -> float``
    ``sum_i w_i ||x_i - c_{labels_i}||^2`` by the direct difference form;
    ``out`` (float64, (n,)), if given, receives each unweighted term.

How it is fast
--------------
The distances are ranked by ``||c||^2 - 2 x.c`` (``||x||^2`` is the same for
every centre), as scikit-learn does with BLAS. The centres are packed once
per call, times -2 (exact), into panels of 8 (float64) or 16 (float32)
centres, feature-major, and :func:`fastml._numba._simd.best4` (LLVM IR)
finds the nearest centre of 4 samples at a time: per panel a register tile
of 4 samples x 2 vectors of centres (lanes = centres, 8 FMA accumulators in
registers, the sample's feature broadcast); each rank is one add,
``||c||^2 + acc``, and updates a running (minimum, index) per lane; shuffle
butterflies reduce the lanes at the end. No distance is stored.

Determinism: samples are cut into groups of a fixed number of rows
(:func:`group_rows`, a function of n, k and d only); each group is handled by
one thread and writes its own partial sums, reduced afterwards in group
order. The result is therefore the same for any thread count.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .. import _scratch
from ._jit import apply_threads, jit
from ._simd import best4, tile_width

__all__ = ["assign", "group_rows", "inertia", "lloyd", "warmup"]

_R = 4  # samples per register tile
_KB = 8  # features per micro-kernel block
_MIN_GROUP = 2048  # rows per group (at least)
# Groups (at most): enough to balance the threads, few enough that the partial
# sums stay small: they are fresh memory each call, and where malloc returns
# freed memory to the system at once (Dask's workers) every page of it faults.
_MAX_GROUPS = 128
_MAX_PARTIAL = 1 << 23  # float64 elements of all the groups' partial sums (64 MiB)


def group_rows(n, k, d):
    """Rows per group: at least 2048, at most 128 groups, partial sums at most 64 MiB."""
    max_groups = max(1, min(_MAX_GROUPS, _MAX_PARTIAL // max(1, k * d)))
    rows = max(_MIN_GROUP, -(-n // max_groups))
    return -(-rows // _R) * _R


@jit(inline="always")
def _group(X, w, xsq, P, cn, labels, psums, pw, g, G, update, lab, val, Xt):
    """Label the samples of group ``g``; add them into ``psums[g]``, ``pw[g]`` if ``update``.

    Returns the group's inertia (float64) from the ranking values.
    """
    n = X.shape[0]
    d = X.shape[1]
    i0 = g * G
    i1 = min(n, i0 + G)
    total = 0.0
    i = i0
    while i < i1:
        nr = min(_R, i1 - i)
        if nr == _R:
            best4(X, i, P, cn, lab, val)
        else:  # the last rows, padded by repeating the last one
            for r in range(_R):
                Xt[r, :] = X[i + min(r, nr - 1)]
            best4(Xt, 0, P, cn, lab, val)
        for r in range(nr):
            best = lab[r]
            ii = i + r
            labels[ii] = best
            dist = np.float64(val[r]) + xsq[ii]
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
def _lloyd_groups(X, w, xsq, P, cn, labels, psums, pw, pin, G, update):
    for g in prange(pin.shape[0]):
        lab = np.empty(_R, np.int32)
        val = np.empty(_R, X.dtype)
        Xt = np.empty((_R, X.shape[1]), X.dtype)
        pin[g] = _group(X, w, xsq, P, cn, labels, psums, pw, g, G, update, lab, val, Xt)


def pack_centers(centers, width):
    """Centres as panels of ``width``: P[p, q, l] = -2 centers[width p + l, q]; padded norms.

    The factor -2 (exact) makes the rank ``cn + x.P`` one add in the
    micro-kernel. Padding centres are zero with a norm of +inf, so they never
    win. Returns (P, cn), cn of length ``width * n_panels`` in the data's dtype.
    """
    k, d = centers.shape
    n_pan = -(-k // width)
    padded = np.zeros((n_pan * width, d), centers.dtype)
    np.multiply(centers, -2, out=padded[:k])
    P = np.ascontiguousarray(padded.reshape(n_pan, width, d).transpose(0, 2, 1))
    cn = np.full(n_pan * width, np.inf, centers.dtype)
    cn[:k] = np.einsum("ij,ij->i", centers, centers)
    return P, cn


@jit(parallel=True)
def _inertia_groups(X, w, centers, labels, G, pin, out, store):
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
            if store:
                out[i] = s
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
    P, cn = pack_centers(centers, tile_width(X.dtype))
    pin = np.zeros(n_groups, np.float64)
    if update:
        psums = _scratch.zeros((n_groups, k, d), "kmeans-psums")  # see fastml._scratch
        pw = _scratch.zeros((n_groups, k), "kmeans-pw")
    else:
        psums = np.zeros((1, 1, d), np.float64)
        pw = np.zeros((1, 1), np.float64)
    _lloyd_groups(X, sample_weight, x_sq_norms, P, cn, labels, psums, pw, pin, G, update)
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


def inertia(X, sample_weight, centers, labels, out=None):
    """``sum_i w_i ||x_i - centers[labels_i]||^2`` in float64 (direct difference form).

    ``out`` (float64, shape (n,)), if given, receives each ``||x_i - c||^2``.
    """
    n, d = X.shape
    G = group_rows(n, centers.shape[0], d)
    apply_threads(n * max(d, 1))
    pin = np.zeros(-(-n // G), np.float64)
    store = out is not None
    _inertia_groups(X, sample_weight, centers, labels, G, pin, out if store else pin, store)
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
        inertia(X, w, C, labels, out=np.empty(9))
