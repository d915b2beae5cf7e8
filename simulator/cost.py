"""The cost model: how many cycles one instruction occupies its unit, in isolation.

``cost(instr, config)`` is the single source of instruction latency. The simulator's timing
model adds only what depends on other instructions (queues, tokens, DRAM bandwidth shared by
concurrent transfers); the compiler's tiler calls the same function to choose tile sizes; the
RTL of the systolic array and the vector unit reproduce ``matmul_cycles`` and
``vector_cycles`` cycle for cycle (the cocotb benches assert equality).
"""

from __future__ import annotations

from math import ceil

from simulator import footprint
from simulator.config import NpuConfig
from simulator.isa import INDEXED, Dma, End, Instr, MatMul, Sync, Vector, VFunc


def cost(instr: Instr, config: NpuConfig) -> int:
    """Cycles ``instr`` keeps its unit busy, without contention."""
    if isinstance(instr, MatMul):
        return matmul_cycles(instr.m, instr.k, instr.n, config)
    if isinstance(instr, Vector):
        return vector_cycles(VFunc(instr.func), instr.n0 * instr.n1 * instr.n2, config)
    if isinstance(instr, Dma):
        return dma_cycles(dma_dram_bytes(instr, config), config)
    if isinstance(instr, Sync):
        return 1
    if isinstance(instr, End):
        return 0
    raise TypeError(f"no cost for {type(instr).__name__}")


def folds(rows: int, cols: int, sr: int, sc: int) -> int:
    """How many times an sr x sc operand block is loaded onto a rows x cols array."""
    return ceil(sr / rows) * ceil(sc / cols)


def matmul_cycles(m: int, k: int, n: int, config: NpuConfig) -> int:
    """Cycles from start to done of C[m,n] (+)= A[m,k] @ W[k,n] on the array.

    Weight-stationary (default ``npu`` timing), as ``rtl_tests/rtl/npu_systolic_array.v``
    implements it cycle for cycle: W is cut into F = ceil(k/R) * ceil(n/C) folds of R x C.
    A fold takes max(m, R) issue slots: one W row per slot (R) and, one slot behind, one A row
    per slot (m); W rows are written into the PEs with the same diagonal skew as the
    activations, so the next fold's weights follow the last activation through the array and
    loading overlaps streaming (also for the first fold). After the last fold's m slots come
    1 (A one slot behind W) + 1 (scratchpad read) + R + C - 1 (PE(0,0) to PE(R-1,C-1))
    + 1 (accumulator write, with done):
    (F - 1) * max(m, R) + m + R + C + 1.

    Output-stationary, as ``rtl_tests/rtl/npu_systolic_array_os.v`` implements it cycle for
    cycle: C is cut into F = ceil(m/R) * ceil(n/C) folds of R x C, each accumulating in the
    PEs while its k operand pairs stream, one A column and one W row per slot. A fold's R result
    rows drain out of the bottom, one per cycle, while the next fold streams, so a fold takes
    max(k, R) slots. After the last fold's k slots (read at cycles 1..k) come 1 (column 0 takes
    the last product) + C - 1 (W is skewed one cycle per column) + R (the rows leave the drain
    chain and are written one per cycle, the last with done):
    (F - 1) * max(k, R) + k + R + C.

    ``scalesim`` timing reproduces SCALE-Sim 3.0's compute cycles: no overlap between folds,
    folds * per_fold - 1 with per_fold = 2R + C + T - 2 (WS, T = m) or T + R + C - 2 (OS, T = k).
    """
    r, c = config.array.rows, config.array.cols
    ws = config.array.dataflow == "weight_stationary"
    if config.timing == "scalesim":
        if ws:
            return folds(r, c, k, n) * (2 * r + c + m - 2) - 1
        return folds(r, c, m, n) * (k + r + c - 2) - 1
    if ws:
        f = folds(r, c, k, n)
        return (f - 1) * max(m, r) + m + r + c + 1
    f = folds(r, c, m, n)
    return (f - 1) * max(k, r) + k + r + c


def vector_cycles(func: VFunc, elements: int, config: NpuConfig) -> int:
    """ceil(elements / lanes) lane-vectors, each taking the function's cycles, plus the pipeline."""
    if config.timing == "scalesim":
        return 0
    return ceil(elements / config.vector.lanes) * func.info.cycles + config.vector.pipeline_depth


def dma_cycles(dram_bytes: int, config: NpuConfig) -> int:
    """DRAM latency plus the bytes at full bandwidth (SCALE-Sim mode: no DRAM stalls)."""
    if config.timing == "scalesim":
        return 0
    return config.dram.latency + ceil(dram_bytes / config.dram.bytes_per_cycle)


def dma_window(instr: Dma) -> tuple[int, int, int]:
    """Elements per dimension that move between DRAM and the scratchpad (the shape of the
    transfer's DRAM region, ``simulator.footprint``)."""
    return footprint.dma_window(instr).shape


def dma_runs(instr: Dma) -> tuple[int, int]:
    """(number of contiguous DRAM runs, elements per run) of a transfer's window.

    An indexed transfer (Gather, Scatter) never merges dim 0: each index names its own row,
    so its runs are those of one row, once per index."""
    w0, w1, w2 = dma_window(instr)
    total = w0 * w1 * w2
    if total == 0:
        return 0, 0
    if isinstance(instr, INDEXED):
        if instr.ds2 != 1:
            return total, 1
        run = w2 * w1 if instr.ds1 == w2 else w2
        return total // run, run
    if instr.ds2 == 0:  # a broadcast reads each (i0, i1) element once
        return w0 * w1, 1
    if instr.ds2 != 1:
        return total, 1
    run = w2
    if instr.ds1 == w2:
        run *= w1
        if instr.ds0 == w1 * w2:
            run *= w0
    return total // run, run


def dma_dram_bytes(instr: Dma, config: NpuConfig) -> int:
    """Bytes the DRAM actually moves: each contiguous run rounded up to whole bursts."""
    runs, run = dma_runs(instr)
    burst = config.dram.burst_bytes
    return runs * ceil(run * instr.esize / burst) * burst


def macs(instr: Instr) -> int:
    return instr.m * instr.k * instr.n if isinstance(instr, MatMul) else 0
