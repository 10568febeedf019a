"""Loop bodies of the CMSIS-NN (CMSIS_5 5.6.0) and nnom C kernels, as instruction mixes.

Each constant is one pass through one C loop body (or one call's fixed overhead), counted from
the C source as ``arm-none-eabi-gcc -O2`` compiles it for Thumb-2 (loads grouped so that they
pipeline, loop-invariant values kept in registers until the 14 allocatable registers run out,
``uint16_t`` counters kept in 32-bit registers). Where the research notes give a disassembly
count (``../shared/research/cmsis_nn.md`` §4.5, gcc 12.2 -O3), the mix follows it. Nothing in
this module is fitted; every coefficient belongs to a kernel variant's loop, never to a layer.

Library calls: ``memmove``/``memset``/``memcpy`` are newlib-nano's byte loops (the default of
STM32CubeIDE and ``--specs=nano.specs``). ``compare_and_replace_if_larger_q7`` and the
``arm_q7_to_q15*`` helpers are real calls (separate translation unit or shared by several
callers, so not inlined).
"""
from __future__ import annotations

from edgesed.cycles.isa import Mix


def call(saved: int, arg_moves: int = 3, stacked_args: int = 0) -> Mix:
    """Fixed cost of one call: caller's argument moves and stores, ``BL``, ``PUSH {saved, lr}``,
    ``POP {saved, pc}`` (the PC load is the ``ret``)."""
    return Mix(alu=arg_moves, st=stacked_args, call=1, stk=2 * saved + 1, ret=1,
               ld=1 if stacked_args else 0, ldp=max(0, stacked_args - 1))


# ---------------------------------------------------------------- arm_q7_to_q15*_no_shift
#: call + prologue/epilogue + ``blkCnt = n >> 2``, loop tests, ``n & 3``
COPY_CALL = call(saved=2) + Mix(alu=4, br=1)
#: ``arm_q7_to_q15_no_shift`` 4-element body: LDR, ROR, 2 SXTB16, PKHTB, PKHBT, 2 STR, SUBS, BNE
COPY_QUAD = Mix(ld=1, dsp=5, st=2, alu=1, br=1)
#: ``arm_q7_to_q15_reordered_no_shift`` 4-element body: LDR, ROR, 2 SXTB16, 2 STR, SUBS, BNE
COPY_QUAD_REORDERED = Mix(ld=1, dsp=3, st=2, alu=1, br=1)
#: tail element (both): LDRSB, STRH, SUBS, BNE
COPY_TAIL = Mix(ld=1, st=1, alu=1, br=1)
#: newlib-nano ``memset``/``memmove``/``memcpy``: call, overlap test, per byte LDRB/STRB/CMP/BNE
MEM_CALL = call(saved=1) + Mix(alu=4, br=1)
MEM_BYTE = Mix(ld=1, st=1, alu=1, br=1)
MEMSET_BYTE = Mix(st=1, alu=1, br=1)

# ---------------------------------------------------------------- convolution: im2col loops
#: one kernel tap of the bounds-checked im2col (basic kernels; padded edges of fast ones):
#: 4 compares + 4 not-taken branches, (y*w + x)*ch (MLA, MUL, ADD), pBuffer += ch, kx loop
#: (ADD, SXTH of the int16_t counter, CMP, BLT), one spilled value reloaded
IM2COL_TAP = Mix(alu=13, mac=2, ld=1, br=1)
#: one kernel row of the fast kernels' unpadded middle region: address (MLA, MUL, 2 ADD),
#: pBuffer += ch*kx, ky loop, one reload
IM2COL_ROW = Mix(alu=6, mac=2, ld=1, br=1)
#: one output pixel: x loop, window bounds (i_out_x*stride - pad), the
#: ``pBuffer == bufferA + 2*K`` test with its reload
IM2COL_PIXEL = Mix(alu=8, mac=1, ld=1, br=1)
#: RGB kernel's inline 3-channel copy per tap: bounds as IM2COL_TAP, then LDR (4 bytes),
#: ROR, 2 SXTB16, PKHTB, 2 stores of q15 pairs (no call)
IM2COL_TAP_RGB = Mix(alu=13, mac=2, ld=2, dsp=4, st=2, br=1)

