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
