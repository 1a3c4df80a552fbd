"""Numba gradient-descent kernels. Mirrors ``src_cython/sgd.pyx`` (keep them in step).

Same names and signatures as ``fastml._python.sgd`` (the oracle),
``fastml._numpy.sgd`` and ``fastml._cython.sgd``; the codes and the loss
definitions are in :mod:`fastml._losses`. Parameters live in one array
``theta`` of shape (n_out, n_features + 1): row ``k`` holds output ``k``'s
coefficients followed by its intercept.

* :func:`sgd_epoch`: one epoch of plain stochastic gradient descent
  (batch size 1, scikit-learn's ``_plain_sgd``): L2 through a scale factor
  (``w = wscale * v``, so the shrink costs O(1) per sample), L1 through the
  cumulative penalty of Tsuruoka et al. (2009), several outputs one-vs-rest.
  Serial by nature (each step depends on the previous one); as in the .pyx,
  the step is deferred and fused with the next dot products, samples (row,
  y, sample_weight unless all 1) are prefetched, and the log loss is
  branch-free with its own log1p (:func:`_log1p_unit`).
* :func:`sgd_epoch_averaged` (``average=``) and :func:`sgd_epoch_sparse` (CSR
  rows: each step touches a row's stored columns only), the oracle's loop.
* :func:`minibatch_epoch`: one epoch of mini-batch steps (the full batch is one
  batch) with any optimizer. The gradient of a batch reads each row once, in
  groups of ``GROUP`` rows (their margins in one pass over the coefficients,
  their losses, then their contributions to the gradient in one pass over it
  while the rows are in cache; see :func:`_block_grad`), over fixed blocks of
  ``BLOCK`` rows; blocks run in parallel (``prange``) when a batch has more
  than one, and their partial gradients are added in block order, so results
  do not depend on threads.
* :func:`loss_grad`: the kernels' scalar losses over arrays (for tests).
"""

from __future__ import annotations

import math
import types as pytypes

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._losses import BLOCK
from .._python import sgd as _py
from ._jit import apply_threads, jit

__all__ = [
    "loss_grad",
    "minibatch_epoch",
    "sgd_epoch",
    "sgd_epoch_averaged",
    "sgd_epoch_sparse",
    "warmup",
]

MAX_DLOSS = 1e12
AHEAD = 8  # rows prefetched ahead: sgd_epoch, _block_grad (as src_cython/sgd.pyx)
GROUP = 4  # rows per pass of _block_grad (as src_cython/sgd.pyx)


def _prefetch_intrinsic(scale_by_item):
    """An intrinsic ``f(arr, i)`` that hints the CPU to load the cache line at
    ``arr``'s flat element ``i`` (``scale_by_item``) or byte ``i`` (llvm.prefetch)."""

    @intrinsic
    def prefetch(typingctx, arr, i):
        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            if scale_by_item:
                ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
            else:
                ptr = builder.gep(builder.bitcast(ary.data, i8p), [args[1]])
            builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.none(arr, types.intp), codegen

    return prefetch


_prefetch = _prefetch_intrinsic(True)
_prefetch_byte = _prefetch_intrinsic(False)


@jit(inline="always")
def _prefetch_row(X, i):
    """Prefetch every cache line of row ``i``: rows are visited in a shuffled
    order, which the hardware prefetcher cannot predict."""
    _prefetch_part(X, i, 0, X.shape[1] * X.itemsize)


@jit(inline="always")
def _prefetch_part(X, i, lo, hi):
    """The part of ``_prefetch_row`` from byte ``lo`` (a multiple of 64) to byte ``hi``.

    In bytes, as src_cython/sgd.pyx: an element step (``64 // itemsize``) is
    not a constant to Numba, and the step and the loop's trip count then cost
    two integer divisions per call (sgd_epoch on rows in cache took 116 ns per
    sample that way, 78 ns this way).
    """
    base = i * X.shape[1] * X.itemsize
    for off in range(lo, hi, 64):
        _prefetch_byte(X, base + off)


def _compiled(func, cache=True, **globals_):
    """Compile a pure-Python kernel helper, its globals rebound to compiled ones."""
    ns = {"__name__": __name__, "math": math, "max": max, **globals_}
    f = pytypes.FunctionType(func.__code__, ns, func.__name__, func.__defaults__)
    return jit(f, cache=cache)


# fdlibm's log kernel (e_log.c, Sun Microsystems 1993), as in src_cython/sgd.pyx.
LG1, LG2, LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
LG4, LG5, LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
SQRT2_M1 = 0.41421356237309503


