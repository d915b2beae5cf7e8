"""Index ops on the DMA engines: Gather (an indexed DMA when the indices are data, a strided
copy when they are constant and evenly spaced), GatherND and ScatterND (indexed DMA of whole
slices), Expand and Tile (strided copies with stride-0 broadcasts).

The indexed DMA (``isa.Gather`` / ``isa.Scatter``) takes its row numbers from the input
scratchpad: each tile first loads its indices there (int32 or int64 as stored), then one
Gather fetches the rows they name (negative ones count from the end, as ONNX's). A tensor is
seen as ``[outer, rows, inner]`` around the indexed axis, so one instruction covers any axis.
"""

from __future__ import annotations

from math import prod

import numpy as np

from compiler.lowering.common import ESIZE_LOG2, Ctx, Place, emit_store, load, store
from compiler.lowering.movement import View, _view, copy
from compiler.opdecl import OpTable
from simulator.errors import UnsupportedOpError
from simulator.isa import Gather, Scatter, Scratchpad

SP = Scratchpad.INPUT
INDEX_DTYPES = ("int32", "int64")
OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare
INDEXED = frozenset({"float32", *INDEX_DTYPES})  # the dtypes an index op's tensors may have


def _src(ctx: Ctx, tensor: str) -> Place:
    """DRAM place of a constant or an activation (constants as stored: int64 stays int64)."""
    if ctx.graph.is_const(tensor):
        return ctx.const(np.ascontiguousarray(ctx.graph.constants[tensor]))
    return ctx.place(tensor)


def _tiles(total: int, size: int):
    return [(s, min(size, total - s)) for s in range(0, total, size)]


