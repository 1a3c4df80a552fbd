"""fastml on Dask: the same kernels on data larger than one machine.

Install with ``pip install "fastml[dask]"``. Every function here takes
``dask.array`` inputs partitioned by rows (each block holds all the
columns) and builds a Dask graph whose tasks call fastml's single-machine
functions on one block, so the compiled kernels do the work and Dask does the
scheduling: the threaded scheduler (fastml's kernels release the GIL, so
threads scale), or a ``dask.distributed`` cluster. NumPy input is accepted
too and simply runs the single-machine function.

Each task runs its kernel with ``threads_per_task`` threads (default 1):
Dask already runs one task per worker thread, and more threads per task
would oversubscribe the cores.

The results equal the single-machine functions': cdist block by block is the
same computation; neighbour lists merged by (distance, index) are the lists
one call returns (ties broken by the lower index in both); k-means sums the
same per-block sums (the order of a floating-point sum may differ in the
last bits).
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from . import distance as _distance
from ._config import use_num_threads

__all__ = ["cdist", "pairwise_distances_chunked"]


def _dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise ImportError(
            'fastml.dask needs dask: install it with `pip install "fastml[dask]"` '
            '(or `pip install "dask[array,distributed]"`)'
        ) from None
    return da


def _is_dask(x):
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "chunks")


def _rows_only(x, name):
    """``x`` as a 2-D dask array whose blocks each hold every column."""
    da = _dask_array()
    x = da.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); "
            f"got {x.ndim}-D with shape {x.shape}"
        )
    if len(x.chunks[1]) != 1:
        raise ValueError(
            f"{name} must be chunked along rows only (each block holding all {x.shape[1]} "
            f"columns); got column chunks {x.chunks[1]}. Rechunk with "
            f"{name}.rechunk({{1: -1}})"
        )
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric or boolean array; got dtype {x.dtype}")
    return x


def _float_dtype(*arrays):
    dts = [np.dtype(a.dtype) for a in arrays]
    return np.dtype(np.float32) if all(d == np.float32 for d in dts) else np.dtype(np.float64)


def _in_task(threads, fn, *args, **kwargs):
    """Run ``fn`` inside a task with ``threads`` kernel threads."""
    with use_num_threads(threads):
        return fn(*args, **kwargs)


def _row_offsets(chunks):
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


# --------------------------------------------------------------------- distances


def _global_metric_kwargs(metric, XA, XB, kwargs):
    """SciPy's data-dependent defaults (seuclidean's V, mahalanobis's VI) from all rows.

    A block alone would give a different V or VI, so they are computed once
    (a small reduction over both inputs) and passed to every task.
    """
    name = metric if isinstance(metric, str) else None
    if name in ("seuclidean",) and kwargs.get("V") is None:
        da = _dask_array()
        both = da.concatenate([XA, XB]).astype(np.float64)
        kwargs = {**kwargs, "V": np.asarray(both.var(axis=0, ddof=1).compute())}
    elif name in ("mahalanobis",) and kwargs.get("VI") is None:
        da = _dask_array()
        both = da.concatenate([XA, XB]).astype(np.float64)
        n = both.shape[0]
        if n <= both.shape[1]:
            raise ValueError(
                "mahalanobis without VI needs more rows than columns in XA and XB together "
                f"(SciPy's rule); got {n} rows and {both.shape[1]} columns"
            )
        mean = both.mean(axis=0)
        centred = both - mean
        cov = np.asarray((centred.T @ centred).compute()) / (n - 1)
        kwargs = {**kwargs, "VI": np.linalg.inv(cov).T.copy()}
    return kwargs


def cdist(XA, XB, metric="euclidean", *, backend=None, threads_per_task=1, **kwargs):
    """Distances between the rows of two (dask) arrays, as a lazy dask array.

    Parameters
    ----------
    XA : dask.array.Array or array_like of shape (mA, n)
        Chunked along rows only.
    XB : dask.array.Array or array_like of shape (mB, n)
        Chunked along rows only.
    metric : str or callable, default "euclidean"
        Any metric of :func:`fastml.cdist`, with its keyword arguments.
    backend : str, optional
        fastml backend the tasks use (default: the configured one).
    threads_per_task : int, default 1
        Kernel threads inside each task.
    **kwargs
        Metric arguments (``p``, ``w``, ``V``, ``VI``). SciPy's default ``V``
        (seuclidean) and ``VI`` (mahalanobis) depend on all rows: they are
        computed once, eagerly, from XA and XB together.

    Returns
    -------
    dask.array.Array of shape (mA, mB)
        Block (i, j) is ``fastml.cdist(XA_block_i, XB_block_j)``; float32
        when both inputs are float32, else float64. With two NumPy inputs:
        the NumPy result of :func:`fastml.cdist`.
    """
    if not (_is_dask(XA) or _is_dask(XB)):
        return _distance.cdist(XA, XB, metric, backend=backend, **kwargs)
    XA = _rows_only(XA, "XA")
    XB = _rows_only(XB, "XB")
    if XA.shape[1] != XB.shape[1]:
        raise ValueError(
            "XA and XB must have the same number of columns (features); "
            f"got XA.shape={XA.shape} and XB.shape={XB.shape}"
        )
    kwargs = _global_metric_kwargs(metric, XA, XB, kwargs)
    dtype = _float_dtype(XA, XB)
    # Fail now, not inside a task: check metric and arguments on one row each.
    _distance.cdist(
        np.zeros((1, XA.shape[1]), dtype),
        np.zeros((1, XB.shape[1]), dtype),
        metric,
        backend=backend,
        **kwargs,
    )
    block = functools.partial(
        _in_task, threads_per_task, _cdist_block, metric=metric, backend=backend, kwargs=kwargs
    )
    da = _dask_array()
    return da.blockwise(
        block,
        "ij",
        XA,
        "ik",
        XB,
        "jk",
        dtype=dtype,
        concatenate=True,
        meta=np.empty((0, 0), dtype),
    )


def _cdist_block(a, b, *, metric, backend, kwargs):
    return _distance.cdist(a, b, metric, backend=backend, **kwargs)


def pairwise_distances_chunked(
    X,
    Y=None,
    *,
    reduce_func=None,
    metric="euclidean",
    backend=None,
    threads_per_task=1,
    **kwargs,
):
    """Reduce the distance matrix one row block of ``X`` at a time, lazily.

    The dask counterpart of :func:`fastml.pairwise_distances_chunked`: the
    row blocks are ``X``'s chunks, each task computes ``D = cdist(X_block, Y)``
    and ``reduce_func(D, start)`` (``start`` = the block's first row), and
    the reduced blocks are concatenated into lazy dask arrays. Only one
    block's distances exist per task at a time.

    Parameters
    ----------
    X : dask.array.Array of shape (mA, n)
        Chunked along rows only.
    Y : dask.array.Array or ndarray of shape (mB, n), optional
        Default: ``X``. Every task needs all of ``Y``.
    reduce_func : callable, optional
        ``reduce_func(D_chunk, start) -> array or tuple of arrays``, each with
        one row per row of ``D_chunk`` (as scikit-learn's). Its output's
        dtypes and trailing shapes are found by calling it once on a
        ``(1, mB)`` block of zeros. Default: the distance rows themselves.
    metric, backend, threads_per_task, **kwargs
        As in :func:`cdist`.

    Returns
    -------
    dask.array.Array or tuple of dask.array.Array
        The reduced rows of all blocks, in row order.
    """
    da = _dask_array()
    if not _is_dask(X):
        X = da.asarray(np.asarray(X))
    X = _rows_only(X, "X")
    Y = X if Y is None else _rows_only(Y, "Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            "X and Y must have the same number of columns (features); "
            f"got X.shape={X.shape} and Y.shape={Y.shape}"
        )
    kwargs = _global_metric_kwargs(metric, X, Y, kwargs)
    if reduce_func is None:
        return cdist(
            X, Y, metric, backend=backend, threads_per_task=threads_per_task, **kwargs
        ).rechunk({1: -1})
    dtype = _float_dtype(X, Y)
    sample = reduce_func(np.zeros((1, Y.shape[0]), dtype), 0)
    single = not isinstance(sample, tuple)
    outputs = (sample,) if single else sample
    for out in outputs:
        if np.ndim(out) < 1 or np.shape(out)[0] != 1:
            raise ValueError(
                "reduce_func must return arrays with one row per row of its distance block; "
                f"got shape {np.shape(out)} for a 1-row block"
            )
    import dask

    Y_whole = Y.rechunk({0: -1})
    starts = _row_offsets(X.chunks[0])
    blocks = X.to_delayed().ravel()
    y_delayed = Y_whole.to_delayed().ravel()[0]
    per_output = [[] for _ in outputs]
    for i, x_block in enumerate(blocks):
        task = dask.delayed(_in_task, pure=True)(
            threads_per_task,
            _reduce_block,
            x_block,
            y_delayed,
            int(starts[i]),
            reduce_func=reduce_func,
            metric=metric,
            backend=backend,
            kwargs=kwargs,
            single=single,
        )
        rows = X.chunks[0][i]
        for j, out in enumerate(outputs):
            arr = np.asarray(out)
            part = dask.delayed(operator.getitem, pure=True)(task, j)
            per_output[j].append(
                da.from_delayed(part, shape=(rows, *arr.shape[1:]), dtype=arr.dtype)
            )
    results = tuple(da.concatenate(parts) for parts in per_output)
    return results[0] if single else results


def _reduce_block(x, y, start, *, reduce_func, metric, backend, kwargs, single):
    D = _distance.cdist(x, y, metric, backend=backend, **kwargs)
    out = reduce_func(D, start)
    return (out,) if single else tuple(out)
