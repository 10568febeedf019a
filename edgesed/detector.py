"""From int8 logits to sound events: posteriors, smoothing, thresholds with hysteresis.

Per frame (one patch, one inference):

1. **Posteriors.** The network's last layer gives int8 logits in the output format Qm.n
   (``graph.output.q``; Q1.6 for the built-in M20k). They are dequantized exactly,
   ``z = logit * 2**-n``, and passed through a softmax in float64 (``exp(z - max z) / sum``),
   returned as float32 (10,) summing to 1. The device would do the same in float or with
   CMSIS-NN's ``arm_softmax_q7``; the softmax here is the host's reference, not a firmware twin.
2. **Smoothing.** The score of a class is the moving average of its posteriors over the last
   ``smooth`` frames (fewer at the start of the stream). ``smooth=1`` uses each frame alone.
3. **Gate.** A *silent* frame (its audio peak below the stream's ``silence_dbfs``; see
   :mod:`edgesed.stream.modes`) contributes zeros: silence cannot start or extend an event.
4. **Hysteresis.** A class turns on when its score reaches ``on[c]`` and off when it falls
   below ``off[c]`` (``off <= on``; default 0.5 and 0.4).

An :class:`Event` is (label, onset s, offset s, peak score): the onset is the start time of the
frame that turned the class on; the offset is the end time of the last frame that kept it on
(the end of the stream for an event still on at :meth:`Detector.flush`); the peak is the largest
smoothed score while on. Scores lag the audio by up to ``smooth - 1`` frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgesed.errors import ConfigError, ShapeError

__all__ = ["URBANSOUND8K", "Event", "Detector", "posteriors"]

#: UrbanSound8K's classes in class-ID order (the seed's dataset, §III-A).
URBANSOUND8K = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
                "engine_idling", "gun_shot", "jackhammer", "siren", "street_music")


def posteriors(logits: np.ndarray, fmt, *, probabilities: bool = False) -> np.ndarray:
    """Class posteriors from a network's int8 output: float32 (n,), sums to 1.

    ``fmt`` is the output format: Qm.n fractional bits (int), a ``QFormat`` or an ``AffineQ``.
    Logits are dequantized and soft-maxed; with ``probabilities`` (a network ending in an int8
    softmax) the dequantized values are already probabilities and are only renormalized.
    """
    frac_bits = getattr(fmt, "frac_bits", fmt)
    if hasattr(fmt, "to_real"):
        z = fmt.to_real(logits)
    else:
        z = np.asarray(logits, dtype=np.float64) * 2.0 ** -int(frac_bits)
    if probabilities:
        z = np.maximum(z, 0.0)
        total = z.sum()
        return (z / total if total > 0 else np.full_like(z, 1.0 / z.size)).astype(np.float32)
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)


@dataclass(frozen=True)
class Event:
    """One detection: ``label``, ``onset``/``offset`` in seconds of stream time, ``peak``
    smoothed score in [0, 1], ``class_index`` into the labels."""

    label: str
    onset: float
    offset: float
    peak: float
    class_index: int

    def to_dict(self) -> dict:
        return {"type": "event", **asdict(self)}


def _per_class(value, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ConfigError(f"{name} has {arr.size} values; give one number or one per class "
                          f"({n})")
    if np.any(arr < 0) or np.any(arr > 1) or np.any(~np.isfinite(arr)):
        raise ConfigError(f"{name}={arr.tolist()!r} must be probabilities in [0, 1]")
    return arr


class Detector:
    """Smoothing, gate and hysteresis over per-frame posteriors (module docstring).

    Parameters
    ----------
    labels : sequence of str
        Class names, in the network's output order (UrbanSound8K by default).
    on, off : float or sequence of float in [0, 1]
        Per-class thresholds; ``off`` defaults to ``on - 0.1`` (at least 0).
    smooth : int >= 1
        Frames in the moving average.
    """

    def __init__(self, labels=URBANSOUND8K, *, on=0.5, off=None, smooth: int = 1):
        self.labels = tuple(labels)
        n = len(self.labels)
        self.on = _per_class(on, n, "on")
        self.off = (np.maximum(self.on - 0.1, 0.0) if off is None
                    else _per_class(off, n, "off"))
        if np.any(self.off > self.on):
            raise ConfigError(f"off={self.off.tolist()} must not exceed on={self.on.tolist()} "
                              "per class (hysteresis needs off <= on)")
        if not isinstance(smooth, (int, np.integer)) or smooth < 1:
            raise ConfigError(f"smooth={smooth!r} must be a frame count >= 1")
        self.smooth = int(smooth)
        self._ring = np.zeros((self.smooth, n), np.float64)
        self.scores = np.zeros(n, np.float64)
        self.reset()

    def reset(self) -> None:
        self._ring[...] = 0
        self._count = 0
        self.scores[...] = 0
        self._active = np.zeros(len(self.labels), bool)
        self._onset = np.zeros(len(self.labels))
        self._last_end = np.zeros(len(self.labels))
        self._peak = np.zeros(len(self.labels))

    @property
    def active(self) -> list[str]:
        """Labels of the classes currently on."""
        return [self.labels[i] for i in np.flatnonzero(self._active)]

    def update(self, post: np.ndarray, start: float, end: float, silent: bool = False
               ) -> list[Event]:
        """Account one frame's posteriors (n,) over [start, end) s; return events it ended."""
        if post.shape != (len(self.labels),):
            raise ShapeError(f"posteriors have shape {post.shape}; the detector has "
                             f"{len(self.labels)} labels — does the model match the labels?")
        self._ring[self._count % self.smooth] = 0.0 if silent else post
        self._count += 1
        self.scores[:] = self._ring.sum(axis=0) / min(self._count, self.smooth)
        ended = []
        for c in range(len(self.labels)):
            s = self.scores[c]
            if self._active[c]:
                if s < self.off[c]:
                    ended.append(self._close(c))
                else:
                    self._last_end[c] = end
                    self._peak[c] = max(self._peak[c], s)
            elif s >= self.on[c] and s > 0:
                self._active[c] = True
                self._onset[c], self._last_end[c], self._peak[c] = start, end, s
        return ended

    def _close(self, c: int) -> Event:
        self._active[c] = False
        return Event(self.labels[c], float(self._onset[c]), float(self._last_end[c]),
                     float(self._peak[c]), int(c))

    def flush(self) -> list[Event]:
        """End every active event at its last frame's end (end of stream)."""
        return [self._close(c) for c in np.flatnonzero(self._active)]
