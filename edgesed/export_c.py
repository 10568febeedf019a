"""Export a graph as firmware C: weights, shifts, the planned arena, the network function, goldens.

:func:`export_c` writes, for a model ``m`` (C identifiers lower case, macros upper case)::

    m_model.h / m_model.c     weights in CMSIS-NN layout, per-layer macros, arena layout,
                              int m_run(int8_t *arena, const int8_t *input), m_run_layer(...),
                              m_reset_state(...)  -- calls the es_* kernels of kernels/c/
    m_golden.h / m_golden.c   (frames > 0) per-layer golden inputs/outputs and RNN states for
                              ``frames`` consecutive random frames, state carried across frames,
                              and int32_t m_golden_check(arena, &report) for firmware unit tests
                              (es_golden_check of kernels/c/edgesed_golden.c: every layer alone
                              on its golden input, then m_run over the frames; 0 = bit-exact)

Layouts follow :mod:`edgesed.dispatch` exactly (it picks the kernels the engine runs; names
are sanitised to C identifiers):
conv weights ``[ch_out][k_y][k_x][ch_in]``; ``arm_fully_connected_q7_opt`` and the nnom RNN
weights x4-interleaved (``convert_to_x4_q7_weights``); the nnom GRU weights by
``convert_q7_q15_weights`` (its cell is ``es_gru_cell_q7``, q15 state: the state goldens are
its little-endian bytes); plain ``arm_fully_connected_q7`` row-major. Per layer ``L`` the header
defines ``L_BIAS_SHIFT`` / ``L_OUT_SHIFT`` (RNN and GRU: ``L_OSHIFT_IW``, ``L_OSHIFT_HW``,
``L_ACT_INT_WIDTH``) from :func:`edgesed.graph.layer_shifts`,
the geometry (``L_IN_DIM_X``, ``L_KERNEL_Y``, ...) and the plan's byte offsets
(``L_IN_OFFSET``, ``L_OUT_OFFSET``, ``L_SCRATCH_OFFSET``, ``L_STATE_OFFSET``) into one arena of
``M_ARENA_BYTES`` (4-byte aligned: the scratch is q15). The goldens come from
:meth:`edgesed.engine.Engine.run_layers` on uniform random int8 frames
(``numpy.random.default_rng(seed)``) with the given rounding; ``m_golden.h`` refuses to
compile under the other rounding macro. Build: ``gcc -std=c99 -I kernels/c kernels/c/*.c
m_model.c m_golden.c your_main.c``.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

import edgesed
from edgesed import dispatch
from edgesed.ckernel import KERNELS_C_DIR
from edgesed.engine import Engine
from edgesed.errors import ConfigError
from edgesed.graph import Activation, ConvKernel, DenseKernel, Graph, Op, PoolPathName, \
    layer_shifts
from edgesed.planner import PingPongPlanner, Plan
from kernels.rounding import Rounding

__all__ = ["export_c", "golden_frames", "KERNELS_C_DIR"]


_CONV_FN = {(ConvKernel.BASIC, True): "es_convolve_HWC_q7_basic",
            (ConvKernel.FAST, True): "es_convolve_HWC_q7_fast",
            (ConvKernel.RGB, True): "es_convolve_HWC_q7_RGB",
            (ConvKernel.BASIC, False): "es_convolve_HWC_q7_basic_nonsquare",
            (ConvKernel.FAST, False): "es_convolve_HWC_q7_fast_nonsquare",
            (ConvKernel.FAST_1X1, False): "es_convolve_1x1_HWC_q7_fast_nonsquare"}
_U16 = 0xFFFF


def _ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)
    return s if s and not s[0].isdigit() else "l_" + s


def _values(arr, indent: str) -> str:
    vals = np.asarray(arr).reshape(-1).tolist()
    return f",\n{indent}".join(", ".join(map(str, vals[i:i + 24]))
                                for i in range(0, len(vals), 24))


def _array(name: str, arr, dims: str) -> str:
    """A ``const int8_t`` array definition; a 2-D ``arr`` gets one brace block per row."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        body = ",\n".join("    {\n        " + _values(r, " " * 8) + "\n    }" for r in arr)
        return f"const int8_t {name}{dims} = {{\n{body}\n}};\n"
    return f"const int8_t {name}{dims} = {{\n    {_values(arr, '    ')}\n}};\n"


