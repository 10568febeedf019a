"""TFLite-int8 requantization; bit-exact twin of CMSIS-NN's ``arm_nn_requantize`` family.

Mirrors ``Include/arm_nnsupportfunctions.h`` of ARM-software/CMSIS-NN (pure-C path) and the
multiplier encoding of TFLM's ``QuantizeMultiplier`` (``tensorflow/lite/kernels/internal/
quantization_util.cc``):

=============================================  ==============================================
C                                              here
=============================================  ==============================================
``arm_nn_doubling_high_mult_no_sat(a, m)``     :func:`doubling_high_mult_no_sat`
``arm_nn_divide_by_power_of_two(x, e)``        :func:`divide_by_power_of_two` (``DIV_POW2``)
``arm_nn_doubling_high_mult(a, m)``            :func:`mul_sat` (``MUL_SAT``, used by softmax)
``arm_nn_requantize`` (default)                :func:`requantize`
``arm_nn_requantize`` (SINGLE_ROUNDING)        :func:`requantize_single`
either, chosen by a flag                       :func:`requantize_mode`
requant + output offset + activation clamp     :func:`output_stage`
TFLM ``QuantizeMultiplier``                    :func:`quantize_multiplier`
TFLM ``QuantizeMultiplierGreaterThanOne``      :func:`quantize_multiplier_greater_than_one`
TFLM ``QuantizeMultiplierSmallerThanOneExp``   :func:`quantize_multiplier_smaller_than_one`
=============================================  ==============================================

Formulas (all values are int32 in the C; here int64 carriers wrapped to int32 exactly where
the C narrows)::

    dhm(a, m)      = int32((int64(a) * m + 2**30) >> 31)           # no saturation; half up
    divpot(x, e)   = (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))  with mask = 2**e - 1
                                                                    # half away from zero
    requantize     = divpot(dhm(int32(v << max(shift, 0)), mult), max(-shift, 0))
    requantize_single: r = int32((int64(v) * mult) >> (30 - shift)); (int32(r + 1)) >> 1

``shift`` follows the TFLM sign convention: positive is a left shift, range [-31, 30];
``multiplier`` is a Q31 value in [2**30, 2**31 - 1] (or 0) as :func:`quantize_multiplier` makes.
The default (double rounding) equals TFLM's ``MultiplyByQuantizedMultiplier`` (gemmlowp
``SaturatingRoundingDoublingHighMul`` + ``RoundingDivideByPOT``) for every non-negative multiplier;
the single-rounding form equals TFLM built with ``TFLITE_SINGLE_ROUNDING`` wherever TFLM's
``DCHECK`` (result fits int32) holds. The two modes differ by at most one LSB.

Rounding mode across the s8 kernels: every kernel takes ``single_rounding: bool`` (default
``False``, CMSIS-NN's default build; ``True`` mirrors a build with
``-DCMSIS_NN_USE_SINGLE_ROUNDING``). Jitted bodies take it as a plain int (0/1) and call
:func:`requantize_mode`.

Overflow: the C's ``val * (1 << left_shift)`` is an int32 multiply; it wraps here (GCC/Arm
behaviour), as does the int32 narrowing of ``dhm`` when both operands are INT32_MIN.

A note about precision: :func:`quantize_multiplier` works on a Python float (IEEE double) like
TFLM's ``double`` path; callers must form the real multiplier in the same precision as the TFLM
kernel they mirror (conv/depthwise: ``double(in_scale) * double(w_scale) / double(out_scale)``;
fully connected: ``double(float32(in_scale * w_scale)) / double(out_scale)``), see
:func:`conv_multipliers` and :func:`fully_connected_multiplier`.

Caching caveat: the scalars here are inlined into the kernels' cached bodies, and Numba's cache
is keyed on the *caller's* source file only. After editing this module, delete
``kernels/__pycache__/*.nbi``/``*.nbc`` or the s8/s4 kernels keep running the old code.
"""
import math

import numba as nb
import numpy as np

from edgesed.errors import ConfigError

