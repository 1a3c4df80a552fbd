"""Synthetic datasets for tests, benchmarks and examples (deterministic, seeded).

The generators follow scikit-learn's ``sklearn.datasets`` functions of the same
names: the same parameters, the same kind of data and the same return
conventions, so code and benchmarks can switch between them. They are not
bit-identical to scikit-learn's (the random streams differ), but each is a
pure function of its arguments: the same ``random_state`` gives the same
arrays on every machine.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["make_blobs", "make_classification", "make_regression"]


def _rng(random_state):
    """A numpy Generator from None, an int, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, an int or a numpy Generator; got {type(random_state).__name__}"
    )


def _check_count(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _finish(X, dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dtype}")
    return np.ascontiguousarray(X, dtype=dtype)


def make_blobs(
    n_samples=100,
    n_features=2,
    *,
    centers=None,
    cluster_std=1.0,
    center_box=(-10.0, 10.0),
    shuffle=True,
    random_state=None,
    return_centers=False,
    dtype=np.float64,
):
    """Isotropic Gaussian blobs, for clustering and neighbour searches.

    Parameters
    ----------
    n_samples : int or sequence of int, default 100
        Total number of points, split as evenly as possible among the
        centres; or the number of points of each centre.
    n_features : int, default 2
        Dimension of the points (ignored when ``centers`` is an array).
    centers : int or array_like of shape (n_centers, n_features), optional
        Number of centres (drawn uniformly in ``center_box``) or the centres
        themselves. Default: 3, or ``len(n_samples)`` if that is a sequence.
    cluster_std : float or sequence of float, default 1.0
        Standard deviation of each blob.
    center_box : (float, float), default (-10, 10)
        Bounding box of random centres.
    shuffle : bool, default True
        Shuffle the points (otherwise they are grouped by blob).
    random_state : None, int or numpy.random.Generator
    return_centers : bool, default False
        Also return the centres.
    dtype : {numpy.float64, numpy.float32}

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), int64
        The blob each point was drawn from.
    centers : ndarray of shape (n_centers, n_features)
        Only with ``return_centers=True``.
    """
    rng = _rng(random_state)
    if isinstance(n_samples, numbers.Integral):
        n_samples = _check_count(n_samples, "n_samples")
        if centers is None:
            centers = 3
        if isinstance(centers, numbers.Integral):
            n_features = _check_count(n_features, "n_features")
            n_centers = _check_count(centers, "centers")
            centers = rng.uniform(center_box[0], center_box[1], size=(n_centers, n_features))
        else:
            centers = np.atleast_2d(np.asarray(centers, dtype=np.float64))
            n_centers, n_features = centers.shape
        counts = np.full(n_centers, n_samples // n_centers)
        counts[: n_samples % n_centers] += 1
    else:
        counts = np.asarray([_check_count(c, "n_samples[i]", 0) for c in n_samples])
        n_centers = len(counts)
        if centers is None:
            n_features = _check_count(n_features, "n_features")
            centers = rng.uniform(center_box[0], center_box[1], size=(n_centers, n_features))
        else:
            centers = np.atleast_2d(np.asarray(centers, dtype=np.float64))
            if len(centers) != n_centers:
                raise ValueError(
                    f"centers must have one row per entry of n_samples ({n_centers}); "
                    f"got {len(centers)}"
                )
            n_features = centers.shape[1]
    std = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (n_centers,))
    if (std < 0).any():
        raise ValueError("cluster_std must be non-negative")
    X = np.concatenate(
        [rng.normal(centers[i], std[i], size=(counts[i], n_features)) for i in range(n_centers)]
    )
    y = np.repeat(np.arange(n_centers, dtype=np.int64), counts)
    if shuffle:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    X = _finish(X, dtype)
    if return_centers:
        return X, y, np.asarray(centers, dtype=X.dtype)
    return X, y


def make_classification(
    n_samples=100,
    n_features=20,
    *,
    n_informative=2,
    n_redundant=2,
    n_repeated=0,
    n_classes=2,
    n_clusters_per_class=2,
    weights=None,
    flip_y=0.01,
    class_sep=1.0,
    hypercube=True,
    shift=0.0,
    scale=1.0,
    shuffle=True,
    random_state=None,
    dtype=np.float64,
):
    """A random classification problem (scikit-learn's construction).

    Each class is made of ``n_clusters_per_class`` Gaussian clusters centred
    on vertices of a hypercube of side ``2 * class_sep`` in the subspace of
    the ``n_informative`` features; ``n_redundant`` features are random
    linear combinations of those, ``n_repeated`` are copies, and the rest is
    noise. A fraction ``flip_y`` of labels is reassigned at random.

    Parameters
    ----------
    n_samples, n_features : int
    n_informative, n_redundant, n_repeated : int
        Feature roles; their sum must not exceed ``n_features``.
    n_classes, n_clusters_per_class : int
        ``n_classes * n_clusters_per_class`` must be at most ``2 ** n_informative``.
    weights : sequence of float, optional
        Class proportions (default: balanced).
    flip_y : float, default 0.01
    class_sep : float, default 1.0
    hypercube : bool, default True
        Clusters on hypercube vertices (else on random polytope vertices).
    shift, scale : float or array of shape (n_features,)
        Features are ``(X + shift) * scale``.
    shuffle : bool, default True
        Shuffle samples and features.
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float64, numpy.float32}

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), int64 labels in ``range(n_classes)``
    """
    rng = _rng(random_state)
    n_samples = _check_count(n_samples, "n_samples")
    n_features = _check_count(n_features, "n_features")
    n_informative = _check_count(n_informative, "n_informative")
    n_redundant = _check_count(n_redundant, "n_redundant", 0)
    n_repeated = _check_count(n_repeated, "n_repeated", 0)
    n_classes = _check_count(n_classes, "n_classes")
    n_clusters_per_class = _check_count(n_clusters_per_class, "n_clusters_per_class")
    if n_informative + n_redundant + n_repeated > n_features:
        raise ValueError(
            "n_informative + n_redundant + n_repeated must be at most n_features; got "
            f"{n_informative} + {n_redundant} + {n_repeated} > {n_features}"
        )
    n_clusters = n_classes * n_clusters_per_class
    if n_clusters > 2**n_informative:
        raise ValueError(
            f"n_classes * n_clusters_per_class ({n_clusters}) must be at most "
            f"2 ** n_informative ({2**n_informative})"
        )
    if weights is None:
        weights = np.full(n_classes, 1.0 / n_classes)
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape == (n_classes - 1,):
            weights = np.append(weights, 1.0 - weights.sum())
        if weights.shape != (n_classes,) or (weights < 0).any():
            raise ValueError(f"weights must be {n_classes} non-negative class proportions")
        weights = weights / weights.sum()

    # Samples per cluster: each class's share split evenly over its clusters.
    per_cluster = np.array(
        [int(n_samples * weights[k % n_classes] / n_clusters_per_class) for k in range(n_clusters)]
    )
    for i in range(n_samples - per_cluster.sum()):
        per_cluster[i % n_clusters] += 1

    # Cluster centres: distinct hypercube vertices, scaled to class_sep.
    vertices = rng.choice(2**n_informative, size=n_clusters, replace=False)
    bits = (vertices[:, None] >> np.arange(n_informative)) & 1
    centroids = (2.0 * bits - 1.0) * class_sep
    if not hypercube:
        centroids *= rng.uniform(size=(n_clusters, 1))
        centroids *= rng.uniform(size=(1, n_informative))

    X = np.empty((n_samples, n_features))
    y = np.empty(n_samples, dtype=np.int64)
    start = 0
    for k, count in enumerate(per_cluster):
        stop = start + count
        # A random covariance per cluster (as scikit-learn): N(0, I) @ A + centre.
        A = 2.0 * rng.uniform(size=(n_informative, n_informative)) - 1.0
        X[start:stop, :n_informative] = rng.standard_normal((count, n_informative)) @ A
        X[start:stop, :n_informative] += centroids[k]
        y[start:stop] = k % n_classes
        start = stop

    informative = X[:, :n_informative]
    col = n_informative
    if n_redundant:
        B = 2.0 * rng.uniform(size=(n_informative, n_redundant)) - 1.0
        X[:, col : col + n_redundant] = informative @ B
        col += n_redundant
    if n_repeated:
        idx = rng.integers(0, col, size=n_repeated)
        X[:, col : col + n_repeated] = X[:, idx]
        col += n_repeated
    X[:, col:] = rng.standard_normal((n_samples, n_features - col))

    if flip_y > 0:
        flip = rng.uniform(size=n_samples) < flip_y
        y[flip] = rng.integers(0, n_classes, size=int(flip.sum()))

    X += shift
    X *= scale
    if shuffle:
        order = rng.permutation(n_samples)
        X, y = X[order], y[order]
        X = X[:, rng.permutation(n_features)]
    return _finish(X, dtype), y


def make_regression(
    n_samples=100,
    n_features=100,
    *,
    n_informative=10,
    n_targets=1,
    bias=0.0,
    noise=0.0,
    shuffle=True,
    coef=False,
    random_state=None,
    dtype=np.float64,
):
    """A random linear regression problem: ``y = X @ w + bias + noise``.

    Parameters
    ----------
    n_samples, n_features : int
    n_informative : int, default 10
        Features with a non-zero coefficient (at most ``n_features``).
    n_targets : int, default 1
        Number of outputs; ``y`` is 1-D when 1.
    bias : float, default 0.0
    noise : float, default 0.0
        Standard deviation of Gaussian noise added to ``y``.
    shuffle : bool, default True
        Shuffle samples and features.
    coef : bool, default False
        Also return the true coefficients.
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float64, numpy.float32}

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
        Only with ``coef=True``.
    """
    rng = _rng(random_state)
    n_samples = _check_count(n_samples, "n_samples")
    n_features = _check_count(n_features, "n_features")
    n_targets = _check_count(n_targets, "n_targets")
    n_informative = min(_check_count(n_informative, "n_informative", 0), n_features)
    X = rng.standard_normal((n_samples, n_features))
    w = np.zeros((n_features, n_targets))
    w[:n_informative] = 100.0 * rng.uniform(size=(n_informative, n_targets))
    y = X @ w + bias
    if noise > 0:
        y += rng.normal(scale=noise, size=y.shape)
    if shuffle:
        order = rng.permutation(n_samples)
        X, y = X[order], y[order]
        features = rng.permutation(n_features)
        X = X[:, features]
        w = w[features]
    X = _finish(X, dtype)
    y = np.asarray(y, dtype=X.dtype)
    if n_targets == 1:
        y, w = y[:, 0], w[:, 0]
    if coef:
        return X, y, w.astype(X.dtype)
    return X, y
