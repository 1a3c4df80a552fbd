"""Column names of dataframes, as scikit-learn handles them.

Fitting on a pandas DataFrame whose column names are all strings records
``feature_names_in_``; later calls compare the names (an error if they
differ, a warning if only one side has names). The transformers (the k-means
family) name their output columns and can return DataFrames (``set_output``).
scikit-learn's own estimators are the oracle for every message and name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
sklearn = pytest.importorskip("sklearn")

import sklearn.cluster as sk_cluster  # noqa: E402
import sklearn.linear_model as sk_linear  # noqa: E402
import sklearn.neighbors as sk_neighbors  # noqa: E402
from sklearn.base import clone  # noqa: E402

import fastml.cluster as fm_cluster  # noqa: E402
import fastml.linear_model as fm_linear  # noqa: E402
import fastml.neighbors as fm_neighbors  # noqa: E402
from fastml._base import NotFittedError  # noqa: E402

PAIRS = [
    (fm_linear.SGDClassifier, sk_linear.SGDClassifier, {}),
    (fm_linear.SGDRegressor, sk_linear.SGDRegressor, {}),
    (fm_linear.LinearRegression, sk_linear.LinearRegression, {}),
    (fm_linear.LogisticRegression, sk_linear.LogisticRegression, {}),
    (fm_cluster.KMeans, sk_cluster.KMeans, {"n_clusters": 3, "n_init": 1}),
    (fm_cluster.MiniBatchKMeans, sk_cluster.MiniBatchKMeans, {"n_clusters": 3, "n_init": 1}),
    (fm_neighbors.NearestNeighbors, sk_neighbors.NearestNeighbors, {"n_neighbors": 3}),
    (fm_neighbors.KNeighborsClassifier, sk_neighbors.KNeighborsClassifier, {"n_neighbors": 3}),
    (fm_neighbors.KNeighborsRegressor, sk_neighbors.KNeighborsRegressor, {"n_neighbors": 3}),
]
IDS = [f.__name__ for f, _, _ in PAIRS]


def _data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((60, 3)), columns=["a", "b", "c"])
    y = (X["a"] + 0.3 * rng.standard_normal(60) > 0).astype(int)
    return X, y


def _fit(cls, kwargs, X, y):
    est = cls(**kwargs)
    return est.fit(X, y)


def _use(est, X):
    """The estimator's main method after fit (kneighbors for NearestNeighbors)."""
    if hasattr(est, "predict"):
        return est.predict(X)
    return est.kneighbors(X)


