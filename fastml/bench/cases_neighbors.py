"""Benchmark cases of the ``neighbors`` suite: kneighbors (k = 10, euclidean).

fastml's ``kneighbors`` on each backend against scikit-learn's
``NearestNeighbors(algorithm="brute").kneighbors`` and faiss's exact
``IndexFlatL2`` search (float32 only: faiss computes in float32), and the
pure-Python baseline at a small size. Every result is checked against a
float64 brute-force reference (full distance matrix, stable sort): the
neighbour sets must match except at genuine ties, and the distances to the
dtype's precision. Peers use the matrix-product form, so their distances are
checked with a looser tolerance (``Case.loose``).

The "default" size is issue 4's: 20000 query x 20000 base points, d = 64.
"""

from __future__ import annotations

import numpy as np

from .cases import Case, peer_available

__all__ = ["NEIGHBORS_SIZES", "SUITE_PEERS", "neighbors_cases"]

#: (n_queries, n_base, n_features) per size preset; "python" is the small
#: size at which the pure-Python baseline runs.
NEIGHBORS_SIZES = {
    "tiny": {"main": (60, 80, 8), "python": (12, 30, 8)},
    "quick": {"main": (2000, 5000, 64), "python": (40, 200, 64)},
    "default": {"main": (20000, 20000, 64), "python": (50, 400, 64)},
    "full": {"main": (50000, 50000, 64), "python": (100, 1000, 64)},
}
K = 10

#: Peers the neighbors suite compares with (``fastml bench`` reads this).
SUITE_PEERS = ("sklearn", "faiss")


def check_knn(result, expected, rtol, atol, err_msg=""):
    """``result`` = (distances, indices) against the reference (distances, indices, D2).

    Indices must equal the reference's except where the reference distances of
    the two candidates agree within the tolerance (a genuine tie).
    """
    dist, ind = (np.asarray(a) for a in result)
    ref_d, ref_i = expected[0], expected[1]
    if ind.shape != ref_i.shape:
        raise AssertionError(f"{err_msg}: shape {ind.shape}, expected {ref_i.shape}")
    np.testing.assert_allclose(
        dist.astype(np.float64), ref_d, rtol=rtol, atol=atol, err_msg=err_msg
    )
    diff = ind != ref_i
    if diff.any():
        # the reference distance of each differing index, recomputed directly
        X, Y = expected[2], expected[3]
        rows = np.nonzero(diff)[0]
        got = np.sqrt(((X[rows] - Y[ind[diff]]) ** 2).sum(axis=1))
        np.testing.assert_allclose(got, ref_d[diff], rtol=rtol, atol=atol, err_msg=err_msg)


def _reference(d):
    """float64 brute force, k smallest by (distance, index), in blocks of queries."""
    X = d["X"].astype(np.float64)
    Y = d["Y"].astype(np.float64)
    out_d = np.empty((len(X), K))
    out_i = np.empty((len(X), K), np.int64)
    ny = np.einsum("ij,ij->i", Y, Y)
    for a in range(0, len(X), 1000):
        Q = X[a : a + 1000]
        G = ny[None, :] - 2.0 * (Q @ Y.T)  # candidate ranking, then exact recompute
        kk = min(K + 20, G.shape[1] - 1)
        cand = np.argpartition(G, kk, axis=1)[:, : kk + 1]
        diff = Q[:, None, :] - Y[cand]
        exact = np.einsum("ijk,ijk->ij", diff, diff)
        order = np.lexsort((cand, exact), axis=1)[:, :K]
        out_i[a : a + 1000] = np.take_along_axis(cand, order, 1)
        out_d[a : a + 1000] = np.sqrt(np.take_along_axis(exact, order, 1))
    return out_d, out_i, X, Y


def _impls(backends, peers, dtype):
    from ..neighbors import kneighbors

    impls = {
        f"fastml-{b}": (lambda d, b=b: kneighbors(d["X"], d["Y"], K, backend=b)) for b in backends
    }
    impls["fastml-auto"] = lambda d: kneighbors(d["X"], d["Y"], K, backend="auto")
    if "sklearn" in peers and peer_available("sklearn"):

        def sk(d):
            from sklearn.neighbors import NearestNeighbors

            model = d.get("_sk")
            if model is None:  # fit once (it only stores Y), query in the timing
                model = d["_sk"] = NearestNeighbors(n_neighbors=K, algorithm="brute").fit(d["Y"])
            return model.kneighbors(d["X"])

        impls["sklearn"] = sk
    if "faiss" in peers and dtype == "float32" and peer_available("faiss"):

        def fa(d):
            import faiss

            index = d.get("_faiss")
            if index is None:  # index once (a copy of Y), search in the timing
                index = d["_faiss"] = faiss.IndexFlatL2(d["Y"].shape[1])
                index.add(d["Y"])
            D, I = index.search(d["X"], K)
            return np.sqrt(np.maximum(D, 0)), I

        impls["faiss"] = fa
    return impls


def neighbors_cases(
    sizes="default",
    dtypes=("float64", "float32"),
    backends=None,
    peers=None,
    *,
    all_at_python_size=False,
):
    """Build the kneighbors cases (see the module docstring).

    Parameters
    ----------
    sizes : {"tiny", "quick", "default", "full"}
    dtypes : tuple of str
    backends : tuple of str, optional
        fastml backends (default: every available one); "python" runs only at
        the preset's small size.
    peers : tuple of str, optional
        Subset of :data:`SUITE_PEERS` (default: all installed).
    all_at_python_size : bool
        Time every implementation at the small size too.

    Returns
    -------
    list of Case
    """
    import fastml

    if backends is None:
        backends = fastml.available_backends()
    if peers is None:
        peers = tuple(p for p in SUITE_PEERS if peer_available(p))
    cases = []
    for dtype in dtypes:
        for role in ("main", "python"):
            shape = NEIGHBORS_SIZES[sizes][role]
            if role == "python" and not all_at_python_size:
                chosen, case_peers = (("python",) if "python" in backends else ()), ()
            elif role == "python":
                chosen, case_peers = tuple(backends), peers
            else:
                chosen, case_peers = tuple(b for b in backends if b != "python"), peers
            impls = _impls(chosen, case_peers, dtype)
            if role == "python" and not all_at_python_size:
                impls.pop("fastml-auto")
            if impls:
                cases.append(_case(shape, dtype, impls, role))
    return cases


def _case(shape, dtype, impls, role):
    nq, m, n = shape

    def make():
        rng = np.random.default_rng(0)
        return {
            "X": rng.standard_normal((nq, n)).astype(dtype),
            "Y": rng.standard_normal((m, n)).astype(dtype),
        }

    tight = dtype == "float64"
    return Case(
        suite="neighbors",
        op="kneighbors-euclidean-k10",
        shape=shape,
        dtype=dtype,
        units=nq * m,
        make=make,
        impls=impls,
        reference=_reference,
        rtol=1e-9 if tight else 1e-5,
        atol=1e-9 if tight else 1e-5,
        loose=dict.fromkeys(("sklearn", "faiss"), (1e-4, 1e-3)),
        role=role,
        checker=check_knn,
    )
