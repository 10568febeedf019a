"""The NE16 layer family in the graph IR, engine and stream (issue 7 part 5).

Engine == the naive whole-network reference (tests/naive/ne16_network.py) bit for bit, over
several frames with the GRU state carried: the quantized Dilated CRNN at all-8 bits, at a
searched mixed assignment and at uncommon bits, and random small graphs covering every NE16 mode,
stride, dilation, padding, scale width and shift kind. Packed ROM bytes equal the edgesed.ne16
memory figures; streaming equals batch for any block size; errors name the value and the fix.
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from edgesed.engine import Engine
from edgesed.errors import ConfigError, ShapeError
from edgesed.graph import Graph, Node, Op, QFormat, TensorSpec, validate
from edgesed.graph_ne16 import (Ne16ConvArgs, Ne16GlobalPoolArgs, Ne16GruArgs, Ne16PoolArgs,
                                is_ne16, to_net)
from edgesed.ne16 import search
from edgesed.ne16.crnn import dcrnn_net, float_model
from edgesed.ne16.quantize import INPUT_Q, frontend_patches, quantize_dcrnn
from kernels.ne16.packing import pack_weights, packed_weight_bytes
from tests.naive.ne16_network import run_ref

UNCOMMON = {"c1": 2, "c2": 3, "c3": 5, "c4": 6, "c5": 7, "c6": 4, "fc": 3}


@pytest.fixture(scope="module")
def small():
    """A 16-frame Dilated CRNN (same channels and dilations as the 96-frame one) and patches."""
    model = float_model(dcrnn_net(n_frames=16), 0)
    calib = frontend_patches(1, 0, 16)[:4]
    return model, calib


@pytest.fixture(scope="module")
def searched_bits(small):
    model, calib = small
    sens = search.sensitivity(model, calib.astype(np.float32) * 2.0 ** -INPUT_Q.frac_bits)
    net = model.net
    lo, hi = search.min_budget(net), net.with_bits(8).memory_bytes
    bits = search.search(net, sens, (lo + hi) // 2).bits
    assert len(set(bits.values())) > 1        # really mixed
    return bits


def _assert_same(eng_layers, ref_layers, frame):
    for name, ref in ref_layers.items():
        got = eng_layers[name].view(ref.dtype)
        if not np.array_equal(got, ref):
            diff = np.flatnonzero(got.reshape(-1) != ref.reshape(-1))
            raise AssertionError(f"frame {frame}, layer {name}: {diff.size} of {ref.size} differ; "
                                 f"first at {diff[0]}: got {got.reshape(-1)[diff[0]]}, expected "
                                 f"{ref.reshape(-1)[diff[0]]}")


def _check_frames(graph, frames):
    eng = Engine(graph)
    state = None
    for i, x in enumerate(frames):
        layers = eng.run_layers(x)
        ref, state = run_ref(graph, x, state)
        _assert_same(layers, ref, i)
        for name, s in state.items():
            np.testing.assert_array_equal(eng.state[name], s)


@pytest.mark.parametrize("which", ["all8", "searched", "uncommon"])
def test_dcrnn_engine_equals_naive_network_over_frames_with_state(small, searched_bits, which):
    model, calib = small
    bits = {"all8": 8, "searched": searched_bits, "uncommon": UNCOMMON}[which]
    graph, _ = quantize_dcrnn(model, calib, bits, measure=False)
    assert is_ne16(graph)
    _check_frames(graph, calib[:3])


@pytest.mark.parametrize("bits", [8, UNCOMMON])
def test_packed_rom_equals_ne16_memory_figures(small, bits):
    model, calib = small
    graph, _ = quantize_dcrnn(model, calib, bits, measure=False)
    net = model.net.with_bits(bits)
    layers = {l.name: l for l in net.layers}
    total = 0
    for node in graph.nodes:
        if node.op is not Op.NE16_CONV:
            continue
        layer = layers[node.name]
        keys = [k for k in graph.params if k.startswith(node.name + ".")]
        rom = sum(graph.params[k].nbytes for k in keys)
        assert graph.params[f"{node.name}.weight"].nbytes == layer.weight_bytes() \
            == packed_weight_bytes(node.args.mode, layer.out_shape[2], layer.in_shape[2],
                                   node.args.bits)
        assert rom == layer.weight_bytes() + layer.fixed_bytes()
        total += rom
    ne16_net = to_net(graph)
    assert ne16_net.weight_bytes == net.weight_bytes
    assert total == net.weight_bytes + sum(l.fixed_bytes() for l in net.layers if l.on_ne16)


def test_quantized_dcrnn_agrees_with_float(small):
    model, calib = small
    _, rep = quantize_dcrnn(model, calib, 8)
    assert rep.sqnr_db > 20.0 and rep.top1_agreement >= 0.75, rep.render()
    _, rep2 = quantize_dcrnn(model, calib, {k: 2 for k in UNCOMMON})
    assert rep2.sqnr_db < rep.sqnr_db, (rep.render(), rep2.render())


# -------------------------------------------------------------------------- random graphs

def _conv(draw, rng, name, prev, in_shape, in_dtype, *, relu, modes=("3x3", "dw3x3", "1x1")):
    """A random NE16_CONV node reading ``in_shape`` and its parameters."""
    mode = "fc" if len(in_shape) == 1 else draw(st.sampled_from(modes))
    cin = in_shape[-1]
    k = cin if mode == "dw3x3" else draw(st.integers(1, 20))
    bits = draw(st.integers(2, 8))
    wmin = draw(st.one_of(st.none(), st.integers(-256, 255)))
    stride, dil, pads = 1, (1, 1), (0, 0, 0, 0)
    if mode in ("3x3", "dw3x3"):
        stride = draw(st.integers(1, 2))
        if stride == 1:
            dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        pads = tuple(draw(st.integers(0, 2 * d)) for d in (dil[0], dil[1], dil[0], dil[1]))
        assume(in_shape[0] + pads[0] + pads[2] - 2 * dil[0] >= 1)
        assume(in_shape[1] + pads[1] + pads[3] - 2 * dil[1] >= 1)
    scale_bits = draw(st.sampled_from([8, 16, 32]))
    per_ch = draw(st.booleans())
    kh = 3 if mode in ("3x3", "dw3x3") else 1
    wshape = (k, 3, 3, 1) if mode == "dw3x3" else (k, kh, kh, cin)
    params = {f"{name}.weight": pack_weights(rng.integers(0, 1 << bits, wshape, dtype=np.uint8),
                                             bits, mode),
              f"{name}.scale": rng.integers(0, 1 << scale_bits, k, dtype=np.uint64).astype(
                  {8: np.uint8, 16: np.uint16, 32: np.uint32}[scale_bits]),
              f"{name}.bias": rng.integers(-2**31, 2**31, k, dtype=np.int64).astype(np.int32)}
    if per_ch:
        params[f"{name}.shift"] = rng.integers(0, 64, k, dtype=np.uint8)
    args = Ne16ConvArgs(k, mode, bits, wmin, stride, dil, pads, scale_bits, per_ch,
                        draw(st.integers(0, 31)), relu, in_dtype == "int8")
    probe = Node(Op.NE16_CONV, name, prev, TensorSpec((1,), QFormat(0)), args)
    from edgesed.graph_ne16 import infer_shape
    out = infer_shape(probe, in_shape)
    return Node(Op.NE16_CONV, name, prev, TensorSpec(out, QFormat(draw(st.integers(0, 8))),
                                                     "uint8" if relu else "int8"), args), params


@given(st.data())
def test_random_conv_graphs_engine_equals_naive(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(3, 9)), draw(st.integers(3, 9)), draw(st.integers(1, 20)))
    c1, p1 = _conv(draw, rng, "c1", "input", shape, "int8", relu=True)
    ph = draw(st.integers(1, min(2, c1.output.shape[0])))
    pw = draw(st.integers(1, min(2, c1.output.shape[1])))
    pool_shape = (c1.output.shape[0] // ph, c1.output.shape[1] // pw, c1.output.shape[2])
    pool = Node(Op.NE16_MAXPOOL, "p1", "c1", TensorSpec(pool_shape, c1.output.q, "uint8"),
                Ne16PoolArgs((ph, pw)))
    relu2 = draw(st.booleans())
    c2, p2 = _conv(draw, rng, "c2", "p1", pool_shape, "uint8", relu=relu2)
    gmax = Node(Op.NE16_GLOBAL_MAXPOOL, "g", "c2", TensorSpec((c2.output.shape[2],), c2.output.q,
                                                              c2.output.dtype),
                Ne16GlobalPoolArgs())
    graph = Graph("rand", TensorSpec(shape, QFormat(4), "int8"), (c1, pool, c2, gmax), {**p1, **p2})
    frames = rng.integers(-128, 128, (2, *shape), dtype=np.int64).astype(np.int8)
    _check_frames(graph, frames)


@given(st.data())
def test_random_gru_graphs_engine_equals_naive_with_state(data):
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t, f0 = draw(st.integers(1, 5)), draw(st.integers(1, 12))
    shape = (t, 1, f0)
    c1, p1 = _conv(draw, rng, "c1", "input", shape, "int8", relu=True, modes=("1x1",))
    f = c1.output.shape[2]
    units, shift = draw(st.integers(1, 9)), draw(st.integers(1, 2))
    n_i = c1.output.q.frac_bits - shift
    n_z = draw(st.integers(4, 7))
    n_w = draw(st.integers(max(0, n_z - n_i), max(0, n_z - n_i) + 8))
    n_b = draw(st.integers(n_i + n_w - 16, n_i + n_w))
    n_u = draw(st.integers(0, 9))
    gru = Node(Op.NE16_GRU, "gru", "c1", TensorSpec((t, 1, units), QFormat(7), "int8"),
               Ne16GruArgs(units, QFormat(n_z), QFormat(n_u), shift), QFormat(n_w), QFormat(n_b))
    i8 = lambda *s: rng.integers(-128, 128, s, dtype=np.int64).astype(np.int8)  # noqa: E731
    pg = {"gru.weight": i8(3 * units, f), "gru.recurrent": i8(3 * units, units),
          "gru.bias": i8(3 * units), "gru.recurrent_bias": i8(3 * units)}
    if draw(st.booleans()):     # per-step dense (1x1) then max over time
        c2, p2 = _conv(draw, rng, "c2", "gru", (t, 1, units), "int8", relu=False,
                       modes=("1x1",))
        tail = [c2, Node(Op.NE16_GLOBAL_MAXPOOL, "g", "c2",
                         TensorSpec((c2.output.shape[2],), c2.output.q, "int8"),
                         Ne16GlobalPoolArgs())]
    else:                       # max over time then a fully connected job
        g = Node(Op.NE16_GLOBAL_MAXPOOL, "g", "gru", TensorSpec((units,), QFormat(7), "int8"),
                 Ne16GlobalPoolArgs())
        c2, p2 = _conv(draw, rng, "c2", "g", (units,), "int8", relu=False)
        tail = [g, c2]
    graph = Graph("randgru", TensorSpec(shape, QFormat(4), "int8"), (c1, gru, *tail),
                  {**p1, **pg, **p2})
    frames = rng.integers(-128, 128, (3, *shape), dtype=np.int64).astype(np.int8)
    _check_frames(graph, frames)


# ------------------------------------------------------------------------------- streaming

@pytest.fixture(scope="module")
def full_graph():
    model = float_model(dcrnn_net(), 0)
    graph, _ = quantize_dcrnn(model, frontend_patches(1, 0, 96), UNCOMMON, measure=False)
    return graph


@pytest.fixture(scope="module")
def audio():
    from edgesed.datasets.synthetic import make_dataset
    clip = make_dataset(1, seed=3, classes=["siren"])[0].audio.astype(np.float32)
    return clip[:int(2.9 * 16000)]


def _frames(stream, audio, block):
    stream.reset()
    frames = []
    for i in range(0, audio.size, block):
        frames += stream.feed(audio[i:i + block])
    return frames


def test_stream_equals_batch_for_block_sizes(full_graph, audio):
    from edgesed.frontend import make_frontend
    from edgesed.stream import Stream
    from edgesed.stream.patcher import Patcher

    s = Stream(full_graph, frontend="fixed", hop_ms=480, labels=[str(i) for i in range(56)])
    runs = {}
    for block in (audio.size, 1600, 777):
        frames = _frames(s, audio, block)
        runs[block] = ([f.logits for f in frames], s.engine.state["gru"])
    ref_logits, ref_state = runs[audio.size]
    assert len(ref_logits) >= 3
    for block, (logits, state) in runs.items():
        assert len(logits) == len(ref_logits)
        for a, b in zip(logits, ref_logits):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(state, ref_state)
    # batch: the whole file through the frontend and patcher, then the engine patch by patch
    fe, patcher, eng = make_frontend("fixed", input_q=INPUT_Q), Patcher(48), Engine(full_graph)
    batch = [eng.run(p).copy() for _, p in patcher.push(fe.push(audio))]
    assert len(batch) == len(ref_logits)
    for a, b in zip(batch, ref_logits):
        np.testing.assert_array_equal(a, b)


def test_stream_external_state_equals_internal(full_graph, audio):
    from edgesed.stream import Mode, Stream

    labels = [str(i) for i in range(56)]
    internal = Stream(full_graph, frontend="fixed", hop_ms=480, labels=labels)
    ref = [f.logits for f in _frames(internal, audio, 1600)]
    ext = Stream(full_graph, frontend="fixed", hop_ms=480, labels=labels,
                 mode=Mode.STREAM_EXTERNAL_STATE)
    state = ext.initial_state()
    assert state["gru"].dtype == np.int16 and not state["gru"].any()
    got = []
    for i in range(0, audio.size, 1600):
        frames, state = ext.feed(audio[i:i + 1600], state)
        got += [f.logits for f in frames]
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(state["gru"], internal.engine.state["gru"])
    assert state["gru"].any()                 # the GRU state really moved


def test_stream_report_shows_gap9_timing(full_graph):
    from edgesed.dispatch_ne16 import frame_costs
    from edgesed.ne16.gap9 import net_costs
    from edgesed.stream import Stream

    s = Stream(full_graph, frontend="fixed", labels=[str(i) for i in range(56)])
    r = s.report
    costs = net_costs(to_net(full_graph))
    assert r["target"] == "gap9" and r["clock_mhz"] == 400.0
    assert r["ms"] == pytest.approx(costs["ms"])
    assert r["energy_uj"] == pytest.approx(costs["energy_uj"])
    assert [l["name"] for l in r["layers"]] == [n.name for n in full_graph.nodes]
    assert r["rom_bytes"] == full_graph.rom_bytes
    c = frame_costs(full_graph)
    assert [l["unit"] for l in c["layers"]][:2] == ["ne16", "cluster"]


# ---------------------------------------------------------------------------------- errors

def _one_conv(args, in_shape=(6, 6, 4), in_dtype="int8", params=None, out_dtype=None):
    from edgesed.graph_ne16 import infer_shape
    probe = Node(Op.NE16_CONV, "c", "input", TensorSpec((1,), QFormat(0)), args)
    out = infer_shape(probe, in_shape)
    node = Node(Op.NE16_CONV, "c", "input",
                TensorSpec(out, QFormat(4), out_dtype or ("uint8" if args.relu else "int8")), args)
    k = args.out_ch
    if params is None:
        kh = 1 if args.mode in ("1x1", "fc") else 3
        cin = 1 if args.mode == "dw3x3" else in_shape[-1]
        w = np.zeros((k, kh, kh, cin), np.uint8)
        params = {"c.weight": pack_weights(w, args.bits, args.mode),
                  "c.scale": np.ones(k, np.uint8), "c.bias": np.zeros(k, np.int32)}
    return Graph("e", TensorSpec(in_shape, QFormat(4), in_dtype), (node,), params)


def test_errors_name_the_value_and_the_fix():
    ok = Ne16ConvArgs(8, "3x3", 4, input_signed=True)
    validate(_one_conv(ok))
    import dataclasses as dc
    with pytest.raises(ConfigError, match=r"bits=9 is outside the NE16 weight bit-widths \[2, 8\]"):
        validate(_one_conv(dc.replace(ok, bits=9), params={}))
    with pytest.raises(ConfigError, match=r"bits=1 .*1-bit"):
        validate(_one_conv(dc.replace(ok, bits=1), params={}))
    with pytest.raises(ShapeError, match="out_ch == input channels"):
        _one_conv(dc.replace(ok, mode="dw3x3"))
    with pytest.raises(ShapeError, match=r"uint16 subtile counts"):
        validate(_one_conv(Ne16ConvArgs(4, "1x1", 8, padding=(0, 0, 0, 0), input_signed=True),
                           in_shape=(1, 1, 16 * 65536 + 1), params={}))
    g = _one_conv(ok)
    bad = dict(g.params, **{"c.weight": g.params["c.weight"][:-1]})
    with pytest.raises(ShapeError, match=r"c.weight: dtype uint8 shape \(\d+,\), expected uint8"):
        validate(Graph("e", g.input, g.nodes, bad))
    with pytest.raises(ConfigError, match="input_signed=True"):
        validate(_one_conv(dc.replace(ok, input_signed=False)))
    with pytest.raises(ConfigError, match=r"padding=\(3, 1, 1, 1\)"):
        _one_conv(dc.replace(ok, padding=(3, 1, 1, 1)))
    with pytest.raises(ConfigError, match=r"shift=40 must be an int in \[0, 31\]"):
        validate(_one_conv(dc.replace(ok, shift=40)))
    with pytest.raises(ConfigError, match=r"relu=True: normquant writes uint8"):
        validate(_one_conv(ok, out_dtype="int8"))
    with pytest.raises(ShapeError, match="mode 'fc' takes a 1-D input"):
        _one_conv(Ne16ConvArgs(4, "fc", 8, padding=(0, 0, 0, 0), input_signed=True))


def test_gru_and_quantizer_errors(small):
    model, calib = small
    with pytest.raises(ConfigError, match=r"bits=1 is outside"):
        quantize_dcrnn(model, calib, 1, measure=False)
    with pytest.raises(ConfigError, match="calib must be int8"):
        quantize_dcrnn(model, calib.astype(np.float32), 8, measure=False)
    graph, _ = quantize_dcrnn(model, calib, 8, measure=False)
    import dataclasses as dc
    nodes = tuple(dc.replace(n, args=dc.replace(n.args, input_shift=0)) if n.name == "gru" else n
                  for n in graph.nodes)
    with pytest.raises(ConfigError, match=r"input_shift=0 must be in \[1, 8\].*does not fit q7"):
        validate(Graph("g", graph.input, nodes, graph.params))
    nodes = tuple(dc.replace(n, args=dc.replace(n.args, gate_q=QFormat(2))) if n.name == "gru"
                  else n for n in graph.nodes)
    with pytest.raises(ConfigError, match=r"layer 'gru': act_int_width"):
        validate(Graph("g", graph.input, nodes, graph.params))
