"""Fused int8 attention (passes/attention.py's QDQ form). By default (``int8_attention="exact"``,
lowering/attention_int8.py) the QDQ graph's arithmetic in two passes over the key blocks:
bit-exact with onnxruntime's default session (its QLinearMatMul and QLinearSoftmax kernels).
The opt-in ``"online"`` mode (lowering/attention.py's int8 tiles): q, kᵀ and v DEQUANTised as
loaded, the float online-softmax loop, the output QUANTised; the scores' and probabilities'
Q/DQ are skipped, so the result is the fp32 attention of the int8 inputs, rounded once, and
onnxruntime's differs from it by the rounding of its int8 probabilities (scale 1/255: with 96
keys a probability of about 1/96 is 2.7 steps, rounded): measured 7 output steps, 19.7% exact,
against both its default and basic graphs."""

import copy

import numpy as np
import pytest
from onnx import numpy_helper
from qdq_helpers import check_int8_outputs, quantize
from test_attention import attention, causal

from compiler.check import reference
from compiler.driver import CompileOptions, compile, prepare
from compiler.lowering import attention_int8_plan
from compiler.passes.attention import fuse_attention
from simulator.api import run
from simulator.config import load_config
from simulator.errors import ConfigError
from simulator.isa import VFunc

ONLINE = CompileOptions(int8_attention="online")
FITS = attention_int8_plan.fits


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

    def refuse_kept(tm, tk, dh, config, cols=0, tables=False, keys=0, three=False):
        return not cols and FITS(tm, tk, dh, config, 0, tables, keys, three)

    monkeypatch.setattr(attention_int8_plan, "fits", refuse_kept)
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


def _force(monkeypatch, tables: bool, three: bool) -> None:
    """Plans that prefer pass 2's probabilities by row tables or element by element, in three
    passes or two: any other option's estimate is made huge (it still has to fit)."""
    estimate = attention_int8_plan.estimate

    def only(tm, tk, dims, config, kept=False, t=False, keys=0, th=False):
        cycles = estimate(tm, tk, dims, config, kept, t, keys, th)
        return cycles if (t, th) == (tables, three) else cycles + 10**12

    monkeypatch.setattr(attention_int8_plan, "estimate", only)


def _scaled_by_mul(m):
    """The model with its Div by sqrt(dh) written as a Mul by 1 / sqrt(dh), which
    onnxruntime's quantiser quantises: the fused node then has a scaling table."""
    m = copy.deepcopy(m)
    (div,) = [n for n in m.graph.node if n.op_type == "Div"]
    div.op_type = "Mul"
    (d,) = [t for t in m.graph.initializer if t.name == div.input[1]]
    d.CopyFrom(numpy_helper.from_array(1 / numpy_helper.to_array(d), d.name))
    return m


@pytest.mark.parametrize("mask", [None, "causal", "mul"])
def test_int8_row_tables_and_three_passes_are_exact(monkeypatch, mask):
    """Pass 2's probabilities looked up in a table per query row (its entries computed by
    the steps pass 2 takes per element: SUB, the exp table, DIV, QUANT) are the same bytes
    as those steps on each score; three passes (the max of the unscaled scores, the sums
    through a table per row, then the probabilities) are bit-exact with onnxruntime too. A
    causal mask (its skipped blocks) keeps two passes."""
    seq = 512  # fp32 scores of 1 MiB a head: fused at base
    m, inputs = attention(seq, heads=1, mask=causal(seq) if mask == "causal" else None)
    m = quantize(_scaled_by_mul(m) if mask == "mul" else m)
    if mask == "mul":  # a coarser step after the Mul: its table is not the identity
        (step,) = [t for t in m.graph.initializer if t.name == "ss_scale"]
        step.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(step) * 1.7, step.name))
    outs, divs = {}, {}
    modes = [(False, False), (True, False)] + [(True, True)] * (mask != "causal")
    for tables, three in modes:
        _force(monkeypatch, tables, three)
        p = compile(m, load_config("base"))
        (layer,) = [x for x in p.layers if x["op"] == "Attention"]
        assert ("row-tables" in layer["tiling"]) is tables
        assert ("three-pass" in layer["tiling"]) is three
        result = run(p, inputs, checked=True)
        (c,) = check_int8_outputs(m, result.outputs, reference(m, inputs))
        assert c.steps == 0.0 and c.exact == 1.0
        outs[tables, three] = result.outputs["y"]
        divs[tables, three] = sum(getattr(i, "func", 0) == VFunc.DIV for i in p.instructions)
    assert np.array_equal(outs[False, False], outs[True, False])
    luts = [i for i in p.instructions if getattr(i, "func", 0) == VFunc.LUT]
    assert len(luts) > 0
    assert divs[True, False] < divs[False, False]  # a DIV per query block, not per key block


def test_three_passes_only_without_a_mask_and_with_a_monotone_table(monkeypatch):
    """A causal mask keeps two passes, however cheap three would be (the mask selects a
    table per element; the max of the unscaled scores would not be the max of the masked)."""
    seq = 512
    m, _ = attention(seq, heads=1, mask=causal(seq))
    _force(monkeypatch, True, True)
    p = compile(quantize(m), load_config("base"))
    (layer,) = [x for x in p.layers if x["op"] == "Attention"]
    assert "two-pass" in layer["tiling"]


def test_int8_row_tables_chosen_for_long_rows():
    """The planner takes row tables where the keys are many (256 entries a row cost less
    than the per-score steps) and not where they are few; the long one is bit-exact."""
    config = load_config("base")
    many = attention_int8_plan.plan((1024, 1024, 64), config)
    few = attention_int8_plan.plan((64, 64, 64), config)
    three = attention_int8_plan.plan((1024, 1024, 64), config, three_ok=True)
    assert three.bufs[3] and three.est < many.est
    assert many.bufs[1] and not few.bufs[1]
    est = {t: attention_int8_plan.estimate(many.tm, many.tk, many.dims, config, many.bufs[0], t, many.bufs[2])
           for t in (False, True)}  # fmt: skip
    assert est[True] < est[False]
