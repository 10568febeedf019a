/*
 * edgesed_q7.c - portable C99 q7 kernels, bit-exact to CMSIS-NN legacy q7 (CMSIS_5 5.6.0,
 * ARM_MATH_DSP), nnom's q7 simple RNN cell and nnom's GRU cell (q15 state). See edgesed_q7.h
 * for the contract.
 *
 * Written for edgesed from the semantics of its Numba twins (kernels/convolve_q7.py,
 * pool_q7.py, fully_connected_q7.py, activations_q7.py, rnn_q7.py, gru_q7.py). Accumulators are
 * uint32_t (wrap modulo 2^32 like __SMLAD, no signed overflow); es_asr32 is a portable
 * arithmetic right shift; conversions to narrower signed types go through explicit helpers.
 */
#include <string.h>

#include "edgesed_q7.h"

/* ------------------------------------------------------------------------ primitives */

/* uint32 bits -> int32 (two's complement), without implementation-defined conversion */
static int32_t es_s32(uint32_t u)
{
    return (u & 0x80000000u) ? -(int32_t)(~u) - 1 : (int32_t)u;
}

/* arithmetic right shift (floor division by 2^s), portable for negative values */
static int32_t es_asr32(int32_t v, unsigned s)
{
    return v >= 0 ? (v >> s) : ~((~v) >> s);
}

/* __SSAT(v, 8) */
static int8_t es_ssat8(int32_t v)
{
    return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
}

/* (q7_t)v and (q15_t)v: keep the low 8 / 16 bits */
static int8_t es_wrap8(int32_t v)
{
    uint32_t u = (uint32_t)v & 0xFFu;
    return (int8_t)(u >= 0x80u ? (int32_t)u - 0x100 : (int32_t)u);
}

