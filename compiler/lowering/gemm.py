"""GEMM-like layers (Conv, ConvTranspose-as-conv, Gemm, MatMul): the layer record, the
helpers both loop nests share, and the nest of the int8 layers (QConv, QGemm, QMatMul; float
layers use ``schedule.py``'s nest, which builds on the public helpers here: ``patch``,
``window``, ``a_loads``, ``w_transposed``, ``mtiles``, ``ranges``, the epilogue words).

A layer is an image problem: ``batch`` images of h x w pixels with cin channels (any element
strides in DRAM), a kh x kw kernel with strides, dilations and pads, ``groups`` groups, and
weights W[g, kpos, cin_g, cout_g]. Each M tile (tr output rows x tw output columns) is built in
the input scratchpad either as one padded patch ("shift": stride 1, one MatMul per kernel
position over shifted windows of the patch) or by im2col DMA (one strided Load per kernel
position filling a column block of A). C accumulates in the accumulator; the vector unit runs
the epilogue (bias, residual add, requantisation) and DMA-out stores the tile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from math import ceil
from typing import Any

from compiler import tiling
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
from compiler.tiling import GemmTiling
from simulator.cost import cost
from simulator.isa import DType, MatMul, Scratchpad, VFunc

SP_IN, SP_W, SP_ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC


@dataclass(frozen=True)
class Geom:
    batch: int
    h: int
    w: int
    cin: int
    oh: int
    ow: int
    cout: int
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    dh: int = 1
    dw: int = 1
    pt: int = 0
    pl: int = 0
    groups: int = 1

    @property
    def cin_g(self) -> int:
        return self.cin // self.groups

    @property
    def cout_g(self) -> int:
        return self.cout // self.groups

    @property
    def kpos(self) -> int:
        return self.kh * self.kw

    @property
    def macs(self) -> int:
        return self.batch * self.oh * self.ow * self.cout * self.kpos * self.cin_g


@dataclass(frozen=True)
class Operand:
    """A DRAM operand: byte address, element strides, storage key(s)."""

    addr: int
    strides: tuple[int, ...]
    key: str
    writes: tuple[str, ...] = ()


@dataclass
class Epilogue:
    bias: int | None = None  # DRAM address of cout bias words (fp32 or int32)
    bias_key: str = "const"  # the storage the bias words are read from
    residual: Operand | None = None  # same shape as the output, added before the activation
    residual_dtype: DType | None = None  # None: the output dtype
    act: tuple[VFunc, int, int] | None = None  # vector function and immediates (float path)
    requant: int | None = None  # DRAM address of cout packed requant words (int8 path)
    out_zp: int = 0
    clamp: tuple[int, int] = (-128, 127)


@dataclass
class GemmLayer:
    name: str
    geom: Geom
    dtype: DType  # operand type: FP32 or INT8/UINT8
    out_dtype: DType
    x: Operand  # strides (n, h, w, c)
    y: Operand  # strides (n, h, w, c)
    w: Operand  # strides (g, kpos, k, n); activation weights: g is the batch index
    epi: Epilogue = field(default_factory=Epilogue)
    x_pad: int = 0
    packed: Any = None  # nbits.PackedW: W as packed codes, dequantised per tile (float nest)

    @property
    def es(self) -> int:
        return self.dtype.size

    @property
    def acc_dtype(self) -> DType:
        return DType.FP32 if self.dtype.is_float else DType.INT32


# --- buffer sizes ----------------------------------------------------------------------
def patch(L: GemmLayer, t: GemmTiling) -> tuple[int, int]:
    """Rows and columns of an M tile's input patch (its output tile in "im2col")."""
    g = L.geom
    if t.mode == "shift":
        return t.tr + (g.kh - 1) * g.dh, t.tw + (g.kw - 1) * g.dw
    if t.mode == "vcol":
        return (t.tr - 1) * g.sh + (g.kh - 1) * g.dh + 1, (t.tw - 1) * g.sw + (g.kw - 1) * g.dw + 1
    return t.tr, t.tw


def _col_base(L: GemmLayer, t: GemmTiling, tr: int, tw: int, tk: int) -> int:
    """Offset of the im2col block in an A buffer: after the patch in "vcol" mode."""
    if t.mode != "vcol":
        return 0
    pr, pw = patch(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode))
    return align(pr * pw * tk * L.es)


