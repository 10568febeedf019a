"""Instruction mixes of the CMSIS-NN s8/s4 loop bodies (what one pass of each loop costs).

Counted from the C bodies named in :mod:`edgesed.cycles.s8` (which says what comes from where);
each :class:`~edgesed.cycles.isa.Mix` is one pass of one loop body in instruction classes, and
:func:`vec` is the MVE (Helium) dual-beat rule. :mod:`edgesed.cycles.s8` multiplies them by the
pass counts of a layer.
"""
from __future__ import annotations

from edgesed.cycles import loops as L
from edgesed.cycles.isa import Mix

__all__ = ["vec", "AVG16_MVE_OUT", "AVG16_MVE_TAP", "AVGC_OUT", "AVGC_TAP", "AVG_ACC", "AVG_COPY", "AVG_SCALE", "CLAMP16_MVE", "CLAMP_BYTE", "CLAMP_WORD", "DW3_GROUP", "DW3_ROW", "DW3_TAP_C", "DW3_TAP_DSP", "DWG_OUT", "DWG_TAP", "DWM4_TAP", "DWO_GROUP", "DWO_MVE_GROUP", "DWO_MVE_TAP", "DWO_ODD", "DWO_PAIR", "DW_CALL", "DW_CH1", "DW_PIXEL", "DW_TAP1", "EXP", "FC1_MVE", "FC4_MVE", "FC4_MVE_ROWS", "FC_C1_COL", "FC_C3_COL", "FC_CALL", "FC_GROUP", "FC_PAIR_COL", "FC_PAIR_QUAD", "FC_ROW_COL", "FC_ROW_QUAD", "LSTM_ACC", "LSTM_ACT", "LSTM_MUL", "LSTM_STEP", "MAX16_MVE", "MM_CALL", "MM_C_COL", "MM_ROW_COL", "MM_ROW_QUAD", "MM_S8_QUAD", "MM_TILE", "MVE_COPY16", "MVE_SET16", "NT1_16", "NT1_4", "NT1_COL", "NT1_MVE", "NT1_MVE_ROW", "NT4_MVE", "NT4_MVE_ROW", "NT_16", "NT_4", "NT_CALL", "NT_COL", "NT_ODD_MAC", "NT_OFFSET_COL", "NT_PAIR", "NT_TILE", "ODD_COL", "ODD_QUAD", "POOL_CALL", "POOL_PIXEL", "POOL_TAP", "REQ", "REQ4_MVE", "REQ_T", "S4_UNPACK", "S8S16_ELEM", "S8S16_QUAD", "SM_CALL", "SM_MAX", "SM_OUT", "SM_ROW", "SM_SUM"]


def vec(n_ld: float, n_op: float) -> Mix:
    """MVE instructions on the dual-beat M55: ``2 (n_ld + n_op) - min(n_ld, n_op)`` cycles."""
    return Mix(dsp=2 * (n_ld + n_op) - min(n_ld, n_op))


# ---------------------------------------------------------------- output stage
#: ``arm_nn_requantize`` (double rounding) + offset + clamp + STRB, per-channel multiplier and
#: shift loaded: LDR x2, LEFT/RIGHT_SHIFT (4), LSL, MOV x2 + SMLAL + LSRS/ORR (doubling high
#: mult), divide_by_power_of_two (mask 3, AND, ASR, threshold 2, compare/IT/ADD 3), ADD offset,
#: MAX and MIN (CMP/IT/MOV x2), STRB
REQ = Mix(ld=1, ldp=1, mac=1, alu=24, st=1)
#: the same with a per-tensor multiplier/shift held in registers (fully connected)
REQ_T = Mix(mac=1, alu=22, st=1)
#: MVE ``arm_requantize_mve_32x4`` + offset + VMAX/VMIN + predicated VSTRB of 4 outputs
#: (VCMP, 2 VPSEL, VNEG, VSHL, VQRDMULH, 4 rounding-shift ops, VADD, VMAX, VMIN; 1 store)
REQ4_MVE = vec(1, 13)

