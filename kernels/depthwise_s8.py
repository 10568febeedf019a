"""int8 depthwise convolution; bit-exact twin of CMSIS-NN ``arm_depthwise_conv_wrapper_s8``.

Mirrors ARM-software/CMSIS-NN ``Source/ConvolutionFunctions/arm_depthwise_conv_{wrapper_,}s8.c``
(and ``_s8_opt`` / ``_3x3_s8`` / ``depthwise_conv_s8_mult_4``, which the wrapper picks and which
give the same bits) and TFLM's ``reference_integer_ops::DepthwiseConvPerChannel``:

==================================================  =====================================
C function                                          here
==================================================  =====================================
``arm_depthwise_conv_wrapper_s8`` / ``_conv_s8``     :func:`depthwise_conv_s8`
``arm_depthwise_conv_wrapper_s8_get_buffer_size``    :func:`depthwise_conv_wrapper_s8_buffer_size`
==================================================  =====================================

Semantics (HWC without batch; filter ``[1, KH, KW, Cin*ch_mult]`` without the 1)::

    o = ic * ch_mult + m
    acc[oy, ox, o] = bias[o] + sum_{ky, kx valid} (x[iy, ix, ic] + input_offset) * w[ky, kx, o]
        iy = oy*stride_y - pad_top + ky*dil_y,  ix = ox*stride_x - pad_left + kx*dil_x
    out = clamp(requant(acc, multiplier[o], shift[o]) + output_offset, act_min, act_max)

Out-of-image taps are skipped (the C computes the valid kernel range). The accumulator wraps
modulo 2**32 like the C's int32. The output size comes from ``out.shape``.

The jitted body loops taps outside and channels inside, accumulating into an int32 work array
``acc`` of Cout elements (an emulator work area, not device RAM), so the channel loop is
contiguous and vectorizes.
"""
import numba as nb
import numpy as np

from edgesed.errors import ShapeError
from kernels.checks import check_array, check_int
from kernels.convolve_s8 import _backend, _bias_array, _geometry, conv_out_array
from kernels.requantize_s8 import check_offsets_act, check_requant, output_stage

__all__ = ["depthwise_conv_s8", "depthwise_conv_wrapper_s8_buffer_size", "prepare_depthwise"]


def depthwise_conv_wrapper_s8_buffer_size(input_hwc, filter_hw, *, ch_mult=1, stride=(1, 1),
                                          padding=(0, 0), dilation=(1, 1), backend="dsp") -> int:
    """``arm_depthwise_conv_wrapper_s8_get_buffer_size`` in bytes.

    Only the ``_opt`` path needs a buffer: ``ch_mult == 1`` (Cin == Cout), dilation 1, and not
    the 3x3 case with both pads <= 1 (which takes ``arm_depthwise_conv_3x3_s8`` on DSP/C; MVE has
    no such exception). Sizes: DSP ``input_c * kh * kw * sizeof(int16)``; MVE
    ``4 * CH_IN_BLOCK_MVE * kh * kw`` (``CH_IN_BLOCK_MVE = 124``); pure C 0.
    """
    _, _, c = (int(v) for v in input_hwc)
    kh, kw = (int(v) for v in filter_hw)
    (sy, sx), (py, px), (dy, dx) = _geometry(stride, padding, dilation)
    be = _backend(backend)
    if ch_mult != 1 or dy != 1 or dx != 1 or be == "c":
        return 0
    if be == "mve":
        return 4 * 124 * kh * kw
    if kh == 3 and kw == 3 and py <= 1 and px <= 1:
        return 0
    return c * kh * kw * 2


@nb.njit(cache=True)
def _depthwise_conv_s8(x, w, bias, out, acc, ch_mult, input_offset, output_offset, mult, shift,
                       stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max,
                       single_rounding):
    """Body of :func:`depthwise_conv_s8`; see its docstring for the argument contract."""
    in_h, in_w, in_c = x.shape
    kh, kw, cout = w.shape
    out_h, out_w = out.shape[0], out.shape[1]
    has_bias = bias.shape[0] > 0
    off = np.int32(input_offset)
    for oy in range(out_h):
        by = oy * stride_y - pad_y
        for ox in range(out_w):
            bx = ox * stride_x - pad_x
            for o in range(cout):
                acc[o] = 0
            for ky in range(kh):
                iy = by + ky * dil_y
                if iy < 0 or iy >= in_h:
                    continue
                for kx in range(kw):
                    ix = bx + kx * dil_x
                    if ix < 0 or ix >= in_w:
                        continue
                    xr = x[iy, ix]
                    wr = w[ky, kx]
                    if ch_mult == 1:
                        for c in range(cout):
                            acc[c] = np.int32(acc[c] + (np.int32(xr[c]) + off) * np.int32(wr[c]))
                    else:
                        for ic in range(in_c):
                            xv = np.int32(xr[ic]) + off
                            for m in range(ch_mult):
                                o = ic * ch_mult + m
                                acc[o] = np.int32(acc[o] + xv * np.int32(wr[o]))
            for o in range(cout):
                s = np.int64(acc[o])
                if has_bias:
                    s += np.int64(bias[o])
                out[oy, ox, o] = output_stage(s, mult[o], shift[o], output_offset, act_min,
                                              act_max, single_rounding)


