"""Sweeps of models with host nodes: each point lowers and simulates the NPU partitions at its
config, and the host partitions add their [host] estimate, as `npu run --timing-only` does."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import pytest

import compiler
from npu import runtime, sweep
from npu.sweep import evaluate
from simulator.config import load_config

sys.path.insert(0, str(Path(__file__).parents[1] / "partition"))
import partition_models as pm  # noqa: E402

POINTS = [(("array.cols", 8),), (("array.cols", 16), ("host.gflops", 2.0))]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("part")
    onnx.save(pm.host_matmul_model(), d / "hm.onnx")
    onnx.save(pm.loop_topk_nms_model(), d / "loop.onnx")
    return d


def _timing_only(path: Path, point) -> runtime.PartitionedResult:
    part = compiler.compile_model(path, load_config("tiny", dict(point)))
    assert isinstance(part, compiler.partition.Partitioned)
    return runtime.run(part, None, numerics=False)


@pytest.mark.parametrize("name", ["hm", "loop"])
def test_a_point_of_a_partitioned_model_is_what_npu_run_timing_only_gives(models, name):
    path = models / f"{name}.onnx"
    for point in POINTS:
        record = evaluate.Task(name, str(path), "tiny", point, verify=False, seed=0).run()
        assert record["status"] == "ok", record["error"]
        expected = _timing_only(path, point)
        assert record["cycles"] == expected.total_cycles
        assert expected.host_cycles > 0 and expected.npu_cycles > 0
        npu_energy = sum(r.stats.energy_pj["total"] for r in expected.npu) / 1e6
        assert record["energy_uj"] == pytest.approx(npu_energy)
        assert record["dram_read_bytes"] == sum(r.stats.dram_read_bytes for r in expected.npu)
        assert record["peak_scratchpad_bytes"] > 0
    # host.gflops 2 against tiny's own: the host estimate follows the point's [host] section
    first, second = (_timing_only(path, p).host_cycles for p in POINTS)
    assert first != second


def test_a_verified_point_runs_the_host_partitions_and_matches_onnxruntime(models):
    path = str(models / "hm.onnx")
    full = evaluate.Task("hm", path, "tiny", POINTS[0], verify=True, seed=0).run()
    timing = evaluate.Task("hm", path, "tiny", POINTS[0], verify=False, seed=0).run()
    assert full["status"] == "ok" and full["verified"] is True
    same = [m for m in evaluate.METRICS if not m.endswith("_s")]
    assert [timing[m] for m in same] == [full[m] for m in same]  # the host shapes are static
    part = compiler.compile_model(path, load_config("tiny", dict(POINTS[0])))
    ran = runtime.run(part, pm.inputs_for("host_matmul"))
    assert full["cycles"] == ran.total_cycles and ran.host[0].ran


def test_npu_sweep_of_a_partitioned_model_records_every_point(models, tmp_path):
    table = sweep.run(
        [str(models / "hm.onnx")],
        db=str(tmp_path / "p.sqlite"),
        config="tiny",
        grid=["array.cols=4,8,16"],
        workers=1,
    )
    assert [r["status"] for r in table] == ["ok"] * 3
    for r in table:
        point = (("array.cols", r["point"]["array.cols"]),)
        assert r["cycles"] == _timing_only(models / "hm.onnx", point).total_cycles
    assert [r["verified"] for r in table] == [True, None, None]
