"""TFLite-int8/int16 softmax; bit-exact twins of CMSIS-NN ``arm_softmax_s8``,
``arm_softmax_s8_s16`` (pure-C path, ``arm_nn_softmax_common_s8``) and ``arm_softmax_s16``.

==============================================  ===============================================
C / TFLM                                        here
==============================================  ===============================================
``arm_softmax_s8``                              :func:`softmax_s8`
``arm_softmax_s8_s16``                          :func:`softmax_s8_s16`
``arm_softmax_s16``                             :func:`softmax_s16` (``variant=CMSIS_NN``)
TFLM ``reference_ops::SoftmaxInt16``            :func:`softmax_s16` (``variant=TFLM``)
TFLM ``CalculateSoftmaxParams`` (int8 in)       :func:`softmax_s8_params`
TFLM ``CalculateSoftmaxParams`` (int16 in)      :func:`softmax_s16_params`
TFLM ``SoftmaxPrepare`` ``gen_lut`` x2          :func:`softmax_s16_luts`
==============================================  ===============================================

The gemmlowp fixed-point helpers (``EXP_ON_NEG``, ``ONE_OVER1``, ``MUL_POW2``, ``CLZ``, the LUT
interpolation) are in :mod:`kernels.gemmlowp`.

s8 algorithm (TFLM ``reference_ops::Softmax<int8_t, int8_t|int16_t>``; CMSIS-NN claims and we
check against the tflite-micro wheel that the two give the same bits)::

    d    = x - max(row)                                   # in [-255, 0]
    e(d) = EXP_ON_NEG(MUL_SAT(d * 2**shift, mult))        # Q5.26 -> Q0.31, gemmlowp
    sum  = sum_{d >= diff_min} DIV_POW2(e(d), 12)         # Q12.19 accumulator
    h    = CLZ(sum); scale = ONE_OVER1((sum << h) - 2**31)
    out  = d >= diff_min ? clamp(DIV_POW2(MUL_SAT(scale, e(d)), 35 - h) - 128, -128, 127) : -128
                                                          # s8_s16: 27 - h and -32768

The s8 output is scale 1/256, zero point -128 (s8_s16: 1/65536, -32768), as TFLM's Prepare demands.

s16 algorithm (two 513-entry int16 LUTs, linear interpolation between entries ``256 + (v >> 7)``
and the next, weight ``v & 0x7f``)::

    e(c) = EXP_LUT(sat16(requantize(x - max, mult, shift) + 32767))   # cached in ``out``
    h    = CLZ(sum e);  s = ((sum << (h - 1)) + 2**13) >> 14          # in [2**16, 2**17]
    r    = ONE_BY_ONE_LUT(s - 98304)
    out  = ((e * r) >> (30 - h) + 1) >> 1

The two s16 variants differ only where CMSIS-NN's C overflows and TFLM's does not:

- ``(sum << (h - 1)) + 2**13`` is int32 in CMSIS-NN and wraps when the top 18 bits of ``sum`` are
  all ones (e.g. ``sum = 2**18 - 1``); the int16 cast of ``s - 98304`` then gives -32768 (so the
  LUT returns 1/(1+0) instead of about 1/2). TFLM computes it in int64 and saturates to 32767.
- the final value is cast to int16 in CMSIS-NN but clamped to [0, 32767] in TFLM.

``Variant.CMSIS_NN`` (default) reproduces the C; ``Variant.TFLM`` reproduces the interpreter.

A note about precision: the s16 LUTs are made in float32 by TFLM's ``gen_lut`` with glibc's
``expf``; :func:`softmax_s16_luts` calls the same ``expf`` through ctypes when libm is found
(otherwise NumPy's float32 ``exp``, which may differ by one ulp and, rarely, one LUT LSB).
"""
import ctypes
import ctypes.util
import functools
import math
from enum import IntEnum

import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array
from kernels.requantize_s8 import (
    check_multiplier_shift,
    divide_by_power_of_two,
    mul_sat,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    requantize_mode,
)
from kernels.gemmlowp import (clz32, exp_on_negative_values, lut_interp, mul_pow2_sat,
                              one_over_one_plus_x_for_x_in_0_1)
from kernels.rounding import wrap32

