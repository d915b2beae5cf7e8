"""int8 QDQ models for the tests: float models quantised as the zoo does, and the comparison
with onnxruntime in output quantisation steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from compiler.check import reference
from compiler.driver import compile
from models_zoo.quantize import quantize_int8, random_inputs
from simulator.api import run
from simulator.config import load_config


def quantize(float_model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """onnxruntime's static QDQ quantisation (per-channel int8 weights, int8 activations)."""
    rng = np.random.default_rng(seed)
    return quantize_int8(float_model, random_inputs(float_model, rng, 4))


@dataclass(frozen=True)
class Steps:
    """Per output: the largest difference in quantisation steps and the fraction exactly equal."""

    name: str
    max_steps: float
    exact: float


def output_scale(m: onnx.ModelProto, name: str) -> float | None:
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for node in m.graph.node:
        if name in node.output and node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            return float(inits[node.input[1]])
    return None


def compare_int8(m: onnx.ModelProto, inputs: dict, preset: str = "tiny"):
    """(per-output Steps, the Program) of the simulated program against onnxruntime."""
    program = compile(m, load_config(preset))
    got = run(program, inputs, checked=True).outputs
    out = []
    for name, want in reference(m, inputs).items():
        scale = output_scale(m, name) or 1.0
        if np.issubdtype(want.dtype, np.integer):
            scale = 1.0
        diff = np.abs(got[name].astype(np.float64) - want.astype(np.float64)) / scale
        out.append(Steps(name, float(diff.max(initial=0)), float(np.mean(diff < 1e-3))))
    return out, program


def check_int8(m, inputs, preset="tiny", max_steps=1.0, min_exact=0.0, ops=()):
    """Assert every output within ``max_steps`` steps and the program uses ``ops``."""
    steps, program = compare_int8(m, inputs, preset)
    for s in steps:
        assert s.max_steps <= max_steps + 1e-4, s
        assert s.exact >= min_exact, s
    used = {layer["op"] for layer in program.layers}
    assert set(ops) <= used, f"expected {ops} in {sorted(used)}"
    return steps, program
