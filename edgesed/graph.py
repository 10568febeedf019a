"""The graph IR: a small, frozen description of a quantized sequential network.

A :class:`Graph` is an input :class:`TensorSpec`, a tuple of :class:`Node` (one per layer, each
naming its input) and the integer parameters (``"<layer>.weight"``, ``"<layer>.bias"``,
``"<layer>.recurrent"``). Every tensor carries a power-of-two fixed-point format
:class:`QFormat` (Qm.n, as in the seed), and each layer's CMSIS-NN shifts derive from them::

    bias_shift = (n_i + n_w) - n_b        # left shift applied to the bias
    out_shift  = (n_i + n_w) - n_o        # right shift applied to the accumulator

:func:`validate` checks a graph (shapes, formats, shifts, parameters) before planning;
:mod:`edgesed.graphfile` writes and reads it as a versioned file.

The operators of every family are one enum, :class:`~edgesed.op.Op`. Two more families share
this IR and its engine and planners: int8 TFLite layers with affine formats
(:mod:`edgesed.graph_s8`) and NE16 layers (:mod:`edgesed.graph_ne16`); :func:`validate`
hands their layers to those modules' rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping

import numpy as np

from edgesed import graph_ne16, graph_s8
from edgesed.op import Op
from edgesed.errors import ConfigError, ShapeError

__all__ = ["Op", "Activation", "ConvKernel", "DenseKernel", "PoolPathName", "QFormat",
           "TensorSpec", "ConvArgs", "PoolArgs", "DenseArgs", "RnnArgs", "GruArgs", "Node",
           "Graph", "conv_out_hw", "validate", "layer_shifts", "gru_recurrent_bias_frac"]


class Activation(Enum):
    """Activation fused into a layer.

    CONV2D and DENSE take NONE or RELU (``arm_relu_q7`` in place on the output, which keeps its
    format). RNN takes TANH or SIGMOID (``arm_nn_activations_direct_q7`` on the cell's sum), whose
    output is Q0.7. GRU takes NONE: its sigmoid/tanh gates are inside the cell (q15 tables).
    """

    NONE = "none"
    RELU = "relu"
    TANH = "tanh"
    SIGMOID = "sigmoid"


class ConvKernel(Enum):
    """Which CMSIS-NN convolution runs a CONV2D node; AUTO picks as a firmware engineer would.

    AUTO: FAST when ``ch_in % 4 == 0 and ch_out % 2 == 0`` (1x1 fast for 1x1 stride-1 unpadded
    kernels), RGB when ``ch_in == 3``, else BASIC. Non-square geometry selects the ``_nonsquare``
    function of the same family.
    """

    AUTO = "auto"
    BASIC = "basic"
    FAST = "fast"
    RGB = "rgb"
    FAST_1X1 = "1x1_fast"


class DenseKernel(Enum):
    """``arm_fully_connected_q7`` (natural weights) or ``_q7_opt`` (x4-interleaved weights)."""

    Q7 = "q7"
    Q7_OPT = "q7_opt"


class PoolPathName(Enum):
    """Pooling build: DSP (in place, ARM_MATH_DSP; default) or plain C (M0/M3, M55 scalar)."""

    DSP = "dsp"
    C = "c"


@dataclass(frozen=True)
class QFormat:
    """A signed power-of-two fixed-point format Qm.n: ``bits = 1 + m + n``; value = int * 2**-n."""

    frac_bits: int
    bits: int = 8

    @property
    def int_bits(self) -> int:
        return self.bits - 1 - self.frac_bits

    def __str__(self) -> str:
        return f"Q{self.int_bits}.{self.frac_bits}"


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: its shape (HWC for maps, (n,) for vectors), dtype name and format."""

    shape: tuple[int, ...]
    q: QFormat
    dtype: str = "int8"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class ConvArgs:
    out_ch: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    kernel_variant: ConvKernel = ConvKernel.AUTO


@dataclass(frozen=True)
class PoolArgs:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    path: PoolPathName = PoolPathName.DSP


@dataclass(frozen=True)
class DenseArgs:
    units: int
    kernel_variant: DenseKernel = DenseKernel.Q7_OPT


@dataclass(frozen=True)
class RnnArgs:
    """Vanilla RNN cell ``h = act(W x + b + U h_prev)`` (nnom simple cell on CMSIS-NN).

    ``sum_q`` is the format of the two products before they are added (nnom's
    ``min(q_dec_iw, q_dec_hw)``); the activation reads it with ``int_width = 7 - n_sum``.
    """

    units: int
    sum_q: QFormat
    recurrent_q: QFormat


@dataclass(frozen=True)
class GruArgs:
    """nnom GRU cell (``gru_cell_run``): q7 input, weights and biases, q15 state (Q0.15).

    Gate order z, r, h (Keras = ONNX = nnom; PyTorch's r, z, n is reordered on import)::

        z  = sigmoid(W_z x + b_z + U_z h + rb_z)
        r  = sigmoid(W_r x + b_r + U_r h + rb_r)
        hh = tanh(W_h x + b_h + r * (U_h h + rb_h))     # ONNX linear_before_reset=1 (PyTorch)
        h  = z * h_prev + (1 - z) * hh;  out = h >> 8 (Q0.7)

    ``gate_q`` is nnom's ``q_dec_z``, the (q7) format of the gate pre-activations (the q15
    values carry 8 more fractional bits); ``recurrent_q`` the format of ``U``. The biases ``b``
    and ``rb`` are nnom's single ``6*units`` bias, shifted by the same ``bias_shift + 8``, so
    ``rb``'s integers are in :func:`gru_recurrent_bias_frac` fractional bits, not ``bias_q``'s.
    """

    units: int
    gate_q: QFormat
    recurrent_q: QFormat


@dataclass(frozen=True)
class Node:
    """One layer: operator, name, input name, output spec, weight/bias formats and arguments."""

    op: Op
    name: str
    input: str
    output: TensorSpec
    args: ConvArgs | PoolArgs | DenseArgs | RnnArgs | GruArgs
    weight_q: QFormat | None = None
    bias_q: QFormat | None = None
    activation: Activation = Activation.NONE

    def __repr__(self) -> str:
        fmt = (f" w={self.weight_q}" if self.weight_q else "") + \
            (f" b={self.bias_q}" if self.bias_q else "")
        act = f" +{self.activation.value}" if self.activation is not Activation.NONE else ""
        return (f"{self.name}: {self.op.value}({self.input}) -> {self.output.shape} "
                f"{self.output.q}{fmt}{act}")

    @property
    def in_place(self) -> bool:
        """Pooling runs in place in its input buffer, as in the seed's firmware; a reshape
        is the same bytes under a new shape."""
        return self.op in (Op.MAXPOOL, Op.AVGPOOL, Op.RESHAPE)


@dataclass(frozen=True)
class Graph:
    """A quantized sequential network: input spec, layers in execution order, parameters.

    ``labels`` optionally names the output classes in output order (empty: unnamed; the
    detector then falls back to UrbanSound8K's names).
    """

    name: str
    input: TensorSpec
    nodes: tuple[Node, ...]
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "labels", tuple(str(v) for v in self.labels))

    def __repr__(self) -> str:
        lines = [f"Graph {self.name!r}: input {self.input.shape} {self.input.q}"]
        lines += [f"  {node!r}" for node in self.nodes]
        return "\n".join(lines)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no layer named {name!r}; layers are {[n.name for n in self.nodes]}")

    def input_of(self, node: Node) -> TensorSpec:
        if node.input == "input":
            return self.input
        return self.node(node.input).output

    @property
    def output(self) -> TensorSpec:
        return self.nodes[-1].output

    @property
    def rom_bytes(self) -> int:
        """Bytes of weights and biases (what the firmware keeps in flash)."""
        return int(sum(a.nbytes for a in self.params.values()))


