"""Which CMSIS-NN s8/s4 kernel runs each int8 layer, its scratch, its ROM image and its bound call.

The int8 twin of :mod:`edgesed.dispatch` (which delegates here for :data:`~edgesed.graph_s8.S8_OPS`):

- :func:`c_function` names the C function (``arm_convolve_wrapper_s8``, ``arm_convolve_s4``,
  ``arm_depthwise_conv_wrapper_s8``, ``arm_fully_connected_s8`` / ``_per_channel_s8`` / ``_s4``,
  ``arm_max_pool_s8``, ``arm_avgpool_s8``, ``arm_softmax_s8``);
- :func:`scratch_bytes` is the kernel's ``ctx.buf`` on a DSP build (the ``*_get_buffer_size``
  functions of :mod:`kernels.convolve_s8`, :mod:`kernels.depthwise_s8`, :mod:`kernels.pool_s8`);
- :func:`rom_weights` is what the device keeps in flash: int8 filters, int4 filters packed two per
  byte (:func:`kernels.s4.pack_s4`), int32 biases, and the per-channel multipliers and shifts
  TFLM's ``Prepare`` computes (:func:`edgesed.graph_s8.requant_params`);
- :func:`bind` returns the jitted bodies bound to arena views. The bodies also get emulator work
  arrays (an int16 im2col column, int32 accumulators, the unpacked int4 filter), allocated here
  once per layer: they are host scratch, not device RAM, and nothing is allocated per frame.

Offsets follow CMSIS-NN: ``input_offset = -zero_point_in``, ``output_offset = zero_point_out``.
Requantization is the default (double rounding) build unless ``single_rounding``.
"""
from __future__ import annotations

import numpy as np

from edgesed.graph import Graph, Node, Op
from edgesed.graph_s8 import requant_params

__all__ = ["c_function", "scratch_bytes", "state_bytes", "rom_weights", "bind"]


def _s4(node: Node) -> bool:
    return getattr(node.args, "weight_bits", 8) == 4


def c_function(graph: Graph, node: Node) -> str:
    """The CMSIS-NN function that runs the layer on the device."""
    if node.op is Op.CONV_S8:
        return "arm_convolve_s4" if _s4(node) else "arm_convolve_wrapper_s8"
    if node.op is Op.DEPTHWISE_S8:
        return "arm_depthwise_conv_s4" if _s4(node) else "arm_depthwise_conv_wrapper_s8"
    if node.op is Op.DENSE_S8:
        if _s4(node):
            return "arm_fully_connected_s4"
        per_channel = len(node.weight_q.scale) > 1
        return "arm_fully_connected_per_channel_s8" if per_channel else "arm_fully_connected_s8"
    return {Op.MAXPOOL_S8: "arm_max_pool_s8", Op.AVGPOOL_S8: "arm_avgpool_s8",
            Op.SOFTMAX_S8: "arm_softmax_s8", Op.RESHAPE: "(none: reshape in place)"}[node.op]


