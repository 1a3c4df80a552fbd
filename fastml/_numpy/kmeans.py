"""Vectorised NumPy k-means kernels.

Same names and signatures as ``fastml._python.kmeans`` (the oracle),
``fastml._numba.kmeans`` and ``fastml._cython.kmeans`` (see the Numba module
for the full parameter description). Samples are processed in chunks of
``_CHUNK`` rows: the ranking values ``||c||^2 - 2 x.c`` of a chunk come from
one matrix product (BLAS, in the data's dtype), ``argmin`` picks the lowest
index on ties, and the weighted sums are accumulated in float64 with one
``np.bincount`` per feature. Never more than a chunk x k matrix is held.
"""

from __future__ import annotations

import numpy as np

__all__ = ["assign", "inertia", "lloyd"]

_CHUNK = 4096


def _pass(X, sample_weight, x_sq_norms, centers, labels, sums, weights):
    cn = np.einsum("ij,ij->i", centers, centers)
    total = 0.0
    if sums is not None:
        sums[...] = 0.0
        weights[...] = 0.0
    for i0 in range(0, X.shape[0], _CHUNK):
        x = X[i0 : i0 + _CHUNK]
        w = sample_weight[i0 : i0 + _CHUNK].astype(np.float64)
        rank = x @ centers.T
        rank *= -2
        rank += cn
        lab = np.argmin(rank, axis=1)
        labels[i0 : i0 + _CHUNK] = lab
        best = rank[np.arange(len(lab)), lab].astype(np.float64) + x_sq_norms[i0 : i0 + _CHUNK]
        total += float(np.dot(w, np.maximum(best, 0.0)))
        if sums is not None:
            k = centers.shape[0]
            xw = x * w[:, None]
            for f in range(x.shape[1]):  # one bincount per feature: far faster than np.add.at
                sums[:, f] += np.bincount(lab, weights=xw[:, f], minlength=k)
            weights += np.bincount(lab, weights=w, minlength=k)
    return total


def lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights):
    """One fused Lloyd pass: fill labels, sums, weights; return the inertia."""
    return _pass(X, sample_weight, x_sq_norms, centers, labels, sums, weights)


def assign(X, sample_weight, x_sq_norms, centers, labels):
    """Label each sample with its nearest centre; return the inertia."""
    return _pass(X, sample_weight, x_sq_norms, centers, labels, None, None)


def inertia(X, sample_weight, centers, labels, out=None):
    """``sum_i w_i ||x_i - centers[labels_i]||^2`` in float64 (direct difference form).

    ``out`` (float64, shape (n,)), if given, receives each ``||x_i - c||^2``.
    """
    total = 0.0
    for i0 in range(0, X.shape[0], _CHUNK):
        diff = X[i0 : i0 + _CHUNK].astype(np.float64) - centers[labels[i0 : i0 + _CHUNK]]
        dist = np.einsum("ij,ij->i", diff, diff)
        if out is not None:
            out[i0 : i0 + _CHUNK] = dist
        total += float(np.dot(sample_weight[i0 : i0 + _CHUNK], dist))
    return total