def conv_out_hw(in_hw, kernel, stride, padding) -> tuple[int, int]:
    """Output (h, w) of a convolution/pooling window: ``(in + 2*pad - k) // stride + 1``."""
    return tuple((i + 2 * p - k) // s + 1 for i, k, s, p in zip(in_hw, kernel, stride, padding))


def layer_shifts(graph: Graph, node: Node) -> dict[str, int]:
    """The CMSIS-NN shifts of a weighted layer, derived from its formats as in the seed.

    Returns ``{"bias_shift": (n_i + n_w) - n_b, "out_shift": (n_i + n_w) - n_o}``; for RNN also
    the nnom simple-cell shifts ``oshift_iw = n_i + n_w - n_sum``,
    ``oshift_hw = n_h + n_u - n_sum`` and ``act_int_width = 7 - n_sum``; for GRU nnom's
    ``gru_cell_build`` shifts (:func:`kernels.gru_q7.gru_shifts`): ``bias_shift`` (applied as
    ``bias_shift + 8`` to both biases), ``oshift_iw = n_i + n_w - n_z``,
    ``oshift_hw = n_h + n_u - n_z`` (``n_h = 7``, the Q0.7 output; the state is Q0.15) and
    ``act_int_width = 7 - n_z``.
    """
    n_i = graph.input_of(node).q.frac_bits
    n_w, n_b, n_o = node.weight_q.frac_bits, node.bias_q.frac_bits, node.output.q.frac_bits
    shifts = {"bias_shift": n_i + n_w - n_b}
    if node.op is Op.RNN:
        n_sum = node.args.sum_q.frac_bits
        shifts["oshift_iw"] = n_i + n_w - n_sum
        shifts["oshift_hw"] = n_o + node.args.recurrent_q.frac_bits - n_sum
        shifts["act_int_width"] = 7 - n_sum
    elif node.op is Op.GRU:
        n_z = node.args.gate_q.frac_bits
        shifts["oshift_iw"] = n_i + n_w - n_z
        shifts["oshift_hw"] = n_o + node.args.recurrent_q.frac_bits - n_z
        shifts["act_int_width"] = 7 - n_z
    else:
        shifts["out_shift"] = n_i + n_w - n_o
    return shifts


def gru_recurrent_bias_frac(graph: Graph, node: Node) -> int:
    """Fractional bits of a GRU's ``recurrent_bias`` integers: ``7 + n_u + n_b - n_i - n_w``.

    nnom shifts the recurrent bias by the input side's ``bias_shift + 8`` although it is added to
    ``U h`` (Q0.15 state times ``U``: ``15 + n_u`` fractional bits), so its integers must carry
    ``15 + n_u - (bias_shift + 8)`` fractional bits for the sum to mean what the float cell does.
    May be outside [0, 15]; it is a scale, not a format the graph validates.
    """
    n_i = graph.input_of(node).q.frac_bits
    return (7 + node.args.recurrent_q.frac_bits + node.bias_q.frac_bits - n_i
            - node.weight_q.frac_bits)


# ------------------------------------------------------------------------------ validation

def _infer_shape(node: Node, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    a = node.args
    if node.op is Op.CONV2D or node.op in (Op.MAXPOOL, Op.AVGPOOL):
        if len(in_shape) != 3:
            raise ShapeError(f"layer {node.name!r}: input shape {in_shape} must be (h, w, c)")
        for what, pair in (("kernel", a.kernel), ("stride", a.stride), ("padding", a.padding)):
            if len(pair) != 2 or any(int(v) != v for v in pair):
                raise ConfigError(f"layer {node.name!r}: {what}={pair!r} must be a pair of ints")
        if min(a.kernel) < 1 or min(a.stride) < 1 or min(a.padding) < 0:
            raise ConfigError(f"layer {node.name!r}: kernel={a.kernel} and stride={a.stride} must "
                              f"be >= 1 and padding={a.padding} >= 0")
        if any(p >= k for p, k in zip(a.padding, a.kernel)):
            raise ConfigError(f"layer {node.name!r}: padding={a.padding} must be smaller than "
                              f"kernel={a.kernel} (a window of only padding has no valid tap)")
        oh, ow = conv_out_hw(in_shape[:2], a.kernel, a.stride, a.padding)
        if oh < 1 or ow < 1:
            raise ShapeError(f"layer {node.name!r}: input {in_shape[:2]} is smaller than kernel "
                             f"{a.kernel} with padding {a.padding}; no output pixel")
        ch = a.out_ch if node.op is Op.CONV2D else in_shape[2]
        return (oh, ow, ch)
    if node.op in (Op.DENSE, Op.RNN, Op.GRU):
        if isinstance(a.units, bool) or not isinstance(a.units, (int, np.integer)) \
                or a.units < 1:
            raise ConfigError(f"layer {node.name!r}: units={a.units!r} must be an int >= 1")
        return (int(a.units),)
    raise ConfigError(f"layer {node.name!r}: unknown op {node.op!r}")


def _param_shapes(node: Node, in_shape) -> dict[str, tuple[int, ...]]:
    a = node.args
    if node.op is Op.CONV2D:
        return {"weight": (a.out_ch, *a.kernel, in_shape[2]), "bias": (a.out_ch,)}
    if node.op is Op.DENSE:
        return {"weight": (a.units, int(np.prod(in_shape))), "bias": (a.units,)}
    if node.op is Op.RNN:
        return {"weight": (a.units, int(np.prod(in_shape))), "recurrent": (a.units, a.units),
                "bias": (a.units,)}
    if node.op is Op.GRU:    # rows z, r, h (ONNX/Keras/nnom order), natural (unreordered)
        n3 = 3 * a.units
        return {"weight": (n3, int(np.prod(in_shape))), "recurrent": (n3, a.units),
                "bias": (n3,), "recurrent_bias": (n3,)}
    return {}


def validate(graph: Graph) -> None:
    """Check a graph before planning; raise ShapeError/ConfigError naming the layer and the fix.

    Checks: a sequential chain (each layer reads the previous one), unique names, inferred shapes
    equal the declared ones, int8 tensors and parameters of the right shapes, formats within the
    8-bit range, shifts in [0, 31], activation constraints (tanh/sigmoid/softmax give Q0.7),
    and ``labels`` (if any) one per output class.
    """
    if not graph.nodes:
        raise ConfigError(f"graph {graph.name!r} has no layers")
    names = [n.name for n in graph.nodes]
    if len(set(names)) != len(names) or "input" in names:
        raise ConfigError(f"layer names must be unique and not 'input': {names}")
    prev, spec = "input", graph.input
    if not _is_affine(graph.input.q):
        _check_q(graph.input.q, "input")
    for node in graph.nodes:
        if node.input != prev:
            raise ConfigError(f"layer {node.name!r} reads {node.input!r} but edgesed runs "
                              f"sequential graphs: it must read the previous layer {prev!r}")
        if node.op in graph_s8.S8_OPS:      # int8 (TFLite) layers: their own rules
            graph_s8.validate_node(graph, node, spec)
            prev, spec = node.name, node.output
            continue
        if node.op in graph_ne16.NE16_OPS:  # NE16 / GAP9 cluster layers: their own rules
            graph_ne16.validate_node(graph, node, spec)
            prev, spec = node.name, node.output
            continue
        shape = _infer_shape(node, spec.shape)
        if tuple(node.output.shape) != shape:
            raise ShapeError(f"layer {node.name!r}: declared output shape {node.output.shape} but "
                             f"the input {spec.shape} and arguments give {shape}")
        if node.output.dtype != "int8":
            raise ConfigError(f"layer {node.name!r}: output dtype {node.output.dtype!r}; the q7 "
                              "engine runs int8 tensors")
        _check_q(node.output.q, f"layer {node.name!r} output")
        if node.op in (Op.MAXPOOL, Op.AVGPOOL) and node.output.q != spec.q:
            raise ConfigError(f"layer {node.name!r}: pooling keeps the format, but output is "
                              f"{node.output.q} and input {spec.q}")
        for key, want in _param_shapes(node, spec.shape).items():
            arr = graph.params.get(f"{node.name}.{key}")
            if arr is None:
                raise ConfigError(f"layer {node.name!r} has no parameter {node.name}.{key}")
            if arr.dtype != np.int8 or tuple(arr.shape) != want:
                raise ShapeError(f"parameter {node.name}.{key}: dtype {arr.dtype} shape "
                                 f"{arr.shape}, expected int8 {want}")
        if node.op in (Op.CONV2D, Op.DENSE, Op.RNN, Op.GRU):
            if node.weight_q is None or node.bias_q is None:
                raise ConfigError(f"layer {node.name!r} needs weight_q and bias_q formats")
            _check_q(node.weight_q, f"layer {node.name!r} weights")
            _check_q(node.bias_q, f"layer {node.name!r} bias")
            if node.op is Op.GRU:
                _check_q(node.args.gate_q, f"layer {node.name!r} gate pre-activations (gate_q)")
                _check_q(node.args.recurrent_q, f"layer {node.name!r} recurrent weights")
            for key, value in layer_shifts(graph, node).items():
                lo, hi = _SHIFT_RANGE.get((node.op is Op.GRU, key), (0, 31))
                if not lo <= value <= hi and node.op is Op.GRU:
                    raise ConfigError(
                        f"layer {node.name!r}: {key}={value} is out of [{lo}, {hi}] for formats "
                        f"input {graph.input_of(node).q}, weights {node.weight_q}, bias "
                        f"{node.bias_q}, gates {node.args.gate_q}, recurrent "
                        f"{node.args.recurrent_q}; nnom's GRU needs bias_shift = n_i + n_w - n_b "
                        "in [0, 16], oshift_iw = n_i + n_w - n_z >= 0 and act_int_width = "
                        "7 - n_z in [0, 3] (gate_q with 4..7 fractional bits)")
                if not lo <= value <= hi:
                    raise ConfigError(
                        f"layer {node.name!r}: {key}={value} is out of [{lo}, {hi}] for formats "
                        f"input {graph.input_of(node).q}, weights {node.weight_q}, bias "
                        f"{node.bias_q}, output {node.output.q}; CMSIS-NN shifts cannot be "
                        "negative: give the bias at most n_i + n_w fractional bits and the output "
                        "at most n_i + n_w")
        allowed = _ACTIVATIONS[node.op]
        if node.activation not in allowed:
            raise ConfigError(f"layer {node.name!r}: activation {node.activation.value!r} is not "
                              f"available on {node.op.value}; use one of "
                              f"{[a.value for a in allowed]}")
        if node.op is Op.RNN and node.output.q.frac_bits != 7:
            raise ConfigError(f"layer {node.name!r}: {node.activation.value} writes Q0.7 values, "
                              f"so the RNN output (and state) format must be Q0.7, not "
                              f"{node.output.q}")
        if node.op is Op.GRU and node.output.q.frac_bits != 7:
            raise ConfigError(f"layer {node.name!r}: the GRU cell keeps a Q0.15 state and writes "
                              f"its q7 output as state >> 8, so the output format must be Q0.7, "
                              f"not {node.output.q}")
        prev, spec = node.name, node.output
    if graph.labels and (len(graph.output.shape) != 1
                         or len(graph.labels) != graph.output.shape[0]):
        raise ConfigError(f"graph {graph.name!r} has {len(graph.labels)} labels but its output "
                          f"shape is {graph.output.shape}; give one label per output class or "
                          "labels=()")


_ACTIVATIONS = {
    Op.CONV2D: (Activation.NONE, Activation.RELU),
    Op.DENSE: (Activation.NONE, Activation.RELU),
    Op.RNN: (Activation.TANH, Activation.SIGMOID),
    Op.GRU: (Activation.NONE,),
    Op.MAXPOOL: (Activation.NONE,),
    Op.AVGPOOL: (Activation.NONE,),
}


# (is gru, shift) -> allowed range; the rest [0, 31]. act_int_width <= 3 keeps the (uint8_t)
# table index of arm_nn_activations_direct_q7/q15 from wrapping; nnom's GRU shifts its q7 bias
# by bias_shift + 8 into an int32, so bias_shift <= 16 (kernels.gru_q7.BIAS_SHIFT_MAX).
_SHIFT_RANGE = {(False, "act_int_width"): (0, 3), (True, "act_int_width"): (0, 3),
                (True, "bias_shift"): (0, 16)}


def _is_affine(q) -> bool:
    return isinstance(q, graph_s8.AffineQ)


def _check_q(q: QFormat, what: str) -> None:
    if q.bits != 8 or not 0 <= q.frac_bits <= 15:
        raise ConfigError(f"{what}: format {q} (bits={q.bits}, frac_bits={q.frac_bits}) must be "
                          "8-bit with 0..15 fractional bits")
