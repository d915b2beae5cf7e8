"""The functional model: each instruction becomes a closure that runs it with numpy.

``prepare(instrs, memory, config)`` checks every operand once (addresses are static, so bounds
and alignment are checked before the run) and returns one ``Op`` per instruction: the closure
plus the boxes it reads and writes (used by the checked mode). Executing a closure is one or
two numpy calls; the timing model calls them in the order instructions start.

- LOAD copies DRAM -> scratchpad element by element (``esize``-byte words); elements outside
  the window ``lo_d <= i_d < hi_d`` get the low ``esize`` bytes of ``pad``.
- STORE copies the window scratchpad -> DRAM; elements outside it are not written.
- MATMUL: int8/uint8 operands accumulate exactly into int32 (wrapping); fp32/fp16/bf16 operands
  accumulate in fp32. The operand type must be enabled in ``config.array.dtypes``.
- VECTOR: ``simulator.vector.vector_apply`` on the three operand boxes; reductions write a
  box of shape (n0, n1, 1) and require ``dst_s2 == 0``.

Two exact shortcuts keep the common tile cheap (tests/simulator/test_sim_fastpaths.py checks
them against the general definitions): int8/uint8 MATMULs whose every partial sum fits fp32
exactly go through fp32 BLAS (``semantics.fp32_matmul_is_exact``), and REQUANT into an integer
dst runs in float64 while acc * mult < 2**52 (``vector.RequantFp64``), else falls back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from functools import lru_cache, partial
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from simulator.config import NpuConfig
from simulator.decode import TOKENS, Distinct, distinct, token_free
from simulator.errors import SimulationError
from simulator.isa import DType, Gather, Instr, Load, MatMul, Scatter, Store, Vector, VFunc
from simulator.memory import DRAM, Box, Memory, Where
from simulator.semantics import (
    NUMPY_DTYPE,
    fp32_matmul_is_exact,
    matmul_float,
    matmul_int8,
    matmul_int8_fp32,
)
from simulator.vector import RequantFp64, to_fp32, vector_apply

_WORD = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_ARRAY_DTYPE_NAME = {
    DType.INT8: "int8",
    DType.UINT8: "int8",
    DType.FP32: "fp32",
    DType.FP16: "fp16",
    DType.BF16: "bf16",
}


class Op(NamedTuple):
    run: Callable[[], None] | None
    reads: tuple[Box, ...]
    writes: tuple[Box, ...]


_NOP = Op(None, (), ())


def prepare(
    instrs: list[Instr], memory: Memory, config: NpuConfig, shapes: Distinct | None = None
) -> list[Op]:
    """One ``Op`` per instruction; raises SimulationError on any bad operand.

    Instructions that differ only in their tokens share one ``Op`` (``shapes``: the program's
    ``decode.distinct``, computed here if not given). A ``Memory`` subclass may watch every
    ``box`` call (the RTL replay capture does), so it gets one build per instruction.
    """
    if type(memory) is not Memory:
        return [_build(instr, index, memory, config) for index, instr in enumerate(instrs)]
    shapes = shapes or distinct(instrs)
    built = [_build(instrs[i], i, memory, config, f) for i, f in zip(*shapes[1:], strict=True)]
    return [built[k] for k in shapes.ids]


def _build(instr: Instr, index: int, memory: Memory, config: NpuConfig, f=None) -> Op:
    """``f``: ``token_free(instr)`` if known."""
    builder = _BUILDERS.get(type(instr))
    if builder is None:
        return _NOP
    return builder(instr, token_free(instr) if f is None else f, index, memory, config)


def _dtype(value: int, where: Where) -> DType:
    try:
        return DType(value)
    except ValueError:
        raise SimulationError(
            f"instruction {where.index} ({where.opcode}): {where.field}={value} is not a DType"
        ) from None


class _DmaForm(NamedTuple):
    """What a transfer's views need besides its two addresses (shared by all its tiles)."""

    word: type  # the numpy type of one esize-byte element
    counts: tuple[int, int, int]  # the box
    window: tuple[int, int, int]  # the window's extent
    inner: tuple[slice, ...]  # the window inside the box
    sp_strides: tuple[int, int, int]
    dram_strides: tuple[int, int, int]
    sp_first: int  # byte offset of the window's first element from sp_addr
    dram_first: int  # ... from dram_addr
    pad_mask: int  # the low esize bytes of pad


