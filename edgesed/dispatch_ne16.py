"""Which GAP9 routine runs each NE16-family layer, its scratch, state, ROM image and bound call.

The NE16 twin of :mod:`edgesed.dispatch` (which delegates here for
:data:`~edgesed.graph_ne16.NE16_OPS`):

- :func:`c_function` names the routine: pulp-nnx ``ne16_nnx_dispatch`` (with the job count of a
  dilated layer), PULP-NN ``pulp_nn_maxpool_u8``/``_i8``, nnom ``gru_cell_run`` on the cluster;
- :func:`scratch_bytes`: the GRU's q7 input vector plus nnom's ``comp_buf_size``; 0 otherwise
  (NE16 streams from L1 with no im2col; the pools write straight to their output);
- :func:`state_bytes`: the GRU's q15 hidden state (``2*units``), carried across frames;
- :func:`rom_weights`: the flash image, the *packed* NE16 weights as stored in the graph plus
  scale/bias/shift, and the GRU's nnom-reordered q7 weights;
- :func:`bind`: jitted bodies on arena views (uint8 views of the int8 arena where the tensor is
  u8). Load time unpacks the packed weights once (the bits NE16 reads) and derives the
  signed-input bias correction; nothing is allocated per frame.

The cluster-core bodies (max pooling, global max, the GRU over a sequence) are in
:mod:`kernels.ne16.cluster`.

:func:`frame_costs` is the NE16/GAP9 counterpart of :func:`edgesed.costs.frame_costs` (same keys)
from :func:`edgesed.ne16.gap9.net_costs`.
"""
from __future__ import annotations

import numpy as np

from edgesed.graph_ne16 import conv_geometry, gru_shifts, to_net
from edgesed.op import Op
from kernels.ne16.cluster import _global_max, _gru_sequence, _maxpool_hwc

__all__ = ["c_function", "scratch_bytes", "state_bytes", "state_dtype", "rom_weights", "bind",
           "frame_costs", "conv_jobs"]


# ---------------------------------------------------------------------------- descriptions

def conv_jobs(graph, node) -> int:
    """NE16 jobs of a layer: ``min(dh, Ho) * min(dw, Wo)`` phase jobs for a dilated one, else 1."""
    g = conv_geometry(node, graph.input_of(node).shape)
    if g["mode"] == "fc":
        return 1
    (dh, dw), (ho, wo) = g["dilation"], g["out_shape"][:2]
    return min(dh, ho) * min(dw, wo)


def c_function(graph, node) -> str:
    """The GAP9 routine that runs the layer."""
    if node.op is Op.NE16_CONV:
        a = node.args
        extra = f", {conv_jobs(graph, node)} phase jobs" if tuple(a.dilation) != (1, 1) else ""
        fn = "ne16_nnx_dispatch_stride2x2" if a.stride == 2 else "ne16_nnx_dispatch"
        return f"{fn} ({a.mode}, {a.bits}-bit weights{extra})"
    if node.op is Op.NE16_MAXPOOL:
        return "pulp_nn_maxpool_" + ("u8" if graph.input_of(node).dtype == "uint8" else "i8")
    if node.op is Op.NE16_GLOBAL_MAXPOOL:
        return "global max pool (cluster)"
    return "nnom gru_cell_run (q7 weights, q15 state; cluster)"


def scratch_bytes(graph, node) -> int:
    """GRU: ``F`` bytes of q7 input + ``gru_buffer_size(units, F)``; 0 for the others."""
    from kernels.gru_q7 import gru_buffer_size

    if node.op is not Op.NE16_GRU:
        return 0
    f = graph.input_of(node).shape[2]
    return _even(f) + gru_buffer_size(node.args.units, f)


def _even(n: int) -> int:
    return n + (n & 1)          # keep the int16 buffer 2-byte aligned


def state_bytes(graph, node) -> int:
    """GRU: ``2 * units`` (q15 state, nnom ``state_size``), persistent; 0 otherwise."""
    from kernels.gru_q7 import gru_state_size

    return gru_state_size(node.args.units) if node.op is Op.NE16_GRU else 0


def state_dtype(node) -> np.dtype:
    return np.dtype(np.int16) if node.op is Op.NE16_GRU else np.dtype(np.int8)


