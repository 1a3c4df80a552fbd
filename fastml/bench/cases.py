"""Benchmark cases: the one place that defines what is timed, on what data,
against which peers, and how each result is checked.

Both front ends use these definitions: the pytest-benchmark suites in
``benchmarks/`` and the ``fastml bench`` command.

A :class:`Case` is one operation at one size and dtype (e.g. cdist euclidean,
4000 x 4000 x 64, float64). It makes its inputs (seeded), names the
implementations that compete (fastml's backends, "auto", and peers such as
SciPy or a NumPy matrix-product formula), and checks any implementation's
result against a reference before it is timed, so a fast wrong kernel cannot win.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable

import numpy as np

__all__ = ["DISTANCE_METRICS", "PEERS", "SIZES", "Case", "distance_cases", "peer_available"]

#: (mA, mB, n) per size preset. "python" is the size the pure-Python baseline
#: runs at (it would take minutes at the others); its cost is reported per pair.
#: "tiny" is for the command line's own tests (not advertised).
SIZES = {
    "tiny": {"main": (40, 40, 8), "python": (12, 12, 8)},
    "quick": {"main": (1000, 1000, 64), "python": (48, 48, 64)},
    "default": {"main": (4000, 4000, 64), "python": (64, 64, 64)},
    "full": {"main": (10000, 10000, 64), "python": (96, 96, 64)},
}

# (label, metric, kwargs) for every metric the distance suite covers.
DISTANCE_METRICS = [
    ("euclidean", "euclidean", {}),
    ("sqeuclidean", "sqeuclidean", {}),
    ("cityblock", "cityblock", {}),
    ("chebyshev", "chebyshev", {}),
    ("minkowski-p3", "minkowski", {"p": 3.0}),
    ("cosine", "cosine", {}),
    ("correlation", "correlation", {}),
    ("seuclidean", "seuclidean", {}),
    ("mahalanobis", "mahalanobis", {"VI": "spd"}),  # VI made per size, see _kwargs_for
    ("canberra", "canberra", {}),
    ("braycurtis", "braycurtis", {}),
    ("hamming", "hamming", {}),
    ("jaccard", "jaccard", {}),
]


def _kwargs_for(kwargs, n):
    """Materialise placeholder kwargs: "spd" -> a well-conditioned n x n inverse covariance.

    (SciPy's default VI needs more distinct rows than features, which the small
    pure-Python size does not have.)
    """
    if kwargs.get("VI") == "spd":
        rng = np.random.default_rng(1)
        sample = rng.standard_normal((4 * n, n))
        return {**kwargs, "VI": np.linalg.inv(np.cov(sample.T))}
    return kwargs


#: Peers fastml is compared with: name -> importable module. "numpy" times the
#: matrix-product formulas NumPy users write (``numpy-matmul`` in results).
PEERS = {
    "scipy": "scipy",
    "numpy": "numpy",
    "sklearn": "sklearn",
    "faiss": "faiss",
    "torch": "torch",
    "dask-ml": "dask_ml",
}


def peer_available(name):
    """True if the peer library ``name`` (scipy, sklearn, ...) can be imported."""
    return importlib.util.find_spec(PEERS.get(name, name)) is not None


@dataclasses.dataclass
class Case:
    """One timed operation at one size and dtype.

    Attributes
    ----------
    suite : str
        "distance", ...
    op : str
        Operation and variant, e.g. "cdist-euclidean".
    shape : tuple of int
        (mA, mB, n) for distances.
    dtype : str
        "float32" or "float64".
    units : int
        Work units (pairs for distances), for per-unit costs across sizes.
    make : callable
        ``make() -> inputs`` (a dict), deterministic.
    impls : dict of str -> callable
        ``impl(inputs) -> result``; keys are "fastml-<backend>", "fastml-auto"
        or a peer's name.
    reference : callable
        ``reference(inputs) -> expected result``.
    rtol, atol : float
        Tolerances of :meth:`check`.
    loose : dict of str -> (rtol, atol)
        Wider tolerances for peers whose formula is known to lose digits
        (the matrix-product forms near zero distance).
    unit : str
        What one of :attr:`units` is ("pair" for distances).
    role : str
        "main" (the preset's timed size) or "python" (the small size the
        pure-Python baseline runs at).
    checker : callable, optional
        ``checker(result, expected, rtol, atol, err_msg)`` raising
        AssertionError, for results that are not one array (e.g. neighbour
        indices and distances, a fitted model's loss); default: allclose.
    """

    suite: str
    op: str
    shape: tuple
    dtype: str
    units: int
    make: Callable
    impls: dict
    reference: Callable
    rtol: float
    atol: float
    loose: dict = dataclasses.field(default_factory=dict)
    unit: str = "pair"
    role: str = "main"
    checker: Callable | None = None

    @property
    def size_label(self):
        return "x".join(map(str, self.shape))

    @property
    def group(self):
        """pytest-benchmark group: one per operation, size and dtype."""
        return f"{self.op} {self.size_label} {self.dtype}"

    def inputs(self):
        """The case's inputs, made once and kept until :meth:`release`."""
        if getattr(self, "_inputs", None) is None:
            self._inputs = self.make()
        return self._inputs

    def expected(self, inputs):
        """The reference result for ``inputs``, kept until :meth:`release`."""
        if getattr(self, "_expected_for", None) is not inputs:
            self._expected_value = self.reference(inputs)
            self._expected_for = inputs
        return self._expected_value

    def release(self):
        """Drop the cached inputs and reference (they can be large)."""
        self._inputs = self._expected_value = self._expected_for = None

    def check(self, result, inputs, impl=None):
        """Raise AssertionError if ``result`` (of ``impl``) differs from the reference."""
        expected = self.expected(inputs)
        rtol, atol = self.loose.get(impl, (self.rtol, self.atol))
        if self.checker is not None:
            msg = f"benchmark result check failed for {self.group}"
            self.checker(result, expected, rtol, atol, msg)
            return
        np.testing.assert_allclose(
            np.asarray(result, dtype=np.float64),
            np.asarray(expected, dtype=np.float64),
            rtol=rtol,
            atol=atol,
            equal_nan=True,
            err_msg=f"benchmark result check failed for {self.group}",
        )


def _fastml_impls(metric, kwargs, backends):
    import fastml

    def make(backend):
        return lambda d: fastml.cdist(d["XA"], d["XB"], metric, backend=backend, **kwargs)

    impls = {f"fastml-{b}": make(b) for b in backends}
    impls["fastml-auto"] = make("auto")
    return impls


def _numpy_gemm(metric):
    """The matrix-product formulas NumPy users write today (the fastest peer there)."""

    def sq(d):
        A = d["XA"]
        B = d["XB"]
        D = A @ B.T
        D *= -2
        D += np.einsum("ij,ij->i", A, A)[:, None]
        D += np.einsum("ij,ij->i", B, B)[None, :]
        np.maximum(D, 0, out=D)
        return D

    def euclid(d):
        return np.sqrt(sq(d))

    def cosine(d, center=False):
        A = d["XA"]
        B = d["XB"]
        if center:
            A = A - A.mean(axis=1, keepdims=True)
            B = B - B.mean(axis=1, keepdims=True)
        A = A / np.linalg.norm(A, axis=1, keepdims=True)
        B = B / np.linalg.norm(B, axis=1, keepdims=True)
        D = A @ B.T
        np.subtract(1, D, out=D)
        return D

    return {
        "sqeuclidean": sq,
        "euclidean": euclid,
        "cosine": cosine,
        "correlation": lambda d: cosine(d, center=True),
    }.get(metric)


def _scipy_impl(metric, kwargs):
    from scipy.spatial.distance import cdist

    return lambda d: cdist(d["XA"], d["XB"], metric, **kwargs)


def _sklearn_impl(metric):
    """scikit-learn's own pairwise implementations (the others call SciPy's cdist)."""
    from sklearn.metrics import pairwise

    return {
        "euclidean": lambda d: pairwise.euclidean_distances(d["XA"], d["XB"]),
        "sqeuclidean": lambda d: pairwise.euclidean_distances(d["XA"], d["XB"], squared=True),
        "cosine": lambda d: pairwise.cosine_distances(d["XA"], d["XB"]),
    }.get(metric)


def distance_cases(
    sizes="default",
    dtypes=("float64", "float32"),
    backends=None,
    peers=None,
    metrics=None,
    *,
    all_at_python_size=False,
):
    """Build the cdist cases.

    Parameters
    ----------
    sizes : {"quick", "default", "full"}
        Size preset (:data:`SIZES`).
    dtypes : tuple of str
    backends : tuple of str, optional
        fastml backends to time (default: every available one). "python" runs
        only at the preset's small "python" size.
    peers : tuple of str, optional
        Peers to time: "scipy", "numpy" (matrix-product formulas, where one
        exists), "sklearn" (scikit-learn's own euclidean, sqeuclidean and
        cosine). Default: scipy and numpy, where installed.
    metrics : tuple of str, optional
        Labels from :data:`DISTANCE_METRICS` (default: all).
    all_at_python_size : bool
        If True, the small "python"-size cases time every backend and peer
        too, not only the pure-Python baseline (``fastml bench`` does, for
        its scaling curves and non-extrapolated speed-ups).

    Returns
    -------
    list of Case
    """
    import fastml

    if backends is None:
        backends = fastml.available_backends()
    if peers is None:
        peers = tuple(p for p in ("scipy", "numpy") if p == "numpy" or peer_available(p))
    cases = []
    for label, metric, kwargs in DISTANCE_METRICS:
        if metrics is not None and label not in metrics:
            continue
        for dtype in dtypes:
            for role in ("main", "python"):
                shape = SIZES[sizes][role]
                kw = _kwargs_for(kwargs, shape[2])
                if role == "python" and not all_at_python_size:
                    chosen = ("python",) if "python" in backends else ()
                elif role == "python":
                    chosen = tuple(backends)
                else:
                    chosen = tuple(b for b in backends if b != "python")
                impls = _fastml_impls(metric, kw, chosen)
                if role == "python" and not all_at_python_size:
                    impls.pop("fastml-auto")
                else:
                    if "scipy" in peers:
                        impls["scipy"] = _scipy_impl(metric, kw)
                    if "numpy" in peers and _numpy_gemm(metric) is not None:
                        impls["numpy-matmul"] = _numpy_gemm(metric)
                    if "sklearn" in peers and _sklearn_impl(metric) is not None:
                        impls["sklearn"] = _sklearn_impl(metric)
                if not impls:
                    continue
                cases.append(_distance_case(label, metric, kw, shape, dtype, impls, role))
    return cases


def _distance_case(label, metric, kwargs, shape, dtype, impls, role="main"):
    mA, mB, n = shape

    def make(shape=shape, dtype=dtype):
        rng = np.random.default_rng(0)
        XA = rng.standard_normal((mA, n)).astype(dtype)
        XB = XA if mA == mB else rng.standard_normal((mB, n)).astype(dtype)
        if metric in ("hamming", "jaccard"):
            # Those count (un)equal features: use data with ties and zeros.
            XA = np.round(XA).astype(dtype)
            XB = np.round(XB).astype(dtype)
        return {"XA": XA, "XB": XB}

    def reference(d):
        from ..distance import cdist

        # float64 numpy backend: an independent formula, fine at any size.
        return cdist(
            d["XA"].astype(np.float64),
            d["XB"].astype(np.float64),
            metric,
            backend="numpy",
            **kwargs,
        )

    tight = dtype == "float64"
    return Case(
        suite="distance",
        op=f"cdist-{label}",
        shape=shape,
        dtype=dtype,
        units=mA * mB,
        make=make,
        impls=impls,
        reference=reference,
        rtol=1e-7 if tight else 1e-4,
        atol=1e-9 if tight else 1e-4,
        loose=dict.fromkeys(("numpy-matmul", "sklearn"), (1e-5, 1e-5) if tight else (1e-3, 1e-2)),
        role=role,
    )


#: Peers the distance suite compares with (``fastml bench`` reads this).
SUITE_PEERS = ("scipy", "numpy", "sklearn")
