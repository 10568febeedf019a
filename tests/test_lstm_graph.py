"""The int8 LSTM (``Op.LSTM_S8``) as a graph layer: validation, dispatch, engine state (views,
reset, set), op counts, ``.tflite`` export/import with its refusals, and the graph in the engine
against the kernel and against TFLM's UNIDIRECTIONAL_SEQUENCE_LSTM over several invokes."""
import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesed import dispatch, dispatch_s8
from edgesed.engine import Engine
from edgesed.errors import ConfigError, ModelFormatError, ShapeError
from edgesed.graph import Graph, Node, Op, TensorSpec, validate
from edgesed.graph_s8 import AffineQ, LstmS8Args, lstm_params
from edgesed.ops import layer_macs, layer_ops
from edgesed.planner import get_planner
from edgesed.testing import assert_bit_exact, int_arrays
from edgesed.tflite.builder import ModelBuilder
from edgesed.tflite.exporter import to_tflite
from edgesed.tflite.importer import import_tflite
from kernels.lstm_s8 import lstm_s8, lstm_s8_initial_state

PLANNERS = ["pingpong", "greedy", "linear"]


def lstm_graph(units=5, n_in=3, steps=2, *, seed=0, x_q=AffineQ((0.05,), -7),
               h_q=AffineQ((1 / 128,), 3), cell_power=-11, cell_clip=0.0, wx=None, wh=None,
               rs=(0.011, 0.02, 0.015, 0.009), ws=(0.01, 0.02, 0.015, 0.012)) -> Graph:
    """One LSTM_S8 layer reading the graph input (steps, n_in) directly; scales are rounded to
    float32, as a ``.tflite`` stores them, so that an export/import round trip is exact."""
    rng = np.random.default_rng(seed)
    f32 = lambda v: tuple(float(np.float32(s)) for s in v)  # noqa: E731
    x_q, h_q = AffineQ(f32(x_q.scale), x_q.zero_point), AffineQ(f32(h_q.scale), h_q.zero_point)
    rs, ws = f32(rs), f32(ws)
    params = {"l.weight": rng.integers(-127, 128, (4, units, n_in)).astype(np.int8)
              if wx is None else wx,
              "l.recurrent": rng.integers(-127, 128, (4, units, units)).astype(np.int8)
              if wh is None else wh,
              "l.bias": rng.integers(-3000, 3000, (4, units)).astype(np.int32)}
    node = Node(Op.LSTM_S8, "l", "input", TensorSpec((steps, units), h_q),
                LstmS8Args(units=units, cell_scale=2.0 ** cell_power, recurrent_scale=rs,
                           cell_clip=cell_clip), weight_q=AffineQ(ws, 0))
    return Graph("lstm", TensorSpec((steps, n_in), x_q), (node,), params)


def frames(graph, n, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, graph.input.shape).astype(np.int8) for _ in range(n)]


# ------------------------------------------------------------------------- validation

def test_lstm_graph_validates_and_its_params_are_tflms():
    g = lstm_graph()
    validate(g)
    p = lstm_params(g, g.nodes[0])
    assert p.units == 5 and p.n_input == 3 and p.hidden_zp == 3 and p.cell_scale_power == -11


@pytest.mark.parametrize("change, err, match", [
    (lambda g: dataclasses.replace(g, input=TensorSpec((6,), g.input.q)), ShapeError,
     "time steps"),
    (lambda g: _node(g, args=dataclasses.replace(g.nodes[0].args, cell_scale=3e-4)),
     ConfigError, "power of two"),
    (lambda g: _node(g, args=dataclasses.replace(g.nodes[0].args, cell_clip=-1.0)),
     ConfigError, "cell_clip"),
    (lambda g: _node(g, args=dataclasses.replace(g.nodes[0].args, recurrent_scale=(0.1, 0.1))),
     ConfigError, "recurrent weights"),
    (lambda g: _node(g, weight_q=AffineQ((0.01,) * 4, 2)), ConfigError, "zero point"),
    (lambda g: _node(g, args=dataclasses.replace(g.nodes[0].args, units=0)), ConfigError,
     "units"),
    (lambda g: _node(g, output=TensorSpec((2, 4), g.nodes[0].output.q)), ShapeError,
     "declared output shape"),
    (lambda g: dataclasses.replace(g, params={**g.params, "l.recurrent": np.zeros((4, 5, 4),
                                                                                  np.int8)}),
     ShapeError, "l.recurrent"),
    (lambda g: dataclasses.replace(g, params={**g.params, "l.bias": np.zeros((4, 5), np.int8)}),
     ShapeError, "l.bias"),
])
def test_lstm_validation_names_the_problem(change, err, match):
    with pytest.raises(err, match=match):
        validate(change(lstm_graph()))


