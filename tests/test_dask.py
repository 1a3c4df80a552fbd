"""fastml.dask: results equal the single-machine functions, on a real cluster.

A ``dask.distributed.LocalCluster`` of two worker processes on 127.0.0.1 is
started once for the module and closed at the end (tests that kill a worker
get a cluster of their own). Uneven chunks everywhere:
the row counts are not multiples of the chunk sizes.
"""

import os
import signal
import time

import numpy as np
import pytest

import fastml

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
fd = pytest.importorskip("fastml.dask")


def _two_worker_client(n_workers=2, threads_per_worker=1):
    cluster = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: two clusters may be up at once
        worker_dashboard_address=None,
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def client():
    yield from _two_worker_client()


@pytest.fixture
def doomed_client():
    """A cluster of its own for a test that kills a worker: however slowly the
    nanny restarts it (a minute and more on a loaded machine), the module's
    cluster is not affected, and the test does not wait for the restart."""
    yield from _two_worker_client()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((157, 9))
    B = rng.standard_normal((101, 9))
    return A, B


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        ("euclidean", {}),
        ("cityblock", {}),
        ("minkowski", {"p": 3.0}),
        ("cosine", {}),
        ("seuclidean", {}),  # V from all rows of both inputs, as SciPy
        ("mahalanobis", {}),  # VI likewise
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cdist_equals_single_machine(client, data, metric, kwargs, dtype):
    A, B = (x.astype(dtype) for x in data)
    dA = da.from_array(A, chunks=(40, -1))  # 40, 40, 40, 37
    dB = da.from_array(B, chunks=(33, -1))  # 33, 33, 33, 2
    lazy = fd.cdist(dA, dB, metric, **kwargs)
    assert lazy.shape == (157, 101) and lazy.chunks == (dA.chunks[0], dB.chunks[0])
    got = client.compute(lazy).result()
    want = fastml.cdist(A, B, metric, **kwargs)
    assert got.dtype == want.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6 if dtype == np.float32 else 0)


def test_cdist_threaded_scheduler_and_numpy_input(data):
    A, B = data
    dA = da.from_array(A, chunks=(50, -1))
    got = fd.cdist(dA, B, "sqeuclidean").compute(scheduler="threads")
    np.testing.assert_allclose(got, fastml.cdist(A, B, "sqeuclidean"), rtol=1e-12)
    plain = fd.cdist(A, B, "sqeuclidean")  # no dask input: the single-machine path
    assert isinstance(plain, np.ndarray)
    np.testing.assert_array_equal(plain, fastml.cdist(A, B, "sqeuclidean"))


def test_pairwise_reduction(client, data):
    A, B = data
    dA = da.from_array(A, chunks=(60, -1))

    def nearest(D, start):
        return D.argmin(axis=1), D.min(axis=1)

    idx, dist = fd.pairwise_distances_chunked(dA, B, reduce_func=nearest, metric="cityblock")
    idx, dist = client.compute([idx, dist], sync=True)
    D = fastml.cdist(A, B, "cityblock")
    np.testing.assert_array_equal(idx, D.argmin(axis=1))
    np.testing.assert_allclose(dist, D.min(axis=1), rtol=1e-12)

    # ``start`` is each block's first row: recover the diagonal of cdist(A, A).
    diag = fd.pairwise_distances_chunked(
        dA, reduce_func=lambda D, start: D[np.arange(len(D)), start + np.arange(len(D))]
    )
    np.testing.assert_allclose(client.compute(diag, sync=True), 0.0, atol=1e-12)
    full = fd.pairwise_distances_chunked(dA, metric="euclidean")
    np.testing.assert_allclose(client.compute(full, sync=True), fastml.cdist(A, A), rtol=1e-12)


