"""The estimator driver's shortcuts are exact: the next epoch's order drawn on a
worker thread, the row-sum finiteness check, counted integer labels, and the
starting loss computed once per class. Each is compared with the plain
computation it replaces."""

from __future__ import annotations

import numpy as np
import pytest

import fastml
from fastml import _shuffle
from fastml._validation import all_finite
from fastml.linear_model import SGDClassifier, SGDRegressor, _labels


@pytest.fixture
def ahead_always(monkeypatch):
    """Draw ahead on any size (the threshold only keeps tiny fits off the thread)."""
    monkeypatch.setattr(_shuffle, "AHEAD_MIN_ROWS", 0)


@pytest.mark.parametrize("epochs, used", [(4, 4), (4, 2), (1, 1)])
def test_orders_drawn_ahead_are_the_generator_stream(ahead_always, epochs, used):
    rows = np.arange(1000, dtype=np.int64)
    rng, ref = np.random.default_rng(7), np.random.default_rng(7)
    with _shuffle.EpochOrders(rng, rows, shuffle=True, ahead=True) as orders:
        got = [orders.next(more=e + 1 < epochs) for e in range(used)]  # may stop early
    for order in got:
        assert np.array_equal(order, ref.permutation(rows))
    # a draw made ahead and not used is undone: the stream goes on as if never drawn
    assert rng.bit_generator.state == ref.bit_generator.state
    assert np.array_equal(rng.permutation(rows), ref.permutation(rows))


def test_orders_without_shuffle_are_the_rows(ahead_always):
    rows = np.arange(50, dtype=np.int64)[::-1].copy()
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with _shuffle.EpochOrders(rng, rows, shuffle=False, ahead=True) as orders:
        assert orders.next(more=True) is rows
    assert rng.bit_generator.state == state


def test_orders_undo_the_draw_when_the_epoch_fails(ahead_always):
    rows = np.arange(100, dtype=np.int64)
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    with pytest.raises(RuntimeError):
        with _shuffle.EpochOrders(rng, rows, shuffle=True, ahead=True) as orders:
            orders.next(more=True)
            raise RuntimeError("diverged")
    ref.permutation(rows)
    assert rng.bit_generator.state == ref.bit_generator.state


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_fit_with_orders_drawn_ahead_equals_fit_drawing_in_turn(monkeypatch, backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 7))
    y = (X[:, 0] + 0.3 * rng.standard_normal(600) > 0).astype(int)
    kw = dict(max_iter=6, tol=1e-3, n_iter_no_change=2, random_state=4, backend=backend)

    def fit_twice():
        with fastml.use_backend(backend):
            m = SGDClassifier(**kw).fit(X, y)
            m.partial_fit(X, y)  # continues the same random stream
        return m

    pools = []

    class CountingPool(_shuffle.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(_shuffle, "ThreadPoolExecutor", CountingPool)
    with fastml.use_num_threads(2):  # the worker thread needs a second thread allowed
        monkeypatch.setattr(_shuffle, "AHEAD_MIN_ROWS", 0)
        ahead = fit_twice()
        assert pools, "the orders were not drawn ahead"
        monkeypatch.setattr(_shuffle, "AHEAD_MIN_ROWS", 10**12)
        n_pools = len(pools)
        inline = fit_twice()
        assert len(pools) == n_pools
    assert ahead.n_iter_ == inline.n_iter_
    np.testing.assert_array_equal(ahead.coef_, inline.coef_)
    np.testing.assert_array_equal(ahead.intercept_, inline.intercept_)
    assert ahead.history_["loss"] == inline.history_["loss"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4), (1000, 70), (70, 1000), (5000, 1)])
