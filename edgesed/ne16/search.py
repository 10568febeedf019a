"""Training-free per-layer weight bit-width search under a memory budget, for NE16.

The seed searched bits with FracBits (differentiable, needs training). This is the training-free
alternative of the research notes §4 (HAWQ-style sensitivity + a knapsack), in three steps:

1. **Quantizer** (:func:`quantize_ne16`, :func:`fake_quant`): the grid NE16 computes with —
   stored unsigned ``w_u in [0, 2^b - 1]``, effective weight ``w_u + Wmin`` with the per-layer
   ``Wmin = -2^(b-1)`` (the pulp-nnx golden model's choice), times a per-output-channel float
   scale (folded into NE16's per-channel normquant scale). Each channel's scale is the one of
   ``SCALE_CANDIDATES`` (fractions of ``max|w| / (2^(b-1) - 1)``) with the least squared error.
2. **Sensitivity** (:func:`sensitivity`): for every searchable layer ``l`` and ``b`` in 2..8,
   quantize *only* layer ``l`` to ``b`` bits, run the float network on calibration data from
   layer ``l`` on (the activations before it are cached), and measure the noise-to-signal ratio
   of the network output (the last weighted layer's output: logits)::

       NSR_l(b) = Σ (y_q - y)^2 / Σ y^2          (SQNR = -10 log10 NSR)

   **Additivity assumption** (as in HAWQ): quantization noise of different layers is
   independent and adds at the output, so the network's NSR with bits ``(b_1 .. b_L)`` is
   predicted as ``Σ_l NSR_l(b_l)``. :func:`measure_nsr` measures the real joint NSR so the
   prediction can be checked (the demo prints both).
3. **Knapsack** (:func:`solve_mckp`): a multiple-choice knapsack — one bit-width per layer,
   cost = the layer's packed weight bytes (``Kout * ceil(Kin/16) * b * k^2 * 2``), value =
   ``NSR_l(b)`` — minimizing the predicted NSR subject to
   ``Σ packed bytes <= S_target - fixed bytes`` (fixed: normquant parameters, cluster weights).
   Solved exactly by dynamic programming over a byte grid of granularity ``g`` = the gcd of all
   layer costs (so every cost is a whole number of grid steps and nothing is rounded); a coarser
   ``granularity`` rounds costs *up* (the result always fits, but may be slightly suboptimal).
   The DP table over all capacities also gives the whole Pareto front of memory vs error
   (:func:`pareto_front`) at no extra cost.

Budgets are in bytes; the report and the demo print KiB (1 KB = 1024 B; the seed's "400 KB").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

import numpy as np

from edgesed.errors import ArenaOverflowError, ConfigError
from kernels.ne16.packing import to_unsigned
from edgesed.ne16.layers import BITS, Net, check_bits

__all__ = ["BITS", "SCALE_CANDIDATES", "quantize_ne16", "fake_quant", "Sensitivity", "sensitivity",
           "measure_nsr", "solve_mckp", "Knapsack", "SearchResult", "search", "pareto_front",
           "format_pareto", "min_budget"]

SCALE_CANDIDATES = np.linspace(0.3, 1.0, 22)   #: fractions of max|w| / (2^(b-1) - 1) tried


def quantize_ne16(w: np.ndarray, bits: int):
    """Quantize float weights (output channel on the last axis) to NE16's grid.

    Returns
    -------
    w_u : np.ndarray [shape=w.shape, dtype=uint8], values in [0, 2^bits - 1]
        Stored unsigned weights.
    wmin : int
        ``-2^(bits-1)``; the effective integer weight is ``w_u + wmin``.
    scale : np.ndarray [shape=(w.shape[-1],), dtype=float32]
        Per-output-channel scale: ``w ≈ scale * (w_u + wmin)``.
    """
    b = check_bits(bits)
    w = np.asarray(w, np.float32)
    lo, hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
    flat = w.reshape(-1, w.shape[-1])                     # (n, Cout)
    top = np.abs(flat).max(axis=0)
    top = np.where(top > 0, top, 1.0)
    best_err = np.full(flat.shape[1], np.inf)
    best_s = top / hi
    for frac in SCALE_CANDIDATES.astype(np.float32):
        s = top * frac / np.float32(hi)
        q = np.clip(np.rint(flat / s), lo, hi)
        err = ((q * s - flat) ** 2).sum(axis=0)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_s = np.where(better, s, best_s)
    q = np.clip(np.rint(flat / best_s), lo, hi).astype(np.int16).reshape(w.shape)
    w_u, wmin = to_unsigned(q, b)          # the kernels' stored form: w_u = q + 2^(b-1)
    return w_u, wmin, best_s


def fake_quant(w: np.ndarray, bits: int) -> np.ndarray:
    """``scale * (w_u + wmin)`` of :func:`quantize_ne16`, float32, shape of ``w``."""
    w_u, wmin, s = quantize_ne16(w, bits)
    return ((w_u.astype(np.float32) + np.float32(wmin)) * s).astype(np.float32)


def _last_weighted(net: Net) -> int:
    idx = [i for i, l in enumerate(net.layers) if l.on_ne16 or l.gates]
    return idx[-1] + 1


def _nsr(y, ref) -> float:
    return float(((y.astype(np.float64) - ref) ** 2).sum() / max((ref.astype(np.float64) ** 2)
                                                                 .sum(), 1e-30))


@dataclass(frozen=True)
class Sensitivity:
    """``nsr[layer][bits]``: output noise-to-signal ratio with only that layer quantized."""

    nsr: dict
    n_samples: int
    metric: str = "output NSR of the last weighted layer, one layer quantized at a time"

    def sqnr_db(self, layer: str, bits: int) -> float:
        v = self.nsr[layer][bits]
        return 10 * math.log10(1 / v) if v > 0 else math.inf


def sensitivity(model, calib: np.ndarray, bits=BITS) -> Sensitivity:
    """Per-layer sensitivities of ``model`` (a :class:`~edgesed.ne16.crnn.FloatModel`) on
    ``calib`` (its input batch), for every searchable layer and every ``bits``."""
    bits = tuple(check_bits(b) for b in bits)
    net = model.net
    stop = _last_weighted(net)
    ref, ins = model.forward(calib, stop=stop, trace=True)
    table = {}
    for layer in net.searchable:
        i = model.index[layer.name]
        w = model.weight(layer.name)
        table[layer.name] = {b: _nsr(model.forward(ins[i], {layer.name: fake_quant(w, b)},
                                                   start=i, stop=stop), ref) for b in bits}
    return Sensitivity(table, int(calib.shape[0]))


def measure_nsr(model, calib: np.ndarray, bits: dict) -> float:
    """The real output NSR with every searchable layer quantized jointly to ``bits[name]``."""
    stop = _last_weighted(model.net)
    ref = model.forward(calib, stop=stop)
    wq = {name: fake_quant(model.weight(name), b) for name, b in bits.items()}
    return _nsr(model.forward(calib, wq, stop=stop), ref)


# --- the knapsack -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Knapsack:
    """A solved multiple-choice knapsack DP: ``best[c]`` is the least total error with cost
    at most ``c`` grid steps; ``choice[l, c]`` the option index layer ``l`` takes there."""

    options: tuple        # per item: tuple of (key, cost_bytes, error)
    units: tuple          # per item: tuple of cost in grid steps
    granularity: int
    best: np.ndarray
    choice: np.ndarray

    def pick(self, c: int) -> list:
        """Option keys of the optimum at capacity ``c`` grid steps (backtracking)."""
        keys = []
        for l in range(len(self.options) - 1, -1, -1):
            j = int(self.choice[l, c])
            keys.append(self.options[l][j][0])
            c -= self.units[l][j]
        return keys[::-1]


def solve_mckp(options, capacity_bytes: int, granularity: int | None = None) -> Knapsack:
    """Minimize ``Σ error`` choosing one option per item with ``Σ cost <= capacity_bytes``.

    Parameters
    ----------
    options : sequence of sequences of ``(key, cost_bytes, error)``
        One inner sequence per item (layer); ``cost_bytes`` non-negative ints.
    capacity_bytes : int
    granularity : int, optional
        Grid step in bytes. Default: the gcd of all costs (exact). Otherwise costs are rounded up
        to multiples of it (always feasible, possibly suboptimal) and the capacity down.

    Raises
    ------
    ArenaOverflowError
        If no choice fits; the message gives the smallest capacity that does.
    """
    options = tuple(tuple((k, int(c), float(e)) for k, c, e in item) for item in options)
    if not options or any(not item for item in options):
        raise ConfigError("options must hold at least one item, each with at least one option")
    if any(c < 0 for item in options for _, c, _ in item):
        raise ConfigError("option costs must be >= 0 bytes")
    costs = [c for item in options for _, c, _ in item]
    g = int(granularity) if granularity else (reduce(math.gcd, costs) or 1)
    if g < 1:
        raise ConfigError(f"granularity={granularity!r} must be a positive number of bytes")
    need = sum(min(c for _, c, _ in item) for item in options)
    units = tuple(tuple(-(-c // g) for _, c, _ in item) for item in options)
    cap = int(capacity_bytes) // g if capacity_bytes >= 0 else -1
    need_units = sum(min(u) for u in units)
    if cap < need_units:
        raise ArenaOverflowError(
            f"capacity {capacity_bytes:,} B cannot hold the smallest choice of every item, "
            f"{need:,} B" + (f" ({need_units * g:,} B on the {g}-byte grid)" if need_units * g
                             != need else "") + "; raise the budget to at least that")
    best = np.zeros(cap + 1)
    choice = np.zeros((len(options), cap + 1), np.int16)
    for l, item in enumerate(options):
        new = np.full(cap + 1, np.inf)
        for j, (_, _, err) in enumerate(item):
            u = units[l][j]
            if u > cap:
                continue
            cand = np.full(cap + 1, np.inf)
            cand[u:] = best[:cap + 1 - u] + err
            better = cand < new
            new[better] = cand[better]
            choice[l, better] = j
        best = new
    return Knapsack(options, units, g, best, choice)


# --- search over a net --------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchResult:
    """Bits per searchable layer, the memory they take and the predicted output NSR."""

    bits: dict
    memory_bytes: int
    weight_bytes: int
    predicted_nsr: float
    budget_bytes: int
    granularity: int

    @property
    def predicted_sqnr_db(self) -> float:
        return 10 * math.log10(1 / self.predicted_nsr) if self.predicted_nsr > 0 else math.inf


def min_budget(net: Net, bits=BITS) -> int:
    """Smallest parameter memory ``net`` can have: every searchable layer at ``min(bits)``,
    plus the fixed bytes."""
    b = min(check_bits(x) for x in bits)
    return sum(l.weight_bytes(b) for l in net.searchable) + net.fixed_bytes


def _options(net: Net, sens: Sensitivity, bits):
    bits = tuple(sorted({check_bits(b) for b in bits}))
    missing = [l.name for l in net.searchable if l.name not in sens.nsr]
    if missing:
        raise ConfigError(f"no sensitivity for layers {missing}; run sensitivity() on this net")
    return [[(b, l.weight_bytes(b), sens.nsr[l.name][b]) for b in bits] for l in net.searchable]


def _solve(net: Net, sens: Sensitivity, budget_bytes: int, bits, granularity):
    if budget_bytes < (lo := min_budget(net, bits)):
        raise ArenaOverflowError(
            f"budget S_target={budget_bytes:,} B ({budget_bytes / 1024:.1f} KiB) is below the "
            f"smallest possible model of {net.name!r}: {lo:,} B ({lo / 1024:.1f} KiB) = every "
            f"searchable layer at {min(bits)} bits + {net.fixed_bytes:,} B of non-weight memory "
            "(normquant parameters, cluster-side weights); raise the budget to at least that")
    return solve_mckp(_options(net, sens, bits), budget_bytes - net.fixed_bytes, granularity)


def search(net: Net, sens: Sensitivity, budget_bytes: int, *, bits=BITS,
           granularity: int | None = None) -> SearchResult:
    """Per-layer bits minimizing the predicted output NSR with parameters <= ``budget_bytes``.

    Raises ArenaOverflowError naming the smallest feasible budget if none fits."""
    ks = _solve(net, sens, budget_bytes, bits, granularity)
    cap = len(ks.best) - 1
    return _result(net, ks, cap, budget_bytes)


def _result(net, ks, c, budget):
    keys = ks.pick(c)
    chosen = dict(zip((l.name for l in net.searchable), keys))
    w = sum(l.weight_bytes(chosen[l.name]) for l in net.searchable)
    return SearchResult(chosen, w + net.fixed_bytes, w, float(ks.best[c]), int(budget),
                        ks.granularity)


def pareto_front(net: Net, sens: Sensitivity, max_budget_bytes: int | None = None, *, bits=BITS,
                 granularity: int | None = None) -> list:
    """Every Pareto-optimal (memory, predicted NSR) assignment with memory <= the budget
    (default: all layers at the top bit-width), smallest memory first, from one DP table."""
    bits = tuple(bits)
    top = max_budget_bytes if max_budget_bytes is not None else \
        sum(l.weight_bytes(max(bits)) for l in net.searchable) + net.fixed_bytes
    ks = _solve(net, sens, top, bits, granularity)
    prev = np.concatenate(([np.inf], ks.best[:-1]))
    steps = np.flatnonzero(np.isfinite(ks.best) & ((ks.best < prev) | ~np.isfinite(prev)))
    return [_result(net, ks, int(c), int(c) * ks.granularity + net.fixed_bytes) for c in steps]


def format_pareto(points, max_rows: int = 16, reference: dict | None = None) -> str:
    """A table of Pareto points (memory KiB, predicted SQNR dB, bits per layer), thinned to
    about ``max_rows`` rows evenly in memory; ``reference`` (name -> bits) is marked '*'."""
    if not points:
        return "(no Pareto points)"
    if len(points) > max_rows >= 2:
        mem = np.array([p.memory_bytes for p in points], float)
        targets = np.linspace(mem[0], mem[-1], max_rows)
        idx = sorted({int(np.abs(mem - t).argmin()) for t in targets})
        points = [points[i] for i in idx]
    names = list(points[0].bits)
    head = f"{'memory KiB':>10} {'pred. SQNR dB':>13}  " + " ".join(f"{n:>4}" for n in names)
    lines = [head, "-" * len(head)]
    for p in points:
        mark = " *" if reference is not None and p.bits == reference else ""
        lines.append(f"{p.memory_bytes / 1024:>10.1f} {p.predicted_sqnr_db:>13.2f}  "
                     + " ".join(f"{p.bits[n]:>4}" for n in names) + mark)
    return "\n".join(lines)
