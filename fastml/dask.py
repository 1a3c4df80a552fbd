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
import threading

import numpy as np

from . import distance as _distance
from ._base import BaseEstimator, ClusterMixin, check_is_fitted
from ._config import use_num_threads

__all__ = ["Incremental", "KMeans", "cdist", "kneighbors", "pairwise_distances_chunked"]

#: Largest base-point group (bytes) a kneighbors task copies into one array.
GROUP_BYTES = 256 << 20


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


def _placement(worker):
    """``Client.submit`` / ``compute`` keywords: prefer ``worker`` (None: any),
    another worker takes the task if that one is gone."""
    return {} if worker is None else {"workers": [worker], "allow_other_workers": True}


def _flat_keys(array):
    """The keys of ``array``'s blocks, in block order (C order over the block grid)."""
    from dask.core import flatten

    return list(flatten(array.__dask_keys__()))


def _row_offsets(chunks):
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def _distributed_client():
    """The ``dask.distributed`` client that ``dask.compute`` would use now, or None."""
    import dask.base

    get = dask.base.get_scheduler()
    owner = getattr(get, "__self__", None)
    if owner is not None and type(owner).__name__ == "Client":
        return owner
    return None


class _BlockTasks:
    """One task per block (or group of blocks), submitted and gathered with as
    little scheduling as possible.

    An iterative driver (k-means) sends a round of per-block tasks, waits for
    their small results and sends the next round. On a ``dask.distributed``
    client the rounds are futures (``Client.map`` / ``Client.gather``): no
    graph is built, optimised and materialised per round, which on a small
    machine costs more than the tasks' scheduling itself. Under any other
    scheduler (threads, processes, synchronous) they are ``dask.delayed``
    calls persisted with it.
    """

    def __init__(self):
        self.client = _distributed_client()
        self.direct = False  # see parts
        self._where = {}  # lazy call's key -> preferred worker (see run)

    def parts(self, *arrays):
        """Handles of the row blocks of ``arrays`` (None stays None), for :meth:`run`.

        On a distributed client where every block is held (persisted data),
        the blocks' futures: tasks are then submitted on them directly, with
        no graph built, optimised and sent per call. Otherwise ``dask.delayed``
        values, and :meth:`run` builds lazy calls that :meth:`start` computes
        together (so each block is computed once, on its task's worker).
        """
        self.direct = False
        if self.client is not None:
            from distributed import futures_of

            keys = [None if x is None else _flat_keys(x) for x in arrays]
            held = {f.key: f for x in arrays if x is not None for f in futures_of(x)}
            if all(k in held for ks in keys if ks is not None for k in ks):
                self.direct = True
                return [None if ks is None else [held[k] for k in ks] for ks in keys]
        return [None if x is None else list(x.to_delayed().ravel()) for x in arrays]

    def run(self, fn, rows, workers=None):
        """``fn(*row)`` for each of ``rows``, in order: futures, already
        submitted, after :meth:`parts` gave futures; otherwise lazy calls to
        pass to :meth:`start`.

        A row holds plain values and handles (of :meth:`parts` or earlier
        :meth:`run` calls), also inside lists. ``workers``: for each row, the
        worker it should preferably run on (distributed only; None: any).
        """
        import dask

        workers = [None] * len(rows) if workers is None else workers
        if self.direct:
            return [
                self.client.submit(fn, *row, pure=False, **_placement(a))
                for row, a in zip(rows, workers, strict=True)
            ]
        calls = [dask.delayed(fn, pure=False)(*row) for row in rows]
        self._where.update({c.key: a for c, a in zip(calls, workers, strict=True)})
        return calls

    def start(self, handles):
        """Start computing the lazy calls of :meth:`run` (all in one go:
        blocks they share are computed once); futures pass through."""
        import dask

        if self.direct:
            return list(handles)
        if self.client is None:
            return list(dask.persist(*handles))
        return [self.client.compute(h, **_placement(self._where.get(h.key))) for h in handles]

    def slots(self, array):
        """Where ``array``'s row blocks are: (worker of each block, {worker: threads}).

        A block's worker is None when it is not held in the cluster (not
        persisted). ``(None, None)`` without a distributed client, where a
        task costs little to schedule and blocks are not grouped.
        """
        if self.client is None:
            return None, None
        from distributed import futures_of

        keys = _flat_keys(array)
        held = {f.key: f for f in futures_of(array)}
        found = [held[key] for key in keys if key in held]
        who = self.client.who_has(found) if found else {}
        owners = [next(iter(who.get(key, ())), None) for key in keys]
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return owners, {a: int(v.get("nthreads", 1)) for a, v in info.items()}

    def map(self, fn, *args, pure=True):
        """``fn(*row)`` for each row of the columns ``args`` (handles or plain values)."""
        import dask

        if self.client is not None:
            return self.client.map(fn, *args, pure=pure)
        return list(
            dask.persist(*[dask.delayed(fn, pure=pure)(*row) for row in zip(*args, strict=True)])
        )

    def gather(self, handles):
        """The values of ``handles``, in order."""
        import dask

        if self.client is not None:
            return self.client.gather(list(handles))
        return list(dask.compute(*handles))


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


# --------------------------------------------------------------------- neighbours


