"""Versioned model files: a :class:`~edgesed.graph.Graph` saved as ``.edgesed`` (a NumPy ``.npz``).

The archive holds ``__graph__`` (UTF-8 JSON: ``{"format": "edgesed-graph", "version": 1,
"graph": {...}}``) and one array per parameter (int8 for q7 graphs; int8/int32 for int8 TFLite
graphs, whose formats are affine; packed uint8 weights and their scales for NE16 graphs). ``graph.labels`` (class names, optional) is
written only if present; files without it (older writers) load with ``labels=()``, so version 1
stays readable both ways. Loading checks the format name and version
and turns every kind of damage (truncated zip, missing member, bad JSON, unknown enum) into a
:class:`~edgesed.errors.ModelFormatError` that names the file and what to do.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from edgesed import graph_ne16, graph_s8
from edgesed.errors import ModelFormatError
from edgesed.graph import (Activation, ConvArgs, ConvKernel, DenseArgs, DenseKernel, Graph,
                           GruArgs, Node, Op, PoolArgs, PoolPathName, QFormat, RnnArgs,
                           TensorSpec, validate)

__all__ = ["FORMAT", "VERSION", "save", "load", "to_bytes", "from_bytes"]

FORMAT = "edgesed-graph"
VERSION = 1

_ARGS = {Op.CONV2D: ConvArgs, Op.MAXPOOL: PoolArgs, Op.AVGPOOL: PoolArgs, Op.DENSE: DenseArgs,
         Op.RNN: RnnArgs, Op.GRU: GruArgs,
         Op.CONV_S8: graph_s8.ConvS8Args, Op.DEPTHWISE_S8: graph_s8.DepthwiseS8Args,
         Op.DENSE_S8: graph_s8.DenseS8Args, Op.MAXPOOL_S8: graph_s8.PoolS8Args,
         Op.AVGPOOL_S8: graph_s8.PoolS8Args, Op.SOFTMAX_S8: graph_s8.SoftmaxS8Args,
         Op.RESHAPE: graph_s8.ReshapeArgs, Op.LSTM_S8: graph_s8.LstmS8Args,
         Op.NE16_CONV: graph_ne16.Ne16ConvArgs, Op.NE16_MAXPOOL: graph_ne16.Ne16PoolArgs,
         Op.NE16_GLOBAL_MAXPOOL: graph_ne16.Ne16GlobalPoolArgs, Op.NE16_GRU: graph_ne16.Ne16GruArgs}
#: argument fields stored as JSON lists that are tuples in the dataclasses
_TUPLES = ("kernel", "stride", "padding", "pad_extra", "dilation", "pool")
#: enum-valued argument fields, per operator
_ENUMS = {(Op.CONV2D, "kernel_variant"): ConvKernel, (Op.DENSE, "kernel_variant"): DenseKernel,
          (Op.MAXPOOL, "path"): PoolPathName, (Op.AVGPOOL, "path"): PoolPathName}


def _plain(obj):
    if isinstance(obj, Enum):
        return obj.value
    if is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    return obj


def _graph_dict(graph: Graph) -> dict:
    return {"name": graph.name, "input": _plain(graph.input),
            "nodes": [_plain(n) for n in graph.nodes],
            **({"labels": list(graph.labels)} if graph.labels else {})}


def _q(d):
    """A format from its JSON: affine (``scale``/``zero_point``, int8 graphs) or Qm.n."""
    if d is None:
        return None
    return graph_s8.AffineQ(**d) if "scale" in d else QFormat(**d)


def _spec(d) -> TensorSpec:
    return TensorSpec(shape=tuple(d["shape"]), q=_q(d["q"]), dtype=d["dtype"])


def _args(op: Op, d: dict):
    cls = _ARGS[op]
    kw = {}
    for f in fields(cls):
        v = d[f.name]
        if f.name in _TUPLES and isinstance(v, list):
            v = tuple(v)
        elif f.name in ("sum_q", "recurrent_q", "gate_q"):
            v = _q(v)
        elif (op, f.name) in _ENUMS:
            v = _ENUMS[op, f.name](v)
        kw[f.name] = v
    return cls(**kw)


def _node(d: dict) -> Node:
    op = Op(d["op"])
    return Node(op=op, name=d["name"], input=d["input"], output=_spec(d["output"]),
                args=_args(op, d["args"]),
                weight_q=_q(d["weight_q"]), bias_q=_q(d["bias_q"]),
                activation=Activation(d["activation"]))


def to_bytes(graph: Graph) -> bytes:
    """Serialize a validated graph to the bytes of a ``.edgesed`` file."""
    validate(graph)
    header = json.dumps({"format": FORMAT, "version": VERSION, "graph": _graph_dict(graph)})
    buf = io.BytesIO()
    np.savez(buf, __graph__=np.frombuffer(header.encode(), dtype=np.uint8),
             **{k: np.asarray(v) for k, v in graph.params.items()})
    return buf.getvalue()


def save(graph: Graph, path) -> Path:
    """Write ``graph`` to ``path`` (conventionally ``*.edgesed``); return the path."""
    path = Path(path)
    path.write_bytes(to_bytes(graph))
    return path


def from_bytes(data: bytes, source: str = "<bytes>") -> Graph:
    """Parse the bytes of a ``.edgesed`` file; raise ModelFormatError if damaged or foreign."""
    hint = "re-export it with edgesed.graphfile.save() from this edgesed version"
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        names = set(archive.files)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ModelFormatError(f"{source}: not a readable edgesed model ({len(data)} bytes; "
                               f"{exc}); the file is truncated or not an .edgesed file; {hint}") from None
    if "__graph__" not in names:
        raise ModelFormatError(f"{source}: no '__graph__' header; this .npz is not an edgesed "
                               f"model; {hint}")
    try:
        header = json.loads(archive["__graph__"].tobytes().decode())
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{source}: the graph header is damaged ({exc}); {hint}") from None
    if header.get("format") != FORMAT:
        raise ModelFormatError(f"{source}: format {header.get('format')!r} is not {FORMAT!r}")
    if header.get("version") != VERSION:
        raise ModelFormatError(f"{source}: model file version {header.get('version')!r}, but "
                               f"this edgesed reads version {VERSION}; {hint}")
    try:
        g = header["graph"]
        nodes = tuple(_node(d) for d in g["nodes"])
        params = {k: archive[k] for k in names - {"__graph__"}}
        graph = Graph(name=g["name"], input=_spec(g["input"]), nodes=nodes, params=params,
                      labels=tuple(g.get("labels", ())))
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile, EOFError,
            OSError) as exc:
        raise ModelFormatError(f"{source}: the model is incomplete or damaged "
                               f"({type(exc).__name__}: {exc}); {hint}") from None
    validate(graph)
    return graph


def load(path) -> Graph:
    """Read a ``.edgesed`` model file; raise ModelFormatError naming the file if it is bad."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {str(path)!r}: {exc.strerror}") from None
    return from_bytes(data, source=str(path))
