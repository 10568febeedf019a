"""ONNX import: PyTorch models exported by the TorchScript exporter, run by FloatModel (numpy)."""
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from torch import nn  # noqa: E402

from edgesed.errors import ConfigError, ModelFormatError, ShapeError  # noqa: E402
from edgesed.graph import Activation, Op  # noqa: E402
from edgesed.onnx_import import FloatOp, import_onnx  # noqa: E402

TOL = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                        "ignore::torch.jit.TracerWarning")


def export(module, args, **kw) -> bytes:
    buf = io.BytesIO()
    torch.onnx.export(module.eval(), args, buf, dynamo=False, opset_version=17, **kw)
    return buf.getvalue()


def randomize_bn(bn: nn.BatchNorm2d | nn.BatchNorm1d, gen):
    """Give a batch norm non-trivial statistics so that folding it is actually tested."""
    n = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=gen))
        bn.running_mean.copy_(torch.randn(n, generator=gen))
        bn.running_var.copy_(torch.rand(n, generator=gen) + 0.3)


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# ------------------------------------------------------------------------------ CNN

class ConvNet(nn.Module):
    """Conv-BN-ReLU-MaxPool-Conv-ReLU-AvgPool-Flatten-Linear-ReLU-Linear-Softmax, 2x12x10 in."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, (3, 2), stride=(1, 1)), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(6 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3),
            nn.Softmax(dim=1))

    def forward(self, x):
        return self.f(x)


@pytest.fixture(scope="module")
def convnet():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = ConvNet()
    randomize_bn(net.f[1], gen)
    data = export(net, torch.randn(1, 2, 12, 10))
    return net, data


def test_conv_net_matches_pytorch_on_hwc_inputs(convnet):
    net, data = convnet
    model = import_onnx(data)
    assert model.input_shape == (12, 10, 2)
    assert [la.op for la in model.layers] == [FloatOp.CONV2D, FloatOp.MAXPOOL, FloatOp.CONV2D,
                                              FloatOp.AVGPOOL, FloatOp.DENSE, FloatOp.DENSE]
    assert [la.activation for la in model.layers] == [Activation.RELU, Activation.NONE,
                                                      Activation.RELU, Activation.NONE,
                                                      Activation.RELU, Activation.NONE]
    assert model.layers[0].params["weight"].shape == (4, 3, 3, 2)      # [out][kh][kw][in]
    assert model.layers[0].params["weight"].dtype == np.float64
    assert model.softmax
    logits = import_onnx(data)
    logits.softmax = False
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.standard_normal((1, 2, 12, 10)).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()[0]
            ref_logits = net.f[:-1](torch.from_numpy(x)).numpy()[0]
        x_hwc = x[0].transpose(1, 2, 0)
        assert max_abs(model.run(x_hwc), ref) < TOL
        assert max_abs(logits.run(x_hwc), ref_logits) < TOL


def test_flatten_then_dense_permutes_columns_from_chw_to_hwc(convnet):
    net, data = convnet
    dense = import_onnx(data).layers[4]
    w_chw = net.f[8].weight.detach().numpy().astype(np.float64)        # (8, C*H*W)
    c, h, w = 6, 2, 2
    for unit in range(8):
        for ci in range(c):
            for hi in range(h):
                for wi in range(w):
                    hwc = (hi * w + wi) * c + ci
                    chw = (ci * h + hi) * w + wi
                    assert dense.params["weight"][unit, hwc] == w_chw[unit, chw]


def test_to_nodes_builds_graph_nodes_with_placeholder_formats(convnet):
    nodes = import_onnx(convnet[1]).to_nodes()
    assert [n.op for n in nodes] == [Op.CONV2D, Op.MAXPOOL, Op.CONV2D, Op.AVGPOOL, Op.DENSE,
                                     Op.DENSE]
    assert [n.input for n in nodes[1:]] == [n.name for n in nodes[:-1]]
    assert nodes[0].output.shape == (12, 10, 4) and nodes[3].output.shape == (2, 2, 6)
    assert nodes[0].weight_q.frac_bits == 7 and nodes[1].weight_q is None


# ------------------------------------------------------------------------------ batch norm folding

def _bn_model(kind: str, rng):
    """Hand-built ONNX: Conv/Gemm then BatchNormalization (torch's exporter would fold it)."""
    x_shape = [1, 3, 5, 4] if kind == "conv" else [1, 6]
    w = rng.standard_normal((4, 3, 3, 3) if kind == "conv" else (4, 6)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    gamma, beta = (rng.random(4) + 0.5).astype(np.float32), rng.standard_normal(4).astype(
        np.float32)
    mean, var = rng.standard_normal(4).astype(np.float32), (rng.random(4) + 0.2).astype(
        np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w, "w"), (b, "b"), (gamma, "g"), (beta, "be"), (mean, "m"), (var, "v"))]
    first = (helper.make_node("Conv", ["x", "w", "b"], ["y0"], name="conv", pads=[1, 1, 1, 1])
             if kind == "conv" else
             helper.make_node("Gemm", ["x", "w", "b"], ["y0"], name="fc", transB=1))
    bn = helper.make_node("BatchNormalization", ["y0", "g", "be", "m", "v"], ["y"], name="bn",
                          epsilon=1e-3)
    out_shape = [1, 4, 5, 4] if kind == "conv" else [1, 4]
    graph = helper.make_graph([first, bn], "bn", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, x_shape)], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), (w, b, gamma, beta, mean, var), x_shape


