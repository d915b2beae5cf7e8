"""onnxruntime's weight-only quantised ``MatMulNBits`` (com.microsoft): Y = A @ dequant(B)^T.

B holds N rows of K unsigned ``bits``-bit codes (4 or 8), packed low nibble first, in blocks
of ``block_size`` along K, one scale (and zero point) per block. DRAM keeps the packed codes,
each block's followed by its scale and zero point as an fp32 pair (one record per block), so
a decode step reads 4-bit weights. The layer is a float GEMM (``gemm``'s nest) whose W
operand is ``PackedW``: each W tile's records are loaded by one DMA into the weight
scratchpad behind the fp32 tile, and one ``DEQUANT_PACKED`` writes the tile, stored [N, K]
(the MatMul reads it transposed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.lowering import conv
from compiler.lowering.common import Box, Ctx, load, vector
from compiler.lowering.gemm import GemmLayer, Geom, Operand, align
from compiler.opdecl import OpTable
from simulator.isa import PACKED_BITS, DType, Scratchpad, Vector, VFunc

OPS = OpTable()  # merged into the registry by compiler.ops
SP_W = Scratchpad.WEIGHT


@dataclass(frozen=True)
class PackedW:
    """A W operand of packed codes and their fp32 groups, interleaved per block in DRAM:
    [N, ceil(K / block), record], each record a block's ``block * bits / 8`` code bytes
    (padded to 4) then its scale and zero point (or its scale alone: the zero point is
    2**(bits-1)), so one DMA brings a W tile's codes and groups. When K is not a multiple of
    the block, the last block's codes past K are padding (as onnxruntime stores them), never
    dequantised."""

    addr: int  # DRAM address of the records
    k: int
    bits: int
    block: int
    zp: bool

    @property
    def per(self) -> int:
        return 2 if self.zp else 1

    @property
    def blob(self) -> int:
        """Bytes of a block's codes in its record (a multiple of 4: the groups are fp32)."""
        return align(self.block * self.bits // 8, 4)

    @property
    def record(self) -> int:
        return self.blob + self.per * 4

    @property
    def blocks(self) -> int:
        """Blocks per row of N (the last one partial when K is not a multiple)."""
        return -(-self.k // self.block)

    def key(self) -> tuple:
        return self.bits, self.block, self.zp

    def staging(self, tn: int, tk: int) -> int:
        """Bytes behind a W tile of tn x tk: its blocks' records."""
        return align(tn * -(-tk // self.block) * self.record)

    def w_tile(self, wbuf: int, w_bytes: int, nc, kc) -> list[tuple]:
        """("l", Load) of the records of N range ``nc`` and K chunk ``kc`` (from a block
        boundary) behind the fp32 tile at ``wbuf`` (``w_bytes`` long), then ("v",
        DEQUANT_PACKED) writing the tile [tn, tk]: one over its whole blocks, and one over a
        last partial block's codes (K not a multiple of the block)."""
        (n0, tn), (k0, tk) = nc, kc
        whole, tail = divmod(tk, self.block)
        rec = self.record
        at, row, pitch = wbuf + w_bytes, -(-tk // self.block) * rec, self.blocks * rec
        dram = self.addr + n0 * pitch + k0 // self.block * rec
        out: list[tuple] = [
            ("l", load(SP_W, at, 1, dram, (1, tn, row), (0, pitch, 1), (0, row, 1)))
        ]
        for first, blocks, codes in ((0, whole, self.block), (whole, int(tail > 0), tail)):
            if blocks:
                out.append(
                    ("v", self._dequant(wbuf, at + first * rec, tk, first, (tn, blocks, codes)))
                )
        return out

    def _dequant(self, wbuf: int, at: int, tk: int, first: int, counts) -> Vector:
        """DEQUANT_PACKED of ``counts`` (rows, blocks, codes) from the records at ``at`` into
        the tile [tn, tk] from block ``first`` of each row."""
        rec, row = self.record, -(-tk // self.block) * self.record
        dst = Box(SP_W, DType.FP32, wbuf + first * self.block * 4, (tk, self.block, 1))
        src0 = Box(SP_W, DType.UINT8, at, (row, rec, 1))
        src1 = Box(SP_W, DType.FP32, at + self.blob, (row // 4, rec // 4, 1))
        imm = (self.bits, int(self.zp), 1 << (self.bits - 1))
        return vector(VFunc.DEQUANT_PACKED, counts, dst, src0, src1, imm)


def _check(node, graph) -> str | None:
    ins = list(node.inputs) + [""] * (6 - len(node.inputs))
    bits, block, k = node.attr("bits", 4), node.attr("block_size"), node.attr("K")
    if bits not in PACKED_BITS:
        return f"bits={bits} (supported: {PACKED_BITS})"
    if ins[4]:
        return "a g_idx input (act-order GPTQ)"
    if any(t and not graph.is_const(t) for t in (ins[1], ins[2], ins[3], ins[5])):
        return "B, scales, zero points and bias must be constant"
    if ins[3] and graph.constants[ins[3]].dtype != np.uint8:
        return f"zero points of type {graph.constants[ins[3]].dtype} (supported: packed uint8)"
    if not block or block * bits % 8:
        return f"block_size={block} is not whole bytes of {bits}-bit codes"
    if k % block * bits % 8:
        return f"K={k} leaves a last block of {k % block} {bits}-bit codes (not whole bytes)"
    return None


def groups_table(scales: np.ndarray, zps: np.ndarray | None, n: int, blocks: int, bits: int):
    """[N, blocks, 2] fp32 (scale, zero point), or [N, blocks, 1] (scale) without zero points;
    4-bit zero points are packed two a byte, low nibble first, per row of N."""
    scale = np.asarray(scales, np.float32).reshape(n, blocks, 1)
    if zps is None:
        return scale
    z = np.asarray(zps, np.uint8).reshape(n, -1)
    if bits == 4:
        z = np.stack([z & 0x0F, z >> 4], axis=-1).reshape(n, -1)
    return np.concatenate([scale, z[:, :blocks, None].astype(np.float32)], axis=-1)


def records(codes: np.ndarray, table: np.ndarray, packed: PackedW) -> np.ndarray:
    """The DRAM records [N, blocks, record] (bytes): each block's codes, then its groups."""
    n, blocks = table.shape[:2]
    out = np.zeros((n, blocks, packed.record), np.uint8)
    blob = packed.block * packed.bits // 8
    out[:, :, :blob] = np.asarray(codes, np.uint8).reshape(n, blocks, blob)
    groups = np.ascontiguousarray(table, np.float32).view(np.uint8)
    out[:, :, packed.blob :] = groups.reshape(n, blocks, -1)
    return out


@OPS.declare(
    "MatMulNBits",
    "float32",
    "com.microsoft (onnxruntime's weight-only quantisation): bits 4 and 8; K need not be a "
    "multiple of block_size (the last block's codes must be whole bytes); constant B, "
    "scales, packed uint8 zero points (optional) and bias; no g_idx; fp32 compute whatever "
    "accuracy_level; B stays packed in DRAM and is dequantised per W tile (DEQUANT_PACKED)",
    _check,
)
def lower_matmul_nbits(ctx: Ctx, node) -> None:
    ins = list(node.inputs) + [""] * (6 - len(node.inputs))
    at, yt = ctx.type(ins[0]), ctx.type(node.outputs[0])
    if at.perm is not None:
        conv.raise_unsupported(node, "A in a permuted layout")
    k, n, bits, block = (
        node.attr("K"),
        node.attr("N"),
        node.attr("bits", 4),
        node.attr("block_size"),
    )
    rows = int(np.prod(at.shape[:-1]))
    consts = ctx.graph.constants
    zps = consts[ins[3]] if ins[3] else None
    table = groups_table(consts[ins[2]], zps, n, -(-k // block), bits)
    layout = PackedW(0, k, bits, block, zps is not None)
    addr = ctx.const(records(consts[ins[1]], table, layout)).addr
    packed = PackedW(addr, k, bits, block, zps is not None)
    x = conv.operand(ctx, ins[0], (None, None, at.rank - 2, at.rank - 1))
    y = conv.operand(ctx, node.outputs[0], (None, None, yt.rank - 2, yt.rank - 1))
    bias = consts[ins[5]].reshape(-1) if ins[5] else None
    layer = GemmLayer(
        node.name,
        Geom(1, 1, rows, k, 1, rows, n),
        DType.FP32,
        DType.FP32,
        Operand(x.addr, (0, 0, k, 1), x.key),
        Operand(y.addr, (0, 0, n, 1), y.key, y.writes),
        Operand(addr, (0, 0, 1, k), "const"),  # [N, K]: the MatMul reads W transposed
        conv._epilogue(ctx, node, n, bias),
        packed=packed,
    )
    t = conv._run(ctx, node, layer)
    ctx.record(node, macs=rows * n * k, tiling=t.describe(1), est_cycles=t.est)
