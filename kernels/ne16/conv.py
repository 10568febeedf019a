"""NE16 convolution job: bit-exact functional model of one NE16 layer (RTL variant).

Modes (:class:`kernels.ne16.packing.Mode`): dense 3x3, dense 1x1, 3x3 depthwise, and fully
connected run as a 1x1 job on a 1x1 image. Stride 1, or 2x2: the RTL computes each 3x3 output
tile with the column mask ``101 000 101`` (``ne16_ctrl.sv`` ``enable_column_strided``) and
pulp-nnx dispatches one job per 2x2 output tile, so the outputs equal a stride-2 convolution of
the padded input: ``Ho = (H + top + bottom - KH) // stride + 1``. (pulp-nnx's driver additionally
drops the bottom/right padding a stride-2 window never reaches, and supports stride 2 only for an
even number of output channels because of how it programs the output strides; neither changes
the bits here.)

Accumulation (``ne16_binconv_block.sv``, ``ne16_accumulator_normquant.sv``)::

    xp  = x (uint8, HWC) with T/R/B/L rows/columns of the PADDING value (register [7:0])
    acc[y, x, k] = wrap32( sum_{ky,kx,c} xp[s*y+ky, s*x+kx, c] * w_u[k, ky, kx, c]      # MATRIXVEC
                           + Wmin * sum_{ky,kx,c} xp[s*y+ky, s*x+kx, c] )                # WEIGHTOFFS

(depthwise: the sums run over taps only, channel ``c = k``). The array computes the first sum bit
plane by bit plane (AND-popcount of unsigned activations, shifted by the bit index) and adds it
to 32-bit accumulators that wrap without saturating; the weight-offset phase multiplies the
window sum by ``Wmin``. Every step is addition modulo 2**32, so summing exactly in int64 and
wrapping once gives the same bits as wrapping at every add (the int64 sum cannot overflow:
``|acc| <= 255*510*9*Kin``). Padded Kin channels contribute 0.

``Wmin`` (the WEIGHT_OFFSET register) is multiplied in the WEIGHTOFFS phase by one 8-bit lane of
the normquant multiplier extended with the register's sign bit (``ne16_normquant.sv``
``norm_mult_signed``, ``norm_mode = 8B`` in WEIGHTOFFS; ``NORM_MULT_SIZE = 8``), so the RTL
effectively uses ``{W[31], W[7:0]}``: only ``Wmin`` in ``[-256, 255]`` is exact on both the RTL and
GVSOC (which uses the full 32 bits), and that is the range accepted here. (This is my reading of
the RTL sources; ``ne16.md`` §1.2 says any 32-bit Wmin works. The golden ``-2**(bits-1)`` and every
offset a 2..8-bit weight needs lie well inside the range, so nothing practical is lost.)

Then normquant (:mod:`kernels.ne16.normquant`) or, without it, the int32 accumulators.

Signed int8 activations (NE16 reads only uint8): ``input_signed=True`` feeds ``x + 128`` (the
bytes XOR 0x80) and replaces the bias by :func:`signed_input_bias`
``bias' = wrap32(bias - 128 * scale * sum(w_eff))`` (``sum`` over taps and input channels of
``w_u + Wmin``), computed exactly and stored as int32 as a toolchain would. Because the bias path
works modulo 2**32, the output is then *exactly* what a signed-input NE16 would give with
``bias`` (pad value in the signed domain). It needs the bias stage, hence a scale.

Dilation: NE16 has none; :mod:`kernels.ne16.dilated` runs dilated 3x3 layers as dense phase
jobs through the same body.

Public API: :func:`ne16_conv`, :func:`ne16_conv_packed`, :func:`ne16_output_shape`,
:func:`signed_input_bias`, :func:`check_wmin`, :func:`check_padding`, ``_warmup()``.
The jitted body ``_ne16_conv`` writes into ``out`` and allocates nothing.
"""
import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array, check_int, output_array
from kernels.ne16.normquant import _normquant_one, check_normquant_args, out_dtype
from kernels.ne16.packing import Mode, check_bits, check_mode, kernel_size, unpack_weights
from kernels.rounding import wrap32

__all__ = ["ne16_conv", "ne16_conv_packed", "ne16_output_shape",
           "signed_input_bias", "check_wmin", "check_padding", "WMIN_RANGE"]

