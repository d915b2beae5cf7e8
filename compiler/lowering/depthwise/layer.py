"""The layer description of a depthwise convolution (``DwLayer``), its tiling record and
the bytes a tile needs in each scratchpad (patches and accumulators in ``nbuf`` slots of whole
emitter pages, the parameters in two halves of WEIGHT).
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.lowering.gemm import Geom
from compiler.scratch import spread
from simulator.isa import DType, Scratchpad, VFunc
from simulator.semantics import pack_bounds16
from simulator.vector import imm_as_int

PATCH, PARAMS, ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC


ARRAY_DTYPES = {DType.FP32: "fp32", DType.INT8: "int8"}


@dataclass(frozen=True)
class DwLayer:
    """One depthwise layer. ``params`` is the DRAM address of a [rows, cout] table of 4-byte
    words: kh*kw weight rows, then the bias row (if any), then the requant words (int8)."""

    name: str
    g: Geom
    x: tuple[int, tuple[int, ...], str]  # DRAM byte address, (n, h, w, c) strides, storage key
    y: tuple[int, tuple[int, ...], list[str]]  # the same, with the keys a store writes
    xdt: DType  # patch dtype: FP32 or INT8
    pad: int  # DMA fill pattern outside the input (0 or the input zero point)
    params: int
    rows: int
    bias: bool
    act: tuple[VFunc, int, int] | None  # float: the fused activation
    requant: tuple[int, int, int] | None  # int8: REQUANT immediates (zero point, lo, hi)
    wrows: int  # DRAM address of the [kh*kw, cout] weight rows in the patch dtype (array)

    @property
    def acc(self) -> DType:
        return DType.FP32 if self.xdt == DType.FP32 else DType.INT32

    @property
    def ydt(self) -> DType:
        return DType.FP32 if self.requant is None else DType.INT8


@dataclass(frozen=True)
class Tiling:
    tr: int  # output rows per tile
    tc: int  # channels per tile
    pattern: str = "v"  # the unit of each tile in turn: v vector, a array (+ vector epilogue)
    nbuf: int = 2  # tile slots in INPUT and ACC
    est: int = 0  # estimated cycles

    def describe(self) -> str:
        units = "vector unit" if self.pattern == "v" else f"array + vector unit, {self.pattern}"
        return f"depthwise rows {self.tr} ch {self.tc} ({units})"


def align(x: int) -> int:
    return -(-x // 64) * 64


def patch_dims(g: Geom, tr: int) -> tuple[int, int]:
    pr = (tr - 1) * g.sh + (g.kh - 1) * g.dh + 1
    pw = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1
    return pr, pw


def acc_bytes(L: DwLayer, t: Tiling) -> int:
    """ACC bytes of a tile: a vector tile's accumulator and products; an array tile's
    accumulator over the patch width and its int8 result."""
    g = L.g
    pixels = t.tr * g.ow
    need = 2 * align(pixels * t.tc * 4)
    if "a" in t.pattern:
        pixels = t.tr * patch_dims(g, t.tr)[1]
        res = pixels * t.tc if L.requant is not None else 0
        need = max(need, align(pixels * t.tc * 4) + res)
    return need


def slot(config, sp: int, nbuf: int) -> int:
    """Bytes of one of ``nbuf`` copies of a scratchpad (``compiler.scratch.spread``: whole
    emitter pages, so that copies share no page); 0 when it has fewer pages than copies."""
    placed = spread(config, sp, nbuf)
    return placed[1] if placed else 0


def params_bytes(L: DwLayer, t: Tiling, cols: int) -> tuple[int, int]:
    """Bytes of a channel block's parameter table and of its diagonal matrices: per kernel
    position and group of ``cols`` channels a [cols, cols] matrix."""
    diag = L.g.kpos * t.tc * cols * L.xdt.size if "a" in t.pattern else 0
    return align(L.rows * t.tc * 4), diag


def fits(L: DwLayer, t: Tiling, config) -> bool:
    g = L.g
    pr, pw = patch_dims(g, t.tr)
    return (
        pr * pw * t.tc * L.xdt.size <= slot(config, Scratchpad.INPUT, t.nbuf)
        and acc_bytes(L, t) <= slot(config, Scratchpad.ACC, t.nbuf)
        and sum(params_bytes(L, t, config.array.cols)) <= slot(config, Scratchpad.WEIGHT, 2)
        and (t.tr - 1) * pw + g.ow < 1 << 16  # a MatMul's m
    )


def array_ok(L: DwLayer, config) -> bool:
    """Array tiles need equal strides (one row stride over the patch) and the patch dtype on
    the array."""
    g = L.g
    return g.sh == g.sw and g.kpos > 1 and ARRAY_DTYPES[L.xdt] in config.array.dtypes


def fused_bias(L: DwLayer) -> bool:
    """An int8 layer's bias added by its REQUANT_BIAS (clamp bounds within int16)."""
    if not L.bias or L.requant is None or L.act is not None:
        return False
    return pack_bounds16(*(imm_as_int(v) for v in L.requant[1:])) is not None
