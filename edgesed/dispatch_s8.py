"""Which CMSIS-NN s8/s4 kernel runs each int8 layer, its scratch, its ROM image and its bound call.

The int8 twin of :mod:`edgesed.dispatch` (which delegates here for
:data:`~edgesed.graph_s8.S8_OPS`):

- :func:`c_function` names the C function (``arm_convolve_wrapper_s8``, ``arm_convolve_s4``,
  ``arm_depthwise_conv_wrapper_s8``, ``arm_fully_connected_s8`` / ``_per_channel_s8`` / ``_s4``,
  ``arm_max_pool_s8``, ``arm_avgpool_s8``, ``arm_softmax_s8``, ``arm_lstm_unidirectional_s8``);
- :func:`scratch_bytes` is the kernel's ``ctx.buf`` on a DSP build (the ``*_get_buffer_size``
  functions of :mod:`kernels.convolve_s8`, :mod:`kernels.depthwise_s8`, :mod:`kernels.pool_s8`;
  the LSTM's ``4 * units`` int16 gate outputs, :func:`kernels.lstm_s8.lstm_s8_scratch_size`);
- :func:`state_bytes` / :func:`state_views` / :func:`state_reset`: the LSTM's persistent state,
  ``3 * units`` bytes laid out as ``[cell int16 x units | hidden int8 x units]`` (the int16 part
  first, so it starts on the state span's aligned offset), seen as two views named
  ``"<layer>.cell"`` and ``"<layer>.hidden"``; reset as TFLM's ``ResetVariableTensors``:
  ``hidden = zero point`` (real 0), ``cell = 0``;
- :func:`rom_weights` is what the device keeps in flash: int8 filters, int4 filters packed two per
  byte (:func:`kernels.s4.pack_s4`), int32 biases, and the per-channel multipliers and shifts
  TFLM's ``Prepare`` computes (:func:`edgesed.graph_s8.requant_params`); for the LSTM the 8
  weight matrices, the effective biases (zero points folded in, as the TFLM wrapper of
  CMSIS-NN computes them at Prepare) and the 11 multipliers/shifts
  (:func:`~edgesed.graph_s8.lstm_params`);
- :func:`bind` returns the jitted bodies bound to arena views. The bodies also get emulator work
  arrays (an int16 im2col column, int32 accumulators, the unpacked int4 filter), allocated here
  once per layer: they are host scratch, not device RAM, and nothing is allocated per frame.

Offsets follow CMSIS-NN: ``input_offset = -zero_point_in``, ``output_offset = zero_point_out``.
Requantization is the default (double rounding) build unless ``single_rounding``.
"""
from __future__ import annotations

import numpy as np

from edgesed.graph import Graph, Node, Op
from edgesed.graph_s8 import lstm_params, requant_params

__all__ = ["c_function", "scratch_bytes", "state_bytes", "state_views", "state_reset",
           "rom_weights", "bind"]


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
            Op.SOFTMAX_S8: "arm_softmax_s8", Op.RESHAPE: "(none: reshape in place)",
            Op.LSTM_S8: "arm_lstm_unidirectional_s8"}[node.op]


def scratch_bytes(graph: Graph, node: Node, backend: str = "dsp") -> int:
    """Bytes of the kernel's ``ctx.buf`` (``*_get_buffer_size`` of the DSP build by default)."""
    from kernels import convolve_s8, depthwise_s8, lstm_s8, pool_s8, s4

    if node.op is Op.LSTM_S8:
        return lstm_s8.lstm_s8_scratch_size(node.args.units)
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
    """Persistent state bytes: ``3 * units`` for the LSTM (int16 cell + int8 hidden), else 0."""
    return 3 * node.args.units if node.op is Op.LSTM_S8 else 0


