"""Benchmark cases of the gradient-descent suite (``fastml bench --suite linear``).

Binary logistic regression on make_classification-like data (seed 0), float64
or float32, the settings of issue 3:

* ``sgd-log_loss``: 5 epochs of plain SGD (batch size 1), constant learning
  rate 0.001, L2 alpha 1e-4, shuffled with ``random_state=0``: fastml's
  :class:`~fastml.linear_model.SGDClassifier` on each backend against
  scikit-learn's ``SGDClassifier(loss="log_loss")`` with the same settings.
  Unit: one sample visited (n_samples x 5 per call). The timed call is the
  fit alone (the bar is training throughput); its result, the fitted model,
  is checked afterwards: its final training log-loss must be no worse than
  the reference's (scikit-learn's, if installed) by more than 1%. The NumPy backend cannot vectorise across
  samples (a Python loop per sample) and runs at the pure-Python size only.
* ``sgd-sparse-log_loss``: the same fit on sparse, text-like rows
  (:func:`make_sparse_data`: ``SPARSE_NNZ`` stored values per row out of
  ``SPARSE_FEATURES``, CSR), against scikit-learn's sparse SGD; the same check.
  Needs SciPy.
* ``fullbatch-step``: one full-batch gradient step of L2-regularised
  logistic regression, the kernel as the driver calls it, against NumPy's
  two matrix-vector products (``X @ w``, then ``X.T @ r``). Unit: one row.
  Result checked: the updated weights.
* ``minibatch-adam-256``: one epoch of mini-batch (256) Adam steps (Keras's
  defaults, lr 0.001), against PyTorch (``nn.Linear``, ``BCEWithLogitsLoss``,
  ``torch.optim.Adam`` with the same row order) when installed. Unit: one
  sample. Result checked: the training log-loss after the epoch (1%).

The pure-Python baseline runs each operation at the preset's small
"python" size (issue 3 asks for >= 200x per epoch against it).
"""

from __future__ import annotations

import numpy as np

from .cases import Case, peer_available

__all__ = ["LINEAR_SIZES", "SUITE_PEERS", "linear_cases", "make_data", "make_sparse_data"]

#: Peers this suite compares with (``fastml bench`` reads this).
SUITE_PEERS = ("sklearn", "numpy", "torch")

#: (n_samples, n_features) per preset and role; "default" is issue 3's size.
LINEAR_SIZES = {
    "tiny": {"main": (400, 10), "python": (100, 10)},
    "quick": {"main": (20000, 100), "python": (1000, 100)},
    "default": {"main": (200000, 100), "python": (2000, 100)},
    "full": {"main": (1000000, 100), "python": (5000, 100)},
}

EPOCHS = 5
ETA0 = 0.001
ALPHA = 1e-4
BATCH = 256


def make_data(n, d, dtype="float64", seed=0):
    """Binary classification data: :func:`fastml.datasets.make_classification`
    (scikit-learn's construction) with 10 informative and 2 redundant features
    (with scikit-learn's default of 2 informative features the two classes
    can sit on an XOR pattern that no linear model separates).

    Returns
    -------
    X : ndarray of shape (n, d), ``dtype``
    y : ndarray of shape (n,), int (0 or 1)
    """
    from ..datasets import make_classification

    informative = min(10, d - 2)
    X, y = make_classification(
        n, d, n_informative=informative, n_redundant=2, random_state=seed, dtype=np.dtype(dtype)
    )
    return np.ascontiguousarray(X, dtype=dtype), np.asarray(y)


#: Columns and stored values per row of the sparse case (text-like rows).
SPARSE_FEATURES = 20000
SPARSE_NNZ = 50


def make_sparse_data(n, d=SPARSE_FEATURES, nnz=SPARSE_NNZ, dtype="float64", seed=0):
    """Sparse binary classification data: about ``nnz`` stored values per row
    at uniformly drawn columns (tf-idf-like positive values), labels from a
    sparse linear model plus noise.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n, d), ``dtype``
    y : ndarray of shape (n,), int (0 or 1)
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), nnz)
    cols = rng.integers(0, d, n * nnz)
    vals = rng.exponential(1.0, n * nnz)
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, d))  # duplicates summed
    X.sum_duplicates()
    w = rng.standard_normal(d) * (rng.random(d) < 0.2)
    z = X @ w
    y = (z - np.median(z) + 0.5 * rng.standard_normal(n) > 0).astype(int)
    return X.astype(dtype), y


def log_loss_of(coef, intercept, X, y):
    """Mean binary log-loss of the linear model (coef, intercept) on (X, y in {0, 1})."""
    # logaddexp(0, -z) is the kernels' max(-z, 0) + log1p(exp(-|z|))
    w = np.ravel(coef).astype(np.float64)
    Xf = X.astype(np.float64) if hasattr(X, "toarray") else np.asarray(X, np.float64)
    z = np.asarray(Xf @ w) + float(np.ravel(intercept)[0])
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -z, z))))


class Fitted:
    """A timed call's result: a fitted linear model, scored only when checked
    (outside the timing: the bars compare training throughput)."""

    def __init__(self, coef, intercept, d):
        self.coef, self.intercept, self._X, self._y = coef, intercept, d["X"], d["y"]

    def loss(self):
        """Mean training log-loss (:func:`log_loss_of`)."""
        return log_loss_of(self.coef, self.intercept, self._X, self._y)


def _not_worse(result, expected, rtol, atol, err_msg):
    """A final loss may be lower than the reference's, or higher by at most rtol."""
    result, expected = (r.loss() if isinstance(r, Fitted) else r for r in (result, expected))
    if not np.isfinite(result) or result > expected * (1.0 + rtol) + atol:
        raise AssertionError(
            f"{err_msg}: final training log-loss {result:.6g} is worse than the reference's "
            f"{expected:.6g} by more than {rtol:.0%}"
        )