def _node(g, **kw):
    return dataclasses.replace(g, nodes=(dataclasses.replace(g.nodes[0], **kw),))


# -------------------------------------------------------------------- dispatch and counts

def test_lstm_dispatch_names_sizes_and_counts():
    g = lstm_graph(units=5, n_in=3, steps=2)
    node = g.nodes[0]
    assert dispatch.c_function(g, node) == "arm_lstm_unidirectional_s8"
    assert dispatch.scratch_bytes(g, node) == 4 * 5 * 2          # 4 gates x units x int16
    assert dispatch.state_bytes(g, node) == 5 * 2 + 5            # cell int16 + hidden int8
    assert layer_ops(g, node) == 8 * 2 * 5 * (3 + 5)             # 4 gates x 2 products x T
    assert layer_macs(g, node) == layer_ops(g, node) // 2
    rom = dispatch.rom_weights(g, node)
    p = lstm_params(g, node)
    assert rom["weight"].shape == (4, 5, 3) and rom["recurrent"].shape == (4, 5, 5)
    assert_bit_exact(rom["bias"], p.bias_x)
    assert_bit_exact(rom["recurrent_bias"], p.bias_h)
    assert rom["multiplier"].shape == rom["shift"].shape == (11,)
    assert rom["multiplier"][8] == p.forget_mul[0] and rom["shift"][10] == p.hidden_mul[1]


def test_state_views_are_cell_then_hidden_over_the_state_bytes():
    g = lstm_graph(units=3)
    raw = np.arange(9, dtype=np.int8)
    views = dispatch_s8.state_views(g, g.nodes[0], raw)
    assert list(views) == ["l.cell", "l.hidden"]
    assert views["l.cell"].dtype == np.int16 and views["l.cell"].shape == (3,)
    assert np.shares_memory(views["l.cell"], raw[:6]) and np.shares_memory(views["l.hidden"],
                                                                           raw[6:])
    assert_bit_exact(views["l.hidden"], np.array([6, 7, 8], np.int8))
    with pytest.raises(ShapeError, match="state bytes"):
        dispatch_s8.state_views(g, g.nodes[0], raw[:8])


# ------------------------------------------------------------------------ engine and state

@pytest.mark.parametrize("planner", PLANNERS)
def test_engine_lstm_equals_the_kernel_with_state_carried(planner):
    g = lstm_graph(units=6, n_in=4, steps=3, cell_clip=2.0)
    engine = Engine(g, get_planner(planner).plan(g))
    p = lstm_params(g, g.nodes[0])
    h, c = lstm_s8_initial_state(p)
    outs = []
    for x in frames(g, 4):
        want = lstm_s8(x, p, h, c)
        outs.append(engine.run(x).copy())
        assert_bit_exact(outs[-1], want)
        assert_bit_exact(engine.state["l.hidden"], h)
        assert_bit_exact(engine.state["l.cell"], c)
    assert not np.array_equal(outs[0], outs[1]) or not np.array_equal(outs[1], outs[2])


def test_engine_starts_and_resets_like_tflm_hidden_at_zero_point_cell_zero():
    g = lstm_graph(h_q=AffineQ((1 / 128,), -9))
    engine = Engine(g)
    start = engine.state
    assert_bit_exact(start["l.hidden"], np.full(5, -9, np.int8))
    assert_bit_exact(start["l.cell"], np.zeros(5, np.int16))
    init = engine.initial_state()
    assert sorted(init) == ["l.cell", "l.hidden"]
    assert_bit_exact(init["l.hidden"], start["l.hidden"])
    xs = frames(g, 3, seed=4)
    first = [engine.run(x).copy() for x in xs]
    assert not np.array_equal(engine.state["l.cell"], start["l.cell"])
    engine.reset_state()
    assert_bit_exact(engine.state["l.hidden"], start["l.hidden"])
    assert_bit_exact(engine.state["l.cell"], start["l.cell"])
    for x, want in zip(xs, first):
        assert_bit_exact(engine.run(x), want)


