"""LRN (local response normalisation across channels) on the vector unit.

``y = x / (bias + alpha/size * S)^beta`` with ``S[c]`` the sum of ``x²`` over the channels
``[c - lo, c + hi]``, ``lo = floor((size-1)/2)``, ``hi = ceil((size-1)/2)``. A tile of positions
is loaded with ``lo`` and ``hi`` zero channels around the real ones (the DMA window's pad),
squared, and ``S`` is ``size`` ADDs of channel-shifted views of the squares. The tile keeps the
channel axis where the input stores it (innermost for channels-last), so loads run in bursts.
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
    f32_bits,
    load,
    store,
    vector,
)
from compiler.opdecl import OpTable
from simulator.errors import ConfigError
from simulator.isa import DType, Scratchpad, VFunc

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare

SP = Scratchpad.INPUT
FP = DType.FP32


@dataclass(frozen=True)
class Tiling:
    order: tuple[str, str, str]  # the tile's axes, outermost first ("c", "h", "w")
    cp: int  # channels with the zero pad
    th: int
    tw: int

    def sp_strides(self) -> dict[str, int]:
        if self.order[-1] == "c":
            return {"c": 1, "w": self.cp, "h": self.tw * self.cp}
        return {"w": 1, "h": self.tw, "c": self.th * self.tw}

    @property
    def slot(self) -> int:
        return -(-self.cp * self.th * self.tw * 4 // 64) * 64


def _axes(values: dict, order) -> tuple:
    return tuple(values[a] for a in order)


def _nchw(values: tuple[int, ...], h_fill: int) -> dict[str, int]:
    """Shape or strides of a 3-D / 4-D tensor by axis name (a 3-D one gets h = ``h_fill``)."""
    n, c, *hw = values
    h, w = hw if len(hw) == 2 else (h_fill, hw[0])
    return {"n": n, "c": c, "h": h, "w": w}


def _check_lrn(node, graph) -> str | None:
    rank = graph.type(node.inputs[0]).rank
    return None if rank in (3, 4) else f"rank-{rank} input (only 3-D and 4-D)"


def _plan(ctx: Ctx, node, dims: dict, xs: dict, size: int) -> Tiling:
    cp = dims["c"] + size - 1
    budget = (ctx.scratch.copies(SP, 2).capacity - 64) // 4 // 3 - 16  # fp32 words per slot
    pos = budget // cp
    if pos < 1:
        raise ConfigError(
            f"node {node.name!r} (LRN): {cp} padded channels do not fit the input scratchpad "
            f"({ctx.config.input_bytes} bytes, three slots, double-buffered)"
        )
    tw = min(dims["w"], pos)
    th = min(dims["h"], pos // tw)
    order = ("h", "w", "c") if xs["c"] < xs["w"] else ("c", "h", "w")
    return Tiling(order, cp, th, tw)


@declare(
    "LRN",
    "float32",
    "across channels; size, alpha, beta, bias; 3-D and 4-D inputs (squares, a windowed "
    "channel sum of shifted views, POW and DIV on the vector unit)",
    _check_lrn,
)
def lower_lrn(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    size = node.attr("size")
    dims = _nchw(ctx.type(x).shape, 1)
    xs, ys = (_nchw(ctx.place(v).strides, 0) for v in (x, y))
    t = _plan(ctx, node, dims, xs, size)
    beta = ctx.const(np.array([node.attr("beta", 0.75)], np.float32))
    copies = ctx.scratch.copies(SP, 2)
    copies.use(copies.capacity)  # three slots of the budget's words and the window sums
    tile = 0
    for b in range(dims["n"]):
        for h0 in range(0, dims["h"], t.th):
            for w0 in range(0, dims["w"], t.tw):
                at = {"n": b, "c": 0, "h": h0, "w": w0}
                n = {"h": min(t.th, dims["h"] - h0), "w": min(t.tw, dims["w"] - w0)}
                base = copies.base(tile)
                _tile(ctx, node, t, at, n, base, (xs, ys, beta.addr))
                tile += 1
    ctx.record(node, macs=0, tiling=f"{t.th}x{t.tw} positions x {t.cp} channels, {tile} tiles")


def _tile(ctx: Ctx, node, t: Tiling, at: dict, n: dict, base: int, refs) -> None:
    xs, ys, beta_addr = refs
    size = node.attr("size")
    lo = (size - 1) // 2
    c = t.cp - size + 1
    sps = _axes(t.sp_strides(), t.order)
    xb, sq, s = (Box(SP, FP, base + k * t.slot, sps) for k in range(3))
    bb = Box(SP, FP, base + 3 * t.slot, (0, 0, 0))
    cnt_p, cnt = (_axes({"c": cc, **n}, t.order) for cc in (t.cp, c))
    win = _axes({"c": (lo, lo + c), "h": (0, n["h"]), "w": (0, n["w"])}, t.order)
    xp, yp = ctx.place(node.inputs[0]), ctx.place(node.outputs[0])
    off = sum(at[a] * xs[a] for a in "nhw") - lo * xs["c"]
    ld = load(SP, xb.addr, 4, xp.addr + off * 4, cnt_p, _axes(xs, t.order), sps, win)
    emit_load(ctx, ld, xp.key)
    emit_load(ctx, load(SP, bb.addr, 4, beta_addr, (1, 1, 1), (0, 0, 0), (0, 0, 1)), "const")
    cstep = t.sp_strides()["c"] * 4

    def shifted(box: Box, j: int) -> Box:
        return Box(SP, FP, box.addr + j * cstep, box.strides)

    _v(ctx, VFunc.MUL, cnt_p, sq, xb, xb)
    if size == 1:
        _v(ctx, VFunc.COPY, cnt, s, sq)
    else:
        _v(ctx, VFunc.ADD, cnt, s, sq, shifted(sq, 1))
    for j in range(2, size):
        _v(ctx, VFunc.ADD, cnt, s, s, shifted(sq, j))
    scale = f32_bits(node.attr("alpha", 1e-4) / size)
    _v(ctx, VFunc.MUL_IMM, cnt, s, s, None, (scale, 0, 0))
    _v(ctx, VFunc.ADD_IMM, cnt, s, s, None, (f32_bits(node.attr("bias", 1.0)), 0, 0))
    _v(ctx, VFunc.POW, cnt, s, s, bb)
    _v(ctx, VFunc.DIV, cnt, s, shifted(xb, lo), s)
    yoff = sum(at[a] * ys[a] for a in "nhw")
    st = store(SP, s.addr, 4, yp.addr + yoff * 4, cnt, _axes(ys, t.order), sps)
    emit_store(ctx, st, ctx.writes(node.outputs[0]))


def _v(ctx, func, counts, dst, a, b=None, imm=(0, 0, 0)):
    emit_vector(ctx, vector(func, counts, dst, a, b, imm))
