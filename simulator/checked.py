"""Checked mode: detect data races between queues (missing tokens in compiler output).

Each unit keeps a vector clock ``vc[u][v]``: the number of unit v's instructions that unit u
knows have completed. A token carries its producer's clock; popping it merges that clock into
the consumer's. A unit always knows its own earlier instructions (queues are in order).

Every memory byte remembers its last writer (instruction index) and its last reader on each
unit (a reader array is made when a unit first reads that memory: only LOAD reads DRAM).
When unit B starts an instruction, for the bytes of its footprint (``simulator.footprint``):
- read-after-write: a byte it reads was written by unit A's instruction #s with A != B and
  ``vc[B][A] < s`` (A has not signalled B, directly or transitively, since that write);
- write-after-write: the same test on the bytes it writes;
- write-after-read: a byte it writes was read by unit R's instruction #s, R != B, with
  ``vc[B][R] < s`` (in DRAM: a STORE overwriting bytes a LOAD read with no token between).
Each raises ``SimulationError`` naming both instructions, their units and the address. Bytes
written by the host count as always visible. This mode costs a few numpy index operations per
byte touched.
"""

from __future__ import annotations

import numpy as np

from simulator.errors import SimulationError
from simulator.footprint import Region
from simulator.functional import Op
from simulator.isa import Instr, Unit
from simulator.memory import MEM_NAMES, Memory


def byte_addresses(region: Region) -> np.ndarray:
    """Every byte address a region touches (flattened)."""
    addrs = np.array([region.addr], dtype=np.int64)
    for n, stride in zip(region.shape, region.strides, strict=True):
        addrs = np.add.outer(addrs, np.arange(n, dtype=np.int64) * (stride * region.esize)).ravel()
    return np.add.outer(addrs, np.arange(region.esize, dtype=np.int64)).ravel()


class Checker:
    def __init__(self, instrs: list[Instr], ops: list[Op], memory: Memory):
        self.instrs, self.ops = instrs, ops
        self.unit_of = np.array([int(i.unit) for i in instrs[: len(ops)]], dtype=np.int64)
        self.seq_of = np.zeros(len(ops), dtype=np.int64)
        counts = [0] * 4
        for i, u in enumerate(self.unit_of):
            counts[u] += 1
            self.seq_of[i] = counts[u]
        self.vc = np.zeros((4, 4), dtype=np.int64)
        self.sizes = [len(b) for b in memory.buffers]
        self.writer = [np.zeros(s, dtype=np.int32) for s in self.sizes]  # instruction index + 1
        self.reader: dict[tuple[int, int], np.ndarray] = {}  # (memory, unit) -> index + 1

    def start(self, i: int, u: int, payloads: list) -> None:
        for clock in payloads:
            np.maximum(self.vc[u], clock, out=self.vc[u])
        self.vc[u, u] = self.seq_of[i] - 1
        reads, writes = self.ops[i].footprint
        for region in reads:
            addrs = byte_addresses(region)
            self._check_writer(i, u, region.mem, addrs, "reads")
            self._readers(region.mem, u)[addrs] = i + 1
        for region in writes:
            addrs = byte_addresses(region)
            self._check_writer(i, u, region.mem, addrs, "writes")
            self._check_readers(i, u, region.mem, addrs)
            self.writer[region.mem][addrs] = i + 1

    def _readers(self, mem: int, u: int) -> np.ndarray:
        """The last reader on unit ``u`` of every byte of ``mem``."""
        key = (mem, u)
        if key not in self.reader:
            self.reader[key] = np.zeros(self.sizes[mem], dtype=np.int32)
        return self.reader[key]

    def complete(self, i: int, u: int) -> np.ndarray:
        self.vc[u, u] = self.seq_of[i]
        return self.vc[u].copy()

    def _check_writer(self, i: int, u: int, mem: int, addrs: np.ndarray, verb: str) -> None:
        last = self.writer[mem][addrs].astype(np.int64) - 1
        bad = self._unsynchronised(u, last)
        if bad is not None:
            kind = "read-after-write" if verb == "reads" else "write-after-write"
            self._raise(kind, i, u, verb, "written", int(last[bad]), mem, int(addrs[bad]))

    def _check_readers(self, i: int, u: int, mem: int, addrs: np.ndarray) -> None:
        for r in Unit:
            readers = self.reader.get((mem, int(r)))
            if r == u or readers is None:
                continue
            last = readers[addrs].astype(np.int64) - 1
            bad = self._unsynchronised(u, last)
            if bad is not None:
                self._raise(
                    "write-after-read", i, u, "writes", "read", int(last[bad]), mem, int(addrs[bad])
                )

    def _unsynchronised(self, u: int, last: np.ndarray) -> int | None:
        """Position of the first byte whose last access (instruction index) ``u`` can't see."""
        known = last >= 0
        idx = np.where(known, last, 0)
        units = self.unit_of[idx]
        bad = known & (units != u) & (self.seq_of[idx] > self.vc[u][units])
        if not bad.any():
            return None
        return int(np.argmax(bad))

    def _raise(self, kind, i, u, verb, past, other, mem, addr) -> None:
        ou = Unit(int(self.unit_of[other]))
        me = Unit(u)
        raise SimulationError(
            f"checked mode: {kind} hazard: instruction {i} ({self.instrs[i].OPCODE.name} on "
            f"{me.name}) {verb} {MEM_NAMES[mem]} byte {addr}, last {past} by instruction "
            f"{other} ({self.instrs[other].OPCODE.name} on {ou.name}), which has not signalled "
            f"{me.name} since (missing token {ou.name}->{me.name}?)"
        )
