"""int8 convolution (TFLite int8 / CMSIS-NN s8); bit-exact twin of ``arm_convolve_wrapper_s8``.

Mirrors ARM-software/CMSIS-NN ``Source/ConvolutionFunctions/arm_convolve_{wrapper_,}s8.c`` (and the
1x1 / 1xN fast paths the wrapper dispatches to, which give the same bits) and TFLM's reference
``reference_integer_ops::ConvPerChannel``:

======================================================  =================================
C function                                              here
======================================================  =================================
``arm_convolve_wrapper_s8`` / ``arm_convolve_s8``        :func:`convolve_s8`
``arm_convolve_wrapper_s8_get_buffer_size{,_dsp,_mve}``  :func:`convolve_wrapper_s8_buffer_size`
``arm_convolve_s8_get_buffer_size``                     :func:`convolve_s8_buffer_size`
======================================================  =================================

Semantics (activations HWC without batch; ``requant`` is :func:`kernels.requantize_s8.requantize`
or its single-rounding form)::

    acc[oy, ox, o] = bias[o] + sum_{ky, kx, c valid} (x[iy, ix, g*cpg + c] + input_offset)
                                                     * w[o, ky, kx, c]
        iy = oy*stride_y - pad_top + ky*dil_y,  ix = ox*stride_x - pad_left + kx*dil_x
        g = o // (Cout // groups),  cpg = Cin // groups = w.shape[3]
    out = clamp(requant(acc, multiplier[o], shift[o]) + output_offset, act_min, act_max)

Out-of-image taps contribute 0: TFLM skips them; CMSIS fills its im2col with ``-input_offset``
(or 0 after adding the offset), which gives the same sum. The sum wraps modulo 2**32 like the
C's int32 accumulator (``SMLAD`` never saturates), so it is carried in int64 and wrapped once.
The output size comes from ``out.shape`` (TFLM SAME padding has an implicit bottom/right pad).

The jitted body has two paths, both exact:

- im2col (layers with ``KH*KW*Cin/groups >= ROW_PATH_DEPTH`` or several groups): one column of
  ``(x + input_offset)`` as int16 per output pixel and group (like the DSP path's
  ``arm_q7_to_q15_with_offset``), then a contiguous dot product with each filter row, which
  LLVM vectorizes (``vpmaddwd``); about 0.3-0.7 ns per MAC on one core of the development
  machine for 3x3 layers with 4-64 input channels;
- rows (shallow single-group layers, e.g. a spectrogram's 1-channel first layer): each tap adds
  to an int32 accumulator row over the output columns, the loop LLVM vectorizes (about
  1.2 ns per MAC for M20k's 3x3 conv1 with 1 input channel, 2.3x the im2col path there).

Both accumulate in int32 with wrap-around, which gives the C's sum modulo 2**32 in any order.
Indices that are known to be in range are cast to unsigned, which spares numba's negative-index
test and lets the loops vectorize. The scratch (``col``, :func:`col_length` int16 elements) is
an emulator work area, not device RAM; the device's scratch is
:func:`convolve_wrapper_s8_buffer_size`.
"""
import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array, check_int, check_pair
from kernels.requantize_s8 import check_offsets_act, check_requant, output_stage

__all__ = ["convolve_s8", "convolve_s8_buffer_size", "convolve_wrapper_s8_buffer_size",
           "ROW_PATH_DEPTH", "col_length", "conv_output_size", "prepare_convolve"]


# ------------------------------------------------------------------------------ sizes

