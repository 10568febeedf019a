"""Cycle model of the CMSIS-NN s8/s4 kernels (TFLite int8 layers), built like the q7 model.

``cycles = Σ_loops passes(loop, geometry) × Σ_class count(loop, class) × cost(core, class)``
plus the same ``flash``/``fetch`` board terms (:func:`edgesed.cycles.model.layer_cycles`).
**Not validated against any measurement** (the q7 model has Table VI; nothing comparable was
found for the s8 kernels on these boards): the figures are first-principles counts.

What comes from where:

- *Which loop runs* follows the wrappers as read in CMSIS-NN (the copy vendored in
  tensorflow/tflite-micro ``out/third_party/cmsis_nn``, 2024): ``arm_convolve_wrapper_s8`` (1x1
  pad 0 dil 1 -> ``arm_convolve_1x1_s8_fast`` if stride 1 else ``arm_convolve_1x1_s8``;
  ``in_h == 1 && kh == 1 && (stride_w*Cin) % 4 == 0`` -> ``arm_convolve_1_x_n_s8``, which on
  DSP/C builds calls ``arm_convolve_s8``; else ``arm_convolve_s8``), the same rules as
  :func:`kernels.convolve_s8.convolve_wrapper_s8_buffer_size`; ``arm_depthwise_conv_wrapper_s8``
  (ch_mult 1, dil 1: 3x3 with pads <= 1 -> ``arm_depthwise_conv_3x3_s8`` except on MVE, else
  ``_s8_opt``, which is ``arm_depthwise_conv_s8`` without ``ARM_MATH_DSP``; otherwise
  ``arm_depthwise_conv_s8``, scalar on every build), as
  :func:`kernels.depthwise_s8.depthwise_conv_wrapper_s8_buffer_size`.
- *How often each body runs* is the C loop structure: ``arm_convolve_s8`` V.3.5.0 (im2col by
  ``memcpy``/``memset`` per tap, ``arm_s8_to_s16_unordered_with_offset`` per pixel on DSP or
  ``arm_q7_to_q15_with_offset`` on C, ``arm_nn_mat_mult_kernel_s8_s16`` per 2 pixels: 2x2 tiles
  of 4 columns, odd channel, odd pixel); ``arm_nn_mat_mult_nt_t_s8`` V.2.1.0 (DSP: 2 weight rows
  x 2 pixels, 16- and 4-column bodies; MVE: 4 pixels x 1 weight row, 16 columns per
  ``VLDRB``/``VMLADAVA`` step); ``arm_nn_vec_mat_mult_t_s8`` (DSP 2 rows x 4 columns, C 3 rows,
  MVE 4 rows x 16 columns); ``arm_depthwise_conv_3x3_s8`` (4 channels x valid taps);
  ``arm_depthwise_conv_s8_opt`` (q15 im2col, 4 channels x 2 taps); ``arm_max_pool_s8`` /
  ``arm_avgpool_s8``; ``arm_nn_softmax_common_s8`` (three passes per row).
- *What one pass costs*: instruction mixes counted from those bodies (``read_and_pad_reordered``
  = LDR + 2 SXTB16; ``SXTB16_RORn`` one instruction; ``arm_nn_requantize`` + offset + clamp +
  store ≈ 28 instructions, see :data:`REQ`), the research notes §4.5 (HEAD
  ``arm_nn_mat_mult_kernel_s8_s16``: 26 instructions / 16 MAC), and the per-core costs of
  :mod:`edgesed.cycles.isa`.
- *s4*: the same loops plus the nibble unpack (``read_and_pad_s4[_ordered]``: LDRH, UXTB, AND,
  ORR, LSL, 2 SXTB16 + ROR each, 2 PKH = +4 ALU +6 SIMD per 4 weights over the s8 LDR + 2
  SXTB16; C: +1.5 ALU per weight; MVE: gather load + VRSHL + VSHR per 16 weights), reported as
  the ``unpack`` term. Depthwise s4 is costed as the s8 loop plus that term (approximation).
- *Builds* follow :mod:`edgesed.targets`: ``Build.DSP`` -> ``ARM_MATH_DSP`` loops,
  ``Build.PLAIN_C`` -> the pure-C loops, ``Build.MVE`` (``cortex-m55`` = Alif E3 HE) ->
  CMSIS-NN's **Helium (MVE) kernels** (``ARM_MATH_MVEI``), not the scalar DSP loops: that is
  how CMSIS-NN HEAD builds for an MVE core. MVE timing [uncertain]: the M55 is dual-beat, so one
  128-bit instruction occupies its pipe 2 cycles; a vector load overlaps one cycle with a
  neighbouring non-load vector instruction (Armv8.1-M beat overlap), so a body of ``n_ld``
  vector loads/stores and ``n_op`` other vector instructions costs
  ``2 (n_ld + n_op) - min(n_ld, n_op)`` cycles, booked in the ``dsp`` class (1 cycle on M55).

Approximations (not read line by line, or simplified): ``arm_convolve_1x1_s8`` (strided) as
one ``nt_t`` call per output row; ``arm_convolve_1_x_n_s8`` on MVE as the MVE ``arm_convolve_s8``;
MVE depthwise ignores the 124-channel blocking; grouped convolutions as ``groups`` convolutions;
``exp_on_negative_values`` (softmax) is an instruction estimate; the LSTM is its call graph with
the FC inner loops; softmax assumes every element passes ``diff_min``. Weights are streamed
from flash as the loop order reads them: once per pixel pair (im2col conv), once per pixel
(depthwise: every pixel reads every weight), once per pixel pair per weight-row pair (1x1) or
once (FC), unless the block fits the data cache (``flash`` term of the model).

Term names: ``call``, ``im2col``, ``mac_tile``, ``leftover``, ``requant``, ``offset`` (the
weight-sum x input-offset precomputation), ``unpack`` (s4), ``window``/``compare``/``copy``/
``clamp``/``accumulate``/``divide`` (pooling), ``exp``/``search``/``normalize`` (softmax),
``elementwise`` (LSTM gates and state update).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesed.cycles import loops as L
from edgesed.cycles.isa import Mix
from edgesed.cycles.kernels import Term
from edgesed.cycles.s8_loops import (
    vec, AVG16_MVE_OUT, AVG16_MVE_TAP, AVGC_OUT, AVGC_TAP, AVG_ACC, AVG_COPY, AVG_SCALE,
    CLAMP16_MVE, CLAMP_BYTE, CLAMP_WORD, DW3_GROUP, DW3_ROW, DW3_TAP_C, DW3_TAP_DSP, DWG_OUT,
    DWG_TAP, DWM4_TAP, DWO_GROUP, DWO_MVE_GROUP, DWO_MVE_TAP, DWO_ODD, DWO_PAIR, DW_CALL,
    DW_CH1, DW_PIXEL, DW_TAP1, EXP, FC1_MVE, FC4_MVE, FC4_MVE_ROWS, FC_C1_COL, FC_C3_COL,
    FC_CALL, FC_GROUP, FC_PAIR_COL, FC_PAIR_QUAD, FC_ROW_COL, FC_ROW_QUAD, LSTM_ACC, LSTM_ACT,
    LSTM_MUL, LSTM_STEP, MAX16_MVE, MM_CALL, MM_C_COL, MM_ROW_COL, MM_ROW_QUAD, MM_S8_QUAD,
    MM_TILE, MVE_COPY16, MVE_SET16, NT1_16, NT1_4, NT1_COL, NT1_MVE, NT1_MVE_ROW, NT4_MVE,
    NT4_MVE_ROW, NT_16, NT_4, NT_CALL, NT_COL, NT_ODD_MAC, NT_OFFSET_COL, NT_PAIR, NT_TILE,
    ODD_COL, ODD_QUAD, POOL_CALL, POOL_PIXEL, POOL_TAP, REQ, REQ4_MVE, REQ_T, S4_UNPACK,
    S8S16_ELEM, S8S16_QUAD, SM_CALL, SM_MAX, SM_OUT, SM_ROW, SM_SUM)
from edgesed.graph import Graph, Node, Op
from edgesed.graph_s8 import S8_OPS
from edgesed.targets import Build, Target

__all__ = ["REQ", "REQ_T", "ConvGeomS8", "conv_variant", "dw_variant", "layer_terms",
           "kernel_name", "vec"]


@dataclass(frozen=True)
class ConvGeomS8:
    """Geometry of a conv/depthwise/pool layer (HWC, TFLM padding and dilation)."""

    in_h: int
    in_w: int
    c_in: int
    out_h: int
    out_w: int
    c_out: int
    k_h: int
    k_w: int
    s_h: int = 1
    s_w: int = 1
    p_h: int = 0
    p_w: int = 0
    d_h: int = 1
    d_w: int = 1

    @property
    def pixels(self) -> int:
        return self.out_h * self.out_w

    def _valid(self, n_out, n_in, k, s, p, d) -> np.ndarray:
        return np.array([sum(0 <= o * s - p + i * d < n_in for i in range(k))
                         for o in range(n_out)])

    def valid_taps(self) -> np.ndarray:
        """(out_h, out_w): kernel taps inside the input for each output pixel."""
        return np.outer(self._valid(self.out_h, self.in_h, self.k_h, self.s_h, self.p_h, self.d_h),
                        self._valid(self.out_w, self.in_w, self.k_w, self.s_w, self.p_w, self.d_w))

    def valid_rows(self) -> int:
        """Σ over pixels of the valid kernel rows (loops that run per row)."""
        vy = self._valid(self.out_h, self.in_h, self.k_h, self.s_h, self.p_h, self.d_h)
        return int(vy.sum()) * self.out_w


def _geom(graph: Graph, node: Node) -> ConvGeomS8:
    in_h, in_w, c_in = graph.input_of(node).shape
    out_h, out_w, c_out = node.output.shape
    a = node.args
    return ConvGeomS8(in_h, in_w, c_in, out_h, out_w, c_out, *a.kernel, *a.stride, *a.padding,
                      *getattr(a, "dilation", (1, 1)))


def _build(target: Target) -> str:
    return {Build.DSP: "dsp", Build.PLAIN_C: "c", Build.MVE: "mve"}[target.build]


def _s4(node: Node) -> bool:
    return getattr(node.args, "weight_bits", 8) == 4


def conv_variant(g: ConvGeomS8, groups: int = 1) -> str:
    """``arm_convolve_wrapper_s8``'s choice: ``1x1_fast``, ``1x1``, ``1xn`` or ``generic``."""
    if (g.p_h, g.p_w, g.k_h, g.k_w, g.d_h, g.d_w, groups) == (0, 0, 1, 1, 1, 1, 1):
        return "1x1_fast" if (g.s_h, g.s_w) == (1, 1) else "1x1"
    if g.in_h == 1 and g.k_h == 1 and g.d_w == 1 and (g.s_w * g.c_in) % 4 == 0 and groups == 1:
        return "1xn"
    return "generic"


