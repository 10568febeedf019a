"""CMSIS-NN packed-int4 kernels (arm_convolve_s4, arm_fully_connected_s4, arm_depthwise_conv_s4)
and the nibble packing, against tests/naive/s8.py."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesed.errors import ConfigError, ShapeError
from edgesed.testing import assert_bit_exact
from kernels.s4 import (
    convolve_s4,
    convolve_wrapper_s4_buffer_size,
    depthwise_conv_s4,
    depthwise_conv_wrapper_s4_buffer_size,
    fully_connected_s4,
    pack_s4,
    unpack_s4,
)
from tests.naive.s8 import conv_ref, depthwise_ref, fc_ref, pack_s4_ref, unpack_s4_ref
from tests.test_convolve_s8 import act_ranges, biases, conv_cases, input_offsets, mults, \
    output_offsets, requant_arrays, shifts
from tests.test_depthwise_s8 import dw_cases

i4 = st.one_of(st.integers(-8, 7), st.sampled_from([-8, -1, 0, 1, 7]))


def int4_arrays(shape):
    return hnp.arrays(np.int8, shape, elements=i4)


# ------------------------------------------------------------------------------ packing

def test_pack_s4_hand_worked_cases():
    assert pack_s4([1, 2, 3, 4]).view(np.uint8).tolist() == [0x21, 0x43]
    assert pack_s4([-1, -8, 7]).view(np.uint8).tolist() == [0x8F, 0x07]   # odd: zero high nibble
    assert pack_s4(np.array([[1, 2, 3], [4, 5, 6]])).view(np.uint8).tolist() == [0x21, 0x43, 0x65]
    assert pack_s4([]).shape == (0,)
    assert pack_s4([1]).dtype == np.int8


@given(v=hnp.arrays(np.int8, st.integers(0, 41), elements=i4))
def test_pack_and_unpack_match_reference_and_round_trip(v):
    p = pack_s4(v)
    assert_bit_exact(p, pack_s4_ref(v))
    assert_bit_exact(unpack_s4(p, v.size), v)
    assert_bit_exact(unpack_s4_ref(p, v.size), v)


def test_pack_s4_refuses_values_outside_int4():
    with pytest.raises(ConfigError, match="value 8"):
        pack_s4([0, 8])
    with pytest.raises(ShapeError, match="count=5"):
        unpack_s4(pack_s4([1, 2, 3]), 5)


# ------------------------------------------------------------------------------ FC

def test_fully_connected_s4_spillover_byte_is_shared_by_two_rows():
    # N = 3: byte 1 = 0x43 holds row 0's last weight (3, low) and row 1's first (4, high)
    w = np.array([[1, 2, 3], [4, 5, 6]], np.int8)
    x = np.array([1, 10, 100], np.int8)
    got = fully_connected_s4(x, pack_s4(w), None, filter_shape=(2, 3), input_offset=0,
                             output_offset=0, multiplier=1 << 30, shift=-6)   # 0.5 / 64
    assert got.tolist() == [round(321 / 128), round(654 / 128)]


@given(data=st.data(), n=st.integers(1, 33), cout=st.integers(1, 9),
       batch=st.sampled_from([None, 1, 3]), io=input_offsets, oo=output_offsets,
       act=act_ranges(), sr=st.booleans(), per_channel=st.booleans())
def test_fully_connected_s4_matches_naive_reference(data, n, cout, batch, io, oo, act, sr,
                                                    per_channel):
    x = data.draw(hnp.arrays(np.int8, (n,) if batch is None else (batch, n)))
    w = data.draw(int4_arrays((cout, n)))
    m, s = data.draw(requant_arrays(cout)) if per_channel else (data.draw(mults),
                                                                 data.draw(shifts))
    b = data.draw(biases(cout))
    got = fully_connected_s4(x, pack_s4(w), b, filter_shape=(cout, n), input_offset=io,
                             output_offset=oo, multiplier=m, shift=s, act_min=act[0],
                             act_max=act[1], single_rounding=sr)
    assert_bit_exact(got, fc_ref(x, w, b, io, 0, oo, m, s, act[0], act[1], sr))


def test_fully_connected_s4_rejects_wrong_packed_length():
    with pytest.raises(ShapeError, match="packs into 8"):
        fully_connected_s4(np.zeros(5, np.int8), np.zeros(7, np.int8), None, filter_shape=(3, 5),
                           input_offset=0, output_offset=0, multiplier=1 << 30, shift=0)


# ------------------------------------------------------------------------------ conv / dw

@given(case=conv_cases(max_hw=7), data=st.data(), io=input_offsets, oo=output_offsets,
       act=act_ranges(), sr=st.booleans())
def test_convolve_s4_matches_naive_reference(case, data, io, oo, act, sr):
    w = data.draw(int4_arrays(case["w"].shape))        # rhs_cols = KH*KW*cpg is often odd
    cout = case["cout"]
    m, s = data.draw(requant_arrays(cout))
    b = data.draw(biases(cout))
    out = np.full(case["out_hw"] + (cout,), 99, np.int8)
    got = convolve_s4(case["x"], pack_s4(w), b, filter_shape=w.shape, input_offset=io,
                      output_offset=oo, multiplier=m, shift=s, stride=case["stride"],
                      padding=case["padding"], dilation=case["dilation"], groups=case["groups"],
                      act_min=act[0], act_max=act[1], single_rounding=sr, out=out)
    ref = conv_ref(case["x"], w, b, io, oo, m, s, case["stride"], case["padding"],
                   case["dilation"], act[0], act[1], case["out_hw"], sr)
    assert_bit_exact(got, ref)


@given(case=dw_cases(max_hw=7), data=st.data(), io=input_offsets, oo=output_offsets,
       act=act_ranges(), sr=st.booleans())
def test_depthwise_conv_s4_matches_naive_reference(case, data, io, oo, act, sr):
    w = data.draw(int4_arrays(case["w"].shape))        # odd Cin * ch_mult straddles bytes
    cout = case["cout"]
    m, s = data.draw(requant_arrays(cout))
    b = data.draw(biases(cout))
    out = np.full(case["out_hw"] + (cout,), 99, np.int8)
    got = depthwise_conv_s4(case["x"], pack_s4(w), b, filter_shape=w.shape, ch_mult=case["cm"],
                            input_offset=io, output_offset=oo, multiplier=m, shift=s,
                            stride=case["stride"], padding=case["padding"],
                            dilation=case["dilation"], act_min=act[0], act_max=act[1],
                            single_rounding=sr, out=out)
    ref = depthwise_ref(case["x"], w, b, case["cm"], io, oo, m, s, case["stride"],
                        case["padding"], case["dilation"], act[0], act[1], case["out_hw"], sr)
    assert_bit_exact(got, ref)


def test_convolve_s4_buffer_size():
    assert convolve_wrapper_s4_buffer_size((8, 8, 3), (4, 3, 3, 3)) == 2 * 27 * 2
    assert convolve_wrapper_s4_buffer_size((8, 8, 16), (4, 1, 1, 16)) == 0
    assert convolve_wrapper_s4_buffer_size((8, 8, 16), (4, 1, 1, 16), stride=2) == 0


def test_depthwise_s4_buffer_size():
    assert depthwise_conv_wrapper_s4_buffer_size((8, 8, 16), (3, 3)) == 16 * 9 * 2
    assert depthwise_conv_wrapper_s4_buffer_size((8, 8, 16), (3, 3), ch_mult=2) == 0
    assert depthwise_conv_wrapper_s4_buffer_size((8, 8, 16), (3, 3), dilation=2) == 0
