"""int8 lowerings added to the QDQ pass after conv/gemm: activation x activation MatMul
(QMatMul with QSum zero-point corrections), AveragePool, GlobalAveragePool and Softmax on int8
tensors, and Concat/Slice moving int8 directly. Each compiled, simulated (checked) and
compared with onnxruntime's default session (its QLinearMatMul / QLinearAveragePool /
QLinearGlobalAveragePool / QLinearSoftmax kernels) in output steps."""

import numpy as np
import pytest
from compiler_helpers import model, rand
from onnx import TensorProto, helper
from qdq_helpers import check_int8, check_int8_outputs, layer_with, quantize
from test_qdq import lowered_ir, qdq_model

import compiler
from compiler.check import reference
from simulator.api import run
from simulator.config import load_config
from simulator.isa import Load, Scratchpad, VFunc

H = helper.make_node


# --- activation x activation MatMul -----------------------------------------------------------
def two_activations(a_shape, b_shape, offset=1.5, act=None, seed=0):
    """y = (x @ wa) @ (x2 @ wb) [-> act]: both MatMul operands are int8 activations; the
    inputs are shifted by ``offset`` so their zero points are not 0."""
    k = a_shape[-1]
    n = b_shape[-1]
    nodes = [
        H("MatMul", ["x", "wa"], ["a"]),
        H("MatMul", ["x2", "wb"], ["b"]),
        H("MatMul", ["a", "b"], ["m" if act else "y"]),
    ]
    if act:
        nodes.append(H(act, ["m"], ["y"]))
    out = list(np.broadcast_shapes(a_shape[:-2], b_shape[:-2])) + [a_shape[-2], n]
    inits = {"wa": rand(3, k, seed=seed + 1), "wb": rand(4, n, seed=seed + 2)}
    f = model(nodes, {"x": [*a_shape[:-1], 3], "x2": [*b_shape[:-1], 4]}, {"y": out}, inits)
    m = quantize(f)
    inputs = {
        "x": rand(*a_shape[:-1], 3, seed=seed + 3) + offset,
        "x2": rand(*b_shape[:-1], 4, seed=seed + 4) - offset,
    }
    return m, inputs


def qmatmul_of(m):
    graph = lowered_ir(m)
    (node,) = [n for n in graph.nodes() if n.op == "QMatMul"]
    return graph, node


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((7, 5), (5, 9)),  # plain 2-D, odd sizes
        ((2, 7, 5), (2, 5, 9)),  # batch 2
        ((2, 3, 6, 5), (2, 3, 5, 11)),  # batch x heads
        ((2, 3, 6, 5), (5, 11)),  # b broadcast over the leading dims
        ((1, 6, 5), (3, 5, 4)),  # a broadcast
        ((3, 33, 19), (3, 19, 21)),  # wider than the tiny array, several tiles
        ((4, 1, 300), (4, 300, 70)),  # one row (a decode step's), K in several chunks
        ((2, 40, 130), (2, 130, 12)),  # several M tiles, each with its row of ones
    ],
)
def test_qmatmul_matches_qlinearmatmul_exactly(a_shape, b_shape):
    m, inputs = two_activations(a_shape, b_shape)
    graph, node = qmatmul_of(m)
    qa, qb = (graph.tensors[i].quant for i in node.inputs[:2])
    assert qa.zero_point != 0 and qb.zero_point != 0  # both corrections are exercised
    check_int8(m, inputs, max_steps=0.0, ops={"QMatMul", "QSum"})


@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((4, 1, 300), (4, 300, 70)), ((2, 40, 130), (2, 130, 12))]
)
def test_qmatmul_column_sums_repeat_no_load(a_shape, b_shape):
    """The row of ones after an A block stays in its buffer from one block of the same size
    to the next (K chunks, heads): no input-scratchpad load repeats an earlier one. One row,
    four heads, K in several chunks at tiny loaded it 12 times (112 loads, now 102). The
    column-sum row's initial -K zb is the padding of the row sums' load into C, not a load
    of its own: every accumulator load pads."""
    m, inputs = two_activations(a_shape, b_shape)
    program = compiler.compile(m, load_config("tiny"))
    loads = [i for i in program.instructions if isinstance(i, Load)]
    sp_in = [(i.sp_addr, i.dram_addr, i.n0, i.n1, i.n2) for i in loads if i.sp == Scratchpad.INPUT]
    assert len(sp_in) == len(set(sp_in))
    acc = [i for i in loads if i.sp == Scratchpad.ACC]
    assert acc and all(i.hi0 - i.lo0 < i.n0 or i.hi1 - i.lo1 < i.n1 for i in acc)
    check_int8(m, inputs, max_steps=0.0, ops={"QMatMul"})


