"""KV caches in place (passes/kvcache.py): a decode step's Concat(past, new) writes only the
new rows into the buffer the past is stored in, and K^T is read by the MatMul, not copied."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from compiler.check import compare_with_onnxruntime
from models_zoo.llm import decode_step
from simulator.api import run
from simulator.config import load_config
from simulator.program import program_from_bytes, program_to_bytes

H = helper.make_node
PAST, PRESENT = "self_attn.past_key", "self_attn.present_key"


def step_inputs(prog_or_model_inputs, seed=0):
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in prog_or_model_inputs.items()}


def small_step(d=64, heads=4, context=24):
    m = decode_step(d=d, heads=heads, context=context, ffn=2 * d)
    dh = d // heads
    shapes = {"hidden_states": (1, 1, d)}
    shapes |= {f"self_attn.past_{kv}": (1, heads, context - 1, dh) for kv in ("key", "value")}
    return m, step_inputs(shapes)


def test_decode_step_appends_in_place():
    m, inputs = small_step()
    result = check(m, inputs)
    prog = compiler.compile(m, load_config("tiny"))
    ops = {layer["name"]: layer["op"] for layer in prog.layers}
    assert sorted(n for n, op in ops.items() if op == "KVAppend") == ["concat_1", "concat_2"]
    assert "Concat" not in ops.values() and "transpose_4" not in ops  # K^T is a view
    past, present = prog.tensors[PAST], prog.tensors[PRESENT]
    assert past.addr == present.addr and present.strides is None
    assert past.strides == (4 * 24 * 16, 24 * 16, 16, 1)  # the present's strides
    # the append writes the new rows only: 4 heads x 16 floats per cache
    assert result.stats.per_node["concat_1"].dram_write_bytes == 4 * 16 * 4


def test_strided_input_survives_the_program_file():
    m, inputs = small_step()
    prog = compiler.compile(m, load_config("tiny"))
    again = program_from_bytes(program_to_bytes(prog))
    assert again.tensors[PAST].strides == prog.tensors[PAST].strides
    a, b = run(prog, inputs).outputs, run(again, inputs).outputs
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_past_read_elsewhere_stays_a_concat():
    nodes = [
        H("Concat", ["past", "new"], ["present"], axis=2),
        H("Relu", ["past"], ["s"]),
    ]
    ins = {"past": [1, 2, 5, 4], "new": [1, 2, 1, 4]}
    m = model(nodes, ins, {"present": [1, 2, 6, 4], "s": [1, 2, 5, 4]})
    check(m, {"past": rand(1, 2, 5, 4), "new": rand(1, 2, 1, 4, seed=1)})
    ops = [layer["op"] for layer in compiler.compile(m, load_config("tiny")).layers]
    assert "Concat" in ops and "KVAppend" not in ops


@pytest.mark.parametrize("second", ["Relu", "MatMulA"])
def test_transpose_read_otherwise_is_copied(second):
    """A Transpose also read as a MatMul's A operand, or by another op, stays a copy."""
    other = H("Relu", ["kt"], ["z"]) if second == "Relu" else H("MatMul", ["kt", "w"], ["z"])
    nodes = [H("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), H("MatMul", ["q", "kt"], ["y"]), other]
    ins = {"q": [2, 3, 8], "k": [2, 5, 8], "w": [2, 5, 4]}
    z = [2, 8, 5] if second == "Relu" else [2, 8, 4]
    m = model(nodes, ins, {"y": [2, 3, 5], "z": z})
    check(m, {n: rand(*s, seed=i) for i, (n, s) in enumerate(ins.items())})
    ops = [layer["op"] for layer in compiler.compile(m, load_config("tiny")).layers]
    assert "Transpose" in ops and "TransposeView" not in ops


def test_decode_step_at_2048_near_the_bytes_roofline():
    """d=512, 8 heads, context 2048 at base: weights (12 MiB) plus the KV cache (8 MiB) read
    once at 32 B/cycle is 655,360 cycles; the step was 1,530,936 (2.34x) when the cache was
    copied by both Concats and K by the Transpose, and is 704,211 (1.07x) in place (734,960
    before the eltwise pass dropped extent-1 axes; 734,936 before DRAM was tracked by 16 KiB
    chunks: a layer's first loads no longer wait for its producer's last store; 733,594
    before a GEMM's epilogue words alternated ends of the weight scratchpad and DRAM
    dependencies were found by the bytes touched; 733,425 before the heads' split and merge
    at one token became aliases, streaming layers loaded W ahead of A in alternate halves of
    the weight scratchpad and buffers went where the program was least recently)."""
    m = decode_step()
    shapes = {"hidden_states": (1, 1, 512)}
    shapes |= {f"self_attn.past_{kv}": (1, 8, 2047, 64) for kv in ("key", "value")}
    checks, result = compare_with_onnxruntime(
        m, load_config("base"), step_inputs(shapes), checked=False
    )
    assert all(c.passed for c in checks), [(c.name, c.max_abs_error) for c in checks]
    roofline = (12 * 2**20 + 8 * 2**20) // 32
    assert result.stats.total_cycles == 704_211
    assert result.stats.total_cycles <= 1.2 * roofline
    assert result.stats.dram_write_bytes < 300_000  # no cache copied
