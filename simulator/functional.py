"""The functional model: each instruction becomes a closure that runs it with numpy.

``prepare(instrs, memory, config)`` checks every operand once (addresses are static, so bounds
and alignment are checked before the run) and returns one ``Op`` per instruction: the closure
and the instruction's footprint, whose regions are exactly the views the closure works on
(``simulator.footprint``; the checked mode tests the same regions). Executing a closure is one
or two numpy calls; the timing model calls them in the order instructions start.

- LOAD copies DRAM -> scratchpad element by element (``esize``-byte words); elements outside
  the window ``lo_d <= i_d < hi_d`` get the low ``esize`` bytes of ``pad``.
- STORE copies the window scratchpad -> DRAM; elements outside it are not written.
- MATMUL: int8/uint8 operands accumulate exactly into int32 (wrapping); fp32/fp16/bf16 operands
  accumulate in fp32. The operand type must be enabled in ``config.array.dtypes``.
- VECTOR: ``simulator.vector.vector_apply`` on the three operand boxes; reductions write a
  box of shape (n0, n1, 1) and require ``dst_s2 == 0``.

Exact shortcuts keep the common tile cheap (tests/simulator/test_sim_fastpaths.py checks
them against the general definitions): int8/uint8 MATMULs whose every partial sum fits fp32
exactly go through fp32 BLAS (``semantics.fp32_matmul_is_exact``), REQUANT into an integer
dst runs in float64 while acc * mult < 2**52 (``vector.RequantFp64``), else falls back, and
the commonest element-wise tiles (int32 and fp32 arithmetic, copies, DEQUANT, QUANT) are one
or two ufuncs into the destination (``vector_fast``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import NamedTuple

import numpy as np

from simulator.config import NpuConfig
from simulator.decode import Distinct, distinct
from simulator.errors import SimulationError
from simulator.footprint import NOTHING, FieldError, Footprint, declaration, dma_window
from simulator.isa import DType, Gather, Instr, Load, MatMul, Scatter, Store, Vector, VFunc
from simulator.memory import Memory
from simulator.semantics import (
    fp32_matmul_is_exact,
    matmul_float,
    matmul_int8,
    matmul_int8_fp32,
    unpack_bounds16,
)
from simulator.vector import RequantFp64, to_fp32, vector_apply
from simulator.vector_fast import fast_kernel

_ARRAY_DTYPE_NAME = {
    DType.INT8: "int8",
    DType.UINT8: "int8",
    DType.FP32: "fp32",
    DType.FP16: "fp16",
    DType.BF16: "bf16",
}


class Op(NamedTuple):
    run: Callable[[], None] | None
    footprint: Footprint  # the regions it reads and writes (``simulator.footprint``)


_NOP = Op(None, NOTHING)
_op = partial(tuple.__new__, Op)  # Op(...) without NamedTuple's Python __new__


def prepare(
    instrs: list[Instr], memory: Memory, config: NpuConfig, shapes: Distinct | None = None
) -> list[Op]:
    """One ``Op`` per instruction; raises SimulationError on any bad operand.

    Instructions that differ only in their tokens share one ``Op`` (``shapes``: the program's
    ``decode.distinct``, computed here if not given). A ``Memory`` subclass may watch every
    ``view`` call (the RTL replay capture does), so it gets one build per instruction.
    """
    if type(memory) is not Memory:
        return [_build(instr, index, memory, config) for index, instr in enumerate(instrs)]
    shapes = shapes or distinct(instrs)
    built = [_build(instrs[i], i, memory, config) for i in shapes.first]
    return [built[k] for k in shapes.ids]


def _build(instr: Instr, index: int, memory: Memory, config: NpuConfig) -> Op:
    builder, regions = _BUILDERS.get(type(instr), _NO_BUILDER)
    if builder is None:
        return _NOP
    try:
        fp = regions(instr)  # the class's ``footprint``
    except FieldError as exc:
        raise SimulationError(f"instruction {index} ({instr.OPCODE.name}): {exc}") from None
    return _op((builder(instr, fp, index, memory, config), fp))


def _load(instr: Load, fp: Footprint, index: int, memory: Memory, config: NpuConfig):
    (dram_region,), (sp_region,) = fp
    sp = memory.view(sp_region, index, "LOAD")
    dram = memory.view(dram_region, index, "LOAD")
    if dram_region.shape == sp_region.shape:
        return partial(np.copyto, sp, dram)
    pad = sp.dtype.type(instr.pad & ((1 << (8 * sp_region.esize)) - 1))
    first, shape = dma_window(instr)
    inner = sp[tuple(slice(a, a + n) for a, n in zip(first, shape, strict=True))]

    def run():
        sp.fill(pad)
        np.copyto(inner, dram)

    return run


def _store(instr: Store, fp: Footprint, index: int, memory: Memory, config: NpuConfig):
    (sp_region,), (dram_region,) = fp
    dram = memory.view(dram_region, index, "STORE")
    sp = memory.view(sp_region, index, "STORE")
    return partial(np.copyto, dram, sp)


def _gather(instr: Gather, fp: Footprint, index: int, memory: Memory, config: NpuConfig):
    (table_region, ids_region), (sp_region,) = fp
    sp = memory.view(sp_region, index, "GATHER")
    table = memory.view(table_region, index, "GATHER")
    rows_of = _rows(instr, memory.view(ids_region, index, "GATHER"), index, "GATHER")
    pad = sp.dtype.type(instr.pad & ((1 << (8 * sp_region.esize)) - 1))
    first, shape = dma_window(instr)
    inner = sp[tuple(slice(a, a + n) for a, n in zip(first, shape, strict=True))]
    full = shape == sp_region.shape

    def run():
        if not full:
            sp.fill(pad)
        np.copyto(inner, table[rows_of()])

    return run


def _scatter(instr: Scatter, fp: Footprint, index: int, memory: Memory, config: NpuConfig):
    (sp_region, ids_region), (table_region,) = fp
    table = memory.view(table_region, index, "SCATTER")
    sp = memory.view(sp_region, index, "SCATTER")
    rows_of = _rows(instr, memory.view(ids_region, index, "SCATTER"), index, "SCATTER")

    def run():
        for k, r in enumerate(rows_of()):  # in order: the later of equal indices wins
            table[r] = sp[k]

    return run


_SIGNED = {4: np.int32, 8: np.int64}


def _rows(instr: Gather | Scatter, ids: np.ndarray, index: int, opcode: str):
    """A function giving the checked table rows the window's indices name (the index words
    are signed; a negative one counts from the end)."""
    ids = ids.view(_SIGNED[ids.dtype.itemsize])
    rows, lo0 = instr.rows, dma_window(instr).first[0]

    def rows_of() -> np.ndarray:
        r = ids.astype(np.int64)
        r = np.where(r < 0, r + rows, r)
        bad = (r < 0) | (r >= rows)
        if bad.any():
            k = int(np.argmax(bad))
            raise SimulationError(
                f"instruction {index} ({opcode}): index {int(ids[k])} (element {lo0 + k}) "
                f"is outside [-{rows}, {rows})"
            )
        return r

    return rows_of


def _matmul(instr: MatMul, fp: Footprint, index: int, memory: Memory, config: NpuConfig):
    (a_region, w_region, *_), (c_region,) = fp
    dtype = a_region.dtype
    if _ARRAY_DTYPE_NAME.get(dtype) not in config.array.dtypes:
        raise SimulationError(
            f"instruction {index} (MATMUL): dtype={dtype.name} is not supported by the array "
            f"(array.dtypes = {list(config.array.dtypes)})"
        )
    a = memory.view(a_region, index, "MATMUL")
    w = memory.view(w_region, index, "MATMUL")
    if instr.w_transposed:
        w = w.T
    c = memory.view(c_region, index, "MATMUL")
    product = _product(dtype, instr.k)
    if instr.accumulate:
        return _accumulate(product, a, w, c)
    if product is matmul_int8_fp32:
        return partial(matmul_int8_fp32, a, w, c)  # straight into C
    return _overwrite(product, a, w, c)


def _product(dtype: DType, k: int):
    if dtype.is_float:
        return _float_product
    return matmul_int8_fp32 if fp32_matmul_is_exact(dtype, k) else matmul_int8


def _float_product(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return matmul_float(to_fp32(a), to_fp32(w))


def _accumulate(product, a, w, c):
    def run():
        np.add(c, product(a, w), out=c)

    return run


def _overwrite(product, a, w, c):
    def run():
        np.copyto(c, product(a, w))

    return run


def _vector(instr: Vector, fp: Footprint, index: int, memory: Memory, config: NpuConfig):
    reads, (dst_region,) = fp
    func = VFunc(instr.func)
    if func.info.kind == "reduce" and instr.dst_s2 != 0:
        raise SimulationError(
            f"instruction {index} (VECTOR): {func.name} folds dim 2, so dst_s2 must be 0, "
            f"got {instr.dst_s2}"
        )
    src0 = memory.view(reads[0], index, "VECTOR")
    src1 = None
    if len(reads) >= 2:  # (a select also reads dst: the elements it keeps)
        src1 = memory.view(reads[1], index, "VECTOR")
        if 0 in src1.strides:
            src1 = _compress_broadcast(src1)
    dst = memory.view(dst_region, index, "VECTOR")
    imm = (instr.imm0, instr.imm1, instr.imm2)
    args = (func, src0, src1, *imm, dst_region.dtype)
    if func == VFunc.REQUANT and dst.dtype in _INT_STORAGE:
        return _requant(dst, args)
    if func == VFunc.REQUANT_BIAS:
        return _requant_bias(dst, args, memory.view(reads[2], index, "VECTOR"))
    if func.info.kind == "select":  # a masked write: the elements not selected keep dst's values

        def select():
            dst[...] = vector_apply(*args, old=dst)

        return select
    fast = fast_kernel(func, src0, src1, dst, imm)
    if fast is not None:
        return fast

    def run():
        dst[...] = vector_apply(*args)

    return run


_INT_STORAGE = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int32))


def _requant(dst: np.ndarray, args: tuple):
    """REQUANT into an integer dst: the exact float64 path when it applies, else the general one."""
    src0, src1 = args[1:3]

    def general():
        dst[...] = vector_apply(*args)

    if src0.dtype not in _INT_STORAGE or src1.dtype not in _INT_STORAGE or not src0.size:
        return general
    fast = _requant_kernel(*args[3:])
    work = np.empty(dst.shape), np.empty(dst.shape, np.int64)

    def run():
        if not fast.into(src0, src1, dst, work):
            general()

    return run


def _requant_bias(dst: np.ndarray, args: tuple, words: np.ndarray):
    """REQUANT_BIAS: the int32 sum of the accumulators and their bias (wrapping, as ADD),
    then REQUANT's paths on it and the scale words."""
    func, acc, bias, zp, bounds, _, dtype = args
    if 0 in words.strides:
        words = _compress_broadcast(words)
    total = np.empty(acc.shape, np.int32)
    lo, hi = unpack_bounds16(bounds)
    requant = _requant(
        dst, (VFunc.REQUANT, total, words, zp, lo & 0xFFFFFFFF, hi & 0xFFFFFFFF, dtype)
    )

    def run():
        np.add(acc, bias, out=total, casting="unsafe")
        requant()

    return run


@lru_cache(maxsize=4096)
def _requant_kernel(imm0: int, imm1: int, imm2: int, dst: DType) -> RequantFp64:
    return RequantFp64(imm0, imm1, imm2, dst)


def _compress_broadcast(view: np.ndarray) -> np.ndarray:
    """Shrink stride-0 dims to length 1 (numpy broadcasts them back, with less work)."""
    index = tuple(slice(0, 1) if s == 0 else slice(None) for s in view.strides)
    return view[index]


# Per class: the builder of its closure and its footprint function.
_BUILDERS = {
    cls: (builder, declaration(cls))
    for cls, builder in (
        (Load, _load),
        (Store, _store),
        (Gather, _gather),
        (Scatter, _scatter),
        (MatMul, _matmul),
        (Vector, _vector),
    )
}
_NO_BUILDER = (None, None)
