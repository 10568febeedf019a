"""Post-training quantization of a :class:`~edgesed.floatexec.FloatGraph` to the legacy q7 format.

Seed section V-A/B. Every tensor gets an 8-bit power-of-two format Qm.n (``1 + m + n = 8``,
step ``2**-n``, range ``[-2**m, 2**m)``), chosen from calibration data by one of two methods:

- ``Method.SQNR``: the ``n`` that maximizes ``SQNR = E[x^2] / E[(x - Q(x))^2]`` (eq. 10) of that
  tensor alone, trying every allowed ``n`` (ties go to the smaller ``n``, the wider range).
- ``Method.OVERLOAD``: the fewest integer bits ``m`` with ``P(|x| >= 2**m) < p_th`` (eq. 12; the
  seed prints ``P(|x| < 2**i)``, which is the complement of what its text describes), i.e. the
  largest allowed ``n``; ``p_th = 1e-4`` as in the seed. If no allowed ``n`` gets below
  ``p_th``, the widest range (smallest ``n``) is taken.

Weights, biases and activations are chosen one at a time (activations from a float forward pass
of the calibration set), with the range of ``n`` narrowed so the result runs on the q7 kernels:

- ``n`` in [0, 15] for every tensor (what :func:`edgesed.graph.validate` accepts);
- bias and output of conv/dense/rnn: ``n <= n_i + n_w`` (CMSIS ``bias_shift`` and ``out_shift``
  are left/right shifts and cannot be negative); pooling keeps its input's format;
- RNN (nnom simple cell): output Q0.7 (the tanh/sigmoid tables write Q0.7), sum format
  ``n_sum`` in ``[4, min(7, n_i + n_w)]`` so ``act_int_width = 7 - n_sum`` is in 0..3 and
  ``oshift_iw >= 0``, chosen over ``w @ x + b``, ``u @ h_prev`` and their sum (each is saturated
  to int8 in that format); ``n_w >= 4 - n_i`` so such an ``n_sum`` exists.
- GRU (nnom cell, q15 state): output Q0.7 (state Q0.15); gate format ``n_z`` (``q_dec_z``) in
  ``[4, min(7, n_i + n_w)]``, chosen over ``w @ x + b``, ``u @ h_prev + rb`` and the three gate
  pre-activations; bias with ``bias_shift = n_i + n_w - n_b`` in [0, 16]. The z and r halves of
  the recurrent bias are folded into the input bias (exact: both are added before the sigmoid);
  the h half stays in ``recurrent_bias`` at the scale nnom's shared ``bias_shift + 8`` implies
  (:func:`edgesed.graph.gru_recurrent_bias_frac`); ``n_b`` is lowered while that half would
  saturate.

The calibration array is run as one stream (RNN/GRU state carried from zero, in order), both in the
float executor and in the q7 :class:`~edgesed.engine.Engine` that measures the result.

**Per-channel formats.** The legacy CMSIS-NN q7 kernels (``arm_convolve_HWC_q7_*``,
``arm_fully_connected_q7*``) and nnom's simple cell take one ``bias_shift`` and one ``out_shift``
per layer, and edgesed's kernels mirror them: there is no per-channel shift. With
``per_channel=True`` each output channel's weight format is chosen on its own, then folded into
one per-layer format *only if exact* (every channel's integers are representable unchanged in a
common Qm.n); otherwise :class:`~edgesed.errors.ConfigError` is raised.

API map
-------
- :func:`quantize` -> ``(Graph, QuantReport)``; :class:`Method`
- :class:`QuantReport` (``formats``, ``weight_sqnr_db``, ``activation_sqnr_db``,
  ``measured_sqnr_db``, ``overall_sqnr_db``, ``top1_agreement``, :meth:`QuantReport.render`)
- :func:`frac_bits_sqnr`, :func:`frac_bits_overload`, :func:`quantize_values`, :func:`sqnr_db`,
  :func:`harmonic_sqnr_db` (eq. 11)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from edgesed import floatexec
from edgesed.engine import Engine
from edgesed.errors import ConfigError, ShapeError
from edgesed.floatexec import FloatGraph
from edgesed.graph import Graph, Op, QFormat, TensorSpec, layer_shifts, validate

__all__ = ["Method", "TensorFormat", "QuantReport", "quantize", "frac_bits_sqnr",
           "frac_bits_overload", "quantize_values", "sqnr_db", "harmonic_sqnr_db"]

MAX_FRAC = 15


class Method(Enum):
    """How a tensor's Qm.n is chosen (seed V-B)."""

    SQNR = "sqnr"
    OVERLOAD = "overload"


