"""onnxruntime's own log lines never reach stderr: an error is one line, ours."""

from __future__ import annotations

import subprocess
import sys

import hostile_files as hf
from hostile_run import REPO

SCRIPT = """
import numpy as np
from compiler.check import reference
from simulator.errors import ModelError
try:
    reference({path!r}, {{"x": np.ones((1, 16), np.float32)}})
except ModelError as exc:
    print("refused:", exc)
"""


def test_onnxruntime_failure_prints_nothing_itself(tmp_path):
    """onnxruntime fails this Reshape (16 -> 32 elements) while running; its logger used to
    print a line of its own to stderr before our error."""
    path = hf.reshape_model(tmp_path / "r.onnx", [1, 16], [4, 8])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(path=str(path))],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.stdout.startswith("refused: onnxruntime cannot run"), proc.stdout + proc.stderr
    assert proc.stderr == ""
