"""Every row of the element-wise op tables against onnxruntime: each unary and binary op on
each dtype it accepts (floats within rtol 1e-3, integers and bools exact), n-ary ops, Where,
Clip with constant and computed bounds, Cast between every pair of supported dtypes."""

import numpy as np
import pytest
from family_helpers import check_node, node_model, values

import compiler
from compiler import ops, optables
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

# inputs inside each function's domain (and away from its poles)
DOMAIN = {
    "Log": (0.05, 8.0),
    "Sqrt": (0.0, 8.0),
    "Reciprocal": (0.25, 4.0),
    "Asin": (-0.99, 0.99),
    "Acos": (-0.99, 0.99),
    "Atanh": (-0.95, 0.95),
    "Acosh": (1.0, 6.0),
    "Tan": (-1.4, 1.4),
    "Sinh": (-6.0, 6.0),
    "Cosh": (-6.0, 6.0),
    "Exp": (-6.0, 6.0),
}
ATTRS = {
    "LeakyRelu": {"alpha": 0.3},
    "HardSigmoid": {"alpha": 0.25, "beta": 0.4},
    "Elu": {"alpha": 0.7},
    "Selu": {"alpha": 1.5, "gamma": 1.1},
    "Celu": {"alpha": 1.3},
    "ThresholdedRelu": {"alpha": 0.5},
    "Shrink": {"lambd": 0.6, "bias": 0.2},
    "Swish": {"alpha": 1.5},
}
SHAPE = [3, 5, 7]


def _unary_cases():
    for row in optables.UNARY:
        for dtype in sorted(row.accepts - {row.out} if row.out else row.accepts):
            yield pytest.param(row, dtype, id=f"{row.op}-{dtype}")


@pytest.mark.parametrize("row, dtype", list(_unary_cases()))
def test_unary(row, dtype):
    out = row.out or dtype
    m = node_model(row.op, {"x": (dtype, SHAPE)}, {"y": (out, SHAPE)}, ATTRS.get(row.op))
    x = values(dtype, SHAPE, 1, *DOMAIN.get(row.op, (-4.0, 4.0)))
    if row.op in ("IsNaN", "IsInf"):
        x.flat[::4], x.flat[1::5], x.flat[2::6] = np.nan, np.inf, -np.inf
    check_node(m, {"x": x})


def test_gelu_tanh_form():
    m = node_model(
        "Gelu", {"x": ("float32", SHAPE)}, {"y": ("float32", SHAPE)}, {"approximate": "tanh"}
    )
    check_node(m, {"x": values("float32", SHAPE, 2)})


@pytest.mark.parametrize("flags", [(1, 0), (0, 1), (0, 0)])
def test_isinf_detect_flags(flags):
    attrs = {"detect_positive": flags[0], "detect_negative": flags[1]}
    m = node_model("IsInf", {"x": ("float32", [8])}, {"y": ("bool", [8])}, attrs)
    x = np.array([1, np.inf, -np.inf, np.nan, 0, -3, np.inf, -np.inf], np.float32)
    check_node(m, {"x": x})


def _binary_cases():
    for row in optables.BINARY:
        for dtype in sorted(row.accepts):
            yield pytest.param(row, dtype, id=f"{row.op}-{dtype}")


def _operands(op: str, dtype: str):
    a = values(dtype, [2, 3, 4], 3)
    b = values(dtype, [3, 1], 4)
    if op in ("Div", "Mod") and dtype != "float32":
        b[b == 0] = 3
    if op == "Pow":
        a = np.abs(a) + (1 if dtype == "float32" else 0)
        b = values(dtype, [3, 1], 4, 0, 3) if dtype != "float32" else np.abs(b)
        if dtype != "float32":
            b = np.abs(b) % 4
    if op == "Div" and dtype == "float32":
        b = np.where(np.abs(b) < 0.2, 0.5, b).astype(np.float32)
    return a, b


@pytest.mark.parametrize("row, dtype", list(_binary_cases()))
def test_binary_with_broadcasting(row, dtype):
    a, b = _operands(row.op, dtype)
    out = row.out or dtype
    attrs = {"fmod": 1} if row.op == "Mod" and dtype == "float32" else None
    m = node_model(
        row.op, {"a": (dtype, [2, 3, 4]), "b": (dtype, [3, 1])}, {"y": (out, [2, 3, 4])}, attrs
    )
    check_node(m, {"a": a, "b": b})


