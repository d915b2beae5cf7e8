"""Models the NPU runs only in part: control flow, data-dependent shapes, an op with no lowering."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits, name):
    g = helper.make_graph(
        nodes, name, inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits.items()]
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _rng(seed=0):
    return np.random.default_rng(seed)


def if_model():
    """MatMul, a score (ReduceMax) against a threshold, If (then: y*2, else: -y), MatMul."""
    r = _rng()
    inits = {
        "W1": r.standard_normal((8, 16)).astype(np.float32),
        "W2": r.standard_normal((16, 4)).astype(np.float32),
        "thr": np.array(0.5, np.float32),
        "two": np.array(2.0, np.float32),
    }
    out = [2, 16]
    then = helper.make_graph(
        [helper.make_node("Mul", ["y", "two"], ["t_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", F, out)],
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["y"], ["e_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", F, out)],
    )
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["y"], name="mm1"),
        helper.make_node("ReduceMax", ["y"], ["score"], keepdims=0, name="score"),
        helper.make_node("Greater", ["score", "thr"], ["cond"], name="over"),
        helper.make_node("If", ["cond"], ["z"], then_branch=then, else_branch=other, name="branch"),
        helper.make_node("MatMul", ["z", "W2"], ["out"], name="mm2"),
    ]
    x = helper.make_tensor_value_info("x", F, [2, 8])
    return _model(nodes, [x], [helper.make_tensor_value_info("out", F, [2, 4])], inits, "if_model")


def loop_topk_nms_model(boxes=16):
    """A Loop summing relu(x) three times (its result's shape is unknown to shape inference),
    TopK of the scores, NonMaxSuppression of the boxes (a data-dependent number of rows),
    NPU layers before and between them."""
    r = _rng(1)
    corner = r.uniform(0, 1, (1, boxes, 2)).astype(np.float32)
    inits = {
        "W": r.standard_normal((4, boxes)).astype(np.float32),
        "corner": corner,
        "size": r.uniform(0.1, 0.5, (1, boxes, 2)).astype(np.float32),
        "trips": np.array(3, np.int64),
        "k": np.array([5], np.int64),
        "keep": np.array([4], np.int64),
        "iou": np.array([0.3], np.float32),
        "shape3": np.array([1, 1, boxes], np.int64),
    }
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", F, [1, 4]),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", F, [1, 4]),
        ],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["xr"], name="relu"),
        helper.make_node("Loop", ["trips", "", "xr"], ["acc"], body=body, name="loop"),
        helper.make_node("MatMul", ["xr", "W"], ["logits"], name="mm"),
        helper.make_node("Sigmoid", ["logits"], ["scores2"], name="sigmoid"),
        helper.make_node("TopK", ["scores2", "k"], ["top", "top_idx"], name="topk"),
        helper.make_node("Relu", ["top"], ["top_out"], name="relu_top"),
        helper.make_node("Add", ["corner", "size"], ["far"], name="far"),
        helper.make_node("Concat", ["corner", "far"], ["box"], axis=2, name="boxes"),
        helper.make_node("Reshape", ["scores2", "shape3"], ["scores3"], name="scores3"),
        helper.make_node(
            "NonMaxSuppression", ["box", "scores3", "keep", "iou"], ["selected"], name="nms"
        ),
    ]
    outputs = [
        helper.make_tensor_value_info("acc", F, ["a", "b"]),
        helper.make_tensor_value_info("top_out", F, [1, 5]),
        helper.make_tensor_value_info("selected", TensorProto.INT64, ["n", 3]),
    ]
    return _model(
        nodes, [helper.make_tensor_value_info("x", F, [1, 4])], outputs, inits, "loop_topk_nms"
    )


def middle_model():
    """Conv, then CumSum (no lowering) in the middle, then Conv and Relu."""
    r = _rng(2)
    inits = {
        "w1": (r.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32),
        "w2": (r.standard_normal((2, 4, 1, 1)) * 0.3).astype(np.float32),
        "axis": np.array(3, np.int64),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("CumSum", ["c1", "axis"], ["cs"], name="cumsum"),
        helper.make_node("Conv", ["cs", "w2"], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["y"], name="relu"),
    ]
    x = helper.make_tensor_value_info("x", F, [1, 3, 6, 6])
    return _model(
        nodes, [x], [helper.make_tensor_value_info("y", F, [1, 2, 6, 6])], inits, "middle"
    )


def host_matmul_model():
    """Conv, a float64 MatMul between Casts (the NPU takes no float64: host, with MACs), Conv."""
    r = _rng(3)
    inits = {
        "w1": (r.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32),
        "m": (r.standard_normal((6, 6)) * 0.3).astype(np.float64),
        "w2": (r.standard_normal((2, 4, 1, 1)) * 0.3).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Cast", ["c1"], ["c1d"], to=TensorProto.DOUBLE, name="to_double"),
        helper.make_node("MatMul", ["c1d", "m"], ["md"], name="mm_double"),
        helper.make_node("Cast", ["md"], ["mf"], to=F, name="to_float"),
        helper.make_node("Conv", ["mf", "w2"], ["y"], name="conv2"),
    ]
    x = helper.make_tensor_value_info("x", F, [1, 3, 6, 6])
    return _model(
        nodes, [x], [helper.make_tensor_value_info("y", F, [1, 2, 6, 6])], inits, "host_matmul"
    )


def loop_rows_model():
    """A Loop whose trip count comes from the data (ceil |max x|) and whose scan output (one
    row per trip: data-dependent [n, 4]) feeds Relu, MatMul and ReduceSum over the rows
    (host: their shapes depend on data), then a Mul of static shape [3] (NPU again)."""
    r = _rng(4)
    inits = {
        "W": r.standard_normal((4, 4)).astype(np.float32),
        "W2": r.standard_normal((4, 3)).astype(np.float32),
        "s4": np.array([4], np.int64),
        "zero4": np.zeros(4, np.float32),
        "ax0": np.array([0], np.int64),
        "half": np.array(0.5, np.float32),
    }
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Cast", ["i"], ["fi"], to=F),
            helper.make_node("Mul", ["v", "fi"], ["row"]),
            helper.make_node("Add", ["acc_in", "row"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", F, [4]),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", F, [4]),
            helper.make_tensor_value_info("row", F, [4]),
        ],
    )
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="mm1"),
        helper.make_node("Reshape", ["h", "s4"], ["v"], name="flat"),
        helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0, name="rmax"),
        helper.make_node("Abs", ["mx"], ["amx"], name="abs"),
        helper.make_node("Ceil", ["amx"], ["cm"], name="ceil"),
        helper.make_node("Cast", ["cm"], ["trips"], to=TensorProto.INT64, name="trips"),
        helper.make_node("Loop", ["trips", "", "zero4"], ["acc", "rows"], body=body, name="loop"),
        helper.make_node("Relu", ["rows"], ["rrows"], name="relu_rows"),
        helper.make_node("MatMul", ["rrows", "W2"], ["proj"], name="mm_rows"),
        helper.make_node("ReduceSum", ["proj", "ax0"], ["tot"], keepdims=0, name="sum_rows"),
        helper.make_node("Mul", ["tot", "half"], ["out"], name="scale"),
        helper.make_node("Relu", ["acc"], ["acc_relu"], name="relu_acc"),
    ]
    outputs = [
        helper.make_tensor_value_info("out", F, [3]),
        helper.make_tensor_value_info("acc_relu", F, [4]),
    ]
    x = helper.make_tensor_value_info("x", F, [1, 4])
    return _model(nodes, [x], outputs, inits, "loop_rows")


def inputs_for(name: str) -> dict[str, np.ndarray]:
    shapes = {"if": (2, 8), "loop": (1, 4), "middle": (1, 3, 6, 6), "host_matmul": (1, 3, 6, 6)}
    if name == "loop_rows":  # max |x| = 3.2: four trips
        return {"x": np.array([[0.5, -2.7, 3.2, 0.3]], np.float32)}
    return {"x": _rng(7).standard_normal(shapes[name]).astype(np.float32)}


MODELS = {
    "if": if_model,
    "loop": loop_topk_nms_model,
    "middle": middle_model,
    "host_matmul": host_matmul_model,
    "loop_rows": loop_rows_model,
}
