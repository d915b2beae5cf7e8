"""What each instruction reads and writes: its footprint, declared once per instruction class.

A ``Region`` is a strided box of one memory: element ``(i0, i1, ...)`` at byte
``addr + esize * sum(i_d * strides[d])``. ``footprint(instr)`` gives the regions an instruction
reads and the regions it writes. Everything that needs to know which bytes an instruction
touches asks here, and nowhere else:

- the compiler's emitter derives dependency tokens from the scratchpad pages the regions cover
  (``compiler/emit.py``);
- the functional model makes its numpy views of exactly these regions
  (``simulator/functional.py``);
- the checked mode tests every byte of them against its vector clocks (``simulator/checked.py``);
- the statistics count SRAM traffic, and the reports the scratchpad peaks, from them
  (``simulator/stats.py``, ``npu/footprint.py``).

The footprint of a new instruction is one function, ``@declare(TheClass)``, that returns
``(reads, writes)``; ``tests/simulator/test_sim_footprint.py`` checks that every class of
``isa.INSTRUCTIONS`` has one. A field holding a value the ISA does not define (a DType, a
scratchpad id, a vector function) raises ``FieldError`` naming the field; the simulator
reports it with the instruction's index.

Conventions: a DMA's DRAM region is its window only (the elements outside it never touch
DRAM); a LOAD writes its whole scratchpad box (padding included), a STORE reads the window's
part of it. An accumulating MatMul reads C as well as writing it. A vector function reads src1
only if ``VFuncInfo.sources`` is 2; a reduction writes ``(n0, n1, 1)`` elements; a select (a
masked write) reads its dst too, whose unselected elements it keeps; REQUANT_BIAS reads a
third region, its scale words: src1's (the bias words) moved by imm2 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from math import prod
from operator import itemgetter
from typing import NamedTuple

from simulator.errors import SimulationError
from simulator.isa import (
    INSTRUCTIONS,
    LUT_ENTRIES,
    PACKED_BITS,
    DType,
    End,
    Gather,
    Instr,
    Load,
    MatMul,
    Scatter,
    Scratchpad,
    Store,
    Sync,
    Vector,
    VFunc,
    VFuncInfo,
)

DRAM = 3  # the memory id after the scratchpads (``Scratchpad`` values 0-2)
MEMORIES = (*(int(s) for s in Scratchpad), DRAM)


class FieldError(SimulationError):
    """An instruction field whose value the ISA does not define."""

    def __init__(self, field: str, value: int, reason: str) -> None:
        super().__init__(f"{field}={value} {reason}")
        self.field, self.value, self.reason = field, value, reason


class Region(NamedTuple):
    """A strided box of one memory that an instruction reads or writes."""

    mem: int  # a Scratchpad value, or DRAM
    addr: int  # byte address of element (0, 0, ...)
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in elements (negative only in DRAM)
    dtype: DType | None  # the element type the unit reads; None: raw ``esize``-byte words (DMA)
    esize: int  # bytes per element
    field: str  # the address field that places it (errors name it)

    @property
    def elements(self) -> int:
        """Elements accessed (a stride-0 dimension counts each access)."""
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes accessed: ``elements * esize``."""
        return prod(self.shape) * self.esize

    def extent(self) -> tuple[int, int]:
        """[lowest byte, one past the highest byte) touched; (addr, addr) when empty."""
        key = self[2:6]  # shape, strides, dtype, esize
        span = _SPANS.get(key)
        if span is None:
            if len(_SPANS) >= 4096:
                _SPANS.clear()
            span = _SPANS[key] = _span(self.shape, self.strides, self.esize)
        return self.addr + span[0], self.addr + span[1]


_SPANS: dict[tuple, tuple[int, int]] = {}  # Region.extent relative to addr, by layout


def _span(shape: tuple[int, ...], strides: tuple[int, ...], esize: int) -> tuple[int, int]:
    lo = hi = 0
    for n, s in zip(shape, strides, strict=True):
        if n <= 0:
            return 0, 0
        if s < 0:
            lo += (n - 1) * s * esize
        else:
            hi += (n - 1) * s * esize
    return lo, hi + esize


class Footprint(NamedTuple):
    reads: tuple[Region, ...]
    writes: tuple[Region, ...]


