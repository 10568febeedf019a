"""Per-layer cycles: which C loops run (from dispatch and the target's build), how often, and
what they cost on the target's core, plus flash wait-state stalls."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgesed import dispatch
from edgesed.cycles import kernels as K
from edgesed.cycles import s8 as S8
from edgesed.cycles.isa import CORE_TIMING, Mix
from edgesed.graph import Activation, ConvKernel, DenseKernel, Graph, Node, Op, PoolPathName
from edgesed.targets import Target, resolve_target

__all__ = ["CycleBreakdown", "layer_cycles", "graph_cycles", "kernel_name"]


@dataclass(frozen=True)
class CycleBreakdown:
    """Cycles of one layer on one target, split into named terms.

    ``terms`` maps a term name (``im2col``, ``mac_tile``, ``leftover``, ``requant``, ``call``,
    ``relu``, ``flash``, ...) to cycles; ``total`` is their sum. ``loops`` lists every loop body
    behind the terms: ``(term, C loop, passes, instruction mix, cycles)``. ``ms`` is
    ``total / (clock_mhz * 1000)``.
    """

    layer: str
    kernel: str
    target: str
    clock_mhz: float
    terms: dict[str, float]
    loops: tuple[tuple[str, str, float, Mix, float], ...] = field(repr=False, default=())

    @property
    def total(self) -> float:
        return float(sum(self.terms.values()))

    @property
    def ms(self) -> float:
        return self.total / (self.clock_mhz * 1e3)

    def dominant(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` largest terms as (name, share of total)."""
        tot = self.total or 1.0
        return sorted(((k, v / tot) for k, v in self.terms.items()), key=lambda kv: -kv[1])[:n]

    def as_dict(self) -> dict:
        return {"layer": self.layer, "kernel": self.kernel, "cycles": self.total, "ms": self.ms,
                "terms": dict(self.terms)}


def _conv_geom(graph: Graph, node: Node) -> K.ConvGeom:
    in_h, in_w, ch_in = graph.input_of(node).shape
    out_h, out_w, ch_out = node.output.shape
    a = node.args
    return K.ConvGeom(in_h, in_w, ch_in, out_h, out_w, ch_out, *a.kernel, *a.stride, *a.padding)


_VARIANT = {ConvKernel.BASIC: "basic", ConvKernel.FAST: "fast", ConvKernel.RGB: "rgb",
            ConvKernel.FAST_1X1: "1x1"}


def kernel_name(graph: Graph, node: Node, target: Target) -> str:
    """The C function and ``#if`` branch that runs ``node`` on ``target``."""
    if S8.handles(node):
        return S8.kernel_name(graph, node, target)
    paths = target.paths
    name = dispatch.c_function(graph, node)
    if node.op in (Op.MAXPOOL, Op.AVGPOOL):
        name = name.split(" (")[0] + (" (dsp)" if _pool_dsp(node, target) else " (c)")
    elif node.op is Op.CONV2D:
        name += " (dsp)" if paths.conv_dsp else " (c)"
    elif node.op is Op.DENSE:
        name += " (dsp)" if paths.fc_dsp else " (c)"
    return name


def _pool_dsp(node: Node, target: Target) -> bool:
    """Pooling runs the DSP two-pass loop only if the build has it (not plain C, not MVE) and
    the graph asks for its arithmetic; a graph that asks for the plain-C algorithm
    (``PoolPathName.C``) needs the plain-C loop to get those bits, whatever the build."""
    return target.paths.pool_dsp and node.args.path is PoolPathName.DSP


