"""Each supported op alone and in combinations, compiled, simulated (checked) and compared."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper

from compiler.check import compare_with_onnxruntime
from compiler.driver import compile
from simulator.config import load_config
from simulator.isa import Vector, VFunc

H = helper.make_node


def conv_model(cin, cout, hw, k, stride=1, pads=(0, 0, 0, 0), group=1, dil=1, batch=1, act=None):
    w = rand(cout, cin // group, k, k, seed=1)
    b = rand(cout, seed=2)
    n = batch
    oh = (hw[0] + pads[0] + pads[2] - dil * (k - 1) - 1) // stride + 1
    ow = (hw[1] + pads[1] + pads[3] - dil * (k - 1) - 1) // stride + 1
    nodes = [
        H(
            "Conv",
            ["x", "w", "b"],
            ["c" if act else "y"],
            strides=[stride] * 2,
            pads=list(pads),
            group=group,
            dilations=[dil] * 2,
        )
    ]
    if act:
        nodes.append(H(act, ["c"], ["y"]))
    m = model(nodes, {"x": [n, cin, *hw]}, {"y": [n, cout, oh, ow]}, {"w": w, "b": b})
    return m, {"x": rand(n, cin, *hw, seed=3)}


@pytest.mark.parametrize(
    "cin,cout,hw,k,stride,pads,group,dil,batch",
    [
        (3, 8, (9, 9), 3, 1, (1, 1, 1, 1), 1, 1, 1),
        (5, 7, (11, 10), 3, 2, (0, 1, 1, 0), 1, 1, 1),  # odd channels, stride 2, asymmetric pads
        (6, 6, (8, 8), 3, 1, (1, 1, 1, 1), 6, 1, 1),  # depthwise
        (8, 4, (7, 7), 3, 1, (2, 2, 2, 2), 2, 2, 2),  # groups, dilation, batch 2
        (16, 20, (6, 6), 1, 1, (0, 0, 0, 0), 1, 1, 1),
        (4, 4, (12, 12), 5, 2, (2, 2, 2, 2), 1, 1, 1),
    ],
)
def test_conv(cin, cout, hw, k, stride, pads, group, dil, batch):
    m, inputs = conv_model(cin, cout, hw, k, stride, pads, group, dil, batch)
    check(m, inputs)


@pytest.mark.parametrize("act", ["Relu", "Sigmoid", "Tanh", "HardSwish"])
def test_conv_fused_activation(act):
    m, inputs = conv_model(3, 5, (6, 6), 3, 1, (1, 1, 1, 1), act=act)
    check(m, inputs)


def test_conv_bn_relu_residual_block():
    c = 6
    inits = {"w1": rand(c, c, 3, 3, seed=1), "w2": rand(c, c, 1, 1, seed=2)}
    for k, v in zip(
        "sbmv",
        [rand(c, seed=4) + 2, rand(c, seed=5), rand(c, seed=6), np.abs(rand(c, seed=7)) + 0.5],
        strict=True,
    ):
        inits[f"bn_{k}"] = v
    nodes = [
        H("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        H("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["b1"]),
        H("Relu", ["b1"], ["r1"]),
        H("Conv", ["r1", "w2"], ["c2"]),
        H("Add", ["c2", "x"], ["s"]),
        H("Relu", ["s"], ["y"]),
    ]
    m = model(nodes, {"x": [1, c, 7, 7]}, {"y": [1, c, 7, 7]}, inits)
    check(m, {"x": rand(1, c, 7, 7, seed=9)}, atol=1e-3)


def test_classifier_head():
    nodes = [
        H("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        H("Relu", ["c"], ["r"]),
        H("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        H("GlobalAveragePool", ["p"], ["g"]),
        H("Flatten", ["g"], ["f"]),
        H("Gemm", ["f", "fw", "fb"], ["l"], transB=1),
        H("Softmax", ["l"], ["y"]),
    ]
    inits = {"w": rand(12, 3, 3, 3, seed=1), "fw": rand(10, 12, seed=2), "fb": rand(10, seed=3)}
    m = model(nodes, {"x": [2, 3, 8, 8]}, {"y": [2, 10]}, inits)
    check(m, {"x": rand(2, 3, 8, 8, seed=4)})


@pytest.mark.parametrize(
    "ta,tb,alpha,beta", [(0, 0, 1.0, 1.0), (1, 0, 0.5, 2.0), (0, 1, 1.0, 0.5), (1, 1, 2.0, 1.0)]
)
def test_gemm(ta, tb, alpha, beta):
    a = [13, 7] if ta else [7, 13]
    b = [9, 13] if tb else [13, 9]
    nodes = [H("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=alpha, beta=beta)]
    m = model(nodes, {"a": a}, {"y": [7, 9]}, {"b": rand(*b, seed=1), "c": rand(9, seed=2)})
    check(m, {"a": rand(*a, seed=3)})


@pytest.mark.parametrize(
    "ashape,bshape,const",
    [
        ([5, 7], [7, 3], True),
        ([2, 5, 7], [7, 6], True),
        ([2, 4, 5], [2, 5, 3], False),
        ([3, 4, 5], [1, 5, 2], False),
    ],
)
def test_matmul(ashape, bshape, const):
    out = list(np.broadcast_shapes(tuple(ashape[:-2]), tuple(bshape[:-2]))) + [
        ashape[-2],
        bshape[-1],
    ]
    if const:
        m = model(
            [H("MatMul", ["a", "b"], ["y"])],
            {"a": ashape},
            {"y": out},
            {"b": rand(*bshape, seed=1)},
        )
        inputs = {"a": rand(*ashape, seed=2)}
    else:
        m = model([H("MatMul", ["a", "b"], ["y"])], {"a": ashape, "b": bshape}, {"y": out})
        inputs = {"a": rand(*ashape, seed=2), "b": rand(*bshape, seed=3)}
    check(m, inputs)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("bshape", [[2, 3, 4, 5], [3, 1, 1], [5], [1]])
def test_binary_broadcast(op, bshape):
    m = model([H(op, ["a", "b"], ["y"])], {"a": [2, 3, 4, 5], "b": bshape}, {"y": [2, 3, 4, 5]})
    b = rand(*bshape, seed=1)
    if op == "Div":
        b = np.abs(b) + 0.5
    check(m, {"a": rand(2, 3, 4, 5), "b": b})


@pytest.mark.parametrize(
    "op,attrs",
    [
        ("Relu", {}),
        ("Sigmoid", {}),
        ("Tanh", {}),
        ("Erf", {}),
        ("Exp", {}),
        ("HardSwish", {}),
        ("LeakyRelu", {"alpha": 0.2}),
        ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
        ("Gelu", {}),
    ],
)
def test_unary(op, attrs):
    opset = 20 if op == "Gelu" else 17
    m = model([H(op, ["x"], ["y"], **attrs)], {"x": [3, 17]}, {"y": [3, 17]}, opset=opset)
    check(m, {"x": rand(3, 17)})


def test_sqrt_pow_clip():
    nodes = [H("Abs", ["x"], ["a"])] if False else []
    nodes = [
        H("Clip", ["x", "lo", "hi"], ["c"]),
        H("Sqrt", ["c"], ["s"]),
        H("Pow", ["s", "p"], ["y"]),
    ]
    inits = {
        "lo": np.array(0.1, np.float32),
        "hi": np.array(6.0, np.float32),
        "p": np.array(1.5, np.float32),
    }
    m = model(nodes, {"x": [4, 9]}, {"y": [4, 9]}, inits)
    check(m, {"x": rand(4, 9)})


@pytest.mark.parametrize(
    "op,k,s,pads",
    [
        ("MaxPool", 3, 2, (1, 1, 1, 1)),
        ("AveragePool", 2, 2, (0, 0, 0, 0)),
        ("AveragePool", 3, 1, (1, 0, 1, 1)),
    ],
)
def test_pool(op, k, s, pads):
    oh = (9 + pads[0] + pads[2] - k) // s + 1
    ow = (9 + pads[1] + pads[3] - k) // s + 1
    m = model(
        [H(op, ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=list(pads))],
        {"x": [2, 5, 9, 9]},
        {"y": [2, 5, oh, ow]},
    )
    check(m, {"x": rand(2, 5, 9, 9)})


@pytest.mark.parametrize(
    "k, s, d, pads",
    [
        (3, 2, 1, (1, 1, 1, 1)),
        (3, 1, 1, (0, 1, 2, 0)),
        (3, 2, 2, (2, 2, 2, 2)),
        (2, 3, 1, (0, 0, 0, 0)),
    ],
)
def test_maxpool_rows_then_columns(k, s, d, pads):
    """Max windows run as the maxima of each patch row, then of kh of those rows, when that
    makes the tiles faster: with DRAM fast enough for the vector unit to bound the pool
    (here 256 B/cycle), fewer MAX elements than the window's COPY and kh kw - 1 MAXes (unless
    dilated with short row tiles: a halo that is most of the patch); with slow DRAM (2
    B/cycle, where the separable pass's extra row buffer only shortens the tiles and adds
    halo) the window's passes. Exact either way (max in any order): both match onnxruntime."""
    h = w = 13
    oh = (h + pads[0] + pads[2] - d * (k - 1) - 1) // s + 1
    ow = (w + pads[1] + pads[3] - d * (k - 1) - 1) // s + 1
    node = H("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s], pads=list(pads),
             dilations=[d, d])  # fmt: skip
    m = model([node], {"x": [1, 8, h, w]}, {"y": [1, 8, oh, ow]})
    per_output = {}
    for bw in (256.0, 2.0):
        config = load_config("tiny", {"dram.bytes_per_cycle": bw})
        errors, _ = compare_with_onnxruntime(m, config, {"x": rand(1, 8, h, w)})
        assert all(e.passed for e in errors)
        program = compile(m, config)
        maxes = [i for i in program.instructions if isinstance(i, Vector)]
        assert {VFunc(i.func) for i in maxes} <= {VFunc.MAX, VFunc.COPY}
        per_output[bw] = sum(i.n0 * i.n1 * i.n2 for i in maxes) / (8 * oh * ow)
    # measured 5.2 (3 x 3 stride 2), 6.9 (stride 1), 3.75 (2 x 2 stride 3)
    assert (per_output[256.0] < k * k) == (d == 1), per_output
    assert per_output[2.0] == k * k, per_output


