"""NE16 weight memory layout: bit planes x 16-channel groups, byte-exact, and its ROM size.

Mirrors the encoding pulp-nnx's tests feed the accelerator (``test/Ne16Weight.py``
``Ne16Weight.encode``/``decode``, ``_CIN_SUBTILE = 16``) and the strides its HAL programs
(``ne16/hal/ne16_task.c`` ``ne16_task_set_strides``: 3x3 ``d0 = 9*2`` B between bit planes,
``d1 = 9*2*qw*ceil(Kin/16)`` B between output channels; 1x1 ``d0 = 2*qw``, ``d1 = 2*qw*ceil(Kin/16)``).

Layout, for unsigned ``bits``-bit weights ``w_u[ko, ky, kx, ki]`` (this module's HWC-style order)::

    packed[ko, kig, b, t, byte]      t = ky*KW + kx (row-major tap), kig = ki // 16
    bit j of byte `byte` = bit b of w_u[ko, ky, kx, 16*kig + 8*byte + j]   (LSB = lowest channel)

so every (output channel, 16-channel group, bit plane, tap) is 2 bytes (channels 0-7, 8-15), bit
planes go LSB first, and Kin is padded with zero channels to a multiple of 16. Depthwise 3x3
weights are stored as one "output channel" whose 16-channel groups are the layer's channels:
``(1, ceil(C/16), bits, 9, 2)``. Fully connected layers run as 1x1 jobs on a 1x1 image and use the
1x1 layout (NE16's "linear" mode layout is unconfirmed; see ``ne16.md`` open items).

ROM size (:func:`packed_weight_bytes`) = ``Kout * ceil(Kin/16) * bits * KH*KW * 2`` bytes
(``ceil(C/16) * bits * 9 * 2`` for depthwise).

Channel counts the layout holds (anything else raises :class:`ShapeError`):

- ``Kin >= 1`` and ``Kout >= 1``; any ``Kin`` is accepted and zero-padded to a multiple of 16
  (that padding is stored, so it costs ROM); any ``Kout`` (the last 32-channel tile is partial);
- depthwise: one input channel per output channel (pulp-nnx ``in_channel == out_channel``; no
  channel multiplier), weights ``(C, 3, 3, 1)``;
- ``ceil(Kin/16)`` and ``ceil(Kout/32)`` (``ceil(C/16)`` for depthwise) must fit the 16-bit halves
  of the subtile-count registers (``<= 65535``; ``ne16_task_set_counters``).

Bit-widths: 2..8 (issue 7's range and pulp-nnx's ``assert weight_bits > 1 and weight_bits <= 8``);
1-bit is encodable in CONF0[2:0] but refused here, and the error says so.

Public API: :class:`Mode`, :func:`pack_weights`, :func:`unpack_weights`,
:func:`packed_weight_bytes`, :func:`packed_shape`, :func:`to_unsigned`, :func:`check_bits`.
These run once per model at load/export time, so they are vectorized NumPy, not jitted.
"""
from enum import Enum

import numpy as np

from edgesed.errors import ConfigError, ShapeError

__all__ = ["Mode", "CIN_SUBTILE", "KO_SUBTILE", "MIN_BITS", "MAX_BITS", "check_bits", "check_mode",
           "kernel_size", "packed_shape", "packed_weight_bytes", "pack_weights",
           "unpack_weights", "to_unsigned"]

CIN_SUBTILE = 16   #: input channels per block (``NE16_INPUT_CHANNEL_THROUGHPUT``)
KO_SUBTILE = 32    #: output channels per output tile (``NE16_OUTPUT_CHANNEL_THROUGHPUT``)
MIN_BITS = 2       #: issue 7's range; the RTL accepts qw = 1 (CONF0[2:0] = 0) but pulp-nnx
MAX_BITS = 8       #: asserts ``1 < bits <= 8`` and the RTL README lists 2..8
_COUNT_MAX = 0xFFFF  # subtile counts are uint16 halves of the KoKi register (ne16_task_set_counters)


