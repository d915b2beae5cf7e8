"""The emitter tracks a DRAM storage by 16 KiB chunks of address (``emit.DRAM_CHUNK``), and
within a chunk by the bytes each access really touches (``compiler.dram_deps``): a LOAD waits
only for the STOREs that wrote bytes it reads, so a layer's first tiles can load the rows (or
the channels) its producer stored first while that producer is still running; a STORE over
bytes a LOAD read waits for it (write after read)."""

import itertools

import numpy as np
import pytest

from compiler.dram_deps import KEEP, box, overlap
from compiler.emit import DRAM_CHUNK, Emitter
from simulator.config import load_config
from simulator.footprint import DRAM, Region
from simulator.isa import Load, Store, Unit

TINY = load_config("tiny")


def _store(at: int, sp_addr: int = 0) -> Store:
    return Store(sp=2, sp_addr=sp_addr, dram_addr=at, n2=64, hi0=1, hi1=1, hi2=64, esize_log2=0)


def _load(at: int, sp_addr: int = 4096) -> Load:
    return Load(sp=0, sp_addr=sp_addr, dram_addr=at, n2=64, hi2=64, esize_log2=0)


def test_a_load_waits_only_for_stores_to_its_chunks():
    em = Emitter(TINY)
    em.add(_store(0), dram=["y"])  # chunk 0 of y
    em.add(_store(3 * DRAM_CHUNK, sp_addr=1024), dram=["y"])  # chunk 3
    em.add(_load(32), dram=["y"])  # reads chunk 0 only (bytes the first store wrote)
    first, later, load, _ = em.finish()
    assert first.signal == 1 << Unit.LOAD and load.wait == 1 << Unit.STORE
    assert later.signal == 0  # the load did not wait for the store to chunk 3


def test_a_window_across_chunks_waits_for_the_latest_store_it_touches():
    em = Emitter(TINY)
    em.add(_store(0), dram=["y"])
    em.add(_store(DRAM_CHUNK, sp_addr=1024), dram=["y"])
    em.add(_load(DRAM_CHUNK - 32), dram=["y"])  # bytes in chunks 0 and 1
    first, second, load, _ = em.finish()
    assert second.signal == 1 << Unit.LOAD and load.wait == 1 << Unit.STORE


def test_a_store_waits_for_the_loads_of_its_chunks():
    em = Emitter(TINY)
    em.add(_load(0), dram=["x"])
    em.add(_load(5 * DRAM_CHUNK, sp_addr=8192), dram=["x"])
    em.add(_store(5 * DRAM_CHUNK + 32), dram=["x"])  # overwrites what the second load read
    first, second, store, _ = em.finish()
    assert first.signal == 0 and second.signal == 1 << Unit.STORE
    assert store.wait == 1 << Unit.LOAD


def _slice_store(chan: int, sp_addr: int) -> Store:
    """Channels [chan, chan + 64) of a 14 x 14 x 256 int8 tensor at DRAM 0."""
    return Store(
        sp=2, sp_addr=sp_addr, dram_addr=chan, n0=14, n1=14, n2=64, ds0=3584, ds1=256, ds2=1,
        ss0=896, ss1=64, ss2=1, hi0=14, hi1=14, hi2=64, esize_log2=0,
    )  # fmt: skip


def _slice_load(chan: int, rows: tuple[int, int] = (0, 14)) -> Load:
    return Load(
        sp=0, sp_addr=0, dram_addr=chan, n0=14, n1=14, n2=64, ds0=3584, ds1=256, ds2=1,
        ss0=896, ss1=64, ss2=1, lo0=rows[0], hi0=rows[1], hi1=14, hi2=64, esize_log2=0,
    )  # fmt: skip


def test_a_load_of_one_channel_slice_waits_for_that_slice_only():
    """Each slice's store touches every chunk of the tensor; the load of channels 0-63 waits
    for the first store, not the fourth."""
    em = Emitter(TINY)
    for i in range(4):
        em.add(_slice_store(64 * i, 1024 * i), dram=["y"])
    em.add(_slice_load(0), dram=["y"])
    *stores, load, _ = em.finish()
    assert load.wait == 1 << Unit.STORE
    assert [s.signal for s in stores] == [1 << Unit.LOAD, 0, 0, 0]


