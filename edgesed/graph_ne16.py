"""The NE16 (GAP9) flavour of the graph IR: NE16 jobs and the cluster-core ops around them.

A GAP9 network runs its convolutions on NE16 (u8 activations, 2..8-bit packed weights,
normquant; :mod:`kernels.ne16`) and everything NE16 cannot run on the 8 cluster cores. This
module adds those layers next to the q7 and int8 families:

=========================  =========================  ==============================================
op                         arguments                  runs as (on GAP9)
=========================  =========================  ==============================================
``Op.NE16_CONV``           :class:`Ne16ConvArgs`      NE16 job(s), pulp-nnx ``ne16_nnx_dispatch``:
                                                      3x3 / 1x1 / dw3x3 / fc, stride 1|2, dilation
                                                      as ``dh*dw`` phase jobs
``Op.NE16_MAXPOOL``        :class:`Ne16PoolArgs`      cluster, PULP-NN ``pulp_nn_maxpool_u8``
                                                      (``_i8`` for an int8 map)
``Op.NE16_GRU``            :class:`Ne16GruArgs`       cluster, nnom ``gru_cell_run`` (q7 weights,
                                                      q15 state) per time step, its q7 input an
                                                      arithmetic right shift of NE16's u8 output
``Op.NE16_GLOBAL_MAXPOOL`` :class:`Ne16GlobalPoolArgs` cluster: max over all positions -> (C,)
=========================  =========================  ==============================================

**Tensors** are bytes: ``dtype`` ``"uint8"`` (NE16 outputs with ReLU, pooled u8 maps) or ``"int8"``
(the frontend's input patch, NE16 outputs without ReLU, the GRU's q7 output). Their format is a
power-of-two :class:`~edgesed.graph.QFormat`: ``real = q * 2**-frac_bits`` for both signednesses
(for u8, ``frac_bits`` is any int in [-16, 31]; it only documents the scale, the integer path
uses the normquant parameters).

**NE16_CONV parameters** (``graph.params``), what GAP9's L2/flash holds:

- ``"<l>.weight"``: uint8 1-D, the *packed* NE16 layout (:func:`kernels.ne16.packing.pack_weights`
  of the unsigned weights ``(Kout, KH, KW, Cin)``, depthwise ``(C, 3, 3, 1)``), so
  ``graph.rom_bytes`` counts the packed bytes;
- ``"<l>.scale"``: per-channel unsigned normquant scale, dtype uint8/uint16/uint32 for
  ``scale_bits`` 8/16/32; ``"<l>.bias"``: int32 (before any signed-input correction, which the
  engine derives at load time as the toolchain would); ``"<l>.shift"``: uint8 per channel when
  ``per_channel_shift`` (else ``args.shift``).

The layer computes (:mod:`kernels.ne16.conv`)::

    acc[y, x, k] = wrap32( sum_{ky,kx,c} xp[s*y + dh*ky, s*x + dw*kx, c] * (w_u[k,ky,kx,c] + wmin) )
    out = normquant(acc; scale, bias, shift, relu)   # floor shift, ReLU -> uint8, else int8

with ``xp`` the input padded by ``padding = (top, right, bottom, left)`` zeros (in the input's
domain: a signed input pads with 0, i.e. u8 128 after the +128 offset). Output size
``(H + top + bottom - dh*(KH-1) - 1) // s + 1``.

**NE16_GRU** (:class:`Ne16GruArgs`): input ``(T, 1, F)`` (u8 or int8), output ``(T, 1, units)``
int8 Q0.7, state ``units`` int16 (Q0.15) that persists across inferences. Step ``t`` feeds
``x_q7 = x[t] >> input_shift`` (arithmetic; ``input_shift >= 1`` for u8 so the value fits q7) to
:func:`kernels.gru_q7.gru_cell_q7` (nnom's LOCAL plain-C backend: GAP9's cores have no CMSIS-NN).
Its shifts follow :func:`kernels.gru_q7.gru_shifts` with ``n_i = frac_bits(input) - input_shift``;
params ``weight`` (3u, F), ``recurrent`` (3u, u), ``bias`` and ``recurrent_bias`` (3u,), int8,
gate order z, r, h (natural, un-reordered), formats ``node.weight_q``, ``args.recurrent_q``,
``node.bias_q``, ``args.gate_q``.

API map
-------
- :class:`Ne16ConvArgs`, :class:`Ne16PoolArgs`, :class:`Ne16GruArgs`, :class:`Ne16GlobalPoolArgs`
- :data:`NE16_OPS` (all four), :func:`is_ne16` (a graph with any NE16 layer)
- :func:`conv_geometry` (mode, kernel, weight shape, output shape), :func:`gru_shifts`
- :func:`infer_shape`, :func:`validate_node`, :func:`layer_ops`
- :func:`to_net` -> :class:`edgesed.ne16.layers.Net` (for the cycle/energy model)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesed.errors import ConfigError, ShapeError
from edgesed.op import NE16_OPS, Op

__all__ = ["Ne16ConvArgs", "Ne16PoolArgs", "Ne16GruArgs", "Ne16GlobalPoolArgs", "NE16_OPS",
           "SCALE_DTYPES", "is_ne16", "conv_geometry", "gru_shifts", "infer_shape",
           "validate_node", "layer_ops", "to_net"]

SCALE_DTYPES = {8: np.uint8, 16: np.uint16, 32: np.uint32}   #: normquant scale storage
_MODES = ("3x3", "1x1", "dw3x3", "fc")
_FRAC_RANGE = (-16, 31)


@dataclass(frozen=True)
class Ne16ConvArgs:
    """One NE16 layer (CONF0 fields in brackets; :func:`kernels.ne16.conv.ne16_conv`).

    Parameters
    ----------
    out_ch : int >= 1
    mode : {"3x3", "1x1", "dw3x3", "fc"}
        Filter mode [6:5]; "fc" takes a 1-D input ``(Cin,)`` and gives ``(out_ch,)`` (a 1x1 job on
        a 1x1 image). A dense layer applied per time step is a "1x1" job on a ``(T, 1, F)`` map.
    bits : int in [2, 8]
        Weight bits [2:0] + 1.
    wmin : int in [-256, 255], optional
        WEIGHT_OFFSET; default ``-2**(bits-1)`` (the pulp-nnx golden convention).
    stride : {1, 2}
        [8]: 2 is the 2x2 strided mode (no dilation with it).
    dilation : (dh, dw)
        3x3 and dw3x3 at stride 1 only; run as ``dh*dw`` phase jobs (NE16 has no dilation).
    padding : (top, right, bottom, left)
        Zero rows/columns around the input, each in ``[0, 2*d]`` of its axis (0 for 1x1/fc).
    scale_bits : {8, 16, 32}
        Normquant scale width [13:12].
    per_channel_shift : bool
        [24]: a uint8 shift per channel in ``params["<l>.shift"]`` (0..63), else ``shift``.
    shift : int in [0, 31]
        Per-layer shift [20:16].
    relu : bool
        ReLU in normquant [23]: uint8 output; else int8.
    input_signed : bool
        The input tensor is int8: NE16 reads ``x + 128`` and the bias is corrected.
    """

    out_ch: int
    mode: str = "3x3"
    bits: int = 8
    wmin: int | None = None
    stride: int = 1
    dilation: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (1, 1, 1, 1)
    scale_bits: int = 8
    per_channel_shift: bool = False
    shift: int = 0
    relu: bool = True
    input_signed: bool = False

    @property
    def weight_offset(self) -> int:
        return -(1 << (self.bits - 1)) if self.wmin is None else int(self.wmin)


@dataclass(frozen=True)
class Ne16PoolArgs:
    """Max pooling on the cluster, window = stride = ``pool`` (ph, pw), no padding."""

    pool: tuple[int, int]


@dataclass(frozen=True)
class Ne16GlobalPoolArgs:
    """Max over every position of an (H, W, C) map -> (C,) (e.g. clip-level logits over time:
    the max of per-frame logits is the logit of the max per-frame sigmoid posterior)."""


@dataclass(frozen=True)
class Ne16GruArgs:
    """nnom GRU cell over the T rows of a (T, 1, F) map (module docstring)."""

    units: int
    gate_q: object          # QFormat of the gate pre-activations (q_dec_z)
    recurrent_q: object     # QFormat of U
    input_shift: int = 1


_ARGS = {"NE16_CONV": Ne16ConvArgs, "NE16_MAXPOOL": Ne16PoolArgs, "NE16_GRU": Ne16GruArgs,
         "NE16_GLOBAL_MAXPOOL": Ne16GlobalPoolArgs}


def is_ne16(graph) -> bool:
    """Whether ``graph`` has NE16 layers (its costs then come from :mod:`edgesed.ne16`)."""
    return any(node.op in NE16_OPS for node in graph.nodes)


# ------------------------------------------------------------------------------ geometry

def _bad(node, msg, exc=ConfigError):
    return exc(f"layer {node.name!r}: {msg}")


def conv_geometry(node, in_shape) -> dict:
    """Checked geometry of an NE16_CONV: ``mode``, ``kernel`` (KH, KW), ``weight_shape``
    (unsigned, as packed), ``in3`` (H, W, Cin) and ``out_shape``."""
    from kernels.ne16.packing import check_bits, kernel_size

    a = node.args
    if a.mode not in _MODES:
        raise _bad(node, f"mode={a.mode!r} is not an NE16 mode; use one of {list(_MODES)}")
    check_bits(a.bits)
    if isinstance(a.out_ch, bool) or not isinstance(a.out_ch, (int, np.integer)) or a.out_ch < 1:
        raise _bad(node, f"out_ch={a.out_ch!r} must be an int >= 1")
    if a.stride not in (1, 2) or isinstance(a.stride, bool):
        raise _bad(node, f"stride={a.stride!r} must be 1 or 2 (NE16: stride 1 or the 2x2 mode)")
    dh, dw = (int(v) for v in a.dilation)
    if min(dh, dw) < 1:
        raise _bad(node, f"dilation={a.dilation} must be >= 1 on both axes")
    kh, kw = kernel_size(a.mode)
    if (dh, dw) != (1, 1) and (kh == 1 or a.stride != 1):
        raise _bad(node, f"dilation={a.dilation} needs a 3x3 or dw3x3 job at stride 1 (it runs "
                         "as dh*dw undilated phase jobs)")
    if len(a.padding) != 4:
        raise _bad(node, f"padding={a.padding!r} must be (top, right, bottom, left)")
    t, r, b, l = (int(p) for p in a.padding)
    lim = (2 * dh, 2 * dw, 2 * dh, 2 * dw) if kh == 3 else (0, 0, 0, 0)
    if min(t, r, b, l) < 0 or any(p > m for p, m in zip((t, r, b, l), lim)):
        raise _bad(node, f"padding={a.padding} (top, right, bottom, left) must be within "
                         f"[0, {lim}] for mode {a.mode!r} with dilation {a.dilation} "
                         "(1x1/fc jobs take no padding; pad the input instead)")
    if a.mode == "fc":
        if len(in_shape) != 1:
            raise _bad(node, f"mode 'fc' takes a 1-D input (features,), got {in_shape}; use "
                             "mode '1x1' for a dense layer applied at every position",
                       ShapeError)
        in3 = (1, 1, int(in_shape[0]))
        out_shape = (int(a.out_ch),)
    else:
        if len(in_shape) != 3:
            raise _bad(node, f"input shape {in_shape} must be (h, w, c)", ShapeError)
        in3 = tuple(int(v) for v in in_shape)
        ho = (in3[0] + t + b - dh * (kh - 1) - 1) // a.stride + 1
        wo = (in3[1] + l + r - dw * (kw - 1) - 1) // a.stride + 1
        if ho < 1 or wo < 1:
            raise _bad(node, f"input {in3[:2]} with padding {a.padding} is smaller than the "
                             f"dilated {kh}x{kw} window (dilation {a.dilation})", ShapeError)
        out_shape = (ho, wo, int(a.out_ch))
    if a.mode == "dw3x3":
        if in3[2] != a.out_ch:
            raise _bad(node, f"dw3x3 needs out_ch == input channels, got out_ch={a.out_ch} and "
                             f"{in3[2]} input channels (NE16 depthwise has no multiplier)",
                       ShapeError)
        w_shape = (int(a.out_ch), 3, 3, 1)
    else:
        w_shape = (int(a.out_ch), kh, kw, in3[2])
    return {"mode": a.mode, "kernel": (kh, kw), "dilation": (dh, dw), "pads": (t, r, b, l),
            "weight_shape": w_shape, "in3": in3, "out_shape": out_shape}


def gru_shifts(graph, node):
    """:class:`kernels.gru_q7.GruShifts` of an NE16_GRU node (``n_i`` after the input shift)."""
    from kernels.gru_q7 import gru_shifts as shifts

    n_in = graph.input_of(node).q.frac_bits - node.args.input_shift
    try:
        return shifts(n_i=n_in, n_w=node.weight_q.frac_bits,
                      n_u=node.args.recurrent_q.frac_bits, n_b=node.bias_q.frac_bits,
                      n_z=node.args.gate_q.frac_bits, n_h=7)
    except ConfigError as exc:
        raise _bad(node, f"{exc} (input {graph.input_of(node).q} >> {node.args.input_shift} = "
                         f"Q.{n_in}, weights {node.weight_q}, recurrent {node.args.recurrent_q}, "
                         f"bias {node.bias_q}, gates {node.args.gate_q})") from None


def infer_shape(node, in_shape) -> tuple[int, ...]:
    """Output shape of an NE16-family layer."""
    a = node.args
    want = _ARGS[node.op.name]
    if not isinstance(a, want):
        raise _bad(node, f"{node.op.value} takes {want.__name__}, got {type(a).__name__}")
    if node.op is Op.NE16_CONV:
        return conv_geometry(node, in_shape)["out_shape"]
    if node.op is Op.NE16_GLOBAL_MAXPOOL:
        if len(in_shape) != 3:
            raise _bad(node, f"input shape {in_shape} must be (h, w, c)", ShapeError)
        return (int(in_shape[2]),)
    if len(in_shape) != 3:
        raise _bad(node, f"input shape {in_shape} must be (h, w, c)", ShapeError)
    if node.op is Op.NE16_MAXPOOL:
        ph, pw = (int(v) for v in a.pool)
        if ph < 1 or pw < 1 or ph > in_shape[0] or pw > in_shape[1]:
            raise _bad(node, f"pool={a.pool} must be >= 1 and fit the input {in_shape[:2]}")
        return (in_shape[0] // ph, in_shape[1] // pw, in_shape[2])
    if in_shape[1] != 1:
        raise _bad(node, f"the GRU runs over the rows of a (T, 1, F) map, got {in_shape}; pool "
                         "the width to 1 first", ShapeError)
    if isinstance(a.units, bool) or not isinstance(a.units, (int, np.integer)) or a.units < 1:
        raise _bad(node, f"units={a.units!r} must be an int >= 1")
    return (in_shape[0], 1, int(a.units))


# ------------------------------------------------------------------------------ validation

def _param(graph, node, key, dtype, shape):
    arr = graph.params.get(f"{node.name}.{key}")
    if arr is None:
        raise _bad(node, f"has no parameter {node.name}.{key}")
    if arr.dtype != np.dtype(dtype) or tuple(arr.shape) != tuple(shape):
        raise ShapeError(f"parameter {node.name}.{key}: dtype {arr.dtype} shape {arr.shape}, "
                         f"expected {np.dtype(dtype).name} {tuple(shape)}")
    return arr


def _check_conv(graph, node, in_spec) -> None:
    from kernels.ne16.conv import check_wmin
    from kernels.ne16.packing import packed_weight_bytes

    a = node.args
    g = conv_geometry(node, in_spec.shape)
    try:
        check_wmin(a.weight_offset)
    except ConfigError as exc:
        raise _bad(node, str(exc)) from None
    want_in = "int8" if a.input_signed else "uint8"
    if in_spec.dtype != want_in:
        raise _bad(node, f"input is {in_spec.dtype} but input_signed={a.input_signed}: NE16 reads "
                         "uint8; set input_signed=True for an int8 input (the +128 offset with "
                         "the bias correction)")
    want_out = "uint8" if a.relu else "int8"
    if node.output.dtype != want_out:
        raise _bad(node, f"output dtype {node.output.dtype!r} but relu={a.relu}: normquant writes "
                         f"{want_out} (8-bit output; 32-bit outputs are not graph tensors)")
    k = int(a.out_ch)
    wbytes = packed_weight_bytes(g["mode"], k, g["weight_shape"][3] if g["mode"] != "dw3x3"
                                 else k, a.bits)
    _param(graph, node, "weight", np.uint8, (wbytes,))
    if a.scale_bits not in SCALE_DTYPES:
        raise _bad(node, f"scale_bits={a.scale_bits!r} must be 8, 16 or 32 (CONF0[13:12])")
    _param(graph, node, "scale", SCALE_DTYPES[a.scale_bits], (k,))
    _param(graph, node, "bias", np.int32, (k,))
    if a.per_channel_shift:
        sh = _param(graph, node, "shift", np.uint8, (k,))
        if sh.size and int(sh.max()) > 63:
            raise _bad(node, f"per-channel shift {int(sh.max())} > 63 (the shifter uses [5:0])")
    elif isinstance(a.shift, bool) or not isinstance(a.shift, (int, np.integer)) \
            or not 0 <= a.shift <= 31:
        raise _bad(node, f"shift={a.shift!r} must be an int in [0, 31] (CONF0[20:16]); use "
                         "per_channel_shift for larger or per-channel shifts")


def validate_node(graph, node, in_spec) -> None:
    """Check one NE16-family layer: shapes, dtypes, formats, parameters (packed sizes included)."""
    a = node.args
    shape = infer_shape(node, in_spec.shape)
    if tuple(node.output.shape) != tuple(shape):
        raise ShapeError(f"layer {node.name!r}: declared output shape {node.output.shape} but the "
                         f"input {in_spec.shape} and arguments give {shape}")
    if in_spec.dtype not in ("int8", "uint8") or node.output.dtype not in ("int8", "uint8"):
        raise _bad(node, f"tensors are bytes (int8 or uint8), got {in_spec.dtype} -> "
                         f"{node.output.dtype}")
    fb = getattr(node.output.q, "frac_bits", None)
    if fb is None or not _FRAC_RANGE[0] <= fb <= _FRAC_RANGE[1]:
        raise _bad(node, f"output format {node.output.q} must be a QFormat with frac_bits in "
                         f"{list(_FRAC_RANGE)}")
    if node.activation.value != "none":
        raise _bad(node, f"activation {node.activation.value!r}: NE16-family layers take "
                         "Activation.NONE (ReLU is Ne16ConvArgs.relu, inside normquant)")
    if node.op is Op.NE16_CONV:
        _check_conv(graph, node, in_spec)
    elif node.op in (Op.NE16_MAXPOOL, Op.NE16_GLOBAL_MAXPOOL):
        if node.output.dtype != in_spec.dtype or node.output.q != in_spec.q:
            raise _bad(node, f"max pooling keeps dtype and format, but input is {in_spec.dtype} "
                             f"{in_spec.q} and output {node.output.dtype} {node.output.q}")
    else:   # GRU
        if node.output.dtype != "int8" or node.output.q.frac_bits != 7:
            raise _bad(node, f"the GRU writes its Q0.15 state >> 8: output must be int8 Q0.7, "
                             f"not {node.output.dtype} {node.output.q}")
        lo = 1 if in_spec.dtype == "uint8" else 0
        if isinstance(a.input_shift, bool) or not lo <= int(a.input_shift) <= 8:
            raise _bad(node, f"input_shift={a.input_shift!r} must be in [{lo}, 8]"
                             + (" (a u8 value >> 0 does not fit q7)" if lo else ""))
        if node.weight_q is None or node.bias_q is None:
            raise _bad(node, "needs weight_q and bias_q formats")
        s = gru_shifts(graph, node)
        if s.act_int_width > 3:
            raise _bad(node, f"act_int_width = 7 - n_z = {s.act_int_width} (gates {a.gate_q}) is "
                             "out of [0, 3]: the (uint8_t) q15 table index would wrap; give the "
                             "gate pre-activations 4..7 fractional bits")
        u, f = int(a.units), int(in_spec.shape[2])
        for key, shp in (("weight", (3 * u, f)), ("recurrent", (3 * u, u)), ("bias", (3 * u,)),
                         ("recurrent_bias", (3 * u,))):
            _param(graph, node, key, np.int8, shp)


def layer_ops(graph, node) -> int:
    """Operations by the seed's formulas (multiply and add count 1 each; pooling 1 per tap)."""
    in_shape = graph.input_of(node).shape
    out = int(np.prod(node.output.shape))
    if node.op is Op.NE16_CONV:
        g = conv_geometry(node, in_shape)
        taps = g["kernel"][0] * g["kernel"][1]
        return 2 * taps * out * (1 if g["mode"] == "dw3x3" else g["in3"][2])
    if node.op is Op.NE16_MAXPOOL:
        return int(np.prod(node.args.pool)) * out
    if node.op is Op.NE16_GLOBAL_MAXPOOL:
        return int(np.prod(in_shape))
    u, f = node.args.units, in_shape[2]
    return 6 * u * (f + u) * in_shape[0]


