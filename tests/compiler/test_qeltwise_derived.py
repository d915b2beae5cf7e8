"""``qdq_chains.merge_derived_operands``: a QEltwise reading x and P(x) (P a QEltwise of x
alone) becomes one table of x: the same int8 results as the two vector passes, bit for bit."""

import numpy as np
from compiler_helpers import model, rand
from onnx import helper
from qdq_helpers import check_int8, quantize

from compiler import driver
from compiler.driver import compile
from simulator.api import run
from simulator.config import load_config

H = helper.make_node
SHAPE = [2, 16, 24]


def _gelu(graph_output_half=False):
    """GELU as exporters write it: (x * 0.5) * (1 + erf(x / sqrt 2)); ``graph_output_half``:
    x * 0.5 is a graph output too (so its QEltwise must stay)."""
    nodes = [
        H("Mul", ["x", "half"], ["h"]),
        H("Div", ["x", "sqrt2"], ["d"]),
        H("Erf", ["d"], ["e"]),
        H("Add", ["e", "one"], ["a"]),
        H("Mul", ["h", "a"], ["y"]),
    ]
    inits = {"half": np.float32(0.5), "sqrt2": np.float32(np.sqrt(2)), "one": np.float32(1.0)}
    outs = {"y": SHAPE} | ({"h": SHAPE} if graph_output_half else {})
    return quantize(model(nodes, {"x": SHAPE}, outs, inits))


def _run(m, inputs):
    program = compile(m, load_config("tiny"))
    return program, run(program, inputs, checked=True).outputs


def _count(program, op="QEltwise"):
    return [layer["op"] for layer in program.layers].count(op)


def test_derived_operand_makes_one_table(monkeypatch):
    m, inputs = _gelu(), {"x": 2 * rand(*SHAPE, seed=4)}
    program, got = _run(m, inputs)
    assert _count(program) == 1
    plain = [
        (n, (lambda g: None) if n == "merge_derived_operands" else f) for n, f in driver.PASSES
    ]
    monkeypatch.setattr(driver, "PASSES", plain)
    unmerged, want = _run(m, inputs)
    assert _count(unmerged) == 2
    assert np.array_equal(got["y"], want["y"])


def test_derived_operand_read_elsewhere_stays():
    m = _gelu(graph_output_half=True)
    _, program = check_int8(m, {"x": 2 * rand(*SHAPE, seed=4)}, max_steps=1.0)
    assert _count(program) == 2