def test_all_finite_matches_isfinite(dtype, shape):
    rng = np.random.default_rng(1)
    X = rng.standard_normal(shape).astype(dtype)
    assert all_finite(X)
    big = np.finfo(dtype).max
    for value in (np.nan, np.inf, -np.inf):
        Y = X.copy()
        Y[shape[0] // 2, shape[1] - 1] = value
        assert not all_finite(Y)
    Y = X.copy()
    Y[0, :] = big  # finite, but the row sum overflows: the exact check decides
    Y[-1, 0] = -big
    assert all_finite(Y)
    Y[0, 0] = np.inf  # with -inf elsewhere a row sum could cancel to NaN
    Y[0, -1] = -np.inf
    assert not all_finite(Y)
    assert all_finite(np.asfortranarray(X)) and all_finite(X[::2, ::-1])


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_every_position_and_bit_pattern(dtype, compiled, monkeypatch):
    """The compiled check (over blocks of 65536 elements, on 1 or 2 threads) and
    the NumPy fallback against ``isfinite``: non-finite values at block edges and
    ends, every kind of NaN bit pattern, and the extreme finite values."""
    from fastml import _validation

    if compiled and _validation._compiled_all_finite() is None:
        pytest.skip("the Cython extension is not built")
    if not compiled:
        monkeypatch.setattr(_validation, "_compiled_all_finite", lambda: None)
    info = np.finfo(dtype)
    ints = np.uint64 if dtype == np.float64 else np.uint32
    exp = ints(0x7FF0000000000000) if dtype == np.float64 else ints(0x7F800000)
    top = ints(1) << ints(8 * np.dtype(dtype).itemsize - 1)
    nans = [np.array(b, ints).view(dtype) for b in (exp | ints(1), exp | ints(3) | top)]
    finite = [info.max, -info.max, info.tiny, info.smallest_subnormal, -0.0]
    n = 3 * 65536 + 17
    X = np.random.default_rng(2).standard_normal(n).astype(dtype).reshape(-1, 1)
    X[:5, 0] = finite
    for threads in (1, 2):
        with fastml.use_num_threads(threads):
            assert all_finite(X) and all_finite(X.reshape(1, -1))
            for at in (0, 65535, 65536, 2 * 65536 + 1, n - 1):
                for value in [np.nan, np.inf, -np.inf, *nans]:
                    Y = X.copy()
                    Y[at, 0] = value
                    assert not np.isfinite(Y).all()
                    assert not all_finite(Y), (at, value)


def test_fit_rejects_non_finite_x_before_work():
    X = np.random.default_rng(0).standard_normal((700, 100))
    X[650, 99] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        SGDClassifier().fit(X, np.arange(700) % 2)


@pytest.mark.parametrize(
    "y",
    [
        np.random.default_rng(0).integers(0, 2, 5000),
        np.random.default_rng(1).integers(-5, 3, 1000).astype(np.int8),
        np.array([-128, 127, 0, 127], dtype=np.int8),
        np.array([3, 1, 3], dtype=np.uint8),
        np.array([2**64 - 1, 2**64 - 3, 2**64 - 1], dtype=np.uint64),
        np.array([2**62, -(2**62), 0]),  # range too wide to count: sorted
        np.random.default_rng(2).integers(0, 10**9, 100),
        np.array([2.0, -1.0, 2.0, 0.5]),
        np.array(["b", "a", "c", "a"]),
        np.array([True, False, True]),
    ],
)
def test_labels_equal_numpy_unique(y):
    classes, idx = _labels(y)
    ref_classes, ref_idx = np.unique(y, return_inverse=True)
    assert classes.dtype == ref_classes.dtype
    np.testing.assert_array_equal(classes, ref_classes)
    np.testing.assert_array_equal(idx, ref_idx.reshape(-1))


@pytest.mark.parametrize("loss", ["log_loss", "hinge", "modified_huber", "squared_hinge"])
@pytest.mark.parametrize("classes", [2, 4])
def test_starting_loss_per_class_equals_per_row(loss, classes):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 6))
    y = rng.integers(0, classes, 400)
    sw = rng.random(400) + 0.1
    m = SGDClassifier(loss=loss, max_iter=1, tol=None, class_weight="balanced", random_state=0,
                      learning_rate="constant", eta0=1e-3).fit(X, y, sample_weight=sw)  # fmt: skip
    theta = np.zeros_like(m.theta_)
    theta[:, -1] = rng.standard_normal(theta.shape[0])  # a nonzero intercept too
    code = m._loss_code()
    yk, w = m._targets_for_loss, m._weights(sw, 400)
    per_class = m._mean_loss(X, yk, w, theta, code, 0.1, m._class_idx)
    per_row = m._mean_loss(X, yk, w, theta, code, 0.1)
    assert per_class == pytest.approx(per_row, rel=1e-12)


def test_regressor_starting_loss_is_per_row():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((300, 4))
    y = X @ rng.standard_normal(4) + 3.0
    m = SGDRegressor(max_iter=1, tol=None, random_state=0).fit(X, y)
    assert m._initial_loss == pytest.approx(0.5 * np.mean(y**2), rel=1e-12)


def _curvature_oracle(X, sw, fit_intercept):
    A = np.asarray(X, np.float64)
    if fit_intercept:
        A = np.hstack([A, np.ones((len(A), 1))])
    return np.linalg.eigvalsh(A.T @ (A * np.asarray(sw, np.float64)[:, None]) / len(A))[-1]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weights", ["unit", "random", "with_zeros"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_curvature_from_gram_is_the_exact_eigenvalue(monkeypatch, fit_intercept, weights, dtype):
    from fastml import linear_model

    monkeypatch.setattr(linear_model, "GRAM_CHUNK_ROWS", 7)  # several pieces and a short last one
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((250, 9)) * rng.uniform(0.1, 5.0, 9) + 2.0).astype(dtype)
    sw = {"unit": np.ones(250), "random": rng.uniform(0.0, 3.0, 250),
          "with_zeros": np.where(rng.random(250) < 0.3, 0.0, 1.5)}[weights]  # fmt: skip
    got = linear_model._largest_curvature(X, sw, fit_intercept)
    assert got == pytest.approx(_curvature_oracle(X, sw, fit_intercept), rel=1e-12)


def test_curvature_by_power_iteration_beyond_the_gram_limit():
    from fastml.linear_model import _largest_curvature

    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 12)) + np.linspace(0.0, 3.0, 12)  # a clear top eigenvalue
    sw = rng.uniform(0.5, 2.0, 400)
    exact = _curvature_oracle(X, sw, True)
    power = _largest_curvature(X, sw, True, gram_max_features=11)
    assert power <= exact * (1 + 1e-12)  # power iteration approaches from below
    assert power == pytest.approx(exact, rel=1e-6)
    assert _largest_curvature(np.zeros((5, 3)), np.ones(5), False) == 0.0
    assert _largest_curvature(np.zeros((5, 3)), np.ones(5), False, gram_max_features=0) == 0.0
    with np.errstate(over="ignore"):  # X^T X overflows: no finite bound, and no LinAlgError
        assert _largest_curvature(np.full((4, 2), 1e300), np.ones(4), True) == np.inf