@jit(inline="always")
def _log1p_unit(u):
    """log1p(u) for 0 <= u <= 1 without branches (see src_cython/sgd.pyx)."""
    big = u > SQRT2_M1
    k = 1.0 if big else 0.0
    f = 0.5 * (u - 1.0) if big else u
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7))) + w * (LG2 + w * (LG4 + w * LG6))
    hfsq = 0.5 * f * f
    return k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)


# The scalar loss definitions are the pure-Python backend's, compiled, except
# log_loss: the oracle's two stable branches as selects and _log1p_unit (as
# src_cython/sgd.pyx).
_py_loss1 = _compiled(_py.loss1)


@jit(inline="always")
def _loss1(code, p, y, e):
    if code == 4:
        z = p * y
        ez = math.exp(-abs(z))
        return (0.0 if z > 0 else -z) + _log1p_unit(ez), -y * (ez if z > 0 else 1.0) / (1.0 + ez)
    return _py_loss1(code, p, y, e)


# Not cached by itself: Numba stamps a cache with one source file, and this one
# is built from two (the oracle's row_loss and the _loss1 above); the cached
# kernels that call it carry its machine code.
_row_loss = _compiled(_py.row_loss, cache=False, loss1=_loss1)
_output_loss = _compiled(_py._output_loss, cache=False, loss1=_loss1)
_eta = _compiled(_py.eta_at)
_pa_rate = _compiled(_py.pa_rate)


# The epochs' vector helpers compute in the data's dtype (float32 data in
# float32, no conversions to float64 and back: 1.7x faster epochs), as their
# mirrors in src_cython/sgd.pyx; _axpy into the mini-batch's float64 sums stays
# in float64.


@jit(inline="always")
def _dot(a, b):
    s = b.dtype.type(0)
    for j in range(b.shape[0]):
        s += a[j] * b[j]
    return s


@jit(inline="always")
def _axpy(c, x, w):
    cf = w.dtype.type(c)  # float64 into a float64 w (the mini-batch's gradient sums)
    for j in range(x.shape[0]):
        w[j] += cf * x[j]


@jit(inline="always")
def _step_dot(w, c, xp, xn):
    """``w += c * xp``, then return ``w . xn``: the previous sample's (deferred)
    coefficient step fused with the next sample's dot product."""
    s = xn.dtype.type(0)
    cf = xp.dtype.type(c)
    for j in range(xp.shape[0]):
        w[j] += cf * xp[j]
        s += w[j] * xn[j]
    return s


@jit(inline="always")
def _step_dots(w, c, xp, xi, xn):
    """``_step_dot`` and ``xi . xn`` (one pass over xn)."""
    s = xn.dtype.type(0)
    t = xn.dtype.type(0)
    cf = xp.dtype.type(c)
    for j in range(xp.shape[0]):
        w[j] += cf * xp[j]
        s += w[j] * xn[j]
        t += xi[j] * xn[j]
    return s, t


