"""The vector unit's functions, declared once: code, kind, arithmetic domain, cycles and doc.

``simulator.isa`` re-exports ``VFunc``, ``VFuncInfo``, ``VFUNC_INFO``, ``LUT_ENTRIES`` and
``PACKED_BITS``, so the ISA stays the one place instructions are read from; the functional model
(``simulator.vector``), the footprints, the cost model, ``docs/isa.md`` and the Verilog header all
take the functions from this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
    QADD = 82
    REQUANT_BIAS = 83

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
        "entries src1_s2 apart, element (i0, i1)'s at src1_addr + i0*src1_s0 + i1*src1_s1 "
        "(zero strides: one table for every element, whatever the counts; else a table a "
        "row, as attention's probabilities of a query row); an int8 source with imm0 = -128 "
        "maps every value (int8 -> int8 functions such as a quantised activation chain)",
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
    VFunc.QADD: _vf(
        "quant",
        "int",
        2,
        "dst = clamp(round_half_even(((src0 - za) * ma + (src1 - zb) * mb) / 2**shift) + zy, "
        "lo, hi): a requantising add of two quantised tensors (QLinearAdd), integers only; "
        "imm0 = (ma << 9) | za, imm1 = (mb << 9) | zb (ma, mb < 2**23), imm2 = shift | zy << 5 "
        "| lo << 14 | hi << 23 (zero points and bounds 9-bit two's complement, shift <= 31)",
        sources=2,
    ),
    VFunc.REQUANT_BIAS: _vf(
        "quant",
        "int",
        2,
        "dst = clamp(round_half_even(wrap32(src0 + src1) * mult / 2**shift) + imm0, lo, hi): "
        "REQUANT of the accumulators plus their int32 bias (src1) in one pass, as an NPU's "
        "output stage adds the bias before scaling; the scale word (mult << 8) | shift of "
        "each element is imm2 bytes after its bias word (same strides); imm1 = (lo & 0xFFFF) "
        "| hi << 16, two int16 bounds",
        sources=2,
    ),
}
VFUNC_INFO = {f: VFuncInfo(int(f), *row) for f, row in _VFUNC_TABLE.items()}
