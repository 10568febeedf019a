"""CMSIS-NN arm_fully_connected_s8 / _per_channel_s8 twin against tests/naive/s8.py."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.errors import ConfigError, ShapeError
from edgesed.testing import assert_bit_exact, q7_arrays
from kernels.fully_connected_s8 import (
    fully_connected_per_channel_s8,
    fully_connected_s8,
    fully_connected_s8_buffer_size,
)
from tests.naive.s8 import I32_MAX, I32_MIN, fc_ref
from tests.test_convolve_s8 import act_ranges, biases, input_offsets, mults, output_offsets, \
    requant_arrays, shifts


@st.composite
def fc_cases(draw):
    n = draw(st.integers(1, 40))
    cout = draw(st.integers(1, 13))
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    xshape = (n,) if batch is None else (batch, n)
    return draw(q7_arrays(xshape)), draw(q7_arrays((cout, n))), cout


@given(case=fc_cases(), data=st.data(), io=input_offsets,
       fo=st.one_of(st.just(0), st.integers(-127, 128)), oo=output_offsets, act=act_ranges(),
       sr=st.booleans(), per_channel=st.booleans())
def test_fully_connected_s8_matches_naive_reference(case, data, io, fo, oo, act, sr,
                                                     per_channel):
    x, w, cout = case
    if per_channel:
        m, s = data.draw(requant_arrays(cout))
    else:
        m, s = data.draw(mults), data.draw(shifts)
    b = data.draw(biases(cout))
    got = fully_connected_s8(x, w, b, input_offset=io, filter_offset=fo, output_offset=oo,
                             multiplier=m, shift=s, act_min=act[0], act_max=act[1],
                             single_rounding=sr)
    assert got.shape == x.shape[:-1] + (cout,)
    assert_bit_exact(got, fc_ref(x, w, b, io, fo, oo, m, s, act[0], act[1], sr))


def test_fully_connected_s8_writes_into_out_and_per_channel_alias_agrees():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 17), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 17), dtype=np.int8)
    b = rng.integers(-5000, 5000, 5, dtype=np.int32)
    m = rng.integers(1 << 30, I32_MAX, 5).astype(np.int32)
    s = np.array([-9, -8, -10, -7, -9], np.int32)
    out = np.zeros((2, 5), np.int8)
    kw = dict(input_offset=-3, output_offset=4, multiplier=m, shift=s)
    assert fully_connected_s8(x, w, b, out=out, **kw) is out
    assert_bit_exact(fully_connected_per_channel_s8(x, w, b, **kw), out)
    with pytest.raises(ShapeError, match="1-D"):
        fully_connected_per_channel_s8(x, w, b, **dict(kw, multiplier=1 << 30, shift=0))


def test_fully_connected_s8_accumulator_wraps_like_int32():
    x = np.full(4, 127, np.int8)
    w = np.full((1, 4), 127, np.int8)
    for bias in (I32_MAX, I32_MIN):
        b = np.array([bias], np.int32)
        got = fully_connected_s8(x, w, b, input_offset=128, filter_offset=128, output_offset=0,
                                 multiplier=1 << 30, shift=-24)
        assert_bit_exact(got, fc_ref(x, w, b, 128, 128, 0, 1 << 30, -24, -128, 127))


def test_fully_connected_s8_rejects_transposed_weights_and_bad_offsets():
    x = np.zeros(6, np.int8)
    with pytest.raises(ShapeError, match="accumulation"):
        fully_connected_s8(x, np.zeros((6, 3), np.int8), None, input_offset=0, output_offset=0,
                           multiplier=1 << 30, shift=0)
    with pytest.raises(ConfigError, match="filter_offset=200"):
        fully_connected_s8(x, np.zeros((3, 6), np.int8), None, input_offset=0, filter_offset=200,
                           output_offset=0, multiplier=1 << 30, shift=0)


def test_fully_connected_buffer_size():
    assert fully_connected_s8_buffer_size(10) == 0
    assert fully_connected_s8_buffer_size(10, "mve") == 40