def test_set_state_continues_a_stream_in_another_engine():
    g = lstm_graph(units=4, n_in=2, steps=1)
    xs = frames(g, 6, seed=7)
    a, b = Engine(g), Engine(g, get_planner("greedy").plan(g))
    for x in xs[:3]:
        a.run(x)
    b.set_state(a.state)
    for x in xs[3:]:
        assert_bit_exact(b.run(x).copy(), a.run(x).copy())
    with pytest.raises(ShapeError, match="l.cell"):
        b.set_state({"l.cell": np.zeros(4, np.int8)})
    with pytest.raises(ShapeError, match="no state named"):
        b.set_state({"l": np.zeros(12, np.int8)})


def test_engine_state_keeps_q7_and_gru_states_as_before():
    from tests.graphs import tiny_gru_graph

    engine = Engine(tiny_gru_graph())
    assert list(engine.state) == ["g"] and engine.state["g"].dtype == np.int16
    assert not engine.initial_state()["g"].any()


# ------------------------------------------------------------------ .tflite export / import

def test_lstm_graph_round_trips_through_tflite():
    g = lstm_graph(units=7, n_in=3, steps=2, cell_clip=3.0)
    back = import_tflite(to_tflite(g), name="lstm")
    (a,), (b,) = g.nodes, back.nodes
    assert (a.op, a.args, a.output, a.weight_q) == (b.op, b.args, b.output, b.weight_q)
    assert back.input == g.input
    for key, value in g.params.items():
        assert_bit_exact(back.params[key], value)


def _lstm_op_model(*, peephole=False, projection=False, layer_norm=False, cifg=False,
                   activation="TANH") -> bytes:
    units, n_in = 2, 3
    b = ModelBuilder()
    x = b.tensor((1, 1, n_in), "int8", scale=0.05, zero_point=0, name="x")

    def w(shape, name):
        return b.const(np.ones(shape, np.int8), scale=0.01, zero_point=0, name=name)
    ids = [x] + [w((units, n_in), f"wx{g}") for g in range(4)]
    ids += [w((units, units), f"wh{g}") for g in range(4)]
    if cifg:
        ids[1] = ids[5] = -1
    ids += [w((units,), f"p{g}") if peephole else -1 for g in range(3)]
    ids += [b.const(np.zeros(units, np.int32), scale=5e-4, zero_point=0, name=f"b{g}")
            for g in range(4)]
    ids += [w((units, units), "proj"), -1] if projection else [-1, -1]
    ids.append(b.tensor((1, units), "int8", scale=1 / 128, zero_point=0, name="h", variable=True))
    ids.append(b.tensor((1, units), "int16", scale=2.0 ** -11, zero_point=0, name="c",
                        variable=True))
    ids += [b.const(np.ones(units, np.int16), scale=1e-3, zero_point=0, name=f"ln{g}")
            if layer_norm else -1 for g in range(4)]
    y = b.tensor((1, 1, units), "int8", scale=1 / 128, zero_point=0, name="y")
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ids, [y], fused_activation_function=activation)
    b.set_io([x], [y])
    return b.finish()


def test_plain_lstm_op_imports():
    g = import_tflite(_lstm_op_model())
    assert g.nodes[0].op is Op.LSTM_S8 and g.nodes[0].args.units == 2


@pytest.mark.parametrize("kw, match", [
    (dict(peephole=True), "peephole"), (dict(projection=True), "projection"),
    (dict(layer_norm=True), "layer normalization"), (dict(cifg=True), "CIFG"),
    (dict(activation="RELU"), "TANH")])
def test_lstm_variants_edgesed_cannot_run_are_refused_naming_the_op(kw, match):
    with pytest.raises(ModelFormatError, match=rf"UNIDIRECTIONAL_SEQUENCE_LSTM.*{match}"):
        import_tflite(_lstm_op_model(**kw))


