"""The engine: runs a quantized graph's kernels inside one flat arena at the planned offsets.

:class:`Engine` validates the graph once, plans it (ping-pong by default), allocates a single
``int8`` arena of exactly ``plan.arena_bytes`` and binds every kernel body to *views* of that
arena at the planned offsets. :meth:`Engine.run` then copies the input patch in and calls the
bound bodies in order: no validation, no allocation, nothing but the kernels. Because the views
really share the arena, a plan that overlaps live buffers corrupts the result exactly as it
would on the device (pass ``check_plan=False`` to see it).

The RNN's/GRU's hidden state lives in the arena's persistent region; it carries from one
:meth:`~Engine.run` to the next until :meth:`~Engine.reset_state`. The engine owns it; read it
with :attr:`~Engine.state` and set it with :meth:`~Engine.set_state` (stream with external
state). The RNN's state is int8 (q7); the GRU's is int16 (Q0.15) and is seen through an int16
view of its ``2 * units`` arena bytes (native byte order, as on the little-endian device).
The int8 LSTM's state is two views of its bytes, ``"<layer>.cell"`` (int16) and
``"<layer>.hidden"`` (int8) (:func:`edgesed.dispatch.state_views`); it starts, and resets,
as TFLM resets its variable tensors: hidden at its zero point, cell 0. Every other state resets
to 0.
"""
from __future__ import annotations

import numpy as np

from edgesed import dispatch
from edgesed.errors import ArenaOverflowError, ShapeError
from edgesed.graph import Graph, validate
from edgesed.planner import PingPongPlanner, Plan, Span
from kernels.rounding import Rounding, check_rounding

__all__ = ["Engine"]


class Engine:
    """Run ``graph`` inside a planned arena.

    Parameters
    ----------
    graph : Graph
        A validated (or validatable) quantized graph.
    plan : Plan, optional
        Memory plan; :class:`~edgesed.planner.PingPongPlanner` by default.
    rounding : Rounding
        ``NN_ROUND`` (default, CMSIS_5 5.6.0) or ``TRUNCATE`` (``ARM_NN_TRUNCATE`` builds).
    check_plan : bool
        Refuse a plan whose live buffers overlap (default). ``False`` runs it anyway, to show
        what the device would compute.

    Raises
    ------
    ArenaOverflowError
        If the plan has collisions (with ``check_plan``), or, always, spans outside its arena or
        smaller than what their layer needs (:meth:`Plan.mismatches`).
    """

    def __init__(self, graph: Graph, plan: Plan | None = None, *,
                 rounding: Rounding = Rounding.NN_ROUND, check_plan: bool = True):
        validate(graph)
        self.graph = graph
        self.plan = plan or PingPongPlanner().plan(graph)
        self.rounding = Rounding(check_rounding(rounding))
        # Spans outside the arena or too small for their kernel would let a kernel write past
        # its view: refuse them always. Overlaps are what a device would run: refuse by default.
        problems = self.plan.overlaps()
        fatal = [p for p in problems if "outside the arena" in p] + self.plan.mismatches(graph)
        if fatal or (check_plan and problems):
            problems = fatal or problems
            raise ArenaOverflowError("the memory plan is unusable: " + "; ".join(problems[:4])
                                     + (f" (and {len(problems) - 4} more)" if len(problems) > 4
                                        else "")
                                     + ". Re-plan with PingPongPlanner().plan(graph)")
        self.arena = np.zeros(self.plan.arena_bytes, dtype=np.int8)
        self._input = self._view(self.plan.input, graph.input.shape)
        self._steps = []          # (layer name, output view, [KernelCall])
        self._state_views = {}
        self._state_reset = {}    # state name -> value after reset_state()
        for node, step in zip(graph.nodes, self.plan.steps):
            x = self._view(step.input, graph.input_of(node).shape)
            y = self._view(step.output, node.output.shape)
            scratch = self.arena[step.scratch.offset:step.scratch.end]
            state = None
            if step.state is not None:
                state = self._view(step.state, (step.state.size,))
                dtype = dispatch.state_dtype(node)
                if dtype != state.dtype:
                    if step.state.size % dtype.itemsize:
                        raise ArenaOverflowError(
                            f"state span {step.state.name!r} holds {step.state.size} bytes, not "
                            f"a whole number of {dtype} elements for layer {node.name!r}")
                    state = state.view(dtype)
                self._state_views.update(dispatch.state_views(graph, node, state))
                self._state_reset.update(dispatch.state_reset(graph, node))
            weights = dispatch.rom_weights(graph, node)
            calls = dispatch.bind(graph, node, x, y, scratch, state, weights, int(self.rounding))
            self._steps.append((node.name, y, calls))
        self._calls = tuple(c for _, _, calls in self._steps for c in calls)
        self._output = self._steps[-1][1]
        self.reset_state()

    def _view(self, span: Span, shape) -> np.ndarray:
        if span.size != int(np.prod(shape)):
            raise ArenaOverflowError(f"span {span.name!r} holds {span.size} bytes but the tensor "
                                     f"{tuple(shape)} needs {int(np.prod(shape))}")
        return self.arena[span.offset:span.end].reshape(shape)

    def _load(self, x) -> None:
        if not isinstance(x, np.ndarray) or x.dtype != np.int8 \
                or x.shape != self.graph.input.shape:
            got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ShapeError(f"input is {got}; {self.graph.name!r} takes int8 "
                             f"{self.graph.input.shape} in format {self.graph.input.q}")
        self._input[...] = x

    def run(self, x: np.ndarray) -> np.ndarray:
        """One inference on an int8 patch; returns a view of the output in the arena.

        The view is overwritten by the next call: copy it to keep it. The recurrent state
        advances by one step.
        """
        self._load(x)
        for call in self._calls:
            call.fn(*call.args)
        return self._output

    def run_layers(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Like :meth:`run`, but returns a copy of every layer's output (for golden vectors)."""
        self._load(x)
        outputs = {}
        for name, y, calls in self._steps:
            for call in calls:
                call.fn(*call.args)
            outputs[name] = y.copy()
        return outputs

    @property
    def state(self) -> dict[str, np.ndarray]:
        """A copy of every persistent state (layer name -> int8 array; int16 for GRU; for an
        int8 LSTM ``"<layer>.cell"`` int16 and ``"<layer>.hidden"`` int8)."""
        return {k: v.copy() for k, v in self._state_views.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite persistent state (e.g. from :attr:`state` of another engine)."""
        for name, value in state.items():
            if name not in self._state_views:
                raise ShapeError(f"no state named {name!r}; states are {list(self._state_views)}")
            view = self._state_views[name]
            if value.shape != view.shape or value.dtype != view.dtype:
                raise ShapeError(f"state {name!r} must be {view.dtype} {view.shape}, got "
                                 f"{value.dtype} {value.shape}")
            view[...] = value

    def reset_state(self) -> None:
        """Zero every persistent state (what nnom does for a non-stateful layer); an int8 LSTM's
        hidden state is set to its zero point (TFLM's ``ResetVariableTensors``)."""
        for name, view in self._state_views.items():
            view[...] = self._state_reset[name]

    def initial_state(self) -> dict[str, np.ndarray]:
        """The state :meth:`reset_state` sets, as new arrays shaped like :attr:`state`."""
        return {k: np.full_like(v, self._state_reset[k]) for k, v in self._state_views.items()}
