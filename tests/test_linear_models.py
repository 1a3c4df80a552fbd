"""fastml.linear_model estimators against their oracles: scikit-learn's
SGDClassifier/SGDRegressor (same algorithm), closed-form least squares,
scikit-learn's lbfgs LogisticRegression, and the estimators' own contracts
(partial_fit == fit, early stopping, divergence, bad input, scikit-learn API)."""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

from fastml._base import NotFittedError
from fastml.linear_model import (
    DivergenceError,
    LinearRegression,
    LogisticRegression,
    SGDClassifier,
    SGDRegressor,
)

sk_lm = pytest.importorskip("sklearn.linear_model")


def _clf_data(n=300, d=5, classes=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)) * 2
    y = rng.integers(0, classes, n)
    X = centers[y] + rng.standard_normal((n, d))
    return X.astype(dtype), y


def _reg_data(n=200, d=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y


@pytest.mark.parametrize(
    ("loss", "penalty", "learning_rate"),
    [
        ("hinge", "l2", "optimal"),
        ("log_loss", "elasticnet", "constant"),
        ("modified_huber", "l1", "invscaling"),
        ("squared_hinge", None, "adaptive"),
    ],
)
def test_sgdclassifier_matches_sklearn_without_shuffle(fast_backend, loss, penalty, learning_rate):
    """Same algorithm, same order (shuffle=False): same model up to rounding."""
    X, y = _clf_data(classes=2 if loss != "hinge" else 3)
    kw = dict(loss=loss, penalty=penalty, learning_rate=learning_rate, eta0=0.01, alpha=1e-3,
              max_iter=4, tol=None, shuffle=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_lm.SGDClassifier(**kw).fit(X, y)
    got = SGDClassifier(**kw, backend=fast_backend).fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)
    assert got.t_ == ref.t_
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))


@pytest.mark.parametrize("loss", ["squared_error", "huber", "epsilon_insensitive"])
def test_sgdregressor_matches_sklearn_without_shuffle(loss):
    X, y = _reg_data()
    kw = dict(loss=loss, max_iter=3, tol=None, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_lm.SGDRegressor(**kw).fit(X, y)
    got = SGDRegressor(**kw).fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)
    assert got.coef_.shape == ref.coef_.shape and got.intercept_.shape == ref.intercept_.shape


def test_sgd_default_run_converges_like_sklearn():
    X, y = _clf_data(n=400, classes=3)
    got = SGDClassifier(random_state=0).fit(X, y)
    ref = sk_lm.SGDClassifier(random_state=0).fit(X, y)
    assert got.stop_reason_ == "tol" and got.n_iter_ < 1000
    assert got.score(X, y) >= ref.score(X, y) - 0.03


def test_backends_agree_with_shuffling(backend):
    X, y = _clf_data(n=120, classes=3)
    kw = dict(loss="log_loss", max_iter=3, tol=None, random_state=7)
    ref = SGDClassifier(**kw, backend="python").fit(X, y)
    got = SGDClassifier(**kw, backend=backend).fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.history_["loss"], ref.history_["loss"], rtol=1e-9)


