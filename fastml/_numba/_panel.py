"""Panel micro-kernels for the distance sums, written as LLVM intrinsics.

Mirrors ``FASTML_DIST_TILE`` in ``src_cython/distance.pyx``. The rows of XB
are packed into *panels* of ``2 L`` rows, feature-major (``P[p, k, l] =
XB[2 L p + l, k]``, :func:`fastml._metrics.pack_panels`; L = 4 float64 or 8
float32 lanes of a 256-bit vector).
A tile is 4 rows of XA against one panel: 8 vector accumulators (lanes =
rows of XB) kept in registers over the features; per feature 2 vector loads
of the panel, 4 broadcasts of XA's values and 8 updates. Unlike the 4 x 4
scalar tile vectorised over the features, no horizontal sums are needed and
16 registers suffice (the 4 x 4 tile spills on AVX2): 1.5x (float64) and
2.4x (float32) faster in C. Numba has no vector types and LLVM does not turn
a scalar register tile into this code (see ``_simd.py``), hence the IR.

Each lane sums its pair's terms in feature order (no reassociation), so a
result does not depend on the lane or the thread.

Operations (``op``):

* sums: "sq" ``(a - b)^2``, "abs" ``|a - b|``, "dot" ``a b``, "pow3"
  ``|a - b|^3``, "pow4" ``(a - b)^4``, "ne" ``1 if a != b else 0`` (counted in
  integer lanes; NaN differs from everything, as ``!=`` in SciPy's hamming);
* a maximum: "max" ``|a - b|`` (a NaN difference compares false and is
  skipped, as in SciPy);
* a ratio: "braycurtis" ``sum |a - b| / sum |a + b|``, taken by the tile
  itself (so over one feature block only: ratios do not add up).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "OPS",
    "tile_abs",
    "tile_braycurtis",
    "tile_dot",
    "tile_max",
    "tile_ne",
    "tile_pow3",
    "tile_pow4",
    "tile_sq",
    "tile_sq_root",
]

OPS = ("sq", "abs", "dot", "pow3", "pow4", "ne", "max", "braycurtis")


def _make_tile(op, root=False):
    """The intrinsic of ``op``; with ``root``, the square roots of the sums are stored
    (euclidean: the roots run on the registers, overlapping the next tile's sums)."""

    @intrinsic
    def tile(typingctx, X, i, P, jp, k0, k1, acc, r0, c0):
        """acc[r0 + r, c0 + l] = reduction over k0 <= k < k1 of op(X[i + r, k], P[jp, k, l]).

        X: (m, d) C-contiguous with rows i .. i + 3; P: packed panels; acc: 2-D,
        X's dtype, with rows r0 .. r0 + 3 and columns c0 .. c0 + 2L - 1 (a (4, 2L)
        scratch tile, or the output itself: no copy through scratch).
        """
        ok = (
            isinstance(X, types.Array)
            and X.ndim == 2
            and X.dtype in (types.float64, types.float32)
            and isinstance(acc, types.Array)
            and acc.ndim == 2
            and acc.dtype == X.dtype
        )
        if not ok:
            return None
        L = 4 if X.dtype == types.float64 else 8
        sig = types.void(X, i, P, jp, k0, k1, acc, r0, c0)

        def codegen(context, builder, sig, args):
            Xt, it, Pt, jpt, k0t, k1t, acct, r0t, c0t = sig.args
            Xa = context.make_array(Xt)(context, builder, args[0])
            Pa = context.make_array(Pt)(context, builder, args[2])
            Aa = context.make_array(acct)(context, builder, args[6])
            i64 = ir.IntType(64)
            i32 = ir.IntType(32)
            i_ = context.cast(builder, args[1], it, types.int64)
            jp_ = context.cast(builder, args[3], jpt, types.int64)
            k0_ = context.cast(builder, args[4], k0t, types.int64)
            k1_ = context.cast(builder, args[5], k1t, types.int64)
            r0_ = context.cast(builder, args[7], r0t, types.int64)
            c0_ = context.cast(builder, args[8], c0t, types.int64)
            d = cgutils.unpack_tuple(builder, Xa.shape, 2)[1]
            fty = context.get_value_type(Xt.dtype)
            vty = ir.VectorType(fty, L)
            align = 8 if L == 4 else 4
            W = ir.Constant(i64, 2 * L)
            bits = 64 if L == 4 else 32
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty, vty, vty]), f"llvm.fma.v{L}f{bits}"
            )
            fabs = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty]), f"llvm.fabs.v{L}f{bits}"
            )
            vsqrt = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty]), f"llvm.sqrt.v{L}f{bits}"
            )
            undef = ir.Constant(vty, ir.Undefined)
            zero_mask = ir.Constant(ir.VectorType(i32, L), [0] * L)

            def splat(x):
                return builder.shuffle_vector(
                    builder.insert_element(undef, x, ir.Constant(i32, 0)), undef, zero_mask
                )

            def vptr(ptr):
                return builder.bitcast(ptr, vty.as_pointer())

            # "ne" counts in integer lanes of the same width: a compare and the
            # subtraction of its all-ones mask (-1), where a float select and add
            # took three ops; the counts become floats when stored.
            ity = ir.VectorType(ir.IntType(bits), L)
            aty = ity if op == "ne" else vty

            def update(a, x, p):
                if op == "dot":
                    return builder.call(fma, [x, p, a])
                if op == "ne":  # unordered or unequal: a NaN on either side counts
                    mask = builder.sext(builder.fcmp_unordered("!=", x, p), ity)
                    return builder.sub(a, mask)
                t = builder.fsub(x, p)
                if op == "sq":
                    return builder.call(fma, [t, t, a])
                if op == "abs":
                    return builder.fadd(a, builder.call(fabs, [t]))
                if op == "pow3":
                    t = builder.call(fabs, [t])
                    return builder.call(fma, [builder.fmul(t, t), t, a])
                if op == "pow4":
                    t = builder.fmul(t, t)
                    return builder.call(fma, [t, t, a])
                if op == "max":  # ordered >: a NaN difference leaves a
                    t = builder.call(fabs, [t])
                    return builder.select(builder.fcmp_ordered(">", t, a), t, a)
                raise AssertionError(op)

            xbase = builder.gep(Xa.data, [builder.mul(i_, d)])
            rows = [builder.gep(xbase, [builder.mul(d, ir.Constant(i64, r))]) for r in range(4)]
            pbase = builder.gep(Pa.data, [builder.mul(jp_, builder.mul(d, W))])
            ld = cgutils.unpack_tuple(builder, Aa.strides, 2)[0]  # bytes per row of acc
            i8p = ir.IntType(8).as_pointer()

            def out_row(r):
                row = builder.gep(
                    builder.bitcast(Aa.data, i8p),
                    [builder.mul(builder.add(r0_, ir.Constant(i64, r)), ld)],
                )
                return builder.gep(builder.bitcast(row, fty.as_pointer()), [c0_])

            if op == "braycurtis":
                # Two sums per pair (|a - b| and |a + b|): 16 accumulators for
                # the whole panel would spill, so each half (L lanes) in turn,
                # with 8; the ratio is taken in the registers.
                n_k = builder.sub(k1_, k0_)
                for half in range(2):
                    acc_s = [cgutils.alloca_once(builder, vty) for _ in range(4)]
                    acc_t = [cgutils.alloca_once(builder, vty) for _ in range(4)]
                    for a in acc_s + acc_t:
                        builder.store(ir.Constant(vty, None), a)
                    with cgutils.for_range(builder, n_k) as loop:
                        q = builder.add(loop.index, k0_)
                        off = builder.add(builder.mul(q, W), ir.Constant(i64, half * L))
                        pv = builder.load(vptr(builder.gep(pbase, [off])), align=align)
                        for r in range(4):
                            xv = splat(builder.load(builder.gep(rows[r], [q])))
                            dif = builder.call(fabs, [builder.fsub(xv, pv)])
                            tot = builder.call(fabs, [builder.fadd(xv, pv)])
                            builder.store(builder.fadd(builder.load(acc_s[r]), dif), acc_s[r])
                            builder.store(builder.fadd(builder.load(acc_t[r]), tot), acc_t[r])
                    for r in range(4):
                        dst = builder.gep(out_row(r), [ir.Constant(i64, half * L)])
                        val = builder.fdiv(builder.load(acc_s[r]), builder.load(acc_t[r]))
                        builder.store(val, vptr(dst), align=align)
                return context.get_dummy_value()
            accs = [cgutils.alloca_once(builder, aty) for _ in range(8)]  # mem2reg: registers
            for a in accs:
                builder.store(ir.Constant(aty, None), a)
            n_k = builder.sub(k1_, k0_)
            with cgutils.for_range(builder, n_k) as loop:
                q = builder.add(loop.index, k0_)
                off = builder.mul(q, W)
                p = [
                    builder.load(vptr(builder.gep(pbase, [off])), align=align),
                    builder.load(
                        vptr(builder.gep(pbase, [builder.add(off, ir.Constant(i64, L))])),
                        align=align,
                    ),
                ]
                for r in range(4):
                    xv = splat(builder.load(builder.gep(rows[r], [q])))
                    for v in range(2):
                        a = accs[2 * r + v]
                        builder.store(update(builder.load(a), xv, p[v]), a)
            for r in range(4):
                row = out_row(r)
                for v in range(2):
                    dst = builder.gep(row, [ir.Constant(i64, v * L)])
                    val = builder.load(accs[2 * r + v])
                    if op == "ne":
                        val = builder.sitofp(val, vty)
                    if root:
                        val = builder.call(vsqrt, [val])
                    builder.store(val, vptr(dst), align=align)
            return context.get_dummy_value()

        return sig, codegen

    return tile


#: The intrinsics ``tile_<op>(X, i, P, jp, k0, k1, acc, r0, c0)``.
tile_sq = _make_tile("sq")
tile_sq_root = _make_tile("sq", root=True)
tile_abs = _make_tile("abs")
tile_dot = _make_tile("dot")
tile_pow3 = _make_tile("pow3")
tile_pow4 = _make_tile("pow4")
tile_max = _make_tile("max")
tile_ne = _make_tile("ne")
tile_braycurtis = _make_tile("braycurtis")
