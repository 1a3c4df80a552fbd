"""Every metric x backend x dtype, cdist and pdist, against scipy.spatial.distance."""

from __future__ import annotations

import numpy as np
import pytest
from _cases import CASE_IDS, CASES, make_data, scipy_cdist, scipy_pdist
from conftest import BACKENDS, COMPILED_BACKENDS, assert_close_to_scipy

import fastml

# Row counts that are not multiples of 4/8/16, so tile remainders are exercised.
SMALL_CDIST = [(7, 6, 5), (1, 3, 13), (13, 1, 3), (61, 13, 3)]
SMALL_PDIST = [(7, 5), (2, 3), (13, 13), (61, 3)]
REALISTIC_CDIST = (300, 200, 40)
REALISTIC_PDIST = (301, 40)


_ORACLE_CACHE: dict = {}


def _cached(kind, case, shapes, dtype, seed):
    """Data, kwargs and SciPy's answer, computed once per (case, shapes, dtype)
    and shared by every backend (SciPy's weighted cosine is slow)."""
    key = (kind, case.id, tuple(shapes), np.dtype(dtype).name, seed)
    if key not in _ORACLE_CACHE:
        arrays, kw = make_data(case, shapes, dtype, seed)
        if kind == "cdist":
            ref = scipy_cdist(*arrays, case.metric, **kw)
        else:
            ref = scipy_pdist(*arrays, case.metric, **kw)
        _ORACLE_CACHE[key] = (arrays, kw, ref)
    arrays, kw, ref = _ORACLE_CACHE[key]
    copy = [a.copy() for a in arrays]
    kw_copy = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    return copy, kw_copy, ref


def _skip_if_defaults_impossible(case, m_total, n):
    if case.needs_rows is not None and not case.needs_rows(m_total, n):
        pytest.skip(f"{case.id} needs more rows than {m_total} to estimate its default")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("size", SMALL_CDIST, ids=lambda s: "x".join(map(str, s)))
def test_cdist_small(case, size, backend, dtype):
    mA, mB, n = size
    _skip_if_defaults_impossible(case, mA + mB, n)
    (XA, XB), kw, ref = _cached("cdist", case, [(mA, n), (mB, n)], dtype, seed=mA * 100 + mB)
    got = fastml.cdist(XA, XB, case.metric, backend=backend, **kw)
    assert_close_to_scipy(got, ref, dtype)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("size", SMALL_PDIST, ids=lambda s: "x".join(map(str, s)))
def test_pdist_small(case, size, backend, dtype):
    m, n = size
    _skip_if_defaults_impossible(case, m, n)
    (X,), kw, ref = _cached("pdist", case, [(m, n)], dtype, seed=m)
    got = fastml.pdist(X, case.metric, backend=backend, **kw)
    assert_close_to_scipy(got, ref, dtype)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cdist_realistic(case, fast_backend, dtype):
    mA, mB, n = REALISTIC_CDIST
    (XA, XB), kw, ref = _cached("cdist", case, [(mA, n), (mB, n)], dtype, seed=7)
    got = fastml.cdist(XA, XB, case.metric, backend=fast_backend, **kw)
    assert_close_to_scipy(got, ref, dtype)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pdist_realistic(case, fast_backend, dtype):
    m, n = REALISTIC_PDIST
    (X,), kw, ref = _cached("pdist", case, [(m, n)], dtype, seed=11)
    got = fastml.pdist(X, case.metric, backend=fast_backend, **kw)
    assert_close_to_scipy(got, ref, dtype)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_backends_agree_with_python_oracle(case, backend, dtype):
    """The chain of oracles: the pure-Python kernel checks every other backend."""
    if backend == "python":
        pytest.skip("the oracle itself")
    (XA, XB), kw = make_data(case, [(9, 7), (11, 7)], dtype, seed=3)
    ref = fastml.cdist(XA, XB, case.metric, backend="python", **kw)
    got = fastml.cdist(XA, XB, case.metric, backend=backend, **kw)
    assert_close_to_scipy(got, ref, dtype)


