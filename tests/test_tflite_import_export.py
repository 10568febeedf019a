"""`.tflite` import and export of int8 graphs: round trips, the built-in int8 models, and errors."""
import dataclasses

import numpy as np
import pytest

from edgesed import models_s8
from edgesed.errors import ConfigError, ModelFormatError, ShapeError
from edgesed.graph import Graph, Node, Op, TensorSpec, validate
from edgesed.graph_s8 import AffineQ, ConvS8Args, SoftmaxS8Args, act_range
from edgesed.tflite.builder import ModelBuilder
from edgesed.tflite.exporter import to_tflite
from edgesed.tflite.importer import import_tflite


@pytest.fixture(scope="module", params=["ds-cnn", "m20k-s8", "ds-cnn-s4"])
def graph(request):
    name = request.param
    if name.endswith("-s4"):
        return models_s8.build_s8(name[:-3], weight_bits=4)
    return models_s8.build_s8(name)


def test_export_then_import_gives_the_same_graph(graph):
    back = import_tflite(to_tflite(graph), name=graph.name)
    assert [n.name for n in back.nodes] == [n.name for n in graph.nodes]
    assert back.input == graph.input
    for a, b in zip(graph.nodes, back.nodes):
        assert (a.op, a.args, a.output) == (b.op, b.args, b.output), a.name
        if a.weight_q is not None:
            assert np.array_equal(np.float32(a.weight_q.scale), np.float32(b.weight_q.scale))
    assert sorted(back.params) == sorted(graph.params)
    for key, value in graph.params.items():
        assert back.params[key].dtype == value.dtype
        assert np.array_equal(back.params[key], value), key


def test_builtin_models_have_the_documented_architecture():
    ds = models_s8.build_s8("ds-cnn")
    assert ds.input.shape == (49, 10, 1) and ds.output.shape == (12,)
    assert [n.op for n in ds.nodes].count(Op.DEPTHWISE_S8) == 4
    assert ds.node("conv1").output.shape == (25, 5, 64)
    m20k = models_s8.build_s8("m20k-s8")
    assert m20k.input.shape == (96, 64, 1)
    assert [m20k.node(f"conv{i}").output.shape[2] for i in range(1, 6)] == [4, 8, 16, 16, 32]
    assert m20k.nodes[-1].op is Op.SOFTMAX_S8
    # the seed's recurrent layer (a 60-unit RNN) as a 60-unit int8 LSTM, one step per patch
    assert [n.name for n in m20k.nodes[-5:]] == ["fc2", "seq", "lstm", "fc3", "softmax"]
    lstm = m20k.node("lstm")
    assert lstm.op is Op.LSTM_S8 and lstm.args.units == 60
    assert m20k.node("seq").output.shape == (1, 128) and lstm.output.shape == (1, 60)
    assert m20k.output.shape == (10,)
    assert lstm.args.cell_scale == 2.0 ** round(np.log2(lstm.args.cell_scale))
    s4 = models_s8.build_s8("m20k-s8", weight_bits=4)
    assert s4.node("conv1").args.weight_bits == 4
    assert s4.params["lstm.weight"].min() < -8          # TFLM's LSTM has no int4: stays 8-bit
    with pytest.raises(ConfigError, match="ds-cnn"):
        models_s8.build_s8("resnet")


def test_same_padding_matches_tflm():
    # TFLM ComputePaddingHeightWidth: total = (out-1)*s + k - in; pad = total//2, offset = total%2
    assert models_s8.same_padding((49, 10), (10, 4), (2, 2)) == ((25, 5), (4, 1), (1, 0))
    assert models_s8.same_padding((5, 5), (3, 3), (1, 1)) == ((5, 5), (1, 1), (0, 0))
    assert models_s8.same_padding((8, 8), (3, 3), (1, 1), (2, 2)) == ((8, 8), (2, 2), (0, 0))


def test_act_range_is_tflms():
    assert act_range("NONE", 0.1, 3) == (-128, 127)
    assert act_range("RELU", 0.1, -128) == (-128, 127)
    assert act_range("RELU", 0.1, 3) == (3, 127)
    assert act_range("RELU6", 0.1, -128) == (-128, -68)
    with pytest.raises(ConfigError, match="TANH"):
        act_range("TANH", 0.1, 0)


def _one_op_model(opcode: str, **options) -> bytes:
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), "int8", scale=0.1, zero_point=0)
    y = b.tensor((1, 4, 4, 2), "int8", scale=0.1, zero_point=0)
    b.op(opcode, [x], [y], **options)
    b.set_io([x], [y])
    return b.finish()