# ---------------------------------------------------------------- convolution: matrix multiply
#: ``arm_nn_mat_mult_kernel_q7_q15_reordered`` 2x2 tile, 4 columns (16 MAC): 7 LDR (4 q15
#: pairs, 2 weight words, 1 spill reload), 2 ROR, 4 SXTB16, 8 SMLAD, 3 loop ALU + BNE
#: (research notes §4.5 disassembly: 25 instructions / 16 MAC)
MM_QUAD_REORDERED = Mix(ld=3, ldp=4, dsp=6, mac=8, alu=3, br=1)
#: the non-reordered kernel (``read_and_pad``) adds PKHTB + PKHBT per weight word
MM_QUAD_BASIC = MM_QUAD_REORDERED + Mix(dsp=4)
#: 2x2 tile leftover column (``numCol_A & 3``): 2 LDRSB + 2 LDRSH, 4 MLA, SUBS, BNE
MM_TAIL_COL = Mix(ld=1, ldp=3, mac=4, alu=1, br=1)
#: per 2x2 tile: pointer setup, 2 bias loads, 4 x (bias << shift + round), counters,
#: 4 x (ASR, SSAT, STRB), pA += numCol, rowCnt loop
MM_TILE = Mix(alu=18, ld=1, ldp=1, dsp=4, st=4, br=1)
#: odd output channel (1 row x 2 pixels), per 4 columns: 5 LDR, ROR + 2 SXTB16, 4 SMLAD
MM_ROW_QUAD_REORDERED = Mix(ld=2, ldp=3, dsp=3, mac=4, alu=1, br=1)
MM_ROW_QUAD_BASIC = MM_ROW_QUAD_REORDERED + Mix(dsp=2)
MM_ROW_TAIL_COL = Mix(ld=1, ldp=2, mac=2, alu=1, br=1)
MM_ROW = Mix(alu=10, ld=1, dsp=2, st=2, br=1)
#: one ``arm_nn_mat_mult_kernel_q7_q15*`` call (every 2 pixels): 4 register + 4 stacked
#: arguments, PUSH/POP {r4-r11, lr}, stacked-argument loads, setup; caller resets pBuffer
MM_CALL = call(saved=8, arg_moves=5, stacked_args=4) + Mix(alu=5)
#: odd last pixel, per output channel: bias, 2 counters, ASR/SSAT/STRB, loop
ODD_PIXEL_CH = Mix(alu=8, ld=1, dsp=1, st=1, br=1)
#: odd last pixel, 4 columns: read_and_pad_reordered (LDR, ROR, 2 SXTB16), 2 LDR, 2 SMLAD
ODD_PIXEL_QUAD_REORDERED = Mix(ld=1, ldp=2, dsp=3, mac=2, alu=1, br=1)
ODD_PIXEL_QUAD_BASIC = ODD_PIXEL_QUAD_REORDERED + Mix(dsp=2)
ODD_PIXEL_TAIL = Mix(ld=1, ldp=1, mac=1, alu=1, br=1)
#: the convolution function itself: PUSH/POP {r4-r11, lr}, 16 stacked arguments, setup
CONV_CALL = call(saved=8, arg_moves=4, stacked_args=12) + Mix(alu=20)

# ---------------------------------------------------------------- convolution: plain C
#: innermost ``l`` loop (one MAC): LDRSB x (post-inc), LDRSB w (post-inc), MLA, CMP, BNE
C_MAC = Mix(ld=1, ldp=1, mac=1, alu=1, br=1)
#: one (m, n) tap: in_row/in_col (MLA, 2 ADD), 4 compares + 4 not-taken branches, the two
#: base addresses of the l loop (2 MUL/MLA, 3 ADD), loop entry test, n loop, 2 spill reloads
C_TAP = Mix(alu=17, mac=3, ld=2, br=1)
#: one kernel row (m loop) per output
C_KROW = Mix(alu=3, mac=1, br=1)
#: one output element: bias load, << bias_shift + round, output address (MLA), ASR, SSAT,
#: STRB, k loop
C_OUT = Mix(alu=7, ld=1, mac=1, dsp=1, st=1, br=1)

# ---------------------------------------------------------------- ReLU (arm_relu_q7)
RELU_CALL = call(saved=2) + Mix(alu=4, ld=1)
#: DSP: 4 bytes: LDR, AND 0x80808080, ROR 7, QSUB8, BIC, STR, SUBS, BNE
RELU_QUAD = Mix(ld=1, alu=3, dsp=2, st=1, br=1)
#: DSP tail byte and plain-C byte: LDRSB, CMP, IT + STRB, ADDS/CMP, BNE
RELU_BYTE = Mix(ld=1, alu=3, st=1, br=1)

