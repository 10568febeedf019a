"""Time one ``.tflite`` model in the tflite-micro interpreter and in LiteRT, with given inputs.

The reference side of ``edgesed bench`` for int8 graphs: the graph is exported with
:func:`edgesed.tflite.exporter.to_tflite` and the same file and input run in

- :func:`time_tflite_micro`: TFLM's Python interpreter (its reference int8 kernels, the ones
  CMSIS-NN is bit-exact with), default arena;
- :func:`time_litert`: ai-edge-litert with one thread and its default XNNPACK delegate.

Both return ``median_ms``, ``min_ms``, ``p90_ms``, ``runs``, ``warmup``, ``runtime`` and
``output`` (the int8 output of the last invoke, so a caller can check it against edgesed's).
Inputs are set before every invoke, off the clock (:func:`edgesed.bench.timed`).
"""
from __future__ import annotations

import importlib
from importlib import metadata

import numpy as np

from edgesed.bench import timed
from edgesed.errors import ConfigError

__all__ = ["time_tflite_micro", "time_litert"]


def _import(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(f"package {package!r} is needed to time the reference but cannot be "
                          f"imported ({err}); run `scripts/setup.sh --dev` or "
                          f"`pip install {package}`") from err


def time_tflite_micro(model_bytes: bytes, x: np.ndarray, warmup: int = 5,
                      repeat: int = 50) -> dict:
    """Time ``invoke()`` of the tflite-micro interpreter on one int8 input ``x``."""
    tflm = _import("tflite_micro", "tflite-micro")
    interp = tflm.runtime.Interpreter.from_bytes(bytes(model_bytes))
    shape = tuple(int(s) for s in interp.get_input_details(0)["shape"])
    x = np.ascontiguousarray(np.asarray(x, np.int8).reshape(shape))
    result = timed(interp.invoke, warmup, repeat, set_input=lambda: interp.set_input(x, 0))
    result.update(runtime=f"tflite-micro {tflm.__version__}",
                  output=np.array(interp.get_output(0), copy=True))
    return result


def time_litert(model_bytes: bytes, x: np.ndarray, warmup: int = 20, repeat: int = 500) -> dict:
    """Time ``invoke()`` of ai-edge-litert (one thread, default XNNPACK delegate) on ``x``."""
    _import("ai_edge_litert.interpreter", "ai-edge-litert")
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(model_bytes), num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    x = np.ascontiguousarray(np.asarray(x, np.int8).reshape(tuple(inp["shape"])))
    result = timed(interp.invoke, warmup, repeat,
                   set_input=lambda: interp.set_tensor(inp["index"], x))
    result.update(runtime=f"ai-edge-litert {metadata.version('ai-edge-litert')}, 1 thread",
                  output=np.array(interp.get_tensor(out["index"]), copy=True))
    return result
