"""Write ``.tflite`` flatbuffers: one subgraph of quantized tensors and builtin operators.

:class:`ModelBuilder` collects tensors, constant buffers and operators and packs them with the
TFLite schema's object API (no TensorFlow needed). It writes what the TFLite converter writes
for a full-integer model, so tflite-micro and LiteRT both run the result::

    b = ModelBuilder()
    x = b.tensor((1, 8, 8, 3), "int8", scale=0.05, zero_point=-3, name="x")
    w = b.const(np.ones((4, 3, 3, 3), np.int8), scale=[0.01] * 4, zero_point=0)
    bias = b.const(np.zeros(4, np.int32), scale=[0.0005] * 4, zero_point=0)
    y = b.tensor((1, 8, 8, 4), "int8", scale=0.1, zero_point=5, name="y")
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_w=1, stride_h=1,
         fused_activation_function="RELU")
    b.set_io([x], [y])
    model = b.finish()          # bytes, starting with a root offset and b"TFL3"

Options are named as in ``schema.fbs`` (snake_case: ``stride_w``, ``dilation_h_factor``,
``depth_multiplier``, ``fused_activation_function``, ``beta``, ``keep_num_dims``, ...); enum
options take their names (``padding="VALID"``, ``fused_activation_function="RELU6"``).

int4 constants (``dtype="int4"``) take int8 values in [-8, 7] and are stored packed two per byte,
element ``2k`` in the low nibble and ``2k+1`` in the high nibble, over the flat C-order tensor
(an odd count leaves the last high nibble 0): the layout TFLite's
``PackInt8IntoDenseInt4`` writes and TFLM's ``UnpackDenseInt4IntoInt8`` reads, checked against the
interpreter in ``tests/test_oracle_s8.py``.
"""
from __future__ import annotations

import numpy as np

from edgesed.errors import ConfigError, ShapeError
from edgesed.tflite import schema as sch

__all__ = ["ModelBuilder", "pack_int4", "OP_VERSIONS"]

# Version written in each OperatorCode. TFLM ignores versions; LiteRT registers every builtin
# over a version range, and these are the versions the converter gives int8 ops.
OP_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "MAX_POOL_2D": 2,
               "AVERAGE_POOL_2D": 2, "SOFTMAX": 2, "ADD": 2, "MUL": 2, "RESHAPE": 1,
               "QUANTIZE": 1, "DEQUANTIZE": 2, "CONCATENATION": 2, "TANH": 2, "LOGISTIC": 2,
               "UNIDIRECTIONAL_SEQUENCE_LSTM": 1}

# Defaults the TFLite converter always writes but the schema leaves at 0.
_DEFAULTS = {"Conv2DOptions": {"stride_w": 1, "stride_h": 1},
             "DepthwiseConv2DOptions": {"stride_w": 1, "stride_h": 1},
             "Pool2DOptions": {"stride_w": 1, "stride_h": 1},
             "SoftmaxOptions": {"beta": 1.0}}
_REQUIRED = {"Pool2DOptions": ("filter_width", "filter_height")}
_ALIGN = 16   # constant buffers start on 16-byte boundaries, as the converter writes them


def pack_int4(values) -> np.ndarray:
    """Pack int8 values in [-8, 7] two per byte, element 2k in the low nibble (flat C order).

    ``[1, 2, 3, 4] -> [0x21, 0x43]``; ``[-1, 7, 5] -> [0x7F, 0x05]``. Returns uint8 of length
    ``ceil(n / 2)``.
    """
    v = np.asarray(values).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ConfigError(f"int4 values must lie in [-8, 7]; got min {int(v.min())}, max "
                          f"{int(v.max())}. Quantize the weights to 4 bits first.")
    nib = (v.astype(np.int64) & 0xF).astype(np.uint8)
    if nib.size % 2:
        nib = np.append(nib, np.uint8(0))
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)


class _AlignedBuffer:
    """A ``BufferT`` stand-in whose data vector is aligned to ``_ALIGN`` bytes when packed."""

    def __init__(self, data: bytes | None = None):
        self.data = data

    def Pack(self, builder):
        fb = sch.schema()
        vec = None
        if self.data is not None:
            builder.StartVector(1, len(self.data), _ALIGN)
            builder.head = builder.head - len(self.data)
            builder.Bytes[builder.head:builder.head + len(self.data)] = self.data
            vec = builder.EndVector()
        fb.BufferStart(builder)
        if vec is not None:
            fb.BufferAddData(builder, vec)
        return fb.BufferEnd(builder)


