"""The int8 path: standalone QuantizeLinear / DequantizeLinear on the vector unit (QUANT,
DEQUANT), and the integer layers the QDQ pass makes (QConv, QGemm, QMatMul): int8 x int8 ->
int32 on the matrix unit, int32 bias with the zero points folded in, per-channel REQUANT."""

from __future__ import annotations

import numpy as np

from compiler.lowering import depthwise, gemm
from compiler.lowering.common import Ctx, f32_bits, i32_bits
from compiler.lowering.conv import (
    _const_operand,
    _conv_geom,
    arranged_weights,
    operand,
)
from compiler.lowering.eltwise import Step, run_eltwise
from compiler.lowering.gemm import Epilogue, GemmLayer, Geom, Operand
from compiler.lowering.gemm.layer import Chain, PostAdd
from compiler.opdecl import OpTable
from compiler.passes.layout import plain_equivalent
from compiler.passes.qdq_match import q_dtype, stored_qparams, tensor_quant
from simulator.errors import UnsupportedOpError
from simulator.isa import DType, VFunc
from simulator.semantics import (
    NUMPY_DTYPE,
    pack_qadd,
    pack_requant_scales,
    quantize,
)
from simulator.vector import vector_apply

OPS = OpTable()  # merged into the registry by compiler.ops
declare = OPS.declare

QDTYPES = {"int8": DType.INT8, "uint8": DType.UINT8}
I8 = DType.INT8
I8X2 = [I8, I8]  # QAdd's operands


# --- standalone Q / DQ -------------------------------------------------------------------
def _check_qdq(node, graph) -> str | None:
    stored = stored_qparams(graph, node)
    if stored is None:
        return "scale and zero point must be constant"
    if graph.is_const(node.inputs[0]):
        return None  # folded by the QDQ pass
    dtype = q_dtype(graph, node)
    if dtype not in QDTYPES:
        tensor = node.outputs[0] if node.op == "QuantizeLinear" else node.inputs[0]
        return f"tensor {tensor!r} has dtype {dtype}; quantised activations are int8 or uint8"
    if stored[0].size != 1:
        return "per-axis quantisation of an activation (only of constants)"
    return None


def _imm(ctx: Ctx, node) -> tuple[int, int, int]:
    return _tensor_imm(tensor_quant(ctx.graph, node))


@declare(
    "QuantizeLinear",
    "float32 -> int8/uint8",
    "per-tensor on activations (vector QUANT), per-axis on constants (folded); "
    "fused into the integer layer before it",
    _check_qdq,
    weights=False,
)
def lower_quantize(ctx: Ctx, node) -> None:
    step = Step(VFunc.QUANT, "out", 0, None, _imm(ctx, node))
    run_eltwise(ctx, node.outputs[0], [node.inputs[0]], [step], [DType.FP32])
    ctx.record(node, macs=0)


@declare(
    "DequantizeLinear",
    "int8/uint8 -> float32",
    "per-tensor on activations (vector DEQUANT), per-axis on constants (folded); "
    "fused into the integer layer after it",
    _check_qdq,
    weights=False,
)
def lower_dequantize(ctx: Ctx, node) -> None:
    x = node.inputs[0]
    step = Step(VFunc.DEQUANT, "out", 0, None, _imm(ctx, node))
    run_eltwise(ctx, node.outputs[0], [x], [step], [QDTYPES[ctx.type(x).dtype]])
    ctx.record(node, macs=0)


