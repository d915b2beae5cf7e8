"""Fused attention (passes/attention.py, lowering/attention.py): one online-softmax loop over
key blocks when one head's scores do not fit the accumulator, against onnxruntime."""

import math

import numpy as np
import pytest
from compiler_helpers import check, rand
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.lowering.attention import flash_fits
from simulator.config import load_config

H = helper.make_node


def attention(seq, heads=2, dh=16, mask=None, keys=None):
    """q, k, v [1, heads, seq, dh] (k, v: ``keys`` rows) -> softmax(q kᵀ / sqrt(dh) + mask) v."""
    keys = keys or seq
    ins = {"q": [1, heads, seq, dh], "k": [1, heads, keys, dh], "v": [1, heads, keys, dh]}
    vin = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in ins.items()]
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, heads, seq, dh])]
    inits = [numpy_helper.from_array(np.array(math.sqrt(dh), np.float32), "d")]
    nodes = [
        H("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        H("MatMul", ["q", "kt"], ["s"]),
        H("Div", ["s", "d"], ["ss"]),
    ]
    last = "ss"
    if mask is not None:
        inits.append(numpy_helper.from_array(mask.astype(np.float32), "mask"))
        nodes.append(H("Add", ["ss", "mask"], ["sm"]))
        last = "sm"
    nodes += [H("Softmax", [last], ["p"], axis=-1), H("MatMul", ["p", "v"], ["y"])]
    g = helper.make_graph(nodes, "attention", vin, out, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    inputs = {n: rand(*s, seed=i) for i, (n, s) in enumerate(ins.items())}
    return m, inputs


def layers(m, preset="tiny"):
    return compiler.compile(m, load_config(preset)).layers


def causal(seq):
    return np.triu(np.full((seq, seq), -1e9, np.float32), 1)


def test_long_attention_is_one_fused_layer():
    m, inputs = attention(96)  # 96 x 96 fp32 scores: 36 KiB, tiny's accumulator is 16 KiB
    result = check(m, inputs)
    (layer,) = layers(m)
    assert layer["op"] == "Attention" and layer["tiling"].startswith("flash")
    # the scores never reach DRAM: q, k, v and y once, k and v once per query block
    assert result.stats.dram_write_bytes == 2 * 96 * 16 * 4


def test_short_attention_stays_unfused():
    m, inputs = attention(24)  # 2.3 KiB of scores fit
    check(m, inputs)
    assert "Attention" not in {layer["op"] for layer in layers(m)}


def test_attention_no_flash_tiling_fits_stays_unfused():
    """Head dim 64 on tiny: the scores exceed the accumulator, but no flash tiling fits the
    scratchpads either; the unfused layers run it (they once refused the model instead)."""
    m, inputs = attention(96, heads=1, dh=64)
    assert not flash_fits((96, 96, 64), False, load_config("tiny"))
    check(m, inputs)
    assert "Attention" not in {layer["op"] for layer in layers(m)}


def test_causal_mask_skips_the_blocks_it_zeroes():
    m, inputs = attention(96, mask=causal(96)[None, None])
    result = check(m, inputs)
    full = attention(96)[0]
    plain = compiler.compile(full, load_config("tiny"))
    masked = compiler.compile(m, load_config("tiny"))
    count = lambda p: sum(type(i).__name__ == "MatMul" for i in p.instructions)  # noqa: E731
    assert count(masked) < 0.7 * count(plain)
    assert result.stats.per_node  # simulated, checked against onnxruntime above


@pytest.mark.parametrize("shape", [(1, 96), (96, 96)])
def test_padding_and_random_masks(shape):
    rng = np.random.default_rng(4)
    mask = np.where(rng.random(shape) < 0.3, -1e9, rng.standard_normal(shape)).astype(np.float32)
    mask[..., 0] = 0.0  # every row sees a key
    m, inputs = attention(96, mask=mask)
    check(m, inputs)
    assert [layer["op"] for layer in layers(m)] == ["Attention"]


def test_cross_attention_with_more_keys_than_queries():
    m, inputs = attention(40, keys=136)
    check(m, inputs)
    assert [layer["op"] for layer in layers(m)] == ["Attention"]


@pytest.mark.slow
def test_attention_at_4096_tokens_on_base():
    """4 heads x 64 over 4,096 tokens at base: 59,284,139 cycles (14.1% of the array) and
    1,592 MiB of DRAM traffic unfused (the scores to DRAM and back); fused 14,058,860 cycles
    (59.7% of the array) and 264 MiB (q, k, v, y once; k and v once per block of 128 query
    rows: 256 KiB scratchpads cannot hold more queries' running sums)."""
    m, inputs = attention(4096, heads=4, dh=64)
    result = check(m, inputs, preset="base")
    s = result.stats
    assert s.total_cycles == 14_058_860
    assert 4 * 4096 * 4096 * 64 * 2 / (s.total_cycles * 1024) >= 0.5
    assert s.dram_read_bytes + s.dram_write_bytes == 264 * 2**20