def _cstr(text: str) -> str:
    """A C string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def golden_frames(graph: Graph, frames: int, seed: int = 0) -> list[np.ndarray]:
    """The ``frames`` uniform random int8 input patches the goldens use."""
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, graph.input.shape, dtype=np.int8) for _ in range(frames)]


class _Layer:
    """Everything the templates need about one node."""

    def __init__(self, graph: Graph, node, step, index: int, model: str):
        self.node, self.step, self.index = node, step, index
        self.c = _ident(node.name).lower()
        self.m = _ident(node.name).upper()
        self.arr = f"{model}_{self.c}"
        self.in_shape, self.out_shape = graph.input_of(node).shape, node.output.shape
        self.macros: dict[str, int] = {}
        self.weights = dispatch.rom_weights(graph, node) if node.op in (
            Op.CONV2D, Op.DENSE, Op.RNN, Op.GRU) else {}
        self.fn = self._fill_macros(graph)
        for key, value in self.macros.items():
            if not key.endswith(("OFFSET", "BYTES")) and not -0x8000 <= value <= _U16:
                raise ConfigError(f"layer {node.name!r}: {key}={value} does not fit the C "
                                  "kernels' uint16_t arguments; split the layer")

    def _fill_macros(self, graph) -> str:
        node, m, mac = self.node, self.macros, self.step
        for side, shape in (("IN", self.in_shape), ("OUT", self.out_shape)):
            if len(shape) == 3 and node.op not in (Op.DENSE, Op.RNN, Op.GRU):
                m.update({f"{side}_DIM_Y": shape[0], f"{side}_DIM_X": shape[1],
                          f"{side}_CH": shape[2]})
            else:
                m[f"{side}_DIM"] = int(np.prod(shape))
        m.update(IN_OFFSET=mac.input.offset, IN_BYTES=mac.input.size,
                 OUT_OFFSET=mac.output.offset, OUT_BYTES=mac.output.size,
                 SCRATCH_OFFSET=mac.scratch.offset, SCRATCH_BYTES=mac.scratch.size)
        if mac.state is not None:
            m.update(STATE_OFFSET=mac.state.offset, STATE_BYTES=mac.state.size)
        if node.op in (Op.CONV2D, Op.MAXPOOL, Op.AVGPOOL):
            a = node.args
            m.update(KERNEL_Y=a.kernel[0], KERNEL_X=a.kernel[1], STRIDE_Y=a.stride[0],
                     STRIDE_X=a.stride[1], PADDING_Y=a.padding[0], PADDING_X=a.padding[1])
        if node.op in (Op.CONV2D, Op.DENSE, Op.RNN, Op.GRU):
            s = layer_shifts(graph, node)
            m["BIAS_SHIFT"] = s["bias_shift"]
            if node.op in (Op.RNN, Op.GRU):
                m.update(UNITS=node.args.units, OSHIFT_IW=s["oshift_iw"],
                         OSHIFT_HW=s["oshift_hw"], ACT_INT_WIDTH=s["act_int_width"])
            else:
                m["OUT_SHIFT"] = s["out_shift"]
        if node.op is Op.CONV2D:
            return _CONV_FN[dispatch.conv_choice(graph, node)]
        if node.op in (Op.MAXPOOL, Op.AVGPOOL):
            kind = "maxpool" if node.op is Op.MAXPOOL else "avepool"
            return f"es_{kind}_q7_HWC_{'dsp' if node.args.path is PoolPathName.DSP else 'c'}"
        if node.op is Op.DENSE:
            opt = node.args.kernel_variant is DenseKernel.Q7_OPT
            return "es_fully_connected_q7" + ("_opt" if opt else "")
        if node.op is Op.GRU:
            return "es_gru_cell_q7"
        return "es_simple_rnn_cell_q7"

    def call(self) -> str:
        """The C statements of this layer's function body."""
        n, L, A = self.node, self.m, "arena + " + self.m
        w = f"{self.arr}_wt"
        scratch = f"(int16_t *)(void *)({A}_SCRATCH_OFFSET)"
        if n.op is Op.CONV2D:
            if self.fn.endswith("nonsquare"):
                geo = (f"{L}_IN_DIM_X, {L}_IN_DIM_Y, {L}_IN_CH, {w}, {L}_OUT_CH,\n"
                       f"        {L}_KERNEL_X, {L}_KERNEL_Y, {L}_PADDING_X, {L}_PADDING_Y, "
                       f"{L}_STRIDE_X, {L}_STRIDE_Y,\n        {self.arr}_bias, {L}_BIAS_SHIFT, "
                       f"{L}_OUT_SHIFT, {A}_OUT_OFFSET, {L}_OUT_DIM_X, {L}_OUT_DIM_Y")
            else:
                geo = (f"{L}_IN_DIM_X, {L}_IN_CH, {w}, {L}_OUT_CH, {L}_KERNEL_X, {L}_PADDING_X, "
                       f"{L}_STRIDE_X,\n        {self.arr}_bias, {L}_BIAS_SHIFT, {L}_OUT_SHIFT, "
                       f"{A}_OUT_OFFSET, {L}_OUT_DIM_X")
            body = [f"status = {self.fn}({A}_IN_OFFSET, {geo},\n        {scratch}, NULL);",
                    "if (status != ES_OK) {\n        return status;\n    }"]
        elif n.op in (Op.MAXPOOL, Op.AVGPOOL):
            buf = f"{A}_SCRATCH_OFFSET" if self.fn == "es_avepool_q7_HWC_dsp" else "NULL"
            body = [f"{self.fn}({A}_IN_OFFSET, {L}_IN_DIM_X, {L}_IN_DIM_Y, {L}_IN_CH,\n"
                    f"        {L}_KERNEL_X, {L}_KERNEL_Y, {L}_PADDING_X, {L}_PADDING_Y, "
                    f"{L}_STRIDE_X, {L}_STRIDE_Y,\n        {L}_OUT_DIM_X, {L}_OUT_DIM_Y, {buf}, "
                    f"{A}_OUT_OFFSET);"]
        elif n.op is Op.DENSE:
            body = [f"status = {self.fn}({A}_IN_OFFSET, {w}, {L}_IN_DIM, {L}_OUT_DIM,\n"
                    f"        {L}_BIAS_SHIFT, {L}_OUT_SHIFT, {self.arr}_bias, {A}_OUT_OFFSET, "
                    f"{scratch});", "if (status != ES_OK) {\n        return status;\n    }"]
        elif n.op is Op.GRU:
            body = [f"es_gru_cell_q7({A}_IN_OFFSET, {L}_IN_DIM, {w}, {self.arr}_rwt,\n"
                    f"        {self.arr}_bias, {self.arr}_recurrent_bias, {L}_UNITS,\n"
                    f"        (int16_t *)(void *)({A}_STATE_OFFSET), {A}_OUT_OFFSET, {scratch},\n"
                    f"        {L}_BIAS_SHIFT, {L}_OSHIFT_IW, {L}_OSHIFT_HW, {L}_ACT_INT_WIDTH);"]
        else:
            act = "ES_TANH" if n.activation is Activation.TANH else "ES_SIGMOID"
            body = [f"es_simple_rnn_cell_q7({A}_IN_OFFSET, {L}_IN_DIM, {w}, {self.arr}_rwt,\n"
                    f"        {self.arr}_bias, {L}_UNITS, {A}_STATE_OFFSET, {A}_OUT_OFFSET,\n"
                    f"        {L}_BIAS_SHIFT, {L}_OSHIFT_IW, {L}_OSHIFT_HW, {L}_ACT_INT_WIDTH, "
                    f"{act});"]
        if n.activation is Activation.RELU:
            if self.step.output.size <= _U16:
                body.append(f"es_relu_q7({A}_OUT_OFFSET, {L}_OUT_BYTES);")
            else:   # arm_relu_q7 takes a uint16_t size
                body.append(f"for (i = 0; i < {L}_OUT_BYTES; i += 0xFFFFu) {{\n        es_relu_q7("
                            f"{A}_OUT_OFFSET + i, (uint16_t)({L}_OUT_BYTES - i < 0xFFFFu ? "
                            f"{L}_OUT_BYTES - i : 0xFFFFu));\n    }}")
        decl = []
        if "status" in body[0]:
            decl.append("int status;")
        if "for (i" in body[-1]:
            decl.append("uint32_t i;")
        return "\n    ".join(decl + body + ["return ES_OK;"])


