"""The epilogue of a GEMM tile: the per-channel words (bias, requantisation) in the weight
scratchpad, the float epilogue (bias ADD, activation, store; a residual is preloaded into C
by ``residual_load``) and the emission of an epilogue's (kind, instr, ...) tuples.
"""

from __future__ import annotations

from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    i32_bits,
    load,
    store,
    vector,
)
from compiler.lowering.gemm.layer import SP_ACC, SP_W, GemmLayer, align, pitch_of, sum_rows
from compiler.tiling import GemmTiling
from simulator.isa import LUT_ENTRIES, DType, VFunc
from simulator.semantics import pack_bounds16


def word_sources(L: GemmLayer) -> list[tuple[int, str]]:
    """(DRAM address, storage) of each per-channel epilogue word array: bias, requant, then
    a fused QEltwise's constants."""
    epi = L.epi
    pairs = ((epi.bias, epi.bias_key), (epi.requant, "const"))
    arrays = [(a, k) for a, k in pairs if a is not None]
    return arrays + [(addr, "const") for _, addr, _ in (epi.chain.consts if epi.chain else ())]


def word_loads(L: GemmLayer, base: int, chan: int, n: int, stride: int) -> list[tuple]:
    """(Load, storage) of channels [chan, chan + n) of each word array, the i-th array's to
    ``base + i * stride`` in the weight scratchpad."""
    return [
        (load(SP_W, base + i * stride, 4, addr + chan * 4, (1, 1, n), (0, 0, 1), (0, 0, 1)), key)
        for i, (addr, key) in enumerate(word_sources(L))
    ]


class EpilogueWords:
    """Where the epilogue's per-channel words are in the weight scratchpad: every output
    channel's, loaded once at ``base`` (bias, then requant); or (``t.words``) an N tile's,
    loaded by ``ensure`` before the tile's last K step into the other of two slots from
    ``base`` (one step before the epilogue that reads them, and after the epilogue that read
    the slot before). A fused LUT's table follows them, loaded once."""

    def __init__(
        self,
        ctx: Ctx,
        L: GemmLayer,
        t: GemmTiling,
        page: int = 1,
        loaded: bool = False,
        base: int = 0,
    ) -> None:
        self.ctx, self.L, self.t, self.base = ctx, L, t, base
        self.slots = (base, base + word_slot(L, t, page)) if t.words else ()
        self.held: list[int | None] = [None, None]  # the first channel each slot holds
        self.last = 1
        self.lut = base + lut_offset(L, t, page)
        if loaded:  # the nest before loaded the same words and table
            return
        if not t.words:
            cout = L.geom.cout
            for instr, key in word_loads(L, base, 0, cout, cout * 4):
                emit_load(ctx, instr, key)
        if L.epi.lut is not None:
            one = (1, 1, LUT_ENTRIES)
            emit_load(ctx, load(SP_W, self.lut, 1, L.epi.lut, one, (0, 0, 1), (0, 0, 1)), "const")

    def ensure(self, chan: int, n: int) -> None:
        """Load channels [chan, chan + n) unless a slot holds them (per-tile words only)."""
        if not self.t.words or chan in self.held:
            return
        self.last = 1 - self.last
        self.held[self.last] = chan
        for instr, key in word_loads(self.L, self.slots[self.last], chan, n, self.t.tn * 4):
            emit_load(self.ctx, instr, key)

    def at(self, chan: int) -> tuple[int, int, int]:
        """(address of channel ``chan``'s bias word, bytes from a bias word to its requant,
        address of the LUT's table)."""
        if not self.t.words:
            return self.base + chan * 4, self.L.geom.cout * 4, self.lut
        return self.slots[self.held.index(chan)], self.t.tn * 4, self.lut


def reserved_w(L: GemmLayer, t: GemmTiling, page: int = 1) -> int:
    """Weight scratchpad bytes before the W buffers, a multiple of ``page``: the epilogue's
    per-channel words (bias, then requant) of every output channel, or (``t.words``) two
    slots of one N tile's."""
    table = LUT_ENTRIES if L.epi.lut is not None else 0
    return _round(lut_offset(L, t, page) + table, page)


