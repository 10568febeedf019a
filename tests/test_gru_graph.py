"""The nnom GRU (q7 weights, q15 state) wired through graph, engine, planners, float executor,
quantizer, ONNX import, op counts, cycles, C export and streaming."""
import dataclasses
import io
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed import dispatch, graphfile
from edgesed.cycles.model import graph_cycles
from edgesed.engine import Engine
from edgesed.errors import ConfigError, ShapeError
from edgesed.floatexec import FloatGraph, make_nodes, run, validate_float
from edgesed.graph import (Activation, DenseArgs, GruArgs, Op, QFormat, TensorSpec,
                           gru_recurrent_bias_frac, layer_shifts, validate)
from edgesed.ops import layer_ops
from edgesed.planner import get_planner
from edgesed.quantize import quantize
from kernels.fully_connected_q7 import unreorder_weights_q7_q15
from kernels.rounding import Rounding
from tests.graphs import gru_vector_graph, stream_gru_graph, tiny_gru_graph
from tests.naive.network import run_network

ROUNDINGS = [Rounding.NN_ROUND, Rounding.TRUNCATE]


def frames(graph, n, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, graph.input.shape, dtype=np.int8) for _ in range(n)]


def assert_engine_equals_naive(graph, xs, rounding, planner="pingpong"):
    engine = Engine(graph, get_planner(planner).plan(graph), rounding=rounding)
    state = {}
    for x in xs:
        want, state = run_network(graph, x, state, truncate=rounding == Rounding.TRUNCATE)
        got = engine.run_layers(x)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        for name, h in state.items():
            np.testing.assert_array_equal(engine.state[name], h, err_msg=f"state {name}")
    return engine


# ------------------------------------------------------------------ engine == naive network

@pytest.mark.parametrize("planner", ["pingpong", "greedy", "linear"])
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_conv_front_gru_graph_equals_the_naive_network_over_frames(rounding, planner):
    g = tiny_gru_graph()
    engine = assert_engine_equals_naive(g, frames(g, 6, seed=1), rounding, planner)
    assert engine.state["g"].dtype == np.int16 and engine.state["g"].any()


@st.composite
def gru_graphs(draw):
    n_in, units = draw(st.integers(1, 19)), draw(st.integers(1, 13))
    n_i = draw(st.integers(0, 7))
    n_w = draw(st.integers(max(0, 4 - n_i), 7))
    n_z = draw(st.integers(4, min(7, n_i + n_w)))
    n_b = draw(st.integers(max(0, n_i + n_w - 16), min(15, n_i + n_w)))
    n_u = draw(st.integers(0, 7))
    wide = draw(st.booleans())          # full int8 range: saturates the q15 sums and gates
    lim = 128 if wide else 24
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    r = lambda *s: rng.integers(-lim, lim, s).astype(np.int8)  # noqa: E731
    n3 = 3 * units
    params = {"g.weight": r(n3, n_in), "g.recurrent": r(n3, units), "g.bias": r(n3),
              "g.recurrent_bias": r(n3)}
    return gru_vector_graph(n_in, units, n_i=n_i, n_w=n_w, n_b=n_b, n_z=n_z, n_u=n_u,
                            params=params)


@given(g=gru_graphs(), rounding=st.sampled_from(ROUNDINGS), seed=st.integers(0, 2**31))
def test_random_gru_graphs_equal_the_naive_network_bit_for_bit(g, rounding, seed):
    validate(g)
    assert_engine_equals_naive(g, frames(g, 4, seed), rounding)


def test_state_set_get_reset_carry_the_q15_state():
    g = tiny_gru_graph()
    xs = frames(g, 5, seed=2)
    a, b = Engine(g), Engine(g)
    for x in xs[:3]:
        a.run(x)
    s = a.state
    assert s["g"].dtype == np.int16 and s["g"].shape == (3,)
    b.set_state(s)                                  # b continues where a stopped
    for x in xs[3:]:
        np.testing.assert_array_equal(a.run(x).copy(), b.run(x))
    np.testing.assert_array_equal(a.state["g"], b.state["g"])
    # the int16 view really is the arena's bytes (little-endian q15)
    step = a.plan.steps[3]
    raw = a.arena[step.state.offset:step.state.end]
    np.testing.assert_array_equal(raw.view(np.int16), a.state["g"])
    want, _ = run_network(g, xs[0], {"g": s["g"]})
    b.set_state(s)
    np.testing.assert_array_equal(b.run(xs[0]), want["o"])
    a.reset_state()
    assert not a.state["g"].any()
    np.testing.assert_array_equal(a.run(xs[0]), Engine(g).run(xs[0]))
    with pytest.raises(ShapeError, match="int16"):
        a.set_state({"g": s["g"].astype(np.int8)})


