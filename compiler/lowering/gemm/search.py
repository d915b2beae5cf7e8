"""The search over tilings of the GEMM nest: every (mode, N tile, K chunk, kernel rows,
order) with the largest M tile (and N block) that fits is scored with ``simulator.cost.cost``
of one step's instructions times their counts (the busiest of DMA, MATRIX and VECTOR, an
eighth of the second, the known bubbles, the first loads and the last tail); the cheapest is
kept. Plans are memoised by layer shape (networks repeat layers).
"""

from __future__ import annotations

from itertools import product
from math import ceil

from compiler import tiling
from compiler.lowering.gemm.buffers import a_keys, buffers, counts, sizes, w_keys, w_width
from compiler.lowering.gemm.epilogue import epilogue, pre_loads, word_loads, word_sources
from compiler.lowering.gemm.instrs import a_copies, a_loads, matmuls, w_load
from compiler.lowering.gemm.layer import GemmLayer, w_transposed
from compiler.tiling import GemmTiling
from simulator.cost import cost, dma_dram_bytes
from simulator.errors import ConfigError


def estimate(L: GemmLayer, t: GemmTiling, config, memo: dict | None = None) -> int:
    """Cycles of the whole nest: the busiest of LOAD, STORE, DRAM bytes, MATRIX and VECTOR,
    plus the first tile's loads and the last tile's MatMuls, epilogue and store; of
    ``L.repeat`` nests in a row (``emit``'s carry), those are paid once."""
    parts = _tile_costs(L, t, config, memo)
    a_c, a_b, w_c, w_b, in_c, in_b, st_c, st_b, mm, vec, copy, deq = parts
    cnt = counts(L, t)
    n_a, n_w = cnt.loads(t.order, a_keys(t)), cnt.loads(t.order, w_keys(t))
    tiles = cnt.m * cnt.n * cnt.b
    steps = tiles * cnt.k * cnt.r
    ldc = a_c * n_a + w_c * n_w + in_c * tiles
    dram = (a_b * n_a + w_b * n_w + (in_b + st_b) * tiles) / config.dram.bytes_per_cycle
    dma = max(ldc, st_c * tiles, dram)  # the DMA queues share the DRAM: one resource
    units = sorted((dma, mm * steps, vec * tiles + copy * n_a + deq * n_w))
    busy = units[-1] + units[-2] // 8  # a second unit near saturation stalls the first
    if n_a > 1 and 2 * n_w >= steps:  # W changes every step: while the next A loads, the
        # W two steps ahead waits behind it on the LOAD queue
        slack = (steps // n_a - 1) * max(0, mm - w_c)  # what the A's later steps make up
        busy += (n_a - 1) * max(0, a_c - mm - slack)
    if t.order == "mk":  # one C set: the next M tile's first MatMul into tile n waits for
        # tile n's epilogue and store, which only the set's other MatMuls overlap
        busy += (cnt.m * cnt.b - 1) * max(0, vec + st_c - (cnt.n - 1) * mm)
    lead = 0 if _streams(parts, n_w, steps) else a_c + w_c  # a streaming nest's W loads
    # go ahead of its first A (``emit``): they run on from the layer before's
    return int(L.repeat * L.geom.groups * busy + lead + deq + copy + mm + vec + st_c)


def _streams(parts: tuple[int, ...], n_w: int, steps: int) -> bool:
    """Every step loads a W tile of its own, taking at least as long as its MatMuls."""
    return n_w == steps and parts[2] >= parts[8]


def w_streams(L: GemmLayer, t: GemmTiling, config, memo: dict | None = None) -> bool:
    """Whether every step loads a W tile of its own that takes at least as long as the
    step's MatMuls (a matrix-vector product streaming its weights): the MATRIX unit only
    follows the W loads, so several may go ahead of the first A (``emit``)."""
    cnt = counts(L, t)
    steps = cnt.m * cnt.n * cnt.b * cnt.k * cnt.r
    n_w = cnt.loads(t.order, w_keys(t))
    return n_w == steps and _streams(_tile_costs(L, t, config, memo), n_w, steps)


def _tile_costs(L: GemmLayer, t: GemmTiling, config, memo: dict | None = None):
    """Cycles and DRAM bytes of one full tile's instructions, by kind; ``memo`` keeps them,
    and their parts by the fields of the tiling each depends on (candidates share them: A
    by its M tile and K chunk, W by its width and K chunk, the MatMuls by M, N and K, the
    epilogue by its M and N tile)."""
    memo = {} if memo is None else memo
    key = (t.tr, t.tw, t.tn, t.tk, t.mode, w_width(L, t), t.rows, t.words)
    parts = memo.get(key)
    if parts is not None:
        return parts
    g = L.geom
    mt = (0, 0, min(t.tr, g.oh), 0, min(t.tw, g.ow))
    nc, kc = (0, min(t.tn, g.cout_g)), (0, min(t.tk, g.cin_g))
    a_key = ("a", t.tr, t.tw, t.tk, t.mode, t.rows)
    if a_key not in memo:
        a_ld = a_loads(L, t, 0, 0, mt, kc)
        copy = sum(cost(c[0], config) for c in a_copies(L, t, 0, mt, kc))
        memo[a_key] = _dma(a_ld, config), _bytes(a_ld, config), copy
    w_key = ("w", w_width(L, t), t.tk, t.mode, t.rows)
    if w_key not in memo:
        memo[w_key] = _w_costs(L, t, config, kc)
    e_key = ("e", t.tr, t.tw, t.tn, t.mode, t.words)
    if e_key not in memo:
        memo[e_key] = _epilogue_costs(L, t, config, mt, nc)
    m_key = ("m", t.tr, t.tw, t.tn, t.tk, t.mode, t.rows)
    if m_key not in memo:
        memo[m_key] = sum(cost(i, config) for i in matmuls(L, t, (0, 0, 0), mt, nc, kc, True))
    a_c, a_b, copy = memo[a_key]
    w_c, w_b, deq = memo[w_key]
    in_c, in_b, st_c, st_b, vec = memo[e_key]
    parts = memo[key] = (a_c, a_b, w_c, w_b, in_c, in_b, st_c, st_b, memo[m_key], vec, copy, deq)
    return parts


def _w_costs(L: GemmLayer, t: GemmTiling, config, kc) -> tuple[int, int, int]:
    """(cycles, DRAM bytes, vector cycles) of a step's W: its load (packed weights: the
    codes and groups, and the DEQUANT_PACKED writing the tile)."""
    w_ld = [w_load(L, t, 0, 0, (0, w_width(L, t)), kc, 0)]
    deq = 0
    if L.packed:
        w_ops = L.packed.w_tile(0, 0, (0, w_width(L, t)), kc)
        w_ld = [i for kind, i in w_ops if kind == "l"]
        deq = sum(cost(i, config) for kind, i in w_ops if kind == "v")
    return _dma(w_ld, config), _bytes(w_ld, config), deq


def _epilogue_costs(L: GemmLayer, t: GemmTiling, config, mt, nc) -> tuple[int, ...]:
    """(load cycles, load bytes, store cycles, store bytes, vector cycles) of a tile's
    epilogue and what its first K step loads beside its operands."""
    epi = epilogue(L, t, 0, 0, mt, nc, (0, 0, 0))
    pre = [instr for instr, _ in pre_loads(L, t, 0, 0, mt, nc)]
    if t.words:  # an N tile's epilogue words, loaded before its last K step
        pre += [i for i, _ in word_loads(L, 0, 0, nc[1], 0)]
    ld_in = [op[1] for op in epi if op[0] == "l"] + pre
    st = [op[1] for op in epi if op[0] == "s"]
    vec = sum(cost(op[1], config) for op in epi if op[0] == "v")
    return _dma(ld_in, config), _bytes(ld_in, config), _dma(st, config), _bytes(st, config), vec


def _dma(instrs, config) -> int:
    return sum(cost(i, config) for i in instrs)


def _bytes(instrs, config) -> int:
    return sum(dma_dram_bytes(i, config) for i in instrs)


def candidates(L: GemmLayer, config, align: tuple[int, int] | None = None, words: bool = False):
    """Per (mode, tn, tk, order): the largest M tile that fits (an order that cannot differ
    from "mn" is skipped). N tiles and K chunks are multiples of ``align`` (default: the
    array's columns and rows) or the whole; ``words``: the epilogue's words per N tile."""
    g = L.geom
    rows, cols = align or (config.array.rows, config.array.cols)
    modes = _modes(g, config.array.rows)
    if L.epi.col_sums is not None:  # its row of ones follows an im2col block of one row
        modes = [m for m in modes if m == "im2col"] if g.oh == 1 else []
    tns = [t for t in tiling.splits(g.cout_g, cols) if t == g.cout_g or t % cols == 0]
    tns = tns[:5] + [t for t in tns[-2:] if t not in tns[:5]]
    tks = [t for t in tiling.splits(g.cin_g, rows) if t == g.cin_g or t % rows == 0]
    tks = [t for t in tks if g.cin_g % t == 0] or tks
    if L.packed:  # K chunks of whole blocks (the whole K is one; K not a multiple of the
        # block: the last chunk ends in the partial block)
        whole = tks if g.cin_g % L.packed.block == 0 else tiling.splits(g.cin_g, rows)
        tks = [t for t in whole if t % L.packed.block == 0] or [g.cin_g]
    mts = [(tr, g.ow) for tr in tiling.splits(g.oh, 1)]
    mts += [(1, tw) for tw in tiling.splits(g.ow, rows) if tw < g.ow]
    for mode, tn, tk in product(modes, tns, tks):
        row_groups = [0, 1] if g.kh > 1 and mode != "im2col" else [0]
        if mode == "vcol" and g.cin_g >= config.array.rows:
            row_groups = [1]  # vcol of many channels: one kernel row's block at a time
        for r in row_groups:  # 1: W holds one kernel row's taps, so tk x tn can be larger
            yield from _orders(
                L, config, mts, GemmTiling(1, 1, tn, tk, "mn", mode, rows=r, words=words)
            )


def _modes(g, rows: int) -> list[str]:
    modes = ["shift"] if (g.sh == g.sw == 1 and g.kpos > 1) else ["im2col"]
    if g.kpos > 1 and (g.cin_g < rows or g.kh > 1):
        modes.append("vcol")
    if modes[0] == "im2col" and g.kpos > 1 and g.dh == g.dw == 1:
        modes.append("phase")
    return modes


def _orders(L: GemmLayer, config, mts: list, t: GemmTiling):
    g = L.geom
    narrow = t.mode == "vcol" and g.cin_g < config.array.rows  # the stem's large blocks
    for tiles in [mts] + (_narrow(g, config.array.rows) if narrow else []):
        mn = _largest(L, tiles, t, config)
        if mn is not None:  # "nm" needs the same buffers as "mn"
            yield mn
            cnt = counts(L, mn)
            if cnt.m > 1 and cnt.n > 1:
                yield _with(mn, order="nm")
    if ceil(g.cin_g / t.tk) > 1 or t.rows:  # one K step: "mk" is "mn"
        for mk in _mk(L, mts, _with(t, order="mk"), config):
            yield mk
            panel = _with(mk, panel=True)
            if counts(L, mk).n > 1 and not w_transposed(L):
                if buffers(L, panel, config)[0] is not None:
                    yield panel


def _narrow(g, rows: int) -> list[list[tuple[int, int]]]:
    """M tiles of several rows of part of the width: a strided patch re-reads fewer input
    rows per output pixel than one full-width row does (vcol, where A is large)."""
    widths = [ceil(g.ow / d) for d in (2, 4, 8) if ceil(g.ow / d) * 2 >= rows]
    return [[(tr, tw) for tr in tiling.splits(g.oh, 1)] for tw in widths]


def _mk(L: GemmLayer, mts: list, t: GemmTiling, config):
    """ "mk" nests: the largest M tile with every N tile in one block, and the whole map (or
    the largest M tile) with the widest block that fits."""
    whole = _largest(L, mts, t, config)
    if whole is not None:
        yield whole
    if whole is not None and whole.tr * whole.tw == mts[0][0] * mts[0][1]:
        return
    tile = _bisect(mts, lambda tr, tw: _widest(L, _at(t, tr, tw), config) > 0)
    if tile is not None:
        yield _with(_at(t, *tile), nb=_widest(L, _at(t, *tile), config))


def _widest(L: GemmLayer, t: GemmTiling, config) -> int:
    """The widest N block (a multiple of tn below cout_g) that fits, 0 if none."""
    tile = sizes(L, t)[2]
    tiles = min(ceil(L.geom.cout_g / t.tn) - 1, config.acc_bytes // tile)
    if tiles < 1 or buffers(L, _with(t, nb=tiles * t.tn), config)[0] is None:
        return 0
    return tiles * t.tn


def _with(t: GemmTiling, **changes) -> GemmTiling:
    """``t`` with some fields changed (dataclasses.replace re-inspects the fields per call)."""
    return GemmTiling(**{**t.__dict__, **changes})


def _at(t: GemmTiling, tr: int, tw: int) -> GemmTiling:
    """``t`` with an M tile of tr x tw."""
    return GemmTiling(tr, tw, t.tn, t.tk, t.order, t.mode, 0, t.nb, t.panel, t.rows, t.words)


def _largest(L: GemmLayer, mts: list, t: GemmTiling, config) -> GemmTiling | None:
    """The first of ``mts`` (largest first) that fits."""
    tile = _bisect(mts, lambda tr, tw: buffers(L, _at(t, tr, tw), config)[0] is not None)
    return None if tile is None else _at(t, *tile)


def _bisect(mts: list, fits) -> tuple[int, int] | None:
    """The first M tile of ``mts`` (largest first) that ``fits``: the whole map, else a
    bisection of the rest (smaller tiles need less once every operand is double-buffered)."""
    if fits(*mts[0]):
        return mts[0]
    lo, hi = 1, len(mts)
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(*mts[mid]):
            hi = mid
        else:
            lo = mid + 1
    return mts[lo] if lo < len(mts) else None


def plan(L: GemmLayer, config, memo: dict | None = None) -> GemmTiling:
    """The cheapest nest; ``memo`` keeps plans by layer shape (networks repeat layers)."""
    if memo is None:
        return _plan(L, config)
    key = _shape_key(L)
    if key not in memo:
        memo[key] = _plan(L, config)
    return memo[key]


def _shape_key(L: GemmLayer) -> tuple:
    """Everything a plan depends on (strides and epilogue, not addresses)."""
    epi = L.epi
    res = epi.residual.strides if epi.residual else None
    post = epi.post_add and (
        epi.post_add.residual.strides,
        epi.post_add.clip,
        epi.post_add.qadd is None,
    )
    sums = None if epi.col_sums is None else epi.col_sums.init is None
    ops = (L.x.strides, L.y.strides, L.w.strides, res, post, sums)
    packed = L.packed.key() if L.packed else None
    shape = (L.geom, ops, epi.bias is None, epi.act, L.dtype, L.out_dtype, L.x_pad, packed)
    shape += (epi.lut is None, epi.chain and tuple(s.func for s in epi.chain.steps))
    return (*shape, L.repeat)


def _plan(L: GemmLayer, config) -> GemmTiling:
    """The cheapest candidate; when none fits, the epilogue's words per N tile (when every
    channel's leave no room for W)."""
    words = bool(word_sources(L))
    cands = _fitting(L, config) or (_fitting(L, config, words=True) if words else [])
    if not cands:
        g = L.geom
        mode = _modes(g, config.array.rows)[0]
        n, k = min(g.cout_g, 8), min(g.cin_g, 8)
        smallest = GemmTiling(1, 1, n, k, "mn", mode, words=words)
        why = buffers(L, smallest, config)[1] or "no candidate tile"
        raise ConfigError(f"layer {L.name!r} does not fit the scratchpads with any tile: {why}")
    memo: dict = {}
    t = tiling.choose(L.name, cands, lambda t: (True, ""), lambda t: estimate(L, t, config, memo))
    return _with(t, streams=w_streams(L, t, config, memo))


def _fitting(L: GemmLayer, config, words: bool = False) -> list[GemmTiling]:
    """The candidates that fit; when no tile aligned to the array fits (a wide array with
    small scratchpads), tiles aligned to half as much, and so on down to 8."""
    align = (config.array.rows, config.array.cols)
    cands = list(candidates(L, config, align, words))
    while not cands and max(align) > 8:
        align = (max(8, align[0] // 2), max(8, align[1] // 2))
        cands = list(candidates(L, config, align, words))
    return cands
