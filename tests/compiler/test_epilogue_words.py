"""The epilogue's per-channel words (bias; requant scale) per N tile: a layer whose every
channel's words leave no room for W in the weight scratchpad (tiny: 8 KiB) loads each N
tile's words into one of two slots instead. Compiled for tiny, simulated and compared with
onnxruntime; and the tile search's error names the smallest candidate's needs."""

import os

import numpy as np
import onnx
import pytest
from compiler_helpers import check, model, rand
from onnx import helper
from qdq_helpers import check_int8, check_int8_outputs, quantize

import compiler
import models_zoo
from compiler import tiling
from compiler.check import compare_with_onnxruntime, reference
from compiler.lowering import gemm
from compiler.tiling import GemmTiling
from simulator.api import run
from simulator.config import load_config
from simulator.errors import ConfigError

H = helper.make_node


def wide_conv(cout: int, cin: int = 8, hw=(2, 3)):
    """A 1x1 Conv with bias and Relu of ``cout`` output channels."""
    nodes = [H("Conv", ["x", "w", "b"], ["c"], name="conv"), H("Relu", ["c"], ["y"])]
    inits = {"w": rand(cout, cin, 1, 1, seed=1), "b": rand(cout, seed=2)}
    m = model(nodes, {"x": [1, cin, *hw]}, {"y": [1, cout, *hw]}, inits)
    return m, {"x": rand(1, cin, *hw, seed=3)}


def conv_tiling(m, preset="tiny") -> str:
    layers = compiler.compile(m, load_config(preset)).layers
    return next(layer["tiling"] for layer in layers if layer["op"] in ("Conv", "QConv"))


def test_float_conv_whose_bias_fills_the_weight_scratchpad():
    m, inputs = wide_conv(2048)  # 2048 bias words: all of tiny's 8 KiB
    assert conv_tiling(m).endswith(" words")
    check(m, inputs, "tiny")


def test_int8_conv_whose_bias_and_scales_fill_the_weight_scratchpad():
    f, inputs = wide_conv(1280)  # 1280 bias + 1280 requant words: 10 KiB
    m = quantize(f)
    assert conv_tiling(m).endswith(" words")
    check_int8(m, inputs, "tiny", max_steps=0.0, ops={"QConv"})


@pytest.mark.parametrize("order,nb", [("mn", 0), ("nm", 0), ("mk", 32)])
def test_float_per_tile_words_in_every_loop_order(monkeypatch, order, nb):
    """Two M tiles, two K chunks, 256 N tiles: the slots alternate (mn, mk) or hold an N
    tile's words over the M tiles (nm)."""
    m, inputs = wide_conv(2048, cin=16, hw=(4, 4))
    t = GemmTiling(2, 4, 8, 8, order, "im2col", nb=nb, words=True)
    monkeypatch.setattr(gemm, "plan", lambda layer, config, memo=None: t)
    check(m, inputs, "tiny")


@pytest.mark.parametrize("order", ["mn", "nm"])
def test_int8_per_tile_words_in_every_loop_order(monkeypatch, order):
    f, inputs = wide_conv(1280, cin=16, hw=(4, 4))
    m = quantize(f)
    t = GemmTiling(2, 4, 8, 8, order, "im2col", words=True)
    monkeypatch.setattr(gemm, "plan", lambda layer, config, memo=None: t)
    check_int8(m, inputs, "tiny", max_steps=0.0, ops={"QConv"})


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_a_conv_whose_words_fit_loads_every_channels_words_once(int8):
    f, _ = wide_conv(256)
    assert "words" not in conv_tiling(quantize(f) if int8 else f)


def test_mobilenet_v2_int8_on_tiny_matches_onnxruntime():
    """conv_52 (1280 output channels: 10 KiB of words) did not fit tiny's weight scratchpad;
    within a step of onnxruntime's kernels as on small (tests/zoo/test_zoo_compile_int8.py)."""
    m = models_zoo.build("mobilenet_v2", int8=True)
    inputs = models_zoo.sample_inputs("mobilenet_v2")
    program = compiler.compile(m, load_config("tiny"))
    conv52 = next(layer for layer in program.layers if layer["name"] == "conv_52")
    assert conv52["tiling"].endswith(" words")
    outputs = run(program, inputs).outputs
    for s in check_int8_outputs(m, outputs, reference(m, inputs, optimize=True)):
        assert s.steps <= 1.0 + 1e-4, s
        assert s.exact >= 0.75, s


@pytest.mark.slow
def test_light_resnet50_on_tiny_matches_onnxruntime():
    """Its 2048-channel layers (n148 on) did not fit tiny; up to the Gemm (the Softmax of
    1000-element rows does not fit tiny's input scratchpad, a separate limit)."""
    path = os.path.join(
        os.path.dirname(onnx.__file__), "backend/test/data/light/light_resnet50.onnx"
    )
    m = onnx.load(path)
    softmax = m.graph.node[-1]
    assert softmax.op_type == "Softmax"
    m.graph.node.remove(softmax)
    m.graph.output[0].name = softmax.input[0]
    x = m.graph.input[0]
    shape = [d.dim_value for d in x.type.tensor_type.shape.dim]
    inputs = {x.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    config = load_config("tiny")  # unchecked: 40 s, where checked takes 8 minutes
    errors, _ = compare_with_onnxruntime(m, config, inputs, rtol=1e-3, checked=False)
    for e in errors:
        assert e.passed, e


def test_choose_names_the_smallest_candidates_needs():
    cands = [
        GemmTiling(14, 14, 256, 256, "mn", "im2col"),
        GemmTiling(1, 4, 4, 4, "mn", "im2col"),
        GemmTiling(2, 7, 64, 16, "mn", "im2col"),
    ]

    def need(t):
        return False, f"needs tn={t.tn}"

    with pytest.raises(ConfigError, match=r"layer 'conv' .* any tile: needs tn=4$"):
        tiling.choose("conv", cands, need, lambda t: 0)
