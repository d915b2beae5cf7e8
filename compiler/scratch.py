"""The scratchpads' half of memory planning: where a layer's on-chip buffers go.

A lowering asks for buffers; it does not compute addresses. Three kinds of request cover every
lowering:

- ``copies(sp, n)``: ``n`` copies of a tile's working set that alternate from tile to tile
  (``n = 2``: double-buffered), spread evenly over the scratchpad. The lowering sizes its tile
  to ``capacity``, declares what one copy holds with ``use``, and takes ``base(tile)``; tile 0
  goes to the copy the program touched least recently (the emitter's ``least_recent``).
- ``layout(sp, base)``: buffers one after another (``take(size, count)``), each copy on pages
  of its own; ``fits`` says whether they fit, ``commit`` records them.
- ``ring``/``two``: up to ``most`` (or two) copies of one buffer from ``base`` (the GEMM nest's
  A, W and C buffers).

Every copy starts on a page of the emitter's dependency tracking (``compiler.emit.PAGES``
pages per scratchpad) and no two copies share one, so a load into one copy never waits for the
units still reading another: queues overlap by construction, not by care in each lowering. A
request that cannot be met is a ``ConfigError`` naming the layer, the scratchpad and the sizes.

The allocator keeps, per layer and scratchpad, the highest byte granted; the driver puts it
in the layer's record (``scratch_bytes``) and the program's ``meta["scratch_peak_bytes"]`` is
their maximum. Every instruction of a layer stays below its layer's figure (tested on the zoo).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from compiler.emit import PAGES
from simulator.config import NpuConfig
from simulator.errors import ConfigError
from simulator.isa import Scratchpad

ALIGN = 64  # bytes: every buffer starts on a DMA burst
NAMES = {Scratchpad.INPUT: "input", Scratchpad.WEIGHT: "weight", Scratchpad.ACC: "acc"}


_SIZES = ("input_bytes", "weight_bytes", "acc_bytes")


def capacity_of(config: NpuConfig, sp: int) -> int:
    return getattr(config, _SIZES[sp])


def page_of(config: NpuConfig, sp: int) -> int:
    """Bytes of one tracking page of scratchpad ``sp`` (whole bursts), as the emitter has it
    (kept per config: the GEMM tile search asks it a hundred thousand times a compile)."""
    hit = _PAGES.get(id(config))
    if hit is None or hit[0] is not config:
        if len(_PAGES) >= 64:
            _PAGES.clear()
        pages = tuple(
            -(-max(1, -(-capacity_of(config, s) // PAGES)) // ALIGN) * ALIGN for s in range(3)
        )
        hit = _PAGES[id(config)] = (config, pages)
    return hit[1][sp]


_PAGES: dict[int, tuple[NpuConfig, tuple[int, int, int]]] = {}


def round_pages(config: NpuConfig, sp: int, size: int) -> int:
    """``size`` rounded up to whole pages of ``sp``."""
    page = page_of(config, sp)
    return -(-size // page) * page


def align(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


@dataclass
class Copies:
    """``n`` copies of one working set, evenly spread: tile ``i`` in the copy at
    ``bases[(first + i) % n]``."""

    owner: Scratch
    sp: int
    bases: tuple[int, ...]
    capacity: int  # bytes each copy may hold
    first: int = 0  # the copy of tile 0

    def base(self, tile: int) -> int:
        return self.bases[(tile + self.first) % len(self.bases)]

    def use(self, nbytes: int) -> Copies:
        """Declare that each copy holds ``nbytes``; more than ``capacity`` is an error."""
        if nbytes > self.capacity:
            self.owner.refuse(self.sp, f"{nbytes} bytes a copy", len(self.bases), self.capacity)
        self.owner.grant(self.sp, self.bases[-1] + nbytes)
        return self


@dataclass
class Layout:
    """Buffers placed one after another from ``base``, each copy on whole pages."""

    owner: Scratch
    sp: int
    base: int
    end: int = field(init=False)

    def __post_init__(self) -> None:
        self.end = self.base

    @property
    def size(self) -> int:
        return capacity_of(self.owner.config, self.sp)

    def take(self, nbytes: int, count: int = 1) -> tuple[int, ...]:
        """``count`` copies of ``nbytes``, each from a page boundary."""
        step = round_pages(self.owner.config, self.sp, nbytes)
        out = tuple(self.end + i * step for i in range(count))
        self.end += count * step
        return out

    def take_packed(self, nbytes: int) -> int:
        """One buffer right after the last (64-byte aligned, sharing its page): for buffers
        only one unit touches."""
        addr = self.end
        self.end += align(nbytes)
        return addr

    @property
    def fits(self) -> bool:
        return self.end <= self.size

    def commit(self) -> Layout:
        if not self.fits:
            self.owner.refuse(self.sp, f"{self.end - self.base} bytes of buffers", 1, self.size)
        self.owner.grant(self.sp, self.end)
        return self


class Scratch:
    """One compile's scratchpad allocator: the requests of the layer being lowered and, per
    layer, the highest byte granted in each scratchpad."""

    def __init__(self, config: NpuConfig, least_recent: Callable | None = None) -> None:
        self.config = config
        self.least_recent = least_recent  # (sp, spans) -> the one touched least recently
        self.layer = ""
        self.ends = [0, 0, 0]  # of the layer being lowered
        self.peak = [0, 0, 0]
        self.top = True  # the last layer's per-channel words were on the last pages

    def words_top(self) -> bool:
        """Whether the layer being lowered puts its per-channel words (bias, requant) after
        its W buffers in the weight scratchpad rather than before them: consecutive layers
        alternate, so a layer's first load, its words, does not wait for the layer before's
        last epilogue, which reads its own."""
        self.top = not self.top
        return self.top

    def start(self, layer: str) -> None:
        self.layer, self.ends = layer, [0, 0, 0]

    def grant(self, sp: int, end: int) -> None:
        self.ends[sp] = max(self.ends[sp], end)
        self.peak[sp] = max(self.peak[sp], end)

    def layer_bytes(self) -> dict[str, int]:
        return {NAMES[sp]: self.ends[sp] for sp in Scratchpad if self.ends[sp]}

    def peaks(self) -> dict[str, int]:
        return {NAMES[sp]: self.peak[sp] for sp in Scratchpad}

    def refuse(self, sp: int, what: str, copies: int, capacity: int) -> None:
        size = capacity_of(self.config, sp)
        each = f"{copies} copies of at most {capacity}" if copies > 1 else f"{capacity}"
        raise ConfigError(
            f"layer {self.layer!r} needs {what} of the {NAMES[sp]} scratchpad, which has room "
            f"for {each} bytes ({size} bytes in {PAGES} pages)"
        )

    # --- requests ----------------------------------------------------------------------
    def copies(self, sp: int, n: int = 2) -> Copies:
        """``n`` copies spread evenly over the scratchpad, each on pages of its own; the
        first tile goes to the copy whose pages the program touched least recently (not the
        buffers the layer before still reads, its last MatMul's A, say)."""
        placed = spread(self.config, sp, n)
        if placed is None:
            self.refuse(sp, f"{n} page-aligned copies", n, 0)
        bases, cap = placed
        first = (
            0 if self.least_recent is None else self.least_recent(sp, [(b, b + cap) for b in bases])
        )
        return Copies(self, sp, bases, cap, first)

    def layout(self, sp: int, base: int = 0) -> Layout:
        return Layout(self, sp, base)


def spread(config: NpuConfig, sp: int, n: int) -> tuple[tuple[int, ...], int] | None:
    """(bases, capacity) of ``n`` copies spread evenly over scratchpad ``sp``, each on pages
    of its own; None when it has fewer pages than copies."""
    size, page = capacity_of(config, sp), page_of(config, sp)
    per = PAGES // n if 0 < n <= PAGES else 0
    if per < 1:
        return None
    bases = tuple(i * per * page for i in range(n))
    return bases, min(per * page, size - bases[-1])


def ring(
    config: NpuConfig, sp: int, size: int, base: int = 0, most: int = 4, end: int | None = None
):
    """Up to ``most`` copies of ``size`` in [``base``, ``end``) (default: the scratchpad's
    end), each from a page boundary (a C tile's epilogue and store, or a W load, then have
    several steps to hide behind); at least three, else ``two``; None when not even two fit.
    A pure function of the config: the GEMM tile search asks it of every candidate."""
    cap = capacity_of(config, sp) if end is None else end
    step = round_pages(config, sp, size)
    count = min(most, (cap - base) // step) if step <= cap - base else 0
    if count < 3:
        return two(config, sp, size, base, end)
    return tuple(base + i * step for i in range(count))


def two(
    config: NpuConfig, sp: int, size: int, base: int = 0, end: int | None = None
) -> tuple[int, ...] | None:
    """Two copies of ``size`` in [``base``, ``end``), the second at the scratchpad's half
    when it fits there (else on the first page after the first copy); None when they do not
    fit."""
    cap = capacity_of(config, sp)
    end = cap if end is None else end
    second = max(base + round_pages(config, sp, size), cap // 2)
    return (base, second) if second + size <= end else None


def top_pages(config: NpuConfig, sp: int, size: int) -> int:
    """The address of ``size`` bytes on the last whole pages of scratchpad ``sp`` (where
    the buffers below must end to leave room for them)."""
    page = page_of(config, sp)
    return (capacity_of(config, sp) - size) // page * page
