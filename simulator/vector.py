"""The vector unit's arithmetic: ``vector_apply`` computes one Vector instruction on arrays.

This is the single numeric definition of every ``VFunc``; the functional model and the cocotb
benches both call it. Operands arrive as numpy arrays in their storage dtype
(``semantics.NUMPY_DTYPE``: bf16 is raw ``uint16`` bit patterns, the only ``uint16`` use, so the
array dtype names the operand ``DType`` unambiguously).

Domains (``VFuncInfo.domain``):
- ``float``: sources are widened to fp32, the function runs in fp32 (``ERF``/``GELU`` evaluate
  erf in float64 with Abramowitz-Stegun 7.1.26, |error| < 1.5e-7, then round to fp32);
- ``auto``: fp32 if any source is a float type, else int64 wrapped to int32 at the end;
- ``int``: integers only (int64 wrapped to int32 at the end; a float source is truncated):
  ``REQUANT``, ``REQUANT_BIAS``, ``QADD`` (``semantics.requantize``, ``requant_bias``, ``qadd``).

Comparisons and logical functions (``EQ``, ``LT``, ``LE``, ``AND``, ``OR``, ``XOR``, ``NOT``,
``ISNAN``, ``ISINF``) give 1 or 0 in that domain (a ``UINT8`` dst holds an ONNX bool).
``SELECT`` is a masked write: dst takes src1 (converted) where src0 != 0 and keeps its own value
elsewhere. ``RARGMAX``/``RARGMIN`` give the int32 index along dim 2 (ties: the first, or the
last when imm0 != 0). ``LUT`` looks each element up in a table of ``LUT_ENTRIES`` values (src1:
one for all, or one a row) at index ``src0 - imm0`` clamped to the table (``semantics.lut``): any
function of an 8-bit value. ``DEQUANT_PACKED`` unpacks 4- or 8-bit unsigned codes (UINT8 bytes, low nibble
first) and dequantises them per group (one scale, and a zero point, per (i0, i1)): onnxruntime's
``MatMulNBits`` weights, unpacked into a weight tile.

Immediates are raw 32-bit patterns: fp32 in the float domain, int32 otherwise, except
``DEQUANT``/``QUANT`` (imm0 int32 zero point, imm1 fp32 scale) and ``REQUANT`` (imm0 zero point,
imm1 low clamp, imm2 high clamp, all int32; src1 holds packed ``(mult << 8) | shift`` words);
``QADD`` and ``REQUANT_BIAS`` pack theirs as ``simulator.vfuncs`` documents. Conversion to the
destination dtype: float -> int rounds half to even then saturates (NaN -> 0); int32 ->
int8/uint8 saturates; fp32 -> fp16/bf16 rounds to nearest even. Reductions
(``RSUM``/``RMAX``/``RMIN``) fold the last axis and keep it with length 1; integer sums are
exact (int64) then wrap to int32, fp32 sums and products are taken in float64 and rounded once.
"""

from __future__ import annotations

from math import inf, ldexp

import numpy as np

from simulator.isa import PACKED_BITS, DType, VFunc
from simulator.semantics import INT_RANGE, NUMPY_DTYPE, lut, qadd, requant_bias, requantize

_NP_TO_DTYPE = {np.dtype(v): k for k, v in NUMPY_DTYPE.items()}
_FLOAT_NP = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.uint16))


def imm_as_int(imm: int) -> int:
    """A raw 32-bit immediate read as a signed int32."""
    imm = int(imm) & 0xFFFFFFFF
    return imm - (1 << 32) if imm >> 31 else imm


def imm_as_float(imm: int) -> np.float32:
    """A raw 32-bit immediate read as an fp32 bit pattern."""
    return np.array(int(imm) & 0xFFFFFFFF, dtype=np.uint32).view(np.float32)[()]


def float_bits(value: float) -> int:
    """The raw 32-bit immediate of an fp32 value (for building instructions)."""
    return int(np.array(value, dtype=np.float32).view(np.uint32))


