/*
 * edgesed_q7.h - portable C99 q7 kernels with the semantics of CMSIS-NN legacy q7 (CMSIS_5
 * 5.6.0, ARM_MATH_DSP build), nnom's q7 simple RNN cell and nnom's GRU cell (q15 state).
 *
 * Part of edgesed. Written from the semantics documented in edgesed's Numba twins (Python
 * package `kernels`); no intrinsics, only <stdint.h> and <string.h>. Every function gives
 * the bits of the firmware function it is named after (es_X <-> arm_X), in CMSIS argument
 * order, so a firmware can link these on any core and a host test can compare them with
 * edgesed.
 *
 * Arithmetic (all kernels):
 *     acc = wrap32(((int32)bias << bias_shift) + ES_NN_ROUND(out_shift) + sum w*x)
 *     out = ssat8(acc >> out_shift)                       arithmetic shift
 * ES_NN_ROUND(s) is (1 << s) >> 1 (round half toward +inf), or 0 (floor) when built with
 * -DARM_NN_TRUNCATE (or -DES_NN_TRUNCATE). Sums wrap modulo 2^32 as __SMLAD does; the
 * implementation uses unsigned arithmetic, so there is no undefined behaviour.
 *
 * Shifts (bias_shift, out_shift, oshift_*) must be in 0..31, as C shifts require.
 *
 * Layouts: maps are HWC int8; conv weights [ch_out][k_y][k_x][ch_in]; biases q7 (int8).
 * Scratch: bufferA is int16 (q15) and must be 2-byte aligned:
 *   conv basic/fast/RGB(_nonsquare): 2*ch_in*k_x*k_y q15 (edgesed plans that many; one column
 *   of ch_in*k_x*k_y is used), 1x1 fast: 2*ch_in q15; fully connected: dim_vec q15;
 *   avepool DSP: 2*dim_im_out_x*ch_im_in bytes; maxpool and the RNN cell: none.
 * Aliasing: pools may run in place (bit-exact, see below) and fully connected may write over
 * its input; a conv's Im_out must not overlap Im_in or bufferA (the device computes two
 * pixels per step, these kernels one, so aliased results would differ).
 *
 * Status: functions that CMSIS-NN declares arm_status return ES_OK, or ES_SIZE_MISMATCH when
 * a fast/RGB/1x1 constraint fails (ARM_MATH_SIZE_MISMATCH) and nothing is written.
 */
#ifndef EDGESED_Q7_H
#define EDGESED_Q7_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ES_OK 0
#define ES_SIZE_MISMATCH (-1)

#if defined(ARM_NN_TRUNCATE) || defined(ES_NN_TRUNCATE)
#define ES_NN_ROUND(s) (0u * (uint32_t)(s)) /* 0; uses s to keep -Wunused quiet */
#define ES_ROUNDING_NAME "ARM_NN_TRUNCATE"
#else
#define ES_NN_ROUND(s) ((uint32_t)((UINT32_C(1) << (s)) >> 1))
#define ES_ROUNDING_NAME "NN_ROUND"
#endif

/* nnom's local_fully_connected_q7_opt gives its rows % 4 leftover rows bias[0], bias[1], ...
 * (edgesed mirrors it by default, see kernels/rnn_q7.py); -DES_NNOM_BIAS_QUIRK=0 for CMSIS. */
#ifndef ES_NNOM_BIAS_QUIRK
#define ES_NNOM_BIAS_QUIRK 1
#endif

/** arm_nn_activation_type */
typedef enum { ES_SIGMOID = 0, ES_TANH = 1 } es_nn_activation_type;

/** sigmoidTable_q7 / tanhTable_q7: f(int8(i) / 16) in Q0.7, rounded and clamped. */
extern const int8_t es_sigmoid_table_q7[256];
extern const int8_t es_tanh_table_q7[256];

/* ------------------------------------------------------------------------ convolution */
/* arm_convolve_HWC_q7_{basic,fast,RGB}: square maps, kernels, padding and stride.
 * fast needs ch_im_in % 4 == 0 and ch_im_out % 2 == 0; RGB needs ch_im_in == 3. */
int es_convolve_HWC_q7_basic(const int8_t *Im_in, uint16_t dim_im_in, uint16_t ch_im_in,
                             const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel,
                             uint16_t padding, uint16_t stride, const int8_t *bias,
                             uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
                             uint16_t dim_im_out, int16_t *bufferA, int8_t *bufferB);
