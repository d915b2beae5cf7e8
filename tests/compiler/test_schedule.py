"""The float loop nest (compiler/lowering/gemm/): every loop order, N blocks, single
and double buffers, "phase" mode and the residual preloaded into C, forced one at a time on a
conv with a residual add and simulated (checked) against onnxruntime."""

import pytest
from compiler_helpers import check, model, rand
from onnx import helper

import compiler
from compiler.lowering import gemm
from compiler.lowering.gemm import search
from compiler.tiling import GemmTiling
from simulator.config import load_config

H = helper.make_node


def residual_conv(cin, cout, hw, k, stride):
    """Conv(x) + bias + r -> Relu, with r a second input of the output's shape."""
    pad = k // 2
    oh, ow = ((d + 2 * pad - k) // stride + 1 for d in hw)
    nodes = [
        H("Conv", ["x", "w", "b"], ["c"], pads=[pad] * 4, strides=[stride] * 2),
        H("Add", ["c", "r"], ["s"]),
        H("Relu", ["s"], ["y"]),
    ]
    inits = {"w": rand(cout, cin, k, k, seed=1), "b": rand(cout, seed=2)}
    shapes = {"x": [1, cin, *hw], "r": [1, cout, oh, ow]}
    m = model(nodes, shapes, {"y": [1, cout, oh, ow]}, inits)
    return m, {"x": rand(*shapes["x"], seed=3), "r": rand(*shapes["r"], seed=4)}


def forced(monkeypatch, tiling: GemmTiling):
    seen = []

    def plan(layer, config, memo=None):
        seen.append(layer.name)
        return tiling

    monkeypatch.setattr(gemm, "plan", plan)
    return seen


@pytest.mark.parametrize(
    "k,stride,tiling",
    [
        (3, 1, GemmTiling(3, 9, 16, 16, "mn", "shift")),  # K chunks: A reloaded per step
        (3, 1, GemmTiling(3, 9, 16, 32, "nm", "shift")),
        (3, 1, GemmTiling(4, 9, 16, 16, "mk", "shift")),  # C set resident, K streams
        (3, 1, GemmTiling(9, 9, 16, 16, "mk", "shift", nb=32)),  # N blocks of 2 tiles
        (3, 2, GemmTiling(2, 5, 24, 16, "mk", "im2col", nb=24)),  # ragged last block
        (3, 1, GemmTiling(3, 9, 16, 16, "mk", "shift", nb=32, panel=True)),  # W per block
        (1, 1, GemmTiling(5, 9, 16, 8, "mk", "im2col", panel=True)),
        (3, 1, GemmTiling(4, 9, 16, 16, "mk", "shift", nb=32, panel=True, rows=1)),  # W per row
        (3, 1, GemmTiling(3, 9, 16, 16, "mn", "shift", rows=2)),  # a ragged last row group
        (3, 2, GemmTiling(2, 5, 16, 16, "mk", "phase", rows=1)),
        (3, 1, GemmTiling(3, 9, 16, 16, "mk", "vcol", rows=1)),  # a kernel row's block
        (3, 2, GemmTiling(5, 5, 16, 16, "mn", "vcol", rows=2)),
        (3, 2, GemmTiling(2, 5, 16, 16, "mk", "phase")),  # a patch per input phase
        (3, 2, GemmTiling(5, 3, 48, 32, "mn", "phase")),
        (1, 1, GemmTiling(9, 9, 48, 32, "mn", "im2col")),  # one tile: single buffers
        (1, 2, GemmTiling(5, 5, 16, 16, "mk", "im2col")),
    ],
)
def test_forced_nest_matches(monkeypatch, k, stride, tiling):
    m, inputs = residual_conv(32, 48, (9, 9), k, stride)
    seen = forced(monkeypatch, tiling)
    check(m, inputs, preset="small", atol=1e-3)
    assert seen


def test_vcol_gathers_a_kernel_row_per_copy(monkeypatch):
    m, inputs = residual_conv(3, 16, (13, 11), 7, 2)
    forced(monkeypatch, GemmTiling(2, 6, 16, 3, "mn", "vcol"))
    check(m, inputs, preset="small", atol=1e-3)
    program = compiler.compile(m, load_config("small"))
    copies = [i for i in program.instructions if type(i).__name__ == "Vector" and i.func == 1]
    tiles = 4  # ceil(7 / 2) x ceil(6 / 6) M tiles, one N tile, one K chunk
    assert len(copies) == 7 * tiles


def test_plan_scores_every_order():
    orders = {c.order for c in _candidates(128, 128, (56, 56), 3)}
    assert orders == {"mn", "nm", "mk"}


def _candidates(cin, cout, hw, k):
    from compiler.lowering.gemm import Epilogue, GemmLayer, Geom, Operand
    from simulator.isa import DType

    g = Geom(1, *hw, cin, *hw, cout, k, k, pt=k // 2, pl=k // 2)
    op = Operand(0, (0, 0, 0, 1), "x")
    layer = GemmLayer("l", g, DType.FP32, DType.FP32, op, op, op, Epilogue())
    return list(search.candidates(layer, load_config("base")))


def test_nothing_fits_names_the_layer():
    from compiler.lowering.gemm import Epilogue, GemmLayer, Geom, Operand
    from simulator.errors import ConfigError
    from simulator.isa import DType

    g = Geom(1, 4, 4, 8, 4, 4, 1 << 20)  # its bias words alone overflow the scratchpad
    op = Operand(0, (0, 0, 0, 1), "x")
    layer = GemmLayer("huge", g, DType.FP32, DType.FP32, op, op, op, Epilogue(bias=0))
    with pytest.raises(ConfigError, match="'huge'"):
        search.plan(layer, load_config("tiny"))


@pytest.mark.parametrize(
    "k,stride,pads,dil",
    [(3, 2, (0, 1, 1, 0), 1), (5, 3, (2, 1, 0, 2), 1), (2, 2, (0, 0, 0, 0), 1)],
)
def test_phase_mode_odd_strides_and_pads(monkeypatch, k, stride, pads, dil):
    from test_ops import conv_model

    m, inputs = conv_model(5, 7, (11, 10), k, stride, pads, dil=dil, batch=2)
    seen = forced(monkeypatch, GemmTiling(2, 3, 7, 5, "mn", "phase"))
    check(m, inputs, preset="small")
    assert seen


def test_wide_array_falls_back_to_smaller_tiles():
    """tpu-v1 (256x256, 256 KiB of weights): a 3x3/2 conv of 128 channels has no tile
    aligned to the array that fits (its whole W is 590 KB); tiles aligned to less do."""
    m, inputs = residual_conv(128, 128, (12, 12), 3, 2)
    result = check(m, inputs, preset="tpu-v1", atol=1e-3)
    assert result.stats.total_cycles > 0
