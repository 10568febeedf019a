"""Packed int4 weights; bit-exact twins of CMSIS-NN ``arm_convolve_s4``, ``arm_fully_connected_s4``
and ``arm_depthwise_conv_s4`` (int8 activations, int4 weights two per byte).

Mirrors ARM-software/CMSIS-NN ``Source/ConvolutionFunctions/arm_convolve_{wrapper_,}s4.c``,
``arm_depthwise_conv_s4.c``, ``Source/FullyConnectedFunctions/arm_fully_connected_s4.c`` with
``arm_nn_vec_mat_mult_t_s4`` / ``arm_nn_mat_mult_nt_t_s4``, and TFLM's int4 path (which unpacks
with ``UnpackDenseInt4IntoInt8`` and runs the int8 reference kernels):

=================================================  =============================================
C function                                         here
=================================================  =============================================
(TFLite flatbuffer int4 packing)                   :func:`pack_s4`, :func:`unpack_s4`
``arm_convolve_wrapper_s4`` / ``_s4``              :func:`convolve_s4`
``arm_fully_connected_s4``                         :func:`fully_connected_s4`
``arm_depthwise_conv_wrapper_s4`` / ``_s4``        :func:`depthwise_conv_s4`
``arm_convolve_wrapper_s4_get_buffer_size``        :func:`convolve_wrapper_s4_buffer_size`
``arm_depthwise_conv_wrapper_s4_get_buffer_size``  :func:`depthwise_conv_wrapper_s4_buffer_size`
=================================================  =============================================

Packing: the *flat* weight tensor (row-major over its logical shape) holds element ``2k`` in the
low nibble of byte ``k`` and element ``2k + 1`` in the high nibble, both sign-extended
(``[1, 2, 3, 4] -> [0x21, 0x43]``). Packing continues across rows, so when a row's length
(``rhs_cols`` = KH*KW*Cin for conv, N for FC) is odd, one byte holds the last element of a row
in its low nibble and the first element of the next row in its high nibble; the C carries that
high nibble over as its "spillover" product. An odd total count leaves a zero high nibble.

Everything else (offsets, requantization, padding, the int32 wrap) is as in the s8 kernels;
the results equal the s8 kernels on :func:`unpack_s4` of the weights, which is TFLM's int4
semantics (checked against the tflite-micro interpreter).

Depthwise caveat: reading CMSIS-NN's generic ``depthwise_conv_s4_generic`` (V.1.0.0, Oct 2023),
its odd-``input_ch`` branch tracks the nibble parity per *visited* tap and indexes taps with
``input_ch >> 1`` bytes per tap, so with skipped padding taps, or ``ch_mult > 1`` and odd
``input_ch``, it would read other nibbles than the flat layout (and than TFLM). This module
follows the flat layout / TFLM; the quirk is not reproduced (unverified on a C build).

The conv and depthwise bodies unpack the nibbles into an int8 work array (``wbuf``, an emulator
work area) and run the s8 bodies; the FC body reads the nibbles in its inner loop a byte at a
time, starting mid-byte when the previous row ended on a low nibble.
"""
import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array, check_int
from kernels.convolve_s8 import _convolve_s8, col_length, prepare_convolve
from kernels.depthwise_s8 import _depthwise_conv_s8, prepare_depthwise
from kernels.requantize_s8 import output_stage

__all__ = ["pack_s4", "unpack_s4", "convolve_s4", "fully_connected_s4", "depthwise_conv_s4",
           "convolve_wrapper_s4_buffer_size", "depthwise_conv_wrapper_s4_buffer_size",
           "packed_size"]


def packed_size(count: int) -> int:
    """Bytes holding ``count`` int4 values: ``ceil(count / 2)``."""
    return (int(count) + 1) // 2


# ------------------------------------------------------------------------------ packing

def pack_s4(values) -> np.ndarray:
    """Pack int4 values (int8 in [-8, 7], any shape, taken flat) two per byte, low nibble first.

    Returns an int8 array of ``ceil(n / 2)`` bytes; an odd count pads a zero high nibble.
    """
    v = np.asarray(values)
    if v.size == 0:
        return np.zeros(0, dtype=np.int8)
    if not np.issubdtype(v.dtype, np.integer):
        raise ConfigError(f"pack_s4 takes integers, got dtype {v.dtype}")
    v = v.ravel().astype(np.int64)
    if v.size and (v.min() < -8 or v.max() > 7):
        bad = v[(v < -8) | (v > 7)][0]
        raise ConfigError(f"value {int(bad)} is outside the int4 range [-8, 7]; quantize the "
                          "weights to 4 bits first")
    if v.size % 2:
        v = np.concatenate([v, [0]])
    lo = v[0::2] & 0xF
    hi = v[1::2] & 0xF
    return ((hi << 4) | lo).astype(np.uint8).view(np.int8)