# The fields of a Dma without its tokens, in declaration order (``decode.token_free``).
_DMA_NAMES = (
    "sp", "esize_log2", "sp_addr", "dram_addr", "n0", "n1", "n2", "ds0", "ds1", "ds2",
    "ss0", "ss1", "ss2", "lo0", "hi0", "lo1", "hi1", "lo2", "hi2", "pad",
)  # fmt: skip


@lru_cache(maxsize=4096)
def _dma_form(esize_log2: int, f: tuple) -> _DmaForm:
    """``f``: the fields from ``n0`` on."""
    n0, n1, n2, ds0, ds1, ds2, ss0, ss1, ss2, lo0, hi0, lo1, hi1, lo2, hi2 = f[:15]
    first = (min(lo0, n0), min(lo1, n1), min(lo2, n2))
    stop = tuple(max(min(h, n), a) for h, n, a in zip((hi0, hi1, hi2), f[:3], first, strict=True))
    window = tuple(b - a for a, b in zip(first, stop, strict=True))
    return _DmaForm(
        word=_WORD[1 << esize_log2],
        counts=(n0, n1, n2),
        window=window,
        inner=tuple(slice(a, b) for a, b in zip(first, stop, strict=True)),
        sp_strides=(ss0, ss1, ss2),
        dram_strides=(ds0, ds1, ds2),
        sp_first=(first[0] * ss0 + first[1] * ss1 + first[2] * ss2) << esize_log2,
        dram_first=(first[0] * ds0 + first[1] * ds1 + first[2] * ds2) << esize_log2,
        pad_mask=(1 << (8 << esize_log2)) - 1,
    )


def _load(instr: Load, f: tuple, index: int, memory: Memory, config: NpuConfig) -> Op:
    form = _dma_form(f[1], f[4:])
    _check_sp(f[0], index, "LOAD")
    where = Where(index, "LOAD", "sp_addr")
    sp, sp_fp = memory.box(f[0], f[2], form.counts, form.sp_strides, form.word, where)
    dram, dram_fp = _dram_box(f, form, index, memory, "LOAD")
    if form.window == form.counts:
        return Op(partial(np.copyto, sp, dram), (dram_fp,), (sp_fp,))
    pad = form.word(f[19] & form.pad_mask)
    inner = sp[form.inner]

    def run():
        sp.fill(pad)
        np.copyto(inner, dram)

    return Op(run, (dram_fp,), (sp_fp,))


def _store(instr: Store, f: tuple, index: int, memory: Memory, config: NpuConfig) -> Op:
    form = _dma_form(f[1], f[4:])
    dram, dram_fp = _dram_box(f, form, index, memory, "STORE")
    _check_sp(f[0], index, "STORE")
    where = Where(index, "STORE", "sp_addr")
    sp, sp_fp = memory.box(
        f[0], f[2] + form.sp_first, form.window, form.sp_strides, form.word, where
    )
    return Op(partial(np.copyto, dram, sp), (sp_fp,), (dram_fp,))


