"""Import an int8 ``.tflite`` model into edgesed's graph IR (:mod:`edgesed.graph_s8` layers).

:func:`import_tflite` reads the file (:func:`edgesed.tflite.reader.read_tflite`: corrupt, float
and mixed-type files are refused there), refuses operators edgesed has no kernel for (listing
all of them at once), and maps each operator onto one layer:

==========================  ====================  ==============================================
TFLite operator             edgesed op            from the file
==========================  ====================  ==============================================
``CONV_2D``                 ``CONV_S8``           filter (O,KH,KW,I/g), int8 or int4; groups
``DEPTHWISE_CONV_2D``       ``DEPTHWISE_S8``      filter (1,KH,KW,I*m), depth multiplier
``FULLY_CONNECTED``         ``DENSE_S8``          filter (O,N); per-tensor or per-channel
``MAX_POOL_2D``             ``MAXPOOL_S8``
``AVERAGE_POOL_2D``         ``AVGPOOL_S8``
``SOFTMAX``                 ``SOFTMAX_S8``        beta
``RESHAPE``, ``SQUEEZE``    ``RESHAPE``           the output tensor's shape
``UNIDIRECTIONAL_SEQUENCE_  ``LSTM_S8``           8 int8 weights (per tensor), 4 int32 biases,
LSTM``                                            the variable h/c tensors' formats, cell_clip
==========================  ====================  ==============================================

SAME padding becomes explicit ``padding`` + ``pad_extra`` exactly as TFLM's
``ComputePaddingHeightWidth`` computes it; a fused activation becomes the int8 clamp range TFLM
derives from the output format. Activations drop their batch dimension, which must be 1. The
graph must be a chain (each operator reads the previous one's output): edgesed runs sequential
graphs, so a model with branches is refused with the operator named.

The LSTM must be the plain one CMSIS-NN's ``arm_lstm_unidirectional_s8`` runs: all four gates
(no CIFG), no peephole, projection or layer norm, a TANH cell gate, batch 1, and its output in
the hidden state's format; anything else is refused with the operator and the input named.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesed.errors import ModelFormatError
from edgesed.graph import Graph, Node, Op, TensorSpec, validate
from edgesed.graph_s8 import (AffineQ, ConvS8Args, DenseS8Args, DepthwiseS8Args, LstmS8Args,
                              PoolS8Args, ReshapeArgs, SoftmaxS8Args, act_range,
                              same_padding)
from edgesed.tflite.reader import read_tflite, unsupported_ops

__all__ = ["import_tflite", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
                 "AVERAGE_POOL_2D", "SOFTMAX", "RESHAPE", "SQUEEZE",
                 "UNIDIRECTIONAL_SEQUENCE_LSTM")


def _fmt(t, what: str) -> AffineQ:
    if len(t.scale) != 1:
        raise ModelFormatError(f"{what} tensor {t.name!r} has {len(t.scale)} scales; int8 "
                               "activations are quantized per tensor")
    return AffineQ((t.scale[0],), int(t.zero_point[0]))


def _spec(t, what: str) -> TensorSpec:
    if t.dtype != "INT8":
        raise ModelFormatError(f"{what} tensor {t.name!r} is {t.dtype}; edgesed's s8 kernels take "
                               "int8 activations (int16-activation models are not supported)")
    shape = tuple(int(s) for s in t.shape)
    if len(shape) >= 2:
        if shape[0] != 1:
            raise ModelFormatError(f"{what} tensor {t.name!r} has batch {shape[0]}; edgesed runs "
                                   "one patch at a time: export the model with batch 1")
        shape = shape[1:]
    return TensorSpec(shape, _fmt(t, what))


def _window(op, in_hw, kernel, dilation=(1, 1)):
    o = op.options
    stride = (int(o.get("stride_h", 1)), int(o.get("stride_w", 1)))
    if o.get("padding", "SAME") == "SAME":
        _, pad, extra = same_padding(in_hw, kernel, stride, dilation)
    else:
        pad, extra = (0, 0), (0, 0)
    return dict(kernel=tuple(kernel), stride=stride, padding=pad, pad_extra=extra)


def _act(op, out: TensorSpec) -> dict:
    name = op.options.get("fused_activation_function", "NONE")
    lo, hi = act_range(name, out.q.scale[0], out.q.zero_point)
    return dict(act_min=lo, act_max=hi)


def _weights(model, op, name: str, params: dict, *, axis: int, channels: int):
    w = model.tensors[op.inputs[1]]
    if w.data is None:
        raise ModelFormatError(f"operator {op.index} ({op.opcode}) has a non-constant filter "
                               f"{w.name!r}; edgesed needs weights in the file")
    if any(int(z) != 0 for z in w.zero_point):
        raise ModelFormatError(f"filter {w.name!r} has non-zero zero points; int8 TFLite weights "
                               "are symmetric")
    if len(w.scale) not in (1, channels):
        raise ModelFormatError(f"filter {w.name!r} has {len(w.scale)} scales for {channels} "
                               "output channels")
    params[f"{name}.weight"] = np.array(w.data, dtype=np.int8)
    bias = np.zeros(channels, np.int32)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bt = model.tensors[op.inputs[2]]
        if bt.dtype != "INT32" or bt.data is None:
            raise ModelFormatError(f"bias {bt.name!r} is {bt.dtype}; int8 layers take a constant "
                                   "int32 bias")
        bias = np.array(bt.data, dtype=np.int32).reshape(channels)
    params[f"{name}.bias"] = bias
    return AffineQ(tuple(w.scale), 0, axis=axis), 4 if w.int4 else 8


def _node(model, op, name: str, prev: str, in_spec: TensorSpec, params: dict) -> Node:
    out = _spec(model.tensors[op.outputs[0]], "output")
    code, o = op.opcode, op.options
    if code == "CONV_2D":
        w = model.tensors[op.inputs[1]]
        dil = (int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1)))
        wq, bits = _weights(model, op, name, params, axis=0, channels=int(w.shape[0]))
        args = ConvS8Args(out_ch=int(w.shape[0]), dilation=dil, weight_bits=bits,
                          groups=in_spec.shape[2] // int(w.shape[3]),
                          **_window(op, in_spec.shape[:2], w.shape[1:3], dil), **_act(op, out))
        return Node(Op.CONV_S8, name, prev, out, args, weight_q=wq)
    if code == "DEPTHWISE_CONV_2D":
        w = model.tensors[op.inputs[1]]
        dil = (int(o.get("dilation_h_factor", 1)), int(o.get("dilation_w_factor", 1)))
        wq, bits = _weights(model, op, name, params, axis=2, channels=int(w.shape[3]))
        params[f"{name}.weight"] = params[f"{name}.weight"].reshape(w.shape[1:])
        args = DepthwiseS8Args(ch_mult=int(w.shape[3]) // in_spec.shape[2], dilation=dil,
                               weight_bits=bits,
                               **_window(op, in_spec.shape[:2], w.shape[1:3], dil),
                               **_act(op, out))
        return Node(Op.DEPTHWISE_S8, name, prev, out, args, weight_q=wq)
    if code == "FULLY_CONNECTED":
        w = model.tensors[op.inputs[1]]
        wq, bits = _weights(model, op, name, params, axis=0, channels=int(w.shape[0]))
        out = TensorSpec((int(w.shape[0]),), out.q)
        return Node(Op.DENSE_S8, name, prev, out,
                    DenseS8Args(units=int(w.shape[0]), weight_bits=bits, **_act(op, out)),
                    weight_q=wq)
    if code in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        kernel = (int(o["filter_height"]), int(o["filter_width"]))
        args = PoolS8Args(**_window(op, in_spec.shape[:2], kernel), **_act(op, out))
        return Node(Op.MAXPOOL_S8 if code == "MAX_POOL_2D" else Op.AVGPOOL_S8, name, prev, out,
                    args)
    if code == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        return _lstm(model, op, name, prev, in_spec, out, params)
    if code == "SOFTMAX":
        return Node(Op.SOFTMAX_S8, name, prev, out, SoftmaxS8Args(beta=float(o.get("beta", 1.0))))
    return Node(Op.RESHAPE, name, prev, out, ReshapeArgs())


_LSTM_UNSUPPORTED = ((range(9, 12), "peephole weights (inputs 9-11)"),
                     (range(16, 18), "a projection (inputs 16-17)"),
                     (range(20, 24), "layer normalization (inputs 20-23)"))


def _lstm(model, op, name: str, prev: str, in_spec: TensorSpec, out: TensorSpec,
          params: dict) -> Node:
    """``UNIDIRECTIONAL_SEQUENCE_LSTM`` -> ``LSTM_S8`` (see the module docstring)."""
    where = f"operator {op.index} (UNIDIRECTIONAL_SEQUENCE_LSTM)"
    fix = ("; edgesed runs the plain LSTM of CMSIS-NN's arm_lstm_unidirectional_s8: export it "
           "without use_peephole, projection, layer norm or CIFG")
    ins = list(op.inputs)
    if len(ins) != 24:
        raise ModelFormatError(f"{where} has {len(op.inputs)} inputs; the int8 LSTM has 24")
    for idx, what in _LSTM_UNSUPPORTED:
        if any(ins[i] >= 0 for i in idx):
            raise ModelFormatError(f"{where} has {what}{fix}")
    if min(ins[1:9] + ins[12:16]) < 0:
        raise ModelFormatError(f"{where} has no input gate (CIFG: inputs 1, 5 or 12 missing) or "
                               f"another gate's weights or bias are missing{fix}")
    o = op.options
    if o.get("fused_activation_function", "TANH") != "TANH":
        raise ModelFormatError(f"{where}: cell gate activation "
                               f"{o.get('fused_activation_function')!r}; TFLM's int8 LSTM "
                               "supports TANH")
    if o.get("time_major", False) and in_spec.shape[0] != 1:
        raise ModelFormatError(f"{where} is time-major with {in_spec.shape[0]} steps; re-export "
                               "it batch-major (time_major=False)")

    def const(i, dtype: str):
        t = model.tensors[ins[i]]
        if t.data is None or t.dtype != dtype:
            kind = "constant" if t.data is not None else "non-constant"
            raise ModelFormatError(f"{where}: input {i} ({t.name!r}) must be a constant {dtype} "
                                   f"tensor, got a {kind} {t.dtype} one")
        if len(t.scale) != 1 or any(int(z) != 0 for z in t.zero_point):
            raise ModelFormatError(f"{where}: input {i} ({t.name!r}) must be quantized per "
                                   "tensor with zero point 0 (symmetric), as TFLM's int8 LSTM "
                                   "needs")
        return t

    wx = [const(i, "INT8") for i in range(1, 5)]
    wh = [const(i, "INT8") for i in range(5, 9)]
    bias = [const(i, "INT32") for i in range(12, 16)]
    h, c = model.tensors[ins[18]], model.tensors[ins[19]]
    if not (h.variable and c.variable) or h.dtype != "INT8" or c.dtype != "INT16":
        raise ModelFormatError(f"{where}: inputs 18 and 19 must be the variable int8 hidden and "
                               f"int16 cell state tensors, got {h.dtype} {h.name!r} "
                               f"(variable={h.variable}) and {c.dtype} {c.name!r} "
                               f"(variable={c.variable})")
    hq = _fmt(h, "hidden state")
    if hq != out.q:
        raise ModelFormatError(f"{where}: the output is quantized {out.q} but the hidden state "
                               f"{hq}; TFLM copies the hidden state to the output, so they must "
                               "be the same")
    if len(c.scale) != 1 or int(c.zero_point[0]) != 0:
        raise ModelFormatError(f"{where}: the cell state {c.name!r} must have one scale and zero "
                               "point 0")
    units = int(wx[0].shape[0])
    shapes = [tuple(t.shape) for t in wx + wh] + [tuple(t.shape) for t in bias]
    want = [(units, in_spec.shape[-1])] * 4 + [(units, units)] * 4 + [(units,)] * 4
    if shapes != want:
        raise ModelFormatError(f"{where}: weight and bias shapes {shapes} should be {want} for "
                               f"{units} units and input {in_spec.shape}")
    params[f"{name}.weight"] = np.stack([np.array(t.data, np.int8) for t in wx])
    params[f"{name}.recurrent"] = np.stack([np.array(t.data, np.int8) for t in wh])
    params[f"{name}.bias"] = np.stack([np.array(t.data, np.int32).reshape(units)
                                       for t in bias])
    args = LstmS8Args(units=units, cell_scale=float(c.scale[0]),
                      recurrent_scale=tuple(float(t.scale[0]) for t in wh),
                      cell_clip=float(o.get("cell_clip", 0.0)))
    return Node(Op.LSTM_S8, name, prev, out, args,
                weight_q=AffineQ(tuple(float(t.scale[0]) for t in wx), 0, axis=0))


def _layer_name(model, op, taken: set) -> str:
    """The output tensor's name when it is a short unique identifier (as edgesed exports),
    else ``<opcode>_<index>``."""
    name = model.tensors[op.outputs[0]].name
    if name.isidentifier() and len(name) <= 32 and name not in taken and name != "input":
        return name
    return f"{op.opcode.lower()}_{op.index}"


def import_tflite(source, *, name: str | None = None) -> Graph:
    """An int8 ``.tflite`` model (path or bytes) as a validated edgesed :class:`Graph`.

    Raises
    ------
    ModelFormatError
        Corrupt, float or mixed-type files; unsupported operators (all listed); branches;
        batch > 1; anything the int8 layers cannot represent.
    """
    model = read_tflite(source)
    missing = unsupported_ops(model, SUPPORTED_OPS)
    if missing:
        raise ModelFormatError(f"the model uses operators edgesed cannot run: {missing}. "
                               f"Supported: {list(SUPPORTED_OPS)}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelFormatError(f"the model has {len(model.inputs)} inputs and "
                               f"{len(model.outputs)} outputs; edgesed runs one-input, "
                               "one-output sequential models")
    params: dict = {}
    nodes, prev, spec = [], "input", _spec(model.tensors[model.inputs[0]], "input")
    graph_input, current = spec, model.inputs[0]
    for op in model.operators:
        if op.inputs[0] != current:
            raise ModelFormatError(f"operator {op.index} ({op.opcode}) reads tensor "
                                   f"{model.tensors[op.inputs[0]].name!r}, not the previous "
                                   "operator's output: edgesed runs sequential graphs only")
        layer = _layer_name(model, op, {n.name for n in nodes})
        node = _node(model, op, layer, prev, spec, params)
        nodes.append(node)
        prev, spec, current = layer, node.output, op.outputs[0]
    if current != model.outputs[0]:
        raise ModelFormatError("the model's output is not the last operator's output")
    if name is None:
        name = Path(source).stem if isinstance(source, (str, Path)) else "tflite"
    graph = Graph(name, graph_input, tuple(nodes), params)
    validate(graph)
    return graph