@dataclass(frozen=True)
class TensorFormat:
    """One row of the format table; ``shift`` is the CMSIS/nnom shift this format sets."""

    layer: str
    tensor: str            # input | weight | bias | recurrent | rec_bias | sum | gates | output
    q: QFormat
    shift_name: str | None
    shift: int | None
    sqnr_db: float         # of this tensor quantized alone (the eq. 11 term)


@dataclass(frozen=True)
class QuantReport:
    """What :func:`quantize` chose and how well the q7 graph tracks the float one.

    ``weight_sqnr_db`` / ``activation_sqnr_db``: per layer, each tensor quantized alone.
    ``measured_sqnr_db``: per layer, the q7 engine's dequantized output against the float
    executor's over the calibration stream (errors of all earlier layers included).
    ``overall_sqnr_db``: eq. 11 over every row of ``formats``. ``top1_agreement``: fraction of
    calibration patches whose last-layer argmax is the same in q7 and float.
    """

    method: Method
    p_th: float
    formats: tuple[TensorFormat, ...]
    weight_sqnr_db: dict
    activation_sqnr_db: dict
    measured_sqnr_db: dict
    overall_sqnr_db: float
    top1_agreement: float

    def render(self) -> str:
        lines = [f"quantization ({self.method.value}"
                 + (f", p_th={self.p_th:g}" if self.method is Method.OVERLOAD else "") + ")",
                 f"{'layer':<8} {'tensor':<9} {'Qm.n':<6} {'shift':<18} {'SQNR dB':>8}"]
        for f in self.formats:
            shift = f"{f.shift_name}={f.shift}" if f.shift_name else "-"
            lines.append(f"{f.layer:<8} {f.tensor:<9} {str(f.q):<6} {shift:<18} "
                         f"{f.sqnr_db:8.1f}")
        lines.append("measured q7 vs float per layer (dB): " + ", ".join(
            f"{k} {v:.1f}" for k, v in self.measured_sqnr_db.items()))
        lines.append(f"overall SQNR (eq. 11): {self.overall_sqnr_db:.1f} dB; "
                     f"top-1 agreement {self.top1_agreement:.0%}")
        return "\n".join(lines)


# ------------------------------------------------------------------------- single tensors

def quantize_values(values, frac_bits: int) -> np.ndarray:
    """Round to the nearest step ``2**-n`` and saturate to 8 bits; returns the float values."""
    scale = 2.0 ** frac_bits
    return np.clip(np.round(np.asarray(values, np.float64) * scale), -128, 127) / scale


def _ints(values, frac_bits: int) -> np.ndarray:
    return np.clip(np.round(np.asarray(values, np.float64) * 2.0 ** frac_bits),
                   -128, 127).astype(np.int8)


