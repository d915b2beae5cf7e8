"""Running a program on ``npu_core`` and comparing it with the simulator.

``check(program, inputs, sim)`` writes the program's instruction words and its initial DRAM
(constants and inputs) as hex files into a run folder, runs the cocotb test
``rtl_tests/core/test_core.py::run_program`` on the core built for the program's config
(one build per simulator and parameter set), reads back the DRAM the core wrote and its
per-instruction records (start, end, hash of what it wrote) and compares them with
``reference.reference``: outputs byte for byte, total cycles (error % against the simulator as
is), and every instruction's start, end and hash against the simulator with the core's issue
cycle. ``Comparison.report()`` names the first divergence.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtl_tests import hdl
from rtl_tests.core.reference import Reference, reference
from simulator import isa
from simulator.config import NpuConfig
from simulator.program import Program

SOURCES = ("npu_core", "npu_systolic_array", "npu_vector_unit", "npu_pe", "npu_delay")
DRAM_BYTES = 1 << 22
IMEM_WORDS = 4096
ERR_UNSUPPORTED = 1  # npu_core's error codes (ERR_* in npu_core.v)
ERRORS = {1: "an instruction outside the RTL's scope", 2: "not an instruction", 3: "deadlock"}
ERRORS[4] = "an access outside a memory"


class CoreError(Exception):
    """The core stopped with an error, or a program does not fit it."""


def parameters(config: NpuConfig, mutation: int = 0) -> dict[str, int]:
    """The core's Verilog parameters for ``config`` (ValueError where the RTL cannot be it)."""
    if config.array.dataflow != "weight_stationary":
        raise CoreError("npu_core has the weight-stationary array only")
    if config.timing != "npu":
        raise CoreError(f"npu_core runs the npu timing, not {config.timing!r}")
    bw = config.dram.bytes_per_cycle * 256
    if bw != int(bw):
        raise CoreError(
            f"dram.bytes_per_cycle={config.dram.bytes_per_cycle} is not a multiple of 1/256"
        )
    return {
        "ROWS": config.array.rows,
        "COLS": config.array.cols,
        "LANES": config.vector.lanes,
        "PIPELINE_DEPTH": config.vector.pipeline_depth,
        "IN_BYTES": config.input_bytes,
        "W_BYTES": config.weight_bytes,
        "ACC_BYTES": config.acc_bytes,
        "DRAM_BYTES": DRAM_BYTES,
        "IMEM_WORDS": IMEM_WORDS,
        "QDEPTH": config.queues.instr_depth,
        "TDEPTH": config.queues.token_depth,
        "LATENCY": config.dram.latency,
        "BW_X256": int(bw),
        "BURST": config.dram.burst_bytes,
        "MUTATION": mutation,
    }


def fits(program: Program) -> None:
    """CoreError naming what does not fit the core's memories."""
    if len(program.instructions) > IMEM_WORDS:
        raise CoreError(
            f"{len(program.instructions)} instructions; the core's instruction memory holds "
            f"{IMEM_WORDS}"
        )
    from simulator.api import dram_size

    if dram_size(program) > DRAM_BYTES:
        raise CoreError(f"{dram_size(program)} bytes of DRAM; the core's DRAM has {DRAM_BYTES}")


