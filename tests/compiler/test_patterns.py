"""Pattern fusion: every decomposed activation and normalisation, simulated before and after
the rewrite on random inputs (both against onnxruntime), with the rewritten op in the
program and fewer cycles after."""

import math

import numpy as np
import pytest
from compiler_helpers import model, rand
from family_helpers import assert_matches, oracle
from onnx import helper

from compiler import CompileOptions, compile
from compiler.frontend.importer import import_model
from compiler.passes.patterns import fuse_patterns
from simulator.api import run
from simulator.config import load_config

H = helper.make_node
SQRT2 = math.sqrt(2.0)


def _consts(**values):
    return {k: np.array(v, np.float32) for k, v in values.items()}


def _conv(out="c", cin=4, cout=8):
    return H("Conv", ["x", "w"], [out], pads=[1, 1, 1, 1]), {"w": rand(cout, cin, 3, 3, seed=7)}


def _matmul(out="c", k=32, n=48):
    return H("MatMul", ["x", "w"], [out]), {"w": rand(k, n, seed=7) / np.float32(4)}


def hardswish_model(order: str):
    conv, inits = _conv()
    inits |= _consts(three=3.0, zero=0.0, six=6.0, sixth=1 / 6)
    head = [conv, H("Add", ["c", "three"], ["a"]), H("Clip", ["a", "zero", "six"], ["r6"])]
    tails = {
        "mul_div": [H("Mul", ["c", "r6"], ["m"]), H("Div", ["m", "six"], ["y"])],
        "div_mul": [H("Div", ["r6", "six"], ["hs"]), H("Mul", ["c", "hs"], ["y"])],
        "times_sixth": [H("Mul", ["r6", "sixth"], ["hs"]), H("Mul", ["hs", "c"], ["y"])],
    }
    return model(head + tails[order], {"x": [1, 4, 10, 10]}, {"y": [1, 8, 10, 10]}, inits)


def hardsigmoid_model():
    conv, inits = _conv()
    inits |= _consts(three=3.0, zero=0.0, six=6.0)
    nodes = [
        conv,
        H("Add", ["c", "three"], ["a"]),
        H("Clip", ["a", "zero", "six"], ["r6"]),
        H("Div", ["r6", "six"], ["y"]),
    ]
    return model(nodes, {"x": [1, 4, 10, 10]}, {"y": [1, 8, 10, 10]}, inits)


def silu_model(alpha=None):
    conv, inits = _conv()
    nodes = [conv]
    if alpha is None:
        nodes.append(H("Sigmoid", ["c"], ["s"]))
    else:
        inits |= _consts(alpha=alpha)
        nodes += [H("Mul", ["c", "alpha"], ["ca"]), H("Sigmoid", ["ca"], ["s"])]
    nodes.append(H("Mul", ["s", "c"], ["y"]))
    return model(nodes, {"x": [1, 4, 10, 10]}, {"y": [1, 8, 10, 10]}, inits)


def gelu_erf_model(order: str):
    mm, inits = _matmul()
    inits |= _consts(sqrt2=SQRT2, inv=1 / SQRT2, one=1.0, half=0.5)
    scale = (
        H("Div", ["c", "sqrt2"], ["d"]) if order != "times_inv" else H("Mul", ["c", "inv"], ["d"])
    )
    head = [mm, scale, H("Erf", ["d"], ["e"]), H("Add", ["e", "one"], ["p"])]
    tails = {
        "bert": [H("Mul", ["c", "p"], ["m"]), H("Mul", ["m", "half"], ["y"])],
        "half_first": [H("Mul", ["c", "half"], ["h"]), H("Mul", ["h", "p"], ["y"])],
        "times_inv": [H("Mul", ["p", "half"], ["h"]), H("Mul", ["c", "h"], ["y"])],
    }
    return model(head + tails[order], {"x": [2, 16, 32]}, {"y": [2, 16, 48]}, inits)


def gelu_tanh_model(cube: str):
    mm, inits = _matmul()
    inits |= _consts(three=3.0, k=0.044715, s=math.sqrt(2 / math.pi), one=1.0, half=0.5)
    if cube == "pow":
        x3 = [H("Pow", ["c", "three"], ["c3"])]
    else:
        x3 = [H("Mul", ["c", "c"], ["c2"]), H("Mul", ["c2", "c"], ["c3"])]
    nodes = [
        mm,
        *x3,
        H("Mul", ["k", "c3"], ["kc3"]),
        H("Add", ["c", "kc3"], ["inner"]),
        H("Mul", ["inner", "s"], ["arg"]),
        H("Tanh", ["arg"], ["t"]),
        H("Add", ["one", "t"], ["p"]),
        H("Mul", ["half", "c"], ["h"]),
        H("Mul", ["h", "p"], ["y"]),
    ]
    return model(nodes, {"x": [2, 16, 32]}, {"y": [2, 16, 48]}, inits)


