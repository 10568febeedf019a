"""Which firmware kernel runs each layer, how much scratch and state it needs, and its bound call.

The one place that maps a graph :class:`~edgesed.graph.Node` to kernels:

- :func:`conv_choice` resolves ``ConvKernel.AUTO`` as a firmware engineer would (fast when the
  channels allow, RGB for 3 channels, else basic; ``_nonsquare`` for non-square geometry) and
  refuses a forced variant whose constraint fails, as the C returns ``ARM_MATH_SIZE_MISMATCH``;
- :func:`c_function` names the C function (for reports);
- :func:`scratch_bytes` / :func:`state_bytes` give the planner the kernel's ``bufferA`` and the
  persistent state, from the kernel modules' own size functions;
- :func:`bind` returns the jitted bodies with their arguments bound to arena views, so the engine's
  hot loop is one call per kernel with no validation or allocation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgesed import dispatch_ne16, dispatch_s8
from edgesed.errors import SizeMismatchError
from edgesed.graph_ne16 import NE16_OPS
from edgesed.graph_s8 import S8_OPS
from edgesed.graph import (Activation, ConvKernel, DenseKernel, Graph, Node, Op, PoolPathName,
                           layer_shifts)
from kernels import activations_q7, convolve_q7, fully_connected_q7, gru_q7, pool_q7, rnn_q7

__all__ = ["KernelCall", "conv_choice", "c_function", "scratch_bytes", "state_bytes",
           "state_dtype", "state_views", "state_reset", "bind", "rom_weights"]


@dataclass(frozen=True)
class KernelCall:
    """A jitted kernel body and the arguments it is called with."""

    fn: Callable
    args: tuple

    def __call__(self):
        self.fn(*self.args)


def _is_square(graph: Graph, node: Node) -> bool:
    h, w, _ = graph.input_of(node).shape
    a = node.args
    return h == w and a.kernel[0] == a.kernel[1] and a.stride[0] == a.stride[1] \
        and a.padding[0] == a.padding[1]


def conv_choice(graph: Graph, node: Node) -> tuple[ConvKernel, bool]:
    """(resolved kernel family, square?) for a CONV2D node; SizeMismatchError if forced wrongly."""
    ch_in = graph.input_of(node).shape[2]
    a = node.args
    one_by_one = a.kernel == (1, 1) and a.stride == (1, 1) and a.padding == (0, 0)
    fast_ok = ch_in % 4 == 0 and a.out_ch % 2 == 0
    variant = a.kernel_variant
    if variant is ConvKernel.AUTO:
        if fast_ok:
            variant = ConvKernel.FAST_1X1 if one_by_one else ConvKernel.FAST
        else:
            variant = ConvKernel.RGB if ch_in == 3 else ConvKernel.BASIC
    rules = {ConvKernel.FAST: (fast_ok, "ch_in % 4 == 0 and ch_out % 2 == 0"),
             ConvKernel.FAST_1X1: (fast_ok and one_by_one, "ch_in % 4 == 0, ch_out % 2 == 0, a "
                                   "1x1 kernel, stride 1 and no padding"),
             ConvKernel.RGB: (ch_in == 3, "ch_in == 3")}
    ok, rule = rules.get(variant, (True, ""))
    if not ok:
        raise SizeMismatchError(
            f"layer {node.name!r}: kernel_variant={variant.value!r} needs {rule}, but ch_in="
            f"{ch_in}, ch_out={a.out_ch}, kernel={a.kernel}; CMSIS-NN returns "
            "ARM_MATH_SIZE_MISMATCH. Use kernel_variant='auto' or 'basic'")
    square = _is_square(graph, node) and variant is not ConvKernel.FAST_1X1
    if variant is ConvKernel.RGB and not square:
        raise SizeMismatchError(f"layer {node.name!r}: arm_convolve_HWC_q7_RGB is square only; "
                                "use kernel_variant='basic' for non-square geometry")
    return variant, square


_CONV_C = {ConvKernel.BASIC: "arm_convolve_HWC_q7_basic", ConvKernel.FAST: "arm_convolve_HWC_q7_fast",
           ConvKernel.RGB: "arm_convolve_HWC_q7_RGB",
           ConvKernel.FAST_1X1: "arm_convolve_1x1_HWC_q7_fast_nonsquare"}


def c_function(graph: Graph, node: Node) -> str:
    """The CMSIS-NN (or nnom) function that runs the node on the device."""
    if node.op in S8_OPS:
        return dispatch_s8.c_function(graph, node)
    if node.op in NE16_OPS:
        return dispatch_ne16.c_function(graph, node)
    if node.op is Op.CONV2D:
        variant, square = conv_choice(graph, node)
        name = _CONV_C[variant]
        return name if square or variant is ConvKernel.FAST_1X1 else name + "_nonsquare"
    if node.op in (Op.MAXPOOL, Op.AVGPOOL):
        kind = "maxpool" if node.op is Op.MAXPOOL else "avepool"
        return f"arm_{kind}_q7_HWC ({node.args.path.value})"
    if node.op is Op.DENSE:
        return "arm_fully_connected_" + node.args.kernel_variant.value
    if node.op is Op.GRU:
        return "nnom gru_cell_run (q7 weights, q15 state)"
    return "nnom simple_cell_run (q7)"


def scratch_bytes(graph: Graph, node: Node) -> int:
    """Bytes of ``bufferA``/``vec_buffer`` the node's kernel needs (0 if none)."""
    if node.op in S8_OPS:
        return dispatch_s8.scratch_bytes(graph, node)
    if node.op in NE16_OPS:
        return dispatch_ne16.scratch_bytes(graph, node)
    in_shape = graph.input_of(node).shape
    if node.op is Op.CONV2D:
        variant, square = conv_choice(graph, node)
        ch_in, (kh, kw) = in_shape[2], node.args.kernel
        return _conv_buffer_bytes(variant, square, ch_in, kh, kw)
    if node.op is Op.AVGPOOL:
        return pool_q7.avepool_q7_hwc_buffer_size(out_w=node.output.shape[1],
                                                  ch=node.output.shape[2],
                                                  path=_pool_path(node))
    if node.op is Op.DENSE:
        return fully_connected_q7.fully_connected_q7_buffer_size(int(np.prod(in_shape)))
    if node.op is Op.RNN:
        return rnn_q7.simple_rnn_buffer_size(node.args.units, int(np.prod(in_shape)))
    if node.op is Op.GRU:
        return gru_q7.gru_buffer_size(node.args.units, int(np.prod(in_shape)))
    return 0


