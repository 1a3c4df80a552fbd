"""Metric cases shared by the distance tests: (id, metric, kwargs factory, data kind)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial import distance as sd


def weights(n, rng):
    """Positive weights with zeros at positions 1, 4, 7, ... (index 0 stays > 0)."""
    w = rng.uniform(0.2, 2.0, n)
    w[1::3] = 0.0
    return w


def spd_VI(n, rng):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + np.eye(n)


def indefinite_VI(n, rng):
    """Non-symmetric VI whose symmetric part is diag(1, ..., 1, -1.5).

    Not positive definite (fastml's kernel takes any VI); the skew part adds
    nothing to the form but makes VI non-symmetric. The quadratic
    form is negative for some pairs (NaN, as in SciPy) and positive for others.
    """
    S = np.eye(n)
    S[-1, -1] = -1.5
    K = rng.standard_normal((n, n)) * 0.5
    return S + (K - K.T)


class Case:
    def __init__(self, id, metric, make_kwargs=None, kind="normal", needs_rows=None):
        self.id = id
        self.metric = metric
        self.make_kwargs = make_kwargs or (lambda n, rng: {})
        self.kind = kind
        # needs_rows(m_total, n) -> bool: can the metric's defaults be computed?
        self.needs_rows = needs_rows

    def __repr__(self):
        return self.id


PLAIN = [
    "euclidean",
    "sqeuclidean",
    "cityblock",
    "chebyshev",
    "cosine",
    "correlation",
    "canberra",
    "braycurtis",
]
SETS = ["hamming", "jaccard"]
MINKOWSKI_P = [1, 2, 3, 0.5, 1.5, 4, np.inf]
WEIGHTED = PLAIN + SETS + ["minkowski-p3", "minkowski-p0.5", "minkowski-p1", "minkowski-pinf"]


def _mk_weighted(name):
    if name.startswith("minkowski-p"):
        p = float(name[len("minkowski-p") :])
        return Case(f"{name}-w", "minkowski", lambda n, rng, p=p: {"p": p, "w": weights(n, rng)})
    kind = "int" if name in SETS else "normal"
    return Case(f"{name}-w", name, lambda n, rng: {"w": weights(n, rng)}, kind)


CASES = (
    [Case(m, m) for m in PLAIN]
    + [Case(m, m, kind="int") for m in SETS]
    + [Case(f"minkowski-p{p}", "minkowski", lambda n, rng, p=p: {"p": p}) for p in MINKOWSKI_P]
    + [
        Case("seuclidean-defaultV", "seuclidean", needs_rows=lambda m, n: m >= 2),
        Case("seuclidean-V", "seuclidean", lambda n, rng: {"V": rng.uniform(0.3, 3.0, n)}),
        Case("mahalanobis-defaultVI", "mahalanobis", needs_rows=lambda m, n: m > n),
        Case("mahalanobis-spdVI", "mahalanobis", lambda n, rng: {"VI": spd_VI(n, rng)}),
        Case(
            "mahalanobis-indefiniteVI", "mahalanobis", lambda n, rng: {"VI": indefinite_VI(n, rng)}
        ),
    ]
    + [_mk_weighted(name) for name in WEIGHTED]
    + [Case("jensenshannon", "jensenshannon", kind="dist")]
)
CASE_IDS = [c.id for c in CASES]


def make_data(case, shapes, dtype, seed):
    """Arrays of ``dtype`` for ``case`` plus the metric kwargs (float64)."""
    rng = np.random.default_rng(seed)
    n = shapes[0][1]
    arrays = []
    for shape in shapes:
        if case.kind == "int":
            arrays.append(rng.integers(0, 3, size=shape).astype(dtype))
        elif case.kind == "dist":
            # unnormalised histograms with empty bins; row 2 all zeros and row 4
            # with a negative count: no distributions (inf, as in SciPy)
            x = rng.random(shape) * rng.uniform(0.1, 10.0, (shape[0], 1))
            x[rng.random(shape) < 0.2] = 0.0
            if shape[0] > 2:
                x[2] = 0.0
            if shape[0] > 4:
                x[4, 0] = -0.5
            arrays.append(x.astype(dtype))
        else:
            x = rng.standard_normal(shape)
            if case.metric in ("canberra", "braycurtis"):
                x[rng.random(shape) < 0.15] = 0.0  # exercise 0/0 terms
            arrays.append(x.astype(dtype))
    return arrays, case.make_kwargs(n, rng)


def quiet(func, *args, **kwargs):
    """Call an oracle with its RuntimeWarnings (sqrt of negative, 0/0) silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def as64(x):
    return np.asarray(x, dtype=np.float64)


def scipy_cdist(XA, XB, metric, **kwargs):
    if np.asarray(XA).dtype != bool or np.asarray(XB).dtype != bool:
        XA, XB = as64(XA), as64(XB)
    D = quiet(sd.cdist, XA, XB, metric, **kwargs)
    return _jensenshannon_fixed(XA, XB, D) if metric == "jensenshannon" else D


def scipy_pdist(X, metric, **kwargs):
    if np.asarray(X).dtype != bool:
        X = as64(X)
    if metric == "jensenshannon":  # SciPy's pdist has cdist's NaN: fixed the same way
        D = scipy_cdist(X, X, metric, **kwargs)
        return D[np.triu_indices(X.shape[0], 1)]
    return quiet(sd.pdist, X, metric, **kwargs)


def _distribution_rows(X):
    X = as64(X)
    return np.isfinite(X).all(axis=1) & (X >= 0).all(axis=1) & (X.sum(axis=1) > 0)


def _jensenshannon_fixed(XA, XB, D):
    """SciPy's compiled jensenshannon returns NaN where rounding leaves the
    divergence of two near-equal distributions a hair below 0 (sqrt(-1e-17));
    those pairs get SciPy's pure-Python ``jensenshannon`` (0 there)."""
    ii, jj = np.nonzero(
        np.isnan(D) & _distribution_rows(XA)[:, None] & _distribution_rows(XB)[None, :]
    )
    for i, j in zip(ii, jj, strict=True):
        D[i, j] = sd.jensenshannon(as64(XA[i]), as64(XB[j]))
    return D
