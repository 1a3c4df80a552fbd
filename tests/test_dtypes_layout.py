"""Result dtypes, ``out=`` buffers, memory layout, and never modifying user input."""

from __future__ import annotations

import numpy as np
import pytest
from _cases import indefinite_VI, scipy_cdist, scipy_pdist, spd_VI, weights
from conftest import assert_close_to_scipy

import fastml

RNG = np.random.default_rng(1234)
XA64 = RNG.standard_normal((13, 6))
XB64 = RNG.standard_normal((7, 6))


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "canberra", "minkowski"])
def test_float_dtype_preserved(metric, backend, dtype):
    XA, XB = XA64.astype(dtype), XB64.astype(dtype)
    d = fastml.cdist(XA, XB, metric, backend=backend)
    assert d.dtype == dtype
    assert_close_to_scipy(d, scipy_cdist(XA, XB, metric), dtype)
    p = fastml.pdist(XA, metric, backend=backend)
    assert p.dtype == dtype
    assert_close_to_scipy(p, scipy_pdist(XA, metric), dtype)


@pytest.mark.parametrize("in_dtype", [np.int8, np.int32, np.int64, np.uint16, np.float16])
def test_other_numeric_input_gives_float64(in_dtype, backend):
    XA = (XA64 * 10).astype(in_dtype)
    XB = (XB64 * 10).astype(in_dtype)
    d = fastml.cdist(XA, XB, "sqeuclidean", backend=backend)
    assert d.dtype == np.float64
    assert_close_to_scipy(d, scipy_cdist(XA, XB, "sqeuclidean"), np.float64)
    p = fastml.pdist(XA, "cityblock", backend=backend)
    assert p.dtype == np.float64
    assert_close_to_scipy(p, scipy_pdist(XA, "cityblock"), np.float64)


@pytest.mark.parametrize("metric", ["hamming", "jaccard", "euclidean"])
def test_bool_input(metric, backend):
    A = RNG.random((11, 9)) < 0.4
    B = RNG.random((5, 9)) < 0.4
    d = fastml.cdist(A, B, metric, backend=backend)
    assert d.dtype == np.float64
    assert_close_to_scipy(d, scipy_cdist(A, B, metric), np.float64)
    p = fastml.pdist(A, metric, backend=backend)
    assert p.dtype == np.float64
    assert_close_to_scipy(p, scipy_pdist(A, metric), np.float64)


def test_python_lists_accepted(backend):
    d = fastml.cdist([[0, 0], [1, 1]], [[3, 4]], backend=backend)
    assert d.dtype == np.float64
    np.testing.assert_allclose(d, [[5.0], [np.sqrt(13)]], rtol=1e-12)


@pytest.mark.parametrize("order", ["32-64", "64-32"])
def test_mixed_float32_float64_gives_float64(order, backend):
    XA = XA64.astype(np.float32) if order == "32-64" else XA64
    XB = XB64 if order == "32-64" else XB64.astype(np.float32)
    d = fastml.cdist(XA, XB, "euclidean", backend=backend)
    assert d.dtype == np.float64
    # Computed in float64 from the (rounded) float32 values: float64 accuracy.
    assert_close_to_scipy(d, scipy_cdist(XA, XB, "euclidean"), np.float64)


# ---------------------------------------------------------------- out=
def _out_variants(shape, out_dtype):
    """A C-contiguous buffer, and a non-contiguous slice of a bigger array."""
    c = np.full(shape, -7.0, dtype=out_dtype)
    big = np.full((shape[0] * 2 + 1,) + tuple(s * 3 for s in shape[1:]), -7.0, dtype=out_dtype)
    if len(shape) == 2:
        nc = big[1::2, ::3]
    else:
        nc = big[1::2]
    assert nc.shape == tuple(shape) and not nc.flags.c_contiguous
    return {"C": (c, c), "strided": (nc, big)}


@pytest.mark.parametrize("layout", ["C", "strided"])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_cdist_out(layout, out_dtype, backend, dtype):
    XA, XB = XA64.astype(dtype), XB64.astype(dtype)
    out, base = _out_variants((13, 7), out_dtype)[layout]
    base_before = base.copy()
    res = fastml.cdist(XA, XB, "cityblock", out=out, backend=backend)
    assert res is out
    assert out.dtype == out_dtype
    assert_close_to_scipy(out, scipy_cdist(XA, XB, "cityblock"), np.float32, check_dtype=False)
    if out_dtype == np.float64 and dtype == np.float64:
        assert_close_to_scipy(out, scipy_cdist(XA, XB, "cityblock"), np.float64)
    # Nothing outside the view was touched.
    mask = np.ones(base.shape, bool)
    if layout == "strided":
        mask[1::2, ::3] = False
        np.testing.assert_array_equal(base[mask], base_before[mask])


