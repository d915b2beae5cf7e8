"""Pooling on the vector unit: a padded input patch per tile of output rows, then one MAX (or
ADD) per kernel position over a strided view of the patch."""

from __future__ import annotations

import numpy as np

from compiler.lowering.common import (
    DTYPES,
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    f32_bits,
    load,
    store,
    vector,
)
from compiler.lowering.gemm import _window
from compiler.ops import declare
from simulator.isa import DType, Scratchpad, VFunc

SP = Scratchpad.INPUT
FP = DType.FP32
NEG_INF = 0xFF800000
MAX_PAD = {FP: NEG_INF, DType.INT8: 0x80, DType.UINT8: 0}  # the smallest value of each dtype


def _geom(node, xt):
    k = tuple(node.attr("kernel_shape"))
    s = tuple(node.attr("strides") or (1,) * len(k))
    d = tuple(node.attr("dilations") or (1,) * len(k))
    pads = tuple(node.attr("pads") or (0,) * (2 * len(k)))
    return k, s, d, pads


def _check_pool(node, graph) -> str | None:
    if graph.type(node.inputs[0]).rank != 4:
        return "only 2-D pooling"
    if node.attr("ceil_mode", 0):
        return "ceil_mode=1"
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return f"auto_pad={node.attr('auto_pad')!r}"
    if node.op == "AveragePool" and any(d != 1 for d in node.attr("dilations") or ()):
        return "dilations != 1"
    return None


def _pool(ctx: Ctx, node, is_max: bool) -> None:
    xt, yt = ctx.type(node.inputs[0]), ctx.type(node.outputs[0])
    n, c, h, w = xt.shape
    oh, ow = yt.shape[2:]
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, _, _) = _geom(node, xt)
    xs = [ctx.place(node.inputs[0]).strides[a] for a in (0, 2, 3, 1)]
    ys = [ctx.place(node.outputs[0]).strides[a] for a in (0, 2, 3, 1)]
    pw = (ow - 1) * sw + (kw - 1) * dw + 1
    budget = ctx.config.input_bytes // 2
    tc = c
    while tc > 1 and (((kh - 1) * dh + sh + 1) * pw * tc + 2 * ow * tc) * 4 > budget:
        tc = -(-tc // 2)
    per_row = sh * pw * tc * 4 + ow * tc * 4 * 2
    tr = max(1, min(oh, (budget - (kh - 1) * dh * pw * tc * 4) // per_row))
    div = _divisor(node, (h, w), (oh, ow), (kh, kw), (sh, sw), (pt, pl)) if not is_max else None
    buf = 0
    for b in range(n):
        for r0 in range(0, oh, tr):
            for c0 in range(0, c, tc):
                rr, cc = min(tr, oh - r0), min(tc, c - c0)
                _tile(
                    ctx,
                    node,
                    is_max,
                    (xs, ys),
                    (b, r0, rr, c0, cc),
                    (h, w, ow, pw),
                    (kh, kw, sh, sw, dh, dw, pt, pl),
                    div,
                    buf * budget,
                )
                buf ^= 1
    ctx.record(node, macs=0, tiling=f"rows {tr} ch {tc}")


def _divisor(node, hw, ohw, k, s, p):
    if node.attr("count_include_pad", 0) or not any(node.attr("pads") or ()):
        return 1.0 / (k[0] * k[1])
    out = np.zeros(ohw, np.float32)
    for r in range(ohw[0]):
        for q in range(ohw[1]):
            hr = min(r * s[0] - p[0] + k[0], hw[0]) - max(r * s[0] - p[0], 0)
            wr = min(q * s[1] - p[1] + k[1], hw[1]) - max(q * s[1] - p[1], 0)
            out[r, q] = 1.0 / (hr * wr)
    return out


def _tile(ctx, node, is_max, strides, tile, sizes, kern, div, base):
    xs, ys = strides
    b, r0, tr, c0, tc = tile
    h, w, ow, pw = sizes
    kh, kw, sh, sw, dh, dw, pt, pl = kern
    pr = (tr - 1) * sh + (kh - 1) * dh + 1
    ih0, iw0 = r0 * sh - pt, -pl
    xp = ctx.place(node.inputs[0])
    dt = DTYPES[ctx.type(node.inputs[0]).dtype]  # MaxPool also runs on int8 (max is monotonic)
    es = dt.size
    addr = xp.addr + (b * xs[0] + ih0 * xs[1] + iw0 * xs[2] + c0 * xs[3]) * es
    win = (_window(ih0, 1, pr, h), _window(iw0, 1, pw, w), (0, tc))
    pad = MAX_PAD[dt] if is_max else 0
    emit_load(
        ctx,
        load(SP, base, es, addr, (pr, pw, tc), tuple(xs[1:]), (pw * tc, tc, 1), win, pad),
        xp.key,
    )
    patch = pr * pw * tc * es
    out = Box(SP, dt, base + -(-patch // 64) * 64, (ow * tc, tc, 1))
    counts = (tr, ow, tc)
    for p in range(kh * kw):
        i, j = divmod(p, kw)
        src = Box(SP, dt, base + ((i * dh) * pw + j * dw) * tc * es, (sh * pw * tc, sw * tc, 1))
        if p == 0:
            emit_vector(ctx, vector(VFunc.COPY, counts, out, src), out, [src])
        else:
            f = VFunc.MAX if is_max else VFunc.ADD
            emit_vector(ctx, vector(f, counts, out, out, src), out, [out, src])
    if isinstance(div, float):
        emit_vector(
            ctx, vector(VFunc.MUL_IMM, counts, out, out, None, (f32_bits(div), 0, 0)), out, [out]
        )
    elif div is not None:
        dp = ctx.const(np.ascontiguousarray(div[r0 : r0 + tr]))
        dbox = Box(SP, FP, out.addr + -(-tr * ow * tc * 4 // 64) * 64, (ow, 1, 0))
        emit_load(
            ctx, load(SP, dbox.addr, 4, dp.addr, (1, tr, ow), (0, ow, 1), (0, ow, 1)), "const"
        )
        emit_vector(ctx, vector(VFunc.MUL, counts, out, out, dbox), out, [out, dbox])
    yp = ctx.place(node.outputs[0])
    yaddr = yp.addr + (b * ys[0] + r0 * ys[1] + c0 * ys[3]) * es
    emit_store(
        ctx,
        store(SP, out.addr, es, yaddr, counts, tuple(ys[1:]), out.strides),
        ctx.writes(node.outputs[0]),
    )


declare(
    "MaxPool",
    "float32, int8 (QDQ)",
    "2-D, any kernel/stride/dilation/pads, ceil_mode=0",
    _check_pool,
)(lambda ctx, node: _pool(ctx, node, True))
declare(
    "AveragePool",
    "float32",
    "2-D, any kernel/stride/pads, count_include_pad 0 or 1, ceil_mode=0",
    _check_pool,
)(lambda ctx, node: _pool(ctx, node, False))
