"""What every lowering function gets: the graph, the config, the emitter, DRAM placements and
the constant pool; plus DMA and vector instruction builders shared by the lowerings."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.emit import Emitter
from compiler.ir import Graph, Node, TensorType
from compiler.scratch import Scratch
from simulator.config import NpuConfig
from simulator.isa import DType, Load, Scratchpad, Store, Vector, VFunc, construct

DTYPES = {"float32": DType.FP32, "int8": DType.INT8, "uint8": DType.UINT8, "int32": DType.INT32}
ESIZE_LOG2 = {1: 0, 2: 1, 4: 2, 8: 3}


@dataclass(frozen=True)
class Storage:
    """How a tensor's DRAM elements meet the vector unit: the vector dtype, the DMA element
    size, and DMA elements per tensor element (2 for int64: a load reads each element's low
    word, so the vector unit computes int64 tensors in int32, wrapping; a store writes the
    low word and its sign as the high word)."""

    dtype: DType
    esize: int
    step: int = 1


STORAGE = {
    "float32": Storage(DType.FP32, 4),
    "int32": Storage(DType.INT32, 4),
    "int64": Storage(DType.INT32, 4, 2),
    "bool": Storage(DType.UINT8, 1),
    "int8": Storage(DType.INT8, 1),
    "uint8": Storage(DType.UINT8, 1),
}


def storage(dtype: str) -> Storage:
    return STORAGE[dtype]


@dataclass(frozen=True)
class Place:
    """Where a tensor lives in DRAM: byte address of element 0, element strides per logical
    axis, and the storage key the dependency tracker uses."""

    addr: int
    strides: tuple[int, ...]
    key: str
    itemsize: int


class ConstPool:
    """The constant segment: deduplicated, 64-byte aligned arrays (found by length and
    CRC-32, then compared byte for byte)."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.blob = bytearray()
        self._seen: dict[tuple, list[int]] = {}

    def add(self, array: np.ndarray) -> int:
        data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        key = (data.size, zlib.crc32(data), str(array.dtype))
        for off in self._seen.get(key, []):
            held = np.frombuffer(self.blob, np.uint8, data.size, off)
            same = np.array_equal(held, data)
            del held  # a live view would pin the bytearray's size
            if same:
                return self.base + off
        self.blob.extend(b"\0" * (-len(self.blob) % 64))
        self._seen.setdefault(key, []).append(len(self.blob))
        self.blob.extend(data)
        return self.base + self._seen[key][-1]


@dataclass
class Ctx:
    graph: Graph
    config: NpuConfig
    em: Emitter
    places: dict[str, Place]
    consts: ConstPool
    layers: list[dict[str, Any]] = field(default_factory=list)
    clobbers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plans: dict = field(default_factory=dict)  # tile plans by layer shape (layers repeat)
    scratch: Scratch = None  # the scratchpad allocator (compiler.scratch), one per compile
    prefetched: dict = field(default_factory=dict)  # node -> what its prefetch left its lowering

    def __post_init__(self) -> None:
        if self.scratch is None:
            self.scratch = Scratch(self.config, self.em.least_recent)

    def writes(self, tensor: str) -> list[str]:
        key = self.places[tensor].key
        return [key, *self.clobbers.get(key, ())]

    def place(self, tensor: str) -> Place:
        return self.places[tensor]

    def type(self, tensor: str) -> TensorType:
        return self.graph.type(tensor)

    def const(self, array: np.ndarray) -> Place:
        addr = self.consts.add(array)
        return Place(addr, contiguous_strides(array.shape), "const", array.dtype.itemsize)

    def const_place(self, name: str) -> Place:
        arr = np.require(self.graph.constants[name], requirements="C")
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return self.const(arr)

    def record(self, node: Node, **facts: Any) -> None:
        """The layer's entry in ``program.layers``: its name, op, the ONNX nodes fused into
        it, ``operand_bytes`` (its inputs, weights included, and outputs, each once: the least
        DRAM traffic it can have when no tensor stays on chip between layers) and ``facts``."""
        tensors = dict.fromkeys(t for t in (*node.inputs, *node.outputs) if t)
        operand_bytes = sum(self.graph.type(t).nbytes for t in tensors)
        entry = {"name": node.name, "op": node.op, "fused": list(node.fused)}
        entry.update({"operand_bytes": operand_bytes, **facts})  # a lowering may say better
        self.layers.append(entry)


def derived(graph: Graph, array: np.ndarray, what: Hashable, make: Callable[[], np.ndarray]):
    """``make()``, a value computed from the constant ``array`` alone (its weights rearranged,
    say), once per prepared graph: ``npu sweep`` lowers one graph at many configs. Keyed by
    the array itself (passes replace constants, never write into them: ``Graph.copy``) and
    ``what``; the value is read-only."""
    key = (id(array), what)
    hit = graph.derived.get(key)
    if hit is not None and hit[0] is array:
        return hit[1]
    value = make()
    value.flags.writeable = False
    graph.derived[key] = (array, value)
    return value


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


def logical_strides(t: TensorType) -> tuple[int, ...]:
    """Element strides per logical axis of a tensor stored in ``t.layout`` order."""
    perm = t.layout
    stored = contiguous_strides(tuple(t.shape[p] for p in perm))
    out = [0] * t.rank
    for pos, axis in enumerate(perm):
        out[axis] = stored[pos]
    return tuple(out)


