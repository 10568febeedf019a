"""Dilated 3x3 convolutions (dense or depthwise) on NE16 as ``dilation**2`` dense phase jobs.

NE16 has no dilation. A dilated 3x3 with dilation ``d`` and stride 1 computes
``out[y, x] = sum_{ky,kx} xp[y + d*ky, x + d*kx] * w_eff[ky, kx]`` on the padded input ``xp``.
Split the outputs by phase ``(r, s) = (y mod d, x mod d)``: ``out[r::d, s::d]`` reads only
``xp[r::d, s::d]``, at consecutive positions, so it is an ordinary (undilated) 3x3 job on that
input phase, whose own top/left/bottom/right padding is the number of padded rows/columns the
phase contains. This is an exact identity: every output reads exactly the same input pixels with
the same weights, and the accumulators and normquant are per output. On the device each phase is
one job whose input and output are strided views (the input/output d0/d1 stride registers), so
nothing is copied; here the same jitted body runs on NumPy strided views. With each side's
padding in ``[0, 2*d]`` every phase job gets at most 2 rows/columns of padding per side, so each
is a legal NE16 3x3 job.

A Dilated CRNN with dilations 1, 2, 4, ... therefore costs ``d**2`` jobs of ``~Ho*Wo/d**2``
outputs each per layer (see the cycle model for the per-job overheads).

Public API: :func:`ne16_conv_dilated`, ``_warmup()``.
"""
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_int, output_array
from kernels.ne16.conv import _ne16_conv, prepare_job
from kernels.ne16.normquant import out_dtype
from kernels.ne16.packing import Mode, check_mode

__all__ = ["ne16_conv_dilated", "phase_geometry"]


def ne16_conv_dilated(x, w_unsigned, *, dilation, bits, wmin, mode="3x3", padding=0,
                      pad_value=0, scale=None, scale_bits=8, bias=None, shift=0, relu=False,
                      out_bits=None, input_signed=False, out=None):
    """A dilated 3x3 (dense or depthwise, stride 1) as ``dilation**2`` dense NE16 jobs.

    ``out[y, x] = sum_{ky,kx} xp[y + d*ky, x + d*kx] * w_eff[ky, kx]`` with ``xp`` padded by
    ``padding`` (top, right, bottom, left; each side in [0, 2*dilation]); ``Ho = H + top + bottom
    - 2*d``. Phase ``(r, s)`` computes ``out[r::d, s::d]`` as an undilated job on
    ``xp[r::d, s::d]`` (its own padding is the padded rows/columns that phase contains). Exact.

    Parameters
    ----------
    x : np.ndarray [shape=(H, W, Cin), dtype=uint8 (int8 with ``input_signed``)]
    w_unsigned : np.ndarray [shape=(Kout, 3, 3, Cin) or (C, 3, 3, 1), dtype=uint8]
    dilation : int >= 1
    mode : {"3x3", "dw3x3"}
    padding : int or (top, right, bottom, left), each in [0, 2*dilation]
    Others as :func:`kernels.ne16.conv.ne16_conv` (stride is 1).

    Returns
    -------
    out : np.ndarray [shape=(H + top + bottom - 2d, W + left + right - 2d, Kout)]
    """
    d = check_int("dilation", dilation)
    if d < 1:
        raise ConfigError(f"dilation={d} must be >= 1")
    m = check_mode(mode)
    if m not in (Mode.CONV3X3, Mode.DEPTHWISE3X3):
        raise ConfigError(f"mode={m.value!r}: dilation applies to 3x3 and dw3x3 only")
    if isinstance(padding, (tuple, list)):
        pads = tuple(check_int(f"padding[{i}]", p) for i, p in enumerate(padding))
        if len(pads) != 4:
            raise ConfigError(f"padding={padding!r} must be an int or (top, right, bottom, left)")
    else:
        pads = (check_int("padding", padding),) * 4
    if min(pads) < 0 or max(pads) > 2 * d:
        raise ConfigError(f"padding={padding!r}: each side must be in [0, 2*dilation={2 * d}]")
    # Validate all the per-job arguments once, on an undilated job of the same channels.
    (m, x3, _, _, w, wmin, pv, nq, sc, b, hb, sh, relu, ob,
     x_xor) = prepare_job(x, w_unsigned, bits, wmin, m, 1, 0, pad_value, scale, scale_bits, bias,
                       shift, relu, out_bits, input_signed)
    t, r_, bt, l = pads
    h, wd = x3.shape[0], x3.shape[1]
    ho, wo = h + t + bt - 2 * d, wd + l + r_ - 2 * d
    if ho < 1 or wo < 1:
        raise ShapeError(f"input {h}x{wd} with padding={pads} is smaller than the dilated "
                         f"window {2 * d + 1}x{2 * d + 1}")
    out = output_array("out", out, out_dtype(ob, relu, nq), (ho, wo, w.shape[0]))
    rows = [phase_geometry(ph, d, t, h, ho) for ph in range(min(d, ho))]
    cols = [phase_geometry(ph, d, l, wd, wo) for ph in range(min(d, wo))]
    for ph_r, (y0, ny, pt) in enumerate(rows):
        for ph_c, (x0, nx, pl) in enumerate(cols):
            xv = x3[y0:y0 + d * ny:d, x0:x0 + d * nx:d] if ny and nx else x3[0:0, 0:0]
            ov = out[ph_r::d, ph_c::d]
            _ne16_conv(xv, x_xor, w, wmin, int(m is Mode.DEPTHWISE3X3), 1, pt, pl, pv, int(nq),
                       sc, b, int(hb), sh, int(relu), ob, ov)
    return out


def phase_geometry(ph: int, d: int, pad_lo: int, size: int, n_out: int):
    """For output phase ``ph`` along one axis: (first input index, input count, pad before).

    The phase reads padded positions ``Y = ph + d*j`` for ``j < q + 2`` where ``q`` is its output
    count; ``Y < pad_lo`` are padding (count ``pt``), then real rows ``Y - pad_lo``.
    """
    q = -(-(n_out - ph) // d)
    pt = max(0, -(-(pad_lo - ph) // d))
    y0 = ph + d * pt - pad_lo
    n = max(0, min(-(-(size - y0) // d), q + 2 - pt))
    return y0, n, pt


def _warmup() -> None:
    """Compile (or load from cache) the strided-view specializations of the body."""
    x = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    w = (np.arange(3 * 9 * 5) % 8).astype(np.uint8).reshape(3, 3, 3, 5)
    sc = np.ones(3, dtype=np.int64)
    ne16_conv_dilated(x, w, dilation=2, bits=3, wmin=-4, padding=2, scale=sc, relu=True)
    ne16_conv_dilated(x, w, dilation=2, bits=3, wmin=-4, padding=2, scale=sc)
    ne16_conv_dilated(x, w, dilation=2, bits=3, wmin=-4, padding=2)
