"""The float Dilated CRNN of :mod:`edgesed.ne16.crnn` -> an NE16 graph at given per-layer bits.

Post-training, from calibration patches of the *fixed* frontend (the int8 Q3.4 patches the stream
feeds; :func:`frontend_patches`). Every tensor has a power-of-two scale ``2**-n``
(``QFormat(n)``), chosen from the calibration range so the largest value just fits:

- input: int8 Q3.4 (the frontend's); the first NE16 layer reads it signed (``input_signed``:
  ``u8 = s8 + 128`` and the bias correction, :mod:`kernels.ne16.conv`);
- NE16 conv with ReLU -> u8, ``n = floor(log2(255 / max y))``; the fc (logits, no ReLU) -> int8,
  ``n = floor(log2(127 / max |y|))``; pools keep their input's format;
- weights: :func:`edgesed.ne16.search.quantize_ne16` (stored unsigned, ``Wmin = -2**(b-1)``, a float
  scale ``s_w[c]`` per output channel);
- normquant (8-bit scale, per-layer shift ``S``): the layer must compute
  ``y_q = acc * s_in * s_w[c] / s_out + b / s_out``, so
  ``scale[c] = round(s_in * s_w[c] / s_out * 2**S)`` and
  ``bias[c] = round(b[c] / s_out * 2**S) + 2**(S-1)`` (the ``2**(S-1)`` makes NE16's floor
  shift round to nearest). ``S`` is the largest shift in [0, 31] whose scales fit 8 bits and whose
  calibrated ``|acc * scale| + |bias|`` stays below 2**30 (NE16 wraps ``acc * scale`` to 32 bits
  before the bias add);
- GRU (cluster, nnom q7 cell with q15 state): its q7 input is the u8 map ``>> 1``, so
  ``n_i = n_pool - 1``; ``W``/``U``/biases power-of-two q7 (PyTorch gates r, z, n reordered to
  nnom's z, r, h; the z/r recurrent biases folded into the input bias, exact, as
  :mod:`edgesed.quantize` does); gate pre-activations in ``Q3.4`` (``act_int_width = 3``: q15
  ``[-8, 8)``, where sigmoid and tanh are already saturated); output Q0.7;
- the net's per-step sigmoid is replaced by ``NE16_GLOBAL_MAXPOOL`` over time: the graph outputs
  clip-level int8 logits ``(classes,)`` (the max of per-frame logits is the logit of the max
  per-frame sigmoid posterior), which the stream turns into posteriors like any model's.

:func:`quantize_dcrnn` also reports the float-vs-integer agreement: SQNR of the clip logits (the
engine's output dequantized vs the float model with float weights, GRU state from zero per patch
as in the float batch) and top-1 agreement.

API: :func:`frontend_patches`, :func:`quantize_dcrnn` -> ``(Graph, Ne16QuantReport)``,
:func:`agreement`, :func:`dcrnn_graph` (random-weight model at given bits, the
``"dcrnn-ne16"`` built-in).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from edgesed.errors import ConfigError
from edgesed.graph import Graph, Node, Op, QFormat, TensorSpec, validate
from edgesed.graph_ne16 import Ne16ConvArgs, Ne16GlobalPoolArgs, Ne16GruArgs, Ne16PoolArgs
from edgesed.ne16.layers import Kind

__all__ = ["frontend_patches", "quantize_dcrnn", "agreement", "dcrnn_graph", "Ne16QuantReport",
           "INPUT_Q", "GATE_Q"]

INPUT_Q = QFormat(4)     #: the fixed frontend's default patch format (Q3.4)
GATE_Q = QFormat(4)      #: GRU gate pre-activations: q15 Q3.12, act_int_width 3
_ACC_LIMIT = 2.0 ** 30   #: headroom for acc * scale + bias in NE16's 32-bit bias path


@dataclass
class Ne16QuantReport:
    """Per-layer choices and the float-vs-integer agreement of :func:`quantize_dcrnn`."""

    layers: list            # dicts: name, kind, bits, frac_bits (output), shift, scale range
    sqnr_db: float          # clip logits, integer vs float (float weights)
    top1_agreement: float
    n_patches: int

    def render(self) -> str:
        lines = [f"{'layer':<6} {'kind':<8} {'bits':>4} {'out Q.n':>7} {'shift':>5}  scale"]
        for l in self.layers:
            lines.append(f"{l['name']:<6} {l['kind']:<8} {l.get('bits', ''):>4} "
                         f"{l['frac_bits']:>7} {l.get('shift', ''):>5}  {l.get('scale', '')}")
        lines.append(f"clip-logit SQNR {self.sqnr_db:.2f} dB, top-1 agreement "
                     f"{self.top1_agreement:.0%} over {self.n_patches} patches (integer engine "
                     "vs float weights)")
        return "\n".join(lines)


def frontend_patches(n_clips: int = 2, seed: int = 0, n_frames: int = 96,
                     classes=("siren", "alarm_beep", "engine_idle", "clap_knock", "drilling",
                              "car_horn", "whistle", "smoke_alarm")) -> np.ndarray:
    """int8 ``(N, n_frames, 64, 1)`` Q3.4 patches of SYNTHETIC clips through the *fixed*
    frontend (what the stream feeds the engine), non-overlapping, 3.84 s per clip."""
    from edgesed.datasets.synthetic import make_dataset
    from edgesed.frontend import make_frontend

    fe = make_frontend("fixed", input_q=INPUT_Q)
    patches = []
    for j in range(n_clips):
        label = classes[j % len(classes)]
        clip = make_dataset(1, seed=seed + j // len(classes), classes=[label])[0]
        fe.reset()
        mel = np.array(fe.push(clip.audio.astype(np.float32)), np.int8)
        for s in range(0, mel.shape[0] - n_frames + 1, n_frames):
            patches.append(mel[s:s + n_frames])
    return np.stack(patches)[..., None].astype(np.int8)


def _frac(max_abs: float, levels: int) -> int:
    """Largest n with ``max_abs * 2**n <= levels`` (clamped to [-16, 31])."""
    if max_abs <= 0:
        return 31
    return int(min(31, max(-16, math.floor(math.log2(levels / max_abs)))))


def _q(values, n: int, lo: int, hi: int) -> np.ndarray:
    v = np.floor(np.asarray(values, np.float64) * 2.0 ** n + 0.5)
    return np.ascontiguousarray(np.clip(v, lo, hi))


def _normquant(s_in, s_w, s_out, b, acc_max, scale_bits=8):
    """(scale uint, bias int32, shift) of one layer (module docstring)."""
    m = s_in * np.asarray(s_w, np.float64) / s_out
    top = (1 << scale_bits) - 1
    for shift in range(31, -1, -1):
        scale = np.floor(m * 2.0 ** shift + 0.5)
        bias = np.floor(np.asarray(b, np.float64) / s_out * 2.0 ** shift + 0.5)
        bias += (1 << (shift - 1)) if shift else 0
        if scale.max() <= top and np.max(acc_max * scale + np.abs(bias)) < _ACC_LIMIT:
            return scale, bias, shift
    raise ConfigError(f"no normquant shift fits: scale ratio {float(m.max()):.3g} needs more than "
                      f"{scale_bits} bits at shift 0; raise scale_bits or the output format")


def _reorder_gates(m, h):
    """PyTorch gate blocks (r, z, n) along axis 0 -> nnom's (z, r, h)."""
    return np.concatenate([m[h:2 * h], m[:h], m[2 * h:]], axis=0)


