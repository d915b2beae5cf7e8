"""Scheduling that keeps the DRAM busy across layer boundaries (a decode step's matrix-vector
products stream their weights): Transposes that only relabel become aliases, a streaming nest's
W tiles go ahead of its A in alternate halves of the weight scratchpad, a GEMM nest's prologue
goes ahead of the vector layers before it, and buffers go where the program was least recently
(``compiler.scratch.Scratch.copies``, ``gemm.emit._fresh``)."""

from __future__ import annotations

import numpy as np
import pytest
from compiler_helpers import check, model, rand
from onnx import helper
from test_llm_int8 import int8_step, reference, step_inputs

import compiler
from compiler.driver import AHEAD, CompileOptions, _keeps_off_weights, prefetch_points, prepare
from compiler.emit import Emitter
from compiler.ir import Node
from compiler.lowering.common import load
from compiler.scratch import Scratch
from simulator.api import run
from simulator.config import load_config
from simulator.footprint import footprint
from simulator.isa import DType, Load, MatMul, Scratchpad

H = helper.make_node


@pytest.mark.parametrize(
    ("shape", "perm", "alias"),
    [
        ((1, 1, 8, 4), (0, 2, 1, 3), True),  # heads split at one token
        ((1, 8, 1, 4), (0, 2, 1, 3), True),  # and merged
        ((2, 1, 3), (1, 0, 2), True),
        ((1, 2, 8, 4), (0, 2, 1, 3), False),  # two tokens: a real transpose
        ((2, 3, 1), (1, 0, 2), False),
    ],
)
def test_transpose_of_axes_of_size_one_is_an_alias(shape, perm, alias):
    out = [shape[p] for p in perm]
    nodes = [H("Relu", ["x"], ["r"]), H("Transpose", ["r"], ["t"], perm=list(perm))]
    nodes.append(H("Relu", ["t"], ["y"]))
    m = model(nodes, {"x": list(shape)}, {"y": out})
    check(m, {"x": rand(*shape)})
    ops = [layer["op"] for layer in compiler.compile(m, load_config("tiny")).layers]
    assert ("Transpose" not in ops) == alias, ops


def test_least_recently_used_copy_goes_first():
    """``copies`` puts tile 0 in the copy the program touched least recently."""
    cfg = load_config("base")
    em = Emitter(cfg)
    s = Scratch(cfg, em.least_recent)
    half = cfg.input_bytes // 2
    assert s.copies(Scratchpad.INPUT).base(0) == 0  # nothing touched: the first
    em.add(load(Scratchpad.INPUT, 0, 1, 0, (1, 1, 64), (0, 0, 1), (0, 0, 1)))
    c = s.copies(Scratchpad.INPUT)
    assert (c.base(0), c.base(1)) == (half, 0)
    em.add(load(Scratchpad.INPUT, half, 1, 0, (1, 1, 64), (0, 0, 1), (0, 0, 1)))
    assert s.copies(Scratchpad.INPUT).base(0) == 0
    assert Scratch(cfg).copies(Scratchpad.INPUT).base(0) == 0  # no emitter: the first


def _step(context: int = 40):
    return int8_step(context, d=64, heads=4, ffn=128)


def test_prefetch_points_skip_weight_layers_and_the_operands_maker():
    """A QGemm's prologue goes ahead of the vector layers just before it (at most AHEAD);
    the P·V QMatMul's (its W is V, made by the KVAppend) only after V is made; none
    crosses a layer using the weight scratchpad."""
    graph = prepare(_step(), CompileOptions())
    order = graph.nodes()
    pos = {n.name: i for i, n in enumerate(order)}
    points = prefetch_points(graph, order)
    assert points, "the decode step has GEMM nests after vector layers"
    for at, node in points.items():
        between = order[pos[at] : pos[node.name]]
        assert 0 < len(between) <= AHEAD
        assert all(not compiler.ops.lookup(n.op).weights for n in between), between
    ahead = {n.name: at for at, n in points.items()}
    assert ahead["matmul_7/MatMulAddFusion"] in ("add_1", "layernormalization_2")
    v = {n.name for n in order if n.op == "KVAppend"}
    assert all(pos[ahead["matmul_5"]] > pos[k] for k in v)


