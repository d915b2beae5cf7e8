"""Concat, Split, Slice, Pad and Resize alone and after convolutions (channels-last inputs)."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

H = helper.make_node
I64 = np.int64


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat(axis):
    shapes = [[2, 3, 5, 7], [2, 3, 5, 7], [2, 3, 5, 7]]
    shapes[1][axis] = 4
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    ins = {f"x{i}": s for i, s in enumerate(shapes)}
    m = model([H("Concat", list(ins), ["y"], axis=axis)], ins, {"y": out})
    check(m, {k: rand(*s, seed=i) for i, (k, s) in enumerate(ins.items())})


def test_concat_with_a_constant_input():  # a ViT's class token before its patches
    inits = {"cls": rand(1, 1, 8, seed=5)}
    m = model([H("Concat", ["cls", "x"], ["y"], axis=1)], {"x": [1, 6, 8]}, {"y": [1, 7, 8]}, inits)
    check(m, {"x": rand(1, 6, 8)})


def test_concat_of_convolutions_small_preset():
    inits = {"w1": rand(6, 3, 3, 3, seed=1), "w2": rand(5, 3, 1, 1, seed=2)}
    nodes = [
        H("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        H("Conv", ["x", "w2"], ["b"]),
        H("Concat", ["a", "b", "x"], ["c"], axis=1),
        H("Relu", ["c"], ["y"]),
    ]
    m = model(nodes, {"x": [1, 3, 9, 11]}, {"y": [1, 14, 9, 11]}, inits)
    check(m, {"x": rand(1, 3, 9, 11, seed=3)}, preset="small")


@pytest.mark.parametrize(
    "split,attrs,outs",
    [
        ([2, 5], {}, [[3, 2, 6], [3, 5, 6]]),
        (None, {"num_outputs": 3}, [[3, 3, 6], [3, 3, 6], [3, 1, 6]]),
    ],
)
def test_split(split, attrs, outs):
    ins = ["x", "s"] if split else ["x"]
    inits = {"s": np.array(split, I64)} if split else {}
    names = [f"y{i}" for i in range(len(outs))]
    m = model(
        [H("Split", ins, names, axis=1, **attrs)],
        {"x": [3, 7, 6]},
        dict(zip(names, outs, strict=True)),
        inits,
        opset=18,
    )
    check(m, {"x": rand(3, 7, 6)})


def test_split_opset13_equal_parts_then_add():
    nodes = [H("Split", ["x"], ["a", "b"], axis=-1), H("Add", ["a", "b"], ["y"])]
    m = model(nodes, {"x": [4, 10]}, {"y": [4, 5]}, opset=13)
    check(m, {"x": rand(4, 10)})


@pytest.mark.parametrize(
    "starts,ends,axes,steps,out",
    [
        ([1, 2], [4, 9], [1, 2], [1, 3], [2, 3, 3, 5]),
        ([-1], [-100], [3], [-2], [2, 5, 11, 3]),
        ([0, 7], [2, -3], [0, 2], [1, 1], [2, 5, 1, 5]),
        ([4, 3], [0, 2**62], [1, 3], [-1, 1], [2, 4, 11, 2]),
    ],
)
def test_slice(starts, ends, axes, steps, out):
    inits = {
        "s": np.array(starts, I64),
        "e": np.array(ends, I64),
        "a": np.array(axes, I64),
        "k": np.array(steps, I64),
    }
    m = model(
        [H("Slice", ["x", "s", "e", "a", "k"], ["y"])], {"x": [2, 5, 11, 5]}, {"y": out}, inits
    )
    check(m, {"x": rand(2, 5, 11, 5)})


@pytest.mark.parametrize(
    "pads,value,out",
    [
        ([0, 1, 2, 3, 0, 2, 1, 0], 0.0, [2, 6, 8, 8]),
        ([0, 0, -1, 2, 0, 0, 1, -2], 1.5, [2, 3, 5, 5]),
    ],
)
def test_pad(pads, value, out):
    inits = {"p": np.array(pads, I64), "v": np.array(value, np.float32)}
    m = model([H("Pad", ["x", "p", "v"], ["y"])], {"x": [2, 3, 5, 5]}, {"y": out}, inits)
    check(m, {"x": rand(2, 3, 5, 5)})


def test_pad_then_conv_small_preset():
    inits = {"p": np.array([0, 0, 1, 2, 0, 0, 2, 1], I64), "w": rand(4, 3, 3, 3, seed=1)}
    nodes = [H("Conv", ["x", "w"], ["c"]), H("Pad", ["c", "p"], ["y"])]
    m = model(nodes, {"x": [1, 3, 8, 7]}, {"y": [1, 4, 9, 8]}, inits)
    check(m, {"x": rand(1, 3, 8, 7)}, preset="small")


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_pad_graph_input_in_other_modes(mode):  # more in test_indexing.py
    inits = {"p": np.array([0, 1, 0, 1], I64)}
    m = model([H("Pad", ["x", "p"], ["y"], mode=mode)], {"x": [2, 3]}, {"y": [2, 5]}, inits)
    check(m, {"x": rand(2, 3)})


@pytest.mark.parametrize(
    "ctm,nearest,scales,sizes",
    [
        ("asymmetric", "floor", [1, 1, 2, 2], None),
        ("half_pixel", "round_prefer_floor", [1, 1, 2, 3], None),
        ("half_pixel", "round_prefer_ceil", None, [1, 3, 7, 12]),
        ("align_corners", "round_prefer_floor", None, [1, 3, 11, 4]),
        ("asymmetric", "ceil", [1, 1, 0.5, 1.5], None),
        ("pytorch_half_pixel", "floor", None, [1, 3, 1, 9]),
    ],
)
def test_resize_nearest(ctm, nearest, scales, sizes):
    inits = {"s": np.array(scales, np.float32)} if scales else {"z": np.array(sizes, I64)}
    ins = ["x", "", "s"] if scales else ["x", "", "", "z"]
    out = sizes or [int(np.floor(n * s)) for n, s in zip([1, 3, 5, 6], scales, strict=True)]
    node = H(
        "Resize",
        ins,
        ["y"],
        mode="nearest",
        coordinate_transformation_mode=ctm,
        nearest_mode=nearest,
    )
    m = model([node], {"x": [1, 3, 5, 6]}, {"y": out}, inits, opset=13)
    check(m, {"x": rand(1, 3, 5, 6)})


def test_resize_linear_rejected():
    inits = {"s": np.array([1, 1, 2, 2], np.float32)}
    m = model(
        [H("Resize", ["x", "", "s"], ["y"], mode="linear")],
        {"x": [1, 1, 2, 2]},
        {"y": [1, 1, 4, 4]},
        inits,
    )
    with pytest.raises(UnsupportedOpError, match="mode='linear'"):
        compiler.compile(m, load_config("tiny"))


def test_unet_like_upsample_concat_small_preset():
    inits = {"w": rand(4, 3, 3, 3, seed=1), "s": np.array([1, 1, 2, 2], np.float32)}
    nodes = [
        H("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        H("Resize", ["c", "", "s"], ["u"], mode="nearest"),
        H("Slice", ["u", "st", "en", "ax"], ["v"]),
        H("Concat", ["v", "x"], ["y"], axis=1),
    ]
    inits |= {"st": np.array([0], I64), "en": np.array([9], I64), "ax": np.array([3], I64)}
    m = model(nodes, {"x": [1, 3, 10, 9]}, {"y": [1, 7, 10, 9]}, inits)
    check(m, {"x": rand(1, 3, 10, 9)}, preset="small")
