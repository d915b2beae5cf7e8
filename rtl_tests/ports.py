"""Drivers for the host ports of the RTL units: pack operands into scratchpad words, run one
instruction through the start/done handshake, and read results back.

These are shared by the per-unit benches and the replay harness. They hold no semantics:
expected values always come from the simulator package (``simulator.semantics``,
``simulator.vector``, ``simulator.cost``).
"""

from __future__ import annotations

from math import ceil

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, RisingEdge, with_timeout

from simulator import isa

CLOCK_NS = 10


def pack(values: np.ndarray, bits: int) -> int:
    """Lanes (lane 0 first) as one unsigned word of len(values) * bits bits."""
    mask = (1 << bits) - 1
    word = 0
    for lane, v in enumerate(np.asarray(values, dtype=np.int64).tolist()):
        word |= (v & mask) << (lane * bits)
    return word


def unpack(word: int, lanes: int, bits: int) -> np.ndarray:
    """The inverse of ``pack`` with sign extension, as int64."""
    mask = (1 << bits) - 1
    out = [(word >> (lane * bits)) & mask for lane in range(lanes)]
    return np.array([v - (1 << bits) if v >> (bits - 1) else v for v in out], dtype=np.int64)


def padded(block: np.ndarray, rows: int, cols: int, fill: np.ndarray) -> np.ndarray:
    """``block`` in the top-left of ``fill[:rows, :cols]`` (fill is garbage the RTL must mask)."""
    out = fill[:rows, :cols].copy()
    out[: block.shape[0], : block.shape[1]] = block
    return out