def write_run(folder: Path, program: Program, dram: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    words = [isa.encode(i) for i in program.instructions]
    (folder / "imem.hex").write_text(
        "".join(int.from_bytes(w, "little").to_bytes(64, "big").hex() + "\n" for w in words)
    )
    (folder / "dram.hex").write_text("\n".join(f"{b:02x}" for b in dram.tolist()) + "\n")
    for stale in ("records.txt", "dram_out.hex", "status.txt"):
        (folder / stale).unlink(missing_ok=True)


@dataclass
class CoreRun:
    status: dict[str, int]  # error, err_index, cycles, halted
    starts: list[int]
    ends: list[int]
    hashes: list[int]
    dram: np.ndarray
    seconds: float


def read_run(folder: Path, size: int, seconds: float) -> CoreRun:
    status_file = folder / "status.txt"
    if not status_file.exists():
        raise CoreError(f"the core did not report (see {folder})")
    status = dict(
        (k, int(v)) for k, v in (line.split() for line in status_file.read_text().splitlines())
    )
    starts, ends, hashes = [], [], []
    records = folder / "records.txt"
    lines = records.read_text().split("\n") if records.exists() else []
    for line in filter(None, lines):
        _, s, e, h = (int(x) if x.lstrip("-").isdigit() else -1 for x in line.split())
        starts.append(s)
        ends.append(e)
        hashes.append(h)
    dram = np.zeros(size, dtype=np.uint8)
    out = folder / "dram_out.hex"
    if out.exists():
        lines = out.read_text().splitlines()
        values = bytes.fromhex("".join(x for x in lines if x and not x.startswith("//")))
        dram[: min(size, len(values))] = np.frombuffer(values, dtype=np.uint8)[:size]
    base = starts[0] if starts else 0  # -1 (X in the records): never started or completed
    starts = [s - base if s >= 0 else -1 for s in starts]
    ends = [e - base if e >= 0 else -1 for e in ends]
    return CoreRun(status, starts, ends, hashes, dram, seconds)


def source_digest() -> str:
    """A digest of the core's Verilog and its includes: the runner rebuilds only when a listed
    source is newer than its build, and the .vh files are not listed."""
    files = [*hdl.rtl_sources(*SOURCES), *sorted(hdl.RTL_DIR.glob("*.vh"))]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


def _build_and_test(sim: str, params: dict[str, int], folder: Path, bound: int, dump: int) -> None:
    from cocotb_tools.runner import get_runner

    hdl.require_simulator(sim)
    build = hdl.build_dir("npu_core", sim, {**params, "src": source_digest()})
    build.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    build_args = ["-Wno-fatal", "--output-split", "0"] if sim == "verilator" else []
    with open(build / ".lock", "w") as lock:  # one build per folder, also under pytest -n
        fcntl.flock(lock, fcntl.LOCK_EX)
        runner.build(
            sources=hdl.rtl_sources(*SOURCES),
            includes=[hdl.RTL_DIR],
            hdl_toplevel="npu_core",
            parameters=dict(params),
            build_dir=build,
            build_args=build_args,
        )
    try:
        runner.test(
            test_module="rtl_tests.core.test_core",
            hdl_toplevel="npu_core",
            parameters=dict(params),
            build_dir=build,
            test_dir=folder,
            extra_env={"NPU_CORE_BOUND": str(bound), "NPU_CORE_DUMP": str(dump)},
            testcase="run_program",
        )
    except SystemExit:  # a failed cocotb test; status.txt says why
        pass


def run_core(
    program: Program,
    dram: np.ndarray,
    sim: str,
    folder: Path,
    *,
    bound: int,
    mutation: int = 0,
) -> CoreRun:
    """Run ``program`` on the core from DRAM image ``dram``; at most ``bound`` cycles."""
    fits(program)
    params = parameters(program.config, mutation)
    write_run(folder, program, dram)
    began = time.perf_counter()
    _build_and_test(sim, params, folder, bound, dram.size)
    return read_run(folder, dram.size, time.perf_counter() - began)


@dataclass(frozen=True)
class Divergence:
    """One instruction whose bytes or timing differ between the core and the simulator."""

    index: int
    bytes_differ: bool
    start_delta: int  # core - simulator (with the core's issue cycle)
    end_delta: int
    text: str


@dataclass
class Comparison:
    program: Program
    ref: Reference
    core: CoreRun
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def rtl_cycles(self) -> int:
        return self.core.status.get("cycles", 0)

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.rtl_cycles - self.ref.cycles) / max(self.ref.cycles, 1)

    def outputs_equal(self) -> bool:
        return all(
            np.array_equal(self.core.dram[t.addr : t.addr + t.nbytes], self.ref.outputs[name])
            for name, t in ((n, self.program.tensors[n]) for n in self.program.outputs)
        )

    def ok(self, tolerance_pct: float = 2.0) -> bool:
        return (
            not self.core.status.get("error", 1)
            and self.outputs_equal()
            and abs(self.error_pct) <= tolerance_pct
            and not self.divergences
        )

    def stop_reason(self) -> str:
        """The core's error: what, at which instruction (its node), the instruction."""
        status = self.core.status
        index = status.get("err_index", 0)
        what = ERRORS.get(status.get("error", 0), f"error {status.get('error')}")
        node = self.program.source_node(index) if index < len(self.program.instructions) else ""
        where = f"instruction {index}" + (f" (node {node})" if node else "")
        return f"{what} at {where}: {_describe(self.program, index)}"

    def report(self) -> str:
        status = self.core.status
        lines = [
            f"RTL cycles {self.rtl_cycles}, simulator cycles {self.ref.cycles} "
            f"({self.error_pct:+.2f}%), outputs "
            + ("byte-identical" if self.outputs_equal() else "DIFFER")
        ]
        if status.get("error"):
            lines.append(f"core stopped: {self.stop_reason()}")
        if not status.get("halted"):
            lines.append("core did not reach the end marker within the cycle bound")
        lines.append(
            "first divergence: " + (self.divergences[0].text if self.divergences else "none")
        )
        return "\n".join(lines)


