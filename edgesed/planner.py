"""Memory plans: where every tensor, scratch buffer and recurrent state lives in one flat arena.

API map
-------
- :class:`Span`, :class:`Step`, :class:`Plan` (defined in :mod:`edgesed.plan`) — what the
  engine consumes: ``plan.input``, ``plan.steps[i].input/output/scratch/state`` and
  ``plan.arena_bytes`` (the peak); ``plan.buffers`` lists the regions for reports,
  :meth:`Plan.overlaps` is the O(N^2) self-check, :meth:`Plan.render` the ASCII picture
  (PNG: :func:`edgesed.plan_picture.save_png`).
- :class:`Kind`, :class:`Buffer`, :func:`trace` — the buffers a graph needs, with lifetimes.
- :class:`Planner` — the interface: ``trace(graph)`` -> ``place(buffers)`` -> offsets;
  ``plan(graph)`` does both and :func:`assemble` turns the offsets into a :class:`Plan`.
- :class:`LinearPlanner` (baseline: no reuse), :class:`PingPongPlanner` (the seed's),
  :class:`GreedyPlanner` (TFLite Micro's ``GreedyMemoryPlanner``); :func:`get_planner` by name.
- :func:`placement_overlaps` — TFLM's ``DoAnyBuffersOverlap`` on a buffer list and its offsets.

Lifetimes
---------
Step ``i`` is layer ``i`` running. A :class:`Buffer` is live in steps ``[first, last]``,
inclusive, as TFLM's ``first_time_used``/``last_time_used``:

- the graph input: ``[0, 0]`` (written by the caller before step 0, read by layer 0);
- layer ``i``'s output: ``[i, i + 1]`` (the last layer's: ``[L-1, L-1]``, read by the caller);
- layer ``i``'s scratch (CMSIS-NN ``bufferA``): ``[i, i]``;
- a recurrent state: all steps *and between inferences*; every planner puts states in the
  tail of the arena behind the planned head (TFLM's head/tail split), so nothing overlaps them.

**In-place pooling.** The firmware pools in place: ``arm_maxpool_q7_HWC`` on the DSP path
rewrites its input during the x-pass, then writes the output at the input's own address. The
trace therefore gives a pooling output no region of its own: its :class:`Buffer` has
``alias`` = the buffer it is written over, its own (smaller) size and lifetime, and every
planner places it at that buffer's offset. The greedy planner places a buffer together with its
aliases (a composite whose size changes over time: the conv output while it lives, then only the
pooled bytes), so the bytes the pooling frees are reused by the next layer. The linear baseline
keeps this too, deliberately: a separate pool output would not preserve the pool's input anyway
(the DSP x-pass destroys it), and pooling in place keeps every planner bit-identical to the
firmware for *any* pool geometry (in place differs from out of place when windows overlap an
already written output, e.g. k3 s1 p1; see :mod:`kernels.pool_q7`).

The three plans of the seed's M20k (bytes, 4-byte aligned)::

    linear   47,400  (every region: the input, 9 outputs, 8 scratch buffers, the state)
    pingpong 34,388  (Table V: A 10,440 + B 23,312 + scratch 576 + state 60)
    greedy   29,552  (conv1's output + the input + conv1's im2col + the state: the busiest
                      step, so no plan with these lifetimes can do better)
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Sequence

from edgesed.errors import ConfigError
from edgesed.graph import Graph, Node
from edgesed.plan import ALIGN, Plan, Span, Step, align

__all__ = ["Span", "Step", "Plan", "Kind", "Buffer", "trace", "assemble", "placement_overlaps",
           "Planner", "LinearPlanner", "PingPongPlanner", "GreedyPlanner", "PLANNERS",
           "get_planner", "align", "ALIGN"]


# ------------------------------------------------------------------------------ buffers

class Kind(Enum):
    """What a buffer holds."""

    INPUT = "input"        # the graph input, written by the caller
    TENSOR = "tensor"      # a layer's output
    SCRATCH = "scratch"    # a kernel's working memory during its own step
    STATE = "state"        # persistent recurrent state


@dataclass(frozen=True)
class Buffer:
    """A memory request: ``size`` bytes live from step ``first`` to step ``last`` (inclusive).

    ``alias`` names the buffer this one is written over in place (a pooling output over its
    input): planners put it at that buffer's offset instead of giving it a region.
    """

    name: str
    size: int
    first: int
    last: int
    kind: Kind = Kind.TENSOR
    alias: str | None = None

    def meets(self, other: "Buffer") -> bool:
        """Do the two lifetimes intersect (TFLM's ``DoesEntryOverlapInTime``)?"""
        return self.first <= other.last and other.first <= self.last


def trace(graph: Graph, scratch_bytes: Callable[[Graph, Node], int],
          state_bytes: Callable[[Graph, Node], int]) -> list[Buffer]:
    """The buffers ``graph`` needs, in TFLM's order: tensors, then scratch, then states.

    See the module docstring for the lifetimes and the in-place aliases.
    """
    last_step = len(graph.nodes) - 1
    tensors = [Buffer("input", graph.input.nbytes, 0, 0, Kind.INPUT)]
    scratch, states = [], []
    for i, node in enumerate(graph.nodes):
        tensors.append(Buffer(node.name, node.output.nbytes, i, min(i + 1, last_step), Kind.TENSOR,
                              alias=node.input if node.in_place else None))
        nbytes = scratch_bytes(graph, node)
        if nbytes:
            scratch.append(Buffer(f"{node.name}.scratch", nbytes, i, i, Kind.SCRATCH))
        nbytes = state_bytes(graph, node)
        if nbytes:
            states.append(Buffer(f"{node.name}.state", nbytes, 0, last_step, Kind.STATE))
    return tensors + scratch + states


def _roots(buffers: Sequence[Buffer]) -> list[int]:
    """For each buffer, the index of the buffer that owns its region (itself unless aliased)."""
    index = {b.name: i for i, b in enumerate(buffers)}
    roots = []
    for b in buffers:
        i, seen = index[b.name], set()
        while buffers[i].alias is not None:
            if buffers[i].alias not in index or i in seen:
                raise ConfigError(f"buffer {buffers[i].name!r} aliases {buffers[i].alias!r}, "
                                  "which is not an earlier buffer of the list")
            seen.add(i)
            i = index[buffers[i].alias]
        roots.append(i)
    return roots


def placement_overlaps(buffers: Sequence[Buffer], offsets: Sequence[int]) -> list[str]:
    """Pairs of buffers live at the same time whose bytes overlap (TFLM ``DoAnyBuffersOverlap``);
    a buffer and the buffers aliased onto it are exempt. O(N^2)."""
    roots = _roots(buffers)
    problems = []
    for i, a in enumerate(buffers):
        for j in range(i + 1, len(buffers)):
            b = buffers[j]
            if roots[i] == roots[j] or not a.meets(b):
                continue
            if Span(a.name, offsets[i], a.size).overlaps(Span(b.name, offsets[j], b.size)):
                problems.append(f"{a.name} [{offsets[i]}, {offsets[i] + a.size}) steps "
                                f"{a.first}..{a.last} overlaps {b.name} [{offsets[j]}, "
                                f"{offsets[j] + b.size}) steps {b.first}..{b.last}")
    return problems


def assemble(graph: Graph, buffers: Sequence[Buffer], offsets: Sequence[int], *,
             regions: Sequence[Span] | None = None, span_names: dict[str, str] | None = None,
             planner: str = "", alignment: int = ALIGN) -> Plan:
    """Turn a placement of :func:`trace`'s buffers into the :class:`Plan` the engine runs.

    Every span has the exact size of what it holds (a tensor, the layer's own scratch need), so
    a placement computed from smaller sizes shows up in :meth:`Plan.overlaps`. ``regions``
    defaults to one span per region-owning buffer; ``span_names`` renames spans (the ping-pong
    plan calls every scratch span ``"scratch"``); the arena is the aligned end of the last span.
    """
    at = {b.name: o for b, o in zip(buffers, offsets)}
    size = {b.name: b.size for b in buffers}
    names = span_names or {}
    if regions is None:
        regions = [Span(b.name, o, b.size) for b, o in zip(buffers, offsets) if b.alias is None]
    inp = Span(names.get("input", "input"), at["input"], graph.input.nbytes)
    prev, steps = inp, []
    for node in graph.nodes:
        out = Span(names.get(node.name, node.name), at[node.name], node.output.nbytes)
        key = f"{node.name}.scratch"
        scratch = Span(names.get(key, key), at.get(key, 0), size.get(key, 0))
        key = f"{node.name}.state"
        state = Span(names.get(key, key), at[key], size[key]) if key in at else None
        steps.append(Step(node.name, prev, out, scratch, state, in_place=node.in_place))
        prev = out
    ends = [r.end for r in regions] + [s.end for step in steps for s in step.spans()]
    return Plan(arena_bytes=align(max(ends, default=0), alignment), buffers=tuple(regions),
                input=inp, steps=tuple(steps), planner=planner)


# ------------------------------------------------------------------------------ planners

class Planner:
    """The planner interface: ``place`` a buffer list, or ``plan`` a whole graph.

    Parameters
    ----------
    scratch_bytes : callable(graph, node) -> int
        Bytes of working memory the node's kernel needs (its CMSIS-NN ``bufferA``);
        :func:`edgesed.dispatch.scratch_bytes` by default.
    state_bytes : callable(graph, node) -> int
        Bytes of persistent state of a node (the RNN's q7 / the GRU's q15 hidden state);
        dispatch's by default.
    alignment : int
        Every region starts at a multiple of this many bytes (4; 1 reproduces TFLM's tests,
        whose sizes are pre-aligned).
    """

    name = ""

    def __init__(self, scratch_bytes: Callable[[Graph, Node], int] | None = None,
                 state_bytes: Callable[[Graph, Node], int] | None = None, *,
                 alignment: int = ALIGN):
        if scratch_bytes is None or state_bytes is None:
            from edgesed import dispatch
            scratch_bytes = scratch_bytes or dispatch.scratch_bytes
            state_bytes = state_bytes or dispatch.state_bytes
        if int(alignment) != alignment or alignment < 1:
            raise ConfigError(f"alignment={alignment!r} must be a positive number of bytes")
        self.scratch_bytes = scratch_bytes
        self.state_bytes = state_bytes
        self.alignment = int(alignment)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alignment={self.alignment})"

    def trace(self, graph: Graph) -> list[Buffer]:
        """The graph's buffers with lifetimes (:func:`trace` with this planner's size functions)."""
        return trace(graph, self.scratch_bytes, self.state_bytes)

    def place(self, buffers: Sequence[Buffer]) -> list[int]:
        """The offset of every buffer (aliases at their root's offset, states in the tail)."""
        return self._layout(buffers)[0]

    def plan(self, graph: Graph) -> Plan:
        """Trace, place and assemble: the plan the engine runs ``graph`` in."""
        buffers = self.trace(graph)
        offsets, regions, names = self._layout(buffers)
        return assemble(graph, buffers, offsets, regions=regions, span_names=names,
                        planner=self.name, alignment=self.alignment)

    def _layout(self, buffers: Sequence[Buffer]):
        """(offsets, regions or None, span renames or None)."""
        raise NotImplementedError

    def _finish(self, buffers, offsets: dict[int, int], head: int) -> list[int]:
        """Aliases at their root's offset, states one after another from ``head`` (the tail)."""
        roots = _roots(buffers)
        tail = align(head, self.alignment)
        for i, b in enumerate(buffers):
            if b.kind is Kind.STATE and b.alias is None:
                offsets[i] = tail
                tail = align(tail + b.size, self.alignment)
        return [offsets.get(r, 0) for r in roots]


