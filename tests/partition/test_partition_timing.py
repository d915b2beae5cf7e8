"""Partitioned models in timing-only runs, traces and benchmarks, and host MACs counted at run
time: a float64 MatMul (host) between two Convs (NPU) at tiny, and a Loop whose data-dependent
rows feed a host MatMul."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import partition_models as pm
import pytest

import compiler
from npu import runtime
from npu.cli import main as npu_main
from simulator.config import load_config
from simulator.errors import ModelError

REPO = Path(__file__).parents[2]
SCHEMA = json.loads((REPO / "docs" / "report_schema.json").read_text())
TINY = load_config("tiny")
HOST_MATMUL_CYCLES = (920, 20_209)  # NPU cycles, the host partition's estimate
MM_ROWS = 4 * 4 * 3  # loop_rows: four trips of [4] rows, times W2 [4, 3]


def npu(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = npu_main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def host_matmul(tmp_path_factory):
    d = tmp_path_factory.mktemp("timing")
    onnx.save(pm.host_matmul_model(), d / "m.onnx")
    np.savez(d / "in.npz", **pm.inputs_for("host_matmul"))
    return d


def test_timing_only_equals_the_full_run_when_host_shapes_are_static():
    part = compiler.compile_model(pm.host_matmul_model(), TINY)
    full = runtime.run(part, pm.inputs_for("host_matmul"))
    timing = runtime.run(part, None, numerics=False)
    assert timing.outputs == {} and full.outputs
    assert runtime.stats_dict(timing) == runtime.stats_dict(full)
    assert (timing.npu_cycles, timing.host_cycles) == HOST_MATMUL_CYCLES
    (h,) = timing.host
    assert not h.ran and h.wall_s is None and h.unknown == [] and full.host[0].ran


def test_timing_only_of_data_dependent_host_ports_is_a_lower_bound_naming_them():
    part = compiler.compile_model(pm.loop_topk_nms_model(), TINY)
    full = runtime.run(part, pm.inputs_for("loop"))
    timing = runtime.run(part, None, numerics=False)
    assert timing.npu_cycles == full.npu_cycles == 248
    (h,) = timing.host
    assert h.unknown == ["acc", "selected"]  # the Loop's and NMS's outputs: sizes from data
    assert (h.estimated_cycles, full.host[0].estimated_cycles) == (20_018, 20_030)
    assert (h.transfer_bytes, full.host[0].transfer_bytes) == (180, 292)


def test_timing_only_checks_given_inputs_and_refuses_the_checker():
    part = compiler.compile_model(pm.host_matmul_model(), TINY)
    with pytest.raises(ModelError, match="missing input 'x'"):
        runtime.run(part, {}, numerics=False)
    with pytest.raises(ValueError, match="numerics"):
        runtime.run(part, None, numerics=False, checked=True)


def test_host_macs_of_data_dependent_shapes_are_counted_at_run_time():
    part = compiler.compile_model(pm.loop_rows_model(), TINY)
    assert part.segments[1].uncounted == ["mm_rows"] and part.segments[1].macs == 0
    full = runtime.run(part, pm.inputs_for("loop_rows"))
    (h,) = full.host
    assert h.macs == MM_ROWS and h.uncounted == []
    assert h.flops == 2 * MM_ROWS + 3 + 4  # and one per output element: tot [3], acc [4]
    timing = runtime.run(part, None, numerics=False)
    assert timing.host[0].macs == 0 and timing.host[0].uncounted == ["mm_rows"]


def test_npu_run_timing_only_and_trace_of_a_partitioned_model(host_matmul):
    d = host_matmul
    code, out, err = npu("run", d / "m.onnx", "--config", "tiny", "--timing-only",
                         "--stats", d / "st.json", "--trace", d / "tt.json")  # fmt: skip
    assert code == 0, err
    assert "21,129 cycles (920 on the NPU, 20,209 estimated for 1 host partition(s) (not run" in out
    code, out, err = npu("run", d / "m.onnx", "--config", "tiny", "--inputs", d / "in.npz",
                         "--out", d / "o.npz", "--stats", d / "sf.json", "--trace", d / "tf.json")  # fmt: skip
    assert code == 0, err
    assert "(run on onnxruntime)" in out
    assert (d / "st.json").read_text() == (d / "sf.json").read_text()
    full = json.loads((d / "tf.json").read_text())["traceEvents"]
    timing = json.loads((d / "tt.json").read_text())["traceEvents"]
    (host,) = [e for e in full if e.get("cat") == "host"]
    assert host["args"]["cycles"] == 20_209 and host["args"]["start_cycle"] > 0
    assert any(e.get("name") == "thread_name" and "HOST" in e["args"]["name"] for e in full)
    conv2 = [e for e in full if e.get("ph") == "X" and e["args"].get("node") == "conv2"]
    assert min(e["args"]["start_cycle"] for e in conv2) >= host["args"]["start_cycle"] + 20_209
    strip = [{k: v for k, v in e.items() if k != "args"} for e in full]  # wall_s differs
    assert strip == [{k: v for k, v in e.items() if k != "args"} for e in timing]


def test_npu_run_timing_only_refuses_out_and_bad_inputs(host_matmul, tmp_path):
    d = host_matmul
    code, _, err = npu("run", d / "m.onnx", "--config", "tiny", "--timing-only",
                       "--out", tmp_path / "o.npz")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "--out" in err
    np.savez(tmp_path / "bad.npz", x=np.zeros((1, 3, 5, 5), np.float32))
    code, _, err = npu("run", d / "m.onnx", "--config", "tiny", "--timing-only",
                       "--inputs", tmp_path / "bad.npz")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "'x'" in err


def test_npu_profile_timing_only_of_a_partitioned_model(host_matmul):
    d = host_matmul
    code, out, err = npu("profile", d / "m.onnx", "--config", "tiny", "--timing-only",
                         "--json", d / "pt.json", "--html", d / "pt.html")  # fmt: skip
    assert code == 0, err
    report = json.loads((d / "pt.json").read_text())
    jsonschema.validate(report, SCHEMA)
    t = report["totals"]
    assert (t["npu_cycles"], t["host_cycles"], t["cycles"]) == (920, 20_209, 21_129)
    assert t["npu_mac_share"] == pytest.approx(4176 / 5040) and t["host_wall_s"] == 0
    (h,) = report["host_partitions"]
    assert h["wall_s"] is None and h["ports_unknown"] == [] and h["macs"] == 864
    assert [r["device"] for r in report["layers"]] == ["npu", "host", "npu"]
    assert "host partitions not run (--timing-only" in out and "(estimate), not run" in out
    assert report["check"]["status"] == "skipped"
    assert "<td class='num'>not run</td>" in (d / "pt.html").read_text()


def test_npu_profile_counts_data_dependent_host_macs_and_timing_only_bounds_them(tmp_path):
    onnx.save(pm.loop_rows_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", **pm.inputs_for("loop_rows"))
    base = ("profile", tmp_path / "m.onnx", "--config", "tiny")
    code, out, err = npu(*base, "--inputs", tmp_path / "in.npz", "--json", tmp_path / "p.json")
    assert code == 0, err
    report = json.loads((tmp_path / "p.json").read_text())
    (h,) = report["host_partitions"]
    assert h["macs"] == MM_ROWS and h["macs_uncounted"] == []
    assert report["totals"]["npu_mac_share"] == pytest.approx(16 / (16 + MM_ROWS))
    assert "NPU MAC share 25.0% (16 of 64 MACs on the NPU); " in out
    code, out, err = npu(*base, "--timing-only", "--json", tmp_path / "t.json")
    assert code == 0, err
    assert "100.0% (16 of 16 MACs on the NPU) at most: the MACs of host node(s) mm_rows" in out


def test_npu_bench_of_a_partitioned_model(host_matmul, tmp_path):
    d = host_matmul
    code, out, err = npu("bench", d / "m.onnx", "--config", "tiny", "--repeat", "2",
                         "--json", tmp_path / "b.json")  # fmt: skip
    assert code == 0, err
    assert "1: 20,209 cyc est" in out and "ok" in out
    (m,) = json.loads((tmp_path / "b.json").read_text())["models"]
    assert (m["cycles"], m["npu_cycles"], m["host_cycles"]) == (21_129, 920, 20_209)
    assert m["host_partitions"] == 1 and m["macs"] == 5040
    assert m["npu_mac_share"] == pytest.approx(4176 / 5040)
    assert len(m["host"]["cpu_s"]) == 2 and m["host"]["median_wall_s"] > 0
    assert m["host"]["median_cpu_s"] <= m["simulate"]["median_cpu_s"]
    assert m["fraction_of_roofline"] == pytest.approx(m["roofline_cycles"] / 920, abs=1e-3)
    assert m["check"]["passed"]


def test_npu_bench_npu_only_refuses_a_partitioned_model_by_node(host_matmul):
    code, _, err = npu("bench", host_matmul / "m.onnx", "--config", "tiny", "--npu-only")
    assert code == 2 and err.count("\n") == 1 and "mm_double (MatMul" in err
