"""Fused int8 attention (passes/attention.py's QDQ form). By default (``int8_attention="exact"``,
lowering/attention_int8.py) the QDQ graph's arithmetic in two passes over the key blocks:
bit-exact with onnxruntime's default session (its QLinearMatMul and QLinearSoftmax kernels).
The opt-in ``"online"`` mode (lowering/attention.py's int8 tiles): q, kᵀ and v DEQUANTised as
loaded, the float online-softmax loop, the output QUANTised; the scores' and probabilities'
Q/DQ are skipped, so the result is the fp32 attention of the int8 inputs, rounded once, and
onnxruntime's differs from it by the rounding of its int8 probabilities (scale 1/255: with 96
keys a probability of about 1/96 is 2.7 steps, rounded): measured 7 output steps, 19.7% exact,
against both its default and basic graphs."""

import numpy as np
import pytest
from qdq_helpers import check_int8_outputs, quantize
from test_attention import attention, causal

from compiler.check import reference
from compiler.driver import CompileOptions, compile, prepare
from compiler.lowering import attention_int8
from compiler.passes.attention import fuse_attention
from simulator.api import run
from simulator.config import load_config
from simulator.errors import ConfigError
from simulator.isa import VFunc

ONLINE = CompileOptions(int8_attention="online")


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


def test_int8_long_attention_online_is_one_fused_layer():
    m, inputs = attention(96)  # int32 scores 36 KiB a head: tiny's accumulator is 16 KiB
    m = quantize(m)
    config = load_config("tiny")
    program = compile(m, config, ONLINE)
    ops = [layer["op"] for layer in program.layers]
    assert "Attention" in ops and not {"QMatMul", "Softmax", "QSum"} & set(ops)
    result = run(program, inputs, checked=True)
    got = result.outputs["y"]
    want, scale = _ideal(fuse_attention(prepare(m, ONLINE), config), inputs)
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


def test_int8_long_attention_exact_matches_onnxruntime():
    """The default two-pass loop: one layer, no scores in DRAM, bit-exact with onnxruntime's
    default session. Against the graph as written (its Softmax quantises by 1 / s_y where
    QLinearSoftmax uses floor(1 / s_y) = 254) measured 4 steps, 65.6% exact."""
    m, inputs = attention(96)
    m = quantize(m)
    graph = fuse_attention(prepare(m, CompileOptions()), load_config("tiny"))
    (node,) = [n for n in graph.nodes() if n.op == "Attention"]
    zeros = [graph.type(t).quant.zero_point for t in node.inputs] + [node.attr("p_zero")]
    assert all(zeros)  # every zero-point term is exercised
    program = compile(m, load_config("tiny"))
    (layer,) = [la for la in program.layers if la["op"] == "Attention"]
    assert layer["tiling"].endswith("two-pass")
    assert not {"QMatMul", "Softmax", "QSum"} & {la["op"] for la in program.layers}
    result = run(program, inputs, checked=True)
    (attn,) = [n for k, n in result.stats.per_node.items() if k.startswith("MatMul")]
    assert attn.dram_write_bytes == 2 * 96 * 16  # the int8 y only
    (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs))
    assert c.steps == 0.0 and c.exact == 1.0
    (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs, optimize=False))
    assert c.steps <= 4.0 + 1e-4 and c.exact >= 0.65


def test_int8_attention_mode_is_checked():
    m, _ = attention(96)
    with pytest.raises(ConfigError, match="int8_attention 'fast' is not one of exact, online"):
        compile(quantize(m), load_config("tiny"), CompileOptions(int8_attention="fast"))


def test_int8_exact_with_scores_computed_again(monkeypatch):
    """Where a query block's int8 scores do not fit the input scratchpad, pass 2 computes
    them again (the K blocks reloaded, the same arithmetic): still bit-exact."""
    m, inputs = attention(96)
    m = quantize(m)
    kept = compile(m, load_config("tiny"))
    fits = attention_int8.fits
    refuse_kept = lambda tm, tk, dh, config, cols=0: not cols and fits(tm, tk, dh, config)  # noqa: E731
    monkeypatch.setattr(attention_int8, "fits", refuse_kept)
    again = compile(m, load_config("tiny"))
    matmuls = [sum(i.OPCODE.name == "MATMUL" for i in p.instructions) for p in (kept, again)]
    assert matmuls[1] > matmuls[0]
    result = run(again, inputs, checked=True)
    (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs))
    assert c.steps == 0.0 and c.exact == 1.0


def _matmuls(program) -> int:
    return sum(i.OPCODE.name == "MATMUL" for i in program.instructions)


def test_int8_causal_attention_fused_exact_and_skips_masked_blocks():
    """A causal mask (-1e9 above the diagonal, quantised with the scores: the QEltwise adds it)
    is fused; the blocks above the diagonal are skipped (their probabilities are provably
    the zero point: exp of the masked scores' table minus the unmasked one's is 0) and the
    result is bit-exact with onnxruntime (unfused it is too: 200,786 cycles, fused 89,456)."""
    m, inputs = attention(96, mask=causal(96))
    m = quantize(m)
    program = compile(m, load_config("tiny"))
    assert "Attention" in {la["op"] for la in program.layers}
    plain = compile(quantize(attention(96)[0]), load_config("tiny"))
    assert _matmuls(program) < _matmuls(plain)
    result = run(program, inputs, checked=True)
    (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs))
    assert c.steps == 0.0 and c.exact == 1.0
    # the online mode takes no mask: the unfused layers run it, as onnxruntime
    online = compile(m, load_config("tiny"), ONLINE)
    assert "Attention" not in {la["op"] for la in online.layers}


def test_int8_mild_mask_uses_both_tables():
    """A mask of -2 above the diagonal cannot be skipped (its keys keep some probability):
    every block is computed, the diagonal blocks selecting each element's table."""
    mask = np.triu(np.full((96, 96), -2.0, np.float32), 1)
    m, inputs = attention(96, mask=mask)
    m = quantize(m)
    program = compile(m, load_config("tiny"))
    assert "Attention" in {la["op"] for la in program.layers}
    selects = [i for i in program.instructions if getattr(i, "func", None) == VFunc.SELECT]
    assert selects
    result = run(program, inputs, checked=True)
    (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs))
    assert c.steps == 0.0 and c.exact == 1.0
