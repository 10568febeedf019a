"""CMSIS-NN arm_convolve_wrapper_s8 twin against the naive reference in tests/naive/s8.py."""
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from edgesed.errors import ConfigError, ShapeError
from edgesed.testing import assert_bit_exact, int_arrays, q7_arrays
from kernels.convolve_s8 import (
    ROW_PATH_DEPTH,
    conv_output_size,
    convolve_s8,
    convolve_s8_buffer_size,
    convolve_wrapper_s8_buffer_size,
)
from tests.naive.s8 import I32_MAX, I32_MIN, conv_ref

input_offsets = st.one_of(st.integers(-127, 128), st.sampled_from([-127, 0, 128]))
output_offsets = st.one_of(st.integers(-128, 127), st.sampled_from([-128, 0, 127]))
mults = st.one_of(st.integers(1 << 30, I32_MAX), st.sampled_from([0, 1 << 30, I32_MAX]))
# mostly shifts that keep outputs unsaturated, sometimes the whole range
shifts = st.one_of(st.integers(-14, -6), st.integers(-31, 30))


@st.composite
def act_ranges(draw):
    lo = draw(st.one_of(st.just(-128), st.integers(-128, 127)))
    hi = draw(st.one_of(st.just(127), st.integers(lo, 127)))
    return lo, hi


@st.composite
def requant_arrays(draw, n):
    m = np.array(draw(st.lists(mults, min_size=n, max_size=n)), dtype=np.int32)
    s = np.array(draw(st.lists(shifts, min_size=n, max_size=n)), dtype=np.int32)
    return m, s


@st.composite
def biases(draw, n):
    kind = draw(st.sampled_from(["none", "small", "full"]))
    if kind == "none":
        return None
    if kind == "small":
        return draw(int_arrays(np.int32, (n,), edges=False).map(lambda a: (a % 20001 - 10000)
                                                              .astype(np.int32)))
    return draw(int_arrays(np.int32, (n,)))      # includes INT32 edges: the sum wraps


@st.composite
def conv_cases(draw, max_hw=9, shallow=False):
    """Convolution geometries; ``shallow``: one group and few taps (the body's row path)."""
    groups = 1 if shallow else draw(st.integers(1, 3))
    cpg = draw(st.integers(1, 1 if shallow else 4))
    opg = draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dy, dx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    py, px = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, (kh - 1) * dy + 1 - 2 * py), max_hw + (kh - 1) * dy))
    w = draw(st.integers(max(1, (kw - 1) * dx + 1 - 2 * px), max_hw + (kw - 1) * dx))
    oh = conv_output_size(h, kh, sy, py, dy)
    ow = conv_output_size(w, kw, sx, px, dx)
    # SAME-style implicit bottom/right padding: sometimes one more output row/column
    oh += draw(st.integers(0, 1))
    ow += draw(st.integers(0, 1))
    cin, cout = groups * cpg, groups * opg
    x = draw(q7_arrays((h, w, cin)))
    wt = draw(q7_arrays((cout, kh, kw, cpg)))
    return dict(x=x, w=wt, groups=groups, stride=(sy, sx), padding=(py, px), dilation=(dy, dx),
                out_hw=(oh, ow), cout=cout)


@given(case=st.one_of(conv_cases(), conv_cases(max_hw=20, shallow=True)), data=st.data(),
       io=input_offsets, oo=output_offsets, act=act_ranges(), sr=st.booleans())
def test_convolve_s8_matches_naive_reference(case, data, io, oo, act, sr):
    cout = case["cout"]
    m, s = data.draw(requant_arrays(cout))
    b = data.draw(biases(cout))
    out = np.full(case["out_hw"] + (cout,), 99, dtype=np.int8)
    got = convolve_s8(case["x"], case["w"], b, input_offset=io, output_offset=oo, multiplier=m,
                      shift=s, stride=case["stride"], padding=case["padding"],
                      dilation=case["dilation"], groups=case["groups"], act_min=act[0],
                      act_max=act[1], single_rounding=sr, out=out)
    assert got is out
    ref = conv_ref(case["x"], case["w"], b, io, oo, m, s, case["stride"], case["padding"],
                   case["dilation"], act[0], act[1], case["out_hw"], sr)
    event(f"saturated: {bool(np.any((got == act[0]) | (got == act[1])))}")
    cout_, kh, kw, cpg = case["w"].shape
    event("path: " + ("rows" if case["groups"] == 1 and kh * kw * cpg < ROW_PATH_DEPTH
                      else "im2col"))
    assert_bit_exact(got, ref)


