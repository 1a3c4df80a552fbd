"""Issue 4's k-means bar, measured side by side: implementations alternate
round by round in one process and the medians are compared.

``KMeans(n_clusters=k, init=<same centres>, n_init=1, tol=0, max_iter=20)``
on Gaussian blobs (n x d, default 100000 x 32, k=64): fastml's backends
against scikit-learn's ``KMeans(algorithm="lloyd")``, all with ``threads``
threads (scikit-learn's OpenMP pool limited by threadpoolctl). Every fit
must run all 20 iterations; the inertia is compared with a float64
scikit-learn fit of the same data.

Run: ``python benchmarks/side_by_side_kmeans.py [n] [rounds] [float64,float32] [threads]``
"""

import os
import statistics
import sys

import numpy as np

# Measure the checkout this script lives in, not whichever fastml is installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastml  # noqa: E402
from fastml.bench.runner import primed_time  # noqa: E402
from fastml.cluster import KMeans  # noqa: E402

N_ITER = 20


def _data(n, d, k, dtype):
    rng = np.random.default_rng(0)
    true = rng.uniform(-10, 10, size=(k, d))
    X = (true[rng.integers(0, k, n)] + rng.standard_normal((n, d))).astype(dtype)
    return X, X[rng.choice(n, k, replace=False)].copy()


def _impls(X, init, k):
    from sklearn.cluster import KMeans as SKMeans

    def ours(backend):
        return lambda: KMeans(k, init=init, n_init=1, tol=0, max_iter=N_ITER, backend=backend).fit(
            X
        )

    fs = {
        b: ours(b)
        for b in ("auto", "cython", "numba")
        if b == "auto" or b in fastml.available_backends()
    }
    fs["sklearn"] = lambda: SKMeans(
        k, init=init, n_init=1, tol=0, max_iter=N_ITER, algorithm="lloyd"
    ).fit(X)
    return fs


def main():
    from sklearn.cluster import KMeans as SKMeans
    from threadpoolctl import threadpool_limits

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    dtypes = sys.argv[3].split(",") if len(sys.argv) > 3 else ["float64", "float32"]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    d, k = 32, 64
    fastml.set_num_threads(threads)
    print(f"KMeans {n} x {d}, k={k}, {N_ITER} Lloyd iterations, {threads} threads, {rounds} rounds")
    print(f"fastml {fastml.__version__} from {os.path.dirname(fastml.__file__)}")
    print("| dtype | impl | median ms/iter | vs sklearn | inertia rel. err vs float64 sklearn |")
    print("|---|---|---|---|---|")
    with threadpool_limits(threads):
        for dtype in dtypes:
            X, init = _data(n, d, k, dtype)
            ref = SKMeans(k, init=init.astype(np.float64), n_init=1, tol=0, max_iter=N_ITER).fit(
                X.astype(np.float64)
            )
            fs = _impls(X, init, k)
            errs = {}
            for name, f in fs.items():  # warm up (JIT) and check
                est = f()
                assert est.n_iter_ == N_ITER, (name, est.n_iter_)
                errs[name] = abs(est.inertia_ - ref.inertia_) / ref.inertia_
            times = {name: [] for name in fs}
            for _ in range(rounds):
                for name, f in fs.items():
                    times[name].append(primed_time(f) / N_ITER)
            med = {name: statistics.median(t) for name, t in times.items()}
            for name in fs:
                print(
                    f"| {dtype} | {name} | {1e3 * med[name]:.2f} | "
                    f"{med['sklearn'] / med[name]:.2f}x | {errs[name]:.1e} |"
                )


if __name__ == "__main__":
    main()
