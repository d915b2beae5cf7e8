"""Energy per action and area per component by technology node: the one table of defaults.

Every energy the statistics charge and every area a config reports comes from ``TABLE``: one
row per primitive, its value at 45 nm and at 7 nm, and where each number comes from.
``docs/energy_area.md`` is generated from it (``scripts/gen_energy_area.py``, ``make docs``).

**Scaling rule.** A primitive at ``tech_nm`` = n follows the power law through its two
anchors: ``v(n) = v45 * (n / 45) ** (log(v45 / v7) / log(45 / 7))`` (exact at 45 and 7 nm,
geometric in between, the same law extrapolated over ``TECH_NM_RANGE``). DRAM energies and
PHY areas belong to the DRAM and its interface, not to the NPU's node: they do not scale.

**What an action costs** (pJ), from the primitives at the config's node:

- a MAC: the multiply of its operand type plus the accumulating add (int32 for int8, fp32 for
  the float types, which accumulate in fp32);
- a vector lane operation (elements x the function's cycles): an fp32 multiply plus an fp32
  add (a lane computes in fp32/int32; this is the dearest lane cycle, an upper bound);
- a scratchpad byte read or written: the 64-bit read of an SRAM of that scratchpad's size,
  / 8, interpolated as a power law in the size between the 8 KB, 32 KB and 1 MB rows (the end
  segments extended beyond them); a write is charged as a read (no published write figure);
- a DRAM byte: the 64-bit access of ``dram.kind``, / 8.

**What a component takes** (mm^2): a PE is 1.5 x the sum, over ``array.dtypes``, of its
multiplier and accumulating adder (+50% for operand and partial-sum registers and muxes,
an assumption); a vector lane 1.5 x (fp32 multiply + fp32 add + int32 multiply + int32 add);
SRAM per KiB from the bit cell at 50% array efficiency (an assumption); the DMA engines; the
DRAM PHY per GB/s of ``dram.bytes_per_cycle`` at the clock.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from simulator.config import NpuConfig

TECH_NM_RANGE = (5.0, 65.0)
DRAM_KINDS = ("ddr4", "gddr6", "hbm2")

H14 = "Horowitz, ISSCC 2014, 45 nm"
J21 = "Jouppi et al., ISCA 2021 (TPUv4i), Table 2, 7 nm"
DENSITY = (
    "45 nm value (Horowitz, ISSCC 2014) / 27.4, the logic density ratio of TSMC N7 "
    "(91.2 MTr/mm^2, WikiChip) to Intel 45 nm (3.33 MTr/mm^2, Bohr 2017)"
)


class Row(NamedTuple):
    key: str
    unit: str
    v45: float
    v7: float
    source: str


LOGIC_DENSITY_RATIO = 91.2 / 3.33

TABLE: tuple[Row, ...] = (
    # energy per operation
    Row("e.mult_int8", "pJ", 0.2, 0.07, f"{H14}; {J21}"),
    Row("e.add_int32", "pJ", 0.1, 0.03, f"{H14}; {J21}"),
    Row("e.mult_fp16", "pJ", 1.1, 0.34, f"{H14}; {J21}"),
    Row(
        "e.mult_bf16",
        "pJ",
        0.21 * 1.1 / 0.34,
        0.21,
        f"{J21}; no 45 nm figure: the 7 nm value x fp16's 45/7 nm ratio",
    ),
    Row("e.mult_fp32", "pJ", 3.7, 1.31, f"{H14}; {J21}"),
    Row("e.add_fp32", "pJ", 0.9, 0.38, f"{H14}; {J21}"),
    Row("e.mult_int32", "pJ", 3.1, 1.48, f"{H14}; {J21}"),
    # SRAM 64-bit read by size
    Row("e.sram_8kib_read64", "pJ", 10.0, 7.5, f"{H14} (8 KB cache); {J21}"),
    Row("e.sram_32kib_read64", "pJ", 20.0, 8.5, f"{H14} (32 KB cache); {J21}"),
    Row("e.sram_1mib_read64", "pJ", 100.0, 14.0, f"{H14} (1 MB cache); {J21}"),
    # DRAM 64-bit access (not scaled: the DRAM's energy)
    Row("e.dram_ddr4_access64", "pJ", 1300.0, 1300.0, f"{H14} (DDR3, 1.3-2.6 nJ); {J21} (DDR3/4)"),
    Row("e.dram_gddr6_access64", "pJ", 415.0, 415.0, f"{J21} (GDDR6, 350-480 pJ: the midpoint)"),
    Row("e.dram_hbm2_access64", "pJ", 350.0, 350.0, f"{J21} (HBM2, 250-450 pJ: the midpoint)"),
    # area of arithmetic
    Row("a.add_int32", "um^2", 137.0, 137.0 / LOGIC_DENSITY_RATIO, DENSITY),
    Row("a.mult_int8", "um^2", 282.0, 282.0 / LOGIC_DENSITY_RATIO, DENSITY),
    Row("a.mult_int32", "um^2", 3495.0, 3495.0 / LOGIC_DENSITY_RATIO, DENSITY),
    Row("a.add_fp16", "um^2", 1360.0, 1360.0 / LOGIC_DENSITY_RATIO, DENSITY),
    Row("a.mult_fp16", "um^2", 1640.0, 1640.0 / LOGIC_DENSITY_RATIO, DENSITY),
    Row(
        "a.mult_bf16",
        "um^2",
        1640.0,
        1640.0 / LOGIC_DENSITY_RATIO,
        "no published figure: fp16's (an 8-bit mantissa multiplier is smaller: an upper bound)",
    ),
    Row("a.add_fp32", "um^2", 4184.0, 4184.0 / LOGIC_DENSITY_RATIO, DENSITY),
    Row("a.mult_fp32", "um^2", 7700.0, 7700.0 / LOGIC_DENSITY_RATIO, DENSITY),
    # SRAM bit cell
    Row(
        "a.sram_bitcell",
        "um^2",
        0.346,
        0.027,
        "Intel 45 nm 6T cell (Mistry et al., IEDM 2007); TSMC N7 high-density cell "
        "(Wu et al., IEDM 2016)",
    ),
    Row(
        "a.dma",
        "mm^2",
        0.2,
        0.2 / LOGIC_DENSITY_RATIO,
        "an estimate (no published figure: two DMA engines' address generators and buffers); "
        "7 nm by the logic density ratio",
    ),
    # DRAM PHY area per GB/s (not scaled: I/O)
    Row("a.phy_ddr4_per_gbps", "mm^2", 0.12, 0.12, "an estimate: ~3 mm^2 for a 25.6 GB/s x64 PHY"),
    Row("a.phy_gddr6_per_gbps", "mm^2", 0.05, 0.05, "an estimate: ~3 mm^2 for a 64 GB/s x32 PHY"),
    Row(
        "a.phy_hbm2_per_gbps", "mm^2", 0.04, 0.04, "an estimate: ~12 mm^2 for a 307 GB/s stack PHY"
    ),
)

ROWS = {row.key: row for row in TABLE}
REGISTER_OVERHEAD = 1.5  # PEs and vector lanes: registers and muxes on top of the arithmetic
SRAM_ARRAY_EFFICIENCY = 0.5  # bit cells / macro area
MAC_PARTS = {  # operand type -> (multiply, accumulating add)
    "int8": ("mult_int8", "add_int32"),
    "fp16": ("mult_fp16", "add_fp32"),
    "bf16": ("mult_bf16", "add_fp32"),
    "fp32": ("mult_fp32", "add_fp32"),
}
LANE_PARTS = ("mult_fp32", "add_fp32", "mult_int32", "add_int32")
SRAM_POINTS = ((8, "e.sram_8kib_read64"), (32, "e.sram_32kib_read64"), (1024, "e.sram_1mib_read64"))


def at_node(key: str, tech_nm: float) -> float:
    """The value of primitive ``key`` at ``tech_nm`` (the module's scaling rule)."""
    row = ROWS[key]
    if row.v45 == row.v7:
        return row.v45
    exponent = math.log(row.v45 / row.v7) / math.log(45 / 7)
    return row.v45 * (tech_nm / 45) ** exponent


def sram_read64_pj(kib: float, tech_nm: float) -> float:
    """A 64-bit read of a ``kib`` KiB SRAM: a power law in the size through the table's sizes."""
    points = [(size, at_node(key, tech_nm)) for size, key in SRAM_POINTS]
    (s0, e0), (s1, e1) = points[:2] if kib <= points[1][0] else points[1:]
    return e0 * (kib / s0) ** (math.log(e1 / e0) / math.log(s1 / s0))


class Energies(NamedTuple):
    """The pJ of each action at a config's node (what ``stats`` charges)."""

    mac: dict[str, float]  # per operand type
    vector_op: float
    sram_read_per_byte: tuple[float, float, float]  # input, weight, acc scratchpad
    sram_write_per_byte: tuple[float, float, float]
    dram_per_byte: float


@lru_cache(maxsize=256)
def energies(config: NpuConfig) -> Energies:
    n = config.tech_nm
    mac = {t: at_node(f"e.{m}", n) + at_node(f"e.{a}", n) for t, (m, a) in MAC_PARTS.items()}
    lane = at_node("e.mult_fp32", n) + at_node("e.add_fp32", n)
    sp = config.scratchpad
    per_byte = tuple(sram_read64_pj(k, n) / 8 for k in (sp.input_kib, sp.weight_kib, sp.acc_kib))
    dram = at_node(f"e.dram_{config.dram.kind}_access64", n) / 8
    return Energies(mac, lane, per_byte, per_byte, dram)


def pe_mm2(dtypes: tuple[str, ...], tech_nm: float) -> float:
    um2 = sum(at_node(f"a.{part}", tech_nm) for t in dtypes for part in MAC_PARTS[t])
    return REGISTER_OVERHEAD * um2 / 1e6


def areas(config: NpuConfig) -> dict[str, float]:
    """mm^2 per component of ``config`` and their ``total``."""
    n = config.tech_nm
    sp = config.scratchpad
    kib = sp.input_kib + sp.weight_kib + sp.acc_kib
    sram_per_kib = 8192 * at_node("a.sram_bitcell", n) / SRAM_ARRAY_EFFICIENCY / 1e6
    lane = REGISTER_OVERHEAD * sum(at_node(f"a.{part}", n) for part in LANE_PARTS) / 1e6
    gbps = config.dram.bytes_per_cycle * config.clock_mhz / 1000
    out = {
        "array": config.array.rows * config.array.cols * pe_mm2(config.array.dtypes, n),
        "sram": kib * sram_per_kib,
        "vector": config.vector.lanes * lane,
        "dma": at_node("a.dma", n),
        "dram_phy": gbps * at_node(f"a.phy_{config.dram.kind}_per_gbps", n),
    }
    out["total"] = sum(out.values())
    return out
