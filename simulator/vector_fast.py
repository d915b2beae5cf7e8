"""Exact shortcuts of ``vector_apply`` for the vector tiles compiled programs run most.

``vector_apply`` widens its operands (to int64 or fp32), computes, then converts to the
destination type: three or four passes over memory and as many temporaries. For the cases
below one or two ufuncs into the destination view give the same bits, so the functional model
uses them (``tests/simulator/test_sim_fastpaths.py`` checks each against ``vector_apply`` on
random operands, broadcasts, NaN and infinities included):

- ADD, SUB, MAX, MIN of int32 into int32: numpy's int32 arithmetic wraps as the int64 result
  wrapped to int32 does; MAX and MIN of two int8 (uint8) into int8 (uint8) never leave it.
- ADD, SUB, MUL, DIV, MAX, MIN of fp32 into fp32: the same fp32 operation, minus the copies.
- COPY between equal int8, uint8, int32 or fp32 types.
- DEQUANT of int8/uint8 into fp32 with |zero point| <= 2**23: ``q - zp`` is exact in fp32, then
  one fp32 multiply by the scale, as ``vector_apply`` rounds it.
- QUANT of fp32 into int8/uint8: ``rint(x / scale) + zp`` in fp32, as ``vector_apply``; its
  values are integers (or NaN, inf), so its float64 rint is the identity and the clamp, NaN
  to 0 and the cast can run in fp32.

The event loop's REQUANT has its own exact path (``vector.RequantFp64``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simulator.isa import VFunc
from simulator.vector import imm_as_float, imm_as_int

_I8, _U8, _I32, _F32 = (np.dtype(t) for t in (np.int8, np.uint8, np.int32, np.float32))
_BINARY = {
    VFunc.ADD: np.add,
    VFunc.SUB: np.subtract,
    VFunc.MUL: np.multiply,
    VFunc.DIV: np.divide,
    VFunc.MAX: np.maximum,
    VFunc.MIN: np.minimum,
}
# (func, src0, src1, dst) types whose ufunc into dst is exact (see the module docstring)
_UFUNC = {(f, _I32, _I32, _I32): _BINARY[f] for f in (VFunc.ADD, VFunc.SUB, VFunc.MAX, VFunc.MIN)}
_UFUNC |= {(f, t, t, t): _BINARY[f] for f in (VFunc.MAX, VFunc.MIN) for t in (_I8, _U8)}
_UFUNC |= {(f, _F32, _F32, _F32): ufunc for f, ufunc in _BINARY.items()}
_COPY = (_I8, _U8, _I32, _F32)
_DEQUANT_ZP_MAX = 1 << 23  # |q - zp| < 2**24: exact in fp32
_QUANT_RANGE = {_I8: (-128, 127), _U8: (0, 255)}


def fast_kernel(
    func: VFunc,
    src0: np.ndarray,
    src1: np.ndarray | None,
    dst: np.ndarray,
    imm: tuple[int, int, int],
) -> Callable[[], None] | None:
    """A closure doing ``dst[...] = vector_apply(func, src0, src1, *imm, dst's DType)`` in one
    or two ufuncs, or None when this is not one of the exact cases."""
    if src1 is not None:
        ufunc = _UFUNC.get((func, src0.dtype, src1.dtype, dst.dtype))
        if ufunc is None:
            return None
        return lambda: ufunc(src0, src1, out=dst)
    if func == VFunc.COPY and src0.dtype == dst.dtype and dst.dtype in _COPY:
        return lambda: np.copyto(dst, src0)
    if func == VFunc.DEQUANT and src0.dtype in (_I8, _U8) and dst.dtype == _F32:
        return _dequant(src0, dst, imm_as_int(imm[0]), imm_as_float(imm[1]))
    if func == VFunc.QUANT and src0.dtype == _F32 and dst.dtype in _QUANT_RANGE:
        return _quant(src0, dst, imm_as_int(imm[0]), imm_as_float(imm[1]))
    return None


def _dequant(src0: np.ndarray, dst: np.ndarray, zp: int, scale: np.float32):
    if abs(zp) > _DEQUANT_ZP_MAX:
        return None
    offset = np.float32(zp)

    def run():
        np.subtract(src0, offset, out=dst, dtype=np.float32)
        np.multiply(dst, scale, out=dst)

    return run


def _quant(src0: np.ndarray, dst: np.ndarray, zp: int, scale: np.float32):
    lo, hi = _QUANT_RANGE[dst.dtype]
    offset = np.float32(zp)
    work = np.empty(dst.shape, np.float32)

    def run():
        np.divide(src0, scale, out=work)
        np.rint(work, out=work)
        np.add(work, offset, out=work)
        np.clip(work, lo, hi, out=work)
        work[np.isnan(work)] = 0  # vector_apply: NaN -> 0 (inside [lo, hi] for int8, uint8)
        np.copyto(dst, work, casting="unsafe")

    return run
