"""Process-wide configuration: the backend in force and the thread count.

Backend precedence, highest first (DESIGN.md):

1. the ``backend=`` argument of a public function,
2. the innermost ``with use_backend(...)`` block (per thread / per task: a
   :class:`contextvars.ContextVar`, so Dask or asyncio tasks do not leak it),
3. ``set_backend(...)`` (process-wide),
4. the ``FASTML_BACKEND`` environment variable, read at call time,
5. ``"auto"``.

Nothing here imports numba or compiles anything.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
import os

__all__ = [
    "BACKENDS",
    "get_backend",
    "get_num_threads",
    "set_backend",
    "set_num_threads",
    "use_backend",
    "use_num_threads",
]

#: Every backend fastml knows, slowest first. "auto" is a choice, not a backend.
BACKENDS = ("python", "numpy", "numba", "cython")

_global_backend: str | None = None
_context_backend: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fastml_backend", default=None
)
_num_threads: int | None = None
_context_threads: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "fastml_num_threads", default=None
)


def _check_backend_name(name, argname="backend"):
    """Return ``name`` lower-cased if it names a backend or "auto", else raise."""
    if not isinstance(name, str):
        raise TypeError(
            f"{argname} must be a string, one of {('auto',) + BACKENDS}; got {type(name).__name__}"
        )
    key = name.strip().lower()
    if key != "auto" and key not in BACKENDS:
        raise ValueError(
            f"unknown {argname} {name!r}; expected 'auto' or one of {', '.join(BACKENDS)}"
        )
    return key


def set_backend(name):
    """Set the process-wide default backend.

    Parameters
    ----------
    name : {"auto", "python", "numpy", "numba", "cython"} or None
        ``None`` or ``"auto"`` restores automatic selection.
    """
    global _global_backend
    if name is None:
        _global_backend = None
        return
    key = _check_backend_name(name)
    if key != "auto":
        from ._registry import require_backend

        require_backend(key)
    _global_backend = None if key == "auto" else key


def get_backend():
    """Return the backend that a call without ``backend=`` would request.

    Returns
    -------
    str
        ``"auto"`` or a backend name, after the context, the global setting
        and the ``FASTML_BACKEND`` environment variable are considered.
    """
    ctx = _context_backend.get()
    if ctx is not None:
        return ctx
    if _global_backend is not None:
        return _global_backend
    env = os.environ.get("FASTML_BACKEND", "").strip()
    if env:
        return _check_backend_name(env, "FASTML_BACKEND")
    return "auto"


@contextlib.contextmanager
def use_backend(name):
    """Context manager that selects a backend for the calls made inside it.

    Examples
    --------
    >>> import fastml, numpy as np
    >>> with fastml.use_backend("numpy"):
    ...     d = fastml.cdist(np.zeros((2, 3)), np.ones((1, 3)))
    """
    key = _check_backend_name(name)
    if key != "auto":
        from ._registry import require_backend

        require_backend(key)
    token = _context_backend.set(key)
    try:
        yield key
    finally:
        _context_backend.reset(token)


def _default_num_threads():
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cores = max(1, os.cpu_count() or 1)
    omp = _omp_at_start
    return cores if omp is None else min(cores, omp)


def _omp_num_threads(value):
    """An ``OMP_NUM_THREADS`` value's first level, or None if unset or not a positive int.

    joblib's process workers and Dask's worker processes set it to divide the
    cores between them, and OpenMP code (scikit-learn's included) follows it;
    any other value is OpenMP's business, not an error here.
    """
    first = (value or "").split(",")[0].strip()
    try:
        n = int(first)
    except ValueError:
        return None
    return n if n >= 1 else None


# Read once, when fastml is imported, as an OpenMP runtime reads it when it
# starts: a worker process is started with it set. A later change does not
# count: dask.distributed's LocalCluster sets OMP_NUM_THREADS=1 in the
# process that starts it (for its workers), and a fastml call in that process
# then ran on one thread (KMeans: 0.62 -> 1.0 s).
_omp_at_start = _omp_num_threads(os.environ.get("OMP_NUM_THREADS"))


def _check_threads(n):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a positive int or None; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be a positive int or None; got {n}")
    return int(n)


@contextlib.contextmanager
def use_num_threads(n):
    """Use ``n`` threads for the compiled kernels inside a ``with`` block.

    Like :func:`use_backend`, the setting is local to the current thread or
    task (a :class:`contextvars.ContextVar`): ``fastml.dask`` runs each task
    with one thread this way, so concurrent tasks do not oversubscribe the cores.

    Parameters
    ----------
    n : int
        A positive thread count.
    """
    token = _context_threads.set(_check_threads(n))
    try:
        yield
    finally:
        _context_threads.reset(token)


def set_num_threads(n):
    """Set the number of threads used by the Numba and OpenMP (Cython) kernels.

    Parameters
    ----------
    n : int or None
        A positive thread count, or ``None`` for all available cores.
        Values above the core count are clipped for Numba, which cannot
        start more threads than its pool was created with.
    """
    global _num_threads
    _num_threads = None if n is None else _check_threads(n)


#: Element operations a kernel must have per thread before another thread is
#: worth waking (about 0.1 ms of work; waking a sleeping thread costs ~0.05 ms,
#: and far more when the machine is busy).
MIN_WORK_PER_THREAD = 1 << 18


def threads_for(work):
    """Threads a compiled kernel should use for ``work`` element operations.

    :func:`get_num_threads`, reduced so that each thread gets at least
    :data:`MIN_WORK_PER_THREAD` operations: tiny calls stay on one thread.
    Shared by the Numba and Cython kernels. Which thread computes which
    output never changes a result, so this only affects speed.
    """
    return int(max(1, min(get_num_threads(), work // MIN_WORK_PER_THREAD)))


def get_num_threads():
    """Return the number of threads the compiled kernels will use.

    Returns
    -------
    int
        The innermost :func:`use_num_threads`, else the value given to
        :func:`set_num_threads`, else the
        ``FASTML_NUM_THREADS`` environment variable, else the number of
        cores available to this process, or ``OMP_NUM_THREADS`` if lower
        (as joblib and Dask set it in their worker processes, so that
        parallel jobs do not oversubscribe the cores).
    """
    local = _context_threads.get()
    if local is not None:
        return local
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("FASTML_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(
                f"FASTML_NUM_THREADS must be a positive integer; got {env!r}"
            ) from None
        if n < 1:
            raise ValueError(f"FASTML_NUM_THREADS must be a positive integer; got {env!r}")
        return n
    return _default_num_threads()
