"""The ops ``passes/kvcache.py`` makes: KVAppend (a cache's new rows written after its past,
in place) and TransposeView (a transpose its MatMul reads with permuted strides)."""

from __future__ import annotations

from compiler.lowering.common import Ctx
from compiler.lowering.movement import _view, copy
from compiler.opdecl import OpTable

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare

ANY = frozenset({"float32", "int32", "int64", "bool"})


@declare(
    "KVAppend",
    "float32, int32, int64, bool",
    "compiler-inserted: Concat(past, new) of a graph input into a graph output, past stored "
    "inside present; writes the new rows only",
    internal=True,
    accepts=ANY,
)
def lower_kv_append(ctx: Ctx, node) -> None:
    y = node.outputs[0]
    rank = ctx.type(y).rank
    axis = node.attr("axis") % rank
    off = ctx.type(node.attr("past")).shape[axis]
    for x in node.inputs:
        shape = ctx.type(x).shape
        start = tuple(off if a == axis else 0 for a in range(rank))
        copy(ctx, shape, _view(ctx, x), _view(ctx, y, start), ctx.place(x).key, y)
        off += shape[axis]
    written = sum(2 * ctx.type(x).nbytes for x in node.inputs)
    ctx.record(node, macs=0, operand_bytes=written)


@declare(
    "TransposeView",
    "float32, int8",
    "compiler-inserted: a Transpose read only as a (Q)MatMul's B operand, with permuted strides",
    internal=True,
)
def lower_transpose_view(ctx: Ctx, node) -> None:
    return None
