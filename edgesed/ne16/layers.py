"""A light description of a network as GAP9 runs it: which layers go to NE16, which to the
cluster cores, their shapes and their weight bits.

This is what the cycle model (:mod:`edgesed.ne16.cycles`), the GAP9 profile
(:mod:`edgesed.ne16.gap9`), the bit-width search (:mod:`edgesed.ne16.search`) and the report
(:mod:`edgesed.ne16.report`) need. It is independent of the q7 graph IR (:mod:`edgesed.graph`)
for now: no quantization parameters, no buffers, only geometry and bit-widths.

Shapes are HWC: ``in_shape = (h_in, w_in, k_in)``, ``out_shape = (h_out, w_out, k_out)``.

NE16 kinds (weights in the packed bit-plane layout, searched bits in 2..8):

- ``CONV3X3`` — dense 3x3, stride 1 or 2, optional dilation (run as ``dh*dw`` stride-1
  sub-grid convolutions, space-to-batch; NE16 has no dilation of its own);
- ``CONV1X1`` — 1x1;
- ``DW3X3`` — 3x3 depthwise (``k_in == k_out``);
- ``FC`` — fully connected, mapped as a 1x1 convolution over the ``h_out x w_out`` positions it
  is applied to (1x1 for a plain dense layer, ``T x 1`` for a dense layer applied per frame).

Cluster kinds (run by the 8 worker cores; weights, if any, stay 8-bit and are not searched):
``MAXPOOL``, ``AVGPOOL``, ``GRU``, ``RNN``, ``SIGMOID``, ``SOFTMAX``, ``ADD``.

ROM of a layer (:meth:`Layer.weight_bytes`, :meth:`Layer.fixed_bytes`):

- NE16 weights: ``k_out * ceil(k_in / 16) * bits * kh * kw * 2`` bytes (the packed layout,
  ``kernels.ne16.packing.packed_weight_bytes``; DW: ``ceil(k / 16) * bits * 9 * 2``);
- NE16 normquant parameters: per output channel a ``scale_bits``-bit scale, an int32 bias if
  ``has_bias`` and a uint8 shift if ``per_channel_shift``;
- GRU/RNN on the cluster: int8 weights ``gates * units * (k_in + units)`` plus int32 biases
  ``gates * units`` (GRU: 3 gates, 2 bias vectors as in the reset-after form; RNN: 1 gate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum

from edgesed.errors import ConfigError, ShapeError

__all__ = ["Kind", "Layer", "Net", "NE16_KINDS", "BITS", "check_bits", "packed_bytes"]

BITS = tuple(range(2, 9))   #: weight bit-widths NE16 is searched over (CONF0[2:0] = bits - 1)


class Kind(Enum):
    """What a layer is and therefore where it runs on GAP9."""

    CONV3X3 = "conv3x3"
    CONV1X1 = "conv1x1"
    DW3X3 = "dw3x3"
    FC = "fc"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    GRU = "gru"
    RNN = "rnn"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    ADD = "add"


NE16_KINDS = frozenset({Kind.CONV3X3, Kind.CONV1X1, Kind.DW3X3, Kind.FC})
_KERNEL = {Kind.CONV3X3: (3, 3), Kind.CONV1X1: (1, 1), Kind.DW3X3: (3, 3), Kind.FC: (1, 1)}
_PACK_MODE = {Kind.CONV3X3: "3x3", Kind.CONV1X1: "1x1", Kind.DW3X3: "dw3x3", Kind.FC: "fc"}


def check_bits(bits, name="bits") -> int:
    """``bits`` as an int if it is a weight bit-width NE16 can be searched over, else raise."""
    if isinstance(bits, bool) or not isinstance(bits, (int,)) and not hasattr(bits, "__index__"):
        raise ConfigError(f"{name}={bits!r} must be an integer number of weight bits in 2..8")
    b = int(bits)
    if b not in BITS:
        raise ConfigError(f"{name}={bits!r} is outside 2..8, the weight bit-widths NE16 supports "
                          "for the search (CONF0[2:0] = bits - 1); choose a value in 2..8")
    return b


def packed_bytes(kind: Kind, k_out: int, k_in: int, bits: int) -> int:
    """Bytes of NE16's packed weights (bit planes x 16-channel groups, research notes §2):
    ``k_out * ceil(k_in / 16) * bits * kh * kw * 2``; depthwise ``ceil(k / 16) * bits * 9 * 2``.

    The kernel side owns the layout: this is ``kernels.ne16.packing.packed_weight_bytes``.
    """
    from kernels.ne16.packing import packed_weight_bytes

    return int(packed_weight_bytes(_PACK_MODE[kind], k_out, k_in, check_bits(bits)))


@dataclass(frozen=True)
class Layer:
    """One layer of a GAP9 network.

    Parameters
    ----------
    name : str
    kind : Kind
    in_shape, out_shape : tuple[int, int, int]
        ``(h, w, channels)``. GRU/RNN: ``(steps, 1, features)`` -> ``(steps, 1, units)``.
    stride : int in {1, 2}
        NE16 convolutions only (2 is NE16's 2x2 strided mode); pooling uses ``pool``.
    dilation : tuple[int, int]
        ``CONV3X3``/``DW3X3`` only; ``(1, 1)`` is a plain convolution.
    pool : tuple[int, int]
        Pooling window = stride, ``MAXPOOL``/``AVGPOOL`` only.
    bits : int in 2..8
        Weight bits of an NE16 layer (ignored elsewhere).
    scale_bits : {8, 16, 32}
        Width of NE16's per-channel normquant scale.
    has_bias, per_channel_shift : bool
        NE16 normquant options (CONF0[25], CONF0[24]).
    output_bits : {8, 32}
        NE16 output width (32: no normquant, raw accumulators).
    searchable : bool
        Whether the bit-width search may change ``bits`` (NE16 layers only).
    relu : bool
        NE16 layers: ReLU in normquant (unsigned output); no effect on costs.
    """

    name: str
    kind: Kind
    in_shape: tuple
    out_shape: tuple
    stride: int = 1
    dilation: tuple = (1, 1)
    pool: tuple = (1, 1)
    bits: int = 8
    scale_bits: int = 8
    has_bias: bool = True
    per_channel_shift: bool = False
    output_bits: int = 8
    searchable: bool = True
    relu: bool = True
    note: str = field(default="", compare=False)

    def __post_init__(self):
        if not isinstance(self.kind, Kind):
            raise ConfigError(f"layer {self.name!r}: kind={self.kind!r} must be a Kind")
        for nm in ("in_shape", "out_shape"):
            s = getattr(self, nm)
            if len(s) != 3 or any(int(v) < 1 for v in s):
                raise ShapeError(f"layer {self.name!r}: {nm}={s!r} must be (h, w, channels) of "
                                 "positive sizes")
            object.__setattr__(self, nm, tuple(int(v) for v in s))
        (hi, wi, ki), (ho, wo, ko) = self.in_shape, self.out_shape
        if self.kind in NE16_KINDS:
            check_bits(self.bits, f"layer {self.name!r}: bits")
            if self.stride not in (1, 2):
                raise ConfigError(f"layer {self.name!r}: stride={self.stride!r} must be 1 or 2 "
                                  "(NE16 has stride 1 and a 2x2 strided mode)")
            dil = tuple(int(d) for d in self.dilation)
            object.__setattr__(self, "dilation", dil)
            if len(dil) != 2 or min(dil) < 1:
                raise ConfigError(f"layer {self.name!r}: dilation={self.dilation!r} must be two "
                                  "integers >= 1")
            if dil != (1, 1) and (self.kind not in (Kind.CONV3X3, Kind.DW3X3) or self.stride != 1):
                raise ConfigError(f"layer {self.name!r}: dilation={dil} needs a stride-1 3x3 or "
                                  "depthwise layer (it runs as stride-1 sub-grid convolutions)")
            if self.scale_bits not in (8, 16, 32):
                raise ConfigError(f"layer {self.name!r}: scale_bits={self.scale_bits!r} must be "
                                  "8, 16 or 32 (NE16 normquant scale widths)")
            if self.output_bits not in (8, 32):
                raise ConfigError(f"layer {self.name!r}: output_bits={self.output_bits!r} must be "
                                  "8 or 32 (16-bit output is not wired in NE16's RTL)")
            if self.kind is Kind.DW3X3 and ki != ko:
                raise ShapeError(f"layer {self.name!r}: depthwise needs k_in == k_out, got "
                                 f"in_shape={self.in_shape}, out_shape={self.out_shape}")
            want = (math.ceil(hi / self.stride), math.ceil(wi / self.stride))
            if (ho, wo) != want:
                raise ShapeError(f"layer {self.name!r}: out_shape={self.out_shape} must be "
                                 f"{want + (ko,)} for 'same' padding at stride {self.stride}")
        elif self.kind in (Kind.MAXPOOL, Kind.AVGPOOL):
            ph, pw = self.pool
            if (ho, wo, ko) != (hi // ph, wi // pw, ki):
                raise ShapeError(f"layer {self.name!r}: pooling {self.pool} of {self.in_shape} "
                                 f"gives {(hi // ph, wi // pw, ki)}, "
                                 f"not out_shape={self.out_shape}")
        elif self.kind in (Kind.GRU, Kind.RNN):
            if (ho, wo) != (hi, wi):
                raise ShapeError(f"layer {self.name!r}: a recurrent layer keeps (steps, 1); got "
                                 f"in_shape={self.in_shape}, out_shape={self.out_shape}")

    # --- geometry -------------------------------------------------------------------------
    @property
    def on_ne16(self) -> bool:
        return self.kind in NE16_KINDS

    @property
    def kernel(self) -> tuple:
        return _KERNEL.get(self.kind, (1, 1))

    @property
    def gates(self) -> int:
        return {Kind.GRU: 3, Kind.RNN: 1}.get(self.kind, 0)

    @property
    def weight_count(self) -> int:
        """Number of weights (NE16: the logical tensor, before Kin padding)."""
        (_, _, ki), (_, _, ko) = self.in_shape, self.out_shape
        if self.kind is Kind.DW3X3:
            return ko * 9
        if self.on_ne16:
            kh, kw = self.kernel
            return ko * ki * kh * kw
        if self.gates:
            return self.gates * ko * (ki + ko)
        return 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference (pooling/activations: 0)."""
        (hi, _, ki), (ho, wo, ko) = self.in_shape, self.out_shape
        if self.kind is Kind.DW3X3:
            return ho * wo * ko * 9
        if self.on_ne16:
            kh, kw = self.kernel
            return ho * wo * ko * ki * kh * kw
        if self.gates:
            return hi * self.gates * ko * (ki + ko)
        return 0

    # --- memory ---------------------------------------------------------------------------
    def weight_bytes(self, bits=None) -> int:
        """Bytes of the searchable weights at ``bits`` (default ``self.bits``); 0 for a layer
        whose weights are not searched (cluster layers and ``searchable=False``)."""
        if not (self.on_ne16 and self.searchable):
            return 0
        (_, _, ki), (_, _, ko) = self.in_shape, self.out_shape
        return packed_bytes(self.kind, ko, ki, self.bits if bits is None else bits)

    def fixed_bytes(self) -> int:
        """Bytes that do not depend on the searched bits: normquant parameters, the packed
        weights of an NE16 layer with ``searchable=False``, a recurrent layer's int8 weights
        and int32 biases."""
        ko = self.out_shape[2]
        if self.on_ne16:
            per_ch = self.scale_bits // 8 + (4 if self.has_bias else 0) + \
                (1 if self.per_channel_shift else 0)
            nq = ko * per_ch if self.output_bits == 8 else 0
            w = 0 if self.searchable else packed_bytes(self.kind, ko, self.in_shape[2], self.bits)
            return nq + w
        if self.gates:
            n_bias = 2 * self.gates * ko if self.kind is Kind.GRU else ko
            return self.weight_count + 4 * n_bias
        return 0

    def with_bits(self, bits: int) -> "Layer":
        return replace(self, bits=check_bits(bits))

    def __repr__(self):
        extra = f" {self.bits}b" if self.on_ne16 else ""
        if self.dilation != (1, 1):
            extra += f" dil={self.dilation}"
        if self.stride != 1:
            extra += f" s={self.stride}"
        return (f"<{self.name} {self.kind.value} {self.in_shape}->{self.out_shape}{extra}>")


@dataclass(frozen=True)
class Net:
    """A chain of :class:`Layer` (each consumes the previous one's output)."""

    name: str
    layers: tuple

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        names = [l.name for l in self.layers]
        if len(set(names)) != len(names):
            raise ConfigError(f"net {self.name!r}: layer names must be unique, got {names}")
        for a, b in zip(self.layers, self.layers[1:]):
            if a.out_shape != b.in_shape:
                raise ShapeError(f"net {self.name!r}: {b.name!r} in_shape={b.in_shape} does not "
                                 f"match {a.name!r} out_shape={a.out_shape}")

    @property
    def searchable(self) -> tuple:
        """The layers whose bits the search chooses, in order."""
        return tuple(l for l in self.layers if l.on_ne16 and l.searchable)

    @property
    def bits(self) -> dict:
        return {l.name: l.bits for l in self.searchable}

    def with_bits(self, bits) -> "Net":
        """A copy with new bits: ``bits`` is an int (all searchable layers) or a dict by name."""
        if not isinstance(bits, dict):
            bits = {l.name: bits for l in self.searchable}
        unknown = set(bits) - {l.name for l in self.searchable}
        if unknown:
            raise ConfigError(f"bits names {sorted(unknown)} are not searchable NE16 layers of "
                              f"{self.name!r}; choose among {[l.name for l in self.searchable]}")
        return replace(self, layers=tuple(l.with_bits(bits[l.name]) if l.name in bits else l
                                          for l in self.layers))

    @property
    def weight_bytes(self) -> int:
        return sum(l.weight_bytes() for l in self.layers)

    @property
    def fixed_bytes(self) -> int:
        return sum(l.fixed_bytes() for l in self.layers)

    @property
    def memory_bytes(self) -> int:
        """Parameter memory: packed searchable weights + everything else (:meth:`fixed_bytes`)."""
        return self.weight_bytes + self.fixed_bytes

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)
