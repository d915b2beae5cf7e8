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
    device: str = "npu"  # "host": a host partition, its cycles the [host] estimate
    wall_s: float | None = None  # a host partition's measured onnxruntime time

    @property
    def dram_bytes(self) -> int:
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def busy_compute_cycles(self) -> int:
        """Cycles of the layer's span the matrix and vector units work (capped at the span)."""
        return min(self.cycles, self.busy.get("matrix", 0) + self.busy.get("vector", 0))

    @property
    def stall_cycles(self) -> int:
        """Cycles of the layer's span with no compute unit working: waiting on memory (0 for a
        host partition: the NPU is not running it)."""
        return self.cycles - self.busy_compute_cycles if self.device == "npu" else 0

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


def totals(config, programs: list[Program], stats: Stats, rows: list[LayerRow]) -> dict:
    """The run's headline numbers (the ``totals`` object of the JSON report); ``programs``
    are the NPU programs run one after the other (one unless the model has host partitions,
    each then occupying memory alone), ``rows`` their layers and the host partitions'."""
    seconds = stats.seconds
    peaks = _max_peaks([scratchpad_peaks(p) for p in programs])
    npu_rows = [row for row in rows if row.device == "npu"]
    host_rows = [row for row in rows if row.device == "host"]
    macs = sum(row.macs for row in rows)
    npu_macs = sum(row.macs for row in npu_rows)
    peak = config.array.rows * config.array.cols
    cycles = stats.total_cycles
    host_cycles = sum(row.cycles for row in host_rows)
    return {
        "cycles": cycles,
        "clock_mhz": stats.clock_mhz,
        "time_s": seconds,
        "inferences_per_s": 1.0 / seconds if seconds else None,
        "macs": macs,
        "executed_macs": stats.macs,
        "array_utilization": npu_macs / (cycles * peak) if cycles else 0.0,
        "energy_uj": stats.energy_pj["total"] / 1e6,
        "area_mm2": config.area_mm2(),
        "dram_read_bytes": stats.dram_read_bytes,
        "dram_write_bytes": stats.dram_write_bytes,
        "peak_dram_bytes": max((dram_size(p) for p in programs), default=0),
        "peak_scratchpad_bytes": sum(peaks.values()),
        "scratchpad_peaks": peaks,
        "instructions": sum(stats.instructions.values()),
        "npu_macs": npu_macs,
        "npu_mac_share": npu_mac_share(npu_macs, macs),
        "npu_cycles": cycles - host_cycles,
        "host_cycles": host_cycles,
        "host_wall_s": sum(row.wall_s or 0.0 for row in host_rows),
        "host_transfer_bytes": sum(row.dram_bytes for row in host_rows),
        "host_partitions": len(host_rows),
    }


def npu_mac_share(npu_macs: int, macs: int) -> float:
    """MACs on the NPU / all the model's MACs (1.0 for a model without MACs)."""
    return npu_macs / macs if macs else 1.0


def _max_peaks(peaks: list[dict[str, int]]) -> dict[str, int]:
    names = dict.fromkeys(name for p in peaks for name in p)
    return {name: max(p.get(name, 0) for p in peaks) for name in names}