WMIN_RANGE = (-256, 255)   #: WEIGHT_OFFSET values the RTL multiplies exactly ({W[31], W[7:0]})
_NARROW_CIN = (2**31 - 1) // (255 * 255)   #: 33025: largest Cin whose per-tap u8*u8 dot fits int32


# ------------------------------------------------------------------------------- jitted body

@nb.njit(cache=True)
def _ne16_conv(x, x_xor, w, wmin, depthwise, stride, pad_top, pad_left, pad_value,
               normquant, scale, bias, has_bias, shift, relu, out_bits, out):
    """Body of :func:`ne16_conv`.

    ``x`` uint8 (H, W, Cin) (any strides; ``x ^ x_xor`` is the uint8 activation), ``w`` uint8
    (Kout, KH, KW, Cin) stored weights (depthwise: (C, 3, 3, 1)), ``wmin`` int, ``depthwise``
    0/1, ``stride`` 1/2, ``pad_top``/``pad_left`` ints (bottom/right follow from ``out.shape``),
    ``pad_value`` int in [0, 255], ``normquant`` 0/1, ``scale`` int64[K], ``bias`` int32[K],
    ``has_bias`` 0/1, ``shift`` int64[K], ``relu`` 0/1, ``out_bits`` 8/32, ``out`` (Ho, Wo, K)
    uint8/int8/int32 (any strides).
    """
    h_in, w_in, c_in = x.shape
    h_out, w_out, k_out = out.shape
    kh = w.shape[1]
    kw = w.shape[2]
    pv = np.int64(pad_value)
    wm = np.int64(wmin)
    narrow = c_in <= _NARROW_CIN    # per-tap dot products fit int32 (2.5x faster inner loop)
    for oy in range(h_out):
        for ox in range(w_out):
            y0 = oy * stride - pad_top
            x0 = ox * stride - pad_left
            if depthwise:
                for c in range(k_out):
                    s = np.int64(0)
                    sx = np.int64(0)
                    for ky in range(kh):
                        iy = y0 + ky
                        for kx in range(kw):
                            ix = x0 + kx
                            if 0 <= iy < h_in and 0 <= ix < w_in:
                                v = np.int64(x[iy, ix, c] ^ x_xor)
                            else:
                                v = pv
                            s += v * np.int64(w[c, ky, kx, 0])
                            sx += v
                    acc = wrap32(s + wm * sx)
                    if normquant:
                        out[oy, ox, c] = _normquant_one(acc, scale[c], bias[c], has_bias,
                                                        shift[c], relu, out_bits)
                    else:
                        out[oy, ox, c] = acc
                continue
            # WEIGHTOFFS: the window sum, shared by every output channel
            sx = np.int64(0)
            for ky in range(kh):
                iy = y0 + ky
                for kx in range(kw):
                    ix = x0 + kx
                    if 0 <= iy < h_in and 0 <= ix < w_in:
                        for c in range(c_in):
                            sx += np.int64(x[iy, ix, c] ^ x_xor)
                    else:
                        sx += pv * c_in
            off = wm * sx
            for k in range(k_out):
                s = np.int64(0)
                for ky in range(kh):
                    iy = y0 + ky
                    for kx in range(kw):
                        ix = x0 + kx
                        wr = w[k, ky, kx]
                        if 0 <= iy < h_in and 0 <= ix < w_in:
                            xr = x[iy, ix]
                            if narrow and x_xor == 0:
                                t32 = np.int32(0)     # 255*255*c_in < 2**31: vectorizable
                                for c in range(c_in):
                                    t32 += np.int32(xr[c]) * np.int32(wr[c])
                                s += np.int64(t32)
                            elif narrow:
                                t32 = np.int32(0)
                                for c in range(c_in):
                                    t32 += np.int32(xr[c] ^ np.uint8(0x80)) * np.int32(wr[c])
                                s += np.int64(t32)
                            else:
                                t = np.int64(0)
                                for c in range(c_in):
                                    t += np.int64(xr[c] ^ x_xor) * np.int64(wr[c])
                                s += t
                        else:
                            t = np.int64(0)
                            for c in range(c_in):
                                t += np.int64(wr[c])
                            s += pv * t
                acc = wrap32(s + off)
                if normquant:
                    out[oy, ox, k] = _normquant_one(acc, scale[k], bias[k], has_bias, shift[k],
                                                    relu, out_bits)
                else:
                    out[oy, ox, k] = acc