def kneighbors(
    X,
    Y=None,
    n_neighbors=5,
    *,
    metric="euclidean",
    return_distance=True,
    backend=None,
    threads_per_task=1,
    split_every=4,
    **metric_kwargs,
):
    """k nearest rows of ``Y`` for every row of ``X``, both possibly partitioned.

    Each (query block, base group) task runs :func:`fastml.neighbors.kneighbors`
    and returns its local top-k with global base indices; the local lists of
    one query block are merged by a tree reduction (``split_every`` lists per
    merge), keeping the k smallest by (distance, index). That is exactly the
    list one call over all of ``Y`` returns, ties included: both order by
    distance, then by the lower index. On a distributed cluster the base
    blocks that one worker holds form groups, one per thread (at most
    ``GROUP_BYTES`` each), searched by one call each; elsewhere each block
    is a group.

    Parameters
    ----------
    X : dask.array.Array or ndarray of shape (mA, n)
        Queries, chunked along rows only.
    Y : dask.array.Array or ndarray of shape (mB, n), optional
        Base points, chunked along rows only. Default: ``X``, and then a
        point is not its own neighbour.
    n_neighbors : int, default 5
    metric : str or callable, default "euclidean"
    return_distance : bool, default True
    backend : str, optional
    threads_per_task : int, default 1
    split_every : int, default 4
        Fan-in of the merge tree.
    **metric_kwargs
        As in :func:`fastml.cdist`.

    Returns
    -------
    distances : dask.array.Array of shape (mA, n_neighbors)
        Only with ``return_distance=True``.
    indices : dask.array.Array of shape (mA, n_neighbors), int64
        Rows of ``Y`` (or ``X``), nearest first.
    """
    from . import neighbors as _neighbors

    if not (_is_dask(X) or _is_dask(Y)):
        return _neighbors.kneighbors(
            X,
            Y,
            n_neighbors,
            metric=metric,
            return_distance=return_distance,
            backend=backend,
            **metric_kwargs,
        )
    import dask

    da = _dask_array()
    self_query = Y is None
    X = _rows_only(X, "X")
    Y = X if self_query else _rows_only(Y, "Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            "X and Y must have the same number of columns (features); "
            f"got X.shape={X.shape} and Y.shape={Y.shape}"
        )
    k = _neighbors._check_k(n_neighbors, Y.shape[0], self_query)
    if not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2; got {split_every!r}")
    metric_kwargs = _global_metric_kwargs(metric, X, Y, metric_kwargs)
    dtype = _float_dtype(X, Y)
    # Fail now, not inside a task.
    probe = np.zeros((2, X.shape[1]), dtype)
    _neighbors.kneighbors(probe, probe, 1, metric=metric, backend=backend, **metric_kwargs)

    starts = _row_offsets(Y.chunks[0])
    x_blocks = X.to_delayed().ravel()
    y_blocks = Y.to_delayed().ravel()
    # Base blocks in groups, one per worker thread, of the blocks that worker
    # holds (see _group_blocks): a kernel call over more base rows filters
    # better (its running k-th distance tightens once, not once per block).
    # A task joins its group's blocks into one copy: at most GROUP_BYTES.
    owners, threads = _BlockTasks().slots(Y)
    cap = max(1, GROUP_BYTES // max(1, Y.shape[1] * np.dtype(dtype).itemsize))
    groups = [
        m for _, m in _group_blocks(list(Y.chunks[0]), owners, threads, threads_per_task, cap)
    ]
    local = functools.partial(
        _in_task,
        threads_per_task,
        _local_topk,
        k=k,
        metric=metric,
        backend=backend,
        kwargs=metric_kwargs,
    )
    merge = functools.partial(_merge_topk, k=k)
    dist_parts, ind_parts = [], []
    for i, xb in enumerate(x_blocks):
        lists = []
        for m in groups:
            segments = _group_segments(m, starts)
            # The query block's own rows inside the group (self-query only).
            at = int(segments[m.index(i), 0]) if self_query and i in m else -1
            lists.append(
                dask.delayed(local, pure=True)(
                    xb, *[y_blocks[j] for j in m], segments=segments, self_at=at
                )
            )
        while len(lists) > 1:
            lists = [
                dask.delayed(merge, pure=True)(*lists[s : s + split_every])
                if len(lists[s : s + split_every]) > 1
                else lists[s]
                for s in range(0, len(lists), split_every)
            ]
        rows = X.chunks[0][i]
        dist_parts.append(
            da.from_delayed(dask.delayed(operator.getitem)(lists[0], 0), (rows, k), dtype)
        )
        ind_parts.append(
            da.from_delayed(dask.delayed(operator.getitem)(lists[0], 1), (rows, k), np.int64)
        )
    ind = da.concatenate(ind_parts)
    if not return_distance:
        return ind
    return da.concatenate(dist_parts), ind


def _local_topk(x, *ys, segments, self_at, k, metric, backend, kwargs):
    """Top-k of ``x``'s rows among a group of base blocks, with global indices.

    ``segments``: (first row in the group, first global row) of each block
    (:func:`_group_segments`). ``self_at`` >= 0: ``x`` is the group's rows
    from ``self_at`` on, and a point is not its own neighbour.
    """
    from . import neighbors as _neighbors

    y = ys[0] if len(ys) == 1 else np.concatenate(ys)
    same = self_at >= 0
    kk = min(k, len(y) - (1 if same else 0))
    if kk < 1:  # a one-row self-query group: no candidate besides the point itself
        dtype = np.result_type(x.dtype, y.dtype, np.float32)
        return (
            np.full((len(x), 0), np.inf, dtype=dtype),
            np.empty((len(x), 0), dtype=np.int64),
        )
    if same and self_at == 0 and len(y) == len(x):  # the query block alone
        d, i = _neighbors.kneighbors(x, None, kk, metric=metric, backend=backend, **kwargs)
    elif same:
        # One more neighbour, then the point itself out (or the last, if
        # lower-indexed duplicates pushed it out): what excluding it gives.
        d, i = _neighbors.kneighbors(x, y, kk + 1, metric=metric, backend=backend, **kwargs)
        own = i == (self_at + np.arange(len(x)))[:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), kk)
        keep = np.ones(i.shape, dtype=bool)
        keep[np.arange(len(x)), drop] = False
        d, i = d[keep].reshape(len(x), kk), i[keep].reshape(len(x), kk)
    else:
        d, i = _neighbors.kneighbors(x, y, kk, metric=metric, backend=backend, **kwargs)
    return d, _global_rows(segments, i.astype(np.int64))


