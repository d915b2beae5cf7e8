"""Output types of the onnxruntime contrib ops the NPU runs: ONNX's shape inference skips the
``com.microsoft`` domain, so the outputs of those nodes would have no static shape."""

from __future__ import annotations

from collections.abc import Callable

import onnx
from onnx import helper

CONTRIB = "com.microsoft"


def _attr(node: onnx.NodeProto, name: str):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return None


def _matmul_nbits(node: onnx.NodeProto, types: dict) -> onnx.ValueInfoProto | None:
    """MatMulNBits: Y = A @ dequant(B)^T has A's shape with its last axis N."""
    a = types.get(node.input[0])
    n = _attr(node, "N")
    if a is None or n is None or not _has_shape(a):
        return None
    dims = [d.dim_value for d in a.type.tensor_type.shape.dim][:-1]
    return helper.make_tensor_value_info(node.output[0], a.type.tensor_type.elem_type, dims + [n])


RULES: dict[str, Callable] = {"MatMulNBits": _matmul_nbits}


def _has_shape(vi: onnx.ValueInfoProto) -> bool:
    t = vi.type.tensor_type
    return t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim)


def infer(light: onnx.ModelProto, infer_fn: Callable) -> onnx.ModelProto:
    """``infer_fn(light)``, then each contrib node's output typed from its inputs' inferred
    types (a value_info of ``light``) and inference run again, until no output is added."""
    nodes = [n for n in light.graph.node if n.domain == CONTRIB and n.op_type in RULES]
    inferred = infer_fn(light)
    while nodes:
        g = inferred.graph
        types = {vi.name: vi for vi in (*g.input, *g.value_info, *g.output)}
        added = [
            vi
            for n in nodes
            if not (n.output[0] in types and _has_shape(types[n.output[0]]))
            and (vi := RULES[n.op_type](n, types)) is not None
        ]
        if not added:
            break
        light.graph.value_info.extend(added)
        inferred = infer_fn(light)
    return inferred