NOTHING = Footprint((), ())
_region = partial(tuple.__new__, Region)  # Region(...) without NamedTuple's Python __new__
_footprint = partial(tuple.__new__, Footprint)
_DECLARED: dict[type[Instr], Callable[[Instr], Footprint]] = {}


def declare(cls: type[Instr]):
    """Register the decorated ``fn(instr) -> Footprint`` as the footprint of ``cls``."""

    def register(fn: Callable[[Instr], Footprint]) -> Callable[[Instr], Footprint]:
        _DECLARED[cls] = fn
        return fn

    return register


def footprint(instr: Instr) -> Footprint:
    """The regions ``instr`` reads and writes; FieldError on an undefined field value."""
    return declaration(type(instr))(instr)


def declaration(cls: type[Instr]) -> Callable[[Instr], Footprint]:
    """The footprint function of an instruction class (TypeError if it has none)."""
    fn = _DECLARED.get(cls)
    if fn is None:
        raise TypeError(f"no footprint declared for {cls.__name__}")
    return fn


def declared() -> set[type[Instr]]:
    return set(_DECLARED)


# --- field decoding ---------------------------------------------------------------------------
# Field values are read from ``vars(instr)`` by ``itemgetter`` (instructions are plain frozen
# dataclasses; a subscript costs less than getattr, and the emitter asks for every instruction).
_DTYPES = {int(d): d for d in DType}
_SIZES = {int(d): d.size for d in DType}
_ACC = {int(d): DType.FP32 if d.is_float else DType.INT32 for d in DType}  # a MatMul's C
_VFUNC_INFO = {int(f): f.info for f in VFunc}


def dtype_field(name: str, value: int) -> DType:
    dtype = _DTYPES.get(value)
    if dtype is None:
        raise FieldError(name, value, "is not a DType")
    return dtype


def vfunc_info(value: int) -> VFuncInfo:
    """The ``VFuncInfo`` of a ``func`` field."""
    info = _VFUNC_INFO.get(value)
    if info is None:
        raise FieldError("func", value, "is not a VFunc")
    return info


def scratchpad_field(name: str, value: int) -> int:
    if not 0 <= value < DRAM:
        raise FieldError(name, value, "is not a scratchpad (0, 1 or 2)")
    return value


# --- declarations -----------------------------------------------------------------------------
@declare(End)
@declare(Sync)
def _tokens_only(instr: Instr) -> Footprint:
    return NOTHING


class DmaWindow(NamedTuple):
    """Where a transfer's window sits in its box (from the counts and the lo/hi fields)."""

    first: tuple[int, int, int]  # the window's first element
    shape: tuple[int, int, int]  # its extent per dimension (0 when empty)


class _DmaLayout(NamedTuple):
    """A transfer's regions apart from their two addresses (shared by all its tiles)."""

    window: DmaWindow
    sp: int
    sp_first: int  # byte offset of the window's first element from sp_addr
    dram_first: int  # ... from dram_addr
    box: tuple  # the Region fields after ``addr`` of the whole scratchpad box
    sp_window: tuple  # ... of the window's part of it
    dram_window: tuple  # ... of the window in DRAM


_LAYOUT_NAMES = (
    "sp", "esize_log2", "n0", "n1", "n2", "ds0", "ds1", "ds2", "ss0", "ss1", "ss2",
    "lo0", "hi0", "lo1", "hi1", "lo2", "hi2",
)  # fmt: skip
_LAYOUT_FIELDS = itemgetter(*_LAYOUT_NAMES)  # of ``vars(instr)``: cheaper than getattr
_LAYOUTS: dict[tuple, _DmaLayout] = {}  # by the values of _LAYOUT_NAMES


def _dma_layout(instr: Load | Store) -> _DmaLayout:
    key = _LAYOUT_FIELDS(instr.__dict__)
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) >= 4096:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = _new_layout(**dict(zip(_LAYOUT_NAMES, key, strict=True)))
    return layout