def test_linear_regression_converges_to_least_squares(fast_backend, dtype):
    X, y = _reg_data(dtype=dtype)
    m = LinearRegression(tol=1e-7, max_iter=3000, backend=fast_backend).fit(X, y)
    A = np.hstack([X.astype(np.float64), np.ones((len(y), 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    tol = 1e-6 if dtype == np.float64 else 1e-3
    assert m.coef_.dtype == dtype and m.predict(X).dtype == dtype
    np.testing.assert_allclose(m.coef_, sol[:-1], atol=tol)
    np.testing.assert_allclose(m.intercept_[0], sol[-1], atol=tol)
    assert m.stop_reason_ == "gradient_tol"


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_regression_converges_to_sklearn_lbfgs(fast_backend, classes):
    """alpha = 1 / (C n): the same optimum as scikit-learn's lbfgs, to 1e-4."""
    X, y = _clf_data(n=300, classes=classes, seed=2)
    w = np.random.default_rng(5).uniform(0.5, 1.5, len(y))
    got = LogisticRegression(C=0.5, tol=1e-8, max_iter=5000, backend=fast_backend)
    got.fit(X, y, sample_weight=w)
    ref = sk_lm.LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-4)
    if classes == 2:
        np.testing.assert_allclose(got.intercept_, ref.intercept_, atol=1e-4)
    else:  # softmax intercepts are defined up to a constant shift
        np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(got.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))


def test_full_batch_ignores_shuffle(fast_backend):
    """The full batch visits rows in storage order whatever ``shuffle`` says
    (its gradient is a sum): the same model, bit for bit."""
    X, y = _clf_data(n=300, classes=3, seed=4)
    fits = [
        LogisticRegression(max_iter=20, tol=None, shuffle=s, random_state=0, backend=fast_backend)
        .fit(X, y)
        .coef_
        for s in (True, False)
    ]
    np.testing.assert_array_equal(fits[0], fits[1])


def test_optimizers_reduce_the_loss(fast_backend):
    X, y = _clf_data(n=300, classes=3)
    for opt in ("momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        m = SGDClassifier(loss="log_loss", multi_class="multinomial", optimizer=opt, eta0=0.02,
                          batch_size=16, max_iter=15, tol=None, random_state=0,
                          backend=fast_backend).fit(X, y)  # fmt: skip
        hist = m.history_["loss"]
        assert hist[-1] < 0.5 * hist[0], (opt, hist)
        assert m.score(X, y) > 0.8


def test_adam_first_step_matches_keras_formula():
    """Adam's first step moves every weight by about lr (m/sqrt(v) = sign(g) at t=1)."""
    X = np.array([[1.0, -2.0], [3.0, 1.0]])
    y = np.array([1.0, 2.0])
    m = SGDRegressor(optimizer="adam", eta0=0.001, batch_size=None, max_iter=1, tol=None,
                     penalty=None, shuffle=False).fit(X, y)  # fmt: skip
    g = np.r_[X.T @ (-y) / 2, -y.mean()]  # gradient at zero
    # Keras: m = (1-b1) g, v = (1-b2) g^2, step = lr sqrt(1-b2)/(1-b1) m / (sqrt(v) + eps)
    step = 0.001 * g / (np.abs(g) + 1e-7 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(np.r_[m.coef_, m.intercept_], -step, rtol=1e-6)


def test_partial_fit_equals_fit(fast_backend):
    X, y = _clf_data(n=200, classes=3)
    kw = dict(loss="log_loss", random_state=3, tol=None, backend=fast_backend)
    full = SGDClassifier(max_iter=4, **kw).fit(X, y)
    inc = SGDClassifier(**kw)
    for _ in range(4):
        inc.partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_allclose(inc.coef_, full.coef_, rtol=1e-12)
    assert inc.t_ == full.t_
    kw.pop("loss")
    for opt in ("adam",):  # optimizer state carried across calls
        full = SGDRegressor(optimizer=opt, batch_size=8, max_iter=3, **kw).fit(*_reg_data())
        inc = SGDRegressor(optimizer=opt, batch_size=8, **kw)
        for _ in range(3):
            inc.partial_fit(*_reg_data())
        np.testing.assert_allclose(inc.coef_, full.coef_, rtol=1e-12)
        assert len(inc.history_["loss"]) == 3


def test_early_stopping_restores_best_epoch():
    X, y = _reg_data(n=200)
    rng = np.random.default_rng(0)
    y = y + rng.standard_normal(len(y)) * 3  # noisy: validation loss goes up and down
    m = SGDRegressor(learning_rate="constant", eta0=0.05, early_stopping=True,
                     n_iter_no_change=3, tol=0.0, max_iter=200, random_state=0).fit(X, y)  # fmt: skip
    val = m.history_["val_loss"]
    best = int(np.argmin(val)) + 1
    assert m.stop_reason_ == "early_stopping"
    assert m.best_epoch_ == best and m.n_iter_ > best
    # the restored weights reproduce the best epoch's validation loss
    rerun = SGDRegressor(learning_rate="constant", eta0=0.05, early_stopping=True, tol=None,
                         max_iter=best, random_state=0).fit(X, y)  # fmt: skip
    np.testing.assert_allclose(m.coef_, rerun.coef_, rtol=1e-12)


def test_divergence_raises_naming_the_epoch():
    X, y = _reg_data()
    X = X * 1e3
    with pytest.raises(DivergenceError, match=r"epoch \d+.*smaller learning rate"):
        SGDRegressor(learning_rate="constant", eta0=10.0, max_iter=50).fit(X, y)
    # full batch: an epoch's loss is measured before its step, so step 1 shows in epoch 2
    with pytest.raises(DivergenceError, match="diverged at epoch 2"):
        LinearRegression(eta0=1e3, optimizer="sgd").fit(X, y)
    with pytest.raises(DivergenceError, match="under-/overflow occurred at epoch #"):
        LinearRegression(eta0=1e30, optimizer="sgd").fit(X.astype(np.float32), y)


def test_divergence_is_reported_whatever_the_numpy_error_setting():
    """scikit-learn's test_underflow_or_overflow: under np.errstate(all="raise")
    the driver's own arithmetic on diverging weights must not raise numpy's
    FloatingPointError; the DivergenceError (a ValueError) says what happened,
    with scikit-learn's sentence."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 10))
    X[:, :2] *= 1e300
    y = (rng.normal(size=100) > 0).astype(int)
    # (which of fastml's two rules fires first depends on the shuffling)
    message = (
        r"Floating-point under-/overflow occurred at epoch #.* Scaling input data with "
        r"StandardScaler or MinMaxScaler might help|diverged at epoch \d+: the loss grew"
    )
    with np.errstate(all="raise"):
        for seed in range(4):
            with pytest.raises(ValueError, match=message):
                SGDClassifier(alpha=0.1, loss="squared_hinge", random_state=seed).fit(X, y)
        scaled = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
        kw = dict(alpha=0.1, loss="squared_hinge", max_iter=500)
        model = SGDClassifier(**kw, random_state=0).fit(scaled, y)
    assert np.isfinite(model.coef_).all()
    # The "optimal" schedule's first steps (eta 1.78) can blow the loss up for
    # a while; a fit that comes back below the divergence factor finishes.
    recovering = SGDClassifier(**kw, random_state=10).fit(scaled, y)
    losses = np.array(recovering.history_["loss"])
    assert (losses > 1e12).sum() > 10 and losses[-1] < 1e12
    # partial_fit: DIVERGENCE_EPOCHS calls in a row above the factor raise
    stream = SGDClassifier(**kw, random_state=10)
    with pytest.raises(DivergenceError, match="diverged at epoch 1: the loss grew"):
        for _ in range(10):
            stream.partial_fit(scaled, y, classes=[0, 1])
    assert len(stream.history_["loss"]) == 2  # the third call raised


def test_perceptron_from_zero_loss_is_not_divergence():
    """The perceptron's loss of zero weights is 0, so a factor of it cannot tell
    divergence: every later loss would be "1e12 times" 0. Classifiers measure
    the factor from at least a unit margin's loss (CLASSIFIER_LOSS_FLOOR). On
    standardised iris scikit-learn's perceptron scores 0.967; a loss that stays
    1e12 times above the floor still raises."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    for multi in (True, False):
        target = y if multi else (y == 2).astype(int)
        ours = SGDClassifier(loss="perceptron", random_state=0).fit(X, target)
        sk = sk_lm.SGDClassifier(loss="perceptron", random_state=0).fit(X, target)
        assert ours.history_["loss"][0] > 1.0  # above the old threshold (1e12 * 1e-12)
        assert ours.score(X, target) >= sk.score(X, target) - 0.05
    # Finite but huge: unscaled features (1e8) and random labels keep the loss
    # about 1e16, above 1e12 times the floor, to the end.
    noise = np.random.default_rng(0).integers(0, 2, len(y))
    with pytest.raises(DivergenceError, match="from 0 at the start .* above 1e\\+12 times 1 at"):
        SGDClassifier(loss="perceptron", random_state=0, eta0=1.0, learning_rate="constant",
                      max_iter=5, tol=None).fit(X * 1e8, noise)  # fmt: skip


def test_partial_fit_keeps_the_first_dtype(backend):
    """A later partial_fit call in another dtype trains the model in the dtype
    it was first trained in (its data converted), on every backend alike: the
    same model as converting the data by hand (the Cython kernels, typed per
    dtype, raised a buffer dtype mismatch)."""
    pytest.importorskip("scipy.sparse")
    import scipy.sparse as sp

    X, y = _clf_data()
    kw = dict(backend=backend, max_iter=2, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 2 epochs on purpose
        mixed = SGDClassifier(**kw).fit(X.astype(np.float32), y)
        by_hand = SGDClassifier(**kw).fit(X.astype(np.float32), y)
    mixed.partial_fit(X, y)
    mixed.partial_fit(sp.csr_matrix(X), y)
    by_hand.partial_fit(X.astype(np.float32), y)
    by_hand.partial_fit(sp.csr_matrix(X.astype(np.float32)), y)
    assert mixed.coef_.dtype == np.float32
    np.testing.assert_array_equal(mixed.coef_, by_hand.coef_)
    np.testing.assert_array_equal(mixed.intercept_, by_hand.intercept_)
    reg = SGDRegressor(backend=backend, random_state=0).partial_fit(X, y.astype(float))
    reg.partial_fit(X.astype(np.float32), y)
    assert reg.coef_.dtype == np.float64


def test_mixed_dtype_prediction_computes_in_float64():
    """DESIGN's rule: a float32 / float64 pair computes in float64. A float64
    model scoring float32 X (dense, sparse, or with a sparsified coef_) gives
    float64 scores equal to those of X upcast by hand; float32 with float32
    stays float32."""
    import scipy.sparse as sp

    X, y = _clf_data(classes=3)
    kw = dict(loss="log_loss", max_iter=3, tol=None, random_state=0)
    m64 = SGDClassifier(**kw).fit(X, y)
    m32 = SGDClassifier(**kw).fit(X.astype(np.float32), y)
    X32 = X.astype(np.float32)
    exact = m64.decision_function(X32.astype(np.float64))
    for data in (X32, sp.csr_matrix(X32)):
        got = m64.decision_function(data)
        assert got.dtype == np.float64 and m64.predict_proba(data).dtype == np.float64
        np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-13)
        assert m32.decision_function(data).dtype == np.float32
    assert m32.decision_function(X).dtype == np.float64
    m64.sparsify()
    np.testing.assert_allclose(m64.decision_function(X32), exact, rtol=1e-13, atol=1e-13)


def test_float32_trains_in_float32(fast_backend):
    X, y = _clf_data(dtype=np.float32, classes=3)
    kw = dict(loss="log_loss", learning_rate="constant", eta0=0.01, max_iter=3, random_state=0)
    m = SGDClassifier(**kw, backend=fast_backend).fit(X, y)
    assert m.coef_.dtype == np.float32 and m.intercept_.dtype == np.float32
    assert m.decision_function(X).dtype == np.float32
    assert m.predict_proba(X).dtype == np.float32
    m64 = SGDClassifier(**kw, backend=fast_backend)
    m64.fit(X.astype(np.float64), y)
    np.testing.assert_allclose(m.coef_, m64.coef_, rtol=1e-3, atol=1e-4)


def test_predict_proba_and_class_weight():
    X, y = _clf_data(n=300, classes=3)
    for loss in ("log_loss", "modified_huber"):
        m = SGDClassifier(loss=loss, random_state=0).fit(X, y)
        P = m.predict_proba(X)
        assert P.shape == (300, 3)
        np.testing.assert_allclose(P.sum(axis=1), 1.0)
        np.testing.assert_allclose(np.exp(m.predict_log_proba(X)), P)
    with pytest.raises(AttributeError, match="loss='log_loss'"):
        SGDClassifier(loss="hinge").fit(X, y).predict_proba(X)
    # class_weight="balanced" on imbalanced data raises the minority recall
    keep = (y != 1) | (np.arange(len(y)) % 6 == 0)
    Xi, yi = X[keep], y[keep]
    plain = SGDClassifier(random_state=0).fit(Xi, yi)
    bal = SGDClassifier(class_weight="balanced", random_state=0).fit(Xi, yi)
    rec = lambda m: np.mean(m.predict(Xi[yi == 1]) == 1)  # noqa: E731
    assert rec(bal) >= rec(plain)
    w = {0: 1.0, 1: 3.0, 2: 1.0}
    a = SGDClassifier(class_weight=w, max_iter=3, tol=None, shuffle=False).fit(Xi, yi)
    b = SGDClassifier(max_iter=3, tol=None, shuffle=False).fit(
        Xi, yi, sample_weight=np.where(yi == 1, 3.0, 1.0)
    )
    np.testing.assert_allclose(a.coef_, b.coef_)


def test_string_labels_history_verbose_and_warm_start():
    X, y = _clf_data(n=200)
    labels = np.array(["cat", "dog"])[y]
    buf = io.StringIO()
    with redirect_stdout(buf):
        m = SGDClassifier(verbose=1, max_iter=3, tol=None, random_state=0).fit(X, labels)
    assert buf.getvalue().count("-- Epoch") == 3
    assert set(m.predict(X)) <= {"cat", "dog"}
    assert m.coef_.shape == (1, 5) and m.intercept_.shape == (1,)
    assert set(m.history_) == {"loss", "lr", "time"} and len(m.history_["lr"]) == 3
    assert m.n_iter_ == 3 and m.stop_reason_ == "max_iter"
    warm = SGDClassifier(warm_start=True, max_iter=1, tol=None, random_state=0, eta0=0.1,
                         learning_rate="constant").fit(X, labels)  # fmt: skip
    first = warm.coef_.copy()
    warm.fit(X, labels)
    cold = SGDClassifier(max_iter=1, tol=None, random_state=0, eta0=0.1,
                         learning_rate="constant").fit(X, labels)  # fmt: skip
    np.testing.assert_allclose(cold.coef_, first)
    assert not np.allclose(warm.coef_, first)


def test_bad_input_errors():
    X, y = _clf_data(n=50)
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        SGDClassifier().fit(Xnan, y)
    with pytest.raises(ValueError, match="NaN or infinity"):
        SGDRegressor().fit(X, np.where(np.arange(50) == 2, np.inf, 1.0))
    with pytest.raises(ValueError, match="at least 2 classes"):
        SGDClassifier().fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SGDClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        SGDClassifier().fit(X, y, sample_weight=np.ones(49))
    with pytest.raises(ValueError, match="unknown loss"):
        SGDClassifier(loss="nope").fit(X, y)
    with pytest.raises(ValueError, match="unknown loss"):
        SGDRegressor(loss="hinge").fit(X, y)
    with pytest.raises(ValueError, match="unknown optimizer"):
        SGDClassifier(optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        SGDClassifier(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="eta0 must be > 0"):
        SGDClassifier(learning_rate="constant", eta0=0.0).fit(X, y)
    with pytest.raises(ValueError, match="batch_size"):
        SGDClassifier(batch_size=0).fit(X, y)
    with pytest.raises(ValueError, match="classes must be passed"):
        SGDClassifier().partial_fit(X, y)
    with pytest.raises(NotFittedError):
        SGDClassifier().predict(X)
    with pytest.raises(NotFittedError):
        LinearRegression().predict(X)
    m = SGDClassifier(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="has 4 features, but SGDClassifier is expecting 5"):
        m.predict(X[:, :4])
    with pytest.raises(ValueError, match="C must be a positive"):
        LogisticRegression(C=0).fit(X, y)


def test_sklearn_api_clone_gridsearch_pipeline():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _clf_data(n=120)
    est = SGDClassifier(loss="log_loss", alpha=1e-3)
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    assert "loss='log_loss'" in repr(est)
    gs = GridSearchCV(SGDClassifier(max_iter=20, random_state=0), {"alpha": [1e-4, 1e-2]}, cv=3)
    gs.fit(X, y)
    assert gs.best_params_["alpha"] in (1e-4, 1e-2)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.8
    Xr, yr = _reg_data()
    assert make_pipeline(StandardScaler(), LinearRegression()).fit(Xr, yr).score(Xr, yr) > 0.99


def test_plot_history():
    pytest.importorskip("matplotlib")
    from fastml.plotting import plot_history

    X, y = _reg_data()
    m = SGDRegressor(early_stopping=True, max_iter=10, random_state=0).fit(X, y)
    fig = plot_history(m)
    assert len(fig.axes[0].lines) == 2


def test_partial_fit_refuses_what_one_batch_cannot_do():
    """As scikit-learn: early stopping needs a validation split of all the data,
    and "balanced" class weights need all of y, not one batch's."""
    X, y = _clf_data(n=60)
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        SGDClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        SGDRegressor(early_stopping=True).partial_fit(*_reg_data(n=60))
    with pytest.raises(ValueError, match="class_weight 'balanced' is not supported for partial"):
        SGDClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])
    SGDClassifier(class_weight={0: 1.0, 1: 2.0}).partial_fit(X, y, classes=[0, 1])


def test_all_zero_validation_weights_are_an_error():
    """Early stopping could only watch the penalty (epoch 1 would always look
    best); scikit-learn raises too."""
    X, y = _clf_data(n=200)
    val = np.arange(0, 200, 5)
    train = np.setdiff1d(np.arange(200), val)
    sw = np.ones(200)
    sw[val] = 0.0
    est = SGDClassifier(early_stopping=True, random_state=0)
    est._split = lambda n, fraction: (train, val)  # a known split
    with pytest.raises(ValueError, match="sample weights for validation set are all zero"):
        est.fit(X, y, sample_weight=sw)
    sw[val[0]] = 1.0
    assert est.fit(X, y, sample_weight=sw).n_iter_ >= 1


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
@pytest.mark.parametrize("penalty", ["l1", "l2", None])
def test_l1_ratio_none_when_not_elasticnet(Est, penalty):
    """scikit-learn >= 1.7: l1_ratio may be None unless penalty="elasticnet"."""
    X, y = _clf_data(n=80) if Est is SGDClassifier else _reg_data(n=80)
    kw = dict(penalty=penalty, max_iter=5, tol=None, random_state=0)
    got = Est(l1_ratio=None, **kw).fit(X, y)
    np.testing.assert_array_equal(got.coef_, Est(l1_ratio=0.3, **kw).fit(X, y).coef_)
    with pytest.raises(ValueError, match="l1_ratio must be set when penalty is 'elasticnet'"):
        Est(penalty="elasticnet", l1_ratio=None).fit(X, y)


@pytest.mark.parametrize(
    "make", [lambda: SGDClassifier(max_iter=2, tol=1e-12, random_state=0),
             lambda: SGDRegressor(max_iter=2, tol=1e-12, random_state=0),
             lambda: LinearRegression(max_iter=2, tol=1e-12, optimizer="sgd", eta0=1e-3)]
)  # fmt: skip
def test_warnings_point_at_the_callers_line(make):
    est = make()
    data = _clf_data(n=100) if isinstance(est, SGDClassifier) else _reg_data(n=100)
    with pytest.warns(UserWarning, match="Maximum number of iteration") as rec:
        est.fit(*data)
    assert {w.filename for w in rec} == {__file__}


def test_negative_power_t_is_deprecated_as_in_scikit_learn():
    X, y = _clf_data(n=60)
    with pytest.warns(FutureWarning, match="Negative values for `power_t` are deprecated") as rec:
        SGDClassifier(power_t=-1.0, learning_rate="invscaling", eta0=0.01, tol=None).fit(X, y)
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGDClassifier(power_t=0.0, tol=None, max_iter=3).fit(X, y)


def test_max_iter_reached_warns_and_divergence_is_a_value_error():
    X, y = _clf_data(n=100)
    with pytest.warns(UserWarning, match=r"^Maximum number of iteration reached before converg"):
        SGDClassifier(max_iter=2, tol=1e-12, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGDClassifier(max_iter=2, tol=None, random_state=0).fit(X, y)  # no tol: no warning
    sk_exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.warns(sk_exceptions.ConvergenceWarning):
        SGDRegressor(max_iter=2, tol=1e-12, random_state=0).fit(*_reg_data(n=100))
    assert issubclass(DivergenceError, ValueError)  # scikit-learn raises ValueError there


@pytest.mark.parametrize("backend", ["python", "numpy", "numba", "cython"])
@pytest.mark.parametrize("Est", ["SGDClassifier", "SGDRegressor"])
def test_optimal_rate_without_penalty_equals_scikit_learn(Est, backend):
    """learning_rate="optimal" (the classifier's default) takes its alpha from
    the alpha parameter whatever the penalty, as scikit-learn: penalty=None
    used to divide by a zero alpha."""
    from fastml import available_backends

    if backend not in available_backends():
        pytest.skip(f"{backend} not built")
    X, y = _clf_data(n=80) if Est == "SGDClassifier" else _reg_data(n=80)
    kw = dict(penalty=None, learning_rate="optimal", max_iter=5, tol=None, shuffle=False)
    if Est == "SGDRegressor":
        # bounded gradients (squared error diverges at these rates) and no kink
        # inside the data's range (huber's makes the path chaotic in rounding)
        kw["loss"] = "epsilon_insensitive"
    ref = getattr(sk_lm, Est)(**kw).fit(X, y)
    got = globals()[Est](**kw, backend=backend).fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-10, atol=1e-10)


def test_scikit_learn_parameters_accepted():
    """copy_X and n_jobs, as scikit-learn code passes them (X is never modified;
    threads come from fastml.set_num_threads)."""
    X, y = _reg_data(n=100)
    X0 = X.copy()
    a = LinearRegression(copy_X=False, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(a.coef_, LinearRegression().fit(X, y).coef_)
    Xc, yc = _clf_data(n=100)
    b = LogisticRegression(n_jobs=-1).fit(Xc, yc)
    np.testing.assert_array_equal(b.coef_, LogisticRegression().fit(Xc, yc).coef_)


_AVG_BACKENDS = ["python", "numpy", "numba", "cython"]


@pytest.mark.parametrize("backend", _AVG_BACKENDS)
@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet", None])
@pytest.mark.parametrize("average", [True, 7, 200, 10**6])
def test_averaged_sgd_equals_scikit_learn(backend, problem, penalty, average):
    """average= (ASGD), from the first step, from step 7 or 200, or never reached
    (then the plain weights are the model, as in scikit-learn): the same
    coefficients as scikit-learn's for the same order, L1 truncation included."""
    from fastml import available_backends

    if backend not in available_backends():
        pytest.skip(f"{backend} not built")
    if problem == "regression":
        X, y = _reg_data(n=120)
        ours, theirs = SGDRegressor, sk_lm.SGDRegressor
    else:
        X, y = _clf_data(n=120, classes=2 if problem == "binary" else 3)
        ours, theirs = SGDClassifier, sk_lm.SGDClassifier
    kw = dict(penalty=penalty, average=average, max_iter=4, tol=None, shuffle=False)
    ref = theirs(**kw).fit(X, y)
    got = ours(**kw, backend=backend).fit(X, y)
    scale = max(1.0, np.abs(ref.coef_).max())
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-9, atol=1e-11 * scale)
    assert got.t_ == ref.t_


@pytest.mark.parametrize("backend", _AVG_BACKENDS)
def test_averaged_partial_fit_equals_scikit_learn_and_fit(backend):
    """partial_fit carries the plain and the averaged weights from call to call.

    Against scikit-learn without an intercept: once averaging has started, its
    partial_fit does not carry the plain intercept to the next call (it keeps
    a stale _standard_intercept) and, for more than two classes, publishes the
    plain intercepts as intercept_; fastml carries both. With the intercept,
    partial_fit epoch by epoch equals fit (issue 3's rule).
    """
    from fastml import available_backends

    if backend not in available_backends():
        pytest.skip(f"{backend} not built")
    X, y = _clf_data(n=150, classes=3)
    kw = dict(average=10, penalty="l2", shuffle=False, fit_intercept=False)
    ref = sk_lm.SGDClassifier(**kw)
    got = SGDClassifier(**kw, backend=backend)
    for lo, hi in [(0, 60), (60, 150), (0, 150)]:
        ref.partial_fit(X[lo:hi], y[lo:hi], classes=[0, 1, 2])
        got.partial_fit(X[lo:hi], y[lo:hi], classes=[0, 1, 2])
        np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    import scipy.sparse as sp

    def assert_calls_equal_fit(data, **kw):
        inc = SGDClassifier(**kw, backend=backend)
        for _ in range(3):
            inc.partial_fit(data, y, classes=[0, 1, 2])
        full = SGDClassifier(**kw, max_iter=3, tol=None, backend=backend).fit(data, y)
        np.testing.assert_allclose(inc.coef_, full.coef_, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(inc.intercept_, full.intercept_, rtol=1e-12, atol=1e-15)

    kw = dict(shuffle=False, learning_rate="constant", eta0=0.01)
    assert_calls_equal_fit(X, average=10, penalty="l2", **kw)
    # With an L1 term too: its step edits the weights the lazy mean refers to,
    # so the mean is carried in that form (restarting it from plain numbers at
    # each call, as scikit-learn does, differed from fit by 7e-4 relative).
    for penalty in ("l1", "elasticnet"):
        for data in (X, sp.csr_matrix(X)):
            assert_calls_equal_fit(data, average=True, penalty=penalty, **kw)


def test_averaged_sgd_shuffled_float32_early_stopping_and_errors():
    X, y = _clf_data(n=400, d=6)
    kw = dict(average=True, max_iter=6, tol=None, random_state=3)
    runs = {b: SGDClassifier(**kw, backend=b).fit(X, y) for b in ("python", "numba", "cython")}
    for b in ("numba", "cython"):
        np.testing.assert_allclose(runs[b].coef_, runs["python"].coef_, rtol=1e-10)
    plain = SGDClassifier(max_iter=6, tol=None, random_state=3).fit(X, y)
    assert not np.allclose(plain.coef_, runs["python"].coef_)  # the mean is the model
    f32 = SGDClassifier(**kw).fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == np.float32
    np.testing.assert_allclose(f32.coef_, runs["python"].coef_, rtol=1e-3, atol=1e-4)
    es = SGDClassifier(average=True, early_stopping=True, n_iter_no_change=2, max_iter=50,
                       random_state=0).fit(X, y)  # fmt: skip
    assert es.stop_reason_ == "early_stopping" and 1 <= es.best_epoch_ <= es.n_iter_
    assert es.score(X, y) > 0.8
    with pytest.raises(ValueError, match="average .* needs plain SGD"):
        SGDClassifier(average=True, batch_size=8).fit(X, y)
    with pytest.raises(ValueError, match="average"):
        SGDClassifier(average=-1).fit(X, y)


_CLASSES = {
    "SGDClassifier": SGDClassifier,
    "SGDRegressor": SGDRegressor,
    "LogisticRegression": LogisticRegression,
}


@pytest.mark.parametrize(
    ("name", "kwargs", "task"),
    [
        ("SGDClassifier", {"penalty": "l1", "alpha": 0.05}, "binary"),
        ("SGDClassifier", {"penalty": "l1", "alpha": 0.05}, "multiclass"),
        ("SGDRegressor", {"penalty": "l1", "alpha": 0.05}, "regression"),
        ("LogisticRegression", {"penalty": "l1", "C": 0.05}, "multiclass"),
    ],
)
def test_sparsify_and_densify_like_scikit_learn(name, kwargs, task):
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 12))
    score = X[:, 0] - 2.0 * X[:, 1]
    y = {
        "binary": score > 0,
        "multiclass": np.digitize(score, [-1.0, 1.0]),
        "regression": score + 0.1 * rng.standard_normal(300),
    }[task]
    ours = _CLASSES[name](**kwargs).fit(X, y)
    kw = dict(kwargs, solver="saga") if name == "LogisticRegression" else kwargs
    theirs = getattr(sk_lm, name)(**kw).fit(X, y).sparsify()
    before = ours.predict(X)
    dense = ours.coef_.copy()
    assert (dense == 0).sum() > dense.size // 2  # L1 made it sparse: the use case
    assert ours.sparsify() is ours
    assert sparse.issparse(ours.coef_)
    assert ours.coef_.shape == theirs.coef_.shape
    np.testing.assert_array_equal(ours.coef_.toarray(), dense)
    np.testing.assert_array_equal(ours.predict(X), before)
    if hasattr(ours, "decision_function"):
        assert ours.decision_function(X).shape == theirs.decision_function(X).shape
    if name == "LogisticRegression":
        np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0)
    assert ours.densify() is ours
    assert isinstance(ours.coef_, np.ndarray)
    np.testing.assert_array_equal(ours.coef_, dense)
    ours.sparsify().fit(X, y)  # fitting again publishes dense coefficients
    assert isinstance(ours.coef_, np.ndarray)


