"""Bench of the systolic arrays (``npu_matrix_top``, weight-stationary or, with
OUTPUT_STATIONARY=1, output-stationary): random MatMul tiles, outputs bit-exact against
``simulator.semantics.matmul_int8`` and cycles from start to done equal to
``simulator.cost.cost`` for the same ``isa.MatMul`` on the same array size and dataflow.

Setting NPU_RTL_CORRUPT_MODEL=numerics|cycles in the simulator's environment corrupts the
simulator model by one unit; ``test_harness_detects_corruption`` proves the bench then fails.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles

from rtl_tests.hdl import build_dir, design_sources, run_bench, simulators
from rtl_tests.ports import MatrixPort, run_handshake, start_clock
from simulator import cost, isa, semantics
from simulator.config import load_config

SOURCES = design_sources("npu_matrix_top")
ARRAYS = [(2, 2), (4, 4), (8, 8)]
OS_ARRAYS = [(2, 2), (4, 4)]
DATAFLOWS = {0: "weight_stationary", 1: "output_stationary"}
K_MAX = 320


def corrupt_model(kind: str) -> None:
    """Replace the simulator's matmul numerics or cycle formula by a version one unit off."""
    if kind == "numerics":
        exact = semantics.matmul_int8

        def off_by_one(a, w):
            out = exact(a, w)
            out.flat[0] += 1
            return out

        semantics.matmul_int8 = off_by_one
    elif kind == "cycles":
        exact_cycles = cost.matmul_cycles
        cost.matmul_cycles = lambda m, k, n, config: exact_cycles(m, k, n, config) + 1