def test_comparisons_see_equal_values():
    a = np.array([1, 2, 3, 2], np.int64)
    for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"):
        m = node_model(op, {"a": ("int64", [4]), "b": ("int64", [4])}, {"y": ("bool", [4])})
        check_node(m, {"a": a, "b": np.array([2, 2, 2, 2], np.int64)})


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_nary_with_broadcasting(op):
    shapes = {"a": [2, 3, 4], "b": [4], "c": [3, 1], "d": [1, 1, 4]}
    ins = {k: ("float32", s) for k, s in shapes.items()}
    m = node_model(op, ins, {"y": ("float32", [2, 3, 4])})
    check_node(m, {k: values("float32", s, i) for i, (k, s) in enumerate(shapes.items())})


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_nary_one_input_and_int64(op):
    m = node_model(op, {"a": ("int64", [5])}, {"y": ("int64", [5])})
    check_node(m, {"a": values("int64", [5], 1)})
    ins = {"a": ("int64", [2, 5]), "b": ("int64", [5]), "c": ("int64", [2, 1])}
    m = node_model(op, ins, {"y": ("int64", [2, 5])})
    check_node(m, {k: values("int64", s[1], i) for i, (k, s) in enumerate(ins.items())})


def test_pow_with_a_tensor_exponent():
    ins = {"x": ("float32", [4, 6]), "e": ("int64", [6])}
    m = node_model("Pow", ins, {"y": ("float32", [4, 6])})
    x = np.abs(values("float32", [4, 6], 1)) + 0.5
    check_node(m, {"x": x, "e": np.array([0, 1, 2, 3, -1, 2], np.int64)})
    ins = {"x": ("float32", [4, 6]), "e": ("float32", [4, 6])}
    m = node_model("Pow", ins, {"y": ("float32", [4, 6])})
    check_node(m, {"x": x, "e": values("float32", [4, 6], 2, -2, 2)})


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64", "bool"])
def test_where_broadcasts_all_three(dtype):
    ins = {"c": ("bool", [2, 1, 4]), "a": (dtype, [3, 4]), "b": (dtype, [2, 3, 1])}
    m = node_model("Where", ins, {"y": (dtype, [2, 3, 4])})
    feeds = {"c": values("bool", [2, 1, 4], 1), "a": values(dtype, [3, 4], 2)}
    feeds["b"] = values(dtype, [2, 3, 1], 3)
    check_node(m, feeds)


def test_where_keeps_nan_and_inf():
    ins = {"c": ("bool", [6]), "a": ("float32", [6]), "b": ("float32", [6])}
    m = node_model("Where", ins, {"y": ("float32", [6])})
    a = np.array([np.nan, 1, np.inf, -0.0, 5, -np.inf], np.float32)
    b = np.array([2, np.nan, 3, np.inf, -1, 7], np.float32)
    check_node(m, {"c": np.array([1, 0, 1, 1, 0, 1], bool), "a": a, "b": b})


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_clip_constant_bounds(dtype):
    lo, hi = np.array(-3, dtype), np.array(4, dtype)
    m = node_model(
        "Clip",
        {"x": (dtype, SHAPE), "lo": (dtype, []), "hi": (dtype, [])},
        {"y": (dtype, SHAPE)},
        consts={"lo": lo, "hi": hi},
    )
    check_node(m, {"x": values(dtype, SHAPE, 1, -8, 8)})


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_clip_computed_bounds(dtype):
    """min/max tensors computed by the model (activations): vector MAX then MIN."""
    ins = {"x": (dtype, [4, 6]), "lo": (dtype, []), "hi": (dtype, [])}
    m = node_model("Clip", ins, {"y": (dtype, [4, 6])})
    x = values(dtype, [4, 6], 1, -8, 8)
    check_node(m, {"x": x, "lo": np.array(-2, dtype), "hi": np.array(3, dtype)})
    m = node_model(
        "Clip", {"x": (dtype, [4, 6]), "": (dtype, []), "hi": (dtype, [])}, {"y": (dtype, [4, 6])}
    )
    del m.graph.input[1]
    check_node(m, {"x": x, "hi": np.array(1, dtype)})


def test_clip_min_above_max_gives_max():
    m = node_model(
        "Clip",
        {"x": ("float32", [5]), "lo": ("float32", []), "hi": ("float32", [])},
        {"y": ("float32", [5])},
        consts={"lo": np.float32(2), "hi": np.float32(1)},
    )
    check_node(m, {"x": values("float32", [5], 1)})


