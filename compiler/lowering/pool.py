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
    i32_bits,
    load,
    store,
    vector,
)
from compiler.lowering.gemm import window
from compiler.opdecl import OpTable
from simulator.isa import DType, Scratchpad, VFunc
from simulator.semantics import pack_requant_scales

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare

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
    bytes_max = is_max and xt.dtype in ("int8", "uint8")  # patch and result one byte each
    pe = 1 if bytes_max else 5 if xt.dtype == "int8" and not is_max else 4  # a patch element
    slots = 3 if pe == 5 else 2  # fp32 slots per output element (int8: results, constants)
    ob = 1 if bytes_max else 4 * slots  # bytes per output element
    copies = ctx.scratch.copies(SP, 2)

    def rows(sep: bool) -> tuple[int, int]:
        """(tc, tr); ``sep``: a row of the horizontal maxima per patch row too."""
        rw = pw + (ow if sep else 0)  # patch-element bytes per patch row, over pe and tc
        reserve = 512 if pe == 5 else (128 if bytes_max else 0) + (128 if sep else 0)
        budget = copies.capacity - reserve  # constants, alignment
        tc = c
        while tc > 1 and (((kh - 1) * dh + sh + 1) * rw * tc * pe + ow * tc * ob) > budget:
            tc = -(-tc // 2)
        per_row = sh * rw * tc * pe + ow * tc * ob
        tr = max(1, min(oh, (budget - (kh - 1) * dh * rw * tc * pe) // per_row))
        if bytes_max and c == tc:  # at least 4 row tiles, so the loads overlap the MAXes
            tr = min(tr, -(-oh // 4))
        return tc, tr

    tc, tr = rows(False)
    sep = False
    if is_max and kh > 1 and kw > 1:  # rows then columns when that makes the tiles faster
        dims = (kh, kw, sh, dh, pw, ow, DTYPES[xt.dtype].size)
        by_rows = rows(True)
        sep = _row_cycles(ctx.config, by_rows[1], dims, True) < _row_cycles(
            ctx.config, tr, dims, False
        )
        tc, tr = by_rows if sep else (tc, tr)
    copies.use(copies.capacity)
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
                    (kh, kw, sh, sw, dh, dw, pt, pl, sep),
                    div,
                    copies.base(buf),
                )
                buf ^= 1
    ctx.record(node, macs=0, tiling=f"rows {tr} ch {tc}")


def _divisor(node, hw, ohw, k, s, p):
    """The window sizes: an int, or per output position when padding is excluded."""
    if node.attr("count_include_pad", 0) or not any(node.attr("pads") or ()):
        return k[0] * k[1]
    out = np.zeros(ohw, np.int64)
    for r in range(ohw[0]):
        for q in range(ohw[1]):
            hr = min(r * s[0] - p[0] + k[0], hw[0]) - max(r * s[0] - p[0], 0)
            wr = min(q * s[1] - p[1] + k[1], hw[1]) - max(q * s[1] - p[1], 0)
            out[r, q] = hr * wr
    return out


def _int_words(ctx, node, count) -> np.ndarray:
    """REQUANT words of s_x / (s_y * count) (fp32, as onnxruntime's QLinearGlobalAveragePool)."""
    qx, qy = ctx.type(node.inputs[0]).quant, ctx.type(node.outputs[0]).quant
    scale = np.float32(qx.scale) / (np.float32(qy.scale) * np.asarray(count, np.float32))
    return pack_requant_scales(scale).view(np.int32).reshape(np.shape(count))


def _tile(ctx, node, is_max, strides, tile, sizes, kern, div, base):
    xs, ys = strides
    b, r0, tr, c0, tc = tile
    h, w, ow, pw = sizes
    kh, kw, sh, sw, dh, dw, pt, pl, sep = kern  # sep: rows then columns (``_separable_max``)
    pr = (tr - 1) * sh + (kh - 1) * dh + 1
    ih0, iw0 = r0 * sh - pt, -pl
    xp = ctx.place(node.inputs[0])
    dt = DTYPES[ctx.type(node.inputs[0]).dtype]  # MaxPool also runs on int8 (max is monotonic)
    es = dt.size
    mode = _int8_mode(node, (h, w), (kh, kw), (pt, pl)) if dt == DType.INT8 and not is_max else None
    zp = ctx.type(node.inputs[0]).quant.zero_point if mode else 0
    addr = xp.addr + (b * xs[0] + ih0 * xs[1] + iw0 * xs[2] + c0 * xs[3]) * es
    win = (window(ih0, 1, pr, h), window(iw0, 1, pw, w), (0, tc))
    pad = MAX_PAD[dt] if is_max else zp & 0xFF
    emit_load(
        ctx,
        load(SP, base, es, addr, (pr, pw, tc), tuple(xs[1:]), (pw * tc, tc, 1), win, pad),
        xp.key,
    )
    patch = pr * pw * tc * es
    vdt, vbase, ves = dt, base, es  # what the window views read
    if mode == "qlinear":  # dequantise the patch once (pads hold zp_x: they read as 0.0)
        vdt, vbase, ves = FP, base + _align(patch), 4
        pbox = (pw * tc, tc, 1)
        dq = vector(
            VFunc.DEQUANT,
            (pr, pw, tc),
            Box(SP, FP, vbase, pbox),
            Box(SP, dt, base, pbox),
            None,
            (i32_bits(zp), f32_bits(ctx.type(node.inputs[0]).quant.scale), 0),
        )
        emit_vector(ctx, dq)
        patch += pr * pw * tc * 4 + 64
    acc_dt = {"global": DType.INT32, "qlinear": FP}.get(mode, dt)
    out = Box(SP, acc_dt, base + _align(patch), (ow * tc, tc, 1))
    counts = (tr, ow, tc)
    if sep:
        rows = Box(SP, vdt, out.addr + _align(tr * ow * tc * acc_dt.size), (ow * tc, tc, 1))
        _separable_max(ctx, (vdt, vbase, ves), rows, out, (pr, pw, tr, ow, tc), kern)
    else:
        srcs = []
        for p in range(kh * kw):
            i, j = divmod(p, kw)
            at = vbase + ((i * dh) * pw + j * dw) * tc * ves
            srcs.append(Box(SP, vdt, at, (sh * pw * tc, sw * tc, 1)))
        _fold(ctx, VFunc.MAX if is_max else VFunc.ADD, counts, out, srcs)
    dbox = Box(
        SP, DType.INT32 if mode == "global" else FP, out.addr + _align(tr * ow * tc * 4), (ow, 1, 0)
    )
    if mode == "global":
        out = _requant(ctx, node, out, dbox, counts, div, kh * kw * zp)
    elif mode == "qlinear":
        out = _qlinear_quantize(
            ctx, node, out, dbox, counts, div[r0 : r0 + tr] if not isinstance(div, int) else div
        )
    elif isinstance(div, int):
        imm = (f32_bits(1.0 / div), 0, 0)
        emit_vector(ctx, vector(VFunc.MUL_IMM, counts, out, out, None, imm))
    elif div is not None:
        dp = ctx.const(np.ascontiguousarray(1.0 / div[r0 : r0 + tr], np.float32))
        emit_load(
            ctx, load(SP, dbox.addr, 4, dp.addr, (1, tr, ow), (0, ow, 1), (0, ow, 1)), "const"
        )
        emit_vector(ctx, vector(VFunc.MUL, counts, out, out, dbox))
    yp = ctx.place(node.outputs[0])
    yaddr = yp.addr + (b * ys[0] + r0 * ys[1] + c0 * ys[3]) * es
    emit_store(
        ctx,
        store(SP, out.addr, es, yaddr, counts, tuple(ys[1:]), out.strides),
        ctx.writes(node.outputs[0]),
    )


def _row_cycles(config, tr: int, dims, sep: bool) -> float:
    """A MaxPool's cycles per output row and channel with tiles of ``tr`` output rows: the
    larger of its vector passes (a COPY and kh kw - 1 MAXes, or ``_separable_max``'s) and its
    DMA (the patch rows, halo included, and the results); lanes and bytes per cycle of
    ``config``."""
    kh, kw, sh, dh, pw, ow, es = dims
    pr = (tr - 1) * sh + (kh - 1) * dh + 1
    ops = ((kw - 1) * pr + (kh - 1) * tr) * ow if sep else kh * kw * tr * ow
    moved = (pr * pw + tr * ow) * es
    cycles = max(ops / config.vector.lanes, moved / config.dram.bytes_per_cycle)
    return cycles / tr


def _fold(ctx, func: VFunc, counts, out: Box, srcs: list[Box], fuse_first=False) -> None:
    """out = func over ``srcs`` in order: a COPY of the first, or (``fuse_first``) the first
    two in one instruction. (Measured: fusing them made unet_small's 2 x 2 pools slower, by
    144 and 168 cycles, and the separable pass's row maxima faster.)"""
    if fuse_first:
        emit_vector(ctx, vector(func, counts, out, srcs[0], srcs[1]))
    else:
        emit_vector(ctx, vector(VFunc.COPY, counts, out, srcs[0]))
    for src in srcs[2 if fuse_first else 1 :]:
        emit_vector(ctx, vector(func, counts, out, out, src))


def _separable_max(ctx, view, rows: Box, out: Box, dims, kern) -> None:
    """MaxPool in two passes (max is exact in any order; an average's fp32 sum is not, so it
    keeps the window order): each patch row's maxima over the kw columns of every output
    column into ``rows`` ((kw - 1) MAXes over pr rows), then the maxima over the kh rows of
    those ((kh - 1) over tr rows): about 6 MAX elements an output for 3 x 3 stride 2 where
    the window takes a COPY and 8 MAXes. ``_pool`` takes it when ``_row_cycles`` finds its
    tiles faster (a vector-bound pool: int8, not fp32 at 32 B/cycle)."""
    vdt, vbase, ves = view
    pr, pw, tr, ow, tc = dims
    kh, kw, sh, sw, dh, dw = kern[:6]
    cols = [Box(SP, vdt, vbase + j * dw * tc * ves, (pw * tc, sw * tc, 1)) for j in range(kw)]
    _fold(ctx, VFunc.MAX, (pr, ow, tc), rows, cols, fuse_first=True)
    step = ow * tc * ves
    lines = [Box(SP, vdt, rows.addr + i * dh * step, (sh * ow * tc, tc, 1)) for i in range(kh)]
    _fold(ctx, VFunc.MAX, (tr, ow, tc), out, lines, fuse_first=True)


def _align(x: int) -> int:
    return -(-x // 64) * 64


def _int8_mode(node, hw, k, pads) -> str:
    """How an int8 average pool computes, as onnxruntime's QLinearAveragePool does: a window
    over the whole unpadded image is its integer global pool ("global"), any other runs in
    fp32 on the dequantised values ("qlinear"); a pool marked ``integer`` (one window size:
    ``CompileOptions.integer_avgpool``) computes as the global pool does."""
    if tuple(k) == tuple(hw) and not any(node.attr("pads") or ()) or node.attr("integer"):
        return "global"
    del pads
    return "qlinear"


def _requant(ctx, node, acc: Box, words: Box, counts, count: int, offset: int) -> Box:
    """int32 window sums minus kpos * zp_x, REQUANT to int8 by s_x / (s_y * count)."""
    emit_vector(ctx, vector(VFunc.ADD_IMM, counts, acc, acc, None, (i32_bits(-offset), 0, 0)))
    wp = ctx.const(_int_words(ctx, node, np.array([count])))
    emit_load(ctx, load(SP, words.addr, 4, wp.addr, (1, 1, 1), (0, 0, 1), (0, 0, 1)), "const")
    wbox = Box(SP, DType.INT32, words.addr, (0, 0, 0))
    res = Box(SP, DType.INT8, words.addr + 64, acc.strides)
    qy = ctx.type(node.outputs[0]).quant
    imm = (i32_bits(qy.zero_point), i32_bits(-128), i32_bits(127))
    emit_vector(ctx, vector(VFunc.REQUANT, counts, res, acc, wbox, imm))
    return res


def _qlinear_quantize(ctx, node, acc: Box, scratch: Box, counts, div) -> Box:
    """fp32 window sums -> int8 as QLinearAveragePool: ``sum / count`` (a division), then
    ``nearbyint(v / s_y + zp)``. onnxruntime runs int8 QDQ pairs inside the graph on uint8
    kernels (zero point + 128, and the fp32 add rounds at that magnitude); a graph output
    keeps its int8 zero point."""
    tr, ow, tc = counts
    qy = ctx.type(node.outputs[0]).quant
    table = np.broadcast_to(np.asarray(div, np.float32), (tr, ow))
    consts = ctx.const(np.concatenate([table.reshape(-1), [np.float32(qy.scale)]]))
    n = tr * ow + 1
    emit_load(ctx, load(SP, scratch.addr, 4, consts.addr, (1, 1, n), (0, 0, 1), (0, 0, 1)), "const")
    sbox = Box(SP, FP, scratch.addr + (n - 1) * 4, (0, 0, 0))
    for src1 in (scratch, sbox):
        emit_vector(ctx, vector(VFunc.DIV, counts, acc, acc, src1))
    shift = 0 if node.outputs[0] in ctx.graph.outputs else 128
    imm = (f32_bits(qy.zero_point + shift), 0, 0)
    emit_vector(ctx, vector(VFunc.ADD_IMM, counts, acc, acc, None, imm))
    res = Box(SP, DType.INT8, scratch.addr + _align(n * 4), acc.strides)
    if not shift:
        emit_vector(ctx, vector(VFunc.COPY, counts, res, acc))
        return res
    u8 = Box(SP, DType.UINT8, res.addr + _align(tr * ow * tc), acc.strides)
    emit_vector(ctx, vector(VFunc.COPY, counts, u8, acc))
    imm = (i32_bits(-shift), 0, 0)
    emit_vector(ctx, vector(VFunc.ADD_IMM, counts, res, u8, None, imm))
    return res


declare(
    "MaxPool",
    "float32, int8 (QDQ)",
    "2-D, any kernel/stride/dilation/pads, ceil_mode=0",
    _check_pool,
)(lambda ctx, node: _pool(ctx, node, True))
declare(
    "AveragePool",
    "float32, int8 (QDQ)",
    "2-D, any kernel/stride/pads, count_include_pad 0 or 1, ceil_mode=0; int8 as "
    "QLinearAveragePool: a whole-image window is an integer global pool, others run in fp32 "
    "on the dequantised patch",
    _check_pool,
)(lambda ctx, node: _pool(ctx, node, False))