def int_bits(value: int) -> int:
    """The raw 32-bit immediate of an int32 value (for building instructions)."""
    return int(value) & 0xFFFFFFFF


def bf16_to_fp32(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def fp32_to_bf16(x: np.ndarray) -> np.ndarray:
    """fp32 -> bf16 bit patterns, round to nearest even; NaN stays a (quiet) NaN."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + (((bits >> 16) & 1) + 0x7FFF)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)


def to_fp32(x: np.ndarray) -> np.ndarray:
    """Widen any storage dtype to fp32 (bf16 bit patterns shift into the high half)."""
    if x.dtype == np.uint16:
        return bf16_to_fp32(x)
    return x.astype(np.float32)


def convert(values: np.ndarray, dst: DType) -> np.ndarray:
    """Round/saturate fp32 or int64 results into the storage dtype of ``dst``."""
    dst = DType(dst)
    if values.dtype.kind == "f":
        if dst == DType.BF16:
            return fp32_to_bf16(values)
        if dst.is_float:
            return values.astype(NUMPY_DTYPE[dst])
        lo, hi = INT_RANGE[dst]
        r = np.nan_to_num(np.rint(values.astype(np.float64)), nan=0.0)
        return np.clip(r, lo, hi).astype(NUMPY_DTYPE[dst])
    wrapped = values.astype(np.int32, copy=False)
    if dst == DType.BF16:
        return fp32_to_bf16(wrapped.astype(np.float32))
    if dst.is_float:
        return wrapped.astype(np.float32).astype(NUMPY_DTYPE[dst])
    if dst == DType.INT32:
        return wrapped
    lo, hi = INT_RANGE[dst]
    return np.minimum(np.maximum(wrapped, lo), hi).astype(NUMPY_DTYPE[dst])


_INT_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int32))
_FP64_EXACT = 1 << 52  # |acc * mult| below this: acc * mult / 2**shift is exact in float64
_ANY_INT32 = 1 << 20  # multipliers up to this are exact for every int32 acc (2**31 * 2**20 < 2**52)
_MAX, _MIN = np.maximum.reduce, np.minimum.reduce  # no Python wrapper, unlike ndarray.max
_TABLE_MAX = 1 << 16  # clamp ranges up to this long are a table lookup


class RequantFp64:
    """``vector_apply(REQUANT, acc, packed, imm0, imm1, imm2, dst)`` in exact float64.

    For integer operands and an integer ``dst``. While |acc * mult| < 2**52 the scaled product
    acc * (mult * 2**-shift) is an exact float64, so ``np.rint`` rounds it half to even exactly
    as ``semantics.shift_round_half_even`` does (a shift past 62 rounds to 0 in both). Adding
    the zero point and clamping then match the int64 path: rounding is monotone and the bounds
    are exact. The clamp to [imm1, imm2] followed by the saturation to ``dst`` is one clamp to
    [f(-inf), f(+inf)] (a composition of clamps is a clamp). The |acc| test is skipped when
    every column j whose product may be inexact has 2**(52 - shift_j) > ``reach``: such a
    product is then at least that large (rounding is monotone), so it and the exact value
    both clamp to the same bound. A narrow clamp (8-bit ``dst``) is one table lookup of the
    rounded value as an int64 index (|value| < 2**56, exact), which ``take(mode="clip")``
    clamps; a wide one runs in float64.
    ``__call__`` returns the result in ``dst``'s storage dtype, or None when it may be
    inexact; ``into`` writes it to a given array.
    """

    _scales: dict[tuple, tuple] = {}  # packed words -> ``_unpack_scales``

    def __init__(self, imm0: int, imm1: int, imm2: int, dst: DType):
        lo, hi = imm_as_int(imm1), imm_as_int(imm2)
        dlo, dhi = INT_RANGE[DType(dst)]

        def clamp(x: int) -> int:
            return min(max(min(max(x, lo), hi), dlo), dhi)

        self.zp = imm_as_int(imm0)
        self.lo, self.hi = clamp(-(1 << 64)), clamp(1 << 64)
        self.reach = max(self.hi - self.zp, self.zp - self.lo) + 1  # |rounded| past it clamps
        self.dtype = np.dtype(NUMPY_DTYPE[DType(dst)])
        self.table = None  # table[i] = lo + i
        if self.hi - self.lo < _TABLE_MAX:
            self.table = np.arange(self.lo, self.hi + 1).astype(self.dtype)

    def __call__(self, acc: np.ndarray, packed: np.ndarray) -> np.ndarray | None:
        if acc.dtype not in _INT_DTYPES or packed.dtype not in _INT_DTYPES or not acc.size:
            return None
        shape = np.broadcast_shapes(acc.shape, packed.shape)
        out = np.empty(shape, self.dtype)
        work = np.empty(shape), np.empty(shape, np.int64)
        return out if self.into(acc, packed, out, work) else None

    def into(self, acc: np.ndarray, packed: np.ndarray, out: np.ndarray, work: tuple) -> bool:
        """Write the result to ``out`` (of ``dst``'s storage dtype) through ``work`` (a float64
        and an int64 array), all of the broadcast shape; False, with nothing written, when the
        result may be inexact. Integer ``acc`` and ``packed``."""
        scale, mult_max, inexact_from = self._scale(packed)
        if inexact_from <= self.reach:
            top = max(int(_MAX(acc, axis=None)), -int(_MIN(acc, axis=None)))
            if top * mult_max >= _FP64_EXACT:
                return False
        product, index = work
        np.multiply(acc, scale, out=product)
        if self.table is not None:
            np.rint(product, out=index, casting="unsafe")
            if self.zp != self.lo:
                np.add(index, self.zp - self.lo, out=index)
            self.table.take(index, mode="clip", out=out)
            return True
        np.rint(product, out=product)
        if self.zp:
            np.add(product, self.zp, out=product)
        np.maximum(product, self.lo, out=product)
        np.minimum(product, self.hi, out=out, casting="unsafe")
        return True

    @classmethod
    def _scale(cls, packed: np.ndarray) -> tuple:
        """The scales (one float when they are all equal), the largest multiplier, and the
        least |acc * scale| whose float64 product may be inexact (inf if none may be)."""
        key = (packed.shape, packed.dtype.char, packed.tobytes())
        hit = cls._scales.get(key)
        if hit is None:
            if len(cls._scales) >= 4096:
                cls._scales.clear()
            hit = cls._scales[key] = _unpack_scales(packed)
        return hit


def _unpack_scales(packed: np.ndarray) -> tuple:
    words = packed.astype(np.int64) & 0xFFFFFFFF
    mult, shift = words >> 8, words & 0xFF
    scale = np.ldexp(mult.astype(np.float64), -shift.astype(np.int32))
    if scale.size and (scale == scale.flat[0]).all():
        scale = float(scale.flat[0])
    wide = shift[mult > _ANY_INT32]  # columns whose product may reach 2**52
    inexact_from = ldexp(1.0, 52 - int(wide.max())) if wide.size else inf
    return scale, int(mult.max()) if mult.size else 0, inexact_from


def _is_float(x: np.ndarray | None) -> bool:
    return x is not None and x.dtype in _FLOAT_NP


def _wide(fn):
    """``fn`` of fp32 operands evaluated in float64 and rounded once to fp32.

    numpy's fp32 kernels of exp, log, tanh, the trigonometric functions and the like differ
    from CPU to CPU (its AVX-512 build uses SVML, its AVX2 build other code) by an ulp here
    and there, which a QUANT after them turns into a different int8 step; its float64 kernels
    differ by a float64 ulp, which the rounding to fp32 hides. So the simulated numbers are
    the same on every machine, as a bit-exact model must be.
    """

    def wide(a, *rest):
        return fn(np.asarray(a, np.float64), *rest).astype(np.float32)

    return wide


def _erf(x: np.ndarray) -> np.ndarray:
    """erf in float64 by Abramowitz-Stegun 7.1.26 (|error| <= 1.5e-7)."""
    x = x.astype(np.float64)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return s * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return (x64 * 0.5 * (1.0 + _erf(x64 / np.sqrt(2.0)))).astype(np.float32)


def _hard_swish(x: np.ndarray) -> np.ndarray:
    return x * np.clip(x / np.float32(6) + np.float32(0.5), 0, 1).astype(np.float32)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    inner = np.sqrt(2.0 / np.pi) * (x64 + 0.044715 * x64**3)
    return (0.5 * x64 * (1.0 + np.tanh(inner))).astype(np.float32)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    one = a.dtype.type(1)
    return one / (one + np.exp(-a))


def _softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(a.dtype.type(0), a)


def _flag(cond: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A comparison's 0/1 result in the domain of its operands (fp32 or int64)."""
    return cond.astype(like.dtype)


def _nonzero(a: np.ndarray) -> np.ndarray:
    return a != 0


def _int_divide(a: np.ndarray, b: np.ndarray, i0, i1, i2) -> np.ndarray:
    """Integer division rounded toward zero (C's), 0 where b is 0; floats: trunc(a / b)."""
    if a.dtype.kind == "f":
        return np.trunc(a / b)
    safe = np.where(b == 0, 1, b)
    q = np.abs(a) // np.abs(safe)
    return np.where(b == 0, 0, np.where((a < 0) != (safe < 0), -q, q))


def _mod(a: np.ndarray, b: np.ndarray, i0, i1, i2) -> np.ndarray:
    """The remainder with the sign of the divisor (Python's %), 0 where b is 0."""
    if a.dtype.kind == "f":
        return np.mod(a, b)
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.mod(a, safe))


