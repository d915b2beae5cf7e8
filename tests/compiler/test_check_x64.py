"""The oracle's onnxruntime results do not depend on the CPU (compiler/check_x64.py): int8
weights that could saturate its u8 x s8 GEMM (VPMADDUBSW on AVX2 and AVX-512 without VNNI)
are handed to it as uint8, the same values dequantised, and Q/DQ nodes share nothing."""

import collections

import numpy as np
import onnx
from compiler_helpers import model
from onnx import helper, numpy_helper

from compiler.check import reference
from compiler.check_x64 import QDQ_OPS, u8_gemm_weights, unshared_qdq
from compiler.driver import compile
from simulator.api import run
from simulator.config import load_config

H = helper.make_node


def saturating_matmul(with_zero_point=True, folded=False):
    """y = DQ(Q(x)) @ DQ(w) -> Q -> DQ, w at +-127 and x at the top of its range: pairs of
    u8 x s8 products (255 * 127 * 2) overflow int16."""
    k, n = 64, 8
    w = np.where(np.arange(k * n).reshape(k, n) % 3 == 0, -127, 127).astype(np.int8)
    zp = ["wz"] if with_zero_point else []
    nodes = [
        H("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        H("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        H("DequantizeLinear", ["wq", "ws", *zp], ["wd"]),
        H("MatMul", ["xd", "wd"], ["m"]),
        H("QuantizeLinear", ["m", "ys", "yz"], ["yq"]),
        H("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
    ]
    inits = {"xs": np.float32(1 / 127), "xz": np.int8(0), "ws": np.float32(0.01)}
    inits |= {"wz": np.int8(0), "ys": np.float32(0.08), "yz": np.int8(0)}
    if folded:  # the weight is a QuantizeLinear of float constants, as some exporters write
        nodes.insert(0, H("QuantizeLinear", ["wf", "ws", "wz"], ["wq"]))
        inits["wf"] = (w.astype(np.float32) * np.float32(0.01)).astype(np.float32)
    else:
        inits["wq"] = w
    return model(nodes, {"x": [2, k]}, {"y": [2, n]}, inits), w


def exact(x, w):
    """The integer arithmetic: int32 sums of int8 products, one fp32 requantisation."""
    xq = np.clip(np.rint(x / np.float32(1 / 127)), -128, 127).astype(np.int64)
    acc = xq @ w.astype(np.int64)
    scale = np.float32(1 / 127) * np.float32(0.01) / np.float32(0.08)
    return np.clip(np.rint(acc * np.float64(scale)), -128, 127) * np.float32(0.08)


def test_the_oracle_sums_int8_products_exactly_on_every_cpu():
    x = np.full((2, 64), 1.0, np.float32)
    x[1, ::2] = -1.0
    for kwargs in ({}, {"with_zero_point": False}, {"folded": True}):
        m, w = saturating_matmul(**kwargs)
        want = reference(m, {"x": x})["y"]
        np.testing.assert_allclose(want, exact(x, w), atol=1e-6, err_msg=str(kwargs))
        got = run(compile(m, load_config("tiny")), {"x": x}).outputs["y"]
        np.testing.assert_array_equal(got, want)


def test_weights_beyond_64_become_uint8_with_the_same_values():
    m, _ = saturating_matmul()
    u = u8_gemm_weights(m)
    inits = {t.name: numpy_helper.to_array(t) for t in u.graph.initializer}
    dq = next(n for n in u.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == "wd")
    assert inits[dq.input[0]].dtype == np.uint8 and inits[dq.input[2]] == 128
    x = {"x": np.linspace(-1, 1, 128, dtype=np.float32).reshape(2, 64)}
    for optimize in (False, True):
        np.testing.assert_array_equal(
            reference(u, x, optimize=optimize)["y"], reference(m, x, optimize=optimize)["y"]
        )


def test_qdq_nodes_share_no_initializer_and_each_dq_feeds_one_node():
    nodes = [
        H("QuantizeLinear", ["x", "s", "z"], ["q"]),
        H("DequantizeLinear", ["q", "s", "z"], ["d"]),
        H("Relu", ["d"], ["r"]),
        H("Add", ["d", "r"], ["y"]),
    ]
    m = model(nodes, {"x": [4]}, {"y": [4]}, {"s": np.float32(0.1), "z": np.int8(0)})
    u = unshared_qdq(m)
    onnx.checker.check_model(u)
    qdq_inputs = [i for n in u.graph.node if n.op_type in QDQ_OPS for i in n.input[1:]]
    assert len(qdq_inputs) == len(set(qdq_inputs)) == 6  # Q, DQ and its copy for Add
    readers = collections.Counter(i for n in u.graph.node for i in n.input if i.startswith("d"))
    assert set(readers.values()) == {1} and len(readers) == 2
    x = {"x": np.array([-1.0, -0.04, 0.05, 2.0], np.float32)}
    np.testing.assert_array_equal(reference(u, x)["y"], reference(m, x)["y"])
