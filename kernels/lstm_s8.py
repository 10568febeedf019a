"""int8 unidirectional LSTM with state kept across calls; bit-exact twin of TFLM's int8
``UNIDIRECTIONAL_SEQUENCE_LSTM`` reference kernel (``lstm_eval.h`` ``LstmStep<int8_t, int8_t,
int16_t, int32_t>``) and of CMSIS-NN ``arm_lstm_unidirectional_s8`` with
``cmsis_nn_lstm_context.hidden_state`` set (CMSIS-NN commit 4ab83cc3, 2026: ``h0`` is the given
hidden state, ``cell_state`` is not cleared, the final ``h`` is written back).

==================================================  ======================================
C / TFLM                                            here
==================================================  ======================================
``arm_lstm_unidirectional_s8`` (stateful context)   :func:`lstm_s8`
TFLM ``UnidirectionalSequenceLstmPrepare``          :func:`lstm_s8_params` -> :class:`LstmS8Params`
(``PrepareGateParametersInteger``,
``CreateLstmCellStateInfo``)
TFLM ``ResetVariableTensors``                       :func:`lstm_s8_initial_state`
TFLM ``reference_integer_ops::Logistic`` (int16)    :func:`sigmoid_s16`
TFLM ``reference_integer_ops::Tanh`` (int16)        :func:`tanh_s16`
==================================================  ======================================

One time step (gates g in I, F, C, O, the TFLM tensor order; ``fc`` is TFLM's int8 x int8 ->
int16 ``FullyConnected``; all four gates use the old ``h``)::

    fc_x[g] = sat16(requantize(W_x[g] @ (x - x_zp) + b[g], m_x[g], s_x[g]))   # gate scale 2**-12
    fc_h[g] = sat16(requantize(W_h[g] @ (h - h_zp),         m_h[g], s_h[g]))
    gate[g] = act(sat16(fc_x[g] + fc_h[g]))      # sigmoid for I, F, O; tanh (or sigmoid) for C
    c = sat16(sat16(requantize(F * c, m_fc, s_fc)) + sat16(requantize(I * C, m_ic, s_ic)))
    c = clamp(c, -clip, clip)                    # only when the model's cell_clip > 0
    h = sat8(requantize(tanh(c, 2**cell_scale_power) * O, m_h, s_h) + h_zp);  out[t] = h

``act`` outputs Q0.15 int16. CMSIS-NN folds ``-x_zp * sum(W)`` into an "effective bias"
(``arm_nn_vec_mat_mul_result_acc_s8_s16``) and accumulates the recurrent product onto the
saturated input product, which is the same sum and the same saturation; this kernel does the same.

State: ``hidden`` (int8, ``units``) and ``cell`` (int16, ``units``) are updated in place, so
consecutive calls continue the sequence exactly as consecutive TFLM invokes do (the state is in
TFLM's variable tensors; it starts at ``hidden = h_zp``, ``cell = 0``). Batch size 1.

Scratch: an int16 array of ``4 * units`` (the gate outputs; TFLM requests four buffers of
``units`` int16 each).

A note about precision: the multipliers are derived from float32 scales in the same mixture of
float32 and double arithmetic as TFLM's Prepare; the gate pre-activation scale is the float
literal ``0.00024414062`` (= 2**-12 in float32) and the gate-output scale of the products is
2**-15 exactly: the source's literal ``0.00003051757`` would be 2**-15 * (1 - 2.7e-7) in
float32, but the tflite-micro interpreter (0.dev20261023) rounds ``I * C`` as with 2**-15
(e.g. I = 32757, C = 32767 at cell scale 2**-12 gives 4095, the literal would give 4094;
measured by reading its cell-state variable tensor with ``kPreserveAllTensors``).
"""
from dataclasses import dataclass

import numba as nb
import numpy as np

from edgesed.errors import ConfigError, ShapeError
from kernels.checks import check_array
from kernels.requantize_s8 import fully_connected_multiplier, quantize_multiplier, requantize_mode
from kernels.rounding import wrap32

