"""Cython gradient-descent kernels; the compiled code is ``src_cython/sgd.pyx``.

This shim imports the CPU variant of that module that suits this machine
(see :mod:`fastml._cython`) and re-exports ``sgd_epoch``,
``sgd_epoch_averaged``, ``minibatch_epoch`` and ``loss_grad``.
"""

from fastml._cython import load_variant

load_variant(__name__, globals())