@jit
def _sgd_epoch(X, y, sw, order, theta, q, loss, e, alpha, l1_ratio, schedule, eta0, power_t, t0,
               fit_intercept, t, u):  # fmt: skip
    # Hot loops index 1-D row views (w = theta[k], x = X[i]): LLVM vectorises
    # those, not the equivalent 2-D indexing. The views are made afresh in each
    # iteration (not carried over), which lets Numba drop their reference counting
    # (atomic, i.e. a memory barrier in every iteration). The deferred, fused step:
    # see sgd_epoch's docstring in src_cython/sgd.pyx.
    n_out = theta.shape[0]
    d = X.shape[1]
    m = order.shape[0]
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    wscale = 1.0
    loss_sum = 0.0
    if m == 0:
        return loss_sum, t, u
    p = np.empty(n_out)
    g = np.empty(n_out)  # d loss / d p
    c = np.zeros(n_out)  # pending step of the coefficients along the previous row
    a = np.zeros(n_out)  # v . (next row), before that step
    rate = np.zeros(n_out)  # passive-aggressive step sizes (schedules pa1, pa2)
    unit_weights = True  # then sample_weight is not read (see src_cython/sgd.pyx)
    for j in range(sw.shape[0]):
        if sw[j] != 1.0:
            unit_weights = False
            break
    b = 0.0
    row_bytes = d * X.itemsize
    half = row_bytes // 128 * 64  # bytes in the first half of a row
    prev = order[0]
    for k in range(n_out):
        p[k] = _dot(theta[k], X[prev]) + theta[k, d]
    for ii in range(m):
        i = order[ii]
        nxt = order[ii + 1] if ii + 1 < m else i
        ahead = order[ii + AHEAD] if ii + AHEAD < m else -1
        eta = _eta(schedule, eta0, power_t, t0, t)
        wi = 1.0 if unit_weights else sw[i]
        if n_out == 1:
            li, g[0] = _loss1(loss, p[0], y[i], e)
        else:
            li = _row_loss(loss, p, y[i], e, g)
        loss_sum += wi * li
        skip = False  # PA-I passes over a zero row: no step, no decay, t unchanged
        if schedule >= 3:
            sq = _dot(X[i], X[i])
            skip = schedule == 3 and sq == 0.0
            for k in range(n_out):
                lk = _output_loss(loss, p, y[i], e, k)
                rate[k] = 0.0 if skip else _pa_rate(schedule, eta0, lk, sq)
        if ahead >= 0:  # half the row here, half at the end: see src_cython/sgd.pyx
            _prefetch_part(X, ahead, 0, half)
            _prefetch(y, ahead)
            if not unit_weights:
                _prefetch(sw, ahead)
        if l1 == 0.0:
            a[0], b = _step_dots(theta[0], c[0], X[prev], X[i], X[nxt])
            for k in range(1, n_out):
                a[k] = _step_dot(theta[k], c[k], X[prev], X[nxt])
        if l2 > 0.0 and not skip:
            wscale *= max(0.0, 1.0 - l2 * eta)
            if wscale < 1e-9:
                _scale_coef(theta, wscale)
                for k in range(n_out):
                    a[k] *= wscale
                wscale = 1.0
        for k in range(n_out):
            if schedule >= 3:
                upd = -rate[k] * g[k] * wi
            else:
                upd = -eta * min(max(g[k], -MAX_DLOSS), MAX_DLOSS) * wi
            c[k] = upd / wscale
            if fit_intercept:
                theta[k, d] += upd
            p[k] = a[k] * wscale + upd * b + theta[k, d]
        if l1 > 0.0:
            for k in range(n_out):
                if c[k] != 0.0:
                    _axpy(c[k], X[i], theta[k])
                    c[k] = 0.0
            if not skip:
                u += l1 * eta
            for k in range(n_out):
                w = theta[k]
                if not skip:
                    _l1_truncate(w, q[k], u, wscale, d)
                p[k] = _dot(w, X[nxt]) * wscale + w[d]
        if ahead >= 0:
            _prefetch_part(X, ahead, half, row_bytes)
        prev = i
        if not skip:
            t += 1.0
    for k in range(n_out):
        if c[k] != 0.0:
            _axpy(c[k], X[prev], theta[k])
    if wscale != 1.0:
        _scale_coef(theta, wscale)
    return loss_sum, t, u


@jit(inline="always")
def _l1_truncate(w, qk, u, wscale, d):
    """Truncated-gradient L1 step (Tsuruoka et al., as scikit-learn) on w[:d]."""
    for j in range(d):
        _l1_truncate_one(w, qk, j, u, wscale)


@jit(inline="always")
def _l1_truncate_one(w, qk, j, u, wscale):
    """``_l1_truncate`` of coefficient j alone (sparse rows: their stored columns)."""
    z = w[j] * wscale
    if z > 0.0:
        w[j] = max(0.0, w[j] - (u + qk[j]) / wscale)
    elif z < 0.0:
        w[j] = min(0.0, w[j] + (u - qk[j]) / wscale)
    qk[j] += wscale * w[j] - z


@jit(inline="always")
def _shrink_averaged(theta, avg, l2, eta, wscale, a, b):
    """The L2 step as the scale factor (``w = wscale * v``) of the averaged and
    sparse epochs: returns (wscale, a, b). Below 1e-9, scikit-learn's reset with
    averaging: the mean's lazy form first (``avg = (avg + a w) / b``), then
    ``w *= wscale``, and a = 0, b = 1, wscale = 1."""
    wscale *= max(0.0, 1.0 - l2 * eta)
    if wscale >= 1e-9:
        return wscale, a, b
    d = theta.shape[1] - 1
    for k in range(theta.shape[0]):
        for j in range(d):
            avg[k, j] = (avg[k, j] + a * theta[k, j]) / b
    _scale_coef(theta, wscale)
    return 1.0, 0.0, 1.0


@jit(inline="always")
def _advance_mean(theta, avg, seen, wscale, a, b):
    """The averaged step's rest, after the rows' part of the mean: the mean
    intercepts, and the lazy form's new ``(a, b)`` (scikit-learn's WeightVector)."""
    d = theta.shape[1] - 1
    for k in range(theta.shape[0]):
        avg[k, d] += (theta[k, d] - avg[k, d]) / seen
    if seen > 1.0:
        b /= 1.0 - 1.0 / seen
    return a + (1.0 / seen) * b * wscale, b


@jit(inline="always")
def _step_sizes(schedule, rate, g, eta, wi, upd):
    """Each output's step ``upd[k]`` (before the scale factor): the
    passive-aggressive rate, or ``-eta`` times the clipped loss derivative."""
    for k in range(upd.shape[0]):
        if schedule >= 3:
            upd[k] = -rate[k] * g[k] * wi
        else:
            upd[k] = -eta * min(max(g[k], -MAX_DLOSS), MAX_DLOSS) * wi


