"""Bad input: a clear ValueError / TypeError naming the argument, raised before any work."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.spatial import distance as sd

import fastml

RNG = np.random.default_rng(0)
XA = RNG.standard_normal((5, 3))
XB = RNG.standard_normal((4, 3))


def _check_cdist_raises(exc, match, *args, backend="numpy", **kwargs):
    """cdist raises ``exc`` matching ``match`` and leaves a given out= untouched."""
    out = np.full((5, 4), -3.0)
    with pytest.raises(exc, match=match):
        fastml.cdist(*args, out=out, backend=backend, **kwargs)
    assert (out == -3.0).all(), "out was written before the error was raised"


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    "bad, name",
    [
        (np.ones(3), "XA"),
        (np.ones((2, 2, 3)), "XA"),
        (np.float64(1.0), "XA"),
    ],
)
def test_cdist_wrong_ndim(bad, name, backend):
    with pytest.raises(ValueError, match=rf"{name} must be a 2-D array"):
        fastml.cdist(bad, XB, backend=backend)
    with pytest.raises(ValueError, match=r"XB must be a 2-D array"):
        fastml.cdist(XA, bad, backend=backend)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 2, 3))])
def test_pdist_wrong_ndim(bad, backend):
    with pytest.raises(ValueError, match=r"X must be a 2-D array"):
        fastml.pdist(bad, backend=backend)


def test_mismatched_features(backend):
    _check_cdist_raises(
        ValueError,
        r"XA and XB must have the same number of columns",
        XA,
        np.ones((4, 2)),
        backend=backend,
    )


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_input(shape, backend):
    with pytest.raises(ValueError, match=r"XA must not be empty"):
        fastml.cdist(np.ones(shape), XB, backend=backend)
    with pytest.raises(ValueError, match=r"XB must not be empty"):
        fastml.cdist(XA, np.ones(shape), backend=backend)
    with pytest.raises(ValueError, match=r"X must not be empty"):
        fastml.pdist(np.ones(shape), backend=backend)
    what = "sample" if shape[0] == 0 else "feature"
    with pytest.raises(ValueError, match=rf"0 {what}\(s\) \(shape={re.escape(str(shape))}\)"):
        fastml.pdist(np.ones(shape), backend=backend)


def test_ragged_list():
    with pytest.raises(ValueError, match="XA"):
        fastml.cdist([[1.0, 2.0], [1.0]], XB)


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("ctype", [np.complex64, np.complex128])
def test_complex_input(ctype, backend):
    # TypeError by fastml's rule, ValueError as scikit-learn raises: both catch it
    with pytest.raises(ValueError, match=r"XA must be real: Complex data not supported"):
        fastml.cdist(XA.astype(ctype), XB, backend=backend)
    with pytest.raises(TypeError, match=r"XA must be real"):
        fastml.cdist(XA.astype(ctype), XB, backend=backend)
    with pytest.raises(TypeError, match=r"XB must be real"):
        fastml.cdist(XA, XB.astype(ctype), backend=backend)
    with pytest.raises(TypeError, match=r"X must be real"):
        fastml.pdist(XA.astype(ctype), backend=backend)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[1.0, {"a": 1}], [2.0, 3.0]], dtype=object),
        np.array([["2020-01-01"]], dtype="datetime64[D]"),
    ],
)
def test_non_numeric_input(bad, backend):
    with pytest.raises(TypeError, match=r"XA must be a real numeric or boolean array"):
        fastml.cdist(bad, np.ones((1, bad.shape[1])), backend=backend)
    with pytest.raises(TypeError, match=r"X must be a real numeric"):
        fastml.pdist(bad, backend=backend)


def test_object_arrays_of_numbers_convert_as_in_scikit_learn(backend):
    """Numbers held as Python objects are numbers (scikit-learn's check_array;
    SciPy's cdist refuses them); None converts to NaN, as in NumPy."""
    scipy_distance = pytest.importorskip("scipy.spatial.distance")
    A = np.array([[1, 2.5], [3.0, -1]], dtype=object)
    B = np.array([[0.5, 2], [True, 7]], dtype=object)
    got = fastml.cdist(A, B, backend=backend)
    assert got.dtype == np.float64
    want = scipy_distance.cdist(A.astype(np.float64), B.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with_none = np.array([[1.0, None], [2.0, 3.0]], dtype=object)
    got = fastml.cdist(with_none, B, backend=backend)
    assert np.isnan(got[0]).all() and np.isfinite(got[1]).all()


@pytest.mark.parametrize("container", ["csr_matrix", "csr_array", "coo_matrix"])
def test_sparse_input_is_refused_by_name(container):
    sparse = pytest.importorskip("scipy.sparse")
    S = getattr(sparse, container)(np.eye(3))
    with pytest.raises(TypeError, match=rf"XA is a sparse {container}; sparse input is not"):
        fastml.cdist(S, np.ones((2, 3)))


def test_one_dimensional_input_says_how_to_reshape():
    with pytest.raises(ValueError, match=r"got 1-D with shape \(3,\)\. Reshape your data: X"):
        fastml.pdist(np.ones(3))


# ---------------------------------------------------------------- metric and kwargs
def test_unknown_metric(backend):
    _check_cdist_raises(
        ValueError, r"unknown metric 'nope'.*euclidean", XA, XB, "nope", backend=backend
    )
    with pytest.raises(ValueError, match=r"unknown metric"):
        fastml.pdist(XA, "nope", backend=backend)


@pytest.mark.parametrize("metric", [3, None, 1.5])
def test_metric_wrong_type(metric):
    with pytest.raises(TypeError, match="metric"):
        fastml.cdist(XA, XB, metric)


@pytest.mark.parametrize(
    "metric, kw",
    [
        ("euclidean", {"p": 3}),
        ("seuclidean", {"w": np.ones(3)}),
        ("mahalanobis", {"w": np.ones(3)}),
        ("cosine", {"V": np.ones(3)}),
        ("cityblock", {"foo": 1}),
    ],
)
def test_unknown_kwarg(metric, kw, backend):
    _check_cdist_raises(
        TypeError,
        rf"{metric}.*unexpected keyword.*{next(iter(kw))}",
        XA,
        XB,
        metric,
        backend=backend,
        **kw,
    )
    with pytest.raises(TypeError, match="unexpected keyword"):
        fastml.pdist(XA, metric, backend=backend, **kw)


@pytest.mark.parametrize("p", [0, -1, -0.5, np.nan, -np.inf])
def test_bad_p(p, backend):
    _check_cdist_raises(
        ValueError, r"p must be a positive number", XA, XB, "minkowski", p=p, backend=backend
    )


@pytest.mark.parametrize("p", ["3", None, True, 1j])
def test_p_wrong_type(p):
    with pytest.raises(TypeError, match=r"p must be a positive number"):
        fastml.cdist(XA, XB, "minkowski", p=p)


@pytest.mark.parametrize(
    "metric",
    [
        "euclidean",
        "cityblock",
        "minkowski",
        "canberra",
        "hamming",
        "jaccard",
        "cosine",
        "correlation",
        "chebyshev",
        "braycurtis",
    ],
)
@pytest.mark.parametrize(
    "w, match, exc",
    [
        (np.array([1.0, -0.1, 1.0]), r"w must be non-negative", ValueError),
        (np.ones(2), r"w must have one weight per feature \(3\); got 2", ValueError),
        (np.ones(4), r"w must have one weight per feature", ValueError),
        (np.array([1.0, np.nan, 1.0]), r"w must be finite", ValueError),
        (np.array([1.0, np.inf, 1.0]), r"w must be finite", ValueError),
        (np.ones((3, 1)), r"w must be a 1-D array", ValueError),
        (np.ones(3, complex), r"w must be real", TypeError),
    ],
)
def test_bad_weights(metric, w, match, exc):
    w_before = w.copy()
    _check_cdist_raises(exc, match, XA, XB, metric, w=w)
    np.testing.assert_array_equal(w, w_before)


@pytest.mark.parametrize(
    "V, match",
    [
        (np.ones(2), r"V must have one variance per feature"),
        (np.array([1.0, 0.0, 1.0]), r"V must contain positive"),
        (np.array([1.0, -2.0, 1.0]), r"V must contain positive"),
        (np.array([1.0, np.nan, 1.0]), r"V must contain positive"),
        (np.array([1.0, np.inf, 1.0]), r"V must contain positive"),
        (np.ones((3, 3)), r"V must be a 1-D array"),
    ],
)
def test_bad_V(V, match, backend):
    _check_cdist_raises(ValueError, match, XA, XB, "seuclidean", V=V, backend=backend)


def test_default_V_needs_two_points():
    with pytest.raises(ValueError, match=r"seuclidean needs at least 2 points"):
        fastml.pdist(np.ones((1, 3)), "seuclidean")


@pytest.mark.parametrize(
    "VI, match",
    [
        (np.eye(2), r"VI must have shape \(3, 3\)"),
        (np.eye(4), r"VI must have shape \(3, 3\)"),
        (np.ones((3, 4)), r"VI must have shape \(3, 3\)"),
        (np.ones(3), r"VI must be a 2-D array"),
        (np.full((3, 3), np.nan), r"VI must be finite"),
    ],
)
def test_bad_VI(VI, match, backend):
    _check_cdist_raises(ValueError, match, XA, XB, "mahalanobis", VI=VI, backend=backend)


def test_default_VI_too_few_observations(backend):
    A, B = np.ones((2, 4)), np.ones((2, 4))
    with pytest.raises(ValueError, match="too small") as scipy_err:
        sd.cdist(A, B, "mahalanobis")
    with pytest.raises(ValueError, match=r"The number of observations \(4\) is too small"):
        fastml.cdist(A, B, "mahalanobis", backend=backend)
    assert "too small" in str(scipy_err.value)
    with pytest.raises(ValueError, match="too small"):
        fastml.pdist(np.ones((3, 3)), "mahalanobis", backend=backend)


# ---------------------------------------------------------------- out=
@pytest.mark.parametrize(
    "out, exc, match",
    [
        (np.empty((4, 5)), ValueError, r"out must have shape \(5, 4\); got \(4, 5\)"),
        (np.empty((5, 4, 1)), ValueError, r"out must have shape \(5, 4\)"),
        (np.empty(20), ValueError, r"out must have shape \(5, 4\)"),
        (np.empty((5, 4), np.int64), TypeError, r"out must have dtype float32 or float64"),
        (np.empty((5, 4), np.complex128), TypeError, r"out must have dtype float32 or float64"),
        (np.empty((5, 4), np.float16), ValueError, r"out must have dtype float32 or float64"),
        ([[0.0] * 4] * 5, TypeError, r"out must be a numpy.ndarray"),
    ],
)
def test_bad_out_cdist(out, exc, match, backend):
    before = np.array(out, copy=True)
    with pytest.raises(exc, match=match):
        fastml.cdist(XA, XB, out=out, backend=backend)
    np.testing.assert_array_equal(np.asarray(out), before)


@pytest.mark.parametrize("bad", ["out", "complex"])
def test_wrong_dtype_is_a_type_error_and_a_value_error(bad):
    """TypeError by fastml's rule, ValueError as SciPy and scikit-learn raise:
    code written against either catches it."""
    with pytest.raises(TypeError) as info:
        if bad == "out":
            fastml.cdist(XA, XB, out=np.empty((5, 4), np.int64))
        else:
            fastml.cdist(XA.astype(complex), XB)
    assert isinstance(info.value, ValueError)


def test_read_only_out(backend):
    out = np.full((5, 4), -1.0)
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"out must be writeable"):
        fastml.cdist(XA, XB, out=out, backend=backend)
    assert (out == -1.0).all()


@pytest.mark.parametrize(
    "out, exc",
    [
        (np.empty(9), ValueError),
        (np.empty((10, 1)), ValueError),
        (np.empty(10, np.int32), TypeError),
    ],
)
def test_bad_out_pdist(out, exc, backend):
    with pytest.raises(exc, match="out must"):
        fastml.pdist(XA, out=out, backend=backend)


def test_error_before_work_on_metric_params():
    """An invalid w is reported before anything is written to out, even if
    another input is fine."""
    out = np.full((5, 4), 7.0)
    with pytest.raises(ValueError, match="w must"):
        fastml.cdist(XA, XB, "canberra", w=-np.ones(3), out=out)
    assert (out == 7.0).all()


@pytest.mark.parametrize("backend", ["bogus", "NUMPYY", ""])
def test_unknown_backend_argument(backend):
    with pytest.raises(ValueError, match=r"unknown backend.*python, numpy, numba, cython"):
        fastml.cdist(XA, XB, backend=backend)


def test_backend_wrong_type():
    with pytest.raises(TypeError, match="backend must be a string"):
        fastml.cdist(XA, XB, backend=3)


def test_sample_weight_one_rule_for_every_estimator():
    """One check (fastml._validation.check_sample_weight) for k-means and the
    linear models: scalars are checked too (a negative scalar used to pass
    KMeans), and the messages are the same."""
    from fastml.cluster import KMeans
    from fastml.linear_model import SGDRegressor

    X = np.random.default_rng(0).standard_normal((30, 2))
    y = X[:, 0]
    for bad, match in [(-1.0, "non-negative"), (0.0, "all zero"), (np.nan, "NaN or infinity"),
                       (np.ones(29), r"shape \(30,\)")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            KMeans(2, n_init=1, random_state=0).fit(X, sample_weight=bad)
        with pytest.raises(ValueError, match=match):
            SGDRegressor(max_iter=2, tol=None).fit(X, y, sample_weight=bad)
    a = KMeans(2, n_init=1, random_state=0).fit(X, sample_weight=2.0)
    b = KMeans(2, n_init=1, random_state=0).fit(X)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_)


def test_available_if_hides_a_method_whose_check_is_false():
    from fastml._base import available_if

    class Est:
        def __init__(self, ok):
            self.ok = ok

        @available_if(lambda self: self.ok)
        def method(self):
            return 1

    assert Est(True).method() == 1
    assert not hasattr(Est(False), "method")
