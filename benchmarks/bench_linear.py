"""Gradient descent: fastml's backends against scikit-learn, NumPy, PyTorch and pure Python.

One pytest-benchmark group per operation, size and dtype (see
:mod:`fastml.bench.cases_linear`): 5 epochs of plain SGD (log_loss, batch
size 1), one full-batch gradient step, one epoch of mini-batch (256) Adam.
Every implementation's result is checked before it is timed (final training
log-loss no worse than the reference's by more than 1%; the full-batch step's
weights), and compiled kernels run once untimed first (JIT compile).

Run: ``pytest benchmarks/bench_linear.py --benchmark-only``
(``FASTML_BENCH_SIZES=default`` for issue 3's 200000 x 100).
"""

from conftest import bench_sizes, parametrize_cases, run_case

from fastml.bench.cases_linear import linear_cases

CASES = linear_cases(sizes=bench_sizes())


@parametrize_cases(CASES)
def test_linear(benchmark, case, impl):
    run_case(
        benchmark,
        case,
        impl,
        rounds=3 if impl.endswith(("python", "numpy")) or impl == "torch" else 5,
    )
