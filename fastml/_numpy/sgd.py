"""NumPy gradient-descent kernels.

Same names and signatures as ``fastml._python.sgd`` (the oracle),
``fastml._numba.sgd`` and ``fastml._cython.sgd``; see
:mod:`fastml._numba.sgd` for the parameters. Losses are the vectorised
definitions of :mod:`fastml._losses`.

* ``minibatch_epoch`` is vectorised per batch (per block of ``BLOCK`` rows:
  ``P = Xb @ W.T + b``, then ``G += (sw * dloss).T @ Xb``): two passes over
  the rows, which is what NumPy can do.
* ``sgd_epoch`` (batch size 1) cannot be vectorised across samples: it runs
  the same algorithm as the compiled kernels with one small NumPy operation
  per sample and is slow (a Python-level loop per sample).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _losses
from .._losses import BLOCK, MAX_DLOSS, PA1, SOFTMAX
from .._python.sgd import eta_at, pa_rate

__all__ = ["loss_grad", "minibatch_epoch", "sgd_epoch", "sgd_epoch_averaged", "sgd_epoch_sparse"]


def loss_grad(code, P, y, loss_param):
    """Per-row loss (summed over outputs) and d loss / d P; see :mod:`fastml._losses`."""
    P = np.asarray(P, dtype=np.float64)
    return _losses.per_sample_loss(code, P, np.asarray(y, dtype=np.float64), loss_param)


def sgd_epoch(X, y, sample_weight, order, theta, q, loss, loss_param, alpha, l1_ratio, schedule,
              eta0, power_t, t0, fit_intercept, t, u):  # fmt: skip
    """One epoch of plain SGD (batch size 1); see :func:`fastml._numba.sgd.sgd_epoch`.

    :func:`sgd_epoch_averaged`'s loop without the averaging.
    """
    return sgd_epoch_averaged(X, y, sample_weight, order, theta, q, None, None, loss, loss_param,
                              alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u,
                              0)  # fmt: skip


def sgd_epoch_averaged(X, y, sample_weight, order, theta, q, avg, ab, loss, loss_param, alpha,
                       l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u, average):  # fmt: skip
    """One epoch of averaged SGD; see :func:`fastml._python.sgd.sgd_epoch_averaged`.

    Vectorised over the features and outputs (one Python step per sample).
    ``average=0`` (``avg`` and ``ab`` may then be None): plain SGD.
    """
    every = slice(None)
    return _epoch(lambda i: (every, X[i]), y, sample_weight, order, theta, q, avg, ab, loss,
                  loss_param, alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u,
                  average)  # fmt: skip


def sgd_epoch_sparse(data, indices, indptr, y, sample_weight, order, theta, q, avg, ab, loss,
                     loss_param, alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t,
                     u, average, intercept_decay):  # fmt: skip
    """:func:`sgd_epoch_averaged` on CSR rows; see :func:`fastml._python.sgd.sgd_epoch_sparse`."""

    def row(i):
        lo, hi = indptr[i], indptr[i + 1]
        return indices[lo:hi], data[lo:hi]

    return _epoch(row, y, sample_weight, order, theta, q, avg, ab, loss, loss_param, alpha,
                  l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u, average,
                  intercept_decay)  # fmt: skip


def _epoch(row, y, sample_weight, order, theta, q, avg, ab, loss, loss_param, alpha, l1_ratio,
           schedule, eta0, power_t, t0, fit_intercept, t, u, average, intercept_decay=1.0):  # fmt: skip
    """The loop of :func:`sgd_epoch_averaged`; ``row(i)`` = (columns, values) of row i,
    the columns a slice or distinct indices (each step touches only those)."""
    n_out, d1 = theta.shape
    d = d1 - 1
    W = theta[:, :d].astype(np.float64)
    b = theta[:, d].astype(np.float64)
    Q = q[:, :d].astype(np.float64)
    A = np.zeros((n_out, d)) if avg is None else avg[:, :d].astype(np.float64)
    Ab = np.zeros(n_out) if avg is None else avg[:, d].astype(np.float64)
    a, bb = (0.0, 1.0) if ab is None else (float(ab[0]), float(ab[1]))
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    t = float(t)
    u = float(u)
    wscale = 1.0
    Y = _losses.targets(y, n_out, loss)
    loss_sum = 0.0
    for i in order:
        cols, x = row(i)
        x = x.astype(np.float64)
        eta = eta_at(schedule, eta0, power_t, t0, t)
        p = (W[:, cols] @ x) * wscale + b
        lv, g = _losses.loss_grad(loss, p, Y[i], loss_param)
        wi = float(sample_weight[i])
        loss_sum += wi * float(lv.sum())
        if schedule >= PA1:  # passive-aggressive: each output's own step size
            sq = float(x @ x)
            if schedule == PA1 and sq == 0.0:
                continue
            rate = np.array([pa_rate(schedule, eta0, float(v), sq) for v in lv])
        if l2 > 0.0:
            wscale *= max(0.0, 1.0 - l2 * eta)
            if wscale < 1e-9:  # scikit-learn's reset: the mean's lazy form first
                A = (A + a * W) / bb
                a, bb = 0.0, 1.0
                W *= wscale
                wscale = 1.0
        if schedule >= PA1:
            upd = -rate * g * wi
        else:
            upd = -eta * np.clip(g, -MAX_DLOSS, MAX_DLOSS) * wi
        W[:, cols] += np.outer(upd / wscale, x)
        if fit_intercept:
            b += upd * intercept_decay
        if 0 < average <= t:
            seen = t - average + 1.0
            A[:, cols] += np.outer(a * (-upd / wscale), x)
            Ab += (b - Ab) / seen
            if seen > 1.0:
                bb /= 1.0 - 1.0 / seen
            a += (1.0 / seen) * bb * wscale
        if l1 > 0.0:
            u += l1 * eta
            Wc = W[:, cols]
            z = Wc * wscale
            Wc = np.where(
                z > 0,
                np.maximum(0.0, Wc - (u + Q[:, cols]) / wscale),
                np.where(z < 0, np.minimum(0.0, Wc + (u - Q[:, cols]) / wscale), Wc),
            )
            W[:, cols] = Wc
            Q[:, cols] += wscale * Wc - z
        t += 1.0
    theta[:, :d] = W * wscale
    theta[:, d] = b
    q[:, :d] = Q
    if avg is not None:
        avg[:, :d] = A
        avg[:, d] = Ab
        ab[0], ab[1] = a / wscale, bb
    return loss_sum, t, u


def _block_grad(X, Y, sw, rows, theta, loss, e):
    d = X.shape[1]
    Xb = X[rows]
    P = Xb @ theta[:, :d].T.astype(X.dtype) + theta[:, d]
    if loss == SOFTMAX or theta.shape[0] > 1:
        lv, g = _losses.per_sample_loss(loss, P, Y[rows], e)
    else:
        lv, g = _losses.loss_grad(loss, P[:, 0], Y[rows], e)
        g = g[:, None]
    c = np.clip(g, -MAX_DLOSS, MAX_DLOSS) * sw[rows, None]
    G = np.empty(theta.shape)
    G[:, :d] = c.T @ Xb
    G[:, d] = c.sum(axis=0)
    return float(sw[rows] @ lv), G


def _apply_step(theta, G, state, optimizer, lr, hyper, t, fit_intercept, l1):
    momentum, beta1, beta2, eps, rho = (float(h) for h in hyper)
    cols = slice(None) if fit_intercept else slice(0, theta.shape[1] - 1)
    w = theta[:, cols].astype(np.float64)
    g = G[:, cols]
    a = state[0][:, cols].astype(np.float64)
    if optimizer == 0:
        w -= lr * g
    elif optimizer in (1, 2):
        a = momentum * a - lr * g
        w += a if optimizer == 1 else momentum * a - lr * g
    elif optimizer == 3:
        a += g * g
        w -= lr * g / (np.sqrt(a) + eps)
    elif optimizer == 4:
        a = rho * a + (1.0 - rho) * g * g
        w -= lr * g / (np.sqrt(a) + eps)
    else:
        v = state[1][:, cols].astype(np.float64)
        a += (g - a) * (1.0 - beta1)
        v += (g * g - v) * (1.0 - beta2)
        w -= lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t) * a / (np.sqrt(v) + eps)
        state[1][:, cols] = v
    state[0][:, cols] = a
    theta[:, cols] = w
    if l1 > 0.0:
        coef = theta[:, :-1]
        coef[...] = np.sign(coef) * np.maximum(np.abs(coef) - lr * l1, 0.0)


def minibatch_epoch(X, y, sample_weight, order, theta, state, loss, loss_param, alpha, l1_ratio,
                    optimizer, schedule, eta0, power_t, t0, hyper, batch_size, fit_intercept, t):  # fmt: skip
    """One epoch of mini-batch steps; see :func:`fastml._numba.sgd.minibatch_epoch`."""
    d = X.shape[1]
    m = order.shape[0]
    bs = max(1, min(int(batch_size), m))
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    t = float(t)
    loss_sum = 0.0
    gmax = 0.0
    for start in range(0, m, bs):
        end = min(start + bs, m)
        G = np.zeros(theta.shape)
        for lo in range(start, end, BLOCK):
            lsum, Gb = _block_grad(
                X, y, sample_weight, order[lo : min(lo + BLOCK, end)], theta, loss, loss_param
            )
            loss_sum += lsum
            G += Gb
        G /= end - start
        G[:, :d] += l2 * theta[:, :d]
        if not fit_intercept:
            G[:, d] = 0.0
        gmax = float(np.abs(G).max())
        lr = eta_at(schedule, eta0, power_t, t0, t)
        _apply_step(theta, G, state, optimizer, lr, hyper, t, fit_intercept, l1)
        t += 1.0
    return loss_sum, gmax, t
