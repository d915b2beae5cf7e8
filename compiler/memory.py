"""DRAM planning: one storage per tensor (aliases share their source's), liveness over the
lowering order, first-fit reuse of freed space. Graph inputs and outputs are never reused.

A storage's ``clobbers`` are the storages that last held any of its bytes: writing it must
wait for their readers (the emitter adds those keys to the write). Older occupants of the
same bytes are ordered through the most recent one (every DRAM write is a STORE, and the
STORE queue runs in order), so they need not be listed. Placement is O(log n) per storage
(``intervals.FirstFit``, ``intervals.Painter``): the plan is O(n log n) in the tensors."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from compiler.intervals import FirstFit, Painter
from compiler.ir import Graph, Node
from compiler.lowering.common import Place, contiguous_strides, logical_strides

ALIGN = 64


@dataclass
class DramPlan:
    places: dict[str, Place]
    size: int  # peak bytes of activations (the const segment follows)
    clobbers: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _align(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


def plan_dram(graph: Graph, order: list[Node], aliases: dict[str, tuple]) -> DramPlan:
    """``aliases`` maps a tensor to (source tensor, byte offset): it is stored inside the
    source, row-major; or to (source, byte offset, axes): a strided view whose axis i has the
    source's stride of axis ``axes[i]`` (a transpose read in place, a KV cache's past)."""
    root = {}
    for t in graph.tensors:
        r, off = t, 0
        while r in aliases:
            r, extra = aliases[r][:2]
            off += extra
        root[t] = (r, off)
    first, last = _liveness(graph, order, root)
    sizes: dict[str, int] = {}
    for t, (r, off) in root.items():
        if t in graph.constants:
            continue
        sizes[r] = max(sizes.get(r, 0), off + graph.tensors[t].nbytes)
    addrs, clobbers, peak = _first_fit(sizes, first, last)
    places: dict[str, Place] = {}
    for t, (r, off) in root.items():
        if r in addrs:
            places[t] = _place(graph, t, addrs[r] + off, r, aliases, places)
    return DramPlan(places, peak, clobbers)


def _place(graph: Graph, t: str, addr: int, key: str, aliases, places) -> Place:
    tt = graph.tensors[t]
    alias = aliases.get(t, ())
    if len(alias) < 3:
        return Place(addr, logical_strides(tt), key, tt.itemsize)
    src = places.get(alias[0]) or _place(graph, alias[0], addr - alias[1], key, aliases, places)
    places[alias[0]] = src
    return Place(addr, tuple(src.strides[a] for a in alias[2]), key, tt.itemsize)


def _liveness(graph: Graph, order: list[Node], root) -> tuple[dict, dict]:
    end = len(order) + 1
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for t in graph.inputs:
        first[root[t][0]] = -1
        last[root[t][0]] = end
    for i, node in enumerate(order):
        for o in node.outputs:
            if o in root:
                r = root[o][0]
                first[r] = min(first.get(r, i), i)
                last[r] = max(last.get(r, i), i)
        for x in node.inputs:
            if x in root:
                r = root[x][0]
                last[r] = max(last.get(r, i), i)
    for t in graph.outputs:
        if t in root:  # a constant output lives in the constant segment
            last[root[t][0]] = end
    return first, last


def _first_fit(sizes: dict[str, int], first: dict, last: dict):
    blocks, painter = FirstFit(), Painter()
    expiry: list[tuple[int, int, tuple]] = []  # (last use, serial, block handle)
    addrs, clobbers, peak = {}, {}, 0
    for serial, s in enumerate(sorted(sizes, key=lambda s: (first.get(s, 0), s))):
        start = first.get(s, 0)
        while expiry and expiry[0][0] < start:
            blocks.free(heapq.heappop(expiry)[2])
        size = _align(sizes[s])
        addr, handle = blocks.place(size)
        heapq.heappush(expiry, (last.get(s, 0), serial, handle))
        addrs[s] = addr
        clobbers[s] = tuple(painter.paint(addr, addr + size, s))
        peak = max(peak, addr + size)
    return addrs, clobbers, peak


def plain_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    return contiguous_strides(shape)
