"""The full-control streaming path: audio blocks -> frontend -> patches -> engine -> events.

::

    s = Stream("m20k", target="stm32l476rg", hop_ms=480)
    for block in open_audio("street.wav"):          # 16 kHz mono float32, any block size
        for frame in s.feed(block):                  # one Frame per patch (inference)
            print(frame.start, frame.top(3), frame.events)
    frames, events = s.flush()

Per block, :meth:`Stream.feed` checks the samples (finite; beyond [-1, 1] clamped and counted),
then in chunks of at most ``CHUNK`` samples updates the level meter, runs the frontend, writes
the mel frames into the patcher, and for every completed patch applies the reset policy, runs
the engine (in its planned arena; nothing allocated), dequantizes the logits into posteriors
and updates the detector. A *frame* here is one patch and one inference (a mel frame, 10 ms,
is called a mel frame). ``Frame.start`` is the patch start in stream seconds
(``index * hop_ms / 1000``), ``Frame.end = start + 0.96``.

Every frame carries the same :attr:`Stream.report` (the model is static): the network's ops,
RAM peak, cycles, ms and energy on the target (:func:`edgesed.costs.frame_costs` with
``frame_ms = hop_ms``: ``ops``, ``ram_peak_bytes``, ``cycles``, ``ms``, ``energy_uj``, per
``layers``), the frontend's cost for the ``hop_ms / 10`` mel frames it computed
(``frontend``: cycles, ms, ops, RAM and flash, from ``Frontend.frame_costs`` per hop), and
both together: ``total_ops``, ``total_cycles``, ``total_ms``, ``total_ram_bytes`` (arena +
frontend buffers) and ``total_energy_uj = P_run * total_ms + P_idle * (hop_ms - total_ms)``
(the formula of :mod:`edgesed.costs`, with the frontend's time counted as busy).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from edgesed.audio.files import SAMPLE_RATE, check_finite
from edgesed.detector import URBANSOUND8K, Detector, Event, posteriors
from edgesed.errors import AudioError, AudioWarning, ConfigError
from edgesed.stream.modes import (CLIP_LEVEL, CLIP_SAMPLES, HOP_SAMPLES, LevelMeter, Mode,
                                  ResetPolicy, scan)
from edgesed.stream.patcher import PATCH_FRAMES, Patcher

PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP_SAMPLES + 400   #: 15,600: audio one patch covers

__all__ = ["Stream", "Frame", "StreamStop", "DEFAULTS"]

#: Defaults shared by ``Stream``, ``edgesed.run`` and the ``run``/``listen`` commands
#: (tests/test_stream.py keeps them aligned). The model is the trained default (m20k-synthetic).
DEFAULTS = {"model": "default", "target": "stm32l476rg", "frontend": "fixed", "hop_ms": 960,
            "threshold": 0.5, "smooth": 1, "silence_dbfs": -60.0, "block": 1600}


class StreamStop(Exception):
    """Raise from an ``on_frame`` callback to end the stream cleanly (the run is summarized)."""


@dataclass
class Frame:
    """One inference: patch ``index`` over [``start``, ``end``) s of stream time.

    ``logits`` int8 (classes,) copy of the network output; ``posteriors`` float32 (classes,)
    softmax; ``scores`` float32 smoothed and gated; ``peak_dbfs`` audio peak over the patch;
    ``silent``/``clipped`` flags from it; ``reset`` if the RNN state was zeroed before it;
    ``events`` ended by this frame; ``report`` the per-frame cost dict (shared).
    """

    index: int
    start: float
    end: float
    logits: np.ndarray
    posteriors: np.ndarray
    scores: np.ndarray
    peak_dbfs: float
    silent: bool
    clipped: bool
    reset: bool
    labels: tuple
    events: list = field(default_factory=list)
    report: dict = field(default_factory=dict, repr=False)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` best classes by posterior, as (label, posterior)."""
        order = np.argsort(-self.posteriors, kind="stable")[:k]
        return [(self.labels[i], float(self.posteriors[i])) for i in order]

    def to_dict(self) -> dict:
        return {"type": "frame", "index": self.index, "start": self.start, "end": self.end,
                "logits": self.logits.tolist(),
                "posteriors": [round(float(p), 6) for p in self.posteriors],
                "top": [[lab, round(p, 6)] for lab, p in self.top(3)],
                "peak_dbfs": None if self.peak_dbfs == -np.inf else round(self.peak_dbfs, 2),
                "silent": self.silent, "clipped": self.clipped, "reset": self.reset,
                "report": self.report}