__all__ = ["Variant", "softmax_s8", "softmax_s8_s16", "softmax_s16", "softmax_s8_params",
           "softmax_s16_params", "softmax_s16_luts", "exp_on_negative_values",
           "one_over_one_plus_x_for_x_in_0_1", "mul_pow2_sat", "LUT_SIZE"]

ACCUM_BITS = 12           # kAccumulationIntegerBits
SCALED_DIFF_BITS = 5      # kScaledDiffIntegerBits
LUT_SIZE = 513            # kInt16LUTArraySize
_I32_MIN = -2147483648


class Variant(IntEnum):
    """Which s16 softmax to reproduce (the s8 kernels have no variants)."""

    CMSIS_NN = 0   #: ``arm_softmax_s16``: int32 arithmetic, int16 casts (default)
    TFLM = 1       #: TFLM ``SoftmaxInt16``: int64 reciprocal input, saturating casts


@nb.njit(cache=True)
def _exp_of_scaled_diff(d, mask, mult):
    """``EXP_ON_NEG(MUL_SAT(d * 2**shift, mult))``, the C's per-element exp."""
    return exp_on_negative_values(mul_sat(wrap32(d * mask), mult))


@nb.njit(cache=True, inline="always")
def _exp_of_diff(table, use_table, d, mask, mult):
    """:func:`_exp_of_scaled_diff` of d in [-255, 0], read from ``table[-d]`` when the caller
    filled it (a pure function of d, so the bits are the C's)."""
    if use_table:
        return np.int64(table[-d])
    return _exp_of_scaled_diff(d, mask, mult)


@nb.njit(cache=True)
def _softmax_s8(inp, out, mult, shift, diff_min, int16_output, table):
    """Body of :func:`softmax_s8` / :func:`softmax_s8_s16`: ``inp`` int8[:, ::1], ``out``
    int8 or int16 [:, ::1] of the same shape; ints; ``table`` int32[::1] (256) scratch for
    exp(d) of the 256 possible differences (filled when the input has more than 256 elements).
    Writes ``out`` row by row."""
    rows, n = inp.shape
    mask = wrap32(np.int64(1) << np.int64(shift))
    use_table = rows * n > 256          # 256 exps up front beat one per element
    if use_table:
        for k in range(256):
            table[k] = _exp_of_scaled_diff(-np.int64(k), mask, mult) if -k >= diff_min else 0
    extra = 15 if int16_output else 23
    lo = -32768 if int16_output else -128
    hi = 32767 if int16_output else 127
    for r in range(rows):
        row = inp[r]
        mx = row[0]
        for c in range(1, n):
            if row[c] > mx:
                mx = row[c]
        total = np.int64(0)
        for c in range(n):
            d = np.int64(row[c]) - np.int64(mx)
            if d >= diff_min:
                e = _exp_of_diff(table, use_table, d, mask, mult)
                total = wrap32(total + divide_by_power_of_two(e, ACCUM_BITS))
        h = clz32(total)
        base = wrap32((total << np.int64(h)) - (np.int64(1) << np.int64(31))) if total > 0 \
            else np.int64(_I32_MIN)
        scale = one_over_one_plus_x_for_x_in_0_1(base)
        bits_over_unit = ACCUM_BITS - h + extra
        orow = out[r]
        for c in range(n):
            d = np.int64(row[c]) - np.int64(mx)
            if d >= diff_min:
                e = _exp_of_diff(table, use_table, d, mask, mult)
                v = divide_by_power_of_two(mul_sat(scale, e), bits_over_unit) + lo
                orow[c] = hi if v > hi else (lo if v < lo else v)
            else:
                orow[c] = lo


