"""A whole network run layer by layer with the naive references, no arena, no planner.

The engine must give these bits. Pooling replays the C's byte-level semantics on its own copy
(``pool_dsp_memory``/``pool_c_memory``, in place as the firmware runs it), so this reference
does not rely on the in-place shortcut the kernels take.
"""
import numpy as np

from edgesed.graph import Activation, Graph, Op, PoolPathName, layer_shifts
from tests.naive.conv import conv_hwc_q7_ref
from tests.naive.fc import fully_connected_ref, simple_rnn_step_ref
from tests.naive.gru import gru_step_ref
from tests.naive.pool import pool_c_memory, pool_dsp_memory, run_memory


def run_network(graph: Graph, x: np.ndarray, state: dict | None = None, truncate: bool = False):
    """Return ``(outputs: dict layer -> int8 array, new_state: dict layer -> state array)``.

    States: RNN int8 (q7) ``(units,)``, GRU int16 (Q0.15) ``(units,)``; missing ones are zeros.
    """
    state = dict(state or {})
    outputs = {}
    p = graph.params
    for node in graph.nodes:
        a = node.args
        if node.op is Op.CONV2D:
            s = layer_shifts(graph, node)
            x = conv_hwc_q7_ref(x, p[f"{node.name}.weight"], p[f"{node.name}.bias"], a.stride,
                                a.padding, s["bias_shift"], s["out_shift"], truncate)
        elif node.op in (Op.MAXPOOL, Op.AVGPOOL):
            ref = pool_dsp_memory if a.path is PoolPathName.DSP else pool_c_memory
            kind = "max" if node.op is Op.MAXPOOL else "avg"
            x = run_memory(ref, x, kind, a.kernel, a.stride, a.padding, in_place=True)
        elif node.op is Op.DENSE:
            s = layer_shifts(graph, node)
            x = fully_connected_ref(x.reshape(-1), p[f"{node.name}.weight"],
                                    p[f"{node.name}.bias"], s["bias_shift"], s["out_shift"],
                                    truncate)
        elif node.op is Op.RNN:
            s = layer_shifts(graph, node)
            h = state.get(node.name, np.zeros(a.units, np.int8))
            x = simple_rnn_step_ref(x.reshape(-1), h, p[f"{node.name}.weight"],
                                    p[f"{node.name}.recurrent"], p[f"{node.name}.bias"],
                                    s["bias_shift"], s["oshift_iw"], s["oshift_hw"],
                                    s["act_int_width"], node.activation.value, truncate)
            state[node.name] = x.copy()
        elif node.op is Op.GRU:
            s = layer_shifts(graph, node)
            h = state.get(node.name, np.zeros(a.units, np.int16))
            out, h = gru_step_ref(x.reshape(-1), h, p[f"{node.name}.weight"],
                                  p[f"{node.name}.recurrent"], p[f"{node.name}.bias"],
                                  p[f"{node.name}.recurrent_bias"], s["bias_shift"],
                                  s["oshift_iw"], s["oshift_hw"], s["act_int_width"], truncate)
            x = np.array(out, dtype=np.int8)
            state[node.name] = np.array(h, dtype=np.int16)
        if node.activation is Activation.RELU:
            x = np.maximum(x, 0).astype(np.int8)
        outputs[node.name] = np.asarray(x, dtype=np.int8)
    return outputs, state
