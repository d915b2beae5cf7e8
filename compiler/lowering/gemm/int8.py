"""The loop nest of the int8 layers (QConv, QGemm, QMatMul): "shift", "im2col" and "vcol"
A modes, "mn" and "nm" orders, two buffers per operand at the scratchpad halves, the int8
epilogue (bias ADD, residual ADD, REQUANT) per C tile. Float layers use the nest of
``search`` and ``emit``.
"""

from __future__ import annotations

from itertools import product
from math import ceil

from compiler import tiling
from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_vector,
    load,
    store,
    vector,
)
from compiler.lowering.gemm.epilogue import (
    EpilogueWords,
    emit_epilogue,
    reserved_w,
    word_loads,
    word_sources,
)
from compiler.lowering.gemm.instrs import patch_loads
from compiler.lowering.gemm.layer import (
    SP_ACC,
    SP_IN,
    SP_W,
    GemmLayer,
    align,
    mtiles,
    patch,
    ranges,
    w_transposed,
)
from compiler.tiling import GemmTiling
from simulator.cost import cost
from simulator.isa import DType, MatMul, VFunc


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


def _estimate(L: GemmLayer, t: GemmTiling, config) -> int:
    g = L.geom
    mt = (0, 0, min(t.tr, g.oh), 0, min(t.tw, g.ow))
    nc, kc = (0, min(t.tn, g.cout_g)), (0, min(t.tk, g.cin_g))
    n_m = g.batch * ceil(g.oh / t.tr) * ceil(g.ow / t.tw)
    n_n, n_k = ceil(g.cout_g / t.tn), ceil(g.cin_g / t.tk)
    a = sum(cost(i, config) for i in patch_loads(L, t, 0, 0, mt, kc))
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
        for instr in patch_loads(L, t, abufs[state["a"] % 2], grp, mt, kc):
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
