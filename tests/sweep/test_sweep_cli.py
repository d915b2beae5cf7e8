"""``npu sweep`` as a user runs it: reports written, user errors as one line and exit 2."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


def npu(*args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NPU_DEBUG"}
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, "-m", "npu", *map(str, args)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def test_sweep_writes_csv_and_html(tmp_path):
    out = npu(
        "sweep", "zoo:mlp_mnist", "--grid", "array.rows=16,32", "--grid", "array.cols=32",
        "--where", "array.rows * array.cols <= 1024", "--workers", "1",
        "--db", tmp_path / "s.sqlite", "--csv", tmp_path / "s.csv", "--html", tmp_path / "s.html",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "2 results (2 run now, 0 from the database); 0 failed" in out.stdout
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [(r["array.rows"], r["array.cols"], r["status"]) for r in rows] == [
        ("16", "32", "ok"),
        ("32", "32", "ok"),
    ]
    assert rows[0]["verified"] == "1" and rows[1]["verified"] == ""
    a, b = ((int(r["cycles"]), float(r["area_mm2"])) for r in rows)
    assert a[1] < b[1]  # the taller array is larger: on the latency-area front iff faster
    assert "latency-area" in rows[0]["pareto"]
    assert ("latency-area" in rows[1]["pareto"]) == (b[0] < a[0])
    page = (tmp_path / "s.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "zoo:mlp_mnist" in page


@pytest.mark.parametrize(
    "args, words",
    [
        (["--grid", "array.rowz=1"], ["unknown config key 'array.rowz'"]),
        (["--grid", "array.rows=8", "--where", "import os"], ["--where", "not an expression"]),
        (["--grid", "array.rows=8", "--address", "x:1"], ["--address", "--backend ray"]),
        (["--grid", "array.rows=8", "--sample", "0"], ["--sample 0"]),
        (["--grid", "array.rows=8", "--trials", "3"], ["--trials", "--search"]),
        (["--grid", "array.rows=8", "--workers", "0"], ["--workers 0"]),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path, args, words):
    out = npu("sweep", "zoo:mlp_mnist", "--db", tmp_path / "e.sqlite", *args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for word in words:
        assert word in lines[0]


def test_a_missing_model_and_a_file_that_is_no_database(tmp_path):
    out = npu("sweep", tmp_path / "none.onnx", "--grid", "array.rows=8", "--db", tmp_path / "d")
    assert out.returncode == 2 and "does not exist" in out.stderr
    (tmp_path / "bad.sqlite").write_text("not a database, just text " * 100)
    out = npu("sweep", "zoo:mlp_mnist", "--grid", "array.rows=8", "--db", tmp_path / "bad.sqlite")
    assert out.returncode == 2 and "is not a sweep database" in out.stderr, out.stderr
