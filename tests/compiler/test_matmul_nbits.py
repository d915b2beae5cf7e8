"""onnxruntime's MatMulNBits (weight-only int4/int8, made by its own MatMulNBitsQuantizer):
compiled with the packed weights in DRAM, dequantised per W tile, against onnxruntime."""

import logging

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

import compiler
from simulator.config import load_config
from simulator.errors import UnsupportedOpError
from simulator.isa import Load, Scratchpad, Vector, VFunc

SP_W = int(Scratchpad.WEIGHT)
logging.getLogger().setLevel(logging.WARNING)  # the quantiser logs each node at INFO


def mlp(k: int, n: int, rows: int, bits: int, block: int, symmetric: bool):
    """x [1, rows, k] -> MatMul -> Relu -> MatMul, both MatMuls quantised by onnxruntime."""
    w1 = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    w2 = np.random.default_rng(2).standard_normal((n, 64)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"]),
    ]
    m = model(nodes, {"x": [1, rows, k]}, {"y": [1, rows, 64]}, {"w1": w1, "w2": w2})
    q = MatMulNBitsQuantizer(m, bits=bits, block_size=block, is_symmetric=symmetric)
    q.process()
    return q.model.model


@pytest.mark.parametrize(
    "bits, block, symmetric, rows",
    [(4, 32, False, 1), (4, 128, True, 5), (8, 32, True, 3), (8, 128, False, 1)],
)
def test_matmul_nbits_matches_onnxruntime(bits, block, symmetric, rows):
    m = mlp(256, 128, rows, bits, block, symmetric)
    assert [n.op_type for n in m.graph.node] == ["MatMulNBits", "Relu", "MatMulNBits"]
    check(m, {"x": rand(1, rows, 256)})
    program = compiler.compile(m, load_config("tiny"))
    deq = [i for i in program.instructions if isinstance(i, Vector)]
    deq = [i for i in deq if i.func == VFunc.DEQUANT_PACKED]
    assert deq and {i.imm0 for i in deq} == {bits}
    assert [layer["op"] for layer in program.layers] == ["MatMulNBits", "MatMulNBits"]
    # one DMA per W tile: its blocks' records (codes, then scale and zero point), which the
    # DEQUANT_PACKED after it reads (codes at the load's address, groups after the codes)
    loads = [i for i in program.instructions if isinstance(i, Load) and i.sp == SP_W]
    assert [ld.sp_addr for ld in loads] == [d.src0_addr for d in deq]
    blob = block * bits // 8
    record = blob + (4 if symmetric else 8)  # the zero point 2**(bits-1) when symmetric
    assert all(d.src1_addr == d.src0_addr + blob and d.src0_s1 == record for d in deq)


@pytest.mark.parametrize("bits, k, rows", [(4, 80, 1), (8, 200, 3), (4, 1000, 2)])
def test_k_not_a_multiple_of_the_block(bits, k, rows):
    """onnxruntime pads the last block with code 0; the NPU dequantises only its first
    K % block codes (a second DEQUANT_PACKED), so the padding never enters a sum."""
    m = mlp(k, 96, rows, bits, 32, False)
    assert [n.op_type for n in m.graph.node] == ["MatMulNBits", "Relu", "MatMulNBits"]
    check(m, {"x": rand(1, rows, k)})
    program = compiler.compile(m, load_config("tiny"))
    deq = [i for i in program.instructions if isinstance(i, Vector)]
    tails = [i for i in deq if i.func == VFunc.DEQUANT_PACKED and i.n2 == k % 32]
    assert tails and all(i.n1 == 1 for i in tails)


def test_the_weights_stay_packed_in_dram():
    """The program's constants are the 4-bit codes (an eighth of the float weights) and an
    fp32 scale and zero point per block of 32 (a sixteenth): 3/16 of the float weights."""
    m = mlp(256, 128, 1, 4, 32, False)
    program = compiler.compile(m, load_config("tiny"))
    float_bytes = (256 * 128 + 128 * 64) * 4
    packed = (256 * 128 + 128 * 64) // 2
    groups = (256 * 128 + 128 * 64) // 32 * 8
    assert packed + groups <= len(program.constants) <= packed + groups + 4 * 64
    assert packed + groups == float_bytes * 3 // 16


def _nbits(bits=4, block=32, k=64, n=16, **extra):
    blob = block * bits // 8
    codes = np.zeros((n, k // block, blob), np.uint8)
    scales = np.ones((n, k // block), np.float32)
    node = helper.make_node(
        "MatMulNBits",
        ["x", "b", "s", *extra.pop("inputs", [])],
        ["y"],
        domain="com.microsoft",
        K=k,
        N=n,
        bits=bits,
        block_size=block,
    )
    inits = {"b": codes, "s": scales, **extra}
    m = model([node], {"x": [1, k]}, {"y": [1, n]}, inits)
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return m


@pytest.mark.parametrize(
    "m, why",
    [
        (_nbits(bits=2), r"bits=2 \(supported: \(4, 8\)\)"),
        (_nbits(k=33), r"K=33 leaves a last block of 1 4-bit codes \(not whole bytes\)"),
        (_nbits(bits=4, block=1), "block_size=1 is not whole bytes of 4-bit codes"),
        (
            _nbits(inputs=["", "g"], g=np.zeros(64, np.int32)),
            r"a g_idx input \(act-order GPTQ\)",
        ),
        (
            _nbits(inputs=["z"], z=np.zeros((16, 2), np.float32)),
            r"zero points of type float32 \(supported: packed uint8\)",
        ),
    ],
)
def test_matmul_nbits_refuses_what_it_does_not_run(m, why):
    with pytest.raises(UnsupportedOpError, match=f"MatMulNBits.*{why}"):
        compiler.compile(m, load_config("tiny"))


def test_matmul_nbits_zero_points_and_bias():
    """Hand-packed 4-bit codes with zero points and a bias: y = x @ ((q - zp) * s)^T + bias."""
    rng = np.random.default_rng(4)
    q = rng.integers(0, 16, (16, 2, 32))
    zp = rng.integers(0, 16, (16, 2))
    s = rng.uniform(0.1, 1, (16, 2)).astype(np.float32)
    bias = rand(16, seed=5)
    codes = (q[..., 0::2] | q[..., 1::2] << 4).astype(np.uint8)
    zps = (zp[:, 0] | zp[:, 1] << 4).astype(np.uint8).reshape(16, 1)
    m = _nbits(inputs=["z", "", "bias"], z=zps, bias=bias)
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(codes, "b"))
    m.graph.initializer[1].CopyFrom(numpy_helper.from_array(s, "s"))
    x = rand(1, 64, seed=6)
    result = check(m, {"x": x})
    w = ((q - zp[..., None]) * s[..., None]).reshape(16, 64)
    np.testing.assert_allclose(result.outputs["y"], x @ w.T + bias, rtol=1e-5, atol=1e-5)
    assert m.graph.initializer[0].data_type == TensorProto.UINT8