def test_exported_lstm_is_the_plain_24_input_op_with_variable_state():
    from edgesed.tflite.reader import read_tflite

    model = read_tflite(to_tflite(models_s8.build_s8("m20k-s8")))
    (op,) = [o for o in model.operators if o.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert len(op.inputs) == 24 and len(op.intermediates) == 5
    assert [i for i in range(24) if op.inputs[i] < 0] == [9, 10, 11, 16, 17, 20, 21, 22, 23]
    h, c = model.tensors[op.inputs[18]], model.tensors[op.inputs[19]]
    assert (h.variable, h.dtype, c.variable, c.dtype) == (True, "INT8", True, "INT16")
    assert model.tensors[op.inputs[0]].shape == (1, 1, 128)
    assert op.options["fused_activation_function"] == "TANH" and not op.options["time_major"]


def test_unsupported_ops_are_listed():
    with pytest.raises(ModelFormatError, match=r"\['LOGISTIC'\].*Supported"):
        import_tflite(_one_op_model("LOGISTIC"))


def test_branches_are_refused():
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), "int8", scale=0.1, zero_point=0)
    y = b.tensor((1, 2, 2, 2), "int8", scale=0.1, zero_point=0)
    z = b.tensor((1, 2, 2, 2), "int8", scale=0.1, zero_point=0)
    for out in (y, z):
        b.op("MAX_POOL_2D", [x], [out], padding="VALID", stride_w=2, stride_h=2,
             filter_width=2, filter_height=2)
    b.set_io([x], [z])
    with pytest.raises(ModelFormatError, match="sequential"):
        import_tflite(b.finish())


def test_batch_above_one_is_refused():
    b = ModelBuilder()
    x = b.tensor((2, 4, 4, 2), "int8", scale=0.1, zero_point=0)
    y = b.tensor((2, 2, 2, 2), "int8", scale=0.1, zero_point=0)
    b.op("MAX_POOL_2D", [x], [y], padding="VALID", stride_w=2, stride_h=2, filter_width=2,
         filter_height=2)
    b.set_io([x], [y])
    with pytest.raises(ModelFormatError, match="batch 2"):
        import_tflite(b.finish())


def test_float_model_is_refused():
    b = ModelBuilder()
    x = b.tensor((1, 4, 4, 2), "float32")
    y = b.tensor((1, 2, 2, 2), "float32")
    b.op("MAX_POOL_2D", [x], [y], padding="VALID", stride_w=2, stride_h=2, filter_width=2,
         filter_height=2)
    b.set_io([x], [y])
    with pytest.raises(ModelFormatError, match="full-integer"):
        import_tflite(b.finish())


def test_q7_graph_does_not_export_to_tflite():
    from edgesed import models

    with pytest.raises(ConfigError, match="not int8 TFLite layers"):
        to_tflite(models.build("m20k"))


def test_explicit_padding_tflite_cannot_say_is_refused():
    g = models_s8.build_s8("ds-cnn")
    conv = g.node("conv1")
    odd = dataclasses.replace(conv, args=dataclasses.replace(conv.args, padding=(5, 1)))
    odd = dataclasses.replace(odd, output=TensorSpec((26, 5, 64), conv.output.q))
    with pytest.raises((ConfigError, ShapeError)):
        to_tflite(dataclasses.replace(g, nodes=(odd, *g.nodes[1:])))


def _tiny(**conv):
    q = AffineQ((0.05,), -3)
    args = ConvS8Args(out_ch=2, kernel=(3, 3), **conv)
    node = Node(Op.CONV_S8, "c", "input", TensorSpec((2, 2, 2), AffineQ((0.1,), 5)), args,
                weight_q=AffineQ((0.01, 0.02), 0))
    params = {"c.weight": np.ones((2, 3, 3, 2), np.int8), "c.bias": np.zeros(2, np.int32)}
    return Graph("tiny", TensorSpec((4, 4, 2), q), (node,), params)


def test_int8_validation_names_the_problem():
    validate(_tiny())
    with pytest.raises(ConfigError, match=r"\[-8, 7\]"):
        g = _tiny(weight_bits=4)
        params = dict(g.params, **{"c.weight": np.full((2, 3, 3, 2), 9, np.int8)})
        validate(dataclasses.replace(g, params=params))
    with pytest.raises(ConfigError, match="groups=3"):
        validate(_tiny(groups=3))
    with pytest.raises(ConfigError, match="activation range"):
        validate(_tiny(act_min=10, act_max=0))
    with pytest.raises(ConfigError, match="1/256"):
        g = _tiny()
        sm = Node(Op.SOFTMAX_S8, "s", "c", TensorSpec((2, 2, 2), AffineQ((0.1,), 0)),
                  SoftmaxS8Args())
        validate(dataclasses.replace(g, nodes=(*g.nodes, sm)))
    with pytest.raises(ShapeError, match="parameter c.bias"):
        g = _tiny()
        validate(dataclasses.replace(g, params=dict(g.params, **{"c.bias": np.zeros(2, np.int8)})))