# ------------------------------------------------------------------------------------ checks

def check_wmin(wmin) -> int:
    """``wmin`` as an int in [-256, 255]; ConfigError naming the value otherwise."""
    wmin = check_int("wmin", wmin)
    if not WMIN_RANGE[0] <= wmin <= WMIN_RANGE[1]:
        raise ConfigError(
            f"wmin={wmin} is outside [-256, 255]: the RTL multiplies the window sum by the 9-bit "
            "{WEIGHT_OFFSET[31], WEIGHT_OFFSET[7:0]} (ne16_normquant.sv, NORM_MULT_SIZE=8), so "
            "larger offsets differ between RTL and GVSOC. Use the golden convention "
            "wmin = -2**(bits-1) (kernels.ne16.packing.to_unsigned)")
    return wmin


def check_padding(padding, mode: Mode) -> tuple[int, int, int, int]:
    """``padding`` (an int or (top, right, bottom, left)) as a 4-tuple, checked for ``mode``:
    each side in [0, 2] for 3x3 modes (a 3-tap window never needs more; the register fields are
    4 bits, but larger pads only add outputs computed from padding alone), 0 for 1x1/FC
    (pulp-nnx: "No padding on 1x1 kernel")."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 4:
            raise ConfigError(f"padding={padding!r} must be an int or (top, right, bottom, left)")
        pads = tuple(check_int(f"padding[{i}]", p) for i, p in enumerate(padding))
    else:
        p = check_int("padding", padding)
        pads = (p, p, p, p)
    hi = 2 if kernel_size(mode) == (3, 3) else 0
    if min(pads) < 0 or max(pads) > hi:
        raise ConfigError(f"padding={padding!r} (top, right, bottom, left): each side must be in "
                          f"[0, {hi}] for mode {mode.value!r}"
                          + (" (pulp-nnx allows no padding on 1x1 jobs; pad the input instead)"
                             if hi == 0 else ""))
    return pads


def ne16_output_shape(mode, in_h: int, in_w: int, k_out: int, stride=1, padding=0):
    """(Ho, Wo, Kout) of a job: ``Ho = (H + top + bottom - KH) // stride + 1``."""
    m = check_mode(mode)
    kh, kw = kernel_size(m)
    t, r, b, l = check_padding(padding, m)
    ho = (in_h + t + b - kh) // stride + 1
    wo = (in_w + l + r - kw) // stride + 1
    if ho < 1 or wo < 1 or in_h < 1 or in_w < 1:
        raise ShapeError(f"input {in_h}x{in_w} with padding={padding!r} is smaller than the "
                         f"{kh}x{kw} window; pad it or use a smaller kernel")
    return ho, wo, int(k_out)


def signed_input_bias(w_unsigned, wmin: int, scale, bias=None, mode="3x3") -> np.ndarray:
    """Bias for int8 inputs fed as ``u8 = s8 + 128``: ``wrap32(bias - 128*scale*sum(w_eff))``.

    Parameters
    ----------
    w_unsigned : np.ndarray [shape=(Kout, KH, KW, Cin), dtype=uint8]
    wmin : int
    scale : np.ndarray [shape=(Kout,), integer]
    bias : np.ndarray [shape=(Kout,), dtype=int32], optional (zeros)
    mode : Mode or str

    Returns
    -------
    bias_corrected : np.ndarray [shape=(Kout,), dtype=int32]
        Exact integers reduced modulo 2**32, which is all the 32-bit bias adder sees.
    """
    check_mode(mode)
    w = np.asarray(w_unsigned, dtype=np.int64)
    taps = w.shape[1] * w.shape[2] * w.shape[3]
    w_sum = w.reshape(w.shape[0], -1).sum(axis=1) + int(wmin) * taps
    b = np.zeros(w.shape[0], dtype=np.int64) if bias is None else np.asarray(bias, np.int64)
    corr = [int(bi) - 128 * int(si) * int(ws) for bi, si, ws in zip(b, np.asarray(scale), w_sum)]
    return np.array([((v + 2**31) % 2**32) - 2**31 for v in corr], dtype=np.int32)


