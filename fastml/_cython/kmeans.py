"""Cython k-means kernels; the compiled code is ``src_cython/kmeans.pyx``.

This shim imports the CPU variant of that module that suits this machine
(see :mod:`fastml._cython`) and re-exports its kernels.
"""

from fastml._cython import load_variant

load_variant(__name__, globals())
