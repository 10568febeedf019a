"""CMSIS-NN arm_depthwise_conv_wrapper_s8 twin against the naive reference in tests/naive/s8.py."""
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from edgesed.errors import ShapeError
from edgesed.testing import assert_bit_exact, q7_arrays
from kernels.convolve_s8 import conv_output_size
from kernels.depthwise_s8 import depthwise_conv_s8, depthwise_conv_wrapper_s8_buffer_size
from tests.naive.s8 import I32_MAX, depthwise_ref
from tests.test_convolve_s8 import act_ranges, biases, input_offsets, output_offsets, \
    requant_arrays


@st.composite
def dw_cases(draw, max_hw=9):
    cin = draw(st.integers(1, 6))
    cm = draw(st.sampled_from([1, 1, 2, 3, 4]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dy, dx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    py, px = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, (kh - 1) * dy + 1 - 2 * py), max_hw + (kh - 1) * dy))
    w = draw(st.integers(max(1, (kw - 1) * dx + 1 - 2 * px), max_hw + (kw - 1) * dx))
    oh = conv_output_size(h, kh, sy, py, dy) + draw(st.integers(0, 1))
    ow = conv_output_size(w, kw, sx, px, dx) + draw(st.integers(0, 1))
    return dict(x=draw(q7_arrays((h, w, cin))), w=draw(q7_arrays((kh, kw, cin * cm))), cm=cm,
                stride=(sy, sx), padding=(py, px), dilation=(dy, dx), out_hw=(oh, ow),
                cout=cin * cm)


@given(case=dw_cases(), data=st.data(), io=input_offsets, oo=output_offsets, act=act_ranges(),
       sr=st.booleans())
def test_depthwise_conv_s8_matches_naive_reference(case, data, io, oo, act, sr):
    cout = case["cout"]
    m, s = data.draw(requant_arrays(cout))
    b = data.draw(biases(cout))
    out = np.full(case["out_hw"] + (cout,), 99, dtype=np.int8)
    got = depthwise_conv_s8(case["x"], case["w"], b, ch_mult=case["cm"], input_offset=io,
                            output_offset=oo, multiplier=m, shift=s, stride=case["stride"],
                            padding=case["padding"], dilation=case["dilation"], act_min=act[0],
                            act_max=act[1], single_rounding=sr, out=out)
    ref = depthwise_ref(case["x"], case["w"], b, case["cm"], io, oo, m, s, case["stride"],
                        case["padding"], case["dilation"], act[0], act[1], case["out_hw"], sr)
    event(f"ch_mult={case['cm']}")
    assert_bit_exact(got, ref)


def test_depthwise_output_channel_order_is_ic_times_ch_mult_plus_m():
    # one input pixel, 1x1 kernel, weights 1: output channel ic*cm + m equals x[ic] + offset
    x = np.array([[[10, -20, 30]]], dtype=np.int8)
    w = np.ones((1, 1, 6), dtype=np.int8)
    got = depthwise_conv_s8(x, w, None, ch_mult=2, input_offset=1, output_offset=0,
                            multiplier=1 << 30, shift=1)      # * 1.0
    assert got[0, 0].tolist() == [11, 11, -19, -19, 31, 31]


def test_depthwise_accumulator_wraps_like_int32():
    x = np.full((2, 2, 1), 127, dtype=np.int8)
    w = np.full((2, 2, 1), 127, dtype=np.int8)
    b = np.array([I32_MAX], dtype=np.int32)
    got = depthwise_conv_s8(x, w, b, ch_mult=1, input_offset=128, output_offset=0,
                            multiplier=1 << 30, shift=-24)
    assert got[0, 0, 0] == -64          # 2**31 - 1 + 4 * 255 * 127 wraps negative


def test_depthwise_rejects_wrong_filter_layout():
    x = np.arange(48, dtype=np.int8).reshape(4, 4, 3)
    w4 = np.arange(27, dtype=np.int8).reshape(1, 3, 3, 3)
    kw = dict(ch_mult=1, input_offset=0, output_offset=0, multiplier=1 << 30, shift=-8)
    assert_bit_exact(depthwise_conv_s8(x, w4, None, **kw), depthwise_conv_s8(x, w4[0], None, **kw))
    with pytest.raises(ShapeError, match="ch_mult"):
        depthwise_conv_s8(x, np.zeros((3, 3, 4), np.int8), None, ch_mult=1, input_offset=0,
                          output_offset=0, multiplier=1 << 30, shift=0)


def test_depthwise_buffer_sizes_follow_cmsis_dispatch():
    # 3x3, pads <= 1: arm_depthwise_conv_3x3_s8, no buffer (DSP); MVE: opt buffer
    assert depthwise_conv_wrapper_s8_buffer_size((8, 8, 16), (3, 3), padding=1) == 0
    assert depthwise_conv_wrapper_s8_buffer_size((8, 8, 16), (3, 3), padding=1,
                                                 backend="mve") == 4 * 124 * 9
    assert depthwise_conv_wrapper_s8_buffer_size((8, 8, 16), (5, 5), padding=2) == 16 * 25 * 2
    assert depthwise_conv_wrapper_s8_buffer_size((8, 8, 16), (5, 5), padding=2,
                                                 backend="c") == 0
    assert depthwise_conv_wrapper_s8_buffer_size((8, 8, 16), (5, 5), ch_mult=2) == 0
    assert depthwise_conv_wrapper_s8_buffer_size((8, 8, 16), (5, 5), dilation=2) == 0
