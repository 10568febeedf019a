"""int8 fully connected; bit-exact twin of CMSIS-NN ``arm_fully_connected_s8`` and
``arm_fully_connected_per_channel_s8``.

Mirrors ARM-software/CMSIS-NN ``Source/FullyConnectedFunctions/arm_fully_connected_s8.c`` with
``arm_nn_vec_mat_mult_t_s8`` / ``arm_nn_vec_mat_mult_t_per_ch_s8`` (pure-C, DSP and MVE paths give
the same bits) and TFLM's ``reference_integer_ops::FullyConnected`` / ``FullyConnectedPerChannel``:

=============================================  =====================================
C function                                     here
=============================================  =====================================
``arm_fully_connected_s8`` (per tensor)         :func:`fully_connected_s8` (scalar requant)
``arm_fully_connected_per_channel_s8``          :func:`fully_connected_s8` (array requant),
                                               :func:`fully_connected_per_channel_s8`
``arm_fully_connected_s8_get_buffer_size``      :func:`fully_connected_s8_buffer_size`
=============================================  =====================================

Semantics, for each batch row ``b`` and output ``o``::

    acc = bias[o] + sum_j (x[b, j] + input_offset) * (w[o, j] + filter_offset)
    out[b, o] = clamp(requant(acc, multiplier[o], shift[o]) + output_offset, act_min, act_max)

The sum wraps modulo 2**32 like the C's int32 accumulator (the jitted body accumulates in int32
with wrap-around). ``filter_offset`` is the negated filter zero point (0 for TFLite's symmetric
int8 weights; CMSIS's ``rhs_offset`` path handles non-zero values).
"""
import numba as nb
import numpy as np

from edgesed.errors import ShapeError
from kernels.checks import check_array, output_array
from kernels.convolve_s8 import _backend, _bias_array
from kernels.requantize_s8 import check_offsets_act, check_requant, output_stage

__all__ = ["fully_connected_s8", "fully_connected_per_channel_s8",
           "fully_connected_s8_buffer_size"]


def fully_connected_s8_buffer_size(out_ch: int, backend: str = "dsp") -> int:
    """``arm_fully_connected_s8_get_buffer_size`` in bytes: 0 on DSP / pure C; on MVE the
    ``kernel_sum`` array, ``out_ch * sizeof(int32)``."""
    return 4 * int(out_ch) if _backend(backend) == "mve" else 0


@nb.njit(cache=True)
def _fully_connected_s8(x, w, bias, out, input_offset, filter_offset, output_offset, mult, shift,
                        act_min, act_max, single_rounding):
    """Body of :func:`fully_connected_s8`; see its docstring for the argument contract."""
    batches, n = x.shape
    cout = w.shape[0]
    has_bias = bias.shape[0] > 0
    io = np.int32(input_offset)
    fo = np.int32(filter_offset)
    for b in range(batches):
        xr = x[b]
        for o in range(cout):
            wr = w[o]
            acc = np.int32(0)
            if fo == 0:
                for j in range(n):
                    acc = np.int32(acc + (np.int32(xr[j]) + io) * np.int32(wr[j]))
            else:
                for j in range(n):
                    acc = np.int32(acc + (np.int32(xr[j]) + io) * (np.int32(wr[j]) + fo))
            s = np.int64(acc)
            if has_bias:
                s += np.int64(bias[o])
            out[b, o] = output_stage(s, mult[o], shift[o], output_offset, act_min, act_max,
                                     single_rounding)


