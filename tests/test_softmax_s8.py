"""s8 / s8_s16 / s16 softmax against the naive references in tests/naive/softmax_s8.py, against
float softmax, and the parameter/LUT derivations against their definitions (the bits of the
params and LUTs are checked against tflite-micro in tests/test_oracle_softmax_elementwise.py)."""
import math

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesed.errors import ConfigError, ShapeError
from edgesed.testing import assert_bit_exact, int_arrays
from kernels.softmax_s8 import (
    Variant,
    exp_on_negative_values,
    one_over_one_plus_x_for_x_in_0_1,
    softmax_s8,
    softmax_s8_params,
    softmax_s8_s16,
    softmax_s16,
    softmax_s16_luts,
    softmax_s16_params,
)
from tests.naive.softmax_s8 import (
    exp_on_negative_values_ref,
    one_over_one_plus_x_ref,
    softmax_s8_ref,
    softmax_s16_ref,
)

betas = st.sampled_from([1.0, 0.5, 2.0, 0.1, 1.7])
shapes = st.tuples(st.integers(1, 3), st.integers(1, 40))
EXP_LUT, ONE_LUT = softmax_s16_luts()


@st.composite
def s8_cases(draw):
    x = draw(int_arrays(np.int8, shapes))
    beta = draw(betas)
    scale = draw(st.floats(1e-3, 1.0))
    return x, beta, scale


# ------------------------------------------------------------------------ gemmlowp primitives

@given(a=st.integers(-(1 << 31), 0))
def test_exp_on_negative_values_matches_gemmlowp_definition(a):
    assert int(exp_on_negative_values(a)) == exp_on_negative_values_ref(a)


@given(a=st.integers(-(1 << 31), 0))
def test_exp_on_negative_values_is_close_to_exp(a):
    got = int(exp_on_negative_values(a)) / 2**31
    assert abs(got - math.exp(a / 2**26)) < 1e-6   # gemmlowp: about 2.3e-7 near 0


@given(a=st.integers(0, (1 << 31) - 1))
def test_one_over_one_plus_x_matches_definition_and_math(a):
    got = int(one_over_one_plus_x_for_x_in_0_1(a))
    assert got == one_over_one_plus_x_ref(a)
    assert abs(got / 2**31 - 1 / (1 + a / 2**31)) < 1e-8


# --------------------------------------------------------------------------------- s8 in

@given(case=s8_cases())
def test_softmax_s8_matches_naive(case):
    x, beta, scale = case
    m, s, dmin = softmax_s8_params(beta, scale)
    got = softmax_s8(x, mult=m, shift=s, diff_min=dmin)
    event(f"some d < diff_min: {bool(np.any(x.astype(int) - x.max(axis=1, keepdims=True) < dmin))}")
    assert_bit_exact(got, np.array(softmax_s8_ref(x, m, s, dmin), dtype=np.int8))


@given(case=s8_cases())
def test_softmax_s8_s16_matches_naive(case):
    x, beta, scale = case
    m, s, dmin = softmax_s8_params(beta, scale)
    got = softmax_s8_s16(x, mult=m, shift=s, diff_min=dmin)
    assert_bit_exact(got, np.array(softmax_s8_ref(x, m, s, dmin, out_bits=16), dtype=np.int16))


@given(x=int_arrays(np.int8, st.tuples(st.integers(5, 12), st.integers(52, 90))), beta=betas,
       scale=st.floats(1e-3, 1.0))
