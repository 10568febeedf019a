"""Whole-network reference for NE16 graphs (edgesed.graph_ne16), plain NumPy / Python ints.

Written from the layer definitions, not from the engine, dispatch or kernels:

- packed weights decoded from the documented byte rule (bit ``j`` of byte ``(ko, group, bit, tap,
  half)`` is bit ``bit`` of input channel ``16*group + 8*half + j``);
- convolutions computed *directly* with the dilation and stride (no phase jobs) in int64 and
  wrapped to 32 bits once, with the effective weights ``w_u + wmin``; a signed input is used as
  signed values padded with 0 (no +128 trick, so the engine's bias correction is checked against
  the plain definition);
- normquant per element by :func:`tests.naive.ne16.normquant_rtl_ref` (Python ints);
- max pools by reshaping; the GRU by :func:`tests.naive.gru.gru_step_ref` on natural (not
  reordered) weights with the shifts derived here from the formats, its q7 input ``x >> shift``.
"""
import numpy as np

from tests.naive.gru import gru_step_ref
from tests.naive.ne16 import normquant_rtl_ref


def unpack_ref(packed, bits, mode, shape):
    """Unsigned weights ``shape`` = (Kout, KH, KW, Cin) (depthwise (C, 3, 3, 1)) from the bytes."""
    kout, kh, kw, cin = shape
    dw = mode == "dw3x3"
    rows, chans = (1, kout) if dw else (kout, cin)
    groups = -(-chans // 16)
    taps = kh * kw
    bitsarr = np.unpackbits(np.asarray(packed, np.uint8), bitorder="little")
    bitsarr = bitsarr.reshape(rows, groups, bits, taps, 16).astype(np.int64)
    w = np.zeros((rows, taps, groups * 16), np.int64)
    for b in range(bits):
        w += bitsarr[:, :, b].transpose(0, 2, 1, 3).reshape(rows, taps, groups * 16) << b
    w = w[:, :, :chans].reshape(rows, kh, kw, chans)
    return w.transpose(3, 1, 2, 0) if dw else w      # dw: (C, 3, 3, 1)


def _wrap32(a):
    return ((a + 2**31) % 2**32) - 2**31


def conv_acc_ref(x, w_eff, *, stride, dilation, pads, depthwise):
    """int32 accumulators: ``sum xp[s*y + dh*ky, s*x + dw*kx, c] * w_eff`` (int64, wrapped)."""
    t, r, b, l = pads
    h, w, c = x.shape
    xp = np.zeros((h + t + b, w + l + r, c), np.int64)
    xp[t:t + h, l:l + w] = x
    kout, kh, kw, _ = w_eff.shape
    dh, dw = dilation
    ho = (xp.shape[0] - dh * (kh - 1) - 1) // stride + 1
    wo = (xp.shape[1] - dw * (kw - 1) - 1) // stride + 1
    acc = np.zeros((ho, wo, kout), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            win = xp[ky * dh:ky * dh + stride * (ho - 1) + 1:stride,
                     kx * dw:kx * dw + stride * (wo - 1) + 1:stride]       # (ho, wo, c)
            if depthwise:
                acc += win * w_eff[:, ky, kx, 0]
            else:
                acc += win @ w_eff[:, ky, kx, :].T
    return _wrap32(acc)


def _conv(graph, node, x):
    a = node.args
    p = graph.params
    kout = a.out_ch
    x3 = x.reshape(1, 1, -1) if a.mode == "fc" else x
    kh = 3 if a.mode in ("3x3", "dw3x3") else 1
    shape = (kout, 3, 3, 1) if a.mode == "dw3x3" else (kout, kh, kh, x3.shape[2])
    wmin = -(1 << (a.bits - 1)) if a.wmin is None else a.wmin
    w_eff = unpack_ref(p[f"{node.name}.weight"], a.bits, a.mode, shape) + wmin
    acc = conv_acc_ref(x3.astype(np.int64), w_eff, stride=a.stride, dilation=tuple(a.dilation),
                       pads=tuple(a.padding), depthwise=a.mode == "dw3x3")
    scale = p[f"{node.name}.scale"]
    bias = p[f"{node.name}.bias"]
    shifts = p[f"{node.name}.shift"] if a.per_channel_shift else [a.shift] * kout
    out = np.zeros(acc.shape, np.int64)
    for idx in np.ndindex(acc.shape):
        k = idx[2]
        out[idx] = normquant_rtl_ref(int(acc[idx]), int(scale[k]), int(bias[k]), int(shifts[k]),
                                     a.relu, 8)
    out = out.astype(np.uint8 if a.relu else np.int8)
    return out.reshape(-1) if a.mode == "fc" else out


def _gru(graph, node, x, h):
    a = node.args
    p = graph.params
    n_i = graph.input_of(node).q.frac_bits - a.input_shift
    n_w, n_b = node.weight_q.frac_bits, node.bias_q.frac_bits
    n_u, n_z = a.recurrent_q.frac_bits, a.gate_q.frac_bits
    shifts = (n_i + n_w - n_b, n_i + n_w - n_z, 7 + n_u - n_z, 7 - n_z)
    w, u = p[f"{node.name}.weight"], p[f"{node.name}.recurrent"]
    b, rb = p[f"{node.name}.bias"], p[f"{node.name}.recurrent_bias"]
    outs = []
    for t in range(x.shape[0]):
        xq = [int(v) >> a.input_shift for v in x[t, 0]]
        o, h = gru_step_ref(xq, h, w.tolist(), u.tolist(), b.tolist(), rb.tolist(), *shifts)
        outs.append(o)
    return np.array(outs, np.int8).reshape(x.shape[0], 1, -1), h


def run_ref(graph, x, state=None):
    """One inference of ``graph`` on int8 ``x``; ``state`` maps GRU names to int16 states
    (missing: zeros). Returns ``(outputs by layer name, new state)``."""
    state = {k: [int(v) for v in s] for k, s in (state or {}).items()}
    outs = {}
    for node in graph.nodes:
        op = node.op.name
        if op == "NE16_CONV":
            x = _conv(graph, node, x)
        elif op == "NE16_MAXPOOL":
            ph, pw = node.args.pool
            h, w, c = x.shape
            x = x[:h // ph * ph, :w // pw * pw].reshape(h // ph, ph, w // pw, pw, c)
            x = x.max(axis=(1, 3))
        elif op == "NE16_GLOBAL_MAXPOOL":
            x = x.max(axis=(0, 1))
        elif op == "NE16_GRU":
            h0 = state.get(node.name, [0] * node.args.units)
            x, state[node.name] = _gru(graph, node, x, h0)
        else:
            raise ValueError(f"not an NE16-family layer: {node.op}")
        outs[node.name] = x
    return outs, {k: np.array(v, np.int16) for k, v in state.items()}
