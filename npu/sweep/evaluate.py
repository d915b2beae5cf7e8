"""One design point on one model, in a worker: compile, simulate, measure, maybe verify.

A worker keeps each model's prepared graph (import and passes, which no config changes:
``npu.sweep.prepared``), so a point costs one lowering and one simulation. A model with host
nodes is cut once into NPU and host partitions: a point lowers and simulates the NPU ones, and
the host ones add their ``[host]`` estimate, as in ``npu run --timing-only``. What comes
back is a flat record (``Task.run``): the metrics on success, or the one-line error of a
point that failed; a failing point never stops the sweep.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any

import onnx

import simulator
from compiler import budget
from compiler.check import check_outputs, output_scales, reference
from compiler.partition import Partitioned
from npu import runtime
from npu.footprint import scratchpad_peaks
from npu.inputs import random_inputs
from npu.partition_profile import merged_stats
from npu.sweep import prepared
from simulator.config import load_config
from simulator.errors import NpuError

# Metrics of a finished point, in the order of the database's and the CSV's columns.
METRICS = (
    "cycles",
    "latency_us",
    "energy_uj",
    "area_mm2",
    "array_utilization",
    "dram_read_bytes",
    "dram_write_bytes",
    "peak_scratchpad_bytes",
    "compile_s",
    "simulate_s",
)


@dataclass(frozen=True)
class Task:
    """What a worker needs for one (model, point): all picklable, nothing resolved twice."""

    model: str  # as the user named it (zoo:NAME or a path)
    path: str  # the .onnx file
    config: str  # the base preset or TOML file
    point: tuple[tuple[str, Any], ...]  # the swept keys' values, in grid order
    verify: bool  # compare the outputs with onnxruntime (full numerics)
    seed: int  # of the random inputs
    max_memory: int | None = None

    def run(self) -> dict[str, Any]:
        """The record of this point: ``status`` 'ok' with METRICS, 'mismatch' with METRICS and
        what differs from onnxruntime in ``error``, or 'error' with ``error`` only."""
        try:
            record = _measure(self)
        except NpuError as exc:
            return _failed(str(exc))
        except MemoryError:
            return _failed("out of memory")
        except Exception as exc:  # a bug in the toolchain: recorded, the sweep goes on
            return _failed(f"internal error: {type(exc).__name__}: {exc}")
        mismatch = record.pop("mismatch")
        return {"status": "mismatch" if mismatch else "ok", "error": mismatch, **record}


def _failed(message: str) -> dict[str, Any]:
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    return {"status": "error", "error": line, **dict.fromkeys(METRICS), "verified": None}


# simulator.run(numerics=False) is the timing-only mode (issue 14); used when there.
TIMING_ONLY = "numerics" in inspect.signature(simulator.run).parameters


def _measure(task: Task) -> dict[str, Any]:
    config = load_config(task.config, dict(task.point))
    start = time.perf_counter()
    with budget.using(budget.Budget.of(task.max_memory)):
        program = prepared.lower(task.path, config, task.max_memory)
    compile_s = time.perf_counter() - start
    full = task.verify or not TIMING_ONLY
    feeds = random_inputs(program, task.seed) if full else None
    options = {} if full else {"numerics": False}
    start = time.perf_counter()
    result = runtime.execute(program, feeds, max_memory=task.max_memory, **options)
    simulate_s = time.perf_counter() - start
    if isinstance(program, Partitioned):  # NPU and host partitions, one after the other
        stats = merged_stats(program, result)
        programs = [s.program for s in program.segments if s.program is not None]
    else:
        stats, programs = result.stats, [program]
    mismatch = _verify(task, feeds, result.outputs) if task.verify else None
    return {
        "cycles": stats.total_cycles,
        "latency_us": stats.seconds * 1e6,
        "energy_uj": stats.energy_pj["total"] / 1e6,
        "area_mm2": config.area_mm2(),
        "array_utilization": stats.array_utilization,
        "dram_read_bytes": stats.dram_read_bytes,
        "dram_write_bytes": stats.dram_write_bytes,
        "peak_scratchpad_bytes": max(
            (sum(scratchpad_peaks(p).values()) for p in programs), default=0
        ),
        "compile_s": compile_s,
        "simulate_s": simulate_s,
        "verified": (mismatch is None) if task.verify else None,
        "mismatch": mismatch,
    }


def _verify(task: Task, feeds, outputs) -> str | None:
    """Every output against onnxruntime's (``compiler.check``): None, or what differs."""
    checks = check_outputs(outputs, reference(task.path, feeds), _scales(task.path))
    bad = [c for c in checks if not c.passed]
    if not bad:
        return None
    worst = ", ".join(f"{c.name} max abs error {c.max_abs_error:.3g}" for c in bad)
    return f"outputs differ from onnxruntime's: {worst}"


def _scales(path: str) -> dict[str, float]:
    return output_scales(onnx.load(path, load_external_data=False))