def _merge_topk(*lists, k):
    """The k smallest (distance, index) pairs of each row over several local lists."""
    d = np.concatenate([lst[0] for lst in lists], axis=1)
    i = np.concatenate([lst[1] for lst in lists], axis=1)
    # Sort by index, then stably by distance: ties keep the lower index first.
    order = np.argsort(i, axis=1, kind="stable")
    d = np.take_along_axis(d, order, axis=1)
    i = np.take_along_axis(i, order, axis=1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)


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


# --------------------------------------------------------------------- k-means


class KMeans(ClusterMixin, BaseEstimator):
    """Lloyd's k-means on a row-chunked dask array, one map over blocks per iteration.

    Each iteration is one task per block running fastml's fused
    assign-and-accumulate kernel (:func:`fastml.cluster._lloyd_step`) on that
    block, then a reduction of the per-block centre sums, weights and
    inertia (tiny: ``n_clusters x n_features``) in block order. On a
    ``dask.distributed`` cluster the blocks are first centred into groups,
    one per worker thread, of the blocks each worker holds
    (:func:`_group_blocks`), and the tasks run per group. The
    convergence rules, the centring of the data, and the re-seeding of empty
    clusters (farthest points first, found by a per-block top-m and a merge)
    are those of :class:`fastml.cluster.KMeans`, so from the same initial
    centres both give the same clustering (up to the order of floating-point
    sums). Labels stay on the workers between iterations.

    On a ``dask.distributed`` cluster where each worker holds one group
    (workers of one thread, or ``threads_per_task`` equal to their threads),
    each group is held by a Dask actor on its worker for the iterations, and
    the actors run the iterations among themselves: after its pass each
    sends its statistics straight to the others, and each adds them up and
    updates the centres as the driver would (one call from the client per
    fit; about 2.5 ms of messaging per iteration on a 2-core machine, mostly
    hidden behind the slower worker's pass, against about 5 ms for a call to
    each actor per iteration and 18 ms for a round of tasks through the
    scheduler). If a worker dies the other actors are stopped and the
    iterations start over as tasks, which Dask recomputes from the data's
    lineage (see :class:`_LloydPasses`).

    Initialisation: ``init="k-means++"`` runs fastml's greedy k-means++ on a
    uniform random sample of ``init_max_samples`` rows (all rows if fewer),
    ``"random"`` picks ``n_clusters`` random rows, and an array is used as
    given. A sample of 100 000 rows places k-means++ centres as well as the
    full data for all practical purposes and costs one pass of reading.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features)
    max_iter : int, default 300
    tol : float, default 1e-4
        Relative to the mean per-feature variance of X (scikit-learn's rule).
    random_state : None or int
    init_max_samples : int, default 100_000
    backend : str, optional
    threads_per_task : int, default 1

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : dask.array.Array of shape (n_samples,), int32 (ndarray for NumPy input)
    inertia_ : float
    n_iter_ : int
    history_ : list of float
        Inertia of each iteration (before its centre update).
    n_features_in_ : int
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=300,
        tol=1e-4,
        random_state=None,
        init_max_samples=100_000,
        backend=None,
        threads_per_task=1,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.init_max_samples = init_max_samples
        self.backend = backend
        self.threads_per_task = threads_per_task

    def fit(self, X, y=None, sample_weight=None):
        """Cluster ``X``; return self.

        Parameters
        ----------
        X : dask.array.Array or ndarray of shape (n_samples, n_features)
            Chunked along rows only. NumPy input runs :class:`fastml.cluster.KMeans`.
        y : ignored
        sample_weight : dask.array.Array or ndarray of shape (n_samples,), optional
        """
        from . import cluster as _cluster

        if not _is_dask(X):
            est = _cluster.KMeans(
                self.n_clusters,
                init=self.init,
                n_init=1,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=self.random_state,
                backend=self.backend,
            ).fit(X, sample_weight=sample_weight)
            for name in (
                "cluster_centers_",
                "labels_",
                "inertia_",
                "n_iter_",
                "history_",
                "n_features_in_",
            ):
                setattr(self, name, getattr(est, name))
            return self
        import dask

        da = _dask_array()
        k = _cluster._check_int(self.n_clusters, "n_clusters")
        max_iter = _cluster._check_int(self.max_iter, "max_iter")
        tol = _cluster._check_nonneg_float(self.tol, "tol")
        X = _rows_only(X, "X")
        n, d = X.shape
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}")
        dtype = _float_dtype(X)
        X = X.astype(dtype)
        init = _cluster._resolve_init(self.init, k, d, dtype)
        if sample_weight is None:
            w = None
        else:
            w = da.asarray(sample_weight).astype(dtype)
            if w.shape != (n,):
                raise ValueError(f"sample_weight must have shape ({n},); got {w.shape}")
            w = w.rechunk((X.chunks[0],))  # (not X.chunks[0]: a tuple of ints is one size per axis)
        self.n_features_in_ = d

        # One read of each block checks it and sums its columns; a second
        # centres it on the mean of all rows (as the single-machine driver)
        # and computes the norms (and, for tol, the sums of squares) once,
        # into groups of blocks kept on the workers (see _group_blocks).
        tasks = _BlockTasks()
        owners, threads = tasks.slots(X)
        groups = _group_blocks(list(X.chunks[0]), owners, threads, self.threads_per_task)
        xs, ws = tasks.parts(X, w)
        ws = [None] * len(xs) if ws is None else ws
        members = [([xs[b] for b in m], [ws[b] for b in m]) for _, m in groups]
        where = [a for a, _ in groups]
        sums = tasks.run(_group_sums, members, where)
        # Each group's preparation adds all groups' sums itself, so it starts
        # as soon as they are known, without a round trip through here.
        prepare = tasks.run(
            _prepare_group, [(gx, gw, sums, dtype, tol > 0) for gx, gw in members], where
        )
        handles = tasks.start(sums + prepare)
        pending, blocks = handles[: len(groups)], handles[len(groups) :]
        del xs, ws, members, sums, prepare  # (lazy input blocks are then freed once read)
        # Submitted now, the groups' actors start as soon as their groups are ready.
        passes = _LloydPasses(tasks, blocks, where, self.threads_per_task, self.backend)
        try:
            col_sums = tasks.gather(pending)
            _check_sums(col_sums, w is not None)
            offset = _centring_offset(col_sums, dtype)  # what the blocks are centred by
            starts = _row_offsets(X.chunks[0])
            # Each group's rows: (its first row, the block's first global row) per block.
            segments = [_group_segments(m, starts) for _, m in groups]
            centers = self._initial_centers(X, w, init, k, offset, dtype)
            centers, history, strict = passes.iterate(
                centers, col_sums, offset, segments, dtype, max_iter, tol
            )
            outs, inertia = passes.final(centers, strict)
        finally:
            passes.close()
        # labels_ in X's row chunks: each block's rows of its group's labels.
        where = {}
        for g, (_, m) in enumerate(groups):
            at = 0
            for b in m:
                where[b] = (g, at)
                at += X.chunks[0][b]
        self.labels_ = da.concatenate(
            [
                da.from_delayed(
                    dask.delayed(_labels_part)(outs[where[b][0]], where[b][1], c), (c,), np.int32
                )
                for b, c in enumerate(X.chunks[0])
            ]
        )
        self.cluster_centers_ = (centers + offset).astype(dtype)
        self.inertia_ = inertia
        self.n_iter_ = len(history)
        self.history_ = history
        self.converged_strictly_ = strict
        return self

    def _initial_centers(self, X, w, init, k, offset, dtype):
        """Initial centres in the centred coordinates (``X - offset``)."""
        import dask

        from . import cluster as _cluster

        if isinstance(init, np.ndarray):
            return (init.astype(np.float64) - offset).astype(dtype)
        rng = _cluster._check_random_state(self.random_state)
        n = X.shape[0]
        m = min(n, _cluster._check_int(self.init_max_samples, "init_max_samples"))
        idx = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
        if w is None:
            sample, ws = dask.compute(X[idx])[0], np.ones(len(idx), dtype=dtype)
        else:
            sample, ws = dask.compute(X[idx], w[idx])
        sample = np.asarray(sample) - offset
        centers = _cluster._init_centers(sample, k, init, ws, rng, self.backend)
        return np.ascontiguousarray(centers, dtype=dtype)

    def predict(self, X):
        """Nearest centre of each row (lazy for dask input), int32."""
        from . import cluster as _cluster

        check_is_fitted(self, "cluster_centers_")
        C = self.cluster_centers_
        if not _is_dask(X):
            X = np.asarray(X)
            est = _cluster.KMeans(self.n_clusters, backend=self.backend)
            est.cluster_centers_ = C
            est.n_features_in_ = self.n_features_in_
            return est.predict(X)
        X = _rows_only(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but KMeans is expecting {self.n_features_in_} "
                "features as input"
            )
        block = functools.partial(
            _in_task, self.threads_per_task, _predict_block, centers=C, backend=self.backend
        )
        return X.map_blocks(block, dtype=np.int32, drop_axis=1, meta=np.empty((0,), np.int32))


def _lloyd_iterations(passes, centers, col_sums, offset, segments, dtype, max_iter, tol):
    """Lloyd's iterations from ``centers`` (centred coordinates) with the
    single-machine driver's stopping rules: (centres, inertia history,
    stopped because no label changed).

    ``passes`` runs the passes: :class:`_LloydPasses` from the client, or
    :class:`_PeerPasses` in each group's actor (every actor then runs this same
    loop on the same numbers, and so computes the same centres).
    """
    from . import cluster as _cluster

    # tol's threshold (scikit-learn's: tol * mean variance) is first needed
    # after the first iteration: its sums of squares come with it.
    tol_abs = 0.0
    history = []
    for it in range(max_iter):
        stats, group_m2s = passes.step(centers, with_m2=tol > 0 and it == 0)
        if group_m2s is not None:
            tol_abs = float(np.mean(_column_variances(col_sums, group_m2s, offset))) * tol
        inertia, sums, weights, changed = _sum_step_stats(stats)
        history.append(inertia)
        empty = np.flatnonzero(weights == 0)
        if empty.size:
            _relocate_empty(passes, segments, centers, sums, weights, empty)
        new = _cluster._new_centers(sums, weights, centers, dtype)
        diff = new.astype(np.float64) - centers
        shift = float(np.einsum("ij,ij->", diff, diff))
        centers = new
        if changed == 0 and it > 0:
            return centers, history, True
        if shift <= tol_abs:
            break
    return centers, history, False


def _relocate_empty(passes, segments, centers, sums, weights, empty):
    """Re-seed empty clusters with the farthest samples over all blocks (in place).

    Each group returns its ``m`` farthest samples (distance, global index,
    row, weight, label); the merge keeps the ``m`` farthest overall, ties to
    the lower index, exactly as the single-machine ``_relocate_empty``.
    """
    m = empty.size
    tops = passes.farthest(centers, m, segments)
    dist = np.concatenate([t[0] for t in tops])
    gidx = np.concatenate([t[1] for t in tops])
    rows = np.concatenate([t[2] for t in tops])
    wts = np.concatenate([t[3] for t in tops])
    labs = np.concatenate([t[4] for t in tops])
    if not (dist.size and dist.max() > 0):  # every sample on its centre: nothing to move
        return
    order = np.lexsort((gidx, -dist))[:m]
    for new_id, j in zip(empty, order, strict=False):
        # As the single-machine driver: the sample's weighted coordinates
        # move from its cluster's sums to the empty cluster's; labels are
        # left as they are (the next pass assigns afresh).
        wi = float(wts[j])
        xi = rows[j].astype(np.float64) * wi
        sums[labs[j]] -= xi
        weights[labs[j]] -= wi
        sums[new_id] = xi
        weights[new_id] = wi


def _group_blocks(rows, owners=None, threads=None, per_task=1, max_rows=None):
    """Blocks gathered into groups of about equal rows, one per task slot of each worker.

    A distributed task costs milliseconds to schedule (about 2.5 ms each on a
    small machine) and a k-means iteration is a round of tasks, so the
    iterations work on groups of blocks, a group per worker thread, rather
    than on each block. A block joins a group of the worker that already
    holds it unless that worker has its share; the rest go to the groups
    with the fewest rows.

    Parameters
    ----------
    rows : list of int
        Rows of each block.
    owners : list of str or None, optional
        The worker holding each block (None: unknown). Without ``owners``
        (no distributed client) every block is its own group.
    threads : dict of str to int
        Threads of each worker.
    per_task : int
        Threads each task uses.
    max_rows : int, optional
        Cap on a group's rows (a group is then cut into pieces of whole
        blocks; a larger block stays a group by itself): for a task that
        copies its group.

    Returns
    -------
    list of (worker or None, list of int)
        Block indices of each group (in block order), with the worker it should run on.
    """
    if owners is None or not threads:
        return [(None, [b]) for b in range(len(rows))]
    slots = [(a, j) for a, t in sorted(threads.items()) for j in range(max(1, t // per_task))]
    share = sum(rows) / len(slots)
    load = dict.fromkeys(slots, 0)
    members = {slot: [] for slot in slots}
    left = []
    for b in sorted(range(len(rows)), key=lambda b: -rows[b]):
        mine = [slot for slot in slots if slot[0] == owners[b]]
        slot = min(mine, key=load.get) if mine else None
        if slot is not None and load[slot] + rows[b] <= share * 1.05 + 1:
            load[slot] += rows[b]
            members[slot].append(b)
        else:
            left.append(b)
    for b in left:
        slot = min(slots, key=load.get)
        load[slot] += rows[b]
        members[slot].append(b)
    groups = []
    for slot, m in members.items():
        part = []
        for b in sorted(m):  # consecutive pieces of at most max_rows (whole blocks)
            if part and max_rows is not None and sum(rows[c] for c in part) + rows[b] > max_rows:
                groups.append((slot[0], part))
                part = []
            part.append(b)
        if part:
            groups.append((slot[0], part))
    return groups


def _block_sums(x, w):
    """A block's (rows, column sums in float64, X all finite, weights all
    finite, minimum weight, some weight nonzero): what the input checks
    (:func:`_check_sums`) and the centring offset need, in one read of it.

    The check is :func:`fastml._validation.all_finite`'s rule on the column
    sums: finite sums mean no NaN or inf; only a non-finite sum, which may be
    an overflow of finite values, needs that function's exact check.
    """
    from ._validation import all_finite

    with np.errstate(over="ignore", invalid="ignore"):
        total = np.einsum("ij->j", x, dtype=np.float64)  # (x.sum(axis=0): 1.5x slower here)
    finite = bool(np.isfinite(total).all()) or all_finite(x)
    if w is None:
        return x.shape[0], total, finite, True, np.inf, x.shape[0] > 0
    wmin = float(np.min(w)) if len(w) else np.inf
    return x.shape[0], total, finite, bool(np.isfinite(w).all()), wmin, bool(np.any(w))


def _group_sums(xs, ws):
    """:func:`_block_sums` of a group of blocks (see :func:`_group_blocks`)."""
    parts = [_block_sums(x, w) for x, w in zip(xs, ws, strict=True)]
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite data: rejected anyway
        total = functools.reduce(np.add, [p[1] for p in parts])
    return (
        sum(p[0] for p in parts),
        total,
        all(p[2] for p in parts),
        all(p[3] for p in parts),
        min(p[4] for p in parts),
        any(p[5] for p in parts),
    )


def _check_sums(sums, weighted):
    """The single-machine driver's input errors, from every group's :func:`_group_sums`."""
    if not all(s[2] for s in sums):
        raise ValueError("X contains NaN or infinity")
    if weighted:
        if not all(s[3] for s in sums):
            raise ValueError("sample_weight contains NaN or infinity")
        if min(s[4] for s in sums) < 0:
            raise ValueError("sample_weight must be non-negative")
        if not any(s[5] for s in sums):
            raise ValueError("sample_weight must not be all zero")


def _column_sums(sums):
    """(rows, column sums) of all groups' :func:`_group_sums`, added in group order."""
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite data: rejected anyway
        return sum(s[0] for s in sums), functools.reduce(np.add, [s[1] for s in sums])


