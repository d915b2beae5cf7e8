"""The loop nest of float GEMM-like layers (Conv, ConvTranspose phases, Gemm, MatMul).

A layer is cut into M tiles (output pixels), N tiles (output channels) and K steps (input
channel chunks, optionally times kernel-row groups); this module builds each step's
instructions (with ``gemm.py``'s A loads and epilogue words) and chooses and emits the nest:

- **A modes.** "shift" (stride 1: one patch, a MatMul per kernel position over a shifted
  window), "phase" (strided: a patch per input phase, then as "shift"), "im2col" (a strided
  load per kernel position) and "vcol" (one patch, a vector COPY per kernel row builds the
  im2col block).
- **Loop order.** "mn" (M tiles outer), "nm" (N tiles outer) or "mk" (per N block: M tiles,
  K steps, then the block's N tiles, whose C tiles stay in the accumulator while K streams).
  W may be loaded per N tile or as a panel per N block ("mk"), and per kernel-row group.
- **Residency.** An operand loaded once gets one buffer; A gets two, C and W up to four, on
  pages of their own, and emission is software-pipelined (the next steps' W and the next A
  are emitted before this step's epilogue).
- **Residual.** A float residual is loaded into the C tile before its first MatMul, which
  then accumulates onto it (no ADD pass, no extra accumulator space).
- **Search.** Every (mode, N tile, K chunk, kernel rows, order) with the largest M tile (and
  N block) that fits is scored with ``simulator.cost.cost`` of one step's instructions times
  their counts (the busiest of DMA, MATRIX and VECTOR, an eighth of the second, the known
  bubbles, the first loads and the last tail); the cheapest is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import ceil
from typing import NamedTuple

from compiler import tiling
from compiler.lowering import gemm
from compiler.lowering.common import Box, Ctx, emit_load, emit_vector, load, store, vector
from compiler.lowering.gemm import GemmLayer
from compiler.tiling import GemmTiling
from simulator.cost import cost, dma_dram_bytes
from simulator.errors import ConfigError
from simulator.isa import DType, MatMul, VFunc

SP_IN, SP_W, SP_ACC = gemm.SP_IN, gemm.SP_W, gemm.SP_ACC
# b: N blocks ("mk" only), r: kernel-row groups of a K chunk (their W taps only)
LEVELS = {"mn": "bmnkr", "nm": "bnmkr", "mk": "bmkrn"}


def applies(L: GemmLayer) -> bool:
    """fp32 layers (int8 layers keep gemm's nest)."""
    return L.dtype == L.out_dtype == DType.FP32


# --- counts and buffers ----------------------------------------------------------------
class Counts(NamedTuple):
    m: int  # M tiles
    n: int  # N tiles per block
    k: int  # K chunks
    b: int  # N blocks
    r: int  # kernel-row groups per K chunk

    def loads(self, order: str, keys: str) -> int:
        """How many times an operand indexed by ``keys`` changes along the loop nest."""
        size = {"m": self.m, "n": self.n, "k": self.k, "b": self.b, "r": self.r}
        total, out = 1, 1
        for lv in LEVELS[order]:
            total *= size[lv]
            if lv in keys and size[lv] > 1:
                out = total
        return out


def counts(L: GemmLayer, t: GemmTiling) -> Counts:
    g = L.geom
    n_m = g.batch * ceil(g.oh / t.tr) * ceil(g.ow / t.tw)
    nb = t.nb or g.cout_g
    groups = ceil(g.kh / t.rows) if t.rows else 1
    return Counts(n_m, ceil(nb / t.tn), ceil(g.cin_g / t.tk), ceil(g.cout_g / nb), groups)


def row_taps(L: GemmLayer, t: GemmTiling, ri: int) -> range:
    """The kernel positions (kh * kw + kw) of kernel-row group ``ri``."""
    g = L.geom
    if not t.rows:
        return range(g.kpos)
    return range(ri * t.rows * g.kw, min((ri + 1) * t.rows, g.kh) * g.kw)


def n_taps(L: GemmLayer, t: GemmTiling) -> int:
    """Kernel positions per K step (a kernel-row group's, or all)."""
    return min(t.rows, L.geom.kh) * L.geom.kw if t.rows else L.geom.kpos


def a_keys(t: GemmTiling) -> str:
    """The loop levels an A buffer's contents depend on (vcol builds a row group's block)."""
    return "mkr" if t.mode == "vcol" and t.rows else "mk"


def _col_base(L: GemmLayer, t: GemmTiling, tr: int, tw: int, tk: int) -> int:
    """vcol: offset of the im2col block, after the patch, in an A buffer."""
    pr, pw = gemm.patch(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode))
    return gemm.align(pr * pw * tk * L.es)