def indexed_rows(ctx: Ctx, node, table: Place, rows: int, ids: Place, n_ids: int, y: str, shape):
    """out[o, s, i] = table[o, ids[s], i] for a table seen as [O, rows, I] (element strides
    ``(rows*I, I, 1)``) and an output ``y`` [O, S, I] (row-major). One index
    load, one Gather and one Store per tile, double-buffered in the input scratchpad."""
    o_n, i_n = shape
    out = ctx.place(y)
    es, ies = table.itemsize, ids.itemsize
    copies = ctx.scratch.copies(SP, 2)
    half = copies.capacity
    budget = (half - 64 - min(n_ids, 4096) * ies) // es  # room for a tile's indices first
    if budget < 1:
        raise UnsupportedOpError(
            f"node {node.name!r} ({node.op}): the input scratchpad is too small"
        )
    ti = min(i_n, budget, 65535)
    to = min(o_n, budget // ti, 65535)
    ts = max(1, min(n_ids, budget // (ti * to), 4096, 65535))
    idx_bytes = -(-ts * ies // 64) * 64
    copies.use(idx_bytes + to * ts * ti * es)
    buf = 0
    for s0, sn in _tiles(n_ids, ts):
        base = copies.base(buf)
        ld = load(SP, base, ies, ids.addr + s0 * ies, (1, 1, sn), (0, 0, 1), (0, 0, 1))
        ctx.em.add(ld, dram=[ids.key])
        for o0, on in _tiles(o_n, to):
            for i0, inn in _tiles(i_n, ti):
                data = base + idx_bytes
                addr = table.addr + (o0 * rows * i_n + i0) * es
                g = Gather(
                    sp=int(SP),
                    esize_log2=ESIZE_LOG2[es],
                    sp_addr=data,
                    dram_addr=addr,
                    n0=sn,
                    n1=on,
                    n2=inn,
                    ds0=i_n,
                    ds1=rows * i_n,
                    ds2=1,
                    ss0=on * inn,
                    ss1=inn,
                    ss2=1,
                    hi0=sn,
                    hi1=on,
                    hi2=inn,
                    idx_sp=int(SP),
                    idx_esize_log2=ESIZE_LOG2[ies],
                    idx_addr=base,
                    rows=rows,
                )
                ctx.em.add(g, dram=[table.key])
                dst = out.addr + (o0 * n_ids * i_n + s0 * i_n + i0) * es
                st = store(
                    SP, data, es, dst, (sn, on, inn), (i_n, n_ids * i_n, 1), (on * inn, inn, 1)
                )
                emit_store(ctx, st, ctx.writes(y))
        buf ^= 1


# --- Gather ------------------------------------------------------------------------------------
def _check_gather(node, graph) -> str | None:
    data, idx = node.inputs[:2]
    dt = graph.type(data)
    if dt.dtype not in ("float32", "int32", "int64", "int8", "uint8"):
        return f"data dtype {dt.dtype}"
    if graph.type(idx).dtype not in INDEX_DTYPES:
        return f"indices dtype {graph.type(idx).dtype}"
    return None


def _even_run(idx: np.ndarray) -> tuple[int, int] | None:
    """(first, step) when the constant indices are an arithmetic run (a strided copy)."""
    flat = idx.reshape(-1)
    if flat.size == 1:
        return int(flat[0]), 1
    step = int(flat[1] - flat[0])
    if np.array_equal(flat, flat[0] + step * np.arange(flat.size)):
        return int(flat[0]), step
    return None


@declare(
    "Gather",
    "float32, int32/int64 (data); int32/int64 indices",
    "any axis; data-dependent indices (token ids into an embedding table) as an indexed DMA "
    "(isa.Gather, one per tile of rows; negative indices count from the end); constant "
    "indices as a strided copy when evenly spaced, else the indexed DMA over a constant index "
    "list",
    _check_gather,
    accepts=INDEXED,
)
def lower_gather(ctx: Ctx, node) -> None:
    data, idx = node.inputs[:2]
    y = node.outputs[0]
    dshape = ctx.type(data).shape
    axis = node.attr("axis", 0) % len(dshape)
    rows = dshape[axis]
    o_n, i_n = prod(dshape[:axis]), prod(dshape[axis + 1 :])
    n_ids = ctx.type(idx).size
    if ctx.graph.is_const(idx):
        ids = np.asarray(ctx.graph.constants[idx]).astype(np.int64)
        ids = np.where(ids < 0, ids + rows, ids)
        if ids.size and (ids.min() < 0 or ids.max() >= rows):
            raise UnsupportedOpError(
                f"node {node.name!r} (Gather): constant index outside [-{rows}, {rows})"
            )
        run = _even_run(ids)
        if run is not None:
            _strided(ctx, node, data, y, (o_n, rows, i_n), n_ids, run)
            ctx.record(node, macs=0, tiling="strided copy")
            return
        ids_place = ctx.const(ids.astype(np.int32))
    else:
        ids_place = ctx.place(idx)
    indexed_rows(ctx, node, _src(ctx, data), rows, ids_place, n_ids, y, (o_n, i_n))
    ctx.record(node, macs=0, tiling=f"indexed DMA {n_ids} rows of {i_n}")


def _strided(ctx: Ctx, node, data, y, shape3, n_ids, run) -> None:
    o_n, rows, i_n = shape3
    first, step = run
    p = _src(ctx, data)
    es = p.itemsize
    src = View(p.addr + first * i_n * es, (rows * i_n, step * i_n, 1))
    copy(ctx, (o_n, n_ids, i_n), src, _view_flat(ctx, y, (o_n, n_ids, i_n)), p.key, y)


def _view_flat(ctx: Ctx, tensor: str, shape) -> View:
    p = ctx.place(tensor)
    strides = (shape[1] * shape[2], shape[2], 1)
    return View(p.addr, strides)


# --- Expand, Tile ----------------------------------------------------------------------------------
def _check_shape_input(node, graph) -> str | None:
    if not graph.is_const(node.inputs[1]):
        return f"input {node.inputs[1]!r} must be constant"
    return None


@declare(
    "Expand",
    "float32",
    "constant shape; numpy broadcasting as one strided copy with stride-0 source axes",
    _check_shape_input,
)
def lower_expand(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs, yshape = ctx.type(x).shape, ctx.type(y).shape
    p = ctx.place(x)
    lead = len(yshape) - len(xs)
    strides = [0] * lead + [0 if n == 1 else s for n, s in zip(xs, p.strides, strict=True)]
    copy(ctx, yshape, View(p.addr, tuple(strides)), _view(ctx, y), p.key, y)
    ctx.record(node, macs=0)


@declare(
    "Tile",
    "float32",
    "constant repeats; one strided copy: each axis split into (repeat, size) with a stride-0 "
    "source repeat axis",
    _check_shape_input,
)
def lower_tile(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs = ctx.type(x).shape
    reps = [int(r) for r in np.asarray(ctx.graph.constants[node.inputs[1]]).reshape(-1)]
    p, q = ctx.place(x), ctx.place(y)
    shape, src, dst = [], [], []
    for n, r, s, d in zip(xs, reps, p.strides, q.strides, strict=True):
        shape += [r, n]
        src += [0, s]
        dst += [n * d, d]
    copy(ctx, tuple(shape), View(p.addr, tuple(src)), View(q.addr, tuple(dst)), p.key, y)
    ctx.record(node, macs=0)


# --- GatherND, ScatterND -----------------------------------------------------------------------------
def _nd_check(node, graph) -> str | None:
    idx = node.inputs[1]
    if graph.type(idx).dtype not in INDEX_DTYPES:
        return f"indices dtype {graph.type(idx).dtype}"
    if node.attr("batch_dims", 0):
        return "batch_dims > 0"
    if node.attr("reduction", "none") != "none":
        return f"reduction={node.attr('reduction')!r}"
    k = graph.type(idx).shape[-1]
    if k != 1 and not graph.is_const(idx):
        return f"data-dependent indices of {k} coordinates (only 1: a row index)"
    return None


def _nd_rows(ctx: Ctx, node, data_shape) -> tuple[Place, int, int, int]:
    """(index place, number of indices, rows, row size) of GatherND/ScatterND's index tuples
    as rows of data seen as [prod(shape[:k]), prod(shape[k:])]."""
    idx = node.inputs[1]
    it = ctx.type(idx)
    k = it.shape[-1]
    rows, inner = prod(data_shape[:k]), prod(data_shape[k:])
    n = prod(it.shape[:-1])
    if not ctx.graph.is_const(idx):
        return ctx.place(idx), n, rows, inner
    ids = np.asarray(ctx.graph.constants[idx]).astype(np.int64).reshape(n, k)
    dims = np.array(data_shape[:k])
    ids = np.where(ids < 0, ids + dims, ids)
    if ids.size and ((ids < 0).any() or (ids >= dims).any()):
        raise UnsupportedOpError(f"node {node.name!r} ({node.op}): constant index out of range")
    flat = np.ravel_multi_index(tuple(ids.T), tuple(data_shape[:k])) if n else np.zeros(0)
    return ctx.const(np.asarray(flat, np.int32)), n, rows, inner


@declare(
    "GatherND",
    "float32; int32/int64 indices",
    "batch_dims 0; constant index tuples of any length, or data-dependent single indices "
    "(rows of the first axis): one indexed DMA per tile",
    _nd_check,
    accepts=INDEXED,
)
def lower_gather_nd(ctx: Ctx, node) -> None:
    data, y = node.inputs[0], node.outputs[0]
    ids, n, rows, inner = _nd_rows(ctx, node, ctx.type(data).shape)
    indexed_rows(ctx, node, _src(ctx, data), rows, ids, n, y, (1, inner))
    ctx.record(node, macs=0, tiling=f"indexed DMA {n} rows of {inner}")


@declare(
    "ScatterND",
    "float32; int32/int64 indices",
    "reduction 'none'; constant index tuples of any length, or data-dependent single indices: "
    "a copy of data, then one indexed DMA store (isa.Scatter) per tile of updates",
    _nd_check,
    accepts=INDEXED,
)
def lower_scatter_nd(ctx: Ctx, node) -> None:
    data, _, updates = node.inputs
    y = node.outputs[0]
    shape = ctx.type(data).shape
    p = _src(ctx, data)
    q = ctx.place(y)
    copy(ctx, shape, View(p.addr, p.strides), View(q.addr, q.strides), p.key, y)
    ids, n, rows, inner = _nd_rows(ctx, node, shape)
    _scatter_rows(ctx, node, _src(ctx, updates), ids, n, y, (rows, inner))
    ctx.record(node, macs=0, tiling=f"copy, indexed DMA store {n} rows of {inner}")


def _scatter_rows(ctx: Ctx, node, src: Place, ids: Place, n: int, y: str, shape) -> None:
    """y[ids[s], :] = src[s, :] (y seen as [rows, inner]), in index order."""
    rows, inner = shape
    es, ies = src.itemsize, ids.itemsize
    copies = ctx.scratch.copies(SP, 2)
    half = copies.capacity
    budget = (half - 64 - min(n, 4096) * ies) // es
    ti = min(inner, budget, 65535)
    ts = max(1, min(n, budget // ti, 4096, 65535))
    idx_bytes = -(-ts * ies // 64) * 64
    copies.use(idx_bytes + ts * ti * es)
    out = ctx.place(y)
    buf = 0
    for s0, sn in _tiles(n, ts):
        base = copies.base(buf)
        ld = load(SP, base, ies, ids.addr + s0 * ies, (1, 1, sn), (0, 0, 1), (0, 0, 1))
        ctx.em.add(ld, dram=[ids.key])
        for i0, inn in _tiles(inner, ti):
            data = base + idx_bytes
            src_addr = src.addr + (s0 * inner + i0) * es
            ld = load(SP, data, es, src_addr, (1, sn, inn), (0, inner, 1), (0, inn, 1))
            ctx.em.add(ld, dram=[src.key])
            sc = Scatter(
                sp=int(SP),
                esize_log2=ESIZE_LOG2[es],
                sp_addr=data,
                dram_addr=out.addr + i0 * es,
                n0=sn,
                n2=inn,
                ds0=inner,
                ss0=inn,
                hi0=sn,
                hi2=inn,
                idx_sp=int(SP),
                idx_esize_log2=ESIZE_LOG2[ies],
                idx_addr=base,
                rows=rows,
            )
            ctx.em.add(sc, dram=ctx.writes(y))
        buf ^= 1
