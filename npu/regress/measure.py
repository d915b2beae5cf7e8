"""Compile and simulate cases, and read what they hold off the run.

Cases of one model, config and input shapes share a compiled program (``compile_key``): a
worker compiles it once and simulates each case (seed) on it. A case that holds no outputs is
simulated for timing only when the simulator offers it (``simulator.run(numerics=False)``).
"""

from __future__ import annotations

import hashlib
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

import simulator
from compiler.check import check_outputs, output_scales, reference
from npu import inputs, models
from npu.analysis import layer_rows
from npu.footprint import scratchpad_peaks
from npu.regress.metrics import TOTALS, needs_numerics
from npu.regress.suite import Case
from simulator.api import dram_size
from simulator.errors import NpuError

TIMING_ONLY = "numerics" in inspect.signature(simulator.run).parameters

Value = int | float | str | bool


@dataclass
class Measured:
    """One case's metrics (in report order), or the error that stopped it."""

    case: str
    metrics: dict[str, Value] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0
    fingerprint: str = ""
    timing_only: bool = False


def compile_key(case: Case) -> tuple:
    return (case.model_path, case.hardware().fingerprint(), case.input_shapes)


def measure_group(cases: list[Case]) -> list[Measured]:
    """The cases of one compile key: one compile, one simulation per case."""
    start = time.perf_counter()
    try:
        path, program = _compile(cases[0])
    except NpuError as exc:
        return [Measured(c.name, error=f"compile: {exc}") for c in cases]
    share = (time.perf_counter() - start) / len(cases)
    return [_measure(case, path, program, share) for case in cases]


def _compile(case: Case) -> tuple[Path, simulator.Program]:
    """Strict: a case holds one NPU program's layers (a model the NPU cannot run whole is a
    compile error naming the nodes, not a partitioned run)."""
    import compiler

    path = models.onnx_path(case.model_path)
    options = compiler.CompileOptions(input_shapes=dict(case.input_shapes), strict=True)
    return path, compiler.compile(str(path), case.hardware(), options)


def _measure(case: Case, path: Path, program: simulator.Program, compile_s: float) -> Measured:
    start = time.perf_counter()
    numerics = needs_numerics(case.hold) or not TIMING_ONLY
    try:
        feeds = inputs.random_inputs(program, case.seed)
        kw = {} if numerics else {"numerics": False}
        result = simulator.run(program, feeds, **kw)
        metrics = held(case, program, result)
        if "check" in case.hold:
            metrics.update(_checks(path, feeds, result.outputs))
    except NpuError as exc:
        return Measured(case.name, error=f"simulate: {exc}")
    seconds = compile_s + time.perf_counter() - start
    fingerprint = program.config.fingerprint()
    return Measured(case.name, metrics, "", seconds, fingerprint, timing_only=not numerics)


def held(case: Case, program: simulator.Program, result: simulator.SimResult) -> dict:
    """The metrics of ``case.hold`` from one run, in a fixed order."""
    stats = result.stats
    values = {
        "cycles": stats.total_cycles,
        "dram_read_bytes": stats.dram_read_bytes,
        "dram_write_bytes": stats.dram_write_bytes,
        "energy_pj": float(stats.energy_pj["total"]),
        "peak_dram_bytes": dram_size(program),
        "peak_scratchpad_bytes": sum(scratchpad_peaks(program).values()),
    }
    metrics = {n: values[n] for kind, names in TOTALS.items() if kind in case.hold for n in names}
    for row in layer_rows(program, stats):
        if "layer_cycles" in case.hold:
            metrics[f"layer.{row.name}.cycles"] = row.cycles
        if "layer_dram" in case.hold:
            metrics[f"layer.{row.name}.dram_bytes"] = row.dram_bytes
    if "outputs" in case.hold:
        for name in sorted(result.outputs):
            metrics[f"output.{name}.sha256"] = output_hash(result.outputs[name])
    return metrics


def output_hash(array: np.ndarray) -> str:
    """16 hex digits of the SHA-256 of the dtype, shape and little-endian bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()[:16]


def _checks(path: Path, feeds: dict, outputs: dict) -> dict:
    want = reference(path, feeds)
    scales = output_scales(onnx.load(path, load_external_data=False))
    metrics: dict[str, Value] = {}
    for check in sorted(check_outputs(outputs, want, scales), key=lambda c: c.name):
        metrics[f"check.{check.name}.passed"] = bool(check.passed)
        metrics[f"check.{check.name}.max_abs_error"] = float(check.max_abs_error)
    return metrics
