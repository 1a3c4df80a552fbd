"""Cython neighbour kernels; the compiled code is ``src_cython/neighbors.pyx``.

This shim imports the CPU variant of that module that suits this machine
(see :mod:`fastml._cython`) and re-exports its public names.
"""

from fastml._cython import load_variant

load_variant(__name__, globals())
