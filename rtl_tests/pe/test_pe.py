"""Bench of one processing element (``npu_pe``): per-edge MAC and forwarding, with weight
loads interleaved, against ``simulator.semantics`` (int8 x int8 products, int32 wrapping)."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from rtl_tests.hdl import rtl_sources, run_bench, simulators
from rtl_tests.ports import CLOCK_NS
from simulator import semantics


class TB:
    """Drives random operands on the falling edge; checks registered outputs after the next."""

    def __init__(self, dut, seed: int):
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.a_bits = int(dut.A_BITS.value)
        self.acc_bits = int(dut.ACC_BITS.value)
        self.weight = None
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())

    def model(self, a: int, psum: int) -> int:
        product = semantics.matmul_int8(np.array([[a]]), np.array([[self.weight]]))
        return int(semantics.wrap_int32(np.int64(psum) + product.astype(np.int64))[0, 0])

    async def step(self, load: bool) -> None:
        dut = self.dut
        a = int(self.rng.choice([-128, 127, int(self.rng.integers(-128, 128))]))
        w = int(self.rng.choice([-128, 127, int(self.rng.integers(-128, 128))]))
        psum = int(self.rng.integers(-(2**31), 2**31))
        dut.a_in.value, dut.w_in.value, dut.psum_in.value = a, w, psum
        dut.w_load.value = int(load)
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        if self.weight is not None:
            assert dut.psum_out.value.to_signed() == self.model(a, psum)
            assert dut.a_out.value.to_signed() == a
        if load:
            self.weight = w


@cocotb.test()
async def pe_mac_and_forward(dut):
    tb = TB(dut, seed=7)
    assert (tb.a_bits, tb.acc_bits) == (8, 32)
    await FallingEdge(dut.clk)
    for i in range(400):
        await tb.step(load=(i == 0) or bool(tb.rng.integers(0, 4) == 0))


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
def test_pe(sim: str) -> None:
    run_bench(
        sim=sim,
        bench_file=__file__,
        toplevel="npu_pe",
        sources=rtl_sources("npu_pe"),
        parameters={"A_BITS": 8, "ACC_BITS": 32},
    )