@declare(
    "QAdd",
    "int8",
    "compiler-made from DequantizeLinear x2 -> Add [-> Relu/Clip] -> QuantizeLinear: "
    "one integer QADD (both scale ratios to 23-bit multipliers, the clip as quantised bounds) "
    "in one vector pass, or DEQUANT both, ADD, clip, QUANT when a ratio does not fit; numpy "
    "broadcasting",
    internal=True,
    weights=False,
)
def lower_qadd(ctx: Ctx, node) -> None:
    a, b = node.inputs
    qy = ctx.type(node.outputs[0]).quant
    imm = qadd_imm(ctx.type(a).quant, ctx.type(b).quant, qy, node.attr("bounds"))
    if imm is not None:
        run_eltwise(ctx, node.outputs[0], [a, b], [Step(VFunc.QADD, "out", 0, 1, imm)], I8X2)
        ctx.record(node, macs=0)
        return
    steps = [
        Step(VFunc.DEQUANT, "t", 0, None, _tensor_imm(ctx.type(a).quant)),
        Step(VFunc.DEQUANT, "t2", 1, None, _tensor_imm(ctx.type(b).quant)),
        Step(VFunc.ADD, "t", "t", "t2"),
        *_clip_steps(node.attr("bounds")),
        Step(VFunc.QUANT, "out", "t", None, _tensor_imm(ctx.type(node.outputs[0]).quant)),
    ]
    run_eltwise(ctx, node.outputs[0], [a, b], steps, I8X2)
    ctx.record(node, macs=0)


def qadd_imm(qa, qb, qy, bounds) -> tuple[int, int, int] | None:
    """QADD's immediates for a QAdd (int8 operands and result) with the Relu/Clip ``bounds``
    (fp32, or infinite): quantising is monotone, so QUANT(CLIP(t, lo, hi)) equals the int8
    result clamped to [QUANT(lo), QUANT(hi)]. None when the scale ratios do not fit QADD's
    multipliers (the fp32 DEQUANT/ADD/CLIP/QUANT chain then)."""
    lo, hi = -128, 127
    if bounds[0] != -np.inf:
        lo = int(quantize(np.float32(max(bounds[0], -3.4e38)), qy.scale, qy.zero_point, I8))
    if bounds[1] != np.inf:
        hi = int(quantize(np.float32(min(bounds[1], 3.4e38)), qy.scale, qy.zero_point, I8))
    pair = [(q.scale, q.zero_point) for q in (qa, qb, qy)]
    return pack_qadd(*pair, lo, hi)


@declare(
    "QMul",
    "int8",
    "compiler-made from DequantizeLinear x2 -> Mul -> QuantizeLinear: (a - za)(b - zb) in "
    "int32, REQUANT by s_a s_b / s_y in one vector pass; numpy broadcasting",
    internal=True,
    weights=False,
)
def lower_qmul(ctx: Ctx, node) -> None:
    a, b, word = node.inputs
    qy = ctx.type(node.outputs[0]).quant
    steps = [
        Step(VFunc.ADD_IMM, "t", 0, None, (i32_bits(-ctx.type(a).quant.zero_point), 0, 0)),
        Step(VFunc.ADD_IMM, "t2", 1, None, (i32_bits(-ctx.type(b).quant.zero_point), 0, 0)),
        Step(VFunc.MUL, "t", "t", "t2"),
        Step(VFunc.REQUANT, "out", "t", 2, (i32_bits(qy.zero_point), i32_bits(-128), 127)),
    ]
    dtypes = [DType.INT8, DType.INT8, DType.INT32]
    run_eltwise(ctx, node.outputs[0], [a, b, word], steps, dtypes, temp=DType.INT32)
    ctx.record(node, macs=0)


@declare(
    "QEltwise",
    "int8",
    "compiler-made from DequantizeLinear -> a chain of element-wise float ops (the float unary "
    "rows, Add, Sub, Mul, Div, Pow; operands int8 activations or float constants), possibly "
    "through inner QuantizeLinear -> DequantizeLinear pairs, -> QuantizeLinear: DEQUANT, the "
    "ops in fp32, each inner pair a QUANT kept in the scratchpad, QUANT, in one vector pass",
    internal=True,
    weights=False,
)
def lower_qeltwise(ctx: Ctx, node) -> None:
    dtypes = [_operand_dtype(ctx, name) for name in node.inputs]
    steps = _chain_steps(ctx, node)
    table = _table(ctx, node, steps)
    if table is not None:  # a function of one int8 tensor: one LUT
        x = next(i for i in node.inputs if not ctx.graph.is_const(i))
        step = Step(VFunc.LUT, "out", 0, "lut", (i32_bits(-128), 0, 0))
        run_eltwise(ctx, node.outputs[0], [x], [step], [DType.INT8], tables={"lut": table})
    elif node.attr("derived"):  # merge_derived_operands merges only what makes a table
        raise AssertionError(f"QEltwise {node.name!r}: derived operands without a table")
    else:
        extra = {name: SLOTS[name] for name in ("q", "i", "i2")}
        run_eltwise(ctx, node.outputs[0], list(node.inputs), steps, dtypes, extra=extra)
    ctx.record(node, macs=0)