__all__ = ["LstmS8Params", "lstm_s8", "lstm_s8_params", "lstm_s8_initial_state",
           "lstm_s8_scratch_size", "sigmoid_s16", "tanh_s16", "SIGMOID_TABLE_UINT16",
           "GATE_INPUT_SCALE", "GATE_OUTPUT_SCALE"]

#: TFLM ``PrepareGateParametersInteger``: scale of the gate pre-activations (Q3.12) ...
GATE_INPUT_SCALE = np.float32(0.00024414062)
#: ... and of the gate outputs (Q0.15), as the float literals in the C (see the module note)
GATE_OUTPUT_SCALE = np.float32(2.0 ** -15)

#: sigmoid(i / 24) in Q0.16, i = 0..255 (``sigmoid_table_uint16``, TFLM ``common.h`` and
#: CMSIS-NN ``arm_nntables.c``); shared by the int16 logistic and tanh.
SIGMOID_TABLE_UINT16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535], dtype=np.int64)
SIGMOID_TABLE_UINT16.flags.writeable = False


@dataclass(frozen=True)
class LstmS8Params:
    """Everything one int8 LSTM layer needs, as TFLM's Prepare derives it (gate order I, F, C, O).

    Attributes
    ----------
    w_x : int8 (4, units, n_input);  w_h : int8 (4, units, units)
    bias_x : int32 (4, units)   ``b - x_zp * sum(W_x, axis=-1)`` (wrapped to int32)
    bias_h : int32 (4, units)   ``-h_zp * sum(W_h, axis=-1)``
    mult_x, shift_x, mult_h, shift_h : int32 (4,)   gate FC requantization
    forget_mul, input_mul, hidden_mul : (int, int)  ``(multiplier, shift)`` of F*c, I*C, tanh(c)*O
    hidden_zp : int;  cell_clip : int (quantized; used only if ``clip_enabled``)
    cell_scale_power : int (``cell_scale == 2**cell_scale_power``)
    cell_gate_sigmoid : bool (cell gate activation: False = TANH, True = SIGMOID)
    """

    w_x: np.ndarray
    w_h: np.ndarray
    bias_x: np.ndarray
    bias_h: np.ndarray
    mult_x: np.ndarray
    shift_x: np.ndarray
    mult_h: np.ndarray
    shift_h: np.ndarray
    forget_mul: tuple
    input_mul: tuple
    hidden_mul: tuple
    hidden_zp: int
    cell_clip: int
    clip_enabled: bool
    cell_scale_power: int
    cell_gate_sigmoid: bool

    @property
    def units(self) -> int:
        return int(self.w_x.shape[1])

    @property
    def n_input(self) -> int:
        return int(self.w_x.shape[2])


# ------------------------------------------------------------------ int16 activations (jit)

@nb.njit(cache=True, inline="always")
def _sigmoid16(v):
    """TFLM ``reference_integer_ops::Logistic`` (int16) with multiplier 0, left shift 0, i.e. the
    input is Q3.12 and is scaled by 3 (= 3 << 0)."""
    x = np.int64(v) * 3
    ax = -x if x < 0 else x
    uh = ax >> 9
    if uh >= 255:
        res = np.int64(0x7FFF << 10)
    else:
        ua = SIGMOID_TABLE_UINT16[uh]
        ub = SIGMOID_TABLE_UINT16[uh + 1]
        res = (ua << 9) + (ax & 0x1FF) * (ub - ua)
    if x >= 0:
        res = res + 512
    else:
        res = (np.int64(1) << 25) - res + 512 - 1
    return res >> 10


