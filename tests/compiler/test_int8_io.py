"""CompileOptions(int8_io=True): a QDQ model's input QuantizeLinear and output DequantizeLinear
stay on the host (the program takes and returns int8 with scale and zero point in the
manifest); CompileOptions(integer_avgpool=True): int8 average pools in integer arithmetic.
Each checked against onnxruntime on the float model, the host doing the (de)quantisation."""

import numpy as np
import pytest
from compiler_helpers import model, rand
from onnx import helper
from qdq_helpers import quantize
from test_qdq_integer import qpool_model

from compiler.check import reference
from compiler.driver import CompileOptions, compile
from compiler.partition import compile_model
from simulator.api import run
from simulator.config import load_config
from simulator.isa import DType, Vector, VFunc
from simulator.program import program_from_bytes, program_to_bytes
from simulator.semantics import dequantize
from simulator.semantics import quantize as host_quantize

H = helper.make_node
INT8_IO = CompileOptions(int8_io=True)
FLOAT_FUNCS = {VFunc.QUANT, VFunc.DEQUANT, VFunc.DIV}


def funcs(program) -> set[VFunc]:
    return {VFunc(i.func) for i in program.instructions if isinstance(i, Vector)}


def mlp():
    """x -> Flatten -> Gemm -> Relu -> Gemm: quantised, its input Q after the Flatten."""
    nodes = [
        H("Flatten", ["x"], ["f"]),
        H("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
        H("Relu", ["h"], ["r"]),
        H("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
    ]
    inits = {"w1": rand(16, 48, seed=1), "b1": rand(16, seed=2)}
    inits |= {"w2": rand(10, 16, seed=3), "b2": rand(10, seed=4)}
    return quantize(model(nodes, {"x": [2, 3, 4, 4]}, {"y": [2, 10]}, inits))


def run_int8_io(m, program, feeds):
    """Quantise the float inputs as the host does, run, dequantise the outputs."""
    q = {}
    for name, x in feeds.items():
        info = program.tensors[name]
        q[name] = host_quantize(x, info.scale, info.zero_point, DType[info.dtype.upper()])
    got = run(program, q, checked=True).outputs
    deq = {}
    for name, y in got.items():
        info = program.tensors[name]
        deq[name] = dequantize(y, info.scale, info.zero_point)
    return got, deq


def test_int8_io_keeps_the_int8_interface_and_matches_onnxruntime_exactly():
    m = mlp()
    program = compile(m, load_config("tiny"), INT8_IO)
    x, y = program.tensors["x"], program.tensors["y"]
    assert (x.dtype, x.shape, y.dtype, y.shape) == ("int8", (2, 3, 4, 4), "int8", (2, 10))
    assert x.scale > 0 and y.scale > 0 and -128 <= x.zero_point <= 127
    assert not funcs(program) & FLOAT_FUNCS
    assert funcs(compile(m, load_config("tiny"))) >= {VFunc.QUANT, VFunc.DEQUANT}
    for seed in range(3):
        feeds = {"x": rand(2, 3, 4, 4, seed=10 + seed)}
        _, deq = run_int8_io(m, program, feeds)
        np.testing.assert_array_equal(deq["y"], reference(m, feeds)["y"])


def test_int8_io_residual_of_the_graph_input():
    """x -> conv -> relu -> conv -> + x -> relu: the residual QAdd fused into the second QConv
    reads x itself once int8_io has left x's QuantizeLinear to the host (it was a KeyError:
    the fused node's attribute kept the old name). Integers only: one QADD, no float work."""
    c, hw = 8, (6, 5)
    nodes = [
        H("Conv", ["x", "w1", "b1"], ["a"], pads=[1, 1, 1, 1]),
        H("Relu", ["a"], ["r"]),
        H("Conv", ["r", "w2", "b2"], ["c"], pads=[1, 1, 1, 1]),
        H("Add", ["c", "x"], ["s"]),
        H("Relu", ["s"], ["y"]),
    ]
    inits = {"w1": rand(c, c, 3, 3, seed=1), "b1": rand(c, seed=2)}
    inits |= {"w2": rand(c, c, 3, 3, seed=3), "b2": rand(c, seed=4)}
    m = quantize(model(nodes, {"x": [1, c, *hw]}, {"y": [1, c, *hw]}, inits))
    program = compile(m, load_config("tiny"), INT8_IO)
    assert VFunc.QADD in funcs(program) and not funcs(program) & FLOAT_FUNCS
    assert [layer["op"] for layer in program.layers] == ["QConv", "QConv"]
    feeds = {"x": rand(1, c, *hw, seed=5)}
    _, deq = run_int8_io(m, program, feeds)
    want, scale = reference(m, feeds)["y"], program.tensors["y"].scale
    assert np.abs(deq["y"] - want).max() <= scale * 1.0001


def test_int8_io_compiles_the_whole_model_for_the_npu():
    program = compile_model(mlp(), load_config("tiny"), INT8_IO)
    assert program.tensors["x"].dtype == "int8"
    assert program.tensors["y"].zero_point is not None
    again = program_from_bytes(program_to_bytes(program))  # the manifest keeps them
    assert again.tensors["x"] == program.tensors["x"]
    assert again.tensors["y"] == program.tensors["y"]


def test_a_float_model_is_unchanged_by_int8_io():
    m = model([H("Relu", ["x"], ["y"])], {"x": [4, 8]}, {"y": [4, 8]})
    program = compile(m, load_config("tiny"), INT8_IO)
    assert program.tensors["x"].dtype == program.tensors["y"].dtype == "float32"


@pytest.mark.parametrize(
    "attrs",
    [
        dict(kernel_shape=[2, 2], strides=[2, 2]),
        dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1], count_include_pad=1),
    ],
)
def test_integer_avgpool_is_within_one_step_of_qlinearaveragepool(attrs):
    """Window sums in int32, REQUANT by s_x / (s_y * count): no float vector work, within one
    output step of onnxruntime (which divides in fp32; ties and near-ties round apart)."""
    out = [2, 5, 4, 4]
    m, inputs = qpool_model("AveragePool", [2, 5, 9, 8], out, scales=(0.037, 0.029), **attrs)
    program = compile(m, load_config("tiny"), CompileOptions(integer_avgpool=True))
    assert not funcs(program) & FLOAT_FUNCS
    assert VFunc.REQUANT in funcs(program)
    got = run(program, inputs, checked=True).outputs["y"].astype(np.int64)
    want = reference(m, inputs)["y"].astype(np.int64)
    assert np.abs(got - want).max() <= 1
    assert np.mean(got == want) > 0.9


def test_integer_avgpool_leaves_a_pool_with_varying_window_sizes_in_fp32():
    attrs = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1], count_include_pad=0)
    m, inputs = qpool_model("AveragePool", [2, 5, 9, 8], [2, 5, 4, 4], **attrs)
    program = compile(m, load_config("tiny"), CompileOptions(integer_avgpool=True))
    assert VFunc.DIV in funcs(program)
    got = run(program, inputs, checked=True).outputs["y"]
    np.testing.assert_array_equal(got, reference(m, inputs)["y"])
