"""Statistics of one run: cycles, busy time, MACs, traffic, energy, per ONNX node.

Counting rules (each instruction is accounted once, then summed globally and per node):
- ``dram_read_bytes`` / ``dram_write_bytes``: what the DRAM moves for LOAD / STORE, each
  contiguous run rounded up to whole bursts (``cost.dma_dram_bytes``).
- ``sram_reads`` / ``sram_writes`` (bytes per scratchpad): the bytes of the regions of each
  instruction's footprint (``simulator.footprint``): a LOAD writes its whole box (padding
  included); a STORE reads its window; a GATHER or SCATTER also reads its index words; a
  VECTOR reads each source box (a SELECT, a masked write, its dst too) and writes its dst box.
  A MATMUL's array re-reads operands: in weight-stationary order it reads W once, A once per
  column fold and its C tile once per row fold (partial sums; plus once more when
  accumulating) and writes C once per row fold; output-stationary reads A once per column
  fold, W once per row fold, writes C once.
- ``energy_pj``: MACs (at their operand type's rate), vector lane-operations (elements x
  the function's cycles), SRAM bytes read and written (at each scratchpad's size), DRAM bytes,
  at ``config.tech_nm`` (``simulator.tech``; docs/energy_area.md).
- ``busy``: the cycles each unit spent executing instructions (DMA includes its latency).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from math import ceil
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from simulator import tech
from simulator.config import NpuConfig
from simulator.decode import Distinct, distinct
from simulator.footprint import DRAM, Footprint, footprint
from simulator.isa import DType, Gather, Instr, Load, MatMul, Scatter, Store, Unit, Vector, VFunc
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
    mac_kind: int = 0  # the operand type of the MACs: an index into MAC_KINDS


def _sram(regions) -> tuple[int, int, int]:
    """Bytes accessed per scratchpad by ``regions`` (DRAM regions are not counted)."""
    out = [0, 0, 0]
    for region in regions:
        if region.mem != DRAM:
            out[region.mem] += region.nbytes
    return tuple(out)


def _instr_cost(instr: Instr, config: NpuConfig, traffic: int) -> _Cost:
    """``traffic``: the DRAM bytes of a DMA (``cost.dma_dram_bytes``), computed by the caller.

    SRAM bytes are those of the instruction's footprint, but for a MatMul, whose array reads
    its operands once per fold (``_matmul_cost``)."""
    reads, writes = fp = footprint(instr)
    if isinstance(instr, MatMul):
        return _matmul_cost(instr, fp, config)
    dram_read = traffic if any(r.mem == DRAM for r in reads) else 0
    dram_write = traffic if any(r.mem == DRAM for r in writes) else 0
    ops = 0
    if isinstance(instr, Vector):
        ops = instr.n0 * instr.n1 * instr.n2 * VFunc(instr.func).info.cycles
    return _Cost(0, dram_read, dram_write, _sram(reads), _sram(writes), ops)


def _matmul_cost(instr: MatMul, fp: Footprint, config: NpuConfig) -> _Cost:
    (a, w, *_), (c,) = fp
    r, cols = config.array.rows, config.array.cols
    m, k, n = instr.m, instr.k, instr.n
    col_folds = ceil(n / cols)
    if config.array.dataflow == "weight_stationary":
        row_folds = ceil(k / r)
        reads = (a.nbytes * col_folds, w.nbytes, c.nbytes * (row_folds - 1 + instr.accumulate))
        writes = (0, 0, c.nbytes * row_folds)
    else:
        reads = (a.nbytes * col_folds, w.nbytes * ceil(m / r), c.nbytes * instr.accumulate)
        writes = (0, 0, c.nbytes)
    kind = MAC_KINDS.index(_MAC_KIND[a.dtype])
    return _Cost(m * k * n, sram_read=reads, sram_write=writes, mac_kind=kind)


MAC_KINDS = tuple(tech.MAC_PARTS)  # int8, fp16, bf16, fp32
_MAC_KIND = {
    DType.INT8: "int8",
    DType.UINT8: "int8",
    DType.FP16: "fp16",
    DType.BF16: "bf16",
    DType.FP32: "fp32",
}


def collect(
    instrs: list[Instr],
    units: list[int],
    starts: list[int],
    ends: list[int],
    nodes: list[str],
    traffic: list[int],
    config: NpuConfig,
    shapes: Distinct | None = None,
) -> Stats:
    """Sum every instruction's counters globally and per source node (``nodes[i]``).

    ``traffic[i]`` is instruction i's DRAM bytes (``cost.dma_dram_bytes``; 0 unless a DMA);
    ``shapes``: ``decode.distinct`` of the instructions, if known. Counters come from one
    ``_Cost`` per distinct instruction shape, summed with numpy; float energies are summed in
    instruction order (cumsum, bincount), as one running total would.
    """
    n = len(units)
    body = instrs[:n]
    shapes = shapes or distinct(body)
    ids = np.array(shapes.ids, dtype=np.intp)
    firsts = [body[i] for i in shapes.first]
    rows = _cost_rows(firsts, [traffic[i] for i in shapes.first], config)[ids]
    energy = _energy_columns(rows, config)
    unit = np.array(units, dtype=np.int64)
    start = np.array(starts[:n], dtype=np.int64)
    end = np.array(ends[:n], dtype=np.int64)
    busy = np.bincount(unit, weights=end - start, minlength=4)
    totals = rows.sum(axis=0) if n else np.zeros(_COLUMNS, dtype=np.int64)
    sums = [float(np.cumsum(e)[-1]) if n else 0.0 for e in energy]
    per_node = _per_node(nodes[:n], unit, start, end, rows, energy)
    per_class = Counter()
    for instr, count in zip(firsts, np.bincount(ids, minlength=len(firsts)).tolist(), strict=True):
        per_class[type(instr)] += count
    counts = Counter()
    for cls, count in per_class.items():
        counts[cls.OPCODE.name] += count
    return _finish(totals, busy, sums, counts, max(ends, default=0), per_node, config)


_COLUMNS = 11  # macs, dram_read, dram_write, sram_read x3, sram_write x3, vector_ops, mac kind


def _cost_rows(instrs: list[Instr], traffic: list[int], config: NpuConfig) -> np.ndarray:
    """(n, _COLUMNS) int64 counters, computed once per distinct (shape fields, traffic)."""
    memo: dict[tuple, int] = {}
    table = []
    which = []
    for instr, dram in zip(instrs, traffic, strict=True):
        cls = type(instr)
        key = (cls, _SHAPE_FIELDS[cls](instr), dram)
        r = memo.get(key)
        if r is None:
            r = memo[key] = len(table)
            c = _instr_cost(instr, config, dram)
            row = (
                c.macs,
                c.dram_read,
                c.dram_write,
                *c.sram_read,
                *c.sram_write,
                c.vector_ops,
                c.mac_kind,
            )
            table.append(row)
        which.append(r)
    rows = np.array(table, dtype=np.int64).reshape(len(table), _COLUMNS)
    return rows[np.array(which, dtype=np.intp)]


def _fields(*names: str):
    return attrgetter(*names) if names else (lambda instr: ())


_WINDOW = ("n0", "n1", "n2", "lo0", "hi0", "lo1", "hi1", "lo2", "hi2")
_SHAPE_FIELDS = defaultdict(
    _fields,
    {
        Load: _fields("sp", "esize_log2", "n0", "n1", "n2"),
        Store: _fields("sp", "esize_log2", *_WINDOW),
        Gather: _fields("sp", "esize_log2", *_WINDOW, "idx_sp", "idx_esize_log2"),
        Scatter: _fields("sp", "esize_log2", *_WINDOW, "idx_sp", "idx_esize_log2"),
        MatMul: _fields("dtype", "accumulate", "m", "k", "n"),
        Vector: _fields(
            "func", "n0", "n1", "n2", "src0_sp", "src0_dtype", "src1_sp", "src1_dtype",
            "dst_sp", "dst_dtype",
        ),
    },
)  # fmt: skip


def _energy_columns(rows: np.ndarray, config: NpuConfig) -> list[np.ndarray]:
    """Per-instruction energy in pJ per ``ENERGY_KEYS`` entry, at the config's technology node
    (``simulator.tech.energies``): MACs by operand type, SRAM bytes by scratchpad size."""
    e = tech.energies(config)
    mac_pj = np.array([e.mac[kind] for kind in MAC_KINDS])[rows[:, 10]]
    rd, wr = e.sram_read_per_byte, e.sram_write_per_byte
    return [
        rows[:, 0] * mac_pj,
        rows[:, 9] * e.vector_op,
        rows[:, 3] * rd[0] + rows[:, 4] * rd[1] + rows[:, 5] * rd[2],
        rows[:, 6] * wr[0] + rows[:, 7] * wr[1] + rows[:, 8] * wr[2],
        (rows[:, 1] + rows[:, 2]) * e.dram_per_byte,
    ]


def _per_node(nodes, unit, start, end, rows, energy) -> dict[str, NodeStats]:
    """One ``NodeStats`` per node name, in order of first appearance."""
    ids = {name: k for k, name in enumerate(dict.fromkeys(nodes))}
    node = np.array(list(map(ids.__getitem__, nodes)), dtype=np.int64)
    k = len(ids)
    first = np.full(k, np.iinfo(np.int64).max)
    last = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, node, start)
    np.maximum.at(last, node, end)
    busy = np.zeros((k, 4))
    np.add.at(busy, (node, unit), end - start)
    total = energy[0] + energy[1] + energy[2] + energy[3] + energy[4]

    def column(values) -> list:
        return np.bincount(node, weights=values, minlength=k).tolist()

    macs, reads, writes = column(rows[:, 0]), column(rows[:, 1]), column(rows[:, 2])
    count, joules = np.bincount(node, minlength=k).tolist(), column(total)
    out = {}
    for name, j in ids.items():
        s, e = int(first[j]), int(last[j])
        out[name] = NodeStats(
            start=s,
            end=e,
            cycles=e - s,
            busy=dict(zip(UNIT_NAMES, (int(b) for b in busy[j]), strict=True)),
            macs=int(macs[j]),
            dram_read_bytes=int(reads[j]),
            dram_write_bytes=int(writes[j]),
            instructions=count[j],
            energy_pj=joules[j],
        )
    return out


def _finish(totals, busy, energy, counts, total: int, per_node, config: NpuConfig) -> Stats:
    energy_pj = dict(zip(ENERGY_KEYS, energy, strict=True))
    energy_pj["total"] = sum(energy)
    busy = dict(zip(UNIT_NAMES, (int(b) for b in busy), strict=True))
    macs = int(totals[0])
    peak = total * config.peak_macs_per_cycle
    return Stats(
        total_cycles=total,
        clock_mhz=config.clock_mhz,
        timing=config.timing,
        config_fingerprint=config.fingerprint(),
        busy=busy,
        utilization={u: (b / total if total else 0.0) for u, b in busy.items()},
        macs=macs,
        array_utilization=macs / peak if peak else 0.0,
        dram_read_bytes=int(totals[1]),
        dram_write_bytes=int(totals[2]),
        sram_reads=dict(zip(SP_NAMES, (int(v) for v in totals[3:6]), strict=True)),
        sram_writes=dict(zip(SP_NAMES, (int(v) for v in totals[6:9]), strict=True)),
        energy_pj=energy_pj,
        instructions=dict(sorted(counts.items())),
        per_node=per_node,
    )