class Mode(str, Enum):
    """NE16 filter mode (CONF0[6:5]; FC is a 1x1 job on a 1x1 image)."""

    CONV3X3 = "3x3"          #: dense 3x3 (CONF0[6:5] = 00)
    CONV1X1 = "1x1"          #: dense 1x1 (CONF0[6:5] = 10)
    DEPTHWISE3X3 = "dw3x3"   #: 3x3 depthwise (CONF0[6:5] = 01)
    FC = "fc"                #: fully connected, mapped as 1x1 (layout of 1x1)


def check_mode(mode) -> Mode:
    """``mode`` as a :class:`Mode` (a member or its string value); ConfigError otherwise."""
    try:
        return Mode(mode)
    except ValueError:
        raise ConfigError(f"mode={mode!r} is not an NE16 mode; use one of "
                          f"{[m.value for m in Mode]} (NE16 runs only 3x3, 1x1 and 3x3 depthwise "
                          "filters; map fully connected layers to 'fc')") from None


def check_bits(bits) -> int:
    """``bits`` as an int in [2, 8]; ConfigError naming the value otherwise."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        raise ConfigError(f"bits={bits!r} must be an integer weight bit-width in [2, 8]")
    if not MIN_BITS <= int(bits) <= MAX_BITS:
        extra = (" 1-bit weights are possible on the RTL (CONF0[2:0] = 0) but outside the "
                 "supported range (pulp-nnx asserts 1 < bits <= 8; the NE16 README lists 2..8)."
                 if int(bits) == 1 else "")
        raise ConfigError(f"bits={int(bits)} is outside the NE16 weight bit-widths [2, 8] "
                          f"(CONF0[2:0] = bits - 1).{extra} Choose bits in 2..8.")
    return int(bits)


def kernel_size(mode) -> tuple[int, int]:
    """(KH, KW) of a mode: (3, 3) for 3x3 and depthwise, (1, 1) for 1x1 and FC."""
    m = check_mode(mode)
    return (3, 3) if m in (Mode.CONV3X3, Mode.DEPTHWISE3X3) else (1, 1)


def _check_channels(m: Mode, k_out, k_in) -> tuple[int, int]:
    for name, v in (("k_out", k_out), ("k_in", k_in)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ShapeError(f"{name}={v!r} must be a positive integer channel count")
    k_out, k_in = int(k_out), int(k_in)
    if m is Mode.DEPTHWISE3X3:
        if k_in not in (1, k_out):
            raise ShapeError(
                f"k_in={k_in} with k_out={k_out}: a depthwise layer has one input channel per "
                "output channel (pulp-nnx: in_channel == out_channel); pass k_in=k_out (or 1, "
                "the per-group count)")
        if -(-k_out // CIN_SUBTILE) > _COUNT_MAX:
            raise ShapeError(f"k_out={k_out}: ceil(k_out/16) must fit the uint16 subtile count "
                             f"(<= {_COUNT_MAX}); split the layer")
        return k_out, k_out
    if -(-k_in // CIN_SUBTILE) > _COUNT_MAX or -(-k_out // KO_SUBTILE) > _COUNT_MAX:
        raise ShapeError(f"k_out={k_out}, k_in={k_in}: ceil(k_in/16) and ceil(k_out/32) must fit "
                         f"the uint16 subtile counts (<= {_COUNT_MAX}); split the layer")
    return k_out, k_in


def packed_shape(mode, k_out: int, k_in: int, bits: int) -> tuple[int, int, int, int, int]:
    """Shape ``(Kout, ceil(Kin/16), bits, KH*KW, 2)`` of the packed bytes (depthwise:
    ``(1, ceil(C/16), bits, 9, 2)``)."""
    m = check_mode(mode)
    bits = check_bits(bits)
    k_out, k_in = _check_channels(m, k_out, k_in)
    kh, kw = kernel_size(m)
    if m is Mode.DEPTHWISE3X3:
        return (1, -(-k_out // CIN_SUBTILE), bits, kh * kw, CIN_SUBTILE // 8)
    return (k_out, -(-k_in // CIN_SUBTILE), bits, kh * kw, CIN_SUBTILE // 8)


def packed_weight_bytes(mode, k_out: int, k_in: int, bits: int) -> int:
    """ROM bytes of a layer's packed weights: ``Kout * ceil(Kin/16) * bits * KH*KW * 2``.

    Parameters
    ----------
    mode : Mode or str
        ``"3x3"``, ``"1x1"``, ``"dw3x3"`` or ``"fc"``.
    k_out, k_in : int >= 1
        Output and input channels (FC: output and input features). Depthwise: ``k_in`` is
        ``k_out`` or 1, and the size is ``ceil(k_out/16) * bits * 9 * 2``.
    bits : int in [2, 8]

    Examples
    --------
    >>> packed_weight_bytes("3x3", 64, 40, 3)   # Kin 40 -> 48: 64*3*3*9*2
    10368
    """
    return int(np.prod(packed_shape(mode, k_out, k_in, bits)))


def _check_unsigned(w_unsigned, m: Mode, bits: int) -> np.ndarray:
    if not isinstance(w_unsigned, np.ndarray):
        raise ShapeError(f"w_unsigned must be a numpy uint8 array (Cout, KH, KW, Cin), got "
                         f"{type(w_unsigned).__name__}")
    if w_unsigned.dtype != np.uint8:
        raise ShapeError(f"w_unsigned.dtype={w_unsigned.dtype} must be uint8 (stored unsigned "
                         "weights); convert signed weights with to_unsigned(w, bits)")
    kh, kw = kernel_size(m)
    if w_unsigned.ndim != 4 or w_unsigned.shape[1:3] != (kh, kw):
        raise ShapeError(f"w_unsigned.shape={w_unsigned.shape} must be (Cout, {kh}, {kw}, Cin) "
                         f"for mode {m.value!r}")
    if m is Mode.DEPTHWISE3X3 and w_unsigned.shape[3] != 1:
        raise ShapeError(f"w_unsigned.shape={w_unsigned.shape}: depthwise weights are (C, 3, 3, 1) "
                         "(one input channel per output channel)")
    if w_unsigned.size and int(w_unsigned.max()) >= (1 << bits):
        bad = np.argwhere(w_unsigned >= (1 << bits))[0]
        raise ConfigError(
            f"w_unsigned[{', '.join(map(str, bad))}]={int(w_unsigned[tuple(bad)])} does not fit "
            f"bits={bits} (stored weights are in [0, {(1 << bits) - 1}]); re-quantize, or pass "
            "signed weights through to_unsigned")
    _check_channels(m, w_unsigned.shape[0], w_unsigned.shape[3])
    return w_unsigned


def pack_weights(w_unsigned: np.ndarray, bits: int, mode) -> np.ndarray:
    """Pack unsigned weights into NE16's weight memory layout (pulp-nnx ``Ne16Weight.encode``).

    Parameters
    ----------
    w_unsigned : np.ndarray [shape=(Cout, KH, KW, Cin), dtype=uint8]
        Stored (unsigned) weights in ``[0, 2**bits)``; the effective weight is ``w_u + Wmin``.
        3x3: ``(Cout, 3, 3, Cin)``; 1x1/FC: ``(Cout, 1, 1, Cin)``; depthwise: ``(C, 3, 3, 1)``.
    bits : int in [2, 8]
    mode : Mode or str

    Returns
    -------
    packed : np.ndarray [shape=(packed_weight_bytes(...),), dtype=uint8]
        Flat bytes in the order ``(Kout, ceil(Kin/16), bits, KH*KW, 2)`` (module docstring).
    """
    m = check_mode(mode)
    bits = check_bits(bits)
    w = _check_unsigned(w_unsigned, m, bits)
    cout, kh, kw, cin = w.shape
    if m is Mode.DEPTHWISE3X3:
        w = w.transpose(3, 1, 2, 0)          # (1, 3, 3, C): channels become the Kin groups
        cout, cin = 1, w.shape[3]
    groups = -(-cin // CIN_SUBTILE)
    wp = np.zeros((cout, kh * kw, groups * CIN_SUBTILE), dtype=np.uint8)
    wp[:, :, :cin] = w.reshape(cout, kh * kw, cin)
    wp = wp.reshape(cout, kh * kw, groups, CIN_SUBTILE)
    planes = (wp[..., None] >> np.arange(bits, dtype=np.uint8)) & 1   # (co, t, g, 16, bit)
    planes = planes.transpose(0, 2, 4, 1, 3)                         # (co, g, bit, t, 16)
    return np.packbits(planes.reshape(-1, 8), axis=-1, bitorder="little").reshape(-1)


def unpack_weights(packed: np.ndarray, bits: int, mode, shape) -> np.ndarray:
    """Inverse of :func:`pack_weights` (pulp-nnx ``Ne16Weight.decode``); padding channels dropped.

    Parameters
    ----------
    packed : np.ndarray [shape=(packed_weight_bytes(...),), dtype=uint8]
    bits : int in [2, 8]
    mode : Mode or str
    shape : tuple (Cout, KH, KW, Cin)
        Shape of the unsigned weights to recover (depthwise: ``(C, 3, 3, 1)``).

    Returns
    -------
    w_unsigned : np.ndarray [shape=shape, dtype=uint8] in [0, 2**bits)
    """
    m = check_mode(mode)
    bits = check_bits(bits)
    kh, kw = kernel_size(m)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or shape[1:3] != (kh, kw) or (m is Mode.DEPTHWISE3X3 and shape[3] != 1):
        want = "(C, 3, 3, 1)" if m is Mode.DEPTHWISE3X3 else f"(Cout, {kh}, {kw}, Cin)"
        raise ShapeError(f"shape={shape} must be {want} for mode {m.value!r}")
    pshape = packed_shape(m, shape[0], shape[3], bits)
    if not isinstance(packed, np.ndarray) or packed.dtype != np.uint8 or packed.ndim != 1:
        raise ShapeError(f"packed must be a 1-D uint8 array, got "
                         f"{getattr(packed, 'dtype', type(packed).__name__)} "
                         f"{getattr(packed, 'shape', '')}")
    if packed.size != int(np.prod(pshape)):
        raise ShapeError(f"packed.size={packed.size} must be {int(np.prod(pshape))} = "
                         f"{' * '.join(map(str, pshape))} for shape={shape}, bits={bits}, "
                         f"mode={m.value!r}; were the weights packed with another bits or mode?")
    co, groups, _, taps, nbytes = pshape
    planes = np.unpackbits(packed.reshape(-1, 1), axis=-1, bitorder="little")
    planes = planes.reshape(co, groups, bits, taps, nbytes * 8).astype(np.uint8)
    weights = np.zeros((co, taps, groups * CIN_SUBTILE), dtype=np.uint8)
    for b in range(bits):   # bits <= 8 iterations, offline
        weights |= (planes[:, :, b].transpose(0, 2, 1, 3).reshape(co, taps, -1) << b)
    cin = shape[0] if m is Mode.DEPTHWISE3X3 else shape[3]
    w = weights[:, :, :cin].reshape(co, kh, kw, cin)
    if m is Mode.DEPTHWISE3X3:
        w = w.transpose(3, 1, 2, 0)
    return np.ascontiguousarray(w)


def to_unsigned(w_signed, bits: int) -> tuple[np.ndarray, int]:
    """Signed ``bits``-bit weights to NE16's stored form, golden-model convention.

    ``w_u = w + 2**(bits-1)`` and ``Wmin = -2**(bits-1)`` (pulp-nnx ``NnxTestClasses.py``:
    ``weight_offset = -(2 ** (weight_bits - 1))``, stored ``weight - weight_offset``), so that
    ``w_u + Wmin == w``.

    Parameters
    ----------
    w_signed : array of ints in [-2**(bits-1), 2**(bits-1) - 1], any shape
    bits : int in [2, 8]

    Returns
    -------
    w_unsigned : np.ndarray [same shape, dtype=uint8] in [0, 2**bits)
    wmin : int
        ``-2**(bits-1)``, the value for the ``WEIGHT_OFFSET`` register.
    """
    bits = check_bits(bits)
    w = np.asarray(w_signed)
    if not np.issubdtype(w.dtype, np.integer):
        raise ShapeError(f"w_signed.dtype={w.dtype} must be an integer dtype (quantize first)")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if w.size and (int(w.min()) < lo or int(w.max()) > hi):
        v = int(w.min()) if int(w.min()) < lo else int(w.max())
        raise ConfigError(f"w_signed contains {v}, outside the signed {bits}-bit range "
                          f"[{lo}, {hi}]; clip or re-quantize to {bits} bits")
    return (w.astype(np.int64) - lo).astype(np.uint8), lo
