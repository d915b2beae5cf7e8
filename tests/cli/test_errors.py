"""Every user error: exit 2, one ``error: ...`` line naming the problem, no output file left."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_user_error, files_in, npu
from handmade import K, M


@pytest.fixture
def out_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    return out


def run_args(prog, inputs, out_dir, *extra):
    return ("run", prog, "--inputs", inputs, "--out", out_dir / "y.npz", *extra)


@pytest.mark.parametrize("command", ["compile", "run", "profile", "check"])
def test_missing_model_file(command, out_dir):
    args = {
        "compile": ["-o", out_dir / "m.npuprog"],
        "run": ["--inputs", "in.npz", "--out", out_dir / "y.npz"],
        "profile": ["--json", out_dir / "p.json"],
        "check": [],
    }[command]
    assert_user_error(npu(command, out_dir / "nope.onnx", *args), "nope.onnx", "does not exist")
    assert files_in(out_dir) == []


def test_missing_program_file(out_dir, handmade_inputs):
    r = npu(*run_args(out_dir / "gone.npuprog", handmade_inputs, out_dir))
    assert_user_error(r, "gone.npuprog", "does not exist")


def test_model_with_unknown_suffix(tmp_path, out_dir):
    model = tmp_path / "model.txt"
    model.write_text("hello")
    r = npu("compile", model, "-o", out_dir / "m.npuprog")
    assert_user_error(r, "model.txt", ".onnx")
    assert files_in(out_dir) == []


def test_not_a_program_file(tmp_path, out_dir, handmade_inputs):
    bad = tmp_path / "junk.npuprog"
    bad.write_bytes(b"not a program at all")
    assert_user_error(npu(*run_args(bad, handmade_inputs, out_dir)))
    assert files_in(out_dir) == []


def test_unknown_preset(handmade_prog, handmade_inputs, out_dir):
    r = npu(*run_args(handmade_prog, handmade_inputs, out_dir, "--config", "nonesuch"))
    assert_user_error(r, "unknown preset", "nonesuch")
    assert files_in(out_dir) == []


def test_unknown_set_key(handmade_prog, handmade_inputs, out_dir):
    r = npu(*run_args(handmade_prog, handmade_inputs, out_dir, "--set", "array.rowz=8"))
    assert_user_error(r, "array.rowz")
    assert files_in(out_dir) == []


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_bad_set_value(value, handmade_prog, handmade_inputs, out_dir):
    r = npu(*run_args(handmade_prog, handmade_inputs, out_dir, "--set", f"array.rows={value}"))
    assert_user_error(r, "array.rows", value)
    assert files_in(out_dir) == []


def test_program_run_with_a_different_config(handmade_prog, handmade_inputs, out_dir):
    r = npu(*run_args(handmade_prog, handmade_inputs, out_dir, "--config", "base"))
    assert_user_error(r, "compiled for config 'tiny'", "recompile")
    assert files_in(out_dir) == []


def test_program_run_with_its_own_config_is_fine(handmade_prog, handmade_inputs, out_dir):
    r = npu(*run_args(handmade_prog, handmade_inputs, out_dir, "--config", "tiny"))
    assert r.code == 0, r.err
    assert files_in(out_dir) == ["y.npz"]


BAD_INPUTS = {
    "wrong name": ({"image": (M, K)}, ["image", "x"]),
    "missing input": ({}, ["missing", "x"]),
    "extra input": ({"x": (M, K), "z": (2,)}, ["unexpected", "z"]),
    "wrong shape": ({"x": (M, K + 1)}, ["x", "shape", f"({M}, {K + 1})"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs(case, tmp_path, out_dir, handmade_prog):
    shapes, words = BAD_INPUTS[case]
    npz = tmp_path / "in.npz"
    np.savez(npz, **{k: np.zeros(s, np.float32) for k, s in shapes.items()})
    assert_user_error(npu(*run_args(handmade_prog, npz, out_dir)), *words)
    assert files_in(out_dir) == []


def test_wrong_input_dtype(tmp_path, out_dir, handmade_prog):
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.zeros((M, K), np.complex64))
    assert_user_error(npu(*run_args(handmade_prog, npz, out_dir)), "x", "complex64")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"plain text"])
def test_unreadable_inputs_file(content, tmp_path, out_dir, handmade_prog):
    npz = tmp_path / "in.npz"
    npz.write_bytes(content)
    assert_user_error(npu(*run_args(handmade_prog, npz, out_dir)), "in.npz")
    assert files_in(out_dir) == []


def test_missing_inputs_file(tmp_path, out_dir, handmade_prog):
    r = npu(*run_args(handmade_prog, tmp_path / "none.npz", out_dir))
    assert_user_error(r, "none.npz", "does not exist")


def test_missing_output_directory(tmp_path, handmade_prog, handmade_inputs):
    r = npu("run", handmade_prog, "--inputs", handmade_inputs, "--out", tmp_path / "no/y.npz")
    assert_user_error(r, "no/y.npz", "does not exist")


def test_output_is_a_directory(tmp_path, handmade_prog, handmade_inputs):
    (tmp_path / "y.npz").mkdir()
    r = npu("run", handmade_prog, "--inputs", handmade_inputs, "--out", tmp_path / "y.npz")
    assert_user_error(r, "is a directory")


def test_one_bad_report_path_writes_no_report(tmp_path, out_dir, handmade_prog):
    r = npu("profile", handmade_prog, "--json", out_dir / "p.json", "--csv", tmp_path / "x/l.csv")
    assert_user_error(r, "x/l.csv")
    assert files_in(out_dir) == []


def test_bad_input_shape_option(out_dir):
    r = npu("compile", "m.onnx", "--input-shape", "x=1,a", "-o", out_dir / "m.npuprog")
    assert_user_error(r, "--input-shape", "x=1,a")


def test_check_refuses_a_program(handmade_prog):
    assert_user_error(npu("check", handmade_prog), "compiled program", ".onnx")


def test_unknown_zoo_model(out_dir):
    r = npu("compile", "zoo:nonesuch", "-o", out_dir / "m.npuprog")
    assert_user_error(r, "nonesuch")
    assert files_in(out_dir) == []


def test_npu_debug_shows_the_traceback(handmade_prog, handmade_inputs, out_dir):
    args = run_args(handmade_prog, handmade_inputs, out_dir, "--config", "nonesuch")
    r = npu(*args, env={"NPU_DEBUG": "1"})
    assert r.code == 2
    assert "Traceback" in r.err and "ConfigError" in r.err
    assert r.err.strip().splitlines()[-1].startswith("error: unknown preset")


def test_unsupported_op(tmp_path, out_dir):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Det", ["x"], ["y"], name="det_1")
    graph = helper.make_graph(
        [node],
        "det",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    model = tmp_path / "det.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    strict = (
        ["compile", model, "-o", out_dir / "m.npuprog", "--npu-only"],
        ["check", model, "--npu-only"],
    )
    for command in strict:
        assert_user_error(npu(*command), "Det")
    assert files_in(out_dir) == []
    # Without --npu-only, onnxruntime runs what the NPU cannot: the host partition says so.
    result = npu("compile", model, "-o", out_dir / "m.npuprog")
    assert result.code == 0, result.err
    assert "0 NPU, 1 host: Det 'det_1'" in result.out


def _symbolic_model(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "seq"])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_input_shape_names_a_symbolic_dimension(tmp_path, out_dir):
    _symbolic_model(tmp_path / "m.onnx")
    r = npu("compile", tmp_path / "m.onnx", "--input-shape", "seq=7", "-o", out_dir / "m.npuprog")
    assert r.code == 0, r.err
    r = npu("compile", tmp_path / "m.onnx", "-o", out_dir / "n.npuprog")
    assert_user_error(r, "dynamic dimension 1 ('seq')", "--input-shape seq=N")
    r = npu("compile", tmp_path / "m.onnx", "--input-shape", "len=7", "-o", out_dir / "n.npuprog")
    assert_user_error(r, "'len'", "neither an input nor a symbolic dimension", "seq")
    assert files_in(out_dir) == ["m.npuprog"]
