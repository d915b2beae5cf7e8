"""A QAdd fused after the REQUANT of the QConv before it (``fusion.fuse_qadd``): the same
vector steps on the tile in the scratchpad, so the outputs equal the unfused program's bit
for bit, in fewer cycles; and the cases it must leave alone."""

import numpy as np
import pytest
from compiler_helpers import model, rand
from onnx import helper
from qdq_helpers import check_int8, check_int8_outputs, quantize

from compiler import driver
from compiler.check import reference
from compiler.driver import compile
from simulator.api import run
from simulator.config import load_config
from simulator.isa import Vector, VFunc

H = helper.make_node
C, HW = 8, (6, 5)


def _conv(x, y, name, group=1):
    return H("Conv", [x, f"{name}w", f"{name}b"], [y], pads=[1, 1, 1, 1], group=group)


def _inits(name, cin, cout, group=1, seed=1):
    return {
        f"{name}w": rand(cout, cin // group, 3, 3, seed=seed),
        f"{name}b": rand(cout, seed=seed),
    }


def _block(extra_out=False, group=1, relu=True):
    """x -> conv -> relu -> conv (groups) -> + x [-> relu]; ``extra_out``: the second conv's
    output is a graph output too (so its QAdd cannot take it)."""
    nodes = [
        _conv("x", "a", "c1"),
        H("Relu", ["a"], ["r"]),
        _conv("r", "b", "c2", group),
        H("Add", ["b", "x"], ["s" if relu else "y"]),
    ]
    if relu:
        nodes.append(H("Relu", ["s"], ["y"]))
    outs = {"y": [2, C, *HW]} | ({"b": [2, C, *HW]} if extra_out else {})
    inits = _inits("c1", C, C) | _inits("c2", C, C, group, seed=2)
    return quantize(model(nodes, {"x": [2, C, *HW]}, outs, inits))


def _unfused(monkeypatch):
    passes = [(n, (lambda g: None) if n == "fuse_qadd" else f) for n, f in driver.PASSES]
    monkeypatch.setattr(driver, "PASSES", passes)


def _simulate(m, inputs):
    program = compile(m, load_config("tiny"))
    result = run(program, inputs, checked=True)
    return program, result.outputs, result.stats.total_cycles


@pytest.mark.parametrize("relu", [True, False])
def test_fused_qadd_is_bit_exact_and_faster(monkeypatch, relu):
    m, inputs = _block(relu=relu), {"x": rand(2, C, *HW, seed=5)}
    fused, got, cycles = _simulate(m, inputs)
    ops = [layer["op"] for layer in fused.layers]
    assert "QAdd" not in ops and ops.count("QConv") == 2
    _unfused(monkeypatch)
    plain, want, plain_cycles = _simulate(m, inputs)
    assert "QAdd" in [layer["op"] for layer in plain.layers]
    assert np.array_equal(got["y"], want["y"])
    assert cycles < plain_cycles


def test_qadd_stays_when_the_conv_output_is_also_read():
    m = _block(extra_out=True)
    check_int8(m, {"x": rand(2, C, *HW, seed=5)}, min_exact=0.98, ops={"QConv", "QAdd"})


def test_qadd_stays_after_a_grouped_conv():
    m = _block(group=2)
    check_int8(m, {"x": rand(2, C, *HW, seed=5)}, min_exact=0.98, ops={"QConv", "QAdd"})


def test_two_conv_branches_fuse_one():
    """conv(x) + conv(x) (a downsampling block's two branches): one QConv takes the QAdd,
    the other's output is its residual."""
    nodes = [_conv("x", "a", "c1"), _conv("x", "b", "c2"), H("Add", ["a", "b"], ["y"])]
    inits = _inits("c1", C, C) | _inits("c2", C, C, seed=2)
    m = quantize(model(nodes, {"x": [1, C, *HW]}, {"y": [1, C, *HW]}, inits))
    _, program = check_int8(m, {"x": rand(1, C, *HW, seed=3)}, min_exact=0.98, ops={"QConv"})
    assert "QAdd" not in [layer["op"] for layer in program.layers]


def _qdq_add(sa: float, sb: float, sy: float, relu: bool):
    """Q(a) -> DQ, Q(b) -> DQ, Add [-> Relu] -> Q -> DQ, with the scales given."""
    inits = {}
    nodes = []
    for name, s, z in (("a", sa, 3), ("b", sb, -5), ("y", sy, 2)):
        inits[f"{name}_s"], inits[f"{name}_z"] = np.float32(s), np.int8(z)
        src = "t" if name == "y" else name
        qz = [f"{name}_s", f"{name}_z"]
        nodes += [H("QuantizeLinear", [src, *qz], [f"{name}q"])]
        nodes += [H("DequantizeLinear", [f"{name}q", *qz], [f"{name}d"])]
    add = H("Add", ["ad", "bd"], ["s" if relu else "t"])
    nodes.insert(4, add)
    if relu:
        nodes.insert(5, H("Relu", ["s"], ["t"]))
    nodes[-1] = H("DequantizeLinear", ["yq", "y_s", "y_z"], ["out"])
    shape = [1, 4, 9, 40]
    return model(nodes, {"a": shape, "b": shape}, {"out": shape}, inits)


def _vector_funcs(program) -> set:
    return {VFunc(i.func) for i in program.instructions if isinstance(i, Vector)}


@pytest.mark.parametrize("relu", [False, True])
def test_qadd_is_one_integer_qadd(relu):
    """Scales as a calibration gives them. (With s_a = s_y / 2, as 0.02 and 0.04, many sums
    are exact ties: QADD rounds them as exact arithmetic does, the fp32 graph either way;
    measured 97.7% exact against onnxruntime there.)"""
    m = _qdq_add(0.021, 0.047, 0.039, relu)
    inputs = {"a": rand(1, 4, 9, 40, seed=1) * 2, "b": rand(1, 4, 9, 40, seed=2) * 4}
    _, program = check_int8(m, inputs, max_steps=1.0, min_exact=0.999, ops={"QAdd"})
    funcs = _vector_funcs(program)
    assert VFunc.QADD in funcs and not {VFunc.ADD, VFunc.CLIP} & funcs


@pytest.mark.parametrize("sa, sy", [(1.0, 2.0**-24), (1e-3, 1.0)])
def test_qadd_whose_scale_ratio_does_not_fit_keeps_the_fp32_chain(sa, sy):
    """A ratio of 2**24 (beyond QADD's 23-bit multipliers) or both below 2**-9 (a shift
    beyond 31): DEQUANT, ADD, QUANT, bit-exact with the graph as written."""
    m = _qdq_add(sa, sa, sy, relu=False)
    inputs = {"a": rand(1, 4, 9, 40, seed=1), "b": rand(1, 4, 9, 40, seed=2)}
    program = compile(m, load_config("tiny"))
    got = run(program, inputs, checked=True).outputs
    (c,) = check_int8_outputs(m, got, reference(m, inputs, optimize=False))
    assert c.steps == 0.0, c
    funcs = _vector_funcs(program)
    assert VFunc.QADD not in funcs and {VFunc.DEQUANT, VFunc.ADD, VFunc.QUANT} <= funcs


def test_the_branch_with_more_macs_an_output_takes_the_qadd():
    """conv3x3(relu(conv3x3(x))) + conv1x1(x) (a downsampling block): the 3 x 3 conv, whose
    vector unit has the slack (9 C MACs an output against C), takes the QAdd, and the 1 x 1
    conv's output is its residual, whichever operand of the Add it is."""
    for order in (("b", "d"), ("d", "b")):
        nodes = [
            _conv("x", "a", "c1"),
            H("Relu", ["a"], ["r"]),
            _conv("r", "b", "c2"),
            H("Conv", ["x", "c3w", "c3b"], ["d"]),
            H("Add", list(order), ["y"]),
        ]
        inits = _inits("c1", C, C) | _inits("c2", C, C, seed=2)
        inits |= {"c3w": rand(C, C, 1, 1, seed=3), "c3b": rand(C, seed=4)}
        m = quantize(model(nodes, {"x": [1, C, *HW]}, {"y": [1, C, *HW]}, inits))
        _, program = check_int8(m, {"x": rand(1, C, *HW, seed=3)}, min_exact=0.98, ops={"QConv"})
        convs = [layer for layer in program.layers if layer["op"] == "QConv"]
        (taker,) = [c for c in convs if any(f.startswith("Add") for f in c["fused"])]
        assert taker["macs"] == 9 * C * C * HW[0] * HW[1], [(c["macs"], c["fused"]) for c in convs]
        assert "QAdd" not in [layer["op"] for layer in program.layers]
