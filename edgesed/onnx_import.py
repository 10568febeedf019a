"""Import a float ONNX model as a sequential edgesed network (:class:`FloatModel`).

``import_onnx(path_or_bytes)`` reads an ONNX file (as written by ``torch.onnx.export``), refuses
it up front if it holds any operator outside the supported set (listing every such node), and
converts the chain of layers into edgesed's terms, in float64:

=====================  ====================================================================
ONNX                   edgesed layer
=====================  ====================================================================
Conv (group=1)         CONV2D; OIHW weights -> ``[out][kh][kw][in]`` (HWC activations)
BatchNormalization     folded into the preceding Conv/Gemm: ``s = gamma / sqrt(var + eps)``,
                       ``w' = w * s[out]``, ``b' = (b - mean) * s + beta``
Relu                   RELU activation of the preceding Conv/Gemm
MaxPool, AveragePool   MAXPOOL / AVGPOOL (average over the valid taps: count_include_pad=0)
Flatten, Reshape       no layer: the HWC map is flattened; the next Gemm's columns are permuted
                       from ONNX's CHW order to HWC order
Gemm, MatMul (+Add)    DENSE, weights ``(units, in)``
RNN (tanh, forward)    RNN ``h = tanh(W x + R h_prev + (Wb + Rb))``, one time step per call
GRU (forward)          GRU (ONNX gate order z, r, h; both ``linear_before_reset`` values run
                       in float; :meth:`FloatModel.to_nodes` takes only 1, nnom's cell)
Softmax (last node)    ``FloatModel.softmax = True``
Transpose, Squeeze,    layout plumbing of vectors (around RNN/GRU: batch/time/direction axes
Unsqueeze, Reshape,    of size 1); the feature axis must stay last. Gather takes index 0/-1
Gather, Identity       of a size-1 axis (e.g. ``y[:, 0]``), in models without a time axis
=====================  ====================================================================

A model whose input has rank 4 (N, C, H, W) takes HWC maps; rank 3 (batch, time, features, or
time-first) is a sequence model that sees one time step per call; rank 2 (N, features) takes
vectors. The batch must be 1. Recurrent layers may follow a map front end in one file: a module
that processes one patch per call, ``forward(x_nchw, h) -> (logits, h_new)``, runs its RNN/GRU on
a length-1 sequence (the exporter wraps it in Unsqueeze/Transpose/Squeeze/Reshape), so each call
of :meth:`FloatModel.step` is one time step. A recurrent state is either a graph input
(``initial_h``, see :attr:`FloatModel.state_inputs`) or zero.

:meth:`FloatModel.run` / :meth:`FloatModel.step` execute the model in numpy (an independent
check of the import); :meth:`FloatModel.to_nodes` builds :class:`edgesed.graph.Node` objects with
placeholder Q0.7 formats for the quantizer to replace.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from edgesed.errors import ConfigError, ModelFormatError, ShapeError
from edgesed.graph import (Activation, ConvArgs, DenseArgs, GruArgs, Node, Op, PoolArgs, QFormat,
                           RnnArgs, TensorSpec)

__all__ = ["FloatOp", "RecurrentArgs", "FloatLayer", "FloatModel", "import_onnx",
           "SUPPORTED_OPS"]

SUPPORTED_OPS = frozenset({
    "Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "Flatten", "Reshape",
    "Gemm", "MatMul", "Add", "RNN", "GRU", "Softmax", "Transpose", "Squeeze", "Unsqueeze",
    "Identity", "Constant", "Gather"})


class FloatOp(Enum):
    """Layer operators of a float model: edgesed's :class:`~edgesed.graph.Op` plus GRU."""

    CONV2D = "conv2d"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    DENSE = "dense"
    RNN = "rnn"
    GRU = "gru"


@dataclass(frozen=True)
class RecurrentArgs:
    """A recurrent cell: ``units`` and, for GRU, ONNX's ``linear_before_reset``."""

    units: int
    linear_before_reset: bool = False