def layernorm_model(affine: bool, square: str = "pow", opset=17):
    d = 64
    inits = _consts(two=2.0, eps=1e-5)
    inits |= {"g": rand(d, seed=3) + 1, "b": rand(d, seed=4)}
    sq = H("Pow", ["xc", "two"], ["sq"]) if square == "pow" else H("Mul", ["xc", "xc"], ["sq"])
    nodes = [
        H("ReduceMean", ["x"], ["m"], axes=[-1]),
        H("Sub", ["x", "m"], ["xc"]),
        sq,
        H("ReduceMean", ["sq"], ["v"], axes=[-1]),
        H("Add", ["v", "eps"], ["ve"]),
        H("Sqrt", ["ve"], ["sd"]),
        H("Div", ["xc", "sd"], ["n" if affine else "y"]),
    ]
    if affine:
        nodes += [H("Mul", ["n", "g"], ["ng"]), H("Add", ["ng", "b"], ["y"])]
    return model(nodes, {"x": [2, 24, d]}, {"y": [2, 24, d]}, inits, opset)


def rmsnorm_model(recip: bool):
    d = 64
    inits = _consts(two=2.0, eps=1e-6) | {"g": rand(d, seed=3) + 1}
    tail = (
        [H("Reciprocal", ["sd"], ["r"]), H("Mul", ["x", "r"], ["n"])]
        if recip
        else [H("Div", ["x", "sd"], ["n"])]
    )
    nodes = [
        H("Pow", ["x", "two"], ["sq"]),
        H("ReduceMean", ["sq"], ["v"], axes=[-1]),
        H("Add", ["v", "eps"], ["ve"]),
        H("Sqrt", ["ve"], ["sd"]),
        *tail,
        H("Mul", ["n", "g"], ["y"]),
    ]
    return model(nodes, {"x": [2, 24, d]}, {"y": [2, 24, d]}, inits)


def softmax_model(stable: bool, axis=-1):
    nodes = []
    src = "x"
    if stable:
        nodes += [H("ReduceMax", ["x"], ["mx"], axes=[axis]), H("Sub", ["x", "mx"], ["xs"])]
        src = "xs"
    nodes += [
        H("Exp", [src], ["e"]),
        H("ReduceSum", ["e", "ax"], ["s"], keepdims=1),
        H("Div", ["e", "s"], ["y"]),
    ]
    inits = {"ax": np.array([axis], np.int64)}
    return model(nodes, {"x": [4, 12, 40]}, {"y": [4, 12, 40]}, inits)


CASES = {
    "hardswish_mul_div": (lambda: hardswish_model("mul_div"), "HardSwish"),
    "hardswish_div_mul": (lambda: hardswish_model("div_mul"), "HardSwish"),
    "hardswish_times_sixth": (lambda: hardswish_model("times_sixth"), "HardSwish"),
    "hardsigmoid": (hardsigmoid_model, "HardSigmoid"),
    "silu": (silu_model, "Swish"),
    "swish_alpha": (lambda: silu_model(1.7), "Swish"),
    "gelu_erf_bert": (lambda: gelu_erf_model("bert"), "Gelu"),
    "gelu_erf_half_first": (lambda: gelu_erf_model("half_first"), "Gelu"),
    "gelu_erf_times_inv": (lambda: gelu_erf_model("times_inv"), "Gelu"),
    "gelu_tanh_pow": (lambda: gelu_tanh_model("pow"), "Gelu"),
    "gelu_tanh_muls": (lambda: gelu_tanh_model("muls"), "Gelu"),
    "layernorm_affine": (lambda: layernorm_model(True), "LayerNormalization"),
    "layernorm_plain_mul": (lambda: layernorm_model(False, "mul"), "LayerNormalization"),
    "rmsnorm_div": (lambda: rmsnorm_model(False), "RMSNormalization"),
    "rmsnorm_reciprocal": (lambda: rmsnorm_model(True), "RMSNormalization"),
    "softmax_stable": (lambda: softmax_model(True), "Softmax"),
    "softmax_plain": (lambda: softmax_model(False), "Softmax"),
    "softmax_axis1": (lambda: softmax_model(True, 1), "Softmax"),
}


def simulate(m, fuse: bool, feeds, preset="small"):
    program = compile(m, load_config(preset), CompileOptions(fuse_patterns=fuse))
    result = run(program, feeds, checked=True)
    return program, result


@pytest.mark.parametrize("name", list(CASES))
def test_rewrite_matches_and_saves_cycles(name):
    build, op = CASES[name]
    m = build()
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    feeds = {"x": rand(*shape, seed=11) * np.float32(2)}
    want = oracle(m, feeds)["y"]
    before, slow = simulate(m, False, feeds)
    after, fast = simulate(m, True, feeds)
    assert_matches(slow.outputs["y"], want, rtol=1e-3, atol=1e-4)
    assert_matches(fast.outputs["y"], want, rtol=1e-3, atol=1e-4)
    ops_after = {la["op"] for la in after.layers} | {f for la in after.layers for f in la["fused"]}
    assert op in {la["op"] for la in after.layers} or any(
        op.lower() in f.lower() for la in after.layers for f in la["fused"]
    ), ops_after
    assert op not in {la["op"] for la in before.layers}
    assert fast.stats.total_cycles < slow.stats.total_cycles, (
        fast.stats.total_cycles,
        slow.stats.total_cycles,
    )