def test_bad_input_errors(data):
    A, B = data
    with pytest.raises(ValueError, match=r"XA must be chunked along rows only.*rechunk"):
        fd.cdist(da.from_array(A, chunks=(50, 4)), B)
    with pytest.raises(ValueError, match="same number of columns"):
        fd.cdist(da.from_array(A, chunks=(50, -1)), B[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        fd.cdist(da.from_array(A[0], chunks=3), B)
    with pytest.raises(ValueError, match="unknown metric|metric"):
        fd.cdist(da.from_array(A, chunks=(50, -1)), B, "nope")
    with pytest.raises(ValueError, match="one row per row"):
        fd.pairwise_distances_chunked(
            da.from_array(A, chunks=(50, -1)), B, reduce_func=lambda D, s: D.sum()
        )


def test_missing_dask_is_a_clear_error(monkeypatch, data):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "dask" or name.startswith("dask."):
            raise ImportError("No module named 'dask'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(ImportError, match=r"pip install \"fastml\[dask\]\""):
        fd._dask_array()


def _slow_block_metric(u, v):
    time.sleep(0.0005)
    return float(np.abs(u - v).sum())


def test_worker_killed_mid_computation(doomed_client):
    """The engine reruns the lost tasks; the result is still right and complete."""
    client = doomed_client
    rng = np.random.default_rng(1)
    A = rng.standard_normal((64, 4))
    B = rng.standard_normal((48, 4))
    dA = da.from_array(A, chunks=(8, -1))
    # A plain Python metric is slow enough to leave tasks running when a worker dies.
    lazy = fd.cdist(dA, B, _slow_block_metric, backend="python")
    future = client.compute(lazy)
    deadline = time.monotonic() + 30
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    busy = [addr for addr, keys in client.processing().items() if keys]
    assert busy, "no task started within 30 s"
    victim = client.run(os.getpid)[busy[0]]
    os.kill(victim, signal.SIGKILL)  # a worker that is running a task right now
    got = future.result(timeout=120)
    np.testing.assert_allclose(got, fastml.cdist(A, B, "cityblock"), rtol=1e-12)
    assert victim not in client.run(os.getpid).values()


def _blocks_of(X, chunks):
    edges = np.concatenate([[0], np.cumsum(chunks)])
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


@pytest.mark.parametrize("scheduler", ["distributed", "threads"])
def test_incremental_equals_partial_fit_over_the_blocks(client, scheduler):
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    from fastml.datasets import make_classification

    X, y = make_classification(1000, 6, random_state=0)
    dX = da.from_array(X, chunks=(230, -1))  # 230 x 4 + 80
    dy = da.from_array(y, chunks=300)  # re-chunked to X's rows inside
    est = sklearn_linear.SGDClassifier(loss="log_loss", shuffle=False, random_state=0)
    inc = fd.Incremental(est, epochs=2, shuffle_blocks=True, random_state=3)
    if scheduler == "threads":
        import dask

        with dask.config.set(scheduler="threads"):
            inc.fit(dX, dy)
    else:
        inc.fit(dX, dy)
    assert not hasattr(est, "coef_")  # the user's estimator is untouched

    ref = sklearn_linear.SGDClassifier(loss="log_loss", shuffle=False, random_state=0)
    blocks = _blocks_of(X, dX.chunks[0])
    assert len(inc.history_["block"]) == 2 * len(blocks)
    for b in inc.history_["block"]:  # the order the wrapper visited, shuffled per epoch
        ref.partial_fit(X[blocks[b]], y[blocks[b]], classes=np.array([0, 1]))
    np.testing.assert_allclose(inc.estimator_.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(inc.estimator_.intercept_, ref.intercept_, rtol=1e-12)
    assert sorted(inc.history_["block"][:5]) == list(range(5))
    assert inc.history_["block"][:5] != inc.history_["block"][5:]  # reshuffled each epoch
    assert sum(inc.history_["n_samples"]) == 2 * len(X)

    pred = inc.predict(dX)
    np.testing.assert_array_equal(client.compute(pred, sync=True), ref.predict(X))
    proba = client.compute(inc.predict_proba(dX), sync=True)
    np.testing.assert_allclose(proba, ref.predict_proba(X), rtol=1e-12)
    assert inc.score(dX, dy) == pytest.approx(ref.score(X, y))


def test_incremental_errors(data):
    A, _ = data
    with pytest.raises(TypeError, match="partial_fit"):
        fd.Incremental(object()).fit(da.from_array(A, chunks=(50, -1)))
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    inc = fd.Incremental(sklearn_linear.SGDRegressor(), epochs=0)
    with pytest.raises(ValueError, match="epochs"):
        inc.fit(da.from_array(A, chunks=(50, -1)), A[:, 0])
    inc = fd.Incremental(sklearn_linear.SGDRegressor())
    with pytest.raises(ValueError, match="same number of rows"):
        inc.fit(da.from_array(A, chunks=(50, -1)), A[:10, 0])
    with pytest.raises(ValueError, match="not fitted"):
        inc.predict(A)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_equals_single_machine(client, dtype):
    from fastml.cluster import KMeans
    from fastml.datasets import make_blobs

    X, _ = make_blobs(3001, 5, centers=6, cluster_std=2.0, random_state=0, dtype=dtype)
    init = X[:6].copy()
    ref = KMeans(6, init=init, n_init=1, max_iter=50, tol=1e-4).fit(X)
    dX = da.from_array(X, chunks=(700, -1))  # 700 x 4 + 201
    got = fd.KMeans(6, init=init, max_iter=50, tol=1e-4).fit(dX)
    assert got.n_iter_ == ref.n_iter_
    assert got.cluster_centers_.dtype == dtype
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(got.inertia_, ref.inertia_, rtol=rtol)
    np.testing.assert_allclose(got.history_, ref.history_, rtol=rtol)
    labels = client.compute(got.labels_, sync=True)
    np.testing.assert_array_equal(labels, ref.labels_)
    np.testing.assert_array_equal(client.compute(got.predict(dX), sync=True), ref.predict(X))


def test_kmeans_weights_empty_clusters_and_init(client):
    from fastml.cluster import KMeans

    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(0, 1, (300, 3)), rng.normal(20, 1, (200, 3))])
    w = rng.uniform(0.5, 2.0, len(X))
    # Two initial centres far from every point: their clusters start empty
    # and are re-seeded with the farthest points, as on one machine.
    init = np.array([[0.0, 0, 0], [500, 500, 500], [-500, -500, -500]])
    ref = KMeans(3, init=init, n_init=1, max_iter=30).fit(X, sample_weight=w)
    dX = da.from_array(X, chunks=(130, -1))
    got = fd.KMeans(3, init=init, max_iter=30).fit(dX, sample_weight=da.from_array(w, 100))
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(got.inertia_, ref.inertia_, rtol=1e-9)
    assert len(np.unique(client.compute(got.labels_, sync=True))) == 3

    # k-means++ on a sample: reproducible for a seed, and a sensible clustering.
    a = fd.KMeans(2, random_state=5, init_max_samples=100).fit(dX)
    b = fd.KMeans(2, random_state=5, init_max_samples=100).fit(dX)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert sorted(np.round(a.cluster_centers_[:, 0] / 20)) == [0.0, 1.0]

    # More clusters than distinct samples: every sample on its centre, nothing to
    # re-seed, converged at once (scikit-learn's rule), as on one machine.
    D = np.array([[0, 0], [1, 1], [1, 1], [1, 0], [0, 1]], dtype=float)
    with pytest.warns(UserWarning, match="distinct clusters"):
        one = KMeans(5, init=D).fit(D)
    dup = fd.KMeans(5, init=D).fit(da.from_array(D, chunks=(3, -1)))
    assert dup.n_iter_ == one.n_iter_ == 1
    np.testing.assert_array_equal(dup.cluster_centers_, D)

    with pytest.raises(ValueError, match="n_clusters"):
        fd.KMeans(600).fit(dX)
    with pytest.raises(ValueError, match="NaN"):
        fd.KMeans(2).fit(da.from_array(np.full((10, 2), np.nan), chunks=(5, -1)))
    with pytest.raises(ValueError, match="chunked along rows"):
        fd.KMeans(2).fit(da.from_array(X, chunks=(100, 2)))


@pytest.mark.parametrize("scheduler", ["distributed-persisted", "threads"])
def test_kmeans_grouped_blocks_equal_single_machine(client, scheduler):
    """Persisted data (blocks grouped by the worker holding them, uneven
    chunks, an empty chunk, sample weights) and the threaded scheduler (no
    grouping): the single-machine clustering either way."""
    import dask

    from fastml.cluster import KMeans
    from fastml.datasets import make_blobs

    X, _ = make_blobs(2500, 4, centers=5, cluster_std=1.5, random_state=3)
    w = np.random.default_rng(4).uniform(0.2, 3.0, len(X))
    init = X[[0, 500, 1000, 1500, 2000]].copy()
    chunks = ((700, 0, 333, 900, 567), (4,))
    ref = KMeans(5, init=init, n_init=1, max_iter=40, tol=0.0).fit(X, sample_weight=w)
    est = fd.KMeans(5, init=init, max_iter=40, tol=0.0)
    dX = da.from_array(X, chunks=chunks)
    dw = da.from_array(w, chunks=chunks[0])
    if scheduler == "threads":
        with dask.config.set(scheduler="threads"):
            est.fit(dX, sample_weight=dw)
            labels = est.labels_.compute()
    else:
        dX, dw = client.persist([dX, dw])
        distributed.wait([dX, dw])
        est.fit(dX, sample_weight=dw)
        labels = client.compute(est.labels_, sync=True)
    # X's row chunks (dask's concatenate drops the empty one).
    assert est.labels_.chunks == (tuple(c for c in chunks[0] if c),)
    assert est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(est.inertia_, ref.inertia_, rtol=1e-9)
    np.testing.assert_allclose(est.history_, ref.history_, rtol=1e-9)
    np.testing.assert_array_equal(labels, ref.labels_)


def test_group_blocks_keeps_blocks_on_their_worker_and_balances():
    rows = [100, 100, 100, 100, 100, 100, 40, 0]
    owners = ["a", "a", "a", "a", "a", "b", "b", None]
    groups = fd._group_blocks(rows, owners, {"a": 1, "b": 1})
    got = {w: m for w, m in groups}
    # Every block exactly once, each group in block order.
    assert sorted(b for _, m in groups for b in m) == list(range(len(rows)))
    assert all(m == sorted(m) for _, m in groups)
    # Worker a holds 500 rows of 640; its share is 320: it keeps three of its
    # blocks, and the others go where the rows are fewest.
    assert sum(rows[b] for b in got["a"]) == 300
    assert sum(rows[b] for b in got["b"]) == 340
    assert {5, 6} <= set(got["b"])
    # A worker with 2 threads gets 2 groups; 2-thread tasks on it get one.
    assert len(fd._group_blocks(rows, owners, {"a": 2, "b": 1})) == 3
    assert len(fd._group_blocks(rows, owners, {"a": 2, "b": 2}, per_task=2)) == 2
    # Blocks nobody holds yet (data not persisted) are spread by rows.
    spread = fd._group_blocks([10] * 6, [None] * 6, {"a": 1, "b": 1, "c": 1})
    assert sorted(len(m) for _, m in spread) == [2, 2, 2]
    # A cap on a group's rows cuts it into pieces of whole blocks.
    capped = fd._group_blocks([100, 100, 100, 250], ["a"] * 4, {"a": 1}, max_rows=200)
    assert capped == [("a", [0, 1]), ("a", [2]), ("a", [3])]
    # Without a distributed client: one group per block.
    assert fd._group_blocks([3, 4], None, None) == [(None, [0]), (None, [1])]


def test_kmeans_worker_killed_mid_fit(doomed_client):
    """A worker dies during the iterations: its groups are rebuilt from the
    data's lineage and the fit still gives the single-machine result."""
    client = doomed_client
    import threading

    from fastml.cluster import KMeans
    from fastml.datasets import make_blobs

    X, _ = make_blobs(20000, 8, centers=6, cluster_std=2.0, random_state=5)
    init = X[:6].copy()
    ref = KMeans(6, init=init, n_init=1, max_iter=60, tol=0.0).fit(X)
    dX = da.from_array(X, chunks=(3000, -1))
    pids = list(client.run(os.getpid).values())
    killed_at = []

    def kill():
        os.kill(pids[0], signal.SIGKILL)
        killed_at.append(time.monotonic())

    killer = threading.Timer(0.3, kill)
    killer.start()
    try:
        got = fd.KMeans(6, init=init, max_iter=60, tol=0.0).fit(dX)
        finished_at = time.monotonic()
    finally:
        killer.join()
    assert killed_at and killed_at[0] < finished_at, "the worker died after the fit"
    assert got.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_array_equal(client.compute(got.labels_, sync=True), ref.labels_)
    assert pids[0] not in client.run(os.getpid).values()


def _empty_cluster_case():
    """Data, weights and initial centres where two clusters start empty
    (re-seeded with the farthest points) and the fit runs to tol."""
    rng = np.random.default_rng(7)
    X = np.concatenate([rng.normal(0, 1, (900, 3)), rng.normal(12, 1, (700, 3))])
    w = rng.uniform(0.5, 2.0, len(X))
    init = np.array([[0.0, 0, 0], [12, 12, 12], [400, 400, 400], [-400, -400, -400]])
    return X, w, init


@pytest.fixture
def actor_calls(monkeypatch):
    """Each fit's use of the groups' actors: "iterate" when they ran the
    iterations, "iterate failed" when one of them failed."""
    calls = []
    real_run = fd._LloydPasses._run_on_actors

    def spy_run(self, *args):
        out = real_run(self, *args)
        calls.append("iterate" if out is not None else "iterate failed")
        return out

    monkeypatch.setattr(fd._LloydPasses, "_run_on_actors", spy_run)
    return calls


def test_kmeans_actor_passes_equal_task_passes(client, monkeypatch, actor_calls):
    """The iterations run by the groups' actors among themselves (re-seeding
    empty clusters there too) and a round of tasks per pass give exactly
    the same fit, the single-machine one."""
    from fastml.cluster import KMeans

    X, w, init = _empty_cluster_case()
    ref = KMeans(4, init=init, n_init=1, max_iter=50, tol=1e-4).fit(X, sample_weight=w)
    dX, dw = da.from_array(X, chunks=(300, -1)), da.from_array(w, chunks=300)
    relocations = []
    real_relocate = fd._relocate_empty
    monkeypatch.setattr(
        fd, "_relocate_empty", lambda *a: relocations.append(1) or real_relocate(*a)
    )
    on_actors = fd.KMeans(4, init=init, max_iter=50, tol=1e-4).fit(dX, sample_weight=dw)
    assert actor_calls == ["iterate"] and not relocations  # (they relocate on the workers)
    monkeypatch.setattr(fd._LloydPasses, "_start_actors", lambda self: False)
    on_tasks = fd.KMeans(4, init=init, max_iter=50, tol=1e-4).fit(dX, sample_weight=dw)
    assert relocations  # the case re-seeds empty clusters
    for got in (on_actors, on_tasks):
        assert got.n_iter_ == ref.n_iter_
        np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
        np.testing.assert_allclose(got.inertia_, ref.inertia_, rtol=1e-9)
        np.testing.assert_array_equal(client.compute(got.labels_, sync=True), ref.labels_)
    np.testing.assert_array_equal(on_actors.cluster_centers_, on_tasks.cluster_centers_)
    assert on_actors.history_ == on_tasks.history_
    # The actors are released with the fit (the scheduler forgets them soon after).
    deadline = time.monotonic() + 30
    while [k for k in client.who_has() if "_GroupActor" in str(k)]:
        assert time.monotonic() < deadline, "the fit's actors outlive it"
        time.sleep(0.05)


def test_kmeans_actors_only_with_one_group_per_worker(actor_calls):
    """A worker runs its actors' calls one at a time: with two groups on one
    worker of two threads the passes are tasks (both groups at once); with
    ``threads_per_task=2`` (one group) they are actor calls. Same clustering."""
    from fastml.cluster import KMeans

    X, w, init = _empty_cluster_case()
    ref = KMeans(4, init=init, n_init=1, max_iter=50, tol=1e-4).fit(X, sample_weight=w)
    clients = _two_worker_client(n_workers=1, threads_per_worker=2)
    c = next(clients)
    try:
        dX, dw = da.from_array(X, chunks=(300, -1)), da.from_array(w, chunks=300)
        for threads, actors in ((1, False), (2, True)):
            actor_calls.clear()
            got = fd.KMeans(4, init=init, max_iter=50, tol=1e-4, threads_per_task=threads)
            got.fit(dX, sample_weight=dw)
            assert bool(actor_calls) == actors
            np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
            np.testing.assert_array_equal(c.compute(got.labels_, sync=True), ref.labels_)
    finally:
        clients.close()  # closes the client and its cluster


@pytest.mark.parametrize("at_pass", [1, 4])
def test_kmeans_worker_killed_while_actors_iterate(doomed_client, monkeypatch, at_pass):
    """A worker dies inside the iterations the actors run among themselves:
    the other actor, waiting for its results, is stopped, and the fit starts
    over as tasks (Dask recomputes the lost blocks) and equals the
    single-machine fit, number of iterations included."""
    from fastml.cluster import KMeans

    client = doomed_client
    X, w, init = _empty_cluster_case()
    ref = KMeans(4, init=init, n_init=1, max_iter=50, tol=0.0).fit(X, sample_weight=w)
    dX, dw = da.from_array(X, chunks=(300, -1)), da.from_array(w, chunks=300)
    pids = client.run(os.getpid)
    doomed = sorted(pids)[0]

    def die_at_pass():  # runs in the doomed worker: its actor adds up the passes
        import fastml.dask

        real_sum, passes = fastml.dask._sum_step_stats, []

        def kill_at_pass(stats):
            passes.append(1)
            if len(passes) == at_pass:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_sum(stats)

        fastml.dask._sum_step_stats = kill_at_pass

    client.run(die_at_pass, workers=[doomed])
    task_passes = []
    real_task_pass = fd._LloydPasses.step

    def spy(self, centers, with_m2):
        task_passes.append(1)
        return real_task_pass(self, centers, with_m2)

    monkeypatch.setattr(fd._LloydPasses, "step", spy)
    got = fd.KMeans(4, init=init, max_iter=50, tol=0.0).fit(dX, sample_weight=dw)
    assert len(task_passes) == got.n_iter_ == ref.n_iter_ > at_pass  # all over again, as tasks
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-9)
    np.testing.assert_allclose(got.inertia_, ref.inertia_, rtol=1e-9)
    np.testing.assert_array_equal(client.compute(got.labels_, sync=True), ref.labels_)
    assert pids[doomed] not in client.run(os.getpid).values()


