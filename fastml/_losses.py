"""Loss, penalty, optimizer and schedule codes shared by the driver and every ``sgd`` kernel.

The kernels (``fastml/_{python,numpy,numba}/sgd.py``, ``src_cython/sgd.pyx``)
receive integer codes, not names; this module is the one table of them, and
holds the vectorised NumPy definitions of every loss and its derivative with
respect to the prediction ``p`` (used by the NumPy kernel, by the driver for
validation losses, and by the tests as the oracle the other backends are
checked against by finite differences).

Binary classification losses take ``y`` in {-1, +1}; with ``z = p * y``:

=====================  =====================================  ==============================
loss                   value                                  derivative d/dp
=====================  =====================================  ==============================
squared_error          (p - y)^2 / 2                          p - y
huber (epsilon e)      r^2/2 if abs(r) <= e else e*abs(r)-e^2/2   r clipped to [-e, e]
epsilon_insensitive    max(0, abs(y - p) - e)                    -sign(y - p) outside the tube
squared_epsilon_...    max(0, abs(y - p) - e)^2                  2 (abs(y-p)-e) sign(p-y) outside
log_loss               log(1 + exp(-z))  (stable form)        -y sigmoid(-z)
hinge                  max(0, 1 - z)                          -y if z <= 1
perceptron             max(0, -z)                             -y if z <= 0
squared_hinge          max(0, 1 - z)^2                        -2 y (1 - z) if z < 1
modified_huber         0 | (1 - z)^2 | -4 z                   0 | -2 y (1 - z) | -4 y
softmax (multinomial)  logsumexp(p) - p[y]                    softmax(p) - onehot(y)
=====================  =====================================  ==============================

These are scikit-learn's definitions (``sklearn.linear_model._sgd_fast``),
with log_loss computed as ``max(-z, 0) + log1p(exp(-abs(z)))`` (no overflow,
no log(0) for any margin) and the sigmoid as ``exp(-abs(z))``-based ratios.
"""

from __future__ import annotations

import numpy as np

# Loss codes (the kernels' ``loss`` argument).
SQUARED_ERROR = 0
HUBER = 1
EPSILON_INSENSITIVE = 2
SQUARED_EPSILON_INSENSITIVE = 3
LOG_LOSS = 4
HINGE = 5
PERCEPTRON = 6
SQUARED_HINGE = 7
MODIFIED_HUBER = 8
SOFTMAX = 9

REGRESSION_LOSSES = {
    "squared_error": SQUARED_ERROR,
    "huber": HUBER,
    "epsilon_insensitive": EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": SQUARED_EPSILON_INSENSITIVE,
}
CLASSIFICATION_LOSSES = {
    "log_loss": LOG_LOSS,
    "hinge": HINGE,
    "perceptron": PERCEPTRON,
    "squared_hinge": SQUARED_HINGE,
    "modified_huber": MODIFIED_HUBER,
    # scikit-learn's SGDClassifier also accepts the regression losses
    **REGRESSION_LOSSES,
}
#: Losses whose second derivative is bounded by this constant (for the
#: automatic full-batch step 1/L); None for non-smooth losses.
CURVATURE = {SQUARED_ERROR: 1.0, HUBER: 1.0, LOG_LOSS: 0.25, SOFTMAX: 0.5}

# Optimizer codes (Keras semantics, see fastml.linear_model).
OPTIMIZERS = {"sgd": 0, "momentum": 1, "nesterov": 2, "adagrad": 3, "rmsprop": 4, "adam": 5}
#: Keras's default learning rates, used when ``eta0`` is not given (<= 0).
KERAS_DEFAULT_LR = {
    "sgd": 0.01,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.001,
    "rmsprop": 0.001,
    "adam": 0.001,
}
#: Keras's initial accumulator value of Adagrad.
ADAGRAD_INITIAL = 0.1

# Learning-rate schedule codes ("adaptive" runs as constant inside an epoch).
# pa1 / pa2: scikit-learn's passive-aggressive steps (plain SGD, hinge or
# epsilon_insensitive): each sample's step is its own, from its loss and
# ||x||^2, with eta0 as the aggressiveness C; the penalty still decays by eta0.
SCHEDULES = {"constant": 0, "adaptive": 0, "optimal": 1, "invscaling": 2, "pa1": 3, "pa2": 4}
PA1, PA2 = 3, 4

#: Largest |dloss| a kernel applies (scikit-learn's MAX_DLOSS).
MAX_DLOSS = 1e12

