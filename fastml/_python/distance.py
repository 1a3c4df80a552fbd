"""Pure-Python distance kernels: the oracle and the "before" of every benchmark.

Lists and loops only, no NumPy in the inner loops: each pair is reduced one
feature at a time, exactly as the formula reads. Same names and signatures
as ``fastml._numpy.distance``, ``fastml._numba.distance`` and
``fastml._cython.distance`` (see :mod:`fastml._metrics` for the kernel
metrics and how public metrics are rewritten into them).

Every kernel fills ``out`` (C-contiguous, the inputs' dtype) and returns None.
"""

from __future__ import annotations

import math

__all__ = ["cdist", "cdist_callable", "pdist", "pdist_callable", "pair_distance"]


def _sqeuclidean(u, v, w, p, VI):
    s = 0.0
    for a, b in zip(u, v, strict=True):
        t = a - b
        s += t * t
    return s


def _euclidean(u, v, w, p, VI):
    return math.sqrt(_sqeuclidean(u, v, w, p, VI))


def _cityblock(u, v, w, p, VI):
    s = 0.0
    for a, b in zip(u, v, strict=True):
        s += abs(a - b)
    return s


def _chebyshev(u, v, w, p, VI):
    # A NaN difference never compares greater, so it is skipped, as in SciPy.
    m = 0.0
    for a, b in zip(u, v, strict=True):
        t = abs(a - b)
        if t > m:
            m = t
    return m


def _minkowski(u, v, w, p, VI):
    s = 0.0
    for a, b in zip(u, v, strict=True):
        s += abs(a - b) ** p
    return s ** (1.0 / p)


def _cosine(u, v, w, p, VI):
    uv = uu = vv = 0.0
    for a, b in zip(u, v, strict=True):
        uv += a * b
        uu += a * a
        vv += b * b
    # SciPy's form: the norms are taken first, so uu * vv cannot overflow.
    denom = math.sqrt(uu) * math.sqrt(vv)
    if denom == 0.0:  # a zero vector: 0/0, NaN as in SciPy
        return math.nan
    c = uv / denom
    # Clip so that rounding cannot give a distance outside [0, 2]; NaN passes.
    if c > 1.0:
        c = 1.0
    elif c < -1.0:
        c = -1.0
    return 1.0 - c


def _canberra(u, v, w, p, VI):
    s = 0.0
    for a, b, wk in zip(u, v, w, strict=True):
        den = abs(a) + abs(b)
        if den != 0.0:  # 0/0 terms count as 0; NaN makes den != 0 true
            s += wk * abs(a - b) / den
    return s


def _braycurtis(u, v, w, p, VI):
    num = den = 0.0
    for a, b in zip(u, v, strict=True):
        num += abs(a - b)
        den += abs(a + b)
    if den == 0.0:
        return math.nan if num == 0.0 else math.inf
    return num / den


def _hamming(u, v, w, p, VI):
    s = 0.0
    for a, b, wk in zip(u, v, w, strict=True):
        if a != b:
            s += wk
    return s


def _jaccard(u, v, w, p, VI):
    num = den = 0.0
    for a, b, wk in zip(u, v, w, strict=True):
        nz_a = a != 0
        nz_b = b != 0
        if nz_a or nz_b:
            den += wk
            if nz_a != nz_b:
                num += wk
    return num / den if den != 0.0 else 0.0


def _dot(u, v, w, p, VI):
    # sum u v: what the boolean dissimilarities are computed from (fastml._metrics)
    s = 0.0
    for a, b in zip(u, v, strict=True):
        s += a * b
    return s


def _js_term(a, m):
    # a log(a / m), 0 for a = 0; m = (a + b) / 2 is 0 with a > 0 only when it
    # underflows, where a / m is inf (as in C)
    if not a > 0.0:
        return 0.0
    return a * math.log(a / m) if m != 0.0 else math.inf


def _jensenshannon(u, v, w, p, VI):
    # u and v are rows already divided by their sums (fastml._metrics.prepare)
    s = 0.0
    for a, b in zip(u, v, strict=True):
        m = (a + b) / 2.0
        s += _js_term(a, m)
        s += _js_term(b, m)
    # rounding can leave s a hair below 0 for near-equal rows (SciPy's compiled
    # cdist then returns sqrt(-1e-17) = NaN): the divergence is >= 0
    return math.sqrt(s / 2.0) if not s < 0.0 else 0.0


def _mahalanobis(u, v, w, p, VI):
    delta = [a - b for a, b in zip(u, v, strict=True)]
    s = 0.0
    for i, di in enumerate(delta):
        row = VI[i]
        t = 0.0
        for j, dj in enumerate(delta):
            t += row[j] * dj
        s += di * t
    return math.sqrt(s) if s >= 0.0 else math.nan


_PAIR = {
    "sqeuclidean": _sqeuclidean,
    "euclidean": _euclidean,
    "cityblock": _cityblock,
    "chebyshev": _chebyshev,
    "minkowski": _minkowski,
    "cosine": _cosine,
    "canberra": _canberra,
    "braycurtis": _braycurtis,
    "hamming": _hamming,
    "jaccard": _jaccard,
    "mahalanobis": _mahalanobis,
    "dot": _dot,
    "jensenshannon": _jensenshannon,
}


def pair_distance(metric, u, v, w, p, VI):
    """Distance between two sequences ``u`` and ``v`` for a kernel metric."""
    return _PAIR[metric](u, v, w, p, VI)


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
    f = _PAIR[metric]
    A, B, wl, VIl = XA.tolist(), XB.tolist(), w.tolist(), VI.tolist()
    for i, u in enumerate(A):
        row = out[i]
        row[:] = [f(u, v, wl, p, VIl) for v in B]


def pdist(X, out, metric, w, p, VI):
    """Fill the condensed ``out`` (length m(m-1)/2) with distances of X's row pairs."""
    f = _PAIR[metric]
    A, wl, VIl = X.tolist(), w.tolist(), VI.tolist()
    k = 0
    m = len(A)
    for i in range(m - 1):
        u = A[i]
        vals = [f(u, A[j], wl, p, VIl) for j in range(i + 1, m)]
        out[k : k + len(vals)] = vals
        k += len(vals)


def cdist_callable(XA, XB, out, func):
    """``out[i, j] = func(XA[i], XB[j])`` for any Python callable (SciPy's way)."""
    for i in range(XA.shape[0]):
        u = XA[i]
        for j in range(XB.shape[0]):
            out[i, j] = func(u, XB[j])


def pdist_callable(X, out, func):
    """Condensed ``func(X[i], X[j])`` for i < j, for any Python callable."""
    k = 0
    m = X.shape[0]
    for i in range(m - 1):
        for j in range(i + 1, m):
            out[k] = func(X[i], X[j])
            k += 1
