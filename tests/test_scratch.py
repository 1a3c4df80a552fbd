"""fastml._scratch: reused zeroed temporaries of the k-means kernels."""

import threading

import numpy as np

from fastml import _scratch


def test_zeros_are_zero_on_reuse_and_keys_are_separate():
    a = _scratch.zeros((3, 4), "test-a")
    assert a.shape == (3, 4) and a.dtype == np.float64 and a.flags.c_contiguous
    assert not a.any()
    a[...] = 7.0
    b = _scratch.zeros((2, 5), "test-b")  # another key: a is untouched
    assert (a == 7.0).all() and not b.any()
    again = _scratch.zeros((2, 2), "test-a")  # the same key: the same memory, cleared
    assert np.shares_memory(again, a) and not again.any()
    bigger = _scratch.zeros((10, 10), "test-a")
    assert bigger.shape == (10, 10) and not bigger.any()


def test_zeros_per_thread_and_large_arrays_not_kept():
    mine = _scratch.zeros((4,), "test-thread")
    other = []
    t = threading.Thread(target=lambda: other.append(_scratch.zeros((4,), "test-thread")))
    t.start()
    t.join()
    assert not np.shares_memory(mine, other[0])
    n = _scratch.MAX_BYTES // 8 + 1
    big = _scratch.zeros((n,), "test-big")
    assert not big.any() and not np.shares_memory(big, _scratch.zeros((n,), "test-big"))


def test_count_changed_matches_numpy():
    from fastml.dask import _count_changed

    rng = np.random.default_rng(0)
    for n in (0, 1, 16384, 16385, 100003):
        a = rng.integers(0, 5, n).astype(np.int32)
        b = np.where(rng.random(n) < 0.3, a + 1, a).astype(np.int32)
        assert _count_changed(a, b, chunk=16384) == int(np.count_nonzero(a != b))
        assert _count_changed(a, b, chunk=7) == int(np.count_nonzero(a != b))
