"""A Dilated-CRNN-style sound event detector for GAP9, its float weights and calibration data.

The seed (Wu et al., Bose, "It is okay to be uncommon", ICASSP 2024) searched per-layer bits of
a Dilated CRNN (Li et al., ICASSP 2020) for generic SED over 56 classes and found that
``S_target = 400 KB`` kept float performance. It does not give the layer table; this model is
*sized like it*: its all-8-bit parameters take about 1.05 MB, so the seed's 400 KB budget is a
~62 % memory cut (the seed's average), and the smallest possible model (all searchable layers at
2 bits) is about 0.32 MB. Layers (input: one 960 ms VGGish log-mel patch, 96 frames x 64 mels)::

    c1  conv3x3    1 ->  16                96x64   ReLU     p1  maxpool (1, 2) -> 96x32
    c2  conv3x3   16 ->  32                96x32   ReLU     p2  maxpool (2, 2) -> 48x16
    c3  conv3x3   32 ->  64  dilation (2,1) 48x16  ReLU     p3  maxpool (1, 2) -> 48x8
    c4  conv3x3   64 -> 128  dilation (4,1) 48x8   ReLU     p4  maxpool (1, 2) -> 48x4
    c5  conv3x3  128 -> 256  dilation (8,1) 48x4   ReLU     p5  maxpool (1, 2) -> 48x2
    c6  conv3x3  256 -> 256  dilation(16,1) 48x2   ReLU     p6  maxpool (1, 2) -> 48x1
    gru GRU      256 ->  64  over 48 steps (cluster cores, int8 weights, not searched)
    fc  FC        64 ->  56  per step, as 1x1 on NE16 (no ReLU: logits)
    out sigmoid   56 posteriors per step (cluster)

Dilation is along time only (as in dilated CRNNs for SED); NE16 runs it as sub-grid stride-1
convolutions (:mod:`edgesed.ne16.cycles`). The GRU is unidirectional so the model can stream.

**The float weights are random** (He-normal, seeded; :func:`float_model`), not trained: they
make the sensitivities and the search *runnable and reproducible*, not meaningful about SED
accuracy. Load trained weights with ``FloatModel(net, params)``. The float forward pass
(:meth:`FloatModel.forward`) is plain NumPy float32, used only to measure sensitivities.

:func:`calibration_patches` cuts log-mel patches from SYNTHETIC clips
(:mod:`edgesed.datasets.synthetic`) through the float VGGish frontend.
"""
from __future__ import annotations

import numpy as np

from edgesed.errors import ShapeError
from edgesed.ne16.layers import Kind, Layer, Net

__all__ = ["dcrnn_net", "FloatModel", "float_model", "calibration_patches", "N_CLASSES"]

N_CLASSES = 56   #: the seed's generic SED classes


