"""Per-frame cost of one inference on a target: time, duty cycle, throughput, energy, power.

:func:`frame_costs` turns the cycle model (:mod:`edgesed.cycles`) into what a frame costs on a
device; :func:`format_costs` prints it. Every figure is a formula over the model's cycles and
the target profile (:mod:`edgesed.targets`)::

    ms(layer)        = cycles(layer) / (clock_mhz * 1000)
    busy_ms          = Σ ms(layer)                       duty = busy_ms / frame_ms
    MOPS             = ops (edgesed.ops, seed Eq. 5-7) / (busy_ms * 1000)
    P_run  [mW]      = run_ua_per_mhz * clock_mhz * voltage_v / 1000
    P_idle [mW]      = idle_ua * voltage_v / 1000
    E_frame [µJ]     = P_run * busy_ms + P_idle * (frame_ms - busy_ms)      (mW x ms = µJ)
    P_avg  [mW]      = E_frame / frame_ms

Idle assumption: between frames the MCU sits in the target's ``idle_mode`` at ``idle_ua``
(``stm32l476rg``: Standby, 0.42 µA, as the seed quotes), i.e. it wakes once per frame and
nothing else runs. The frontend (mel features), audio capture and wake-up latency are not
counted — as in the seed, which computed features off-device.

The seed's 5.5 mW. 100 µA/MHz x 80 MHz = 8 mA; at the Nucleo's 3.3 V that is 26.4 mW, the
"26 mW" of the seed's Table IV. Busy for 125.6 ms of every 960 ms frame (13.1 %) with Standby
in between gives 3.45 mW, not 5.5 mW. The readings that reproduce 5.5 mW are: 5.5 / 8 mA =
0.69 V at 100 % duty (impossible: VDD >= 1.71 V), or 5.5 / 26.4 = 20.8 % duty (200 ms busy per
960 ms, 74 ms more than Table VI's inference), or 125.6 ms busy plus 0.71 mA of idle current
(sleep at a reduced clock rather than Standby). The paper does not say which;
:func:`seed_power_readings` computes all three and the comparison reports ours beside 5.5 mW.
"""
from __future__ import annotations

from edgesed import ops
from edgesed.cycles import graph_cycles
from edgesed.errors import ArenaOverflowError
from edgesed.graph import Graph, Op
from edgesed.graph_s8 import S8_OPS
from edgesed.targets import Build, check_fits, resolve_target

__all__ = ["SEED_MS", "SEED_PLAIN_C_MS", "SEED_POWER_MW", "SEED_FRAME_MS", "frame_costs", "format_costs",
           "seed_power_readings"]

SEED_MS = 125.6        #: seed Table VI, CMSIS-NN total on the STM32L476RG at 80 MHz
SEED_PLAIN_C_MS = 291.4  #: seed Table VI, plain-C total
SEED_POWER_MW = 5.5    #: seed §VII, average power
SEED_FRAME_MS = 960.0  #: one VGGish patch (96 hops of 10 ms)


def seed_power_readings(run_ua_per_mhz=100.0, clock_mhz=80.0, voltage_v=3.3, busy_ms=SEED_MS,
                        frame_ms=SEED_FRAME_MS, standby_ua=0.42) -> dict:
    """The ways 100 µA/MHz at 80 MHz can be read against the seed's 5.5 mW (module docstring)."""
    run_ma = run_ua_per_mhz * clock_mhz / 1000.0
    p_run = run_ma * voltage_v
    duty = busy_ms / frame_ms
    standby_mw = standby_ua * voltage_v / 1000.0
    return {
        "run_current_ma": run_ma,
        "run_power_mw_at_3v3": p_run,
        "duty_cycle": duty,
        "average_mw_standby_idle": p_run * duty + standby_mw * (1 - duty),
        "voltage_for_5p5mw_at_full_duty": SEED_POWER_MW / run_ma,
        "duty_for_5p5mw_at_3v3": SEED_POWER_MW / p_run,
        "busy_ms_for_5p5mw_at_3v3": SEED_POWER_MW / p_run * frame_ms,
        "idle_ma_for_5p5mw_at_3v3": (SEED_POWER_MW - p_run * duty) / (voltage_v * (1 - duty)),
    }


