"""Backend selection rules, availability errors, threads, show_config, import cost."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _cases import scipy_cdist
from conftest import COMPILED_BACKENDS, assert_close_to_scipy, missing_required_backends

import fastml
from fastml import _config, _metrics, _registry

X = np.random.default_rng(0).standard_normal((6, 3))


@pytest.fixture
def spy(monkeypatch):
    """Record which backend's distance kernel runs (wrapping kernel_module)."""
    calls = []
    real = _registry.kernel_module

    def wrapped(backend, kernel):
        calls.append(backend)
        return real(backend, kernel)

    import fastml.distance as dist

    monkeypatch.setattr(dist, "kernel_module", wrapped)
    return calls


def _simulate_unavailable(monkeypatch, name, reason="simulated: not built"):
    monkeypatch.setitem(_registry._availability, name, False)
    monkeypatch.setitem(_registry._unavailable_reason, name, reason)


# ---------------------------------------------------------------- FASTML_REQUIRE_BACKENDS
def test_required_backends_are_available():
    """CI sets FASTML_REQUIRE_BACKENDS=numba,cython; a silently missing one fails here too."""
    assert missing_required_backends() == []


def test_require_backends_check_detects_missing(monkeypatch):
    monkeypatch.setenv("FASTML_REQUIRE_BACKENDS", "numpy, cython")
    _simulate_unavailable(monkeypatch, "cython")
    problems = missing_required_backends()
    assert [b for b, _ in problems] == ["cython"]
    assert "simulated" in problems[0][1]