def dcrnn_net(n_frames: int = 96, n_mels: int = 64, n_classes: int = N_CLASSES,
              bits: int = 8) -> Net:
    """The Dilated-CRNN-style :class:`~edgesed.ne16.layers.Net` (module docstring), all NE16
    layers at ``bits``."""
    layers = []
    h, w, c = n_frames, n_mels, 1
    spec = [("c1", 16, (1, 1), (1, 2)), ("c2", 32, (1, 1), (2, 2)), ("c3", 64, (2, 1), (1, 2)),
            ("c4", 128, (4, 1), (1, 2)), ("c5", 256, (8, 1), (1, 2)), ("c6", 256, (16, 1), (1, 2))]
    for i, (name, k, dil, pool) in enumerate(spec, 1):
        layers.append(Layer(name, Kind.CONV3X3, (h, w, c), (h, w, k), dilation=dil, bits=bits))
        c = k
        layers.append(Layer(f"p{i}", Kind.MAXPOOL, (h, w, c), (h // pool[0], w // pool[1], c),
                            pool=pool))
        h, w = h // pool[0], w // pool[1]
    feat = w * c
    if w != 1:
        raise ShapeError(f"n_mels={n_mels} leaves {w} frequency bins after pooling; the GRU "
                         "expects 1 (use n_mels=64)")
    layers += [Layer("gru", Kind.GRU, (h, 1, feat), (h, 1, 64)),
               Layer("fc", Kind.FC, (h, 1, 64), (h, 1, n_classes), bits=bits, relu=False),
               Layer("out", Kind.SIGMOID, (h, 1, n_classes), (h, 1, n_classes))]
    return Net("dcrnn", tuple(layers))


def _conv3x3(x, w, b, dil, stride):
    """Same-padded 3x3 convolution, x (N, H, W, Cin), w (3, 3, Cin, Cout) or DW (3, 3, C).

    Dense: one 2-D matmul over an im2col matrix (NumPy's batched N-D matmul is much slower)."""
    n, hh, ww, c = x.shape
    dh, dw = dil
    xp = np.pad(x, ((0, 0), (dh, dh), (dw, dw), (0, 0)))
    taps = [xp[:, ky * dh:ky * dh + hh:stride, kx * dw:kx * dw + ww:stride, :]
            for ky in range(3) for kx in range(3)]
    if w.ndim == 3:
        out = sum(t * w.reshape(9, c)[i] for i, t in enumerate(taps))
    else:
        cols = np.concatenate(taps, axis=-1)
        out = (cols.reshape(-1, 9 * c) @ w.reshape(9 * c, -1)).reshape(cols.shape[:3] + (-1,))
    return (out + b).astype(np.float32, copy=False)


def _dense(x, w, b):
    """x (..., Cin) @ w (Cin, Cout) + b as one 2-D matmul."""
    return (x.reshape(-1, x.shape[-1]) @ w + b).reshape(x.shape[:-1] + (w.shape[1],))


def _gru(x, p):
    """PyTorch-form GRU over axis 1 of x (N, T, 1, I); h0 = 0. Returns (N, T, 1, H)."""
    n, t = x.shape[:2]
    hdim = p["U"].shape[0]
    gx = _dense(x[:, :, 0, :], p["W"], p["b_ih"])     # (N, T, 3H)
    h = np.zeros((n, hdim), np.float32)
    out = np.empty((n, t, 1, hdim), np.float32)
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))          # noqa: E731
    for s in range(t):
        gh = h @ p["U"] + p["b_hh"]
        r = sig(gx[:, s, :hdim] + gh[:, :hdim])
        z = sig(gx[:, s, hdim:2 * hdim] + gh[:, hdim:2 * hdim])
        cand = np.tanh(gx[:, s, 2 * hdim:] + r * gh[:, 2 * hdim:])
        h = (1 - z) * cand + z * h
        out[:, s, 0, :] = h
    return out