__all__ = ["doubling_high_mult_no_sat", "divide_by_power_of_two", "mul_sat", "requantize",
           "requantize_single", "requantize_mode", "output_stage", "quantize_multiplier",
           "quantize_multiplier_greater_than_one", "quantize_multiplier_smaller_than_one",
           "conv_multipliers", "fully_connected_multiplier", "check_requant",
           "check_multiplier_shift", "check_offsets_act", "INT32_MIN", "INT32_MAX"]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


# ------------------------------------------------------------------------- jitted scalars

@nb.njit(cache=True, inline="always")
def _w32(x):
    """Wrap to int32 (a 32-bit register's view), returned as int64: an LLVM ``trunc``/``sext``."""
    return np.int64(np.int32(np.int64(x)))


@nb.njit(cache=True, inline="always")
def doubling_high_mult_no_sat(a, m):
    """``arm_nn_doubling_high_mult_no_sat``: ``int32((int64(a)*m + 2**30) >> 31)``.

    Rounds half toward +inf; INT32_MIN * INT32_MIN wraps to INT32_MIN (no saturation).
    """
    return _w32((np.int64(a) * np.int64(m) + np.int64(1073741824)) >> np.int64(31))


@nb.njit(cache=True, inline="always")
def divide_by_power_of_two(x, e):
    """``arm_nn_divide_by_power_of_two`` (``DIV_POW2``): ``x / 2**e`` rounded half away from
    zero, for int32 ``x`` and ``e`` in [0, 31]."""
    x = np.int64(x)
    e = np.int64(e)
    mask = (np.int64(1) << e) - np.int64(1)
    q = x >> e
    thr = (mask >> np.int64(1)) + np.int64(q < 0)
    return q + np.int64((x & mask) > thr)


@nb.njit(cache=True, inline="always")
def mul_sat(a, m):
    """``arm_nn_doubling_high_mult`` (``MUL_SAT``): gemmlowp's
    ``SaturatingRoundingDoublingHighMul``; INT32_MIN * INT32_MIN saturates to INT32_MAX.

    Nudge ``2**30`` (or ``1 - 2**30`` when the signs differ), then C truncating division by 2**31.
    """
    a = np.int64(a)
    m = np.int64(m)
    if a == m and a == np.int64(-2147483648):
        return np.int64(2147483647)
    nudge = np.int64(1073741824)
    if (a < 0) != (m < 0):
        nudge = np.int64(1) - nudge
    p = a * m + nudge
    if p >= 0:
        q = p >> np.int64(31)
    else:
        q = -((-p) >> np.int64(31))   # C '/' truncates toward zero
    return _w32(q)


@nb.njit(cache=True, inline="always")
def requantize(val, multiplier, shift):
    """``arm_nn_requantize``, default (double rounding) build. ``shift`` > 0 is a left shift."""
    shift = np.int64(shift)
    left = shift if shift > 0 else np.int64(0)
    right = -shift if shift < 0 else np.int64(0)
    v = _w32(np.int64(val) << left)                     # int32 multiply by 1 << left: wraps
    return divide_by_power_of_two(doubling_high_mult_no_sat(v, multiplier), right)


@nb.njit(cache=True, inline="always")
def requantize_single(val, multiplier, shift):
    """``arm_nn_requantize`` built with ``CMSIS_NN_USE_SINGLE_ROUNDING``: one rounding, half up.

    ``r = int32((int64(val) * multiplier) >> (30 - shift)); return int32(r + 1) >> 1``.
    """
    r = _w32((np.int64(val) * np.int64(multiplier)) >> (np.int64(30) - np.int64(shift)))
    return _w32(r + np.int64(1)) >> np.int64(1)


@nb.njit(cache=True, inline="always")
def requantize_mode(val, multiplier, shift, single_rounding):
    """:func:`requantize_single` if ``single_rounding`` else :func:`requantize`."""
    if single_rounding:
        return requantize_single(val, multiplier, shift)
    return requantize(val, multiplier, shift)


