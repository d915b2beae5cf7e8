"""Conv, Gemm and MatMul nodes -> GemmLayer records -> tiled instructions."""

from __future__ import annotations

from functools import partial

import numpy as np

from compiler.lowering import depthwise, gemm
from compiler.lowering.common import Ctx, derived
from compiler.lowering.gemm import Epilogue, GemmLayer, Geom, Operand
from compiler.opdecl import OpTable
from compiler.optables import FUSABLE, epilogue_act
from simulator.isa import DType

OPS = OpTable()  # merged into the registry by compiler.ops
declare = OPS.declare

# the activations a GEMM epilogue applies: op -> params -> (function, imm0, imm1)
ACTS = {op: partial(epilogue_act, op) for op in (*FUSABLE, "Clip")}


def operand(ctx: Ctx, tensor: str, axes: tuple[int | None, ...]) -> Operand:
    """The DRAM operand of ``tensor`` with strides of the given logical axes (None: 0)."""
    p = ctx.place(tensor)
    strides = tuple(0 if a is None else p.strides[a] for a in axes)
    return Operand(p.addr, strides, p.key, ctx.clobbers.get(p.key, ()))


def _epilogue(ctx: Ctx, node, cout: int, bias: np.ndarray | None) -> Epilogue:
    epi = Epilogue()
    if bias is None and node.attr("bias"):  # a MatMul's fused bias (fusion.fuse_matmul_bias)
        bias = ctx.graph.constants[node.attr("bias")].reshape(-1)
    if bias is not None:
        epi.bias = ctx.const(np.broadcast_to(bias, (cout,)).astype(np.float32)).addr
    act = node.attr("act")
    if act is not None:
        epi.act = ACTS[act[0]](dict(act[1]))
    return epi


def _run(ctx: Ctx, node, layer: GemmLayer, tiling=None):
    t = tiling or gemm.plan(layer, ctx.config, ctx.plans)
    gemm.emit(ctx, layer, t)
    return t


def _conv_geom(node, xt, yt, wshape) -> Geom:
    nd = xt.rank - 2
    k = tuple(wshape[2:])
    s = tuple(node.attr("strides") or (1,) * nd)
    d = tuple(node.attr("dilations") or (1,) * nd)
    pads = pad_begin(node, xt.shape[2:], k, s, d)
    if nd == 1:
        k, s, d, pads = (1, *k), (1, *s), (1, *d), (0, *pads)
    n, c = xt.shape[:2]
    h, w = xt.shape[2:] if xt.rank == 4 else (1, xt.shape[2])
    oh, ow = yt.shape[2:] if yt.rank == 4 else (1, yt.shape[2])
    return Geom(
        n,
        h,
        w,
        c,
        oh,
        ow,
        yt.shape[1],
        k[0],
        k[1],
        s[0],
        s[1],
        d[0],
        d[1],
        pads[0],
        pads[1],
        node.attr("group", 1),
    )


def _check_conv(node, graph) -> str | None:
    if graph.type(node.inputs[0]).rank not in (3, 4):
        return "only 1-D and 2-D convolutions"
    if not graph.is_const(node.inputs[1]):
        return "weights must be constant"
    return None