def _check_weights(w_unsigned, m: Mode, bits: int, c_in: int) -> np.ndarray:
    kh, kw = kernel_size(m)
    w = check_array("w_unsigned", w_unsigned, np.uint8, ndim=4)
    want_cin = 1 if m is Mode.DEPTHWISE3X3 else c_in
    if w.shape[1:] != (kh, kw, want_cin):
        raise ShapeError(f"w_unsigned.shape={w.shape} must be (Kout, {kh}, {kw}, {want_cin}) for "
                         f"mode {m.value!r} with {c_in} input channels"
                         + (" (depthwise: (C, 3, 3, 1) with C == Cin)"
                            if m is Mode.DEPTHWISE3X3 else ""))
    if m is Mode.DEPTHWISE3X3 and w.shape[0] != c_in:
        raise ShapeError(f"depthwise: w_unsigned.shape[0]={w.shape[0]} must equal the input "
                         f"channels {c_in} (NE16 depthwise has no channel multiplier)")
    if w.size and int(w.max()) >= (1 << bits):
        raise ConfigError(f"w_unsigned holds {int(w.max())}, which does not fit bits={bits} "
                          f"([0, {(1 << bits) - 1}]); store w + 2**(bits-1) (to_unsigned)")
    return w


def prepare_job(x, w_unsigned, bits, wmin, mode, stride, padding, pad_value, scale, scale_bits,
                bias, shift, relu, out_bits, input_signed):
    """Validate a job's arguments once (as :func:`ne16_conv` takes them) and return what the body
    needs: ``(mode, x3 uint8 (H, W, Cin) view, is_fc, (t, r, b, l), w, wmin, pad_value_u8,
    normquant, scale i8[K], bias i4[K] (corrected for signed input), has_bias, shift i8[K], relu,
    out_bits, x_xor)``. The engine calls this at load time and the body per frame."""
    m = check_mode(mode)
    bits = check_bits(bits)
    wmin = check_wmin(wmin)
    if stride not in (1, 2) or isinstance(stride, bool):
        raise ConfigError(f"stride={stride!r} must be 1 or 2 (NE16 strides: 1, or 2x2 through "
                          "the column mask)")
    in_dtype = np.int8 if input_signed else np.uint8
    fc = m is Mode.FC
    if fc:
        x = check_array("x", x, in_dtype, ndim=1)
        if stride != 1:
            raise ConfigError("stride must be 1 for a fully connected layer")
        x3 = x.reshape(1, 1, -1)
    else:
        x3 = check_array("x", x, in_dtype, ndim=3)
    if x3.shape[2] < 1:
        raise ShapeError(f"x.shape={x.shape} has no channels")
    pads = check_padding(padding, m)
    w = _check_weights(w_unsigned, m, bits, x3.shape[2])
    k_out = w.shape[0]
    if out_bits is None:
        out_bits = 32 if scale is None else 8
    lo, hi = (-128, 127) if input_signed else (0, 255)
    pad_value = check_int("pad_value", pad_value)
    if not lo <= pad_value <= hi:
        raise ConfigError(f"pad_value={pad_value} must be in [{lo}, {hi}] (the input's domain; "
                          "the PADDING register holds it as uint8)")
    sc, b, has_bias, sh, relu, out_bits = check_normquant_args(k_out, scale, scale_bits, bias,
                                                               shift, relu, out_bits)
    if input_signed:
        if scale is None:
            raise ConfigError(
                "input_signed=True needs the normquant bias stage to undo the +128 input offset; "
                "pass scale=np.ones(Kout) with scale_bits=8, shift=0 and out_bits=32 to get the "
                "accumulators")
        b = signed_input_bias(w, wmin, sc, b if has_bias else None, m)
        has_bias = True
        pad_value += 128
    return (m, x3.view(np.uint8), fc, pads, w, wmin, pad_value, scale is not None, sc, b,
            has_bias, sh, relu, out_bits, 0x80 if input_signed else 0)


# ---------------------------------------------------------------------------- public kernels

