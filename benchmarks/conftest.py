"""pytest-benchmark configuration shared by the suites in this folder.

Sizes come from ``FASTML_BENCH_SIZES``: quick (the default; 1000 x 1000 x 64,
a few minutes in all), default (4000 x 4000 x 64, the size the project's speed
targets are stated at) or full.
"""

import os

import pytest

import fastml


def pytest_report_header(config):
    return [
        f"fastml {fastml.__version__}: backends {', '.join(fastml.available_backends())}, "
        f"threads {fastml.get_num_threads()}, sizes {bench_sizes()}"
    ]


def bench_sizes():
    value = os.environ.get("FASTML_BENCH_SIZES", "quick")
    if value not in ("quick", "default", "full"):
        raise pytest.UsageError(f"FASTML_BENCH_SIZES must be quick, default or full; got {value!r}")
    return value


def parametrize_cases(cases):
    """``@parametrize_cases(CASES)``: one test per (case, implementation)."""
    params = [(case, impl) for case in cases for impl in case.impls]
    return pytest.mark.parametrize(
        ("case", "impl"), params, ids=[f"{c.op}-{c.size_label}-{c.dtype}-{i}" for c, i in params]
    )


_current = {}


def run_case(benchmark, case, impl, rounds):
    """Check one implementation of ``case`` (its untimed first call), then time it.

    Only one case's inputs and reference are kept alive at a time (they are
    large). The first call is the warm-up (Numba's JIT compile) and the
    correctness check, so a fast wrong kernel cannot be timed.
    """
    benchmark.group = case.group
    benchmark.extra_info.update(units=case.units, unit=case.unit, impl=impl, dtype=case.dtype)
    previous = _current.get("case")
    if previous is not None and previous is not case:
        previous.release()
    _current["case"] = case
    inputs = case.inputs()
    fn = case.impls[impl]
    case.check(fn(inputs), inputs, impl)
    benchmark.pedantic(fn, args=(inputs,), rounds=rounds, iterations=1, warmup_rounds=0)
