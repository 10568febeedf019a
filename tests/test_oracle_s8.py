"""The s8/s4 kernels give tflite-micro's bits on single-op models over hypothesis-drawn cases.

Every case builds a one-operator int8 ``.tflite`` with :class:`edgesed.tflite.ModelBuilder`, runs
it in the tflite-micro interpreter (TFLM's reference kernels; CMSIS-NN is bit-exact with them)
and compares the output bit for bit with the kernel. Kernel parameters are derived from the
model as TFLM's Prepare derives them, from the float32 scales stored in the flatbuffer (read
back with :func:`edgesed.tflite.read_tflite`):

- per-channel conv/depthwise/FC: ``QuantizeMultiplier(double(in) * double(w[c]) / double(out))``;
- per-tensor FC: ``QuantizeMultiplier(double(float(in * w)) / double(out))``
  (``GetQuantizedConvolutionMultipler``);
- activation range (``CalculateActivationRangeQuantized``): ``zp + round(f / scale)`` in float32
  for f = 0 (RELU), 6 (RELU6), +-1 (RELU_N1_TO_1), clipped to [-128, 127];
- padding (``ComputePaddingHeightWidth``): SAME out = ceil(in / stride), VALID out =
  ceil((in - eff + 1) / stride), total = max((out - 1) * stride + eff - in, 0), top/left =
  total // 2 (the odd pixel goes to the bottom/right), eff = (k - 1) * dilation + 1.

``CASES`` counts the cases run per op; the last test prints it (``pytest -s``).
"""
from __future__ import annotations

import collections
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.testing import assert_bit_exact
from edgesed.tflite import ModelBuilder, read_tflite, run_tflm

pytestmark = pytest.mark.oracle
pytest.importorskip("tflite_micro")

CASES: collections.Counter = collections.Counter()
SPREAD: collections.Counter = collections.Counter()   # cases whose output has >= 3 values
ACTS = ["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"]   # sampled; NONE twice as often


def _kernel(module: str, name: str):
    """``kernels.<module>.<name>`` (an import error fails the test: no silent skip)."""
    return getattr(importlib.import_module(f"kernels.{module}"), name)


# ----------------------------------------------------------------- TFLM Prepare, restated

def _act_range(act: str, scale: float, zp: int) -> tuple[int, int]:
    """TFLM ``CalculateActivationRangeQuantized`` for int8 (float32 division, std::round)."""
    def q(f):
        v = float(np.float32(f) / np.float32(scale))        # the float32 quotient, exactly
        r = np.floor(abs(v))
        r += abs(v) - r >= 0.5                              # std::round: half away from zero
        return zp + int(np.copysign(r, v))
    lo, hi = -128, 127
    if act == "RELU":
        return max(lo, q(0.0)), hi
    if act == "RELU6":
        return max(lo, q(0.0)), min(hi, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def _padding(size: int, k: int, stride: int, dil: int, padding: str) -> tuple[int, int]:
    """TFLM ``ComputeOutSize`` + ``ComputePaddingHeightWidth``: (out size, pad before)."""
    eff = (k - 1) * dil + 1
    out = (size + stride - 1) // stride if padding == "SAME" else (size + stride - eff) // stride
    total = max((out - 1) * stride + eff - size, 0)
    return out, total // 2


def _per_channel(in_scale, w_scales, out_scale):
    """(multiplier, shift) int32 arrays as TFLM's per-channel Prepare makes them."""
    from kernels.requantize_s8 import quantize_multiplier
    pairs = [quantize_multiplier(float(in_scale) * float(w) / float(out_scale)) for w in w_scales]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


def _per_tensor_fc(in_scale, w_scale, out_scale):
    """TFLM ``GetQuantizedConvolutionMultipler``: float32 product, double division."""
    from kernels.requantize_s8 import quantize_multiplier
    prod = float(np.float32(in_scale) * np.float32(w_scale))
    return quantize_multiplier(prod / float(out_scale))


def _scales(m, op_index=0):
    """(input scale, filter scales, output scale) of operator ``op_index`` as stored (float32)."""
    op = m.operators[op_index]
    return (m.tensors[op.inputs[0]].scale[0], m.tensors[op.inputs[1]].scale,
            m.tensors[op.outputs[0]].scale[0])


def _check(got, expected, what: str, op: str) -> None:
    """Bit-exact comparison; counts the case for ``op`` (and whether its output is spread)."""
    try:
        assert_bit_exact(got, expected)
    except AssertionError as err:
        raise AssertionError(f"{what}: kernel differs from tflite-micro: {err}") from None
    CASES[op] += 1
    SPREAD[op] += len(np.unique(expected)) >= 3


# ----------------------------------------------------------------------- drawn parameters

def int_arrays(dtype, shape, *, edges: bool = True, lo=None, hi=None):
    """Integer arrays from a drawn seed (numpy fills them: drawing each element through
    hypothesis costs ~60 ms a case). With ``edges`` a drawn fraction (0, 1/8 or 1/2) of the
    elements sits on min, min+1, -1, 0, 1, max-1, max."""
    info = np.iinfo(dtype)
    lo = int(info.min) if lo is None else lo
    hi = int(info.max) if hi is None else hi
    corners = np.array(sorted({lo, lo + 1, -1, 0, 1, hi - 1, hi}), np.int64)

    def make(args):
        seed, frac = args
        rng = np.random.default_rng(seed)
        a = rng.integers(lo, hi + 1, shape)
        if edges and frac:
            mask = rng.random(shape) < frac
            a[mask] = rng.choice(corners, int(mask.sum()))
        return a.astype(dtype)
    return st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.125, 0.5])).map(make)


