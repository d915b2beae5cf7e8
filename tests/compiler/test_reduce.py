"""Reductions over any axes against onnxruntime: every row of optables.REDUCE on each dtype it
accepts, adjacent and non-adjacent axes, keepdims, empty axes, rows longer than the scratchpad
(chunked), channels-last inputs, ArgMax/ArgMin ties across chunks."""

import numpy as np
import pytest
from compiler_helpers import model, rand
from family_helpers import check_node, node_model, values
from onnx import helper

import compiler
from compiler import optables
from simulator.config import load_config
from simulator.errors import ConfigError, UnsupportedOpError

SHAPE = [3, 4, 5]
REDUCE_OPS = [r for r in optables.REDUCE if not r.arg and not r.spatial]
AXES = [(1,), (0, 2), (-1,), (0, 1, 2), (2, 0)]


def reduce_model(op, dtype, shape, axes, keepdims=1, noop=None, out_dtype=None):
    rank = len(shape)
    norm = sorted({a % rank for a in axes}) if axes else list(range(rank))
    if noop and not axes:
        norm = []
    out = [1 if (a in norm and keepdims) else d for a, d in enumerate(shape)]
    out = [d for a, d in enumerate(out) if keepdims or a not in norm]
    attrs = {"keepdims": keepdims}
    if noop is not None:
        attrs["noop_with_empty_axes"] = noop
    ins = {"x": (dtype, shape), "axes": ("int64", [len(axes)])}
    return node_model(
        op,
        ins,
        {"y": (out_dtype or dtype, out)},
        attrs,
        consts={"axes": np.array(axes, np.int64)},
        opset=18,
    )


def _data(op, dtype, shape, seed=1):
    if op in ("ReduceLogSum",):
        return values(dtype, shape, seed, 0.1, 3.0)
    if op == "ReduceProd":
        return (
            values(dtype, shape, seed, 0.5, 1.5)
            if dtype == "float32"
            else values(dtype, shape, seed, -1, 1)
        )
    return values(dtype, shape, seed)


@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("row", REDUCE_OPS, ids=lambda r: r.op)
def test_reduce_axes(row, axes):
    m = reduce_model(row.op, "float32", SHAPE, axes)
    check_node(m, {"x": _data(row.op, "float32", SHAPE)})


@pytest.mark.parametrize(
    "row", [r for r in REDUCE_OPS if r.accepts & optables.INT], ids=lambda r: r.op
)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_reduce_integers(row, dtype):
    m = reduce_model(row.op, dtype, SHAPE, (0, 2), keepdims=0)
    check_node(m, {"x": _data(row.op, dtype, SHAPE)})


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_all_axes_and_keepdims(keepdims):
    m = reduce_model("ReduceSum", "float32", SHAPE, (), keepdims=keepdims)
    check_node(m, {"x": values("float32", SHAPE, 2)})


def test_empty_axes_with_noop_is_a_copy():
    m = reduce_model("ReduceMax", "float32", SHAPE, (), noop=1)
    check_node(m, {"x": values("float32", SHAPE, 2)})


def test_axes_attribute_before_opset_18():
    m = node_model(
        "ReduceMax", {"x": ("float32", SHAPE)}, {"y": ("float32", [3, 1, 1])}, {"axes": [1, 2]}
    )
    check_node(m, {"x": values("float32", SHAPE, 3)})


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceLogSumExp", "ReduceMean"])
def test_rows_longer_than_the_scratchpad_are_chunked(op):
    """3 x 4000 elements on a 1 KiB input scratchpad: chunks of one row each."""
    shape = [3, 4000]
    m = reduce_model(op, "float32", shape, (1,))
    result = check_node(m, {"x": values("float32", shape, 4)}, preset="tiny", rtol=1e-3, atol=1e-4)
    assert result is not None
    config = load_config("tiny", ["scratchpad.input_kib=1"])
    program = compiler.compile(m, config)
    layer = next(la for la in program.layers if la["op"] == op)
    assert layer["tiling"].startswith("rows 1 chunk 1x")
    from simulator.api import run

    got = run(program, {"x": values("float32", shape, 4)}, checked=True).outputs["y"]
    want = check_node.__globals__["oracle"](m, {"x": values("float32", shape, 4)})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_arg_extremes(op, last, axis):
    out = [1 if a == axis else d for a, d in enumerate(SHAPE)]
    attrs = {"axis": axis, "keepdims": 1, "select_last_index": last}
    m = node_model(op, {"x": ("float32", SHAPE)}, {"y": ("int64", out)}, attrs)
    x = np.round(values("float32", SHAPE, 5))  # ties
    check_node(m, {"x": x})


