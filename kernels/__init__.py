"""kernels: bit-exact integer twins of firmware neural-network kernels, compiled with Numba.

Each public function is named after the C function it mirrors and writes into an ``out`` array
it is given (so the engine can place it inside a planned arena). Every family has a naive
reference in ``tests/naive/`` and hypothesis property tests against it.

CMSIS-NN legacy q7/q15 (CMSIS_5 5.6.0, power-of-two shifts):

- ``kernels.rounding``        — ``Rounding`` (NN_ROUND / ARM_NN_TRUNCATE), ``ssat``, ``wrap32``
- ``kernels.convolve_q7``     — arm_convolve_HWC_q7_{basic,fast,RGB}[_nonsquare], 1x1_fast
- ``kernels.depthwise_q7``    — arm_depthwise_separable_conv_HWC_q7[_nonsquare]
- ``kernels.fully_connected_q7`` — arm_fully_connected_q7[_opt], mat_q7_vec_q15[_opt], weight reordering
- ``kernels.pool_q7``         — arm_maxpool_q7_HWC / arm_avepool_q7_HWC, plain-C and DSP (in-place)
- ``kernels.activations_q7``  — arm_relu_q7/q15, arm_nn_activations_direct_q7/q15, arm_softmax_q7
- ``kernels.rnn_q7``          — vanilla (simple) RNN cell, q7 in/out, state kept by the caller
- ``kernels.gru_q7``          — nnom GRU cell, q7 in/out, q15 state kept by the caller

CMSIS-NN s8/s16/s4 (ARM-software/CMSIS-NN; bit-exact with TFLite Micro's reference kernels):

- ``kernels.requantize_s8``   — arm_nn_requantize (double and single rounding), QuantizeMultiplier
- ``kernels.convolve_s8``     — arm_convolve_wrapper_s8 / arm_convolve_s8 (padding, stride,
  dilation, groups)
- ``kernels.depthwise_s8``    — arm_depthwise_conv_wrapper_s8 (channel multiplier, dilation)
- ``kernels.fully_connected_s8`` — arm_fully_connected_s8 and _per_channel_s8
- ``kernels.pool_s8``         — arm_max_pool_s8, arm_avgpool_s8
- ``kernels.softmax_s8``      — arm_softmax_s8 (and _s8_s16), arm_softmax_s16 with its LUTs
- ``kernels.elementwise_s8``  — arm_elementwise_add_s8, arm_elementwise_mul_s8
- ``kernels.s4``              — packed int4 weights: arm_convolve_s4, arm_depthwise_conv_s4,
  arm_fully_connected_s4
- ``kernels.lstm_s8``         — arm_lstm_unidirectional_s8 with state kept across calls

GAP9 NE16 accelerator (pulp-platform/ne16 RTL, pulp-nnx):

- ``kernels.ne16``            — 3x3 / 1x1 / depthwise 3x3 / FC-as-1x1 jobs, 2-8-bit weights with
  the Wmin offset, normquant, the packed bit-plane weight layout, dilation by phase jobs

Support modules (no kernels of their own, so not in ``FAMILIES``):

- ``kernels.convolve_q7_vector`` — the convolutions' vector path: direct convolution in LLVM IR
- ``kernels.simd_q7``         — LLVM IR building blocks shared by the conv and depthwise vector
  paths
- ``kernels.checks``          — argument checks shared by the public wrappers
- ``kernels.gemmlowp``        — gemmlowp fixed-point helpers of the s8/s16 softmax
"""
import importlib

#: modules that expose a ``_warmup()`` compiling every jitted body once on tiny inputs
FAMILIES = (
    "kernels.convolve_q7",
    "kernels.depthwise_q7",
    "kernels.fully_connected_q7",
    "kernels.pool_q7",
    "kernels.activations_q7",
    "kernels.rnn_q7",
    "kernels.gru_q7",
    "kernels.requantize_s8",
    "kernels.convolve_s8",
    "kernels.depthwise_s8",
    "kernels.fully_connected_s8",
    "kernels.pool_s8",
    "kernels.softmax_s8",
    "kernels.elementwise_s8",
    "kernels.s4",
    "kernels.lstm_s8",
    "kernels.ne16",
)


def warmup() -> None:
    """Compile (or load from the Numba cache) every kernel family once."""
    for name in FAMILIES:
        importlib.import_module(name)._warmup()