def _indexed(f: tuple, index: int, memory: Memory, opcode: str):
    """A Gather's or Scatter's three views: the scratchpad box (the window's, for a Scatter),
    the whole DRAM table (``rows`` x the window of dims 1, 2; checked once, here) and the
    indices; and a function giving the checked row numbers of the window's indices."""
    form = _dma_form(f[1], f[4:19])
    idx_sp, idx_log2, idx_addr, rows = f[20:24]
    _check_sp(f[0], index, opcode)
    _check_sp(idx_sp, index, opcode)
    if idx_log2 not in (2, 3):
        raise SimulationError(
            f"instruction {index} ({opcode}): idx_esize_log2={idx_log2} (indices are 4 or 8 bytes)"
        )
    where = Where(index, opcode, "sp_addr")
    if opcode == "GATHER":
        sp = memory.box(f[0], f[2], form.counts, form.sp_strides, form.word, where)
    else:
        w = form.window
        sp = memory.box(f[0], f[2] + form.sp_first, w, form.sp_strides, form.word, where)
    lo0, w0 = form.inner[0].start, form.window[0]
    first12 = (form.dram_first >> f[1]) - lo0 * f[7]  # dims 1 and 2 only
    table = memory.box(
        DRAM,
        f[3] + (first12 << f[1]),
        (rows if w0 else 0, *form.window[1:]),
        form.dram_strides,
        form.word,
        Where(index, opcode, "dram_addr"),
    )
    itype = np.int32 if idx_log2 == 2 else np.int64
    ids = memory.box(
        idx_sp, idx_addr + (lo0 << idx_log2), (w0,), (1,), itype, Where(index, opcode, "idx_addr")
    )

    def rows_of() -> np.ndarray:
        r = ids[0].astype(np.int64)
        r = np.where(r < 0, r + rows, r)
        bad = (r < 0) | (r >= rows)
        if bad.any():
            k = int(np.argmax(bad))
            raise SimulationError(
                f"instruction {index} ({opcode}): index {int(ids[0][k])} (element {lo0 + k}) "
                f"is outside [-{rows}, {rows})"
            )
        return r

    return form, sp, table, ids, rows_of


def _gather(instr: Gather, f: tuple, index: int, memory: Memory, config: NpuConfig) -> Op:
    form, (sp, sp_fp), (table, t_fp), (_, i_fp), rows_of = _indexed(f, index, memory, "GATHER")
    pad = form.word(f[19] & form.pad_mask)
    inner = sp[form.inner]
    full = form.window == form.counts

    def run():
        if not full:
            sp.fill(pad)
        np.copyto(inner, table[rows_of()])

    return Op(run, (t_fp, i_fp), (sp_fp,))


def _scatter(instr: Scatter, f: tuple, index: int, memory: Memory, config: NpuConfig) -> Op:
    _, (sp, sp_fp), (table, t_fp), (_, i_fp), rows_of = _indexed(f, index, memory, "SCATTER")

    def run():
        for k, r in enumerate(rows_of()):  # in order: the later of equal indices wins
            table[r] = sp[k]

    return Op(run, (sp_fp, i_fp), (t_fp,))


def _check_sp(sp: int, index: int, opcode: str) -> None:
    if sp > 2:
        raise SimulationError(
            f"instruction {index} ({opcode}): sp={sp} is not a scratchpad (0, 1 or 2)"
        )


def _dram_box(f: tuple, form: _DmaForm, index: int, memory: Memory, opcode: str):
    """The DRAM view of a transfer's window only (elements outside may be out of DRAM)."""
    addr = f[3] + form.dram_first
    where = Where(index, opcode, "dram_addr")
    return memory.box(DRAM, addr, form.window, form.dram_strides, form.word, where)


def _matmul(instr: MatMul, _f: tuple, index: int, memory: Memory, config: NpuConfig) -> Op:
    dtype = _dtype(instr.dtype, Where(index, "MATMUL", "dtype"))
    name = _ARRAY_DTYPE_NAME.get(dtype)
    if name not in config.array.dtypes:
        raise SimulationError(
            f"instruction {index} (MATMUL): dtype={dtype.name} is not supported by the array "
            f"(array.dtypes = {list(config.array.dtypes)})"
        )
    m, k, n = instr.m, instr.k, instr.n
    store = NUMPY_DTYPE[dtype]
    a, a_fp = memory.box(
        0, instr.a_addr, (m, k), (instr.a_stride, 1), store, Where(index, "MATMUL", "a_addr")
    )
    w_shape = (n, k) if instr.w_transposed else (k, n)
    w_strides = (instr.w_stride, 1)
    w, w_fp = memory.box(
        1, instr.w_addr, w_shape, w_strides, store, Where(index, "MATMUL", "w_addr")
    )
    if instr.w_transposed:
        w = w.T
    acc_type = np.float32 if dtype.is_float else np.int32
    c, c_fp = memory.box(
        2, instr.c_addr, (m, n), (instr.c_stride, 1), acc_type, Where(index, "MATMUL", "c_addr")
    )
    product = _product(dtype, k)
    if instr.accumulate:
        run = _accumulate(product, a, w, c)
    elif product is matmul_int8_fp32:
        run = partial(matmul_int8_fp32, a, w, c)  # straight into C
    else:
        run = _overwrite(product, a, w, c)
    reads = (a_fp, w_fp, c_fp) if instr.accumulate else (a_fp, w_fp)
    return Op(run, reads, (c_fp,))


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


