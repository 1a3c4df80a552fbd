"""Pure-Python gradient-descent kernels: lists and loops only (the oracle).

Same names and signatures as ``fastml._numpy.sgd``, ``fastml._numba.sgd`` and
``fastml._cython.sgd``; see :mod:`fastml._numba.sgd` for the parameters and
:mod:`fastml._losses` for the codes. The scalar loss definitions here
(:func:`loss1`, :func:`row_loss`, :func:`eta_at`) are also the Numba
backend's: it compiles these very functions.

The arrays are converted to lists once per call; the loops run over lists.
"""

from __future__ import annotations

import math

__all__ = [
    "eta_at",
    "loss1",
    "loss_grad",
    "minibatch_epoch",
    "pa_rate",
    "row_loss",
    "sgd_epoch",
    "sgd_epoch_averaged",
    "sgd_epoch_sparse",
]

MAX_DLOSS = 1e12
BLOCK = 1024  # == fastml._losses.BLOCK


def loss1(code, p, y, e):
    """(loss, d loss / d p) of one output; codes as in :mod:`fastml._losses`."""
    if code == 0:
        r = p - y
        return 0.5 * r * r, r
    if code == 1:
        r = p - y
        a = abs(r)
        if a <= e:
            return 0.5 * r * r, r
        return e * a - 0.5 * e * e, e if r > 0 else -e
    if code == 2 or code == 3:
        r = y - p
        ex = abs(r) - e
        if ex <= 0.0:
            return 0.0, 0.0
        s = -1.0 if r > 0 else 1.0
        if code == 2:
            return ex, s
        return ex * ex, 2.0 * ex * s
    z = p * y
    if code == 4:  # log_loss, stable for any margin
        if z > 0:
            ez = math.exp(-z)
            return math.log1p(ez), -y * ez / (1.0 + ez)
        ez = math.exp(z)
        return -z + math.log1p(ez), -y / (1.0 + ez)
    if code == 5 or code == 6:
        thr = 1.0 if code == 5 else 0.0
        if z <= thr:
            return thr - z, -y
        return 0.0, 0.0
    if code == 7:
        m = 1.0 - z
        if m > 0:
            return m * m, -2.0 * y * m
        return 0.0, 0.0
    if z >= 1.0:  # 8: modified_huber
        return 0.0, 0.0
    if z >= -1.0:
        return (1.0 - z) * (1.0 - z), -2.0 * (1.0 - z) * y
    return -4.0 * z, -4.0 * y


def row_loss(code, p, yi, e, g):
    """Loss of one row over all outputs ``p``; fills ``g`` with d loss / d p.

    ``yi``: the target (one output), the class index (one-vs-rest: output k's
    target is +1 if ``yi == k`` else -1; SOFTMAX: log-sum-exp loss).
    """
    n_out = len(p)
    if code == 9:
        mx = p[0]
        for k in range(1, n_out):
            mx = max(mx, p[k])
        s = 0.0
        for k in range(n_out):
            g[k] = math.exp(p[k] - mx)
            s += g[k]
        c = int(yi)
        for k in range(n_out):
            g[k] /= s
        g[c] -= 1.0
        return mx + math.log(s) - p[c]
    if n_out == 1:
        loss, d = loss1(code, p[0], yi, e)
        g[0] = d
        return loss
    total = 0.0
    for k in range(n_out):
        loss, d = loss1(code, p[k], 1.0 if yi == k else -1.0, e)
        g[k] = d
        total += loss
    return total


def _output_loss(code, p, yi, e, k):
    """Output ``k``'s loss alone (one-vs-rest targets as :func:`row_loss`)."""
    if len(p) == 1:
        return loss1(code, p[0], yi, e)[0]
    return loss1(code, p[k], 1.0 if yi == k else -1.0, e)[0]


def eta_at(schedule, eta0, power_t, t0, t):
    """Learning rate of step ``t``: 0 constant, 1 optimal, 2 invscaling (and
    ``eta0`` for pa1 / pa2: the rate the penalty decays by).

    "optimal" is scikit-learn's ``1 / (alpha (t0 + t - 1))``, its ``alpha``
    passed as ``eta0``: that is the ``alpha`` parameter even without a penalty,
    where the kernel's penalty ``alpha`` is 0. (The same expression as
    scikit-learn's, so that the rates round alike.)
    """
    if schedule == 1:
        return 1.0 / (eta0 * (t0 + t - 1.0))
    if schedule == 2:
        return eta0 / t**power_t
    return eta0


