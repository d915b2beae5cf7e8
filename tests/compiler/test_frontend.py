"""Errors, docs, determinism, and a hypothesis property over conv shapes."""

import numpy as np
import onnx
import pytest
from compiler_helpers import check, model, rand
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from test_ops import conv_model

import compiler
from compiler.docs import render
from simulator.config import load_config
from simulator.errors import ModelError, UnsupportedOpError

H = helper.make_node


def test_unsupported_ops_listed_at_once():
    nodes = [H("Hardmax", ["x"], ["a"], name="c1"), H("LpNormalization", ["a"], ["y"], name="s1")]
    m = model(nodes, {"x": [2, 3]}, {"y": [2, 3]})
    match = r"c1 \(Hardmax, opset 17\).*s1 \(LpNormalization, opset 17\)"
    with pytest.raises(UnsupportedOpError, match=match):
        compiler.compile(m, load_config("tiny"))


def test_dynamic_dim_needs_input_shapes():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    m = helper.make_model(
        helper.make_graph([H("Relu", ["x"], ["y"])], "g", [x], [y]),
        ir_version=8,
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(ModelError, match=r"input 'x' has dynamic dimension 0 \('N'\)"):
        compiler.compile(m, load_config("tiny"))
    with pytest.raises(ModelError, match="rank 3"):
        compiler.compile(
            m, load_config("tiny"), compiler.CompileOptions(input_shapes={"x": (1, 2, 3)})
        )
    p = compiler.compile(
        m, load_config("tiny"), compiler.CompileOptions(input_shapes={"x": (3, 4)})
    )
    assert p.tensors["x"].shape == (3, 4)


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all \xff\xff")
    with pytest.raises(ModelError):
        compiler.compile(bad, load_config("tiny"))
    with pytest.raises(ModelError, match="does not exist"):
        compiler.compile(tmp_path / "missing.onnx", load_config("tiny"))


def test_deterministic_program():
    m, _ = conv_model(5, 7, (9, 9), 3, 2, (1, 0, 0, 1))
    a = compiler.compile(m, load_config("small"))
    b = compiler.compile(m, load_config("small"))
    assert a.instructions == b.instructions and a.constants == b.constants
    conv = next(la for la in a.layers if la["op"] == "Conv")
    assert conv["tiling"] and conv["macs"] > 0


def test_shape_arithmetic_is_folded():
    nodes = [
        H("Shape", ["x"], ["s"]),
        H("Gather", ["s", "i0"], ["n"], axis=0),
        H("Unsqueeze", ["n", "ax"], ["nu"]),
        H("Concat", ["nu", "m1"], ["shape"], axis=0),
        H("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = {
        "i0": np.array(0, np.int64),
        "ax": np.array([0], np.int64),
        "m1": np.array([-1], np.int64),
    }
    m = model(nodes, {"x": [2, 3, 4]}, {"y": [2, 12]}, inits)
    check(m, {"x": rand(2, 3, 4)})


def test_supported_ops_doc_is_current():
    with open("docs/supported_ops.md") as f:
        assert f.read() == render()


@settings(max_examples=12, deadline=None)
@given(
    cin=st.integers(1, 9),
    cout=st.integers(1, 9),
    hw=st.integers(3, 9),
    k=st.sampled_from([1, 2, 3]),
    stride=st.integers(1, 2),
    pad=st.integers(0, 1),
    batch=st.integers(1, 2),
)
def test_property_conv(cin, cout, hw, k, stride, pad, batch):
    if hw + 2 * pad < k:
        return
    m, inputs = conv_model(cin, cout, (hw, hw + 1), k, stride, (pad, 0, pad, pad), 1, 1, batch)
    check(m, inputs)


@settings(max_examples=12, deadline=None)
@given(m_=st.integers(1, 20), k=st.integers(1, 40), n=st.integers(1, 20), b=st.integers(1, 3))
def test_property_matmul(m_, k, n, b):
    mdl = model(
        [H("MatMul", ["a", "w"], ["y"])],
        {"a": [b, m_, k]},
        {"y": [b, m_, n]},
        {"w": rand(k, n, seed=1)},
    )
    check(mdl, {"a": rand(b, m_, k, seed=2)}, preset="tiny")


def test_light_resnet50_matches_expected():
    from pathlib import Path

    from onnx import numpy_helper

    from simulator.api import run

    light = Path(onnx.__file__).parent / "backend/test/data/light"
    m = onnx.load(str(light / "light_resnet50.onnx"))
    want = numpy_helper.to_array(onnx.load_tensor(str(light / "light_resnet50_output_0.pb")))
    program = compiler.compile(m, load_config("base"))
    x = rand(1, 3, 224, 224)
    got = run(program, {"gpu_0/data_0": x}).outputs["gpu_0/softmax_1"]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