@jit
def _sgd_epoch_averaged(X, y, sw, order, theta, q, avg, ab, loss, e, alpha, l1_ratio, schedule,
                        eta0, power_t, t0, fit_intercept, t, u, average):  # fmt: skip
    # The oracle's loop (fastml._python.sgd.sgd_epoch_averaged), step for step;
    # the mean's update is one more pass over the row. Rows are prefetched.
    n_out = theta.shape[0]
    d = X.shape[1]
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    wscale = 1.0
    a = ab[0]
    b = ab[1]
    loss_sum = 0.0
    p = np.empty(n_out)
    g = np.empty(n_out)
    upd = np.empty(n_out)
    rate = np.empty(n_out)
    m = order.shape[0]
    for ii in range(m):
        i = order[ii]
        x = X[i]
        if ii + AHEAD < m:  # as _sgd_epoch: the shuffled order defeats the hardware's
            _prefetch_row(X, order[ii + AHEAD])
            _prefetch(y, order[ii + AHEAD])
            _prefetch(sw, order[ii + AHEAD])
        eta = _eta(schedule, eta0, power_t, t0, t)
        for k in range(n_out):
            p[k] = _dot(theta[k], x) * wscale + theta[k, d]
        if n_out == 1:
            li, g[0] = _loss1(loss, p[0], y[i], e)
        else:
            li = _row_loss(loss, p, y[i], e, g)
        loss_sum += sw[i] * li
        if schedule >= 3:  # passive-aggressive (fastml._python.sgd.pa_rate)
            sq = _dot(x, x)
            if schedule == 3 and sq == 0.0:
                continue
            for k in range(n_out):
                rate[k] = _pa_rate(schedule, eta0, _output_loss(loss, p, y[i], e, k), sq)
        if l2 > 0.0:
            wscale, a, b = _shrink_averaged(theta, avg, l2, eta, wscale, a, b)
        _step_sizes(schedule, rate, g, eta, sw[i], upd)
        for k in range(n_out):
            if upd[k] != 0.0:
                _axpy(upd[k] / wscale, x, theta[k])
            if fit_intercept:
                theta[k, d] += upd[k]
        if 0 < average <= t:
            seen = t - average + 1.0
            for k in range(n_out):
                _axpy(a * (-upd[k] / wscale), x, avg[k])
            a, b = _advance_mean(theta, avg, seen, wscale, a, b)
        if l1 > 0.0:
            u += l1 * eta
            for k in range(n_out):
                _l1_truncate(theta[k], q[k], u, wscale, d)
        t += 1.0
    if wscale != 1.0:
        _scale_coef(theta, wscale)
    ab[0] = a / wscale
    ab[1] = b
    return loss_sum, t, u


def sgd_epoch_averaged(X, y, sample_weight, order, theta, q, avg, ab, loss, loss_param, alpha,
                       l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u, average):  # fmt: skip
    """One epoch of averaged SGD (scikit-learn's ``average=``) in place.

    Parameters as :func:`sgd_epoch`, and:

    avg : ndarray of shape (n_out, n_features + 1), X's dtype
        The mean's numerators (the mean is ``(avg[:, :d] + a w) / b``) and the
        mean intercepts, updated in place.
    ab : ndarray of shape (2,), float64
        ``[a, b]``, updated in place.
    average : int
        Step from which the weights are averaged (>= 1).

    Returns
    -------
    loss_sum, t, u
        As :func:`sgd_epoch`.
    """
    return _sgd_epoch_averaged(X, y, sample_weight, order, theta, q, avg, ab, loss,
                               float(loss_param), float(alpha), float(l1_ratio), schedule,
                               float(eta0), float(power_t), float(t0), bool(fit_intercept),
                               float(t), float(u), int(average))  # fmt: skip


@jit(inline="always")
def _sparse_dot(w, ind, val, lo, hi):
    """``w . x`` for the CSR row ``x`` stored in ``ind[lo:hi]``, ``val[lo:hi]``, in
    four partial sums (as src_cython/sgd.pyx: one sum is a chain of dependent
    multiply-adds, and plain SGD waits for this margin on every sample)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    r = lo
    while r + 4 <= hi:
        s0 += w[ind[r]] * val[r]
        s1 += w[ind[r + 1]] * val[r + 1]
        s2 += w[ind[r + 2]] * val[r + 2]
        s3 += w[ind[r + 3]] * val[r + 3]
        r += 4
    while r < hi:
        s0 += w[ind[r]] * val[r]
        r += 1
    return (s0 + s1) + (s2 + s3)


@jit(inline="always")
def _sparse_axpy(c, ind, val, lo, hi, w):
    """``w += c x`` on the CSR row's stored columns."""
    for r in range(lo, hi):
        w[ind[r]] += c * val[r]