def _rounding_name(rounding: Rounding) -> str:
    return "ARM_NN_TRUNCATE" if rounding is Rounding.TRUNCATE else "NN_ROUND"


def _header_comment(graph: Graph, plan: Plan, rounding: Rounding, what: str, extra="") -> str:
    lines = [what, "", f"Generated by edgesed {edgesed.__version__} (edgesed.export_c); do not "
             "edit.", *f"Model: {graph!r}".replace("*/", "* /").splitlines(),
             f"Rounding: {_rounding_name(rounding)} (CMSIS_5 5.6.0 legacy q7; nnom q7 simple "
             "RNN cell and GRU cell)",
             f"Plan: {getattr(plan, 'planner', '') or 'custom'}, one arena of "
             f"{plan.arena_bytes} bytes:", *plan.render().splitlines(),
             *([extra] if extra else [])]
    return "/*\n" + "\n".join((" * " + s).rstrip() for s in lines) + "\n */\n"


def export_c(graph: Graph, out_dir, plan: Plan | None = None, frames: int = 3, seed: int = 0, *,
             rounding: Rounding = Rounding.NN_ROUND, copy_kernels: bool = False) -> list[Path]:
    """Write ``<model>_model.{h,c}`` (and ``<model>_golden.{h,c}`` if ``frames``) to ``out_dir``.

    Parameters
    ----------
    graph : Graph
        A valid graph (checked with :func:`edgesed.graph.validate` by the engine).
    out_dir : str or Path
        Created if missing.
    plan : Plan, optional
        The arena layout; ``PingPongPlanner().plan(graph)`` by default. A plan whose live
        buffers overlap is refused (ArenaOverflowError), as the engine refuses it.
    frames : int >= 0
        Consecutive random frames of golden vectors (0: no golden files).
    seed : int
        Seed of the golden frames (:func:`golden_frames`).
    rounding : Rounding
        Rounding of the goldens; the firmware must be built to match (``-DARM_NN_TRUNCATE``).
    copy_kernels : bool
        Also copy ``edgesed_q7.h``/``edgesed_q7.c`` into ``out_dir`` (a self-contained folder).

    Returns
    -------
    list[Path]
        The files written, headers first.
    """
    if int(frames) < 0:
        raise ConfigError(f"frames={frames!r} must be >= 0 (0 writes no golden vectors)")
    plan = plan or PingPongPlanner().plan(graph)
    engine = Engine(graph, plan, rounding=rounding)      # validates graph and plan
    rounding = engine.rounding
    model = _ident(graph.name).lower()
    M = model.upper()
    layers = [_Layer(graph, n, s, i, model) for i, (n, s) in enumerate(zip(graph.nodes,
                                                                             plan.steps))]
    if len({ly.m for ly in layers} | {M}) != len(layers) + 1:
        raise ConfigError(f"layer names {[n.name for n in graph.nodes]} collide as C names")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _write_model(out_dir, graph, plan, rounding, model, layers)
    if frames:
        files += _write_golden(out_dir, graph, plan, rounding, model, layers, engine,
                               int(frames), seed)
    if copy_kernels:
        files += [Path(shutil.copy(f, out_dir / f.name)) for f in sorted(KERNELS_C_DIR.iterdir())
                  if f.suffix in (".c", ".h")]
    return sorted(files, key=lambda p: (p.suffix != ".h", p.name))