@nb.njit(cache=True, inline="always")
def _tanh16(v, input_multiplier, input_left_shift):
    """TFLM ``reference_integer_ops::Tanh`` (int16) for one element."""
    if input_multiplier == 0:
        input_multiplier = 3 << input_left_shift
        input_left_shift = 0
    rnd = (np.int64(1) << np.int64(input_left_shift - 1)) if input_left_shift > 0 else np.int64(0)
    x = (np.int64(v) * input_multiplier + rnd) >> np.int64(input_left_shift)
    ax = -x if x < 0 else x
    uh = ax >> 8
    if uh >= 255:
        res = np.int64(0xFFFF << 8)
    else:
        ua = SIGMOID_TABLE_UINT16[uh]
        ub = SIGMOID_TABLE_UINT16[uh + 1]
        res = (ua << 8) + (ax & 0xFF) * (ub - ua)
    if x >= 0:
        res = res - (np.int64(1) << 23) + 128          # (1 << (9 - 2)) in TFLM's Tanh
    else:
        res = -res + (np.int64(1) << 23) + 128 - 1
    return np.int64(np.int16(res >> 8))


@nb.njit(cache=True, inline="always")
def _tanh_params(cell_scale_power):
    """``lstm_internal::Tanh``: ``(input_multiplier, input_left_shift)`` for a Q(-p) input."""
    ls = (15 + cell_scale_power) - 3
    if ls < 0:
        return 3, -ls
    return 0, ls


@nb.njit(cache=True)
def _activate_s16(x, out, kind, cell_scale_power):
    """``out[i] = sigmoid(x[i])`` (kind 0) or ``tanh(x[i])`` with the given scale power (1)."""
    m, s = _tanh_params(cell_scale_power)
    for i in range(x.shape[0]):
        out[i] = _sigmoid16(x[i]) if kind == 0 else _tanh16(x[i], m, s)


@nb.njit(cache=True, inline="always")
def _sat(v, lo, hi):
    return hi if v > hi else (lo if v < lo else v)


# --------------------------------------------------------------------------- jitted body

@nb.njit(cache=True)
def _lstm_s8(x, out, hidden, cell, w_x, w_h, bias_x, bias_h, mult_x, shift_x, mult_h, shift_h,
             fm_m, fm_s, im_m, im_s, hm_m, hm_s, hidden_zp, cell_clip, clip_enabled,
             cell_scale_power, cell_gate_sigmoid, single_rounding, gates):
    """Body of :func:`lstm_s8`: ``x`` int8[:, ::1] (T, n_in), ``out`` int8[:, ::1] (T, units),
    ``hidden`` int8[::1], ``cell`` int16[::1] (updated in place), weights/biases as in
    :class:`LstmS8Params`, ints, ``gates`` int16[:, ::1] (4, units) scratch."""
    steps, n_in = x.shape
    units = cell.shape[0]
    tm, ts = _tanh_params(cell_scale_power)
    gm, gs = _tanh_params(-12)
    for t in range(steps):
        xt = x[t]
        for g in range(4):
            for u in range(units):
                wx = w_x[g, u]
                acc = np.int64(bias_x[g, u])
                for k in range(n_in):
                    acc += np.int64(wx[k]) * np.int64(xt[k])
                ax = _sat(requantize_mode(wrap32(acc), mult_x[g], shift_x[g], single_rounding),
                          -32768, 32767)
                wh = w_h[g, u]
                acc = np.int64(bias_h[g, u])
                for k in range(units):
                    acc += np.int64(wh[k]) * np.int64(hidden[k])
                ah = _sat(requantize_mode(wrap32(acc), mult_h[g], shift_h[g], single_rounding),
                          -32768, 32767)
                pre = _sat(ax + ah, -32768, 32767)
                if g == 2 and not cell_gate_sigmoid:
                    gates[g, u] = _tanh16(pre, gm, gs)
                else:
                    gates[g, u] = _sigmoid16(pre)
        for u in range(units):
            fc = _sat(requantize_mode(np.int64(gates[1, u]) * np.int64(cell[u]), fm_m, fm_s,
                                      single_rounding), -32768, 32767)
            ic = _sat(requantize_mode(np.int64(gates[0, u]) * np.int64(gates[2, u]), im_m, im_s,
                                      single_rounding), -32768, 32767)
            c = _sat(fc + ic, -32768, 32767)
            if clip_enabled:
                c = _sat(c, -cell_clip, cell_clip)
            cell[u] = c
        for u in range(units):
            th = _tanh16(cell[u], tm, ts)
            h = requantize_mode(th * np.int64(gates[3, u]), hm_m, hm_s, single_rounding)
            h = _sat(h + hidden_zp, -128, 127)
            hidden[u] = h
            out[t, u] = h