def to_net(graph, name: str | None = None):
    """The :class:`edgesed.ne16.layers.Net` of an NE16 graph (geometry and bits), for the NE16
    cycle model and the GAP9 cost model (:func:`edgesed.ne16.gap9.net_costs`).

    NE16_CONV "3x3"/"1x1"/"dw3x3"/"fc" -> CONV3X3/CONV1X1/DW3X3/FC (an fc's ``(n,)`` as
    ``(1, 1, n)``), pools -> MAXPOOL (the global one with ``pool = (H, W)``), GRU -> GRU.
    Convolutions must keep 'same' geometry (what :class:`~edgesed.ne16.layers.Layer` models).
    """
    from edgesed.ne16.layers import Kind, Layer, Net

    kinds = {"3x3": Kind.CONV3X3, "1x1": Kind.CONV1X1, "dw3x3": Kind.DW3X3, "fc": Kind.FC}
    layers = []
    for node in graph.nodes:
        i = tuple(graph.input_of(node).shape)
        o = tuple(node.output.shape)
        i3 = i if len(i) == 3 else (1, 1, i[0])
        o3 = o if len(o) == 3 else (1, 1, o[0])
        a = node.args
        if node.op is Op.NE16_CONV:
            layers.append(Layer(node.name, kinds[a.mode], i3, o3, stride=a.stride,
                                dilation=tuple(a.dilation), bits=a.bits, scale_bits=a.scale_bits,
                                has_bias=True, per_channel_shift=a.per_channel_shift,
                                output_bits=8, relu=a.relu))
        elif node.op is Op.NE16_MAXPOOL:
            layers.append(Layer(node.name, Kind.MAXPOOL, i3, o3, pool=tuple(a.pool)))
        elif node.op is Op.NE16_GLOBAL_MAXPOOL:
            layers.append(Layer(node.name, Kind.MAXPOOL, i3, (1, 1, i3[2]), pool=i3[:2]))
        elif node.op is Op.NE16_GRU:
            layers.append(Layer(node.name, Kind.GRU, i3, o3))
        else:
            raise ConfigError(f"layer {node.name!r} ({node.op.value}) is not an NE16-family "
                              "layer; to_net maps NE16 graphs only")
    return Net(name or graph.name, tuple(layers))
