"""Per-layer rows and run totals, from the compiler's layer records and the simulator's stats.

Roofline per layer (a "layer" is an ONNX node after fusion):
- compute cycles = MACs / (rows * cols); memory cycles = DRAM bytes / bytes_per_cycle;
- bound = "compute" when compute cycles >= memory cycles, else "memory";
- utilisation = MACs / (layer cycles * rows * cols), layer cycles from ``Stats.per_node``.

MACs are the layer's own work, as the compiler recorded it (the ONNX node's multiply-adds).
``executed_macs`` is what the array did for it, as the simulator counted: it also multiplies
the zero padding of partial tiles and, for depthwise tiles run on the array, the zeros of the
diagonal weight matrices, so it can be several times larger. Utilisation and the roofline use
the useful MACs; executed MACs (and the energy they cost) are reported beside them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from npu.footprint import scratchpad_peaks
from simulator import Program, Stats
from simulator.api import dram_size


@dataclass(frozen=True)
class LayerRow:
    name: str
    op: str
    tiling: str
    start: int
    end: int
    cycles: int
    macs: int
    executed_macs: int
    utilization: float
    dram_read_bytes: int
    dram_write_bytes: int
    compute_cycles: float
    memory_cycles: float
    bound: str
    busy: dict[str, int]
    energy_pj: float

    @property
    def dram_bytes(self) -> int:
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def busy_compute_cycles(self) -> int:
        """Cycles of the layer's span the matrix and vector units work (capped at the span)."""
        return min(self.cycles, self.busy.get("matrix", 0) + self.busy.get("vector", 0))

    @property
    def stall_cycles(self) -> int:
        """Cycles of the layer's span with no compute unit working: waiting on memory."""
        return self.cycles - self.busy_compute_cycles

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dram_bytes"] = self.dram_bytes
        d["busy_compute_cycles"] = self.busy_compute_cycles
        d["stall_cycles"] = self.stall_cycles
        return d


def layer_rows(program: Program, stats: Stats) -> list[LayerRow]:
    """One row per layer, in program order; nodes without a compiler record come last."""
    records = {layer["name"]: layer for layer in program.layers}
    names = [layer["name"] for layer in program.layers if layer["name"] in stats.per_node]
    names += [n for n in stats.per_node if n and n not in records]
    return [_row(name, records.get(name, {}), stats, program) for name in names]


def _row(name: str, record: dict, stats: Stats, program: Program) -> LayerRow:
    node = stats.per_node[name]
    cfg = program.config
    peak = cfg.array.rows * cfg.array.cols
    dram = node.dram_read_bytes + node.dram_write_bytes
    macs = int(record.get("macs", node.macs))
    compute = macs / peak
    memory = dram / cfg.dram.bytes_per_cycle
    return LayerRow(
        name=name,
        op=str(record.get("op", "")),
        tiling=str(record.get("tiling", "")),
        start=node.start,
        end=node.end,
        cycles=node.cycles,
        macs=macs,
        executed_macs=node.macs,
        utilization=macs / (node.cycles * peak) if node.cycles else 0.0,
        dram_read_bytes=node.dram_read_bytes,
        dram_write_bytes=node.dram_write_bytes,
        compute_cycles=compute,
        memory_cycles=memory,
        bound="compute" if compute >= memory else "memory",
        busy=dict(node.busy),
        energy_pj=node.energy_pj,
    )


def totals(program: Program, stats: Stats, rows: list[LayerRow]) -> dict:
    """The run's headline numbers (the ``totals`` object of the JSON report); ``rows`` are
    ``layer_rows(program, stats)``, whose MACs it sums."""
    seconds = stats.seconds
    peaks = scratchpad_peaks(program)
    macs = sum(row.macs for row in rows)
    peak = program.config.array.rows * program.config.array.cols
    cycles = stats.total_cycles
    return {
        "cycles": stats.total_cycles,
        "clock_mhz": stats.clock_mhz,
        "time_s": seconds,
        "inferences_per_s": 1.0 / seconds if seconds else None,
        "macs": macs,
        "executed_macs": stats.macs,
        "array_utilization": macs / (cycles * peak) if cycles else 0.0,
        "energy_uj": stats.energy_pj["total"] / 1e6,
        "area_mm2": program.config.area_mm2(),
        "dram_read_bytes": stats.dram_read_bytes,
        "dram_write_bytes": stats.dram_write_bytes,
        "peak_dram_bytes": dram_size(program),
        "peak_scratchpad_bytes": sum(peaks.values()),
        "scratchpad_peaks": peaks,
        "instructions": sum(stats.instructions.values()),
    }
