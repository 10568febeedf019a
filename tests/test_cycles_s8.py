"""Cycle model of the CMSIS-NN s8/s4 kernels: the wrapper's dispatch, loop counts worked by hand,
scaling properties, the built-in int8 models on every target build, and the report.

The s8 model is not validated against a measurement (see ``edgesed.cycles.s8``): these tests pin
its arithmetic and its structure, not its accuracy."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.cli import main
from edgesed.cycles import CORE_TIMING, graph_cycles, layer_cycles
from edgesed.cycles import s8 as S8
from edgesed.graph import Graph, Node, Op, TensorSpec
from edgesed.graph_s8 import (AffineQ, ConvS8Args, DenseS8Args, DepthwiseS8Args, LstmS8Args,
                              PoolS8Args, ReshapeArgs)
from edgesed.models_s8 import build_s8
from edgesed.targets import resolve_target
from kernels.convolve_s8 import convolve_wrapper_s8_buffer_size
from kernels.depthwise_s8 import depthwise_conv_wrapper_s8_buffer_size

Q = AffineQ((0.05,), 0)
M4_0WS = "cortex-m4@16MHz"          # 0 flash wait states: no flash/fetch terms, pure loop counts
TARGETS = ("cortex-m4", "cortex-m4-nodsp", "cortex-m7", "cortex-m55")
BUILD = {"cortex-m4": "dsp", "cortex-m4-nodsp": "c", "cortex-m7": "dsp", "cortex-m55": "mve"}


def one_layer(in_shape, op, args, out_shape, channels=1) -> tuple[Graph, Node]:
    """A one-layer int8 graph (no parameters: the cycle model needs shapes and formats only)."""
    node = Node(op, "l", "input", TensorSpec(tuple(out_shape), Q), args,
                weight_q=AffineQ((0.01,) * channels) if channels else None)
    return Graph("g", TensorSpec(tuple(in_shape), Q), (node,)), node


def conv(hwc, out_ch, k=1, s=1, p=0, bits=8):
    kh, kw = (k, k) if isinstance(k, int) else k
    oh, ow = (hwc[0] + 2 * p - kh) // s + 1, (hwc[1] + 2 * p - kw) // s + 1
    return one_layer(hwc, Op.CONV_S8, ConvS8Args(out_ch, (kh, kw), (s, s), (p, p),
                                                 weight_bits=bits), (oh, ow, out_ch), out_ch)


def dense(n, units, bits=8):
    return one_layer((n,), Op.DENSE_S8, DenseS8Args(units, weight_bits=bits), (units,))


@pytest.fixture(scope="module")
def models():
    return {name: build_s8(name) for name in ("ds-cnn", "m20k-s8")}


# --------------------------------------------------------------- hand-worked loop counts

def test_1x1_conv_on_the_m4_costs_the_nt_t_loops_worked_by_hand():
    """4x4x16 -> 16 channels, 1x1: ``arm_convolve_1x1_s8_fast`` -> ``arm_nn_mat_mult_nt_t_s8``.

    M4 costs: ALU/MAC/SIMD/store 1, first load 2, pipelined load 1, taken branch/BL/return 3,
    one pushed/popped register 1. Per pass:
      convolution call: 24 ALU + 12 stores + BL + 17 regs + return + 1 + 11 loads   = 72
      nt_t call:        12 ALU + 10 stores + BL + 17 regs + return + 1 + 9 loads    = 56
      offset column:    2 + 1 loads, 3 ALU, branch                                  = 9
      row pair:         2 MUL, 2 + 1 loads, 8 ALU, branch                            = 16
      16-column body:   8 x 2 + 8 loads, 32 SXTB16, 32 SMLAD, 2 ALU, branch          = 93
      2x2 tile output:  10 ALU + branch, 4 x requant (2 + 1 loads, SMLAL, 24 ALU, STRB)
                        = 13 + 4 x 29                                               = 129
    Passes: 8 weight-row pairs x 8 pixel pairs = 64 tiles, each 16 columns = one 16-body;
    the offset loop runs 16 columns per row pair.
    """
    graph, node = conv((4, 4, 16), 16)
    b = layer_cycles(graph, node, M4_0WS)
    assert b.kernel == "arm_convolve_1x1_s8_fast (dsp)"
    assert b.terms == {"call": 72 + 56, "offset": 8 * 16 * 9 + 8 * 16, "mac_tile": 64 * 93,
                       "requant": 64 * 129}
    assert b.total == 15616


def test_fully_connected_on_the_m4_costs_the_vec_mat_mult_loops_worked_by_hand():
    """32 -> 10 units, per-tensor scale: ``arm_nn_vec_mat_mult_t_s8`` DSP, 2 rows x 4 columns.

      two calls (FC + vec_mat_mult): 2 x (4 ALU + 11 st + BL + 17 + ret + 2 + 10) + 12 = 112
      2 rows x 4 columns: 3 loads x 2, 6 SXT(A)B16, 4 SMLAD, loop 0.5 ALU + 0.25 x 3   = 17.25
      2-row output: 8 ALU + 2 + 1 loads + branch, 2 x (SMLAL, 22 ALU, STRB)           = 14 + 48
    Passes: 5 row pairs x 8 column quads = 40 bodies; 5 outputs stages.
    """
    graph, node = dense(32, 10)
    b = layer_cycles(graph, node, M4_0WS)
    assert b.kernel == "arm_fully_connected_s8 (dsp)"
    assert b.terms == {"call": 112, "mac_tile": 40 * 17.25, "requant": 5 * 62}
    assert b.total == 1112


def test_fully_connected_plain_c_runs_three_rows_then_the_leftover_row():
    """The same layer without ARM_MATH_DSP: 3 rows x 1 column (4 LDRSB, ADD, 3 MLA, loop = 13),
    3 row groups x 32 columns, output 14 + 3 x 24; then 1 leftover row (9 per column, 14 + 24)."""
    graph, node = dense(32, 10)
    b = layer_cycles(graph, node, "cortex-m4-nodsp@16MHz")
    assert b.kernel == "arm_fully_connected_s8 (c)"
    assert b.terms == {"call": 112, "mac_tile": 3 * 32 * 13, "requant": 3 * 86 + 38,
                       "leftover": 32 * 9}
    assert b.total == 1944


def test_3x3_depthwise_counts_valid_taps_only():
    """5x5x8, 3x3 pad 1: ``arm_depthwise_conv_3x3_s8`` multiplies only the in-image taps: 9 per
    interior pixel, 6 per edge, 4 per corner -> 9*9 + 12*6 + 4*4 = 169 taps, each for 2 groups
    of 4 channels (DSP: 2 + 1 loads, 4 SXT(A)B16, 4 SMLAxy = 11 cycles)."""
    graph, node = one_layer((5, 5, 8), Op.DEPTHWISE_S8,
                            DepthwiseS8Args(1, (3, 3), padding=(1, 1)), (5, 5, 8), 8)
    b = layer_cycles(graph, node, M4_0WS)
    assert b.kernel == "arm_depthwise_conv_3x3_s8 (dsp)"
    assert b.terms["mac_tile"] == 169 * 2 * 11
    assert b.terms["requant"] == 25 * 8 * 29


# --------------------------------------------------------------- dispatch = the wrapper's rules

geometry = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 24),
                     st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1))


@given(geometry)
def test_conv_variant_agrees_with_the_wrappers_buffer_size(geo):
    """The 1x1 kernels are exactly the wrapper cases whose (GCC, DSP) scratch is 0."""
    h, w, c, kh, kw, s, p = geo
    p = min(p, kh - 1, kw - 1)
    g = S8.ConvGeomS8(h + kh, w + kw, c, (h + 2 * p) // s + 1, (w + 2 * p) // s + 1, 4, kh, kw,
                      s, s, p, p)
    size = convolve_wrapper_s8_buffer_size((g.in_h, g.in_w, c), (4, kh, kw, c), stride=(s, s),
                                           padding=(p, p), backend="dsp")
    assert (S8.conv_variant(g) in ("1x1_fast", "1x1")) == (size == 0)


@given(geometry, st.integers(1, 5))
def test_depthwise_variant_agrees_with_the_wrappers_buffer_size(geo, mult):
    """Only ``_opt`` needs a buffer: DSP for non-3x3 (or pad > 1) kernels, MVE for every
    ch_mult-1 kernel; plain C never (``_opt`` falls back to ``arm_depthwise_conv_s8``)."""
    h, w, c, kh, kw, s, p = geo
    g = S8.ConvGeomS8(h + kh, w + kw, c, h, w, c * mult, kh, kw, s, s, p, p)
    for build in ("dsp", "mve", "c"):
        size = depthwise_conv_wrapper_s8_buffer_size((g.in_h, g.in_w, c), (kh, kw), ch_mult=mult,
                                                     stride=(s, s), padding=(p, p), backend=build)
        assert (S8.dw_variant(g, mult, build) == "opt") == (size > 0)


def test_ds_cnn_layers_take_the_kernels_the_wrappers_pick(models):
    g = models["ds-cnn"]
    names = {b.layer: b.kernel for b in graph_cycles(g, "cortex-m4")}
    assert names["conv1"] == "arm_convolve_s8 (dsp)"            # 10x4 stride 2 SAME
    assert names["dw1"] == "arm_depthwise_conv_3x3_s8 (dsp)"
    assert names["pw1"] == "arm_convolve_1x1_s8_fast (dsp)"
    assert names["avgpool"] == "arm_avgpool_s8 (dsp)"
    assert names["fc"] == "arm_fully_connected_s8 (dsp)"
    mve = {b.layer: b.kernel for b in graph_cycles(g, "cortex-m55")}
    assert mve["dw1"] == "arm_depthwise_conv_s8_opt (mve)"       # no 3x3 kernel on MVE


# --------------------------------------------------------------- the built-in models

@pytest.mark.parametrize("model", ["ds-cnn", "m20k-s8"])
@pytest.mark.parametrize("target", TARGETS)
def test_every_int8_layer_has_cycles_on_every_target_build(models, model, target):
    graph = models[model]
    bs = graph_cycles(graph, target)
    assert [b.layer for b in bs] == [n.name for n in graph.nodes]
    for node, b in zip(graph.nodes, bs):
        if node.op is Op.RESHAPE:
            assert b.total == 0 and b.kernel == "(reshape: no code)"
            continue
        assert b.total > 0 and b.kernel.endswith(f"({BUILD[target]})")
        assert all(v > 0 for v in b.terms.values())


@pytest.mark.parametrize("model", ["ds-cnn", "m20k-s8"])
def test_every_term_is_passes_times_the_loop_mix_on_the_core(models, model):
    for target in TARGETS:
        timing = CORE_TIMING[resolve_target(target).core]
        for b in graph_cycles(models[model], target):
            for name, _, count, mix, cyc in b.loops:
                if name not in ("flash", "fetch"):
                    assert math.isclose(cyc, count * mix.cycles(timing))
            assert math.isclose(b.total, sum(l[4] for l in b.loops))


@pytest.mark.parametrize("model", ["ds-cnn", "m20k-s8"])
def test_dsp_beats_plain_c_and_mve_beats_dsp_on_every_weighted_layer(models, model):
    graph = models[model]
    c, dsp, mve = (graph_cycles(graph, t) for t in ("cortex-m4-nodsp@16MHz", M4_0WS,
                                                   "cortex-m55"))
    for node, bc, bd, bm in zip(graph.nodes, c, dsp, mve):
        if node.op in (Op.CONV_S8, Op.DEPTHWISE_S8, Op.DENSE_S8, Op.LSTM_S8):
            assert bd.total < bc.total, node.name
            assert bm.total < bd.total, node.name


def test_flash_stalls_vanish_at_zero_wait_states_and_grow_at_four(models):
    g = models["ds-cnn"]
    slow = sum(b.total for b in graph_cycles(g, "cortex-m4"))
    fast = graph_cycles(g, M4_0WS)
    assert all("flash" not in b.terms and "fetch" not in b.terms for b in fast)
    assert slow > sum(b.total for b in fast)


# --------------------------------------------------------------- scaling properties

@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 40), st.integers(1, 16),
       st.sampled_from([1, 3]), st.sampled_from(["dsp", "c", "mve"]))
def test_doubling_the_output_channels_doubles_the_mac_term(h, w, c, half, k, build):
    cout = 2 * half
    g1 = S8.ConvGeomS8(h + k - 1, w + k - 1, c, h, w, cout, k, k)
    g2 = S8.ConvGeomS8(h + k - 1, w + k - 1, c, h, w, 2 * cout, k, k)
    timing = CORE_TIMING[resolve_target("cortex-m55" if build == "mve" else "cortex-m4").core]

    def mac(g):
        return sum(t.count * t.mix.cycles(timing)
                   for t in S8.conv_terms(g, build, S8.conv_variant(g)) if t.name == "mac_tile")
    assert mac(g2) == 2 * mac(g1)


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 12).map(lambda q: 4 * q),
       st.integers(1, 8).map(lambda p: 2 * p), st.sampled_from([1, 3]),
       st.sampled_from(["cortex-m4@16MHz", "cortex-m4-nodsp@16MHz", "cortex-m55"]))
def test_s4_adds_a_fixed_unpack_cost_per_mac(h, w, c, cout, k, target):
    """Per MAC, s4 adds one ``read_and_pad_s4`` (10 cycles on the M4) per 4 weights shared by 2
    pixels (DSP), 1.5 ALU per weight shared by 2 pixels (C), or 2 vector ops (4 cycles) per 16
    weights shared by 4 pixels (MVE); everything else is the s8 loop."""
    g8, n8 = conv((h + k - 1, w + k - 1, c), cout, k=k)
    g4, n4 = conv((h + k - 1, w + k - 1, c), cout, k=k, bits=4)
    b8, b4 = layer_cycles(g8, n8, target), layer_cycles(g4, n4, target)
    macs = h * w * cout * k * k * c
    build = b4.kernel.rsplit("(", 1)[1].rstrip(")")
    per_mac = {"dsp": 10 / 4 / 2, "c": 1.5 / 2, "mve": (2 * 2) / 16 / 4}[build]
    assert math.isclose(b4.terms["unpack"], macs * per_mac)
    assert math.isclose(b4.total - b4.terms["unpack"], b8.total)
    assert b4.kernel == b8.kernel.replace("_s8", "_s4")


@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 32), st.integers(1, 32))
def test_more_input_channels_never_cost_fewer_cycles(h, w, c, extra):
    """Strictly more on DSP/C; on MVE a tail-predicated 16-lane block costs the same for 1..16
    channels, so only ``>=``."""
    a, na = conv((h + 2, w + 2, c), 8, k=3)
    b, nb = conv((h + 2, w + 2, c + extra), 8, k=3)
    for target in ("cortex-m4", "cortex-m4-nodsp"):
        assert layer_cycles(b, nb, target).total > layer_cycles(a, na, target).total
    assert layer_cycles(b, nb, "cortex-m55").total >= layer_cycles(a, na, "cortex-m55").total


@given(st.integers(1, 6), st.integers(1, 40), st.integers(1, 40),
       st.sampled_from(["cortex-m4@16MHz", "cortex-m4-nodsp@16MHz", "cortex-m55"]))
def test_lstm_cycles_are_per_time_step(steps, features, units, target):
    """``arm_lstm_unidirectional_s8`` repeats one step (8 gate products, 5 activations, 3
    element-wise products) per time step: T steps cost T times one step."""
    def lstm(t):
        args = LstmS8Args(units, 2.0 ** -11, (0.01,))
        return one_layer((t, features), Op.LSTM_S8, args, (t, units), 0)
    one, many = lstm(1), lstm(steps)
    b1, bt = layer_cycles(*one, target), layer_cycles(*many, target)
    assert b1.kernel.startswith("arm_lstm_unidirectional_s8")
    assert math.isclose(bt.total, steps * b1.total)
    assert b1.terms.get("mac_tile", 0) + b1.terms.get("leftover", 0) > 0
    assert b1.terms["elementwise"] > 0


def test_pooling_and_reshape_have_no_weights_to_stream():
    g, n = one_layer((8, 8, 16), Op.MAXPOOL_S8, PoolS8Args((2, 2), (2, 2)), (4, 4, 16), 0)
    b = layer_cycles(g, n, "cortex-m4")
    assert "flash" not in b.terms and b.terms["compare"] > 0
    g, n = one_layer((8, 8, 16), Op.RESHAPE, ReshapeArgs(), (1024,), 0)
    assert layer_cycles(g, n, "cortex-m4").total == 0


# --------------------------------------------------------------- the report

def test_report_prints_the_ds_cnn_frame_cost_on_the_m4(capsys):
    assert main(["report", "ds-cnn", "--target", "cortex-m4"]) == 0
    out = capsys.readouterr().out
    assert "arm_convolve_1x1_s8_fast (dsp)" in out and "arm_depthwise_conv_3x3_s8 (dsp)" in out
    total = sum(b.total for b in graph_cycles(build_s8("ds-cnn"), "cortex-m4"))
    assert f"{total / 80e3:>9.2f} ms per 960 ms frame" in out
    assert "uJ per frame" in out and "NOT validated" in out
    assert "[different model from the seed's]" in out
