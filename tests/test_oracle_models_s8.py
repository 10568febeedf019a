"""Whole int8 models in edgesed's engine against the tflite-micro interpreter, bit for bit.

The built-in DS-CNN keyword spotter and int8 M20k (with its 60-unit int8 LSTM), with 8-bit and
packed 4-bit weights, are exported to ``.tflite``, run in TFLM over a stream of several
invokes (the LSTM's hidden and cell state carried in TFLM's variable tensors), imported back
and run in the engine over the same stream (the state carried in the arena) under every
planner. The arena TFLM plans for the same file is compared with edgesed's greedy plan.
"""
import re

import numpy as np
import pytest

from edgesed import models_s8
from edgesed.engine import Engine
from edgesed.graph import Op
from edgesed.planner import get_planner
from edgesed.tflite.exporter import to_tflite
from edgesed.tflite.importer import import_tflite

pytest.importorskip("tflite_micro")
from edgesed.tflite.oracle import run_tflm, tflm_allocations  # noqa: E402

pytestmark = pytest.mark.oracle

CASES = [("ds-cnn", 8), ("ds-cnn", 4), ("m20k-s8", 8), ("m20k-s8", 4)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-w{b}" for n, b in CASES])
def model(request):
    name, bits = request.param
    graph = models_s8.build_s8(name, weight_bits=bits)
    return graph, to_tflite(graph)


def _inputs(graph, n: int, seed: int = 0):
    """Uniform random int8 tensors plus the extremes and a constant zero-point input."""
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=graph.input.shape).astype(np.int8) for _ in range(n)]
    xs += [np.full(graph.input.shape, v, np.int8) for v in (-128, 127, graph.input.q.zero_point)]
    return xs


@pytest.mark.parametrize("planner", ["pingpong", "greedy", "linear"])
def test_engine_equals_tflm_bit_for_bit_over_a_stream_of_invokes(model, planner):
    """Seven inferences in a row on one TFLM interpreter and one engine: with the LSTM, each
    output depends on every earlier input through the carried state."""
    graph, tflite = model
    imported = import_tflite(tflite)
    engine = Engine(imported, get_planner(planner).plan(imported))
    xs = _inputs(graph, 4)
    want = run_tflm(tflite, [xs], invokes=len(xs))
    for k, (x, (w,)) in enumerate(zip(xs, want)):
        got = engine.run(x)
        assert np.array_equal(got.reshape(-1), w.reshape(-1)), (graph.name, planner, k)


def test_builtin_graph_and_its_import_give_the_same_bits(model):
    graph, tflite = model
    a, b = Engine(graph), Engine(import_tflite(tflite))
    for x in _inputs(graph, 2, seed=5):
        assert np.array_equal(a.run(x), b.run(x))
    assert set(a.state) == set(b.state)
    for key, value in a.state.items():
        assert np.array_equal(value, b.state[key]), key


@pytest.fixture(scope="module", params=[8, 4], ids=["w8", "w4"])
def m20k(request):
    graph = models_s8.build_s8("m20k-s8", weight_bits=request.param)
    assert any(n.op is Op.LSTM_S8 for n in graph.nodes)
    return graph, to_tflite(graph)


def test_m20k_state_carries_and_matters_in_tflm_and_in_the_engine(m20k):
    """The same patch five times: TFLM's outputs change as its variable tensors evolve, and the
    engine's change identically; the state really is the LSTM's (hidden, cell)."""
    graph, tflite = m20k
    x = _inputs(graph, 1, seed=11)[0]
    want = [w.reshape(-1) for (w,) in run_tflm(tflite, [x], invokes=5)]
    assert any(not np.array_equal(want[0], w) for w in want[1:])
    engine = Engine(import_tflite(tflite))
    assert sorted(engine.state) == ["lstm.cell", "lstm.hidden"]
    for k, w in enumerate(want):
        assert np.array_equal(engine.run(x), w), k
    assert engine.state["lstm.cell"].any()


