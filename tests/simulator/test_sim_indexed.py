"""Gather and Scatter (indexed DMA): rows named by indices in a scratchpad, against numpy;
their cost (one DRAM run set per index) and their errors (an index out of range)."""

import numpy as np
import pytest

import simulator
from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.cost import dma_dram_bytes, dma_runs
from simulator.errors import SimulationError
from simulator.isa import Gather, Load, Scatter, Store, Unit, decode, encode

LD, ST = 1 << Unit.LOAD, 1 << Unit.STORE
TINY = load_config("tiny")
IDX_SP = 0x100  # byte address of the indices in the input scratchpad


def _gather_program(rows: int, dim: int, n: int, idx_dtype: str, window=None):
    """y[i] = table[ids[i]]: ids loaded into the input scratchpad, a Gather of the table's
    rows into the accumulator, a Store."""
    b = ProgramBuilder(TINY)
    table = np.arange(rows * dim, dtype=np.float32).reshape(rows, dim) / 7
    t = b.constant("table", table)
    ids = b.input("ids", (n,), idx_dtype)
    y = b.output("y", (n, dim), "float32")
    es = np.dtype(idx_dtype).itemsize
    b.emit(dma(Load, 0, IDX_SP, ids.addr, (n,), esize=es, signal=LD))
    extra = {} if window is None else dict(lo0=window[0], hi0=window[1], pad=0x3F800000)
    box = (n, 1, dim)  # dim 0 is the indexed one
    gather = dma(Gather, 2, 0, t.addr, box, esize=4, dram_strides=(dim, dim, 1), **extra)
    gather = gather.replace(
        idx_sp=0, idx_addr=IDX_SP, idx_esize_log2=es.bit_length() - 1, rows=rows, signal=ST
    )
    b.emit(gather)
    b.emit(dma(Store, 2, 0, y.addr, (n, dim), esize=4, wait=LD))
    return b.build(), table


@pytest.mark.parametrize("idx_dtype", ["int32", "int64"])
def test_gather_rows_by_index_negative_counts_from_the_end(idx_dtype):
    program, table = _gather_program(10, 6, 5, idx_dtype)
    ids = np.array([3, 0, 9, -1, 3], dtype=idx_dtype)
    result = simulator.run(program, {"ids": ids}, checked=True)
    np.testing.assert_array_equal(result.outputs["y"], table[ids])


def test_gather_window_pads_the_other_rows():
    program, table = _gather_program(10, 6, 5, "int32", window=(1, 3))
    ids = np.array([77, 4, 2, -50, 1], dtype=np.int32)  # outside the window: never read
    y = simulator.run(program, {"ids": ids}).outputs["y"]
    np.testing.assert_array_equal(y[1:3], table[[4, 2]])
    np.testing.assert_array_equal(y[[0, 3, 4]], np.ones((3, 6), np.float32))


@pytest.mark.parametrize("bad", [10, -11])
def test_gather_index_out_of_range_is_a_simulation_error(bad):
    program, _ = _gather_program(10, 6, 3, "int32")
    with pytest.raises(SimulationError, match=rf"GATHER\): index {bad} \(element 1\)"):
        simulator.run(program, {"ids": np.array([0, bad, 1], np.int32)})


def test_scatter_writes_rows_in_order_later_wins():
    b = ProgramBuilder(TINY)
    n, dim, rows = 4, 3, 6
    src = b.input("src", (n, dim), "float32")
    ids = b.input("ids", (n,), "int32")
    y = b.output("y", (rows, dim), "float32")
    b.emit(dma(Load, 0, IDX_SP, ids.addr, (n,), esize=4))
    b.emit(dma(Load, 0, 0, src.addr, (n, dim), esize=4, signal=ST))
    sc = dma(Scatter, 0, 0, y.addr, (n, 1, dim), esize=4, dram_strides=(dim, dim, 1), wait=LD)
    b.emit(sc.replace(idx_addr=IDX_SP, rows=rows))
    program = b.build()
    x = np.arange(n * dim, dtype=np.float32).reshape(n, dim) + 1
    i = np.array([5, 1, -1, 0], np.int32)
    out = simulator.run(program, {"src": x, "ids": i}, checked=True).outputs["y"]
    want = np.zeros((rows, dim), np.float32)
    for k, r in enumerate(i):
        want[r] = x[k]
    np.testing.assert_array_equal(out, want)


def test_indexed_cost_is_one_run_per_index():
    g = dma(Gather, 0, 0, 0, (8, 1, 16), esize=4, dram_strides=(16, 16, 1))
    plain = dma(Load, 0, 0, 0, (8, 1, 16), esize=4, dram_strides=(16, 16, 1))
    assert dma_runs(plain) == (1, 128)
    assert dma_runs(g) == (8, 16)
    assert dma_dram_bytes(g, TINY) == 8 * 64  # each 64-byte row one burst
    assert decode(encode(g.replace(rows=123, idx_esize_log2=3))).rows == 123


def test_table_outside_dram_is_caught_before_the_run():
    program, _ = _gather_program(10, 6, 3, "int32")
    instrs = list(program.instructions)
    instrs[1] = instrs[1].replace(rows=1 << 30)
    bad = program.__class__(**{**program.__dict__, "instructions": instrs})
    with pytest.raises(SimulationError, match="GATHER.*dram_addr"):
        simulator.run(bad, {"ids": np.zeros(3, np.int32)})
