"""``npu profile`` of a partitioned model: a float64 MatMul (host) between two Convs (NPU)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import partition_models as pm
import pytest

import compiler
from npu import program_file
from npu.cli import main as npu_main
from simulator.config import load_config

REPO = Path(__file__).parents[2]
SCHEMA = json.loads((REPO / "docs" / "report_schema.json").read_text())
TINY = load_config("tiny")
CONV1 = 1 * 4 * 6 * 6 * (3 * 3 * 3)  # MACs: [1, 4, 6, 6] outputs of 27 products each
MATMUL = 1 * 4 * 6 * 6 * 6  # float64 [1, 4, 6, 6] x [6, 6], on the host
CONV2 = 1 * 2 * 6 * 6 * 4


def profile(d: Path, model: onnx.ModelProto, name: str, *args) -> tuple[int, str]:
    """``npu profile`` of ``model`` (saved to d/m.onnx) on pm's inputs for ``name``, at tiny,
    writing d/p.json: the exit code and what it printed."""
    onnx.save(model, d / "m.onnx")
    np.savez(d / "in.npz", **pm.inputs_for(name))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = npu_main([str(a) for a in (
            "profile", d / "m.onnx", "--config", "tiny", "--inputs", d / "in.npz",
            "--json", d / "p.json", *args)])  # fmt: skip
    return code, out.getvalue()


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("partitioned")
    extra = ("--csv", d / "l.csv", "--html", d / "r.html", "--trace", d / "t.json")
    code, out = profile(d, pm.host_matmul_model(), "host_matmul", *extra)
    assert code == 0
    return d, out, json.loads((d / "p.json").read_text())


def host_estimate(flops: int, moved: int) -> int:
    """The [host] model, written out: overhead + flops at gflops + bytes at bytes_per_s."""
    h = TINY.host
    seconds = h.call_overhead_us * 1e-6 + flops / (h.gflops * 1e9) + moved / h.bytes_per_s
    return round(seconds * TINY.clock_mhz * 1e6)


def test_layers_carry_their_device_and_the_host_row_its_estimate(profiled):
    _, _, report = profiled
    jsonschema.validate(report, SCHEMA)
    rows = report["layers"]
    assert [(r["name"], r["device"]) for r in rows] == [
        ("conv1", "npu"),
        ("to_double +2", "host"),
        ("conv2", "npu"),
    ]
    host = rows[1]
    assert host["op"] == "Cast,MatMul" and host["bound"] == "host" and host["macs"] == MATMUL
    moved = 4 * 6 * 6 * 4 * 2  # float32 [1, 4, 6, 6] in and out
    assert host["dram_read_bytes"] + host["dram_write_bytes"] == moved
    flops = 2 * MATMUL + 4 * 6 * 6  # two per MAC and one per output element
    assert host["cycles"] == host_estimate(flops, moved) == 20_209
    assert host["wall_s"] > 0 and host["energy_pj"] == 0 and host["stall_cycles"] == 0
    assert rows[0]["wall_s"] is None
    assert rows[0]["end"] <= host["start"] and host["end"] <= rows[2]["start"]  # one timeline


def test_totals_give_the_npu_mac_share_and_host_time_apart(profiled):
    _, _, report = profiled
    t = report["totals"]
    assert (t["macs"], t["npu_macs"]) == (CONV1 + MATMUL + CONV2, CONV1 + CONV2)
    assert t["npu_mac_share"] == pytest.approx((CONV1 + CONV2) / (CONV1 + MATMUL + CONV2))
    assert t["npu_mac_share"] == pytest.approx(0.8286, abs=1e-4)
    assert t["host_partitions"] == 1 and t["host_cycles"] == 20_209
    assert t["cycles"] == t["npu_cycles"] + t["host_cycles"]
    assert t["executed_macs"] == CONV1 + CONV2  # the NPU's array did not do the host's
    assert t["host_transfer_bytes"] == 1152 and t["host_wall_s"] > 0
    (h,) = report["host_partitions"]
    assert (h["partition"], h["of"], h["macs"], h["estimated_cycles"]) == (1, 3, MATMUL, 20_209)
    assert [(n["name"], n["op"]) for n in h["nodes"]] == [
        ("to_double", "Cast"),
        ("mm_double", "MatMul"),
        ("to_float", "Cast"),
    ]
    assert all("float64" in n["reason"] for n in h["nodes"])
    assert report["check"]["status"] == "passed"
    assert report["model"]["inputs"] == [{"name": "x", "shape": [1, 3, 6, 6], "dtype": "float32"}]


def test_table_footer_names_the_share_and_each_host_node(profiled):
    _, out, _ = profiled
    assert "NPU MAC share 82.9% (4,176 of 5,040 MACs on the NPU)" in out
    assert "+ 20,209 host cycles (estimate" in out
    assert "host partition 2 of 3: 20,209 cycles (estimate)" in out
    assert "mm_double (MatMul): tensor 'c1d' has dtype float64" in out
    assert "onnxruntime check: ok y" in out


def test_csv_html_and_trace_show_the_host_partition(profiled):
    d, _, report = profiled
    rows = list(csv.DictReader((d / "l.csv").open()))
    assert [r["device"] for r in rows] == ["npu", "host", "npu"]
    assert int(rows[1]["cycles"]) == 20_209
    html = (d / "r.html").read_text()
    assert "Host partitions (1): 20,209 of" in html and "NPU MAC share 82.9%" in html
    assert "<code>mm_double</code> (MatMul)" in html and "not a measurement" in html
    events = json.loads((d / "t.json").read_text())["traceEvents"]
    (host,) = [e for e in events if e.get("cat") == "host"]
    assert host["args"]["cycles"] == 20_209 and host["args"]["nodes"][1] == "mm_double"
    starts = [e["args"]["start_cycle"] for e in events if e.get("ph") == "X"]
    assert max(starts) < report["totals"]["cycles"]
    conv2 = [e for e in events if e.get("ph") == "X" and e["args"].get("node") == "conv2"]
    assert min(e["args"]["start_cycle"] for e in conv2) >= host["args"]["start_cycle"] + 20_209


def test_host_macs_of_data_dependent_shapes_make_a_timing_only_share_an_upper_bound(tmp_path):
    code, out = profile(tmp_path, pm.loop_rows_model(), "loop_rows", "--timing-only")
    assert code == 0
    report = json.loads((tmp_path / "p.json").read_text())
    jsonschema.validate(report, SCHEMA)
    (h,) = report["host_partitions"]
    assert h["macs_uncounted"] == ["mm_rows"] and h["macs"] == 0  # the host did not run
    assert report["totals"]["npu_mac_share"] == 1.0  # 16 of 16 counted: an upper bound
    assert (
        "NPU MAC share 100.0% (16 of 16 MACs on the NPU) at most: the MACs of host node(s) "
        "mm_rows depend on data" in out
    )
    assert report["check"]["status"] == "skipped"
    part = program_file.from_bytes(
        program_file.to_bytes(compiler.compile_model(pm.loop_rows_model(), TINY))
    )
    assert part.segments[1].uncounted == ["mm_rows"]
