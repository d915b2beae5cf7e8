"""The element-wise op families of ``compiler.optables`` on the vector unit: every unary and
binary row becomes a declared op lowered by one generic function; Clip, Where and Cast are the
element-wise ops with their own small rules. All run through ``eltwise.run_eltwise`` (numpy
broadcasting, any DRAM strides, int64 tensors as their low words)."""

from __future__ import annotations

import numpy as np

from compiler import optables
from compiler.ir import Graph, Node
from compiler.lowering.common import Ctx, f32_bits, i32_bits
from compiler.lowering.eltwise import Step, run_eltwise
from compiler.opdecl import OpTable
from compiler.optables import BOOL, FLOAT, INT, NUM, Binary, Unary
from simulator.isa import DType, VFunc

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
ANY = NUM | BOOL
INT32_RANGE = (-(2**31), 2**31 - 1)


def _dtypes(accepts: frozenset[str]) -> str:
    order = ("float32", "int32", "int64", "bool")
    return ", ".join(d for d in order if d in accepts)


def _cost(func: VFunc) -> str:
    c = func.info.cycles
    return f"vector {func.name} ({c} cycle{'s' if c > 1 else ''} per lane-vector)"


def _integer(graph: Graph, tensor: str) -> bool:
    return graph.type(tensor).dtype in INT


# --- unary ---------------------------------------------------------------------------------
def _unary_check(row: Unary):
    def check(node: Node, graph: Graph) -> str | None:
        if row.function(node.attrs) is None:
            name = row.variants[0]
            return f"{name}={node.attr(name)!r} is not supported"
        return None

    return check


def _lower_unary(row: Unary):
    def lower(ctx: Ctx, node: Node) -> None:
        func = row.function(node.attrs)
        step = Step(func, "out", 0, None, row.immediates(node.attrs))
        run_eltwise(ctx, node.outputs[0], [node.inputs[0]], [step])
        ctx.record(node, macs=0)

    return lower


def _unary_doc(row: Unary) -> str:
    funcs = [row.func] if row.variants is None else [f for _, f in row.variants[1]]
    text = "; ".join(_cost(f) for f in funcs)
    if row.variants is not None:
        text += f" by {row.variants[0]} ({', '.join(repr(v) for v, _ in row.variants[1])})"
    if row.imm:
        text += "; attributes " + ", ".join(k for k, _ in row.imm)
    if row.fusable:
        text += "; fused into the producer's epilogue when it follows a Conv/Gemm/MatMul"
    return text


for _row in optables.UNARY:
    _accepts = _row.accepts | ({_row.out} if _row.out else frozenset())
    OPS.declare(
        _row.op,
        _dtypes(_row.accepts) + (f" -> {_row.out}" if _row.out else ""),
        _unary_doc(_row),
        _unary_check(_row) if _row.variants else None,
        accepts=_accepts,
    )(_lower_unary(_row))


# --- binary, n-ary, comparison and logical -------------------------------------------------
def _binary_check(row: Binary):
    def check(node: Node, graph: Graph) -> str | None:
        ins = [i for i in node.inputs if i]
        if row.function(node.attrs, False) is None:
            name = row.variants[0]
            return f"{name}={node.attr(name)!r} is not supported"
        if row.op == "Mod" and any(graph.type(i).dtype in FLOAT for i in ins):
            if not node.attr("fmod", 0):
                return "fmod=0 on float inputs (ONNX requires fmod=1 for floats)"
        return None

    return check


def _lower_binary(row: Binary):
    def lower(ctx: Ctx, node: Node) -> None:
        ins = [i for i in node.inputs if i]
        if row.swap:
            ins = ins[::-1]
        integer = all(_integer(ctx.graph, i) for i in ins)
        func = row.function(node.attrs, integer)
        if len(ins) == 1:
            steps = [Step(VFunc.COPY, "out", 0)]
        else:
            steps = [Step(func, "out", 0, 1)] + [
                Step(func, "out", "out", k) for k in range(2, len(ins))
            ]
        if row.mean:
            steps.append(Step(VFunc.MUL_IMM, "out", "out", None, (f32_bits(1.0 / len(ins)), 0, 0)))
        run_eltwise(ctx, node.outputs[0], ins, steps)
        ctx.record(node, macs=0)

    return lower


def _binary_doc(row: Binary) -> str:
    funcs = [row.func] if row.variants is None else [f for _, f in row.variants[1]]
    text = " / ".join(_cost(f) for f in funcs)
    if row.int_func is not None:
        text += f"; integers: {_cost(row.int_func)}"
    if row.variants is not None:
        text += f" by {row.variants[0]}"
    if row.swap:
        text += " with the operands exchanged"
    text += "; numpy broadcasting"
    if row.nary:
        text += "; any number of inputs" + (", times 1/n" if row.mean else "")
    return text