def scratch_bytes(graph: Graph, node: Node, backend: str = "dsp") -> int:
    """Bytes of the kernel's ``ctx.buf`` (``*_get_buffer_size`` of the DSP build by default)."""
    from kernels import convolve_s8, depthwise_s8, pool_s8, s4

    in_shape = graph.input_of(node).shape
    a = node.args
    if node.op is Op.CONV_S8:
        w_shape = (a.out_ch, *a.kernel, in_shape[2] // a.groups)
        if _s4(node):
            return s4.convolve_wrapper_s4_buffer_size(in_shape, w_shape, stride=a.stride,
                                                      padding=a.padding, dilation=a.dilation)
        return convolve_s8.convolve_wrapper_s8_buffer_size(
            in_shape, w_shape, stride=a.stride, padding=a.padding, dilation=a.dilation,
            output_hw=node.output.shape[:2], backend=backend)
    if node.op is Op.DEPTHWISE_S8:
        return depthwise_s8.depthwise_conv_wrapper_s8_buffer_size(
            in_shape, a.kernel, ch_mult=a.ch_mult, stride=a.stride, padding=a.padding,
            dilation=a.dilation, backend=backend)
    if node.op is Op.AVGPOOL_S8:
        return pool_s8.avg_pool_s8_buffer_size(node.output.shape[1], node.output.shape[2],
                                               backend=backend)
    return 0


def state_bytes(graph: Graph, node: Node) -> int:
    """Persistent state bytes (none of the int8 layers here keeps state)."""
    return 0


def rom_weights(graph: Graph, node: Node) -> dict[str, np.ndarray]:
    """The layer's flash image: ``weight`` (int8, or packed int4), ``bias`` int32, and
    ``multiplier``/``shift`` int32 per output channel; empty for unweighted layers."""
    from kernels.s4 import pack_s4

    if node.op not in (Op.CONV_S8, Op.DEPTHWISE_S8, Op.DENSE_S8):
        return {}
    w = np.ascontiguousarray(graph.params[f"{node.name}.weight"])
    mult, shift = requant_params(graph, node)
    return {"weight": pack_s4(w) if _s4(node) else w,
            "bias": np.ascontiguousarray(graph.params[f"{node.name}.bias"]),
            "multiplier": mult, "shift": shift}


def _offsets(graph: Graph, node: Node):
    a = node.args
    return (np.int32(-graph.input_of(node).q.zero_point), np.int32(node.output.q.zero_point),
            a.act_min, a.act_max)


def bind(graph: Graph, node: Node, x: np.ndarray, y: np.ndarray, scratch: np.ndarray,
         state, weights: dict, single_rounding: bool = False) -> list:
    """The body calls that run ``node`` from arena view ``x`` into view ``y`` (see module doc)."""
    from edgesed.dispatch import KernelCall
    from kernels import convolve_s8, depthwise_s8, fully_connected_s8, pool_s8, s4, softmax_s8

    a, rnd = node.args, int(bool(single_rounding))
    if node.op is Op.RESHAPE:
        return []
    if node.op in (Op.MAXPOOL_S8, Op.AVGPOOL_S8):
        geometry = (*a.kernel, *a.stride, *a.padding, a.act_min, a.act_max)
        if node.op is Op.MAXPOOL_S8:
            return [KernelCall(pool_s8._max_pool_s8, (x, y, *geometry))]
        acc = np.zeros(x.shape[2], np.int32)
        return [KernelCall(pool_s8._avg_pool_s8, (x, y, acc, *geometry))]
    if node.op is Op.SOFTMAX_S8:
        mult, shift, diff_min = softmax_s8.softmax_s8_params(a.beta,
                                                             graph.input_of(node).q.scale[0])
        n = x.shape[-1]
        table = np.zeros(256, np.int32)        # exp(d) memo for the 256 possible differences
        return [KernelCall(softmax_s8._softmax_s8, (x.reshape(-1, n), y.reshape(-1, n), mult,
                                                    shift, diff_min, 0, table))]
    io, oo, lo, hi = _offsets(graph, node)
    w, bias = weights["weight"], weights["bias"]
    mult, shift = weights["multiplier"], weights["shift"]
    tail = (io, oo, mult, shift)
    if node.op is Op.DENSE_S8:
        x2, y2 = x.reshape(1, -1), y.reshape(1, -1)
        if _s4(node):
            return [KernelCall(s4._fully_connected_s4, (x2, w, bias, y2, io, oo, mult, shift,
                                                        lo, hi, rnd))]
        return [KernelCall(fully_connected_s8._fully_connected_s8,
                           (x2, w, bias, y2, io, np.int32(0), oo, mult, shift, lo, hi, rnd))]
    geometry = (*a.stride, *a.padding, *a.dilation, lo, hi, rnd)
    if node.op is Op.CONV_S8:
        w_shape = (a.out_ch, *a.kernel, x.shape[2] // a.groups)
        col = np.zeros(max(int(np.prod(w_shape[1:])), 1), np.int16)
        if _s4(node):
            wbuf = np.zeros(w_shape, np.int8)
            return [KernelCall(s4._convolve_s4, (x, w, wbuf, bias, y, col, *tail, *geometry))]
        return [KernelCall(convolve_s8._convolve_s8, (x, w, bias, y, col, *tail, *geometry))]
    acc = np.zeros(y.shape[2], np.int32)
    if _s4(node):
        wbuf = np.zeros((*a.kernel, y.shape[2]), np.int8)
        return [KernelCall(s4._depthwise_conv_s4, (x, w, wbuf, bias, y, acc, a.ch_mult, *tail,
                                                   *geometry))]
    return [KernelCall(depthwise_s8._depthwise_conv_s8, (x, w, bias, y, acc, a.ch_mult, *tail,
                                                         *geometry))]
