"""The ``edgesed`` command.

::

    edgesed report MODEL [--json] [--planner NAME] [--target NAME]
                                                  per-layer ops, buffers, RAM peak and ROM; with
                                                  a target also cycles, ms, MOPS and energy
    edgesed infer MODEL --input X.npy --output Y.npy [--layers DIR]
                                                  one inference on a raw int8 tensor
    edgesed bench [MODEL] [--repeat N] [--json]   time per frame beside tflite-micro and LiteRT
    edgesed save MODEL PATH                       write a model to a versioned .edgesed file
    edgesed export MODEL --c DIR [--planner NAME] [--frames N]
                                                  C header/source: weights, shifts, plan offsets,
                                                  a run function and golden vectors
    edgesed plan MODEL [--planner NAME] [--png FILE]
                                                  the memory plan as a timeline (and a picture)
    edgesed run FILE [--model M] [--target T] [--jsonl OUT] [--block N] [--hop-ms 960|480]
                     [--frontend fixed|float] [--threshold P] [--smooth N] [--mode ...]
                                                  detect events in an audio file, with the
                                                  per-frame cost on the target
    edgesed listen [--device D] [--seconds S] [same options as run]
                                                  the same, live from a microphone; Ctrl-C ends
    edgesed devices                               list audio input devices
    edgesed demo [--file NAME] [--target T] [same options as run]
                                                  a shipped demo WAV through the shipped trained
                                                  model (``default``): detections and the
                                                  per-frame report

MODEL is a built-in name (``m20k``, ``m200k``, ``m2m`` with random weights; ``default`` or
``m20k-synthetic``, the shipped trained M20k) or the path of an ``.edgesed`` file.
Errors from bad input print one line naming the value and the fix, and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgesed.errors import ConfigError, EdgesedError, ShapeError

__all__ = ["main"]


def load_model(spec: str):
    """A built-in model name (``m20k``, ..., ``default``, ``ds-cnn``), an ``.edgesed`` or an
    int8 ``.tflite`` path -> Graph."""
    from edgesed import models

    return models.load(spec)


def _cmd_report(args) -> int:
    from edgesed.planner import get_planner
    from edgesed.report import build_report, format_table

    graph = load_model(args.model)
    plan = get_planner(args.planner).plan(graph)
    report = build_report(graph, plan)
    text = format_table(report)
    from edgesed.graph_ne16 import is_ne16

    ne16 = is_ne16(graph)            # NE16 layers are costed on GAP9 whatever --target says
    if args.target or ne16:
        from edgesed.costs import format_costs, frame_costs
        from edgesed.targets import check_fits, resolve_target

        if not ne16:
            check_fits(graph, plan, resolve_target(args.target))
        costs = frame_costs(graph, args.target, plan)
        report["costs"] = costs
        text += "\n\n" + format_costs(costs)
    print(json.dumps(report, indent=2, default=_jsonable) if args.json else text)
    return 0


def _jsonable(obj):
    """JSON fallback for report values (enums, dataclasses, numpy scalars)."""
    import dataclasses
    from enum import Enum

    if isinstance(obj, Enum):
        return obj.value
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _load_input(path: str, graph) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ShapeError(f"--input {path!r} is not a readable .npy file: {exc}") from None
    want = graph.input.shape
    if x.dtype != np.int8:
        q = graph.input.q
        rule = (f"np.round(x / {q.scale[0]!r}) + {q.zero_point}" if hasattr(q, "scale")
                else f"np.round(x * 2**{q.frac_bits})")
        raise ShapeError(f"--input {path!r} has dtype {x.dtype}; the model takes raw int8 "
                         f"tensors in format {q} (quantize with np.clip({rule}, -128, 127)"
                         ".astype(np.int8))")
    if x.shape != want and x.shape != (1, *want):
        raise ShapeError(f"--input {path!r} has shape {x.shape}; model {graph.name!r} takes "
                         f"{want} (HWC)")
    return x.reshape(want)


def _cmd_infer(args) -> int:
    from edgesed.engine import Engine

    graph = load_model(args.model)
    x = _load_input(args.input, graph)
    engine = Engine(graph)
    if args.layers:
        outputs = engine.run_layers(x)
        folder = Path(args.layers)
        folder.mkdir(parents=True, exist_ok=True)
        for i, (name, y) in enumerate(outputs.items()):
            np.save(folder / f"{i:02d}_{name}.npy", y)
        y = outputs[graph.nodes[-1].name]
    else:
        y = engine.run(x).copy()
    np.save(args.output, y)
    print(f"{graph.name}: {x.shape} -> {y.shape} int8 written to {args.output}"
          + (f"; {len(graph.nodes)} layer outputs in {args.layers}" if args.layers else ""))
    return 0


def _cmd_bench(args) -> int:
    from edgesed.bench import format_bench, run_bench

    result = run_bench(load_model(args.model), repeat=args.repeat, reference=not args.no_ref,
                       with_cold_start=not args.no_cold)
    print(json.dumps(result, indent=2) if args.json else format_bench(result))
    return 0


def _cmd_plan(args) -> int:
    from edgesed import plan_picture
    from edgesed.planner import get_planner

    graph = load_model(args.model)
    plan = get_planner(args.planner).plan(graph)
    print(f"{graph.name}: {args.planner} plan, peak {plan.arena_bytes:,} B "
          f"(busiest step needs {max(plan.live_bytes()):,} B)")
    print(plan_picture.describe(plan))
    print(plan_picture.render(plan, width=args.width))
    if args.png:
        plan_picture.save_png(plan, args.png, title=f"{graph.name} {args.planner}")
        print(f"picture written to {args.png}")
    return 0


def _cmd_export(args) -> int:
    from edgesed.export_c import export_c
    from edgesed.planner import get_planner

    graph = load_model(args.model)
    if args.tflite:
        from edgesed.tflite.exporter import save_tflite

        path = save_tflite(graph, args.tflite)
        print(f"{graph.name}: {len(graph.nodes)} int8 layers written to {path} "
              f"({path.stat().st_size:,} B)")
        if not args.c:
            return 0
    if not args.c:
        raise ConfigError("give --c DIR (C sources) or --tflite FILE (an int8 .tflite model)")
    plan = get_planner(args.planner).plan(graph)
    paths = export_c(graph, args.c, plan=plan, frames=args.frames, seed=args.seed,
                     copy_kernels=args.with_kernels)
    print(f"{graph.name}: {len(paths)} files in {args.c} ({args.planner} plan, arena "
          f"{plan.arena_bytes:,} B, {args.frames} golden frames)")
    for p in paths:
        print(f"  {p}")
    return 0


def _cmd_save(args) -> int:
    from edgesed import graphfile

    path = graphfile.save(load_model(args.model), args.path)
    print(f"wrote {path}")
    return 0


def _stream_from_args(args):
    from edgesed.stream import Mode, ResetPolicy, Stream

    mode = {"stream": Mode.STREAM_INTERNAL_STATE, "non-stream": Mode.NON_STREAM}[args.mode]
    reset = ResetPolicy(every=args.reset_every, after_silence_s=args.reset_after_silence)
    return Stream(args.model, target=args.target, frontend=args.frontend, hop_ms=args.hop_ms,
                  mode=mode, reset=reset, threshold=args.threshold, smooth=args.smooth,
                  silence_dbfs=args.silence_dbfs)


def _drive(args, stream, blocks, source, name) -> int:
    from edgesed.live import JsonlWriter, TerminalView, drive

    stream.keep = False
    writer = JsonlWriter(args.jsonl) if args.jsonl else None
    settings = {"command": args.command, "source": name, "block": args.block,
                "frontend": args.frontend, "target": args.target}
    drive(stream, blocks, view=TerminalView(), jsonl=writer, source=source,
          seconds=getattr(args, "seconds", None), settings=settings)
    return 0


def _cmd_run(args) -> int:
    import tempfile

    from edgesed.audio import open_audio
    from edgesed.audio.demo import write_demo_scene

    if args.file is None:
        args.file = write_demo_scene(Path(tempfile.mkdtemp(prefix="edgesed-demo-")) / "street.wav")
        print(f"no FILE given: running the built-in demo scene {args.file} (12 s siren, noise "
              "bursts and a pause, 44.1 kHz stereo)", file=sys.stderr)
    audio = open_audio(args.file, block=args.block, channel=args.channel)
    stream = _stream_from_args(args)
    return _drive(args, stream, audio, None, str(args.file))


def demo_files() -> list[Path]:
    """The demo WAVs shipped in ``edgesed/data``."""
    return sorted((Path(__file__).parent / "data").glob("demo_*.wav"))


def _cmd_demo(args) -> int:
    from edgesed.audio import open_audio
    from edgesed.errors import ConfigError
    from edgesed.live import JsonlWriter, TerminalView, drive

    class FrameLines(TerminalView):
        """One printed line per frame (not a redrawn line), so the demo shows every frame."""

        def frame(self, stream, frame) -> None:
            rep = stream.report
            top = "  ".join(f"{lab[:12]:<12} {p:4.2f}" for lab, p in frame.top(3))
            self.out.write(f"{frame.start:6.2f} s {'S' if frame.silent else ' '} {top} | "
                           f"{rep['total_ms']:5.1f}/{rep['frame_ms']:.0f} ms\n")

    files = {f.name: f for f in demo_files()}
    if not files:
        raise ConfigError("no demo WAVs in edgesed/data; run scripts/train_default.py")
    name = args.file or next(iter(files))
    path = files.get(name) or files.get(f"demo_{name}.wav")
    if path is None:
        raise ConfigError(f"--file {name!r} is not a shipped demo; choose one of {sorted(files)}")
    stream = _stream_from_args(args)
    print(f"demo: {path.name} through {stream.graph.name!r} (classes: "
          f"{', '.join(stream.detector.labels)})")
    stream.keep = False
    drive(stream, open_audio(path, block=args.block, channel=args.channel),
          view=FrameLines(live=False), jsonl=JsonlWriter(args.jsonl) if args.jsonl else None,
          settings={"command": "demo", "source": str(path), "target": args.target})
    print("\n" + _format_frame_report(stream.report))
    return 0


def _format_frame_report(rep: dict) -> str:
    """The per-frame report of a Stream (network layers, frontend, totals) as a table."""
    lines = [f"per-frame report: {rep['model']} on {rep['target']} ({rep['clock_mhz']:g} MHz), "
             f"one frame every {rep['frame_ms']:.0f} ms",
             f"{'stage':<10} {'ops':>11} {'cycles':>12} {'ms':>8}"]
    fe = rep["frontend"]
    for la in [*rep["layers"], {**fe, "name": f"mel x{fe['hops']}"}]:
        lines.append(f"{la['name']:<10} {la['ops']:>11,} {la['cycles']:>12,.0f} {la['ms']:>8.2f}")
    lines.append(f"total {rep['total_ms']:.1f} ms per frame ({rep['total_ops']:,} ops), RAM "
                 f"{rep['total_ram_bytes']:,} B, flash {rep['rom_bytes']:,} B of weights, "
                 f"{rep['total_energy_uj']:.0f} uJ per frame; real time: {rep['realtime']}")
    return "\n".join(lines)


def _cmd_listen(args) -> int:
    from edgesed.audio.mic import Microphone

    stream = _stream_from_args(args)       # load the model before the device starts
    with Microphone(args.device, block=args.block, queue_s=args.queue_s,
                    channel=args.channel, seconds=args.seconds) as mic:
        print(f"listening on {mic.name!r} ({mic.rate} Hz, {mic.channels} ch); Ctrl-C ends",
              file=sys.stderr)
        return _drive(args, stream, mic, mic, mic.name)


def _cmd_devices(args) -> int:
    from edgesed.audio.mic import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no audio input devices found; plug in a microphone or check that your user can "
              "open /dev/snd (group 'audio')")
        return 0
    print(f"{'index':>5}  {'name':<40} {'host API':<12} {'ch':>3} {'rate':>7}")
    for d in devices:
        print(f"{d['index']:>5}{'*' if d['default'] else ' '} {d['name'][:40]:<40} "
              f"{d['hostapi'][:12]:<12} {d['channels']:>3} {d['default_rate']:>7.0f}")
    return 0


def add_stream_options(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``listen`` share; defaults from ``edgesed.stream.DEFAULTS``."""
    from edgesed.stream.pipeline import DEFAULTS as D

    p.add_argument("--model", default=D["model"], help=f"built-in name or .edgesed file "
                                                       f"(default {D['model']})")
    p.add_argument("--target", default=D["target"], help=f"device of the per-frame report "
                                                         f"(default {D['target']})")
    p.add_argument("--jsonl", metavar="OUT", help="write one JSON record per frame and event")
    p.add_argument("--block", type=int, default=D["block"],
                   help=f"samples per block read (default {D['block']}); results do not depend "
                        "on it")
    p.add_argument("--hop-ms", type=int, default=D["hop_ms"],
                   help="ms between patches: 960 (non-overlapping, default) or 480 (overlap)")
    p.add_argument("--frontend", choices=["fixed", "float"], default=D["frontend"],
                   help="q15 MCU frontend (default) or the float VGGish reference")
    p.add_argument("--threshold", type=float, default=D["threshold"],
                   help=f"posterior that turns a class on (default {D['threshold']}; off at "
                        "0.1 less)")
    p.add_argument("--smooth", type=int, default=D["smooth"],
                   help="frames in the moving average of the posteriors (default 1)")
    p.add_argument("--silence-dbfs", type=float, default=D["silence_dbfs"],
                   help=f"patch peak below which audio is silence (default {D['silence_dbfs']})")
    p.add_argument("--mode", choices=["stream", "non-stream"], default="stream",
                   help="stream (RNN state kept) or non-stream (one 3.84 s clip, the seed's)")
    p.add_argument("--reset-every", type=int, metavar="N", help="zero the RNN state every N "
                                                                "frames")
    p.add_argument("--reset-after-silence", type=float, metavar="S",
                   help="zero the RNN state when sound resumes after S seconds of silence")
    p.add_argument("--channel", type=int, help="use this input channel instead of the average")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgesed", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="per-layer ops, buffers, RAM peak and ROM of a model")
    r.add_argument("model", help="built-in name (default, m20k, m200k, m2m, m20k-s8, ds-cnn, "
                                 "dcrnn-ne16), .edgesed file or int8 .tflite file")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument("--planner", default="pingpong", help="linear, pingpong (default) or greedy")
    r.add_argument("--target", help="e.g. cortex-m4@80MHz, stm32l476rg, cortex-m4-nodsp, or a "
                                    ".json/.toml profile: adds cycles, ms, MOPS and energy "
                                    "(NE16 models always report GAP9)")
    r.set_defaults(func=_cmd_report)
    i = sub.add_parser("infer", help="run one inference on a raw int8 input tensor")
    i.add_argument("model")
    i.add_argument("--input", required=True, help=".npy int8 tensor of the model's input shape")
    i.add_argument("--output", required=True, help=".npy file for the output")
    i.add_argument("--layers", metavar="DIR", help="also save every layer's output in DIR")
    i.set_defaults(func=_cmd_infer)
    b = sub.add_parser("bench", help="time per frame, beside tflite-micro and LiteRT")
    b.add_argument("model", nargs="?", default="m20k")
    b.add_argument("--repeat", type=int, default=2000, help="timed runs (default 2000)")
    b.add_argument("--json", action="store_true")
    b.add_argument("--no-ref", action="store_true", help="skip tflite-micro and LiteRT")
    b.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    b.set_defaults(func=_cmd_bench)
    pl = sub.add_parser("plan", help="the memory plan as an ASCII timeline and a PNG picture")
    pl.add_argument("model")
    pl.add_argument("--planner", default="pingpong", help="linear, pingpong (default) or greedy")
    pl.add_argument("--png", metavar="FILE", help="also save the plan as a PNG picture")
    pl.add_argument("--width", type=int, default=64, help="columns of the ASCII timeline")
    pl.set_defaults(func=_cmd_plan)
    ex = sub.add_parser("export", help="C sources for firmware (weights, shifts, plan, "
                                       "goldens), or an int8 model as .tflite")
    ex.add_argument("model")
    ex.add_argument("--c", metavar="DIR", help="output folder for C sources (q7 models)")
    ex.add_argument("--tflite", metavar="FILE", help="write an int8 model as a .tflite file")
    ex.add_argument("--planner", default="pingpong", help="linear, pingpong (default) or greedy")
    ex.add_argument("--frames", type=int, default=3, help="golden frames (RNN state carried)")
    ex.add_argument("--seed", type=int, default=0, help="seed of the golden input frames")
    ex.add_argument("--with-kernels", action="store_true",
                    help="also copy edgesed's portable-C kernels (kernels/c) into DIR")
    ex.set_defaults(func=_cmd_export)
    s = sub.add_parser("save", help="write a model to a versioned .edgesed file")
    s.add_argument("model")
    s.add_argument("path")
    s.set_defaults(func=_cmd_save)
    ru = sub.add_parser("run", help="detect sound events in an audio file")
    ru.add_argument("file", nargs="?", help="WAV/FLAC/OGG (any rate and channel count); "
                                             "default: the built-in demo scene")
    add_stream_options(ru)
    ru.set_defaults(func=_cmd_run)
    li = sub.add_parser("listen", help="detect sound events live from a microphone")
    li.add_argument("--device", help="input device index or name (see `edgesed devices`)")
    li.add_argument("--seconds", type=float, help="stop after this much audio (default: Ctrl-C)")
    li.add_argument("--queue-s", type=float, default=2.0,
                    help="audio buffered while the engine is busy before blocks are dropped")
    add_stream_options(li)
    li.set_defaults(func=_cmd_listen)
    de = sub.add_parser("demo", help="a shipped demo WAV through the shipped trained model")
    de.add_argument("--file", help="demo name, e.g. demo_alarms.wav or alarms (default: the "
                                   "first)")
    add_stream_options(de)
    de.set_defaults(func=_cmd_demo, model="default")
    dv = sub.add_parser("devices", help="list audio input devices")
    dv.set_defaults(func=_cmd_devices)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"edgesed: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except EdgesedError as exc:
            print(f"edgesed {args.command}: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