for _row in optables.BINARY:
    _accepts = _row.accepts | ({_row.out} if _row.out else frozenset())
    OPS.declare(
        _row.op,
        _dtypes(_row.accepts) + (f" -> {_row.out}" if _row.out else ""),
        _binary_doc(_row),
        _binary_check(_row) if (_row.variants or _row.op == "Mod") else None,
        accepts=_accepts,
    )(_lower_binary(_row))


# --- Clip ----------------------------------------------------------------------------------
def _bound(graph: Graph, node: Node, k: int) -> str:
    return node.inputs[k] if len(node.inputs) > k and node.inputs[k] else ""


def _clip_immediates(ctx: Ctx, node: Node) -> tuple[int, int, int] | None:
    """Constant bounds as CLIP's immediates (int32 for integer tensors), else None."""
    integer = _integer(ctx.graph, node.inputs[0])
    lo, hi = INT32_RANGE if integer else (-np.inf, np.inf)
    lo, hi = node.attr("min", lo), node.attr("max", hi)
    for k in (1, 2):
        name = _bound(ctx.graph, node, k)
        if not name:
            continue
        v = ctx.graph.scalar(name)
        if v is None:
            return None
        lo, hi = (v, hi) if k == 1 else (lo, v)
    if integer:
        lo, hi = (int(min(max(v, INT32_RANGE[0]), INT32_RANGE[1])) for v in (lo, hi))
        return i32_bits(lo), i32_bits(hi), 0
    return f32_bits(lo), f32_bits(hi), 0


@OPS.declare(
    "Clip",
    "float32, int32, int64",
    "constant min/max: one vector CLIP (ReLU6 fuses into the producer's epilogue); computed "
    "min/max tensors: vector MAX then MIN, numpy broadcasting",
    accepts=NUM,
)
def lower_clip(ctx: Ctx, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    imm = _clip_immediates(ctx, node)
    if imm is not None:
        run_eltwise(ctx, y, [x], [Step(VFunc.CLIP, "out", 0, None, imm)])
    else:
        ins, steps, src = [x], [], 0
        for k, func in ((1, VFunc.MAX), (2, VFunc.MIN)):
            name = _bound(ctx.graph, node, k)
            if name:
                ins.append(name)
                steps.append(Step(func, "out", src, len(ins) - 1))
                src = "out"
        run_eltwise(ctx, y, ins, steps or [Step(VFunc.COPY, "out", 0)])
    ctx.record(node, macs=0)


# --- Where ---------------------------------------------------------------------------------
@OPS.declare(
    "Where",
    "bool condition; float32, int32, int64, bool values",
    "vector COPY of the false values, then SELECT (a masked write) of the true ones; numpy "
    "broadcasting of all three",
    accepts=ANY,
)
def lower_where(ctx: Ctx, node: Node) -> None:
    cond, a, b = node.inputs
    steps = [Step(VFunc.COPY, "out", 2), Step(VFunc.SELECT, "out", 0, 1)]
    run_eltwise(ctx, node.outputs[0], [cond, a, b], steps)
    ctx.record(node, macs=0)


# --- Cast ----------------------------------------------------------------------------------
def _cast_steps(src: str, dst: str) -> list[Step]:
    """float -> int rounds toward zero (TRUNC; C's conversion, as onnxruntime), anything ->
    bool is x != 0 (NOT twice: NaN is true), the rest converts on the way (COPY)."""
    if dst == "bool" and src != "bool":
        return [Step(VFunc.NOT, "t", 0), Step(VFunc.NOT, "out", "t")]
    if src in FLOAT and dst in INT:
        return [Step(VFunc.TRUNC, "out", 0)]
    return [Step(VFunc.COPY, "out", 0)]


def _check_cast(node: Node, graph: Graph) -> str | None:
    if node.op == "CastLike" and len(node.inputs) > 1:
        return None
    if node.attr("saturate", 1) != 1 or node.attr("round_mode", "up") != "up":
        return "saturate/round_mode of float8 casts"
    return None


def _lower_cast(ctx: Ctx, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    src, dst = ctx.type(x).dtype, ctx.type(y).dtype
    temp = DType.FP32 if src in FLOAT else DType.INT32
    run_eltwise(ctx, y, [x], _cast_steps(src, dst), temp=temp)
    ctx.record(node, macs=0)


for _op in ("Cast", "CastLike"):
    OPS.declare(
        _op,
        "float32, int32, int64, bool (to and from)",
        "float -> integer rounds toward zero (vector TRUNC), to bool is x != 0, the others "
        "convert on the copy (int64 -> int32 wraps); other dtypes are not activations",
        _check_cast,
        accepts=ANY,
    )(_lower_cast)
