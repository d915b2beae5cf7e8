"""Fusions made at lowering time, after ``attention.fuse_attention`` (which takes the int8
attention's scaling QEltwise and QSum nodes itself), for the attentions it leaves unfused (a
decode step's, whose scores fit on chip) and everything else:

- **Epilogue QEltwise.** A QEltwise of one int8 tensor after an int8 GEMM-like layer
  (QConv, QGemm, QMatMul), possibly through shape-only ops, runs in that layer's epilogue on
  the REQUANTised tile before its store, so its input is never stored and read back: as a
  LUT when it is a function of the 256 values (a scaling, GELU, any chain of element-wise
  float ops with scalar constants), else as its own vector steps when its constants hold one
  value per output channel (a bias added after the GEMM's requantisation, as onnxruntime's
  quantiser leaves a MatMul followed by an Add).
- **Row sums of an int8 Softmax.** A QSum over the last axis of an int8 Softmax's output (the
  P·V QMatMul's zero-point term) is made by the Softmax from the probabilities it has in the
  scratchpad (a second output), not by reading them back.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from compiler.ir import Graph, Node, verify
from compiler.lowering import quant
from compiler.passes.layout import ALIAS_OPS

PRODUCERS = ("QConv", "QGemm", "QMatMul")


def lut_of(graph: Graph, elt: Node, steps=None) -> tuple[int, ...] | None:
    """A QEltwise's int8 result for each int8 value of its one int8 input, as its lowering's
    LUT computes it (from its ``steps``, computed when not given); None when it is no
    function of one int8 tensor."""
    ctx = SimpleNamespace(graph=graph, type=graph.type)
    steps = quant._chain_steps(ctx, elt) if steps is None else steps
    table = quant._table(ctx, elt, steps)
    return None if table is None else tuple(int(x) for x in table)


def fuse(graph: Graph) -> Graph:
    """``graph`` with both fusions made: a copy when there are any (the prepared graph
    serves every config), else ``graph`` itself."""
    epis = [f for f in (_match(graph, n) for n in graph.nodes() if n.op == "QEltwise") if f]
    sums = [n.name for n in graph.nodes() if n.op == "QSum" and _softmax_sums(graph, n)]
    if not epis and not sums:
        return graph
    out = graph.copy()
    for elt, chain, prod, key, value in epis:
        _fuse(out, out.node(elt), [out.node(n) for n in chain], out.node(prod), key, value)
    for name in sums:
        qsum = out.node(name)
        sm = out.producer(qsum.inputs[0])
        out.remove(name)
        attrs = {**sm.attrs, "row_sums": {"mult": qsum.attr("mult"), "add": qsum.attr("add")}}
        outputs, fused = (*sm.outputs, *qsum.outputs), sm.fused + (name,)
        out.replace(sm.replace(outputs=outputs, attrs=attrs, fused=fused))
    verify(out)
    return out


def _softmax_sums(graph: Graph, qsum: Node) -> bool:
    """Whether ``qsum`` sums an int8 Softmax's output over its last axis (the Softmax's)."""
    sm = graph.producer(qsum.inputs[0])
    if sm is None or sm.op != "Softmax" or len(sm.outputs) != 1 or sm.opset < 13:
        return False
    rank = graph.type(sm.inputs[0]).rank
    last = sm.attr("axis", -1) % rank == rank - 1 and qsum.attr("axis") % rank == rank - 1
    return last and graph.type(sm.inputs[0]).dtype == "int8"


def _match(graph: Graph, elt: Node):
    """(the QEltwise, the shape-only nodes between, the producer, "post_lut" and the table
    or "post_chain" and its steps) or None."""
    acts = {i for i in elt.inputs if not graph.is_const(i)}
    if len(acts) != 1 or elt.outputs[0] in graph.inputs:
        return None
    chain, x = [], acts.pop()
    prod = graph.producer(x)
    while prod is not None and prod.op in ALIAS_OPS and _sole(graph, x):
        chain.append(prod.name)
        x = prod.inputs[0]
        prod = graph.producer(x)
    if prod is None or prod.op not in PRODUCERS or not _sole(graph, x):
        return None
    if any(prod.attr(a) for a in ("post_add", "post_lut", "post_chain")):
        return None
    if prod.attr("group", 1) != 1 or graph.type(x).dtype != "int8":
        return None
    if graph.type(prod.outputs[0]).quant is None:
        return None
    found = (elt.name, tuple(reversed(chain)), prod.name)
    steps = quant._chain_steps(SimpleNamespace(graph=graph, type=graph.type), elt)
    table = lut_of(graph, elt, steps)
    if table is not None:
        return (*found, "post_lut", table)
    fused = _chain_of(graph, elt, prod, steps)
    return None if fused is None else (*found, "post_chain", fused)


def _chain_of(graph: Graph, elt: Node, prod: Node, steps: list) -> dict | None:
    """A QEltwise's vector steps for a GEMM epilogue (``gemm.layer.Chain``) when its other
    operands are constants of one value per output channel (a bias added after the GEMM's
    own requantisation, as onnxruntime's quantiser leaves MatMul + Add) or one value, and it
    needs no temporary but the fp32 one the accumulators' bytes hold; else None."""
    if elt.attr("derived") or prod.op == "QConv":  # QConv: channels are not the last axis
        return None
    n = graph.type(prod.outputs[0]).shape[-1]
    if graph.type(elt.outputs[0]).shape[-1] != n:
        return None
    slots = {s for st in steps for s in (st.dst, st.src0, st.src1) if isinstance(s, str)}
    if not slots <= {"t", "out"}:
        return None
    consts = {}
    for i, name in enumerate(elt.inputs):
        if not graph.is_const(name):
            continue
        arr = np.asarray(graph.constants[name])
        if arr.size not in (1, n) or (arr.size == n and arr.shape[-1] != n):
            return None
        dtype = np.int32 if arr.dtype == np.int32 else np.float32
        consts[i] = np.broadcast_to(arr.reshape(-1).astype(dtype), (n,)).copy()
    acts = tuple(i for i, name in enumerate(elt.inputs) if not graph.is_const(name))
    return {"steps": tuple(steps), "acts": acts, "consts": consts}


def _sole(graph: Graph, tensor: str) -> bool:
    """Whether ``tensor`` has one reader node and is no graph output."""
    return len(graph.consumers(tensor)) == 1 and tensor not in graph.outputs


def _fuse(graph: Graph, elt: Node, chain: list[Node], prod: Node, key: str, value) -> None:
    """The producer REQUANTises to its old Quant and then runs the QEltwise (a table, or
    its steps); it (or the last shape-only node) writes the QEltwise's output, the tensors
    between take its Quant."""
    y = elt.outputs[0]
    yq = graph.type(y).quant
    tile = graph.type(prod.outputs[0]).quant
    graph.remove(elt.name)
    for t in [prod.outputs[0], *(n.outputs[0] for n in chain[:-1])]:
        graph.tensors[t] = graph.tensors[t].replace(quant=yq)
    entry = {"tile": tile, "table": value} if key == "post_lut" else {**value, "tile": tile}
    attrs = {**prod.attrs, key: entry}
    last = chain[-1] if chain else prod
    old = last.outputs[0]
    fused = prod.fused + (elt.name,) + elt.fused
    if chain:
        graph.replace(prod.replace(attrs=attrs, fused=fused))
        graph.replace(last.replace(outputs=(y,)))
    else:
        graph.replace(prod.replace(attrs=attrs, fused=fused, outputs=(y,)))
    graph.tensors.pop(old, None)