@nb.njit(cache=True)
def _softmax_s16(inp, out, mult, shift, exp_lut, one_lut, variant, single_rounding):
    """Body of :func:`softmax_s16`: ``inp``/``out`` int16[:, ::1] (must not alias: the exp values
    are cached in ``out`` as the C does), LUTs int16[::1] of 513, ints."""
    rows, n = inp.shape
    for r in range(rows):
        row = inp[r]
        orow = out[r]
        mx = row[0]
        for c in range(1, n):
            if row[c] > mx:
                mx = row[c]
        total = np.int64(0)
        for c in range(n):
            d = np.int64(row[c]) - np.int64(mx)
            sd = requantize_mode(d, mult, shift, single_rounding) + 32767
            sd = 32767 if sd > 32767 else (-32768 if sd < -32768 else sd)
            e = lut_interp(exp_lut, sd)
            orow[c] = e
            total = wrap32(total + e)
        h = clz32(total)
        if variant == 0:   # CMSIS-NN: int32 sum wraps, int16 cast
            ss = wrap32(wrap32(total << np.int64(h - 1)) + 8192) >> 14
            sym = np.int64(np.int16(ss - 98304))
        else:              # TFLM: int64, saturate
            ss = ((total << np.int64(h - 1)) + 8192) >> 14
            sym = ss - 98304
            sym = 32767 if sym > 32767 else (-32768 if sym < -32768 else sym)
        recip = lut_interp(one_lut, sym)
        for c in range(n):
            p = np.int64(orow[c]) * recip
            if variant == 0:
                v = ((wrap32(p) >> np.int64(30 - h)) + 1) >> 1
                orow[c] = np.int16(v)
            else:
                rs = np.int64(31 - h)
                v = (p + (np.int64(1) << (rs - 1))) >> rs
                orow[c] = 32767 if v > 32767 else (0 if v < 0 else v)


# ------------------------------------------------------------------------ host: parameters

def _f32(x) -> float:
    """A float32 tensor field widened to double, as ``static_cast<double>(float)``."""
    return float(np.float32(x))


def softmax_s8_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """``(mult, shift, diff_min)`` for :func:`softmax_s8`, as TFLM's ``CalculateSoftmaxParams``.

    ``PreprocessSoftmaxScaling(beta, input_scale, 5)``: ``real = min(beta * input_scale * 2**26,
    2**31 - 1)``, then ``QuantizeMultiplierGreaterThanOne``; ``diff_min =
    -CalculateInputRadius(5, shift) = -floor(31 * 2**26 / 2**shift)``. ``beta`` and
    ``input_scale`` are rounded to float32 first (the flatbuffer stores float32).

    Returns
    -------
    (mult, shift, diff_min) : (int in [2**30, 2**31), int in [0, 31], int <= 0)
    """
    real = min(_f32(beta) * _f32(input_scale) * float(1 << (31 - SCALED_DIFF_BITS)),
               float((1 << 31) - 1))
    if not real > 1.0:
        raise ConfigError(f"beta * input_scale * 2**26 = {real!r} must be > 1 (TFLM "
                          "QuantizeMultiplierGreaterThanOne); beta or input_scale is tiny")
    mult, shift = quantize_multiplier_greater_than_one(real)
    radius = math.floor(((1 << SCALED_DIFF_BITS) - 1) * float(1 << (31 - SCALED_DIFF_BITS))
                        / float(1 << shift))
    return int(mult), int(shift), -int(radius)


def softmax_s16_params(beta: float, input_scale: float) -> tuple[int, int]:
    """``(mult, shift)`` for :func:`softmax_s16`, as TFLM's ``CalculateSoftmaxParams`` for int16
    input: ``QuantizeMultiplier(input_scale * beta / (10 / 65535))`` (so [-65535, 0] maps to
    [-10, 0], the exp LUT's range). Output must be scale 1/32768, zero point 0."""
    return quantize_multiplier(_f32(input_scale) * _f32(beta) / (10.0 / 65535.0))


def _expf():
    name = ctypes.util.find_library("m")
    try:
        lib = ctypes.CDLL(name or "libm.so.6")
        f = lib.expf
    except (OSError, AttributeError):
        return lambda v: np.float32(np.exp(np.float32(v)))
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return lambda v: np.float32(f(float(v)))


def _gen_lut_f32(func, input_min, input_max, output_min, output_max) -> np.ndarray:
    """TFLM ``gen_lut<float, int16_t, int16_t>`` (``kernels/internal/common.h``), float32
    arithmetic step by step, ``TfLiteRound`` = round half away from zero (``roundf``)."""
    f32 = np.float32
    rnd = lambda v: f32(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))  # noqa: E731
    input_min, input_max = f32(input_min), f32(input_max)
    nb_steps = 512
    step = f32(f32(input_max - input_min) / f32(nb_steps))
    half_step = f32(step / f32(2))
    scaling = f32(f32(65536.0) / f32(f32(output_max) - f32(output_min)))
    lut = np.empty(LUT_SIZE, dtype=np.int16)
    for i in range(nb_steps):
        x = f32(input_min + f32(f32(i) * step))
        val = func(x)
        val_mid = func(f32(x + half_step))
        val_next = func(f32(input_min + f32(f32(i + 1) * step)))
        sample = rnd(f32(val * scaling))
        mid_interp = rnd(f32(f32(f32(val_next * scaling) + rnd(f32(val * scaling))) / f32(2)))
        mid = rnd(f32(val_mid * scaling))
        bias = rnd(f32(f32(mid_interp - mid) / f32(2)))
        lut[i] = int(min(max(f32(sample - bias), -32768.0), 32767.0))
    lut[nb_steps] = int(min(max(rnd(f32(func(input_max) * scaling)), -32768.0), 32767.0))
    return lut


