"""int8 layers whose input layouts differ: a channels-last QConv output read by a rank-4
int8 MatMul (QGemm views its input as row-major rows)."""

import pytest
from compiler_helpers import model, rand
from onnx import helper
from qdq_helpers import check_int8, quantize

H = helper.make_node


@pytest.mark.parametrize("hw,relayout", [((6, 7), True), ((3, 3), False)])  # [1,4,1,1]: plain
def test_int8_conv_then_rank4_matmul(hw, relayout):
    oh, ow = hw[0] - 2, hw[1] - 2
    nodes = [H("Conv", ["x", "w", "b"], ["c"]), H("MatMul", ["c", "m"], ["y"])]
    inits = {"w": rand(4, 3, 3, 3, seed=1), "b": rand(4, seed=2), "m": rand(ow, 6, seed=3)}
    m = quantize(model(nodes, {"x": [1, 3, *hw]}, {"y": [1, 4, oh, 6]}, inits))
    _, program = check_int8(m, {"x": rand(1, 3, *hw, seed=4)}, ops={"QConv", "QGemm"})
    assert ("Relayout" in {layer["op"] for layer in program.layers}) == relayout
