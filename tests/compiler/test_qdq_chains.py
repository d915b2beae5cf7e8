"""int8 element-wise chains through inner QuantizeLinear -> DequantizeLinear pairs, as
onnxruntime's quantize_static writes hard-swish (HardSigmoid, Q, DQ, Mul with the input) and
SiLU (Sigmoid, Q, DQ, Mul): one QEltwise vector pass that keeps the inner int8 value in the
scratchpad (no DRAM round trip, no standalone DEQUANT/QUANT), compared with onnxruntime in
output steps (exact: the QDQ graph's own arithmetic, the lone Mul as QLinearMul's)."""

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import TensorProto, helper
from qdq_helpers import check_int8, layer_with, quantize
from test_qdq import lowered_ir, qdq_model

from simulator.isa import Vector, VFunc

H = helper.make_node
STANDALONE = {"QuantizeLinear", "DequantizeLinear", "QMul", "HardSigmoid", "Sigmoid", "Mul"}


def conv_act(act: str, c=8, hw=9):
    """x -> Conv 3x3 -> act(y) * y (or HardSwish(y)) -> Conv 1x1: the activation between two
    integer convolutions, as MobileNetV3 and EfficientNet have it."""
    gate = {"HardSigmoid": H("HardSigmoid", ["y"], ["g"], alpha=1 / 6, beta=0.5)}
    nodes = [H("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    if act == "HardSwish":
        nodes.append(H("HardSwish", ["y"], ["h"]))
    else:
        nodes += [gate.get(act) or H(act, ["y"], ["g"]), H("Mul", ["y", "g"], ["h"])]
    nodes.append(H("Conv", ["h", "w2"], ["out"]))
    inits = {"w": rand(c, 3, 3, 3, seed=1), "w2": rand(4, c, 1, 1, seed=2)}
    return model(nodes, {"x": [1, 3, hw, hw]}, {"out": [1, 4, hw, hw]}, inits)


def _quantised(act):
    return quantize(conv_act(act))


@pytest.mark.parametrize("act", ["HardSigmoid", "Sigmoid", "HardSwish"])
def test_activation_between_convs_is_one_int8_pass(act):
    m = _quantised(act)
    graph = lowered_ir(m)
    ops = [n.op for n in graph.nodes()]
    assert not STANDALONE & set(ops[1:-1]), ops  # only the graph's own input Q / output DQ
    (chain,) = [n for n in graph.nodes() if n.op == "QEltwise"]
    assert graph.type(chain.inputs[0]).dtype == graph.type(chain.outputs[0]).dtype == "int8"
    inputs = {"x": rand(1, 3, 9, 9, seed=3)}
    _, program = check_int8(m, inputs, max_steps=0.0)
    conv = layer_with(program, chain.name)  # a function of one int8 tensor: a LUT in the
    assert conv["op"] == "QConv"  # first conv's epilogue, after its REQUANT
    assert _vector_funcs(program, conv["name"])[-2:] == [VFunc.REQUANT_BIAS, VFunc.LUT]


def _vector_funcs(program, layer: str) -> list[VFunc]:
    """The distinct vector functions of one layer, in order."""
    index = program.nodes.index(layer)
    funcs = [
        VFunc(i.func)
        for i, n in zip(program.instructions, program.node_of, strict=True)
        if n == index and isinstance(i, Vector)
    ]
    return list(dict.fromkeys(funcs))


def test_chain_of_two_int8_tensors_runs_its_steps():
    """Mul of two different int8 activations after a Sigmoid: no table (two inputs), the
    steps themselves (DEQUANT, SIGMOID, QUANT, then the integer product and REQUANT)."""
    nodes = [
        H("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
        H("Conv", ["x", "w2"], ["z"], pads=[1, 1, 1, 1]),
        H("Sigmoid", ["y"], ["g"]),
        H("Mul", ["z", "g"], ["out"]),
    ]
    inits = {"w": rand(4, 3, 3, 3, seed=1), "w2": rand(4, 3, 3, 3, seed=2)}
    m = quantize(model(nodes, {"x": [1, 3, 6, 6]}, {"out": [1, 4, 6, 6]}, inits))
    (chain,) = [n for n in lowered_ir(m).nodes() if n.op == "QEltwise"]
    _, program = check_int8(m, {"x": rand(1, 3, 6, 6, seed=3)}, max_steps=0.0)
    want = [VFunc.DEQUANT, VFunc.SIGMOID, VFunc.QUANT, VFunc.ADD_IMM, VFunc.MUL, VFunc.REQUANT]
    assert _vector_funcs(program, chain.name) == want


def test_inner_pair_is_a_quant_step_and_the_lone_mul_an_integer_product():
    """Sigmoid, [Q, DQ], Mul(y, .), [Q]: the Sigmoid's quantisation stays (the QDQ graph rounds
    there); the Mul alone between quantisations is QLinearMul's integer product."""
    graph = lowered_ir(_quantised("Sigmoid"))
    (chain,) = [n for n in graph.nodes() if n.op == "QEltwise"]
    program = chain.attr("program")
    assert [s.func for s in program] == [VFunc.SIGMOID, VFunc.QUANT, VFunc.MUL]
    assert program[1].quant is not None and program[2].word is not None
    word = graph.constants[chain.inputs[program[2].word]]
    assert word.dtype == np.int32 and word.shape == (1,)


def test_chain_does_not_widen_past_an_inner_pair():
    """A squeeze-excite gate ([1, C, 1, 1]) times the map ([1, C, H, W]): the gate's pass
    stays at the gate's size and the broadcasting Mul is a QMul (no per-pixel recompute)."""
    nodes = [
        H("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
        H("GlobalAveragePool", ["y"], ["p"]),
        H("Conv", ["p", "w2"], ["s"]),
        H("HardSigmoid", ["s"], ["g"], alpha=1 / 6, beta=0.5),
        H("Mul", ["y", "g"], ["out"]),
    ]
    inits = {"w": rand(8, 3, 3, 3, seed=1), "w2": rand(8, 8, 1, 1, seed=2)}
    m = quantize(model(nodes, {"x": [1, 3, 6, 6]}, {"out": [1, 8, 6, 6]}, inits))
    graph = lowered_ir(m)
    (gate,) = [n for n in graph.nodes() if n.op == "QEltwise"]
    assert graph.type(gate.outputs[0]).shape == (1, 8, 1, 1)
    assert [n for n in graph.nodes() if n.op == "QMul"]
    _, program = check_int8(m, {"x": rand(1, 3, 6, 6, seed=3)}, max_steps=0.0, ops={"QMul"})
    assert layer_with(program, gate.name)["op"] == "QConv"  # a LUT in the gate conv's epilogue


def test_chain_stops_at_its_last_quantisation_when_it_cannot_go_on():
    """Sigmoid -> [Q, DQ] -> Mul by a float graph input (neither int8 nor constant): the chain
    ends at the Sigmoid's Q (DEQUANT, SIGMOID, QUANT in one pass); the Mul runs in float."""
    nodes = [
        H("DequantizeLinear", ["qa", "s", "zp"], ["a"]),
        H("Sigmoid", ["a"], ["g"]),
        H("QuantizeLinear", ["g", "s2", "zp"], ["gq"]),
        H("DequantizeLinear", ["gq", "s2", "zp"], ["gd"]),
        H("Mul", ["gd", "f"], ["y"]),
    ]
    consts = {"s": np.float32(0.05), "s2": np.float32(1 / 255), "zp": np.int8(-128)}
    ins = {"qa": (TensorProto.INT8, [3, 7]), "f": (TensorProto.FLOAT, [3, 7])}
    m = qdq_model(nodes, ins, {"y": (TensorProto.FLOAT, [3, 7])}, consts)
    graph = lowered_ir(m)
    (chain,) = [n for n in graph.nodes() if n.op == "QEltwise"]
    assert [s.func for s in chain.attr("program")] == [VFunc.SIGMOID, VFunc.QUANT]
    assert [n.op for n in graph.nodes() if n.op == "Mul"] == ["Mul"]
    rng = np.random.default_rng(3)
    inputs = {"qa": rng.integers(-128, 128, (3, 7)).astype(np.int8), "f": rand(3, 7, seed=4)}
    check(m, inputs)


@pytest.mark.parametrize("ops", [["Mul"], ["Mul", "Sub"]])
def test_per_channel_constants_after_an_int8_matmul_run_in_its_epilogue(ops):
    """MatMul then element-wise ops with a constant per output channel (a scale, a shift),
    as a QEltwise after the QGemm (through the Reshapes of its 3-D input): its steps
    (DEQUANT, the ops with a word per channel, QUANT) run on the QGemm's REQUANTised tile,
    bit for bit, and its input is never stored."""
    nodes, x, inits = [H("MatMul", ["x", "w"], ["m0"])], "m0", {"w": rand(24, 40, seed=1)}
    for i, op in enumerate(ops):
        y = "y" if i == len(ops) - 1 else f"m{i + 1}"
        nodes.append(H(op, [x, f"c{i}"], [y]))
        inits[f"c{i}"], x = rand(40, seed=2 + i) + 2, y
    m = quantize(model(nodes, {"x": [2, 6, 24]}, {"y": [2, 6, 40]}, inits))
    graph = lowered_ir(m)
    (elt,) = [n for n in graph.nodes() if n.op == "QEltwise"]
    _, program = check_int8(m, {"x": rand(2, 6, 24, seed=3)}, max_steps=0.0)
    gemm = layer_with(program, elt.name)
    assert gemm["op"] == "QGemm" and "QEltwise" not in {la["op"] for la in program.layers}
    funcs = _vector_funcs(program, gemm["name"])
    assert funcs[:2] == [VFunc.REQUANT_BIAS, VFunc.DEQUANT] and VFunc.QUANT in funcs
