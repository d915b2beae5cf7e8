"""The official ONNX conformance cases, as plain records the conformance runner can execute.

Two kinds, both shipped inside the ``onnx`` package with their expected outputs:

- node cases: ``onnx.backend.test.case.node.collect_testcases(None)``, one small model per case
  (one node, or the node's function body for ``*_expanded`` cases);
- the nine ``light`` real architectures in ``onnx/backend/test/data/light``: full networks whose
  weights come from ``ConstantOfShape``, fed the ONNX runner's dummy input (``arange(n) / n``).

Expected outputs are the shipped ones, never recomputed (many cases are newer opsets than
onnxruntime loads).
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass(frozen=True)
class Case:
    name: str
    op: str  # the op the case tests; "Softmax (expanded)" for function bodies; "model" for nets
    kind: str  # "node" or "model"
    model: onnx.ModelProto
    inputs: tuple[Any, ...]
    expected: tuple[Any, ...]
    rtol: float
    atol: float

    def op_types(self) -> set[str]:
        return {n.op_type for n in self.model.graph.node}


def to_value(item: Any) -> Any:
    """Shipped inputs/outputs may be TensorProtos; the runner normalises them the same way."""
    if isinstance(item, onnx.TensorProto):
        return numpy_helper.to_array(item)
    return item


@functools.cache
def node_cases() -> tuple[Case, ...]:
    """Every ONNX node case (1,884 with onnx 1.23); collecting takes about 10 s."""
    from onnx.backend.test.case import node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = list(node.collect_testcases(None))
    base_op = {c.name: _single_op(c.model) for c in raw if not _EXPANDED.search(c.name)}
    return tuple(_node_case(c, base_op) for c in raw)


def _single_op(model: onnx.ModelProto) -> str:
    nodes = model.graph.node
    return nodes[0].op_type if len(nodes) == 1 else "(graph)"


def _node_case(c: Any, base_op: dict[str, str]) -> Case:
    if _EXPANDED.search(c.name):
        op = f"{base_op.get(_EXPANDED.sub('', c.name), '(graph)')} (expanded)"
    else:
        op = base_op[c.name]
    (inputs, outputs) = c.data_sets[0]
    return Case(
        name=c.name,
        op=op,
        kind="node",
        model=c.model,
        inputs=tuple(to_value(x) for x in inputs),
        expected=tuple(to_value(x) for x in outputs),
        rtol=c.rtol,
        atol=c.atol,
    )


@functools.cache
def model_cases() -> tuple[Case, ...]:
    """The nine light real architectures with the ONNX runner's dummy inputs."""
    from onnx.backend.test.case import model

    real = [c for c in model.collect_testcases() if c.kind == "real"]
    return tuple(_light_case(c.name, c.model_name, c.rtol, c.atol) for c in real)


def _light_case(name: str, model_name: str, rtol: float, atol: float) -> Case:
    path = LIGHT_DIR / f"light_{model_name}.onnx"
    model = onnx.load(str(path))
    inits = {t.name for t in model.graph.initializer}
    feeds = [dummy_input(vi) for vi in model.graph.input if vi.name not in inits]
    expected = [
        _load_tensor(LIGHT_DIR / f"light_{model_name}_output_{i}.pb")
        for i in range(len(model.graph.output))
    ]
    return Case(name, "model", "model", model, tuple(feeds), tuple(expected), rtol, atol)


def dummy_input(vi: onnx.ValueInfoProto) -> np.ndarray:
    """What ``onnx.backend.test.runner`` feeds light models: ``arange(n) / n`` in float32."""
    dims = vi.type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in dims)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def _load_tensor(path: Path) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def all_cases(nodes: bool = True, models: bool = True) -> list[Case]:
    return [*(node_cases() if nodes else ()), *(model_cases() if models else ())]
