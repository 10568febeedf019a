"""The seed's M20k network as an int8 TFLite flatbuffer, timed in tflite-micro and LiteRT.

This is the reference side of ``edgesed bench``: a model with the same layers, shapes and MACs as
the seed's M20k (``fbk_m20k.json``), run by the interpreters a user would otherwise pick, so
edgesed's emulated latency can be set next to real host runtimes. The weights are random: only
shapes, op types and int8 quantization matter here, not accuracy.

- :func:`build_m20k_tflite` writes the model with :class:`edgesed.tflite.ModelBuilder` (no
  TensorFlow).
- :func:`time_tflite_micro` times ``invoke()`` in the TFLM Python interpreter (reference kernels).
- :func:`time_litert` times ``invoke()`` in ai-edge-litert: one thread, XNNPACK delegate.
- :func:`op_macs` lists each operator of a model with its MACs, read from tensor shapes.

The interpreters are imported lazily; if one is missing, a :class:`ConfigError` says how to add it.
"""
from __future__ import annotations

import importlib
import time
from importlib import metadata

import numpy as np

from edgesed.bench import timed
from edgesed.errors import ConfigError, ShapeError
from edgesed.tflite.builder import ModelBuilder

__all__ = ["build_m20k_tflite", "time_tflite_micro", "time_litert", "op_macs",
           "INPUT_SHAPE", "STATE_SHAPE", "OUTPUT_SHAPE"]

INPUT_SHAPE = (1, 96, 64, 1)   # 96 frames x 64 mel bands, NHWC
STATE_SHAPE = (1, 60)          # RNN hidden state h, passed in and out (external state)
OUTPUT_SHAPE = (1, 10)         # class logits
CONV_CHANNELS = (4, 8, 16, 16, 32)
STATE_QUANT = (1.0 / 128, 0)   # TFLite fixes TANH's int8 output to scale 1/128, zero point 0
_CALIBRATION_BATCH = 8


