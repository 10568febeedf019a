"""NE16 normquant stage: per-channel unsigned scale, int32 bias, floor shift, ReLU, saturation.

Bit-exact twin of the **RTL** (``pulp-platform/ne16`` @ 6bd72720, ``rtl/accumulator/``:
``ne16_normquant.sv``, ``ne16_normquant_bias.sv``, ``ne16_normquant_shifter.sv``; control in
``rtl/ctrl/ne16_ctrl.sv``). For each int32 accumulator ``acc`` of output channel ``k``::

    p = acc * scale[k]                     # scale unsigned, 8/16/32 bits (four 8-bit multipliers
                                           # summed in 48 bits: p is kept modulo 2**48)
    no bias:   v = wrap48(p)               # 48-bit signed value, shifted directly
    with bias: v = wrap32(wrap32(p) + bias[k])   # NORMQUANT runs with use_shifting=0 and
                                           # quant_mode=32B (p -> low 32 bits), then the bias
                                           # adder wraps in 32 bits (NORMQUANT_BIAS)
    s = v >> shift[k]                      # arithmetic, floor; CONF0[11] rounding is decoded
                                           # but never added by the shifter
    ReLU,    8-bit out:  0 if s < 0, 255 if s > 255, else s          (uint8)
    ReLU,   32-bit out:  0 if s < 0, else s modulo 2**32 as int32    (positives NOT saturated)
    no ReLU, 8-bit out:  clamp(s, -128, 127)                         (int8)
    no ReLU,32-bit out:  clamp(s, -2**31, 2**31 - 1)                 (int32)

Where this differs from pulp-nnx's golden model (``test/NeuralEngineFunctionalModel.py``): the
golden model keeps ``p`` in int64 (no 48-bit wrap; differs only when a 32-bit scale makes
``|acc*scale| >= 2**47`` without bias) and saturates ReLU 32-bit outputs at ``2**31 - 1`` (the RTL
keeps the low 32 bits). ReLU-before-shift (golden) and shift-before-ReLU (RTL) give equal bits.
The 8- and 16-bit scale products always fit 48 bits, so the wrap only matters for 32-bit scales.

Shift: per layer (CONF0[20:16], 0..31) or per channel (a uint8 vector; the shifter takes
``shift[5:0]``, so 0..63 here). Without normquant the job streams out ``wrap32(acc)`` as int32.

Public API: :func:`ne16_normquant` (the stage alone, for tests and the engine), the jitted
``_normquant_one`` used inside :mod:`kernels.ne16.conv`, :func:`check_normquant_args`,
:func:`out_dtype`, ``_warmup()``.
"""
import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array, output_array
from kernels.rounding import wrap32

__all__ = ["ne16_normquant", "check_normquant_args", "out_dtype", "SCALE_BITS", "OUT_BITS"]

SCALE_BITS = (8, 16, 32)   #: CONF0[13:12] norm mode
OUT_BITS = (8, 32)         #: CONF0[22:21]; 16-bit output is not wired (conv_o.data: 8B / 32B only)
_M48 = np.int64((1 << 48) - 1)
_S48 = np.int64(1 << 47)
_I32_MAX = np.int64(2**31 - 1)
_I32_MIN = np.int64(-2**31)


@nb.njit(cache=True, inline="always")
def _wrap48(x):
    """Reduce an int64 modulo 2**48 into the signed 48-bit range (the RTL's product_32b sum)."""
    x = x & _M48
    if x >= _S48:
        x -= np.int64(1) << np.int64(48)
    return x


@nb.njit(cache=True, inline="always")
def _normquant_one(acc, scale, bias, has_bias, shift, relu, out_bits):
    """One accumulator through the RTL normquant; returns an int64 in the output type's range
    (or, for ReLU 32-bit outputs, the wrapped int32 value)."""
    p = np.int64(acc) * np.int64(scale)        # |acc| < 2**31, scale < 2**32: fits int64
    if has_bias:
        v = wrap32(wrap32(p) + np.int64(bias))
    else:
        v = _wrap48(p)
    s = v >> np.int64(shift)
    if relu:
        if s < 0:
            return np.int64(0)
        if out_bits == 8:
            return np.int64(255) if s > 255 else s
        return wrap32(s)
    if out_bits == 8:
        return np.int64(127) if s > 127 else (np.int64(-128) if s < -128 else s)
    return _I32_MAX if s > _I32_MAX else (_I32_MIN if s < _I32_MIN else s)


@nb.njit(cache=True)
def _ne16_normquant(acc, scale, bias, has_bias, shift, relu, out_bits, out):
    """Body of :func:`ne16_normquant`: ``acc`` int32[:, ::1] (N, K), ``scale`` int64[::1] (K,),
    ``bias`` int32[::1] (K,), ``shift`` int64[::1] (K,), ``out`` (N, K) of the output dtype."""
    n, k = acc.shape
    for i in range(n):
        for c in range(k):
            out[i, c] = _normquant_one(acc[i, c], scale[c], bias[c], has_bias, shift[c], relu,
                                       out_bits)


def out_dtype(out_bits: int, relu: bool, normquant: bool = True):
    """Output dtype: uint8 (8-bit + ReLU), int8 (8-bit), int32 (32-bit or no normquant)."""
    if not normquant or out_bits == 32:
        return np.dtype(np.int32)
    return np.dtype(np.uint8) if relu else np.dtype(np.int8)


