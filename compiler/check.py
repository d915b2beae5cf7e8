"""The onnxruntime oracle and the one record of an output compared with it: what ``npu check``,
``npu profile``, ``npu bench`` and the tests use.

- ``session(model)`` opens onnxruntime on a model (from its path when given one, so external
  data resolves next to the file); ``reference(model, inputs)`` runs it, ``infer`` runs an
  open session. Anything onnxruntime rejects becomes a one-line ``ModelError``.
- ``check_outputs(got, want, scales)`` compares every output (``OutputCheck``):
  float outputs pass when ``|got - want| <= atol + rtol * |want|`` everywhere (rtol 1e-3,
  atol 1e-4), with NaN and Inf exactly where onnxruntime has them; quantised outputs (8-bit
  integer outputs and those of a QuantizeLinear, in steps of 1, and float outputs of a
  DequantizeLinear, in steps of its scale: ``scales``) pass within ``MAX_STEPS`` quantisation
  steps; other integer and bool outputs (indices, shapes, masks) must be exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper

from compiler.check_x64 import has_qdq, u8_gemm_weights
from compiler.driver import CompileOptions, compile
from simulator.config import NpuConfig
from simulator.errors import ModelError

RTOL, ATOL = 1e-3, 1e-4  # float32 outputs: |sim - ref| <= ATOL + RTOL * |ref|
MAX_STEPS = 1  # quantised outputs: within one quantisation step
EXACT = 1e-3  # an element is exact when within this fraction of a step (of 1 for plain floats)
_QUANTISED = (np.dtype(np.int8), np.dtype(np.uint8))  # integer outputs allowed MAX_STEPS


def session(model: onnx.ModelProto | str | Path, *, optimize: bool = True, threads: int = 0):
    """An onnxruntime CPU session (``optimize=False``: basic graph optimisations only, which
    keeps QDQ models in their float QuantizeLinear/DequantizeLinear semantics; by default
    they run on its integer kernels, QLinearConv and friends, whose requantisation the NPU
    follows, made exact on every x86 CPU by ``exact_integer_kernels``; ``threads``: intra-op
    threads, 0 for onnxruntime's default). ModelError, one line, if onnxruntime rejects the
    model."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # its own log lines would add to a one-line error
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    source = exact_integer_kernels(model) if optimize else None
    if source is None:
        source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    with _onnxruntime_errors(model):
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def exact_integer_kernels(model: onnx.ModelProto | str | Path) -> bytes | None:
    """The bytes of ``model`` rewritten for int8 results that are the same on every x86 CPU
    (``compiler.check_x64``); None when it needs no rewrite (no Q/DQ node), holds external
    data or does not load (onnxruntime then reports what is wrong with the file)."""
    if not isinstance(model, onnx.ModelProto):
        try:
            model = onnx.load(str(model), load_external_data=False)
        except Exception:
            return None
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
            return None
    return u8_gemm_weights(model).SerializeToString() if has_qdq(model) else None


def reference(
    model: onnx.ModelProto | str | Path, inputs: dict[str, np.ndarray], *, optimize: bool = True
) -> dict[str, np.ndarray]:
    """onnxruntime's outputs by name (see ``session``)."""
    return infer(session(model, optimize=optimize), inputs, model)


def infer(sess, inputs: dict[str, np.ndarray], model) -> dict[str, np.ndarray]:
    """One inference of an open session: its outputs by name; what onnxruntime raises is a
    one-line ModelError naming ``model``."""
    names = [o.name for o in sess.get_outputs()]
    with _onnxruntime_errors(model):
        return dict(zip(names, sess.run(names, inputs), strict=True))


@contextmanager
def _onnxruntime_errors(model) -> Iterator[None]:
    """Turn onnxruntime's own untyped errors into a ``ModelError`` with their first line."""
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        what = "the model" if isinstance(model, onnx.ModelProto) else repr(str(model))
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise ModelError(f"onnxruntime cannot run {what}: {first}") from None


@dataclass(frozen=True)
class OutputCheck:
    """One output of the simulated program against onnxruntime's."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    max_abs_error: float  # inf when NaN or Inf are not where onnxruntime has them
    max_rel_error: float
    error_steps: float | None  # quantised outputs: the largest difference in steps; else None
    exact: float  # fraction of elements within EXACT steps (of 1 for plain float outputs)
    passed: bool

    @property
    def steps(self) -> float:
        """The error in quantisation steps; for a plain float output (no step), the absolute
        error (what an int8 model's float output is judged by)."""
        return self.max_abs_error if self.error_steps is None else self.error_steps

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        for key in ("max_abs_error", "max_rel_error"):
            d[key] = d[key] if np.isfinite(d[key]) else None  # JSON has no Inf
        return d


def check_outputs(
    got: dict[str, np.ndarray],
    want: dict[str, np.ndarray],
    scales: dict[str, float] | None = None,
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> list[OutputCheck]:
    """Per output of ``want``; ``scales``: the quantisation step of float outputs that carry
    quantised values (``output_scales``)."""
    scales = scales or {}
    return [
        check_output(name, got[name], w, scales.get(name), rtol=rtol, atol=atol)
        for name, w in want.items()
    ]


def check_output(
    name: str,
    got: np.ndarray,
    want: np.ndarray,
    scale: float | None = None,
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> OutputCheck:
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise ModelError(f"output {name!r} has shape {got.shape}, onnxruntime gives {want.shape}")
    g, w = got.astype(np.float64), want.astype(np.float64)
    finite = np.isfinite(g) & np.isfinite(w)
    special_ok = np.array_equal(finite, np.isfinite(w)) and np.array_equal(
        g[~finite], w[~finite], equal_nan=True
    )
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: masked out
        diff = np.where(finite, np.abs(g - w), 0.0)
    w0 = np.where(finite, w, 0.0)
    max_abs = float(diff.max(initial=0.0)) if special_ok else float("inf")
    integer = want.dtype.kind in "iub"
    step = 1.0 if integer else scale
    quantised = step is not None and step > 0
    exact = float(np.mean(diff < EXACT * (step if quantised else 1.0))) if diff.size else 1.0
    if quantised:
        steps = max_abs / step
        limit = MAX_STEPS if scale is not None or want.dtype in _QUANTISED else 0
        passed = special_ok and steps <= limit + 1e-3
    else:
        steps = None
        passed = special_ok and bool(np.all(diff <= atol + rtol * np.abs(w0)))
    rel = relative_error(diff, w0)
    return OutputCheck(name, str(want.dtype), want.shape, max_abs, rel, steps, exact, passed)


def relative_error(diff: np.ndarray, want: np.ndarray) -> float:
    """max(diff / |want|), with |want| floored at 1e-12."""
    if not diff.size:
        return 0.0
    scale = np.maximum(np.abs(np.nan_to_num(want.astype(np.float64))), 1e-12)
    return float(np.max(diff / scale))


def output_scales(model: onnx.ModelProto) -> dict[str, float]:
    """The scale of every graph output produced by QuantizeLinear/DequantizeLinear."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    outs = {o.name for o in model.graph.output}
    scales = {}
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.output[0] in outs:
            scales[node.output[0]] = float(inits[node.input[1]])
    return scales


def compare_with_onnxruntime(
    model: onnx.ModelProto,
    config: NpuConfig,
    inputs: dict[str, np.ndarray],
    options: CompileOptions | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    checked: bool = True,
) -> tuple[list[OutputCheck], object]:
    """Compile, simulate (``checked``: with the race checker) and compare every output with
    onnxruntime's; the checks and the SimResult."""
    from simulator.api import run

    program = compile(model, config, options)
    result = run(program, inputs, checked=checked)
    want = reference(model, inputs)
    checks = check_outputs(result.outputs, want, output_scales(model), rtol=rtol, atol=atol)
    return checks, result