def _outcome(fn):
    """("ok" | warning messages | (error type, message)) of calling ``fn``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - compared with scikit-learn's
            return (type(exc).__name__, str(exc))
    names = [str(w.message) for w in caught if "feature names" in str(w.message)]
    return tuple(names) or "ok"


@pytest.mark.parametrize(("fm", "sk", "kwargs"), PAIRS, ids=IDS)
def test_feature_names_recorded_and_checked_like_scikit_learn(fm, sk, kwargs):
    X, y = _data()
    ours, theirs = _fit(fm, kwargs, X, y), _fit(sk, kwargs, X, y)
    np.testing.assert_array_equal(ours.feature_names_in_, theirs.feature_names_in_)
    assert ours.feature_names_in_.dtype == object

    cases = {
        "same names": X,
        "reordered": X[["b", "a", "c"]],
        "renamed": X.rename(columns={"a": "z"}),
        "many renamed": X.rename(columns={c: c + "_new" for c in X.columns}),
        "no names": X.to_numpy(),
    }
    for what, Xq in cases.items():
        got = _outcome(lambda Xq=Xq, est=ours: _use(est, Xq))
        want = _outcome(lambda Xq=Xq, est=theirs: _use(est, Xq))
        assert (got == "ok") == (want == "ok"), what
        if want != "ok":
            assert type(got) is type(want), (what, got, want)
            if isinstance(want, tuple) and len(want) == 2 and want[0] == "ValueError":
                assert got == want, what  # the same error and message
            else:
                assert [g.replace(fm.__name__, "E") for g in got] == [
                    w.replace(sk.__name__, "E") for w in want
                ], what


@pytest.mark.parametrize(("fm", "sk", "kwargs"), PAIRS, ids=IDS)
def test_fitted_without_names_warns_on_a_dataframe(fm, sk, kwargs):
    X, y = _data()
    ours = _fit(fm, kwargs, X.to_numpy(), y)
    assert not hasattr(ours, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but .* was fitted without"):
        _use(ours, X)


@pytest.mark.parametrize(("fm", "sk", "kwargs"), PAIRS, ids=IDS)
def test_refit_without_names_forgets_them(fm, sk, kwargs):
    X, y = _data()
    est = _fit(fm, kwargs, X, y)
    est.fit(X.to_numpy(), y)
    assert not hasattr(est, "feature_names_in_")


def test_names_that_are_not_all_strings():
    X, y = _data()
    est = fm_linear.SGDRegressor().fit(X.set_axis([0, 1, 2], axis=1), y)
    assert not hasattr(est, "feature_names_in_")  # integer names are not kept
    mixed = X.set_axis(["a", 1, "c"], axis=1)
    with pytest.raises(TypeError, match="all input features have string names"):
        fm_linear.SGDRegressor().fit(mixed, y)
    with pytest.raises(TypeError, match="all input features have string names"):
        sk_linear.SGDRegressor().fit(mixed, y)


def test_partial_fit_records_names_once_and_checks_them():
    X, y = _data()
    est = fm_linear.SGDClassifier().partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c"])
    with pytest.raises(ValueError, match="feature names should match"):
        est.partial_fit(X[["c", "b", "a"]], y)


@pytest.mark.parametrize(
    ("fm", "sk"),
    [
        (fm_cluster.KMeans, sk_cluster.KMeans),
        (fm_cluster.MiniBatchKMeans, sk_cluster.MiniBatchKMeans),
    ],
)
def test_kmeans_output_names_and_dataframes_like_scikit_learn(fm, sk):
    X, _ = _data()
    X.index = np.arange(100, 160)
    init = X.to_numpy()[:3].copy()
    ours = fm(3, init=init, n_init=1, max_iter=5).set_output(transform="pandas")
    theirs = sk(3, init=init, n_init=1, max_iter=5).set_output(transform="pandas")
    got, want = ours.fit_transform(X), theirs.fit_transform(X)
    assert isinstance(got, pd.DataFrame)
    assert (
        list(got.columns) == list(want.columns) == [f"{fm.__name__.lower()}{i}" for i in range(3)]
    )
    assert got.index.equals(X.index)
    np.testing.assert_array_equal(ours.get_feature_names_out(), theirs.get_feature_names_out())
    np.testing.assert_array_equal(
        ours.get_feature_names_out(["a", "b", "c"]), theirs.get_feature_names_out(["a", "b", "c"])
    )
    for bad in (["a", "b", "x"], ["a", "b"]):
        with pytest.raises(ValueError, match="input_features"):
            ours.get_feature_names_out(bad)
    # the setting survives clone and can be turned back off
    again = clone(ours)
    assert isinstance(again.fit(X).transform(X), pd.DataFrame)
    assert isinstance(again.set_output(transform="default").transform(X), np.ndarray)
    assert again.set_output(transform=None) is again
    with pytest.raises(ValueError, match="transform must be"):
        again.set_output(transform="arrow")


def test_kmeans_follows_scikit_learns_global_output_setting():
    X, _ = _data()
    est = fm_cluster.KMeans(3, n_init=1, random_state=0).fit(X)
    assert isinstance(est.transform(X), np.ndarray)
    with sklearn.config_context(transform_output="pandas"):
        assert isinstance(est.transform(X), pd.DataFrame)
    assert isinstance(est.set_output(transform="default").transform(X), np.ndarray)


def test_kmeans_names_without_fit_raise_not_fitted():
    with pytest.raises(NotFittedError):
        fm_cluster.KMeans(3).get_feature_names_out()