@pytest.mark.parametrize("name", ["SGDClassifier", "SGDRegressor", "LogisticRegression"])
def test_sparsify_before_fit_raises(name):
    with pytest.raises(NotFittedError):
        _CLASSES[name]().sparsify()
    with pytest.raises(NotFittedError):
        _CLASSES[name]().densify()


def test_initial_weights_of_the_wrong_shape_say_so_like_scikit_learn():
    X, y = _clf_data(classes=3)
    with pytest.raises(ValueError, match="Provided coef_init does not match dataset"):
        SGDClassifier().fit(X, y, coef_init=np.zeros((3, X.shape[1] + 1)))
    with pytest.raises(ValueError, match="Provided intercept_init does not match dataset"):
        SGDClassifier().fit(X, y, intercept_init=np.zeros(2))
    with pytest.raises(ValueError, match="Provided coef_init does not match dataset"):
        SGDRegressor().fit(X, y.astype(float), coef_init=np.zeros(X.shape[1] - 1))


def _multi_target_data(n=240, d=6, t=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = (
        X @ rng.standard_normal((d, t))
        + rng.standard_normal(t)
        + 0.05 * rng.standard_normal((n, t))
    )
    return X, Y


def test_linear_regression_several_targets_like_scikit_learn():
    X, Y = _multi_target_data()
    w = np.random.default_rng(1).random(X.shape[0]) + 0.5
    tight = dict(tol=1e-12, max_iter=20000)
    ours = LinearRegression(**tight).fit(X, Y, sample_weight=w)
    theirs = sk_lm.LinearRegression().fit(X, Y, sample_weight=w)
    assert ours.coef_.shape == theirs.coef_.shape == (3, X.shape[1])
    assert ours.intercept_.shape == theirs.intercept_.shape == (3,)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-9)
    assert ours.predict(X).shape == (X.shape[0], 3)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-8)
    assert ours.score(X, Y) == pytest.approx(theirs.score(X, Y), abs=1e-12)
    assert ours.n_iter_.shape == (3,) and len(ours.history_) == 3 and len(ours.stop_reason_) == 3
    # ridge: one column at a time is the same problem
    n = X.shape[0]
    ridge = LinearRegression(alpha=0.5, **tight).fit(X, Y)
    ref = sk_lm.Ridge(alpha=0.5 * n).fit(X, Y)
    np.testing.assert_allclose(ridge.coef_, ref.coef_, atol=1e-9)