def _describe(program: Program, index: int) -> str:
    """An instruction as its class, unit and the fields that differ from their defaults."""
    if not 0 <= index < len(program.instructions):
        return "(none)"
    instr = program.instructions[index]
    defaults = type(instr)()
    shown = []
    for name, value in vars(instr).items():
        if name in ("wait", "signal") or value == getattr(defaults, name):
            continue
        if name == "func":
            value = isa.VFunc(value).name
        shown.append(f"{name}={value}")
    unit = instr.unit.name if instr.unit is not None else "-"
    tokens = f"wait={instr.wait:04b} signal={instr.signal:04b}"
    return f"{type(instr).__name__} on {unit} ({', '.join(shown)}; {tokens})"


def divergences(program: Program, ref: Reference, core: CoreRun) -> list[Divergence]:
    """Every instruction whose start, end or written bytes differ, in the simulator's start
    order (ties: program order); each with its unit, operands and cycle deltas."""
    out = []
    for i in sorted(range(len(ref.starts)), key=lambda j: (ref.starts[j], j)):
        if i >= len(core.starts) or core.ends[i] < 0:
            text = f"instruction {i} never completed on the core: {_describe(program, i)}"
            out.append(Divergence(i, True, 0, 0, text))
            continue
        what = []
        differ = core.hashes[i] != ref.hashes[i]
        if differ:
            what.append("the bytes it wrote differ")
        ds, de = core.starts[i] - ref.starts[i], core.ends[i] - ref.ends[i]
        if ds or de:
            what.append(
                f"timing: start {core.starts[i]} vs {ref.starts[i]} ({ds:+d} cycles), "
                f"end {core.ends[i]} vs {ref.ends[i]} ({de:+d} cycles)"
            )
        if what:
            text = f"instruction {i}: {'; '.join(what)}: {_describe(program, i)}"
            out.append(Divergence(i, differ, ds, de, text))
    return out


def check(
    program: Program,
    inputs: dict[str, np.ndarray],
    sim: str,
    folder: Path,
    *,
    mutation: int = 0,
) -> Comparison:
    """Run ``program`` on the core and compare it with the simulator (see the module doc)."""
    ref = reference(program, inputs)
    bound = 4 * max(ref.ends, default=0) + 10_000
    core = run_core(program, ref.dram_in, sim, folder, bound=bound, mutation=mutation)
    return Comparison(program, ref, core, divergences(program, ref, core))


def run_folder(name: str, sim: str, mutation: int = 0) -> Path:
    """rtl_tests/sim_build/npu_core/runs/<sim>-<name>[-m<mutation>] (one per program run)."""
    tag = f"{sim}-{name}" + (f"-m{mutation}" if mutation else "")
    return hdl.RTL_DIR.parent / "sim_build" / "npu_core" / "runs" / f"{tag}-{os.getpid()}"