# --- instruction builders ----------------------------------------------------------------
def dma(
    cls,
    sp: Scratchpad,
    sp_addr: int,
    esize: int,
    dram_addr: int,
    counts: tuple[int, int, int],
    dstrides: tuple[int, int, int],
    sstrides: tuple[int, int, int],
    window: tuple[tuple[int, int], ...] | None = None,
    pad: int = 0,
):
    window = window or tuple((0, n) for n in counts)
    counts, dstrides, sstrides, window = burst_order(counts, dstrides, sstrides, window)
    (lo0, hi0), (lo1, hi1), (lo2, hi2) = window
    values = {
        "sp": int(sp),
        "esize_log2": ESIZE_LOG2[esize],
        "sp_addr": sp_addr,
        "dram_addr": dram_addr,
        "n0": counts[0],
        "n1": counts[1],
        "n2": counts[2],
        "ds0": dstrides[0],
        "ds1": dstrides[1],
        "ds2": dstrides[2],
        "ss0": sstrides[0],
        "ss1": sstrides[1],
        "ss2": sstrides[2],
        "lo0": lo0,
        "hi0": hi0,
        "lo1": lo1,
        "hi1": hi1,
        "lo2": lo2,
        "hi2": hi2,
        "pad": pad,
    }
    return construct(cls, values)


def burst_order(counts, dstrides, sstrides, window):
    """The 3 dims of a DMA reordered (a box is a set: the transfer is the same) so the
    smallest DRAM stride is innermost and DRAM runs are as long as they can be; single-element
    dims go outermost. Broadcasts (a stride-0 dim) keep their order (the DMA reads them once)."""
    keys = []
    for n, s in zip(counts, dstrides, strict=True):
        if n == 1:
            keys.append(-(1 << 62))
        elif s == 0 and n > 1:
            return counts, dstrides, sstrides, window
        else:
            keys.append(-abs(s))
    if keys[0] <= keys[1] <= keys[2]:  # already in order (sorted() is stable)
        return counts, dstrides, sstrides, window
    order = sorted(range(3), key=keys.__getitem__)
    pick = lambda v: tuple(v[d] for d in order)  # noqa: E731
    return pick(counts), pick(dstrides), pick(sstrides), pick(window)


def load(*args, **kw) -> Load:
    return dma(Load, *args, **kw)


def store(*args, **kw) -> Store:
    return dma(Store, *args, **kw)


@dataclass(frozen=True)
class Box:
    """A vector operand: scratchpad, dtype, byte address and element strides."""

    sp: Scratchpad
    dtype: DType
    addr: int
    strides: tuple[int, int, int]

    def replace(self, **changes) -> Box:
        return dataclasses.replace(self, **changes)

    def extent(self, counts: tuple[int, int, int]) -> tuple[int, int]:
        last = sum((n - 1) * s for n, s in zip(counts, self.strides, strict=True))
        return self.addr, self.addr + (last + 1) * self.dtype.size


def vector(
    func: VFunc,
    counts: tuple[int, int, int],
    dst: Box,
    src0: Box,
    src1: Box | None = None,
    imm: tuple[int, int, int] = (0, 0, 0),
) -> Vector:
    src1 = src1 or src0
    d0, d1, d2 = dst.strides
    a0, a1, a2 = src0.strides
    b0, b1, b2 = src1.strides
    values = {
        "func": int(func),
        "n0": counts[0],
        "n1": counts[1],
        "n2": counts[2],
        "dst_sp": int(dst.sp),
        "dst_dtype": int(dst.dtype),
        "dst_addr": dst.addr,
        "dst_s0": d0,
        "dst_s1": d1,
        "dst_s2": d2,
        "src0_sp": int(src0.sp),
        "src0_dtype": int(src0.dtype),
        "src0_addr": src0.addr,
        "src0_s0": a0,
        "src0_s1": a1,
        "src0_s2": a2,
        "src1_sp": int(src1.sp),
        "src1_dtype": int(src1.dtype),
        "src1_addr": src1.addr,
        "src1_s0": b0,
        "src1_s1": b1,
        "src1_s2": b2,
        "imm0": imm[0],
        "imm1": imm[1],
        "imm2": imm[2],
    }
    return construct(Vector, values)


def f32_bits(x: float) -> int:
    return int(np.array(x, dtype=np.float32).view(np.uint32))


def i32_bits(x: int) -> int:
    return int(x) & 0xFFFFFFFF


# --- emission helpers (compute the touched resources) -------------------------------------
def dram_extent(addr: int, esize: int, counts, strides, window=None) -> tuple[int, int]:
    window = window or tuple((0, n) for n in counts)
    lo = hi = 0
    for (a, b), s in zip(window, strides, strict=True):
        if b <= a:
            return addr, addr
        lo += min((a) * s, (b - 1) * s)
        hi += max((a) * s, (b - 1) * s)
    return addr + lo * esize, addr + (hi + 1) * esize


def emit_load(ctx: Ctx, instr: Load, key: str) -> None:
    """``instr`` reads DRAM storage ``key`` (its scratchpad pages come from its footprint)."""
    ctx.em.add(instr, dram=(key,))


def emit_store(ctx: Ctx, instr: Store, keys: list[str]) -> None:
    """``instr`` writes the DRAM storages ``keys`` (the tensor's, and those it clobbers)."""
    ctx.em.add(instr, dram=keys)


def emit_vector(ctx: Ctx, instr: Vector) -> None:
    ctx.em.add(instr)