def test_softmax_reducemean_transpose():
    nodes = [
        H("Softmax", ["x"], ["s"], axis=1),
        H("Transpose", ["s"], ["t"], perm=[0, 2, 1]),
        H("ReduceMean", ["t"], ["y"], axes=[2], keepdims=1),
    ]
    m = model(nodes, {"x": [2, 6, 5]}, {"y": [2, 5, 1]}, opset=17)
    check(m, {"x": rand(2, 6, 5)})


def test_attention_block():
    d, s = 8, 6
    nodes = [
        H("MatMul", ["x", "wq"], ["q"]),
        H("MatMul", ["x", "wk"], ["k"]),
        H("MatMul", ["x", "wv"], ["v"]),
        H("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        H("MatMul", ["q", "kt"], ["a"]),
        H("Mul", ["a", "scale"], ["as"]),
        H("Softmax", ["as"], ["p"], axis=-1),
        H("MatMul", ["p", "v"], ["y"]),
    ]
    inits = {
        "wq": rand(d, d, seed=1),
        "wk": rand(d, d, seed=2),
        "wv": rand(d, d, seed=3),
        "scale": np.array(d**-0.5, np.float32),
    }
    m = model(nodes, {"x": [2, s, d]}, {"y": [2, s, d]}, inits)
    check(m, {"x": rand(2, s, d, seed=4)})
