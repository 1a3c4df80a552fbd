"""Bit casts between floats and same-width integers, and popcount, as Numba intrinsics.

For non-negative IEEE-754 values the bit patterns order like signed integers
(+inf above every finite value), and LLVM vectorises integer max-reductions,
which it keeps scalar for floats unless NaN is ruled out for the whole
function. The chebyshev kernels reduce ``|a - b|`` this way.
"""

from numba import types
from numba.extending import intrinsic

_INT_OF = {types.float64: types.int64, types.float32: types.int32}
_FLOAT_OF = {types.int64: types.float64, types.int32: types.float32}


@intrinsic
def as_bits(typingctx, x):
    """The bit pattern of float ``x`` as a signed integer of the same width."""
    if x not in _INT_OF:
        return None
    ret = _INT_OF[x]

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(ret))

    return ret(x), codegen


@intrinsic
def from_bits(typingctx, x):
    """The float whose bit pattern is the integer ``x`` (inverse of :func:`as_bits`)."""
    if x not in _FLOAT_OF:
        return None
    ret = _FLOAT_OF[x]

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(ret))

    return ret(x), codegen


@intrinsic
def popcount(typingctx, x):
    """The number of set bits of a uint64 ``x``, as an int64 (LLVM's ctpop)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [args[0].type])
        return builder.call(fn, args)

    return types.int64(x), codegen