def _centring_offset(sums, dtype):
    """The column means of all rows, in ``dtype``: what every group is centred by."""
    n, total = _column_sums(sums)
    with np.errstate(invalid="ignore", over="ignore"):
        return (total / n).astype(dtype)


def _column_variances(sums, m2s, offset):
    """Per-column variance of all rows from their sums and the groups' sums of
    squares about ``offset`` (:func:`_prepare_group`):
    ``var = sum((x - o)^2) / n - (mean - o)^2``. The identity holds for any
    offset; with the rounded mean as offset the correction is tiny, so no
    cancellation."""
    n, total = _column_sums(sums)
    m2 = functools.reduce(np.add, m2s)
    return np.maximum(m2 / n - (total / n - offset.astype(np.float64)) ** 2, 0.0)


def _prepare_group(xs, ws, sums, dtype, with_m2):
    """A group of blocks, one after the other, centred by the mean of all rows
    (from every group's ``sums``), with what the iterations read: a tuple
    (centred rows, weights (ones for None), squared norms in float64, and the
    column sums of squared centred values (float64; None unless ``with_m2``)).
    Kept on a worker.

    Whole blocks at a time: centring and norms a piece at a time, while the
    piece is in cache, measured no faster (the time goes to writing the
    centred copy, fresh memory page-faulted in).
    """
    from .cluster import _sq_norms

    offset = _centring_offset(sums, dtype)
    x = np.empty((sum(len(xb) for xb in xs), len(offset)), dtype=dtype)
    w = np.ones(len(x), dtype=dtype)
    at = 0
    for xb, wb in zip(xs, ws, strict=True):
        np.subtract(xb, offset, out=x[at : at + len(xb)])
        if wb is not None:
            w[at : at + len(xb)] = wb
        at += len(xb)
    m2 = np.einsum("ij,ij->j", x, x, dtype=np.float64) if with_m2 else None
    return x, w, _sq_norms(x), m2