def _new_layout(
    sp, esize_log2, n0, n1, n2, ds0, ds1, ds2, ss0, ss1, ss2, lo0, hi0, lo1, hi1, lo2, hi2
) -> _DmaLayout:
    first = (min(lo0, n0), min(lo1, n1), min(lo2, n2))
    stop = (max(min(hi0, n0), first[0]), max(min(hi1, n1), first[1]), max(min(hi2, n2), first[2]))
    window = DmaWindow(first, (stop[0] - first[0], stop[1] - first[1], stop[2] - first[2]))
    es = 1 << esize_log2
    ss, ds = (ss0, ss1, ss2), (ds0, ds1, ds2)
    return _DmaLayout(
        window=window,
        sp=scratchpad_field("sp", sp),
        sp_first=(first[0] * ss0 + first[1] * ss1 + first[2] * ss2) * es,
        dram_first=(first[0] * ds0 + first[1] * ds1 + first[2] * ds2) * es,
        box=((n0, n1, n2), ss, None, es, "sp_addr"),
        sp_window=(window.shape, ss, None, es, "sp_addr"),
        dram_window=(window.shape, ds, None, es, "dram_addr"),
    )


def dma_window(instr: Load | Store) -> DmaWindow:
    """The window of a LOAD or STORE inside its box: ``lo_d <= i_d < hi_d``, clipped to it."""
    return _dma_layout(instr).window


@declare(Load)
def _load(instr: Load) -> Footprint:
    window, sp, _, dram_first, box, _, dram_window = _dma_layout(instr)
    dram = _region((DRAM, instr.dram_addr + dram_first, *dram_window))
    return _footprint(((dram,), (_region((sp, instr.sp_addr, *box)),)))


@declare(Store)
def _store(instr: Store) -> Footprint:
    window, sp, sp_first, dram_first, _, sp_window, dram_window = _dma_layout(instr)
    dram = _region((DRAM, instr.dram_addr + dram_first, *dram_window))
    return _footprint(((_region((sp, instr.sp_addr + sp_first, *sp_window)),), (dram,)))


def indexed_regions(instr: Gather | Scatter, sp_window: bool) -> tuple[Region, Region, Region]:
    """(scratchpad region, DRAM table, index words) of a Gather or Scatter. The rows its
    indices name are known only when it runs, so its DRAM region is the whole table: ``rows``
    rows of the window of dims 1 and 2. The indices are the window's dim-0 elements, signed
    words of ``1 << idx_esize_log2`` bytes at ``idx_addr`` in scratchpad ``idx_sp``."""
    t = _dma_layout(instr)
    (lo0, first1, first2), (w0, w1, w2) = t.window
    log2 = instr.idx_esize_log2
    if log2 not in (2, 3):
        raise FieldError("idx_esize_log2", log2, "(indices are 4 or 8 bytes)")
    idx_sp = scratchpad_field("idx_sp", instr.idx_sp)
    ds, es = t.dram_window[1], t.box[3]
    table_addr = instr.dram_addr + (first1 * ds[1] + first2 * ds[2]) * es
    table = (DRAM, table_addr, (instr.rows if w0 else 0, w1, w2), ds, None, es, "dram_addr")
    ids = (idx_sp, instr.idx_addr + (lo0 << log2), (w0,), (1,), None, 1 << log2, "idx_addr")
    if sp_window:
        sp = (t.sp, instr.sp_addr + t.sp_first, *t.sp_window)
    else:
        sp = (t.sp, instr.sp_addr, *t.box)
    return _region(sp), _region(table), _region(ids)


@declare(Gather)
def _gather(instr: Gather) -> Footprint:
    sp, table, ids = indexed_regions(instr, sp_window=False)
    return _footprint(((table, ids), (sp,)))


@declare(Scatter)
def _scatter(instr: Scatter) -> Footprint:
    sp, table, ids = indexed_regions(instr, sp_window=True)
    return _footprint(((sp, ids), (table,)))


_MATMUL_MODE = itemgetter("dtype", "accumulate", "w_transposed")
_MATMUL_ADDRS = itemgetter("a_addr", "w_addr", "c_addr")
_MATMUL_SHAPE = itemgetter("m", "k", "n")
_MATMUL_STRIDES = itemgetter("a_stride", "w_stride", "c_stride")
_IN, _WEIGHT, _ACC_SP = (int(s) for s in Scratchpad)


