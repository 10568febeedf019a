"""The int8 flavour of the graph IR: TFLite affine formats and the CMSIS-NN s8/s4 layers.

A TFLite int8 model keeps its real values as ``real = scale * (q - zero_point)`` per tensor
(activations) or per output channel (weights, zero point 0). This module adds that format,
:class:`AffineQ`, next to the seed's power-of-two :class:`~edgesed.graph.QFormat`, and the
arguments of the int8 layers:

=====================  ==============================  ===========================================
op                     arguments                       firmware function
=====================  ==============================  ===========================================
``Op.CONV_S8``         :class:`ConvS8Args`             ``arm_convolve_s8`` / ``arm_convolve_s4``
``Op.DEPTHWISE_S8``    :class:`DepthwiseS8Args`        ``arm_depthwise_conv_s8`` / ``_s4``
``Op.DENSE_S8``        :class:`DenseS8Args`            ``arm_fully_connected_s8`` / ``_s4``
``Op.MAXPOOL_S8``      :class:`PoolS8Args`             ``arm_max_pool_s8``
``Op.AVGPOOL_S8``      :class:`PoolS8Args`             ``arm_avgpool_s8``
``Op.SOFTMAX_S8``      :class:`SoftmaxS8Args`          ``arm_softmax_s8``
``Op.RESHAPE``         :class:`ReshapeArgs`            none: the same bytes, a new shape
``Op.LSTM_S8``         :class:`LstmS8Args`             ``arm_lstm_unidirectional_s8``
=====================  ==============================  ===========================================

Weights are stored in ``graph.params`` as int8 values (``"<layer>.weight"``; for 4-bit layers
values in [-8, 7], packed two per byte only in the ROM image, see
:func:`edgesed.dispatch_s8.rom_weights`), biases as int32 (``"<layer>.bias"``). The integer
requantization parameters are *derived* from the scales exactly as TFLite Micro's ``Prepare``
does (:func:`requant_params`), so a graph holds what a ``.tflite`` file holds and nothing more.

Padding follows TFLM: ``padding = (top, left)`` as CMSIS-NN takes it, plus ``pad_extra =
(bottom - top, right - left)``, TFLM's ``offset`` (0 or 1) for SAME padding with an odd total::

    out = (in + 2 * pad + extra - dilation * (kernel - 1) - 1) // stride + 1

The int8 LSTM (TFLite ``UNIDIRECTIONAL_SEQUENCE_LSTM`` without peephole, projection or layer
norm; gates in TFLM's order I, F, C, O) reads ``(T, n_in)`` and writes the hidden state after
each step, ``(T, units)``, in its output format, which *is* the hidden state's format. A
streaming SED model gives it ``T = 1``: one step per 960 ms patch, the hidden (int8) and cell
(int16) state carried from one inference to the next, like the q7 RNN. Its parameters are
``"<layer>.weight"`` int8 (4, units, n_in) with ``node.weight_q`` one scale per gate (or one),
``"<layer>.recurrent"`` int8 (4, units, units) with ``args.recurrent_scale`` and
``"<layer>.bias"`` int32 (4, units) at scale ``s_in * s_w[g]``; :func:`lstm_params` derives the
kernel's integers as TFLM's Prepare does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesed.errors import ConfigError, ShapeError
from edgesed.op import S8_OPS, WEIGHTED_S8_OPS, Op

__all__ = ["AffineQ", "ConvS8Args", "DepthwiseS8Args", "DenseS8Args", "PoolS8Args",
           "SoftmaxS8Args", "ReshapeArgs", "LstmS8Args", "S8_OPS", "WEIGHTED_S8_OPS",
           "effective_hw", "same_padding", "infer_shape", "param_shapes", "validate_node",
           "requant_params", "act_range", "lstm_params"]

INT8_MIN, INT8_MAX = -128, 127


@dataclass(frozen=True)
class AffineQ:
    """TFLite affine quantization: ``real = scale * (q - zero_point)``.

    ``scale`` has one entry (per tensor) or one per channel along ``axis`` (weights); the
    zero point is one integer (activations; weights use 0).
    """

    scale: tuple[float, ...]
    zero_point: int = 0
    axis: int = 0
    bits: int = 8

    def __post_init__(self):
        scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float64))
        object.__setattr__(self, "scale", tuple(float(s) for s in scale))
        object.__setattr__(self, "zero_point", int(self.zero_point))

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_real(self, q: np.ndarray) -> np.ndarray:
        """Dequantize integers to float64 (per-tensor formats only)."""
        return (np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale[0]

    def __str__(self) -> str:
        if self.per_channel:
            return f"affine[{len(self.scale)} scales]"
        return f"s={self.scale[0]:.4g} z={self.zero_point}"


@dataclass(frozen=True)
class ConvS8Args:
    """A 2-D convolution, ``weight`` (out_ch, kh, kw, in_ch // groups), per-channel scales."""

    out_ch: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pad_extra: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    weight_bits: int = 8


@dataclass(frozen=True)
class DepthwiseS8Args:
    """A depthwise convolution, ``weight`` (kh, kw, in_ch * ch_mult); out channel ic*ch_mult+m."""

    ch_mult: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pad_extra: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    weight_bits: int = 8


@dataclass(frozen=True)
class DenseS8Args:
    """A fully connected layer, ``weight`` (units, in_features); scales per tensor or channel."""

    units: int
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX
    weight_bits: int = 8


@dataclass(frozen=True)
class PoolS8Args:
    """Max or average pooling over valid taps (padding taps are skipped, as in TFLM)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    pad_extra: tuple[int, int] = (0, 0)
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX


@dataclass(frozen=True)
class SoftmaxS8Args:
    """Softmax over the last axis; output is fixed at scale 1/256, zero point -128."""

    beta: float = 1.0


@dataclass(frozen=True)
class ReshapeArgs:
    """A new shape for the same bytes (the output spec carries it)."""


@dataclass(frozen=True)
class LstmS8Args:
    """An int8 LSTM: ``units``, the cell state's scale (a power of two; zero point 0), the
    recurrent weights' scales (one per gate I, F, C, O, or one) and the cell clip (0: none).

    The input weights' scales are ``node.weight_q``; the hidden state's format is the output's.
    The cell gate's activation is tanh (the only one a ``.tflite`` can name).
    """

    units: int
    cell_scale: float
    recurrent_scale: tuple[float, ...]
    cell_clip: float = 0.0

    def __post_init__(self):
        rs = np.atleast_1d(np.asarray(self.recurrent_scale, dtype=np.float64))
        object.__setattr__(self, "recurrent_scale", tuple(float(v) for v in rs))
        object.__setattr__(self, "cell_scale", float(self.cell_scale))
        object.__setattr__(self, "cell_clip", float(self.cell_clip))


def effective_hw(kernel, dilation) -> tuple[int, int]:
    """The dilated kernel's extent: ``dilation * (kernel - 1) + 1`` per axis."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def same_padding(in_hw, kernel, stride, dilation=(1, 1)):
    """TFLM ``ComputePaddingHeightWidth`` for SAME: (out_hw, pad (top, left), extra (b-t, r-l))."""
    eff = effective_hw(kernel, dilation)
    out = tuple(-(-i // s) for i, s in zip(in_hw, stride))
    total = tuple(max((o - 1) * s + e - i, 0) for o, s, e, i in zip(out, stride, eff, in_hw))
    return out, tuple(t // 2 for t in total), tuple(t % 2 for t in total)


def _window_out(node, in_hw, kernel, dilation=(1, 1)) -> tuple[int, int]:
    a = node.args
    for what, pair in (("kernel", kernel), ("stride", a.stride), ("padding", a.padding),
                       ("pad_extra", a.pad_extra), ("dilation", dilation)):
        if len(pair) != 2 or any(int(v) != v for v in pair):
            raise ConfigError(f"layer {node.name!r}: {what}={pair!r} must be a pair of ints")
    if min(kernel) < 1 or min(a.stride) < 1 or min(dilation) < 1 or min(a.padding) < 0 \
            or any(e not in (0, 1) for e in a.pad_extra):
        raise ConfigError(f"layer {node.name!r}: kernel={kernel}, stride={a.stride} and "
                          f"dilation={dilation} must be >= 1, padding={a.padding} >= 0 and "
                          f"pad_extra={a.pad_extra} 0 or 1 (TFLM's SAME-padding offset)")
    eff = effective_hw(kernel, dilation)
    out = tuple((i + 2 * p + e - k) // s + 1
                for i, p, e, k, s in zip(in_hw, a.padding, a.pad_extra, eff, a.stride))
    if min(out) < 1:
        raise ShapeError(f"layer {node.name!r}: input {tuple(in_hw)} is smaller than the "
                         f"(dilated) kernel {eff} with padding {a.padding}; no output pixel")
    return out


def infer_shape(node, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of an int8 layer from its input shape and arguments."""
    a = node.args
    if node.op in (Op.CONV_S8, Op.DEPTHWISE_S8, Op.MAXPOOL_S8, Op.AVGPOOL_S8):
        if len(in_shape) != 3:
            raise ShapeError(f"layer {node.name!r}: input shape {in_shape} must be (h, w, c)")
        dil = getattr(a, "dilation", (1, 1))
        oh, ow = _window_out(node, in_shape[:2], a.kernel, dil)
        if node.op is Op.CONV_S8:
            if a.groups < 1 or in_shape[2] % a.groups or a.out_ch % a.groups:
                raise ConfigError(f"layer {node.name!r}: groups={a.groups} must divide in_ch="
                                  f"{in_shape[2]} and out_ch={a.out_ch}")
            return (oh, ow, a.out_ch)
        if node.op is Op.DEPTHWISE_S8:
            if a.ch_mult < 1:
                raise ConfigError(f"layer {node.name!r}: ch_mult={a.ch_mult} must be >= 1")
            return (oh, ow, in_shape[2] * a.ch_mult)
        return (oh, ow, in_shape[2])
    if node.op is Op.DENSE_S8:
        return (a.units,)
    if node.op is Op.SOFTMAX_S8:
        return tuple(in_shape)
    if node.op is Op.LSTM_S8:
        if isinstance(a.units, bool) or not isinstance(a.units, (int, np.integer)) \
                or a.units < 1:
            raise ConfigError(f"layer {node.name!r}: units={a.units!r} must be an int >= 1")
        if len(in_shape) != 2:
            raise ShapeError(f"layer {node.name!r}: the LSTM reads (time steps, features), got "
                             f"input shape {tuple(in_shape)}; put a RESHAPE to (1, n) before it "
                             "for one step per inference")
        return (in_shape[0], int(a.units))
    if node.op is Op.RESHAPE:
        if int(np.prod(node.output.shape)) != int(np.prod(in_shape)):
            raise ShapeError(f"layer {node.name!r}: reshape {in_shape} -> {node.output.shape} "
                             "changes the number of elements")
        return tuple(node.output.shape)
    raise ConfigError(f"layer {node.name!r}: {node.op!r} is not an int8 layer")


def param_shapes(node, in_shape) -> dict[str, tuple[tuple[int, ...], type]]:
    """``{"weight": (shape, dtype), "bias": ...}`` of an int8 layer (empty for unweighted ones)."""
    a = node.args
    if node.op is Op.CONV_S8:
        return {"weight": ((a.out_ch, *a.kernel, in_shape[2] // a.groups), np.int8),
                "bias": ((a.out_ch,), np.int32)}
    if node.op is Op.DEPTHWISE_S8:
        return {"weight": ((*a.kernel, in_shape[2] * a.ch_mult), np.int8),
                "bias": ((in_shape[2] * a.ch_mult,), np.int32)}
    if node.op is Op.DENSE_S8:
        return {"weight": ((a.units, int(np.prod(in_shape))), np.int8),
                "bias": ((a.units,), np.int32)}
    if node.op is Op.LSTM_S8:
        return {"weight": ((4, a.units, in_shape[-1]), np.int8),
                "recurrent": ((4, a.units, a.units), np.int8),
                "bias": ((4, a.units), np.int32)}
    return {}


def _check_affine(q, what: str, *, channels: int | None = None) -> None:
    if not isinstance(q, AffineQ):
        raise ConfigError(f"{what}: format {q} must be an AffineQ (scale, zero_point) in an "
                          "int8 graph")
    if q.bits != 8 or not INT8_MIN <= q.zero_point <= INT8_MAX:
        raise ConfigError(f"{what}: {q} needs 8 bits and a zero point in [-128, 127]")
    if any(not (s > 0 and np.isfinite(s)) for s in q.scale):
        raise ConfigError(f"{what}: every scale must be finite and > 0, got {q.scale[:4]}")
    if channels is None and q.per_channel:
        raise ConfigError(f"{what}: activations take one scale, got {len(q.scale)}")
    if channels is not None and len(q.scale) not in (1, channels):
        raise ConfigError(f"{what}: {len(q.scale)} scales for {channels} output channels; give "
                          "one (per tensor) or one per channel")


def validate_node(graph, node, in_spec) -> None:
    """Check one int8 layer (shape, dtypes, formats, parameters); errors name layer and fix."""
    a = node.args
    shape = infer_shape(node, in_spec.shape)
    if tuple(node.output.shape) != shape:
        raise ShapeError(f"layer {node.name!r}: declared output shape {node.output.shape} but "
                         f"the input {in_spec.shape} and arguments give {shape}")
    if node.output.dtype != "int8" or in_spec.dtype != "int8":
        raise ConfigError(f"layer {node.name!r}: the s8 kernels take and give int8 tensors, not "
                          f"{in_spec.dtype} -> {node.output.dtype}")
    _check_affine(node.output.q, f"layer {node.name!r} output")
    if hasattr(a, "act_min") and not INT8_MIN <= a.act_min <= a.act_max <= INT8_MAX:
        raise ConfigError(f"layer {node.name!r}: activation range [{a.act_min}, {a.act_max}] "
                          "must be ordered and inside [-128, 127]")
    if node.op in (Op.MAXPOOL_S8, Op.AVGPOOL_S8, Op.RESHAPE) and node.output.q != in_spec.q:
        raise ConfigError(f"layer {node.name!r}: {node.op.value} keeps the format, but output "
                          f"is {node.output.q} and input {in_spec.q}")
    if node.op is Op.SOFTMAX_S8 and (node.output.q.scale != (1 / 256,)
                                     or node.output.q.zero_point != -128):
        raise ConfigError(f"layer {node.name!r}: int8 softmax writes scale 1/256 and zero point "
                          f"-128 (TFLM's requirement), not {node.output.q}")
    for key, (want, dtype) in param_shapes(node, in_spec.shape).items():
        arr = graph.params.get(f"{node.name}.{key}")
        if arr is None:
            raise ConfigError(f"layer {node.name!r} has no parameter {node.name}.{key}")
        if arr.dtype != dtype or tuple(arr.shape) != want:
            raise ShapeError(f"parameter {node.name}.{key}: dtype {arr.dtype} shape {arr.shape}, "
                             f"expected {np.dtype(dtype).name} {want}")
    if node.op in WEIGHTED_S8_OPS:
        channels = node.output.shape[-1]
        _check_affine(node.weight_q, f"layer {node.name!r} weights", channels=channels)
        if node.weight_q.zero_point != 0:
            raise ConfigError(f"layer {node.name!r}: weights must be symmetric (zero point 0), "
                              f"as TFLite int8 requires; got {node.weight_q.zero_point}")
        if a.weight_bits not in (4, 8):
            raise ConfigError(f"layer {node.name!r}: weight_bits={a.weight_bits}; CMSIS-NN has "
                              "s8 (8) and packed s4 (4) weights")
        w = graph.params[f"{node.name}.weight"]
        lo, hi = -(1 << (a.weight_bits - 1)), (1 << (a.weight_bits - 1)) - 1
        if w.size and (w.min() < lo or w.max() > hi):
            raise ConfigError(f"layer {node.name!r}: {a.weight_bits}-bit weights must lie in "
                              f"[{lo}, {hi}], found [{w.min()}, {w.max()}]")
    if node.op is Op.LSTM_S8:
        _validate_lstm(graph, node)


def _validate_lstm(graph, node) -> None:
    a, what = node.args, f"layer {node.name!r}"
    _check_affine(node.weight_q, f"{what} input weights", channels=4)
    _check_affine(AffineQ(a.recurrent_scale), f"{what} recurrent weights", channels=4)
    if node.weight_q.zero_point != 0:
        raise ConfigError(f"{what}: LSTM weights must be symmetric (zero point 0), got "
                          f"{node.weight_q.zero_point}")
    if not (np.isfinite(a.cell_clip) and a.cell_clip >= 0):
        raise ConfigError(f"{what}: cell_clip={a.cell_clip!r} must be finite and >= 0 (0: none)")
    if not (np.isfinite(a.cell_scale) and a.cell_scale > 0):
        raise ConfigError(f"{what}: cell_scale={a.cell_scale!r} must be a power of two > 0")
    try:
        lstm_params(graph, node)
    except (ConfigError, ShapeError) as err:
        raise type(err)(f"{what}: {err}") from None


def lstm_params(graph, node):
    """The :class:`kernels.lstm_s8.LstmS8Params` of an ``LSTM_S8`` node, derived from the scales
    exactly as TFLM's ``UnidirectionalSequenceLstmPrepare``
    (:func:`kernels.lstm_s8.lstm_s8_params`):
    gate FC multipliers, the effective biases with the zero points folded in, the products'
    multipliers, the quantized cell clip and the cell scale's power of two."""
    from kernels.lstm_s8 import lstm_s8_params

    a, x_q, h_q = node.args, graph.input_of(node).q, node.output.q
    p = graph.params
    return lstm_s8_params(
        input_scale=x_q.scale[0], input_zp=x_q.zero_point,
        w_x=p[f"{node.name}.weight"], w_x_scales=_per_gate(node.weight_q.scale),
        w_h=p[f"{node.name}.recurrent"], w_h_scales=_per_gate(a.recurrent_scale),
        bias=p[f"{node.name}.bias"], hidden_scale=h_q.scale[0], hidden_zp=h_q.zero_point,
        cell_scale=a.cell_scale, cell_clip=a.cell_clip, cell_activation="TANH")


def _per_gate(scales) -> list[float]:
    return list(scales) * 4 if len(scales) == 1 else list(scales)


def act_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLM's ``CalculateActivationRangeQuantized`` for int8: NONE, RELU, RELU6, RELU_N1_TO_1."""
    def q(x):
        return zero_point + int(round(x / scale))
    lo, hi = INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(lo, q(0.0)), hi
    if activation == "RELU6":
        return max(lo, q(0.0)), min(hi, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(lo, q(-1.0)), min(hi, q(1.0))
    if activation == "NONE":
        return lo, hi
    raise ConfigError(f"fused activation {activation!r} is not supported by the int8 kernels; "
                      "use NONE, RELU, RELU6 or RELU_N1_TO_1")


def requant_params(graph, node) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multiplier, shift)`` int32 arrays of a weighted int8 layer, as TFLM's Prepare.

    Convolutions and per-channel dense layers: ``PopulateConvolutionQuantizationParams``
    (``double(s_in) * double(s_w[c]) / double(s_out)``); per-tensor dense layers:
    ``GetQuantizedConvolutionMultipler`` (``s_in * s_w`` in float32 first). Then
    ``QuantizeMultiplier``; a shift > 0 is a left shift. Per-tensor values fill every channel.
    """
    from kernels.requantize_s8 import conv_multipliers, fully_connected_multiplier

    s_in, s_out = graph.input_of(node).q.scale[0], node.output.q.scale[0]
    channels = node.output.shape[-1]
    scales = node.weight_q.scale
    if len(scales) == 1:
        from edgesed.graph import Op
        if node.op is Op.DENSE_S8:
            m, s = fully_connected_multiplier(s_in, scales[0], s_out)
        else:
            (m,), (s,) = conv_multipliers(s_in, scales, s_out)
        return np.full(channels, m, np.int32), np.full(channels, s, np.int32)
    return conv_multipliers(s_in, scales, s_out)