@nb.njit(cache=True)
def _unpack_s4(packed, out):
    """Body of :func:`unpack_s4`: ``out[i]`` = sign-extended nibble ``i`` of ``packed``."""
    n = out.shape[0]
    for k in range(n >> 1):
        b = np.int32(packed[k])
        lo = b & 0xF
        out[2 * k] = lo - ((lo & 8) << 1)
        out[2 * k + 1] = b >> 4                 # arithmetic: the high nibble, sign-extended
    if n & 1:
        lo = np.int32(packed[n >> 1]) & 0xF
        out[n - 1] = lo - ((lo & 8) << 1)


def unpack_s4(packed, count) -> np.ndarray:
    """The first ``count`` int4 values of ``packed`` (int8, low nibble first) as int8."""
    packed = check_array("packed", packed, np.int8, ndim=1)
    count = check_int("count", count)
    if not 0 <= count <= 2 * packed.shape[0]:
        raise ShapeError(f"count={count} needs {packed_size(count)} bytes; packed has "
                         f"{packed.shape[0]}")
    out = np.zeros(count, dtype=np.int8)
    _unpack_s4(packed, out)
    return out


def _check_packed(w_packed, shape, name="w_packed") -> tuple:
    shape = tuple(check_int(f"filter_shape[{i}]", s) for i, s in enumerate(shape))
    count = int(np.prod(shape))
    w_packed = check_array(name, w_packed, np.int8, ndim=1)
    if w_packed.shape[0] != packed_size(count):
        raise ShapeError(f"{name} has {w_packed.shape[0]} bytes; filter_shape={shape} "
                         f"({count} int4 values) packs into {packed_size(count)}")
    return w_packed, shape, count


# ------------------------------------------------------------------------------ conv / dw

@nb.njit(cache=True)
def _convolve_s4(x, w_packed, wbuf, bias, out, col, input_offset, output_offset, mult, shift,
                 stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max,
                 single_rounding):
    """Body of :func:`convolve_s4`: unpack into ``wbuf`` (int8[:, :, :, ::1], the logical
    filter shape), then the s8 body."""
    _unpack_s4(w_packed, wbuf.reshape(wbuf.size))
    _convolve_s8(x, wbuf, bias, out, col, input_offset, output_offset, mult, shift, stride_y,
                 stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max, single_rounding)


@nb.njit(cache=True)
def _depthwise_conv_s4(x, w_packed, wbuf, bias, out, acc, ch_mult, input_offset, output_offset,
                       mult, shift, stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min,
                       act_max, single_rounding):
    """Body of :func:`depthwise_conv_s4`: unpack into ``wbuf`` (int8[:, :, ::1]), then s8."""
    _unpack_s4(w_packed, wbuf.reshape(wbuf.size))
    _depthwise_conv_s8(x, wbuf, bias, out, acc, ch_mult, input_offset, output_offset, mult,
                       shift, stride_y, stride_x, pad_y, pad_x, dil_y, dil_x, act_min, act_max,
                       single_rounding)


def convolve_s4(x, w_packed, bias, *, filter_shape, input_offset, output_offset, multiplier,
                shift, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, act_min=-128,
                act_max=127, single_rounding=False, out=None):
    """int8 x packed-int4 convolution; twin of ``arm_convolve_wrapper_s4``.

    Parameters
    ----------
    w_packed : np.ndarray [shape=(ceil(Cout*KH*KW*Cin/groups / 2),), dtype=int8]
        :func:`pack_s4` of the ``(Cout, KH, KW, Cin // groups)`` filter.
    filter_shape : (Cout, KH, KW, Cin // groups)
    Others : as :func:`kernels.convolve_s8.convolve_s8`.

    Returns
    -------
    out : np.ndarray [shape=(OH, OW, Cout), dtype=int8]

    Notes
    -----
    Body: ``_convolve_s4(x, w_packed, wbuf, bias, out, col, ...)``: ``w_packed`` int8[::1],
    ``wbuf`` int8[:, :, :, ::1] of the logical filter shape (work area), the rest as
    ``_convolve_s8``.
    """
    w_packed, shape, _ = _check_packed(w_packed, filter_shape)
    if len(shape) != 4:
        raise ShapeError(f"filter_shape={shape} must be (Cout, KH, KW, Cin // groups)")
    args = prepare_convolve(x, shape, bias, input_offset, output_offset, multiplier, shift,
                            stride, padding, dilation, groups, act_min, act_max, single_rounding,
                            out, None)
    _convolve_s4(args[0], w_packed, np.zeros(shape, np.int8), *args[1:])
    return args[2]


