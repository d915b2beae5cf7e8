"""The instruction set, declared once.

Every instruction is a frozen dataclass whose fields carry their bit widths. From these
declarations come the binary encoding (512-bit little-endian words, fields packed from bit 0
in declaration order), the decoder, the Verilog header the RTL includes
(``rtl_tests/rtl/npu_isa.vh``) and ``docs/isa.md``.

Execution model: the program is one instruction stream; each instruction goes to the in-order
queue of one unit (LOAD = DMA-in, MATRIX, VECTOR, STORE = DMA-out). Queues run concurrently and
synchronise only through dependency tokens: before an instruction starts it pops one token from
the channel (u -> its unit) for every bit u set in ``wait``; when it completes it pushes one
token into the channel (its unit -> u) for every bit u set in ``signal``.

Layouts are fixed by the units: the matrix unit computes C[M,N] (+)= A[M,K] @ W[K,N] with A in
the input scratchpad, W in the weight scratchpad (or W^T stored [N,K] when ``w_transposed``)
and C in the accumulator, all row-major with explicit row strides in elements. DMA and vector
operands are 3-D boxes (n0, n1, n2) with an element stride per dimension.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field, fields
from typing import ClassVar

from simulator.errors import ProgramFormatError
from simulator.vfuncs import (  # noqa: F401  (re-exported: the ISA is read from here)
    LUT_ENTRIES,
    PACKED_BITS,
    VFUNC_INFO,
    VFunc,
    VFuncInfo,
)

WORD_BITS = 512
WORD_BYTES = WORD_BITS // 8
WORD_U64 = WORD_BITS // 64


class Unit(enum.IntEnum):
    LOAD = 0
    MATRIX = 1
    VECTOR = 2
    STORE = 3


class Opcode(enum.IntEnum):
    # 0 is never valid, so a zero-filled word is caught by the decoder.
    END = 1
    SYNC = 2
    LOAD = 3
    STORE = 4
    MATMUL = 5
    VECTOR = 6
    GATHER = 7
    SCATTER = 8


class Scratchpad(enum.IntEnum):
    INPUT = 0
    WEIGHT = 1
    ACC = 2


class DType(enum.IntEnum):
    INT8 = 0
    UINT8 = 1
    INT32 = 2
    FP32 = 3
    FP16 = 4
    BF16 = 5

    @property
    def size(self) -> int:
        return _DTYPE_SIZE[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.FP32, DType.FP16, DType.BF16)


_DTYPE_SIZE = {
    DType.INT8: 1,
    DType.UINT8: 1,
    DType.INT32: 4,
    DType.FP32: 4,
    DType.FP16: 2,
    DType.BF16: 2,
}


def _f(bits: int, signed: bool = False, doc: str = "", default=0):
    return field(default=default, metadata={"bits": bits, "signed": signed, "doc": doc})


@dataclass(frozen=True)
class Instr:
    """Fields every instruction has. ``wait``/``signal`` are masks over ``Unit`` values."""

    OPCODE: ClassVar[Opcode]
    wait: int = _f(4, doc="bit u: pop a token from channel (u -> this unit) before starting")
    signal: int = _f(4, doc="bit u: push a token into channel (this unit -> u) when done")

    @property
    def unit(self) -> Unit:
        return OPCODE_UNIT[self.OPCODE]

    def replace(self, **changes) -> Instr:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class End(Instr):
    """Marks the end of the instruction stream; must be the last instruction."""

    OPCODE: ClassVar[Opcode] = Opcode.END


@dataclass(frozen=True)
class Sync(Instr):
    """A token-only instruction executed in the queue of ``queue``."""

    OPCODE: ClassVar[Opcode] = Opcode.SYNC
    queue: int = _f(2, doc="the Unit whose queue runs this instruction")

    @property
    def unit(self) -> Unit:
        return Unit(self.queue)


@dataclass(frozen=True)
class Dma(Instr):
    """A strided 3-D block transfer between DRAM and a scratchpad.

    Element (i0, i1, i2) lives in DRAM at ``dram_addr + esize * (i0*ds0 + i1*ds1 + i2*ds2)``
    and in the scratchpad at ``sp_addr + esize * (i0*ss0 + i1*ss1 + i2*ss2)``. Only elements
    inside the window ``lo_d <= i_d < hi_d`` (every d) touch DRAM; a LOAD writes ``pad`` (its
    low ``esize`` bytes) to the others, a STORE skips them.
    """

    sp: int = _f(2, doc="Scratchpad id")
    esize_log2: int = _f(2, doc="element size: 1 << esize_log2 bytes")
    sp_addr: int = _f(28, doc="scratchpad byte address of element (0, 0, 0)")
    dram_addr: int = _f(40, signed=True, doc="DRAM byte address of element (0, 0, 0)")
    n0: int = _f(16, default=1)
    n1: int = _f(16, default=1)
    n2: int = _f(16, default=1)
    ds0: int = _f(32, signed=True, doc="DRAM stride of dim 0, in elements")
    ds1: int = _f(32, signed=True)
    ds2: int = _f(32, signed=True, default=1)
    ss0: int = _f(28, doc="scratchpad stride of dim 0, in elements")
    ss1: int = _f(28)
    ss2: int = _f(28, default=1)
    lo0: int = _f(16)
    hi0: int = _f(16, default=1)
    lo1: int = _f(16)
    hi1: int = _f(16, default=1)
    lo2: int = _f(16)
    hi2: int = _f(16, default=1)
    pad: int = _f(32, doc="fill pattern for elements outside the window (LOAD)")

    @property
    def esize(self) -> int:
        return 1 << self.esize_log2

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.n0, self.n1, self.n2


@dataclass(frozen=True)
class Load(Dma):
    """DMA-in: DRAM -> scratchpad, with zero (or ``pad``) padding outside the window."""

    OPCODE: ClassVar[Opcode] = Opcode.LOAD


@dataclass(frozen=True)
class Store(Dma):
    """DMA-out: scratchpad -> DRAM, elements outside the window are not written."""

    OPCODE: ClassVar[Opcode] = Opcode.STORE


@dataclass(frozen=True)
class MatMul(Instr):
    """C[M,N] (+)= A[M,K] @ W[K,N] on the systolic array, one whole tile loop nest.

    int8 operands accumulate exactly in int32 (wrapping); float operands in fp32.
    """

    OPCODE: ClassVar[Opcode] = Opcode.MATMUL
    dtype: int = _f(3, doc="operand DType of A and W (C is INT32 for INT8, else FP32)")
    accumulate: int = _f(1, doc="1: C += A @ W; 0: C = A @ W")
    w_transposed: int = _f(1, doc="1: W is stored [N, K]")
    a_addr: int = _f(28, doc="input scratchpad byte address of A")
    w_addr: int = _f(28, doc="weight scratchpad byte address of W")
    c_addr: int = _f(28, doc="accumulator byte address of C")
    m: int = _f(16, default=1)
    k: int = _f(16, default=1)
    n: int = _f(16, default=1)
    a_stride: int = _f(24, doc="elements between rows of A")
    w_stride: int = _f(24, doc="elements between rows of W as stored")
    c_stride: int = _f(24, doc="elements between rows of C")


@dataclass(frozen=True)
class Vector(Instr):
    """dst = func(src0, src1) over a 3-D box (n0, n1, n2) of elements.

    Operand X's element (i0, i1, i2) is at ``X_addr + size * (i0*X_s0 + i1*X_s1 + i2*X_s2)``
    in scratchpad ``X_sp``; a stride of 0 broadcasts. Reductions fold dim 2 (dst_s2 is 0).
    Immediates are raw 32-bit patterns, read as fp32 in the float domain, int32 otherwise.
    """

    OPCODE: ClassVar[Opcode] = Opcode.VECTOR
    func: int = _f(8, doc="VFunc")
    n0: int = _f(16, default=1)
    n1: int = _f(16, default=1)
    n2: int = _f(16, default=1)
    dst_sp: int = _f(2)
    dst_dtype: int = _f(3)
    dst_addr: int = _f(28)
    dst_s0: int = _f(26)
    dst_s1: int = _f(26)
    dst_s2: int = _f(26, default=1)
    src0_sp: int = _f(2)
    src0_dtype: int = _f(3)
    src0_addr: int = _f(28)
    src0_s0: int = _f(26)
    src0_s1: int = _f(26)
    src0_s2: int = _f(26, default=1)
    src1_sp: int = _f(2)
    src1_dtype: int = _f(3)
    src1_addr: int = _f(28)
    src1_s0: int = _f(26)
    src1_s1: int = _f(26)
    src1_s2: int = _f(26, default=1)
    imm0: int = _f(32)
    imm1: int = _f(32)
    imm2: int = _f(32)

    @property
    def counts(self) -> tuple[int, int, int]:
        return self.n0, self.n1, self.n2


@dataclass(frozen=True)
class Gather(Load):
    """Indexed DMA-in: a LOAD whose dim-0 DRAM rows are named by a vector of indices.

    Element (i0, i1, i2) comes from DRAM ``dram_addr + esize * (r*ds0 + i1*ds1 + i2*ds2)``
    with ``r = idx[i0]``, the signed integer of ``1 << idx_esize_log2`` bytes at scratchpad
    ``idx_sp`` byte address ``idx_addr + i0 * (1 << idx_esize_log2)``. A negative index counts
    from the end (``r + rows``); an index outside ``[-rows, rows)`` stops the run with an error.
    The scratchpad side, the window and the pad are a LOAD's. Embedding lookups (ONNX Gather of
    a constant table by token ids) are one Gather per tile of rows.
    """

    OPCODE: ClassVar[Opcode] = Opcode.GATHER
    idx_sp: int = _f(2, doc="Scratchpad holding the row indices")
    idx_esize_log2: int = _f(2, default=2, doc="index size: 1 << idx_esize_log2 bytes (4 or 8)")
    idx_addr: int = _f(28, doc="scratchpad byte address of index 0")
    rows: int = _f(32, default=1, doc="rows the indices may name (dim 0 of the DRAM table)")


@dataclass(frozen=True)
class Scatter(Store):
    """Indexed DMA-out: a STORE whose dim-0 DRAM rows are named by a vector of indices.

    The inverse of ``Gather``: scratchpad element (i0, i1, i2) (inside the window) goes to DRAM
    ``dram_addr + esize * (r*ds0 + i1*ds1 + i2*ds2)``, ``r = idx[i0]`` (same index rules).
    Rows are written in i0 order, so of two equal indices the later wins (ONNX ScatterND with
    reduction 'none' leaves that order unspecified).
    """

    OPCODE: ClassVar[Opcode] = Opcode.SCATTER
    idx_sp: int = _f(2, doc="Scratchpad holding the row indices")
    idx_esize_log2: int = _f(2, default=2, doc="index size: 1 << idx_esize_log2 bytes (4 or 8)")
    idx_addr: int = _f(28, doc="scratchpad byte address of index 0")
    rows: int = _f(32, default=1, doc="rows the indices may name (dim 0 of the DRAM table)")


INDEXED = (Gather, Scatter)
INSTRUCTIONS: tuple[type[Instr], ...] = (End, Sync, Load, Store, MatMul, Vector, Gather, Scatter)
OPCODE_CLASS = {cls.OPCODE: cls for cls in INSTRUCTIONS}
OPCODE_UNIT = {
    Opcode.LOAD: Unit.LOAD,
    Opcode.STORE: Unit.STORE,
    Opcode.MATMUL: Unit.MATRIX,
    Opcode.VECTOR: Unit.VECTOR,
    Opcode.GATHER: Unit.LOAD,
    Opcode.SCATTER: Unit.STORE,
    Opcode.SYNC: None,  # Sync.unit reads its own field
    Opcode.END: None,
}
OPCODE_BITS = 8
_DEFAULTS = {cls: {f.name: f.default for f in fields(cls)} for cls in INSTRUCTIONS}


def construct(cls: type[Instr], values: dict[str, int]) -> Instr:
    """``cls(**values)`` without the frozen dataclass's ``__init__``, which sets each field
    through ``object.__setattr__`` (half the cost of building a DMA): for the compiler's
    instruction builders, which make thousands a model. ``values`` names fields of ``cls``
    only; the others take their defaults (``tests/simulator/test_sim_isa.py`` checks the result
    equals ``cls(**values)``)."""
    obj = object.__new__(cls)
    d = obj.__dict__
    d.update(_DEFAULTS[cls])
    d.update(values)
    return obj


@dataclass(frozen=True)
class FieldLayout:
    name: str
    offset: int
    bits: int
    signed: bool
    doc: str


def layout(cls: type[Instr]) -> tuple[FieldLayout, ...]:
    """Bit positions of every field of an instruction class (the opcode at bit 0)."""
    return _LAYOUTS[cls]


def _compute_layout(cls: type[Instr]) -> tuple[FieldLayout, ...]:
    out = [FieldLayout("opcode", 0, OPCODE_BITS, False, "Opcode")]
    offset = OPCODE_BITS
    for f in fields(cls):
        bits = f.metadata["bits"]
        out.append(FieldLayout(f.name, offset, bits, f.metadata["signed"], f.metadata["doc"]))
        offset += bits
    assert offset <= WORD_BITS, f"{cls.__name__} needs {offset} bits"
    return tuple(out)


_LAYOUTS = {cls: _compute_layout(cls) for cls in INSTRUCTIONS}


def encode(instr: Instr) -> bytes:
    """One instruction as a 64-byte little-endian word. Raises ValueError on out-of-range fields."""
    word = int(instr.OPCODE)
    for fl in _LAYOUTS[type(instr)][1:]:
        value = getattr(instr, fl.name)
        word |= _pack_field(type(instr).__name__, fl, value) << fl.offset
    return word.to_bytes(WORD_BYTES, "little")


def _pack_field(cls_name: str, fl: FieldLayout, value: int) -> int:
    value = int(value)
    if fl.signed:
        lo, hi = -(1 << (fl.bits - 1)), (1 << (fl.bits - 1)) - 1
    else:
        lo, hi = 0, (1 << fl.bits) - 1
    if not lo <= value <= hi:
        raise ValueError(f"{cls_name}.{fl.name} = {value} does not fit {fl.bits} bits [{lo}, {hi}]")
    return value & ((1 << fl.bits) - 1)


def decode(word: bytes, index: int = 0) -> Instr:
    """The inverse of ``encode``. Raises ProgramFormatError naming the instruction index."""
    if len(word) != WORD_BYTES:
        raise ProgramFormatError(
            f"instruction {index}: word has {len(word)} bytes, not {WORD_BYTES}"
        )
    value = int.from_bytes(word, "little")
    opcode = value & ((1 << OPCODE_BITS) - 1)
    cls = OPCODE_CLASS.get(opcode)
    if cls is None:
        raise ProgramFormatError(f"instruction {index}: unknown opcode {opcode}")
    kwargs = {}
    used = OPCODE_BITS
    for fl in _LAYOUTS[cls][1:]:
        raw = (value >> fl.offset) & ((1 << fl.bits) - 1)
        if fl.signed and raw >> (fl.bits - 1):
            raw -= 1 << fl.bits
        kwargs[fl.name] = raw
        used = fl.offset + fl.bits
    if value >> used:
        raise ProgramFormatError(
            f"instruction {index}: {cls.__name__} has bits set past bit {used}"
        )
    return cls(**kwargs)


def encode_all(instrs: list[Instr]) -> bytes:
    return b"".join(encode(i) for i in instrs)


def decode_all(blob: bytes) -> list[Instr]:
    if len(blob) % WORD_BYTES:
        raise ProgramFormatError(
            f"instruction stream of {len(blob)} bytes is not a whole number of {WORD_BYTES}-byte words"
        )
    return [
        decode(blob[i : i + WORD_BYTES], i // WORD_BYTES) for i in range(0, len(blob), WORD_BYTES)
    ]
