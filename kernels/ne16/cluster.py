"""The GAP9 cluster-core kernels beside NE16: u8/int8 max pooling, global max, a GRU sequence.

NE16 runs only convolutions; the Dilated CRNN's pooling and its GRU run on the cluster's RISC-V
cores. These bodies are their bit-exact twins:

- :func:`_maxpool_hwc` — PULP-NN ``pulp_nn_maxpool_u8`` / ``_i8`` (window = stride, no padding);
- :func:`_global_max` — a max over every position (the time-max of the logits);
- :func:`_gru_sequence` — nnom ``rnn_run`` over T steps of ``gru_cell_run`` (q7 weights, q15
  state, LOCAL backend), fed NE16's u8 output shifted right into q7.

Max pooling is exact in any integer type; the GRU's arithmetic is :mod:`kernels.gru_q7`'s.
"""
import numba as nb
import numpy as np

from kernels.gru_q7 import _gru_cell_q7

__all__ = []


@nb.njit(cache=True)
def _maxpool_hwc(x, y, ph, pw):
    """PULP-NN ``pulp_nn_maxpool_u8`` / ``_i8`` (window = stride, no padding): ``x`` (H, W, C),
    ``y`` (H // ph, W // pw, C), both uint8 or both int8."""
    ho, wo, c = y.shape
    for oy in range(ho):
        for ox in range(wo):
            for k in range(c):
                m = x[oy * ph, ox * pw, k]
                for dy in range(ph):
                    for dx in range(pw):
                        v = x[oy * ph + dy, ox * pw + dx, k]
                        if v > m:
                            m = v
                y[oy, ox, k] = m


@nb.njit(cache=True)
def _global_max(x, y):
    """Max over every position of ``x`` (H, W, C) into ``y`` (C,), same byte dtype."""
    h, w, c = x.shape
    for k in range(c):
        m = x[0, 0, k]
        for i in range(h):
            for j in range(w):
                if x[i, j, k] > m:
                    m = x[i, j, k]
        y[k] = m


@nb.njit(cache=True)
def _gru_sequence(x, input_shift, vec, weights, recurrent_weights, bias, recurrent_bias, state,
                  out, buf, bias_shift, oshift_iw, oshift_hw, act_int_width, rounding):
    """nnom ``rnn_run`` over the T rows of ``x`` (T, F) (uint8 or int8): per step the q7 input
    ``vec[j] = x[t, j] >> input_shift`` (arithmetic), then ``gru_cell_run`` (LOCAL backend)
    updating the int16 ``state`` and writing ``out[t]`` (int8)."""
    t_steps, f = x.shape
    for t in range(t_steps):
        for j in range(f):
            vec[j] = np.int8(np.int64(x[t, j]) >> input_shift)
        _gru_cell_q7(vec, weights, recurrent_weights, bias, recurrent_bias, state, out[t], buf,
                     bias_shift, oshift_iw, oshift_hw, act_int_width, 0, rounding)


def _warmup() -> None:
    """Compile (or load from cache) the cluster bodies on tiny inputs (u8 and int8 views)."""
    for dt in (np.uint8, np.int8):
        x = np.arange(16, dtype=np.int64).astype(dt).reshape(2, 4, 2)
        _maxpool_hwc(x, np.zeros((1, 2, 2), dt), 2, 2)
        _global_max(x, np.zeros(2, dt))
        _gru_sequence(x.reshape(4, 4), 1, np.zeros(4, np.int8), np.ones(24, np.int8),
                      np.ones(12, np.int8), np.ones(6, np.int8), np.ones(6, np.int8),
                      np.zeros(2, np.int16), np.zeros((4, 2), np.int8),
                      np.zeros(22, np.int16), 0, 7, 7, 3, 0)
