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
- A model the NPU cannot run whole (``compiler.compile_model``: NPU and host partitions) is
  run as ``npu run`` runs it (``npu.runtime``): its NPU partitions simulated, its host
  partitions on onnxruntime. ``simulate`` is then the whole run; ``host`` the host partitions'
  share of it (their ``session.run`` CPU and wall times); ``cycles`` are the NPU's cycles
  plus the host partitions' ``[host]`` estimate (``host_cycles``), and the roofline is the
  NPU partitions' against their cycles alone (``npu_cycles``).
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

from compiler import CompileOptions, Partitioned, compile, compile_model
from compiler.check import OutputCheck, check_outputs, infer, output_scales, session
from npu import runtime
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
    npu_cycles: int = 0  # cycles minus the host partitions' estimate
    host: Times | None = None  # the host partitions' onnxruntime time (partitioned models)
    host_partitions: int = 0
    npu_macs: int = 0

    @property
    def ratios(self) -> dict[str, float]:
        """Median CPU times against onnxruntime's inference."""
        ort = self.onnxruntime.median
        c, s = self.compile.median, self.simulate.median
        return {"compile": c / ort, "simulate": s / ort, "compile_simulate": (c + s) / ort}

    @property
    def host_cycles(self) -> int:
        return self.cycles - self.npu_cycles

    @property
    def fraction_of_roofline(self) -> float:
        """The NPU's: its roofline over its cycles (host partitions have no roofline)."""
        return self.roofline_cycles / self.npu_cycles if self.npu_cycles else 0.0

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
            "npu_cycles": self.npu_cycles,
            "host_cycles": self.host_cycles,
            "host_partitions": self.host_partitions,
            "host": self.host.to_dict() if self.host else None,
            "npu_mac_share": self.npu_macs / self.macs if self.macs else 1.0,
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


def npu_programs(program: Program | Partitioned) -> list[Program]:
    if isinstance(program, Partitioned):
        return [s.program for s in program.segments if s.program is not None]
    return [program]


def _host_seconds(result) -> tuple[float, float]:
    """The host partitions' (CPU, wall) seconds in a run (0 for a whole-NPU program)."""
    host = _host_runs(result)
    return sum(h.cpu_s for h in host), sum(h.wall_s for h in host)


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
    program = compile_model(str(path), config, options)
    # a whole-NPU model is timed as compile() makes it (compile_model would import it twice)
    make = compile_model if isinstance(program, Partitioned) else compile
    programs = npu_programs(program)
    feeds = random_inputs(program, seed)
    result = runtime.execute(program, feeds)
    sess = session(path, threads=ort_threads)
    want = infer(sess, feeds, path)
    names = list(want)
    scales = output_scales(onnx.load(path, load_external_data=False))
    checks = check_outputs(result.outputs, want, scales)
    times = Times(), Times(), Times()
    host = Times() if isinstance(program, Partitioned) else None
    for r in range(repeat):
        step(f"repetition {r + 1} of {repeat}")
        times[0].measure(lambda: make(str(path), config, options))
        run = times[1].measure(lambda: runtime.execute(program, feeds))
        if host is not None:
            cpu, wall = _host_seconds(run)
            host.cpu.append(cpu)
            host.wall.append(wall)
        times[2].measure(lambda: sess.run(names, feeds))
    step("peak memory")
    compile_peak = _traced_peak(lambda: make(str(path), config, options))
    simulate_peak = _traced_peak(lambda: runtime.execute(program, feeds))
    npu_macs = sum(layer.get("macs", 0) for p in programs for layer in p.layers)
    host_runs = _host_runs(result)
    return ModelBench(
        model=model,
        compile=times[0],
        simulate=times[1],
        onnxruntime=times[2],
        cycles=_cycles(result),
        roofline_cycles=sum(roofline_cycles(p) for p in programs),
        macs=npu_macs + sum(h.macs for h in host_runs),
        instructions=sum(len(p.instructions) for p in programs),
        compile_peak_bytes=compile_peak,
        simulate_peak_bytes=simulate_peak,
        checks=checks,
        npu_cycles=_cycles(result) - sum(h.estimated_cycles for h in host_runs),
        host=host,
        host_partitions=len(host_runs),
        npu_macs=npu_macs,
    )


def _cycles(result) -> int:
    """A ``SimResult``'s or a ``PartitionedResult``'s cycles (NPU + host estimate)."""
    if isinstance(result, runtime.PartitionedResult):
        return result.total_cycles
    return result.stats.total_cycles


def _host_runs(result) -> list[runtime.HostRun]:
    return result.host if isinstance(result, runtime.PartitionedResult) else []


def _traced_peak(fn: Callable[[], object]) -> int:
    """The peak of Python-tracked allocations (numpy included) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
