"""Plain-Python references for the CMSIS-NN s8/s4 family (TFLite int8 semantics).

Written from the C formulas and TFLM's reference kernels, not from ``kernels/``: requantization
with Python ints (``gemmlowp`` form for the default mode, TFLM's single-rounding form), and the
layers as int64 NumPy sums over an input padded with ``-input_offset`` (CMSIS's im2col fill), so
the padding path differs from the kernels' tap skipping.
"""
import numpy as np

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def wrap32(v: int) -> int:
    """Python int modulo 2**32 into [-2**31, 2**31)."""
    return ((int(v) + (1 << 31)) % (1 << 32)) - (1 << 31)


def srdhm(a: int, b: int) -> int:
    """gemmlowp ``SaturatingRoundingDoublingHighMul``: round(a*b / 2**31), ties toward +inf."""
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    t = ab + nudge
    q = abs(t) >> 31
    return q if t >= 0 else -q            # C++ '/' truncates toward zero


def rdpot(x: int, e: int) -> int:
    """gemmlowp ``RoundingDivideByPOT``: x / 2**e, ties away from zero."""
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def requant_ref(val: int, mult: int, shift: int, single_rounding: bool = False) -> int:
    """TFLM ``MultiplyByQuantizedMultiplier`` (both builds), int32 wrap where the C multiplies.

    Double rounding: ``rdpot(srdhm(wrap32(val * 2**left), mult), right)``; ``srdhm``'s
    saturation differs from CMSIS's ``no_sat`` only for INT32_MIN * INT32_MIN (multipliers
    here are non-negative, so never).
    Single rounding, as CMSIS writes it: ``r = int32(val*mult >> (30 - shift))``, then
    ``int32(r + 1) >> 1``; this equals TFLM's :func:`requant_single_exact` wherever TFLM's
    DCHECK (result fits int32) holds, and wraps like the C elsewhere.
    """
    if single_rounding:
        r = wrap32((val * mult) >> (30 - shift))
        return wrap32(r + 1) >> 1
    left, right = max(shift, 0), max(-shift, 0)
    return rdpot(srdhm(wrap32(val * (1 << left)), mult), right)


def requant_single_exact(val: int, mult: int, shift: int) -> int:
    """TFLM single rounding: ``(val*mult + 2**(30-shift)) >> (31-shift)`` exactly (unwrapped)."""
    total = 31 - shift
    return (val * mult + (1 << (total - 1))) >> total


def out_stage_ref(acc, mult, shift, out_off, lo, hi, single_rounding=False) -> int:
    v = requant_ref(wrap32(acc), int(mult), int(shift), single_rounding) + out_off
    return min(max(wrap32(v), lo), hi)


def _per_channel(a, n):
    a = np.atleast_1d(np.asarray(a, dtype=np.int64))
    return np.full(n, a[0]) if a.shape[0] == 1 else a


def _pad_input(x, pad_y, pad_x, out_h, out_w, kh, kw, sy, sx, dy, dx, fill):
    """Input padded with ``fill`` so every tap of every output pixel is in range."""
    h, w, c = x.shape
    need_h = (out_h - 1) * sy + (kh - 1) * dy + 1
    need_w = (out_w - 1) * sx + (kw - 1) * dx + 1
    bot = max(0, need_h - pad_y - h)
    right = max(0, need_w - pad_x - w)
    xp = np.full((h + pad_y + bot, w + pad_x + right, c), fill, dtype=np.int64)
    xp[pad_y:pad_y + h, pad_x:pad_x + w] = x
    return xp


