"""Gemm's C with unidirectional broadcasting, constant or an activation, scaled by beta."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper

H = helper.make_node
SHAPES = [[], [1], [9], [1, 9], [1, 1], [7, 1], [7, 9]]


@pytest.mark.parametrize("cshape", SHAPES)
@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_gemm_constant_c(cshape, beta):
    node = H("Gemm", ["a", "b", "c"], ["y"], beta=beta)
    inits = {"b": rand(5, 9, seed=1), "c": np.asarray(rand(*cshape, seed=2))}
    check(model([node], {"a": [7, 5]}, {"y": [7, 9]}, inits), {"a": rand(7, 5)})


@pytest.mark.parametrize("cshape", SHAPES)
def test_gemm_activation_c(cshape):
    node = H("Gemm", ["a", "b", "c"], ["y"], transA=1)
    m = model([node], {"a": [5, 7], "c": cshape}, {"y": [7, 9]}, {"b": rand(5, 9, seed=1)})
    check(m, {"a": rand(5, 7), "c": np.asarray(rand(*cshape, seed=2))})


@pytest.mark.parametrize("const", [True, False])
def test_gemm_square_column_c_is_not_a_row(const):
    """A [N, 1] C with M == N adds per row, not per column."""
    node = H("Gemm", ["a", "b", "c"], ["y"])
    c = rand(6, 1, seed=2)
    inits = {"b": rand(4, 6, seed=1), **({"c": c} if const else {})}
    ins = {"a": [6, 4], **({} if const else {"c": [6, 1]})}
    feeds = {"a": rand(6, 4), **({} if const else {"c": c})}
    check(model([node], ins, {"y": [6, 6]}, inits), feeds)


def test_gemm_c_with_relu_and_activation_b():
    nodes = [H("Gemm", ["a", "b", "c"], ["g"], transB=1), H("Relu", ["g"], ["y"])]
    m = model(nodes, {"a": [7, 5], "b": [9, 5]}, {"y": [7, 9]}, {"c": rand(7, 1, seed=2)})
    check(m, {"a": rand(7, 5), "b": rand(9, 5, seed=1)})
