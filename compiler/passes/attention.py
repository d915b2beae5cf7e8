"""Fused attention for long sequences: ``MatMul(q, kᵀ) [* scale] [+ mask] -> Softmax ->
MatMul(·, v)`` becomes one ``Attention`` node when one head's score matrix does not fit the
accumulator scratchpad (then the unfused graph sends the scores to DRAM and back; see
``lowering/attention.py`` for the online-softmax loop that keeps them on chip)."""

from __future__ import annotations

from compiler.ir import Graph, Node, verify
from compiler.lowering.attention import flash_fits
from compiler.passes.matching import made_by, replace, scaled, sole_reader
from simulator.config import NpuConfig


def fuse_attention(graph: Graph, config: NpuConfig) -> Graph:
    """``graph`` with the attentions ``config`` should fuse fused: a copy when there are any
    (the driver's prepared graph serves every config), else ``graph`` itself."""
    fusable = [n for n in graph.nodes() if n.op == "Softmax" and _fusable(graph, n, config)]
    if not fusable:
        return graph
    out = graph.copy()
    for node in fusable:
        found = _match(out, out.node(node.name))
        names, inputs, scale, pv = found
        new = Node(pv.name, "Attention", inputs, pv.outputs, {"scale": scale}, opset=pv.opset)
        replace(out, names, new)
    verify(out)
    return out


def _fusable(graph: Graph, softmax: Node, config: NpuConfig) -> bool:
    found = _match(graph, softmax)
    if found is None:
        return False
    q, kt, v = found[1][:3]
    qt, kt_t, vt = graph.type(q), graph.type(kt), graph.type(v)
    ranks = {t.rank for t in (qt, kt_t, vt)}
    if len(ranks) != 1 or qt.shape[:-2] != kt_t.shape[:-2] or qt.shape[:-2] != vt.shape[:-2]:
        return False
    if any(graph.type(t).dtype != "float32" or graph.type(t).quant for t in (q, kt, v)):
        return False
    sq, sk = qt.shape[-2], kt_t.shape[-1]
    # the scores of one head fit on chip: the unfused layers keep them there; and a flash
    # tiling must fit the scratchpads, else the unfused layers tile the scores through DRAM
    if qt.shape[-1] != vt.shape[-1] or sq * sk * 4 <= config.acc_bytes:
        return False
    return flash_fits((sq, sk, qt.shape[-1]), len(found[1]) > 3, config)


def _match(graph: Graph, softmax: Node):
    """(node names, (q, kᵀ, v, mask or ""), scale, the P·V MatMul) or None."""
    rank = graph.type(softmax.inputs[0]).rank
    if rank < 2 or softmax.attr("axis", -1) % rank != rank - 1:
        return None
    readers = graph.consumers(softmax.outputs[0])
    if len(readers) != 1 or readers[0].op != "MatMul" or readers[0].inputs[0] != softmax.outputs[0]:
        return None
    pv = readers[0]
    names, x, mask, scale = {softmax.name, pv.name}, softmax.inputs[0], "", 1.0
    add = made_by(graph, x, "Add")
    if add is not None and sole_reader(graph, x, softmax):
        a, b = add.inputs
        if graph.is_const(b) != graph.is_const(a):
            x, mask = (a, b) if graph.is_const(b) else (b, a)
            names.add(add.name)
            softmax = add
    mul = made_by(graph, x, ("Mul", "Div"))
    if mul is not None and sole_reader(graph, x, softmax) and scaled(graph, mul) is not None:
        x, scale = scaled(graph, mul)
        names.add(mul.name)
        softmax = mul
    qk = made_by(graph, x, "MatMul")
    if qk is None or not sole_reader(graph, x, softmax) or graph.is_const(pv.inputs[1]):
        return None
    names.add(qk.name)
    q, kt = qk.inputs
    if graph.is_const(q) or graph.is_const(kt):
        return None
    inputs = (q, kt, pv.inputs[1]) + ((mask,) if mask else ())
    return names, inputs, scale, pv
