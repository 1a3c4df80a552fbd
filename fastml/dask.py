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
from ._base import BaseEstimator, check_is_fitted
from ._config import use_num_threads

__all__ = ["Incremental", "cdist", "pairwise_distances_chunked"]


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


# --------------------------------------------------------------------- incremental


class Incremental(BaseEstimator):
    """Train an estimator with ``partial_fit`` by streaming the blocks of a dask array.

    Like dask-ml's ``Incremental``: the blocks are visited one after another
    (in a shuffled order per epoch if ``shuffle_blocks``), each in a task that
    calls ``partial_fit`` on the model the previous task returned. The data
    stay where they are (on the workers); only the model, a few arrays of
    coefficients, travels between tasks. Works with any estimator that has
    ``partial_fit`` (fastml's ``SGDClassifier`` / ``SGDRegressor``, or
    scikit-learn's).

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Copied (``copy.deepcopy``) at the start of :meth:`fit`; never modified.
    epochs : int, default 1
        Passes over all the blocks per call of :meth:`fit`.
    shuffle_blocks : bool, default True
        Visit the blocks in a new random order every epoch.
    random_state : None or int
        Seeds the block order.
    threads_per_task : int, default 1
        Kernel threads inside each task.

    Attributes
    ----------
    estimator_ : estimator
        The trained copy.
    history_ : dict of lists
        One entry per block visited: ``epoch``, ``block``, ``n_samples``,
        ``time`` (seconds of that ``partial_fit``) and, when the estimator
        keeps a ``history_`` with a ``loss``, that block's ``loss``.
    n_blocks_seen_ : int
    """

    def __init__(
        self, estimator, *, epochs=1, shuffle_blocks=True, random_state=None, threads_per_task=1
    ):
        self.estimator = estimator
        self.epochs = epochs
        self.shuffle_blocks = shuffle_blocks
        self.random_state = random_state
        self.threads_per_task = threads_per_task

    @property
    def _estimator_type(self):
        return getattr(self.estimator, "_estimator_type", None)

    def fit(self, X, y=None, **fit_kwargs):
        """Train a fresh copy of ``estimator`` on all blocks; return self.

        Parameters
        ----------
        X : dask.array.Array or ndarray of shape (n_samples, n_features)
            Chunked along rows only.
        y : dask.array.Array or ndarray of shape (n_samples,), optional
            Re-chunked to match ``X``'s rows.
        **fit_kwargs
            Passed to every ``partial_fit`` (e.g. ``classes``; computed from
            ``y`` for classifiers when not given).
        """
        import copy

        self.estimator_ = copy.deepcopy(self.estimator)
        self.history_ = {"epoch": [], "block": [], "n_samples": [], "time": []}
        self.n_blocks_seen_ = 0
        return self._train(X, y, fit_kwargs)

    def partial_fit(self, X, y=None, **fit_kwargs):
        """Like :meth:`fit`, but continue from the current ``estimator_`` if any."""
        if not hasattr(self, "estimator_"):
            return self.fit(X, y, **fit_kwargs)
        return self._train(X, y, fit_kwargs)

    def _train(self, X, y, fit_kwargs):
        import inspect

        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer; got {self.epochs!r}")
        if not hasattr(self.estimator_, "partial_fit"):
            raise TypeError(
                f"estimator must have a partial_fit method; {type(self.estimator).__name__} has not"
            )
        takes_classes = "classes" in inspect.signature(self.estimator_.partial_fit).parameters
        if not _is_dask(X):
            X_blocks = [np.asarray(X)]
            y_blocks = [None if y is None else np.asarray(y)]
        else:
            X = _rows_only(X, "X")
            X_blocks = list(X.to_delayed().ravel())
            y_blocks = [None] * len(X_blocks)
            if y is not None:
                da = _dask_array()
                y = da.asarray(y)
                if y.shape[0] != X.shape[0]:
                    raise ValueError(
                        f"X and y must have the same number of rows; got {X.shape[0]} and "
                        f"{y.shape[0]}"
                    )
                y = y.rechunk({0: X.chunks[0], **{a: -1 for a in range(1, y.ndim)}})
                y_blocks = list(y.to_delayed().ravel())
        if takes_classes and "classes" not in fit_kwargs and y is not None:
            if getattr(self, "_classes", None) is None:
                self._classes = np.unique(np.asarray(y.compute() if _is_dask(y) else y))
            fit_kwargs = {**fit_kwargs, "classes": self._classes}
        import dask

        rng = np.random.default_rng(self.random_state)
        model = dask.delayed(self.estimator_, traverse=False)
        records = []
        step = functools.partial(_in_task, self.threads_per_task, _partial_fit_block)
        first_epoch = max(self.history_["epoch"], default=-1) + 1
        for epoch in range(first_epoch, first_epoch + self.epochs):
            order = rng.permutation(len(X_blocks)) if self.shuffle_blocks else range(len(X_blocks))
            for b in order:
                out = dask.delayed(step, nout=2, pure=False)(
                    model, X_blocks[b], y_blocks[b], fit_kwargs
                )
                model = out[0]
                records.append((epoch, int(b), out[1]))
        model, stats = dask.compute(model, [r[2] for r in records])
        self.estimator_ = model
        for (epoch, block, _), (n, seconds, loss) in zip(records, stats, strict=True):
            self.history_["epoch"].append(epoch)
            self.history_["block"].append(block)
            self.history_["n_samples"].append(n)
            self.history_["time"].append(seconds)
            if loss is not None:
                self.history_.setdefault("loss", []).append(loss)
        self.n_blocks_seen_ += len(records)
        if hasattr(model, "n_features_in_"):
            self.n_features_in_ = model.n_features_in_
        if hasattr(model, "classes_"):
            self.classes_ = model.classes_
        return self

    def _map(self, method, X):
        check_is_fitted(self, "estimator_")
        fn = getattr(self.estimator_, method)
        if not _is_dask(X):
            return fn(X)
        X = _rows_only(X, "X")
        sample = fn(np.zeros((1, X.shape[1]), dtype=X.dtype))
        sample = np.asarray(sample)
        return X.map_blocks(
            lambda block: fn(block),
            dtype=sample.dtype,
            chunks=(X.chunks[0], *sample.shape[1:]),
            drop_axis=1 if sample.ndim == 1 else None,
            meta=np.empty((0,) * sample.ndim, sample.dtype),
        )

    def predict(self, X):
        """``estimator_.predict`` on every block (lazy for dask input)."""
        return self._map("predict", X)

    def predict_proba(self, X):
        """``estimator_.predict_proba`` on every block (lazy for dask input)."""
        return self._map("predict_proba", X)

    def decision_function(self, X):
        """``estimator_.decision_function`` on every block (lazy for dask input)."""
        return self._map("decision_function", X)

    def score(self, X, y, sample_weight=None):
        """``estimator_.score`` on the whole data (computed; a float)."""
        check_is_fitted(self, "estimator_")
        X = np.asarray(X.compute() if _is_dask(X) else X)
        y = np.asarray(y.compute() if _is_dask(y) else y)
        return self.estimator_.score(X, y, sample_weight=sample_weight)


def _partial_fit_block(model, X, y, fit_kwargs):
    """One ``partial_fit`` on one block; returns (model, (n_samples, seconds, loss))."""
    import copy
    import time

    model = copy.deepcopy(model)  # tasks must not mutate their inputs (retries, threads)
    t0 = time.perf_counter()
    if y is None:
        model.partial_fit(X, **fit_kwargs)
    else:
        model.partial_fit(X, y, **fit_kwargs)
    seconds = time.perf_counter() - t0
    history = getattr(model, "history_", None)
    loss = None
    if isinstance(history, dict) and history.get("loss"):
        loss = float(history["loss"][-1])
    return model, (int(X.shape[0]), seconds, loss)
