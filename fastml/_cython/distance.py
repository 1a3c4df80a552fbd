"""Cython distance kernels; the compiled code is ``src_cython/distance.pyx``.

This shim imports the CPU variant of that module that suits this machine
(see :mod:`fastml._cython`) and re-exports ``cdist`` and ``pdist``.
"""

from fastml._cython import load_variant

load_variant(__name__, globals())