@functools.lru_cache(maxsize=1)
def _luts_cached():
    expf = _expf()
    exp_lut = _gen_lut_f32(expf, -10.0, 0.0, -1.0, 1.0)
    one = _gen_lut_f32(lambda v: np.float32(np.float32(1.0) / np.float32(np.float32(1.0) + v)),
                       0.0, 1.0, -1.0, 1.0)
    exp_lut.flags.writeable = False
    one.flags.writeable = False
    return exp_lut, one


def softmax_s16_luts() -> tuple[np.ndarray, np.ndarray]:
    """``(exp_lut, one_by_one_lut)``, each int16 (513,), exactly as TFLM's ``SoftmaxPrepare``
    builds them (``tensorflow/lite/micro/kernels/softmax_common.cc``):
    ``gen_lut(exp, -10, 0, -1, 1)`` and ``gen_lut(1 / (1 + x), 0, 1, -1, 1)`` in float32.
    The CMSIS-NN TFLM glue passes these same tables to ``arm_softmax_s16``."""
    exp_lut, one = _luts_cached()
    return exp_lut.copy(), one.copy()


# --------------------------------------------------------------------------- public kernels

def _check_rows(name, x, dtype):
    x = check_array(name, x, dtype)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] == 0 or x.shape[0] == 0:
        raise ShapeError(f"{name}.shape={x.shape} must be (rows, row_size) or (row_size,) with "
                         "row_size >= 1; softmax runs along the last axis")
    return x


def _check_out(out, shape, dtype, orig_shape):
    """(2-D view to write, array to return)."""
    if out is None:
        o = np.empty(orig_shape, dtype=dtype)
        return o.reshape(shape), o
    out_c = check_array("out", out, dtype, writable=True)
    if out_c.shape != tuple(orig_shape):
        raise ShapeError(f"out.shape={out_c.shape} must equal the input shape {tuple(orig_shape)}")
    return out_c.reshape(shape), out_c


def _check_mult_shift(mult, shift, lo=-31, hi=31):
    if isinstance(shift, (bool, np.bool_)) or not isinstance(shift, (int, np.integer)):
        raise ConfigError(f"shift={shift!r} must be an integer")
    if not lo <= int(shift) <= hi:
        raise ConfigError(f"shift={shift!r} must be in [{lo}, {hi}]; make it with the *_params "
                          "function from the tensor scales")
    check_multiplier_shift(np.asarray([mult]), np.asarray([0]), "mult")
    return int(mult), int(shift)


def _table(scratch):
    if scratch is None:
        return np.empty(256, dtype=np.int32)
    return check_array("scratch", scratch, np.int32, shape=(256,), writable=True)


def softmax_s8(x, *, mult, shift, diff_min, out=None, scratch=None):
    """int8 softmax along the last axis; twin of ``arm_softmax_s8`` (= TFLM int8 reference).

    Parameters
    ----------
    x : np.ndarray [shape=(rows, row_size) or (row_size,), dtype=int8]
    mult : int in [2**30, 2**31 - 1]
        ``input_beta_multiplier`` from :func:`softmax_s8_params`.
    shift : int in [0, 31]
        ``input_beta_left_shift``.
    diff_min : int <= 0
        Differences ``x - max`` below it give exactly -128 (probability ~0).
    out : np.ndarray [same shape, dtype=int8], optional
        May alias ``x`` (each row is read fully before it is written, as in the C).
    scratch : np.ndarray [shape=(256,), dtype=int32], optional
        exp(d) for the 256 possible differences, filled when ``x`` has more than 256 elements
        (edgesed only: the C recomputes exp per element; same bits, several times faster).
        Host memory, not part of the firmware's RAM.

    Returns
    -------
    out : np.ndarray [same shape as x, dtype=int8]
        Probabilities with scale 1/256, zero point -128.

    Notes
    -----
    Body: ``_softmax_s8(inp, out, mult, shift, diff_min, int16_output, table)``; see the module
    doc.
    """
    x2 = _check_rows("x", x, np.int8)
    mult, shift = _check_mult_shift(mult, shift, 0, 31)
    o2, o = _check_out(out, x2.shape, np.int8, np.shape(x))
    _softmax_s8(x2, o2, mult, shift, int(diff_min), 0, _table(scratch))
    return o


