"""The one place that checks and converts user input.

Kernels receive what these functions return: C-contiguous float32 or float64
arrays of one dtype, never the user's array itself when a copy was needed.
Every error names the argument and says what was expected.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

__all__ = [
    "DTypeError",
    "all_finite",
    "check_array",
    "check_csr",
    "check_out",
    "check_pair",
    "check_sample_weight",
    "check_weights",
    "result_dtype",
]


class DTypeError(TypeError, ValueError):
    """An array of the wrong dtype (complex input, an integer ``out``, ...).

    A TypeError by fastml's rule (a wrong kind of data) and a ValueError as
    SciPy and scikit-learn raise, so that code written against either catches it.
    """


def _is_sparse(x):
    # scipy.sparse matrices and arrays, without importing SciPy
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "toarray")


def _kind_error(name, arr):
    return TypeError(f"{name} must be a real numeric or boolean array; got dtype {arr.dtype}")


def _complex_error(name, dtype):
    return DTypeError(f"{name} must be real: Complex data not supported (got dtype {dtype})")


def _check_not_empty(name, shape):
    """scikit-learn's wording, which its estimator checks look for."""
    if 0 in shape:
        what = "sample" if shape[0] == 0 else "feature"
        raise ValueError(
            f"{name} must not be empty: found array with 0 {what}(s) (shape={shape}) "
            "while a minimum of 1 is required."
        )


def _float_dtype(dtype, have):
    """``dtype`` if given, else ``have`` if float32/float64, else float64."""
    if dtype is not None:
        return dtype
    return have if have in (np.float32, np.float64) else np.float64


def check_array(x, name, *, ndim=2, dtype=None, allow_empty=False, finite=False):
    """Convert ``x`` to a C-contiguous float array and check its shape.

    Parameters
    ----------
    x : array_like
        User input.
    name : str
        The argument's name, for error messages.
    ndim : int, default 2
        Required number of dimensions.
    dtype : {None, numpy.float32, numpy.float64}
        Target dtype. None keeps float32 and float64 and converts every other
        real or boolean dtype to float64.
    allow_empty : bool, default False
        Accept arrays with a zero-length axis.
    finite : bool, default False
        Reject NaN and infinity (estimators' ``fit``), as scikit-learn does.

    Returns
    -------
    numpy.ndarray
        C-contiguous, of the checked dtype. A copy only when conversion needs one.
    """
    if _is_sparse(x):
        raise TypeError(
            f"{name} is a sparse {type(x).__name__}; sparse input is not supported: "
            f"pass a dense array ({name}.toarray())"
        )
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind == "c":
        raise _complex_error(name, arr.dtype)
    if arr.dtype.kind == "O":
        # Numbers held as Python objects convert, as in NumPy, SciPy and
        # scikit-learn; anything else (None, strings, dicts) is an error.
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must be a real numeric or boolean array; got dtype object "
                f"holding a non-number ({exc})"
            ) from None
    if arr.dtype.kind not in "biuf":
        raise _kind_error(name, arr)
    if arr.ndim != ndim:
        expected = {
            1: "a 1-D array of shape (n,)",
            2: "a 2-D array of shape (n_samples, n_features)",
        }
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = (
                f". Reshape your data: {name}.reshape(-1, 1) if it has a single feature, "
                f"{name}.reshape(1, -1) if it is a single sample"
            )
        raise ValueError(
            f"{name} must be {expected.get(ndim, f'{ndim}-D')}; got {arr.ndim}-D with "
            f"shape {arr.shape}{hint}"
        )
    if not allow_empty:
        _check_not_empty(name, arr.shape)
    arr = np.ascontiguousarray(arr, dtype=_float_dtype(dtype, arr.dtype))
    if finite and not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def check_csr(x, name, *, dtype=None, finite=False):
    """Convert a scipy.sparse matrix or array ``x`` to canonical CSR.

    For the kernels that take sparse rows (plain SGD): each row's column
    indices sorted and distinct (duplicates summed, as scipy does); stored zeros
    are kept. The same kind of object comes back (``csr_matrix`` or
    ``csr_array``); ``x`` itself is never modified.

    Parameters
    ----------
    x : scipy.sparse matrix or array of shape (n_samples, n_features)
    name : str
        The argument's name, for error messages.
    dtype : {None, numpy.float32, numpy.float64}
        Target dtype of the values. None keeps float32 and float64 and converts
        every other real or boolean dtype to float64.
    finite : bool, default False
        Reject stored NaN and infinity.

    Returns
    -------
    scipy.sparse csr_matrix or csr_array
        A copy only when conversion needs one.
    """
    if len(x.shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {x.shape}")
    _check_not_empty(name, x.shape)
    if x.dtype.kind == "c":
        raise _complex_error(name, x.dtype)
    if x.dtype.kind not in "biuf":
        raise _kind_error(name, x)
    dtype = _float_dtype(dtype, x.dtype)
    csr = x.tocsr()
    if csr.dtype != dtype:
        csr = csr.astype(dtype)
    if not csr.has_canonical_format:
        csr = csr.copy() if csr is x else csr
        csr.sum_duplicates()  # sorts each row's indices too
    if finite and not all_finite(csr.data):
        raise ValueError(f"{name} contains NaN or infinity")
    return csr


#: Below this many elements the exact check is as fast as the sum.
_SUM_MIN = 1 << 16


def all_finite(arr):
    """True if no element of the float array ``arr`` is NaN or infinite.

    Large contiguous arrays are read once by the compiled check
    (``fastml._cython.checks``, on :func:`fastml.get_num_threads` threads).
    Without it, the sum decides first: a NaN or an infinity makes it NaN or
    infinite, and it reads the array once without the boolean temporary of
    ``isfinite(arr).all()`` (as large as the array over 8); only a non-finite
    sum, which finite values can also give by overflow, needs the exact check.
    (Not a BLAS product: OpenBLAS's threads keep spinning for ~0.1 s after a
    call, and would take a core from the parallel kernel that comes next.)
    """
    if arr.size >= _SUM_MIN:
        compiled = _compiled_all_finite()
        if compiled is not None and arr.flags.c_contiguous and arr.dtype in _FLOATS:
            return compiled(arr.reshape(-1))
        with np.errstate(all="ignore"):  # overflow and inf - inf are expected here
            if np.isfinite(np.add.reduce(arr, axis=None)):
                return True
    return bool(np.isfinite(arr).all())


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@functools.cache
def _compiled_all_finite():
    """The Cython extension's ``all_finite``, or None where it is not built."""
    try:
        from ._cython.checks import all_finite as compiled
    except ImportError:
        return None
    return compiled


def result_dtype(*arrays):
    """float32 if every array is float32, else float64 (DESIGN.md dtype rule)."""
    return np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64


def check_pair(XA, XB, names=("XA", "XB")):
    """Validate two 2-D inputs with matching feature counts and one common dtype.

    Returns
    -------
    XA, XB : numpy.ndarray
        C-contiguous, both float32 (if both were) or both float64.
    """
    XA = check_array(XA, names[0])
    XB = check_array(XB, names[1])
    if XA.shape[1] != XB.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of columns (features); "
            f"got {names[0]}.shape={XA.shape} and {names[1]}.shape={XB.shape}"
        )
    dtype = result_dtype(XA, XB)
    return XA.astype(dtype, copy=False), XB.astype(dtype, copy=False)


