"""Compare simulated outputs with onnxruntime's, with the compiler's tolerances
(``compiler.check.float_error`` is the one float tolerance).

- float outputs pass when ``|sim - ref| <= atol + rtol * |ref|`` everywhere
  (rtol 1e-3, atol 1e-4 for float32); NaN and Inf must sit where onnxruntime has them.
- integer (quantised) outputs pass when they are within one quantisation step of
  onnxruntime's; the error is reported in steps.
- float outputs of a DequantizeLinear (an int8 model's usual output) are judged the same way,
  in steps of that DequantizeLinear's scale (``scales``), since they carry int8 values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from compiler.check import float_error, relative_error
from simulator.errors import ModelError

MAX_STEPS = 1


@dataclass(frozen=True)
class OutputCheck:
    name: str
    dtype: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    error_steps: int | None  # integer outputs: max error in quantisation steps
    passed: bool

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        for key in ("max_abs_error", "max_rel_error"):
            d[key] = d[key] if np.isfinite(d[key]) else None  # JSON has no Inf
        return d


def reference_outputs(onnx_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs (CPU, default graph optimisations: QDQ models run on its integer
    kernels, QLinearConv and friends, whose requantisation the NPU follows)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # its own log lines would add to a one-line error
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs), strict=True))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime cannot run {str(onnx_path)!r}: {first}") from None


def compare_outputs(
    got: dict[str, np.ndarray], want: dict[str, np.ndarray], scales: dict[str, float] | None = None
) -> list[OutputCheck]:
    """Per output; ``scales`` names the float outputs that are dequantised int8 values."""
    scales = scales or {}
    return [compare_one(name, got[name], want[name], scales.get(name)) for name in want]


def compare_one(
    name: str, got: np.ndarray, want: np.ndarray, scale: float | None = None
) -> OutputCheck:
    if got.shape != want.shape:
        raise ModelError(f"output {name!r} has shape {got.shape}, onnxruntime gives {want.shape}")
    if want.dtype.kind in "iub":
        return _compare_int(name, got, want)
    check = _compare_float(name, got, want)
    if scale is None or not np.isfinite(check.max_abs_error) or scale <= 0:
        return check
    steps = check.max_abs_error / scale
    return replace(check, error_steps=round(steps), passed=steps <= MAX_STEPS + 1e-3)


def _compare_int(name: str, got: np.ndarray, want: np.ndarray) -> OutputCheck:
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    steps = int(diff.max()) if diff.size else 0
    return OutputCheck(
        name,
        str(want.dtype),
        want.shape,
        float(steps),
        relative_error(diff, want),
        steps,
        steps <= MAX_STEPS,
    )


def _compare_float(name: str, got: np.ndarray, want: np.ndarray) -> OutputCheck:
    e = float_error(name, got, want)
    return OutputCheck(name, str(want.dtype), want.shape, e.max_abs, e.max_rel, None, e.ok)