def conv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """``(size + 2*pad - dilation*(kernel - 1) - 1) // stride + 1`` (symmetric padding)."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def col_length(kh: int, kw: int, cin_per_group: int, cout: int = 0, out_w: int = 0,
               groups: int = 1) -> int:
    """int16 elements of the body's scratch: the im2col column (``kh * kw * cin_per_group``),
    or for a shallow single-group layer (:data:`ROW_PATH_DEPTH`) one int32 accumulator row per
    output channel (``2 * cout * out_w`` int16 elements)."""
    n = int(kh) * int(kw) * int(cin_per_group)
    if groups == 1 and n < ROW_PATH_DEPTH:
        return max(n, 2 * int(cout) * int(out_w))
    return n


def convolve_s8_buffer_size(input_c: int, kh: int, kw: int, backend: str = "dsp") -> int:
    """``arm_convolve_s8_get_buffer_size`` in bytes.

    DSP and pure C: ``2 * align4(kh*kw*input_c) * sizeof(int16)``;
    MVE: ``4 * ceil16(kh*kw*input_c)`` bytes.
    """
    rhs_cols = int(kh) * int(kw) * int(input_c)
    if _backend(backend) == "mve":
        return 4 * ((rhs_cols + 15) // 16) * 16
    aligned = rhs_cols + (-rhs_cols) % 4
    return 2 * aligned * 2


def convolve_wrapper_s8_buffer_size(input_hwc, filter_shape, *, stride=(1, 1), padding=(0, 0),
                                    dilation=(1, 1), output_hw=None, backend="dsp",
                                    armclang=False) -> int:
    """``arm_convolve_wrapper_s8_get_buffer_size`` (bytes): the wrapper's dispatch, then the size.

    - 1x1 (pad 0, stride any, 1x1 kernel, dilation 1, no groups): stride 1 ("fast") needs
      ``2*c_in*2`` bytes on DSP with armclang, 0 with GCC, 0 on MVE/C; other strides 0.
    - 1xN (``in_h == 1``, ``kh == 1``, ``dil_x == 1``, ``(stride_x * c_in) % 4 == 0``, no groups):
      as generic on DSP/C; MVE has its own padding-based size (approximated by the generic one).
    - generic: :func:`convolve_s8_buffer_size`.

    Parameters
    ----------
    input_hwc : (H, W, C)
    filter_shape : (Cout, KH, KW, C // groups)
    backend : {"dsp", "mve", "c"}
    """
    h, w, c = (int(v) for v in input_hwc)
    _, kh, kw, fc = (int(v) for v in filter_shape)
    (sy, sx), (py, px), (dy, dx) = check_pair("stride", stride), check_pair("padding", padding), \
        check_pair("dilation", dilation)
    be = _backend(backend)
    if py == 0 and px == 0 and kh == 1 and kw == 1 and dy == 1 and dx == 1 and c == fc:
        if sy == 1 and sx == 1 and be == "dsp" and armclang:
            return 2 * c * 2
        return 0
    return convolve_s8_buffer_size(c, kh, kw, be)


def _backend(backend) -> str:
    b = str(getattr(backend, "value", backend)).lower()
    b = {"plain-c": "c", "pure_c": "c", "pure-c": "c"}.get(b, b)
    if b not in ("dsp", "mve", "c"):
        raise ConfigError(f"backend={backend!r} must be 'dsp', 'mve' or 'c'")
    return b


# ------------------------------------------------------------------------------ jitted body

#: below this reduction depth (``kh * kw * Cin``) and with one group, the body works on whole
#: output rows (:func:`_convolve_s8_rows`): a 1-channel spectrogram's first layer has 9 taps per
#: output, too few for the dot-product path to pay for its per-pixel im2col
ROW_PATH_DEPTH = 16


@nb.njit(cache=True)
def _convolve_s8_rows(x, w, bias, out, acc_flat, input_offset, output_offset, mult, shift,
                      stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max,
                      single_rounding):
    """The shallow-layer path of :func:`_convolve_s8` (one group): for each output row, each
    in-image tap ``(ky, kx, c)`` and output channel adds ``(x + input_offset) * w`` to an int32
    accumulator row ``acc[o, ox]`` over the columns whose tap is inside the image (the range is
    computed once per tap, not tested per pixel). int32 stores wrap, so ``acc`` is the C's
    int32 sum modulo 2**32 in any order; then the bias and the output stage, as the C."""
    in_h, in_w, in_c = x.shape
    cout, kh, kw, cpg = w.shape
    out_h, out_w = out.shape[0], out.shape[1]
    acc = acc_flat[:cout * out_w].reshape(cout, out_w)
    io = np.int32(input_offset)
    has_bias = bias.shape[0] > 0
    for oy in range(out_h):
        acc[:, :] = 0
        by = oy * stride_y - pad_y
        for ky in range(kh):
            iy = by + ky * dil_y
            if iy < 0 or iy >= in_h:
                continue
            for kx in range(kw):
                off = kx * dil_x - pad_x                 # ix = ox * stride_x + off
                lim = in_w - off
                if lim <= 0:
                    continue
                ox0 = (-off + stride_x - 1) // stride_x if off < 0 else 0
                ox1 = min(out_w, (lim + stride_x - 1) // stride_x)
                for c in range(cpg):
                    for o in range(cout):
                        wv = np.int32(w[o, ky, kx, c])
                        # Unsigned indices (all are in range here) spare numba's negative-
                        # index wrap-around test, which keeps LLVM from vectorizing the loop.
                        if stride_x == 1:        # unit stride: this loop vectorizes
                            for ox in range(ox0, ox1):
                                acc[o, np.uint64(ox)] += \
                                    (np.int32(x[iy, np.uint64(ox + off), c]) + io) * wv
                        else:
                            for ox in range(ox0, ox1):
                                acc[o, np.uint64(ox)] += (np.int32(
                                    x[iy, np.uint64(ox * stride_x + off), c]) + io) * wv
        for ox in range(out_w):
            for o in range(cout):
                v = np.int64(acc[o, ox])
                if has_bias:
                    v += np.int64(bias[o])
                out[oy, ox, o] = output_stage(v, mult[o], shift[o], output_offset, act_min,
                                              act_max, single_rounding)


@nb.njit(cache=True)
def _convolve_s8(x, w, bias, out, col, input_offset, output_offset, mult, shift,
                 stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max,
                 single_rounding):
    """Body of :func:`convolve_s8`; see its docstring for the argument contract. Shallow
    single-group layers go to :func:`_convolve_s8_rows` (``col`` then holds its accumulators)."""
    in_h, in_w, in_c = x.shape
    cout, kh, kw, cpg = w.shape
    out_h, out_w = out.shape[0], out.shape[1]
    groups = in_c // cpg
    if groups == 1 and kh * kw * cpg < ROW_PATH_DEPTH:
        _convolve_s8_rows(x, w, bias, out, col[:2 * cout * out_w].view(np.int32), input_offset,
                          output_offset, mult, shift, stride_y, stride_x, pad_y, pad_x, dil_y,
                          dil_x, act_min, act_max, single_rounding)
        return
    opg = cout // groups
    n = kh * kw * cpg
    wf = w.reshape(cout, n)
    has_bias = bias.shape[0] > 0
    off = np.int16(input_offset)
    for oy in range(out_h):
        by = oy * stride_y - pad_y
        for ox in range(out_w):
            bx = ox * stride_x - pad_x
            for g in range(groups):
                c0 = g * cpg
                k = 0
                for ky in range(kh):
                    iy = by + ky * dil_y
                    row_ok = 0 <= iy < in_h
                    for kx in range(kw):
                        ix = bx + kx * dil_x
                        if row_ok and 0 <= ix < in_w:
                            uy, ux = np.uint64(iy), np.uint64(ix)    # in range: no wrap test
                            for c in range(cpg):
                                col[k + c] = np.int16(x[uy, ux, c0 + c]) + off
                        else:
                            for c in range(cpg):
                                col[k + c] = 0
                        k += cpg
                for o in range(g * opg, (g + 1) * opg):
                    wr = wf[o]
                    acc = np.int32(0)
                    for j in range(n):
                        acc = np.int32(acc + np.int32(col[j]) * np.int32(wr[j]))
                    s = np.int64(acc)
                    if has_bias:
                        s += np.int64(bias[o])
                    out[oy, ox, o] = output_stage(s, mult[o], shift[o], output_offset,
                                                  act_min, act_max, single_rounding)


# ------------------------------------------------------------------------------ wrapper

def _bias_array(bias, cout) -> np.ndarray:
    if bias is None:
        return np.zeros(0, dtype=np.int32)
    return check_array("bias", bias, np.int32, shape=(cout,))


def convolve_s8(x, w, bias, *, input_offset, output_offset, multiplier, shift, stride=(1, 1),
                padding=(0, 0), dilation=(1, 1), groups=1, act_min=-128, act_max=127,
                single_rounding=False, out=None, scratch=None):
    """int8 convolution, per-channel requantization; twin of ``arm_convolve_wrapper_s8``.

    Parameters
    ----------
    x : np.ndarray [shape=(H, W, Cin), dtype=int8]
    w : np.ndarray [shape=(Cout, KH, KW, Cin // groups), dtype=int8]
    bias : np.ndarray [shape=(Cout,), dtype=int32] or None
        None is the C's NULL bias (no bias).
    input_offset : int in [-127, 128]
        Negated input zero point (``conv_params->input_offset``).
    output_offset : int in [-128, 127]
        Output zero point (``conv_params->output_offset``).
    multiplier : int or np.ndarray [shape=(Cout,), dtype=int32]
        Q31 multipliers in [0, 2**31 - 1] (a scalar is used for every channel).
    shift : int or np.ndarray [shape=(Cout,), dtype=int32]
        In [-31, 30]; > 0 is a left shift (TFLM convention).
    stride, dilation : int or (y, x), each >= 1
    padding : int or (pad_top, pad_left), each >= 0
        The C's ``conv_params->padding``; bottom/right padding is implied by ``out.shape``.
    groups : int >= 1
        ``Cin // w.shape[3]``; must divide Cout.
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    single_rounding : bool
        False: CMSIS-NN default (double rounding); True: ``CMSIS_NN_USE_SINGLE_ROUNDING``.
    out : np.ndarray [shape=(OH, OW, Cout), dtype=int8], optional
        Sets the output size; default ``(H + 2*pad - dil*(K-1) - 1) // stride + 1``.
        Must not overlap ``x`` (as in the C, later pixels read inputs after earlier writes).
    scratch : np.ndarray [shape=(>= KH*KW*Cin//groups,), dtype=int16], optional
        The body's im2col column (see :func:`col_length`).

    Returns
    -------
    out : np.ndarray [shape=(OH, OW, Cout), dtype=int8]

    Notes
    -----
    Body: ``_convolve_s8(x, w, bias, out, col, input_offset, output_offset, mult, shift,
    stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max, single_rounding)`` with
    ``x`` int8[:, :, ::1], ``w`` int8[:, :, :, ::1], ``bias`` int32[::1] of length Cout or 0
    (no bias), ``out`` int8[:, :, ::1], ``col`` int16[::1], ``mult``/``shift`` int32[::1] of
    length Cout, ints (``single_rounding`` 0/1).
    """
    w = check_array("w", w, np.int8, ndim=4)
    args = prepare_convolve(x, w.shape, bias, input_offset, output_offset, multiplier, shift,
                            stride, padding, dilation, groups, act_min, act_max,
                            single_rounding, out, scratch)
    _convolve_s8(args[0], w, *args[1:])
    return args[2]


def prepare_convolve(x, w_shape, bias, input_offset, output_offset, multiplier, shift, stride,
                     padding, dilation, groups, act_min, act_max, single_rounding, out, scratch):
    """Validate a convolution's arguments for a ``w_shape = (Cout, KH, KW, Cin // groups)``
    filter; return the body's arguments after ``w``: ``(x, bias, out, col, input_offset,
    output_offset, mult, shift, sy, sx, py, px, dy, dx, act_min, act_max, single_rounding)``.
    Shared by :func:`convolve_s8` and :func:`kernels.s4.convolve_s4`."""
    x = check_array("x", x, np.int8, ndim=3)
    in_c = x.shape[2]
    cout, kh, kw, cpg = (int(v) for v in w_shape)
    groups = check_int("groups", groups)
    if groups < 1 or cpg * groups != in_c or cout % groups:
        raise ShapeError(f"w.shape={tuple(w_shape)} with groups={groups} does not fit "
                         f"x.shape={x.shape}: need w.shape[3] * groups == Cin ({in_c}) and "
                         "Cout % groups == 0")
    (sy, sx), (py, px), (dy, dx) = _geometry(stride, padding, dilation)
    io, oo, lo, hi, _ = check_offsets_act(input_offset, output_offset, act_min, act_max)
    mult, sh = check_requant(multiplier, shift, cout)
    b = _bias_array(bias, cout)
    out = conv_out_array(out, x.shape, kh, kw, cout, (sy, sx), (py, px), (dy, dx))
    scratch = _scratch(scratch, col_length(kh, kw, cpg, cout, out.shape[1], groups))
    return (x, b, out, scratch, io, oo, mult, sh, sy, sx, py, px, dy, dx, lo, hi,
            int(bool(single_rounding)))


def conv_out_array(out, x_shape, kh, kw, cout, stride, padding, dilation) -> np.ndarray:
    """The int8 (OH, OW, Cout) output of a convolution-like window: ``out`` checked (its
    size sets OH/OW, as TFLM's implicit bottom/right padding does), or a new array of the
    symmetric-padding size. Shared by the convolution and depthwise wrappers."""
    if out is not None:
        out = check_array("out", out, np.int8, ndim=3, writable=True)
        if out.shape[2] != cout:
            raise ShapeError(f"out.shape={out.shape} must have Cout={cout} channels")
        return out
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    oh = conv_output_size(x_shape[0], kh, sy, py, dy)
    ow = conv_output_size(x_shape[1], kw, sx, px, dx)
    if oh < 1 or ow < 1:
        raise ShapeError(f"x.shape={tuple(x_shape)} is too small for a {kh}x{kw} kernel with "
                         f"dilation {(dy, dx)} and padding {(py, px)}: output {oh}x{ow}")
    return np.zeros((oh, ow, cout), dtype=np.int8)


def _geometry(stride, padding, dilation):
    s, p, d = check_pair("stride", stride), check_pair("padding", padding), \
        check_pair("dilation", dilation)
    if min(s) < 1 or min(d) < 1:
        raise ConfigError(f"stride={stride!r} and dilation={dilation!r} must be >= 1")
    if min(p) < 0:
        raise ConfigError(f"padding={padding!r} must be >= 0 (pad_top, pad_left)")
    return s, p, d


def _scratch(scratch, n) -> np.ndarray:
    if scratch is None:
        return np.zeros(max(n, 1), dtype=np.int16)
    scratch = check_array("scratch", scratch, np.int16, ndim=1, writable=True)
    if scratch.shape[0] < n:
        raise ShapeError(f"scratch has {scratch.shape[0]} int16 elements; the body needs {n} "
                         "(col_length(): the im2col column, or a shallow layer's accumulator "
                         "rows)")
    return scratch


def _warmup() -> None:
    """Compile (or load from cache) the body once on tiny inputs."""
    x = np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4)
    w = np.arange(-16, 16, dtype=np.int8).reshape(4, 2, 2, 2)
    convolve_s8(x, w, np.arange(4, dtype=np.int32), input_offset=3, output_offset=-2,
                multiplier=1 << 30, shift=-3, padding=(1, 0), groups=2)
