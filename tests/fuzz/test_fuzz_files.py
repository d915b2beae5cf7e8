"""Broken files only ever raise the project's own errors, within a time bound.

ONNX side: random bytes, truncated and bit-flipped serialisations of a valid model go through
``compiler.compile`` (and, when they still compile, through the simulator). Program side:
random bytes, truncated and bit-flipped program files go through ``program_from_bytes``, which
must raise ``ProgramFormatError`` (or return the very program, if a flip hit nothing).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from fuzz_common import BUDGETS, fuzz
from hypothesis import strategies as st

import compiler
import simulator
from simulator.config import load_config
from simulator.errors import NpuError, ProgramFormatError

GOOD = Path(__file__).parents[1] / "data" / "bad" / "good.onnx"
sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))


@functools.cache
def good_model_bytes() -> bytes:
    return GOOD.read_bytes()


@functools.cache
def good_program_bytes() -> bytes:
    program = compiler.compile(GOOD, load_config("base"), None)
    return simulator.program_to_bytes(program)


def flip(blob: bytes, bits: list[int]) -> bytes:
    data = bytearray(blob)
    for bit in bits:
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


def mutations(blob_fn) -> st.SearchStrategy[bytes]:
    """Truncations and 1-4 bit flips of a valid file (built lazily, once)."""
    truncated = st.integers(0, 10**6).map(lambda n: blob_fn()[: n % len(blob_fn())])
    flips = st.lists(st.integers(0, 8 * 10**6), min_size=1, max_size=4)
    return truncated | flips.map(lambda bits: flip(blob_fn(), bits))


def compile_and_run(blob: bytes, tmp: Path) -> None:
    """Accept a clean NpuError anywhere; anything else escapes and fails the property."""
    path = tmp / "case.onnx"
    path.write_bytes(blob)
    try:
        program = compiler.compile(path, load_config("base"), None)
        feeds = {n: _input(program.tensors[n]) for n in program.inputs}
        simulator.run(program, feeds)
    except NpuError:
        pass


def _input(info) -> np.ndarray:
    return np.zeros(info.shape, info.dtype)


@pytest.mark.parametrize("budget", BUDGETS)
def test_random_bytes_as_onnx(budget, tmp_path):
    fuzz(budget, st.binary(max_size=2048), lambda b: compile_and_run(b, tmp_path))


@pytest.mark.parametrize("budget", BUDGETS)
def test_corrupted_onnx(budget, tmp_path):
    fuzz(budget, mutations(good_model_bytes), lambda b: compile_and_run(b, tmp_path))


def load_program(blob: bytes) -> None:
    try:
        program = simulator.program_from_bytes(blob)
    except ProgramFormatError:
        return
    assert simulator.program_to_bytes(program) == good_program_bytes(), "corruption unnoticed"


@pytest.mark.parametrize("budget", BUDGETS)
def test_random_bytes_as_program(budget):
    def check(blob: bytes) -> None:
        with pytest.raises(ProgramFormatError):
            simulator.program_from_bytes(blob)

    fuzz(budget, st.binary(max_size=4096), check)


@pytest.mark.parametrize("budget", BUDGETS)
def test_corrupted_program(budget):
    fuzz(budget, mutations(good_program_bytes), load_program)


def test_valid_files_still_load():
    """The properties above are meaningful only if the unmutated files are accepted."""
    onnx.checker.check_model(onnx.load_from_string(good_model_bytes()))
    program = simulator.program_from_bytes(good_program_bytes())
    assert simulator.program_to_bytes(program) == good_program_bytes()
