"""Built-in networks: the seed's M20k as implemented on its Cortex-M4, and the Table I family.

The M20k (``../shared/reference/fbk_m20k.json``): input 96x64x1 log-mel patch; five valid 3x3
convolutions (4, 8, 16, 16, 32 channels, ReLU), each followed by max pooling (pool1 2x2/2, the
others 3x3/2 with padding 1); FC 64 (ReLU), FC 128 (ReLU), a vanilla RNN with 60 units (tanh),
FC 10 giving the class logits. Pooling is the plain-C per-tap loop (``PoolPathName.C``): CMSIS_5
5.6.0's ``arm_maxpool_q7_HWC`` is square-only and M20k's maps are not (94x62, 45x29, ...), and the
seed's Table VI pooling times grow with the window taps as that loop's do (see
:mod:`edgesed.cycles.table_vi`). For these windows (pad < stride) the DSP two-pass path gives the
same bits, so only the cost differs. The family members (M200k, M2M) follow the same building rules with the
channel and width columns of the seed's Table I; Table I's recurrent layer is a 20-unit GRU, for
which edgesed uses a 20-unit vanilla RNN (the seed replaced the GRU the same way on the MCU).

``load("default")`` (also ``"m20k-synthetic"``) reads the shipped trained M20k,
``edgesed/data/m20k_synthetic.edgesed`` (10 SYNTHETIC classes; ``scripts/train_default.py``).
The family members built here have random weights: drawn from a seeded generator with He scaling,
and every tensor's Qm.n format chosen from the float ranges of a deterministic calibration
patch (integer bits = ceil(log2(max |x|))), so activations use their 8 bits without saturating
wholesale. The op counts, buffer sizes and timings depend only on the architecture.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from edgesed.errors import ConfigError
from edgesed.graph import (Activation, ConvArgs, DenseArgs, Graph, Node, Op, PoolArgs,
                           PoolPathName, QFormat, RnnArgs, TensorSpec, conv_out_hw, validate)

__all__ = ["FamilyConfig", "FAMILY", "SHIPPED", "build", "available", "load"]


@dataclass(frozen=True)
class FamilyConfig:
    """Architecture of one member of the seed's family (Table I columns)."""

    name: str
    conv_channels: tuple[int, ...]
    fc_units: tuple[int, ...]
    rnn_units: int
    classes: int = 10
    input_hw: tuple[int, int] = (96, 64)
    pool_path: PoolPathName = PoolPathName.C


FAMILY = {
    "m20k": FamilyConfig("m20k", (4, 8, 16, 16, 32), (64, 128), 60),
    "m200k": FamilyConfig("m200k", (8, 16, 32, 64, 64), (256, 128), 20),
    "m2m": FamilyConfig("m2m", (32, 64, 128, 128), (512, 128), 20),
}


#: NE16 (GAP9) models built on request: the Dilated CRNN, all-8-bit weights, random weights
#: (:func:`edgesed.ne16.quantize.dcrnn_graph`; other bit-widths through that function).
NE16_MODELS = ("dcrnn-ne16",)

#: Trained models shipped in ``edgesed/data`` (``scripts/train_default.py`` makes them).
SHIPPED = {"default": "m20k_synthetic.edgesed", "m20k-synthetic": "m20k_synthetic.edgesed"}


def load(spec: str) -> Graph:
    """A model by name: a :data:`FAMILY` member (random weights, :func:`build`), a
    :data:`SHIPPED` trained model (``"default"``), a built-in int8 model
    (:data:`edgesed.models_s8.MODELS`: ``"m20k-s8"``, ``"ds-cnn"``), the NE16 Dilated CRNN
    (``"dcrnn-ne16"``), or the path of an ``.edgesed`` or int8 ``.tflite`` file."""
    from pathlib import Path

    from edgesed import graphfile

    from edgesed import models_s8

    key = str(spec).lower()
    if key in FAMILY:
        return build(key)
    if key in SHIPPED:
        return graphfile.load(Path(__file__).parent / "data" / SHIPPED[key])
    if key in models_s8.MODELS:
        return models_s8.build_s8(key)
    if key in NE16_MODELS:
        from edgesed.ne16.quantize import dcrnn_graph

        return dcrnn_graph()[0]
    if key.endswith(".tflite"):
        from edgesed.tflite.importer import import_tflite

        return import_tflite(Path(spec))
    return graphfile.load(spec)


def available() -> list[str]:
    """Names accepted by :func:`build`."""
    return sorted(FAMILY)


def _int_bits(max_abs: float) -> int:
    """Integer bits m of the smallest Qm.n (8-bit) that holds ``max_abs`` (m in [-8, 7])."""
    if max_abs <= 0:
        return 0
    return int(min(7, max(-8, math.ceil(math.log2(max_abs * (128 / 127))))))


def _qformat(values) -> QFormat:
    return QFormat(frac_bits=7 - _int_bits(float(np.max(np.abs(values)))))


def _quantize(values, q: QFormat) -> np.ndarray:
    return np.clip(np.round(values * 2.0 ** q.frac_bits), -128, 127).astype(np.int8)


