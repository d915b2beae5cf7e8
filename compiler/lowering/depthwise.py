"""Depthwise convolution (groups == input channels == output channels) on the vector unit,
float32 (Conv) and int8 (QConv).

On the systolic array a depthwise layer is one 1-channel matrix product per group: K = kh*kw,
N = 1 and one-channel DMA runs. Here a tile of output rows x all columns x a block of channels
is computed from one padded input patch (channels innermost, whole DRAM bursts): per kernel
position one MUL of the patch's strided view by that position's weight vector (stride 0 over
pixels) and one ADD into the accumulator; then the epilogue. float32: bias, fused activation.
int8: int8 x int32 products accumulate exactly in int32, padding loads the input zero point
(the QDQ pass folds ``- zp_x * sum(w)`` into the int32 bias), then the bias and one per-channel
REQUANT (scale, output zero point, clamp of the fused Relu/Clip) to int8.

Double buffering: patches live in INPUT, accumulators in ACC, the parameter table (weights,
bias, requant words) in WEIGHT, each scratchpad split in two halves used by alternate tiles
(channel blocks for WEIGHT), so the load of tile i+1 and the store of tile i-1 overlap the
vector work on tile i; the emitter derives the tokens from the halves each instruction touches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    load,
    store,
    vector,
)
from compiler.lowering.gemm import Geom, _window
from compiler.tiling import splits
from simulator.cost import cost, vector_cycles
from simulator.errors import ConfigError
from simulator.isa import DType, Scratchpad, VFunc
from simulator.semantics import pack_requant_scale

PATCH, PARAMS, ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC


def is_depthwise(node, graph) -> bool:
    """Depthwise Conv (float32) or QConv (int8) without a fused residual."""
    w = graph.constants.get(node.inputs[1])
    group = node.attr("group", 1)
    xt = graph.type(node.inputs[0])
    return (
        w is not None
        and group > 1
        and w.shape[0] == group
        and w.shape[1] == 1
        and xt.shape[1] == group
        and not node.attr("residual")
        and xt.dtype == ("int8" if node.op == "QConv" else "float32")
    )


@dataclass(frozen=True)
class DwLayer:
    """One depthwise layer. ``params`` is the DRAM address of a [rows, cout] table of 4-byte
    words: kh*kw weight rows, then the bias row (if any), then the requant words (int8)."""

    name: str
    g: Geom
    x: tuple[int, tuple[int, ...], str]  # DRAM byte address, (n, h, w, c) strides, storage key
    y: tuple[int, tuple[int, ...], list[str]]  # the same, with the keys a store writes
    xdt: DType  # patch dtype: FP32 or INT8
    pad: int  # DMA fill pattern outside the input (0 or the input zero point)
    params: int
    rows: int
    bias: bool
    act: tuple[VFunc, int, int] | None  # float: the fused activation
    requant: tuple[int, int, int] | None  # int8: REQUANT immediates (zero point, lo, hi)

    @property
    def acc(self) -> DType:
        return DType.FP32 if self.xdt == DType.FP32 else DType.INT32

    @property
    def ydt(self) -> DType:
        return DType.FP32 if self.requant is None else DType.INT8


@dataclass(frozen=True)
class Tiling:
    tr: int  # output rows per tile
    tc: int  # channels per tile
    est: int  # estimated cycles


def lower(ctx: Ctx, node, g: Geom, strides, weights: np.ndarray, bias, act) -> str:
    """float32 Conv: emit the layer; returns a tiling description. ``strides``: the (n, h, w, c)
    element strides of the input and the output."""
    table = [_weight_rows(weights, g)]
    if bias is not None:
        table.append(np.broadcast_to(np.asarray(bias, np.float32), (1, g.cout)))
    params = np.ascontiguousarray(np.vstack(table), np.float32)
    layer = _layer(ctx, node, g, strides, params, DType.FP32, 0, bias is not None, act, None)
    return _run(ctx, layer)


def lower_int8(ctx: Ctx, node, g: Geom, axes) -> str:
    """int8 QConv (attributes ``requant``, ``clamp`` and an int32 bias from the QDQ pass): emit
    the layer; returns a tiling description. ``axes``: the logical axes of (n, h, w, c)."""
    xt, yt = ctx.type(node.inputs[0]), ctx.type(node.outputs[0])
    words = np.array([pack_requant_scale(s) for s in node.attr("requant")], np.uint32)
    bias = ctx.graph.constants[node.inputs[2]].astype(np.int32).reshape(1, g.cout)
    w = ctx.graph.constants[node.inputs[1]]
    params = np.vstack([_weight_rows(w, g).astype(np.int32), bias, words.view(np.int32)[None]])
    strides = [_strides(ctx, t, axes) for t in (node.inputs[0], node.outputs[0])]
    lo, hi = node.attr("clamp")
    imm = (yt.quant.zero_point & 0xFFFFFFFF, lo & 0xFFFFFFFF, hi & 0xFFFFFFFF)
    pad = xt.quant.zero_point & 0xFFFFFFFF
    layer = _layer(ctx, node, g, strides, params, DType.INT8, pad, True, None, imm)
    return _run(ctx, layer)


def _weight_rows(w: np.ndarray, g: Geom) -> np.ndarray:
    """[cout, 1, kh, kw] -> [kh*kw, cout]: one row of per-channel weights per kernel position."""
    return np.ascontiguousarray(w.reshape(g.cout, g.kpos).T)


def _strides(ctx: Ctx, tensor: str, axes) -> tuple[int, ...]:
    s = ctx.place(tensor).strides
    return tuple(0 if a is None else s[a] for a in axes)


def _layer(ctx, node, g, strides, params, xdt, pad, bias, act, requant) -> DwLayer:
    xp, yp = ctx.place(node.inputs[0]), ctx.place(node.outputs[0])
    return DwLayer(
        node.name,
        g,
        (xp.addr, tuple(strides[0]), xp.key),
        (yp.addr, tuple(strides[1]), ctx.writes(node.outputs[0])),
        xdt,
        pad,
        ctx.const(params).addr,
        params.shape[0],
        bias,
        act,
        requant,
    )


def _run(ctx: Ctx, L: DwLayer) -> str:
    t = plan(L, ctx.config)
    _emit(ctx, L, t)
    return f"depthwise rows {t.tr} ch {t.tc} (vector unit)"


# --- tile search -------------------------------------------------------------------------
def _align(x: int) -> int:
    return -(-x // 64) * 64


def _halves(config) -> tuple[int, int, int]:
    """Bytes of each double-buffer half of INPUT (patches), ACC and WEIGHT (parameters)."""
    return config.input_bytes // 2, config.acc_bytes // 2, config.weight_bytes // 2


def _patch_dims(g: Geom, tr: int) -> tuple[int, int]:
    pr = (tr - 1) * g.sh + (g.kh - 1) * g.dh + 1
    pw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
    return pr, pw


def _fits(L: DwLayer, tr: int, tc: int, config) -> bool:
    pr, pw = _patch_dims(L.g, tr)
    half_in, half_acc, half_w = _halves(config)
    return (
        pr * pw * tc * L.xdt.size <= half_in
        and 2 * _align(tr * L.g.ow * tc * 4) <= half_acc
        and L.rows * tc * 4 <= half_w
    )


def plan(L: DwLayer, config) -> Tiling:
    """The (rows, channels) tile with the least estimated cycles among those that fit."""
    g = L.g
    chans = set(splits(g.cout, 64 // L.xdt.size))
    chans |= {-(-g.cout // 2**i) for i in range(g.cout.bit_length() + 1)}
    tile_cost = _tile_costs(L, config)
    best = None
    for tc in sorted(chans, reverse=True):
        top = _max_rows(L, tc, config)
        if top == 0:
            continue
        for tr in sorted({top, -(-top // 2), -(-top // 4), 1}, reverse=True):
            tr = -(-g.oh // -(-g.oh // tr))  # the same tile count, balanced
            est = _estimate(L, tr, tc, tile_cost)
            if best is None or est < best.est:
                best = Tiling(tr, tc, est)
    if best is None:
        raise ConfigError(
            f"depthwise layer {L.name!r}: one output row of one channel does not fit the "
            f"scratchpads (halves of INPUT, ACC, WEIGHT: {_halves(config)} bytes)"
        )
    return best


def _max_rows(L: DwLayer, tc: int, config) -> int:
    """The most output rows of ``tc`` channels that fit (0: not even one)."""
    top = 0
    while top < L.g.oh and _fits(L, top + 1, tc, config):
        top += 1
    return top


def _estimate(L: DwLayer, tr: int, tc: int, tile_cost) -> int:
    """Cycles of the layer's tile pipeline: a patch load may start once the vector work on the
    tile two back is done, the vector work once its patch is in and the store two back done."""
    g = L.g
    load_end, vec_end, store_end = [0, 0], [0, 0], [0, 0]
    for c in [min(tc, g.cout - c0) for c0 in range(0, g.cout, tc)] * g.batch:
        pload = tile_cost(None, 0, c)[0]
        for r0 in range(0, g.oh, tr):
            ld, vec, st = tile_cost(r0, min(tr, g.oh - r0), c)
            load_end = [load_end[1], max(load_end[1], vec_end[0]) + ld + pload]
            vec_end = [vec_end[1], max(vec_end[1], load_end[1], store_end[0]) + vec]
            store_end = [store_end[1], max(store_end[1], vec_end[1]) + st]
            pload = 0
    return store_end[1]


def _tile_costs(L: DwLayer, config):
    """``(r0, rows, channels) -> (load, vector, store)`` cycles of a tile, memoised on what
    they depend on (the rows of the patch inside the input, the tile's size); ``r0`` None:
    the parameter load of a channel block."""
    g, memo = L.g, {}
    funcs = _vfuncs(L)

    def costs(r0: int | None, n: int, c: int) -> tuple[int, int, int]:
        if r0 is None:
            key = ("params", c)
            if key not in memo:
                memo[key] = (cost(_params_load(L, 0, 0, c), config), 0, 0)
            return memo[key]
        key = (_window(r0 * g.sh - g.pt, 1, _patch_dims(g, n)[0], g.h), n, c)
        if key not in memo:
            tile = (0, r0, n, 0, c)
            box = Box(ACC, L.ydt, 0, (g.ow * c, c, 1))
            memo[key] = (
                cost(_patch_load(L, 0, tile), config),
                sum(vector_cycles(f, n * g.ow * c, config) for f in funcs),
                cost(_store(L, box, tile), config),
            )
        return memo[key]

    return costs


def _vfuncs(L: DwLayer) -> list[VFunc]:
    """The vector functions one tile runs, in order."""
    funcs = [VFunc.MUL] + [VFunc.MUL, VFunc.ADD] * (L.g.kpos - 1)
    funcs += [VFunc.ADD] if L.bias else []
    funcs += [L.act[0]] if L.act is not None else []
    return funcs + ([VFunc.REQUANT] if L.requant is not None else [])


# --- emission ------------------------------------------------------------------------------
def _emit(ctx: Ctx, L: DwLayer, t: Tiling) -> None:
    g = L.g
    half_in, half_acc, half_w = _halves(ctx.config)
    tile_no = block_no = 0
    for b in range(g.batch):
        for c0 in range(0, g.cout, t.tc):
            tc = min(t.tc, g.cout - c0)
            pbase = (block_no % 2) * half_w
            emit_load(ctx, _params_load(L, pbase, c0, tc), "const")
            block_no += 1
            for r0 in range(0, g.oh, t.tr):
                buf = tile_no % 2
                tile = (b, r0, min(t.tr, g.oh - r0), c0, tc)
                _tile(ctx, L, tile, (buf * half_in, buf * half_acc, pbase))
                tile_no += 1


def _params_load(L: DwLayer, pbase: int, c0: int, tc: int):
    return load(PARAMS, pbase, 4, L.params + c0 * 4, (1, L.rows, tc), (0, L.g.cout, 1), (0, tc, 1))


def _patch_load(L: DwLayer, base: int, tile):
    g = L.g
    b, r0, tr, c0, tc = tile
    xaddr, xs, _ = L.x
    pr, pw = _patch_dims(g, tr)
    ih0, iw0 = r0 * g.sh - g.pt, -g.pl
    es = L.xdt.size
    addr = xaddr + (b * xs[0] + ih0 * xs[1] + iw0 * xs[2] + c0 * xs[3]) * es
    win = (_window(ih0, 1, pr, g.h), _window(iw0, 1, pw, g.w), (0, tc))
    return load(PATCH, base, es, addr, (pr, pw, tc), tuple(xs[1:]), (pw * tc, tc, 1), win, L.pad)


def _store(L: DwLayer, res: Box, tile):
    b, r0, tr, c0, tc = tile
    yaddr, ys, _ = L.y
    es = L.ydt.size
    addr = yaddr + (b * ys[0] + r0 * ys[1] + c0 * ys[3]) * es
    return store(ACC, res.addr, es, addr, (tr, L.g.ow, tc), tuple(ys[1:]), res.strides)


def _tile(ctx: Ctx, L: DwLayer, tile, bases) -> None:
    g = L.g
    _, _, tr, _, tc = tile
    ibase, abase, pbase = bases
    emit_load(ctx, _patch_load(L, ibase, tile), L.x[2])
    counts = (tr, g.ow, tc)
    pw = _patch_dims(g, tr)[1]
    out = Box(ACC, L.acc, abase, (g.ow * tc, tc, 1))
    tmp = Box(ACC, L.acc, abase + _align(tr * g.ow * tc * 4), out.strides)
    es = L.xdt.size
    for p in range(g.kpos):
        i, j = divmod(p, g.kw)
        off = ((i * g.dh) * pw + j * g.dw) * tc * es
        src = Box(PATCH, L.xdt, ibase + off, (g.sh * pw * tc, g.sw * tc, 1))
        wv = Box(PARAMS, L.acc, pbase + p * tc * 4, (0, 0, 1))
        dst = out if p == 0 else tmp
        emit_vector(ctx, vector(VFunc.MUL, counts, dst, src, wv), dst, [src, wv])
        if p:
            emit_vector(ctx, vector(VFunc.ADD, counts, out, out, tmp), out, [out, tmp])
    res = _epilogue(ctx, L, counts, (out, tmp), pbase + g.kpos * tc * 4)
    emit_store(ctx, _store(L, res, tile), L.y[2])


def _epilogue(ctx: Ctx, L: DwLayer, counts, boxes, row: int) -> Box:
    """Bias, then the activation (float) or REQUANT into ``tmp`` (int8); returns the result."""
    out, tmp = boxes
    tc = counts[2]
    if L.bias:
        bv = Box(PARAMS, L.acc, row, (0, 0, 1))
        emit_vector(ctx, vector(VFunc.ADD, counts, out, out, bv), out, [out, bv])
        row += tc * 4
    if L.act is not None:
        func, i0, i1 = L.act
        emit_vector(ctx, vector(func, counts, out, out, None, (i0, i1, 0)), out, [out])
    if L.requant is None:
        return out
    res = Box(ACC, DType.INT8, tmp.addr, out.strides)
    words = Box(PARAMS, DType.INT32, row, (0, 0, 1))
    emit_vector(ctx, vector(VFunc.REQUANT, counts, res, out, words, L.requant), res, [out, words])
    return res