zero_points = st.one_of(st.integers(-128, 127), st.integers(-128, 127),
                        st.sampled_from([-128, -127, 0, 126, 127]))
log2_gain = st.floats(-2.5, 4.0)      # output scale relative to one that spreads the output


def _quant(data, depth: int, cout: int, per_channel: bool, bits: int = 8):
    """Draw (in_scale, w_scales, out_scale, in_zp, out_zp): out_scale puts a typical accumulator
    of ``depth`` taps near +-40 LSB, times 2**gain (saturating at the low end of the gain range);
    int4 weights (rms ~4.6 against ~74 for int8) get a 16x finer output scale."""
    in_scale = data.draw(st.floats(1e-3, 1.0), label="in_scale")
    base = data.draw(st.floats(1e-3, 5e-2), label="w_scale")
    if per_channel:
        w_scales = [base * data.draw(st.floats(0.25, 4.0)) for _ in range(cout)]
    else:
        w_scales = [base]
    gain = data.draw(log2_gain, label="log2_gain")
    out_scale = in_scale * base * 137.0 * np.sqrt(depth) * 2.0 ** gain / (16 if bits == 4 else 1)
    return in_scale, w_scales, out_scale, data.draw(zero_points, label="in_zp"), \
        data.draw(zero_points, label="out_zp")


_WDTYPE = {8: "int8", 4: "int4"}


def _weights(shape, bits: int):
    """int8 weights; for 4 bits int8 values in [-8, 7] (the builder packs them)."""
    if bits == 8:
        return int_arrays(np.int8, shape)
    return int_arrays(np.int8, shape, lo=-8, hi=7)


def _weight_args(wt, bits: int) -> tuple:
    """(leading weight arguments, weight keywords) for the kernel: ``((w,), {})`` for s8; for
    s4 the packed bytes (checked equal to what the flatbuffer stores) and ``filter_shape``."""
    if bits == 8:
        return (wt,), {}
    from edgesed.tflite import pack_int4
    from kernels.s4 import pack_s4
    packed = pack_s4(wt)
    assert packed.view(np.uint8).tobytes() == pack_int4(wt).tobytes()
    return (packed,), {"filter_shape": wt.shape}


def _bias(data, n: int):
    if data.draw(st.booleans(), label="no_bias"):
        return None
    return data.draw(int_arrays(np.int32, (n,), edges=False).map(
        lambda a: (a >> data.draw(st.integers(8, 31), label="bias_shift")).astype(np.int32)),
        label="bias")


# ----------------------------------------------------------------------------- CONV_2D