def test_convolve_s8_default_output_size_and_scalar_requant():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (7, 6, 3), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 3, 2, 3), dtype=np.int8)
    b = rng.integers(-1000, 1000, 5, dtype=np.int32)
    got = convolve_s8(x, w, b, input_offset=17, output_offset=-5, multiplier=1 << 30, shift=-9,
                      stride=(2, 1), padding=(1, 1), dilation=(1, 2))
    assert got.shape == (4, 6, 5)
    ref = conv_ref(x, w, b, 17, -5, 1 << 30, -9, (2, 1), (1, 1), (1, 2), -128, 127, (4, 6))
    assert_bit_exact(got, ref)


def test_convolve_s8_accumulator_wraps_modulo_2_32():
    # bias INT32_MAX + positive products wraps negative, like the C's int32 accumulator
    x = np.full((1, 1, 4), 127, dtype=np.int8)
    w = np.full((1, 1, 1, 4), 127, dtype=np.int8)
    b = np.array([I32_MAX], dtype=np.int32)
    got = convolve_s8(x, w, b, input_offset=128, output_offset=0, multiplier=1 << 30, shift=-24,
                      act_min=-128, act_max=127)
    # acc = 2**31 - 1 + 4 * 255 * 127 wraps to -2**31 + 129539 -> * 2**-25 = -64
    assert got[0, 0, 0] == -64
    b2 = np.array([I32_MIN], dtype=np.int32)
    got2 = convolve_s8(x, w, b2, input_offset=128, output_offset=0, multiplier=1 << 30,
                       shift=-24)
    assert_bit_exact(got2, conv_ref(x, w, b2, 128, 0, 1 << 30, -24, (1, 1), (0, 0), (1, 1),
                                    -128, 127, (1, 1)))


def test_convolve_s8_fully_padded_window_gives_bias_only():
    x = np.full((1, 1, 2), 50, dtype=np.int8)
    w = np.ones((1, 3, 3, 2), dtype=np.int8)
    out = np.zeros((3, 3, 1), dtype=np.int8)
    convolve_s8(x, w, np.array([64], np.int32), input_offset=-50, output_offset=1,
                multiplier=1 << 30, shift=-2, padding=(2, 2), out=out)
    # every tap sees x + input_offset = 0 or padding: acc = 64 -> 64 * 0.5 / 4 = 8, + 1
    assert np.all(out == 9)


def test_convolve_s8_rejects_bad_arguments():
    x = np.zeros((4, 4, 4), np.int8)
    w = np.zeros((6, 3, 3, 2), np.int8)
    kw = dict(input_offset=0, output_offset=0, multiplier=1 << 30, shift=0)
    with pytest.raises(ShapeError, match="groups"):
        convolve_s8(x, w, None, groups=1, **kw)
    convolve_s8(x, w, None, groups=2, **kw)
    with pytest.raises(ShapeError, match="dtype"):
        convolve_s8(x.astype(np.int16), w, None, groups=2, **kw)
    with pytest.raises(ConfigError, match="stride"):
        convolve_s8(x, w, None, groups=2, stride=0, **kw)
    with pytest.raises(ShapeError, match="too small"):
        convolve_s8(x, w, None, groups=2, dilation=3, **kw)
    with pytest.raises(ShapeError, match="scratch"):
        convolve_s8(x, w, None, groups=2, scratch=np.zeros(3, np.int16), **kw)
    with pytest.raises(ConfigError, match="output_offset=128"):
        convolve_s8(x, w, None, groups=2, **dict(kw, output_offset=128))


def test_convolve_buffer_sizes_follow_cmsis_dispatch():
    # generic: 2 * align4(3*3*3) * 2 bytes = 2 * 28 * 2
    assert convolve_s8_buffer_size(3, 3, 3) == 112
    assert convolve_s8_buffer_size(3, 3, 3, "mve") == 4 * 32
    assert convolve_wrapper_s8_buffer_size((8, 8, 3), (4, 3, 3, 3)) == 112
    # 1x1, pad 0, stride 1: 0 with GCC, 2*c*2 with armclang (DSP only)
    assert convolve_wrapper_s8_buffer_size((8, 8, 16), (4, 1, 1, 16)) == 0
    assert convolve_wrapper_s8_buffer_size((8, 8, 16), (4, 1, 1, 16), armclang=True) == 64
    assert convolve_wrapper_s8_buffer_size((8, 8, 16), (4, 1, 1, 16), stride=2,
                                           armclang=True) == 0
    with pytest.raises(ConfigError, match="backend"):
        convolve_s8_buffer_size(3, 3, 3, "gpu")
