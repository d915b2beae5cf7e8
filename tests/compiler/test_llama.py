"""The zoo's LLaMA-style decoder (models_zoo/llama.py): prefill and decode step against
onnxruntime, the cache handed from one to the other, grouped-query attention unrepeated."""

import dataclasses

import numpy as np
from compiler_helpers import rand

import compiler
from compiler.check import compare_with_onnxruntime, reference
from models_zoo.llama import LlamaConfig, llama, llama_nbits
from simulator.api import run
from simulator.config import load_config

CFG = LlamaConfig(d=64, heads=4, kv_heads=2, ffn=96, layers=2, vocab=128)
KV = ("key", "value")


def caches(outputs, cfg=CFG):
    return {
        f"past_key_values.model.layers.{i}.{kv}": outputs[f"present.model.layers.{i}.{kv}"]
        for i in range(cfg.layers)
        for kv in KV
    }


def test_prefill_matches_onnxruntime():
    checks, result = compare_with_onnxruntime(
        llama(CFG, seq=12), load_config("tiny"), {"inputs_embeds": rand(1, 12, 64)}
    )
    assert all(c.passed for c in checks), [(c.name, c.max_abs_error) for c in checks]
    assert result.outputs["present.model.layers.1.key"].shape == (1, 2, 12, 16)  # 2 KV heads


def test_decode_step_matches_onnxruntime_with_the_cache_in_place():
    m = llama(CFG, seq=1, past=12)
    rng = np.random.default_rng(3)
    inputs = {"inputs_embeds": rand(1, 1, 64, seed=1)}
    for i in range(CFG.layers):
        for kv in KV:
            inputs[f"past_key_values.model.layers.{i}.{kv}"] = rng.standard_normal(
                (1, 2, 12, 16)
            ).astype(np.float32)
    checks, _ = compare_with_onnxruntime(m, load_config("tiny"), inputs)
    assert all(c.passed for c in checks), [(c.name, c.max_abs_error) for c in checks]
    ops = {layer["name"]: layer["op"] for layer in compiler.compile(m, load_config("tiny")).layers}
    assert list(ops.values()).count("KVAppend") == 4  # two caches per layer, appended
    assert "Expand" not in ops.values() and "Tile" not in ops.values()
    assert ops["matmul_4"] == "MatMul"  # a group's 2 query heads as rows against one K


def test_prefill_then_decode_equals_a_longer_prefill():
    """The NPU's prefill of 12 tokens, its caches fed to the NPU's decode step for token 13:
    the logits equal onnxruntime's prefill of all 13 tokens (last row)."""
    x = rand(1, 13, 64, seed=7)
    config = load_config("tiny")
    first = run(compiler.compile(llama(CFG, seq=12), config), {"inputs_embeds": x[:, :12]})
    step = compiler.compile(llama(CFG, seq=1, past=12), config)
    after = run(step, {"inputs_embeds": x[:, 12:], **caches(first.outputs)})
    want = reference(llama(CFG, seq=13), {"inputs_embeds": x})["logits"][:, 12:]
    np.testing.assert_allclose(after.outputs["logits"], want, rtol=1e-3, atol=1e-4)


def test_int4_and_int8_decoders_match_onnxruntime():
    """The weight-only variants (onnxruntime's MatMulNBitsQuantizer, block 32): every
    projection, the MLP and the LM head run as MatMulNBits on the NPU, prefill and decode."""
    rng = np.random.default_rng(5)
    for bits, (seq, past) in ((4, (12, 0)), (4, (1, 12)), (8, (1, 12))):
        m = llama_nbits(CFG, seq=seq, past=past, bits=bits, block=32)
        inputs = {"inputs_embeds": rand(1, seq, 64, seed=2)}
        for i in range(CFG.layers):
            for kv in KV if past else ():
                shape = (1, 2, past, 16)
                inputs[f"past_key_values.model.layers.{i}.{kv}"] = rng.standard_normal(
                    shape
                ).astype(np.float32)
        checks, _ = compare_with_onnxruntime(m, load_config("tiny"), inputs)
        assert all(c.passed for c in checks), [(c.name, c.max_abs_error) for c in checks]
        ops = [layer["op"] for layer in compiler.compile(m, load_config("tiny")).layers]
        assert ops.count("MatMulNBits") == 7 * CFG.layers + 1  # q k v o, gate up down, head
        assert "MatMul" in ops  # the attention's products keep their activations


def test_batched_decode_step_is_each_sequence_decoded_alone():
    """batch 3: one decode step over three caches matches onnxruntime, and each sequence's
    logits and present caches are those of its own batch-1 step."""
    rng = np.random.default_rng(11)
    past = {
        f"past_key_values.model.layers.{i}.{kv}": rng.standard_normal((3, 2, 12, 16)).astype(
            np.float32
        )
        for i in range(CFG.layers)
        for kv in KV
    }
    inputs = {"inputs_embeds": rand(3, 1, 64, seed=4), **past}
    checks, result = compare_with_onnxruntime(
        llama(CFG, seq=1, past=12, batch=3), load_config("tiny"), inputs
    )
    assert all(c.passed for c in checks), [(c.name, c.max_abs_error) for c in checks]
    single = compiler.compile(llama(CFG, seq=1, past=12), load_config("tiny"))
    for n in range(3):
        alone = run(single, {name: value[n : n + 1] for name, value in inputs.items()})
        for name, value in alone.outputs.items():
            np.testing.assert_allclose(result.outputs[name][n : n + 1], value, rtol=1e-4, atol=1e-5)


def test_layers_add_their_cycles_exactly():
    """scripts/llm_tables.py times the 1B-class decoder as its graph without layers plus
    ``layers`` times what one layer adds: layers do not overlap, so the sum is exact."""

    def cycles(layers, seq, past):
        cfg = dataclasses.replace(CFG, layers=layers)
        prog = compiler.compile(llama(cfg, seq=seq, past=past), load_config("base"))
        return run(prog, None, numerics=False).stats.total_cycles

    for seq, past in ((1, 63), (32, 0)):
        none, one, three = (cycles(n, seq, past) for n in (0, 1, 3))
        assert none < one and three == none + 3 * (one - none)
