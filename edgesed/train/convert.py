"""From a trained :class:`~edgesed.train.nets.SedNet` to edgesed graphs, through ONNX.

The network is exported as ONE ONNX model of one time step (:func:`export_onnx`):
``x (1, 1, 96, 64)``, ``h0 (1, 1, u)`` -> ``(logits (1, classes), h_n (1, 1, u))`` -- convs,
pools, flatten, FCs, then the RNN on a length-1 sequence and the output FC.
:func:`edgesed.onnx_import.import_onnx` reads it as one step-by-step model (state in/out), and
:func:`float_graph` turns it into a :class:`~edgesed.floatexec.FloatGraph` (names ``conv1,
pool1, ..., fc1, ..., rnn, fcN`` as in :func:`edgesed.models.build`). The float weights are kept
as a compressed ``.npz`` of the torch ``state_dict`` plus the member's name
(:func:`save_weights` / :func:`load_weights`).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from edgesed.errors import ConfigError
from edgesed.floatexec import FloatGraph, make_nodes
from edgesed.graph import Op
from edgesed.onnx_import import FloatOp, import_onnx

__all__ = ["export_onnx", "float_graph", "to_float_graph", "save_weights", "load_weights"]

OPSET = 17


def _one_step(net):
    """``net`` as a module ``forward(x, h0) -> (logits, h_n)`` of one patch (one time step)."""
    from torch import nn

    class OneStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.maps, self.head = net.maps, net.head

        def forward(self, x, h0):
            y, hn = self.head.rnn(self.maps(x).unsqueeze(1), h0)   # a length-1 sequence
            return self.head.out(y.squeeze(1)), hn

    return OneStep().eval()


def export_onnx(net) -> bytes:
    """One ONNX model of one time step of ``net`` (eval mode, ``dynamo=False``).

    Inputs ``x (1, 1, 96, 64)`` and ``h0 (1, 1, rnn_units)``; outputs ``logits (1, classes)``
    and ``hn (1, 1, rnn_units)``.
    """
    import warnings

    import torch

    net.eval()
    cfg = net.cfg
    buf = io.BytesIO()
    with warnings.catch_warnings():          # the RNN batch-size note: batch is 1, h0 an input
        warnings.filterwarnings("ignore", message=".*batch_size other than 1",
                                category=UserWarning)
        torch.onnx.export(_one_step(net),
                          (torch.zeros(1, 1, *cfg.input_hw), torch.zeros(1, 1, cfg.rnn_units)),
                          buf, dynamo=False, opset_version=OPSET, input_names=["x", "h0"],
                          output_names=["logits", "hn"])
    return buf.getvalue()


def float_graph(onnx_model, name: str = "m20k") -> FloatGraph:
    """One ONNX model (path or bytes; maps, or conv front end + RNN) as a FloatGraph.

    Softmax is not allowed (the detector applies its own). A GRU (``linear_before_reset=1``,
    as PyTorch exports it) becomes an ``Op.GRU`` layer named ``gru`` (params ``weight``,
    ``recurrent``, ``bias``, ``recurrent_bias``, rows z, r, h).
    """
    model = import_onnx(onnx_model)
    if model.softmax:
        raise ConfigError("the model ends in Softmax; export logits (the detector applies the "
                          "softmax)")
    layers, params, counts = [], {}, {}
    for la in model.layers:
        if la.op is FloatOp.GRU and not la.args.linear_before_reset:
            raise ConfigError(f"layer {la.name!r} is a GRU with linear_before_reset=0, which "
                              "nnom's GRU cell cannot run; export nn.GRU from PyTorch "
                              "(linear_before_reset=1)")
        kind = {FloatOp.CONV2D: "conv", FloatOp.MAXPOOL: "pool", FloatOp.AVGPOOL: "pool",
                FloatOp.DENSE: "fc", FloatOp.RNN: "rnn", FloatOp.GRU: "gru"}[la.op]
        counts[kind] = counts.get(kind, 0) + 1
        lname = (kind if kind in ("rnn", "gru") and counts[kind] == 1
                 else f"{kind}{counts[kind]}")
        op = Op(la.op.value)
        args = la.args.units if op in (Op.RNN, Op.GRU) else la.args
        layers.append((op, lname, args, la.activation))
        params.update({f"{lname}.{k}": np.asarray(v, np.float64) for k, v in la.params.items()})
    shape = tuple(model.input_shape)
    return FloatGraph(name, shape, make_nodes(shape, layers), params)


def to_float_graph(net) -> FloatGraph:
    """``net`` -> ONNX -> :func:`edgesed.onnx_import.import_onnx` -> FloatGraph."""
    return float_graph(export_onnx(net), name=net.cfg.name)


def save_weights(net, path) -> Path:
    """Write ``net``'s float weights (``state_dict``) and member name as a compressed npz."""
    path = Path(path)
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    with open(path, "wb") as f:
        np.savez_compressed(f, __member__=np.array(net.cfg.name), **arrays)
    return path


def load_weights(path):
    """The :class:`~edgesed.train.nets.SedNet` saved by :func:`save_weights`."""
    import torch

    from edgesed.train.nets import SedNet

    with np.load(path, allow_pickle=False) as z:
        net = SedNet(str(z["__member__"]))
        net.load_state_dict({k: torch.from_numpy(z[k].copy()) for k in z.files
                             if k != "__member__"})
    return net.eval()
