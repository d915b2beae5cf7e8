"""Element-wise ops with numpy broadcasting on the vector unit.

Operands are walked in the output's storage order; dimensions that are contiguous for every
operand are merged; each tile is a (rows x cols) box. A broadcast operand is loaded once per
tile at its own (smaller) size and read with a zero vector stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.lowering.common import (
    Box,
    Ctx,
    contiguous_strides,
    emit_load,
    emit_store,
    emit_vector,
    f32_bits,
    load,
    store,
    vector,
)
from compiler.opdecl import OpTable
from compiler.passes.fusion import dropout_is_identity
from simulator.isa import DType, Scratchpad, VFunc

OPS = OpTable()  # merged into the registry by compiler.ops
declare = OPS.declare

SP = Scratchpad.INPUT
FP = DType.FP32


@dataclass(frozen=True)
class Step:
    """dst = func(src0, src1) on tile slots; a slot is an input index or "t" / "out"."""

    func: VFunc
    dst: object
    src0: object
    src1: object = None
    imm: tuple[int, int, int] = (0, 0, 0)


def broadcast_strides(ctx: Ctx, tensor: str, out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of ``tensor`` (or a constant) indexed by the output's logical axes."""
    if ctx.graph.is_const(tensor):
        arr = ctx.graph.constants[tensor]
        shape, strides = arr.shape, contiguous_strides(arr.shape)
    else:
        shape, strides = ctx.type(tensor).shape, ctx.place(tensor).strides
    pad = len(out_shape) - len(shape)
    out = []
    for axis in range(len(out_shape)):
        a = axis - pad
        out.append(0 if a < 0 or shape[a] == 1 else strides[a])
    return tuple(out)


