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


@dataclass(frozen=True)
class VFuncInfo:
    """One vector function: how many sources it reads, its arithmetic domain and cost."""

    code: int
    kind: str  # unary | binary | reduce | quant | select (a masked write of dst) | lut | packed
    domain: str  # "auto" (int32 unless an operand is float), "float" or "int" (integers only)
    cycles: int  # cycles per lane-vector of elements
    doc: str
    sources: int  # source operands read: 1 (src0) or 2 (src0 and src1)


class VFunc(enum.IntEnum):
    COPY = 1
    ADD = 2
    SUB = 3
    MUL = 4
    DIV = 5
    MAX = 6
    MIN = 7
    POW = 8
    ADD_IMM = 9
    MUL_IMM = 10
    RELU = 11
    CLIP = 12
    LEAKY_RELU = 13
    SIGMOID = 14
    TANH = 15
    HARD_SIGMOID = 16
    HARD_SWISH = 17
    ERF = 18
    GELU = 19
    EXP = 20
    SQRT = 21
    RECIP = 22
    NEG = 23
    ABS = 24
    RSQRT = 25
    DEQUANT = 26
    QUANT = 27
    REQUANT = 28
    RSUM = 29
    RMAX = 30
    RMIN = 31
    # appended for the op tables (codes are never renumbered: the RTL depends on them)
    LOG = 32
    FLOOR = 33
    CEIL = 34
    ROUND = 35
    TRUNC = 36
    SIGN = 37
    SIN = 38
    COS = 39
    TAN = 40
    ASIN = 41
    ACOS = 42
    ATAN = 43
    SINH = 44
    COSH = 45
    ASINH = 46
    ACOSH = 47
    ATANH = 48
    SOFTPLUS = 49
    SOFTSIGN = 50
    ELU = 51
    SELU = 52
    CELU = 53
    THRESHOLDED_RELU = 54
    MISH = 55
    SHRINK = 56
    SWISH = 57
    GELU_TANH = 58
    ISNAN = 59
    ISINF = 60
    NOT = 61
    EQ = 62
    LT = 63
    LE = 64
    AND = 65
    OR = 66
    XOR = 67
    SELECT = 68
    FMOD = 69
    MOD = 70
    PRELU = 71
    IDIV = 72
    BITAND = 73
    BITOR = 74
    BITXOR = 75
    BITNOT = 76
    RPROD = 77
    RARGMAX = 78
    RARGMIN = 79
    LUT = 80
    DEQUANT_PACKED = 81

    @property
    def info(self) -> VFuncInfo:
        return VFUNC_INFO[self]


LUT_ENTRIES = 256  # entries of a LUT table (every value of an 8-bit index)
PACKED_BITS = (4, 8)  # code widths DEQUANT_PACKED unpacks (imm0)


def _vf(kind: str, domain: str, cycles: int, doc: str, sources: int | None = None) -> tuple:
    """One row of the table; ``sources`` defaults to 2 for binary and select functions, else 1."""
    return kind, domain, cycles, doc, sources or (2 if kind in ("binary", "select") else 1)