def conv_ref(x, w, bias, input_offset, output_offset, mult, shift, stride, padding, dilation,
             act_min, act_max, out_hw, single_rounding=False, w_values=None):
    """``arm_convolve_s8``: HWC input padded with ``-input_offset`` (CMSIS im2col fill)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w if w_values is None else w_values, dtype=np.int64)
    cout, kh, kw, cpg = w.shape
    groups = x.shape[2] // cpg
    opg = cout // groups
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    oh, ow = out_hw
    xp = _pad_input(x, py, px, oh, ow, kh, kw, sy, sx, dy, dx, -input_offset) + input_offset
    m, s = _per_channel(mult, cout), _per_channel(shift, cout)
    out = np.zeros((oh, ow, cout), dtype=np.int8)
    for oy in range(oh):
        for ox in range(ow):
            patch = xp[oy * sy:oy * sy + (kh - 1) * dy + 1:dy,
                       ox * sx:ox * sx + (kw - 1) * dx + 1:dx]
            for o in range(cout):
                g = o // opg
                acc = int(np.sum(patch[:, :, g * cpg:(g + 1) * cpg] * w[o]))
                if bias is not None:
                    acc += int(bias[o])
                out[oy, ox, o] = out_stage_ref(acc, m[o], s[o], output_offset, act_min, act_max,
                                               single_rounding)
    return out


def depthwise_ref(x, w, bias, ch_mult, input_offset, output_offset, mult, shift, stride, padding,
                  dilation, act_min, act_max, out_hw, single_rounding=False):
    """``arm_depthwise_conv_s8``: output channel ``ic*ch_mult + m`` reads input channel ``ic``
    with filter ``w[ky, kx, ic*ch_mult + m]``; out-of-image taps skipped (here: padded)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    kh, kw, cout = w.shape
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    oh, ow = out_hw
    xp = _pad_input(x, py, px, oh, ow, kh, kw, sy, sx, dy, dx, -input_offset) + input_offset
    xrep = np.repeat(xp, ch_mult, axis=2)          # channel ic*ch_mult + m <- ic
    m, s = _per_channel(mult, cout), _per_channel(shift, cout)
    out = np.zeros((oh, ow, cout), dtype=np.int8)
    for oy in range(oh):
        for ox in range(ow):
            patch = xrep[oy * sy:oy * sy + (kh - 1) * dy + 1:dy,
                         ox * sx:ox * sx + (kw - 1) * dx + 1:dx]
            accs = np.sum(patch * w, axis=(0, 1))
            for o in range(cout):
                acc = int(accs[o]) + (int(bias[o]) if bias is not None else 0)
                out[oy, ox, o] = out_stage_ref(acc, m[o], s[o], output_offset, act_min, act_max,
                                               single_rounding)
    return out


def fc_ref(x, w, bias, input_offset, filter_offset, output_offset, mult, shift, act_min, act_max,
           single_rounding=False):
    """``arm_fully_connected_s8`` / ``_per_channel_s8``:
    ``bias + sum (x + input_offset) * (w + filter_offset)``; x is (N,) or (B, N)."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    x2 = x.reshape(-1, x.shape[-1])
    cout = w.shape[0]
    m, s = _per_channel(mult, cout), _per_channel(shift, cout)
    out = np.zeros((x2.shape[0], cout), dtype=np.int8)
    for b in range(x2.shape[0]):
        for o in range(cout):
            acc = sum(int(a + input_offset) * int(f + filter_offset) for a, f in zip(x2[b], w[o]))
            if bias is not None:
                acc += int(bias[o])
            out[b, o] = out_stage_ref(acc, m[o], s[o], output_offset, act_min, act_max,
                                      single_rounding)
    return out.reshape(x.shape[:-1] + (cout,))


def pool_ref(x, kernel, stride, padding, act_min, act_max, out_hw, kind):
    """TFLM ``AveragePool``/``MaxPool`` int8: valid taps only; average rounds half away from
    zero with C truncating division by the number of valid taps; no offsets."""
    h, w, c = x.shape
    (kh, kw), (sy, sx), (py, px) = kernel, stride, padding
    oh, ow = out_hw
    out = np.zeros((oh, ow, c), dtype=np.int8)
    for oy in range(oh):
        for ox in range(ow):
            for ch in range(c):
                vals = [int(x[iy, ix, ch])
                        for iy in range(oy * sy - py, oy * sy - py + kh)
                        for ix in range(ox * sx - px, ox * sx - px + kw)
                        if 0 <= iy < h and 0 <= ix < w]
                if kind == "max":
                    v = max(vals) if vals else -128
                else:
                    n, t = len(vals), sum(vals)
                    q = (abs(t) + n // 2) // n      # C: (t +- n/2) / n truncates toward 0
                    v = q if t > 0 else -((abs(t) + n // 2) // n)
                out[oy, ox, ch] = min(max(v, act_min), act_max)
    return out


def pack_s4_ref(values) -> np.ndarray:
    """Flat int4 packing: element 2k in the low nibble of byte k, 2k+1 in the high nibble."""
    v = [int(a) for a in np.asarray(values).ravel()]
    if len(v) % 2:
        v.append(0)
    out = []
    for k in range(len(v) // 2):
        byte = (v[2 * k] & 0xF) | ((v[2 * k + 1] & 0xF) << 4)      # 0..255
        out.append(byte - 256 if byte > 127 else byte)
    return np.array(out, dtype=np.int8)


def unpack_s4_ref(packed, count) -> np.ndarray:
    out = []
    for b in np.asarray(packed).view(np.uint8):
        lo, hi = int(b) & 0xF, int(b) >> 4
        out += [lo - 16 if lo > 7 else lo, hi - 16 if hi > 7 else hi]
    return np.array(out[:count], dtype=np.int8)
