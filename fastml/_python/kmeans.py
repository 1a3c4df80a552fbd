"""Pure-Python k-means kernels: the oracle and the "before" of every benchmark.

Lists and loops only. Same names and signatures as ``fastml._numpy.kmeans``,
``fastml._numba.kmeans`` and ``fastml._cython.kmeans`` (see the Numba module
for the full parameter description). Everything is computed in Python floats
(float64), with the ranking value ``||c||^2 - 2 x.c`` the compiled kernels use;
ties go to the lowest centre index.
"""

from __future__ import annotations

__all__ = ["assign", "inertia", "lloyd"]


def _pass(X, sample_weight, x_sq_norms, centers, labels, sums, weights):
    xs = X.tolist()
    cs = centers.tolist()
    ws = sample_weight.tolist()
    xsq = x_sq_norms.tolist()
    k = len(cs)
    cn = []
    for c in cs:
        s = 0.0
        for v in c:
            s += v * v
        cn.append(s)
    acc = [[0.0] * len(c) for c in cs]
    wacc = [0.0] * k
    total = 0.0
    for i, x in enumerate(xs):
        best = 0
        best_v = 0.0
        for j, c in enumerate(cs):
            dot = 0.0
            for a, b in zip(x, c, strict=True):
                dot += a * b
            v = cn[j] - 2.0 * dot
            if j == 0 or v < best_v:
                best, best_v = j, v
        labels[i] = best
        dist = xsq[i] + best_v
        if dist > 0.0:
            total += ws[i] * dist
        if sums is not None:
            row = acc[best]
            for f, a in enumerate(x):
                row[f] += ws[i] * a
            wacc[best] += ws[i]
    if sums is not None:
        sums[...] = acc
        weights[...] = wacc
    return total


def lloyd(X, sample_weight, x_sq_norms, centers, labels, sums, weights):
    """One fused Lloyd pass: fill labels, sums, weights; return the inertia."""
    return _pass(X, sample_weight, x_sq_norms, centers, labels, sums, weights)


def assign(X, sample_weight, x_sq_norms, centers, labels):
    """Label each sample with its nearest centre; return the inertia."""
    return _pass(X, sample_weight, x_sq_norms, centers, labels, None, None)


def inertia(X, sample_weight, centers, labels, out=None):
    """``sum_i w_i ||x_i - centers[labels_i]||^2`` (direct difference form).

    ``out`` (float64, shape (n,)), if given, receives each ``||x_i - c||^2``.
    """
    cs = centers.tolist()
    total = 0.0
    dists = []
    for x, w, lab in zip(X.tolist(), sample_weight.tolist(), labels.tolist(), strict=True):
        s = 0.0
        for a, b in zip(x, cs[lab], strict=True):
            t = a - b
            s += t * t
        dists.append(s)
        total += w * s
    if out is not None:
        out[...] = dists
    return total