class TB:
    """Clock, reset, the host-port driver, the simulator model and the checker."""

    def __init__(self, dut, seed: int):
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.port = MatrixPort(dut, self.rng)
        self.rows, self.cols = self.port.rows, self.port.cols
        self.dataflow = DATAFLOWS[int(self.port.output_stationary)]
        self.config = load_config(
            "tiny",
            {"array.rows": self.rows, "array.cols": self.cols, "array.dataflow": self.dataflow},
        )
        self.checked = 0

    def operands(self, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.rng.integers(-128, 128, size=(m, k)).astype(np.int8)
        w = self.rng.integers(-128, 128, size=(k, n)).astype(np.int8)
        style = self.rng.integers(0, 4)
        if style == 0:  # the extremes: -128 * -128 summed over k
            a[:] = -128
            w[:] = self.rng.choice([-128, 127], size=w.shape)
        elif style == 1:
            a.flat[self.rng.integers(0, a.size, size=max(1, a.size // 3))] = 127
            w.flat[self.rng.integers(0, w.size, size=max(1, w.size // 3))] = -128
        return a, w

    async def check_tile(self, m: int, k: int, n: int, accumulate: int) -> None:
        instr = isa.MatMul(dtype=isa.DType.INT8, accumulate=accumulate, m=m, k=k, n=n)
        a, w = self.operands(m, k, n)
        c_in = self.rng.integers(-(2**31), 2**31, size=(m, n)).astype(np.int32)
        product = semantics.matmul_int8(a, w)
        expected = semantics.wrap_int32(c_in.astype(np.int64) + product) if accumulate else product
        want_cycles = cost.cost(instr, self.config)
        got, cycles = await self.port.execute(instr, a, w, c_in, timeout=4 * want_cycles + 100)
        shape = f"M={m} K={k} N={n} acc={accumulate} on {self.rows}x{self.cols} {self.dataflow}"
        assert np.array_equal(got, expected), f"{shape}: outputs differ\n{got}\n!=\n{expected}"
        assert cycles == want_cycles, (
            f"{shape}: RTL took {cycles} cycles, cost() says {want_cycles}"
        )
        self.checked += 1

    def shapes(self) -> list[tuple[int, int, int, int]]:
        """Every (M, N) up to the array size with a random K, then multi-fold tiles.

        Output-stationary: the sweep three times, and 8 more multi-fold tiles with K <= 2R
        (a fold takes max(K, R) slots: the drain of one fold against the next's capture)."""
        r, c = self.rows, self.cols
        ks = [1, r, r + 1, K_MAX]
        out = []
        for _ in range(3 if self.dataflow == "output_stationary" else 1):
            for m in range(1, r + 1):
                for n in range(1, c + 1):
                    k = ks[len(out)] if len(out) < 4 else int(self.rng.integers(1, K_MAX + 1))
                    out.append((m, k, n, int(self.rng.integers(0, 2))))
        k_ranges = [K_MAX] + ([2 * r] if self.dataflow == "output_stationary" else [])
        for k_max in k_ranges:
            for _ in range(8):
                m = int(self.rng.integers(1, 3 * r + 2))
                n = int(self.rng.integers(1, 2 * c + 2))
                k = int(self.rng.integers(1, k_max + 1))
                out.append((m, k, n, int(self.rng.integers(0, 2))))
        limit = int(os.environ.get("NPU_RTL_TILES", "0"))
        return out[:limit] if limit else out


@cocotb.test()
async def matmul_random_tiles(dut):
    """Every shape up to the array, K from 1 to K_MAX, multi-fold tiles; exact data and cycles."""
    corrupt_model(os.environ.get("NPU_RTL_CORRUPT_MODEL", ""))
    tb = TB(dut, seed=1234)
    await start_clock(dut)
    for m, k, n, acc in tb.shapes():
        await tb.check_tile(m, k, n, acc)
    dut._log.info(
        "%d tiles bit-exact and cycle-exact on %dx%d %s", tb.checked, tb.rows, tb.cols, tb.dataflow
    )


@cocotb.test()
async def rejects_other_opcodes(dut):
    """A start with a non-MATMUL opcode pulses bad_opcode and leaves the array idle."""
    await start_clock(dut)
    dut.opcode.value = int(isa.Opcode.VECTOR)
    dut.start.value = 1
    await ClockCycles(dut.clk, 1)
    dut.start.value = 0
    await ClockCycles(dut.clk, 1)
    assert int(dut.bad_opcode.value) == 1 and int(dut.busy.value) == 0
    dut.opcode.value = int(isa.Opcode.MATMUL)
    dut.m.value, dut.k.value, dut.n.value, dut.accumulate.value = 1, 1, 1, 0
    assert await run_handshake(dut, 100) > 0


def _run(sim: str, rows: int, cols: int, output_stationary: int = 0, **kw) -> None:
    parameters = {"ROWS": rows, "COLS": cols}
    if output_stationary:  # the weight-stationary builds keep their folders
        parameters["OUTPUT_STATIONARY"] = 1
    run_bench(
        sim=sim,
        bench_file=__file__,
        toplevel="npu_matrix_top",
        sources=SOURCES,
        parameters=parameters,
        **kw,
    )


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
@pytest.mark.parametrize("rows,cols", ARRAYS, ids=[f"{r}x{c}" for r, c in ARRAYS])
def test_systolic_array(sim: str, rows: int, cols: int) -> None:
    _run(sim, rows, cols)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
@pytest.mark.parametrize("rows,cols", OS_ARRAYS, ids=[f"{r}x{c}" for r, c in OS_ARRAYS])
def test_systolic_array_output_stationary(sim: str, rows: int, cols: int) -> None:
    _run(sim, rows, cols, output_stationary=1)


@pytest.mark.rtl
@pytest.mark.parametrize("kind", ["numerics", "cycles"])
def test_harness_detects_corruption(kind: str) -> None:
    """The bench is not vacuous: a model one unit off in numbers or cycles makes it fail,
    and the failure is the checker's (read back from cocotb's results file)."""
    sim = simulators()[0]
    with pytest.raises(SystemExit):
        _run(
            sim,
            2,
            2,
            extra_env={"NPU_RTL_CORRUPT_MODEL": kind, "NPU_RTL_TILES": "6"},
            testcase="matmul_random_tiles",
        )
    folder = build_dir("npu_matrix_top", sim, {"ROWS": 2, "COLS": 2})
    results = (folder / f"test_harness_detects_corruption[{kind}].result.xml").read_text()
    assert ("outputs differ" if kind == "numerics" else "cost() says") in results