def test_prologue_loads_precede_the_layers_before():
    """The W loads of the QGemm after the residual add and LayerNorm are emitted before those
    layers' instructions (attributed to the QGemm), and the step still matches
    onnxruntime exactly."""
    m = _step()
    program = compiler.compile(m, load_config("tiny"))
    nodes = [program.nodes[i] for i in program.node_of]
    gemm = "matmul_7/MatMulAddFusion"
    first_w = next(
        i
        for i, (ins, n) in enumerate(zip(program.instructions, nodes, strict=False))
        if n == gemm and isinstance(ins, Load) and ins.sp == Scratchpad.WEIGHT
    )
    norm = nodes.index("layernormalization_2")
    assert first_w < norm
    inputs = step_inputs(m)
    got = run(program, inputs).outputs
    for name, want in reference(m, inputs).items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)


def test_layers_before_a_prologue_keep_off_its_pages():
    """Checked on the instructions: between a prologue's loads and its nest's first
    MatMul, no other layer writes the weight scratchpad."""
    program = compiler.compile(_step(256), load_config("base"))
    nodes = [program.nodes[i] for i in program.node_of]
    for gemm in ("matmul_5", "matmul_7/MatMulAddFusion"):
        idx = [i for i, n in enumerate(nodes) if n == gemm]
        mm = next(i for i in idx if isinstance(program.instructions[i], MatMul))
        for i in range(idx[0], mm):
            if nodes[i] == gemm:
                continue
            writes = footprint(program.instructions[i]).writes
            assert all(r.mem != Scratchpad.WEIGHT for r in writes), (gemm, nodes[i])


def test_streaming_layers_alternate_halves_and_load_w_first():
    """Consecutive matrix-vector QGemms put their W buffers in alternate halves of the
    weight scratchpad, and each loads W tiles before its A."""
    program = compiler.compile(int8_step(64), load_config("base"))
    nodes = [program.nodes[i] for i in program.node_of]
    half = program.config.weight_bytes // 2
    sides = []
    for gemm in ("matmul_2", "matmul_1", "matmul_3"):
        loads = [
            ins
            for ins, n in zip(program.instructions, nodes, strict=False)
            if n == gemm and isinstance(ins, Load)
        ]
        w = [ins.sp_addr for ins in loads if ins.sp == Scratchpad.WEIGHT and ins.n1 > 1]
        sides.append({a >= half for a in w})
        kinds = [ins.sp for ins in loads if ins.sp != Scratchpad.ACC]
        first_a = kinds.index(Scratchpad.INPUT)
        assert kinds[:first_a].count(Scratchpad.WEIGHT) >= 3  # words, then W tiles
    assert all(len(s) == 1 for s in sides), sides
    assert sides[0] != sides[1] and sides[1] != sides[2]


def test_a_layer_writing_the_weights_between_a_prologue_and_its_body_is_caught():
    """The declarations say which ops keep off the weight scratchpad; the driver checks the
    instructions of every layer lowered between a prologue and its nest, naming the layer."""
    cfg = load_config("base")
    em = Emitter(cfg)
    node, gemm = Node("norm", "LayerNormalization", ("x",), ("y",)), Node("mm", "QGemm", (), ())
    em.add(load(Scratchpad.INPUT, 0, 1, 0, (1, 1, 64), (0, 0, 1), (0, 0, 1)))
    em.add(MatMul(dtype=int(DType.INT8), m=1, k=64, n=8, a_stride=64, w_stride=8, c_stride=8))
    assert _keeps_off_weights(em, 0, node, gemm) is gemm  # reading the weights is no write
    em.add(load(Scratchpad.WEIGHT, 0, 1, 0, (1, 1, 64), (0, 0, 1), (0, 0, 1)))
    with pytest.raises(AssertionError, match="'norm' \\(LayerNormalization\\) writes the weight"):
        _keeps_off_weights(em, 0, node, gemm)
