"""Metric names, their parameters, and their reduction to kernel metrics.

The public API accepts SciPy's metrics and keyword arguments. Before a kernel
runs, each (metric, kwargs) pair is rewritten once, here, into one of the
*kernel metrics* that every backend implements::

    sqeuclidean euclidean cityblock chebyshev minkowski cosine
    canberra braycurtis hamming jaccard mahalanobis dot jensenshannon

Rewrites (exact in real arithmetic; each costs O(n_samples * n_features)):

* weights that factor out of the per-feature term are folded into the data:
  ``sum w|u-v|^p == sum |w^(1/p) u - w^(1/p) v|^p`` (euclidean, sqeuclidean,
  cityblock, minkowski, braycurtis with w; cosine with sqrt(w)); chebyshev's
  weights only select features (``w > 0``), as in SciPy;
* ``seuclidean(V)`` is euclidean on ``x / sqrt(V)``;
* ``correlation`` is cosine on rows centred by their (weighted) mean;
* ``mahalanobis(VI)`` is not rewritten: its kernel evaluates ``d^T VI d`` of
  ``d = u - v`` for any VI. (Euclidean on ``x @ L``, ``L L^T = VI``, is much
  faster but rounds ``u @ L`` and ``v @ L`` separately: near points far from
  the origin lost up to 1e-5 relative against SciPy.)
* ``minkowski`` with p = 1, 2 or inf is cityblock, euclidean or chebyshev.
* ``haversine`` (scikit-learn's great-circle distance of (latitude, longitude)
  in radians) is euclidean on the points' unit vectors in 3-D, whose chord c
  gives the angle 2 arcsin(c / 2) (:func:`haversine_from_chord`); increasing
  in c, so the neighbour kernels search on the chord. The chord of close
  points keeps only ~1e-16 absolute precision, so angles under
  :data:`HAVERSINE_DIRECT` are recomputed by scikit-learn's formula
  (:func:`haversine_pairs`);
* the boolean dissimilarities dice, rogerstanimoto, russellrao, sokalsneath
  and yule are the kernel metric ``dot`` (``sum u v``) on ``sqrt(w) * X``,
  then a formula over its output (:func:`finish_cdist`, :func:`finish_pdist`;
  see :data:`BOOLEAN_COUNTS`).
* ``jensenshannon`` (SciPy's) divides each row by its sum first (in float64,
  summed in feature order as SciPy does); the kernel metric of that name then
  reduces the pair's terms ``a log(a / m) + b log(b / m)``, ``m = (a + b) / 2``
  (a term with a zero coordinate counts 0), to ``sqrt(s / 2)``. A row with a
  negative value or a zero sum is at distance inf from every row, as in
  SciPy; :func:`finish_cdist` / :func:`finish_pdist` set those entries.

Only canberra, hamming and jaccard keep a per-feature weight vector in the
kernel, because their weights cannot be folded into the data.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from ._validation import check_array, check_positive_float, check_weights

__all__ = [
    "KERNEL_METRICS",
    "METRIC_ALIASES",
    "Prepared",
    "canonical_metric",
    "finish_cdist",
    "finish_pdist",
    "haversine_from_chord",
    "haversine_pairs",
    "jaccard_bits",
    "mahalanobis_upper",
    "pack_panels",
    "panel_width",
    "prepare",
    "rows4",
]

KERNEL_METRICS = (
    "sqeuclidean",
    "euclidean",
    "cityblock",
    "chebyshev",
    "minkowski",
    "cosine",
    "canberra",
    "braycurtis",
    "hamming",
    "jaccard",
    "mahalanobis",
    "dot",
    "jensenshannon",
)

# Public metric -> keyword arguments it accepts (SciPy's).
_PARAMS = {
    "euclidean": {"w"},
    "sqeuclidean": {"w"},
    "cityblock": {"w"},
    "chebyshev": {"w"},
    "minkowski": {"p", "w"},
    "cosine": {"w"},
    "correlation": {"w"},
    "seuclidean": {"V"},
    "mahalanobis": {"VI"},
    "canberra": {"w"},
    "braycurtis": {"w"},
    "hamming": {"w"},
    "jaccard": {"w"},
    "dice": {"w"},
    "rogerstanimoto": {"w"},
    "russellrao": {"w"},
    "sokalsneath": {"w"},
    "yule": {"w"},
    "haversine": set(),
    "jensenshannon": set(),
}

METRIC_ALIASES = {
    # SciPy's aliases, plus scikit-learn's names.
    **{a: "euclidean" for a in ("euclidean", "euclid", "eu", "e", "l2")},
    **{a: "sqeuclidean" for a in ("sqeuclidean", "sqe", "sqeuclid")},
    **{a: "cityblock" for a in ("cityblock", "cblock", "cb", "c", "manhattan", "l1", "taxicab")},
    **{a: "chebyshev" for a in ("chebyshev", "chebychev", "cheby", "cheb", "ch", "infinity")},
    **{a: "minkowski" for a in ("minkowski", "mi", "m", "pnorm")},
    **{a: "cosine" for a in ("cosine", "cos")},
    **{a: "correlation" for a in ("correlation", "co")},
    **{a: "seuclidean" for a in ("seuclidean", "se", "s")},
    **{a: "mahalanobis" for a in ("mahalanobis", "mahal", "mah")},
    "canberra": "canberra",
    "braycurtis": "braycurtis",
    **{a: "hamming" for a in ("hamming", "matching", "hamm", "ha", "h")},
    **{a: "jaccard" for a in ("jaccard", "jacc", "ja", "j")},
    **{a: a for a in ("dice", "rogerstanimoto", "russellrao", "sokalsneath", "yule")},
    "haversine": "haversine",
    **{a: "jensenshannon" for a in ("jensenshannon", "js")},
}


def canonical_metric(metric):
    """Return the canonical name of a metric string, or raise ValueError."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string or a callable; got {type(metric).__name__}")
    key = metric.strip().lower()
    if key not in METRIC_ALIASES:
        raise ValueError(
            f"unknown metric {metric!r}; expected one of {', '.join(sorted(_PARAMS))} "
            "or a Numba-jitted function f(u, v) -> float"
        )
    return METRIC_ALIASES[key]


