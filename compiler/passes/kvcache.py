"""KV caches in place: a decoder's past/present Concat becomes an append, and a Transpose read
only as a MatMul's B operand becomes a strided view.

Exported decoders write ``present = Concat(past, new, axis)`` with ``past`` a graph input and
``present`` a graph output; copied as written, every step moves the whole cache twice (and the
Transpose of K once more). Here ``past`` is stored inside ``present``'s buffer, with its
strides (the host writes it there), and the step writes only the new rows: the Concat becomes
``KVAppend(new...)`` with the past named in its attributes. A ``Transpose`` whose readers are
all MatMuls taking it as B (float MatMul or Attention, int8 QMatMul) becomes
``TransposeView``: no copy, the MatMul reads its operand with permuted strides (K^T is K
stored [N, K], which the array reads as it is).
"""

from __future__ import annotations

from compiler.ir import Graph, Node

# the ops that read input 1 with any strides, by its dtype (QMatMul: B's column sums come
# from the array, no QSum reads B)
B_READERS = {"float32": ("MatMul", "Attention"), "int8": ("QMatMul",)}


def kv_append(graph: Graph) -> None:
    for node in graph.nodes():
        if node.op == "Concat" and _is_cache(graph, node):
            past = node.inputs[0]
            attrs = {**node.attrs, "past": past}
            graph.replace(node.replace(op="KVAppend", inputs=node.inputs[1:], attrs=attrs))
    for node in graph.nodes():
        if node.op == "Transpose" and _read_as_b(graph, node):
            graph.replace(node.replace(op="TransposeView"))


def _is_cache(graph: Graph, node: Node) -> bool:
    """``Concat(past, new...)``: past a graph input read by this node only, the output a
    graph output, both plain row-major and of one dtype."""
    past, present = node.inputs[0], node.outputs[0]
    if len(node.inputs) < 2 or past not in graph.inputs or past in graph.outputs:
        return False
    if present not in graph.outputs or [c.name for c in graph.consumers(past)] != [node.name]:
        return False
    pt, yt = graph.tensors[past], graph.tensors[present]
    plain = pt.perm is None and yt.perm is None and pt.quant == yt.quant
    return plain and pt.dtype == yt.dtype and all(not graph.is_const(i) for i in node.inputs)


def _read_as_b(graph: Graph, node: Node) -> bool:
    y = node.outputs[0]
    users = graph.consumers(y)
    readers = B_READERS.get(graph.tensors[y].dtype, ())
    if y in graph.outputs or not users:
        return False
    return all(u.op in readers and u.inputs[1] == y and u.inputs[0] != y for u in users)


def views(graph: Graph) -> dict[str, tuple[str, int, tuple[int, ...]]]:
    """The strided views these rewrites made, for ``memory.plan_dram``: a past stored in its
    present (same strides), a transpose's output on its input (strides permuted)."""
    out = {}
    for node in graph.nodes():
        if node.op == "KVAppend":
            past = node.attr("past")
            out[past] = (node.outputs[0], 0, tuple(range(graph.tensors[past].rank)))
        elif node.op == "TransposeView":
            x = node.inputs[0]
            perm = node.attr("perm") or tuple(reversed(range(graph.type(x).rank)))
            out[node.outputs[0]] = (x, 0, tuple(perm))
    return out
