"""NE16 cycles per layer, from the accelerator's documented phases, as named terms.

The model is DORY's ``Ne16PerfModel`` (``pulp-platform/dory``,
``Hardware_targets/PULP/GAP9_NE16/Tiler/Ne16PerfModel.py``) with PLINIO's ``weights_bitwidth``
(``eml-eda/plinio``, ``plinio/cost/ne16_latency.py``); its constants agree with GreenWaves'
GVSOC model (research notes ``ne16.md`` §3.2). Numbers are NE16 clock cycles. Nothing here was
checked on GAP9 silicon.

NE16 computes an output tile of 3x3 pixels x ``k`` output channels (``k <= 32``; depthwise:
``k <= 16``) and, for it, loops over the input channels 16 at a time (a *Ki subtile*). Per Ki
subtile::

    load          3x3, DW: 6 + 5*5*ceil(16*8/256) = 31     1x1: 10 + 3*3*ceil(16*8/256) = 19
    weight_offset 3x3, 1x1: 6                              DW: 6 + k
    matrixvec     3x3, DW: 6 + k*qw (bit-serial over qw)   1x1: 6 + k (bits in parallel)
    update_idx    2

and once per output tile::

    normquant     scale 9 + ceil(k*scale_bits/8 / 4) + bias (8 + ceil(k/8)) + shift ceil(32/4)
                  (0 for 32-bit output: no normquant)
    streamout     3 + 9*ceil(k*output_bits/256) + 1

    layer = Σ_spatial tiles Σ_Ko tiles [ n_ki * (load + weight_offset + matrixvec + update_idx)
                                          + normquant + streamout ]

with ``n_ki = ceil(k_in/16)`` (DW: 1, it runs 16 channels per tile). Remainder tiles: a Ko
remainder ``k_out % 32`` (DW ``% 16``) is a tile with its own ``k``; spatial and Ki remainders
cost as much as full ones (the array loads and computes the whole 5x5x16 window anyway), as in
DORY. Spatial tiles:

- stride 1: ``ceil(h_out/3) * ceil(w_out/3)``;
- stride 2: NE16's 2x2 strided mode computes 2x2 outputs per job (column mask ``101 000 101``),
  and pulp-nnx dispatches one job per 2x2 output tile (``ne16_nnx_dispatch_stride2x2``):
  ``ceil(h_out/2) * ceil(w_out/2)`` tiles at full-tile cost;
- dilation ``(dh, dw)``: NE16 has none; the layer runs as ``dh*dw`` stride-1 convolutions on
  the interleaved sub-grids (space-to-batch), sub-grid ``(p, q)`` having
  ``ceil((h_out-p)/dh) x ceil((w_out-q)/dw)`` outputs. Weights are the same for every sub-grid.
- FC is a 1x1 convolution over the positions it is applied to (``h_out x w_out``).

Not modelled: GVSOC's extra fixed overheads per phase (+6 before LOAD, +6/+10/+22 before
MATRIXVEC, +6 after; notes §3.2), TCDM contention, the cluster core's time to program each
job's registers, and DMA of weights and activations between L2 and L1 (see
:mod:`edgesed.ne16.gap9`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from edgesed.errors import ConfigError
from edgesed.ne16.layers import Kind, Layer, check_bits

__all__ = ["Mode", "Ne16Cycles", "conv_cycles", "layer_cycles", "tile_terms", "load_cycles",
           "weight_offset_cycles", "matrixvec_cycles", "normquant_cycles", "streamout_cycles",
           "spatial_tiles", "peak_macs_per_cycle", "TERMS", "FIFO_LATENCY", "UPDATE_IDX"]

FIFO_LATENCY = 6           #: cycles to fill a streamer FIFO (DORY ``FIFO_LATENCY``)
MEMORY_BITS = 256          #: TCDM bits per cycle (DORY ``MEMORY_THROUGHPUT``)
INPUT_BITS = 8             #: u8 activations (mode8)
KI_SUBTILE = 16            #: input channels per Ki subtile
KO_TILE = 32               #: output channels per tile (3x3, 1x1)
KO_TILE_DW = 16            #: channels per depthwise tile
MULTIPLIERS, ADDERS, SHIFTERS = 4, 8, 4
UPDATE_IDX = 2
TERMS = ("load", "weight_offset", "matrixvec", "update_idx", "normquant", "streamout")


class Mode(Enum):
    """NE16 filter modes (CONF0[6:5])."""

    CONV3X3 = "3x3"
    CONV1X1 = "1x1"
    DW = "dw"


_MODE_OF = {Kind.CONV3X3: Mode.CONV3X3, Kind.CONV1X1: Mode.CONV1X1, Kind.DW3X3: Mode.DW,
            Kind.FC: Mode.CONV1X1}


def _mode(mode) -> Mode:
    try:
        return mode if isinstance(mode, Mode) else Mode(mode)
    except ValueError:
        raise ConfigError(f"mode={mode!r} is not an NE16 mode; choose one of "
                          f"{[m.value for m in Mode]}") from None


def load_cycles(mode) -> int:
    """Cycles to stream one Ki subtile of input into the array (5x5x16, 1x1: 3x3x16)."""
    beats = math.ceil(KI_SUBTILE * INPUT_BITS / MEMORY_BITS)
    if _mode(mode) is Mode.CONV1X1:
        return 10 + 3 * 3 * beats
    return FIFO_LATENCY + 5 * 5 * beats


def weight_offset_cycles(mode, k: int) -> int:
    """WEIGHTOFFS phase: Σx over the window times Wmin (DW: once per channel)."""
    return FIFO_LATENCY + k if _mode(mode) is Mode.DW else FIFO_LATENCY


def matrixvec_cycles(mode, k: int, qw: int) -> int:
    """MATRIXVEC: one cycle per output channel and weight bit (1x1: bits run in parallel)."""
    return FIFO_LATENCY + k if _mode(mode) is Mode.CONV1X1 else FIFO_LATENCY + k * qw


def normquant_cycles(k: int, *, scale_bits: int = 8, has_bias: bool = True,
                     per_channel_shift: bool = False, output_bits: int = 8) -> int:
    """NORMQUANT of one output tile of ``k`` channels (0 for 32-bit output)."""
    if output_bits == 32:
        return 0
    cyc = 9 + math.ceil(k * (scale_bits // 8) / MULTIPLIERS)
    if has_bias:
        cyc += 8 + math.ceil(k / ADDERS)
    if per_channel_shift:
        cyc += math.ceil(KO_TILE / SHIFTERS)
    return cyc


def streamout_cycles(k: int, output_bits: int = 8) -> int:
    """STREAMOUT of one 3x3 output tile of ``k`` channels."""
    return 3 + 3 * 3 * math.ceil(k * output_bits / MEMORY_BITS) + 1


def tile_terms(mode, k: int, n_ki: int, qw: int, **nq) -> dict:
    """Named terms of one output tile with ``k`` channels over ``n_ki`` Ki subtiles."""
    m = _mode(mode)
    return {
        "load": n_ki * load_cycles(m),
        "weight_offset": n_ki * weight_offset_cycles(m, k),
        "matrixvec": n_ki * matrixvec_cycles(m, k, qw),
        "update_idx": n_ki * UPDATE_IDX,
        "normquant": normquant_cycles(k, **nq),
        "streamout": streamout_cycles(k, nq.get("output_bits", 8)),
    }


def spatial_tiles(h_out: int, w_out: int, stride: int = 1, dilation=(1, 1)) -> int:
    """Output tiles NE16 runs over an ``h_out x w_out`` map (module docstring)."""
    if stride == 2:
        return math.ceil(h_out / 2) * math.ceil(w_out / 2)
    dh, dw = dilation
    n = 0
    for p in range(min(dh, h_out)):
        for q in range(min(dw, w_out)):
            rows, cols = math.ceil((h_out - p) / dh), math.ceil((w_out - q) / dw)
            n += math.ceil(rows / 3) * math.ceil(cols / 3)
    return n


@dataclass(frozen=True)
class Ne16Cycles:
    """NE16 cycles of one layer, split into the named phase terms of :data:`TERMS`.

    ``counts`` holds the loop counts behind them: ``spatial_tiles``, ``ko_tiles`` (full),
    ``ko_remainder`` (channels of the remainder tile, 0 if none), ``ki_subtiles``, ``jobs``.
    """

    layer: str
    mode: Mode
    qw: int
    terms: dict
    counts: dict = field(default_factory=dict)
    macs: int = 0

    @property
    def total(self) -> int:
        return int(sum(self.terms.values()))

    @property
    def macs_per_cycle(self) -> float:
        return self.macs / self.total if self.total else 0.0

    def ms(self, clock_mhz: float) -> float:
        return self.total / (clock_mhz * 1e3)

    def as_dict(self) -> dict:
        return {"layer": self.layer, "mode": self.mode.value, "qw": self.qw, "cycles": self.total,
                "terms": dict(self.terms), "counts": dict(self.counts), "macs": self.macs}


def conv_cycles(mode, h_out: int, w_out: int, k_out: int, k_in: int, qw: int, *, stride: int = 1,
                dilation=(1, 1), scale_bits: int = 8, has_bias: bool = True,
                per_channel_shift: bool = False, output_bits: int = 8,
                name: str = "") -> Ne16Cycles:
    """Cycles of one NE16 layer.

    Parameters
    ----------
    mode : Mode or {"3x3", "1x1", "dw"}
    h_out, w_out : int >= 1
        Output map (FC: the positions the dense layer is applied to, e.g. 1 x 1).
    k_out, k_in : int >= 1
        Output and input channels (DW: ``k_out == k_in``).
    qw : int in 2..8
        Weight bits (time matters only in 3x3 and DW modes).
    stride : {1, 2}
    dilation : (int, int)
        3x3 and DW only, with stride 1.
    scale_bits, has_bias, per_channel_shift, output_bits
        Normquant configuration (``output_bits=32`` disables normquant).

    Returns
    -------
    Ne16Cycles
    """
    m = _mode(mode)
    qw = check_bits(qw, "qw")
    for nm, v in (("h_out", h_out), ("w_out", w_out), ("k_out", k_out), ("k_in", k_in)):
        if int(v) < 1:
            raise ConfigError(f"{nm}={v!r} must be >= 1")
    if stride not in (1, 2):
        raise ConfigError(f"stride={stride!r} must be 1 or 2 (NE16's 2x2 strided mode)")
    dilation = tuple(int(d) for d in dilation)
    if dilation != (1, 1) and (m is Mode.CONV1X1 or stride != 1):
        raise ConfigError(f"dilation={dilation} needs mode 3x3 or dw at stride 1")
    if min(dilation) < 1:
        raise ConfigError(f"dilation={dilation} must be >= 1 in both axes")
    if m is Mode.DW and k_in != k_out:
        raise ConfigError(f"depthwise needs k_in == k_out, got k_in={k_in}, k_out={k_out}")
    if output_bits not in (8, 32):
        raise ConfigError(f"output_bits={output_bits!r} must be 8 or 32")
    if scale_bits not in (8, 16, 32):
        raise ConfigError(f"scale_bits={scale_bits!r} must be 8, 16 or 32")
    nq = dict(scale_bits=scale_bits, has_bias=has_bias, per_channel_shift=per_channel_shift,
              output_bits=output_bits)
    body = KO_TILE_DW if m is Mode.DW else KO_TILE
    n_body, rem = divmod(k_out, body)
    n_ki = 1 if m is Mode.DW else math.ceil(k_in / KI_SUBTILE)
    n_sp = spatial_tiles(h_out, w_out, stride, dilation)
    terms = dict.fromkeys(TERMS, 0)
    for k, n in ((body, n_body), (rem, 1 if rem else 0)):
        if n:
            for t, v in tile_terms(m, k, n_ki, qw, **nq).items():
                terms[t] += n_sp * n * v
    kk = 9 if m is not Mode.CONV1X1 else 1
    macs = h_out * w_out * k_out * (kk if m is Mode.DW else kk * k_in)
    jobs = n_sp if stride == 2 else min(dilation[0], h_out) * min(dilation[1], w_out)
    counts = {"spatial_tiles": n_sp, "ko_tiles": n_body, "ko_remainder": rem,
              "ki_subtiles": n_ki, "jobs": jobs}
    return Ne16Cycles(layer=name, mode=m, qw=qw, terms=terms, counts=counts, macs=macs)


def layer_cycles(layer: Layer, bits=None) -> Ne16Cycles:
    """:func:`conv_cycles` of an NE16 :class:`~edgesed.ne16.layers.Layer` at ``bits``
    (default ``layer.bits``)."""
    if not layer.on_ne16:
        raise ConfigError(f"layer {layer.name!r} is {layer.kind.value}, which NE16 does not run; "
                          "use edgesed.ne16.gap9.cluster_cycles for it")
    (_, _, ki), (ho, wo, ko) = layer.in_shape, layer.out_shape
    return conv_cycles(_MODE_OF[layer.kind], ho, wo, ko, ki, layer.bits if bits is None else bits,
                       stride=layer.stride, dilation=layer.dilation, scale_bits=layer.scale_bits,
                       has_bias=layer.has_bias, per_channel_shift=layer.per_channel_shift,
                       output_bits=layer.output_bits, name=layer.name)


def peak_macs_per_cycle(mode, qw: int) -> float:
    """Steady-state MAC/cycle of full tiles: ops of one Ki subtile over
    ``load + weight_offset + matrixvec + update_idx`` (normquant and streamout amortized away),
    the table of the research notes §3.2 (3x3 at 8 bits: 138; at 2 bits: 380; 1x1: 71)."""
    m = _mode(mode)
    qw = check_bits(qw, "qw")
    k = KO_TILE_DW if m is Mode.DW else KO_TILE
    ops = {Mode.CONV3X3: 9 * 9 * KI_SUBTILE * k, Mode.CONV1X1: 9 * KI_SUBTILE * k,
           Mode.DW: 9 * 9 * KI_SUBTILE}[m]
    cyc = load_cycles(m) + weight_offset_cycles(m, k) + matrixvec_cycles(m, k, qw) + UPDATE_IDX
    return ops / cyc