# ---------------------------------------------------------------- arm_convolve_s8 (im2col)
#: ``arm_s8_to_s16_unordered_with_offset`` 4 elements: LDR, 2 SXTAB16, 2 STR, SUBS, BNE
S8S16_QUAD = Mix(ld=1, dsp=2, st=2, alu=1, br=1)
#: its tail element and the plain-C ``arm_q7_to_q15_with_offset`` element: LDRSB, ADD, STRH, loop
S8S16_ELEM = Mix(ld=1, alu=2, st=1, br=1)
#: ``arm_nn_mat_mult_kernel_s8_s16`` 2x2 tile, 4 columns (16 MAC): research notes §4.5
#: disassembly, 26 instructions: 7 loads (4 q15 pairs, 2 weight words, 1 reload), 4 SXTB16,
#: 8 SMLAD, 6 ALU, BNE
MM_S8_QUAD = Mix(ld=3, ldp=4, dsp=4, mac=8, alu=6, br=1)
#: plain C, one column of the 2x2 tile: 2 LDRSB + 2 LDRSH, 4 MLA, SUBS, BNE
MM_C_COL = Mix(ld=1, ldp=3, mac=4, alu=1, br=1)
#: per 2x2 tile: 2 bias loads, 4 accumulator copies, pointer setup, row loop
MM_TILE = Mix(alu=10, ld=1, ldp=1, br=1)
#: odd output channel x 2 pixels, 4 columns: 4 q15-pair loads + 1 weight word, 2 SXTB16, 4 SMLAD
MM_ROW_QUAD = Mix(ld=2, ldp=3, dsp=2, mac=4, alu=1, br=1)
MM_ROW_COL = Mix(ld=1, ldp=2, mac=2, alu=1, br=1)
#: odd last pixel per channel and 4 columns: read_and_pad_reordered + 2 q15 pairs, 2 SMLAD
ODD_QUAD = Mix(ld=1, ldp=2, dsp=2, mac=2, alu=1, br=1)
ODD_COL = Mix(ld=1, ldp=1, mac=1, alu=1, br=1)
#: the kernel call (12 arguments, 8 stacked) every 2 pixels
MM_CALL = L.call(saved=8, arg_moves=4, stacked_args=8) + Mix(alu=6)

# ---------------------------------------------------------------- arm_nn_mat_mult_nt_t_s8
#: DSP 4-column body, 2 weight rows x 2 pixels (16 MAC): 4 word loads (paired), 8 SXTB16,
#: 8 SMLAD, index ADD/CMP/BLE
NT_4 = Mix(ld=2, ldp=2, dsp=8, mac=8, alu=2, br=1)
#: the unrolled 16-column body (64 MAC): four 4-column bodies, one loop test
NT_16 = Mix(ld=8, ldp=8, dsp=32, mac=32, alu=2, br=1)
#: one leftover column of the 2x2 tile (DSP and plain C): 4 LDRSB, 4 MLA, loop
NT_COL = Mix(ld=1, ldp=3, mac=4, alu=2, br=1)
#: odd pixel x 2 weight rows: 4-column body (3 words, 6 SXTB16, 4 SMLAD), 16-column body, column
NT1_4 = Mix(ld=2, ldp=1, dsp=6, mac=4, alu=2, br=1)
NT1_16 = Mix(ld=8, ldp=4, dsp=24, mac=16, alu=2, br=1)
NT1_COL = Mix(ld=1, ldp=2, mac=2, alu=2, br=1)
#: per weight-row pair: the offset contribution loop (2 LDRSB, 2 ADD, loop) ...
NT_OFFSET_COL = Mix(ld=1, ldp=1, alu=3, br=1)
#: ... then 2 MUL by lhs_offset, 2 bias loads and adds, pointers
NT_PAIR = Mix(mac=2, ld=1, ldp=1, alu=8, br=1)
#: per 2x2 tile: 4 accumulator copies, pointer resets and advances, loop
NT_TILE = Mix(alu=10, br=1)
#: odd weight row, one MAC: 2 LDRSB, ADD offset, MLA, loop
NT_ODD_MAC = Mix(ld=1, ldp=1, alu=2, mac=1, br=1)
NT_CALL = L.call(saved=8, arg_moves=4, stacked_args=10) + Mix(alu=8)
#: MVE, 4 pixels x 1 weight row x 16 columns (64 MAC): 5 VLDRB, VADDVA, 4 VMLADAVA, LETP
NT4_MVE = vec(5, 5) + Mix(br=1)
#: MVE per 4 pixels x weight row: pointers (8), sum*offset MUL, bias, VADD, requant, scatter
NT4_MVE_ROW = Mix(alu=10, mac=1, ld=1, br=1) + vec(1, 1) + REQ4_MVE
#: MVE leftover pixel x 16 columns: 2 VLDRB, VADDVA, VMLADAVA, LETP; per weight row setup
NT1_MVE = vec(2, 2) + Mix(br=1)
NT1_MVE_ROW = Mix(alu=8, mac=1, ld=1, st=1, br=1) + vec(1, 0)

