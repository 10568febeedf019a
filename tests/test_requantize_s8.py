"""CMSIS-NN s8 requantization and TFLM multiplier encoding against tests/naive/s8.py."""
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edgesed.errors import ConfigError
from kernels.requantize_s8 import (
    check_offsets_act,
    check_requant,
    conv_multipliers,
    divide_by_power_of_two,
    doubling_high_mult_no_sat,
    fully_connected_multiplier,
    mul_sat,
    output_stage,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one,
    requantize,
    requantize_mode,
    requantize_single,
)
from tests.naive.s8 import (
    I32_MAX,
    I32_MIN,
    out_stage_ref,
    rdpot,
    requant_ref,
    requant_single_exact,
    srdhm,
    wrap32,
)

i32 = st.one_of(st.integers(I32_MIN, I32_MAX),
                st.sampled_from([I32_MIN, I32_MIN + 1, -1, 0, 1, I32_MAX - 1, I32_MAX]),
                st.integers(-100_000, 100_000))
multipliers = st.one_of(st.integers(1 << 30, I32_MAX), st.integers(0, I32_MAX),
                        st.sampled_from([0, 1, 1 << 30, I32_MAX]))
shifts = st.integers(-31, 30)


def _single_defined(val, mult, shift):
    """TFLM's single-rounding DCHECK: the exactly rounded result fits int32."""
    total = 31 - shift
    r = (val * mult + (1 << (total - 1))) >> total
    return I32_MIN <= r <= I32_MAX and I32_MIN <= (val * mult) >> (total - 1) <= I32_MAX - 1


@given(a=i32, m=i32)
@example(a=I32_MIN, m=I32_MIN)
@example(a=-(1 << 30), m=1)
def test_mul_sat_is_gemmlowp_srdhm(a, m):
    assert mul_sat(a, m) == srdhm(a, m)


@given(a=i32, m=i32)
def test_doubling_high_mult_no_sat_equals_srdhm_except_int32_min_squared(a, m):
    got = doubling_high_mult_no_sat(a, m)
    if a == m == I32_MIN:
        assert got == I32_MIN          # wraps instead of saturating
    else:
        assert got == srdhm(a, m)


@given(x=i32, e=st.integers(0, 31))
@example(x=I32_MIN, e=31)
@example(x=-6, e=2)     # -1.5 -> -2 (ties away from zero)
@example(x=6, e=2)      # 1.5 -> 2
@example(x=-2, e=2)     # -0.5 -> -1
def test_divide_by_power_of_two_rounds_half_away_from_zero(x, e):
    assert divide_by_power_of_two(x, e) == rdpot(x, e)


def test_divide_by_power_of_two_hand_worked_ties():
    assert [divide_by_power_of_two(v, 1) for v in (-3, -1, 1, 3)] == [-2, -1, 1, 2]
    assert divide_by_power_of_two(I32_MAX, 31) == 1
    assert divide_by_power_of_two(I32_MIN, 31) == -1


@given(val=i32, mult=multipliers, shift=shifts)
@example(val=3, mult=1 << 30, shift=0)        # 1.5 -> 2
@example(val=-3, mult=1 << 30, shift=0)       # -1.5 -> -1 in dhm (half up), then exact
@example(val=-3, mult=1 << 30, shift=-1)      # -0.75 -> -1
@example(val=I32_MIN, mult=I32_MAX, shift=30)  # left shift wraps
def test_requantize_double_rounding_matches_tflm(val, mult, shift):
    assert requantize(val, mult, shift) == requant_ref(val, mult, shift)
    assert requantize_mode(val, mult, shift, 0) == requant_ref(val, mult, shift)


@given(val=i32, mult=multipliers, shift=shifts)
@example(val=1, mult=1 << 30, shift=0)        # 0.5 -> 1 (half up)
@example(val=-1, mult=1 << 30, shift=0)       # -0.5 -> 0 (half up)
def test_requantize_single_rounding_matches_cmsis_and_tflm_where_defined(val, mult, shift):
    got = requantize_single(val, mult, shift)
    assert got == requant_ref(val, mult, shift, True)
    assert requantize_mode(val, mult, shift, 1) == got
    if _single_defined(val, mult, shift):
        assert got == requant_single_exact(val, mult, shift)


def test_requantize_single_rounding_wraps_like_cmsis_outside_tflm_domain():
    # shift=30: r = int32(val*mult) truncated to 32 bits, then (r + 1) >> 1.
    val, mult = I32_MAX, I32_MAX
    r = wrap32(val * mult)
    assert requantize_single(val, mult, 30) == wrap32(r + 1) >> 1


def test_rounding_modes_differ_by_at_most_one():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        v = int(rng.integers(-(1 << 20), 1 << 20))
        m = int(rng.integers(1 << 30, I32_MAX))
        s = int(rng.integers(-20, 1))
        assert abs(requantize(v, m, s) - requantize_single(v, m, s)) <= 1