async def start_clock(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 1
    dut.start.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def write_words(dut, port: str, words: list[int]) -> None:
    """Write ``words`` at addresses 0.. through host port ``port`` (one word per cycle)."""
    we = getattr(dut, f"host_{port}_we")
    addr = getattr(dut, f"host_{port}_addr")
    data = getattr(dut, f"host_{port}_wdata")
    for i, word in enumerate(words):
        we.value = 1
        addr.value = i
        data.value = word
        await RisingEdge(dut.clk)
    we.value = 0


async def read_words(dut, port: str, count: int) -> list[int]:
    """Read ``count`` words at addresses 0.. through the combinational host read port."""
    addr = getattr(dut, f"host_{port}_addr")
    data = getattr(dut, f"host_{port}_rdata")
    out = []
    for i in range(count):
        addr.value = i
        await FallingEdge(dut.clk)
        out.append(int(data.value))
    return out


async def run_handshake(dut, timeout_cycles: int) -> int:
    """Pulse start, wait for done; the cycles from the edge sampling start to done's edge."""
    dut.start.value = 1
    await RisingEdge(dut.clk)
    t0 = get_sim_time(unit="ns")
    dut.start.value = 0
    await with_timeout(RisingEdge(dut.done), timeout_cycles * CLOCK_NS, "ns")
    cycles = (get_sim_time(unit="ns") - t0) / CLOCK_NS
    await FallingEdge(dut.clk)
    return int(round(cycles))


class MatrixPort:
    """The host side of ``npu_matrix_top``: lays out A, W, C as its scratchpads expect (the
    A and W layouts of the weight- or output-stationary array the design was built with)."""

    def __init__(self, dut, rng: np.random.Generator):
        self.dut = dut
        self.rows = int(dut.ROWS.value)
        self.cols = int(dut.COLS.value)
        self.output_stationary = bool(int(dut.OUTPUT_STATIONARY.value))
        self.rng = rng

    def _garbage(self, shape: tuple[int, int]) -> np.ndarray:
        return self.rng.integers(-128, 128, size=shape)

    def a_words(self, a: np.ndarray) -> list[int]:
        m, k = a.shape
        r = self.rows
        if self.output_stationary:  # lane i of word mb*k + kk: A[mb*r + i, kk]
            mb = ceil(m / r)
            full = padded(a, mb * r, k, self._garbage((mb * r, k)))
            return [pack(full[b * r : (b + 1) * r, kk], 8) for b in range(mb) for kk in range(k)]
        kb = ceil(k / r)
        full = padded(a, m, kb * r, self._garbage((m, kb * r)))
        return [pack(full[i, b * r : (b + 1) * r], 8) for b in range(kb) for i in range(m)]

    def w_words(self, w: np.ndarray) -> list[int]:
        k, n = w.shape
        r, c = self.rows, self.cols
        if self.output_stationary:  # lane j of word nb*k + kk: W[kk, nb*c + j]
            nb = ceil(n / c)
            full = padded(w, k, nb * c, self._garbage((k, nb * c)))
            return [pack(full[kk, b * c : (b + 1) * c], 8) for b in range(nb) for kk in range(k)]
        kb, nb = ceil(k / r), ceil(n / c)
        full = padded(w, kb * r, nb * c, self._garbage((kb * r, nb * c)))
        return [pack(full[row, b * c : (b + 1) * c], 8) for b in range(nb) for row in range(kb * r)]

    def c_words(self, c_mat: np.ndarray) -> list[int]:
        m, n = c_mat.shape
        c = self.cols
        nb = ceil(n / c)
        full = padded(c_mat, m, nb * c, np.zeros((m, nb * c), dtype=np.int64))
        return [pack(full[i, b * c : (b + 1) * c], 32) for b in range(nb) for i in range(m)]

    def c_matrix(self, words: list[int], m: int, n: int) -> np.ndarray:
        c = self.cols
        nb = ceil(n / c)
        rows = [unpack(words[b * m + i], c, 32) for i in range(m) for b in range(nb)]
        full = np.concatenate(rows).reshape(m, nb * c)
        return full[:, :n].astype(np.int32)

    async def execute(
        self, instr: isa.MatMul, a: np.ndarray, w: np.ndarray, c_in: np.ndarray, timeout: int
    ) -> tuple[np.ndarray, int]:
        """Run one MatMul on operands A[m,k], W[k,n] (as the array reads them) and C[m,n].

        Returns C after the instruction and the cycles from start to done.
        """
        dut = self.dut
        await write_words(dut, "a", self.a_words(a))
        await write_words(dut, "w", self.w_words(w))
        c_words = self.c_words(c_in)
        await write_words(dut, "c", c_words)
        dut.opcode.value = int(instr.OPCODE)
        dut.m.value, dut.k.value, dut.n.value = instr.m, instr.k, instr.n
        dut.accumulate.value = instr.accumulate
        cycles = await run_handshake(dut, timeout)
        words = await read_words(dut, "c", len(c_words))
        return self.c_matrix(words, instr.m, instr.n), cycles


class VectorPort:
    """The host side of ``npu_vector_top``: flat lane-vectors in, flat results out."""

    def __init__(self, dut):
        self.dut = dut
        self.lanes = int(dut.LANES.value)
        self.depth = int(dut.PIPELINE_DEPTH.value)

    def words(self, flat: np.ndarray) -> list[int]:
        lanes = self.lanes
        full = np.zeros(ceil(flat.size / lanes) * lanes, dtype=np.int64)
        full[: flat.size] = flat
        return [pack(full[i : i + lanes], 32) for i in range(0, full.size, lanes)]

    async def execute(
        self,
        instr: isa.Vector,
        src0: np.ndarray,
        src1: np.ndarray | None,
        timeout: int,
        src2: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        """Run one Vector instruction on its operands as gathered (flat (i0, i1, i2) order;
        ``src2``: REQUANT_BIAS's scale words).

        Returns the destination values (one per element, or one per row for reductions) as
        int32 and the cycles from start to done.
        """
        dut = self.dut
        elements = instr.n0 * instr.n1 * instr.n2
        await write_words(dut, "s0", self.words(np.ravel(src0)))
        if src1 is not None:
            await write_words(dut, "s1", self.words(np.ravel(src1)))
        if src2 is not None:
            await write_words(dut, "s2", self.words(np.ravel(src2)))
        dut.opcode.value = int(instr.OPCODE)
        dut.func.value = instr.func
        dut.elements.value = elements
        dut.row_len.value = instr.n2
        dut.imm0.value, dut.imm1.value, dut.imm2.value = instr.imm0, instr.imm1, instr.imm2
        dut.dst_dtype.value = instr.dst_dtype
        cycles = await run_handshake(dut, timeout)
        reduce = isa.VFunc(instr.func).info.kind == "reduce"
        count = elements // instr.n2 if reduce else elements
        words = await read_words(dut, "d", count)
        return unpack_all(words), cycles


def unpack_all(words: list[int]) -> np.ndarray:
    return np.array([w - (1 << 32) if w >> 31 else w for w in words], dtype=np.int64).astype(
        np.int32
    )