def test_softmax_s8_exp_table_path_matches_naive_and_row_by_row(x, beta, scale):
    """More than 256 elements: the body fills its 256-entry exp table first; same bits as the
    naive formula and as the per-element path taken for each row alone."""
    m, s, dmin = softmax_s8_params(beta, scale)
    got = softmax_s8(x, mult=m, shift=s, diff_min=dmin)
    assert x.size > 256
    assert_bit_exact(got, np.array(softmax_s8_ref(x, m, s, dmin), dtype=np.int8))
    rows = np.concatenate([softmax_s8(x[r:r + 1], mult=m, shift=s, diff_min=dmin)
                           for r in range(x.shape[0])])
    assert_bit_exact(got, rows)
    got16 = softmax_s8_s16(x, mult=m, shift=s, diff_min=dmin, scratch=np.zeros(256, np.int32))
    assert_bit_exact(got16, np.array(softmax_s8_ref(x, m, s, dmin, out_bits=16), np.int16))


@given(case=s8_cases())
def test_softmax_s8_is_close_to_float_softmax(case):
    x, beta, scale = case
    m, s, dmin = softmax_s8_params(beta, scale)
    got = (softmax_s8(x, mult=m, shift=s, diff_min=dmin).astype(float) + 128) / 256
    z = np.float64(np.float32(beta)) * np.float64(np.float32(scale)) * x.astype(float)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert np.abs(got - p).max() <= 1.5 / 256


@given(beta=betas, scale=st.floats(1e-4, 4.0))
def test_softmax_s8_params_follow_tflm_definitions(beta, scale):
    m, s, dmin = softmax_s8_params(beta, scale)
    real = min(float(np.float32(beta)) * float(np.float32(scale)) * 2**26, 2**31 - 1)
    assert 1 << 30 <= m < 1 << 31 and 0 <= s <= 31
    assert abs(m * 2.0 ** (s - 31) / real - 1) < 2**-30
    # diff_min is the most negative difference whose rescaled value still fits Q5.26 (31 * 2**26)
    assert -dmin * 2**s <= 31 * 2**26 < (-dmin + 1) * 2**s


def test_softmax_s8_in_place_and_1d():
    x = np.array([5, -3, 100, 7], dtype=np.int8)
    m, s, dmin = softmax_s8_params(1.0, 0.05)
    want = softmax_s8(x, mult=m, shift=s, diff_min=dmin)
    assert want.shape == (4,)
    y = x.copy()
    softmax_s8(y, mult=m, shift=s, diff_min=dmin, out=y)
    assert_bit_exact(y, want)


def test_softmax_s8_one_element_row_is_certain():
    m, s, dmin = softmax_s8_params(1.0, 0.1)
    assert softmax_s8(np.array([[-128]], np.int8), mult=m, shift=s, diff_min=dmin)[0, 0] == 127


def test_softmax_s8_refuses_bad_arguments():
    m, s, dmin = softmax_s8_params(1.0, 0.1)
    with pytest.raises(ShapeError, match="dtype"):
        softmax_s8(np.zeros((2, 3), np.int16), mult=m, shift=s, diff_min=dmin)
    with pytest.raises(ConfigError, match="shift"):
        softmax_s8(np.zeros((2, 3), np.int8), mult=m, shift=40, diff_min=dmin)
    with pytest.raises(ShapeError, match="out.shape"):
        softmax_s8(np.zeros((2, 3), np.int8), mult=m, shift=s, diff_min=dmin,
                   out=np.zeros((3, 2), np.int8))
    with pytest.raises(ConfigError, match="> 1"):
        softmax_s8_params(1.0, 1e-9)


# -------------------------------------------------------------------------------- s16 in

@st.composite
def s16_cases(draw):
    x = draw(int_arrays(np.int16, shapes))
    beta = draw(betas)
    scale = draw(st.floats(1e-5, 3e-3))
    return x, beta, scale


@pytest.mark.parametrize("variant", list(Variant))
@given(case=s16_cases(), single_rounding=st.booleans())
def test_softmax_s16_matches_naive(variant, case, single_rounding):
    x, beta, scale = case
    m, s = softmax_s16_params(beta, scale)
    got = softmax_s16(x, mult=m, shift=s, exp_lut=EXP_LUT, one_by_one_lut=ONE_LUT,
                      variant=variant, single_rounding=single_rounding)
    want = softmax_s16_ref(x, m, s, EXP_LUT, ONE_LUT, tflm=variant == Variant.TFLM,
                           single_rounding=single_rounding)
    assert_bit_exact(got, np.array(want, dtype=np.int16))