def ne16_conv(x, w_unsigned, *, bits, wmin, mode, stride=1, padding=0, pad_value=0, scale=None,
              scale_bits=8, bias=None, shift=0, relu=False, out_bits=None, input_signed=False,
              out=None):
    """One NE16 job (3x3, 1x1, 3x3 depthwise or FC-as-1x1), bit-exact with the NE16 RTL.

    ``out = normquant(wrap32(sum xp * (w_u + wmin)))`` (module docstring).

    Parameters
    ----------
    x : np.ndarray [shape=(H, W, Cin), dtype=uint8]
        HWC activations; int8 with ``input_signed=True``; shape ``(Cin,)`` for ``mode="fc"``.
    w_unsigned : np.ndarray [shape=(Kout, KH, KW, Cin), dtype=uint8] in [0, 2**bits)
        Stored weights (``to_unsigned``); depthwise ``(C, 3, 3, 1)``; 1x1/FC ``(Kout, 1, 1, Cin)``.
    bits : int in [2, 8]
        Weight bits (CONF0[2:0] + 1).
    wmin : int in [-256, 255]
        WEIGHT_OFFSET; effective weight ``w_u + wmin`` (golden: ``-2**(bits-1)``).
    mode : Mode or {"3x3", "1x1", "dw3x3", "fc"}
    stride : {1, 2}
    padding : int or (top, right, bottom, left)
        Each in [0, 2] for 3x3 modes; 0 for 1x1/FC.
    pad_value : int
        Value of padded pixels, in x's domain ([0, 255], or [-128, 127] if ``input_signed``).
    scale : np.ndarray [shape=(Kout,), integer] in [0, 2**scale_bits), optional
        Per-channel unsigned scale; ``None`` disables normquant (int32 accumulators out).
    scale_bits : {8, 16, 32}
    bias : np.ndarray [shape=(Kout,), dtype=int32], optional
    shift : int in [0, 31] or np.ndarray [shape=(Kout,)] in [0, 63]
        Per-layer or per-channel arithmetic right shift (floor).
    relu : bool
    out_bits : {8, 32}, optional
        Default 8 with a scale, 32 without.
    input_signed : bool
        int8 input through the +128 offset and :func:`signed_input_bias`.
    out : np.ndarray [shape=(Ho, Wo, Kout)], optional
        uint8 (8-bit + ReLU), int8 (8-bit) or int32; ``(Kout,)`` for FC.

    Returns
    -------
    out : np.ndarray [shape=(Ho, Wo, Kout) or (Kout,)]

    Notes
    -----
    Body: ``_ne16_conv(x, x_xor, w, wmin, depthwise, stride, pad_top, pad_left, pad_value,
    normquant, scale, bias, has_bias, shift, relu, out_bits, out)``; the engine computes the
    arguments once (``signed_input_bias`` included) and calls it on arena views.
    """
    (m, x3, fc, pads, w, wmin, pv, nq, sc, b, hb, sh, relu, ob,
     x_xor) = prepare_job(x, w_unsigned, bits, wmin, mode, stride, padding, pad_value, scale,
                       scale_bits, bias, shift, relu, out_bits, input_signed)
    ho, wo, ko = ne16_output_shape(m, x3.shape[0], x3.shape[1], w.shape[0], stride, pads)
    dt = out_dtype(ob, relu, nq)
    if fc:
        out = output_array("out", out, dt, (ko,))
        out3 = out.reshape(1, 1, ko)
    else:
        out = output_array("out", out, dt, (ho, wo, ko))
        out3 = out
    _ne16_conv(x3, x_xor, w, wmin, int(m is Mode.DEPTHWISE3X3), stride, pads[0], pads[3], pv,
               int(nq), sc, b, int(hb), sh, int(relu), ob, out3)
    return out


def ne16_conv_packed(x, packed, shape, *, bits, mode, **kwargs):
    """:func:`ne16_conv` on weights in NE16's packed layout (``pack_weights`` output).

    ``shape`` is the unsigned weights' ``(Kout, KH, KW, Cin)``; the bytes are decoded with
    ``unpack_weights`` (allocates; the engine decodes once at load time). Other keywords as
    :func:`ne16_conv`.
    """
    w = unpack_weights(packed, bits, mode, shape)
    return ne16_conv(x, w, bits=bits, mode=mode, **kwargs)


def _warmup() -> None:
    """Compile (or load from cache) the body for uint8/int8/int32 outputs (contiguous arrays;
    :func:`kernels.ne16.dilated._warmup` compiles the strided-view specializations)."""
    x = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    w = (np.arange(3 * 9 * 5) % 8).astype(np.uint8).reshape(3, 3, 3, 5)
    sc = np.ones(3, dtype=np.int64)
    ne16_conv(x, w, bits=3, wmin=-4, mode="3x3", padding=1, scale=sc, relu=True)
    ne16_conv(x, w, bits=3, wmin=-4, mode="3x3", padding=1, scale=sc, shift=1)
    ne16_conv(x, w, bits=3, wmin=-4, mode="3x3", padding=1)
