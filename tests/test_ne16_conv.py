"""NE16 functional model (kernels/ne16/conv.py, normquant.py) against tests/naive/ne16.py."""
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgesed.errors import ConfigError, ShapeError
from edgesed.testing import assert_bit_exact
from kernels.ne16.conv import (
    ne16_conv,
    ne16_conv_packed,
    ne16_output_shape,
    signed_input_bias,
)
from kernels.ne16.dilated import ne16_conv_dilated
from kernels.ne16.normquant import ne16_normquant
from kernels.ne16.packing import Mode, pack_weights
from tests.naive.ne16 import (
    dilated_conv_ref,
    ne16_conv_ref,
    normquant_golden_ref,
    normquant_rtl_ref,
)

I32 = (-2**31, 2**31 - 1)


def _u8(shape):
    return hnp.arrays(np.uint8, shape, elements=st.one_of(st.integers(0, 255),
                                                          st.sampled_from([0, 1, 254, 255])))


def _s8(shape):
    return hnp.arrays(np.int8, shape, elements=st.one_of(st.integers(-128, 127),
                                                         st.sampled_from([-128, -1, 0, 127])))


@st.composite
def normquant_params(draw, kout, force=False):
    """(scale, scale_bits, bias, shift, relu, out_bits) or all-None for no normquant."""
    if not force and draw(st.booleans()):
        return dict(scale=None, out_bits=32)
    sb = draw(st.sampled_from([8, 16, 32]))
    top = (1 << sb) - 1
    scale = draw(hnp.arrays(np.int64, (kout,), elements=st.one_of(
        st.integers(0, top), st.integers(0, 8), st.sampled_from([0, 1, top]))))
    bias = draw(st.one_of(st.none(), hnp.arrays(np.int32, (kout,), elements=st.one_of(
        st.integers(*I32), st.integers(-1000, 1000), st.sampled_from(list(I32))))))
    shift = draw(st.one_of(st.integers(0, 31),
                           hnp.arrays(np.int64, (kout,), elements=st.integers(0, 63))))
    return dict(scale=scale, scale_bits=sb, bias=bias, shift=shift, relu=draw(st.booleans()),
                out_bits=draw(st.sampled_from([8, 32])))


@st.composite
def conv_cases(draw, modes=tuple(Mode), strides=(1, 2), signed=None):
    mode = draw(st.sampled_from(modes))
    bits = draw(st.integers(2, 8))
    wmin = draw(st.one_of(st.just(-(1 << (bits - 1))), st.integers(-256, 255)))
    three = mode in (Mode.CONV3X3, Mode.DEPTHWISE3X3)
    cin = draw(st.integers(1, 37))
    kout = cin if mode is Mode.DEPTHWISE3X3 else draw(st.integers(1, 37))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4)) if three else (0, 0, 0, 0)
    k = 3 if three else 1
    if mode is Mode.FC:
        h = w = 1
        stride = 1
    else:
        h = draw(st.integers(max(1, k - pads[0] - pads[2]), 5))
        w = draw(st.integers(max(1, k - pads[1] - pads[3]), 5))
        stride = draw(st.sampled_from(strides))
    signed = draw(st.booleans()) if signed is None else signed
    nq = draw(normquant_params(kout, force=signed))
    x = draw((_s8 if signed else _u8)((h, w, cin)))
    pad_value = draw(st.integers(-128, 127) if signed else st.integers(0, 255))
    wu = draw(hnp.arrays(np.uint8, (kout, k, k, 1 if mode is Mode.DEPTHWISE3X3 else cin),
                         elements=st.one_of(st.integers(0, (1 << bits) - 1),
                                            st.sampled_from([0, (1 << bits) - 1]))))
    return dict(mode=mode, bits=bits, wmin=wmin, pads=pads, stride=stride, x=x, wu=wu,
                pad_value=pad_value, signed=signed, nq=nq)


def _run(c, **over):
    kw = dict(bits=c["bits"], wmin=c["wmin"], mode=c["mode"], stride=c["stride"],
              padding=c["pads"], pad_value=c["pad_value"], input_signed=c["signed"], **c["nq"])
    kw.update(over)
    x = c["x"].reshape(-1) if c["mode"] is Mode.FC else c["x"]
    return ne16_conv(x, c["wu"], **kw)


