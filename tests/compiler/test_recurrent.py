"""LSTM, GRU and RNN against onnxruntime (onnx's reference for layout=1, which onnxruntime's
CPU kernels refuse): directions, initial states, every output, clip, linear_before_reset,
activations; and which attributes are refused, naming the node."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from compiler.check import check_output, compare_with_onnxruntime
from compiler.driver import compile
from simulator import run
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

TINY = load_config("tiny")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_model(op, t=5, b=2, i=6, h=8, direction="forward", layout=0, init=False, outs=(0, 1, 2),
              seed=0, scale=0.5, **attrs):  # fmt: skip
    """One recurrent node with seeded weights (normal, times ``scale``); returns (model, feed)."""
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    consts = {
        "W": rng.standard_normal((d, g * h, i)) * scale,
        "R": rng.standard_normal((d, g * h, h)) * scale,
        "B": rng.standard_normal((d, 2 * g * h)) * scale,
    }
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()]
    xs = [t, b, i] if layout == 0 else [b, t, i]
    st = [d, b, h] if layout == 0 else [b, d, h]
    feed = {"X": rng.standard_normal(xs).astype(np.float32)}
    names = ["X", "W", "R", "B", ""]
    if init:
        for s in ("h0", "c0") if op == "LSTM" else ("h0",):
            names.append(s)
            feed[s] = rng.standard_normal(st).astype(np.float32)
    onames = ["Y", "Y_h", "Y_c"][: 3 if op == "LSTM" else 2]
    node_out = [o if k in outs else "" for k, o in enumerate(onames)]
    if layout:
        attrs["layout"] = layout
    node = helper.make_node(op, names, node_out, hidden_size=h, direction=direction, **attrs)
    shapes = {"Y": [t, d, b, h] if layout == 0 else [b, t, d, h], "Y_h": st, "Y_c": st}
    vin = [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in feed.items()]
    vout = [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in node_out if o]
    graph = helper.make_graph([node], "rnn", vin, vout, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8), feed


def _check(m, feed, config=TINY):
    if any(a.name == "layout" and a.i for a in m.graph.node[0].attribute):
        result = run(compile(m, config), feed, checked=True)
        ref = ReferenceEvaluator(m).run(None, feed)
        names = [o.name for o in m.graph.output]
        errors = [check_output(n, result.outputs[n], r) for n, r in zip(names, ref, strict=True)]
    else:
        errors, result = compare_with_onnxruntime(m, config, feed)
    for e in errors:
        assert e.passed, f"{e.name}: max abs {e.max_abs_error:.3g}"
    return result


@pytest.mark.parametrize(
    "op, kw",
    [
        ("LSTM", {}),
        ("RNN", {}),
        ("GRU", {"linear_before_reset": 1}),
        ("GRU", {"linear_before_reset": 0}),
        ("LSTM", {"direction": "bidirectional", "init": True}),
        ("LSTM", {"direction": "reverse", "layout": 1, "outs": (1, 2)}),
        (
            "GRU",
            {"linear_before_reset": 1, "direction": "bidirectional", "init": True, "clip": 1.5},
        ),
        ("GRU", {"linear_before_reset": 0, "direction": "reverse", "init": True, "layout": 1}),
        ("RNN", {"direction": "bidirectional", "activations": ["Relu", "Relu"], "outs": (1,)}),
        ("LSTM", {"clip": 0.7, "h": 40, "b": 3, "t": 3}),  # tiles of the gate math on tiny
        (
            "GRU",
            {
                "activations": ["HardSigmoid", "Tanh"],
                "activation_alpha": [0.3],
                "activation_beta": [0.4],
            },
        ),  # fmt: skip
    ],
)
def test_recurrent_matches_reference(op, kw):
    _check(*rnn_model(op, **kw))


def test_lstm_costs_one_gemm_per_step_and_direction():
    base = load_config("base")
    counts = []
    for t in (6, 7):
        m, feed = rnn_model("LSTM", t=t, direction="bidirectional")
        counts.append(_check(m, feed, base).stats.instructions["MATMUL"])
    # at base (B=2, 4H=32) each recurrent step is one MatMul; the projection is the rest
    assert counts[1] - counts[0] == 2


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"input_forget": 1}, "input_forget=1"),
        ({"activations": ["Sigmoid", "Softsign", "Tanh"]}, "activation 'Softsign'"),
    ],
)
def test_unsupported_attributes_name_the_node(kw, reason):
    m, _ = rnn_model("LSTM", **kw)
    with pytest.raises(UnsupportedOpError, match=reason):
        compile(m, TINY)
