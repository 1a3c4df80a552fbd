"""Benchmark cases of the ``kmeans`` suite: Lloyd iterations, fastml against scikit-learn.

One case = ``KMeans(n_clusters=k, init=<given centres>, n_init=1, tol=0,
max_iter=20).fit(X)`` on Gaussian blobs of shape (n, d): every implementation
runs the same 20 Lloyd iterations from the same initial centres (tol=0 and
data that does not converge in 20 iterations, so none stops early), and the
time is reported per iteration (``unit`` = "iteration"). The peer is
scikit-learn's ``KMeans(algorithm="lloyd")``.

Check: the reference is the same fit computed in float64 (scikit-learn when
installed, else fastml's NumPy backend) on the case's data; every result
must have the same number of iterations, at least 99.9 % identical labels
and the same inertia to 1e-6 relative. scikit-learn's own float32 fit is
held to 1e-5 only: it accumulates the centres' sums in float32 and its
inertia lands about 2e-6 from the float64 one at the default size (fastml
accumulates in float64: about 2e-7).

The issue's size is "default": 100000 x 32, k = 64.
"""

from __future__ import annotations

import numpy as np

from .cases import Case, peer_available

__all__ = ["KMEANS_SIZES", "SUITE_PEERS", "kmeans_cases"]

#: (n_samples, n_features, n_clusters) per size preset; "python" is the size
#: the pure-Python baseline runs at.
KMEANS_SIZES = {
    "tiny": {"main": (400, 8, 8), "python": (60, 8, 4)},
    "quick": {"main": (20000, 32, 32), "python": (200, 32, 8)},
    "default": {"main": (100000, 32, 64), "python": (300, 32, 16)},
    "full": {"main": (400000, 32, 128), "python": (400, 32, 16)},
}
N_ITER = 20

#: Peers the kmeans suite compares with (``fastml bench`` reads this).
SUITE_PEERS = ("sklearn",)


def _make(shape, dtype):
    n, d, k = shape

    def make():
        rng = np.random.default_rng(0)
        true = rng.uniform(-10, 10, size=(k, d))
        X = (true[rng.integers(0, k, n)] + rng.standard_normal((n, d))).astype(dtype)
        init = X[rng.choice(n, k, replace=False)].copy()
        return {"X": X, "init": init}

    return make


def _fit_fastml(backend):
    def run(inputs):
        from ..cluster import KMeans

        init = inputs["init"]
        km = KMeans(
            init.shape[0], init=init, n_init=1, tol=0.0, max_iter=N_ITER, backend=backend
        ).fit(inputs["X"])
        return {"inertia": km.inertia_, "labels": km.labels_, "n_iter": km.n_iter_}

    return run


def _reference(inputs):
    """The same fit in float64 (on the case's already-rounded data)."""
    as64 = {"X": inputs["X"].astype(np.float64), "init": inputs["init"].astype(np.float64)}
    if peer_available("sklearn"):
        return _fit_sklearn(as64)
    return _fit_fastml("numpy")(as64)


def _fit_sklearn(inputs):
    from sklearn.cluster import KMeans

    init = inputs["init"]
    km = KMeans(
        init.shape[0], init=init, n_init=1, tol=0.0, max_iter=N_ITER, algorithm="lloyd"
    ).fit(inputs["X"])
    return {"inertia": km.inertia_, "labels": km.labels_, "n_iter": km.n_iter_}


def _checker(result, expected, rtol, atol, err_msg):
    got = float(result["inertia"])
    ref = float(expected["inertia"])
    if not abs(got - ref) <= rtol * abs(ref) + atol:
        raise AssertionError(
            f"{err_msg}: inertia {got!r} differs from the reference {ref!r} "
            f"(relative {abs(got - ref) / abs(ref):.2e} > rtol {rtol:.0e})"
        )
    same = float(np.mean(np.asarray(result["labels"]) == np.asarray(expected["labels"])))
    if same < 0.999:
        raise AssertionError(f"{err_msg}: only {same:.4%} of the labels match the reference")
    if result["n_iter"] != expected["n_iter"]:
        raise AssertionError(
            f"{err_msg}: {result['n_iter']} iterations, expected {expected['n_iter']}"
        )


def kmeans_cases(
    sizes="default",
    dtypes=("float64", "float32"),
    backends=None,
    peers=None,
    *,
    all_at_python_size=False,
):
    """Build the kmeans cases (signature as :func:`fastml.bench.cases.distance_cases`).

    Parameters
    ----------
    sizes : {"tiny", "quick", "default", "full"}
    dtypes : tuple of str
    backends : tuple of str, optional
        fastml backends (default: every available one); "python" runs only at
        the preset's small "python" size.
    peers : tuple of str, optional
        ("sklearn",) by default when installed.
    all_at_python_size : bool
        Time every backend and peer at the small size too.

    Returns
    -------
    list of Case
    """
    import fastml

    if backends is None:
        backends = fastml.available_backends()
    if peers is None:
        peers = tuple(p for p in SUITE_PEERS if peer_available(p))
    use_sklearn = "sklearn" in peers and peer_available("sklearn")
    cases = []
    for dtype in dtypes:
        for role in ("main", "python"):
            shape = KMEANS_SIZES[sizes][role]
            if role == "python" and not all_at_python_size:
                chosen = ("python",) if "python" in backends else ()
            elif role == "python":
                chosen = tuple(backends)
            else:
                chosen = tuple(b for b in backends if b != "python")
            impls = {f"fastml-{b}": _fit_fastml(b) for b in chosen}
            if role == "main" or all_at_python_size:
                impls["fastml-auto"] = _fit_fastml("auto")
                if use_sklearn:
                    impls["sklearn"] = _fit_sklearn
            if not impls:
                continue
            cases.append(
                Case(
                    suite="kmeans",
                    op="kmeans-lloyd",
                    shape=shape,
                    dtype=dtype,
                    units=N_ITER,
                    make=_make(shape, dtype),
                    impls=impls,
                    reference=_reference,
                    rtol=1e-6,
                    atol=0.0,
                    loose={"sklearn": (1e-5, 0.0)} if dtype == "float32" else {},
                    unit="iteration",
                    role=role,
                    checker=_checker,
                )
            )
    return cases
