"""Issue 2's cdist bars, measured side by side: implementations alternate round
by round in one process and the medians are compared.

cdist(XA, XA, metric) with XA = m x 64 standard normal (seed 0; rounded for
hamming and jaccard), the inputs of :mod:`fastml.bench.cases`. Per metric:
SciPy float64; fastml auto / numba / cython float64; the NumPy matrix-product
form (2 BLAS threads) where one exists; fastml auto float32 (f64/f32 is the
auto float64 time over the auto float32 time); and the per-pair speed-up over
the pure-Python backend, timed at 48 x 48 x 64. Every result is checked
against SciPy's float64 result (float64: rtol 1e-7; float32: rtol 1e-5, atol 1e-6,
which covers the rounding of the inputs to float32; numpy-matmul: 1e-5)
before it is timed.

The order of the implementations rotates from round to round. SciPy calls
slower than 2 s (minkowski, mahalanobis) are timed in only
``scipy_rounds`` rounds (default 2), to keep the shared machine usable.

Run: ``python benchmarks/side_by_side_distance.py [m] [rounds] [metrics] [threads] [scipy_rounds]``
(metrics: comma-separated labels of ``METRICS`` or "all"; the extra labels
minkowski-p3-w and minkowski-p2.5 are not in "all").
"""

import os
import statistics
import sys
import time

import numpy as np

# This checkout's fastml, not an installed one (the script's own directory comes first otherwise).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastml  # noqa: E402
from fastml.bench.cases import DISTANCE_METRICS, _kwargs_for, _numpy_gemm  # noqa: E402
from fastml.bench.runner import primed_time  # noqa: E402

PYTHON_SHAPE = (48, 48, 64)
EXTRA = [
    ("minkowski-p3-w", "minkowski", {"p": 3.0, "w": "w"}),
    ("minkowski-p2.5", "minkowski", {"p": 2.5}),
]
METRICS = {label: (metric, kw) for label, metric, kw in DISTANCE_METRICS + EXTRA}


def _kwargs(kw, n):
    kw = _kwargs_for(kw, n)
    if kw.get("w") == "w":
        kw = {**kw, "w": np.random.default_rng(2).uniform(0.2, 2.0, n)}
    return kw


def _data(label, m, n, dtype):
    X = np.random.default_rng(0).standard_normal((m, n))
    if label in ("hamming", "jaccard"):
        X = np.round(X)
    return X.astype(dtype)


def _time(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _check(got, ref, rtol, atol, what):
    """Max relative error beyond tolerance, or None if within."""
    got = np.asarray(got, np.float64)
    if np.array_equal(np.isnan(got), np.isnan(ref)) and np.allclose(
        got, ref, rtol=rtol, atol=atol, equal_nan=True
    ):
        return None
    err = np.nanmax(np.abs(got - ref) / (atol + rtol * np.abs(ref)))
    print(f"  !! {what}: off by {err:.3g} x tolerance", flush=True)
    return err


def _python_per_pair(label, metric, kw, rounds):
    mA, mB, n = PYTHON_SHAPE
    X = _data(label, mA, n, np.float64)
    ts = [_time(lambda: fastml.cdist(X, X, metric, backend="python", **kw)) for _ in range(rounds)]
    return statistics.median(ts) / (mA * mB)


def run_metric(label, m, rounds, scipy_rounds):
    from scipy.spatial.distance import cdist as scdist

    metric, kw0 = METRICS[label]
    n = 64
    kw = _kwargs(kw0, n)
    X64 = _data(label, m, n, np.float64)
    X32 = X64.astype(np.float32)
    backends = [b for b in ("numba", "cython") if b in fastml.available_backends()]
    fs = {"scipy": lambda: scdist(X64, X64, metric, **kw)}
    fs["auto"] = lambda: fastml.cdist(X64, X64, metric, **kw)
    for b in backends:
        fs[b] = lambda b=b: fastml.cdist(X64, X64, metric, backend=b, **kw)
    gemm = None if "w" in kw else _numpy_gemm(metric)
    if gemm is not None:
        fs["numpy-matmul"] = lambda: gemm({"XA": X64, "XB": X64})
    fs["auto-f32"] = lambda: fastml.cdist(X32, X32, metric, **kw)

    # Warm up (JIT compile / cache load) and check every result against SciPy.
    t0 = time.perf_counter()
    ref = fs["scipy"]()
    first_scipy = time.perf_counter() - t0
    for name, f in fs.items():
        if name == "scipy":
            continue
        got = f()
        if name == "auto-f32":
            assert got.dtype == np.float32
            _check(got, ref, 1e-5, 1e-6, f"{label} {name}")
        elif name == "numpy-matmul":
            _check(got, ref, 1e-5, 1e-5, f"{label} {name}")
        else:
            _check(got, ref, 1e-7, 1e-12, f"{label} {name}")
        del got

    slow_scipy = first_scipy > 2.0
    times = {name: [] for name in fs}
    if slow_scipy:
        times["scipy"].append(first_scipy)
    names = list(fs)
    for r in range(rounds):
        # The order rotates each round: whichever call comes right after SciPy's long
        # single-threaded one measured slower, in every run (the idle core waking up).
        for name in names[r % len(names) :] + names[: r % len(names)]:
            f = fs[name]
            if name == "scipy" and slow_scipy and len(times["scipy"]) >= scipy_rounds:
                continue
            # A slow SciPy call is timed as it comes; the others after untimed calls
            # of their own (see fastml.bench.runner.primed_time).
            slow = name == "scipy" and slow_scipy
            times[name].append(_time(f) if slow else primed_time(f))
    med = {name: statistics.median(t) for name, t in times.items()}
    py = _python_per_pair(label, metric, _kwargs(kw0, n), 3)
    return med, py, len(times["scipy"])


def main():
    from threadpoolctl import threadpool_limits

    m = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    labels = sys.argv[3] if len(sys.argv) > 3 else "all"
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    scipy_rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    labels = [lab for lab, _, _ in DISTANCE_METRICS] if labels == "all" else labels.split(",")
    fastml.set_num_threads(threads)
    print(
        f"cdist {m} x {m} x 64, {threads} threads (fastml and BLAS), {rounds} rounds "
        f"(slow SciPy: {scipy_rounds}); python per pair at {'x'.join(map(str, PYTHON_SHAPE))}; "
        f"fastml {fastml.__file__}; load {os.getloadavg()}"
    )
    print(
        "| metric | scipy f64 s | auto f64 s | auto vs scipy | numba vs scipy | cython vs scipy "
        "| auto vs numpy-matmul | auto f32 s | f64/f32 (auto) | auto vs python, per pair |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    pairs = m * m
    with threadpool_limits(threads):
        for label in labels:
            med, py, nsc = run_metric(label, m, rounds, scipy_rounds)
            sc = med["scipy"]

            def vs(name, med=med, sc=sc):
                return f"{sc / med[name]:.1f}x" if name in med else "-"

            mm = f"{med['numpy-matmul'] / med['auto']:.2f}x" if "numpy-matmul" in med else "-"
            star = "" if nsc == rounds else f" ({nsc} rounds)"
            print(
                f"| {label} | {sc:.3g}{star} | {med['auto']:.3g} | {vs('auto')} | {vs('numba')} "
                f"| {vs('cython')} | {mm} | {med['auto-f32']:.3g} "
                f"| {med['auto'] / med['auto-f32']:.2f} | {py / (med['auto'] / pairs):.0f}x |",
                flush=True,
            )
    print(f"load at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