def softmax_s8_s16(x, *, mult, shift, diff_min, out=None, scratch=None):
    """int8 in, int16 out softmax; twin of ``arm_softmax_s8_s16`` (TFLM int8->int16 reference).

    As :func:`softmax_s8` (same ``scratch``) but ``out`` is int16 with scale 1/65536, zero
    point -32768 (and cannot alias ``x``, which has another dtype).
    """
    x2 = _check_rows("x", x, np.int8)
    mult, shift = _check_mult_shift(mult, shift, 0, 31)
    o2, o = _check_out(out, x2.shape, np.int16, np.shape(x))
    _softmax_s8(x2, o2, mult, shift, int(diff_min), 1, _table(scratch))
    return o


def softmax_s16(x, *, mult, shift, exp_lut, one_by_one_lut, variant=Variant.CMSIS_NN,
                single_rounding=False, out=None):
    """int16 softmax along the last axis; twin of ``arm_softmax_s16`` (or TFLM ``SoftmaxInt16``).

    Parameters
    ----------
    x : np.ndarray [shape=(rows, row_size) or (row_size,), dtype=int16]
        Zero point 0 (TFLM requires it for int16).
    mult, shift : int, int in [-31, 30]
        From :func:`softmax_s16_params` (TFLM sign convention: shift > 0 is a left shift).
    exp_lut, one_by_one_lut : np.ndarray [shape=(513,), dtype=int16]
        From :func:`softmax_s16_luts`.
    variant : Variant
        ``CMSIS_NN`` (default, the C) or ``TFLM`` (the interpreter); see the module doc for the
        two overflow cases where they differ.
    single_rounding : bool
        ``arm_nn_requantize`` built with ``CMSIS_NN_USE_SINGLE_ROUNDING``.
    out : np.ndarray [same shape, dtype=int16], optional
        Must not alias ``x``: the exp values are cached in it before the max is gone.

    Returns
    -------
    out : np.ndarray [same shape as x, dtype=int16]
        Probabilities with scale 1/32768, zero point 0.
    """
    x2 = _check_rows("x", x, np.int16)
    mult, shift = _check_mult_shift(mult, shift, -31, 30)
    luts = []
    for name, lut in (("exp_lut", exp_lut), ("one_by_one_lut", one_by_one_lut)):
        luts.append(check_array(name, lut, np.int16, shape=(LUT_SIZE,)))
    try:
        variant = Variant(variant)
    except ValueError:
        raise ConfigError(f"variant={variant!r} must be a softmax_s8.Variant "
                          f"({[v.name for v in Variant]})") from None
    o2, o = _check_out(out, x2.shape, np.int16, np.shape(x))
    if np.shares_memory(o2, x2):
        raise ShapeError("out must not alias x for softmax_s16: arm_softmax_s16 caches the exp "
                         "values in the output row before it has read every input; pass a "
                         "separate output array")
    _softmax_s16(x2, o2, mult, shift, luts[0], luts[1], int(variant), int(bool(single_rounding)))
    return o


def _warmup() -> None:
    """Compile (or load from cache) every jitted body once on tiny inputs."""
    m, s, dmin = softmax_s8_params(1.0, 0.1)
    x = np.array([[3, -5, 7]], dtype=np.int8)
    softmax_s8(x, mult=m, shift=s, diff_min=dmin)
    softmax_s8_s16(x, mult=m, shift=s, diff_min=dmin)
    el, ol = softmax_s16_luts()
    m16, s16 = softmax_s16_params(1.0, 1.0 / 2048)
    x16 = np.array([[300, -500, 700]], dtype=np.int16)
    softmax_s16(x16, mult=m16, shift=s16, exp_lut=el, one_by_one_lut=ol)
    softmax_s16(x16, mult=m16, shift=s16, exp_lut=el, one_by_one_lut=ol, variant=Variant.TFLM)
