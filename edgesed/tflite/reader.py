"""Read a ``.tflite`` flatbuffer into a neutral, frozen description of its one subgraph.

:func:`read_tflite` checks the bytes (size, ``TFL3`` identifier, offsets, buffer sizes, one
subgraph, integer tensors only) and returns a :class:`TfliteModel`: plain tuples of
:class:`TensorInfo` and :class:`OperatorInfo` that an importer maps onto edgesed's graph IR
without touching the schema. Every problem is a :class:`~edgesed.errors.ModelFormatError` that
says what was found and what was expected::

    model = read_tflite("kws.tflite")
    missing = unsupported_ops(model, {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
    conv = model.operators[0]            # OperatorInfo(opcode='CONV_2D', inputs=(0, 1, 2), ...)
    conv.options["padding"]              # 'SAME'
    w = model.tensors[conv.inputs[1]]    # TensorInfo: shape, dtype 'INT8', scale, data
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import numpy as np

from edgesed.errors import ModelFormatError
from edgesed.tflite import schema as sch

__all__ = ["read_tflite", "TfliteModel", "TensorInfo", "OperatorInfo", "unsupported_ops",
           "unpack_int4"]

_FLOAT_TYPES = {"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"}
_CONVERT_HINT = ("Convert it with full-integer quantization: converter.optimizations = "
                 "[tf.lite.Optimize.DEFAULT], a representative_dataset, "
                 "target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] and "
                 "inference_input_type = inference_output_type = tf.int8.")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor. ``data`` is a read-only array for constants, else None.

    ``dtype`` is the TFLite type name (``"INT8"``, ``"INT32"``, ``"INT4"``, ...); int4 constants
    are unpacked to one int8 value per element and flagged ``int4=True``. ``scale`` and
    ``zero_point`` are empty tuples for an unquantized tensor, one entry per tensor, or one per
    slice along ``quantized_dimension``.
    """
    index: int
    name: str
    shape: tuple
    dtype: str
    scale: tuple = ()
    zero_point: tuple = ()
    quantized_dimension: int = 0
    data: np.ndarray | None = field(default=None, repr=False, compare=False)
    variable: bool = False
    int4: bool = False

    @property
    def np_dtype(self) -> np.dtype:
        """The numpy dtype of the values (int8 for INT4)."""
        return sch.DTYPES.get(self.dtype, np.dtype(np.uint8))

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class OperatorInfo:
    """One operator: ``opcode`` is the builtin name or ``"CUSTOM:<code>"``; ``-1`` in
    ``inputs`` marks an omitted optional input; ``options`` maps schema field names
    (snake_case) to plain values, enums by name (``{"padding": "SAME", "stride_w": 1, ...}``)."""
    index: int
    opcode: str
    inputs: tuple
    outputs: tuple
    options: dict = field(default_factory=dict)
    version: int = 1
    custom_code: str | None = None
    intermediates: tuple = ()


