"""Oracle: single-op SOFTMAX / ADD / MUL models built with edgesed's ``.tflite`` builder, run in the
tflite-micro interpreter (TFLM reference kernels), compared bit for bit with ``kernels``.

Each hypothesis example builds one model (drawn shape, scales, zero points, beta, fused
activation), runs it in TFLM and in edgesed; the number of cases per op is ``ORACLE_EXAMPLES``
(60 by default; ``pytest --hypothesis-show-statistics`` prints the exact counts).
"""
import os

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from edgesed.testing import assert_bit_exact, int_arrays
from kernels.elementwise_s8 import (
    add_s8_params,
    elementwise_add_s8,
    elementwise_mul_s8,
    mul_s8_params,
)
from kernels.softmax_s8 import (
    Variant,
    softmax_s8,
    softmax_s8_params,
    softmax_s8_s16,
    softmax_s16,
    softmax_s16_luts,
    softmax_s16_params,
)
from tests.naive.s8 import requant_ref
from tests.naive.softmax_s8 import lut_lookup_ref

pytest.importorskip("tflite_micro")
from edgesed.tflite.builder import ModelBuilder  # noqa: E402
from edgesed.tflite.oracle import run_tflm  # noqa: E402

pytestmark = pytest.mark.oracle
# EDGESED_ORACLE_EXAMPLES overrides (e.g. 500 for a soak); default min(60, the profile's)
ORACLE_EXAMPLES = int(os.environ.get("EDGESED_ORACLE_EXAMPLES",
                                     min(60, settings.default.max_examples)))
oracle_settings = settings(max_examples=ORACLE_EXAMPLES)

shapes = st.lists(st.integers(1, 9), min_size=1, max_size=3).map(lambda s: (1, *s))
betas = st.sampled_from([1.0, 0.5, 2.0, 0.1, 1.3])
acts = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


def _softmax_model(shape, in_dtype, out_dtype, in_scale, in_zp, beta):
    b = ModelBuilder()
    x = b.tensor(shape, in_dtype, scale=in_scale, zero_point=in_zp, name="x")
    if out_dtype == "int8":
        y = b.tensor(shape, "int8", scale=1 / 256, zero_point=-128, name="y")
    elif in_dtype == "int8":
        y = b.tensor(shape, "int16", scale=1 / 65536, zero_point=-32768, name="y")
    else:
        y = b.tensor(shape, "int16", scale=1 / 32768, zero_point=0, name="y")
    b.op("SOFTMAX", [x], [y], beta=beta)
    b.set_io([x], [y])
    return b.finish()


def _binary_model(op, shape_a, shape_b, q, act):
    sa, za, sb, zb, so, zo = q
    b = ModelBuilder()
    a = b.tensor(shape_a, "int8", scale=sa, zero_point=za, name="a")
    c = b.tensor(shape_b, "int8", scale=sb, zero_point=zb, name="b")
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    y = b.tensor(out_shape, "int8", scale=so, zero_point=zo, name="y")
    b.op(op, [a, c], [y], fused_activation_function=act)
    b.set_io([a, c], [y])
    return b.finish()


# --------------------------------------------------------------------------------- SOFTMAX

@pytest.mark.parametrize("out16", [False, True], ids=["int8_out", "int16_out"])
@oracle_settings
@given(data=st.data(), beta=betas, scale=st.floats(2e-3, 0.5), zp=st.integers(-128, 127))
def test_oracle_softmax_int8_matches_tflm(out16, data, beta, scale, zp):
    shape = data.draw(shapes)
    x = data.draw(int_arrays(np.int8, shape))
    model = _softmax_model(shape, "int8", "int16" if out16 else "int8", scale, zp, beta)
    (want,) = run_tflm(model, [x])
    m, s, dmin = softmax_s8_params(beta, scale)
    rows = x.reshape(-1, shape[-1])
    got = (softmax_s8_s16 if out16 else softmax_s8)(rows, mult=m, shift=s, diff_min=dmin)
    below = np.any(rows.astype(int) - rows.max(1, keepdims=True) < dmin)
    event(f"some d < diff_min: {bool(below)}")
    assert_bit_exact(got.reshape(shape), want.reshape(shape))


