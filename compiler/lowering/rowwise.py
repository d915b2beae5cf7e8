"""Row-wise ops on the vector unit: Softmax, LayerNormalization, GlobalAveragePool (the
reductions of the op tables are ``reduce.py``).

The tensor is viewed as (rows, L) with the reduced axis innermost (any DRAM strides: the DMA
gathers it); each tile of rows is loaded, reduced with RSUM/RMAX and combined with broadcast
vector ops (stride 0), then stored.
"""

from __future__ import annotations

import numpy as np

from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    f32_bits,
    i32_bits,
    load,
    store,
    vector,
)
from compiler.lowering.eltwise import _merge
from compiler.opdecl import OpTable
from simulator.cost import cost, vector_cycles
from simulator.errors import ConfigError, UnsupportedOpError
from simulator.isa import LUT_ENTRIES, DType, Scratchpad, VFunc
from simulator.semantics import pack_requant_scale
from simulator.vector import vector_apply

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare

SP = Scratchpad.INPUT
FP = DType.FP32


def _rows_view(ctx: Ctx, x: str, y: str, axes: tuple[int, ...]):
    """(outer dims, x outer strides, y outer strides, L, x inner stride, y inner stride)."""
    xt = ctx.type(x)
    xs, ys = ctx.place(x).strides, ctx.place(y).strides
    yt = ctx.type(y)
    keep = [a for a in range(xt.rank) if a not in axes]
    if yt.rank == xt.rank:
        ysk = [ys[a] for a in keep]
        ysr = [0] * len(axes) if yt.shape != xt.shape else [ys[a] for a in axes]
    else:  # reduced axes dropped from y
        ysk = list(ys)
        ysr = [0] * len(axes)
    inner, (xi, yi) = _merge([xt.shape[a] for a in axes], [[xs[a] for a in axes], ysr])
    if len(inner) != 1:
        return None
    dims = [xt.shape[a] for a in keep] or [1]
    xo, yo = [xs[a] for a in keep] or [0], ysk or [0]
    dims, (xo, yo) = _merge(dims, [xo, yo])
    return dims, xo, yo, inner[0], xi[0], yi[0]