@pytest.mark.parametrize("kind", ["conv", "gemm"])
def test_batch_norm_folds_exactly_into_conv_and_gemm(kind):
    rng = np.random.default_rng(2)
    data, (w, b, gamma, beta, mean, var), x_shape = _bn_model(kind, rng)
    model = import_onnx(data)
    assert len(model.layers) == 1
    F = torch.nn.functional
    t = [torch.from_numpy(a.astype(np.float64)) for a in (w, b, gamma, beta, mean, var)]
    for _ in range(3):
        x = rng.standard_normal(x_shape)
        xt = torch.from_numpy(x)
        y0 = F.conv2d(xt, t[0], t[1], padding=1) if kind == "conv" else F.linear(xt, t[0], t[1])
        ref = F.batch_norm(y0, t[4], t[5], t[2], t[3], training=False, eps=1e-3).numpy()[0]
        if kind == "conv":
            assert max_abs(model.run(x[0].transpose(1, 2, 0)), ref.transpose(1, 2, 0)) < TOL
        else:
            assert max_abs(model.run(x[0]), ref) < TOL


# ------------------------------------------------------------------------------ recurrent

class Recurrent(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(6, 5, batch_first=True)
        self.fc = nn.Linear(5, 3)

    def forward(self, x, h):
        y, hn = self.rnn(x, h)
        return self.fc(y), hn


@pytest.fixture(scope="module", params=["RNN", "GRU"])
def recurrent(request):
    torch.manual_seed(3)
    net = Recurrent(getattr(nn, request.param))
    data = export(net, (torch.randn(1, 4, 6), torch.zeros(1, 1, 5)), input_names=["x", "h0"],
                  output_names=["y", "hn"])
    return request.param, net, data


def test_recurrent_net_steps_match_pytorch_sequence(recurrent):
    kind, net, data = recurrent
    model = import_onnx(data)
    assert model.sequence and model.input_shape == (6,)
    assert [la.op for la in model.layers] == [FloatOp[kind], FloatOp.DENSE]
    assert model.state_inputs == {model.layers[0].name: "h0"}
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((1, 7, 6)).astype(np.float32)
    h0 = rng.standard_normal((1, 1, 5)).astype(np.float32)
    with torch.no_grad():
        ref, ref_h = (t.numpy() for t in net(torch.from_numpy(xs), torch.from_numpy(h0)))
    ys, state = model.run_sequence(xs[0], {model.layers[0].name: h0[0, 0]})
    assert max_abs(ys, ref[0]) < TOL
    assert max_abs(state[model.layers[0].name], ref_h[0, 0]) < TOL
    # a single step from zero state
    with torch.no_grad():
        one = net(torch.from_numpy(xs[:, :1]), torch.zeros(1, 1, 5))[0].numpy()[0, 0]
    assert max_abs(model.run(xs[0, 0]), one) < TOL


class ConvRecurrentStep(nn.Module):
    """Conv front end + RNN/GRU back end, one patch per call, the state an explicit input/output.

    ``take`` picks how the length-1 sequence is unpacked: ``y[:, 0]`` (Gather), ``squeeze(1)``
    or ``reshape(1, -1)``.
    """

    def __init__(self, cell, take):
        super().__init__()
        self.maps = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(3 * 5 * 4, 6), nn.ReLU())
        self.rnn = cell(6, 5, batch_first=True)
        self.fc = nn.Linear(5, 3)
        self.take = take

    def forward(self, x, h):
        y, hn = self.rnn(self.maps(x).unsqueeze(1), h)
        y = {"gather": lambda: y[:, 0], "squeeze": lambda: y.squeeze(1),
             "reshape": lambda: y.reshape(1, -1)}[self.take]()
        return self.fc(y), hn


