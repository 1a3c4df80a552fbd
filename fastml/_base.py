"""scikit-learn conventions for fastml's estimators, without requiring scikit-learn.

``BaseEstimator`` gives ``get_params`` / ``set_params`` / ``__repr__`` read off
``__init__``'s signature (so ``sklearn.base.clone``, pipelines and
``GridSearchCV`` work), and ``__sklearn_tags__`` for scikit-learn >= 1.6, which
asks estimators for their type through it. The mixins add ``score`` and
``fit_predict`` as scikit-learn's do. Nothing here imports scikit-learn
unless scikit-learn itself asks for the tags.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import types
import warnings

import numpy as np

from ._validation import _is_sparse, check_array, check_csr

__all__ = [
    "BaseEstimator",
    "ClassifierMixin",
    "ClusterMixin",
    "ConvergenceWarning",
    "DataConversionWarning",
    "NotFittedError",
    "RegressorMixin",
    "TransformerOutputMixin",
    "available_if",
    "check_class_labels",
    "check_is_fitted",
    "check_n_features",
    "column_vector_y",
    "external_stacklevel",
    "target_array",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before ``fit`` (as scikit-learn's)."""


class DataConversionWarning(UserWarning):
    """The input was converted in a way the caller may not expect (as scikit-learn's)."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at max_iter before its tolerance was met (as scikit-learn's)."""


_JOINT = {}


def _as_sklearn(cls):
    """``cls``, also an instance of scikit-learn's class of the same name.

    Code that catches ``sklearn.exceptions.NotFittedError`` (or filters its
    DataConversionWarning) catches fastml's too, without fastml importing
    scikit-learn: the joint subclass is made only when scikit-learn is loaded.
    """
    theirs = getattr(sys.modules.get("sklearn.exceptions"), cls.__name__, None)
    if theirs is None:
        return cls
    if cls not in _JOINT:
        _JOINT[cls] = type(cls.__name__, (cls, theirs), {"__module__": cls.__module__})
    return _JOINT[cls]


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def external_stacklevel():
    """``stacklevel`` for a ``warnings.warn`` in the function calling this one that
    points at the first frame outside fastml: the user's call, however deep in
    fastml the warning is raised (a fixed stacklevel breaks when a subclass adds
    a frame)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def column_vector_y(y):
    """A (n, 1) target as (n,), with scikit-learn's DataConversionWarning."""
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            _as_sklearn(DataConversionWarning)(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel()."
            ),
            stacklevel=external_stacklevel(),
        )
        return y[:, 0]
    return y


def target_array(estimator, y):
    """``y`` as an array, refusing ``None`` with scikit-learn's wording."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None"
        )
    return np.asarray(y)


def check_class_labels(y):
    """Refuse targets that are not class labels: NaN/inf, or non-integer floats.

    scikit-learn's ``check_classification_targets``: a float target with a
    fractional value is "continuous", which a classifier cannot learn.
    """
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        if (y != np.round(y)).any():
            raise ValueError(
                "Unknown label type: continuous. A classifier needs class labels; for a "
                "continuous target use a regressor"
            )


class available_if:
    """Decorator: the method exists only while ``check(self)`` passes.

    As scikit-learn's ``available_if``: when the method does not apply,
    ``check`` returns False or raises AttributeError (with the reason), so
    ``hasattr(est, name)`` is False, e.g. ``predict_proba`` of a hinge-loss
    classifier.
    """

    def __init__(self, check):
        self.check = check

    def __call__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)
        return self

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.fn
        if not self.check(obj):
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.fn.__name__!r}"
            )
        return types.MethodType(self.fn, obj)


class BaseEstimator:
    """Parameters are the keyword arguments of ``__init__``, stored unchanged.

    ``__init__`` must only store its arguments (validation happens in ``fit``),
    so that ``clone(est)`` rebuilds an identical unfitted estimator.
    """

    #: "classifier", "regressor", "clusterer" or None (set by the mixins).
    _estimator_type: str | None = None

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args or **kwargs")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep=True):
        """Return the estimator's parameters as a dict.

        Parameters
        ----------
        deep : bool, default True
            Also return the parameters of parameters that are estimators, as
            ``<param>__<name>`` (scikit-learn's convention).
        """
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update({f"{name}__{k}": v for k, v in value.get_params().items()})
            out[name] = value
        return out

    def set_params(self, **params):
        """Set parameters (``name=value`` or nested ``param__name=value``); return self."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are: {', '.join(self._param_names())}"
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self):
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.default is not p.empty
        }
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = defaults.get(name, inspect.Parameter.empty)
            if _differs(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self):
        """scikit-learn >= 1.6 reads the estimator type from here."""
        from sklearn.utils import (
            ClassifierTags,
            InputTags,
            RegressorTags,
            Tags,
            TargetTags,
            TransformerTags,
        )

        kind = self._estimator_type
        tags = Tags(
            estimator_type=kind,
            target_tags=TargetTags(
                required=kind in ("classifier", "regressor"),
                multi_output=getattr(self, "_multi_output", False),
            ),
            transformer_tags=TransformerTags() if hasattr(type(self), "transform") else None,
            classifier_tags=ClassifierTags() if kind == "classifier" else None,
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            input_tags=InputTags(pairwise=self._pairwise_input(), sparse=self._sparse_input()),
        )
        return tags

    def _pairwise_input(self):
        """True when X is a square matrix over the samples (a precomputed metric)."""
        return False

    def _sparse_input(self):
        """True when ``fit`` takes scipy.sparse X with these parameters."""
        return False