def sqnr_db(ref, approx) -> float:
    """``10 log10(sum ref^2 / sum (ref - approx)^2)``; ``inf`` when they are equal."""
    ref = np.asarray(ref, np.float64)
    noise = float(np.sum((ref - np.asarray(approx, np.float64)) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def harmonic_sqnr_db(terms_db) -> float:
    """Seed eq. 11: ``1 / gamma_out = sum_i 1 / gamma_i`` (linear SQNRs), in dB."""
    inv = sum(10.0 ** (-t / 10.0) for t in terms_db if t != math.inf)
    return math.inf if inv == 0.0 else -10.0 * math.log10(inv)


def _check_range(lo, hi):
    if not 0 <= lo <= hi <= MAX_FRAC:
        raise ConfigError(f"frac-bit range [{lo}, {hi}] must satisfy 0 <= lo <= hi <= {MAX_FRAC}")


def frac_bits_sqnr(values, lo: int = 0, hi: int = MAX_FRAC) -> int:
    """The ``n`` in ``[lo, hi]`` that maximizes the SQNR of ``values`` (smallest on ties).

    An all-zero tensor gets ``clip(7, lo, hi)``.
    """
    _check_range(lo, hi)
    x = np.asarray(values, np.float64).ravel()
    if not np.any(x):
        return int(min(max(7, lo), hi))
    scores = [sqnr_db(x, quantize_values(x, n)) for n in range(lo, hi + 1)]
    return lo + int(np.argmax(scores))


def frac_bits_overload(values, p_th: float = 1e-4, lo: int = 0, hi: int = MAX_FRAC) -> int:
    """The largest ``n`` in ``[lo, hi]`` (fewest integer bits ``m = 7 - n``) with
    ``P(|x| >= 2**m) < p_th`` over ``values``; ``lo`` if none qualifies."""
    _check_range(lo, hi)
    a = np.abs(np.asarray(values, np.float64).ravel())
    for n in range(hi, lo - 1, -1):
        if np.mean(a >= 2.0 ** (7 - n)) < p_th:
            return n
    return lo


# ------------------------------------------------------------------------- whole graphs

def _check_calibration(fg: FloatGraph, calibration) -> np.ndarray:
    want = ("n",) + fg.input_shape
    if not isinstance(calibration, np.ndarray):
        raise ShapeError(f"calibration is {type(calibration).__name__}; pass a float np.ndarray "
                         f"of shape {want} (n patches of the graph input)")
    if calibration.dtype.kind != "f":
        raise ShapeError(f"calibration dtype is {calibration.dtype}; pass float patches "
                         "(e.g. calibration.astype(np.float32)), not already-quantized integers")
    if calibration.ndim != len(want) or calibration.shape[1:] != fg.input_shape \
            or calibration.shape[0] < 1:
        raise ShapeError(f"calibration.shape={calibration.shape} must be {want} with n >= 1; "
                         "for a single patch x pass x[None]")
    bad = ~np.isfinite(calibration)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(f"calibration has {int(bad.sum())} NaN/inf values (first at "
                          f"{first}); drop or clean those patches before quantizing")
    return calibration.astype(np.float64)


def _float_stream(fg, calib):
    """Per-layer float outputs and RNN partial sums over the calibration stream, stacked."""
    outs, taps, state = {}, {}, {}
    for x in calib:
        inter = {}
        y, state = floatexec.run(fg, x, state, intermediates=inter)
        for k, v in y.items():
            outs.setdefault(k, []).append(v)
        for k, v in inter.items():
            taps.setdefault(k, []).append(v)
    return ({k: np.stack(v) for k, v in outs.items()}, {k: np.stack(v) for k, v in taps.items()})


def _weight_format(name, values, choose, lo, per_channel):
    """Per-layer frac bits and int8 weights; per-channel only when it folds exactly."""
    if not per_channel:
        n = choose(values, lo, MAX_FRAC)
        return n, _ints(values, n)
    rows = values.reshape(values.shape[0], -1)
    chans = [choose(r, lo, MAX_FRAC) for r in rows]
    ints = [_ints(r, n).astype(np.int64) for r, n in zip(rows, chans)]
    for n in range(lo, MAX_FRAC + 1):
        folded = []
        for q, nc in zip(ints, chans):
            scaled = q * 2.0 ** (n - nc)
            if np.any(scaled != np.round(scaled)) or np.any(scaled < -128) or \
                    np.any(scaled > 127):
                break
            folded.append(scaled)
        else:
            return n, np.stack(folded).reshape(values.shape).astype(np.int8)
    raise ConfigError(
        f"{name}: per-channel formats {sorted(set(str(QFormat(n)) for n in chans))} cannot be "
        "folded into one per-layer format exactly, and the legacy CMSIS-NN q7 kernels (and "
        "edgesed's twins) take a single bias_shift/out_shift per layer, with no per-channel "
        "shift. Use per_channel=False (one Qm.n per weight tensor)")


def quantize(fg: FloatGraph, calibration: np.ndarray, method: Method | str = Method.SQNR,
             p_th: float = 1e-4, *, per_channel: bool = False) -> tuple[Graph, QuantReport]:
    """Quantize ``fg`` to a validated int8 :class:`~edgesed.graph.Graph` (legacy q7 formats).

    Parameters
    ----------
    fg : FloatGraph
    calibration : np.ndarray [shape=(n, *fg.input_shape), dtype=float]
        Calibration patches, run in order as one stream (RNN state carried).
    method : Method or {"sqnr", "overload"}
    p_th : float in (0, 1)
        Accepted overload probability (``method="overload"`` only).
    per_channel : bool
        Choose weight formats per output channel; folded to one per-layer format if exact,
        else :class:`ConfigError` (see the module notes).

    Returns
    -------
    graph : Graph
    report : QuantReport
    """
    try:
        method = Method(method)
    except ValueError:
        raise ConfigError(f"method={method!r} must be one of "
                          f"{[m.value for m in Method]}") from None
    if not 0.0 < float(p_th) < 1.0:
        raise ConfigError(f"p_th={p_th!r} must be a probability in (0, 1); the seed uses 1e-4")
    floatexec.validate_float(fg)
    calib = _check_calibration(fg, calibration)
    if method is Method.SQNR:
        choose = frac_bits_sqnr
    else:
        def choose(values, lo, hi):
            return frac_bits_overload(values, p_th, lo, hi)
    outs, taps = _float_stream(fg, calib)

    rows = []                    # (layer, tensor, frac bits, float values, int8 values or None)
    params, nodes = {}, []
    n_in = choose(calib, 0, MAX_FRAC)
    rows.append(("input", "input", n_in, calib, None))
    n_prev = n_in
    for node in fg.nodes:
        name, p = node.name, fg.params
        if node.op in (Op.MAXPOOL, Op.AVGPOOL):
            nodes.append(dataclasses.replace(node, output=TensorSpec(node.output.shape,
                                                                     QFormat(n_prev))))
            continue
        w = np.asarray(p[f"{name}.weight"], np.float64)
        b = np.asarray(p[f"{name}.bias"], np.float64)
        if node.op is Op.GRU:
            b, rb = _fold_gru_bias(p, name, node.args.units)
        lo_w = max(0, 4 - n_prev) if node.op in (Op.RNN, Op.GRU) else 0
        n_w, params[f"{name}.weight"] = _weight_format(f"{name}.weight", w, choose, lo_w,
                                                       per_channel)
        limit = min(MAX_FRAC, n_prev + n_w)
        lo_b = max(0, n_prev + n_w - 16) if node.op is Op.GRU else 0
        n_b = choose(b, lo_b, limit)
        changes = {}
        if node.op is Op.GRU:
            n_u, u_ints = _weight_format(f"{name}.recurrent", np.asarray(
                p[f"{name}.recurrent"], np.float64), choose, 0, per_channel)
            n_b = _fit_recurrent_bias(rb, n_b, lo_b, n_u - n_prev - n_w + 7)
            params[f"{name}.recurrent_bias"] = _ints(rb, n_b + n_u - n_prev - n_w + 7)
        params[f"{name}.bias"] = _ints(b, n_b)
        rows += [(name, "weight", n_w, w, params[f"{name}.weight"]), (name, "bias", n_b, b, None)]
        if node.op is Op.RNN:
            u = np.asarray(p[f"{name}.recurrent"], np.float64)
            n_u, params[f"{name}.recurrent"] = _weight_format(f"{name}.recurrent", u, choose, 0,
                                                              per_channel)
            sums = np.concatenate([taps[f"{name}.{k}"].ravel() for k in ("iw", "hw", "sum")])
            n_sum = choose(sums, 4, min(7, n_prev + n_w))
            n_out = 7
            changes["args"] = dataclasses.replace(node.args, sum_q=QFormat(n_sum),
                                                  recurrent_q=QFormat(n_u))
            rows += [(name, "recurrent", n_u, u, params[f"{name}.recurrent"]),
                     (name, "sum", n_sum, sums, None)]
        elif node.op is Op.GRU:
            params[f"{name}.recurrent"] = u_ints
            n_rb = n_b + n_u - n_prev - n_w + 7
            taps_g = np.concatenate([taps[f"{name}.{k}"].ravel() for k in ("iw", "hw", "gates")])
            n_z = choose(taps_g, 4, min(7, n_prev + n_w))
            n_out = 7
            changes["args"] = dataclasses.replace(node.args, gate_q=QFormat(n_z),
                                                  recurrent_q=QFormat(n_u))
            rows += [(name, "recurrent", n_u, p[f"{name}.recurrent"], u_ints),
                     (name, "rec_bias", n_rb, rb, params[f"{name}.recurrent_bias"]),
                     (name, "gates", n_z, taps_g, None)]
        else:
            n_out = choose(outs[name], 0, limit)
        rows.append((name, "output", n_out, outs[name], None))
        nodes.append(dataclasses.replace(node, output=TensorSpec(node.output.shape,
                                                                 QFormat(n_out)),
                                         weight_q=QFormat(n_w), bias_q=QFormat(n_b), **changes))
        n_prev = n_out
    graph = Graph(fg.name, TensorSpec(fg.input_shape, QFormat(n_in)), tuple(nodes), params)
    validate(graph)
    return graph, _report(graph, calib, outs, rows, method, float(p_th))


def _fold_gru_bias(p, name, units):
    """(input bias with the z/r recurrent biases folded in, recurrent bias with only its h part)."""
    b = np.asarray(p[f"{name}.bias"], np.float64).copy()
    rb = np.asarray(p[f"{name}.recurrent_bias"], np.float64).copy()
    b[:2 * units] += rb[:2 * units]
    rb[:2 * units] = 0.0
    return b, rb


def _fit_recurrent_bias(rb, n_b, lo_b, offset):
    """Lower ``n_b`` (not below ``lo_b``) until ``rb`` fits int8 at ``n_b + offset`` frac bits."""
    peak = float(np.max(np.abs(rb), initial=0.0))
    while n_b > lo_b and round(peak * 2.0 ** (n_b + offset)) > 127:
        n_b -= 1
    return n_b


# (op kind, tensor) -> the shift of layer_shifts() that this tensor's format sets
_SHIFT_OF = {("", "bias"): "bias_shift", ("", "output"): "out_shift",
             ("rnn", "bias"): "bias_shift", ("rnn", "weight"): "oshift_iw",
             ("rnn", "recurrent"): "oshift_hw", ("rnn", "sum"): "act_int_width",
             ("gru", "bias"): "bias_shift", ("gru", "weight"): "oshift_iw",
             ("gru", "recurrent"): "oshift_hw", ("gru", "gates"): "act_int_width"}


def _report(graph, calib, outs, rows, method, p_th) -> QuantReport:
    formats, w_db, a_db = [], {}, {}
    for layer, tensor, n, values, ints in rows:
        # weights use their stored ints (per-channel folding may differ from rounding at n)
        approx = quantize_values(values, n) if ints is None else ints * 2.0 ** -n
        db = sqnr_db(values, approx)
        shift_name = shift = None
        if layer != "input":
            node = graph.node(layer)
            kind = node.op.value if node.op in (Op.RNN, Op.GRU) else ""
            shift_name = _SHIFT_OF.get((kind, tensor))
            shift = layer_shifts(graph, node)[shift_name] if shift_name else None
        formats.append(TensorFormat(layer, tensor, QFormat(n), shift_name, shift, db))
        if tensor == "weight":
            w_db[layer] = db
        elif tensor in ("output", "input"):
            a_db[layer] = db
    # measured: the q7 engine on the quantized calibration stream against the float stream
    engine = Engine(graph)
    got = {node.name: [] for node in graph.nodes}
    for x in calib:
        for name, y in engine.run_layers(_ints(x, graph.input.q.frac_bits)).items():
            got[name].append(y.astype(np.float64) * 2.0 ** -graph.node(name).output.q.frac_bits)
    measured = {name: sqnr_db(outs[name], np.stack(v)) for name, v in got.items()}
    last = graph.nodes[-1].name
    q_last = np.stack(got[last]).reshape(len(calib), -1)
    f_last = outs[last].reshape(len(calib), -1)
    top1 = float(np.mean(q_last.argmax(axis=1) == f_last.argmax(axis=1)))
    overall = harmonic_sqnr_db(f.sqnr_db for f in formats)
    return QuantReport(method, p_th, tuple(formats), w_db, a_db, measured, overall, top1)
