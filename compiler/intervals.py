"""Two interval structures for the DRAM planner, each O(log n) per operation.

``FirstFit``: live blocks of DRAM, disjoint; ``place(size)`` puts a block at the lowest
address where it fits (0, or the end of a live block: the leftmost gap that is large
enough, else after the last block), ``free(handle)`` removes one. A treap keyed by address
whose every subtree knows its lowest address, its highest end and the largest gap between
consecutive blocks inside it, so the leftmost large-enough gap is found in one descent.

``Painter``: which storage last occupied each byte. ``paint(lo, hi, key)`` returns the keys
that held any byte of [lo, hi) (most recent occupants only) and then paints it with ``key``.
Disjoint segments in a sorted list: a bisection finds the first overlap; the segments it
replaces are removed once, so the work is O(log n) per call plus the list's memmove.
"""

from __future__ import annotations

import bisect
import random


class _Node:
    __slots__ = ("key", "addr", "end", "prio", "left", "right", "lo", "hi", "gap")

    def __init__(self, key: tuple[int, int], end: int, prio: float) -> None:
        self.key, self.addr, self.end, self.prio = key, key[0], end, prio
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.lo, self.hi, self.gap = key[0], end, 0


def _pull(t: _Node) -> _Node:
    lo, hi, gap = t.addr, t.end, 0
    left, right = t.left, t.right
    if left is not None:
        lo, gap = left.lo, max(left.gap, t.addr - left.hi)
    if right is not None:
        hi, gap = right.hi, max(gap, right.gap, right.lo - t.end)
    t.lo, t.hi, t.gap = lo, hi, gap
    return t


def _split(t: _Node | None, key: tuple) -> tuple[_Node | None, _Node | None]:
    """(keys < key, keys >= key)."""
    if t is None:
        return None, None
    if t.key < key:
        t.right, right = _split(t.right, key)
        return _pull(t), right
    left, t.left = _split(t.left, key)
    return left, _pull(t)


def _merge(a: _Node | None, b: _Node | None) -> _Node | None:
    """Every key of ``a`` below every key of ``b``."""
    if a is None:
        return b
    if b is None:
        return a
    if a.prio > b.prio:
        a.right = _merge(a.right, b)
        return _pull(a)
    b.left = _merge(a, b.left)
    return _pull(b)


class FirstFit:
    """First-fit placement of blocks; handles are (address, serial) pairs."""

    def __init__(self, seed: int = 0) -> None:
        self.root: _Node | None = None
        self._rng = random.Random(seed)  # the tree's shape only: placements do not depend on it
        self._serial = 0

    def place(self, size: int) -> tuple[int, tuple[int, int]]:
        """The block's address and its handle."""
        addr = self._find(size)
        self._serial += 1
        key = (addr, self._serial)
        left, right = _split(self.root, key)
        self.root = _merge(_merge(left, _Node(key, addr + size, self._rng.random())), right)
        return addr, key

    def free(self, handle: tuple[int, int]) -> None:
        left, rest = _split(self.root, handle)
        _, right = _split(rest, (handle[0], handle[1] + 1))
        self.root = _merge(left, right)

    def _find(self, size: int) -> int:
        """The lowest address with ``size`` free bytes: a gap between blocks, else the end."""
        t, prev = self.root, 0
        while t is not None:
            left = t.left
            if left is not None and (left.lo - prev >= size or left.gap >= size):
                t = left
                continue
            before = left.hi if left is not None else prev
            if t.addr - before >= size:
                return before
            prev, t = t.end, t.right
        return self.root.hi if self.root is not None else 0


class Painter:
    """Disjoint painted segments [lo, hi) -> key, sorted by lo."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.segments: list[tuple[int, int, str]] = []

    def paint(self, lo: int, hi: int, key: str) -> list[str]:
        """The keys [lo, hi) held (in address order, each once); then [lo, hi) holds ``key``."""
        starts, segments = self.starts, self.segments
        i = bisect.bisect_right(starts, lo) - 1
        if i < 0 or segments[i][1] <= lo:
            i += 1
        j, found, keep = i, {}, []
        while j < len(segments) and segments[j][0] < hi:
            s_lo, s_hi, s_key = segments[j]
            found[s_key] = None
            if s_lo < lo:
                keep.append((s_lo, lo, s_key))
            if s_hi > hi:
                keep.append((hi, s_hi, s_key))
            j += 1
        if hi > lo:
            keep.append((lo, hi, key))
        keep.sort()
        segments[i:j] = keep
        starts[i:j] = [s[0] for s in keep]
        return list(found)