def _ref(c, golden=False):
    nq = dict(c["nq"])
    nq.pop("scale_bits", None)
    got = ne16_conv_ref(c["x"], c["wu"], bits=c["bits"], wmin=c["wmin"],
                        depthwise=c["mode"] is Mode.DEPTHWISE3X3, stride=c["stride"],
                        pads=c["pads"], pad_value=c["pad_value"], input_signed=c["signed"],
                        golden=golden, **nq)
    return got.reshape(-1) if c["mode"] is Mode.FC else got


# ------------------------------------------------------------------------------ properties

@given(case=conv_cases())
def test_ne16_conv_matches_bit_plane_reference(case):
    got = _run(case)
    ref = _ref(case)
    event(f"mode={case['mode'].value} normquant={case['nq']['scale'] is not None} "
          f"signed={case['signed']}")
    if case["nq"]["scale"] is not None and case["nq"]["out_bits"] == 8:
        lo, hi = (0, 255) if case["nq"]["relu"] else (-128, 127)
        event(f"saturated: {bool(np.any((got == lo) | (got == hi)))}")
    assert_bit_exact(got, ref)


@given(case=conv_cases(modes=(Mode.CONV3X3, Mode.CONV1X1, Mode.DEPTHWISE3X3), strides=(1,)))
def test_stride_2_equals_stride_1_subsampled(case):
    one = _run(case)
    two = _run(case, stride=2)
    assert_bit_exact(two, np.ascontiguousarray(one[::2, ::2]))


@given(case=conv_cases(modes=(Mode.CONV3X3, Mode.DEPTHWISE3X3, Mode.CONV1X1)))
def test_packed_weights_give_the_same_bits(case):
    packed = pack_weights(case["wu"], case["bits"], case["mode"])
    kw = dict(wmin=case["wmin"], stride=case["stride"], padding=case["pads"],
              pad_value=case["pad_value"], input_signed=case["signed"], **case["nq"])
    got = ne16_conv_packed(case["x"], packed, case["wu"].shape, bits=case["bits"],
                           mode=case["mode"], **kw)
    assert_bit_exact(got, _run(case))


@given(case=conv_cases(modes=(Mode.CONV1X1,), strides=(1,)))
def test_fc_is_a_1x1_job_on_a_1x1_image(case):
    x = case["x"][:1, :1]
    fc = _run(dict(case, x=x, mode=Mode.FC))
    one = _run(dict(case, x=x))
    assert_bit_exact(fc, one.reshape(-1))


@given(case=conv_cases(modes=(Mode.CONV3X3, Mode.DEPTHWISE3X3, Mode.CONV1X1), signed=True))
def test_signed_input_equals_u8_job_with_the_corrected_bias(case):
    nq = dict(case["nq"])
    corrected = signed_input_bias(case["wu"], case["wmin"], nq["scale"], nq["bias"],
                                  case["mode"])
    nq["bias"] = corrected
    x_u8 = (case["x"].astype(np.int16) + 128).astype(np.uint8)
    u8 = ne16_conv(x_u8, case["wu"], bits=case["bits"], wmin=case["wmin"], mode=case["mode"],
                   stride=case["stride"], padding=case["pads"], pad_value=case["pad_value"] + 128,
                   **nq)
    assert_bit_exact(_run(case), u8)


@given(data=st.data(), bits=st.integers(2, 8), cin=st.integers(3000, 4200),
       wmin=st.sampled_from([-256, -255, 254, 255]), kout=st.integers(1, 3))