def load_graph(model):
    """A Graph, a built-in name or an ``.edgesed`` path -> Graph."""
    from edgesed.graph import Graph

    if isinstance(model, Graph):
        return model
    from edgesed import models

    return models.load(str(model))


class Stream:
    """Audio in, frames and events out, with explicit mode and state (module docstring).

    Parameters
    ----------
    model : str or Graph
        Built-in name (``"m20k"``; ``"default"`` is the shipped trained model), ``.edgesed``
        path, or a Graph.
    target : str or Target
        Device for the per-frame report (:func:`edgesed.targets.resolve_target`).
    frontend : {"fixed", "float"}
        The MCU's q15 frontend (default) or the float VGGish reference.
    hop_ms : int, multiple of 10 in [10, 960]
        Time between patches: 960 (non-overlapping, the seed), 480 (half overlap), ...
    mode : Mode
        ``STREAM_INTERNAL_STATE`` (default), ``STREAM_EXTERNAL_STATE`` or ``NON_STREAM``.
    reset : ResetPolicy
        When a streaming engine zeroes its RNN state (default never).
    threshold, off, smooth, labels
        Detector settings (:class:`edgesed.detector.Detector`); ``labels=None`` takes the
        model's ``graph.labels``, or UrbanSound8K's names if the model has none.
    silence_dbfs : float
        A patch whose audio peak is below this is silent (no events; silence reset).
    planner : str
        Memory planner for the engine's arena (``pingpong``, ``greedy``, ``linear``).
    on_frame : callable(Frame) -> None, optional
        Called for every frame, inside :meth:`feed`, on the caller's thread; raise
        :class:`StreamStop` to end the stream (it propagates out of ``feed``; the frames of
        that block are lost). A Frame holds copies, so keeping it is safe.

    Attributes
    ----------
    report : dict
        The per-frame cost on the target (module docstring), shared by every Frame.
    keep : bool
        Whether :func:`edgesed.live.drive` keeps the frames it returns (False: constant memory).
    samples, n_frames, resets, clamped, cropped, host_s, events
        Counters since :meth:`reset`; :meth:`summary` gathers them.
    """

    CHUNK = 4000     #: samples per internal step: bounds the frontend's output buffer

    def __init__(self, model=DEFAULTS["model"], *, target=DEFAULTS["target"],
                 frontend: str = DEFAULTS["frontend"], hop_ms: int = DEFAULTS["hop_ms"],
                 mode: Mode = Mode.STREAM_INTERNAL_STATE, reset: ResetPolicy | None = None,
                 threshold=DEFAULTS["threshold"], off=None, smooth: int = DEFAULTS["smooth"],
                 silence_dbfs: float = DEFAULTS["silence_dbfs"], labels=None,
                 planner: str = "pingpong", on_frame=None):
        from edgesed.engine import Engine
        from edgesed.frontend import make_frontend
        from edgesed.planner import get_planner
        from edgesed.targets import resolve_target

        self.mode = Mode(mode)
        if not isinstance(hop_ms, (int, np.integer)) or hop_ms % 10 or not 10 <= hop_ms <= 960:
            raise ConfigError(f"hop_ms={hop_ms!r} must be a multiple of 10 ms in [10, 960] "
                              "(960: the seed's non-overlapping patches, 480: half overlap)")
        if self.mode is Mode.NON_STREAM and hop_ms != 960:
            raise ConfigError(f"hop_ms={hop_ms} with Mode.NON_STREAM: the seed's clips are four "
                              "non-overlapping 960 ms patches; use hop_ms=960 or a stream mode")
        self.hop_ms = int(hop_ms)
        self.graph = load_graph(model)
        self.plan = get_planner(planner).plan(self.graph)
        self.engine = Engine(self.graph, self.plan)
        self.target = resolve_target(target)
        self.frontend = make_frontend(frontend, input_q=self.graph.input.q)
        self.frontend_kind = frontend
        self.patcher = Patcher(self.hop_ms // 10)
        self.meter = LevelMeter()
        n_out = self.graph.output.shape[0]
        if labels is None:
            labels = self.graph.labels or URBANSOUND8K
        if len(labels) != n_out:
            raise ConfigError(f"{len(labels)} labels for a model with {n_out} outputs; pass "
                              "labels= with one name per output")
        self.detector = Detector(labels, on=threshold, off=off, smooth=smooth)
        self.reset_policy = reset or ResetPolicy()
        self.silence_dbfs = float(silence_dbfs)
        self._silence = 10.0 ** (self.silence_dbfs / 20.0)
        self.on_frame = on_frame
        self.report = self._frame_report()
        self._clip = np.zeros(CLIP_SAMPLES, np.float32) if self.mode is Mode.NON_STREAM else None
        self.keep = True            # edgesed.live.drive keeps the frames it returns if True
        self._warm_up()
        self.reset()

    def _warm_up(self) -> None:
        """Run one silent patch through every jitted stage, so that compiling or loading the
        Numba cache is paid here and ``host_s`` measures the steady state."""
        z = np.zeros(PATCH_SAMPLES, np.float32)
        scan(z)
        self.meter.push(z)
        for _, patch in self.patcher.push(self.frontend.push(z)):
            self._posteriors(self.engine.run(patch))

    def _posteriors(self, logits: np.ndarray) -> np.ndarray:
        from edgesed.graph import Op

        return posteriors(logits, self.graph.output.q,
                          probabilities=self.graph.nodes[-1].op is Op.SOFTMAX_S8)

    # -- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new stream: frontend, patcher, meter, detector, RNN state and counters."""
        self.frontend.reset()
        self.patcher.reset()
        self.meter.reset()
        self.detector.reset()
        self.engine.reset_state()
        self.samples = 0            # samples fed
        self.clamped = 0            # samples beyond [-1, 1] clamped
        self.cropped = 0            # NON_STREAM samples past the clip
        self.n_frames = 0
        self.resets = 0
        self.host_s = 0.0           # time spent in feed()
        self.events: list[Event] = []
        self._silent_run_s = 0.0
        self._clip_fill = 0
        self._clip_done = False

    def initial_state(self) -> dict[str, np.ndarray]:
        """The reset state for ``STREAM_EXTERNAL_STATE`` (layer name -> int8 RNN / int16 GRU
        zeros; an int8 LSTM's ``"<layer>.hidden"`` at its zero point and ``"<layer>.cell"``
        zeros, as :meth:`Engine.reset_state <edgesed.engine.Engine.reset_state>` sets them)."""
        return self.engine.initial_state()

    def step(self, patch: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        """Pure single inference: ``logits, new_state = step(patch, state)``.

        patch int8 (96, 64, 1) in ``graph.input.q``; state as from :meth:`initial_state`.
        Returns a copy of the int8 logits and the new state (copies); the inputs are unchanged.
        """
        self.engine.set_state(state)
        out = self.engine.run(patch).copy()
        return out, self.engine.state

    # -- the report --------------------------------------------------------------------------
    def _frame_report(self) -> dict:
        from edgesed.costs import frame_costs
        from edgesed.graph_ne16 import is_ne16

        ne16 = is_ne16(self.graph)     # NE16 graph: frame_costs gives GAP9 costs
        c = frame_costs(self.graph, self.target, self.plan, frame_ms=float(self.hop_ms))
        hops = self.hop_ms // 10
        fe = self.frontend.frame_costs(self.target)
        fe_cycles = float(fe["cycles"]) * hops
        fe_ms = fe_cycles / (self.target.clock_mhz * 1e3)
        t = self.target
        busy = c["total_ms"] + fe_ms
        total_uj = t.run_power_mw * busy + t.idle_power_mw * max(self.hop_ms - busy, 0.0)
        if ne16:    # network energy from the GAP9 model; the frontend's on ``target`` (busy only:
            # edgesed has no cycle model of GAP9's fabric controller, so the frontend stays costed
            # on the stream's target, named in the report)
            total_uj = c["power"]["energy_per_frame_uj"] + t.run_power_mw * fe_ms
        return {
            "model": self.graph.name, "target": c["target"]["name"],
            "clock_mhz": c["target"]["clock_mhz"], "frame_ms": float(self.hop_ms),
            "ops": c["ops"], "ram_peak_bytes": self.plan.ram_peak_bytes,
            "rom_bytes": self.graph.rom_bytes, "cycles": c["total_cycles"], "ms": c["total_ms"],
            "energy_uj": c["power"]["energy_per_frame_uj"], "average_mw": c["power"]["average_mw"],
            "duty_cycle": c["duty_cycle"], "realtime": c["realtime"],
            "fits": c["memory"]["fits"],
            "layers": [{"name": l["name"], "ops": l["ops"], "cycles": l["cycles"], "ms": l["ms"]}
                       for l in c["layers"]],
            "frontend": {"kind": self.frontend_kind, "target": self.target.name, "hops": hops,
                         "cycles": fe_cycles,
                         "ms": fe_ms, "ops": fe["ops"] * hops, "ram_bytes": fe["ram_bytes"],
                         "flash_bytes": fe["flash_bytes"],
                         "per_hop": {"cycles": fe["cycles"], "ops": fe["ops"],
                                     "terms": dict(fe["terms"])}},
            "total_ops": c["ops"] + fe["ops"] * hops,
            "total_cycles": c["total_cycles"] + fe_cycles,
            "total_ms": busy, "total_energy_uj": total_uj,
            "total_ram_bytes": self.plan.ram_peak_bytes + fe["ram_bytes"],
        }

    # -- feeding -----------------------------------------------------------------------------
    def _check(self, samples) -> np.ndarray:
        x = np.asarray(samples)
        if x.ndim != 1:
            raise AudioError(f"samples.shape={x.shape!r}: the stream takes 1-D mono 16 kHz "
                             "audio; mix down with edgesed.audio.mix_down(x, None)")
        if not np.issubdtype(x.dtype, np.floating):
            raise AudioError(f"samples.dtype={x.dtype}: the stream takes float audio in "
                             "[-1, 1]; convert int16 PCM with x.astype(np.float32) / 32768")
        x = np.ascontiguousarray(x, dtype=np.float32)
        bad, over = scan(x)
        if bad >= 0:
            check_finite(x, self.samples, SAMPLE_RATE, "stream input")   # raises, names it
        if over:
            self.clamped += over
            x = np.clip(x, -1.0, 1.0)
        return x

    def feed(self, samples, state: dict | None = None):
        """Process a block of 16 kHz mono float32 (n,) samples, n >= 0 (any size).

        Returns the list of :class:`Frame` completed, or ``(frames, new_state)`` in
        ``STREAM_EXTERNAL_STATE`` mode, where ``state`` is required.
        """
        t0 = time.perf_counter()
        external = self.mode is Mode.STREAM_EXTERNAL_STATE
        if external:
            if state is None:
                raise ConfigError("Mode.STREAM_EXTERNAL_STATE: feed(block, state) needs the "
                                  "state; start with state = stream.initial_state()")
            self.engine.set_state(state)
        elif state is not None:
            raise ConfigError(f"state given but mode is {self.mode}; use "
                              "Mode.STREAM_EXTERNAL_STATE to pass state in and out")
        x = self._check(samples)
        frames: list[Frame] = []
        try:
            if self.mode is Mode.NON_STREAM:
                self._feed_clip(x, frames)
            else:
                for pos in range(0, x.size, self.CHUNK):
                    self._feed_chunk(x[pos:pos + self.CHUNK], frames)
        finally:
            self.host_s += time.perf_counter() - t0
        return (frames, self.engine.state) if external else frames

    def _feed_chunk(self, chunk: np.ndarray, frames: list) -> None:
        self.samples += chunk.size
        self.meter.push(chunk)
        mel = self.frontend.push(chunk)
        for j, patch in self.patcher.push(mel):
            frames.append(self._run_patch(j, patch))

    def _feed_clip(self, x: np.ndarray, frames: list) -> None:
        room = CLIP_SAMPLES - self._clip_fill
        take = min(room, x.size)
        self._clip[self._clip_fill:self._clip_fill + take] = x[:take]
        self._clip_fill += take
        self.cropped += x.size - take
        self.samples += x.size
        if self._clip_fill == CLIP_SAMPLES and not self._clip_done:
            self._run_clip(frames)

    def _run_clip(self, frames: list) -> None:
        self._clip[self._clip_fill:] = 0.0
        self.frontend.reset()
        self.patcher.reset()
        self.meter.reset()
        self.engine.reset_state()
        for pos in range(0, CLIP_SAMPLES, self.CHUNK):
            chunk = self._clip[pos:pos + self.CHUNK]
            self.meter.push(chunk)
            for j, patch in self.patcher.push(self.frontend.push(chunk)):
                frames.append(self._run_patch(j, patch))
        self._clip_done = True

    def _run_patch(self, j: int, patch: np.ndarray) -> Frame:
        hops = self.patcher.hop
        peak = self.meter.peak(j * hops, PATCH_FRAMES)
        silent = peak < self._silence
        reset = (self.mode is not Mode.NON_STREAM
                 and self.reset_policy.should_reset(j, silent, self._silent_run_s))
        if reset:
            self.engine.reset_state()
            self.resets += 1
        logits = self.engine.run(patch).copy()
        post = self._posteriors(logits)
        start = j * self.hop_ms / 1000.0
        end = (j * self.hop_ms + PATCH_FRAMES * 10) / 1000.0
        ended = self.detector.update(post, start, end, silent)
        self.events.extend(ended)
        self._silent_run_s = self._silent_run_s + self.hop_ms / 1000.0 if silent else 0.0
        self.n_frames += 1
        frame = Frame(j, start, end, logits, post, self.detector.scores.astype(np.float32),
                      float(20.0 * np.log10(peak)) if peak > 0 else -np.inf, bool(silent),
                      bool(peak >= CLIP_LEVEL), bool(reset), self.detector.labels, ended,
                      self.report)
        if self.on_frame is not None:
            self.on_frame(frame)
        return frame

    def flush(self) -> tuple[list[Frame], list[Event]]:
        """End the stream: run a pending ``NON_STREAM`` clip (zero-padded), close open events.

        Returns ``(frames, events)``: frames run now (NON_STREAM only) and the events that were
        still on (ended at their last frame). Samples after the last complete patch are not
        analysed (``summary()["tail_s"]``). Call :meth:`reset` to start another stream.
        """
        frames: list[Frame] = []
        if self.mode is Mode.NON_STREAM and not self._clip_done and self._clip_fill:
            self._run_clip(frames)
        if self.mode is Mode.NON_STREAM and self.cropped:
            warnings.warn(f"Mode.NON_STREAM cropped the audio: {self.cropped} samples "
                          f"({self.cropped / SAMPLE_RATE:.2f} s) after the 3.84 s clip were not "
                          "analysed. Try a stream mode for audio longer than one clip",
                          AudioWarning, stacklevel=2)
        ended = self.detector.flush()
        self.events.extend(ended)
        return frames, ended

    def summary(self) -> dict:
        """Totals so far: audio seconds, frames, events, clipping, resets, host time, RTF."""
        audio_s = self.samples / SAMPLE_RATE
        streaming = self.mode is not Mode.NON_STREAM
        covered = ((self.n_frames - 1) * self.patcher.hop * HOP_SAMPLES + PATCH_SAMPLES
                   if self.n_frames else 0)
        return {
            "type": "summary", "mode": self.mode.value, "model": self.graph.name,
            "target": self.report["target"], "frontend": self.frontend_kind,
            "hop_ms": self.hop_ms, "audio_s": audio_s, "frames": self.n_frames,
            "events": len(self.events), "clipped_samples": self.meter.clipped,
            "clamped_samples": self.clamped, "cropped_s": self.cropped / SAMPLE_RATE,
            "tail_s": max(0, self.samples - covered) / SAMPLE_RATE if streaming else 0.0,
            "resets": self.resets, "host_s": self.host_s,
            "realtime_factor": audio_s / self.host_s if self.host_s > 0 else None,
            "target_ms_per_frame": self.report["total_ms"],
            "network_ms_per_frame": self.report["ms"],
            "frontend_ms_per_frame": self.report["frontend"]["ms"],
            "frontend_target": self.report["frontend"]["target"],
            "ram_peak_bytes": self.report["ram_peak_bytes"],
            "total_ram_bytes": self.report["total_ram_bytes"],
        }