def frame_costs(graph: Graph, target, plan=None, *, frame_ms: float = SEED_FRAME_MS) -> dict:
    """What one frame (one inference every ``frame_ms``) costs ``graph`` on ``target``.

    Parameters
    ----------
    graph : Graph
    target : Target or str
        A profile or a name for :func:`~edgesed.targets.resolve_target`.
    plan : Plan, optional
        Memory plan for the RAM check (ping-pong by default).
    frame_ms : float
        Time between inferences (960 ms: one patch, as in the seed).

    Returns
    -------
    dict with ``model``, ``target`` (profile figures), ``layers`` (name, kernel, ops, cycles,
    ms, mops, terms), ``total_cycles``, ``total_ms``, ``frame_ms``, ``duty_cycle``,
    ``realtime``, ``ops``, ``mops``, ``ops_per_cycle``, ``power`` (run/idle mW, energy per
    frame in µJ split busy/idle, average mW, assumption), ``memory`` (RAM/flash use and fit),
    ``unvalidated`` (int8 layers, whose cycle model has no measurement behind it) and ``seed``
    (comparison with Table VI's 125.6 ms — 291.4 ms for a plain-C build — and the
    seed's 5.5 mW; ``same_board`` says whether the target is the seed's board at 80 MHz,
    ``same_model`` whether the graph is the seed's M20k, ``models.build("m20k")``).
    """
    from edgesed.graph_ne16 import is_ne16
    from edgesed.planner import PingPongPlanner

    if is_ne16(graph):                     # NE16 + cluster on GAP9: its own cycle/power model
        from edgesed.dispatch_ne16 import frame_costs as ne16_frame_costs

        return ne16_frame_costs(graph, plan, frame_ms=frame_ms)
    t = resolve_target(target)
    if not frame_ms > 0:
        raise ValueError(f"frame_ms={frame_ms!r} must be > 0")
    plan = plan or PingPongPlanner().plan(graph)
    layers = []
    for node, b in zip(graph.nodes, graph_cycles(graph, t)):
        n_ops = ops.layer_ops(graph, node)
        layers.append({"name": node.name, "kernel": b.kernel, "ops": n_ops, "cycles": b.total,
                       "ms": b.ms, "mops": n_ops / (b.ms * 1e3) if b.ms else 0.0,
                       "terms": dict(b.terms)})
    cycles = sum(l["cycles"] for l in layers)
    busy = cycles / (t.clock_mhz * 1e3)
    n_ops = sum(l["ops"] for l in layers)
    idle_ms = max(frame_ms - busy, 0.0)
    e_busy = t.run_power_mw * busy
    e_idle = t.idle_power_mw * idle_ms
    energy = e_busy + e_idle
    try:
        mem = {**check_fits(graph, plan, t), "fits": True, "problem": ""}
    except ArenaOverflowError as exc:
        mem = {"ram_bytes": plan.ram_peak_bytes, "ram_capacity": t.ram_bytes,
               "flash_bytes": graph.rom_bytes, "flash_capacity": t.flash_bytes,
               "fits": False, "problem": str(exc)}
    seed_board = t.board.startswith("STM32L476RG") and t.clock_mhz == 80
    seed_ms = SEED_PLAIN_C_MS if t.build is Build.PLAIN_C else SEED_MS
    return {
        "model": graph.name,
        "target": {"name": t.name, "core": t.core.value, "build": t.build.value,
                   "board": t.board, "clock_mhz": t.clock_mhz,
                   "flash_wait_states": t.flash_wait_states, "calibration": t.calibration},
        "layers": layers,
        "total_cycles": cycles,
        "total_ms": busy,
        "frame_ms": frame_ms,
        "duty_cycle": busy / frame_ms,
        "realtime": busy < frame_ms,
        "ops": n_ops,
        "mops": n_ops / (busy * 1e3) if busy else 0.0,
        "ops_per_cycle": n_ops / cycles if cycles else 0.0,
        "power": {
            "run_mw": t.run_power_mw, "idle_mw": t.idle_power_mw,
            "run_ua_per_mhz": t.run_ua_per_mhz, "voltage_v": t.voltage_v,
            "idle_ua": t.idle_ua, "idle_mode": t.idle_mode,
            "energy_busy_uj": e_busy, "energy_idle_uj": e_idle, "energy_per_frame_uj": energy,
            "average_mw": energy / frame_ms,
            "assumption": (f"run {t.run_ua_per_mhz:g} uA/MHz x {t.clock_mhz:g} MHz x "
                           f"{t.voltage_v:g} V while busy; {t.idle_mode} at {t.idle_ua:g} uA "
                           f"for the rest of each {frame_ms:g} ms frame; frontend, capture and "
                           "wake-up not counted"),
        },
        "memory": mem,
        "unvalidated": [n.name for n in graph.nodes if n.op in S8_OPS and n.op is not Op.RESHAPE],
        "seed": {
            "seed_ms": SEED_MS, "seed_plain_c_ms": SEED_PLAIN_C_MS,
            "seed_power_mw": SEED_POWER_MW, "compared_ms": seed_ms,
            "ms_ratio": busy / seed_ms, "power_ratio": (energy / frame_ms) / SEED_POWER_MW,
            "same_board": seed_board,
            "same_model": graph.name == "m20k",
            "readings": seed_power_readings(),
            "note": ("the seed's 5.5 mW is not reproduced by 26.4 mW x 13.1 % duty + Standby "
                     "(3.45 mW); see edgesed.costs for the readings that would give it"),
        },
    }