def state_views(graph: Graph, node: Node, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Named views of a layer's state bytes ``raw`` (int8, :func:`state_bytes` long):
    ``{"<layer>.cell": int16 (units,), "<layer>.hidden": int8 (units,)}`` for the LSTM."""
    u = node.args.units
    if node.op is not Op.LSTM_S8 or raw.shape != (3 * u,) or raw.dtype != np.int8:
        from edgesed.errors import ShapeError
        raise ShapeError(f"layer {node.name!r}: state_views needs an LSTM_S8 layer and its int8 "
                         f"state bytes ({3 * u},), got {node.op.value} and {raw.dtype} "
                         f"{raw.shape}")
    return {f"{node.name}.cell": raw[:2 * u].view(np.int16),
            f"{node.name}.hidden": raw[2 * u:]}


def state_reset(graph: Graph, node: Node) -> dict[str, int]:
    """What each view of :func:`state_views` holds after a reset (TFLM's
    ``ResetVariableTensors``: the hidden state's zero point, i.e. real 0, and a zero cell)."""
    return {f"{node.name}.cell": 0, f"{node.name}.hidden": node.output.q.zero_point}


def rom_weights(graph: Graph, node: Node) -> dict[str, np.ndarray]:
    """The layer's flash image: ``weight`` (int8, or packed int4), ``bias`` int32, and
    ``multiplier``/``shift`` int32 per output channel; empty for unweighted layers."""
    from kernels.s4 import pack_s4

    if node.op is Op.LSTM_S8:
        p = lstm_params(graph, node)
        products = (p.forget_mul, p.input_mul, p.hidden_mul)
        return {"weight": p.w_x, "recurrent": p.w_h, "bias": p.bias_x, "recurrent_bias": p.bias_h,
                "multiplier": np.array([*p.mult_x, *p.mult_h, *(m for m, _ in products)],
                                       np.int32),
                "shift": np.array([*p.shift_x, *p.shift_h, *(s for _, s in products)], np.int32)}
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
    if node.op is Op.LSTM_S8:
        return [_bind_lstm(graph, node, x, y, scratch, state, weights, rnd)]
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
    # The kernel modules' own prepare functions validate the views and give the bodies'
    # arguments after the filter, so a change of a body's signature is followed here.
    window = (a.stride, a.padding, a.dilation)
    if node.op is Op.CONV_S8:
        w_shape = (a.out_ch, *a.kernel, x.shape[2] // a.groups)
        args = convolve_s8.prepare_convolve(x, w_shape, bias, *tail, *window, a.groups, lo, hi,
                                            rnd, y, None)
        if _s4(node):
            wbuf = np.zeros(w_shape, np.int8)
            return [KernelCall(s4._convolve_s4, (args[0], w, wbuf, *args[1:]))]
        return [KernelCall(convolve_s8._convolve_s8, (args[0], w, *args[1:]))]
    w_shape = (*a.kernel, y.shape[2])
    acc = np.zeros(y.shape[2], np.int32)
    args = depthwise_s8.prepare_depthwise(x, w_shape, bias, a.ch_mult, *tail, *window, lo, hi,
                                          rnd, y, acc)
    if _s4(node):
        wbuf = np.zeros(w_shape, np.int8)
        return [KernelCall(s4._depthwise_conv_s4, (args[0], w, wbuf, *args[1:]))]
    return [KernelCall(depthwise_s8._depthwise_conv_s8, (args[0], w, *args[1:]))]


def _bind_lstm(graph, node, x, y, scratch, state, weights, rnd):
    """``arm_lstm_unidirectional_s8`` on arena views: ``x`` (T, n_in), ``y`` (T, units), the
    state's cell/hidden views, the scratch's first ``8 * units`` bytes as int16 (4, units)."""
    from edgesed.dispatch import KernelCall
    from kernels import lstm_s8

    u = node.args.units
    views = state_views(graph, node, state)
    gates = scratch[:lstm_s8.lstm_s8_scratch_size(u)].view(np.int16).reshape(4, u)
    p = lstm_params(graph, node)          # the scalars; the arrays are the ROM image's
    m, s = weights["multiplier"], weights["shift"]
    return KernelCall(lstm_s8._lstm_s8, (
        x, y, views[f"{node.name}.hidden"], views[f"{node.name}.cell"], weights["weight"],
        weights["recurrent"], weights["bias"], weights["recurrent_bias"], m[0:4], s[0:4],
        m[4:8], s[4:8], int(m[8]), int(s[8]), int(m[9]), int(s[9]), int(m[10]), int(s[10]),
        p.hidden_zp, p.cell_clip, p.clip_enabled, p.cell_scale_power, p.cell_gate_sigmoid, rnd,
        gates))