def state_bytes(graph: Graph, node: Node) -> int:
    """Bytes of state that persist across inferences (the RNN's/GRU's hidden state).

    RNN: ``units`` (q7); GRU: ``2 * units`` (q15, nnom's ``state_size``; nnom's ping-pong second
    buffer is not needed, see :mod:`kernels.gru_q7`).
    """
    if node.op in S8_OPS:
        return dispatch_s8.state_bytes(graph, node)
    if node.op in NE16_OPS:
        return dispatch_ne16.state_bytes(graph, node)
    if node.op is Op.RNN:
        return rnn_q7.simple_rnn_state_size(node.args.units)
    if node.op is Op.GRU:
        return gru_q7.gru_state_size(node.args.units)
    return 0


def state_dtype(node: Node) -> np.dtype:
    """The element type of a node's state: int16 (q15) for GRU, int8 (q7) otherwise."""
    if node.op in NE16_OPS:
        return dispatch_ne16.state_dtype(node)
    return np.dtype(np.int16) if node.op is Op.GRU else np.dtype(np.int8)


def state_views(graph: Graph, node: Node, state: np.ndarray) -> dict[str, np.ndarray]:
    """The named views of a node's state as :attr:`Engine.state <edgesed.engine.Engine.state>`
    shows them: ``{layer: state}`` (in :func:`state_dtype`), or an int8 LSTM's
    ``"<layer>.cell"``/``"<layer>.hidden"`` pair (:func:`edgesed.dispatch_s8.state_views`)."""
    if node.op is Op.LSTM_S8:
        return dispatch_s8.state_views(graph, node, state)
    return {node.name: state}


