"""Plain-Python references for int8 elementwise ADD / MUL (TFLM ``reference_integer_ops::AddFunc``
and ``MulElementwise``), element by element with Python ints; written from the TFLM formulas, not
from ``kernels/``."""
import numpy as np

from tests.naive.s8 import requant_ref, wrap32


def add_ref(a, b, a_offset, a_mult, a_shift, b_offset, b_mult, b_shift, left_shift, out_offset,
            out_mult, out_shift, act_min, act_max, single_rounding=False):
    """``clamp(rq(rq((a+ao)*2**ls) + rq((b+bo)*2**ls)) + out_offset)`` per element."""
    res = []
    for x, y in zip(np.asarray(a).reshape(-1).tolist(), np.asarray(b).reshape(-1).tolist()):
        sx = requant_ref(wrap32((x + a_offset) * (1 << left_shift)), a_mult, a_shift,
                         single_rounding)
        sy = requant_ref(wrap32((y + b_offset) * (1 << left_shift)), b_mult, b_shift,
                         single_rounding)
        v = requant_ref(wrap32(sx + sy), out_mult, out_shift, single_rounding) + out_offset
        res.append(min(act_max, max(act_min, v)))
    return np.array(res, dtype=np.int8).reshape(np.shape(a))


def mul_ref(a, b, a_offset, b_offset, out_offset, out_mult, out_shift, act_min, act_max,
            single_rounding=False):
    """``clamp(rq((a+ao)*(b+bo)) + out_offset)`` per element."""
    res = []
    for x, y in zip(np.asarray(a).reshape(-1).tolist(), np.asarray(b).reshape(-1).tolist()):
        v = requant_ref((x + a_offset) * (y + b_offset), out_mult, out_shift,
                        single_rounding) + out_offset
        res.append(min(act_max, max(act_min, v)))
    return np.array(res, dtype=np.int8).reshape(np.shape(a))