def _merge(dims: list[int], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    d, s = [dims[0]], [[st[0]] for st in strides]
    for i in range(1, len(dims)):
        if all(st[-1] == src[i] * dims[i] for st, src in zip(s, strides, strict=True)):
            d[-1] *= dims[i]
            for st, src in zip(s, strides, strict=True):
                st[-1] = src[i]
        else:
            d.append(dims[i])
            for st, src in zip(s, strides, strict=True):
                st.append(src[i])
    return d, s


def run_eltwise(
    ctx: Ctx,
    out: str,
    inputs: list[str],
    steps: list[Step],
    in_dtypes=None,
    in_strides=None,
    temp: DType = FP,
) -> None:
    """``temp``: the dtype of the "t"/"t2" slots (int32 for integer arithmetic)."""
    yt = ctx.type(out)
    perm = yt.layout
    y_strides = ctx.place(out).strides
    in_strides = in_strides or [broadcast_strides(ctx, i, yt.shape) for i in inputs]
    all_strides = list(in_strides) + [y_strides]
    dims = [yt.shape[p] for p in perm]
    strides = [[st[p] for p in perm] for st in all_strides]
    if len(dims) == 0:
        dims, strides = [1], [[0] for _ in strides]
    dims, strides = _merge(dims, strides)
    if len(dims) == 1:
        dims, strides = [1, *dims], [[0, *s] for s in strides]
    in_dtypes = in_dtypes or [FP] * len(inputs)
    out_dtype = _dtype(yt.dtype)
    _tiles(ctx, out, inputs, dims, strides, steps, in_dtypes, out_dtype, temp)


def _uses_t2(steps: list[Step]) -> bool:
    """Whether the steps need a second fp32 temporary slot ("t2")."""
    return any("t2" in (s.dst, s.src0, s.src1) for s in steps)


def _dtype(name: str) -> DType:
    return {"float32": DType.FP32, "int8": DType.INT8, "uint8": DType.UINT8, "int32": DType.INT32}[
        name
    ]


def _tiles(ctx, out, inputs, dims, strides, steps, in_dtypes, out_dtype, temp=FP) -> None:
    rows, cols = dims[-2], dims[-1]
    nslots = len(inputs) + 2 + _uses_t2(steps)
    budget = ctx.config.input_bytes // (2 * nslots) // 64 * 16  # fp32 elements, whole 64 B
    tc = min(cols, max(1, budget))
    tr = min(rows, max(1, budget // tc))
    slot_bytes = -(-tr * tc * 4 // 64) * 64
    tile = 0
    for outer in np.ndindex(*dims[:-2]) if len(dims) > 2 else [()]:
        for r0 in range(0, rows, tr):
            for c0 in range(0, cols, tc):
                base = (tile % 2) * nslots * slot_bytes
                n = (min(tr, rows - r0), min(tc, cols - c0))
                _tile(
                    ctx,
                    out,
                    inputs,
                    strides,
                    steps,
                    in_dtypes,
                    out_dtype,
                    outer,
                    (r0, c0),
                    n,
                    base,
                    slot_bytes,
                    temp,
                )
                tile += 1


def _tile(
    ctx, out, inputs, strides, steps, in_dtypes, out_dtype, outer, origin, n, base, slot_bytes, temp
):
    boxes = {}
    for i, name in enumerate(inputs):
        st = strides[i]
        rs, cs = st[-2], st[-1]
        cnt = (1, n[0] if rs else 1, n[1] if cs else 1)
        box = Box(SP, in_dtypes[i], base + i * slot_bytes, (0, cnt[2] if rs else 0, 1 if cs else 0))
        off = (
            sum(o * s for o, s in zip(outer, st[:-2], strict=False))
            + origin[0] * rs
            + origin[1] * cs
        )
        place = ctx.const_place(name) if ctx.graph.is_const(name) else ctx.place(name)
        es = in_dtypes[i].size
        emit_load(
            ctx,
            load(SP, box.addr, es, place.addr + off * es, cnt, (0, rs, cs), (0, cnt[2], 1)),
            place.key,
        )
        boxes[i] = box
    boxes["t"] = Box(SP, temp, base + len(inputs) * slot_bytes, (0, n[1], 1))
    boxes["t2"] = Box(SP, temp, base + (len(inputs) + 2) * slot_bytes, (0, n[1], 1))
    boxes["out"] = Box(SP, out_dtype, base + (len(inputs) + 1) * slot_bytes, (0, n[1], 1))
    if not steps:
        boxes["out"] = boxes[0]
    counts = (1, n[0], n[1])
    for s in steps:
        src1 = boxes[s.src1] if s.src1 is not None else None
        srcs = [boxes[s.src0]] + ([src1] if src1 else [])
        emit_vector(
            ctx,
            vector(s.func, counts, boxes[s.dst], boxes[s.src0], src1, s.imm),
            boxes[s.dst],
            srcs,
        )
    st = strides[-1]
    off = (
        sum(o * s for o, s in zip(outer, st[:-2], strict=False))
        + origin[0] * st[-2]
        + origin[1] * st[-1]
    )
    ob = boxes["out"]
    yp = ctx.place(out)
    es = out_dtype.size
    emit_store(
        ctx,
        store(SP, ob.addr, es, yp.addr + off * es, counts, (0, st[-2], st[-1]), ob.strides),
        ctx.writes(out),
    )


BINARY = {
    "Add": VFunc.ADD,
    "Sub": VFunc.SUB,
    "Mul": VFunc.MUL,
    "Div": VFunc.DIV,
    "Pow": VFunc.POW,
    "Max": VFunc.MAX,
    "Min": VFunc.MIN,
}
UNARY = {
    "Relu": VFunc.RELU,
    "Sigmoid": VFunc.SIGMOID,
    "Tanh": VFunc.TANH,
    "Erf": VFunc.ERF,
    "Exp": VFunc.EXP,
    "Sqrt": VFunc.SQRT,
    "HardSwish": VFunc.HARD_SWISH,
    "Gelu": VFunc.GELU,
    "Neg": VFunc.NEG,
    "Abs": VFunc.ABS,
    "Reciprocal": VFunc.RECIP,
    "Identity": VFunc.COPY,
}


def _binary(ctx: Ctx, node) -> None:
    run_eltwise(ctx, node.outputs[0], list(node.inputs), [Step(BINARY[node.op], "out", 0, 1)])
    ctx.record(node, macs=0)


def _unary(ctx: Ctx, node) -> None:
    run_eltwise(ctx, node.outputs[0], [node.inputs[0]], [Step(UNARY[node.op], "out", 0)])
    ctx.record(node, macs=0)


for _op in ("Add", "Sub", "Mul", "Div"):
    declare(_op, "float32", "numpy broadcasting")(_binary)
declare("Pow", "float32", "numpy broadcasting")(_binary)
for _op in ("Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Sqrt", "HardSwish"):
    declare(
        _op, "float32", "fused into the producer's epilogue when it follows a Conv/Gemm/MatMul"
    )(_unary)
declare("Identity", "float32", "removed (an alias)")(_unary)


def _check_dropout(node, graph) -> str | None:
    if dropout_is_identity(node, graph):
        return None
    mode = node.inputs[2]
    if not graph.is_const(mode):
        return f"training_mode {mode!r} is not a constant (training Dropout is random)"
    return "training_mode=1 with a non-zero ratio (random output)"


@declare(
    "Dropout",
    "float32",
    "inference mode (or ratio 0): removed (an alias), a copy when its output is a graph "
    "output; the mask output is a constant all-True tensor",
    _check_dropout,
)
def lower_dropout(ctx: Ctx, node) -> None:
    """Only a Dropout whose output is a graph output gets here: a DMA copy."""
    x = node.inputs[0]
    run_eltwise(ctx, node.outputs[0], [x], [], in_dtypes=[_dtype(ctx.type(x).dtype)])
    ctx.record(node, macs=0)


def _check_gelu(node, graph) -> str | None:
    approx = node.attr("approximate", "none")
    return None if approx == "none" else f"approximate={approx!r} (only 'none', the erf form)"


declare(
    "Gelu", "float32", "approximate='none'; fused into a Conv/Gemm/MatMul epilogue", _check_gelu
)(_unary)


@declare("Sum", "float32", "any number of inputs, numpy broadcasting")
def lower_sum(ctx: Ctx, node) -> None:
    ins = list(node.inputs)
    if len(ins) == 1:
        steps = [Step(VFunc.COPY, "out", 0)]
    else:
        steps = [Step(VFunc.ADD, "out", 0, 1)] + [
            Step(VFunc.ADD, "out", "out", i) for i in range(2, len(ins))
        ]
    run_eltwise(ctx, node.outputs[0], ins, steps)
    ctx.record(node, macs=0)


def _clip_bounds(ctx: Ctx, node) -> tuple[float, float]:
    lo, hi = node.attr("min", -3.4e38), node.attr("max", 3.4e38)
    if len(node.inputs) > 1 and node.inputs[1]:
        lo = float(ctx.graph.constants[node.inputs[1]])
    if len(node.inputs) > 2 and node.inputs[2]:
        hi = float(ctx.graph.constants[node.inputs[2]])
    return lo, hi


def _const_bounds(node, graph) -> str | None:
    if any(i and not graph.is_const(i) for i in node.inputs[1:]):
        return "min/max must be constant"
    return None


@declare("Clip", "float32", "constant min/max (ReLU6 fuses into the producer)", _const_bounds)
def lower_clip(ctx: Ctx, node) -> None:
    lo, hi = _clip_bounds(ctx, node)
    run_eltwise(
        ctx,
        node.outputs[0],
        [node.inputs[0]],
        [Step(VFunc.CLIP, "out", 0, None, (f32_bits(lo), f32_bits(hi), 0))],
    )
    ctx.record(node, macs=0)


@declare("LeakyRelu", "float32", "alpha attribute")
def lower_leaky(ctx: Ctx, node) -> None:
    imm = (f32_bits(node.attr("alpha", 0.01)), 0, 0)
    run_eltwise(
        ctx, node.outputs[0], [node.inputs[0]], [Step(VFunc.LEAKY_RELU, "out", 0, None, imm)]
    )
    ctx.record(node, macs=0)


@declare("HardSigmoid", "float32", "alpha, beta attributes")
def lower_hardsigmoid(ctx: Ctx, node) -> None:
    imm = (f32_bits(node.attr("alpha", 0.2)), f32_bits(node.attr("beta", 0.5)), 0)
    run_eltwise(
        ctx, node.outputs[0], [node.inputs[0]], [Step(VFunc.HARD_SIGMOID, "out", 0, None, imm)]
    )
    ctx.record(node, macs=0)


def _check_bn(node, graph) -> str | None:
    if node.attr("training_mode", 0):
        return "training_mode=1"
    if any(o for o in node.outputs[1:]):
        return "running mean/var outputs (training)"
    if not all(graph.is_const(i) for i in node.inputs[1:5]):
        return "scale, B, mean and var must be constant"
    return None


@declare(
    "BatchNormalization",
    "float32",
    "inference mode; folded into the preceding Conv/Gemm "
    "when it has one, otherwise a per-channel scale and shift",
    _check_bn,
)
def lower_bn(ctx: Ctx, node) -> None:
    x = node.inputs[0]
    c = ctx.graph.constants
    scale, b, mean, var = (c[i].astype(np.float32) for i in node.inputs[1:5])
    eps = np.float32(node.attr("epsilon", 1e-5))
    k = scale / np.sqrt(var + eps)
    shift = b - mean * k
    rank = ctx.type(x).rank
    shape = (-1,) + (1,) * (rank - 2)
    ka, sa = ctx.graph.fresh(node.name + "_k"), ctx.graph.fresh(node.name + "_s")
    c[ka], c[sa] = k.reshape(shape), shift.reshape(shape)
    run_eltwise(
        ctx,
        node.outputs[0],
        [x, ka, sa],
        [Step(VFunc.MUL, "out", 0, 1), Step(VFunc.ADD, "out", "out", 2)],
    )
    ctx.record(node, macs=0)


ALIAS_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
for _op in ALIAS_OPS:
    declare(
        _op,
        "float32",
        "free (an address alias) on row-major data; a relayout copy first "
        "when the input is channels-last",
    )(lambda ctx, node: None)