class FloatModel:
    """Float32 forward pass of a :class:`~edgesed.ne16.layers.Net` with weights ``params``.

    ``params[name]`` is ``{"w", "b"}`` for NE16 layers (``w``: 3x3 ``(3, 3, Cin, Cout)``,
    depthwise ``(3, 3, C)``, 1x1/FC ``(Cin, Cout)``; the output channel is always the last axis)
    and ``{"W" (I, 3H), "U" (H, 3H), "b_ih", "b_hh"}`` for a GRU.
    """

    def __init__(self, net: Net, params: dict):
        self.net = net
        self.params = params
        self.index = {l.name: i for i, l in enumerate(net.layers)}

    def weight(self, name: str) -> np.ndarray:
        """The float weight tensor of NE16 layer ``name`` (output channel last)."""
        return self.params[name]["w"]

    def _layer(self, layer: Layer, x, w=None):
        p = self.params.get(layer.name)
        k = layer.kind
        if layer.on_ne16:
            w = p["w"] if w is None else w
            if k in (Kind.CONV3X3, Kind.DW3X3):
                y = _conv3x3(x, w, p["b"], layer.dilation, layer.stride)
            else:
                y = _dense(x[:, ::layer.stride, ::layer.stride, :], w, p["b"])
            return np.maximum(y, 0) if layer.relu else y
        if k is Kind.MAXPOOL or k is Kind.AVGPOOL:
            n, hh, ww, c = x.shape
            ph, pw = layer.pool
            v = x[:, :hh // ph * ph, :ww // pw * pw].reshape(n, hh // ph, ph, ww // pw, pw, c)
            return v.max(axis=(2, 4)) if k is Kind.MAXPOOL else v.mean(axis=(2, 4))
        if k is Kind.GRU:
            return _gru(x.reshape(x.shape[0], x.shape[1], 1, -1), p)
        if k is Kind.SIGMOID:
            return 1.0 / (1.0 + np.exp(-x))
        if k is Kind.SOFTMAX:
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        raise NotImplementedError(f"no float forward for {k.value}")

    def forward(self, x, weights=None, *, start: int = 0, stop=None, trace: bool = False):
        """Run layers ``start:stop`` on ``x`` (the input of layer ``start``), float32.

        ``weights`` maps layer names to replacement weight tensors (e.g. quantized ones).
        With ``trace=True`` returns ``(output, inputs)`` where ``inputs[i]`` is the input of
        layer ``start + i``.
        """
        weights = weights or {}
        x = np.asarray(x, np.float32)
        ins = []
        for layer in self.net.layers[start:stop]:
            if trace:
                ins.append(x)
            x = self._layer(layer, x, weights.get(layer.name)).astype(np.float32, copy=False)
        return (x, ins) if trace else x


def float_model(net: Net | None = None, seed: int = 0) -> FloatModel:
    """Random He-normal float weights (seeded) for ``net`` (default :func:`dcrnn_net`).

    NOT trained: good for running the search and the cost study, meaningless for accuracy."""
    net = net or dcrnn_net()
    rng = np.random.default_rng(seed)
    params = {}
    for l in net.layers:
        (_, _, ki), (_, _, ko) = l.in_shape, l.out_shape
        if l.kind is Kind.CONV3X3:
            w = rng.standard_normal((3, 3, ki, ko)) * np.sqrt(2.0 / (9 * ki))
        elif l.kind is Kind.DW3X3:
            w = rng.standard_normal((3, 3, ko)) * np.sqrt(2.0 / 9)
        elif l.kind in (Kind.CONV1X1, Kind.FC):
            w = rng.standard_normal((ki, ko)) * np.sqrt(2.0 / ki)
        elif l.kind is Kind.GRU:
            params[l.name] = {
                "W": (rng.standard_normal((ki, 3 * ko)) / np.sqrt(ki)).astype(np.float32),
                "U": (rng.standard_normal((ko, 3 * ko)) / np.sqrt(ko)).astype(np.float32),
                "b_ih": np.zeros(3 * ko, np.float32), "b_hh": np.zeros(3 * ko, np.float32)}
            continue
        else:
            continue
        b = rng.standard_normal(ko) * 0.01
        params[l.name] = {"w": w.astype(np.float32), "b": b.astype(np.float32)}
    return FloatModel(net, params)


def calibration_patches(n_clips: int = 2, seed: int = 0, n_frames: int = 96,
                        classes=("siren", "alarm_beep", "engine_idle", "clap_knock", "drilling",
                                 "car_horn", "whistle", "smoke_alarm")) -> np.ndarray:
    """Standardized log-mel patches of SYNTHETIC clips, float32 ``(N, n_frames, 64, 1)``.

    ``n_clips`` clips (3.84 s, one per class in ``classes`` order, cycling) through the float
    VGGish frontend, cut into non-overlapping ``n_frames`` patches (3 per clip), each
    standardized to zero mean and unit variance."""
    from edgesed.datasets.synthetic import make_dataset
    from edgesed.frontend import make_frontend

    fe = make_frontend("float")
    labels = [classes[i % len(classes)] for i in range(n_clips)]
    patches = []
    for j, label in enumerate(labels):
        clip = make_dataset(1, seed=seed + j // len(classes), classes=[label])[0]
        fe.reset()
        mel = np.array(fe.push_float(clip.audio), np.float32)
        for s in range(0, mel.shape[0] - n_frames + 1, n_frames):
            p = mel[s:s + n_frames]
            patches.append((p - p.mean()) / (p.std() + 1e-6))
    return np.stack(patches)[..., None].astype(np.float32)