def _chain_steps(ctx: Ctx, node) -> list[Step]:
    """The vector steps of a QEltwise's program on its operand slots."""
    dtypes = [_operand_dtype(ctx, name) for name in node.inputs]
    program = node.attr("program")
    steps, value = [], None  # value: the Quant of the int8 chain value in "q", or None ("t")
    for i, step in enumerate(program):
        dst = "out" if i == len(program) - 1 else "q"
        if step.func == VFunc.QUANT:
            steps.append(Step(VFunc.QUANT, dst, "t", None, _tensor_imm(step.quant)))
        elif step.word is not None:
            steps += _integer_mul(ctx, node, step, value, dst)
        else:
            steps += _float_op(ctx, node, step, value, dtypes, first=i == 0)
        value = step.quant
    return steps


# the dtype of each slot a QEltwise program uses ("t", "t2": run_eltwise's float temporaries)
SLOTS = {"t": DType.FP32, "t2": DType.FP32, "q": DType.INT8, "i": DType.INT32}
SLOTS |= {"i2": DType.INT32, "out": DType.INT8}


def _table(ctx: Ctx, node, steps: list[Step]) -> np.ndarray | None:
    """The chain's int8 result for each of the 256 values of its one int8 input tensor (which
    it may read more than once), computed by the vector unit's own arithmetic
    (``vector_apply`` on the steps), when its other inputs are scalar constants; else None."""
    graph = ctx.graph
    acts = [i for i, name in enumerate(node.inputs) if not graph.is_const(name)]
    consts = [name for name in node.inputs if graph.is_const(name)]
    if len({node.inputs[i] for i in acts}) != 1:  # one tensor (maybe read twice: x * f(x))
        return None
    if any(graph.constants[name].size != 1 for name in consts):
        return None
    dtypes = [_operand_dtype(ctx, name) for name in node.inputs]
    values = {
        i: graph.constants[name].reshape(1, 1, 1).astype(NUMPY_DTYPE[dtypes[i]])
        for i, name in enumerate(node.inputs)
        if graph.is_const(name)
    }
    derived = {i: p for i, p, _ in node.attr("derived") or ()}
    for i in acts:
        if i in derived:  # P(x): P's own table
            p = derived[i]
            values[i] = _table(ctx, p, _chain_steps(ctx, p)).reshape(1, 1, -1)
        else:
            values[i] = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, -1)
    for s in steps:
        src1 = values[s.src1] if s.src1 is not None else None
        values[s.dst] = vector_apply(s.func, values[s.src0], src1, *s.imm, SLOTS[s.dst])
    return values["out"].reshape(-1)


def _operand_quant(ctx: Ctx, node, a: int):
    """The Quant of int8 operand ``a``: its tensor's, or a derived operand's (P's output)."""
    for i, _, quant in node.attr("derived") or ():
        if i == a:
            return quant
    return ctx.type(node.inputs[a]).quant


def _operand_dtype(ctx: Ctx, name: str) -> DType:
    if not ctx.graph.is_const(name):
        return DType.INT8
    return DType.INT32 if ctx.graph.constants[name].dtype == np.int32 else DType.FP32


def _float_op(ctx: Ctx, node, step, value, dtypes, first: bool) -> list[Step]:
    """DEQUANT the int8 operands (the chain's value from "q" into "t", the others into "t"
    when the op starts the chain and "t" is free, else "t2"), then the op into "t"."""
    out, slots = [], []
    for a in step.args:
        if a == "prev" and value is None:
            slots.append("t")
            continue
        if a != "prev" and dtypes[a] == DType.FP32:
            slots.append(a)
            continue
        quant = value if a == "prev" else _operand_quant(ctx, node, a)
        free = a == "prev" or (first and "t" not in slots)
        slot = "t" if free else "t2"
        out.append(Step(VFunc.DEQUANT, slot, "q" if a == "prev" else a, None, _tensor_imm(quant)))
        slots.append(slot)
    src1 = slots[1] if len(slots) > 1 else None
    return [*out, Step(step.func, "t", slots[0], src1, step.imm)]


