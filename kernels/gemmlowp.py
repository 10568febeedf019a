"""gemmlowp fixed-point helpers of the s8/s16 softmax, as CMSIS-NN inlines them.

=====================================================  =========================================
C (``arm_nnsupportfunctions.h``) / gemmlowp           here
=====================================================  =========================================
``arm_nn_mult_by_power_of_two`` (``MUL_POW2``)         :func:`mul_pow2_sat`
``arm_nn_exp_on_negative_values`` (Q5.26 -> Q0.31)     :func:`exp_on_negative_values`
``arm_nn_one_over_one_plus_x_for_x_in_0_1`` (Q0.31)   :func:`one_over_one_plus_x_for_x_in_0_1`
``__CLZ``                                              :func:`clz32`
``arm_nn_softmax_s16``'s LUT interpolation             :func:`lut_interp`
=====================================================  =========================================

All are jitted scalars on int64 carriers of int32 values, wrapped exactly where the C narrows.
"""
import numba as nb
import numpy as np

from kernels.requantize_s8 import divide_by_power_of_two, mul_sat
from kernels.rounding import wrap32

__all__ = ["mul_pow2_sat", "exp_on_negative_values", "one_over_one_plus_x_for_x_in_0_1",
           "clz32", "lut_interp"]

_I32_MAX = 2147483647
_I32_MIN = -2147483648



@nb.njit(cache=True, inline="always")
def mul_pow2_sat(x, e):
    """``MUL_POW2`` / gemmlowp ``SaturatingRoundingMultiplyByPOT<e>`` for e > 0: ``x << e``
    saturated to int32."""
    thresh = (np.int64(1) << np.int64(31 - e)) - np.int64(1)
    x = np.int64(x)
    if x > thresh:
        return np.int64(_I32_MAX)
    if x < -thresh:
        return np.int64(_I32_MIN)
    return x << np.int64(e)


@nb.njit(cache=True, inline="always")
def _exp_on_interval(a):
    """gemmlowp ``exp_on_interval_between_negative_one_quarter_and_0_excl`` (Q0.31 in and out):
    Taylor series around -1/8 with constants exp(-1/8) = 1895147668 and 1/3 = 715827883."""
    x = wrap32(a + (np.int64(1) << np.int64(28)))
    x2 = mul_sat(x, x)
    x3 = mul_sat(x2, x)
    x4 = mul_sat(x2, x2)
    x4_over_4 = divide_by_power_of_two(x4, 2)
    poly = divide_by_power_of_two(wrap32(mul_sat(wrap32(x4_over_4 + x3), 715827883) + x2), 1)
    return wrap32(np.int64(1895147668) + mul_sat(1895147668, wrap32(x + poly)))


@nb.njit(cache=True, inline="always")
def exp_on_negative_values(a):
    """``arm_nn_exp_on_negative_values`` = gemmlowp ``exp_on_negative_values`` for a Q5.26 input
    ``a <= 0``; returns exp(a) in Q0.31 (``a == 0`` gives INT32_MAX)."""
    a = np.int64(a)
    quarter = np.int64(1) << np.int64(24)
    a_mod = ((quarter - np.int64(1)) & a) - quarter            # in [-2**24, -1]
    result = _exp_on_interval(a_mod << np.int64(5))           # Rescale<0>: no saturation here
    remainder = wrap32(a_mod - a)
    if remainder & (np.int64(1) << np.int64(24)):
        result = mul_sat(result, 1672461947)                   # exp(-1/4)
    if remainder & (np.int64(1) << np.int64(25)):
        result = mul_sat(result, 1302514674)                   # exp(-1/2)
    if remainder & (np.int64(1) << np.int64(26)):
        result = mul_sat(result, 790015084)                    # exp(-1)
    if remainder & (np.int64(1) << np.int64(27)):
        result = mul_sat(result, 290630308)                    # exp(-2)
    if remainder & (np.int64(1) << np.int64(28)):
        result = mul_sat(result, 39332535)                     # exp(-4)
    if remainder & (np.int64(1) << np.int64(29)):
        result = mul_sat(result, 720401)                       # exp(-8)
    if remainder & (np.int64(1) << np.int64(30)):
        result = mul_sat(result, 242)                          # exp(-16)
    if a == 0:
        return np.int64(_I32_MAX)
    return result


@nb.njit(cache=True, inline="always")
def one_over_one_plus_x_for_x_in_0_1(a):
    """``arm_nn_one_over_one_plus_x_for_x_in_0_1`` = gemmlowp's: 1/(1+a) for Q0.31 ``a`` in
    [0, 1), by three Newton-Raphson steps in Q2.29; result Q0.31."""
    s = np.int64(a) + np.int64(_I32_MAX)
    half_den = (s + 1) // 2 if s >= 0 else -((-s + 1) // 2)   # C: (s + sign) / 2, truncating
    x = wrap32(np.int64(1515870810) + mul_sat(half_den, -1010580540))   # 48/17 - 32/17 d
    one = np.int64(1) << np.int64(29)
    for _ in range(3):
        x = wrap32(x + mul_pow2_sat(mul_sat(x, wrap32(one - mul_sat(half_den, x))), 2))
    return mul_pow2_sat(x, 1)


@nb.njit(cache=True, inline="always")
def clz32(v):
    """``__CLZ`` of a non-negative int32 (32 for 0)."""
    n = 0
    v = np.int64(v)
    while n < 32 and not (v & (np.int64(1) << np.int64(31 - n))):
        n += 1
    return n


@nb.njit(cache=True, inline="always")
def lut_interp(lut, v):
    """TFLM ``lut_lookup_with_interpolation`` / the inline lookup in ``arm_softmax_s16``."""
    index = 256 + (v >> 7)
    offset = v & 0x7F
    base = np.int64(lut[index])
    slope = np.int64(np.int16(lut[index + 1] - lut[index]))
    delta = (slope * offset + 64) >> 7
    return np.int64(np.int16(base + delta))


# --------------------------------------------------------------------------- jitted bodies
