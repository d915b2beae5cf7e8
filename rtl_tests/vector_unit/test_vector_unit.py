"""Bench of the vector unit (``npu_vector_top``): random Vector instructions for every
function the RTL implements, outputs bit-exact against ``simulator.vector.vector_apply`` and
cycles from start to done equal to ``simulator.cost.cost`` for the same ``isa.Vector``.
"""

from __future__ import annotations

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles

from rtl_tests.hdl import design_sources, run_bench, simulators
from rtl_tests.ports import VectorPort, run_handshake, start_clock
from simulator import cost, isa
from simulator.config import load_config
from simulator.semantics import pack_bounds16, pack_qadd, pack_requant_scale
from simulator.vector import int_bits, vector_apply

SOURCES = design_sources("npu_vector_top")
VARIANTS = [(4, 4), (8, 6)]  # (LANES, PIPELINE_DEPTH): tiny's, and a wider, deeper unit
F = isa.VFunc
FUNCS = [F.COPY, F.ADD, F.SUB, F.MAX, F.MIN, F.ADD_IMM, F.RELU, F.CLIP, F.NEG, F.ABS]
FUNCS += [F.REQUANT, F.REQUANT_BIAS, F.QADD, F.RSUM, F.RMAX, F.RMIN]
INT32_EDGES = np.array([-(2**31), 2**31 - 1, -1, 0, 1, -128, 127], dtype=np.int64)


class TB:
    """Clock, reset, the host-port driver, the simulator model and the checker."""

    def __init__(self, dut, seed: int):
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.port = VectorPort(dut)
        self.config = load_config(
            "tiny",
            {"vector.lanes": self.port.lanes, "vector.pipeline_depth": self.port.depth},
        )
        self.checked = 0

    def values(self, shape: tuple[int, ...], dtype: isa.DType) -> np.ndarray:
        if dtype == isa.DType.INT8:
            return self.rng.integers(-128, 128, size=shape).astype(np.int8)
        big = self.rng.integers(-(2**31), 2**31, size=shape)
        small = self.rng.integers(-3000, 3000, size=shape)
        edges = self.rng.choice(INT32_EDGES, size=shape)
        pick = self.rng.integers(0, 3, size=shape)
        return np.choose(pick, [big, small, edges]).astype(np.int32)

    def requant_words(self, shape: tuple[int, ...]) -> np.ndarray:
        """Packed scales: realistic ones, per-row (broadcast) ones and raw extreme shifts."""
        realistic = [pack_requant_scale(s) for s in self.rng.uniform(1e-5, 2.0, size=8)]
        raw = [(int(self.rng.integers(0, 1 << 24)) << 8) | int(s) for s in (0, 1, 31, 62, 63, 255)]
        words = np.array(realistic + raw, dtype=np.int64)
        if self.rng.integers(0, 2):
            per_row = self.rng.choice(words, size=shape[:-1] + (1,))
            return np.broadcast_to(per_row, shape).astype(np.uint32).view(np.int32)
        return self.rng.choice(words, size=shape).astype(np.uint32).view(np.int32)

    def qadd_imms(self) -> list[int]:
        """Packed by ``pack_qadd`` from random scales and zero points, or raw 32-bit words
        (every field's extremes: negative bounds, a shift of 31, the largest multipliers)."""
        if self.rng.integers(0, 2):
            return [int(x) for x in self.rng.integers(0, 1 << 32, size=3)]
        s = self.rng.uniform(1e-3, 1.0, size=3)
        z = [int(x) for x in self.rng.integers(-128, 128, size=3)]
        lo, hi = sorted(int(x) for x in self.rng.integers(-128, 128, size=2))
        imms = pack_qadd((s[0], z[0]), (s[1], z[1]), (s[2], z[2]), lo, hi)
        assert imms is not None, (s, z)
        return [int(x) for x in imms]

    def instruction(self, func: isa.VFunc) -> tuple[isa.Vector, np.ndarray, np.ndarray | None]:
        """A random instruction and its operands (REQUANT_BIAS: src1 is (bias, words))."""
        shape = tuple(int(x) for x in self.rng.integers(1, [4, 5, 40]))
        int32_src = func in (F.REQUANT, F.REQUANT_BIAS)
        src_dtype = isa.DType.INT32 if int32_src else isa.DType(self.rng.choice([0, 2]))
        dst_dtype = isa.DType(self.rng.choice([0, 1, 2]))
        src0 = self.values(shape, src_dtype)
        src1 = None
        imms = [int(x) for x in self.rng.integers(-300, 300, size=3)]
        if func == F.REQUANT:
            src1 = self.requant_words(shape)
            imms = [int(self.rng.integers(-128, 128)), -128, 127]
            if self.rng.integers(0, 2):
                imms[1:] = sorted(int(x) for x in self.rng.integers(-(2**20), 2**20, size=2))
        elif func == F.REQUANT_BIAS:  # the bias broadcast per channel, as the epilogues use it
            bias = self.values(shape[-1:], isa.DType.INT32)
            src1 = (np.broadcast_to(bias, shape).copy(), self.requant_words(shape))
            lo, hi = sorted(int(x) for x in self.rng.integers(-(2**15), 2**15, size=2))
            if self.rng.integers(0, 2):
                lo, hi = -128, 127
            imms = [int(self.rng.integers(-128, 128)), pack_bounds16(lo, hi), 4 * shape[-1]]
        elif func == F.QADD:
            src1 = self.values(shape, src_dtype)
            imms = self.qadd_imms()
        elif func.info.kind == "binary":
            src1 = self.values(shape, src_dtype)
        elif func == F.CLIP:
            imms[:2] = sorted(imms[:2])
        instr = isa.Vector(
            func=int(func),
            n0=shape[0],
            n1=shape[1],
            n2=shape[2],
            dst_dtype=int(dst_dtype),
            src0_dtype=int(src_dtype),
            src1_dtype=int(src_dtype),
            imm0=int_bits(imms[0]),
            imm1=int_bits(imms[1]),
            imm2=int_bits(imms[2]),
        )
        return instr, src0, src1

    async def check(self, instr: isa.Vector, src0: np.ndarray, src1: np.ndarray | None) -> None:
        func = isa.VFunc(instr.func)
        src2 = None
        if func == F.REQUANT_BIAS:
            src1, src2 = src1
        imm = (instr.imm0, instr.imm1, instr.imm2)
        expected = vector_apply(func, src0, src1, *imm, instr.dst_dtype, src2=src2)
        expected = expected.astype(np.int32)
        want_cycles = cost.cost(instr, self.config)
        got, cycles = await self.port.execute(instr, src0, src1, 4 * want_cycles + 100, src2)
        what = f"{func.name} {src0.shape} dst {isa.DType(instr.dst_dtype).name}"
        assert np.array_equal(got, expected.ravel()), f"{what}: {got} != {expected.ravel()}"
        assert cycles == want_cycles, f"{what}: RTL took {cycles} cycles, cost() says {want_cycles}"
        self.checked += 1


