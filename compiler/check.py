"""Compile, simulate and compare with onnxruntime: what ``npu check`` and the tests use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from compiler.driver import CompileOptions, compile
from simulator.config import NpuConfig


@dataclass(frozen=True)
class OutputError:
    name: str
    max_abs: float
    max_rel: float
    ok: bool


def reference(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, inputs), strict=True))


def compare_with_onnxruntime(
    model: onnx.ModelProto,
    config: NpuConfig,
    inputs: dict[str, np.ndarray],
    options: CompileOptions | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    checked: bool = True,
) -> tuple[list[OutputError], object]:
    """Per-output errors of the simulated program against onnxruntime, and the SimResult."""
    from simulator.api import run

    program = compile(model, config, options)
    result = run(program, inputs, checked=checked)
    ref = reference(model, inputs)
    errors = []
    for name, want in ref.items():
        got = result.outputs[name].astype(np.float64)
        diff = np.abs(got - want.astype(np.float64))
        rel = diff / np.maximum(np.abs(want), 1e-12)
        ok = bool(np.all(diff <= atol + rtol * np.abs(want)))
        errors.append(OutputError(name, float(diff.max(initial=0)), float(rel.max(initial=0)), ok))
    return errors, result