def fully_connected_s8(x, w, bias, *, input_offset, filter_offset=0, output_offset, multiplier,
                       shift, act_min=-128, act_max=127, single_rounding=False, out=None):
    """int8 fully connected; twin of ``arm_fully_connected_s8`` (scalar ``multiplier``/``shift``)
    or ``arm_fully_connected_per_channel_s8`` (one per output).

    Parameters
    ----------
    x : np.ndarray [shape=(N,) or (B, N), dtype=int8]
    w : np.ndarray [shape=(Cout, N), dtype=int8]
    bias : np.ndarray [shape=(Cout,), dtype=int32] or None
    input_offset : int in [-127, 128]
        Negated input zero point (``fc_params->input_offset``).
    filter_offset : int in [-127, 128]
        Negated filter zero point (``fc_params->filter_offset``), default 0.
    output_offset : int in [-128, 127]
        Output zero point.
    multiplier, shift : int, or np.ndarray [shape=(Cout,), dtype=int32]
        Q31 multiplier in [0, 2**31 - 1], shift in [-31, 30] (> 0 is left).
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    single_rounding : bool
        ``CMSIS_NN_USE_SINGLE_ROUNDING`` (default False: double rounding).
    out : np.ndarray [shape=(Cout,) or (B, Cout), dtype=int8], optional
        Must not overlap ``x`` (every output row re-reads the whole input row).

    Returns
    -------
    out : np.ndarray [shape=(Cout,) or (B, Cout), dtype=int8]

    Notes
    -----
    Body: ``_fully_connected_s8(x, w, bias, out, input_offset, filter_offset, output_offset,
    mult, shift, act_min, act_max, single_rounding)`` with ``x`` int8[:, ::1] (B, N), ``w``
    int8[:, ::1], ``bias`` int32[::1] (length Cout or 0), ``out`` int8[:, ::1] (B, Cout),
    ``mult``/``shift`` int32[::1] of length Cout, ints.
    """
    if not isinstance(x, np.ndarray) or x.ndim not in (1, 2):
        raise ShapeError(f"x must be an int8 array of shape (N,) or (B, N), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    x = check_array("x", x, np.int8)
    w = check_array("w", w, np.int8, ndim=2)
    cout, n = w.shape
    if x.shape[-1] != n:
        raise ShapeError(f"w.shape[1]={n} must equal x.shape[-1]={x.shape[-1]} (accumulation "
                         "depth); did you pass w as (N, Cout)? TFLite stores (Cout, N)")
    io, oo, lo, hi, fo = check_offsets_act(input_offset, output_offset, act_min, act_max,
                                           filter_offset)
    mult, sh = check_requant(multiplier, shift, cout)
    b = _bias_array(bias, cout)
    out = output_array("out", out, np.int8, x.shape[:-1] + (cout,))
    _fully_connected_s8(x.reshape(-1, n), w, b, out.reshape(-1, cout), io, fo, oo, mult, sh, lo,
                        hi, int(bool(single_rounding)))
    return out


def fully_connected_per_channel_s8(x, w, bias, *, input_offset, filter_offset=0, output_offset,
                                   multiplier, shift, act_min=-128, act_max=127,
                                   single_rounding=False, out=None):
    """``arm_fully_connected_per_channel_s8``: :func:`fully_connected_s8` with one
    ``multiplier``/``shift`` per output channel (int32 arrays of length Cout)."""
    if np.ndim(multiplier) != 1 or np.ndim(shift) != 1:
        raise ShapeError("fully_connected_per_channel_s8 takes multiplier and shift as 1-D "
                         "arrays of length Cout; use fully_connected_s8 for per-tensor scalars")
    return fully_connected_s8(x, w, bias, input_offset=input_offset, filter_offset=filter_offset,
                              output_offset=output_offset, multiplier=multiplier, shift=shift,
                              act_min=act_min, act_max=act_max, single_rounding=single_rounding,
                              out=out)


def _warmup() -> None:
    """Compile (or load from cache) the body once on tiny inputs."""
    x = np.arange(-3, 3, dtype=np.int8)
    w = np.arange(-15, 15, dtype=np.int8).reshape(5, 6)
    fully_connected_s8(x, w, np.arange(5, dtype=np.int32), input_offset=1, filter_offset=2,
                       output_offset=-1, multiplier=1 << 30, shift=-2)