@pytest.mark.skipif(
    not {"numba", "cython"} <= set(COMPILED_BACKENDS), reason="needs both numba and cython"
)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_numba_and_cython_agree(case, dtype):
    (XA, XB), kw = make_data(case, [(257, 33), (131, 33)], dtype, seed=5)
    a = fastml.cdist(XA, XB, case.metric, backend="numba", **kw)
    b = fastml.cdist(XA, XB, case.metric, backend="cython", **kw)
    assert_close_to_scipy(a, b, dtype)
    (X,), kw = make_data(case, [(97, 33)], dtype, seed=6)
    a = fastml.pdist(X, case.metric, backend="numba", **kw)
    b = fastml.pdist(X, case.metric, backend="cython", **kw)
    assert_close_to_scipy(a, b, dtype)


WIDE_CASES = [
    c
    for c in CASES
    if c.id
    in (
        "euclidean",
        "sqeuclidean",
        "cityblock",
        "chebyshev",
        "minkowski-p3",
        "cosine",
        "canberra",
        "braycurtis",
        "hamming",
        "jaccard",
        "mahalanobis-indefiniteVI",
        "canberra-w",
        "jaccard-w",
    )
]


@pytest.mark.parametrize("case", WIDE_CASES, ids=[c.id for c in WIDE_CASES])
def test_cdist_wide_odd_features(case, fast_backend, dtype):
    """Feature counts far from a multiple of the SIMD width (vector-loop remainders)."""
    if case.id == "mahalanobis-indefiniteVI" and dtype == np.float32:
        pytest.skip("ill-conditioned in float32 at 301 features")
    (XA, XB), kw, ref = _cached("cdist", case, [(67, 301), (45, 301)], dtype, seed=8)
    got = fastml.cdist(XA, XB, case.metric, backend=fast_backend, **kw)
    assert_close_to_scipy(got, ref, dtype)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "correlation"])
def test_duplicates_between_XA_and_XB_realistic(metric, fast_backend, dtype):
    """Rows shared by XA and XB, far from the origin: a guarded matrix-product
    shortcut must give (near) exact zeros, as SciPy does."""
    rng = np.random.default_rng(12)
    XA = (rng.standard_normal((203, 29)) + 100.0).astype(dtype)
    XB = np.vstack([XA[::7], (rng.standard_normal((90, 29)) + 100.0).astype(dtype)])
    got = fastml.cdist(XA, XB, metric, backend=fast_backend)
    ref = scipy_cdist(XA, XB, metric)
    assert_close_to_scipy(got, ref, dtype)
    zeros = got[np.arange(0, 203, 7), np.arange(len(XA[::7]))]
    np.testing.assert_allclose(zeros, 0.0, atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_close_points_float32(metric, backend):
    """float32 points 1e-3 apart around 1e2: direct differences are exact, a
    float32 ||a||^2 - 2ab + ||b||^2 would lose every digit."""
    rng = np.random.default_rng(13)
    X = (rng.standard_normal((17, 11)) + 1e2).astype(np.float32)
    Y = (X + rng.standard_normal((17, 11)).astype(np.float32) * 1e-3).astype(np.float32)
    assert_close_to_scipy(
        fastml.cdist(X, Y, metric, backend=backend), scipy_cdist(X, Y, metric), np.float32
    )


@pytest.mark.parametrize(
    "alias, metric",
    [
        ("manhattan", "cityblock"),
        ("l1", "cityblock"),
        ("l2", "euclidean"),
        ("cos", "cosine"),
        ("sqe", "sqeuclidean"),
        ("cheb", "chebyshev"),
        ("EUCLIDEAN", "euclidean"),
    ],
)
def test_metric_aliases(alias, metric, backend):
    rng = np.random.default_rng(0)
    XA, XB = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    assert_close_to_scipy(
        fastml.cdist(XA, XB, alias, backend=backend), scipy_cdist(XA, XB, metric), np.float64
    )


def test_backends_fixture_sees_numpy_and_python():
    # The parametrisation is over available_backends(); python and numpy are always there.
    assert {"python", "numpy"} <= set(BACKENDS)
