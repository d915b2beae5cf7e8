"""ModelProto -> IR: fixed shapes, folded constants, every tensor typed."""

from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler.frontend import loader
from compiler.frontend.canonical import canonicalize
from compiler.frontend.folding import fold_constants
from compiler.ir import Graph, Node, TensorType
from simulator.errors import UnsupportedOpError


def import_model(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None = None
) -> Graph:
    return to_graph(*fold_model(model, input_shapes))


def fold_model(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None = None
) -> tuple[onnx.ModelProto, int, dict[str, np.ndarray]]:
    """The model with fixed input shapes, folded to a fixed point: (model, default opset,
    the large folded values whose initializers carry only type and dims)."""
    model = loader.upgrade_opset(model)
    model = loader.fix_input_shapes(_copy(model), input_shapes)
    opset = loader.default_opset(model)
    model = canonicalize(loader.infer_shapes(model))
    arrays: dict[str, np.ndarray] = {}  # large folded values, not encoded in the proto
    changed = True
    while changed:  # each round folds at least one node, so this ends
        model, changed = fold_constants(model, opset, arrays)
        if changed:
            model = loader.infer_shapes(model)
    return model, opset, arrays


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def to_graph(
    model: onnx.ModelProto, opset: int, arrays: dict | None = None, *, typed: bool = True
) -> Graph:
    """The IR of a folded model. ``typed``: every node output must have a static shape
    (else UnsupportedOpError); without it, tensors of unknown shape are left untyped (absent
    from ``graph.tensors``), as the host partition wants."""
    g = model.graph
    graph = Graph(g.name or "model")
    arrays = arrays or {}
    for t in g.initializer:
        known = arrays.get(t.name)
        graph.constants[t.name] = numpy_helper.to_array(t) if known is None else known
    graph.inputs = [vi.name for vi in loader.real_inputs(model)]
    graph.outputs = [vi.name for vi in g.output]
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.name not in graph.constants:
            graph.tensors[vi.name] = _tensor_type(vi)
    used: set[str] = set()
    nodes = []
    for k, node in enumerate(g.node):
        name = _unique(node.name or f"{node.op_type}_{k}", used)
        attrs = {a.name: _attr_value(a) for a in node.attribute}
        version = _node_opset(model, node, opset)
        nodes.append(
            Node(name, node.op_type, tuple(node.input), tuple(node.output), attrs, (), version)
        )
    graph.extend(nodes)
    if typed:
        _check_typed(graph)
    _drop_untyped(graph)
    return graph


def _unique(name: str, used: set[str]) -> str:
    base, i = name, 0
    while name in used:
        i += 1
        name = f"{base}_{i}"
    used.add(name)
    return name


def _node_opset(model: onnx.ModelProto, node: onnx.NodeProto, default: int) -> int:
    for imp in model.opset_import:
        if imp.domain == node.domain or (node.domain == "" and imp.domain == "ai.onnx"):
            return imp.version
    return default


def _attr_value(a: onnx.AttributeProto):
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return tuple(x.decode() if isinstance(x, bytes) else x for x in v)
    return v


def _tensor_type(vi: onnx.ValueInfoProto) -> TensorType | None:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = []
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(d.dim_value)
    return TensorType(tuple(dims), _dtype_name(tt.elem_type))


@functools.cache
def _dtype_name(elem_type: int) -> str:
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name


def _check_typed(graph: Graph) -> None:
    for node in graph.nodes():
        for out in node.outputs:
            if out and graph.tensors.get(out) is None:  # the inputs' shapes are all fixed
                raise UnsupportedOpError(
                    f"tensor {out!r} (output of node {node.name!r}, {node.op}) has no static "
                    "shape: it depends on the values of a tensor that is not a constant "
                    "(data-dependent shapes do not run on the NPU)"
                )


def _drop_untyped(graph: Graph) -> None:
    for name in list(graph.tensors):
        if graph.tensors[name] is None:
            del graph.tensors[name]
