"""GAP9: clock, memories and power, a cost model for the cluster cores, and the cost of one
inference of a :class:`~edgesed.ne16.layers.Net` (latency, energy, memory).

**Published** (GreenWaves GAP8/GAP9 page, greenwaves-technologies.com/gap8_gap9/; research
notes ``ne16.md`` §3.3) — chip-level figures, not NE16-specific:

- FC and cluster clocks up to **400 MHz**;
- **150.8 GOPS** peak, **0.33 mW/GOP** (so 150.8 x 0.33 = **49.76 mW** at peak);
- L1 **128 kB**, L2 **1.5 MB**, **2 MB** NVM; a 9-core RISC-V cluster next to the FC.

**Assumptions** (mine, orders of magnitude, no public per-unit figure exists; change them with
``dataclasses.replace(GAP9, ...)``):

- NE16 is clocked with the cluster (``ne16_mhz = cluster_mhz = 400``);
- 8 of the 9 cluster cores run parallel kernels (the 9th orchestrates), as PULP-NN does;
- power while busy is a sum over active units, split so that *everything active* equals the
  published peak 49.76 mW: SoC (FC, L2, clocks) 5 mW + cluster base (L1, interconnect, DMA)
  5 mW + 2.5 mW per active core x 8 + NE16 19.76 mW. An NE16 layer keeps SoC, cluster base,
  NE16 and one orchestrating core on (32.3 mW); a cluster layer keeps SoC, cluster base and 8
  cores on (30 mW). Idle time between inferences is not counted (energy *per inference*);
- weights live in L2 and are streamed into L1 for every inference (the models exceed 128 kB)
  by the cluster DMA at 8 B/cycle, double-buffered against NE16 compute: a layer takes
  ``max(NE16 cycles, DMA cycles)`` (the excess is the ``dma_stall`` term); each byte moved
  costs 5 pJ on top of the unit powers. Activations are assumed to stay in L1.

**Cluster-core cost model** (assumed, simple; cycles at the cluster clock, ``n = 8`` cores):

====================  ===============================================================
op                    cycles
====================  ===============================================================
GRU / RNN, per step   matvec ``gates*H*(I+H) / (n * 2 MAC/cycle)`` (int8 SIMD dot products
                      at half issue rate) + activations ``(2H sigmoid + H tanh) * 10 / n``
                      (GRU; RNN: ``H tanh``) + elementwise ``4H * 1 / n`` + a 30-cycle barrier
max/avg pooling       ``input elements * 1 / n``
sigmoid               ``elements * 10 / n``;  softmax: ``elements * 12 / n``;  add: ``elements / n``
every cluster op      + 60 cycles fork/join
====================  ===============================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgesed.errors import ArenaOverflowError, ConfigError
from edgesed.ne16.cycles import layer_cycles
from edgesed.ne16.layers import Kind, Layer, Net

__all__ = ["Gap9Profile", "GAP9", "PUBLISHED", "LayerCost", "cluster_cycles", "layer_cost",
           "net_costs", "format_net_costs", "check_fits_l2"]

#: The published figures above, as data (for the report and tests).
PUBLISHED = {"max_clock_mhz": 400.0, "peak_gops": 150.8, "mw_per_gop": 0.33,
             "l1_bytes": 128 * 1024, "l2_bytes": 1536 * 1024, "nvm_bytes": 2 * 1024 * 1024,
             "source": "GreenWaves GAP8/GAP9 page (chip-level figures)"}


@dataclass(frozen=True)
class Gap9Profile:
    """Clock, memories, unit powers and cluster-core costs of GAP9 (module docstring)."""

    name: str = "gap9"
    cluster_mhz: float = 400.0
    ne16_mhz: float = 400.0
    n_cores: int = 8
    l1_bytes: int = PUBLISHED["l1_bytes"]
    l2_bytes: int = PUBLISHED["l2_bytes"]
    soc_mw: float = 5.0
    cluster_base_mw: float = 5.0
    core_mw: float = 2.5
    ne16_mw: float = 150.8 * 0.33 - 30.0    #: 19.764: the remainder of the peak
    dma_bytes_per_cycle: float = 8.0
    dma_pj_per_byte: float = 5.0
    mac_per_core_cycle: float = 2.0
    elementwise_cycles: float = 1.0
    transcendental_cycles: float = 10.0
    softmax_cycles: float = 12.0
    pool_cycles: float = 1.0
    step_sync_cycles: float = 30.0
    fork_cycles: float = 60.0
    assumptions: str = field(default=(
        "NE16 at the 400 MHz cluster clock; unit powers split so all-on = 150.8 GOPS x "
        "0.33 mW/GOP = 49.76 mW (SoC 5, cluster 5, 2.5/core, NE16 19.76 mW); weights streamed "
        "L2->L1 each inference at 8 B/cycle, double-buffered, 5 pJ/B; cluster kernels on 8 "
        "cores at 2 MAC/cycle/core"), compare=False)

    @property
    def peak_mw(self) -> float:
        """All units on: should equal the published 150.8 GOPS x 0.33 mW/GOP."""
        return self.soc_mw + self.cluster_base_mw + self.n_cores * self.core_mw + self.ne16_mw

    @property
    def ne16_active_mw(self) -> float:
        return self.soc_mw + self.cluster_base_mw + self.ne16_mw + self.core_mw

    @property
    def cluster_active_mw(self) -> float:
        return self.soc_mw + self.cluster_base_mw + self.n_cores * self.core_mw


GAP9 = Gap9Profile()


@dataclass(frozen=True)
class LayerCost:
    """Cycles (named terms), time and energy of one layer on GAP9.

    ``unit`` is ``"ne16"`` or ``"cluster"``; ``cycles`` are at that unit's clock; ``ms`` and
    ``energy_uj`` follow from the profile.
    """

    layer: str
    unit: str
    terms: dict
    clock_mhz: float
    power_mw: float
    dma_bytes: int = 0
    dma_pj_per_byte: float = 0.0
    macs: int = 0

    @property
    def cycles(self) -> int:
        return int(math.ceil(sum(self.terms.values())))

    @property
    def ms(self) -> float:
        return self.cycles / (self.clock_mhz * 1e3)

    @property
    def energy_uj(self) -> float:
        """``power_mw * ms`` (mW x ms = µJ) + ``dma_bytes * pJ/B``."""
        return self.power_mw * self.ms + self.dma_bytes * self.dma_pj_per_byte * 1e-6


def cluster_cycles(layer: Layer, profile: Gap9Profile = GAP9) -> dict:
    """Named cycle terms of a layer NE16 does not run, on the cluster cores (module docstring)."""
    p = profile
    n = p.n_cores
    (hi, wi, ki), (ho, wo, ko) = layer.in_shape, layer.out_shape
    terms = {"fork": p.fork_cycles}
    if layer.kind in (Kind.GRU, Kind.RNN):
        steps, h = hi * wi, ko
        trans = 3 * h if layer.kind is Kind.GRU else h
        terms["matvec"] = steps * layer.gates * h * (ki + h) / (n * p.mac_per_core_cycle)
        terms["activation"] = steps * trans * p.transcendental_cycles / n
        terms["elementwise"] = steps * (4 * h if layer.kind is Kind.GRU else h) \
            * p.elementwise_cycles / n
        terms["sync"] = steps * p.step_sync_cycles
    elif layer.kind in (Kind.MAXPOOL, Kind.AVGPOOL):
        terms["pool"] = hi * wi * ki * p.pool_cycles / n
    elif layer.kind is Kind.SIGMOID:
        terms["activation"] = ho * wo * ko * p.transcendental_cycles / n
    elif layer.kind is Kind.SOFTMAX:
        terms["activation"] = ho * wo * ko * p.softmax_cycles / n
    elif layer.kind is Kind.ADD:
        terms["elementwise"] = ho * wo * ko * p.elementwise_cycles / n
    else:
        raise ConfigError(f"layer {layer.name!r} ({layer.kind.value}) runs on NE16, not on the "
                          "cluster cores; use layer_cost or edgesed.ne16.cycles.layer_cycles")
    return terms


def layer_cost(layer: Layer, profile: Gap9Profile = GAP9) -> LayerCost:
    """Cost of one layer: NE16 phases (+ ``dma_stall``) or cluster terms."""
    p = profile
    if layer.on_ne16:
        c = layer_cycles(layer)
        terms = dict(c.terms)
        w_bytes = layer.weight_bytes() + layer.fixed_bytes()
        dma = w_bytes / p.dma_bytes_per_cycle * (p.ne16_mhz / p.cluster_mhz)
        stall = max(0.0, dma - c.total)
        if stall:
            terms["dma_stall"] = stall
        return LayerCost(layer.name, "ne16", terms, p.ne16_mhz, p.ne16_active_mw, w_bytes,
                         p.dma_pj_per_byte, c.macs)
    return LayerCost(layer.name, "cluster", cluster_cycles(layer, p), p.cluster_mhz,
                     p.cluster_active_mw, 0, 0.0, layer.macs)


def check_fits_l2(net: Net, profile: Gap9Profile = GAP9) -> int:
    """Parameter bytes of ``net``; raises ArenaOverflowError if they exceed L2."""
    mem = net.memory_bytes
    if mem > profile.l2_bytes:
        raise ArenaOverflowError(f"net {net.name!r} needs {mem:,} B of parameters, more than "
                                 f"GAP9's L2 ({profile.l2_bytes:,} B); lower the weight bits "
                                 "(edgesed.ne16.search) or keep weights in external memory")
    return mem


def net_costs(net: Net, profile: Gap9Profile = GAP9) -> dict:
    """One inference of ``net`` on GAP9.

    Returns
    -------
    dict with ``layers`` (list of :class:`LayerCost`), ``ms``, ``energy_uj``, ``ne16_ms``,
    ``cluster_ms``, ``memory_bytes`` (parameters: packed weights + fixed), ``weight_bytes``,
    ``fixed_bytes``, ``macs``, ``fits_l2`` and ``assumptions``.
    """
    layers = [layer_cost(l, profile) for l in net.layers]
    ne16 = sum(c.ms for c in layers if c.unit == "ne16")
    clus = sum(c.ms for c in layers if c.unit == "cluster")
    return {"net": net.name, "layers": layers, "ms": ne16 + clus, "ne16_ms": ne16,
            "cluster_ms": clus, "energy_uj": sum(c.energy_uj for c in layers),
            "memory_bytes": net.memory_bytes, "weight_bytes": net.weight_bytes,
            "fixed_bytes": net.fixed_bytes, "macs": net.macs,
            "fits_l2": net.memory_bytes <= profile.l2_bytes, "bits": net.bits,
            "assumptions": profile.assumptions}


def format_net_costs(d: dict) -> str:
    """A per-layer table of a :func:`net_costs` dict: unit, bits, cycles, ms, µJ, top terms."""
    head = (f"{'layer':<6} {'unit':<7} {'bits':>4} {'cycles':>9} {'ms':>7} {'uJ':>7}  "
            "dominant terms")
    lines = [f"{d['net']}: {d['ms']:.3f} ms, {d['energy_uj']:.1f} uJ, "
             f"{d['memory_bytes'] / 1024:.1f} KiB of parameters per inference", head,
             "-" * len(head)]
    for c in d["layers"]:
        tot = sum(c.terms.values()) or 1.0
        dom = ", ".join(f"{k} {v / tot:.0%}"
                        for k, v in sorted(c.terms.items(), key=lambda kv: -kv[1])[:3])
        bits = d["bits"].get(c.layer, "")
        lines.append(f"{c.layer:<6} {c.unit:<7} {bits!s:>4} {c.cycles:>9,} {c.ms:>7.3f} "
                     f"{c.energy_uj:>7.2f}  {dom}")
    return "\n".join(lines)