def test_accumulator_wrap_matches_reference_on_extreme_values(data, bits, cin, wmin, kout):
    # Near-constant extreme tensors (|acc| up to 9*4200*255*510 ~ 4.9e9) with a few perturbed
    # elements, so the exact sum lands on either side of +-2**31.
    top = (1 << bits) - 1
    x = np.full((3, 3, cin), data.draw(st.sampled_from([254, 255])), np.uint8)
    wu = np.full((kout, 3, 3, cin), data.draw(st.sampled_from([0, top])), np.uint8)
    for _ in range(data.draw(st.integers(0, 20))):
        c = data.draw(st.integers(0, cin - 1))
        x[c % 3, c // 3 % 3, c] = data.draw(st.integers(0, 255))
        wu[c % kout, c % 3, 0, c] = data.draw(st.integers(0, top))
    got = ne16_conv(x, wu, bits=bits, wmin=wmin, mode="3x3")
    exact = np.einsum("yxc,kyxc->k", x.astype(np.int64), wu.astype(np.int64) + wmin)
    event(f"wrapped: {bool(np.any(exact != got.reshape(-1)))}")
    assert_bit_exact(got, ne16_conv_ref(x, wu, bits=bits, wmin=wmin))


@st.composite
def dilated_cases(draw):
    mode = draw(st.sampled_from([Mode.CONV3X3, Mode.DEPTHWISE3X3]))
    d = draw(st.integers(1, 4))
    bits = draw(st.integers(2, 8))
    cin = draw(st.integers(1, 9))
    kout = cin if mode is Mode.DEPTHWISE3X3 else draw(st.integers(1, 9))
    pads = tuple(draw(st.integers(0, 2 * d)) for _ in range(4))
    h = draw(st.integers(max(1, 2 * d + 1 - pads[0] - pads[2]), 2 * d + 6))
    w = draw(st.integers(max(1, 2 * d + 1 - pads[1] - pads[3]), 2 * d + 6))
    x = draw(_u8((h, w, cin)))
    wu = draw(hnp.arrays(np.uint8, (kout, 3, 3, 1 if mode is Mode.DEPTHWISE3X3 else cin),
                         elements=st.integers(0, (1 << bits) - 1)))
    return mode, d, bits, pads, x, wu, draw(st.integers(-256, 255)), draw(st.integers(0, 255))


@given(case=dilated_cases(), relu=st.booleans(), shift=st.integers(0, 12))
def test_dilated_3x3_as_phase_jobs_is_exact(case, relu, shift):
    mode, d, bits, pads, x, wu, wmin, pv = case
    dw = mode is Mode.DEPTHWISE3X3
    acc = ne16_conv_dilated(x, wu, dilation=d, bits=bits, wmin=wmin, mode=mode, padding=pads,
                            pad_value=pv)
    ref = dilated_conv_ref(x, wu, dilation=d, wmin=wmin, depthwise=dw, pads=pads, pad_value=pv)
    assert_bit_exact(acc, ref.astype(np.int32))
    scale = np.full(wu.shape[0], 3, np.int64)
    got = ne16_conv_dilated(x, wu, dilation=d, bits=bits, wmin=wmin, mode=mode, padding=pads,
                            pad_value=pv, scale=scale, shift=shift, relu=relu)
    exp = [normquant_rtl_ref(a, 3, None, shift, relu, 8) for a in ref.reshape(-1)]
    assert_bit_exact(got, np.array(exp, np.uint8 if relu else np.int8).reshape(ref.shape))
    if d == 1:
        assert_bit_exact(acc, ne16_conv(x, wu, bits=bits, wmin=wmin, mode=mode, padding=pads,
                                        pad_value=pv))


@given(acc=hnp.arrays(np.int32, (4, 5), elements=st.one_of(
           st.integers(*I32), st.sampled_from([I32[0], -1, 0, 1, I32[1]]))),
       nq=normquant_params(5, force=True))
def test_normquant_stage_matches_rtl_reference(acc, nq):
    sb = nq.pop("scale_bits")
    got = ne16_normquant(acc, scale_bits=sb, **nq)
    shifts = [nq["shift"]] * 5 if np.isscalar(nq["shift"]) else nq["shift"]
    exp = [[normquant_rtl_ref(acc[i, k], nq["scale"][k],
                              None if nq["bias"] is None else nq["bias"][k], shifts[k],
                              nq["relu"], nq["out_bits"]) for k in range(5)] for i in range(4)]
    assert_bit_exact(got, np.array(exp).astype(got.dtype))


# -------------------------------------------------------------- hand-worked edge values

def test_accumulator_wraps_at_32_bits_both_ways():
    # 3x3, 1x1 image padded to 3x3 with pad value 255, Cin = 2000, all x = 255:
    # w_u = 255, Wmin = 255 -> w_eff = 510: 9*2000*255*510 = 2,340,900,000 >= 2**31
    # -> wraps to 2,340,900,000 - 2**32 = -1,954,067,296.
    cin = 2000
    x = np.full((1, 1, cin), 255, np.uint8)
    w = np.full((1, 3, 3, cin), 255, np.uint8)
    got = ne16_conv(x, w, bits=8, wmin=255, mode="3x3", padding=1, pad_value=255)
    assert got.tolist() == [[[-1954067296]]]
    # w_u = 0, Wmin = -256: 9*4000*255*(-256) = -2,350,080,000 -> + 2**32 = 1,944,887,296.
    x = np.full((3, 3, 4000), 255, np.uint8)
    w = np.zeros((1, 3, 3, 4000), np.uint8)
    assert ne16_conv(x, w, bits=2, wmin=-256, mode="3x3").tolist() == [[[1944887296]]]
    # 1x1 with Cin = 40,000 > 33,025 (the body's wide per-tap path): w_u = 255, Wmin = 0:
    # 40000*255*255 = 2,601,000,000 -> - 2**32 = -1,693,967,296.
    x = np.full((1, 1, 40000), 255, np.uint8)
    w = np.full((1, 1, 1, 40000), 255, np.uint8)
    assert ne16_conv(x, w, bits=8, wmin=0, mode="1x1").tolist() == [[[-1693967296]]]


def test_8bit_saturation_edges_with_and_without_relu():
    acc = np.array([[255, 256, -1, 0, 127, 128, -128, -129]], np.int32)
    one = np.ones(8, np.int64)
    assert ne16_normquant(acc, scale=one, relu=True).tolist() == [[255, 255, 0, 0, 127, 128, 0,
                                                                    0]]
    assert ne16_normquant(acc, scale=one, relu=False).tolist() == [[127, 127, -1, 0, 127, 127,
                                                                     -128, -128]]
    # floor, not rounding: -1 >> 1 = -1, 3 >> 1 = 1, -3 >> 1 = -2
    a = np.array([[-1, 3, -3]], np.int32)
    assert ne16_normquant(a, scale=np.ones(3, np.int64), shift=1).tolist() == [[-1, 1, -2]]


def test_32bit_scale_product_is_kept_modulo_2_48_without_bias():
    # acc = 1,040,400, scale = 2**32 - 1: product 4,468,483,973,718,000 >= 2**47. RTL keeps it
    # modulo 2**48: - 15*2**48 (4,222,124,650,659,840) = 246,359,323,058,160 >= 2**47
    # -> - 2**48 = -35,115,653,652,496; >> 20 = -33,488,897 (floor) -> int32 out unchanged.
    acc = np.array([[1040400]], np.int32)
    scale = np.array([2**32 - 1])
    got = ne16_normquant(acc, scale=scale, scale_bits=32, shift=20, out_bits=32)
    assert got.tolist() == [[-33488897]]
    assert normquant_rtl_ref(1040400, 2**32 - 1, None, 20, False, 32) == -33488897
    # pulp-nnx's golden model (int64 product) saturates instead: 4.47e15 >> 20 > 2**31 - 1.
    assert normquant_golden_ref(1040400, 2**32 - 1, None, 20, False, 32) == 2**31 - 1


def test_relu_32bit_output_keeps_low_32_bits_of_large_positives():
    # acc = 2**31 - 1, scale = 4, no bias, shift 0: s = 8,589,934,588 = 2**33 - 4, positive.
    # RTL with ReLU in 32-bit mode does not saturate positives: low 32 bits -> -4 as int32.
    acc = np.array([[2**31 - 1]], np.int32)
    got = ne16_normquant(acc, scale=np.array([4]), relu=True, out_bits=32)
    assert got.dtype == np.int32 and got.tolist() == [[-4]]
    assert normquant_golden_ref(2**31 - 1, 4, None, 0, True, 32) == 2**31 - 1  # golden clamps


def test_bias_path_wraps_the_product_to_32_bits_before_adding():
    # acc = 2**30, scale = 4: product 2**32 -> low 32 bits 0; + bias 5 -> 5 (RTL and golden).
    acc = np.array([[2**30]], np.int32)
    got = ne16_normquant(acc, scale=np.array([4]), bias=np.array([5], np.int32), out_bits=32)
    assert got.tolist() == [[5]]
    # without bias the 48-bit value 2**32 saturates the 32-bit output instead
    assert ne16_normquant(acc, scale=np.array([4]), out_bits=32).tolist() == [[2**31 - 1]]


def test_signed_input_bias_by_hand():
    # 1x1, Cin = 2, w_u = (3, 0), Wmin = -2 -> w_eff = (1, -2), sum = -1; scale 5, bias 7:
    # bias' = 7 - 128*5*(-1) = 647.
    w = np.array([3, 0], np.uint8).reshape(1, 1, 1, 2)
    assert signed_input_bias(w, -2, np.array([5]), np.array([7], np.int32), "1x1").tolist() \
        == [647]
    # x = (-128, 127): u8 (0, 255): acc_u = 0*1 + 255*(-2) = -510; *5 + 647 = -1903
    # = signed: (-128*1 + 127*(-2))*5 + 7 = -1903.
    x = np.array([[[-128, 127]]], np.int8)
    got = ne16_conv(x, w, bits=2, wmin=-2, mode="1x1", scale=np.array([5]),
                    bias=np.array([7], np.int32), out_bits=32, input_signed=True)
    assert got.tolist() == [[[-1903]]]


def test_out_is_written_in_place_and_shapes_follow_the_formula():
    x = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    w = np.ones((4, 3, 3, 3), np.uint8)
    assert ne16_output_shape("3x3", 5, 7, 4, stride=2, padding=(1, 0, 1, 2)) == (3, 4, 4)
    out = np.full((3, 4, 4), 99, np.int8)
    res = ne16_conv(x, w, bits=2, wmin=-2, mode="3x3", stride=2, padding=(1, 0, 1, 2),
                    scale=np.ones(4, np.int64), shift=3, out=out)
    assert res is out
    ref = ne16_conv_ref(x, w, bits=2, wmin=-2, stride=2, pads=(1, 0, 1, 2), scale=np.ones(4, np.int64),
                        shift=3, out_bits=8)
    assert_bit_exact(out, ref)


# ---------------------------------------------------------------------------------- errors

def _args(**over):
    kw = dict(bits=4, wmin=-8, mode="3x3")
    kw.update(over)
    return kw


@pytest.mark.parametrize("over, err, match", [
    (dict(bits=1), ConfigError, "1-bit weights are possible"),
    (dict(bits=9), ConfigError, "bits=9"),
    (dict(wmin=-257), ConfigError, r"wmin=-257 is outside \[-256, 255\]"),
    (dict(stride=3), ConfigError, "stride=3"),
    (dict(padding=3), ConfigError, r"each side must be in \[0, 2\]"),
    (dict(relu=True), ConfigError, "no normquant"),
    (dict(out_bits=16, scale=np.ones(2, np.int64)), ConfigError, "16-bit output mode is not wired"),
    (dict(scale=np.full(2, 256)), ConfigError, "scale contains 256"),
    (dict(scale=np.ones(2, np.int64), shift=32), ConfigError, r"shift=32 must be in \[0, 31\]"),
    (dict(scale=np.ones(2, np.int64), shift=np.array([0, 64])), ConfigError, "per-channel shift contains 64"),
    (dict(scale=np.ones(2, np.int64), scale_bits=12), ConfigError, "scale_bits=12"),
    (dict(scale=np.ones(3, np.int64)), ShapeError, r"shape \(2,\)"),
    (dict(pad_value=256), ConfigError, "pad_value=256"),
    (dict(mode="1x1"), ShapeError, r"\(Kout, 1, 1, 3\)"),
])
def test_bad_arguments_are_refused_naming_the_value(over, err, match):
    x = np.zeros((4, 4, 3), np.uint8)
    w = np.zeros((2, 3, 3, 3), np.uint8)
    with pytest.raises(err, match=match):
        ne16_conv(x, w, **_args(**over))


def test_other_bad_inputs():
    x = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ConfigError, match="does not fit bits=4"):
        ne16_conv(x, np.full((2, 3, 3, 3), 16, np.uint8), **_args())
    with pytest.raises(ConfigError, match="No padding on 1x1|no padding on 1x1"):
        ne16_conv(x, np.zeros((2, 1, 1, 3), np.uint8), **_args(mode="1x1", padding=1))
    with pytest.raises(ShapeError, match="dtype=int8 must be uint8"):
        ne16_conv(x.view(np.int8), np.zeros((2, 3, 3, 3), np.uint8), **_args())
    with pytest.raises(ConfigError, match="input_signed=True needs the normquant bias stage"):
        ne16_conv(x.view(np.int8), np.zeros((2, 3, 3, 3), np.uint8), **_args(input_signed=True))
    with pytest.raises(ShapeError, match="no channel multiplier"):
        ne16_conv(x, np.zeros((2, 3, 3, 1), np.uint8), **_args(mode="dw3x3"))
    with pytest.raises(ShapeError, match="smaller than the 3x3 window"):
        ne16_conv(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3, 3), np.uint8), **_args())
    with pytest.raises(ConfigError, match="dilation applies to 3x3 and dw3x3 only"):
        ne16_conv_dilated(x, np.zeros((2, 1, 1, 3), np.uint8), dilation=2, **_args(mode="1x1"))