def _terms(graph: Graph, node: Node, target: Target) -> tuple[list[K.Term], int, int]:
    """Loop terms of a node, plus the weight block it streams from flash and how many times."""
    if S8.handles(node):    # int8 (TFLite) layers: CMSIS-NN s8/s4 kernels
        return S8.layer_terms(graph, node, target)
    paths = target.paths
    in_spec = graph.input_of(node)
    if node.op is Op.CONV2D:
        g = _conv_geom(graph, node)
        variant, _ = dispatch.conv_choice(graph, node)
        w_bytes = g.ch_out * g.cols + g.ch_out
        if paths.conv_dsp:
            terms = K.conv_dsp_terms(g, _VARIANT[variant])
            passes = g.pixels // 2 + g.pixels % 2     # weights re-read per pixel pair
        else:
            terms = K.conv_c_terms(g)
            # one output channel's K weights are re-read for each output pixel
            passes = 1 if g.cols + 1 <= target.data_cache_bytes else g.pixels
        if node.activation is Activation.RELU:
            terms += K.relu_terms(node.output.size, paths.relu_dsp)
        return terms, w_bytes, passes
    if node.op in (Op.MAXPOOL, Op.AVGPOOL):
        in_h, in_w, ch = in_spec.shape
        out_h, out_w, _ = node.output.shape
        a = node.args
        geo = (in_h, in_w, ch, out_h, out_w, *a.kernel, *a.stride, *a.padding)
        fn = K.pool_dsp_terms if _pool_dsp(node, target) else K.pool_c_terms
        return fn(*geo, avg=node.op is Op.AVGPOOL), 0, 0
    if node.op is Op.DENSE:
        dim_vec, rows = int(np.prod(in_spec.shape)), node.args.units
        opt = node.args.kernel_variant is DenseKernel.Q7_OPT
        terms = (K.fc_dsp_terms if paths.fc_dsp else K.fc_c_terms)(dim_vec, rows, opt)
        if node.activation is Activation.RELU:
            terms += K.relu_terms(rows, paths.relu_dsp)
        return terms, dim_vec * rows + rows, 1
    if node.op is Op.RNN:
        feature, units = int(np.prod(in_spec.shape)), node.args.units
        return K.rnn_terms(feature, units), units * (feature + units) + units, 1
    if node.op is Op.GRU:   # unvalidated (see K.gru_terms)
        feature, units = int(np.prod(in_spec.shape)), node.args.units
        return K.gru_terms(feature, units), 3 * units * (feature + units) + 6 * units, 1
    raise ValueError(f"no cycle model for {node.op!r}")


def layer_cycles(graph: Graph, node: Node, target) -> CycleBreakdown:
    """Cycles of one layer on ``target`` (a :class:`~edgesed.targets.Target` or a name for
    :func:`~edgesed.targets.resolve_target`), as named terms.

    Every term is ``sum(passes * mix.cycles(core))`` over the C loops behind it, except two
    memory terms of the board: ``flash`` = flash line reads of weights that miss the data cache
    x wait states x ``target.line_stall_per_ws``, and ``fetch`` = calls (``BL``) x wait states
    x ``target.call_stall_per_ws``.
    """
    target = resolve_target(target)
    timing = CORE_TIMING[target.core]
    terms_list, w_bytes, passes = _terms(graph, node, target)
    terms: dict[str, float] = {}
    loops = []
    for t in terms_list:
        if t.count == 0:
            continue
        cyc = t.count * t.mix.cycles(timing)
        terms[t.name] = terms.get(t.name, 0.0) + cyc
        loops.append((t.name, t.loop, float(t.count), t.mix, cyc))
    ws = target.flash_wait_states
    if w_bytes:
        reads = K.flash_line_reads(w_bytes, passes, target.data_cache_bytes,
                                   target.flash_line_bytes)
        stall = reads * ws * target.line_stall_per_ws
        if stall:
            terms["flash"] = stall
            loops.append(("flash", f"weight line reads missing the cache x {ws} WS x "
                          f"{target.line_stall_per_ws:g}", float(reads), Mix(), stall))
    calls = sum(count * mix.call for _, _, count, mix, _ in loops)
    stall = calls * ws * target.call_stall_per_ws
    if stall:
        terms["fetch"] = stall
        loops.append(("fetch", f"calls x {ws} WS x {target.call_stall_per_ws:g}", float(calls),
                      Mix(), stall))
    return CycleBreakdown(layer=node.name, kernel=kernel_name(graph, node, target),
                          target=target.name, clock_mhz=target.clock_mhz, terms=terms,
                          loops=tuple(loops))


def graph_cycles(graph: Graph, target) -> list[CycleBreakdown]:
    """:func:`layer_cycles` of every layer, in execution order."""
    target = resolve_target(target)
    return [layer_cycles(graph, node, target) for node in graph.nodes]