def depthwise_conv_s4(x, w_packed, bias, *, filter_shape, ch_mult, input_offset, output_offset,
                      multiplier, shift, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                      act_min=-128, act_max=127, single_rounding=False, out=None):
    """int8 x packed-int4 depthwise convolution; twin of ``arm_depthwise_conv_s4``.

    Parameters
    ----------
    w_packed : np.ndarray [shape=(ceil(KH*KW*Cout / 2),), dtype=int8]
        :func:`pack_s4` of the ``(KH, KW, Cin * ch_mult)`` filter (flat over all three axes).
    filter_shape : (KH, KW, Cin * ch_mult)
    Others : as :func:`kernels.depthwise_s8.depthwise_conv_s8`.

    Returns
    -------
    out : np.ndarray [shape=(OH, OW, Cout), dtype=int8]

    Notes
    -----
    Body: ``_depthwise_conv_s4(x, w_packed, wbuf, bias, out, acc, ch_mult, ...)``: ``wbuf``
    int8[:, :, ::1] of the logical filter shape (work area), the rest as ``_depthwise_conv_s8``.
    """
    w_packed, shape, _ = _check_packed(w_packed, filter_shape)
    if len(shape) != 3:
        raise ShapeError(f"filter_shape={shape} must be (KH, KW, Cin * ch_mult)")
    args = prepare_depthwise(x, shape, bias, ch_mult, input_offset, output_offset, multiplier,
                             shift, stride, padding, dilation, act_min, act_max, single_rounding,
                             out, None)
    _depthwise_conv_s4(args[0], w_packed, np.zeros(shape, np.int8), *args[1:])
    return args[2]


def convolve_wrapper_s4_buffer_size(input_hwc, filter_shape, *, stride=(1, 1), padding=(0, 0),
                                    dilation=(1, 1)) -> int:
    """``arm_convolve_wrapper_s4_get_buffer_size`` (bytes; same on DSP, MVE and C): 1x1 with
    pad 0 and dilation 1 needs 0; otherwise ``2 * KH*KW*Cin * sizeof(int16)``."""
    from kernels.checks import check_pair
    _, _, c = (int(v) for v in input_hwc)
    _, kh, kw, _ = (int(v) for v in filter_shape)
    (py, px), (dy, dx) = check_pair("padding", padding), check_pair("dilation", dilation)
    if py == 0 and px == 0 and kh == 1 and kw == 1 and dy == 1 and dx == 1:
        return 0
    return 2 * kh * kw * c * 2


def depthwise_conv_wrapper_s4_buffer_size(input_hwc, filter_hw, *, ch_mult=1,
                                          dilation=(1, 1)) -> int:
    """``arm_depthwise_conv_wrapper_s4_get_buffer_size`` (bytes; same on DSP, MVE and C): the
    ``_s4_opt`` path (``ch_mult == 1``, dilation 1) needs ``input_c * kh * kw * sizeof(int16)``;
    the generic path 0."""
    from kernels.checks import check_pair
    _, _, c = (int(v) for v in input_hwc)
    kh, kw = (int(v) for v in filter_hw)
    dy, dx = check_pair("dilation", dilation)
    if int(ch_mult) == 1 and dy == 1 and dx == 1:
        return c * kh * kw * 2
    return 0


# ------------------------------------------------------------------------------ FC

@nb.njit(cache=True, inline="always")
def _lo(b):
    """Sign-extended low nibble of a byte held in an int32."""
    v = b & 0xF
    return v - ((v & 8) << 1)


@nb.njit(cache=True)
def _fully_connected_s4(x, w_packed, bias, out, input_offset, output_offset, mult, shift,
                        act_min, act_max, single_rounding):
    """Body of :func:`fully_connected_s4`: row ``o`` is nibbles ``o*N .. o*N + N - 1`` of the
    flat packed matrix; a row starting on an odd nibble begins with the high nibble of the byte
    it shares with the row before (the C's "spillover"), then reads whole bytes."""
    batches, n = x.shape
    cout = out.shape[1]
    has_bias = bias.shape[0] > 0
    io = np.int32(input_offset)
    for o in range(cout):
        start = o * n
        first = start & 1                   # 1: the row's first weight is a high nibble
        byte0 = (start + 1) >> 1            # first whole byte of the row after that
        pairs = (n - first) >> 1
        tail = (n - first) & 1              # a last weight in the low nibble of a shared byte
        for b in range(batches):
            xr = x[b]
            acc = np.int32(0)
            if first:
                acc = np.int32((np.int32(xr[0]) + io) * (np.int32(w_packed[start >> 1]) >> 4))
            for k in range(pairs):
                wb = np.int32(w_packed[byte0 + k])
                j = first + 2 * k
                acc = np.int32(acc + (np.int32(xr[j]) + io) * _lo(wb)
                               + (np.int32(xr[j + 1]) + io) * (wb >> 4))
            if tail:
                acc = np.int32(acc + (np.int32(xr[n - 1]) + io)
                               * _lo(np.int32(w_packed[byte0 + pairs])))
            s = np.int64(acc)
            if has_bias:
                s += np.int64(bias[o])
            out[b, o] = output_stage(s, mult[o], shift[o], output_offset, act_min, act_max,
                                     single_rounding)


