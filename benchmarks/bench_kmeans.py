"""KMeans: 20 Lloyd iterations from given centres, fastml's backends against scikit-learn.

One pytest-benchmark group per size and dtype (the issue's size is
``FASTML_BENCH_SIZES=default``: 100000 x 32, k = 64). Every implementation's
result is checked against scikit-learn's (same inertia to 1e-6, same labels)
before it is timed, and compiled kernels run once untimed first, so Numba's
JIT compile is not in the timings. Per-iteration time = time / 20.

Run: ``FASTML_BENCH_SIZES=default pytest benchmarks/bench_kmeans.py --benchmark-only``
"""

from conftest import bench_sizes, parametrize_cases, run_case

from fastml.bench.cases_kmeans import kmeans_cases

CASES = kmeans_cases(sizes=bench_sizes())


@parametrize_cases(CASES)
def test_kmeans(benchmark, case, impl):
    run_case(benchmark, case, impl, rounds=3 if impl.endswith("python") else 7)
