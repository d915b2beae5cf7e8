"""The ONNX backend and the conformance suite.

Default run (``make test``): the backend API, the ONNX test runner driving ``NpuBackend``, every
node case whose ops are all declared by the compiler, and the fast light models. The full suite
(all 1,884 node cases and the nine light models, writing docs/conformance.md) is the
``slow``-marked ``test_full_suite`` (``make test-full``), also ``npu conformance``.
"""

from __future__ import annotations

import json
import re
import unittest
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from npu import conformance
from npu.conformance_cases import model_cases, node_cases
from npu.conformance_exclusions import EXCLUDED
from npu.onnx_backend import NpuBackend, supported_op_names
from simulator.config import load_config

REPO = Path(__file__).parents[2]
# Light models simulated in the default run; the others are slow-marked.
FAST_MODELS = {
    "test_bvlc_alexnet",
    "test_inception_v1",
    "test_shufflenet",
    "test_squeezenet",
    "test_zfnet512",
}
TIMEOUT = 120.0


def relu_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def test_devices():
    assert NpuBackend.supports_device("NPU")
    assert NpuBackend.supports_device("CPU")  # what onnx's own runner asks for
    assert not NpuBackend.supports_device("CUDA")


def test_prepare_run_in_graph_output_order():
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    rep = NpuBackend.prepare(relu_model(), config="tiny")
    (y,) = rep.run([x])
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert rep.run({"x": x})["y"].shape == (2, 3)
    np.testing.assert_array_equal(NpuBackend.run_model(relu_model(), [x])[0], np.maximum(x, 0))


def test_run_node():
    x = np.array([[-1, 2, -3]], np.float32)
    (y,) = NpuBackend.run_node(helper.make_node("Relu", ["x"], ["y"]), [x])
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_onnx_backend_test_runner_drives_npu():
    """onnx's own BackendTest runs NpuBackend on a few node cases, the standard way."""
    import onnx.backend.test

    suite_builder = onnx.backend.test.BackendTest(NpuBackend, __name__)
    suite_builder.include(r"^test_(relu|add|softmax_axis_1)_cpu$")
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(
        suite_builder.test_cases["OnnxBackendNodeModelTest"]
    )
    result = unittest.TextTestRunner(verbosity=0).run(suite)
    assert result.testsRun >= 2 and result.wasSuccessful(), result.failures + result.errors


def test_exclusions_are_reasoned():
    names = {c.name for c in node_cases()} | {c.name for c in model_cases()}
    labels = {c.op for c in node_cases()} | {"model"}
    for key, reason in EXCLUDED.items():
        assert key in names or key in labels, f"exclusion {key!r} matches no case"
        assert len(reason.split()) >= 4, f"exclusion {key!r} needs a written reason"


def _declared_cases() -> list:
    return conformance.select(node_cases(), None, supported_only=True)


def test_node_cases_of_declared_ops():
    """Every node case whose ops are all declared: passed, or rejected naming an attribute."""
    outcomes = conformance.run_all(_declared_cases(), load_config("base"), TIMEOUT)
    bad = [f"{o.status} {o.name}: {o.detail}" for o in outcomes if o.status in conformance.BAD]
    assert not bad, "\n".join(bad)
    assert sum(o.status == "passed" for o in outcomes) > 0


def _model_params():
    for case in model_cases():
        marks = () if case.name in FAST_MODELS else (pytest.mark.slow,)
        yield pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", _model_params())
def test_light_model(case):
    outcome = conformance.run_case(case, load_config("base"), timeout=600)
    assert outcome.status == "passed", f"{outcome.status}: {outcome.detail}"


def test_cli_subset_writes_markdown(tmp_path, capsys):
    md = tmp_path / "conformance.md"
    code = conformance.main(["--ops", "Relu,Abs", "--no-models", "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^Relu\s+\d+", out, re.M)
    assert "| Relu |" in md.read_text()


def test_committed_table_is_clean():
    """docs/conformance.md (from the last full run) shows zero wrong answers and crashes."""
    text = (REPO / "docs" / "conformance.md").read_text()
    assert "the full suite" in text
    assert "No wrong answers and no crashes." in text


def test_committed_host_table_is_clean():
    """docs/conformance_host.md (the last full run with the host partition): no wrong answer,
    no crash."""
    text = (REPO / "docs" / "conformance_host.md").read_text()
    assert "the full suite" in text
    assert "No wrong answers and no crashes." in text


@pytest.mark.slow
def test_full_suite(tmp_path):
    code = conformance.main(["--markdown", str(tmp_path / "conformance.md")])
    assert code == 0, (tmp_path / "conformance.md").read_text()


@pytest.mark.slow
def test_full_suite_with_the_host_partition(tmp_path):
    """Every node case: natively, or with a host partition, or rejected only as onnxruntime's."""
    out = tmp_path / "outcomes.json"
    code = conformance.main(["--host", "--no-models", "--json", str(out)])
    assert code == 0
    for o in json.loads(out.read_text()):
        if o["status"] == "rejected":
            assert "onnxruntime" in o["detail"], o


def test_declared_ops_exist():
    assert supported_op_names(), "the compiler declares no ops"