def _dtype_name(dtype) -> str:
    if isinstance(dtype, str) and dtype.upper() in sch.DTYPES:
        return dtype.upper()
    dt = np.dtype(dtype)
    for name, d in sch.DTYPES.items():
        if d == dt and name != "INT4":
            return name
    raise ConfigError(f"dtype {dtype!r} has no TFLite TensorType; use int8, int16, int32, "
                      "int64, uint8, float32 or 'int4'")


class ModelBuilder:
    """Collect tensors, constants and operators of one subgraph, then pack a ``.tflite`` model.

    Tensor ids are returned by :meth:`tensor` and :meth:`const` in creation order; pass ``-1`` in
    an operator's inputs for an omitted optional input (e.g. a NULL bias or LSTM peephole).
    """

    def __init__(self, description: str = "edgesed"):
        self.fb = sch.schema()
        self.description = description
        self.tensors: list = []
        self.buffers: list = [_AlignedBuffer()]   # buffer 0: the empty sentinel
        self.operators: list = []
        self.codes: list = []
        self._code_keys: list = []
        self.inputs: list[int] | None = None
        self.outputs: list[int] | None = None

    # -- tensors -----------------------------------------------------------------------------
    def tensor(self, shape, dtype, *, scale=None, zero_point=None, quantized_dimension=0,
               name=None, variable=False, _buffer=0) -> int:
        """Add a non-constant tensor and return its id.

        Parameters
        ----------
        shape : sequence of int (NHWC for images)
        dtype : numpy dtype or name, e.g. ``"int8"``, ``np.int16``, ``"int4"``
        scale : float or sequence of float, optional
            One per tensor, or one per slice along ``quantized_dimension`` (per-channel).
        zero_point : int or sequence of int, optional
            Broadcast to ``len(scale)``; defaults to 0 when ``scale`` is given.
        variable : bool
            Mark as a variable tensor (state kept across invokes, e.g. LSTM h and c).
        """
        t = self.fb.TensorT()
        t.shape = [int(s) for s in shape]
        t.type = sch.type_value(_dtype_name(dtype))
        t.buffer = _buffer
        t.name = name if name is not None else f"t{len(self.tensors)}"
        t.isVariable = bool(variable)
        if scale is not None:
            scales = [float(s) for s in np.atleast_1d(np.asarray(scale, np.float64))]
            zps = np.atleast_1d(np.asarray(0 if zero_point is None else zero_point, np.int64))
            if zps.size == 1:
                zps = np.repeat(zps, len(scales))
            if zps.size != len(scales):
                raise ShapeError(f"zero_point has {zps.size} values but scale has {len(scales)}"
                                 "; give one zero point per scale, or a single one")
            if len(scales) > 1 and not (0 <= quantized_dimension < len(t.shape)
                                        and t.shape[quantized_dimension] == len(scales)):
                raise ShapeError(f"{len(scales)} per-channel scales do not match shape "
                                 f"{tuple(t.shape)!r} along quantized_dimension="
                                 f"{quantized_dimension}; give one scale per channel")
            q = self.fb.QuantizationParametersT()
            q.scale, q.zeroPoint = scales, [int(z) for z in zps]
            q.quantizedDimension = int(quantized_dimension)
            t.quantization = q
        elif zero_point is not None:
            raise ConfigError(f"zero_point={zero_point!r} given without a scale; a quantized "
                              "tensor needs both")
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, array, *, dtype=None, scale=None, zero_point=None, quantized_dimension=0,
              name=None) -> int:
        """Add a constant tensor holding ``array`` (its shape) and return its id.

        ``dtype`` defaults to ``array.dtype``; ``"int4"`` packs int8 values in [-8, 7] two per
        byte (see :func:`pack_int4`). Values must fit the dtype exactly: nothing is clipped.
        """
        a = np.asarray(array)
        kind = _dtype_name(a.dtype if dtype is None else dtype)
        if kind == "INT4":
            data = pack_int4(a).tobytes()
        else:
            want = sch.DTYPES[kind]
            if a.dtype != want:
                cast = a.astype(want)
                if not np.array_equal(cast, a):
                    raise ConfigError(f"constant {name!r} does not fit {want} exactly (range "
                                      f"{a.min()}..{a.max()}); quantize or clip it first")
                a = cast
            data = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        self.buffers.append(_AlignedBuffer(data))
        return self.tensor(a.shape, kind, scale=scale, zero_point=zero_point,
                           quantized_dimension=quantized_dimension, name=name,
                           _buffer=len(self.buffers) - 1)

    # -- operators ---------------------------------------------------------------------------
    def _opcode(self, name: str, version: int | None, custom: bool) -> int:
        key = ("CUSTOM", name) if custom else (name, None)
        if key not in self._code_keys:
            c = self.fb.OperatorCodeT()
            if custom:
                c.builtinCode = c.deprecatedBuiltinCode = sch.opcode_value("CUSTOM")
                c.customCode = name
            else:
                code = sch.opcode_value(name)
                c.builtinCode = code
                c.deprecatedBuiltinCode = min(code, 127)   # 127: PLACEHOLDER_FOR_GREATER_OP_CODES
            c.version = int(version or OP_VERSIONS.get(name, 1))
            self.codes.append(c)
            self._code_keys.append(key)
        return self._code_keys.index(key)

    def op(self, name: str, inputs, outputs, *, version: int | None = None,
           custom: bool = False, custom_options: bytes | None = None,
           intermediates=None, **options) -> None:
        """Append operator ``name`` (a ``BuiltinOperator`` name, or a custom code if ``custom``).

        ``options`` are the fields of its builtin options table in snake_case; unknown names are
        refused with the list of valid ones. ``DEPTHWISE_CONV_2D``'s ``depth_multiplier`` defaults
        to ``filter.shape[3] // input.shape[3]``; ``SOFTMAX``'s ``beta`` to 1.0; strides to 1.
        ``intermediates`` lists tensor ids whose quantization carries internal scales (the
        int8 ``UNIDIRECTIONAL_SEQUENCE_LSTM`` gate outputs).
        """
        intermediates = [int(i) for i in (intermediates or ())]
        ids = [int(i) for i in (*inputs, *outputs, *intermediates)]
        for i in ids:
            if not -1 <= i < len(self.tensors) or (i == -1 and i in outputs):
                raise ShapeError(f"operator {name!r} refers to tensor {i}, but tensors 0.."
                                 f"{len(self.tensors) - 1} exist (-1 only for optional inputs)")
        o = self.fb.OperatorT()
        o.opcodeIndex = self._opcode(name, version, custom)
        o.inputs, o.outputs = [int(i) for i in inputs], [int(i) for i in outputs]
        if intermediates:
            o.intermediates = intermediates
        if custom:
            if options:
                raise ConfigError(f"custom operator {name!r} takes custom_options bytes, not "
                                  f"builtin options {sorted(options)!r}")
            if custom_options is not None:
                o.customOptions = np.frombuffer(bytes(custom_options), np.uint8)
            self.operators.append(o)
            return
        table = sch.OPTIONS.get(name)
        if table is None:
            if options:
                raise ConfigError(f"operator {name!r} has no builtin options known to edgesed; "
                                  f"got {sorted(options)!r}")
            self.operators.append(o)
            return
        if name == "DEPTHWISE_CONV_2D" and "depth_multiplier" not in options:
            cin, cout = self.tensors[o.inputs[0]].shape[-1], self.tensors[o.inputs[1]].shape[-1]
            options["depth_multiplier"] = max(cout // max(cin, 1), 1)
        opts = getattr(self.fb, table + "T")()
        fields = {sch.snake(k) for k in vars(opts)}
        missing = [k for k in _REQUIRED.get(table, ()) if k not in options]
        if missing:
            raise ConfigError(f"operator {name!r} needs options {missing!r}")
        for key, value in {**_DEFAULTS.get(table, {}), **options}.items():
            if key not in fields:
                raise ConfigError(f"{key!r} is not an option of {name!r} ({table}); valid: "
                                  f"{sorted(fields)!r}")
            if key in sch.ENUM_FIELDS:
                value = sch.enum_value(key, value)
            elif isinstance(value, (list, tuple, np.ndarray)):
                value = [int(v) for v in value]
            setattr(opts, sch.camel(key), value)
        o.builtinOptionsType = getattr(self.fb.BuiltinOptions, table)
        o.builtinOptions = opts
        self.operators.append(o)

    def set_io(self, inputs, outputs) -> None:
        """Declare the subgraph's input and output tensor ids, in interpreter index order."""
        for i in (*inputs, *outputs):
            if not 0 <= int(i) < len(self.tensors):
                raise ShapeError(f"subgraph input/output {i} is not a tensor id (0.."
                                 f"{len(self.tensors) - 1})")
        self.inputs, self.outputs = [int(i) for i in inputs], [int(i) for i in outputs]

    def finish(self) -> bytes:
        """Pack the model (schema version 3, file identifier ``TFL3``) and return its bytes."""
        import flatbuffers
        if self.inputs is None:
            raise ConfigError("call set_io(inputs, outputs) before finish()")
        sg = self.fb.SubGraphT()
        sg.tensors, sg.operators = self.tensors, self.operators
        sg.inputs, sg.outputs, sg.name = self.inputs, self.outputs, "main"
        m = self.fb.ModelT()
        m.version, m.description = 3, self.description
        m.operatorCodes, m.subgraphs, m.buffers = self.codes, [sg], self.buffers
        b = flatbuffers.Builder(1024 + sum(len(x.data or b"") + _ALIGN for x in self.buffers))
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())