# ---------------------------------------------------------------- sgd (batch 1)
_SGD_KW = dict(
    loss="log_loss",
    learning_rate="constant",
    eta0=ETA0,
    alpha=ALPHA,
    max_iter=EPOCHS,
    tol=None,
    random_state=0,
)


def _fastml_fit(settings):
    """``backend -> impl``: fit SGDClassifier(**settings) and return the :class:`Fitted` model."""

    def factory(backend):
        from ..linear_model import SGDClassifier

        def run(d):
            m = SGDClassifier(**settings, backend=backend).fit(d["X"], d["y"])
            return Fitted(m.coef_, m.intercept_, d)

        return run

    return factory


def _sklearn_sgd(d):
    import warnings

    from sklearn.linear_model import SGDClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter=5 is deliberate
        m = SGDClassifier(**_SGD_KW).fit(d["X"], d["y"])
    return Fitted(m.coef_, m.intercept_, d)


# ---------------------------------------------------------------- full-batch step
def _step_inputs(X, y):
    n, d = X.shape
    rng = np.random.default_rng(1)
    theta = (rng.standard_normal((1, d + 1)) * 0.01).astype(X.dtype)
    return {
        "yk": np.where(y == 1, 1.0, -1.0).astype(X.dtype),
        "sw": np.ones(n, dtype=X.dtype),
        "order": np.arange(n, dtype=np.int64),
        "theta0": theta,
    }


def _fastml_step(backend):
    from .. import _losses as L
    from .._registry import kernel_module, resolve_backend

    hyper = np.array([0.9, 0.9, 0.999, 1e-7, 0.9])

    def run(d):
        mod = kernel_module(resolve_backend(backend, "sgd", "batch", d["X"].size), "sgd")
        theta = d["theta0"].copy()
        state = np.zeros((2,) + theta.shape, dtype=theta.dtype)
        mod.minibatch_epoch(d["X"], d["yk"], d["sw"], d["order"], theta, state, L.LOG_LOSS, 0.1,
                            ALPHA, 0.0, 0, 0, 0.1, 0.5, 1.0, hyper, len(d["order"]), True, 1.0)  # fmt: skip
        return theta

    return run


def _numpy_step(d):
    """What NumPy users write: margins by one matrix-vector product, gradient by another."""
    X, yk, theta = d["X"], d["yk"], d["theta0"].copy()
    w, b = theta[0, :-1], theta[0, -1]
    z = X @ w + b
    r = -yk / (1.0 + np.exp(yk * z))  # d log-loss / d z
    g = X.T @ r / len(yk) + ALPHA * w
    theta[0, :-1] = w - 0.1 * g
    theta[0, -1] = b - 0.1 * r.mean()
    return theta


def _step_reference(d):
    return _numpy_step({**d, "X": d["X"].astype(np.float64), "theta0": d["theta0"]})


# ---------------------------------------------------------------- mini-batch Adam
_ADAM_KW = dict(
    loss="log_loss",
    optimizer="adam",
    batch_size=BATCH,
    eta0=0.001,
    alpha=ALPHA,
    max_iter=1,
    tol=None,
    random_state=0,
)


def _torch_adam(d):
    import torch

    X = torch.from_numpy(d["X"])
    y = torch.from_numpy(d["y"].astype(d["X"].dtype))
    model = torch.nn.Linear(X.shape[1], 1, dtype=X.dtype)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    # Keras's epsilon-hat 1e-7 is close to PyTorch's eps applied after the bias correction
    opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7, weight_decay=0.0)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(y)))
    for start in range(0, len(y), BATCH):
        idx = order[start : start + BATCH]
        opt.zero_grad()
        w = model.weight
        loss = loss_fn(model(X[idx])[:, 0], y[idx]) + 0.5 * ALPHA * (w * w).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return Fitted(model.weight.numpy().copy(), model.bias.numpy().copy(), d)


