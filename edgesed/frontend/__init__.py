"""Mel frontends: 16 kHz audio blocks in, VGGish log-mel frames (int8, network input format) out.

API map:

- :func:`make_frontend` ``(kind, input_q) -> Frontend`` — ``"float"`` (VGGish reference, float64)
  or ``"fixed"`` (the MCU's q15 CMSIS-DSP chain);
- :class:`Frontend` — ``push(samples) -> int8 (n_new, 64)``, ``push_float(samples) -> float32
  (n_new, 64)``, ``reset()``, ``frame_costs(target) -> dict``; attributes ``sample_rate``
  (16000), ``n_mels`` (64), ``hop_samples`` (160), ``window_samples`` (400), ``input_q``;
- :mod:`edgesed.frontend.params` — geometry, periodic Hann, VGGish's mel matrix;
- :mod:`edgesed.frontend.mel_float` — the float frontend (Numba, float64);
- :mod:`edgesed.frontend.q15` — bit-exact Numba twins of the CMSIS-DSP q15/q31 functions
  (float_to_q15, mult, absmax, shift, offset, dot product, sqrt, magnitude, vlog);
- :mod:`edgesed.frontend.rfft_q15` — twins of arm_rfft_q15 / arm_cfft_q15 and their tables;
- :mod:`edgesed.frontend.q15_fast` — the same integers in a layout the host vectorizes (the
  fixed frontend's hot path);
- :mod:`edgesed.frontend.mel_fixed` — the fixed-point frontend built from them;
- :mod:`edgesed.cycles.frontend` — RAM, flash, ops and cycles per hop (``frame_costs``).

Streaming equals batch: any partition of the same audio into blocks yields the same frames, bit
for bit. Returned frames are views of an internal buffer, valid until the next push or reset.
"""
from __future__ import annotations

from edgesed.errors import ConfigError
from edgesed.frontend.base import Frontend

__all__ = ["make_frontend", "Frontend", "KINDS"]

KINDS = ("float", "fixed")


def make_frontend(kind: str = "float", input_q=None, **options) -> Frontend:
    """Build a frontend.

    Parameters
    ----------
    kind : {"float", "fixed"}
        ``"float"``: VGGish's algorithm in float64. ``"fixed"``: the q15 chain an MCU runs
        (arm_float_to_q15, arm_mult_q15, arm_rfft_q15, arm_cmplx_mag_q15, q15 mel dot products,
        fixed-point log).
    input_q : QFormat or AffineQ, optional
        The network's input format (``graph.input.q``); default Q3.4, the built-in models'.
        An affine (TFLite int8) format wraps the frontend in
        :class:`~edgesed.frontend.affine.AffineInput`.
    **options
        Passed to the frontend class (``FixedFrontend(autoscale=True)``; none for float).
    """
    from edgesed.graph import QFormat
    from edgesed.graph_s8 import AffineQ

    if input_q is None:
        input_q = QFormat(frac_bits=4)
    if isinstance(input_q, AffineQ):      # an int8 TFLite model: add its input QUANTIZE
        from edgesed.frontend.affine import SOURCE_FRAC_BITS, AffineInput

        inner = make_frontend(kind, QFormat(frac_bits=SOURCE_FRAC_BITS), **options)
        return AffineInput(inner, input_q)
    if kind == "float":
        from edgesed.frontend.mel_float import FloatFrontend

        return FloatFrontend(input_q, **options)
    if kind == "fixed":
        from edgesed.frontend.mel_fixed import FixedFrontend

        return FixedFrontend(input_q, **options)
    raise ConfigError(f"kind={kind!r} is not a frontend; choose one of {KINDS}")