def fully_connected_s4(x, w_packed, bias, *, filter_shape, input_offset, output_offset,
                       multiplier, shift, act_min=-128, act_max=127, single_rounding=False,
                       out=None):
    """int8 x packed-int4 fully connected; twin of ``arm_fully_connected_s4``.

    Parameters
    ----------
    x : np.ndarray [shape=(N,) or (B, N), dtype=int8]
    w_packed : np.ndarray [shape=(ceil(Cout*N / 2),), dtype=int8]
        :func:`pack_s4` of the ``(Cout, N)`` matrix (rows straddle bytes when N is odd).
    filter_shape : (Cout, N)
    Others : as :func:`kernels.fully_connected_s8.fully_connected_s8` (no filter offset: int4
        weights are symmetric).

    Returns
    -------
    out : np.ndarray [shape=(Cout,) or (B, Cout), dtype=int8]

    Notes
    -----
    Body: ``_fully_connected_s4(x, w_packed, bias, out, input_offset, output_offset, mult,
    shift, act_min, act_max, single_rounding)`` with ``x`` int8[:, ::1] (B, N), ``w_packed``
    int8[::1], ``out`` int8[:, ::1] (B, Cout); others as ``_fully_connected_s8``.
    """
    from kernels.checks import output_array
    from kernels.convolve_s8 import _bias_array
    from kernels.requantize_s8 import check_offsets_act, check_requant

    w_packed, shape, _ = _check_packed(w_packed, filter_shape)
    if len(shape) != 2:
        raise ShapeError(f"filter_shape={shape} must be (Cout, N)")
    cout, n = shape
    if not isinstance(x, np.ndarray) or x.ndim not in (1, 2) or x.shape[-1] != n:
        raise ShapeError(f"x must be int8 of shape (N,) or (B, N) with N={n}, got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    x = check_array("x", x, np.int8)
    io, oo, lo, hi, _ = check_offsets_act(input_offset, output_offset, act_min, act_max)
    mult, sh = check_requant(multiplier, shift, cout)
    b = _bias_array(bias, cout)
    out = output_array("out", out, np.int8, x.shape[:-1] + (cout,))
    _fully_connected_s4(x.reshape(-1, n), w_packed, b, out.reshape(-1, cout), io, oo, mult, sh,
                        lo, hi, int(bool(single_rounding)))
    return out


def _warmup() -> None:
    """Compile (or load from cache) every body once on tiny inputs."""
    x = np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4)
    w = (np.arange(4 * 2 * 2 * 2) % 16 - 8).astype(np.int8).reshape(4, 2, 2, 2)
    wp = pack_s4(w)
    kw = dict(input_offset=3, output_offset=-2, multiplier=1 << 30, shift=-3)
    convolve_s4(x, wp, None, filter_shape=w.shape, groups=2, padding=1, **kw)
    wd = (np.arange(27) % 16 - 8).astype(np.int8)
    depthwise_conv_s4(x[:, :, :3].copy(), pack_s4(wd), None, filter_shape=(3, 3, 3), ch_mult=1,
                      padding=1, **kw)
    fully_connected_s4(np.arange(5, dtype=np.int8), pack_s4(np.arange(15) % 16 - 8), None,
                       filter_shape=(3, 5), **kw)
    # the jitted s4 bodies the engine calls
    cout, kh, kw_, cpg = w.shape
    out = np.zeros((1, 2, 4), np.int8)
    m = np.full(4, 1 << 30, np.int32)
    s = np.full(4, -3, np.int32)
    col = np.zeros(col_length(kh, kw_, cpg, cout, 2, x.shape[2] // cpg), np.int16)
    _convolve_s4(x, wp, np.zeros(w.shape, np.int8), np.zeros(0, np.int32), out, col, 3, -2, m, s,
                 1, 1, 0, 0, 1, 1, -128, 127, 0)
    _depthwise_conv_s4(x, pack_s4(np.zeros(2 * 2 * 4, np.int8)), np.zeros((2, 2, 4), np.int8),
                       np.zeros(0, np.int32), out, np.zeros(4, np.int32), 1, 3, -2, m, s, 1, 1,
                       0, 0, 1, 1, -128, 127, 0)
