"""int8 max and average pooling; bit-exact twins of CMSIS-NN ``arm_max_pool_s8`` and
``arm_avgpool_s8``.

Mirrors ARM-software/CMSIS-NN ``Source/PoolingFunctions/arm_{max_pool,avgpool}_s8.c`` and TFLM's
``reference_integer_ops::MaxPool`` / ``AveragePool`` (int8):

=====================================  ==============================
C function                             here
=====================================  ==============================
``arm_max_pool_s8``                     :func:`max_pool_s8`
``arm_avgpool_s8``                      :func:`avg_pool_s8`
``arm_avgpool_s8_get_buffer_size``      :func:`avg_pool_s8_buffer_size`
=====================================  ==============================

Semantics (HWC without batch; no zero points are applied — input and output share them)::

    taps(oy, ox) = in-image positions (oy*stride_y - pad_top + ky, ox*stride_x - pad_left + kx)
    max:  out = clamp(max over taps, act_min, act_max)
    avg:  s = sum over taps, n = number of taps (padding taps are NOT counted, as in TFLM)
          out = clamp(s > 0 ? (s + n/2) / n : (s - n/2) / n, act_min, act_max)   # C '/' truncates

so the average rounds half away from zero. A window with no in-image tap is an error in both the
C (``ARM_CMSIS_NN_ARG_ERROR``) and TFLM; here a :class:`ConfigError`. The DSP path of
``arm_avgpool_s8`` sums with ``QADD`` (saturating), which only differs from the plain sum above
2**24 taps. ``out`` must not overlap ``x``. The output size comes from ``out.shape``; default
``(H + 2*pad - K) // stride + 1``.
"""
import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array, check_pair
from kernels.convolve_s8 import _backend
from kernels.requantize_s8 import check_offsets_act

__all__ = ["max_pool_s8", "avg_pool_s8", "avg_pool_s8_buffer_size", "pool_output_size"]


