"""Which earlier DMA writes a DRAM access really conflicts with, for the emitter's tokens.

The emitter tracks a DRAM storage by ``DRAM_CHUNK``-byte chunks of address (``compiler.emit``).
A chunk is coarse where a producer stores a tile's channels in slices: each slice of a
14 x 14 x 256 output touches every chunk of the tensor, so a consumer's first load (channels
0-63) would wait for the last slice's store. Here each chunk keeps, per queue, the recent
writes with their regions, and a read (or a write) depends only on those whose bytes it
actually shares (``overlap``: exact for strided boxes with the same strides, conservative
otherwise). Reads stay tracked by chunk in the emitter: a write waits for every earlier read
of its chunks (write after read, conservative).

A chunk keeps at most ``KEEP`` writes a queue; older ones are folded into one entry that
conflicts with everything (conservative, never missing a dependency).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from simulator.footprint import Region

KEEP = 48  # writes kept per chunk and queue with their regions (more: the oldest half folded)

_Box = tuple[int, tuple[tuple[int, int], ...]]  # byte address, ((count, byte stride), ...)
_BOXES: dict[tuple, tuple | None] = {}


def box(region: Region) -> _Box | None:
    """``region`` as (address, dims): each dim a (count, byte stride), outermost first, the
    last the bytes of an element; None when a dim of several elements has a stride that is
    not positive (not compared exactly)."""
    key = region[2:6]
    dims = _BOXES.get(key, False)
    if dims is False:
        if len(_BOXES) >= 4096:
            _BOXES.clear()
        es = region.esize
        dims = tuple((n, s * es) for n, s in zip(region.shape, region.strides, strict=True))
        dims = _BOXES[key] = None if any(n > 1 and s <= 0 for n, s in dims) else (*dims, (es, 1))
    return None if dims is None else (region.addr, dims)


def overlap(a: _Box | None, b: _Box | None) -> bool:
    """Whether two boxes share a byte. Exact when they have the same strides (where either
    has more than one element), each a multiple of the next, and each dim's difference of
    indices has one value of a residue (merging a dim into the one outside it where both
    boxes allow, as full rows of a row-major tensor); True when unsure."""
    if a is None or b is None or len(a[1]) != len(b[1]):
        return True
    dims = []  # [count in a, count in b, stride], outermost first
    for (na, sa), (nb, sb) in zip(a[1], b[1], strict=True):
        if na > 1 or nb > 1:
            if sa != sb:
                return True
            dims.append((na, nb, sa))
    if any(p[2] % q[2] for p, q in pairwise(dims)):
        return True  # not a chain of multiples
    rest = b[0] - a[0]  # = sum over dims of (i_k - j_k) * stride_k, i in a, j in b
    if dims and rest % dims[-1][2]:
        return False  # every address of a is that many bytes off every stride of b's
    while len(dims) > 1:
        na, nb, s = dims.pop()
        oa, ob, outer = dims[-1]
        m = outer // s
        if na + nb - 1 > m:  # the digit is not unique: merge into the outer dim, or give up
            merged = _merge(oa, na, m), _merge(ob, nb, m)
            if None in merged:
                return True
            dims[-1] = (*merged, s)
            continue
        d = (rest // s) % m  # the digit i_k - j_k in [1 - nb, na - 1] is d or d - m
        d = d if d <= na - 1 else d - m
        if d < 1 - nb:
            return False
        rest -= d * s
    if not dims:
        return rest == 0
    na, nb, s = dims[0]
    return rest % s == 0 and 1 - nb <= rest // s <= na - 1


def _merge(outer: int, inner: int, m: int) -> int | None:
    """Elements of one dim made of an outer and an inner dim ``m`` inner strides apart, or
    None when they are not one run of strides (the inner dim neither full nor alone)."""
    if inner == m:
        return outer * m
    return inner if outer == 1 else None


class DramDeps:
    """Per DRAM chunk key, per queue, the recent writes: (index in queue, box), in queue
    order. A read, or a write, depends on the latest of each other queue's that it meets."""

    def __init__(self) -> None:
        self.chunks: dict = {}

    def deps(self, q: int, accesses: Sequence, deps: dict[int, int], known: Sequence[int]):
        """Raise ``deps`` (queue -> latest conflicting index) for ``accesses``, each
        (keys, writes, region), of an instruction of queue ``q``; ``known``: per queue, the
        latest instruction already known complete (no token needed up to it)."""
        chunks = self.chunks
        for keys, _, region in accesses:
            bx = False  # its box, once needed
            for key in keys:
                logs = chunks.get(key)
                if logs is None:
                    continue
                for p, log in logs.items():
                    if p == q:
                        continue
                    floor = max(known[p], deps.get(p, -1))
                    for y, other in reversed(log):
                        if y <= floor:
                            break
                        if bx is False:
                            bx = box(region)
                        if overlap(bx, other):  # the latest of queue p it meets
                            deps[p] = y
                            break

    def record(self, q: int, idx: int, accesses: Sequence) -> None:
        """Keep the regions ``accesses`` write (reads are the emitter's, by chunk)."""
        chunks = self.chunks
        for keys, writes, region in accesses:
            if not writes:
                continue
            entry = (idx, box(region))
            for key in keys:
                logs = chunks.get(key)
                if logs is None:
                    logs = chunks[key] = {}
                log = logs.get(q)
                if log is None:
                    logs[q] = [entry]
                    continue
                log.append(entry)
                if len(log) > KEEP:  # the oldest half as one entry that meets every region
                    half = len(log) // 2
                    log[: half + 1] = [(log[half][0], None)]