def is_numba_function(func):
    """True if ``func`` is a Numba dispatcher (checked without importing numba)."""
    numba = sys.modules.get("numba")
    if numba is None:
        return False
    from numba.core.dispatcher import Dispatcher

    return isinstance(func, Dispatcher)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Everything a kernel needs: the kernel metric and its converted inputs.

    Attributes
    ----------
    metric : str
        One of :data:`KERNEL_METRICS`.
    XA : ndarray of shape (mA, n)
    XB : ndarray of shape (mB, n) or None
        None for pdist.
    w : ndarray of shape (n,)
        Per-feature weights (canberra, hamming, jaccard); ones otherwise.
        For hamming they are normalised to sum to one.
    p : float
        Minkowski order (minkowski only).
    VI : ndarray of shape (n, n) or (0, 0)
        The inverse covariance for the direct mahalanobis kernel.
    post : str or None
        What :func:`finish_cdist` / :func:`finish_pdist` make of the kernel's
        output: a boolean dissimilarity (:data:`BOOLEAN_COUNTS`, from the
        ``dot`` kernel), "haversine" (from the euclidean chord) or
        "jensenshannon" (inf for the rows marked in ``counts``); None when
        the kernel's output is the distance.
    counts : tuple
        With a boolean ``post``: (su, sv, n, su0, sv0): the weighted row sums
        of XA and of XB (XB's None for pdist), the sum of the weights, and
        (weighted metrics only, else None) the unweighted row sums. With
        haversine: the (latitude, longitude) of XA and XB, float64. With
        jensenshannon: boolean masks of the rows of XA (and of XB, cdist)
        that are at distance inf (a negative value or a zero sum).
    extra : Prepared or None
        With a weighted ``post``: a second kernel run the finish needs (the
        ``dot`` of the unweighted 0/1 data, whose output tells which counts
        are exactly 0; for dice, the weighted count of differing values).
    """

    metric: str
    XA: np.ndarray
    XB: np.ndarray | None
    w: np.ndarray
    p: float
    VI: np.ndarray
    post: str | None = None
    counts: tuple = ()
    extra: Prepared | None = None

    def args(self):
        """(w, p, VI): the trailing arguments of every kernel call."""
        return self.w, self.p, self.VI


def jaccard_bits(X, w):
    """Rows of X as bit sets of their nonzero features, or None if ``w`` matters.

    Jaccard (SciPy's, boolean) only looks at which features are nonzero (NaN
    counts as nonzero), and equal positive weights cancel in its ratio. So the
    compiled backends run unweighted jaccard on these bit sets: per pair,
    ``popcount(a ^ b) / popcount(a | b)`` over ``ceil(n / 64)`` words (exact
    integer counts, then one division) instead of two float sums over n.

    Returns
    -------
    ndarray of uint64, shape (m, ceil(n / 64)), or None
        None if the weights differ between features (or are all zero).
    """
    if w.shape[0] and not (w[0] > 0 and (w == w[0]).all()):
        return None
    words = (X.shape[1] + 63) // 64
    packed = np.packbits(X != 0, axis=1, bitorder="little")
    full = np.zeros((X.shape[0], 8 * words), np.uint8)
    full[:, : packed.shape[1]] = packed
    # native byte order: bit positions may permute, identically for every row
    return full.view(np.uint64)


# canberra's shared division (the compiled kernels' ``canberra_shares_division``
# path): every nonzero |x| in RANGE and every nonzero weight in WEIGHTS. A
# denominator is |a| + |b| computed as (|a| + EPS) + |b|: EPS is far under
# half an ulp of 1e-130, so this is exact unless a = b = 0, where it is EPS.
# Then d0 d1 lies in [EPS^2, 4e260] and w / (d0 d1) in [2.5e-301, 1e307]:
# normal numbers.
CANBERRA_SHARED_RANGE = (1e-130, 1e130)
CANBERRA_SHARED_WEIGHTS = (1e-40, 1e7)
CANBERRA_SHARED_EPS = 1e-150


def _magnitudes_within(X, lo, hi):
    """Whether every element of X is finite and 0 or of magnitude in [lo, hi]."""
    flat = X.reshape(-1)
    for s in range(0, flat.shape[0], 1 << 16):  # bounded temporaries
        a = np.abs(flat[s : s + (1 << 16)])
        if not a.max() <= hi:  # also False for NaN
            return False
        if np.where(a == 0, hi, a).min() < lo:
            return False
    return True


def canberra_shares_division(w, *arrays):
    """Whether float64 canberra may compute two terms with one division.

    The compiled kernels then take two weighted reciprocals from one
    division, ``w/d0 = d1 q`` and ``w/d1 = d0 q`` with ``q = w / (d0 d1)``:
    the divider is canberra's bottleneck, and the products cost less than a
    second division. That needs every value finite, every nonzero magnitude
    within :data:`CANBERRA_SHARED_RANGE` and every nonzero weight within
    :data:`CANBERRA_SHARED_WEIGHTS` (no overflow or underflow, and no NaN or
    inf to spread from one term to its partner).
    Other inputs, and float32 (whose divider is not the bottleneck), take
    one division per term.

    Parameters
    ----------
    w : ndarray of shape (n,)
    *arrays : ndarray of shape (m, n)

    Returns
    -------
    bool
    """
    if any(X.dtype != np.float64 for X in arrays):
        return False
    return _magnitudes_within(w, *CANBERRA_SHARED_WEIGHTS) and all(
        _magnitudes_within(X, *CANBERRA_SHARED_RANGE) for X in arrays
    )


def panel_width(dtype):
    """Rows of XB per panel of the compiled panel kernels (2 vectors of 256 bits)."""
    return 8 if dtype == np.float64 else 16


def pack_panels(XB):
    """XB as panels for the compiled kernels: P[p, k, l] = XB[W p + l, k], W = panel_width.

    Feature-major blocks of W rows (zero rows pad the last one): a panel
    kernel loads W rows' values of one feature as two vectors.
    """
    m, d = XB.shape
    W = panel_width(XB.dtype)
    n_pan = -(-m // W)
    padded = np.zeros((n_pan * W, d), XB.dtype)
    padded[:m] = XB
    return np.ascontiguousarray(padded.reshape(n_pan, W, d).transpose(0, 2, 1))


def rows4(X):
    """X with zero rows appended up to a multiple of 4 (the panel kernels take 4 rows)."""
    pad = -X.shape[0] % 4
    return X if pad == 0 else np.concatenate([X, np.zeros((pad, X.shape[1]), X.dtype)])


def mahalanobis_upper(VI):
    """U with d^T U d == d^T VI d, for the compiled mahalanobis kernels.

    U is the upper triangle of VI + VI^T with VI's diagonal (half the work of
    VI), in float64, zero-padded to a multiple of 4 rows and columns (the
    kernels' 4 x 4 tiles need no remainder loops).
    """
    n = VI.shape[0]
    n4 = (n + 3) // 4 * 4
    U = np.zeros((n4, n4), np.float64)
    VI = VI.astype(np.float64)
    U[:n, :n] = np.triu(VI + VI.T, 1)
    U[np.arange(n), np.arange(n)] = np.diagonal(VI)
    return U


def _scale(X, s):
    """Return ``X * s`` (s per feature) computed in float64, in X's dtype."""
    if X is None:
        return None
    return np.ascontiguousarray((X.astype(np.float64) * s).astype(X.dtype, copy=False))


def _stacked(XA, XB):
    return XA if XB is None else np.vstack((XA, XB))


def _prepare_V(V, XA, XB, n):
    if V is None:
        Xall = _stacked(XA, XB).astype(np.float64)
        if Xall.shape[0] < 2:
            raise ValueError("seuclidean needs at least 2 points to estimate V; pass V=...")
        V = np.var(Xall, axis=0, ddof=1)
        if (V <= 0).any():
            raise ValueError(
                "seuclidean: a feature has zero variance, so the distance is undefined; "
                "pass a positive variance vector V=..."
            )
        return V
    V = check_array(V, "V", ndim=1, dtype=np.float64)
    if V.shape[0] != n:
        raise ValueError(f"V must have one variance per feature ({n}); got shape {V.shape}")
    if not (V > 0).all() or not np.isfinite(V).all():
        raise ValueError("V must contain positive, finite variances")
    return V


def _prepare_VI(VI, XA, XB, n):
    if VI is None:
        Xall = _stacked(XA, XB)
        m = Xall.shape[0]
        if m <= n:
            raise ValueError(
                f"The number of observations ({m}) is too small; the covariance matrix is "
                f"singular. For observations with {n} dimensions, at least {n + 1} "
                "observations are required. Pass VI=... explicitly."
            )
        cov = np.atleast_2d(np.cov(Xall.astype(np.float64).T))
        try:
            return np.linalg.inv(cov).T.copy()
        except np.linalg.LinAlgError:
            raise ValueError(
                "mahalanobis: the covariance matrix of the data is singular; pass VI=..."
            ) from None
    VI = check_array(VI, "VI", ndim=2, dtype=np.float64)
    if VI.shape != (n, n):
        raise ValueError(f"VI must have shape ({n}, {n}) for {n} features; got {VI.shape}")
    if not np.isfinite(VI).all():
        raise ValueError("VI must be finite")
    return VI


# Kernel metrics that raise differences to a power p >= 2 (or multiply values).
_POWER_METRICS = {
    "sqeuclidean": 2.0,
    "euclidean": 2.0,
    "cosine": 2.0,
    "mahalanobis": 2.0,
    "dot": 2.0,
}


# SciPy's boolean dissimilarities, from the weighted counts of a pair (u, v):
#   ntt = sum w u v, ntf = sum w u (1 - v), nft = sum w (1 - u) v,
#   nff = sum w (1 - u)(1 - v) = n - ntt - ntf - nft, n = sum w.
# For boolean (0/1) input these count the features where u and v are
# true/false. Other input is taken as SciPy's cdist and pdist take it: the
# data become 0/1 (nonzero, NaN included, is true), except for unweighted
# dice, which SciPy computes with the arithmetic counts above on the values
# themselves (and weighted dice, whose ntf + nft SciPy counts as the weight of
# the features where the values differ: the hamming kernel's sum, see
# _prepare_counts). The counts follow from one product per pair, ntt = u . v (the
# "dot" kernel, on sqrt(w) u and sqrt(w) v when weighted), and the row sums
# su = sum w u, sv = sum w v: ntf = su - ntt, nft = sv - ntt.
# Unweighted, on 0/1 data, every count is an exact integer. Weighted, ntf and
# nft are differences of rounded sums, so a count that is 0 (which SciPy's
# rules test: yule's 0, the 0/0 of dice and sokalsneath) could come out as
# +-1e-16: the unweighted counts of the same 0/1 data (exact, a second "dot")
# say which are 0, after features of weight 0 are dropped (they count nowhere,
# and with positive weights a weighted count is 0 exactly when its unweighted
# count is).
BOOLEAN_COUNTS = ("dice", "rogerstanimoto", "russellrao", "sokalsneath", "yule")


def _boolean_formula(name, ntt, ntf, nft, n):
    """The dissimilarity ``name`` from counts of any (broadcasting) shape, in
    float64; 0/0 gives NaN where SciPy's does."""
    c = ntf + nft
    if name == "dice":  # c / (2 ntt + ntf + nft)
        return c / (2.0 * ntt + c)
    if name == "rogerstanimoto":  # R / (ntt + nff + R), R = 2 c
        return 2.0 * c / (n + c)
    if name == "russellrao":
        return (n - ntt) / n
    if name == "sokalsneath":  # R / (ntt + R), R = 2 c
        return 2.0 * c / (ntt + 2.0 * c)
    # yule: 2 ntf nft / (ntt nff + ntf nft), and 0 when ntf nft = 0 (SciPy's rule)
    half = ntf * nft
    den = ntt * (n - ntt - c) + half
    return np.where(half == 0.0, 0.0, 2.0 * half / np.where(half == 0.0, 1.0, den))


def _finish(prep, ntt, extra, rows, cols):
    """``prep.post`` of the pairs (rows x cols) whose ``dot`` is ``ntt``;
    ``extra``: the output of ``prep.extra`` for the same pairs (weighted only)."""
    su, sv, n, su0, sv0 = prep.counts
    if sv is None:  # pdist: both rows of a pair come from X
        sv, sv0 = su, su0
    ntt = ntt.astype(np.float64)
    if prep.post == "dice" and extra is not None:  # weighted dice: extra is ntf + nft
        c = extra.astype(np.float64)
        return c / (2.0 * ntt + c)
    exact = extra
    ntf = su[rows] - ntt
    nft = sv[cols] - ntt
    if exact is not None:  # the counts that are exactly 0 (see BOOLEAN_COUNTS)
        exact = exact.astype(np.float64)
        ntf = np.where(su0[rows] - exact == 0.0, 0.0, ntf)
        nft = np.where(sv0[cols] - exact == 0.0, 0.0, nft)
    return _boolean_formula(prep.post, ntt, ntf, nft, n)


#: Angles (radians) below which haversine is recomputed from the coordinates:
#: the chord's absolute error ~1e-16 is then more than 1e-13 of the angle.
HAVERSINE_DIRECT = 1e-3


def haversine_pairs(a, b):
    """Great-circle angle between rows of ``a`` and ``b`` (n, 2), (latitude,
    longitude) in radians, by scikit-learn's formula (accurate for close points)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sin_lat = np.sin(0.5 * (b[:, 0] - a[:, 0]))
    sin_lon = np.sin(0.5 * (b[:, 1] - a[:, 1]))
    h = sin_lat * sin_lat + np.cos(a[:, 0]) * np.cos(b[:, 0]) * sin_lon * sin_lon
    return 2.0 * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def haversine_from_chord(c):
    """The angle between two points of the unit sphere whose chord is ``c``:
    2 arcsin(c / 2), in place for an ndarray (rounding may give c a hair above 2)."""
    c = np.asarray(c)
    np.minimum(c * 0.5, 1.0, out=c, casting="unsafe")
    np.arcsin(c, out=c)
    c *= 2.0
    return c


def _unit_vectors(X):
    """(latitude, longitude) rows in radians as unit vectors in 3-D, float64."""
    if X is None:
        return None
    lat, lon = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
    return np.ascontiguousarray(
        np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    )


def finish_cdist(prep, out, extra=None):
    """Turn the kernel's ``out`` (mA, mB) into ``prep.post``, in place.

    ``extra``: the output of ``prep.extra``'s kernel (weighted metrics), same shape.
    """
    if prep.post == "jensenshannon":
        bad_a, bad_b = prep.counts
        out[bad_a, :] = np.inf
        out[:, bad_b] = np.inf
        return
    if prep.post == "haversine":
        haversine_from_chord(out)
        ii, jj = np.nonzero(out < HAVERSINE_DIRECT)
        if ii.size:
            A, B = prep.counts
            out[ii, jj] = haversine_pairs(A[ii], (A if B is None else B)[jj])
        return
    step = max(1, (1 << 20) // max(1, out.shape[1]))  # bounded float64 temporaries
    cols = slice(None)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i0 in range(0, out.shape[0], step):
            i1 = min(out.shape[0], i0 + step)
            rows = (slice(i0, i1), None)
            ex = None if extra is None else extra[i0:i1]
            out[i0:i1] = _finish(prep, out[i0:i1], ex, rows, cols)


def _condensed_starts(m):
    """Where each row i's entries (pairs i, i+1 .. m-1) start in a condensed
    vector of m points; entry m - 1 is the vector's length."""
    i = np.arange(m, dtype=np.int64)
    return i * m - i * (i + 1) // 2


def finish_pdist(prep, out, extra=None):
    """Turn the kernel's condensed ``out`` into ``prep.post``, in place."""
    if prep.post == "jensenshannon":
        m = prep.counts[0].shape[0]
        starts = _condensed_starts(m)
        for i in np.flatnonzero(prep.counts[0]):  # pairs (i, j > i), then (j < i, i)
            out[starts[i] : starts[i] + m - 1 - i] = np.inf
            j = np.arange(i)
            out[starts[j] + i - j - 1] = np.inf
        return
    if prep.post == "haversine":
        haversine_from_chord(out)
        (pos,) = np.nonzero(out < HAVERSINE_DIRECT)
        if pos.size:
            A = prep.counts[0]
            starts = _condensed_starts(A.shape[0])
            ii = np.searchsorted(starts, pos, "right") - 1
            out[pos] = haversine_pairs(A[ii], A[ii + 1 + pos - starts[ii]])
        return
    m = prep.counts[0].shape[0]
    rows_all = np.arange(m, dtype=np.int64)
    starts = _condensed_starts(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        i0 = 0
        while i0 < m - 1:  # blocks of whole rows, about 2**20 entries each
            i1 = max(i0 + 1, int(np.searchsorted(starts, starts[i0] + (1 << 20), "right")) - 1)
            i1 = min(i1, m - 1)
            lo, hi = starts[i0], starts[i1] if i1 < m - 1 else out.shape[0]
            rows = np.repeat(rows_all[i0:i1], m - 1 - rows_all[i0:i1])
            cols = rows + 1 + (np.arange(lo, hi) - starts[rows])
            ex = None if extra is None else extra[lo:hi]
            out[lo:hi] = _finish(prep, out[lo:hi], ex, rows, cols)
            i0 = i1


def _float32_safe_dtype(kmetric, p, XA, XB):
    """float64 if a float32 kernel could overflow or underflow on this data.

    Kernels reduce in the inputs' dtype. Squares (or p-th powers) of float32
    values beyond ~1e18 overflow to inf, and below ~1e-19 vanish, where SciPy's
    float64 arithmetic gives finite, accurate distances. Such (rare) data is
    computed in float64 and the result rounded to float32 once.
    """
    power = _POWER_METRICS.get(kmetric, p if kmetric == "minkowski" else None)
    if power is None or power < 2:
        return np.float32
    with np.errstate(invalid="ignore", over="ignore"):
        amax = max(float(np.nanmax(np.abs(X), initial=0.0)) for X in (XA, XB) if X is not None)
    n = max(1, XA.shape[1])
    if amax == 0.0:
        return np.float32
    log_top = power * np.log10(2.0 * amax) + np.log10(n)
    if log_top > 36.0 or power * np.log10(amax) < -30.0:
        return np.float64
    return np.float32


def _prepare_counts(name, XA, XB, w, done):
    """The boolean dissimilarity ``name`` as the ``dot`` kernel plus a finish
    (see :data:`BOOLEAN_COUNTS`)."""

    def ones_zeros(X):
        return None if X is None else (X != 0).astype(XA.dtype)

    def row_sums(X, weights):
        return None if X is None else X.astype(np.float64) @ weights

    raw = (XA, XB)
    if w is None and name == "dice":  # SciPy's arithmetic counts on the values
        A, B = XA, XB
    else:
        A, B = ones_zeros(XA), ones_zeros(XB)
    if w is None:
        prep = done("dot", A, B)
        one = np.ones(A.shape[1])
        counts = (row_sums(A, one), row_sums(B, one), float(A.shape[1]), None, None)
        return dataclasses.replace(prep, post=name, counts=counts)
    keep = w > 0
    if keep.any() and not keep.all():  # features of weight 0 count nowhere
        A, B, w = A[:, keep], None if B is None else B[:, keep], w[keep]
        raw = tuple(None if X is None else np.ascontiguousarray(X[:, keep]) for X in raw)
    # In float64 whatever the input: ntf = su - ntt cancels when the weight of
    # the differing features is tiny against the row's (relative error about
    # 1e-16 su / ntf; in float32 it reached 7e-2).
    A, B = (None if X is None else X.astype(np.float64) for X in (A, B))
    s = np.sqrt(w)  # (sqrt(w) u) . (sqrt(w) v) = sum w u v
    prep = done("dot", _scale(A, s), _scale(B, s), in64=True)
    one = np.ones(A.shape[1])
    counts = (row_sums(A, w), row_sums(B, w), float(w.sum()), row_sums(A, one), row_sums(B, one))
    if name == "dice":  # SciPy's weighted ntf + nft: the weight where the values differ
        extra = done("hamming", *raw, wk=w, in64=True)
    else:
        extra = done("dot", A, B, in64=True)
    return dataclasses.replace(prep, post=name, counts=counts, extra=extra)


def _prepare_jensenshannon(XA, XB, done):
    """SciPy's jensenshannon as its kernel metric on rows divided by their sums.

    In float64 whatever the input, as SciPy computes it: the terms' logs of
    ratios near 1 carry the distance between close distributions, which float32
    would round away. A row with a negative value or a zero sum is marked
    (``counts``) for the finish, which makes its distances inf; the kernel sees
    it as zeros.
    """

    def normalised(X):
        if X is None:
            return None, None
        X = X.astype(np.float64)
        # Each row summed in feature order, as SciPy sums it (NumPy's pairwise
        # sum differs in the last bits, and so would close rows' distances):
        # the last column of a running sum, over row blocks of 2**20 values.
        total = np.zeros(X.shape[0])
        if X.shape[1]:
            step = max(1, (1 << 20) // X.shape[1])
            for r0 in range(0, X.shape[0], step):
                total[r0 : r0 + step] = np.cumsum(X[r0 : r0 + step], axis=1)[:, -1]
        bad = (X < 0).any(axis=1) | (total == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            P = X / total[:, None]
        P[bad] = 0.0
        return P, bad

    (A, bad_a), (B, bad_b) = normalised(XA), normalised(XB)
    prep = done("jensenshannon", A, B, in64=True)
    if not (bad_a.any() or (bad_b is not None and bad_b.any())):
        return prep
    if bad_b is None:
        return dataclasses.replace(prep, post="jensenshannon", counts=(bad_a,))
    return dataclasses.replace(prep, post="jensenshannon", counts=(bad_a, bad_b))


def prepare(metric, XA, XB, kwargs):
    """Validate the metric's keyword arguments and rewrite to a kernel metric.

    Parameters
    ----------
    metric : str
        A metric name or alias.
    XA : ndarray of shape (mA, n)
    XB : ndarray of shape (mB, n) or None
        Validated inputs of one float dtype (None for pdist).
    kwargs : dict
        The metric's keyword arguments (``p``, ``w``, ``V``, ``VI``).

    Returns
    -------
    Prepared
    """
    name = canonical_metric(metric)
    unknown = set(kwargs) - _PARAMS[name]
    if unknown:
        allowed = ", ".join(sorted(_PARAMS[name])) or "none"
        raise TypeError(
            f"metric {name!r} got unexpected keyword argument(s) {', '.join(sorted(unknown))}; "
            f"it accepts: {allowed}"
        )
    n = XA.shape[1]
    dtype = XA.dtype
    w = kwargs.get("w")
    w = None if w is None else check_weights(w, n, dtype)
    p = 2.0
    VI_direct = np.empty((0, 0), dtype)
    ones = np.ones(n, dtype)

    def done(kmetric, A, B, wk=ones, pk=p, VIk=VI_direct, in64=False):
        kdtype = _float32_safe_dtype(kmetric, pk, A, B) if dtype == np.float32 else dtype
        kdtype = np.float64 if in64 else kdtype

        def cast(x):
            return None if x is None else np.ascontiguousarray(x, dtype=kdtype)

        return Prepared(kmetric, cast(A), cast(B), cast(wk), float(pk), cast(VIk))

    if name == "minkowski":
        p = check_positive_float(kwargs.get("p", 2.0), "p", allow_inf=True)
        if p == 1.0:
            name = "cityblock"
        elif p == 2.0:
            name = "euclidean"
        elif np.isinf(p):
            name = "chebyshev"
        elif w is not None:
            s = w ** (1.0 / p)
            return done("minkowski", _scale(XA, s), _scale(XB, s), pk=p)
        else:
            return done("minkowski", XA, XB, pk=p)

    if name in ("euclidean", "sqeuclidean"):
        if w is not None:
            s = np.sqrt(w)
            XA, XB = _scale(XA, s), _scale(XB, s)
        return done(name, XA, XB)
    if name in ("cityblock", "braycurtis"):
        if w is not None:
            XA, XB = _scale(XA, w), _scale(XB, w)
        return done(name, XA, XB)
    if name == "chebyshev":
        if w is not None:
            s = (w > 0).astype(np.float64)
            XA, XB = _scale(XA, s), _scale(XB, s)
        return done(name, XA, XB)
    if name in ("cosine", "correlation"):
        if name == "correlation":
            wn = np.full(n, 1.0 / n) if w is None else w / w.sum()

            def center(X):
                if X is None:
                    return None
                X64 = X.astype(np.float64)
                return X64 - (X64 @ wn)[:, None]

            XA, XB = center(XA), center(XB)
        if w is not None:
            s = np.sqrt(w)
            XA, XB = (None if X is None else X * s for X in (XA, XB))
        XA, XB = (None if X is None else np.ascontiguousarray(X, dtype=dtype) for X in (XA, XB))
        return done("cosine", XA, XB)
    if name == "seuclidean":
        s = 1.0 / np.sqrt(_prepare_V(kwargs.get("V"), XA, XB, n))
        return done("euclidean", _scale(XA, s), _scale(XB, s))
    if name == "mahalanobis":
        # Always the direct form d^T VI d of d = u - v (see the module docstring).
        VI = _prepare_VI(kwargs.get("VI"), XA, XB, n)
        return done("mahalanobis", XA, XB, VIk=VI)
    if name in BOOLEAN_COUNTS:
        return _prepare_counts(name, XA, XB, w, done)
    if name == "haversine":
        if n != 2:
            raise ValueError(
                f"Haversine distance only valid in 2 dimensions (latitude, longitude in "
                f"radians); got {n} features"
            )
        prep = done("euclidean", _unit_vectors(XA), _unit_vectors(XB), in64=True)
        coords = tuple(None if X is None else X.astype(np.float64) for X in (XA, XB))
        return dataclasses.replace(prep, post="haversine", counts=coords)
    if name == "jensenshannon":
        return _prepare_jensenshannon(XA, XB, done)
    if name == "hamming":
        wk = ones if w is None else w
        return done("hamming", XA, XB, wk=wk / wk.sum() if w is not None else wk / n)
    # canberra, jaccard: weights stay in the kernel
    return done(name, XA, XB, wk=ones if w is None else w)
