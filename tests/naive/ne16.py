"""Plain-Python references for the NE16 functional model (kernels/ne16/).

Written from the datapath description in ``/work/shared/research/ne16.md`` and the pulp-nnx /
RTL sources it cites, not from the kernels:

- weight packing one bit at a time from the documented rule (``pack_ref``);
- accumulation as the array does it: for each weight bit plane ``b`` and each tap, the block
  output ``sum_c (bit_b(w_u) ? x : 0)`` shifted left by ``b`` is added to a 32-bit accumulator
  that wraps at every add; then the WEIGHTOFFS phase adds ``Wmin * sum(x)`` (``conv_ref``);
- normquant as the RTL's multiplier / bias adder / shifter (``normquant_rtl_ref``) and as the
  pulp-nnx golden model (``normquant_golden_ref``), with Python ints;
- signed inputs computed directly in the signed domain (no +128 trick), so the kernel's bias
  correction is checked against the plain definition.
"""
import numpy as np


def wrap(v: int, bits: int) -> int:
    """Python int modulo 2**bits into the signed range."""
    m = 1 << bits
    v %= m
    return v - m if v >= m >> 1 else v


def pack_ref(w_u, bits, depthwise=False):
    """NE16 packed bytes, one bit at a time: for ko, group, bit, tap, byte, j (LSB first):
    bit j of the byte = bit ``bit`` of channel ``16*group + 8*byte + j`` (0 past Cin)."""
    w_u = np.asarray(w_u)
    if depthwise:
        w_u = w_u.transpose(3, 1, 2, 0)
    kout, kh, kw, cin = w_u.shape
    groups = -(-cin // 16)
    out = []
    for ko in range(kout):
        for g in range(groups):
            for b in range(bits):
                for ky in range(kh):
                    for kx in range(kw):
                        for byte in range(2):
                            v = 0
                            for j in range(8):
                                c = 16 * g + 8 * byte + j
                                if c < cin and (int(w_u[ko, ky, kx, c]) >> b) & 1:
                                    v |= 1 << j
                            out.append(v)
    return np.array(out, dtype=np.uint8)


def _pad(x, pads, pad_value):
    t, r, b, l = pads
    h, w, c = x.shape
    xp = np.full((h + t + b, w + l + r, c), pad_value, dtype=np.int64)
    xp[t:t + h, l:l + w] = x
    return xp


def accumulators_ref(x_u8, w_u, bits, wmin, depthwise=False, stride=1, pads=(0, 0, 0, 0),
                     pad_value=0):
    """int32 accumulators (Ho, Wo, K) by explicit bit-plane accumulation with a wrap per add."""
    xp = _pad(np.asarray(x_u8, dtype=np.int64), pads, pad_value)
    w_u = np.asarray(w_u, dtype=np.int64)
    kout, kh, kw, _ = w_u.shape
    ho = (xp.shape[0] - kh) // stride + 1
    wo = (xp.shape[1] - kw) // stride + 1
    acc = np.zeros((ho, wo, kout), dtype=np.int64)
    planes = [(w_u >> b) & 1 for b in range(bits)]
    for oy in range(ho):
        for ox in range(wo):
            win = xp[oy * stride:oy * stride + kh, ox * stride:ox * stride + kw]  # (kh, kw, C)
            a = [0] * kout
            for b in range(bits):                      # MATRIXVEC: one bit plane at a time
                for ky in range(kh):
                    for kx in range(kw):
                        if depthwise:
                            blk = planes[b][:, ky, kx, 0] * win[ky, kx, :kout]   # per channel
                        else:
                            blk = planes[b][:, ky, kx, :] @ win[ky, kx]          # AND-popcount
                        for k in range(kout):
                            a[k] = wrap(a[k] + (int(blk[k]) << b), 32)
            for k in range(kout):                      # WEIGHTOFFS: Wmin * window sum
                sx = int(win[:, :, k].sum()) if depthwise else int(win.sum())
                a[k] = wrap(a[k] + wrap(wmin * sx, 32), 32)
            acc[oy, ox] = a
    return acc


def signed_accumulators_ref(x_s8, w_u, wmin, depthwise=False, stride=1, pads=(0, 0, 0, 0),
                            pad_value=0):
    """int32 accumulators of a *signed* input with effective weights, computed directly."""
    xp = _pad(np.asarray(x_s8, dtype=np.int64), pads, pad_value)
    w_eff = np.asarray(w_u, dtype=np.int64) + wmin
    kout, kh, kw, _ = w_eff.shape
    ho = (xp.shape[0] - kh) // stride + 1
    wo = (xp.shape[1] - kw) // stride + 1
    acc = np.zeros((ho, wo, kout), dtype=np.int64)
    for oy in range(ho):
        for ox in range(wo):
            win = xp[oy * stride:oy * stride + kh, ox * stride:ox * stride + kw]
            for k in range(kout):
                if depthwise:
                    v = int((win[:, :, k] * w_eff[k, :, :, 0]).sum())
                else:
                    v = int((win * w_eff[k]).sum())
                acc[oy, ox, k] = wrap(v, 32)
    return acc


def normquant_rtl_ref(acc, scale, bias, shift, relu, out_bits):
    """RTL normquant on one int: multiplier (48-bit sum), optional 32-bit bias, shifter."""
    p = int(acc) * int(scale)
    if bias is not None:
        v = wrap(wrap(p, 32) + int(bias), 32)      # use_shifting=0, quant 32B; then bias adder
    else:
        v = wrap(p, 48)                            # product_32b / _16b / _8b in 48 bits
    s = v >> int(shift)
    if relu:
        if s < 0:
            return 0
        return min(s, 255) if out_bits == 8 else wrap(s, 32)
    lo, hi = (-128, 127) if out_bits == 8 else (-2**31, 2**31 - 1)
    return min(max(s, lo), hi)


def normquant_golden_ref(acc, scale, bias, shift, relu, out_bits):
    """pulp-nnx ``NeuralEngineFunctionalModel._norm_quant`` on one int (int64 product, ReLU
    before the shift, final clamp to the output type)."""
    v = int(acc) * int(scale)
    if bias is not None:
        v = wrap(wrap(v, 32) + int(bias), 32)
    if relu:
        v = max(v, 0)
    v >>= int(shift)
    if out_bits == 8:
        lo, hi = (0, 255) if relu else (-128, 127)
    else:
        lo, hi = -2**31, 2**31 - 1
    return min(max(v, lo), hi)


def ne16_conv_ref(x, w_u, *, bits, wmin, depthwise=False, stride=1, pads=(0, 0, 0, 0),
                  pad_value=0, scale=None, bias=None, shift=0, relu=False, out_bits=32,
                  input_signed=False, golden=False):
    """Whole job: accumulators then normquant (RTL or golden), output dtype as the hardware."""
    if input_signed:
        acc = signed_accumulators_ref(x, w_u, wmin, depthwise, stride, pads, pad_value)
    else:
        acc = accumulators_ref(x, w_u, bits, wmin, depthwise, stride, pads, pad_value)
    if scale is None:
        return acc.astype(np.int32)
    kout = acc.shape[2]
    shifts = [shift] * kout if np.isscalar(shift) else list(shift)
    if input_signed and bias is None:
        bias = np.zeros(kout, dtype=np.int32)     # signed inputs always use the bias stage
    f = normquant_golden_ref if golden else normquant_rtl_ref
    out = np.zeros(acc.shape, dtype=np.int64)
    for idx in np.ndindex(acc.shape):
        k = idx[2]
        out[idx] = f(acc[idx], scale[k], None if bias is None else bias[k], shifts[k], relu,
                     out_bits)
    dt = np.int32 if out_bits == 32 else (np.uint8 if relu else np.int8)
    return out.astype(dt)


def dilated_conv_ref(x, w_u, *, dilation, wmin, depthwise=False, pads=(0, 0, 0, 0),
                     pad_value=0):
    """Accumulators of a dilated 3x3 (stride 1), computed directly (int32 wrap)."""
    xp = _pad(np.asarray(x, dtype=np.int64), pads, pad_value)
    w_eff = np.asarray(w_u, dtype=np.int64) + wmin
    d = dilation
    ho, wo = xp.shape[0] - 2 * d, xp.shape[1] - 2 * d
    kout = w_eff.shape[0]
    acc = np.zeros((ho, wo, kout), dtype=np.int64)
    for oy in range(ho):
        for ox in range(wo):
            win = xp[oy:oy + 2 * d + 1:d, ox:ox + 2 * d + 1:d]
            for k in range(kout):
                if depthwise:
                    v = (win[:, :, k] * w_eff[k, :, :, 0]).sum()
                else:
                    v = (win * w_eff[k]).sum()
                acc[oy, ox, k] = wrap(int(v), 32)
    return acc