def _differs(value, default):
    if default is inspect.Parameter.empty:
        return True
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return True
    try:
        return bool(value != default)
    except Exception:
        return True


class ClassifierMixin:
    """``score`` = mean accuracy (weighted by ``sample_weight``)."""

    _estimator_type = "classifier"

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)
        sample_weight : array_like of shape (n_samples,), optional
        """
        y = np.asarray(y)
        correct = (self.predict(X) == y).astype(np.float64)
        return float(np.average(correct, weights=sample_weight))


class RegressorMixin:
    """``score`` = coefficient of determination R^2."""

    _estimator_type = "regressor"

    def score(self, X, y, sample_weight=None):
        """R^2 of ``predict(X)`` against ``y`` (1 is perfect; can be negative).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array_like of shape (n_samples,), optional
        """
        y = np.asarray(y, dtype=np.float64)
        pred = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w is not None and y.ndim == 2:
            w = w[:, None]
        resid = np.sum(w * (y - pred) ** 2 if w is not None else (y - pred) ** 2, axis=0)
        mean = np.average(y, axis=0, weights=None if w is None else np.broadcast_to(w, y.shape))
        total = np.sum(w * (y - mean) ** 2 if w is not None else (y - mean) ** 2, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(total > 0, 1.0 - resid / np.where(total > 0, total, 1.0), 0.0)
            r2 = np.where((total == 0) & (resid == 0), 1.0, r2)
        return float(np.mean(r2))


class TransformerOutputMixin:
    """``set_output`` and ``get_feature_names_out`` as scikit-learn's transformers
    have them (``ClassNamePrefixFeaturesOutMixin``, ``_SetOutputMixin``).

    A subclass names its output columns ``"<class name in lower case><i>"`` for
    ``i < self._n_features_out`` and passes what ``transform`` computes
    through :meth:`_wrap_output`.
    """

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns of ``transform``.

        Parameters
        ----------
        input_features : array_like of str, optional
            Checked against ``feature_names_in_`` / ``n_features_in_`` (they
            do not change the output names).

        Returns
        -------
        ndarray of shape (n_features_out,), object
        """
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            given = np.asarray(input_features, dtype=object)
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and not np.array_equal(fitted, given):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(given) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of features "
                    f"({self.n_features_in_}), got {len(given)}"
                )
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)

    def set_output(self, *, transform=None):
        """Set the container of ``transform`` and ``fit_transform``'s output.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None
            "default": an ndarray; "pandas" / "polars": a DataFrame whose
            columns are :meth:`get_feature_names_out` (pandas keeps the index
            of a pandas input); None: leave the setting as it is (otherwise
            scikit-learn's global ``transform_output`` applies, when
            scikit-learn is loaded).

        Returns
        -------
        self
        """
        if transform is None:
            return self
        if transform not in ("default", "pandas", "polars"):
            raise ValueError(
                f"transform must be 'default', 'pandas', 'polars' or None; got {transform!r}"
            )
        # scikit-learn's attribute name: sklearn.base.clone copies it.
        self._sklearn_output_config = {"transform": transform}
        return self

    def _wrap_output(self, out, X):
        """``out`` in the container chosen by :meth:`set_output`."""
        container = getattr(self, "_sklearn_output_config", {}).get("transform")
        if container is None and "sklearn" in sys.modules:
            container = sys.modules["sklearn"].get_config().get("transform_output", "default")
        if container in (None, "default"):
            return out
        columns = list(self.get_feature_names_out())
        if container == "polars":
            import polars

            return polars.DataFrame(out, schema=columns, orient="row")
        import pandas

        index = X.index if isinstance(X, pandas.DataFrame) else None
        return pandas.DataFrame(out, index=index, columns=columns)


