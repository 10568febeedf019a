"""ModelBuilder writes the tensors, constants and options it is given; the reader gets them back."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.errors import ConfigError, ShapeError
from edgesed.tflite import ModelBuilder, pack_int4, read_tflite
from edgesed.tflite import schema as sch
from edgesed.tflite.reader import unpack_int4


def _conv_model(**conv_options):
    b = ModelBuilder(description="conv test")
    x = b.tensor((1, 7, 6, 3), "int8", scale=0.05, zero_point=-3, name="x")
    w = b.const(np.arange(4 * 3 * 3 * 3).reshape(4, 3, 3, 3).astype(np.int8) - 50,
                scale=[0.01, 0.02, 0.03, 0.04], zero_point=0, name="w")
    bias = b.const(np.array([-5, 0, 7, 1 << 20], np.int32), scale=[5e-4, 1e-3, 1.5e-3, 2e-3],
                   name="bias")
    y = b.tensor((1, 7, 6, 4), "int8", scale=0.1, zero_point=5, name="y")
    b.op("CONV_2D", [x, w, bias], [y], **conv_options)
    b.set_io([x], [y])
    return b.finish()


def test_finish_writes_a_tflite_flatbuffer_deterministically():
    m = _conv_model(padding="SAME")
    assert m[4:8] == b"TFL3"
    assert _conv_model(padding="SAME") == m
    assert _conv_model(padding="VALID") != m


def test_conv_round_trip_keeps_tensors_quantization_data_and_options():
    m = read_tflite(_conv_model(padding="VALID", stride_w=2, stride_h=1, dilation_w_factor=2,
                                fused_activation_function="RELU6"))
    assert m.description == "conv test" and m.inputs == (0,) and m.outputs == (3,)
    x, w, bias, y = m.tensors
    assert (x.name, x.shape, x.dtype, x.zero_point, x.data) == ("x", (1, 7, 6, 3), "INT8", (-3,),
                                                               None)
    assert x.scale == (pytest.approx(0.05),)
    assert w.shape == (4, 3, 3, 3) and w.dtype == "INT8" and w.zero_point == (0, 0, 0, 0)
    assert np.array_equal(w.data, np.arange(108).reshape(4, 3, 3, 3) - 50)
    assert w.data.dtype == np.int8 and not w.data.flags.writeable
    assert w.scale == tuple(np.float32([0.01, 0.02, 0.03, 0.04]).tolist())   # float32 on disk
    assert bias.dtype == "INT32" and bias.data.tolist() == [-5, 0, 7, 1 << 20]
    assert bias.zero_point == (0, 0, 0, 0)                                     # defaulted
    (op,) = m.operators
    assert (op.opcode, op.inputs, op.outputs, op.version) == ("CONV_2D", (0, 1, 2), (3,), 3)
    assert op.options == {"padding": "VALID", "stride_w": 2, "stride_h": 1,
                          "fused_activation_function": "RELU6", "dilation_w_factor": 2,
                          "dilation_h_factor": 1, "quantized_bias_type": 0}


def _all_ops_model():
    b = ModelBuilder()
    f = lambda shape, **kw: b.tensor(shape, "int8", scale=0.1, zero_point=1, **kw)   # noqa: E731
    x = f((1, 6, 6, 2), name="x")
    dw_w = b.const(np.ones((1, 3, 3, 4), np.int8), scale=[0.1] * 4, quantized_dimension=3)
    dw_b = b.const(np.zeros(4, np.int32), scale=[0.01] * 4)
    dw = f((1, 3, 3, 4))
    b.op("DEPTHWISE_CONV_2D", [x, dw_w, dw_b], [dw], padding="SAME", stride_w=2, stride_h=2)
    mp = f((1, 2, 2, 4))
    b.op("MAX_POOL_2D", [dw], [mp], padding="VALID", filter_width=2, filter_height=2)
    ap = f((1, 2, 2, 4))
    b.op("AVERAGE_POOL_2D", [mp], [ap], padding="SAME", filter_width=3, filter_height=1,
         fused_activation_function="RELU")
    shape = b.const(np.array([1, 16], np.int32))
    flat = f((1, 16))
    b.op("RESHAPE", [ap, shape], [flat], new_shape=[1, 16])
    fc_w = b.const(np.full((5, 16), -3, np.int8), dtype="int4", scale=0.2)
    fc = f((1, 5))
    b.op("FULLY_CONNECTED", [flat, fc_w, -1], [fc], keep_num_dims=True)
    add = f((1, 5))
    b.op("ADD", [fc, fc], [add], fused_activation_function="RELU")
    mul = f((1, 5))
    b.op("MUL", [add, fc], [mul])
    sm = b.tensor((1, 5), "int8", scale=1 / 256, zero_point=-128)
    b.op("SOFTMAX", [mul], [sm])
    deq = b.tensor((1, 5), np.float32)
    b.op("DEQUANTIZE", [sm], [deq])
    q = b.tensor((1, 5), "int16", scale=1e-4, zero_point=0)
    b.op("QUANTIZE", [deq], [q])
    b.op("MY_POSTPROCESS", [q], [b.tensor((1,), "int32")], custom=True, custom_options=b"\x01")
    b.set_io([x], [q])
    return b.finish()


def test_every_documented_op_round_trips_with_its_options():
    m = read_tflite(_all_ops_model(), allow_float=True)
    ops = {op.opcode: op.options for op in m.operators}
    assert list(ops) == ["DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE",
                         "FULLY_CONNECTED", "ADD", "MUL", "SOFTMAX", "DEQUANTIZE", "QUANTIZE",
                         "CUSTOM:MY_POSTPROCESS"]
    assert ops["DEPTHWISE_CONV_2D"]["depth_multiplier"] == 2          # derived from shapes
    assert ops["DEPTHWISE_CONV_2D"]["padding"] == "SAME"
    assert ops["MAX_POOL_2D"] == {"padding": "VALID", "stride_w": 1, "stride_h": 1,
                                  "filter_width": 2, "filter_height": 2,
                                  "fused_activation_function": "NONE"}
    assert ops["AVERAGE_POOL_2D"]["fused_activation_function"] == "RELU"
    assert ops["RESHAPE"] == {"new_shape": [1, 16]}
    assert ops["FULLY_CONNECTED"]["keep_num_dims"] is True
    assert ops["FULLY_CONNECTED"]["weights_format"] == "DEFAULT"
    assert ops["SOFTMAX"] == {"beta": 1.0}
    assert ops["ADD"]["fused_activation_function"] == "RELU"
    custom = m.operators[-1]
    assert custom.custom_code == "MY_POSTPROCESS" and custom.options == {}
    fc = m.operators[4]
    assert fc.inputs[2] == -1
    w = m.tensors[fc.inputs[1]]
    assert w.dtype == "INT4" and w.int4 and w.data.dtype == np.int8
    assert np.array_equal(w.data, np.full((5, 16), -3))
    dw_w = m.tensors[m.operators[0].inputs[1]]
    assert dw_w.quantized_dimension == 3 and len(dw_w.scale) == 4
    assert m.tensors[m.operators[-2].outputs[0]].dtype == "INT16"


def test_lstm_options_and_variable_tensors_round_trip():
    b = ModelBuilder()
    x = b.tensor((1, 3, 4), "int8", scale=0.1, zero_point=0)
    h = b.tensor((1, 2), "int8", scale=1 / 128, zero_point=0, variable=True, name="h")
    y = b.tensor((1, 3, 2), "int8", scale=1 / 128, zero_point=0)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [x] + [-1] * 17 + [h, -1] + [-1] * 4, [y],
         fused_activation_function="TANH", cell_clip=10.0, time_major=False)
    b.set_io([x], [y])
    m = read_tflite(b.finish())
    (op,) = m.operators
    assert op.options["fused_activation_function"] == "TANH"
    assert op.options["cell_clip"] == 10.0 and op.options["time_major"] is False
    assert len(op.inputs) == 24 and op.inputs[18] == 1
    assert m.tensor("h").variable and not m.tensors[0].variable


def test_constant_buffers_are_16_byte_aligned():
    data = _conv_model(padding="SAME")
    fb = sch.schema()
    model = fb.Model.GetRootAs(data, 0)
    positions = []
    for i in range(1, model.BuffersLength()):
        buf = model.Buffers(i)
        if buf.DataLength():
            positions.append(buf._tab.Vector(buf._tab.Offset(4)))
    assert len(positions) == 2 and all(p % 16 == 0 for p in positions)


def test_pack_int4_hand_worked_nibble_order():
    assert pack_int4([1, 2, 3, 4]).tolist() == [0x21, 0x43]
    assert pack_int4([-1, 7, 5]).tolist() == [0x7F, 0x05]       # odd count: high nibble 0
    assert pack_int4([-8, 0]).tolist() == [0x08]
    assert unpack_int4(bytes([0x21, 0x43]), 4).tolist() == [1, 2, 3, 4]
    assert unpack_int4(bytes([0x8F]), 2).tolist() == [-1, -8]


@given(st.lists(st.integers(-8, 7), min_size=0, max_size=41))
def test_pack_int4_round_trips(values):
    packed = pack_int4(np.array(values, np.int8))
    assert packed.size == (len(values) + 1) // 2
    assert unpack_int4(packed.tobytes(), len(values)).tolist() == values


@pytest.mark.parametrize("call, error, match", [
    (lambda b, x: b.op("CONV_2D", [x], [x], padding="SAME", stride=2), ConfigError,
     "'stride' is not an option of 'CONV_2D'"),
    (lambda b, x: b.op("CONV_2D", [x], [x], padding="HALF"), ConfigError, "padding='HALF'"),
    (lambda b, x: b.op("CONVOLUTION", [x], [x]), ConfigError, "not a TFLite BuiltinOperator"),
    (lambda b, x: b.op("MAX_POOL_2D", [x], [x], padding="SAME"), ConfigError, "filter_width"),
    (lambda b, x: b.op("TANH", [x], [x], beta=1.0), ConfigError, "no builtin options"),
    (lambda b, x: b.op("TANH", [x], [7]), ShapeError, "refers to tensor 7"),
    (lambda b, x: b.op("TANH", [x], [-1]), ShapeError, "-1 only for optional inputs"),
    (lambda b, x: b.tensor((1, 3), "int8", scale=[0.1, 0.2], quantized_dimension=1),
     ShapeError, "per-channel scales do not match"),
    (lambda b, x: b.tensor((3,), "int8", scale=[0.1] * 3, zero_point=[0, 1]), ShapeError,
     "zero_point has 2 values"),
    (lambda b, x: b.tensor((3,), "int8", zero_point=3), ConfigError, "without a scale"),
    (lambda b, x: b.tensor((3,), "complex64"), ConfigError, "has no TFLite TensorType"),
    (lambda b, x: b.const(np.array([200]), dtype=np.int8, scale=1.0), ConfigError,
     "does not fit int8"),
    (lambda b, x: b.const(np.array([8, 0]), dtype="int4", scale=1.0), ConfigError,
     r"\[-8, 7\]"),
    (lambda b, x: b.set_io([x], [5]), ShapeError, "not a tensor id"),
    (lambda b, x: b.finish(), ConfigError, "set_io"),
])
def test_builder_errors_name_the_problem(call, error, match):
    b = ModelBuilder()
    x = b.tensor((1, 4), "int8", scale=0.1, zero_point=0)
    with pytest.raises(error, match=match):
        call(b, x)


@pytest.mark.oracle
def test_tflite_micro_reads_int4_weights_in_the_packed_nibble_order():
    """An identity input through an int4 FC reads back every weight, odd row length included."""
    from edgesed.tflite import run_tflm
    rng = np.random.default_rng(3)
    for n_in in (4, 5):
        w = rng.integers(-8, 8, (3, n_in)).astype(np.int8)
        b = ModelBuilder()
        x = b.tensor((1, n_in), "int8", scale=1.0, zero_point=0)
        wt = b.const(w, dtype="int4", scale=1.0, zero_point=0)
        y = b.tensor((1, 3), "int8", scale=1.0, zero_point=0)
        b.op("FULLY_CONNECTED", [x, wt, -1], [y])
        b.set_io([x], [y])
        model = b.finish()
        eye = np.eye(n_in, dtype=np.int8)
        got = np.array([run_tflm(model, [eye[i:i + 1]])[0][0] for i in range(n_in)]).T
        assert np.array_equal(got, w), n_in
