"""cdist: every metric, fastml's backends against SciPy, NumPy and pure Python.

One pytest-benchmark group per metric, size and dtype. Every implementation's
result is checked against the reference before it is timed, and compiled
kernels run once untimed first, so Numba's JIT compile is not in the timings
(``fastml bench --suite startup`` measures compile and import times).

Run: ``pytest benchmarks/bench_distance.py --benchmark-only``
"""

from conftest import bench_sizes, parametrize_cases, run_case

from fastml.bench.cases import distance_cases

CASES = distance_cases(sizes=bench_sizes())


@parametrize_cases(CASES)
def test_cdist(benchmark, case, impl):
    # Slow peers (SciPy's minkowski: ~15 s a call) and pure Python get fewer rounds.
    run_case(
        benchmark, case, impl, rounds=3 if impl in ("scipy",) or impl.endswith("python") else 7
    )