@pytest.mark.parametrize("take", ["gather", "squeeze", "reshape"])
@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_conv_front_and_recurrent_back_in_one_file_step_like_pytorch(kind, take):
    torch.manual_seed(7)
    net = ConvRecurrentStep(getattr(nn, kind), take).eval()
    model = import_onnx(export(net, (torch.randn(1, 2, 12, 10), torch.zeros(1, 1, 5)),
                               input_names=["x", "h"], output_names=["y", "hn"]))
    assert model.input_shape == (12, 10, 2) and model.sequence
    assert [la.op for la in model.layers] == [FloatOp.CONV2D, FloatOp.MAXPOOL, FloatOp.DENSE,
                                              FloatOp[kind], FloatOp.DENSE]
    rnn = model.layers[3].name
    assert model.state_inputs == {rnn: "h"}
    rng = np.random.default_rng(8)
    xs = rng.standard_normal((5, 1, 2, 12, 10)).astype(np.float32)
    h = torch.from_numpy(rng.standard_normal((1, 1, 5)).astype(np.float32))
    state = {rnn: h.numpy()[0, 0]}
    for x in xs:                                       # several steps, state carried through
        with torch.no_grad():
            ref, h = net(torch.from_numpy(x), h)
        y, state = model.step(x[0].transpose(1, 2, 0), state)
        assert max_abs(y, ref.numpy()[0]) < TOL
        assert max_abs(state[rnn], h.numpy()[0, 0]) < TOL


def _vector_model(nodes, inits, n=4, out_dims=None):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, out_dims)],
        [numpy_helper.from_array(np.asarray(a), k) for k, a in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]
                             ).SerializeToString()


def test_layout_ops_that_move_or_drop_the_feature_axis_are_refused():
    bad_unsq = _vector_model([helper.make_node("Unsqueeze", ["x", "ax"], ["y"], name="u")],
                             {"ax": np.array([-1], np.int64)}, out_dims=[1, 4, 1])
    with pytest.raises(ConfigError, match="'u' \\(Unsqueeze\\).*feature axis must stay last"):
        import_onnx(bad_unsq)
    bad_t = _vector_model([helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[1, 0])],
                          {}, out_dims=[4, 1])
    with pytest.raises(ConfigError, match="moves the feature axis"):
        import_onnx(bad_t)
    bad_sq = _vector_model([helper.make_node("Squeeze", ["x", "ax"], ["y"], name="s")],
                           {"ax": np.array([1], np.int64)}, n=1, out_dims=[1])
    with pytest.raises(ConfigError, match="remove the feature axis"):
        import_onnx(bad_sq)


def test_recurrent_layer_on_a_vector_without_a_time_axis_is_a_shape_error():
    u, n = 2, 4
    rng = np.random.default_rng(0)
    inits = {"W": rng.standard_normal((1, u, n)).astype(np.float32),
             "R": rng.standard_normal((1, u, u)).astype(np.float32)}
    graph = helper.make_graph(
        [helper.make_node("RNN", ["x", "W", "R"], ["y"], name="rnn", hidden_size=u)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, u])],
        [numpy_helper.from_array(a, k) for k, a in inits.items()])
    ok = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert [la.op for la in import_onnx(ok.SerializeToString()).layers] == [FloatOp.RNN]
    graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n]))
    with pytest.raises(ShapeError, match="not a \\(time, batch, features\\) sequence"):
        import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                    .SerializeToString())