# ---------------------------------------------------------------- im2col taps, MVE copies
#: MVE ``arm_memcpy_s8``/``arm_memset_s8`` (inline WLSTP loops): per 16 bytes VLDRB+VSTRB / VSTRB
MVE_COPY16 = vec(2, 0) + Mix(br=1)
MVE_SET16 = vec(1, 0) + Mix(br=1)

# ---------------------------------------------------------------- fully connected
FC_CALL = L.call(saved=8, arg_moves=4, stacked_args=11) * 2 + Mix(alu=12)
#: DSP ``vec_mat_mult_t_s8``: 2 rows x 4 columns (8 MAC): 3 LDR, 2 SXTAB16 + 4 SXTB16, 4 SMLAD;
#: the loop test amortised over the file's ``#pragma GCC optimize("unroll-loops")`` (x4)
FC_PAIR_QUAD = Mix(ld=3, dsp=6, mac=4, alu=0.5, br=0.25)
FC_PAIR_COL = Mix(ld=1, ldp=2, alu=3, mac=2, br=1)
FC_ROW_QUAD = Mix(ld=2, dsp=4, mac=2, alu=0.5, br=0.25)
FC_ROW_COL = Mix(ld=1, ldp=1, alu=3, mac=1, br=1)
#: per row group: bias loads, pointer setup, loop
FC_GROUP = Mix(alu=8, ld=1, ldp=1, br=1)
#: plain C: 3 rows, one column (3 MAC): 4 LDRSB, ADD offset, 3 MLA, loop
FC_C3_COL = Mix(ld=1, ldp=3, alu=2, mac=3, br=1)
FC_C1_COL = Mix(ld=1, ldp=1, alu=2, mac=1, br=1)
#: MVE: 4 rows x 16 columns (64 MAC): VCTP, 5 VLDRB, 4 VMLADAVA, loop; per 4 rows: requant
FC4_MVE = vec(5, 5) + Mix(alu=2, br=1)
FC4_MVE_ROWS = Mix(alu=12, ld=2, ldp=2, br=1) + vec(0, 3) + REQ4_MVE
FC1_MVE = vec(2, 2) + Mix(alu=2, br=1)

