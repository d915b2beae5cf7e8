"""The depthwise tile search: candidates (rows, channels, unit pattern, slots), a lower bound
per candidate and an estimate on four in-order units from ``cost()`` of each tile's
instructions; candidates are estimated in the order of their bound until it reaches the best.
"""

from __future__ import annotations

from math import ceil

from compiler.lowering.common import (
    Box,
)
from compiler.lowering.depthwise.instrs import (
    matmul_offsets,
    params_loads,
    patch_load,
    schedule,
    store_tile,
)
from compiler.lowering.depthwise.layer import (
    ACC,
    DwLayer,
    Tiling,
    array_ok,
    fits,
    fused_bias,
    patch_dims,
)
from compiler.lowering.gemm import window
from compiler.tiling import splits
from simulator.cost import cost, dma_dram_bytes, matmul_cycles, vector_cycles
from simulator.errors import ConfigError
from simulator.isa import VFunc

# the unit patterns the tile search tries: "v" all on the vector unit, else array tiles too
PATTERNS = ("v", "av", "aav", "aaav", "a")


def _candidates(L: DwLayer, config):
    g = L.g
    chans = set(splits(g.cout, 64 // L.xdt.size))
    chans |= {-(-g.cout // 2**i) for i in range(g.cout.bit_length() + 1)}
    chans = [tc for tc in sorted(chans, reverse=True) if fits(L, Tiling(1, tc), config)][:6]
    shapes = [(tc, "v", 2) for tc in chans] if "v" in PATTERNS else []
    if array_ok(L, config):
        cols = config.array.cols  # blocks of 1, 2 or 4 groups: a wider one leaves few rows
        blocks = {cols << i for i in range(3) if cols << i < g.cout}
        blocks = sorted(blocks | ({g.cout} if g.cout <= 4 * cols else set()), reverse=True)
        shapes += [(tc, p, n) for tc in blocks for n in (2, 4) for p in PATTERNS if p != "v"]
    for tc, pattern, nbuf in shapes:
        top = 0
        while top < g.oh and fits(L, Tiling(top + 1, tc, pattern, nbuf), config):
            top += 1
        rows = {top, -(-top // 2)} | ({-(-top // 4), 1} if pattern == "v" else set())
        for tr in sorted(rows if top else (), reverse=True):
            yield Tiling(-(-g.oh // -(-g.oh // tr)), tc, pattern, nbuf)  # balanced tiles


def plan(L: DwLayer, config) -> Tiling:
    """The tile (rows, channels, unit pattern, slots) with the least estimated cycles; the
    candidates in the order of a lower bound (the busiest unit's work), estimated until the
    bound reaches the best estimate."""
    tile_cost = _tile_costs(L, config)
    bounds = sorted((_bound(L, t, tile_cost), i, t) for i, t in enumerate(_candidates(L, config)))
    best = None
    for bound, _, t in bounds:
        if best is not None and bound >= best.est:
            break
        est = _estimate(L, t, tile_cost)
        if best is None or est < best.est:
            best = Tiling(t.tr, t.tc, t.pattern, t.nbuf, est)
    if best is None:
        raise ConfigError(
            f"depthwise layer {L.name!r}: one output row of one channel does not fit the "
            f"scratchpads (INPUT {config.input_bytes}, ACC {config.acc_bytes}, WEIGHT "
            f"{config.weight_bytes} bytes, each in two halves)"
        )
    return best


def _bound(L: DwLayer, t: Tiling, tile_cost) -> int:
    """No schedule of ``t`` takes less than its matrix work, its vector work or its DRAM
    traffic at full bandwidth."""
    g, work = L.g, [0, 0, 0]
    rows = [(r0, min(t.tr, g.oh - r0)) for r0 in range(0, g.oh, t.tr)]
    k = 0
    for c0 in [c0 for _ in range(g.batch) for c0 in range(0, g.cout, t.tc)]:
        c = min(t.tc, g.cout - c0)
        work[2] += tile_cost(t, None, c)[1]
        for r0, n in rows:
            _, mm, vec, epi, _, dram = tile_cost(t, r0, n, c)
            array = t.pattern[k % len(t.pattern)] == "a"
            work[0] += mm if array else 0
            work[1] += epi if array else vec
            work[2] += dram
            k += 1
    return max(work)


def _estimate(L: DwLayer, t: Tiling, tile_cost) -> int:
    """Cycles of the schedule on four in-order units: a tile's patch load waits for the last
    reader of its slot's patch, its compute for the last store from its slot's accumulators,
    an array tile's epilogue for its MatMuls; and no less than the DRAM traffic takes at full
    bandwidth (loads and stores share it)."""
    free = dict.fromkeys(("load", "matrix", "vector", "store", "dram"), 0)
    patch_free, acc_free, mm_end = [0] * t.nbuf, [0] * t.nbuf, {}

    def run(unit: str, ready: int, cycles: int) -> int:
        free[unit] = max(free[unit], ready) + cycles
        return free[unit]

    for step, k, _, tile in schedule(L, t):
        s = k % t.nbuf
        if step == "params":
            ld, dram = tile_cost(t, None, tile[4])
            run("load", 0, ld)
            run("dram", 0, dram)
            continue
        ld, mm, vec, epi, st, dram = tile_cost(t, tile[1], tile[2], tile[4])
        if step != "back":
            run("dram", 0, dram)
        if step == "back":
            acc_free[s] = run("store", run("vector", mm_end[k], epi), st)
            continue
        ready = run("load", patch_free[s], ld)
        if step == "front":
            patch_free[s] = mm_end[k] = run("matrix", max(ready, acc_free[s]), mm)
        else:
            patch_free[s] = run("vector", max(ready, acc_free[s]), vec)
            acc_free[s] = run("store", patch_free[s], st)
    return max(free.values())


def _tile_costs(L: DwLayer, config):
    """``(tiling, r0, rows, channels) -> (load, matmuls, vector, epilogue, store, dram)``
    cycles of a tile (dram: its loads and stores at full DRAM bandwidth), memoised on what
    they depend on; ``r0`` None: ``(load, dram)`` of the parameter loads of a block."""
    g, memo = L.g, {}

    def dram(*dmas) -> int:
        return sum(ceil(dma_dram_bytes(d, config) / config.dram.bytes_per_cycle) for d in dmas)

    funcs, epi = _vfuncs(L), _vfuncs(L)[2 * g.kpos - 1 :]

    def costs(t: Tiling, r0: int | None, n: int, c: int = 0) -> tuple[int, ...]:
        array = "a" in t.pattern
        if r0 is None:
            key = ("params", n, array)
            if key not in memo:
                loads = params_loads(L, t, 0, 0, n, config.array.cols)
                memo[key] = (sum(cost(ld, config) for ld in loads), dram(*loads))
            return memo[key]
        hit = memo.get((r0, n, c, array))
        if hit is not None:
            return hit
        key = (window(r0 * g.sh - g.pt, 1, patch_dims(g, n)[0], g.h), n, c, array)
        if key not in memo:
            tile = (0, r0, n, 0, c)
            box = Box(ACC, L.ydt, 0, (g.ow * c, c, 1))
            m = (n - 1) * patch_dims(g, n)[1] + g.ow
            mms = matmul_offsets(g, c, config.array.cols, patch_dims(g, n)[1]) if array else []
            ld, st = patch_load(L, 0, tile), store_tile(L, box, tile)
            memo[key] = (
                cost(ld, config),
                sum(matmul_cycles(m, mm[3], mm[4], config) for mm in mms),
                sum(vector_cycles(f, n * g.ow * c, config) for f in funcs),
                sum(vector_cycles(f, n * g.ow * c, config) for f in epi),
                cost(st, config),
                dram(ld, st),
            )
        memo[r0, n, c, array] = memo[key]
        return memo[key]

    return costs


def _vfuncs(L: DwLayer) -> list[VFunc]:
    """The vector functions a vector tile runs, in order (from index 2*kpos - 1: the epilogue)."""
    funcs = [VFunc.MUL] + [VFunc.MUL, VFunc.ADD] * (L.g.kpos - 1)
    if fused_bias(L):
        return [*funcs, VFunc.REQUANT_BIAS]
    funcs += [VFunc.ADD] if L.bias else []
    funcs += [L.act[0]] if L.act is not None else []
    return funcs + ([VFunc.REQUANT] if L.requant is not None else [])
