"""Depthwise Conv (float32) and QConv (int8) layers: the support predicate and the layer
description built from the node (the parameter table of weight rows, bias and requant
words), then the tile search and emission.
"""

from __future__ import annotations

import numpy as np

from compiler.lowering.common import (
    Ctx,
)
from compiler.lowering.depthwise.emit import emit
from compiler.lowering.depthwise.layer import DwLayer
from compiler.lowering.depthwise.search import plan
from compiler.lowering.gemm import Geom
from simulator.isa import DType
from simulator.semantics import pack_requant_scales


def is_depthwise(node, graph) -> bool:
    """Depthwise Conv (float32) or QConv (int8) without a fused residual."""
    w = graph.constants.get(node.inputs[1])
    group = node.attr("group", 1)
    xt = graph.type(node.inputs[0])
    return (
        w is not None
        and group > 1
        and w.shape[0] == group
        and w.shape[1] == 1
        and xt.shape[1] == group
        and not node.attr("residual")
        and xt.dtype == ("int8" if node.op == "QConv" else "float32")
    )


def lower(ctx: Ctx, node, g: Geom, strides, weights: np.ndarray, bias, act) -> str:
    """float32 Conv: emit the layer; returns a tiling description. ``strides``: the (n, h, w, c)
    element strides of the input and the output."""
    table = [_weight_rows(weights, g)]
    if bias is not None:
        table.append(np.broadcast_to(np.asarray(bias, np.float32), (1, g.cout)))
    params = np.ascontiguousarray(np.vstack(table), np.float32)
    x = (DType.FP32, 0, None)  # the weight rows are the table's first rows
    layer = _layer(ctx, node, g, strides, params, x, bias is not None, act, None)
    return _run(ctx, layer)


def lower_int8(ctx: Ctx, node, g: Geom, axes) -> str:
    """int8 QConv (attributes ``requant``, ``clamp`` and an int32 bias from the QDQ pass): emit
    the layer; returns a tiling description. ``axes``: the logical axes of (n, h, w, c)."""
    xt, yt = ctx.type(node.inputs[0]), ctx.type(node.outputs[0])
    words = pack_requant_scales(node.attr("requant"))
    bias = ctx.graph.constants[node.inputs[2]].astype(np.int32).reshape(1, g.cout)
    w = ctx.graph.constants[node.inputs[1]]
    params = np.vstack([_weight_rows(w, g).astype(np.int32), bias, words.view(np.int32)[None]])
    strides = [_strides(ctx, t, axes) for t in (node.inputs[0], node.outputs[0])]
    lo, hi = node.attr("clamp")
    imm = (yt.quant.zero_point & 0xFFFFFFFF, lo & 0xFFFFFFFF, hi & 0xFFFFFFFF)
    x = (DType.INT8, xt.quant.zero_point & 0xFFFFFFFF, _weight_rows(w, g).astype(np.int8))
    return _run(ctx, _layer(ctx, node, g, strides, params, x, True, None, imm))


def _weight_rows(w: np.ndarray, g: Geom) -> np.ndarray:
    """[cout, 1, kh, kw] -> [kh*kw, cout]: one row of per-channel weights per kernel position."""
    return np.ascontiguousarray(w.reshape(g.cout, g.kpos).T)


def _strides(ctx: Ctx, tensor: str, axes) -> tuple[int, ...]:
    s = ctx.place(tensor).strides
    return tuple(0 if a is None else s[a] for a in axes)


def _layer(ctx, node, g, strides, params, x, bias, act, requant) -> DwLayer:
    """``x``: (patch dtype, pad pattern, [kh*kw, cout] weight rows in that dtype or None: the
    parameter table's first rows)."""
    xp, yp = ctx.place(node.inputs[0]), ctx.place(node.outputs[0])
    xdt, pad, w = x
    table = ctx.const(params).addr
    return DwLayer(
        node.name,
        g,
        (xp.addr, tuple(strides[0]), xp.key),
        (yp.addr, tuple(strides[1]), ctx.writes(node.outputs[0])),
        xdt,
        pad,
        table,
        params.shape[0],
        bias,
        act,
        requant,
        table if w is None else ctx.const(np.ascontiguousarray(w)).addr,
    )


def _run(ctx: Ctx, L: DwLayer) -> str:
    t = plan(L, ctx.config)
    emit(ctx, L, t)
    return t.describe()
