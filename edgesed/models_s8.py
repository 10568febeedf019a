"""Built-in int8 (TFLite-style) networks: the M20k SED model and MLPerf Tiny's DS-CNN keyword spotter.

Both are defined as float layers with seeded random weights (He scaling, and for DS-CNN folded
batch norm as a per-channel bias), then quantized the way the TFLite converter's full-integer
post-training quantization does it:

- activations: asymmetric int8 per tensor, from the float range seen on a deterministic
  calibration batch widened to include 0 (``scale = (hi - lo) / 255``,
  ``zero_point = round(-128 - lo / scale)``); ReLU outputs therefore get zero point -128;
- weights: symmetric per output channel, ``scale_c = max|w_c| / 127`` (``/ 7`` for 4-bit);
- bias: int32 at ``scale_in * scale_w[c]``; pooling and reshape keep their input's format;
  softmax writes scale 1/256, zero point -128.

The result is an :mod:`edgesed.graph_s8` graph; :func:`edgesed.tflite.exporter.to_tflite` writes
the same model as a ``.tflite`` file that TFLite Micro runs with the same bits.

- ``"m20k-s8"``: the seed's M20k (input 96x64x1 log-mel; valid 3x3 convs of 4, 8, 16, 16, 32
  channels with ReLU, each followed by max pooling, pool1 2x2/2 and the others 3x3/2 SAME; FC
  64, FC 128 with ReLU), its recurrent layer as a 60-unit int8 LSTM (TFLite's int8 recurrent op,
  ``UNIDIRECTIONAL_SEQUENCE_LSTM``, in place of the seed's 60-unit vanilla RNN; a RESHAPE
  ``seq`` makes the FC output one time step, so the LSTM steps once per 960 ms patch and carries
  its state to the next, like the seed's RNN), then FC 10 and an int8 softmax.
  The LSTM is calibrated on the calibration batch run as consecutive patches of one stream
  (state carried): its hidden state like any activation, its cell state int16 at the power of two
  scale ``2**(ceil(log2(max|c|)) - 15)``, its eight weight matrices symmetric per tensor (8-bit
  even in the ``weight_bits=4`` variant: TFLM's LSTM has no int4 weights), its biases int32 at
  ``scale_in * scale_w[gate]``.
- ``"ds-cnn"``: MLPerf Tiny KWS (``keras_model.py``'s ``ds_cnn``): input 49x10x1 MFCC; conv 64
  10x4 stride 2 SAME + ReLU; four times (depthwise 3x3 SAME + ReLU, pointwise conv 64 + ReLU);
  average pooling 25x5; dense 12; softmax.

Weights are random: the models are for bit-exactness, memory and timing, not accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgesed.errors import ConfigError
from edgesed.graph import Graph, Node, Op, TensorSpec, validate
from edgesed.graph_s8 import (AffineQ, ConvS8Args, DenseS8Args, DepthwiseS8Args, LstmS8Args,
                              PoolS8Args, ReshapeArgs, SoftmaxS8Args, act_range, effective_hw,
                              same_padding)

__all__ = ["LayerF", "build_s8", "quantize_float", "same_padding", "available", "MODELS",
           "forward_float", "lstm_float"]


@dataclass(frozen=True)
class LayerF:
    """One float layer: ``kind`` in conv/dw/dense/maxpool/avgpool/flatten/reshape/lstm/softmax.

    ``reshape``: ``extra["shape"]`` per sample; ``lstm``: ``weight`` (4, units, n_in),
    ``extra["recurrent"]`` (4, units, units), ``bias`` (4, units), gates I, F, C, O.
    """

    kind: str
    name: str
    weight: np.ndarray | None = None     # conv (O,KH,KW,C/g); dw (KH,KW,C*m); dense (O,N)
    bias: np.ndarray | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    same: bool = False
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    ch_mult: int = 1
    relu: bool = False
    extra: dict = field(default_factory=dict)


def _geometry(layer: LayerF, in_hw):
    if layer.same:
        return same_padding(in_hw, layer.kernel, layer.stride, layer.dilation)
    eff = effective_hw(layer.kernel, layer.dilation)
    out = tuple((i - e) // s + 1 for i, e, s in zip(in_hw, eff, layer.stride))
    return out, (0, 0), (0, 0)


def _windows(x, kernel, stride, pad, extra, dilation, out_hw, fill):
    """(N, OH, OW, KH, KW, C) windows of x (N, H, W, C), padded with ``fill`` (NaN: skipped)."""
    n, h, w, c = x.shape
    (kh, kw), (dh, dw) = kernel, dilation
    pt, pl = pad
    hp = max(h + pt, (out_hw[0] - 1) * stride[0] + dh * (kh - 1) + 1)
    wp = max(w + pl, (out_hw[1] - 1) * stride[1] + dw * (kw - 1) + 1)
    xp = np.full((n, hp, wp, c), fill, dtype=np.float64)
    xp[:, pt:pt + h, pl:pl + w] = x
    iy = (np.arange(out_hw[0]) * stride[0])[:, None] + np.arange(kh) * dh
    ix = (np.arange(out_hw[1]) * stride[1])[:, None] + np.arange(kw) * dw
    return xp[:, iy[:, None, :, None], ix[None, :, None, :], :]


def lstm_float(layer: LayerF, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float LSTM over ``x`` (N, T, n_in) taken as N consecutive inferences of one stream (the
    state carries from sample to sample, from h = c = 0): ``(h, c)``, each (N, T, units)."""
    w, r, b = layer.weight, layer.extra["recurrent"], layer.bias
    units = w.shape[1]
    h, c = np.zeros(units), np.zeros(units)
    hs, cs = np.zeros((*x.shape[:2], units)), np.zeros((*x.shape[:2], units))
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    for n in range(x.shape[0]):
        for t in range(x.shape[1]):
            pre = w @ x[n, t] + r @ h + b                       # (4, units): I, F, C, O
            c = sig(pre[1]) * c + sig(pre[0]) * np.tanh(pre[2])
            h = sig(pre[3]) * np.tanh(c)
            hs[n, t], cs[n, t] = h, c
    return hs, cs