def _write_model(out_dir, graph, plan, rounding, model, layers) -> list[Path]:
    M = model.upper()
    states = [ly for ly in layers if ly.step.state is not None]
    last = layers[-1]
    h = [_header_comment(graph, plan, rounding, f"{model}_model.h: the network for firmware."),
         f"#ifndef {M}_MODEL_H\n#define {M}_MODEL_H\n\n#include <stdint.h>\n\n"
         '#include "edgesed_q7.h"\n',
         f"#define {M}_ARENA_BYTES {plan.arena_bytes}u  /* one int8 arena, 4-byte aligned */",
         f"#define {M}_INPUT_OFFSET {plan.input.offset}u",
         f"#define {M}_INPUT_BYTES {plan.input.size}u",
         f"#define {M}_OUTPUT_OFFSET {last.step.output.offset}u",
         f"#define {M}_OUTPUT_BYTES {last.step.output.size}u",
         f"#define {M}_NUM_LAYERS {len(layers)}",
         f"#define {M}_NUM_STATES {len(states)}",
         f"#define {M}_ROM_BYTES {graph.rom_bytes}u"]
    h += [f"#define {M}_REGION{i}_OFFSET {b.offset}u  /* {b.name} */\n"
          f"#define {M}_REGION{i}_BYTES {b.size}u" for i, b in enumerate(plan.buffers)]
    c = [_header_comment(graph, plan, rounding, f"{model}_model.c: weights and network."),
         f'#include <string.h>\n\n#include "{model}_model.h"\n']
    for ly in layers:
        node = repr(ly.node).replace("*/", "* /")
        h.append(f"\n/* {ly.index}: {node}\n *    -> {ly.fn} */")
        h += [f"#define {ly.m}_{k} {v}" + ("u" if k.endswith(("OFFSET", "BYTES")) else "")
              for k, v in ly.macros.items()]
        for key, arr in ly.weights.items():
            name = {"weight": "wt", "recurrent": "rwt"}.get(key, key)
            size = f"{ly.m}_{name.upper()}_SIZE"
            h.append(f"#define {size} {arr.size}\nextern const int8_t {ly.arr}_{name}[{size}];")
            c.append(_array(f"{ly.arr}_{name}", arr.reshape(-1), f"[{size}]"))
        c.append(f"static int {ly.arr}_run(int8_t *arena)\n{{\n    {ly.call()}\n}}\n")
    h.append(f"""
/* Run layer `layer` (0..{M}_NUM_LAYERS-1) on the arena; ES_OK or a kernel's status. */
int {model}_run_layer(int8_t *arena, int layer);
/* The network function: copy `input` ({M}_INPUT_BYTES bytes; NULL if already at
 * arena + {M}_INPUT_OFFSET) into the arena, run every layer; the output is at
 * arena + {M}_OUTPUT_OFFSET. Recurrent state persists in the arena between calls. */
int {model}_run(int8_t *arena, const int8_t *input);
/* Zero every recurrent state (nnom: a non-stateful layer does this at every run). */
void {model}_reset_state(int8_t *arena);

#endif /* {M}_MODEL_H */
""")
    table = ",\n    ".join(f"{ly.arr}_run" for ly in layers)
    resets = "".join(f"\n    memset(arena + {ly.m}_STATE_OFFSET, 0, {ly.m}_STATE_BYTES);"
                     for ly in states) or "\n    (void)arena;"
    c.append(f"""static int (*const {model}_layers[{M}_NUM_LAYERS])(int8_t *) = {{
    {table}
}};

int {model}_run_layer(int8_t *arena, int layer)
{{
    if (layer < 0 || layer >= {M}_NUM_LAYERS) {{
        return ES_SIZE_MISMATCH;
    }}
    return {model}_layers[layer](arena);
}}

int {model}_run(int8_t *arena, const int8_t *input)
{{
    int layer, status;
    if (input != NULL && input != arena + {M}_INPUT_OFFSET) {{
        memcpy(arena + {M}_INPUT_OFFSET, input, {M}_INPUT_BYTES);
    }}
    for (layer = 0; layer < {M}_NUM_LAYERS; layer++) {{
        status = {model}_layers[layer](arena);
        if (status != ES_OK) {{
            return status;
        }}
    }}
    return ES_OK;
}}

void {model}_reset_state(int8_t *arena)
{{{resets}
}}
""")
    return [_write(out_dir / f"{model}_model.h", "\n".join(h)),
            _write(out_dir / f"{model}_model.c", "\n".join(c))]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_golden(out_dir, graph, plan, rounding, model, layers, engine, frames,
                  seed) -> list[Path]:
    M, G = model.upper(), f"{model}_golden"
    engine.reset_state()
    xs, outs, states = golden_frames(graph, frames, seed), [], []
    for x in xs:
        outs.append(engine.run_layers(x))
        states.append(engine.state)
    trunc = rounding is Rounding.TRUNCATE
    guard = ("!" if trunc else "") + "(defined(ARM_NN_TRUNCATE) || defined(ES_NN_TRUNCATE))"
    h = [_header_comment(graph, plan, rounding, f"{G}.h: golden vectors for firmware tests.",
                         f"Golden: {frames} uniform random int8 frames from numpy.random."
                         f"default_rng({seed}); RNN state carried across frames."),
         f'#ifndef {M}_GOLDEN_H\n#define {M}_GOLDEN_H\n\n#include "edgesed_golden.h"\n'
         f'#include "{model}_model.h"\n',
         f"#if {guard}\n#error \"{G}: generated with {_rounding_name(rounding)}; build "
         f"{'with' if trunc else 'without'} ARM_NN_TRUNCATE\"\n#endif\n",
         f"#define {M}_GOLDEN_FRAMES {frames}\n#define {M}_GOLDEN_SEED {seed}\n",
         f"extern const int8_t {G}_input[{M}_GOLDEN_FRAMES][{M}_INPUT_BYTES];"]
    c = [_header_comment(graph, plan, rounding, f"{G}.c: golden vectors for firmware tests."),
         f'#include <stddef.h>\n\n#include "{G}.h"\n',
         _array(f"{G}_input", np.stack(xs).reshape(frames, -1),
                f"[{M}_GOLDEN_FRAMES][{M}_INPUT_BYTES]")]
    prev, entries = f"{G}_input", []
    for ly in layers:
        arrays = [(f"{G}_{ly.c}", "OUT", [o[ly.node.name] for o in outs])]
        if ly.step.state is not None:
            # int16 (GRU q15) states as their little-endian bytes, as the arena holds them
            arrays.append((f"{G}_state_{ly.c}", "STATE",
                           [s[ly.node.name].astype(s[ly.node.name].dtype.newbyteorder("<"))
                            .view(np.int8) for s in states]))
        for name, what, data in arrays:
            dims = f"[{M}_GOLDEN_FRAMES][{ly.m}_{what}_BYTES]"
            h.append(f"extern const int8_t {name}{dims};")
            c.append(_array(name, np.stack(data).reshape(frames, -1), dims))
        st = (f"{ly.m}_STATE_OFFSET, {ly.m}_STATE_BYTES", f"&{G}_state_{ly.c}[0][0]") \
            if ly.step.state is not None else ("0u, 0u", "NULL")
        entries.append(f"{{{_cstr(ly.node.name)}, {ly.m}_IN_OFFSET, {ly.m}_IN_BYTES, "
                       f"{ly.m}_OUT_OFFSET, {ly.m}_OUT_BYTES, {st[0]},\n     &{prev}[0][0], "
                       f"&{G}_{ly.c}[0][0], {st[1]}}}")
        prev = f"{G}_{ly.c}"
    h.append(f"""extern const es_golden_model_t {G}_model;

/* es_golden_check on this model: 0 if the firmware is bit-exact with edgesed, else the number
 * of differing bytes (-1: a kernel returned an error); see edgesed_golden.h. */
int32_t {G}_check(int8_t *arena, es_golden_report_t *report);

#endif /* {M}_GOLDEN_H */
""")
    table = ",\n    ".join(entries)
    c.append(f"""static const es_golden_layer_t {G}_layers[{M}_NUM_LAYERS] = {{
    {table}
}};

const es_golden_model_t {G}_model = {{
    {M}_GOLDEN_FRAMES, {M}_NUM_LAYERS, {M}_INPUT_OFFSET, {M}_INPUT_BYTES, {M}_OUTPUT_OFFSET,
    {M}_OUTPUT_BYTES, &{G}_input[0][0], {G}_layers, {model}_run_layer, {model}_run,
    {model}_reset_state
}};

int32_t {G}_check(int8_t *arena, es_golden_report_t *report)
{{
    return es_golden_check(arena, &{G}_model, report);
}}
""")
    return [_write(out_dir / f"{G}.h", "\n".join(h)), _write(out_dir / f"{G}.c", "\n".join(c))]
