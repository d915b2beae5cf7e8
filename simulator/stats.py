"""Statistics of one run: cycles, busy time, MACs, traffic, energy, per ONNX node.

Counting rules (each instruction is accounted once, then summed globally and per node):
- ``dram_read_bytes`` / ``dram_write_bytes``: what the DRAM moves for LOAD / STORE, each
  contiguous run rounded up to whole bursts (``cost.dma_dram_bytes``).
- ``sram_reads`` / ``sram_writes`` (bytes per scratchpad): a LOAD writes its whole box (padding
  included); a STORE reads its window; a VECTOR reads each source box and writes its dst box.
  A MATMUL in weight-stationary order reads W once, A once per column fold and its C tile once
  per row fold (partial sums; plus once more when accumulating) and writes C once per row fold;
  output-stationary reads A once per column fold, W once per row fold, writes C once.
- ``energy_pj``: MACs (int8 or fp32 rate by operand type), vector lane-operations (elements x
  the function's cycles), SRAM bytes read and written, DRAM bytes, from ``config.energy``.
- ``busy``: the cycles each unit spent executing instructions (DMA includes its latency).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import ceil
from typing import NamedTuple

from simulator.config import NpuConfig
from simulator.cost import dma_payload_bytes
from simulator.isa import DType, Instr, Load, MatMul, Store, Unit, Vector, VFunc
from simulator.memory import MEM_NAMES

UNIT_NAMES = tuple(u.name.lower() for u in Unit)
SP_NAMES = MEM_NAMES[:3]
ENERGY_KEYS = ("mac", "vector", "sram_read", "sram_write", "dram")


@dataclass
class NodeStats:
    start: int = 0
    end: int = 0
    cycles: int = 0
    busy: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UNIT_NAMES, 0))
    macs: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    instructions: int = 0
    energy_pj: float = 0.0


@dataclass
class Stats:
    total_cycles: int
    clock_mhz: float
    timing: str
    config_fingerprint: str
    busy: dict[str, int]
    utilization: dict[str, float]
    macs: int
    array_utilization: float
    dram_read_bytes: int
    dram_write_bytes: int
    sram_reads: dict[str, int]
    sram_writes: dict[str, int]
    energy_pj: dict[str, float]
    instructions: dict[str, int]
    per_node: dict[str, NodeStats]

    @property
    def seconds(self) -> float:
        return self.total_cycles / (self.clock_mhz * 1e6)

    def to_dict(self) -> dict:
        """JSON-serialisable, with a fixed key order."""
        d = asdict(self)
        d["seconds"] = self.seconds
        return d


class _Cost(NamedTuple):
    """What one instruction adds to the counters."""

    macs: int = 0
    dram_read: int = 0
    dram_write: int = 0
    sram_read: tuple[int, int, int] = (0, 0, 0)
    sram_write: tuple[int, int, int] = (0, 0, 0)
    vector_ops: int = 0  # lane operations: elements x the function's cycles
    float_macs: bool = False


def _sp(sp: int, nbytes: int) -> tuple[int, int, int]:
    out = [0, 0, 0]
    out[sp] += nbytes
    return tuple(out)


def _instr_cost(instr: Instr, config: NpuConfig, traffic: int) -> _Cost:
    """``traffic``: the DRAM bytes of a DMA (``cost.dma_dram_bytes``), computed by the caller."""
    if isinstance(instr, Load):
        n = instr.n0 * instr.n1 * instr.n2 * instr.esize
        return _Cost(dram_read=traffic, sram_write=_sp(instr.sp, n))
    if isinstance(instr, Store):
        n = dma_payload_bytes(instr)
        return _Cost(dram_write=traffic, sram_read=_sp(instr.sp, n))
    if isinstance(instr, MatMul):
        return _matmul_cost(instr, config)
    if isinstance(instr, Vector):
        return _vector_cost(instr)
    return _NOTHING


_NOTHING = _Cost()


def _matmul_cost(instr: MatMul, config: NpuConfig) -> _Cost:
    r, c = config.array.rows, config.array.cols
    m, k, n = instr.m, instr.k, instr.n
    dtype = DType(instr.dtype)
    es = dtype.size
    col_folds = ceil(n / c)
    if config.array.dataflow == "weight_stationary":
        row_folds = ceil(k / r)
        reads = (m * k * es * col_folds, k * n * es, m * n * 4 * (row_folds - 1 + instr.accumulate))
        writes = (0, 0, m * n * 4 * row_folds)
    else:
        reads = (m * k * es * col_folds, k * n * es * ceil(m / r), m * n * 4 * instr.accumulate)
        writes = (0, 0, m * n * 4)
    return _Cost(m * k * n, sram_read=reads, sram_write=writes, float_macs=dtype.is_float)


def _vector_cost(instr: Vector) -> _Cost:
    func = VFunc(instr.func)
    elems = instr.n0 * instr.n1 * instr.n2
    reads = _sp(instr.src0_sp, elems * DType(instr.src0_dtype).size)
    if func.info.kind == "binary" or func == VFunc.REQUANT:
        more = _sp(instr.src1_sp, elems * DType(instr.src1_dtype).size)
        reads = tuple(a + b for a, b in zip(reads, more, strict=True))
    out_elems = instr.n0 * instr.n1 if func.info.kind == "reduce" else elems
    writes = _sp(instr.dst_sp, out_elems * DType(instr.dst_dtype).size)
    return _Cost(sram_read=reads, sram_write=writes, vector_ops=elems * func.info.cycles)


def _energy(c: _Cost, config: NpuConfig) -> tuple[float, ...]:
    """Energy in pJ per ``ENERGY_KEYS`` entry."""
    e = config.energy
    return (
        c.macs * (e.mac_fp32_pj if c.float_macs else e.mac_int8_pj),
        c.vector_ops * e.vector_op_pj,
        sum(c.sram_read) * e.sram_read_pj_per_byte,
        sum(c.sram_write) * e.sram_write_pj_per_byte,
        (c.dram_read + c.dram_write) * e.dram_pj_per_byte,
    )


def collect(
    instrs: list[Instr],
    units: list[int],
    starts: list[int],
    ends: list[int],
    nodes: list[str],
    traffic: list[int],
    config: NpuConfig,
) -> Stats:
    """Sum every instruction's counters globally and per source node (``nodes[i]``).

    ``traffic[i]`` is instruction i's DRAM bytes (``cost.dma_dram_bytes``; 0 unless a DMA).
    """
    acc = _Totals()
    per_node: dict[str, NodeStats] = {}
    for i, instr in enumerate(instrs[: len(units)]):
        c = _instr_cost(instr, config, traffic[i])
        energy = _energy(c, config)
        acc.add(instr, units[i], ends[i] - starts[i], c, energy)
        node = per_node.get(nodes[i])
        if node is None:
            node = per_node[nodes[i]] = NodeStats(start=starts[i], end=ends[i])
        _add_node(node, units[i], starts[i], ends[i], c, energy)
    return acc.finish(max(ends, default=0), per_node, config)


def _add_node(node: NodeStats, unit: int, start: int, end: int, c: _Cost, energy) -> None:
    node.start = min(node.start, start)
    node.end = max(node.end, end)
    node.cycles = node.end - node.start
    node.busy[UNIT_NAMES[unit]] += end - start
    node.macs += c.macs
    node.dram_read_bytes += c.dram_read
    node.dram_write_bytes += c.dram_write
    node.instructions += 1
    node.energy_pj += sum(energy)


class _Totals:
    def __init__(self):
        self.busy = [0] * 4
        self.macs = self.dram_read = self.dram_write = 0
        self.sram_read = [0, 0, 0]
        self.sram_write = [0, 0, 0]
        self.energy = [0.0] * len(ENERGY_KEYS)
        self.instructions: dict[str, int] = {}

    def add(self, instr: Instr, unit: int, busy: int, c: _Cost, energy: tuple) -> None:
        self.busy[unit] += busy
        if c is _NOTHING:
            energy = ()
        else:
            self.macs += c.macs
            self.dram_read += c.dram_read
            self.dram_write += c.dram_write
            for sp in range(3):
                self.sram_read[sp] += c.sram_read[sp]
                self.sram_write[sp] += c.sram_write[sp]
        for k, value in enumerate(energy):
            self.energy[k] += value
        name = instr.OPCODE.name
        self.instructions[name] = self.instructions.get(name, 0) + 1

    def finish(self, total: int, per_node: dict[str, NodeStats], config: NpuConfig) -> Stats:
        energy = dict(zip(ENERGY_KEYS, self.energy, strict=True))
        energy["total"] = sum(self.energy)
        busy = dict(zip(UNIT_NAMES, self.busy, strict=True))
        peak = total * config.peak_macs_per_cycle
        return Stats(
            total_cycles=total,
            clock_mhz=config.clock_mhz,
            timing=config.timing,
            config_fingerprint=config.fingerprint(),
            busy=busy,
            utilization={u: (b / total if total else 0.0) for u, b in busy.items()},
            macs=self.macs,
            array_utilization=self.macs / peak if peak else 0.0,
            dram_read_bytes=self.dram_read,
            dram_write_bytes=self.dram_write,
            sram_reads=dict(zip(SP_NAMES, self.sram_read, strict=True)),
            sram_writes=dict(zip(SP_NAMES, self.sram_write, strict=True)),
            energy_pj=energy,
            instructions=dict(sorted(self.instructions.items())),
            per_node=per_node,
        )
