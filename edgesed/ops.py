"""Operation counts by the seed's formulas (Cerutti et al., §IV-A, Eq. 5–7).

Every multiply and every add counts as one operation:

- convolution: ``2 * c_in * k_h * k_w`` per output element (Eq. 5–6);
- pooling: ``k_h * k_w`` per output element (the seed counts one op per window tap);
- dense: ``2 * in * out`` (Eq. 7);
- vanilla RNN: ``2 * units * (in + units)`` (the input and the recurrent products).
- GRU: ``6 * units * (in + units)`` (the same two products for the three gates z, r, h); the
  cell's element-wise gate products (``r * rec_h``, ``z * h``, ``(1 - z) * hh``) are not counted,
  like activations.
- int8 LSTM: ``8 * steps * units * (in + units)`` (the two products for the four gates I, F,
  C, O, per time step); the element-wise ``F * c``, ``I * C``, ``O * tanh(c)`` are not counted.

Activations, biases and requantization are not counted, as in the seed's Table VI. For M20k these
formulas give the table exactly: 2,145,608 operations.
"""
from __future__ import annotations

import numpy as np

from edgesed.graph import Graph, Node, Op
from edgesed.graph_ne16 import NE16_OPS, layer_ops as _ne16_ops
from edgesed.graph_s8 import S8_OPS

__all__ = ["layer_ops", "layer_macs", "graph_ops"]


def layer_ops(graph: Graph, node: Node) -> int:
    """Operations of one layer by the seed's formulas."""
    in_shape = graph.input_of(node).shape
    out_elems = node.output.size
    if node.op in S8_OPS:
        return _s8_ops(node, in_shape, out_elems)
    if node.op in NE16_OPS:
        return _ne16_ops(graph, node)
    if node.op is Op.CONV2D:
        kh, kw = node.args.kernel
        return 2 * in_shape[2] * kh * kw * out_elems
    if node.op in (Op.MAXPOOL, Op.AVGPOOL):
        kh, kw = node.args.kernel
        return kh * kw * out_elems
    n_in = int(np.prod(in_shape))
    if node.op is Op.DENSE:
        return 2 * n_in * node.args.units
    if node.op is Op.RNN:
        return 2 * node.args.units * (n_in + node.args.units)
    if node.op is Op.GRU:
        return 6 * node.args.units * (n_in + node.args.units)
    raise ValueError(f"no op-count formula for {node.op!r}")


def _s8_ops(node: Node, in_shape, out_elems: int) -> int:
    """The same formulas for the int8 layers: a grouped convolution sees ``c_in / groups``
    channels, a depthwise one 1; softmax and reshape count 0 (like activations)."""
    a = node.args
    if node.op is Op.CONV_S8:
        return 2 * (in_shape[2] // a.groups) * a.kernel[0] * a.kernel[1] * out_elems
    if node.op is Op.DEPTHWISE_S8:
        return 2 * a.kernel[0] * a.kernel[1] * out_elems
    if node.op is Op.DENSE_S8:
        return 2 * int(np.prod(in_shape)) * a.units
    if node.op in (Op.MAXPOOL_S8, Op.AVGPOOL_S8):
        return a.kernel[0] * a.kernel[1] * out_elems
    if node.op is Op.LSTM_S8:
        steps, n_in = in_shape
        return 8 * steps * a.units * (n_in + a.units)
    return 0


_POOLS = (Op.MAXPOOL, Op.AVGPOOL, Op.MAXPOOL_S8, Op.AVGPOOL_S8, Op.NE16_MAXPOOL,
          Op.NE16_GLOBAL_MAXPOOL)


def layer_macs(graph: Graph, node: Node) -> int:
    """Multiply-accumulates of a weighted layer (half its ops); 0 for pooling."""
    return 0 if node.op in _POOLS else layer_ops(graph, node) // 2


def graph_ops(graph: Graph) -> int:
    """Total operations of the network per inference."""
    return sum(layer_ops(graph, n) for n in graph.nodes)
