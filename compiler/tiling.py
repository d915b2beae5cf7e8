"""Tile-size and loop-order search: enumerate candidates that fit the scratchpads with double
buffers, estimate each with ``simulator.cost.cost`` of the instructions the lowering would
emit, keep the cheapest. Deterministic: ties go to the first candidate enumerated."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import ceil

from simulator.errors import ConfigError


@dataclass(frozen=True)
class GemmTiling:
    tr: int  # output rows per M tile
    tw: int  # output columns per M tile
    tn: int  # output channels per N tile
    tk: int  # input channels per K chunk
    order: str  # "mn": M tiles outer (A stays), "nm": N tiles outer (W stays), "mk": per N
    # block, M tiles, then K chunks, then the block's N tiles (C stays while K streams)
    mode: str  # "shift": one patch, a MatMul per kernel position; "im2col": a Load per position;
    # "vcol": one patch, a vector COPY per kernel position builds the im2col block
    est: int = 0
    nb: int = 0  # "mk" order: output channels per N block (C tiles resident together)
    panel: bool = False  # "mk" order: one W load per (K chunk, N block), not per N tile
    rows: int = 0  # shifted-window modes: kernel rows per K step (0: all; W holds those taps)
    words: bool = False  # the epilogue's per-channel words per N tile in two slots (not all
    # channels' at once: for layers whose every channel's words leave no room for W)
    streams: bool = False  # its W loads bound every step (gemm.search.w_streams), set by plan

    def describe(self, kpos: int) -> str:
        block = f" b{self.nb}" if self.nb else ""
        panel = (" wpanel" if self.panel else "") + (f" rows{self.rows}" if self.rows else "")
        panel += " words" if self.words else ""
        m, k = f"m{self.tr}x{self.tw}", f"k{self.tk * kpos}"
        return f"{m} n{self.tn}{block} {k} {self.order} {self.mode}{panel}"


def splits(total: int, align: int, limit: int = 12) -> list[int]:
    """Candidate tile sizes for a dimension: the whole, even fractions, aligned powers of two."""
    out = {total}
    for d in (2, 3, 4):
        size = ceil(total / d)
        out.add(min(total, ceil(size / align) * align) if size >= align else size)
    p = align
    while p < total:
        out.add(p)
        p *= 2
    return sorted(out, reverse=True)[:limit] if limit < len(out) else sorted(out, reverse=True)


def footprint(t: GemmTiling) -> int:
    """Elements of one step's A, W and C tiles (kernel positions aside): what orders
    candidates from small to large."""
    return t.tr * t.tw * (t.tk + t.tn) + t.tk * t.tn


def choose(
    layer: str,
    candidates: Iterable[GemmTiling],
    need: Callable[[GemmTiling], tuple[bool, str]],
    estimate: Callable[[GemmTiling], int],
) -> GemmTiling:
    best, best_cost, smallest = None, None, None
    for cand in candidates:
        ok, detail = need(cand)
        if not ok:
            if smallest is None or footprint(cand) < smallest[0]:
                smallest = (footprint(cand), detail)
            continue
        c = estimate(cand)
        if best_cost is None or c < best_cost:
            best, best_cost = cand, c
    if best is None:
        why = smallest[1] if smallest else "no candidate tile"
        raise ConfigError(f"layer {layer!r} does not fit the scratchpads with any tile: {why}")
    return GemmTiling(**{**best.__dict__, "est": int(best_cost)})
