"""The MACs of a host partition's matrix nodes whose shapes depend on data
(``Segment.uncounted``: after a Loop, NonMaxSuppression, ...), counted at run time.

Their operands and results are made extra outputs of the partition's model (``probe``), so one
onnxruntime run gives their shapes; ``compiler.partition.matrix_macs`` (the compile-time
formula) turns the shapes into MACs. Only top-level nodes are counted: a node inside an
If/Loop body is not one of the partition's nodes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import onnx
from onnx import helper

from compiler.partition import Segment, matrix_macs


@dataclass(frozen=True)
class Probe:
    model: bytes  # the partition's model with the extra outputs
    names: list[str]  # the extra outputs, fetched after the partition's own
    nodes: dict[str, tuple[onnx.NodeProto, tuple[str, str, str]]]  # node -> (proto, tensors)
    constants: dict[str, tuple[int, ...]]  # initializer operands' shapes

    def macs(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
        """MACs by node name, given the shapes of the tensors seen at run time (``shapes``:
        the partition's inputs, outputs and the extra outputs)."""
        known = {**self.constants, **shapes}
        out = {}
        for name, (node, tensors) in self.nodes.items():
            if all(t in known for t in tensors):
                out[name] = matrix_macs(node, *(known[t] for t in tensors))
        return out


def probe(seg: Segment) -> Probe | None:
    """None when every matrix node of ``seg`` was counted at compile time."""
    if not seg.uncounted:
        return None
    return _probe(seg.model, tuple(seg.nodes), tuple(seg.uncounted))


@functools.cache
def _probe(model_bytes: bytes, node_names: tuple, uncounted: tuple) -> Probe:
    model = onnx.load_from_string(model_bytes)
    g = model.graph
    constants = {t.name: tuple(t.dims) for t in g.initializer}
    seen = {vi.name for vi in [*g.input, *g.output]}  # their shapes come with the run
    nodes, names = {}, []
    for name, node in zip(node_names, g.node, strict=True):
        if name not in uncounted or len(node.input) < 2 or not node.output:
            continue
        tensors = (node.input[0], node.input[1], node.output[0])
        nodes[name] = (node, tensors)
        for t in tensors:
            if t not in constants and t not in seen:
                seen.add(t)
                names.append(t)
    g.output.extend(helper.make_empty_tensor_value_info(t) for t in names)
    return Probe(model.SerializeToString(), names, nodes, constants)
