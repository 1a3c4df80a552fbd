"""A register-tiled dot-product micro-kernel for Numba, written as an LLVM intrinsic.

Numba has no vector types, and LLVM's vectorisers do not turn a register tile
written with scalars into vector code (the loop vectoriser splits the
reduction over features into lanes instead, with gathers; SLP does not
vectorise across the loop's phi nodes). :func:`tile4` therefore emits the
LLVM IR of the micro-kernel directly: 4 samples x 2 vectors of centres
(lanes = centres; 256-bit vectors: 8 float64 or 16 float32 centres), 8
accumulators kept in registers across the loop over features, one FMA
(``llvm.fma``) per accumulator and feature, the sample's feature broadcast.
It mirrors ``FASTML_KM_TILE`` in ``src_cython/kmeans.pyx``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["tile4", "tile_width"]


def tile_width(dtype):
    """Centres per tile (2 vectors of 256 bits) for ``dtype``."""
    return 8 if dtype == np.float64 else 16


@intrinsic
def tile4(typingctx, X, i, P, jp, D, col):
    """D[r, col + w] = X[i + r] . P[jp, :, w] for r < 4 and w < 2 L (L = 32 bytes / itemsize).

    X: (n, d) C-contiguous; P: (n_panels, d, 2 L) packed centres; D: (4, kp).
    No bounds checks: the caller guarantees i + 4 <= n and col + 2 L <= kp.
    """
    if not (
        isinstance(X, types.Array) and X.ndim == 2 and X.dtype in (types.float64, types.float32)
    ):
        return None
    L = 4 if X.dtype == types.float64 else 8
    sig = types.void(X, i, P, jp, D, col)

    def codegen(context, builder, sig, args):
        Xt, it, Pt, jpt, Dt, colt = sig.args
        Xa = context.make_array(Xt)(context, builder, args[0])
        Pa = context.make_array(Pt)(context, builder, args[2])
        Da = context.make_array(Dt)(context, builder, args[4])
        i64 = ir.IntType(64)
        i_ = context.cast(builder, args[1], it, types.int64)
        jp_ = context.cast(builder, args[3], jpt, types.int64)
        col_ = context.cast(builder, args[5], colt, types.int64)
        d = cgutils.unpack_tuple(builder, Xa.shape, 2)[1]
        kp = cgutils.unpack_tuple(builder, Da.shape, 2)[1]
        fty = context.get_value_type(Xt.dtype)
        vty = ir.VectorType(fty, L)
        align = 8 if L == 4 else 4
        xbase = builder.gep(Xa.data, [builder.mul(i_, d)])
        pbase = builder.gep(Pa.data, [builder.mul(jp_, builder.mul(d, ir.Constant(i64, 2 * L)))])
        dbase = builder.gep(Da.data, [col_])
        zero = ir.Constant(vty, None)
        accs = []
        for _ in range(8):
            a = cgutils.alloca_once(builder, vty)
            builder.store(zero, a)
            accs.append(a)
        rows = [builder.gep(xbase, [builder.mul(d, ir.Constant(i64, r))]) for r in range(4)]
        undef = ir.Constant(vty, ir.Undefined)
        mask = ir.Constant(ir.VectorType(ir.IntType(32), L), [0] * L)
        fma = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vty, [vty, vty, vty]),
            f"llvm.fma.v{L}f{64 if L == 4 else 32}",
        )
        with cgutils.for_range(builder, d) as loop:
            q = loop.index
            off = builder.mul(q, ir.Constant(i64, 2 * L))
            p0 = builder.load(
                builder.bitcast(builder.gep(pbase, [off]), vty.as_pointer()), align=align
            )
            p1 = builder.load(
                builder.bitcast(
                    builder.gep(pbase, [builder.add(off, ir.Constant(i64, L))]), vty.as_pointer()
                ),
                align=align,
            )
            for r in range(4):
                x = builder.load(builder.gep(rows[r], [q]))
                xv = builder.shuffle_vector(
                    builder.insert_element(undef, x, ir.Constant(ir.IntType(32), 0)), undef, mask
                )
                for v, p in enumerate((p0, p1)):
                    a = accs[2 * r + v]
                    builder.store(builder.call(fma, [xv, p, builder.load(a)]), a)
        for r in range(4):
            drow = builder.gep(dbase, [builder.mul(kp, ir.Constant(i64, r))])
            for v in range(2):
                ptr = builder.bitcast(
                    builder.gep(drow, [ir.Constant(i64, v * L)]), vty.as_pointer()
                )
                builder.store(builder.load(accs[2 * r + v]), ptr, align=align)
        return context.get_dummy_value()

    return sig, codegen
