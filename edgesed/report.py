"""The per-layer report: ops, output shape, kernel, buffer placement and memory totals.

:func:`build_report` gathers the figures (each traceable to a formula: ops from
:mod:`edgesed.ops`, bytes from the plan of :mod:`edgesed.planner`, ROM from the parameters) into
a plain dict that :func:`format_table` prints and ``edgesed report --json`` dumps.
"""
from __future__ import annotations

from edgesed import dispatch, ops
from edgesed.graph import Graph
from edgesed.planner import PingPongPlanner, Plan

__all__ = ["build_report", "format_table"]


def rom_bytes(graph: Graph) -> int:
    """Flash bytes of the parameters as the device stores them (:func:`dispatch.rom_weights`):
    q7 weights and biases one byte each; int8 layers' int8 or packed int4 filters, int32
    biases and the per-channel int32 multipliers and shifts a code generator keeps in flash
    (TFLM instead computes those at ``Prepare`` into its arena)."""
    return int(sum(a.nbytes for node in graph.nodes
                   for a in dispatch.rom_weights(graph, node).values()))


def build_report(graph: Graph, plan: Plan | None = None) -> dict:
    """Report of one inference of ``graph`` under ``plan`` (the ping-pong plan by default).

    Keys: ``model``, ``input_shape``, ``layers`` (each with ``name``, ``op``, ``kernel``,
    ``output_shape``, ``ops``, ``macs``, ``buffer``, ``bytes``, ``scratch_bytes``, ``format``),
    ``total_ops``, ``total_macs``, ``ram_peak_bytes`` (arena = buffers + scratch + state),
    ``buffers`` (name -> bytes), ``rom_bytes`` (weights and biases, one byte each) and
    ``params``.
    """
    plan = plan or PingPongPlanner().plan(graph)
    layers = []
    for k, (node, step) in enumerate(zip(graph.nodes, plan.steps)):
        layers.append({
            "name": node.name,
            "op": node.op.value,
            "kernel": dispatch.c_function(graph, node),
            "output_shape": list(node.output.shape),
            "format": str(node.output.q),
            "ops": ops.layer_ops(graph, node),
            "macs": ops.layer_macs(graph, node),
            "buffer": plan.region_of(k),
            "in_place": step.in_place,
            "bytes": step.output.size,
            "scratch_bytes": step.scratch.size,
        })
    return {
        "model": graph.name,
        "input_shape": list(graph.input.shape),
        "input_bytes": graph.input.nbytes,
        "layers": layers,
        "total_ops": sum(l["ops"] for l in layers),
        "total_macs": sum(l["macs"] for l in layers),
        "ram_peak_bytes": plan.ram_peak_bytes,
        "buffers": {b.name: b.size for b in plan.buffers},
        "rom_bytes": rom_bytes(graph),
        "params": int(sum(a.size for a in graph.params.values())),
    }


def format_table(report: dict) -> str:
    """Render a report as the fixed-width table ``edgesed report`` prints."""
    rows = report["layers"]
    w_op = max([8] + [len(l["op"]) for l in rows])
    w_kernel = max([38] + [len(l["kernel"]) for l in rows])
    w_fmt = max([7] + [len(l["format"]) for l in rows])
    head = (f"{'layer':<7} {'op':<{w_op}} {'kernel':<{w_kernel}} {'output':>12} "
            f"{'format':>{w_fmt}} {'ops':>10} {'buf':>4} {'bytes':>6} {'scratch':>7}")
    lines = [f"model {report['model']}: input {tuple(report['input_shape'])} "
             f"({report['input_bytes']} B)", head, "-" * len(head)]
    for l in rows:
        shape = "x".join(map(str, l["output_shape"]))
        buf = l["buffer"] + ("*" if l["in_place"] else "")
        lines.append(f"{l['name']:<7} {l['op']:<{w_op}} {l['kernel']:<{w_kernel}} {shape:>12} "
                     f"{l['format']:>{w_fmt}} {l['ops']:>10,} {buf:>4} {l['bytes']:>6} "
                     f"{l['scratch_bytes']:>7}")
    lines.append("-" * len(head))
    buffers = ", ".join(f"{k} {v:,} B" for k, v in report["buffers"].items())
    lines += [
        f"total ops        {report['total_ops']:>12,}   ({report['total_macs']:,} MACs)",
        f"RAM peak         {report['ram_peak_bytes']:>12,} B   ({buffers})",
        f"ROM (parameters) {report['rom_bytes']:>12,} B   ({report['params']:,} parameters)",
        "* in place in its input buffer (pooling, reshape)",
    ]
    return "\n".join(lines)