@nb.njit(cache=True, inline="always")
def output_stage(acc, multiplier, shift, output_offset, act_min, act_max, single_rounding):
    """The s8 kernels' epilogue: ``clamp(requant(int32(acc)) + output_offset, act_min, act_max)``.

    ``acc`` is the int64 carrier of the C's wrapping int32 accumulator (wrapped here once); the
    offset add is an int32 add (wraps like the C when the requantized value is near INT32_MAX).
    """
    v = _w32(requantize_mode(_w32(acc), multiplier, shift, single_rounding)
             + np.int64(output_offset))
    return min(max(v, np.int64(act_min)), np.int64(act_max))


# ------------------------------------------------------------------ multiplier encoding (host)

def _tflite_round(x: float) -> int:
    """``std::round``: half away from zero (exact for the |x| <= 2**31 used here)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float, single_rounding: bool = False) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    ``frexp`` gives ``q`` in [0.5, 1); ``multiplier = round(q * 2**31)`` (half away from zero);
    a result of exactly 2**31 is halved and the shift incremented; a shift below -31 flushes to
    ``(0, 0)``. Only when built with ``TFLITE_SINGLE_ROUNDING`` (``single_rounding=True``) is a
    shift above 30 saturated to ``(2**31 - 1, 30)``. ``real == 0`` gives ``(0, 0)``.

    Parameters
    ----------
    real : float
        The real multiplier (a Python float is an IEEE double, like TFLM's ``double``).
    single_rounding : bool
        Mirror a ``TFLITE_SINGLE_ROUNDING`` build (saturate shifts above 30).

    Returns
    -------
    (multiplier, shift) : (int in [0, 2**31 - 1] (negative for negative ``real``), int >= -31)
        The kernels accept shifts in [-31, 30]; a larger one means ``real >= 2**30``.
    """
    real = float(real)
    if not math.isfinite(real):
        raise ConfigError(f"real multiplier {real!r} must be finite; check the tensor scales "
                          "(a zero output scale gives inf)")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _tflite_round(q * float(1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_rounding and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplierGreaterThanOne``: requires ``real > 1``; shift >= 0."""
    if not float(real) > 1.0:
        raise ConfigError(f"real={real!r} must be > 1 for quantize_multiplier_greater_than_one; "
                          "use quantize_multiplier for any value")
    m, s = quantize_multiplier(real)
    if s < 0:
        raise ConfigError(f"real={real!r} gave shift={s} < 0")
    return m, s


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplierSmallerThanOneExp``: requires ``0 < real < 1``; shift <= 0."""
    if not 0.0 < float(real) < 1.0:
        raise ConfigError(f"real={real!r} must be in (0, 1) for "
                          "quantize_multiplier_smaller_than_one; use quantize_multiplier")
    m, s = quantize_multiplier(real)
    if s > 0:
        raise ConfigError(f"real={real!r} gave shift={s} > 0")
    return m, s


def conv_multipliers(input_scale, filter_scales, output_scale):
    """Per-channel ``(multiplier, shift)`` int32 arrays as TFLM's conv/depthwise prepare makes
    them (``PopulateConvolutionQuantizationParams``): ``double(in) * double(w[c]) / double(out)``
    with each scale first rounded to float32 (the flatbuffer stores float32)."""
    ins = float(np.float32(input_scale))
    outs = float(np.float32(output_scale))
    ws = np.atleast_1d(np.asarray(filter_scales, dtype=np.float32))
    pairs = [quantize_multiplier(ins * float(w) / outs) for w in ws]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int32))


def fully_connected_multiplier(input_scale, filter_scale, output_scale) -> tuple[int, int]:
    """Per-tensor ``(multiplier, shift)`` as TFLM's FC prepare makes it
    (``GetQuantizedConvolutionMultipler``): the product ``in * w`` is taken in float32, then
    divided in double by the output scale."""
    prod = float(np.float32(np.float32(input_scale) * np.float32(filter_scale)))
    return quantize_multiplier(prod / float(np.float32(output_scale)))


