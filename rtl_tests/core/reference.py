"""The simulator's side of an RTL check: what ``npu_core`` must reproduce for a program.

``reference(program, inputs)`` runs the Python simulator twice over the same memories:

- as is (``simulator.timing``), for the total cycles the RTL is measured against (error %);
- with the core's issue cycle: ``npu_core`` sees the done of the systolic array, the vector
  unit or a Sync one cycle after the unit's last edge and starts the next instruction there,
  so those occupy their unit ``cost() + 1`` cycles (the DMA engines raise done one edge
  early, so a DMA takes the simulator's time, shared bandwidth included). That timing,
  computed by the same event loop, is what the RTL's per-instruction start and end cycles
  must equal exactly; the numerics run in it, and after each instruction's numerics the hash
  of the regions it writes (``simulator.footprint``) is taken, as the core takes it at
  completion (``region_hash`` in ``rtl_tests/rtl/npu_core_ctrl.vh``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import api
from simulator.footprint import Region, footprint
from simulator.functional import prepare
from simulator.isa import Sync
from simulator.memory import Memory
from simulator.program import Program
from simulator.timing import DMA_UNITS, simulate_columns, timed_columns

_MASK = np.uint64(0xFFFFFFFF)


@dataclass
class Reference:
    dram_in: np.ndarray  # DRAM bytes before the run (constants and inputs)
    dram_out: np.ndarray  # DRAM bytes after it
    outputs: dict[str, np.ndarray]  # the program's outputs, raw bytes per tensor
    cycles: int  # total cycles of the simulator as is
    starts: list[int]  # per instruction, with the core's issue cycle
    ends: list[int]
    hashes: list[int]  # per instruction: hash of what it wrote


def region_hash(memory: Memory, region: Region) -> int:
    """Sum over the region's elements of mix(byte address, value) mod 2**32 (as the RTL)."""
    mem, addr, shape, strides, _, esize, _ = region
    if not shape or 0 in shape:
        return 0
    index = np.indices(shape).reshape(len(shape), -1).astype(np.int64)
    offsets = (np.asarray(strides, dtype=np.int64)[:, None] * index).sum(axis=0)
    where = (addr + esize * offsets).astype(np.uint64)
    buf = memory.buffers[mem]
    value = np.zeros(where.shape, dtype=np.uint64)
    for b in range(min(esize, 4)):
        value |= buf[(where + np.uint64(b)).astype(np.int64)].astype(np.uint64) << np.uint64(8 * b)
    if esize > 4:
        high = np.zeros_like(value)
        for b in range(4):
            byte = buf[(where + np.uint64(4 + b)).astype(np.int64)].astype(np.uint64)
            high |= byte << np.uint64(8 * b)
        value ^= high
    key = (where & _MASK) * np.uint64(0x9E3779B1) & _MASK
    mixed = (key ^ ((value + np.uint64(0x7F4A7C15)) & _MASK)) * np.uint64(0x85EBCA77) & _MASK
    return int(mixed.sum(dtype=np.uint64) & _MASK)


def initial_memory(program: Program, inputs: dict[str, np.ndarray]) -> Memory:
    arrays = api.check_inputs(program, inputs)
    memory = Memory(program.config, api.dram_size(program))
    if program.constants:
        memory.write_bytes(program.const_base, program.constants, "the constant segment")
    for name, array in arrays.items():
        memory.write_bytes(program.tensors[name].addr, array.view(np.uint8).ravel(), name)
    return memory


def reference(program: Program, inputs: dict[str, np.ndarray]) -> Reference:
    config = program.config
    instrs = program.instructions
    body = instrs[:-1]
    plain = timed_columns(instrs, config)
    starts, ends = simulate_columns(plain, [None] * len(body), config)
    memory = initial_memory(program, inputs)
    dram_in = memory.dram.copy()
    ops = prepare(body, memory, config)
    hashes = [0] * len(body)
    writes = [footprint(instr).writes for instr in body]

    def observed(i: int, run):
        def step():
            if run is not None:
                run()
            hashes[i] = sum(region_hash(memory, r) for r in writes[i]) & 0xFFFFFFFF

        return step

    runs = [observed(i, op.run) for i, op in enumerate(ops)]
    cycles = [
        c + (isinstance(instr, Sync) or u not in DMA_UNITS)
        for instr, u, c in zip(body, plain.unit, plain.cycles, strict=True)
    ]
    with np.errstate(all="ignore"):
        s1, e1 = simulate_columns(plain._replace(cycles=cycles), runs, config)
    outputs = {}
    for name in program.outputs:
        info = program.tensors[name]
        outputs[name] = memory.dram[info.addr : info.addr + info.nbytes].copy()
    return Reference(
        dram_in=dram_in,
        dram_out=memory.dram.copy(),
        outputs=outputs,
        cycles=max(ends, default=0),
        starts=list(s1),
        ends=list(e1),
        hashes=hashes,
    )
