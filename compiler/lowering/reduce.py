"""Reductions over any axes (``compiler.optables.REDUCE``): Reduce{Sum,Mean,Max,Min,Prod,L1,L2,
SumSquare,LogSum,LogSumExp}, ArgMax/ArgMin and GlobalMaxPool, on the vector unit.

The input is viewed as rows (the kept axes, merged where contiguous in both x and y) by
columns (the reduced axes, merged where contiguous in x). A tile of rows is loaded chunk by
chunk: one strided 3-D DMA fills a (rows, a, b) box of the two innermost reduced dims (the
outer ones and long rows are further chunks, so a row need not fit the scratchpad); each chunk
is reduced along the row (RSUM/RMAX/RMIN/RPROD/RARGMAX/RARGMIN) and its partial result merged
into the row's accumulator. Log-sum-exp takes two passes over the chunks (max, then the sum of
exp(x - max)). int8 rows (ReduceMean between a DequantizeLinear and a QuantizeLinear) are
DEQUANTised after the load and the result QUANTised before the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from compiler import optables
from compiler.ir import Graph, Node
from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    f32_bits,
    i32_bits,
    load,
    storage,
    store,
    vector,
)
from compiler.lowering.eltwise import _merge, run_eltwise
from compiler.opdecl import OpTable
from compiler.optables import Reduce
from simulator.errors import ConfigError
from simulator.isa import DType, Scratchpad, VFunc

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
SP = Scratchpad.INPUT
FP = DType.FP32


def reduce_axes(node: Node, graph: Graph, row: Reduce) -> tuple[int, ...] | None:
    """The reduced axes, sorted; () for a no-op (empty axes with noop_with_empty_axes)."""
    rank = graph.type(node.inputs[0]).rank
    if row.spatial:
        return tuple(range(2, rank))
    if row.arg:
        return (node.attr("axis", 0) % rank,)
    axes = node.attr("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        axes = np.asarray(graph.constants[node.inputs[1]]).reshape(-1).tolist()
    if not axes:
        return () if node.attr("noop_with_empty_axes", 0) else tuple(range(rank))
    return tuple(sorted({int(a) % rank for a in axes}))


def _keepdims(node: Node, row: Reduce) -> bool:
    return True if row.spatial else bool(node.attr("keepdims", 1))


def _check(row: Reduce):
    def check(node: Node, graph: Graph) -> str | None:
        if len(node.inputs) > 1 and node.inputs[1] and not graph.is_const(node.inputs[1]):
            return f"axes {node.inputs[1]!r} must be constant"
        if row.spatial and graph.type(node.inputs[0]).rank < 3:
            return "the input needs spatial axes (rank >= 3)"
        return None

    return check


@dataclass(frozen=True)
class View:
    """rows x columns of a reduction: kept dims (x and y strides), reduced dims (x strides)."""

    kdims: list[int]
    kx: list[int]
    ky: list[int]
    rdims: list[int]
    rx: list[int]


def _view(ctx: Ctx, node: Node, axes: tuple[int, ...], keep: bool) -> View:
    x, y = node.inputs[0], node.outputs[0]
    xt = ctx.type(x)
    xs, ys = ctx.place(x).strides, ctx.place(y).strides
    kept = [a for a in range(xt.rank) if a not in axes]
    ky_all = [ys[a] for a in kept] if keep else list(ys)
    kdims, (kx, ky) = _merge(
        [xt.shape[a] for a in kept] or [1], [[xs[a] for a in kept] or [0], ky_all or [0]]
    )
    rdims, (rx,) = _merge([xt.shape[a] for a in axes], [[xs[a] for a in axes]])
    return View(kdims, kx, ky, rdims, rx)


class _Half:
    """A bump allocator over one half of the input scratchpad (64-byte aligned buffers)."""

    def __init__(self, base: int) -> None:
        self.at = base

    def take(self, nbytes: int) -> int:
        addr = self.at
        self.at += -(-nbytes // 64) * 64
        return addr


def _v(ctx, func, counts, dst, a, b=None, imm=(0, 0, 0)):
    emit_vector(ctx, vector(func, counts, dst, a, b, imm))


def _row_vec(dtype: DType, addr: int, stride: int = 1) -> Box:
    return Box(SP, dtype, addr, (0, stride, 0))


def _a64(nbytes: int) -> int:
    return -(-nbytes // 64) * 64


def _row_buffers(row: Reduce, quant: bool, int64_out: bool) -> list[int]:
    """Bytes per row of each per-row buffer a tile needs (each 64-byte aligned)."""
    bufs = [4, 4]  # the accumulator, a chunk's partial result
    if row.lse or row.arg:
        bufs.append(4)  # the row max / the best value
    if row.arg:
        bufs += [4, 4]  # a chunk's index, the "better" mask
    if int64_out or row.arg:
        bufs.append(8)  # lo/hi word pairs
    if quant:
        bufs.append(1)
    return bufs


def _tile_bytes(n: int, c: int, bufs: list[int], quant: bool) -> int:
    total = _a64(n * c * 4) + (_a64(n * c) if quant else 0)
    return total + sum(_a64(n * b) for b in bufs)


def _plan(ctx: Ctx, node: Node, v: View, bufs: list[int], quant: bool) -> tuple[int, int, int]:
    """(rows per tile, a, b): the chunk is rows x a x b elements of the two innermost reduced
    dims; as many rows as fit with whole (a, b) blocks, else one row and a shorter chunk."""
    a_full, b_full = ([1, 1] + v.rdims)[-2:]
    cap = ctx.scratch.copies(SP, 2).capacity
    rows = v.kdims[-1]
    lo, hi = 0, min(rows, 4096)
    while lo < hi:  # the most rows of whole blocks that fit
        mid = (lo + hi + 1) // 2
        if _tile_bytes(mid, a_full * b_full, bufs, quant) <= cap:
            lo = mid
        else:
            hi = mid - 1
    if lo:
        return lo, a_full, b_full
    per = 64 // (5 if quant else 4)  # elements per 64-byte step of the chunk buffers
    room = cap - _tile_bytes(1, 0, bufs, quant)
    c = (room // 64) * per if room > 0 else 0
    if c < 1:
        raise ConfigError(
            f"node {node.name!r} ({node.op}): the input scratchpad "
            f"({ctx.config.input_bytes} bytes) has no room for a reduction chunk"
        )
    b = min(b_full, c)
    return 1, min(a_full, max(1, c // b)), b


def lower_reduction(ctx: Ctx, node: Node, row: Reduce) -> None:
    axes = reduce_axes(node, ctx.graph, row)
    if not axes:
        run_eltwise(ctx, node.outputs[0], [node.inputs[0]], [])
        ctx.record(node, macs=0)
        return
    v = _view(ctx, node, axes, _keepdims(node, row))
    xt, yt = ctx.type(node.inputs[0]), ctx.type(node.outputs[0])
    quant = (xt.quant, yt.quant) if xt.quant is not None else None
    xs = storage(xt.dtype)
    bufs = _row_buffers(row, quant is not None, yt.dtype == "int64")
    n, a, b = _plan(ctx, node, v, bufs, quant is not None)
    copies = ctx.scratch.copies(SP, 2).use(_tile_bytes(n, a * b, bufs, quant is not None))
    rows = v.kdims[-1]
    tile = 0
    for outer in np.ndindex(*v.kdims[:-1]):
        for r0 in range(0, rows, n):
            base = copies.base(tile)
            t = _Tile(ctx, node, row, v, xs, quant, _Half(base), min(n, rows - r0), (a, b))
            t.run(outer, r0)
            tile += 1
    ctx.record(node, macs=0, tiling=f"rows {n} chunk {a}x{b}")


class _Tile:
    """One tile of rows: its buffers and the chunk loop."""

    def __init__(self, ctx, node, row, v, xs, quant, half, n, chunk) -> None:
        self.ctx, self.node, self.row, self.v, self.xs, self.quant = ctx, node, row, v, xs, quant
        self.n, (self.a, self.b) = n, chunk
        self.vdtype = FP if quant or xs.dtype == FP else DType.INT32
        c = self.a * self.b
        self.buf = Box(SP, self.vdtype, half.take(n * c * 4), (0, c, 1))
        self.stage = Box(SP, DType.INT8, half.take(n * c), (0, c, 1)) if quant else None
        rv = lambda dt: _row_vec(dt, half.take(n * 4))  # noqa: E731
        self.acc, self.part = rv(self.vdtype), rv(self.vdtype)
        if row.lse or row.arg:
            self.m = rv(self.vdtype)  # LSE: the row max; Arg*: the best value so far
        if row.arg:
            self.idx, self.mask = self.acc.replace(dtype=DType.INT32), rv(DType.INT32)
            self.pidx = rv(DType.INT32)
        int64_out = ctx.type(node.outputs[0]).dtype == "int64"
        self.pair = half.take(n * 8) if int64_out or row.arg else None
        self.qout = half.take(n) if quant else None

    # --- chunks ----------------------------------------------------------------------------
    def chunks(self):
        """(offset in x elements, chunk (a, b) counts, column offset) of each chunk."""
        v = self.v
        a_full, b_full = ([1, 1] + v.rdims)[-2:]
        sa, sb = ([0, 0] + v.rx)[-2:]
        outer_dims, outer_str = v.rdims[:-2], v.rx[:-2]
        col = 0
        for idx in np.ndindex(*outer_dims) if outer_dims else [()]:
            base = sum(i * s for i, s in zip(idx, outer_str, strict=True))
            for a0 in range(0, a_full, self.a):
                for b0 in range(0, b_full, self.b):
                    na, nb = min(self.a, a_full - a0), min(self.b, b_full - b0)
                    yield base + a0 * sa + b0 * sb, (na, nb), col + a0 * b_full + b0
            col += a_full * b_full

    def load(self, xoff: int, counts: tuple[int, int]) -> Box:
        """DMA one chunk (n rows x a x b) into the chunk buffer; the fp32/int32 box of it."""
        ctx, x = self.ctx, self.node.inputs[0]
        xp, k = ctx.place(x), self.xs.step
        sa, sb = ([0, 0] + self.v.rx)[-2:]
        na, nb = counts
        c = na * nb
        dst = self.stage if self.quant else self.buf
        es = self.xs.esize
        ld = load(
            SP,
            dst.addr,
            es,
            xp.addr + xoff * es * k,
            (self.n, na, nb),
            (self.v.kx[-1] * k, sa * k, sb * k),
            (c, nb, 1),
        )
        emit_load(ctx, ld, xp.key)
        box = Box(SP, self.vdtype, self.buf.addr, (0, c, 1))
        if self.quant:
            q = self.quant[0]
            st = Box(SP, DType.INT8, dst.addr, (0, c, 1))
            _v(ctx, VFunc.DEQUANT, (1, self.n, c), box, st, None, _qimm(q))
        return box

    def run(self, outer: tuple[int, ...], r0: int) -> None:
        v = self.v
        self.xbase = sum(i * s for i, s in zip(outer, v.kx[:-1], strict=False)) + r0 * v.kx[-1]
        chunks = list(self.chunks())
        if self.row.lse:
            self._fold(chunks, VFunc.RMAX, VFunc.MAX, self.m, pre=None)
            self._fold(chunks, VFunc.RSUM, VFunc.ADD, self.acc, pre="lse", reuse=len(chunks) == 1)
        elif self.row.arg:
            self._arg(chunks)
        else:
            self._fold(chunks, self.row.combine, self.row.merge, self.acc, pre=self.row.pre)
        self._post()
        yoff = sum(i * s for i, s in zip(outer, v.ky[:-1], strict=False)) + r0 * v.ky[-1]
        self._store(yoff)

    def _fold(self, chunks, combine, merge, acc, pre, reuse=False) -> None:
        ctx, n = self.ctx, self.n
        one = (1, n, 1)
        for k, (off, counts, _) in enumerate(chunks):
            c = counts[0] * counts[1]
            box = (
                Box(SP, self.vdtype, self.buf.addr, (0, c, 1))
                if reuse
                else self.load(self.xbase + off, counts)
            )
            cnt = (1, n, c)
            if pre == "lse":
                _v(ctx, VFunc.SUB, cnt, box, box, self.m)
                _v(ctx, VFunc.EXP, cnt, box, box)
            elif pre == VFunc.ABS:
                _v(ctx, VFunc.ABS, cnt, box, box)
            elif pre == VFunc.MUL:
                _v(ctx, VFunc.MUL, cnt, box, box, box)
            _v(ctx, combine, cnt, acc if k == 0 else self.part, box)
            if k:
                _v(ctx, merge, one, acc, acc, self.part)

    def _arg(self, chunks) -> None:
        """ArgMax/ArgMin: per chunk the extreme value and its index; a later chunk wins where
        its value is strictly better (or as good, with select_last_index)."""
        ctx, n, row = self.ctx, self.n, self.row
        one = (1, n, 1)
        last = i32_bits(1 if self.node.attr("select_last_index", 0) else 0)
        better = VFunc.LE if last else VFunc.LT
        value = VFunc.RMAX if row.combine == VFunc.RARGMAX else VFunc.RMIN
        for k, (off, counts, col) in enumerate(chunks):
            c = counts[0] * counts[1]
            box = self.load(self.xbase + off, counts)
            cnt = (1, n, c)
            if k == 0:
                _v(ctx, row.combine, cnt, self.idx, box, None, (last, 0, 0))
                _v(ctx, value, cnt, self.m, box)
                continue
            _v(ctx, row.combine, cnt, self.pidx, box, None, (last, 0, 0))
            _v(ctx, VFunc.ADD_IMM, one, self.pidx, self.pidx, None, (i32_bits(col), 0, 0))
            _v(ctx, value, cnt, self.part, box)
            lhs, rhs = (self.m, self.part) if value == VFunc.RMAX else (self.part, self.m)
            _v(ctx, better, one, self.mask, lhs, rhs)
            _v(ctx, VFunc.SELECT, one, self.idx, self.mask, self.pidx)
            _v(ctx, row.merge, one, self.m, self.m, self.part)

    def _post(self) -> None:
        ctx, one, row = self.ctx, (1, self.n, 1), self.row
        acc = self.acc
        if row.mean:
            _v(ctx, VFunc.MUL_IMM, one, acc, acc, None, (f32_bits(1.0 / prod(self.v.rdims)), 0, 0))
        for f in row.post:
            _v(ctx, f, one, acc, acc)
        if row.lse:
            _v(ctx, VFunc.LOG, one, acc, acc)
            _v(ctx, VFunc.ADD, one, acc, acc, self.m)

    def _store(self, yoff: int) -> None:
        ctx, n = self.ctx, self.n
        y = self.node.outputs[0]
        yp, ys = ctx.place(y), storage(ctx.type(y).dtype)
        out = self.idx if self.row.arg else self.acc
        es, k = ys.esize, ys.step
        one = (1, n, 1)
        if self.quant:
            q = Box(SP, DType.INT8, self.qout, (0, 1, 0))
            _v(ctx, VFunc.QUANT, one, q, out, None, _qimm(self.quant[1]))
            out = q
        elif k == 2:  # int64: low words and their sign as the high words
            lo = Box(SP, DType.INT32, self.pair, (0, 2, 0))
            hi = Box(SP, DType.INT32, self.pair + 4, (0, 2, 0))
            _v(ctx, VFunc.COPY, one, lo, out)
            _v(ctx, VFunc.CLIP, one, hi, lo, None, (i32_bits(-1), 0, 0))
            out, es = Box(SP, DType.INT32, self.pair, (0, 1, 0)), 8
        es = es if k == 2 else out.dtype.size
        st = store(SP, out.addr, es, yp.addr + yoff * es, one, (0, self.v.ky[-1], 0), (0, 1, 0))
        emit_store(ctx, st, ctx.writes(y))


def _qimm(q) -> tuple[int, int, int]:
    return i32_bits(q.zero_point), f32_bits(q.scale), 0


def _doc(row: Reduce) -> str:
    parts = []
    if row.pre is not None:
        parts.append(f"{row.pre.name} per element")
    parts.append(f"{row.combine.name} per row chunk, {row.merge.name} across chunks")
    if row.mean:
        parts.append("times 1/count")
    parts += [f.name for f in row.post]
    if row.lse:
        parts = ["RMAX, then RSUM of EXP(x - max), LOG, + max"]
    axes = (
        "the spatial axes"
        if row.spatial
        else "one axis, keepdims, select_last_index; int64 indices"
        if row.arg
        else "any constant axes, keepdims, noop_with_empty_axes"
    )
    return f"{axes}; vector " + ", ".join(parts) + "; long rows in chunks"


def _lower(row: Reduce):
    return lambda ctx, node: lower_reduction(ctx, node, row)


for _row in optables.REDUCE:
    _q = ", int8 (QDQ: fp32 between DEQUANT and QUANT)" if _row.op == "ReduceMean" else ""
    _accepts = _row.accepts | ({"int64"} if _row.arg else frozenset())
    _names = ", ".join(d for d in ("float32", "int32", "int64") if d in _row.accepts)
    OPS.declare(
        _row.op,
        _names + (" -> int64" if _row.arg else "") + _q,
        _doc(_row),
        _check(_row),
        accepts=_accepts,
    )(_lower(_row))
