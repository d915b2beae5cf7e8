"""The ``npu_regress`` fixture in a team's own pytest run (a pytest subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from npu.cli import main

REPO = Path(__file__).parents[2]
PLUGIN = "npu.regress.pytest_plugin"
SUITE = """\
[[case]]
name = "mlp-tiny"
model = "zoo:mlp_mnist"
config = "tiny"
hold = ["cycles", "layer_cycles", "outputs"]
"""
TEST = """\
from pathlib import Path

import pytest

from npu.regress.pytest_plugin import regress_cases

SUITE = Path(__file__).with_name("models.toml")


@pytest.mark.parametrize("case", regress_cases(SUITE))
def test_models(npu_regress, case):
    npu_regress(SUITE, case)
"""


def test_the_plugin_is_a_pytest11_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}
    assert (REPO / Path(*PLUGIN.split("."))).with_suffix(".py").is_file()


def pytest_run(folder: Path) -> subprocess.CompletedProcess:
    # the plugin by name (-p), as the entry point loads it, in an environment of its own
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "pytest", "-p", PLUGIN, "-q", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*argv, str(folder)], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )


def test_a_team_suite_passes_and_fails_with_the_diff(tmp_path):
    """One run of pytest: a suite that holds and a copy whose cycles baseline was moved."""
    for name in ("models", "moved"):
        (tmp_path / f"{name}.toml").write_text(SUITE)
        (tmp_path / f"test_{name}.py").write_text(TEST.replace("models.toml", f"{name}.toml"))
    args = ["regress", str(tmp_path / "models.toml"), "--update", "--reason", "first"]
    assert main(args) == 0
    text = (tmp_path / "models.baseline.toml").read_text()
    cycles = tomllib.loads(text)["case"]["mlp-tiny"]["cycles"]
    moved = text.replace(f"cycles = {cycles}\n", "cycles = 1\n")
    (tmp_path / "moved.baseline.toml").write_text(moved.replace("models.", "moved."))
    run = pytest_run(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "FAILED test_moved.py::test_models[mlp-tiny]" in run.stdout
    assert "case mlp-tiny: regressed" in run.stdout
    assert f"cycles: 1 -> {cycles:,}" in run.stdout
    assert "moved.toml --update --reason" in run.stdout
