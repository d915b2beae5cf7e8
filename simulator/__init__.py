"""The NPU hardware model: config, ISA, cost model, program file and the simulator.

Public API::

    run(program, inputs, *, checked=False, trace=False) -> SimResult
    save_program(program, path), load_program(path) -> Program
    program_to_bytes(program) -> bytes, program_from_bytes(blob) -> Program
"""

from simulator.api import SimResult, run
from simulator.program import (
    Program,
    TensorInfo,
    load_program,
    program_from_bytes,
    program_to_bytes,
    save_program,
)
from simulator.stats import NodeStats, Stats

__all__ = [
    "NodeStats",
    "Program",
    "SimResult",
    "Stats",
    "TensorInfo",
    "load_program",
    "program_from_bytes",
    "program_to_bytes",
    "run",
    "save_program",
]