# ------------------------------------------------------------------------ wrapper checks

def check_requant(multiplier, shift, n_channels=None, name="multiplier"):
    """``(multiplier, shift)`` as C-contiguous int32 arrays of length ``n_channels`` (a scalar
    pair is broadcast), values checked: multiplier in [0, 2**31 - 1], shift in [-31, 30]."""
    m = np.atleast_1d(np.asarray(multiplier))
    s = np.atleast_1d(np.asarray(shift))
    for nm, a in ((name, m), ("shift", s)):
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ConfigError(f"{nm}={a!r} must be an integer or a 1-D integer array")
    if n_channels is not None:
        if m.shape[0] == 1 and n_channels != 1:
            m = np.full(n_channels, m[0], dtype=np.int64)
        if s.shape[0] == 1 and n_channels != 1:
            s = np.full(n_channels, s[0], dtype=np.int64)
        if m.shape[0] != n_channels or s.shape[0] != n_channels:
            raise ConfigError(f"{name} has {m.shape[0]} and shift has {s.shape[0]} entries; "
                              f"need one per output channel ({n_channels}) or a scalar")
    check_multiplier_shift(m, s, name)
    return np.ascontiguousarray(m, dtype=np.int32), np.ascontiguousarray(s, dtype=np.int32)


def check_multiplier_shift(m, s, name="multiplier") -> None:
    """Raise ConfigError unless every multiplier is in [0, 2**31 - 1] and shift in [-31, 30]."""
    m = np.asarray(m, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    if m.size and (m.min() < 0 or m.max() > INT32_MAX):
        bad = m[(m < 0) | (m > INT32_MAX)][0]
        raise ConfigError(f"{name}={int(bad)} is outside [0, 2**31 - 1]; make it with "
                          "quantize_multiplier(real_scale) (TFLM's QuantizeMultiplier)")
    if s.size and (s.min() < -31 or s.max() > 30):
        bad = s[(s < -31) | (s > 30)][0]
        raise ConfigError(f"shift={int(bad)} is outside [-31, 30] (TFLM convention: > 0 shifts "
                          "left); make it with quantize_multiplier(real_scale)")


def check_offsets_act(input_offset, output_offset, act_min, act_max, filter_offset=0):
    """Check the s8 kernels' scalar arguments; return them as ints.

    ``input_offset`` (= -input zero point) and ``filter_offset`` in [-127, 128];
    ``output_offset`` (= +output zero point) in [-128, 127]; ``-128 <= act_min <= act_max <= 127``.
    """
    from kernels.checks import check_int
    vals = [check_int("input_offset", input_offset), check_int("output_offset", output_offset),
            check_int("act_min", act_min), check_int("act_max", act_max),
            check_int("filter_offset", filter_offset)]
    io, oo, lo, hi, fo = vals
    if not -127 <= io <= 128:
        raise ConfigError(f"input_offset={io} is outside [-127, 128]; it is the negated input "
                          "zero point (CMSIS input_offset = -zero_point)")
    if not -127 <= fo <= 128:
        raise ConfigError(f"filter_offset={fo} is outside [-127, 128]; it is the negated filter "
                          "zero point")
    if not -128 <= oo <= 127:
        raise ConfigError(f"output_offset={oo} is outside [-128, 127]; it is the output zero "
                          "point itself (not negated)")
    if not -128 <= lo <= hi <= 127:
        raise ConfigError(f"act_min={lo}, act_max={hi} must satisfy -128 <= act_min <= act_max "
                          "<= 127")
    return io, oo, lo, hi, fo


def _warmup() -> None:
    """Compile (or load from cache) every jitted scalar once."""
    doubling_high_mult_no_sat(5, 1 << 30)
    divide_by_power_of_two(-7, 2)
    mul_sat(-5, 1 << 30)
    requantize(1000, 1 << 30, -3)
    requantize_single(1000, 1 << 30, -3)
    requantize_mode(1000, 1 << 30, 2, 1)
    output_stage(1000, 1 << 30, -2, 3, -128, 127, 0)
