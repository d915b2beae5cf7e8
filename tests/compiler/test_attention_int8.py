"""Fused int8 attention (passes/attention.py's QDQ form, lowering/attention.py's int8 tiles):
q, kᵀ and v DEQUANTised as loaded, the float online-softmax loop, the output QUANTised. The
scores' and probabilities' Q/DQ of the QDQ graph are skipped, so the result is the fp32
attention of the int8 inputs, rounded once, and onnxruntime's differs from it by the rounding
of its int8 probabilities (scale 1/255: with 96 keys a probability of about 1/96 is 2.7 steps,
rounded): measured 7 output steps, 19.7% exact, against both its default and basic graphs."""

import numpy as np
from qdq_helpers import check_int8_outputs, quantize
from test_attention import attention

from compiler.check import reference
from compiler.driver import CompileOptions, compile, prepare
from compiler.passes.attention import fuse_attention
from simulator.api import run
from simulator.config import load_config


def _ideal(graph, inputs):
    """The fused node's arithmetic in numpy: fp32 attention of the quantised q, k, v, then y's
    quantisation (dequantised, as the graph's output DequantizeLinear gives it)."""
    (node,) = [n for n in graph.nodes() if n.op == "Attention"]
    quants = [graph.type(t).quant for t in (*node.inputs, node.outputs[0])]

    def fake(x, q):
        return (np.clip(np.round(x / q.scale) + q.zero_point, -128, 127) - q.zero_point) * q.scale

    q, k, v = (fake(inputs[n], qt) for n, qt in zip("qkv", quants, strict=False))
    s = q @ np.swapaxes(k, -1, -2) * node.attr("scale")
    p = np.exp(s - s.max(-1, keepdims=True))
    return fake(p / p.sum(-1, keepdims=True) @ v, quants[3]), quants[3].scale


def test_int8_long_attention_is_one_fused_layer():
    m, inputs = attention(96)  # int32 scores 36 KiB a head: tiny's accumulator is 16 KiB
    m = quantize(m)
    config = load_config("tiny")
    program = compile(m, config)
    ops = [layer["op"] for layer in program.layers]
    assert "Attention" in ops and not {"QMatMul", "Softmax", "QSum"} & set(ops)
    result = run(program, inputs, checked=True)
    got = result.outputs["y"]
    want, scale = _ideal(fuse_attention(prepare(m, CompileOptions()), config), inputs)
    assert np.abs(got - want).max() <= scale * 1.001  # measured: equal
    assert np.mean(np.abs(got - want) < 1e-3 * scale) >= 0.99
    (attn,) = [n for k, n in result.stats.per_node.items() if k.startswith("MatMul")]
    assert attn.dram_write_bytes == 2 * 96 * 16  # the int8 y only: no scores in DRAM
    for optimize in (True, False):
        (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs, optimize=optimize))
        assert c.steps <= 7.0 + 1e-4 and c.exact >= 0.19, (optimize, c)


def test_int8_short_attention_stays_unfused_and_exact():
    m, inputs = attention(24)  # 2.3 KiB of scores fit: QMatMul, QLinearSoftmax, QMatMul
    m = quantize(m)
    program = compile(m, load_config("tiny"))
    ops = {layer["op"] for layer in program.layers}
    assert "Attention" not in ops and {"QMatMul", "Softmax"} <= ops
    got = run(program, inputs, checked=True).outputs
    (c,) = check_int8_outputs(m, got, reference(m, inputs))
    assert c.steps == 0.0