class LinearPlanner(Planner):
    """No reuse at all (TFLM's ``LinearMemoryPlanner``): every buffer gets its own region, one
    after another in trace order; the peak is the sum of the (aligned) sizes. The baseline.

    Pooling still runs in place over its input (see the module docstring), so a pooling output
    has no region of its own.
    """

    name = "linear"

    def _layout(self, buffers):
        offsets, end = {}, 0
        for i, b in enumerate(buffers):
            if b.alias is None and b.kind is not Kind.STATE:
                offsets[i] = end
                end = align(end + b.size, self.alignment)
        return self._finish(buffers, offsets, end), None, None


class PingPongPlanner(Planner):
    """The seed's two-buffer plan (Cerutti et al., §V-C, Table V), plus shared scratch and state.

    The layer outputs ``a_0`` (the input), ``a_1``, ``a_2``... alternate between two buffers A
    and B, so A must hold the largest even-indexed tensor and B the largest odd-indexed one.
    Pooling runs in place in the buffer that holds its input, so it takes no index of its own.
    Behind the two buffers the plan places the largest im2col/vector scratch any chosen kernel
    needs (CMSIS-NN's ``bufferA``, shared by all layers) and the persistent RNN state::

        | A: max even a_i | B: max odd a_i | scratch: max_layer bufferA | state (persists) |
    """

    name = "pingpong"

    def sizes(self, graph: Graph) -> list[int]:
        """The seed's ``size_output`` vector a_0, a_1, ...: the input and each non-in-place output."""
        return [graph.input.nbytes] + [n.output.nbytes for n in graph.nodes if not n.in_place]

    def _layout(self, buffers):
        tensors = [i for i, b in enumerate(buffers)
                   if b.kind in (Kind.INPUT, Kind.TENSOR) and b.alias is None]
        scratch = [i for i, b in enumerate(buffers) if b.kind is Kind.SCRATCH]
        a = Span("A", 0, max(buffers[i].size for i in tensors[0::2]))
        b = Span("B", align(a.end, self.alignment),
                 max((buffers[i].size for i in tensors[1::2]), default=0))
        s = Span("scratch", align(b.end, self.alignment),
                 max((buffers[i].size for i in scratch), default=0))
        offsets = {i: (a.offset if k % 2 == 0 else b.offset) for k, i in enumerate(tensors)}
        offsets.update({i: s.offset for i in scratch})
        offsets = self._finish(buffers, offsets, s.end)
        states = [Span(bf.name, o, bf.size) for bf, o in zip(buffers, offsets)
                  if bf.kind is Kind.STATE]
        names = {buffers[i].name: "scratch" for i in scratch}
        return offsets, (a, b, s, *states), names