# ------------------------------------------------------------------------ host: parameters

def _f32(x) -> float:
    return float(np.float32(x))


def _cell_scale_power(cell_scale: float) -> int:
    """TFLM ``CheckedLog2`` (float32): ``round(logf(s) * (1 / logf(2)))``; the fractional part
    must be below 1e-3 (TFLM ignores the check's result; we refuse a non power of two)."""
    s = np.float32(cell_scale)
    lg = np.float32(np.log(s) * np.float32(np.float32(1.0) / np.log(np.float32(2.0))))
    r = float(np.sign(lg) * np.floor(np.abs(lg) + np.float32(0.5)))
    if abs(float(lg) - r) >= 1e-3:
        raise ConfigError(f"cell_scale={cell_scale!r} is not a power of two (log2 = {float(lg)}); "
                          "the int8 LSTM needs a power-of-two cell state scale (TFLM rounds the "
                          "exponent and gives wrong results otherwise)")
    return int(r)


def lstm_s8_params(*, input_scale, input_zp, w_x, w_x_scales, w_h, w_h_scales, bias,
                   hidden_scale, hidden_zp, cell_scale, cell_clip=0.0,
                   cell_activation="TANH") -> LstmS8Params:
    """Derive :class:`LstmS8Params` from tensor scales exactly as TFLM's int8 LSTM Prepare.

    Parameters
    ----------
    input_scale, input_zp : float, int
        The input tensor's quantization (``x_zp`` in [-128, 127]).
    w_x : np.ndarray [shape=(4, units, n_input), dtype=int8]
        input_to_{input, forget, cell, output}_weights (TFLM inputs 1-4), zero point 0.
    w_x_scales : sequence of 4 floats
    w_h : np.ndarray [shape=(4, units, units), dtype=int8]
        recurrent_to_{input, forget, cell, output}_weights (TFLM inputs 5-8), zero point 0.
    w_h_scales : sequence of 4 floats
    bias : np.ndarray [shape=(4, units), dtype=int32]
        {input, forget, cell, output}_gate_bias (TFLM inputs 12-15).
    hidden_scale, hidden_zp : float, int
        The hidden (output) state variable tensor's quantization (TFLM input 18).
    cell_scale : float
        The cell state variable tensor's scale (TFLM input 19): a power of two.
    cell_clip : float
        The op's ``cell_clip`` option; 0 means no clipping.
    cell_activation : {"TANH", "SIGMOID"}
        The op's ``fused_activation_function`` (the cell gate's non-linearity). A ``.tflite``
        can only say TANH (the schema's ``ActivationFunctionType`` has no SIGMOID); SIGMOID is
        TFLM's ``kTfLiteActSigmoid`` for models built through the C API.

    Returns
    -------
    LstmS8Params

    Notes
    -----
    Gate FC multipliers: ``QuantizeMultiplier(double(float32(in_scale * w_scale)) / 2**-12)``
    (``GetQuantizedConvolutionMultipler``); products: ``QuantizeMultiplier(double(s1) *
    double(s2) / double(s_out))`` (``CreateInterGateMulParams``) with ``s = 2**-15`` for gate
    outputs (see the module note); ``cell_clip`` quantized as ``int16(clip / cell_scale)``
    (truncated, saturated).
    """
    w_x = check_array("w_x", w_x, np.int8, ndim=3)
    w_h = check_array("w_h", w_h, np.int8, ndim=3)
    bias = check_array("bias", bias, np.int32, ndim=2)
    units, n_in = w_x.shape[1], w_x.shape[2]
    if w_x.shape[0] != 4 or w_h.shape != (4, units, units) or bias.shape != (4, units):
        raise ShapeError(f"w_x.shape={w_x.shape}, w_h.shape={w_h.shape}, bias.shape={bias.shape} "
                         f"must be (4, units, n_input), (4, units, units), (4, units) with gates "
                         "stacked in TFLM order (input, forget, cell, output)")
    if units == 0 or n_in == 0:
        raise ShapeError(f"units={units} and n_input={n_in} must be >= 1")
    for nm, v in (("input_zp", input_zp), ("hidden_zp", hidden_zp)):
        if not -128 <= int(v) <= 127:
            raise ConfigError(f"{nm}={v} must be an int8 zero point in [-128, 127]")
    act = str(cell_activation).upper()
    if act not in ("TANH", "SIGMOID"):
        raise ConfigError(f"cell_activation={cell_activation!r}: TFLM's integer LSTM supports "
                          "only TANH or SIGMOID for the cell gate")
    wxs = [float(s) for s in np.asarray(w_x_scales, dtype=np.float64).reshape(-1)]
    whs = [float(s) for s in np.asarray(w_h_scales, dtype=np.float64).reshape(-1)]
    if len(wxs) != 4 or len(whs) != 4:
        raise ConfigError(f"w_x_scales and w_h_scales need one scale per gate (4); got "
                          f"{len(wxs)} and {len(whs)} (per-channel LSTM weights are not supported)")
    gin = float(GATE_INPUT_SCALE)
    mx = [fully_connected_multiplier(input_scale, s, gin) for s in wxs]
    mh = [fully_connected_multiplier(hidden_scale, s, gin) for s in whs]
    gout = float(GATE_OUTPUT_SCALE)
    cs, hs = _f32(cell_scale), _f32(hidden_scale)
    forget_mul = quantize_multiplier(gout * cs / cs)
    input_mul = quantize_multiplier(gout * gout / cs)
    hidden_mul = quantize_multiplier(gout * gout / hs)
    power = _cell_scale_power(cell_scale)
    clip = float(np.float32(cell_clip))
    clip_q = int(min(max(clip / cs, -32768.0), 32767.0))
    wx64 = w_x.astype(np.int64)
    wh64 = w_h.astype(np.int64)
    bx = bias.astype(np.int64) - int(input_zp) * wx64.sum(axis=2)
    bh = -int(hidden_zp) * wh64.sum(axis=2)
    wrap = lambda a: (((a + 2**31) % 2**32) - 2**31).astype(np.int32)  # noqa: E731
    return LstmS8Params(
        w_x=w_x.copy(), w_h=w_h.copy(), bias_x=wrap(bx), bias_h=wrap(bh),
        mult_x=np.array([m for m, _ in mx], np.int32),
        shift_x=np.array([s for _, s in mx], np.int32),
        mult_h=np.array([m for m, _ in mh], np.int32),
        shift_h=np.array([s for _, s in mh], np.int32),
        forget_mul=forget_mul, input_mul=input_mul, hidden_mul=hidden_mul,
        hidden_zp=int(hidden_zp), cell_clip=clip_q, clip_enabled=clip > 0.0,
        cell_scale_power=power, cell_gate_sigmoid=(act == "SIGMOID"))