# ----------------------------------------------------------- oracle: TFLM over several invokes

ORACLE_EXAMPLES = int(os.environ.get("EDGESED_ORACLE_EXAMPLES",
                                     min(25, settings.default.max_examples)))


@st.composite
def lstm_graphs(draw):
    units, n_in, steps = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 3))
    scales = st.lists(st.floats(1e-3, 0.05), min_size=4, max_size=4)
    g = lstm_graph(units, n_in, steps,
                   x_q=AffineQ((draw(st.floats(0.005, 0.2)),),
                               draw(st.integers(-128, 127))),
                   h_q=AffineQ((draw(st.floats(2e-3, 0.05)),),
                               draw(st.integers(-128, 127))),
                   cell_power=draw(st.integers(-15, -8)),
                   cell_clip=draw(st.sampled_from([0.0, 0.5, 3.0])),
                   wx=draw(int_arrays(np.int8, (4, units, n_in))),
                   wh=draw(int_arrays(np.int8, (4, units, units))),
                   ws=tuple(draw(scales)), rs=tuple(draw(scales)))
    xs = [draw(int_arrays(np.int8, (steps, n_in))) for _ in range(draw(st.integers(2, 4)))]
    return g, xs, draw(st.sampled_from(PLANNERS))


@pytest.mark.oracle
@settings(max_examples=ORACLE_EXAMPLES)
@given(case=lstm_graphs())
def test_exported_lstm_graph_in_the_engine_equals_tflm_across_invokes(case):
    pytest.importorskip("tflite_micro")
    from edgesed.tflite.oracle import run_tflm

    g, xs, planner = case
    tflite = to_tflite(g)
    want = run_tflm(tflite, [xs], invokes=len(xs))
    imported = import_tflite(tflite)
    engine = Engine(imported, get_planner(planner).plan(imported))
    for x, (w,) in zip(xs, want):
        assert_bit_exact(engine.run(x), w.reshape(g.output.shape))


def _tflm_states(tflite: bytes, xs, names=("l/hidden_state", "l/cell_state")):
    """TFLM's variable tensors (hidden, cell) after each invoke, read from the interpreter
    created with ``kPreserveAllTensors`` (the only mode in which it exposes them)."""
    tflm = pytest.importorskip("tflite_micro")
    from edgesed.tflite.reader import read_tflite

    index = {t.name: t.index for t in read_tflite(tflite).tensors}
    interp = tflm.runtime.Interpreter.from_bytes(
        tflite, arena_size=1 << 20,
        intrepreter_config=tflm.runtime.InterpreterConfig.kPreserveAllTensors)
    states = []
    for x in xs:
        interp.set_input(x.reshape(1, *x.shape), 0)
        interp.invoke()
        states.append([interp.GetTensor(index[n], 0)["tensor_data"].reshape(-1) for n in names])
    return states


@pytest.mark.oracle
@pytest.mark.parametrize("cell_power", [-12, -11, -9])
def test_engine_state_equals_tflms_variable_tensors_with_saturated_gates(cell_power):
    """Large gate biases drive I, F, O to the sigmoid's top (32757) and C to tanh's (+-32767):
    the cell update ``I * C`` then sits next to a rounding tie, where the gate-output scale and
    tanh's rounding constant decide the last bit. The engine's (hidden, cell) must equal TFLM's
    variable tensors after every invoke, not only the outputs."""
    units, n_in = 6, 4
    g = lstm_graph(units, n_in, 1, seed=3, cell_power=cell_power, x_q=AffineQ((0.05,), 0))
    bias = np.full((4, units), 2**20, np.int32)
    bias[2, ::2] *= -1                                     # cell gate +-1 alternately
    bias[:, -1] = 0                                        # one unit left unsaturated
    g = dataclasses.replace(g, params={**g.params, "l.bias": bias})
    xs = frames(g, 5, seed=9)
    want = _tflm_states(to_tflite(g), xs)
    engine = Engine(g)
    for k, (x, (h, c)) in enumerate(zip(xs, want)):
        engine.run(x)
        assert_bit_exact(engine.state["l.cell"], c)
        assert_bit_exact(engine.state["l.hidden"], h)