def _import(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(f"package {package!r} is needed here but cannot be imported ({err}). "
                          "Try `scripts/setup.sh --dev` or `pip install tflite-micro "
                          "ai-edge-litert`.") from err


def _schema():
    """The TFLite flatbuffer schema (object API), as shipped by tflite-micro or else LiteRT."""
    from edgesed.tflite.schema import schema
    return schema()


# Float twin, used only to calibrate activation scales the way the TFLite converter would.
def _conv_f(x, w, b):
    """VALID 3x3 stride-1 convolution: x (N, H, W, C), w (O, 3, 3, C) -> (N, H-2, W-2, O)."""
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # (N,h,w,C,3,3)
    return np.einsum("nhwcij,oijc->nhwo", win, w) + b


def _maxpool_f(x, k, s, same):
    if same:   # TF SAME: out = ceil(in / s); the smaller half of the padding goes first
        pads = [max((-(-n // s) - 1) * s + k - n, 0) for n in x.shape[1:3]]
        x = np.pad(x, [(0, 0), *[(p // 2, p - p // 2) for p in pads], (0, 0)],
                   constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    return win[:, ::s, ::s].max(axis=(-2, -1))


def _range_quant(y):
    """Asymmetric int8 (scale, zero_point) covering y's range and 0."""
    lo, hi = min(float(y.min()), 0.0), max(float(y.max()), 0.0)
    scale = max(hi - lo, 1e-6) / 255.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def build_m20k_tflite(seed: int = 0) -> bytes:
    """Build an int8 TFLite model with the seed's M20k layers, shapes and MACs.

    Operators, in order (NHWC; filters OHWI; op versions as TFLite gives int8 ops)::

        CONV_2D 3x3 VALID ReLU  (1,96,64,1) -> (1,94,62,4);  MAX_POOL_2D 2x2/2 VALID -> 47x31
        CONV_2D 3x3 VALID ReLU  -> 45x29x8;   MAX_POOL_2D 3x3/2 SAME (pad 1) -> 23x15
        CONV_2D ... -> 21x13x16 -> pool 11x7;  -> 9x5x16 -> pool 5x3;  -> 3x1x32 -> pool 2x1
        RESHAPE (1,2,1,32) -> (1,64);  FULLY_CONNECTED 64 ReLU;  FULLY_CONNECTED 128 ReLU
        CONCATENATION([x (1,128), h (1,60)]) -> FULLY_CONNECTED 188->60 -> TANH   (vanilla RNN)
        FULLY_CONNECTED 60->10

    Inputs: ``input`` int8 (1,96,64,1) and ``h`` int8 (1,60). Outputs: ``logits`` int8 (1,10)
    and ``h_next`` int8 (1,60), the state to feed back as ``h`` on the next 960 ms patch.

    Quantization: symmetric int8 weights (zero point 0), per output channel for CONV_2D and per
    tensor for FULLY_CONNECTED (the converter's defaults); int32 biases with scale
    ``in_scale * w_scale``. The input is (0.05, 0); every other activation's (scale, zero_point)
    covers the range of a float twin run on 8 seeded random inputs and states, like converter
    calibration (ReLU outputs get zero point -128). MAX_POOL_2D and RESHAPE keep their input's
    parameters. CONCATENATION needs equal input and output parameters, so FC-128's output,
    ``h``, the concatenation and ``h_next`` all use TANH's fixed (1/128, 0), and FC-128's
    weights are scaled so its outputs stay below 1.

    ``seed`` seeds the numpy generator behind weights, biases and calibration data. Returns the
    flatbuffer (file identifier ``TFL3``, about 40 kB).
    """
    rng = np.random.default_rng(seed)
    g = ModelBuilder(description="edgesed M20k twin (random int8 weights)")
    relu, linear = "RELU", "NONE"
    in_quant = (0.05, 0)
    # The float twin runs on a batch of random inputs; each activation's range sets its quant.
    x = rng.integers(-128, 128, (_CALIBRATION_BATCH, *INPUT_SHAPE[1:])) * in_quant[0]
    t_in = g.tensor(INPUT_SHAPE, "int8", scale=in_quant[0], zero_point=in_quant[1], name="input")
    t_h = g.tensor(STATE_SHAPE, "int8", scale=STATE_QUANT[0], zero_point=STATE_QUANT[1], name="h")
    cur, cur_q = t_in, in_quant

    def act_tensor(name, shape, quant):
        """An int8 activation tensor with ``quant = (scale, zero_point)``."""
        return g.tensor(shape, "int8", scale=quant[0], zero_point=quant[1], name=name)

    def weights(name, w, b, per_channel):
        """Quantize float w (out first) and b; returns dequantized w, b and the tensor ids."""
        flat = np.abs(w).reshape(len(w), -1)
        w_scale = flat.max(axis=1) / 127 if per_channel else np.full(len(w), flat.max() / 127)
        w_scale_b = w_scale.reshape(-1, *[1] * (w.ndim - 1))
        w_q = np.round(w / w_scale_b).astype(np.int8)
        b_q = np.round(b / (cur_q[0] * w_scale)).astype(np.int32)
        n = len(w) if per_channel else 1
        ids = [g.const(w_q, scale=w_scale[:n], zero_point=0, name=f"{name}/w"),
               g.const(b_q, scale=cur_q[0] * w_scale[:n], zero_point=0, name=f"{name}/b")]
        return w_q * w_scale_b, b_q * cur_q[0] * w_scale, ids

    for i, out_ch in enumerate(CONV_CHANNELS, start=1):
        fan_in = 9 * x.shape[-1]
        w = rng.uniform(-1, 1, (out_ch, 3, 3, x.shape[-1])) * np.sqrt(6 / fan_in)  # He uniform
        w, b, ids = weights(f"conv{i}", w, rng.uniform(-0.05, 0.05, out_ch), per_channel=True)
        x = np.maximum(_conv_f(x, w, b), 0)
        quant = _range_quant(x)
        t_conv = act_tensor(f"conv{i}", (1, *x.shape[1:]), quant)
        g.op("CONV_2D", [cur, *ids], [t_conv], padding="VALID", stride_h=1, stride_w=1,
             fused_activation_function=relu)
        k, same = (2, False) if i == 1 else (3, True)
        x = _maxpool_f(x, k, 2, same)
        cur, cur_q = act_tensor(f"pool{i}", (1, *x.shape[1:]), quant), quant
        g.op("MAX_POOL_2D", [t_conv], [cur], stride_h=2, stride_w=2,
             padding="SAME" if same else "VALID", filter_height=k, filter_width=k)

    x = x.reshape(len(x), -1)                              # (N, 64), NHWC order
    t_shape = g.const(np.array([1, 64], np.int32), name="flatten/shape")
    t_flat = act_tensor("flatten", (1, 64), cur_q)
    g.op("RESHAPE", [cur, t_shape], [t_flat], new_shape=[1, 64])
    cur = t_flat

    def dense(name, x, units, act, quant=None, max_out=None):
        """Add FULLY_CONNECTED on ``cur``; returns the float output, its tensor id and quant."""
        w = rng.uniform(-1, 1, (units, x.shape[1])) * np.sqrt(6 / x.shape[1])
        b = rng.uniform(-0.05, 0.05, units)
        if max_out is not None:   # ReLU is positively homogeneous: scaling w, b scales y
            k = max_out / max(float(np.maximum(x @ w.T + b, 0).max()), 1e-6)
            w, b = w * k, b * k
        w, b, ids = weights(name, w, b, per_channel=False)
        y = x @ w.T + b
        y = np.maximum(y, 0) if act == relu else y
        quant = quant or _range_quant(y)
        t_out = act_tensor(name, (1, units), quant)
        g.op("FULLY_CONNECTED", [cur, *ids], [t_out], fused_activation_function=act)
        return y, t_out, quant

    x, cur, cur_q = dense("fc1", x, 64, relu)
    x, cur, cur_q = dense("fc2", x, 128, relu, STATE_QUANT, max_out=0.95)
    h = rng.integers(-128, 128, (len(x), STATE_SHAPE[1])) * STATE_QUANT[0]   # random states
    t_cat = act_tensor("rnn/concat", (1, 128 + STATE_SHAPE[1]), STATE_QUANT)
    g.op("CONCATENATION", [cur, t_h], [t_cat], axis=1)
    cur, cur_q = t_cat, STATE_QUANT
    x, cur, cur_q = dense("rnn/fc", np.concatenate([x, h], 1), 60, linear)
    t_h_next = act_tensor("h_next", STATE_SHAPE, STATE_QUANT)
    g.op("TANH", [cur], [t_h_next])
    cur, cur_q = t_h_next, STATE_QUANT
    _, t_logits, _ = dense("logits", np.tanh(x), OUTPUT_SHAPE[1], linear)
    g.set_io([t_in, t_h], [t_logits, t_h_next])
    return g.finish()


def op_macs(model_bytes: bytes) -> list[tuple[str, int]]:
    """(op name, MACs) per operator from tensor shapes; MAX_POOL_2D counts window compares."""
    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(model_bytes, 0))
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    sg, out = model.subgraphs[0], []
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        per_out = 0                       # MACs (or compares) per output element
        if name in ("CONV_2D", "FULLY_CONNECTED"):    # filter (O,kh,kw,I) or weights (O,I)
            per_out = int(np.prod(sg.tensors[op.inputs[1]].shape[1:]))
        elif name == "MAX_POOL_2D":
            per_out = op.builtinOptions.filterHeight * op.builtinOptions.filterWidth
        out.append((name, int(np.prod(sg.tensors[op.outputs[0]].shape)) * per_out))
    return out


def _check_inputs(input, h):
    arrays = []
    for name, a, shape in (("input", input, INPUT_SHAPE), ("h", h, STATE_SHAPE)):
        a = np.asarray(a)
        if a.dtype != np.int8 or a.size != int(np.prod(shape)):
            raise ShapeError(f"{name} has shape {a.shape!r} and dtype {a.dtype!r}; it must be int8 "
                             f"with {int(np.prod(shape))} elements (reshaped to {shape!r}). "
                             "Quantize first: np.clip(np.round(x / scale) + zp, -128, 127).")
        arrays.append(np.ascontiguousarray(a.reshape(shape)))
    return arrays


def time_tflite_micro(model_bytes: bytes, input, h, warmup: int = 10, repeat: int = 100) -> dict:
    """Time ``invoke()`` of the TFLM Python interpreter (default arena, reference kernels).

    ``input`` is int8 with 96*64 elements and ``h`` int8 with 60. Returns ``median_ms``,
    ``min_ms``, ``p90_ms``, ``runs``, ``warmup``, ``runtime`` and the int8 outputs of the last
    invoke: ``logits`` (1,10) and ``h_next`` (1,60).
    """
    tflm = _import("tflite_micro", "tflite-micro")
    x, h = _check_inputs(input, h)
    interp = tflm.runtime.Interpreter.from_bytes(bytes(model_bytes))

    def set_inputs():
        interp.set_input(x, 0)
        interp.set_input(h, 1)

    result = timed(interp.invoke, warmup, repeat, set_input=set_inputs)
    result.update(runtime=f"tflite-micro {tflm.__version__}",
                  logits=np.array(interp.get_output(0)), h_next=np.array(interp.get_output(1)))
    return result


def _litert_nodes(interp):
    """[(name, input ids, output ids)] per node, model inputs, model outputs (via the pybind
    wrapper, like ``_get_ops_details``; a lingering reference to it would block ``invoke()``)."""
    w = interp._interpreter
    nodes = [(w.NodeName(i), {int(t) for t in w.NodeInputs(i)}, {int(t) for t in w.NodeOutputs(i)})
             for i in range(w.NumNodes())]
    return nodes, {int(t) for t in w.InputIndices()}, {int(t) for t in w.OutputIndices()}


def time_litert(model_bytes: bytes, input, h, warmup: int = 10, repeat: int = 100) -> dict:
    """Time ``invoke()`` of the LiteRT interpreter, one thread, XNNPACK default delegate.

    Returns the keys of :func:`time_tflite_micro` plus ``delegate``. With the default op
    resolver, ``allocate_tensors()`` applies XNNPACK and appends one ``DELEGATE`` node per
    partition it took (without the delegate there are only the 17 builtin nodes). The check:
    if there is one such node and it reads both model inputs and writes both model outputs, the
    whole graph runs in XNNPACK; with no such node a :class:`ConfigError` is raised.
    """
    _import("ai_edge_litert.interpreter", "ai-edge-litert")
    from ai_edge_litert.interpreter import Interpreter
    x, h = _check_inputs(input, h)
    interp = Interpreter(model_content=bytes(model_bytes), num_threads=1)
    interp.allocate_tensors()
    nodes, model_in, model_out = _litert_nodes(interp)
    parts = [n for n in nodes if n[0] == "DELEGATE"]
    if not parts:
        raise ConfigError(f"LiteRT applied no XNNPACK delegate (nodes: {[n[0] for n in nodes]!r})"
                          "; this ai-edge-litert build may lack it. Try `pip install -U "
                          "ai-edge-litert`.")
    whole = len(parts) == 1 and model_in <= parts[0][1] and model_out == parts[0][2]
    ids = {d["name"]: d["index"] for d in interp.get_input_details() + interp.get_output_details()}

    def set_inputs():
        interp.set_tensor(ids["input"], x)
        interp.set_tensor(ids["h"], h)

    result = timed(interp.invoke, warmup, repeat, set_input=set_inputs)
    result.update(runtime=f"ai-edge-litert {metadata.version('ai-edge-litert')}, 1 thread",
                  delegate=f"XNNPACK: {len(parts)} partition(s)"
                           + (", whole graph" if whole else ", part of the graph"),
                  logits=interp.get_tensor(ids["logits"]), h_next=interp.get_tensor(ids["h_next"]))
    return result
