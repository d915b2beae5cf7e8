"""Model statistics from the ONNX graph alone: op set, parameter count, MACs.

MACs count the multiply-accumulates of Conv, ConvTranspose, MatMul, Gemm and onnxruntime's
MatMulNBits (the work a MAC array does), from shapes found by ONNX shape inference; element-wise ops, norms and
pooling are not counted, as in the published figures (ResNet-50: 4.1 GMACs).
Parameters are the elements of the layers' weights (float, or int8/int32 behind a
DequantizeLinear, or packed codes of a MatMulNBits: N x K), without BatchNormalization running statistics, quantization scales or
shape constants, so the count means what papers mean by it (ResNet-50: 25.6 M).
"""

import math
from dataclasses import dataclass

import onnx

from models_zoo.graph import CONST_PREFIX

QUANT_OPS = {"QuantizeLinear", "DequantizeLinear"}
WEIGHT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.INT8, onnx.TensorProto.INT32}


@dataclass(frozen=True)
class ModelStats:
    ops: tuple[str, ...]
    params: int
    macs: int
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]


def model_stats(model: onnx.ModelProto) -> ModelStats:
    shapes = tensor_shapes(model)
    graph = model.graph
    return ModelStats(
        ops=tuple(sorted({node.op_type for node in graph.node})),
        params=count_params(model),
        macs=sum(node_macs(node, shapes) for node in graph.node),
        inputs={v.name: shapes[v.name] for v in graph.input},
        outputs={v.name: shapes[v.name] for v in graph.output},
    )


def tensor_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape by ONNX shape inference, which skips onnxruntime's MatMulNBits:
    its output ([..., N] of A's [..., K]) is declared and inference runs again."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = _shapes(inferred.graph)
    nbits = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    while missing := [n for n in nbits if n.output[0] not in shapes and n.input[0] in shapes]:
        for node in missing:
            dims = [*shapes[node.input[0]][:-1], _attr(node, "N")]
            info = onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, dims)
            inferred.graph.value_info.append(info)
        inferred = onnx.shape_inference.infer_shapes(inferred)
        shapes = _shapes(inferred.graph)
    return shapes


def _shapes(graph: onnx.GraphProto) -> dict[str, tuple[int, ...]]:
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        if value.type.tensor_type.HasField("shape"):
            dims = value.type.tensor_type.shape.dim
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes


def count_params(model: onnx.ModelProto) -> int:
    """Weights counted once, wherever they are: float, or quantized behind a DequantizeLinear."""
    nodes = model.graph.node
    bn_stats = {n for node in nodes if node.op_type == "BatchNormalization" for n in node.input[3:]}
    quant_params = {n for node in nodes if node.op_type in QUANT_OPS for n in node.input[1:]}
    nbits = [node for node in nodes if node.op_type == "MatMulNBits"]
    excluded = bn_stats | quant_params | {n for node in nbits for n in node.input[1:]}
    packed = sum(_attr(node, "N") * _attr(node, "K") for node in nbits)
    return packed + sum(
        math.prod(t.dims)
        for t in model.graph.initializer
        if t.name not in excluded and not t.name.startswith(CONST_PREFIX) and _is_weight(t)
    )


def _is_weight(tensor: onnx.TensorProto) -> bool:
    return tensor.data_type in WEIGHT_TYPES


def node_macs(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> int:
    if node.op_type == "Conv":
        weight = shapes[node.input[1]]  # [cout, cin/groups, k...]
        return math.prod(shapes[node.output[0]]) * math.prod(weight[1:])
    if node.op_type == "ConvTranspose":
        weight = shapes[node.input[1]]  # [cin, cout/groups, k...]
        return math.prod(shapes[node.input[0]]) * math.prod(weight[1:])
    if node.op_type in ("MatMul", "Gemm"):
        a = shapes[node.input[0]]
        k = a[0] if _attr(node, "transA") else a[-1]
        return math.prod(shapes[node.output[0]]) * k
    if node.op_type == "MatMulNBits":  # com.microsoft: shape inference leaves Y unknown
        rows = math.prod(shapes[node.input[0]][:-1])
        return rows * _attr(node, "N") * _attr(node, "K")
    return 0


def _attr(node: onnx.NodeProto, name: str) -> int:
    return next((a.i for a in node.attribute if a.name == name), 0)
