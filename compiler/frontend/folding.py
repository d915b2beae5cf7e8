"""Constant folding on the ModelProto: Constant nodes, weights behind shape arithmetic, and
the Shape/Gather/Slice/Concat/... chains exporters emit, once input shapes are fixed."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler.frontend.loader import BIG_INITIALIZER
from simulator.errors import ModelError

KEEP = {"QuantizeLinear", "DequantizeLinear"}  # folded by the QDQ pass instead


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=False):
        idx[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _constant(node, ins, at):
    if "value" in at:
        return numpy_helper.to_array(at["value"])
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in at:
            return np.array(at[key], dtype=dtype)
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in at:
            return np.array(at[key], dtype=dtype)
    return None


def _const_of_shape(node, ins, at):
    value = numpy_helper.to_array(at["value"]) if "value" in at else np.zeros(1, np.float32)
    return np.full(tuple(int(d) for d in ins[0]), value.reshape(-1)[0], dtype=value.dtype)


FOLDERS = {
    "Constant": _constant,
    "ConstantOfShape": _const_of_shape,
    "Identity": lambda n, i, a: i[0],
    "Cast": lambda n, i, a: i[0].astype(helper.tensor_dtype_to_np_dtype(a["to"])),
    "Gather": lambda n, i, a: np.take(i[0], i[1], axis=a.get("axis", 0)),
    "Concat": lambda n, i, a: np.concatenate(i, axis=a["axis"]),
    "Unsqueeze": lambda n, i, a: np.expand_dims(i[0], tuple(a.get("axes", i[1:2] and i[1]))),
    "Squeeze": lambda n, i, a: np.squeeze(i[0], tuple(a.get("axes", i[1:2] and i[1])) or None),
    "Reshape": lambda n, i, a: i[0].reshape(
        [int(d) if d != 0 else i[0].shape[k] for k, d in enumerate(i[1])]
    ),
    "Slice": lambda n, i, a: (
        _slice(i[0], *i[1:]) if len(i) > 1 else _slice(i[0], a["starts"], a["ends"], a.get("axes"))
    ),
    "Add": lambda n, i, a: i[0] + i[1],
    "Sub": lambda n, i, a: i[0] - i[1],
    "Mul": lambda n, i, a: i[0] * i[1],
    "Transpose": lambda n, i, a: np.transpose(i[0], a.get("perm")),
}


def _evaluate(node: onnx.NodeProto, ins: list[np.ndarray], opset: int) -> list[np.ndarray]:
    fn = FOLDERS.get(node.op_type)
    if fn is not None:
        out = fn(node, ins, _attrs(node))
        if out is not None:
            return [np.asarray(out)]
    from onnx.reference import ReferenceEvaluator

    names = [f"in{k}" for k in range(len(ins))]
    n2 = helper.make_node(node.op_type, names, list(node.output), domain=node.domain)
    n2.attribute.extend(node.attribute)
    ev = ReferenceEvaluator(n2, opsets={"": opset})
    return [np.asarray(v) for v in ev.run(None, dict(zip(names, ins, strict=True)))]


def _static_shape(vi: onnx.ValueInfoProto | None) -> tuple[int, ...] | None:
    if vi is None or not vi.type.tensor_type.HasField("shape"):
        return None
    dims = vi.type.tensor_type.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def fold_constants(
    model: onnx.ModelProto, opset: int, arrays: dict[str, np.ndarray] | None = None
) -> tuple[onnx.ModelProto, bool]:
    """Evaluate every node whose inputs are known; returns (model, whether anything folded).

    ``arrays`` (kept across calls) holds the large folded values: their initializers carry
    only type and dims (shape inference reads no more of them), so a folded weight is not
    encoded into the proto and decoded back."""
    g = model.graph
    arrays = {} if arrays is None else arrays
    values = {t.name: arrays.get(t.name) for t in g.initializer}
    init = {t.name: t for t in g.initializer}
    types = {vi.name: vi for vi in list(g.value_info) + list(g.input) + list(g.output)}
    keep, new_inits, changed = [], [], False
    for node in g.node:
        result = _try_fold(node, values, init, types, opset)
        if result is None:
            keep.append(node)
            continue
        changed = True
        for name, arr in zip(node.output, result, strict=False):
            values[name] = arr
            new_inits.append(_initializer(np.ascontiguousarray(arr), name, arrays))
    if not changed:
        return model, False
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(keep)
    out.graph.initializer.extend(new_inits)
    folded = {t.name for t in new_inits}
    kept = [vi for vi in out.graph.value_info if vi.name not in folded]
    del out.graph.value_info[:]
    out.graph.value_info.extend(kept)
    return out, True


def _initializer(arr: np.ndarray, name: str, arrays: dict) -> onnx.TensorProto:
    if arr.size < BIG_INITIALIZER:
        return numpy_helper.from_array(arr, name)
    arrays[name] = arr
    tensor = onnx.TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(arr.dtype))
    tensor.dims.extend(arr.shape)
    return tensor


def _try_fold(node, values, init, types, opset):
    if node.op_type in KEEP or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Shape":
        shape = _static_shape(types.get(node.input[0]))
        if shape is None:
            return None
        at = _attrs(node)
        return [np.array(shape[at.get("start", 0) : at.get("end")], dtype=np.int64)]
    names = [i for i in node.input if i]
    if node.op_type != "Constant" and not all(i in values for i in names):
        return None
    ins = [_value(i, values, init) for i in node.input if i]
    try:
        return _evaluate(node, ins, opset)
    except Exception as exc:
        raise ModelError(
            f"constant folding of node {node.name!r} ({node.op_type}) failed: {exc}"
        ) from None


def _value(name, values, init):
    if values.get(name) is None:
        values[name] = numpy_helper.to_array(init[name])
    return values[name]
