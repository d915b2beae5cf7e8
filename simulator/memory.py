"""The NPU's memories as byte arrays, and bounds-checked typed views of instruction regions.

Memory ids: 0 INPUT, 1 WEIGHT, 2 ACC (the ``Scratchpad`` values) and 3 DRAM. Every memory is a
flat ``uint8`` array; an operand is a typed numpy view (``np.ndarray(buffer=...)``) of a
``footprint.Region``, a strided box ``addr + esize * (i0*s0 + i1*s1 + ...)``. The exact lowest
and highest byte the box touches are checked against the memory's size before the view is made,
and the base address must be aligned to the element size; violations raise
``SimulationError`` naming the instruction, the field and its value. A scratchpad box may also
hold at most as many elements as the largest scratchpad has bytes (``max_elements``): strides
of 0 make a box that stays inside its memory but names 65535^3 elements. Every instruction
moves data through a scratchpad box (a DRAM box is a view: a DMA's window, a Gather's table),
so none moves more than that.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from simulator.config import NpuConfig
from simulator.errors import SimulationError
from simulator.footprint import DRAM, Region
from simulator.semantics import NUMPY_DTYPE

MEM_NAMES = ("input", "weight", "acc", "dram")
_WORD = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # a DMA's raw elements
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
        self._views: dict[Region, np.ndarray] = {}  # programs reuse tile boxes
        # id(form) -> (form, every DRAM view of that form, indexed by element address)
        self._rows: dict[int, tuple[_Form, np.ndarray]] = {}

    @property
    def dram(self) -> np.ndarray:
        return self.buffers[DRAM]

    def view(self, region: Region, index: int, opcode: str) -> np.ndarray:
        """A typed view of ``region`` for instruction ``index``; SimulationError if it escapes.

        DMA regions (``dtype`` None) are viewed as unsigned words of their element size.
        Scratchpad views are cached per region: tile loops ask for the same few again and
        again; a hit was checked when it was made, and the view aliases the same bytes whichever
        instruction asks for it. DRAM views (a new address per tile, mostly) are not cached:
        hashing the key would cost more than it saves; one is a row of a per-layout view over
        all of DRAM (no negative strides), else a new ndarray.
        """
        if region[0] == DRAM:
            return self._make_view(region, index, opcode)
        hit = self._views.get(region)
        if hit is None:
            hit = self._views[region] = self._make_view(region, index, opcode)
        return hit

    def _make_view(self, region: Region, index: int, opcode: str) -> np.ndarray:
        mem, addr, shape, strides, dtype, esize, _ = region
        form = _form(shape, strides, _WORD[esize] if dtype is None else NUMPY_DTYPE[dtype])
        if form.empty:
            return np.empty(shape, form.dtype)
        if form.count > self.max_elements and mem != DRAM:
            raise SimulationError(
                f"instruction {index} ({opcode}): the box at {region.field}={addr} "
                f"has shape {tuple(shape)}, {form.count:,} elements, more than the "
                f"{self.max_elements:,} bytes of the largest scratchpad"
            )
        lo, hi, esize = addr + form.lo, addr + form.hi, form.esize
        if lo < 0 or hi + esize > self.sizes[mem] or addr % esize:
            where = f"instruction {index} ({opcode}): {region.field}={addr}"
            self._fail(mem, shape, lo, hi + esize - 1, esize, where)
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
            return rows[1][addr // esize]
        return np.ndarray(
            form.shape, form.dtype, buffer=self._bytes[mem], offset=addr, strides=form.strides
        )

    def _fail(self, mem, shape, lo, hi, esize, prefix: str) -> None:
        size = self.sizes[mem]
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
        return self.dram_window(addr, nbytes, what).copy()

    def dram_window(self, addr: int, nbytes: int, what: str) -> np.ndarray:
        """DRAM bytes [addr, addr + nbytes) as a writable view (host access)."""
        if addr < 0 or addr + nbytes > self.sizes[DRAM]:
            raise SimulationError(
                f"{what} at DRAM [{addr}, {addr + nbytes}) does not fit the program's "
                f"{self.sizes[DRAM]} bytes of DRAM"
            )
        return self.buffers[DRAM][addr : addr + nbytes]
