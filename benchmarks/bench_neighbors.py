"""kneighbors (k = 10, euclidean): fastml's backends against scikit-learn, faiss and pure Python.

One pytest-benchmark group per size and dtype (FASTML_BENCH_SIZES=default is
issue 4's 20000 x 20000 x 64). Every implementation's
result is checked against the reference before it is timed, and compiled
kernels run once untimed first, so Numba's JIT compile is not in the timings
(``fastml bench --suite startup`` measures compile and import times).

Run: ``FASTML_BENCH_SIZES=default pytest benchmarks/bench_neighbors.py --benchmark-only``
"""

from conftest import bench_sizes, parametrize_cases, run_case

from fastml.bench.cases_neighbors import neighbors_cases

CASES = neighbors_cases(sizes=bench_sizes())


@parametrize_cases(CASES)
def test_kneighbors(benchmark, case, impl):
    run_case(benchmark, case, impl, rounds=3 if impl.endswith("python") else 5)
