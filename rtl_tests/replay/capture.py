"""Run a ``Program`` through the simulator and keep, for every MatMul and Vector instruction,
the operands it read, the result it wrote and the cycles it took: the replay records.

The simulator is used as is: a ``Memory`` subclass remembers every operand view the
functional model asks for (``Memory.view`` gets the instruction index and the region, which
names its address field), and
each instruction's numerics are wrapped to copy those views just before and after they run.
The memory layout steps mirror ``simulator.api.run`` through its own helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator import api, isa
from simulator.footprint import Region
from simulator.functional import prepare
from simulator.memory import Memory
from simulator.program import Program
from simulator.timing import simulate, timed_ops

RTL_VFUNCS = {
    isa.VFunc.COPY,
    isa.VFunc.ADD,
    isa.VFunc.SUB,
    isa.VFunc.MAX,
    isa.VFunc.MIN,
    isa.VFunc.ADD_IMM,
    isa.VFunc.RELU,
    isa.VFunc.CLIP,
    isa.VFunc.NEG,
    isa.VFunc.ABS,
    isa.VFunc.REQUANT,
    isa.VFunc.REQUANT_BIAS,
    isa.VFunc.QADD,
    isa.VFunc.RSUM,
    isa.VFunc.RMAX,
    isa.VFunc.RMIN,
}
INT_DTYPES = {isa.DType.INT8, isa.DType.UINT8, isa.DType.INT32}


@dataclass
class Record:
    """One instruction as the simulator ran it."""

    index: int
    instr: isa.Instr
    operands: dict[str, np.ndarray]  # a, w, c (MatMul); src0, src1, src2 (Vector): before it
    # ran (src2: REQUANT_BIAS's scale words, the footprint's region at src1 + imm2)
    result: np.ndarray  # c or dst after it ran
    cycles: int  # end - start in the simulator's timing model


class RecordingMemory(Memory):
    """A Memory that remembers the view it hands out for each (instruction, field)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.views: dict[int, dict[str, np.ndarray]] = {}

    def view(self, region: Region, index: int, opcode: str) -> np.ndarray:
        view = super().view(region, index, opcode)
        self.views.setdefault(index, {})[region.field.removesuffix("_addr")] = view
        return view


def replayable(instr: isa.Instr) -> str | None:
    """None if the RTL units can run ``instr``, else why not."""
    if isinstance(instr, isa.MatMul):
        return None if instr.dtype == isa.DType.INT8 else "MatMul dtype is not int8"
    if isinstance(instr, isa.Vector):
        if instr.func not in {int(f) for f in RTL_VFUNCS}:
            return f"VFunc {isa.VFunc(instr.func).name} is not in the RTL vector unit"
        used = ["src0", "dst"] + (["src1"] if _uses_src1(instr) else [])
        if any(getattr(instr, f"{n}_dtype") not in {int(d) for d in INT_DTYPES} for n in used):
            return "a float operand"
        return None
    return "not a MatMul or Vector instruction"


def _uses_src1(instr: isa.Vector) -> bool:
    return isa.VFunc(instr.func).info.sources == 2


def capture(program: Program, inputs: dict[str, np.ndarray]) -> tuple[list[Record], dict]:
    """Simulate ``program``; the records of its replayable instructions and a skip summary."""
    config = program.config
    arrays = api.check_inputs(program, inputs)
    memory = RecordingMemory(config, api.dram_size(program))
    if program.constants:
        memory.write_bytes(program.const_base, program.constants, "the constant segment")
    for name, array in arrays.items():
        memory.write_bytes(program.tensors[name].addr, array.view(np.uint8).ravel(), name)
    instrs = program.instructions
    ops = prepare(instrs[:-1], memory, config)
    wanted = {i for i, instr in enumerate(instrs[:-1]) if replayable(instr) is None}
    before: dict[int, dict[str, np.ndarray]] = {}
    after: dict[int, np.ndarray] = {}

    def observed(index: int, run):
        def wrapper():
            views = memory.views[index]
            before[index] = {k: v.copy() for k, v in views.items()}
            run()
            after[index] = views["c" if "c" in views else "dst"].copy()

        return wrapper

    runs = [observed(i, op.run) if i in wanted else op.run for i, op in enumerate(ops)]
    starts, ends = simulate(timed_ops(instrs, config), runs, config)
    records = [
        _record(i, instrs[i], before[i], after[i], ends[i] - starts[i]) for i in sorted(wanted)
    ]
    skipped: dict[str, int] = {}
    for instr in instrs[:-1]:
        reason = replayable(instr)
        if reason and isinstance(instr, isa.MatMul | isa.Vector):
            skipped[reason] = skipped.get(reason, 0) + 1
    return records, skipped


def _record(index: int, instr: isa.Instr, views: dict, result: np.ndarray, cycles: int) -> Record:
    if isinstance(instr, isa.MatMul):
        w = views["w"].T if instr.w_transposed else views["w"]
        operands = {"a": views["a"], "w": np.ascontiguousarray(w), "c": views["c"]}
    else:
        operands = {"src0": views["src0"]}
        if _uses_src1(instr):
            operands["src1"] = views["src1"]
        if "imm2" in views:  # REQUANT_BIAS's third read
            operands["src2"] = views["imm2"]
    return Record(index, instr, operands, result, int(cycles))


def save(records: list[Record], path: Path) -> None:
    """Records as one .npz: instruction words (the ISA encoding) and operand arrays."""
    arrays = {}
    for n, rec in enumerate(records):
        arrays[f"{n}.word"] = np.frombuffer(isa.encode(rec.instr), dtype=np.uint8)
        arrays[f"{n}.meta"] = np.array([rec.index, rec.cycles], dtype=np.int64)
        arrays[f"{n}.result"] = rec.result
        for name, value in rec.operands.items():
            arrays[f"{n}.op.{name}"] = value
    np.savez(path, count=np.array(len(records)), **arrays)


def load(path: Path) -> list[Record]:
    with np.load(path) as data:
        out = []
        for n in range(int(data["count"])):
            index, cycles = (int(x) for x in data[f"{n}.meta"])
            prefix = f"{n}.op."
            operands = {k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)}
            instr = isa.decode(data[f"{n}.word"].tobytes(), index)
            out.append(Record(index, instr, operands, data[f"{n}.result"], cycles))
        return out