def test_qmatmul_fuses_relu_into_the_clamp():
    m, inputs = two_activations((2, 5, 6), (2, 6, 7), act="Relu")
    graph, node = qmatmul_of(m)
    yq = graph.tensors[node.outputs[0]].quant
    assert node.attr("clamp") == (max(-128, yq.zero_point), 127)
    check_int8(m, inputs, max_steps=0.0, ops={"QMatMul"})


def test_qmatmul_zero_point_corrections():
    """sum (a - za)(b - zb) = sum ab - zb sum_k a - za sum_k b + K za zb: the row sums of a
    are a QSum node; b's column sums come out of the array (no QSum reads b)."""
    m, _ = two_activations((2, 5, 6), (2, 6, 7))
    graph, node = qmatmul_of(m)
    a, b, ra, cb = node.inputs
    qa, qb = graph.tensors[a].quant, graph.tensors[b].quant
    sums = {s.outputs[0]: s for s in graph.nodes() if s.op == "QSum"}
    assert sums[ra].inputs == (a,) and sums[ra].attr("axis") == -1
    assert (sums[ra].attr("mult"), sums[ra].attr("add")) == (-qb.zero_point, 0)
    assert graph.type(ra).shape == (2, 5, 1) and cb == ""
    assert not [s for s in sums.values() if s.inputs == (b,)]
    assert node.attr("zero_points") == (qa.zero_point, qb.zero_point)


def test_qmatmul_with_a_zero_zero_point_needs_no_correction():
    nodes = [
        H("DequantizeLinear", ["qa", "sa", "za"], ["a"]),
        H("DequantizeLinear", ["qb", "sb", "zb"], ["b"]),
        H("MatMul", ["a", "b"], ["m"]),
        H("QuantizeLinear", ["m", "sy", "zy"], ["y"]),
    ]
    consts = {"sa": np.float32(0.02), "za": np.int8(0), "sb": np.float32(0.03)}
    consts |= {"zb": np.int8(-9), "sy": np.float32(0.05), "zy": np.int8(3)}
    m = qdq_model(
        nodes,
        {"qa": (TensorProto.INT8, [3, 13]), "qb": (TensorProto.INT8, [13, 6])},
        {"y": (TensorProto.INT8, [3, 6])},
        consts,
    )
    graph, node = qmatmul_of(m)
    assert node.inputs[3] == "" and node.inputs[2] != ""  # only the row sums of a
    rng = np.random.default_rng(0)
    inputs = {
        "qa": rng.integers(-128, 128, (3, 13)).astype(np.int8),
        "qb": rng.integers(-128, 128, (13, 6)).astype(np.int8),
    }
    check_int8(m, inputs, max_steps=0.0, ops={"QMatMul"})


