"""The ``sgd`` kernels of every backend: losses and gradients against finite
differences, every backend against the pure-Python oracle, thread-count
independence, dtype preservation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import BACKENDS, COMPILED_BACKENDS

from fastml import _losses as L
from fastml import set_num_threads
from fastml._registry import kernel_module

BINARY = [L.LOG_LOSS, L.HINGE, L.PERCEPTRON, L.SQUARED_HINGE, L.MODIFIED_HUBER]
REGRESSION = [L.SQUARED_ERROR, L.HUBER, L.EPSILON_INSENSITIVE, L.SQUARED_EPSILON_INSENSITIVE]
HYPER = np.array([0.9, 0.9, 0.999, 1e-7, 0.9])


def _margins(rng, n=40):
    # avoid the kinks of the piecewise losses (z = +-1, 0 and |r| = epsilon)
    p = rng.uniform(-3, 3, n)
    return p[np.abs(np.abs(p) - 1) > 0.05]


@pytest.mark.parametrize("code", BINARY + REGRESSION)
def test_loss_gradient_finite_differences(backend, code):
    rng = np.random.default_rng(code)
    p = _margins(rng)
    y = rng.choice([-1.0, 1.0], p.size) if code in BINARY else rng.uniform(-3, 3, p.size)
    if code not in BINARY:  # keep |p - y| away from epsilon
        keep = np.abs(np.abs(p - y) - 0.1) > 0.05
        p, y = p[keep], y[keep]
    mod = kernel_module(backend, "sgd")
    loss, grad = mod.loss_grad(code, p[:, None], y, 0.1)
    h = 1e-6
    lp, _ = mod.loss_grad(code, (p + h)[:, None], y, 0.1)
    lm, _ = mod.loss_grad(code, (p - h)[:, None], y, 0.1)
    np.testing.assert_allclose(grad[:, 0], (lp - lm) / (2 * h), rtol=1e-5, atol=1e-6)
    ref_loss, ref_grad = L.loss_grad(code, p, y, 0.1)  # NumPy definitions (oracle table)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad[:, 0], ref_grad, rtol=1e-12, atol=1e-12)


def test_softmax_gradient_finite_differences(backend):
    rng = np.random.default_rng(0)
    P = rng.standard_normal((10, 4)) * 3
    y = rng.integers(0, 4, 10).astype(float)
    mod = kernel_module(backend, "sgd")
    loss, grad = mod.loss_grad(L.SOFTMAX, P, y, 0.1)
    h = 1e-6
    for k in range(4):
        E = np.zeros_like(P)
        E[:, k] = h
        fd = mod.loss_grad(L.SOFTMAX, P + E, y, 0.1)[0] - mod.loss_grad(L.SOFTMAX, P - E, y, 0.1)[0]
        np.testing.assert_allclose(grad[:, k], fd / (2 * h), rtol=1e-5, atol=1e-7)
    ref = -np.log(np.exp(P)[np.arange(10), y.astype(int)] / np.exp(P).sum(axis=1))
    np.testing.assert_allclose(loss, ref, rtol=1e-12)


def test_log_loss_is_stable_for_any_margin(backend):
    mod = kernel_module(backend, "sgd")
    p = np.array([-1e308, -800.0, -40.0, 0.0, 40.0, 800.0, 1e308])
    loss, grad = mod.loss_grad(L.LOG_LOSS, p[:, None], np.ones(7), 0.1)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(loss[1], 800.0)
    np.testing.assert_allclose(loss[3], np.log(2.0))
    assert loss[-1] == 0.0 or loss[-1] < 1e-300
    np.testing.assert_allclose(grad[:, 0], [-1, -1, -1, -0.5, -np.exp(-40.0), 0, 0], atol=1e-300)
    big, _ = mod.loss_grad(L.SOFTMAX, np.array([[1000.0, -1000.0, 0.0]]), np.array([1.0]), 0.1)
    np.testing.assert_allclose(big, [2000.0])


@pytest.mark.parametrize("n_out", [1, 3])
def test_log_loss_accurate_over_every_margin(backend, n_out):
    """The compiled kernels' own log1p (0 <= u <= 1, u = exp(-|z|)) against libm's,
    from u = 1 down to subnormal u (tiny losses keep their relative precision)."""
    rng = np.random.default_rng(0)
    t = -np.log(np.sqrt(2.0) - 1.0)  # |z| where the kernels' log1p changes its reduction
    z = np.concatenate([np.logspace(-20, np.log10(745.0), 20001), rng.uniform(0.0, 3.0, 20000),
                        [0.0, t, np.nextafter(t, 0), np.nextafter(t, 9), 700.0, 745.0, 746.0,
                         800.0, 1e300]])  # fmt: skip
    u = np.array([math.exp(-v) for v in z])  # the kernels' exp (libm's), to test log1p alone
    ref = np.log1p(u)
    mod = kernel_module(backend, "sgd")
    for sign in (1.0, -1.0):  # z > 0: log1p(u); z < 0: |z| + log1p(u)
        P = np.repeat(sign * z[:, None], n_out, axis=1)
        P[:, 1:] *= -1  # one-vs-rest: output 0 has target +1, the others -1
        target = np.ones(z.size) if n_out == 1 else np.zeros(z.size)  # +1 / class 0
        loss, grad = mod.loss_grad(L.LOG_LOSS, P, target, 0.1)
        expect = (ref if sign > 0 else z + ref) * n_out
        np.testing.assert_allclose(loss, expect, rtol=1e-15, atol=0)
        sig = np.where(sign > 0, u / (1.0 + u), 1.0 / (1.0 + u))
        np.testing.assert_allclose(-grad[:, 0], sig, rtol=1e-15, atol=0)
    tiny = z > 708  # u subnormal or 0: log1p(u) == u exactly
    loss, _ = mod.loss_grad(L.LOG_LOSS, z[tiny, None], np.ones(tiny.sum()), 0.1)
    np.testing.assert_array_equal(loss, u[tiny])


def test_penalty_gradient_finite_differences():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 5))
    h = 1e-6
    for l1_ratio in (0.0, 0.15, 1.0):
        g = L.penalty_grad(w, 0.3, l1_ratio)
        fd = np.empty_like(w)
        for idx in np.ndindex(w.shape):
            e = np.zeros_like(w)
            e[idx] = h
            fd[idx] = (L.penalty(w + e, 0.3, l1_ratio) - L.penalty(w - e, 0.3, l1_ratio)) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def _problem(dtype, n=120, d=6, n_out=1, code=L.LOG_LOSS, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    if code == L.SOFTMAX or n_out > 1:
        y = rng.integers(0, n_out, n).astype(dtype)
    elif code in BINARY:
        y = np.sign(X[:, 0] + 0.5 * rng.standard_normal(n)).astype(dtype)
    else:
        y = (X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)).astype(dtype)
    sw = rng.uniform(0.5, 2.0, n).astype(dtype)
    order = rng.permutation(n).astype(np.int64)
    return X, y, sw, order


def _tol(dtype):
    return (1e-10, 1e-12) if dtype == np.float64 else (2e-4, 2e-5)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_float32_epochs_track_float64_on_wide_rows(backend, l1_ratio):
    # The compiled epochs sum float32 rows' dot products in float32 (their
    # margins are rounded to the float32 model anyway); over 400 features and
    # 3 epochs the model must stay at float32's precision of the float64 one.
    X, y, sw, order = _problem(np.float64, n=3000, d=400, seed=4)
    X = X.astype(np.float32).astype(np.float64)  # the same values in both dtypes
    mod = kernel_module(backend, "sgd")
    models = {}
    for dt in (np.float64, np.float32):
        theta = np.zeros((1, 401), dtype=dt)
        q = np.zeros_like(theta)
        t, u = 1.0, 0.0
        for _ in range(3):
            loss, t, u = mod.sgd_epoch(X.astype(dt), y.astype(dt), sw.astype(dt), order, theta,
                                       q, L.LOG_LOSS, 0.1, 1e-4, l1_ratio, 0, 0.01, 0.5, 1.0,
                                       True, t, u)  # fmt: skip
        models[dt] = (theta.astype(np.float64), loss)
    (w64, loss64), (w32, loss32) = models[np.float64], models[np.float32]
    assert np.abs(w32 - w64).max() <= 2e-5 * np.abs(w64).max()
    assert loss32 == pytest.approx(loss64, rel=2e-5)


@pytest.mark.parametrize(
    ("code", "n_out", "alpha", "l1_ratio", "schedule"),
    [
        (L.LOG_LOSS, 1, 1e-3, 0.0, 1),
        (L.HINGE, 3, 1e-3, 0.15, 0),
        (L.HUBER, 1, 1e-2, 1.0, 2),
        (L.MODIFIED_HUBER, 1, 0.5, 0.0, 1),  # strong L2: exercises the scale-factor reset
        (L.LOG_LOSS, 3, 1e-3, 0.0, 0),  # one-vs-rest through the deferred step (no L1)
        (L.SQUARED_ERROR, 1, 0.0, 0.0, 2),  # no penalty
    ],
)
def test_sgd_epoch_backends_agree(backend, dtype, code, n_out, alpha, l1_ratio, schedule):
    X, y, sw, order = _problem(dtype, n_out=n_out, code=code)
    results = {}
    for b in dict.fromkeys(("python", backend)):
        mod = kernel_module(b, "sgd")
        theta = np.zeros((n_out, X.shape[1] + 1), dtype=dtype)
        q = np.zeros_like(theta)
        t, u, losses = 1.0, 0.0, []
        for _ in range(2):
            loss, t, u = mod.sgd_epoch(X, y, sw, order, theta, q, code, 0.1, alpha, l1_ratio,
                                       schedule, 0.05, 0.5, 10.0, True, t, u)  # fmt: skip
            losses.append(loss)
        assert theta.dtype == dtype
        results[b] = (theta, losses, t, u)
    rtol, atol = _tol(dtype)
    ref = results["python"]
    got = results[backend]
    np.testing.assert_allclose(got[0], ref[0], rtol=rtol * 10, atol=atol * 10)
    np.testing.assert_allclose(got[1], ref[1], rtol=rtol * 10)
    assert got[2] == ref[2] == 1 + 2 * len(order)
    np.testing.assert_allclose(got[3], ref[3], rtol=1e-12)
    if l1_ratio == 1.0:
        assert (ref[0][:, :-1] == 0).any()  # L1 produces exact zeros


@pytest.mark.parametrize("unit_weights", [False, True])
@pytest.mark.parametrize("m", [0, 1, 2, 9, 600])
def test_sgd_epoch_short_orders(backend, m, unit_weights):
    """Epochs of 0, 1, 2 rows (the deferred step's first and last rows), a subset,
    and more rows than one block of gathered targets, with and without weights."""
    X, y, sw, order = _problem(np.float64, n=max(m, 20), code=L.LOG_LOSS)
    order = order[:m]
    if unit_weights:
        sw = np.ones_like(sw)
    out = {}
    for b in dict.fromkeys(("python", backend)):
        theta = np.full((1, X.shape[1] + 1), 0.1)
        res = kernel_module(b, "sgd").sgd_epoch(X, y, sw, order, theta, np.zeros_like(theta),
                                                L.LOG_LOSS, 0.1, 1e-2, 0.0, 0, 0.5, 0.5, 1.0,
                                                True, 1.0, 0.0)  # fmt: skip
        out[b] = (theta, res)
    np.testing.assert_allclose(out[backend][0], out["python"][0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out[backend][1], out["python"][1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("code", "n_out", "optimizer", "batch", "l1_ratio"),
    [
        (L.LOG_LOSS, 1, 0, 16, 0.0),
        (L.SOFTMAX, 3, 5, 7, 0.0),
        (L.SQUARED_ERROR, 1, 2, 2000, 0.15),  # full batch over two row blocks
        (L.HINGE, 3, 1, 10, 0.0),
        (L.SQUARED_HINGE, 1, 3, 32, 1.0),
        (L.EPSILON_INSENSITIVE, 1, 4, 1, 0.0),
    ],
)
def test_minibatch_epoch_backends_agree(backend, dtype, code, n_out, optimizer, batch, l1_ratio):
    n = 1500 if batch == 2000 else 120
    X, y, sw, order = _problem(dtype, n=n, n_out=n_out, code=code)
    results = {}
    for b in dict.fromkeys(("python", backend)):
        mod = kernel_module(b, "sgd")
        theta = np.zeros((n_out, X.shape[1] + 1), dtype=dtype)
        state = np.zeros((2,) + theta.shape, dtype=dtype)
        if optimizer == 3:
            state[0] = L.ADAGRAD_INITIAL
        t, out = 1.0, []
        for _ in range(2):
            loss, gmax, t = mod.minibatch_epoch(X, y, sw, order, theta, state, code, 0.1, 1e-3,
                                                l1_ratio, optimizer, 0, 0.01, 0.5, 1.0, HYPER,
                                                batch, True, t)  # fmt: skip
            out += [loss, gmax]
        assert theta.dtype == dtype and state.dtype == dtype
        results[b] = (theta, out, t)
    rtol, atol = _tol(dtype)
    ref, got = results["python"], results[backend]
    np.testing.assert_allclose(got[0], ref[0], rtol=rtol * 10, atol=atol * 10)
    np.testing.assert_allclose(got[1], ref[1], rtol=rtol * 10, atol=atol * 10)
    assert got[2] == ref[2]


def test_full_batch_gradient_matches_finite_differences(backend):
    """One plain full-batch step moves theta by -lr * grad(mean sw*loss + L2)."""
    X, y, sw, order = _problem(np.float64, n=50, n_out=3, code=L.SOFTMAX)
    rng = np.random.default_rng(3)
    theta0 = rng.standard_normal((3, X.shape[1] + 1)) * 0.3
    alpha = 0.05

    def objective(th):
        P = X @ th[:, :-1].T + th[:, -1]
        loss, _ = L.softmax_loss_grad(P, y)
        return np.dot(sw, loss) / len(y) + L.penalty(th[:, :-1], alpha, 0.0)

    mod = kernel_module(backend, "sgd")
    theta = theta0.copy()
    state = np.zeros((2,) + theta.shape)
    lr = 0.1
    loss, gmax, _ = mod.minibatch_epoch(X, y, sw, order, theta, state, L.SOFTMAX, 0.1, alpha,
                                        0.0, 0, 0, lr, 0.5, 1.0, HYPER, len(y), True, 1.0)  # fmt: skip
    grad = (theta0 - theta) / lr
    h = 1e-6
    fd = np.empty_like(theta0)
    for idx in np.ndindex(theta0.shape):
        e = np.zeros_like(theta0)
        e[idx] = h
        fd[idx] = (objective(theta0 + e) - objective(theta0 - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gmax, np.abs(fd).max(), rtol=1e-5)
    np.testing.assert_allclose(
        loss / len(y), objective(theta0) - L.penalty(theta0[:, :-1], alpha, 0)
    )


@pytest.mark.parametrize(
    ("code", "n_out"),
    [(L.LOG_LOSS, 1), (L.HINGE, 1), (L.SQUARED_ERROR, 1), (L.LOG_LOSS, 3), (L.SOFTMAX, 3)],
)
@pytest.mark.parametrize("n", [1, 3, 4, 6, 9, 1031])
def test_full_batch_step_every_row_count(backend, dtype, n, code, n_out):
    """The compiled kernels take rows in groups of 4 and the rest one at a time:
    every remainder (n mod 4), several blocks (1031 = 1024 + 7), contiguous and
    shuffled order, weights, one output (scalar loss path) and several."""
    X, y, sw, shuffled = _problem(dtype, n=n, d=7, n_out=n_out, code=code, seed=n)
    rng = np.random.default_rng(n)
    theta0 = (rng.standard_normal((n_out, 8)) * 0.5).astype(dtype)
    for order in (shuffled, np.arange(n, dtype=np.int64)):
        out = {}
        for b in dict.fromkeys(("python", backend)):
            theta = theta0.copy()
            state = np.zeros((2,) + theta.shape, dtype=dtype)
            res = kernel_module(b, "sgd").minibatch_epoch(
                X, y, sw, order, theta, state, code, 0.1, 1e-3, 0.0, 0, 0, 0.1, 0.5, 1.0,
                HYPER, n, True, 1.0,
            )  # fmt: skip
            out[b] = (theta, res)
        rtol, atol = _tol(dtype)
        np.testing.assert_allclose(out[backend][0], out["python"][0], rtol=rtol, atol=atol)
        np.testing.assert_allclose(out[backend][1], out["python"][1], rtol=rtol, atol=atol)


@pytest.mark.parametrize("backend_name", COMPILED_BACKENDS)
def test_full_batch_independent_of_thread_count(backend_name):
    X, y, sw, order = _problem(np.float64, n=5000, d=8)
    order = np.arange(len(y), dtype=np.int64)
    mod = kernel_module(backend_name, "sgd")
    out = []
    for threads in (1, 2):
        set_num_threads(threads)
        theta = np.zeros((1, 9))
        state = np.zeros((2, 1, 9))
        for t in range(1, 4):
            res = mod.minibatch_epoch(X, y, sw, order, theta, state, L.LOG_LOSS, 0.1, 1e-3, 0.0,
                                      2, 0, 0.1, 0.5, 1.0, HYPER, len(y), True, float(t))  # fmt: skip
        out.append((theta.copy(), res))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_every_backend_is_tested():
    assert "python" in BACKENDS and "numpy" in BACKENDS


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("code", "n_out", "l1_ratio", "schedule"),
    [
        (L.LOG_LOSS, 1, 0.0, 0),  # the deferred step
        (L.HINGE, 3, 0.15, 1),  # L1: the step at once, one-vs-rest
        (L.HINGE, 1, 0.0, L.PA1),
    ],
)
def test_sgd_epoch_read_ahead_thread_changes_nothing(dtype, code, n_out, l1_ratio, schedule):
    """Cython's plain epoch on rows that fill more than its read-ahead threshold
    runs with a second thread reading the rows ahead: the same bits as on one
    thread, and numba's epoch up to rounding."""
    if "cython" not in COMPILED_BACKENDS:
        pytest.skip("the Cython backend is not built")
    itemsize = np.dtype(dtype).itemsize
    n = 20 * 2**20 // (100 * itemsize)  # 20 MiB of rows, over the 16 MiB threshold
    X, y, sw, order = _problem(dtype, n=n, d=100, n_out=n_out, code=code)
    X /= 10
    mod = kernel_module("cython", "sgd")
    out = {}
    for b, threads in (("cython", 1), ("cython", 2), ("numba", 1)):
        set_num_threads(threads)
        if b == "cython":
            assert mod.read_ahead_threads(n, 100 * itemsize) == threads
        theta = np.zeros((n_out, 101), dtype=dtype)
        q = np.zeros_like(theta)
        t, u, losses = 1.0, 0.0, []
        for _ in range(2):
            loss, t, u = kernel_module(b, "sgd").sgd_epoch(
                X, y, sw, order, theta, q, code, 0.1, 1e-4, l1_ratio, schedule, 0.01, 0.5, 1.0,
                True, t, u,
            )  # fmt: skip
            losses.append(loss)
        out[(b, threads)] = (theta, losses, t, u)
    one, two, numba = out[("cython", 1)], out[("cython", 2)], out[("numba", 1)]
    np.testing.assert_array_equal(two[0], one[0])
    assert two[1:] == one[1:]
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(two[0], numba[0], rtol=rtol * 100, atol=atol * 100)
    np.testing.assert_allclose(two[1], numba[1], rtol=rtol * 100)
    assert two[2] == numba[2]
    assert mod.read_ahead_threads(1000, 800) == 1  # small data: one thread


def _csr(X, stored):
    """CSR arrays (data, int64 indices, int64 indptr) of X keeping the entries where
    ``stored`` (a mask; stored zeros allowed, as scipy.sparse keeps them)."""
    rows, cols = np.nonzero(stored)
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
    return np.ascontiguousarray(X[rows, cols]), cols.astype(np.int64), indptr


def _sparse_problem(dtype, n_out, code, seed=1):
    X, y, sw, order = _problem(dtype, n=150, d=9, n_out=n_out, code=code, seed=seed)
    rng = np.random.default_rng(seed)
    stored = rng.random(X.shape) < 0.35
    stored[:7] = False  # empty rows (PA-I skips them; the others step the intercept)
    X[rng.random(X.shape) < 0.1] = 0.0  # some stored zeros
    X[~stored] = 0.0
    return X, stored, y, sw, order


SPARSE_CASES = [
    # code, n_out, alpha, l1_ratio, schedule, average
    (L.LOG_LOSS, 1, 1e-3, 0.0, 1, 0),
    (L.HINGE, 3, 1e-3, 0.15, 0, 0),  # one-vs-rest, elastic net
    (L.HUBER, 1, 1e-2, 1.0, 2, 0),  # L1 on the stored columns
    (L.MODIFIED_HUBER, 1, 0.5, 0.0, 1, 0),  # strong L2: the scale-factor reset
    (L.HINGE, 1, 1e-3, 0.0, L.PA1, 0),  # passive-aggressive over empty rows
    (L.SQUARED_ERROR, 1, 0.5, 0.3, 2, 20),  # averaged, with the reset and L1
    (L.LOG_LOSS, 3, 1e-3, 0.0, 0, 1),  # averaged from the first step
]


@pytest.mark.parametrize("decay", [1.0, 0.01])
@pytest.mark.parametrize(
    ("code", "n_out", "alpha", "l1_ratio", "schedule", "average"), SPARSE_CASES
)
def test_sgd_epoch_sparse_backends_agree(backend, dtype, code, n_out, alpha, l1_ratio, schedule,
                                         average, decay):  # fmt: skip
    X, stored, y, sw, order = _sparse_problem(dtype, n_out, code)
    data, indices, indptr = _csr(X, stored)
    results = {}
    for b in dict.fromkeys(("python", backend)):
        theta = np.zeros((n_out, X.shape[1] + 1), dtype=dtype)
        q, avg, ab = np.zeros_like(theta), np.zeros_like(theta), np.array([0.0, 1.0])
        t, u, losses = 1.0, 0.0, []
        for _ in range(2):
            loss, t, u = kernel_module(b, "sgd").sgd_epoch_sparse(
                data, indices, indptr, y, sw, order, theta, q, avg, ab, code, 0.1, alpha,
                l1_ratio, schedule, 0.05, 0.5, 10.0, True, t, u, average, decay)  # fmt: skip
            losses.append(loss)
        assert theta.dtype == dtype
        results[b] = (theta, q, avg, ab, losses, t, u)
    rtol, atol = _tol(dtype)
    for got, ref in zip(results[backend], results["python"], strict=True):
        np.testing.assert_allclose(got, ref, rtol=rtol * 10, atol=atol * 10)
    if l1_ratio == 1.0:
        assert (results["python"][0][:, :-1] == 0).any()  # L1 produces exact zeros


@pytest.mark.parametrize(
    ("code", "n_out", "alpha", "l1_ratio", "schedule", "average"), SPARSE_CASES
)
def test_sgd_epoch_sparse_equals_dense(backend, code, n_out, alpha, l1_ratio, schedule, average):
    """Every column stored: the dense epoch exactly (to rounding). Only the nonzero
    columns stored: the same without L1 (the L1 truncation then waits for a
    column's next stored value, as scikit-learn's sparse SGD does)."""
    X, stored, y, sw, order = _sparse_problem(np.float64, n_out, code)
    mod = kernel_module(backend, "sgd")
    for mask in (np.ones_like(stored), stored):
        fits = []
        for sparse in (False, True):
            theta = np.zeros((n_out, X.shape[1] + 1))
            q, avg, ab = np.zeros_like(theta), np.zeros_like(theta), np.array([0.0, 1.0])
            args = (y, sw, order, theta, q, avg, ab, code, 0.1, alpha, l1_ratio, schedule, 0.05,
                    0.5, 10.0, True, 1.0, 0.0, average)  # fmt: skip
            if sparse:
                res = mod.sgd_epoch_sparse(*_csr(X, mask), *args, 1.0)  # intercept_decay 1
            else:
                res = mod.sgd_epoch_averaged(X, *args)
            fits.append((theta, avg, res))
        if mask is stored and l1_ratio > 0:
            assert not np.allclose(fits[0][0], fits[1][0])  # the truncation differs
            continue
        for got, ref in zip(fits[1], fits[0], strict=True):
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
