"""Depthwise convolution (groups == input channels == output channels) on the vector unit.

On the systolic array a depthwise layer is one 1-channel matrix product per group: K = 1 per
kernel position and one-channel DMA runs. Here a tile of output rows x all columns x a block
of channels is computed from one padded input patch (channels innermost, whole DRAM bursts):
per kernel position one MUL of the patch's strided view by that position's weight vector
(stride 0 over pixels) and one ADD into the output; then bias and the fused activation.
"""

from __future__ import annotations

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
from simulator.errors import ConfigError
from simulator.isa import DType, Scratchpad, VFunc

SP = Scratchpad.INPUT
FP = DType.FP32


def is_depthwise(node, graph) -> bool:
    """Float depthwise Conv without a fused residual."""
    w = graph.constants.get(node.inputs[1])
    group = node.attr("group", 1)
    return (
        w is not None
        and group > 1
        and w.shape[0] == group
        and w.shape[1] == 1
        and graph.type(node.inputs[0]).shape[1] == group
        and not node.attr("residual")
        and graph.type(node.inputs[0]).dtype == "float32"
    )


def _align(x: int) -> int:
    return -(-x // 64) * 64


def _plan(g: Geom, budget: int, name: str) -> tuple[int, int]:
    """(rows, channels) per tile: all channels if they fit, else halves."""
    pw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1

    def need(tr, tc):
        pr = (tr - 1) * g.sh + (g.kh - 1) * g.dh + 1
        return 4 * (pr * pw * tc + 2 * tr * g.ow * tc + (g.kpos + 1) * tc) + 5 * 64

    tc = g.cout
    while tc > 1 and need(1, tc) > budget:
        tc = -(-tc // 2)
    if need(1, tc) > budget:
        raise ConfigError(f"depthwise layer {name!r}: one output row does not fit the scratchpad")
    tr = 1
    while tr < g.oh and need(tr + 1, tc) <= budget:
        tr += 1
    return tr, tc


def lower(ctx: Ctx, node, g: Geom, strides, weights: np.ndarray, bias, act) -> str:
    """Emit the layer; returns a tiling description. ``strides``: (x, y) (n, h, w, c) strides."""
    budget = ctx.config.input_bytes // 2
    tr, tc = _plan(g, budget, node.name)
    wk = ctx.const(np.ascontiguousarray(weights.reshape(g.cout, g.kpos).T.astype(np.float32)))
    bk = ctx.const(np.asarray(bias, np.float32)) if bias is not None else None
    buf = 0
    for b in range(g.batch):
        for r0 in range(0, g.oh, tr):
            for c0 in range(0, g.cout, tc):
                tile = (b, r0, min(tr, g.oh - r0), c0, min(tc, g.cout - c0))
                _tile(ctx, node, g, strides, tile, (wk, bk, act), buf * budget)
                buf ^= 1
    return f"depthwise rows {tr} ch {tc} (vector unit)"


def _tile(ctx, node, g: Geom, strides, tile, params, base) -> None:
    xs, ys = strides
    b, r0, tr, c0, tc = tile
    wk, bk, act = params
    pw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
    pr = (tr - 1) * g.sh + (g.kh - 1) * g.dh + 1
    ih0, iw0 = r0 * g.sh - g.pt, -g.pl
    xp = ctx.place(node.inputs[0])
    addr = xp.addr + (b * xs[0] + ih0 * xs[1] + iw0 * xs[2] + c0 * xs[3]) * 4
    win = (_window(ih0, 1, pr, g.h), _window(iw0, 1, pw, g.w), (0, tc))
    emit_load(
        ctx, load(SP, base, 4, addr, (pr, pw, tc), tuple(xs[1:]), (pw * tc, tc, 1), win), xp.key
    )
    out = Box(SP, FP, base + _align(pr * pw * tc * 4), (g.ow * tc, tc, 1))
    tmp = Box(SP, FP, out.addr + _align(tr * g.ow * tc * 4), out.strides)
    wbase = tmp.addr + _align(tr * g.ow * tc * 4)
    emit_load(
        ctx,
        load(SP, wbase, 4, wk.addr + c0 * 4, (1, g.kpos, tc), (0, g.cout, 1), (0, tc, 1)),
        "const",
    )
    counts = (tr, g.ow, tc)
    for p in range(g.kpos):
        i, j = divmod(p, g.kw)
        src = Box(
            SP, FP, base + ((i * g.dh) * pw + j * g.dw) * tc * 4, (g.sh * pw * tc, g.sw * tc, 1)
        )
        wv = Box(SP, FP, wbase + p * tc * 4, (0, 0, 1))
        dst = out if p == 0 else tmp
        emit_vector(ctx, vector(VFunc.MUL, counts, dst, src, wv), dst, [src, wv])
        if p:
            emit_vector(ctx, vector(VFunc.ADD, counts, out, out, tmp), out, [out, tmp])
    _epilogue(ctx, counts, out, wbase + _align(g.kpos * tc * 4), (bk, act), c0)
    yp = ctx.place(node.outputs[0])
    yaddr = yp.addr + (b * ys[0] + r0 * ys[1] + c0 * ys[3]) * 4
    emit_store(
        ctx,
        store(SP, out.addr, 4, yaddr, counts, tuple(ys[1:]), out.strides),
        ctx.writes(node.outputs[0]),
    )


def _epilogue(ctx, counts, out: Box, bbase: int, params, c0: int) -> None:
    bk, act = params
    if bk is not None:
        tc = counts[2]
        emit_load(
            ctx, load(SP, bbase, 4, bk.addr + c0 * 4, (1, 1, tc), (0, 0, 1), (0, 0, 1)), "const"
        )
        bv = Box(SP, FP, bbase, (0, 0, 1))
        emit_vector(ctx, vector(VFunc.ADD, counts, out, out, bv), out, [out, bv])
    if act is not None:
        func, i0, i1 = act
        emit_vector(ctx, vector(func, counts, out, out, None, (i0, i1, 0)), out, [out])