def test_attention_scores_and_values_are_integer():
    """Q.K^T (K transposed on int8) and P.V after a Softmax (zero point -128)."""
    s, d = 9, 6
    nodes = [
        H("MatMul", ["x", "wq"], ["q"]),
        H("MatMul", ["x", "wk"], ["k"]),
        H("MatMul", ["x", "wv"], ["v"]),
        H("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        H("MatMul", ["q", "kt"], ["a"]),
        H("Softmax", ["a"], ["p"], axis=-1),
        H("MatMul", ["p", "v"], ["y"]),
    ]
    inits = {f"w{c}": rand(d, d, seed=i) for i, c in enumerate("qkv")}
    m = quantize(model(nodes, {"x": [2, s, d]}, {"y": [2, s, d]}, inits))
    graph = lowered_ir(m)
    assert sum(n.op == "QMatMul" for n in graph.nodes()) == 2
    check_int8(m, {"x": rand(2, s, d, seed=3)}, max_steps=0.0, ops={"QMatMul", "Softmax"})


@pytest.mark.parametrize("shape", [(2, 9, 37), (3, 128)])
def test_softmax_int8_matches_qlinearsoftmax(shape):
    """onnxruntime's QLinearSoftmax scales by floor(1 / s_y), not 1 / s_y: the float QDQ
    graph as written differs from it by a step on many elements."""
    nodes = [H("MatMul", ["x", "w"], ["a"]), H("Softmax", ["a"], ["y"], axis=-1)]
    k = shape[-1]
    m = quantize(model(nodes, {"x": list(shape)}, {"y": list(shape)}, {"w": rand(k, k, seed=1)}))
    graph = lowered_ir(m)
    (sm,) = [n for n in graph.nodes() if n.op == "Softmax"]
    assert graph.type(sm.inputs[0]).dtype == graph.type(sm.outputs[0]).dtype == "int8"
    check_int8(m, {"x": rand(*shape, seed=3) * 2}, max_steps=0.0, ops={"Softmax"})


@pytest.mark.parametrize(("rows", "keys"), [(2, 16), (64, 128), (6, 1024)])
def test_softmax_int8_by_tables(rows, keys):
    """x - max is an integer in [-255, 0]: e comes from a table of the values MUL_IMM and
    EXP would give (no EXP on the vector unit) where that saves more than loading the table
    (not for 2 rows of 16); rows of 512 or more look their probabilities up too, in a table
    per row (a LUT whose src1 steps rows; DIVs only of the tables' entries): bit-exact with
    QLinearSoftmax every way."""
    nodes = [H("MatMul", ["x", "w"], ["a"]), H("Softmax", ["a"], ["y"], axis=-1)]
    shape = [rows, keys]
    m = quantize(model(nodes, {"x": shape}, {"y": shape}, {"w": rand(keys, keys, seed=1)}))
    _, program = check_int8(m, {"x": rand(*shape, seed=3) * 2}, "small", max_steps=0.0)
    ins = [
        program.instructions[i]
        for i, n in enumerate(program.node_of)
        if program.nodes[n].lower().startswith("softmax")
    ]
    vec = [i for i in ins if hasattr(i, "func")]
    assert (VFunc.EXP in {i.func for i in vec}) is (rows * keys < 1024)
    per_row = [i for i in vec if i.func == VFunc.LUT and i.src1_s1 == 256]
    assert bool(per_row) is (keys >= 512)
    divs = [i for i in vec if i.func == VFunc.DIV]
    assert divs and all(d.n2 == (256 if keys >= 512 else keys) for d in divs)


# --- pooling -------------------------------------------------------------------------------
def qpool_model(op, shape, out_shape, zp=-7, scales=(0.037, 0.029), **attrs):
    nodes = [
        H("DequantizeLinear", ["q", "s", "zp"], ["d"]),
        H(op, ["d"], ["p"], **attrs),
        H("QuantizeLinear", ["p", "s2", "zp2"], ["y"]),
    ]
    consts = {"s": np.float32(scales[0]), "zp": np.int8(zp)}
    consts |= {"s2": np.float32(scales[1]), "zp2": np.int8(5)}
    m = qdq_model(
        nodes, {"q": (TensorProto.INT8, shape)}, {"y": (TensorProto.INT8, out_shape)}, consts
    )
    q = np.random.default_rng(1).integers(-128, 128, shape).astype(np.int8)
    return m, {"q": q}


@pytest.mark.parametrize("scales", [(0.037, 0.029), (0.037, 0.037)])
@pytest.mark.parametrize("include_pad", [0, 1])
def test_average_pool_int8_matches_qlinearaveragepool(include_pad, scales):
    attrs = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1])
    m, inputs = qpool_model(
        "AveragePool",
        [2, 5, 9, 8],
        [2, 5, 4, 4],
        scales=scales,
        count_include_pad=include_pad,
        **attrs,
    )
    check_int8(m, inputs, max_steps=0.0, ops={"AveragePool"})
    (pool,) = [n for n in lowered_ir(m).nodes() if n.op == "AveragePool"]
    assert lowered_ir(m).type(pool.inputs[0]).dtype == "int8"


@pytest.mark.parametrize("op", ["GlobalAveragePool", "AveragePool"])
def test_global_average_pool_int8_is_an_integer_requant(op):
    """A window over the whole unpadded image is onnxruntime's integer global pool."""
    attrs = {"kernel_shape": [5, 7]} if op == "AveragePool" else {}
    m, inputs = qpool_model(op, [3, 6, 5, 7], [3, 6, 1, 1], scales=(0.037, 0.011), **attrs)
    check_int8(m, inputs, max_steps=0.0, ops={op})
    (pool,) = [n for n in lowered_ir(m).nodes() if n.op == op]
    assert lowered_ir(m).type(pool.inputs[0]).dtype == "int8"