def test_require_backends_session_fails_in_subprocess():
    """The session-start hook ends the run with a failure for a bogus required backend."""
    env = dict(os.environ, FASTML_REQUIRE_BACKENDS="numpy,notabackend")
    conftest_dir = os.path.dirname(__file__)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            conftest_dir,
            "--confcutdir",
            conftest_dir,
            os.path.join(conftest_dir, "test_backends.py::test_required_backends_are_available"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0, r.stdout + r.stderr
    assert "notabackend" in r.stdout + r.stderr


# ---------------------------------------------------------------- precedence
def test_available_backends():
    b = fastml.available_backends()
    assert isinstance(b, tuple)
    assert b[:2] == ("python", "numpy")
    assert set(b) <= {"python", "numpy", "numba", "cython"}
    assert list(b) == [x for x in _config.BACKENDS if x in b]


def test_explicit_backend_wins(spy, monkeypatch):
    monkeypatch.setenv("FASTML_BACKEND", "numpy")
    fastml.set_backend("numpy")
    with fastml.use_backend("numpy"):
        d = fastml.cdist(X, X, backend="python")
    assert spy == ["python"]
    assert_close_to_scipy(d, scipy_cdist(X, X, "euclidean"), np.float64)


def test_use_backend_beats_set_backend_and_env(spy, monkeypatch):
    monkeypatch.setenv("FASTML_BACKEND", "numpy")
    fastml.set_backend("numpy")
    with fastml.use_backend("python") as name:
        assert name == "python"
        assert fastml.get_backend() == "python"
        fastml.pdist(X)
    assert spy == ["python"]
    assert fastml.get_backend() == "numpy"


def test_set_backend_beats_env(spy, monkeypatch):
    monkeypatch.setenv("FASTML_BACKEND", "numpy")
    fastml.set_backend("python")
    assert fastml.get_backend() == "python"
    fastml.cdist(X, X)
    assert spy == ["python"]
    fastml.set_backend(None)
    assert fastml.get_backend() == "numpy"
    fastml.set_backend("auto")
    assert fastml.get_backend() == "numpy"  # auto at the global level defers to the env var


def test_env_var_beats_auto(spy, monkeypatch):
    monkeypatch.setenv("FASTML_BACKEND", "python")
    assert fastml.get_backend() == "python"
    fastml.cdist(X, X, "cityblock")
    monkeypatch.setenv("FASTML_BACKEND", " NumPy ")
    fastml.cdist(X, X, "cityblock")
    monkeypatch.setenv("FASTML_BACKEND", "")
    assert fastml.get_backend() == "auto"
    fastml.cdist(X, X, "cityblock")
    assert spy[:2] == ["python", "numpy"]
    assert spy[2] != "python"


def test_env_var_invalid(monkeypatch):
    monkeypatch.setenv("FASTML_BACKEND", "bogus")
    with pytest.raises(ValueError, match="FASTML_BACKEND"):
        fastml.cdist(X, X)


def test_use_backend_nests_and_restores_on_exception(spy):
    with fastml.use_backend("numpy"):
        with fastml.use_backend("python"):
            fastml.cdist(X, X)
            with pytest.raises(RuntimeError):
                with fastml.use_backend("numpy"):
                    fastml.cdist(X, X)
                    raise RuntimeError("boom")
            assert fastml.get_backend() == "python"
            fastml.cdist(X, X)
        assert fastml.get_backend() == "numpy"
        fastml.cdist(X, X)
    assert fastml.get_backend() == "auto"
    assert spy == ["python", "numpy", "python", "numpy"]


def test_use_backend_auto_inside_explicit():
    with fastml.use_backend("python"):
        with fastml.use_backend("auto"):
            assert fastml.get_backend() == "auto"
            assert _registry.resolve_backend(None, "distance", "euclidean") != "python"


def test_use_backend_is_per_thread():
    import threading

    seen = {}
    with fastml.use_backend("python"):
        t = threading.Thread(target=lambda: seen.setdefault("b", fastml.get_backend()))
        t.start()
        t.join()
    assert seen["b"] == "auto"


@pytest.mark.parametrize(
    "setter",
    [
        fastml.set_backend,
        lambda n: fastml.use_backend(n).__enter__(),
        lambda n: fastml.cdist(X, X, backend=n),
    ],
)
def test_unknown_backend_lists_valid_ones(setter):
    with pytest.raises(
        ValueError,
        match=r"unknown backend 'fortran'.*auto.*python, numpy, numba, "
        r"cython",
    ):
        setter("fortran")
    assert fastml.get_backend() == "auto"


@pytest.mark.parametrize(
    "name, how", [("cython", "reinstall fastml from source"), ("numba", "pip install numba")]
)
def test_unavailable_backend_import_error(monkeypatch, name, how):
    _simulate_unavailable(monkeypatch, name)
    assert name not in fastml.available_backends()
    for call in (
        lambda: fastml.cdist(X, X, backend=name),
        lambda: fastml.pdist(X, backend=name),
        lambda: fastml.set_backend(name),
        lambda: fastml.use_backend(name).__enter__(),
        lambda: fastml.pairwise_distances_chunked(X, backend=name),
    ):
        with pytest.raises(ImportError, match=rf"'{name}' is not available.*simulated.*{how}"):
            call()
    assert fastml.get_backend() == "auto"
    # auto silently skips it
    assert _registry.resolve_backend(None, "distance", "euclidean") != name


def test_unavailable_env_backend_import_error(monkeypatch):
    _simulate_unavailable(monkeypatch, "cython")
    monkeypatch.setenv("FASTML_BACKEND", "cython")
    with pytest.raises(ImportError, match="cython"):
        fastml.cdist(X, X)


@pytest.mark.parametrize("metric", _metrics.KERNEL_METRICS + (None,))
def test_auto_never_resolves_to_python(metric):
    choice = _registry.resolve_backend(None, "distance", metric)
    assert choice != "python"
    assert choice in fastml.available_backends()
    assert _registry.resolve_backend("auto", "distance", metric) == choice


@pytest.mark.parametrize("metric", _metrics.KERNEL_METRICS)
def test_auto_never_python_even_if_only_python_and_numpy(monkeypatch, metric):
    _simulate_unavailable(monkeypatch, "numba")
    _simulate_unavailable(monkeypatch, "cython")
    assert _registry.resolve_backend(None, "distance", metric) == "numpy"


def test_auto_prefers_compiled_when_available():
    choice = _registry.resolve_backend(None, "distance", "euclidean")
    if COMPILED_BACKENDS:
        assert choice in COMPILED_BACKENDS
    else:
        assert choice == "numpy"


def test_auto_result_matches_scipy(dtype):
    A = np.random.default_rng(1).standard_normal((70, 9)).astype(dtype)
    for metric in ("euclidean", "cityblock", "cosine", "hamming"):
        assert_close_to_scipy(
            fastml.cdist(A, A[:31], metric), scipy_cdist(A, A[:31], metric), dtype
        )


def test_set_backend_wrong_type():
    with pytest.raises(TypeError, match="backend must be a string"):
        fastml.set_backend(3)


# ---------------------------------------------------------------- threads
@pytest.mark.parametrize(
    "bad, exc",
    [
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("2", TypeError),
        (2.0, TypeError),
    ],
)
def test_set_num_threads_validation(bad, exc):
    before = fastml.get_num_threads()
    with pytest.raises(exc, match="n must be a positive int"):
        fastml.set_num_threads(bad)
    assert fastml.get_num_threads() == before


def test_num_threads_default_env_and_none(monkeypatch):
    default = len(os.sched_getaffinity(0))
    assert fastml.get_num_threads() == default
    fastml.set_num_threads(1)
    assert fastml.get_num_threads() == 1
    fastml.set_num_threads(np.int64(2))
    assert fastml.get_num_threads() == 2
    assert type(fastml.get_num_threads()) is int
    fastml.set_num_threads(None)
    assert fastml.get_num_threads() == default
    monkeypatch.setenv("FASTML_NUM_THREADS", "3")
    assert fastml.get_num_threads() == 3
    fastml.set_num_threads(1)  # explicit setting beats the env var
    assert fastml.get_num_threads() == 1
    fastml.set_num_threads(None)
    assert fastml.get_num_threads() == 3


@pytest.mark.parametrize(
    ("omp", "expect"),
    [
        ("1", 1),
        ("1,2", 1),
        (" 1 ", 1),
        ("1000", None),
        ("0", None),
        ("-2", None),
        ("x", None),
        ("", None),
    ],  # fmt: skip
)
def test_num_threads_follow_a_lower_omp_num_threads(monkeypatch, omp, expect):
    """OMP_NUM_THREADS (as joblib's and Dask's worker processes set it) lowers the
    default; it never raises it, and a value OpenMP would not take is ignored."""
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(_config, "_omp_at_start", _config._omp_num_threads(omp))
    assert fastml.get_num_threads() == (cores if expect is None else expect)
    monkeypatch.setenv("FASTML_NUM_THREADS", "2")  # fastml's own setting wins
    assert fastml.get_num_threads() == 2
    with fastml.use_num_threads(3):
        assert fastml.get_num_threads() == 3


def test_omp_num_threads_is_read_when_fastml_starts(monkeypatch):
    """Read at import, as OpenMP reads it: set for a new process it counts, set
    later in this one (as dask.distributed's LocalCluster does for its workers)
    it does not."""
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert fastml.get_num_threads() == cores
    code = "import fastml; print(fastml.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("FASTML_NUM_THREADS", None)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == 1


def test_use_num_threads_is_local_and_nests():
    import threading

    fastml.set_num_threads(2)
    seen = {}
    try:
        with fastml.use_num_threads(1):
            assert fastml.get_num_threads() == 1
            t = threading.Thread(target=lambda: seen.setdefault("other", fastml.get_num_threads()))
            t.start()
            t.join()
            with pytest.raises(RuntimeError), fastml.use_num_threads(3):
                assert fastml.get_num_threads() == 3
                raise RuntimeError
            assert fastml.get_num_threads() == 1
        assert fastml.get_num_threads() == 2
        assert seen["other"] == 2  # another thread does not see this block's setting
        with pytest.raises(ValueError, match="positive"):
            fastml.use_num_threads(0).__enter__()
    finally:
        fastml.set_num_threads(None)


@pytest.mark.parametrize("val", ["0", "-2", "two", "1.5"])
def test_num_threads_bad_env(monkeypatch, val):
    monkeypatch.setenv("FASTML_NUM_THREADS", val)
    with pytest.raises(ValueError, match="FASTML_NUM_THREADS"):
        fastml.get_num_threads()


@pytest.mark.skipif(not COMPILED_BACKENDS, reason="no compiled backend")
@pytest.mark.parametrize("cbackend", COMPILED_BACKENDS)
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "minkowski", "canberra"])
def test_thread_count_does_not_change_results(cbackend, metric, dtype):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((203, 37)).astype(dtype)
    B = rng.standard_normal((151, 37)).astype(dtype)
    kw = {"p": 3} if metric == "minkowski" else {}
    res = {}
    for n in (1, 2):
        fastml.set_num_threads(n)
        res[n] = (
            fastml.cdist(A, B, metric, backend=cbackend, **kw),
            fastml.pdist(A, metric, backend=cbackend, **kw),
        )
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    for a, b in zip(res[1], res[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
    assert_close_to_scipy(res[2][0], scipy_cdist(A, B, metric, **kw), dtype)


# ---------------------------------------------------------------- config / import
def test_show_config(capsys):
    fastml.set_num_threads(1)
    fastml.show_config()
    text = capsys.readouterr().out
    lines = text.lower().splitlines()
    for key in ("numpy", "numba", "backends", "threads", "fastml", "cython"):
        assert any(key in line for line in lines), key
    threads_line = next(line for line in lines if line.startswith("threads"))
    assert threads_line.split()[-1] == "1"
    backends_line = next(line for line in lines if line.startswith("backends"))
    for b in fastml.available_backends():
        assert b in backends_line
    assert np.__version__ in text


def test_show_config_to_file(tmp_path):
    path = tmp_path / "cfg.txt"
    with open(path, "w") as fh:
        fastml.show_config(file=fh)
    assert "backends" in path.read_text()


def test_import_does_not_import_numba():
    code = (
        "import sys, fastml; "
        "assert 'numba' not in sys.modules, 'numba imported'; "
        "fastml.available_backends(); fastml.show_config(); "
        "import numpy as np; fastml.cdist(np.ones((2, 2)), np.ones((2, 2)), backend='numpy'); "
        "assert 'numba' not in sys.modules, 'numba imported by available_backends/numpy'"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert r.returncode == 0, r.stderr


def test_version():
    assert isinstance(fastml.__version__, str) and fastml.__version__


def test_public_api():
    for name in fastml.__all__:
        assert hasattr(fastml, name), name


def test_warmup_compiles_and_returns_seconds():
    # One kernel and dtype: warming everything would compile (cold: minutes)
    # what the other test files compile anyway.
    t = fastml.warmup(kernels=("kmeans",), dtypes=("float64",))
    assert isinstance(t, float) and t >= 0
    if "numba" in fastml.available_backends():
        from fastml._numba import kmeans

        compiled = {sig[0].dtype.name for sig in kmeans._lloyd_groups.signatures}
        assert "float64" in compiled


def test_auto_prefers_compiled_ahead_backend_for_small_calls():
    """ "auto" follows the measured rule in fastml._registry: cython first for
    tiny calls (no JIT/import cost), numba first for large ones (faster kernels)."""
    small = _registry.resolve_backend("auto", "distance", "euclidean", work=10)
    large = _registry.resolve_backend("auto", "distance", "euclidean", work=1 << 30)
    avail = fastml.available_backends()
    expect_small = next(b for b in _registry._AUTO_SMALL if b in avail)
    expect_large = next(b for b in _registry._AUTO_LARGE if b in avail)
    assert (small, large) == (expect_small, expect_large)
    if {"numba", "cython"} <= set(avail):
        assert (small, large) == ("cython", "numba")


def test_threads_for_keeps_tiny_calls_on_one_thread(monkeypatch):
    monkeypatch.setattr(_config, "_num_threads", 8)
    assert _config.threads_for(0) == 1
    assert _config.threads_for(_config.MIN_WORK_PER_THREAD - 1) == 1
    assert _config.threads_for(3 * _config.MIN_WORK_PER_THREAD) == 3
    assert _config.threads_for(1 << 40) == 8
