"""int8 elementwise ADD / MUL against the naive references in tests/naive/elementwise_s8.py and
against float arithmetic (parameter bits are checked against tflite-micro in
tests/test_oracle_softmax_elementwise.py)."""
import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from edgesed.errors import ConfigError, ShapeError
from edgesed.testing import assert_bit_exact, int_arrays
from kernels.elementwise_s8 import (
    activation_range_s8,
    add_s8_params,
    elementwise_add_s8,
    elementwise_mul_s8,
    mul_s8_params,
)
from tests.naive.elementwise_s8 import add_ref, mul_ref

shapes = st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple)
scales = st.floats(1e-3, 0.5)
zps = st.integers(-128, 127)
acts = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


@st.composite
def operands(draw):
    shape = draw(shapes)
    return draw(int_arrays(np.int8, shape)), draw(int_arrays(np.int8, shape))


@st.composite
def quant(draw):
    return (draw(scales), draw(zps), draw(scales), draw(zps), draw(scales), draw(zps),
            draw(acts))


@given(ab=operands(), q=quant(), single_rounding=st.booleans())
def test_elementwise_add_s8_matches_naive(ab, q, single_rounding):
    a, b = ab
    sa, za, sb, zb, so, zo, act = q
    p = add_s8_params(sa, za, sb, zb, so, zo, act)
    got = elementwise_add_s8(a, b, single_rounding=single_rounding, **p._asdict())
    event(f"clamped: {bool(np.any((got == p.act_min) | (got == p.act_max)))}")
    assert_bit_exact(got, add_ref(a, b, *p, single_rounding=single_rounding))


@given(ab=operands(), q=quant(), single_rounding=st.booleans())
def test_elementwise_mul_s8_matches_naive(ab, q, single_rounding):
    a, b = ab
    sa, za, sb, zb, so, zo, act = q
    p = mul_s8_params(sa, za, sb, zb, so, zo, act)
    got = elementwise_mul_s8(a, b, single_rounding=single_rounding, **p._asdict())
    assert_bit_exact(got, mul_ref(a, b, *p, single_rounding=single_rounding))


@given(ab=operands(), q=quant())
def test_elementwise_add_s8_is_within_one_lsb_of_float(ab, q):
    a, b = ab
    sa, za, sb, zb, so, zo, _ = q
    got = elementwise_add_s8(a, b, **add_s8_params(sa, za, sb, zb, so, zo)._asdict())
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    real = f32(sa) * (a.astype(float) - za) + f32(sb) * (b.astype(float) - zb)
    want = np.clip(real / f32(so) + zo, -128, 127)
    assert np.abs(got - want).max() <= 1.0


@given(ab=operands(), q=quant())
def test_elementwise_mul_s8_is_within_one_lsb_of_float(ab, q):
    a, b = ab
    sa, za, sb, zb, so, zo, _ = q
    p = mul_s8_params(sa, za, sb, zb, so, zo)
    assume(p.out_shift <= 30)
    got = elementwise_mul_s8(a, b, **p._asdict())
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    real = f32(sa) * (a.astype(float) - za) * f32(sb) * (b.astype(float) - zb)
    want = np.clip(real / f32(so) + zo, -128, 127)
    # Double rounding (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT) can turn an
    # exact 0.25 into 1 (0.5 rounds up, then 0.5 rounds away from zero), as TFLM does too: the
    # error stays below one LSB, not half.
    assert np.abs(got - want).max() < 1.0


@given(ab=operands(), q=quant())
def test_elementwise_add_and_mul_s8_work_in_place(ab, q):
    a, b = ab
    sa, za, sb, zb, so, zo, act = q
    pa = add_s8_params(sa, za, sb, zb, so, zo, act)
    want = elementwise_add_s8(a, b, **pa._asdict())
    y = a.copy()
    elementwise_add_s8(y, b, out=y, **pa._asdict())
    assert_bit_exact(y, want)
    pm = mul_s8_params(sa, za, sb, zb, so, zo, act)
    want = elementwise_mul_s8(a, b, **pm._asdict())
    y = b.copy()
    elementwise_mul_s8(a, y, out=y, **pm._asdict())
    assert_bit_exact(y, want)


def test_add_s8_params_follow_tflm_prepare():
    p = add_s8_params(0.1, 3, 0.05, -2, 0.2, 1)
    assert p.left_shift == 20 and p.a_offset == -3 and p.b_offset == 2 and p.out_offset == 1
    # the larger input scale maps to 1/2 exactly, the other to (0.05/0.1)/2 = 1/4
    assert (p.a_mult, p.a_shift) == (1 << 30, 0) and (p.b_mult, p.b_shift) == (1 << 30, -1)
    real = 0.2 / (2**20 * 0.2)   # twice_max / (2**20 * out_scale), with float32 scales
    assert abs(p.out_mult * 2.0 ** (p.out_shift - 31) / real - 1) < 1e-6


def test_activation_range_s8_quantizes_the_clamp_points():
    assert activation_range_s8("NONE", 0.1, 5) == (-128, 127)
    assert activation_range_s8("RELU", 0.1, 5) == (5, 127)
    assert activation_range_s8("RELU6", 0.1, -100) == (-100, -40)
    assert activation_range_s8("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    assert activation_range_s8("RELU6", 0.01, 0) == (0, 127)
    with pytest.raises(ConfigError, match="TANH"):
        activation_range_s8("TANH", 0.1, 0)


def test_elementwise_s8_refuses_broadcasting_and_bad_parameters():
    a = np.zeros((2, 3), np.int8)
    p = add_s8_params(0.1, 0, 0.1, 0, 0.1, 0)
    with pytest.raises(ShapeError, match="broadcast_to"):
        elementwise_add_s8(a, np.zeros((3,), np.int8), **p._asdict())
    with pytest.raises(ShapeError, match="broadcast_to"):
        elementwise_mul_s8(a, np.zeros((1, 3), np.int8),
                           **mul_s8_params(0.1, 0, 0.1, 0, 0.1, 0)._asdict())
    bad = p._replace(a_offset=200)
    with pytest.raises(ConfigError, match="a_offset"):
        elementwise_add_s8(a, a, **bad._asdict())
    with pytest.raises(ConfigError, match="act_min"):
        elementwise_add_s8(a, a, **p._replace(act_min=10, act_max=0)._asdict())
    with pytest.raises(ConfigError, match="out_scale"):
        add_s8_params(0.5, 0, 0.5, 0, 1e-9, 0)


def test_broadcast_by_copy_gives_the_per_element_formula():
    a = np.arange(-6, 6, dtype=np.int8).reshape(2, 6)
    b = np.array([3, -7, 11, 0, 1, -128], np.int8)
    p = mul_s8_params(0.05, 1, 0.02, -3, 0.01, 4)
    got = elementwise_mul_s8(a, np.ascontiguousarray(np.broadcast_to(b, a.shape)), **p._asdict())
    assert_bit_exact(got, mul_ref(a, np.broadcast_to(b, a.shape), *p))
