"""A register-tiled dot-product micro-kernel for Numba, written as an LLVM intrinsic.

Numba has no vector types, and LLVM's vectorisers do not turn a register tile
written with scalars into vector code (the loop vectoriser splits the
reduction over features into lanes instead, with gathers; SLP does not
vectorise across the loop's phi nodes). :func:`best4` therefore emits the
LLVM IR of the micro-kernel directly: 4 samples x 2 vectors of centres
(lanes = centres; 256-bit vectors: 8 float64 or 16 float32 centres), 8
accumulators kept in registers across the loop over features, one FMA
(``llvm.fma``) per accumulator and feature, the sample's feature broadcast,
then (the centres being packed as -2 c) the rank ``cn + acc`` updates a
running (minimum, index) per lane; shuffle butterflies reduce the lanes at the
end. It mirrors ``FASTML_KM_BEST`` in ``src_cython/kmeans.pyx``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["best4", "tile_width"]


def tile_width(dtype):
    """Centres per tile (2 vectors of 256 bits) for ``dtype``."""
    return 8 if dtype == np.float64 else 16


def _make_best(R):
    """The micro-kernel intrinsic for tiles of R samples.

    4 is used: 6 (12 accumulators, the running minima spilled) measured 5-10%
    slower on Zen 3, as in C (where 4 x 3 vectors and 2 x 4 were slower too).
    """

    @intrinsic
    def best(typingctx, X, i, P, cn, lab, val):
        """Nearest (padded) centre of the R samples X[i:i+R] by ``cn[j] - 2 x.c_j``.

        ``lab[r]`` = the lowest index j minimising the rank of sample i + r,
        ``val[r]`` = that minimum. P: (n_panels, d, 2 L) packed centres times
        -2; cn: their squared norms (padding: +inf). Per panel, the R x 2L tile
        of dot products with P (2R accumulators in registers) gives the ranks
        ``cn + acc``, which update a running (minimum, index) per lane (compare
        + select); strict < over increasing j keeps each lane's lowest index (a
        lane's minimum starts at +inf, never NaN); butterflies over the lanes
        then give the minimum and the lowest index among the lanes holding it.
        Mirrors ``FASTML_KM_BEST`` in ``src_cython/kmeans.pyx``.
        """
        if not (
            isinstance(X, types.Array) and X.ndim == 2 and X.dtype in (types.float64, types.float32)
        ):
            return None
        L = 4 if X.dtype == types.float64 else 8
        sig = types.void(X, i, P, cn, lab, val)

        def codegen(context, builder, sig, args):
            Xt, it, Pt, cnt, labt, valt = sig.args
            Xa = context.make_array(Xt)(context, builder, args[0])
            Pa = context.make_array(Pt)(context, builder, args[2])
            cna = context.make_array(cnt)(context, builder, args[3])
            laba = context.make_array(labt)(context, builder, args[4])
            vala = context.make_array(valt)(context, builder, args[5])
            i64 = ir.IntType(64)
            i32 = ir.IntType(32)
            ity = i64 if L == 4 else i32  # lane index type: the width of the element
            i_ = context.cast(builder, args[1], it, types.int64)
            d = cgutils.unpack_tuple(builder, Xa.shape, 2)[1]
            n_pan = cgutils.unpack_tuple(builder, Pa.shape, 3)[0]
            fty = context.get_value_type(Xt.dtype)
            vty = ir.VectorType(fty, L)
            ivty = ir.VectorType(ity, L)
            align = 8 if L == 4 else 4
            W = ir.Constant(i64, 2 * L)
            fma = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(vty, [vty, vty, vty]),
                f"llvm.fma.v{L}f{64 if L == 4 else 32}",
            )
            undef = ir.Constant(vty, ir.Undefined)
            iundef = ir.Constant(ivty, ir.Undefined)
            zero_mask = ir.Constant(ir.VectorType(i32, L), [0] * L)

            def splat(x, u):
                return builder.shuffle_vector(
                    builder.insert_element(u, x, ir.Constant(i32, 0)), u, zero_mask
                )

            def vload(ptr):
                return builder.load(builder.bitcast(ptr, vty.as_pointer()), align=align)

            xbase = builder.gep(Xa.data, [builder.mul(i_, d)])
            rows = [builder.gep(xbase, [builder.mul(d, ir.Constant(i64, r))]) for r in range(R)]
            lanes = ir.Constant(ivty, list(range(L)))
            best = []
            bidx = []
            for _ in range(R):
                b = cgutils.alloca_once(builder, vty)
                builder.store(ir.Constant(vty, [float("inf")] * L), b)
                best.append(b)
                bi = cgutils.alloca_once(builder, ivty)
                builder.store(ir.Constant(ivty, [0] * L), bi)
                bidx.append(bi)
            accs = [cgutils.alloca_once(builder, vty) for _ in range(2 * R)]
            with cgutils.for_range(builder, n_pan) as panel:
                jp = panel.index
                pbase = builder.gep(Pa.data, [builder.mul(jp, builder.mul(d, W))])
                for a in accs:
                    builder.store(ir.Constant(vty, None), a)
                with cgutils.for_range(builder, d) as loop:
                    q = loop.index
                    off = builder.mul(q, W)
                    p = [
                        vload(builder.gep(pbase, [off])),
                        vload(builder.gep(pbase, [builder.add(off, ir.Constant(i64, L))])),
                    ]
                    for r in range(R):
                        xv = splat(builder.load(builder.gep(rows[r], [q])), undef)
                        for v in range(2):
                            a = accs[2 * r + v]
                            builder.store(builder.call(fma, [xv, p[v], builder.load(a)]), a)
                j0 = builder.mul(jp, W)
                for v in range(2):
                    jv = builder.add(j0, ir.Constant(i64, v * L))
                    cnv = vload(builder.gep(cna.data, [jv]))
                    jvec = builder.add(
                        lanes, splat(builder.trunc(jv, ity) if ity is i32 else jv, iundef)
                    )
                    for r in range(R):
                        rank = builder.fadd(cnv, builder.load(accs[2 * r + v]))
                        b = builder.load(best[r])
                        m = builder.fcmp_ordered("<", rank, b)
                        builder.store(builder.select(m, rank, b), best[r])
                        builder.store(builder.select(m, jvec, builder.load(bidx[r])), bidx[r])
            # Lanes -> one (minimum, lowest index among the lanes holding it),
            # by butterflies of shuffles (a lane's minimum is never NaN).
            big = ir.Constant(ivty, [0x7FFFFFFF] * L)
            swaps = [[l ^ s for l in range(L)] for s in (4, 2, 1) if s < L]

            def hmin(v, less):
                for sw in swaps:
                    o = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, L), sw))
                    v = builder.select(less(o, v), o, v)
                return v

            for r in range(R):
                b = builder.load(best[r])
                m = hmin(b, lambda x, y: builder.fcmp_ordered("<", x, y))
                eq = builder.fcmp_ordered("==", b, m)
                j = builder.select(eq, builder.load(bidx[r]), big)
                j = hmin(j, lambda x, y: builder.icmp_signed("<", x, y))
                bj = builder.extract_element(j, ir.Constant(i32, 0))
                builder.store(
                    bj if ity is i32 else builder.trunc(bj, i32),
                    builder.gep(laba.data, [ir.Constant(i64, r)]),
                )
                builder.store(
                    builder.extract_element(m, ir.Constant(i32, 0)),
                    builder.gep(vala.data, [ir.Constant(i64, r)]),
                )
            return context.get_dummy_value()

        return sig, codegen

    return best


best4 = _make_best(4)
