"""Run a ``.tflite`` model in the tflite-micro Python interpreter: the oracle for bit-exact tests.

TFLM's reference kernels are what CMSIS-NN's s8 kernels are bit-exact with, so a model run here
gives the bits edgesed's kernels must reproduce.

- :func:`run_tflm` — outputs of one or more invokes, with variable tensors (LSTM state) kept
  between invokes of the same call.
- :func:`tflm_arena_bytes` — the arena TFLM actually uses for a model.

How the arena is measured: the Python package exposes no ``arena_used_bytes()``; its only view is
``Interpreter.print_allocations()``, which makes the ``RecordingMicroAllocator`` print
``Arena allocation total N bytes`` (head: the planned non-persistent tensors and scratch; tail:
persistent structures) to the C ``stderr``. :func:`tflm_arena_bytes` redirects file descriptor 2
to a temporary file around that call (``os.dup2``, so C-level writes are caught, unlike
``contextlib.redirect_stderr``) and parses the total. The interpreter is created with a generous
arena, then the model is invoked once on zero inputs so that every allocation has happened.
The figure is TFLM's "actual memory arena size" for this build of the interpreter (64-bit host:
its pointers and structs are larger than on a 32-bit MCU, so the tail is an upper bound there).
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
import threading

import numpy as np

from edgesed.errors import ConfigError, ModelFormatError, ShapeError

__all__ = ["run_tflm", "tflm_arena_bytes", "tflm_arena_breakdown", "tflm_allocations"]

_LOCK = threading.Lock()   # fd 2 is process-wide; serialise the redirection


def _tflm():
    try:
        return importlib.import_module("tflite_micro")
    except ImportError as err:
        raise ConfigError(f"the tflite-micro interpreter cannot be imported ({err}); the oracle "
                          "needs it. Try `pip install tflite-micro` (or `scripts/setup.sh "
                          "--dev`).") from err


def _interpreter(model_bytes: bytes, arena_size: int | None):
    tflm = _tflm()
    data = bytes(model_bytes)
    if arena_size is None:   # the package's own default (10x the model) fails on tiny models
        arena_size = max(10 * len(data), 1 << 20)
    try:
        return tflm.runtime.Interpreter.from_bytes(data, arena_size=int(arena_size))
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"tflite-micro refused the model ({len(data)} bytes, arena "
                          f"{arena_size} bytes): {err}. If the arena is too small, pass a "
                          "larger arena_size.") from err


def _io_counts(model_bytes: bytes) -> tuple[int, int]:
    """(number of inputs, number of outputs) of subgraph 0, read from the flatbuffer; refuses
    models that would crash the interpreter (see :func:`_known_crashes`)."""
    import struct

    from edgesed.tflite.schema import schema
    data = bytes(model_bytes)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError(f"not a .tflite flatbuffer ({len(data)} bytes; expected the file "
                               "identifier b'TFL3' at bytes 4..7)")
    fb = schema()
    try:
        model = fb.Model.GetRootAs(data, 0)
        sg = model.Subgraphs(0)
        _known_crashes(model, sg, fb)
        return sg.InputsLength(), sg.OutputsLength()
    except (struct.error, IndexError, AttributeError, TypeError) as err:
        raise ModelFormatError(f"corrupt or truncated .tflite ({len(data)} bytes): {err}; "
                               "check it with edgesed.tflite.read_tflite") from None


def _known_crashes(model, sg, fb) -> None:
    """Raise ConfigError for models the tflite-micro Python build segfaults on (a crash would
    take the whole test process down): DEPTHWISE_CONV_2D without a bias tensor dies in Prepare
    (found by the oracle tests; CONV_2D and FULLY_CONNECTED accept a missing bias)."""
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != \
                fb.BuiltinOperator.DEPTHWISE_CONV_2D:
            continue
        if op.InputsLength() < 3 or op.Inputs(2) < 0:
            raise ConfigError(f"operator {k} (DEPTHWISE_CONV_2D) has no bias; the tflite-micro "
                              "interpreter crashes on that (segfault in Prepare). Give it a "
                              "zero int32 bias: the result is the same.")


def _set_inputs(interp, inputs) -> None:
    for i, x in enumerate(inputs):
        d = interp.get_input_details(i)
        x = np.asarray(x)
        shape = tuple(int(s) for s in d["shape"])
        if x.dtype != d["dtype"] or x.size != int(np.prod(shape)):
            raise ShapeError(f"input {i} has shape {x.shape!r} and dtype {x.dtype}; the model "
                             f"wants {np.dtype(d['dtype'])} with shape {shape!r}")
        interp.set_input(np.ascontiguousarray(x.reshape(shape)), i)


def run_tflm(model_bytes: bytes, inputs, *, invokes: int = 1,
             arena_size: int | None = None) -> list:
    """Run ``model_bytes`` in tflite-micro and return its outputs.

    Parameters
    ----------
    model_bytes : bytes
        A ``.tflite`` flatbuffer (e.g. from :class:`edgesed.tflite.ModelBuilder`).
    inputs : list of np.ndarray
        One array per subgraph input, in order, with the input's dtype and element count (it is
        reshaped to the input's shape). With ``invokes > 1`` an entry may be a sequence of
        ``invokes`` arrays, one per invoke; a single array is fed to every invoke.
    invokes : int >= 1
        Number of ``invoke()`` calls on one interpreter; variable tensors (LSTM ``h``/``c``)
        carry over from one to the next.
    arena_size : int, optional
        Tensor arena in bytes; default ``max(10 * len(model_bytes), 1 MiB)``.

    Returns
    -------
    list of np.ndarray
        The outputs (copies) after the invoke if ``invokes == 1``; otherwise a list with one
        such list per invoke.

    Examples
    --------
    >>> (y,) = run_tflm(model, [x])                      # doctest: +SKIP
    >>> steps = run_tflm(lstm_model, [frames], invokes=3)  # doctest: +SKIP
    """
    if int(invokes) < 1:
        raise ConfigError(f"invokes={invokes!r} must be >= 1")
    n_in, n_out = _io_counts(model_bytes)
    interp = _interpreter(model_bytes, arena_size)
    if len(inputs) != n_in:
        raise ShapeError(f"the model has {n_in} inputs but {len(inputs)} arrays were given")
    results = []
    for k in range(int(invokes)):
        step = [x[k] if invokes > 1 and isinstance(x, (list, tuple)) else x for x in inputs]
        _set_inputs(interp, step)
        interp.invoke()
        results.append([np.array(interp.get_output(i), copy=True) for i in range(n_out)])
    return results[0] if invokes == 1 else results


def tflm_allocations(model_bytes: bytes, *, arena_size: int | None = None) -> str:
    """The text ``print_allocations()`` writes to stderr after one invoke on zero inputs."""
    n_in = _io_counts(model_bytes)[0]
    interp = _interpreter(model_bytes, arena_size)
    for i in range(n_in):
        d = interp.get_input_details(i)
        interp.set_input(np.zeros(tuple(int(s) for s in d["shape"]), d["dtype"]), i)
    interp.invoke()
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


def tflm_arena_breakdown(model_bytes: bytes, *, arena_size: int | None = None) -> dict:
    """``{"total", "head", "tail"}`` arena bytes as TFLM's ``RecordingMicroAllocator`` reports
    them after one invoke.

    ``head`` is the non-persistent section: TFLM's greedy plan of the activations and kernel
    scratch buffers (each rounded up to 16 bytes), the figure to set next to an edgesed plan's
    activation arena. ``tail`` holds persistent data (eval tensors, quantization parameters,
    per-channel multipliers, node structs); ``total = head + tail``.
    """
    text = tflm_allocations(model_bytes, arena_size=arena_size)
    out = {}
    for part in ("total", "head", "tail"):
        m = re.search(rf"Arena allocation {part} (\d+) bytes", text)
        if m is None:
            raise ConfigError("tflite-micro's print_allocations() did not report 'Arena "
                              f"allocation {part} N bytes' (got {text[:200]!r}); this "
                              "tflite-micro version prints a different format.")
        out[part] = int(m.group(1))
    return out


def tflm_arena_bytes(model_bytes: bytes, *, arena_size: int | None = None) -> int:
    """Bytes of tensor arena TFLM uses for the model (``Arena allocation total``; see module doc):
    head (planned activations and scratch) plus tail (persistent), after one invoke."""
    return tflm_arena_breakdown(model_bytes, arena_size=arena_size)["total"]