def _gru(layer, p, n_i, nodes, params, prev, info):
    h = layer.out_shape[2]
    w = _reorder_gates(np.asarray(p["W"], np.float64).T, h)       # (3h, I)
    u = _reorder_gates(np.asarray(p["U"], np.float64).T, h)       # (3h, h)
    b = _reorder_gates(np.asarray(p["b_ih"], np.float64), h)
    rb = _reorder_gates(np.asarray(p["b_hh"], np.float64), h)
    b[:2 * h] += rb[:2 * h]
    rb[:2 * h] = 0.0
    n_w = max(_frac(np.abs(w).max(), 127), GATE_Q.frac_bits - n_i)
    n_u = _frac(np.abs(u).max(), 127)
    n_b = min(_frac(np.abs(b).max(), 127), n_i + n_w, 15)
    n_b = max(n_b, n_i + n_w - 16)
    while n_b > n_i + n_w - 16 and np.abs(rb).max() * 2.0 ** (n_b + n_u - n_i - n_w + 7) > 127:
        n_b -= 1
    name = layer.name
    params[f"{name}.weight"] = _q(w, n_w, -128, 127).astype(np.int8)
    params[f"{name}.recurrent"] = _q(u, n_u, -128, 127).astype(np.int8)
    params[f"{name}.bias"] = _q(b, n_b, -128, 127).astype(np.int8)
    params[f"{name}.recurrent_bias"] = _q(rb, n_b + n_u - n_i - n_w + 7, -128, 127).astype(np.int8)
    nodes.append(Node(Op.NE16_GRU, name, prev, TensorSpec(layer.out_shape, QFormat(7), "int8"),
                      Ne16GruArgs(h, GATE_Q, QFormat(n_u), 1), QFormat(n_w), QFormat(n_b)))
    info.append({"name": name, "kind": "gru", "frac_bits": 7,
                 "scale": f"W Q.{n_w} U Q.{n_u} b Q.{n_b} gates {GATE_Q}"})


