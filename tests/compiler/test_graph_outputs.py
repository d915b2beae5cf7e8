"""Graph outputs that no lowered node writes: folded constants and inference Dropout."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import TensorProto, helper, numpy_helper

import compiler
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

H = helper.make_node


def _int_output(m, name, shape):
    del m.graph.output[:]
    m.graph.output.append(helper.make_tensor_value_info(name, TensorProto.INT64, shape))
    return m


def test_shape_output_is_int64_from_the_constant_segment():
    m = _int_output(model([H("Shape", ["x"], ["s"], start=1)], {"x": [2, 3, 5]}, {}), "s", [2])
    result = check(m, {"x": rand(2, 3, 5)})
    assert result.outputs["s"].dtype == np.int64
    np.testing.assert_array_equal(result.outputs["s"], [3, 5])


def test_constant_output_next_to_a_computed_one():
    value = numpy_helper.from_array(rand(2, 4, seed=3), "v")
    nodes = [H("Constant", [], ["c"], value=value), H("Relu", ["x"], ["y"])]
    m = model(nodes, {"x": [3, 4]}, {"c": [2, 4], "y": [3, 4]})
    result = check(m, {"x": rand(3, 4)})
    np.testing.assert_array_equal(result.outputs["c"], rand(2, 4, seed=3))


def test_empty_constant_output():
    m = _int_output(model([H("Shape", ["x"], ["s"], start=2, end=1)], {"x": [2, 3]}, {}), "s", [0])
    check(m, {"x": rand(2, 3)})


def _dropout(outputs, extra_inputs=(), inits=None, opset=17, **attrs):
    ins = ["x", *extra_inputs]
    node = H("Dropout", ins, list(outputs), name="drop", **attrs)
    m = model([node], {"x": [2, 3, 4]}, {"y": [2, 3, 4]}, inits, opset=opset)
    if len(outputs) > 1:
        m.graph.output.append(
            helper.make_tensor_value_info(outputs[1], TensorProto.BOOL, [2, 3, 4])
        )
    return m


@pytest.mark.parametrize("opset", [11, 17])
def test_dropout_output_is_a_copy_of_the_input(opset):
    check(
        _dropout(["y"], opset=opset, **({"ratio": 0.3} if opset < 12 else {})), {"x": rand(2, 3, 4)}
    )


def test_dropout_mask_is_all_true():
    m = _dropout(["y", "mask"], ["r"], {"r": np.array(0.4, np.float32)})
    result = check(m, {"x": rand(2, 3, 4)})
    assert result.outputs["mask"].dtype == np.bool_ and result.outputs["mask"].all()


def test_dropout_then_relu():
    nodes = [H("Dropout", ["x"], ["d"]), H("Relu", ["d"], ["y"])]
    check(model(nodes, {"x": [4, 5]}, {"y": [4, 5]}), {"x": rand(4, 5)})


def test_constant_training_dropout_zero_ratio_is_identity():
    inits = {"r": np.array(0.0, np.float32), "t": np.array(True)}
    check(_dropout(["y"], ["r", "t"], inits), {"x": rand(2, 3, 4)})


@pytest.mark.parametrize(
    "inits",
    [
        {"r": np.array(0.5, np.float32), "t": np.array(True)},  # random
        {"t": np.array(True)},  # default ratio 0.5
    ],
)
def test_training_dropout_rejected(inits):
    m = _dropout(["y"], ["r" if "r" in inits else "", "t"], inits)
    with pytest.raises(UnsupportedOpError, match=r"drop \(Dropout.*training_mode"):
        compiler.compile(m, load_config("tiny"))


def test_training_dropout_with_runtime_mode_rejected():
    m = _dropout(["y"], ["", "t"])
    m.graph.input.append(helper.make_tensor_value_info("t", TensorProto.BOOL, []))
    with pytest.raises(UnsupportedOpError, match=r"drop \(Dropout.*'t'"):
        compiler.compile(m, load_config("tiny"))