@dataclass(frozen=True)
class Buffers:
    a: tuple[int, ...]  # A buffer addresses (one or two)
    w: tuple[int, ...]
    c: tuple[int, ...]  # C buffers (mn, nm) or the C set (mk)
    c_tile: int  # bytes between the C tiles of the set (mk)


def _ring(size: int, cap: int, base: int = 0, most: int = 4) -> tuple[int, ...] | None:
    """Up to ``most`` buffers from ``base``, each from a page boundary (a C tile's epilogue
    and store, or a W load, then have several steps to hide behind); at least two."""
    page = max(1, cap // 16)
    step = -(-size // page) * page
    count = min(most, (cap - base) // step) if step <= cap - base else 0
    if count < 3:
        return _two(size, cap, base)
    return tuple(base + i * step for i in range(count))


def w_keys(t: GemmTiling) -> str:
    """The loop levels a W buffer's contents depend on."""
    return "bkr" if t.panel else "bnkr"


def w_width(L: GemmLayer, t: GemmTiling) -> int:
    """Output channels in one W buffer: an N tile, or a whole N block (a panel)."""
    return min(t.nb or L.geom.cout_g, L.geom.cout_g) if t.panel else t.tn


def _two(size: int, cap: int, base: int = 0) -> tuple[int, ...] | None:
    """Two buffers of ``size`` from ``base``, the second at the half when it fits there (the
    emitter tracks 1/16 pages: two buffers sharing one would serialise loads and MatMuls)."""
    second = max(base + size, cap // 2)
    return (base, second) if second + size <= cap else None


def _sizes(L: GemmLayer, t: GemmTiling) -> tuple[int, int, int]:
    """Aligned bytes of one A buffer, one W buffer and one C tile."""
    g, es = L.geom, L.es
    if t.mode == "shift":
        pr, pw = t.tr + (g.kh - 1) * g.dh, t.tw + (g.kw - 1) * g.dw
        a, pitch = pr * pw * t.tk * es, pw
    elif t.mode == "phase":
        pitch = pitch_of(L, t, t.tr, t.tw)
        a = _phase_bytes(L, t, t.tr, t.tw) * len(_phases(L))
    elif t.mode == "vcol":
        cols = t.tr * t.tw * n_taps(L, t) * t.tk * es
        a, pitch = _col_base(L, t, t.tr, t.tw, t.tk) + cols, t.tw
    else:
        a, pitch = t.tr * t.tw * t.tk * es * g.kpos, t.tw
    c = gemm.align(t.tr * pitch * t.tn * 4)
    w = gemm.align(n_taps(L, t) * t.tk * w_width(L, t) * es)
    if L.packed:  # its codes and groups are loaded behind the tile
        w += L.packed.staging(w_width(L, t), t.tk)
    return gemm.align(a), w, c


def _reserved(L: GemmLayer, t: GemmTiling, config) -> int:
    """Weight scratchpad bytes before the W buffers: the epilogue's per-channel words (all
    channels', or two slots of an N tile's), on pages of their own (a W load must not wait
    for the epilogue reading them)."""
    return gemm.reserved_w(L, t, _page(config))


def _page(config) -> int:
    """The weight scratchpad's page: the emitter tracks sixteenths."""
    return max(1, config.weight_bytes // 16)


def buffers(L: GemmLayer, t: GemmTiling, config) -> tuple[Buffers | None, str]:
    g = L.geom
    m = (t.tr - 1) * pitch_of(L, t, t.tr, t.tw) + t.tw
    k = t.tk * (1 if t.mode in ("shift", "phase") else g.kpos)
    if max(m, k, t.tn) > 65535:
        return None, f"a MatMul dimension exceeds 65535 (m={m}, k={k})"
    a, w, tile = _sizes(L, t)
    cnt = counts(L, t)
    reserved = _reserved(L, t, config)
    a_once = cnt.loads(t.order, a_keys(t)) * g.groups == 1
    w_once = cnt.loads(t.order, w_keys(t)) * g.groups == 1
    abufs = (0,) if a_once and a <= config.input_bytes else _two(a, config.input_bytes)
    if w_once and reserved + w <= config.weight_bytes:
        wbufs = (reserved,)
    else:
        wbufs = _ring(w, config.weight_bytes, reserved)
    if t.order == "mk":  # one set: tile n is reused by the next M tile or block long after
        page = max(1, config.acc_bytes // 16)  # its store, on a page of its own if it can
        paged = -(-tile // page) * page
        tile = paged if paged * cnt.n <= config.acc_bytes else tile
        one = tile * cnt.n
        cbufs = (0,) if one <= config.acc_bytes else None
    else:
        one = tile
        once = cnt.m * cnt.n * g.groups == 1 and one <= config.acc_bytes
        cbufs = (0,) if once else _ring(one, config.acc_bytes)
    if abufs is None or wbufs is None or cbufs is None:
        return None, f"needs input/weight/acc bytes {(a, reserved + w, one)} (single buffers)"
    return Buffers(abufs, wbufs, cbufs, tile), ""


# --- instruction builders (float path) -------------------------------------------------
def pitch_of(L: GemmLayer, t: GemmTiling, tr: int, tw: int) -> int:
    """Elements between output rows in a C tile (a shifted window's patch width)."""
    g = L.geom
    if t.mode == "shift":
        return tw + (g.kw - 1) * g.dw
    if t.mode == "phase":
        return tw + (g.kw - 1) // g.sw
    return tw


def _phases(L: GemmLayer) -> list[tuple[int, int]]:
    """ "phase" mode: the (row, column) input phases some kernel position reads."""
    g = L.geom
    return sorted({(kh % g.sh, kw % g.sw) for kh, kw in product(range(g.kh), range(g.kw))})


def _phase_bytes(L: GemmLayer, t: GemmTiling, tr: int, tw: int) -> int:
    g = L.geom
    rows = tr + (g.kh - 1) // g.sh
    return gemm.align(rows * pitch_of(L, t, tr, tw) * t.tk * L.es)


def a_loads(L: GemmLayer, t: GemmTiling, abuf: int, grp: int, mt, kc) -> list:
    """gemm's A loads; "phase" mode (strided convolutions): one patch per input phase
    (every sh-th row, every sw-th column), in which each kernel position is a shifted
    window, as in "shift" mode."""
    if t.mode != "phase":
        return gemm.a_loads(L, t, abuf, grp, mt, kc)
    g, x, es = L.geom, L.x, L.es
    b, r0, tr, c0, tw = mt
    k0, tk = kc
    sn, sh_, sw_, sc = x.strides
    chan = grp * g.cin_g + k0
    pw = pitch_of(L, t, tr, tw)
    pr = tr + (g.kh - 1) // g.sh
    size = _phase_bytes(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode), tr, tw)
    out = []
    for q, (a, c) in enumerate(_phases(L)):
        ih0, iw0 = r0 * g.sh - g.pt + a, c0 * g.sw - g.pl + c
        addr = x.addr + (b * sn + ih0 * sh_ + iw0 * sw_ + chan * sc) * es
        win = (gemm.window(ih0, g.sh, pr, g.h), gemm.window(iw0, g.sw, pw, g.w), (0, tk))
        ds = (g.sh * sh_, g.sw * sw_, sc)
        sp = abuf + q * size
        out.append(load(SP_IN, sp, es, addr, (pr, pw, tk), ds, (pw * tk, tk, 1), win, L.x_pad))
    return out


def _windows(L: GemmLayer, t: GemmTiling, abuf: int, tr: int, tw: int, tk: int, ri=0) -> list:
    """(A address, rows, K) of each MatMul of an M tile: one per kernel position (of row
    group ``ri``) over a shifted window ("shift", "phase"), or the whole im2col block
    ("im2col", "vcol")."""
    g, es = L.geom, L.es
    if t.mode == "im2col":
        return [(abuf, tr * tw, g.kpos * tk)]
    if t.mode == "vcol":
        return [(abuf + _col_base(L, t, tr, tw, tk), tr * tw, n_taps(L, t) * tk)]
    pw = pitch_of(L, t, tr, tw)
    m = (tr - 1) * pw + tw
    taps = [divmod(p, g.kw) for p in row_taps(L, t, ri)]
    if t.mode == "shift":
        return [(abuf + (kh * g.dh * pw + kw * g.dw) * tk * es, m, tk) for kh, kw in taps]
    size = _phase_bytes(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode), tr, tw)
    phase = {pq: i for i, pq in enumerate(_phases(L))}
    out = []
    for kh, kw in taps:
        q = phase[(kh % g.sh, kw % g.sw)]
        out.append((abuf + q * size + ((kh // g.sh) * pw + kw // g.sw) * tk * es, m, tk))
    return out


def matmuls(
    L: GemmLayer, t: GemmTiling, bufs, mt, nc, kc, first: bool, w_view=None, ri: int = 0
) -> list:
    """The MatMuls of one (M tile, N tile, K chunk, kernel-row group) step. ``w_view``:
    (width, column) of the N tile in a W panel holding a whole N block (default: the tile)."""
    first = first and L.epi.residual is None  # a preloaded residual: accumulate onto it
    abuf, wbuf, cbuf = bufs
    _, _, tr, _, tw = mt
    tn, tk = nc[1], kc[1]
    width, col = w_view or (tn, 0)
    wt = gemm.w_transposed(L)
    out = []
    for p, (a_addr, m, k) in enumerate(_windows(L, t, abuf, tr, tw, tk, ri)):
        if wt:  # stored [N, K]: the tile's rows start at its column of the panel
            w_addr, w_stride = wbuf + (p * tk * width + col * tk) * L.es, tk
        else:
            w_addr, w_stride = wbuf + (p * tk * width + col) * L.es, width
        mm = MatMul(
            dtype=int(L.dtype),
            accumulate=int(not (first and p == 0)),
            w_transposed=int(wt),
            a_addr=a_addr,
            w_addr=w_addr,
            c_addr=cbuf,
            m=m,
            k=k,
            n=tn,
            a_stride=k if t.mode in ("im2col", "vcol") else tk,
            w_stride=w_stride,
            c_stride=tn,
        )
        out.append(mm)
    return out


def w_load(L: GemmLayer, t: GemmTiling, wbuf: int, grp: int, nc, kc, ri: int):
    """The W of one step: the kernel positions of row group ``ri``, K chunk ``kc``, the N
    range ``nc``, stored [positions, K, N] (or [positions, N, K] when W is transposed)."""
    w, es = L.w, L.es
    n0, tn = nc
    k0, tk = kc
    pos = row_taps(L, t, ri)
    sg, sp_, sk, sn = w.strides
    addr = w.addr + (grp * sg + pos.start * sp_ + k0 * sk + n0 * sn) * es
    if gemm.w_transposed(L):
        return load(SP_W, wbuf, es, addr, (len(pos), tn, tk), (sp_, sn, sk), (tn * tk, tk, 1))
    return load(SP_W, wbuf, es, addr, (len(pos), tk, tn), (sp_, sk, sn), (tk * tn, tn, 1))


def a_copies(L: GemmLayer, t: GemmTiling, abuf: int, mt, kc, ri: int = 0) -> list[tuple]:
    """ "vcol" mode: (Vector, dst, src) COPYs gathering the im2col block of kernel-row group
    ``ri`` from the patch, one per kernel row (a row's kw positions are contiguous in both
    when the dilation is 1)."""
    if t.mode != "vcol":
        return []
    g, es = L.geom, L.es
    _, _, tr, _, tw = mt
    tk = kc[1]
    pw = gemm.patch(L, GemmTiling(tr, tw, 1, tk, t.order, t.mode))[1]
    kt = n_taps(L, t) * tk
    col = abuf + _col_base(L, t, tr, tw, tk)
    first = row_taps(L, t, ri).start
    rows = range(first // g.kw, row_taps(L, t, ri).stop // g.kw)
    runs = [(kh, 0, g.kw) for kh in rows] if g.dw == 1 else []
    runs = runs or [(kh, kw, 1) for kh, kw in product(rows, range(g.kw))]
    out = []
    for kh, kw, nkw in runs:
        src_addr = abuf + ((kh * g.dh) * pw + kw * g.dw) * tk * es
        src = Box(SP_IN, L.dtype, src_addr, (g.sh * pw * tk, g.sw * tk, 1))
        dst_addr = col + (kh * g.kw + kw - first) * tk * es
        dst = Box(SP_IN, L.dtype, dst_addr, (tw * kt, kt, 1))
        out.append((vector(VFunc.COPY, (tr, tw, nkw * tk), dst, src), dst, src))
    return out


def residual_load(L: GemmLayer, t: GemmTiling, cbuf: int, grp: int, mt, nc):
    """The residual tile loaded into C (the accumulator layout, row pitch included)."""
    g, r = L.geom, L.epi.residual
    b, r0, tr, c0, tw = mt
    n0, tn = nc
    chan = grp * g.cout_g + n0
    pitch = pitch_of(L, t, tr, tw)
    sn, sh_, sw_, sc = r.strides
    addr = r.addr + (b * sn + r0 * sh_ + c0 * sw_ + chan * sc) * 4
    return load(SP_ACC, cbuf, 4, addr, (tr, tw, tn), (sh_, sw_, sc), (pitch * tn, tn, 1))


def epilogue(L: GemmLayer, t: GemmTiling, cbuf: int, grp: int, mt, nc, bias_at: int) -> list:
    """The float epilogue of one C tile (its residual is already in C): bias ADD (the tile's
    bias words from ``bias_at``), the activation, the store; as gemm's (kind, instr, ...)
    tuples."""
    g, epi = L.geom, L.epi
    b, r0, tr, c0, tw = mt
    n0, tn = nc
    chan = grp * g.cout_g + n0
    acc = Box(SP_ACC, L.acc_dtype, cbuf, (pitch_of(L, t, tr, tw) * tn, tn, 1))
    counts = (tr, tw, tn)
    ops = []
    if epi.bias is not None:
        bias = Box(SP_W, L.acc_dtype, bias_at, (0, 0, 1))
        ops.append(("v", vector(VFunc.ADD, counts, acc, acc, bias), acc, [acc, bias]))
    if epi.act is not None:
        func, i0, i1 = epi.act
        ops.append(("v", vector(func, counts, acc, acc, None, (i0, i1, 0)), acc, [acc]))
    sn, sh_, sw_, sc = L.y.strides
    os = L.out_dtype.size
    addr = L.y.addr + (b * sn + r0 * sh_ + c0 * sw_ + chan * sc) * os
    ops.append(("s", store(SP_ACC, cbuf, os, addr, counts, (sh_, sw_, sc), acc.strides)))
    return ops


# --- estimate and search ---------------------------------------------------------------
def estimate(L: GemmLayer, t: GemmTiling, config, memo: dict | None = None) -> int:
    """Cycles of the whole nest: the busiest of LOAD, STORE, DRAM bytes, MATRIX and VECTOR,
    plus the first tile's loads and the last tile's MatMuls, epilogue and store."""
    key = (t.tr, t.tw, t.tn, t.tk, t.mode, w_width(L, t), t.rows, t.words)
    parts = memo.get(key) if memo is not None else None
    if parts is None:
        parts = _tile_costs(L, t, config)
        if memo is not None:
            memo[key] = parts
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
    return int(L.geom.groups * busy + a_c + w_c + deq + copy + mm + vec + st_c)


def _tile_costs(L: GemmLayer, t: GemmTiling, config) -> tuple[int, ...]:
    """Cycles and DRAM bytes of one full tile's instructions, by kind."""
    g = L.geom
    mt = (0, 0, min(t.tr, g.oh), 0, min(t.tw, g.ow))
    nc, kc = (0, min(t.tn, g.cout_g)), (0, min(t.tk, g.cin_g))
    a_ld = a_loads(L, t, 0, 0, mt, kc)
    w_ld = [w_load(L, t, 0, 0, (0, w_width(L, t)), kc, 0)]
    deq = 0
    if L.packed:  # the codes and groups, and the DEQUANT_PACKED writing the tile
        w_ops = L.packed.w_tile(0, 0, (0, w_width(L, t)), kc)
        w_ld = [i for kind, i in w_ops if kind == "l"]
        deq = sum(cost(i, config) for kind, i in w_ops if kind == "v")
    epi = epilogue(L, t, 0, 0, mt, nc, 0)
    pre = [residual_load(L, t, 0, 0, mt, nc)] if L.epi.residual else []
    if t.words:  # an N tile's epilogue words, loaded before its last K step
        pre += [i for i, _ in gemm.word_loads(L, 0, 0, nc[1], 0)]
    ld_in = [op[1] for op in epi if op[0] == "l"] + pre
    st = [op[1] for op in epi if op[0] == "s"]
    mm = sum(cost(i, config) for i in matmuls(L, t, (0, 0, 0), mt, nc, kc, True))
    vec = sum(cost(op[1], config) for op in epi if op[0] == "v")
    copy = sum(cost(c[0], config) for c in a_copies(L, t, 0, mt, kc))
    out = []
    for instrs in (a_ld, w_ld, ld_in, st):
        out += [_dma(instrs, config), _bytes(instrs, config)]
    return (*out, mm, vec, copy, deq)


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
    tns = [t for t in tiling.splits(g.cout_g, cols) if t == g.cout_g or t % cols == 0]
    tns = tns[:5] + [t for t in tns[-2:] if t not in tns[:5]]
    tks = [t for t in tiling.splits(g.cin_g, rows) if t == g.cin_g or t % rows == 0]
    tks = [t for t in tks if g.cin_g % t == 0] or tks
    if L.packed:  # K chunks of whole blocks (the whole K is one)
        tks = [t for t in tks if t % L.packed.block == 0] or [g.cin_g]
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
            if counts(L, mk).n > 1 and not gemm.w_transposed(L):
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
    tile = _sizes(L, t)[2]
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
    ops = (L.x.strides, L.y.strides, L.w.strides, res)
    packed = L.packed.key() if L.packed else None
    return (L.geom, ops, epi.bias is None, epi.act, L.dtype, L.out_dtype, L.x_pad, packed)


def _plan(L: GemmLayer, config) -> GemmTiling:
    """The cheapest candidate; when none fits, the epilogue's words per N tile (when every
    channel's leave no room for W)."""
    words = bool(gemm.word_sources(L))
    cands = _fitting(L, config) or (_fitting(L, config, words=True) if words else [])
    if not cands:
        g = L.geom
        mode = _modes(g, config.array.rows)[0]
        n, k = min(g.cout_g, 8), min(g.cin_g, 8)
        smallest = GemmTiling(1, 1, n, k, "mn", mode, words=words)
        why = buffers(L, smallest, config)[1] or "no candidate tile"
        raise ConfigError(f"layer {L.name!r} does not fit the scratchpads with any tile: {why}")
    memo: dict = {}
    return tiling.choose(
        L.name, cands, lambda t: (True, ""), lambda t: estimate(L, t, config, memo)
    )


def _fitting(L: GemmLayer, config, words: bool = False) -> list[GemmTiling]:
    """The candidates that fit; when no tile aligned to the array fits (a wide array with
    small scratchpads), tiles aligned to half as much, and so on down to 8."""
    align = (config.array.rows, config.array.cols)
    cands = list(candidates(L, config, align, words))
    while not cands and max(align) > 8:
        align = (max(8, align[0] // 2), max(8, align[1] // 2))
        cands = list(candidates(L, config, align, words))
    return cands


# --- emission --------------------------------------------------------------------------
def emit(ctx: Ctx, L: GemmLayer, t: GemmTiling) -> None:
    """The nest in program order, software-pipelined: after a step's MatMuls come the next
    step's W and the next distinct A (loads, vcol copies) into the other buffers, then the
    step's epilogue, so no in-order queue holds a prefetch behind work that waits."""
    bufs, why = buffers(L, t, ctx.config)
    assert bufs is not None, why
    g = L.geom
    cnt = counts(L, t)
    words = gemm.EpilogueWords(ctx, L, t, _page(ctx.config))
    mts = list(gemm.mtiles(L, t))
    ncs = gemm.ranges(g.cout_g, t.tn)
    kcs = gemm.ranges(g.cin_g, t.tk)
    steps = list(_steps(t, cnt, len(ncs), g.groups))
    per_row = a_keys(t) == "mkr"
    a_next = _next_change([(st[0], st[2], st[4], per_row and st[5]) for st in steps])
    last = (cnt.k - 1, cnt.r - 1)
    res = {"a": _Ring(bufs.a), "w": _Ring(bufs.w)}
    state = {"c": -1, "ckey": None}

    width = w_width(L, t)

    def w_tile(bi: int, ni: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """(the N range a W buffer holds, the tile's view in it)."""
        if not t.panel:
            return ncs[ni], None
        n0 = bi * width
        held = (n0, min(width, g.cout_g - n0))
        return held, (held[1], ncs[ni][0] - n0)

    def need(which: str, i: int) -> int:
        grp, bi, mi, ni, ki, ri = steps[i]
        if which == "a":
            key, nc = (grp, mi, ki, per_row and ri), ncs[ni]
        else:
            key = (grp, bi if t.panel else ni, ki, ri)
            nc = w_tile(bi, ni)[0]
        buf, new = res[which].get(key)
        if new:
            _emit_operand(ctx, L, t, which, buf, grp, mts[mi], nc, kcs[ki], ri)
        return buf

    need("w", 0)
    need("a", 0)
    built: dict = {}
    for i, (grp, bi, mi, ni, ki, ri) in enumerate(steps):
        mt, nc, kc = mts[mi], ncs[ni], kcs[ki]
        abuf, wbuf = need("a", i), need("w", i)
        chan = grp * g.cout_g + nc[0]
        if (ki, ri) == last:  # the epilogue's words (per-tile words: the next slot)
            words.ensure(chan, nc[1])
        cbuf = _c_buf(t, bufs, state, (grp, bi, mi), ni - bi * cnt.n)
        first = ki == 0 and ri == 0
        if first and L.epi.residual:
            emit_load(ctx, residual_load(L, t, cbuf, grp, mt, nc), L.epi.residual.key)
        view = w_tile(bi, ni)[1]
        key = (abuf, wbuf, cbuf, mt[2], mt[4], nc[1], kc[1], first, view, ri)
        if key not in built:  # steps repeat the same MatMuls (buffers alternate)
            built[key] = matmuls(L, t, (abuf, wbuf, cbuf), mt, nc, kc, first, view, ri)
        for mm in built[key]:
            ctx.em.add(mm)
        for j in range(i + 1, min(len(steps), i + len(bufs.w))):
            need("w", j)  # as many steps ahead as there are other W buffers
        if a_next[i] is not None and len(bufs.a) > 1:
            need("a", a_next[i])
        if (ki, ri) == last:
            bias_at = words.at(chan)[0]
            gemm.emit_epilogue(ctx, epilogue(L, t, cbuf, grp, mt, nc, bias_at), L)


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


def _emit_operand(ctx, L, t, which, buf, grp, mt, nc, kc, ri) -> None:
    if which == "w" and L.packed:
        fp32 = gemm.align(nc[1] * kc[1] * L.es)
        for kind, instr in L.packed.w_tile(buf, fp32, nc, kc):
            emit_load(ctx, instr, L.w.key) if kind == "l" else emit_vector(ctx, instr)
        return
    if which == "w":
        emit_load(ctx, w_load(L, t, buf, grp, nc, kc, ri), L.w.key)
        return
    for instr in a_loads(L, t, buf, grp, mt, kc):
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
