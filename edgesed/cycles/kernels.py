"""Iteration counts of each kernel variant's C loops, from the layer geometry.

Each ``*_terms`` function returns a list of :class:`Term`: a breakdown name, how many times a
loop body (an instruction :class:`~edgesed.cycles.isa.Mix` of :mod:`edgesed.cycles.loops`)
runs, and which C loop it is. The counts follow the loop structure of the C exactly (the
2-pixel im2col/mat-mult rhythm, the 2x2 tiles and their leftover rows/columns, the fast
kernels' padded-edge regions, the pooling passes and their clipped windows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesed.cycles import loops as L
from edgesed.cycles.isa import Mix

__all__ = ["Term", "ConvGeom", "conv_dsp_terms", "conv_c_terms", "relu_terms",
           "pool_dsp_terms", "pool_c_terms", "fc_dsp_terms", "fc_c_terms", "rnn_terms",
           "gru_terms", "flash_line_reads"]


@dataclass(frozen=True)
class Term:
    """``count`` passes through a loop body ``mix``, reported under ``name``."""

    name: str
    count: float
    mix: Mix
    loop: str


@dataclass(frozen=True)
class ConvGeom:
    in_h: int
    in_w: int
    ch_in: int
    out_h: int
    out_w: int
    ch_out: int
    k_h: int
    k_w: int
    s_h: int
    s_w: int
    p_h: int
    p_w: int

    @property
    def cols(self) -> int:
        """``numCol_A``: im2col column length ``ch_in * k_h * k_w``."""
        return self.ch_in * self.k_h * self.k_w

    @property
    def pixels(self) -> int:
        return self.out_h * self.out_w

    def valid_taps(self) -> np.ndarray:
        """(out_h, out_w) array: kernel taps inside the input for each output pixel."""
        vy = np.array([sum(0 <= y * self.s_h - self.p_h + k < self.in_h for k in range(self.k_h))
                       for y in range(self.out_h)])
        vx = np.array([sum(0 <= x * self.s_w - self.p_w + k < self.in_w for k in range(self.k_w))
                       for x in range(self.out_w)])
        return np.outer(vy, vx)


def _copy_terms(name: str, calls: float, elems: float, reordered: bool,
                call_name: str | None = None) -> list[Term]:
    """``calls`` calls of ``arm_q7_to_q15[_reordered]_no_shift`` copying ``elems`` elements
    each; the call overhead is reported under ``call_name`` (default ``<name>_call``)."""
    quad = L.COPY_QUAD_REORDERED if reordered else L.COPY_QUAD
    fn = "arm_q7_to_q15_reordered_no_shift" if reordered else "arm_q7_to_q15_no_shift"
    quads, tail = np.floor(elems / 4), elems % 4
    return [Term(call_name or f"{name}_call", calls, L.COPY_CALL, f"{fn} call"),
            Term(name, calls * quads, quad, f"{fn} 4-element loop"),
            Term(name, calls * tail, L.COPY_TAIL, f"{fn} tail loop")]


def _im2col_terms(g: ConvGeom, variant: str) -> list[Term]:
    """im2col of every output pixel. ``variant``: basic, fast, rgb or 1x1."""
    terms = [Term("im2col", g.pixels, L.IM2COL_PIXEL, "output-pixel loop and buffer test")]
    if variant == "1x1":
        return terms + _copy_terms("im2col", g.pixels, g.ch_in, reordered=True)
    valid = g.valid_taps()
    taps = g.k_h * g.k_w
    if variant == "fast":   # unpadded middle region copies whole kernel rows
        mid = np.zeros((g.out_h, g.out_w), bool)
        mid[g.p_h:max(g.p_h, g.out_h - g.p_h), g.p_w:max(g.p_w, g.out_w - g.p_w)] = True
        n_mid = int(mid.sum())
        terms.append(Term("im2col", n_mid * g.k_h, L.IM2COL_ROW, "fast: kernel-row loop"))
        terms += _copy_terms("im2col", n_mid * g.k_h, g.ch_in * g.k_w, reordered=True)
        edge_valid = int(valid[~mid].sum())
        edge_taps = int((~mid).sum()) * taps
    else:
        edge_valid, edge_taps = int(valid.sum()), g.pixels * taps
    invalid = edge_taps - edge_valid
    if variant == "rgb":
        terms.append(Term("im2col", edge_taps, L.IM2COL_TAP_RGB, "RGB: tap loop, inline copy"))
    else:
        terms.append(Term("im2col", edge_taps, L.IM2COL_TAP, "bounds-checked tap loop"))
        terms += _copy_terms("im2col", edge_valid, g.ch_in, reordered=(variant == "fast"))
    if invalid:
        fill_bytes = 2 * g.ch_in
        terms += [Term("im2col_call", invalid, L.MEM_CALL, "memset call (padding)"),
                  Term("im2col", invalid * fill_bytes, L.MEMSET_BYTE, "memset byte loop")]
    return terms


def conv_dsp_terms(g: ConvGeom, variant: str) -> list[Term]:
    """``arm_convolve_HWC_q7_{basic,fast,RGB}[_nonsquare]`` / 1x1 fast, ``ARM_MATH_DSP`` path."""
    reordered = variant in ("fast", "1x1")
    pairs, odd_pixel = divmod(g.pixels, 2)
    tiles, odd_row = divmod(g.ch_out, 2)
    quads, tail = divmod(g.cols, 4)
    quad = L.MM_QUAD_REORDERED if reordered else L.MM_QUAD_BASIC
    row_quad = L.MM_ROW_QUAD_REORDERED if reordered else L.MM_ROW_QUAD_BASIC
    odd_quad = L.ODD_PIXEL_QUAD_REORDERED if reordered else L.ODD_PIXEL_QUAD_BASIC
    terms = _im2col_terms(g, variant)
    terms += [
        Term("call", 1, L.CONV_CALL, "convolution function call"),
        Term("call", pairs, L.MM_CALL, "mat-mult kernel call (every 2 pixels)"),
        Term("mac_tile", pairs * tiles * quads, quad, "2x2 tile, 4-column loop"),
        Term("requant", pairs * tiles, L.MM_TILE, "2x2 tile: bias, shift, saturate, store"),
        Term("leftover", pairs * tiles * tail, L.MM_TAIL_COL, "2x2 tile, leftover columns"),
        Term("leftover", pairs * odd_row * quads, row_quad, "odd output channel, 4 columns"),
        Term("leftover", pairs * odd_row * tail, L.MM_ROW_TAIL_COL, "odd channel, tail cols"),
        Term("requant", pairs * odd_row, L.MM_ROW, "odd output channel: bias, store"),
        Term("leftover", odd_pixel * g.ch_out * quads, odd_quad, "odd last pixel, 4 columns"),
        Term("leftover", odd_pixel * g.ch_out * tail, L.ODD_PIXEL_TAIL, "odd pixel, tail cols"),
        Term("requant", odd_pixel * g.ch_out, L.ODD_PIXEL_CH, "odd pixel: bias, store"),
    ]
    return terms


def conv_c_terms(g: ConvGeom) -> list[Term]:
    """The plain-C reference path shared by every conv variant (loops o, y, x, m, n, l)."""
    outputs = g.pixels * g.ch_out
    valid = int(g.valid_taps().sum()) * g.ch_out
    return [Term("call", 1, L.CONV_CALL, "convolution function call"),
            Term("output", outputs, L.C_OUT, "per output: bias, shift, saturate, store"),
            Term("tap", outputs * g.k_h, L.C_KROW, "kernel-row loop"),
            Term("tap", outputs * g.k_h * g.k_w, L.C_TAP, "tap: bounds check, addresses"),
            Term("mac", valid * g.ch_in, L.C_MAC, "channel loop, one MAC")]


def relu_terms(size: int, dsp: bool) -> list[Term]:
    """``arm_relu_q7`` in place on ``size`` bytes."""
    if dsp:
        quads, tail = divmod(size, 4)
        return [Term("relu", 1, L.RELU_CALL, "arm_relu_q7 call"),
                Term("relu", quads, L.RELU_QUAD, "4-byte SIMD loop"),
                Term("relu", tail, L.RELU_BYTE, "tail bytes")]
    return [Term("relu", 1, L.RELU_CALL, "arm_relu_q7 call"),
            Term("relu", size, L.RELU_BYTE, "byte loop")]


def _windows(n_in: int, n_out: int, k: int, s: int, p: int, dsp_x: bool) -> np.ndarray:
    """Taps per window along one axis as the DSP pass clips it (``dsp_x``: the x-pass starts a
    window that begins in the padding at the *target* pixel)."""
    out = []
    for i in range(n_out):
        start = i * s - p
        ws = (i if dsp_x else 0) if start < 0 else start
        we = n_in if start + k >= n_in else start + k
        out.append(max(1, we - ws))
    return np.array(out)


def pool_dsp_terms(in_h, in_w, ch, out_h, out_w, k_h, k_w, s_h, s_w, p_h, p_w,
                   avg: bool) -> list[Term]:
    """``arm_{max,ave}pool_q7_HWC`` DSP path: x-pass over every input row, then y-pass."""
    wx = _windows(in_w, out_w, k_w, s_w, p_w, dsp_x=True)      # taps of each x window
    wy = _windows(in_h, out_h, k_h, s_h, p_h, dsp_x=False)     # rows of each y window
    row = out_w * ch
    n_x, extra_x = in_h * out_w, in_h * int((wx - 1).sum())    # windows, extra taps
    n_y, extra_y = out_h, int((wy - 1).sum())
    terms = [Term("call", 1, L.POOL_CALL, "pooling function call"),
             Term("window", n_x + n_y, L.POOL_WINDOW, "x-pass windows and y-pass rows"),
             Term("window", extra_x + extra_y, L.POOL_TAP_LOOP, "loop over window taps")]
    if not avg:
        for name, calls, length in (("x", n_x, ch), ("y", n_y, row)):
            terms += [Term("call", calls, L.MEM_CALL, f"{name}-pass memmove call"),
                      Term("copy", calls * length, L.MEM_BYTE, f"{name}-pass memmove bytes")]
        for name, calls, length in (("x", extra_x, ch), ("y", extra_y, row)):
            words, tail = divmod(length, 4)
            terms += [Term("call", calls, L.COMPARE_CALL, f"{name}-pass compare call"),
                      Term("compare", calls * words, L.COMPARE_WORD, f"{name}-pass 4-byte max"),
                      Term("compare", calls * tail, L.COMPARE_BYTE, f"{name}-pass tail max")]
        return terms
    for name, calls, length in (("x", n_x, ch), ("y", n_y, row)):
        terms += _copy_terms("copy", calls, length, reordered=False, call_name="call")
        terms += [Term("call", calls, L.SCALE_CALL, f"{name}-pass scale-back call"),
                  Term("divide", calls * length, L.SCALE_ELEM, f"{name}-pass q15 / count")]
    for name, calls, length in (("x", extra_x, ch), ("y", extra_y, row)):
        quads, tail = divmod(length, 4)
        terms += [Term("call", calls, L.ACC_CALL, f"{name}-pass accumulate call"),
                  Term("accumulate", calls * quads, L.ACC_QUAD, f"{name}-pass QADD16 loop"),
                  Term("accumulate", calls * tail, L.ACC_BYTE, f"{name}-pass tail")]
    return terms


def pool_c_terms(in_h, in_w, ch, out_h, out_w, k_h, k_w, s_h, s_w, p_h, p_w,
                 avg: bool) -> list[Term]:
    """Plain-C pooling: channel, output row, output column, then every window tap."""
    outputs = out_h * out_w * ch
    out_mix = L.POOLC_OUT + (Mix(div=1) if avg else Mix())
    return [Term("call", 1, L.POOL_CALL, "pooling function call"),
            Term("output", outputs, out_mix, "per output: init, store"),
            Term("tap", outputs * k_h, L.POOLC_ROW, "window-row loop"),
            Term("tap", outputs * k_h * k_w, L.POOLC_TAP, "window tap: bounds, load, max")]


def fc_dsp_terms(dim_vec: int, rows: int, opt: bool) -> list[Term]:
    """``arm_fully_connected_q7[_opt]`` DSP path (vector expanded to q15 first)."""
    terms = [Term("call", 1, L.FC_CALL, "FC function call")]
    terms += _copy_terms("vec_expand", 1, dim_vec, reordered=True, call_name="call")
    quads, tail = divmod(dim_vec, 4)
    if opt:
        groups, rest = divmod(rows, 4)
        terms += [Term("mac_tile", groups * quads, L.FCO_COL, "4 rows x 4 columns"),
                  Term("leftover", groups * tail, L.FCO_TAIL_COL, "4 rows, leftover column"),
                  Term("requant", groups, L.FCO_ROWS, "4 rows: bias, shift, saturate, store")]
    else:
        groups, rest = divmod(rows, 2)
        terms += [Term("mac_tile", groups * quads, L.FCQ_COL, "2 rows x 4 columns"),
                  Term("leftover", groups * tail, L.FCQ_TAIL_COL, "2 rows, leftover column"),
                  Term("requant", groups, L.FCQ_ROWS, "2 rows: bias, shift, saturate, store")]
    terms += [Term("leftover", rest * quads, L.FC_ROW_QUAD, "leftover row, 4 columns"),
              Term("leftover", rest * tail, L.FC_ROW_TAIL, "leftover row, tail columns"),
              Term("requant", rest, L.FC_ROW, "leftover row: bias, store")]
    return terms


def fc_c_terms(dim_vec: int, rows: int, opt: bool, name: str = "FC") -> list[Term]:
    """Plain-C FC (the ``_opt`` kernel's 4-row loop, or one row at a time)."""
    terms = [Term("call", 1, L.FC_CALL, f"{name} function call")]
    if opt:
        groups, rest = divmod(rows, 4)
        quads, tail = divmod(dim_vec, 4)
        terms += [Term("mac_tile", groups * quads, L.FCOC_COL, "4 rows x 4 columns, byte loads"),
                  Term("leftover", groups * tail, L.FCO_TAIL_COL, "4 rows, leftover column"),
                  Term("requant", groups, L.FCO_ROWS, "4 rows: bias, shift, saturate, store")]
    else:
        rest = rows
    terms += [Term("mac_tile" if not opt else "leftover", rest * dim_vec, L.FCC_MAC,
                   "one row, one MAC"),
              Term("requant", rest, L.FC_ROW, "row: bias, shift, saturate, store")]
    return terms


def rnn_terms(feature: int, units: int) -> list[Term]:
    """One time step of nnom's simple cell: ``local_dot_q7_opt`` (U h), then
    ``local_fully_connected_q7_opt`` (W x + b), ``local_add_q7``, the table activation and the
    state copy. nnom runs its plain-C ``local_*`` kernels in every build."""
    terms = [Term("call", 1, L.RNN_STEP, "rnn_run/simple_cell_run bookkeeping")]
    terms += fc_c_terms(units, units, opt=True, name="local_dot_q7_opt")
    terms += fc_c_terms(feature, units, opt=True, name="local_fully_connected_q7_opt")
    terms += [Term("elementwise", units, L.ADD_ELEM, "local_add_q7"),
              Term("elementwise", units, L.ACT_ELEM, "local_tanh_q7 table lookup"),
              Term("elementwise", 1, L.MEM_CALL, "memcpy call"),
              Term("elementwise", units, L.MEM_BYTE, "memcpy bytes")]
    return terms


def _fc_q15_terms(dim_vec: int, rows: int, name: str) -> list[Term]:
    """nnom ``local_fully_connected_mat_q7_vec_q15_opt``: 4 rows x 2 columns, int64 sums."""
    groups, rest = divmod(rows, 4)
    pairs, odd = divmod(dim_vec, 2)
    return [Term("call", 1, L.FC_CALL, f"{name} call"),
            Term("mac_tile", groups * pairs, L.FCQ15_COL, "4 rows x 2 columns (q15 vector)"),
            Term("leftover", groups * odd, L.FCQ15_TAIL_COL, "4 rows, odd last column"),
            Term("requant", groups, L.FCQ15_ROWS, "4 rows: bias, shift, saturate16, store"),
            Term("leftover", rest * dim_vec, L.FCC_MAC, "leftover row, one MAC"),
            Term("requant", rest, L.FC_ROW, "leftover row: bias, shift, store")]


def gru_terms(feature: int, units: int) -> list[Term]:
    """One time step of nnom's GRU cell (``gru_cell_run``, q15 state). UNVALIDATED: no measured
    GRU timing exists; the terms follow the C like :func:`rnn_terms`. ``local_q7_to_q15`` of
    the input, ``local_fully_connected_mat_q7_vec_q15_opt`` on ``x`` and on ``h`` (3*units
    rows each), then the q15 element-wise gates."""
    n3 = 3 * units
    terms = [Term("call", 1, L.GRU_STEP, "rnn_run/gru_cell_run bookkeeping"),
             Term("elementwise", feature, L.Q7_TO_Q15_ELEM, "local_q7_to_q15")]
    terms += _fc_q15_terms(feature, n3, "local_fully_connected_mat_q7_vec_q15_opt (W x)")
    terms += _fc_q15_terms(units, n3, "local_fully_connected_mat_q7_vec_q15_opt (U h)")
    terms += [Term("elementwise", 4 * units, L.ADD_Q15_ELEM, "local_add_q15 (z, r, hh, h)"),
              Term("elementwise", 3 * units, L.ACT_Q15_ELEM, "local_sigmoid/tanh_q15"),
              Term("elementwise", 3 * units, L.MULT_Q15_ELEM, "local_mult_q15 (r, z, 1-z)"),
              Term("elementwise", 2 * units, L.ONE_MINUS_ELEM,
                   "local_1_minor_z_q15, local_q15_to_q7")]
    return terms


def flash_line_reads(block_bytes: int, passes: int, cache_bytes: int, line_bytes: int) -> int:
    """Flash line reads that miss the data cache when a ``block_bytes`` weight block is streamed
    ``passes`` times: every line once if the block fits the cache, else every line every pass
    (a cyclic sweep larger than an LRU cache never hits)."""
    lines = -(-block_bytes // line_bytes)
    return int(lines if block_bytes <= cache_bytes else lines * passes)
