"""The profile of one run, in one object that every report format renders."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.check import OutputCheck
from npu.analysis import LayerRow, layer_rows, totals
from simulator import Program, Stats


@dataclass
class Report:
    model: str
    program: Program
    stats: Stats
    layers: list[LayerRow]
    totals: dict
    compile_s: float | None
    simulate_s: float
    inputs_source: str  # "IN.npz path" or "random (seed N)"
    checks: list[OutputCheck] | None  # None: not checked (see check_note)
    check_note: str = ""

    @property
    def config(self):
        return self.program.config

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
        totals=totals(program, stats, rows),
        **kw,
    )
