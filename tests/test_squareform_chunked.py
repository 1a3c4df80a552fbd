"""squareform vs SciPy; pairwise_distances_chunked vs scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from _cases import scipy_cdist, scipy_pdist
from conftest import assert_close_to_scipy
from scipy.spatial import distance as sd
from sklearn.metrics import pairwise_distances_chunked as sk_chunked

import fastml

# scikit-learn (the oracle) warns when asked for blocks below one row.
pytestmark = pytest.mark.filterwarnings("ignore:Could not adhere to working_memory:UserWarning")

# ---------------------------------------------------------------- squareform


@pytest.mark.parametrize("m", [1, 2, 3, 7, 16, 61])
def test_squareform_round_trip_matches_scipy(m, dtype):
    X = np.random.default_rng(m).standard_normal((m, 4)).astype(dtype)
    v = fastml.pdist(X, backend="numpy")
    M = fastml.squareform(v)
    M_ref = sd.squareform(v)
    assert M.dtype == v.dtype == dtype
    np.testing.assert_array_equal(M, M_ref)
    back = fastml.squareform(M)
    np.testing.assert_array_equal(back, sd.squareform(M_ref))
    np.testing.assert_array_equal(back, v)
    assert back.dtype == dtype


@pytest.mark.parametrize("in_dtype", [np.int32, np.int64, np.float32, np.float64, np.bool_])
def test_squareform_dtype_preserved(in_dtype):
    v = np.array([1, 0, 3, 1, 2, 0]).astype(in_dtype)
    M = fastml.squareform(v)
    assert M.dtype == sd.squareform(v).dtype == in_dtype
    np.testing.assert_array_equal(M, sd.squareform(v))
    assert fastml.squareform(M).dtype == in_dtype


def test_squareform_pdist_equals_cdist(backend, dtype):
    X = np.random.default_rng(1).standard_normal((13, 5)).astype(dtype)
    for metric in ("euclidean", "cityblock", "cosine"):
        D = fastml.cdist(X, X, metric, backend=backend)
        M = fastml.squareform(fastml.pdist(X, metric, backend=backend))
        off = ~np.eye(13, dtype=bool)
        assert_close_to_scipy(M[off], D[off], dtype)
        assert (np.diag(M) == 0).all()


def test_squareform_force():
    v = np.arange(1.0, 7.0)
    M = fastml.squareform(v, force="tomatrix")
    np.testing.assert_array_equal(M, sd.squareform(v, force="tomatrix"))
    np.testing.assert_array_equal(
        fastml.squareform(M, force="tovector"), sd.squareform(M, force="tovector")
    )
    with pytest.raises(ValueError, match="force"):
        fastml.squareform(v, force="tovector")
    with pytest.raises(ValueError, match="force"):
        fastml.squareform(M, force="tomatrix")
    with pytest.raises(ValueError, match="force must be"):
        fastml.squareform(v, force="sideways")


def test_squareform_checks():
    asym = np.array([[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="symmetric"):
        sd.squareform(asym)
    with pytest.raises(ValueError, match="symmetric"):
        fastml.squareform(asym)
    diag = np.array([[1.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="diagonal must be zero"):
        fastml.squareform(diag)
    # checks=False: SciPy takes the upper triangle
    np.testing.assert_array_equal(
        fastml.squareform(asym, checks=False), sd.squareform(asym, checks=False)
    )
    np.testing.assert_array_equal(
        fastml.squareform(diag, checks=False), sd.squareform(diag, checks=False)
    )


@pytest.mark.parametrize("k", [2, 4, 5, 7, 11])
def test_squareform_bad_length(k):
    with pytest.raises(ValueError):
        sd.squareform(np.ones(k))
    with pytest.raises(ValueError, match="Incompatible vector size"):
        fastml.squareform(np.ones(k))


def test_squareform_edge_shapes():
    M = fastml.squareform(np.array([], dtype=np.float32))
    assert M.shape == (1, 1) and M.dtype == np.float32 and M[0, 0] == 0
    np.testing.assert_array_equal(M, sd.squareform(np.array([], dtype=np.float32)))
    v = fastml.squareform(np.zeros((1, 1)))
    assert v.shape == (0,)
    with pytest.raises(ValueError, match="square"):
        fastml.squareform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3-D"):
        fastml.squareform(np.zeros((2, 2, 2)))


def test_squareform_does_not_alias_input():
    v = np.arange(1.0, 4.0)
    M = fastml.squareform(v)
    M[0, 1] = 99
    assert v[0] == 1.0


# ---------------------------------------------------------------- chunked


def _concat(gen):
    return np.vstack(list(gen))


@pytest.mark.parametrize(
    "metric", ["euclidean", "cityblock", "cosine", "chebyshev", "minkowski", "correlation"]
)
def test_chunked_matches_sklearn_and_cdist(metric, backend, dtype):
    rng = np.random.default_rng(2)
    n_cols = 400 if backend != "python" else 40
    X = rng.standard_normal((97, 6)).astype(dtype)
    Y = rng.standard_normal((n_cols, 6)).astype(dtype)
    wm = 0.05  # MiB
    blocks = list(
        fastml.pairwise_distances_chunked(X, Y, metric=metric, working_memory=wm, backend=backend)
    )
    sk_blocks = list(
        sk_chunked(X.astype(np.float64), Y.astype(np.float64), metric=metric, working_memory=wm)
    )
    D = np.vstack(blocks)
    assert all(b.dtype == dtype for b in blocks)
    assert_close_to_scipy(D, fastml.cdist(X, Y, metric, backend=backend), dtype)
    assert_close_to_scipy(D, scipy_cdist(X, Y, metric), dtype)
    assert_close_to_scipy(D, np.vstack(sk_blocks), dtype, scale=10.0)
    if dtype == np.float64:  # same row blocks as scikit-learn
        assert [len(b) for b in blocks] == [len(b) for b in sk_blocks]


@pytest.mark.parametrize("dtype_, expected_rows", [(np.float64, 13), (np.float32, 26)])
def test_chunked_block_sizes_respect_working_memory(dtype_, expected_rows):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, 3)).astype(dtype_)
    Y = rng.standard_normal((1000, 3)).astype(dtype_)
    sizes = [len(b) for b in fastml.pairwise_distances_chunked(X, Y, working_memory=0.1)]
    assert sum(sizes) == 100
    assert max(sizes) == expected_rows
    assert all(s == expected_rows for s in sizes[:-1])
    for s in sizes:
        assert s * 1000 * np.dtype(dtype_).itemsize <= 0.1 * 2**20
    if dtype_ == np.float64:
        sk = [len(b) for b in sk_chunked(X, Y, working_memory=0.1)]
        assert sizes == sk


def test_chunked_tiny_working_memory_gives_one_row_blocks():
    X = np.ones((5, 2))
    Y = np.ones((10_000, 2))
    with pytest.warns(UserWarning):  # scikit-learn warns; the oracle for the row count
        sk = [len(b) for b in sk_chunked(X, Y, working_memory=1e-6)]
    sizes = [len(b) for b in fastml.pairwise_distances_chunked(X, Y, working_memory=1e-6)]
    assert sizes == sk == [1] * 5


def test_chunked_default_working_memory_one_block():
    X = np.random.default_rng(4).standard_normal((50, 3))
    blocks = list(fastml.pairwise_distances_chunked(X))
    assert len(blocks) == 1
    assert_close_to_scipy(blocks[0], scipy_cdist(X, X, "euclidean"), np.float64)


def test_chunked_Y_none(backend, dtype):
    X = np.random.default_rng(5).standard_normal((37, 4)).astype(dtype)
    D = _concat(
        fastml.pairwise_distances_chunked(
            X, metric="cityblock", working_memory=0.001, backend=backend
        )
    )
    assert D.shape == (37, 37)
    assert_close_to_scipy(D, scipy_cdist(X, X, "cityblock"), dtype)
    assert (np.diag(D) == 0).all()


def test_chunked_reduce_func_receives_start(backend):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((50, 3))
    Y = rng.standard_normal((200, 3))
    seen = []

    def reduce(D_chunk, start):
        seen.append((start, D_chunk.shape))
        return D_chunk.argmin(axis=1), D_chunk.min(axis=1)

    wm = 8 * 200 * 7 / 2**20  # exactly 7 rows of 200 float64
    out = list(
        fastml.pairwise_distances_chunked(
            X, Y, reduce_func=reduce, working_memory=wm, backend=backend
        )
    )
    sk_seen = []

    def sk_reduce(D_chunk, start):
        sk_seen.append((start, D_chunk.shape))
        return D_chunk.argmin(axis=1), D_chunk.min(axis=1)

    sk_out = list(sk_chunked(X, Y, reduce_func=sk_reduce, working_memory=wm))
    assert seen == sk_seen
    assert [s for s, _ in seen] == list(range(0, 50, 7))
    idx = np.concatenate([o[0] for o in out])
    mins = np.concatenate([o[1] for o in out])
    np.testing.assert_array_equal(idx, np.concatenate([o[0] for o in sk_out]))
    ref = scipy_cdist(X, Y, "euclidean")
    np.testing.assert_array_equal(idx, ref.argmin(axis=1))
    assert_close_to_scipy(mins, ref.min(axis=1), np.float64)


def test_chunked_reduce_func_list_result():
    X = np.random.default_rng(7).standard_normal((20, 2))

    def reduce(D, start):
        return [np.flatnonzero(row < 1.0) for row in D]

    got = [
        a
        for block in fastml.pairwise_distances_chunked(X, reduce_func=reduce, working_memory=0.0005)
        for a in block
    ]
    ref = scipy_cdist(X, X, "euclidean")
    assert len(got) == 20
    for i, a in enumerate(got):
        np.testing.assert_array_equal(a, np.flatnonzero(ref[i] < 1.0))


@pytest.mark.parametrize(
    "bad",
    [
        lambda D, s: D[:-1],
        lambda D, s: (D.min(axis=1), D[:1]),
    ],
)
def test_chunked_reduce_func_wrong_length_raises(bad):
    X = np.random.default_rng(8).standard_normal((10, 2))
    gen = fastml.pairwise_distances_chunked(X, reduce_func=bad, working_memory=400 / 2**20)
    with pytest.raises(ValueError, match="reduce_func returned"):
        list(gen)


def test_chunked_reduce_func_none_raises():
    X = np.ones((3, 2))
    with pytest.raises(TypeError, match="reduce_func"):
        list(fastml.pairwise_distances_chunked(X, reduce_func=lambda D, s: None))


@pytest.mark.parametrize(
    "metric, kw",
    [("seuclidean", {}), ("mahalanobis", {}), ("seuclidean", {"V": np.array([0.5, 1, 2, 4.0])})],
)
@pytest.mark.parametrize("with_Y", [True, False])
def test_chunked_data_dependent_defaults(metric, kw, with_Y, backend, dtype):
    rng = np.random.default_rng(9)
    X = (rng.standard_normal((40, 4)) * [1, 2, 3, 4]).astype(dtype)
    Y = rng.standard_normal((25, 4)).astype(dtype) if with_Y else None
    D = _concat(
        fastml.pairwise_distances_chunked(
            X, Y, metric=metric, working_memory=0.0002, backend=backend, **kw
        )
    )
    Yr = X if Y is None else Y
    if with_Y:
        assert_close_to_scipy(D, scipy_cdist(X, Yr, metric, **kw), dtype)
        assert_close_to_scipy(D, fastml.cdist(X, Yr, metric, backend=backend, **kw), dtype)
    else:  # Y = X: defaults from X alone, as pdist and as scikit-learn
        ref = sd.squareform(scipy_pdist(X, metric, **kw))
        off = ~np.eye(40, dtype=bool)
        assert_close_to_scipy(D[off], ref[off], dtype)
    if Y is None or kw:  # scikit-learn demands V / VI when Y is passed
        sk = _concat(
            sk_chunked(
                X.astype(np.float64),
                None if Y is None else Y.astype(np.float64),
                metric=metric,
                working_memory=0.0002,
                **kw,
            )
        )
        assert_close_to_scipy(D, sk, dtype, scale=10.0)


@pytest.mark.parametrize(
    "wm, exc",
    [(0, ValueError), (-1, ValueError), (np.nan, ValueError), ("1", TypeError), (True, TypeError)],
)
def test_chunked_bad_working_memory_raises_at_call(wm, exc):
    with pytest.raises(exc, match="working_memory"):
        fastml.pairwise_distances_chunked(np.ones((3, 2)), working_memory=wm)


def test_chunked_validates_at_call_time():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="X and Y must have the same number of columns"):
        fastml.pairwise_distances_chunked(X, np.ones((3, 3)))
    with pytest.raises(ValueError, match="unknown metric"):
        fastml.pairwise_distances_chunked(X, metric="nope")
    with pytest.raises(ValueError, match="p must be"):
        fastml.pairwise_distances_chunked(X, metric="minkowski", p=-1)
    with pytest.raises(ValueError, match="w must"):
        fastml.pairwise_distances_chunked(X, metric="cityblock", w=np.ones(5))
    with pytest.raises(TypeError, match="reduce_func must be callable"):
        fastml.pairwise_distances_chunked(X, reduce_func=3)
    with pytest.raises(ValueError, match="unknown backend"):
        fastml.pairwise_distances_chunked(X, backend="bogus")
    with pytest.raises(ValueError, match="X must be a 2-D"):
        fastml.pairwise_distances_chunked(np.ones(3))
    with pytest.raises(ValueError, match="too small"):
        fastml.pairwise_distances_chunked(np.ones((2, 3)), metric="mahalanobis")


def test_chunked_callable_metric():
    X = np.random.default_rng(10).standard_normal((9, 3))

    def f(u, v):
        return float(np.abs(u - v).sum())

    D = _concat(
        fastml.pairwise_distances_chunked(X, metric=f, backend="python", working_memory=0.00003)
    )
    assert_close_to_scipy(D, scipy_cdist(X, X, f), np.float64)