def test_activation_patterns_land_in_the_conv_epilogue():
    """Conv -> decomposed hard-swish / SiLU becomes one Conv layer with the activation."""
    for build in (lambda: hardswish_model("mul_div"), silu_model):
        m = build()
        program = compile(m, load_config("small"))
        assert [la["op"] for la in program.layers] == ["Conv"]


def _ops_after(m):
    graph = import_model(m)
    fuse_patterns(graph)
    return [n.op for n in graph.nodes()]


def test_no_rewrite_when_an_intermediate_is_read_elsewhere():
    """The Sigmoid's output is also a graph output: the Mul must stay."""
    conv, inits = _conv()
    nodes = [conv, H("Sigmoid", ["c"], ["s"]), H("Mul", ["c", "s"], ["y"])]
    m = model(nodes, {"x": [1, 4, 6, 6]}, {"y": [1, 8, 6, 6], "s": [1, 8, 6, 6]}, inits)
    assert _ops_after(m) == ["Conv", "Sigmoid", "Mul"]


def test_no_rewrite_with_the_wrong_constants():
    m = gelu_erf_model("bert")
    for t in m.graph.initializer:
        if t.name == "sqrt2":
            t.float_data[:] = []
            t.raw_data = np.array(1.3, np.float32).tobytes()
    assert "Gelu" not in _ops_after(m)
    m = hardswish_model("mul_div")
    for t in m.graph.initializer:
        if t.name == "three":
            t.raw_data = np.array(2.0, np.float32).tobytes()
    assert "HardSwish" not in _ops_after(m)


def test_no_layernorm_over_leading_axes():
    """A mean over a non-trailing axis is not a LayerNormalization."""
    m = layernorm_model(True)
    for n in m.graph.node:
        if n.op_type == "ReduceMean":
            n.attribute[0].ints[:] = [1]
    assert "LayerNormalization" not in _ops_after(m)


def _linear_model(bias_shape, act=None):
    mm, inits = _matmul()
    inits["b"] = rand(*bias_shape, seed=5)
    nodes = [mm, H("Add", ["c", "b"], ["a" if act else "y"])]
    if act:
        nodes.append(H(act, ["a"], ["y"]))
    return model(nodes, {"x": [2, 16, 32]}, {"y": [2, 16, 48]}, inits)


@pytest.mark.parametrize("bias_shape", [(48,), (1, 1, 48), (1,)])
def test_linear_bias_and_activation_in_the_matmul_epilogue(bias_shape):
    """MatMul + Add(bias over the last axis) [+ Gelu]: one MatMul layer."""
    for act in (None, "Relu"):
        m = _linear_model(bias_shape, act)
        feeds = {"x": rand(2, 16, 32, seed=2)}
        program, result = simulate(m, True, feeds)
        assert [la["op"] for la in program.layers] == ["MatMul"]
        assert_matches(result.outputs["y"], oracle(m, feeds)["y"], rtol=1e-3, atol=1e-4)


def test_a_bias_over_other_axes_stays_an_add():
    m = _linear_model((16, 48))
    feeds = {"x": rand(2, 16, 32, seed=2)}
    program, result = simulate(m, True, feeds)
    assert [la["op"] for la in program.layers] == ["MatMul", "Add"]
    assert_matches(result.outputs["y"], oracle(m, feeds)["y"], rtol=1e-3, atol=1e-4)


def test_no_rewrite_when_a_constant_broadcasts_the_output_up():
    """Clip(x + 3, 0, 6) / 6 with a (1, 1, 1) three: the output has rank 3, x rank 2, so the
    subgraph is not HardSigmoid(x); it stays as written and still matches onnxruntime."""
    inits = {"three": np.full((1, 1, 1), 3.0, np.float32)} | _consts(zero=0.0, six=6.0)
    nodes = [
        H("Add", ["x", "three"], ["a"]),
        H("Clip", ["a", "zero", "six"], ["r6"]),
        H("Div", ["r6", "six"], ["y"]),
    ]
    m = model(nodes, {"x": [4, 6]}, {"y": [1, 4, 6]}, inits)
    assert _ops_after(m) == ["Add", "Clip", "Div"]
    feeds = {"x": rand(4, 6, seed=1) * np.float32(4)}
    _, result = simulate(m, True, feeds)
    assert_matches(result.outputs["y"], oracle(m, feeds)["y"], rtol=1e-3, atol=1e-6)
