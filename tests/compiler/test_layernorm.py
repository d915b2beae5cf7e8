"""LayerNormalization alone, over several axes, and inside a transformer-style block."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from simulator.config import load_config
from simulator.errors import ConfigError, UnsupportedOpError

H = helper.make_node


@pytest.mark.parametrize(
    "shape,axis,bias,eps",
    [
        ([3, 17], -1, True, 1e-5),
        ([2, 5, 33], -1, False, 1e-3),
        ([2, 3, 4, 5], 2, True, 1e-5),
        ([1, 7, 24], 1, True, 1e-6),
    ],
)
def test_layernorm(shape, axis, bias, eps):
    norm = shape[axis:]
    inits = {"s": rand(*norm, seed=1)}
    ins = ["x", "s"]
    if bias:
        inits["b"] = rand(*norm, seed=2)
        ins.append("b")
    node = H("LayerNormalization", ins, ["y"], axis=axis, epsilon=eps)
    m = model([node], {"x": shape}, {"y": shape}, inits)
    check(m, {"x": rand(*shape) * 3 + 1})


def test_layernorm_broadcast_scale_after_matmul_small_preset():
    inits = {"w": rand(24, 40, seed=1), "s": np.array([1.5], np.float32), "b": rand(40, seed=2)}
    nodes = [
        H("MatMul", ["x", "w"], ["h"]),
        H("LayerNormalization", ["h", "s", "b"], ["n"]),
        H("Relu", ["n"], ["y"]),
    ]
    m = model(nodes, {"x": [2, 9, 24]}, {"y": [2, 9, 40]}, inits)
    check(m, {"x": rand(2, 9, 24)}, preset="small")


def test_layernorm_mean_output_rejected():
    inits = {"s": rand(5, seed=1)}
    node = H("LayerNormalization", ["x", "s"], ["y", "mean"], name="ln")
    m = model([node], {"x": [2, 5]}, {"y": [2, 5], "mean": [2, 1]}, inits)
    with pytest.raises(UnsupportedOpError, match=r"ln \(LayerNormalization.*Mean"):
        compiler.compile(m, load_config("tiny"))


def test_layernorm_row_too_long_for_the_scratchpad_is_a_config_error():
    node = H("LayerNormalization", ["x", "s"], ["y"], name="ln")
    m = model([node], {"x": [2, 1000]}, {"y": [2, 1000]}, {"s": rand(1000, seed=1)})
    with pytest.raises(ConfigError, match=r"'ln' \(LayerNormalization\): rows of 1000 elements"):
        compiler.compile(m, load_config("tiny"))
