"""The bad-input corpus (tests/data/bad) through the ``npu`` command.

Every bad input must end the same way: exit code 2, exactly one stderr line ``error: ...``
naming the problem, no traceback, and no output file written. NaN and Inf inputs are not
errors: they propagate as onnxruntime propagates them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npu.cli import main as npu_main
from npu.conformance import time_bound

BAD = Path(__file__).parents[1] / "data" / "bad"
REPO = Path(__file__).parents[2]
TIME_BOUND = 60.0


def run_npu(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI in-process (fast); ``test_subprocess_contract`` checks the real process."""
    with time_bound(TIME_BOUND):
        code = npu_main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean_error(result: tuple[int, str, str], *words: str) -> None:
    code, out, err = result
    lines = err.strip().splitlines()
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in out + err
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not named in {lines[0]!r}"


def assert_no_files(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [], "an output file was written"


# ---- compile: bad models, bad configs ------------------------------------------------------

COMPILE_CASES = {
    "empty file": (["empty.onnx"], ["empty.onnx"]),
    "text file": (["text.onnx"], ["text.onnx"]),
    "truncated protobuf": (["truncated.onnx"], ["truncated.onnx"]),
    "unknown opset domain": (["unknown_domain.onnx"], ["Frobnicate"]),
    "dynamic shape, no --input-shape": (["dynamic.onnx"], ["x", "input-shape"]),
    "wrong --input-shape rank": (["dynamic.onnx", "--input-shape", "x=1,4,2"], ["x", "rank"]),
    "config with unknown key": (["good.onnx", "--config", BAD / "unknown_key.toml"], ["warp"]),
    "negative SRAM (file)": (["good.onnx", "--config", BAD / "negative_sram.toml"], ["input_kib"]),
    "negative SRAM (--set)": (["good.onnx", "--set", "scratchpad.input_kib=-1"], ["input_kib"]),
    "no tile fits the scratchpad": (
        ["big_softmax.onnx", "--config", BAD / "tiny_sram.toml"],
        ["softmax_big", "bytes"],
    ),
}


@pytest.mark.parametrize("case", sorted(COMPILE_CASES))
def test_compile_rejects(case, tmp_path, capsys):
    args, words = COMPILE_CASES[case]
    model, *rest = args
    out = tmp_path / "out"
    out.mkdir()
    result = run_npu(capsys, "compile", BAD / model, *rest, "-o", out / "model.npuprog")
    assert_clean_error(result, *words)
    assert_no_files(out)


# ---- run: bad input files, corrupted programs -------------------------------------------------


@pytest.fixture(scope="module")
def good_program(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prog") / "good.npuprog"
    code = npu_main(["compile", str(BAD / "good.onnx"), "-o", str(path)])
    assert code == 0 and path.is_file()
    return path


NPZ_CASES = {
    "in_missing": ["x"],
    "in_extra": ["z"],
    "in_misnamed": ["input"],
    "in_misshaped": ["x"],
    "in_mistyped": ["x", "int32"],
    "in_zero_size": ["x"],
}


@pytest.mark.parametrize("case", sorted(NPZ_CASES))
def test_run_rejects_bad_inputs(case, good_program, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    npz = BAD / f"{case}.npz"
    result = run_npu(capsys, "run", good_program, "--inputs", npz, "--out", out / "y.npz")
    assert_clean_error(result, *NPZ_CASES[case])
    assert_no_files(out)


def corrupt(blob: bytes, how: str) -> bytes:
    """Each corruption the program reader must catch (magic, version, checksum, truncation)."""
    from simulator.program import MAGIC

    data = bytearray(blob)
    if how == "magic":
        data[0] ^= 0xFF
    elif how == "version":
        data[len(MAGIC)] ^= 0x7F  # the version field follows the magic
    elif how == "checksum":
        data[len(data) // 2] ^= 0x01
    elif how == "truncation":
        data = data[: len(data) * 2 // 3]
    return bytes(data)


@pytest.mark.parametrize("how", ["magic", "version", "checksum", "truncation"])
def test_run_rejects_corrupted_program(how, good_program, tmp_path, capsys):
    bad = tmp_path / f"{how}.npuprog"
    bad.write_bytes(corrupt(good_program.read_bytes(), how))
    out = tmp_path / "out"
    out.mkdir()
    x = BAD / "in_nan.npz"
    result = run_npu(capsys, "run", bad, "--inputs", x, "--out", out / "y.npz")
    assert_clean_error(result, "truncat" if how == "truncation" else how)
    assert_no_files(out)


# ---- NaN and Inf propagate as onnxruntime propagates them ------------------------------------


@pytest.mark.parametrize("case", ["in_nan", "in_inf"])
def test_nan_inf_propagate_like_onnxruntime(case, good_program, tmp_path, capsys):
    import onnxruntime as ort

    out = tmp_path / "y.npz"
    code, _, err = run_npu(
        capsys, "run", good_program, "--inputs", BAD / f"{case}.npz", "--out", out
    )
    assert code == 0, err
    x = np.load(BAD / f"{case}.npz")["x"]
    session = ort.InferenceSession(str(BAD / "good.onnx"), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"x": x})
    got = np.load(out)["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5, equal_nan=True)
    assert np.array_equal(np.isnan(got), np.isnan(expected))


# ---- the real process: exit status and stderr of ``python -m npu`` ---------------------------


@pytest.mark.parametrize("model", ["text.onnx", "truncated.onnx"])
def test_subprocess_contract(model, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NPU_DEBUG", None)
    argv = [sys.executable, "-m", "npu", "compile", str(BAD / model), "-o", "out.npuprog"]
    proc = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIME_BOUND
    )
    assert_clean_error((proc.returncode, proc.stdout, proc.stderr), model)
    assert_no_files(tmp_path)
