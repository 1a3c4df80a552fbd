"""Issue 4's kneighbors bar, measured side by side: implementations alternate
round by round in one process and the medians are compared.

kneighbors, k = 10, euclidean, n x n points of 64 features (default 20000),
``threads`` threads for fastml, scikit-learn (``NearestNeighbors(algorithm=
"brute")``, fitted once) and faiss (``IndexFlatL2``, float32, indexed once).

Run: ``python benchmarks/side_by_side_neighbors.py [n] [rounds] [float32,float64] [threads]``
"""

import os
import sys

import numpy as np

import fastml
from fastml.bench.runner import primed_time
from fastml.neighbors import kneighbors


def _impls(X, Y, faiss):
    from sklearn.neighbors import NearestNeighbors

    fs = {
        b: (lambda b=b: kneighbors(X, Y, 10, backend=b))
        for b in ("auto", "cython", "numba")
        if b == "auto" or b in fastml.available_backends()
    }
    nn = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(Y)
    fs["sklearn"] = lambda: nn.kneighbors(X)
    if faiss is not None and X.dtype == np.float32:
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(Y)
        fs["faiss"] = lambda: index.search(X, 10)
    return fs


def main(n=20000, rounds=5, dtypes=("float32", "float64"), threads=2):
    from threadpoolctl import threadpool_limits

    try:
        import faiss

        faiss.omp_set_num_threads(threads)
    except ImportError:
        faiss = None
    fastml.set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"n_query = n_base = {n}, d = 64, k = 10, threads = {threads}, rounds = {rounds}; "
          f"load {os.getloadavg()}")  # fmt: skip
    with threadpool_limits(threads):
        for dt in dtypes:
            X = rng.standard_normal((n, 64)).astype(dt)
            Y = rng.standard_normal((n, 64)).astype(dt)
            fs = _impls(X, Y, faiss)
            out = {k: f() for k, f in fs.items()}  # warm-up (JIT) and agreement
            ref = np.sort(out["sklearn"][1], 1)
            agree = {k: float((np.sort(v[1], 1) == ref).mean()) for k, v in out.items()}
            times = {k: [] for k in fs}
            for _ in range(rounds):
                for k, f in fs.items():
                    times[k].append(primed_time(f))
            med = {k: float(np.median(v)) for k, v in times.items()}
            print(f"\n{dt}: median s | sklearn / this | this / faiss | same indices as sklearn")
            for k in fs:
                vs_f = f"{med[k] / med['faiss']:.2f}" if "faiss" in med else "-"
                print(f"  {k:8s} {med[k]:7.3f}  {med['sklearn'] / med[k]:5.2f}x  {vs_f:>5s}  "
                      f"{agree[k]:.5f}  {[round(x, 2) for x in times[k]]}")  # fmt: skip


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if len(args) > 0 else 20000,
        int(args[1]) if len(args) > 1 else 5,
        tuple(args[2].split(",")) if len(args) > 2 else ("float32", "float64"),
        int(args[3]) if len(args) > 3 else 2,
    )