def depthwise_conv_s8(x, w, bias, *, ch_mult, input_offset, output_offset, multiplier, shift,
                      stride=(1, 1), padding=(0, 0), dilation=(1, 1), act_min=-128, act_max=127,
                      single_rounding=False, out=None, scratch=None):
    """int8 depthwise convolution, per-channel requantization; twin of
    ``arm_depthwise_conv_wrapper_s8``.

    Parameters
    ----------
    x : np.ndarray [shape=(H, W, Cin), dtype=int8]
    w : np.ndarray [shape=(KH, KW, Cin * ch_mult), dtype=int8]
        TFLite's ``[1, KH, KW, Cout]`` without the 1 (with it is accepted too).
    bias : np.ndarray [shape=(Cout,), dtype=int32] or None
    ch_mult : int >= 1
        Channel multiplier; output channel ``ic * ch_mult + m``.
    input_offset : int in [-127, 128]
        Negated input zero point.
    output_offset : int in [-128, 127]
        Output zero point.
    multiplier, shift : int or np.ndarray [shape=(Cout,), dtype=int32]
        Per-channel Q31 multiplier in [0, 2**31 - 1] and shift in [-31, 30] (> 0 is left).
    stride, dilation : int or (y, x), each >= 1
    padding : int or (pad_top, pad_left), each >= 0
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    single_rounding : bool
        ``CMSIS_NN_USE_SINGLE_ROUNDING`` (default False: double rounding).
    out : np.ndarray [shape=(OH, OW, Cout), dtype=int8], optional
        Sets the output size; default ``(H + 2*pad - dil*(K-1) - 1) // stride + 1``.
        Must not overlap ``x``.
    scratch : np.ndarray [shape=(>= Cout,), dtype=int32], optional
        The body's accumulator work array.

    Returns
    -------
    out : np.ndarray [shape=(OH, OW, Cout), dtype=int8]

    Notes
    -----
    Body: ``_depthwise_conv_s8(x, w, bias, out, acc, ch_mult, input_offset, output_offset, mult,
    shift, stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max, single_rounding)``
    with ``x`` int8[:, :, ::1], ``w`` int8[:, :, ::1], ``bias`` int32[::1] (length Cout or 0),
    ``out`` int8[:, :, ::1], ``acc`` int32[::1] (>= Cout), ``mult``/``shift`` int32[::1], ints.
    """
    x = check_array("x", x, np.int8, ndim=3)
    if isinstance(w, np.ndarray) and w.ndim == 4 and w.shape[0] == 1:
        w = w[0]                       # TFLite's [1, KH, KW, Cout]
    w = check_array("w", w, np.int8, ndim=3)
    args = prepare_depthwise(x, w.shape, bias, ch_mult, input_offset, output_offset, multiplier,
                             shift, stride, padding, dilation, act_min, act_max,
                             single_rounding, out, scratch)
    _depthwise_conv_s8(args[0], w, *args[1:])
    return args[2]


def prepare_depthwise(x, w_shape, bias, ch_mult, input_offset, output_offset, multiplier, shift,
                      stride, padding, dilation, act_min, act_max, single_rounding, out,
                      scratch):
    """Validate a depthwise convolution's arguments for a ``w_shape = (KH, KW, Cin*ch_mult)``
    filter; return the body's arguments after ``w``: ``(x, bias, out, acc, ch_mult,
    input_offset, output_offset, mult, shift, sy, sx, py, px, dy, dx, act_min, act_max,
    single_rounding)``. Shared by :func:`depthwise_conv_s8` and
    :func:`kernels.s4.depthwise_conv_s4`."""
    x = check_array("x", x, np.int8, ndim=3)
    ch_mult = check_int("ch_mult", ch_mult)
    in_c = x.shape[2]
    kh, kw, cout = (int(v) for v in w_shape)
    if ch_mult < 1 or cout != in_c * ch_mult:
        raise ShapeError(f"w.shape={tuple(w_shape)} must be (KH, KW, Cin * ch_mult) = "
                         f"(KH, KW, {in_c} * {ch_mult}); pass TFLite's [1, KH, KW, Cout] filter "
                         "without the leading 1")
    (sy, sx), (py, px), (dy, dx) = _geometry(stride, padding, dilation)
    io, oo, lo, hi, _ = check_offsets_act(input_offset, output_offset, act_min, act_max)
    mult, sh = check_requant(multiplier, shift, cout)
    b = _bias_array(bias, cout)
    out = conv_out_array(out, x.shape, kh, kw, cout, (sy, sx), (py, px), (dy, dx))
    if scratch is None:
        scratch = np.zeros(cout, dtype=np.int32)
    else:
        scratch = check_array("scratch", scratch, np.int32, ndim=1, writable=True)
        if scratch.shape[0] < cout:
            raise ShapeError(f"scratch has {scratch.shape[0]} int32 elements; need Cout={cout}")
    return (x, b, out, scratch, ch_mult, io, oo, mult, sh, sy, sx, py, px, dy, dx, lo, hi,
            int(bool(single_rounding)))


def _warmup() -> None:
    """Compile (or load from cache) the body once on tiny inputs (ch_mult 1 and 2)."""
    x = np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4)
    for cm in (1, 2):
        w = np.arange(9 * 4 * cm, dtype=np.int64).astype(np.int8).reshape(3, 3, 4 * cm)
        depthwise_conv_s8(x, w, None, ch_mult=cm, input_offset=3, output_offset=-2,
                          multiplier=1 << 30, shift=-3, padding=1)