_VFUNC_TABLE = {
    VFunc.COPY: _vf("unary", "auto", 1, "dst = src0 (converted to dst dtype)"),
    VFunc.ADD: _vf("binary", "auto", 1, "dst = src0 + src1"),
    VFunc.SUB: _vf("binary", "auto", 1, "dst = src0 - src1"),
    VFunc.MUL: _vf("binary", "auto", 1, "dst = src0 * src1"),
    VFunc.DIV: _vf("binary", "float", 4, "dst = src0 / src1"),
    VFunc.MAX: _vf("binary", "auto", 1, "dst = max(src0, src1)"),
    VFunc.MIN: _vf("binary", "auto", 1, "dst = min(src0, src1)"),
    VFunc.POW: _vf("binary", "float", 8, "dst = src0 ** src1"),
    VFunc.ADD_IMM: _vf("unary", "auto", 1, "dst = src0 + imm0"),
    VFunc.MUL_IMM: _vf("unary", "auto", 1, "dst = src0 * imm0"),
    VFunc.RELU: _vf("unary", "auto", 1, "dst = max(src0, 0)"),
    VFunc.CLIP: _vf("unary", "auto", 1, "dst = min(max(src0, imm0), imm1)"),
    VFunc.LEAKY_RELU: _vf("unary", "float", 1, "dst = src0 if src0 >= 0 else imm0 * src0"),
    VFunc.SIGMOID: _vf("unary", "float", 4, "dst = 1 / (1 + exp(-src0))"),
    VFunc.TANH: _vf("unary", "float", 4, "dst = tanh(src0)"),
    VFunc.HARD_SIGMOID: _vf("unary", "float", 2, "dst = clip(imm0 * src0 + imm1, 0, 1)"),
    VFunc.HARD_SWISH: _vf("unary", "float", 2, "dst = src0 * clip(src0 / 6 + 1/2, 0, 1)"),
    VFunc.ERF: _vf("unary", "float", 4, "dst = erf(src0)"),
    VFunc.GELU: _vf("unary", "float", 6, "dst = src0 / 2 * (1 + erf(src0 / sqrt(2)))"),
    VFunc.EXP: _vf("unary", "float", 4, "dst = exp(src0)"),
    VFunc.SQRT: _vf("unary", "float", 4, "dst = sqrt(src0)"),
    VFunc.RECIP: _vf("unary", "float", 4, "dst = 1 / src0"),
    VFunc.NEG: _vf("unary", "auto", 1, "dst = -src0"),
    VFunc.ABS: _vf("unary", "auto", 1, "dst = abs(src0)"),
    VFunc.RSQRT: _vf("unary", "float", 4, "dst = 1 / sqrt(src0)"),
    VFunc.DEQUANT: _vf("quant", "float", 1, "dst = (src0 - imm0:int) * imm1:fp32"),
    VFunc.QUANT: _vf(
        "quant", "float", 2, "dst = saturate(round_half_even(src0 / imm1:fp32) + imm0:int)"
    ),
    VFunc.REQUANT: _vf(
        "quant",
        "int",
        2,
        "dst = clamp(round_half_even(src0 * mult / 2**shift) + imm0, imm1, imm2); "
        "src1 holds int32 words (mult << 8) | shift, mult < 2**24",
        sources=2,
    ),
    VFunc.RSUM: _vf("reduce", "auto", 1, "dst[i0, i1] = sum over i2 of src0[i0, i1, i2]"),
    VFunc.RMAX: _vf("reduce", "auto", 1, "dst[i0, i1] = max over i2 of src0[i0, i1, i2]"),
    VFunc.RMIN: _vf("reduce", "auto", 1, "dst[i0, i1] = min over i2 of src0[i0, i1, i2]"),
    VFunc.LOG: _vf("unary", "float", 4, "dst = log(src0)"),
    VFunc.FLOOR: _vf("unary", "float", 1, "dst = floor(src0)"),
    VFunc.CEIL: _vf("unary", "float", 1, "dst = ceil(src0)"),
    VFunc.ROUND: _vf("unary", "float", 1, "dst = src0 rounded half to even"),
    VFunc.TRUNC: _vf("unary", "float", 1, "dst = src0 rounded toward zero"),
    VFunc.SIGN: _vf("unary", "auto", 1, "dst = -1, 0 or 1 by the sign of src0 (NaN stays NaN)"),
    VFunc.SIN: _vf("unary", "float", 4, "dst = sin(src0)"),
    VFunc.COS: _vf("unary", "float", 4, "dst = cos(src0)"),
    VFunc.TAN: _vf("unary", "float", 6, "dst = tan(src0)"),
    VFunc.ASIN: _vf("unary", "float", 6, "dst = asin(src0)"),
    VFunc.ACOS: _vf("unary", "float", 6, "dst = acos(src0)"),
    VFunc.ATAN: _vf("unary", "float", 6, "dst = atan(src0)"),
    VFunc.SINH: _vf("unary", "float", 6, "dst = sinh(src0)"),
    VFunc.COSH: _vf("unary", "float", 6, "dst = cosh(src0)"),
    VFunc.ASINH: _vf("unary", "float", 6, "dst = asinh(src0)"),
    VFunc.ACOSH: _vf("unary", "float", 6, "dst = acosh(src0)"),
    VFunc.ATANH: _vf("unary", "float", 6, "dst = atanh(src0)"),
    VFunc.SOFTPLUS: _vf("unary", "float", 6, "dst = log(1 + exp(src0)) (overflow-free form)"),
    VFunc.SOFTSIGN: _vf("unary", "float", 4, "dst = src0 / (1 + abs(src0))"),
    VFunc.ELU: _vf("unary", "float", 4, "dst = src0 if src0 > 0 else imm0 * (exp(src0) - 1)"),
    VFunc.SELU: _vf(
        "unary", "float", 4, "dst = imm1 * (src0 if src0 > 0 else imm0 * (exp(src0) - 1))"
    ),
    VFunc.CELU: _vf(
        "unary", "float", 4, "dst = max(0, src0) + min(0, imm0 * (exp(src0 / imm0) - 1))"
    ),
    VFunc.THRESHOLDED_RELU: _vf("unary", "float", 1, "dst = src0 if src0 > imm0 else 0"),
    VFunc.MISH: _vf("unary", "float", 8, "dst = src0 * tanh(log(1 + exp(src0)))"),
    VFunc.SHRINK: _vf(
        "unary",
        "float",
        1,
        "dst = src0 + imm1 if src0 < -imm0, src0 - imm1 if src0 > imm0, else 0",
    ),
    VFunc.SWISH: _vf("unary", "float", 4, "dst = src0 / (1 + exp(-imm0 * src0)) (SiLU: imm0 = 1)"),
    VFunc.GELU_TANH: _vf(
        "unary",
        "float",
        6,
        "dst = src0 / 2 * (1 + tanh(sqrt(2 / pi) * (src0 + 0.044715 * src0 ** 3)))",
    ),
    VFunc.ISNAN: _vf("unary", "float", 1, "dst = 1 if src0 is NaN else 0"),
    VFunc.ISINF: _vf(
        "unary",
        "float",
        1,
        "dst = 1 if src0 is +inf and imm0 != 0, or -inf and imm1 != 0, else 0",
    ),
    VFunc.NOT: _vf("unary", "auto", 1, "dst = 1 if src0 == 0 else 0"),
    VFunc.EQ: _vf("binary", "auto", 1, "dst = 1 if src0 == src1 else 0"),
    VFunc.LT: _vf("binary", "auto", 1, "dst = 1 if src0 < src1 else 0"),
    VFunc.LE: _vf("binary", "auto", 1, "dst = 1 if src0 <= src1 else 0"),
    VFunc.AND: _vf("binary", "auto", 1, "dst = 1 if src0 != 0 and src1 != 0 else 0"),
    VFunc.OR: _vf("binary", "auto", 1, "dst = 1 if src0 != 0 or src1 != 0 else 0"),
    VFunc.XOR: _vf("binary", "auto", 1, "dst = 1 if (src0 != 0) != (src1 != 0) else 0"),
    VFunc.SELECT: _vf(
        "select",
        "auto",
        1,
        "dst = src1 where src0 != 0; dst elements where src0 == 0 are not written",
    ),
    VFunc.FMOD: _vf("binary", "float", 4, "dst = fmod(src0, src1) (the sign of src0)"),
    VFunc.MOD: _vf(
        "binary",
        "auto",
        4,
        "dst = src0 - floor(src0 / src1) * src1 (the sign of src1); 0 if src1 == 0",
    ),
    VFunc.PRELU: _vf("binary", "float", 1, "dst = src0 if src0 >= 0 else src1 * src0"),
    VFunc.IDIV: _vf(
        "binary", "auto", 4, "dst = src0 / src1 rounded toward zero (integers); 0 if src1 == 0"
    ),
    VFunc.BITAND: _vf("binary", "int", 1, "dst = src0 & src1 (two's complement)"),
    VFunc.BITOR: _vf("binary", "int", 1, "dst = src0 | src1"),
    VFunc.BITXOR: _vf("binary", "int", 1, "dst = src0 ^ src1"),
    VFunc.BITNOT: _vf("unary", "int", 1, "dst = ~src0"),
    VFunc.RPROD: _vf("reduce", "auto", 1, "dst[i0, i1] = product over i2 of src0[i0, i1, i2]"),
    VFunc.RARGMAX: _vf(
        "reduce",
        "auto",
        1,
        "dst[i0, i1] = the i2 of the largest src0[i0, i1, i2], int32 (ties: the first, or the "
        "last if imm0 != 0)",
    ),
    VFunc.RARGMIN: _vf(
        "reduce",
        "auto",
        1,
        "dst[i0, i1] = the i2 of the smallest src0[i0, i1, i2], int32 (ties: the first, or "
        "the last if imm0 != 0)",
    ),
    VFunc.LUT: _vf(
        "lut",
        "int",
        1,
        f"dst = src1[clamp(src0 - imm0:int, 0, {LUT_ENTRIES - 1})]: a table of {LUT_ENTRIES} "
        "entries at src1_addr, contiguous in src1's dtype, whatever the counts (an int8 "
        "source with imm0 = -128 maps every value; int8 -> int8 functions such as a "
        "quantised activation chain)",
        sources=2,
    ),
    VFunc.DEQUANT_PACKED: _vf(
        "packed",
        "float",
        1,
        "dst[i0, i1, i2] = (q - zp) * scale: q the i2-th imm0-bit unsigned code (imm0 in "
        f"{PACKED_BITS}) of the src0 bytes at src0_addr + i0*src0_s0 + i1*src0_s1 (UINT8, "
        "contiguous, low nibble first; n2 * imm0 a multiple of 8); scale the fp32 "
        "src1[i0, i1, 0]; zp the fp32 src1[i0, i1, 1] (src1_s2 apart) if imm1 != 0, else the "
        "int32 imm2. A weight group of onnxruntime's MatMulNBits per (i0, i1)",
        sources=2,
    ),
}
VFUNC_INFO = {f: VFuncInfo(int(f), *row) for f, row in _VFUNC_TABLE.items()}


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
