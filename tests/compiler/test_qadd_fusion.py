"""A QAdd fused after the REQUANT of the QConv before it (``fusion.fuse_qadd``): the same
vector steps on the tile in the scratchpad, so the outputs equal the unfused program's bit
for bit, in fewer cycles; and the cases it must leave alone."""

import numpy as np
import pytest
from compiler_helpers import model, rand
from onnx import helper
from qdq_helpers import check_int8, quantize

from compiler import driver
from compiler.driver import compile
from simulator.api import run
from simulator.config import load_config

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