def _shrink(a, lambd, bias):
    return np.where(a < -lambd, a + bias, np.where(a > lambd, a - bias, a.dtype.type(0)))


def _celu(a, alpha):
    return np.maximum(a.dtype.type(0), a) + np.minimum(
        a.dtype.type(0), alpha * (_wide(np.exp)(a / alpha) - a.dtype.type(1))
    )


# Element-wise functions: f(a, b, imm0, imm1, imm2) on operands already in their domain.
_ELEMENTWISE = {
    VFunc.COPY: lambda a, b, i0, i1, i2: a,
    VFunc.ADD: lambda a, b, i0, i1, i2: a + b,
    VFunc.SUB: lambda a, b, i0, i1, i2: a - b,
    VFunc.MUL: lambda a, b, i0, i1, i2: a * b,
    VFunc.DIV: lambda a, b, i0, i1, i2: a / b,
    VFunc.MAX: lambda a, b, i0, i1, i2: np.maximum(a, b),
    VFunc.MIN: lambda a, b, i0, i1, i2: np.minimum(a, b),
    VFunc.POW: lambda a, b, i0, i1, i2: (
        _wide(np.power)(a, b) if a.dtype.kind == "f" else np.power(a, b)
    ),
    VFunc.ADD_IMM: lambda a, b, i0, i1, i2: a + i0,
    VFunc.MUL_IMM: lambda a, b, i0, i1, i2: a * i0,
    VFunc.RELU: lambda a, b, i0, i1, i2: np.maximum(a, a.dtype.type(0)),
    VFunc.CLIP: lambda a, b, i0, i1, i2: np.minimum(np.maximum(a, i0), i1),
    VFunc.LEAKY_RELU: lambda a, b, i0, i1, i2: np.where(a >= 0, a, i0 * a),
    VFunc.SIGMOID: lambda a, b, i0, i1, i2: _wide(_sigmoid)(a),
    VFunc.TANH: lambda a, b, i0, i1, i2: _wide(np.tanh)(a),
    VFunc.HARD_SIGMOID: lambda a, b, i0, i1, i2: np.clip(i0 * a + i1, 0, 1).astype(np.float32),
    VFunc.HARD_SWISH: lambda a, b, i0, i1, i2: _hard_swish(a),
    VFunc.ERF: lambda a, b, i0, i1, i2: _erf(a).astype(np.float32),
    VFunc.GELU: lambda a, b, i0, i1, i2: _gelu(a),
    VFunc.EXP: lambda a, b, i0, i1, i2: _wide(np.exp)(a),
    VFunc.SQRT: lambda a, b, i0, i1, i2: np.sqrt(a),
    VFunc.RECIP: lambda a, b, i0, i1, i2: np.float32(1) / a,
    VFunc.NEG: lambda a, b, i0, i1, i2: -a,
    VFunc.ABS: lambda a, b, i0, i1, i2: np.abs(a),
    VFunc.RSQRT: lambda a, b, i0, i1, i2: np.float32(1) / np.sqrt(a),
    VFunc.LOG: lambda a, b, i0, i1, i2: _wide(np.log)(a),
    VFunc.FLOOR: lambda a, b, i0, i1, i2: np.floor(a),
    VFunc.CEIL: lambda a, b, i0, i1, i2: np.ceil(a),
    VFunc.ROUND: lambda a, b, i0, i1, i2: np.rint(a),
    VFunc.TRUNC: lambda a, b, i0, i1, i2: np.trunc(a),
    VFunc.SIGN: lambda a, b, i0, i1, i2: np.sign(a),
    VFunc.SIN: lambda a, b, i0, i1, i2: _wide(np.sin)(a),
    VFunc.COS: lambda a, b, i0, i1, i2: _wide(np.cos)(a),
    VFunc.TAN: lambda a, b, i0, i1, i2: _wide(np.tan)(a),
    VFunc.ASIN: lambda a, b, i0, i1, i2: _wide(np.arcsin)(a),
    VFunc.ACOS: lambda a, b, i0, i1, i2: _wide(np.arccos)(a),
    VFunc.ATAN: lambda a, b, i0, i1, i2: _wide(np.arctan)(a),
    VFunc.SINH: lambda a, b, i0, i1, i2: _wide(np.sinh)(a),
    VFunc.COSH: lambda a, b, i0, i1, i2: _wide(np.cosh)(a),
    VFunc.ASINH: lambda a, b, i0, i1, i2: _wide(np.arcsinh)(a),
    VFunc.ACOSH: lambda a, b, i0, i1, i2: _wide(np.arccosh)(a),
    VFunc.ATANH: lambda a, b, i0, i1, i2: _wide(np.arctanh)(a),
    VFunc.SOFTPLUS: lambda a, b, i0, i1, i2: _wide(_softplus)(a),
    VFunc.SOFTSIGN: lambda a, b, i0, i1, i2: a / (np.float32(1) + np.abs(a)),
    VFunc.ELU: lambda a, b, i0, i1, i2: np.where(a > 0, a, i0 * _wide(np.expm1)(a)),
    VFunc.SELU: lambda a, b, i0, i1, i2: i1 * np.where(a > 0, a, i0 * _wide(np.expm1)(a)),
    VFunc.CELU: lambda a, b, i0, i1, i2: _celu(a, i0),
    VFunc.THRESHOLDED_RELU: lambda a, b, i0, i1, i2: np.where(a > i0, a, a.dtype.type(0)),
    VFunc.MISH: lambda a, b, i0, i1, i2: a * _wide(lambda x: np.tanh(_softplus(x)))(a),
    VFunc.SHRINK: lambda a, b, i0, i1, i2: _shrink(a, i0, i1),
    VFunc.SWISH: lambda a, b, i0, i1, i2: a * _wide(_sigmoid)(i0 * a),
    VFunc.GELU_TANH: lambda a, b, i0, i1, i2: _gelu_tanh(a),
    VFunc.ISNAN: lambda a, b, i0, i1, i2: _flag(np.isnan(a), a),
    VFunc.ISINF: lambda a, b, i0, i1, i2: _flag(
        ((a == np.inf) & (i0 != 0)) | ((a == -np.inf) & (i1 != 0)), a
    ),
    VFunc.NOT: lambda a, b, i0, i1, i2: _flag(a == 0, a),
    VFunc.EQ: lambda a, b, i0, i1, i2: _flag(a == b, a),
    VFunc.LT: lambda a, b, i0, i1, i2: _flag(a < b, a),
    VFunc.LE: lambda a, b, i0, i1, i2: _flag(a <= b, a),
    VFunc.AND: lambda a, b, i0, i1, i2: _flag(_nonzero(a) & _nonzero(b), a),
    VFunc.OR: lambda a, b, i0, i1, i2: _flag(_nonzero(a) | _nonzero(b), a),
    VFunc.XOR: lambda a, b, i0, i1, i2: _flag(_nonzero(a) ^ _nonzero(b), a),
    VFunc.FMOD: lambda a, b, i0, i1, i2: np.fmod(a, b),
    VFunc.MOD: _mod,
    VFunc.PRELU: lambda a, b, i0, i1, i2: np.where(a >= 0, a, b * a),
    VFunc.IDIV: _int_divide,
    VFunc.BITAND: lambda a, b, i0, i1, i2: a & b,
    VFunc.BITOR: lambda a, b, i0, i1, i2: a | b,
    VFunc.BITXOR: lambda a, b, i0, i1, i2: a ^ b,
    VFunc.BITNOT: lambda a, b, i0, i1, i2: ~a,
}
_REDUCE = {VFunc.RSUM: np.sum, VFunc.RMAX: np.max, VFunc.RMIN: np.min, VFunc.RPROD: np.prod}
_ARG = {VFunc.RARGMAX: np.argmax, VFunc.RARGMIN: np.argmin}


