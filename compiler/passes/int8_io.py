"""``CompileOptions(int8_io=True)``: a quantised model keeps its int8 interface.

A QDQ model quantises its float inputs (QuantizeLinear) and dequantises its int8 outputs
(DequantizeLinear); run on the NPU those are fp32 vector work. A deployed NPU leaves them to the
host: the program takes and returns the int8 tensors, and the manifest gives each one's scale
and zero point (``TensorInfo.scale`` / ``zero_point``), so the host computes
``q = saturate(round_half_even(x / scale) + zero_point)`` before the run and
``(q - zero_point) * scale`` after it, the functions onnxruntime applies.

- A float graph input read only by a per-tensor QuantizeLinear with constant parameters,
  possibly through shape-only ops (Flatten, Reshape, Squeeze, Unsqueeze: quantisation is
  element-wise, so it commutes with them), becomes that int8 tensor; the QuantizeLinear goes.
- A graph output made by a per-tensor DequantizeLinear of an int8/uint8 activation becomes
  that activation (under the output's name); the DequantizeLinear goes.

Inputs and outputs of other kinds stay as they are. The rewrite runs on the whole graph, so
the compile is strict (``compiler.partition.compile_model`` places nothing on the host).

``CompileOptions(integer_avgpool=True)`` (``integer_avgpool`` below) marks the int8 average
pools whose window size is the same everywhere: ``lowering/pool.py`` sums their windows in int32
and REQUANTs by ``s_x / (s_y * count)``, where onnxruntime's QLinearAveragePool divides in fp32
(the fixed-point scale and the fp32 rounding can differ: within one output step).
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.passes.layout import ALIAS_OPS
from compiler.passes.qdq_match import tensor_quant


def int8_interface(graph: Graph) -> None:
    for name in list(graph.inputs):
        _quantised_input(graph, name)
    for name in list(graph.outputs):
        _quantised_output(graph, name)


def _chain_to_quantize(graph: Graph, name: str) -> list[Node] | None:
    """The shape-only ops from input ``name`` to the QuantizeLinear that reads it (last)."""
    chain, tensor = [], name
    while True:
        users = graph.consumers(tensor)
        if len(users) != 1 or tensor in graph.outputs or users[0].inputs[0] != tensor:
            return None
        node = users[0]
        if tensor in node.inputs[1:]:
            return None
        chain.append(node)
        if node.op == "QuantizeLinear":
            q = tensor_quant(graph, node)
            return chain if q is not None and q.dtype in ("int8", "uint8") else None
        if node.op not in ALIAS_OPS:
            return None
        tensor = node.outputs[0]


def _quantised_input(graph: Graph, name: str) -> None:
    if graph.type(name).dtype != "float32":
        return
    chain = _chain_to_quantize(graph, name)
    if chain is None:
        return
    qnode = chain[-1]
    quant = tensor_quant(graph, qnode)
    for t in [name, *(n.outputs[0] for n in chain[:-1])]:
        graph.tensors[t] = graph.tensors[t].replace(dtype=quant.dtype, quant=quant)
    source = chain[-2].outputs[0] if len(chain) > 1 else name
    target = qnode.outputs[0]
    graph.remove(qnode.name)
    if target in graph.outputs:
        graph.outputs = [source if o == target else o for o in graph.outputs]
    for user in graph.consumers(target):
        inputs = tuple(source if i == target else i for i in user.inputs)
        graph.replace(user.replace(inputs=inputs))
    graph.tensors.pop(target, None)


def _quantised_output(graph: Graph, name: str) -> None:
    dq = graph.producer(name)
    if dq is None or dq.op != "DequantizeLinear" or graph.is_const(dq.inputs[0]):
        return
    q = tensor_quant(graph, dq)
    src = dq.inputs[0]
    if q is None or q.dtype not in ("int8", "uint8") or src in graph.inputs:
        return
    if src in graph.outputs:
        return
    prod = graph.producer(src)
    graph.remove(dq.name)
    graph.tensors[name] = graph.tensors[src].replace(quant=q)
    users = graph.consumers(src)
    graph.replace(prod.replace(outputs=tuple(name if o == src else o for o in prod.outputs)))
    for user in users:
        graph.replace(user.replace(inputs=tuple(name if i == src else i for i in user.inputs)))
    graph.tensors.pop(src, None)


def integer_avgpool(graph: Graph) -> None:
    """Mark each int8 AveragePool with one window size (no padding, or padding counted)."""
    for node in graph.nodes():
        if node.op != "AveragePool" or graph.type(node.inputs[0]).quant is None:
            continue
        if node.attr("count_include_pad", 0) or not any(node.attr("pads") or ()):
            graph.replace(node.replace(attrs={**node.attrs, "integer": True}))


INT8_ATTENTION = ("exact", "online")  # CompileOptions.int8_attention's values


def online_attention(graph: Graph) -> None:
    """Mark each int8 Softmax: an attention fused around it runs the one-pass loop."""
    for node in graph.nodes():
        if node.op == "Softmax" and graph.type(node.inputs[0]).quant is not None:
            graph.replace(node.replace(attrs={**node.attrs, "online_attention": True}))
