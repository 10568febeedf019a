"""Plain-Python references for the s8/s16 softmax (TFLM ``reference_ops::Softmax`` /
``SoftmaxInt16`` and CMSIS-NN ``arm_softmax_s16``), written from gemmlowp's fixed-point
definitions, not from ``kernels/``: every constant is recomputed from ``math.exp``, saturating
shifts are clamps of the exact product, and the reciprocal/exp are evaluated on Python ints row
by row.
"""
import math

from tests.naive.s8 import I32_MAX, I32_MIN, rdpot, requant_ref, srdhm, wrap32

# gemmlowp constants, each round(value * 2**31) (or * 2**29 for the Q2.29 Newton constants)
EXP_M1_8 = round(math.exp(-1 / 8) * 2**31)                  # 1895147668
ONE_THIRD = round(2**31 / 3)                               # 715827883
BARREL = [round(math.exp(-2.0**k) * 2**31) for k in range(-2, 5)]   # exp(-1/4) .. exp(-16)
C48_17 = round(48 / 17 * 2**29)                            # 1515870810
CM32_17 = round(-32 / 17 * 2**29)                          # -1010580540


def sat_mul_pot(x: int, e: int) -> int:
    """``x * 2**e`` clamped to int32 (gemmlowp ``SaturatingRoundingMultiplyByPOT`` for e > 0)."""
    return max(I32_MIN, min(I32_MAX, x * (1 << e)))


def exp_on_negative_values_ref(a: int) -> int:
    """exp(a / 2**26) in Q0.31 for a <= 0 (gemmlowp, 5 integer bits)."""
    if a == 0:
        return I32_MAX
    quarter = 1 << 24
    a_mod = (a & (quarter - 1)) - quarter                  # a mod 1/4, minus 1/4: in [-1/4, 0)
    x = sat_mul_pot(a_mod, 5) + (1 << 28)                  # Q0.31, shifted by +1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    poly = rdpot(srdhm(rdpot(x4, 2) + x3, ONE_THIRD) + x2, 1)
    result = wrap32(EXP_M1_8 + srdhm(EXP_M1_8, x + poly))
    remainder = a_mod - a                                  # the whole quarters removed
    for k, mult in enumerate(BARREL):
        if remainder & (1 << (24 + k)):
            result = srdhm(result, mult)
    return result


def one_over_one_plus_x_ref(a: int) -> int:
    """1 / (1 + a / 2**31) in Q0.31 for a in [0, 2**31) (gemmlowp Newton-Raphson, 3 steps)."""
    s = a + I32_MAX
    half = (s + 1) // 2 if s >= 0 else -((1 - s) // 2)        # (s + sign) / 2, truncated
    x = C48_17 + srdhm(half, CM32_17)
    for _ in range(3):
        x = x + sat_mul_pot(srdhm(x, (1 << 29) - srdhm(half, x)), 2)
    return sat_mul_pot(x, 1)


def softmax_s8_ref(x, mult, shift, diff_min, out_bits=8):
    """Rows of int8 ``x`` (list of lists or 2-D array) -> list of lists of ints (int8 or int16
    outputs with zero point -128 / -32768)."""
    out = []
    lo = -(1 << (out_bits - 1))
    hi = -lo - 1
    for row in x:
        row = [int(v) for v in row]
        mx = max(row)
        exps = {}
        total = 0
        for v in row:
            d = v - mx
            if d >= diff_min:
                e = exp_on_negative_values_ref(srdhm(d * (1 << shift), mult))
                exps[d] = e
                total = wrap32(total + rdpot(e, 12))
        h = 32 - total.bit_length()
        scale = one_over_one_plus_x_ref((total << h) - (1 << 31))
        exponent = 12 - h + 31 - out_bits
        res = []
        for v in row:
            d = v - mx
            if d >= diff_min:
                r = rdpot(srdhm(scale, exps[d]), exponent) + lo
                res.append(max(lo, min(hi, r)))
            else:
                res.append(lo)
        out.append(res)
    return out


def lut_lookup_ref(lut, v: int) -> int:
    """Interpolate the 513-entry LUT at int16 ``v``: entry ``256 + floor(v / 128)`` plus
    ``(slope * (v mod 128) + 64) >> 7``."""
    idx = 256 + v // 128
    frac = v % 128
    base = int(lut[idx])
    slope = int(lut[idx + 1]) - base
    return base + ((slope * frac + 64) >> 7)


def _i16(v: int) -> int:
    return ((v + 32768) % 65536) - 32768


def softmax_s16_ref(x, mult, shift, exp_lut, one_lut, tflm=True, single_rounding=False):
    """Rows of int16 ``x`` -> list of lists of ints. ``tflm=True``: TFLM ``SoftmaxInt16`` (exact
    integers, saturation); ``False``: ``arm_softmax_s16`` (int32 wrap of ``(sum << (h-1)) +
    2**13``, int16 casts of the LUT index input and of the result)."""
    out = []
    for row in x:
        row = [int(v) for v in row]
        mx = max(row)
        exps = []
        for v in row:
            sd = requant_ref(v - mx, mult, shift, single_rounding) + 32767
            exps.append(lut_lookup_ref(exp_lut, max(-32768, min(32767, sd))))
        total = sum(exps)
        h = 32 - total.bit_length()
        if tflm:
            s = ((total << (h - 1)) + (1 << 13)) >> 14
            sym = max(-32768, min(32767, s - 98304))
        else:
            s = wrap32(wrap32(total << (h - 1)) + (1 << 13)) >> 14
            sym = _i16(s - 98304)
        recip = lut_lookup_ref(one_lut, sym)
        res = []
        for e in exps:
            if tflm:
                r = (e * recip + (1 << (30 - h))) >> (31 - h)
                res.append(max(0, min(32767, r)))
            else:
                r = ((e * recip) >> (30 - h)) + 1 >> 1
                res.append(_i16(r))
        out.append(res)
    return out
