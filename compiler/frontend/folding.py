"""Constant folding on the ModelProto, once input shapes are fixed: every node whose inputs are
all known (constants, or for Shape and Size, tensors of known static shape) is evaluated and
becomes an initializer. The importer alternates this with shape inference to a fixed point.

Op semantics are never re-derived here: each node runs through onnx's ``ReferenceEvaluator``
(one evaluator per distinct node signature, cached), and through onnxruntime when the reference
implementation cannot run it. Results keep their exact shape and dtype (0-d stays 0-d).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler import budget
from compiler.frontend.loader import BIG_INITIALIZER
from simulator.errors import ModelError

KEEP = {"QuantizeLinear", "DequantizeLinear"}  # folded by the QDQ pass instead
RANDOM = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli"}
RANDOM |= {"Multinomial"}
SHAPE_ONLY = {"Shape", "Size"}  # need only their input's shape


def fold_constants(
    model: onnx.ModelProto, opset: int, arrays: dict[str, np.ndarray] | None = None
) -> tuple[onnx.ModelProto, bool]:
    """Evaluate every node whose inputs are known; returns (model, whether anything folded).

    ``arrays`` (kept across calls) holds the large folded values: their initializers carry
    only type and dims (shape inference reads no more of them), so a folded weight is not
    encoded into the proto and decoded back."""
    g = model.graph
    arrays = {} if arrays is None else arrays
    known = _Known(g, arrays)
    keep, new_inits, changed = [], [], False
    for node in g.node:
        result = _try_fold(node, known, opset)
        if result is None:
            keep.append(node)
            continue
        changed = True
        for name, arr in zip(node.output, result, strict=False):
            if not name:
                continue
            known.values[name] = arr
            new_inits.append(_initializer(arr, name, arrays))
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


class _Known:
    """What folding knows of each tensor: values of initializers (decoded on first use) and
    folded nodes, static shapes and dtypes of the others."""

    def __init__(self, g: onnx.GraphProto, arrays: dict[str, np.ndarray]) -> None:
        self.values: dict[str, np.ndarray | None] = {
            t.name: arrays.get(t.name) for t in g.initializer
        }
        self.init = {t.name: t for t in g.initializer}
        self.types = {vi.name: vi for vi in [*g.value_info, *g.input, *g.output]}

    def has_value(self, name: str) -> bool:
        return name in self.values

    def value(self, name: str) -> np.ndarray:
        if self.values.get(name) is None:
            self.values[name] = numpy_helper.to_array(self.init[name])
        return self.values[name]

    def shaped(self, name: str) -> np.ndarray | None:
        """A zero-byte array of ``name``'s static shape and dtype (a broadcast view), for ops
        that read only the shape; None when the shape is not static."""
        if name in self.values:
            return self.value(name)
        vi = self.types.get(name)
        if vi is None or not vi.type.HasField("tensor_type"):
            return None
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or not all(d.HasField("dim_value") for d in tt.shape.dim):
            return None
        try:
            dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        except (KeyError, ValueError, TypeError):
            return None
        return np.broadcast_to(np.zeros((), dtype), tuple(d.dim_value for d in tt.shape.dim))


def _try_fold(node: onnx.NodeProto, known: _Known, opset: int) -> list[np.ndarray] | None:
    if node.op_type in KEEP | RANDOM or node.domain not in ("", "ai.onnx"):
        return None
    if any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute
    ):
        return None  # If/Loop/Scan: their bodies may read tensors of the outer graph
    names = [i for i in node.input if i]
    if not names and node.op_type != "Constant":
        return None
    if node.op_type == "Dropout" and not _inference_dropout(node, known):
        return None
    if node.op_type in SHAPE_ONLY:
        ins = [known.shaped(names[0])]
        if ins[0] is None:
            return None
    elif all(known.has_value(i) for i in names):
        ins = [known.value(i) for i in names]
    else:
        return None
    for out in node.output:  # the budget, before anything is built (compiler/budget.py)
        shaped = known.shaped(out) if out else None
        if shaped is not None:
            budget.check_constant(node, out, shaped.shape, shaped.dtype.itemsize)
    result = evaluate(node, [i for i in node.input], ins, opset)
    for out, arr in zip(node.output, result, strict=False):
        if arr is not None:
            budget.check_folded(node, out, arr)
    return result


def _inference_dropout(node: onnx.NodeProto, known: _Known) -> bool:
    """A Dropout folds only when it is surely the identity (training mode is random)."""
    mode = node.input[2] if len(node.input) > 2 else ""
    return not mode or (known.has_value(mode) and not known.value(mode).any())


def evaluate(
    node: onnx.NodeProto, inputs: list[str], values: list[np.ndarray], opset: int
) -> list[np.ndarray]:
    """The outputs of ``node`` on ``values`` (for its non-empty ``inputs``), by onnx's
    ReferenceEvaluator, else onnxruntime; ModelError naming the node when neither can."""
    slots = [f"in{k}" if name else "" for k, name in enumerate(inputs)]
    while slots and not slots[-1]:
        slots.pop()
    outs = [f"out{k}" if name else "" for k, name in enumerate(node.output)]
    feeds = dict(zip([s for s in slots if s], values, strict=True))
    try:
        got = _reference(node, slots, outs, opset).run(None, feeds)
    except Exception as ref_exc:  # the reference implementation lacks some ops and attributes
        try:
            got = _onnxruntime(node, slots, outs, feeds, opset)
        except Exception:
            raise ModelError(
                f"constant folding of node {node.name!r} ({node.op_type}) failed: "
                f"{_first_line(ref_exc)}"
            ) from None
    named = iter(got)
    return [np.asarray(next(named)) if name else None for name in outs]


_EVALUATORS: dict[bytes, object] = {}


def _reference(node: onnx.NodeProto, slots: list[str], outs: list[str], opset: int):
    """A ReferenceEvaluator of one node with positional names, cached by its signature."""
    sig = helper.make_node(node.op_type, slots, outs, domain=node.domain)
    sig.attribute.extend(node.attribute)
    key = sig.SerializeToString() + opset.to_bytes(2, "little")
    ev = _EVALUATORS.get(key)
    if ev is None:
        from onnx.reference import ReferenceEvaluator

        if len(_EVALUATORS) > 512:
            _EVALUATORS.clear()
        ev = _EVALUATORS[key] = ReferenceEvaluator(sig, opsets={"": opset})
    return ev


def _onnxruntime(node, slots, outs, feeds: dict[str, np.ndarray], opset: int) -> list:
    import onnxruntime as ort

    sig = helper.make_node(node.op_type, slots, outs, domain=node.domain)
    sig.attribute.extend(node.attribute)
    ins = [
        helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for k, v in feeds.items()
    ]
    outputs = [helper.make_empty_tensor_value_info(o) for o in outs if o]
    graph = helper.make_graph([sig], "fold", ins, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    so = ort.SessionOptions()
    so.log_severity_level = 4
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: np.array(v, order="C") for k, v in feeds.items()})  # 0-d stays


def _initializer(arr: np.ndarray, name: str, arrays: dict) -> onnx.TensorProto:
    arr = np.array(arr, order="C", copy=True) if not arr.flags.c_contiguous else arr
    if arr.size < BIG_INITIALIZER:
        return numpy_helper.from_array(arr, name)
    arrays[name] = arr
    tensor = onnx.TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(arr.dtype))
    tensor.dims.extend(arr.shape)
    return tensor


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