# ------------------------------------------------------------------ graph, file, dispatch

def test_layer_shifts_dispatch_sizes_and_rom_layout():
    g = tiny_gru_graph(units=5)
    node = g.node("g")
    assert layer_shifts(g, node) == {"bias_shift": 7, "oshift_iw": 6, "oshift_hw": 9,
                                     "act_int_width": 2}
    assert gru_recurrent_bias_frac(g, node) == 7 + 7 + 4 - 4 - 7
    assert dispatch.state_bytes(g, node) == 2 * 5
    assert dispatch.scratch_bytes(g, node) == 18 * 5 + 2 * 5
    assert dispatch.state_dtype(node) == np.int16
    assert "gru_cell_run" in dispatch.c_function(g, node)
    rom = dispatch.rom_weights(g, node)
    np.testing.assert_array_equal(unreorder_weights_q7_q15(rom["weight"], 15, 5),
                                  g.params["g.weight"])
    np.testing.assert_array_equal(unreorder_weights_q7_q15(rom["recurrent"], 15, 5),
                                  g.params["g.recurrent"])
    plan = get_planner("pingpong").plan(g)
    assert plan.steps[3].state.size == 10 and plan.mismatches(g) == []


def test_graph_file_round_trip_keeps_the_gru():
    g = tiny_gru_graph()
    back = graphfile.from_bytes(graphfile.to_bytes(g))
    assert back.nodes == g.nodes and back.node("g").args == GruArgs(3, QFormat(5), QFormat(7))
    for k, v in g.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    x = frames(g, 1, 3)[0]
    np.testing.assert_array_equal(Engine(back).run(x), Engine(g).run(x))


def _with_gru(g, **changes):
    node = dataclasses.replace(g.node("g"), **changes)
    return dataclasses.replace(g, nodes=tuple(node if n.name == "g" else n for n in g.nodes))


@pytest.mark.parametrize("changes, match", [
    (dict(output=TensorSpec((3,), QFormat(6))), "Q0.15 state.*must be Q0.7"),
    (dict(activation=Activation.TANH), "'tanh' is not available on gru"),
    (dict(args=GruArgs(3, QFormat(3), QFormat(7))), "act_int_width=4 is out of \\[0, 3\\]"),
    (dict(args=GruArgs(3, QFormat(12), QFormat(7))), "oshift_iw=-1 .*gates Q-5.12"),
    (dict(args=GruArgs(3, QFormat(5), QFormat(16, bits=8))), "recurrent weights.*0..15"),
])
def test_validate_refuses_bad_gru_layers_naming_the_rule(changes, match):
    with pytest.raises(ConfigError, match=match):
        validate(_with_gru(tiny_gru_graph(), **changes))


def test_validate_refuses_missing_or_misshaped_gru_parameters():
    g = tiny_gru_graph()
    params = {k: v for k, v in g.params.items() if k != "g.recurrent_bias"}
    with pytest.raises(ConfigError, match="no parameter g.recurrent_bias"):
        validate(dataclasses.replace(g, params=params))
    params["g.recurrent_bias"] = np.zeros(3, np.int8)
    with pytest.raises(ShapeError, match="g.recurrent_bias.*expected int8 \\(9,\\)"):
        validate(dataclasses.replace(g, params=params))


def test_bias_shift_above_16_is_refused():
    g = gru_vector_graph(4, 2, n_i=10, n_w=7, n_b=0, n_z=7)
    with pytest.raises(ConfigError, match="bias_shift=17 is out of \\[0, 16\\]"):
        validate(g)