@jit(inline="always")
def _prefetch_stored(data, ind, ptr, i):
    """Prefetch CSR row ``i``'s values and column indices (byte offsets, as
    :func:`_prefetch_part`)."""
    lo = ptr[i]
    hi = ptr[i + 1]
    for off in range(lo * data.itemsize // 64 * 64, hi * data.itemsize, 64):
        _prefetch_byte(data, off)
    for off in range(lo * ind.itemsize // 64 * 64, hi * ind.itemsize, 64):
        _prefetch_byte(ind, off)


# Without fused multiply-adds: the intercept's step ``upd * decay`` is rounded
# before it is added, as in the oracle and scikit-learn; fused, the intercept
# came out as 6e-22 instead of 0, an empty row's margin, and flipped a
# perceptron's tie test (margin <= 0). A sparse epoch is bound by its gathers.
@jit(contract=False)
def _sgd_epoch_sparse(data, ind, ptr, y, sw, order, theta, q, avg, ab, loss, e, alpha, l1_ratio,
                      schedule, eta0, power_t, t0, fit_intercept, t, u, average, decay):  # fmt: skip
    # _sgd_epoch_averaged's loop on CSR rows: dot products, steps, the mean's
    # update and the L1 truncation on the row's stored columns only.
    n_out = theta.shape[0]
    d = theta.shape[1] - 1
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    wscale = 1.0
    a = ab[0]
    b = ab[1]
    loss_sum = 0.0
    p = np.empty(n_out)
    g = np.empty(n_out)
    upd = np.empty(n_out)
    rate = np.empty(n_out)
    m = order.shape[0]
    for ii in range(m):
        i = order[ii]
        lo = ptr[i]
        hi = ptr[i + 1]
        if ii + AHEAD < m:  # the shuffled rows' values and columns, as _sgd_epoch's rows
            _prefetch_stored(data, ind, ptr, order[ii + AHEAD])
            _prefetch(y, order[ii + AHEAD])
            _prefetch(sw, order[ii + AHEAD])
        eta = _eta(schedule, eta0, power_t, t0, t)
        for k in range(n_out):
            p[k] = _sparse_dot(theta[k], ind, data, lo, hi) * wscale + theta[k, d]
        if n_out == 1:
            li, g[0] = _loss1(loss, p[0], y[i], e)
        else:
            li = _row_loss(loss, p, y[i], e, g)
        loss_sum += sw[i] * li
        if schedule >= 3:  # passive-aggressive (fastml._python.sgd.pa_rate)
            sq = 0.0
            for r in range(lo, hi):
                sq += data[r] * data[r]
            if schedule == 3 and sq == 0.0:
                continue
            for k in range(n_out):
                rate[k] = _pa_rate(schedule, eta0, _output_loss(loss, p, y[i], e, k), sq)
        if l2 > 0.0:
            wscale, a, b = _shrink_averaged(theta, avg, l2, eta, wscale, a, b)
        _step_sizes(schedule, rate, g, eta, sw[i], upd)
        for k in range(n_out):
            if upd[k] != 0.0:
                _sparse_axpy(upd[k] / wscale, ind, data, lo, hi, theta[k])
            if fit_intercept:
                theta[k, d] += upd[k] * decay
        if 0 < average <= t:
            seen = t - average + 1.0
            for k in range(n_out):
                _sparse_axpy(a * (-upd[k] / wscale), ind, data, lo, hi, avg[k])
            a, b = _advance_mean(theta, avg, seen, wscale, a, b)
        if l1 > 0.0:
            u += l1 * eta
            for k in range(n_out):
                w = theta[k]
                qk = q[k]
                for r in range(lo, hi):
                    _l1_truncate_one(w, qk, ind[r], u, wscale)
        t += 1.0
    if wscale != 1.0:
        _scale_coef(theta, wscale)
    ab[0] = a / wscale
    ab[1] = b
    return loss_sum, t, u


def sgd_epoch_sparse(data, indices, indptr, y, sample_weight, order, theta, q, avg, ab, loss,
                     loss_param, alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t,
                     u, average, intercept_decay):  # fmt: skip
    """:func:`sgd_epoch_averaged` on CSR rows (``average=0``: plain SGD), in place.

    Semantics: :func:`fastml._python.sgd.sgd_epoch_sparse`. ``data``: X's dtype;
    ``indices``, ``indptr``: int64, canonical CSR (sorted, no duplicates).
    ``intercept_decay``: factor of each intercept step (scikit-learn: 0.01 on
    sparse input).
    """
    return _sgd_epoch_sparse(data, indices, indptr, y, sample_weight, order, theta, q, avg, ab,
                             loss, float(loss_param), float(alpha), float(l1_ratio), schedule,
                             float(eta0), float(power_t), float(t0), bool(fit_intercept),
                             float(t), float(u), int(average),
                             float(intercept_decay))  # fmt: skip


@jit
def _scale_coef(theta, c):
    """Multiply the coefficients (not the intercepts) by ``c``."""
    d = theta.shape[1] - 1
    for k in range(theta.shape[0]):
        w = theta[k]
        for j in range(d):
            w[j] *= c


def sgd_epoch(X, y, sample_weight, order, theta, q, loss, loss_param, alpha, l1_ratio, schedule,
              eta0, power_t, t0, fit_intercept, t, u):  # fmt: skip
    """One epoch of plain SGD (batch size 1) in place on ``theta``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    y : ndarray of shape (n_samples,), X's dtype
        Target (one output; -1/+1 for classification) or class index
        (several outputs, one-vs-rest).
    sample_weight : ndarray of shape (n_samples,), X's dtype
    order : ndarray of int64
        Rows to visit, in order (a permutation of the training rows).
    theta : ndarray of shape (n_out, n_features + 1), X's dtype
        Coefficients and intercepts, updated in place.
    q : ndarray of shape (n_out, n_features + 1), X's dtype
        L1 cumulative-penalty state (penalty applied so far), updated in place.
    loss : int
        Loss code (fastml._losses; not SOFTMAX).
    loss_param : float
        epsilon of huber / epsilon-insensitive.
    alpha, l1_ratio : float
        Penalty ``alpha * (l1_ratio |w|_1 + (1 - l1_ratio) |w|^2 / 2)``.
    schedule : int
        0 constant, 1 optimal, 2 invscaling.
    eta0, power_t, t0 : float
        Schedule parameters (``t0``: offset of "optimal", whose ``eta0`` is
        its alpha; see :func:`fastml._python.sgd.eta_at`).
    fit_intercept : bool
    t : float
        Step counter at the start (1 before the first step).
    u : float
        L1 penalty accumulated so far (sum of ``eta * alpha * l1_ratio``).

    Returns
    -------
    loss_sum : float
        Sum of ``sample_weight * loss`` over the visited rows, each taken
        before its step.
    t, u : float
        The counters after the epoch.
    """
    return _sgd_epoch(X, y, sample_weight, order, theta, q, loss, float(loss_param), float(alpha),
                      float(l1_ratio), schedule, float(eta0), float(power_t), float(t0),
                      bool(fit_intercept), float(t), float(u))  # fmt: skip


@jit(inline="always")
def _dot4(theta, k, X, i0, i1, i2, i3):
    """``theta[k, :d] . X[i]`` for the rows i0..i3 in one pass over the coefficients
    (four independent sums)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(X.shape[1]):
        wj = theta[k, j]
        s0 += wj * X[i0, j]
        s1 += wj * X[i1, j]
        s2 += wj * X[i2, j]
        s3 += wj * X[i3, j]
    return s0, s1, s2, s3


@jit(inline="always")
def _axpy4(G, k, c0, c1, c2, c3, X, i0, i1, i2, i3):
    """``G[k, :d] += c0 X[i0] + ... + c3 X[i3]`` and ``G[k, d] += c0 + ... + c3``."""
    d = X.shape[1]
    for j in range(d):
        G[k, j] += c0 * X[i0, j] + c1 * X[i1, j] + c2 * X[i2, j] + c3 * X[i3, j]
    G[k, d] += (c0 + c1) + (c2 + c3)


@jit
def _block_grad(X, y, sw, order, lo, hi, theta, loss, e, G):
    """Sum over rows order[lo:hi] of ``sw * dloss * [x, 1]`` into G; returns sum sw*loss.

    Rows go in groups of ``GROUP`` (4): the group's margins in one pass over
    each output's coefficients (each coefficient loaded once for 4 rows, 4
    independent sums), their losses, then one pass over each gradient row
    adding the 4 rows' contributions (G loaded and stored once per group,
    the rows still in L1). The ``hi - lo`` mod 4 last rows go one at a time.
    With one output the losses are scalar calls of ``_loss1`` (the branch-free
    log loss): ``_row_loss`` takes arrays, and array views in a loop cost
    atomic reference counting. Each row's loss comes with the prefetch of the
    row ``AHEAD`` (two groups) on, also when ``order`` is contiguous: at
    200000 x 100 float64, 2 threads, the step took ~25% longer leaving it to
    the hardware prefetcher (which falls behind while the losses are computed)
    and ~20% longer prefetching a whole group at once at the top of a group
    (the prefetches queue for the few line-fill buffers while the margins'
    loads wait behind them; among the losses they use idle load slots).
    """
    n_out = theta.shape[0]
    d = X.shape[1]
    P = np.empty((GROUP, n_out))  # margins of a group's rows
    C = np.empty((n_out, GROUP))  # their sw * dloss
    p = np.empty(n_out)
    g = np.empty(n_out)
    G[:, :] = 0.0
    total = 0.0
    ii = lo
    while ii + GROUP <= hi:
        i0 = order[ii]
        i1 = order[ii + 1]
        i2 = order[ii + 2]
        i3 = order[ii + 3]
        for k in range(n_out):
            s0, s1, s2, s3 = _dot4(theta, k, X, i0, i1, i2, i3)
            b = theta[k, d]
            P[0, k] = s0 + b
            P[1, k] = s1 + b
            P[2, k] = s2 + b
            P[3, k] = s3 + b
        for r in range(GROUP):
            if ii + AHEAD + r < hi:
                _prefetch_row(X, order[ii + AHEAD + r])
            i = order[ii + r]
            wi = sw[i]
            if n_out == 1:  # scalars: no array views (reference counted) per row
                li, g[0] = _loss1(loss, P[r, 0], y[i], e)
            else:
                for k in range(n_out):
                    p[k] = P[r, k]
                li = _row_loss(loss, p, y[i], e, g)
            total += wi * li
            for k in range(n_out):
                C[k, r] = wi * min(max(g[k], -MAX_DLOSS), MAX_DLOSS)
        for k in range(n_out):
            c0, c1, c2, c3 = C[k, 0], C[k, 1], C[k, 2], C[k, 3]
            if c0 != 0.0 or c1 != 0.0 or c2 != 0.0 or c3 != 0.0:
                _axpy4(G, k, c0, c1, c2, c3, X, i0, i1, i2, i3)
        ii += GROUP
    for rest in range(ii, hi):
        i = order[rest]
        x = X[i]
        for k in range(n_out):
            w = theta[k]
            p[k] = _dot(w, x) + w[d]
        wi = sw[i]
        total += wi * _row_loss(loss, p, y[i], e, g)
        for k in range(n_out):
            c = wi * min(max(g[k], -MAX_DLOSS), MAX_DLOSS)
            if c != 0.0:
                gk = G[k]
                _axpy(c, x, gk)
                gk[d] += c
    return total


@jit
def _apply_step(theta, G, state, optimizer, lr, hyper, t, fit_intercept, l1):
    """Optimizer step of theta along G (Keras semantics), then the L1 proximal step."""
    n_out, d1 = theta.shape
    last = d1 if fit_intercept else d1 - 1
    momentum, beta1, beta2, eps, rho = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    if optimizer == 5:
        alpha_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    for k in range(n_out):
        for j in range(last):
            gk = G[k, j]
            if optimizer == 0:
                theta[k, j] -= lr * gk
            elif optimizer == 1 or optimizer == 2:
                v = momentum * state[0, k, j] - lr * gk
                state[0, k, j] = v
                if optimizer == 1:
                    theta[k, j] += v
                else:
                    theta[k, j] += momentum * v - lr * gk
            elif optimizer == 3:
                a = state[0, k, j] + gk * gk
                state[0, k, j] = a
                theta[k, j] -= lr * gk / (math.sqrt(a) + eps)
            elif optimizer == 4:
                a = rho * state[0, k, j] + (1.0 - rho) * gk * gk
                state[0, k, j] = a
                theta[k, j] -= lr * gk / (math.sqrt(a) + eps)
            else:
                m = state[0, k, j] + (gk - state[0, k, j]) * (1.0 - beta1)
                v = state[1, k, j] + (gk * gk - state[1, k, j]) * (1.0 - beta2)
                state[0, k, j] = m
                state[1, k, j] = v
                theta[k, j] -= alpha_t * m / (math.sqrt(v) + eps)
    if l1 > 0.0:
        shrink = lr * l1
        for k in range(n_out):
            for j in range(d1 - 1):
                w = theta[k, j]
                if w > shrink:
                    theta[k, j] = w - shrink
                elif w < -shrink:
                    theta[k, j] = w + shrink
                else:
                    theta[k, j] = 0.0


@jit(parallel=True)
def _minibatch_epoch(X, y, sw, order, theta, state, loss, e, alpha, l1_ratio, optimizer, schedule,
                     eta0, power_t, t0, hyper, batch_size, fit_intercept, t):  # fmt: skip
    n_out, d1 = theta.shape
    d = d1 - 1
    m = order.shape[0]
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    nb_max = (min(batch_size, m) + BLOCK - 1) // BLOCK
    partial = np.empty((nb_max, n_out, d1))
    part_loss = np.empty(nb_max)
    G = np.empty((n_out, d1))
    loss_sum = 0.0
    gmax = 0.0
    for start in range(0, m, batch_size):
        end = min(start + batch_size, m)
        nblk = (end - start + BLOCK - 1) // BLOCK
        if nblk == 1:
            part_loss[0] = _block_grad(X, y, sw, order, start, end, theta, loss, e, partial[0])
        else:
            for b in prange(nblk):
                lo = start + b * BLOCK
                hi = min(lo + BLOCK, end)
                part_loss[b] = _block_grad(X, y, sw, order, lo, hi, theta, loss, e, partial[b])
        inv = 1.0 / (end - start)
        gmax = 0.0
        for k in range(n_out):
            for j in range(d1):
                s = partial[0, k, j]
                for b in range(1, nblk):
                    s += partial[b, k, j]
                s *= inv
                if j < d:
                    s += l2 * theta[k, j]
                elif not fit_intercept:
                    s = 0.0
                G[k, j] = s
                gmax = max(gmax, abs(s))
        for b in range(nblk):
            loss_sum += part_loss[b]
        lr = _eta(schedule, eta0, power_t, t0, t)
        _apply_step(theta, G, state, optimizer, lr, hyper, t, fit_intercept, l1)
        t += 1.0
    return loss_sum, gmax, t


def minibatch_epoch(X, y, sample_weight, order, theta, state, loss, loss_param, alpha, l1_ratio,
                    optimizer, schedule, eta0, power_t, t0, hyper, batch_size, fit_intercept, t):  # fmt: skip
    """One epoch of mini-batch (or one full-batch) steps in place on ``theta``.

    Parameters
    ----------
    X, y, sample_weight, order, theta, loss, loss_param, alpha, l1_ratio, schedule, eta0,
    power_t, t0, fit_intercept, t
        As for :func:`sgd_epoch` (``loss`` may be SOFTMAX: ``y`` is then the class index).
    state : ndarray of shape (2, n_out, n_features + 1), X's dtype
        Optimizer state (velocity; accumulator; Adam's first and second moments).
    optimizer : int
        0 sgd, 1 momentum, 2 nesterov, 3 adagrad, 4 rmsprop, 5 adam.
    hyper : ndarray of shape (5,), float64
        momentum, beta_1, beta_2, epsilon, rho.
    batch_size : int
        Rows per step (``len(order)`` for the full batch).

    Returns
    -------
    loss_sum : float
        Sum of ``sample_weight * loss`` over the visited rows (each batch's
        loss taken before its step).
    grad_max : float
        Largest absolute entry of the last step's gradient (mean loss + L2).
    t : float
        Step counter after the epoch.
    """
    m = order.shape[0]
    bs = max(1, min(int(batch_size), m))
    apply_threads(bs * X.shape[1] * theta.shape[0])
    return _minibatch_epoch(X, y, sample_weight, order, theta, state, loss, float(loss_param),
                            float(alpha), float(l1_ratio), optimizer, schedule, float(eta0),
                            float(power_t), float(t0), hyper, bs, bool(fit_intercept), float(t))  # fmt: skip


@jit
def _loss_grad(code, P, y, e, L, Gr):
    g = np.empty(P.shape[1])
    for i in range(P.shape[0]):
        L[i] = _row_loss(code, P[i], y[i], e, g)
        for k in range(P.shape[1]):
            Gr[i, k] = g[k]


def loss_grad(code, P, y, loss_param):
    """Per-row loss (summed over outputs) and d loss / d P, with the kernels' code.

    Parameters
    ----------
    P : ndarray of shape (n, n_out), float64
    y : ndarray of shape (n,), float64 (kernel encoding)

    Returns
    -------
    loss : ndarray of shape (n,); grad : ndarray of shape (n, n_out)
    """
    P = np.ascontiguousarray(P, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    L = np.empty(P.shape[0])
    Gr = np.empty_like(P)
    _loss_grad(code, P, y, float(loss_param), L, Gr)
    return L, Gr


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from cache) both kernels for ``dtypes``."""
    for dt in dtypes:
        X = np.zeros((2, 2), dtype=dt)
        y = np.ones(2, dtype=dt)
        order = np.arange(2, dtype=np.int64)
        theta = np.zeros((1, 3), dtype=dt)
        sgd_epoch(X, y, y, order, theta, np.zeros_like(theta), 4, 0.1, 1e-4, 0.0, 0, 0.01, 0.5,
                  1.0, True, 1.0, 0.0)  # fmt: skip
        minibatch_epoch(X, y, y, order, theta, np.zeros((2, 1, 3), dtype=dt), 4, 0.1, 1e-4, 0.0,
                        0, 0, 0.01, 0.5, 1.0, np.array([0.9, 0.9, 0.999, 1e-7, 0.9]), 2, True, 1.0)  # fmt: skip