def pool_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """``(size + 2*pad - kernel) // stride + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def avg_pool_s8_buffer_size(out_w: int, channels: int, backend: str = "dsp") -> int:
    """``arm_avgpool_s8_get_buffer_size(output_x, ch_src)`` in bytes: ``ch_src * 4`` on DSP
    (the int32 sum row), 0 on MVE and pure C."""
    return 4 * int(channels) if _backend(backend) == "dsp" else 0


@nb.njit(cache=True, inline="always")
def _window(o, stride, pad, k, size):
    base = o * stride - pad
    k0 = max(0, -base)
    k1 = min(k, size - base)
    return base, k0, k1


@nb.njit(cache=True)
def _max_pool_s8(x, out, kh, kw, stride_y, stride_x, pad_y, pad_x, act_min, act_max):
    """Body of :func:`max_pool_s8`; returns 0, or -1 if a window has no in-image tap."""
    in_h, in_w, ch = x.shape
    out_h, out_w = out.shape[0], out.shape[1]
    for oy in range(out_h):
        by, ky0, ky1 = _window(oy, stride_y, pad_y, kh, in_h)
        for ox in range(out_w):
            bx, kx0, kx1 = _window(ox, stride_x, pad_x, kw, in_w)
            if ky1 <= ky0 or kx1 <= kx0:
                return -1
            # Direct unsigned indices (every tap here is in the image): no sub-array views and
            # no negative-index test in the loop. max is order-free, so channel-outer is exact.
            for c in range(ch):
                m = x[np.uint64(by + ky0), np.uint64(bx + kx0), c]
                for ky in range(ky0, ky1):
                    uy = np.uint64(by + ky)
                    for kx in range(kx0, kx1):
                        v = x[uy, np.uint64(bx + kx), c]
                        if v > m:
                            m = v
                if m < act_min:
                    m = act_min
                if m > act_max:
                    m = act_max
                out[oy, ox, c] = m
    return 0


@nb.njit(cache=True)
def _avg_pool_s8(x, out, acc, kh, kw, stride_y, stride_x, pad_y, pad_x, act_min, act_max):
    """Body of :func:`avg_pool_s8`; returns 0, or -1 if a window has no in-image tap."""
    in_h, in_w, ch = x.shape
    out_h, out_w = out.shape[0], out.shape[1]
    for oy in range(out_h):
        by, ky0, ky1 = _window(oy, stride_y, pad_y, kh, in_h)
        for ox in range(out_w):
            bx, kx0, kx1 = _window(ox, stride_x, pad_x, kw, in_w)
            if ky1 <= ky0 or kx1 <= kx0:
                return -1
            n = np.int32((ky1 - ky0) * (kx1 - kx0))
            half = n // 2
            for c in range(ch):
                acc[c] = 0
            for ky in range(ky0, ky1):
                for kx in range(kx0, kx1):
                    xr = x[by + ky, bx + kx]
                    for c in range(ch):
                        acc[c] += np.int32(xr[c])
            o = out[oy, ox]
            for c in range(ch):
                s = acc[c]
                if s > 0:
                    v = (s + half) // n
                else:
                    v = -((half - s) // n)        # C: (s - n/2) / n truncates toward zero
                if v < act_min:
                    v = act_min
                if v > act_max:
                    v = act_max
                o[c] = v
    return 0


def _pool_args(x, kernel, stride, padding, act_min, act_max, out):
    x = check_array("x", x, np.int8, ndim=3)
    (kh, kw), (sy, sx), (py, px) = check_pair("kernel", kernel), check_pair("stride", stride), \
        check_pair("padding", padding)
    if min(kh, kw, sy, sx) < 1 or min(py, px) < 0:
        raise ConfigError(f"kernel={kernel!r} and stride={stride!r} must be >= 1 and "
                          f"padding={padding!r} >= 0")
    _, _, lo, hi, _ = check_offsets_act(0, 0, act_min, act_max)
    h, w, c = x.shape
    if out is None:
        oh, ow = pool_output_size(h, kh, sy, py), pool_output_size(w, kw, sx, px)
        if oh < 1 or ow < 1:
            raise ShapeError(f"x.shape={x.shape} is too small for a {kh}x{kw} pool with "
                             f"padding {(py, px)}")
        out = np.zeros((oh, ow, c), dtype=np.int8)
    else:
        out = check_array("out", out, np.int8, ndim=3, writable=True)
        if out.shape[2] != c:
            raise ShapeError(f"out.shape={out.shape} must have the input's {c} channels")
    return x, out, (kh, kw, sy, sx, py, px, lo, hi)


def _empty_window_error(x, out, args):
    kh, kw, sy, sx, py, px = args[:6]
    return ConfigError(f"a {kh}x{kw} pooling window (stride {(sy, sx)}, padding {(py, px)}) "
                       f"of out.shape={out.shape} lies wholly outside x.shape={x.shape}; the C "
                       "returns ARM_CMSIS_NN_ARG_ERROR. Reduce the output size or the padding")


def max_pool_s8(x, *, kernel, stride, padding=(0, 0), act_min=-128, act_max=127, out=None):
    """int8 max pooling over in-image taps, then clamp; twin of ``arm_max_pool_s8``.

    Parameters
    ----------
    x : np.ndarray [shape=(H, W, C), dtype=int8]
    kernel, stride : int or (y, x), each >= 1
    padding : int or (pad_top, pad_left), each >= 0
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    out : np.ndarray [shape=(OH, OW, C), dtype=int8], optional
        Must not overlap ``x``.

    Returns
    -------
    out : np.ndarray [shape=(OH, OW, C), dtype=int8]

    Notes
    -----
    Body: ``_max_pool_s8(x, out, kh, kw, stride_y, stride_x, pad_y, pad_x, act_min, act_max)``
    with ``x``/``out`` int8[:, :, ::1]; returns 0, or -1 for a window with no in-image tap.
    """
    x, out, args = _pool_args(x, kernel, stride, padding, act_min, act_max, out)
    if _max_pool_s8(x, out, *args) != 0:
        raise _empty_window_error(x, out, args)
    return out


def avg_pool_s8(x, *, kernel, stride, padding=(0, 0), act_min=-128, act_max=127, out=None,
                scratch=None):
    """int8 average pooling over in-image taps (padding not counted), rounding half away from
    zero; twin of ``arm_avgpool_s8``.

    Parameters
    ----------
    x : np.ndarray [shape=(H, W, C), dtype=int8]
    kernel, stride : int or (y, x), each >= 1
    padding : int or (pad_top, pad_left), each >= 0
    act_min, act_max : int, -128 <= act_min <= act_max <= 127
    out : np.ndarray [shape=(OH, OW, C), dtype=int8], optional
        Must not overlap ``x``.
    scratch : np.ndarray [shape=(>= C,), dtype=int32], optional
        The int32 sum row (the DSP build's ``ctx->buf``, :func:`avg_pool_s8_buffer_size`).

    Returns
    -------
    out : np.ndarray [shape=(OH, OW, C), dtype=int8]

    Notes
    -----
    Body: ``_avg_pool_s8(x, out, acc, kh, kw, stride_y, stride_x, pad_y, pad_x, act_min,
    act_max)`` with ``acc`` int32[::1] (>= C); returns 0, or -1 for an empty window.
    """
    x, out, args = _pool_args(x, kernel, stride, padding, act_min, act_max, out)
    c = x.shape[2]
    if scratch is None:
        scratch = np.zeros(c, dtype=np.int32)
    else:
        scratch = check_array("scratch", scratch, np.int32, ndim=1, writable=True)
        if scratch.shape[0] < c:
            raise ShapeError(f"scratch has {scratch.shape[0]} int32 elements; need C={c}")
    if _avg_pool_s8(x, out, scratch, *args) != 0:
        raise _empty_window_error(x, out, args)
    return out


def _warmup() -> None:
    """Compile (or load from cache) both bodies once on tiny inputs."""
    x = np.arange(-18, 18, dtype=np.int8).reshape(3, 3, 4)
    max_pool_s8(x, kernel=2, stride=1, padding=1)
    avg_pool_s8(x, kernel=2, stride=1, padding=1)
