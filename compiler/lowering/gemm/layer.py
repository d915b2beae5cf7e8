"""The layer description of a GEMM-like layer (Conv, ConvTranspose phases, Gemm, MatMul;
float and int8) and the tile geometry every stage shares.

A layer is an image problem: ``batch`` images of h x w pixels with cin channels (any element
strides in DRAM), a kh x kw kernel with strides, dilations and pads, ``groups`` groups, and
weights W[g, kpos, cin_g, cout_g]. An M tile is tr output rows x tw output columns; its input
patch, the pitch of its C tile and the tile ranges are defined here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compiler.tiling import GemmTiling
from simulator.isa import DType, Scratchpad, VFunc

SP_IN, SP_W, SP_ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC


@dataclass(frozen=True)
class Geom:
    batch: int
    h: int
    w: int
    cin: int
    oh: int
    ow: int
    cout: int
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    dh: int = 1
    dw: int = 1
    pt: int = 0
    pl: int = 0
    groups: int = 1

    @property
    def cin_g(self) -> int:
        return self.cin // self.groups

    @property
    def cout_g(self) -> int:
        return self.cout // self.groups

    @property
    def kpos(self) -> int:
        return self.kh * self.kw

    @property
    def macs(self) -> int:
        return self.batch * self.oh * self.ow * self.cout * self.kpos * self.cin_g


@dataclass(frozen=True)
class Operand:
    """A DRAM operand: byte address, element strides, storage key(s)."""

    addr: int
    strides: tuple[int, ...]
    key: str
    writes: tuple[str, ...] = ()


@dataclass
class Epilogue:
    bias: int | None = None  # DRAM address of cout bias words (fp32 or int32)
    bias_key: str = "const"  # the storage the bias words are read from
    residual: Operand | None = None  # same shape as the output, added before the activation
    residual_dtype: DType | None = None  # None: the output dtype
    act: tuple[VFunc, int, int] | None = None  # vector function and immediates (float path)
    requant: int | None = None  # DRAM address of cout packed requant words (int8 path)
    out_zp: int = 0
    clamp: tuple[int, int] = (-128, 127)
    post_add: PostAdd | None = None  # int8: a QAdd of the REQUANTised tile and a residual
    col_sums: ColSums | None = None  # int8 x int8 activations: B's column sums by the array
    lut: int | None = None  # int8: DRAM address of a LUT table the output goes through (a
    # fused QEltwise, passes.late_fusion), kept with the words in the weight scratchpad
    chain: Chain | None = None  # int8: a fused QEltwise's vector steps on the output


@dataclass(frozen=True)
class Chain:
    """A QEltwise fused after the REQUANT (``passes.late_fusion``), its vector steps bit for
    bit on the int8 tile: slots ``acts`` are the tile, "t" an fp32 tile over the accumulators
    (read by then), "out" the tile; each constant slot is a per-channel word array (DRAM
    address, dtype) loaded with the epilogue's words."""

    steps: tuple
    acts: tuple[int, ...]
    consts: tuple[tuple[int, int, DType], ...]  # (slot, DRAM address of cout words, dtype)


@dataclass(frozen=True)
class ColSums:
    """A QMatMul's zero-point term of B, ``mult * (sum_k B[k, n] + init[n])`` added to every
    row, with the column sums out of the array itself: a row of ones (``ones``: DRAM address of
    K int8 ones) streamed after each A tile's rows makes the C row after the tile's rows
    sum_k B[k, n], exact in int32, so B is read once, by the MatMuls. With a residual
    preloaded into C, that row is preloaded with ``init`` (an int32, every column's) by the
    same load."""

    mult: int
    ones: int
    init: int | None = None


@dataclass(frozen=True)
class PostAdd:
    """A QAdd fused after the REQUANT (int8 layers), the standalone QAdd's vector steps bit for
    bit on the tile in the scratchpad: one QADD of the tile and the int8 residual (``qadd``: its
    immediates), or, when the scale ratios do not fit QADD, DEQUANT the tile (``tile_imm``)
    and the residual (``res_imm``), ADD in fp32, the CLIP immediates (or None), QUANT
    (``out_imm``). Those immediates are (zero point, fp32 scale bits, 0)."""

    residual: Operand  # int8, strides (n, h, w, c) as the output
    tile_imm: tuple[int, int, int]
    res_imm: tuple[int, int, int]
    out_imm: tuple[int, int, int]
    clip: tuple[int, int, int] | None = None
    qadd: tuple[int, int, int] | None = None


@dataclass
class GemmLayer:
    name: str
    geom: Geom
    dtype: DType  # operand type: FP32 or INT8/UINT8
    out_dtype: DType
    x: Operand  # strides (n, h, w, c)
    y: Operand  # strides (n, h, w, c)
    w: Operand  # strides (g, kpos, k, n); activation weights: g is the batch index
    epi: Epilogue = field(default_factory=Epilogue)
    x_pad: int = 0
    packed: Any = None  # nbits.PackedW: W as packed codes, dequantised per tile (float nest)
    repeat: int = 1  # nests of this plan emitted in a row, each continuing the one before

    @property
    def es(self) -> int:
        return self.dtype.size

    @property
    def acc_dtype(self) -> DType:
        return DType.FP32 if self.dtype.is_float else DType.INT32


def sum_rows(L: GemmLayer) -> int:
    """Rows a tile streams after its own: 1 for the row of ones of ``ColSums``, else 0."""
    return 1 if L.epi.col_sums is not None else 0


def align(x: int, a: int = 64) -> int:
    """``x`` rounded up to a multiple of ``a``."""
    return -(-x // a) * a


def ranges(total: int, size: int) -> list[tuple[int, int]]:
    """(start, length) of each tile of ``size`` along ``total``."""
    return [(s, min(size, total - s)) for s in range(0, total, size)]


def mtiles(L: GemmLayer, t: GemmTiling):
    """(image, first row, rows, first column, columns) of each M tile, in order."""
    g = L.geom
    for b in range(g.batch):
        for r0, tr in ranges(g.oh, t.tr):
            for c0, tw in ranges(g.ow, t.tw):
                yield b, r0, tr, c0, tw


def window(start: int, step: int, count: int, limit: int) -> tuple[int, int]:
    """The index range i in [0, count) with 0 <= start + i*step < limit."""
    lo = (-start + step - 1) // step if start < 0 else 0
    hi = (limit - start + step - 1) // step if limit > start else 0
    lo, hi = min(lo, count), min(hi, count)
    return lo, max(lo, hi)


def patch(L: GemmLayer, t: GemmTiling) -> tuple[int, int]:
    """Rows and columns of an M tile's input patch (its output tile in "im2col")."""
    g = L.geom
    if t.mode == "shift":
        return t.tr + (g.kh - 1) * g.dh, t.tw + (g.kw - 1) * g.dw
    if t.mode == "vcol":
        return (t.tr - 1) * g.sh + (g.kh - 1) * g.dh + 1, (t.tw - 1) * g.sw + (g.kw - 1) * g.dw + 1
    return t.tr, t.tw


def pitch_of(L: GemmLayer, t: GemmTiling, tr: int, tw: int) -> int:
    """Elements between output rows in a C tile (a shifted window's patch width)."""
    g = L.geom
    if t.mode == "shift":
        return tw + (g.kw - 1) * g.dw
    if t.mode == "phase":
        return tw + (g.kw - 1) // g.sw
    return tw


def w_transposed(L: GemmLayer) -> bool:
    """W is stored [N, K] (K contiguous): the MatMul reads it transposed."""
    _, _, sk, sn = L.w.strides
    return sk == 1 and sn != 1
