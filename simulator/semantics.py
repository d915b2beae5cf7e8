"""Numeric semantics of the NPU's datapaths, in numpy, once.

The simulator's functional model, the compiler's constant preparation and the cocotb benches
all call these functions; nothing else defines how the hardware rounds or saturates.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.isa import LUT_ENTRIES, DType

INT_RANGE = {
    DType.INT8: (-128, 127),
    DType.UINT8: (0, 255),
    DType.INT32: (-(2**31), 2**31 - 1),
}
NUMPY_DTYPE = {
    DType.INT8: np.int8,
    DType.UINT8: np.uint8,
    DType.INT32: np.int32,
    DType.FP32: np.float32,
    DType.FP16: np.float16,
    DType.BF16: np.uint16,  # stored as raw bfloat16 bit patterns
}
MULT_BITS = 24  # requantisation multiplier width: an fp32 mantissa, exactly
SHIFT_MAX = 255


def pack_requant_scale(scale: float) -> int:
    """The int32 word (mult << 8) | shift with mult / 2**shift == float32(scale) exactly.

    Any positive normal float32 scale below 2**24 is represented without rounding: its 24-bit
    mantissa is the multiplier. Raises ValueError for negative, non-finite or huge scales.
    """
    s = float(np.float32(scale))
    if not math.isfinite(s) or s < 0:
        raise ValueError(f"requantisation scale {scale!r} must be finite and >= 0")
    if s == 0.0:
        return 0
    mant, exp = math.frexp(s)  # s = mant * 2**exp, mant in [0.5, 1) (Python floats: quicker)
    mult = int(mant * (1 << MULT_BITS))
    shift = MULT_BITS - int(exp)
    while shift > SHIFT_MAX and mult:  # tiny scales: drop precision rather than fail
        mult >>= 1
        shift -= 1
    if shift < 0:
        raise ValueError(f"requantisation scale {scale!r} is too large (>= 2**24)")
    while mult and not mult & 1 and shift > 0:  # canonical form: odd multiplier
        mult >>= 1
        shift -= 1
    return (mult << 8) | shift


def pack_requant_scales(scales) -> np.ndarray:
    """``pack_requant_scale`` of every element, as uint32 words, in one numpy pass (a layer's
    per-channel words: a thousandth of the per-element calls' time)."""
    s = np.asarray(scales, np.float32).astype(np.float64).ravel()
    if not np.all(np.isfinite(s) & (s >= 0)):
        bad = s[~(np.isfinite(s) & (s >= 0))][0]
        raise ValueError(f"requantisation scale {bad!r} must be finite and >= 0")
    mant, exp = np.frexp(s)
    mult = (mant * (1 << MULT_BITS)).astype(np.int64)
    shift = MULT_BITS - exp.astype(np.int64)
    drop = np.minimum(np.maximum(shift - SHIFT_MAX, 0), MULT_BITS)  # tiny: mult 24 bits at most
    mult >>= drop
    shift -= drop
    if np.any(shift < 0):
        raise ValueError(f"requantisation scale {s[shift < 0][0]!r} is too large (>= 2**24)")
    low = mult & -mult  # the lowest set bit: the canonical form's odd multiplier
    zeros = np.where(mult != 0, np.log2(np.maximum(low, 1)).astype(np.int64), 0)
    even = np.minimum(zeros, np.maximum(shift, 0))
    mult >>= even
    shift -= even
    return ((mult << 8) | np.where(s == 0, 0, shift)).astype(np.uint32)


def unpack_requant_scale(word: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(word, dtype=np.int64) & 0xFFFFFFFF
    return w >> 8, w & 0xFF


def shift_round_half_even(value: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """round_half_even(value / 2**shift) for int64 values and shifts in [0, 255].

    floor((value + 2**(shift-1) - 1 + lsb) / 2**shift) with lsb the last bit of the floored
    quotient: above the tie this carries, below it doesn't, at the tie it rounds to even.
    Shifts are clamped to 62 (values are below 2**56, so the result is 0 or -1 by then).
    """
    value = np.asarray(value, dtype=np.int64)
    shift = np.minimum(np.asarray(shift, dtype=np.int64), 62)
    half = (np.int64(1) << shift) >> 1
    out = np.asarray(value >> shift)
    out &= 1
    out += half - 1
    np.maximum(out, 0, out=out)
    out += value
    out >>= shift
    return out


def requantize(
    acc: np.ndarray, packed: np.ndarray, zero_point: int, lo: int, hi: int
) -> np.ndarray:
    """int32 accumulators -> clamp(round_half_even(acc * mult / 2**shift) + zp, lo, hi), as int32.

    The product of a 32-bit accumulator and a 24-bit multiplier needs 56 bits; the RTL
    computes exactly this.
    """
    mult, shift = unpack_requant_scale(packed)
    prod = np.asarray(acc, dtype=np.int64) * mult
    out = shift_round_half_even(prod, shift)
    out += np.int64(zero_point)
    np.maximum(out, lo, out=out)  # np.minimum/maximum: np.clip has a slow Python wrapper
    np.minimum(out, hi, out=out)
    return out.astype(np.int32)


def pack_bounds16(lo: int, hi: int) -> int | None:
    """REQUANT_BIAS's imm1: two int16 bounds, lo in the low half; None if one does not fit."""
    if not (-(2**15) <= lo < 2**15 and -(2**15) <= hi < 2**15):
        return None
    return (lo & 0xFFFF) | (hi & 0xFFFF) << 16


def requant_bias(
    acc: np.ndarray, bias: np.ndarray, packed: np.ndarray, zero_point: int, bounds: int
) -> np.ndarray:
    """REQUANT_BIAS: ``requantize`` of acc + bias (int32, wrapping as the vector unit's ADD),
    clamped to the int16 bounds packed in ``bounds``: ADD then REQUANT, bit for bit."""
    total = (np.asarray(acc, np.int64) + np.asarray(bias, np.int64)).astype(np.int32)
    return requantize(total, packed, zero_point, *unpack_bounds16(bounds))


def unpack_bounds16(bounds: int) -> tuple[int, int]:
    """(lo, hi) of REQUANT_BIAS's imm1."""
    b = int(bounds) & 0xFFFFFFFF
    return _field(b, 0, 16), _field(b, 16, 16)


QADD_MULT_BITS = 23  # QADD's multipliers: the larger of the two in [2**22, 2**23)
QADD_SHIFT_MAX = 31


def _field(word: int, at: int, bits: int) -> int:
    """The signed ``bits``-wide field of ``word`` at bit ``at``."""
    v = (word >> at) & ((1 << bits) - 1)
    return v - (1 << bits) if v >> (bits - 1) else v


def pack_qadd(a: tuple, b: tuple, y: tuple, lo: int, hi: int) -> tuple[int, int, int] | None:
    """QADD's immediates for y = a + b of quantised tensors, each ``(scale, zero_point)``,
    the result clamped to ``[lo, hi]`` (quantised; a fused Relu or Clip):

    - imm0 = (mult_a << 9) | (za & 0x1FF), imm1 likewise for b: multipliers below 2**23,
      zero points as 9-bit two's complement (int8 and uint8 zero points both fit);
    - imm2 = shift | zy << 5 | lo << 14 | hi << 23, each a 9-bit two's complement field.

    mult / 2**shift is s_a / s_y (and s_b / s_y) rounded to 23 bits; None when that cannot be
    (a ratio of 2**23 or more, or the larger ratio below 2**-8: the caller keeps the fp32 path).
    """
    ra = float(np.float32(a[0])) / float(np.float32(y[0]))
    rb = float(np.float32(b[0])) / float(np.float32(y[0]))
    top = max(ra, rb)
    if not (math.isfinite(top) and top > 0 and min(ra, rb) >= 0):
        return None
    shift = QADD_MULT_BITS - math.frexp(top)[1]
    mults = [round(r * 2.0**shift) for r in (ra, rb)]
    if max(mults) >= 1 << QADD_MULT_BITS:  # the larger ratio rounded up to 2**23
        shift -= 1
        mults = [round(r * 2.0**shift) for r in (ra, rb)]
    if not 0 <= shift <= QADD_SHIFT_MAX:
        return None
    zs = (a[1], b[1], y[1], lo, hi)
    if any(not -256 <= int(z) <= 255 for z in zs):
        return None
    zy, lo, hi = (int(v) & 0x1FF for v in zs[2:])
    return (
        (mults[0] << 9) | (int(a[1]) & 0x1FF),
        (mults[1] << 9) | (int(b[1]) & 0x1FF),
        shift | zy << 5 | lo << 14 | hi << 23,
    )


def qadd(a: np.ndarray, b: np.ndarray, imm0: int, imm1: int, imm2: int) -> np.ndarray:
    """QADD: clamp(round_half_even(((a - za) mult_a + (b - zb) mult_b) / 2**shift) + zy, lo, hi)
    in int64 (``pack_qadd`` gives the fields). (a - za) needs 10 bits, each product 33, their
    sum 34; the RTL computes exactly this."""
    w0, w1, w2 = (int(v) & 0xFFFFFFFF for v in (imm0, imm1, imm2))
    acc = (np.asarray(a, np.int64) - _field(w0, 0, 9)) * (w0 >> 9)
    acc += (np.asarray(b, np.int64) - _field(w1, 0, 9)) * (w1 >> 9)
    out = shift_round_half_even(acc, w2 & 0x1F)
    out += _field(w2, 5, 9)
    np.maximum(out, _field(w2, 14, 9), out=out)
    np.minimum(out, _field(w2, 23, 9), out=out)
    return out


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: DType) -> np.ndarray:
    """fp32 -> int: saturate(round_half_even(x / scale) + zp), as onnxruntime's QuantizeLinear."""
    lo, hi = INT_RANGE[dtype]
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(scale)) + np.float32(zero_point)
    return np.clip(np.nan_to_num(q, nan=0.0), lo, hi).astype(NUMPY_DTYPE[dtype])


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int -> fp32: (q - zp) * scale, as onnxruntime's DequantizeLinear."""
    diff = np.asarray(q, dtype=np.int32) - np.int32(zero_point)
    return diff.astype(np.float32) * np.float32(scale)


def saturate_int(values: np.ndarray, dtype: DType) -> np.ndarray:
    lo, hi = INT_RANGE[dtype]
    return np.clip(values, lo, hi).astype(NUMPY_DTYPE[dtype])


def wrap_int32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype(np.int32)


def matmul_int8(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact int8 x int8 -> int32 product. float64 BLAS is exact: every partial sum < 2**53."""
    prod = a.astype(np.float64) @ w.astype(np.float64)
    return wrap_int32(prod.astype(np.int64))


# The largest |a * w| of one product term: an fp32 sum of k such terms is exact while every
# partial sum is an integer of magnitude <= 2**24, i.e. while k * MAX_TERM <= 2**24.
MAX_TERM = {DType.INT8: 128 * 128, DType.UINT8: 255 * 255}


def fp32_matmul_is_exact(dtype: DType, k: int) -> bool:
    """True if ``matmul_int8_fp32`` equals ``matmul_int8`` for these operands (any BLAS order)."""
    return k * MAX_TERM[dtype] <= 1 << 24


def matmul_int8_fp32(a: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``matmul_int8`` through fp32 BLAS, when ``fp32_matmul_is_exact``: no wrap is possible.

    ``out``: an int32 array to write the product to (else a new one).
    """
    if out is None:
        out = np.empty((a.shape[0], w.shape[1]), np.int32)
    return np.matmul(a, w, dtype=np.float32, out=out, casting="unsafe")


def matmul_float(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """fp32 operands, products summed in a wide (float64) accumulator, rounded once to fp32.

    The rounding happens once per instruction, so a column's result does not depend on how
    many columns share its tile or which BLAS kernel computes it (fp32 BLAS picks kernels by
    width and their summation orders differ in the last bits).
    """
    return (a.astype(np.float64) @ w.astype(np.float64)).astype(np.float32)


def lut(values: np.ndarray, tables: np.ndarray, offset: int) -> np.ndarray:
    """LUT: each of ``values`` (int64, [n0, n1, n2]) looked up at ``value - offset``, clamped to
    the table, in its table: ``tables`` [t0, t1, LUT_ENTRIES] with t0 in (1, n0) and t1 in
    (1, n1) (one table for all, or one per (i0, i1)); any other shape: its first
    ``LUT_ENTRIES`` values, one table."""
    index = np.clip(values - offset, 0, LUT_ENTRIES - 1)
    if tables.ndim != 3 or tables.shape[:2] == (1, 1) or values.ndim != 3:
        return tables.reshape(-1)[:LUT_ENTRIES][index]
    rows = np.broadcast_to(tables[..., :LUT_ENTRIES], (*values.shape[:2], LUT_ENTRIES))
    return np.take_along_axis(rows, index, axis=2)
