"""int8 QDQ models for the tests: float models quantised as the zoo does, and the comparison
with onnxruntime in output quantisation steps."""

from __future__ import annotations

import numpy as np
import onnx

from compiler.check import OutputCheck, check_outputs, output_scales, reference
from compiler.driver import compile
from models_zoo.quantize import quantize_int8, random_inputs
from simulator.api import run
from simulator.config import load_config


def quantize(float_model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """onnxruntime's static QDQ quantisation (per-channel int8 weights, int8 activations)."""
    rng = np.random.default_rng(seed)
    return quantize_int8(float_model, random_inputs(float_model, rng, 4))


def compare_int8(m: onnx.ModelProto, inputs: dict, preset: str = "tiny"):
    """(per-output OutputCheck, the Program) of the simulated program against onnxruntime."""
    program = compile(m, load_config(preset))
    got = run(program, inputs, checked=True).outputs
    return check_int8_outputs(m, got, reference(m, inputs)), program


def check_int8_outputs(m: onnx.ModelProto, got: dict, want: dict) -> list[OutputCheck]:
    return check_outputs(got, want, output_scales(m))


def check_int8(m, inputs, preset="tiny", max_steps=1.0, min_exact=0.0, ops=()):
    """Assert every output within ``max_steps`` steps and the program uses ``ops``."""
    checks, program = compare_int8(m, inputs, preset)
    for c in checks:
        assert c.steps <= max_steps + 1e-4, c
        assert c.exact >= min_exact, c
    used = {layer["op"] for layer in program.layers}
    assert set(ops) <= used, f"expected {ops} in {sorted(used)}"
    return checks, program


def layer_with(program, node: str) -> dict:
    """The program layer that ran ``node``: its own, or the one it was fused into."""
    (layer,) = [la for la in program.layers if node == la["name"] or node in la["fused"]]
    return layer