# ---------------------------------------------------------------- builder
def linear_cases(sizes="default", dtypes=("float64",), backends=None, peers=None, *,
                 all_at_python_size=False):  # fmt: skip
    """Build the gradient-descent cases (see the module docstring).

    Parameters
    ----------
    sizes : {"tiny", "quick", "default", "full"}
    dtypes : tuple of str
    backends : tuple of str, optional
        fastml backends (default: every available one).
    peers : tuple of str, optional
        From :data:`SUITE_PEERS` (default: those installed).
    all_at_python_size : bool
        Also time every backend and peer at the pure-Python size.

    Returns
    -------
    list of Case
    """
    import fastml

    if backends is None:
        backends = fastml.available_backends()
    if peers is None:
        peers = tuple(p for p in SUITE_PEERS if p == "numpy" or peer_available(p))
    peers = tuple(p for p in peers if p == "numpy" or peer_available(p))
    cases = []
    for dtype in dtypes:
        for role in ("main", "python"):
            shape = LINEAR_SIZES[sizes][role]
            small = role == "python"
            if small and not all_at_python_size:
                chosen = ("python",) if "python" in backends else ()
            elif small:
                chosen = tuple(backends)
            else:
                chosen = tuple(b for b in backends if b != "python")
            with_peers = not small or all_at_python_size
            cases += _cases_at(shape, dtype, chosen, peers if with_peers else (), role, small)
    return cases


def _cases_at(shape, dtype, backends, peers, role, small):
    n, d = shape

    def make():
        X, y = make_data(n, d, dtype)
        return {"X": X, "y": y, **_step_inputs(X, y)}

    def auto_too(impls, factory):
        if any(k.startswith("fastml-") and k != "fastml-python" for k in impls):
            impls["fastml-auto"] = factory("auto")
        return impls

    out = []
    # plain SGD, 5 epochs
    sgd_backends = [b for b in backends if b != "numpy" or small]
    impls = auto_too(
        {f"fastml-{b}": _fastml_fit(_SGD_KW)(b) for b in sgd_backends}, _fastml_fit(_SGD_KW)
    )
    if "sklearn" in peers:
        impls["sklearn"] = _sklearn_sgd
    ref = (
        _sklearn_sgd
        if peer_available("sklearn")
        else _fastml_fit(_SGD_KW)("numpy" if small else "auto")
    )
    if impls:
        out.append(_case("sgd-log_loss", shape, dtype, n * EPOCHS, "sample", make, impls, ref,
                         0.01, role, _not_worse))  # fmt: skip
    # the same on sparse rows
    if peer_available("scipy"):

        def make_sparse():
            X, y = make_sparse_data(n, dtype=dtype)
            return {"X": X, "y": y}

        impls = auto_too({f"fastml-{b}": _fastml_fit(_SGD_KW)(b) for b in sgd_backends},
                         _fastml_fit(_SGD_KW))  # fmt: skip
        if "sklearn" in peers:
            impls["sklearn"] = _sklearn_sgd
        if impls:
            out.append(_case("sgd-sparse-log_loss", (n, SPARSE_FEATURES), dtype, n * EPOCHS,
                             "sample", make_sparse, impls, ref, 0.01, role, _not_worse))  # fmt: skip
    # one full-batch step
    impls = auto_too({f"fastml-{b}": _fastml_step(b) for b in backends}, _fastml_step)
    if "numpy" in peers:
        impls["numpy-2matvec"] = _numpy_step
    if impls:
        tight = dtype == "float64"
        out.append(_case("fullbatch-step", shape, dtype, n, "row", make, impls, _step_reference,
                         1e-9 if tight else 1e-4, role, None, 1e-12 if tight else 1e-5))  # fmt: skip
    # one epoch of mini-batch Adam
    impls = auto_too(
        {f"fastml-{b}": _fastml_fit(_ADAM_KW)(b) for b in backends}, _fastml_fit(_ADAM_KW)
    )
    if "torch" in peers:
        impls["torch"] = _torch_adam
    if impls:
        out.append(_case("minibatch-adam-256", shape, dtype, n, "sample", make, impls,
                         _fastml_fit(_ADAM_KW)("numpy"), 0.01, role, _not_worse))  # fmt: skip
    return out


def _case(op, shape, dtype, units, unit, make, impls, reference, rtol, role, checker, atol=0.0):
    return Case(
        suite="linear",
        op=op,
        shape=shape,
        dtype=dtype,
        units=units,
        make=make,
        impls=impls,
        reference=reference,
        rtol=rtol,
        atol=atol,
        unit=unit,
        role=role,
        checker=checker,
    )
