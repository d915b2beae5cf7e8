"""``npu check`` and ``npu profile`` against onnxruntime, and ``npu compile`` + ``npu run``.

The model is one MatMul, y = x @ ones(64, 1). With x = [1e8, 3 x 31, -1e8, 0 x 31] the sum
depends on the order of fp32 additions: onnxruntime adds left to right (the 3s vanish into 1e8,
y = 0); the simulated array sums each K tile exactly in a wide accumulator and rounds once
per tile into the fp32 accumulator, whose ulp at 1e8 is 8 (y = 96; exactly, 93). That is a
genuine mismatch, so ``npu check`` must exit 1 on it.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import onnx
import pytest
from conftest import REPO, files_in, npu
from onnx import TensorProto, helper, numpy_helper

K = 64


@pytest.fixture(scope="module")
def matmul_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("matmul")
    w = numpy_helper.from_array(np.ones((K, 1), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, d / "mm.onnx")
    x = np.zeros((1, K), np.float32)
    x[0, 0], x[0, 1:32], x[0, 32] = 1e8, 3.0, -1e8
    np.savez(d / "cancel.npz", x=x)
    return d


def test_check_passes_on_random_inputs(matmul_model):
    r = npu("check", matmul_model / "mm.onnx", "--config", "tiny")
    assert r.code == 0, r.err
    assert "1 of 1 outputs match onnxruntime" in r.out and "ok" in r.out


def test_check_fails_with_exit_1_and_the_error(matmul_model):
    r = npu("check", matmul_model / "mm.onnx", "--config", "tiny",
            "--inputs", matmul_model / "cancel.npz")  # fmt: skip
    assert r.code == 1, r.err
    assert "MISMATCH y (float32): max abs error 96" in r.out
    assert "0 of 1 outputs match" in r.out


def test_profile_reports_a_mismatch_and_exits_0_unless_strict(matmul_model, tmp_path):
    args = ["profile", matmul_model / "mm.onnx", "--config", "tiny",
            "--inputs", matmul_model / "cancel.npz"]  # fmt: skip
    r = npu(*args, "--json", tmp_path / "p.json")
    assert r.code == 0, r.err
    assert "MISMATCH" in r.out
    report = json.loads((tmp_path / "p.json").read_text())
    jsonschema.validate(report, json.loads((REPO / "docs" / "report_schema.json").read_text()))
    assert report["check"]["status"] == "failed"
    assert report["check"]["outputs"][0]["max_abs_error"] == 96.0
    assert report["compile_s"] > 0 and report["layers"][0]["op"] == "MatMul"
    strict = npu(*args, "--strict", "--json", tmp_path / "strict.json")
    assert strict.code == 1
    assert files_in(tmp_path) == ["p.json", "strict.json"]  # reports are still written


def test_compile_then_run_equals_run_of_the_onnx(matmul_model, tmp_path):
    prog = tmp_path / "mm.npuprog"
    r = npu("compile", matmul_model / "mm.onnx", "--config", "tiny", "-o", prog)
    assert r.code == 0, r.err
    assert "wrote" in r.out
    npz = matmul_model / "cancel.npz"
    assert npu("run", prog, "--inputs", npz, "--out", tmp_path / "a.npz").code == 0
    r = npu("run", matmul_model / "mm.onnx", "--config", "tiny", "--inputs", npz,
            "--out", tmp_path / "b.npz")  # fmt: skip
    assert r.code == 0, r.err
    a, b = np.load(tmp_path / "a.npz")["y"], np.load(tmp_path / "b.npz")["y"]
    assert a.dtype == np.float32 and a.shape == (1, 1) and np.array_equal(a, b)
    assert a[0, 0] == 96.0


def test_compile_refuses_a_program(tmp_path, handmade_prog):
    r = npu("compile", handmade_prog, "-o", tmp_path / "again.npuprog")
    assert r.code == 2 and "already a compiled program" in r.err
    assert files_in(tmp_path) == []


def test_check_judges_a_dequantised_int8_output_in_steps():
    """lenet5-int8 ends in DequantizeLinear: its float output is compared in steps of that
    scale against onnxruntime's integer kernels, not with the float tolerance."""
    r = npu("check", "zoo:lenet5-int8", "--config", "small")
    assert r.code == 0, r.out + r.err
    assert "ok       logits (float32): max abs error 0, 0 quantisation step(s)" in r.out