def test_op_count_and_cycles():
    g = tiny_gru_graph(units=4)
    node = g.node("g")
    assert layer_ops(g, node) == 6 * 4 * (5 + 4)
    cyc = {b.layer: b for b in graph_cycles(g, "cortex-m4")}["g"]
    assert "gru_cell_run" in cyc.kernel and cyc.total > 0
    assert cyc.terms["mac_tile"] > 0 and cyc.terms["elementwise"] > 0
    bigger = {b.layer: b for b in graph_cycles(tiny_gru_graph(units=16), "cortex-m4")}["g"]
    assert bigger.total > 2 * cyc.total


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("which", ["conv_front", "wide_vector"])
def test_exported_c_gru_matches_the_engine_golden_vectors(tmp_path, rounding, which):
    from tests.test_export_c import build_and_run

    if which == "conv_front":
        g = tiny_gru_graph(units=3)            # 9 rows: two groups of 4 + 1; 5 (odd) features
    else:                                      # full-range int8: saturating sums and gates
        g = gru_vector_graph(7, 6, n_i=3, n_w=5, n_b=2, n_z=6, n_u=6, seed=11)
    frames_ = 4
    report, text = build_and_run(g, tmp_path, frames=frames_, rounding=rounding,
                                 defines=["ARM_NN_TRUNCATE"] if rounding == Rounding.TRUNCATE
                                 else ())
    assert report["mismatches"] == 0 and report["status"] == 0, text
    states = sum(2 * n.args.units for n in g.nodes if n.op is Op.GRU)
    per_frame = sum(n.output.nbytes for n in g.nodes) + states
    assert report["bytes"] == frames_ * (per_frame + g.output.nbytes + states)
    assert report["layer_runs"] == frames_ * len(g.nodes)


# ------------------------------------------------------------------ float and quantized

def test_float_gru_follows_the_cell_equations_and_carries_state():
    rng = np.random.default_rng(4)
    nodes = make_nodes((4,), [(Op.GRU, "g", 3), (Op.DENSE, "o", DenseArgs(2))])
    p = {"g.weight": rng.normal(size=(9, 4)), "g.recurrent": rng.normal(size=(9, 3)),
         "g.bias": rng.normal(size=9), "g.recurrent_bias": rng.normal(size=9),
         "o.weight": rng.normal(size=(2, 3)), "o.bias": rng.normal(size=2)}
    fg = FloatGraph("f", (4,), nodes, p)
    validate_float(fg)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, state = np.zeros(3), {}
    for x in rng.normal(size=(4, 4)):
        mx, mh = p["g.weight"] @ x + p["g.bias"], p["g.recurrent"] @ h + p["g.recurrent_bias"]
        z, r = sig(mx[:3] + mh[:3]), sig(mx[3:6] + mh[3:6])
        h = z * h + (1 - z) * np.tanh(mx[6:] + r * mh[6:])
        out, state = run(fg, x, state)
        np.testing.assert_allclose(out["g"], h, atol=1e-12)
    bad = FloatGraph("f", (4,), (dataclasses.replace(nodes[0], activation=Activation.TANH),
                                 nodes[1]), p)
    with pytest.raises(ConfigError, match="gates are part of the cell"):
        validate_float(bad)


def test_from_graph_dequantizes_the_recurrent_bias_at_nnoms_scale():
    g = tiny_gru_graph()
    fg = FloatGraph.from_graph(g)
    n_rb = gru_recurrent_bias_frac(g, g.node("g"))
    np.testing.assert_array_equal(fg.params["g.recurrent_bias"],
                                  g.params["g.recurrent_bias"] * 2.0 ** -n_rb)


@pytest.mark.parametrize("method", ["sqnr", "overload"])
def test_quantized_gru_tracks_the_float_graph(method):
    g = tiny_gru_graph(units=4, seed=5)
    fg = FloatGraph.from_graph(g)
    calib = np.random.default_rng(6).normal(0, 2, (30, 8, 8, 1))
    q, report = quantize(fg, calib, method)
    node = q.node("g")
    assert node.op is Op.GRU and node.output.q == QFormat(7)
    assert 4 <= node.args.gate_q.frac_bits <= 7
    rows = {f.tensor: f for f in report.formats if f.layer == "g"}
    assert rows["gates"].shift_name == "act_int_width"
    assert rows["recurrent"].shift_name == "oshift_hw"
    assert report.measured_sqnr_db["g"] > 20, report.render()
    assert report.measured_sqnr_db["o"] > 15, report.render()
    assert_engine_equals_naive(q, [np.clip(np.round(x * 16), -128, 127).astype(np.int8)
                                   for x in calib[:4]], Rounding.NN_ROUND)


# ------------------------------------------------------------------ ONNX (PyTorch conv + GRU)

