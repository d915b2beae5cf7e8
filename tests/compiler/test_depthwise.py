"""Depthwise convolutions (lowered on the vector unit): strides, dilations, pads, fused
bias/BatchNorm/ReLU6, 1-D, channel blocks when the channels do not fit."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper
from test_ops import conv_model

import compiler
from simulator.config import load_config

H = helper.make_node


@pytest.mark.parametrize(
    "c,hw,k,stride,pads,dil,preset",
    [
        (6, (9, 8), 3, 1, (1, 1, 1, 1), 1, "tiny"),
        (5, (11, 12), 3, 2, (0, 1, 1, 0), 1, "tiny"),
        (4, (10, 10), 3, 1, (2, 2, 2, 2), 2, "tiny"),
        (96, (14, 13), 5, 2, (2, 2, 2, 2), 1, "tiny"),  # channel blocks on tiny
        (32, (17, 15), 3, 1, (1, 1, 1, 1), 1, "small"),
    ],
)
def test_depthwise(c, hw, k, stride, pads, dil, preset):
    m, inputs = conv_model(c, c, hw, k, stride, pads, group=c, dil=dil)
    check(m, inputs, preset=preset)


def test_depthwise_bn_relu6_block_is_on_the_vector_unit():
    c = 8
    inits = {
        "w": rand(c, 1, 3, 3, seed=1),
        "s": rand(c, seed=2) + 2,
        "b": rand(c, seed=3),
        "m": rand(c, seed=4),
        "v": np.abs(rand(c, seed=5)) + 0.5,
        "lo": np.array(0.0, np.float32),
        "hi": np.array(6.0, np.float32),
    }
    nodes = [
        H("Conv", ["x", "w"], ["a"], group=c, pads=[1, 1, 1, 1]),
        H("BatchNormalization", ["a", "s", "b", "m", "v"], ["n"]),
        H("Clip", ["n", "lo", "hi"], ["y"]),
    ]
    m = model(nodes, {"x": [1, c, 7, 9]}, {"y": [1, c, 7, 9]}, inits)
    check(m, {"x": rand(1, c, 7, 9, seed=6)})
    program = compiler.compile(m, load_config("tiny"))
    assert "vector unit" in program.layers[-1]["tiling"]


def test_depthwise_1d():
    nodes = [H("Conv", ["x", "w"], ["y"], group=4, pads=[1, 1])]
    m = model(nodes, {"x": [1, 4, 10]}, {"y": [1, 4, 10]}, {"w": rand(4, 1, 3, seed=1)})
    check(m, {"x": rand(1, 4, 10)})
