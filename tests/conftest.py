"""Shared fixtures and oracle helpers for the fastml test suite.

* ``backend`` is parametrised over :func:`fastml.available_backends`, so the
  compiled backends (numba, cython) are covered as soon as they are usable.
* ``dtype`` is float32 / float64.
* ``assert_close_to_scipy`` holds every backend to the contract of issue 2:
  rtol 1e-7 for float64, rtol 1e-5 + atol 1e-6 for float32, NaN where the
  oracle has NaN.
* ``FASTML_REQUIRE_BACKENDS=numba,cython`` makes the run fail at session start
  when a listed backend is missing or its distance kernels cannot be imported
  (CI uses it so that a silently missing compiled backend fails the build).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastml
from fastml import _config, _registry

BACKENDS = fastml.available_backends()
COMPILED_BACKENDS = tuple(b for b in BACKENDS if b in ("numba", "cython"))
FAST_BACKENDS = tuple(b for b in BACKENDS if b != "python")
DTYPES = (np.float32, np.float64)

# Tolerances of the contract (issue 2). float64 is checked tighter where we can.
RTOL64 = 1e-7
ATOL64 = 1e-12  # absolute floor for results that are zero up to rounding
RTOL32 = 1e-5
ATOL32 = 1e-6


def required_backends():
    """Backends listed in FASTML_REQUIRE_BACKENDS (comma-separated)."""
    raw = os.environ.get("FASTML_REQUIRE_BACKENDS", "")
    return [b.strip().lower() for b in raw.split(",") if b.strip()]


def missing_required_backends():
    """Return [(backend, reason)] for every required backend that is not usable."""
    problems = []
    for name in required_backends():
        if name not in fastml.available_backends():
            reason = _registry._unavailable_reason.get(name, "not a known backend")
            problems.append((name, reason or "not available"))
            continue
        try:  # available must mean usable: the kernel module imports and runs
            x = np.arange(6.0).reshape(3, 2)
            d = fastml.cdist(x, x, backend=name)
            assert d.shape == (3, 3)
        except Exception as exc:  # noqa: BLE001 - report whatever went wrong
            problems.append((name, f"{type(exc).__name__}: {exc}"))
    return problems


def pytest_sessionstart(session):
    problems = missing_required_backends()
    if problems:
        msg = "; ".join(f"{b!r}: {why}" for b, why in problems)
        pytest.exit(
            f"FASTML_REQUIRE_BACKENDS={os.environ['FASTML_REQUIRE_BACKENDS']!r} but these "
            f"backends are unusable: {msg}",
            returncode=1,
        )


def pytest_report_header(config):
    return (
        f"fastml {fastml.__version__}; backends: {', '.join(BACKENDS)}; "
        f"required: {', '.join(required_backends()) or '-'}"
    )


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=FAST_BACKENDS)
def fast_backend(request):
    """Every backend but pure Python (for realistic sizes)."""
    return request.param


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _restore_fastml_state(monkeypatch):
    """Every test starts and ends with default backend / thread settings."""
    monkeypatch.delenv("FASTML_BACKEND", raising=False)
    monkeypatch.delenv("FASTML_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_config, "_omp_at_start", None)  # as if unset when fastml started
    saved_backend = _config._global_backend
    saved_threads = _config._num_threads
    saved_avail = dict(_registry._availability)
    saved_reason = dict(_registry._unavailable_reason)
    yield
    _config._global_backend = saved_backend
    _config._num_threads = saved_threads
    _registry._availability.clear()
    _registry._availability.update(saved_avail)
    _registry._unavailable_reason.clear()
    _registry._unavailable_reason.update(saved_reason)


def tolerances(dtype, scale=1.0):
    """(rtol, atol) for results of ``dtype``; atol scales with the data magnitude."""
    if np.dtype(dtype) == np.float32:
        return RTOL32, ATOL32 * scale
    return RTOL64, ATOL64 * scale


def assert_close_to_scipy(result, expected, dtype, *, scale=1.0, check_dtype=True, rtol=None):
    """Assert ``result`` (fastml) matches ``expected`` (oracle) within the contract.

    Parameters
    ----------
    result : ndarray
        fastml's output.
    expected : ndarray
        The oracle's output (SciPy / scikit-learn / pure Python), any float dtype.
    dtype : numpy dtype
        The dtype fastml must have returned; also selects the tolerances.
    scale : float
        Magnitude of the results (multiplies the absolute tolerance) for tests
        with huge or tiny data.
    """
    result = np.asarray(result)
    expected = np.asarray(expected)
    if check_dtype:
        assert result.dtype == np.dtype(dtype), f"dtype {result.dtype}, expected {np.dtype(dtype)}"
    assert result.shape == expected.shape, f"shape {result.shape}, expected {expected.shape}"
    rt, at = tolerances(dtype, scale)
    if rtol is not None:
        rt = rtol
    res64 = result.astype(np.float64)
    exp64 = expected.astype(np.float64)
    np.testing.assert_array_equal(
        np.isnan(res64), np.isnan(exp64), err_msg="NaN positions differ from the oracle"
    )
    np.testing.assert_allclose(res64, exp64, rtol=rt, atol=at, equal_nan=True)


def rows_of(dtype, shape, rng, kind="normal"):
    """Random test data of ``dtype``: normal floats, or small integers for set metrics."""
    if kind == "int":
        return rng.integers(0, 3, size=shape).astype(dtype)
    x = rng.standard_normal(shape)
    return x.astype(dtype)