def rom_weights(graph, node) -> dict:
    """The flash image: NE16 ``weight`` (packed bytes, as in the graph), ``scale``, ``bias``,
    ``shift`` (per channel, if any); GRU ``weight``/``recurrent`` reordered by nnom's
    ``convert_q7_q15_weights`` (flat), ``bias``, ``recurrent_bias``; nothing for pools."""
    from kernels.fully_connected_q7 import reorder_weights_q7_q15

    p = graph.params
    if node.op is Op.NE16_CONV:
        keys = ("weight", "scale", "bias") + (("shift",) if node.args.per_channel_shift else ())
        return {k: p[f"{node.name}.{k}"] for k in keys}
    if node.op is Op.NE16_GRU:
        return {"weight": reorder_weights_q7_q15(p[f"{node.name}.weight"]).reshape(-1),
                "recurrent": reorder_weights_q7_q15(p[f"{node.name}.recurrent"]).reshape(-1),
                "bias": p[f"{node.name}.bias"], "recurrent_bias": p[f"{node.name}.recurrent_bias"]}
    return {}


# ------------------------------------------------------------------------------------ bind

def _phase_views(x3, y3, pads, dilation):
    """(input view, output view, pad_top, pad_left) of each dilation phase job."""
    from kernels.ne16.dilated import phase_geometry

    (dh, dw), (t, _, _, l) = dilation, pads
    h, w = x3.shape[:2]
    ho, wo = y3.shape[:2]
    rows = [phase_geometry(p, dh, t, h, ho) for p in range(min(dh, ho))]
    cols = [phase_geometry(p, dw, l, w, wo) for p in range(min(dw, wo))]
    jobs = []
    for pr, (y0, ny, pt) in enumerate(rows):
        for pc, (x0, nx, pl) in enumerate(cols):
            xv = x3[y0:y0 + dh * ny:dh, x0:x0 + dw * nx:dw] if ny and nx else x3[0:0, 0:0]
            jobs.append((xv, y3[pr::dh, pc::dw], pt, pl))
    return jobs


def _bind_conv(graph, node, x, y, weights):
    from edgesed.dispatch import KernelCall
    from kernels.ne16.conv import _ne16_conv, prepare_job
    from kernels.ne16.packing import unpack_weights

    a = node.args
    g = conv_geometry(node, graph.input_of(node).shape)
    w_u = unpack_weights(weights["weight"], a.bits, g["mode"], g["weight_shape"])
    shift = weights["shift"].astype(np.int64) if a.per_channel_shift else int(a.shift)
    x3 = (x if a.input_signed else x.view(np.uint8)).reshape(g["in3"])
    job_mode = "1x1" if g["mode"] == "fc" else g["mode"]
    (_, xu, _, _, w, wmin, pv, nq, sc, b, hb, sh, relu, ob,
     x_xor) = prepare_job(x3, w_u, a.bits, a.weight_offset, job_mode, 1, 0, 0,
                          weights["scale"], a.scale_bits, weights["bias"], shift, bool(a.relu), 8,
                          bool(a.input_signed))
    out = y.view(np.uint8) if a.relu else y
    y3 = out.reshape(g["out_shape"] if len(g["out_shape"]) == 3 else (1, 1, a.out_ch))
    dw_flag = int(g["mode"] == "dw3x3")
    tail = (pv, int(nq), sc, b, int(hb), sh, int(relu), ob)
    if tuple(g["dilation"]) == (1, 1):
        t, _, _, l = g["pads"]
        return [KernelCall(_ne16_conv, (xu, x_xor, w, wmin, dw_flag, a.stride, t, l, *tail, y3))]
    return [KernelCall(_ne16_conv, (xv, x_xor, w, wmin, dw_flag, 1, pt, pl, *tail, yv))
            for xv, yv, pt, pl in _phase_views(xu, y3, g["pads"], g["dilation"])]