def _cmsis_overflows(row, m, s, exp_lut):
    """True if arm_softmax_s16 overflows on this row: TFLM clamps an output of 32768, or the int32
    sum ``(sum << (h-1)) + 2**13`` wraps."""
    mx = max(int(v) for v in row)
    exps = [lut_lookup_ref(exp_lut, max(-32768, min(32767, requant_ref(int(v) - mx, m, s) + 32767)))
            for v in row]
    total = sum(exps)
    h = 32 - total.bit_length()
    return (total << (h - 1)) + (1 << 13) >= 1 << 31


@oracle_settings
@given(data=st.data(), beta=betas, scale=st.floats(1e-5, 3e-3))
def test_oracle_softmax_int16_matches_tflm(data, beta, scale):
    shape = data.draw(shapes)
    x = data.draw(int_arrays(np.int16, shape))
    (want,) = run_tflm(_softmax_model(shape, "int16", "int16", scale, 0, beta), [x])
    m, s = softmax_s16_params(beta, scale)
    el, ol = softmax_s16_luts()
    rows = x.reshape(-1, shape[-1])
    want = want.reshape(rows.shape)
    got = softmax_s16(rows, mult=m, shift=s, exp_lut=el, one_by_one_lut=ol, variant=Variant.TFLM)
    assert_bit_exact(got, want)
    # arm_softmax_s16 gives the same bits except on rows where its int32/int16 arithmetic wraps
    cmsis = softmax_s16(rows, mult=m, shift=s, exp_lut=el, one_by_one_lut=ol)
    for r in range(rows.shape[0]):
        if not np.array_equal(cmsis[r], want[r]):
            event("CMSIS-NN s16 row differs (overflow case)")
            assert want[r].max() == 32767 or _cmsis_overflows(rows[r], m, s, el)


# ------------------------------------------------------------------------------ ADD / MUL

@st.composite
def binary_cases(draw, broadcast=False):
    shape = draw(shapes)
    if broadcast:
        shape_b = tuple(1 if draw(st.booleans()) else d for d in shape)
    else:
        shape_b = shape
    q = (draw(st.floats(1e-3, 0.3)), draw(st.integers(-128, 127)),
         draw(st.floats(1e-3, 0.3)), draw(st.integers(-128, 127)),
         draw(st.floats(1e-3, 0.3)), draw(st.integers(-128, 127)))
    return draw(int_arrays(np.int8, shape)), draw(int_arrays(np.int8, shape_b)), q, draw(acts)


@oracle_settings
@given(case=binary_cases())
def test_oracle_add_int8_matches_tflm(case):
    a, b, q, act = case
    (want,) = run_tflm(_binary_model("ADD", a.shape, b.shape, q, act), [a, b])
    got = elementwise_add_s8(a, b, **add_s8_params(*q, activation=act)._asdict())
    event(f"activation {act}")
    assert_bit_exact(got, want.reshape(got.shape))


@oracle_settings
@given(case=binary_cases())
def test_oracle_mul_int8_matches_tflm(case):
    a, b, q, act = case
    (want,) = run_tflm(_binary_model("MUL", a.shape, b.shape, q, act), [a, b])
    got = elementwise_mul_s8(a, b, **mul_s8_params(*q, activation=act)._asdict())
    event(f"activation {act}")
    assert_bit_exact(got, want.reshape(got.shape))


@settings(max_examples=max(10, ORACLE_EXAMPLES // 3))
@given(case=binary_cases(broadcast=True), op=st.sampled_from(["ADD", "MUL"]))
def test_oracle_broadcast_add_mul_equal_kernels_on_broadcast_copies(case, op):
    a, b, q, act = case
    (want,) = run_tflm(_binary_model(op, a.shape, b.shape, q, act), [a, b])
    bb = np.ascontiguousarray(np.broadcast_to(b, a.shape))
    if op == "ADD":
        got = elementwise_add_s8(a, bb, **add_s8_params(*q, activation=act)._asdict())
    else:
        got = elementwise_mul_s8(a, bb, **mul_s8_params(*q, activation=act)._asdict())
    event(f"broadcast: {b.shape != a.shape}")
    assert_bit_exact(got, want.reshape(got.shape))