@cocotb.test()
async def vector_random_instructions(dut):
    """Every implemented function on random shapes and data; exact data and cycles."""
    tb = TB(dut, seed=99)
    await start_clock(dut)
    for func in FUNCS:
        for _ in range(6):
            await tb.check(*tb.instruction(func))
    dut._log.info("%d vector instructions bit-exact and cycle-exact", tb.checked)


@cocotb.test()
async def rejects_unsupported(dut):
    """A float function, a float destination or a non-VECTOR opcode pulses bad_op."""
    await start_clock(dut)
    cases = [
        (isa.Opcode.VECTOR, F.EXP, isa.DType.INT32),
        (isa.Opcode.VECTOR, F.ADD, isa.DType.FP32),
        (isa.Opcode.MATMUL, F.ADD, isa.DType.INT32),
    ]
    for opcode, func, dtype in cases:
        dut.opcode.value, dut.func.value, dut.dst_dtype.value = int(opcode), int(func), int(dtype)
        dut.start.value = 1
        await ClockCycles(dut.clk, 1)
        dut.start.value = 0
        await ClockCycles(dut.clk, 1)
        assert int(dut.bad_op.value) == 1 and int(dut.busy.value) == 0, (opcode, func, dtype)
    dut.opcode.value, dut.func.value = int(isa.Opcode.VECTOR), int(F.COPY)
    dut.elements.value, dut.row_len.value = 1, 1
    assert await run_handshake(dut, 100) > 0


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
@pytest.mark.parametrize("lanes,depth", VARIANTS, ids=[f"L{a}D{b}" for a, b in VARIANTS])
def test_vector_unit(sim: str, lanes: int, depth: int) -> None:
    run_bench(
        sim=sim,
        bench_file=__file__,
        toplevel="npu_vector_top",
        sources=SOURCES,
        parameters={"LANES": lanes, "PIPELINE_DEPTH": depth},
    )
