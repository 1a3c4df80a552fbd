"""fastml: fast hot loops for classic machine learning.

Every kernel exists four times (pure Python, NumPy, Numba, Cython) behind one
thin API; ``backend="auto"`` (the default) picks the fastest available one.
``import fastml`` imports NumPy only: Numba is imported, and its kernels
compiled (and cached on disk), when a Numba kernel is first used.
"""

from __future__ import annotations

from ._config import get_backend, get_num_threads, set_backend, set_num_threads, use_backend
from ._registry import available_backends
from ._version import __version__
from .distance import cdist, pairwise_distances_chunked, pdist, squareform

__all__ = [
    "__version__",
    "available_backends",
    "cdist",
    "get_backend",
    "get_num_threads",
    "pairwise_distances_chunked",
    "pdist",
    "set_backend",
    "set_num_threads",
    "show_config",
    "squareform",
    "use_backend",
    "warmup",
]


def show_config(file=None):
    """Print versions, compiled-backend status, the backend in force and threads.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default: standard output).
    """
    from ._info import config_lines

    print("\n".join(config_lines()), file=file)


def warmup(kernels=("distance", "neighbors"), dtypes=("float64", "float32")):
    """Compile (or load from the on-disk cache) the common Numba signatures now.

    Call it once at start-up to move Numba's first-call cost out of the
    code path that is timed or latency-sensitive. A no-op without numba.

    Parameters
    ----------
    kernels : tuple of str
        Kernel modules to warm up.
    dtypes : tuple of str
        Floating dtypes to compile for.

    Returns
    -------
    float
        Seconds spent.
    """
    import time

    from ._registry import is_available, kernel_module

    t0 = time.perf_counter()
    if is_available("numba"):
        for kernel in kernels:
            mod = kernel_module("numba", kernel)
            if hasattr(mod, "warmup"):
                mod.warmup(dtypes)
    return time.perf_counter() - t0