@declare(MatMul)
def _matmul(mm: MatMul) -> Footprint:
    fields = mm.__dict__
    dtype, accumulate, w_transposed = _MATMUL_MODE(fields)
    a_addr, w_addr, c_addr = _MATMUL_ADDRS(fields)
    m, k, n = _MATMUL_SHAPE(fields)
    a_stride, w_stride, c_stride = _MATMUL_STRIDES(fields)
    elem = dtype_field("dtype", dtype)
    es = _SIZES[dtype]
    w_shape = (n, k) if w_transposed else (k, n)
    a = _region((_IN, a_addr, (m, k), (a_stride, 1), elem, es, "a_addr"))
    w = _region((_WEIGHT, w_addr, w_shape, (w_stride, 1), elem, es, "w_addr"))
    c = _region((_ACC_SP, c_addr, (m, n), (c_stride, 1), _ACC[dtype], 4, "c_addr"))
    return _footprint(((a, w, c) if accumulate else (a, w), (c,)))


# Per operand of a Vector: its fields (sp, dtype, addr, s0, s1, s2) and their names.
_OPERANDS = {
    name: (
        itemgetter(*(f"{name}_{f}" for f in ("sp", "dtype", "addr", "s0", "s1", "s2"))),
        f"{name}_sp",
        f"{name}_dtype",
        f"{name}_addr",
    )
    for name in ("src0", "src1", "dst")
}
_COUNTS = itemgetter("n0", "n1", "n2")


def vector_operand(v: Vector, name: str, counts: tuple[int, int, int]) -> Region:
    """Operand ``name`` (src0, src1 or dst) of a Vector over ``counts`` elements."""
    fields, sp_name, dtype_name, addr_name = _OPERANDS[name]
    sp, dtype, addr, s0, s1, s2 = fields(v.__dict__)
    elem = dtype_field(dtype_name, dtype)
    sp = scratchpad_field(sp_name, sp)
    return _region((sp, addr, counts, (s0, s1, s2), elem, _SIZES[dtype], addr_name))


@declare(Vector)
def _vector(v: Vector) -> Footprint:
    info = vfunc_info(v.func)
    counts = _COUNTS(v.__dict__)
    src0 = vector_operand(v, "src0", counts)
    reads = (src0, vector_operand(v, "src1", counts)) if info.sources == 2 else (src0,)
    if info.kind == "lut":  # the whole table (each row's, where src1 strides rows)
        tables = (counts[0] if v.src1_s0 else 1, counts[1] if v.src1_s1 else 1, LUT_ENTRIES)
        reads = (src0, vector_operand(v, "src1", tables))
    elif info.kind == "packed":
        reads = _packed_reads(v, counts)
    elif v.func == VFunc.REQUANT_BIAS:
        reads = (*reads, _scale_words(v, reads[1]))
    out = (counts[0], counts[1], 1) if info.kind == "reduce" else counts
    dst = vector_operand(v, "dst", out)
    if info.kind == "select":  # a masked write: the elements it keeps are read
        reads = (*reads, dst)
    return _footprint((reads, (dst,)))


def _scale_words(v: Vector, bias: Region) -> Region:
    """REQUANT_BIAS's scale words: its bias words (src1) moved imm2 bytes, as int32 words."""
    offset = v.imm2 - (1 << 32) if v.imm2 >> 31 else v.imm2
    if offset % 4 or bias.esize != 4:
        raise FieldError("imm2", v.imm2, "is not a whole number of int32 words from src1")
    return bias._replace(addr=bias.addr + offset, dtype=DType.INT32, field="imm2")


def _packed_reads(v: Vector, counts: tuple[int, int, int]) -> tuple[Region, Region]:
    """DEQUANT_PACKED: each (i0, i1) group's bytes, and its scale (and zero point) in src1."""
    bits = v.imm0
    if bits not in PACKED_BITS:
        raise FieldError("imm0", bits, f"is not a packed code width {PACKED_BITS}")
    n0, n1, n2 = counts
    for name, bad, reason in (
        ("n2", n2 * bits % 8, f"is not whole bytes of {bits}-bit codes"),
        ("src0_s2", v.src0_s2 != 1, "is not 1: DEQUANT_PACKED reads contiguous bytes"),
        ("src0_dtype", v.src0_dtype != DType.UINT8, "is not UINT8: DEQUANT_PACKED reads bytes"),
    ):
        if bad:
            raise FieldError(name, getattr(v, name), reason)
    src0 = vector_operand(v, "src0", (n0, n1, n2 * bits // 8))
    return src0, vector_operand(v, "src1", (n0, n1, 2 if v.imm1 else 1))


assert declared() == set(INSTRUCTIONS), "every instruction class declares its footprint"
