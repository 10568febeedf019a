"""read_tflite describes integer models and refuses everything else with a ModelFormatError."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.errors import ModelFormatError
from edgesed.tflite import ModelBuilder, read_tflite, unsupported_ops
from edgesed.tflite import schema as sch


def _int8_model():
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), "int8", scale=0.05, zero_point=3, name="x")
    w = b.const(np.arange(-16, 16, dtype=np.int8).reshape(2, 2, 2, 4)[:1].reshape(1, 2, 2, 4),
                scale=[0.1, 0.2, 0.3, 0.4], quantized_dimension=3, name="dw/w")
    bias = b.const(np.array([1, -2, 3, -4], np.int32), scale=[5e-3, 1e-2, 1.5e-2, 2e-2],
                   name="dw/b")
    y = b.tensor((1, 3, 3, 4), "int8", scale=0.2, zero_point=-1, name="dw")
    b.op("DEPTHWISE_CONV_2D", [x, w, bias], [y], padding="VALID")
    t = b.tensor((1, 3, 3, 4), "int8", scale=1 / 128, zero_point=0, name="tanh")
    b.op("TANH", [y], [t])
    c = b.tensor((1, 3, 3, 4), "int8", scale=1 / 128, zero_point=0, name="custom")
    b.op("MyOp", [t], [c], custom=True)
    b.set_io([x], [c])
    return b.finish()


@pytest.fixture(scope="module")
def model_bytes():
    return _int8_model()


def _float_fc(mixed: bool):
    b = ModelBuilder()
    xf = b.tensor((1, 3), np.float32, name="x_float")
    if mixed:
        xq = b.tensor((1, 3), "int8", scale=0.1, zero_point=0, name="x_q")
        b.op("QUANTIZE", [xf], [xq])
        w = b.const(np.ones((2, 3), np.int8), scale=0.1, name="w")
        yq = b.tensor((1, 2), "int8", scale=0.1, zero_point=0, name="y_q")
        b.op("FULLY_CONNECTED", [xq, w, -1], [yq])
        y = b.tensor((1, 2), np.float32, name="y_float")
        b.op("DEQUANTIZE", [yq], [y])
    else:
        w = b.const(np.ones((2, 3), np.float32), name="w_float")
        y = b.tensor((1, 2), np.float32, name="y_float")
        b.op("FULLY_CONNECTED", [xf, w, -1], [y])
    b.set_io([xf], [y])
    return b.finish()


def _repack(data: bytes, edit) -> bytes:
    """Unpack with the object API, apply ``edit(model)``, pack again."""
    import flatbuffers
    fb = sch.schema()
    m = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
    edit(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_read_describes_tensors_operators_and_io(model_bytes):
    m = read_tflite(model_bytes)
    assert [t.name for t in m.tensors] == ["x", "dw/w", "dw/b", "dw", "tanh", "custom"]
    assert m.inputs == (0,) and m.outputs == (5,)
    assert [op.opcode for op in m.operators] == ["DEPTHWISE_CONV_2D", "TANH", "CUSTOM:MyOp"]
    assert m.operators[1].options == {} and m.operators[2].custom_code == "MyOp"
    w = m.tensor("dw/w")
    assert w.is_const and w.np_dtype == np.int8 and w.quantized_dimension == 3
    assert w.data.tolist() == np.arange(-16, 0).reshape(1, 2, 2, 4).tolist()
    assert m.tensor("dw").scale == (pytest.approx(0.2),) and m.tensor("dw").zero_point == (-1,)
    assert m.opcodes() == ["DEPTHWISE_CONV_2D", "TANH", "CUSTOM:MyOp"]
    with pytest.raises(KeyError, match="no tensor named 'nope'"):
        m.tensor("nope")


def test_read_accepts_a_path(model_bytes, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(model_bytes)
    assert read_tflite(path) == read_tflite(str(path)) == read_tflite(model_bytes)


def test_model_description_is_frozen_and_constants_read_only(model_bytes):
    m = read_tflite(model_bytes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.tensors[0].name = "y"
    with pytest.raises(ValueError):
        m.tensor("dw/b").data[0] = 5


def test_unsupported_ops_lists_each_missing_op_once_sorted(model_bytes):
    m = read_tflite(model_bytes)
    assert unsupported_ops(m, {"DEPTHWISE_CONV_2D"}) == ["CUSTOM:MyOp", "TANH"]
    assert unsupported_ops(m, {"DEPTHWISE_CONV_2D", "TANH", "CUSTOM:MyOp"}) == []


def test_reads_the_m20k_twin_with_the_ops_the_twin_lists():
    from edgesed import tflite_twin
    data = tflite_twin.build_m20k_tflite(seed=0)
    m = read_tflite(data)
    assert [op.opcode for op in m.operators] == [n for n, _ in tflite_twin.op_macs(data)]
    assert m.tensor("conv3/w").shape == (16, 3, 3, 8) and len(m.tensor("conv3/w").scale) == 16


@pytest.mark.parametrize("data, match", [
    (b"", "too short.*0 bytes"),
    (b"\x10\x00\x00", "too short.*3 bytes"),
    (b"\x0c\x00\x00\x00ONNX" + bytes(8), r"file identifier is b'ONNX'.*expected b'TFL3'.*16 bytes"),
    (b"PK\x03\x04" + bytes(60), "not a TFLite model"),
    (b"\xff\xff\x00\x00TFL3" + bytes(8), "root table offset 65535 points outside"),
])
def test_garbage_bytes_are_refused_with_byte_count_and_expectation(data, match):
    with pytest.raises(ModelFormatError, match=match):
        read_tflite(data)


def test_every_truncation_is_refused(model_bytes):
    for cut in range(0, len(model_bytes) - 1, 7):
        with pytest.raises(ModelFormatError, match=rf"\({cut} bytes\)"):
            read_tflite(model_bytes[:cut])


@given(st.lists(st.tuples(st.integers(8, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupt_bytes_give_a_model_or_a_model_format_error_never_a_crash(edits):
    data = bytearray(_int8_model())
    for pos, val in edits:
        data[pos % len(data)] = val
    try:
        read_tflite(bytes(data))
    except ModelFormatError as err:
        assert f"({len(data)} bytes)" in str(err)


def test_float_model_is_refused_naming_float_tensors_and_the_fix():
    with pytest.raises(ModelFormatError, match=r"a float model: 3 of 3 tensors.*'x_float' "
                                               r"\(FLOAT32\).*full-integer quantization"):
        read_tflite(_float_fc(mixed=False))


def test_mixed_model_is_refused_naming_only_the_float_tensors():
    with pytest.raises(ModelFormatError, match="a mixed-type model: 2 of 5") as info:
        read_tflite(_float_fc(mixed=True))
    msg = str(info.value)
    assert "'x_float' (FLOAT32)" in msg and "'y_float' (FLOAT32)" in msg and "'x_q'" not in msg
    assert "TFLITE_BUILTINS_INT8" in msg
    m = read_tflite(_float_fc(mixed=True), allow_float=True)
    assert [op.opcode for op in m.operators] == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]


def test_two_subgraphs_are_refused(model_bytes):
    data = _repack(model_bytes, lambda m: m.subgraphs.append(m.subgraphs[0]))
    with pytest.raises(ModelFormatError, match="2 subgraphs.*exactly one"):
        read_tflite(data)


def test_other_schema_version_is_refused(model_bytes):
    data = _repack(model_bytes, lambda m: setattr(m, "version", 2))
    with pytest.raises(ModelFormatError, match="schema version 2"):
        read_tflite(data)


def test_buffer_shorter_than_its_tensor_is_refused(model_bytes):
    def shorten(m):
        m.buffers[2].data = m.buffers[2].data[:-4]          # dw/b loses one int32
    with pytest.raises(ModelFormatError, match=r"'dw/b'.*needs 16 bytes.*holds 12"):
        read_tflite(_repack(model_bytes, shorten))


def test_buffer_index_out_of_range_is_refused(model_bytes):
    def point_away(m):
        m.subgraphs[0].tensors[1].buffer = 99
    with pytest.raises(ModelFormatError, match="refers to buffer 99"):
        read_tflite(_repack(model_bytes, point_away))


def test_operator_tensor_out_of_range_is_refused(model_bytes):
    def bad_input(m):
        m.subgraphs[0].operators[1].inputs = [42]
    with pytest.raises(ModelFormatError, match=r"operator 1 \(TANH\) refers to tensor 42"):
        read_tflite(_repack(model_bytes, bad_input))


def test_non_bytes_argument_is_refused():
    with pytest.raises(ModelFormatError, match="bytes or a path, got int"):
        read_tflite(3)


def test_scalar_constant_reads_as_a_zero_dimensional_array():
    b = ModelBuilder()
    x = b.tensor((1, 3), "int8", scale=0.1, zero_point=0)
    c = b.const(np.array(-5, np.int32), name="scalar")
    y = b.tensor((1, 3), "int8", scale=0.1, zero_point=0)
    b.op("ADD", [x, x], [y])
    b.set_io([x], [y])
    t = read_tflite(b.finish()).tensor("scalar")
    assert t.index == c and t.shape == () and t.data.shape == () and int(t.data) == -5
