"""The memory plan the engine runs in: spans of one flat arena, step by step.

API map
-------
- :class:`Span` — a named byte range ``[offset, offset + size)``
- :class:`Step` — what one layer touches: input, output, scratch, state (and ``in_place``)
- :class:`Plan` — ``arena_bytes`` (the peak), ``buffers`` (regions for reports), ``input``,
  ``steps``; :meth:`Plan.overlaps` (the O(N^2) self-check), :meth:`Plan.collisions`,
  :meth:`Plan.mismatches` (spans vs the graph's needs), :meth:`Plan.live_bytes`,
  :meth:`Plan.render` (ASCII)
- :func:`align`, :data:`ALIGN`

Every planner of :mod:`edgesed.planner` produces this structure; the engine allocates exactly
``plan.arena_bytes`` and runs every kernel on views at these offsets, so a plan that overlaps
live buffers corrupts the result, as it would on the device.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgesed.graph import Graph, Node

__all__ = ["Span", "Step", "Plan", "align", "ALIGN"]

ALIGN = 4  # bytes; q15 scratch views need 2, and Cortex-M word loads like 4


def align(n: int, to: int = ALIGN) -> int:
    """Round ``n`` up to a multiple of ``to``."""
    return -(-n // to) * to


@dataclass(frozen=True)
class Span:
    """A byte range ``[offset, offset + size)`` of the arena, with the name of what it holds."""

    name: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size

    def overlaps(self, other: "Span") -> bool:
        return self.size > 0 and other.size > 0 and self.offset < other.end \
            and other.offset < self.end


@dataclass(frozen=True)
class Step:
    """What one layer touches: its input, its output, its scratch and (RNN/GRU) its state."""

    layer: str
    input: Span
    output: Span
    scratch: Span
    state: Span | None = None
    in_place: bool = False

    def spans(self) -> list[Span]:
        return [s for s in (self.input, self.output, self.scratch, self.state) if s is not None]


@dataclass(frozen=True)
class Plan:
    """A complete arena layout for one graph; every planner produces this structure."""

    arena_bytes: int
    buffers: tuple[Span, ...]        # the regions (A, B, scratch, state / one per buffer)
    input: Span                      # where the caller's input tensor is written
    steps: tuple[Step, ...]
    planner: str = ""                # which planner made it (for titles and reports)

    @property
    def ram_peak_bytes(self) -> int:
        """Bytes of RAM the engine uses per inference: the whole arena (buffers+scratch+state)."""
        return self.arena_bytes

    def buffer(self, name: str) -> Span:
        return next(b for b in self.buffers if b.name == name)

    def region_of(self, k: int) -> str:
        """The name of the region in :attr:`buffers` that holds step ``k``'s output: the region
        named after the tensor (or, in place, after the tensor it overwrites), else the first
        region containing its offset (``A``/``B`` for ping-pong), else ``@offset``."""
        while k > 0 and self.steps[k].in_place:
            k -= 1
        span = self.steps[k].output
        names = {b.name: b for b in self.buffers}
        if span.name in names and names[span.name].offset == span.offset:
            return span.name
        return next((b.name for b in self.buffers
                     if b.offset <= span.offset < b.end), f"@{span.offset}")

    def states(self) -> list[Span]:
        """The persistent spans (live in every step and between inferences)."""
        return [s.state for s in self.steps if s.state is not None]

    def live_bytes(self) -> list[int]:
        """Bytes in use during each step: its input, output and scratch (an in-place pair counts
        once) plus every state. ``max(plan.live_bytes())`` is a lower bound of any plan's peak
        with these lifetimes (ignoring alignment)."""
        persistent = sum(s.size for s in self.states())
        live = []
        for step in self.steps:
            io = (max(step.input.size, step.output.size) if step.in_place
                  else step.input.size + step.output.size)
            live.append(io + step.scratch.size + persistent)
        return live

    def collisions(self) -> list[tuple[int, str, Span, Span | None]]:
        """``(step index, why, span, other)`` for every collision, ``why`` being ``"outside"``
        (``other`` is None), ``"overlaps"`` or ``"persistent"`` (``other`` is another layer's
        state). The rules of :meth:`overlaps`, for pictures."""
        found = []
        state_spans = self.states()
        for k, step in enumerate(self.steps):
            live = step.spans()
            for i, a in enumerate(live):
                if a.end > self.arena_bytes or a.offset < 0:
                    found.append((k, "outside", a, None))
                for b in live[i + 1:]:
                    if step.in_place and {a.name, b.name} == {step.input.name, step.output.name} \
                            and a.offset == b.offset:
                        continue
                    if a.overlaps(b):
                        found.append((k, "overlaps", a, b))
            for st in state_spans:
                if st is not step.state:
                    found += [(k, "persistent", a, st) for a in live if a.overlaps(st)]
        return found

    def overlaps(self) -> list[str]:
        """Every collision between buffers live in the same step (O(N^2); for tests and checks).

        In-place layers may write their output over their own input when both start at the same
        offset (the firmware's convention); everything else live in a step must be disjoint, and
        the state must never be touched by another layer's buffers.
        """
        problems = []
        for k, why, a, b in self.collisions():
            where = f"{self.steps[k].layer}: {a.name} [{a.offset}, {a.end})"
            if why == "outside":
                problems.append(f"{where} is outside the arena of {self.arena_bytes} bytes")
            elif why == "persistent":
                problems.append(f"{where} overwrites the persistent {b.name}")
            else:
                problems.append(f"{where} overlaps {b.name} [{b.offset}, {b.end})")
        return problems

    def mismatches(self, graph: Graph, scratch_bytes: Callable[[Graph, Node], int] | None = None,
                   state_bytes: Callable[[Graph, Node], int] | None = None) -> list[str]:
        """Spans that do not hold what ``graph``'s layers need: a tensor span of the wrong size,
        a scratch span smaller than the kernel's ``bufferA`` (the kernel would write past it), a
        missing or wrongly sized state. :meth:`overlaps` cannot see these: it knows only spans.
        """
        if scratch_bytes is None or state_bytes is None:
            from edgesed import dispatch
            scratch_bytes = scratch_bytes or dispatch.scratch_bytes
            state_bytes = state_bytes or dispatch.state_bytes
        if len(self.steps) != len(graph.nodes):
            return [f"the plan has {len(self.steps)} steps but graph {graph.name!r} has "
                    f"{len(graph.nodes)} layers"]
        problems = []
        if self.input.size != graph.input.nbytes:
            problems.append(f"input span holds {self.input.size} bytes, the input needs "
                            f"{graph.input.nbytes}")
        for node, step in zip(graph.nodes, self.steps):
            need = {"input": graph.input_of(node).nbytes, "output": node.output.nbytes}
            for what, nbytes in need.items():
                if getattr(step, what).size != nbytes:
                    problems.append(f"{node.name}: {what} span holds {getattr(step, what).size} "
                                    f"bytes, the tensor needs {nbytes}")
            nbytes = scratch_bytes(graph, node)
            if step.scratch.size < nbytes:
                problems.append(f"{node.name}: scratch span holds {step.scratch.size} bytes, the "
                                f"kernel needs {nbytes}")
            nbytes = state_bytes(graph, node)
            held = step.state.size if step.state is not None else 0
            if held != nbytes:
                problems.append(f"{node.name}: state span holds {held} bytes, the layer keeps "
                                f"{nbytes}")
        return problems

    def render(self, width: int = 64) -> str:
        """ASCII picture: one row per step, ``I`` input, ``O`` output, ``s`` scratch, ``S`` state,
        ``=`` in-place input/output, ``!`` a collision (see :func:`edgesed.plan_picture.render`)."""
        from edgesed.plan_picture import render
        return render(self, width)
