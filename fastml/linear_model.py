"""Linear models trained by gradient descent, with scikit-learn's API.

* :class:`SGDClassifier`, :class:`SGDRegressor`: scikit-learn's estimators of
  the same names and parameters (plain SGD with batch size 1 by default), plus
  ``optimizer=`` (sgd, momentum, nesterov, adagrad, rmsprop, adam, with Keras's
  semantics and defaults), ``batch_size=`` (1 stochastic, k mini-batch, None
  full batch), ``multi_class=`` ("ovr", or "multinomial" for log_loss: a true
  softmax model) and ``backend=``.
* :class:`LinearRegression`, :class:`LogisticRegression`: full-batch gradient
  descent (Nesterov momentum, step 1/L from the data's largest curvature by
  default) to the least-squares solution and to scikit-learn's
  ``LogisticRegression`` optimum (``alpha = 1 / (C * n_samples)``).

No numeric loop lives here. One driver (:meth:`_GradientDescent._run`) owns
the epoch loop, the schedules' bookkeeping ("adaptive"), the stopping rules
(``tol``, ``early_stopping`` with best-weight restore), ``history_``,
``verbose`` and divergence detection, for every backend; a backend's kernel
(``fastml/_<backend>/sgd.py``, ``src_cython/sgd.pyx``) runs one epoch:

* ``sgd_epoch`` for plain SGD with batch size 1 (scikit-learn's algorithm:
  L2 by a scale factor, O(n_features) per sample whatever the penalty; L1 and
  elasticnet by Tsuruoka et al.'s cumulative penalty, as scikit-learn);
  ``sgd_epoch_averaged`` with ``average=``; ``sgd_epoch_sparse`` for
  scipy.sparse X (canonical CSR; O(stored values) per sample, averaging and
  L1 included, as scikit-learn's sparse SGD);
* ``minibatch_epoch`` for everything else (mini-batches, the full batch,
  the adaptive optimizers, multinomial); L1 there is a proximal
  (soft-thresholding) step of size ``lr * alpha * l1_ratio`` after each step.

Parameters are stored as ``theta`` of shape (n_outputs, n_features + 1):
coefficients then intercept; ``coef_`` and ``intercept_`` are copies in
scikit-learn's shapes. The driver draws each epoch's row order from
``np.random.default_rng(random_state)``, so every backend sees the same order
and gives the same model up to rounding; the compiled kernels' results do not
depend on the thread count. The full batch ignores ``shuffle``: its gradient is
a sum over all rows, taken in storage order (contiguous rows read fastest).

Loss recorded per epoch (``history_["loss"]``): the mean over the epoch's
training rows of ``sample_weight * loss``, each sample (or batch) taken
before its step, plus the penalty at the end of the epoch: the objective
minimised. (scikit-learn's "Avg. loss" is the same mean without the weights,
and its stopping rule adds the penalty averaged over the epoch's steps; with
unit weights the two agree up to that penalty term.) ``tol`` compares this
objective across epochs as scikit-learn compares its own (stop after
``n_iter_no_change`` epochs without an improvement of at least ``tol``);
with the full batch, the stopping rule is instead on the
gradient: stop when its largest absolute entry is <= ``tol`` (the rule on the
objective applies too when there is an L1 term). ``early_stopping`` monitors
the validation loss (the same loss on the held-out ``validation_fraction``
rows; scikit-learn monitors the validation score) and restores the weights
of the best epoch.

``average`` (averaged SGD: True, or the step to start from) keeps the mean
of the weights as scikit-learn's ``WeightVector`` does (O(n_features) per
sample); the mean is the model once ``t_ - 1 >= average``. It needs plain
SGD (``optimizer="sgd"``, ``batch_size=1``). With early stopping the model
validated (and restored) is the mean.

Differences from scikit-learn, deliberate: ``class_weight`` multiplies
each sample's weight by its class's weight in every one-vs-rest problem;
``partial_fit`` continues the L1 cumulative penalty and, with ``average``,
the plain intercept and the mean in its lazy form from call to call
(scikit-learn restarts the first and the last at each call and does not
carry the second; with an L1 term, whose step edits the weights that lazy
form refers to, the restarted mean is another model), so that calls epoch
by epoch equal ``fit``;
``n_jobs`` is accepted and ignored (threads: :func:`fastml.set_num_threads`);
each one-vs-rest problem sees the same row order; float32 input trains in
float32.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np

from . import _losses as L
from ._base import (
    BaseEstimator,
    ClassifierMixin,
    ConvergenceWarning,
    RegressorMixin,
    _as_sklearn,
    available_if,
    check_class_labels,
    check_is_fitted,
    check_n_features,
    column_vector_y,
    external_stacklevel,
    target_array,
)
from ._config import get_num_threads
from ._registry import kernel_module, resolve_backend
from ._shuffle import EpochOrders
from ._validation import _is_sparse, check_sample_weight

__all__ = [
    "DivergenceError",
    "LinearRegression",
    "LogisticRegression",
    "SGDClassifier",
    "SGDRegressor",
]

PENALTIES = (None, "none", "l2", "l1", "elasticnet")

#: Training has diverged when the weights or the epoch's loss are not finite
#: (checked every epoch), or when the mean loss exceeds the loss of the
#: initial weights (for classifiers, at least CLASSIFIER_LOSS_FLOOR) by this
#: factor (scikit-learn's dloss clipping keeps the
#: weights finite while a too-large step blows the loss up) at the end of fit,
#: or for DIVERGENCE_EPOCHS partial_fit calls in a row. Epochs above it can
#: recover: the "optimal" schedule starts with a large step that then decays,
#: and scikit-learn's test_underflow_or_overflow expects such a fit to finish.
DIVERGENCE_FACTOR = 1e12
DIVERGENCE_EPOCHS = 3
#: The least loss a classifier's factor applies to: a unit margin's loss. The
#: perceptron's loss of zero weights is 0, and would make any loss "diverged".
CLASSIFIER_LOSS_FLOOR = 1.0
#: Factor of each intercept step on sparse X, as scikit-learn's SPARSE_INTERCEPT_DECAY
#: (its sparse SGD moves the intercept slowly "to avoid it oscillating"), so that
#: a sparse fit gives scikit-learn's model. Dense X: 1.
SPARSE_INTERCEPT_DECAY = 0.01


class DivergenceError(FloatingPointError, ValueError):
    """Training produced non-finite weights or loss (the step was too large).

    Also a ValueError, which scikit-learn's SGD raises on overflow.
    """


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_real(name, value, low=None, high=None, low_open=False, high_open=False):
    if not _is_real(value) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}; got {value!r}")
    return float(value)


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_choice(name, value, choices):
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; expected one of {shown}")
    return value


def _rng(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng(random_state)


def _labels(y):
    """``np.unique(y, return_inverse=True)``: the sorted classes and each label's index.

    Small-range integer labels (the usual 0/1 or 0..k-1) are counted instead of
    sorted: a few times faster on large y.
    """
    if y.dtype.kind in "iu" and y.size:
        lo, hi = int(y.min()), int(y.max())
        if hi - lo <= 2 * y.size:
            # offsets from the smallest label, without overflow in y's own dtype
            off = y - y.dtype.type(lo) if y.dtype.kind == "u" else y.astype(np.int64) - lo
            present = np.bincount(off, minlength=hi - lo + 1) > 0
            index_of = np.cumsum(present) - 1
            classes = np.flatnonzero(present).astype(y.dtype) + y.dtype.type(lo)
            return classes, index_of[off]
    classes, idx = np.unique(y, return_inverse=True)
    return classes, idx.reshape(-1)


#: Widest X whose curvature comes from its (d+1) x (d+1) Gram matrix: n d^2
#: flops in BLAS (compute-bound), against power iteration's 60 passes over X
#: (memory-bound). At 200000 x 100 float64: 70 ms against 730 ms. The matrix
#: grows as d^2 (8 MiB at 1024), and at a few thousand features the passes win.
GRAM_MAX_FEATURES = 1024
#: Rows per piece of the Gram matrix: bounds its float64 copies of X.
GRAM_CHUNK_ROWS = 8192


def _largest_curvature(X, sw, fit_intercept, *, gram_max_features=None, seed=0, n_iter=30):
    """Largest eigenvalue of ``A = [X 1]^T diag(sw) [X 1] / n`` (without the 1
    when not ``fit_intercept``): the curvature bound behind the full batch's
    default step ``1 / L``.

    Exact (``numpy.linalg.eigvalsh`` of A) for up to ``gram_max_features``
    (default :data:`GRAM_MAX_FEATURES`) features; else ``n_iter`` steps of power
    iteration, which approach it from below.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sw : ndarray of shape (n_samples,), non-negative
    fit_intercept : bool

    Returns
    -------
    float
    """
    n, d = X.shape
    limit = GRAM_MAX_FEATURES if gram_max_features is None else gram_max_features
    if d <= limit:
        G = _weighted_gram(X, sw, fit_intercept)
        if not np.isfinite(G).all():  # overflowed (|X| near 1e154 and up): no finite bound
            return float("inf")
        return float(np.linalg.eigvalsh(G)[-1])
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(d + 1 if fit_intercept else d)
    lam = 0.0
    for _ in range(n_iter):
        v /= np.linalg.norm(v)
        z = X @ v[:d] + (v[d] if fit_intercept else 0.0)
        z *= sw
        w = np.empty_like(v)
        w[:d] = X.T @ z
        if fit_intercept:
            w[d] = z.sum()
        w /= n
        lam = float(np.linalg.norm(w))
        v = w
        if lam == 0.0:
            break
    return lam


def _weighted_gram(X, sw, fit_intercept):
    """``[X 1]^T diag(sw) [X 1] / n`` in float64, shape (d + 1, d + 1) (or (d, d)
    without the intercept), summed over pieces of ``GRAM_CHUNK_ROWS`` rows."""
    n, d = X.shape
    k = d + 1 if fit_intercept else d
    G = np.zeros((k, k))
    sw = np.asarray(sw, np.float64)
    unit = bool(np.all(sw == 1.0))
    root = None if unit else np.sqrt(sw)
    for lo in range(0, n, GRAM_CHUNK_ROWS):
        Xc = np.asarray(X[lo : lo + GRAM_CHUNK_ROWS], np.float64)
        Wc = Xc if unit else Xc * root[lo : lo + GRAM_CHUNK_ROWS, None]
        G[:d, :d] += Wc.T @ Wc  # A^T A: NumPy calls BLAS syrk (half the flops)
        if fit_intercept:
            G[:d, d] += Xc.sum(axis=0) if unit else sw[lo : lo + GRAM_CHUNK_ROWS] @ Xc
    if fit_intercept:
        G[d, :d] = G[:d, d]
        G[d, d] = sw.sum()
    G /= max(n, 1)
    return G


class _GradientDescent(BaseEstimator):
    """The driver shared by every estimator here (see the module docstring)."""

    _default_loss = "squared_error"
    _full_batch_gradient_tol = True

    # ------------------------------------------------------------ parameters
    def _hyper(self):
        """Validated training settings as a dict (subclasses map their parameters)."""
        p = {
            "loss": self.loss,
            "penalty": self.penalty,
            "alpha": self.alpha,
            "l1_ratio": self.l1_ratio,
            "fit_intercept": self.fit_intercept,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "shuffle": self.shuffle,
            "verbose": self.verbose,
            "epsilon": self.epsilon,
            "learning_rate": self.learning_rate,
            "eta0": self.eta0,
            "power_t": self.power_t,
            "early_stopping": self.early_stopping,
            "validation_fraction": self.validation_fraction,
            "n_iter_no_change": self.n_iter_no_change,
            "optimizer": self.optimizer,
            "batch_size": self.batch_size,
            "momentum": self.momentum,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "rho": self.rho,
            "optimizer_epsilon": self.optimizer_epsilon,
        }
        return p

    def _validate(self, p):
        losses = L.CLASSIFICATION_LOSSES if self._is_clf else L.REGRESSION_LOSSES
        _check_choice("loss", p["loss"], tuple(losses))
        _check_choice("penalty", p["penalty"], PENALTIES)
        _check_real("alpha", p["alpha"], 0.0)
        if p["l1_ratio"] is None and p["penalty"] == "elasticnet":
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")
        if p["l1_ratio"] is not None:  # None: unused (scikit-learn)
            _check_real("l1_ratio", p["l1_ratio"], 0.0, 1.0)
        _check_int("max_iter", p["max_iter"], 1)
        if p["tol"] is not None:
            _check_real("tol", p["tol"])
        _check_real("epsilon", p["epsilon"], 0.0)
        _check_choice("learning_rate", p["learning_rate"], tuple(L.SCHEDULES))
        _check_choice("optimizer", p["optimizer"], tuple(L.OPTIMIZERS))
        if p["eta0"] is not None:
            _check_real("eta0", p["eta0"], 0.0)
        _check_real("power_t", p["power_t"])
        if p["power_t"] < 0:  # as scikit-learn 1.8+
            warnings.warn(
                "Negative values for `power_t` are deprecated in scikit-learn 1.8 and fastml: "
                "the invscaling rate eta0 / t**power_t then grows with t. Use values in the "
                "range [0.0, inf).",
                FutureWarning,
                stacklevel=external_stacklevel(),
            )
        _check_real("validation_fraction", p["validation_fraction"], 0.0, 1.0, True, True)
        _check_int("n_iter_no_change", p["n_iter_no_change"], 1)
        if p["batch_size"] is not None:
            _check_int("batch_size", p["batch_size"], 1)
        _check_real("momentum", p["momentum"], 0.0, 1.0, False, True)
        _check_real("beta_1", p["beta_1"], 0.0, 1.0, False, True)
        _check_real("beta_2", p["beta_2"], 0.0, 1.0, False, True)
        _check_real("rho", p["rho"], 0.0, 1.0, False, True)
        _check_real("optimizer_epsilon", p["optimizer_epsilon"], 0.0, low_open=True)
        if not isinstance(p["shuffle"], bool | np.bool_):
            raise ValueError(f"shuffle must be a bool; got {p['shuffle']!r}")
        if self._average_start() and (p["optimizer"] != "sgd" or p["batch_size"] != 1):
            raise ValueError(
                "average (averaged SGD) needs plain SGD: optimizer='sgd' and batch_size=1"
            )
        if p["learning_rate"] in ("pa1", "pa2"):
            self._check_passive_aggressive(p)
        if p["learning_rate"] == "optimal" and p["optimizer"] == "sgd" and p["alpha"] == 0:
            raise ValueError("alpha must be > 0 with learning_rate='optimal' (eta = 1/(alpha t))")
        needs_eta = p["optimizer"] == "sgd" and p["learning_rate"] != "optimal"
        if needs_eta and p["eta0"] is not None and p["eta0"] <= 0 and not self._auto_eta:
            raise ValueError(
                f"eta0 must be > 0 with learning_rate={p['learning_rate']!r}; got {p['eta0']}"
            )

    def _check_passive_aggressive(self, p):
        """pa1 / pa2: scikit-learn's losses for them, and plain SGD (one sample a step)."""
        if isinstance(self, _FullBatchModel):  # LinearRegression, LogisticRegression
            raise ValueError(
                f"learning_rate={p['learning_rate']!r} (passive-aggressive) is SGDClassifier's "
                f"and SGDRegressor's; {type(self).__name__} takes 'constant', 'invscaling' "
                "or 'adaptive'"
            )
        need = "hinge" if self._is_clf else "epsilon_insensitive"
        if p["loss"] != need:
            raise ValueError(f"Learning rate '{p['learning_rate']}' only works with loss '{need}'.")
        if p["optimizer"] != "sgd" or p["batch_size"] != 1:
            raise ValueError(
                f"learning_rate={p['learning_rate']!r} (passive-aggressive) needs plain SGD: "
                f"optimizer='sgd' and batch_size=1; got optimizer={p['optimizer']!r}, "
                f"batch_size={p['batch_size']!r}"
            )

    _auto_eta = False  # LinearRegression / LogisticRegression: eta0=None means 1/L

    # ------------------------------------------------------------ targets
    def _encode_targets(self, y, n, partial, classes):
        """y -> (kernel target array, n_out, loss code); sets classes_ for classifiers."""
        y = column_vector_y(target_array(self, y))
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of shape (n_samples,); got {y.shape}")
        if y.shape[0] != n:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: X has {n} rows, y has {y.shape[0]}"
            )
        code = self._loss_code()
        if not self._is_clf:
            if y.dtype.kind == "O":  # numbers held as objects, as in check_array
                try:
                    y = y.astype(np.float64)
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"y must be numeric for a regressor ({exc})") from None
            if y.dtype.kind not in "biuf":
                raise TypeError(f"y must be numeric for a regressor; got dtype {y.dtype}")
            y = y.astype(np.float64)
            if not np.isfinite(y).all():
                raise ValueError("y contains NaN or infinity")
            return y, 1, code
        check_class_labels(y)
        if partial and hasattr(self, "classes_"):
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError("classes differs from the classes of the first partial_fit call")
        elif partial:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
        else:
            self.classes_, idx = _labels(y)
        if len(self.classes_) < 2:
            raise ValueError(
                "the target y needs samples of at least 2 classes; got "
                f"{len(self.classes_)} class: {self.classes_!r}"
            )
        if partial:
            idx = np.searchsorted(self.classes_, y)
            idx = np.minimum(idx, len(self.classes_) - 1)
            if not np.array_equal(self.classes_[idx], y):
                unknown = np.setdiff1d(np.unique(y), self.classes_)
                raise ValueError(f"y contains labels not in classes: {unknown[:5]!r}")
        self._class_idx = idx
        n_classes = len(self.classes_)
        if n_classes == 2:
            return np.where(idx == 1, 1.0, -1.0), 1, code
        if self._multinomial():
            return idx.astype(np.float64), n_classes, L.SOFTMAX
        return idx.astype(np.float64), n_classes, code

    def _loss_code(self):
        losses = L.CLASSIFICATION_LOSSES if self._is_clf else L.REGRESSION_LOSSES
        return losses[self._hyper()["loss"]]

    def _multinomial(self):
        return False

    def _weights(self, sample_weight, n):
        sw = check_sample_weight(sample_weight, n)
        cw = getattr(self, "class_weight", None)
        if self._is_clf and cw is not None:
            n_classes = len(self.classes_)
            if isinstance(cw, str):
                if cw != "balanced":
                    raise ValueError(f"class_weight must be a dict, 'balanced' or None; got {cw!r}")
                # scikit-learn's LogisticRegression counts the classes by
                # sample_weight (weights then act as repeated rows); its
                # SGDClassifier counts rows
                by = sw if self._balanced_by_weight else None
                counts = np.bincount(self._class_idx, weights=by, minlength=n_classes)
                total = counts.sum()
                per_class = np.where(
                    counts > 0, total / (n_classes * np.where(counts > 0, counts, 1)), 1.0
                )
            elif isinstance(cw, dict):
                per_class = np.ones(n_classes)
                for label, w in cw.items():
                    pos = np.flatnonzero(self.classes_ == label)
                    if pos.size == 0:
                        raise ValueError(f"class_weight has label {label!r}, not in y")
                    per_class[pos[0]] = _check_real(f"class_weight[{label!r}]", w, 0.0)
            else:
                raise ValueError(f"class_weight must be a dict, 'balanced' or None; got {cw!r}")
            sw = sw * per_class[self._class_idx]
            if not sw.any():
                raise ValueError("sample_weight times class_weight is zero for every sample")
        return sw

    # ------------------------------------------------------------ public API
    def fit(self, X, y, sample_weight=None, coef_init=None, intercept_init=None):
        """Fit the model by gradient descent.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            float32 data trains in float32; other numbers in float64. Sparse
            X needs plain SGD (``optimizer="sgd"``, ``batch_size=1``); as in
            scikit-learn, each step then touches the row's stored columns
            only (L1 included) and the intercept steps are scaled by
            ``SPARSE_INTERCEPT_DECAY`` (0.01).
        y : array_like of shape (n_samples,)
        sample_weight : array_like of shape (n_samples,), optional
        coef_init, intercept_init : array_like, optional
            Initial coefficients and intercepts (default: zeros, or the
            previous fit's with ``warm_start=True``).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, partial=False, classes=None, coef_init=coef_init,
                         intercept_init=intercept_init)  # fmt: skip

    # ------------------------------------------------------------ the driver
    def _fit(self, X, y, sample_weight, *, partial, classes, coef_init=None, intercept_init=None):
        # The driver's own arithmetic on diverging weights (losses, the initial
        # step's curvature) may overflow: _check_divergence says so, whatever
        # numpy error handling the caller has set (np.errstate(all="raise")).
        with np.errstate(all="ignore"):
            return self._fit_ignoring_fp_errors(
                X, y, sample_weight, partial=partial, classes=classes, coef_init=coef_init,
                intercept_init=intercept_init,
            )  # fmt: skip

    def _fit_ignoring_fp_errors(self, X, y, sample_weight, *, partial, classes, coef_init,
                                intercept_init):  # fmt: skip
        p = self._hyper()
        self._validate(p)
        if partial and p["early_stopping"]:
            raise ValueError("early_stopping should be False with partial_fit")
        if partial and getattr(self, "class_weight", None) == "balanced":
            raise ValueError(  # scikit-learn's message
                "class_weight 'balanced' is not supported for partial_fit. In order to use "
                "'balanced' weights, use compute_class_weight('balanced', classes=classes, y=y). "
                "In place of y you can use a large enough sample of the full training set target "
                "to properly estimate the class frequency distributions. Pass the resulting "
                "weights as the class_weight parameter."
            )
        resume = partial and hasattr(self, "theta_")
        X = check_n_features(self, X, reset=not resume, accept_sparse=True)
        if resume and X.dtype != self.theta_.dtype:  # the model keeps its first dtype
            X = X.astype(self.theta_.dtype)
        n, d = X.shape
        yk, n_out, code = self._encode_targets(y, n, partial, classes)
        bs = p["batch_size"]
        plain = p["optimizer"] == "sgd" and bs == 1 and code != L.SOFTMAX
        sparse = _is_sparse(X)
        if sparse and not plain:
            raise TypeError(
                f"{type(self).__name__}: sparse X is supported by plain SGD only "
                "(optimizer='sgd', batch_size=1, and not the multinomial loss); got "
                f"optimizer={p['optimizer']!r}, batch_size={bs!r}"
                + (", multinomial" if code == L.SOFTMAX else "")
                + ". Pass X.toarray() for the others."
            )
        sw = self._weights(sample_weight, n)
        dtype = X.dtype
        yk = np.ascontiguousarray(yk, dtype=dtype)
        sw = np.ascontiguousarray(sw, dtype=dtype)

        self._targets_for_loss = yk
        if not resume:
            self._init_state(p, X, sw, n_out, d, dtype, code, coef_init, intercept_init)
        theta, state, q = self.theta_, self._state, self._q

        # validation split (fit only)
        train = np.arange(n, dtype=np.int64)
        val = None
        if p["early_stopping"] and not partial:
            train, val = self._split(n, p["validation_fraction"])
        if val is not None:
            Xv, yv, swv = X[val], yk[val], sw[val]
            if not swv.any():
                raise ValueError(
                    "The sample weights for validation set are all zero, consider using a "
                    "different random state (or early_stopping=False)."
                )

        if sparse:  # the kernels' CSR arrays (int64 indices), once for all epochs
            rows = (X.data, np.asarray(X.indices, np.int64), np.asarray(X.indptr, np.int64))
        full = bs is None
        bs_eff = len(train) if full else bs
        l1 = p["alpha"] * self._l1_ratio(p) if self._penalized(p) else 0.0
        alpha, l1_ratio = self._penalty_terms(p)
        schedule = L.SCHEDULES[p["learning_rate"]]
        if p["optimizer"] != "sgd" and schedule == 1:
            schedule = 0  # "optimal" is SGD's schedule; the optimizers run on their lr
        hyper = np.array(
            [p["momentum"], p["beta_1"], p["beta_2"], p["optimizer_epsilon"], p["rho"]]
        )
        work = len(train) * d * n_out
        backend = resolve_backend(self.backend, "sgd", "plain" if plain else "batch", work)
        mod = kernel_module(backend, "sgd")
        self.backend_ = backend

        max_iter = 1 if partial else p["max_iter"]
        tol = -np.inf if p["tol"] is None else p["tol"]
        if not partial:
            self.history_ = {"loss": [], "lr": [], "time": []}
            if val is not None:
                self.history_["val_loss"] = []
            self._best = np.inf
            self._no_improve = 0
        history = self.history_
        best_val, best_theta, best_epoch = np.inf, None, 0
        average = self._average_start()
        stop = "max_iter"
        t_start = time.perf_counter()
        epoch = 0
        # The full batch's gradient is a sum: any order gives it, and rows in storage
        # order stream from memory (a shuffled order reads them at random). Plain SGD
        # holds one core: the next epoch's order is drawn meanwhile on another.
        shuffle = p["shuffle"] and not full
        ahead = plain and get_num_threads() > 1
        t_run = self.t_
        with EpochOrders(self._rng_, train, shuffle=shuffle, ahead=ahead) as orders:
            for _ in range(max_iter):
                epoch += 1
                order = orders.next(more=epoch < max_iter)
                lr_used = self._lr_now(schedule, p)
                if sparse:
                    loss_sum, t, u = mod.sgd_epoch_sparse(
                        *rows, yk, sw, order, theta, q, self._avg, self._ab, code, p["epsilon"],
                        alpha, l1_ratio, schedule, self._eta, p["power_t"], self._t0,
                        p["fit_intercept"], t_run, self._u, average, SPARSE_INTERCEPT_DECAY,
                    )  # fmt: skip
                    self._u = u
                    gmax = np.inf
                elif plain and average:
                    loss_sum, t, u = mod.sgd_epoch_averaged(
                        X, yk, sw, order, theta, q, self._avg, self._ab, code, p["epsilon"], alpha,
                        l1_ratio, schedule, self._eta, p["power_t"], self._t0, p["fit_intercept"],
                        t_run, self._u, average,
                    )  # fmt: skip
                    self._u = u
                    gmax = np.inf
                elif plain:
                    loss_sum, t, u = mod.sgd_epoch(
                        X, yk, sw, order, theta, q, code, p["epsilon"], alpha, l1_ratio, schedule,
                        self._eta, p["power_t"], self._t0, p["fit_intercept"], t_run, self._u,
                    )  # fmt: skip
                    self._u = u
                    gmax = np.inf
                else:
                    loss_sum, gmax, t = mod.minibatch_epoch(
                        X, yk, sw, order, theta, state, code, p["epsilon"], alpha, l1_ratio,
                        L.OPTIMIZERS[p["optimizer"]], schedule, self._eta, p["power_t"], self._t0,
                        hyper, bs_eff, p["fit_intercept"], self.t_,
                    )  # fmt: skip
                if plain:
                    # scikit-learn's t_ counts every sample; the kernel's count (the
                    # schedules', averaging's) skips PA-I's zero rows, within a call.
                    t_run = t
                    self.t_ += len(order)
                else:
                    self.t_ = t
                loss = loss_sum / len(order)
                if schedule < L.PA1:  # passive-aggressive: the loss alone (scikit-learn)
                    loss += L.penalty(theta[:, :d], alpha, l1_ratio)
                self._check_divergence(
                    loss, theta, lr_used, len(history["loss"]) + 1, partial=partial
                )
                history["loss"].append(float(loss))
                history["lr"].append(float(lr_used))
                history["time"].append(time.perf_counter() - t_start)
                if val is not None:
                    model = self._averaging(d)  # the model is what is validated
                    model = theta if model is None else model
                    vloss = self._mean_loss(Xv, yv, swv, model, code, p["epsilon"])
                    vloss += L.penalty(model[:, :d], alpha, l1_ratio)
                    history["val_loss"].append(vloss)
                    if vloss < best_val:
                        best_val, best_theta, best_epoch = vloss, theta.copy(), len(history["loss"])
                        best_avg = (self._avg.copy(), self._ab.copy(), self.t_)
                    monitored = vloss
                else:
                    monitored = loss
                if p["verbose"]:
                    extra = f", val_loss {history['val_loss'][-1]:.6g}" if val is not None else ""
                    print(
                        f"-- Epoch {len(history['loss'])}: loss {loss:.6g}{extra}, lr {lr_used:.4g}, "
                        f"T {int(self.t_ - 1)}, {history['time'][-1]:.3f} s"
                    )
                if full and l1 == 0.0 and gmax <= tol:
                    stop = "gradient_tol"
                    break
                if not full or l1 > 0.0:
                    if monitored > self._best - tol:
                        self._no_improve += 1
                    else:
                        self._no_improve = 0
                    self._best = min(self._best, monitored)
                    if self._no_improve >= p["n_iter_no_change"] and not partial:
                        if p["learning_rate"] == "adaptive" and self._eta > 1e-6:
                            self._eta /= 5.0
                            self._no_improve = 0
                        else:
                            stop = "early_stopping" if val is not None else "tol"
                            break
        if not partial:  # the model returned: the last epoch's, or the restored best one's
            final = history["loss"][-1 if best_theta is None else best_epoch - 1]
            model = theta if best_theta is None else best_theta
            self._check_divergence(final, model, lr_used, epoch, last=True)
        if best_theta is not None:
            theta[...] = best_theta
            self._avg[...], self._ab[...], t_best = best_avg
            if average:  # the best epoch's state: whether its mean was the model too
                self.t_ = t_best
            self.best_epoch_ = best_epoch
        # (The mean stays in its lazy form, which the next partial_fit continues as
        # fit's next epoch does: the L1 step edits the weights that form refers to,
        # so restarting it from plain numbers, as scikit-learn's partial_fit does,
        # would give another model; coef_ is the mean, computed from it.)
        self.n_iter_ = epoch if not partial else getattr(self, "n_iter_", 0) + 1
        self.stop_reason_ = stop if not partial else "partial_fit"
        if stop == "max_iter" and not partial and p["tol"] is not None:
            warnings.warn(
                _as_sklearn(ConvergenceWarning)(
                    "Maximum number of iteration reached before convergence. Consider "
                    f"increasing max_iter to improve the fit ({type(self).__name__}, "
                    f"max_iter={max_iter})."  # scikit-learn's sentence first: code matches it
                ),
                stacklevel=external_stacklevel(),
            )
        self._publish(d)
        return self

    def _check_divergence(self, loss, theta, lr, epoch, last=False, partial=False):
        """Raise DivergenceError if training has diverged (see DIVERGENCE_FACTOR).

        ``last``: the end of fit, where a loss above the factor is final;
        ``partial``: a partial_fit epoch (counted towards DIVERGENCE_EPOCHS).
        """
        finite = np.isfinite(loss) and np.isfinite(theta).all()
        floor = CLASSIFIER_LOSS_FLOOR if self._is_clf else 1e-12
        reference = max(self._initial_loss, floor)
        if finite and loss <= DIVERGENCE_FACTOR * reference:
            self._above = None
            return
        if finite:  # above the factor: raise once it lasts
            if getattr(self, "_above", None) is None:
                self._above = (epoch, lr, 0)
            epoch, lr, count = self._above
            self._above = (epoch, lr, count + 1)
            if not last and not (partial and count + 1 >= DIVERGENCE_EPOCHS):
                return
        if not finite:  # with scikit-learn's wording for this case
            raise DivergenceError(
                f"{type(self).__name__} diverged: Floating-point under-/overflow occurred at "
                f"epoch #{epoch} (the loss or the weights became NaN or infinite) with learning "
                f"rate {lr:.3g}. Scaling input data with StandardScaler or MinMaxScaler might "
                "help, or a smaller learning rate (eta0)."
            )
        scale = "it" if reference == self._initial_loss else f"{reference:.3g}"
        raise DivergenceError(
            f"{type(self).__name__} diverged at epoch {epoch}: the loss grew to {loss:.3g} from "
            f"{self._initial_loss:.3g} at the start with learning rate {lr:.3g}, and was still "
            f"above {DIVERGENCE_FACTOR:.0e} times {scale} at the end. Use a smaller learning "
            "rate (eta0) or scale the data (e.g. standardise the features)."
        )

    def _sparse_input(self):
        """Plain SGD takes sparse X (``sgd_epoch_sparse``); the other optimizers do not."""
        p = self.get_params()
        return p.get("optimizer", "sgd") == "sgd" and p.get("batch_size", 1) == 1

    def _average_start(self):
        """Step from which the weights are averaged (scikit-learn's ``average``): 0 never."""
        average = getattr(self, "average", False)
        if isinstance(average, bool | np.bool_):
            return int(average)
        return _check_int("average", average, 0)

    def _averaging(self, d):
        """The averaged weights and intercepts, shape (n_out, d + 1), if they are the model.

        scikit-learn's rule: once more steps were taken than ``average - 1``.
        """
        start = self._average_start()
        if not start or start > self.t_ - 1:
            return None
        return self._mean_weights(d)

    def _mean_weights(self, d):
        """The mean from its lazy form, ``(avg + a w) / b`` (see sgd_epoch_averaged)."""
        a, b = self._ab
        mean = self._avg.copy()
        mean[:, :d] = (mean[:, :d] + a * self.theta_[:, :d]) / b
        return mean

    def _penalized(self, p):
        return p["penalty"] not in (None, "none") and p["alpha"] > 0

    def _l1_ratio(self, p):
        return {"l2": 0.0, "l1": 1.0, "elasticnet": p["l1_ratio"]}.get(p["penalty"], 0.0)

    def _penalty_terms(self, p):
        if not self._penalized(p):
            return 0.0, 0.0
        return float(p["alpha"]), float(self._l1_ratio(p))

    def _lr_now(self, schedule, p):
        from ._python.sgd import eta_at

        return eta_at(schedule, self._eta, p["power_t"], self._t0, self.t_)

    def _init_state(self, p, X, sw, n_out, d, dtype, code, coef_init, intercept_init):
        theta = np.zeros((n_out, d + 1), dtype=dtype)
        warm = getattr(self, "warm_start", False) and getattr(self, "theta_", None) is not None
        if warm and self.theta_.shape == theta.shape:
            theta[...] = self.theta_
        if coef_init is not None:
            c = np.asarray(coef_init, dtype=np.float64).reshape(n_out, -1)
            if c.shape != (n_out, d):
                raise ValueError(
                    f"Provided coef_init does not match dataset: it must have shape "
                    f"{(n_out, d)}; got {c.shape}"
                )
            theta[:, :d] = c
        if intercept_init is not None:
            b = np.asarray(intercept_init, dtype=np.float64).reshape(-1)
            if b.shape != (n_out,):
                raise ValueError(
                    f"Provided intercept_init does not match dataset: it must have shape "
                    f"({n_out},); got {b.shape}"
                )
            theta[:, d] = b
        self.theta_ = theta
        self._q = np.zeros_like(theta)
        # averaged SGD: the mean's numerators, then [a, b] (see sgd_epoch_averaged)
        self._avg = np.zeros_like(theta)
        self._ab = np.array([0.0, 1.0])
        self._state = np.zeros((2,) + theta.shape, dtype=dtype)
        if p["optimizer"] == "adagrad":
            self._state[0] = L.ADAGRAD_INITIAL
        self._u = 0.0
        self.t_ = 1.0
        self._rng_ = _rng(getattr(self, "random_state", None))
        # "optimal" uses the alpha parameter with or without a penalty (scikit-learn)
        optimal = p["learning_rate"] == "optimal" and p["optimizer"] == "sgd"
        self._t0 = L.optimal_t0(code, p["alpha"], p["epsilon"]) if optimal else 1.0
        # (the kernels take optimal's alpha as eta0: see _python.sgd.eta_at)
        self._eta = float(p["alpha"]) if optimal else self._initial_eta(p, X, sw, code)
        yk = self._targets_for_loss
        alpha, l1_ratio = self._penalty_terms(p)
        classes = self._class_idx if self._is_clf else None
        self._initial_loss = self._mean_loss(X, yk, sw, theta, code, p["epsilon"], classes)
        self._initial_loss += L.penalty(theta[:, :d], alpha, l1_ratio)
        self._above = None  # (first epoch, its lr, epochs) above DIVERGENCE_FACTOR
        self._best = np.inf
        self._no_improve = 0
        self.history_ = {"loss": [], "lr": [], "time": []}

    def _initial_eta(self, p, X, sw, code):
        eta0 = p["eta0"]
        if eta0 is not None and eta0 > 0:
            return float(eta0)
        if self._auto_eta and code in L.CURVATURE:
            alpha, l1_ratio = self._penalty_terms(p)
            lam = _largest_curvature(X, sw, p["fit_intercept"])
            if not np.isfinite(lam):
                raise DivergenceError(
                    f"{type(self).__name__} cannot choose its learning rate: the curvature of "
                    "the loss, from X^T X, overflows (features of magnitude 1e154 or more). "
                    "Scale the data (e.g. StandardScaler), or pass eta0."
                )
            lip = L.CURVATURE[code] * lam + alpha * (1.0 - l1_ratio)
            return 1.0 / lip if lip > 0 else 1.0
        if p["optimizer"] != "sgd":
            return L.KERAS_DEFAULT_LR[p["optimizer"]]
        return 0.01 if eta0 is None else float(eta0)

    def _split(self, n, fraction):
        """Training and validation rows (stratified for classifiers), from random_state."""
        rng = self._rng_
        if self._is_clf:
            val = []
            for c in range(len(self.classes_)):
                rows = np.flatnonzero(self._class_idx == c)
                k = int(round(fraction * len(rows)))
                val.append(rng.permutation(rows)[:k])
            val = np.sort(np.concatenate(val))
        else:
            k = max(1, int(round(fraction * n)))
            val = np.sort(rng.permutation(n)[:k])
        if len(val) == 0 or len(val) == n:
            raise ValueError(
                f"validation_fraction={fraction} leaves an empty training or validation set "
                f"for {n} samples"
            )
        mask = np.ones(n, dtype=bool)
        mask[val] = False
        return np.flatnonzero(mask).astype(np.int64), val

    @staticmethod
    def _mean_loss(X, yk, sw, theta, code, epsilon, classes=None):
        """Mean sample-weighted loss of ``theta`` on (X, yk).

        ``classes``: optional class index of each row (rows of a class share
        their target). With zero coefficients (the usual start) every row has
        the same prediction, so the loss is then computed once per class.
        """
        n, d = X.shape
        f64 = np.float64
        sw = np.asarray(sw, f64)
        # einsum, not BLAS (@, np.dot): a multithreaded BLAS call leaves its threads
        # busy-waiting for ~0.1 s on the core that the epochs after it use (the SGD
        # epoch's read-ahead thread, the parallel kernels); an SGD epoch right after
        # np.dot of 200000 floats measured 22-53% slower. einsum runs in this thread.
        if theta[:, :d].any() and _is_sparse(X):
            P = np.asarray(X @ np.asarray(theta[:, :d], X.dtype).T, f64) + theta[:, d]
        elif theta[:, :d].any():
            P = np.einsum("ij,kj->ik", np.asarray(X, f64), np.asarray(theta[:, :d], f64))
            P += theta[:, d]
        else:  # X @ 0 would be a pass over X for nothing
            if classes is not None:
                k = int(classes.max()) + 1
                first = np.empty(k, dtype=np.intp)
                first[classes[::-1]] = np.arange(n - 1, -1, -1)  # each class's first row
                sw = np.bincount(classes, weights=sw, minlength=k)
                yk = yk[first]
            P = np.empty((len(yk), theta.shape[0]))
            P[...] = theta[:, d]
        loss, _ = L.per_sample_loss(code, P, np.asarray(yk, f64), epsilon)
        return float(np.einsum("i,i->", sw, loss) / n)

    def _publish(self, d):
        mean = self._averaging(d)
        theta = self.theta_ if mean is None else mean
        self.coef_ = theta[:, :d].copy()
        self.intercept_ = theta[:, d].copy()
        if not self._is_clf:
            self.coef_ = self.coef_[0]

    # ------------------------------------------------------------ prediction
    def _decision(self, X):
        check_is_fitted(self, "theta_")
        X = check_n_features(self, X, reset=False, accept_sparse=True)
        coef = self.coef_ if self.coef_.ndim == 2 else self.coef_.reshape(1, -1)
        dtype = np.result_type(X.dtype, coef.dtype)  # a float32 / float64 pair: float64
        S = X @ coef.T.astype(dtype)  # X or coef_ (sparsify) may be sparse
        if _is_sparse(S):  # both were
            S = S.toarray()
        return np.asarray(S, dtype=dtype) + self.intercept_.astype(dtype)


class _ClassifierMixin(ClassifierMixin):
    _is_clf = True

    def decision_function(self, X):
        """Signed distances to the separating hyperplanes.

        Returns
        -------
        ndarray of shape (n_samples,) for two classes, else (n_samples, n_classes)
        """
        S = self._decision(X)
        return S[:, 0] if S.shape[1] == 1 else S

    def predict(self, X):
        """Class labels, shape (n_samples,)."""
        S = self.decision_function(X)
        idx = (S > 0).astype(np.intp) if S.ndim == 1 else S.argmax(axis=1)
        return self.classes_[idx]

    _balanced_by_weight = False  # class_weight="balanced" counts rows (SGDClassifier)

    def _proba_loss(self):
        return self._hyper()["loss"]

    def _check_proba(self):
        loss = self._proba_loss()
        if loss not in ("log_loss", "modified_huber"):
            raise AttributeError(
                f"probability estimates are not available for loss={loss!r}; "
                "use loss='log_loss' or 'modified_huber'"
            )
        return True

    @available_if(_check_proba)
    def predict_proba(self, X):
        """Class probabilities (log_loss and modified_huber), shape (n_samples, n_classes).

        log_loss: the sigmoid (binary), the softmax (multinomial) or the
        normalised one-vs-rest sigmoids; modified_huber: ``(clip(d, -1, 1) + 1) / 2``
        normalised over classes (uniform where all are 0), as scikit-learn.
        """
        loss = self._proba_loss()
        S = self._decision(X).astype(np.float64)
        if loss == "log_loss" and S.shape[1] > 1 and self._multinomial():
            E = np.exp(S - S.max(axis=1, keepdims=True))
            P = E / E.sum(axis=1, keepdims=True)
        else:
            P = L.sigmoid(S) if loss == "log_loss" else (np.clip(S, -1.0, 1.0) + 1.0) / 2.0
            if P.shape[1] == 1:
                P = np.hstack([1.0 - P, P])
            else:
                s = P.sum(axis=1, keepdims=True)
                P = np.where(s > 0, P / np.where(s > 0, s, 1.0), 1.0 / P.shape[1])
        return P.astype(self.coef_.dtype, copy=False)

    @available_if(_check_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), keeping weights, optimizer state and step count.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            After the first call, converted to the dtype the model was first
            trained in (float32 or float64), which the model keeps.
        y : array_like of shape (n_samples,)
        classes : array_like, optional
            Every class label; required on the first call.
        sample_weight : array_like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, partial=True, classes=classes)


