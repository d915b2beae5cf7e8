"""Recurrent nodes (LSTM, GRU, RNN) get every output they may write and their scratch DRAM.

Absent ONNX outputs (Y when only Y_h is used, ...) get fresh tensors, since each step stores
there; after them come per direction the buffers of ``lowering.recurrent.SCRATCH`` (the step's
gate pre-activations, the running h and c) and last the input projections of every step, so
the DRAM planner places them like any tensor."""

from __future__ import annotations

from compiler.ir import Graph, TensorType
from compiler.lowering.recurrent import GATES, describe
from compiler.lowering.recurrent_tiles import ONNX_OUTPUTS, SCRATCH


def add_buffers(graph: Graph) -> None:
    for node in graph.nodes():
        if node.op not in GATES or node.attr("scratch"):
            continue
        r = describe(node, graph)
        state = (r.d, r.b, r.h) if r.layout == 0 else (r.b, r.d, r.h)
        y = (r.t, r.d, r.b, r.h) if r.layout == 0 else (r.b, r.t, r.d, r.h)
        shapes = [y, state, state][: ONNX_OUTPUTS[node.op]]
        outs = list(node.outputs) + [""] * (len(shapes) - len(node.outputs))
        for k, shape in enumerate(shapes):
            if not outs[k]:
                outs[k] = _new(graph, f"{node.name}_out{k}", shape)
        for d in range(r.d):
            for s in SCRATCH[node.op]:
                shape = (r.b, r.gh) if s == "gates" else (r.b, r.h)
                outs.append(_new(graph, f"{node.name}_{s}{d}", shape))
        outs.append(_new(graph, f"{node.name}_proj", (r.t * r.b, r.d * r.gh)))
        attrs = {**node.attrs, "scratch": True}
        graph.replace(node.replace(outputs=tuple(outs), attrs=attrs))


def _new(graph: Graph, base: str, shape) -> str:
    name = graph.fresh(base)
    graph.tensors[name] = TensorType(tuple(shape))
    return name
