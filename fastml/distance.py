"""Pairwise distances with SciPy's semantics: ``cdist``, ``pdist``, ``squareform``,
and scikit-learn's ``pairwise_distances_chunked``.

No numeric loops live here: each function validates its input once
(:mod:`fastml._validation`, :mod:`fastml._metrics`), resolves the backend
(:mod:`fastml._registry`) and calls that backend's kernel.

Differences from SciPy, all deliberate:

* float32 input gives float32 output (SciPy always returns float64); mixed
  float32/float64 input computes in float64; other dtypes become float64.
* ``out=`` may be float32 or float64, contiguous or not.
* ``metric`` may be a Numba-jitted ``f(u, v) -> float``; it then runs inside
  the compiled parallel kernel. A plain Python callable runs on the
  ``python`` backend, called once per pair exactly as SciPy does.
* ``seuclidean`` requires positive variances (SciPy returns NaN/inf for
  zero variances without a word).
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from ._config import _check_backend_name, get_backend
from ._metrics import (
    _prepare_V,
    _prepare_VI,
    canonical_metric,
    finish_cdist,
    finish_pdist,
    is_numba_function,
    prepare,
)
from ._registry import kernel_module, resolve_backend
from ._validation import check_array, check_out, check_pair

__all__ = ["cdist", "pairwise_distances_chunked", "pdist", "squareform"]

_CALLABLE_BACKENDS = ("numba", "python")


def _run(shape, dtype, out, fill, inputs, compute_dtype=None):
    """Allocate or reuse the result buffer, let ``fill(buf)`` compute into it.

    Kernels need a C-contiguous buffer of the computation dtype that does not
    overlap their inputs; ``out`` is used directly when it qualifies, else a
    temporary is filled and copied (and cast) into ``out``. The result has
    ``dtype`` (float32 data computed in float64 for range reasons is rounded once).
    """
    compute_dtype = dtype if compute_dtype is None else compute_dtype
    direct = (
        out is not None
        and out.dtype == compute_dtype
        and out.flags.c_contiguous
        and not any(np.may_share_memory(out, x) for x in inputs)
    )
    buf = out if direct else np.empty(shape, compute_dtype)
    fill(buf)
    if out is None:
        return buf.astype(dtype, copy=False)
    if buf is not out:
        out[...] = buf
    return out


def callable_backend(metric, backend, kwargs, kernel):
    """The backend and the function to call for a callable ``metric``.

    Shared by every kernel that accepts callables (distance, neighbors):
    "auto" picks numba for a Numba-jitted function and python otherwise;
    other backends reject callables; keyword arguments are bound with
    ``functools.partial`` (not possible for a jitted function).

    Returns
    -------
    name : str
        "numba" or "python".
    func : callable
    """
    jitted = is_numba_function(metric)
    requested = get_backend() if backend is None else _check_backend_name(backend)
    if requested == "auto":
        name = "numba" if jitted else "python"
    else:
        name = resolve_backend(requested, kernel)
    if name not in _CALLABLE_BACKENDS:
        raise TypeError(
            f"a callable metric runs on the 'numba' backend (if jitted with numba.njit) or the "
            f"'python' backend; backend {name!r} does not accept one"
        )
    if name == "numba":
        if not jitted:
            raise TypeError(
                "a callable metric on the 'numba' backend must be a Numba-jitted function "
                "(decorate it with @numba.njit); plain Python callables run on backend='python'"
            )
        if kwargs:
            raise TypeError(
                "keyword arguments cannot be passed to a Numba-jitted metric; bind them in "
                f"the function instead (got {', '.join(sorted(kwargs))})"
            )
        return name, metric
    return name, (functools.partial(metric, **kwargs) if kwargs else metric)


def _callable_kernel(metric, backend, kwargs, kind):
    """Pick the backend and kernel for a callable ``metric``."""
    name, func = callable_backend(metric, backend, kwargs, "distance")
    mod = kernel_module(name, "distance")
    return getattr(mod, f"{kind}_callable"), func


def cdist(XA, XB, metric="euclidean", *, out=None, backend=None, **kwargs):
    """Distance between each pair of rows of two collections of points.

    Parameters
    ----------
    XA : array_like of shape (mA, n)
    XB : array_like of shape (mB, n)
    metric : str or callable, default "euclidean"
        One of braycurtis, canberra, chebyshev, cityblock (manhattan),
        correlation, cosine, dice, euclidean, hamming, jaccard, jensenshannon,
        mahalanobis, minkowski, rogerstanimoto, russellrao, seuclidean, sokalsneath,
        sqeuclidean, yule (SciPy's aliases are accepted), scikit-learn's
        haversine (2 features: latitude, longitude in radians), or a function
        ``f(u, v) -> float``; see the module docstring.
    out : ndarray of shape (mA, mB), optional
        float32 or float64 buffer to fill in place; it is also returned.
    backend : {"auto", "python", "numpy", "numba", "cython"}, optional
        Overrides :func:`fastml.use_backend` / :func:`fastml.set_backend`.
    **kwargs
        Metric parameters as in SciPy: ``p`` (minkowski), ``w`` (weights for
        every metric but seuclidean and mahalanobis), ``V`` (seuclidean),
        ``VI`` (mahalanobis).

    Returns
    -------
    ndarray of shape (mA, mB)
        float32 if XA and XB are float32, else float64 (or ``out``).

    Examples
    --------
    >>> import numpy as np, fastml
    >>> fastml.cdist(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]]))
    array([[5., 1.]])
    """
    XA, XB = check_pair(XA, XB)
    shape = (XA.shape[0], XB.shape[0])
    if out is not None:
        check_out(out, shape)
    if callable(metric):
        kernel, func = _callable_kernel(metric, backend, kwargs, "cdist")
        return _run(shape, XA.dtype, out, lambda buf: kernel(XA, XB, buf, func), (XA, XB))
    prep = prepare(metric, XA, XB, kwargs)
    work = shape[0] * shape[1] * max(1, XA.shape[1])
    mod = kernel_module(resolve_backend(backend, "distance", prep.metric, work), "distance")

    def fill(buf):
        mod.cdist(prep.XA, prep.XB, buf, prep.metric, *prep.args())
        if prep.post is not None:
            extra = None
            if prep.extra is not None:  # a second kernel run (weighted boolean metrics)
                e = prep.extra
                extra = np.empty(shape, e.XA.dtype)
                mod.cdist(e.XA, e.XB, extra, e.metric, *e.args())
            finish_cdist(prep, buf, extra)

    return _run(shape, XA.dtype, out, fill, (XA, XB), prep.XA.dtype)


def pdist(X, metric="euclidean", *, out=None, backend=None, **kwargs):
    """Pairwise distances between the rows of X, in condensed form.

    Parameters
    ----------
    X : array_like of shape (m, n)
    metric, backend, **kwargs
        As for :func:`cdist`.
    out : ndarray of shape (m * (m - 1) // 2,), optional
        float32 or float64 buffer to fill in place.

    Returns
    -------
    ndarray of shape (m * (m - 1) // 2,)
        Entry for the pair ``i < j`` sits at ``m*i - i*(i+1)//2 + j - i - 1``
        (SciPy's order); :func:`squareform` turns it into a square matrix.
    """
    X = check_array(X, "X")
    m = X.shape[0]
    shape = (m * (m - 1) // 2,)
    if out is not None:
        check_out(out, shape)
    if callable(metric):
        kernel, func = _callable_kernel(metric, backend, kwargs, "pdist")
        return _run(shape, X.dtype, out, lambda buf: kernel(X, buf, func), (X,))
    prep = prepare(metric, X, None, kwargs)
    work = shape[0] * max(1, X.shape[1])
    mod = kernel_module(resolve_backend(backend, "distance", prep.metric, work), "distance")

    def fill(buf):
        mod.pdist(prep.XA, buf, prep.metric, *prep.args())
        if prep.post is not None:
            extra = None
            if prep.extra is not None:  # a second kernel run (weighted boolean metrics)
                e = prep.extra
                extra = np.empty(shape, e.XA.dtype)
                mod.pdist(e.XA, extra, e.metric, *e.args())
            finish_pdist(prep, buf, extra)

    return _run(shape, X.dtype, out, fill, (X,), prep.XA.dtype)


def squareform(X, force="no", checks=True):
    """Convert between condensed distance vectors and square distance matrices.

    Same semantics as :func:`scipy.spatial.distance.squareform`.

    Parameters
    ----------
    X : array_like
        A condensed vector of length m(m-1)/2, or a square (m, m) matrix.
    force : {"no", "tovector", "tomatrix"}
        Treat X as a matrix or as a vector regardless of its shape.
    checks : bool, default True
        For a matrix: check that it is symmetric with a zero diagonal.

    Returns
    -------
    ndarray
        The other form, with X's dtype.
    """
    X = np.asarray(X)
    if force not in ("no", "tovector", "tomatrix"):
        raise ValueError(f"force must be 'no', 'tovector' or 'tomatrix'; got {force!r}")
    if force == "tomatrix" and X.ndim != 1:
        raise ValueError("force='tomatrix' needs a 1-D condensed vector")
    if force == "tovector" and X.ndim != 2:
        raise ValueError("force='tovector' needs a 2-D square matrix")
    if X.ndim == 1:
        k = X.shape[0]
        if k == 0:
            return np.zeros((1, 1), dtype=X.dtype)
        m = int(np.ceil(np.sqrt(2 * k)))
        if m * (m - 1) != 2 * k:
            raise ValueError(
                "Incompatible vector size. It must be a binomial coefficient n choose 2 "
                f"for some integer n >= 2; got length {k}"
            )
        M = np.zeros((m, m), dtype=X.dtype)
        for i in range(m - 1):  # one slice per row: O(m) Python steps, no O(m^2) index arrays
            start = i * m - i * (i + 1) // 2
            M[i, i + 1 :] = X[start : start + m - 1 - i]
        M += M.T
        return M
    if X.ndim == 2:
        if X.shape[0] != X.shape[1]:
            raise ValueError(f"a distance matrix must be square; got shape {X.shape}")
        m = X.shape[0]
        if checks:
            if not np.array_equal(X, X.T):
                raise ValueError("Distance matrix 'X' must be symmetric.")
            if np.any(np.diagonal(X) != 0):
                raise ValueError("Distance matrix 'X' diagonal must be zero.")
        v = np.empty(m * (m - 1) // 2, dtype=X.dtype)
        for i in range(m - 1):
            start = i * m - i * (i + 1) // 2
            v[start : start + m - 1 - i] = X[i, i + 1 :]
        return v
    raise ValueError(f"X must be a 1-D condensed vector or a 2-D square matrix; got {X.ndim}-D")


def pairwise_distances_chunked(
    X,
    Y=None,
    *,
    reduce_func=None,
    metric="euclidean",
    n_jobs=None,
    working_memory=None,
    backend=None,
    **kwds,
):
    """Yield the distance matrix in row blocks that fit in ``working_memory``.

    Same contract as :func:`sklearn.metrics.pairwise_distances_chunked`.

    Parameters
    ----------
    X : array_like of shape (n_samples_X, n_features)
    Y : array_like of shape (n_samples_Y, n_features), optional
        None means ``Y = X``.
    reduce_func : callable, optional
        ``reduce_func(D_chunk, start)`` is applied to each block and its
        result is yielded instead; it must return an array, a list or a tuple
        of those, each with ``len(D_chunk)`` rows.
    metric : str or callable, default "euclidean"
        As for :func:`cdist`.
    n_jobs : None
        Accepted for compatibility; threads are set by
        :func:`fastml.set_num_threads`.
    working_memory : float, optional
        MiB per block (default 1024, scikit-learn's default).
    backend : str, optional
        As for :func:`cdist`.
    **kwds
        Metric parameters, as for :func:`cdist`.

    Returns
    -------
    generator
        Yields ndarrays of shape (n_rows_in_block, n_samples_Y), or whatever
        ``reduce_func`` returns for each block. Input is validated when the
        function is called, before the first block is computed.
    """
    X_given = X
    X = check_array(X, "X")
    Y = X if Y is None or Y is X_given else check_array(Y, "Y")
    X, Y = check_pair(X, Y, ("X", "Y"))
    if working_memory is None:
        working_memory = 1024
    if isinstance(working_memory, bool) or not isinstance(working_memory, numbers.Real):
        raise TypeError(f"working_memory must be a number of MiB; got {working_memory!r}")
    if not working_memory > 0:
        raise ValueError(f"working_memory must be positive; got {working_memory}")
    if reduce_func is not None and not callable(reduce_func):
        raise TypeError("reduce_func must be callable")
    # V / VI defaults depend on all the data, not on one block: fix them once.
    kwds = _fix_data_dependent_params(metric, X, Y, kwds)
    if not callable(metric):
        prepare(metric, X[:1], Y[:1], kwds)  # validate the metric's parameters now
    resolve_backend(backend, "distance")  # and the backend
    row_bytes = X.dtype.itemsize * Y.shape[0]
    n_rows = max(1, min(int(working_memory * 2**20) // row_bytes, X.shape[0]))
    # Validation above runs at call time; the blocks are computed lazily.
    return _chunks(X, Y, n_rows, reduce_func, metric, backend, kwds)


def _chunks(X, Y, n_rows, reduce_func, metric, backend, kwds):
    for start in range(0, X.shape[0], n_rows):
        stop = min(start + n_rows, X.shape[0])
        D = cdist(X[start:stop], Y, metric, backend=backend, **kwds)
        if reduce_func is None:
            yield D
            continue
        reduced = reduce_func(D, start)
        _check_reduced(reduced, stop - start)
        yield reduced


def _fix_data_dependent_params(metric, X, Y, kwds):
    """Compute SciPy's default V / VI from all of X and Y (not per block)."""
    if callable(metric):
        return kwds
    name = canonical_metric(metric)
    kwds = dict(kwds)
    XB = None if Y is X else Y
    if name == "seuclidean" and kwds.get("V") is None:
        kwds["V"] = _prepare_V(None, X, XB, X.shape[1])
    if name == "mahalanobis" and kwds.get("VI") is None:
        kwds["VI"] = _prepare_VI(None, X, XB, X.shape[1])
    return kwds


def _check_reduced(reduced, n_rows):
    if reduced is None:
        raise TypeError("reduce_func returned None; it must return an array or a tuple of arrays")
    parts = reduced if isinstance(reduced, tuple) else (reduced,)
    for part in parts:
        if len(part) != n_rows:
            raise ValueError(
                f"reduce_func returned an object of length {len(part)}; expected {n_rows} "
                "(one per row of the block)"
            )
