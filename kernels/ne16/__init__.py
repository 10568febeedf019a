"""kernels.ne16: bit-exact functional model of GAP9's NE16 accelerator (issue 7, parts 1-2).

NE16 runs 3x3, 1x1 and 3x3 depthwise convolutions (and fully connected layers as 1x1 jobs) on
uint8 activations with 2..8-bit weights stored unsigned plus a per-layer offset ``Wmin``, 32-bit
wrapping accumulators, and a "normquant" stage (unsigned per-channel scale, int32 bias, floor
shift, ReLU/saturation). Sources and line numbers: ``/work/shared/research/ne16.md``.

API map
-------
- :mod:`kernels.ne16.packing` — the weight memory layout (bit planes x 16-channel groups)
  - ``Mode`` (``"3x3"``, ``"1x1"``, ``"dw3x3"``, ``"fc"``), ``check_bits``, ``kernel_size``
  - ``pack_weights(w_unsigned, bits, mode)`` / ``unpack_weights(packed, bits, mode, shape)``
  - ``packed_weight_bytes(mode, k_out, k_in, bits)`` — ROM size of the packed form
  - ``to_unsigned(w_signed, bits) -> (w_unsigned, wmin)``
- :mod:`kernels.ne16.normquant` — the normquant stage (RTL variant): ``ne16_normquant(acc, *,
  scale, scale_bits, bias, shift, relu, out_bits, out)``, ``check_normquant_args``, ``out_dtype``
- :mod:`kernels.ne16.conv` — the convolution job
  - ``ne16_conv(x, w_unsigned, *, bits, wmin, mode, stride, padding, pad_value, scale,
    scale_bits, bias, shift, relu, out_bits, input_signed, out)`` — one NE16 layer, RTL-exact
  - ``ne16_conv_packed(x, packed, shape, *, bits, mode, ...)`` — the same on packed bytes
  - ``ne16_output_shape``, ``signed_input_bias`` (bias correction for int8 inputs),
    ``check_wmin``, ``check_padding``, ``prepare_job`` (validation shared with the engine)
  - ``_warmup()``
- :mod:`kernels.ne16.dilated` — ``ne16_conv_dilated`` (dilated 3x3 as dilation**2 exact dense
  phase jobs), ``_warmup()``
- :mod:`kernels.ne16.cluster` — the cluster-core bodies beside NE16: PULP-NN max pooling, a
  global max, nnom's GRU over a sequence (fed NE16's u8 output)

``kernels.ne16._warmup()`` compiles every body of the package (register ``"kernels.ne16"`` in
``kernels.FAMILIES``).
"""
import importlib

_MODULES = ("kernels.ne16.normquant", "kernels.ne16.conv", "kernels.ne16.dilated",
            "kernels.ne16.cluster")


def _warmup() -> None:
    """Compile (or load from the Numba cache) every NE16 body once on tiny inputs."""
    for name in _MODULES:
        importlib.import_module(name)._warmup()