# ---------------------------------------------------------------- max/avg pooling, DSP path
#: one x-pass window or y-pass row: target/window addresses (3 MUL/MLA), two if/else
#: diamonds (one taken branch each), a reload
POOL_WINDOW = Mix(alu=10, mac=4, ld=1, br=2)
#: one step of the ``for (; win_start < win_stop; ...)`` loop around the compare call
POOL_TAP_LOOP = Mix(alu=2, br=1)
#: ``compare_and_replace_if_larger_q7`` call: PUSH/POP {r4-r7, lr}, cnt = len >> 2, tests
COMPARE_CALL = call(saved=4) + Mix(alu=4, br=1)
#: one 4-byte word: 2 LDR, 4 x (2 SXTB/SBFX, CMP, IT, BFI), STR, SUBS, BNE
COMPARE_WORD = Mix(ld=1, ldp=1, alu=21, st=1, br=1)
#: one tail byte (``length & 3``): 2 LDRSB, CMP, IT + STRB, 2 ADD, SUBS, BNE
COMPARE_BYTE = Mix(ld=1, ldp=1, alu=5, st=1, br=1)
#: ``accumulate_q7_to_q15`` call and 4-byte body: LDR, ROR, 2 SXTB16, PKHTB, PKHBT,
#: 2 x (LDR, QADD16, STR), SUBS, BNE
ACC_CALL = call(saved=4) + Mix(alu=4, br=1)
ACC_QUAD = Mix(ld=2, ldp=1, dsp=7, st=2, alu=1, br=1)
ACC_BYTE = Mix(ld=1, ldp=1, alu=2, st=1, br=1)
#: ``buffer_scale_back_q15_to_q7`` per element: LDRSH, SDIV, STRB, loop
SCALE_CALL = call(saved=1) + Mix(alu=3)
SCALE_ELEM = Mix(ld=1, div=1, st=1, alu=2, br=1)
#: the pooling function itself
POOL_CALL = call(saved=8, arg_moves=4, stacked_args=5) + Mix(alu=12)

# ---------------------------------------------------------------- max/avg pooling, plain C
#: one (k_y, k_x) tap: 4 compares + branches, address (2 MUL/MLA, ADD), LDRSB, CMP, IT MOVGT
#: (avg: ADD + count++), k_x loop (ADD, SXTH, CMP, BLT)
POOLC_TAP = Mix(alu=14, mac=2, ld=1, br=1)
#: one k_y row
POOLC_ROW = Mix(alu=4, mac=1, br=1)
#: one output element: init, store address (2 MUL/MLA), STRB, i_x loop (avg adds SDIV)
POOLC_OUT = Mix(alu=5, mac=2, st=1, br=1)

# ---------------------------------------------------------------- fully connected
#: ``arm_fully_connected_q7[_opt]``: PUSH/POP {r4-r11, lr}, 5 stacked arguments
FC_CALL = call(saved=8, arg_moves=4, stacked_args=5) + Mix(alu=8)
#: _opt DSP, 4 rows x 4 columns (16 MAC): 2 q15-pair loads, 4 weight words, 4 ROR,
#: 8 SXTB16, 8 SMLAD, loop (research notes §4.5: 30 instructions / 16 MAC)
FCO_COL = Mix(ld=2, ldp=4, dsp=12, mac=8, alu=3, br=1)
#: _opt, one leftover column x 4 rows: LDRSH + 4 LDRSB, 4 MLA
FCO_TAIL_COL = Mix(ld=1, ldp=4, mac=4, alu=1, br=1)
#: _opt, per 4 rows: 4 bias loads, 4 x (<< + round), counters, 4 x (ASR, SSAT, STRB), loop
FCO_ROWS = Mix(alu=15, ld=1, ldp=3, dsp=4, st=4, br=1)
#: one leftover row (``rows & 3``, both kernels): bias, counters, ASR/SSAT/STRB, loop
FC_ROW = Mix(alu=6, ld=1, dsp=1, st=1, br=1)
#: leftover row, 4 columns: read_and_pad_reordered + 2 q15-pair loads + 2 SMLAD
FC_ROW_QUAD = Mix(ld=1, ldp=2, dsp=3, mac=2, alu=1, br=1)
FC_ROW_TAIL = Mix(ld=1, ldp=1, mac=1, alu=1, br=1)
#: non-opt DSP, 2 rows x 4 columns (8 MAC): 2 q15-pair loads, 2 weight words, 2 ROR,
#: 4 SXTB16, 4 SMLAD, loop (research notes §4.5: 17 instructions / 8 MAC)
FCQ_COL = Mix(ld=2, ldp=2, dsp=6, mac=4, alu=2, br=1)
FCQ_TAIL_COL = Mix(ld=1, ldp=2, mac=2, alu=1, br=1)
FCQ_ROWS = Mix(alu=10, ld=1, ldp=1, dsp=2, st=2, br=1)
#: _opt plain C (and nnom's local_*_opt), 4 rows x 4 columns (16 MAC): 20 LDRSB in about
#: five pipelined groups, 16 MUL/MLA, loop
FCOC_COL = Mix(ld=5, ldp=15, mac=16, alu=2, br=1)
#: plain-C row loop (leftover rows of _opt, every row of the non-opt kernel), one MAC
FCC_MAC = C_MAC

