"""Oracle: single-op int8 UNIDIRECTIONAL_SEQUENCE_LSTM models built with edgesed's ``.tflite``
builder, run for several invokes in the tflite-micro interpreter (hidden and cell state live in
TFLM variable tensors and carry over between invokes), compared bit for bit with
:func:`kernels.lstm_s8.lstm_s8` carrying its state across calls.

Cases: ``ORACLE_EXAMPLES`` models (40 by default), each invoked 2-4 times.
"""
import os

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from edgesed.testing import assert_bit_exact, int_arrays
from kernels.lstm_s8 import lstm_s8, lstm_s8_initial_state, lstm_s8_params

pytest.importorskip("tflite_micro")
from edgesed.tflite.builder import ModelBuilder  # noqa: E402
from edgesed.tflite.oracle import run_tflm  # noqa: E402

pytestmark = pytest.mark.oracle
# EDGESED_ORACLE_EXAMPLES overrides (e.g. 500 for a soak); default min(40, the profile's)
ORACLE_EXAMPLES = int(os.environ.get("EDGESED_ORACLE_EXAMPLES",
                                     min(40, settings.default.max_examples)))


def lstm_model(kw, steps, time_major=False) -> bytes:
    """One UNIDIRECTIONAL_SEQUENCE_LSTM (24 inputs, no peephole/projection/layer norm), batch 1,
    int8 input/output/hidden state, int16 cell state, int8 weights, int32 biases."""
    w_x, w_h, bias = kw["w_x"], kw["w_h"], kw["bias"]
    units, n_in = w_x.shape[1], w_x.shape[2]
    b = ModelBuilder()
    in_shape = (steps, 1, n_in) if time_major else (1, steps, n_in)
    x = b.tensor(in_shape, "int8", scale=kw["input_scale"], zero_point=kw["input_zp"], name="x")
    ids = [x]
    ids += [b.const(w_x[g], scale=kw["w_x_scales"][g], zero_point=0, name=f"wx{g}")
            for g in range(4)]
    ids += [b.const(w_h[g], scale=kw["w_h_scales"][g], zero_point=0, name=f"wh{g}")
            for g in range(4)]
    ids += [-1, -1, -1]                                   # no peephole
    ids += [b.const(bias[g], scale=kw["input_scale"] * kw["w_x_scales"][g], zero_point=0,
                    name=f"b{g}") for g in range(4)]
    ids += [-1, -1]                                       # no projection
    h = b.tensor((1, units), "int8", scale=kw["hidden_scale"], zero_point=kw["hidden_zp"],
                 name="h", variable=True)
    c = b.tensor((1, units), "int16", scale=kw["cell_scale"], zero_point=0, name="c",
                 variable=True)
    ids += [h, c, -1, -1, -1, -1]                         # no layer norm
    out_shape = (steps, 1, units) if time_major else (1, steps, units)
    y = b.tensor(out_shape, "int8", scale=kw["hidden_scale"], zero_point=kw["hidden_zp"],
                 name="y")
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ids, [y],
         fused_activation_function=kw["cell_activation"], cell_clip=kw["cell_clip"],
         time_major=time_major)
    b.set_io([x], [y])
    return b.finish()


@st.composite
def lstm_cases(draw):
    units = draw(st.integers(1, 8))
    n_in = draw(st.integers(1, 8))
    kw = dict(
        input_scale=draw(st.floats(0.005, 0.2)), input_zp=draw(st.integers(-128, 127)),
        w_x=draw(int_arrays(np.int8, (4, units, n_in))),
        w_x_scales=draw(st.lists(st.floats(1e-3, 0.05), min_size=4, max_size=4)),
        w_h=draw(int_arrays(np.int8, (4, units, units))),
        w_h_scales=draw(st.lists(st.floats(1e-3, 0.05), min_size=4, max_size=4)),
        bias=draw(int_arrays(np.int32, (4, units), edges=False).map(lambda v: v // 4096)),
        hidden_scale=draw(st.floats(2e-3, 0.05)), hidden_zp=draw(st.integers(-128, 127)),
        cell_scale=2.0 ** draw(st.integers(-15, -8)),
        cell_clip=draw(st.sampled_from([0.0, 0.5, 3.0, 8.0])),
        cell_activation="TANH")   # the schema's ActivationFunctionType has no SIGMOID
    steps = draw(st.integers(1, 4))
    invokes = draw(st.integers(2, 4))
    xs = [draw(int_arrays(np.int8, (steps, n_in))) for _ in range(invokes)]
    return kw, xs, draw(st.booleans())


@settings(max_examples=ORACLE_EXAMPLES)
@given(case=lstm_cases())
def test_oracle_lstm_int8_matches_tflm_across_invokes(case):
    kw, xs, time_major = case
    steps, n_in = xs[0].shape
    shape = (steps, 1, n_in) if time_major else (1, steps, n_in)
    want = run_tflm(lstm_model(kw, steps, time_major), [[x.reshape(shape) for x in xs]],
                    invokes=len(xs))
    p = lstm_s8_params(**kw)
    h, c = lstm_s8_initial_state(p)
    event(f"invokes={len(xs)}; time_major={time_major}; clip={kw['cell_clip'] > 0}")
    for k, x in enumerate(xs):
        got = lstm_s8(x, p, h, c)
        assert_bit_exact(got, want[k][0].reshape(steps, -1))


def test_oracle_lstm_state_really_carries_between_invokes():
    """The same input twice gives different outputs in TFLM and in edgesed, identically."""
    rng = np.random.default_rng(5)
    units, n_in, steps = 6, 5, 3
    kw = dict(input_scale=0.05, input_zp=-7,
              w_x=rng.integers(-127, 128, (4, units, n_in)).astype(np.int8),
              w_x_scales=[0.01, 0.02, 0.015, 0.01],
              w_h=rng.integers(-127, 128, (4, units, units)).astype(np.int8),
              w_h_scales=[0.01, 0.012, 0.02, 0.01],
              bias=rng.integers(-2000, 2000, (4, units)).astype(np.int32),
              hidden_scale=1 / 128, hidden_zp=2, cell_scale=2.0 ** -11, cell_clip=0.0,
              cell_activation="TANH")
    x = rng.integers(-128, 128, (steps, n_in)).astype(np.int8)
    want = run_tflm(lstm_model(kw, steps), [[x.reshape(1, steps, n_in)] * 3], invokes=3)
    p = lstm_s8_params(**kw)
    h, c = lstm_s8_initial_state(p)
    outs = [lstm_s8(x, p, h, c) for _ in range(3)]
    assert not np.array_equal(outs[0], outs[1])
    for k in range(3):
        assert_bit_exact(outs[k], want[k][0].reshape(steps, units))
