"""Emission of the GEMM nest in program order, software-pipelined: after a step's MatMuls
come the next steps' W and the next distinct A (loads, vcol copies) into the other buffers,
then the step's epilogue, so no in-order queue holds a prefetch behind work that waits.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

from compiler.lowering.common import (
    Ctx,
    emit_load,
    emit_vector,
)
from compiler.lowering.gemm.buffers import (
    LEVELS,
    SP_ACC,
    SP_IN,
    SP_W,
    Buffers,
    Counts,
    a_keys,
    buffers,
    counts,
    reserved_bytes,
    sizes,
    w_page,
    w_width,
)
from compiler.lowering.gemm.epilogue import EpilogueWords, emit_epilogue, epilogue, pre_loads
from compiler.lowering.gemm.instrs import a_copies, a_loads, matmuls, ones_row, w_load
from compiler.lowering.gemm.layer import GemmLayer, align, mtiles, ranges
from compiler.scratch import capacity_of, page_of
from compiler.tiling import GemmTiling


def emit(ctx: Ctx, L: GemmLayer, t: GemmTiling, carry: dict | None = None) -> None:
    """The nest in program order, software-pipelined: after a step's MatMuls come the next
    step's W and the next distinct A (loads, vcol copies) into the other buffers, then the
    epilogue of a finished tile (or a share of it, ``_Epilogues``), so no in-order queue
    holds a prefetch behind work that waits. ``carry``: a dict shared by the nests of one
    plan emitted in a row (a batched MatMul's): each continues the buffer rotation of the one
    before, so its first loads need not wait for that one's last MatMuls, and the
    epilogue's words, loaded by the first, are not loaded again; and what ``prefetch`` left
    (the nest, its prologue emitted)."""
    carry = {} if carry is None else carry
    nest = carry.pop("nest", None)
    if nest is None:
        nest = _Nest(ctx, L, t, carry)
        nest.prologue()
    nest.body()


def prefetch(ctx: Ctx, L: GemmLayer, t: GemmTiling, carry: dict) -> None:
    """The nest's prologue (its epilogue's words and its first W tile: what depends on
    nothing the layers just before make) emitted now, ahead of those layers, which must not
    touch the weight scratchpad (``driver.prefetch_points``); ``emit`` with the same
    ``carry`` emits the rest."""
    nest = _Nest(ctx, L, t, carry)
    nest.prologue(hoist=False)  # the first W tile only: the DMA is the layers' before too
    carry["nest"] = nest


class _Nest:
    """One nest's buffers, loop steps and operand rings: ``prologue`` emits the words and
    the first W tiles, ``body`` the rest."""

    def __init__(self, ctx: Ctx, L: GemmLayer, t: GemmTiling, carry: dict) -> None:
        self.ctx, self.L, self.t, self.carry = ctx, L, t, carry
        self.first = "rings" not in carry  # nests in a row keep the first one's rings
        self.bufs = _buffers(ctx, L, t, carry)
        if self.first:  # W placed now (the prologue loads it), A and C by ``body``
            w = _fresh(ctx, SP_W, self.bufs.w, sizes(L, t)[1])
            self.bufs = replace(self.bufs, w=w)
        g = L.geom
        self.cnt = counts(L, t)
        self.mts = list(mtiles(L, t))
        self.ncs = ranges(g.cout_g, t.tn)
        self.kcs = ranges(g.cin_g, t.tk)
        self.steps = list(_steps(t, self.cnt, len(self.ncs), g.groups))
        self.per_row = a_keys(t) == "mkr"
        self.res = carry.setdefault("rings", {"a": _Ring(self.bufs.a), "w": _Ring(self.bufs.w)})
        for ring in self.res.values():
            ring.keys = {}  # another nest's tiles: the same keys name other data
        self.ones = carry.setdefault("ones", {})  # A buffer -> its row of ones (ColSums)
        self.words = None

    def w_tile(self, bi: int, ni: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """(the N range a W buffer holds, the tile's view in it)."""
        t, g = self.t, self.L.geom
        if not t.panel:
            return self.ncs[ni], None
        n0 = bi * w_width(self.L, t)
        held = (n0, min(w_width(self.L, t), g.cout_g - n0))
        return held, (held[1], self.ncs[ni][0] - n0)

    def need(self, which: str, i: int) -> int:
        """The buffer of step ``i``'s operand, its load emitted when the ring lacks it."""
        grp, bi, mi, ni, ki, ri = self.steps[i]
        if which == "a":
            key, nc = (grp, mi, ki, self.per_row and ri), self.ncs[ni]
        else:
            key = (grp, bi if self.t.panel else ni, ki, ri)
            nc = self.w_tile(bi, ni)[0]
        buf, new = self.res[which].get(key)
        if new:
            L, t = self.L, self.t
            _emit_operand(
                self.ctx, L, t, which, buf, grp, self.mts[mi], nc, self.kcs[ki], ri, self.ones
            )
        return buf

    def prologue(self, hoist: bool = True) -> None:
        """The epilogue's words and the first W tile; ``hoist``: the next ones too."""
        L, t, carry = self.L, self.t, self.carry
        sources = (L.epi.bias, L.epi.requant, L.epi.lut, t.words)
        loaded = carry.get("words") == sources and not t.words
        self.words = EpilogueWords(self.ctx, L, t, w_page(self.ctx.config), loaded, self.bufs.words)
        carry["words"] = sources
        self.need("w", 0)
        if hoist:
            self.hoist()

    def hoist(self) -> None:
        """A streaming nest's W tiles into all its buffers but one, ahead of the first A,
        which may wait for the layer before (its MatMuls only follow its W loads anyway; the
        buffer left takes the next W while the first MatMuls run); never the last W, which
        the MatMuls before it would then no longer overlap."""
        if self.carry["half"] is not None:
            for j in range(1, min(len(self.steps) - 1, len(self.bufs.w) - 1)):
                self.need("w", j)

    def body(self) -> None:
        ctx, L, t, bufs, cnt, carry = self.ctx, self.L, self.t, self.bufs, self.cnt, self.carry
        g, steps, need, words = L.geom, self.steps, self.need, self.words
        if self.first:  # A and C where the layers before (maybe lowered after the
            # prologue) least recently were
            a, _, tile = sizes(L, t)
            c = bufs.c_tile * cnt.n if t.order == "mk" else tile
            a_bufs, c_bufs = _fresh(ctx, SP_IN, bufs.a, a), _fresh(ctx, SP_ACC, bufs.c, c)
            bufs = self.bufs = replace(bufs, a=a_bufs, c=c_bufs)
            self.res["a"] = _Ring(bufs.a)
        _grant(ctx, L, t, bufs, cnt)
        self.hoist()  # (done already unless the prologue was emitted ahead: the ring has them)
        a_next = _next_change([(s[0], s[2], s[4], self.per_row and s[5]) for s in steps])
        last = (cnt.k - 1, cnt.r - 1)
        state = carry.setdefault("c", {"c": -1, "ckey": None})
        state["ckey"] = None
        need("a", 0)
        built: dict = {}
        epilogues = _Epilogues(ctx, L, cnt.k * cnt.r if _spread(t) else 1)
        for i, (grp, bi, mi, ni, ki, ri) in enumerate(steps):
            mt, nc, kc = self.mts[mi], self.ncs[ni], self.kcs[ki]
            abuf, wbuf = need("a", i), need("w", i)
            chan = grp * g.cout_g + nc[0]
            if (ki, ri) == last:  # the epilogue's words (per-tile words: the next slot)
                words.ensure(chan, nc[1])
            cbuf = _c_buf(t, bufs, state, (grp, bi, mi), ni - bi * cnt.n)
            first = ki == 0 and ri == 0
            if first:
                for instr, key in pre_loads(L, t, cbuf, grp, mt, nc):
                    emit_load(ctx, instr, key)
            view = self.w_tile(bi, ni)[1]
            key = (abuf, wbuf, cbuf, mt[2], mt[4], nc[1], kc[1], first, view, ri)
            if key not in built:  # steps repeat the same MatMuls (buffers alternate)
                built[key] = matmuls(L, t, (abuf, wbuf, cbuf), mt, nc, kc, first, view, ri)
            for mm in built[key]:
                ctx.em.add(mm)
            for j in range(i + 1, min(len(steps), i + len(bufs.w))):
                need("w", j)  # as many steps ahead as there are other W buffers
            if a_next[i] is not None and len(bufs.a) > 1:
                need("a", a_next[i])
            epilogues.share()
            if (ki, ri) == last:
                epilogues.add(epilogue(L, t, cbuf, grp, mt, nc, words.at(chan)))
        epilogues.share(everything=True)


def _spread(t: GemmTiling) -> bool:
    """ "vcol" steps (their A copies run on the vector unit) into a ring of C tiles: a tile's
    epilogue is emitted in shares after the next tile's steps but its last, so the copies
    for those steps do not queue behind it ("mk" keeps one C set: the next M tile's first
    MatMul into a tile would wait for its late store)."""
    return t.mode == "vcol" and t.order != "mk"


class _Epilogues:
    """Emits each tile's epilogue: at once (``per_tile`` 1), or in shares over the next
    ``per_tile - 1`` steps, each share behind that step's MatMuls and prefetches."""

    def __init__(self, ctx: Ctx, L: GemmLayer, per_tile: int) -> None:
        self.ctx, self.L, self.per_tile = ctx, L, per_tile
        self.pending: list = []
        self.size = 0

    def add(self, ops: list) -> None:
        self.share(everything=True)
        self.pending = list(ops)
        self.size = -(-len(ops) // max(1, self.per_tile - 1))
        if self.per_tile == 1:
            self.share(everything=True)

    def share(self, everything: bool = False) -> None:
        n = len(self.pending) if everything else self.size
        emit_epilogue(self.ctx, self.pending[:n], self.L)
        del self.pending[:n]


class _Ring:
    """Which operand tile each of one or two buffers holds; a new tile takes the buffer
    the tile before the current one used."""

    def __init__(self, addrs: tuple[int, ...]) -> None:
        self.addrs, self.keys, self.count = addrs, {}, 0

    def get(self, key) -> tuple[int, bool]:
        if key in self.keys:
            return self.keys[key], False
        buf = self.addrs[self.count % len(self.addrs)]
        self.count += 1
        self.keys = {k: b for k, b in self.keys.items() if b != buf}
        self.keys[key] = buf
        return buf, True


def _next_change(keys: list) -> list:
    """For each position, the index of the first later position with a different key."""
    out: list = [None] * len(keys)
    nxt = None
    for i in range(len(keys) - 1, -1, -1):
        if i + 1 < len(keys) and keys[i + 1] != keys[i]:
            nxt = i + 1
        out[i] = nxt
    return out


def _emit_operand(ctx, L, t, which, buf, grp, mt, nc, kc, ri, ones: dict) -> None:
    if which == "w" and L.packed:
        fp32 = align(nc[1] * kc[1] * L.es)
        for kind, instr in L.packed.w_tile(buf, fp32, nc, kc):
            emit_load(ctx, instr, L.w.key) if kind == "l" else emit_vector(ctx, instr)
        return
    if which == "w":
        emit_load(ctx, w_load(L, t, buf, grp, nc, kc, ri), L.w.key)
        return
    row = ones_row(L, buf, mt, kc)
    if row is not None and ones.get(buf) != row:  # loaded once per buffer (a block of
        # another size moves it, and may overwrite the one before)
        ones[buf] = row
        emit_load(ctx, row, "const")
    for instr in a_loads(L, t, buf, grp, mt, kc, ones=False):
        emit_load(ctx, instr, L.x.key)
    for instr, _, _ in a_copies(L, t, buf, mt, kc, ri):
        emit_vector(ctx, instr)


def _steps(t: GemmTiling, cnt: Counts, n_tiles: int, groups: int):
    """(group, N block, M tile, N tile, K chunk, kernel-row group) in loop order."""
    sizes = {"b": cnt.b, "m": cnt.m, "n": cnt.n, "k": cnt.k, "r": cnt.r}
    levels = LEVELS[t.order]
    for grp in range(groups):
        for idx in product(*(range(sizes[lv]) for lv in levels)):
            at = dict(zip(levels, idx, strict=True))
            ni = at["b"] * cnt.n + at["n"]
            if ni < n_tiles:  # the last block may have fewer tiles
                yield grp, at["b"], at["m"], ni, at["k"], at["r"]


def _c_buf(t: GemmTiling, bufs: Buffers, state: dict, mkey: tuple, ni: int) -> int:
    """The C tile: tile ``ni`` of the one set ("mk"), else the next of two buffers."""
    if t.order == "mk":
        return bufs.c[0] + ni * bufs.c_tile
    key = (*mkey, ni)
    if state["ckey"] != key:
        state["c"] += 1
        state["ckey"] = key
    return bufs.c[state["c"] % len(bufs.c)]


def _buffers(ctx: Ctx, L: GemmLayer, t: GemmTiling, carry: dict) -> Buffers:
    """The nest's buffers, its words before or after its W buffers as the allocator
    alternates them from layer to layer (the nests of one plan keep one side); before when
    after would leave fewer W buffers."""
    top = carry.get("top")
    if top is None:
        top = ctx.scratch.words_top() and reserved_bytes(L, t, ctx.config) > 0
    bufs, why = buffers(L, t, ctx.config)
    assert bufs is not None, why
    if "half" not in carry:
        carry["half"] = _half(ctx, L, t) if t.streams else None
    if carry["half"] is not None:
        halved = buffers(L, t, ctx.config, half=carry["half"])[0]
        if halved is not None:
            carry["top"] = False  # (the nests in a row after it ask no more)
            return halved
        carry["half"] = None
    if top:
        high = buffers(L, t, ctx.config, top=True)[0]
        top = high is not None and len(high.w) == len(bufs.w)
        bufs = high if top else bufs
    carry["top"] = top
    return bufs


def _half(ctx: Ctx, L: GemmLayer, t: GemmTiling) -> int | None:
    """The half of the weight scratchpad (0 low, 1 high) a streaming nest's words and W
    buffers go in: the one the program touched least recently (the layer before, streaming
    too, still reads its own W; another's epilogue its words); None when neither fits."""
    w = sizes(L, t)[1]
    halves = [buffers(L, t, ctx.config, half=half)[0] for half in (0, 1)]
    if None in halves:
        return None
    return ctx.em.least_recent(SP_W, [(b.words, max(b.w) + w) for b in halves])


def _fresh(ctx: Ctx, sp: int, addrs: tuple[int, ...], size: int) -> tuple[int, ...]:
    """A ring of buffers starting at the one the program touched least recently, or a
    single buffer at 0 in whichever half of its scratchpad was (the layers before may still
    read theirs)."""
    single = len(addrs) == 1 and addrs[0] == 0
    if single:  # or the same at the middle page
        cap, page = capacity_of(ctx.config, sp), page_of(ctx.config, sp)
        mid = cap // 2 // page * page
        addrs = (0, mid) if mid and mid + size <= cap else addrs
    i = ctx.em.least_recent(sp, [(x, x + size) for x in addrs])
    return (addrs[i],) if single else addrs[i:] + addrs[:i]


def _grant(ctx: Ctx, L: GemmLayer, t: GemmTiling, bufs, cnt) -> None:
    """Tell the scratchpad allocator the highest byte of each scratchpad the nest uses."""
    a, w, tile = sizes(L, t)
    c_end = bufs.c[0] + bufs.c_tile * cnt.n if t.order == "mk" else max(bufs.c) + tile
    w_end = max(max(bufs.w) + w, bufs.words + reserved_bytes(L, t, ctx.config))
    for sp, end in ((SP_IN, max(bufs.a) + a), (SP_W, w_end), (SP_ACC, c_end)):
        ctx.scratch.grant(sp, end)
