"""A float (numpy, float64) executor for the sequential graphs of :mod:`edgesed.graph`.

A :class:`FloatGraph` is the float twin of a :class:`~edgesed.graph.Graph`: the same
:class:`~edgesed.graph.Node` objects (op, name, input, output shape, arguments, activation) with
float parameters (``"<layer>.weight"``, ``"<layer>.bias"``, ``"<layer>.recurrent"``, same shapes
and layouts as the int8 graph). Every format on the nodes (``output.q``, ``weight_q``, ``bias_q``,
``RnnArgs.sum_q`` / ``recurrent_q``, ``GruArgs.gate_q`` / ``recurrent_q``) is ignored here; :func:`edgesed.quantize.quantize` fills
them in. The ops are the real-valued meaning of the q7 kernels::

    conv2d   y[oy, ox, o] = b[o] + sum_{i, j, c} x_pad[oy*sy + i, ox*sx + j, c] * w[o, i, j, c]
    maxpool  max over the window's valid taps (padding never wins)
    avgpool  mean over the window's valid taps (CMSIS divides by the count of valid taps)
    dense    y = w @ x.reshape(-1) + b          (HWC flattening, as the arena holds it)
    rnn      h = act(w @ x + b + u @ h_prev)    (vanilla cell, tanh or sigmoid; h_prev = 0 first)
    gru      mx = w @ x + b, mh = u @ h_prev + rb (rows z, r, h; ``rb`` = ``recurrent_bias``)
             z = sigmoid(mx_z + mh_z), r = sigmoid(mx_r + mh_r), hh = tanh(mx_h + r * mh_h)
             h = z * h_prev + (1 - z) * hh      (nnom's cell = ONNX linear_before_reset=1)
    relu     fused after conv2d / dense

API map
-------
- :class:`FloatGraph`, :meth:`FloatGraph.from_graph` (dequantize an int8 graph)
- :func:`make_nodes` — nodes with inferred shapes and placeholder formats
- :func:`validate_float` — shapes, parameter shapes, finite float parameters
- :func:`run` — ``(outputs per layer, new_state)``; RNN/GRU state carried through ``state``
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from edgesed.errors import ConfigError, ShapeError
from edgesed.graph import (Activation, Graph, GruArgs, Node, Op, QFormat, RnnArgs, TensorSpec,
                           _infer_shape, _param_shapes, conv_out_hw, gru_recurrent_bias_frac)

__all__ = ["FloatGraph", "make_nodes", "validate_float", "run"]

_PLACEHOLDER = QFormat(7)


@dataclass(frozen=True)
class FloatGraph:
    """A float sequential network: input shape, layers (formats ignored), float parameters."""

    name: str
    input_shape: tuple[int, ...]
    nodes: tuple[Node, ...]
    params: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __repr__(self) -> str:
        lines = [f"FloatGraph {self.name!r}: input {self.input_shape}"]
        lines += [f"  {n.name}: {n.op.value}({n.input}) -> {n.output.shape}"
                  + (f" +{n.activation.value}" if n.activation is not Activation.NONE else "")
                  for n in self.nodes]
        return "\n".join(lines)

    @classmethod
    def from_graph(cls, graph: Graph) -> "FloatGraph":
        """The float graph an int8 graph represents: every parameter times ``2**-n``."""
        params = {}
        for node in graph.nodes:
            fmts = {"weight": node.weight_q, "bias": node.bias_q}
            if node.op in (Op.RNN, Op.GRU):
                fmts["recurrent"] = node.args.recurrent_q
            if node.op is Op.GRU:     # a scale, possibly outside a QFormat's 0..15
                fmts["recurrent_bias"] = QFormat(gru_recurrent_bias_frac(graph, node))
            for key, q in fmts.items():
                name = f"{node.name}.{key}"
                if name in graph.params:
                    params[name] = graph.params[name].astype(np.float64) * 2.0 ** -q.frac_bits
        return cls(graph.name, graph.input.shape, graph.nodes, params)


def make_nodes(input_shape, layers) -> tuple[Node, ...]:
    """Chain ``layers`` = ``[(op, name, args[, activation]), ...]`` into nodes.

    Each node reads the previous one, gets its output shape inferred as :func:`validate` does,
    and carries placeholder Q0.7 formats (a float graph ignores them). RNN and GRU args may be
    given as an ``int`` (the number of units).
    """
    nodes, prev, shape = [], "input", tuple(input_shape)
    for layer in layers:
        op, name, args = layer[:3]
        act = layer[3] if len(layer) > 3 else Activation.NONE
        if op is Op.RNN and isinstance(args, int):
            args = RnnArgs(args, _PLACEHOLDER, _PLACEHOLDER)
        if op is Op.GRU and isinstance(args, int):
            args = GruArgs(args, _PLACEHOLDER, _PLACEHOLDER)
        weighted = op in (Op.CONV2D, Op.DENSE, Op.RNN, Op.GRU)
        probe = Node(op, name, prev, TensorSpec(shape, _PLACEHOLDER), args)
        shape = _infer_shape(probe, shape)
        nodes.append(Node(op, name, prev, TensorSpec(shape, _PLACEHOLDER), args,
                          _PLACEHOLDER if weighted else None, _PLACEHOLDER if weighted else None,
                          act))
        prev = name
    return tuple(nodes)


def validate_float(fg: FloatGraph) -> None:
    """Check a float graph: a named sequential chain, inferred shapes, float finite parameters."""
    if not fg.nodes:
        raise ConfigError(f"float graph {fg.name!r} has no layers")
    names = [n.name for n in fg.nodes]
    if len(set(names)) != len(names) or "input" in names:
        raise ConfigError(f"layer names must be unique and not 'input': {names}")
    prev, shape = "input", fg.input_shape
    for node in fg.nodes:
        if node.input != prev:
            raise ConfigError(f"layer {node.name!r} reads {node.input!r}; a sequential graph "
                              f"must read the previous layer {prev!r}")
        want = _infer_shape(node, shape)
        if tuple(node.output.shape) != want:
            raise ShapeError(f"layer {node.name!r}: declared output shape {node.output.shape} "
                             f"but the input {shape} and arguments give {want}")
        for key, pshape in _param_shapes(node, shape).items():
            arr = fg.params.get(f"{node.name}.{key}")
            if arr is None:
                raise ConfigError(f"layer {node.name!r} has no parameter {node.name}.{key}")
            arr = np.asarray(arr)
            if arr.dtype.kind != "f" or tuple(arr.shape) != pshape:
                raise ShapeError(f"parameter {node.name}.{key}: dtype {arr.dtype} shape "
                                 f"{arr.shape}, expected float {pshape}")
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"parameter {node.name}.{key} has NaN or inf values; "
                                  "retrain or clip the model before quantizing")
        if node.op is Op.RNN and node.activation not in (Activation.TANH, Activation.SIGMOID):
            raise ConfigError(f"layer {node.name!r}: an RNN takes tanh or sigmoid, not "
                              f"{node.activation.value!r}")
        if node.op is Op.GRU and node.activation is not Activation.NONE:
            raise ConfigError(f"layer {node.name!r}: a GRU's sigmoid/tanh gates are part of the "
                              f"cell; give activation 'none', not {node.activation.value!r}")
        prev, shape = node.name, want


def _conv(x, w, b, stride, pad):
    x = np.pad(x, ((pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[1:3], axis=(0, 1))
    win = win[::stride[0], ::stride[1]]                          # (oh, ow, c, kh, kw)
    return np.einsum("yxcij,oijc->yxo", win, w) + b


def _pool(x, kind, k, s, p):
    oh, ow = conv_out_hw(x.shape[:2], k, s, p)
    pad = ((p[0], p[0]), (p[1], p[1]), (0, 0))
    if kind == "max":
        xp = np.pad(x, pad, constant_values=-np.inf)
        win = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(0, 1))
        return win[::s[0], ::s[1]][:oh, :ow].max(axis=(3, 4))
    xs = np.lib.stride_tricks.sliding_window_view(np.pad(x, pad), k, axis=(0, 1))
    ones = np.pad(np.ones(x.shape[:2] + (1,)), pad)
    cnt = np.lib.stride_tricks.sliding_window_view(ones, k, axis=(0, 1))
    total = xs[::s[0], ::s[1]][:oh, :ow].sum(axis=(3, 4))
    return total / cnt[::s[0], ::s[1]][:oh, :ow].sum(axis=(3, 4))


def _act(v, activation: Activation):
    if activation is Activation.RELU:
        return np.maximum(v, 0.0)
    if activation is Activation.TANH:
        return np.tanh(v)
    if activation is Activation.SIGMOID:
        return 1.0 / (1.0 + np.exp(-v))
    return v


def run(fg: FloatGraph, x: np.ndarray, state: dict | None = None, *,
        intermediates: dict | None = None):
    """Run one input through ``fg`` in float64.

    Parameters
    ----------
    fg : FloatGraph
    x : np.ndarray [shape=fg.input_shape, dtype=float]
    state : dict, optional
        ``{rnn/gru layer name: h_prev (units,)}``; missing layers start from zeros.
    intermediates : dict, optional
        If given, filled with each RNN layer's partial sums: ``"<rnn>.iw"`` (``w @ x + b``),
        ``"<rnn>.hw"`` (``u @ h_prev``) and ``"<rnn>.sum"`` (their sum, the activation's input);
        for each GRU ``"<gru>.iw"`` (``mx``, 3*units), ``"<gru>.hw"`` (``mh``) and
        ``"<gru>.gates"`` (the pre-activations of z, r and hh, 3*units).

    Returns
    -------
    outputs : dict [layer name -> np.ndarray float64]
    new_state : dict [rnn/gru layer name -> np.ndarray float64]
    """
    x = np.asarray(x)
    if x.shape != fg.input_shape or x.dtype.kind != "f":
        raise ShapeError(f"input is {x.dtype} {x.shape}; {fg.name!r} takes float "
                         f"{fg.input_shape}")
    x = x.astype(np.float64)
    state = {k: np.asarray(v, np.float64) for k, v in (state or {}).items()}
    p = {k: np.asarray(v, np.float64) for k, v in fg.params.items()}
    outputs = {}
    for node in fg.nodes:
        a, name = node.args, node.name
        if node.op is Op.CONV2D:
            x = _conv(x, p[f"{name}.weight"], p[f"{name}.bias"], a.stride, a.padding)
        elif node.op in (Op.MAXPOOL, Op.AVGPOOL):
            x = _pool(x, "max" if node.op is Op.MAXPOOL else "avg", a.kernel, a.stride, a.padding)
        elif node.op is Op.DENSE:
            x = p[f"{name}.weight"] @ x.reshape(-1) + p[f"{name}.bias"]
        elif node.op is Op.RNN:
            h = state.get(name, np.zeros(a.units))
            iw = p[f"{name}.weight"] @ x.reshape(-1) + p[f"{name}.bias"]
            hw = p[f"{name}.recurrent"] @ h
            if intermediates is not None:
                intermediates.update({f"{name}.iw": iw, f"{name}.hw": hw,
                                      f"{name}.sum": iw + hw})
            x = iw + hw
        elif node.op is Op.GRU:
            x = _gru(p, name, a.units, x, state.get(name, np.zeros(a.units)), intermediates)
        else:
            raise ConfigError(f"layer {name!r}: unknown op {node.op!r}")
        x = _act(x, node.activation)
        if node.op in (Op.RNN, Op.GRU):
            state[name] = x.copy()
        outputs[name] = x
    return outputs, state



def _gru(p, name, u, x, h, intermediates):
    mx = p[f"{name}.weight"] @ x.reshape(-1) + p[f"{name}.bias"]
    mh = p[f"{name}.recurrent"] @ h + p[f"{name}.recurrent_bias"]
    pre_zr = mx[:2 * u] + mh[:2 * u]
    z, r = _act(pre_zr[:u], Activation.SIGMOID), _act(pre_zr[u:], Activation.SIGMOID)
    pre_h = mx[2 * u:] + r * mh[2 * u:]
    if intermediates is not None:
        intermediates.update({f"{name}.iw": mx, f"{name}.hw": mh,
                              f"{name}.gates": np.concatenate([pre_zr, pre_h])})
    return z * h + (1.0 - z) * np.tanh(pre_h)
