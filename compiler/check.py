"""Compile, simulate and compare with onnxruntime: what ``npu check`` and the tests use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnx.numpy_helper

from compiler.driver import CompileOptions, compile
from simulator.config import NpuConfig

RTOL, ATOL = 1e-3, 1e-4  # float32 outputs: |sim - ref| <= ATOL + RTOL * |ref|


@dataclass(frozen=True)
class OutputError:
    name: str
    max_abs: float  # inf when a NaN or Inf is not where onnxruntime has it
    max_rel: float
    ok: bool


def float_error(
    name: str, got: np.ndarray, want: np.ndarray, rtol: float = RTOL, atol: float = ATOL
) -> OutputError:
    """The one float tolerance: ``|got - want| <= atol + rtol * |want|`` everywhere, and NaN
    and Inf exactly where ``want`` has them."""
    g, w = got.astype(np.float64), want.astype(np.float64)
    finite = np.isfinite(g) & np.isfinite(w)
    special_ok = np.array_equal(finite, np.isfinite(w)) and np.array_equal(
        g[~finite], w[~finite], equal_nan=True
    )
    diff = np.where(finite, np.abs(g - w), 0.0)
    w0 = np.where(finite, w, 0.0)
    ok = special_ok and bool(np.all(diff <= atol + rtol * np.abs(w0)))
    max_abs = float(diff.max(initial=0.0)) if special_ok else float("inf")
    return OutputError(name, max_abs, relative_error(diff, w0), ok)


def relative_error(diff: np.ndarray, want: np.ndarray) -> float:
    """max(diff / |want|), with |want| floored at 1e-12."""
    if not diff.size:
        return 0.0
    scale = np.maximum(np.abs(np.nan_to_num(want.astype(np.float64))), 1e-12)
    return float(np.max(diff / scale))


def reference(
    model: onnx.ModelProto, inputs: dict[str, np.ndarray], optimize: bool = True
) -> dict[str, np.ndarray]:
    """onnxruntime's outputs (``optimize=False``: basic graph optimisations only, which keeps
    QDQ models in their float QuantizeLinear/DequantizeLinear semantics)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, inputs), strict=True))


def compare_with_onnxruntime(
    model: onnx.ModelProto,
    config: NpuConfig,
    inputs: dict[str, np.ndarray],
    options: CompileOptions | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    checked: bool = True,
) -> tuple[list[OutputError], object]:
    """Per-output errors of the simulated program against onnxruntime, and the SimResult."""
    from simulator.api import run

    program = compile(model, config, options)
    result = run(program, inputs, checked=checked)
    ref = reference(model, inputs)
    errors = [float_error(n, result.outputs[n], want, rtol, atol) for n, want in ref.items()]
    return errors, result


@dataclass(frozen=True)
class StepError:
    """An output's difference in steps of its quantisation scale (1 for integer outputs)."""

    name: str
    max_steps: float
    exact: float  # fraction of elements exactly equal


def output_scales(model: onnx.ModelProto) -> dict[str, float]:
    """The scale of every graph output produced by QuantizeLinear/DequantizeLinear."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    outs = {o.name for o in model.graph.output}
    scales = {}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.output[0] in outs:
            scales[node.output[0]] = float(inits[node.input[1]])
    return scales


def steps_from_reference(
    model: onnx.ModelProto, got: dict[str, np.ndarray], ref: dict[str, np.ndarray]
) -> list[StepError]:
    """Per output: (ours - reference) in output quantisation steps."""
    scales = output_scales(model)
    out = []
    for name, want in ref.items():
        integer = np.issubdtype(want.dtype, np.integer)
        scale = 1.0 if integer else scales.get(name, 1.0)
        diff = np.abs(got[name].astype(np.float64) - want.astype(np.float64)) / scale
        out.append(StepError(name, float(diff.max(initial=0)), float(np.mean(diff < 1e-3))))
    return out
