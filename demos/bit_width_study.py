"""Bit-width study on NE16: which weight bits per layer fit a memory budget, and what they save.

Runs the training-free search of :mod:`edgesed.ne16.search` on a Dilated-CRNN-style SED model
(:mod:`edgesed.ne16.crnn`; **random weights, not trained**) with calibration patches cut from
SYNTHETIC clips, then prints:

1. the per-layer sensitivities (output SQNR with only that layer quantized);
2. the Pareto table of memory vs predicted error (one DP table);
3. for each budget: the bits, the predicted and the measured joint SQNR (the additivity check),
   and the per-layer cycles of the first budget's model;
4. the Bose-style reduction table (memory, latency, energy vs all-8-bit on the GAP9 model),
   with the seed's measured −62 % / −46 % / −61 % beside it, labelled as theirs.

Usage::

    python demos/bit_width_study.py                 # budgets 400, 500, 700 KiB
    python demos/bit_width_study.py --budgets 350 400 --clips 4
"""
import os

# Small matmuls run faster single-threaded (and the study must run in seconds on a shared box).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from edgesed.errors import EdgesedError  # noqa: E402
from edgesed.ne16 import crnn, gap9, report, search  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", type=float, nargs="+", default=[400, 500, 700],
                    help="memory budgets S_target in KiB (seed: 400 for DCRNN, 700 for HiSSNet)")
    ap.add_argument("--clips", type=int, default=2,
                    help="synthetic calibration clips (3 patches each)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random float weights")
    ap.add_argument("--rows", type=int, default=16, help="rows of the Pareto table")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    net = crnn.dcrnn_net()
    model = crnn.float_model(net, seed=args.seed)
    calib = crnn.calibration_patches(n_clips=args.clips)
    print(f"model {net.name}: {len(net.layers)} layers, {net.macs / 1e6:.1f} M MAC, parameters "
          f"{net.memory_bytes / 1024:.1f} KiB at 8 bits, {search.min_budget(net) / 1024:.1f} KiB "
          f"at 2 bits; calibration {calib.shape[0]} synthetic patches; weights RANDOM (seed "
          f"{args.seed}), not trained")

    sens = search.sensitivity(model, calib)
    print("\nsensitivity: output SQNR (dB) with only that layer quantized")
    print(f"{'layer':>6} " + " ".join(f"{b:>6}b" for b in search.BITS))
    for name in sens.nsr:
        print(f"{name:>6} " + " ".join(f"{sens.sqnr_db(name, b):>7.1f}" for b in search.BITS))

    points = search.pareto_front(net, sens)
    print(f"\nPareto front: {len(points)} points (memory vs predicted SQNR), DP grid "
          f"{points[0].granularity} B")
    print(search.format_pareto(points, max_rows=args.rows))

    budgets = [int(round(kib * 1024)) for kib in args.budgets]
    try:
        rep = report.bit_width_report(net, sens, budgets)
    except EdgesedError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    print("\nadditivity check (predicted = sum of per-layer NSR; measured = all layers jointly)")
    for b in rep["budgets"]:
        measured = search.measure_nsr(model, calib, b["bits"])
        print(f"  {b['budget_bytes'] / 1024:>6.0f} KiB: predicted SQNR "
              f"{b['predicted_sqnr_db']:6.2f} dB, measured {-10 * math.log10(measured):6.2f} dB")
    first = rep["budgets"][0]
    print(f"\nper layer on GAP9 at {first['budget_bytes'] / 1024:.0f} KiB "
          "(NE16 phases / cluster terms):")
    print(gap9.format_net_costs(gap9.net_costs(net.with_bits(first["bits"]))))
    print()
    print(report.format_report(rep))
    print(f"\n(done in {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