@pytest.mark.parametrize("last", [0, 1])
def test_arg_ties_across_chunks(last):
    """Ties in different chunks of a long row: the first (or last) index wins."""
    x = np.zeros((2, 3000), np.float32)
    x[0, [10, 1500, 2999]] = 5.0
    x[1, [0, 2000]] = -7.0
    for op, dtype in (("ArgMax", "float32"), ("ArgMin", "int32")):
        m = node_model(
            op,
            {"x": (dtype, [2, 3000])},
            {"y": ("int64", [2])},
            {"axis": 1, "keepdims": 0, "select_last_index": last},
        )
        feeds = {"x": x.astype(dtype)}
        check_node(m, feeds)
        program = compiler.compile(m, load_config("tiny", ["scratchpad.input_kib=1"]))
        from simulator.api import run

        got = run(program, feeds, checked=True).outputs["y"]
        want = check_node.__globals__["oracle"](m, feeds)["y"]
        np.testing.assert_array_equal(got, want)


def test_global_max_pool_channels_last():
    """GlobalMaxPool of a convolution's (channels-last) output."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalMaxPool", ["c"], ["y"]),
    ]
    m = model(nodes, {"x": [1, 3, 9, 9]}, {"y": [1, 6, 1, 1]}, {"w": rand(6, 3, 3, 3, seed=1)})
    check_node(m, {"x": rand(1, 3, 9, 9, seed=2)})


def test_reduce_mean_on_channels_last_over_channels():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["c"], ["y"], axes=[1], keepdims=1),
    ]
    m = model(nodes, {"x": [1, 3, 7, 7]}, {"y": [1, 1, 7, 7]}, {"w": rand(8, 3, 3, 3, seed=1)})
    check_node(m, {"x": rand(1, 3, 7, 7, seed=2)})


def test_reduce_axes_must_be_constant():
    ins = {"x": ("float32", SHAPE), "axes": ("int64", [1])}
    m = node_model("ReduceSum", ins, {"y": ("float32", [3, 1, 5])}, opset=18)
    with pytest.raises(
        UnsupportedOpError, match=r"ReduceSum.*(axes 'axes' must be constant|no static shape)"
    ):
        compiler.compile(m, load_config("tiny"))


def test_no_room_for_a_chunk_is_a_config_error():
    """Unreachable through a valid config (input_kib >= 1 leaves room for 32 elements), so
    the plan is asked directly with a 256-byte scratchpad."""
    from types import SimpleNamespace

    from compiler.ir import Node
    from compiler.lowering import reduce
    from compiler.scratch import Scratch

    def ctx_of(input_bytes: int) -> SimpleNamespace:
        cfg = SimpleNamespace(input_bytes=input_bytes, weight_bytes=1024, acc_bytes=1024)
        return SimpleNamespace(config=cfg, scratch=Scratch(cfg))

    ctx = ctx_of(256)
    view = reduce.View([4], [100], [1], [100], [1])
    bufs = reduce._row_buffers(optables.REDUCE_OPS["ArgMax"], False, True)
    with pytest.raises(ConfigError, match=r"node 'n' \(ArgMax\).*no room for a reduction chunk"):
        reduce._plan(ctx, Node("n", "ArgMax", ("x",), ("y",)), view, bufs, False)
    assert reduce._plan(
        ctx_of(1024),
        Node("n", "ArgMax", ("x",), ("y",)),
        view,
        bufs,
        False,
    ) == (1, 1, 32)
