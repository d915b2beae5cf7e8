"""Cycle counts of hand-built programs against the cost formulas."""

import numpy as np
import pytest
from sim_programs import conv_program

import simulator
from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.cost import cost, matmul_cycles, vector_cycles
from simulator.isa import DType, Load, MatMul, Store, Unit, Vector, VFunc

LD, MX, VE, ST = (1 << u for u in Unit)
TINY = load_config("tiny")  # DRAM: latency 20, 8 bytes/cycle, 64-byte bursts


def run_cycles(b: ProgramBuilder, inputs=None) -> int:
    return simulator.run(b.build(), inputs or {}).stats.total_cycles


def test_single_load_takes_latency_plus_bytes_over_bandwidth():
    b = ProgramBuilder(TINY)
    b.emit(dma(Load, 0, 0, 0, (4, 128)))
    assert run_cycles(b) == 20 + 512 // 8 == cost(b.instructions[0], TINY)


def test_short_runs_cost_whole_bursts():
    b = ProgramBuilder(TINY)
    b.emit(dma(Load, 0, 0, 0, (4, 8), dram_strides=(100, 1)))  # 4 runs of 8 bytes
    assert run_cycles(b) == 20 + 4 * 64 // 8


def test_dma_bound_copy_serialised_is_sum_of_transfers():
    b = ProgramBuilder(TINY)
    x = b.input("x", (8, 256), "int8")
    y = b.output("y", (8, 256), "int8")
    for t in range(8):
        b.emit(dma(Load, 0, 0, x.addr + 256 * t, (256,), wait=ST if t else 0, signal=ST))
        b.emit(dma(Store, 0, 0, y.addr + 256 * t, (256,), wait=LD, signal=LD if t < 7 else 0))
    xv = np.arange(8 * 256).reshape(8, 256).astype(np.int8)
    result = simulator.run(b.build(), {"x": xv})
    np.testing.assert_array_equal(result.outputs["y"], xv)
    assert result.stats.total_cycles == 8 * 2 * (20 + 256 // 8)
    assert result.stats.dram_read_bytes == result.stats.dram_write_bytes == 8 * 256


def test_concurrent_transfers_share_dram_bandwidth():
    b = ProgramBuilder(TINY)
    b.emit(dma(Load, 0, 0, 0, (512,)))
    b.emit(dma(Store, 1, 0, 1024, (256,)))
    result = simulator.run(b.build(), {})
    # Both in their data phase from cycle 20: the store's 256 bytes move at 4 B/cycle (64
    # cycles), then the load's remaining 256 bytes at 8 B/cycle (32 cycles).
    assert result.stats.busy == {"load": 116, "matrix": 0, "vector": 0, "store": 84}
    assert result.stats.total_cycles == 116


def test_double_buffering_overlaps_dma_and_compute():
    h, w, cin, cout = 6, 6, 16, 4
    x = np.ones((h, w, cin), np.int8)
    serial, _ = conv_program(TINY, h, w, cin, cout, double_buffer=False)
    double, _ = conv_program(TINY, h, w, cin, cout, double_buffer=True)
    serial_cycles = simulator.run(serial, {"x": x}).stats.total_cycles
    double_cycles = simulator.run(double, {"x": x}).stats.total_cycles
    # Serialised: every instruction waits for the previous one, so the total is the sum.
    assert serial_cycles == sum(cost(i, TINY) for i in serial.instructions)
    assert double_cycles < 0.8 * serial_cycles


def test_matrix_and_vector_take_exactly_their_cost():
    b = ProgramBuilder(TINY)
    b.emit(MatMul(m=10, k=9, n=7, a_stride=9, w_stride=7, c_stride=7, signal=VE))
    b.emit(Vector(wait=MX, func=VFunc.SIGMOID, n2=37, src0_dtype=DType.FP32, dst_dtype=3))
    expected = matmul_cycles(10, 9, 7, TINY) + vector_cycles(VFunc.SIGMOID, 37, TINY)
    assert run_cycles(b) == expected
    assert vector_cycles(VFunc.SIGMOID, 37, TINY) == 10 * 4 + 4  # 37 elements on 4 lanes


@pytest.mark.parametrize("dataflow", ["weight_stationary", "output_stationary"])
def test_scalesim_mode_sums_scalesim_compute_cycles(dataflow):
    config = TINY.with_overrides({"timing": "scalesim", "array.dataflow": dataflow})
    b = ProgramBuilder(config)
    shapes = [(16, 8, 8), (5, 12, 3), (64, 4, 4)]
    b.emit(dma(Load, 0, 0, 0, (256,), signal=MX))
    for m, k, n in shapes:
        b.emit(MatMul(m=m, k=k, n=n, a_stride=k, w_stride=n, c_stride=n, wait=LD if m == 16 else 0))
    b.emit(Vector(func=VFunc.RELU, n2=64, src0_dtype=2, dst_dtype=2))
    r, c = 4, 4
    if dataflow == "weight_stationary":
        expected = sum(-(-k // r) * -(-n // c) * (2 * r + c + m - 2) - 1 for m, k, n in shapes)
    else:
        expected = sum(-(-m // r) * -(-n // c) * (k + r + c - 2) - 1 for m, k, n in shapes)
    assert run_cycles(b) == expected


def test_full_instruction_queue_stalls_dispatch():
    def matmul_start(depth: int) -> int:
        b = ProgramBuilder(TINY.with_overrides({"queues.instr_depth": depth}))
        for _ in range(3):
            b.emit(dma(Load, 0, 0, 0, (512,)))
        b.emit(MatMul(m=4, k=4, n=4, a_stride=4, w_stride=4, c_stride=4))
        trace = simulator.run(b.build(), {}, trace=True).trace_events
        return next(e["args"]["start_cycle"] for e in trace if e.get("cat") == "matmul")

    assert matmul_start(depth=8) == 0
    assert matmul_start(depth=1) == 20 + 512 // 8  # waits until the first load completes


def test_full_token_channel_blocks_the_producer():
    def second_matmul_start(token_depth: int) -> int:
        b = ProgramBuilder(TINY.with_overrides({"queues.token_depth": token_depth}))
        b.emit(dma(Load, 0, 0, 0, (512,), signal=VE))
        mm = MatMul(m=4, k=4, n=4, a_stride=4, w_stride=4, c_stride=4, signal=VE)
        b.emit(mm)
        b.emit(mm)
        vec = Vector(func=VFunc.COPY, n2=4, src0_dtype=2, dst_dtype=2, dst_addr=64)
        b.emit(vec.replace(wait=LD | MX))
        b.emit(vec.replace(wait=MX))
        trace = simulator.run(b.build(), {}, trace=True).trace_events
        return [e["args"]["start_cycle"] for e in trace if e.get("cat") == "matmul"][1]

    assert second_matmul_start(token_depth=8) == matmul_cycles(4, 4, 4, TINY)
    assert second_matmul_start(token_depth=1) == 20 + 512 // 8  # after the vector pops


def test_timing_is_deterministic():
    program, _ = conv_program(TINY, 6, 6, 16, 4)
    x = np.ones((6, 6, 16), np.int8)
    first = simulator.run(program, {"x": x}).stats.to_dict()
    assert simulator.run(program, {"x": x}).stats.to_dict() == first
