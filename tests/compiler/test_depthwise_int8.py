"""Depthwise convolutions, int8 (QConv from onnxruntime's QDQ models) and float32, on the
vector unit, on the array (diagonal weight matrices) and on both at once: compared with
onnxruntime (int8: its integer kernels, in output steps), simulated in checked mode (every
token verified); and the tile pipeline that overlaps DMA, array and vector work."""

import numpy as np
import onnx
import pytest
from compiler_helpers import check, model, rand
from onnx import helper, numpy_helper
from qdq_helpers import check_int8, quantize

import compiler
from compiler.lowering.depthwise import search as depthwise_search
from simulator.api import run
from simulator.config import load_config
from simulator.errors import ConfigError
from simulator.isa import MatMul

H = helper.make_node


def dw_model(c, hw, k, stride=1, pads=(0, 0, 0, 0), dil=1, batch=1, act=None, spread=1.0):
    """Float depthwise Conv [-> act]; channel c's weights scaled by spread**(c % 3 - 1) so the
    per-channel weight scales differ; inputs offset so the activation zero point is not 0."""
    oh = (hw[0] + pads[0] + pads[2] - dil * (k - 1) - 1) // stride + 1
    ow = (hw[1] + pads[1] + pads[3] - dil * (k - 1) - 1) // stride + 1
    gain = np.float32(spread) ** (np.arange(c) % 3 - 1).astype(np.float32)
    inits = {"w": rand(c, 1, k, k, seed=1) * gain[:, None, None, None], "b": rand(c, seed=2)}
    conv = H(
        "Conv",
        ["x", "w", "b"],
        ["c" if act else "y"],
        group=c,
        strides=[stride] * 2,
        pads=list(pads),
        dilations=[dil] * 2,
    )
    nodes = [conv]
    if act == "Relu6":
        nodes.append(H("Clip", ["c", "lo", "hi"], ["y"]))
        inits |= {"lo": np.float32(0), "hi": np.float32(6)}
    elif act:
        nodes.append(H(act, ["c"], ["y"]))
    m = model(nodes, {"x": [batch, c, *hw]}, {"y": [batch, c, oh, ow]}, inits)
    return m, {"x": rand(batch, c, *hw, seed=3) + np.float32(1.5)}


def _initializer(m: onnx.ModelProto, suffix: str) -> np.ndarray:
    (arr,) = [numpy_helper.to_array(t) for t in m.graph.initializer if t.name.endswith(suffix)]
    return arr


def _qconv_layer(program):
    (layer,) = [entry for entry in program.layers if entry["op"] == "QConv"]
    return layer


CASES = [
    (5, (11, 12), 3, 2, (0, 1, 1, 0), 1, 1, None, "tiny"),  # odd channels, stride 2
    (7, (9, 8), 3, 1, (1, 1, 1, 1), 1, 2, "Relu6", "tiny"),  # batch 2, ReLU6 clamp
    (13, (10, 10), 3, 1, (2, 2, 2, 2), 2, 1, "Relu", "tiny"),  # dilation 2
    (96, (14, 13), 5, 2, (2, 1, 2, 2), 1, 1, None, "tiny"),  # channel blocks on tiny
    (33, (17, 15), 3, 1, (1, 0, 2, 1), 1, 1, "Relu6", "small"),  # asymmetric pads
    (40, (12, 9), 3, 1, (1, 1, 1, 1), 1, 1, "Relu6", "small"),  # 32 + 8 channels (array)
]
# the unit patterns the tile search may choose from: all tiles on the vector unit, all on the
# array, or alternating between them
UNITS = {"vector": ("v",), "array": ("a",), "both": ("av", "aav")}


def _use_units(monkeypatch, units: str) -> None:
    monkeypatch.setattr(depthwise_search, "PATTERNS", UNITS[units])


def _check_units(program, units: str) -> None:
    tiling = next(e["tiling"] for e in program.layers if e["op"] in ("Conv", "QConv"))
    matmuls = sum(isinstance(i, MatMul) for i in program.instructions)
    assert (units == "vector") == (matmuls == 0), (tiling, matmuls)
    assert ("array" in tiling) == (units != "vector"), tiling
    if units == "both":
        assert "av" in tiling, tiling


@pytest.mark.parametrize("units", list(UNITS))
@pytest.mark.parametrize("c,hw,k,stride,pads,dil,batch,act,preset", CASES)
def test_int8_depthwise_matches_onnxruntime(
    monkeypatch, units, c, hw, k, stride, pads, dil, batch, act, preset
):
    _use_units(monkeypatch, units)
    m, inputs = dw_model(c, hw, k, stride, pads, dil, batch, act, spread=8.0)
    m = quantize(m)
    assert len(np.unique(_initializer(m, "w_scale"))) > 1, "per-channel weight scales"
    assert _initializer(m, "x_zero_point") != 0, "padding must load the zero point"
    _, program = check_int8(m, inputs, preset, max_steps=1.0, min_exact=0.98, ops={"QConv"})
    _check_units(program, units)