def _geometry(data, kernel_max=4, dil_max=3, size_max=9):
    """(kh, kw, sy, sx, dy, dx, padding, H, W) with VALID windows fitting the input."""
    kh, kw = data.draw(st.integers(1, kernel_max)), data.draw(st.integers(1, kernel_max))
    sy, sx = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    dy, dx = data.draw(st.integers(1, dil_max)), data.draw(st.integers(1, dil_max))
    padding = data.draw(st.sampled_from(["SAME", "VALID"]))
    lo_h = (kh - 1) * dy + 1 if padding == "VALID" else 1
    lo_w = (kw - 1) * dx + 1 if padding == "VALID" else 1
    h = data.draw(st.integers(lo_h, max(lo_h, size_max)))
    w = data.draw(st.integers(lo_w, max(lo_w, size_max)))
    return kh, kw, sy, sx, dy, dx, padding, h, w


@pytest.mark.parametrize("bits", [8, 4], ids=["s8", "s4"])
@given(data=st.data())
def test_convolve_matches_tflite_micro_conv_2d(data, bits):
    kernel = _kernel(*(("convolve_s8", "convolve_s8") if bits == 8 else ("s4", "convolve_s4")))
    kh, kw, sy, sx, dy, dx, padding, h, w = _geometry(data)
    groups = data.draw(st.sampled_from([1, 1, 2, 3]), label="groups")
    cin = groups * data.draw(st.integers(1, 4), label="cin_per_group")
    cout = groups * data.draw(st.integers(1, 4), label="cout_per_group")
    per_channel = data.draw(st.booleans(), label="per_channel")
    act = data.draw(st.sampled_from(ACTS), label="act")
    in_s, w_s, out_s, in_zp, out_zp = _quant(data, kh * kw * cin // groups, cout, per_channel,
                                             bits)
    oh, pad_t = _padding(h, kh, sy, dy, padding)
    ow, pad_l = _padding(w, kw, sx, dx, padding)
    x = data.draw(int_arrays(np.int8, (h, w, cin)), label="x")
    wt = data.draw(_weights((cout, kh, kw, cin // groups), bits), label="w")
    bias = _bias(data, cout)

    b = ModelBuilder()
    tx = b.tensor((1, h, w, cin), "int8", scale=in_s, zero_point=in_zp)
    tw = b.const(wt, dtype=_WDTYPE[bits], scale=w_s, zero_point=0)
    tb = -1 if bias is None else b.const(bias, scale=[in_s * s for s in w_s], zero_point=0)
    ty = b.tensor((1, oh, ow, cout), "int8", scale=out_s, zero_point=out_zp)
    b.op("CONV_2D", [tx, tw, tb], [ty], padding=padding, stride_h=sy, stride_w=sx,
         dilation_h_factor=dy, dilation_w_factor=dx, fused_activation_function=act)
    b.set_io([tx], [ty])
    model = b.finish()
    (expected,) = run_tflm(model, [x])

    m = read_tflite(model)
    s_in, s_w, s_out = _scales(m)
    mult, shift = _per_channel(s_in, s_w * (cout if len(s_w) == 1 else 1), s_out)
    act_min, act_max = _act_range(act, s_out, out_zp)
    w_args, w_kw = _weight_args(wt, bits)
    got = kernel(x, *w_args, bias, **w_kw, input_offset=-in_zp, output_offset=out_zp,
                 multiplier=mult, shift=shift, stride=(sy, sx), padding=(pad_t, pad_l),
                 dilation=(dy, dx), groups=groups, act_min=act_min, act_max=act_max,
                 out=np.empty((oh, ow, cout), np.int8))
    _check(got, expected.reshape(oh, ow, cout),
           f"CONV_2D s{bits} {padding} k=({kh},{kw}) s=({sy},{sx}) d=({dy},{dx}) groups={groups} "
           f"in=({h},{w},{cin}) cout={cout} act={act} zp=({in_zp},{out_zp})", f"CONV_2D/s{bits}")


# ------------------------------------------------------------------- DEPTHWISE_CONV_2D

@pytest.mark.parametrize("bits", [8, 4], ids=["s8", "s4"])
@given(data=st.data())
def test_depthwise_conv_matches_tflite_micro_depthwise_conv_2d(data, bits):
    kernel = _kernel(*(("depthwise_s8", "depthwise_conv_s8") if bits == 8
                       else ("s4", "depthwise_conv_s4")))
    kh, kw, sy, sx, dy, dx, padding, h, w = _geometry(data)
    cin = data.draw(st.integers(1, 6), label="cin")
    mult = data.draw(st.sampled_from([1, 1, 2, 3, 4]), label="ch_mult")
    cout = cin * mult
    per_channel = data.draw(st.booleans(), label="per_channel")
    act = data.draw(st.sampled_from(ACTS), label="act")
    in_s, w_s, out_s, in_zp, out_zp = _quant(data, kh * kw, cout, per_channel, bits)
    oh, pad_t = _padding(h, kh, sy, dy, padding)
    ow, pad_l = _padding(w, kw, sx, dx, padding)
    x = data.draw(int_arrays(np.int8, (h, w, cin)), label="x")
    wt = data.draw(_weights((kh, kw, cout), bits), label="w")
    bias = _bias(data, cout)

    b = ModelBuilder()
    tx = b.tensor((1, h, w, cin), "int8", scale=in_s, zero_point=in_zp)
    tw = b.const(wt.reshape(1, kh, kw, cout), dtype=_WDTYPE[bits], scale=w_s, zero_point=0,
                 quantized_dimension=3)
    # TFLM crashes on a depthwise conv without bias: give it zeros, the kernel gets None.
    tb = b.const(np.zeros(cout, np.int32) if bias is None else bias,
                 scale=[in_s * s for s in w_s], zero_point=0)
    ty = b.tensor((1, oh, ow, cout), "int8", scale=out_s, zero_point=out_zp)
    b.op("DEPTHWISE_CONV_2D", [tx, tw, tb], [ty], padding=padding, stride_h=sy, stride_w=sx,
         dilation_h_factor=dy, dilation_w_factor=dx, depth_multiplier=mult,
         fused_activation_function=act)
    b.set_io([tx], [ty])
    model = b.finish()
    (expected,) = run_tflm(model, [x])

    m = read_tflite(model)
    s_in, s_w, s_out = _scales(m)
    mult_q, shift = _per_channel(s_in, s_w * (cout if len(s_w) == 1 else 1), s_out)
    act_min, act_max = _act_range(act, s_out, out_zp)
    w_args, w_kw = _weight_args(wt, bits)
    got = kernel(x, *w_args, bias, **w_kw, ch_mult=mult, input_offset=-in_zp,
                 output_offset=out_zp, multiplier=mult_q, shift=shift, stride=(sy, sx),
                 padding=(pad_t, pad_l), dilation=(dy, dx), act_min=act_min, act_max=act_max,
                 out=np.empty((oh, ow, cout), np.int8))
    _check(got, expected.reshape(oh, ow, cout),
           f"DEPTHWISE_CONV_2D s{bits} {padding} k=({kh},{kw}) s=({sy},{sx}) d=({dy},{dx}) "
           f"ch_mult={mult} in=({h},{w},{cin}) act={act} zp=({in_zp},{out_zp})",
           f"DEPTHWISE_CONV_2D/s{bits}")


# ----------------------------------------------------------------------- FULLY_CONNECTED

# TFLM's FC takes per-channel scales for int8 weights only (it refuses int4 per-channel).
@pytest.mark.parametrize("bits, per_channel", [(8, False), (8, True), (4, False)],
                         ids=["s8_per_tensor", "s8_per_channel", "s4_per_tensor"])
@given(data=st.data())
def test_fully_connected_matches_tflite_micro_fully_connected(data, bits, per_channel):
    kernel = _kernel(*(("fully_connected_s8", "fully_connected_s8") if bits == 8
                       else ("s4", "fully_connected_s4")))
    batches = data.draw(st.integers(1, 3), label="batches")
    n = data.draw(st.integers(1, 64), label="accum_depth")
    cout = data.draw(st.integers(1, 12), label="cout")
    act = data.draw(st.sampled_from(ACTS), label="act")
    in_s, w_s, out_s, in_zp, out_zp = _quant(data, n, cout, per_channel, bits)
    x = data.draw(int_arrays(np.int8, (batches, n)), label="x")
    wt = data.draw(_weights((cout, n), bits), label="w")
    bias = _bias(data, cout)

    b = ModelBuilder()
    tx = b.tensor((batches, n), "int8", scale=in_s, zero_point=in_zp)
    tw = b.const(wt, dtype=_WDTYPE[bits], scale=w_s, zero_point=0)
    tb = -1 if bias is None else b.const(bias, scale=[in_s * s for s in w_s], zero_point=0)
    ty = b.tensor((batches, cout), "int8", scale=out_s, zero_point=out_zp)
    b.op("FULLY_CONNECTED", [tx, tw, tb], [ty], fused_activation_function=act)
    b.set_io([tx], [ty])
    model = b.finish()
    (expected,) = run_tflm(model, [x])

    m = read_tflite(model)
    s_in, s_w, s_out = _scales(m)
    if per_channel:
        mult, shift = _per_channel(s_in, s_w, s_out)
    else:
        mult, shift = _per_tensor_fc(s_in, s_w[0], s_out)
    act_min, act_max = _act_range(act, s_out, out_zp)
    w_args, w_kw = _weight_args(wt, bits)
    got = kernel(x, *w_args, bias, **w_kw, input_offset=-in_zp, output_offset=out_zp,
                 multiplier=mult, shift=shift, act_min=act_min, act_max=act_max)
    _check(got, expected.reshape(batches, cout),
           f"FULLY_CONNECTED s{bits} {'per-channel' if per_channel else 'per-tensor'} B={batches} "
           f"N={n} cout={cout} act={act} zp=({in_zp},{out_zp})",
           f"FULLY_CONNECTED/s{bits}/" + ("per-channel" if per_channel else "per-tensor"))


# ----------------------------------------------------------- MAX_POOL_2D, AVERAGE_POOL_2D

@pytest.mark.parametrize("opname", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
@given(data=st.data())
def test_pool_s8_matches_tflite_micro_pooling(data, opname):
    pool = _kernel("pool_s8", "max_pool_s8" if opname == "MAX_POOL_2D" else "avg_pool_s8")
    kh, kw, sy, sx, _, _, padding, h, w = _geometry(data, kernel_max=5, dil_max=1)
    c = data.draw(st.integers(1, 6), label="channels")
    act = data.draw(st.sampled_from(ACTS), label="act")
    scale = data.draw(st.floats(1e-3, 0.1), label="scale")
    zp = data.draw(zero_points, label="zp")
    oh, pad_t = _padding(h, kh, sy, 1, padding)
    ow, pad_l = _padding(w, kw, sx, 1, padding)
    x = data.draw(int_arrays(np.int8, (h, w, c)), label="x")

    b = ModelBuilder()
    tx = b.tensor((1, h, w, c), "int8", scale=scale, zero_point=zp)
    ty = b.tensor((1, oh, ow, c), "int8", scale=scale, zero_point=zp)
    b.op(opname, [tx], [ty], padding=padding, stride_h=sy, stride_w=sx, filter_height=kh,
         filter_width=kw, fused_activation_function=act)
    b.set_io([tx], [ty])
    model = b.finish()
    (expected,) = run_tflm(model, [x])

    act_min, act_max = _act_range(act, read_tflite(model).tensors[1].scale[0], zp)
    got = pool(x, kernel=(kh, kw), stride=(sy, sx), padding=(pad_t, pad_l), act_min=act_min,
               act_max=act_max, out=np.empty((oh, ow, c), np.int8))
    _check(got, expected.reshape(oh, ow, c),
           f"{opname} {padding} k=({kh},{kw}) s=({sy},{sx}) in=({h},{w},{c}) act={act} zp={zp}",
           opname)


# --------------------------------------------------------------- the harness itself

def _float_lstm(steps: int, n_in=3, n_cell=4, seed=0) -> bytes:
    """A float32 UNIDIRECTIONAL_SEQUENCE_LSTM (batch 1, ``steps`` time steps) with variable
    output/cell state tensors: the simplest stateful model TFLM runs."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    f32 = np.float32
    x = b.tensor((1, steps, n_in), f32, name="x")
    ins = [x]
    ins += [b.const(rng.uniform(-1, 1, (n_cell, n_in)).astype(f32)) for _ in range(4)]
    ins += [b.const(rng.uniform(-1, 1, (n_cell, n_cell)).astype(f32)) for _ in range(4)]
    ins += [-1, -1, -1]                                               # no peepholes
    ins += [b.const(rng.uniform(-0.5, 0.5, n_cell).astype(f32)) for _ in range(4)]
    ins += [-1, -1]                                                   # no projection
    ins += [b.tensor((1, n_cell), f32, variable=True, name="h"),
            b.tensor((1, n_cell), f32, variable=True, name="c")]
    ins += [-1] * 4                                                   # no layer norm
    y = b.tensor((1, steps, n_cell), f32, name="y")
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], fused_activation_function="TANH",
         time_major=False)
    b.set_io([x], [y])
    return b.finish()


def test_run_tflm_keeps_variable_state_between_invokes():
    xs = np.random.default_rng(1).uniform(-1, 1, (3, 1, 1, 3)).astype(np.float32)
    steps = run_tflm(_float_lstm(1), [list(xs)], invokes=3)
    (whole,) = run_tflm(_float_lstm(3), [xs.reshape(1, 3, 3)])
    assert len(steps) == 3 and all(len(s) == 1 for s in steps)
    for t in range(3):       # invoke t continues from the state invoke t-1 left
        np.testing.assert_array_equal(steps[t][0].reshape(-1), whole[0, t])
    assert not np.array_equal(steps[0][0], steps[1][0]) or not np.array_equal(xs[0], xs[1])
    (first,) = run_tflm(_float_lstm(1), [xs[1]])            # a fresh interpreter starts at 0
    assert not np.array_equal(first, steps[1][0])


def test_run_tflm_refuses_a_depthwise_conv_without_bias_instead_of_crashing():
    from edgesed.errors import ConfigError
    b = ModelBuilder()
    x = b.tensor((1, 3, 3, 2), "int8", scale=0.1, zero_point=0)
    w = b.const(np.ones((1, 2, 2, 2), np.int8), scale=[0.1, 0.1], quantized_dimension=3)
    y = b.tensor((1, 2, 2, 2), "int8", scale=0.1, zero_point=0)
    b.op("DEPTHWISE_CONV_2D", [x, w, -1], [y], padding="VALID")
    b.set_io([x], [y])
    with pytest.raises(ConfigError, match="DEPTHWISE_CONV_2D.*no bias.*zero int32 bias"):
        run_tflm(b.finish(), [np.zeros((1, 3, 3, 2), np.int8)])


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x00ONNX", b"\x10\x00\x00\x00TFL3\x00"])
def test_run_tflm_refuses_bytes_that_are_not_a_tflite_model(data):
    from edgesed.errors import ModelFormatError
    with pytest.raises(ModelFormatError, match=rf"\({len(data)} bytes"):
        run_tflm(data, [])


def test_run_tflm_refuses_wrong_input_count_and_dtype():
    from edgesed.errors import ShapeError
    model = _float_lstm(1)
    with pytest.raises(ShapeError, match="1 inputs but 2"):
        run_tflm(model, [np.zeros((1, 1, 3), np.float32)] * 2)
    with pytest.raises(ShapeError, match="wants float32"):
        run_tflm(model, [np.zeros((1, 1, 3), np.int8)])


def _fc_chain(hidden: int) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 100), "int8", scale=0.1, zero_point=0)
    h = b.tensor((1, hidden), "int8", scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [x, b.const(np.ones((hidden, 100), np.int8), scale=0.1), -1], [h])
    y = b.tensor((1, 100), "int8", scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [h, b.const(np.ones((100, hidden), np.int8), scale=0.1), -1], [y])
    b.set_io([x], [y])
    return b.finish()


def test_tflm_arena_head_is_the_greedy_plan_of_live_activations():
    """x (100 B) and h live together in the first FC: head = align16(100) + align16(hidden)."""
    from edgesed.tflite import tflm_arena_breakdown, tflm_arena_bytes
    small, big = tflm_arena_breakdown(_fc_chain(200)), tflm_arena_breakdown(_fc_chain(1000))
    assert small["head"] == 112 + 208 and big["head"] == 112 + 1008
    assert small["total"] == small["head"] + small["tail"] and small["tail"] > 0
    assert big["total"] - small["total"] == 800
    assert tflm_arena_bytes(_fc_chain(200)) == small["total"]


def test_zz_report_case_counts():
    """Print how many oracle cases ran per op (run with -s to see it)."""
    if not CASES:
        pytest.skip("no oracle case ran in this session")
    print("\noracle cases per op (with >= 3 distinct output values): "
          + ", ".join(f"{k}={v} ({SPREAD[k]})" for k, v in sorted(CASES.items())))
