"""The plumbing under the zoo's builders: nodes, initializers, inputs, outputs.

Every method appends nodes and returns the name of its output tensor. Names are
deterministic (a counter per op type), so a builder called twice gives identical bytes.
"""

from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
CONST_PREFIX = "const_"  # shapes, axes, scalars, masks: not weights


class GraphBuilder:
    def __init__(self, name: str):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[str] = []
        self._counts: Counter[str] = Counter()
        self._consts: dict[tuple, str] = {}

    # ----- plumbing -------------------------------------------------------------
    def _fresh(self, prefix: str) -> str:
        self._counts[prefix] += 1
        return f"{prefix}_{self._counts[prefix]}"

    def input(self, name: str, shape: list[int]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def output(self, tensor: str, name: str) -> str:
        """Mark `tensor` as a graph output, renamed to `name`."""
        for node in self.nodes:
            node.input[:] = [name if t == tensor else t for t in node.input]
            node.output[:] = [name if t == tensor else t for t in node.output]
        self.outputs.append(name)
        return name

    def param(self, name: str, array: np.ndarray) -> str:
        """A named float32 initializer (a weight)."""
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def const(self, values, dtype=np.int64) -> str:
        """A shared constant (shapes, axes, scalars), deduplicated by value."""
        array = np.asarray(values, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            name = self._fresh(CONST_PREFIX.rstrip("_"))
            self.initializers.append(numpy_helper.from_array(array, name))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> str | list[str]:
        node_name = self._fresh(op_type.lower())
        outs = [f"{node_name}_out{i}" if n_out > 1 else node_name for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=node_name, **attrs))
        return outs if n_out > 1 else outs[0]

    def build(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, [], self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="npu-toolchain models_zoo",
            doc_string=doc,
        )
        model.ir_version = 8
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        shapes = {v.name: v for v in inferred.graph.value_info}
        model.graph.output.extend(shapes[name] for name in self.outputs)
        onnx.checker.check_model(model, full_check=True)
        return model