def _group_m2(block):
    return block[3]


class _Step:
    """One group's Lloyd pass: its labels and its statistics.

    ``stats`` is (inertia, sums, weights, n_changed). The labels stay in the
    worker's memory, where the group's next pass compares against them;
    pickled (gathered by the driver, moved to another worker, spilled to
    disk), a step carries its statistics only. So an iteration sends back a
    few kilobytes per group, without a second task to pick them out. The
    labels are a cache, never needed for a correct result: a pass after a
    step without labels counts every sample as changed (the strict
    convergence test waits one more pass), and the final labels and the
    farthest-point search assign afresh, with the same centres, when a step
    has none.
    """

    __slots__ = ("labels", "spare", "stats")

    def __init__(self, labels, stats, spare=None):
        self.labels = labels
        self.stats = stats
        # The previous pass's labels, for the next pass to write into: Dask's
        # workers return freed memory to the system at once, so a fresh array
        # would page-fault every page of it each pass.
        self.spare = spare

    def __reduce__(self):
        return _Step, (None, self.stats)

    def __sizeof__(self):  # what dask's memory accounting sees
        size = object.__sizeof__(self) + self.stats[1].nbytes + self.stats[2].nbytes
        return size + sum(a.nbytes for a in (self.labels, self.spare) if a is not None)