def test_m20k_reset_and_set_state_reproduce_tflms_fresh_and_continued_streams(m20k):
    """``reset_state`` is TFLM's reset (a fresh interpreter: hidden at its zero point, cell 0);
    ``set_state`` with a saved state continues a stream exactly where TFLM's invokes are."""
    graph, tflite = m20k
    xs = _inputs(graph, 3, seed=21)
    want = [w.reshape(-1) for (w,) in run_tflm(tflite, [xs], invokes=len(xs))]
    engine = Engine(graph)
    hidden_zp = graph.node("lstm").output.q.zero_point
    assert np.all(engine.state["lstm.hidden"] == hidden_zp)
    for x in xs[:2]:
        engine.run(x)
    saved = engine.state
    engine.reset_state()
    assert np.all(engine.state["lstm.hidden"] == hidden_zp)
    assert not engine.state["lstm.cell"].any()
    for k, x in enumerate(xs):                      # a fresh stream again
        assert np.array_equal(engine.run(x), want[k]), k
    other = Engine(graph, get_planner("greedy").plan(graph))
    other.set_state(saved)                          # after xs[0], xs[1]
    for k in range(2, len(xs)):
        assert np.array_equal(other.run(xs[k]), want[k]), k


def _tflm_arena(tflite: bytes) -> dict:
    text = tflm_allocations(tflite)
    return {k: int(re.search(rf"Arena allocation {k} (\d+) bytes", text).group(1))
            for k in ("total", "head", "tail")}


def _align16(n: int) -> int:
    return -(-n // 16) * 16


def _tflm_scratch(graph, node) -> int:
    """Scratch TFLM's reference kernels request: for an int4 filter, the unpacked int8 copy
    (``UnpackDenseInt4IntoInt8`` into a scratch buffer at Prepare); for the LSTM, four int16
    gate buffers of ``units`` each (``RequestScratchBufferInArena`` x 4 in its Prepare); each
    buffer rounded up to TFLM's 16-byte alignment; none otherwise."""
    if node.op is Op.LSTM_S8:
        return 4 * _align16(2 * node.args.units)
    if getattr(node.args, "weight_bits", 8) == 4:
        return _align16(graph.params[f"{node.name}.weight"].size)
    return 0


def test_greedy_arena_matches_tflms_planned_head(model):
    """TFLM's head is what its GreedyMemoryPlanner places: activations plus its kernels'
    scratch (the reference kernels ask only for unpacked int4 filters). The same buffers in
    edgesed's greedy planner give the same peak to the byte. With CMSIS-NN's scratch instead
    (im2col, avgpool sums; int4 read packed), edgesed's plan is what the device would need. The
    tail holds TFLM's persistent structures (per-channel multipliers, node structs) and, for the
    M20k, the LSTM's variable tensors: TFLM allocates variable tensors in the persistent tail
    (``'TfLiteTensor variable buffer data'``: int8 hidden + int16 cell, each 16-byte aligned),
    so the head is compared with a plan *without* states, and the variable buffers with the
    state bytes edgesed keeps in its own persistent tail."""
    graph, tflite = model
    arena = _tflm_arena(tflite)
    text = tflm_allocations(tflite)
    m = re.search(r"'TfLiteTensor variable buffer data' used (\d+) bytes", text)
    lstms = [n for n in graph.nodes if n.op is Op.LSTM_S8]
    if lstms:
        want = sum(_align16(n.args.units) + _align16(2 * n.args.units) for n in lstms)
        assert m is not None and int(m.group(1)) == want, text
        edgesed_state = sum(get_planner("greedy").plan(graph).steps[i].state.size
                            for i, n in enumerate(graph.nodes) if n.op is Op.LSTM_S8)
        assert edgesed_state == sum(3 * n.args.units for n in lstms)
    else:
        assert m is None
    same_buffers = get_planner("greedy", scratch_bytes=_tflm_scratch,
                               state_bytes=lambda g, n: 0).plan(graph)
    assert same_buffers.arena_bytes == arena["head"], (graph.name, arena)
    assert arena["total"] == arena["head"] + arena["tail"]
    cmsis = get_planner("greedy").plan(graph)
    print(f"{graph.name}: TFLM head {arena['head']} B + tail {arena['tail']} B; edgesed greedy "
          f"with CMSIS-NN scratch {cmsis.arena_bytes} B")