def _pitch(L: GemmLayer, t: GemmTiling) -> int:
    return patch(L, t)[1] if t.mode == "shift" else t.tw


def _sizes(L: GemmLayer, t: GemmTiling) -> tuple[int, int, int]:
    g = L.geom
    pr, pw = patch(L, t)
    a = pr * pw * t.tk * L.es * (g.kpos if t.mode == "im2col" else 1)
    if t.mode == "vcol":
        a = _col_base(L, t, t.tr, t.tw, t.tk) + t.tr * t.tw * g.kpos * t.tk * L.es
    w = g.kpos * t.tk * t.tn * L.es
    c = t.tr * _pitch(L, t) * t.tn * 4
    extra = t.tr * t.tw * t.tn * 4 if L.epi.residual else 0
    extra += t.tr * t.tw * t.tn  # the int8 output of REQUANT
    return a, w, c + extra


def align(x: int, a: int = 64) -> int:
    """``x`` rounded up to a multiple of ``a``."""
    return -(-x // a) * a


def _fits(L: GemmLayer, t: GemmTiling, ctx_config) -> tuple[bool, str]:
    a, w, c = _sizes(L, t)
    reserved = reserved_w(L, t)
    m = (t.tr - 1) * _pitch(L, t) + t.tw
    k = t.tk * (1 if t.mode == "shift" else L.geom.kpos)
    if max(m, k, t.tn) > 65535:
        return False, f"a MatMul dimension exceeds 65535 (m={m}, k={k})"
    need = (2 * align(a), reserved + 2 * align(w), 2 * align(c))
    have = (ctx_config.input_bytes, ctx_config.weight_bytes, ctx_config.acc_bytes)
    if all(n <= h for n, h in zip(need, have, strict=True)):
        return True, ""
    return False, f"needs input/weight/acc bytes {need}, have {have}"


def reserved_w(L: GemmLayer, t: GemmTiling, page: int = 1) -> int:
    """Weight scratchpad bytes before the W buffers, a multiple of ``page``: the epilogue's
    per-channel words (bias, then requant) of every output channel, or (``t.words``) two
    slots of one N tile's."""
    if t.words:
        return 2 * word_slot(L, t, page)
    return _round(align(len(word_sources(L)) * L.geom.cout * 4), page)


def word_slot(L: GemmLayer, t: GemmTiling, page: int = 1) -> int:
    """Bytes of one slot of an N tile's epilogue words, a multiple of ``page``."""
    return _round(align(len(word_sources(L)) * t.tn * 4), page)


def _round(x: int, page: int) -> int:
    return -(-x // page) * page


# --- tile iteration ------------------------------------------------------------------------
def ranges(total: int, size: int) -> list[tuple[int, int]]:
    """(start, length) of each tile of ``size`` along ``total``."""
    return [(s, min(size, total - s)) for s in range(0, total, size)]


def mtiles(L: GemmLayer, t: GemmTiling):
    """(image, first row, rows, first column, columns) of each M tile, in order."""
    g = L.geom
    for b in range(g.batch):
        for r0, tr in ranges(g.oh, t.tr):
            for c0, tw in ranges(g.ow, t.tw):
                yield b, r0, tr, c0, tw


# --- instruction builders ------------------------------------------------------------------
def window(start: int, step: int, count: int, limit: int) -> tuple[int, int]:
    """The index range i in [0, count) with 0 <= start + i*step < limit."""
    lo = (-start + step - 1) // step if start < 0 else 0
    hi = (limit - start + step - 1) // step if limit > start else 0
    lo, hi = min(lo, count), min(hi, count)
    return lo, max(lo, hi)


def a_loads(L: GemmLayer, t: GemmTiling, abuf: int, grp: int, mt, kc) -> list:
    """The Loads filling A buffer ``abuf`` for M tile ``mt`` and K chunk ``kc``: one patch
    ("shift", "vcol") or one strided load per kernel position ("im2col")."""
    g, x, es = L.geom, L.x, L.es
    b, r0, tr, c0, tw = mt
    k0, tk = kc
    sn, sh_, sw_, sc = x.strides
    chan = grp * g.cin_g + k0
    if t.mode in ("shift", "vcol"):
        pr, pw = patch(L, GemmTiling(tr, tw, 1, tk, t.order, t.mode))
        ih0, iw0 = r0 * g.sh - g.pt, c0 * g.sw - g.pl
        addr = x.addr + (b * sn + ih0 * sh_ + iw0 * sw_ + chan * sc) * es
        win = (window(ih0, 1, pr, g.h), window(iw0, 1, pw, g.w), (0, tk))
        return [
            load(
                SP_IN, abuf, es, addr, (pr, pw, tk), (sh_, sw_, sc), (pw * tk, tk, 1), win, L.x_pad
            )
        ]
    out, kt = [], g.kpos * tk
    for kh, kw in product(range(g.kh), range(g.kw)):
        ih0 = r0 * g.sh - g.pt + kh * g.dh
        iw0 = c0 * g.sw - g.pl + kw * g.dw
        addr = x.addr + (b * sn + ih0 * sh_ + iw0 * sw_ + chan * sc) * es
        win = (window(ih0, g.sh, tr, g.h), window(iw0, g.sw, tw, g.w), (0, tk))
        sp_addr = abuf + (kh * g.kw + kw) * tk * es
        ds = (g.sh * sh_, g.sw * sw_, sc)
        out.append(load(SP_IN, sp_addr, es, addr, (tr, tw, tk), ds, (tw * kt, kt, 1), win, L.x_pad))
    return out


def _a_copies(L: GemmLayer, t: GemmTiling, abuf: int, mt, kc) -> list[tuple]:
    """ "vcol" mode: (Vector, dst, src) COPYs gathering each kernel position's strided view of
    the patch into the im2col block (the vector unit has no DRAM burst penalty)."""
    if t.mode != "vcol":
        return []
    g, es = L.geom, L.es
    _, _, tr, _, tw = mt
    tk = kc[1]
    pw = patch(L, GemmTiling(tr, tw, 1, tk, t.order, t.mode))[1]
    kt = g.kpos * tk
    col = abuf + _col_base(L, t, tr, tw, tk)
    out = []
    for p, (kh, kw) in enumerate(product(range(g.kh), range(g.kw))):
        src = Box(
            SP_IN,
            L.dtype,
            abuf + ((kh * g.dh) * pw + kw * g.dw) * tk * es,
            (g.sh * pw * tk, g.sw * tk, 1),
        )
        dst = Box(SP_IN, L.dtype, col + p * tk * es, (tw * kt, kt, 1))
        out.append((vector(VFunc.COPY, (tr, tw, tk), dst, src), dst, src))
    return out


def w_transposed(L: GemmLayer) -> bool:
    """W is stored [N, K] (K contiguous): the MatMul reads it transposed."""
    _, _, sk, sn = L.w.strides
    return sk == 1 and sn != 1


def _w_load(L: GemmLayer, wbuf: int, grp: int, nc, kc):
    g, w, es = L.geom, L.w, L.es
    n0, tn = nc
    k0, tk = kc
    sg, sp_, sk, sn = w.strides
    addr = w.addr + (grp * sg + k0 * sk + n0 * sn) * es
    if w_transposed(L):  # stored [N, K]: rows of K stay contiguous
        return load(SP_W, wbuf, es, addr, (g.kpos, tn, tk), (sp_, sn, sk), (tn * tk, tk, 1))
    return load(SP_W, wbuf, es, addr, (g.kpos, tk, tn), (sp_, sk, sn), (tk * tn, tn, 1))


def _matmuls(L: GemmLayer, t: GemmTiling, abuf, wbuf, cbuf, mt, nc, kc, first: bool) -> list:
    g, es = L.geom, L.es
    _, _, tr, _, tw = mt
    tn, tk = nc[1], kc[1]
    wt = int(w_transposed(L))
    common = dict(dtype=int(L.dtype), w_transposed=wt, c_addr=cbuf, n=tn, c_stride=tn)
    if t.mode in ("im2col", "vcol"):
        kt = g.kpos * tk
        wstride = kt if wt else tn
        return [
            MatMul(
                accumulate=int(not first),
                a_addr=abuf + _col_base(L, t, tr, tw, tk),
                w_addr=wbuf,
                m=tr * tw,
                k=kt,
                a_stride=kt,
                w_stride=wstride,
                **common,
            )
        ]
    pr, pw = patch(L, GemmTiling(tr, tw, tn, tk, t.order, t.mode))
    out = []
    for p, (kh, kw) in enumerate(product(range(g.kh), range(g.kw))):
        a = abuf + ((kh * g.dh) * pw + kw * g.dw) * tk * es
        out.append(
            MatMul(
                accumulate=int(not (first and p == 0)),
                a_addr=a,
                w_addr=wbuf + p * tk * tn * es,
                m=(tr - 1) * pw + tw,
                k=tk,
                a_stride=tk,
                w_stride=tk if wt else tn,
                **common,
            )
        )
    return out


def _epilogue(L: GemmLayer, t: GemmTiling, cbuf, xbuf, grp, mt, nc, words) -> list[tuple]:
    """(instr, kind, boxes) for the vector ops and the store of one output tile; ``words``:
    (address of the tile's first bias word, bytes from a bias word to its requant word)."""
    g, epi = L.geom, L.epi
    b, r0, tr, c0, tw = mt
    n0, tn = nc
    chan = grp * g.cout_g + n0
    pitch = _pitch(L, GemmTiling(tr, tw, tn, 1, t.order, t.mode))
    acc = Box(SP_ACC, L.acc_dtype, cbuf, (pitch * tn, tn, 1))
    counts = (tr, tw, tn)
    ops = []
    if epi.bias is not None:
        bias = Box(SP_W, L.acc_dtype, words[0], (0, 0, 1))
        ops.append(("v", vector(VFunc.ADD, counts, acc, acc, bias), acc, [acc, bias]))
    if epi.residual is not None:
        r = epi.residual
        rdt = epi.residual_dtype or L.out_dtype
        rbox = Box(SP_ACC, rdt, xbuf, (tw * tn, tn, 1))
        sn, sh_, sw_, sc = r.strides
        addr = r.addr + (b * sn + r0 * sh_ + c0 * sw_ + chan * sc) * rdt.size
        ops.append(
            ("l", load(SP_ACC, xbuf, rdt.size, addr, counts, (sh_, sw_, sc), rbox.strides), r.key)
        )
        ops.append(("v", vector(VFunc.ADD, counts, acc, acc, rbox), acc, [acc, rbox]))
    scale = Box(SP_W, DType.INT32, words[0] + (words[1] if epi.bias is not None else 0), (0, 0, 1))
    src = Box(
        SP_ACC, L.out_dtype, xbuf + (tr * tw * tn * 4 if epi.residual else 0), (tw * tn, tn, 1)
    )
    imm = (epi.out_zp & 0xFFFFFFFF, epi.clamp[0] & 0xFFFFFFFF, epi.clamp[1] & 0xFFFFFFFF)
    ops.append(("v", vector(VFunc.REQUANT, counts, src, acc, scale, imm), src, [acc, scale]))
    sn, sh_, sw_, sc = L.y.strides
    os = L.out_dtype.size
    addr = L.y.addr + (b * sn + r0 * sh_ + c0 * sw_ + chan * sc) * os
    ops.append(("s", store(src.sp, src.addr, os, addr, counts, (sh_, sw_, sc), src.strides)))
    return ops


# --- estimate and search ---------------------------------------------------------------
def _estimate(L: GemmLayer, t: GemmTiling, config) -> int:
    g = L.geom
    mt = (0, 0, min(t.tr, g.oh), 0, min(t.tw, g.ow))
    nc, kc = (0, min(t.tn, g.cout_g)), (0, min(t.tk, g.cin_g))
    n_m = g.batch * ceil(g.oh / t.tr) * ceil(g.ow / t.tw)
    n_n, n_k = ceil(g.cout_g / t.tn), ceil(g.cin_g / t.tk)
    a = sum(cost(i, config) for i in a_loads(L, t, 0, 0, mt, kc))
    acopy = sum(cost(c[0], config) for c in _a_copies(L, t, 0, mt, kc))
    w = cost(_w_load(L, 0, 0, nc, kc), config)
    mm = sum(cost(i, config) for i in _matmuls(L, t, 0, 0, 0, mt, nc, kc, True))
    epi = _epilogue(L, t, 0, 0, 0, mt, nc, (0, 0))
    vec = sum(cost(op[1], config) for op in epi if op[0] == "v")
    dma_out = sum(cost(op[1], config) for op in epi if op[0] in "ls")
    if t.words:  # an N tile's words loaded before its last K chunk
        dma_out += sum(cost(i, config) for i, _ in word_loads(L, 0, 0, nc[1], 0))
    steps = n_m * n_n * n_k
    if t.order == "mn":
        a_count = n_m * n_k if n_k == 1 else steps
        w_count = n_n * n_k if (n_m == 1 or (n_n == 1 and n_k == 1)) else steps
    else:
        w_count = n_n * n_k if n_k == 1 else steps
        a_count = n_m * n_k if (n_n == 1 and n_k == 1) or n_n == 1 else steps
    dma = a * a_count + w * w_count + dma_out * n_m * n_n
    busy = max(dma, mm * steps, vec * n_m * n_n + acopy * a_count)
    return g.groups * busy + a + acopy + w + mm + vec + dma_out


def _candidates(L: GemmLayer, config, words: bool = False):
    """Per (mode, tn, tk, order): the largest M tile that fits (bigger M tiles amortise more);
    ``words``: the epilogue's words per N tile."""
    g = L.geom
    rows, cols = config.array.rows, config.array.cols
    modes = ["shift"] if (g.sh == g.sw == 1 and g.kpos > 1) else ["im2col"]
    if g.kpos > 1 and g.cin_g < rows:  # few channels: gather K = kpos * cin in the scratchpad
        modes.append("vcol")
    tns = [t for t in tiling.splits(g.cout_g, cols) if t == g.cout_g or t % cols == 0]
    tns = tns[:5] + [t for t in tns[-2:] if t not in tns[:5]]  # the smallest fit wide layers
    tks = [t for t in tiling.splits(g.cin_g, rows) if t == g.cin_g or t % rows == 0]
    mts = [(tr, g.ow) for tr in tiling.splits(g.oh, 1)]
    mts += [(1, tw) for tw in tiling.splits(g.ow, rows) if tw < g.ow]
    for mode, tn, tk in product(modes, tns, tks):
        tr, tw = next(
            (
                m
                for m in mts
                if _fits(L, GemmTiling(*m, tn, tk, "mn", mode, words=words), config)[0]
            ),
            mts[-1],
        )
        for order in ("mn", "nm"):  # the loop order does not change the buffer sizes
            yield GemmTiling(tr, tw, tn, tk, order, mode, words=words)


def plan(L: GemmLayer, config) -> GemmTiling:
    """The cheapest nest; the epilogue's words per N tile only when every channel's leave no
    room for any tile."""
    cands = list(_candidates(L, config))
    if word_sources(L) and not any(_fits(L, t, config)[0] for t in cands):
        cands = list(_candidates(L, config, words=True))
    return tiling.choose(
        L.name,
        cands,
        lambda t: _fits(L, t, config),
        lambda t: _estimate(L, t, config),
    )


# --- emission -----------------------------------------------------------------------------
def emit(ctx: Ctx, L: GemmLayer, t: GemmTiling) -> None:
    cfg = ctx.config
    g = L.geom
    a_bytes, w_bytes, c_bytes = (align(s) for s in _sizes(L, t))
    reserved = reserved_w(L, t)
    # second buffers at the half when they fit there: the emitter tracks 1/16 pages, and two
    # buffers sharing a page would serialise the loads behind the matmuls (no double buffering)
    abufs = (0, max(a_bytes, cfg.input_bytes // 2))
    wbufs = (reserved, max(reserved + w_bytes, cfg.weight_bytes // 2))
    cbufs = (0, max(c_bytes, cfg.acc_bytes // 2))
    words = EpilogueWords(ctx, L, t)
    mts = list(mtiles(L, t))
    ncs = ranges(g.cout_g, t.tn)
    kcs = ranges(g.cin_g, t.tk)
    state = {"a": -1, "w": -1, "c": 0, "akey": None, "wkey": None}
    for grp in range(g.groups):
        pairs = (
            [(m, n) for m in mts for n in ncs]
            if t.order == "mn"
            else [(m, n) for n in ncs for m in mts]
        )
        for mt, nc in pairs:
            cbuf = cbufs[state["c"] % 2]
            chan = grp * g.cout_g + nc[0]
            for ki, kc in enumerate(kcs):
                abuf = _ensure_a(ctx, L, t, state, abufs, grp, mt, kc)
                wbuf = _ensure_w(ctx, L, state, wbufs, grp, nc, kc)
                if ki == len(kcs) - 1:
                    words.ensure(chan, nc[1])
                for mm in _matmuls(L, t, abuf, wbuf, cbuf, mt, nc, kc, ki == 0):
                    ctx.em.add(mm)
            xbuf = cbuf + align(t.tr * _pitch(L, t) * t.tn * 4)
            emit_epilogue(ctx, _epilogue(L, t, cbuf, xbuf, grp, mt, nc, words.at(chan)), L)
            state["c"] += 1


def _ensure_a(ctx, L, t, state, abufs, grp, mt, kc) -> int:
    key = (grp, mt, kc)
    if state["akey"] != key:
        state["a"] += 1
        state["akey"] = key
        for instr in a_loads(L, t, abufs[state["a"] % 2], grp, mt, kc):
            emit_load(ctx, instr, L.x.key)
        for instr, _, _ in _a_copies(L, t, abufs[state["a"] % 2], mt, kc):
            emit_vector(ctx, instr)
    return abufs[state["a"] % 2]


def _ensure_w(ctx, L, state, wbufs, grp, nc, kc) -> int:
    key = (grp, nc, kc)
    if state["wkey"] != key:
        state["w"] += 1
        state["wkey"] = key
        emit_load(ctx, _w_load(L, wbufs[state["w"] % 2], grp, nc, kc), L.w.key)
    return wbufs[state["w"] % 2]


def emit_epilogue(ctx: Ctx, ops: list[tuple], L: GemmLayer) -> None:
    """Emit the (kind, instr, ...) tuples of an epilogue: vector ops, loads, the store."""
    for op in ops:
        if op[0] == "v":
            emit_vector(ctx, op[1])
        elif op[0] == "l":
            emit_load(ctx, op[1], op[2])
        else:
            emit_store(ctx, op[1], [L.y.key, *L.y.writes])


def word_sources(L: GemmLayer) -> list[tuple[int, str]]:
    """(DRAM address, storage) of each per-channel epilogue word array: bias, then requant."""
    epi = L.epi
    return [(a, k) for a, k in ((epi.bias, epi.bias_key), (epi.requant, "const")) if a is not None]


def word_loads(L: GemmLayer, base: int, chan: int, n: int, stride: int) -> list[tuple]:
    """(Load, storage) of channels [chan, chan + n) of each word array, the i-th array's to
    ``base + i * stride`` in the weight scratchpad."""
    return [
        (load(SP_W, base + i * stride, 4, addr + chan * 4, (1, 1, n), (0, 0, 1), (0, 0, 1)), key)
        for i, (addr, key) in enumerate(word_sources(L))
    ]


class EpilogueWords:
    """Where the epilogue's per-channel words are in the weight scratchpad: every output
    channel's, loaded once at 0 (bias, then requant); or (``t.words``) an N tile's, loaded by
    ``ensure`` before the tile's last K step into the other of two slots (one step before
    the epilogue that reads them, and after the epilogue that read the slot before)."""

    def __init__(self, ctx: Ctx, L: GemmLayer, t: GemmTiling, page: int = 1) -> None:
        self.ctx, self.L, self.t = ctx, L, t
        self.slots = (0, word_slot(L, t, page)) if t.words else ()
        self.held: list[int | None] = [None, None]  # the first channel each slot holds
        self.last = 1
        if not t.words:
            cout = L.geom.cout
            for instr, key in word_loads(L, 0, 0, cout, cout * 4):
                emit_load(ctx, instr, key)

    def ensure(self, chan: int, n: int) -> None:
        """Load channels [chan, chan + n) unless a slot holds them (per-tile words only)."""
        if not self.t.words or chan in self.held:
            return
        self.last = 1 - self.last
        self.held[self.last] = chan
        for instr, key in word_loads(self.L, self.slots[self.last], chan, n, self.t.tn * 4):
            emit_load(self.ctx, instr, key)

    def at(self, chan: int) -> tuple[int, int]:
        """(address of channel ``chan``'s bias word, bytes from a bias word to its requant)."""
        if not self.t.words:
            return chan * 4, self.L.geom.cout * 4
        return self.slots[self.held.index(chan)], self.t.tn * 4