@dataclass(frozen=True)
class TfliteModel:
    """A single-subgraph TFLite model: tensors, operators in execution order, graph I/O."""
    tensors: tuple
    operators: tuple
    inputs: tuple
    outputs: tuple
    description: str = ""
    version: int = 3

    def tensor(self, name: str) -> TensorInfo:
        """The tensor called ``name``; raises KeyError listing a few names if absent."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor named {name!r}; some names: "
                       f"{[t.name for t in self.tensors[:8]]!r}")

    def opcodes(self) -> list[str]:
        """Distinct operator names in first-use order."""
        return list(dict.fromkeys(op.opcode for op in self.operators))


def unsupported_ops(model: TfliteModel, supported) -> list[str]:
    """Operator names of ``model`` not in ``supported``, sorted, each once (custom ops as
    ``"CUSTOM:<code>"``). An empty list means every operator can be imported."""
    supported = set(supported)
    return sorted({op.opcode for op in model.operators if op.opcode not in supported})


def unpack_int4(packed, count: int) -> np.ndarray:
    """Inverse of :func:`edgesed.tflite.builder.pack_int4`: ``count`` sign-extended int8 values,
    element 2k from the low nibble of byte k and 2k+1 from its high nibble."""
    b = np.frombuffer(bytes(packed), np.uint8)
    nib = np.empty(2 * b.size, np.int16)
    nib[0::2], nib[1::2] = b & 0xF, b >> 4
    return (((nib[:count] ^ 8) - 8)).astype(np.int8)


def _fail(what: str, n: int, detail: str = "") -> ModelFormatError:
    return ModelFormatError(f"{what} ({n} bytes){': ' + detail if detail else ''}")


def _load(data) -> bytes:
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            return f.read()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise ModelFormatError(f"read_tflite takes bytes or a path, got {type(data).__name__}")


def _options(op, fb) -> dict:
    if op.builtinOptions is None:
        return {}
    out = {}
    for key, value in vars(op.builtinOptions).items():
        name = sch.snake(key)
        if name in sch.ENUM_FIELDS:
            value = sch.enum_name(name, value)
        elif isinstance(value, np.ndarray):
            value = [v.item() for v in value]
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.generic):
            value = value.item()
        out[name] = value
    return out


def _tensor_data(t, index, name, buffers, raw: bytes, n: int):
    if t.buffer <= 0 or t.buffer >= len(buffers):
        if t.buffer >= len(buffers):
            raise _fail(f"corrupt .tflite: tensor {index} ({name!r}) refers to buffer "
                        f"{t.buffer}, but the model has {len(buffers)} buffers", n)
        return None
    buf = buffers[t.buffer]
    if buf.offset > 1:   # large-model layout: data stored after the flatbuffer
        if buf.offset + buf.size > n:
            raise _fail(f"truncated .tflite: tensor {name!r} data at offset {buf.offset} + "
                        f"{buf.size} bytes lies beyond the end of the file", n)
        data = np.frombuffer(raw, np.uint8, buf.size, buf.offset)
    elif buf.data is None or len(buf.data) == 0:
        return None
    else:
        data = np.asarray(buf.data, np.uint8)
    shape = tuple(int(v) for v in (t.shape if t.shape is not None else ()))   # () for a scalar
    count = int(np.prod(shape))
    tname = sch.type_name(t.type)
    if tname == "INT4":
        need = (count + 1) // 2
    elif tname in sch.DTYPES:
        need = count * sch.DTYPES[tname].itemsize
    else:
        return data.copy()
    if data.size != need:
        raise _fail(f"corrupt .tflite: tensor {index} ({name!r}, {tname} shape {shape!r}) "
                    f"needs {need} bytes of data but its buffer holds {data.size}", n)
    if tname == "INT4":
        return unpack_int4(data.tobytes(), count).reshape(shape)
    dt = sch.DTYPES[tname].newbyteorder("<")
    return data.view(dt).astype(sch.DTYPES[tname]).reshape(shape)


def _parse(raw: bytes):
    n = len(raw)
    fb = sch.schema()
    if n < 8:
        raise _fail("not a .tflite flatbuffer: too short; a .tflite model starts with a 4-byte "
                    "root offset and the 4-byte file identifier b'TFL3'", n)
    if raw[4:8] != b"TFL3":
        raise _fail(f"not a TFLite model: file identifier is {raw[4:8]!r} at bytes 4..7, "
                    "expected b'TFL3'. Is this a .tflite file (not .onnx, .h5 or a zip)?", n)
    root = struct.unpack_from("<I", raw, 0)[0]
    if not 8 <= root <= n - 4:
        raise _fail(f"corrupt or truncated .tflite: the root table offset {root} points "
                    f"outside the {n} bytes", n)
    try:
        return fb.ModelT.InitFromObj(fb.Model.GetRootAs(raw, 0))
    except (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError,
            MemoryError) as err:
        raise _fail("corrupt or truncated .tflite: reading the flatbuffer failed "
                    f"({type(err).__name__}: {err}); expected a complete TFLite schema v3 "
                    "model", n) from None


def read_tflite(data, *, allow_float: bool = False) -> TfliteModel:
    """Read a ``.tflite`` model (bytes or a path) into a :class:`TfliteModel`.

    Parameters
    ----------
    data : bytes or str or os.PathLike
    allow_float : bool
        Accept float tensors (for tools that inspect a model); edgesed's importer leaves it
        False, so float and mixed-type models are refused with the conversion recipe.

    Raises
    ------
    ModelFormatError
        Too short, not ``TFL3``, corrupt or truncated bytes (with the byte count and what was
        expected); schema version other than 3; not exactly one subgraph; sparse tensors;
        float tensors unless ``allow_float``.
    """
    raw = _load(data)
    n = len(raw)
    m = _parse(raw)
    if m.version != 3:
        raise _fail(f"unsupported .tflite schema version {m.version}; edgesed reads version 3 "
                    "(re-convert with a current TFLite converter)", n)
    subgraphs = m.subgraphs or []
    if len(subgraphs) != 1:
        raise _fail(f"the model has {len(subgraphs)} subgraphs; edgesed runs models with "
                    "exactly one (no WHILE/IF/CALL_ONCE control flow). Unroll or export the "
                    "inference function alone", n)
    sg, buffers, codes = subgraphs[0], m.buffers or [], m.operatorCodes or []
    tensors = []
    try:
        for i, t in enumerate(sg.tensors or []):
            name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else (t.name
                                                                                      or "")
            if t.sparsity is not None:
                raise _fail(f"tensor {i} ({name!r}) is sparse; edgesed reads dense tensors "
                            "only. Convert without sparsity", n)
            q = t.quantization
            scale = tuple(float(s) for s in (q.scale if q is not None and q.scale is not None
                                             else ()))
            zps = tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None
                                         else ()))
            arr = _tensor_data(t, i, name, buffers, raw, n)
            if arr is not None:
                arr.setflags(write=False)
            tname = sch.type_name(t.type)
            tensors.append(TensorInfo(
                index=i, name=name, shape=tuple(int(s) for s in (t.shape if t.shape is not None
                                                                  else ())),
                dtype=tname, scale=scale, zero_point=zps,
                quantized_dimension=int(q.quantizedDimension) if q is not None else 0,
                data=arr, variable=bool(t.isVariable), int4=tname == "INT4"))
    except (TypeError, ValueError, AttributeError) as err:
        if isinstance(err, ModelFormatError):
            raise
        raise _fail(f"corrupt .tflite: tensor table unreadable ({err})", n) from None
    operators = []
    for k, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise _fail(f"corrupt .tflite: operator {k} uses opcode index {op.opcodeIndex} of "
                        f"{len(codes)}", n)
        code = codes[op.opcodeIndex]
        opname = sch.opcode_name(max(code.builtinCode, code.deprecatedBuiltinCode))
        custom = None
        if opname == "CUSTOM":
            custom = code.customCode.decode("utf-8", "replace") \
                if isinstance(code.customCode, bytes) else str(code.customCode)
            opname = f"CUSTOM:{custom}"
        ins = tuple(int(i) for i in (op.inputs if op.inputs is not None else ()))
        outs = tuple(int(i) for i in (op.outputs if op.outputs is not None else ()))
        mids = tuple(int(i) for i in (op.intermediates if op.intermediates is not None else ()))
        for i in (*ins, *outs, *mids):
            if not -1 <= i < len(tensors):
                raise _fail(f"corrupt .tflite: operator {k} ({opname}) refers to tensor {i}, "
                            f"but there are {len(tensors)}", n)
        operators.append(OperatorInfo(index=k, opcode=opname, inputs=ins, outputs=outs,
                                      options=_options(op, sch.schema()),
                                      version=int(code.version), custom_code=custom,
                                      intermediates=mids))
    floats = [t for t in tensors if t.dtype in _FLOAT_TYPES]
    if floats and not allow_float:
        names = ", ".join(f"{t.name!r} ({t.dtype})" for t in floats[:8])
        more = f" and {len(floats) - 8} more" if len(floats) > 8 else ""
        ints = [t for t in tensors if t.dtype in ("INT8", "INT16", "INT4", "UINT8")]
        kind = "a mixed-type model" if ints else "a float model"
        raise _fail(f"{kind}: {len(floats)} of {len(tensors)} tensors are floating point: "
                    f"{names}{more}; edgesed runs integer (int8/int16) models only. "
                    + _CONVERT_HINT, n)
    desc = m.description.decode("utf-8", "replace") if isinstance(m.description, bytes) \
        else (m.description or "")
    return TfliteModel(tensors=tuple(tensors), operators=tuple(operators),
                       inputs=tuple(int(i) for i in (sg.inputs if sg.inputs is not None else ())),
                       outputs=tuple(int(i) for i in (sg.outputs if sg.outputs is not None
                                                       else ())),
                       description=desc, version=int(m.version))
