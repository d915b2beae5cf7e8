"""Constant folding to a fixed point (onnx's ReferenceEvaluator, onnxruntime as fallback),
0-d constants, Shape of folded and inferred tensors, named symbolic dimensions."""

import numpy as np
import onnx
import pytest
from compiler_helpers import check, model, rand
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.check import compare_with_onnxruntime
from compiler.frontend import folding
from compiler.frontend.importer import import_model
from simulator.config import load_config
from simulator.errors import ModelError, UnsupportedOpError

H = helper.make_node


def _const(name, value):
    return H("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value)))


def test_zero_d_constants_stay_zero_d():
    """A folded 0-d constant keeps shape () (it came back (1,), and shape inference then
    failed on the rank of what it fed)."""
    nodes = [
        _const("a", np.float32(2.0)),
        _const("b", np.float32(4.0)),
        H("Add", ["a", "b"], ["six"]),
        H("Neg", ["six"], ["m6"]),
        H("Clip", ["x", "m6", "six"], ["y"]),
    ]
    m = model(nodes, {"x": [2, 5]}, {"y": [2, 5]})
    m.graph.value_info.append(helper.make_tensor_value_info("six", TensorProto.FLOAT, []))
    graph = import_model(m)
    assert graph.constants["six"].shape == ()
    assert graph.constants["m6"].shape == () and float(graph.constants["m6"]) == -6.0
    check(m, {"x": rand(2, 5) * 8})


def test_add_then_clip_with_folded_bounds():
    """Add -> Clip whose bounds are folded 0-d constants: the QDQ pass read them with float()
    (TypeError on a (1,) array); now a ReLU6-like Clip the compiler handles."""
    nodes = [
        _const("three", np.float32(3.0)),
        _const("zero", np.float32(0.0)),
        H("Mul", ["three", "two"], ["six"]),
        H("Add", ["x", "three"], ["s"]),
        H("Clip", ["s", "zero", "six"], ["c"]),
        H("Mul", ["x", "c"], ["p"]),
        H("Div", ["p", "six"], ["y"]),
    ]
    m = model(nodes, {"x": [1, 4, 3, 3]}, {"y": [1, 4, 3, 3]}, {"two": np.float32(2.0)})
    check(m, {"x": rand(1, 4, 3, 3) * 4})


def test_shape_of_a_folded_tensor_is_folded():
    """Shape of a tensor that is itself folded (a transposed weight) folds too."""
    w = rand(3, 4, seed=1)
    nodes = [
        H("Transpose", ["w"], ["wt"], perm=[1, 0]),
        H("Shape", ["wt"], ["s"]),
        H("Reshape", ["x", "s"], ["r"]),
        H("Add", ["r", "wt"], ["y"]),
    ]
    m = model(nodes, {"x": [12]}, {"y": [4, 3]}, {"w": w})
    graph = import_model(m)
    assert [n.op for n in graph.nodes()] == ["Reshape", "Add"]
    assert graph.constants["s"].tolist() == [4, 3]
    check(m, {"x": rand(12)})


def test_anchor_arithmetic_folds():
    """YOLO-style anchors: Shape, Gather, Range, Cast, Expand, Unsqueeze, Concat on int64
    from a feature map's inferred shape, all folded to one constant grid."""
    nodes = [
        H("Conv", ["x", "w"], ["f"], pads=[1, 1, 1, 1], strides=[2, 2]),
        H("Shape", ["f"], ["fs"]),
        H("Gather", ["fs", "i2"], ["h"], axis=0),
        H("Gather", ["fs", "i3"], ["wd"], axis=0),
        H("Range", ["z", "h", "one"], ["ry"]),
        H("Range", ["z", "wd", "one"], ["rx"]),
        H("Unsqueeze", ["ry", "ax1"], ["ry2"]),
        H("Unsqueeze", ["rx", "ax0"], ["rx2"]),
        H("Concat", ["h1", "wd1"], ["hw"], axis=0),
        H("Unsqueeze", ["h", "ax0"], ["h1"]),
        H("Unsqueeze", ["wd", "ax0"], ["wd1"]),
        H("Expand", ["ry2", "hw"], ["gy"]),
        H("Expand", ["rx2", "hw"], ["gx"]),
        H("Add", ["gy", "gx"], ["g"]),
        H("Cast", ["g"], ["gf"], to=TensorProto.FLOAT),
        H("Add", ["f", "gf"], ["y"]),
    ]
    inits = {
        "w": rand(2, 3, 3, 3, seed=1),
        "i2": np.array(2, np.int64),
        "i3": np.array(3, np.int64),
        "z": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "ax0": np.array([0], np.int64),
        "ax1": np.array([1], np.int64),
    }
    # nodes out of topological order are fine for onnx; sort them as exporters emit them
    m = model(nodes, {"x": [1, 3, 8, 6]}, {"y": [1, 2, 4, 3]}, inits)
    m = _toposorted(m)
    graph = import_model(m)
    assert [n.op for n in graph.nodes()] == ["Conv", "Add"]
    assert graph.constants["gf"].shape == (4, 3) and graph.constants["gf"].dtype == np.float32
    check(m, {"x": rand(1, 3, 8, 6)})


def _toposorted(m):
    produced = {i.name for i in m.graph.input} | {t.name for t in m.graph.initializer}
    pending, order = list(m.graph.node), []
    while pending:
        for n in pending:
            if all(i in produced or not i for i in n.input):
                order.append(n)
                produced.update(n.output)
                pending.remove(n)
                break
    del m.graph.node[:]
    m.graph.node.extend(order)
    return m


def test_folding_reaches_a_fixed_point():
    """A Shape whose input's shape is known only after an upstream folding and a new round
    of shape inference (Reshape to a computed shape) still folds."""
    nodes = [
        _const("two", np.int64(2)),
        H("Mul", ["two", "three"], ["six"]),
        H("Unsqueeze", ["six", "ax0"], ["six1"]),
        H("Concat", ["m1", "six1"], ["target"], axis=0),
        H("Reshape", ["x", "target"], ["r"]),
        H("Shape", ["r"], ["rs"]),
        H("Cast", ["rs"], ["rsf"], to=TensorProto.FLOAT),
        H("ReduceSum", ["rsf"], ["total"], keepdims=0),
        H("Add", ["r", "total"], ["y"]),
    ]
    inits = {
        "three": np.array(3, np.int64),
        "ax0": np.array([0], np.int64),
        "m1": np.array([-1], np.int64),
    }
    m = model(nodes, {"x": [2, 3, 6]}, {"y": [6, 6]}, inits)
    graph = import_model(m)
    assert [n.op for n in graph.nodes()] == ["Reshape", "Add"]
    assert float(graph.constants["total"]) == 12.0
    check(m, {"x": rand(2, 3, 6)})


def test_random_ops_are_not_folded():
    nodes = [
        H("RandomNormal", [], ["r"], shape=[2, 3], seed=1.0),
        H("Add", ["x", "r"], ["y"]),
    ]
    m = model(nodes, {"x": [2, 3]}, {"y": [2, 3]})
    with pytest.raises(UnsupportedOpError, match=r"RandomNormal"):
        compiler.compile(m, load_config("tiny"))


def test_a_folding_failure_names_the_node():
    nodes = [
        H("Gather", ["table", "idx"], ["g"], axis=0, name="bad_gather"),
        H("Add", ["x", "g"], ["y"]),
    ]
    inits = {"table": rand(4, 3), "idx": np.array([7], np.int64)}
    m = model(nodes, {"x": [1, 3]}, {"y": [1, 3]}, inits)
    with pytest.raises(ModelError, match=r"constant folding of node 'bad_gather' \(Gather\)"):
        compiler.compile(m, load_config("tiny"))


def test_evaluate_falls_back_to_onnxruntime(monkeypatch):
    """When the reference implementation cannot run a node, onnxruntime evaluates it."""

    def refuse(*args):
        raise NotImplementedError("no reference kernel")

    monkeypatch.setattr(folding, "_reference", refuse)
    node = H("Gather", ["t", "i"], ["o"], axis=0)
    got = folding.evaluate(node, ["t", "i"], [np.arange(6.0).reshape(3, 2), np.array(2)], 17)
    assert got[0].tolist() == [4.0, 5.0]


def test_evaluate_keeps_zero_d_and_dtype():
    node = H("Add", ["a", "b"], ["o"])
    got = folding.evaluate(node, ["a", "b"], [np.int64(2), np.int64(5)], 17)[0]
    assert got.shape == () and got.dtype == np.int64 and int(got) == 7


def _symbolic_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 8])
    m = helper.make_tensor_value_info("m", TensorProto.FLOAT, ["batch", "seq", 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 8])
    g = helper.make_graph([H("Mul", ["x", "m"], ["y"])], "g", [x, m], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_named_symbolic_dimension():
    m = _symbolic_model()
    opts = compiler.CompileOptions(input_shapes={"batch": (1,), "seq": (5,)})
    p = compiler.compile(m, load_config("tiny"), opts)
    assert p.tensors["x"].shape == (1, 5, 8) and p.tensors["m"].shape == (1, 5, 1)
    opts = compiler.CompileOptions(input_shapes={"x": (2, 3, 8), "seq": (3,), "batch": (2,)})
    assert compiler.compile(m, load_config("tiny"), opts).tensors["m"].shape == (2, 3, 1)
    feeds = {"x": rand(2, 3, 8), "m": rand(2, 3, 1, seed=1)}
    errors, _ = compare_with_onnxruntime(m, load_config("tiny"), feeds, opts)
    assert errors and all(e.passed for e in errors)


def test_named_symbolic_dimension_errors():
    m = _symbolic_model()
    with pytest.raises(ModelError, match=r"'len', which is neither an input nor a symbolic"):
        compiler.compile(
            m, load_config("tiny"), compiler.CompileOptions(input_shapes={"len": (4,)})
        )
    with pytest.raises(ModelError, match=r"symbolic dimension 'seq' the value \[4, 4\]"):
        compiler.compile(
            m, load_config("tiny"), compiler.CompileOptions(input_shapes={"seq": (4, 4)})
        )
    with pytest.raises(ModelError, match=r"or --input-shape batch=N"):
        compiler.compile(
            m, load_config("tiny"), compiler.CompileOptions(input_shapes={"seq": (4,)})
        )


def test_folded_graph_output_keeps_its_shape():
    """A graph output that folds to a 0-d constant comes back 0-d."""
    nodes = [H("Shape", ["x"], ["s"]), H("ReduceProd", ["s"], ["n"], keepdims=0)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    n = helper.make_tensor_value_info("n", TensorProto.INT64, [])
    g = helper.make_graph(nodes, "g", [x], [n])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    from simulator.api import run

    p = compiler.compile(m, load_config("tiny"))
    out = run(p, {"x": rand(2, 3)}).outputs["n"]
    assert out.shape == () and out.dtype == np.int64 and int(out) == 6
    onnx.checker.check_model(m)


def test_a_zero_size_input_is_a_constant():
    """ReduceSum's axes fed as an empty input: reduce over all axes (the empty tensor is a
    constant); the input stays a program input so callers still feed it."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [0])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])
    g = helper.make_graph([H("ReduceSum", ["x", "axes"], ["y"])], "g", [x, axes], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": rand(2, 3), "axes": np.zeros(0, np.int64)}
    checks, _ = compare_with_onnxruntime(m, load_config("tiny"), feeds)
    assert checks and all(c.passed for c in checks)


def test_a_zero_size_result_is_refused():
    nodes = [H("Slice", ["x", "s", "e"], ["y"], name="empty_slice")]
    inits = {"s": np.array([2], np.int64), "e": np.array([2], np.int64)}
    m = model(nodes, {"x": [4, 3]}, {"y": [0, 3]}, inits)
    with pytest.raises(UnsupportedOpError, match=r"'empty_slice' \(Slice\) makes 'y' .*zero-size"):
        compiler.compile(m, load_config("tiny"))


def test_a_model_of_zero_size_tensors_runs():
    """Relu of a [0, 4] input (tests/data/bad/zero_dim.onnx): everything folds to the empty
    result onnxruntime gives; the input is still fed."""
    from pathlib import Path

    from simulator.api import run

    m = onnx.load(Path(__file__).parents[1] / "data" / "bad" / "zero_dim.onnx")
    program = compiler.compile(m, load_config("tiny"))
    out = run(program, {"x": np.zeros((0, 4), np.float32)}).outputs
    assert [v.shape for v in out.values()] == [(0, 4)]