class ClusterMixin:
    """``fit_predict`` = ``fit(X).labels_``."""

    _estimator_type = "clusterer"

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return the cluster label of every sample, shape (n_samples,)."""
        return self.fit(X, sample_weight=sample_weight).labels_


def check_is_fitted(estimator, attributes=None):
    """Raise :class:`NotFittedError` unless ``estimator`` has been fitted.

    Parameters
    ----------
    estimator : BaseEstimator
    attributes : str or sequence of str, optional
        Attributes ``fit`` sets; default: any attribute ending in ``_``.
    """
    if attributes is None:
        fitted = any(k.endswith("_") and not k.startswith("__") for k in vars(estimator))
    else:
        names = [attributes] if isinstance(attributes, str) else list(attributes)
        fitted = all(hasattr(estimator, a) for a in names)
    if not fitted:
        raise _as_sklearn(NotFittedError)(
            f"This {type(estimator).__name__} instance is not fitted yet; call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def _feature_names(X):
    """The column names of a dataframe ``X`` if they are all strings, else None.

    scikit-learn's rule (``sklearn.utils.validation._get_feature_names``):
    names are kept only when every column name is a string; a mix of string
    and non-string names is refused.
    """
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.ndim != 1 or names.size == 0:
        return None
    kinds = sorted({type(c).__name__ for c in names})
    is_str = [isinstance(c, str) for c in names]
    if all(is_str):
        return names
    if any(is_str):
        raise TypeError(
            "Feature names are only supported if all input features have string names, but "
            f"your input has {kinds} as feature name / column name types. If you want feature "
            "names to be stored and validated, you must convert them all to strings, by using "
            "X.columns = X.columns.astype(str) for example. Otherwise you can remove feature / "
            "column names from your input data, or convert them all to a non-string data type."
        )
    return None


def _check_feature_names(estimator, names):
    """Compare the column names of X at predict time with those seen in fit
    (scikit-learn's ``_check_feature_names``: an error if they differ, a
    warning if only one of the two had names)."""
    fitted = getattr(estimator, "feature_names_in_", None)
    cls = type(estimator).__name__
    if fitted is None and names is None:
        return
    if fitted is not None and names is None:
        warnings.warn(
            f"X does not have valid feature names, but {cls} was fitted with feature names",
            UserWarning,
            stacklevel=external_stacklevel(),
        )
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {cls} was fitted without feature names",
            UserWarning,
            stacklevel=external_stacklevel(),
        )
        return
    if len(fitted) == len(names) and (fitted == names).all():
        return
    message = "The feature names should match those that were passed during fit.\n"
    unseen = sorted(set(names) - set(fitted))  # scikit-learn's lists: sorted, each name once
    missing = sorted(set(fitted) - set(names))

    def listed(header, items, limit=5):
        more = ["- ..."] if len(items) > limit else []
        return header + "".join(f"- {n}\n" for n in items[:limit]) + "".join(m + "\n" for m in more)

    if unseen:
        message += listed("Feature names unseen at fit time:\n", unseen)
    if missing:
        message += listed("Feature names seen at fit time, yet now missing:\n", missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


def check_n_features(estimator, X, *, reset, name="X", finite=True, dtype=None,
                     accept_sparse=False):  # fmt: skip
    """Validate ``X`` (2-D, numeric, finite) and record or check ``n_features_in_``.

    Column names of a dataframe are handled as scikit-learn does: recorded
    as ``feature_names_in_`` (all strings) in fit and compared afterwards.

    Parameters
    ----------
    estimator : BaseEstimator
    X : array_like of shape (n_samples, n_features)
    reset : bool
        True in ``fit`` (records ``n_features_in_``), False afterwards (checks it).
    name : str
        Argument name for error messages.
    finite : bool, default True
        Reject NaN and infinity, as scikit-learn's estimators do.
    dtype : numpy dtype, optional
        Target dtype (default: keep float32/float64, other numbers -> float64).
    accept_sparse : bool, default False
        Take scipy.sparse input as canonical CSR (:func:`fastml._validation.check_csr`);
        otherwise it is a TypeError.

    Returns
    -------
    numpy.ndarray or scipy.sparse CSR
        C-contiguous float32 or float64 copy or view of ``X`` (CSR when sparse).
    """
    names = _feature_names(X)
    if accept_sparse and _is_sparse(X):
        convert = functools.partial(check_csr, X, name, finite=finite, dtype=dtype)
    else:
        convert = functools.partial(check_array, X, name, finite=finite, dtype=dtype)
    if reset:
        X = convert()
        estimator.n_features_in_ = X.shape[1]
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_  # refitted on data without names
    else:
        check_is_fitted(estimator, "n_features_in_")
        _check_feature_names(estimator, names)
        X = convert()
        if X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input"
            )
    return X
