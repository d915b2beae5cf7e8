"""Instruction emission with automatic dependency tokens.

Every instruction is appended with the resources it reads and writes: the scratchpad pages
its footprint covers (``simulator.footprint``, the one declaration of what each instruction
touches) and the DRAM storages the caller names for its DRAM regions (the compiler's memory
plan knows which tensor an address belongs to; the instruction does not), each tracked by
the ``DRAM_CHUNK``-byte chunks of address its region spans, and a write within a chunk by
the bytes it touches (``compiler.dram_deps``: so a layer's first LOADs wait for the STOREs
of the rows, or channels, they read, not for the producer's last one). The emitter finds,
per other queue, the latest conflicting instruction (read-after-write, write-after-read,
write-after-write) and links the two with one token: the producer's ``signal`` bit and the
consumer's ``wait`` bit. Vector clocks (the latest instruction of each queue known to be
complete) drop tokens that are already implied, so each channel carries few tokens and they
are popped in the order they are pushed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from compiler.dram_deps import DramDeps
from simulator.config import NpuConfig
from simulator.errors import ConfigError
from simulator.footprint import DRAM, Footprint, footprint
from simulator.isa import INSTRUCTIONS, OPCODE_UNIT, End, Instr, Scratchpad, Unit

PAGES = 16  # tracking granularity of each scratchpad
DRAM_CHUNK = 16384  # tracking granularity of DRAM storages, in bytes of address
QUEUES = 4
_QUEUE = {
    cls: int(OPCODE_UNIT[cls.OPCODE]) for cls in INSTRUCTIONS if OPCODE_UNIT[cls.OPCODE] is not None
}


class Emitter:
    def __init__(self, config: NpuConfig) -> None:
        self.config = config
        self.instrs: list[Instr] = []
        self.node_of: list[int] = []
        self.nodes: list[str] = [""]
        self._node_index = {"": 0}
        self._current = 0
        self._pos: list[list[int]] = [[] for _ in range(QUEUES)]  # queue idx -> instr index
        self._clocks: list[list[tuple[int, ...]]] = [[] for _ in range(QUEUES)]
        self._last_write: dict = {}
        self._last_reads: dict = {}
        self._dram = DramDeps()  # DRAM chunk keys: recent writes and their regions
        self._written: set[str] = set()  # the DRAM storages written so far
        self._wait: list[int] = []
        self._signal: list[int] = []
        sizes = (config.input_bytes, config.weight_bytes, config.acc_bytes)
        self._sizes = sizes
        self._page = [max(1, -(-s // PAGES)) for s in sizes]
        self._keys: dict[tuple[int, int, int], tuple[int, ...]] = {}  # sp(): tiles repeat

    def set_node(self, name: str) -> None:
        if name not in self._node_index:
            self._node_index[name] = len(self.nodes)
            self.nodes.append(name)
        self._current = self._node_index[name]

    # --- resources ---------------------------------------------------------------------
    def sp(self, sp: int, lo: int, hi: int) -> list[int]:
        """The page keys of scratchpad ``sp`` bytes [lo, hi) (ints; DRAM keys are strings)."""
        page = self._page[sp]
        base = (sp + 1) * PAGES * 4096
        return list(range(base + lo // page, base + (max(hi, lo + 1) - 1) // page + 1))

    def pages(self, fp: Footprint) -> tuple[list[int], list[int], list]:
        """The page keys a footprint reads and writes, and its DRAM regions, each (chunks,
        writes, region) (empty regions touch nothing)."""
        reads, writes = [], []
        dram = []
        keys = self._keys
        for regions, out in ((fp.reads, reads), (fp.writes, writes)):
            for region in regions:
                lo, hi = region.extent()
                if lo == hi:
                    continue
                mem = region.mem
                if mem == DRAM:
                    chunks = range(lo // DRAM_CHUNK, (hi - 1) // DRAM_CHUNK + 1)
                    dram.append((chunks, out is writes, region))
                    continue
                pages = keys.get((mem, lo, hi))
                if pages is None:
                    self._check_bounds(region, lo, hi)
                    pages = keys[mem, lo, hi] = tuple(self.sp(mem, lo, hi))
                out += pages
        return reads, writes, dram

    def least_recent(self, sp: int, spans) -> int:
        """Which of ``spans`` ((lo, hi) byte ranges of scratchpad ``sp``) the program
        touched least recently (the first of equals)."""
        uses = [self.last_use(sp, lo, hi) for lo, hi in spans]
        return uses.index(min(uses))

    def last_use(self, sp: int, lo: int, hi: int, reads: bool = True) -> int:
        """The index of the latest instruction that wrote scratchpad ``sp`` bytes [lo, hi),
        or (``reads``) read them, -1 if none."""
        pos, latest = self._pos, -1
        for key in self.sp(sp, lo, hi):
            w = self._last_write.get(key)
            if w is not None:
                latest = max(latest, pos[w[0]][w[1]])
            if reads:
                for q, y in (self._last_reads.get(key) or {}).items():
                    latest = max(latest, pos[q][y])
        return latest

    def last_write(self, sp: int, lo: int, hi: int) -> int:
        """The index of the latest instruction that wrote scratchpad ``sp`` bytes [lo, hi),
        -1 if none."""
        return self.last_use(sp, lo, hi, reads=False)

    def _check_bounds(self, region, lo: int, hi: int) -> None:
        """A lowering whose buffers overrun a scratchpad is refused here, naming its layer,
        rather than emitted as a program the simulator would stop."""
        size = self._sizes[region.mem]
        if lo < 0 or hi > size:
            name = Scratchpad(region.mem).name.lower()
            raise ConfigError(
                f"layer {self.nodes[self._current]!r} does not fit the {name} scratchpad: "
                f"{region.field} touches bytes [{lo}, {hi}) of {size}"
            )

    # --- emission ----------------------------------------------------------------------
    def add(
        self, instr: Instr, dram: Iterable[str] = (), reads: Iterable = (), writes: Iterable = ()
    ) -> None:
        """Append ``instr`` with tokens from what it touches: its footprint's scratchpad pages,
        ``dram`` (the DRAM storages its DRAM regions belong to: read by a LOAD, written by a
        STORE, as the footprint says; nothing when its window is empty) and any other resource
        keys in ``reads`` and ``writes``."""
        q = _QUEUE.get(type(instr))
        if q is None:  # a Sync names its queue
            q = int(instr.unit)
        page_reads, page_writes, regions = self.pages(footprint(instr))
        if reads:
            page_reads += reads
        if writes:
            page_writes += writes
        reads, writes = page_reads, page_writes
        accesses, stored = [], []  # DRAM: (keys, writes, region); the keys written
        if dram and regions:
            dram = list(dram)
            for chunks, w, region in regions:
                keys = [(d, c) for d in dram for c in chunks]
                accesses.append((keys, w, region))
                (stored if w else reads).extend(keys)
        deps = self._deps(q, reads, writes, stored)
        pos_q = self._pos[q]
        own = len(pos_q)
        wait = 0
        if own:
            clock = list(self._clocks[q][-1])
        else:
            clock = [-1] * QUEUES
        if accesses and (stored or not self._written.isdisjoint(dram)):
            self._dram.deps(q, accesses, deps, clock)  # (storages never written: no deps)
        clock[q] = own - 1
        for p in sorted(deps) if len(deps) > 1 else deps:
            y = deps[p]
            if clock[p] >= y:
                continue
            self._signal[self._pos[p][y]] |= 1 << q
            wait |= 1 << p
            other = self._clocks[p][y]
            clock = [a if a >= b else b for a, b in zip(clock, other, strict=True)]
            if clock[p] < y:
                clock[p] = y
        self._record(q, own, reads, writes, stored)
        if stored:
            self._dram.record(q, own, accesses)
            self._written.update(dram)
        pos_q.append(len(self.instrs))
        self._clocks[q].append(tuple(clock))
        self.instrs.append(instr)
        self._wait.append(wait)
        self._signal.append(0)
        self.node_of.append(self._current)

    def _deps(self, q: int, reads: Sequence, writes: Sequence, stored: Sequence) -> dict:
        """Per other queue, the latest of its instructions this one conflicts with (DRAM:
        ``stored``, the chunks it writes, only after their reads here; the writes, which it
        must follow, by region in ``DramDeps``)."""
        deps: dict[int, int] = {}
        get_write, get_reads = self._last_write.get, self._last_reads.get
        for keys in (reads, writes):
            for key in keys:
                w = get_write(key)
                if w is not None and w[0] != q and deps.get(w[0], -1) < w[1]:
                    deps[w[0]] = w[1]
        for key in (*writes, *stored) if stored else writes:
            readers = get_reads(key)
            if readers:
                for p, y in readers.items():
                    if p != q and deps.get(p, -1) < y:
                        deps[p] = y
        return deps

    def _record(self, q: int, idx: int, reads: Sequence, writes: Sequence, stored=()) -> None:
        last_reads, last_write = self._last_reads, self._last_write
        for key in stored:  # later writes follow this one, so they follow its reads
            last_reads.pop(key, None)
        for key in reads:
            r = last_reads.get(key)
            if r is None:
                last_reads[key] = {q: idx}
            else:
                r[q] = idx
        entry = (q, idx)
        for key in writes:
            last_write[key] = entry
            last_reads.pop(key, None)

    def finish(self) -> list[Instr]:
        for i, (w, s) in enumerate(zip(self._wait, self._signal, strict=True)):
            if w or s:
                self.instrs[i] = _with_tokens(self.instrs[i], w, s)
        self.instrs.append(End())
        self.node_of.append(0)
        return self.instrs

    def count(self, unit: Unit) -> int:
        return len(self._pos[int(unit)])


def _with_tokens(ins: Instr, wait: int, signal: int) -> Instr:
    """``ins`` with more wait/signal bits: a field copy (dataclasses.replace re-runs __init__,
    a tenth of the compile time of a large model)."""
    new = object.__new__(type(ins))
    new.__dict__.update(ins.__dict__)
    object.__setattr__(new, "wait", ins.wait | wait)
    object.__setattr__(new, "signal", ins.signal | signal)
    return new
