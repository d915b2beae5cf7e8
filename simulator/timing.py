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
op's closure) in start order. Timing never depends on them, so without a checker they run
after the loop (also before a deadlock is reported, so the first numerics error still wins):
calling them from inside it made the loop's own state drop out of the caches, ~20% of the
benchmark's time. With a checker each runs at the moment its instruction starts.
"""

from __future__ import annotations

from collections import defaultdict, deque
from math import ceil
from operator import attrgetter
from typing import NamedTuple

from simulator.config import NpuConfig
from simulator.cost import cost, dma_cycles, dma_dram_bytes
from simulator.decode import Distinct, distinct
from simulator.errors import SimulationError
from simulator.isa import Dma, End, Gather, Instr, Load, MatMul, Scatter, Store, Sync, Unit, Vector

UNITS = tuple(int(u) for u in Unit)
_LD, _ST = int(Unit.LOAD), int(Unit.STORE)
DMA_UNITS = (_LD, _ST)
_IDLE = 1 << 62  # the event of an idle unit: after every other


class Timed(NamedTuple):
    """What the event loop needs of one instruction."""

    unit: int
    waits: tuple[int, ...]  # channel ids (src * 4 + dst) popped at start
    signals: tuple[int, ...]  # channel ids pushed at completion
    cycles: int  # duration alone (cost())
    dram_bytes: int  # DRAM traffic of a DMA (cost.dma_dram_bytes), else 0


class Columns(NamedTuple):
    """The ``Timed`` records of a program, one list per field."""

    unit: list[int]
    waits: list[tuple[int, ...]]
    signals: list[tuple[int, ...]]
    cycles: list[int]
    dram_bytes: list[int]

    @classmethod
    def of(cls, ops: list[Timed]) -> Columns:
        return cls(*map(list, zip(*ops, strict=True))) if ops else cls([], [], [], [], [])


def timed_ops(instrs: list[Instr], config: NpuConfig) -> list[Timed]:
    """Pre-decode every instruction but the final ``End``; checks End placement."""
    return list(map(Timed._make, zip(*timed_columns(instrs, config), strict=True)))


def timed_columns(
    instrs: list[Instr], config: NpuConfig, shapes: Distinct | None = None
) -> Columns:
    """``timed_ops`` as columns; ``shapes``: ``decode.distinct(instrs[:-1])`` if known.

    Durations are computed once per distinct instruction shape (the fields ``cost`` reads).
    """
    check_end(instrs)
    body = instrs[:-1]
    shapes = shapes or distinct(body)
    memo: dict[tuple, tuple[int, int, int]] = {}
    per = []
    for i in shapes.first:
        instr = body[i]
        cls = type(instr)
        key = (cls, _COST_FIELDS[cls](instr))
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = _duration(instr, config)
        per.append(hit)
    units, cycles, drams = zip(*per, strict=True) if per else ((), (), ())
    unit = [units[k] for k in shapes.ids]
    return Columns(
        unit,
        [_WAITS[u][instr.wait] for u, instr in zip(unit, body, strict=True)],
        [_SIGNALS[u][instr.signal] for u, instr in zip(unit, body, strict=True)],
        [cycles[k] for k in shapes.ids],
        [drams[k] for k in shapes.ids],
    )


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
        Gather: attrgetter(*_DMA_SHAPE, *_WINDOW),
        Scatter: attrgetter(*_DMA_SHAPE, *_WINDOW),
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
    if any(issubclass(cls, End) for cls in set(map(type, instrs[:-1]))):
        index = next(i for i, instr in enumerate(instrs) if isinstance(instr, End))
        raise SimulationError(f"instruction {index}: End before the last instruction")
    if instrs[-1].wait or instrs[-1].signal:
        raise SimulationError(f"instruction {len(instrs) - 1}: End carries no tokens")


def _channel_mask(channels: tuple[int, ...]) -> int:
    mask = 0
    for c in channels:
        mask |= 1 << c
    return mask


class _Sim:
    """The event loop's state; ``run`` is the whole simulation.

    Per-instruction data sits in flat lists; a start needs ``waits & ~have == 0`` and
    ``signals & full == 0`` over 16-bit channel masks (``have``: channels holding a token,
    ``full``: channels at ``token_depth``). Each DMA unit's transfer is a row of flat fields
    (``x_*``, indexed by unit).
    """

    def __init__(self, ops: Columns, runs: list, config: NpuConfig, checker=None):
        self.ops, self.runs, self.checker = ops, runs, checker
        n = len(ops.unit)
        self.qdepth = config.queues.instr_depth
        self.tdepth = config.queues.token_depth
        self.latency = config.dram.latency
        self.bw = config.dram.bytes_per_cycle
        self.queues = [deque() for _ in UNITS]
        self.tokens = [0] * 16
        self.payloads = [deque() for _ in range(16)]
        self.current = [-1] * 4
        self.event = [_IDLE] * 4  # a busy unit's next event
        self.starts = [0] * n
        self.ends = [0] * n
        self.pc = 0
        self.now = 0
        self.x_on = [False] * 4  # a transfer is in flight
        self.x_start = [0] * 4
        self.x_data = [0] * 4  # the cycle its data phase starts
        self.x_rem = [0.0] * 4  # bytes it still has to move
        self.x_shared = [False] * 4  # it ever shared the bandwidth
        self.x_cycles = [0] * 4  # its duration alone

    def run(self) -> tuple[list[int], list[int]]:
        """Alternate settling ``now`` (complete, dispatch, start everything possible, in unit
        order; passes repeat until nothing changes) and a jump to the next event."""
        runs, checker = self.runs, self.checker
        unit_of, waits, signals, cycles, drams = self.ops
        n = len(unit_of)
        masks = {c: _channel_mask(c) for c in {*waits, *signals}}
        wmask = list(map(masks.__getitem__, waits))
        smask = list(map(masks.__getitem__, signals))
        queues, tokens, payloads = self.queues, self.tokens, self.payloads
        current, event, starts, ends = self.current, self.event, self.starts, self.ends
        x_on, x_start, x_data, x_rem = self.x_on, self.x_start, self.x_data, self.x_rem
        x_shared, x_cycles = self.x_shared, self.x_cycles
        qdepth, tdepth, latency, bw = self.qdepth, self.tdepth, self.latency, self.bw
        rebalance = self._rebalance
        idle = _IDLE
        begun: list[int] = []  # without a checker: the instructions started, in order
        begin = begun.append
        have = full = 0
        pc = now = 0
        target = queues[unit_of[0]] if n else None  # the queue instruction pc goes to
        while True:
            changed = True
            while changed:
                if target is not None and len(target) < qdepth:  # dispatch
                    while True:
                        target.append(pc)
                        pc += 1
                        if pc == n:
                            target = None
                            break
                        target = queues[unit_of[pc]]
                        if len(target) >= qdepth:
                            break
                changed = False
                for u, e in enumerate(event):  # e: event[u] when u's turn comes
                    if e <= now:  # busy and due: complete
                        i = current[u]
                        ends[i] = now
                        current[u] = -1
                        event[u] = idle
                        for c in signals[i]:
                            t = tokens[c] = tokens[c] + 1
                            if t >= tdepth:
                                full |= 1 << c
                        have |= smask[i]
                        if checker is not None:
                            self._checker_complete(i, u, signals[i])
                        if x_on[u]:
                            x_on[u] = False
                            other = _LD + _ST - u  # its share grows if it is shared
                            if x_on[other] and x_shared[other]:
                                rebalance(now)
                        changed = True
                    elif e != idle:
                        continue
                    q = queues[u]
                    if not q:
                        continue
                    i = q[0]
                    if wmask[i] & ~have or smask[i] & full:
                        continue
                    q.popleft()
                    for c in waits[i]:
                        t = tokens[c] = tokens[c] - 1
                        if not t:
                            have &= ~(1 << c)
                    full &= ~wmask[i]  # a channel holds at most token_depth tokens
                    if checker is None:
                        begin(i)  # numerics after the loop, in this order
                    else:
                        checker.start(i, u, [payloads[c].popleft() for c in waits[i]])
                        run = runs[i]
                        if run is not None:
                            run()
                    starts[i] = now
                    current[u] = i
                    dram, cy = drams[i], cycles[i]
                    if dram and cy:  # scalesim timing: DMA is free, nothing to share
                        x_on[u], x_start[u], x_data[u] = True, now, now + latency
                        x_rem[u], x_shared[u], x_cycles[u] = float(dram), False, cy
                        if latency:  # not moving yet: nothing else changes
                            event[u] = now + latency
                        else:
                            rebalance(now)
                    else:
                        event[u] = now + cy
                    changed = True
            # Jump from event to event until a unit is due: until then nothing can start
            # (the last pass changed nothing, and only DMA bookkeeping changes meanwhile).
            nxt = min(event)
            while True:
                if nxt == idle:
                    self.pc, self.now = pc, now
                    for run in map(runs.__getitem__, begun):
                        if run is not None:
                            run()
                    if pc < n or any(queues):
                        raise SimulationError(self._deadlock_report())
                    return starts, ends
                assert nxt > now, "event loop made no progress"
                if not (x_on[_LD] or x_on[_ST]):
                    now = nxt
                    break
                # Move the bytes of the transfers in their data phase up to nxt.
                ml = x_on[_LD] and x_data[_LD] <= now
                ms = x_on[_ST] and x_data[_ST] <= now
                if ml or ms:
                    step = (nxt - now) * bw / (ml + ms)
                    if ml:
                        x_rem[_LD] -= step
                    if ms:
                        x_rem[_ST] -= step
                now = nxt
                # The events change only when a data phase begins or a shared transfer moves
                # (the rebalances skipped here, at starts and at completions change nothing).
                if (x_on[_LD] and (x_data[_LD] == now or x_shared[_LD])) or (
                    x_on[_ST] and (x_data[_ST] == now or x_shared[_ST])
                ):
                    rebalance(now)
                nxt = min(event)
                if nxt <= now:
                    break

    def _checker_complete(self, i: int, u: int, signals: tuple[int, ...]) -> None:
        payload = self.checker.complete(i, u)
        for c in signals:
            self.payloads[c].append(payload)

    def _rebalance(self, now: int) -> None:
        """Recompute each transfer's next event after the set of active transfers changed.

        Transfers in their data phase at ``now`` share the bandwidth; once a transfer has
        shared it, its end is recomputed from its remaining bytes, else it is ``cost()``.
        """
        x_on, x_data, x_shared = self.x_on, self.x_data, self.x_shared
        ml = x_on[_LD] and x_data[_LD] <= now
        ms = x_on[_ST] and x_data[_ST] <= now
        if ml and ms:
            x_shared[_LD] = x_shared[_ST] = True
        k = ml + ms
        for u in DMA_UNITS:
            if not x_on[u]:
                continue
            if now < x_data[u]:
                self.event[u] = x_data[u]
            elif not x_shared[u]:
                self.event[u] = self.x_start[u] + self.x_cycles[u]
            else:
                self.event[u] = now + max(0, ceil(self.x_rem[u] * k / self.bw - 1e-6))

    def _deadlock_report(self) -> str:
        lines = [f"deadlock at cycle {self.now}: every queue is blocked"]
        for u in Unit:
            lines.append(f"  {u.name}: {self._head_report(u)}")
        if self.pc < len(self.ops.unit):
            target = Unit(self.ops.unit[self.pc]).name
            lines.append(
                f"  dispatch: stalled at instruction {self.pc}, {target} queue full "
                f"({self.qdepth} instructions)"
            )
        return "\n".join(lines)

    def _head_report(self, u: Unit) -> str:
        if not self.queues[u]:
            return "queue empty"
        i = self.queues[u][0]
        waits, signals = self.ops.waits[i], self.ops.signals[i]
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
    """Start and end cycle of every instruction; ``runs[i]()`` (None: nothing) is called once
    per instruction, in start order: at its start with a checker, else after the loop."""
    return simulate_columns(Columns.of(ops), runs, config, checker)


def simulate_columns(
    ops: Columns, runs: list, config: NpuConfig, checker=None
) -> tuple[list[int], list[int]]:
    """``simulate`` on the records as columns (``timed_columns``)."""
    return _Sim(ops, runs, config, checker).run()
