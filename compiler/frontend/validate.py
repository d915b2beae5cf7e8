"""What onnxruntime refuses that ONNX's checker and shape inference let through.

Shape inference happily infers ``[4, 8]`` for a Reshape of 16 elements, ``[1, 7, 6, 6]`` for
a Conv of 3 channels in 7 groups and ``[1, 1, 0, 0]`` for a 3x3 kernel on a 2x2 image;
onnxruntime then refuses the model (or fails when it runs). Compiling such a graph would read
past a tensor or divide by zero, so ``validate(graph)`` refuses it first, with one line
naming the node, its op and the disagreeing numbers. Rules, per op, in ``RULES``; plus, for
every node, no activation of negative size, and none of zero size (legal ONNX, which
onnxruntime runs, but no NPU tensor: an ``UnsupportedOpError``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.ir import Graph, Node
from simulator.errors import ModelError, UnsupportedOpError
from simulator.limits import numel


def validate(graph: Graph) -> None:
    for node in graph.nodes():
        rule = RULES.get(node.op)
        if rule is not None:  # an invalid model is a ModelError before any zero-size refusal
            rule(graph, node)
        for out in node.outputs:
            t = graph.tensors.get(out)
            if out and t is not None and (not t.shape or min(t.shape) > 0):
                continue
            if out and t is not None and min(t.shape) < 0:
                _fail(node, f"output {out!r} has a negative dimension: shape {list(t.shape)}")
            if out and t is not None:
                raise UnsupportedOpError(
                    f"node {node.name!r} ({node.op}) makes {out!r} of shape {list(t.shape)}, "
                    "a zero-size tensor; the NPU does not support zero-size tensors"
                )


def _shape(graph: Graph, name: str) -> tuple[int, ...]:
    return tuple(graph.type(name).shape)


def _fail(node: Node, text: str) -> None:
    raise ModelError(f"node {node.name!r} ({node.op}): {text}")


def same_count(graph: Graph, node: Node) -> None:
    """Reshape, Flatten, Squeeze, Unsqueeze keep every element."""
    src, dst = _shape(graph, node.inputs[0]), _shape(graph, node.outputs[0])
    if numel(src) != numel(dst):
        _fail(
            node,
            f"input {node.inputs[0]!r} has {numel(src):,} elements {list(src)} but output "
            f"{node.outputs[0]!r} has {numel(dst):,} {list(dst)}; they must agree",
        )


def conv_groups(graph: Graph, node: Node) -> None:
    """Conv: weights [M, C/group, k...]; ConvTranspose: weights [C, M/group, k...]."""
    x, w = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    group = int(node.attr("group", 1))
    if len(x) < 3 or len(w) != len(x):
        _fail(node, f"input {list(x)} and weights {list(w)} do not have the same rank (>= 3)")
    channels = x[1]
    if group < 1 or channels % group:
        _fail(node, f"group={group} does not divide the input's {channels} channels")
    if node.op == "Conv":
        if w[1] * group != channels or w[0] % group:
            _fail(
                node,
                f"weights {list(w)} with group={group} need {w[1] * group} input channels "
                f"and a multiple of {group} filters; the input has {channels} channels",
            )
    elif w[0] != channels:
        _fail(node, f"weights {list(w)} need {w[0]} input channels; the input has {channels}")


def conv_window(graph: Graph, node: Node) -> None:
    """Conv: each spatial dimension, padded, holds at least one dilated kernel window
    (onnxruntime fails at run time with "Invalid input shape" otherwise)."""
    conv_groups(graph, node)
    if str(node.attr("auto_pad", "NOTSET")).startswith("SAME"):
        return
    x, w = _shape(graph, node.inputs[0]), _shape(graph, node.inputs[1])
    spatial = len(x) - 2
    pads = list(node.attr("pads", None) or [0] * (2 * spatial))
    dilations = list(node.attr("dilations", None) or [1] * spatial)
    for i in range(spatial):
        padded = x[2 + i] + int(pads[i]) + int(pads[i + spatial])
        window = (w[2 + i] - 1) * int(dilations[i]) + 1
        if padded < window:
            _fail(
                node,
                f"spatial dimension {i} of input {node.inputs[0]!r} is {x[2 + i]} "
                f"({padded} padded), smaller than the kernel window {window}",
            )


def quant_scale(graph: Graph, node: Node) -> None:
    """QuantizeLinear / DequantizeLinear: scales finite and positive (when constant)."""
    if len(node.inputs) < 2 or not graph.is_const(node.inputs[1]):
        return
    scale = np.asarray(graph.constants[node.inputs[1]], dtype=np.float64)
    bad = scale[~(np.isfinite(scale) & (scale > 0))]
    if bad.size:
        _fail(node, f"scale {node.inputs[1]!r} holds {float(bad.flat[0])!r}; scales must be "
              "finite and positive")  # fmt: skip


RULES: dict[str, Callable[[Graph, Node], None]] = {
    "Reshape": same_count,
    "Flatten": same_count,
    "Squeeze": same_count,
    "Unsqueeze": same_count,
    "Conv": conv_window,
    "ConvTranspose": conv_groups,
    "QuantizeLinear": quant_scale,
    "DequantizeLinear": quant_scale,
}
