"""Sweeps that run: the Python API, the database, a failing point, resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import compiler
from compiler import driver
from models_zoo import resolve_model_path
from npu import sweep
from npu.sweep import evaluate
from simulator.config import load_config

REPO = Path(__file__).parents[2]
MODELS = ["zoo:mlp_mnist", "zoo:lenet5-int8"]
# lenet5-int8's averagepool_1 needs more than 1 KiB of input scratchpad: input_kib=1 fails to
# compile (its conv_2 fits 1 KiB of weights since int8 layers tile W by kernel rows)
GRID = ["scratchpad.input_kib=1,64", "array.cols=16,32"]
METRICS = ("cycles", "latency_us", "energy_uj", "area_mm2", "array_utilization")


def _run(db: Path, **kw):
    return sweep.run(MODELS, db=str(db), grid=GRID, workers=2, **kw)


def test_sweep_records_every_point_and_resumes_for_free(tmp_path):
    table = _run(tmp_path / "r.sqlite")
    assert len(table) == 8 and table.ran == 8
    by = {
        (r["model"], r["point"]["scratchpad.input_kib"], r["point"]["array.cols"]): r for r in table
    }
    failed = [r for r in table if r["status"] != "ok"]
    assert [(r["model"], r["point"]["scratchpad.input_kib"]) for r in failed] == [
        ("zoo:lenet5-int8", 1),
        ("zoo:lenet5-int8", 1),
    ]
    assert all("averagepool_1" in r["error"] and "\n" not in r["error"] for r in failed)
    assert all(r[m] is None for r in failed for m in METRICS)
    for r in table:
        if r["status"] == "ok":
            cfg = load_config("base", r["point"])
            assert r["latency_us"] == pytest.approx(r["cycles"] / cfg.clock_mhz)
            assert r["area_mm2"] == pytest.approx(cfg.area_mm2())
            assert r["config_fp"] == cfg.fingerprint()
            assert r["cycles"] > 0 and r["energy_uj"] > 0 and r["peak_scratchpad_bytes"] > 0
    # the first point of each model is checked against onnxruntime, the others are not
    assert by[("zoo:mlp_mnist", 1, 16)]["verified"] is True
    assert by[("zoo:lenet5-int8", 1, 16)]["verified"] is None  # it failed to compile
    assert by[("zoo:mlp_mnist", 64, 32)]["verified"] is None
    # a wider array is faster on mlp_mnist
    assert by[("zoo:mlp_mnist", 64, 32)]["cycles"] < by[("zoo:mlp_mnist", 64, 16)]["cycles"]
    _check_csv(table)
    again = _run(tmp_path / "r.sqlite")
    assert again.ran == 0
    assert [r for r in again] == [r for r in table]
    with sqlite3.connect(tmp_path / "r.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone() == (8,)


def _check_csv(table) -> None:
    lines = table.to_csv().splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["model", "status", "scratchpad.input_kib", "array.cols"]
    assert "pareto" in header and len(lines) == 9
    lenet = [r for r in table if r["model"] == "zoo:lenet5-int8" and r["status"] == "ok"]
    assert len(table.front("zoo:lenet5-int8", "latency-area")) >= 1
    assert {r["pareto"] for r in table if r["status"] != "ok"} == {""}
    assert any(r["pareto"] for r in lenet)


@pytest.mark.parametrize("model", ["zoo:lenet5-int8", "zoo:lenet5"])
def test_a_prepared_graph_lowers_to_the_program_a_compile_makes(model):
    path = resolve_model_path(model)
    graph = driver.prepare(path, driver.CompileOptions())
    for overrides in ({"array.rows": 16}, {"scratchpad.weight_kib": 8, "array.cols": 64}, {}):
        cfg = load_config("base", overrides)
        fresh = compiler.compile(path, cfg)
        reused = driver.lower(graph, cfg)
        assert reused.instructions == fresh.instructions
        assert reused.constants == fresh.constants
    # each Conv's rearranged weights were made once and kept, read-only, on the graph
    kept = [value for _, value in graph.derived.values()]
    assert len(kept) == 2 and not any(v.flags.writeable for v in kept)


def test_an_unverified_point_runs_timing_only_with_the_same_record():
    assert evaluate.TIMING_ONLY  # simulator.run(..., numerics=False) is there
    path = str(resolve_model_path("zoo:lenet5-int8"))
    point = (("array.rows", 16), ("dram.bytes_per_cycle", 8.0))
    full = evaluate.Task("m", path, "base", point, verify=True, seed=0).run()
    timing = evaluate.Task("m", path, "base", point, verify=False, seed=0).run()
    assert full["verified"] is True and timing["verified"] is None
    same = [m for m in evaluate.METRICS if not m.endswith("_s")]
    assert [timing[m] for m in same] == [full[m] for m in same]


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path):
    db = tmp_path / "k.sqlite"
    rows = ",".join(str(r) for r in range(8, 20))  # 12 points
    argv = [sys.executable, "-m", "npu", "sweep", "zoo:mlp_mnist", "--grid", f"array.rows={rows}"]
    argv += ["--db", str(db), "--workers", "2", "--verify", "none"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(argv, env=env, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _rows(db) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read()
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-run
    proc.wait()
    proc.stderr.close()
    before = _rows(db)
    assert 2 <= before < 12
    with sqlite3.connect(db) as conn:  # every row written is whole
        cells = conn.execute(f"SELECT status, {', '.join(METRICS)} FROM results").fetchall()
    assert all(row[0] == "ok" and None not in row for row in cells)
    table = sweep.run(
        ["zoo:mlp_mnist"], db=str(db), grid=[f"array.rows={rows}"], workers=2, verify="none"
    )
    assert table.ran == 12 - before and len(table) == 12
    assert _rows(db) == 12
    assert len({r["config_fp"] for r in table}) == 12
    assert [r["point"]["array.rows"] for r in table] == list(range(8, 20))
