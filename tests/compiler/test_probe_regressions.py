"""Internal errors scripts/probe_errors.py found (a model onnxruntime runs that stopped the
compiler with something other than a one-line NpuError), each now compiled and checked."""

from compiler_helpers import check, model, rand
from onnx import helper

H = helper.make_node


def test_a_chain_of_identities_is_removed_whole():
    """x -> Identity -> Identity -> Relu (as ONNX's expanded Attention writes K): removing the
    first rewired the second, which then rewired the Relu from its stale copy to a tensor
    already gone ("reads undefined tensor", an AssertionError)."""
    nodes = [
        H("Identity", ["x"], ["a"]),
        H("Identity", ["a"], ["b"]),
        H("Relu", ["b"], ["y"]),
        H("Shape", ["a"], ["s"]),
    ]
    m = model(nodes, {"x": [2, 3]}, {"y": [2, 3]})
    check(m, {"x": rand(2, 3, seed=1)})