def _arg(func: VFunc, a: np.ndarray, last: bool) -> np.ndarray:
    """The index along the last axis of the first (``last``: the last) extreme element."""
    if not last:
        return _ARG[func](a, axis=-1, keepdims=True).astype(np.int64)
    n = a.shape[-1]
    return (n - 1 - _ARG[func](a[..., ::-1], axis=-1, keepdims=True)).astype(np.int64)


def vector_apply(
    func: VFunc | int,
    src0: np.ndarray,
    src1: np.ndarray | None = None,
    imm0: int = 0,
    imm1: int = 0,
    imm2: int = 0,
    dst_dtype: DType | int = DType.INT32,
    old: np.ndarray | None = None,
    src2: np.ndarray | None = None,
) -> np.ndarray:
    """``dst = func(src0, src1)`` in the storage dtype of ``dst_dtype``.

    ``src1`` is needed only by binary functions, SELECT and REQUANT (broadcast it as numpy
    does); ``old`` (dst's current values, which SELECT keeps where src0 is 0) only by SELECT;
    ``src2`` (the scale words imm2 bytes after the bias words) only by REQUANT_BIAS.
    Reductions return ``src0.shape[:-1] + (1,)``; every other function ``src0``'s shape
    broadcast with ``src1``'s. Raises ValueError for an unknown function or a missing src1.
    """
    func = VFunc(func)
    kind = func.info.kind
    if kind in ("binary", "select", "lut", "packed") or func.info.sources == 2:
        if src1 is None:
            raise ValueError(f"vector function {func.name} needs src1")
    else:
        src1 = None
    with np.errstate(all="ignore"):
        if func == VFunc.REQUANT_BIAS:
            if src2 is None:
                raise ValueError("vector function REQUANT_BIAS needs src2 (the scale words)")
            out = requant_bias(_to_int64(src0), _to_int64(src1), src2, imm_as_int(imm0), imm1)
            return convert(out, DType(dst_dtype))
        if kind == "select":
            if old is None:
                raise ValueError("vector function SELECT needs the old dst values")
            return np.where(src0 != 0, convert(_as_domain(src1), DType(dst_dtype)), old)
        return convert(_compute(func, src0, src1, imm0, imm1, imm2), DType(dst_dtype))


