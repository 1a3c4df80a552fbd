"""Issue 6's overhead goal, measured side by side: fastml on a 2-process
``LocalCluster`` and single-process fastml alternate in one run, and the
medians are compared (``fastml bench --suite dask`` times each
implementation's calls one after the other instead).

* ``kmeans``: ``fastml.dask.KMeans`` against ``fastml.cluster.KMeans``,
  k=64, 10 iterations (``tol=0``), same initial centres, on
  ``make_blobs(n, 32)`` (default n = 1000000) in 8 persisted row blocks.
* ``kneighbors``: ``fastml.dask.kneighbors(X, X, 10)`` against
  ``fastml.neighbors.kneighbors`` on n x 64 float32 standard normal data
  (default n = 200000: about a minute per call).

Every distributed result is checked against the single-process one first.
The single process uses all threads; the cluster has 2 workers x 1 thread.

Run: ``python benchmarks/side_by_side_dask.py {kmeans,kneighbors} [n] [rounds] [float64|float32]``
"""

import os
import statistics
import sys

import numpy as np

# Measure the checkout this script lives in, not whichever fastml is installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _kmeans(n, dtype):
    import fastml.dask as fd
    from fastml.bench import cases_dask
    from fastml.cluster import KMeans
    from fastml.datasets import make_blobs

    X, _ = make_blobs(n, 32, centers=64, cluster_std=4.0, random_state=0, dtype=dtype)
    init = X[np.random.default_rng(1).choice(n, 64, replace=False)].copy()
    dX = cases_dask._persisted(X)

    def single():
        return KMeans(64, init=init, n_init=1, max_iter=10, tol=0.0).fit(X).cluster_centers_

    def on_dask():
        return fd.KMeans(64, init=init, max_iter=10, tol=0.0).fit(dX).cluster_centers_

    def check(got, ref):
        atol = 1e-6 if dtype == np.float64 else 0.05
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=atol)

    return single, on_dask, check


def _kneighbors(n, dtype):
    import fastml.dask as fd
    from fastml.bench import cases_dask
    from fastml.neighbors import kneighbors

    X = np.random.default_rng(0).standard_normal((n, 64)).astype(dtype)
    dX = cases_dask._persisted(X)
    client = cases_dask.client()

    def single():
        return kneighbors(X, X, 10)

    def on_dask():
        return tuple(client.compute(list(fd.kneighbors(dX, dX, 10)), sync=True))

    def check(got, ref):
        # Indices agree except at exact distance ties.
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-6, atol=1e-6)
        assert np.all((got[1] == ref[1]) | (got[0] == ref[0]))

    return single, on_dask, check


def main():
    import time

    case = sys.argv[1] if len(sys.argv) > 1 else "kmeans"
    default_n = {"kmeans": 1_000_000, "kneighbors": 200_000}[case]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else default_n
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    default_dtype = "float64" if case == "kmeans" else "float32"
    dtype = np.dtype(sys.argv[4] if len(sys.argv) > 4 else default_dtype).type
    single, on_dask, check = {"kmeans": _kmeans, "kneighbors": _kneighbors}[case](n, dtype)
    check(on_dask(), single())  # also the untimed first calls
    times = {"single process": [], "fastml on dask": []}
    for r in range(rounds):
        pair = [("single process", single), ("fastml on dask", on_dask)]
        for name, fn in pair if r % 2 == 0 else pair[::-1]:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    for name, ts in times.items():
        print(
            f"{name:15s} median {statistics.median(ts):.3f} s  ({', '.join(f'{t:.3f}' for t in ts)})"
        )
    over = statistics.median(times["fastml on dask"]) / statistics.median(times["single process"])
    print(f"{case} n={n} {np.dtype(dtype).name}: overhead {over - 1:.0%}")


if __name__ == "__main__":
    main()