def test_a_load_of_two_slices_waits_for_the_later():
    em = Emitter(TINY)
    for i in range(4):
        em.add(_slice_store(64 * i, 1024 * i), dram=["y"])
    em.add(Load(sp=0, sp_addr=0, dram_addr=64, n0=4, n1=14, n2=128, ds0=3584, ds1=256,
                ds2=1, ss0=1792, ss1=128, ss2=1, hi0=4, hi1=14, hi2=128, esize_log2=0),
           dram=["y"])  # fmt: skip
    *stores, load, _ = em.finish()
    assert [s.signal for s in stores] == [0, 0, 1 << Unit.LOAD, 0]


def test_accesses_beyond_those_kept_are_folded_conservatively():
    """More than ``KEEP`` stores into one chunk: the oldest are folded into an entry that
    meets every region, so a load of bytes none of them wrote still waits (never misses)."""
    em = Emitter(TINY)
    for i in range(KEEP + 2):
        em.add(_store(64 * i, sp_addr=64 * (i % 8)), dram=["y"])
    em.add(_load(64 * (KEEP + 4)), dram=["y"])  # bytes no store wrote, in the same chunk
    instrs = em.finish()
    assert instrs[-2].wait == 1 << Unit.STORE
    em = Emitter(TINY)
    for i in range(KEEP // 2):
        em.add(_store(64 * i, sp_addr=64 * (i % 8)), dram=["y"])
    em.add(_load(64 * (KEEP + 4)), dram=["y"])
    assert em.finish()[-2].wait == 0  # the same load with every store kept: no wait


def _region(addr, shape, strides, esize=1):
    return Region(DRAM, addr, shape, strides, None, esize, "dram_addr")


def _bytes(r: Region) -> set[int]:
    out = set()
    for idx in itertools.product(*(range(n) for n in r.shape)):
        a = r.addr + sum(i * s for i, s in zip(idx, r.strides, strict=True)) * r.esize
        out.update(range(a, a + r.esize))
    return out


def _random_pair(rng, nested: bool):
    esize = int(rng.choice([1, 2, 4]))
    s2 = int(rng.integers(1, 3))
    if nested:  # every digit range (at most 4 + 4 - 1) within its stride ratio (8)
        s1, s0 = s2 * 8, s2 * 64
    else:
        s1 = s2 * int(rng.integers(1, 9))
        s0 = s1 * int(rng.integers(1, 6))
    strides = (s0, s1, s2)
    other = strides if nested or rng.random() < 0.8 else (s0 + 1, s1, s2)
    shape = lambda: tuple(int(x) for x in rng.integers(1, 5, 3))  # noqa: E731
    addr = lambda: int(rng.integers(0, 64 * s2))  # noqa: E731
    return _region(addr(), shape(), strides, esize), _region(addr(), shape(), other, esize)


def test_overlap_never_misses_a_shared_byte():
    """Seeded random boxes, of shared strides and of others: ``overlap`` is never False
    where they share a byte."""
    rng = np.random.default_rng(7)
    for _ in range(2000):
        a, b = _random_pair(rng, nested=False)
        assert overlap(box(a), box(b)) or not _bytes(a) & _bytes(b), (a, b)


def test_overlap_is_exact_where_the_strides_nest():
    rng = np.random.default_rng(11)
    met = 0
    for _ in range(2000):
        a, b = _random_pair(rng, nested=True)
        truth = bool(_bytes(a) & _bytes(b))
        assert overlap(box(a), box(b)) is truth, (a, b)
        met += truth
    assert 200 < met < 1800  # both answers are exercised


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        ((0, (14, 14, 64), (3584, 256, 1)), (64, (14, 14, 64), (3584, 256, 1)), False),
        ((0, (14, 14, 64), (3584, 256, 1)), (63, (1, 1, 2), (0, 0, 1)), True),
        ((0, (2, 8), (64, 1)), (8, (2, 8), (64, 1)), False),  # row tails interleave
        ((0, (2, 8), (64, 1)), (60, (1, 8), (0, 1)), True),  # the gap and a row's head
        ((0, (4,), (-1,)), (100, (4,), (1,)), True),  # a negative stride: assumed to meet
    ],
)
def test_overlap_cases(a, b, meet):
    assert overlap(box(_region(*a)), box(_region(*b))) is meet
