"""Compiled input checks of :mod:`fastml._validation`; the code is ``src_cython/checks.pyx``.

This shim imports the CPU variant of that module that suits this machine
(see :mod:`fastml._cython`) and re-exports ``all_finite``.
"""

from fastml._cython import load_variant

load_variant(__name__, globals())
