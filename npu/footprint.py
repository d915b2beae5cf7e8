"""How much of each scratchpad a program uses: the highest byte any instruction addresses."""

from __future__ import annotations

from simulator import Program
from simulator.decode import distinct
from simulator.footprint import DRAM, footprint
from simulator.isa import Scratchpad

NAMES = {sp: sp.name.lower() for sp in Scratchpad}


def scratchpad_peaks(program: Program) -> dict[str, int]:
    """Bytes from address 0 to the highest byte addressed, per scratchpad (input, weight, acc):
    the ends of the regions of every instruction's footprint (``simulator.footprint``)."""
    ends = [0, 0, 0]
    instrs = program.instructions
    for i in distinct(instrs).first:
        reads, writes = footprint(instrs[i])
        for region in (*reads, *writes):
            if region.mem != DRAM and region.elements:
                ends[region.mem] = max(ends[region.mem], region.extent()[1])
    return {NAMES[sp]: ends[sp] for sp in Scratchpad}