@pytest.mark.parametrize("units", list(UNITS))
@pytest.mark.parametrize("c,hw,k,stride,pads,dil,batch,act,preset", CASES)
def test_float_depthwise_matches_onnxruntime(
    monkeypatch, units, c, hw, k, stride, pads, dil, batch, act, preset
):
    _use_units(monkeypatch, units)
    m, inputs = dw_model(c, hw, k, stride, pads, dil, batch, act, spread=8.0)
    check(m, inputs, preset=preset)
    _check_units(compiler.compile(m, load_config(preset)), units)


def test_unequal_strides_stay_on_the_vector_unit(monkeypatch):
    """Array tiles need one row stride over the patch (equal strides); the vector unit does
    any: with only array patterns allowed the search still finds the vector tiling."""
    monkeypatch.setattr(depthwise_search, "PATTERNS", ("v", "a"))
    nodes = [H("Conv", ["x", "w", "b"], ["y"], group=6, pads=[1, 1, 1, 1], strides=[1, 2])]
    inits = {"w": rand(6, 1, 3, 3, seed=1), "b": rand(6, seed=2)}
    m = model(nodes, {"x": [1, 6, 9, 10]}, {"y": [1, 6, 9, 5]}, inits)
    result = check(m, {"x": rand(1, 6, 9, 10, seed=3)}, preset="small")
    assert result.stats.macs == 0


@pytest.mark.parametrize("units", list(UNITS))
def test_int8_depthwise_is_exact_with_onnxruntime(monkeypatch, units):
    _use_units(monkeypatch, units)
    m, inputs = dw_model(24, (12, 11), 3, 1, (1, 1, 1, 1), act="Relu6", spread=4.0)
    check_int8(quantize(m), inputs, "small", max_steps=0.0, min_exact=1.0, ops={"QConv"})


def test_1d_int8_depthwise():
    nodes = [H("Conv", ["x", "w", "b"], ["y"], group=6, pads=[2, 1], strides=[2])]
    inits = {"w": rand(6, 1, 4, seed=1), "b": rand(6, seed=2)}
    m = quantize(model(nodes, {"x": [1, 6, 15]}, {"y": [1, 6, 8]}, inits))
    _, program = check_int8(m, {"x": rand(1, 6, 15, seed=3)}, min_exact=0.98, ops={"QConv"})
    assert "depthwise" in _qconv_layer(program)["tiling"]


@pytest.mark.parametrize("units", list(UNITS))
@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
def test_tile_loads_overlap_compute(monkeypatch, int8, units):
    """A layer of many tiles takes about as long as its busiest unit: the patch loads and
    stores of neighbouring tiles, and the array and vector work of different tiles, overlap
    (sequential tiles would take the sum)."""
    _use_units(monkeypatch, units)
    m, inputs = dw_model(64, (40, 40), 3, 1, (1, 1, 1, 1), act="Relu6")
    m = quantize(m) if int8 else m
    program = compiler.compile(m, load_config("small"))
    (name,) = [e["name"] for e in program.layers if e["op"] in ("Conv", "QConv")]
    node = run(program, inputs, checked=True).stats.per_node[name]
    busy = node.busy
    assert busy["vector"] > 0 and busy["load"] > 0
    total, top = sum(busy.values()), max(busy.values())
    assert total - node.cycles > 0.6 * (total - top), f"less than 60% of the rest hidden: {node}"
    assert node.cycles < 1.15 * top, node


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
def test_a_row_too_wide_for_the_scratchpads_is_a_config_error(int8):
    m, _ = dw_model(2, (3, 4000), 3, 1, (1, 1, 1, 1))
    m = quantize(m) if int8 else m
    with pytest.raises(ConfigError, match=r"depthwise layer '\w+': one output row of one channel"):
        compiler.compile(m, load_config("tiny"))


@pytest.mark.parametrize("units", ["array", "both"])
@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
def test_blocks_of_one_tile(monkeypatch, int8, units):
    """Many channel blocks of one tile each: an array tile's deferred epilogue reads its
    block's bias and requant words, so it must come before the block two later reloads that
    half of WEIGHT."""
    _use_units(monkeypatch, units)
    m, inputs = dw_model(72, (1, 9), 3, 1, (1, 1, 1, 1), act="Relu6", spread=4.0)
    if int8:
        _, program = check_int8(quantize(m), inputs, "tiny", min_exact=0.98, ops={"QConv"})
    else:
        check(m, inputs, preset="tiny")
        program = compiler.compile(m, load_config("tiny"))
    _check_units(program, units)
    tiling = next(e["tiling"] for e in program.layers if e["op"] in ("Conv", "QConv"))
    assert "rows 1 " in tiling and "ch 72 " not in tiling, tiling
