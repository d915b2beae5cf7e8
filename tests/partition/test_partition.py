"""The host partition: models cut into NPU programs and onnxruntime subgraphs, run in turn,
matching onnxruntime on the whole model."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import partition_models as pm
import pytest
from onnx import numpy_helper

import compiler
from compiler.partition import HOST, NPU
from npu import runtime
from simulator import Program
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

TINY = load_config("tiny")


def reference(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))


def run_and_compare(name):
    model = pm.MODELS[name]()
    part = compiler.compile_model(model, TINY)
    feeds = pm.inputs_for(name)
    result = runtime.run(part, feeds)
    for key, want in reference(model, feeds).items():
        got = result.outputs[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5, err_msg=key)
    return part, result


def layout(part):
    return [(s.device, s.nodes) for s in part.segments]


def test_if_on_a_score_threshold_runs_on_the_host_between_npu_layers():
    part, result = run_and_compare("if")
    assert layout(part) == [
        (NPU, ["mm1", "score", "over"]),
        (HOST, ["branch"]),
        (NPU, ["mm2"]),
    ]
    assert part.segments[1].reasons == {"branch": "no NPU lowering for If"}
    # the host reads cond (1 byte) and y (2x16 fp32) and writes z (2x16 fp32) through DRAM
    assert result.transfer_bytes == 1 + 128 + 128
    assert len(result.npu) == 2 and len(result.host) == 1
    assert result.npu_cycles == sum(r.stats.total_cycles for r in result.npu) > 0


def test_loop_topk_and_nms_run_on_the_host_with_data_dependent_shapes():
    part, result = run_and_compare("loop")
    assert layout(part) == [
        (NPU, ["relu", "mm", "sigmoid", "scores3"]),
        (HOST, ["loop", "topk", "nms"]),
        (NPU, ["relu_top"]),
    ]
    reasons = part.segments[1].reasons
    assert reasons["topk"] == "no NPU lowering for TopK"
    assert reasons["loop"] == "no NPU lowering for Loop"
    assert result.outputs["selected"].shape[1] == 3  # rows: as many boxes as NMS keeps
    shapes = {name: part.tensors[name].shape for name in part.outputs}
    assert shapes == {"acc": None, "top_out": (1, 5), "selected": None}


def test_a_loops_data_dependent_rows_feed_host_nodes_then_the_npu_again():
    part, result = run_and_compare("loop_rows")
    assert layout(part) == [
        (NPU, ["mm1", "flat", "rmax", "abs", "ceil", "trips"]),
        (HOST, ["loop", "relu_rows", "mm_rows", "sum_rows", "relu_acc"]),
        (NPU, ["scale"]),
    ]
    host = part.segments[1]
    assert (
        host.reasons["mm_rows"]
        == "tensor 'rrows' has no static shape (data-dependent, or not a tensor)"
    )
    assert host.uncounted == ["mm_rows"] and host.macs == 0  # n x 4 x 3: n known at run time
    assert part.segments[2].inputs[0].shape == (3,)  # static again after the ReduceSum
    x = pm.inputs_for("loop_rows")["x"]
    w = pm.loop_rows_model().graph.initializer
    W, W2 = (numpy_helper.to_array(t) for t in w[:2])
    rows = np.arange(4, dtype=np.float32)[:, None] * (x @ W).reshape(1, 4)  # four trips
    np.testing.assert_allclose(
        result.outputs["out"], 0.5 * (np.maximum(rows, 0) @ W2).sum(0), rtol=1e-5
    )


def test_an_unsupported_op_in_the_middle_splits_the_model_in_three():
    part, _ = run_and_compare("middle")
    assert layout(part) == [
        (NPU, ["conv1"]),
        (HOST, ["cumsum"]),
        (NPU, ["conv2", "relu"]),
    ]
    # MACs: 1x4x6x6 outputs x 3x3x3 taps, then 1x2x6x6 x 4; none on the host
    assert [s.macs for s in part.segments] == [3888, 0, 288]


@pytest.mark.parametrize("name", sorted(pm.MODELS))
def test_strict_mode_refuses_the_first_host_node(name):
    with pytest.raises(UnsupportedOpError) as exc:
        compiler.compile_model(pm.MODELS[name](), TINY, compiler.CompileOptions(strict=True))
    words = {
        "if": ("branch", "If"),
        "loop": ("loop", "Loop"),
        "middle": ("cumsum", "CumSum"),
        "host_matmul": ("to_double", "Cast", "float64"),
        "loop_rows": ("loop", "Loop"),
    }
    for word in words[name]:
        assert word in str(exc.value)


def test_a_model_the_npu_runs_whole_is_one_program():
    model = pm.middle_model()
    model.graph.node.remove(model.graph.node[1])  # CumSum gone: conv1 feeds conv2
    model.graph.node[1].input[0] = "c1"
    assert isinstance(compiler.compile_model(model, TINY), Program)


def test_host_time_estimate_follows_the_host_section():
    config = TINY.with_overrides(
        ["host.gflops=1", "host.bytes_per_s=1e9", "host.call_overhead_us=5"]
    )
    # 5 us + 2000 flops at 1 GFLOP/s + 1000 bytes at 1 GB/s = 8 us = 8000 cycles at 1000 MHz
    assert runtime.host_cycles(config, 2000, 1000) == 8000


def test_inputs_are_checked_by_name_shape_and_dtype():
    part = compiler.compile_model(pm.if_model(), TINY)
    with pytest.raises(Exception, match="input 'x' is float64"):
        runtime.run(part, {"x": np.zeros((2, 8))})
    with pytest.raises(Exception, match="unknown input 'y'"):
        runtime.run(part, {"y": np.zeros((2, 8), np.float32)})