class StatelessGRU(nn.Module):
    """``gru(x)`` without h0: torch exports a Shape/Gather/Concat/Expand chain of zeros."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 4, batch_first=True)

    def forward(self, x):
        return self.gru(x)[0]


def test_zero_initial_state_built_by_the_exporter_is_dropped():
    torch.manual_seed(6)
    net = StatelessGRU()
    model = import_onnx(export(net, torch.randn(1, 3, 3)))
    assert [la.op for la in model.layers] == [FloatOp.GRU]
    assert model.state_inputs == {model.layers[0].name: None}
    xs = np.random.default_rng(6).standard_normal((1, 5, 3)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(xs)).numpy()[0]
    assert max_abs(model.run_sequence(xs[0])[0], ref) < TOL


def _gru_onnx(lbr: int, rng, u=4, n_in=3):
    w = rng.standard_normal((1, 3 * u, n_in)).astype(np.float32)
    r = rng.standard_normal((1, 3 * u, u)).astype(np.float32)
    b = rng.standard_normal((1, 6 * u)).astype(np.float32)
    node = helper.make_node("GRU", ["x", "W", "R", "B"], ["y", "yh"], name="gru", hidden_size=u,
                            linear_before_reset=lbr)
    graph = helper.make_graph(
        [node], "gru", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 1, u])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), (w[0], r[0], b[0])


def _gru_reference(xs, w, r, b, lbr):
    """The ONNX GRU equations, written out gate by gate (z, r, h order)."""
    u = r.shape[1]
    wz, wr, wh = np.split(w.astype(np.float64), 3)
    rz, rr, rh = np.split(r.astype(np.float64), 3)
    wbz, wbr, wbh, rbz, rbr, rbh = np.split(b.astype(np.float64), 6)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, out = np.zeros(u), []
    for x in xs:
        z = sig(wz @ x + rz @ h + wbz + rbz)
        rt = sig(wr @ x + rr @ h + wbr + rbr)
        if lbr:
            hh = np.tanh(wh @ x + rt * (rh @ h + rbh) + wbh)
        else:
            hh = np.tanh(wh @ x + rh @ (rt * h) + rbh + wbh)
        h = (1 - z) * hh + z * h
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset_both_values_follow_onnx_equations(lbr):
    rng = np.random.default_rng(5 + lbr)
    data, (w, r, b) = _gru_onnx(lbr, rng)
    model = import_onnx(data)
    assert model.layers[0].args.linear_before_reset is bool(lbr)
    assert model.state_inputs == {model.layers[0].name: None}
    xs = rng.standard_normal((5, 3))
    ys, _ = model.run_sequence(xs)
    assert max_abs(ys, _gru_reference(xs, w, r, b, lbr)) < 1e-12


def test_to_nodes_maps_pytorch_rnn_and_gru_to_graph_ops(recurrent):
    kind, _, data = recurrent
    model = import_onnx(data)
    nodes = model.to_nodes()
    if kind == "RNN":
        assert nodes[0].op is Op.RNN and nodes[0].activation is Activation.TANH
    else:                                   # PyTorch exports linear_before_reset=1: nnom's cell
        assert model.layers[0].args.linear_before_reset
        assert nodes[0].op is Op.GRU and nodes[0].activation is Activation.NONE
        assert nodes[0].args.units == 5 and nodes[0].output.shape == (5,)
        assert set(model.layers[0].params) == {"weight", "recurrent", "bias", "recurrent_bias"}


def test_to_nodes_refuses_a_gru_with_linear_before_reset_0():
    data, _ = _gru_onnx(0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="GRU with linear_before_reset=0.*nnom"):
        import_onnx(data).to_nodes()
    data, _ = _gru_onnx(1, np.random.default_rng(0))
    assert import_onnx(data).to_nodes()[0].op is Op.GRU


# ------------------------------------------------------------------------------ refusals

class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(8, 2)
        self.lstm = nn.LSTM(4, 4)

    def forward(self, x):
        y = torch.sigmoid(self.a(x))
        return self.b(torch.cat([y, x], dim=1))


def test_unsupported_ops_are_all_listed_with_node_names():
    data = export(Unsupported(), torch.randn(1, 4))
    with pytest.raises(ConfigError) as err:
        import_onnx(data)
    msg = str(err.value)
    assert "['Concat', 'Sigmoid']" in msg
    names = [n.name for n in onnx.load_from_string(data).graph.node
             if n.op_type in ("Concat", "Sigmoid")]
    assert len(names) == 2 and all(repr(n) in msg for n in names)


def test_lstm_is_refused_with_its_node_name():
    data = export(nn.LSTM(3, 2, batch_first=True), torch.randn(1, 2, 3))
    with pytest.raises(ConfigError, match=r"'LSTM'.*'/LSTM' \(LSTM\)"):
        import_onnx(data)


def test_truncated_file_is_a_model_format_error(convnet, tmp_path):
    path = tmp_path / "cut.onnx"
    path.write_bytes(convnet[1][: len(convnet[1]) // 2])
    with pytest.raises(ModelFormatError, match="not a valid ONNX model"):
        import_onnx(path)


def test_not_onnx_and_not_a_file_are_refused(tmp_path):
    with pytest.raises(ModelFormatError, match="not a valid ONNX model"):
        import_onnx(b"RIFF\x00\x00\x00\x00WAVEfmt this is audio")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        import_onnx(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a file"):
        import_onnx(tmp_path / "missing.onnx")


def test_wrong_input_rank_is_a_shape_error():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 2, 3, 4, 5])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2, 3, 4, 5])])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ShapeError, match="rank 5"):
        import_onnx(data.SerializeToString())


def test_step_checks_the_input_shape(convnet):
    model = import_onnx(convnet[1])
    with pytest.raises(ShapeError, match=r"x.shape=\(2, 12, 10\)"):
        model.run(np.zeros((2, 12, 10)))
