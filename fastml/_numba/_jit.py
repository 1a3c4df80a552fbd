"""The one shared Numba decorator and the thread-count hook.

``jit`` is ``numba.njit`` with ``cache=True`` (compiled code is written to
``__pycache__`` and reloaded by later processes), ``nogil=True`` (threads and
Dask can run kernels concurrently), and fastmath limited to flags that keep
the meaning of NaN and inf: ``reassoc`` (lets LLVM vectorise reductions),
``contract`` (fused multiply-add) and ``nsz``. Never ``nnan``/``ninf``.
``error_model="numpy"``: float division by zero gives inf/NaN, not an exception.

No eager signatures: they would compile at import time.
"""

from __future__ import annotations

import numba

from .._config import threads_for

FASTMATH = frozenset({"reassoc", "contract", "nsz"})


def jit(func=None, *, parallel=False, inline="never", cache=True, contract=True):
    """Decorate ``func`` with fastml's Numba settings (see module docstring).

    ``contract=False``: no fused multiply-adds in ``func`` (nor in what Numba
    inlines into it), where a sum must see its products rounded, as in the
    Python oracle (LLVM fused ``x += a * b`` even with ``a * b`` from a helper
    compiled without fastmath).
    """
    fastmath = set(FASTMATH) if contract else set(FASTMATH - {"contract"})
    options = dict(
        cache=cache, nogil=True, fastmath=fastmath, parallel=parallel, error_model="numpy"
    )
    if inline != "never":
        options["inline"] = inline
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)


def apply_threads(work):
    """Set the threads of Numba's parallel regions in this thread for ``work`` operations.

    See :func:`fastml._config.threads_for`; Numba cannot exceed the pool it
    started with (``NUMBA_NUM_THREADS``).
    """
    numba.set_num_threads(min(threads_for(work), numba.config.NUMBA_NUM_THREADS))
