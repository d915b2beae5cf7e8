"""Convolutions whose tiling picks the "vcol" mode (a patch load, the im2col block built by
vector COPYs): few input channels, strided and dilated, depthwise."""

import pytest
from compiler_helpers import check
from test_ops import conv_model

import compiler
from simulator.config import load_config


@pytest.mark.parametrize(
    "cin,cout,hw,k,stride,pads,group,dil",
    [
        (3, 16, (23, 21), 7, 2, (3, 3, 2, 3), 1, 1),  # a ResNet stem
        (2, 8, (12, 13), 3, 1, (1, 1, 1, 1), 1, 2),
        (8, 8, (11, 9), 3, 2, (1, 1, 1, 1), 8, 1),  # depthwise, stride 2
    ],
)
def test_vcol_conv(cin, cout, hw, k, stride, pads, group, dil):
    m, inputs = conv_model(cin, cout, hw, k, stride, pads, group, dil)
    check(m, inputs, preset="small")


def test_stem_conv_uses_vcol_on_small():
    m, _ = conv_model(3, 16, (23, 21), 7, 2, (3, 3, 2, 3))
    program = compiler.compile(m, load_config("small"))
    assert "vcol" in program.layers[-1]["tiling"]
