"""Index ops against onnxruntime: Gather by data-dependent ids (the indexed DMA) and by
constant indices (strided copy or indexed DMA), on every axis."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.check import compare_with_onnxruntime
from compiler.driver import compile
from simulator import run
from simulator.config import load_config
from simulator.errors import SimulationError

TINY = load_config("tiny")
RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, inits=None):
    """inputs/outputs: {name: (TensorProto type, shape)}."""
    vin = [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()]
    vout = [helper.make_tensor_value_info(n, t, s) for n, (t, s) in outputs.items()]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    g = helper.make_graph(nodes, "t", vin, vout, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _check(m, feed, config=TINY):
    errors, result = compare_with_onnxruntime(m, config, feed)
    for e in errors:
        assert e.passed, f"{e.name}: max abs {e.max_abs_error:.3g}"
        assert e.max_abs_error == 0.0  # data movement is exact
    return result


def _embedding(vocab=50, dim=16, ids_shape=(2, 7), dtype=TensorProto.INT64, axis=0):
    table = RNG.standard_normal((vocab, dim)).astype(np.float32)
    out = list(np.take(table, np.zeros(ids_shape, int), axis=axis).shape)
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["g"], axis=axis),
        helper.make_node("Relu", ["g"], ["y"]),
    ]
    return _model(
        nodes,
        {"ids": (dtype, list(ids_shape))},
        {"y": (TensorProto.FLOAT, out)},
        {"table": table},
    )


@pytest.mark.parametrize("dtype", [TensorProto.INT64, TensorProto.INT32])
def test_embedding_lookup_is_one_indexed_dma(dtype):
    m = _embedding(dtype=dtype)
    np_type = np.int64 if dtype == TensorProto.INT64 else np.int32
    ids = RNG.integers(-50, 50, (2, 7)).astype(np_type)  # negative ids count from the end
    result = _check(m, {"ids": ids})
    assert result.stats.instructions["GATHER"] == 1


def test_embedding_rows_tile_when_the_table_row_is_large():
    m = _embedding(vocab=30, dim=3000, ids_shape=(9,))
    result = _check(m, {"ids": RNG.integers(0, 30, (9,)).astype(np.int64)})
    assert result.stats.instructions["GATHER"] > 1


def test_gather_on_axis_1_by_data_indices():
    m = _embedding(vocab=12, dim=40, ids_shape=(3,), axis=1)
    _check(m, {"ids": np.array([39, -40, 5], np.int64)})


def test_token_id_out_of_range_is_a_simulation_error():
    program = compile(_embedding(), TINY)
    ids = np.zeros((2, 7), np.int64)
    ids[1, 3] = 50
    with pytest.raises(SimulationError, match=r"index 50 .*outside \[-50, 50\)"):
        run(program, {"ids": ids})


@pytest.mark.parametrize(
    "axis, ids, gathers",
    [
        (0, [3, -1, 7], 1),  # uneven: the indexed DMA over a constant index list
        (1, [0, 2, 4, 6], 0),  # evenly spaced: one strided copy
        (0, 5, 0),  # a scalar index drops the axis
        (2, [[1, 0], [2, 2]], 1),
        (1, -2, 0),
    ],
)
def test_gather_of_an_activation_by_constant_indices(axis, ids, gathers):
    shape = (20, 8, 6)
    ids = np.array(ids, np.int64)
    out = list(np.take(np.zeros(shape), ids, axis=axis).shape)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Gather", ["r", "ids"], ["y"], axis=axis),
    ]
    m = _model(
        nodes, {"x": (TensorProto.FLOAT, shape)}, {"y": (TensorProto.FLOAT, out)}, {"ids": ids}
    )
    result = _check(m, {"x": RNG.standard_normal(shape).astype(np.float32)})
    assert result.stats.instructions.get("GATHER", 0) == gathers


def _unary_model(op, shape, out, inits=None, inputs=(), **attrs):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node(op, ["r", *inputs], ["y"], **attrs),
    ]
    return _model(nodes, {"x": (TensorProto.FLOAT, shape)}, {"y": (TensorProto.FLOAT, out)}, inits)


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[0, 1, 2, 3, 0, 2, 1, 0], [1, 0, 3, 1, 2, 1, 0, 4]])
def test_pad_modes_copy_the_borders_from_the_output(mode, pads):
    shape = (3, 4, 5, 6)
    out = [n + pads[a] + pads[a + 4] for a, n in enumerate(shape)]
    m = _unary_model("Pad", shape, out, {"pads": np.array(pads, np.int64)}, ["pads"], mode=mode)
    _check(m, {"x": RNG.standard_normal(shape).astype(np.float32)})


def test_reflect_pad_wider_than_the_axis_is_refused_naming_the_node():
    m = _unary_model("Pad", (1, 3), [1, 9], {"pads": np.array([0, 3, 0, 3], np.int64)},
                     ["pads"], mode="reflect")  # fmt: skip
    with pytest.raises(Exception, match=r"Pad.*mode='reflect' with pads 3, 3 on an axis of 3"):
        compile(m, TINY)


@pytest.mark.parametrize(
    "shape, target",
    [((3, 1, 5), (2, 3, 4, 5)), ((1, 6), (4, 6)), ((4, 1), (4, 7))],
)
def test_expand_broadcasts_by_stride_0_copies(shape, target):
    m = _unary_model("Expand", shape, list(target), {"s": np.array(target, np.int64)}, ["s"])
    _check(m, {"x": RNG.standard_normal(shape).astype(np.float32)})


@pytest.mark.parametrize("reps", [(2, 1, 3), (1, 4, 1)])
def test_tile_repeats_by_one_strided_copy(reps):
    shape = (3, 4, 5)
    out = [n * r for n, r in zip(shape, reps, strict=True)]
    m = _unary_model("Tile", shape, out, {"reps": np.array(reps, np.int64)}, ["reps"])
    _check(m, {"x": RNG.standard_normal(shape).astype(np.float32)})


@pytest.mark.parametrize("const", [True, False])
def test_gather_nd_rows(const):
    shape = (10, 3, 4)
    ids = np.array([[[7], [-1]], [[0], [7]]], np.int64)  # [2, 2, 1]: rows of the first axis
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("GatherND", ["r", "i"], ["y"]),
    ]
    ins = {"x": (TensorProto.FLOAT, shape)}
    if not const:
        ins["i"] = (TensorProto.INT64, list(ids.shape))
    m = _model(nodes, ins, {"y": (TensorProto.FLOAT, [2, 2, 3, 4])}, {"i": ids} if const else None)
    feed = {"x": RNG.standard_normal(shape).astype(np.float32)}
    if not const:
        feed["i"] = ids
    assert _check(m, feed).stats.instructions["GATHER"] == 1


def test_gather_nd_constant_index_pairs():
    ids = np.array([[1, 2], [0, -1], [9, 0]], np.int64)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("GatherND", ["r", "i"], ["y"]),
    ]
    m = _model(nodes, {"x": (TensorProto.FLOAT, (10, 3, 4))}, {"y": (TensorProto.FLOAT, [3, 4])},
               {"i": ids})  # fmt: skip
    _check(m, {"x": RNG.standard_normal((10, 3, 4)).astype(np.float32)})


@pytest.mark.parametrize("const", [True, False])
def test_scatter_nd_is_a_copy_then_an_indexed_store(const):
    shape = (8, 5)
    ids = np.array([[6], [-8], [3]], np.int64)
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("ScatterND", ["r", "i", "u"], ["y"]),
    ]
    ins = {"x": (TensorProto.FLOAT, shape), "u": (TensorProto.FLOAT, [3, 5])}
    if not const:
        ins["i"] = (TensorProto.INT64, [3, 1])
    m = _model(nodes, ins, {"y": (TensorProto.FLOAT, list(shape))}, {"i": ids} if const else None)
    feed = {k: RNG.standard_normal(s).astype(np.float32) for k, s in (("x", shape), ("u", (3, 5)))}
    if not const:
        feed["i"] = ids
    assert _check(m, feed).stats.instructions["SCATTER"] == 1


def test_gather_nd_of_data_dependent_pairs_is_refused():
    nodes = [helper.make_node("GatherND", ["x", "i"], ["y"])]
    m = _model(nodes, {"x": (TensorProto.FLOAT, (4, 4)), "i": (TensorProto.INT64, [3, 2])},
               {"y": (TensorProto.FLOAT, [3])})  # fmt: skip
    with pytest.raises(Exception, match="GatherND.*data-dependent indices of 2 coordinates"):
        compile(m, TINY)
