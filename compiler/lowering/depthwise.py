"""Depthwise convolution (groups == input channels == output channels), float32 (Conv) and
int8 (QConv), on the vector unit and the array together.

A tile is output rows x all columns x a block of channels, computed from one padded input
patch (channels innermost, whole DRAM bursts). It runs on one of two units:

- vector tile: per kernel position one MUL of the patch's strided view by that position's
  weight vector (stride 0 over pixels) and one ADD into the accumulator;
- array tile (equal strides s): per kernel position and group of ``cols`` channels one MatMul
  of the patch's shifted view (K = N = the group's channels) by a diagonal weight matrix (a
  tile of one group: one MatMul per kernel row, K = kw x channels). Row m = r * patch width + c
  of A is patch pixel (s r, s c): one row stride for all output rows, M = (rows - 1) * patch
  width + output width; the rows past the output width are never stored. The diagonals are
  built in WEIGHT once per channel block: a LOAD with an empty window writes zeros, a second
  scatters the weights onto them (scratchpad stride cols + 1). The array multiplies up to
  cols times the layer's MACs (the zeros too): it trades energy for cycles on an idle unit.

Both end with the same epilogue on the vector unit: float32 adds the bias and applies the fused
activation; int8 sums the products exactly in int32 (padding loads the input zero point, the
QDQ pass folds ``- zp_x * sum(w)`` into the int32 bias), adds the bias and REQUANTs per
channel (scale, output zero point, clamp of the fused Relu/Clip) once. The layer alternates
tiles between the units in a pattern chosen by the tile search ("aav": two array tiles, one
vector tile), and defers each array tile's epilogue past the next vector tile, so both units
work at once.

Buffers: patches in INPUT and accumulators in ACC in ``nbuf`` slots used by successive tiles,
the parameters (weight rows, bias, requant words; the diagonal matrices) in two halves
of WEIGHT used by alternate channel blocks, so loads and stores overlap the compute; the
emitter derives the tokens from the slots each instruction touches.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from math import ceil

import numpy as np

from compiler.emit import PAGES
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
from compiler.lowering.gemm import Geom, window
from compiler.tiling import splits
from simulator.cost import cost, dma_dram_bytes, matmul_cycles, vector_cycles
from simulator.errors import ConfigError
from simulator.isa import DType, MatMul, Scratchpad, VFunc
from simulator.semantics import pack_requant_scale

PATCH, PARAMS, ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC
# the unit patterns the tile search tries: "v" all on the vector unit, else array tiles too
PATTERNS = ("v", "av", "aav", "aaav", "a")
ARRAY_DTYPES = {DType.FP32: "fp32", DType.INT8: "int8"}


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
    wrows: int  # DRAM address of the [kh*kw, cout] weight rows in the patch dtype (array)

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
    pattern: str = "v"  # the unit of each tile in turn: v vector, a array (+ vector epilogue)
    nbuf: int = 2  # tile slots in INPUT and ACC
    est: int = 0  # estimated cycles

    def describe(self) -> str:
        units = "vector unit" if self.pattern == "v" else f"array + vector unit, {self.pattern}"
        return f"depthwise rows {self.tr} ch {self.tc} ({units})"


def lower(ctx: Ctx, node, g: Geom, strides, weights: np.ndarray, bias, act) -> str:
    """float32 Conv: emit the layer; returns a tiling description. ``strides``: the (n, h, w, c)
    element strides of the input and the output."""
    table = [_weight_rows(weights, g)]
    if bias is not None:
        table.append(np.broadcast_to(np.asarray(bias, np.float32), (1, g.cout)))
    params = np.ascontiguousarray(np.vstack(table), np.float32)
    x = (DType.FP32, 0, None)  # the weight rows are the table's first rows
    layer = _layer(ctx, node, g, strides, params, x, bias is not None, act, None)
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
    x = (DType.INT8, xt.quant.zero_point & 0xFFFFFFFF, _weight_rows(w, g).astype(np.int8))
    return _run(ctx, _layer(ctx, node, g, strides, params, x, True, None, imm))


def _weight_rows(w: np.ndarray, g: Geom) -> np.ndarray:
    """[cout, 1, kh, kw] -> [kh*kw, cout]: one row of per-channel weights per kernel position."""
    return np.ascontiguousarray(w.reshape(g.cout, g.kpos).T)


def _strides(ctx: Ctx, tensor: str, axes) -> tuple[int, ...]:
    s = ctx.place(tensor).strides
    return tuple(0 if a is None else s[a] for a in axes)


def _layer(ctx, node, g, strides, params, x, bias, act, requant) -> DwLayer:
    """``x``: (patch dtype, pad pattern, [kh*kw, cout] weight rows in that dtype or None: the
    parameter table's first rows)."""
    xp, yp = ctx.place(node.inputs[0]), ctx.place(node.outputs[0])
    xdt, pad, w = x
    table = ctx.const(params).addr
    return DwLayer(
        node.name,
        g,
        (xp.addr, tuple(strides[0]), xp.key),
        (yp.addr, tuple(strides[1]), ctx.writes(node.outputs[0])),
        xdt,
        pad,
        table,
        params.shape[0],
        bias,
        act,
        requant,
        table if w is None else ctx.const(np.ascontiguousarray(w)).addr,
    )


def _run(ctx: Ctx, L: DwLayer) -> str:
    t = plan(L, ctx.config)
    _emit(ctx, L, t)
    return t.describe()


# --- tile search -------------------------------------------------------------------------
def _align(x: int) -> int:
    return -(-x // 64) * 64


def _patch_dims(g: Geom, tr: int) -> tuple[int, int]:
    pr = (tr - 1) * g.sh + (g.kh - 1) * g.dh + 1
    pw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
    return pr, pw


def _acc_bytes(L: DwLayer, t: Tiling) -> int:
    """ACC bytes of a tile: a vector tile's accumulator and products; an array tile's
    accumulator over the patch width and its int8 result."""
    g = L.g
    pixels = t.tr * g.ow
    need = 2 * _align(pixels * t.tc * 4)
    if "a" in t.pattern:
        pixels = t.tr * _patch_dims(g, t.tr)[1]
        res = pixels * t.tc if L.requant is not None else 0
        need = max(need, _align(pixels * t.tc * 4) + res)
    return need


def _slot(size: int, nbuf: int) -> int:
    """Bytes of one of ``nbuf`` slots of a scratchpad: whole emitter pages, so that slots
    share no page (a shared page would order the tiles using them)."""
    page = -(-size // PAGES)
    return min(size // nbuf, PAGES // nbuf * page) if nbuf <= PAGES else size // nbuf


def _params_bytes(L: DwLayer, t: Tiling, cols: int) -> tuple[int, int]:
    """Bytes of a channel block's parameter table and of its diagonal matrices: per kernel
    position and group of ``cols`` channels a [cols, cols] matrix."""
    diag = L.g.kpos * t.tc * cols * L.xdt.size if "a" in t.pattern else 0
    return _align(L.rows * t.tc * 4), diag


def _fits(L: DwLayer, t: Tiling, config) -> bool:
    g = L.g
    pr, pw = _patch_dims(g, t.tr)
    return (
        pr * pw * t.tc * L.xdt.size <= _slot(config.input_bytes, t.nbuf)
        and _acc_bytes(L, t) <= _slot(config.acc_bytes, t.nbuf)
        and sum(_params_bytes(L, t, config.array.cols)) <= _slot(config.weight_bytes, 2)
        and (t.tr - 1) * pw + g.ow < 1 << 16  # a MatMul's m
    )


def _array_ok(L: DwLayer, config) -> bool:
    """Array tiles need equal strides (one row stride over the patch) and the patch dtype on
    the array."""
    g = L.g
    return g.sh == g.sw and g.kpos > 1 and ARRAY_DTYPES[L.xdt] in config.array.dtypes


def _candidates(L: DwLayer, config):
    g = L.g
    chans = set(splits(g.cout, 64 // L.xdt.size))
    chans |= {-(-g.cout // 2**i) for i in range(g.cout.bit_length() + 1)}
    chans = [tc for tc in sorted(chans, reverse=True) if _fits(L, Tiling(1, tc), config)][:6]
    shapes = [(tc, "v", 2) for tc in chans] if "v" in PATTERNS else []
    if _array_ok(L, config):
        cols = config.array.cols  # blocks of 1, 2 or 4 groups: a wider one leaves few rows
        blocks = {cols << i for i in range(3) if cols << i < g.cout}
        blocks = sorted(blocks | ({g.cout} if g.cout <= 4 * cols else set()), reverse=True)
        shapes += [(tc, p, n) for tc in blocks for n in (2, 4) for p in PATTERNS if p != "v"]
    for tc, pattern, nbuf in shapes:
        top = 0
        while top < g.oh and _fits(L, Tiling(top + 1, tc, pattern, nbuf), config):
            top += 1
        rows = {top, -(-top // 2)} | ({-(-top // 4), 1} if pattern == "v" else set())
        for tr in sorted(rows if top else (), reverse=True):
            yield Tiling(-(-g.oh // -(-g.oh // tr)), tc, pattern, nbuf)  # balanced tiles


def plan(L: DwLayer, config) -> Tiling:
    """The tile (rows, channels, unit pattern, slots) with the least estimated cycles; the
    candidates in the order of a lower bound (the busiest unit's work), estimated until the
    bound reaches the best estimate."""
    tile_cost = _tile_costs(L, config)
    bounds = sorted((_bound(L, t, tile_cost), i, t) for i, t in enumerate(_candidates(L, config)))
    best = None
    for bound, _, t in bounds:
        if best is not None and bound >= best.est:
            break
        est = _estimate(L, t, tile_cost)
        if best is None or est < best.est:
            best = Tiling(t.tr, t.tc, t.pattern, t.nbuf, est)
    if best is None:
        raise ConfigError(
            f"depthwise layer {L.name!r}: one output row of one channel does not fit the "
            f"scratchpads (INPUT {config.input_bytes}, ACC {config.acc_bytes}, WEIGHT "
            f"{config.weight_bytes} bytes, each in two halves)"
        )
    return best


def _bound(L: DwLayer, t: Tiling, tile_cost) -> int:
    """No schedule of ``t`` takes less than its matrix work, its vector work or its DRAM
    traffic at full bandwidth."""
    g, work = L.g, [0, 0, 0]
    rows = [(r0, min(t.tr, g.oh - r0)) for r0 in range(0, g.oh, t.tr)]
    k = 0
    for c0 in [c0 for _ in range(g.batch) for c0 in range(0, g.cout, t.tc)]:
        c = min(t.tc, g.cout - c0)
        work[2] += tile_cost(t, None, c)[1]
        for r0, n in rows:
            _, mm, vec, epi, _, dram = tile_cost(t, r0, n, c)
            array = t.pattern[k % len(t.pattern)] == "a"
            work[0] += mm if array else 0
            work[1] += epi if array else vec
            work[2] += dram
            k += 1
    return max(work)


def _estimate(L: DwLayer, t: Tiling, tile_cost) -> int:
    """Cycles of the schedule on four in-order units: a tile's patch load waits for the last
    reader of its slot's patch, its compute for the last store from its slot's accumulators,
    an array tile's epilogue for its MatMuls; and no less than the DRAM traffic takes at full
    bandwidth (loads and stores share it)."""
    free = dict.fromkeys(("load", "matrix", "vector", "store", "dram"), 0)
    patch_free, acc_free, mm_end = [0] * t.nbuf, [0] * t.nbuf, {}

    def run(unit: str, ready: int, cycles: int) -> int:
        free[unit] = max(free[unit], ready) + cycles
        return free[unit]

    for step, k, _, tile in _schedule(L, t):
        s = k % t.nbuf
        if step == "params":
            ld, dram = tile_cost(t, None, tile[4])
            run("load", 0, ld)
            run("dram", 0, dram)
            continue
        ld, mm, vec, epi, st, dram = tile_cost(t, tile[1], tile[2], tile[4])
        if step != "back":
            run("dram", 0, dram)
        if step == "back":
            acc_free[s] = run("store", run("vector", mm_end[k], epi), st)
            continue
        ready = run("load", patch_free[s], ld)
        if step == "front":
            patch_free[s] = mm_end[k] = run("matrix", max(ready, acc_free[s]), mm)
        else:
            patch_free[s] = run("vector", max(ready, acc_free[s]), vec)
            acc_free[s] = run("store", patch_free[s], st)
    return max(free.values())


def _tile_costs(L: DwLayer, config):
    """``(tiling, r0, rows, channels) -> (load, matmuls, vector, epilogue, store, dram)``
    cycles of a tile (dram: its loads and stores at full DRAM bandwidth), memoised on what
    they depend on; ``r0`` None: ``(load, dram)`` of the parameter loads of a block."""
    g, memo = L.g, {}

    def dram(*dmas) -> int:
        return sum(ceil(dma_dram_bytes(d, config) / config.dram.bytes_per_cycle) for d in dmas)

    funcs, epi = _vfuncs(L), _vfuncs(L)[2 * g.kpos - 1 :]

    def costs(t: Tiling, r0: int | None, n: int, c: int = 0) -> tuple[int, ...]:
        array = "a" in t.pattern
        if r0 is None:
            key = ("params", n, array)
            if key not in memo:
                loads = _params_loads(L, t, 0, 0, n, config.array.cols)
                memo[key] = (sum(cost(ld, config) for ld in loads), dram(*loads))
            return memo[key]
        hit = memo.get((r0, n, c, array))
        if hit is not None:
            return hit
        key = (window(r0 * g.sh - g.pt, 1, _patch_dims(g, n)[0], g.h), n, c, array)
        if key not in memo:
            tile = (0, r0, n, 0, c)
            box = Box(ACC, L.ydt, 0, (g.ow * c, c, 1))
            m = (n - 1) * _patch_dims(g, n)[1] + g.ow
            mms = _matmuls(g, c, config.array.cols, _patch_dims(g, n)[1]) if array else []
            ld, st = _patch_load(L, 0, tile), _store(L, box, tile)
            memo[key] = (
                cost(ld, config),
                sum(matmul_cycles(m, mm[3], mm[4], config) for mm in mms),
                sum(vector_cycles(f, n * g.ow * c, config) for f in funcs),
                sum(vector_cycles(f, n * g.ow * c, config) for f in epi),
                cost(st, config),
                dram(ld, st),
            )
        memo[r0, n, c, array] = memo[key]
        return memo[key]

    return costs


def _vfuncs(L: DwLayer) -> list[VFunc]:
    """The vector functions a vector tile runs, in order (from index 2*kpos - 1: the epilogue)."""
    funcs = [VFunc.MUL] + [VFunc.MUL, VFunc.ADD] * (L.g.kpos - 1)
    funcs += [VFunc.ADD] if L.bias else []
    funcs += [L.act[0]] if L.act is not None else []
    return funcs + ([VFunc.REQUANT] if L.requant is not None else [])


# --- schedule and emission -----------------------------------------------------------------
def _schedule(L: DwLayer, t: Tiling):
    """The program order: ``(step, k, block, tile)``; step "params" (a channel block's
    parameters, k = block number), "tile" (a vector tile), "front" (an array tile's patch load
    and MatMuls), "back" (its epilogue and store). Backs wait until after the next vector tile
    (the vector unit's queue is in order), but never past a tile reusing their slot or a block
    reusing their half of WEIGHT."""
    g, pending, k = L.g, deque(), 0  # pending: (k, block, tile) of array tiles, in order
    blocks = [(b, c0) for b in range(g.batch) for c0 in range(0, g.cout, t.tc)]
    for blk, (b, c0) in enumerate(blocks):
        tc = min(t.tc, g.cout - c0)
        while pending and pending[0][1] <= blk - 2:
            yield "back", *pending.popleft()
        yield "params", blk, blk, (b, 0, 0, c0, tc)
        for r0 in range(0, g.oh, t.tr):
            tile = (b, r0, min(t.tr, g.oh - r0), c0, tc)
            while pending and pending[0][0] <= k - t.nbuf:
                yield "back", *pending.popleft()
            if t.pattern[k % len(t.pattern)] == "a":
                yield "front", k, blk, tile
                pending.append((k, blk, tile))
            else:
                yield "tile", k, blk, tile
                while pending:
                    yield "back", *pending.popleft()
            k += 1
    while pending:
        yield "back", *pending.popleft()


def _emit(ctx: Ctx, L: DwLayer, t: Tiling) -> None:
    cfg = ctx.config
    slot_in, slot_acc = _slot(cfg.input_bytes, t.nbuf), _slot(cfg.acc_bytes, t.nbuf)
    for step, k, blk, tile in _schedule(L, t):
        bases = (
            (k % t.nbuf) * slot_in,
            (k % t.nbuf) * slot_acc,
            (blk % 2) * _slot(cfg.weight_bytes, 2),
        )
        if step == "params":
            for instr in _params_loads(L, t, bases[2], tile[3], tile[4], cfg.array.cols):
                emit_load(ctx, instr, "const")
        elif step == "tile":
            _vector_tile(ctx, L, tile, bases)
        elif step == "front":
            _array_front(ctx, L, t, tile, bases)
        else:
            _array_back(ctx, L, t, tile, bases)


def _groups(tc: int, cols: int) -> list[tuple[int, int]]:
    """(first channel, channels) of each array group of a block of ``tc`` channels."""
    return [(c, min(cols, tc - c)) for c in range(0, tc, cols)]


def _params_loads(L: DwLayer, t: Tiling, pbase: int, c0: int, tc: int, cols: int):
    """The block's parameter table; for array tiles also zeros over its diagonal matrices
    (a LOAD with an empty window) and its weights scattered onto their diagonals."""
    g, es = L.g, L.xdt.size
    out = [load(PARAMS, pbase, 4, L.params + c0 * 4, (1, L.rows, tc), (0, g.cout, 1), (0, tc, 1))]
    if "a" not in t.pattern:
        return out
    dbase = pbase + _params_bytes(L, t, cols)[0]
    empty = ((0, 0), (0, 0), (0, 0))
    box = (1, g.kpos * tc, cols)
    out.append(load(PARAMS, dbase, es, L.wrows, box, (0, 0, 0), (0, cols, 1), empty))
    full, rest = divmod(tc, cols)
    diag = (tc * cols, cols * cols, cols + 1)  # (position, group, channel) in WEIGHT
    if full:
        src = L.wrows + c0 * es
        out.append(load(PARAMS, dbase, es, src, (g.kpos, full, cols), (g.cout, cols, 1), diag))
    if rest:
        src = L.wrows + (c0 + full * cols) * es
        dst = dbase + full * cols * cols * es
        out.append(load(PARAMS, dst, es, src, (1, g.kpos, rest), (0, g.cout, 1), (0, *diag[::2])))
    return out


def _patch_load(L: DwLayer, base: int, tile):
    g = L.g
    b, r0, tr, c0, tc = tile
    xaddr, xs, _ = L.x
    pr, pw = _patch_dims(g, tr)
    ih0, iw0 = r0 * g.sh - g.pt, -g.pl
    es = L.xdt.size
    addr = xaddr + (b * xs[0] + ih0 * xs[1] + iw0 * xs[2] + c0 * xs[3]) * es
    win = (window(ih0, 1, pr, g.h), window(iw0, 1, pw, g.w), (0, tc))
    return load(PATCH, base, es, addr, (pr, pw, tc), tuple(xs[1:]), (pw * tc, tc, 1), win, L.pad)


def _store(L: DwLayer, res: Box, tile):
    b, r0, tr, c0, tc = tile
    yaddr, ys, _ = L.y
    es = L.ydt.size
    addr = yaddr + (b * ys[0] + r0 * ys[1] + c0 * ys[3]) * es
    return store(ACC, res.addr, es, addr, (tr, L.g.ow, tc), tuple(ys[1:]), res.strides)


def _vector_tile(ctx: Ctx, L: DwLayer, tile, bases) -> None:
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
        emit_vector(ctx, vector(VFunc.MUL, counts, dst, src, wv))
        if p:
            emit_vector(ctx, vector(VFunc.ADD, counts, out, out, tmp))
    res = _epilogue(ctx, L, counts, (out, tmp), pbase + g.kpos * tc * 4)
    emit_store(ctx, _store(L, res, tile), L.y[2])


def _array_front(ctx: Ctx, L: DwLayer, t: Tiling, tile, bases) -> None:
    """The patch load and the MatMuls (``_matmuls``), accumulating in the tile's ACC slot."""
    g, es, cols = L.g, L.xdt.size, ctx.config.array.cols
    _, _, tr, _, tc = tile
    ibase, abase, pbase = bases
    emit_load(ctx, _patch_load(L, ibase, tile), L.x[2])
    pw = _patch_dims(g, tr)[1]
    dbase = pbase + _params_bytes(L, t, cols)[0]
    for a, w, c, k, n, acc in _matmuls(g, tc, cols, pw):
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


def _matmuls(g: Geom, tc: int, cols: int, pw: int) -> list[tuple[int, ...]]:
    """(A, W, C element offsets, k, n, accumulate) of an array tile's MatMuls: per group of
    channels and kernel position one by the position's diagonal matrix; when the tile is one
    group and the kernel's columns are adjacent, one per kernel row (K = kw x channels: the
    row's positions are consecutive in the patch and their matrices in WEIGHT)."""
    if tc <= cols and g.dw == 1:
        k = g.kw * tc
        return [(i * g.dh * pw * tc, i * k * cols, 0, k, tc, int(i > 0)) for i in range(g.kh)]
    out = []
    for c, n in _groups(tc, cols):
        for p in range(g.kpos):
            i, j = divmod(p, g.kw)
            a = (i * g.dh * pw + j * g.dw) * tc + c
            out.append((a, p * tc * cols + c * cols, c, n, n, int(p > 0)))
    return out


def _array_back(ctx: Ctx, L: DwLayer, t: Tiling, tile, bases) -> None:
    """The epilogue of an array tile (its accumulators are patch-width rows) and the store."""
    g = L.g
    _, _, tr, _, tc = tile
    _, abase, pbase = bases
    pw = _patch_dims(g, tr)[1]
    out = Box(ACC, L.acc, abase, (pw * tc, tc, 1))
    tmp = Box(ACC, L.acc, abase + _align(tr * pw * tc * 4), out.strides)
    res = _epilogue(ctx, L, (tr, g.ow, tc), (out, tmp), pbase + g.kpos * tc * 4)
    emit_store(ctx, _store(L, res, tile), L.y[2])


def _epilogue(ctx: Ctx, L: DwLayer, counts, boxes, row: int) -> Box:
    """Bias, then the activation (float) or REQUANT into ``tmp`` (int8); returns the result."""
    out, tmp = boxes
    tc = counts[2]
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
