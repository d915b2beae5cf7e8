"""QDQ models -> ops on int8 tensors: DequantizeLinear/QuantizeLinear pairs around Conv, Gemm
and MatMul (constant weights or two activations) become QConv/QGemm/QMatMul, around Add and Mul
QAdd/QMul, around Softmax, pooling, LayerNorm, ReduceMean and chains of element-wise float ops
the same ops reading and writing int8 (with onnxruntime's fused-kernel arithmetic where it has
one: QLinearSoftmax, QLinearAveragePool, QLinearGlobalAveragePool); data movement with equal
quantisation moves int8. What is left runs in float between standalone DEQUANT and QUANT
vector ops (correct for any op).

Algebra of the integer rewrite (weights symmetric per output channel, zero point 0):
``Q(DQ(x) * DQ(w) + DQ(b)) == requant(sum_k x_q w_q + b_q - zp_x * sum_k w_q, s_x s_w / s_y) + zp_y``.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node, TensorType
from compiler.passes.qdq_chains import FLOAT_ELTWISE, ChainStep, rewrite_float_eltwise
from compiler.passes.qdq_match import (
    clamp_range,
    const_float,
    const_weight,
    dequantize_const,
    fused_names,
    int8_input,
    int_bias,
    new_const,
    output_q,
    producer,
    q_dtype,
    quantize_const,
    replace_node,
    requant_scales,
    sole,
    stored_qparams,
    tensor_quant,
)
from simulator.isa import VFunc
from simulator.semantics import pack_requant_scale


def lower_qdq(graph: Graph) -> None:
    expose_constants(graph)  # (the driver did this already for its support checks)
    uint8_to_int8(graph)
    annotate(graph)
    for node in graph.nodes():
        if node.op in REWRITES and node.name in graph.g:  # a chain rewrite may remove it
            REWRITES[node.op](graph, node)
    fold_constant_qdq(graph)
    remove_dead(graph)


def annotate(graph: Graph) -> None:
    """Record (scale, zero point) in the type of every quantised activation tensor."""
    for node in graph.nodes():
        if node.op not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        t = node.outputs[0] if node.op == "QuantizeLinear" else node.inputs[0]
        q = tensor_quant(graph, node)
        if q is not None and t in graph.tensors and graph.tensors[t].quant is None:
            graph.tensors[t] = graph.tensors[t].replace(quant=q)


def uint8_to_int8(graph: Graph) -> None:
    """uint8 activations between a Q and its DQs become int8 with zero point - 128:
    ``q - zp == (q - 128) - (zp - 128)`` and saturation to [0, 255] maps onto [-128, 127]."""
    for q in graph.nodes():
        out = q.outputs[0]
        if q.op != "QuantizeLinear" or out in graph.outputs or graph.is_const(q.inputs[0]):
            continue
        cons = graph.consumers(out)
        if graph.type(out).dtype != "uint8" or len(q.inputs) < 3:
            continue
        if not all(c.op == "DequantizeLinear" and len(c.inputs) > 2 for c in cons):
            continue
        if any(tensor_quant(graph, n) is None for n in (q, *cons)):
            continue
        graph.tensors[out] = graph.tensors[out].replace(dtype="int8")
        for node in (q, *cons):
            zp = new_const(graph, node.name + "_zp_s8", np.array(_zp(graph, node) - 128, np.int8))
            graph.replace(node.replace(inputs=(*node.inputs[:2], zp)))


def _zp(graph: Graph, node: Node) -> int:
    return int(graph.constants[node.inputs[2]].reshape(-1)[0])


# --- the integer rewrites --------------------------------------------------------------------
def _int_gemm_parts(graph: Graph, node: Node, x: str, w: str, b: str, w_axis: int):
    """(dq_x, weights, scales, bias, q, acts, clamp) of an integer-lowerable layer, else None."""
    dq = int8_input(graph, x)
    wq = const_weight(graph, w)
    bias = const_float(graph, b) if b else None
    out = output_q(graph, node.outputs[0])
    if dq is None or wq is None or (b and bias is None) or out is None:
        return None
    weights, scale, axis = wq
    cout = weights.shape[w_axis]
    if scale.size != 1 and (axis % weights.ndim != w_axis or scale.size != cout):
        return None
    return dq, weights, np.broadcast_to(scale.reshape(-1), (cout,)), bias, *out


def rewrite_conv(graph: Graph, node: Node) -> None:
    """DQ(x) -> Conv(DQ(w), DQ(b)) [-> Relu/Clip] -> Q  ==>  QConv(x_q) -> y_q."""
    if len(graph.type(node.inputs[0]).shape) not in (3, 4):
        return
    b = node.inputs[2] if len(node.inputs) > 2 else ""
    parts = _int_gemm_parts(graph, node, node.inputs[0], node.inputs[1], b, 0)
    if parts is None:
        return
    dq, w, s_w, bias, q, acts, bounds = parts
    qx, qy = graph.tensors[dq.inputs[0]].quant, graph.tensors[q.outputs[0]].quant
    ksum = w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)
    b_q = int_bias(bias, qx.scale, s_w, w.shape[0]) - qx.zero_point * ksum
    attrs = {
        **node.attrs,
        "requant": requant_scales(qx.scale, s_w, qy.scale),
        "clamp": clamp_range(qy, bounds),
    }
    inputs = (
        dq.inputs[0],
        new_const(graph, node.name + "_wq", w),
        new_const(graph, node.name + "_bq", b_q.astype(np.int32)),
    )
    new = node.replace(op="QConv", inputs=inputs, outputs=q.outputs, attrs=attrs)
    replace_node(graph, node, new.replace(fused=fused_names(node, q, acts)), q, acts)


def rewrite_gemm(graph: Graph, node: Node) -> None:
    """DQ(a) -> Gemm/MatMul(DQ(w) const, DQ(b)) [-> act] -> Q  ==>  QGemm(a_q) -> y_q."""
    if node.op == "Gemm" and not _plain_gemm(node):
        return
    tb = node.attr("transB", 0)
    b = node.inputs[2] if len(node.inputs) > 2 else ""
    w_axis = 0 if tb else 1
    if _const_rank(graph, node.inputs[1]) != 2:
        if node.op == "MatMul":
            rewrite_qmatmul(graph, node)
        return
    parts = _int_gemm_parts(graph, node, node.inputs[0], node.inputs[1], b, w_axis)
    if parts is None:
        return
    dq, w, s_w, bias, q, acts, bounds = parts
    w = w.T if tb else w  # [K, N]
    qx, qy = graph.tensors[dq.inputs[0]].quant, graph.tensors[q.outputs[0]].quant
    if bias is not None and bias.size not in (1, w.shape[1]):
        return
    b_q = int_bias(bias, qx.scale, s_w, w.shape[1]) - qx.zero_point * w.astype(np.int64).sum(0)
    attrs = {"requant": requant_scales(qx.scale, s_w, qy.scale), "clamp": clamp_range(qy, bounds)}
    inputs = (
        dq.inputs[0],
        new_const(graph, node.name + "_wq", np.ascontiguousarray(w)),
        new_const(graph, node.name + "_bq", b_q.astype(np.int32)),
    )
    new = node.replace(op="QGemm", inputs=inputs, outputs=q.outputs, attrs=attrs)
    replace_node(graph, node, new.replace(fused=fused_names(node, q, acts)), q, acts)


def rewrite_qmatmul(graph: Graph, node: Node) -> None:
    """DQ(a_q) x DQ(b_q) (two int8 activations) [-> act] -> Q  ==>  QMatMul, with
    ``sum (a - za)(b - zb) == sum a b - zb * sum_k a - za * sum_k b + K za zb``: the row sums
    of a (times -zb) are a QSum node; the column sums of b come out of the array (a row of
    ones after a's rows, ``gemm.ColSums``: b, often a whole KV cache, is read once), times
    -za, plus K za zb (the ``zero_points`` attribute: za, zb)."""
    dqs = [int8_input(graph, i) for i in node.inputs]
    out = output_q(graph, node.outputs[0])
    if None in dqs or out is None or min(graph.type(i).rank for i in node.inputs) < 2:
        return
    q, acts, bounds = out
    a, b = (d.inputs[0] for d in dqs)
    qa, qb, qy = graph.tensors[a].quant, graph.tensors[b].quant, graph.tensors[q.outputs[0]].quant
    order = graph.g.nodes[node.name]["order"]
    ra = _qsum(graph, node, a, -1, (-qb.zero_point, 0), order) if qb.zero_point else ""
    attrs = {
        "requant": requant_scales(qa.scale, np.array([qb.scale], np.float32), qy.scale),
        "clamp": clamp_range(qy, bounds),
        "zero_points": (int(qa.zero_point), int(qb.zero_point)),
    }
    new = node.replace(op="QMatMul", inputs=(a, b, ra, ""), outputs=q.outputs, attrs=attrs)
    replace_node(graph, node, new.replace(fused=fused_names(node, q, acts)), q, acts)


def _qsum(graph: Graph, node: Node, x: str, axis: int, affine: tuple[int, int], order) -> str:
    """An int32 tensor ``mult * sum(x, axis, keepdims) + add`` of an int8 activation."""
    shape = list(graph.type(x).shape)
    shape[axis] = 1
    out = graph.fresh(f"{node.name}_sum{axis}")
    graph.tensors[out] = TensorType(tuple(shape), "int32")
    attrs = {"axis": axis, "mult": affine[0], "add": affine[1]}
    graph.add(Node(graph.fresh(out), "QSum", (x,), (out,), attrs), order - 0.5)
    return out


def _plain_gemm(node: Node) -> bool:
    return not node.attr("transA", 0) and node.attr("alpha", 1.0) == node.attr("beta", 1.0) == 1.0


def _const_rank(graph: Graph, tensor: str) -> int:
    dq = producer(graph, tensor, "DequantizeLinear")
    if dq is None or not graph.is_const(dq.inputs[0]):
        return -1
    return graph.constants[dq.inputs[0]].ndim


def rewrite_passthrough(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> Reshape/Transpose/MaxPool/Resize (nearest) -> Q with the same (scale, zero
    point) == the op on x_q: moving elements commutes with any element-wise map, max with a
    monotonic one."""
    if node.op == "Resize" and node.attr("mode", "nearest") != "nearest":
        return
    dq = producer(graph, node.inputs[0], "DequantizeLinear")
    q = sole(graph, node.outputs[0])
    if dq is None or q is None or q.op != "QuantizeLinear" or graph.is_const(dq.inputs[0]):
        return
    qx, qy = tensor_quant(graph, dq), tensor_quant(graph, q)
    if qx is None or qx != qy:
        return
    graph.remove(q.name)
    graph.tensors.pop(node.outputs[0], None)
    new = node.replace(inputs=(dq.inputs[0], *node.inputs[1:]), outputs=q.outputs)
    graph.replace(new.replace(fused=node.fused + (q.name,)))


def rewrite_pad(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> Pad(value v) -> Q with the same (scale, zero point) == Pad(x_q, Q(v)): the
    interior moves unchanged (Q(DQ(x_q)) == x_q) and the border is v quantised (any mode)."""
    dq = int8_input(graph, node.inputs[0])
    q = sole(graph, node.outputs[0])
    if dq is None or q is None or q.op != "QuantizeLinear" or tensor_quant(graph, q) is None:
        return
    quant = tensor_quant(graph, dq)
    if tensor_quant(graph, q) != quant:
        return
    if len(node.inputs) > 1 and node.inputs[1]:
        value = graph.scalar(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else 0.0
        if value is None:
            return
        qv = new_const(graph, node.name + "_value_q", np.array(_quantise(value, quant), np.int8))
        new = node.replace(inputs=(dq.inputs[0], node.inputs[1], qv, *node.inputs[3:]))
    else:  # opset < 11: pads and value are attributes
        attrs = {**node.attrs, "value": float(_quantise(node.attr("value", 0.0), quant))}
        new = node.replace(inputs=(dq.inputs[0],), attrs=attrs)
    replace_node(graph, node, new.replace(outputs=q.outputs, fused=node.fused + (q.name,)), q, [])


def _quantise(value: float, quant) -> int:
    v = np.rint(np.float32(value) / np.float32(quant.scale)) + quant.zero_point
    return int(np.clip(v, -128, 127))


def rewrite_split(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> Split -> a Q per output, every (scale, zero point) equal == Split(x_q): a
    transformer's q/k/v split moves int8 (no DEQUANT and three QUANTs)."""
    dq = int8_input(graph, node.inputs[0])
    qs = [sole(graph, o) for o in node.outputs]
    if dq is None or any(q is None or q.op != "QuantizeLinear" for q in qs):
        return
    if any(tensor_quant(graph, q) != tensor_quant(graph, dq) for q in qs):
        return
    for q, out in zip(qs, node.outputs, strict=True):
        graph.remove(q.name)
        graph.tensors.pop(out, None)
    outputs = tuple(q.outputs[0] for q in qs)
    new = node.replace(inputs=(dq.inputs[0], *node.inputs[1:]), outputs=outputs)
    graph.replace(new.replace(fused=node.fused + tuple(q.name for q in qs)))


def rewrite_add(graph: Graph, node: Node) -> None:
    """DQ(a_q) + DQ(b_q) [-> Relu/Clip] -> Q  ==>  QAdd(a_q, b_q): the same float arithmetic
    (DEQUANT, ADD, activation, QUANT) in one vector pass over int8 tensors."""
    dqs = [int8_input(graph, i) for i in node.inputs]
    out = output_q(graph, node.outputs[0])
    if None in dqs or out is None:
        return
    q, acts, bounds = out
    attrs = {"bounds": bounds}
    new = node.replace(
        op="QAdd", inputs=tuple(d.inputs[0] for d in dqs), outputs=q.outputs, attrs=attrs
    )
    replace_node(graph, node, new.replace(fused=fused_names(node, q, acts)), q, acts)


def rewrite_mul(graph: Graph, node: Node) -> None:
    """DQ(a_q) * DQ(b_q) -> Q  ==>  QMul: ``requant((a_q - za)(b_q - zb), s_a s_b / s_y)``, the
    integer product and one rounding, as onnxruntime's QLinearMul."""
    dqs = [int8_input(graph, i) for i in node.inputs]
    out = output_q(graph, node.outputs[0])
    if None in dqs or out is None or out[1]:
        return
    q = out[0]
    qa, qb = (tensor_quant(graph, d) for d in dqs)
    scale = requant_scales(qa.scale, np.array([qb.scale], np.float32), tensor_quant(graph, q).scale)
    word = np.array([pack_requant_scale(scale[0])], np.uint32).view(np.int32)
    inputs = (*(d.inputs[0] for d in dqs), new_const(graph, node.name + "_requant", word))
    new = node.replace(op="QMul", inputs=inputs, outputs=q.outputs)
    replace_node(graph, node, new.replace(fused=fused_names(node, q, [])), q, [])


def rewrite_concat(graph: Graph, node: Node) -> None:
    """Concat(DQ(x_i)) -> Q == Concat(x_i'): copies of int8, x_i' = x_i where its (scale,
    zero point) is the output's, else Q(DQ(x_i)) (a QEltwise: one table pass): the QDQ
    graph's arithmetic exactly, as concatenation only moves elements."""
    dqs = [int8_input(graph, i) for i in node.inputs]
    q = sole(graph, node.outputs[0])
    if None in dqs or q is None or q.op != "QuantizeLinear":
        return
    qy = tensor_quant(graph, q)
    if qy is None or qy.dtype != "int8":
        return
    inputs = tuple(
        d.inputs[0] if tensor_quant(graph, d) == qy else _requantised(graph, node, d, qy)
        for d in dqs
    )
    new = node.replace(inputs=inputs, outputs=q.outputs)
    replace_node(graph, node, new.replace(fused=node.fused + (q.name,)), q, [])


def _requantised(graph: Graph, node: Node, dq: Node, qy) -> str:
    """A new QEltwise Q(DQ(x)) of ``dq``'s int8 input to the Quant ``qy``; its output."""
    x = dq.inputs[0]
    out = graph.fresh(f"{x}_requant")
    graph.tensors[out] = graph.type(x).replace(quant=qy)
    program = (ChainStep(VFunc.COPY, (0,)), ChainStep(VFunc.QUANT, ("prev",), quant=qy))
    name = graph.fresh(f"{node.name}_requant")
    graph.add(Node(name, "QEltwise", (x,), (out,), {"program": program}, opset=node.opset))
    return out


def rewrite_average(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> AveragePool/GlobalAveragePool -> Q  ==>  the pool on x_q, as onnxruntime's
    QLinearAveragePool/QLinearGlobalAveragePool compute it (the lowering reads both
    quantisations from the tensor types)."""
    dq = int8_input(graph, node.inputs[0])
    q = sole(graph, node.outputs[0])
    if dq is None or q is None or q.op != "QuantizeLinear" or tensor_quant(graph, q) is None:
        return
    if q_dtype(graph, q) != "int8":
        return
    new = node.replace(inputs=(dq.inputs[0],), outputs=q.outputs)
    replace_node(graph, node, new.replace(fused=node.fused + (q.name,)), q, [])


def rewrite_softmax(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> Softmax(last axis) -> Q  ==>  Softmax on int8 tensors, computed as
    onnxruntime's QLinearSoftmax (the lowering reads both quantisations from the types)."""
    rank = graph.type(node.inputs[0]).rank
    if node.opset < 13 or node.attr("axis", -1) % rank != rank - 1:
        return
    rewrite_average(graph, node)


def rewrite_rows(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> LayerNormalization/ReduceMean (constant other inputs) -> Q  ==>  the op on
    int8 tensors: DEQUANT, the op in fp32, QUANT in one pass (the QDQ graph exactly)."""
    dq = int8_input(graph, node.inputs[0])
    out = output_q(graph, node.outputs[0])
    if dq is None or out is None or out[1]:
        return
    if any(i and not graph.is_const(i) for i in node.inputs[1:]):
        return
    q = out[0]
    outputs = (q.outputs[0], *node.outputs[1:])  # LayerNorm's unused Mean/InvStdDev stay
    new = node.replace(inputs=(dq.inputs[0], *node.inputs[1:]), outputs=outputs)
    replace_node(graph, node, new.replace(fused=fused_names(node, q, [])), q, [])


def _first_of(*rules):
    """The first rule that rewrites the node (each keeps its name, changes its op)."""

    def rewrite(graph: Graph, node: Node) -> None:
        for rule in rules:
            rule(graph, node)
            if graph.node(node.name).op != node.op:
                return

    return rewrite


PASSTHROUGH = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "Slice")
PASSTHROUGH += ("Resize",)
REWRITES = {
    **dict.fromkeys(FLOAT_ELTWISE, rewrite_float_eltwise),
    "Conv": rewrite_conv,
    "Gemm": rewrite_gemm,
    "MatMul": rewrite_gemm,
    "Add": _first_of(rewrite_add, rewrite_float_eltwise),
    "Mul": _first_of(rewrite_mul, rewrite_float_eltwise),
    "Concat": rewrite_concat,
    "Split": rewrite_split,
    "Pad": rewrite_pad,
    "AveragePool": rewrite_average,
    "GlobalAveragePool": rewrite_average,
    "Softmax": rewrite_softmax,
    "LayerNormalization": rewrite_rows,
    "ReduceMean": rewrite_rows,
    **dict.fromkeys(PASSTHROUGH, rewrite_passthrough),
}


# --- what is left ----------------------------------------------------------------------------
def _constant_qdq(graph: Graph) -> list[Node]:
    """Q/DQ nodes of constants with constant parameters (not graph outputs)."""
    return [
        n
        for n in graph.nodes()
        if n.op in FOLDERS
        and graph.is_const(n.inputs[0])
        and stored_qparams(graph, n) is not None
        and n.outputs[0] not in graph.outputs
    ]


def expose_constants(graph: Graph) -> None:
    """Q/DQ(constant) outputs are constants too (support checks see DQ'd weights as
    constant); the nodes stay until this pass has read the integer weights behind them.
    An output exposed already is kept (constants and their Q/DQ nodes do not change)."""
    for node in _constant_qdq(graph):
        if node.outputs[0] not in graph.constants:
            graph.constants[node.outputs[0]] = FOLDERS[node.op](graph, node)


def fold_constant_qdq(graph: Graph) -> None:
    """Q/DQ of a constant (weights, biases left in float) become the constant they compute
    (``expose_constants`` computed it)."""
    expose_constants(graph)
    for node in _constant_qdq(graph):
        graph.tensors.pop(node.outputs[0], None)
        graph.remove(node.name)


FOLDERS = {"DequantizeLinear": dequantize_const, "QuantizeLinear": quantize_const}


def remove_dead(graph: Graph) -> None:
    """Nodes none of whose outputs is read (DQ nodes whose consumers were rewritten): one
    pass in reverse topological order, so a node whose readers were all dead is seen after
    they are removed."""
    outputs = set(graph.outputs)
    for node in reversed(graph.nodes()):
        if any(graph.consumers(o) or o in outputs for o in node.outputs if o):
            continue
        graph.remove(node.name)
        for o in node.outputs:
            graph.tensors.pop(o, None)
