"""The onnxruntime oracle and the one output record (``compiler.check``) that the tests,
``npu check``, ``npu profile`` and ``npu bench`` share."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.check import (
    ATOL,
    RTOL,
    check_output,
    check_outputs,
    infer,
    output_scales,
    reference,
    session,
)
from simulator.errors import ModelError


def test_within_rtol_passes_and_just_outside_fails():
    want = np.array([1000.0, -2.0, 0.0], np.float32)
    inside = want + np.array([0.999, 0.0, ATOL * 0.9], np.float32)
    outside = want + np.array([1.2, 0.0, 0.0], np.float32)
    assert check_output("y", inside, want).passed
    bad = check_output("y", outside, want)
    assert not bad.passed and bad.error_steps is None
    assert abs(bad.max_abs_error - 1.2) < 1e-3
    assert abs(bad.max_rel_error - 1.2e-3) < 1e-5
    assert bad.exact == pytest.approx(2 / 3)
    assert RTOL == 1e-3


def test_nan_and_inf_must_sit_where_the_reference_has_them():
    want = np.array([np.nan, np.inf, 1.0], np.float32)
    assert check_output("y", want.copy(), want).passed
    moved = np.array([1.0, np.inf, np.nan], np.float32)
    e = check_output("y", moved, want)
    assert not e.passed and e.max_abs_error == float("inf")
    assert e.to_dict()["max_abs_error"] is None  # JSON has no Inf
    assert not check_output("y", np.array([np.nan, -np.inf, 1.0], np.float32), want).passed


def test_int8_outputs_pass_within_one_step():
    want = np.array([3, -7, 127], np.int8)
    one = check_output("q", np.array([4, -7, 127], np.int8), want)
    assert one.passed and one.error_steps == 1.0 and one.exact == pytest.approx(2 / 3)
    assert not check_output("q", np.array([5, -7, 127], np.int8), want).passed


def test_wide_integer_outputs_must_be_exact():
    want = np.array([0, 5, 9], np.int64)  # indices: one off is wrong
    off = check_output("i", np.array([0, 6, 9], np.int64), want)
    assert not off.passed and off.error_steps == 1.0
    assert check_output("i", want.copy(), want).passed


def test_bool_outputs_must_be_exact():
    want = np.array([True, False, True])
    assert not check_output("m", np.array([True, True, True]), want).passed
    assert check_output("m", want.copy(), want).passed


def test_dequantised_outputs_are_judged_in_steps_of_their_scale():
    want = np.array([0.5, 1.0], np.float32)
    got = want + np.float32(0.25)
    c = check_output("y", got, want, scale=0.25)
    assert c.passed and c.error_steps == pytest.approx(1.0)
    assert not check_output("y", got, want).passed  # as a plain float: far outside rtol


def test_a_shape_mismatch_is_a_model_error():
    with pytest.raises(ModelError, match="output 'y' has shape \\(2,\\), onnxruntime gives"):
        check_outputs({"y": np.zeros(2)}, {"y": np.zeros(3)})


def _matmul_model() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_model_path_resolves_its_external_data(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(_matmul_model(), path, save_as_external_data=True, location="w.bin",
                    size_threshold=0)  # fmt: skip
    assert (tmp_path / "w.bin").is_file()
    x = np.ones((2, 4), np.float32)
    want = x @ np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(reference(path, {"x": x})["y"], want)
    np.testing.assert_array_equal(reference(_matmul_model(), {"x": x})["y"], want)


def test_onnxruntime_errors_become_one_line_model_errors(tmp_path):
    m = _matmul_model()
    m.graph.node[0].op_type = "NoSuchOp"
    path = tmp_path / "bad.onnx"
    onnx.save_model(m, path)
    with pytest.raises(ModelError, match=f"onnxruntime cannot run '{path}'") as info:
        session(path)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="onnxruntime cannot run the model: "):
        reference(m, {"x": np.ones((2, 4), np.float32)})
    with pytest.raises(ModelError, match="onnxruntime cannot run the model: .*x"):
        reference(_matmul_model(), {"x": np.ones((3, 4), np.float32)})  # bad input shape
    good = tmp_path / "good.onnx"
    onnx.save_model(_matmul_model(), good)
    with pytest.raises(ModelError, match=f"onnxruntime cannot run '{good}': .*x"):
        infer(session(good), {"x": np.ones((3, 4), np.float32)}, good)  # an open session


def test_output_scales_are_those_of_the_final_q_and_dq_nodes():
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.float32(0.5), "s"),
        numpy_helper.from_array(np.int8(0), "z"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        inits,
    )
    assert output_scales(helper.make_model(graph)) == {"y": 0.5}