def _run(ctx: Ctx, node, axes, build, fixed=0, x_dtype: DType = FP, quant=None, after=None):
    """``fixed``: elements of each buffer half the build keeps after the row slots; rows are
    loaded as ``x_dtype`` and stored in the dtype of the box the build returns. ``quant``
    (x's and y's ``Quant``): int8 rows are staged at the end of the buffer half, DEQUANTised
    into the fp32 rows the build reads, and its result QUANTised back into the staging area.
    ``after(ctx, out, base, slot, n, L, offsets)``: more vector work on a tile, before its
    store (which would otherwise hold the vector unit's writes to its pages); it returns the
    (Store, storages) to emit after that store."""
    x, y = node.inputs[0], node.outputs[0]
    view = _rows_view(ctx, x, y, axes)
    if view is None:
        raise UnsupportedOpError(
            f"node {node.name!r} ({node.op}): axes {axes} are not contiguous in the DRAM layout"
        )
    dims, xo, yo, L, xi, yi = view
    rows = dims[-1]
    copies = ctx.scratch.copies(SP, 2)
    half = copies.capacity
    per_row = 3 * L + 8 + (-(-L // 4) if quant else 0)  # fp32 elements (int8 staging: L / 4)
    budget = half // 4 - fixed - 32 - (32 if quant else 0)
    if budget < per_row:
        raise ConfigError(
            f"node {node.name!r} ({node.op}): rows of {L} elements do not fit the input "
            f"scratchpad ({ctx.config.input_bytes} bytes, double-buffered)"
        )
    tr = min(rows, budget // per_row)
    slot = -(-tr * L * 4 // 64) * 64
    copies.use(half if quant else min(half, 4 * (tr * per_row + fixed + 32)))  # staging: at the end
    tile = 0
    for outer in np.ndindex(*dims[:-1]):
        for r0 in range(0, rows, tr):
            n = min(tr, rows - r0)
            base = copies.base(tile)
            xoff = sum(i * s for i, s in zip(outer, xo, strict=False)) + r0 * xo[-1]
            yoff = sum(i * s for i, s in zip(outer, yo, strict=False)) + r0 * yo[-1]
            xp, yp = ctx.place(x), ctx.place(y)
            stage = base + half - -(-tr * L // 64) * 64 if quant else base
            xb = Box(SP, DType.INT8 if quant else x_dtype, stage, (0, L, 1))
            xs, ys = xb.dtype.size, ctx.type(y).itemsize
            emit_load(
                ctx,
                load(SP, stage, xs, xp.addr + xoff * xs, (1, n, L), (0, xo[-1], xi), (0, L, 1)),
                xp.key,
            )
            if quant:
                fb = Box(SP, FP, base, (0, L, 1))
                _v(ctx, VFunc.DEQUANT, (1, n, L), fb, xb, None, _qimm(quant[0]))
                xb = fb
            out, ocnt = build(ctx, xb, base, slot, n, L)
            if quant:
                qb = Box(SP, DType.INT8, stage, out.strides)
                _v(ctx, VFunc.QUANT, ocnt, qb, out, None, _qimm(quant[1]))
                out = qb
            stores = [] if after is None else after(ctx, out, base, slot, n, L, (outer, r0))
            emit_store(
                ctx,
                store(SP, out.addr, ys, yp.addr + yoff * ys, ocnt, (0, yo[-1], yi), out.strides),
                ctx.writes(y),
            )
            for instr, keys in stores:
                emit_store(ctx, instr, keys)
            tile += 1


def _qimm(q) -> tuple[int, int, int]:
    return i32_bits(q.zero_point), f32_bits(q.scale), 0


def _quant(ctx: Ctx, node):
    """(x's, y's quantisation) of a row op the QDQ pass put on int8 tensors, else None."""
    xt, yt = ctx.type(node.inputs[0]), ctx.type(node.outputs[0])
    return (xt.quant, yt.quant) if xt.dtype == "int8" else None


def _v(ctx, func, counts, dst, a, b=None, imm=(0, 0, 0)):
    emit_vector(ctx, vector(func, counts, dst, a, b, imm))


def _softmax(ctx, xb, base, slot, n, L):
    m = Box(SP, FP, base + 2 * slot, (0, 1, 0))
    t = Box(SP, FP, base + slot, (0, L, 1))
    cnt = (1, n, L)
    _v(ctx, VFunc.RMAX, cnt, m, xb)
    _v(ctx, VFunc.SUB, cnt, t, xb, m)
    _v(ctx, VFunc.EXP, cnt, t, t)
    _v(ctx, VFunc.RSUM, cnt, m, t)
    _v(ctx, VFunc.DIV, cnt, t, t, m)
    return t, cnt


def _mean(ctx, xb, base, slot, n, L):
    m = Box(SP, FP, base + slot, (0, 1, 0))
    _v(ctx, VFunc.RSUM, (1, n, L), m, xb)
    _v(ctx, VFunc.MUL_IMM, (1, n, 1), m, m, None, (f32_bits(1.0 / L), 0, 0))
    return m, (1, n, 1)


def exp_tables(x_scale: float, p_inv: float) -> np.ndarray:
    """exp(s_x d) for d = -255 .. 0, and those times floor(1 / s_p), by the vector unit's
    arithmetic, as SUB (exact), MUL_IMM, EXP and MUL_IMM compute them: two tables of 256
    fp32 values (the int8 Softmax below, and ``attention_int8.py``)."""
    d = np.arange(-255, 1, dtype=np.float32).reshape(1, 1, -1)
    t = vector_apply(VFunc.MUL_IMM, d, None, f32_bits(x_scale), 0, 0, FP)
    e = vector_apply(VFunc.EXP, t, None, 0, 0, 0, FP)
    scaled = vector_apply(VFunc.MUL_IMM, e, None, f32_bits(p_inv), 0, 0, FP)
    return np.concatenate([e, scaled]).reshape(-1).astype(np.float32)


def int8_values() -> np.ndarray:
    """-128 .. 127, the values an int8 can have: what a table indexed by one holds entries
    for (the int8 Softmax's, and attention's, rows of probabilities)."""
    return np.arange(-128, 128, dtype=np.int8)


def _qsoftmax(ctx: Ctx, node):
    """int8 rows as onnxruntime's QLinearSoftmax: e = exp(s_x (x - max)), then
    ``rint(e * floor(1 / s_y) / sum e) + zp_y`` (its output scale is the integer floor of
    1 / s_y, not s_y). x - max is an integer in [-255, 0], so e is looked up in a table of
    the values MUL_IMM and EXP would give (``exp_tables``: the same bytes) where that saves
    more than loading the table costs; long rows look their probabilities up too, in a table
    per row of the 256 an int8 x can have (``_row_tables``)."""
    qx, qy = ctx.type(node.inputs[0]).quant, ctx.type(node.outputs[0]).quant
    inv = float(np.floor(np.float32(1.0) / np.float32(qy.scale)))
    consts = ctx.const(exp_tables(qx.scale, inv)), ctx.const(int8_values())

    def build(ctx, xb, base, slot, n, L):
        cnt = (1, n, L)
        t, d = Box(SP, FP, base + slot, (0, L, 1)), Box(SP, DType.INT32, base + slot, (0, L, 1))
        m = Box(SP, DType.INT32, base + 2 * slot, (0, 1, 0))
        s = Box(SP, FP, m.addr + _up(n * 4), (0, 1, 0))
        y = Box(SP, DType.INT8, s.addr + _up(n * 4), (0, L, 1))
        exp = max(base + 3 * slot, _up(y.addr + n * L))  # the exp tables, -128 .. 127
        e_tab, iota = consts
        tables = load(SP, exp, 4, e_tab.addr, (1, 1, 512), (0, 0, 1), (0, 0, 1))
        by_table = _exp_table(ctx.config, n * L, tables)
        by_row = by_table and _row_tables(ctx.config, n, L)
        if by_table:
            emit_load(ctx, tables, "const")
        if by_row:
            cnt8 = (1, 1, LUT_ENTRIES)
            emit_load(ctx, load(SP, exp + 2048, 1, iota.addr, cnt8, (0, 0, 1), (0, 0, 1)), "const")
        _v(ctx, VFunc.RMAX, cnt, m, xb)
        if by_table:
            _v(ctx, VFunc.SUB, cnt, d, xb, m)
            _v(ctx, VFunc.LUT, cnt, t, d, Box(SP, FP, exp, (0, 0, 1)), (i32_bits(-255), 0, 0))
        else:
            _v(ctx, VFunc.SUB, cnt, t, xb, m)
            _v(ctx, VFunc.MUL_IMM, cnt, t, t, None, (f32_bits(qx.scale), 0, 0))
            _v(ctx, VFunc.EXP, cnt, t, t)
        _v(ctx, VFunc.RSUM, cnt, s, t)
        if by_row:
            at = _up(base + n * L)  # in x's slot, after its int8 rows
            _row_tables_of(ctx, at, exp, m, s, n, qy.zero_point)
            table = Box(SP, DType.INT8, at, (0, LUT_ENTRIES, 1))
            _v(ctx, VFunc.LUT, cnt, y, xb, table, (i32_bits(-128), 0, 0))
            return y, cnt
        _v(ctx, VFunc.MUL_IMM, cnt, t, t, None, (f32_bits(inv), 0, 0))
        _v(ctx, VFunc.DIV, cnt, t, t, s)
        _v(ctx, VFunc.QUANT, cnt, y, t, None, (i32_bits(qy.zero_point), f32_bits(1.0), 0))
        return y, cnt

    return build


def _row_sums(ctx: Ctx, node, axes):
    """The fused QSum of an int8 Softmax's probabilities (``passes.late_fusion``): each
    row's sum of the int8 values, times ``mult``, plus ``add``, into the row-max slot (free
    by then), stored to the Softmax's second output after the probabilities (P·V's first
    loads are theirs)."""
    x, sums = node.inputs[0], node.outputs[1]
    mult, add = node.attr("row_sums")["mult"], node.attr("row_sums")["add"]
    _, _, so, _, _, _ = _rows_view(ctx, x, sums, axes)

    def after(ctx, p8, base, slot, n, L, at):
        outer, r0 = at
        m, one = Box(SP, DType.INT32, base + 2 * slot, (0, 1, 0)), (1, n, 1)
        _v(ctx, VFunc.RSUM, (1, n, L), m, p8)
        _v(ctx, VFunc.MUL_IMM, one, m, m, None, (i32_bits(mult), 0, 0))
        if add:
            _v(ctx, VFunc.ADD_IMM, one, m, m, None, (i32_bits(add), 0, 0))
        off = sum(i * s for i, s in zip(outer, so, strict=False)) + r0 * so[-1]
        at = ctx.place(sums).addr + off * 4
        return [(store(SP, m.addr, 4, at, one, (0, so[-1], 0), m.strides), ctx.writes(sums))]

    return after


def _up(nbytes: int) -> int:
    return -(-nbytes // 64) * 64


def _exp_table(config, elements: int, tables) -> bool:
    """Whether looking e up (one LUT) saves more vector cycles than loading the tables takes
    (MUL_IMM and EXP per element otherwise: short rows, few of them)."""
    each = vector_cycles(VFunc.MUL_IMM, elements, config) + vector_cycles(
        VFunc.EXP, elements, config
    )
    return each - vector_cycles(VFunc.LUT, elements, config) > cost(tables, config)


def _row_tables(config, n: int, L: int) -> bool:
    """Whether a table per row (256 entries by the per-element steps) costs less than the
    per-element MUL_IMM, DIV and QUANT, and fits x's slot after its int8 rows (rows of 512
    or more: the slot holds 4 L bytes a row)."""
    if L < 2 * LUT_ENTRIES:
        return False
    each = (VFunc.MUL_IMM, VFunc.DIV, VFunc.QUANT)
    per_score = sum(vector_cycles(f, n * L, config) for f in each)
    table = (VFunc.SUB, VFunc.LUT, VFunc.DIV, VFunc.QUANT)
    per_row = sum(vector_cycles(f, n * LUT_ENTRIES, config) for f in table)
    return per_row + vector_cycles(VFunc.LUT, n * L, config) < per_score


def _row_tables_of(ctx: Ctx, at: int, exp: int, m: Box, s: Box, n: int, zp: int) -> None:
    """The probabilities of each of ``n`` rows by x: QUANT(E2[x - max] / sum) + ``zp`` for
    x = -128 .. 127 (``m`` the rows' max, ``s`` their sums of e, ``exp`` the exp tables and
    the values), the int8 tables at ``at``, built in the fp32 buffer after them."""
    row = (1, n, LUT_ENTRIES)
    bf, bi = (
        Box(SP, dt, _up(at + n * LUT_ENTRIES), (0, LUT_ENTRIES, 1)) for dt in (FP, DType.INT32)
    )
    _v(ctx, VFunc.SUB, row, bi, Box(SP, DType.INT8, exp + 2048, (0, 0, 1)), m)
    _v(ctx, VFunc.LUT, row, bf, bi, Box(SP, FP, exp + 1024, (0, 0, 1)), (i32_bits(-255), 0, 0))
    _v(ctx, VFunc.DIV, row, bf, bf, s)
    out = Box(SP, DType.INT8, at, (0, LUT_ENTRIES, 1))
    _v(ctx, VFunc.QUANT, row, out, bf, None, (i32_bits(zp), f32_bits(1.0), 0))


@declare(
    "Softmax",
    "float32, int8 (QDQ)",
    "any axis (opset < 13: 2-D coercion); int8: the last axis, as QLinearSoftmax",
)
def lower_softmax(ctx: Ctx, node) -> None:
    rank = ctx.type(node.inputs[0]).rank
    axis = node.attr("axis", -1 if node.opset >= 13 else 1) % rank
    axes = (axis,) if node.opset >= 13 else tuple(range(axis, rank))
    if ctx.type(node.inputs[0]).dtype == "int8":
        after = _row_sums(ctx, node, axes) if node.attr("row_sums") else None
        build = _qsoftmax(ctx, node)
        _run(ctx, node, axes, build, fixed=2048 // 4 + 128, x_dtype=DType.INT8, after=after)
    else:
        _run(ctx, node, axes, _softmax)
    ctx.record(node, macs=0)


@declare(
    "GlobalAveragePool",
    "float32, int8 (QDQ)",
    "any spatial rank; int8: exact integer sums, REQUANT by s_x / (s_y * count)",
)
def lower_gap(ctx: Ctx, node) -> None:
    xt = ctx.type(node.inputs[0])
    axes = tuple(range(2, xt.rank))
    if xt.dtype == "int8":
        _run(ctx, node, axes, _int_mean(ctx, node), fixed=16, x_dtype=DType.INT8)
    else:
        _run(ctx, node, axes, _mean)
    ctx.record(node, macs=0)


def _int_mean(ctx: Ctx, node):
    """int8 rows: RSUM, minus L * zp_x, REQUANT by s_x / (s_y * L) computed in fp32 as
    onnxruntime's QLinearGlobalAveragePool does (its sums are exact integers too)."""
    qx, qy = ctx.type(node.inputs[0]).quant, ctx.type(node.outputs[0]).quant

    def build(ctx, xb, base, slot, n, L):
        s = np.float32(qx.scale) / (np.float32(qy.scale) * np.float32(L))
        word = ctx.const(np.array([pack_requant_scale(s)], np.uint32).view(np.int32))
        m = Box(SP, DType.INT32, base + slot, (0, 1, 0))
        w = Box(SP, DType.INT32, base + 2 * slot, (0, 0, 0))
        y = Box(SP, DType.INT8, w.addr + 64, (0, 1, 0))
        emit_load(ctx, load(SP, w.addr, 4, word.addr, (1, 1, 1), (0, 0, 1), (0, 0, 1)), "const")
        _v(ctx, VFunc.RSUM, (1, n, L), m, xb)
        one = (1, n, 1)
        _v(ctx, VFunc.ADD_IMM, one, m, m, None, (i32_bits(-L * qx.zero_point), 0, 0))
        imm = (i32_bits(qy.zero_point), i32_bits(-128), i32_bits(127))
        _v(ctx, VFunc.REQUANT, one, y, m, w, imm)
        return y, one

    return build


def _layernorm(ctx, node, axis, eps, centre=True):
    """mean, centre, variance, rsqrt, then scale and bias (row vectors read with stride 0);
    without ``centre`` (RMSNorm) the mean square of the row itself."""

    def row(name):
        if not name:
            return None
        shape = ctx.type(node.inputs[0]).shape[axis:]
        arr = np.broadcast_to(ctx.graph.constants[name].astype(np.float32), shape)
        return ctx.const(np.ascontiguousarray(arr).reshape(-1))

    scale = row(node.inputs[1])
    bias = row(node.inputs[2] if len(node.inputs) > 2 else "")

    def build(ctx, xb, base, slot, n, L):
        cnt, one = (1, n, L), (1, n, 1)
        u = Box(SP, FP, base + slot, (0, L, 1))
        m = Box(SP, FP, base + 2 * slot, (0, 1, 0))
        v = Box(SP, FP, m.addr + -(-n * 4 // 64) * 64, (0, 1, 0))
        sb = Box(SP, FP, v.addr + -(-n * 4 // 64) * 64, (0, 0, 1))
        bb = Box(SP, FP, sb.addr + -(-L * 4 // 64) * 64, (0, 0, 1))
        if centre:
            _v(ctx, VFunc.RSUM, cnt, m, xb)
            _v(ctx, VFunc.MUL_IMM, one, m, m, None, (f32_bits(1.0 / L), 0, 0))
            _v(ctx, VFunc.SUB, cnt, xb, xb, m)
        _v(ctx, VFunc.MUL, cnt, u, xb, xb)
        _v(ctx, VFunc.RSUM, cnt, v, u)
        _v(ctx, VFunc.MUL_IMM, one, v, v, None, (f32_bits(1.0 / L), 0, 0))
        _v(ctx, VFunc.ADD_IMM, one, v, v, None, (f32_bits(eps), 0, 0))
        _v(ctx, VFunc.RSQRT, one, v, v)
        _v(ctx, VFunc.MUL, cnt, xb, xb, v)
        for place, box in ((scale, sb), (bias, bb)):
            if place is not None:
                load_row = load(SP, box.addr, 4, place.addr, (1, 1, L), (0, 0, 1), (0, 0, 1))
                emit_load(ctx, load_row, "const")
                f = VFunc.MUL if box is sb else VFunc.ADD
                _v(ctx, f, cnt, xb, xb, box)
        return xb, cnt

    return build


def _check_layernorm(node, graph) -> str | None:
    extra = [o for o in node.outputs[1:] if o and (graph.consumers(o) or o in graph.outputs)]
    if extra:
        return f"outputs Mean/InvStdDev ({', '.join(extra)}) are not produced"
    if any(i and not graph.is_const(i) for i in node.inputs[1:]):
        return "Scale and B must be constant"
    return None


@declare(
    "LayerNormalization",
    "float32, int8 (QDQ: fp32 between DEQUANT and QUANT)",
    "any axis (normalised axes contiguous); epsilon; constant Scale and B; Y output only",
    _check_layernorm,
)
def lower_layernorm(ctx: Ctx, node) -> None:
    rank = ctx.type(node.inputs[0]).rank
    axis = node.attr("axis", -1) % rank
    axes = tuple(range(axis, rank))
    L = int(np.prod([ctx.type(node.inputs[0]).shape[a] for a in axes]))
    build = _layernorm(ctx, node, axis, node.attr("epsilon", 1e-5))
    _run(ctx, node, axes, build, fixed=2 * L + 128, quant=_quant(ctx, node))
    ctx.record(node, macs=0)


def _check_rmsnorm(node, graph) -> str | None:
    if not graph.is_const(node.inputs[1]):
        return "scale must be constant"
    return None


@declare(
    "RMSNormalization",
    "float32",
    "any axis (normalised axes contiguous); epsilon; constant scale: mean of squares, RSQRT, "
    "two MULs in one pass over each row",
    _check_rmsnorm,
)
def lower_rmsnorm(ctx: Ctx, node) -> None:
    rank = ctx.type(node.inputs[0]).rank
    axis = node.attr("axis", -1) % rank
    axes = tuple(range(axis, rank))
    L = int(np.prod([ctx.type(node.inputs[0]).shape[a] for a in axes]))
    build = _layernorm(ctx, node, axis, node.attr("epsilon", 1e-5), centre=False)
    _run(ctx, node, axes, build, fixed=L + 128)
    ctx.record(node, macs=0)
