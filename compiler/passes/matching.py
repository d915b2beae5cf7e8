"""Matching helpers of the pattern rewrites (``patterns.py``, ``norms.py``): producers of a
given op, one-element constant operands, trees of Mul, and the replacement of a matched set of
nodes by one node."""

from __future__ import annotations

import math

from compiler.ir import Graph, Node

TOL = 1e-4  # relative: exporters print sqrt(2) and sqrt(2/pi) to varying precision


def near(v: float | None, want: float) -> bool:
    return v is not None and math.isclose(v, want, rel_tol=TOL, abs_tol=1e-12)


def float_act(graph: Graph, tensor: str) -> bool:
    return not graph.is_const(tensor) and graph.type(tensor).dtype == "float32"


def made_by(graph: Graph, tensor: str, op: str | tuple[str, ...]) -> Node | None:
    """The producer of ``tensor`` if it is one of ``op``."""
    node = graph.producer(tensor)
    ops = (op,) if isinstance(op, str) else op
    return node if node is not None and node.op in ops else None


def operands(node: Node) -> tuple[str, str]:
    return node.inputs[0], node.inputs[1]


def split_const(graph: Graph, node: Node) -> tuple[str, float] | None:
    """(activation, constant) of a binary node with one one-element constant operand."""
    a, b = operands(node)
    if graph.scalar(b) is not None and not graph.is_const(a):
        return a, graph.scalar(b)
    if node.op in ("Add", "Mul") and graph.scalar(a) is not None and not graph.is_const(b):
        return b, graph.scalar(a)
    return None


def mul_leaves(graph: Graph, tensor: str, inner: set[str]) -> list[str] | None:
    """The factors of a tree of Mul nodes ending in ``tensor`` (inner Muls must have one
    reader); the Mul node names go into ``inner``."""
    node = made_by(graph, tensor, "Mul")
    if node is None or len(node.inputs) != 2:
        return [tensor]
    inner.add(node.name)
    leaves: list[str] = []
    for operand in node.inputs:
        sub = made_by(graph, operand, "Mul")
        if sub is not None and sole_reader(graph, operand, node):
            got = mul_leaves(graph, operand, inner)
            if got is None:
                return None
            leaves += got
        else:
            leaves.append(operand)
    return leaves


def sole_reader(graph: Graph, tensor: str, reader: Node) -> bool:
    readers = graph.consumers(tensor)
    return tensor not in graph.outputs and len(readers) == 1 and readers[0].name == reader.name


def replace(graph: Graph, names: set[str], new: Node) -> bool:
    """Replace the nodes ``names`` (ending in ``new``'s output) by ``new`` if no tensor they
    produce, other than that output, is read outside them or is a graph output, and the output
    has the shape of ``new``'s first input (a constant operand may have broadcast it up)."""
    out = new.outputs[0]
    if graph.type(out).shape != graph.type(new.inputs[0]).shape:
        return False
    nodes = [graph.node(n) for n in names]
    for n in nodes:
        for t in n.outputs:
            if t == out or not t:
                continue
            if t in graph.outputs or any(c.name not in names for c in graph.consumers(t)):
                return False
    order = max(graph.g.nodes[n]["order"] for n in names)
    fused = tuple(sorted(names)) + tuple(f for n in nodes for f in n.fused)
    for n in nodes:
        graph.remove(n.name)
        for t in n.outputs:
            if t != out:
                graph.tensors.pop(t, None)
    graph.add(new.replace(name=graph.fresh(new.name), fused=fused), order)
    return True


def new_node(graph: Graph, base: Node, op: str, inputs, attrs=None, opset=17) -> Node:
    return Node(
        base.name + "_" + op.lower(), op, tuple(inputs), base.outputs, attrs or {}, (), opset
    )


def scaled(graph: Graph, node: Node) -> tuple[str, float] | None:
    """(tensor, factor) of ``t / d`` (factor 1/d) or ``t * k``."""
    if node.op not in ("Div", "Mul") or len(node.inputs) != 2:
        return None
    split = split_const(graph, node)
    if split is None or split[1] == 0.0:
        return None
    return split[0], (1.0 / split[1] if node.op == "Div" else split[1])