int es_convolve_HWC_q7_fast(const int8_t *Im_in, uint16_t dim_im_in, uint16_t ch_im_in,
                            const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel,
                            uint16_t padding, uint16_t stride, const int8_t *bias,
                            uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
                            uint16_t dim_im_out, int16_t *bufferA, int8_t *bufferB);
int es_convolve_HWC_q7_RGB(const int8_t *Im_in, uint16_t dim_im_in, uint16_t ch_im_in,
                           const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel,
                           uint16_t padding, uint16_t stride, const int8_t *bias,
                           uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
                           uint16_t dim_im_out, int16_t *bufferA, int8_t *bufferB);

/* arm_convolve_HWC_q7_{basic,fast}_nonsquare and arm_convolve_1x1_HWC_q7_fast_nonsquare:
 * x (width) before y (height) in every pair, as in CMSIS. The 1x1 kernel also needs a 1x1
 * kernel, no padding and stride 1. */
int es_convolve_HWC_q7_basic_nonsquare(
    const int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y, uint16_t ch_im_in,
    const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
    uint16_t padding_x, uint16_t padding_y, uint16_t stride_x, uint16_t stride_y,
    const int8_t *bias, uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
    uint16_t dim_im_out_x, uint16_t dim_im_out_y, int16_t *bufferA, int8_t *bufferB);
int es_convolve_HWC_q7_fast_nonsquare(
    const int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y, uint16_t ch_im_in,
    const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
    uint16_t padding_x, uint16_t padding_y, uint16_t stride_x, uint16_t stride_y,
    const int8_t *bias, uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
    uint16_t dim_im_out_x, uint16_t dim_im_out_y, int16_t *bufferA, int8_t *bufferB);
int es_convolve_1x1_HWC_q7_fast_nonsquare(
    const int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y, uint16_t ch_im_in,
    const int8_t *wt, uint16_t ch_im_out, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
    uint16_t padding_x, uint16_t padding_y, uint16_t stride_x, uint16_t stride_y,
    const int8_t *bias, uint16_t bias_shift, uint16_t out_shift, int8_t *Im_out,
    uint16_t dim_im_out_x, uint16_t dim_im_out_y, int16_t *bufferA, int8_t *bufferB);

/* ---------------------------------------------------------------------------- pooling */
/* arm_{max,ave}pool_q7_HWC with edgesed's non-square extension (x before y; square
 * arguments give CMSIS 5.6.0's bits). Im_out may equal Im_in (pooling in place in a ping-pong
 * buffer): the result is then the bytes the C writes in place.
 * _dsp: the ARM_MATH_DSP algorithm. It destroys Im_in: an in-place x-pass along each input
 *       row (a window clipped on the left starts at the *target* pixel), then a y-pass into
 *       Im_out; max uses memmove + 4-byte compare-and-replace, avg q15 sums in bufferA
 *       (2*dim_im_out_x*ch_im_in bytes) truncated by C division in each pass.
 * _c:   the plain-C (Cortex-M0/M3) ideal formula over the valid taps, channel-major order. */
void es_maxpool_q7_HWC_dsp(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                           uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                           uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                           uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                           int8_t *bufferA, int8_t *Im_out);
void es_maxpool_q7_HWC_c(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                         uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                         uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                         uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                         int8_t *bufferA, int8_t *Im_out);
void es_avepool_q7_HWC_dsp(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                           uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                           uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                           uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                           int8_t *bufferA, int8_t *Im_out);
void es_avepool_q7_HWC_c(int8_t *Im_in, uint16_t dim_im_in_x, uint16_t dim_im_in_y,
                         uint16_t ch_im_in, uint16_t dim_kernel_x, uint16_t dim_kernel_y,
                         uint16_t padding_x, uint16_t padding_y, uint16_t stride_x,
                         uint16_t stride_y, uint16_t dim_im_out_x, uint16_t dim_im_out_y,
                         int8_t *bufferA, int8_t *Im_out);

/* -------------------------------------------------------------------- fully connected */
/* arm_fully_connected_q7: pM row-major [num_of_rows][dim_vec]. vec_buffer (dim_vec q15)
 * receives pV as q15 in x0 x2 x1 x3 order; after that only vec_buffer is read, so pOut may
 * equal pV. */
int es_fully_connected_q7(const int8_t *pV, const int8_t *pM, uint16_t dim_vec,
                          uint16_t num_of_rows, uint16_t bias_shift, uint16_t out_shift,
                          const int8_t *bias, int8_t *pOut, int16_t *vec_buffer);
