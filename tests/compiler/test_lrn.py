"""LRN across channels on the vector unit, against onnxruntime."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from simulator.api import run
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

H = helper.make_node


@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("shape", [[1, 7, 5, 6], [2, 3, 4, 4]])
def test_lrn(size, shape):
    node = H("LRN", ["x"], ["y"], size=size, alpha=0.02, beta=0.6, bias=1.5)
    check(model([node], {"x": shape}, {"y": shape}), {"x": rand(*shape)})


@pytest.mark.parametrize("size", [2, 4])
@pytest.mark.parametrize("shape", [[1, 7, 5, 6], [1, 6, 9]])
def test_lrn_even_size_and_3d(size, shape):
    """Cases onnxruntime refuses (even size, 3-D; onnx's reference evaluator only loops over
    the channels < N): against the spec's formula in float64."""
    node = H("LRN", ["x"], ["y"], size=size, alpha=0.02, beta=0.6, bias=1.5)
    m = model([node], {"x": shape}, {"y": shape})
    x = rand(*shape)
    got = run(compiler.compile(m, load_config("tiny")), {"x": x}, checked=True).outputs["y"]
    np.testing.assert_allclose(got, lrn_reference(x, size, 0.02, 0.6, 1.5), rtol=1e-5, atol=1e-6)


def lrn_reference(x, size, alpha, beta, bias):
    """ONNX LRN: the sum of squares over channels [c - floor((size-1)/2), c + ceil(...)]."""
    lo, c = (size - 1) // 2, x.shape[1]
    sq = x.astype(np.float64) ** 2
    s = np.stack([sq[:, max(0, i - lo) : i - lo + size].sum(1) for i in range(c)], 1)
    return x / (bias + alpha / size * s) ** beta


def test_lrn_defaults_many_tiles():
    """Defaults (alpha 1e-4, beta 0.75, bias 1); 40 channels x 81 positions on ``tiny``."""
    shape = [1, 40, 9, 9]
    node = H("LRN", ["x"], ["y"], size=3)
    check(model([node], {"x": shape}, {"y": shape}), {"x": 30 * rand(*shape)})


def test_lrn_between_channels_last_convs():
    nodes = [
        H("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        H("Relu", ["c1"], ["r"]),
        H("LRN", ["r"], ["n"], size=5, alpha=1e-3, beta=0.75, bias=2.0),
        H("Conv", ["n", "w2"], ["y"]),
    ]
    inits = {"w1": rand(12, 3, 3, 3, seed=1), "w2": rand(4, 12, 1, 1, seed=2)}
    m = model(nodes, {"x": [1, 3, 8, 8]}, {"y": [1, 4, 8, 8]}, inits)
    check(m, {"x": rand(1, 3, 8, 8)})


def test_lrn_rank5_rejected():
    node = H("LRN", ["x"], ["y"], size=3, name="lrn")
    m = model([node], {"x": [1, 4, 2, 3, 3]}, {"y": [1, 4, 2, 3, 3]})
    with pytest.raises(UnsupportedOpError, match=r"lrn \(LRN.*rank-5"):
        compiler.compile(m, load_config("tiny"))