def test_pytorch_conv_gru_exported_to_onnx_runs_in_float_and_in_the_engine():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import warnings

    from torch import nn

    from edgesed.onnx_import import import_onnx

    class ConvGru(nn.Module):
        def __init__(self):
            super().__init__()
            self.maps = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Flatten(), nn.Linear(4 * 5 * 4, 8), nn.ReLU())
            self.gru = nn.GRU(8, 6, batch_first=True)
            self.fc = nn.Linear(6, 3)

        def forward(self, x, h):
            y, hn = self.gru(self.maps(x).unsqueeze(1), h)
            return self.fc(y.squeeze(1)), hn

    torch.manual_seed(0)
    net = ConvGru().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, 1, 12, 10), torch.zeros(1, 1, 6)), buf,
                          dynamo=False, opset_version=17, input_names=["x", "h"],
                          output_names=["y", "hn"])
    model = import_onnx(buf.getvalue())
    nodes = model.to_nodes()
    assert [n.op for n in nodes] == [Op.CONV2D, Op.MAXPOOL, Op.DENSE, Op.GRU, Op.DENSE]
    params = {f"{la.name}.{k}": v for la in model.layers for k, v in la.params.items()}
    fg = FloatGraph("convgru", model.input_shape, nodes, params)
    validate_float(fg)
    gname = nodes[3].name
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((6, 1, 1, 12, 10)).astype(np.float32)
    h, state = torch.zeros(1, 1, 6), {}
    for x in xs:                                          # state carried over 6 steps
        with torch.no_grad():
            ref, h = net(torch.from_numpy(x), h)
        out, state = run(fg, x[0].transpose(1, 2, 0).astype(np.float64), state)
        assert np.max(np.abs(out[nodes[-1].name] - ref.numpy()[0])) < 1e-5
        assert np.max(np.abs(state[gname] - h.numpy()[0, 0])) < 1e-5
    calib = rng.standard_normal((40, 12, 10, 1))
    q, report = quantize(fg, calib)
    assert q.node(gname).op is Op.GRU
    assert report.measured_sqnr_db[gname] > 15, report.render()
    ints = [np.clip(np.round(x * 2.0 ** q.input.q.frac_bits), -128, 127).astype(np.int8)
            for x in calib[:5]]
    for rounding in ROUNDINGS:
        assert_engine_equals_naive(q, ints, rounding)


# ------------------------------------------------------------------ streaming

def test_gru_graph_streams_internal_and_external_state_equal_to_batch():
    from edgesed.stream import Mode, Stream

    g = stream_gru_graph()
    rng = np.random.default_rng(9)
    t = np.arange(int(2.5 * 16000)) / 16000
    signal = np.clip(0.3 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t),
                     -1, 1).astype(np.float32)

    def collect(stream, blocks, state=None):
        stream.reset()
        patches, states = [], []
        run_ = stream.engine.run

        def recorded(patch):
            patches.append(patch.copy())
            out = run_(patch)
            states.append(stream.engine.state)
            return out
        stream.engine.run = recorded
        logits, pos = [], 0
        for n in blocks * 1000:
            if pos >= signal.size:
                break
            if state is None:
                got = stream.feed(signal[pos:pos + n])
            else:
                got, state = stream.feed(signal[pos:pos + n], state)
            logits += [f.logits.tolist() for f in got]
            pos += n
        del stream.engine.run
        return patches, states, logits, state

    internal = Stream(g, hop_ms=480, threshold=0.15, smooth=2)
    ref_p, ref_s, ref_l, _ = collect(internal, [signal.size])
    assert len(ref_p) == 4 and ref_s[-1]["gru"].dtype == np.int16 and ref_s[-1]["gru"].any()
    # batch: the same patches through a fresh engine, state carried
    engine = Engine(g)
    for patch, logits, s in zip(ref_p, ref_l, ref_s):
        np.testing.assert_array_equal(engine.run(patch), logits)
        np.testing.assert_array_equal(engine.state["gru"], s["gru"])
    p, s, logits, _ = collect(internal, [1, 333, 4000, 17])
    assert logits == ref_l
    for a, b in zip(s, ref_s):
        np.testing.assert_array_equal(a["gru"], b["gru"])
    external = Stream(g, hop_ms=480, threshold=0.15, smooth=2, mode=Mode.STREAM_EXTERNAL_STATE)
    state0 = external.initial_state()
    assert state0["gru"].dtype == np.int16 and state0["gru"].shape == (6,)
    _, _, logits, state = collect(external, [555, 4096], state0)
    assert logits == ref_l
    np.testing.assert_array_equal(state["gru"], ref_s[-1]["gru"])
