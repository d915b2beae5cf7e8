"""Simulator throughput: instructions and simulated MACs per second on ~10,000 tile instructions.

The program is a double-buffered int8 GEMM pipeline on the base config, as a compiler emits
it: per tile LOAD A, LOAD W, MATMUL, VECTOR REQUANT (to int8), STORE, with tokens between the
units. Target: >= 50,000 instructions/s including numerics, recorded in ``extra_info`` (with
whether this run met it) and not asserted: the development VM is shared.

Measured on 2026-11-21 on the shared 2-core VM (other agents' jobs running; process time
of whole ``simulator.run`` calls):
- before the throughput work (commit 294576e): min 0.336 s / mean 0.41 s at load ~0.3
  (25,000-30,000 instructions/s); interleaved with the new code at load ~1: min 280 ms.
- at 861b885, load 0.8-1.3: min 0.191 s (52,300 instructions/s), mean of 11 0.220 s (45,000/s);
  wall min 0.193 s (51,700/s), but wall exceeds process time by 50-100 ms a run whenever
  another job shares the cores. This test's own run at load 1.3: process time 48,500/s,
  wall 32,000/s (means of 3 rounds).
- at 861b885, load ~3: min 0.198-0.348 s of process time (50,500-28,700/s), wall means down to
  0.66 s; at load 5.9 wall means down to 0.83 s (12,000/s).
- interleaved old/new runs: 280 -> 191 ms (load ~1), 517 -> 319 ms (load ~3); machine
  instructions per simulated instruction under callgrind (a 2,001-instruction version of this
  program) 155,000 before, 111,000 at 861b885.
- now: the numerics run after the event loop is done (commit 315c2ab; inside it they evicted
  its state from the caches: the callgrind count stays ~111,000, but loop + numerics take ~19%
  less time in a same-process A/B), DRAM views as rows of one per-layout view
  and a cheaper ``decode.distinct``, interleaved with 861b885 at load 2.4-2.9 (50 runs each):
  min 0.191 -> 0.168 s (52,300 -> 59,700/s), mean 0.261 -> 0.198 s (38,400 -> 50,600/s); the
  quieter rounds alone ~0.20-0.21 -> ~0.17-0.18 s (12-15%). This test's own run at load 2.4:
  process time 54,300/s (a second run: 45,400/s).
So the mean in process time now meets the target, narrowly, at load ~2.5 (50,600/s over 50
runs); single rounds on a busy core still fall short (45,400/s). The assertions
are regression floors about 2.5x below the lowest means measured now (wall 12,000/s at load
5.9, process time 24,000/s at load 3).
"""

import time

import numpy as np

import simulator
from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.isa import DType, Load, MatMul, Store, Unit, Vector, VFunc
from simulator.semantics import pack_requant_scale
from simulator.vector import int_bits

LD, MX, VE, ST = (1 << u for u in Unit)
TILES = 2000  # x 5 instructions
M, K, N = 64, 64, 32
TARGET_INSTRUCTIONS_PER_S = 50_000  # recorded, not asserted: see the module docstring
FLOOR_INSTRUCTIONS_PER_S = 5_000  # wall-clock: the machine is shared
FLOOR_INSTRUCTIONS_PER_CPU_S = 10_000  # process time


def pipeline_program(tiles: int = TILES):
    b = ProgramBuilder(load_config("base"), const_base=1 << 24)
    x = b.input("x", (tiles, M, K), "int8")
    y = b.output("y", (tiles, M, N), "int8")
    rng = np.random.default_rng(0)
    w = b.constant("w", rng.integers(-128, 128, (8, K, N)).astype(np.int8))
    scale = b.constant("scale", np.full(N, pack_requant_scale(1 / 256), np.uint32))
    b.emit(dma(Load, 1, 64 * 1024, scale.addr, (N,), esize=4))
    for t in range(tiles):
        buf = t % 2
        b.emit(dma(Load, 0, buf * M * K, x.addr + t * M * K, (M, K), wait=MX if t >= 2 else 0))
        b.emit(
            dma(
                Load,
                1,
                buf * K * N,
                w.addr + (t % 8) * K * N,
                (K, N),
                signal=MX,
            )
        )
        b.emit(
            MatMul(
                wait=LD | (VE if t >= 2 else 0),
                signal=VE | (LD if t + 2 < tiles else 0),
                dtype=DType.INT8,
                a_addr=buf * M * K,
                w_addr=buf * K * N,
                c_addr=buf * M * N * 4,
                m=M,
                k=K,
                n=N,
                a_stride=K,
                w_stride=N,
                c_stride=N,
            )
        )
        b.emit(
            Vector(
                wait=MX | (ST if t >= 2 else 0),
                signal=ST | (MX if t + 2 < tiles else 0),
                func=VFunc.REQUANT,
                n1=M,
                n2=N,
                src0_sp=2,
                src0_dtype=DType.INT32,
                src0_addr=buf * M * N * 4,
                src0_s1=N,
                src1_sp=1,
                src1_dtype=DType.INT32,
                src1_addr=64 * 1024,
                src1_s1=0,
                dst_sp=0,
                dst_dtype=DType.INT8,
                dst_addr=128 * 1024 + buf * M * N,
                dst_s1=N,
                imm1=int_bits(-128),
                imm2=int_bits(127),
            )
        )
        b.emit(
            dma(
                Store,
                0,
                128 * 1024 + buf * M * N,
                y.addr + t * M * N,
                (M, N),
                wait=VE,
                signal=VE if t + 2 < tiles else 0,
            )
        )
    return b.build()


def test_simulator_throughput(benchmark):
    program = pipeline_program()
    x = np.random.default_rng(1).integers(-128, 128, (TILES, M, K)).astype(np.int8)
    cpu_seconds = []

    def run():
        start = time.process_time()
        result = simulator.run(program, {"x": x})
        cpu_seconds.append(time.process_time() - start)
        return result

    result = benchmark.pedantic(run, rounds=3, iterations=1)
    seconds = benchmark.stats.stats.mean
    cpu = sum(cpu_seconds) / len(cpu_seconds)
    instructions = len(program.instructions)
    benchmark.extra_info["instructions"] = instructions
    benchmark.extra_info["instructions_per_s"] = instructions / seconds
    benchmark.extra_info["instructions_per_cpu_s"] = instructions / cpu
    benchmark.extra_info["simulated_macs_per_s"] = result.stats.macs / seconds
    benchmark.extra_info["simulated_macs_per_cpu_s"] = result.stats.macs / cpu
    benchmark.extra_info["target_instructions_per_s"] = TARGET_INSTRUCTIONS_PER_S
    benchmark.extra_info["target_met_cpu"] = (
        instructions / min(cpu_seconds) >= TARGET_INSTRUCTIONS_PER_S
    )
    assert result.stats.macs == TILES * M * K * N
    assert instructions / seconds >= FLOOR_INSTRUCTIONS_PER_S
    assert instructions / cpu >= FLOOR_INSTRUCTIONS_PER_CPU_S


if __name__ == "__main__":
    program = pipeline_program()
    x = np.random.default_rng(1).integers(-128, 128, (TILES, M, K)).astype(np.int8)
    t0, c0 = time.perf_counter(), time.process_time()
    result = simulator.run(program, {"x": x})
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    n = len(program.instructions)
    print(
        f"{n / dt:,.0f} instr/s wall, {n / dc:,.0f} instr/s cpu, {result.stats.macs / dt:,.0f} MAC/s"
    )
    print(result.stats.total_cycles, result.stats.utilization)
