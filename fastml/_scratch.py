"""Zeroed float64 scratch arrays that a thread reuses from call to call.

The k-means kernels add each fixed group of rows into its own partial sums
(``n_groups x k x d`` float64, 2 MiB at 128 groups, k=64, d=32) so that the
result does not depend on the thread count. Allocated afresh per call, such
an array comes from ``mmap`` whenever the C library does not keep freed
memory around, as in Dask's workers (their nanny sets
``MALLOC_TRIM_THRESHOLD_``), and every page then faults on first write:
a 500000 x 32 float32 pass took 37 ms there against 33.3 ms otherwise.
Reused, the array is only cleared.

An array from :func:`zeros` is valid until the same thread asks again for
the same ``key``: for temporaries inside one kernel call, never returned.
"""

import math
import threading

import numpy as np

#: Larger arrays are not kept (each thread keeps at most this much per key).
MAX_BYTES = 8 << 20

_local = threading.local()


def zeros(shape, key):
    """A zeroed float64 array of ``shape``, from this thread's cache for ``key``.

    Parameters
    ----------
    shape : tuple of int
    key : str
        Which of the caller's temporaries this is (two live at once need two keys).

    Returns
    -------
    ndarray of shape ``shape``, float64, C-contiguous
    """
    size = math.prod(shape)
    if 8 * size > MAX_BYTES:
        return np.zeros(shape)
    cache = getattr(_local, "arrays", None)
    if cache is None:
        cache = _local.arrays = {}
    buf = cache.get(key)
    if buf is None or buf.size < size:
        buf = cache[key] = np.empty(max(size, 1))
    out = buf[:size].reshape(shape)
    out.fill(0.0)
    return out