static int16_t es_wrap16(int32_t v)
{
    uint32_t u = (uint32_t)v & 0xFFFFu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

/* one lane of __QADD16 */
static int16_t es_sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* (q31_t)bias << bias_shift, plus NN_ROUND(out_shift), modulo 2^32 */
static uint32_t es_acc_init(int8_t bias, uint16_t bias_shift, uint16_t out_shift)
{
    return ((uint32_t)(int32_t)bias << bias_shift) + ES_NN_ROUND(out_shift);
}

static uint32_t es_mac(uint32_t acc, int32_t a, int32_t b)
{
    return acc + (uint32_t)(a * b);
}

/* (q7_t)__SSAT(acc >> out_shift, 8) */
static int8_t es_requant(uint32_t acc, uint16_t out_shift)
{
    return es_ssat8(es_asr32(es_s32(acc), out_shift));
}

/* Position of natural element j inside a q15 buffer filled by arm_q7_to_q15_reordered_no_shift:
 * each full group of 4 is stored x0 x2 x1 x3; the tail keeps its order. */
static uint32_t es_reordered_pos(uint32_t j, uint32_t n4)
{
    uint32_t r = j & 3u;
    if (j >= n4 || r == 0u || r == 3u) {
        return j;
    }
    return j ^ 3u; /* 1 <-> 2 */
}

/* arm_q7_to_q15_no_shift (reordered = 0) / arm_q7_to_q15_reordered_no_shift (reordered = 1):
 * each group of 4 bytes is read before its 4 halfwords are written. */
static void es_q7_to_q15(const int8_t *src, int16_t *dst, uint32_t n, int reordered)
{
    uint32_t j;
    for (j = 0; j + 4u <= n; j += 4u) {
        int16_t a0 = src[j], a1 = src[j + 1], a2 = src[j + 2], a3 = src[j + 3];
        dst[j] = a0;
        dst[j + 1] = reordered ? a2 : a1;
        dst[j + 2] = reordered ? a1 : a2;
        dst[j + 3] = a3;
    }
    for (; j < n; j++) {
        dst[j] = src[j];
    }
}

/* ------------------------------------------------------------------------ convolution */

/* The shared body of every conv kernel: build the q15 im2col column of one output pixel in
 * bufferA (zeros for padding taps; fast kernels store each group of 4 as x0 x2 x1 x3 and read
 * the weights the same way), then one dot product per output channel. */
static void es_conv_core(const int8_t *in, uint16_t in_x, uint16_t in_y, uint16_t ch_in,
                         const int8_t *wt, uint16_t ch_out, uint16_t k_x, uint16_t k_y,
                         uint16_t pad_x, uint16_t pad_y, uint16_t s_x, uint16_t s_y,
                         const int8_t *bias, uint16_t bias_shift, uint16_t out_shift,
                         int8_t *out, uint16_t out_x, uint16_t out_y, int16_t *col, int reordered)
{
    const uint32_t k = (uint32_t)ch_in * k_x * k_y;
    const uint32_t k4 = reordered ? (k & ~3u) : 0u;
    uint32_t oy, ox, ky, kx, o, j;
    for (oy = 0; oy < out_y; oy++) {
        for (ox = 0; ox < out_x; ox++) {
            int16_t *pos = col;
            int8_t *dst = out + ((uint32_t)oy * out_x + ox) * ch_out;
            for (ky = 0; ky < k_y; ky++) {
                int32_t iy = (int32_t)(oy * s_y) - (int32_t)pad_y + (int32_t)ky;
                for (kx = 0; kx < k_x; kx++) {
                    int32_t ix = (int32_t)(ox * s_x) - (int32_t)pad_x + (int32_t)kx;
                    if (iy < 0 || iy >= (int32_t)in_y || ix < 0 || ix >= (int32_t)in_x) {
                        memset(pos, 0, (size_t)ch_in * sizeof(int16_t));
                    } else {
                        es_q7_to_q15(in + ((uint32_t)iy * in_x + (uint32_t)ix) * ch_in, pos,
                                     ch_in, reordered);
                    }
                    pos += ch_in;
                }
            }
            for (o = 0; o < ch_out; o++) {
                const int8_t *w = wt + o * k;
                uint32_t acc = es_acc_init(bias[o], bias_shift, out_shift);
                for (j = 0; j < k; j++) {
                    acc = es_mac(acc, w[es_reordered_pos(j, k4)], col[j]);
                }
                dst[o] = es_requant(acc, out_shift);
            }
        }
    }
}

int es_convolve_HWC_q7_basic(const int8_t *Im_in, uint16_t dim_im_in, uint16_t ch_im_in,
                             const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel,
                             uint16_t padding, uint16_t stride, const int8_t *bias,
                             uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
                             uint16_t dim_im_out, int16_t *bufferA, int8_t *bufferB)
{
    (void)bufferB;
    es_conv_core(Im_in, dim_im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, dim_kernel,
                 padding, padding, stride, stride, bias, bias_shift, out_shift, Im_out,
                 dim_im_out, dim_im_out, bufferA, 0);
    return ES_OK;
}

int es_convolve_HWC_q7_fast(const int8_t *Im_in, uint16_t dim_im_in, uint16_t ch_im_in,
                            const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel,
                            uint16_t padding, uint16_t stride, const int8_t *bias,
                            uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
                            uint16_t dim_im_out, int16_t *bufferA, int8_t *bufferB)
{
    (void)bufferB;
    if (ch_im_in % 4u != 0u || ch_im_out % 2u != 0u) {
        return ES_SIZE_MISMATCH;
    }
    es_conv_core(Im_in, dim_im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, dim_kernel,
                 padding, padding, stride, stride, bias, bias_shift, out_shift, Im_out,
                 dim_im_out, dim_im_out, bufferA, 1);
    return ES_OK;
}

int es_convolve_HWC_q7_RGB(const int8_t *Im_in, uint16_t dim_im_in, uint16_t ch_im_in,
                           const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel,
                           uint16_t padding, uint16_t stride, const int8_t *bias,
                           uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
                           uint16_t dim_im_out, int16_t *bufferA, int8_t *bufferB)
{
    (void)bufferB;
    if (ch_im_in != 3u) {
        return ES_SIZE_MISMATCH;
    }
    es_conv_core(Im_in, dim_im_in, dim_im_in, ch_im_in, wt, ch_im_out, dim_kernel, dim_kernel,
                 padding, padding, stride, stride, bias, bias_shift, out_shift, Im_out,
                 dim_im_out, dim_im_out, bufferA, 0);
    return ES_OK;
}

int es_convolve_HWC_q7_basic_nonsquare(
    const int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y, uint16_t ch_im_in,
    const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
    uint16_t padding_x, uint16_t padding_y, uint16_t stride_x, uint16_t stride_y,
    const int8_t *bias, uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
    uint16_t dim_im_out_x, uint16_t dim_im_out_y, int16_t *bufferA, int8_t *bufferB)
{
    (void)bufferB;
    es_conv_core(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, dim_kernel_x,
                 dim_kernel_y, padding_x, padding_y, stride_x, stride_y, bias, bias_shift,
                 out_shift, Im_out, dim_im_out_x, dim_im_out_y, bufferA, 0);
    return ES_OK;
}

int es_convolve_HWC_q7_fast_nonsquare(
    const int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y, uint16_t ch_im_in,
    const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
    uint16_t padding_x, uint16_t padding_y, uint16_t stride_x, uint16_t stride_y,
    const int8_t *bias, uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
    uint16_t dim_im_out_x, uint16_t dim_im_out_y, int16_t *bufferA, int8_t *bufferB)
{
    (void)bufferB;
    if (ch_im_in % 4u != 0u || ch_im_out % 2u != 0u) {
        return ES_SIZE_MISMATCH;
    }
    es_conv_core(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, dim_kernel_x,
                 dim_kernel_y, padding_x, padding_y, stride_x, stride_y, bias, bias_shift,
                 out_shift, Im_out, dim_im_out_x, dim_im_out_y, bufferA, 1);
    return ES_OK;
}

int es_convolve_1x1_HWC_q7_fast_nonsquare(
    const int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y, uint16_t ch_im_in,
    const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
    uint16_t padding_x, uint16_t padding_y, uint16_t stride_x, uint16_t stride_y,
    const int8_t *bias, uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
    uint16_t dim_im_out_x, uint16_t dim_im_out_y, int16_t *bufferA, int8_t *bufferB)
{
    (void)bufferB;
    if (ch_im_in % 4u != 0u || ch_im_out % 2u != 0u || dim_kernel_x != 1u ||
        dim_kernel_y != 1u || padding_x != 0u || padding_y != 0u || stride_x != 1u ||
        stride_y != 1u) {
        return ES_SIZE_MISMATCH;
    }
    es_conv_core(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, wt, ch_im_out, 1, 1, 0, 0, 1, 1,
                 bias, bias_shift, out_shift, Im_out, dim_im_out_x, dim_im_out_y, bufferA, 1);
    return ES_OK;
}

/* ---------------------------------------------------------------------------- pooling */

/* compare_and_replace_if_larger_q7: 4 bytes of each side are read before 4 are written, then
 * the length % 4 tail byte by byte (5.6.0 has the tail loop). */
static void es_compare_replace(int8_t *dst, const int8_t *src, uint32_t n)
{
    uint32_t j;
    for (j = 0; j + 4u <= n; j += 4u) {
        int8_t a0 = dst[j], a1 = dst[j + 1], a2 = dst[j + 2], a3 = dst[j + 3];
        int8_t b0 = src[j], b1 = src[j + 1], b2 = src[j + 2], b3 = src[j + 3];
        dst[j] = b0 > a0 ? b0 : a0;
        dst[j + 1] = b1 > a1 ? b1 : a1;
        dst[j + 2] = b2 > a2 ? b2 : a2;
        dst[j + 3] = b3 > a3 ? b3 : a3;
    }
    for (; j < n; j++) {
        if (src[j] > dst[j]) {
            dst[j] = src[j];
        }
    }
}

/* accumulate_q7_to_q15: saturating q15 adds (__QADD16) on groups of 4, wrapping on the tail */
static void es_accumulate(int16_t *acc, const int8_t *src, uint32_t n)
{
    uint32_t j;
    for (j = 0; j + 4u <= n; j += 4u) {
        int8_t b0 = src[j], b1 = src[j + 1], b2 = src[j + 2], b3 = src[j + 3];
        acc[j] = es_sat16((int32_t)acc[j] + b0);
        acc[j + 1] = es_sat16((int32_t)acc[j + 1] + b1);
        acc[j + 2] = es_sat16((int32_t)acc[j + 2] + b2);
        acc[j + 3] = es_sat16((int32_t)acc[j + 3] + b3);
    }
    for (; j < n; j++) {
        acc[j] = es_wrap16((int32_t)acc[j] + src[j]);
    }
}

/* buffer_scale_back_q15_to_q7: (q7_t)(sum / count), C truncating division */
static void es_scale_back(const int16_t *acc, int8_t *dst, uint32_t n, int32_t count)
{
    uint32_t j;
    for (j = 0; j < n; j++) {
        dst[j] = es_wrap8((int32_t)acc[j] / count);
    }
}

/* Window [start, stop) of output index i along one axis; DSP x-pass starts a left-clipped
 * window at the target index itself (first = i), the y-pass and plain C at 0 (first = 0). */
static void es_window(uint32_t i, uint16_t k, uint16_t pad, uint16_t stride, uint16_t dim_in,
                      uint32_t first, uint32_t *start, uint32_t *stop)
{
    int32_t s = (int32_t)(i * stride) - (int32_t)pad;
    *start = s < 0 ? first : (uint32_t)s;
    *stop = (s + (int32_t)k >= (int32_t)dim_in) ? dim_in : (uint32_t)(s + (int32_t)k);
}

static void es_pool_dsp(int8_t *Im_in, uint16_t in_x, uint16_t in_y, uint16_t ch,
                        uint16_t k_x, uint16_t k_y, uint16_t pad_x, uint16_t pad_y,
                        uint16_t s_x, uint16_t s_y, uint16_t out_x, uint16_t out_y,
                        int16_t *buf, int8_t *Im_out, int avg)
{
    const uint32_t pitch = (uint32_t)in_x * ch;
    const uint32_t row = (uint32_t)out_x * ch;
    uint32_t x, y, ws, we, p;
    /* x-pass, in place along every input row */
    for (y = 0; y < in_y; y++) {
        int8_t *base = Im_in + y * pitch;
        for (x = 0; x < out_x; x++) {
            int8_t *target = base + x * ch;
            es_window(x, k_x, pad_x, s_x, in_x, x, &ws, &we);
            if (avg) {
                int32_t count = 1;
                es_q7_to_q15(base + ws * ch, buf, ch, 0);
                for (p = ws + 1u; p < we; p++, count++) {
                    es_accumulate(buf, base + p * ch, ch);
                }
                es_scale_back(buf, target, ch, count);
            } else {
                memmove(target, base + ws * ch, ch);
                for (p = ws + 1u; p < we; p++) {
                    es_compare_replace(target, base + p * ch, ch);
                }
            }
        }
    }
    /* y-pass into Im_out: rows of the x-pooled data, their first out_x * ch bytes */
    for (y = 0; y < out_y; y++) {
        int8_t *target = Im_out + y * row;
        es_window(y, k_y, pad_y, s_y, in_y, 0u, &ws, &we);
        if (avg) {
            int32_t count = 1;
            es_q7_to_q15(Im_in + ws * pitch, buf, row, 0);
            for (p = ws + 1u; p < we; p++, count++) {
                es_accumulate(buf, Im_in + p * pitch, row);
            }
            es_scale_back(buf, target, row, count);
        } else {
            memmove(target, Im_in + ws * pitch, row);
            for (p = ws + 1u; p < we; p++) {
                es_compare_replace(target, Im_in + p * pitch, row);
            }
        }
    }
}

/* plain-C path: channel, output row, output column; each byte written after its window */
static void es_pool_c(const int8_t *Im_in, uint16_t in_x, uint16_t in_y, uint16_t ch,
                      uint16_t k_x, uint16_t k_y, uint16_t pad_x, uint16_t pad_y,
                      uint16_t s_x, uint16_t s_y, uint16_t out_x, uint16_t out_y,
                      int8_t *Im_out, int avg)
{
    uint32_t c, x, y, kx, ky, x0, x1, y0, y1;
    for (c = 0; c < ch; c++) {
        for (y = 0; y < out_y; y++) {
            es_window(y, k_y, pad_y, s_y, in_y, 0u, &y0, &y1);
            for (x = 0; x < out_x; x++) {
                int32_t m = -129, sum = 0, count = 0;
                es_window(x, k_x, pad_x, s_x, in_x, 0u, &x0, &x1);
                for (ky = y0; ky < y1; ky++) {
                    for (kx = x0; kx < x1; kx++) {
                        int32_t v = Im_in[c + (uint32_t)ch * (kx + ky * in_x)];
                        m = v > m ? v : m;
                        sum += v;
                        count++;
                    }
                }
                Im_out[c + (uint32_t)ch * (x + y * out_x)] = es_wrap8(avg ? sum / count : m);
            }
        }
    }
}

void es_maxpool_q7_HWC_dsp(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                           uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                           uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                           uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                           int8_t *bufferA, int8_t *Im_out)
{
    (void)bufferA;
    es_pool_dsp(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, dim_kernel_x, dim_kernel_y,
                padding_x, padding_y, stride_x, stride_y, dim_im_out_x, dim_im_out_y, NULL,
                Im_out, 0);
}

void es_avepool_q7_HWC_dsp(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                           uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                           uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                           uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                           int8_t *bufferA, int8_t *Im_out)
{
    es_pool_dsp(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, dim_kernel_x, dim_kernel_y,
                padding_x, padding_y, stride_x, stride_y, dim_im_out_x, dim_im_out_y,
                (int16_t *)(void *)bufferA, Im_out, 1);
}

void es_maxpool_q7_HWC_c(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                         uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                         uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                         uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                         int8_t *bufferA, int8_t *Im_out)
{
    (void)bufferA;
    es_pool_c(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, dim_kernel_x, dim_kernel_y, padding_x,
              padding_y, stride_x, stride_y, dim_im_out_x, dim_im_out_y, Im_out, 0);
}

void es_avepool_q7_HWC_c(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                         uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                         uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                         uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                         int8_t *bufferA, int8_t *Im_out)
{
    (void)bufferA;
    es_pool_c(Im_in, dim_im_in_x, dim_im_in_y, ch_im_in, dim_kernel_x, dim_kernel_y, padding_x,
              padding_y, stride_x, stride_y, dim_im_out_x, dim_im_out_y, Im_out, 1);
}

/* -------------------------------------------------------------------- fully connected */

/* element j (natural order) of the vector: from q7 (v7) or from the reordered q15 buffer */
static int32_t es_vec_at(const int8_t *v7, const int16_t *v15r, uint32_t j, uint32_t n4)
{
    return v7 != NULL ? (int32_t)v7[j] : (int32_t)v15r[es_reordered_pos(j, n4)];
}

/* Rows of an x4-interleaved matrix times a vector (arm_fully_connected_q7_opt's loops, and
 * nnom's local_fully_connected_q7_opt / local_dot_q7_opt). bias == NULL: no bias (dot).
 * bias_quirk: the rows % 4 leftover rows read bias[0], bias[1], ... (nnom). A group's outputs
 * are written after its 4 sums are complete. */
static void es_x4_rows(const int8_t *v7, const int16_t *v15r, uint32_t dim_vec,
                       const int8_t *wt, const int8_t *bias, int bias_quirk, uint32_t rows,
                       uint16_t bias_shift, uint16_t out_shift, int8_t *out)
{
    const uint32_t n4 = dim_vec & ~3u;
    const int8_t *w = wt;
    uint32_t r, j, i;
    for (r = 0; r + 4u <= rows; r += 4u) {
        uint32_t s[4];
        for (i = 0; i < 4u; i++) {
            s[i] = bias != NULL ? es_acc_init(bias[r + i], bias_shift, out_shift)
                                : ES_NN_ROUND(out_shift);
        }
        for (j = 0; j < n4; j += 4u, w += 16) {
            int32_t x0 = es_vec_at(v7, v15r, j, n4), x1 = es_vec_at(v7, v15r, j + 1u, n4);
            int32_t x2 = es_vec_at(v7, v15r, j + 2u, n4), x3 = es_vec_at(v7, v15r, j + 3u, n4);
            /* r0c0 r1c0 r0c2 r1c2 r2c0 r3c0 r2c2 r3c2 r0c1 r1c1 r0c3 r1c3 r2c1 r3c1 r2c3 r3c3 */
            for (i = 0; i < 4u; i++) {
                uint32_t q = (i & 1u) + ((i >> 1) << 2); /* 0, 1, 4, 5 */
                s[i] = es_mac(s[i], x0, w[q]);
                s[i] = es_mac(s[i], x2, w[q + 2u]);
                s[i] = es_mac(s[i], x1, w[q + 8u]);
                s[i] = es_mac(s[i], x3, w[q + 10u]);
            }
        }
        for (j = n4; j < dim_vec; j++, w += 4) {
            int32_t xj = es_vec_at(v7, v15r, j, n4);
            for (i = 0; i < 4u; i++) {
                s[i] = es_mac(s[i], xj, w[i]);
            }
        }
        for (i = 0; i < 4u; i++) {
            out[r + i] = es_requant(s[i], out_shift);
        }
    }
    for (i = 0; r < rows; r++, i++, w += dim_vec) {
        uint32_t s = ES_NN_ROUND(out_shift);
        if (bias != NULL) {
            s = es_acc_init(bias[bias_quirk ? i : r], bias_shift, out_shift);
        }
        for (j = 0; j < dim_vec; j++) {
            s = es_mac(s, es_vec_at(v7, v15r, j, n4), w[j]);
        }
        out[r] = es_requant(s, out_shift);
    }
}

int es_fully_connected_q7(const int8_t *pV, const int8_t *pM, uint16_t dim_vec,
                          uint16_t num_of_rows, uint16_t bias_shift, uint16_t out_shift,
                          const int8_t *bias, int8_t *pOut, int16_t *vec_buffer)
{
    const uint32_t n4 = (uint32_t)dim_vec & ~3u;
    uint32_t r, j;
    es_q7_to_q15(pV, vec_buffer, dim_vec, 1);
    for (r = 0; r < num_of_rows; r++) {
        const int8_t *w = pM + r * (uint32_t)dim_vec;
        uint32_t acc = es_acc_init(bias[r], bias_shift, out_shift);
        for (j = 0; j < dim_vec; j++) {
            acc = es_mac(acc, es_vec_at(NULL, vec_buffer, j, n4), w[j]);
        }
        pOut[r] = es_requant(acc, out_shift);
    }
    return ES_OK;
}

int es_fully_connected_q7_opt(const int8_t *pV, const int8_t *pM, uint16_t dim_vec,
                              uint16_t num_of_rows, uint16_t bias_shift, uint16_t out_shift,
                              const int8_t *bias, int8_t *pOut, int16_t *vec_buffer)
{
    es_q7_to_q15(pV, vec_buffer, dim_vec, 1);
    es_x4_rows(NULL, vec_buffer, dim_vec, pM, bias, 0, num_of_rows, bias_shift, out_shift,
               pOut);
    return ES_OK;
}

/* ------------------------------------------------------------------------ activations */

void es_relu_q7(int8_t *data, uint16_t size)
{
    uint32_t i;
    for (i = 0; i < size; i++) {
        if (data[i] < 0) {
            data[i] = 0;
        }
    }
}

/* table[(uint8_t)(x >> shift)] for shift in 0..31 */
static void es_table_lookup(int8_t *data, uint32_t size, unsigned shift, const int8_t *table)
{
    uint32_t i;
    for (i = 0; i < size; i++) {
        data[i] = table[(uint32_t)es_asr32(data[i], shift) & 0xFFu];
    }
}

void es_nn_activations_direct_q7(int8_t *data, uint16_t size, uint16_t int_width,
                                 es_nn_activation_type type)
{
    es_table_lookup(data, size, 3u - int_width,
                    type == ES_TANH ? es_tanh_table_q7 : es_sigmoid_table_q7);
}

/* nnom local_tanh_q7 / local_sigmoid_q7 */
static void es_nnom_act_q7(int8_t *data, uint32_t size, int16_t int_width,
                           es_nn_activation_type act)
{
    uint32_t i;
    if (int_width > 3) {
        for (i = 0; i < size; i++) {
            data[i] = data[i] > 0 ? 127 : ((data[i] < 0 && act == ES_TANH) ? -128 : 0);
        }
        return;
    }
    es_table_lookup(data, size, (unsigned)(3 - int_width),
                    act == ES_TANH ? es_tanh_table_q7 : es_sigmoid_table_q7);
}

/* -------------------------------------------------------------------------- recurrent */

void es_simple_rnn_cell_q7(const int8_t *x, uint16_t feature_size, const int8_t *weights,
                           const int8_t *recurrent_weights, const int8_t *bias, uint16_t units,
                           int8_t *state, int8_t *out, uint16_t bias_shift, uint16_t oshift_iw,
                           uint16_t oshift_hw, int16_t act_int_width,
                           es_nn_activation_type act)
{
    uint32_t i;
    /* 1. h2 = U @ h_prev -> out (no bias); 2. h = W @ x + b -> state */
    es_x4_rows(state, NULL, units, recurrent_weights, NULL, 0, units, 0, oshift_hw, out);
    es_x4_rows(x, NULL, feature_size, weights, bias, ES_NNOM_BIAS_QUIRK, units, bias_shift,
               oshift_iw, state);
    /* 3. state = ssat8(h + h2); 4. activation in place; 5. out = state */
    for (i = 0; i < units; i++) {
        state[i] = es_ssat8((int32_t)state[i] + (int32_t)out[i]);
    }
    es_nnom_act_q7(state, units, act_int_width, act);
    memcpy(out, state, units);
}

/* ------------------------------------------------------------------ nnom GRU cell (q15) */

/* arithmetic right shift of an int64 (floor division by 2^s) */
static int64_t es_asr64(int64_t v, unsigned s)
{
    return v >= 0 ? (v >> s) : ~((~v) >> s);
}

/* (int64)bias << s, without shifting a negative value */
static int64_t es_bias64(int8_t bias, unsigned s)
{
    return (int64_t)bias * ((int64_t)1 << s);
}

/* nnom local_fully_connected_mat_q7_vec_q15_opt: int64 sums over q7_q15-reordered rows
 * (groups of 4 rows: column pairs r0c0 r1c0 r0c1 r1c1 r2c0 r3c0 r2c1 r3c1, odd last column
 * r0 r1 r2 r3; leftover rows natural), out = ssat16((bias << bs + ROUND(os) + sum) >> os). */
static void es_fc_q7_vec_q15(const int16_t *vec, uint32_t dim_vec, const int8_t *w,
                             const int8_t *bias, uint32_t rows, unsigned bs, unsigned os,
                             int16_t *out)
{
    uint32_t g, k, r, j, base = 0u;
    int64_t rnd = (int64_t)ES_NN_ROUND(os);
    for (g = 0; g < rows / 4u; g++) {
        int64_t s[4];
        r = 4u * g;
        for (j = 0; j < 4u; j++) {
            s[j] = es_bias64(bias[r + j], bs) + rnd;
        }
        for (k = 0; k < dim_vec / 2u; k++) {
            int64_t x0 = vec[2u * k], x1 = vec[2u * k + 1u];
            const int8_t *q = w + base + 8u * k;
            s[0] += x0 * q[0] + x1 * q[2];
            s[1] += x0 * q[1] + x1 * q[3];
            s[2] += x0 * q[4] + x1 * q[6];
            s[3] += x0 * q[5] + x1 * q[7];
        }
        if (dim_vec & 1u) {
            int64_t x = vec[dim_vec - 1u];
            const int8_t *q = w + base + 4u * (dim_vec - 1u);
            for (j = 0; j < 4u; j++) {
                s[j] += x * q[j];
            }
        }
        for (j = 0; j < 4u; j++) {
            int64_t v = es_asr64(s[j], os);
            out[r + j] = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
        }
        base += 4u * dim_vec;
    }
    for (r = rows & ~3u; r < rows; r++) {
        int64_t s = es_bias64(bias[r], bs) + rnd, v;
        for (j = 0; j < dim_vec; j++) {
            s += (int64_t)vec[j] * w[base + j];
        }
        v = es_asr64(s, os);
        out[r] = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
        base += dim_vec;
    }
}

/* arm_nn_activations_direct_q15 (CMSIS 5.8.0+, nnom local_sigmoid/tanh_q15), in place */
static void es_act_q15(int16_t *data, uint32_t size, uint16_t int_width, const int16_t *table)
{
    uint32_t i;
    unsigned shift = 11u - int_width;
    uint32_t bit_mask = 0x7FFu >> int_width, full_frac = bit_mask + 1u;
    for (i = 0; i < size; i++) {
        int32_t x = data[i];
        int32_t frac = (int32_t)((uint32_t)x & bit_mask);
        int32_t idx = es_asr32(x, shift);
        if (idx == 0x7F) {
            data[i] = table[0x7F];
        } else {
            uint32_t i1 = (uint32_t)idx & 0xFFu, i2 = (i1 + 1u) & 0xFFu;
            int32_t v = ((int32_t)full_frac - frac) * table[i1] + table[i2] * frac;
            data[i] = es_wrap16(es_asr32(v, shift));
        }
    }
}

/* local_mult_q15 with out_shift 15 */
static int16_t es_mult_q15(int32_t a, int32_t b)
{
    return es_sat16(es_asr32(a * b + (int32_t)ES_NN_ROUND(15), 15));
}

void es_gru_cell_q7(const int8_t *x, uint16_t feature_size, const int8_t *weights,
                    const int8_t *recurrent_weights, const int8_t *bias,
                    const int8_t *recurrent_bias, uint16_t units, int16_t *state, int8_t *out,
                    int16_t *buffer, uint16_t bias_shift, uint16_t oshift_iw, uint16_t oshift_hw,
                    uint16_t act_int_width)
{
    uint32_t i, u = units, n3 = 3u * units;
    int16_t *mx = buffer, *mh = buffer + n3, *z = buffer + 2u * n3, *r = z + u, *t2 = r + u;
    int16_t *xq = buffer + 3u * n3;
    for (i = 0; i < feature_size; i++) {                      /* local_q7_to_q15 */
        xq[i] = (int16_t)(x[i] * 256);
    }
    es_fc_q7_vec_q15(xq, feature_size, weights, bias, n3, bias_shift + 8u, oshift_iw, mx);
    es_fc_q7_vec_q15(state, u, recurrent_weights, recurrent_bias, n3, bias_shift + 8u,
                     oshift_hw, mh);
    for (i = 0; i < u; i++) {
        z[i] = es_sat16((int32_t)mx[i] + mh[i]);
        r[i] = es_sat16((int32_t)mx[u + i] + mh[u + i]);
    }
    es_act_q15(z, u, act_int_width, es_sigmoid_table_q15);
    es_act_q15(r, u, act_int_width, es_sigmoid_table_q15);
    for (i = 0; i < u; i++) {                                 /* hh = x_h + r * rec_h */
        r[i] = es_sat16((int32_t)mx[2u * u + i] + es_mult_q15(r[i], mh[2u * u + i]));
    }
    es_act_q15(r, u, act_int_width, es_tanh_table_q15);
    for (i = 0; i < u; i++) {                                 /* reads h_{t-1} first */
        t2[i] = es_mult_q15(z[i], state[i]);
    }
    for (i = 0; i < u; i++) {
        int16_t one_minus_z = es_wrap16(32767 - (int32_t)z[i]);
        state[i] = es_sat16((int32_t)t2[i] + es_mult_q15(one_minus_z, r[i]));
        out[i] = es_wrap8(es_asr32(state[i], 8));
    }
}

/* ----------------------------------------------------------------------------- tables */
/* entry i = clamp(round(f(int8(i) / 16) * 128), -128, 127), f = sigmoid / tanh; generated
 * from that rule by edgesed (kernels/activations_q7.py) and checked against it in tests. */
const int8_t es_sigmoid_table_q7[256] = {
      64,   66,   68,   70,   72,   74,   76,   78,   80,   82,   83,   85,   87,   89,   90,   92,
      94,   95,   97,   98,   99,  101,  102,  103,  105,  106,  107,  108,  109,  110,  111,  112,
     113,  114,  114,  115,  116,  116,  117,  118,  118,  119,  119,  120,  120,  121,  121,  122,
     122,  122,  123,  123,  123,  124,  124,  124,  124,  124,  125,  125,  125,  125,  125,  126,
     126,  126,  126,  126,  126,  126,  126,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
       0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
       0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
       0,    0,    0,    0,    0,    0,    0,    0,    1,    1,    1,    1,    1,    1,    1,    1,
       1,    1,    1,    1,    1,    1,    1,    1,    1,    1,    2,    2,    2,    2,    2,    2,
       2,    2,    3,    3,    3,    3,    3,    4,    4,    4,    4,    4,    5,    5,    5,    6,
       6,    6,    7,    7,    8,    8,    9,    9,   10,   10,   11,   12,   12,   13,   14,   14,
      15,   16,   17,   18,   19,   20,   21,   22,   23,   25,   26,   27,   29,   30,   31,   33,
      34,   36,   38,   39,   41,   43,   45,   46,   48,   50,   52,   54,   56,   58,   60,   62,
};

const int8_t es_tanh_table_q7[256] = {
       0,    8,   16,   24,   31,   39,   46,   53,   59,   65,   71,   76,   81,   86,   90,   94,
      97,  101,  104,  106,  109,  111,  113,  114,  116,  117,  118,  120,  120,  121,  122,  123,
     123,  124,  124,  125,  125,  126,  126,  126,  126,  126,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
     127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,  127,
    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -127,
    -127, -127, -127, -127, -127, -127, -127, -126, -126, -126, -126, -126, -125, -125, -124, -124,
    -123, -123, -122, -121, -120, -120, -118, -117, -116, -114, -113, -111, -109, -106, -104, -101,
     -97,  -94,  -90,  -86,  -81,  -76,  -71,  -65,  -59,  -53,  -46,  -39,  -31,  -24,  -16,   -8,
};

/* q15 tables of arm_nn_activations_direct_q15 (sigmoidTable_q15 / tanhTable_q15, equal to nnom's):
 * entry i = clamp(round(f(int8(i) / 16) * 32768), -32768, 32767); generated by edgesed from
 * kernels/activations_q7.py (SIGMOID_TABLE_Q15 / TANH_TABLE_Q15). */
const int16_t es_sigmoid_table_q15[256] = {
     16384,  16896,  17407,  17916,  18421,  18923,  19420,  19912,  20397,  20874,  21344,  21804,
     22255,  22696,  23127,  23547,  23955,  24352,  24737,  25110,  25471,  25819,  26155,  26479,
     26790,  27090,  27377,  27653,  27917,  28169,  28411,  28642,  28862,  29072,  29272,  29462,
     29644,  29816,  29979,  30135,  30282,  30422,  30555,  30680,  30799,  30912,  31018,  31119,
     31214,  31304,  31389,  31469,  31545,  31616,  31684,  31747,  31807,  31864,  31917,  31968,
     32015,  32060,  32102,  32141,  32179,  32214,  32247,  32278,  32307,  32335,  32361,  32385,
     32408,  32430,  32450,  32469,  32487,  32504,  32520,  32535,  32549,  32562,  32574,  32586,
     32597,  32607,  32617,  32626,  32635,  32643,  32650,  32657,  32664,  32670,  32676,  32682,
     32687,  32692,  32696,  32701,  32705,  32709,  32712,  32716,  32719,  32722,  32725,  32727,
     32730,  32732,  32734,  32736,  32738,  32740,  32742,  32743,  32745,  32746,  32747,  32749,
     32750,  32751,  32752,  32753,  32754,  32755,  32756,  32756,     11,     12,     12,     13,
        14,     15,     16,     17,     18,     19,     21,     22,     23,     25,     26,     28,
        30,     32,     34,     36,     38,     41,     43,     46,     49,     52,     56,     59,
        63,     67,     72,     76,     81,     86,     92,     98,    104,    111,    118,    125,
       133,    142,    151,    161,    171,    182,    194,    206,    219,    233,    248,    264,
       281,    299,    318,    338,    360,    383,    407,    433,    461,    490,    521,    554,
       589,    627,    666,    708,    753,    800,    851,    904,    961,   1021,   1084,   1152,
      1223,   1299,   1379,   1464,   1554,   1649,   1750,   1856,   1969,   2088,   2213,   2346,
      2486,   2633,   2789,   2952,   3124,   3306,   3496,   3696,   3906,   4126,   4357,   4599,
      4851,   5115,   5391,   5678,   5978,   6289,   6613,   6949,   7297,   7658,   8031,   8416,
      8813,   9221,   9641,  10072,  10513,  10964,  11424,  11894,  12371,  12856,  13348,  13845,
     14347,  14852,  15361,  15872,
};

const int16_t es_tanh_table_q15[256] = {
         0,   2045,   4075,   6073,   8025,   9919,  11743,  13486,  15143,  16706,  18173,  19542,
     20813,  21986,  23066,  24054,  24956,  25776,  26519,  27191,  27797,  28341,  28830,  29268,
     29660,  30010,  30322,  30600,  30847,  31067,  31262,  31435,  31589,  31726,  31846,  31953,
     32048,  32132,  32206,  32271,  32329,  32381,  32426,  32466,  32501,  32532,  32560,  32584,
     32606,  32625,  32642,  32657,  32670,  32681,  32691,  32700,  32708,  32715,  32721,  32727,
     32732,  32736,  32740,  32743,  32746,  32749,  32751,  32753,  32755,  32756,  32758,  32759,
     32760,  32761,  32762,  32762,  32763,  32764,  32764,  32765,  32765,  32765,  32766,  32766,
     32766,  32766,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,
     32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,
     32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767,
     32767,  32767,  32767,  32767,  32767,  32767,  32767,  32767, -32768, -32768, -32768, -32768,
    -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768,
    -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32768,
    -32768, -32768, -32768, -32768, -32768, -32768, -32767, -32767, -32767, -32767, -32767, -32767,
    -32767, -32767, -32767, -32766, -32766, -32766, -32766, -32765, -32765, -32765, -32764, -32764,
    -32763, -32762, -32762, -32761, -32760, -32759, -32758, -32756, -32755, -32753, -32751, -32749,
    -32746, -32743, -32740, -32736, -32732, -32727, -32721, -32715, -32708, -32700, -32691, -32681,
    -32670, -32657, -32642, -32625, -32606, -32584, -32560, -32532, -32501, -32466, -32426, -32381,
    -32329, -32271, -32206, -32132, -32048, -31953, -31846, -31726, -31589, -31435, -31262, -31067,
    -30847, -30600, -30322, -30010, -29660, -29268, -28830, -28341, -27797, -27191, -26519, -25776,
    -24956, -24054, -23066, -21986, -20813, -19542, -18173, -16706, -15143, -13486, -11743,  -9919,
     -8025,  -6073,  -4075,  -2045,
};
