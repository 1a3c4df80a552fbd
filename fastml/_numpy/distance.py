"""Vectorised NumPy distance kernels.

Same names and signatures as ``fastml._python.distance`` (the oracle),
``fastml._numba.distance`` and ``fastml._cython.distance``.

* euclidean and sqeuclidean use the matrix-product form
  ``||a||^2 - 2 a.b + ||b||^2`` (BLAS), in float64 whatever the input dtype.
  That form loses digits when ``d^2`` is small against ``||a||^2 + ||b||^2``,
  so every entry with ``d^2 < 1e-3 (||a||^2 + ||b||^2)`` is recomputed directly:
  the relative error of what is returned stays near 1e-12.
* cosine uses the normalised matrix product, in float64; dot (the boolean
  dissimilarities' ``sum u v``) is the matrix product.
* every other metric broadcasts over row blocks sized to keep temporaries
  under about 32 MiB.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cdist", "pdist"]

_BLOCK_ELEMS = 1 << 22  # float64 elements per broadcast temporary (32 MiB)
_GUARD = 1e-3  # recompute d^2 directly below this fraction of ||a||^2 + ||b||^2


def _row_blocks(m_rows, per_row):
    step = max(1, _BLOCK_ELEMS // max(1, per_row))
    for i0 in range(0, m_rows, step):
        yield i0, min(m_rows, i0 + step)


def _sqeuclidean_gemm(A, B):
    """Squared distances by matrix product, with exact recomputation near zero."""
    A = A.astype(np.float64, copy=False)
    B = B.astype(np.float64, copy=False)
    na = np.einsum("ij,ij->i", A, A)
    nb = np.einsum("ij,ij->i", B, B)
    D = A @ B.T
    D *= -2.0
    D += na[:, None]
    D += nb[None, :]
    scale = na[:, None] + nb[None, :]
    # NaN compares False, so NaN entries are not recomputed: they stay NaN.
    ii, jj = np.nonzero(D < _GUARD * scale)
    if ii.size:
        diff = A[ii] - B[jj]
        D[ii, jj] = np.einsum("ij,ij->i", diff, diff)
    # inf - inf in the product form gives NaN where the direct sum gives inf.
    bad = ~np.isfinite(scale)
    if bad.any():
        ii, jj = np.nonzero(bad)
        diff = A[ii] - B[jj]
        with np.errstate(invalid="ignore", over="ignore"):
            D[ii, jj] = np.einsum("ij,ij->i", diff, diff)
    return D


def _cosine_gemm(A, B):
    """1 - cos by one matrix product of unit rows, in float64 (BLAS does the work).

    A zero row has no direction: its unit row is NaN, and so are its distances
    (SciPy's 0/0). Two passes over the result follow the product: clip, 1 - c.
    """
    A = A.astype(np.float64, copy=False)
    B = B.astype(np.float64, copy=False)
    An = A / np.sqrt(np.einsum("ij,ij->i", A, A))[:, None]
    Bn = An if B is A else B / np.sqrt(np.einsum("ij,ij->i", B, B))[:, None]
    C = An @ Bn.T
    np.clip(C, -1.0, 1.0, out=C)  # NaN passes through clip
    np.subtract(1.0, C, out=C)
    return C


def _block(metric, A, B, w, p, VI):
    """Distances between every row of A (ra, n) and of B (mb, n), as (ra, mb)."""
    if metric == "sqeuclidean":
        return _sqeuclidean_gemm(A, B)
    if metric == "euclidean":
        return np.sqrt(_sqeuclidean_gemm(A, B))
    if metric == "cosine":
        return _cosine_gemm(A, B)
    if metric == "dot":
        return A.astype(np.float64, copy=False) @ B.astype(np.float64, copy=False).T
    a = A[:, None, :].astype(np.float64)
    b = B[None, :, :].astype(np.float64)
    w = w.astype(np.float64)
    if metric == "cityblock":
        return np.abs(a - b).sum(axis=2)
    if metric == "chebyshev":
        d = np.abs(a - b)
        d[np.isnan(d)] = 0.0  # SciPy skips NaN differences
        return d.max(axis=2) if d.shape[2] else np.zeros(d.shape[:2])
    if metric == "minkowski":
        return (np.abs(a - b) ** p).sum(axis=2) ** (1.0 / p)
    if metric == "canberra":
        num = np.abs(a - b)
        den = np.abs(a) + np.abs(b)
        term = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
        return (term * w).sum(axis=2)
    if metric == "braycurtis":
        return np.abs(a - b).sum(axis=2) / np.abs(a + b).sum(axis=2)
    if metric == "hamming":
        return ((a != b) * w).sum(axis=2)
    if metric == "jaccard":
        nza, nzb = a != 0, b != 0
        num = ((nza != nzb) * w).sum(axis=2)
        den = ((nza | nzb) * w).sum(axis=2)
        return np.divide(num, den, out=np.zeros_like(num), where=den != 0)
    if metric == "jensenshannon":  # rows divided by their sums (fastml._metrics.prepare)
        m = (a + b) / 2.0
        terms = np.where(a > 0, a * np.log(a / m), 0.0) + np.where(b > 0, b * np.log(b / m), 0.0)
        return np.sqrt(np.maximum(terms.sum(axis=2), 0.0) / 2.0)  # >= 0 but for rounding
    if metric == "mahalanobis":
        delta = a - b
        q = np.einsum("abi,ij,abj->ab", delta, VI.astype(np.float64), delta)
        return np.sqrt(q)
    raise ValueError(f"unknown kernel metric {metric!r}")  # pragma: no cover


_MATMUL_METRICS = ("sqeuclidean", "euclidean", "cosine", "dot")


def _per_row(metric, m_cols, n):
    """Temporary elements per output row: broadcasting metrics hold n per entry."""
    return m_cols * (1 if metric in _MATMUL_METRICS else max(1, n))


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
    per_row = _per_row(metric, XB.shape[0], XA.shape[1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i0, i1 in _row_blocks(XA.shape[0], per_row):
            out[i0:i1] = _block(metric, XA[i0:i1], XB, w, p, VI)


def pdist(X, out, metric, w, p, VI):
    """Fill the condensed ``out`` (length m(m-1)/2) with distances of X's row pairs."""
    m = X.shape[0]
    per_row = _per_row(metric, m, X.shape[1])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i0, i1 in _row_blocks(m, per_row):
            # Row i needs columns i+1..m-1 only; compute against X[i0+1:].
            D = _block(metric, X[i0:i1], X[i0 + 1 :], w, p, VI)
            for i in range(i0, min(i1, m - 1)):
                start = i * m - i * (i + 1) // 2
                out[start : start + m - 1 - i] = D[i - i0, i - i0 :]
