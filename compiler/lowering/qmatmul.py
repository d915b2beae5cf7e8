"""int8 products of two activations (QMatMul, attention's q·kᵀ and P·V) and the row sums of
their zero-point terms (QSum). Every head's nest continues the buffer rotation of the one
before; the first nest's prologue may be emitted ahead of the layers before (``prefetch``).
"""

from __future__ import annotations

import numpy as np

from compiler.lowering import gemm, rowwise
from compiler.lowering.common import Box, Ctx, i32_bits
from compiler.lowering.conv import _sub_operand
from compiler.lowering.gemm import Epilogue, GemmLayer, Geom, Operand
from compiler.lowering.gemm.layer import ColSums
from compiler.lowering.quant import chain_of, lut_address, prefetch_nest, tile_quant
from compiler.opdecl import OpTable
from simulator.isa import DType, VFunc
from simulator.semantics import pack_requant_scale

OPS = OpTable()  # merged into the registry by compiler.ops
declare = OPS.declare


@declare(
    "QSum",
    "int8 -> int32",
    "compiler-made for QMatMul's zero points: mult * sum over one axis + add (vector RSUM)",
    internal=True,
    weights=False,
)
def lower_qsum(ctx: Ctx, node) -> None:
    axis = node.attr("axis") % ctx.type(node.inputs[0]).rank
    mult, add = node.attr("mult"), node.attr("add")

    def build(ctx, xb, base, slot, n, L):
        m = Box(rowwise.SP, DType.INT32, base + slot, (0, 1, 0))
        one = (1, n, 1)
        rowwise._v(ctx, VFunc.RSUM, (1, n, L), m, xb)
        rowwise._v(ctx, VFunc.MUL_IMM, one, m, m, None, (i32_bits(mult), 0, 0))
        if add:
            rowwise._v(ctx, VFunc.ADD_IMM, one, m, m, None, (i32_bits(add), 0, 0))
        return m, one

    rowwise._run(ctx, node, (axis,), build, x_dtype=DType.INT8)
    ctx.record(node, macs=0)


def prefetch_qmatmul(ctx: Ctx, node) -> None:
    """The first head's nest prologue, ahead of the layers before."""
    heads = _Heads(ctx, node)
    prefetch_nest(ctx, node, heads.layer(heads.indices[0]), heads)


@declare(
    "QMatMul",
    "int8",
    "compiler-made from DequantizeLinear x2 -> MatMul -> QuantizeLinear (two activations, "
    "batched with numpy broadcasting): int8 x int8 -> int32, zero points as a per-row int32 "
    "correction (QSum) and B's column sums from a row of ones after A's, REQUANT by s_a s_b / s_y",
    internal=True,
    prefetch=prefetch_qmatmul,
)
def lower_qmatmul(ctx: Ctx, node) -> None:
    pre = ctx.prefetched.pop(node.name, None)
    heads, first, t, carry = pre or (_Heads(ctx, node), None, None, {})
    for i, idx in enumerate(heads.indices):
        layer = first if i == 0 and first is not None else heads.layer(idx)
        t = t or gemm.plan(layer, ctx.config, ctx.plans)
        gemm.emit(ctx, layer, t, carry)  # each head's nest continues the one before
    yt = ctx.type(node.outputs[0])
    macs = int(np.prod(yt.shape)) * heads.k
    ctx.record(node, macs=macs, tiling=t.describe(1), est_cycles=t.est)


class _Heads:
    """A QMatMul's nests, one per index of its leading (batch, head) axes, and what they
    share: the REQUANT words, B's column sums, a fused LUT."""

    def __init__(self, ctx: Ctx, node) -> None:
        self.ctx, self.node = ctx, node
        a, b = node.inputs[:2]
        at, bt, yt = ctx.type(a), ctx.type(b), ctx.type(node.outputs[0])
        self.m, self.k = at.shape[-2:]
        self.n = bt.shape[-1]
        self.lead = yt.shape[:-2]
        self.indices = list(np.ndindex(*self.lead)) if self.lead else [()]
        words = np.full(self.n, pack_requant_scale(node.attr("requant")[0]), np.uint32)
        self.requant = ctx.const(words.view(np.int32)).addr
        self.sums, self.lut = _col_sums(ctx, node, self.k), lut_address(ctx, node)
        self.chain = chain_of(ctx, node)
        self.zp = tile_quant(node, yt.quant).zero_point

    def layer(self, idx: tuple[int, ...]) -> GemmLayer:
        ctx, node, lead = self.ctx, self.node, self.lead
        a, b, ra = node.inputs[:3]
        epi = Epilogue(requant=self.requant, out_zp=self.zp, clamp=tuple(node.attr("clamp")))
        epi.col_sums, epi.lut, epi.chain = self.sums, self.lut, self.chain
        if ra:
            row = _sub_operand(ctx, ra, idx, lead)
            epi.residual = Operand(row.addr, (0, 0, row.strides[2], 0), row.key, row.writes)
            epi.residual_dtype = DType.INT32
        return GemmLayer(
            node.name,
            Geom(1, 1, self.m, self.k, 1, self.m, self.n),
            DType.INT8,
            DType.INT8,
            _sub_operand(ctx, a, idx, lead),
            _sub_operand(ctx, node.outputs[0], idx, lead),
            _sub_operand(ctx, b, idx, lead),
            epi,
            repeat=int(np.prod(lead)),
        )


def _col_sums(ctx: Ctx, node, k: int) -> ColSums | None:
    """-za * sum_k (b - zb) of each column (``ColSums``: the row of ones, and the row's
    initial -K zb when the row sums' correction is preloaded into C); None when za is 0."""
    za, zb = node.attr("zero_points", (0, 0))
    if not za:
        return None
    ones = ctx.const(np.ones(k, np.int8)).addr
    return ColSums(-za, ones, -k * zb if zb else None)
