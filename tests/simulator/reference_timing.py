"""The event loop as first written (plain, unoptimised): the reference ``simulator.timing``'s
optimised loop must reproduce instruction for instruction (see test_sim_event_loop.py)."""

from __future__ import annotations

from collections import deque
from math import ceil

from simulator.config import NpuConfig
from simulator.errors import SimulationError
from simulator.isa import Unit
from simulator.timing import Timed

UNITS = tuple(int(u) for u in Unit)
DMA_UNITS = (Unit.LOAD, Unit.STORE)


class _Transfer:
    """A DMA in flight: its data phase starts at ``data_start``."""

    __slots__ = ("start", "data_start", "remaining", "shared", "cycles", "active")

    def __init__(self, start: int, latency: int, nbytes: int, cycles: int):
        self.start = start
        self.data_start = start + latency
        self.remaining = float(nbytes)
        self.shared = False
        self.cycles = cycles
        self.active = nbytes > 0


class _Sim:
    """The event loop's state; ``run`` is the whole simulation."""

    def __init__(self, ops: list[Timed], runs: list, config: NpuConfig, checker=None):
        self.ops, self.runs, self.checker = ops, runs, checker
        self.qdepth = config.queues.instr_depth
        self.tdepth = config.queues.token_depth
        self.latency = config.dram.latency
        self.bw = config.dram.bytes_per_cycle
        self.queues = [deque() for _ in UNITS]
        self.tokens = [0] * 16
        self.payloads = [deque() for _ in range(16)]
        self.current = [-1] * 4
        self.event = [0] * 4
        self.xfers: list[_Transfer | None] = [None] * 4
        self.starts = [0] * len(ops)
        self.ends = [0] * len(ops)
        self.pc = 0
        self.now = 0
        self.token_version = 0  # bumped whenever a token count changes
        self.blocked = [(-1, -1)] * 4  # (head, token_version) of a failed start attempt

    def run(self) -> tuple[list[int], list[int]]:
        while True:
            self._settle()
            busy = [self.event[u] for u in UNITS if self.current[u] >= 0]
            if not busy:
                if self.pc < len(self.ops) or any(self.queues):
                    raise SimulationError(self._deadlock_report())
                return self.starts, self.ends
            nxt = min(busy)
            assert nxt > self.now, "event loop made no progress"
            self._progress(nxt)
            self.now = nxt
            self._rebalance()

    def _settle(self) -> None:
        """Complete, dispatch and start everything possible at ``now``, in unit order."""
        current, queues, event, now = self.current, self.queues, self.event, self.now
        n = len(self.ops)
        changed = True
        while changed:
            if self.pc < n:
                self._dispatch()
            changed = False
            for u in UNITS:
                if current[u] >= 0:
                    if event[u] > now:
                        continue
                    self._complete(u)  # a DMA's event is its end once its data phase began
                    changed = True
                if queues[u] and self.blocked[u] != (queues[u][0], self.token_version):
                    if self._try_start(u):
                        changed = True

    def _dispatch(self) -> None:
        ops, queues, pc, n = self.ops, self.queues, self.pc, len(self.ops)
        while pc < n:
            q = queues[ops[pc][0]]
            if len(q) >= self.qdepth:
                break
            q.append(pc)
            pc += 1
        self.pc = pc

    def _try_start(self, u: int) -> bool:
        i = self.queues[u][0]
        _, waits, signals, cycles, dram = self.ops[i]
        tokens = self.tokens
        for c in waits:
            if not tokens[c]:
                self.blocked[u] = (i, self.token_version)
                return False
        for c in signals:
            if tokens[c] >= self.tdepth:
                self.blocked[u] = (i, self.token_version)
                return False
        self.queues[u].popleft()
        if waits:
            self.token_version += 1
        for c in waits:
            tokens[c] -= 1
        if self.checker is not None:
            self.checker.start(i, u, [self.payloads[c].popleft() for c in waits])
        run = self.runs[i]
        if run is not None:
            run()
        self.starts[i] = self.now
        self.current[u] = i
        if dram and cycles:  # scalesim timing: DMA is free, nothing to share
            self.xfers[u] = _Transfer(self.now, self.latency, dram, cycles)
            self._rebalance()
        else:
            self.event[u] = self.now + cycles
        return True

    def _complete(self, u: int) -> None:
        i = self.current[u]
        self.ends[i] = self.now
        self.current[u] = -1
        signals = self.ops[i][2]
        if signals:
            self.token_version += 1
        for c in signals:
            self.tokens[c] += 1
        if self.checker is not None:
            payload = self.checker.complete(i, u)
            for c in signals:
                self.payloads[c].append(payload)
        if self.xfers[u] is not None:
            self.xfers[u] = None
            self._rebalance()

    def _progress(self, nxt: int) -> None:
        """Move the bytes of every transfer in its data phase from ``now`` to ``nxt``."""
        moving = [x for x in self.xfers if x is not None and x.active and x.data_start <= self.now]
        if moving:
            step = (nxt - self.now) * self.bw / len(moving)
            for x in moving:
                x.remaining -= step

    def _rebalance(self) -> None:
        """Recompute every transfer's next event after the set of active transfers changed."""
        if self.xfers[Unit.LOAD] is None and self.xfers[Unit.STORE] is None:
            return
        now = self.now
        moving = [x for x in self.xfers if x is not None and x.active and x.data_start <= now]
        k = len(moving)
        if k > 1:
            for x in moving:
                x.shared = True
        for u in DMA_UNITS:
            x = self.xfers[u]
            if x is None:
                continue
            if now < x.data_start:
                self.event[u] = x.data_start
            elif not x.shared or not x.active:
                self.event[u] = x.start + x.cycles
            else:
                self.event[u] = now + max(0, ceil(x.remaining * k / self.bw - 1e-6))

    def _deadlock_report(self) -> str:
        lines = [f"deadlock at cycle {self.now}: every queue is blocked"]
        for u in Unit:
            lines.append(f"  {u.name}: {self._head_report(u)}")
        if self.pc < len(self.ops):
            target = Unit(self.ops[self.pc][0]).name
            lines.append(
                f"  dispatch: stalled at instruction {self.pc}, {target} queue full "
                f"({self.qdepth} instructions)"
            )
        return "\n".join(lines)

    def _head_report(self, u: Unit) -> str:
        if not self.queues[u]:
            return "queue empty"
        i = self.queues[u][0]
        _, waits, signals, _, _ = self.ops[i]
        needs = [
            f"token {Unit(c // 4).name}->{Unit(c % 4).name} (0 available)"
            for c in waits
            if not self.tokens[c]
        ]
        needs += [
            f"room in {Unit(c // 4).name}->{Unit(c % 4).name} (full, {self.tdepth} tokens)"
            for c in signals
            if self.tokens[c] >= self.tdepth
        ]
        return f"head is instruction {i}, waiting for {', '.join(needs)}"


def simulate_reference(ops: list[Timed], runs: list, config: NpuConfig):
    return _Sim(ops, runs, config).run()
