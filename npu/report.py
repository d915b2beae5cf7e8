"""The profile of one run, in one object that every report format renders."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.check import OutputCheck
from compiler.partition import Partitioned
from npu.analysis import LayerRow, layer_rows, totals
from simulator import Program, Stats


@dataclass
class Report:
    model: str
    program: Program | Partitioned
    stats: Stats  # of the NPU partitions, on one timeline with the host's (npu.partition_profile)
    layers: list[LayerRow]
    totals: dict
    compile_s: float | None
    simulate_s: float
    inputs_source: str  # "IN.npz path" or "random (seed N)"
    checks: list[OutputCheck] | None  # None: not checked (see check_note)
    check_note: str = ""
    host: list[dict] = field(default_factory=list)  # partition_profile.host_partitions

    @property
    def config(self):
        return self.program.config

    @property
    def programs(self) -> list[Program]:
        """The NPU programs (more than one when the model has host partitions between them)."""
        if isinstance(self.program, Partitioned):
            return [s.program for s in self.program.segments if s.program is not None]
        return [self.program]

    @property
    def check_passed(self) -> bool | None:
        return None if self.checks is None else all(c.passed for c in self.checks)


def build_report(model: str, program: Program, stats: Stats, **kw) -> Report:
    rows = layer_rows(program, stats)
    return Report(
        model=model,
        program=program,
        stats=stats,
        layers=rows,
        totals=totals(program.config, [program], stats, rows),
        **kw,
    )
