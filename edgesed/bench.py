"""``edgesed bench``: time per 960 ms frame on one core, beside the reference interpreters.

Measures, in one run on the same machine:

- edgesed's engine on the model, after warm-up: median/min/p90 of ``Engine.run`` (one patch,
  everything in the arena, recurrent state carried), each timed with ``perf_counter_ns``;
- the ``tflite-micro`` interpreter and ``ai-edge-litert`` (XNNPACK, one thread) running an int8
  TFLite network of the same layers and MACs: for M20k the twin of :mod:`edgesed.tflite_twin`;
  for an int8 graph (``ds-cnn``, ``m20k-s8``, any imported ``.tflite``) *the same model*,
  exported by :func:`edgesed.tflite.exporter.to_tflite`, on the same input, and TFLM's output
  is checked against edgesed's (``tflite_micro.bit_exact``);
- cold start: a fresh process that imports edgesed, builds the engine and runs one frame, once
  with an empty Numba cache (everything compiles) and once with the cache that run left.

Numba and the reference interpreters are single-threaded here, so all figures are one core.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from edgesed.graph import Graph

__all__ = ["timed", "time_engine", "cold_start", "run_bench", "format_bench"]


def timed(invoke, warmup: int, repeat: int, set_input=None) -> dict:
    """Median/min/p90 ms of ``invoke()`` wall time over ``repeat`` calls after ``warmup``.

    ``set_input()``, if given, runs before every call, off the clock (interpreters may reuse an
    input's memory once it has been read). The garbage collector is off while timing, so a
    collection cannot land inside a timed call. Returns ``median_ms``, ``min_ms``, ``p90_ms``,
    ``runs`` and ``warmup``; shared by :func:`time_engine` and the reference interpreters'
    timers (:mod:`edgesed.tflite.timing`, :mod:`edgesed.tflite_twin`).
    """
    from edgesed.errors import ConfigError

    if warmup < 0 or repeat < 1:
        raise ConfigError(f"warmup={warmup!r} must be >= 0 and repeat={repeat!r} >= 1")
    for _ in range(warmup):
        if set_input is not None:
            set_input()
        invoke()
    ns = np.empty(repeat, np.int64)
    was = gc.isenabled()
    gc.disable()
    try:
        for i in range(repeat):
            if set_input is not None:
                set_input()
            t0 = time.perf_counter_ns()
            invoke()
            ns[i] = time.perf_counter_ns() - t0
    finally:
        if was:
            gc.enable()
    ms = ns / 1e6
    return {"median_ms": float(np.median(ms)), "min_ms": float(ms.min()),
            "p90_ms": float(np.percentile(ms, 90)), "runs": int(repeat), "warmup": int(warmup)}


def time_engine(graph: Graph, repeat: int = 2000, warmup: int = 50, seed: int = 0) -> dict:
    """Median/min/p90 ms of one ``Engine.run`` on a random int8 patch, after ``warmup`` runs."""
    from edgesed.engine import Engine

    engine = Engine(graph)
    x = np.random.default_rng(seed).integers(-128, 128, graph.input.shape, dtype=np.int8)
    return timed(lambda: engine.run(x), warmup, repeat)


_COLD = """
import time, sys
t0 = time.perf_counter()
import numpy as np
from edgesed import models
from edgesed.engine import Engine
g = models.load(sys.argv[1])
e = Engine(g)
e.run(np.zeros(g.input.shape, np.int8))
print(time.perf_counter() - t0)
"""


def cold_start(model: str = "m20k") -> dict:
    """Seconds from process start to the first frame, with an empty and with a warm Numba cache."""
    with tempfile.TemporaryDirectory(prefix="edgesed-numba-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _COLD, model], env=env, check=True,
                                 capture_output=True, text=True).stdout
            times.append(float(out.strip().splitlines()[-1]))
    return {"empty_cache_s": times[0], "warm_cache_s": times[1]}


def _is_int8(graph: Graph) -> bool:
    from edgesed.graph_s8 import S8_OPS

    return all(n.op in S8_OPS for n in graph.nodes)


def _int8_references(graph: Graph, repeat: int) -> dict:
    """tflite-micro and LiteRT on the same model and input as :func:`time_engine`."""
    from edgesed.engine import Engine
    from edgesed.tflite.exporter import to_tflite
    from edgesed.tflite.timing import time_litert, time_tflite_micro

    model = to_tflite(graph)
    x = np.random.default_rng(0).integers(-128, 128, graph.input.shape, dtype=np.int8)

    def ours(invokes: int) -> np.ndarray:
        """The engine's output after as many invokes of ``x`` as the reference made (its last
        output): a recurrent state (the int8 LSTM's) evolves over the timing runs."""
        engine = Engine(graph)
        for _ in range(invokes):
            y = engine.run(x)
        return y.reshape(-1).astype(np.int32)

    tflm_runs, litert_runs = (5, max(20, repeat // 20)), (50, repeat)
    tflm = time_tflite_micro(model, x, warmup=tflm_runs[0], repeat=tflm_runs[1])
    litert = time_litert(model, x, warmup=litert_runs[0], repeat=litert_runs[1])
    tflm["bit_exact"] = bool(np.array_equal(tflm.pop("output").reshape(-1),
                                            ours(sum(tflm_runs))))
    out = litert.pop("output").reshape(-1).astype(np.int32)
    litert["max_abs_diff"] = int(np.abs(out - ours(sum(litert_runs))).max())
    return {"tflite_micro": tflm, "litert_xnnpack_1thread": litert,
            "tflite_bytes": len(model)}


def run_bench(graph: Graph, repeat: int = 2000, reference: bool = True,
              with_cold_start: bool = True) -> dict:
    """All figures of ``edgesed bench`` as a dict (see the module docstring)."""
    from edgesed import models, models_s8, ops

    result = {"model": graph.name, "total_macs": sum(ops.layer_macs(graph, n) for n in graph.nodes),
              "edgesed": time_engine(graph, repeat=repeat)}
    if reference and graph.name == "m20k":
        from edgesed import tflite_twin

        model = tflite_twin.build_m20k_tflite()
        rng = np.random.default_rng(0)
        x = rng.integers(-128, 128, (1, 96, 64, 1), dtype=np.int8)
        h = rng.integers(-128, 128, (1, 60), dtype=np.int8)
        result["tflite_micro"] = tflite_twin.time_tflite_micro(model, x, h, warmup=20,
                                                                repeat=max(50, repeat // 10))
        result["litert_xnnpack_1thread"] = tflite_twin.time_litert(model, x, h, warmup=50,
                                                                    repeat=repeat)
    elif reference and _is_int8(graph):
        result.update(_int8_references(graph, repeat))
    elif reference:
        result["reference_note"] = ("the TFLite twin exists for m20k and int8 graphs only; "
                                    "q7 models have no int8 TFLite equivalent")
    if with_cold_start and (graph.name in models.FAMILY or graph.name in models_s8.MODELS):
        result["cold_start"] = cold_start(graph.name)
    return result


def format_bench(result: dict) -> str:
    """Human-readable summary of :func:`run_bench`'s dict."""
    lines = [f"{result['model']}: {result['total_macs']:,} MACs per inference, one core"]
    base = result["edgesed"]["median_ms"]
    for key, label in (("edgesed", "edgesed engine"), ("tflite_micro", "tflite-micro interpreter"),
                       ("litert_xnnpack_1thread", "LiteRT XNNPACK 1 thread")):
        if key in result:
            r = result[key]
            ratio = r["median_ms"] / base
            rel = "" if key == "edgesed" else (f"   edgesed {ratio:.2f}x faster" if ratio >= 1
                                               else f"   edgesed {1 / ratio:.2f}x slower")
            if "bit_exact" in r:
                rel += "; same bits" if r["bit_exact"] else "; OUTPUTS DIFFER"
            if "max_abs_diff" in r:
                rel += f"; max |diff| {r['max_abs_diff']} LSB (XNNPACK's own kernels)"
            lines.append(f"  {label:<26} median {r['median_ms']:8.4f} ms  min {r['min_ms']:8.4f}"
                         f"  p90 {r['p90_ms']:8.4f}  ({r['runs']} runs){rel}")
    if "cold_start" in result:
        c = result["cold_start"]
        lines.append(f"  cold start (import + build + first frame): empty Numba cache "
                     f"{c['empty_cache_s']:.2f} s, warm cache {c['warm_cache_s']:.2f} s")
    if "reference_note" in result:
        lines.append(f"  ({result['reference_note']})")
    return "\n".join(lines)