def _as_domain(x: np.ndarray) -> np.ndarray:
    """``x`` in its arithmetic domain: fp32 for float storage, int64 for integers."""
    return to_fp32(x) if _is_float(x) else x.astype(np.int64)


def _compute(func: VFunc, a: np.ndarray, b: np.ndarray | None, i0: int, i1: int, i2: int):
    """The result in the function's domain: fp32 or int64 (not yet converted)."""
    if func == VFunc.REQUANT:
        return requantize(a, b, imm_as_int(i0), imm_as_int(i1), imm_as_int(i2))
    if func == VFunc.QADD:
        return qadd(_to_int64(a), _to_int64(b), i0, i1, i2)
    if func == VFunc.LUT:
        return lut(_to_int64(a), _as_domain(b), imm_as_int(i0))
    if func == VFunc.DEQUANT_PACKED:
        return dequant_packed(a, to_fp32(b), imm_as_int(i0), imm_as_int(i1), imm_as_int(i2))
    if func == VFunc.DEQUANT:
        zp, scale = imm_as_int(i0), imm_as_float(i1)
        if _is_float(a):
            return (to_fp32(a) - np.float32(zp)) * scale
        return (a.astype(np.int64) - zp).astype(np.float32) * scale
    if func == VFunc.QUANT:
        zp, scale = imm_as_int(i0), imm_as_float(i1)
        return np.rint(to_fp32(a) / scale) + np.float32(zp)
    domain = func.info.domain
    use_float = domain == "float" or (domain == "auto" and (_is_float(a) or _is_float(b)))
    if func in _ARG:
        return _arg(func, to_fp32(a) if _is_float(a) else a.astype(np.int64), imm_as_int(i0) != 0)
    if use_float:
        a = to_fp32(a)
        b = None if b is None else to_fp32(b)
        imms = imm_as_float(i0), imm_as_float(i1), imm_as_float(i2)
    else:  # integer arithmetic (a float operand of an "int" function is truncated)
        a = _to_int64(a)
        b = None if b is None else _to_int64(b)
        imms = np.int64(imm_as_int(i0)), np.int64(imm_as_int(i1)), np.int64(imm_as_int(i2))
    if func in _REDUCE:
        if use_float and func in (VFunc.RSUM, VFunc.RPROD):  # a wide accumulator, rounded once
            return _REDUCE[func](a.astype(np.float64), axis=-1, keepdims=True).astype(np.float32)
        return _REDUCE[func](a, axis=-1, keepdims=True)
    return _ELEMENTWISE[func](a, b, *imms)


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """The unsigned ``bits``-bit codes of bytes along the last axis (low nibble first)."""
    packed = np.asarray(packed, dtype=np.uint8)
    if bits == 8:
        return packed
    codes = np.stack([packed & 0x0F, packed >> 4], axis=-1)
    return codes.reshape(*packed.shape[:-1], packed.shape[-1] * 2)


def dequant_packed(packed: np.ndarray, groups: np.ndarray, bits: int, zp_in_src1: int, zp: int):
    """DEQUANT_PACKED: ``(q - zp) * scale`` per group, ``groups[..., 0]`` the scales and
    ``groups[..., 1]`` the zero points (or the constant ``zp``); ``q - zp`` is exact in fp32."""
    if bits not in PACKED_BITS:
        raise ValueError(f"DEQUANT_PACKED: imm0={bits} is not a packed code width {PACKED_BITS}")
    codes = unpack_codes(packed, bits).astype(np.float32)
    zero = groups[..., 1:2] if zp_in_src1 else np.float32(zp)
    return (codes - zero) * groups[..., 0:1]


def _to_int64(x: np.ndarray) -> np.ndarray:
    if _is_float(x):
        return np.nan_to_num(np.trunc(to_fp32(x).astype(np.float64))).astype(np.int64)
    return x.astype(np.int64)


def dtype_of(array: np.ndarray) -> DType:
    """The ``DType`` whose storage dtype ``array`` has."""
    try:
        return _NP_TO_DTYPE[array.dtype]
    except KeyError:
        raise ValueError(f"numpy dtype {array.dtype} is not an NPU storage type") from None
