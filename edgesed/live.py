"""Driving a stream from a source, with a live terminal view and a JSONL log.

:func:`drive` pulls 16 kHz blocks from any iterable (a file, a microphone), feeds a
:class:`~edgesed.stream.Stream`, and hands every frame and event to the outputs. Ctrl-C
(``KeyboardInterrupt``) or :class:`~edgesed.stream.StreamStop` from a callback ends it cleanly:
the stream is flushed, open events are closed and a summary is written.

JSONL records (one JSON object per line, ``"type"`` first):

``header``  the run's settings, the labels and the full per-frame cost report once
            (network layers, frontend, target);
``frame``   one per inference: index, start/end s, int8 logits, posteriors, top 3, audio peak,
            silent/clipped/reset flags and its ``report`` — ops, RAM peak, cycles, ms,
            energy (µJ) on the target, per layer and for the frontend;
``event``   one per detection: label, onset, offset, peak, class_index;
``summary`` audio seconds, frames, events, clipping, resets, ``host_s`` (time inside
            ``Stream.feed``: frontend, engine, detector) and ``realtime_factor`` = audio s /
            host_s, ``wall_s`` (the whole loop, with file decoding and resampling — or the
            microphone's real time), overruns (microphone), whether it was interrupted.

The terminal view shows, per frame, the top classes, the target's ms per frame (network +
frontend) against the frame period, the RAM peak and the emulator's real-time factor (audio
seconds / host seconds); on a terminal it redraws one line, elsewhere it prints events and the
summary only.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from edgesed.stream import StreamStop

__all__ = ["TerminalView", "JsonlWriter", "drive", "format_summary"]


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


class JsonlWriter:
    """Write header, frame, event and summary records to ``path`` (or an open text file)."""

    def __init__(self, path):
        self._own = isinstance(path, (str, bytes)) or hasattr(path, "__fspath__")
        self._f = open(path, "w", encoding="utf-8", buffering=1) if self._own else path

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record, default=_jsonable) + "\n")

    def header(self, stream, **settings) -> None:
        self.write({"type": "header", **settings, "labels": list(stream.detector.labels),
                    "mode": stream.mode.value, "hop_ms": stream.hop_ms,
                    "report": stream.report})

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()


class TerminalView:
    """The live view (module docstring); ``out`` defaults to stdout, ``live`` to its isatty()."""

    def __init__(self, out=None, live: bool | None = None):
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live

    def frame(self, stream, frame) -> None:
        if not self.live:
            return
        rep = stream.report
        top = "  ".join(f"{lab[:16]:<16} {p:4.2f}" for lab, p in frame.top(3))
        host = stream.host_s
        rtf = f"{stream.samples / 16000 / host:6.0f}x" if host > 0 else "     -"
        mark = "S" if frame.silent else ("C" if frame.clipped else " ")
        self.out.write(f"\r{frame.start:8.2f} s {mark} {top} | {rep['target']} "
                       f"{rep['total_ms']:6.1f}/{rep['frame_ms']:.0f} ms  RAM "
                       f"{rep['total_ram_bytes']:,} B | emulator {rtf} real time ")
        self.out.flush()

    def event(self, ev) -> None:
        self.out.write(("\n" if self.live else "") + f"event {ev.label:<17} {ev.onset:8.2f} - "
                       f"{ev.offset:8.2f} s  peak {ev.peak:.2f}\n")
        self.out.flush()

    def summary(self, summary: dict) -> None:
        self.out.write(("\n" if self.live else "") + format_summary(summary) + "\n")
        self.out.flush()


def _split(s: dict) -> str:
    """`` (network X + frontend Y ms on T)`` when the frontend runs on another device."""
    where = s.get("frontend_target")
    if not where or where == s["target"]:
        return ""
    return (f" (network {s['network_ms_per_frame']:.1f} ms + frontend "
            f"{s['frontend_ms_per_frame']:.1f} ms costed on {where})")


def format_summary(s: dict) -> str:
    """One paragraph from a :func:`drive` summary."""
    rtf = s.get("realtime_factor")
    lines = [f"{'interrupted: ' if s.get('interrupted') else ''}{s['audio_s']:.2f} s of audio, "
             f"{s['frames']} frames, {s['events']} events ({s['mode']}, hop {s['hop_ms']} ms, "
             f"{s['frontend']} frontend)",
             f"target {s['target']}: {s['target_ms_per_frame']:.1f} ms per frame"
             + _split(s) + ", RAM "
             f"{s['total_ram_bytes']:,} B (arena {s['ram_peak_bytes']:,} + frontend "
             f"{s['total_ram_bytes'] - s['ram_peak_bytes']:,}); emulator {s['host_s']:.2f} s "
             "on the host"
             + (f" ({rtf:.0f}x real time)" if rtf else "")]
    notes = []
    if s["clipped_samples"]:
        notes.append(f"{s['clipped_samples']} clipped samples (|x| >= 0.999)")
    if s["clamped_samples"]:
        notes.append(f"{s['clamped_samples']} samples beyond full scale clamped")
    if s.get("cropped_s"):
        notes.append(f"{s['cropped_s']:.2f} s cropped after the 3.84 s clip")
    if s.get("tail_s"):
        notes.append(f"last {s['tail_s']:.3f} s not analysed (shorter than a patch)")
    if s["resets"]:
        notes.append(f"{s['resets']} RNN state resets")
    if s.get("overruns") or s.get("overflows"):
        notes.append(f"{s.get('overruns', 0)} blocks dropped (engine behind), "
                     f"{s.get('overflows', 0)} device overflows")
    if notes:
        lines.append("; ".join(notes))
    return "\n".join(lines)


def drive(stream, blocks, *, view: TerminalView | None = None,
          jsonl: JsonlWriter | None = None, seconds: float | None = None, source=None,
          settings: dict | None = None) -> tuple[list, list, dict]:
    """Feed ``blocks`` (iterable of 16 kHz float32 (n,)) through ``stream`` until exhausted,
    ``seconds`` of audio, Ctrl-C or :class:`StreamStop`.

    ``source`` may expose ``overruns``/``overflows`` (a Microphone) for the summary.
    Returns ``(frames, events, summary)``; frames are kept only if ``stream.keep`` is not
    False (set it False for unbounded streams).
    """
    keep = getattr(stream, "keep", True)
    frames_out, events = [], []
    limit = None if seconds is None else int(round(seconds * 16000))
    interrupted = False
    if jsonl is not None:
        jsonl.header(stream, **(settings or {}))

    def emit(frames):
        for f in frames:
            if jsonl is not None:
                jsonl.write(f.to_dict())
            if view is not None:
                view.frame(stream, f)
            for ev in f.events:
                _event(ev)
        if keep:
            frames_out.extend(frames)

    def _event(ev):
        events.append(ev)
        if jsonl is not None:
            jsonl.write(ev.to_dict())
        if view is not None:
            view.event(ev)

    t0 = time.perf_counter()
    try:
        for block in blocks:
            if limit is not None:
                block = block[:max(0, limit - stream.samples)]
            emit(stream.feed(block))
            if limit is not None and stream.samples >= limit:
                break
    except KeyboardInterrupt:
        interrupted = True
    except StreamStop:
        pass
    finally:
        frames, ended = stream.flush()
        emit(frames)
        for ev in ended:
            _event(ev)
        summary = {**stream.summary(), "wall_s": time.perf_counter() - t0,
                   "interrupted": interrupted,
                   "overruns": getattr(source, "overruns", 0),
                   "overflows": getattr(source, "overflows", 0)}
        if jsonl is not None:
            jsonl.write(summary)
            jsonl.close()
        if view is not None:
            view.summary(summary)
    return frames_out, events, summary