def _integer_mul(ctx: Ctx, node, step, value, dst) -> list[Step]:
    """(a - za)(b - zb) in int32, REQUANT by the packed s_a s_b / s_y: QMul's arithmetic."""
    out = []
    for a, slot in zip(step.args, ("i", "i2"), strict=True):
        quant = value if a == "prev" else _operand_quant(ctx, node, a)
        src = "q" if a == "prev" else a
        out.append(Step(VFunc.ADD_IMM, slot, src, None, (i32_bits(-quant.zero_point), 0, 0)))
    imm = (i32_bits(step.quant.zero_point), i32_bits(-128), 127)
    return [*out, Step(VFunc.MUL, "i", "i", "i2"), Step(VFunc.REQUANT, dst, "i", step.word, imm)]


def _tensor_imm(q) -> tuple[int, int, int]:
    return q.zero_point & 0xFFFFFFFF, f32_bits(q.scale), 0


def _clip_steps(bounds) -> list[Step]:
    lo, hi = bounds
    if lo == -np.inf and hi == np.inf:
        return []
    imm = (f32_bits(max(lo, -3.4e38)), f32_bits(min(hi, 3.4e38)), 0)
    return [Step(VFunc.CLIP, "t", "t", None, imm)]


# --- integer layers ------------------------------------------------------------------------
def _epilogue(ctx: Ctx, node, yq, axes=None) -> Epilogue:
    """The integer epilogue; a fused QAdd (attr ``post_add``: residual, the Quant of the
    REQUANTised tile, CLIP bounds) requantises to the tile's Quant, then adds."""
    words = pack_requant_scales(node.attr("requant"))
    bias = ctx.graph.constants[node.inputs[2]].astype(np.int32)
    post = node.attr("post_add")
    epi = Epilogue(
        bias=ctx.const(bias).addr,
        requant=ctx.const(words.view(np.int32)).addr,
        out_zp=(post["tile"] if post else tile_quant(node, yq)).zero_point,
        clamp=tuple(node.attr("clamp")),
        lut=lut_address(ctx, node),
        chain=chain_of(ctx, node),
    )
    if post:
        res = node.inputs[3]  # as post["residual"] was named when fused (int8_io renames)
        clip = _clip_steps(post["bounds"])
        epi.post_add = PostAdd(
            operand(ctx, res, axes),
            _tensor_imm(post["tile"]),
            _tensor_imm(ctx.type(res).quant),
            _tensor_imm(yq),
            clip[0].imm if clip else None,
            qadd_imm(post["tile"], ctx.type(res).quant, yq, post["bounds"]),
        )
    return epi


def tile_quant(node, yq):
    """The Quant a layer REQUANTises to: its output's, or, before a fused QEltwise, that
    one's input's (``passes.late_fusion``)."""
    fused = node.attr("post_lut") or node.attr("post_chain")
    return fused["tile"] if fused else yq


def chain_of(ctx: Ctx, node) -> Chain | None:
    """A fused QEltwise's steps (``passes.late_fusion``), its constants as word arrays."""
    c = node.attr("post_chain")
    if not c:
        return None
    consts = tuple(
        (slot, ctx.const(arr).addr, DType.INT32 if arr.dtype == np.int32 else DType.FP32)
        for slot, arr in sorted(c["consts"].items())
    )
    return Chain(c["steps"], c["acts"], consts)


def lut_address(ctx: Ctx, node) -> int | None:
    """DRAM address of a fused LUT's table (int8, indexed by the value + 128), or None."""
    lut = node.attr("post_lut")
    return ctx.const(np.asarray(lut["table"], np.int8)).addr if lut else None