def test_rounding_modes_differ_on_a_known_double_rounding_case():
    # val=1, mult=2**30 (0.5), shift=-1: exact 0.25. Double: dhm = round(0.5) = 1, then
    # 1 / 2 = 0.5 -> 1 (away from zero). Single: round(0.25) = 0.
    assert requantize(1, 1 << 30, -1) == 1
    assert requantize_single(1, 1 << 30, -1) == 0


@given(acc=st.integers(-(1 << 40), 1 << 40), mult=multipliers, shift=st.integers(-31, 0),
       oo=st.integers(-128, 127), lo=st.integers(-128, 127), span=st.integers(0, 255),
       sr=st.booleans())
def test_output_stage_requantizes_offsets_and_clamps(acc, mult, shift, oo, lo, span, sr):
    hi = min(lo + span, 127)
    assert output_stage(acc, mult, shift, oo, lo, hi, int(sr)) == \
        out_stage_ref(acc, mult, shift, oo, lo, hi, sr)


# ---------------------------------------------------------------------- quantize_multiplier

@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.75, (3 << 29, 0)),
    (2.0 ** -31, (1 << 30, -30)),
    (2.0 ** -32, (1 << 30, -31)),
    (2.0 ** -33, (0, 0)),                   # shift < -31 flushes to zero
    (1.0 - 2.0 ** -40, (1 << 30, 1)),       # rounds to 2**31: halved, shift + 1
    (2.0 ** 40, (1 << 30, 41)),             # no saturation in the default build
    (-0.5, (-(1 << 30), 0)),
])
def test_quantize_multiplier_edge_cases(real, expected):
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_saturates_large_shifts_only_with_single_rounding():
    assert quantize_multiplier(2.0 ** 40, single_rounding=True) == (I32_MAX, 30)
    assert quantize_multiplier(2.0 ** 29, single_rounding=True) == (1 << 30, 30)


def test_quantize_multiplier_rounds_half_away_from_zero():
    # q * 2**31 = 2**30 + 0.5 exactly -> 2**30 + 1 (std::round), not banker's 2**30.
    real = (2.0 ** 30 + 0.5) / 2.0 ** 31
    assert quantize_multiplier(real) == ((1 << 30) + 1, 0)
    real = (2.0 ** 30 + 2.5) / 2.0 ** 31
    assert quantize_multiplier(real) == ((1 << 30) + 3, 0)


@given(real=st.floats(2.0 ** -31, 2.0 ** 29, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_represents_real_within_half_ulp(real):
    m, s = quantize_multiplier(real)
    assert (1 << 30) <= m <= I32_MAX and -31 <= s <= 30
    assert abs(m * 2.0 ** (s - 31) - real) <= 2.0 ** (s - 32) * (1 + 1e-12)


def test_quantize_multiplier_refuses_non_finite():
    with pytest.raises(ConfigError, match="finite"):
        quantize_multiplier(math.inf)


def test_quantize_multiplier_greater_and_smaller_than_one():
    assert quantize_multiplier_greater_than_one(3.0) == (3 << 29, 2)
    assert quantize_multiplier_smaller_than_one(0.25) == (1 << 30, -1)
    with pytest.raises(ConfigError):
        quantize_multiplier_greater_than_one(0.5)
    with pytest.raises(ConfigError):
        quantize_multiplier_smaller_than_one(1.5)


def test_conv_and_fc_multipliers_use_tflm_precision():
    s_in, s_w, s_out = 0.0235, np.float32(0.0031), 0.0517
    m, s = conv_multipliers(s_in, [s_w, 2 * s_w], s_out)
    real = float(np.float32(s_in)) * float(s_w) / float(np.float32(s_out))
    assert (m[0], s[0]) == quantize_multiplier(real)
    assert m.dtype == np.int32 and s.dtype == np.int32 and s[1] == s[0] + 1
    prod32 = float(np.float32(np.float32(s_in) * s_w))
    assert fully_connected_multiplier(s_in, s_w, s_out) == \
        quantize_multiplier(prod32 / float(np.float32(s_out)))


def test_wrapper_checks_name_the_bad_value():
    with pytest.raises(ConfigError, match="shift=31"):
        check_requant(1 << 30, 31, 1)
    with pytest.raises(ConfigError, match="multiplier=-1"):
        check_requant(-1, 0, 1)
    with pytest.raises(ConfigError, match="one per output channel"):
        check_requant([1, 2], [0, 0, 0], 3)
    with pytest.raises(ConfigError, match="input_offset=129"):
        check_offsets_act(129, 0, -128, 127)
    with pytest.raises(ConfigError, match="act_min=5, act_max=4"):
        check_offsets_act(0, 0, 5, 4)
    m, s = check_requant(1 << 30, -3, 4)
    assert m.shape == (4,) and m.dtype == np.int32 and list(s) == [-3] * 4
