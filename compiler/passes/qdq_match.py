"""Matching for the QDQ passes: the quantisation a Q/DQ node applies, the int8 activation
behind a DQ, the Q after an op (through a Relu/Clip), and the helpers every rewrite uses to
replace a matched subgraph by one node."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node, Quant

INT8 = (-128, 127)
CLAMP_ACTS = ("Relu", "Clip")


# --- quantisation parameters ---------------------------------------------------------------
def qparams(graph: Graph, node: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, zero_point) arrays of a Q/DQ node with constant parameters, else None."""
    p = stored_qparams(graph, node)
    if p is None:
        return None
    s = p[0].astype(np.float32)
    return s, np.zeros_like(s, np.int64) if p[1] is None else p[1].astype(np.int64)


def stored_qparams(graph: Graph, node: Node) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The scale and zero-point arrays of a Q/DQ node as stored (no zero point: None), None
    when they are not constants."""
    scale = node.inputs[1]
    zp = node.inputs[2] if len(node.inputs) > 2 else ""
    if not graph.is_const(scale) or (zp and not graph.is_const(zp)):
        return None
    return graph.constants[scale], graph.constants[zp] if zp else None


def q_dtype(graph: Graph, node: Node) -> str:
    """The integer dtype of a Q node's output / a DQ node's input."""
    t = node.outputs[0] if node.op == "QuantizeLinear" else node.inputs[0]
    return graph.type(t).dtype


def tensor_quant(graph: Graph, node: Node) -> Quant | None:
    """The per-tensor quantisation a Q/DQ node applies, None if per-axis or not constant."""
    p = stored_qparams(graph, node)  # (qparams' arrays, only their first elements converted)
    if p is None or p[0].size != 1:
        return None
    z = 0 if p[1] is None else int(p[1].reshape(-1)[0])
    return Quant(float(np.float32(p[0].reshape(-1)[0])), z, q_dtype(graph, node))


# --- matching ------------------------------------------------------------------------------
def producer(graph: Graph, tensor: str, op: str) -> Node | None:
    node = graph.producer(tensor) if tensor else None
    return node if node is not None and node.op == op else None


def sole(graph: Graph, tensor: str) -> Node | None:
    cons = graph.consumers(tensor)
    if len(cons) != 1 or tensor in graph.outputs:
        return None
    return cons[0]


def int8_input(graph: Graph, tensor: str) -> Node | None:
    """The DQ node producing ``tensor`` from a per-tensor int8 activation."""
    dq = producer(graph, tensor, "DequantizeLinear")
    if dq is None or graph.is_const(dq.inputs[0]) or tensor_quant(graph, dq) is None:
        return None
    return dq if q_dtype(graph, dq) == "int8" else None


def const_weight(graph: Graph, tensor: str) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(int8 weights, per-channel scales, axis) of a symmetric DQ'd constant."""
    dq = producer(graph, tensor, "DequantizeLinear")
    if dq is None or not graph.is_const(dq.inputs[0]) or stored_qparams(graph, dq) is None:
        return None
    w = graph.constants[dq.inputs[0]]
    scale, zp = qparams(graph, dq)
    if w.dtype != np.int8 or np.any(zp != 0):
        return None
    return w, scale, dq.attr("axis", 1)


def const_float(graph: Graph, tensor: str) -> np.ndarray | None:
    """The float value of a constant, or of DQ(constant)."""
    if graph.is_const(tensor):
        return graph.constants[tensor].astype(np.float64)
    dq = producer(graph, tensor, "DequantizeLinear")
    if dq is None or not graph.is_const(dq.inputs[0]) or stored_qparams(graph, dq) is None:
        return None
    return dequantize_const(graph, dq).astype(np.float64)


def output_q(graph: Graph, tensor: str) -> tuple[Node, list[Node], tuple[float, float]] | None:
    """The int8 Q node after ``tensor`` (through at most one Relu/Clip), the activation nodes
    in between and the activation's float range."""
    cons = sole(graph, tensor)
    acts, bounds = [], (-np.inf, np.inf)
    if cons is not None and cons.op in CLAMP_ACTS:
        bounds = _act_bounds(graph, cons)
        if bounds is None:
            return None
        acts = [cons]
        cons = sole(graph, cons.outputs[0])
    if cons is None or cons.op != "QuantizeLinear" or tensor_quant(graph, cons) is None:
        return None
    if q_dtype(graph, cons) != "int8":
        return None
    return cons, acts, bounds


