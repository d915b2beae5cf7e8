"""The timing model: a discrete-event simulation of the four decoupled units.

- **Dispatch.** The program is one stream, dispatched in order into the unit queues (LOAD,
  MATRIX, VECTOR, STORE; ``Sync`` into the queue its field names). Dispatch takes no time;
  it stalls while the target queue holds ``queues.instr_depth`` instructions that have not
  started. ``End`` closes the stream.
- **Start.** A unit starts its queue head when the unit is idle, every channel (w -> unit) in
  ``wait`` holds a token (one is popped from each) and every channel (unit -> s) in ``signal``
  has room (``queues.token_depth``); at completion one token is pushed to each signalled
  channel. Units are examined in ``Unit`` order, so ties resolve deterministically.
- **Durations.** MATRIX, VECTOR and Sync instructions take exactly ``cost.cost()`` cycles. A
  DMA takes ``dram.latency`` cycles (not shared), then moves its ``dma_dram_bytes``. Transfers
  in their data phase at the same time share the DRAM bandwidth equally (processor sharing:
  each moves ``bytes_per_cycle / k`` per cycle when ``k`` are active). Event times are whole
  cycles: a transfer that was alone for its whole data phase takes exactly ``cost()``; a shared
  one ends at the first whole cycle by which its bytes have moved (rates are recomputed at every
  event, so the transfer left running after the other ends gets the full bandwidth from the
  next whole cycle on).
- **Deadlock.** If no unit is busy and the stream has not drained, ``SimulationError`` lists
  every queue head and what it waits for.

``simulate`` returns per-instruction start and end cycles; the numerics run (through each
op's closure) at the moment an instruction starts, in start order.
"""

from __future__ import annotations

from collections import defaultdict, deque
from math import ceil
from operator import attrgetter
from typing import NamedTuple

from simulator.config import NpuConfig
from simulator.cost import cost, dma_cycles, dma_dram_bytes
from simulator.errors import SimulationError
from simulator.isa import Dma, End, Instr, Load, MatMul, Store, Sync, Unit, Vector

UNITS = tuple(int(u) for u in Unit)
_LD, _ST = int(Unit.LOAD), int(Unit.STORE)
DMA_UNITS = (_LD, _ST)


class Timed(NamedTuple):
    """What the event loop needs of one instruction."""

    unit: int
    waits: tuple[int, ...]  # channel ids (src * 4 + dst) popped at start
    signals: tuple[int, ...]  # channel ids pushed at completion
    cycles: int  # duration alone (cost())
    dram_bytes: int  # DRAM traffic of a DMA (cost.dma_dram_bytes), else 0


def timed_ops(instrs: list[Instr], config: NpuConfig) -> list[Timed]:
    """Pre-decode every instruction but the final ``End``; checks End placement.

    Durations are computed once per distinct instruction shape (the fields ``cost`` reads).
    """
    check_end(instrs)
    memo: dict[tuple, tuple[int, int, int]] = {}
    out = []
    for instr in instrs[:-1]:
        cls = type(instr)
        key = (cls, _COST_FIELDS[cls](instr))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = _duration(instr, config)
        u, cycles, dram = hit
        out.append(Timed(u, _WAITS[u][instr.wait], _SIGNALS[u][instr.signal], cycles, dram))
    return out


def _duration(instr: Instr, config: NpuConfig) -> tuple[int, int, int]:
    """(unit, cycles alone, DRAM bytes) of one instruction."""
    if isinstance(instr, Dma):
        nbytes = dma_dram_bytes(instr, config)
        return int(instr.unit), dma_cycles(nbytes, config), nbytes
    return int(instr.unit), cost(instr, config), 0


_DMA_SHAPE = ("esize_log2", "n0", "n1", "n2", "ds0", "ds1", "ds2")
_WINDOW = ("lo0", "hi0", "lo1", "hi1", "lo2", "hi2")
_COST_FIELDS = defaultdict(
    lambda: id,  # unknown classes: no sharing (cost() raises for them)
    {
        Load: attrgetter(*_DMA_SHAPE, *_WINDOW),
        Store: attrgetter(*_DMA_SHAPE, *_WINDOW),
        MatMul: attrgetter("m", "k", "n"),
        Vector: attrgetter("func", "n0", "n1", "n2"),
        Sync: attrgetter("queue"),
    },
)


# Channel ids (src * 4 + dst) for every unit and 4-bit mask.
_WAITS = [[tuple(w * 4 + u for w in UNITS if m >> w & 1) for m in range(16)] for u in UNITS]
_SIGNALS = [[tuple(u * 4 + s for s in UNITS if m >> s & 1) for m in range(16)] for u in UNITS]


def check_end(instrs: list[Instr]) -> None:
    """``End`` must be the last instruction, appear once and carry no tokens."""
    if not instrs or not isinstance(instrs[-1], End):
        raise SimulationError("the program does not end with an End instruction")
    for index, instr in enumerate(instrs[:-1]):
        if isinstance(instr, End):
            raise SimulationError(f"instruction {index}: End before the last instruction")
    if instrs[-1].wait or instrs[-1].signal:
        raise SimulationError(f"instruction {len(instrs) - 1}: End carries no tokens")


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


