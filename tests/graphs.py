"""Small graphs shared by the tests."""
import numpy as np

from edgesed.graph import (Activation, ConvArgs, DenseArgs, Graph, GruArgs, Node, Op, PoolArgs,
                           QFormat, RnnArgs, TensorSpec)


def tiny_graph() -> Graph:
    """8x8x1 -> conv 3x3 x4 (6x6x4 = 144 B) -> maxpool 2/2 in place (3x3x4 = 36 B) -> fc 5 ->
    rnn 3."""
    q = QFormat(4)
    rng = np.random.default_rng(1)
    r = lambda *s: rng.integers(-20, 20, s, dtype=np.int8)  # noqa: E731
    nodes = (
        Node(Op.CONV2D, "c", "input", TensorSpec((6, 6, 4), q), ConvArgs(4, (3, 3)), QFormat(7), q),
        Node(Op.MAXPOOL, "p", "c", TensorSpec((3, 3, 4), q), PoolArgs((2, 2), (2, 2))),
        Node(Op.DENSE, "f", "p", TensorSpec((5,), q), DenseArgs(5), QFormat(7), q),
        Node(Op.RNN, "r", "f", TensorSpec((3,), QFormat(7)), RnnArgs(3, QFormat(5), QFormat(7)),
             QFormat(7), q, Activation.TANH),
    )
    params = {"c.weight": r(4, 3, 3, 1), "c.bias": r(4), "f.weight": r(5, 36), "f.bias": r(5),
              "r.weight": r(3, 5), "r.recurrent": r(3, 3), "r.bias": r(3)}
    return Graph("tiny", TensorSpec((8, 8, 1), q), nodes, params)


def tiny_gru_graph(units: int = 3, seed: int = 2) -> Graph:
    """8x8x1 -> conv 3x3 x4 -> maxpool 2/2 in place -> fc 5 -> gru ``units`` (q15 state) -> fc 4.

    Formats: fc output Q3.4; GRU weights Q0.7, bias Q3.4 (bias_shift 7), gates Q2.5
    (oshift_iw 6, oshift_hw 9, act_int_width 2), output Q0.7.
    """
    q = QFormat(4)
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.integers(-40, 40, s, dtype=np.int8)  # noqa: E731
    n3 = 3 * units
    nodes = (
        Node(Op.CONV2D, "c", "input", TensorSpec((6, 6, 4), q), ConvArgs(4, (3, 3)), QFormat(7), q),
        Node(Op.MAXPOOL, "p", "c", TensorSpec((3, 3, 4), q), PoolArgs((2, 2), (2, 2))),
        Node(Op.DENSE, "f", "p", TensorSpec((5,), q), DenseArgs(5), QFormat(7), q),
        Node(Op.GRU, "g", "f", TensorSpec((units,), QFormat(7)),
             GruArgs(units, gate_q=QFormat(5), recurrent_q=QFormat(7)), QFormat(7), q),
        Node(Op.DENSE, "o", "g", TensorSpec((4,), q), DenseArgs(4), QFormat(7), q),
    )
    params = {"c.weight": r(4, 3, 3, 1), "c.bias": r(4), "f.weight": r(5, 36), "f.bias": r(5),
              "g.weight": r(n3, 5), "g.recurrent": r(n3, units), "g.bias": r(n3),
              "g.recurrent_bias": r(n3), "o.weight": r(4, units), "o.bias": r(4)}
    return Graph("tiny_gru", TensorSpec((8, 8, 1), q), nodes, params)


def gru_vector_graph(n_in: int, units: int, *, n_i=4, n_w=7, n_b=4, n_z=5, n_u=7,
                     params=None, seed: int = 0) -> Graph:
    """input (n_in,) Q(n_i) -> gru ``units`` -> fc 3; random int8 parameters unless given."""
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.integers(-128, 128, s, dtype=np.int8)  # noqa: E731
    n3 = 3 * units
    nodes = (
        Node(Op.GRU, "g", "input", TensorSpec((units,), QFormat(7)),
             GruArgs(units, gate_q=QFormat(n_z), recurrent_q=QFormat(n_u)), QFormat(n_w),
             QFormat(n_b)),
        Node(Op.DENSE, "o", "g", TensorSpec((3,), QFormat(4)), DenseArgs(3), QFormat(7),
             QFormat(4)),
    )
    p = {"g.weight": r(n3, n_in), "g.recurrent": r(n3, units), "g.bias": r(n3),
         "g.recurrent_bias": r(n3), "o.weight": r(3, units), "o.bias": r(3)}
    p.update(params or {})
    return Graph("gru_vec", TensorSpec((n_in,), QFormat(n_i)), nodes, p)


def stream_gru_graph(units: int = 6, seed: int = 3) -> Graph:
    """A mel-patch model with a GRU for streaming tests: (96, 64, 1) -> conv 3x3/4 x4 ->
    maxpool 4/4 -> fc 8 (ReLU) -> gru ``units`` -> fc 10 (UrbanSound8K's class count)."""
    q = QFormat(4)
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.integers(-60, 60, s, dtype=np.int8)  # noqa: E731
    n3 = 3 * units
    nodes = (
        Node(Op.CONV2D, "c", "input", TensorSpec((24, 16, 4), q),
             ConvArgs(4, (3, 3), (4, 4), (1, 1)), QFormat(7), q, Activation.RELU),
        Node(Op.MAXPOOL, "p", "c", TensorSpec((6, 4, 4), q), PoolArgs((4, 4), (4, 4))),
        Node(Op.DENSE, "f", "p", TensorSpec((8,), q), DenseArgs(8), QFormat(7), q,
             Activation.RELU),
        Node(Op.GRU, "gru", "f", TensorSpec((units,), QFormat(7)),
             GruArgs(units, gate_q=QFormat(5), recurrent_q=QFormat(7)), QFormat(7), q),
        Node(Op.DENSE, "o", "gru", TensorSpec((10,), q), DenseArgs(10), QFormat(7), q),
    )
    params = {"c.weight": r(4, 3, 3, 1), "c.bias": r(4), "f.weight": r(8, 96), "f.bias": r(8),
              "gru.weight": r(n3, 8), "gru.recurrent": r(n3, units), "gru.bias": r(n3),
              "gru.recurrent_bias": r(n3), "o.weight": r(10, units), "o.bias": r(10)}
    return Graph("stream_gru", TensorSpec((96, 64, 1), q), nodes, params)
