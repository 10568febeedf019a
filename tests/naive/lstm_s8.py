"""Plain-Python reference for the int8 LSTM time step (TFLM ``lstm_internal::LstmStep`` with
int8 activations, int8 weights, int16 cell, int32 bias), written from the TFLM kernel's
description with Python ints, not from ``kernels/``:

- each gate FC is ``sum((w) * (x - x_zp)) + b`` over the raw zero point (no folded bias);
- sigmoid / tanh interpolate TFLM's ``sigmoid_table_uint16`` (sigmoid(i / 24) in Q0.16; the
  literal table is data, taken from ``kernels.lstm_s8`` and checked here against ``math.exp``
  to within 1 LSB by :func:`sigmoid_table_error`);
- products requantize with the shared naive ``requant_ref``.
"""
import math

import numpy as np

from kernels.lstm_s8 import SIGMOID_TABLE_UINT16   # data (a table), not code
from tests.naive.s8 import requant_ref, wrap32


TABLE = [int(v) for v in SIGMOID_TABLE_UINT16]


def sigmoid_table_error() -> float:
    """max |TABLE[i] - 65536 * sigmoid(i / 24)| (TFLM's table is not plain rounding: up to 1)."""
    return max(abs(TABLE[i] - 65536 / (1 + math.exp(-i / 24))) for i in range(256))


def _sat(v, lo, hi):
    return max(lo, min(hi, v))


def sigmoid_ref(v: int) -> int:
    """Q3.12 int16 -> Q0.15: x = 3v (Q?.. with the 3/4 range stretch), interpolate the table at
    |x| / 512, mirror for negative x."""
    x = 3 * v
    ax = abs(x)
    i, frac = divmod(ax, 512)
    r = (0x7FFF << 10) if i >= 255 else TABLE[i] * 512 + frac * (TABLE[i + 1] - TABLE[i])
    r = r + 512 if x >= 0 else (1 << 25) - r + 511
    return r >> 10


def tanh_ref(v: int, power: int) -> int:
    """Input with scale 2**power -> Q0.15: tanh(x) = 2 sigmoid(2x) - 1 on the same table."""
    ls = 12 + power
    if ls >= 0:
        x = v * (3 << ls)
    else:
        x = (v * 3 + (1 << (-ls - 1))) >> (-ls)
    ax = abs(x)
    i, frac = divmod(ax, 256)
    r = (0xFFFF << 8) if i >= 255 else TABLE[i] * 256 + frac * (TABLE[i + 1] - TABLE[i])
    r = r - (1 << 23) + 128 if x >= 0 else -r + (1 << 23) + 127   # 1 << (9 - 2)
    return ((r >> 8) + 32768) % 65536 - 32768


def lstm_ref(xs, w_x, w_h, bias, input_zp, hidden_zp, mult_x, shift_x, mult_h, shift_h,
             forget_mul, input_mul, hidden_mul, cell_clip, clip_enabled, power, cell_sigmoid,
             hidden, cell, single_rounding=False):
    """Run the steps ``xs`` (T, n_in) from ``hidden``/``cell`` (lists of ints); return
    (outputs (T, units) int8 array, final hidden list, final cell list)."""
    w_x = np.asarray(w_x).tolist()
    w_h = np.asarray(w_h).tolist()
    bias = np.asarray(bias).tolist()
    h = [int(v) for v in hidden]
    c = [int(v) for v in cell]
    units = len(c)
    outs = []
    for xt in np.asarray(xs).tolist():
        gates = []
        for g in range(4):
            row = []
            for u in range(units):
                ax = wrap32(sum(w * (xv - input_zp) for w, xv in zip(w_x[g][u], xt)) + bias[g][u])
                ah = wrap32(sum(w * (hv - hidden_zp) for w, hv in zip(w_h[g][u], h)))
                ax = _sat(requant_ref(ax, int(mult_x[g]), int(shift_x[g]), single_rounding),
                          -32768, 32767)
                ah = _sat(requant_ref(ah, int(mult_h[g]), int(shift_h[g]), single_rounding),
                          -32768, 32767)
                pre = _sat(ax + ah, -32768, 32767)
                row.append(tanh_ref(pre, -12) if g == 2 and not cell_sigmoid else sigmoid_ref(pre))
            gates.append(row)
        i_g, f_g, c_g, o_g = gates
        for u in range(units):
            fc = _sat(requant_ref(f_g[u] * c[u], *forget_mul, single_rounding), -32768, 32767)
            ic = _sat(requant_ref(i_g[u] * c_g[u], *input_mul, single_rounding), -32768, 32767)
            v = _sat(fc + ic, -32768, 32767)
            c[u] = _sat(v, -cell_clip, cell_clip) if clip_enabled else v
        h = [_sat(requant_ref(tanh_ref(c[u], power) * o_g[u], *hidden_mul, single_rounding)
                  + hidden_zp, -128, 127) for u in range(units)]
        outs.append(list(h))
    return np.array(outs, dtype=np.int8).reshape(-1, units), h, c