def _ready(tokens: list[int], waits: tuple[int, ...], signals: tuple[int, ...], depth: int) -> bool:
    """Every waited channel holds a token and every signalled channel has room."""
    for c in waits:
        if not tokens[c]:
            return False
    for c in signals:
        if tokens[c] >= depth:
            return False
    return True


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
        self.version = 0  # bumped whenever a token count changes
        self.blocked = [-1] * 4  # head whose start failed at token state blocked_at[u]
        self.blocked_at = [-1] * 4

    def run(self) -> tuple[list[int], list[int]]:
        """Alternate ``_settle`` (everything that happens at ``now``) and a jump to the next event."""
        current, event, xfers, n = self.current, self.event, self.xfers, len(self.ops)
        while True:
            self._settle()
            nxt = -1
            for u in UNITS:
                if current[u] >= 0 and (nxt < 0 or event[u] < nxt):
                    nxt = event[u]
            if nxt < 0:
                if self.pc < n or any(self.queues):
                    raise SimulationError(self._deadlock_report())
                return self.starts, self.ends
            assert nxt > self.now, "event loop made no progress"
            if xfers[_LD] is not None or xfers[_ST] is not None:
                self._progress(nxt)
                self.now = nxt
                self._rebalance()
            else:
                self.now = nxt

    def _settle(self) -> None:
        """Complete, dispatch and start everything possible at ``now``, in unit order.

        One pass dispatches, then visits the units in order: a unit whose event is due
        completes; an idle unit tries to start its queue head (unless it already failed with
        the same head and the same token state). Passes repeat until nothing changes.
        """
        ops, runs, checker = self.ops, self.runs, self.checker
        queues, tokens, current, event = self.queues, self.tokens, self.current, self.event
        starts, ends, xfers = self.starts, self.ends, self.xfers
        qdepth, tdepth, now, n = self.qdepth, self.tdepth, self.now, len(ops)
        pc, version, blocked, blocked_at = self.pc, self.version, self.blocked, self.blocked_at
        changed = True
        while changed:
            while pc < n:
                q = queues[ops[pc][0]]
                if len(q) >= qdepth:
                    break
                q.append(pc)
                pc += 1
            changed = False
            for u in UNITS:
                i = current[u]
                if i >= 0:
                    if event[u] > now:
                        continue
                    ends[i] = now
                    current[u] = -1
                    signals = ops[i][2]
                    if signals:
                        version += 1
                        for c in signals:
                            tokens[c] += 1
                    if checker is not None:
                        self._checker_complete(i, u, signals)
                    if xfers[u] is not None:
                        xfers[u] = None
                        self._rebalance()
                    changed = True
                q = queues[u]
                if not q:
                    continue
                i = q[0]
                if blocked[u] == i and blocked_at[u] == version:
                    continue
                _, waits, signals, cycles, dram = ops[i]
                if not _ready(tokens, waits, signals, tdepth):
                    blocked[u] = i
                    blocked_at[u] = version
                    continue
                q.popleft()
                if waits:
                    version += 1
                    for c in waits:
                        tokens[c] -= 1
                if checker is not None:
                    checker.start(i, u, [self.payloads[c].popleft() for c in waits])
                run = runs[i]
                if run is not None:
                    run()
                starts[i] = now
                current[u] = i
                if dram and cycles:  # scalesim timing: DMA is free, nothing to share
                    xfers[u] = _Transfer(now, self.latency, dram, cycles)
                    self._rebalance()
                else:
                    event[u] = now + cycles
                changed = True
        self.pc, self.version = pc, version

    def _checker_complete(self, i: int, u: int, signals: tuple[int, ...]) -> None:
        payload = self.checker.complete(i, u)
        for c in signals:
            self.payloads[c].append(payload)

    def _moving(self) -> tuple[_Transfer, ...]:
        """The transfers in their data phase at ``now`` (LOAD first)."""
        now = self.now
        xl, xs = self.xfers[_LD], self.xfers[_ST]
        ml = xl is not None and xl.active and xl.data_start <= now
        ms = xs is not None and xs.active and xs.data_start <= now
        if ml:
            return (xl, xs) if ms else (xl,)
        return (xs,) if ms else ()

    def _progress(self, nxt: int) -> None:
        """Move the bytes of every transfer in its data phase from ``now`` to ``nxt``."""
        moving = self._moving()
        if moving:
            step = (nxt - self.now) * self.bw / len(moving)
            for x in moving:
                x.remaining -= step

    def _rebalance(self) -> None:
        """Recompute every transfer's next event after the set of active transfers changed."""
        xfers = self.xfers
        if xfers[_LD] is None and xfers[_ST] is None:
            return
        now = self.now
        moving = self._moving()
        k = len(moving)
        if k > 1:
            for x in moving:
                x.shared = True
        for u in DMA_UNITS:
            x = xfers[u]
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


def simulate(
    ops: list[Timed], runs: list, config: NpuConfig, checker=None
) -> tuple[list[int], list[int]]:
    """Start and end cycle of every instruction (``runs[i]()`` is called at its start)."""
    return _Sim(ops, runs, config, checker).run()
