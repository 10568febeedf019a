"""CMSIS-NN arm_max_pool_s8 / arm_avgpool_s8 twins against tests/naive/s8.py."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.errors import ConfigError
from edgesed.testing import assert_bit_exact, q7_arrays
from kernels.pool_s8 import avg_pool_s8, avg_pool_s8_buffer_size, max_pool_s8, pool_output_size
from tests.naive.s8 import pool_ref
from tests.test_convolve_s8 import act_ranges


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    py, px = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    h = draw(st.integers(max(1, kh - 2 * py), 10))
    w = draw(st.integers(max(1, kw - 2 * px), 10))
    oh, ow = pool_output_size(h, kh, sy, py), pool_output_size(w, kw, sx, px)
    # SAME-style implicit bottom/right padding, while every window keeps an in-image tap
    if (oh * sy - py) < h:
        oh += draw(st.integers(0, 1))
    if (ow * sx - px) < w:
        ow += draw(st.integers(0, 1))
    c = draw(st.integers(1, 7))
    return dict(x=draw(q7_arrays((h, w, c))), kernel=(kh, kw), stride=(sy, sx),
                padding=(py, px), out_hw=(oh, ow))


@given(case=pool_cases(), act=act_ranges(), kind=st.sampled_from(["max", "avg"]))
def test_pool_s8_matches_naive_reference(case, act, kind):
    fn = max_pool_s8 if kind == "max" else avg_pool_s8
    c = case["x"].shape[2]
    out = np.full(case["out_hw"] + (c,), 99, np.int8)
    got = fn(case["x"], kernel=case["kernel"], stride=case["stride"], padding=case["padding"],
             act_min=act[0], act_max=act[1], out=out)
    assert got is out
    ref = pool_ref(case["x"], case["kernel"], case["stride"], case["padding"], act[0], act[1],
                   case["out_hw"], kind)
    assert_bit_exact(got, ref)


def test_avg_pool_rounds_half_away_from_zero_and_ignores_padding_taps():
    x = np.array([[[1], [2]], [[-3], [-6]]], dtype=np.int8)       # 2x2x1
    got = avg_pool_s8(x, kernel=(1, 2), stride=(1, 2))
    assert got[:, 0, 0].tolist() == [2, -5]                       # 1.5 -> 2, -4.5 -> -5
    # 3x3 window with padding 1 at the corner sees 4 taps: (1 + 2 - 3 - 6) / 4 = -1.5 -> -2
    got = avg_pool_s8(x, kernel=3, stride=1, padding=1, out=np.zeros((1, 1, 1), np.int8))
    assert got[0, 0, 0] == -2


def test_max_pool_clamps_to_activation_range():
    x = np.array([[[-100, 50]]], dtype=np.int8)
    assert max_pool_s8(x, kernel=1, stride=1, act_min=-20, act_max=30)[0, 0].tolist() == [-20, 30]


def test_pool_window_outside_image_is_an_error():
    x = np.zeros((2, 2, 1), np.int8)
    for fn in (max_pool_s8, avg_pool_s8):
        with pytest.raises(ConfigError, match="wholly outside"):
            fn(x, kernel=1, stride=1, padding=0, out=np.zeros((3, 2, 1), np.int8))


def test_avg_pool_buffer_size():
    assert avg_pool_s8_buffer_size(8, 16) == 64
    assert avg_pool_s8_buffer_size(8, 16, "mve") == 0
    assert avg_pool_s8_buffer_size(8, 16, "c") == 0
