"""Drive the ``npu`` command as a subprocess, as scripts and CI systems do."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for handmade.py beside this file

import handmade  # noqa: E402

import simulator  # noqa: E402

REPO = Path(__file__).parents[2]
TIMEOUT = 300


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The single stderr line of a user error (asserts there is exactly one)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one stderr line, got {self.err!r}"
        assert lines[0].startswith("error: "), lines[0]
        assert "Traceback" not in self.out + self.err
        return lines[0]


def npu(*args, cwd: Path | None = None, env: dict | None = None) -> Result:
    """``python -m npu ARGS`` in a subprocess; NPU_DEBUG is unset unless ``env`` sets it."""
    full_env = {k: v for k, v in os.environ.items() if k != "NPU_DEBUG"}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.update(env or {})
    argv = [sys.executable, "-m", "npu", *map(str, args)]
    proc = subprocess.run(
        argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=TIMEOUT
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_user_error(result: Result, *words: str) -> str:
    assert result.code == 2, f"exit {result.code}: {result.err!r}"
    line = result.error_line
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    return line


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="session")
def handmade_prog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prog") / "gemm_relu.npuprog"
    simulator.save_program(handmade.build(), path)
    return path


@pytest.fixture(scope="session")
def handmade_inputs(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "in.npz"
    x = np.random.default_rng(1).standard_normal((handmade.M, handmade.K)).astype(np.float32)
    np.savez(path, x=x)
    return path