@dataclass
class FloatLayer:
    """One float layer; ``params`` are float64 in edgesed layouts.

    CONV2D ``weight [out][kh][kw][in]``, ``bias (out,)``; DENSE ``weight (units, in)`` applied to
    the HWC-flattened input, ``bias (units,)``; RNN ``weight (units, in)``, ``recurrent (units,
    units)``, ``bias (units,)``; GRU ``weight (3u, in)``, ``recurrent (3u, u)``, ``bias (3u,)``
    (input side) and ``recurrent_bias (3u,)``, rows in ONNX gate order z, r, h.
    """

    op: FloatOp
    name: str
    args: ConvArgs | PoolArgs | DenseArgs | RecurrentArgs
    activation: Activation = Activation.NONE
    params: dict[str, np.ndarray] = field(default_factory=dict)
    output_shape: tuple[int, ...] = ()

    def __repr__(self) -> str:
        act = f" +{self.activation.value}" if self.activation is not Activation.NONE else ""
        return f"{self.name}: {self.op.value} -> {self.output_shape}{act}"


@dataclass
class FloatModel:
    """A float sequential network: input shape (HWC or ``(features,)``), layers, softmax flag.

    ``sequence`` is True for models stepped through time: their ONNX input had a time axis, or
    they hold recurrent layers (e.g. a conv front end + RNN, one patch per call); each call of
    :meth:`step` is one time step. ``state_inputs`` names the ONNX inputs that fed each recurrent layer's
    initial state (None where the model started from zeros).
    """

    name: str
    input_shape: tuple[int, ...]
    layers: list[FloatLayer]
    softmax: bool = False
    sequence: bool = False
    state_inputs: dict[str, str | None] = field(default_factory=dict)

    def __repr__(self) -> str:
        lines = [f"FloatModel {self.name!r}: input {self.input_shape}"
                 + (" per time step" if self.sequence else "")]
        lines += [f"  {layer!r}" for layer in self.layers]
        if self.softmax:
            lines.append("  softmax")
        return "\n".join(lines)

    @property
    def recurrent_layers(self) -> list[FloatLayer]:
        return [la for la in self.layers if la.op in (FloatOp.RNN, FloatOp.GRU)]

    def zero_state(self) -> dict[str, np.ndarray]:
        """The initial state: zeros ``(units,)`` for each recurrent layer, by layer name."""
        return {la.name: np.zeros(la.args.units) for la in self.recurrent_layers}

    def step(self, x, state=None):
        """Run one input (one time step) and return ``(output, new_state)``; pure.

        Parameters
        ----------
        x : np.ndarray [shape=input_shape]
            An HWC map, or a feature vector.
        state : dict[str, np.ndarray] or None
            Each recurrent layer's previous hidden state ``(units,)``; None means zeros.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.shape != tuple(self.input_shape):
            raise ShapeError(f"x.shape={x.shape} must equal the model input {self.input_shape} "
                             "(HWC for maps; transpose NCHW data with x[0].transpose(1, 2, 0))")
        state = self.zero_state() if state is None else dict(state)
        for layer in self.layers:
            x = _run_layer(layer, x, state)
        if self.softmax:
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            x = e / e.sum(axis=-1, keepdims=True)
        return x, state

    def run(self, x):
        """The output for one input from zero state (see :meth:`step`)."""
        return self.step(x)[0]

    def run_sequence(self, xs, state=None):
        """Step through ``xs [time, *input_shape]``; return ``(outputs [time, ...], state)``."""
        outs = []
        for x in xs:
            y, state = self.step(x, state)
            outs.append(y)
        return np.stack(outs), state

    def to_nodes(self, q: QFormat = QFormat(7)) -> tuple[Node, ...]:
        """The layers as :class:`edgesed.graph.Node` objects, every format set to ``q``.

        The formats are placeholders for the quantizer. Softmax is not a node (read
        :attr:`softmax`). A GRU becomes an :data:`~edgesed.graph.Op.GRU` node (nnom's cell,
        gate rows z, r, h as ONNX and the layer's params) only with ``linear_before_reset=1``
        (what ``torch.onnx.export`` writes for ``nn.GRU``); ``linear_before_reset=0`` (Keras
        ``reset_after=False``) applies ``r`` before ``U_h``, which nnom's cell cannot, and
        raises ConfigError.
        """
        nodes, prev = [], "input"
        for layer in self.layers:
            if layer.op is FloatOp.GRU and not layer.args.linear_before_reset:
                raise ConfigError(
                    f"layer {layer.name!r} is a GRU with linear_before_reset=0: hh = tanh(W_h x + "
                    "U_h (r * h) + b), but nnom's GRU cell (edgesed Op.GRU) computes hh = "
                    "tanh(W_h x + b_h + r * (U_h h + rb_h)) (linear_before_reset=1, as PyTorch "
                    "exports nn.GRU, Keras reset_after=True); re-export the model that way or "
                    "keep it in float")
            op = Op(layer.op.value)
            args, wq = layer.args, None
            if op is Op.RNN:
                args, wq = RnnArgs(layer.args.units, sum_q=q, recurrent_q=q), q
            elif op is Op.GRU:
                args, wq = GruArgs(layer.args.units, gate_q=q, recurrent_q=q), q
            elif op in (Op.CONV2D, Op.DENSE):
                wq = q
            nodes.append(Node(op, layer.name, prev, TensorSpec(tuple(layer.output_shape), q),
                              args, weight_q=wq, bias_q=wq, activation=layer.activation))
            prev = layer.name
        return tuple(nodes)


# ------------------------------------------------------------------------------ execution

def _windows(x, kernel, stride, padding, fill):
    ph, pw = padding
    xp = np.pad(x, ((ph, ph), (pw, pw), (0, 0)), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=(0, 1))
    return win[::stride[0], ::stride[1]]                      # (oh, ow, c, kh, kw)


def _run_layer(layer: FloatLayer, x: np.ndarray, state: dict) -> np.ndarray:
    a, p = layer.args, layer.params
    if layer.op is FloatOp.CONV2D:
        win = _windows(x, a.kernel, a.stride, a.padding, 0.0)
        y = np.einsum("hwcij,oijc->hwo", win, p["weight"]) + p["bias"]
    elif layer.op is FloatOp.MAXPOOL:
        y = _windows(x, a.kernel, a.stride, a.padding, -np.inf).max(axis=(3, 4))
    elif layer.op is FloatOp.AVGPOOL:
        total = _windows(x, a.kernel, a.stride, a.padding, 0.0).sum(axis=(3, 4))
        count = _windows(np.ones_like(x[..., :1]), a.kernel, a.stride, a.padding, 0.0)
        y = total / count.sum(axis=(3, 4))
    elif layer.op is FloatOp.DENSE:
        y = p["weight"] @ x.reshape(-1) + p["bias"]
    elif layer.op is FloatOp.RNN:
        y = np.tanh(p["weight"] @ x.reshape(-1) + p["recurrent"] @ state[layer.name] + p["bias"])
        state[layer.name] = y
    else:                                                      # GRU, ONNX formula
        h, u = state[layer.name], a.units
        xw = p["weight"] @ x.reshape(-1) + p["bias"]
        rw, rb = p["recurrent"], p["recurrent_bias"]
        z = _sigmoid(xw[:u] + rw[:u] @ h + rb[:u])
        r = _sigmoid(xw[u:2 * u] + rw[u:2 * u] @ h + rb[u:2 * u])
        if a.linear_before_reset:
            hh = np.tanh(xw[2 * u:] + r * (rw[2 * u:] @ h + rb[2 * u:]))
        else:
            hh = np.tanh(xw[2 * u:] + rw[2 * u:] @ (r * h) + rb[2 * u:])
        y = (1.0 - z) * hh + z * h
        state[layer.name] = y
    if layer.activation is Activation.RELU:
        y = np.maximum(y, 0.0)
    return y


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


# ------------------------------------------------------------------------------ loading

def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("importing ONNX models needs the 'onnx' package; install it with "
                          "`pip install 'edgesed[onnx]'` (scripts/setup.sh --dev includes it)"
                          ) from None
    return onnx


def _load(path_or_bytes):
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, where = bytes(path_or_bytes), "the given bytes"
    else:
        path = Path(path_or_bytes)
        if not path.is_file():
            raise FileNotFoundError(f"path_or_bytes={str(path)!r} is not a file; pass the path "
                                    "of an .onnx model or its bytes")
        data, where = path.read_bytes(), repr(str(path))
    try:
        model = onnx.load_from_string(data)
        if not model.graph.node:
            raise ValueError("the graph has no nodes")
        onnx.checker.check_model(model)
    except (DecodeError, ValueError, RuntimeError, onnx.checker.ValidationError) as exc:
        raise ModelFormatError(f"{where} ({len(data)} bytes) is not a valid ONNX model: "
                               f"{exc}; is the file truncated or of another format?") from exc
    return model


def _attrs(node) -> dict:
    onnx = _onnx()

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads2(pads, node, what="pads") -> tuple[int, int]:
    """ONNX pads [top, left, bottom, right] -> edgesed's symmetric (pad_h, pad_w)."""
    pads = list(pads) or [0, 0, 0, 0]
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise ConfigError(f"node {node.name!r} ({node.op_type}): {what}={pads} must be symmetric "
                          "[p_h, p_w, p_h, p_w]; edgesed pads equally on both sides")
    return int(pads[0]), int(pads[1])


def _check_window_attrs(node, at):
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ConfigError(f"node {node.name!r} ({node.op_type}): auto_pad={at['auto_pad']!r} is "
                          "not supported; export with explicit pads (NOTSET)")
    if any(d != 1 for d in at.get("dilations", [1, 1])):
        raise ConfigError(f"node {node.name!r} ({node.op_type}): dilations="
                          f"{at['dilations']} must be 1")
    if at.get("ceil_mode", 0):
        raise ConfigError(f"node {node.name!r} ({node.op_type}): ceil_mode=1 is not supported; "
                          "use ceil_mode=False")
    if len(at.get("kernel_shape", [1, 1])) != 2:
        raise ConfigError(f"node {node.name!r} ({node.op_type}): kernel_shape="
                          f"{at['kernel_shape']} must be 2-D")


_SHAPE_OPS = frozenset({"Shape", "Gather", "Unsqueeze", "Concat", "Constant", "Cast", "Slice"})


def _zero_state_producers(graph) -> tuple[set[int], set[str]]:
    """Nodes that only build an all-zero ``initial_h`` (torch's export of ``rnn(x)`` without h0).

    Returns the indices of those nodes and the names of the zero-state tensors; both are dropped
    (the recurrent layer then starts from zeros). Anything else feeding ``initial_h`` is kept and
    judged like any other node.
    """
    from onnx import numpy_helper

    producer = {out: i for i, n in enumerate(graph.node) for out in n.output}
    inits = {t.name: t for t in graph.initializer}

    def value(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        i = producer.get(name)
        node = graph.node[i] if i is not None else None
        if node is not None and node.op_type == "Constant" and node.attribute[0].name == "value":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def shape_side(name, acc):                # a shape computation: Shape/Gather/Concat/...
        i = producer.get(name)
        if i is None:
            return name in inits
        node = graph.node[i]
        if node.op_type not in _SHAPE_OPS:
            return False
        acc.add(i)
        return node.op_type == "Shape" or all(shape_side(x, acc) for x in node.input if x)

    drop, zeros = set(), set()
    for node in graph.node:
        if (node.op_type not in ("RNN", "GRU") or len(node.input) < 6
                or node.input[5] not in producer):
            continue
        i = producer[node.input[5]]
        src, acc = graph.node[i], {i}
        if src.op_type == "Expand":
            fill = value(src.input[0])
            ok = fill is not None and not fill.any() and shape_side(src.input[1], acc)
            acc.add(producer.get(src.input[0], i))
        elif src.op_type == "ConstantOfShape":
            fill = [numpy_helper.to_array(a.t) for a in src.attribute if a.name == "value"]
            ok = not (fill and fill[0].any()) and shape_side(src.input[0], acc)
        else:
            ok = False
        if ok:
            drop |= acc
            zeros.add(node.input[5])
    return drop, zeros


class _Converter:
    """Walks the ONNX nodes in order, keeping the current data tensor and its edgesed shape."""

    def __init__(self, model, drop: set[int] = frozenset(), zeros: set[str] = frozenset()):
        from onnx import numpy_helper

        g = model.graph
        self.graph, self.drop, self.zeros = g, drop, zeros
        self.const = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
        self.layers: list[FloatLayer] = []
        self.softmax = False
        self.state_inputs: dict[str, str | None] = {}
        self.names: set[str] = set()
        state_feeds = set(zeros) | {n.input[5] for n in g.node
                       if n.op_type in ("RNN", "GRU") and len(n.input) > 5 and n.input[5]}
        data = [i for i in g.input if i.name not in self.const and i.name not in state_feeds]
        if len(data) != 1:
            raise ConfigError(f"the model has data inputs {[i.name for i in data]}; edgesed runs "
                              "sequential models with exactly one input (plus recurrent states)")
        dims = [d.dim_value if d.HasField("dim_value") else 0
                for d in data[0].type.tensor_type.shape.dim]
        self.cur = data[0].name
        self.sequence = len(dims) == 3
        self.rank = self.input_rank = len(dims)               # ONNX rank of the current tensor
        if len(dims) == 4:
            if dims[0] > 1 or min(dims[1:]) < 1:
                raise ShapeError(f"input {self.cur!r} has shape {dims}; expected (1, C, H, W) "
                                 "with fixed C, H, W")
            self.shape = (dims[2], dims[3], dims[1])             # HWC
        elif len(dims) in (2, 3):
            if dims[-1] < 1:
                raise ShapeError(f"input {self.cur!r} has shape {dims}; its last (feature) "
                                 "dimension must be fixed")
            self.shape = (dims[-1],)
        else:
            raise ShapeError(f"input {self.cur!r} has rank {len(dims)} (shape {dims}); edgesed "
                             "imports rank 4 (N, C, H, W), rank 3 (batch, time, features) or "
                             "rank 2 (N, features)")
        self.input_shape = self.shape
        self.flat_from: tuple[int, int, int] | None = None   # HWC map a vector was flattened from
        self.last: FloatLayer | None = None                   # layer that wrote self.cur, if fresh

    def c(self, node, i):
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.const:
            raise ConfigError(f"node {node.name!r} ({node.op_type}): input {i} {name!r} must be a "
                              "constant (initializer); edgesed runs sequential graphs")
        return self.const[name]

    def add(self, op, node, args, params, shape, activation=Activation.NONE):
        name = node.name.strip("/").replace("/", ".") or f"{op.value}{len(self.layers)}"
        while name in self.names or name == "input":
            name += "_"
        self.names.add(name)
        layer = FloatLayer(op, name, args, activation, params, tuple(shape))
        self.layers.append(layer)
        self.shape, self.flat_from, self.last = tuple(shape), None, layer
        return layer

    def run(self):
        for i, node in enumerate(self.graph.node):
            if i in self.drop and node.op_type != "Constant":
                continue
            if node.op_type == "Constant":
                at = _attrs(node)
                if "value" in at:
                    from onnx import numpy_helper
                    self.const[node.output[0]] = numpy_helper.to_array(at["value"]).astype(
                        np.float64)
                continue
            if self.softmax:
                raise ConfigError(f"node {node.name!r} ({node.op_type}) follows Softmax; edgesed "
                                  "takes Softmax only as the last operation")
            reads = node.input if node.op_type == "Add" else node.input[:1]
            if self.cur not in reads:
                raise ConfigError(f"node {node.name!r} ({node.op_type}) reads "
                                  f"{list(node.input)} but not the previous output {self.cur!r}; "
                                  "edgesed imports sequential graphs only")
            getattr(self, "_" + node.op_type)(node, _attrs(node))
            self.cur = node.output[0]
        return FloatModel(self.graph.name, self.input_shape, self.layers, self.softmax,
                          self.sequence or bool(self.state_inputs), self.state_inputs)

    # -- layers
    def _Conv(self, node, at):
        _check_window_attrs(node, at)
        if at.get("group", 1) != 1:
            raise ConfigError(f"node {node.name!r} (Conv): group={at['group']} must be 1 "
                              "(depthwise/grouped convolutions are not imported yet)")
        if len(self.shape) != 3:
            raise ShapeError(f"node {node.name!r} (Conv): input shape {self.shape} is not a map")
        w = self.c(node, 1)                                    # OIHW
        if w.ndim != 4 or w.shape[1] != self.shape[2]:
            raise ShapeError(f"node {node.name!r} (Conv): weights {w.shape} do not fit input "
                             f"channels {self.shape[2]}")
        b = self.c(node, 2) if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0])
        args = ConvArgs(w.shape[0], (w.shape[2], w.shape[3]),
                        tuple(int(s) for s in at.get("strides", [1, 1])),
                        _pads2(at.get("pads", []), node))
        oh, ow = ((i + 2 * p - k) // s + 1 for i, k, s, p in
                  zip(self.shape[:2], args.kernel, args.stride, args.padding))
        self.add(FloatOp.CONV2D, node, args,
                 {"weight": w.transpose(0, 2, 3, 1).copy(), "bias": b.copy()}, (oh, ow, w.shape[0]))

    def _pool(self, node, at, op):
        _check_window_attrs(node, at)
        if len(self.shape) != 3:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): input shape {self.shape} is "
                             "not a map")
        pad = _pads2(at.get("pads", []), node)
        if op is FloatOp.AVGPOOL and at.get("count_include_pad", 0) and any(pad):
            raise ConfigError(f"node {node.name!r} (AveragePool): count_include_pad=1 with pads "
                              f"{pad}; edgesed averages over the valid taps only "
                              "(count_include_pad=False in PyTorch)")
        k = tuple(int(v) for v in at["kernel_shape"])
        args = PoolArgs(k, tuple(int(s) for s in at.get("strides", [1, 1])), pad)
        oh, ow = ((i + 2 * p - kk) // s + 1 for i, kk, s, p in
                  zip(self.shape[:2], k, args.stride, pad))
        self.add(op, node, args, {}, (oh, ow, self.shape[2]))

    def _MaxPool(self, node, at):
        if len(node.output) > 1 and node.output[1]:
            raise ConfigError(f"node {node.name!r} (MaxPool): the Indices output is not supported")
        self._pool(node, at, FloatOp.MAXPOOL)

    def _AveragePool(self, node, at):
        self._pool(node, at, FloatOp.AVGPOOL)

    def _dense(self, node, w, b):
        """A dense layer from ONNX weights ``w (units, in)`` over the current tensor."""
        n_in = int(np.prod(self.shape))
        if w.shape[1] != n_in:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): weights take {w.shape[1]} "
                             f"inputs but the previous output has {n_in} ({self.shape})")
        if self.flat_from is not None:
            h, wd, ch = self.flat_from                         # ONNX flattened C, H, W
            w = w.reshape(-1, ch, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
        self.add(FloatOp.DENSE, node, DenseArgs(w.shape[0]),
                 {"weight": np.ascontiguousarray(w),
                  "bias": np.broadcast_to(b, (w.shape[0],)).copy()}, (w.shape[0],))

    def _Gemm(self, node, at):
        if at.get("transA", 0):
            raise ConfigError(f"node {node.name!r} (Gemm): transA=1 is not supported")
        w = self.c(node, 1)
        w = (w if at.get("transB", 0) else w.T) * at.get("alpha", 1.0)
        b = (self.c(node, 2) * at.get("beta", 1.0) if len(node.input) > 2 and node.input[2]
             else np.zeros(1))
        self._dense(node, w, b.reshape(-1))

    def _MatMul(self, node, at):
        w = self.c(node, 1)
        if w.ndim != 2:
            raise ShapeError(f"node {node.name!r} (MatMul): weights of rank {w.ndim}; expected 2")
        self._dense(node, w.T, np.zeros(1))

    def _Add(self, node, at):
        other = node.input[1] if node.input[0] == self.cur else node.input[0]
        layer = self.last
        if (layer is None or layer.op not in (FloatOp.DENSE, FloatOp.CONV2D)
                or layer.activation is not Activation.NONE):
            raise ConfigError(f"node {node.name!r} (Add) must add a constant bias right after "
                              "MatMul/Gemm/Conv")
        b = self.const.get(other)
        if b is None:
            raise ConfigError(f"node {node.name!r} (Add): {other!r} is not a constant; edgesed "
                              "graphs are sequential (no residual adds)")
        n = layer.params["bias"].shape[0]
        layer.params["bias"] = layer.params["bias"] + np.broadcast_to(b.reshape(-1), (n,))

    def _BatchNormalization(self, node, at):
        layer = self.last
        if at.get("training_mode", 0):
            raise ConfigError(f"node {node.name!r} (BatchNormalization): training_mode=1; export "
                              "the model in eval mode")
        if (layer is None or layer.op not in (FloatOp.DENSE, FloatOp.CONV2D)
                or layer.activation is not Activation.NONE):
            raise ConfigError(f"node {node.name!r} (BatchNormalization) must directly follow a "
                              "Conv or Gemm, into which it is folded")
        gamma, beta, mean, var = (self.c(node, i) for i in (1, 2, 3, 4))
        s = gamma / np.sqrt(var + at.get("epsilon", 1e-5))
        w = layer.params["weight"]
        layer.params["weight"] = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
        layer.params["bias"] = (layer.params["bias"] - mean) * s + beta

    def _Relu(self, node, at):
        layer = self.last
        if layer is None or layer.op not in (FloatOp.DENSE, FloatOp.CONV2D) \
                or layer.activation is not Activation.NONE:
            raise ConfigError(f"node {node.name!r} (Relu) must follow a Conv or Gemm/MatMul "
                              "(edgesed fuses ReLU into the layer)")
        layer.activation = Activation.RELU

    def _Softmax(self, node, at):
        axis = at.get("axis", -1)
        if len(self.shape) != 1 or axis not in (-1, 1, 2):
            raise ConfigError(f"node {node.name!r} (Softmax): axis={axis} over shape "
                              f"{self.shape}; edgesed applies softmax over a vector's features")
        self.softmax = True

    # -- reshapes
    def _flatten(self, node):
        if len(self.shape) == 3:
            self.flat_from = self.shape
            self.shape = (int(np.prod(self.shape)),)
            self.last = None                                   # no BN/ReLU fusing across it
        self.rank = 2

    def _Flatten(self, node, at):
        if at.get("axis", 1) != 1:
            raise ConfigError(f"node {node.name!r} (Flatten): axis={at['axis']} must be 1")
        self._flatten(node)

    def _Reshape(self, node, at):
        target = self.c(node, 1).astype(np.int64)
        if len(self.shape) == 1:                               # a vector: layout only
            n = self.shape[0]
            if (len(target) < 1 or target[-1] not in (n, -1)
                    or any(t not in (1, 0, -1) for t in target[:-1])
                    or (target[-1] == -1 and -1 in target[:-1])):
                raise ConfigError(f"node {node.name!r} (Reshape): target shape "
                                  f"{target.tolist()} over {n} features; only reshapes that keep "
                                  "the features as the last axis (others of size 1) are imported")
            self._plumbing(node, at)
            self.rank = len(target)
            return
        if len(target) != 2 or (target[0] not in (1, -1, 0) and target[1] not in (-1,)):
            raise ConfigError(f"node {node.name!r} (Reshape): target shape {target.tolist()} is "
                              "not a flatten to (1, -1); only flattening reshapes are imported")
        self._flatten(node)

    def _plumbing(self, node, at):
        if len(self.shape) != 1:
            raise ConfigError(f"node {node.name!r} ({node.op_type}) changes the layout of a "
                              "map; edgesed imports layout ops only on vectors (batch, time, "
                              "direction axes around RNN/GRU)")

    def _axes(self, node, at):
        """The raw axes of a Squeeze/Unsqueeze (attribute before opset 13, else input 1)."""
        if "axes" in at:
            return [int(a) for a in at["axes"]]
        if len(node.input) > 1 and node.input[1]:
            return [int(a) for a in self.c(node, 1).astype(np.int64).reshape(-1)]
        return None

    def _Transpose(self, node, at):
        self._plumbing(node, at)
        perm = list(at.get("perm", range(self.rank)[::-1]))
        if perm[-1] != self.rank - 1:
            raise ConfigError(f"node {node.name!r} (Transpose): perm={perm} moves the "
                              "feature axis")

    def _Unsqueeze(self, node, at):
        self._plumbing(node, at)
        raw = self._axes(node, at) or []
        new_rank = self.rank + len(raw)
        axes = sorted(a % new_rank for a in raw)
        if new_rank - 1 in axes:
            raise ConfigError(f"node {node.name!r} (Unsqueeze): axes={axes} put a new axis "
                              "after the features; the feature axis must stay last")
        self.rank = new_rank

    def _Squeeze(self, node, at):
        self._plumbing(node, at)
        axes = self._axes(node, at)
        if axes is None:                                       # all size-1 axes
            if self.shape[0] == 1:
                raise ConfigError(f"node {node.name!r} (Squeeze) without axes would also "
                                  "squeeze the single feature; give the axes")
            self.rank = 1
            return
        axes = sorted({a % self.rank for a in axes})
        if self.rank - 1 in axes:
            raise ConfigError(f"node {node.name!r} (Squeeze): axes={axes} remove the feature "
                              "axis")
        self.rank -= len(axes)

    def _Gather(self, node, at):
        self._plumbing(node, at)
        axis = int(at.get("axis", 0)) % self.rank
        idx = self.c(node, 1)
        if (self.input_rank == 3 or axis == self.rank - 1 or idx.ndim != 0
                or int(idx) not in (0, -1)):
            raise ConfigError(f"node {node.name!r} (Gather): index {idx.tolist()} on axis {axis}; "
                              "edgesed takes only a scalar index 0 or -1 on a size-1 (batch or "
                              "time) axis of a model without a time axis in its input")
        self.rank -= 1

    def _Identity(self, node, at):
        pass

    def _recurrent(self, node, at, op):
        if len(self.shape) != 1 or self.rank != 3:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): its input (shape "
                             f"{self.shape}, rank {self.rank}) is not a (time, batch, features) "
                             "sequence; flatten maps and unsqueeze vectors to a length-1 "
                             "sequence first")
        if at.get("direction", b"forward") not in (b"forward", "forward"):
            raise ConfigError(f"node {node.name!r} ({node.op_type}): direction="
                              f"{at['direction']!r}; edgesed streams one direction (forward)")
        acts = [a.decode() if isinstance(a, bytes) else a for a in at.get("activations", [])]
        want = ["Tanh"] if op is FloatOp.RNN else ["Sigmoid", "Tanh"]
        if acts and acts != want or "clip" in at:
            raise ConfigError(f"node {node.name!r} ({node.op_type}): activations={acts}, "
                              f"clip={at.get('clip')}; only the defaults {want} without clip")
        if len(node.input) > 4 and node.input[4]:
            raise ConfigError(f"node {node.name!r} ({node.op_type}): sequence_lens is not "
                              "supported (the model sees one time step per call)")
        u, g = int(at["hidden_size"]), (1 if op is FloatOp.RNN else 3)
        w, r = self.c(node, 1)[0], self.c(node, 2)[0]
        if w.shape != (g * u, self.shape[0]):
            raise ShapeError(f"node {node.name!r} ({node.op_type}): W {w.shape} does not fit "
                             f"{self.shape[0]} input features")
        b = (self.c(node, 3)[0] if len(node.input) > 3 and node.input[3]
             else np.zeros(2 * g * u))
        if op is FloatOp.RNN:
            params = {"weight": w, "recurrent": r, "bias": b[:u] + b[u:]}
            args = RecurrentArgs(u)
        else:
            params = {"weight": w, "recurrent": r, "bias": b[:3 * u],
                      "recurrent_bias": b[3 * u:]}
            args = RecurrentArgs(u, bool(at.get("linear_before_reset", 0)))
        layer = self.add(op, node, args, {k: v.copy() for k, v in params.items()}, (u,),
                         Activation.TANH if op is FloatOp.RNN else Activation.NONE)
        self.last, self.rank = None, 4                         # Y: (time, dir, batch, units)
        h0 = node.input[5] if len(node.input) > 5 else ""
        self.state_inputs[layer.name] = h0 if h0 and h0 not in self.zeros else None

    def _RNN(self, node, at):
        self._recurrent(node, at, FloatOp.RNN)

    def _GRU(self, node, at):
        self._recurrent(node, at, FloatOp.GRU)