def forward_float(layers, x: np.ndarray) -> list[np.ndarray]:
    """Float outputs of every layer for a batch ``x`` (N, H, W, C); the float reference."""
    outs = []
    for layer in layers:
        if layer.kind in ("conv", "dw", "maxpool", "avgpool"):
            out_hw, pad, extra = _geometry(layer, x.shape[1:3])
            pool = layer.kind in ("maxpool", "avgpool")
            win = _windows(x, layer.kernel, layer.stride, pad, extra, layer.dilation, out_hw,
                           np.nan if pool else 0.0)
            if layer.kind == "conv":
                g, o = layer.groups, layer.weight.shape[0]
                cg = x.shape[3] // g
                parts = [np.einsum("nyxijc,oijc->nyxo", win[..., k * cg:(k + 1) * cg],
                                   layer.weight[k * o // g:(k + 1) * o // g]) for k in range(g)]
                y = np.concatenate(parts, axis=-1) + layer.bias
            elif layer.kind == "dw":
                win = np.repeat(win, layer.ch_mult, axis=-1)
                y = np.einsum("nyxijc,ijc->nyxc", win, layer.weight) + layer.bias
            elif layer.kind == "maxpool":
                y = np.nanmax(win, axis=(3, 4))
            else:
                y = np.nanmean(win, axis=(3, 4))
        elif layer.kind == "dense":
            y = x.reshape(len(x), -1) @ layer.weight.T + layer.bias
        elif layer.kind == "flatten":
            y = x.reshape(len(x), -1)
        elif layer.kind == "reshape":
            y = x.reshape(len(x), *layer.extra["shape"])
        elif layer.kind == "lstm":
            y = lstm_float(layer, x)[0]
        elif layer.kind == "softmax":
            z = np.exp(x - x.max(axis=-1, keepdims=True))
            y = z / z.sum(axis=-1, keepdims=True)
        else:
            raise ConfigError(f"layer {layer.name!r}: unknown kind {layer.kind!r}")
        if layer.relu:
            y = np.maximum(y, 0.0)
        outs.append(y)
        x = y
    return outs


def _affine(lo: float, hi: float) -> AffineQ:
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return AffineQ((np.float32(scale),), zp)


def _weights(w: np.ndarray, axis_out: int, bits: int, per_channel: bool = True):
    """Symmetric integer weights and their scales (float32, as a .tflite stores them).

    Per output channel (convolutions) or per tensor (dense layers, as the converter writes
    fully connected weights); returns ``(int8 weights, scales)`` with one scale per channel
    either way.
    """
    qmax = (1 << (bits - 1)) - 1
    moved = np.moveaxis(w, axis_out, 0).reshape(w.shape[axis_out], -1)
    peak = np.abs(moved).max(axis=1) if per_channel else np.full(len(moved), np.abs(w).max())
    scale = (peak / qmax).astype(np.float32)
    scale[scale == 0] = np.float32(1.0)
    shape = [1] * w.ndim
    shape[axis_out] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -qmax - 1, qmax).astype(np.int8)
    return q, scale


def quantize_float(name: str, layers, calibration: np.ndarray, *, input_q: AffineQ | None = None,
                   weight_bits: int = 8, labels=()) -> Graph:
    """Full-integer post-training quantization of float ``layers`` into an int8 graph.

    ``calibration``: float (N, H, W, C) inputs; ``input_q`` fixes the input format (else from
    the calibration range); ``weight_bits`` 8 (s8) or 4 (packed s4 weights).
    """
    outs = forward_float(layers, calibration)
    in_q = input_q or _affine(calibration.min(), calibration.max())
    spec = TensorSpec(tuple(calibration.shape[1:]), in_q)
    nodes, params, prev = [], {}, "input"
    calibration_in = calibration        # the float input of the current layer
    for layer, y in zip(layers, outs):
        shape = tuple(y.shape[1:])
        kind = layer.kind
        if kind in ("maxpool", "avgpool", "flatten", "reshape"):
            q = spec.q
        elif kind == "softmax":
            q = AffineQ((1 / 256,), -128)
        else:
            q = _affine(y.min(), y.max())
        act = act_range("RELU" if layer.relu else "NONE", q.scale[0], q.zero_point)
        out = TensorSpec(shape, q)
        wq = None
        if kind in ("conv", "dw", "dense"):
            axis = layer.weight.ndim - 1 if kind == "dw" else 0
            wint, wscale = _weights(layer.weight, axis, weight_bits, per_channel=kind != "dense")
            wq = AffineQ(tuple(float(s) for s in (wscale[:1] if kind == "dense" else wscale)),
                         0, axis=axis)
            bscale = np.float64(spec.q.scale[0]) * wscale.astype(np.float64)
            params[f"{layer.name}.weight"] = wint
            params[f"{layer.name}.bias"] = np.clip(np.round(layer.bias / bscale),
                                                   -2**31, 2**31 - 1).astype(np.int32)
        if kind == "lstm":
            nodes.append(_quantize_lstm(layer, prev, spec, out, params, calibration_in))
            prev, spec, calibration_in = layer.name, out, y
            continue
        if kind in ("conv", "dw", "maxpool", "avgpool"):
            _, pad, extra = _geometry(layer, spec.shape[:2])
            common = dict(kernel=layer.kernel, stride=layer.stride, padding=pad, pad_extra=extra,
                          act_min=act[0], act_max=act[1])
        if kind == "conv":
            op, args = Op.CONV_S8, ConvS8Args(out_ch=shape[2], dilation=layer.dilation,
                                              groups=layer.groups, weight_bits=weight_bits,
                                              **common)
        elif kind == "dw":
            op, args = Op.DEPTHWISE_S8, DepthwiseS8Args(ch_mult=layer.ch_mult,
                                                        dilation=layer.dilation,
                                                        weight_bits=weight_bits, **common)
        elif kind == "dense":
            op, args = Op.DENSE_S8, DenseS8Args(units=shape[0], act_min=act[0], act_max=act[1],
                                                weight_bits=weight_bits)
        elif kind in ("maxpool", "avgpool"):
            op = Op.MAXPOOL_S8 if kind == "maxpool" else Op.AVGPOOL_S8
            args = PoolS8Args(**common)
        elif kind in ("flatten", "reshape"):
            op, args = Op.RESHAPE, ReshapeArgs()
        else:
            op, args = Op.SOFTMAX_S8, SoftmaxS8Args(beta=1.0)
        nodes.append(Node(op, layer.name, prev, out, args, weight_q=wq))
        prev, spec, calibration_in = layer.name, out, y
    graph = Graph(name, TensorSpec(tuple(calibration.shape[1:]), in_q), tuple(nodes), params,
                  labels=labels)
    validate(graph)
    return graph


def _quantize_lstm(layer: LayerF, prev: str, spec: TensorSpec, out: TensorSpec, params: dict,
                   x: np.ndarray) -> Node:
    """The int8 LSTM node of float ``layer`` whose float input on the calibration batch is ``x``
    (the hidden state's format ``out.q`` is already calibrated); see the module docstring."""
    _, c = lstm_float(layer, x)
    peak = float(np.abs(c).max())
    power = int(np.ceil(np.log2(peak))) if peak > 0 else 0
    cell_scale = 2.0 ** (power - 15)
    wx, sx = zip(*(_weights(w, 0, 8, per_channel=False) for w in layer.weight))
    wh, sh = zip(*(_weights(w, 0, 8, per_channel=False) for w in layer.extra["recurrent"]))
    sx = np.array([s[0] for s in sx], np.float32)
    bscale = np.float64(spec.q.scale[0]) * sx.astype(np.float64)
    params[f"{layer.name}.weight"] = np.stack(wx)
    params[f"{layer.name}.recurrent"] = np.stack(wh)
    params[f"{layer.name}.bias"] = np.clip(np.round(layer.bias / bscale[:, None]),
                                           -2**31, 2**31 - 1).astype(np.int32)
    args = LstmS8Args(units=layer.weight.shape[1], cell_scale=cell_scale,
                      recurrent_scale=tuple(float(s[0]) for s in sh))
    return Node(Op.LSTM_S8, layer.name, prev, out, args,
                weight_q=AffineQ(tuple(float(s) for s in sx), 0, axis=0))


def _he(rng, shape, fan_in):
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def m20k_layers(seed: int = 0, classes: int = 10):
    """Float layers of the int8 M20k (see the module docstring)."""
    rng = np.random.default_rng(seed)
    layers, c_in, hw = [], 1, (96, 64)
    for i, c in enumerate((4, 8, 16, 16, 32), start=1):
        layers.append(LayerF("conv", f"conv{i}", _he(rng, (c, 3, 3, c_in), 9 * c_in),
                             rng.uniform(-0.1, 0.1, c), kernel=(3, 3), relu=True))
        hw = (hw[0] - 2, hw[1] - 2)
        k, s, same = ((2, 2), (2, 2), False) if i == 1 else ((3, 3), (2, 2), True)
        layers.append(LayerF("maxpool", f"pool{i}", kernel=k, stride=s, same=same))
        hw = tuple(-(-v // 2) for v in hw) if same else tuple((v - 2) // 2 + 1 for v in hw)
        c_in = c
    flat = hw[0] * hw[1] * c_in
    layers.append(LayerF("flatten", "flatten"))
    for i, (units, fan) in enumerate(((64, flat), (128, 64)), start=1):
        layers.append(LayerF("dense", f"fc{i}", _he(rng, (units, fan), fan),
                             rng.uniform(-0.1, 0.1, units), relu=True))
    layers.append(LayerF("reshape", "seq", extra={"shape": (1, 128)}))
    units = 60                                     # the seed's recurrent layer, as an LSTM
    bias = rng.uniform(-0.1, 0.1, (4, units))
    bias[1] += 1.0                                 # forget-gate bias 1 (Keras unit_forget_bias)
    layers.append(LayerF("lstm", "lstm", rng.standard_normal((4, units, 128)) / np.sqrt(128),
                         bias, extra={"recurrent": rng.standard_normal((4, units, units))
                                      / np.sqrt(units)}))
    layers.append(LayerF("dense", "fc3", _he(rng, (classes, units), units),
                         rng.uniform(-0.1, 0.1, classes)))
    layers.append(LayerF("softmax", "softmax"))
    return layers


def ds_cnn_layers(seed: int = 0, classes: int = 12):
    """Float layers of MLPerf Tiny's DS-CNN keyword spotter (see the module docstring)."""
    rng = np.random.default_rng(seed)
    layers = [LayerF("conv", "conv1", _he(rng, (64, 10, 4, 1), 40), rng.uniform(-0.1, 0.1, 64),
                     kernel=(10, 4), stride=(2, 2), same=True, relu=True)]
    for i in range(1, 5):
        layers.append(LayerF("dw", f"dw{i}", _he(rng, (3, 3, 64), 9),
                             rng.uniform(-0.1, 0.1, 64), kernel=(3, 3), same=True, relu=True))
        layers.append(LayerF("conv", f"pw{i}", _he(rng, (64, 1, 1, 64), 64),
                             rng.uniform(-0.1, 0.1, 64), relu=True))
    layers += [LayerF("avgpool", "avgpool", kernel=(25, 5), stride=(25, 5)),
               LayerF("flatten", "flatten"),
               LayerF("dense", "fc", _he(rng, (classes, 64), 64), rng.uniform(-0.1, 0.1, classes)),
               LayerF("softmax", "softmax")]
    return layers


KWS_LABELS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes",
              "silence", "unknown")

MODELS = {
    # name: (float layers, input shape, input float range for the input format, labels)
    "m20k-s8": (m20k_layers, (96, 64, 1), (-6.0, 6.0), ()),
    "ds-cnn": (ds_cnn_layers, (49, 10, 1), (-8.0, 8.0), KWS_LABELS),
}


def available() -> list[str]:
    return sorted(MODELS)


def build_s8(name: str, *, seed: int = 0, weight_bits: int = 8, calibration: int = 8) -> Graph:
    """A built-in int8 model by name (``"m20k-s8"``, ``"ds-cnn"``), quantized as described above."""
    key = str(name).lower()
    if key not in MODELS:
        raise ConfigError(f"unknown int8 model {name!r}; built-in int8 models are {available()}")
    make, shape, (lo, hi), labels = MODELS[key]
    rng = np.random.default_rng(seed + 1000)
    calib = np.clip(rng.normal(0.0, (hi - lo) / 6, size=(calibration, *shape)), lo, hi)
    in_q = _affine(lo, hi)
    suffix = "" if weight_bits == 8 else f"-s{weight_bits}"
    return quantize_float(key + suffix, make(seed), calib, input_q=in_q,
                          weight_bits=weight_bits, labels=labels)