@declare(
    "QConv",
    "int8",
    "compiler-made from DequantizeLinear -> Conv -> QuantizeLinear: int8 activations, "
    "per-channel symmetric int8 weights, per-channel requantisation, fused Relu/Clip",
    internal=True,
)
def lower_qconv(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xt, yt = ctx.type(x), ctx.type(y)
    w = ctx.graph.constants[node.inputs[1]]
    g = _conv_geom(node, xt, yt, w.shape)
    axes = (0, 2, 3, 1) if xt.rank == 4 else (0, None, 2, 1)
    if depthwise.is_depthwise(node, ctx.graph):
        ctx.record(node, macs=g.macs, tiling=depthwise.lower_int8(ctx, node, g, axes))
        return
    layer = GemmLayer(
        node.name,
        g,
        DType.INT8,
        DType.INT8,
        operand(ctx, x, axes),
        operand(ctx, y, axes),
        _const_operand(ctx, arranged_weights(ctx, w, g, w.dtype)),
        _epilogue(ctx, node, yt.quant, axes),
        x_pad=xt.quant.zero_point & 0xFFFFFFFF,
    )
    t = gemm.plan(layer, ctx.config, ctx.plans)
    gemm.emit(ctx, layer, t)
    ctx.record(node, macs=g.macs, tiling=t.describe(g.kpos), est_cycles=t.est)


def _qgemm_layer(ctx: Ctx, node) -> GemmLayer:
    a, y = node.inputs[0], node.outputs[0]
    at, yt = ctx.type(a), ctx.type(y)
    w = ctx.graph.constants[node.inputs[1]]
    k, n = w.shape
    rows = int(np.prod(at.shape[:-1]))
    return GemmLayer(
        node.name,
        Geom(1, 1, rows, k, 1, rows, n),
        DType.INT8,
        DType.INT8,
        _rows(ctx, node, a, k),
        _rows(ctx, node, y, n),
        _const_operand(ctx, w.reshape(1, 1, k, n)),
        _epilogue(ctx, node, yt.quant),
    )


def prefetch_nest(ctx: Ctx, node, layer: GemmLayer, *keep) -> None:
    """``layer`` planned and its nest's prologue emitted now, ahead of the layers before
    (``gemm.prefetch``); the node's lowering takes up (``keep``..., layer, plan, carry)."""
    t = gemm.plan(layer, ctx.config, ctx.plans)
    carry: dict = {}
    gemm.prefetch(ctx, layer, t, carry)
    ctx.prefetched[node.name] = (*keep, layer, t, carry)


def prefetch_qgemm(ctx: Ctx, node) -> None:
    prefetch_nest(ctx, node, _qgemm_layer(ctx, node))


@declare(
    "QGemm",
    "int8",
    "compiler-made from DequantizeLinear -> Gemm/MatMul (constant 2-D weights) -> "
    "QuantizeLinear: int8 x int8 -> int32, per-channel requantisation",
    internal=True,
    prefetch=prefetch_qgemm,
)
def lower_qgemm(ctx: Ctx, node) -> None:
    pre = ctx.prefetched.pop(node.name, None)
    if pre is None:
        layer = _qgemm_layer(ctx, node)
        pre = (layer, gemm.plan(layer, ctx.config, ctx.plans), {})
    layer, t, carry = pre
    gemm.emit(ctx, layer, t, carry)
    ctx.record(node, macs=layer.geom.macs, tiling=t.describe(1), est_cycles=t.est)


def _rows(ctx: Ctx, node, tensor: str, cols: int) -> Operand:
    """A tensor viewed as a [rows, cols] matrix (rank 2: any layout; else row-major)."""
    t = ctx.type(tensor)
    if t.rank == 2:
        return operand(ctx, tensor, (None, None, 0, 1))
    if not plain_equivalent(t):  # the layout pass gives QGemm row-major input
        raise UnsupportedOpError(
            f"node {node.name!r} (QGemm): operand {tensor!r} of rank {t.rank} is not row-major"
        )
    p = ctx.place(tensor)
    return Operand(p.addr, (0, 0, cols, 1), p.key, ctx.clobbers.get(p.key, ()))
