"""Feed an int8 TFLite-style network: the frontend's Qm.n frames requantized to its affine input.

A ``.tflite`` model's input is ``real = scale * (q - zero_point)``, not a power-of-two Qm.n.
On a device the frontend still produces its own fixed format (here Q3.4, the float and fixed
frontends' ``clip(rint(logmel * 16))``) and one TFLM ``QUANTIZE`` int8 -> int8 operator maps it
to the model's format::

    out = clamp(MultiplyByQuantizedMultiplier(q, m, s) + zero_point, -128, 127)

with ``(m, s) = QuantizeMultiplier(2**-4 / scale)`` (TFLM ``quantize_common.cc``,
``Requantize``; ``arm_nn_requantize`` is the same function, double rounding). The source
format's zero point is 0. :class:`AffineInput` wraps a frontend and does exactly that per frame,
into its own preallocated buffer; it forwards everything else to the wrapped frontend.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from kernels.requantize_s8 import quantize_multiplier, requantize

__all__ = ["AffineInput", "SOURCE_FRAC_BITS"]

SOURCE_FRAC_BITS = 4     #: the wrapped frontend's Q3.4 (log-mel spans about +-10)


@nb.njit(cache=True)
def _requantize_frames(src, dst, multiplier, shift, zero_point):
    """TFLM ``Requantize`` int8 -> int8 of (n, 64) frames with source zero point 0."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            v = requantize(np.int32(src[i, j]), multiplier, shift) + zero_point
            dst[i, j] = np.int8(min(127, max(-128, v)))


class AffineInput:
    """A frontend whose frames come out in an affine int8 format (``edgesed.graph_s8.AffineQ``).

    Parameters
    ----------
    inner : Frontend
        Built with ``QFormat(frac_bits=SOURCE_FRAC_BITS)``.
    input_q : AffineQ
        The network's input format (per tensor).
    """

    def __init__(self, inner, input_q):
        self.inner = inner
        self.input_q = input_q
        self.multiplier, self.shift = quantize_multiplier(
            2.0 ** -SOURCE_FRAC_BITS / float(input_q.scale[0]))
        self._out = np.zeros((128, inner.n_mels), np.int8)

    def push(self, samples) -> np.ndarray:
        """Like :meth:`Frontend.push`, in ``input_q``: int8 (n_new, 64), a view valid until the
        next push."""
        frames = self.inner.push(samples)
        n = frames.shape[0]
        if n > self._out.shape[0]:
            self._out = np.zeros((max(n, 2 * self._out.shape[0]), frames.shape[1]), np.int8)
        _requantize_frames(frames, self._out[:n], np.int32(self.multiplier),
                           np.int32(self.shift), np.int32(self.input_q.zero_point))
        return self._out[:n]

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"{self.inner!r} -> QUANTIZE to int8 {self.input_q}"