def _conv_f(x, w, b, stride, pad):
    x = np.pad(x, ((pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[1:3], axis=(0, 1))
    win = win[::stride[0], ::stride[1]]                          # (oh, ow, c, kh, kw)
    return np.einsum("yxcij,oijc->yxo", win, w) + b


def _pool_f(x, k, s, p):
    xp = np.pad(x, ((p[0], p[0]), (p[1], p[1]), (0, 0)), constant_values=-np.inf)
    oh, ow = conv_out_hw(x.shape[:2], k, s, p)
    win = np.lib.stride_tricks.sliding_window_view(xp, k, axis=(0, 1))
    return win[::s[0], ::s[1]][:oh, :ow].max(axis=(3, 4))


def _calibration_patch(hw, rng) -> np.ndarray:
    """A deterministic log-mel-like patch: smooth spectral tilt plus noise, range about [-4, 4]."""
    t = np.linspace(0, 1, hw[0])[:, None]
    f = np.linspace(0, 1, hw[1])[None, :]
    return (2.5 - 4.0 * f + 0.8 * np.sin(9 * t + 3 * f) + 0.4 * rng.standard_normal(hw))[..., None]


def build(name: str = "m20k", seed: int = 0, pool_path: PoolPathName | None = None) -> Graph:
    """Build a family member with seeded random weights and calibrated Qm.n formats.

    Parameters
    ----------
    name : {"m20k", "m200k", "m2m"}
    seed : int
        Seed of the weight generator; the same seed gives the same bits.
    pool_path : PoolPathName, optional
        Override the pooling build (default: the plain-C per-tap loop the seed measured).
    """
    try:
        cfg = FAMILY[name.lower()]
    except KeyError:
        raise ConfigError(f"model {name!r} is not built in; choose one of {available()} or pass "
                          "the path of an .edgesed file") from None
    if pool_path is not None:
        cfg = dataclasses.replace(cfg, pool_path=PoolPathName(pool_path))
    rng = np.random.default_rng(seed)
    x = _calibration_patch(cfg.input_hw, rng)
    in_q = _qformat(x)
    x = _quantize(x, in_q) / 2.0 ** in_q.frac_bits
    nodes, params = [], {}
    prev, prev_q = "input", in_q

    def weighted(name, w, b, y, op, args, act):
        nonlocal prev, prev_q
        wq, bq = _qformat(w), _qformat(b)
        oq = QFormat(7) if act is Activation.TANH else _qformat(y)
        # CMSIS-NN shifts must be >= 0: at most n_i + n_w fractional bits in bias and output.
        limit = prev_q.frac_bits + wq.frac_bits
        bq = QFormat(min(bq.frac_bits, limit))
        oq = QFormat(min(oq.frac_bits, limit))
        params[f"{name}.weight"] = _quantize(w, wq)
        params[f"{name}.bias"] = _quantize(b, bq)
        nodes.append(Node(op, name, prev, TensorSpec(y.shape, oq), args, wq, bq, act))
        prev, prev_q = name, oq
        return _quantize(y, oq) / 2.0 ** oq.frac_bits

    pools = [((2, 2), (2, 2), (0, 0))] + [((3, 3), (2, 2), (1, 1))] * (len(cfg.conv_channels) - 1)
    for i, (ch, (k, s, p)) in enumerate(zip(cfg.conv_channels, pools), start=1):
        w = rng.standard_normal((ch, 3, 3, x.shape[2])) * math.sqrt(2.0 / (9 * x.shape[2]))
        b = 0.1 * rng.standard_normal(ch)
        y = np.maximum(_conv_f(x, w, b, (1, 1), (0, 0)), 0)
        x = weighted(f"conv{i}", w, b, y, Op.CONV2D, ConvArgs(ch, (3, 3)), Activation.RELU)
        x = _pool_f(x, k, s, p)
        nodes.append(Node(Op.MAXPOOL, f"pool{i}", prev, TensorSpec(x.shape, prev_q),
                          PoolArgs(k, s, p, cfg.pool_path)))
        prev = f"pool{i}"
    x = x.reshape(-1)
    for i, units in enumerate(cfg.fc_units, start=1):
        w = rng.standard_normal((units, x.size)) * math.sqrt(2.0 / x.size)
        b = 0.1 * rng.standard_normal(units)
        x = weighted(f"fc{i}", w, b, np.maximum(w @ x + b, 0), Op.DENSE, DenseArgs(units),
                     Activation.RELU)
    # vanilla RNN, first step from h = 0: h = tanh(W x + b + U h)
    u, units = cfg.rnn_units, cfg.rnn_units
    w = rng.standard_normal((u, x.size)) * math.sqrt(1.0 / x.size)
    rec = rng.standard_normal((u, u)) * math.sqrt(1.0 / u)
    b = 0.1 * rng.standard_normal(u)
    pre = w @ x + b
    sum_q = QFormat(max(4, 7 - max(0, _int_bits(np.max(np.abs(pre)) + 1.0))))  # act int_width <= 3
    rec_q = _qformat(rec)
    params["rnn.recurrent"] = _quantize(rec, rec_q)
    x = weighted("rnn", w, b, np.tanh(pre), Op.RNN, RnnArgs(units, sum_q, rec_q), Activation.TANH)
    w = rng.standard_normal((cfg.classes, u)) * math.sqrt(1.0 / u)
    b = 0.1 * rng.standard_normal(cfg.classes)
    n_fc = len(cfg.fc_units) + 1
    weighted(f"fc{n_fc}", w, b, w @ x + b, Op.DENSE, DenseArgs(cfg.classes), Activation.NONE)
    graph = Graph(name=cfg.name, input=TensorSpec((*cfg.input_hw, 1), in_q), nodes=tuple(nodes),
                  params=params)
    validate(graph)
    return graph