#: Rows per block of a mini-batch or full-batch gradient: partial gradients of
#: fixed blocks are summed in block order, so results do not depend on threads.
BLOCK = 1024


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow, for any float array."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def loss_grad(code, p, y, param=0.1):
    """Per-sample loss and its derivative with respect to ``p``.

    Parameters
    ----------
    code : int
        A loss code (not SOFTMAX; see :func:`softmax_loss_grad`).
    p : ndarray of shape (n,)
        Predictions (decision values).
    y : ndarray of shape (n,)
        Targets: real values (regression) or -1/+1 (classification).
    param : float
        ``epsilon`` of huber and the epsilon-insensitive losses.

    Returns
    -------
    loss, dloss : ndarray of shape (n,), float64
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if code == SQUARED_ERROR:
        r = p - y
        return 0.5 * r * r, r
    if code == HUBER:
        r = p - y
        a = np.abs(r)
        inside = a <= param
        return (
            np.where(inside, 0.5 * r * r, param * a - 0.5 * param * param),
            np.where(inside, r, param * np.sign(r)),
        )
    if code in (EPSILON_INSENSITIVE, SQUARED_EPSILON_INSENSITIVE):
        r = y - p
        excess = np.maximum(np.abs(r) - param, 0.0)
        if code == EPSILON_INSENSITIVE:
            return excess, np.where(excess > 0, -np.sign(r), 0.0)
        return excess * excess, np.where(excess > 0, -2.0 * excess * np.sign(r), 0.0)
    z = p * y
    if code == LOG_LOSS:  # one exp for both (sigmoid(-z) would take another)
        e = np.exp(-np.abs(z))
        return np.maximum(-z, 0.0) + np.log1p(e), -y * np.where(z > 0, e, 1.0) / (1.0 + e)
    if code in (HINGE, PERCEPTRON):
        thr = 1.0 if code == HINGE else 0.0
        active = z <= thr
        return np.where(active, thr - z, 0.0), np.where(active, -y, 0.0)
    if code == SQUARED_HINGE:
        m = np.maximum(1.0 - z, 0.0)
        return m * m, -2.0 * y * m
    if code == MODIFIED_HUBER:
        loss = np.where(z >= 1.0, 0.0, np.where(z >= -1.0, (1.0 - z) ** 2, -4.0 * z))
        grad = np.where(z >= 1.0, 0.0, np.where(z >= -1.0, -2.0 * (1.0 - z) * y, -4.0 * y))
        return loss, grad
    raise ValueError(f"unknown loss code {code}")


def softmax_loss_grad(P, y):
    """Multinomial log-loss per sample and its gradient with respect to the logits.

    Parameters
    ----------
    P : ndarray of shape (n, n_classes)
        Logits.
    y : ndarray of shape (n,)
        Class indices 0 .. n_classes-1 (any numeric dtype).

    Returns
    -------
    loss : ndarray of shape (n,)
        ``logsumexp(P[i]) - P[i, y[i]]`` (log-sum-exp with the max shifted out).
    grad : ndarray of shape (n, n_classes)
        ``softmax(P[i]) - onehot(y[i])``.
    """
    P = np.asarray(P, dtype=np.float64)
    yi = np.asarray(y).astype(np.intp)
    mx = P.max(axis=1, keepdims=True)
    E = np.exp(P - mx)
    s = E.sum(axis=1, keepdims=True)
    rows = np.arange(P.shape[0])
    loss = (mx[:, 0] + np.log(s[:, 0])) - P[rows, yi]
    grad = E / s
    grad[rows, yi] -= 1.0
    return loss, grad


def targets(y, n_out, code):
    """Per-output targets of the kernels' encoding.

    ``y`` holds the target (one output) or the class index (several outputs:
    one-vs-rest targets +1/-1, or the class for SOFTMAX).
    """
    if n_out == 1 or code == SOFTMAX:
        return np.asarray(y, dtype=np.float64)
    return np.where(np.asarray(y)[:, None] == np.arange(n_out)[None, :], 1.0, -1.0)


def per_sample_loss(code, P, y, param=0.1):
    """Loss of every sample summed over outputs, and d loss / d P.

    Parameters
    ----------
    P : ndarray of shape (n, n_out)
    y : ndarray of shape (n,)
        Kernel encoding (see :func:`targets`).

    Returns
    -------
    loss : ndarray of shape (n,)
    grad : ndarray of shape (n, n_out)
    """
    n_out = P.shape[1]
    if code == SOFTMAX:
        return softmax_loss_grad(P, y)
    if n_out == 1:
        loss, grad = loss_grad(code, P[:, 0], y, param)
        return loss, grad[:, None]
    loss, grad = loss_grad(code, P, targets(y, n_out, code), param)
    return loss.sum(axis=1), grad


def penalty(coef, alpha, l1_ratio):
    """``alpha * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)`` (scikit-learn's R(w))."""
    coef = np.asarray(coef, dtype=np.float64)
    if alpha == 0:
        return 0.0
    return float(
        alpha * (l1_ratio * np.abs(coef).sum() + 0.5 * (1.0 - l1_ratio) * np.square(coef).sum())
    )


def penalty_grad(coef, alpha, l1_ratio):
    """(Sub)gradient of :func:`penalty` (sign(0) = 0)."""
    coef = np.asarray(coef, dtype=np.float64)
    return alpha * (l1_ratio * np.sign(coef) + (1.0 - l1_ratio) * coef)


def optimal_t0(code, alpha, param=0.1):
    """scikit-learn's offset of the "optimal" schedule, ``1 / (eta_init * alpha)``.

    ``eta = 1 / (alpha * (t0 + t - 1))``; the initial step is chosen from the
    typical weight size ``sqrt(1 / sqrt(alpha))`` as scikit-learn's ``_init_t``
    does (``max(1, dloss(p=-typw, y=1))``).
    """
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    if code == SOFTMAX:
        dloss = 1.0
    else:
        dloss = float(loss_grad(code, np.array([-typw]), np.array([1.0]), param)[1][0])
    eta_init = typw / max(1.0, dloss)
    return 1.0 / (eta_init * alpha)