class _RegressorMixin(RegressorMixin):
    _is_clf = False

    def predict(self, X):
        """Predicted values, shape (n_samples,) (or (n_samples, n_targets) after a
        LinearRegression fit on a 2-D y)."""
        S = self._decision(X)
        return S if getattr(self, "_targets_2d", False) else S[:, 0]

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), keeping weights, optimizer state and step count.

        After the first call, X is converted to the dtype the model was first
        trained in (float32 or float64), which the model keeps."""
        return self._fit(X, y, sample_weight, partial=True, classes=None)


_GD_DOC = """
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
        Update rule (Keras semantics). "sgd" with ``batch_size=1`` is
        scikit-learn's algorithm.
    batch_size : int or None
        1: stochastic; k: mini-batches of k rows (gradient = mean over the
        batch); None: the full batch.
    momentum : float, default 0.9
        Momentum of "momentum" and "nesterov".
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's moment decay rates.
    rho : float, default 0.9
        RMSprop's decay rate.
    optimizer_epsilon : float, default 1e-7
        Keras's ``epsilon`` of Adagrad, RMSprop and Adam.
    backend : {"auto", "python", "numpy", "numba", "cython"}, optional
        Kernel backend (default: :func:`fastml.get_backend`).
"""

_ATTR_DOC = """
    Attributes
    ----------
    coef_, intercept_ : ndarray
        Learned weights (X's dtype), in scikit-learn's shapes.
    n_iter_ : int
        Epochs run (full batch: steps).
    t_ : float
        Optimizer steps done plus one (samples seen + 1 with batch_size=1).
    history_ : dict of lists
        Per epoch: ``loss`` (mean loss + penalty), ``lr``, ``time`` (seconds
        since the start of fit), ``val_loss`` with early stopping.
    stop_reason_ : str
        "tol", "gradient_tol", "early_stopping", "max_iter" or "partial_fit".
    best_epoch_ : int
        With early stopping: the epoch whose weights were restored.
    backend_ : str
        The backend that ran.
"""


class _SparseCoefMixin:
    """``sparsify`` / ``densify`` as scikit-learn's linear models have them."""

    def sparsify(self):
        """Store ``coef_`` as a ``scipy.sparse.csr_array`` (needs SciPy).

        Worth it for L1-penalised models with mostly zero coefficients:
        predictions read the sparse matrix. Fitting again (``fit``,
        ``partial_fit``) publishes dense coefficients again.

        Returns
        -------
        self
        """
        check_is_fitted(self, "coef_")
        try:
            from scipy import sparse
        except ImportError:  # pragma: no cover - scipy is an optional extra
            raise ImportError("sparsify needs SciPy: pip install scipy") from None
        try:  # scikit-learn's type, 1-D for a regressor (SciPy >= 1.14)
            self.coef_ = sparse.csr_array(self.coef_)
        except ValueError:  # pragma: no cover - older SciPy: 2-D only
            self.coef_ = sparse.csr_matrix(np.atleast_2d(self.coef_))
        return self

    def densify(self):
        """Store ``coef_`` as a dense ndarray again (the inverse of :meth:`sparsify`).

        Returns
        -------
        self
        """
        check_is_fitted(self, "coef_")
        if hasattr(self.coef_, "toarray"):
            self.coef_ = self.coef_.toarray()
        return self


class SGDClassifier(_SparseCoefMixin, _ClassifierMixin, _GradientDescent):
    """Linear classifier trained by stochastic (or mini-/full-batch) gradient descent.

    scikit-learn's ``SGDClassifier`` parameters, defaults and semantics (see
    :mod:`fastml.linear_model`), plus:

    Parameters
    ----------
    multi_class : {"ovr", "multinomial"}, default "ovr"
        More than two classes: one-vs-rest binary problems, or (log_loss only)
        one multinomial softmax model.
    average : bool or int, default False
        Averaged SGD: True averages from the first step, an int ``N`` from
        step ``N``; the mean is the model once more than ``N - 1`` steps ran.
    learning_rate : str, default "optimal"
        Besides the schedules, scikit-learn's passive-aggressive steps (loss
        "hinge", plain SGD): "pa1", ``eta = min(eta0, loss / ||x||^2)``, and
        "pa2", ``eta = loss / (||x||^2 + 1 / (2 eta0))``; ``eta0`` is the
        aggressiveness C and the rate the penalty decays by.
    """

    __doc__ += _GD_DOC + _ATTR_DOC

    def __init__(
        self,
        loss="hinge",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        n_jobs=None,
        random_state=None,
        learning_rate="optimal",
        eta0=0.01,
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        class_weight=None,
        warm_start=False,
        average=False,
        multi_class="ovr",
        optimizer="sgd",
        batch_size=1,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        optimizer_epsilon=1e-7,
        backend=None,
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.multi_class = multi_class
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.optimizer_epsilon = optimizer_epsilon
        self.backend = backend

    def _multinomial(self):
        _check_choice("multi_class", self.multi_class, ("ovr", "multinomial"))
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError("multi_class='multinomial' needs loss='log_loss'")
        return self.multi_class == "multinomial"


class SGDRegressor(_SparseCoefMixin, _RegressorMixin, _GradientDescent):
    """Linear regression trained by stochastic (or mini-/full-batch) gradient descent.

    scikit-learn's ``SGDRegressor`` parameters, defaults and semantics (see
    :mod:`fastml.linear_model`), plus:

    Parameters
    ----------
    average : bool or int, default False
        As :class:`SGDClassifier`'s.
    learning_rate : str, default "invscaling"
        As :class:`SGDClassifier`'s; "pa1" and "pa2" with loss "epsilon_insensitive".
    """

    __doc__ += _GD_DOC + _ATTR_DOC

    def __init__(
        self,
        loss="squared_error",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        random_state=None,
        learning_rate="invscaling",
        eta0=0.01,
        power_t=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        warm_start=False,
        average=False,
        optimizer="sgd",
        batch_size=1,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        optimizer_epsilon=1e-7,
        backend=None,
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.optimizer_epsilon = optimizer_epsilon
        self.backend = backend


class _FullBatchModel(_GradientDescent):
    """Full-batch defaults shared by LinearRegression and LogisticRegression."""

    _auto_eta = True

    def _hyper(self):
        alpha, l1_ratio = self._alpha_l1()
        return {
            "loss": self._fixed_loss,
            "penalty": "elasticnet" if alpha > 0 else None,
            "alpha": alpha,
            "l1_ratio": l1_ratio,
            "fit_intercept": self.fit_intercept,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "shuffle": self.shuffle,
            "verbose": self.verbose,
            "epsilon": 0.1,
            "learning_rate": self.learning_rate,
            "eta0": self.eta0,
            "power_t": 0.5,
            "early_stopping": False,
            "validation_fraction": 0.1,
            "n_iter_no_change": self.n_iter_no_change,
            "optimizer": self.optimizer,
            "batch_size": self.batch_size,
            "momentum": self.momentum,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "rho": 0.9,
            "optimizer_epsilon": 1e-7,
        }


class LinearRegression(_RegressorMixin, _FullBatchModel):
    """Least squares (optionally ridge) by full-batch gradient descent.

    Minimises ``mean(sample_weight * (X w + b - y)^2 / 2) + alpha / 2 |w|^2``
    with Nesterov momentum and step ``eta0`` (default ``1 / L``, ``L`` the
    largest curvature of the objective, from a power iteration), until the
    largest absolute entry of the gradient is <= ``tol``. With ``alpha=0``
    it converges to scikit-learn's ``LinearRegression`` solution.

    Parameters
    ----------
    fit_intercept : bool, default True
    alpha : float, default 0.0
        Ridge penalty (scikit-learn's ``Ridge(alpha=a)`` is ``alpha = a / n_samples``).
    optimizer : str, default "nesterov"
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
    eta0 : float or None
        Step size; None: ``1 / L``.
    momentum : float, default 0.9
    batch_size : int or None, default None (full batch)
    max_iter : int, default 1000
    tol : float or None, default 1e-6
    n_iter_no_change : int, default 5
    shuffle : bool, default True
        Shuffle the rows of each mini-batch epoch (the full batch ignores it).
    random_state : int, Generator or None
    verbose : int, default 0
    warm_start : bool, default False
    copy_X : bool, default True
        Accepted for scikit-learn compatibility: X is never modified.
    n_jobs : int or None
        Accepted and ignored (threads: :func:`fastml.set_num_threads`).
    backend : str, optional
    """

    __doc__ += _ATTR_DOC
    _fixed_loss = "squared_error"

    def __init__(
        self,
        *,
        fit_intercept=True,
        alpha=0.0,
        optimizer="nesterov",
        learning_rate="constant",
        eta0=None,
        momentum=0.9,
        batch_size=None,
        max_iter=1000,
        tol=1e-6,
        n_iter_no_change=5,
        shuffle=True,
        random_state=None,
        verbose=0,
        warm_start=False,
        copy_X=True,
        n_jobs=None,
        backend=None,
    ):
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.copy_X = copy_X
        self.n_jobs = n_jobs
        self.backend = backend

    def _alpha_l1(self):
        return _check_real("alpha", self.alpha, 0.0), 0.0

    _multi_output = True  # scikit-learn's tag: y may be 2-D

    def fit(self, X, y, sample_weight=None, coef_init=None, intercept_init=None):
        """Fit the model by gradient descent.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_targets)
            A 2-D y fits one least-squares problem per column (the objective
            is a sum over the columns, so they are independent): ``coef_``
            then has shape (n_targets, n_features), ``intercept_``
            (n_targets,), and ``n_iter_``, ``history_`` and ``stop_reason_``
            hold one entry per target, as scikit-learn's iterative multi-target
            solvers do.
        sample_weight : array_like of shape (n_samples,), optional
        coef_init : array_like, optional
            Shape (n_features,) for a 1-D y, (n_targets, n_features) for a 2-D y.
        intercept_init : array_like, optional
            Shape (1,) for a 1-D y, (n_targets,) for a 2-D y.

        Returns
        -------
        self
        """
        Y = target_array(self, y)
        if Y.ndim != 2:
            super().fit(X, y, sample_weight, coef_init, intercept_init)
        else:
            self._fit_targets(X, Y, sample_weight, coef_init, intercept_init)
        self._targets_2d = Y.ndim == 2  # (once fitted: a failed fit leaves the model as it was)
        return self

    def _fit_targets(self, X, Y, sample_weight, coef_init, intercept_init):
        """One single-target fit per column of Y, published as one model."""
        n_t = Y.shape[1]
        if n_t == 0:
            raise ValueError(f"y must have at least one target column; got shape {Y.shape}")
        warm = getattr(self, "theta_", None) if self.warm_start else None
        if warm is not None and warm.shape[0] == n_t and getattr(self, "_targets_2d", False):
            # the previous fit's weights, where none are given (as _init_state does)
            coef_init = warm[:, :-1] if coef_init is None else coef_init
            intercept_init = warm[:, -1] if intercept_init is None else intercept_init
        inits = []
        for name, init, dims in (
            ("coef_init", coef_init, 2),
            ("intercept_init", intercept_init, 1),
        ):
            if init is None:
                inits.append([None] * n_t)
                continue
            arr = np.asarray(init, dtype=np.float64)
            if arr.ndim != dims or arr.shape[0] != n_t:
                raise ValueError(
                    f"Provided {name} does not match dataset: it must have {n_t} rows "
                    f"(one per target); got shape {arr.shape}"
                )
            inits.append(list(arr))
        params = dict(self.get_params(), warm_start=False)
        fits = [
            type(self)(**params).fit(X, Y[:, j], sample_weight, ci, ii)
            for j, (ci, ii) in enumerate(zip(*inits, strict=True))
        ]
        first = fits[0]
        self.theta_ = np.vstack([f.theta_ for f in fits])
        self.coef_ = np.vstack([f.coef_ for f in fits])
        self.intercept_ = np.concatenate([f.intercept_ for f in fits])
        self.n_iter_ = np.array([f.n_iter_ for f in fits])
        self.t_ = np.array([f.t_ for f in fits])
        self.history_ = [f.history_ for f in fits]
        self.stop_reason_ = [f.stop_reason_ for f in fits]
        self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.backend_ = first.backend_
        return self

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) (one target: a 2-D y is for :meth:`fit`)."""
        if np.ndim(target_array(self, y)) == 2 and np.shape(y)[1] != 1:
            raise ValueError("partial_fit takes a 1-D y; fit several targets with fit")
        if getattr(self, "_targets_2d", False):
            raise ValueError("this model was fitted on several targets: partial_fit takes one")
        return super().partial_fit(X, y, sample_weight)


class LogisticRegression(_SparseCoefMixin, _ClassifierMixin, _FullBatchModel):
    """Logistic regression (binary or multinomial) by full-batch gradient descent.

    Minimises scikit-learn's objective divided by ``C * n_samples``:
    ``mean(sample_weight * log_loss) + alpha * R(w)`` with
    ``alpha = 1 / (C * n_samples)`` and ``R`` = ``|w|^2 / 2`` ("l2"),
    ``|w|_1`` ("l1") or ``l1_ratio |w|_1 + (1 - l1_ratio) |w|^2 / 2``
    ("elasticnet"); the intercept is not penalised. So it converges to the
    optimum of scikit-learn's ``LogisticRegression(C=C)`` (lbfgs) for the same
    penalty. More than two classes: one multinomial (softmax) model.

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
    C : float, default 1.0
        Inverse regularisation strength (``np.inf``: no penalty).
    l1_ratio : float, default 0.5
        Mix of "elasticnet".
    fit_intercept : bool, default True
    class_weight : dict, "balanced" or None
    optimizer : str, default "nesterov"
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
    eta0 : float or None
        Step size; None: ``1 / L``, ``L`` the largest curvature (power iteration).
    momentum : float, default 0.9
    batch_size : int or None, default None (full batch)
    max_iter : int, default 1000
    tol : float, default 1e-5
        Stop when the largest absolute gradient entry is <= tol.
    n_iter_no_change : int, default 5
    shuffle : bool, default True
        Shuffle the rows of each mini-batch epoch (the full batch ignores it).
    random_state : int, Generator or None
    verbose : int, default 0
    warm_start : bool, default False
    n_jobs : int or None
        Accepted and ignored (threads: :func:`fastml.set_num_threads`).
    backend : str, optional
    """

    __doc__ += _ATTR_DOC
    _fixed_loss = "log_loss"

    def __init__(
        self,
        penalty="l2",
        *,
        C=1.0,
        l1_ratio=0.5,
        fit_intercept=True,
        class_weight=None,
        optimizer="nesterov",
        learning_rate="constant",
        eta0=None,
        momentum=0.9,
        batch_size=None,
        max_iter=1000,
        tol=1e-5,
        n_iter_no_change=5,
        shuffle=True,
        random_state=None,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        backend=None,
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.backend = backend

    def _multinomial(self):
        return True

    _balanced_by_weight = True

    def _proba_loss(self):
        return "log_loss"

    def _alpha_l1(self):
        _check_choice("penalty", self.penalty, PENALTIES)
        if self.C is None or not _is_real(self.C) or not self.C > 0:
            raise ValueError(f"C must be a positive number (np.inf: no penalty); got {self.C!r}")
        if self.penalty in (None, "none") or np.isinf(self.C):
            return 0.0, 0.0
        n = getattr(self, "_n_rows", None)
        alpha = 1.0 / (float(self.C) * n)
        if self.penalty in ("l2", "l1"):  # l1_ratio unused (may be None)
            return alpha, {"l2": 0.0, "l1": 1.0}[self.penalty]
        return alpha, _check_real("l1_ratio", self.l1_ratio, 0.0, 1.0)

    def _fit(self, X, y, sample_weight, **kwargs):
        # alpha = 1 / (C n) is a parameter, read before X is validated
        shape = getattr(X, "shape", None)  # arrays, sparse matrices
        if shape is None:
            shape = np.asarray(X).shape  # lists, objects with __array__ only
        self._n_rows = max(shape[0], 1) if len(shape) == 2 else 1  # 0 rows: refused later
        return super()._fit(X, y, sample_weight, **kwargs)