def test_classifier_head_pools_on_int8():
    nodes = [
        H("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        H("Relu", ["c"], ["r"]),
        H("GlobalAveragePool", ["r"], ["g"]),
        H("Flatten", ["g"], ["f"]),
        H("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = {"cw": rand(12, 3, 3, 3, seed=1), "cb": rand(12, seed=2)}
    inits |= {"fw": rand(10, 12, seed=7), "fb": rand(10, seed=8)}
    m = quantize(model(nodes, {"x": [2, 3, 11, 11]}, {"y": [2, 10]}, inits))
    check_int8(m, {"x": rand(2, 3, 11, 11, seed=5)}, max_steps=0.0, ops={"GlobalAveragePool"})
    graph = lowered_ir(m)
    (gap,) = [n for n in graph.nodes() if n.op == "GlobalAveragePool"]
    assert graph.type(gap.inputs[0]).dtype == "int8"


# --- data movement on int8 ------------------------------------------------------------------
def test_concat_and_slice_of_equal_quantisation_move_int8():
    nodes = [
        H("DequantizeLinear", ["qa", "s", "zp"], ["a"]),
        H("DequantizeLinear", ["qb", "s", "zp"], ["b"]),
        H("Concat", ["a", "b"], ["c"], axis=1),
        H("QuantizeLinear", ["c", "s", "zp"], ["qc"]),
        H("DequantizeLinear", ["qc", "s", "zp"], ["dc"]),
        H("Slice", ["dc", "starts", "ends", "axes"], ["sl"]),
        H("QuantizeLinear", ["sl", "s", "zp"], ["y"]),
    ]
    consts = {"s": np.float32(0.05), "zp": np.int8(-3)}
    consts |= {"starts": np.array([1]), "ends": np.array([6]), "axes": np.array([1])}
    m = qdq_model(
        nodes,
        {"qa": (TensorProto.INT8, [2, 3, 5]), "qb": (TensorProto.INT8, [2, 4, 5])},
        {"y": (TensorProto.INT8, [2, 5, 5])},
        consts,
    )
    graph = lowered_ir(m)
    assert [n.op for n in graph.nodes()] == ["Concat", "Slice"]
    rng = np.random.default_rng(2)
    inputs = {
        "qa": rng.integers(-128, 128, (2, 3, 5)).astype(np.int8),
        "qb": rng.integers(-128, 128, (2, 4, 5)).astype(np.int8),
    }
    check_int8(m, inputs, max_steps=0.0, ops={"Concat", "Slice"})


def test_concat_of_different_scales_requantises_the_odd_input():
    """The input of another (scale, zero point) is requantised by a table (Q(DQ(x)), the
    float graph's arithmetic) and the Concat moves int8."""
    nodes = [
        H("DequantizeLinear", ["qa", "s", "zp"], ["a"]),
        H("DequantizeLinear", ["qb", "s2", "zp"], ["b"]),
        H("Concat", ["a", "b"], ["c"], axis=0),
        H("QuantizeLinear", ["c", "s", "zp"], ["y"]),
    ]
    consts = {"s": np.float32(0.05), "s2": np.float32(0.07), "zp": np.int8(-3)}
    m = qdq_model(
        nodes,
        {"qa": (TensorProto.INT8, [2, 5]), "qb": (TensorProto.INT8, [3, 5])},
        {"y": (TensorProto.INT8, [5, 5])},
        consts,
    )
    graph = lowered_ir(m)
    assert [n.op for n in graph.nodes()] == ["QEltwise", "Concat"]
    (concat,) = [n for n in graph.nodes() if n.op == "Concat"]
    assert concat.inputs[0] == "qa" and graph.type(concat.inputs[1]).dtype == "int8"
    rng = np.random.default_rng(3)
    inputs = {
        "qa": rng.integers(-128, 128, (2, 5)).astype(np.int8),
        "qb": rng.integers(-128, 128, (3, 5)).astype(np.int8),
    }
    check_int8(m, inputs, max_steps=0.0, ops={"QEltwise"})  # the Concat may run as KVAppend


@pytest.mark.parametrize(("scale", "moves_int8"), [(0.05, True), (0.07, False)])
def test_nearest_resize_moves_int8(scale, moves_int8):
    nodes = [
        H("DequantizeLinear", ["qa", "s", "zp"], ["a"]),
        H("Resize", ["a", "", "scales"], ["r"], mode="nearest"),
        H("QuantizeLinear", ["r", "s_out", "zp"], ["y"]),
    ]
    consts = {"s": np.float32(0.05), "s_out": np.float32(scale), "zp": np.int8(-3)}
    consts["scales"] = np.array([1, 1, 2, 3], np.float32)
    m = qdq_model(
        nodes,
        {"qa": (TensorProto.INT8, [1, 2, 3, 4])},
        {"y": (TensorProto.INT8, [1, 2, 6, 12])},
        consts,
    )
    (resize,) = [n for n in lowered_ir(m).nodes() if n.op == "Resize"]
    assert (lowered_ir(m).type(resize.inputs[0]).dtype == "int8") == moves_int8
    inputs = {"qa": np.random.default_rng(4).integers(-128, 128, (1, 2, 3, 4)).astype(np.int8)}
    check_int8(m, inputs, max_steps=0.0, ops={"Resize"})


# --- element-wise Mul of two activations -----------------------------------------------------
@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((2, 7, 11), (2, 7, 11)), ((2, 7, 11), (2, 1, 11))]
)
def test_mul_of_two_activations_is_an_integer_product(a_shape, b_shape):
    """(a - za)(b - zb) in int32 and one REQUANT, as onnxruntime's QLinearMul: a QMul, or, when
    the Mul keeps the shape of the Sigmoid's quantised output, a step of the Sigmoid's pass."""
    nodes = [
        H("MatMul", ["x", "w1"], ["a"]),
        H("MatMul", ["x2", "w2"], ["b"]),
        H("Sigmoid", ["b"], ["sb"]),
        H("Mul", ["a", "sb"], ["y"]),
    ]
    inits = {"w1": rand(13, 11, seed=1), "w2": rand(5, 11, seed=2)}
    ins = {"x": [*a_shape[:-1], 13], "x2": [*b_shape[:-1], 5]}
    m = quantize(model(nodes, ins, {"y": list(a_shape)}, inits))
    graph = lowered_ir(m)
    op = "QEltwise" if a_shape == b_shape else "QMul"
    (mul,) = [n for n in graph.nodes() if n.op == op]
    if op == "QEltwise":
        assert [s.word is not None for s in mul.attr("program")] == [False, False, True]
    assert any(graph.tensors[i].quant.zero_point != 0 for i in mul.inputs[:2])
    inputs = {"x": rand(*ins["x"], seed=3) + 0.5, "x2": rand(*ins["x2"], seed=4)}
    check_int8(m, inputs, max_steps=0.0, ops={op})


# --- float islands between DQ and Q --------------------------------------------------------
def test_gelu_chain_runs_in_one_vector_pass_per_island():
    """Div, Erf, Add, Mul between DequantizeLinear and QuantizeLinear (onnxruntime runs them
    in float too) become QEltwise nodes: DEQUANT, the ops in fp32, QUANT, no DRAM round
    trip; the arithmetic is the QDQ graph's, so it matches both references exactly."""
    nodes = [
        H("MatMul", ["x", "w"], ["m"]),
        H("Div", ["m", "sqrt2"], ["d"]),
        H("Erf", ["d"], ["e"]),
        H("Add", ["e", "one"], ["a"]),
        H("Mul", ["m", "a"], ["g"]),
        H("Mul", ["g", "half"], ["y"]),
    ]
    inits = {"w": rand(9, 10, seed=1), "sqrt2": np.float32(np.sqrt(2.0))}
    inits |= {"one": np.float32(1.0), "half": np.float32(0.5)}
    m = quantize(model(nodes, {"x": [2, 5, 9]}, {"y": [2, 5, 10]}, inits))
    graph = lowered_ir(m)
    ops = [n.op for n in graph.nodes()]
    assert not {"Div", "Erf", "Add", "DequantizeLinear"} & set(ops[1:-1]), ops
    fused = [n for n in graph.nodes() if n.op == "QEltwise"]
    assert fused and all(graph.type(n.outputs[0]).dtype == "int8" for n in fused)
    inputs = {"x": rand(2, 5, 9, seed=3)}
    _, program = check_int8(m, inputs, max_steps=0.0)
    for n in fused:  # functions of the MatMul's output alone: LUTs in its epilogue
        assert layer_with(program, n.name)["op"] == "QGemm"
    got = run(program, inputs).outputs
    for s in check_int8_outputs(m, got, reference(m, inputs, optimize=False)):
        assert s.steps == 0.0, s


@pytest.mark.parametrize("op", ["LayerNormalization", "ReduceMean"])
def test_row_ops_between_dq_and_q_read_and_write_int8(op):
    """DEQUANT, the float row op, QUANT in one pass over int8 rows: the QDQ graph exactly."""
    if op == "LayerNormalization":
        row = H(op, ["m", "g", "b"], ["r"], axis=-1, epsilon=1e-5)
        extra, out = {"g": rand(37, seed=5), "b": rand(37, seed=6)}, [3, 7, 37]
    else:
        row = H(op, ["m"], ["r"], axes=[-1], keepdims=1)  # opset 17: axes an attribute
        extra, out = {}, [3, 7, 1]
    nodes = [H("MatMul", ["x", "w"], ["m"]), row, H("Sigmoid", ["r"], ["y"])]
    inits = {"w": rand(11, 37, seed=1)} | extra
    m = quantize(model(nodes, {"x": [3, 7, 11]}, {"y": out}, inits))
    graph = lowered_ir(m)
    (node,) = [n for n in graph.nodes() if n.op == op]
    assert graph.type(node.inputs[0]).dtype == graph.type(node.outputs[0]).dtype == "int8"
    inputs = {"x": rand(3, 7, 11, seed=3) + 0.5}
    _, program = check_int8(m, inputs, max_steps=0.0, ops={op})
    got = run(program, inputs).outputs
    for s in check_int8_outputs(m, got, reference(m, inputs, optimize=False)):
        assert s.steps == 0.0, s


def test_split_with_equal_quantisation_moves_int8():
    """DQ -> Split -> Q per output with equal parameters (a transformer's q/k/v split, as
    quantize_static writes it): the Split reads and writes int8, no DEQUANT/QUANT passes."""
    nodes = [
        H("MatMul", ["x", "w"], ["m"]),
        H("Split", ["m"], ["a", "b", "c"], axis=-1),  # opset 17: three equal parts
        H("Mul", ["a", "b"], ["ab"]),
        H("Add", ["ab", "c"], ["y"]),
    ]
    m = quantize(model(nodes, {"x": [2, 5, 7]}, {"y": [2, 5, 4]}, {"w": rand(7, 12, seed=1)}))
    graph = lowered_ir(m)
    (split,) = [n for n in graph.nodes() if n.op == "Split"]
    assert {graph.type(t).dtype for t in (*split.inputs[:1], *split.outputs)} == {"int8"}
    assert "QuantizeLinear" not in [n.op for n in graph.nodes()][1:]
    check_int8(m, {"x": rand(2, 5, 7, seed=3)}, max_steps=0.0, ops={"Split"})


@pytest.mark.parametrize(("mode", "value"), [("constant", 0.0), ("constant", 0.7), ("reflect", 0)])
def test_pad_with_equal_quantisation_moves_int8(mode, value):
    """DQ -> Pad -> Q with equal parameters (a TCN's causal left padding): the Pad moves
    int8, its border value quantised (0.0 is the zero point)."""
    pad = H("Pad", ["m", "pads", "v"], ["p"], mode=mode)
    nodes = [H("MatMul", ["x", "w"], ["m"]), pad, H("MatMul", ["p", "w2"], ["y"])]
    inits = {"w": rand(7, 6, seed=1), "w2": rand(6, 4, seed=2), "v": np.float32(value)}
    inits["pads"] = np.array([0, 2, 0, 0, 1, 0], np.int64)
    m = quantize(model(nodes, {"x": [2, 5, 7]}, {"y": [2, 8, 4]}, inits))
    graph = lowered_ir(m)
    (node,) = [n for n in graph.nodes() if n.op == "Pad"]
    assert graph.type(node.inputs[0]).dtype == graph.type(node.outputs[0]).dtype == "int8"
    check_int8(m, {"x": rand(2, 5, 7, seed=3) + 0.3}, max_steps=0.0, ops={"Pad"})