def check_normquant_args(k_out: int, scale, scale_bits, bias, shift, relu, out_bits):
    """Validate normquant arguments; return ``(scale i8[K], bias i4[K], has_bias, shift i8[K],
    relu, out_bits)`` as the jitted bodies take them. ``scale=None`` means no normquant."""
    if not isinstance(relu, (bool, np.bool_)):
        raise ConfigError(f"relu={relu!r} must be a bool")
    if out_bits not in OUT_BITS:
        raise ConfigError(f"out_bits={out_bits!r} must be 8 or 32 (NE16 streams out 8-bit or "
                          "32-bit words; the 16-bit output mode is not wired in the RTL)")
    if scale is None:
        if out_bits != 32 or relu or bias is not None:
            raise ConfigError(
                f"scale=None (no normquant) needs out_bits=32, relu=False and bias=None; got "
                f"out_bits={out_bits}, relu={relu}, bias={'set' if bias is not None else None}. "
                "ReLU, bias and 8-bit outputs are part of normquant: pass a scale (e.g. ones "
                "with scale_bits=8) and a shift")
        z = np.zeros(k_out, dtype=np.int64)
        return z, np.zeros(k_out, dtype=np.int32), False, z.copy(), False, 32
    if scale_bits not in SCALE_BITS:
        raise ConfigError(f"scale_bits={scale_bits!r} must be 8, 16 or 32 (CONF0[13:12])")
    scale = np.asarray(scale)
    if scale.shape != (k_out,) or not np.issubdtype(scale.dtype, np.integer):
        raise ShapeError(f"scale must be an integer array of shape ({k_out},) (one unsigned "
                         f"scale per output channel), got {scale.dtype} {scale.shape}")
    if scale.size and (int(scale.min()) < 0 or int(scale.max()) >= (1 << scale_bits)):
        bad = int(scale.min()) if int(scale.min()) < 0 else int(scale.max())
        raise ConfigError(f"scale contains {bad}, outside the unsigned {scale_bits}-bit range "
                          f"[0, {(1 << scale_bits) - 1}]; raise scale_bits or re-derive the scale")
    scale = scale.astype(np.int64)
    if bias is None:
        bias_arr, has_bias = np.zeros(k_out, dtype=np.int32), False
    else:
        bias_arr = check_array("bias", bias, np.int32, shape=(k_out,))
        has_bias = True
    if isinstance(shift, (bool, np.bool_)):
        raise ConfigError(f"shift={shift!r} must be an int or an array")
    if isinstance(shift, (int, np.integer)):
        if not 0 <= int(shift) <= 31:
            raise ConfigError(f"shift={int(shift)} must be in [0, 31] (per-layer shift is the "
                              "5-bit CONF0[20:16]); pass a per-channel array for larger shifts")
        shift_arr = np.full(k_out, int(shift), dtype=np.int64)
    else:
        shift_arr = np.asarray(shift)
        if shift_arr.shape != (k_out,) or not np.issubdtype(shift_arr.dtype, np.integer):
            raise ShapeError(f"shift must be an int (per layer) or an integer array of shape "
                             f"({k_out},) (per channel), got {shift_arr.dtype} {shift_arr.shape}")
        if shift_arr.size and (int(shift_arr.min()) < 0 or int(shift_arr.max()) > 63):
            bad = int(shift_arr.min()) if int(shift_arr.min()) < 0 else int(shift_arr.max())
            raise ConfigError(f"per-channel shift contains {bad}; the shifter uses shift[5:0], so "
                              "values must be in [0, 63]")
        shift_arr = shift_arr.astype(np.int64)
    return scale, bias_arr, has_bias, shift_arr, bool(relu), int(out_bits)


def ne16_normquant(acc, *, scale, scale_bits=8, bias=None, shift=0, relu=False, out_bits=8,
                   out=None):
    """The NE16 normquant stage alone (RTL variant) on int32 accumulators.

    Parameters
    ----------
    acc : np.ndarray [shape=(N, K), dtype=int32]
        Accumulators, K output channels last (HWC order flattened to N pixels).
    scale : np.ndarray [shape=(K,), integer] in [0, 2**scale_bits)
    scale_bits : {8, 16, 32}
    bias : np.ndarray [shape=(K,), dtype=int32], optional
        Selects the bias path (product wrapped to 32 bits before the bias add and the shift).
    shift : int in [0, 31] or np.ndarray [shape=(K,), integer] in [0, 63]
    relu : bool
    out_bits : {8, 32}
    out : np.ndarray [shape=(N, K)], optional
        uint8 (8-bit + ReLU), int8 (8-bit) or int32 (32-bit).

    Returns
    -------
    out : np.ndarray [shape=(N, K)]

    Notes
    -----
    Body: ``_ne16_normquant(acc, scale, bias, has_bias, shift, relu, out_bits, out)``.
    """
    acc = check_array("acc", acc, np.int32, ndim=2)
    args = check_normquant_args(acc.shape[1], scale, scale_bits, bias, shift, relu, out_bits)
    if scale is None:
        raise ConfigError("ne16_normquant needs a scale (without normquant the output is acc)")
    out = output_array("out", out, out_dtype(out_bits, relu), acc.shape)
    s, b, hb, sh, r, ob = args
    _ne16_normquant(acc, s, b, hb, sh, r, ob, out)
    return out


def _warmup() -> None:
    """Compile (or load from cache) the standalone normquant body for each output dtype."""
    acc = np.arange(-4, 4, dtype=np.int32).reshape(2, 4)
    sc = np.ones(4, dtype=np.int64)
    ne16_normquant(acc, scale=sc, relu=True)
    ne16_normquant(acc, scale=sc)
    ne16_normquant(acc, scale=sc, out_bits=32)
