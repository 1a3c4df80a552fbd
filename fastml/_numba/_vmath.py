"""Elementary functions that LLVM vectorises (mirrors ``_cbrt`` in ``src_cython/distance.pyx``).

Without Intel's SVML, Numba lowers ``x ** (1/3)`` and ``np.cbrt`` to one libm
call per value. ``cbrt`` here is branch-free float64 arithmetic and integer
bit operations (AVX2 has all of them), so a loop over an output row runs 4
values per instruction. Accurate to 3 ulp or better (tested against
``np.cbrt`` from subnormals to the largest double); 0, inf and NaN are
returned unchanged. Inputs are >= 0 (negative input is not supported).
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