def dw_variant(g: ConvGeomS8, ch_mult: int, build: str, s4: bool = False) -> str:
    """``arm_depthwise_conv_wrapper_s8``'s choice: ``3x3``, ``opt``, ``mult4`` or ``generic``
    (``s4``: the s4 wrapper has no 3x3 kernel and no mult_4 path)."""
    if ch_mult == 1 and (g.d_h, g.d_w) == (1, 1):
        if build != "mve" and not s4 and (g.k_h, g.k_w) == (3, 3) and g.p_h <= 1 and g.p_w <= 1:
            return "3x3"
        return "opt" if build != "c" else "generic"     # _opt falls back without ARM_MATH_DSP
    mult4 = ch_mult % 4 == 0 and (g.d_h, g.d_w) == (1, 1) and not s4
    return "mult4" if mult4 else "generic"


# ------------------------------------------------------------------------------ loop terms

def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def nt_t_terms(lhs_rows: int, rhs_rows: int, cols: int, build: str, calls: int = 1
               ) -> list[Term]:
    """``arm_nn_mat_mult_nt_t_s8`` called ``calls`` times on ``lhs_rows`` pixels x ``rhs_rows``
    output channels x ``cols`` columns."""
    t = [Term("call", calls, NT_CALL, "arm_nn_mat_mult_nt_t_s8 call")]
    if build == "mve":
        q, r = divmod(lhs_rows, 4)
        blocks = _ceil(cols, 16)
        return t + [
            Term("mac_tile", calls * q * rhs_rows * blocks, NT4_MVE, "MVE 4 pixels x 16 columns"),
            Term("requant", calls * q * rhs_rows, NT4_MVE_ROW, "MVE 4 pixels: offset, requant"),
            Term("leftover", calls * r * rhs_rows * blocks, NT1_MVE, "MVE odd pixel x 16 columns"),
            Term("requant", calls * r * rhs_rows, NT1_MVE_ROW, "MVE odd pixel: sums"),
            Term("requant", calls * r * (rhs_rows // 4), REQ4_MVE, "MVE odd pixel: requant x4"),
            Term("requant", calls * r * (rhs_rows % 4), REQ, "odd pixel: scalar requant")]
    rp, ro = divmod(rhs_rows, 2)
    lp, lo = divmod(lhs_rows, 2)
    tiles, odd = calls * rp * lp, calls * rp * lo
    t += [Term("offset", calls * rp * cols, NT_OFFSET_COL, "weight-row sums (input offset)"),
          Term("offset", calls * rp, NT_PAIR, "x lhs_offset + bias per weight-row pair")]
    if build == "dsp":
        c16, rest = divmod(cols, 16)
        c4, ct = divmod(rest, 4)
        t += [Term("mac_tile", tiles * c16, NT_16, "2x2 tile, 16-column body"),
              Term("mac_tile", tiles * c4, NT_4, "2x2 tile, 4-column body"),
              Term("leftover", tiles * ct, NT_COL, "2x2 tile, leftover columns"),
              Term("leftover", odd * c16, NT1_16, "odd pixel, 16-column body"),
              Term("leftover", odd * c4, NT1_4, "odd pixel, 4-column body"),
              Term("leftover", odd * ct, NT1_COL, "odd pixel, leftover columns")]
    else:
        t += [Term("mac_tile", tiles * cols, MM_C_COL, "2x2 tile, one column (C)"),
              Term("leftover", odd * cols, MM_ROW_COL, "odd pixel, one column (C)")]
    return t + [
        Term("requant", tiles, NT_TILE + REQ * 4, "2x2 tile: requantize 4 outputs"),
        Term("requant", odd, REQ * 2 + Mix(alu=4), "odd pixel: requantize 2 outputs"),
        Term("leftover", calls * ro * lhs_rows * cols, NT_ODD_MAC, "odd weight row, one MAC"),
        Term("requant", calls * ro * lhs_rows, REQ + Mix(alu=4, br=1), "odd weight row output")]


def _im2col_terms(g: ConvGeomS8, build: str) -> list[Term]:
    """``arm_convolve_s8``'s im2col: a memcpy/memset per tap, then (DSP/C) the s16 column."""
    valid = int(g.valid_taps().sum())
    taps = g.pixels * g.k_h * g.k_w
    t = [Term("im2col", g.pixels, L.IM2COL_PIXEL, "output-pixel loop"),
         Term("im2col", taps, L.IM2COL_TAP, "bounds-checked tap loop")]
    if build == "mve":
        n16 = _ceil(g.c_in, 16)
        return t + [Term("im2col", valid * n16, MVE_COPY16, "arm_memcpy_s8 (MVE), 16 bytes"),
                    Term("im2col", (taps - valid) * n16, MVE_SET16, "arm_memset_s8 (MVE)")]
    cols = g.k_h * g.k_w * g.c_in
    t += [Term("call", taps, L.MEM_CALL, "memcpy/memset call per tap"),
          Term("im2col", valid * g.c_in, L.MEM_BYTE, "memcpy bytes"),
          Term("im2col", (taps - valid) * g.c_in, L.MEMSET_BYTE, "memset bytes (padding)"),
          Term("call", g.pixels, L.COPY_CALL, "s8 -> s16 column call")]
    if build == "dsp":
        return t + [Term("im2col", g.pixels * (cols // 4), S8S16_QUAD,
                         "arm_s8_to_s16_unordered_with_offset, 4 elements"),
                    Term("im2col", g.pixels * (cols % 4), S8S16_ELEM, "s8 -> s16 tail")]
    return t + [Term("im2col", g.pixels * cols, S8S16_ELEM, "arm_q7_to_q15_with_offset (C)")]


def conv_terms(g: ConvGeomS8, build: str, variant: str) -> list[Term]:
    """One convolution (groups = 1) as the wrapper runs it (``variant``: :func:`conv_variant`)."""
    cols = g.k_h * g.k_w * g.c_in
    t = [Term("call", 1, L.CONV_CALL, "convolution function call")]
    if variant == "1x1_fast":
        return t + nt_t_terms(g.pixels, g.c_out, cols, build)
    if variant == "1x1":            # one nt_t call per output row, strided rows
        return t + nt_t_terms(g.out_w, g.c_out, cols, build, calls=g.out_h)
    if build == "mve":              # im2col of 4 pixels, then nt_t with 4 lhs rows
        q, r = divmod(g.pixels, 4)
        t += _im2col_terms(g, build) + nt_t_terms(4, g.c_out, cols, build, calls=q)
        return t + (nt_t_terms(r, g.c_out, cols, build) if r else [])
    t += _im2col_terms(g, build)
    pairs, odd_px = divmod(g.pixels, 2)
    ch2, odd_ch = divmod(g.c_out, 2)
    quads, tail = divmod(cols, 4)
    t.append(Term("call", pairs, MM_CALL, "arm_nn_mat_mult_kernel_s8_s16 call (2 pixels)"))
    if build == "dsp":
        t += [Term("mac_tile", pairs * ch2 * quads, MM_S8_QUAD, "2x2 tile, 4-column loop"),
              Term("leftover", pairs * ch2 * tail, MM_C_COL, "2x2 tile, leftover columns"),
              Term("leftover", pairs * odd_ch * quads, MM_ROW_QUAD, "odd channel, 4 columns"),
              Term("leftover", pairs * odd_ch * tail, MM_ROW_COL, "odd channel, tail columns"),
              Term("leftover", odd_px * g.c_out * quads, ODD_QUAD, "odd pixel, 4 columns"),
              Term("leftover", odd_px * g.c_out * tail, ODD_COL, "odd pixel, tail columns")]
    else:
        t += [Term("mac_tile", pairs * ch2 * cols, MM_C_COL, "2x2 tile, one column (C)"),
              Term("leftover", pairs * odd_ch * cols, MM_ROW_COL, "odd channel, one column"),
              Term("leftover", odd_px * g.c_out * cols, ODD_COL, "odd pixel, one column")]
    return t + [
        Term("requant", pairs * ch2, MM_TILE + REQ * 4, "2x2 tile: bias, requantize 4"),
        Term("requant", pairs * odd_ch, REQ * 2 + Mix(alu=4), "odd channel: requantize 2"),
        Term("requant", odd_px * g.c_out, REQ + Mix(alu=4, ld=1, br=1), "odd pixel output")]


def dw_terms(g: ConvGeomS8, build: str, variant: str, ch_mult: int = 1) -> list[Term]:
    """One depthwise convolution; ``variant`` from :func:`dw_variant`."""
    valid = int(g.valid_taps().sum())
    c, px = g.c_out, g.pixels
    g4, rest = divmod(c, 4)
    t = [Term("call", 1, DW_CALL, "depthwise function call")]
    if variant == "3x3":
        rows = g.valid_rows()
        tap = DW3_TAP_DSP if build == "dsp" else DW3_TAP_C
        return t + [
            Term("loop", px, DW_PIXEL, "output-pixel loop"),
            Term("loop", px * g4, DW3_GROUP, "4-channel group: bias, addresses"),
            Term("loop", rows * g4, DW3_ROW, "valid kernel row, column tests"),
            Term("mac_tile", valid * g4, tap, "valid tap x 4 channels"),
            Term("requant", px * g4 * 4, REQ, "requantize each output"),
            Term("leftover", valid * rest, DW_TAP1, "leftover channel, one tap"),
            Term("leftover", rows * rest, DW3_ROW, "leftover channel, kernel row"),
            Term("requant", px * rest, REQ + DW_CH1, "leftover channel output")]
    if variant == "opt" and build == "mve":
        taps, kk = px * g.k_h * g.k_w, g.k_h * g.k_w
        n16, q, r = _ceil(c, 16), *divmod(px, 4)
        gc = _ceil(c, 4)
        return t + [
            Term("im2col", taps, L.IM2COL_TAP, "tap loop (4-pixel buffer)"),
            Term("im2col", valid * n16, MVE_COPY16, "arm_memcpy_s8 (MVE)"),
            Term("im2col", (taps - valid) * n16, MVE_SET16, "arm_memset_s8 (MVE)"),
            Term("call", q, NT_CALL, "arm_nn_depthwise_conv_nt_t_s8 call (4 pixels)"),
            Term("mac_tile", q * gc * kk, DWO_MVE_TAP, "4 pixels x 4 channels, one tap"),
            Term("requant", q * gc, DWO_MVE_GROUP, "4 pixels x 4 channels: requant"),
            Term("leftover", r * gc * kk, vec(2, 3), "leftover pixel x 4 channels, one tap"),
            Term("requant", r * gc, vec(3, 0) + REQ4_MVE, "leftover pixel: requant")]
    if variant == "opt":                # DSP: q15 im2col of every tap, then 4 channels x 2 taps
        taps, kk = px * g.k_h * g.k_w, g.k_h * g.k_w
        pairs_t, odd_t = divmod(kk, 2)
        return t + [
            Term("im2col", px, L.IM2COL_PIXEL, "output-pixel loop"),
            Term("im2col", taps, L.IM2COL_TAP, "tap loop"),
            Term("call", valid, L.COPY_CALL, "arm_q7_to_q15_with_offset call"),
            Term("im2col", valid * (c // 4), S8S16_QUAD + Mix(dsp=2), "q7 -> q15, 4 elements"),
            Term("im2col", valid * (c % 4), S8S16_ELEM, "q7 -> q15 tail"),
            Term("call", taps - valid, L.MEM_CALL, "memset call (padding)"),
            Term("im2col", (taps - valid) * 2 * c, L.MEMSET_BYTE, "memset bytes"),
            Term("mac_tile", px * g4 * pairs_t, DWO_PAIR, "4 channels x 2 taps"),
            Term("leftover", px * g4 * odd_t, DWO_ODD, "4 channels, odd tap"),
            Term("loop", px * g4, DWO_GROUP, "4-channel group setup"),
            Term("requant", px * g4 * 4, REQ, "requantize each output"),
            Term("leftover", px * rest * kk, DW_TAP1 + Mix(alu=2, br=1), "leftover channel tap"),
            Term("requant", px * rest, REQ + DW_CH1, "leftover channel output")]
    if variant == "mult4":
        tiles = px * g.c_in * (ch_mult // 4)
        req = REQ4_MVE if build == "mve" else REQ * 4
        return t + [
            Term("loop", tiles, DWO_GROUP, "4-multiplier tile: bias, pointers"),
            Term("loop", g.valid_rows() * g.c_in * (ch_mult // 4), Mix(alu=6, mac=1, br=1),
                 "valid kernel row"),
            Term("mac_tile", valid * g.c_in * (ch_mult // 4), DWM4_TAP, "valid tap x 4 outputs"),
            Term("requant", tiles, req, "requantize 4 outputs")]
    return t + [Term("loop", px * c, DWG_OUT, "per output: kernel ranges, bias"),
                Term("mac_tile", valid * c, DWG_TAP, "valid tap, one MAC"),
                Term("requant", px * c, REQ, "requantize each output")]


def fc_terms(cols: int, rows: int, build: str, per_channel: bool = False) -> list[Term]:
    """``arm_fully_connected_s8`` (``arm_nn_vec_mat_mult_t_s8``; per-channel: ``_per_ch_s8``)."""
    req = REQ if per_channel else REQ_T
    t = [Term("call", 1, FC_CALL, "FC function + vec_mat_mult call")]
    if build == "mve":
        g4, r4 = divmod(rows, 4)
        blocks = _ceil(cols, 16)
        return t + [Term("mac_tile", g4 * blocks, FC4_MVE, "MVE 4 rows x 16 columns"),
                    Term("requant", g4, FC4_MVE_ROWS, "MVE 4 rows: kernel sums, requant"),
                    Term("leftover", r4 * blocks, FC1_MVE, "MVE leftover row x 16 columns"),
                    Term("requant", r4, FC_GROUP + req, "leftover row output")]
    if build == "dsp":
        pairs, odd = divmod(rows, 2)
        q, c = divmod(cols, 4)
        return t + [Term("mac_tile", pairs * q, FC_PAIR_QUAD, "2 rows x 4 columns"),
                    Term("leftover", pairs * c, FC_PAIR_COL, "2 rows, leftover column"),
                    Term("requant", pairs, FC_GROUP + req * 2, "2 rows: requantize"),
                    Term("leftover", odd * q, FC_ROW_QUAD, "odd row, 4 columns"),
                    Term("leftover", odd * c, FC_ROW_COL, "odd row, leftover column"),
                    Term("requant", odd, FC_GROUP + req, "odd row: requantize")]
    g3, r3 = divmod(rows, 3)
    return t + [Term("mac_tile", g3 * cols, FC_C3_COL, "3 rows, one column (C)"),
                Term("requant", g3, FC_GROUP + req * 3, "3 rows: requantize"),
                Term("leftover", r3 * cols, FC_C1_COL, "leftover row, one column"),
                Term("requant", r3, FC_GROUP + req, "leftover row: requantize")]


def pool_terms(g: ConvGeomS8, build: str, avg: bool) -> list[Term]:
    """``arm_max_pool_s8`` (same C on DSP and plain C) / ``arm_avgpool_s8``."""
    vt = int(g.valid_taps().sum())
    c, px = g.c_in, g.pixels
    out = px * c
    t = [Term("call", 1, POOL_CALL, "pooling function call"),
         Term("window", px, POOL_PIXEL, "output pixel: window bounds")]
    if avg and build == "c":        # channel-outer loop over every tap with bounds checks
        return t + [Term("accumulate", out * g.k_h * g.k_w, AVGC_TAP, "per element, every tap"),
                    Term("divide", out, AVGC_OUT, "rounded division, clamp, store")]
    t.append(Term("window", vt, POOL_TAP, "valid tap: address"))
    n16 = _ceil(c, 16)
    if build == "mve":
        if avg:
            return t + [Term("accumulate", vt * n16, AVG16_MVE_TAP, "VLDRB, widen, 4 VADD"),
                        Term("divide", px * n16, AVG16_MVE_OUT, "round, lane SDIV, clamp")]
        return t + [Term("copy", px * n16, MVE_COPY16, "first tap: arm_memcpy_s8"),
                    Term("compare", (vt - px) * n16, MAX16_MVE, "VMAX per 16 channels"),
                    Term("clamp", _ceil(out, 16), CLAMP16_MVE, "clamp_output")]
    if avg:
        return t + [Term("copy", px * c, AVG_COPY, "first tap: copy to int32 buffer"),
                    Term("accumulate", (vt - px) * c, AVG_ACC, "QADD per channel"),
                    Term("call", px, L.call(saved=4) + Mix(alu=4), "scale_q31_to_q7 call"),
                    Term("divide", out, AVG_SCALE, "rounded SDIV, clamp, store")]
    words, tail = divmod(c, 4)
    extra = vt - px
    return t + [Term("call", px, L.MEM_CALL, "first tap: memcpy call"),
                Term("copy", px * c, L.MEM_BYTE, "memcpy bytes"),
                Term("call", extra, L.COMPARE_CALL, "compare_and_replace_if_larger call"),
                Term("compare", extra * words, L.COMPARE_WORD, "4-byte max"),
                Term("compare", extra * tail, L.COMPARE_BYTE, "tail max"),
                Term("call", 1, L.COMPARE_CALL, "clamp_output call"),
                Term("clamp", out // 4, CLAMP_WORD, "clamp 4 bytes"),
                Term("clamp", out % 4, CLAMP_BYTE, "clamp tail byte")]


def softmax_terms(rows: int, n: int) -> list[Term]:
    """``arm_softmax_s8``: max pass, exp-sum pass, 1/sum, output pass (every element assumed to
    pass ``diff >= diff_min``; the others skip ``exp``)."""
    return [Term("call", 1, SM_CALL, "arm_softmax_s8 call"),
            Term("search", rows * n, SM_MAX, "row maximum"),
            Term("exp", rows * n, SM_SUM, "sum pass: scale, DIV_POW2, add"),
            Term("exp", 2 * rows * n, EXP, "exp_on_negative_values (sum and output passes)"),
            Term("normalize", rows, SM_ROW, "CLZ, one_over_one_plus_x"),
            Term("normalize", rows * n, SM_OUT, "output pass: scale, round, clamp, store")]


def lstm_terms(steps: int, features: int, units: int, build: str) -> list[Term]:
    """``arm_lstm_unidirectional_s8``, ``steps`` x ``arm_nn_lstm_step_s8``: per gate the input
    and the recurrent ``vec_mat_mul_result_acc_s8_s16`` (costed as the FC loops, one row output
    each plus the int16 accumulate), the s16 activation; then the cell and hidden updates.
    [Structure from the CMSIS-NN LSTM sources' call graph; the inner loops are the FC ones.]"""
    t = [Term("call", steps, LSTM_STEP, "lstm step: gate and element-wise calls")]
    for cols in (features, units):
        for term in fc_terms(cols, units, build):
            t.append(Term(term.name, term.count * 4 * steps, term.mix, f"4 gates: {term.loop}"))
    return t + [
        Term("requant", 8 * steps * units, LSTM_ACC, "gate products: accumulate into int16"),
        Term("elementwise", 5 * steps * units, LSTM_ACT, "sigmoid/tanh s16 (4 gates + tanh(c))"),
        Term("elementwise", 3 * steps * units, LSTM_MUL, "f*c, i*g, o*tanh(c)")]


# ------------------------------------------------------------------------------ layers

def _s4_unpack(macs: float, reuse: int, build: str) -> list[Term]:
    """The s4 ``unpack`` term: ``macs / reuse`` weight elements loaded (``reuse``: pixels that
    share one weight load), one unpack per 4 (DSP), 1 (C) or 16 (MVE) of them."""
    per = {"dsp": 4, "c": 1, "mve": 16}[build]
    return [Term("unpack", macs / reuse / per, S4_UNPACK[build],
                 "s4 nibble unpack (read_and_pad_s4 / shifts / gather + shifts)")]


def layer_terms(graph: Graph, node: Node, target: Target) -> tuple[list[Term], int, int]:
    """Loop terms of an int8 layer on ``target``, the weight block streamed from flash (bytes:
    weights, packed for s4, + int32 bias; the per-channel multipliers/shifts are computed into
    RAM by TFLM's Prepare) and how many times it is streamed without fitting the data cache."""
    build = _build(target)
    cache = target.data_cache_bytes
    if node.op is Op.RESHAPE:
        return [], 0, 0
    if node.op is Op.SOFTMAX_S8:
        shape = node.output.shape
        return softmax_terms(int(np.prod(shape[:-1])), shape[-1]), 0, 0
    if node.op in (Op.MAXPOOL_S8, Op.AVGPOOL_S8):
        return pool_terms(_geom(graph, node), build, node.op is Op.AVGPOOL_S8), 0, 0
    if node.op is Op.LSTM_S8:
        steps, features = graph.input_of(node).shape
        units = node.args.units
        w_bytes = 4 * units * (features + units) + 16 * units
        return (lstm_terms(steps, features, units, build), w_bytes,
                1 if w_bytes <= cache else steps)
    wb = 0.5 if _s4(node) else 1.0
    if node.op is Op.DENSE_S8:
        cols, rows = int(np.prod(graph.input_of(node).shape)), node.args.units
        terms = fc_terms(cols, rows, build, per_channel=len(node.weight_q.scale) > 1)
        w_bytes, passes = int(np.ceil(rows * cols * wb)) + 4 * rows, 1
        macs, reuse = rows * cols, 1
    elif node.op is Op.CONV_S8:
        g, groups = _geom(graph, node), node.args.groups
        gg = ConvGeomS8(**{**g.__dict__, "c_in": g.c_in // groups, "c_out": g.c_out // groups})
        variant = conv_variant(g, groups)
        terms = [Term(t.name, t.count * groups, t.mix, t.loop)
                 for t in conv_terms(gg, build, variant)]
        cols = g.k_h * g.k_w * gg.c_in
        w_bytes = int(np.ceil(g.c_out * cols * wb)) + 4 * g.c_out
        if variant.startswith("1x1") and build != "mve":
            block, reps = 2 * cols + 8, _ceil(g.out_w if variant == "1x1" else g.pixels, 2)
        else:
            block, reps = w_bytes, _ceil(g.pixels, 4 if build == "mve" else 2)
        passes = 1 if block <= cache else reps * (g.out_h if variant == "1x1" else 1)
        macs, reuse = g.pixels * g.c_out * cols, 4 if build == "mve" else 2
    elif node.op is Op.DEPTHWISE_S8:
        g = _geom(graph, node)
        variant = dw_variant(g, node.args.ch_mult, build, s4=_s4(node))
        terms = dw_terms(g, build, variant, node.args.ch_mult)
        w_bytes = int(np.ceil(g.k_h * g.k_w * g.c_out * wb)) + 4 * g.c_out
        passes = 1 if w_bytes <= cache else g.pixels     # every pixel reads every weight
        dense_taps = variant == "opt"                    # _opt multiplies the padded taps too
        macs = g.c_out * (g.pixels * g.k_h * g.k_w if dense_taps else int(g.valid_taps().sum()))
        reuse = 4 if build == "mve" and dense_taps else 1
    else:
        raise ValueError(f"no cycle model for {node.op!r} (layer {node.name!r}); "
                         "edgesed.cycles.s8 models the CMSIS-NN s8/s4 layers")
    if _s4(node):
        terms += _s4_unpack(macs, reuse, build)
    return terms, w_bytes, passes


_DW_NAMES = {"3x3": "arm_depthwise_conv_3x3_s8", "opt": "arm_depthwise_conv_s8_opt",
             "mult4": "arm_depthwise_conv_s8 (mult_4)", "generic": "arm_depthwise_conv_s8"}
_CONV_NAMES = {"1x1_fast": "arm_convolve_1x1_s8_fast", "1x1": "arm_convolve_1x1_s8",
               "1xn": "arm_convolve_1_x_n_s8", "generic": "arm_convolve_s8"}


def kernel_name(graph: Graph, node: Node, target: Target) -> str:
    """The C function the wrapper picks for ``node`` and the build's branch (dsp, c, mve)."""
    build = _build(target)
    if node.op is Op.RESHAPE:
        return "(reshape: no code)"
    if node.op is Op.CONV_S8:
        g = _geom(graph, node)
        name = _CONV_NAMES[conv_variant(g, node.args.groups)]
    elif node.op is Op.DEPTHWISE_S8:
        g = _geom(graph, node)
        name = _DW_NAMES[dw_variant(g, node.args.ch_mult, build, s4=_s4(node))]
    else:
        from edgesed.dispatch_s8 import c_function
        name = c_function(graph, node)
    if _s4(node):
        name = name.replace("_s8", "_s4")
    return f"{name} ({build})"


def handles(node: Node) -> bool:
    """True for the int8 layers this module models."""
    return node.op in S8_OPS
