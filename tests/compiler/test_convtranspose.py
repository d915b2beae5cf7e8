"""ConvTranspose against onnxruntime: strides, pads, output_padding, dilations, groups, 1-D."""

import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

H = helper.make_node


def out_len(n, k, s, d, pb, pe, op):
    return s * (n - 1) + op + (k - 1) * d + 1 - pb - pe


@pytest.mark.parametrize(
    "cin,cout,hw,k,s,pads,op,d,group,bias",
    [
        (4, 3, (5, 6), 2, 2, (0, 0, 0, 0), 0, 1, 1, True),  # the U-Net upsampler
        (3, 5, (4, 5), 3, 2, (1, 1, 1, 1), 1, 1, 1, True),  # output_padding
        (2, 4, (5, 4), 3, 1, (0, 2, 1, 0), 0, 1, 1, False),  # stride 1, asymmetric pads
        (4, 4, (3, 4), 3, 3, (2, 0, 1, 1), 2, 2, 2, True),  # dilation, groups
        (6, 6, (4, 4), 3, 2, (1, 1, 1, 1), 0, 1, 6, True),  # depthwise
        (3, 2, (3, 3), 1, 3, (0, 0, 0, 0), 0, 1, 1, True),  # phases with no taps: bias only
    ],
)
def test_convtranspose(cin, cout, hw, k, s, pads, op, d, group, bias):
    inits = {"w": rand(cin, cout // group, k, k, seed=1)}
    ins = ["x", "w"]
    if bias:
        inits["b"] = rand(cout, seed=2)
        ins.append("b")
    oh = out_len(hw[0], k, s, d, pads[0], pads[2], op)
    ow = out_len(hw[1], k, s, d, pads[1], pads[3], op)
    node = H(
        "ConvTranspose",
        ins,
        ["y"],
        strides=[s, s],
        pads=list(pads),
        output_padding=[op, op],
        dilations=[d, d],
        group=group,
    )
    m = model([node], {"x": [2, cin, *hw]}, {"y": [2, cout, oh, ow]}, inits)
    check(m, {"x": rand(2, cin, *hw, seed=3)})


def test_convtranspose_1d():
    node = H("ConvTranspose", ["x", "w"], ["y"], strides=[2], pads=[1, 0])
    m = model([node], {"x": [1, 3, 7]}, {"y": [1, 4, 14]}, {"w": rand(3, 4, 3, seed=1)})
    check(m, {"x": rand(1, 3, 7)})


def test_conv_then_convtranspose_small_preset():
    inits = {"w": rand(8, 3, 3, 3, seed=1), "t": rand(8, 5, 2, 2, seed=2), "b": rand(5, seed=3)}
    nodes = [
        H("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        H("Relu", ["c"], ["r"]),
        H("ConvTranspose", ["r", "t", "b"], ["y"], strides=[2, 2]),
    ]
    m = model(nodes, {"x": [1, 3, 12, 10]}, {"y": [1, 5, 12, 10]}, inits)
    check(m, {"x": rand(1, 3, 12, 10)}, preset="small")


@pytest.mark.parametrize(
    "attrs,match",
    [
        ({"auto_pad": "SAME_UPPER"}, "auto_pad='SAME_UPPER'"),
        ({"output_shape": [6, 6]}, "output_shape"),
    ],
)
def test_convtranspose_rejections_name_the_attribute(attrs, match):
    node = H("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], name="ct", **attrs)
    m = model([node], {"x": [1, 2, 3, 3]}, {"y": [1, 2, 6, 6]}, {"w": rand(2, 2, 2, 2)})
    with pytest.raises(UnsupportedOpError, match=f"ct \\(ConvTranspose.*{match}"):
        compiler.compile(m, load_config("tiny"))
