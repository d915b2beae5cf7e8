"""The NPU's memories as byte arrays, and bounds-checked typed views of strided boxes.

Memory ids: 0 INPUT, 1 WEIGHT, 2 ACC (the ``Scratchpad`` values) and 3 DRAM. Every memory is a
flat ``uint8`` array; an operand is a typed numpy view (``np.ndarray(buffer=...)``) of a 3-D box
``addr + esize * (i0*s0 + i1*s1 + i2*s2)``. The exact lowest and highest byte the box touches
are checked against the memory's size before the view is made, and the base address must be
aligned to the element size; violations raise ``SimulationError`` naming the instruction,
the field and its value. A scratchpad box may also hold at most as many elements as the
largest scratchpad has bytes (``max_elements``): strides of 0 make a box that stays inside its
memory but names 65535^3 elements. Every instruction moves data through a scratchpad box (a
DRAM box is a view: a DMA's window, a Gather's table), so none moves more than that.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from simulator.config import NpuConfig
from simulator.errors import SimulationError

DRAM = 3
MEM_NAMES = ("input", "weight", "acc", "dram")
_DTYPES = {
    t: np.dtype(t)
    for t in (
        np.int8,
        np.uint8,
        np.int16,
        np.uint16,
        np.int32,
        np.uint32,
        np.uint64,
        np.int64,
        np.float16,
        np.float32,
        np.float64,
    )
}


class Where(NamedTuple):
    """Which instruction and which address field a view belongs to (for error messages)."""

    index: int
    opcode: str
    field: str


class Box(NamedTuple):
    """A footprint: memory id, byte offset, shape, byte strides, element size."""

    mem: int
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    esize: int


class _Form(NamedTuple):
    """A box's layout apart from its address: byte strides and the byte extent they span."""

    shape: tuple[int, ...]
    dtype: np.dtype
    esize: int
    strides: tuple[int, ...]  # in bytes
    lo: int  # lowest byte touched, relative to the address (<= 0)
    hi: int  # first byte of the highest element touched, relative to the address
    empty: bool
    count: int  # elements in the box


@lru_cache(maxsize=4096)
def _form(shape: tuple[int, ...], strides: tuple[int, ...], dtype) -> _Form:
    dtype = _DTYPES.get(dtype) or np.dtype(dtype)
    esize = dtype.itemsize
    byte_strides = tuple(s * esize for s in strides)
    lo = hi = 0
    for n, s in zip(shape, byte_strides, strict=True):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    count = 1
    for n in shape:
        count *= n
    return _Form(tuple(shape), dtype, esize, byte_strides, lo, hi, 0 in shape, count)


class Memory:
    """The three scratchpads and DRAM of one simulation run."""

    def __init__(self, config: NpuConfig, dram_size: int):
        self.sizes = (config.input_bytes, config.weight_bytes, config.acc_bytes, dram_size)
        self.max_elements = max(self.sizes[:DRAM])
        self.buffers = [np.zeros(-(-size // 8) * 8, dtype=np.uint8) for size in self.sizes]
        self._bytes = [memoryview(b) for b in self.buffers]  # makes views faster than arrays
        self._boxes: dict[tuple, tuple[np.ndarray, Box]] = {}  # programs reuse tile boxes
        # id(form) -> (form, every DRAM view of that form, indexed by element address)
        self._rows: dict[int, tuple[_Form, np.ndarray]] = {}

    @property
    def dram(self) -> np.ndarray:
        return self.buffers[DRAM]

    def box(
        self,
        mem: int,
        addr: int,
        shape: tuple[int, ...],
        strides: tuple[int, ...],
        dtype: np.dtype,
        where: Where,
    ) -> tuple[np.ndarray, Box]:
        """A typed view of the box and its footprint; raises SimulationError if it escapes.

        Scratchpad views are cached per (memory, address, shape, strides, dtype): tile loops
        ask for the same few again and again; a hit was checked when it was made, and the view
        aliases the same bytes whichever instruction asks for it. DRAM views (a new address per
        tile, mostly) are not cached: hashing the key would cost more than it saves; one is a
        row of a per-layout view over all of DRAM (no negative strides), else a new ndarray.
        """
        if mem == DRAM:
            return self._make_box(mem, addr, shape, strides, dtype, where)
        key = (mem, addr, shape, strides, dtype)
        hit = self._boxes.get(key)
        if hit is None:
            hit = self._boxes[key] = self._make_box(mem, addr, shape, strides, dtype, where)
        return hit

    def _make_box(self, mem, addr, shape, strides, dtype, where: Where):
        form = _form(shape, strides, dtype)
        fp = Box(mem, addr, form.shape, form.strides, form.esize)
        if form.empty:
            return np.empty(shape, form.dtype), fp
        if form.count > self.max_elements and mem != DRAM:
            raise SimulationError(
                f"instruction {where.index} ({where.opcode}): the box at {where.field}={addr} "
                f"has shape {tuple(shape)}, {form.count:,} elements, more than the "
                f"{self.max_elements:,} bytes of the largest scratchpad"
            )
        lo, hi, esize = addr + form.lo, addr + form.hi, form.esize
        if lo < 0 or hi + esize > self.sizes[mem] or addr % esize:
            self._fail(mem, addr, shape, lo, hi + esize - 1, esize, where)
        if mem == DRAM and not form.lo and form.shape:  # (a 0-d row would be a copy)
            # One row of a (positions, *shape) view per element address: indexing it costs
            # about a tenth of a new ndarray (a DMA's DRAM view has a new address per tile).
            rows = self._rows.get(id(form))
            if rows is None or rows[0] is not form:
                count = (self.sizes[mem] - form.hi - esize) // esize + 1
                base = np.ndarray(
                    (count, *form.shape),
                    form.dtype,
                    buffer=self._bytes[mem],
                    strides=(esize, *form.strides),
                )
                rows = self._rows[id(form)] = (form, base)
            return rows[1][addr // esize], fp
        view = np.ndarray(
            form.shape, form.dtype, buffer=self._bytes[mem], offset=addr, strides=form.strides
        )
        return view, fp

    def _fail(self, mem, addr, shape, lo, hi, esize, where: Where) -> None:
        size = self.sizes[mem]
        prefix = f"instruction {where.index} ({where.opcode}): {where.field}={addr}"
        if lo < 0 or hi >= size:
            raise SimulationError(
                f"{prefix} with shape {tuple(shape)} touches {MEM_NAMES[mem]} bytes "
                f"[{lo}, {hi}], outside [0, {size})"
            )
        raise SimulationError(f"{prefix} is not aligned to its {esize}-byte elements")

    def write_bytes(self, addr: int, data: bytes | np.ndarray, what: str) -> None:
        """Host write of raw bytes into DRAM (inputs, constants)."""
        data = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, bytes) else data
        end = addr + data.size
        if addr < 0 or end > self.sizes[DRAM]:
            raise SimulationError(
                f"{what} at DRAM [{addr}, {end}) does not fit the program's {self.sizes[DRAM]} "
                "bytes of DRAM"
            )
        self.buffers[DRAM][addr:end] = data

    def read_bytes(self, addr: int, nbytes: int, what: str) -> np.ndarray:
        if addr < 0 or addr + nbytes > self.sizes[DRAM]:
            raise SimulationError(
                f"{what} at DRAM [{addr}, {addr + nbytes}) does not fit the program's "
                f"{self.sizes[DRAM]} bytes of DRAM"
            )
        return self.buffers[DRAM][addr : addr + nbytes].copy()
