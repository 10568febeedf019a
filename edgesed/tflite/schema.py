"""The TFLite flatbuffer schema (object API) and name tables over its enums.

The generated schema module ships with tflite-micro (``tflite_micro.tensorflow.lite.micro.python.
schema_py_generated``) and with ai-edge-litert (``ai_edge_litert.schema_py_generated``); either
works, and :func:`schema` imports whichever is installed, raising a :class:`ConfigError` with the
install command when neither is.

Tables (built once from the schema's enum classes):

- :func:`opcode_name` / :func:`opcode_value` — ``BuiltinOperator`` value <-> ``"CONV_2D"``
- :data:`DTYPES` — ``TensorType`` name -> numpy dtype (``INT4``: packed on disk, int8 here)
- :data:`OPTIONS` — operator name -> its ``BuiltinOptions`` table name (``"Conv2DOptions"``)
- :data:`ENUM_FIELDS` — option fields whose value is an enum, with the enum class name
- :func:`snake`, :func:`camel` — ``fused_activation_function`` <-> ``fusedActivationFunction``
"""
from __future__ import annotations

import functools
import importlib
import re

import numpy as np

from edgesed.errors import ConfigError

__all__ = ["schema", "opcode_name", "opcode_value", "type_name", "type_value", "DTYPES",
           "OPTIONS", "ENUM_FIELDS", "enum_name", "enum_value", "snake", "camel"]

_MODULES = ("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
            "ai_edge_litert.schema_py_generated")


@functools.lru_cache(maxsize=1)
def schema():
    """The generated TFLite schema module (tflite-micro's copy, else LiteRT's)."""
    errors = []
    for name in _MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as err:
            errors.append(f"{name}: {err}")
    raise ConfigError("the TFLite flatbuffer schema cannot be imported (" + "; ".join(errors)
                      + "). Try `pip install tflite-micro` (or `scripts/setup.sh --dev`).")


def _table(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


@functools.lru_cache(maxsize=None)
def _enum(cls_name: str) -> dict[int, str]:
    return _table(getattr(schema(), cls_name))


def opcode_name(code: int) -> str:
    """``BuiltinOperator`` value -> name (``3 -> "CONV_2D"``); unknown ones -> ``"BUILTIN_<n>"``."""
    return _enum("BuiltinOperator").get(int(code), f"BUILTIN_{int(code)}")


def opcode_value(name: str) -> int:
    """``"CONV_2D" -> 3``; raises :class:`ConfigError` for a name the schema does not have."""
    try:
        return int(getattr(schema().BuiltinOperator, name))
    except AttributeError:
        raise ConfigError(f"operator {name!r} is not a TFLite BuiltinOperator; names are upper "
                          "case like 'CONV_2D' or 'FULLY_CONNECTED'") from None


def type_name(value: int) -> str:
    """``TensorType`` value -> name (``9 -> "INT8"``)."""
    return _enum("TensorType").get(int(value), f"TYPE_{int(value)}")


def type_value(name: str) -> int:
    try:
        return int(getattr(schema().TensorType, name.upper()))
    except AttributeError:
        raise ConfigError(f"tensor type {name!r} is not a TFLite TensorType; use one of "
                          f"{sorted(DTYPES)!r}") from None


# numpy dtype of each TensorType edgesed reads or writes. INT4 values are held as int8.
DTYPES = {"FLOAT32": np.dtype(np.float32), "FLOAT16": np.dtype(np.float16),
          "FLOAT64": np.dtype(np.float64), "INT32": np.dtype(np.int32),
          "UINT8": np.dtype(np.uint8), "INT64": np.dtype(np.int64), "BOOL": np.dtype(np.bool_),
          "INT16": np.dtype(np.int16), "INT8": np.dtype(np.int8), "UINT32": np.dtype(np.uint32),
          "UINT16": np.dtype(np.uint16), "UINT64": np.dtype(np.uint64),
          "INT4": np.dtype(np.int8)}

# BuiltinOptions table of each operator the builder and reader name explicitly.
OPTIONS = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "MAX_POOL_2D": "Pool2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "SOFTMAX": "SoftmaxOptions", "ADD": "AddOptions", "SUB": "SubOptions",
    "MUL": "MulOptions", "RESHAPE": "ReshapeOptions", "QUANTIZE": "QuantizeOptions",
    "DEQUANTIZE": "DequantizeOptions", "CONCATENATION": "ConcatenationOptions",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
    "SVDF": "SVDFOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions", "PAD": "PadOptions", "PADV2": "PadV2Options",
    "SQUEEZE": "SqueezeOptions", "STRIDED_SLICE": "StridedSliceOptions",
    "TRANSPOSE": "TransposeOptions", "LEAKY_RELU": "LeakyReluOptions",
    "BATCH_MATMUL": "BatchMatMulOptions",
}

# Option fields (snake_case, as in schema.fbs) whose values are enums: field -> enum class.
ENUM_FIELDS = {"padding": "Padding", "fused_activation_function": "ActivationFunctionType",
               "weights_format": "FullyConnectedOptionsWeightsFormat",
               "kernel_type": "LSTMKernelType"}


def enum_name(field: str, value: int) -> str:
    """Name of ``value`` in the enum of option ``field`` (``("padding", 0) -> "SAME"``)."""
    return _enum(ENUM_FIELDS[field]).get(int(value), str(int(value)))


def enum_value(field: str, value) -> int:
    """Value of an enum option given by name or number (``("padding", "VALID") -> 1``)."""
    if isinstance(value, str):
        names = {v: k for k, v in _enum(ENUM_FIELDS[field]).items()}
        if value.upper() not in names:
            raise ConfigError(f"{field}={value!r} is not one of {sorted(names)!r}")
        return names[value.upper()]
    return int(value)


def snake(name: str) -> str:
    """``fusedActivationFunction -> fused_activation_function``, ``strideW -> stride_w``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(name: str) -> str:
    """``fused_activation_function -> fusedActivationFunction``, ``stride_w -> strideW``."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