def _kmeans_block_step(block, centers, prev, backend):
    """One Lloyd pass on one group of blocks: a :class:`_Step`.

    ``prev`` is the group's previous step (None in the first iteration).

    Calls the kernel of :func:`fastml.cluster._lloyd_step` directly: the
    group was checked and centred, and its norms computed, once, in :func:`_prepare_group`.
    """
    from .cluster import _kernels

    x, w, xsq, _ = block
    n, d = x.shape
    k = centers.shape[0]
    spare = None if prev is None else prev.spare
    labels = spare if spare is not None else np.empty(n, np.int32)
    sums = np.zeros((k, d))
    weights = np.zeros(k)
    kern = _kernels(backend, n, k, d)
    inertia = float(kern.lloyd(x, w, xsq, np.ascontiguousarray(centers), labels, sums, weights))
    if prev is None or prev.labels is None:
        changed = n
    else:
        changed = _count_changed(labels, prev.labels)
    return _Step(labels, (inertia, sums, weights, changed), None if prev is None else prev.labels)


def _count_changed(labels, previous, chunk=16384):
    """``count_nonzero(labels != previous)`` with small temporaries: on a Dask
    worker (see :mod:`fastml._scratch`) a 500000-row boolean temporary is
    fresh memory every pass."""
    return sum(
        int(np.count_nonzero(labels[i : i + chunk] != previous[i : i + chunk]))
        for i in range(0, len(labels), chunk)
    )