def check_out(out, shape, name="out"):
    """Check a user-supplied output buffer.

    ``out`` must be a writeable float32 or float64 ndarray of exactly ``shape``.
    It may be non-contiguous; the caller then computes into a temporary and copies.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {type(out).__name__}")
    if out.dtype not in (np.float32, np.float64):
        raise DTypeError(f"{name} must have dtype float32 or float64; got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {out.shape}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out


def check_sample_weight(sample_weight, n, dtype=np.float64):
    """Validated sample weights of shape (n,): finite, >= 0, not all zero.

    None gives ones; a scalar weighs every sample alike (and is checked too).
    """
    if sample_weight is None:
        return np.ones(n, dtype=dtype)
    if isinstance(sample_weight, numbers.Real) or (
        isinstance(sample_weight, np.ndarray) and sample_weight.ndim == 0
    ):
        sample_weight = np.full(n, float(sample_weight))
    w = check_array(sample_weight, "sample_weight", ndim=1, dtype=dtype, finite=True)
    if w.shape[0] != n:
        raise ValueError(
            f"sample_weight must have shape ({n},) (one weight per sample); got {w.shape}"
        )
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative")
    if not w.any():
        raise ValueError("sample_weight must not be all zero")
    return w


def check_weights(w, n_features, dtype, name="w"):
    """Validate a non-negative weight vector of length ``n_features``."""
    w = check_array(w, name, ndim=1, dtype=np.float64)
    if w.shape[0] != n_features:
        raise ValueError(
            f"{name} must have one weight per feature ({n_features}); got {w.shape[0]}"
        )
    if not np.isfinite(w).all():
        raise ValueError(f"{name} must be finite")
    if (w < 0).any():
        raise ValueError(f"{name} must be non-negative")
    return w


def check_positive_float(value, name, *, allow_inf=False):
    """Return ``value`` as float if it is a real number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {value!r}")
    value = float(value)
    if not (value > 0) or (np.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a positive number; got {value}")
    return value