CASTS = ["float32", "int32", "int64", "bool"]


@pytest.mark.parametrize("src", CASTS)
@pytest.mark.parametrize("dst", CASTS)
def test_cast(src, dst):
    to = {"float32": 1, "int32": 6, "int64": 7, "bool": 9}[dst]
    m = node_model("Cast", {"x": (src, [4, 5])}, {"y": (dst, [4, 5])}, {"to": to})
    x = values(src, [4, 5], 1, -6, 6)
    if src == "float32":
        x[0, :4] = [0.0, -0.0, 2.5, -2.5]  # zeros and halves: truncation, not rounding
    check_node(m, {"x": x})


def test_castlike_uses_the_type_of_its_second_input():
    ins = {"x": ("float32", [6]), "like": ("int64", [0])}
    m = node_model("CastLike", ins, {"y": ("int64", [6])})
    check_node(m, {"x": values("float32", [6], 1) * 3, "like": np.zeros(0, np.int64)})


def test_int64_through_dma_and_vector_ops():
    """int64 tensors: DMA copies move all 8 bytes, vector ops read the low word and store it
    with its sign as the high word (negative values survive both)."""
    a = np.array([2**31 - 1, -(2**31), -7], np.int64)
    m = node_model(
        "Concat", {"a": ("int64", [3]), "b": ("int64", [3])}, {"y": ("int64", [6])}, {"axis": 0}
    )
    check_node(m, {"a": a, "b": a[::-1].copy()})
    m = node_model("Abs", {"a": ("int64", [3])}, {"y": ("int64", [3])})
    check_node(m, {"a": np.array([-(2**31) + 1, 5, -9], np.int64)})


def test_every_table_row_is_declared_with_its_dtypes():
    declared = {o.op: o for o in ops.supported_ops()}
    for row in (*optables.UNARY, *optables.BINARY, *optables.REDUCE):
        assert row.op in declared, row.op
        assert row.accepts <= declared[row.op].accepts, row.op


def test_unsupported_dtype_is_named():
    m = node_model("Sin", {"x": ("float32", [3])}, {"y": ("float32", [3])})
    m.graph.input[0].type.tensor_type.elem_type = 11  # double
    m.graph.output[0].type.tensor_type.elem_type = 11
    with pytest.raises(
        UnsupportedOpError, match=r"tensor 'x' has dtype float64; Sin accepts float32"
    ):
        compiler.compile(m, load_config("tiny"))


def test_unsupported_gelu_variant_and_mod_on_floats():
    m = node_model("Gelu", {"x": ("float32", [3])}, {"y": ("float32", [3])}, {"approximate": "x"})
    with pytest.raises(Exception, match=r"approximate"):
        compiler.compile(m, load_config("tiny"))


def test_int64_input_outside_int32_is_refused():
    from simulator.api import run
    from simulator.errors import ModelError

    m = node_model("Neg", {"x": ("int64", [3])}, {"y": ("int64", [3])})
    program = compiler.compile(m, load_config("tiny"))
    assert program.meta["int32_inputs"] == ["x"]
    ok = np.array([2**31 - 1, -(2**31), 5], np.int64)
    assert run(program, {"x": ok}).outputs["y"].tolist() == [-(2**31) + 1, -(2**31), -5]
    with pytest.raises(ModelError, match=r"input 'x' holds 4294967296 at index \[1\], outside"):
        run(program, {"x": np.array([1, 2**32, 3], np.int64)})


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_normalization(axis):
    shape = [2, 6, 32]
    ins = {"x": ("float32", shape), "scale": ("float32", shape[axis:])}
    m = node_model(
        "RMSNormalization",
        ins,
        {"y": ("float32", shape)},
        {"axis": axis, "epsilon": 1e-4},
        consts={"scale": values("float32", shape[axis:], 2)},
    )
    check_node(m, {"x": values("float32", shape, 1)})


def test_rms_normalization_needs_a_constant_scale():
    ins = {"x": ("float32", [2, 8]), "scale": ("float32", [8])}
    m = node_model("RMSNormalization", ins, {"y": ("float32", [2, 8])})
    with pytest.raises(UnsupportedOpError, match=r"RMSNormalization.*scale must be constant"):
        compiler.compile(m, load_config("tiny"))