def lstm_s8_initial_state(params: LstmS8Params) -> tuple[np.ndarray, np.ndarray]:
    """``(hidden, cell)`` as TFLM resets its variable tensors: int8 filled with the hidden zero
    point (real 0), int16 zeros."""
    return (np.full(params.units, params.hidden_zp, dtype=np.int8),
            np.zeros(params.units, dtype=np.int16))


def lstm_s8_scratch_size(units: int) -> int:
    """Bytes of scratch :func:`lstm_s8` needs: ``4 * units`` int16 gate outputs."""
    return 8 * int(units)


# --------------------------------------------------------------------------- public kernels

def lstm_s8(x, params: LstmS8Params, hidden, cell, *, single_rounding=False, out=None,
            scratch=None):
    """Run ``T`` LSTM time steps, updating ``hidden`` and ``cell`` in place.

    Twin of TFLM's int8 ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (batch 1, time-major or not: the same
    for batch 1) and of ``arm_lstm_unidirectional_s8`` with a stateful context.

    Parameters
    ----------
    x : np.ndarray [shape=(T, n_input), dtype=int8]
    params : LstmS8Params
        From :func:`lstm_s8_params`.
    hidden : np.ndarray [shape=(units,), dtype=int8]
        Hidden state ``h``; read as ``h0`` and overwritten with the last ``h``.
    cell : np.ndarray [shape=(units,), dtype=int16]
        Cell state ``c``; read and overwritten.
    single_rounding : bool
        Mirror a ``CMSIS_NN_USE_SINGLE_ROUNDING`` / ``TFLITE_SINGLE_ROUNDING`` build.
    out : np.ndarray [shape=(T, units), dtype=int8], optional
        The hidden state after every step (the op's output).
    scratch : np.ndarray [shape=(4, units), dtype=int16], optional
        Gate outputs.

    Returns
    -------
    out : np.ndarray [shape=(T, units), dtype=int8]
    """
    if not isinstance(params, LstmS8Params):
        raise ConfigError(f"params must be an LstmS8Params from lstm_s8_params, got "
                          f"{type(params).__name__}")
    units, n_in = params.units, params.n_input
    x = check_array("x", x, np.int8, ndim=2)
    if x.shape[1] != n_in:
        raise ShapeError(f"x.shape={x.shape} must be (T, n_input={n_in})")
    hidden = check_array("hidden", hidden, np.int8, shape=(units,), writable=True)
    cell = check_array("cell", cell, np.int16, shape=(units,), writable=True)
    if out is None:
        out = np.empty((x.shape[0], units), dtype=np.int8)
    else:
        out = check_array("out", out, np.int8, shape=(x.shape[0], units), writable=True)
    if scratch is None:
        scratch = np.empty((4, units), dtype=np.int16)
    else:
        scratch = check_array("scratch", scratch, np.int16, shape=(4, units), writable=True)
    p = params
    _lstm_s8(x, out, hidden, cell, p.w_x, p.w_h, p.bias_x, p.bias_h, p.mult_x, p.shift_x,
             p.mult_h, p.shift_h, p.forget_mul[0], p.forget_mul[1], p.input_mul[0],
             p.input_mul[1], p.hidden_mul[0], p.hidden_mul[1], p.hidden_zp, p.cell_clip,
             p.clip_enabled, p.cell_scale_power, p.cell_gate_sigmoid, int(bool(single_rounding)),
             scratch)
    return out