def _act_bounds(graph: Graph, act: Node) -> tuple[float, float] | None:
    if act.op == "Relu":
        return 0.0, np.inf
    lo, hi = act.attr("min", -np.inf), act.attr("max", np.inf)
    for i, name in enumerate(act.inputs[1:3]):
        if not name:
            continue
        v = graph.scalar(name)
        if v is None:  # a computed bound, or not one value
            return None
        lo, hi = (v, hi) if i == 0 else (lo, v)
    return lo, hi


def clamp_range(q: Quant, bounds: tuple[float, float]) -> tuple[int, int]:
    """Q(clip(x, lo, hi)) == clamp(Q(x), Q(lo), Q(hi)): quantisation is monotonic."""

    def quant(v: float) -> float:
        if not np.isfinite(v):
            return v
        return float(np.rint(np.float32(v) / np.float32(q.scale)) + q.zero_point)

    lo = int(max(INT8[0], min(INT8[1], quant(bounds[0]))))
    hi = int(min(INT8[1], max(INT8[0], quant(bounds[1]))))
    return lo, hi


# --- the integer rewrites --------------------------------------------------------------------
def requant_scales(s_x: float, s_w: np.ndarray, s_y: float) -> np.ndarray:
    """Per-channel s_x * s_w / s_y in fp32, as onnxruntime's integer kernels compute it."""
    return (np.float32(s_x) * s_w.astype(np.float32)) / np.float32(s_y)


def int_bias(bias: np.ndarray | None, s_x: float, s_w: np.ndarray, cout: int) -> np.ndarray:
    if bias is None:
        return np.zeros(cout, np.int64)
    step = np.float64(np.float32(s_x) * s_w.astype(np.float32))
    return np.rint(np.broadcast_to(bias, (cout,)) / step).astype(np.int64)


def replace_node(graph: Graph, node: Node, new: Node, q: Node, acts: list[Node]) -> None:
    for dead in (q, *acts):
        graph.remove(dead.name)
    graph.tensors.pop(node.outputs[0], None)
    graph.replace(new)


def new_const(graph: Graph, base: str, value: np.ndarray) -> str:
    name = graph.fresh(base)
    graph.constants[name] = value
    return name


def fused_names(node: Node, q: Node, acts: list[Node]) -> tuple[str, ...]:
    return node.fused + tuple(a.name for a in acts) + (q.name,)


# --- constants -----------------------------------------------------------------------------
def dequantize_const(graph: Graph, dq: Node) -> np.ndarray:
    q = graph.constants[dq.inputs[0]]
    scale, zp = qparams(graph, dq)
    shape = _axis_shape(q.ndim, dq.attr("axis", 1), scale.size)
    if q.dtype.itemsize == 1:  # q - zp is exact in fp32: one conversion, no int64 copy
        diff = q.astype(np.float32) - zp.reshape(shape).astype(np.float32)
    else:
        diff = (q.astype(np.int64) - zp.reshape(shape)).astype(np.float32)
    return np.multiply(diff, scale.reshape(shape), dtype=np.float32)


def quantize_const(graph: Graph, qn: Node) -> np.ndarray:
    x = graph.constants[qn.inputs[0]].astype(np.float32)
    scale, zp = qparams(graph, qn)
    shape = _axis_shape(x.ndim, qn.attr("axis", 1), scale.size)
    dt = np.dtype(graph.type(qn.outputs[0]).dtype)
    info = np.iinfo(dt)
    v = np.rint(x / scale.reshape(shape)) + zp.reshape(shape)
    return np.clip(v, info.min, info.max).astype(dt)


def _axis_shape(ndim: int, axis: int, size: int) -> tuple[int, ...]:
    if size == 1 or ndim == 0:
        return ()
    shape = [1] * ndim
    shape[axis % ndim] = size
    return tuple(shape)