def bind(graph, node, x, y, scratch, state, weights, rounding: int = 0) -> list:
    """The body calls that run ``node`` from arena view ``x`` into view ``y`` (int8 views; u8
    tensors are re-viewed as uint8). ``scratch`` is the flat int8 scratch view, ``state`` the
    int16 GRU state view, ``weights`` from :func:`rom_weights`, ``rounding`` nnom's
    ``NNOM_TRUNCATE`` choice for the GRU (0: round, the default)."""
    from edgesed.dispatch import KernelCall

    in_spec = graph.input_of(node)
    xt = x.view(np.uint8) if in_spec.dtype == "uint8" else x
    yt = y.view(np.uint8) if node.output.dtype == "uint8" else y
    if node.op is Op.NE16_CONV:
        return _bind_conv(graph, node, x, y, weights)
    if node.op is Op.NE16_MAXPOOL:
        return [KernelCall(_maxpool_hwc, (xt, yt, *(int(v) for v in node.args.pool)))]
    if node.op is Op.NE16_GLOBAL_MAXPOOL:
        return [KernelCall(_global_max, (xt, yt))]
    s = gru_shifts(graph, node)
    t_steps, _, f = in_spec.shape
    vec = scratch[:f]
    buf = scratch[_even(f):scratch_bytes(graph, node)].view(np.int16)
    return [KernelCall(_gru_sequence, (
        xt.reshape(t_steps, f), int(node.args.input_shift), vec, weights["weight"],
        weights["recurrent"], weights["bias"], weights["recurrent_bias"], state,
        y.reshape(t_steps, node.args.units), buf, s.bias_shift, s.oshift_iw, s.oshift_hw,
        s.act_int_width, int(rounding)))]


# ----------------------------------------------------------------------------------- costs

def frame_costs(graph, plan=None, *, frame_ms: float = 960.0, profile=None) -> dict:
    """What one inference every ``frame_ms`` costs an NE16 graph on GAP9, with the keys of
    :func:`edgesed.costs.frame_costs` that the stream report reads.

    Layer cycles/ms/energy are :func:`edgesed.ne16.gap9.layer_cost` of :func:`to_net` (NE16
    phases at the NE16 clock; pools and GRU on the cluster cores; both at 400 MHz). Energy per
    frame counts the busy time only (``net_costs``: idle power between inferences is not
    modelled), so ``average_mw = energy / frame_ms``.

    Memory: the arena and the parameters share L2 (``fits``: their sum <= 1.5 MB); ``fits_l1``
    says whether the whole arena would also fit the 128 kB L1 (otherwise a deployment tiles
    activations L2 <-> L1 by DMA, e.g. with DORY; that traffic is not modelled).
    """
    from edgesed import ops
    from edgesed.ne16.gap9 import GAP9, net_costs
    from edgesed.planner import PingPongPlanner

    p = profile or GAP9
    plan = plan or PingPongPlanner().plan(graph)
    d = net_costs(to_net(graph), p)
    layers = []
    for node, c in zip(graph.nodes, d["layers"]):
        layers.append({"name": node.name, "kernel": c_function(graph, node), "unit": c.unit,
                       "ops": ops.layer_ops(graph, node), "cycles": c.cycles, "ms": c.ms,
                       "energy_uj": c.energy_uj, "terms": dict(c.terms)})
    busy = sum(l["ms"] for l in layers)
    n_ops = sum(l["ops"] for l in layers)
    energy = d["energy_uj"]
    l2_ok = plan.ram_peak_bytes + graph.rom_bytes <= p.l2_bytes
    return {
        "model": graph.name,
        "target": {"name": p.name, "core": "NE16 + 8-core RISC-V cluster", "build": "ne16",
                   "board": "GAP9", "clock_mhz": p.cluster_mhz, "flash_wait_states": 0,
                   "calibration": p.assumptions},
        "layers": layers, "total_cycles": sum(l["cycles"] for l in layers), "total_ms": busy,
        "frame_ms": float(frame_ms), "duty_cycle": busy / frame_ms, "realtime": busy < frame_ms,
        "ops": n_ops, "mops": n_ops / (busy * 1e3) if busy else 0.0,
        "power": {"energy_per_frame_uj": energy, "average_mw": energy / frame_ms,
                  "assumption": "busy energy only (edgesed.ne16.gap9); idle not counted"},
        "memory": {"ram_bytes": plan.ram_peak_bytes, "ram_capacity": p.l2_bytes - graph.rom_bytes,
                   "flash_bytes": graph.rom_bytes, "flash_capacity": p.l2_bytes,
                   "fits": l2_ok, "fits_l1": plan.ram_peak_bytes <= p.l1_bytes,
                   "problem": "" if l2_ok else
                   f"arena {plan.ram_peak_bytes:,} B + parameters {graph.rom_bytes:,} B exceed "
                   f"L2 ({p.l2_bytes:,} B); lower the weight bits or the activation sizes"},
    }
