"""Resource limits shared by the compiler, the simulator and the CLI: one place for each.

- ``ADDRESS_SPACE``: bytes of DRAM a DMA can address (the ISA's signed ``dram_addr`` field).
  Every tensor, and the whole DRAM image of a program, must fit it.
- ``MAX_CYCLES``: simulated time must stay below it (the timing model's event times are
  compared against ``1 << 62``; a program that would run longer is refused before the loop).
- ``DEFAULT_MAX_MEMORY``: the memory budget (``--max-memory``): the most bytes a compile may
  plan for DRAM (activations + constants) and a simulation may allocate (scratchpads + DRAM).
  A folded constant may use at most ``FOLD_FRACTION`` of it.

``parse_size("8G")`` reads a budget given on the command line; ``fmt_size`` prints one;
``check_size`` raises the usual one-line error naming the thing and its size.
"""

from __future__ import annotations

import math
import re

from simulator.errors import NpuError
from simulator.isa import Load, layout

_DRAM_FIELD = next(f for f in layout(Load) if f.name == "dram_addr")
ADDRESS_SPACE = 1 << (_DRAM_FIELD.bits - 1)  # addresses are signed: [0, 2**39)
MAX_CYCLES = 1 << 60
DEFAULT_MAX_MEMORY = 8 << 30
FOLD_FRACTION = 4  # a folded constant may use at most max_memory // FOLD_FRACTION bytes
MAX_RANK = 32  # dims of any tensor (ONNX runtimes allow far fewer in practice)

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"8G"``, ``"512MiB"``, ``"1.5g"``, ``"1000000"`` -> bytes; ValueError when malformed."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 8G, 512M, 1000000)")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return int(value)


def fmt_size(nbytes: int) -> str:
    """``fmt_size(6_400_000_000)`` -> ``'6,400,000,000 bytes (6.0 GiB)'``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes:,} bytes ({nbytes / (1 << shift):.1f} {unit})"
    return f"{nbytes:,} bytes"


def numel(shape) -> int:
    """Exact element count (Python integers: no int64 overflow)."""
    return math.prod(int(d) for d in shape)


def span(shape, strides=None) -> int:
    """Elements from a tensor's first to its last (inclusive) with element ``strides`` per
    axis (None: row-major, the element count)."""
    if strides is None:
        return numel(shape)
    if numel(shape) == 0:
        return 0
    return 1 + sum((int(n) - 1) * int(s) for n, s in zip(shape, strides, strict=True))


def check_size(what: str, nbytes: int, limit: int, limit_name: str, error=NpuError) -> None:
    """Raise ``error`` when ``what`` needs more than ``limit`` bytes."""
    if nbytes > limit:
        raise error(f"{what} needs {fmt_size(nbytes)}, more than {limit_name} ({fmt_size(limit)})")


def memory_limits(max_memory: int | None) -> tuple[int, str]:
    """The byte limit for DRAM images and tensors, and how to name it in messages."""
    budget = DEFAULT_MAX_MEMORY if max_memory is None else int(max_memory)
    if budget >= ADDRESS_SPACE:
        return ADDRESS_SPACE, "the DRAM address space"
    return budget, "the memory budget (--max-memory)"
