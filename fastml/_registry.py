"""Kernel modules per backend: lazy import, availability and "auto" dispatch.

A kernel module has the same name in every backend (``distance``,
``neighbors``, ...): ``fastml._python.distance``, ``fastml._numpy.distance``,
``fastml._numba.distance`` and the compiled ``fastml._cython.distance``.
Nothing is imported until a kernel is first asked for, so ``import fastml``
never imports numba.
"""

from __future__ import annotations

import importlib
import importlib.util

from ._config import BACKENDS, _check_backend_name, get_backend

_HOW_TO_GET = {
    "numba": "install it with `pip install numba`",
    "cython": (
        "the compiled extension was not built; reinstall fastml from source with a C "
        "compiler available (`pip install --force-reinstall --no-cache-dir .`)"
    ),
    "numpy": "install it with `pip install numpy`",
    "python": "",
}

_availability: dict[str, bool] = {}
_unavailable_reason: dict[str, str] = {}


def _probe(name):
    """Is backend ``name`` usable here? Checks without importing numba."""
    if name in ("python", "numpy"):
        return True, ""
    if name == "numba":
        # find_spec does not import numba (which takes ~0.3 s); a broken numba
        # install shows up on first use of a kernel instead.
        if importlib.util.find_spec("numba") is None:
            return False, "numba is not installed"
        return True, ""
    if name == "cython":
        try:
            importlib.import_module("fastml._cython._openmp")
        except ImportError as exc:
            return False, f"fastml's Cython extension cannot be imported ({exc})"
        return True, ""
    raise AssertionError(name)  # pragma: no cover


def is_available(name):
    """Return True if backend ``name`` can run kernels in this process."""
    if name not in _availability:
        ok, why = _probe(name)
        _availability[name] = ok
        _unavailable_reason[name] = why
    return _availability[name]


def available_backends():
    """Return the backends usable in this process.

    Returns
    -------
    tuple of str
        A subset of ``("python", "numpy", "numba", "cython")``, in that order.
    """
    return tuple(b for b in BACKENDS if is_available(b))


def require_backend(name):
    """Raise a clear ImportError if backend ``name`` is not usable."""
    if not is_available(name):
        raise ImportError(
            f"fastml backend {name!r} is not available: {_unavailable_reason[name]}; "
            f"{_HOW_TO_GET[name]}. Available backends: {', '.join(available_backends())}."
        )


def kernel_module(backend, kernel):
    """Import and return the module that implements ``kernel`` for ``backend``.

    Parameters
    ----------
    backend : str
        A concrete backend name (not "auto").
    kernel : str
        The kernel module name, e.g. ``"distance"``.
    """
    require_backend(backend)
    return importlib.import_module(f"fastml._{backend}.{kernel}")


# "auto": the fastest available backend for (kernel, case, size), measured with
# benchmarks/bench_distance.py (FASTML_BENCH_SIZES=default: 4000 x 4000 x 64,
# float32 and float64, 2 threads, AMD EPYC Zen4): the numba kernels were faster
# than the cython ones for every metric (1.1x to 2x). Below SMALL_WORK element
# operations a call takes well under a millisecond, where Numba's one-off costs
# (importing numba, ~0.3 s; loading or compiling the kernel) dominate, so the
# compiled-ahead cython backend goes first there. Each entry lists backends in
# order of preference; the first available one wins.
SMALL_WORK = 1 << 22
_AUTO_LARGE = ("numba", "cython", "numpy")
_AUTO_SMALL = ("cython", "numba", "numpy")
_AUTO_RULES: dict[tuple[str, str | None], tuple[str, ...]] = {
    # Gradient descent (case "plain": SGD with batch size 1; "batch": mini- and
    # full-batch steps): benchmarks/linear_ratios.py (200000 x 100 float64, 2
    # threads, round-robin medians): the cython plain-SGD epoch was 1.4x faster
    # than numba's in every run; full-batch step and mini-batch Adam epoch were
    # within the noise of a shared machine (+-15%) of each other. Cython first
    # at any size (it has no JIT compile either).
    ("sgd", "plain"): ("cython", "numba", "numpy"),
    ("sgd", "batch"): ("cython", "numba", "numpy"),
    # k-means Lloyd passes follow the default rule (cython below SMALL_WORK,
    # numba above): benchmarks/side_by_side_kmeans.py (100000 x 32, k=64, 20
    # iterations, 2 threads, 7 alternating rounds, a quiet machine): numba
    # 12.3 ms vs cython 15.4 ms per iteration in float64, 9.4 vs 9.2 ms in
    # float32.
    # kneighbors with euclidean-type metrics: the Cython float32 register-tiled
    # filter (4 x 16 micro-kernel) beat the Numba one (4 x 4 dot tile) by
    # 1.1-1.5x, float32 and float64, at every size of
    # benchmarks/bench_neighbors.py (fastml bench --suite neighbors, 2 threads).
    ("neighbors", "euclidean"): ("cython", "numba", "numpy"),
    ("neighbors", "sqeuclidean"): ("cython", "numba", "numpy"),
}


def auto_backend(kernel, case=None, work=None):
    """Return the backend "auto" picks for ``kernel``.

    Parameters
    ----------
    kernel : str
        Kernel module name.
    case : str, optional
        A finer key (e.g. the kernel metric) for rules in ``_AUTO_RULES``.
    work : int, optional
        Element operations of the call (e.g. mA * mB * n); None means large.
    """
    default = _AUTO_SMALL if work is not None and work < SMALL_WORK else _AUTO_LARGE
    order = _AUTO_RULES.get((kernel, case), default)
    for name in order:
        if is_available(name):
            return name
    return "numpy"


def resolve_backend(backend, kernel, case=None, work=None):
    """Apply the precedence rules and return a concrete, available backend.

    Parameters
    ----------
    backend : str or None
        The ``backend=`` argument of the public call (None if not given).
    kernel : str
        Kernel module name, e.g. ``"distance"``.
    case : str, optional
        A finer key for "auto" (e.g. the metric name).
    work : int, optional
        Size of the call in element operations, for "auto".
    """
    name = get_backend() if backend is None else _check_backend_name(backend)
    if name == "auto":
        return auto_backend(kernel, case, work)
    require_backend(name)
    return name
