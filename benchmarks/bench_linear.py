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

import pytest
from conftest import bench_sizes

from fastml.bench.cases_linear import linear_cases

CASES = linear_cases(sizes=bench_sizes())
PARAMS = [(case, impl) for case in CASES for impl in case.impls]
_current = {}


def _prepare(case):
    """Keep one case's inputs and reference alive at a time (they are large)."""
    previous = _current.get("case")
    if previous is not None and previous is not case:
        previous.release()
    _current["case"] = case
    return case.inputs()


@pytest.mark.parametrize(
    ("case", "impl"), PARAMS, ids=[f"{c.op}-{c.size_label}-{c.dtype}-{i}" for c, i in PARAMS]
)
def test_linear(benchmark, case, impl):
    benchmark.group = case.group
    benchmark.extra_info.update(units=case.units, unit=case.unit, impl=impl, dtype=case.dtype)
    inputs = _prepare(case)
    fn = case.impls[impl]
    case.check(fn(inputs), inputs, impl)  # warm-up (JIT compile) and correctness
    rounds = 3 if impl.endswith(("python", "numpy")) or impl == "torch" else 5
    benchmark.pedantic(fn, args=(inputs,), rounds=rounds, iterations=1, warmup_rounds=0)
