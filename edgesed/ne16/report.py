"""Bose-style report: memory, latency and energy of searched mixed-precision models against the
all-8-bit model on NE16, for several memory budgets, with the seed's own figures beside them.

For each budget ``S_target`` the bits come from :func:`edgesed.ne16.search.search`; memory is
the parameter memory (packed weights + normquant parameters + cluster-side weights,
:attr:`Net.memory_bytes`), latency and energy are one inference on the GAP9 profile
(:func:`edgesed.ne16.gap9.net_costs`). Reductions are ``100 * (1 - searched / all-8-bit)``.

The seed's numbers (Wu, Quan, Izadi, Huang — Bose — ICASSP 2024, "It is okay to be uncommon")
are **theirs**: measured on GAP9 hardware, averaged over their DCRNN and HiSSNet, after
FracBits search and fine-tuning, against QAT 8-bit models — **−62 % memory, −46 % latency,
−61 % energy** (:data:`SEED_REDUCTIONS`). Ours are a model's estimates on a model-sized
network with random weights; they are printed beside the seed's, never mixed with them.
"""
from __future__ import annotations

from edgesed.ne16.gap9 import GAP9, Gap9Profile, net_costs
from edgesed.ne16.layers import Net
from edgesed.ne16.search import Sensitivity, search

__all__ = ["SEED_REDUCTIONS", "SEED_BUDGETS_KB", "reduction", "budget_report", "bit_width_report",
           "format_report"]

#: Bose's measured average reductions vs 8-bit on GAP9 (the seed's Results), in percent.
SEED_REDUCTIONS = {"memory": 62.0, "latency": 46.0, "energy": 61.0}
#: The seed's budgets: S_target = 400 KB (DCRNN) and 700 KB (HiSSNet).
SEED_BUDGETS_KB = {"DCRNN": 400, "HiSSNet": 700}


def reduction(base: float, new: float) -> float:
    """``100 * (1 - new / base)``: percent saved (negative if ``new`` is larger)."""
    return 100.0 * (1.0 - new / base) if base else 0.0


def budget_report(net: Net, sens: Sensitivity, budget_bytes: int,
                  profile: Gap9Profile = GAP9, *, base: dict | None = None) -> dict:
    """Search at one budget and compare with ``net`` at all 8 bits.

    Returns a dict: ``budget_bytes``, ``bits``, ``predicted_sqnr_db``, ``base`` and ``ours``
    (each ``memory_bytes``, ``ms``, ``energy_uj``, ``ne16_ms``, ``cluster_ms``) and
    ``reduction`` (percent per ``memory``/``latency``/``energy``).
    """
    base = base or net_costs(net.with_bits(8), profile)
    res = search(net, sens, budget_bytes)
    ours = net_costs(net.with_bits(res.bits), profile)
    keys = ("memory_bytes", "ms", "energy_uj", "ne16_ms", "cluster_ms")
    return {
        "budget_bytes": int(budget_bytes), "bits": dict(res.bits),
        "predicted_nsr": res.predicted_nsr, "predicted_sqnr_db": res.predicted_sqnr_db,
        "base": {k: base[k] for k in keys}, "ours": {k: ours[k] for k in keys},
        "reduction": {"memory": reduction(base["memory_bytes"], ours["memory_bytes"]),
                      "latency": reduction(base["ms"], ours["ms"]),
                      "energy": reduction(base["energy_uj"], ours["energy_uj"])},
    }


def bit_width_report(net: Net, sens: Sensitivity, budgets_bytes,
                     profile: Gap9Profile = GAP9) -> dict:
    """:func:`budget_report` for every budget, sharing the all-8-bit baseline."""
    base = net_costs(net.with_bits(8), profile)
    return {"net": net.name, "profile": profile.name, "assumptions": profile.assumptions,
            "budgets": [budget_report(net, sens, b, profile, base=base) for b in budgets_bytes]}


def format_report(rep: dict) -> str:
    """The reduction table: one block per budget, then the seed's figures, labelled."""
    lines = [f"NE16 mixed precision vs all-8-bit: {rep['net']} on {rep['profile']} "
             "(estimates of edgesed's cycle and power model)"]
    head = f"{'S_target':>9} {'':<14} {'all-8-bit':>10} {'searched':>10} {'reduction':>10}"
    lines += [head, "-" * len(head)]
    for b in rep["budgets"]:
        rb, ro, red = b["base"], b["ours"], b["reduction"]
        tag = f"{b['budget_bytes'] / 1024:.0f} KiB"
        lines += [
            f"{tag:>9} {'memory KiB':<14} {rb['memory_bytes'] / 1024:>10.1f} "
            f"{ro['memory_bytes'] / 1024:>10.1f} {-red['memory']:>+9.1f}%",
            f"{'':>9} {'latency ms':<14} {rb['ms']:>10.3f} {ro['ms']:>10.3f} "
            f"{-red['latency']:>+9.1f}%",
            f"{'':>9} {'energy uJ':<14} {rb['energy_uj']:>10.1f} {ro['energy_uj']:>10.1f} "
            f"{-red['energy']:>+9.1f}%",
            f"{'':>9} {'bits':<14} " + " ".join(f"{k}={v}" for k, v in b["bits"].items())
            + f"   (predicted output SQNR {b['predicted_sqnr_db']:.1f} dB)",
        ]
    s = SEED_REDUCTIONS
    lines += ["-" * len(head),
              f"{'seed':>9} {'THEIRS':<14} Wu et al. (Bose), ICASSP 2024, measured on GAP9, "
              "average of DCRNN and HiSSNet vs 8-bit QAT:",
              f"{'':>9} {'':<14} memory {-s['memory']:+.0f} %, latency {-s['latency']:+.0f} %, "
              f"energy {-s['energy']:+.0f} % (budgets {SEED_BUDGETS_KB['DCRNN']} KB DCRNN, "
              f"{SEED_BUDGETS_KB['HiSSNet']} KB HiSSNet)",
              f"assumptions: {rep['assumptions']}"]
    return "\n".join(lines)
