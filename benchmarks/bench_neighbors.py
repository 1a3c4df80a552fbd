"""kneighbors (k = 10, euclidean): fastml's backends against scikit-learn, faiss and pure Python.

One pytest-benchmark group per size and dtype (FASTML_BENCH_SIZES=default is
issue 4's 20000 x 20000 x 64). Every implementation's
result is checked against the reference before it is timed, and compiled
kernels run once untimed first, so Numba's JIT compile is not in the timings
(``fastml bench --suite startup`` measures compile and import times).

Run: ``FASTML_BENCH_SIZES=default pytest benchmarks/bench_neighbors.py --benchmark-only``
"""

import pytest
from conftest import bench_sizes

from fastml.bench.cases_neighbors import neighbors_cases

CASES = neighbors_cases(sizes=bench_sizes())
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
def test_kneighbors(benchmark, case, impl):
    benchmark.group = case.group
    benchmark.extra_info.update(units=case.units, impl=impl, dtype=case.dtype)
    inputs = _prepare(case)
    fn = case.impls[impl]
    case.check(fn(inputs), inputs, impl)  # warm-up (JIT compile) and correctness
    rounds = 3 if impl.endswith("python") else 5
    benchmark.pedantic(fn, args=(inputs,), rounds=rounds, iterations=1, warmup_rounds=0)
