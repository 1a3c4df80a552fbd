"""SGDClassifier / SGDRegressor on scipy.sparse X: scikit-learn's sparse fits
(shuffle=False gives the same order), every backend alike, the dense fit
without L1, every sparse container, and clear errors where sparse X is not
supported."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKENDS

from fastml.linear_model import LogisticRegression, SGDClassifier, SGDRegressor

sp = pytest.importorskip("scipy.sparse")
sk_lm = pytest.importorskip("sklearn.linear_model")


def _data(n=300, d=12, density=0.3, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    X[rng.random(X.shape) > density] = 0.0
    X[:5] = 0.0  # empty rows
    score = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    y_clf = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, y_clf, score


SK_CASES = [
    ("clf", dict(loss="log_loss", penalty="l2", alpha=1e-3)),
    ("clf", dict(loss="hinge", penalty="elasticnet", alpha=1e-3, l1_ratio=0.3)),
    ("clf", dict(loss="modified_huber", penalty="l1", alpha=1e-3, average=True)),
    # one-vs-rest; a constant rate (the "optimal" rate's first steps are so large at
    # alpha=1e-4 that rounding differences grow to O(1) here, dense input alike)
    (
        "clf3",
        dict(
            loss="log_loss",
            penalty="l2",
            alpha=1e-4,
            average=7,
            learning_rate="constant",
            eta0=0.01,
        ),
    ),  # fmt: skip
    ("clf", dict(loss="hinge", learning_rate="pa1", eta0=0.1, penalty=None)),
    ("reg", dict(loss="huber", penalty="elasticnet", alpha=1e-3, learning_rate="invscaling")),
    ("reg", dict(loss="squared_error", alpha=0.2, learning_rate="constant", eta0=0.01)),
]


@pytest.mark.parametrize("kind, params", SK_CASES)
def test_sparse_fit_equals_scikit_learn(kind, params):
    X, y, score = _data(classes=3 if kind == "clf3" else 2)
    params = dict(params, shuffle=False, max_iter=6, tol=None, random_state=0)
    Xs = sp.csr_matrix(X)
    if kind == "reg":
        ours, ref = SGDRegressor(**params).fit(Xs, score), sk_lm.SGDRegressor(**params)
        ref.fit(Xs, score)
    else:
        ours, ref = SGDClassifier(**params).fit(Xs, y), sk_lm.SGDClassifier(**params).fit(Xs, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)
    predict = "predict" if kind == "reg" else "decision_function"
    np.testing.assert_allclose(getattr(ours, predict)(Xs), getattr(ref, predict)(Xs),
                               rtol=1e-9, atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_perceptron_ties_on_empty_rows_as_scikit_learn(backend):
    """An empty row's margin is the intercept alone, and the perceptron steps
    when it is <= 0: an exact tie test. The intercept's steps ``upd * 0.01``
    must be rounded before they are added (no fused multiply-add), or a
    0.0001 - 0.0001 comes out as 6e-22 and the next tie goes the other way."""
    X, y, _ = _data(n=120, density=0.2)
    X[::7] = 0.0  # more empty rows
    params = dict(loss="perceptron", penalty=None, learning_rate="constant", eta0=0.01,
                  shuffle=False, tol=None, max_iter=4)  # fmt: skip
    Xs = sp.csr_matrix(X)
    ours = SGDClassifier(**params, backend=backend).fit(Xs, y)
    ref = sk_lm.SGDClassifier(**params).fit(Xs, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(ours.intercept_, ref.intercept_)
    tiny = sp.csr_matrix([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    params["max_iter"] = 1
    one = SGDClassifier(**params, backend=backend).fit(tiny, [1, 0, 1, 0])
    assert one.intercept_[0] == sk_lm.SGDClassifier(**params).fit(tiny, [1, 0, 1, 0]).intercept_[0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_fit_every_backend_alike_and_keeps_dtype(backend, dtype):
    X, y, _ = _data(seed=1)
    Xs = sp.csr_array(X.astype(dtype))
    kw = dict(penalty="elasticnet", l1_ratio=0.2, alpha=1e-3, max_iter=4, tol=None,
              random_state=3, average=50)  # fmt: skip
    ref = SGDClassifier(backend="python", **kw).fit(Xs, y)
    got = SGDClassifier(backend=backend, **kw).fit(Xs, y)
    assert got.coef_.dtype == dtype
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=tol, atol=tol * 1e-2)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=tol, atol=tol * 1e-2)
    assert got.decision_function(Xs).dtype == dtype


def test_sparse_equals_dense_without_l1_but_for_the_intercept_decay(monkeypatch):
    """The only difference from the dense fit without L1 is scikit-learn's slower
    intercept on sparse X: with that factor set to 1 the two fits agree."""
    from fastml import linear_model

    X, y, _ = _data(seed=2)
    kw = dict(alpha=1e-3, max_iter=5, tol=None, random_state=0)
    dense = SGDClassifier(**kw).fit(X, y)
    monkeypatch.setattr(linear_model, "SPARSE_INTERCEPT_DECAY", 1.0)
    sparse = SGDClassifier(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "convert",
    [sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_array, sp.lil_matrix, sp.dok_matrix],
)
def test_every_sparse_container_fits_and_predicts_the_same(convert):
    X, y, _ = _data(seed=3)
    kw = dict(max_iter=3, tol=None, random_state=0)
    ref = SGDClassifier(**kw).fit(sp.csr_matrix(X), y)
    got = SGDClassifier(**kw).fit(convert(X), y)
    np.testing.assert_array_equal(got.coef_, ref.coef_)
    np.testing.assert_array_equal(got.predict(convert(X)), ref.predict(X))


def test_non_canonical_input_is_summed_and_not_modified():
    X, y, _ = _data(seed=4)
    coo = sp.coo_matrix(X)
    # every stored value split in two halves, rows in reverse: duplicates, unsorted
    r, c, v = coo.row[::-1], coo.col[::-1], coo.data[::-1]
    dup = sp.csr_matrix((np.r_[v / 2, v / 2], (np.r_[r, r], np.r_[c, c])), shape=X.shape)
    dup.has_canonical_format = False  # as built by hand from unsorted parts
    dup.indices = dup.indices.copy()
    before = (dup.data.copy(), dup.indices.copy(), dup.indptr.copy())
    kw = dict(max_iter=3, tol=None, random_state=0)
    got = SGDClassifier(**kw).fit(dup, y)
    ref = SGDClassifier(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
    for a, b in zip((dup.data, dup.indices, dup.indptr), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sparse_partial_fit_early_stopping_and_integer_values():
    X, y, _ = _data(seed=5)
    Xi = sp.csr_matrix(np.round(X * 3).astype(np.int32))
    m = SGDClassifier(random_state=0)
    for _ in range(3):
        m.partial_fit(Xi, y, classes=[0, 1])
    assert m.coef_.dtype == np.float64
    ref = SGDClassifier(max_iter=3, tol=None, random_state=0, shuffle=False)
    ref.fit(Xi.astype(np.float64), y)
    assert m.t_ == ref.t_
    es = SGDClassifier(early_stopping=True, n_iter_no_change=2, random_state=0).fit(Xi, y)
    assert es.stop_reason_ == "early_stopping" and "val_loss" in es.history_
    assert es.score(Xi, y) > 0.7


def test_sparse_errors():
    X, y, _ = _data(seed=6)
    Xs = sp.csr_matrix(X)
    with pytest.raises(TypeError, match="plain SGD only.*batch_size=32"):
        SGDClassifier(batch_size=32).fit(Xs, y)
    with pytest.raises(TypeError, match="plain SGD only.*optimizer='adam'"):
        SGDRegressor(optimizer="adam").fit(Xs, y)
    with pytest.raises(TypeError, match="plain SGD only"):
        LogisticRegression().fit(Xs, y)  # full batch
    bad = Xs.copy()
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        SGDClassifier().fit(bad, y)
    with pytest.raises(ValueError, match="must not be empty"):
        SGDClassifier().fit(sp.csr_matrix((0, 3)), [])
    fitted = SGDClassifier(max_iter=2, tol=None).fit(Xs, y)
    with pytest.raises(ValueError, match="12 features"):
        fitted.predict(sp.csr_matrix(X[:, :5]))
    from fastml.cluster import KMeans

    with pytest.raises(TypeError, match="sparse input is not supported"):
        KMeans(2).fit(Xs)  # elsewhere sparse X stays a clear TypeError
