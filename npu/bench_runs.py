"""One model measured for ``npu bench``: compile, simulate and onnxruntime inference of the
same model and input in this process, ``repeat`` times each, after one warm-up of each.

- Times: each repetition compiles, simulates and runs onnxruntime once, in that order, so a
  change of machine load touches all three alike. The process's CPU time (``process_time``,
  every thread's) is what the medians and ratios are taken of: the work each phase costs,
  which other jobs on a shared machine barely move; wall-clock (``perf_counter``) is kept too.
  onnxruntime runs with ``ort_threads`` intra-op threads (1 by default: the compiler and the
  simulator use one core, so CPU time and the ratios compare like with like); its session is
  made once, in the warm-up.
- Memory: a last, untimed compile and simulate under ``tracemalloc`` give the peak bytes each
  allocates from Python (numpy's arrays included); the process's peak resident set size is
  read at the end (it includes onnxruntime's own allocations and everything before).
- Cycles against the roofline: each layer's bound is max(MACs / array MACs per cycle, the
  bytes of its operands, each moved once, / DRAM bytes per cycle) (``program.layers``:
  ``macs``, ``operand_bytes``); the model's bound is their sum.
- The outputs of the warm-up's simulation are checked against onnxruntime's
  (``compiler.check``), so a benchmark of a wrong program says so.
"""

from __future__ import annotations

import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import onnx

import simulator
from compiler import CompileOptions, compile
from compiler.check import OutputCheck, check_outputs, infer, output_scales, session
from npu.inputs import random_inputs
from simulator import Program
from simulator.config import NpuConfig


@dataclass
class Times:
    """The repetitions of one phase, in seconds."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median CPU time."""
        return statistics.median(self.cpu)

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    def measure(self, fn: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)
        return out

    def to_dict(self) -> dict:
        return {
            "median_cpu_s": self.median,
            "median_wall_s": self.median_wall,
            "cpu_s": self.cpu,
            "wall_s": self.wall,
        }


@dataclass
class ModelBench:
    model: str
    compile: Times
    simulate: Times
    onnxruntime: Times
    cycles: int
    roofline_cycles: float
    macs: int
    instructions: int
    compile_peak_bytes: int
    simulate_peak_bytes: int
    checks: list[OutputCheck]

    @property
    def ratios(self) -> dict[str, float]:
        """Median CPU times against onnxruntime's inference."""
        ort = self.onnxruntime.median
        c, s = self.compile.median, self.simulate.median
        return {"compile": c / ort, "simulate": s / ort, "compile_simulate": (c + s) / ort}

    @property
    def fraction_of_roofline(self) -> float:
        return self.roofline_cycles / self.cycles if self.cycles else 0.0

    @property
    def check_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "compile": self.compile.to_dict(),
            "simulate": self.simulate.to_dict(),
            "onnxruntime": self.onnxruntime.to_dict(),
            "ratios": self.ratios,
            "cycles": self.cycles,
            "roofline_cycles": round(self.roofline_cycles),
            "fraction_of_roofline": self.fraction_of_roofline,
            "macs": self.macs,
            "instructions": self.instructions,
            "peak_bytes": {
                "compile": self.compile_peak_bytes,
                "simulate": self.simulate_peak_bytes,
            },
            "check": {
                "passed": self.check_passed,
                "outputs": [c.to_dict() for c in self.checks],
            },
        }


def roofline_cycles(program: Program) -> float:
    """Sum over layers of max(MACs / peak MACs per cycle, operand bytes / DRAM bandwidth)."""
    cfg = program.config
    return sum(
        max(
            layer.get("macs", 0) / cfg.peak_macs_per_cycle,
            layer.get("operand_bytes", 0) / cfg.dram.bytes_per_cycle,
        )
        for layer in program.layers
    )


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_model(
    model: str,
    path: Path,
    config: NpuConfig,
    options: CompileOptions,
    *,
    repeat: int,
    seed: int = 0,
    ort_threads: int = 1,
    step: Callable[[str], None] = lambda what: None,
) -> ModelBench:
    """Measure ``model`` (its .onnx at ``path``); ``step(what)`` names each phase as it starts."""
    step("warm-up")
    program = compile(str(path), config, options)
    feeds = random_inputs(program, seed)
    result = simulator.run(program, feeds)
    sess = session(path, threads=ort_threads)
    want = infer(sess, feeds, path)
    names = list(want)
    scales = output_scales(onnx.load(path, load_external_data=False))
    checks = check_outputs(result.outputs, want, scales)
    times = Times(), Times(), Times()
    for r in range(repeat):
        step(f"repetition {r + 1} of {repeat}")
        times[0].measure(lambda: compile(str(path), config, options))
        times[1].measure(lambda: simulator.run(program, feeds))
        times[2].measure(lambda: sess.run(names, feeds))
    step("peak memory")
    compile_peak = _traced_peak(lambda: compile(str(path), config, options))
    simulate_peak = _traced_peak(lambda: simulator.run(program, feeds))
    return ModelBench(
        model=model,
        compile=times[0],
        simulate=times[1],
        onnxruntime=times[2],
        cycles=result.stats.total_cycles,
        roofline_cycles=roofline_cycles(program),
        macs=sum(layer.get("macs", 0) for layer in program.layers),
        instructions=len(program.instructions),
        compile_peak_bytes=compile_peak,
        simulate_peak_bytes=simulate_peak,
        checks=checks,
    )


def _traced_peak(fn: Callable[[], object]) -> int:
    """The peak of Python-tracked allocations (numpy included) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