class _LloydPasses:
    """The Lloyd passes of a fit: each group's pass where its blocks are.

    A group's pass is :func:`_kmeans_block_step` on its prepared blocks,
    whose labels the group's next pass compares against (:class:`_Step`).

    On a ``dask.distributed`` client each group is handed to a Dask actor
    (:class:`_GroupActor`) on the worker that holds it, and :meth:`iterate`
    has the actors run all the iterations among themselves
    (:class:`_PeerPasses`). Otherwise, and if an actor fails (its worker
    died: the others are stopped), the iterations run from here, from the
    start, with a pass as a round of tasks on the groups' futures, which Dask
    recomputes from their lineage. A round of tasks goes through the
    scheduler (client, scheduler, worker, scheduler, client: about 18 ms per
    round on a 2-core machine), a third of the time of a 1,000,000 x 32
    float32 pass with 64 centres; the actors' exchanges take about 2.5 ms,
    mostly hidden behind the slower worker's pass. Dask runs a worker's actor
    calls one at a time, so the actors are used only where each worker holds
    one group (workers of one thread, or ``threads_per_task`` equal to the
    workers' threads); otherwise tasks.
    """

    def __init__(self, tasks, blocks, where, threads, backend):
        self.tasks = tasks
        self.blocks = blocks
        self.threads = threads
        self.backend = backend
        # The task path's last steps (futures); None before its first pass.
        self.steps = [None] * len(blocks)
        self.actors = None
        # Started now, on the workers the groups are prepared on (``where``),
        # and waited for by iterate.
        self._actor_futures = []
        # A worker runs its actors' calls one at a time (one actor thread), so
        # actors only where each worker has one group; else rounds of tasks.
        if tasks.client is not None and None not in where and len(set(where)) == len(where):
            self._actor_futures = [
                tasks.client.submit(
                    _GroupActor, block, threads, backend, actor=True, **_placement(a)
                )
                for block, a in zip(blocks, where, strict=True)
            ]

    def _start_actors(self):
        """Wait for the actors; False (and tasks from now on) if one failed to start."""
        if self.actors is None and self._actor_futures:
            try:
                self.actors = self.tasks.client.gather(self._actor_futures)
            except Exception:  # e.g. a worker died: the tasks take over
                self.close()
        return self.actors is not None

    def iterate(self, centers, *args):
        """:func:`_lloyd_iterations` from ``centers`` (``args``: its other
        arguments after ``centers``): run by the actors among themselves
        (:class:`_PeerPasses`) when there are actors, else (or if one fails)
        from here, a round of tasks per pass."""
        if self._start_actors():
            out = self._run_on_actors(centers, *args)
            if out is not None:
                return out
        return _lloyd_iterations(self, centers, *args)

    def _run_on_actors(self, centers, *args):
        """The iterations run by the actors, each sending its pass's statistics
        straight to the others: about 2.5 ms of messaging per iteration on a
        2-core machine, against 4.5-5 ms for a call from here to each actor
        (which Dask routes through the scheduler unless the client was made
        with ``direct_to_workers=True``). None if an actor failed (the
        others are stopped first); the caller then starts over without them.
        """
        actors = self.actors
        calls = []
        try:
            calls = [
                actor.iterate(rank, actors, centers, *args) for rank, actor in enumerate(actors)
            ]
            outs = _actor_results(calls)
        except Exception:  # a worker died: stop the survivors, then go on without actors
            running = [a for a, call in zip(actors, calls, strict=False) if not call.done()]
            self._stop_actors(running + actors[len(calls) :])
            return None
        centers, history, strict = outs[0]
        for other in outs[1:]:  # the same loop on the same numbers: always equal
            if other[1] != history or not np.array_equal(other[0], centers):
                raise RuntimeError("fastml.dask.KMeans: the actors' iterations disagree")
        return centers, history, strict

    def _stop_actors(self, running):
        """Abort the iterations of the actors ``running`` (:meth:`_GroupActor.abort`)
        and release all actors."""
        calls = []
        for actor in running:
            try:
                calls.append(actor.abort())
            except Exception:  # its worker is gone
                pass
        for call in calls:
            try:
                call.result(timeout=30)
            except Exception:
                pass
        self.close()

    def step(self, centers, with_m2=False):
        """One pass with ``centers``, as a round of tasks: each group's
        (inertia, sums, weights, n_changed) in group order, and, if
        ``with_m2``, each group's :func:`_group_m2` (else None)."""
        tasks, nb = self.tasks, len(self.blocks)
        run = functools.partial(_in_task, self.threads, _kmeans_block_step)
        self.steps = tasks.map(
            run, self.blocks, [centers] * nb, self.steps, [self.backend] * nb, pure=False
        )
        m2s = tasks.map(_group_m2, self.blocks) if with_m2 else []
        done = tasks.gather(list(self.steps) + m2s)
        return [step.stats for step in done[:nb]], (done[nb:] if with_m2 else None)

    def farthest(self, centers, m, segments):
        """Each group's :func:`_farthest_in_block` for the last pass (``centers``: its centres)."""
        nb = len(self.blocks)
        return self.tasks.gather(
            self.tasks.map(
                _farthest_in_block,
                self.blocks,
                [centers] * nb,
                self.steps,
                [m] * nb,
                segments,
                [self.backend] * nb,
            )
        )

    def final(self, centers, strict):
        """The final assignment to ``centers``: each group's (labels, inertia)
        (futures, on the groups' workers) and the total inertia.

        ``strict``: the last pass (with these centres) changed no label, and
        its labels are kept (see :func:`_kmeans_block_final`).
        """
        tasks, nb = self.tasks, len(self.blocks)
        final = functools.partial(_in_task, self.threads, _kmeans_block_final)
        steps = self.steps if strict else [None] * nb
        outs = tasks.map(final, self.blocks, [centers] * nb, steps, [self.backend] * nb, pure=False)
        return outs, float(sum(tasks.gather(tasks.map(_final_inertia, outs, pure=False))))

    def close(self):
        """Release the actors (their groups' blocks stay as the tasks' futures)."""
        # At once, not whenever the last reference goes: each actor handle
        # holds a future of its own (Actor._future, no public release), and a
        # handle caught in a reference cycle would keep its group's memory on
        # the worker until the garbage collector ran.
        handles = [getattr(a, "_future", None) for a in self.actors or ()]
        for future in [*self._actor_futures, *handles]:
            if future is not None:
                future.release()
        self.actors = None
        self._actor_futures = []


def _actor_results(calls, poll=0.001):
    """The results of actor calls (ActorFutures), in order; raises as soon
    as one of them fails (the others may be waiting for the failed one)."""
    import time

    results = {}
    while len(results) < len(calls):
        for i, call in enumerate(calls):
            if i not in results and call.done():
                results[i] = call.result()  # raises if the call failed
        if len(results) < len(calls):
            time.sleep(poll)
    return [results[i] for i in range(len(calls))]


class _GroupActor:
    """A group's prepared blocks and its last pass's labels, on the worker
    holding them: a Dask actor of :class:`_LloydPasses`.

    Its :meth:`iterate` runs the whole of :func:`_lloyd_iterations` with
    the other groups' actors (:class:`_PeerPasses`); they send it their
    results through :meth:`deliver`, an ``async`` method, which Dask runs on
    the worker's event loop and so while :meth:`iterate` holds the worker's
    actor thread.
    """

    def __init__(self, block, threads, backend):
        self.block = block
        self.threads = threads
        self.backend = backend
        self.last = None  # the last _Step
        self._inbox = {}  # (exchange number, sender's rank) -> value
        self._arrived = threading.Condition()
        self._aborted = False

    def step(self, centers, with_m2):
        self.last = _in_task(
            self.threads, _kmeans_block_step, self.block, centers, self.last, self.backend
        )
        return self.last.stats, (_group_m2(self.block) if with_m2 else None)

    def farthest(self, centers, m):
        """:func:`_farthest_in_block` with the group's own row numbers (the
        caller maps them to global rows)."""
        return _farthest_in_block(self.block, centers, self.last, m, None, self.backend)

    def iterate(self, rank, actors, centers, *args):
        """:func:`_lloyd_iterations` from ``centers`` with the other
        groups' actors (``actors``, in group order; this one is ``actors[rank]``)."""
        return _lloyd_iterations(_PeerPasses(self, rank, actors), centers, *args)

    async def deliver(self, number, rank, value):
        """Receive ``value``, exchange ``number`` of the actor ``rank``."""
        with self._arrived:
            self._inbox[(number, rank)] = value
            self._arrived.notify_all()

    async def abort(self):
        """Make a running :meth:`iterate` fail (another actor failed)."""
        with self._arrived:
            self._aborted = True
            self._arrived.notify_all()

    def collect(self, number, ranks, sent):
        """The values of exchange ``number`` from ``ranks`` ({rank: value}),
        once all have arrived; raises if aborted or if one of the deliveries
        this actor ``sent`` (ActorFutures) failed (its receiver's worker died).
        """
        keys = [(number, r) for r in ranks]
        while True:
            with self._arrived:
                if all(key in self._inbox for key in keys):
                    return {r: self._inbox.pop(key) for r, key in zip(ranks, keys, strict=True)}
                if self._aborted:
                    raise RuntimeError("aborted: another group's actor failed")
                self._arrived.wait(0.05)
            # Outside the lock: a future's result goes through the worker's
            # event loop, where deliver may be waiting for the lock.
            for call in [c for c in sent if c.done()]:
                call.result()  # raises if the delivery failed
                sent.remove(call)


