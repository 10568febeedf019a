"""An int8 .tflite model through edgesed: its report on a target, TFLM's bits, and a stream.

The story: you have an int8 TFLite model that today runs on TFLite Micro with CMSIS-NN, and you
want to know, before flashing, what it costs on a Cortex-M (RAM, ROM, cycles, energy), whether
edgesed computes the same bits as the interpreter, and what it detects on real audio. Without
an argument the demo writes edgesed's int8 M20k (``m20k-s8``, random weights) as a .tflite file
first and uses that.

1. ``import_tflite``: the flatbuffer into edgesed's graph IR (unsupported ops are listed);
2. the report on ``--target`` with the greedy (TFLM-style) plan;
3. one inference on a random input in edgesed and in the tflite-micro interpreter: same bits?
4. if the model takes a 96x64 log-mel patch, a demo WAV streamed through the frontend (the int8
   input gets TFLM's QUANTIZE from the frontend's Q3.4) and the model, frame by frame.

Run:  .venv/bin/python demos/run_tflite_model.py [MODEL.tflite] [--target cortex-m4@80MHz]
Same as:  edgesed report MODEL.tflite --target T;  edgesed run --model MODEL.tflite
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgesed import models_s8
from edgesed.engine import Engine
from edgesed.errors import ConfigError
from edgesed.planner import get_planner
from edgesed.report import build_report, format_table
from edgesed.tflite.exporter import save_tflite
from edgesed.tflite.importer import import_tflite


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", help="int8 .tflite file (default: m20k-s8, written now)")
    p.add_argument("--target", default="cortex-m4@80MHz", help="device for the cost report")
    args = p.parse_args(argv)
    if args.model:
        path = Path(args.model)
    else:
        path = Path(tempfile.mkdtemp(prefix="edgesed-tflite-")) / "m20k_s8.tflite"
        save_tflite(models_s8.build_s8("m20k-s8"), path)
        print(f"wrote {path} ({path.stat().st_size:,} B): edgesed's int8 M20k, random weights")

    graph = import_tflite(path)
    plan = get_planner("greedy").plan(graph)
    print(format_table(build_report(graph, plan)))
    try:
        from edgesed.costs import format_costs, frame_costs

        print("\n" + format_costs(frame_costs(graph, args.target, plan)))
    except (ValueError, NotImplementedError) as err:
        print(f"\n(no cycle model for this model on {args.target}: {err})")

    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape, dtype=np.int8)
    ours = Engine(graph, plan).run(x).reshape(-1)
    try:
        from edgesed.tflite.oracle import run_tflm

        (theirs,) = run_tflm(path.read_bytes(), [x])
        same = np.array_equal(theirs.reshape(-1), ours)
        print(f"\nedgesed {ours.tolist()}\nTFLM    {theirs.reshape(-1).tolist()}\n"
              f"-> {'the same bits' if same else 'DIFFERENT bits'} as the tflite-micro "
              "interpreter")
    except ConfigError as err:   # tflite-micro is a dev extra: run_tflm says how to add it
        print(f"\n(tflite-micro not available to compare: {err})")

    if tuple(graph.input.shape[:2]) != (96, 64):
        print(f"\nthe model takes {graph.input.shape}, not a 96x64 log-mel patch: edgesed's "
              "frontend cannot stream audio into it (no streaming run)")
        return 0
    import edgesed
    from edgesed.cli import demo_files

    wav = demo_files()[0]
    result = edgesed.run(wav, model=graph, target=args.target)
    print(f"\nstreamed {wav.name}: {result.summary['frames']} frames")
    for frame in result.frames[:6]:
        label, score = frame.top(1)[0]
        print(f"  {frame.start:5.2f} s  top class {label:<18} {score:.2f}")
    r = result.report
    print(f"per frame on {r['target']}: {r['total_ms']:.1f} ms (network {r['ms']:.1f} + "
          f"frontend {r['frontend']['ms']:.1f}), RAM {r['total_ram_bytes']:,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