def import_onnx(path_or_bytes) -> FloatModel:
    """Read an ONNX model as a float, sequential edgesed :class:`FloatModel`.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        An ``.onnx`` file, or its contents.

    Returns
    -------
    model : FloatModel
        Layers in execution order, float64 parameters in edgesed layouts.

    Raises
    ------
    FileNotFoundError
        The path is not a file.
    ModelFormatError
        The data is not a valid ONNX model (truncated, corrupt, another format).
    ConfigError
        The model holds operators edgesed cannot import (all listed, with node names, before any
        conversion), or supported operators with unsupported attributes or wiring.
    ShapeError
        The input rank or a weight shape does not fit.
    """
    model = _load(path_or_bytes)
    drop, zeros = _zero_state_producers(model.graph)
    bad = [(n.op_type, n.name) for i, n in enumerate(model.graph.node)
           if n.op_type not in SUPPORTED_OPS and i not in drop]
    if bad:
        types = sorted({t for t, _ in bad})
        listing = ", ".join(f"{name or '<unnamed>'!r} ({t})" for t, name in bad)
        raise ConfigError(f"the model uses operators edgesed cannot import: {types}; nodes: "
                          f"{listing}. Supported: {sorted(SUPPORTED_OPS)}")
    return _Converter(model, drop, zeros).run()
