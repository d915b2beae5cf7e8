"""Emission of a depthwise layer in ``schedule`` order: vector tiles (MUL and ADD per kernel
position), array tiles' fronts (patch load and MatMuls) and backs (epilogue and store), and
the shared epilogue (bias, activation or REQUANT).
"""

from __future__ import annotations

from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    vector,
)
from compiler.lowering.depthwise.instrs import (
    matmul_offsets,
    params_loads,
    patch_load,
    schedule,
    store_tile,
)
from compiler.lowering.depthwise.layer import (
    ACC,
    PARAMS,
    PATCH,
    DwLayer,
    Tiling,
    acc_bytes,
    align,
    fused_bias,
    params_bytes,
    patch_dims,
)
from simulator.isa import DType, MatMul, Scratchpad, VFunc
from simulator.semantics import pack_bounds16
from simulator.vector import imm_as_int


def emit(ctx: Ctx, L: DwLayer, t: Tiling) -> None:
    cfg = ctx.config
    ins, acc = (ctx.scratch.copies(sp, t.nbuf) for sp in (Scratchpad.INPUT, Scratchpad.ACC))
    params = ctx.scratch.copies(Scratchpad.WEIGHT, 2)
    pr, pw = patch_dims(L.g, t.tr)
    ins.use(pr * pw * t.tc * L.xdt.size)
    acc.use(acc_bytes(L, t))
    params.use(sum(params_bytes(L, t, cfg.array.cols)))
    for step, k, blk, tile in schedule(L, t):
        bases = (ins.base(k), acc.base(k), params.base(blk))
        if step == "params":
            for instr in params_loads(L, t, bases[2], tile[3], tile[4], cfg.array.cols):
                emit_load(ctx, instr, "const")
        elif step == "tile":
            _vector_tile(ctx, L, tile, bases)
        elif step == "front":
            _array_front(ctx, L, t, tile, bases)
        else:
            _array_back(ctx, L, t, tile, bases)


def _vector_tile(ctx: Ctx, L: DwLayer, tile, bases) -> None:
    g = L.g
    _, _, tr, _, tc = tile
    ibase, abase, pbase = bases
    emit_load(ctx, patch_load(L, ibase, tile), L.x[2])
    counts = (tr, g.ow, tc)
    pw = patch_dims(g, tr)[1]
    out = Box(ACC, L.acc, abase, (g.ow * tc, tc, 1))
    tmp = Box(ACC, L.acc, abase + align(tr * g.ow * tc * 4), out.strides)
    es = L.xdt.size
    for p in range(g.kpos):
        i, j = divmod(p, g.kw)
        off = ((i * g.dh) * pw + j * g.dw) * tc * es
        src = Box(PATCH, L.xdt, ibase + off, (g.sh * pw * tc, g.sw * tc, 1))
        wv = Box(PARAMS, L.acc, pbase + p * tc * 4, (0, 0, 1))
        dst = out if p == 0 else tmp
        emit_vector(ctx, vector(VFunc.MUL, counts, dst, src, wv))
        if p:
            emit_vector(ctx, vector(VFunc.ADD, counts, out, out, tmp))
    res = _epilogue(ctx, L, counts, (out, tmp), pbase + g.kpos * tc * 4)
    emit_store(ctx, store_tile(L, res, tile), L.y[2])


def _array_front(ctx: Ctx, L: DwLayer, t: Tiling, tile, bases) -> None:
    """The patch load and the MatMuls (``matmul_offsets``), accumulating in the tile's ACC slot."""
    g, es, cols = L.g, L.xdt.size, ctx.config.array.cols
    _, _, tr, _, tc = tile
    ibase, abase, pbase = bases
    emit_load(ctx, patch_load(L, ibase, tile), L.x[2])
    pw = patch_dims(g, tr)[1]
    dbase = pbase + params_bytes(L, t, cols)[0]
    for a, w, c, k, n, acc in matmul_offsets(g, tc, cols, pw):
        mm = MatMul(
            dtype=int(L.xdt),
            accumulate=acc,
            a_addr=ibase + a * es,
            w_addr=dbase + w * es,
            c_addr=abase + c * 4,
            m=(tr - 1) * pw + g.ow,
            k=k,
            n=n,
            a_stride=g.sw * tc,
            w_stride=cols,
            c_stride=tc,
        )
        ctx.em.add(mm)


def _array_back(ctx: Ctx, L: DwLayer, t: Tiling, tile, bases) -> None:
    """The epilogue of an array tile (its accumulators are patch-width rows) and the store."""
    g = L.g
    _, _, tr, _, tc = tile
    _, abase, pbase = bases
    pw = patch_dims(g, tr)[1]
    out = Box(ACC, L.acc, abase, (pw * tc, tc, 1))
    tmp = Box(ACC, L.acc, abase + align(tr * pw * tc * 4), out.strides)
    res = _epilogue(ctx, L, (tr, g.ow, tc), (out, tmp), pbase + g.kpos * tc * 4)
    emit_store(ctx, store_tile(L, res, tile), L.y[2])


def _epilogue(ctx: Ctx, L: DwLayer, counts, boxes, row: int) -> Box:
    """Bias, then the activation (float) or REQUANT into ``tmp`` (int8); returns the result."""
    out, tmp = boxes
    tc = counts[2]
    if fused_bias(L):  # one REQUANT_BIAS: the bias words, the scale words tc words after
        res = Box(ACC, DType.INT8, tmp.addr, out.strides)
        bias = Box(PARAMS, L.acc, row, (0, 0, 1))
        zp, lo, hi = (imm_as_int(v) for v in L.requant)
        imm = (zp & 0xFFFFFFFF, pack_bounds16(lo, hi), tc * 4)
        emit_vector(ctx, vector(VFunc.REQUANT_BIAS, counts, res, out, bias, imm))
        return res
    if L.bias:
        bv = Box(PARAMS, L.acc, row, (0, 0, 1))
        emit_vector(ctx, vector(VFunc.ADD, counts, out, out, bv))
        row += tc * 4
    if L.act is not None:
        func, i0, i1 = L.act
        emit_vector(ctx, vector(func, counts, out, out, None, (i0, i1, 0)))
    if L.requant is None:
        return out
    res = Box(ACC, DType.INT8, tmp.addr, out.strides)
    words = Box(PARAMS, DType.INT32, row, (0, 0, 1))
    emit_vector(ctx, vector(VFunc.REQUANT, counts, res, out, words, L.requant))
    return res
