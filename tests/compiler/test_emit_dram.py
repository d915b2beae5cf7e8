"""The emitter tracks a DRAM storage by 16 KiB chunks of address (``emit.DRAM_CHUNK``): a LOAD
waits only for the STOREs that wrote the chunks its window touches, so a layer's first
tiles can load the rows its producer stored first while that producer is still running; a
window that touches a written chunk still waits, and a STORE over chunks a LOAD read waits
for it (write after read)."""

from compiler.emit import DRAM_CHUNK, Emitter
from simulator.config import load_config
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
    em.add(_load(64), dram=["y"])  # reads chunk 0 only
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
    em.add(_store(5 * DRAM_CHUNK + 128), dram=["x"])  # overwrites what the second load read
    first, second, store, _ = em.finish()
    assert first.signal == 0 and second.signal == 1 << Unit.STORE
    assert store.wait == 1 << Unit.LOAD