def sigmoid_s16(x):
    """int16 logistic of a Q3.12 input, Q0.15 output (TFLM ``Logistic`` int16, power-of-two
    case), elementwise over a 1-D int16 array."""
    x = check_array("x", x, np.int16, ndim=1)
    out = np.empty_like(x)
    _activate_s16(x, out, 0, -12)
    return out


def tanh_s16(x, cell_scale_power=-12):
    """int16 tanh of an input with scale ``2**cell_scale_power``, Q0.15 output (TFLM
    ``lstm_internal::Tanh``), elementwise over a 1-D int16 array."""
    x = check_array("x", x, np.int16, ndim=1)
    out = np.empty_like(x)
    _activate_s16(x, out, 1, int(cell_scale_power))
    return out


def _warmup() -> None:
    """Compile (or load from cache) every jitted body once on tiny inputs."""
    rng = np.random.default_rng(0)
    p = lstm_s8_params(input_scale=0.05, input_zp=3,
                       w_x=rng.integers(-20, 20, (4, 2, 3)).astype(np.int8), w_x_scales=[0.01] * 4,
                       w_h=rng.integers(-20, 20, (4, 2, 2)).astype(np.int8), w_h_scales=[0.01] * 4,
                       bias=np.zeros((4, 2), np.int32), hidden_scale=0.02, hidden_zp=-1,
                       cell_scale=2.0 ** -11)
    h, c = lstm_s8_initial_state(p)
    lstm_s8(np.zeros((2, 3), np.int8), p, h, c)
    sigmoid_s16(np.array([0, -5], np.int16))
    tanh_s16(np.array([0, -5], np.int16))