@pytest.mark.parametrize("layout", ["C", "strided"])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_pdist_out(layout, out_dtype, backend, dtype):
    X = XA64.astype(dtype)
    k = 13 * 12 // 2
    out, base = _out_variants((k,), out_dtype)[layout]
    base_before = base.copy()
    res = fastml.pdist(X, "euclidean", out=out, backend=backend)
    assert res is out
    assert_close_to_scipy(out, scipy_pdist(X, "euclidean"), np.float32, check_dtype=False)
    if out_dtype == np.float64 and dtype == np.float64:
        assert_close_to_scipy(out, scipy_pdist(X, "euclidean"), np.float64)
    if layout == "strided":
        np.testing.assert_array_equal(base[0::2], base_before[0::2])


def test_out_aliasing_input_is_safe(backend):
    """out that is the input itself (pdist of a square X into X) must not corrupt it."""
    X = RNG.standard_normal((5, 5))
    expected = scipy_cdist(X, X, "euclidean")
    Xc = X.copy()
    res = fastml.cdist(Xc, X, "euclidean", out=Xc, backend=backend)
    assert res is Xc
    assert_close_to_scipy(Xc, expected, np.float64)


# ---------------------------------------------------------------- layout
def _layouts(X):
    big = np.zeros((X.shape[0] * 2, X.shape[1] * 3), X.dtype)
    big[::2, 1::3] = X
    rev = np.ascontiguousarray(X[::-1])[::-1]
    return {
        "C": np.ascontiguousarray(X),
        "F": np.asfortranarray(X),
        "strided": big[::2, 1::3],
        "reversed": rev,
        "transposed-view": np.ascontiguousarray(X.T).T,
    }


@pytest.mark.parametrize("layout", ["C", "F", "strided", "reversed", "transposed-view"])
@pytest.mark.parametrize("metric", ["euclidean", "chebyshev", "correlation", "mahalanobis"])
def test_layouts_give_same_result(layout, metric, backend, dtype):
    XA, XB = XA64.astype(dtype), XB64.astype(dtype)
    ref = fastml.cdist(XA, XB, metric, backend=backend)
    A, B = _layouts(XA)[layout], _layouts(XB)[layout]
    np.testing.assert_array_equal(A, XA)
    got = fastml.cdist(A, B, metric, backend=backend)
    assert_close_to_scipy(got, scipy_cdist(XA, XB, metric), dtype)
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 1e-6)
    gotp = fastml.pdist(A, metric, backend=backend)
    assert_close_to_scipy(gotp, scipy_pdist(XA, metric), dtype)


@pytest.mark.parametrize(
    "metric, make",
    [
        ("euclidean", lambda n, r: {"w": weights(n, r)}),
        ("minkowski", lambda n, r: {"p": 3, "w": weights(n, r)}),
        ("correlation", lambda n, r: {"w": weights(n, r)}),
        ("canberra", lambda n, r: {"w": weights(n, r)}),
        ("hamming", lambda n, r: {"w": weights(n, r)}),
        ("seuclidean", lambda n, r: {"V": r.uniform(0.5, 2, n)}),
        ("mahalanobis", lambda n, r: {"VI": spd_VI(n, r)}),
        ("mahalanobis", lambda n, r: {"VI": indefinite_VI(n, r)}),
        ("mahalanobis", lambda n, r: {}),
        ("seuclidean", lambda n, r: {}),
    ],
    ids=[
        "euclidean-w",
        "minkowski-w",
        "correlation-w",
        "canberra-w",
        "hamming-w",
        "seuclidean-V",
        "mahalanobis-spd",
        "mahalanobis-indef",
        "mahalanobis-default",
        "seuclidean-default",
    ],
)
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_user_arrays_never_modified(metric, make, layout, backend, dtype):
    rng = np.random.default_rng(99)
    XA = _layouts(XA64.astype(dtype))[layout]
    XB = _layouts(XB64.astype(dtype))[layout]
    kw = make(6, rng)
    kw = {
        k: (_layouts(v[None, :])[layout][0] if v.ndim == 1 else _layouts(v)[layout])
        if isinstance(v, np.ndarray)
        else v
        for k, v in kw.items()
    }
    arrays = [XA, XB] + [v for v in kw.values() if isinstance(v, np.ndarray)]
    snapshot = [a.copy() for a in arrays]
    flags = [(a.flags.writeable, a.strides) for a in arrays]
    d = fastml.cdist(XA, XB, metric, backend=backend, **kw)
    p = fastml.pdist(XA, metric, backend=backend, **kw)
    for a, s in zip(arrays, snapshot, strict=True):
        np.testing.assert_array_equal(a, s)
    assert flags == [(a.flags.writeable, a.strides) for a in arrays]
    assert_close_to_scipy(d, scipy_cdist(XA, XB, metric, **kw), dtype)
    assert_close_to_scipy(p, scipy_pdist(XA, metric, **kw), dtype)
    # the result does not share memory with the inputs
    assert not np.may_share_memory(d, XA) and not np.may_share_memory(d, XB)


def test_read_only_input_accepted(backend, dtype):
    XA, XB = XA64.astype(dtype), XB64.astype(dtype)
    XA.flags.writeable = False
    XB.flags.writeable = False
    d = fastml.cdist(XA, XB, "sqeuclidean", backend=backend)
    assert_close_to_scipy(d, scipy_cdist(XA, XB, "sqeuclidean"), dtype)
