"""Verilator lint (``--lint-only -Wall``) is clean for every unit at every tested size."""

from __future__ import annotations

import subprocess

import pytest

from rtl_tests.hdl import DESIGNS, RTL_DIR, require_simulator, rtl_sources

TOPS = {
    "npu_pe": (["npu_pe"], [{}]),
    "npu_pe_os": (["npu_pe_os"], [{}]),
    "npu_matrix_top": (
        DESIGNS["npu_matrix_top"],
        [
            {"ROWS": r, "COLS": c, "OUTPUT_STATIONARY": os}
            for r, c in ((2, 2), (4, 4), (8, 8), (3, 5))
            for os in (0, 1)
        ],
    ),
    "npu_vector_top": (
        DESIGNS["npu_vector_top"],
        [{"LANES": 4, "PIPELINE_DEPTH": 4}, {"LANES": 8, "PIPELINE_DEPTH": 6}],
    ),
}


@pytest.mark.rtl
@pytest.mark.parametrize("top", sorted(TOPS))
def test_verilator_lint_clean(top: str) -> None:
    require_simulator("verilator")
    names, parameter_sets = TOPS[top]
    files = [str(path) for path in rtl_sources(*names)]
    for params in parameter_sets:
        cmd = ["verilator", "--lint-only", "-Wall", f"-I{RTL_DIR}", "--top-module", top]
        cmd += [f"-G{k}={v}" for k, v in params.items()] + files
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0 and "%Warning" not in result.stderr, (
            f"lint of {top} {params}:\n{result.stderr}"
        )