def lut_offset(L: GemmLayer, t: GemmTiling, page: int = 1) -> int:
    """Bytes from the words' base to a fused LUT's table: after the words (or their slots)."""
    if t.words:
        return 2 * word_slot(L, t, page)
    return align(len(word_sources(L)) * L.geom.cout * 4)


def word_slot(L: GemmLayer, t: GemmTiling, page: int = 1) -> int:
    """Bytes of one slot of an N tile's epilogue words, a multiple of ``page``."""
    return _round(align(len(word_sources(L)) * t.tn * 4), page)


def _round(x: int, page: int) -> int:
    return -(-x // page) * page


def residual_load(L: GemmLayer, t: GemmTiling, cbuf: int, grp: int, mt, nc):
    """The residual tile loaded into C (the accumulator layout, row pitch included): fp32,
    or int32 (QMatMul's zero-point correction), so the first MatMul accumulates onto it.
    With ``ColSums`` (one row of tiles) the same load writes the row after the tile's, the
    column sums', with ``init`` (the padding of a window one row short), not a load of its
    own."""
    g, r = L.geom, L.epi.residual
    b, r0, tr, c0, tw = mt
    n0, tn = nc
    chan = grp * g.cout_g + n0
    pitch = pitch_of(L, t, tr, tw)
    sn, sh_, sw_, sc = r.strides
    addr = r.addr + (b * sn + r0 * sh_ + c0 * sw_ + chan * sc) * 4
    sums = L.epi.col_sums
    if sums is None:
        return load(SP_ACC, cbuf, 4, addr, (tr, tw, tn), (sh_, sw_, sc), (pitch * tn, tn, 1))
    assert tr == 1 and pitch == tw, "ColSums: an im2col block of one row"
    win = ((0, 1), (0, tw), (0, tn))
    pad = (sums.init or 0) & 0xFFFFFFFF
    return load(SP_ACC, cbuf, 4, addr, (1, tw + 1, tn), (sh_, sw_, sc), (0, tn, 1), win, pad)


def out_offset(L: GemmLayer, tr: int, pitch: int, tn: int) -> int:
    """Bytes from a C tile to its REQUANTised output (int8 layers), after the accumulators."""
    return align((tr * pitch + sum_rows(L)) * tn * 4) if L.epi.requant is not None else 0


def out_bytes(L: GemmLayer, tr: int, tw: int, tn: int) -> int:
    """Bytes after a C tile: its REQUANTised output (0 for float layers: they store C
    itself); with a fused QAdd also the int8 residual tile, and an fp32 one unless it is one
    QADD (``post_slots``)."""
    if L.epi.requant is None:
        return 0
    one, post = align(tr * tw * tn * L.out_dtype.size), L.epi.post_add
    if post is None:
        return one
    return one + align(tr * tw * tn) + (align(tr * tw * tn * 4) if post.qadd is None else 0)


def post_slots(L: GemmLayer, cbuf: int, tr: int, pitch: int, tw: int, tn: int):
    """(int8 residual, fp32 residual) addresses of a fused QAdd, after the REQUANTised tile."""
    res = cbuf + out_offset(L, tr, pitch, tn) + align(tr * tw * tn * L.out_dtype.size)
    return res, res + align(tr * tw * tn)


def post_residual_load(L: GemmLayer, t: GemmTiling, cbuf: int, grp: int, mt, nc):
    """A fused QAdd's int8 residual tile, loaded with the tile's first K step."""
    g, r = L.geom, L.epi.post_add.residual
    b, r0, tr, c0, tw = mt
    n0, tn = nc
    chan = grp * g.cout_g + n0
    at = post_slots(L, cbuf, tr, pitch_of(L, t, tr, tw), tw, tn)[0]
    sn, sh_, sw_, sc = r.strides
    addr = r.addr + b * sn + r0 * sh_ + c0 * sw_ + chan * sc
    return load(SP_ACC, at, 1, addr, (tr, tw, tn), (sh_, sw_, sc), (tw * tn, tn, 1))


def pre_loads(L: GemmLayer, t: GemmTiling, cbuf: int, grp: int, mt, nc) -> list[tuple]:
    """(Load, storage) of what a tile's first K step brings in beside its operands: the
    residual preloaded into C, a fused QAdd's int8 residual."""
    out = []
    if L.epi.residual:
        out.append((residual_load(L, t, cbuf, grp, mt, nc), L.epi.residual.key))
    if L.epi.post_add:
        out.append((post_residual_load(L, t, cbuf, grp, mt, nc), L.epi.post_add.residual.key))
    return out


def _col_sums(L: GemmLayer, cbuf: int, counts, pitch: int) -> list[tuple]:
    """``ColSums``: the row after the tile's (sum_k B[k, n] [+ init]) times ``mult``, added
    to every row of the tile."""
    tr, tw, tn = counts
    row = Box(SP_ACC, DType.INT32, cbuf + tr * pitch * tn * 4, (tn, tn, 1))
    bcast = Box(SP_ACC, DType.INT32, row.addr, (0, 0, 1))
    acc = Box(SP_ACC, DType.INT32, cbuf, (pitch * tn, tn, 1))
    imm = (L.epi.col_sums.mult & 0xFFFFFFFF, 0, 0)
    return [
        ("v", vector(VFunc.MUL_IMM, (1, 1, tn), row, row, None, imm), row, [row]),
        ("v", vector(VFunc.ADD, counts, acc, acc, bcast), acc, [acc, bcast]),
    ]


def _post_add(L: GemmLayer, cbuf: int, out: Box, tr: int, pitch: int, tw: int, tn: int):
    """The fused QAdd's vector ops: the standalone QAdd's steps on the REQUANTised tile (one
    QADD, or the fp32 chain)."""
    p, counts = L.epi.post_add, (tr, tw, tn)
    dense = (tw * tn, tn, 1)
    res_at, t2_at = post_slots(L, cbuf, tr, pitch, tw, tn)
    res = Box(SP_ACC, DType.INT8, res_at, dense)
    if p.qadd is not None:
        return [("v", vector(VFunc.QADD, counts, out, out, res, p.qadd), out, [out, res])]
    t = Box(SP_ACC, DType.FP32, cbuf, dense)  # over the accumulators, read by then
    t2 = Box(SP_ACC, DType.FP32, t2_at, dense)
    ops = [
        ("v", vector(VFunc.DEQUANT, counts, t, out, None, p.tile_imm), t, [out]),
        ("v", vector(VFunc.DEQUANT, counts, t2, res, None, p.res_imm), t2, [res]),
        ("v", vector(VFunc.ADD, counts, t, t, t2), t, [t, t2]),
    ]
    if p.clip is not None:
        ops.append(("v", vector(VFunc.CLIP, counts, t, t, None, p.clip), t, [t]))
    ops.append(("v", vector(VFunc.QUANT, counts, out, t, None, p.out_imm), out, [t]))
    return ops


def _chain(L: GemmLayer, cbuf: int, out: Box, counts, words) -> list[tuple]:
    """A fused QEltwise's steps on the REQUANTised tile: its own operand slots, each constant
    the words of the tile's channels (after bias and requant), "t" over the accumulators."""
    chain = L.epi.chain
    first = sum(a is not None for a in (L.epi.bias, L.epi.requant))
    boxes = {i: out for i in chain.acts} | {"out": out}
    boxes["t"] = Box(SP_ACC, DType.FP32, cbuf, out.strides)
    for j, (slot, _, dtype) in enumerate(chain.consts):
        boxes[slot] = Box(SP_W, dtype, words[0] + (first + j) * words[1], (0, 0, 1))
    ops = []
    for s in chain.steps:
        src1, dst = None if s.src1 is None else boxes[s.src1], boxes[s.dst]
        op = vector(s.func, counts, dst, boxes[s.src0], src1, s.imm)
        ops.append(("v", op, dst, [boxes[s.src0]] + ([src1] if src1 else [])))
    return ops


def epilogue(L: GemmLayer, t: GemmTiling, cbuf: int, grp: int, mt, nc, words) -> list:
    """The epilogue of one C tile (its residual is already in C): bias ADD, then the float
    activation or the int8 REQUANT (scale words, output zero point, clamp) into the bytes
    after C, a fused LUT, then the store; as (kind, instr, ...) tuples. ``words``: (address
    of the tile's first bias word, bytes from a bias word to its requant word, address of the
    LUT's table)."""
    g, epi = L.geom, L.epi
    b, r0, tr, c0, tw = mt
    n0, tn = nc
    chan = grp * g.cout_g + n0
    pitch = pitch_of(L, t, tr, tw)
    acc = Box(SP_ACC, L.acc_dtype, cbuf, (pitch * tn, tn, 1))
    counts = (tr, tw, tn)
    ops = _col_sums(L, cbuf, counts, pitch) if epi.col_sums is not None else []
    bias = None if epi.bias is None else Box(SP_W, L.acc_dtype, words[0], (0, 0, 1))
    bounds = None if epi.requant is None else pack_bounds16(*epi.clamp)
    fused = bias is not None and bounds is not None  # REQUANT_BIAS adds it
    if bias is not None and not fused:
        ops.append(("v", vector(VFunc.ADD, counts, acc, acc, bias), acc, [acc, bias]))
    if epi.act is not None:
        func, i0, i1 = epi.act
        ops.append(("v", vector(func, counts, acc, acc, None, (i0, i1, 0)), acc, [acc]))
    out = acc
    if epi.requant is not None:
        out = Box(SP_ACC, L.out_dtype, cbuf + out_offset(L, tr, pitch, tn), (tw * tn, tn, 1))
        at = words[0] + (words[1] if epi.bias is not None else 0)
        scale = Box(SP_W, DType.INT32, at, (0, 0, 1))
        if fused:
            imm = (epi.out_zp & 0xFFFFFFFF, bounds, words[1])
            op = vector(VFunc.REQUANT_BIAS, counts, out, acc, bias, imm)
            ops.append(("v", op, out, [acc, bias, scale]))
        else:
            imm = tuple(v & 0xFFFFFFFF for v in (epi.out_zp, *epi.clamp))
            op = vector(VFunc.REQUANT, counts, out, acc, scale, imm)
            ops.append(("v", op, out, [acc, scale]))
        if epi.post_add is not None:
            ops += _post_add(L, cbuf, out, tr, pitch, tw, tn)
        if epi.lut is not None:  # the fused QEltwise: its table, indexed by the value + 128
            table = Box(SP_W, DType.INT8, words[2], (0, 0, 1))
            op = vector(VFunc.LUT, counts, out, out, table, (i32_bits(-128), 0, 0))
            ops.append(("v", op, out, [out, table]))
        if epi.chain is not None:
            ops += _chain(L, cbuf, out, counts, words)
    sn, sh_, sw_, sc = L.y.strides
    os = L.out_dtype.size
    addr = L.y.addr + (b * sn + r0 * sh_ + c0 * sw_ + chan * sc) * os
    ops.append(("s", store(SP_ACC, out.addr, os, addr, counts, (sh_, sw_, sc), out.strides)))
    return ops


def emit_epilogue(ctx: Ctx, ops: list[tuple], L: GemmLayer) -> None:
    """Emit the (kind, instr, ...) tuples of an epilogue: vector ops, loads, the store."""
    for op in ops:
        if op[0] == "v":
            emit_vector(ctx, op[1])
        elif op[0] == "l":
            emit_load(ctx, op[1], op[2])
        else:
            emit_store(ctx, op[1], [L.y.key, *L.y.writes])