def _format_ne16(d: dict) -> str:
    """The GAP9 table of an NE16 graph's costs (:func:`edgesed.dispatch_ne16.frame_costs`)."""
    t, p, m = d["target"], d["power"], d["memory"]
    w = max([20] + [len(l["kernel"]) for l in d["layers"]])
    head = f"{'layer':<7} {'unit':<8} {'routine':<{w}} {'ms':>8} {'cycles':>11} {'uJ':>8}"
    lines = [f"model {d['model']} on {t['name']} ({t['core']}, {t['clock_mhz']:g} MHz)", head,
             "-" * len(head)]
    for l in d["layers"]:
        lines.append(f"{l['name']:<7} {l['unit']:<8} {l['kernel']:<{w}} {l['ms']:>8.3f} "
                     f"{l['cycles']:>11,.0f} {l['energy_uj']:>8.2f}")
    lines += ["-" * len(head),
              f"total            {d['total_ms']:>9.3f} ms per {d['frame_ms']:g} ms frame "
              f"(duty {d['duty_cycle']:.2%}), {d['mops']:.0f} MOPS",
              f"energy           {p['energy_per_frame_uj']:>9.1f} uJ per frame, "
              f"{p['average_mw']:.3f} mW average ({p['assumption']})",
              f"memory           arena {m['ram_bytes']:,} B + parameters {m['flash_bytes']:,} B "
              f"in L2 ({m['flash_capacity']:,} B)" + ("" if m["fits"] else "  ** DOES NOT FIT **")
              + ("" if m["fits_l1"] else "; arena larger than L1: tiled by DMA (not modelled)"),
              f"assumptions      {t['calibration']}"]
    return "\n".join(lines)


def format_costs(d: dict) -> str:
    """A readable per-frame cost table of a :func:`frame_costs` dict."""
    if d["target"].get("build") == "ne16":
        return _format_ne16(d)
    t = d["target"]
    head = f"{'layer':<7} {'kernel':<46} {'ms':>8} {'cycles':>11} {'MOPS':>7}  dominant terms"
    lines = [f"model {d['model']} on {t['name']} ({t['core']}, {t['build']} build, "
             f"{t['clock_mhz']:g} MHz, {t['flash_wait_states']} flash WS)", head, "-" * len(head)]
    for l in d["layers"]:
        tot = l["cycles"] or 1.0
        dom = ", ".join(f"{k} {v / tot:.0%}"
                        for k, v in sorted(l["terms"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"{l['name']:<7} {l['kernel']:<46} {l['ms']:>8.2f} {l['cycles']:>11,.0f} "
                     f"{l['mops']:>7.2f}  {dom}")
    lines.append("-" * len(head))
    p, m, s = d["power"], d["memory"], d["seed"]
    lines += [
        f"total            {d['total_ms']:>9.2f} ms per {d['frame_ms']:g} ms frame "
        f"(duty {d['duty_cycle']:.1%}, {'real time' if d['realtime'] else 'NOT real time'})",
        f"throughput       {d['mops']:>9.2f} MOPS ({d['ops']:,} ops, "
        f"{d['ops_per_cycle']:.3f} ops/cycle)",
        f"energy           {p['energy_per_frame_uj']:>9.1f} uJ per frame (busy "
        f"{p['energy_busy_uj']:.1f} uJ at {p['run_mw']:.2f} mW, idle {p['energy_idle_uj']:.2f} uJ "
        f"at {p['idle_mw']:.4f} mW)",
        f"average power    {p['average_mw']:>9.3f} mW  ({p['assumption']})",
        f"memory           RAM {m['ram_bytes']:,} / {m['ram_capacity']:,} B, flash "
        f"{m['flash_bytes']:,} / {m['flash_capacity']:,} B"
        + ("" if m["fits"] else "  ** DOES NOT FIT **"),
        f"seed (Table VI)  {s['compared_ms']} ms, {s['seed_power_mw']} mW -> ratio "
        f"{s['ms_ratio']:.2f} (time), {s['power_ratio']:.2f} (power)"
        + ("" if s["same_board"] else "  [different target from the seed's]")
        + ("" if s.get("same_model", True) else "  [different model from the seed's]"),
        f"calibration      {t['calibration']}",
    ]
    if d.get("unvalidated"):
        lines.append("cycle model      int8 (s8/s4) layers are first-principles loop counts "
                     "(edgesed.cycles.s8), NOT validated against a measurement")
    return "\n".join(lines)
