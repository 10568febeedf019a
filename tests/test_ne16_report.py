"""Bose-style reduction report, the Dilated-CRNN-style model, and the bit-width demo."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgesed.errors import ArenaOverflowError
from edgesed.ne16 import crnn, report
from edgesed.ne16.gap9 import net_costs
from edgesed.ne16.layers import Kind
from edgesed.ne16.search import Sensitivity, min_budget, search

KIB = 1024
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def net():
    return crnn.dcrnn_net()


@pytest.fixture(scope="module")
def sens(net):
    """A synthetic sensitivity table (6 dB per bit, bigger layers a little more sensitive) so
    the report tests do not depend on the float forward pass."""
    return Sensitivity({l.name: {b: (1 + l.weight_count / 1e6) * 4.0 ** -b for b in range(2, 9)}
                        for l in net.searchable}, 1)


def test_seed_figures_are_the_seeds():
    assert report.SEED_REDUCTIONS == {"memory": 62.0, "latency": 46.0, "energy": 61.0}
    assert report.SEED_BUDGETS_KB == {"DCRNN": 400, "HiSSNet": 700}
    assert crnn.N_CLASSES == 56


def test_dcrnn_is_sized_like_the_seeds():
    net = crnn.dcrnn_net()
    assert [l.name for l in net.searchable] == ["c1", "c2", "c3", "c4", "c5", "c6", "fc"]
    assert [l.dilation for l in net.searchable][2:6] == [(2, 1), (4, 1), (8, 1), (16, 1)]
    assert any(l.kind is Kind.GRU for l in net.layers)
    assert net.layers[-1].out_shape == (48, 1, 56)
    full = net.with_bits(8).memory_bytes
    # the seed's 400 KB budget is a ~62 % cut of this model, and it is feasible
    assert 1.00e6 < full < 1.10e6
    assert 0.60 < 1 - 400 * KIB / full < 0.63
    assert min_budget(net) < 400 * KIB < 700 * KIB < full


def test_reduction_is_percent_saved():
    assert report.reduction(200.0, 50.0) == 75.0
    assert report.reduction(100.0, 120.0) == pytest.approx(-20.0)


def test_report_for_two_budgets_matches_the_cost_model(net, sens):
    budgets = [400 * KIB, 700 * KIB]
    rep = report.bit_width_report(net, sens, budgets)
    base = net_costs(net.with_bits(8))
    assert len(rep["budgets"]) == 2
    for b, budget in zip(rep["budgets"], budgets):
        ours = net_costs(net.with_bits(b["bits"]))
        assert b["bits"] == search(net, sens, budget).bits
        assert b["ours"]["memory_bytes"] == ours["memory_bytes"] <= budget
        assert b["base"]["ms"] == base["ms"]
        for key, field in (("memory", "memory_bytes"), ("latency", "ms"), ("energy", "energy_uj")):
            assert b["reduction"][key] == pytest.approx(100 * (1 - ours[field] / base[field]))
            assert b["reduction"][key] > 0
        # only 3x3/DW matrixvec time scales with bits: latency falls less than memory
        assert b["reduction"]["latency"] < b["reduction"]["memory"]
    tight, loose = rep["budgets"]
    assert tight["reduction"]["memory"] > loose["reduction"]["memory"]
    assert tight["reduction"]["latency"] > loose["reduction"]["latency"]


def test_format_report_shows_ours_and_labels_theirs(net, sens):
    text = report.format_report(report.bit_width_report(net, sens, [400 * KIB, 700 * KIB]))
    assert "400 KiB" in text and "700 KiB" in text
    for word in ("memory KiB", "latency ms", "energy uJ", "bits"):
        assert text.count(word) == 2
    assert "THEIRS" in text and "-62 %" in text and "-46 %" in text and "-61 %" in text
    assert "assumptions" in text


def test_report_budget_nothing_fits_gives_the_smallest(net, sens):
    lo = min_budget(net)
    with pytest.raises(ArenaOverflowError, match=f"{lo:,} B"):
        report.bit_width_report(net, sens, [300 * KIB])


def test_all_8_bit_is_the_most_expensive_and_all_2_bit_the_cheapest(net):
    c8, c2 = net_costs(net.with_bits(8)), net_costs(net.with_bits(2))
    assert c2["ms"] < c8["ms"] and c2["energy_uj"] < c8["energy_uj"]
    assert c2["cluster_ms"] == c8["cluster_ms"]          # pooling and the GRU do not change


def test_float_model_and_calibration_patches_are_deterministic():
    x1 = crnn.calibration_patches(n_clips=1)
    x2 = crnn.calibration_patches(n_clips=1)
    assert x1.shape == (3, 96, 64, 1) and x1.dtype == np.float32
    assert np.array_equal(x1, x2)
    assert np.allclose(x1.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    m = crnn.float_model(seed=0)
    y = m.forward(x1[:1])
    assert y.shape == (1, 48, 1, 56) and np.all((y > 0) & (y < 1))
    assert np.array_equal(y, crnn.float_model(seed=0).forward(x1[:1]))


def test_demo_runs_and_prints_both_tables():
    out = subprocess.run([sys.executable, str(ROOT / "demos" / "bit_width_study.py"),
                          "--budgets", "400", "700", "--clips", "1", "--rows", "6"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "Pareto front" in out.stdout and "pred. SQNR dB" in out.stdout
    assert "reduction" in out.stdout and "THEIRS" in out.stdout
    assert "additivity check" in out.stdout