@given(case=s16_cases())
def test_softmax_s16_tflm_is_close_to_float_softmax(case):
    x, beta, scale = case
    m, s = softmax_s16_params(beta, scale)
    got = softmax_s16(x, mult=m, shift=s, exp_lut=EXP_LUT, one_by_one_lut=ONE_LUT,
                      variant=Variant.TFLM).astype(float) / 32768
    z = float(np.float32(beta)) * float(np.float32(scale)) * x.astype(float)
    p = np.exp(np.maximum(z - z.max(axis=1, keepdims=True), -10.0))  # the LUT stops at -10
    p = np.where(z - z.max(axis=1, keepdims=True) < -10, 0.0, p)
    p /= p.sum(axis=1, keepdims=True)
    assert np.abs(got - p).max() <= 3e-3


def test_softmax_s16_variants_differ_only_where_cmsis_overflows():
    m, s = softmax_s16_params(1.0, 1.0 / 2048)
    kw = dict(mult=m, shift=s, exp_lut=EXP_LUT, one_by_one_lut=ONE_LUT)
    one = np.array([[123]], np.int16)
    # a lone element: p = 1; TFLM clamps 32768 to 32767, arm_softmax_s16's int16 cast wraps it
    assert softmax_s16(one, variant=Variant.TFLM, **kw)[0, 0] == 32767
    assert softmax_s16(one, variant=Variant.CMSIS_NN, **kw)[0, 0] == -32768
    spread = np.array([[0, -2000, -4000, -6000, -8000]], np.int16)
    assert_bit_exact(softmax_s16(spread, variant=Variant.CMSIS_NN, **kw),
                     softmax_s16(spread, variant=Variant.TFLM, **kw))


def test_softmax_s16_luts_approximate_their_functions():
    grid = np.arange(513)
    exp_want = np.exp(-10.0 + grid * 10.0 / 512) * 32768
    one_want = 1 / (1 + grid / 512) * 32768
    assert EXP_LUT.shape == ONE_LUT.shape == (513,) and EXP_LUT.dtype == np.int16
    assert np.abs(EXP_LUT - np.minimum(exp_want, 32767)).max() <= 2
    assert np.abs(ONE_LUT - np.minimum(one_want, 32767)).max() <= 2
    assert np.all(np.diff(EXP_LUT.astype(int)) >= 0) and np.all(np.diff(ONE_LUT.astype(int)) <= 0)


def test_softmax_s16_refuses_aliasing_and_bad_luts():
    m, s = softmax_s16_params(1.0, 1e-3)
    x = np.zeros((1, 4), np.int16)
    with pytest.raises(ShapeError, match="alias"):
        softmax_s16(x, mult=m, shift=s, exp_lut=EXP_LUT, one_by_one_lut=ONE_LUT, out=x)
    with pytest.raises(ShapeError, match="exp_lut"):
        softmax_s16(x, mult=m, shift=s, exp_lut=EXP_LUT[:512].copy(), one_by_one_lut=ONE_LUT)
    with pytest.raises(ConfigError, match="variant"):
        softmax_s16(x, mult=m, shift=s, exp_lut=EXP_LUT, one_by_one_lut=ONE_LUT, variant=7)


@given(x=hnp.arrays(np.int16, st.integers(1, 20), elements=st.integers(-32768, 32767)))
def test_softmax_s16_rows_sum_to_about_one(x):
    m, s = softmax_s16_params(1.0, 1e-3)
    y = softmax_s16(x, mult=m, shift=s, exp_lut=EXP_LUT, one_by_one_lut=ONE_LUT,
                    variant=Variant.TFLM)
    assert abs(int(y.astype(int).sum()) - 32768) <= 4 + x.size
