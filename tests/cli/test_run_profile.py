"""``npu run`` and ``npu profile`` end to end on a hand-built program (no compiler needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import handmade
import jsonschema
import numpy as np
import pytest
from conftest import REPO, assert_user_error, files_in, npu

SCHEMA = json.loads((REPO / "docs" / "report_schema.json").read_text())
PEAK = 4 * 4  # the tiny preset's array


def test_run_writes_outputs_stats_and_trace(tmp_path, handmade_prog, handmade_inputs):
    out, stats, trace = tmp_path / "y.npz", tmp_path / "s.json", tmp_path / "t.json"
    r = npu("run", handmade_prog, "--inputs", handmade_inputs, "--out", out,
            "--stats", stats, "--trace", trace)  # fmt: skip
    assert r.code == 0, r.err
    assert "cycles" in r.out
    x = np.load(handmade_inputs)["x"]
    with np.load(out) as y:
        assert y.files == ["y"]
        assert y["y"].dtype == np.float32 and y["y"].shape == (handmade.M, handmade.N)
        np.testing.assert_allclose(y["y"], handmade.reference(x), rtol=1e-5, atol=1e-5)
    s = json.loads(stats.read_text())
    assert s["total_cycles"] > 0 and s["macs"] == handmade.M * handmade.K * handmade.N
    assert not any(key.endswith("_s") and key != "seconds" for key in s)  # deterministic
    assert set(s["per_node"]) >= {"gemm", "relu"}
    assert_trace(json.loads(trace.read_text()))
    assert files_in(tmp_path) == ["s.json", "t.json", "y.npz"]


def assert_trace(trace: dict) -> None:
    """One named track per unit; every slice names its ONNX node."""
    events = trace["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert tracks == {"LOAD", "MATRIX", "VECTOR", "STORE"}
    slices = [e for e in events if e["ph"] == "X"]
    assert {e["args"]["node"] for e in slices} == {"gemm", "relu"}
    assert {e["tid"] for e in slices} == {0, 1, 2, 3}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory, handmade_prog, handmade_inputs) -> tuple[Path, object]:
    d = tmp_path_factory.mktemp("profile")
    r = npu("profile", handmade_prog, "--inputs", handmade_inputs, "--json", d / "p.json",
            "--csv", d / "l.csv", "--trace", d / "t.json", "--html", d / "r.html")  # fmt: skip
    assert r.code == 0, r.err
    return d, r


def test_profile_prints_the_table_and_totals(profiled):
    _, r = profiled
    for word in ("gemm", "relu", "MatMul", "cycles", "MACs", "util", "DRAM", "bound"):
        assert word in r.out
    assert "inferences/s" in r.out and "energy" in r.out and "peak scratchpad" in r.out
    assert "check: skipped" in r.out
    assert "NPU MAC share 100.0%" in r.out and "every layer on the NPU" in r.out


def test_profile_json_validates_and_is_consistent(profiled):
    d, _ = profiled
    report = json.loads((d / "p.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["schema_version"] == 1
    assert report["compile_s"] is None and report["simulate_s"] > 0
    layers = {layer["name"]: layer for layer in report["layers"]}
    assert list(layers) == ["gemm", "relu"]
    gemm = layers["gemm"]
    assert gemm["op"] == "MatMul" and gemm["macs"] == handmade.M * handmade.K * handmade.N
    assert gemm["utilization"] == pytest.approx(gemm["macs"] / (gemm["cycles"] * PEAK))
    assert gemm["compute_cycles"] == pytest.approx(gemm["macs"] / PEAK)
    assert gemm["memory_cycles"] == pytest.approx(gemm["dram_bytes"] / 8.0)  # tiny: 8 B/cycle
    expected = "compute" if gemm["compute_cycles"] >= gemm["memory_cycles"] else "memory"
    assert gemm["bound"] == expected
    assert layers["relu"]["macs"] == 0 and layers["relu"]["bound"] == "memory"
    totals = report["totals"]
    assert totals["macs"] == sum(layer["macs"] for layer in report["layers"])
    assert totals["executed_macs"] == sum(layer["executed_macs"] for layer in report["layers"])
    assert totals["inferences_per_s"] == pytest.approx(1 / totals["time_s"])
    assert totals["time_s"] == pytest.approx(totals["cycles"] / 1e9)  # 1000 MHz
    assert {layer["device"] for layer in report["layers"]} == {"npu"}
    assert totals["npu_mac_share"] == 1.0 and totals["npu_macs"] == totals["macs"]
    assert totals["host_partitions"] == totals["host_cycles"] == 0 and not report["host_partitions"]
    assert totals["npu_cycles"] == totals["cycles"]
    assert report["check"]["status"] == "skipped"
    assert report["config"]["name"] == "tiny"
    assert report["config"]["params"]["tech_nm"] == 7.0
    area = report["area_mm2"]  # tiny at 7 nm: 8 GB/s of DDR4 PHY dominates
    assert totals["area_mm2"] == pytest.approx(area["total"]) == pytest.approx(0.999, abs=1e-3)
    assert area["dram_phy"] == pytest.approx(8 * 0.12)
    assert report["energy_pj"]["mac"] == pytest.approx(gemm["macs"] * 1.69)  # fp32 at 7 nm


def test_profile_csv_has_the_table_columns(profiled):
    d, _ = profiled
    report = json.loads((d / "p.json").read_text())
    rows = list(csv.DictReader((d / "l.csv").open()))
    assert list(rows[0]) == ["name", "op", "device", "tiling", "cycles", "macs", "utilization",
                             "dram_bytes", "bound"]  # fmt: skip
    assert {row["device"] for row in rows} == {"npu"}
    for row, layer in zip(rows, report["layers"], strict=True):
        assert row["name"] == layer["name"] and int(row["cycles"]) == layer["cycles"]
        assert int(row["dram_bytes"]) == layer["dram_bytes"] and row["bound"] == layer["bound"]
        assert float(row["utilization"]) == pytest.approx(layer["utilization"])


def test_profile_trace_and_html(profiled):
    d, _ = profiled
    assert_trace(json.loads((d / "t.json").read_text()))
    html = (d / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "gemm" in html and "relu" in html
    assert html.count("data:image/png;base64,") >= 3  # roofline, cycle bars, timeline
    assert "<script src=" not in html and "<link " not in html  # self-contained


def test_profile_random_inputs_are_seeded(tmp_path, handmade_prog):
    for seed in ("1", "1"):
        npu("profile", handmade_prog, "--seed", seed, "--json", tmp_path / f"{seed}.json")
    report = json.loads((tmp_path / "1.json").read_text())
    assert report["inputs"] == "random (seed 1)"


def test_utilisation_counts_the_layers_work_not_what_the_array_executed():
    """A layer whose record names fewer MACs than the array ran (padding, depthwise diagonals):
    MACs and utilisation follow the record, ``executed_macs`` the simulator's count."""
    from npu.analysis import layer_rows, totals
    from simulator.api import run

    program = handmade.build()
    program.layers[0]["macs"] = handmade.M * handmade.K * handmade.N // 4
    x = np.random.default_rng(0).standard_normal((handmade.M, handmade.K)).astype(np.float32)
    stats = run(program, {"x": x}).stats
    rows = layer_rows(program, stats)
    gemm = next(r for r in rows if r.name == "gemm")
    assert gemm.executed_macs == handmade.M * handmade.K * handmade.N == stats.macs
    assert gemm.macs == stats.macs // 4
    assert gemm.utilization == pytest.approx(gemm.macs / (gemm.cycles * PEAK))
    t = totals(program.config, [program], stats, rows)
    assert (t["macs"], t["executed_macs"]) == (stats.macs // 4, stats.macs)
    assert t["array_utilization"] == pytest.approx(t["macs"] / (t["cycles"] * PEAK))


def test_timing_only_run_and_profile_give_the_full_runs_stats(tmp_path, handmade_prog,
                                                              handmade_inputs):  # fmt: skip
    full, timing = tmp_path / "full.json", tmp_path / "timing.json"
    r = npu("run", handmade_prog, "--inputs", handmade_inputs, "--out", tmp_path / "y.npz",
            "--stats", full)  # fmt: skip
    assert r.code == 0, r.err
    r = npu("run", handmade_prog, "--timing-only", "--stats", timing)
    assert r.code == 0, r.err
    assert "timing only" in r.out
    assert json.loads(timing.read_text()) == json.loads(full.read_text())
    r = npu("profile", handmade_prog, "--timing-only", "--json", tmp_path / "p.json")
    assert r.code == 0, r.err
    report = json.loads((tmp_path / "p.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["totals"]["cycles"] == json.loads(full.read_text())["total_cycles"]
    assert report["check"]["status"] == "skipped" and report["inputs"] == "none (--timing-only)"


def test_run_io_flags_with_and_without_timing_only(tmp_path, handmade_prog, handmade_inputs):
    r = npu("run", handmade_prog, "--timing-only", "--out", tmp_path / "y.npz")
    assert_user_error(r, "--out", "--timing-only")
    r = npu("run", handmade_prog, "--inputs", handmade_inputs)
    assert_user_error(r, "required", "--out")
    r = npu("run", handmade_prog, "--timing-only", "--inputs", tmp_path / "missing.npz")
    assert r.code == 2, r.err
    assert files_in(tmp_path) == []