def test_linear_regression_columns_are_single_target_fits():
    X, Y = _multi_target_data(t=2)
    both = LinearRegression(max_iter=50, tol=None).fit(X, Y)
    for j in range(2):
        one = LinearRegression(max_iter=50, tol=None).fit(X, Y[:, j])
        np.testing.assert_array_equal(both.coef_[j], one.coef_)
        np.testing.assert_array_equal(both.intercept_[j], one.intercept_[0])
        assert both.history_[j]["loss"] == one.history_["loss"]
    # a (n, 1) y is one target kept 2-D, as in scikit-learn
    col = LinearRegression().fit(X, Y[:, :1])
    assert col.coef_.shape == (1, X.shape[1]) and col.predict(X).shape == (X.shape[0], 1)
    flat = LinearRegression().fit(X, Y[:, 0])
    assert flat.coef_.shape == (X.shape[1],) and flat.predict(X).shape == (X.shape[0],)


def test_linear_regression_several_targets_inits_and_errors():
    X, Y = _multi_target_data(t=3)
    first = LinearRegression(tol=1e-10, max_iter=5000).fit(X, Y)
    again = LinearRegression(tol=1e-10, max_iter=5000, warm_start=True).fit(X, Y)
    again.fit(X, Y)  # warm: starts at the solution
    assert (again.n_iter_ < first.n_iter_).all()
    given = LinearRegression(tol=1e-10, max_iter=5000).fit(
        X, Y, coef_init=first.coef_, intercept_init=first.intercept_
    )
    assert (given.n_iter_ < first.n_iter_).all()
    with pytest.raises(ValueError, match="Provided coef_init does not match dataset"):
        LinearRegression().fit(X, Y, coef_init=np.zeros((2, X.shape[1])))
    with pytest.raises(ValueError, match="at least one target"):
        LinearRegression().fit(X, Y[:, :0])
    with pytest.raises(ValueError, match="partial_fit takes a 1-D y"):
        LinearRegression().partial_fit(X, Y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LinearRegression().fit(X, Y[:-1])


def test_divergence_is_not_hidden_by_early_stopping():
    """The restored "best" epoch of a run whose every epoch diverged is not a model."""
    X = np.random.default_rng(0).normal(size=(200, 5))
    y = X @ np.ones(5)
    kw = dict(eta0=0.5, learning_rate="constant", max_iter=50, random_state=0, tol=None)
    with pytest.raises(DivergenceError):
        SGDRegressor(**kw, early_stopping=True).fit(X, y)
    with pytest.raises(DivergenceError):
        SGDRegressor(**kw).fit(X, y)


def test_numpy_error_setting_does_not_leak_into_the_whole_driver():
    """Initial loss with coef_init and LinearRegression's step size on data near 1e300:
    numpy's FloatingPointError must not escape from fastml's driver."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 10))
    X[:, :2] *= 1e300
    y = (rng.rand(100) > 0.5).astype(int)
    with np.errstate(all="raise"):
        with pytest.raises(DivergenceError):
            SGDClassifier(alpha=0.1, loss="squared_hinge", random_state=0).fit(
                X, y, coef_init=np.ones((1, 10))
            )
        with pytest.raises(DivergenceError):
            LinearRegression().fit(X, rng.rand(100))


def test_several_targets_warm_start_keeps_given_intercepts_and_failed_fits_change_nothing():
    X, Y = _multi_target_data(t=2)
    m = LinearRegression(warm_start=True, max_iter=1, eta0=1e-12, optimizer="sgd").fit(X, Y)
    m.fit(X, Y, intercept_init=[100.0, 200.0])
    np.testing.assert_allclose(m.intercept_, [100.0, 200.0], rtol=1e-6)
    one = LinearRegression().fit(X, Y[:, 0])
    with pytest.raises(ValueError):
        one.fit(X, np.ones((X.shape[0] - 1, 2)))
    assert one.predict(X).shape == (X.shape[0],)
    from fastml.plotting import plot_history

    with pytest.raises(ValueError, match="one per target"):
        plot_history(LinearRegression(max_iter=5).fit(X, Y))


@pytest.mark.parametrize("backend", _AVG_BACKENDS)
@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize(("penalty", "average"), [("l2", False), ("l1", False), (None, False),
                                                  ("elasticnet", True), ("l2", 9)])  # fmt: skip
def test_passive_aggressive_rates_equal_scikit_learn(
    backend, learning_rate, problem, penalty, average
):
    """learning_rate="pa1" / "pa2" (scikit-learn 1.8's passive-aggressive steps,
    eta0 the aggressiveness C) with sample weights, a zero row (PA-I passes
    over it: not even a step), penalties and averaging: scikit-learn's model
    and step count for the same order, on every backend."""
    from fastml import available_backends

    if backend not in available_backends():
        pytest.skip(f"{backend} not built")
    if problem == "regression":
        X, y = _reg_data(n=150)
        ours, theirs = SGDRegressor, sk_lm.SGDRegressor
        kw = dict(loss="epsilon_insensitive", epsilon=0.05)
    else:
        X, y = _clf_data(n=150, classes=2 if problem == "binary" else 3)
        ours, theirs = SGDClassifier, sk_lm.SGDClassifier
        kw = dict(loss="hinge")
    X[7] = 0.0
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    kw.update(learning_rate=learning_rate, eta0=0.3, penalty=penalty, alpha=1e-3, l1_ratio=0.4,
              average=average, max_iter=5, tol=None, shuffle=False)  # fmt: skip
    ref = theirs(**kw).fit(X, y, sample_weight=sw)
    got = ours(**kw, backend=backend).fit(X, y, sample_weight=sw)
    scale = max(1.0, np.abs(ref.coef_).max())
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-9, atol=1e-11 * scale)
    assert got.t_ == ref.t_


@pytest.mark.parametrize(
    ("est", "kwargs", "message"),
    [
        (SGDClassifier, {"loss": "squared_hinge"}, "only works with loss 'hinge'"),
        (SGDRegressor, {"loss": "squared_error"}, "only works with loss 'epsilon_insensitive'"),
        (SGDClassifier, {"loss": "hinge", "batch_size": 32}, "needs plain SGD"),
        (SGDClassifier, {"loss": "hinge", "optimizer": "adam"}, "needs plain SGD"),
        (SGDRegressor, {"loss": "epsilon_insensitive", "eta0": 0.0}, "eta0 must be > 0"),
        (LogisticRegression, {}, "is SGDClassifier's and SGDRegressor's; LogisticRegression"),
        (LinearRegression, {}, "is SGDClassifier's and SGDRegressor's; LinearRegression"),
    ],
)
@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
def test_passive_aggressive_needs_its_loss_and_plain_sgd(est, kwargs, message, learning_rate):
    X, y = _clf_data(n=40)
    with pytest.raises(ValueError, match=message):
        est(learning_rate=learning_rate, **kwargs).fit(X, y)
