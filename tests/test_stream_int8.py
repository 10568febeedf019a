"""An int8 TFLite-style model (affine input, LSTM state) streams like any other model."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesed.frontend import make_frontend
from edgesed.frontend.affine import SOURCE_FRAC_BITS
from edgesed.graph import QFormat
from edgesed.graph_s8 import AffineQ
from edgesed.stream import Mode, Stream
from kernels.requantize_s8 import quantize_multiplier
from tests.naive.s8 import requant_ref as naive_requantize
from tests.test_stream import SIGNAL, feed_in_blocks, signature


@pytest.fixture(scope="module")
def streams():
    from edgesed import models

    graph = models.load("m20k-s8")
    return {"internal": Stream(graph, hop_ms=480, threshold=0.15, smooth=2),
            "external": Stream(graph, hop_ms=480, threshold=0.15, smooth=2,
                               mode=Mode.STREAM_EXTERNAL_STATE)}


def _batch(stream):
    stream.reset()
    frames = stream.feed(SIGNAL)
    _, ended = stream.flush()
    return signature(frames, ended), stream.engine.state


@settings(max_examples=10)
@given(sizes=st.lists(st.integers(1, 20000), min_size=1, max_size=8))
def test_int8_model_streams_equal_batch_for_any_blocks(streams, sizes):
    s = streams["internal"]
    ref, ref_state = _batch(s)
    s.reset()
    frames, ended, _ = feed_in_blocks(s, SIGNAL, sizes)
    assert len(frames) == 5
    assert signature(frames, ended) == ref
    for key in ("lstm.cell", "lstm.hidden"):
        np.testing.assert_array_equal(s.engine.state[key], ref_state[key])


def test_int8_external_state_equals_internal(streams):
    ref, ref_state = _batch(streams["internal"])
    ext = streams["external"]
    ext.reset()
    frames, ended, state = feed_in_blocks(ext, SIGNAL, [3000], state=ext.initial_state())
    assert signature(frames, ended) == ref
    np.testing.assert_array_equal(state["lstm.hidden"], ref_state["lstm.hidden"])


def test_int8_posteriors_are_the_softmax_outputs(streams):
    s = streams["internal"]
    s.reset()
    frame = s.feed(SIGNAL)[0]
    probs = (frame.logits.astype(float) + 128) / 256          # scale 1/256, zero point -128
    np.testing.assert_allclose(frame.posteriors, probs / probs.sum(), rtol=1e-6)


@pytest.mark.parametrize("kind", ["float", "fixed"])
def test_affine_input_is_tflms_quantize_of_the_frontend_q34(kind):
    q = AffineQ((0.0470588,), -3)
    wrapped = make_frontend(kind, q)
    plain = make_frontend(kind, QFormat(frac_bits=SOURCE_FRAC_BITS))
    got, src = wrapped.push(SIGNAL).copy(), plain.push(SIGNAL).copy()
    m, sh = quantize_multiplier(2.0 ** -SOURCE_FRAC_BITS / q.scale[0])
    want = np.clip([naive_requantize(int(v), m, sh) + q.zero_point for v in src.ravel()],
                   -128, 127).reshape(src.shape)
    np.testing.assert_array_equal(got, want)
    assert got.min() < got.max()