_VECTOR_FIELDS = attrgetter(
    "func", "n0", "n1", "n2",
    "src0_sp", "src0_dtype", "src0_addr", "src0_s0", "src0_s1", "src0_s2",
    "src1_sp", "src1_dtype", "src1_addr", "src1_s0", "src1_s1", "src1_s2",
    "dst_sp", "dst_dtype", "dst_addr", "dst_s0", "dst_s1", "dst_s2",
    "imm0", "imm1", "imm2",
)  # fmt: skip
_VFUNCS = {int(f): f for f in VFunc}
_KIND = {f: "src1" if f.info.kind == "binary" or f == VFunc.REQUANT else f.info.kind for f in VFunc}
_SRC1 = ("src1", "select")
_DTYPES = {int(d): d for d in DType}


def _vector(instr: Vector, _f: tuple, index: int, memory: Memory, config: NpuConfig) -> Op:
    f = _VECTOR_FIELDS(instr)
    func = _VFUNCS.get(f[0])
    if func is None:
        raise SimulationError(f"instruction {index} (VECTOR): func={f[0]} is not a VFunc")
    counts = f[1:4]
    src0, fp0 = _operand(f[4:10], "src0", counts, index, memory)
    reads = (fp0,)
    src1 = None
    kind = _KIND[func]
    if kind in _SRC1:
        src1, fp1 = _operand(f[10:16], "src1", counts, index, memory)
        reads = (fp0, fp1)
        if 0 in src1.strides:
            src1 = _compress_broadcast(src1)
    dst_counts = counts
    if kind == "reduce":
        if f[21] != 0:
            raise SimulationError(
                f"instruction {index} (VECTOR): {func.name} folds dim 2, so dst_s2 must be 0, "
                f"got {f[21]}"
            )
        dst_counts = (counts[0], counts[1], 1)
    dst, dst_fp = _operand(f[16:22], "dst", dst_counts, index, memory)
    args = (func, src0, src1, f[22], f[23], f[24], _DTYPES[f[17]])
    if func == VFunc.REQUANT and dst.dtype in _INT_STORAGE:
        return Op(_requant(dst, args), reads, (dst_fp,))
    if kind == "select":  # a masked write: the elements not selected keep dst's values

        def select():
            dst[...] = vector_apply(*args, old=dst)

        return Op(select, (*reads, dst_fp), (dst_fp,))

    def run():
        dst[...] = vector_apply(*args)

    return Op(run, reads, (dst_fp,))


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


@lru_cache(maxsize=4096)
def _requant_kernel(imm0: int, imm1: int, imm2: int, dst: DType) -> RequantFp64:
    return RequantFp64(imm0, imm1, imm2, dst)


def _compress_broadcast(view: np.ndarray) -> np.ndarray:
    """Shrink stride-0 dims to length 1 (numpy broadcasts them back, with less work)."""
    index = tuple(slice(0, 1) if s == 0 else slice(None) for s in view.strides)
    return view[index]


def _operand(fields: tuple, name: str, counts, index: int, memory: Memory):
    """The view of one operand from its (sp, dtype, addr, s0, s1, s2) fields."""
    mem, dtype, addr, s0, s1, s2 = fields
    store = _STORAGE.get(dtype)
    if store is None:
        raise SimulationError(f"instruction {index} (VECTOR): {name}_dtype={dtype} is not a DType")
    if mem > 2:
        raise SimulationError(
            f"instruction {index} (VECTOR): {name}_sp={mem} is not a scratchpad (0, 1 or 2)"
        )
    where = Where(index, "VECTOR", f"{name}_addr")
    return memory.box(mem, addr, counts, (s0, s1, s2), store, where)


_STORAGE = {int(d): t for d, t in NUMPY_DTYPE.items()}


_BUILDERS = {
    Load: _load,
    Store: _store,
    MatMul: _matmul,
    Vector: _vector,
    Gather: _gather,
    Scatter: _scatter,
}
assert tuple(f.name for f in fields(Load) if f.name not in TOKENS) == _DMA_NAMES
