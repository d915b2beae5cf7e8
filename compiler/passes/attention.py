"""Fused attention for long sequences: ``MatMul(q, kᵀ) [* scale] [+ mask] -> Softmax ->
MatMul(·, v)`` becomes one ``Attention`` node when one head's score matrix does not fit the
accumulator scratchpad (then the unfused graph sends the scores to DRAM and back; see
``lowering/attention.py`` for the online-softmax loop that keeps them on chip).

After the QDQ pass an int8 attention is ``QMatMul(q, kᵀ) [-> QEltwise * or / constant] ->
Softmax (int8) -> QMatMul(·, v)`` (with the QSum nodes of the QMatMuls' zero-point terms; or a
QEltwise adding a constant mask of two values, kept as one table per value): it
fuses into the same node on the int8 q, kᵀ, v and output, whose lowering computes the QDQ
graph's arithmetic in two passes over the key blocks (``lowering/attention_int8.py``), or, with
``CompileOptions(int8_attention="online")`` (no mask), dequantises each tile as it loads it and
quantises the output, within a few output steps of the QDQ graph (the bounds in docs/llm.md)."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node, verify
from compiler.lowering.attention import flash_fits
from compiler.passes.late_fusion import lut_of
from compiler.passes.matching import made_by, replace, scaled, sole_reader
from simulator.config import NpuConfig
from simulator.isa import VFunc


def fuse_attention(graph: Graph, config: NpuConfig) -> Graph:
    """``graph`` with the attentions ``config`` should fuse fused: a copy when there are any
    (the driver's prepared graph serves every config), else ``graph`` itself."""
    fusable = [n for n in graph.nodes() if n.op == "Softmax" and _fusable(graph, n, config)]
    if not fusable:
        return graph
    out = graph.copy()
    for node in fusable:
        found = _match(out, out.node(node.name))
        names, inputs, scale, pv, extra = found
        attrs = {"scale": scale, **extra}
        new = Node(pv.name, "Attention", inputs, pv.outputs, attrs, opset=pv.opset)
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
    kinds = {(graph.type(t).dtype, graph.type(t).quant is not None) for t in (q, kt, v)}
    if kinds != {("float32", False)} and kinds != {("int8", True)}:
        return False
    sq, sk = qt.shape[-2], kt_t.shape[-1]
    # the scores of one head fit on chip: the unfused layers keep them there; and a flash
    # tiling must fit the scratchpads, else the unfused layers tile the scores through DRAM
    if qt.shape[-1] != vt.shape[-1] or sq * sk * 4 <= config.acc_bytes:
        return False
    int8 = kinds == {("int8", True)}
    exact = int8 and not found[4]["online"]
    if int8 and not exact and len(found[1]) > 3:
        return False  # the one-pass int8 loop takes no mask: the unfused layers run it
    return flash_fits((sq, sk, qt.shape[-1]), len(found[1]) > 3, config, int8, exact)


def _match(graph: Graph, softmax: Node):
    """(node names, (q, kᵀ, v, mask or ""), scale, the P·V MatMul, more attributes) or
    None."""
    if graph.type(softmax.inputs[0]).quant is not None:
        return _match_int8(graph, softmax)
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
    return names, inputs, scale, pv, {}


FULL = (-128, 127)  # a QMatMul's clamp without a fused activation


def _match_int8(graph: Graph, softmax: Node):
    """The int8 form of ``_match``: the QMatMuls, their QSum nodes, the optional QEltwise
    (scaling: ``DIV`` or ``MUL`` by a scalar constant, then ``QUANT``; or any chain adding a
    constant mask of two values, ``_masked_tables``), the Softmax."""
    rank = graph.type(softmax.inputs[0]).rank
    if rank < 2 or softmax.attr("axis", -1) % rank != rank - 1:
        return None
    pv = [n for n in graph.consumers(softmax.outputs[0]) if n.op == "QMatMul"]
    if len(pv) != 1 or pv[0].inputs[0] != softmax.outputs[0] or pv[0].attr("clamp") != FULL:
        return None
    pv = pv[0]
    names, x, scale = {softmax.name, pv.name} | _sums(graph, pv), softmax.inputs[0], 1.0
    elt, tables, mask = made_by(graph, x, "QEltwise"), (), ()
    if elt is not None and sole_reader(graph, x, softmax):
        factor = _scalar_scaling(graph, elt)
        if factor is not None:
            x, scale, tables = elt.inputs[0], factor, (lut_of(graph, elt),)
        else:
            masked = _masked_tables(graph, elt)
            if masked is None:
                return None
            x, mask, values, tables = masked
        names.add(elt.name)
    qk = made_by(graph, x, "QMatMul")
    if qk is None or qk.attr("clamp") != FULL or graph.is_const(pv.inputs[1]):
        return None
    q, kt = qk.inputs[:2]
    if graph.is_const(q) or graph.is_const(kt):
        return None
    names |= {qk.name} | _sums(graph, qk)
    attrs = _int8_attrs(graph, qk, softmax, pv, tables)
    if mask:
        attrs["mask_values"] = values
    return names, (q, kt, pv.inputs[1], *mask), scale, pv, attrs


def _masked_tables(graph: Graph, elt: Node):
    """(the scores, (the mask,), its values, a table of the QEltwise for each value) when the
    QEltwise reads the scores, scalar constants and one constant mask of at most two values
    that varies along the last two axes only (a causal or padding mask); else None."""
    acts = {i for i in elt.inputs if not graph.is_const(i)}
    big = [i for i in elt.inputs if graph.is_const(i) and graph.constants[i].size != 1]
    if len(acts) != 1 or len(set(big)) != 1:
        return None
    arr = graph.constants[big[0]]
    values = np.unique(arr)
    if arr.ndim > 2 and any(d != 1 for d in arr.shape[:-2]) or len(values) > 2:
        return None
    tables = []
    try:
        for value in values:
            graph.constants[big[0]] = np.asarray(value, arr.dtype)
            tables.append(lut_of(graph, elt))
    finally:
        graph.constants[big[0]] = arr
    return acts.pop(), (big[0],), tuple(float(v) for v in values), tuple(tables)


def _int8_attrs(graph: Graph, qk: Node, softmax: Node, pv: Node, tables) -> dict:
    """What the two-pass lowering needs of the fused nodes: the QMatMuls' REQUANT scales, the
    scores' zero point, the QEltwise's tables (its 256 results; one a mask value), the Softmax's input
    scale and its output's zero point and ``floor(1 / s_p)`` (as QLinearSoftmax computes)."""
    qp = graph.type(softmax.outputs[0]).quant
    return {
        "online": bool(softmax.attr("online_attention", False)),
        "qk_requant": float(np.asarray(qk.attr("requant")).reshape(-1)[0]),
        "pv_requant": float(np.asarray(pv.attr("requant")).reshape(-1)[0]),
        "s_zero": graph.type(qk.outputs[0]).quant.zero_point,
        "tables": tables,
        "x_scale": float(graph.type(softmax.inputs[0]).quant.scale),
        "p_zero": qp.zero_point,
        "p_inv": float(np.floor(np.float32(1.0) / np.float32(qp.scale))),
    }


def _sums(graph: Graph, qmm: Node) -> set[str]:
    """The QSum nodes making a QMatMul's zero-point terms."""
    return {graph.producer(t).name for t in qmm.inputs[2:] if t}


def _scalar_scaling(graph: Graph, elt: Node) -> float | None:
    """k of a QEltwise computing ``x * k`` or ``x / (1 / k)`` (a scalar constant), then QUANT."""
    prog = elt.attr("program")
    if len(prog) != 2 or len(elt.inputs) != 2 or not graph.is_const(elt.inputs[1]):
        return None
    op, quant = prog
    if op.func not in (VFunc.MUL, VFunc.DIV) or op.args != (0, 1) or quant.func != VFunc.QUANT:
        return None
    value, quant = graph.constants[elt.inputs[1]], graph.type(elt.inputs[1]).quant
    if value.size != 1:
        return None
    k = float(value.reshape(()))
    k = (k - quant.zero_point) * quant.scale if quant is not None else k
    if k == 0.0:
        return None
    return 1.0 / k if op.func == VFunc.DIV else k