def _conv(layer, model, a, s_in, in_signed, bits, nodes, params, prev, info):
    """One NE16 layer: returns (next float activation, its frac bits, its dtype)."""
    from edgesed.ne16.search import quantize_ne16
    from kernels.ne16.packing import pack_weights

    p = model.params[layer.name]
    w_u, wmin, s_w = quantize_ne16(p["w"], bits)
    w_fq = ((w_u.astype(np.float64) + wmin) * s_w).astype(np.float32)
    lin = model._layer(dataclasses.replace(layer, relu=False), a, w_fq).astype(np.float64)
    y = np.maximum(lin, 0) if layer.relu else lin
    acc_max = (np.abs(lin - p["b"]).reshape(-1, lin.shape[-1]).max(axis=0)
               / (s_in * np.asarray(s_w, np.float64)))
    n_out = _frac(np.abs(y).max(), 255 if layer.relu else 127)
    scale, bias, shift = _normquant(s_in, s_w, 2.0 ** -n_out, p["b"], 2 * acc_max)
    if layer.kind is Kind.CONV3X3:
        w4 = np.ascontiguousarray(w_u.transpose(3, 0, 1, 2))       # (Cout, 3, 3, Cin)
        dh, dw = layer.dilation
        mode, pads = "3x3", (dh, dw, dh, dw)
    else:
        w4 = np.ascontiguousarray(w_u.T[:, None, None, :])          # (Cout, 1, 1, Cin)
        mode, pads = "1x1", (0, 0, 0, 0)
    name = layer.name
    params[f"{name}.weight"] = pack_weights(w4, bits, mode)
    params[f"{name}.scale"] = scale.astype(np.uint8)
    params[f"{name}.bias"] = np.clip(bias, -2**31, 2**31 - 1).astype(np.int32)
    args = Ne16ConvArgs(layer.out_shape[2], mode, bits, int(wmin), layer.stride,
                        tuple(layer.dilation), pads, 8, False, int(shift), bool(layer.relu),
                        bool(in_signed))
    dtype = "uint8" if layer.relu else "int8"
    nodes.append(Node(Op.NE16_CONV, name, prev, TensorSpec(layer.out_shape, QFormat(n_out),
                                                           dtype), args))
    info.append({"name": name, "kind": mode, "bits": bits, "frac_bits": n_out, "shift": shift,
                 "scale": f"[{int(scale.min())}, {int(scale.max())}]"})
    lo, hi = (0, 255) if layer.relu else (-128, 127)
    return (_q(y, n_out, lo, hi) * 2.0 ** -n_out).astype(np.float32), n_out, dtype


