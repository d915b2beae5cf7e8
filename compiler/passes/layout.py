"""DRAM layouts: channels-last (NHWC) for the activations of convolution-like ops, row-major
elsewhere; layout-only ops become aliases (a relayout copy is inserted where they cannot)."""

from __future__ import annotations

from compiler.ir import NHWC, Graph, Node
from compiler.optables import ELEMENTWISE

NHWC_PRODUCERS = ("Conv", "QConv", "MaxPool", "AveragePool", "BatchNormalization")
FOLLOWERS = (*ELEMENTWISE, "QuantizeLinear", "DequantizeLinear", "QAdd", "QMul", "QEltwise", "LRN")
ALIAS_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
ROW_MAJOR_INPUT = (*ALIAS_OPS, "QGemm")


def assign_layouts(graph: Graph) -> None:
    for node in graph.nodes():
        out = node.outputs[0]
        t = graph.tensors[out]
        if t.rank != 4 or out in graph.outputs:
            continue
        if node.op in NHWC_PRODUCERS or (node.op in FOLLOWERS and _first_nhwc(graph, node)):
            graph.tensors[out] = t.replace(perm=NHWC)
    _relayout_inputs(graph)
    for node in graph.nodes():
        if node.op == "Transpose" and relabels(graph, node):
            graph.replace(node.replace(attrs={**node.attrs, "alias": True}))


def _first_nhwc(graph: Graph, node: Node) -> bool:
    for i in node.inputs:
        if i and not graph.is_const(i):
            return graph.type(i).perm == NHWC
    return False


def _relayout_inputs(graph: Graph) -> None:
    """Graph inputs read by convolutions get an NHWC copy; alias ops and int8 matrix products
    of rank > 2 (QGemm views its input as row-major [rows, K]) get row-major input."""
    for name in list(graph.inputs):
        t = graph.tensors[name]
        convs = [c for c in graph.consumers(name) if c.op == "Conv"]
        if t.rank == 4 and convs and not _reads_planes(t, convs):
            _insert_relayout(graph, name, NHWC, convs)
    for node in graph.nodes():
        if node.op in ROW_MAJOR_INPUT and not plain_equivalent(graph.type(node.inputs[0])):
            _insert_relayout(graph, node.inputs[0], None, [node])


def _reads_planes(t, convs: list[Node]) -> bool:
    """Float convolutions (not grouped) of an image with few channels read it as stored:
    their patch loads take whole rows of each channel plane (an NHWC copy would cost a pass
    over the input)."""
    few = t.shape[1] <= 4 and t.dtype == "float32"
    return few and all(c.attr("group", 1) == 1 for c in convs)


def _insert_relayout(graph: Graph, src: str, perm, consumers: list[Node]) -> None:
    new = graph.fresh(src + "_relayout")
    graph.tensors[new] = graph.tensors[src].replace(perm=perm)
    order = min(graph.g.nodes[c.name]["order"] for c in consumers) - 0.5
    graph.add(Node(graph.fresh("relayout_" + src), "Relayout", (src,), (new,)), order)
    for c in consumers:
        graph.replace(c.replace(inputs=tuple(new if i == src else i for i in c.inputs)))


def plain_equivalent(t) -> bool:
    """Whether the stored bytes equal the row-major bytes of the logical shape."""
    if t.perm is None:
        return True
    axes = [a for a in t.perm if t.shape[a] != 1]
    return axes == sorted(axes)


def relabels(graph: Graph, node: Node) -> bool:
    """Whether a Transpose only moves axes of size 1 among the others (heads split or merged
    at one token, [1, 1, 8, 64] -> [1, 8, 1, 64]) on row-major data: its output's row-major
    bytes are its input's, so it becomes an alias like Reshape."""
    x, y = node.inputs[0], node.outputs[0]
    xt = graph.type(x)
    perm = node.attr("perm") or tuple(reversed(range(xt.rank)))
    moved = [a for a in perm if xt.shape[a] != 1]
    plain = plain_equivalent(xt) and graph.type(y).perm is None
    return plain and moved == sorted(moved) and x not in graph.inputs and y not in graph.inputs


def aliases(graph: Graph) -> dict[str, tuple[str, int]]:
    """The tensors stored as another's bytes: the outputs of the alias ops and of the
    Transposes that only relabel (``relabels``), on their inputs."""
    out = {}
    for node in graph.nodes():
        alias = node.op in ALIAS_OPS or (node.op == "Transpose" and node.attr("alias"))
        if alias and node.outputs[0] not in graph.inputs:
            out[node.outputs[0]] = (node.inputs[0], 0)
    return out