def pa_rate(schedule, eta0, loss, sq):
    """A passive-aggressive step's size for a sample of loss ``loss`` and
    ``||x||^2 = sq`` (scikit-learn's): 3 PA-I ``min(C, loss / sq)`` (``sq > 0``:
    PA-I skips a zero row), 4 PA-II ``loss / (sq + 1 / (2 C))``; ``C = eta0``.

    The step is this rate times ``-dloss/dp`` (the sign of the margin's side),
    as plain SGD's is ``eta`` times it.
    """
    if schedule == 3:
        return min(eta0, loss / sq)
    return loss / (sq + 0.5 / eta0)


def _clip(g):
    return min(max(g, -MAX_DLOSS), MAX_DLOSS)


def sgd_epoch(X, y, sample_weight, order, theta, q, loss, loss_param, alpha, l1_ratio, schedule,
              eta0, power_t, t0, fit_intercept, t, u):  # fmt: skip
    """One epoch of plain SGD (batch size 1); see :func:`fastml._numba.sgd.sgd_epoch`.

    The oracle is :func:`sgd_epoch_averaged`'s loop without the averaging.
    """
    return sgd_epoch_averaged(X, y, sample_weight, order, theta, q, None, None, loss, loss_param,
                              alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u,
                              0)  # fmt: skip


def sgd_epoch_averaged(X, y, sample_weight, order, theta, q, avg, ab, loss, loss_param, alpha,
                       l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u, average):  # fmt: skip
    """One epoch of averaged SGD (scikit-learn's ``average=``), in place.

    The plain step of :func:`sgd_epoch`, then from step ``t = average`` on the
    running mean of the weights, kept as scikit-learn keeps it (its
    ``WeightVector``): the mean is ``(avg[:, :d] + a w) / b``, ``ab = [a, b]``,
    so that a step costs one pass over the row. The mean intercept is
    ``avg[:, d]``. The same arithmetic in the same order as scikit-learn,
    L1 truncation included (it acts on ``w`` after the mean's update).
    ``average=0`` (``avg`` and ``ab`` may then be None): no averaging
    (:func:`sgd_epoch`).
    """
    columns = range(X.shape[1])
    rows = [(columns, row) for row in X.tolist()]
    return _epoch(rows, X.shape[1], y, sample_weight, order, theta, q, avg, ab, loss,
                  loss_param, alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u,
                  average)  # fmt: skip


def sgd_epoch_sparse(data, indices, indptr, y, sample_weight, order, theta, q, avg, ab, loss,
                     loss_param, alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t,
                     u, average, intercept_decay):  # fmt: skip
    """:func:`sgd_epoch_averaged` on the CSR rows ``(data, indices, indptr)``
    (canonical: sorted, no duplicates; ``theta`` gives the number of columns).

    Each step reads and writes only the row's stored columns, the L1 truncation
    included: a column's cumulative penalty is applied when a row stores it (as
    scikit-learn does on sparse input, so with L1 the model differs from the
    dense fit's, which truncates every column at every step; without L1 the two
    are the same up to rounding). ``average=0``: plain SGD. Each intercept step
    is multiplied by ``intercept_decay`` (scikit-learn: 0.01 on sparse input,
    "to avoid the intercept oscillating").
    """
    ind, val, ptr = indices.tolist(), data.tolist(), indptr.tolist()
    rows = [(ind[ptr[i] : ptr[i + 1]], val[ptr[i] : ptr[i + 1]]) for i in range(len(ptr) - 1)]
    return _epoch(rows, theta.shape[1] - 1, y, sample_weight, order, theta, q, avg, ab, loss,
                  loss_param, alpha, l1_ratio, schedule, eta0, power_t, t0, fit_intercept, t, u,
                  average, intercept_decay)  # fmt: skip


