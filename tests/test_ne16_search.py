"""Training-free bit-width search: NE16 quantizer, sensitivities, the knapsack DP against brute
force, the Pareto front, and the errors (bits outside 2..8, a budget nothing fits)."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from edgesed.errors import ArenaOverflowError, ConfigError
from edgesed.ne16 import search as S
from edgesed.ne16.crnn import float_model
from edgesed.ne16.layers import Kind, Layer, Net
from kernels.ne16.packing import pack_weights, unpack_weights


# --- the knapsack DP against brute force ---------------------------------------------------------
def brute(options, cap):
    """Least total error over every combination with total cost <= cap (None if none)."""
    best = None
    for combo in itertools.product(*options):
        if sum(c for _, c, _ in combo) <= cap:
            e = sum(x for _, _, x in combo)
            best = e if best is None else min(best, e)
    return best


cost_err = st.tuples(st.integers(0, 60), st.floats(0, 100, allow_nan=False))
instances = st.tuples(
    st.lists(st.lists(cost_err, min_size=1, max_size=4), min_size=1, max_size=4)
    .map(lambda items: [[(j, c, e) for j, (c, e) in enumerate(item)] for item in items]),
    st.integers(0, 200))


def picked(options, keys):
    return [item[k] for item, k in zip(options, keys)]     # key j is the option's position


@given(instances)
def test_mckp_dp_equals_brute_force(inst):
    options, cap = inst
    want = brute(options, cap)
    if want is None:
        smallest = sum(min(c for _, c, _ in item) for item in options)
        with pytest.raises(ArenaOverflowError, match=f"{smallest:,} B"):
            S.solve_mckp(options, cap)
        return
    ks = S.solve_mckp(options, cap)
    c = len(ks.best) - 1
    assert math.isclose(ks.best[c], want, rel_tol=1e-12, abs_tol=1e-9)
    chosen = picked(options, ks.pick(c))            # real options, one per item, that fit
    assert len(chosen) == len(options)
    assert sum(o[1] for o in chosen) <= cap
    assert math.isclose(sum(o[2] for o in chosen), want, rel_tol=1e-12, abs_tol=1e-9)


@given(instances, st.integers(1, 25))
def test_mckp_coarse_grid_is_feasible_and_never_better_than_exact(inst, g):
    options, cap = inst
    exact = brute(options, cap)
    assume(exact is not None)
    try:
        ks = S.solve_mckp(options, cap, granularity=g)
    except ArenaOverflowError:
        return      # rounding costs up may make a tight instance infeasible; that is stated
    c = len(ks.best) - 1
    assert sum(o[1] for o in picked(options, ks.pick(c))) <= cap
    assert ks.best[c] >= exact - 1e-9


def test_mckp_hand_worked_on_the_gcd_grid():
    opts = [[("a", 64, 1.0), ("b", 96, 0.5)], [("c", 32, 2.0), ("d", 160, 0.1)]]
    ks = S.solve_mckp(opts, 300)
    assert ks.granularity == 32 and len(ks.best) == 300 // 32 + 1
    assert ks.pick(len(ks.best) - 1) == ["b", "d"] and ks.best[-1] == pytest.approx(0.6)
    ks = S.solve_mckp(opts, 250)                      # b+d = 256 B no longer fits
    assert ks.pick(len(ks.best) - 1) == ["a", "d"] and ks.best[-1] == pytest.approx(1.1)
    with pytest.raises(ArenaOverflowError, match="96 B"):
        S.solve_mckp(opts, 95)
    with pytest.raises(ConfigError):
        S.solve_mckp([[]], 10)


# --- the quantizer -------------------------------------------------------------------------------
@given(st.integers(2, 8), st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_quantize_ne16_grid_and_scale_choice(bits, k_out, n, seed):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((n, k_out)) * rng.uniform(0.01, 3, k_out)).astype(np.float32)
    w[:, 0] = 0.0 if k_out > 1 else w[:, 0]              # an all-zero channel must not break
    w_u, wmin, s = S.quantize_ne16(w, bits)
    assert w_u.dtype == np.uint8 and w_u.shape == w.shape
    assert wmin == -(1 << (bits - 1)) and int(w_u.max()) <= (1 << bits) - 1
    assert np.all(np.isfinite(s)) and np.all(s > 0)
    wq = S.fake_quant(w, bits)
    assert np.allclose(wq, (w_u.astype(np.float64) + wmin) * s, rtol=1e-6, atol=1e-12)
    # the chosen scale is never worse than the plain max-abs scale (a candidate)
    hi = (1 << (bits - 1)) - 1
    top = np.where(np.abs(w).max(axis=0) > 0, np.abs(w).max(axis=0), 1.0)
    q0 = np.clip(np.rint(w / (top / hi)), wmin, hi) * (top / hi)
    assert np.all(((wq - w) ** 2).sum(axis=0) <= ((q0 - w) ** 2).sum(axis=0) * (1 + 1e-5) + 1e-12)


def test_quantized_weights_pack_with_the_kernels_layout():
    w = np.random.default_rng(1).standard_normal((3, 3, 20, 8)).astype(np.float32)
    w_u, wmin, _ = S.quantize_ne16(w, 3)
    w_k = np.ascontiguousarray(np.moveaxis(w_u, -1, 0))            # (Kout, KH, KW, Kin)
    packed = pack_weights(w_k, 3, "3x3")
    assert packed.size == 8 * 2 * 3 * 9 * 2
    assert np.array_equal(unpack_weights(packed, 3, "3x3", w_k.shape), w_k)


def test_more_bits_means_less_error_on_gaussian_weights():
    w = np.random.default_rng(2).standard_normal((3, 3, 32, 16)).astype(np.float32)
    err = [float(((S.fake_quant(w, b) - w) ** 2).mean()) for b in range(2, 9)]
    assert all(a > b for a, b in zip(err, err[1:]))
    assert err[-1] / float((w ** 2).mean()) < 1e-4


# --- sensitivity and search on a tiny net --------------------------------------------------------
def tiny():
    net = Net("tiny", (Layer("c1", Kind.CONV3X3, (8, 8, 1), (8, 8, 16)),
                       Layer("p1", Kind.MAXPOOL, (8, 8, 16), (4, 4, 16), pool=(2, 2)),
                       Layer("c2", Kind.CONV3X3, (4, 4, 16), (4, 4, 32), dilation=(2, 1)),
                       Layer("fc", Kind.FC, (4, 4, 32), (4, 4, 6), relu=False)))
    model = float_model(net, seed=3)
    calib = np.random.default_rng(4).standard_normal((3, 8, 8, 1)).astype(np.float32)
    return net, model, calib


@pytest.fixture(scope="module")
def tiny_sens():
    net, model, calib = tiny()
    return net, model, calib, S.sensitivity(model, calib)


def test_sensitivity_table_and_consistency_with_joint_measurement(tiny_sens):
    net, model, calib, sens = tiny_sens
    assert list(sens.nsr) == ["c1", "c2", "fc"] and sens.n_samples == 3
    for name, row in sens.nsr.items():
        assert sorted(row) == list(range(2, 9))
        assert row[2] > row[8] > 0
        assert sens.sqnr_db(name, 8) == pytest.approx(-10 * math.log10(row[8]))
    # one layer quantized alone, measured jointly, is the same number
    assert S.measure_nsr(model, calib, {"c2": 4}) == pytest.approx(sens.nsr["c2"][4], rel=1e-6)


@pytest.mark.parametrize("budget", [0.3, 0.5, 0.8, 1.0])
def test_search_is_the_brute_force_optimum_under_the_budget(tiny_sens, budget):
    net, _, _, sens = tiny_sens
    lo, hi = S.min_budget(net), net.with_bits(8).memory_bytes
    cap = int(lo + budget * (hi - lo))
    res = S.search(net, sens, cap)
    assert res.memory_bytes <= cap and res.memory_bytes == net.with_bits(res.bits).memory_bytes
    best = min(sum(sens.nsr[n][b] for n, b in zip(sens.nsr, combo))
               for combo in itertools.product(range(2, 9), repeat=3)
               if net.with_bits(dict(zip(sens.nsr, combo))).memory_bytes <= cap)
    assert res.predicted_nsr == pytest.approx(best, rel=1e-12)


def test_pareto_front_is_monotone_and_optimal(tiny_sens):
    net, _, _, sens = tiny_sens
    pts = S.pareto_front(net, sens)
    mem = [p.memory_bytes for p in pts]
    err = [p.predicted_nsr for p in pts]
    assert mem == sorted(mem) and all(a > b for a, b in zip(err, err[1:]))
    assert pts[0].bits == {"c1": 2, "c2": 2, "fc": 2} and mem[0] == S.min_budget(net)
    assert pts[-1].memory_bytes <= net.with_bits(8).memory_bytes
    for p in pts[:: max(1, len(pts) // 6)]:
        assert S.search(net, sens, p.memory_bytes).predicted_nsr == pytest.approx(p.predicted_nsr)
    table = S.format_pareto(pts, max_rows=5)
    assert len(table.splitlines()) <= 2 + 5 and "memory KiB" in table


def test_budget_below_the_smallest_model_names_it(tiny_sens):
    net, _, _, sens = tiny_sens
    lo = S.min_budget(net)
    assert lo == sum(l.weight_bytes(2) for l in net.searchable) + net.fixed_bytes
    with pytest.raises(ArenaOverflowError, match=f"{lo:,} B") as exc:
        S.search(net, sens, lo - 1)
    assert "2 bits" in str(exc.value) and "non-weight" in str(exc.value)
    assert S.search(net, sens, lo).bits == {"c1": 2, "c2": 2, "fc": 2}


@pytest.mark.parametrize("bits", [(1, 2, 3), (2, 9), (0,)])
def test_search_bits_outside_2_to_8_are_refused(tiny_sens, bits):
    net, model, calib, sens = tiny_sens
    with pytest.raises(ConfigError, match="outside 2..8"):
        S.search(net, sens, 10**6, bits=bits)
    with pytest.raises(ConfigError, match="outside 2..8"):
        S.sensitivity(model, calib, bits=bits)
    with pytest.raises(ConfigError, match="outside 2..8"):
        S.quantize_ne16(np.ones((4, 2), np.float32), bits[-1] if bits[-1] > 8 else bits[0])


def test_search_needs_a_sensitivity_for_every_layer(tiny_sens):
    net, _, _, sens = tiny_sens
    partial = S.Sensitivity({"c1": sens.nsr["c1"]}, 3)
    with pytest.raises(ConfigError, match="no sensitivity"):
        S.search(net, partial, 10**6)
