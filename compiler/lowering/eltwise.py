"""Element-wise ops with numpy broadcasting on the vector unit.

Operands are walked in the output's storage order; dimensions that are contiguous for every
operand are merged; each tile is a (rows x cols) box. A broadcast operand is loaded once per
tile at its own (smaller) size and read with a zero vector stride.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler import optables
from compiler.lowering.common import (
    Box,
    Ctx,
    Storage,
    contiguous_strides,
    emit_load,
    emit_store,
    emit_vector,
    i32_bits,
    load,
    storage,
    store,
    vector,
)
from compiler.opdecl import OpTable
from compiler.passes.fusion import dropout_is_identity
from compiler.passes.layout import ALIAS_OPS
from simulator.isa import DType, Scratchpad, VFunc
from simulator.vector import dtype_of

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare
ANY = optables.NUM | optables.BOOL

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
    extra: dict[str, DType] | None = None,
    tables: dict[str, np.ndarray] | None = None,
) -> None:
    """``steps`` on tiles of ``out``'s elements; operand ``i`` is input ``i`` broadcast to the
    output. ``in_dtypes``: the operands' vector dtypes (default: from their tensor dtypes, see
    ``common.STORAGE``); ``temp``: the dtype of the "t"/"t2" slots (int32 for integers);
    ``extra``: more temporary slots by name and dtype (each gets a slot when a step uses it);
    ``tables``: constant arrays by slot name, loaded whole into their slot for every tile (a
    LUT's table)."""
    yt = ctx.type(out)
    perm = yt.layout
    y_strides = ctx.place(out).strides
    in_strides = in_strides or [broadcast_strides(ctx, i, yt.shape) for i in inputs]
    all_strides = list(in_strides) + [y_strides]
    # axes of extent 1 never move (a broadcast operand's stride 0 there would stop merging)
    axes = [p for p in perm if yt.shape[p] != 1] or list(perm[-1:])
    dims = [yt.shape[p] for p in axes]
    strides = [[st[p] for p in axes] for st in all_strides]
    if len(dims) == 0:
        dims, strides = [1], [[0] for _ in strides]
    dims, strides = _merge(dims, strides)
    if len(dims) == 1:
        dims, strides = [1, *dims], [[0, *s] for s in strides]
    if in_dtypes is None:
        stores = [storage(ctx.type(i).dtype) for i in inputs]
    else:
        stores = [Storage(d, d.size, 1) for d in in_dtypes]
    out_store = storage(yt.dtype)
    if not steps and (len(inputs) != 1 or stores[0] != out_store):
        steps = [Step(VFunc.COPY, "out", 0)]
    temps = {"t": temp, "out": None, **_used({"t2": temp, **(extra or {})}, steps)}
    whole = {k: (ctx.const(v), dtype_of(v), v.size) for k, v in (tables or {}).items()}
    _tiles(ctx, out, inputs, dims, strides, steps, stores, out_store, (temps, whole))


def _used(slots: dict[str, DType], steps: list[Step]) -> dict[str, DType]:
    """The temporary slots some step reads or writes."""
    named = {x for s in steps for x in (s.dst, s.src0, s.src1)}
    return {k: v for k, v in slots.items() if k in named}


def _tiles(ctx, out, inputs, dims, strides, steps, stores, out_store, temps) -> None:
    rows, cols = dims[-2], dims[-1]
    nslots = len(inputs) + len(temps[0]) + len(temps[1])
    elem = 4 * out_store.step  # bytes per element of a slot (int64 outputs: lo/hi word pairs)
    copies = ctx.scratch.copies(SP, 2)
    budget = copies.capacity // nslots // 64 * 64 // elem  # elements, whole 64 B
    tc = min(cols, max(1, budget))
    tr = min(rows, max(1, budget // tc))
    table_bytes = max((d.size * size for _, d, size in temps[1].values()), default=0)
    slot_bytes = -(-max(tr * tc * elem, table_bytes) // 64) * 64
    copies.use(nslots * slot_bytes)
    tile = 0
    for outer in np.ndindex(*dims[:-2]) if len(dims) > 2 else [()]:
        for r0 in range(0, rows, tr):
            for c0 in range(0, cols, tc):
                base = copies.base(tile)
                n = (min(tr, rows - r0), min(tc, cols - c0))
                _tile(
                    ctx,
                    out,
                    inputs,
                    strides,
                    steps,
                    (stores, out_store),
                    outer,
                    (r0, c0),
                    n,
                    base,
                    slot_bytes,
                    temps,
                )
                tile += 1


def _tile(ctx, out, inputs, strides, steps, stores, outer, origin, n, base, slot_bytes, temps):
    stores, out_store = stores
    boxes = {}
    for i, name in enumerate(inputs):
        st, sto = strides[i], stores[i]
        rs, cs = st[-2], st[-1]
        cnt = (1, n[0] if rs else 1, n[1] if cs else 1)
        box = Box(SP, sto.dtype, base + i * slot_bytes, (0, cnt[2] if rs else 0, 1 if cs else 0))
        off = (
            sum(o * s for o, s in zip(outer, st[:-2], strict=False))
            + origin[0] * rs
            + origin[1] * cs
        )
        place = ctx.const_place(name) if ctx.graph.is_const(name) else ctx.place(name)
        es, k = sto.esize, sto.step
        dram = place.addr + off * es * k
        emit_load(
            ctx,
            load(SP, box.addr, es, dram, cnt, (0, rs * k, cs * k), (0, cnt[2], 1)),
            place.key,
        )
        boxes[i] = box
    k = out_store.step
    temps, whole = temps
    for j, (name, dtype) in enumerate(temps.items(), start=len(inputs)):
        boxes[name] = Box(SP, dtype or out_store.dtype, base + j * slot_bytes, (0, n[1], 1))
    for j, (name, (place, dtype, size)) in enumerate(whole.items(), start=len(inputs) + len(temps)):
        boxes[name] = Box(SP, dtype, base + j * slot_bytes, (0, 0, 1))
        cnt = (1, 1, size)
        instr = load(SP, boxes[name].addr, dtype.size, place.addr, cnt, (0, 0, 1), (0, 0, 1))
        emit_load(ctx, instr, place.key)
    boxes["out"] = Box(SP, out_store.dtype, boxes["out"].addr, (0, n[1] * k, k))
    if not steps:
        boxes["out"] = boxes[0]
    counts = (1, n[0], n[1])
    for s in steps:
        src1 = boxes[s.src1] if s.src1 is not None else None
        emit_vector(ctx, vector(s.func, counts, boxes[s.dst], boxes[s.src0], src1, s.imm))
    ob = boxes["out"]
    if k == 2:  # int64: the high words are the sign of the low ones (CLIP to [-1, 0])
        high = Box(SP, DType.INT32, ob.addr + 4, ob.strides)
        imm = (i32_bits(-1), 0, 0)
        emit_vector(ctx, vector(VFunc.CLIP, counts, high, ob, None, imm))
        ob = Box(SP, DType.INT32, ob.addr, (0, n[1], 1))  # as 8-byte words
    st = strides[-1]
    off = (
        sum(o * s for o, s in zip(outer, st[:-2], strict=False))
        + origin[0] * st[-2]
        + origin[1] * st[-1]
    )
    yp = ctx.place(out)
    es = out_store.esize * k
    emit_store(
        ctx,
        store(SP, ob.addr, es, yp.addr + off * es, counts, (0, st[-2], st[-1]), ob.strides),
        ctx.writes(out),
    )


@declare("Identity", "float32, int32, int64, bool", "removed (an alias)", accepts=ANY)
def lower_identity(ctx: Ctx, node) -> None:
    """Only an Identity whose output is a graph output gets here: a DMA copy."""
    run_eltwise(ctx, node.outputs[0], [node.inputs[0]], [])
    ctx.record(node, macs=0)


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
    run_eltwise(ctx, node.outputs[0], [x], [])
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


for _op in ALIAS_OPS:
    declare(
        _op,
        "float32, int32, int64, bool",
        "free (an address alias) on row-major data; a relayout copy first "
        "when the input is channels-last",
        accepts=ANY,
    )(lambda ctx, node: None)
