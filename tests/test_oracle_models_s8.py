"""Whole int8 models in edgesed's engine against the tflite-micro interpreter, bit for bit.

The built-in DS-CNN keyword spotter and int8 M20k, with 8-bit and packed 4-bit weights, are
exported to ``.tflite``, run in TFLM, imported back and run in the engine under every planner.
The arena TFLM plans for the same file is compared with edgesed's greedy plan.
"""
import re

import numpy as np
import pytest

from edgesed import models_s8
from edgesed.engine import Engine
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
def test_engine_equals_tflm_bit_for_bit(model, planner):
    graph, tflite = model
    imported = import_tflite(tflite)
    engine = Engine(imported, get_planner(planner).plan(imported))
    for x in _inputs(graph, 4):
        (want,) = run_tflm(tflite, [x])
        got = engine.run(x)
        assert np.array_equal(got.reshape(-1), want.reshape(-1)), (graph.name, planner)


def test_builtin_graph_and_its_import_give_the_same_bits(model):
    graph, tflite = model
    a, b = Engine(graph), Engine(import_tflite(tflite))
    for x in _inputs(graph, 2, seed=5):
        assert np.array_equal(a.run(x), b.run(x))


def _tflm_arena(tflite: bytes) -> dict:
    text = tflm_allocations(tflite)
    return {k: int(re.search(rf"Arena allocation {k} (\d+) bytes", text).group(1))
            for k in ("total", "head", "tail")}


def _tflm_scratch(graph, node) -> int:
    """Scratch TFLM's reference kernels request: for an int4 filter, the unpacked int8 copy
    (``UnpackDenseInt4IntoInt8`` into a scratch buffer at Prepare), which TFLM's arena
    allocator rounds up to its 16-byte buffer alignment; none otherwise."""
    if getattr(node.args, "weight_bits", 8) == 4:
        return -(-graph.params[f"{node.name}.weight"].size // 16) * 16
    return 0


def test_greedy_arena_matches_tflms_planned_head(model):
    """TFLM's head is what its GreedyMemoryPlanner places: activations plus its kernels'
    scratch (the reference kernels ask only for unpacked int4 filters). The same buffers in
    edgesed's greedy planner give the same peak to the byte. With CMSIS-NN's scratch instead
    (im2col, avgpool sums; int4 read packed), edgesed's plan is what the device would need. The
    tail holds TFLM's persistent structures (per-channel multipliers, node structs)."""
    graph, tflite = model
    arena = _tflm_arena(tflite)
    same_buffers = get_planner("greedy", scratch_bytes=_tflm_scratch,
                               state_bytes=lambda g, n: 0).plan(graph)
    assert same_buffers.arena_bytes == arena["head"], (graph.name, arena)
    assert arena["total"] == arena["head"] + arena["tail"]
    cmsis = get_planner("greedy").plan(graph)
    print(f"{graph.name}: TFLM head {arena['head']} B + tail {arena['tail']} B; edgesed greedy "
          f"with CMSIS-NN scratch {cmsis.arena_bytes} B")