def pad_begin(node, spatial, k, s, d) -> tuple[int, ...]:
    """Begin pads per spatial axis: ``pads``, or computed for auto_pad SAME_UPPER/SAME_LOWER
    (total = max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0), the odd one at the end for UPPER)."""
    mode = node.attr("auto_pad", "NOTSET")
    if mode == "VALID":
        return (0,) * len(spatial)
    if mode == "NOTSET":
        return tuple(node.attr("pads") or (0,) * (2 * len(spatial)))[: len(spatial)]
    out = []
    for n, kk, ss, dd in zip(spatial, k, s, d, strict=True):
        total = max((-(-n // ss) - 1) * ss + (kk - 1) * dd + 1 - n, 0)
        out.append(total // 2 if mode == "SAME_UPPER" else total - total // 2)
    return tuple(out)


@declare(
    "Conv",
    "float32",
    "2-D and 1-D; any groups (depthwise too), strides, "
    "dilations, asymmetric pads; constant weights; fused bias, BatchNorm, residual add "
    "and activation",
    _check_conv,
)
def lower_conv(ctx: Ctx, node) -> None:
    xt, yt = ctx.type(node.inputs[0]), ctx.type(node.outputs[0])
    w = ctx.graph.constants[node.inputs[1]]
    g = _conv_geom(node, xt, yt, w.shape)
    axes = (0, 2, 3, 1) if xt.rank == 4 else (0, None, 2, 1)
    bias = ctx.graph.constants[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    if depthwise.is_depthwise(node, ctx.graph):
        strides = (operand(ctx, node.inputs[0], axes), operand(ctx, node.outputs[0], axes))
        act = ACTS[node.attr("act")[0]](dict(node.attr("act")[1])) if node.attr("act") else None
        desc = depthwise.lower(ctx, node, g, [s.strides for s in strides], w, bias, act)
        ctx.record(node, macs=g.macs, tiling=desc)
        return
    wa = arranged_weights(ctx, w, g, np.float32)
    layer = GemmLayer(
        node.name,
        g,
        DType.FP32,
        DType.FP32,
        operand(ctx, node.inputs[0], axes),
        operand(ctx, node.outputs[0], axes),
        _const_operand(ctx, wa),
        _epilogue(ctx, node, g.cout, bias),
    )
    if node.attr("residual"):
        # its input 3 (a pass after the fusion may rename it there, as int8_io does)
        layer.epi.residual = operand(ctx, node.inputs[3], axes)
    t = _run(ctx, node, layer)
    ctx.record(node, macs=g.macs, tiling=t.describe(g.kpos), est_cycles=t.est)


def arrange_conv_weights(w: np.ndarray, g: Geom) -> np.ndarray:
    """[cout, cin_g, kh, kw] -> [groups, kh*kw, cin_g, cout_g] (the matrix unit's W tiles)."""
    w = w.reshape(g.groups, g.cout_g, g.cin_g, g.kh, g.kw)
    return np.ascontiguousarray(
        w.transpose(0, 3, 4, 2, 1).reshape(g.groups, g.kpos, g.cin_g, g.cout_g)
    )


def arranged_weights(ctx: Ctx, w: np.ndarray, g: Geom, dtype) -> np.ndarray:
    """``arrange_conv_weights`` of the constant ``w`` in ``dtype``, once per prepared graph."""
    return derived(
        ctx.graph, w, ("conv", g, dtype), lambda: arrange_conv_weights(np.asarray(w, dtype), g)
    )


def _const_operand(ctx: Ctx, arranged: np.ndarray) -> Operand:
    p = ctx.const(arranged)
    g, kp, k, n = arranged.shape
    return Operand(p.addr, (kp * k * n, k * n, n, 1), "const")


def _check_gemm(node, graph) -> str | None:
    if node.attr("alpha", 1.0) != 1.0 and not graph.is_const(node.inputs[1]):
        return "alpha != 1 needs a constant B"
    c = node.inputs[2] if len(node.inputs) > 2 else ""
    if c and not graph.is_const(c) and node.attr("beta", 1.0) != 1.0:
        return "beta != 1 needs a constant C"
    return None


@declare(
    "Gemm",
    "float32",
    "transA/transB, alpha, beta; C constant or an activation, broadcast from a scalar, [N], "
    "[1, N], [M, 1] or [M, N] (beta != 1 needs a constant C); B constant or an activation",
    _check_gemm,
)
def lower_gemm(ctx: Ctx, node) -> None:
    a, b = node.inputs[:2]
    ta, tb = node.attr("transA", 0), node.attr("transB", 0)
    yt = ctx.type(node.outputs[0])
    m, n = yt.shape
    k = ctx.type(a).shape[0 if ta else 1]
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    g = Geom(1, 1, m, k, 1, m, n)
    x = operand(ctx, a, (None, None, 1, 0) if ta else (None, None, 0, 1))
    y = operand(ctx, node.outputs[0], (None, None, 0, 1))
    c = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    bias = None
    if c is not None and ctx.graph.is_const(c):
        cv = ctx.graph.constants[c].astype(np.float32) * np.float32(beta)
        if cv.ndim < 2 or cv.shape[0] == 1:  # one row: the per-column bias
            bias = cv.reshape(-1)
    if ctx.graph.is_const(b):
        bw = ctx.graph.constants[b].astype(np.float32)
        bw = (bw.T if tb else bw) * np.float32(alpha)
        w = _const_operand(ctx, bw.reshape(1, 1, k, n))
    else:
        w = operand(ctx, b, (None, None, 1, 0) if tb else (None, None, 0, 1))
    layer = GemmLayer(node.name, g, DType.FP32, DType.FP32, x, y, w, _epilogue(ctx, node, n, bias))
    if c is not None and bias is None:
        layer.epi.residual = _broadcast_operand(ctx, c, (m, n), beta)
    t = _run(ctx, node, layer)
    ctx.record(node, macs=g.macs, tiling=t.describe(1), est_cycles=t.est)


def _broadcast_operand(ctx: Ctx, tensor: str, shape: tuple[int, int], beta: float) -> Operand:
    """A [M, N] view of ``tensor`` with numpy broadcasting (stride 0 on broadcast axes); a
    constant is placed in the constant segment, times ``beta``."""
    if ctx.graph.is_const(tensor):
        cv = ctx.graph.constants[tensor].astype(np.float32) * np.float32(beta)
        p, cshape = ctx.const(cv), cv.shape
    else:
        p, cshape = ctx.place(tensor), ctx.type(tensor).shape
    pad = len(shape) - len(cshape)
    st = [0 if a < pad or cshape[a - pad] == 1 else p.strides[a - pad] for a in range(len(shape))]
    return Operand(p.addr, (0, 0, st[0], st[1]), p.key, ctx.clobbers.get(p.key, ()))


@declare("MatMul", "float32", "batched with numpy broadcasting; B constant or an activation")
def lower_matmul(ctx: Ctx, node) -> None:
    a, b = node.inputs
    at, bt, yt = ctx.type(a), ctx.type(b), ctx.type(node.outputs[0])
    if at.rank == 1 or bt.rank == 1:
        raise_unsupported(node, "1-D MatMul operands")
    m, k = at.shape[-2:]
    n = bt.shape[-1]
    lead = yt.shape[:-2]
    macs = int(np.prod(yt.shape)) * k
    if ctx.graph.is_const(b) and bt.rank == 2 and at.perm is None:
        rows = int(np.prod(at.shape[:-1]))
        g = Geom(1, 1, rows, k, 1, rows, n)
        x = operand(ctx, a, (None, None, at.rank - 2, at.rank - 1))
        x = Operand(x.addr, (0, 0, k, 1), x.key)
        y = operand(ctx, node.outputs[0], (None, None, yt.rank - 2, yt.rank - 1))
        y = Operand(y.addr, (0, 0, n, 1), y.key, y.writes)
        w = _const_operand(ctx, ctx.graph.constants[b].astype(np.float32).reshape(1, 1, k, n))
        layer = GemmLayer(
            node.name, g, DType.FP32, DType.FP32, x, y, w, _epilogue(ctx, node, n, None)
        )
        t = _run(ctx, node, layer)
    else:
        t = _batched(ctx, node, lead, (m, k, n))
    ctx.record(node, macs=macs, tiling=t.describe(1), est_cycles=t.est)


def _batched(ctx: Ctx, node, lead, mkn):
    a, b = node.inputs
    m, k, n = mkn
    t = None
    for idx in np.ndindex(*lead) if lead else [()]:
        x = _sub_operand(ctx, a, idx, lead)
        y = _sub_operand(ctx, node.outputs[0], idx, lead)
        if ctx.graph.is_const(b):
            bv = ctx.graph.constants[b].astype(np.float32)
            bv = np.broadcast_to(bv, (*lead, k, n))[idx] if bv.ndim > 2 else bv
            w = _const_operand(ctx, np.ascontiguousarray(bv).reshape(1, 1, k, n))
        else:
            w = _sub_operand(ctx, b, idx, lead)
        layer = GemmLayer(
            node.name,
            Geom(1, 1, m, k, 1, m, n),
            DType.FP32,
            DType.FP32,
            x,
            y,
            w,
            _epilogue(ctx, node, n, None),
        )
        t = _run(ctx, node, layer, t)
    return t


def _sub_operand(ctx: Ctx, tensor: str, idx: tuple[int, ...], lead) -> Operand:
    """Operand for the [.., r, c] matrix at batch index ``idx`` (numpy broadcasting)."""
    t = ctx.type(tensor)
    p = ctx.const_place(tensor) if ctx.graph.is_const(tensor) else ctx.place(tensor)
    extra = t.rank - 2 - len(lead)
    off = 0
    for axis in range(t.rank - 2):
        i = idx[axis - extra] if axis - extra >= 0 else 0
        if t.shape[axis] != 1:
            off += i * p.strides[axis]
    s = p.strides[-2:]
    return Operand(
        p.addr + off * p.itemsize, (0, 0, s[0], s[1]), p.key, ctx.clobbers.get(p.key, ())
    )


def raise_unsupported(node, why: str):
    from simulator.errors import UnsupportedOpError

    raise UnsupportedOpError(f"node {node.name!r} ({node.op}): {why}")


def gemm_layer(
    ctx: Ctx,
    node,
    rows: int,
    x: Operand,
    w: np.ndarray,
    y: Operand,
    bias: np.ndarray | None = None,
    residual: Operand | None = None,
):
    """``y[rows, n] = x[rows, k] @ w[k, n] (+ bias[n]) (+ residual[rows, n])`` in float32
    through the GEMM lowering (tiling, loop nest), for lowerings built of matrix products
    (``recurrent.py``). ``x``, ``y``, ``residual``: DRAM operands with strides
    ``(0, 0, row, column)``. Returns the tiling."""
    k, n = w.shape
    epi = Epilogue()
    if bias is None and node.attr("bias"):  # a MatMul's fused bias (fusion.fuse_matmul_bias)
        bias = ctx.graph.constants[node.attr("bias")].reshape(-1)
    if bias is not None:
        epi.bias = ctx.const(np.asarray(bias, np.float32).reshape(n)).addr
    epi.residual = residual
    wop = _const_operand(ctx, np.ascontiguousarray(w, np.float32).reshape(1, 1, k, n))
    g = Geom(1, 1, rows, k, 1, rows, n)
    return _run(ctx, node, GemmLayer(node.name, g, DType.FP32, DType.FP32, x, y, wop, epi))