/* arm_fully_connected_q7_opt: pM interleaved by convert_to_x4_q7_weights (per 4 rows and 4
 * columns r0c0 r1c0 r0c2 r1c2 r2c0 r3c0 r2c2 r3c2 r0c1 r1c1 r0c3 r1c3 r2c1 r3c1 r2c3 r3c3, tail
 * columns as r0j r1j r2j r3j, rows % 4 leftover rows natural). Same bits as the plain kernel. */
int es_fully_connected_q7_opt(const int8_t *pV, const int8_t *pM, uint16_t dim_vec,
                              uint16_t num_of_rows, uint16_t bias_shift, uint16_t out_shift,
                              const int8_t *bias, int8_t *pOut, int16_t *vec_buffer);

/* ------------------------------------------------------------------------ activations */
/* arm_relu_q7: in place, max(x, 0). */
void es_relu_q7(int8_t *data, uint16_t size);
/* arm_nn_activations_direct_q7: in place, table[(uint8_t)(x >> (3 - int_width))],
 * int_width in 0..3. */
void es_nn_activations_direct_q7(int8_t *data, uint16_t size, uint16_t int_width,
                                 es_nn_activation_type type);

/* -------------------------------------------------------------------------- recurrent */
/* One time step of nnom's q7 simple RNN cell (simple_cell_run with in/out state the same
 * buffer), weights x4-interleaved as nnom stores them:
 *     out   <- ssat8((NN_ROUND(oshift_hw) + U @ state) >> oshift_hw)       (local_dot_q7_opt)
 *     state <- ssat8(((b << bias_shift) + NN_ROUND(oshift_iw) + W @ x) >> oshift_iw)
 *     state <- act(ssat8(state + out), act_int_width);  out <- state
 * act: table lookup at (uint8_t)(s >> (3 - act_int_width)) for act_int_width <= 3 (shift up
 * to 31, act_int_width >= -28); for act_int_width > 3 nnom saturates: tanh 127/0/-128 for
 * s > 0 / == 0 / < 0, sigmoid 127 for s > 0 and 0 otherwise. out must not alias state or x;
 * x must not alias state. state (units bytes) persists between calls; zero it to reset. */
void es_simple_rnn_cell_q7(const int8_t *x, uint16_t feature_size, const int8_t *weights,
                           const int8_t *recurrent_weights, const int8_t *bias, uint16_t units,
                           int8_t *state, int8_t *out, uint16_t bias_shift, uint16_t oshift_iw,
                           uint16_t oshift_hw, int16_t act_int_width,
                           es_nn_activation_type act);

/* One time step of nnom's GRU cell (gru_cell_run, nnom's plain-C local_* backend; q7 input,
 * weights and biases, q15 state), the twin of kernels/gru_q7.py:
 *     xq = x << 8;  mx = FC(xq, W, bias), mh = FC(state, U, recurrent_bias)   (3*units rows
 *     z, r, h; both FCs shift their bias by bias_shift + 8, int64 sums, ssat16 results)
 *     z = sigmoid(ssat16(x_z + rec_z)); r = sigmoid(ssat16(x_r + rec_r))
 *     hh = tanh(ssat16(x_h + mult(r, rec_h)))
 *     state = ssat16(mult(z, state) + mult((q15_t)(32767 - z), hh));  out = state >> 8
 *     mult(a, b) = ssat16((a*b + ES_NN_ROUND(15)) >> 15); sigmoid/tanh: es_act_q15 (CMSIS
 *     5.8.0+ arm_nn_activations_direct_q15 with int_width = act_int_width in 0..3)
 * weights/recurrent_weights: W (3*units, feature_size) and U (3*units, units) reordered by
 * nnom's convert_q7_q15_weights. state: units q15 values (2-byte aligned), persists between
 * calls; zero it to reset. buffer: 9*units + feature_size q15 (2-byte aligned), must not
 * overlap anything else; out must not alias state or buffer; x must not alias state. */
void es_gru_cell_q7(const int8_t *x, uint16_t feature_size, const int8_t *weights,
                    const int8_t *recurrent_weights, const int8_t *bias,
                    const int8_t *recurrent_bias, uint16_t units, int16_t *state, int8_t *out,
                    int16_t *buffer, uint16_t bias_shift, uint16_t oshift_iw, uint16_t oshift_hw,
                    uint16_t act_int_width);

extern const int16_t es_sigmoid_table_q15[256];
extern const int16_t es_tanh_table_q15[256];

#ifdef __cplusplus
}
#endif

#endif /* EDGESED_Q7_H */