# ---------------------------------------------------------------- nnom simple RNN cell
#: ``local_add_q7`` per element: 2 LDRSB, ADD, + round, ASR, SSAT, STRB, loop
ADD_ELEM = Mix(ld=1, ldp=1, alu=5, dsp=1, st=1, br=1)
#: ``local_tanh_q7``/``local_sigmoid_q7`` per element: LDRSB, ASR, UXTB, LDRB table, STRB, loop
ACT_ELEM = Mix(ld=1, ldp=1, alu=3, st=1, br=1)
#: rnn_run + simple_cell_run bookkeeping per time step: 6 calls (dot, fc, add, act, memcpy,
#: state swap), pointers and shifts from the layer structures
RNN_STEP = call(saved=4) * 6 + Mix(alu=30, ld=10)

# ---------------------------------------------------------------- nnom GRU cell (q15 state)
# UNVALIDATED: counted from nnom's C (gru_cell_run and the local_* q15 helpers) like the rest of
# this module, but no measured GRU timing exists to check them against.
#: rnn_run + gru_cell_run bookkeeping per time step: 15 calls (q7_to_q15, 2 FC, 2 add, 2
#: sigmoid, mult, add, tanh, mult, 1-z, mult, add, q15_to_q7), pointers and shifts
GRU_STEP = call(saved=4) * 15 + Mix(alu=45, ld=15)
#: ``local_q7_to_q15`` per element: LDRSB, LSL, STRH, loop
Q7_TO_Q15_ELEM = Mix(ld=1, alu=2, st=1, br=1)
#: ``local_fully_connected_mat_q7_vec_q15_opt`` 4 rows x 2 columns (8 MAC): 2 LDRSH of the
#: vector, 8 LDRSB of the reordered weights, 8 SMLAL (int64 sums), loop
FCQ15_COL = Mix(ld=2, ldp=8, mac=8, alu=2, br=1)
#: 4 rows, odd last column: LDRSH + 4 LDRSB, 4 SMLAL
FCQ15_TAIL_COL = Mix(ld=1, ldp=4, mac=4, alu=1, br=1)
#: per 4 rows: 4 bias loads, 4 x (64-bit << and + round), 4 x (64-bit >>, SSAT 16, STRH), loop
FCQ15_ROWS = Mix(alu=30, ld=1, ldp=3, dsp=4, st=4, br=1)
#: ``local_add_q15`` per element: 2 LDRSH, ADD (+ round, ASR 0), SSAT, STRH, loop
ADD_Q15_ELEM = Mix(ld=1, ldp=1, alu=4, dsp=1, st=1, br=1)
#: ``local_mult_q15`` per element: 2 LDRSH, MUL, ADD round, ASR, SSAT, STRH, loop
MULT_Q15_ELEM = Mix(ld=1, ldp=1, mac=1, alu=3, dsp=1, st=1, br=1)
#: ``local_sigmoid/tanh_q15`` (table + linear interpolation) per element: LDRSH, shifts and
#: masks for index and fraction, 2 LDRSH table, SUB, MUL, ASR, ADD, STRH, loop
ACT_Q15_ELEM = Mix(ld=1, ldp=2, alu=9, mac=1, st=1, br=1)
#: ``local_1_minor_z_q15`` per element: LDRSH, SUB from 32767, STRH, loop;
#: ``local_q15_to_q7``: LDRSH, ASR, STRB, loop
ONE_MINUS_ELEM = Mix(ld=1, alu=2, st=1, br=1)
