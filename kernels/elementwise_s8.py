"""TFLite-int8 elementwise ADD and MUL; bit-exact twins of CMSIS-NN ``arm_elementwise_add_s8`` and
``arm_elementwise_mul_s8`` (pure-C path) and of TFLM's reference int8 ADD / MUL.

==========================================  ==================================================
C / TFLM                                    here
==========================================  ==================================================
``arm_elementwise_add_s8``                  :func:`elementwise_add_s8`
``arm_elementwise_mul_s8``                  :func:`elementwise_mul_s8`
TFLM ``CalculateOpDataAdd`` (add_common)    :func:`add_s8_params`
TFLM ``CalculateOpDataMul`` (mul_common)    :func:`mul_s8_params`
TFLM ``CalculateActivationRangeQuantized``  :func:`activation_range_s8`
==========================================  ==================================================

Semantics (``requantize`` is :func:`kernels.requantize_s8.requantize`, TFLM's
``MultiplyByQuantizedMultiplier``; shifts use the TFLM sign convention, > 0 is a left shift)::

    add:  a' = requantize((a + a_offset) << left_shift, a_mult, a_shift)     # left_shift = 20
          b' = requantize((b + b_offset) << left_shift, b_mult, b_shift)
          out = clamp(requantize(a' + b', out_mult, out_shift) + out_offset, act_min, act_max)
    mul:  out = clamp(requantize((a + a_offset) * (b + b_offset), out_mult, out_shift)
                      + out_offset, act_min, act_max)

``a_offset``/``b_offset`` are the *negated* input zero points, ``out_offset`` the output zero
point (TFLM ``ArithmeticParams``). All int32 arithmetic wraps as on the MCU.

Broadcasting is refused: both operands must have the same shape (``ShapeError`` names both
shapes and the fix). CMSIS-NN's TFLM glue also calls these kernels only for equal shapes and
falls back to TFLM's ``BroadcastAdd6DSlow`` / ``BroadcastMul4DSlow`` otherwise, which apply the
same per-element formula after broadcasting, so ``np.broadcast_to(b, a.shape).copy()`` gives the
TFLM bits for a broadcast ADD/MUL.
"""
from typing import NamedTuple

import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array, check_int
from kernels.requantize_s8 import (
    INT32_MAX,
    check_multiplier_shift,
    quantize_multiplier,
    quantize_multiplier_smaller_than_one,
    requantize_mode,
)
from kernels.rounding import wrap32

__all__ = ["elementwise_add_s8", "elementwise_mul_s8", "add_s8_params", "mul_s8_params",
           "activation_range_s8", "AddS8Params", "MulS8Params", "ADD_LEFT_SHIFT"]

ADD_LEFT_SHIFT = 20   # TFLM add_common.cc: 20 for int8 output (15 for int16)


class AddS8Params(NamedTuple):
    """Keyword arguments of :func:`elementwise_add_s8` (``**params._asdict()``)."""

    a_offset: int
    a_mult: int
    a_shift: int
    b_offset: int
    b_mult: int
    b_shift: int
    left_shift: int
    out_offset: int
    out_mult: int
    out_shift: int
    act_min: int
    act_max: int


class MulS8Params(NamedTuple):
    """Keyword arguments of :func:`elementwise_mul_s8` (``**params._asdict()``)."""

    a_offset: int
    b_offset: int
    out_offset: int
    out_mult: int
    out_shift: int
    act_min: int
    act_max: int


# --------------------------------------------------------------------------- jitted bodies

@nb.njit(cache=True)
def _elementwise_add_s8(a, b, out, a_offset, a_mult, a_shift, b_offset, b_mult, b_shift,
                        left_shift, out_offset, out_mult, out_shift, act_min, act_max,
                        single_rounding):
    """Body of :func:`elementwise_add_s8`: ``a``, ``b``, ``out`` int8[::1] of one length; ints."""
    ls = np.int64(left_shift)
    for i in range(out.shape[0]):
        x = wrap32((np.int64(a[i]) + a_offset) << ls)
        y = wrap32((np.int64(b[i]) + b_offset) << ls)
        x = requantize_mode(x, a_mult, a_shift, single_rounding)
        y = requantize_mode(y, b_mult, b_shift, single_rounding)
        s = requantize_mode(wrap32(x + y), out_mult, out_shift, single_rounding) + out_offset
        out[i] = act_max if s > act_max else (act_min if s < act_min else s)


@nb.njit(cache=True)
def _elementwise_mul_s8(a, b, out, a_offset, b_offset, out_offset, out_mult, out_shift,
                        act_min, act_max, single_rounding):
    """Body of :func:`elementwise_mul_s8`: ``a``, ``b``, ``out`` int8[::1] of one length; ints."""
    for i in range(out.shape[0]):
        p = wrap32((np.int64(a[i]) + a_offset) * (np.int64(b[i]) + b_offset))
        s = requantize_mode(p, out_mult, out_shift, single_rounding) + out_offset
        out[i] = act_max if s > act_max else (act_min if s < act_min else s)