def quantize_dcrnn(model, calib: np.ndarray, bits=8, *, name: str = "dcrnn-ne16",
                   labels=(), measure: bool = True):
    """Quantize a :class:`~edgesed.ne16.crnn.FloatModel` of :func:`~edgesed.ne16.crnn.dcrnn_net`
    shape to a validated NE16 :class:`~edgesed.graph.Graph`.

    Parameters
    ----------
    model : FloatModel
        Conv3x3 (stride 1, any time dilation) + maxpool blocks, a GRU, an FC and a sigmoid.
    calib : np.ndarray [shape=(N, H, 64, 1), dtype=int8]
        Frontend patches in Q3.4 (:func:`frontend_patches`).
    bits : int in 2..8 or dict name -> bits
        Weight bits of the NE16 layers (e.g. ``search.search(...).bits``).
    measure : bool
        Run the engine on ``calib`` to fill the report's SQNR and top-1 agreement.

    Returns
    -------
    graph : Graph
    report : Ne16QuantReport
    """
    net = model.net.with_bits(bits)
    calib = np.asarray(calib)
    if calib.dtype != np.int8 or calib.ndim != 4 or calib.shape[1:] != net.layers[0].in_shape:
        raise ConfigError(f"calib must be int8 (N, {', '.join(map(str, net.layers[0].in_shape))}) "
                          f"frontend patches, got {calib.dtype} {calib.shape}")
    n, s, signed = INPUT_Q.frac_bits, 2.0 ** -INPUT_Q.frac_bits, True
    a = calib.astype(np.float32) * np.float32(s)
    nodes, params, info, prev = [], {}, [], "input"
    for layer in net.layers:
        if layer.on_ne16:
            a, n, dtype = _conv(layer, model, a, s, signed, layer.bits, nodes, params, prev, info)
            s, signed = 2.0 ** -n, dtype == "int8"
        elif layer.kind is Kind.MAXPOOL:
            a = model._layer(layer, a)
            spec = nodes[-1].output
            nodes.append(Node(Op.NE16_MAXPOOL, layer.name, prev,
                              TensorSpec(layer.out_shape, spec.q, spec.dtype),
                              Ne16PoolArgs(tuple(layer.pool))))
            info.append({"name": layer.name, "kind": "maxpool", "frac_bits": n})
        elif layer.kind is Kind.GRU:
            a = (np.floor(a * 2.0 ** n / 2) * 2.0 ** (1 - n)).astype(np.float32)   # u8 >> 1
            _gru(layer, model.params[layer.name], n - 1, nodes, params, prev, info)
            a = _q(model._layer(layer, a), 7, -128, 127).astype(np.float32) / 128
            n, s, signed = 7, 2.0 ** -7, True
        elif layer.kind is Kind.SIGMOID and layer is net.layers[-1]:
            spec = nodes[-1].output
            nodes.append(Node(Op.NE16_GLOBAL_MAXPOOL, layer.name, prev,
                              TensorSpec((spec.shape[-1],), spec.q, spec.dtype),
                              Ne16GlobalPoolArgs()))
            info.append({"name": layer.name, "kind": "timemax", "frac_bits": n})
        else:
            raise ConfigError(f"layer {layer.name!r} ({layer.kind.value}) has no NE16 mapping "
                              "here; quantize_dcrnn takes conv3x3/fc, maxpool, GRU, final sigmoid")
        prev = layer.name
    graph = Graph(name, TensorSpec(net.layers[0].in_shape, INPUT_Q, "int8"), tuple(nodes), params,
                  labels)
    validate(graph)
    report = Ne16QuantReport(info, float("nan"), float("nan"), int(calib.shape[0]))
    if measure:
        report.sqnr_db, report.top1_agreement = agreement(graph, model, calib)
    return graph, report


def agreement(graph, model, patches):
    """(SQNR dB, top-1 agreement) of the engine's clip logits on int8 ``patches`` vs the float
    model's (float weights; the max over time of its per-step logits). The engine's GRU state
    is zeroed before each patch, as the float batch starts every patch from ``h = 0``."""
    calib = patches
    from edgesed.engine import Engine

    stop = len(model.net.layers) - 1 if model.net.layers[-1].kind is Kind.SIGMOID else None
    ref = model.forward(calib.astype(np.float32) * np.float32(2.0 ** -INPUT_Q.frac_bits),
                        stop=stop).astype(np.float64)
    ref = ref.reshape(ref.shape[0], -1, ref.shape[-1]).max(axis=1)
    eng = Engine(graph)
    out = []
    for patch in calib:
        eng.reset_state()
        out.append(eng.run(patch).astype(np.float64) * 2.0 ** -graph.output.q.frac_bits)
    out = np.array(out)
    err = ((out - ref) ** 2).sum()
    sqnr = 10 * math.log10((ref ** 2).sum() / err) if err > 0 else math.inf
    return sqnr, float((out.argmax(axis=1) == ref.argmax(axis=1)).mean())


def dcrnn_graph(bits=8, *, seed: int = 0, n_frames: int = 96, n_clips: int = 2,
                measure: bool = False):
    """The random-weight Dilated CRNN (:func:`edgesed.ne16.crnn.float_model`, NOT trained) as an
    NE16 graph at ``bits``, calibrated on :func:`frontend_patches` (``"dcrnn-ne16"``).

    Returns ``(graph, report)``."""
    from edgesed.ne16.crnn import dcrnn_net, float_model

    net = dcrnn_net(n_frames=n_frames)
    model = float_model(net, seed)
    calib = frontend_patches(n_clips, seed, n_frames)
    labels = tuple(f"class_{i:02d}" for i in range(net.layers[-1].out_shape[-1]))
    return quantize_dcrnn(model, calib, bits, labels=labels, measure=measure)
