"""Attribute values of supported ops: implemented ones match onnxruntime, others are rejected
with an UnsupportedOpError naming the node and the attribute."""

import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

H = helper.make_node


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("hw,k,s,d", [((7, 8), 3, 2, 1), ((6, 5), 2, 1, 1), ((9, 10), 4, 3, 1)])
def test_conv_auto_pad(auto_pad, hw, k, s, d):
    if auto_pad == "VALID":
        out = [(n - (k - 1) * d - 1) // s + 1 for n in hw]
    else:
        out = [-(-n // s) for n in hw]
    node = H("Conv", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[s, s], dilations=[d, d])
    m = model([node], {"x": [1, 3, *hw]}, {"y": [1, 4, *out]}, {"w": rand(4, 3, k, k, seed=1)})
    check(m, {"x": rand(1, 3, *hw)})


def test_conv_1d_pads_without_strides():
    node = H("Conv", ["x", "w"], ["y"], pads=[2, 1])
    m = model([node], {"x": [1, 3, 9]}, {"y": [1, 4, 10]}, {"w": rand(4, 3, 3, seed=1)})
    check(m, {"x": rand(1, 3, 9)})


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_pool_auto_pad_same_rejected(auto_pad):
    node = H("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad=auto_pad, name="mp")
    m = model([node], {"x": [1, 2, 5, 5]}, {"y": [1, 2, 5, 5]})
    with pytest.raises(UnsupportedOpError, match=r"mp \(MaxPool.*auto_pad"):
        compiler.compile(m, load_config("tiny"))


def _rejects(m, match):
    with pytest.raises(UnsupportedOpError, match=match):
        compiler.compile(m, load_config("tiny"))


def test_gelu_unknown_approximation_rejected():
    m = model(
        [H("Gelu", ["x"], ["y"], approximate="erf", name="g")],
        {"x": [2, 3]},
        {"y": [2, 3]},
        opset=20,
    )
    _rejects(m, r"g \(Gelu.*approximate='erf' is not supported")


def test_maxpool_indices_output_rejected():
    node = H("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], name="mp")
    m = model([node], {"x": [1, 2, 4, 4]}, {"y": [1, 2, 3, 3]})
    _rejects(m, r"mp \(MaxPool.*'i' has dtype int64")


def test_batchnorm_training_mode_rejected():
    c = 3
    inits = {k: rand(c, seed=i) + 2 for i, k in enumerate("sbmv")}
    outs = ["y", "rm", "rv"]
    node = H("BatchNormalization", ["x", "s", "b", "m", "v"], outs, training_mode=1, name="bn")
    m = model(
        [node], {"x": [1, c, 4, 4]}, {"y": [1, c, 4, 4], "rm": [c], "rv": [c]}, inits, opset=15
    )
    _rejects(m, r"bn \(BatchNormalization.*training_mode=1")


@pytest.mark.parametrize("cshape", [[1], [9], [7, 1], [7, 9]])
def test_gemm_activation_c_broadcasts(cshape):
    node = H("Gemm", ["a", "b", "c"], ["y"], transB=1)
    m = model([node], {"a": [7, 5], "c": cshape}, {"y": [7, 9]}, {"b": rand(9, 5, seed=1)})
    check(m, {"a": rand(7, 5), "c": rand(*cshape, seed=2)})