class _PeerPasses:
    """The passes of :func:`_lloyd_iterations` as each group's actor runs
    them: its own group's pass, then an exchange of the results with the
    other actors, so that every actor gets all groups' results in group order
    (what :class:`_LloydPasses` returns), with no round trip to the client.
    """

    def __init__(self, actor, rank, actors):
        self.actor = actor
        self.rank = rank
        self.actors = actors
        self.exchanges = 0
        self.sent = []  # this actor's deliveries (ActorFutures), checked while waiting

    def _exchange(self, mine):
        number = self.exchanges
        self.exchanges += 1
        others = [r for r in range(len(self.actors)) if r != self.rank]
        for r in others:
            self.sent.append(self.actors[r].deliver(number, self.rank, mine))
        got = self.actor.collect(number, others, self.sent)
        return [mine if r == self.rank else got[r] for r in range(len(self.actors))]

    def step(self, centers, with_m2=False):
        """As :meth:`_LloydPasses.step`."""
        out = self._exchange(self.actor.step(centers, with_m2))
        return [o[0] for o in out], ([o[1] for o in out] if with_m2 else None)

    def farthest(self, centers, m, segments):
        """As :meth:`_LloydPasses.farthest`."""
        d, top, *rest = self.actor.farthest(centers, m)
        return self._exchange((d, _global_rows(segments[self.rank], top), *rest))


def _step_labels(block, centers, step, kern):
    """The labels of ``step`` (a pass with ``centers``), assigned afresh if it has none."""
    if step is not None and step.labels is not None:
        return step.labels
    x, w, xsq, _ = block
    labels = np.empty(x.shape[0], np.int32)
    kern.assign(x, w, xsq, np.ascontiguousarray(centers, dtype=x.dtype), labels)
    return labels


def _sum_step_stats(stats):
    """(inertia, sums, weights, n_changed) over all groups, added in group order."""
    inertia = float(sum(s[0] for s in stats))
    sums = functools.reduce(np.add, [s[1] for s in stats])
    weights = functools.reduce(np.add, [s[2] for s in stats])
    return inertia, sums, weights, sum(s[3] for s in stats)


def _final_inertia(out):
    return out[1]


def _kmeans_block_final(block, centers, step, backend):
    """The block's final labels and exact inertia, as the single-machine driver.

    After a strict convergence (no label changed) the last pass's labels
    (``step``'s) are kept; otherwise (``step`` None) the samples are assigned
    to the final centres. (After a strict convergence the final centres are
    those of the last pass, so assigning gives the same labels.)
    """
    from .cluster import _kernels

    x, w, _, _ = block
    kern = _kernels(backend, x.shape[0], centers.shape[0], x.shape[1])
    centers = np.ascontiguousarray(centers, dtype=x.dtype)
    labels = _step_labels(block, centers, step, kern)
    return labels, float(kern.inertia(x, w, centers, labels))


def _farthest_in_block(block, centers, step, m, segments, backend):
    """A group's ``m`` farthest samples from their centres (ties: lower index first).

    ``centers``: those of the pass ``step``. Rows are numbered globally by
    ``segments`` (:func:`_group_segments`), or within the group if it is None.
    """
    from .cluster import _kernels

    x, w, _, _ = block
    labels = _step_labels(block, centers, step, _kernels(backend, len(x), len(centers), x.shape[1]))
    diff = x.astype(np.float64) - centers[labels].astype(np.float64)
    dist = np.einsum("ij,ij->i", diff, diff)
    top = np.lexsort((np.arange(len(dist)), -dist))[:m]
    rows = top if segments is None else _global_rows(segments, top)
    return dist[top], rows, x[top], w[top], labels[top]


def _group_segments(members, starts):
    """(first row in the group, first global row) of each member block, shape (len(members), 2)."""
    rows = np.diff(starts)[members]
    local = np.concatenate([[0], np.cumsum(rows)[:-1]])
    return np.stack([local, starts[members]], axis=1).astype(np.int64)


def _global_rows(segments, local):
    """Global row indices of a group's rows ``local`` (see :func:`_group_segments`).

    A row belongs to the last block starting at or before it (an empty block
    shares its start with the next one and owns no row).
    """
    seg = np.searchsorted(segments[:, 0], local, side="right") - 1
    return local - segments[seg, 0] + segments[seg, 1]


def _labels_part(out, at, rows):
    return out[0][at : at + rows]


def _predict_block(x, *, centers, backend):
    from .cluster import _kernels, _sq_norms

    x = np.ascontiguousarray(x)
    C = np.ascontiguousarray(centers, dtype=np.result_type(x.dtype, centers.dtype))
    x = x.astype(C.dtype, copy=False)
    kern = _kernels(backend, x.shape[0], C.shape[0], x.shape[1])
    labels = np.empty(x.shape[0], np.int32)
    kern.assign(x, np.ones(x.shape[0], x.dtype), _sq_norms(x), C, labels)
    return labels