def state_reset(graph: Graph, node: Node) -> dict[str, int]:
    """What each of :func:`state_views` holds after a reset: 0, except an int8 LSTM's hidden
    state, which starts at its zero point as TFLM resets it."""
    if node.op is Op.LSTM_S8:
        return dispatch_s8.state_reset(graph, node)
    return {node.name: 0}


def _pool_path(node: Node):
    return pool_q7.PoolPath.DSP if node.args.path is PoolPathName.DSP else pool_q7.PoolPath.C


def rom_weights(graph: Graph, node: Node) -> dict[str, np.ndarray]:
    """The weight arrays as the device stores them (x4-interleaved for the ``_opt`` kernels;
    GRU ``weight``/``recurrent`` by nnom's ``convert_q7_q15_weights``, flat)."""
    if node.op in S8_OPS:
        return dispatch_s8.rom_weights(graph, node)
    if node.op in NE16_OPS:
        return dispatch_ne16.rom_weights(graph, node)
    # "<layer>.<key>" with a dot-free key: layer names may contain dots (ONNX node names such
    # as "maps.0.Conv"), and a layer "a" must not take the parameters of a layer "a.b"
    prefix = node.name + "."
    p = {k[len(prefix):]: v for k, v in graph.params.items()
         if k.startswith(prefix) and "." not in k[len(prefix):]}
    if node.op is Op.GRU:
        for key in ("weight", "recurrent"):
            p[key] = fully_connected_q7.reorder_weights_q7_q15(p[key]).reshape(-1)
        return p
    if node.op is Op.DENSE and node.args.kernel_variant is DenseKernel.Q7_OPT \
            or node.op is Op.RNN:
        p["weight"] = fully_connected_q7.reorder_weights_x4_q7(p["weight"])
    if node.op is Op.RNN:
        p["recurrent"] = fully_connected_q7.reorder_weights_x4_q7(p["recurrent"])
    return p


def bind(graph: Graph, node: Node, x: np.ndarray, y: np.ndarray, scratch: np.ndarray,
         state: np.ndarray | None, weights: dict[str, np.ndarray], rounding: int) -> list[KernelCall]:
    """The body calls that run ``node`` from view ``x`` into view ``y``.

    ``x``/``y`` are arena views shaped like the node's input/output, ``scratch`` a flat int8 view
    of the scratch region, ``state`` the node's state view, ``weights`` from :func:`rom_weights`.
    """
    if node.op in S8_OPS:
        return dispatch_s8.bind(graph, node, x, y, scratch, state, weights)
    if node.op in NE16_OPS:
        return dispatch_ne16.bind(graph, node, x, y, scratch, state, weights, rounding)
    calls = []
    if node.op is Op.CONV2D:
        calls.append(_bind_conv(graph, node, x, y, scratch, weights, rounding))
    elif node.op in (Op.MAXPOOL, Op.AVGPOOL):
        a, (in_h, in_w, ch) = node.args, x.shape
        geometry = (in_h, in_w, ch, *a.kernel, *a.padding, *a.stride, *y.shape[:2])
        dsp = a.path is PoolPathName.DSP
        if node.op is Op.MAXPOOL:
            fn = pool_q7._maxpool_q7_hwc_dsp if dsp else pool_q7._maxpool_q7_hwc_c
            calls.append(KernelCall(fn, (x.reshape(-1), y.reshape(-1), *geometry)))
        elif dsp:
            buf = scratch[:2 * y.shape[1] * ch].view(np.int16)
            calls.append(KernelCall(pool_q7._avepool_q7_hwc_dsp,
                                    (x.reshape(-1), y.reshape(-1), buf, *geometry)))
        else:
            calls.append(KernelCall(pool_q7._avepool_q7_hwc_c,
                                    (x.reshape(-1), y.reshape(-1), *geometry)))
    elif node.op is Op.DENSE:
        s = layer_shifts(graph, node)
        vec = x.reshape(-1)
        buf = scratch[:2 * vec.size].view(np.int16)
        fn = (fully_connected_q7._fully_connected_q7_opt
              if node.args.kernel_variant is DenseKernel.Q7_OPT
              else fully_connected_q7._fully_connected_q7)
        calls.append(KernelCall(fn, (vec, weights["weight"], weights["bias"], y, buf,
                                     s["bias_shift"], s["out_shift"], rounding)))
    elif node.op is Op.RNN:
        s = layer_shifts(graph, node)
        act = rnn_q7.RnnActivation.TANH if node.activation is Activation.TANH \
            else rnn_q7.RnnActivation.SIGMOID
        table = activations_q7.TANH_TABLE_Q7 if act == rnn_q7.RnnActivation.TANH \
            else activations_q7.SIGMOID_TABLE_Q7
        calls.append(KernelCall(rnn_q7._simple_rnn_cell_q7, (
            x.reshape(-1), weights["weight"], weights["recurrent"], weights["bias"], state, y,
            s["bias_shift"], s["oshift_iw"], s["oshift_hw"], s["act_int_width"], int(act), table,
            True, rounding)))
    elif node.op is Op.GRU:
        s = layer_shifts(graph, node)
        vec = x.reshape(-1)
        buf = scratch[:gru_q7.gru_buffer_size(node.args.units, vec.size)].view(np.int16)
        calls.append(KernelCall(gru_q7._gru_cell_q7, (
            vec, weights["weight"], weights["recurrent"], weights["bias"],
            weights["recurrent_bias"], state, y, buf, s["bias_shift"], s["oshift_iw"],
            s["oshift_hw"], s["act_int_width"], int(gru_q7.GruBackend.LOCAL), rounding)))
    if node.activation is Activation.RELU:
        calls.append(KernelCall(activations_q7._relu_q7, (y.reshape(-1),)))
    return calls


