"""Write an int8 edgesed graph (:mod:`edgesed.graph_s8`) as a ``.tflite`` model TFLite Micro runs.

:func:`to_tflite` maps each layer to the builtin operator TFLite's converter would write:

==================  ======================  ================================================
edgesed op          TFLite operator         notes
==================  ======================  ================================================
``CONV_S8``         ``CONV_2D``             filter (O, KH, KW, I/g) per-channel, axis 0
``DEPTHWISE_S8``    ``DEPTHWISE_CONV_2D``   filter (1, KH, KW, I*m) per-channel, axis 3
``DENSE_S8``        ``FULLY_CONNECTED``     filter (O, N), per tensor or per channel
``MAXPOOL_S8``      ``MAX_POOL_2D``
``AVGPOOL_S8``      ``AVERAGE_POOL_2D``
``SOFTMAX_S8``      ``SOFTMAX``             beta
``RESHAPE``         ``RESHAPE``             the new shape as an int32 constant input
``LSTM_S8``         ``UNIDIRECTIONAL_       24 inputs: 8 per-tensor int8 weights, 4 int32
                    SEQUENCE_LSTM``         biases, variable h (int8) and c (int16) tensors;
                                            no peephole, projection or layer norm (-1);
                                            batch-major, TANH cell gate, ``cell_clip``
==================  ======================  ================================================

Every activation gets a leading batch dimension of 1. Padding must be what TFLite can say:
VALID (none) or SAME (:func:`edgesed.graph_s8.same_padding` of the layer's geometry); a fused
activation must be NONE, RELU, RELU6 or RELU_N1_TO_1 as TFLM derives them from the output
format. 4-bit layers are written with int4 filters (packed two per byte). Anything else is
refused with the layer named.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesed.errors import ConfigError
from edgesed.graph import Graph, Op, validate
from edgesed.graph_s8 import S8_OPS, act_range, same_padding
from edgesed.tflite.builder import ModelBuilder

__all__ = ["to_tflite", "save_tflite"]

_OPS = {Op.CONV_S8: "CONV_2D", Op.DEPTHWISE_S8: "DEPTHWISE_CONV_2D",
        Op.DENSE_S8: "FULLY_CONNECTED", Op.MAXPOOL_S8: "MAX_POOL_2D",
        Op.AVGPOOL_S8: "AVERAGE_POOL_2D", Op.SOFTMAX_S8: "SOFTMAX", Op.RESHAPE: "RESHAPE",
        Op.LSTM_S8: "UNIDIRECTIONAL_SEQUENCE_LSTM"}


def _activation(node) -> str:
    q = node.output.q
    have = (node.args.act_min, node.args.act_max)
    for name in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        if act_range(name, q.scale[0], q.zero_point) == have:
            return name
    raise ConfigError(f"layer {node.name!r}: activation range {have} is none of TFLite's fused "
                      f"activations for output {q}; a .tflite file cannot say it")


def _padding(graph: Graph, node) -> str:
    a = node.args
    if a.padding == (0, 0) and a.pad_extra == (0, 0):
        return "VALID"
    in_hw = graph.input_of(node).shape[:2]
    _, pad, extra = same_padding(in_hw, a.kernel, a.stride, getattr(a, "dilation", (1, 1)))
    if (pad, extra) == (tuple(a.padding), tuple(a.pad_extra)):
        return "SAME"
    raise ConfigError(f"layer {node.name!r}: padding {a.padding} + {a.pad_extra} is neither VALID "
                      f"nor TFLite's SAME {pad} + {extra} for this geometry; TFLite would need a "
                      "separate PAD operator, which edgesed does not write")


def _activation_tensor(b: ModelBuilder, spec, name: str) -> int:
    return b.tensor((1, *spec.shape), "int8", scale=spec.q.scale[0],
                    zero_point=spec.q.zero_point, name=name)


def _weights(b: ModelBuilder, graph: Graph, node, in_spec) -> tuple[int, int]:
    w = graph.params[f"{node.name}.weight"]
    a, wq = node.args, node.weight_q
    channels = node.output.shape[-1]
    dtype = "int4" if a.weight_bits == 4 else "int8"
    axis = 0
    if node.op is Op.DEPTHWISE_S8:
        w, axis = w[None], 3
    w_id = b.const(w, dtype=dtype, scale=list(wq.scale), zero_point=0, quantized_dimension=axis,
                   name=f"{node.name}/weight")
    s_in = np.float64(in_spec.q.scale[0])
    scales = np.asarray(wq.scale * (channels if len(wq.scale) == 1 else 1), np.float64)
    bias_scales = list(s_in * scales) if len(wq.scale) > 1 else [float(s_in * scales[0])]
    b_id = b.const(graph.params[f"{node.name}.bias"], scale=bias_scales, zero_point=0,
                   name=f"{node.name}/bias")
    return w_id, b_id


def _lstm(b: ModelBuilder, graph: Graph, node, x: int, y: int, in_spec) -> None:
    """The 24-input ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (TFLite's input order: x; input-to-gate
    weights I, F, C, O; recurrent weights I, F, C, O; 3 peepholes; gate biases; projection
    weight and bias; output state h; cell state c; 4 layer-norm coefficients)."""
    a, p, n = node.args, graph.params, node.name
    sx = list(node.weight_q.scale) * (4 if len(node.weight_q.scale) == 1 else 1)
    sh = list(a.recurrent_scale) * (4 if len(a.recurrent_scale) == 1 else 1)
    gates = "ifco"
    s_in = np.float64(in_spec.q.scale[0])
    ids = [x]
    ids += [b.const(p[f"{n}.weight"][g], scale=sx[g], zero_point=0,
                    name=f"{n}/input_to_{gates[g]}") for g in range(4)]
    ids += [b.const(p[f"{n}.recurrent"][g], scale=sh[g], zero_point=0,
                    name=f"{n}/recurrent_to_{gates[g]}") for g in range(4)]
    ids += [-1, -1, -1]
    ids += [b.const(p[f"{n}.bias"][g], scale=float(s_in * np.float64(sx[g])), zero_point=0,
                    name=f"{n}/{gates[g]}_bias") for g in range(4)]
    ids += [-1, -1]
    hq = node.output.q
    ids.append(b.tensor((1, a.units), "int8", scale=hq.scale[0], zero_point=hq.zero_point,
                        name=f"{n}/hidden_state", variable=True))
    ids.append(b.tensor((1, a.units), "int16", scale=a.cell_scale, zero_point=0,
                        name=f"{n}/cell_state", variable=True))
    ids += [-1, -1, -1, -1]
    # The five intermediates the converter writes (TFLite's integer LSTM Prepare requires them;
    # TFLM ignores them): the gate pre-activations at Q3.12 and the hidden state before a
    # projection, here the output's format. Without layer norm or projection none is read.
    mids = [b.tensor((0,), "int16", scale=2.0 ** -12, zero_point=0,
                     name=f"{n}/intermediate_{g}") for g in gates]
    mids.append(b.tensor((0,), "int8", scale=hq.scale[0], zero_point=hq.zero_point,
                         name=f"{n}/intermediate_hidden"))
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ids, [y], fused_activation_function="TANH",
         cell_clip=float(a.cell_clip), time_major=False, intermediates=mids)


def to_tflite(graph: Graph, description: str = "edgesed") -> bytes:
    """The ``.tflite`` flatbuffer of an int8 graph; ConfigError names a layer it cannot write."""
    validate(graph)
    other = [n.name for n in graph.nodes if n.op not in S8_OPS]
    if other:
        raise ConfigError(f"graph {graph.name!r} has layers that are not int8 TFLite layers: "
                          f"{other}; only graphs of {sorted(o.value for o in _OPS)} export to "
                          ".tflite (q7 graphs export to C with `edgesed export --c`)")
    b = ModelBuilder(description)
    x = _activation_tensor(b, graph.input, "input")
    first, spec = x, graph.input
    for node in graph.nodes:
        y = _activation_tensor(b, node.output, node.name)
        name, a = _OPS[node.op], node.args
        if node.op in (Op.CONV_S8, Op.DEPTHWISE_S8):
            w_id, b_id = _weights(b, graph, node, spec)
            opts = dict(padding=_padding(graph, node), stride_h=a.stride[0], stride_w=a.stride[1],
                        dilation_h_factor=a.dilation[0], dilation_w_factor=a.dilation[1],
                        fused_activation_function=_activation(node))
            if node.op is Op.DEPTHWISE_S8:
                opts["depth_multiplier"] = a.ch_mult
            b.op(name, [x, w_id, b_id], [y], **opts)
        elif node.op is Op.DENSE_S8:
            w_id, b_id = _weights(b, graph, node, spec)
            b.op(name, [x, w_id, b_id], [y], fused_activation_function=_activation(node))
        elif node.op in (Op.MAXPOOL_S8, Op.AVGPOOL_S8):
            b.op(name, [x], [y], padding=_padding(graph, node), stride_h=a.stride[0],
                 stride_w=a.stride[1], filter_height=a.kernel[0], filter_width=a.kernel[1],
                 fused_activation_function=_activation(node))
        elif node.op is Op.SOFTMAX_S8:
            b.op(name, [x], [y], beta=float(a.beta))
        elif node.op is Op.LSTM_S8:
            _lstm(b, graph, node, x, y, spec)
        else:
            shape = b.const(np.array((1, *node.output.shape), np.int32),
                            name=f"{node.name}/shape")
            b.op(name, [x, shape], [y], new_shape=[1, *node.output.shape])
        x, spec = y, node.output
    b.set_io([first], [x])
    return b.finish()


def save_tflite(graph: Graph, path) -> Path:
    """Write :func:`to_tflite` of ``graph`` to ``path`` and return the path."""
    path = Path(path)
    path.write_bytes(to_tflite(graph, description=f"edgesed {graph.name}"))
    return path