class GreedyPlanner(Planner):
    """TFLite Micro's ``GreedyMemoryPlanner``: largest first, each at the lowest offset free of
    every already placed buffer whose lifetime intersects its own.

    Order: size descending; equal sizes in *descending* trace order, as TFLM gets it (online
    buffers are copied into the sort array from its tail, then sorted by a stable bubble sort).
    TFLM walks the placed buffers in offset order and takes the first gap that fits among those
    live at the same time; that is the lowest feasible offset, which is always 0 or the end of a
    placed buffer, so this implementation tries those candidates in ascending order (identical
    offsets). Extension for in-place ops: a buffer is placed together with its aliases (same
    offset, each checked over its own lifetime and size). States go to the tail.
    """

    name = "greedy"

    def _layout(self, buffers):
        roots = _roots(buffers)
        parts = {}                      # root -> [(aligned size, first, last)] incl. aliases
        for i, b in enumerate(buffers):
            if b.kind is not Kind.STATE and b.size > 0:
                parts.setdefault(roots[i], []).append((align(b.size, self.alignment),
                                                       b.first, b.last))
        order = sorted(parts, key=lambda i: (-buffers[i].size, -i))
        placed, offsets = [], {}        # placed: (offset, end, first, last)
        for i in order:
            for x in sorted({0, *(p[1] for p in placed)}):
                if not any(x < end and off < x + size and first <= p_last and p_first <= last
                           for size, first, last in parts[i]
                           for off, end, p_first, p_last in placed):
                    break
            offsets[i] = x
            placed += [(x, x + size, first, last) for size, first, last in parts[i]]
        head = max((p[1] for p in placed), default=0)
        return self._finish(buffers, offsets, head), None, None


PLANNERS: dict[str, type[Planner]] = {"linear": LinearPlanner, "pingpong": PingPongPlanner,
                                      "greedy": GreedyPlanner}


def get_planner(name: str, **kwargs) -> Planner:
    """A planner by name (``"linear"``, ``"pingpong"``, ``"greedy"``); ``kwargs`` go to it."""
    key = name.strip().lower().replace("-", "").replace("_", "") if isinstance(name, str) else name
    if key not in PLANNERS:
        raise ConfigError(f"unknown planner {name!r}; choose one of {', '.join(PLANNERS)} "
                          "(linear: no reuse, the baseline; pingpong: the seed's two buffers; "
                          "greedy: TFLite Micro's greedy-by-size)")
    return PLANNERS[key](**kwargs)