# ---------------------------------------------------------------- depthwise
#: per output pixel: base indices, kernel start, loop
DW_PIXEL = Mix(alu=6, br=1)
#: 3x3 kernel, per 4 channels: bias x4, input/kernel addresses (2 MLA), loop
DW3_GROUP = Mix(alu=10, mac=2, ld=1, ldp=3, br=1)
#: per valid kernel row: the two column tests, pointer advances, loop
DW3_ROW = Mix(alu=6, br=2)
#: one valid tap x 4 channels: LDR input, LDR kernel, SXTAB16 (x2) + SXTB16 (x2), 4 SMLAxy
DW3_TAP_DSP = Mix(ld=1, ldp=1, dsp=4, mac=4)
#: plain C: 2 LDR, 4 x (SXTB ror, ADD offset, SXTB ror, MLA)
DW3_TAP_C = Mix(ld=1, ldp=1, alu=12, mac=4)
#: leftover channel: per valid tap 2 LDRSB, ADD, MLA; per channel setup
DW_TAP1 = Mix(ld=1, ldp=1, alu=1, mac=1)
DW_CH1 = Mix(alu=8, ld=1, br=1)
#: _opt DSP: 4 channels x 2 taps (8 MAC): 2 LDR weights, 4 LDR q15 pairs, 4 SXTB16, 8 PKH,
#: 4 SMLAD, 2 pointer ADD, loop
DWO_PAIR = Mix(ld=2, ldp=4, dsp=12, mac=4, alu=3, br=1)
#: _opt odd tap x 4 channels: 4 x (LDRSB, LDRSH, MLA)
DWO_ODD = Mix(ld=2, ldp=6, mac=4, alu=2)
#: _opt per 4 channels: bias x4, pointers, loop
DWO_GROUP = Mix(alu=8, ld=1, ldp=3, br=1)
#: generic (ch_mult != 1 or dilation): per output the kernel ranges (2 branches), bias ...
DWG_OUT = Mix(alu=16, ld=1, br=3)
#: ... and per valid tap: 2 index MLA + ADD, 2 LDRSB, ADD offset, MLA, loop
DWG_TAP = Mix(ld=1, ldp=1, alu=4, mac=3, br=1)
#: ``depthwise_conv_s8_mult_4`` per valid tap: LDRSB + ADD, 4 LDRSB kernel, 4 MLA, loop
DWM4_TAP = Mix(ld=2, ldp=4, alu=3, mac=4, br=1)
DW_CALL = L.call(saved=8, arg_moves=4, stacked_args=7) + Mix(alu=20)
#: MVE _opt: per tap and 4 pixels x 4 channels (16 MAC): 5 VLDRB.S32, VADD, 4 VMUL + 4 VADD
DWO_MVE_TAP = vec(5, 9)
#: per 4 pixels x 4 channels: bias/mult/shift VLDRW, ker_sum scale (5), 4 requants
DWO_MVE_GROUP = Mix(alu=10, br=1) + vec(3, 5) + REQ4_MVE * 4

# ---------------------------------------------------------------- pooling
POOL_PIXEL = Mix(alu=14, br=2)
#: per valid tap: address (2 MLA, ADD), first-tap test
POOL_TAP = Mix(alu=4, mac=2, br=1)
#: ``clamp_output`` per 4 bytes: LDR, 4 x (SBFX, 2 x CMP/IT/MOV, BFI), STR, loop
CLAMP_WORD = Mix(ld=1, alu=26, st=1, br=1)
CLAMP_BYTE = Mix(ld=1, alu=6, st=1, br=1)
#: avgpool DSP: copy (LDRSB, STR, loop) / accumulate (LDRSB, LDR, QADD, STR, loop) per channel
AVG_COPY = Mix(ld=1, st=1, alu=1, br=1)
AVG_ACC = Mix(ld=1, ldp=1, dsp=1, st=1, alu=1, br=1)
#: ``scale_q31_to_q7_and_clamp`` per channel: LDR, CMP, IT, ADD/SUB, SDIV, clamp, STRB, loop
AVG_SCALE = Mix(ld=1, alu=9, div=1, st=1, br=1)
#: plain-C avgpool per output element: init, rounding, SDIV, clamp, address, STRB, loop
AVGC_OUT = Mix(alu=14, mac=2, div=1, st=1, br=1)
#: plain-C avgpool per (valid or not) tap: 4 compares, address (2 MLA), LDRSB, ADD, count++
AVGC_TAP = Mix(alu=12, mac=2, ld=1, br=1)
#: MVE max/avg per 16 channels: compare (VCTP, 2 VLDRB, VMAX, VSTRB), clamp (VLDRB, VMAX,
#: VMIN, VSTRB), avg accumulate (VLDRB, 6 VMOVL, 4 VADD)
MAX16_MVE = vec(3, 2) + Mix(alu=2, br=1)
CLAMP16_MVE = vec(2, 3) + Mix(alu=1, br=1)
AVG16_MVE_TAP = vec(1, 10) + Mix(alu=3, br=1)
#: MVE avg per 16 channels: 4 VCMP + 8 masked VADD/VSUB, 16 lane SDIV (VMOV out, SDIV, VMOV in),
#: 8 VMAX/VMIN, 6 VMOVN, VSTRB
AVG16_MVE_OUT = vec(1, 26) + Mix(alu=32, div=16, br=1)
POOL_CALL = L.call(saved=8, arg_moves=4, stacked_args=3) + Mix(alu=16)

