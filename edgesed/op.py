"""The layer operators of the graph IR, and which kernel family each belongs to.

One enum for every family so that :mod:`edgesed.graph` (q7 layers and validation),
:mod:`edgesed.graph_s8` (int8 TFLite layers) and :mod:`edgesed.graph_ne16` (NE16 layers) can
all name them without importing each other:

- :data:`S8_OPS` — CMSIS-NN s8/s4 layers (:mod:`edgesed.dispatch_s8`);
- :data:`WEIGHTED_S8_OPS` — those with a filter and per-channel requantization;
- :data:`NE16_OPS` — NE16 jobs and the GAP9 cluster ops around them (:mod:`edgesed.dispatch_ne16`);
- everything else is the seed's q7 family (:mod:`edgesed.dispatch`).
"""
from __future__ import annotations

from enum import Enum

__all__ = ["Op", "S8_OPS", "WEIGHTED_S8_OPS", "NE16_OPS"]


class Op(Enum):
    """Layer operators."""

    CONV2D = "conv2d"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    DENSE = "dense"
    RNN = "rnn"
    GRU = "gru"          # nnom GRU cell: q7 weights, q15 state (GruArgs)
    # int8 (TFLite / CMSIS-NN s8 and s4) layers: arguments and validation in edgesed.graph_s8
    CONV_S8 = "conv2d_s8"
    DEPTHWISE_S8 = "depthwise_conv2d_s8"
    DENSE_S8 = "dense_s8"
    MAXPOOL_S8 = "maxpool_s8"
    AVGPOOL_S8 = "avgpool_s8"
    SOFTMAX_S8 = "softmax_s8"
    RESHAPE = "reshape"
    LSTM_S8 = "lstm_s8"  # TFLite int8 UNIDIRECTIONAL_SEQUENCE_LSTM (LstmS8Args), state kept
    # NE16 (GAP9) layers and the cluster ops around them: arguments in edgesed.graph_ne16
    NE16_CONV = "ne16_conv"
    NE16_MAXPOOL = "ne16_maxpool"
    NE16_GRU = "ne16_gru"
    NE16_GLOBAL_MAXPOOL = "ne16_global_maxpool"


#: int8 TFLite layers run by the CMSIS-NN s8/s4 kernels
S8_OPS = frozenset({Op.CONV_S8, Op.DEPTHWISE_S8, Op.DENSE_S8, Op.MAXPOOL_S8, Op.AVGPOOL_S8,
                    Op.SOFTMAX_S8, Op.RESHAPE, Op.LSTM_S8})
#: int8 layers with a filter and per-channel requantization
WEIGHTED_S8_OPS = frozenset({Op.CONV_S8, Op.DEPTHWISE_S8, Op.DENSE_S8})
#: NE16 jobs and the cluster-core ops of an NE16 network
NE16_OPS = frozenset({Op.NE16_CONV, Op.NE16_MAXPOOL, Op.NE16_GRU, Op.NE16_GLOBAL_MAXPOOL})
