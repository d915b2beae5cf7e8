"""The pipeline plan of the GEMM nest: how many M tiles, N tiles, K chunks, N blocks and
kernel-row groups a tiling makes, how often each operand changes along the loop order, the
bytes of one A, W and C buffer, and where the buffers go in the scratchpads (an operand loaded
once gets one buffer; A gets two, C and W up to four, on pages of their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from math import ceil
from typing import NamedTuple

from compiler.lowering.gemm.epilogue import out_bytes, reserved_w
from compiler.lowering.gemm.layer import GemmLayer, align, patch, pitch_of, sum_rows
from compiler.scratch import page_of, ring, round_pages, top_pages, two
from compiler.tiling import GemmTiling
from simulator.isa import Scratchpad

SP_IN, SP_W, SP_ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC

# b: N blocks ("mk" only), r: kernel-row groups of a K chunk (their W taps only)
LEVELS = {"mn": "bmnkr", "nm": "bnmkr", "mk": "bmkrn"}


class Counts(NamedTuple):
    m: int  # M tiles
    n: int  # N tiles per block
    k: int  # K chunks
    b: int  # N blocks
    r: int  # kernel-row groups per K chunk

    def loads(self, order: str, keys: str) -> int:
        """How many times an operand indexed by ``keys`` changes along the loop nest."""
        total, out = 1, 1
        for lv in LEVELS[order]:
            n = self[_FIELD[lv]]
            total *= n
            if n > 1 and lv in keys:
                out = total
        return out


_FIELD = {name: i for i, name in enumerate(Counts._fields)}  # a level's position in Counts


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


def w_keys(t: GemmTiling) -> str:
    """The loop levels a W buffer's contents depend on."""
    return "bkr" if t.panel else "bnkr"


def w_width(L: GemmLayer, t: GemmTiling) -> int:
    """Output channels in one W buffer: an N tile, or a whole N block (a panel)."""
    return min(t.nb or L.geom.cout_g, L.geom.cout_g) if t.panel else t.tn


def col_base(L: GemmLayer, t: GemmTiling, tr: int, tw: int, tk: int) -> int:
    """vcol: offset of the im2col block, after the patch, in an A buffer."""
    pr, pw = patch(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode))
    return align(pr * pw * tk * L.es)


@dataclass(frozen=True)
class Buffers:
    a: tuple[int, ...]  # A buffer addresses (one or two)
    w: tuple[int, ...]
    c: tuple[int, ...]  # C buffers (mn, nm) or the C set (mk)
    c_tile: int  # bytes between the C tiles of the set (mk)
    words: int = 0  # the epilogue's per-channel words (weight scratchpad)


def sizes(L: GemmLayer, t: GemmTiling) -> tuple[int, int, int]:
    """Aligned bytes of one A buffer, one W buffer and one C tile (int8: with its output)."""
    g, es = L.geom, L.es
    if t.mode == "shift":
        pr, pw = t.tr + (g.kh - 1) * g.dh, t.tw + (g.kw - 1) * g.dw
        a, pitch = pr * pw * t.tk * es, pw
    elif t.mode == "phase":
        pitch = pitch_of(L, t, t.tr, t.tw)
        a = phase_bytes(L, t, t.tr, t.tw) * len(phases(L))
    elif t.mode == "vcol":
        cols = t.tr * t.tw * n_taps(L, t) * t.tk * es
        a, pitch = col_base(L, t, t.tr, t.tw, t.tk) + cols, t.tw
    else:
        a, pitch = (t.tr * t.tw + sum_rows(L)) * t.tk * es * g.kpos, t.tw
    c = align((t.tr * pitch + sum_rows(L)) * t.tn * 4) + out_bytes(L, t.tr, t.tw, t.tn)
    w = align(n_taps(L, t) * t.tk * w_width(L, t) * es)
    if L.packed:  # its codes and groups are loaded behind the tile
        w += L.packed.staging(w_width(L, t), t.tk)
    return align(a), w, c


def reserved_bytes(L: GemmLayer, t: GemmTiling, config) -> int:
    """Weight scratchpad bytes before the W buffers: the epilogue's per-channel words (all
    channels', or two slots of an N tile's), on pages of their own (a W load must not wait
    for the epilogue reading them)."""
    return reserved_w(L, t, w_page(config))


def w_page(config) -> int:
    """The weight scratchpad's page (the emitter's tracking granularity)."""
    return page_of(config, SP_W)


def buffers(
    L: GemmLayer, t: GemmTiling, config, top: bool = False, half: int | None = None
) -> tuple[Buffers | None, str]:
    """Where the nest's buffers go, or None and why not. The epilogue's words go on the
    weight scratchpad's first pages, W after them; ``top``: on the pages after the W
    buffers, which still start where they would (so the words of consecutive layers, one
    ``top``, share no page, nor do one layer's words and the other's first W buffer);
    ``half`` (0 or 1): the words, then W, within that half of the weight scratchpad."""
    g = L.geom
    m = (t.tr - 1) * pitch_of(L, t, t.tr, t.tw) + t.tw + sum_rows(L)
    k = t.tk * (1 if t.mode in ("shift", "phase") else g.kpos)
    if max(m, k, t.tn) > 65535:
        return None, f"a MatMul dimension exceeds 65535 (m={m}, k={k})"
    a, w, tile = sizes(L, t)
    cnt = counts(L, t)
    reserved = reserved_bytes(L, t, config)
    words, w_end = 0, config.weight_bytes
    if top:
        w_end = top_pages(config, SP_W, reserved)
    if half is not None:
        mid = config.weight_bytes // 2 // w_page(config) * w_page(config)
        words, w_end = (0, mid) if half == 0 else (mid, config.weight_bytes)
        reserved += words
    # loaded once (and not by each of nests in a row): one buffer
    a_once = cnt.loads(t.order, a_keys(t)) * g.groups * L.repeat == 1
    w_once = cnt.loads(t.order, w_keys(t)) * g.groups * L.repeat == 1
    abufs = (0,) if a_once and a <= config.input_bytes else two(config, SP_IN, a)
    if w_once and reserved + w <= w_end:
        wbufs = (reserved,)
    else:
        wbufs = ring(config, SP_W, w, reserved, end=w_end)
    if top and wbufs:
        words = round_pages(config, SP_W, max(wbufs) + w)
    if t.order == "mk":  # one set: tile n is reused by the next M tile or block long after
        paged = round_pages(config, SP_ACC, tile)  # its store, on a page of its own if it can
        tile = paged if paged * cnt.n <= config.acc_bytes else tile
        one = tile * cnt.n
        cbufs = (0,) if one <= config.acc_bytes else None
    else:
        one = tile
        once = cnt.m * cnt.n * g.groups * L.repeat == 1 and one <= config.acc_bytes
        cbufs = (0,) if once else ring(config, SP_ACC, one)
    if abufs is None or wbufs is None or cbufs is None:
        return None, f"needs input/weight/acc bytes {(a, reserved + w, one)} (single buffers)"
    return Buffers(abufs, wbufs, cbufs, tile, words), ""


def phases(L: GemmLayer) -> list[tuple[int, int]]:
    """ "phase" mode: the (row, column) input phases some kernel position reads."""
    g = L.geom
    return sorted({(kh % g.sh, kw % g.sw) for kh, kw in product(range(g.kh), range(g.kw))})


def phase_bytes(L: GemmLayer, t: GemmTiling, tr: int, tw: int) -> int:
    g = L.geom
    rows = tr + (g.kh - 1) // g.sh
    return align(rows * pitch_of(L, t, tr, tw) * t.tk * L.es)
