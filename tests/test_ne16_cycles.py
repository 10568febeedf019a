"""NE16 cycle model, layer memory and the GAP9 profile.

The cycle model is checked against a naive reference that enumerates every NE16 job, output
tile, output-channel tile and Ki subtile one by one with the constants written out literally
(DORY's Ne16PerfModel / PLINIO, research notes ne16.md §3.2), against the notes' peak MAC/cycle
table, and on hand-worked layers.
"""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgesed.errors import ArenaOverflowError, ConfigError, ShapeError
from edgesed.ne16 import cycles as C
from edgesed.ne16.gap9 import (GAP9, PUBLISHED, check_fits_l2, cluster_cycles, format_net_costs,
                               layer_cost, net_costs)
from edgesed.ne16.layers import Kind, Layer, Net, check_bits, packed_bytes


# --- naive reference: walk every tile ------------------------------------------------------------
def naive_cycles(mode, h_out, w_out, k_out, k_in, qw, stride=1, dilation=(1, 1), scale_bits=8,
                 has_bias=True, per_channel_shift=False, output_bits=8):
    """Sum the phase costs tile by tile; returns a dict of the six terms."""
    terms = dict.fromkeys(C.TERMS, 0)
    # the output tiles: a list of the (row, col) origins NE16 is asked to compute
    tiles = []
    if stride == 2:
        tiles = [(r, c) for r in range(0, h_out, 2) for c in range(0, w_out, 2)]
    else:
        dh, dw = dilation
        for p in range(dh):
            for q in range(dw):
                rows = list(range(p, h_out, dh))
                cols = list(range(q, w_out, dw))
                tiles += [(rows[i], cols[j]) for i in range(0, len(rows), 3)
                          for j in range(0, len(cols), 3)]
    ko_step = 16 if mode == "dw" else 32
    ko_tiles = [min(ko_step, k_out - k0) for k0 in range(0, k_out, ko_step)]
    ki_tiles = [1] if mode == "dw" else list(range(0, k_in, 16))
    for _ in tiles:
        for k in ko_tiles:
            for _ki in ki_tiles:
                terms["load"] += 19 if mode == "1x1" else 31
                terms["weight_offset"] += 6 + (k if mode == "dw" else 0)
                terms["matrixvec"] += 6 + (k if mode == "1x1" else k * qw)
                terms["update_idx"] += 2
            if output_bits == 8:
                nq = 9 + -(-k * (scale_bits // 8) // 4)
                nq += (8 + -(-k // 8)) if has_bias else 0
                nq += 8 if per_channel_shift else 0
                terms["normquant"] += nq
            terms["streamout"] += 3 + 9 * -(-k * output_bits // 256) + 1
    return terms


geometry = st.fixed_dictionaries({
    "mode": st.sampled_from(["3x3", "1x1", "dw"]),
    "h_out": st.integers(1, 20), "w_out": st.integers(1, 20),
    "k_out": st.integers(1, 80), "k_in": st.integers(1, 80),
    "qw": st.integers(2, 8), "stride": st.sampled_from([1, 2]),
    "dh": st.integers(1, 5), "dw": st.integers(1, 3),
    "scale_bits": st.sampled_from([8, 16, 32]), "has_bias": st.booleans(),
    "per_channel_shift": st.booleans(), "output_bits": st.sampled_from([8, 32]),
})


@given(geometry)
def test_conv_cycles_matches_tile_by_tile_reference(g):
    dil = (g["dh"], g["dw"]) if g["mode"] != "1x1" and g["stride"] == 1 else (1, 1)
    k_in = g["k_out"] if g["mode"] == "dw" else g["k_in"]
    kw = dict(stride=g["stride"], dilation=dil, scale_bits=g["scale_bits"],
              has_bias=g["has_bias"], per_channel_shift=g["per_channel_shift"],
              output_bits=g["output_bits"])
    got = C.conv_cycles(g["mode"], g["h_out"], g["w_out"], g["k_out"], k_in, g["qw"], **kw)
    want = naive_cycles(g["mode"], g["h_out"], g["w_out"], g["k_out"], k_in, g["qw"], **kw)
    assert got.terms == want
    assert got.total == sum(want.values())


@pytest.mark.parametrize("mode,table", [
    ("3x3", [380, 294, 240, 202, 175, 154, 138]),
    ("1x1", [71] * 7),
    ("dw", [13.9, 11.9, 10.4, 9.2, 8.3, 7.5, 6.9]),
])
def test_peak_macs_per_cycle_reproduces_notes_table(mode, table):
    for qw, want in zip(range(2, 9), table):
        got = C.peak_macs_per_cycle(mode, qw)
        assert round(got, 0 if want >= 20 else 1) == want, (mode, qw, got)


@pytest.mark.parametrize("mode,layer,want", [
    ("1x1", (18, 51, 32, 32), 18_768),      # the layer of DORY's own __main__
    ("3x3", (48, 2, 256, 256), 623_360),
    ("dw", (32, 32, 64, 64), 109_868),
])
def test_matches_dory_ne16perfmodel_golden_values(mode, layer, want):
    """Golden values: ``Ne16PerfModel(...).set_layer((Ho, Wo, Ko, Ki)).latency`` of
    pulp-platform/dory @ edc45e46 (``Hardware_targets/PULP/GAP9_NE16/Tiler/Ne16PerfModel.py``),
    with its defaults (8-bit weights, 32-bit scale, no bias, no per-channel shift), run once
    outside the project; 3000 random stride-1 layers agreed with this model exactly."""
    ho, wo, ko, ki = layer
    got = C.conv_cycles(mode, ho, wo, ko, ki, 8, scale_bits=32, has_bias=False)
    assert got.total == want


def test_hand_worked_3x3_tile():
    # one 3x3x32 output tile, Kin=16, 8-bit weights, 8-bit scale + bias:
    # load 31 + woff 6 + matrixvec 6+32*8 + idx 2 = 301; normquant 9+8 + 8+4 = 29; streamout 13
    c = C.conv_cycles("3x3", 3, 3, 32, 16, 8)
    assert c.terms == {"load": 31, "weight_offset": 6, "matrixvec": 262, "update_idx": 2,
                       "normquant": 29, "streamout": 13}
    assert c.total == 343
    # 3 bits: only matrixvec changes (6 + 96)
    assert C.conv_cycles("3x3", 3, 3, 32, 16, 3).total == 343 - 256 + 96


def test_hand_worked_remainders_and_ki_subtiles():
    # 4x4 output -> 4 spatial tiles; k_out=33 -> a 32 tile and a 1 tile; k_in=17 -> 2 Ki subtiles
    c = C.conv_cycles("3x3", 4, 4, 33, 17, 2, has_bias=False)
    assert c.counts == {"spatial_tiles": 4, "ko_tiles": 1, "ko_remainder": 1, "ki_subtiles": 2,
                        "jobs": 1}
    per_tile_32 = 2 * (31 + 6 + (6 + 64) + 2) + (9 + 8) + 13
    per_tile_1 = 2 * (31 + 6 + (6 + 2) + 2) + (9 + 1) + 13
    assert c.total == 4 * (per_tile_32 + per_tile_1)


def test_1x1_time_does_not_depend_on_weight_bits_but_3x3_does():
    one = [C.conv_cycles("1x1", 9, 9, 64, 64, q).total for q in range(2, 9)]
    three = [C.conv_cycles("3x3", 9, 9, 64, 64, q).total for q in range(2, 9)]
    assert len(set(one)) == 1
    assert all(a < b for a, b in zip(three, three[1:]))
    # matrixvec grows by exactly k per tile per Ki subtile per extra bit
    d = C.conv_cycles("3x3", 9, 9, 64, 64, 5).terms["matrixvec"] - \
        C.conv_cycles("3x3", 9, 9, 64, 64, 4).terms["matrixvec"]
    assert d == 9 * 2 * 4 * 32     # 9 spatial tiles x 2 Ko tiles x 4 Ki subtiles x 32 channels


def test_stride2_is_one_job_per_2x2_output_tile():
    c = C.conv_cycles("3x3", 5, 7, 32, 16, 8, stride=2)
    assert c.counts["spatial_tiles"] == c.counts["jobs"] == 3 * 4
    assert c.total == 12 * C.conv_cycles("3x3", 3, 3, 32, 16, 8).total


def test_dilation_runs_as_subgrid_convolutions():
    # dilation (2, 1) on 12x6: two 6x6 sub-grids of 4 tiles each = 8 tiles
    c = C.conv_cycles("3x3", 12, 6, 32, 16, 4, dilation=(2, 1))
    assert c.counts["spatial_tiles"] == 8 and c.counts["jobs"] == 2
    assert c.total == 2 * C.conv_cycles("3x3", 6, 6, 32, 16, 4).total
    assert C.spatial_tiles(2, 2, 1, (16, 1)) == 2          # dilation larger than the map


def test_cycle_model_errors_name_the_value():
    with pytest.raises(ConfigError, match="qw=9"):
        C.conv_cycles("3x3", 3, 3, 8, 8, 9)
    with pytest.raises(ConfigError, match="qw=1"):
        C.conv_cycles("3x3", 3, 3, 8, 8, 1)
    with pytest.raises(ConfigError, match="stride=3"):
        C.conv_cycles("3x3", 3, 3, 8, 8, 8, stride=3)
    with pytest.raises(ConfigError, match="dilation"):
        C.conv_cycles("1x1", 3, 3, 8, 8, 8, dilation=(2, 1))
    with pytest.raises(ConfigError, match="k_in == k_out"):
        C.conv_cycles("dw", 3, 3, 8, 16, 8)
    with pytest.raises(ConfigError, match="mode='5x5'"):
        C.conv_cycles("5x5", 3, 3, 8, 8, 8)


# --- layers: memory ------------------------------------------------------------------------------
def test_packed_bytes_matches_notes_example_and_formula():
    assert packed_bytes(Kind.CONV3X3, 64, 40, 3) == 10_368      # notes §2 (dense would be 8,640)
    for b in range(2, 9):
        assert packed_bytes(Kind.CONV1X1, 30, 33, b) == 30 * 3 * b * 2
        assert packed_bytes(Kind.FC, 56, 64, b) == 56 * 4 * b * 2
        assert packed_bytes(Kind.DW3X3, 40, 40, b) == 3 * b * 9 * 2


def test_layer_memory_and_bits():
    l = Layer("c", Kind.CONV3X3, (8, 8, 40), (8, 8, 64), bits=3, scale_bits=16,
              per_channel_shift=True)
    assert l.weight_bytes() == 10_368 and l.weight_bytes(8) == 64 * 3 * 8 * 9 * 2
    assert l.fixed_bytes() == 64 * (2 + 4 + 1)
    frozen = Layer("f", Kind.CONV1X1, (4, 4, 16), (4, 4, 16), bits=4, searchable=False)
    assert frozen.weight_bytes() == 0 and frozen.fixed_bytes() == 16 * 4 * 2 + 16 * 5
    gru = Layer("g", Kind.GRU, (10, 1, 8), (10, 1, 4))
    assert gru.weight_bytes() == 0 and gru.fixed_bytes() == 3 * 4 * 12 + 4 * 2 * 12
    assert gru.macs == 10 * 3 * 4 * 12


@pytest.mark.parametrize("bad", [0, 1, 9, 16, -3, 2.5, "4", True])
def test_bits_outside_2_to_8_are_refused(bad):
    with pytest.raises(ConfigError, match="bits"):
        check_bits(bad)
    with pytest.raises(ConfigError):
        Layer("c", Kind.CONV3X3, (3, 3, 16), (3, 3, 16), bits=bad)


def test_layer_shape_errors():
    with pytest.raises(ShapeError, match="depthwise"):
        Layer("d", Kind.DW3X3, (3, 3, 16), (3, 3, 32))
    with pytest.raises(ShapeError, match="same"):
        Layer("c", Kind.CONV3X3, (8, 8, 4), (8, 8, 4), stride=2)
    with pytest.raises(ShapeError, match="pooling"):
        Layer("p", Kind.MAXPOOL, (8, 8, 4), (8, 8, 4), pool=(2, 2))
    a = Layer("a", Kind.CONV1X1, (4, 4, 4), (4, 4, 8))
    b = Layer("b", Kind.CONV1X1, (4, 4, 16), (4, 4, 8))
    with pytest.raises(ShapeError, match="does not match"):
        Net("n", (a, b))


# --- GAP9 ----------------------------------------------------------------------------------------
def test_gap9_published_figures_and_power_split():
    assert PUBLISHED["peak_gops"] == 150.8 and PUBLISHED["mw_per_gop"] == 0.33
    assert PUBLISHED["max_clock_mhz"] == 400 and PUBLISHED["l1_bytes"] == 128 * 1024
    assert GAP9.peak_mw == pytest.approx(150.8 * 0.33)
    assert GAP9.cluster_mhz == GAP9.ne16_mhz == 400


def test_layer_cost_time_and_energy_follow_the_profile():
    l = Layer("c", Kind.CONV3X3, (24, 24, 64), (24, 24, 64), bits=4)
    c = layer_cost(l)
    ne = C.layer_cycles(l)
    assert c.terms == ne.terms and c.unit == "ne16"        # compute-bound: no dma_stall
    assert c.ms == pytest.approx(ne.total / 400e3)
    w = l.weight_bytes() + l.fixed_bytes()
    assert c.energy_uj == pytest.approx(GAP9.ne16_active_mw * c.ms + w * 5e-6)


def test_weight_dma_stall_when_weights_outrun_compute():
    # one 3x3 output tile, 256 -> 256 at 8 bits: 256*16*8*9*2 = 589,824 B of weights at 8 B/cycle
    # (73,728 cycles) against 8 Ko tiles x 16 Ki subtiles of (31+6+262+2) + ... = 39k cycles
    l = Layer("c", Kind.CONV3X3, (3, 3, 256), (3, 3, 256), bits=8)
    c = layer_cost(l)
    dma = (l.weight_bytes() + l.fixed_bytes()) / 8
    assert c.terms["dma_stall"] == pytest.approx(dma - C.layer_cycles(l).total)
    assert c.cycles == math.ceil(dma)


def test_cluster_cycles_hand_worked_gru_and_pool():
    gru = Layer("g", Kind.GRU, (10, 1, 8), (10, 1, 4))
    t = cluster_cycles(gru)
    assert t == {"fork": 60, "matvec": 10 * 3 * 4 * 12 / 16, "activation": 10 * 12 * 10 / 8,
                 "elementwise": 10 * 16 / 8, "sync": 300}
    pool = Layer("p", Kind.MAXPOOL, (8, 8, 4), (4, 4, 4), pool=(2, 2))
    assert cluster_cycles(pool) == {"fork": 60, "pool": 256 / 8}
    with pytest.raises(ConfigError, match="runs on NE16"):
        cluster_cycles(Layer("c", Kind.CONV1X1, (4, 4, 4), (4, 4, 4)))
    with pytest.raises(ConfigError, match="NE16 does not run"):
        C.layer_cycles(pool)


def test_net_costs_sum_the_layers_and_check_l2():
    net = Net("n", (Layer("c", Kind.CONV3X3, (8, 8, 16), (8, 8, 32), bits=3),
                    Layer("p", Kind.MAXPOOL, (8, 8, 32), (4, 4, 32), pool=(2, 2)),
                    Layer("f", Kind.FC, (4, 4, 32), (4, 4, 8), bits=5, relu=False)))
    d = net_costs(net)
    assert d["ms"] == pytest.approx(sum(c.ms for c in d["layers"]))
    assert d["energy_uj"] == pytest.approx(sum(c.energy_uj for c in d["layers"]))
    assert d["memory_bytes"] == net.memory_bytes == \
        32 * 1 * 3 * 9 * 2 + 8 * 2 * 5 * 2 + 32 * 5 + 8 * 5
    assert check_fits_l2(net) == net.memory_bytes
    table = format_net_costs(d).splitlines()
    assert len(table) == 3 + 3 and table[3].split()[:3] == ["c", "ne16", "3"]
    assert table[4].split()[:2] == ["p", "cluster"]
    big = Net("big", (Layer("c", Kind.CONV3X3, (3, 3, 1024), (3, 3, 1024), bits=8),))
    with pytest.raises(ArenaOverflowError, match="L2"):
        check_fits_l2(big)