# ---------------------------------------------------------------- softmax
#: gemmlowp ``exp_on_negative_values``: 12 saturating doubling high multiplies (sign test,
#: SMLAL, 64-bit /2^31, saturation: ~11 ALU + 1 MAC each), 7 masks/selects, 2 rounding shifts
#: [estimate from the C; not disassembled]
EXP = Mix(alu=180, mac=12)
#: per row: ``ONE_OVER1`` Newton-Raphson (12 MUL_SAT), CLZ, shifts
SM_ROW = Mix(alu=150, mac=12, br=2)
SM_MAX = Mix(ld=1, alu=3, br=1)
#: per element of the sum pass (besides EXP): LDRSB, SUB, compare, MUL_SAT input scaling
#: (12), DIV_POW2 (8), ADD, loop
SM_SUM = Mix(ld=1, alu=24, mac=1, br=2)
#: per element of the output pass (besides EXP): as the sum pass + MUL_SAT, DIV_POW2, clamp, STRB
SM_OUT = Mix(ld=1, alu=44, mac=2, st=1, br=2)
SM_CALL = L.call(saved=8, arg_moves=4, stacked_args=4) + Mix(alu=8)

# ---------------------------------------------------------------- LSTM (arm_lstm_unidirectional_s8)
#: ``arm_nn_vec_mat_mul_result_acc_s8_s16`` output: requant (per tensor), add to the int16
#: result, SSAT 16, STRH (on top of the FC row output)
LSTM_ACC = Mix(ld=1, alu=1, dsp=1, st=1)
#: ``arm_nn_activation_s16`` (sigmoid/tanh LUT + interpolation) per element: LDRSH, index and
#: fraction shifts/masks, 2 LDRH table, SUB, MUL, ASR, ADD, STRH, loop
LSTM_ACT = Mix(ld=1, ldp=2, alu=9, mac=1, st=1, br=1)
#: ``arm_elementwise_mul_s16[_s8]`` / ``_mul_acc_s16`` per element: 2 LDRSH, MUL, requant, SSAT,
#: STRH, loop
LSTM_MUL = Mix(ld=1, ldp=1, mac=2, alu=22, dsp=1, st=1, br=1)
#: per step: about 16 calls (4 gates x (2 products + activation), 3 element-wise, tanh, clip)
LSTM_STEP = L.call(saved=6, arg_moves=4, stacked_args=6) * 16 + Mix(alu=40, ld=10)

#: s4 nibble unpack over the s8 load + SXTB16s, per 4 weights (DSP), per weight (C), and per
#: 16 weights on MVE (gather load replaces the plain load; VRSHL + VSHR)
S4_UNPACK = {"dsp": Mix(alu=4, dsp=6), "c": Mix(alu=1.5), "mve": vec(0, 2)}