_CONV_BODIES = {  # (variant, square) -> (jitted body, buffer-size function)
    (ConvKernel.BASIC, True): ("_convolve_hwc_q7_basic", "convolve_hwc_q7_basic_buffer_size"),
    (ConvKernel.FAST, True): ("_convolve_hwc_q7_fast", "convolve_hwc_q7_fast_buffer_size"),
    (ConvKernel.RGB, True): ("_convolve_hwc_q7_rgb", "convolve_hwc_q7_rgb_buffer_size"),
    (ConvKernel.BASIC, False): ("_convolve_hwc_q7_basic_nonsquare",
                                "convolve_hwc_q7_basic_nonsquare_buffer_size"),
    (ConvKernel.FAST, False): ("_convolve_hwc_q7_fast_nonsquare",
                               "convolve_hwc_q7_fast_nonsquare_buffer_size"),
    (ConvKernel.FAST_1X1, False): ("_convolve_1x1_hwc_q7_fast_nonsquare",
                                   "convolve_1x1_hwc_q7_fast_nonsquare_buffer_size"),
}


def _conv_buffer_bytes(variant, square, ch_in, kh, kw) -> int:
    size_fn = getattr(convolve_q7, _CONV_BODIES[variant, square][1])
    if variant is ConvKernel.FAST_1X1:
        return size_fn(ch_in)
    if variant is ConvKernel.RGB:
        return size_fn((kh, kw))
    return size_fn(ch_in, (kh, kw))


def _bind_conv(graph, node, x, y, scratch, weights, rounding) -> KernelCall:
    variant, square = conv_choice(graph, node)
    body = getattr(convolve_q7, _CONV_BODIES[variant, square][0])
    in_h, in_w, ch_in = x.shape
    out_h, out_w, ch_out = y.shape
    (kh, kw), (sh, sw), (ph, pw) = node.args.kernel, node.args.stride, node.args.padding
    s = layer_shifts(graph, node)
    buf = scratch[:scratch_bytes(graph, node)].view(np.int16)
    w, b = weights["weight"].reshape(-1), weights["bias"]
    if square:   # arm_convolve_HWC_q7_*(Im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel,
        args = (x.reshape(-1), in_h, ch_in, w, ch_out, kh, ph, sh, b,  # padding, stride, bias, ...
                s["bias_shift"], s["out_shift"], y.reshape(-1), out_h, buf, rounding)
    else:        # ..._nonsquare(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, ...)
        args = (x.reshape(-1), in_w, in_h, ch_in, w, ch_out, kw, kh, pw, ph, sw, sh, b,
                s["bias_shift"], s["out_shift"], y.reshape(-1), out_w, out_h, buf, rounding)
    return KernelCall(body, args)
