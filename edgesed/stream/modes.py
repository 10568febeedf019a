"""Streaming modes, the RNN reset policy, and the level meter that feeds both and the detector.

Three modes, after kws_streaming's inference modes (research/peers.md §6):

``NON_STREAM``
    One clip at a time, as the seed trained and evaluated (§III-B): the clip is padded with
    zeros or cropped to 3.84 s = four non-overlapping 960 ms patches, frontend and RNN state are
    reset before it, and the four patches run in order. So that each 960 ms frame gets its 96
    mel frames of 25 ms windows every 10 ms, the clip keeps the 15 ms that the last window
    reaches past 3.84 s: ``CLIP_SAMPLES = 383 * 160 + 400 = 61,680`` samples. Cropping more
    than that warns (:class:`~edgesed.errors.AudioWarning`).
``STREAM_INTERNAL_STATE``
    The engine keeps the RNN state from patch to patch indefinitely, reset only by the
    :class:`ResetPolicy`.
``STREAM_EXTERNAL_STATE``
    The caller owns the state: ``frames, state = stream.feed(block, state)`` and
    ``logits, state = stream.step(patch, state)``, state being ``{layer: state array}``
    (int8 for an RNN, int16 for a GRU's q15 state) — for engines that cannot keep variables
    between calls.

:class:`LevelMeter` keeps the peak of every 10 ms hop of audio in a ring, so that each patch's
peak (over its 96 hops) is known when the patch is complete, whatever the block size: a patch
whose peak is below ``silence_dbfs`` is *silent* (the detector's gate and the silence reset),
one whose peak reaches ``CLIP_LEVEL`` is *clipped*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numba as nb
import numpy as np

from edgesed.errors import ConfigError

__all__ = ["Mode", "ResetPolicy", "LevelMeter", "CLIP_SECONDS", "CLIP_SAMPLES", "CLIP_LEVEL",
           "HOP_SAMPLES"]

HOP_SAMPLES = 160                         #: 10 ms at 16 kHz
CLIP_SECONDS = 3.84                       #: the seed's clip: 4 x 960 ms
CLIP_SAMPLES = 383 * HOP_SAMPLES + 400    #: 61,680 samples: 384 mel frames exactly
CLIP_LEVEL = 0.999                        #: |x| at or above this counts as clipped (-0.009 dBFS)


class Mode(Enum):
    """How patches and recurrent state flow (module docstring)."""

    NON_STREAM = "non_stream"                        # whole clip, same topology as training
    STREAM_INTERNAL_STATE = "stream_internal_state"  # engine keeps the RNN state
    STREAM_EXTERNAL_STATE = "stream_external_state"  # caller passes state in and out


@dataclass(frozen=True)
class ResetPolicy:
    """When a streaming engine zeroes its RNN state (default: never).

    every : int, optional
        Reset before patches ``every, 2*every, ...`` (patch counts, not seconds).
    after_silence_s : float, optional
        Reset before the first non-silent patch that follows at least this many seconds of
        silent patches (a new sound after a pause starts from a fresh state, as a device woken
        by a level detector would).
    """

    every: int | None = None
    after_silence_s: float | None = None

    def __post_init__(self):
        if self.every is not None and (not isinstance(self.every, int) or self.every < 1):
            raise ConfigError(f"ResetPolicy.every={self.every!r} must be a patch count >= 1 or "
                              "None (never)")
        if self.after_silence_s is not None and not self.after_silence_s > 0:
            raise ConfigError(f"ResetPolicy.after_silence_s={self.after_silence_s!r} must be "
                              "> 0 seconds or None")

    def should_reset(self, index: int, silent: bool, silent_run_s: float) -> bool:
        """Before patch ``index`` (silent or not) after ``silent_run_s`` s of silent patches."""
        if self.every and index > 0 and index % self.every == 0:
            return True
        return (self.after_silence_s is not None and not silent
                and silent_run_s >= self.after_silence_s - 1e-9)


@nb.njit(cache=True)
def _meter_push(x, ring, n_samples, partial, clip_level):
    """One pass: hop peaks into ``ring`` (index hop % len(ring)), count of |x| >= clip_level."""
    cap = ring.shape[0]
    clipped = 0
    for i in range(x.shape[0]):
        a = abs(x[i])
        if a >= clip_level:
            clipped += 1
        if a > partial:
            partial = a
        pos = n_samples + i + 1
        if pos % HOP_SAMPLES == 0:
            ring[(pos // HOP_SAMPLES - 1) % cap] = partial
            partial = 0.0
    return partial, clipped


@nb.njit(cache=True)
def scan(x):
    """One pass over float32 (n,): (index of the first NaN/inf or -1, count of |x| > 1)."""
    over = 0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isfinite(v):
            return i, over
        if v > 1.0 or v < -1.0:
            over += 1
    return -1, over


def dbfs(peak: float) -> float:
    """20 log10(peak), -inf for 0."""
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


class LevelMeter:
    """Per-hop peaks of the audio in a ring; :meth:`peak` of any recent run of hops.

    Parameters
    ----------
    capacity : int
        Hops kept (must exceed the hops between a patch's first hop and the newest sample).
    """

    def __init__(self, capacity: int = 512):
        self.capacity = int(capacity)
        self._ring = np.zeros(self.capacity, np.float32)
        self.reset()

    def reset(self) -> None:
        self.n_samples = 0          # samples seen
        self.clipped = 0            # samples with |x| >= CLIP_LEVEL
        self._partial = 0.0         # peak of the incomplete hop (float32 value)

    def push(self, x: np.ndarray) -> None:
        """Account one float32 block (n,) of samples in [-1, 1]."""
        self._partial, clipped = _meter_push(x, self._ring, self.n_samples, self._partial,
                                             CLIP_LEVEL)
        self.clipped += clipped
        self.n_samples += x.size

    def peak(self, first_hop: int, hops: int) -> float:
        """Peak |x| over hops ``first_hop .. first_hop + hops - 1`` (all complete and recent)."""
        done = self.n_samples // HOP_SAMPLES
        if first_hop + hops > done or first_hop < done - self.capacity:
            raise ConfigError(f"hops {first_hop}..{first_hop + hops - 1} are not in the meter "
                              f"(complete hops {max(0, done - self.capacity)}..{done - 1})")
        idx = np.arange(first_hop, first_hop + hops) % self.capacity
        return float(self._ring[idx].max())
