"""Language-model decode steps: one token through a decoder block with a KV cache.

The cache follows exported decoders (Hugging Face's past_key_values): graph inputs
``past_key``/``past_value`` of shape [batch, heads, past, head_dim], the new token's key and
value appended by ``Concat(past, new, axis=2)`` into the graph outputs ``present_key`` and
``present_value``, and K read by a ``Transpose`` before the score MatMul.
"""

import math

import numpy as np
import onnx

from models_zoo.layers import ModelBuilder
from models_zoo.weights import SeededWeights


def _heads(b: ModelBuilder, t, heads, dh, perm):
    """[1, 1, heads * dh] -> [1, heads, 1, dh] (or transposed by ``perm``)."""
    return b.transpose(b.reshape(t, [1, 1, heads, dh]), perm)


def cached_attention(b: ModelBuilder, x, name, d, heads, past):
    """Self-attention of one new token over ``past`` cached positions plus itself."""
    dh = d // heads
    q = _heads(b, b.linear(x, f"{name}.q_proj", d, d, bias=False), heads, dh, [0, 2, 1, 3])
    k = _heads(b, b.linear(x, f"{name}.k_proj", d, d, bias=False), heads, dh, [0, 2, 1, 3])
    v = _heads(b, b.linear(x, f"{name}.v_proj", d, d, bias=False), heads, dh, [0, 2, 1, 3])
    past_k = b.input(f"{name}.past_key", [1, heads, past, dh])
    past_v = b.input(f"{name}.past_value", [1, heads, past, dh])
    present_k = b.output(b.op("Concat", [past_k, k], axis=2), f"{name}.present_key")
    present_v = b.output(b.op("Concat", [past_v, v], axis=2), f"{name}.present_value")
    kt = b.transpose(present_k, [0, 1, 3, 2])
    scores = b.op("Div", [b.op("MatMul", [q, kt]), b.const(math.sqrt(dh), np.float32)])
    context = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), present_v])
    context = b.reshape(b.transpose(context, [0, 2, 1, 3]), [1, 1, d])
    return b.linear(context, f"{name}.o_proj", d, d, bias=False)


def decode_step(d=512, heads=8, context=2048, ffn=2048) -> onnx.ModelProto:
    """One decode step of a pre-LayerNorm decoder block (GELU MLP) whose KV cache holds
    ``context - 1`` positions before the step and ``context`` after it."""
    b = ModelBuilder("decode_step", SeededWeights(seed=0))
    x = b.input("hidden_states", [1, 1, d])
    h = b.layernorm(x, "input_layernorm", d)
    x = b.residual(x, cached_attention(b, h, "self_attn", d, heads, context - 1))
    h = b.layernorm(x, "post_attention_layernorm", d)
    b.output(b.residual(x, b.mlp(h, "mlp", d, ffn)), "output")
    return b.build(f"decode step: hidden {d}, {heads} heads, context {context}, MLP {ffn}")


def int8_kv_cache(model: onnx.ModelProto) -> onnx.ModelProto:
    """A QDQ decode step (``quantize_static``) with its KV cache in int8, as deployed: each
    cache's past, new rows and present share the present's scale (one static scale per
    cache), and the past inputs and present outputs are the int8 tensors themselves (the
    QuantizeLinear of each past and the DequantizeLinear of each present leave the
    interface)."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    for concat in [n for n in graph.node if n.op_type == "Concat"]:
        q_out = next(
            n for n in graph.node if n.op_type == "QuantizeLinear" and concat.output[0] in n.input
        )
        present = next(
            n for n in graph.node if n.op_type == "DequantizeLinear" and q_out.output[0] in n.input
        )
        params = tuple(q_out.input[1:])
        for x in concat.input:
            _rename_inputs(graph, dict(zip(producer[x].input[1:], params, strict=True)))
        _int8_input(graph, producer[producer[concat.input[0]].input[0]])
        _int8_output(graph, q_out, present)
    return model


def _rename_inputs(graph, names: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [names.get(i, i) for i in node.input]


def _int8_input(graph, quantize) -> None:
    """The graph input read by ``quantize`` becomes int8: its consumers read it directly."""
    name = quantize.input[0]
    _rename_inputs(graph, {quantize.output[0]: name})
    graph.node.remove(quantize)
    value = next(v for v in graph.input if v.name == name)
    value.type.tensor_type.elem_type = onnx.TensorProto.INT8


def _int8_output(graph, quantize, dequantize) -> None:
    """The graph output made by ``quantize -> dequantize`` becomes the int8 tensor."""
    name = dequantize.output[0]
    inner = f"{name}_dequantized"
    _rename_inputs(graph, {name: inner})
    dequantize.output[0] = inner
    _rename_inputs(graph, {quantize.output[0]: name})
    quantize.output[0] = name
    value = next(v for v in graph.output if v.name == name)
    value.type.tensor_type.elem_type = onnx.TensorProto.INT8
