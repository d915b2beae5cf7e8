"""The instructions of a depthwise tile and the program order of a layer's tiles: parameter
loads (the diagonal matrices of array tiles included), the patch load, the store, the MatMul
offsets of an array tile, and ``schedule`` (array tiles' epilogues deferred past the next
vector tile).
"""

from __future__ import annotations

from collections import deque

from compiler.lowering.common import (
    Box,
    load,
    store,
)
from compiler.lowering.depthwise.layer import (
    ACC,
    PARAMS,
    PATCH,
    DwLayer,
    Tiling,
    params_bytes,
    patch_dims,
)
from compiler.lowering.gemm import Geom, window


def groups(tc: int, cols: int) -> list[tuple[int, int]]:
    """(first channel, channels) of each array group of a block of ``tc`` channels."""
    return [(c, min(cols, tc - c)) for c in range(0, tc, cols)]


def params_loads(L: DwLayer, t: Tiling, pbase: int, c0: int, tc: int, cols: int):
    """The block's parameter table; for array tiles also zeros over its diagonal matrices
    (a LOAD with an empty window) and its weights scattered onto their diagonals."""
    g, es = L.g, L.xdt.size
    out = [load(PARAMS, pbase, 4, L.params + c0 * 4, (1, L.rows, tc), (0, g.cout, 1), (0, tc, 1))]
    if "a" not in t.pattern:
        return out
    dbase = pbase + params_bytes(L, t, cols)[0]
    empty = ((0, 0), (0, 0), (0, 0))
    box = (1, g.kpos * tc, cols)
    out.append(load(PARAMS, dbase, es, L.wrows, box, (0, 0, 0), (0, cols, 1), empty))
    full, rest = divmod(tc, cols)
    diag = (tc * cols, cols * cols, cols + 1)  # (position, group, channel) in WEIGHT
    if full:
        src = L.wrows + c0 * es
        out.append(load(PARAMS, dbase, es, src, (g.kpos, full, cols), (g.cout, cols, 1), diag))
    if rest:
        src = L.wrows + (c0 + full * cols) * es
        dst = dbase + full * cols * cols * es
        out.append(load(PARAMS, dst, es, src, (1, g.kpos, rest), (0, g.cout, 1), (0, *diag[::2])))
    return out


def patch_load(L: DwLayer, base: int, tile):
    g = L.g
    b, r0, tr, c0, tc = tile
    xaddr, xs, _ = L.x
    pr, pw = patch_dims(g, tr)
    ih0, iw0 = r0 * g.sh - g.pt, -g.pl
    es = L.xdt.size
    addr = xaddr + (b * xs[0] + ih0 * xs[1] + iw0 * xs[2] + c0 * xs[3]) * es
    win = (window(ih0, 1, pr, g.h), window(iw0, 1, pw, g.w), (0, tc))
    return load(PATCH, base, es, addr, (pr, pw, tc), tuple(xs[1:]), (pw * tc, tc, 1), win, L.pad)


def store_tile(L: DwLayer, res: Box, tile):
    b, r0, tr, c0, tc = tile
    yaddr, ys, _ = L.y
    es = L.ydt.size
    addr = yaddr + (b * ys[0] + r0 * ys[1] + c0 * ys[3]) * es
    return store(ACC, res.addr, es, addr, (tr, L.g.ow, tc), tuple(ys[1:]), res.strides)


def matmul_offsets(g: Geom, tc: int, cols: int, pw: int) -> list[tuple[int, ...]]:
    """(A, W, C element offsets, k, n, accumulate) of an array tile's MatMuls: per group of
    channels and kernel position one by the position's diagonal matrix; when the tile is one
    group and the kernel's columns are adjacent, one per kernel row (K = kw x channels: the
    row's positions are consecutive in the patch and their matrices in WEIGHT)."""
    if tc <= cols and g.dw == 1:
        k = g.kw * tc
        return [(i * g.dh * pw * tc, i * k * cols, 0, k, tc, int(i > 0)) for i in range(g.kh)]
    out = []
    for c, n in groups(tc, cols):
        for p in range(g.kpos):
            i, j = divmod(p, g.kw)
            a = (i * g.dh * pw + j * g.dw) * tc + c
            out.append((a, p * tc * cols + c * cols, c, n, n, int(p > 0)))
    return out


def schedule(L: DwLayer, t: Tiling):
    """The program order: ``(step, k, block, tile)``; step "params" (a channel block's
    parameters, k = block number), "tile" (a vector tile), "front" (an array tile's patch load
    and MatMuls), "back" (its epilogue and store). Backs wait until after the next vector tile
    (the vector unit's queue is in order), but never past a tile reusing their slot or a block
    reusing their half of WEIGHT."""
    g, pending, k = L.g, deque(), 0  # pending: (k, block, tile) of array tiles, in order
    blocks = [(b, c0) for b in range(g.batch) for c0 in range(0, g.cout, t.tc)]
    for blk, (b, c0) in enumerate(blocks):
        tc = min(t.tc, g.cout - c0)
        while pending and pending[0][1] <= blk - 2:
            yield "back", *pending.popleft()
        yield "params", blk, blk, (b, 0, 0, c0, tc)
        for r0 in range(0, g.oh, t.tr):
            tile = (b, r0, min(t.tr, g.oh - r0), c0, tc)
            while pending and pending[0][0] <= k - t.nbuf:
                yield "back", *pending.popleft()
            if t.pattern[k % len(t.pattern)] == "a":
                yield "front", k, blk, tile
                pending.append((k, blk, tile))
            else:
                yield "tile", k, blk, tile
                while pending:
                    yield "back", *pending.popleft()
            k += 1
    while pending:
        yield "back", *pending.popleft()
