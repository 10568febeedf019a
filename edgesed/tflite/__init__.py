"""Read, write and run ``.tflite`` flatbuffers (int8 TFLite models, as TFLite Micro runs them).

API map
-------
- :mod:`edgesed.tflite.schema` — the generated TFLite schema (from tflite-micro or LiteRT) and
  name tables: operator codes, tensor types, builtin-options tables, enum option names.
- :mod:`edgesed.tflite.builder` — :class:`ModelBuilder`: ``tensor()``, ``const()`` (int8/16/32,
  float32, packed int4), ``op(name, inputs, outputs, **options)``, ``set_io()``, ``finish()``;
  :func:`pack_int4`.
- :mod:`edgesed.tflite.reader` — :func:`read_tflite` -> frozen :class:`TfliteModel` (tensors,
  operators with options as plain dicts, subgraph inputs/outputs), with clear
  :class:`~edgesed.errors.ModelFormatError` for corrupt, foreign, multi-subgraph and float
  models; :func:`unsupported_ops`.
- :mod:`edgesed.tflite.oracle` — :func:`run_tflm` (the tflite-micro interpreter as a bit-exact
  oracle, state kept across invokes), :func:`tflm_arena_bytes` (the arena TFLM really uses)
  and :func:`tflm_arena_breakdown` (its head/tail split).

Interpreters and the schema are imported lazily; a missing one raises
:class:`~edgesed.errors.ConfigError` with the ``pip install`` that adds it.
"""
from edgesed.tflite.builder import ModelBuilder, pack_int4
from edgesed.tflite.oracle import run_tflm, tflm_arena_breakdown, tflm_arena_bytes
from edgesed.tflite.reader import (OperatorInfo, TensorInfo, TfliteModel, read_tflite,
                                   unsupported_ops)

__all__ = ["ModelBuilder", "pack_int4", "run_tflm", "tflm_arena_bytes", "tflm_arena_breakdown",
           "read_tflite", "TfliteModel", "TensorInfo", "OperatorInfo", "unsupported_ops"]
