"""NE16 weight layout: hand-worked bytes, the bit-by-bit rule, round trips, sizes and errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesed.errors import ConfigError, ShapeError
from kernels.ne16.packing import (
    Mode,
    pack_weights,
    packed_shape,
    packed_weight_bytes,
    to_unsigned,
    unpack_weights,
)
from tests.naive.ne16 import pack_ref

# --------------------------------------------------------------------------- hand-worked bytes


def test_pack_1x1_three_channels_two_bits_by_hand():
    # w_u = [1, 2, 3] on channels 0..2 (Cin padded to 16): one (ko, group), 2 bit planes, 1 tap,
    # 2 bytes each. bit 0 of (1, 2, 3) = (1, 0, 1) -> byte0 = 0b101 = 0x05, byte1 (ch 8-15) = 0;
    # bit 1 = (0, 1, 1) -> 0b110 = 0x06, 0.
    w = np.array([1, 2, 3], dtype=np.uint8).reshape(1, 1, 1, 3)
    assert pack_weights(w, 2, "1x1").tolist() == [0x05, 0x00, 0x06, 0x00]


def test_pack_1x1_crosses_a_16_channel_group_by_hand():
    # Cout=2, Cin=17 -> 2 groups; 3 bits; 2*2*3*1*2 = 24 bytes, order (ko, group, bit, tap, byte).
    # ko0: ch8 = 7 (bits 0,1,2 set) -> group 0, byte1 bit0, in all three planes;
    #      ch16 = 5 = 0b101 -> group 1 channel 0: planes 0 and 2 get byte0 = 0x01.
    # ko1: ch0 = 4 = 0b100 -> group 0 plane 2 byte0 = 0x01; ch15 = 1 -> plane 0 byte1 bit7 = 0x80.
    w = np.zeros((2, 1, 1, 17), dtype=np.uint8)
    w[0, 0, 0, 8], w[0, 0, 0, 16] = 7, 5
    w[1, 0, 0, 0], w[1, 0, 0, 15] = 4, 1
    expected = [0x00, 0x01, 0x00, 0x01, 0x00, 0x01,      # ko0 group0 planes 0,1,2
                0x01, 0x00, 0x00, 0x00, 0x01, 0x00,      # ko0 group1
                0x00, 0x80, 0x00, 0x00, 0x01, 0x00,      # ko1 group0
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00]      # ko1 group1 (padding channels)
    assert pack_weights(w, 3, Mode.CONV1X1).tolist() == expected
    assert packed_weight_bytes("1x1", 2, 17, 3) == 24


def test_pack_3x3_taps_are_row_major_within_a_bit_plane_by_hand():
    # One filter, one channel, 2 bits; tap t = ky*3 + kx holds t % 4 = 0,1,2,3,0,1,2,3,0.
    # Plane 0 (LSB first) = bit 0 per tap = 0,1,0,1,0,1,0,1,0; plane 1 = 0,0,1,1,0,0,1,1,0.
    # Each tap is 2 bytes (channel 0 -> byte0 bit0; byte1 empty): 1*1*2*9*2 = 36 bytes.
    w = (np.arange(9) % 4).astype(np.uint8).reshape(1, 3, 3, 1)
    plane0 = [0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    plane1 = [0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0]
    assert pack_weights(w, 2, "3x3").tolist() == plane0 + plane1


def test_pack_depthwise_puts_channels_in_the_16_lanes_by_hand():
    # Depthwise C=2, 2 bits: channel 0 is 3 on every tap, channel 1 is 2 on the centre tap only.
    # Layout (1, 1 group, 2 planes, 9 taps, 2 bytes): channels are the lanes of byte0.
    # Plane 0: ch0 bit0 = 1 everywhere, ch1 bit0 = 0 -> byte0 = 0x01 on all taps.
    # Plane 1: ch0 bit1 = 1 -> lane 0; ch1 centre (tap 4) bit1 = 1 -> lane 1: 0x03 at tap 4.
    w = np.zeros((2, 3, 3, 1), dtype=np.uint8)
    w[0] = 3
    w[1, 1, 1, 0] = 2
    plane0 = [0x01, 0x00] * 9
    plane1 = [0x01, 0x00] * 4 + [0x03, 0x00] + [0x01, 0x00] * 4
    assert pack_weights(w, 2, "dw3x3").tolist() == plane0 + plane1


def test_packed_weight_bytes_matches_the_notes_example_and_formula():
    # ne16.md §2: Kout=64, Kin=40, 3-bit 3x3 -> Kin padded to 48: 64*3*3*9*2 = 10,368 B.
    assert packed_weight_bytes("3x3", 64, 40, 3) == 10368
    assert packed_weight_bytes(Mode.CONV1X1, 10, 16, 8) == 10 * 1 * 8 * 2
    assert packed_weight_bytes("fc", 5, 33, 2) == 5 * 3 * 2 * 2
    assert packed_weight_bytes("dw3x3", 40, 40, 4) == 3 * 4 * 9 * 2
    assert packed_weight_bytes("dw3x3", 40, 1, 4) == 3 * 4 * 9 * 2
    assert packed_shape("3x3", 64, 40, 3) == (64, 3, 3, 9, 2)


# ------------------------------------------------------------------------------- properties

@st.composite
def weight_cases(draw):
    mode = draw(st.sampled_from(list(Mode)))
    bits = draw(st.integers(2, 8))
    k = 3 if mode in (Mode.CONV3X3, Mode.DEPTHWISE3X3) else 1
    cout = draw(st.integers(1, 40))
    cin = 1 if mode is Mode.DEPTHWISE3X3 else draw(st.integers(1, 40))
    w = draw(hnp.arrays(np.uint8, (cout, k, k, cin),
                        elements=st.integers(0, (1 << bits) - 1)))
    return w, bits, mode


@given(case=weight_cases())
def test_pack_matches_the_bit_by_bit_rule_and_size(case):
    w, bits, mode = case
    packed = pack_weights(w, bits, mode)
    assert packed.dtype == np.uint8
    assert packed.tolist() == pack_ref(w, bits, depthwise=mode is Mode.DEPTHWISE3X3).tolist()
    k_in = w.shape[0] if mode is Mode.DEPTHWISE3X3 else w.shape[3]
    assert packed.size == packed_weight_bytes(mode, w.shape[0], k_in, bits)


@given(case=weight_cases())
def test_unpack_inverts_pack_and_pack_inverts_unpack(case):
    w, bits, mode = case
    packed = pack_weights(w, bits, mode)
    back = unpack_weights(packed, bits, mode, w.shape)
    assert back.dtype == np.uint8 and back.shape == w.shape
    np.testing.assert_array_equal(back, w)
    np.testing.assert_array_equal(pack_weights(back, bits, mode), packed)


@given(bits=st.integers(2, 8), data=st.data())
def test_to_unsigned_is_the_golden_offset(bits, data):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    w = data.draw(hnp.arrays(np.int8, (3, 3, 3, 5), elements=st.integers(lo, hi)))
    w_u, wmin = to_unsigned(w, bits)
    assert wmin == lo and w_u.dtype == np.uint8
    assert int(w_u.max()) < (1 << bits)
    np.testing.assert_array_equal(w_u.astype(np.int64) + wmin, w.astype(np.int64))


# ---------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("bits", [0, 1, 9, 16, -3])
def test_bits_outside_2_to_8_are_refused_naming_the_value(bits):
    w = np.zeros((1, 1, 1, 1), dtype=np.uint8)
    for call in (lambda: pack_weights(w, bits, "1x1"),
                 lambda: packed_weight_bytes("1x1", 1, 1, bits),
                 lambda: to_unsigned(np.zeros(2, np.int8), bits)):
        with pytest.raises(ConfigError, match=f"bits={bits}"):
            call()


def test_one_bit_error_says_it_is_hardware_possible_but_out_of_range():
    with pytest.raises(ConfigError, match="1-bit weights are possible on the RTL"):
        packed_weight_bytes("3x3", 8, 8, 1)


def test_channel_counts_the_layout_cannot_hold():
    with pytest.raises(ShapeError, match="k_in=0"):
        packed_weight_bytes("3x3", 8, 0, 4)
    with pytest.raises(ShapeError, match="in_channel == out_channel"):
        packed_weight_bytes("dw3x3", 8, 4, 4)
    with pytest.raises(ShapeError, match="uint16 subtile count"):
        packed_weight_bytes("1x1", 1, 16 * 65536, 4)
    with pytest.raises(ShapeError, match=r"\(C, 3, 3, 1\)"):
        pack_weights(np.zeros((4, 3, 3, 2), np.uint8), 4, "dw3x3")
    with pytest.raises(ShapeError, match="packed.size=35"):
        unpack_weights(np.zeros(35, np.uint8), 2, "3x3", (1, 3, 3, 1))


def test_weights_of_the_wrong_dtype_or_range_are_refused():
    with pytest.raises(ShapeError, match="dtype=int8"):
        pack_weights(np.zeros((1, 1, 1, 4), np.int8), 4, "1x1")
    w = np.zeros((1, 1, 1, 4), np.uint8)
    w[0, 0, 0, 2] = 16
    with pytest.raises(ConfigError, match=r"w_unsigned\[0, 0, 0, 2\]=16 does not fit bits=4"):
        pack_weights(w, 4, "1x1")
    with pytest.raises(ShapeError, match=r"\(Cout, 3, 3, Cin\)"):
        pack_weights(np.zeros((1, 1, 1, 4), np.uint8), 4, "3x3")
    with pytest.raises(ConfigError, match="outside the signed 3-bit range"):
        to_unsigned(np.array([4], np.int8), 3)
    with pytest.raises(ConfigError, match="mode='5x5'"):
        packed_weight_bytes("5x5", 1, 1, 4)
