"""``npu bench``: compile, simulate and onnxruntime on the same model and input, repeated;
medians, their ratios, cycles against the roofline, peak memory; ``--json``."""

from __future__ import annotations

import json
import statistics

import numpy as np
import onnx
import pytest
from conftest import assert_user_error, files_in, npu
from onnx import TensorProto, helper, numpy_helper

from npu.bench_runs import Times, roofline_cycles
from simulator.config import load_config
from simulator.program import Program


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 3, 3, 3)), "w")
    w = numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])],
        [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, d / "conv.onnx")
    return d


def test_bench_writes_every_measurement(conv_model, tmp_path):
    out = tmp_path / "bench.json"
    r = npu("bench", conv_model / "conv.onnx", "--repeat", "3", "--json", out, "--config", "tiny")
    assert r.code == 0, r.err
    assert "conv.onnx" in r.out and "of roofline" in r.out and "ok" in r.out
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1 and doc["repeat"] == 3 and doc["ort_threads"] == 1
    assert doc["config"] == {"name": "tiny", "fingerprint": load_config("tiny").fingerprint()}
    (m,) = doc["models"]
    for phase in ("compile", "simulate", "onnxruntime"):
        times = m[phase]
        assert len(times["cpu_s"]) == len(times["wall_s"]) == 3
        assert times["median_cpu_s"] == statistics.median(times["cpu_s"]) > 0
    ort = m["onnxruntime"]["median_cpu_s"]
    ratios = m["ratios"]
    assert ratios["compile"] == pytest.approx(m["compile"]["median_cpu_s"] / ort)
    total = m["compile"]["median_cpu_s"] + m["simulate"]["median_cpu_s"]
    assert ratios["compile_simulate"] == pytest.approx(total / ort)
    assert m["macs"] == 8 * 27 * 16 * 16
    assert 0 < m["roofline_cycles"] <= m["cycles"]
    assert m["fraction_of_roofline"] == pytest.approx(m["roofline_cycles"] / m["cycles"], 1e-3)
    assert m["peak_bytes"]["compile"] > 0 and m["peak_bytes"]["simulate"] > 0
    assert m["check"]["passed"] and m["check"]["outputs"][0]["name"] == "y"
    assert doc["peak_rss_bytes"] > m["peak_bytes"]["simulate"]


def test_roofline_is_the_sum_of_the_layers_bounds():
    cfg = load_config("tiny")  # 4x4 array: 16 MACs per cycle, 8 DRAM bytes per cycle
    layers = [
        {"name": "a", "macs": 1600, "operand_bytes": 80},  # compute: 100 cycles
        {"name": "b", "macs": 16, "operand_bytes": 800},  # memory: 800 / bytes per cycle
        {"name": "c", "operand_bytes": 0},
    ]
    program = Program(config=cfg, instructions=[], layers=layers)
    assert roofline_cycles(program) == 100 + 800 / cfg.dram.bytes_per_cycle


def test_times_keep_cpu_and_wall():
    t = Times()
    assert t.measure(lambda: sum(range(1000))) == 499500
    assert len(t.cpu) == len(t.wall) == 1 and t.median == t.cpu[0]


def test_bench_needs_the_onnx_model(tmp_path):
    prog = tmp_path / "m.npuprog"
    prog.write_bytes(b"x")
    assert_user_error(npu("bench", prog), "compiled program", "bench needs the .onnx")


def test_bench_checks_every_model_before_any_work(conv_model, tmp_path):
    out = tmp_path / "bench.json"
    r = npu("bench", conv_model / "conv.onnx", tmp_path / "missing.onnx", "--json", out)
    assert_user_error(r, "missing.onnx", "does not exist")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bench_repeat_must_be_a_positive_integer(value):
    assert_user_error(npu("bench", "zoo:lenet5", "--repeat", value), "--repeat")