def _epoch(rows, d, y, sample_weight, order, theta, q, avg, ab, loss, loss_param, alpha, l1_ratio,
           schedule, eta0, power_t, t0, fit_intercept, t, u, average, intercept_decay=1.0):  # fmt: skip
    """The loop of :func:`sgd_epoch_averaged`; ``rows[i]`` = (columns, values) of row i."""
    ys = y.tolist()
    sw = sample_weight.tolist()
    th = theta.tolist()
    qq = q.tolist()
    n_out = len(th)
    aw = [[0.0] * (d + 1) for _ in range(n_out)] if avg is None else avg.tolist()
    a, b = (0.0, 1.0) if ab is None else (float(ab[0]), float(ab[1]))
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    t = float(t)
    u = float(u)
    wscale = 1.0
    p = [0.0] * n_out
    g = [0.0] * n_out
    loss_sum = 0.0
    for i in order.tolist():
        cols, x = rows[i]
        eta = eta_at(schedule, eta0, power_t, t0, t)
        for k in range(n_out):
            w = th[k]
            s = 0.0
            for j, v in zip(cols, x, strict=True):
                s += w[j] * v
            p[k] = s * wscale + w[d]
        wi = sw[i]
        loss_sum += wi * row_loss(loss, p, ys[i], loss_param, g)
        if schedule >= 3:  # passive-aggressive: each output's own step size
            sq = sum(v * v for v in x)
            if schedule == 3 and sq == 0.0:
                continue  # PA-I passes over a zero row (scikit-learn: not even a step)
            rates = [pa_rate(schedule, eta0, _output_loss(loss, p, ys[i], loss_param, k), sq)
                     for k in range(n_out)]  # fmt: skip
        if l2 > 0.0:
            wscale *= max(0.0, 1.0 - l2 * eta)
            if wscale < 1e-9:  # scikit-learn's reset_wscale, the mean's part first
                aw = [[(m + a * v) / b for m, v in zip(mk[:d], w[:d], strict=True)] + [mk[d]]
                      for mk, w in zip(aw, th, strict=True)]  # fmt: skip
                a, b = 0.0, 1.0
                th = [[v * wscale for v in w[:d]] + [w[d]] for w in th]
                wscale = 1.0
        if schedule >= 3:
            upds = [-rates[k] * g[k] * wi for k in range(n_out)]
        else:
            upds = [-eta * _clip(g[k]) * wi for k in range(n_out)]
        for k in range(n_out):
            upd = upds[k]
            w = th[k]
            if upd != 0.0:
                c = upd / wscale
                for j, v in zip(cols, x, strict=True):
                    w[j] += c * v
            if fit_intercept:
                w[d] += upd * intercept_decay
        if 0 < average <= t:
            seen = t - average + 1.0
            for k in range(n_out):
                mk = aw[k]
                c = a * (-upds[k] / wscale)
                for j, v in zip(cols, x, strict=True):
                    mk[j] += c * v
                mk[d] += (th[k][d] - mk[d]) / seen
            if seen > 1.0:
                b /= 1.0 - 1.0 / seen
            a += (1.0 / seen) * b * wscale
        if l1 > 0.0:
            u += l1 * eta
            for k in range(n_out):
                w = th[k]
                qk = qq[k]
                for j in cols:
                    z = w[j] * wscale
                    if z > 0.0:
                        w[j] = max(0.0, w[j] - (u + qk[j]) / wscale)
                    elif z < 0.0:
                        w[j] = min(0.0, w[j] + (u - qk[j]) / wscale)
                    qk[j] += wscale * w[j] - z
        t += 1.0
    # w back to scale 1; the mean is unchanged: a w = (a / wscale) (wscale w)
    th = [[v * wscale for v in w[:d]] + [w[d]] for w in th]
    theta[...] = th
    q[...] = qq
    if avg is not None:
        avg[...] = aw
        ab[0], ab[1] = a / wscale, b
    return loss_sum, t, u


def _block_grad(rows, ys, sw, order, lo, hi, th, loss, e, G):
    n_out = len(th)
    d = len(th[0]) - 1
    p = [0.0] * n_out
    g = [0.0] * n_out
    for Gk in G:
        for j in range(d + 1):
            Gk[j] = 0.0
    total = 0.0
    for ii in range(lo, hi):
        i = order[ii]
        x = rows[i]
        for k in range(n_out):
            w = th[k]
            s = 0.0
            for j in range(d):
                s += w[j] * x[j]
            p[k] = s + w[d]
        wi = sw[i]
        total += wi * row_loss(loss, p, ys[i], e, g)
        for k in range(n_out):
            c = wi * _clip(g[k])
            if c != 0.0:
                Gk = G[k]
                for j in range(d):
                    Gk[j] += c * x[j]
                Gk[d] += c
    return total


