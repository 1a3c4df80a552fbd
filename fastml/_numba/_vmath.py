"""Elementary functions that LLVM vectorises (mirror ``_cbrt`` and ``_pow`` in
``src_cython/distance.pyx``).

Without Intel's SVML, Numba lowers ``x ** y`` and ``np.cbrt`` to one libm
call per value. These are branch-free float64 arithmetic and integer bit
operations (AVX2 has all of them), so a loop over them runs 4 values per
instruction. Inputs are >= 0 (negative input is not supported); 0, inf and
NaN give what libm gives.

* ``cbrt``: within 3 ulp of ``np.cbrt`` from subnormals to the largest double.
* ``log_pos(t)`` for finite t > 0 (fdlibm's log kernel; 0, inf and NaN give
  garbage, so callers select them out, as ``pow_pos`` does).
* ``pow_pos(t, p)`` for p > 0: ``exp(p * log(t))`` with fdlibm's log kernel
  and a degree-13 Taylor exp. The error grows with ``|p log t|`` (the kernels'
  fastmath may reassociate the compensated sums): relative error below
  ``1e-15 * (2 + |p log t|)``, i.e. < 1e-15 near t = 1 and < 3e-13 over all
  doubles for 0.1 <= p <= 10 (tested); subnormal results as accurate in
  absolute terms.
"""

from __future__ import annotations

import numpy as np

from ._bits import as_bits, from_bits
from ._jit import jit

# cbrt(m) ~ C0 + C1 m + C2 m^2 on [1, 2): relative error < 7.1e-4 (least squares
# on Chebyshev nodes); one Halley step (cubic) and one Newton step finish it.
_C0 = 0.62289442
_C1 = 0.43747295
_C2 = -0.05965741
_CBRT2 = 2.0 ** (1.0 / 3.0)
_CBRT4 = 2.0 ** (2.0 / 3.0)
_TWO52 = 4503599627370496.0  # 2**52: adding it exposes a small integer in the low bits


@jit(inline="always")
def cbrt(s):
    """Cube root of a float64 ``s >= 0`` (see the module docstring)."""
    tiny = s < 2.0**-1000  # subnormal (and zero): scale by 2**300 first, exactly
    x = s * 2.0**300 if tiny else s
    b = as_bits(x)
    # x = m * 2**e with m in [1, 2); e = 3q + r, r in {0, 1, 2}; all in float64.
    e = from_bits((b >> 52) | 0x4330000000000000) - (_TWO52 + 1023.0)
    m = from_bits((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    q = np.floor((e + 0.5) * (1.0 / 3.0))
    r = e - 3.0 * q
    z = m * (1.0 if r == 0.0 else (2.0 if r == 1.0 else 4.0))  # in [1, 8): no overflow below
    y = (_C0 + m * (_C1 + m * _C2)) * (1.0 if r == 0.0 else (_CBRT2 if r == 1.0 else _CBRT4))
    t = y * y * y
    y = y * (t + 2.0 * z) / (2.0 * t + z)  # Halley: 7e-4 -> ~1e-10
    y2 = y * y
    y = y - (y2 * y - z) / (3.0 * y2)  # Newton (the residual is an FMA): to ~1 ulp
    # times 2**q (2**(q - 100) for scaled input): q + bias sits in the low bits of
    # q + bias + 2**52, whose shift by 52 is the exponent field.
    bias = 923.0 if tiny else 1023.0
    y *= from_bits(as_bits(q + bias + _TWO52) << 52)
    return y if (s > 0.0 and s < np.inf) else s


@jit
def cbrt_array(x, out):
    """``out[i] = cbrt(x[i])`` for float64 arrays (for tests and benchmarks)."""
    for i in range(x.shape[0]):
        out[i] = cbrt(x[i])


# fdlibm's log(1 + f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f): < 1 ulp
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_LN2_HI = 6.93147180369123816490e-01  # trailing zeros: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT2 = 1.4142135623730951


@jit(inline="always")
def log_pos(t):
    """log(t) for finite t > 0 (garbage for 0, inf, NaN: callers select)."""
    tiny = t < 2.0**-1000  # subnormal: scale by 2**64 first
    x = t * 2.0**64 if tiny else t
    b = as_bits(x)
    e = from_bits((b >> 52) | 0x4330000000000000) - (_TWO52 + 1023.0)
    e = e - 64.0 if tiny else e
    m = from_bits((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2  # m in [sqrt(1/2), sqrt(2))
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    R = z * (_LG1 + z * (_LG2 + z * (_LG3 + z * (_LG4 + z * (_LG5 + z * (_LG6 + z * _LG7))))))
    hfsq = 0.5 * f * f
    return e * _LN2_HI - ((hfsq - (s * (hfsq + R) + e * _LN2_LO)) - f)


@jit(inline="always")
def _exp(y):
    """exp(y); inf above 709.78, 0 below -745.13 (y is clamped to [-800, 800],
    which 2**k1 * 2**k2 below still turns into inf or 0). NaN: garbage."""
    y = -800.0 if y < -800.0 else (800.0 if y > 800.0 else y)
    k = np.rint(y * _INV_LN2)
    r = (y - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln(2) / 2
    # Taylor to r**13 (r**14 / 14! < 5e-18 here), Horner
    q = 1.0 / 6227020800.0
    q = q * r + 1.0 / 479001600.0
    q = q * r + 1.0 / 39916800.0
    q = q * r + 1.0 / 3628800.0
    q = q * r + 1.0 / 362880.0
    q = q * r + 1.0 / 40320.0
    q = q * r + 1.0 / 5040.0
    q = q * r + 1.0 / 720.0
    q = q * r + 1.0 / 120.0
    q = q * r + 1.0 / 24.0
    q = q * r + 1.0 / 6.0
    q = q * r + 0.5
    q = q * r + 1.0
    q = q * r + 1.0
    # times 2**k: 2**k1 goes into q's exponent field (q * 2**k1 stays normal), then
    # one multiplication by 2**k2 rounds once into inf or a subnormal where due.
    # (Two multiplications would be reassociated into q * (2**k1 * 2**k2) = q * inf.)
    k1 = np.floor(k * 0.5)
    k2 = k - k1
    q = from_bits(as_bits(q) + ((as_bits(k1 + (1023.0 + _TWO52)) << 52) - 0x3FF0000000000000))
    return q * from_bits(as_bits(k2 + (1023.0 + _TWO52)) << 52)


@jit(inline="always")
def pow_pos(t, p):
    """t ** p for float64 t >= 0 and p > 0 (see the module docstring)."""
    r = _exp(p * log_pos(t))
    return r if (t > 0.0 and t < np.inf) else t  # 0, inf, NaN: themselves


@jit
def pow_array(t, p, out):
    """``out[i] = pow_pos(t[i], p)`` for float64 arrays (for tests)."""
    for i in range(t.shape[0]):
        out[i] = pow_pos(t[i], p)
