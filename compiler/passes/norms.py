"""Pattern rewrites of decomposed normalisations (see ``patterns.py``): LayerNorm and RMSNorm
from ReduceMean/Sub/Pow/Sqrt/Div, Softmax from Exp/ReduceSum/Div."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node
from compiler.passes import matching as pm


# --- LayerNorm / RMSNorm -------------------------------------------------------------------
def _mean(graph: Graph, tensor: str) -> tuple[Node, tuple[int, ...]] | None:
    """A ReduceMean with keepdims over trailing axes: (node, axes as non-negative ints)."""
    node = pm.made_by(graph, tensor, "ReduceMean")
    if node is None or not node.attr("keepdims", 1):
        return None
    rank = graph.type(node.inputs[0]).rank
    axes = node.attr("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        if not graph.is_const(node.inputs[1]):
            return None
        axes = np.asarray(graph.constants[node.inputs[1]]).reshape(-1).tolist()
    if not axes:
        return None
    axes = tuple(sorted(int(a) % rank for a in axes))
    if axes != tuple(range(rank - len(axes), rank)):
        return None
    return node, axes


def _square(graph: Graph, tensor: str, x: str) -> Node | None:
    """``x ** 2`` or ``x * x``."""
    node = graph.producer(tensor)
    if node is None:
        return None
    if node.op == "Pow" and node.inputs[0] == x and pm.near(graph.scalar(node.inputs[1]), 2.0):
        return node
    if node.op == "Mul" and node.inputs[0] == x and node.inputs[1] == x:
        return node
    return None


def _inv_rms(graph: Graph, node: Node) -> tuple[str, str, set[str], float] | None:
    """``d / sqrt(v + eps)`` or ``d * (1 / sqrt(v + eps))``: (d, v, node names, eps)."""
    if node.op == "Div":
        d, den = pm.operands(node)
        names = {node.name}
    elif node.op == "Mul":
        pairs = [
            (a, pm.made_by(graph, r, "Reciprocal"))
            for a, r in (pm.operands(node), pm.operands(node)[::-1])
        ]
        pairs = [(a, rec) for a, rec in pairs if rec is not None]
        if not pairs:
            return None
        d, rec = pairs[0]
        den, names = rec.inputs[0], {node.name, rec.name}
    else:
        return None
    sqrt = pm.made_by(graph, den, "Sqrt")
    add = pm.made_by(graph, sqrt.inputs[0], "Add") if sqrt is not None else None
    split = pm.split_const(graph, add) if add is not None else None
    if split is None:
        return None
    return d, split[0], names | {sqrt.name, add.name}, split[1]


def _with_const(graph: Graph, tensor: str, op: str) -> tuple[Node, str] | None:
    """The sole reader of ``tensor`` if it is ``op`` with a constant other operand."""
    cons = graph.consumers(tensor)
    if len(cons) != 1 or tensor in graph.outputs or cons[0].op != op:
        return None
    a, c = pm.operands(cons[0])
    other = c if a == tensor else a
    return (cons[0], other) if graph.is_const(other) else None


def _row_param(graph: Graph, name: str | None, shape: tuple[int, ...], fill: float) -> str | None:
    """A constant broadcastable to the normalised ``shape``, as a new constant of that shape
    (None if it is not broadcastable)."""
    arr = np.full(shape, fill, np.float32) if name is None else graph.constants[name]
    lead = arr.shape[: max(0, arr.ndim - len(shape))]
    if any(d != 1 for d in lead):
        return None
    try:
        full = np.broadcast_to(arr.reshape(arr.shape[len(lead) :]), shape)
    except ValueError:
        return None
    new = graph.fresh((name or "norm") + "_row")
    graph.constants[new] = np.ascontiguousarray(full, np.float32)
    return new


def layernorm(graph: Graph, node: Node) -> None:
    """(x - mean x) / sqrt(mean (x - mean x)^2 + eps) [* g] [+ b] == LayerNormalization."""
    inv = _inv_rms(graph, node)
    if inv is None:
        return
    d, v, names, eps = inv
    sub = pm.made_by(graph, d, "Sub")
    var = _mean(graph, v)
    if sub is None or var is None:
        return
    x, m = pm.operands(sub)
    mean = _mean(graph, m)
    if mean is None or mean[0].inputs[0] != x or mean[1] != var[1] or not pm.float_act(graph, x):
        return
    sq = _square(graph, var[0].inputs[0], d)
    if sq is None:
        return
    out, g, b, more = node, None, None, set()
    mul = _with_const(graph, node.outputs[0], "Mul")
    if mul is not None:
        (out, g), more = mul, {mul[0].name}
    add = _with_const(graph, out.outputs[0], "Add")
    if add is not None:
        (out, b), more = add, more | {add[0].name}
    shape = graph.type(x).shape[var[1][0] :]
    scale = _row_param(graph, g, shape, 1.0)
    bias = _row_param(graph, b, shape, 0.0) if b is not None else None
    if scale is None or (b is not None and bias is None):
        return
    names |= {sub.name, var[0].name, mean[0].name, sq.name} | more
    attrs = {"axis": var[1][0], "epsilon": eps}
    inputs = [x, scale] + ([bias] if bias else [])
    pm.replace(graph, names, pm.new_node(graph, out, "LayerNormalization", inputs, attrs))


def rmsnorm(graph: Graph, node: Node) -> None:
    """x / sqrt(mean x^2 + eps) [* g] (or x * Reciprocal(...)) == RMSNormalization."""
    inv = _inv_rms(graph, node)
    if inv is None:
        return
    x, v, names, eps = inv
    var = _mean(graph, v)
    if var is None or not pm.float_act(graph, x):
        return
    sq = _square(graph, var[0].inputs[0], x)
    if sq is None:
        return
    out, g, more = node, None, set()
    mul = _with_const(graph, node.outputs[0], "Mul")  # a following "+ b" stays an Add
    if mul is not None:
        (out, g), more = mul, {mul[0].name}
    shape = graph.type(x).shape[var[1][0] :]
    scale = _row_param(graph, g, shape, 1.0)
    if scale is None:
        return
    names |= {var[0].name, sq.name} | more
    attrs = {"axis": var[1][0], "epsilon": eps}
    pm.replace(graph, names, pm.new_node(graph, out, "RMSNormalization", [x, scale], attrs, 23))


# --- Softmax -------------------------------------------------------------------------------
def softmax(graph: Graph, node: Node) -> None:
    """Exp(x [- max x]) / sum Exp(...) over one axis (keepdims) == Softmax(x, axis)."""
    if node.op != "Div":
        return
    e, s = pm.operands(node)
    exp = pm.made_by(graph, e, "Exp")
    total = pm.made_by(graph, s, "ReduceSum")
    if exp is None or total is None or total.inputs[0] != e or not total.attr("keepdims", 1):
        return
    rank = graph.type(e).rank
    axes = total.attr("axes")
    if axes is None and len(total.inputs) > 1 and total.inputs[1]:
        if not graph.is_const(total.inputs[1]):
            return
        axes = np.asarray(graph.constants[total.inputs[1]]).reshape(-1).tolist()
    if not axes or len(axes) != 1:
        return
    axis = int(axes[0]) % rank
    x, names = exp.inputs[0], {node.name, exp.name, total.name}
    sub = pm.made_by(graph, x, "Sub")
    if sub is not None:
        a, m = pm.operands(sub)
        mx = pm.made_by(graph, m, "ReduceMax")
        if mx is not None and mx.inputs[0] == a and mx.attr("keepdims", 1):
            mx_axes = mx.attr("axes")
            if mx_axes is None and len(mx.inputs) > 1 and graph.is_const(mx.inputs[1]):
                mx_axes = np.asarray(graph.constants[mx.inputs[1]]).reshape(-1).tolist()
            if mx_axes and [int(v) % rank for v in mx_axes] == [axis]:
                x, names = a, names | {sub.name, mx.name}
    if not pm.float_act(graph, x):
        return
    pm.replace(graph, names, pm.new_node(graph, node, "Softmax", [x], {"axis": axis}, 13))