def test_kmeans_step_travels_without_its_labels():
    """A pickled step (gathered, moved or spilled) carries its statistics only;
    whatever needs the labels then recomputes the same ones."""
    import pickle
    import sys

    X = np.random.default_rng(6).standard_normal((500, 3))
    block = fd._prepare_group(
        [X], [None], [fd._group_sums([X], [None])], np.dtype(np.float64), False
    )
    centers = block[0][:4].copy()
    step = fd._kmeans_block_step(block, centers, None, None)
    moved = pickle.loads(pickle.dumps(step))
    assert moved.labels is None
    assert moved.stats[0] == step.stats[0] and moved.stats[3] == step.stats[3] == len(X)
    np.testing.assert_array_equal(moved.stats[1], step.stats[1])
    assert sys.getsizeof(step) > step.labels.nbytes > sys.getsizeof(moved)
    # The next pass: against kept labels, nothing changed; without them, everything did.
    assert fd._kmeans_block_step(block, centers, step, None).stats[3] == 0
    assert fd._kmeans_block_step(block, centers, moved, None).stats[3] == len(X)
    kept = fd._kmeans_block_final(block, centers, step, None)
    again = fd._kmeans_block_final(block, centers, moved, None)
    np.testing.assert_array_equal(again[0], kept[0])
    assert again[1] == kept[1]
    segments = np.array([[0, 1000]])
    for a, b in zip(
        fd._farthest_in_block(block, centers, step, 5, segments, None),
        fd._farthest_in_block(block, centers, moved, 5, segments, None),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_kmeans_steps_reuse_label_buffers():
    """A pass writes into the labels of the pass before last (kept as its
    predecessor's ``spare``); its changed-label count and labels are those of
    fresh arrays. A step that travelled has no spare."""
    import pickle

    from fastml.cluster import _kernels

    X = np.random.default_rng(8).standard_normal((700, 3))
    block = fd._prepare_group(
        [X], [None], [fd._group_sums([X], [None])], np.dtype(np.float64), False
    )
    x = block[0]
    c1, c2, c3 = x[:5].copy(), x[5:10].copy(), x[10:15].copy()
    kern = _kernels(None, len(x), 5, 3)
    L1, L2, L3 = (fd._step_labels(block, c, None, kern) for c in (c1, c2, c3))
    s1 = fd._kmeans_block_step(block, c1, None, None)
    s2 = fd._kmeans_block_step(block, c2, s1, None)
    s3 = fd._kmeans_block_step(block, c3, s2, None)
    s4 = fd._kmeans_block_step(block, c3, s3, None)
    assert s2.spare is s1.labels and s3.labels is s1.labels and s4.labels is s2.labels
    assert s2.stats[3] == np.count_nonzero(L2 != L1) > 0
    assert s3.stats[3] == np.count_nonzero(L3 != L2) > 0
    assert s4.stats[3] == 0
    np.testing.assert_array_equal(s3.labels, L3)
    np.testing.assert_array_equal(s4.labels, L3)
    moved = pickle.loads(pickle.dumps(s4))
    assert moved.labels is None and moved.spare is None
    s5 = fd._kmeans_block_step(block, c3, moved, None)
    assert s5.labels is not s3.labels and s5.stats[3] == len(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_group_preparation_like_numpy(dtype):
    """Sums per group, the offset, the centred rows, their norms and the
    variances behind tol equal NumPy's on the whole array, for uneven blocks
    (an empty one) and finite columns whose sums overflow (no false "NaN or
    infinity")."""
    from fastml.cluster import _sq_norms

    rng = np.random.default_rng(3)
    X = rng.standard_normal((257, 4)) * [1.0, 1e-6, 1e6, 3.0] + [0.0, 5.0, -7.0, 1e8]
    X = X.astype(dtype)
    cuts = [0, 0, 10, 11, 200, 257]
    blocks = [X[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    groups = [blocks[:3], blocks[3:]]
    sums = [fd._group_sums(g, [np.ones(len(x)) for x in g]) for g in groups]
    assert [s[0] for s in sums] == [11, 246] and all(s[2] for s in sums)
    offset = fd._centring_offset(sums, np.dtype(dtype))
    assert offset.dtype == dtype
    exact = 1e-13 if dtype == np.float64 else 6e-8  # the float64 mean, rounded to dtype
    np.testing.assert_allclose(offset, X.astype(np.float64).mean(axis=0), rtol=exact)
    # Weights: given for the second group's blocks only (None: ones).
    W = np.linspace(0.5, 2.0, len(X))
    ws = [[None] * 3, [W[11:200], W[200:]]]
    prepared = [
        fd._prepare_group(g, gw, sums, np.dtype(dtype), True)
        for g, gw in zip(groups, ws, strict=True)
    ]
    x = np.concatenate([p[0] for p in prepared])
    assert x.dtype == dtype
    np.testing.assert_array_equal(x, X - offset)
    np.testing.assert_array_equal(np.concatenate([p[2] for p in prepared]), _sq_norms(X - offset))
    got_w = np.concatenate([p[1] for p in prepared])
    assert got_w.dtype == dtype
    np.testing.assert_array_equal(got_w, np.concatenate([np.ones(11), W[11:]]).astype(dtype))
    assert fd._prepare_group(groups[0], [None] * 3, sums, np.dtype(dtype), False)[3] is None
    var = fd._column_variances(sums, [p[3] for p in prepared], offset)
    # float32: the centred values are rounded to float32 (as single-machine
    # KMeans's centred copy); their variance is that of the rounded data.
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(var, X.astype(np.float64).var(axis=0), rtol=rtol)
    huge = np.full((4, 2), 1e308)
    assert fd._group_sums([huge], [None])[2]
    huge[1, 1] = np.inf
    assert not fd._group_sums([huge[:2], huge[2:]], [None, None])[2]
    huge[1, 1] = np.nan
    assert not fd._group_sums([huge], [None])[2]

    # Weights: finite, minimum, some nonzero (None counts as ones).
    w3 = np.array([1.0, -2.0, 0.5])
    assert fd._group_sums([X[:3], X[3:5]], [w3, None])[3:] == (True, -2.0, True)
    assert fd._group_sums([X[:3]], [w3 * np.nan])[3] is False
    assert fd._group_sums([X[:3], X[:0]], [np.zeros(3), np.zeros(0)])[5] is False
    assert fd._group_sums([X[:0]], [None])[3:] == (True, np.inf, False)


@pytest.mark.parametrize(
    ("w", "message"),
    [
        (np.nan, "sample_weight contains NaN or infinity"),
        (-1.0, "sample_weight must be non-negative"),
        (0.0, "sample_weight must not be all zero"),
    ],
)
def test_kmeans_rejects_bad_weights_like_single_machine(client, w, message):
    """The single-machine driver's errors, raised before any iteration; the
    bad weight sits in a later block, after a valid one, for the first two."""
    from fastml.cluster import KMeans

    X = np.random.default_rng(9).standard_normal((60, 2))
    weights = np.zeros(60) if w == 0.0 else np.ones(60)
    weights[45] = w
    with pytest.raises(ValueError, match=message):
        KMeans(2, n_init=1).fit(X, sample_weight=weights)
    with pytest.raises(ValueError, match=message):
        fd.KMeans(2).fit(
            da.from_array(X, chunks=(20, -1)), sample_weight=da.from_array(weights, 20)
        )


def test_kmeans_reads_unpersisted_blocks_once_and_tol_on_threads(client):
    """Under the threaded scheduler, a lazily computed X is read once per block
    (the sums and the centring pass share it), and tol > 0 (the variances from
    the centring pass) stops at the single machine's iteration."""
    import dask

    from fastml.cluster import KMeans
    from fastml.datasets import make_blobs

    X, _ = make_blobs(1200, 3, centers=4, cluster_std=2.0, random_state=1)
    init = X[:4].copy()
    ref = KMeans(4, init=init, n_init=1, max_iter=100, tol=1e-3).fit(X)
    calls = []

    def load(block, block_info=None):
        calls.append(block_info[0]["chunk-location"][0])
        return block

    dX = da.from_array(X, chunks=(300, -1)).map_blocks(load, dtype=X.dtype)
    with dask.config.set(scheduler="threads"):
        got = fd.KMeans(4, init=init, max_iter=100, tol=1e-3).fit(dX)
    # Each block once: the preparation's two tasks share it; later passes read the prepared groups.
    assert sorted(calls) == [0, 1, 2, 3]
    assert got.n_iter_ == ref.n_iter_ < 100
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, rtol=1e-9)


def test_block_tasks_without_a_preferred_worker(client):
    """Tasks with no preferred worker (none known yet: an empty or scaling
    cluster) run anywhere, on futures and on lazy calls alike."""
    X = np.arange(12.0).reshape(6, 2)
    dX = client.persist(da.from_array(X, chunks=(3, -1)))
    distributed.wait(dX)
    for array in (dX, da.from_array(X, chunks=(3, -1))):
        tasks = fd._BlockTasks()
        (xs,) = tasks.parts(array)
        assert tasks.direct == (array is dX)
        handles = tasks.start(tasks.run(np.sum, [(x,) for x in xs], [None, None]))
        assert tasks.gather(handles) == [X[:3].sum(), X[3:].sum()]


@pytest.mark.parametrize("self_query", [False, True])
def test_kneighbors_equals_single_machine(client, data, self_query):
    from fastml.neighbors import kneighbors

    A, B = data
    A = np.round(A, 1)  # coarse values: plenty of exact distance ties
    B = np.round(B, 1)
    dA = da.from_array(A, chunks=(40, -1))
    dB = None if self_query else da.from_array(B, chunks=(23, -1))
    dist, ind = fd.kneighbors(dA, dB, 7, metric="cityblock", split_every=2)
    dist, ind = client.compute([dist, ind], sync=True)
    ref_d, ref_i = kneighbors(A, None if self_query else B, 7, metric="cityblock")
    np.testing.assert_array_equal(ind, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12)
    only_ind = fd.kneighbors(dA, dB, 7, metric="cityblock", return_distance=False)
    np.testing.assert_array_equal(client.compute(only_ind, sync=True), ref_i)


@pytest.mark.parametrize("group_bytes", [None, 150 * 5 * 8])
@pytest.mark.parametrize("metric", ["euclidean", "cityblock"])
def test_kneighbors_grouped_persisted_blocks(client, metric, group_bytes, monkeypatch):
    """Persisted base blocks grouped by the worker holding them (uneven
    chunks, a one-row block, duplicated rows, self-query groups that hold
    other blocks besides the query's): the single-machine lists, ties included."""
    from fastml.neighbors import kneighbors

    rng = np.random.default_rng(7)
    X = np.round(rng.standard_normal((301, 5)), 1)
    X[150:160] = X[10]  # a mass of duplicates, across blocks
    chunks = ((90, 1, 70, 100, 40), (5,))
    dX = client.persist(da.from_array(X, chunks=chunks))
    distributed.wait(dX)
    groups = fd._group_blocks(list(chunks[0]), *fd._BlockTasks().slots(dX))
    assert any(len(m) > 1 for _, m in groups)  # the grouped path is what runs
    if group_bytes is not None:  # groups of at most 150 rows: cut into pieces
        monkeypatch.setattr(fd, "GROUP_BYTES", group_bytes)
    for Y in (None, X[::-1].copy()):
        dY = None if Y is None else client.persist(da.from_array(Y, chunks=chunks))
        dist, ind = fd.kneighbors(dX, dY, 12, metric=metric)
        dist, ind = client.compute([dist, ind], sync=True)
        ref_d, ref_i = kneighbors(X, Y, 12, metric=metric)
        np.testing.assert_array_equal(ind, ref_i)
        np.testing.assert_allclose(dist, ref_d, rtol=1e-12)


def test_kneighbors_float32_euclidean_threads(data):
    from fastml.neighbors import kneighbors

    A, B = (x.astype(np.float32) for x in data)
    dist, ind = fd.kneighbors(
        da.from_array(A, chunks=(50, -1)), da.from_array(B, chunks=(30, -1)), 5
    )
    dist, ind = dist.compute(scheduler="threads"), ind.compute(scheduler="threads")
    ref_d, ref_i = kneighbors(A, B, 5)
    assert dist.dtype == np.float32
    np.testing.assert_array_equal(ind, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-6)
    with pytest.raises(ValueError, match="n_neighbors"):
        fd.kneighbors(da.from_array(A, chunks=(50, -1)), B[:3], 4)