def _apply_step(th, G, state, optimizer, lr, hyper, t, fit_intercept, l1):
    momentum, beta1, beta2, eps, rho = hyper
    d1 = len(th[0])
    last = d1 if fit_intercept else d1 - 1
    alpha_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t) if optimizer == 5 else 0.0
    s0, s1 = state
    for k in range(len(th)):
        w, gk, a, b = th[k], G[k], s0[k], s1[k]
        for j in range(last):
            g = gk[j]
            if optimizer == 0:
                w[j] -= lr * g
            elif optimizer in (1, 2):
                a[j] = momentum * a[j] - lr * g
                w[j] += a[j] if optimizer == 1 else momentum * a[j] - lr * g
            elif optimizer == 3:
                a[j] += g * g
                w[j] -= lr * g / (math.sqrt(a[j]) + eps)
            elif optimizer == 4:
                a[j] = rho * a[j] + (1.0 - rho) * g * g
                w[j] -= lr * g / (math.sqrt(a[j]) + eps)
            else:
                a[j] += (g - a[j]) * (1.0 - beta1)
                b[j] += (g * g - b[j]) * (1.0 - beta2)
                w[j] -= alpha_t * a[j] / (math.sqrt(b[j]) + eps)
        if l1 > 0.0:
            shrink = lr * l1
            for j in range(d1 - 1):
                v = w[j]
                w[j] = v - shrink if v > shrink else (v + shrink if v < -shrink else 0.0)


def minibatch_epoch(X, y, sample_weight, order, theta, state, loss, loss_param, alpha, l1_ratio,
                    optimizer, schedule, eta0, power_t, t0, hyper, batch_size, fit_intercept, t):  # fmt: skip
    """One epoch of mini-batch steps; see :func:`fastml._numba.sgd.minibatch_epoch`."""
    rows = X.tolist()
    ys = y.tolist()
    sw = sample_weight.tolist()
    idx = order.tolist()
    th = theta.tolist()
    st = state.tolist()
    hyp = [float(h) for h in hyper]
    n_out = len(th)
    d1 = len(th[0])
    m = len(idx)
    bs = max(1, min(int(batch_size), m))
    l2 = (1.0 - l1_ratio) * alpha
    l1 = l1_ratio * alpha
    t = float(t)
    nb_max = (bs + BLOCK - 1) // BLOCK
    partial = [[[0.0] * d1 for _ in range(n_out)] for _ in range(nb_max)]
    G = [[0.0] * d1 for _ in range(n_out)]
    loss_sum = 0.0
    gmax = 0.0
    for start in range(0, m, bs):
        end = min(start + bs, m)
        nblk = (end - start + BLOCK - 1) // BLOCK
        for b in range(nblk):
            lo = start + b * BLOCK
            loss_sum += _block_grad(rows, ys, sw, idx, lo, min(lo + BLOCK, end), th, loss,
                                    loss_param, partial[b])  # fmt: skip
        inv = 1.0 / (end - start)
        gmax = 0.0
        for k in range(n_out):
            for j in range(d1):
                s = partial[0][k][j]
                for b in range(1, nblk):
                    s += partial[b][k][j]
                s *= inv
                if j < d1 - 1:
                    s += l2 * th[k][j]
                elif not fit_intercept:
                    s = 0.0
                G[k][j] = s
                gmax = max(gmax, abs(s))
        lr = eta_at(schedule, eta0, power_t, t0, t)
        _apply_step(th, G, st, optimizer, lr, hyp, t, fit_intercept, l1)
        t += 1.0
    theta[...] = th
    state[...] = st
    return loss_sum, gmax, t


def loss_grad(code, P, y, loss_param):
    """Per-row loss and d loss / d P; see :func:`fastml._numba.sgd.loss_grad`."""
    import numpy as np

    L = []
    Gr = []
    for p, yi in zip(np.asarray(P, dtype=float).tolist(), np.asarray(y, dtype=float).tolist(),
                     strict=True):  # fmt: skip
        g = [0.0] * len(p)
        L.append(row_loss(code, p, yi, loss_param, g))
        Gr.append(g)
    return np.array(L, dtype=float), np.array(Gr, dtype=float).reshape(len(L), -1)
