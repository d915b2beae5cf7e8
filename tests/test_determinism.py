"""Same model, config and inputs: byte-identical programs, identical cycles and outputs,
within one process and across processes (different hash seeds)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
import simulator
from simulator.config import load_config

REPO = Path(__file__).parents[1]


def small_cnn() -> onnx.ModelProto:
    """Conv -> Relu -> MaxPool -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(7)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node(
            "MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    inits = [init("w1", 8, 3, 3, 3), init("b1", 8), init("w2", 16, 8, 3, 3)]
    inits += [init("w3", 10, 16), init("b3", 10)]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("det") / "small_cnn.onnx"
    onnx.save(small_cnn(), path)
    return path


def inputs() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)}


def comparable_stats(stats) -> dict:
    """Every simulated quantity, without host wall-clock fields."""
    raw = dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) else dict(vars(stats))
    return {k: v for k, v in raw.items() if "wall" not in k and "host" not in k}


def test_same_process_identical(model_path):
    config = load_config("base")
    first = compiler.compile(model_path, config, None)
    second = compiler.compile(onnx.load(model_path), config, None)
    assert simulator.program_to_bytes(first) == simulator.program_to_bytes(second)
    a = simulator.run(first, inputs())
    b = simulator.run(simulator.program_from_bytes(simulator.program_to_bytes(second)), inputs())
    assert comparable_stats(a.stats) == comparable_stats(b.stats)
    for name in a.outputs:
        assert a.outputs[name].tobytes() == b.outputs[name].tobytes()


def compile_in_subprocess(model: Path, out: Path, hash_seed: str) -> bytes:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": hash_seed}
    argv = [sys.executable, "-m", "npu", "compile", str(model), "-o", str(out)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def run_in_subprocess(program: Path, tmp: Path, hash_seed: str) -> tuple[dict, dict]:
    np.savez(tmp / "in.npz", **inputs())
    out, stats = tmp / f"out{hash_seed}.npz", tmp / f"stats{hash_seed}.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": hash_seed}
    argv = [sys.executable, "-m", "npu", "run", str(program), "--inputs", str(tmp / "in.npz")]
    argv += ["--out", str(out), "--stats", str(stats)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    arrays = {k: v.tobytes() for k, v in np.load(out).items()}
    return arrays, json.loads(stats.read_text())


def test_across_processes_identical(model_path, tmp_path):
    blobs = [compile_in_subprocess(model_path, tmp_path / f"p{s}.npuprog", s) for s in "12"]
    assert blobs[0] == blobs[1]
    runs = [run_in_subprocess(tmp_path / "p1.npuprog", tmp_path, s) for s in "34"]
    assert runs[0][0] == runs[1][0]
    assert _simulated(runs[0][1]) == _simulated(runs[1][1])


def _simulated(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if "wall" not in k and "host" not in k}


def test_matmul_column_independent_of_tile_width():
    """A column's fp32 result must not depend on how many columns share its tile (the RTL
    accumulates each column alone). 40 identical weight columns on a 32-wide array: the
    8-column remainder tile gave different bits (numpy BLAS picks kernels by width), which
    turned light_squeezenet's uniform softmax into 1/8 on eight classes."""
    from npu.onnx_backend import NpuBackend

    rng = np.random.default_rng(0)
    w = np.repeat(rng.standard_normal((512, 1)).astype(np.float32), 40, axis=1)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "w"], ["y"])],
        "columns",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [169, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [169, 40])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (y,) = NpuBackend.prepare(model, config="base").run(
        [rng.standard_normal((169, 512)).astype(np.float32)]
    )
    assert all(len(np.unique(row)) == 1 for row in y)
