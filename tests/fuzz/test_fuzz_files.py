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
    """A small valid program from the hand assembler (independent of the compiler)."""
    from simulator.builder import ProgramBuilder

    b = ProgramBuilder(load_config("base"))
    b.input("x", (4, 8), "float32")
    b.output("y", (4, 8), "float32")
    b.constant("w", np.arange(64, dtype=np.float32).reshape(8, 8))
    return simulator.program_to_bytes(b.build())


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


def random_words() -> st.SearchStrategy[list[bytes]]:
    """Well-sealed random programs: raw words with a valid opcode, or encoded instructions
    whose fields are random (small, medium or any value of their width)."""
    from simulator.isa import WORD_BYTES, Opcode

    opcode = st.sampled_from([int(op) for op in Opcode])
    raw = st.tuples(opcode, st.binary(min_size=WORD_BYTES - 1, max_size=WORD_BYTES - 1))
    word = raw.map(lambda w: bytes([w[0]]) + w[1]) | random_instr()
    return st.lists(word, min_size=1, max_size=6)


def random_instr() -> st.SearchStrategy[bytes]:
    from simulator import isa

    def record(cls):
        fields = {fl.name: field_value(fl) for fl in isa.layout(cls)[1:]}
        return st.fixed_dictionaries(fields).map(lambda kw: isa.encode(cls(**kw)))

    return st.sampled_from(isa.INSTRUCTIONS).flatmap(record)


def field_value(fl) -> st.SearchStrategy[int]:
    lo, hi = (
        (-(1 << (fl.bits - 1)), (1 << (fl.bits - 1)) - 1) if fl.signed else (0, (1 << fl.bits) - 1)
    )
    small = st.integers(max(lo, 0), min(hi, 8)) | st.integers(max(lo, 0), min(hi, 300))
    return small | st.integers(lo, hi)


def run_random_program(words: list[bytes]) -> None:
    """Decoding may refuse a word; a decoded program may misbehave: only NpuErrors, no hang."""
    from simulator import isa
    from simulator.builder import ProgramBuilder

    b = ProgramBuilder(load_config("tiny"))
    b.input("x", (4, 8), "float32")
    b.output("y", (4, 8), "float32")
    try:
        for word in words:
            b.emit(isa.decode(word))
        program = simulator.program_from_bytes(simulator.program_to_bytes(b.build()))
        simulator.run(program, {"x": np.ones((4, 8), np.float32)}, checked=True)
    except NpuError:
        pass


@pytest.mark.parametrize("budget", BUDGETS)
def test_random_instruction_streams(budget):
    fuzz(budget, random_words(), run_random_program)


def test_regression_vector_with_unknown_func():
    """Found by the fuzzer: a Vector word whose func is not a VFunc (here 0) must be a clean
    error; it raised ValueError from simulator/cost.py (timing runs before operand checks)."""
    word = bytes([6]) + bytes(63)  # opcode VECTOR, every field 0 (func 0 is no VFunc)
    run_random_program([word])
