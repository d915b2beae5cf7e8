"""Fusions into GEMM-like producers: BatchNorm folding, residual adds, activations."""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Node
from compiler.optables import FUSABLE

GEMM_OPS = ("Conv", "Gemm", "MatMul", "MatMulNBits")
FUSABLE_ACTS = (*FUSABLE, "Clip")


def _sole_consumer(graph: Graph, tensor: str) -> Node | None:
    cons = graph.consumers(tensor)
    if len(cons) != 1 or tensor in graph.outputs:
        return None
    return cons[0]


def _absorb(graph: Graph, prod: Node, cons: Node, **changes) -> None:
    """``cons`` disappears: ``prod`` now writes cons's output."""
    old = prod.outputs[0]
    graph.remove(cons.name)
    node = prod.replace(
        outputs=cons.outputs, fused=prod.fused + (cons.name,) + cons.fused, **changes
    )
    graph.replace(node)
    graph.tensors.pop(old, None)


def fold_batchnorm(graph: Graph) -> None:
    """Conv(x, W, b) -> BN(scale, B, mean, var) == Conv(x, W*k, (b-mean)*k + B), k = scale/sqrt(var+eps)."""
    for bn in graph.nodes():
        if bn.op != "BatchNormalization" or not all(graph.is_const(i) for i in bn.inputs[1:5]):
            continue
        conv = graph.producer(bn.inputs[0])
        if conv is None or conv.op != "Conv" or _sole_consumer(graph, bn.inputs[0]) is None:
            continue
        if not graph.is_const(conv.inputs[1]) or conv.attr("act") or conv.attr("residual"):
            continue
        c = graph.constants
        scale, b, mean, var = (c[i].astype(np.float64) for i in bn.inputs[1:5])
        k = scale / np.sqrt(var + bn.attr("epsilon", 1e-5))
        w = c[conv.inputs[1]]
        old_b = (
            c[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2 and conv.inputs[2] else 0.0
        )
        wn, bname = graph.fresh(conv.inputs[1] + "_bn"), graph.fresh(conv.name + "_bias_bn")
        # fp32 weights times k rounded to fp32: within an ulp of the float64 product, at half
        # the memory traffic (ResNet-50's weights are 100 MB)
        c[wn] = np.asarray(w, np.float32) * k.astype(np.float32).reshape(-1, *([1] * (w.ndim - 1)))
        c[bname] = ((old_b - mean) * k + b).astype(np.float32)
        _absorb(graph, conv, bn, inputs=(conv.inputs[0], wn, bname))


def fuse_residual(graph: Graph) -> None:
    """Conv(...) + r == Conv with r added in its epilogue (float, before the activation)."""
    for add in graph.nodes():
        if add.op not in ("Add", "Sum") or len(add.inputs) != 2:
            continue
        for i in (0, 1):
            conv = graph.producer(add.inputs[i])
            other = add.inputs[1 - i]
            if conv is None or conv.op != "Conv" or conv.attr("act") or conv.attr("residual"):
                continue
            if graph.is_const(other) or graph.type(other).shape != graph.type(add.outputs[0]).shape:
                continue
            if graph.type(other).dtype != "float32" or _sole_consumer(graph, add.inputs[i]) is None:
                continue
            if _depends_on(graph, other, conv.name):
                continue
            bias = conv.inputs[2] if len(conv.inputs) > 2 else ""
            attrs = {**conv.attrs, "residual": other}
            _absorb(
                graph, conv, add, inputs=(conv.inputs[0], conv.inputs[1], bias, other), attrs=attrs
            )
            break


def fuse_matmul_bias(graph: Graph) -> None:
    """MatMul(x, W) + b == MatMul with b added in its epilogue (W a constant matrix, b a
    constant over the last axis: what exporters make of a Linear layer on 3-D inputs)."""
    for add in graph.nodes():
        if add.op != "Add" or len(add.inputs) != 2:
            continue
        for i in (0, 1):
            mm, b = graph.producer(add.inputs[i]), add.inputs[1 - i]
            if mm is None or mm.op != "MatMul" or mm.attr("act") or mm.attr("bias"):
                continue
            w = mm.inputs[1]
            if not graph.is_const(b) or not graph.is_const(w) or graph.constants[w].ndim != 2:
                continue
            yt, c = graph.type(add.outputs[0]), graph.constants[b]
            if graph.type(mm.outputs[0]).shape != yt.shape or yt.dtype != "float32":
                continue
            if c.ndim > yt.rank or any(d != 1 for d in c.shape[:-1]):
                continue
            if c.ndim == 0 or c.shape[-1] not in (1, yt.shape[-1]):
                continue
            if _sole_consumer(graph, add.inputs[i]) is None:
                continue
            _absorb(graph, mm, add, attrs={**mm.attrs, "bias": b})
            break


def _depends_on(graph: Graph, tensor: str, node_name: str) -> bool:
    prod = graph.producer(tensor)
    if prod is None:
        return False
    import networkx as nx

    return prod.name == node_name or nx.has_path(graph.g, node_name, prod.name)


def fuse_activation(graph: Graph) -> None:
    """act(Conv/Gemm/MatMul/MatMulNBits(...)) == the producer with act applied in its epilogue."""
    for act in graph.nodes():
        if act.op not in FUSABLE_ACTS:
            continue
        prod = graph.producer(act.inputs[0])
        if prod is None or prod.op not in GEMM_OPS or prod.attr("act") or prod.attr("qconv"):
            continue
        if (
            _sole_consumer(graph, act.inputs[0]) is None
            or graph.type(act.inputs[0]).dtype != "float32"
        ):
            continue
        params = dict(act.attrs)
        if act.op == "Clip":
            params = clip_params(graph, act)
            if params is None:
                continue
        _absorb(
            graph, prod, act, attrs={**prod.attrs, "act": (act.op, tuple(sorted(params.items())))}
        )


def clip_params(graph: Graph, act: Node) -> dict | None:
    """A Clip's constant bounds {"min", "max"} (attributes or one-element constant inputs), or
    None when a bound is computed (a tensor) and so not an immediate."""
    lo, hi = act.attr("min", -3.4e38), act.attr("max", 3.4e38)
    for i, name in enumerate(act.inputs[1:3]):
        if not name:
            continue
        v = graph.scalar(name)
        if v is None:
            return None
        lo, hi = (v, hi) if i == 0 else (lo, v)
    return {"min": lo, "max": hi}


def dropout_is_identity(node: Node, graph: Graph) -> bool:
    """Dropout(x) == x (and its mask is all True) in inference mode, or with a zero ratio."""
    mode = node.inputs[2] if len(node.inputs) > 2 else ""
    if not mode:
        return True
    if not graph.is_const(mode):
        return False
    ratio = node.inputs[1] if len(node.inputs) > 1 else ""
    zero = ratio and graph.scalar(ratio) == 0.0
    return not bool(graph.constants[mode]) or bool(zero)


def constant_dropout_masks(graph: Graph) -> None:
    """An identity Dropout's mask output is the constant all-True tensor."""
    for node in graph.nodes():
        if node.op != "Dropout" or len(node.outputs) < 2 or not node.outputs[1]:
            continue
        if dropout_is_identity(node, graph):
            mask = node.outputs[1]
            graph.constants[mask] = np.ones(graph.tensors.pop(mask).shape, np.bool_)
            graph.replace(node.replace(outputs=node.outputs[:1]))


def remove_identity(graph: Graph) -> None:
    """Identity(x) and inference Dropout(x) == x."""
    for stale in graph.nodes():
        node = graph.node(stale.name)  # an earlier removal may have rewired its input
        if node.op not in ("Identity", "Dropout") or node.outputs[0] in graph.outputs:
            continue
        src, dst = node.inputs[0], node.outputs[0]
        graph.remove(node.name)
        for cons in graph.consumers(dst):
            graph.replace(cons.replace(inputs=tuple(src if i == dst else i for i in cons.inputs)))
        graph.tensors.pop(dst, None)


def fuse_qadd(graph: Graph) -> None:
    """QAdd(QConv(...), r) == QConv with the QAdd's vector steps after its REQUANT, on the
    tile in the scratchpad (bit for bit the standalone QAdd): the sum is never stored and
    read back. Attr ``post_add``: the residual, the Quant of the REQUANTised tile, the CLIP
    bounds. Grouped convolutions (the depthwise nest) keep their QAdd. When both operands are
    such QConvs (a downsampling block's two branches), the one with more MACs an output
    element takes it: its vector unit has the slack (a 3 x 3 conv's, not a 1 x 1 one's)."""
    for add in graph.nodes():
        if add.op != "QAdd" or len(add.inputs) != 2:
            continue
        takers = [i for i in (0, 1) if _can_take_qadd(graph, add, i)]
        if not takers:
            continue
        i = max(takers, key=lambda i: _macs_per_output(graph, graph.producer(add.inputs[i])))
        conv, other = graph.producer(add.inputs[i]), add.inputs[1 - i]
        quant = graph.type(add.inputs[i]).quant
        post = {"residual": other, "tile": quant, "bounds": add.attr("bounds")}
        attrs = {**conv.attrs, "post_add": post}
        _absorb(graph, conv, add, inputs=(*conv.inputs, other), attrs=attrs)


def _can_take_qadd(graph: Graph, add: Node, i: int) -> bool:
    """Whether the QConv producing ``add``'s input ``i`` can take the QAdd in its epilogue."""
    conv, other = graph.producer(add.inputs[i]), add.inputs[1 - i]
    if conv is None or conv.op != "QConv" or conv.attr("post_add"):
        return False
    if conv.attr("group", 1) != 1 or _sole_consumer(graph, add.inputs[i]) is None:
        return False
    types = [graph.type(t) for t in (add.inputs[i], other, add.outputs[0])]
    if graph.is_const(other) or any(t.dtype != "int8" for t in types):
        return False
    return len({t.shape for t in types}) == 1 and not _depends_on(graph, other, conv.name)


def _macs_per_output(graph: Graph, conv: Node) -> int:
    """A QConv's MACs per output element: its weights' input channels times kernel size."""
    return int(np.prod(graph.type(conv.inputs[1]).shape[1:]))