# ------------------------------------------------------------------------ host: parameters

def _f32(x) -> float:
    return float(np.float32(x))


def activation_range_s8(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """``(act_min, act_max)`` for a fused activation, as TFLM's
    ``CalculateActivationRangeQuantized`` for an int8 output: ``NONE`` gives [-128, 127];
    ``RELU`` / ``RELU6`` / ``RELU_N1_TO_1`` clamp ``zp + int(round(f / scale))`` (float32 division,
    ``roundf``) for f = 0, 6 or -1, 1 into [-128, 127]."""
    act = str(activation).upper()

    def q(f):
        v = np.float32(np.float32(f) / np.float32(scale))
        r = np.float32(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)))
        return int(zero_point) + int(r)

    if act == "NONE":
        return -128, 127
    if act == "RELU":
        return max(-128, q(0.0)), 127
    if act == "RELU6":
        return max(-128, q(0.0)), min(127, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise ConfigError(f"activation={activation!r} is not a fused activation TFLM applies to int8 "
                      "ADD/MUL; use NONE, RELU, RELU6 or RELU_N1_TO_1")


def add_s8_params(a_scale, a_zp, b_scale, b_zp, out_scale, out_zp,
                  activation="NONE") -> AddS8Params:
    """Parameters of :func:`elementwise_add_s8` as TFLM's ``CalculateOpDataAdd`` (int8 output).

    ``left_shift = 20``; ``twice_max = 2 * max(a_scale, b_scale)``; input multipliers
    ``a_scale / twice_max`` and ``b_scale / twice_max``, output multiplier
    ``twice_max / (2**20 * out_scale)``, each by ``QuantizeMultiplierSmallerThanOneExp`` (double
    arithmetic on the float32 scales). Offsets: ``-a_zp``, ``-b_zp``, ``+out_zp``.
    """
    sa, sb, so = _f32(a_scale), _f32(b_scale), _f32(out_scale)
    twice_max = 2.0 * max(sa, sb)
    am, ash = quantize_multiplier_smaller_than_one(sa / twice_max)
    bm, bsh = quantize_multiplier_smaller_than_one(sb / twice_max)
    real_out = twice_max / (float(1 << ADD_LEFT_SHIFT) * so)
    if not 0.0 < real_out < 1.0:
        raise ConfigError(f"2 * max(a_scale, b_scale) / (2**20 * out_scale) = {real_out!r} must "
                          "be in (0, 1) (TFLM QuantizeMultiplierSmallerThanOneExp); the output "
                          "scale is far too small for the inputs")
    om, osh = quantize_multiplier_smaller_than_one(real_out)
    lo, hi = activation_range_s8(activation, out_scale, out_zp)
    return AddS8Params(-int(a_zp), am, ash, -int(b_zp), bm, bsh, ADD_LEFT_SHIFT, int(out_zp),
                       om, osh, lo, hi)


def mul_s8_params(a_scale, a_zp, b_scale, b_zp, out_scale, out_zp,
                  activation="NONE") -> MulS8Params:
    """Parameters of :func:`elementwise_mul_s8` as TFLM's ``CalculateOpDataMul`` (int8):
    ``QuantizeMultiplier(double(a_scale) * double(b_scale) / double(out_scale))``; offsets
    ``-a_zp``, ``-b_zp``, ``+out_zp``."""
    om, osh = quantize_multiplier(_f32(a_scale) * _f32(b_scale) / _f32(out_scale))
    lo, hi = activation_range_s8(activation, out_scale, out_zp)
    return MulS8Params(-int(a_zp), -int(b_zp), int(out_zp), om, osh, lo, hi)


# --------------------------------------------------------------------------- public kernels

def _check_operands(a, b, out):
    a = check_array("a", a, np.int8)
    b = check_array("b", b, np.int8)
    if a.shape != b.shape:
        raise ShapeError(
            f"a.shape={a.shape} and b.shape={b.shape} differ; arm_elementwise_*_s8 take "
            "same-shape operands only. Broadcast first, e.g. "
            "b = np.ascontiguousarray(np.broadcast_to(b, a.shape)) (TFLM's broadcast path "
            "applies the same per-element formula)")
    if out is None:
        out = np.empty(a.shape, dtype=np.int8)
    else:
        out = check_array("out", out, np.int8, shape=a.shape, writable=True)
    return a.reshape(-1), b.reshape(-1), out


def _check_offset(name, v, lo, hi):
    v = check_int(name, v)
    if not lo <= v <= hi:
        raise ConfigError(f"{name}={v} must be in [{lo}, {hi}] (a negated int8 zero point or an "
                          "int8 zero point)")
    return v


def _check_act(act_min, act_max):
    lo, hi = check_int("act_min", act_min), check_int("act_max", act_max)
    if not -128 <= lo <= hi <= 127:
        raise ConfigError(f"act_min={lo}, act_max={hi} must satisfy -128 <= act_min <= act_max "
                          "<= 127")
    return lo, hi


def _check_ms(name, m, s):
    m, s = check_int(f"{name}_mult", m), check_int(f"{name}_shift", s)
    if not (0 <= m <= INT32_MAX and -31 <= s <= 30):
        check_multiplier_shift([m], [s], f"{name}_mult")   # raises with the full message
    return m, s


def elementwise_add_s8(a, b, *, a_offset, a_mult, a_shift, b_offset, b_mult, b_shift,
                       left_shift, out_offset, out_mult, out_shift, act_min=-128, act_max=127,
                       single_rounding=False, out=None):
    """int8 + int8 with per-operand rescaling; twin of ``arm_elementwise_add_s8``.

    Parameters
    ----------
    a, b : np.ndarray [same shape, dtype=int8]
        Any shape, C-contiguous; no broadcasting.
    a_offset, b_offset : int in [-127, 128]
        Negated input zero points.
    a_mult, b_mult, out_mult : int in [0, 2**31 - 1]
    a_shift, b_shift, out_shift : int in [-31, 30]
        TFLM convention (> 0 shifts left); :func:`add_s8_params` gives them from the scales.
    left_shift : int in [0, 30]
        Pre-shift of ``a + a_offset`` (20 for int8 TFLM models).
    out_offset : int in [-128, 127]
        Output zero point.
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    single_rounding : bool
        Mirror a ``CMSIS_NN_USE_SINGLE_ROUNDING`` build.
    out : np.ndarray [same shape, dtype=int8], optional
        May alias ``a`` or ``b`` (element i is read before it is written).

    Returns
    -------
    out : np.ndarray [same shape as a, dtype=int8]

    Notes
    -----
    Body: ``_elementwise_add_s8(a, b, out, a_offset, a_mult, a_shift, b_offset, b_mult,
    b_shift, left_shift, out_offset, out_mult, out_shift, act_min, act_max, single_rounding)``
    on flat int8[::1] views.
    """
    af, bf, out = _check_operands(a, b, out)
    a_offset = _check_offset("a_offset", a_offset, -127, 128)
    b_offset = _check_offset("b_offset", b_offset, -127, 128)
    out_offset = _check_offset("out_offset", out_offset, -128, 127)
    a_mult, a_shift = _check_ms("a", a_mult, a_shift)
    b_mult, b_shift = _check_ms("b", b_mult, b_shift)
    out_mult, out_shift = _check_ms("out", out_mult, out_shift)
    left_shift = check_int("left_shift", left_shift)
    if not 0 <= left_shift <= 30:
        raise ConfigError(f"left_shift={left_shift} must be in [0, 30] (TFLM uses 20 for int8)")
    lo, hi = _check_act(act_min, act_max)
    _elementwise_add_s8(af, bf, out.reshape(-1), a_offset, a_mult, a_shift, b_offset, b_mult,
                        b_shift, left_shift, out_offset, out_mult, out_shift, lo, hi,
                        int(bool(single_rounding)))
    return out


def elementwise_mul_s8(a, b, *, a_offset, b_offset, out_offset, out_mult, out_shift,
                       act_min=-128, act_max=127, single_rounding=False, out=None):
    """int8 * int8 with output rescaling; twin of ``arm_elementwise_mul_s8``.

    Parameters
    ----------
    a, b : np.ndarray [same shape, dtype=int8]
        Any shape, C-contiguous; no broadcasting.
    a_offset, b_offset : int in [-127, 128]
        Negated input zero points.
    out_offset : int in [-128, 127]
    out_mult : int in [0, 2**31 - 1]
    out_shift : int in [-31, 30]
        From :func:`mul_s8_params`.
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    single_rounding : bool
    out : np.ndarray [same shape, dtype=int8], optional
        May alias ``a`` or ``b``.

    Returns
    -------
    out : np.ndarray [same shape as a, dtype=int8]

    Notes
    -----
    Body: ``_elementwise_mul_s8(a, b, out, a_offset, b_offset, out_offset, out_mult, out_shift,
    act_min, act_max, single_rounding)`` on flat int8[::1] views.
    """
    af, bf, out = _check_operands(a, b, out)
    a_offset = _check_offset("a_offset", a_offset, -127, 128)
    b_offset = _check_offset("b_offset", b_offset, -127, 128)
    out_offset = _check_offset("out_offset", out_offset, -128, 127)
    out_mult, out_shift = _check_ms("out", out_mult, out_shift)
    lo, hi = _check_act(act_min, act_max)
    _elementwise_mul_s8(af, bf, out.reshape(-1), a_offset, b_offset, out_offset, out_mult,
                        out_shift, lo, hi, int(bool(single_rounding)))
    return out


def _warmup() -> None:
    """Compile (or load from cache) every jitted body once on tiny inputs."""
    a = np.array([1, -2, 3], dtype=np.int8)
    b = np.array([-4, 5, 127], dtype=np.int8)
    elementwise_add_s8(a, b, **add_s8_params(0.1, 3, 0.05, -2, 0.2, 1)._asdict())
    elementwise_mul_s8(a, b, **mul_s8_params(0.1, 3, 0.05, -2, 0.2, 1)._asdict())
